//! A borrowing, validating JSON reader: a serde deserializer for chat-log lines and the
//! [`Scanner`] that the hand-written chat-line reader (`chatscan`) walks lines with.
//!
//! Chat-log lines are mostly long message strings, and serde_json scans a string eight bytes
//! at a time and validates its UTF-8 string by string. This reader validates UTF-8 once per
//! input (simdutf8) and checks the input for control characters in one vectorised pass;
//! string ends are then found sixteen bytes at a time with memchr's SSE2 searcher, which
//! inlines (see [`find_quote_or_backslash`]), and sliced without further checks; escapes are
//! decoded into a buffer kept per thread, and values that are skipped are checked without
//! being decoded. On the bundled chat log it parses 1.3× as fast as serde_json (`cargo bench
//! --bench jsonl_ratio`). Otherwise it follows serde_json's data model: borrowed strings when
//! they have no escapes, `u64` / `i64` / `f64` numbers as serde_json classifies them, structs
//! from objects or arrays, [`Raw`] for a value's text.
//!
//! Invariants:
//! * Sound, not complete: it accepts only valid JSON (RFC 8259: no control characters or
//!   invalid UTF-8 in strings, no lone surrogate escapes, the strict number grammar, no
//!   trailing commas or characters, nesting of at most [`MAX_DEPTH`]) and yields the values
//!   serde_json yields (fractional numbers go to serde_json's own float parser). What it does
//!   not handle (enums, numbers out of range…) is an error without detail: callers then parse
//!   with serde_json, which also words the error. A line is therefore accepted exactly when
//!   serde_json accepts it.
//! * Never panics: every index is checked; nesting is bounded, so recursion is too.

use std::cell::Cell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Deepest nesting accepted (serde_json stops at 128).
pub const MAX_DEPTH: u32 = 100;

/// The newtype name through which [`Raw`] asks this deserializer for a value's text.
const RAW_TOKEN: &str = "$spillway::json::Raw";

/// Parsing failed; parse again with serde_json for the reason.
#[derive(Debug, PartialEq, Eq)]
pub struct Error;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not JSON this parser accepts")
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Error
    }
}

/// Deserializes `input` (one JSON value, optionally surrounded by whitespace).
pub fn from_slice<'de, T: Deserialize<'de>>(input: &'de [u8]) -> Result<T, Error> {
    with_deserializer(input, |de| T::deserialize(de))
}

/// Runs `read` over `input` with a fresh deserializer (its unescaping buffer kept per thread,
/// so that lines do not grow a new one); the input must hold one value and nothing after it.
fn with_deserializer<'de, T>(
    input: &'de [u8],
    read: impl FnOnce(&mut Deserializer<'de>) -> Result<T, Error>,
) -> Result<T, Error> {
    thread_local! {
        static SCRATCH: Cell<String> = const { Cell::new(String::new()) };
    }
    let text = simdutf8::basic::from_utf8(input).map_err(|_| Error)?;
    let mut de = Deserializer {
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
    with_deserializer(input, |de| read(&mut Scanner(de)).ok_or(Error)).ok()
}

/// A cursor for hand-written readers of a JSON text: the deserializer's own validation with no
/// serde in between. Each method reads the next value whole (checking it as [`from_slice`]
/// would) and answers `None` when it is not valid JSON or not of the kind asked for; the
/// cursor is then somewhere inside the value, and the reader should give up.
pub(crate) struct Scanner<'de, 'x>(&'x mut Deserializer<'de>);

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
            b'0'..=b'9' => match self.0.number().ok()? {
                Number::U64(n) => Some(n),
                _ => None,
            },
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

/// Deserializes `input` with this parser, or with serde_json where it declines (the error is
/// serde_json's).
pub fn parse<'de, T: Deserialize<'de>>(input: &'de [u8]) -> Result<T, serde_json::Error> {
    from_slice(input).or_else(|_| serde_json::from_slice(input))
}

/// The JSON text of a value, borrowed from the input (serde_json's `&RawValue`, readable by
/// both this deserializer and serde_json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a>(pub &'a str);

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            // This deserializer hands the text over directly.
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Raw<'de>, E> {
                Ok(Raw(v))
            }
            // serde_json (and wrappers of it) know the value as a `&RawValue`.
            fn visit_newtype_struct<D: de::Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Raw<'de>, D::Error> {
                <&RawValue>::deserialize(d).map(|r| Raw(r.get()))
            }
        }
        d.deserialize_newtype_struct(RAW_TOKEN, V)
    }
}

struct Deserializer<'de> {
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

/// A number as serde_json classifies it.
enum Number {
    U64(u64),
    I64(i64),
    F64(f64),
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

impl<'de> Deserializer<'de> {
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

    /// Parses the number at `pos` with the JSON grammar, classified as serde_json does:
    /// integers as `u64`, negative ones as `i64` (`-0` and those below `i64::MIN` as `f64`),
    /// anything with a fraction or exponent, or too long for 64 bits, as `f64`.
    fn number(&mut self) -> Result<Number, Error> {
        let start = self.pos;
        let (int_digits, float) = self.number_text()?;
        let negative = self.input[start] == b'-';
        let significand = int_digits.iter().try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add((d - b'0') as u64)
        });
        match (float, significand, negative) {
            (false, Some(n), false) => Ok(Number::U64(n)),
            (false, Some(n), true) if n != 0 && n <= 1 << 63 => {
                Ok(Number::I64((n as i64).wrapping_neg()))
            }
            _ => {
                // Rare in logs: serde_json's own float parser keeps the values identical.
                serde_json::from_str(self.slice(start, self.pos)?)
                    .map(Number::F64)
                    .map_err(|_| Error)
            }
        }
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

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.ws();
        match self.peek().ok_or(Error)? {
            b'n' => {
                self.literal(b"null")?;
                v.visit_unit()
            }
            b't' => {
                self.literal(b"true")?;
                v.visit_bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                v.visit_bool(false)
            }
            b'"' => match self.string()? {
                Str::Borrowed(s) => v.visit_borrowed_str(s),
                Str::Copied(s) => v.visit_str(s),
            },
            b'-' | b'0'..=b'9' => match self.number()? {
                Number::U64(n) => v.visit_u64(n),
                Number::I64(n) => v.visit_i64(n),
                Number::F64(x) => v.visit_f64(x),
            },
            b'[' => {
                self.enter()?;
                let value = v.visit_seq(Items {
                    de: &mut *self,
                    first: true,
                })?;
                self.leave(b']')?;
                Ok(value)
            }
            b'{' => {
                self.enter()?;
                let value = v.visit_map(Items {
                    de: &mut *self,
                    first: true,
                })?;
                self.leave(b'}')?;
                Ok(value)
            }
            _ => Err(Error),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.ws();
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        if name == RAW_TOKEN {
            self.ws();
            let start = self.pos;
            self.skip()?;
            v.visit_borrowed_str(self.slice(start, self.pos)?)
        } else {
            v.visit_newtype_struct(self)
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.skip()?;
        v.visit_unit()
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Error> {
        Err(Error)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// The elements of an array or the entries of an object.
struct Items<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    first: bool,
}

impl<'de> SeqAccess<'de> for Items<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if !self.de.next_item(&mut self.first, b']')? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

impl<'de> MapAccess<'de> for Items<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if !self.de.next_item(&mut self.first, b'}')? {
            return Ok(None);
        }
        if self.de.peek() != Some(b'"') {
            return Err(Error);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Error> {
        self.de.expect(b':')?;
        seed.deserialize(&mut *self.de)
    }
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
    use std::borrow::Cow;
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    /// This parser's reading of `text` as a `Value`, checked against serde_json's: whatever
    /// it accepts, serde_json accepts with the same value.
    fn agree(text: &[u8]) -> Option<Value> {
        let ours = from_slice::<Value>(text).ok();
        if let Some(v) = &ours {
            let theirs: Value = serde_json::from_slice(text).unwrap_or_else(|e| {
                panic!(
                    "accepted what serde_json rejects ({e}): {:?}",
                    String::from_utf8_lossy(text)
                )
            });
            assert_eq!(v, &theirs, "{:?}", String::from_utf8_lossy(text));
        }
        ours
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
            "1e400",
            "\u{feff}1",
            "[\"\\",
        ] {
            assert_eq!(from_slice::<Value>(text.as_bytes()), Err(Error), "{text:?}");
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text:?}");
        }
        assert_eq!(from_slice::<Value>(b"\"\xff\""), Err(Error));
        assert_eq!(from_slice::<Value>(b"\"\xc3\\n\""), Err(Error));
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(agree(deep(MAX_DEPTH as usize).as_bytes()).is_some());
        assert_eq!(
            from_slice::<Value>(deep(MAX_DEPTH as usize + 1).as_bytes()),
            Err(Error)
        );
        // Deeper than anything accepted, skipped as an ignored field: still an error, no crash.
        #[derive(Deserialize)]
        struct Only {
            #[allow(dead_code)]
            a: u8,
        }
        let text = format!("{{\"a\": 1, \"b\": {}}}", deep(100_000));
        assert!(from_slice::<Only>(text.as_bytes()).is_err());
    }

    #[test]
    fn strings_borrow_unless_escaped_and_raw_keeps_the_text() {
        #[derive(Deserialize)]
        struct Line<'a> {
            #[serde(borrow)]
            plain: Cow<'a, str>,
            #[serde(borrow)]
            escaped: Cow<'a, str>,
            #[serde(borrow)]
            raw: Raw<'a>,
            #[serde(borrow)]
            none: Option<Raw<'a>>,
        }
        let text = br#"{"plain": "abc", "escaped": "a\nb", "raw": {"x": [1, "y"]}, "none": null}"#;
        for line in [
            from_slice::<Line>(text).unwrap(),
            serde_json::from_slice::<Line>(text).unwrap(),
        ] {
            assert!(matches!(line.plain, Cow::Borrowed("abc")));
            assert_eq!(line.escaped, "a\nb");
            assert_eq!(line.raw, Raw(r#"{"x": [1, "y"]}"#));
            assert_eq!(line.none, None);
        }
    }

    #[test]
    fn structs_match_serde_json_on_duplicates_and_types() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct S {
            n: Option<u64>,
        }
        for text in [
            r#"{"n": 1}"#,
            r#"{"n": null}"#,
            r#"{}"#,
            r#"[5]"#,
            r#"{"m": [1, {"k": "v"}]}"#,
        ] {
            assert_eq!(
                from_slice::<S>(text.as_bytes()).ok(),
                serde_json::from_str::<S>(text).ok(),
                "{text}"
            );
        }
        for text in [
            r#"{"n": 1, "n": 2}"#,
            r#"{"n": -1}"#,
            r#"{"n": 1.0}"#,
            r#"{"n": "1"}"#,
        ] {
            assert!(from_slice::<S>(text.as_bytes()).is_err(), "{text}");
            assert!(serde_json::from_str::<S>(text).is_err(), "{text}");
        }
    }

    #[test]
    fn skipped_values_are_checked_not_converted() {
        // Ignored fields and raw values take numbers of any size, as serde_json does, and
        // strings with escapes without decoding them; invalid ones are still refused.
        #[derive(Deserialize, Debug, PartialEq)]
        struct S<'a> {
            #[serde(borrow)]
            raw: Option<Raw<'a>>,
        }
        for text in [
            r#"{"ignored": 1e400, "raw": -1e400}"#,
            r#"{"ignored": "a\nb\u00e9\ud83d\ude00", "raw": "x\ty"}"#,
            r#"{"ignored": [123456789012345678901234567890], "raw": {"k": 0.5}}"#,
        ] {
            let ours = from_slice::<S>(text.as_bytes());
            assert_eq!(
                ours.as_ref().ok(),
                serde_json::from_str::<S>(text).ok().as_ref(),
                "{text}"
            );
            assert!(ours.is_ok(), "{text}");
        }
        for text in [
            r#"{"ignored": 1e, "raw": 1}"#,
            r#"{"ignored": "\x", "raw": 1}"#,
            r#"{"raw": 01}"#,
        ] {
            assert!(from_slice::<S>(text.as_bytes()).is_err(), "{text}");
            assert!(serde_json::from_str::<S>(text).is_err(), "{text}");
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
            prop_assert_eq!(agree(&text), Some(v));
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
