//! JSON Lines chat logs: one request per line.
//!
//! A line is a JSON object with
//! * a time: `timestamp`, `time`, `created`, `@timestamp` or `ts` (RFC 3339 string, or unix
//!   seconds / milliseconds);
//! * the request body: `messages` (and `tools`, `functions`, `max_tokens`,
//!   `max_completion_tokens`) at the top level or under `request` (or `body`), or a legacy
//!   `prompt` string;
//! * optionally `usage` (at the top level or under `response`): `prompt_tokens`,
//!   `completion_tokens`, `prompt_tokens_details.cached_tokens`; and the response itself
//!   (`response.choices[].message.content`, or a `completion` / `response` string);
//! * optionally `model` (top level, `request.model` or `response.model`) and any field named
//!   by `--by` (dotted paths reach into objects: `metadata.tenant`).
//!
//! Prompt tokens are counted from the messages with the `count` rules for the line's model;
//! where `usage.prompt_tokens` is present too, both are kept: the usage figure is used (unless
//! `--prompt-source count`) and the pair feeds the discrepancy report. Completion tokens come
//! from `usage`, else from counting the response text.

use std::borrow::Cow;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::source::{Blocks, OpenFile, lines};
use super::table::tick;
use super::time::{from_unix_number, parse_datetime};
use super::{BLOCK_BYTES, Emitter, IngestError, Parsed, Progress, PromptSource, RowCtx, RowResult};
use crate::tokens::chat::{ChatRules, count_request, parse_request};
use crate::tokens::tokenizer;

const TIME_FIELDS: [&str; 5] = ["timestamp", "time", "created", "@timestamp", "ts"];

#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<Details>,
}

#[derive(Deserialize, Default)]
struct Details {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default, borrow)]
    message: Option<ChoiceMessage<'a>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ChoiceMessage<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

type Fields<'a> = FxHashMap<String, &'a RawValue>;

fn fields(raw: &str) -> Result<Fields<'_>, String> {
    serde_json::from_str(raw).map_err(|e| format!("not a JSON object: {e}"))
}

fn as_str<'a>(raw: &'a RawValue) -> Option<Cow<'a, str>> {
    serde_json::from_str::<Cow<'a, str>>(raw.get()).ok()
}

fn u32_of(v: u64, what: &str) -> Result<u32, String> {
    u32::try_from(v).map_err(|_| format!("{what}: {v} is too large"))
}

/// Value of a `--by` dimension: strings as they are, other JSON values as written.
fn dimension<'a>(top: &Fields<'a>, path: &str) -> Result<Cow<'a, str>, String> {
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or(path);
    let Some(mut raw) = top.get(first).copied() else {
        return Ok(Cow::Borrowed("(none)"));
    };
    for p in parts {
        let inner: Fields<'a> = serde_json::from_str(raw.get())
            .map_err(|_| format!("--by {path}: '{first}' is not an object"))?;
        match inner.get(p) {
            Some(r) => raw = r,
            None => return Ok(Cow::Borrowed("(none)")),
        }
    }
    Ok(match as_str(raw) {
        Some(s) => s,
        None if raw.get() == "null" => Cow::Borrowed("(none)"),
        None => Cow::Borrowed(raw.get()),
    })
}

fn parse_time(raw: &RawValue, name: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "{name}: {} is not a timestamp (RFC 3339 or unix seconds / ms)",
            raw.get()
        )
    };
    if let Some(s) = as_str(raw) {
        return parse_datetime(&s)
            .or_else(|| s.trim().parse::<f64>().ok().and_then(from_unix_number))
            .ok_or_else(bad);
    }
    let x: f64 = serde_json::from_str(raw.get()).map_err(|_| bad())?;
    from_unix_number(x).ok_or_else(bad)
}

/// Parses one log line.
fn parse_line<'a>(line: &'a [u8], e: &RowCtx<'_, '_>) -> RowResult<'a> {
    let text = std::str::from_utf8(line)
        .map_err(|err| format!("invalid UTF-8 at byte {} of the line", err.valid_up_to()))?;
    let top = fields(text)?;
    let (tname, traw) = TIME_FIELDS
        .iter()
        .find_map(|n| top.get(*n).map(|r| (*n, *r)))
        .ok_or("no timestamp (expected one of: timestamp, time, created, @timestamp, ts)")?;
    let t_us = parse_time(traw, tname)?;

    // The request body: the line itself, or an object under `request` / `body`.
    let nested: Option<(&'a str, &'static str, Fields<'a>)> =
        if top.contains_key("messages") || top.contains_key("prompt") {
            None
        } else {
            match ["request", "body"]
                .iter()
                .find_map(|k| top.get(*k).map(|r| (r.get(), *k)))
            {
                Some((raw, key)) if raw.trim_start().starts_with('{') => {
                    Some((raw, key, fields(raw).map_err(|m| format!("{key}: {m}"))?))
                }
                Some((_, key)) => return Err(format!("{key}: expected a JSON object")),
                None => None,
            }
        };
    let (request, request_fields): (Option<(&'a str, &str)>, Option<&Fields<'a>>) = match &nested {
        Some((raw, key, f)) => (Some((raw, key)), Some(f)),
        None if top.contains_key("messages") || top.contains_key("prompt") => {
            (Some((text, "")), Some(&top))
        }
        None => (None, None),
    };
    let response_fields = match top.get("response") {
        Some(r) if r.get().trim_start().starts_with('{') => {
            Some(fields(r.get()).map_err(|m| format!("response: {m}"))?)
        }
        _ => None,
    };

    let model: Option<Cow<'a, str>> = top
        .get("model")
        .and_then(|r| as_str(r))
        .or_else(|| {
            request_fields
                .and_then(|f| f.get("model"))
                .and_then(|r| as_str(r))
        })
        .or_else(|| {
            response_fields
                .as_ref()
                .and_then(|f| f.get("model"))
                .and_then(|r| as_str(r))
        });
    let (m, _) = e.resolver.resolve(model.as_deref());
    let tok = tokenizer(m.encoding());

    let usage_raw = top.get("usage").copied().or_else(|| {
        response_fields
            .as_ref()
            .and_then(|f| f.get("usage").copied())
    });
    let usage: Option<Usage> = match usage_raw {
        Some(r) if r.get() != "null" => {
            Some(serde_json::from_str(r.get()).map_err(|err| format!("usage: {err}"))?)
        }
        _ => None,
    };

    // Prompt: counted from the request body when there is one.
    let mut max_tokens = 0;
    let counted: Option<Result<u32, String>> = match (request, request_fields) {
        (Some((raw, key)), Some(rf)) => {
            let at = |m: String| {
                if key.is_empty() {
                    m
                } else {
                    format!("{key}.{m}")
                }
            };
            if rf.contains_key("messages") {
                match parse_request(raw) {
                    Ok(req) => {
                        max_tokens = req
                            .max_tokens()
                            .map_or(Ok(0), |v| u32_of(v, "max_tokens"))?;
                        let rules = ChatRules {
                            tokenizer: tok,
                            chat: m.chat,
                            tools: m.tools,
                            image: m.image,
                            allow_special: e.opts.allow_special,
                            default_image_size: None,
                        };
                        Some(
                            count_request(&req, &rules)
                                .map(|c| c.prompt_tokens.min(u32::MAX as u64) as u32)
                                .map_err(|err| at(err.to_string())),
                        )
                    }
                    Err(err) => return Err(at(err.to_string())),
                }
            } else if let Some(p) = rf.get("prompt") {
                let p = as_str(p).ok_or_else(|| at("prompt: expected a string".into()))?;
                Some(Ok(tok.count(&p, e.opts.allow_special) as u32))
            } else {
                None
            }
        }
        _ => None,
    };
    let usage_prompt = usage
        .as_ref()
        .and_then(|u| u.prompt_tokens)
        .map(|v| u32_of(v, "usage.prompt_tokens"))
        .transpose()?;
    let (prompt, usage_pair) = match (counted, usage_prompt) {
        (Some(Ok(c)), Some(u)) => (
            if e.opts.prompt_source == PromptSource::Count {
                c
            } else {
                u
            },
            Some((c, u)),
        ),
        (Some(Ok(c)), None) => (c, None),
        // Counting failed (e.g. a remote image of unknown size) but the service's figure exists.
        (Some(Err(_)), Some(u)) => (u, None),
        (Some(Err(err)), None) => return Err(err),
        (None, Some(u)) => (u, None),
        (None, None) => {
            return Err("no prompt: expected messages (top level or under request), a prompt string, or usage.prompt_tokens".into());
        }
    };

    let cached = usage
        .as_ref()
        .and_then(|u| u.prompt_tokens_details.as_ref())
        .and_then(|d| d.cached_tokens)
        .map_or(Ok(0), |v| {
            u32_of(v, "usage.prompt_tokens_details.cached_tokens")
        })?;

    let mut no_completion = false;
    let completion = match usage.as_ref().and_then(|u| u.completion_tokens) {
        Some(v) => u32_of(v, "usage.completion_tokens")?,
        None => match completion_text(&top, response_fields.as_ref()) {
            Some(t) => t
                .iter()
                .map(|s| tok.count(s, e.opts.allow_special) as u32)
                .sum(),
            None => {
                no_completion = true;
                0
            }
        },
    };
    if max_tokens == 0
        && let Some(v) = top
            .get("max_tokens")
            .and_then(|r| serde_json::from_str::<u64>(r.get()).ok())
    {
        max_tokens = u32_of(v, "max_tokens")?;
    }
    let dims = e
        .opts
        .by
        .iter()
        .map(|d| dimension(&top, d))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Parsed {
        t_us,
        prompt,
        completion,
        cached,
        max_tokens,
        failed: false,
        model,
        dims,
        usage_pair,
        no_completion,
    })
}

/// Completion text of a line: `response.choices[].message.content` / `.text`, or a
/// `completion` / `response` string.
fn completion_text<'a>(
    top: &Fields<'a>,
    response: Option<&Fields<'a>>,
) -> Option<Vec<Cow<'a, str>>> {
    if let Some(r) = response
        && let Some(c) = r.get("choices")
        && let Ok(choices) = serde_json::from_str::<Vec<Choice<'a>>>(c.get())
    {
        let texts: Vec<Cow<'a, str>> = choices
            .into_iter()
            .filter_map(|ch| ch.message.and_then(|m| m.content).or(ch.text))
            .collect();
        return Some(texts);
    }
    ["completion", "response"]
        .iter()
        .find_map(|k| top.get(*k).and_then(|r| as_str(r)))
        .map(|s| vec![s])
}

/// Reads a chat log in blocks; lines are parsed and tokenized in parallel.
pub(crate) fn read(
    mut file: OpenFile,
    e: &mut Emitter<'_, '_>,
    progress: &dyn Progress,
) -> Result<(), IngestError> {
    let consumed = file.consumed.clone();
    let mut last = 0;
    let mut blocks = Blocks::new(&mut file.reader, 1, BLOCK_BYTES);
    while let Some((block, first)) = blocks.next_block().map_err(|err| e.io(err))? {
        let ls = lines(&block, first);
        let rows: Vec<(u64, RowResult<'_>)> = {
            let em = &e.ctx();
            ls.par_iter()
                .with_min_len(16)
                .map(|&(n, l)| (n, parse_line(l, em)))
                .collect()
        };
        e.emit(rows)?;
        tick(&consumed, &mut last, progress);
    }
    Ok(())
}
