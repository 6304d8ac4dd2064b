//! The JSON [`Scanner`] that the hand-written chat-line reader (`chatscan`) walks lines with,
//! and [`Raw`], a value's text (serde_json's `&RawValue`).
//!
//! Chat-log lines are mostly long message strings, and serde_json scans a string eight bytes
//! at a time and validates its UTF-8 string by string. This scanner validates UTF-8 once per
//! input (simdutf8) and checks the input for control characters in one vectorised pass;
//! string ends are then found sixteen bytes at a time with memchr's SSE2 searcher, which
//! inlines (see [`find_quote_or_backslash`]), and sliced without further checks; escapes are
//! decoded into a buffer kept per thread, and values that are skipped are checked without
//! being decoded. Lines the fast reader declines are parsed by serde_json: a serde
//! deserializer of this scanner's own gained 8 % ± 4 % end to end on a log where every line is
//! declined (and nothing where none is), below what a second parser must earn, and was removed
//! (benches/README.md, "JSON readers").
//!
//! Invariants:
//! * Sound, not complete: it accepts only valid JSON (RFC 8259: no control characters or
//!   invalid UTF-8 in strings, no lone surrogate escapes, the strict number grammar, no
//!   trailing commas or characters, nesting of at most [`MAX_DEPTH`]), and what it reads is
//!   what serde_json reads: a value it skips, serde_json ignores; a string or `u64` it reads,
//!   serde_json reads the same (checked by [`differential`], a fuzz target, and by property
//!   tests).
//! * Never panics: every index is checked; nesting is bounded, so recursion is too.

use std::cell::Cell;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// Deepest nesting accepted (serde_json stops at 128).
pub const MAX_DEPTH: u32 = 100;

/// Not valid JSON, or not what the reader asked for.
#[derive(Debug, PartialEq, Eq)]
struct Error;

/// Runs `read` over `input` with a fresh cursor (its unescaping buffer kept per thread,
/// so that lines do not grow a new one); the input must hold one value and nothing after it.
fn with_cursor<'de, T>(
    input: &'de [u8],
    read: impl FnOnce(&mut Cursor<'de>) -> Result<T, Error>,
) -> Result<T, Error> {
    thread_local! {
        static SCRATCH: Cell<String> = const { Cell::new(String::new()) };
    }
    let text = simdutf8::basic::from_utf8(input).map_err(|_| Error)?;
    let mut de = Cursor {
        text,
        input,
        pos: 0,
        depth: 0,
        controls: has_control(input),
        scratch: SCRATCH.with(Cell::take),
    };
    let value = read(&mut de);
    de.ws();
    let at_end = de.pos == input.len();
    SCRATCH.with(|s| s.set(de.scratch));
    match value {
        Ok(v) if at_end => Ok(v),
        _ => Err(Error),
    }
}

/// Runs a hand-written reader over `input` (one JSON value and nothing after it) with a
/// [`Scanner`]; `None` when the input is not valid JSON or `read` declines it.
pub(crate) fn scan<'de, T>(
    input: &'de [u8],
    read: impl FnOnce(&mut Scanner<'de, '_>) -> Option<T>,
) -> Option<T> {
    with_cursor(input, |de| read(&mut Scanner(de)).ok_or(Error)).ok()
}

/// A cursor for hand-written readers of a JSON text. Each method reads the next value whole
/// (validating it) and answers `None` when it is not valid JSON or not of the kind asked for; the
/// cursor is then somewhere inside the value, and the reader should give up.
pub(crate) struct Scanner<'de, 'x>(&'x mut Cursor<'de>);

impl<'de> Scanner<'de, '_> {
    /// The first byte of the next value (after whitespace), not consumed.
    pub fn peek(&mut self) -> Option<u8> {
        self.0.ws();
        self.0.peek()
    }

    /// Consumes a `null` if one comes next.
    pub fn null(&mut self) -> bool {
        self.peek() == Some(b'n') && self.0.literal(b"null").is_ok()
    }

    /// Reads an object, calling `entry` with each key, at the entry's value, which `entry`
    /// must read. Keys with escapes are declined.
    pub fn object(
        &mut self,
        mut entry: impl FnMut(&mut Self, &'de str) -> Option<()>,
    ) -> Option<()> {
        if self.peek()? != b'{' {
            return None;
        }
        self.0.enter().ok()?;
        let mut first = true;
        while self.0.next_item(&mut first, b'}').ok()? {
            if self.0.peek() != Some(b'"') {
                return None;
            }
            let key = match self.0.string().ok()? {
                Str::Borrowed(k) => k,
                Str::Copied(_) => return None,
            };
            self.0.expect(b':').ok()?;
            entry(self, key)?;
        }
        self.0.leave(b'}').ok()
    }

    /// Reads an array, calling `item` at each element, which `item` must read.
    pub fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if self.peek()? != b'[' {
            return None;
        }
        self.0.enter().ok()?;
        let mut first = true;
        while self.0.next_item(&mut first, b']').ok()? {
            item(self)?;
        }
        self.0.leave(b']').ok()
    }

    /// Reads a string and hands its text (unescaped) to `f`.
    pub fn string<R>(&mut self, f: impl FnOnce(&str) -> R) -> Option<R> {
        if self.peek()? != b'"' {
            return None;
        }
        Some(match self.0.string().ok()? {
            Str::Borrowed(s) => f(s),
            Str::Copied(s) => f(s),
        })
    }

    /// Reads a string, borrowed from the input unless it had escapes.
    pub fn cow(&mut self) -> Option<std::borrow::Cow<'de, str>> {
        if self.peek()? != b'"' {
            return None;
        }
        Some(match self.0.string().ok()? {
            Str::Borrowed(s) => std::borrow::Cow::Borrowed(s),
            Str::Copied(s) => std::borrow::Cow::Owned(s.to_string()),
        })
    }

    /// Reads a non-negative integer that fits 64 bits, as serde reads a `u64`.
    pub fn u64(&mut self) -> Option<u64> {
        match self.peek()? {
            b'0'..=b'9' => self.0.u64().ok(),
            _ => None,
        }
    }

    /// Reads any value and returns its text.
    pub fn raw(&mut self) -> Option<Raw<'de>> {
        let start = self.mark();
        self.0.skip().ok()?;
        Some(self.since(start))
    }

    /// Reads any value.
    pub fn skip(&mut self) -> Option<()> {
        self.0.skip().ok()
    }

    /// Where the next value starts (after whitespace).
    pub fn mark(&mut self) -> usize {
        self.0.ws();
        self.0.pos
    }

    /// The text from `start` (a [`Scanner::mark`]) to the cursor.
    pub fn since(&self, start: usize) -> Raw<'de> {
        Raw(self.0.text.get(start..self.0.pos).unwrap_or(""))
    }
}

/// The JSON text of a value, borrowed from the input (read through serde_json's `&RawValue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a>(pub &'a str);

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&RawValue>::deserialize(d).map(|r| Raw(r.get()))
    }
}

struct Cursor<'de> {
    /// The input, valid UTF-8.
    text: &'de str,
    /// The same, as bytes.
    input: &'de [u8],
    pos: usize,
    depth: u32,
    /// The input holds control characters (which strings must then be checked for).
    controls: bool,
    /// Unescaped text of the current string, when it had escapes.
    scratch: String,
}

/// A parsed string: borrowed from the input, or unescaped into the scratch buffer.
enum Str<'de, 's> {
    Borrowed(&'de str),
    Copied(&'s str),
}

/// Whether `bytes` holds a control character (U+0000 to U+001F): its least byte, in one
/// vectorised pass.
fn has_control(bytes: &[u8]) -> bool {
    bytes.iter().fold(u8::MAX, |m, &b| m.min(b)) < 0x20
}

/// The position of the first quote or backslash in `bytes`. On x86_64, memchr's SSE2 searcher
/// (SSE2 is part of the architecture) is called directly: it inlines, where `memchr2`
/// dispatches at run time to an out-of-line AVX2 routine, and chat-log strings are cut by an
/// escape every few dozen bytes, so the cost of a call matters more than the width of a
/// vector.
#[inline]
fn find_quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(two) = memchr::arch::x86_64::sse2::memchr::Two::new(b'"', b'\\') {
        return two.find(bytes);
    }
    memchr::memchr2(b'"', b'\\', bytes)
}

impl<'de> Cursor<'de> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), Error> {
        self.ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Error)
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Error> {
        match self.input.get(self.pos..self.pos + word.len()) {
            Some(w) if w == word => {
                self.pos += word.len();
                Ok(())
            }
            _ => Err(Error),
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error);
        }
        self.pos += 1;
        Ok(())
    }

    fn leave(&mut self, close: u8) -> Result<(), Error> {
        self.expect(close)?;
        self.depth -= 1;
        Ok(())
    }

    /// The input from `start` to `end` (both at ASCII bytes, so at character boundaries).
    fn slice(&self, start: usize, end: usize) -> Result<&'de str, Error> {
        self.text.get(start..end).ok_or(Error)
    }

    /// Parses the string that starts at `pos` (an opening quote).
    fn string(&mut self) -> Result<Str<'de, '_>, Error> {
        let start = self.pos;
        if self.scan_string(true)? {
            Ok(Str::Copied(&self.scratch))
        } else {
            Ok(Str::Borrowed(self.slice(start + 1, self.pos - 1)?))
        }
    }

    /// Moves past the string that starts at `pos` (an opening quote), validating it; `true`
    /// when it had escapes, in which case (with `copy`) the scratch buffer holds its text.
    fn scan_string(&mut self, copy: bool) -> Result<bool, Error> {
        let input = self.input;
        // Start of the run not yet copied to the scratch buffer.
        let mut run = self.pos + 1;
        let mut escaped = false;
        loop {
            let rest = input.get(run..).ok_or(Error)?;
            let i = run + find_quote_or_backslash(rest).ok_or(Error)?;
            if self.controls && has_control(&input[run..i]) {
                return Err(Error);
            }
            self.pos = i + 1;
            let end = input[i] == b'"';
            // Text is copied only once there is an escape: else the string is borrowed.
            if copy && (escaped || !end) {
                if !escaped {
                    self.scratch.clear();
                }
                let piece = self.slice(run, i)?;
                self.scratch.push_str(piece);
            }
            if end {
                return Ok(escaped);
            }
            escaped = true;
            self.escape(copy)?;
            run = self.pos;
        }
    }

    /// Decodes the escape after a backslash (into the scratch buffer, with `copy`).
    fn escape(&mut self, copy: bool) -> Result<(), Error> {
        let b = self.peek().ok_or(Error)?;
        self.pos += 1;
        let c = match b {
            b'"' | b'\\' | b'/' => b as char,
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4()?;
                let code = match hi {
                    0xD800..=0xDBFF => {
                        self.literal(b"\\u")?;
                        let lo = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return Err(Error);
                        }
                        0x10000 + ((hi as u32 - 0xD800) << 10) + (lo as u32 - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(Error),
                    _ => hi as u32,
                };
                char::from_u32(code).ok_or(Error)?
            }
            _ => return Err(Error),
        };
        if copy {
            self.scratch.push(c);
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16, Error> {
        let digits = self.input.get(self.pos..self.pos + 4).ok_or(Error)?;
        let mut v = 0u16;
        for &d in digits {
            let x = (d as char).to_digit(16).ok_or(Error)?;
            v = (v << 4) | x as u16;
        }
        self.pos += 4;
        Ok(v)
    }

    /// Moves past the number at `pos`, checking the JSON grammar: its integer digits, and
    /// whether it has a fraction or an exponent.
    fn number_text(&mut self) -> Result<(&'de [u8], bool), Error> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(Error),
        }
        let input = self.input;
        let int_digits = &input[int_start..self.pos];
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(Error);
            }
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(Error);
            }
            float = true;
        }
        Ok((int_digits, float))
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Parses the number at `pos` with the JSON grammar as a `u64`, as serde_json reads one:
    /// an integer with no sign, fraction or exponent that fits 64 bits.
    fn u64(&mut self) -> Result<u64, Error> {
        if self.peek() == Some(b'-') {
            return Err(Error);
        }
        let (int_digits, float) = self.number_text()?;
        if float {
            return Err(Error);
        }
        int_digits
            .iter()
            .try_fold(0u64, |acc, &d| {
                acc.checked_mul(10)?.checked_add((d - b'0') as u64)
            })
            .ok_or(Error)
    }

    /// Skips the value at `pos`, validating it.
    fn skip(&mut self) -> Result<(), Error> {
        self.ws();
        match self.peek().ok_or(Error)? {
            b'n' => self.literal(b"null"),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'"' => self.scan_string(false).map(drop),
            // Validated, not converted: serde_json ignores (and takes as raw) numbers of any size.
            b'-' | b'0'..=b'9' => self.number_text().map(drop),
            b'[' => {
                self.enter()?;
                let mut first = true;
                while self.next_item(&mut first, b']')? {
                    self.skip()?;
                }
                self.leave(b']')
            }
            b'{' => {
                self.enter()?;
                let mut first = true;
                while self.next_item(&mut first, b'}')? {
                    self.key()?;
                    self.skip()?;
                }
                self.leave(b'}')
            }
            _ => Err(Error),
        }
    }

    /// Moves to the next element of an array or object: `false` at `close` (not consumed),
    /// `true` before an element (after its comma, unless it is the first).
    fn next_item(&mut self, first: &mut bool, close: u8) -> Result<bool, Error> {
        self.ws();
        match self.peek() {
            Some(b) if b == close => Ok(false),
            Some(b',') if !*first => {
                self.pos += 1;
                self.ws();
                Ok(true)
            }
            Some(_) if *first => {
                *first = false;
                Ok(true)
            }
            _ => Err(Error),
        }
    }

    /// Checks that an object key (a string) and its colon follow; the key is skipped.
    fn key(&mut self) -> Result<(), Error> {
        if self.peek() != Some(b'"') {
            return Err(Error);
        }
        self.scan_string(false)?;
        self.expect(b':')
    }
}

/// Reads any value into a `serde_json::Value` (numbers through serde_json, from their text);
/// `None` where the scanner declines (escaped keys) or serde_json would refuse the number.
pub(crate) fn value(s: &mut Scanner<'_, '_>) -> Option<Value> {
    match s.peek()? {
        b'{' => {
            let mut map = serde_json::Map::new();
            s.object(|s, key| {
                map.insert(key.to_string(), value(s)?);
                Some(())
            })?;
            Some(Value::Object(map))
        }
        b'[' => {
            let mut items = Vec::new();
            s.array(|s| {
                items.push(value(s)?);
                Some(())
            })?;
            Some(Value::Array(items))
        }
        b'"' => s.cow().map(|c| Value::String(c.into_owned())),
        b'n' => s.null().then_some(Value::Null),
        _ => serde_json::from_str(s.raw()?.0).ok(),
    }
}

/// Nesting depth of valid JSON text (brackets outside strings).
fn depth(text: &[u8]) -> u32 {
    let (mut d, mut max, mut in_string, mut escaped) = (0u32, 0u32, false, false);
    for &b in text {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                d += 1;
                max = max.max(d);
            }
            b']' | b'}' => d = d.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The scanner against serde_json on `text` (any bytes); panics where they disagree:
/// * a text the scanner accepts, serde_json reads as a `Value`, and the other way round, but
///   for nesting deeper than [`MAX_DEPTH`] (serde_json's limit is 128) and numbers beyond
///   `f64`, which the scanner checks and skips as serde_json skips an ignored field's;
/// * a value, string or `u64` the scanner reads, serde_json reads the same; a string or `u64`
///   serde_json reads, the scanner reads.
#[doc(hidden)]
pub fn differential(text: &[u8]) {
    let show = || String::from_utf8_lossy(text).into_owned();
    let ours = scan(text, |s| s.skip()).is_some();
    let theirs = serde_json::from_slice::<Value>(text);
    match (ours, &theirs) {
        (true, Ok(_)) | (false, Err(_)) => {}
        (false, Ok(_)) => assert!(
            depth(text) > MAX_DEPTH,
            "scanner refuses what serde_json reads: {:?}",
            show()
        ),
        // Numbers beyond f64 are checked, not converted, as serde_json does for ignored values.
        (true, Err(e)) => assert!(
            e.to_string().starts_with("number out of range")
                && serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok(),
            "scanner accepts what serde_json refuses ({e}): {:?}",
            show()
        ),
    }
    if !ours {
        return;
    }
    if let Some(v) = scan(text, value) {
        assert_eq!(
            Some(&v),
            serde_json::from_slice::<Value>(text).ok().as_ref(),
            "{:?}",
            show()
        );
    }
    let string = scan(text, |s| s.cow().map(|c| c.into_owned()));
    assert_eq!(
        string,
        serde_json::from_slice::<String>(text).ok(),
        "{:?}",
        show()
    );
    let n = scan(text, |s| s.u64());
    assert_eq!(n, serde_json::from_slice::<u64>(text).ok(), "{:?}", show());
}

/// Damages `bytes` for property tests: each edit overwrites the byte at an even position it
/// picks, or inserts its byte there.
#[cfg(test)]
pub(crate) fn damage(bytes: &mut Vec<u8>, edits: Vec<(proptest::sample::Index, u8)>) {
    for (at, byte) in edits {
        let i = at.index(bytes.len() + 1);
        if i < bytes.len() && i % 2 == 0 {
            bytes[i] = byte;
        } else {
            bytes.insert(i.min(bytes.len()), byte);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    /// The scanner's reading of `text` as a `Value`, checked against serde_json's (see
    /// [`differential`]).
    fn agree(text: &[u8]) -> Option<Value> {
        differential(text);
        scan(text, value)
    }

    fn accepts(text: &[u8]) -> bool {
        scan(text, |s| s.skip()).is_some()
    }

    #[test]
    fn reads_what_serde_json_reads() {
        for text in [
            r#"{"a": [1, -2, 3.5, -0, 1e3, 18446744073709551615, 18446744073709551616, -9223372036854775808, -9223372036854775809], "b": {"c": null, "d": true, "e": false}}"#,
            r#"  "plain"  "#,
            r#""esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 end""#,
            r#"[]"#,
            r#"{}"#,
            "[\"caf\u{e9}\", \"\u{1F600}\"]",
            r#"0.000001"#,
            r#"1E-2"#,
            r#"18446744073709551615"#,
        ] {
            assert!(agree(text.as_bytes()).is_some(), "{text}");
        }
    }

    #[test]
    fn rejects_what_is_not_json() {
        for text in [
            "",
            " ",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "[,1]",
            "{,}",
            "{\"a\" 1}",
            "{1:2}",
            "[1 2]",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "+1",
            "nul",
            "tru",
            "[1]x",
            "\"a",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"tab\there\"",
            "\"nl\nhere\"",
            "\u{feff}1",
            "[\"\\",
        ] {
            assert!(!accepts(text.as_bytes()), "{text:?}");
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text:?}");
            differential(text.as_bytes());
        }
        assert!(!accepts(b"\"\xff\""));
        assert!(!accepts(b"\"\xc3\\n\""));
    }

    #[test]
    fn skipped_values_are_checked_not_converted() {
        // Skipped values take numbers of any size, as serde_json's ignored values do, and
        // strings with escapes without decoding them; invalid ones are still refused.
        for text in [
            r#"{"ignored": 1e400, "raw": -1e400}"#,
            r#"{"ignored": "a\nb\u00e9\ud83d\ude00", "raw": "x\ty"}"#,
            r#"[123456789012345678901234567890]"#,
        ] {
            assert!(accepts(text.as_bytes()), "{text}");
            differential(text.as_bytes());
        }
    }

    #[test]
    fn u64_is_what_serde_json_reads_as_u64() {
        for (text, n) in [
            ("0", Some(0)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("-1", None),
            ("-0", None),
            ("1.0", None),
            ("1e3", None),
        ] {
            assert_eq!(scan(text.as_bytes(), |s| s.u64()), n, "{text}");
            differential(text.as_bytes());
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(agree(deep(MAX_DEPTH as usize).as_bytes()).is_some());
        assert!(!accepts(deep(MAX_DEPTH as usize + 1).as_bytes()));
        // Between the scanner's limit and serde_json's: refused here, accepted there.
        differential(deep(MAX_DEPTH as usize + 1).as_bytes());
        // Far deeper than anything accepted: an error, no crash.
        let text = format!("{{\"a\": 1, \"b\": {}}}", deep(100_000));
        assert!(!accepts(text.as_bytes()));
    }

    #[test]
    fn strings_borrow_unless_escaped_and_raw_keeps_the_text() {
        assert!(matches!(
            scan(br#""abc""#, |s| s.cow()),
            Some(std::borrow::Cow::Borrowed("abc"))
        ));
        assert_eq!(scan(br#""a\nb""#, |s| s.cow()).as_deref(), Some("a\nb"));
        let text = br#"{"x": [1, "y"]}"#;
        assert_eq!(scan(text, |s| s.raw()), Some(Raw(r#"{"x": [1, "y"]}"#)));
        #[derive(Deserialize)]
        struct Line<'a> {
            #[serde(borrow)]
            raw: Raw<'a>,
            #[serde(borrow)]
            none: Option<Raw<'a>>,
        }
        let line: Line =
            serde_json::from_slice(br#"{"raw": {"x": [1, "y"]}, "none": null}"#).unwrap();
        assert_eq!(line.raw, Raw(r#"{"x": [1, "y"]}"#));
        assert_eq!(line.none, None);
    }

    /// Whether serde_json writes some key of `v` with an escape.
    fn escaped_key(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, v)| {
                k.chars().any(|c| c == '"' || c == '\\' || c < ' ') || escaped_key(v)
            }),
            Value::Array(items) => items.iter().any(escaped_key),
            _ => false,
        }
    }

    /// JSON values built from a few shapes, written compactly or pretty.
    fn values() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(|x| Value::from((x * 1000.0).round() / 1000.0)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..8)
                    .prop_map(|m: BTreeMap<String, Value>| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn reads_every_value_serde_json_writes(v in values(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_vec_pretty(&v) } else { serde_json::to_vec(&v) }.unwrap();
            prop_assert!(accepts(&text));
            // Keys with escapes are declined by `object`; all else is read.
            let read = agree(&text);
            if !escaped_key(&v) {
                prop_assert_eq!(read, Some(v));
            }
        }

        #[test]
        fn never_accepts_what_serde_json_rejects(
            v in values(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(
                b"{}[]\":,\\ u0123456789abcdefntrlsE.-+\x00\x1f\x7f\xc3\xa9\xff".to_vec()
            )), 1..4),
        ) {
            let mut text = serde_json::to_vec(&v).unwrap();
            damage(&mut text, edits);
            agree(&text);
        }
    }
}
