//! Tabular inputs: the Azure and BurstGPT traces, generic CSV / TSV, Mooncake JSON lines and
//! Parquet, all mapped onto one [`Schema`] (which column is the time, the prompt, the
//! completion, the model, the `--by` dimensions).
//!
//! Azure and BurstGPT rows are plain comma-separated numbers and take a fast line splitter
//! (`simple`); generic CSV goes through the `csv` crate (`csv`: quoted fields, embedded
//! newlines); `mooncake` reads its JSON lines; Parquet is read in row slices so memory stays
//! bounded (`parquet`). This module holds what they share: the schema, the field rules and the
//! row parser. Rows are parsed (and any text tokenized) in parallel.

use rayon::prelude::*;
use std::borrow::Cow;

use super::sink::{Emitter, Parsed, RowCtx, RowResult, norm, parse_count};
use super::source::{InputFormat, Lines, OpenFile, for_each_block, read_header};
use super::time::{from_unix_number, parse_datetime};
use super::{BLOCK_BYTES, IngestError, Progress, Request};
use crate::tokens::tokenizer;

mod delimited;
mod mooncake;
mod parquet;
mod simple;

use delimited::read_csv;
use mooncake::read_mooncake;
use parquet::read_parquet;
use simple::read_simple_csv;

/// How the time column is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeKind {
    /// A date-time string, or unix seconds / ms / µs.
    Auto,
    /// Seconds from the trace start (BurstGPT).
    RelativeSeconds,
    /// Milliseconds from the trace start (Mooncake).
    RelativeMillis,
}

/// Which column plays which role.
#[derive(Debug, Clone)]
struct Schema {
    time: usize,
    time_name: String,
    time_kind: TimeKind,
    prompt_tokens: Option<(usize, String)>,
    text: Option<(usize, String)>,
    completion: Option<(usize, String)>,
    cached: Option<(usize, String)>,
    max_tokens: Option<(usize, String)>,
    model: Option<usize>,
    dims: Vec<usize>,
    /// BurstGPT: a row with zero response tokens is a failed request.
    failed_if_no_completion: bool,
    /// Generic CSV / TSV / Parquet: a completion cell that is not a count is the completion's
    /// text, tokenized. The trace formats (Azure, BurstGPT) hold counts only.
    completion_text: bool,
}

/// One cell.
#[derive(Debug, Clone)]
pub(crate) enum Field<'a> {
    Str(Cow<'a, str>),
    Num(f64),
    /// A typed date-time cell (Parquet), microseconds since the epoch.
    TimeUs(i64),
    Null,
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

fn find(header: &[String], name: &str) -> Option<usize> {
    let n = norm(name);
    header.iter().position(|h| norm(h) == n)
}

fn find_any(header: &[String], names: &[&str]) -> Option<(usize, String)> {
    names
        .iter()
        .find_map(|n| find(header, n).map(|i| (i, header[i].clone())))
}

/// Column `flag`'s value, which must exist.
fn required(header: &[String], flag: &str, name: &str) -> Result<(usize, String), String> {
    find(header, name)
        .map(|i| (i, header[i].clone()))
        .ok_or_else(|| {
            format!(
                "{flag} {name}: no such column (columns: {})",
                header.join(", ")
            )
        })
}

fn schema(format: InputFormat, header: &[String], e: &Emitter<'_, '_>) -> Result<Schema, String> {
    let opts = e.opts;
    let list = || header.join(", ");
    let (time, time_kind) = match (&opts.time_col, format) {
        (Some(c), InputFormat::BurstGpt) => (required(header, "--time-col", c)?, TimeKind::RelativeSeconds),
        (Some(c), InputFormat::Mooncake) => (required(header, "--time-col", c)?, TimeKind::RelativeMillis),
        (Some(c), _) => (required(header, "--time-col", c)?, TimeKind::Auto),
        (None, InputFormat::BurstGpt) => (required(header, "BurstGPT", "Timestamp")?, TimeKind::RelativeSeconds),
        (None, InputFormat::Mooncake) => (required(header, "Mooncake", "timestamp")?, TimeKind::RelativeMillis),
        (None, _) => (
            find_any(header, &["timestamp", "time", "created", "datetime", "date", "ts"]).ok_or_else(|| {
                format!("no time column (looked for timestamp, time, created); name it with --time-col (columns: {})", list())
            })?,
            TimeKind::Auto,
        ),
    };
    let col = |flag: &Option<String>,
               fname: &str,
               names: &[&str]|
     -> Result<Option<(usize, String)>, String> {
        match flag {
            Some(c) => required(header, fname, c).map(Some),
            None => Ok(find_any(header, names)),
        }
    };
    let prompt_tokens = col(
        &opts.prompt_tokens_col,
        "--prompt-tokens-col",
        &[
            "ContextTokens",
            "Request tokens",
            "input_length",
            "prompt_tokens",
            "input_tokens",
            "context_tokens",
        ],
    )?;
    let text = col(
        &opts.text_col,
        "--text-col",
        &["prompt", "text", "input", "content", "message"],
    )?;
    let text = if opts.text_col.is_none() && prompt_tokens.is_some() {
        None
    } else {
        text
    };
    if prompt_tokens.is_none() && text.is_none() {
        return Err(format!(
            "no prompt column: name the text with --text-col or the token count with --prompt-tokens-col (columns: {})",
            list()
        ));
    }
    let completion = col(
        &opts.completion_col,
        "--completion-col",
        &[
            "GeneratedTokens",
            "Response tokens",
            "output_length",
            "completion_tokens",
            "output_tokens",
            "generated_tokens",
            "completion",
            "response",
        ],
    )?;
    let cached = find_any(header, &["cached_tokens", "cached"]);
    let max_tokens = find_any(header, &["max_tokens", "max_completion_tokens"]);
    let model = find(header, "model");
    let mut dims = Vec::new();
    for d in &opts.by {
        match find(header, d) {
            Some(i) => dims.push(i),
            // One value for every row: the file has no such column.
            None if opts.by_optional => {}
            None => return Err(format!("--by {d}: no such column (columns: {})", list())),
        }
    }
    Ok(Schema {
        time: time.0,
        time_name: time.1,
        time_kind,
        prompt_tokens,
        text,
        completion,
        cached,
        max_tokens,
        model,
        dims,
        failed_if_no_completion: format == InputFormat::BurstGpt,
        completion_text: !matches!(format, InputFormat::Azure | InputFormat::BurstGpt),
    })
}

fn num(f: &Field<'_>, what: &str) -> Result<f64, String> {
    match f {
        Field::Num(x) => Ok(*x),
        Field::Str(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{what}: '{s}' is not a number")),
        Field::TimeUs(_) => Err(format!("{what}: a date-time, not a number")),
        Field::Null => Err(format!("{what}: empty")),
    }
}

fn count_field(f: &Field<'_>, what: &str) -> Result<u32, String> {
    match f {
        Field::Num(x) if *x >= 0.0 && x.fract() == 0.0 && *x <= u32::MAX as f64 => Ok(*x as u32),
        Field::Num(x) => Err(format!("{what}: {x} is not a token count")),
        Field::Str(s) => parse_count(s, what),
        Field::TimeUs(_) => Err(format!("{what}: a date-time, not a token count")),
        Field::Null => Err(format!("{what}: empty")),
    }
}

/// A cell that reads as an attempt at a number (`1e3`, `-5`, `1.5`, `1_000`): refused as a
/// count rather than tokenized as text.
fn looks_numeric(t: &str) -> bool {
    let t = t.trim();
    t.parse::<f64>().is_ok()
        || (!t.is_empty()
            && t.chars().any(|c| c.is_numeric())
            && t.chars().all(|c| c.is_numeric() || "_,.+-eExX".contains(c)))
}

/// Parses one row given its cells.
fn parse_row<'a>(
    s: &Schema,
    cells: &dyn Fn(usize) -> Field<'a>,
    e: &RowCtx<'_, '_>,
) -> RowResult<'a> {
    let tf = cells(s.time);
    let t_us = match s.time_kind {
        TimeKind::Auto => match &tf {
            Field::Num(x) => from_unix_number(*x),
            Field::TimeUs(t) => Some(*t),
            Field::Str(v) => parse_datetime(v)
                .or_else(|| v.trim().parse::<f64>().ok().and_then(from_unix_number)),
            Field::Null => None,
        }
        .ok_or_else(|| {
            format!(
                "{}: {:?} is not a timestamp (RFC 3339 or unix seconds / ms)",
                s.time_name,
                field_str(&tf)
            )
        })?,
        TimeKind::RelativeSeconds | TimeKind::RelativeMillis => {
            let v = num(&tf, &s.time_name)?;
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{}: {v} is not a time offset", s.time_name));
            }
            (v * if s.time_kind == TimeKind::RelativeSeconds {
                1e6
            } else {
                1e3
            })
            .round() as i64
        }
    };
    let model_cell = s.model.map(cells);
    let model: Option<Cow<'a, str>> = match model_cell {
        Some(Field::Str(m)) if !m.trim().is_empty() => Some(m),
        _ => None,
    };
    let (m, _) = e.resolver.resolve(model.as_deref());
    let tok = tokenizer(m.encoding());
    let prompt = match (&s.prompt_tokens, &s.text) {
        (Some((i, name)), _) => count_field(&cells(*i), name)?,
        (None, Some((i, _))) => match cells(*i) {
            Field::Str(t) => tok.count(&t, e.opts.allow_special) as u32,
            f @ (Field::Num(_) | Field::TimeUs(_)) => {
                tok.count(&field_str(&f), e.opts.allow_special) as u32
            }
            Field::Null => 0,
        },
        (None, None) => 0,
    };
    let mut no_completion = false;
    let completion = match &s.completion {
        Some((i, name)) => match cells(*i) {
            Field::Null => {
                no_completion = true;
                0
            }
            Field::Str(t) if t.trim().is_empty() => {
                no_completion = true;
                0
            }
            Field::Str(t) => match parse_count(&t, name) {
                Ok(n) => n,
                // A text completion (generic tables only): count it.
                Err(_) if s.completion_text && !looks_numeric(&t) => {
                    tok.count(&t, e.opts.allow_special) as u32
                }
                Err(err) => return Err(err),
            },
            f => count_field(&f, name)?,
        },
        None => {
            no_completion = true;
            0
        }
    };
    let opt_count = |c: &Option<(usize, String)>| -> Result<u32, String> {
        match c {
            Some((i, name)) => match cells(*i) {
                Field::Null => Ok(0),
                Field::Str(v) if v.trim().is_empty() => Ok(0),
                f => count_field(&f, name),
            },
            None => Ok(0),
        }
    };
    let cached = opt_count(&s.cached)?;
    let max_tokens = opt_count(&s.max_tokens)?;
    let dims = s
        .dims
        .iter()
        .map(|&i| match cells(i) {
            Field::Str(v) => v,
            f @ (Field::Num(_) | Field::TimeUs(_)) => Cow::Owned(field_str(&f)),
            Field::Null => Cow::Borrowed(""),
        })
        .collect();
    Ok(Parsed {
        t_us,
        prompt,
        completion,
        cached,
        max_tokens,
        failed: s.failed_if_no_completion && completion == 0,
        model,
        dims,
        usage_pair: None,
        no_completion,
    })
}

fn field_str(f: &Field<'_>) -> String {
    match f {
        Field::Str(s) => s.to_string(),
        Field::Num(x) => fmt_num(*x),
        Field::TimeUs(t) => super::time::format_utc(*t),
        Field::Null => String::new(),
    }
}

/// Reads a tabular file.
pub(crate) fn read(
    mut file: OpenFile,
    e: &mut Emitter<'_, '_>,
    progress: &dyn Progress,
) -> Result<(), IngestError> {
    match file.format {
        InputFormat::Azure | InputFormat::BurstGpt => read_simple_csv(&mut file, e, progress),
        InputFormat::Csv | InputFormat::Tsv => read_csv(&mut file, e, progress),
        InputFormat::Mooncake => read_mooncake(&mut file, e, progress),
        InputFormat::Parquet => read_parquet(&file, e),
        // Chat logs and usage logs have readers of their own (`ingest::read` dispatches).
        _ => Err(e.error(None, "not a tabular format")),
    }
}

/// Reports progress since the last call.
pub(crate) fn tick(
    consumed: &std::sync::atomic::AtomicU64,
    last: &mut u64,
    progress: &dyn Progress,
) {
    let now = consumed.load(std::sync::atomic::Ordering::Relaxed);
    progress.advance(now.saturating_sub(*last));
    *last = now;
}

#[cfg(test)]
mod tests {
    use super::simple::{DayCache, fast_datetime, fast_offset, fast_u32};
    use super::*;
    use crate::ingest::time::parse_datetime;

    #[test]
    fn fast_datetime_agrees_with_the_general_parser() {
        let mut cache = DayCache::default();
        for t in [
            "2023-11-16 18:17:03.9799600",
            "2023-11-16 18:17:04",
            "2023-11-17 00:00:00.5",
            "2024-02-29 23:59:59.999999+00:00",
            "2024-03-01 00:00:00Z",
            "1999-12-31 12:00:00.123456789",
            "2024-02-29 23:59:59.999999+00:00",
        ] {
            assert_eq!(
                fast_datetime(t.as_bytes(), &mut cache),
                parse_datetime(t),
                "{t}"
            );
        }
    }

    #[test]
    fn fast_datetime_leaves_other_spellings_to_the_general_parser() {
        let mut cache = DayCache::default();
        for t in [
            "2023-11-16T18:17:03Z",
            "2023-11-16 18:17:03+02:00",
            "2023-13-16 18:17:03",
            "2023-11-16 24:17:03",
            "2023-11-16 18:17:03.",
            "2023-11-16 18:17",
            "1700000000",
        ] {
            assert_eq!(fast_datetime(t.as_bytes(), &mut cache), None, "{t}");
        }
    }

    #[test]
    fn fast_numbers_accept_only_plain_digits() {
        assert_eq!(fast_u32(b"4808"), Some(4808));
        assert_eq!(fast_u32(b"999999999"), Some(999_999_999));
        for bad in [&b""[..], b"-1", b" 3", b"1e3", b"4294967296", b"12.5"] {
            assert_eq!(fast_u32(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(fast_offset(b"12"), Some(12_000));
        assert_eq!(fast_offset(b"12.000"), Some(12_000));
        assert_eq!(fast_offset(b"12.5"), None);
        assert_eq!(fast_offset(b".0"), None);
    }

    #[test]
    fn invalid_calendar_days_are_refused_on_both_paths() {
        for t in [
            "2023-02-29 12:00:00.0000000",
            "2023-02-30 12:00:00.0000000",
            "2024-02-30 00:00:00",
            "2023-04-31 00:00:00",
            "2023-06-31 00:00:00",
            "2023-11-16 18:17:03.1234567891",
        ] {
            let mut cache = DayCache::default();
            assert_eq!(fast_datetime(t.as_bytes(), &mut cache), None, "{t}");
            assert_eq!(parse_datetime(t), None, "{t}");
        }
        // A cached valid day does not let the next row's invalid one through.
        let mut cache = DayCache::default();
        assert!(fast_datetime(b"2023-02-28 00:00:00", &mut cache).is_some());
        assert_eq!(fast_datetime(b"2023-02-30 00:00:00", &mut cache), None);
    }

    #[test]
    fn leap_seconds_read_as_the_next_second_on_both_paths() {
        // `:60` is accepted (UTC leap seconds appear in real logs) and read as the first
        // second of the next minute; the fast path leaves it to the general parser.
        let mut cache = DayCache::default();
        assert_eq!(fast_datetime(b"2016-12-31 23:59:60", &mut cache), None);
        assert_eq!(
            parse_datetime("2016-12-31 23:59:60"),
            parse_datetime("2017-01-01 00:00:00")
        );
    }

    #[test]
    fn token_counts_follow_one_rule() {
        use crate::ingest::sink::count_value;
        for (t, v) in [
            ("1843", 1843),
            (" 12 ", 12),
            ("12.0", 12),
            ("0", 0),
            ("7.000", 7),
        ] {
            assert_eq!(count_value(t), Some(v), "{t}");
        }
        for t in [
            "",
            "abc",
            "1_000",
            "1,000",
            "0x10",
            "１２",
            "1e3",
            "2.5e9",
            "1.5",
            "-1",
            "+1",
            ".0",
            "1234567890123456",
        ] {
            assert_eq!(count_value(t), None, "{t}");
        }
        assert!(looks_numeric("1e3") && looks_numeric("1_000") && looks_numeric("１２"));
        assert!(!looks_numeric("The answer is 42.") && !looks_numeric("abc"));
    }
}
