//! Ingest: reads prompt logs and request traces into a stream of [`Request`] records.
//!
//! Formats (detected from the extension and the header or first line; `--input-format` forces
//! one): JSONL chat logs (text tokenized with the `count` rules), CSV/TSV with a text or token
//! column, the Azure LLM inference traces (2023 and 2024), BurstGPT 1/2/3, Mooncake, and
//! Parquet files of any of these tabular shapes; `.gz` and `.zst` files are decompressed on the
//! fly. See the README ("Input formats") for the exact fields.
//!
//! Invariants:
//! * Streaming: token traces are read in blocks of [`BLOCK_BYTES`], each parsed in parallel
//!   with rayon and handed to the sink while the next is read; chat logs in pieces of 256 KiB,
//!   parsed (and their text tokenized) as rayon tasks and handed to the sink in order, a few
//!   pieces per thread read ahead. Memory is bounded by two blocks or those pieces plus what
//!   the sink keeps, and all work runs on the one pool (`--threads 1` is one thread, reading
//!   included).
//! * Nothing is lost silently: a malformed row stops the read with `file:line: what is wrong`
//!   unless `skip_bad` is set, in which case it is counted and the first positions are kept.
//!   `rows_read = requests + skipped` always holds. Failed requests (BurstGPT rows with zero
//!   response tokens) are requests, flagged `failed` and counted.
//! * Times are microseconds since the Unix epoch, UTC. Relative traces (BurstGPT, Mooncake)
//!   start at the epoch unless an anchor is given, and are marked relative.
//!
//! Layout: this module holds the public types; [`read`] and the sink the readers call down
//! into are in `sink`; the readers by format in `chatlog` / `chatscan` (JSONL chat logs),
//! `table` (CSV, TSV, the public traces, Parquet) and `usage` (gateway and usage exports), over
//! `source` (files, decompression, format detection, blocks and lines).

mod chatlog;
mod chatscan;
pub mod json;
mod outlier;
pub mod query;
mod sink;
mod source;
mod table;
pub mod time;
mod usage;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::catalog::Catalog;

pub use outlier::{Stray, TimeOutlier};
pub use sink::read;
pub use source::InputFormat;

/// Bytes per block read from a file.
pub const BLOCK_BYTES: usize = 8 << 20;

/// One request as the rest of spillway sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// Arrival, microseconds since the Unix epoch (UTC).
    pub t_us: i64,
    pub prompt: u32,
    pub completion: u32,
    /// Prompt tokens served from the prompt cache (part of `prompt`).
    pub cached: u32,
    /// The request's `max_tokens` (0 when not given).
    pub max_tokens: u32,
    /// Index into [`IngestSummary::models`].
    pub model: u16,
    /// Index into [`IngestSummary::groups`] (0 without `--by`).
    pub group: u32,
    /// The request failed at the source (BurstGPT: zero response tokens).
    pub failed: bool,
}

/// Which prompt-token figure to use when a log line has both text and `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptSource {
    /// The service's `usage.prompt_tokens` when present, else the count.
    Usage,
    /// Always spillway's count of the text.
    Count,
}

/// Reading options (validated by the command layer).
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub format: Option<InputFormat>,
    pub time_col: Option<String>,
    pub text_col: Option<String>,
    pub prompt_tokens_col: Option<String>,
    pub completion_col: Option<String>,
    /// Dimensions to group by (field or column names; dotted paths inside JSON).
    pub by: Vec<String>,
    /// Model for records that name none (and for unknown names).
    pub default_model: String,
    /// Treat all traffic as this model (encoding and weights).
    pub as_model: Option<String>,
    pub skip_bad: bool,
    pub allow_special: bool,
    /// Anchor for relative traces (µs since the epoch).
    pub start_us: Option<i64>,
    pub prompt_source: PromptSource,
    /// Stop with an error once more requests than this were read (the refusal comes as the
    /// rows stream, not after the whole input was read).
    pub max_requests: Option<u64>,
    /// A `by` field missing from a file is not an error: its rows share one value.
    pub by_optional: bool,
}

impl IngestOptions {
    /// Options for a token trace with defaults everywhere.
    pub fn new(default_model: &str) -> Self {
        IngestOptions {
            format: None,
            time_col: None,
            text_col: None,
            prompt_tokens_col: None,
            completion_col: None,
            by: Vec::new(),
            default_model: default_model.to_string(),
            as_model: None,
            skip_bad: false,
            allow_special: false,
            start_us: None,
            prompt_source: PromptSource::Usage,
            max_requests: None,
            by_optional: false,
        }
    }
}

/// A read that cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}{hint}")]
    Row {
        file: String,
        line: u64,
        message: String,
        hint: &'static str,
    },
    #[error("{file}: {message}")]
    File { file: String, message: String },
}

/// A row that was skipped (with `skip_bad`).
#[derive(Debug, Clone, Serialize)]
pub struct RowIssue {
    pub file: String,
    pub line: u64,
    pub reason: String,
}

/// Agreement between spillway's count and the service's `usage.prompt_tokens`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UsageCheck {
    /// Lines that had both text and usage.
    pub compared: u64,
    pub exact: u64,
    pub counted_tokens: u64,
    pub usage_tokens: u64,
    pub max_abs_diff: u64,
    pub sum_abs_diff: u64,
}

impl UsageCheck {
    fn add(&mut self, counted: u32, usage: u32) {
        self.compared += 1;
        self.counted_tokens += counted as u64;
        self.usage_tokens += usage as u64;
        let d = (counted as i64 - usage as i64).unsigned_abs();
        if d == 0 {
            self.exact += 1;
        }
        self.sum_abs_diff += d;
        self.max_abs_diff = self.max_abs_diff.max(d);
    }
}

/// Per-file figures.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    pub path: String,
    pub format: String,
    pub rows_read: u64,
    pub requests: u64,
    pub failed: u64,
    pub skipped: u64,
    pub relative_time: bool,
}

impl FileSummary {
    /// A file about to be read, nothing counted yet.
    fn new(path: &str, format: &str) -> FileSummary {
        FileSummary {
            path: path.to_string(),
            format: format.to_string(),
            rows_read: 0,
            requests: 0,
            failed: 0,
            skipped: 0,
            relative_time: false,
        }
    }
}

/// What a read saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    pub files: Vec<FileSummary>,
    pub rows_read: u64,
    pub requests: u64,
    pub failed: u64,
    pub skipped: u64,
    pub skipped_rows: Vec<RowIssue>,
    pub usage_check: UsageCheck,
    /// Requests with no completion figure (no usage, no response text).
    pub no_completion: u64,
    /// True when some file had relative timestamps and no anchor was given.
    pub relative_time: bool,
    /// Catalog model names by id (`Request::model`).
    pub models: Vec<String>,
    /// Model names in the data that the catalog does not know, with how many requests; those
    /// requests were counted with the default model.
    pub unknown_models: BTreeMap<String, u64>,
    /// `--by` dimension names.
    pub dims: Vec<String>,
    /// Dimension values by group id (`Request::group`).
    pub groups: Vec<Vec<String>>,
    /// Requests a usage log records without token counts (an APIM gateway row with no LLM
    /// log row: a 429 APIM answered itself, or LLM logging off).
    pub no_tokens: u64,
    /// Some input was a per-minute (or coarser) aggregate, spread over its buckets: per-request
    /// sizes are even shares, not observed.
    pub spread: bool,
    /// Rows whose time lies far from the rest of their file (see `outlier`).
    pub time_outliers: Vec<TimeOutlier>,
}

/// Progress reporting (the command layer draws it; domain code never prints).
pub trait Progress: Sync {
    /// A file of `bytes` bytes (0 when unknown) is being opened.
    fn start_file(&self, path: &Path, bytes: u64);
    /// `bytes` more bytes of the current file were consumed.
    fn advance(&self, bytes: u64);
}

/// No progress reporting.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start_file(&self, _: &Path, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// A chat-log line read by the fast reader is read the same by the serde reader, under each
/// set of options a profile may run with (panics where not; for the fuzz target).
#[doc(hidden)]
pub fn chat_line_agreement(line: &[u8]) {
    chatscan::differential::agree_all(line)
}

/// Reads every request of `paths` into memory, sorted by arrival (ties keep file order).
pub fn read_all(
    paths: &[PathBuf],
    opts: &IngestOptions,
    catalog: &Catalog,
    progress: &dyn Progress,
) -> Result<(Vec<Request>, IngestSummary), IngestError> {
    let mut all = Vec::new();
    let summary = read(paths, opts, catalog, progress, &mut |b, _| {
        all.extend_from_slice(b)
    })?;
    all.sort_by_key(|r| r.t_us);
    Ok((all, summary))
}
