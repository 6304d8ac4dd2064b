//! Generic CSV and TSV (delimited text) through the `csv` crate: quoted fields, embedded
//! newlines, any columns the schema names.

use super::*;

/// Generic CSV / TSV through the csv crate, in batches parsed in parallel.
pub(super) fn read_csv(
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
                        .map(Parsed::into_owned),
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
