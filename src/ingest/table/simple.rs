//! Azure and BurstGPT traces: unquoted comma-separated numbers, split by hand and parsed in
//! parallel, with a fast path for their date-times and counts that hands anything unusual to
//! the general parsers (the agreement is tested in `table`).

use super::*;

/// Azure and BurstGPT: unquoted comma-separated values, split by hand, parsed in parallel.
pub(super) fn read_simple_csv(
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

pub(super) fn parse_simple_line<'a>(
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
pub(super) fn fast_row<'a>(
    cells: &[&'a [u8]; 16],
    s: &Schema,
    days: &mut DayCache,
) -> Option<Parsed<'a>> {
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
pub(super) fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
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
pub(super) struct DayCache {
    date: [u8; 10],
    days: i64,
}

/// `YYYY-MM-DD HH:MM:SS[.f…][+00:00|Z]` in UTC, as the Azure traces write it.
pub(super) fn fast_datetime(b: &[u8], cache: &mut DayCache) -> Option<i64> {
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
        if !(1..=12).contains(&mo)
            || d < 1
            || d > crate::ingest::time::days_in_month(y, mo as u32) as i64
        {
            return None;
        }
        cache.days = crate::ingest::time::days_from_civil(y, mo as u32, d as u32);
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
pub(super) fn fast_offset(b: &[u8]) -> Option<i64> {
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
pub(super) fn fast_u32(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    digits(b, 0, b.len()).map(|v| v as u32)
}
