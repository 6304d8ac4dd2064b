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
//!
//! Two readers share the rules: the fast one in [`super::chatscan`] takes the lines it
//! recognises in one pass, and the serde one here (serde_json) reads every line it declines, in any shape
//! the format allows, and words the error when a line is wrong. Both hand what they found
//! ([`Facts`]) to [`row`], so the prompt, usage and completion rules exist once.

use std::borrow::Cow;

use rustc_hash::FxHashMap;
use serde::Deserialize;

use super::json::Raw;
use super::sink::{Emitter, Parsed, RowCtx, RowResult};
use super::source::{Lines, OpenFile, for_each_piece};
use super::table::tick;
use super::time::{from_unix_number, parse_datetime};
use super::{IngestError, Progress, PromptSource};
use crate::catalog::Model;
use crate::tokens::chat::{ChatBody, ChatRules, Function, Message, Tool, count_body};
use crate::tokens::tokenizer;

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

type Fields<'a> = FxHashMap<String, Raw<'a>>;

fn fields(raw: &str) -> Result<Fields<'_>, String> {
    serde_json::from_slice(raw.as_bytes()).map_err(|e| format!("not a JSON object: {e}"))
}

/// The string a raw value holds, if it is one.
pub(super) fn as_str(raw: Raw<'_>) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct S<'a>(#[serde(borrow)] Cow<'a, str>);
    serde_json::from_slice::<S>(raw.0.as_bytes())
        .ok()
        .map(|s| s.0)
}

fn u32_of(v: u64, what: &str) -> Result<u32, String> {
    u32::try_from(v).map_err(|_| format!("{what}: {v} is too large"))
}

/// Value of a `--by` dimension: strings as they are, other JSON values as written. `top` looks
/// up the line's top-level fields.
fn dimension<'a>(
    top: &impl Fn(&str) -> Option<Raw<'a>>,
    path: &str,
) -> Result<Cow<'a, str>, String> {
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or(path);
    let Some(mut raw) = top(first) else {
        return Ok(Cow::Borrowed("(none)"));
    };
    for p in parts {
        let inner: Fields<'a> =
            fields(raw.0).map_err(|_| format!("--by {path}: '{first}' is not an object"))?;
        match inner.get(p) {
            Some(&r) => raw = r,
            None => return Ok(Cow::Borrowed("(none)")),
        }
    }
    Ok(match as_str(raw) {
        Some(s) => s,
        None if raw.0 == "null" => Cow::Borrowed("(none)"),
        None => Cow::Borrowed(raw.0),
    })
}

fn parse_time(raw: Raw<'_>, name: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "{name}: {} is not a timestamp (RFC 3339 or unix seconds / ms)",
            raw.0
        )
    };
    if let Some(s) = as_str(raw) {
        return parse_datetime(&s)
            .or_else(|| s.trim().parse::<f64>().ok().and_then(from_unix_number))
            .ok_or_else(bad);
    }
    let x: f64 = serde_json::from_slice(raw.0.as_bytes()).map_err(|_| bad())?;
    from_unix_number(x).ok_or_else(bad)
}

/// The fields of a log line spillway reads, parsed in one pass (borrowing text when it has no
/// escapes). The request body may be at the top level or under `request` / `body`. The body's
/// fields are repeated here rather than `#[serde(flatten)]`ed from [`Body`]: flattening buffers
/// every field into an owned map first, which costs a copy of each prompt.
#[derive(Deserialize)]
struct LogLine<'a> {
    #[serde(default, borrow)]
    timestamp: Option<Raw<'a>>,
    #[serde(default, borrow)]
    time: Option<Raw<'a>>,
    #[serde(default, borrow)]
    created: Option<Raw<'a>>,
    #[serde(default, borrow, rename = "@timestamp")]
    at_timestamp: Option<Raw<'a>>,
    #[serde(default, borrow)]
    ts: Option<Raw<'a>>,
    #[serde(default, borrow)]
    request: Option<Body<'a>>,
    #[serde(default, borrow)]
    body: Option<Body<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default, borrow)]
    response: Option<Raw<'a>>,
    #[serde(default, borrow)]
    completion: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    messages: Option<Vec<Message<'a>>>,
    #[serde(default, borrow)]
    tools: Option<Vec<Tool<'a>>>,
    #[serde(default, borrow)]
    functions: Option<Vec<Function<'a>>>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default, borrow)]
    prompt: Option<Cow<'a, str>>,
}

/// A request body nested under `request` or `body`.
#[derive(Deserialize)]
struct Body<'a> {
    #[serde(default, borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    messages: Option<Vec<Message<'a>>>,
    #[serde(default, borrow)]
    tools: Option<Vec<Tool<'a>>>,
    #[serde(default, borrow)]
    functions: Option<Vec<Function<'a>>>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default, borrow)]
    prompt: Option<Cow<'a, str>>,
}

/// A response object.
#[derive(Deserialize)]
struct Response<'a> {
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default, borrow)]
    choices: Option<Vec<Choice<'a>>>,
    #[serde(default, borrow)]
    model: Option<Cow<'a, str>>,
}

/// Deserializes `text` with serde_json; on failure,
/// parses again with path tracking for a precise message (`messages[0].content: invalid type
/// …`), prefixed with `at` when the value is nested.
fn parse_json<'a, T: Deserialize<'a>>(text: &'a [u8], at: &str) -> Result<T, String> {
    serde_json::from_slice(text).map_err(|_| {
        let de = &mut serde_json::Deserializer::from_slice(text);
        let err = match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(_) => return "malformed JSON".to_string(),
            Err(e) => e,
        };
        let path = err.path().to_string();
        let inner = err.into_inner();
        let place = match (at.is_empty(), path == ".") {
            (true, true) => String::new(),
            (true, false) => format!("{path}: "),
            (false, true) => format!("{at}: "),
            (false, false) => format!("{at}.{path}: "),
        };
        if inner.is_syntax() || inner.is_eof() {
            format!("{place}not valid JSON ({inner})")
        } else {
            format!("{place}{inner}")
        }
    })
}

/// Parses one log line: with the fast reader ([`super::chatscan`]) when it takes the line,
/// else with serde.
fn parse_line<'a>(line: &'a [u8], e: &RowCtx<'_, '_>) -> RowResult<'a> {
    match super::chatscan::read(line, e) {
        Some(row) => row,
        None => parse_line_serde(line, e),
    }
}

/// The timestamp fields, in the order they are looked for.
pub(super) const TIME_FIELDS: [&str; 5] = ["timestamp", "time", "created", "@timestamp", "ts"];

/// The first timestamp field present, parsed.
pub(super) fn line_time(times: [Option<Raw<'_>>; 5]) -> Result<i64, String> {
    let (name, raw) = TIME_FIELDS
        .into_iter()
        .zip(times)
        .find_map(|(n, r)| r.map(|r| (n, r)))
        .ok_or("no timestamp (expected one of: timestamp, time, created, @timestamp, ts)")?;
    parse_time(raw, name)
}

/// Usage figures of a line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct UsageFacts {
    pub prompt: Option<u64>,
    pub completion: Option<u64>,
    pub cached: Option<u64>,
}

impl From<&Usage> for UsageFacts {
    fn from(u: &Usage) -> Self {
        UsageFacts {
            prompt: u.prompt_tokens,
            completion: u.completion_tokens,
            cached: u
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens),
        }
    }
}

/// What a line says, as either reader finds it; [`row`] makes the row of it.
pub(super) struct Facts<'a> {
    pub t_us: i64,
    /// The model the line names (top level, then the body's, then the response's).
    pub model: Option<Cow<'a, str>>,
    /// `max_completion_tokens`, else `max_tokens`, of the body; else the top-level `max_tokens`.
    pub max_tokens: Option<u64>,
    /// Prompt tokens counted from the line's text, if it has any.
    pub counted: Option<Result<u32, String>>,
    pub usage: Option<UsageFacts>,
}

/// The row of a line's facts. `m` is the model the line is counted as; `completions` gives
/// the completion texts (asked for only when usage has no completion count), `dims` the `--by`
/// values (asked for only with `--by`).
pub(super) fn row<'a>(
    f: Facts<'a>,
    m: &Model,
    e: &RowCtx<'_, '_>,
    completions: impl FnOnce() -> Option<Vec<Cow<'a, str>>>,
    dims: impl FnOnce() -> Result<Vec<Cow<'a, str>>, String>,
) -> RowResult<'a> {
    let max_tokens = f.max_tokens.map_or(Ok(0), |v| u32_of(v, "max_tokens"))?;
    let usage = f.usage.unwrap_or_default();
    let usage_prompt = usage
        .prompt
        .map(|v| u32_of(v, "usage.prompt_tokens"))
        .transpose()?;
    let (prompt, usage_pair) = match (f.counted, usage_prompt) {
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
    let cached = usage.cached.map_or(Ok(0), |v| {
        u32_of(v, "usage.prompt_tokens_details.cached_tokens")
    })?;
    let mut no_completion = false;
    let completion = match usage.completion {
        Some(v) => u32_of(v, "usage.completion_tokens")?,
        None => match completions() {
            Some(texts) => {
                let tok = tokenizer(m.encoding());
                texts
                    .iter()
                    .map(|s| tok.count(s, e.opts.allow_special) as u32)
                    .sum()
            }
            None => {
                no_completion = true;
                0
            }
        },
    };
    let dims = if e.opts.by.is_empty() {
        Vec::new()
    } else {
        dims()?
    };
    Ok(Parsed {
        t_us: f.t_us,
        prompt,
        completion,
        cached,
        max_tokens,
        failed: false,
        model: f.model,
        dims,
        usage_pair,
        no_completion,
    })
}

/// The `--by` values of a line whose top-level fields `get` looks up.
pub(super) fn line_dims<'a>(
    e: &RowCtx<'_, '_>,
    get: impl Fn(&str) -> Option<Raw<'a>>,
) -> Result<Vec<Cow<'a, str>>, String> {
    e.opts.by.iter().map(|d| dimension(&get, d)).collect()
}

/// Parses one log line with serde: every shape the format allows, and the error message when
/// the line is wrong.
pub(super) fn parse_line_serde<'a>(line: &'a [u8], e: &RowCtx<'_, '_>) -> RowResult<'a> {
    // serde_json checks UTF-8 inside strings as it parses; a whole-line pass is not needed.
    if line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err("not a JSON object".into());
    }
    let top: LogLine<'a> = parse_json(line, "")?;
    let t_us = line_time([
        top.timestamp,
        top.time,
        top.created,
        top.at_timestamp,
        top.ts,
    ])?;

    let has_top_body = top.messages.is_some() || top.prompt.is_some();
    let nested: Option<(&Body<'a>, &'static str)> = if has_top_body {
        None
    } else {
        [("request", &top.request), ("body", &top.body)]
            .into_iter()
            .find_map(|(k, b)| b.as_ref().map(|b| (b, k)))
    };
    let response: Option<Response<'a>> = match top.response {
        Some(r) if r.0.trim_start().starts_with('{') => {
            Some(parse_json(r.0.as_bytes(), "response")?)
        }
        _ => None,
    };

    let model: Option<Cow<'a, str>> = top
        .model
        .clone()
        .or_else(|| nested.as_ref().and_then(|(b, _)| b.model.clone()))
        .or_else(|| response.as_ref().and_then(|r| r.model.clone()));
    let (m, _) = e.resolver.resolve(model.as_deref());
    let tok = tokenizer(m.encoding());

    // The body's fields, wherever they were.
    let (messages, tools, functions, prompt_text, max_tokens, max_completion, key) = match &nested {
        Some((b, key)) => (
            &b.messages,
            &b.tools,
            &b.functions,
            &b.prompt,
            b.max_tokens,
            b.max_completion_tokens,
            *key,
        ),
        None => (
            &top.messages,
            &top.tools,
            &top.functions,
            &top.prompt,
            top.max_tokens,
            top.max_completion_tokens,
            "",
        ),
    };
    let counted: Option<Result<u32, String>> = if let Some(msgs) = messages {
        let rules = ChatRules {
            tokenizer: tok,
            chat: m.chat,
            tools: m.tools,
            image: m.image,
            allow_special: e.opts.allow_special,
            default_image_size: None,
        };
        let body = ChatBody {
            messages: msgs,
            tools: tools.as_deref().unwrap_or(&[]),
            functions: functions.as_deref().unwrap_or(&[]),
        };
        Some(
            count_body(body, &rules, false)
                .map(|c| c.prompt_tokens.min(u32::MAX as u64) as u32)
                .map_err(|err| {
                    if key.is_empty() {
                        err.to_string()
                    } else {
                        format!("{key}.{err}")
                    }
                }),
        )
    } else {
        prompt_text
            .as_ref()
            .map(|p| Ok(tok.count(p, e.opts.allow_special) as u32))
    };
    let usage = top
        .usage
        .as_ref()
        .or_else(|| response.as_ref().and_then(|r| r.usage.as_ref()))
        .map(UsageFacts::from);
    let facts = Facts {
        t_us,
        model,
        max_tokens: max_completion.or(max_tokens).or(top.max_tokens),
        counted,
        usage,
    };
    let completions = || match (&response, top.response, &top.completion) {
        (Some(r), _, _) => r.choices.as_ref().map(|cs| {
            cs.iter()
                .filter_map(|ch| {
                    ch.message
                        .as_ref()
                        .and_then(|m| m.content.clone())
                        .or_else(|| ch.text.clone())
                })
                .collect()
        }),
        (None, Some(raw), _) => as_str(raw).map(|s| vec![s]),
        (None, None, Some(c)) => Some(vec![c.clone()]),
        _ => None,
    };
    let dims = || {
        let text = std::str::from_utf8(line)
            .map_err(|err| format!("invalid UTF-8 at byte {} of the line", err.valid_up_to()))?;
        let fields = fields(text)?;
        line_dims(e, |k| fields.get(k).copied())
    };
    row(facts, m, e, completions, dims)
}

/// Reads a chat log in pieces; lines are parsed and tokenized in parallel.
pub(crate) fn read(
    mut file: OpenFile,
    e: &mut Emitter<'_, '_>,
    progress: &dyn Progress,
) -> Result<(), IngestError> {
    let consumed = file.consumed.clone();
    let mut last = 0;
    let mut next_line = 1;
    let io_error = e.io_error();
    let ctx = e.ctx();
    let parse = |piece: &[u8]| {
        let mut lines = Lines::new(piece);
        let rows: Vec<(u64, RowResult<'static>)> = lines
            .by_ref()
            .map(|(n, l)| (n, parse_line(l, &ctx).map(Parsed::into_owned)))
            .collect();
        (lines.ends(), rows)
    };
    for_each_piece(file.take_reader(), io_error, parse, |(ends, rows)| {
        let first = next_line;
        next_line += ends;
        e.emit(vec![(first, rows)])?;
        tick(&consumed, &mut last, progress);
        Ok(())
    })
}
