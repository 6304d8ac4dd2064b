//! The fast reader of chat-log lines: one pass over a line in its usual shape, counting the
//! message text as it is met, with no serde and no allocation.
//!
//! It reads the fields [`super::chatlog`] documents — a time, the request body at the top level
//! or under `request` / `body`, `usage`, a `response` object or string, a `completion` string,
//! model names — and skips every other field, checking it as JSON.
//!
//! Invariants:
//! * Sound, not complete: [`read`] either declines a line (`None`) or returns exactly the row
//!   the serde reader in `chatlog` makes of it, through the same [`row`]; `chatlog` reads
//!   every declined line the serde way, which also words any error. Declined: anything that is
//!   not valid JSON or has nesting deeper than [`super::json::MAX_DEPTH`], duplicate fields,
//!   values of another type than the field takes, escaped keys, tool definitions, content
//!   parts other than text and refusals (images), timestamps that do not parse, and lines whose
//!   model turns out to use another encoding than the text was counted in. Tests in `chatlog`
//!   check the agreement on generated lines and on every line of the bundled log.
//! * Text is counted where it lies: borrowed from the line, or from the scanner's unescaping
//!   buffer. Only model names (when escaped), the spans of completion texts (decoded only when
//!   usage has no completion count) and, with `--by`, the spans of top-level fields are kept.

use std::borrow::Cow;

use super::chatlog::{Facts, UsageFacts, as_str, line_dims, line_time, row};
use super::json::{self, Raw, Scanner};
use super::sink::{RowCtx, RowResult};
use crate::tokens::chat::prompt_tokens_of_sums;
use crate::tokens::{EncodingName, tokenizer};

/// Message tokens counted in one encoding, before the model's per-message overhead.
#[derive(Debug, Clone, Copy, Default)]
struct Messages {
    messages: i64,
    names: i64,
    text: i64,
}

/// A request body as read: at the top level, or under `request` / `body`.
#[derive(Default)]
struct Body<'a> {
    model: Option<Cow<'a, str>>,
    messages: Option<Messages>,
    /// Tokens of a legacy `prompt` string.
    prompt: Option<usize>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
}

/// A `response` object as read.
#[derive(Default)]
struct Response<'a> {
    usage: Option<UsageFacts>,
    /// Per choice with a text, the span of `message.content`, else of `text`.
    choices: Option<Vec<Raw<'a>>>,
    model: Option<Cow<'a, str>>,
}

/// A line being read.
struct Walk<'a, 'r, 'x, 'c> {
    ctx: &'r RowCtx<'x, 'c>,
    /// The encoding text was counted in, once chosen.
    encoding: Option<EncodingName>,
    /// The top-level model name, once read.
    top_model: Option<Cow<'a, str>>,
}

/// Marks `bit` in `seen`; `None` when it was marked already (a duplicate field).
fn once(seen: &mut u32, bit: u32) -> Option<()> {
    (*seen & bit == 0).then(|| *seen |= bit)
}

/// Reads the value unless it is `null` (`Some(None)`).
fn nullable<'a, 's, T>(
    s: &mut Scanner<'a, 's>,
    read: impl FnOnce(&mut Scanner<'a, 's>) -> Option<T>,
) -> Option<Option<T>> {
    if s.null() {
        Some(None)
    } else {
        read(s).map(Some)
    }
}

/// Reads an array that must be empty (tool definitions are left to the serde reader).
fn empty_array(s: &mut Scanner<'_, '_>) -> Option<()> {
    s.array(|_| None)
}

impl<'a> Walk<'a, '_, '_, '_> {
    /// The encoding to count in: chosen at the first text of the line, from the forced model,
    /// else the model named so far (top level first, then the body's), else the default.
    fn encoding(&mut self, body_model: Option<&str>) -> EncodingName {
        *self.encoding.get_or_insert_with(|| {
            let name = self.top_model.as_deref().or(body_model);
            self.ctx.resolver.resolve(name).0.encoding()
        })
    }

    /// A `messages` array, counted.
    fn messages(&mut self, s: &mut Scanner<'_, '_>, body_model: Option<&str>) -> Option<Messages> {
        let tok = tokenizer(self.encoding(body_model));
        let special = self.ctx.opts.allow_special;
        let count = |t: &str| tok.count(t, special) as i64;
        let mut acc = Messages::default();
        s.array(|s| {
            acc.messages += 1;
            let mut seen = 0;
            s.object(|s, key| {
                match key {
                    "role" => {
                        once(&mut seen, 1)?;
                        acc.text += s.string(count)?;
                    }
                    "content" => {
                        once(&mut seen, 2)?;
                        if !s.null() {
                            match s.peek()? {
                                b'"' => acc.text += s.string(count)?,
                                _ => s.array(|s| {
                                    acc.text += part(s, &count)?;
                                    Some(())
                                })?,
                            }
                        }
                    }
                    "name" => {
                        once(&mut seen, 4)?;
                        if let Some(n) = nullable(s, |s| s.string(count))? {
                            acc.text += n;
                            acc.names += 1;
                        }
                    }
                    "tool_calls" => {
                        once(&mut seen, 8)?;
                        nullable(s, |s| {
                            s.array(|s| {
                                let mut function = false;
                                s.object(|s, key| match key {
                                    "function" => {
                                        (!function).then_some(())?;
                                        function = true;
                                        acc.text += function_call(s, &count)?;
                                        Some(())
                                    }
                                    _ => s.skip(),
                                })?;
                                function.then_some(())
                            })
                        })?;
                    }
                    "function_call" => {
                        once(&mut seen, 16)?;
                        if let Some(n) = nullable(s, |s| function_call(s, &count))? {
                            acc.text += n;
                        }
                    }
                    "tool_call_id" | "refusal" => {
                        once(&mut seen, if key == "refusal" { 32 } else { 64 })?;
                        if let Some(n) = nullable(s, |s| s.string(count))? {
                            acc.text += n;
                        }
                    }
                    _ => s.skip()?,
                }
                Some(())
            })?;
            // `role` is required.
            (seen & 1 != 0).then_some(())
        })?;
        Some(acc)
    }

    /// A request body object.
    fn body(&mut self, s: &mut Scanner<'a, '_>) -> Option<Body<'a>> {
        let mut b = Body::default();
        let mut seen = 0;
        s.object(|s, key| {
            if !self.body_field(s, key, &mut b, &mut seen)? {
                s.skip()?;
            }
            Some(())
        })?;
        Some(b)
    }

    /// Reads the field `key` of a request body `b` (nested, or the line itself): `Some(false)`
    /// when `key` is not a body field, and left unread. `seen` marks the fields read.
    fn body_field(
        &mut self,
        s: &mut Scanner<'a, '_>,
        key: &str,
        b: &mut Body<'a>,
        seen: &mut u32,
    ) -> Option<bool> {
        match key {
            "model" => {
                once(seen, 1)?;
                b.model = nullable(s, Scanner::cow)?;
            }
            "messages" => {
                once(seen, 2)?;
                b.messages = nullable(s, |s| self.messages(s, b.model.as_deref()))?;
            }
            "tools" | "functions" => {
                once(seen, if key == "tools" { 4 } else { 8 })?;
                nullable(s, empty_array)?;
            }
            "max_tokens" => {
                once(seen, 16)?;
                b.max_tokens = nullable(s, Scanner::u64)?;
            }
            "max_completion_tokens" => {
                once(seen, 32)?;
                b.max_completion_tokens = nullable(s, Scanner::u64)?;
            }
            "prompt" => {
                once(seen, 64)?;
                b.prompt = nullable(s, |s| self.prompt(s, b.model.as_deref()))?;
            }
            _ => return Some(false),
        }
        Some(true)
    }

    /// A legacy `prompt` string, counted.
    fn prompt(&mut self, s: &mut Scanner<'_, '_>, body_model: Option<&str>) -> Option<usize> {
        let tok = tokenizer(self.encoding(body_model));
        let special = self.ctx.opts.allow_special;
        s.string(|t| tok.count(t, special))
    }
}

/// One content part: the tokens of a text or refusal part (other parts are declined).
fn part(s: &mut Scanner<'_, '_>, count: &impl Fn(&str) -> i64) -> Option<i64> {
    let (mut kind, mut text, mut refusal) = (None, None, None);
    s.object(|s, key| {
        let slot = match key {
            "type" => {
                (kind.is_none()).then_some(())?;
                kind = Some(s.cow()?);
                return Some(());
            }
            "text" => &mut text,
            "refusal" => &mut refusal,
            _ => return s.skip(),
        };
        slot.is_none().then_some(())?;
        *slot = Some(s.raw()?);
        Some(())
    })?;
    let value = match kind.as_deref()? {
        "text" => text?,
        "refusal" => refusal?,
        _ => return None,
    };
    json::scan(value.0.as_bytes(), |s| s.string(count))
}

/// A `function` / `function_call` object: the tokens of its name and arguments.
fn function_call(s: &mut Scanner<'_, '_>, count: &impl Fn(&str) -> i64) -> Option<i64> {
    let (mut name, mut arguments) = (None, None);
    s.object(|s, key| {
        let slot = match key {
            "name" => &mut name,
            "arguments" => &mut arguments,
            _ => return s.skip(),
        };
        slot.is_none().then_some(())?;
        *slot = Some(s.string(count)?);
        Some(())
    })?;
    Some(name? + arguments.unwrap_or(0))
}

/// A `usage` object.
fn usage(s: &mut Scanner<'_, '_>) -> Option<UsageFacts> {
    let mut u = UsageFacts::default();
    let mut seen = 0;
    s.object(|s, key| {
        match key {
            "prompt_tokens" => {
                once(&mut seen, 1)?;
                u.prompt = nullable(s, Scanner::u64)?;
            }
            "completion_tokens" => {
                once(&mut seen, 2)?;
                u.completion = nullable(s, Scanner::u64)?;
            }
            "prompt_tokens_details" => {
                once(&mut seen, 4)?;
                u.cached = nullable(s, |s| {
                    let mut cached = None;
                    let mut seen = 0;
                    s.object(|s, key| match key {
                        "cached_tokens" => {
                            once(&mut seen, 1)?;
                            cached = nullable(s, Scanner::u64)?;
                            Some(())
                        }
                        _ => s.skip(),
                    })?;
                    Some(cached)
                })?
                .flatten();
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(u)
}

/// A `response` object.
fn response<'a>(s: &mut Scanner<'a, '_>) -> Option<Response<'a>> {
    let mut r = Response::default();
    let mut seen = 0;
    s.object(|s, key| {
        match key {
            "usage" => {
                once(&mut seen, 1)?;
                r.usage = nullable(s, usage)?;
            }
            "model" => {
                once(&mut seen, 2)?;
                r.model = nullable(s, Scanner::cow)?;
            }
            "choices" => {
                once(&mut seen, 4)?;
                r.choices = nullable(s, |s| {
                    let mut texts = Vec::new();
                    s.array(|s| {
                        let (mut content, mut text) = (None, None);
                        let mut seen = 0;
                        s.object(|s, key| {
                            match key {
                                "message" => {
                                    once(&mut seen, 1)?;
                                    content = nullable(s, |s| {
                                        let mut content = None;
                                        let mut seen = 0;
                                        s.object(|s, key| match key {
                                            "content" => {
                                                once(&mut seen, 1)?;
                                                content = nullable(s, string_span)?;
                                                Some(())
                                            }
                                            _ => s.skip(),
                                        })?;
                                        Some(content)
                                    })?
                                    .flatten();
                                }
                                "text" => {
                                    once(&mut seen, 2)?;
                                    text = nullable(s, string_span)?;
                                }
                                _ => s.skip()?,
                            }
                            Some(())
                        })?;
                        texts.extend(content.or(text));
                        Some(())
                    })?;
                    Some(texts)
                })?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(r)
}

/// The span of a string value.
fn string_span<'a>(s: &mut Scanner<'a, '_>) -> Option<Raw<'a>> {
    (s.peek()? == b'"').then_some(())?;
    s.raw()
}

/// Reads `line` if it has the usual shape: its row, or `None` to leave it to the serde reader.
pub(super) fn read<'a>(line: &'a [u8], ctx: &RowCtx<'_, '_>) -> Option<RowResult<'a>> {
    let mut w = Walk {
        ctx,
        encoding: None,
        top_model: None,
    };
    let mut times: [Option<Raw<'a>>; 5] = [None; 5];
    let mut top = Body::default();
    let (mut request, mut body) = (None, None);
    let mut usage_facts = None;
    let mut response_object: Option<Response<'a>> = None;
    let mut response_raw: Option<Raw<'a>> = None;
    let mut completion: Option<Raw<'a>> = None;
    // Top-level fields, for `--by`.
    let mut fields: Vec<(&'a str, Raw<'a>)> = Vec::new();
    let keep_fields = !ctx.opts.by.is_empty();
    let (mut seen, mut top_seen) = (0u32, 0u32);
    json::scan(line, |s| {
        s.object(|s, key| {
            let start = s.mark();
            match key {
                "timestamp" | "time" | "created" | "@timestamp" | "ts" => {
                    let i = super::chatlog::TIME_FIELDS.iter().position(|t| *t == key)?;
                    once(&mut seen, 1 << i)?;
                    times[i] = nullable(s, Scanner::raw)?;
                }
                "request" | "body" => {
                    once(&mut seen, if key == "request" { 1 << 5 } else { 1 << 6 })?;
                    let b = nullable(s, |s| w.body(s))?;
                    if key == "request" {
                        request = b;
                    } else {
                        body = b;
                    }
                }
                "usage" => {
                    once(&mut seen, 1 << 7)?;
                    usage_facts = nullable(s, usage)?;
                }
                "response" => {
                    once(&mut seen, 1 << 8)?;
                    match s.peek()? {
                        b'{' => response_object = Some(response(s)?),
                        _ => response_raw = nullable(s, Scanner::raw)?,
                    }
                }
                "completion" => {
                    once(&mut seen, 1 << 9)?;
                    completion = nullable(s, string_span)?;
                }
                "model" => {
                    once(&mut seen, 1 << 10)?;
                    w.top_model = nullable(s, Scanner::cow)?;
                }
                // The body's fields at the top level (its model is the line's, above).
                _ => {
                    if !w.body_field(s, key, &mut top, &mut top_seen)? {
                        s.skip()?;
                    }
                }
            }
            if keep_fields {
                fields.push((key, s.since(start)));
            }
            Some(())
        })
    })?;
    let t_us = line_time(times).ok()?;

    let nested = if top.messages.is_some() || top.prompt.is_some() {
        None
    } else {
        request.or(body)
    };
    let model = w
        .top_model
        .clone()
        .or_else(|| nested.as_ref().and_then(|b| b.model.clone()))
        .or_else(|| response_object.as_ref().and_then(|r| r.model.clone()));
    let (m, _) = ctx.resolver.resolve(model.as_deref());
    if w.encoding.is_some_and(|enc| enc != m.encoding()) {
        return None;
    }
    let b = nested.as_ref().unwrap_or(&top);
    let counted = match (b.messages, b.prompt) {
        (Some(n), _) => {
            let total = prompt_tokens_of_sums(&m.chat, n.messages, n.names, n.text);
            Some(Ok(total.min(u32::MAX as u64) as u32))
        }
        (None, Some(p)) => Some(Ok(p as u32)),
        (None, None) => None,
    };
    let facts = Facts {
        t_us,
        model,
        max_tokens: b.max_completion_tokens.or(b.max_tokens).or(top.max_tokens),
        counted,
        usage: usage_facts.or_else(|| response_object.as_ref().and_then(|r| r.usage)),
    };
    let decode = |raw: Raw<'a>| as_str(raw).unwrap_or(Cow::Borrowed(""));
    let completions = || match (&response_object, response_raw, completion) {
        (Some(r), _, _) => r
            .choices
            .as_ref()
            .map(|spans| spans.iter().map(|&raw| decode(raw)).collect()),
        (None, Some(raw), _) => as_str(raw).map(|s| vec![s]),
        (None, None, Some(c)) => Some(vec![decode(c)]),
        _ => None,
    };
    let dims = || {
        line_dims(ctx, |k| {
            fields
                .iter()
                .rev()
                .find(|(f, _)| *f == k)
                .map(|(_, raw)| *raw)
        })
    };
    Some(row(facts, m, ctx, completions, dims))
}

/// Differential checks of the two readers (used by the tests below and the
/// `chat_line_differential` fuzz target).
pub(crate) mod differential {
    use super::*;
    use crate::catalog::Catalog;
    use crate::ingest::chatlog::parse_line_serde;
    use crate::ingest::sink::ModelResolver;
    use crate::ingest::{IngestOptions, PromptSource};

    /// Reads `line` both ways under `opts`; the fast reader may decline, but what it returns
    /// must be what the serde reader returns. `true` when the fast reader took the line.
    pub(crate) fn agree(line: &[u8], opts: &IngestOptions) -> bool {
        let resolver = ModelResolver::new(catalog(), opts).unwrap();
        let ctx = RowCtx {
            opts,
            resolver: &resolver,
        };
        match read(line, &ctx) {
            Some(fast) => {
                let slow = parse_line_serde(line, &ctx);
                assert_eq!(fast, slow, "{}", String::from_utf8_lossy(line));
                true
            }
            None => false,
        }
    }

    /// [`agree`] under every set of [`option_sets`].
    pub(crate) fn agree_all(line: &[u8]) {
        static SETS: std::sync::OnceLock<Vec<IngestOptions>> = std::sync::OnceLock::new();
        for opts in SETS.get_or_init(option_sets) {
            agree(line, opts);
        }
    }

    pub(crate) fn catalog() -> &'static Catalog {
        static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        CATALOG.get_or_init(Catalog::embedded)
    }

    /// Options a profile may run with: plain, `--by`, `--prompt-source count` with special
    /// tokens allowed, a forced model.
    pub(crate) fn option_sets() -> Vec<IngestOptions> {
        let plain = IngestOptions::new("gpt-4o");
        let mut by = plain.clone();
        by.by = vec!["tenant".into(), "model".into(), "meta.app".into()];
        let mut count = plain.clone();
        count.prompt_source = PromptSource::Count;
        count.allow_special = true;
        let mut forced = plain.clone();
        forced.as_model = Some("gpt-4".into());
        vec![plain, by, count, forced]
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use proptest::prelude::*;

    use super::differential::{agree, catalog, option_sets};
    use super::*;
    use crate::ingest::IngestOptions;
    use crate::ingest::sink::ModelResolver;

    #[test]
    fn fast_reader_takes_every_line_of_the_bundled_log_and_agrees() {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(
            std::fs::File::open(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/samples/chat-log.jsonl.gz"
            ))
            .unwrap(),
        )
        .read_to_end(&mut text)
        .unwrap();
        let lines: Vec<&[u8]> = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        for (i, opts) in option_sets().iter().enumerate() {
            // Every line with the plain options, every seventh with the others.
            for line in lines.iter().skip(i).step_by(if i == 0 { 1 } else { 7 }) {
                assert!(
                    agree(line, opts),
                    "declined {}",
                    String::from_utf8_lossy(line)
                );
            }
        }
    }

    #[test]
    fn fast_reader_takes_the_usual_shapes() {
        for line in [
            r#"{"timestamp": "2026-11-16T09:02:11Z", "model": "gpt-4o", "messages": [{"role": "user", "content": "hi\nthere", "name": "ann"}]}"#,
            r#"{"time": 1794816000, "request": {"model": "gpt-4", "messages": [{"role": "system", "content": [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "b"}]}], "max_tokens": 10}, "usage": {"prompt_tokens": 9, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 0}}}"#,
            r#"{"created": 1794816000123, "body": {"prompt": "legacy \u00e9 prompt"}, "response": {"model": "gpt-4o-mini", "choices": [{"message": {"role": "assistant", "content": "ok"}}, {"text": "t"}]}}"#,
            r#"{"ts": "2026-11-16 09:02:11", "messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]}, {"role": "tool", "tool_call_id": "c1", "content": "42"}], "tools": [], "completion": "done"}"#,
            r#"{"@timestamp": "2026-11-16T09:02:11.5+01:00", "usage": {"prompt_tokens": 5}, "response": "streamed text", "extra": [1, {"deep": [true, false, null, -1.5e3]}]}"#,
        ] {
            for opts in option_sets() {
                assert!(agree(line.as_bytes(), &opts), "declined {line}");
            }
        }
    }

    #[test]
    fn fast_reader_declines_what_it_does_not_read() {
        for line in [
            // Tool definitions and images are the serde reader's.
            r#"{"ts": 1, "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "f"}}]}"#,
            r#"{"ts": 1, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}"#,
            // Duplicates, wrong types, escaped keys, bad times, not JSON.
            r#"{"ts": 1, "ts": 2, "messages": []}"#,
            r#"{"ts": 1, "messages": [{"role": "user", "role": "user"}]}"#,
            r#"{"ts": 1, "messages": [{"content": "no role"}]}"#,
            r#"{"ts": 1, "max_tokens": -1, "messages": []}"#,
            r#"{"ts": 1, "max_tokens": 1.0, "messages": []}"#,
            r#"{"t\u0073": 1, "messages": []}"#,
            r#"{"ts": "yesterday", "messages": []}"#,
            r#"{"ts": 1, "messages": [}"#,
            r#"["ts", 1]"#,
            // Counted in o200k_base before the model (gpt-4, cl100k_base) was named.
            r#"{"ts": 1, "messages": [{"role": "user", "content": "x"}], "model": "gpt-4"}"#,
        ] {
            let opts = IngestOptions::new("gpt-4o");
            let resolver = ModelResolver::new(catalog(), &opts).unwrap();
            let ctx = RowCtx {
                opts: &opts,
                resolver: &resolver,
            };
            assert!(read(line.as_bytes(), &ctx).is_none(), "took {line}");
        }
    }

    /// A JSON value that may repeat keys, written with chosen escapes and spacing.
    #[derive(Debug, Clone)]
    enum J {
        Null,
        Bool(bool),
        Num(String),
        Str(String),
        Arr(Vec<J>),
        Obj(Vec<(String, J)>),
    }

    impl J {
        fn write(&self, out: &mut String, escape_all: bool, space: &str) {
            match self {
                J::Null => out.push_str("null"),
                J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                J::Num(n) => out.push_str(n),
                J::Str(s) => write_str(out, s, escape_all),
                J::Arr(items) => {
                    out.push('[');
                    for (i, v) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                            out.push_str(space);
                        }
                        v.write(out, escape_all, space);
                    }
                    out.push(']');
                }
                J::Obj(entries) => {
                    out.push('{');
                    for (i, (k, v)) in entries.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                            out.push_str(space);
                        }
                        write_str(out, k, false);
                        out.push(':');
                        out.push_str(space);
                        v.write(out, escape_all, space);
                    }
                    out.push('}');
                }
            }
        }
    }

    /// A JSON string; with `escape_all`, every non-ASCII character as `\u` escapes.
    fn write_str(out: &mut String, s: &str, escape_all: bool) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '/' if escape_all => out.push_str("\\/"),
                c if (c as u32) < 0x20 || (escape_all && !c.is_ascii()) => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-z ]{0,12}",
            "[ -~]{0,40}",
            any::<String>(),
            Just("line one\nline two\t\"quoted\" \\ back\u{e9}\u{1F600}".to_string()),
            Just("<|endoftext|> and 12345 and   spaces".to_string()),
        ]
    }

    /// Values of a field: mostly the type it takes, sometimes another.
    fn string_or_other() -> impl Strategy<Value = J> {
        prop_oneof![
            40 => text().prop_map(J::Str),
            2 => Just(J::Null),
            1 => Just(J::Num("7".into())),
            1 => Just(J::Arr(vec![])),
        ]
    }

    fn count_value() -> impl Strategy<Value = J> {
        prop_oneof![
            40 => (0u64..100_000).prop_map(|n| J::Num(n.to_string())),
            1 => Just(J::Num("5000000000".into())),
            1 => Just(J::Num("-3".into())),
            1 => Just(J::Num("2.0".into())),
            2 => Just(J::Null),
            1 => Just(J::Str("12".into())),
        ]
    }

    /// An object of `fields`, some dropped, rarely one repeated, in any order, plus unknown
    /// keys. A field is present with a probability its name's prefix sets: `!` nearly always
    /// (a missing required field now and then), `?` seldom, none often.
    fn object(fields: Vec<(&'static str, BoxedStrategy<J>)>) -> BoxedStrategy<J> {
        let n = fields.len();
        let parts: Vec<BoxedStrategy<Option<(String, J)>>> = fields
            .into_iter()
            .map(|(k, v)| {
                let (p, k) = match k.as_bytes()[0] {
                    b'!' => (0.98, &k[1..]),
                    b'?' => (0.15, &k[1..]),
                    _ => (0.6, k),
                };
                prop::option::weighted(p, v.prop_map(move |v| (k.to_string(), v))).boxed()
            })
            .collect();
        (
            parts,
            prop::collection::vec(("[a-z_]{1,8}", string_or_other()), 0..2),
            any::<prop::sample::Index>(),
            0..n.max(1) * 8,
        )
            .prop_map(move |(chosen, extra, dup, shuffle)| {
                let mut entries: Vec<(String, J)> = chosen.into_iter().flatten().collect();
                entries.extend(extra);
                if !entries.is_empty() && shuffle % 29 == 0 {
                    let e = entries[dup.index(entries.len())].clone();
                    entries.push(e);
                }
                let len = entries.len();
                if len > 1 {
                    entries.rotate_left(shuffle % len);
                    entries.swap(0, shuffle % len);
                }
                J::Obj(entries)
            })
            .boxed()
    }

    fn part() -> BoxedStrategy<J> {
        object(vec![
            (
                "!type",
                prop::sample::select(vec![
                    "text",
                    "text",
                    "text",
                    "refusal",
                    "image_url",
                    "other",
                ])
                .prop_map(|t| J::Str(t.into()))
                .boxed(),
            ),
            ("text", string_or_other().boxed()),
            ("refusal", string_or_other().boxed()),
        ])
    }

    fn function() -> BoxedStrategy<J> {
        object(vec![
            ("!name", string_or_other().boxed()),
            ("arguments", string_or_other().boxed()),
        ])
    }

    fn message() -> BoxedStrategy<J> {
        let content = prop_oneof![
            20 => text().prop_map(J::Str),
            2 => Just(J::Null),
            4 => prop::collection::vec(part(), 0..3).prop_map(J::Arr),
            1 => Just(J::Num("1".into())),
        ];
        object(vec![
            (
                "!role",
                prop_oneof![
                    40 => prop::sample::select(vec!["system", "user", "assistant", "tool"])
                        .prop_map(|r| J::Str(r.into())),
                    1 => Just(J::Null),
                ]
                .boxed(),
            ),
            ("content", content.boxed()),
            ("?name", string_or_other().boxed()),
            (
                "?tool_calls",
                prop_oneof![
                    3 => prop::collection::vec(
                        object(vec![("!function", function()), ("id", string_or_other().boxed())]),
                        0..2
                    )
                    .prop_map(J::Arr),
                    1 => Just(J::Null),
                ]
                .boxed(),
            ),
            (
                "?function_call",
                prop_oneof![3 => function(), 1 => Just(J::Null)].boxed(),
            ),
            ("?tool_call_id", string_or_other().boxed()),
            ("?refusal", string_or_other().boxed()),
        ])
    }

    fn model() -> BoxedStrategy<J> {
        prop_oneof![
            30 => prop::sample::select(vec![
                "gpt-4o", "GPT-4o-2024-08-06", "gpt-4o", "gpt-4", "gpt-35-turbo", "gpt-4o-mini", "no-such-model"
            ])
            .prop_map(|m| J::Str(m.into())),
            2 => Just(J::Null),
            1 => Just(J::Num("4".into())),
        ]
        .boxed()
    }

    fn body() -> BoxedStrategy<J> {
        object(vec![
            ("model", model()),
            (
                "!messages",
                prop_oneof![
                    6 => prop::collection::vec(message(), 0..4).prop_map(J::Arr),
                    1 => Just(J::Null),
                ]
                .boxed(),
            ),
            (
                "tools",
                prop_oneof![
                    4 => Just(J::Arr(vec![])),
                    4 => Just(J::Null),
                    1 => function().prop_map(|f| J::Arr(vec![J::Obj(vec![("function".into(), f)])])),
                ]
                .boxed(),
            ),
            ("max_tokens", count_value().boxed()),
            ("?max_completion_tokens", count_value().boxed()),
            ("?prompt", string_or_other().boxed()),
            ("temperature", Just(J::Num("0.2".into())).boxed()),
        ])
    }

    fn usage() -> BoxedStrategy<J> {
        object(vec![
            ("prompt_tokens", count_value().boxed()),
            ("completion_tokens", count_value().boxed()),
            (
                "prompt_tokens_details",
                prop_oneof![
                    3 => object(vec![("cached_tokens", count_value().boxed())]),
                    1 => Just(J::Null),
                ]
                .boxed(),
            ),
        ])
    }

    fn response() -> BoxedStrategy<J> {
        let choice = object(vec![
            (
                "message",
                prop_oneof![
                    3 => object(vec![("content", string_or_other().boxed()), ("role", Just(J::Str("assistant".into())).boxed())]),
                    1 => Just(J::Null),
                ]
                .boxed(),
            ),
            ("text", string_or_other().boxed()),
        ]);
        prop_oneof![
            3 => object(vec![
                ("usage", prop_oneof![3 => usage(), 1 => Just(J::Null)].boxed()),
                ("choices", prop_oneof![3 => prop::collection::vec(choice, 0..3).prop_map(J::Arr), 1 => Just(J::Null)].boxed()),
                ("model", model()),
            ]),
            2 => text().prop_map(J::Str),
            1 => Just(J::Null),
            1 => Just(J::Arr(vec![J::Bool(true)])),
        ]
        .boxed()
    }

    fn time() -> BoxedStrategy<J> {
        prop_oneof![
            12 => Just(J::Str("2026-11-16T09:02:11.25Z".into())),
            8 => (0u64..2_000_000_000_000).prop_map(|n| J::Num(n.to_string())),
            2 => Just(J::Num("1794816000.5".into())),
            1 => Just(J::Str("not a time".into())),
            2 => Just(J::Null),
            1 => Just(J::Bool(true)),
        ]
        .boxed()
    }

    fn line() -> BoxedStrategy<J> {
        object(vec![
            ("!timestamp", time()),
            ("?time", time()),
            ("?ts", time()),
            ("model", model()),
            ("tenant", string_or_other().boxed()),
            (
                "!request",
                prop_oneof![20 => body(), 1 => Just(J::Null), 1 => Just(J::Str("x".into()))]
                    .boxed(),
            ),
            ("?body", body()),
            (
                "?messages",
                prop::collection::vec(message(), 0..3)
                    .prop_map(J::Arr)
                    .boxed(),
            ),
            ("?prompt", string_or_other().boxed()),
            ("max_tokens", count_value().boxed()),
            (
                "usage",
                prop_oneof![4 => usage(), 1 => Just(J::Null)].boxed(),
            ),
            ("response", response()),
            ("?completion", string_or_other().boxed()),
            ("meta", object(vec![("app", string_or_other().boxed())])),
        ])
    }

    #[test]
    fn generated_lines_exercise_both_readers() {
        // The generator is only a test of the fast reader if it takes many lines and declines
        // many others.
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let opts = &option_sets()[0];
        let n = 2000;
        let mut took = 0;
        for _ in 0..n {
            let mut text = String::new();
            line()
                .new_tree(&mut runner)
                .unwrap()
                .current()
                .write(&mut text, false, " ");
            took += usize::from(agree(text.as_bytes(), opts));
        }
        assert!(took > n / 5 && took < n * 4 / 5, "took {took} of {n}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn fast_reader_agrees_with_serde_on_generated_lines(
            l in line(),
            escape_all in any::<bool>(),
            spaced in any::<bool>(),
            which in 0usize..4,
        ) {
            let mut text = String::new();
            l.write(&mut text, escape_all, if spaced { " " } else { "" });
            agree(text.as_bytes(), &option_sets()[which]);
        }

        #[test]
        fn fast_reader_agrees_with_serde_on_damaged_lines(
            l in line(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(
                b"{}[]\":,\\ u0123456789ntrlse.-\x00\x1f\xc3\xa9\xff".to_vec()
            )), 1..4),
        ) {
            let mut text = String::new();
            l.write(&mut text, false, " ");
            let mut bytes = text.into_bytes();
            super::super::json::damage(&mut bytes, edits);
            agree(&bytes, &option_sets()[0]);
        }
    }
}
