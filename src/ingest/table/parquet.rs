//! Parquet files of any tabular shape, read through polars in row slices of
//! [`PARQUET_SLICE`] so that memory stays bounded; the shape is told from the column names.
//!
//! A damaged file is the file's error, never a crash: the footer is decoded first with the
//! allocation-bounded thrift reader generated from the format, every page header is checked,
//! and a panic raised in polars' code is caught (each found by the `parquet` fuzz target; the
//! inputs are in `fuzz/regressions/parquet/`).

use polars_parquet::parquet::metadata::FileMetadata;

use super::*;

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

/// Reads the footer, checked before polars parses it: polars-parquet 0.55's own footer reader
/// reserves room for as many elements as a list header claims, so a damaged footer (found by
/// fuzzing: lists of ~10^9 elements in 2 KB files) asks for gigabytes and aborts the process.
/// The footer is first decoded with the thrift reader generated from the Parquet format
/// (polars-parquet-format), which counts what lists would allocate against a budget of 16 bytes
/// per footer byte; only a footer that passes is parsed by polars, once, from the same bytes —
/// the page check and the reader both take that metadata.
fn read_footer(path: &std::path::Path) -> Result<FileMetadata, String> {
    use std::io::{Read, Seek, SeekFrom};

    use polars_buffer::Buffer;
    use polars_parquet::parquet::read::deserialize_metadata;
    use polars_parquet_format::FileMetaData;
    use polars_parquet_format::thrift::protocol::TCompactInputProtocol;

    let io = |e: std::io::Error| e.to_string();
    let mut f = std::fs::File::open(path).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    if size < 12 {
        return Err("too short for a Parquet file".into());
    }
    let mut tail = [0u8; 8];
    f.seek(SeekFrom::End(-8)).map_err(io)?;
    f.read_exact(&mut tail).map_err(io)?;
    if &tail[4..] != b"PAR1" {
        return Err("no PAR1 at the end".into());
    }
    let len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
    if len + 12 > size {
        return Err(format!("its footer claims {len} bytes in a file of {size}"));
    }
    let mut footer = vec![0u8; len as usize];
    f.seek(SeekFrom::Start(size - 8 - len)).map_err(io)?;
    f.read_exact(&mut footer).map_err(io)?;
    let budget = (len as usize).saturating_mul(16).max(1 << 20);
    let mut prot = TCompactInputProtocol::new(&footer[..], budget);
    FileMetaData::read_from_in_protocol(&mut prot)
        .map_err(|e| format!("its footer does not decode ({e})"))?;
    deserialize_metadata(Buffer::from_vec(footer))
        .map_err(|e| format!("its footer does not decode ({e})"))
}

/// Checks every data page header of `path` before polars decodes a page: polars-parquet 0.55
/// casts a page's value count to `usize` unchecked, and a negative one (a damaged file, found
/// by fuzzing) asks for exabytes of memory, which aborts the process where no guard can catch
/// it. Only the chunks of the `columns` spillway reads are checked; each is read on its own
/// (memory: one chunk), its page headers parsed and the page bodies skipped. `meta` is the
/// footer as [`read_footer`] read it.
fn check_page_headers(
    path: &std::path::Path,
    meta: &FileMetadata,
    columns: &[String],
) -> Result<(), String> {
    use std::io::{Cursor, Read, Seek, SeekFrom};

    use polars_buffer::Buffer;
    use polars_parquet::parquet::page::{CompressedPage, DataPageHeader};
    use polars_parquet::parquet::read::PageReader;

    let io = |e: std::io::Error| e.to_string();
    let mut f = std::fs::File::open(path).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    for rg in &meta.row_groups {
        for col in rg.parquet_columns() {
            let name = col.descriptor().path_in_schema.join(".");
            if !columns.contains(&name) {
                continue;
            }
            let range = col.byte_range();
            if range.start > range.end || range.end > size {
                return Err(format!(
                    "column {name}: its chunk (bytes {}..{}) lies outside the file ({size} bytes)",
                    range.start, range.end
                ));
            }
            let len = (range.end - range.start) as usize;
            let mut chunk = vec![0u8; len];
            f.seek(SeekFrom::Start(range.start)).map_err(io)?;
            f.read_exact(&mut chunk).map_err(io)?;
            let pages = PageReader::new(Cursor::new(Buffer::from_vec(chunk)), col, Vec::new(), len);
            for page in pages {
                let page = page.map_err(|e| format!("column {name}: {e}"))?;
                let CompressedPage::Data(page) = page else {
                    continue;
                };
                let negative = match page.header() {
                    DataPageHeader::V1(h) => h.num_values < 0,
                    DataPageHeader::V2(h) => h.num_values < 0 || h.num_nulls < 0 || h.num_rows < 0,
                };
                if negative {
                    return Err(format!(
                        "column {name}: a page claims a negative number of values"
                    ));
                }
            }
        }
    }
    Ok(())
}

pub(super) fn read_parquet(file: &OpenFile, e: &mut Emitter<'_, '_>) -> Result<(), IngestError> {
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
    let damaged = |why: String| IngestError::File {
        file: label.clone(),
        message: format!("Parquet: a damaged file ({why})"),
    };
    let meta = std::sync::Arc::new(
        parquet_guard::guarded(&label, || read_footer(&file.path))?.map_err(damaged)?,
    );
    let mut reader = ParquetReader::new(open()?);
    reader.set_metadata(meta.clone());
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
    parquet_guard::guarded(&label, || check_page_headers(&file.path, &meta, &names))?
        .map_err(damaged)?;
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
                    (
                        (offset + r + 1) as u64,
                        parse_row(&s, &cell, em).map(Parsed::into_owned),
                    )
                })
                .collect()
        };
        // Line (or row) numbers are absolute: one piece starting at 0.
        e.emit(vec![(0, rows)])?;
        if height < len {
            // The footer claimed more rows than the pages hold: stop here (the loop is bounded
            // by the data, not by the claim) and say so.
            return Err(IngestError::File {
                file: label.clone(),
                message: format!(
                    "Parquet: a damaged file (its footer claims {} rows; the pages hold {})",
                    crate::output::thousands(total as u64),
                    crate::output::thousands((offset + height) as u64)
                ),
            });
        }
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
