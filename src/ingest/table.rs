//! Tabular inputs: the Azure and BurstGPT traces, generic CSV / TSV, Mooncake JSON lines and
//! Parquet, all mapped onto one [`Schema`] (which column is the time, the prompt, the
//! completion, the model, the `--by` dimensions).
//!
//! Azure and BurstGPT rows are plain comma-separated numbers and take a fast line splitter;
//! generic CSV goes through the `csv` crate (quoted fields, embedded newlines). Parquet is read
//! in row slices so memory stays bounded. Rows are parsed (and any text tokenized) in parallel.

use rayon::prelude::*;
use std::borrow::Cow;

use super::source::{InputFormat, Lines, OpenFile, for_each_block, read_header};
use super::time::{from_unix_number, parse_datetime};
use super::{
    BLOCK_BYTES, Emitter, IngestError, Parsed, Progress, Request, RowCtx, RowResult, norm,
    parse_count,
};
use crate::tokens::tokenizer;

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

/// Azure and BurstGPT: unquoted comma-separated values, split by hand, parsed in parallel.
fn read_simple_csv(
    file: &mut OpenFile,
    e: &mut Emitter<'_, '_>,
    progress: &dyn Progress,
) -> Result<(), IngestError> {
    let header = read_header(&mut file.reader)
        .map_err(|err| e.io(err))?
        .ok_or_else(|| e.error(None, "empty file (no header)"))?;
    let header: Vec<String> = header.split(',').map(|h| h.trim().to_string()).collect();
    let s = schema(file.format, &header, e).map_err(|m| e.error(Some(1), m))?;
    if file.format == InputFormat::BurstGpt {
        e.set_relative();
    }
    if s.model.is_none() {
        e.expect_default_model();
    }
    let ncols = header.len();
    let consumed = file.consumed.clone();
    let mut last = 0;
    let mut next_line = 2;
    let io_error = e.io_error();
    for_each_block(file.take_reader(), BLOCK_BYTES, io_error, |block| {
        // The common case: every line of the block parses straight into a request.
        if let Some(d) = e.direct() {
            let em = &e.ctx();
            let direct: Option<Vec<(Vec<Request>, u64, u64)>> = block
                .pieces()
                .par_iter()
                .map(|piece| {
                    let mut out = Vec::with_capacity(piece.len() / 32);
                    let mut no_completion = 0;
                    let mut days = DayCache::default();
                    let mut lines = Lines::new(piece);
                    for (_, l) in lines.by_ref() {
                        let p = parse_simple_line(l, ncols, &s, em, &mut days).ok()?;
                        no_completion += u64::from(p.no_completion);
                        out.push(d.request(&p)?);
                    }
                    Some((out, no_completion, lines.ends()))
                })
                .collect::<Option<Vec<_>>>();
            if let Some(parts) = direct {
                // One hand-over per block keeps the sink's own parallelism busy.
                let mut out = Vec::with_capacity(parts.iter().map(|(v, _, _)| v.len()).sum());
                let mut no_completion = 0;
                for (v, c, ends) in parts {
                    out.extend_from_slice(&v);
                    no_completion += c;
                    next_line += ends;
                }
                e.emit_direct(&out, no_completion)?;
                tick(&consumed, &mut last, progress);
                return Ok(());
            }
        }
        let em = &e.ctx();
        let s = &s;
        let rows = block.parse_lines(&mut next_line, || {
            let mut days = DayCache::default();
            move |l| parse_simple_line(l, ncols, s, em, &mut days)
        });
        e.emit(rows)?;
        tick(&consumed, &mut last, progress);
        Ok(())
    })
}

fn parse_simple_line<'a>(
    line: &'a [u8],
    ncols: usize,
    s: &Schema,
    e: &RowCtx<'_, '_>,
    days: &mut DayCache,
) -> RowResult<'a> {
    let mut cells: [&'a [u8]; 16] = [&[]; 16];
    let mut n = 0;
    let mut start = 0;
    // Trace lines are short: a plain scan beats setting up a vectorised search per line.
    for (i, _) in line.iter().enumerate().filter(|(_, c)| **c == b',') {
        if n < cells.len() {
            cells[n] = &line[start..i];
        }
        n += 1;
        start = i + 1;
    }
    if n < cells.len() {
        cells[n] = &line[start..];
    }
    n += 1;
    if n != ncols {
        return Err(format!("expected {ncols} fields, found {n}"));
    }
    // Rows wider than `cells` are left to the general path.
    if ncols <= cells.len()
        && let Some(p) = fast_row(&cells, s, days)
    {
        return Ok(p);
    }
    // Anything unusual (quotes, spaces, other spellings, bad values) takes the general path,
    // which also words the errors.
    if memchr::memchr(b'"', line).is_some() {
        return Err(
            "quoted fields are not expected in this trace; read it with --input-format csv".into(),
        );
    }
    let text = std::str::from_utf8(line)
        .map_err(|err| format!("invalid UTF-8 at byte {} of the line", err.valid_up_to()))?;
    let cells: Vec<&str> = text.split(',').collect();
    parse_row(s, &|i| Field::Str(Cow::Borrowed(cells[i].trim())), e)
}

/// The common case of a token trace row, parsed straight from bytes: a plain timestamp or
/// time offset, plain integer counts, text dimensions. `None` sends the row down the general
/// path.
fn fast_row<'a>(cells: &[&'a [u8]; 16], s: &Schema, days: &mut DayCache) -> Option<Parsed<'a>> {
    if s.text.is_some() || s.cached.is_some() || s.max_tokens.is_some() {
        return None;
    }
    let t = cells[s.time];
    let t_us = match s.time_kind {
        TimeKind::Auto => fast_datetime(t, days)?,
        TimeKind::RelativeSeconds => fast_offset(t)?.checked_mul(1_000)?,
        TimeKind::RelativeMillis => fast_offset(t)?,
    };
    let prompt = fast_u32(cells[s.prompt_tokens.as_ref()?.0])?;
    let (completion, no_completion) = match &s.completion {
        Some((i, _)) => (fast_u32(cells[*i])?, false),
        None => (0, true),
    };
    let text = |b: &'a [u8]| std::str::from_utf8(b).ok().map(|t| Cow::Borrowed(t.trim()));
    let model = match s.model {
        Some(i) => Some(text(cells[i])?).filter(|m| !m.is_empty()),
        None => None,
    };
    let dims = if s.dims.is_empty() {
        Vec::new()
    } else {
        s.dims
            .iter()
            .map(|&i| text(cells[i]))
            .collect::<Option<Vec<_>>>()?
    };
    Some(Parsed {
        t_us,
        prompt,
        completion,
        cached: 0,
        max_tokens: 0,
        failed: s.failed_if_no_completion && completion == 0,
        model,
        dims,
        usage_pair: None,
        no_completion,
    })
}

/// Digits of `b[at..at + n]`.
#[inline]
fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let mut v = 0i64;
    for &c in b.get(at..at + n)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as i64;
    }
    Some(v)
}

/// The day number of the last date seen: consecutive trace rows almost always share it.
#[derive(Default)]
struct DayCache {
    date: [u8; 10],
    days: i64,
}

/// `YYYY-MM-DD HH:MM:SS[.f…][+00:00|Z]` in UTC, as the Azure traces write it.
fn fast_datetime(b: &[u8], cache: &mut DayCache) -> Option<i64> {
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if b[..10] != cache.date {
        let (y, mo, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
        if !(1..=12).contains(&mo) || d < 1 || d > super::time::days_in_month(y, mo as u32) as i64 {
            return None;
        }
        cache.days = super::time::days_from_civil(y, mo as u32, d as u32);
        cache.date.copy_from_slice(&b[..10]);
    }
    let (h, mi, sec) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut frac = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut scale = 100_000i64;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            frac += (b[i] - b'0') as i64 * scale;
            scale /= 10;
            i += 1;
        }
        if i == start || i - start > 9 {
            return None;
        }
    }
    match &b[i..] {
        b"" | b"Z" | b"+00:00" => {}
        _ => return None,
    }
    Some((cache.days * 86_400 + h * 3600 + mi * 60 + sec) * 1_000_000 + frac)
}

/// A non-negative time offset: an integer, or an integer followed by `.0…` (BurstGPT_3), in the
/// unit of the column; returned ×1,000 (seconds → ms, ms → µs).
fn fast_offset(b: &[u8]) -> Option<i64> {
    let (int, frac) = match memchr::memchr(b'.', b) {
        Some(p) => (&b[..p], &b[p + 1..]),
        None => (b, &b""[..]),
    };
    if int.is_empty() || int.len() > 15 || !frac.iter().all(|c| *c == b'0') {
        return None;
    }
    Some(digits(int, 0, int.len())? * 1_000)
}

/// A plain non-negative integer that fits a u32.
#[inline]
fn fast_u32(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    digits(b, 0, b.len()).map(|v| v as u32)
}

/// Generic CSV / TSV through the csv crate, in batches parsed in parallel.
fn read_csv(
    file: &mut OpenFile,
    e: &mut Emitter<'_, '_>,
    progress: &dyn Progress,
) -> Result<(), IngestError> {
    let delim = if file.format == InputFormat::Tsv {
        b'\t'
    } else {
        b','
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delim)
        .has_headers(true)
        .flexible(false)
        .from_reader(&mut file.reader);
    let header: Vec<String> = rdr
        .headers()
        .map_err(|err| e.error(Some(1), format!("header: {err}")))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(e.error(None, "empty file (no header)"));
    }
    let s = schema(file.format, &header, e).map_err(|m| e.error(Some(1), m))?;
    let mut batch: Vec<(u64, Result<csv::StringRecord, String>)> = Vec::with_capacity(8192);
    let mut last = 0u64;
    let mut done = false;
    while !done {
        batch.clear();
        let mut bytes = 0usize;
        loop {
            let mut rec = csv::StringRecord::new();
            match rdr.read_record(&mut rec) {
                Ok(true) => {
                    let line = rec.position().map_or(0, |p| p.line());
                    bytes += rec.as_slice().len();
                    batch.push((line, Ok(rec)));
                }
                Ok(false) => {
                    done = true;
                    break;
                }
                Err(err) => {
                    let line = err.position().map_or(0, |p| p.line());
                    let msg = match err.kind() {
                        csv::ErrorKind::UnequalLengths {
                            expected_len, len, ..
                        } => {
                            format!("expected {expected_len} fields, found {len}")
                        }
                        csv::ErrorKind::Utf8 { err, .. } => {
                            format!("invalid UTF-8 in field {}", err.field() + 1)
                        }
                        csv::ErrorKind::Io(io) => return Err(e.error(None, io.to_string())),
                        _ => err.to_string(),
                    };
                    batch.push((line, Err(msg)));
                }
            }
            if batch.len() >= 8192 || bytes >= BLOCK_BYTES {
                break;
            }
        }
        let rows: Vec<(u64, RowResult<'_>)> = {
            let em = &e.ctx();
            batch
                .par_iter()
                .with_min_len(64)
                .map(|(n, r)| {
                    let row = match r {
                        Ok(rec) => parse_row(
                            &s,
                            &|i| Field::Str(Cow::Borrowed(rec.get(i).unwrap_or(""))),
                            em,
                        )
                        .map(owned),
                        Err(m) => Err(m.clone()),
                    };
                    (*n, row)
                })
                .collect()
        };
        // Line (or row) numbers are absolute: one piece starting at 0.
        e.emit(vec![(0, rows)])?;
        let c = rdr.position().byte();
        progress.advance(c.saturating_sub(last));
        last = c;
    }
    Ok(())
}

/// Detaches a parsed row from the record it borrows.
fn owned(p: Parsed<'_>) -> Parsed<'static> {
    Parsed {
        t_us: p.t_us,
        prompt: p.prompt,
        completion: p.completion,
        cached: p.cached,
        max_tokens: p.max_tokens,
        failed: p.failed,
        model: p.model.map(|m| Cow::Owned(m.into_owned())),
        dims: p
            .dims
            .into_iter()
            .map(|d| Cow::Owned(d.into_owned()))
            .collect(),
        usage_pair: p.usage_pair,
        no_completion: p.no_completion,
    }
}

#[derive(serde::Deserialize)]
struct MooncakeRow {
    timestamp: f64,
    input_length: u64,
    output_length: u64,
}

/// Mooncake JSON lines.
fn read_mooncake(
    file: &mut OpenFile,
    e: &mut Emitter<'_, '_>,
    progress: &dyn Progress,
) -> Result<(), IngestError> {
    if let Some(d) = e.opts.by.first()
        && !e.opts.by_optional
    {
        return Err(e.error(
            None,
            format!("--by {d}: Mooncake traces have no dimensions to group by"),
        ));
    }
    e.set_relative();
    let consumed = file.consumed.clone();
    let mut last = 0;
    let mut next_line = 1;
    let io_error = e.io_error();
    for_each_block(file.take_reader(), BLOCK_BYTES, io_error, |block| {
        let rows = block.parse_lines(&mut next_line, || {
            |l: &[u8]| {
                serde_json::from_slice::<MooncakeRow>(l)
                    .map_err(|err| format!("not a Mooncake row: {err}"))
                    .and_then(|m| {
                        if !(m.timestamp.is_finite() && m.timestamp >= 0.0) {
                            return Err(format!("timestamp: {} is not a time offset", m.timestamp));
                        }
                        let c = |v: u64, what: &str| {
                            u32::try_from(v).map_err(|_| format!("{what}: {v} is too large"))
                        };
                        Ok(Parsed {
                            t_us: (m.timestamp * 1e3).round() as i64,
                            prompt: c(m.input_length, "input_length")?,
                            completion: c(m.output_length, "output_length")?,
                            cached: 0,
                            max_tokens: 0,
                            failed: false,
                            model: None,
                            dims: Vec::new(),
                            usage_pair: None,
                            no_completion: false,
                        })
                    })
            }
        });
        e.emit(rows)?;
        tick(&consumed, &mut last, progress);
        Ok(())
    })
}

/// Rows per Parquet slice.
const PARQUET_SLICE: usize = 1 << 20;

/// Parquet in slices of [`PARQUET_SLICE`] rows; only the needed columns are read.
/// Calls into polars' Parquet reader that are allowed to fail on a damaged file: polars panics
/// on some (fuzzing found a footer whose thrift field has the wrong type: "thrift bool field"),
/// so a panic raised in polars' code during such a call becomes this file's error, with no
/// panic message on stderr. Panics anywhere else still reach the process's hook.
mod parquet_guard {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::Once;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::IngestError;

    /// Guarded calls running now (in any thread: polars reads on its own pool).
    static GUARDED: AtomicUsize = AtomicUsize::new(0);
    static HOOK: Once = Once::new();

    /// Runs `f`; a panic in polars' code becomes `file`'s error.
    pub(super) fn guarded<T>(file: &str, f: impl FnOnce() -> T) -> Result<T, IngestError> {
        call(f).map_err(|why| IngestError::File {
            file: file.to_string(),
            message: format!("Parquet: a damaged or unsupported file (the reader stopped: {why})"),
        })
    }

    fn call<T>(f: impl FnOnce() -> T) -> Result<T, String> {
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let in_polars = info
                    .location()
                    .is_some_and(|l| l.file().contains("/polars"));
                if !(in_polars && GUARDED.load(Ordering::SeqCst) > 0) {
                    previous(info);
                }
            }));
        });
        GUARDED.fetch_add(1, Ordering::SeqCst);
        let outcome = catch_unwind(AssertUnwindSafe(f));
        GUARDED.fetch_sub(1, Ordering::SeqCst);
        outcome.map_err(|payload| {
            payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unreadable".into())
        })
    }
}

fn read_parquet(file: &OpenFile, e: &mut Emitter<'_, '_>) -> Result<(), IngestError> {
    use polars::prelude::{ParquetReader, PolarsError, SerReader};
    let label = e.label.clone();
    let pe = |err: PolarsError| IngestError::File {
        file: label.clone(),
        message: format!("Parquet: {err}"),
    };
    let open = || {
        std::fs::File::open(&file.path).map_err(|source| IngestError::Io {
            file: label.clone(),
            source,
        })
    };
    let mut reader = ParquetReader::new(open()?);
    let total = parquet_guard::guarded(&label, || reader.num_rows())?.map_err(pe)?;
    let header: Vec<String> = parquet_guard::guarded(&label, || reader.schema())?
        .map_err(pe)?
        .iter_names()
        .map(|n| n.to_string())
        .collect();
    let cols: Vec<String> = header.iter().map(|h| norm(h)).collect();
    let has = |c: &str| cols.iter().any(|x| x == c);
    let format = if has("timestamp") && has("contexttokens") && has("generatedtokens") {
        InputFormat::Azure
    } else if has("timestamp") && has("requesttokens") && has("responsetokens") {
        InputFormat::BurstGpt
    } else if has("timestamp") && has("inputlength") && has("outputlength") {
        InputFormat::Mooncake
    } else {
        InputFormat::Csv
    };
    let s = schema(format, &header, e).map_err(|m| e.error(None, m))?;
    if matches!(format, InputFormat::BurstGpt | InputFormat::Mooncake) {
        e.set_relative();
    }
    let mut used: Vec<usize> = vec![s.time];
    for c in [
        &s.prompt_tokens,
        &s.text,
        &s.completion,
        &s.cached,
        &s.max_tokens,
    ]
    .into_iter()
    .flatten()
    {
        used.push(c.0);
    }
    used.extend(s.model);
    used.extend(s.dims.iter().copied());
    used.sort_unstable();
    used.dedup();
    let names: Vec<String> = used.iter().map(|&i| header[i].clone()).collect();
    let mut offset = 0;
    while offset < total {
        let len = PARQUET_SLICE.min(total - offset);
        let file = open()?;
        let df = parquet_guard::guarded(&label, || {
            ParquetReader::new(file)
                .with_columns(Some(names.clone()))
                .with_slice(Some((offset, len)))
                .finish()
        })?
        .map_err(pe)?;
        let mut columns: Vec<Option<ColumnData>> = (0..header.len()).map(|_| None).collect();
        for &i in &used {
            let c = df.column(&header[i]).map_err(pe)?;
            columns[i] = Some(ColumnData::from_column(c).map_err(pe)?);
        }
        let height = df.height();
        let rows: Vec<(u64, RowResult<'_>)> = {
            let em = &e.ctx();
            let columns = &columns;
            (0..height)
                .into_par_iter()
                .with_min_len(4096)
                .map(|r| {
                    let cell = |i: usize| columns[i].as_ref().map_or(Field::Null, |c| c.get(r));
                    // Parquet has no lines: report the 1-based row number.
                    ((offset + r + 1) as u64, parse_row(&s, &cell, em).map(owned))
                })
                .collect()
        };
        // Line (or row) numbers are absolute: one piece starting at 0.
        e.emit(vec![(0, rows)])?;
        offset += len;
    }
    Ok(())
}

/// A Parquet column converted for cell access.
enum ColumnData {
    Str(polars::prelude::StringChunked),
    Num(polars::prelude::Float64Chunked),
    /// Datetime, as microseconds since the epoch.
    TimeUs(polars::prelude::Int64Chunked),
}

impl ColumnData {
    fn from_column(
        c: &polars::prelude::Column,
    ) -> Result<ColumnData, polars::prelude::PolarsError> {
        use polars::prelude::*;
        let s = c.as_materialized_series();
        Ok(match s.dtype() {
            DataType::String => ColumnData::Str(s.str()?.clone()),
            DataType::Datetime(unit, _) => {
                let us = s.cast(&DataType::Int64)?;
                let us = us.i64()?.clone();
                let k = match unit {
                    TimeUnit::Nanoseconds => 0.001,
                    TimeUnit::Microseconds => 1.0,
                    TimeUnit::Milliseconds => 1000.0,
                };
                ColumnData::TimeUs(us.apply_values(|v| (v as f64 * k) as i64))
            }
            _ => {
                let f = s.cast(&DataType::Float64)?;
                ColumnData::Num(f.f64()?.clone())
            }
        })
    }

    fn get(&self, r: usize) -> Field<'_> {
        match self {
            ColumnData::Str(c) => c
                .get(r)
                .map_or(Field::Null, |v| Field::Str(Cow::Borrowed(v))),
            ColumnData::Num(c) => c.get(r).map_or(Field::Null, Field::Num),
            // A datetime cell: unix microseconds (1e14 and above are read as µs).
            ColumnData::TimeUs(c) => c.get(r).map_or(Field::Null, Field::TimeUs),
        }
    }
}

#[cfg(test)]
mod tests {
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
        use crate::ingest::count_value;
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
