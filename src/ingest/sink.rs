//! The sink every format reader calls down into: it turns parsed rows ([`Parsed`]) into
//! [`Request`]s, interns model names and `--by` values, keeps the counts of the read (rows,
//! requests, skipped rows with their first positions, usage agreement, stray times) and hands
//! each block's requests to the caller's closure. [`read`] opens the files and runs each one's
//! reader with an [`Emitter`]; the readers (`chatlog`, `table`, `usage`) only parse.
//!
//! Invariants:
//! * `rows_read = requests + skipped`, for the read and for each file, whatever the path a
//!   block takes (rows checked one by one, or [`Emitter::direct`] when nothing needs interning).
//! * A malformed row stops the read with its file and line unless `skip_bad`; then it is
//!   counted and the first [`SKIP_SAMPLES`] positions kept.
//! * Also here: the one rule for token-count fields ([`count_value`]) and for matching column
//!   names ([`norm`]).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::source::{self, PieceRows};
use super::{
    FileSummary, IngestError, IngestOptions, IngestSummary, InputFormat, NoProgress, Progress,
    Request, RowIssue, TimeOutlier, chatlog, outlier, table, usage,
};
use crate::catalog::{Catalog, Model};

/// Positions of skipped rows kept for the summary.
const SKIP_SAMPLES: usize = 10;

/// A parsed row before interning: borrowed from the block it came from.
#[derive(Debug, PartialEq)]
pub(crate) struct Parsed<'a> {
    pub t_us: i64,
    pub prompt: u32,
    pub completion: u32,
    pub cached: u32,
    pub max_tokens: u32,
    pub failed: bool,
    /// The model the row names, if any.
    pub model: Option<Cow<'a, str>>,
    pub dims: Vec<Cow<'a, str>>,
    /// (counted, usage) when the row had both.
    pub usage_pair: Option<(u32, u32)>,
    pub no_completion: bool,
}

impl Parsed<'_> {
    /// The same row owning its text.
    pub fn into_owned(self) -> Parsed<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        Parsed {
            model: self.model.map(own),
            dims: self.dims.into_iter().map(own).collect(),
            t_us: self.t_us,
            prompt: self.prompt,
            completion: self.completion,
            cached: self.cached,
            max_tokens: self.max_tokens,
            failed: self.failed,
            usage_pair: self.usage_pair,
            no_completion: self.no_completion,
        }
    }

    /// The request this row describes; `offset_us` shifts relative times onto the clock.
    fn request(&self, offset_us: i64, model: u16, group: u32) -> Request {
        Request {
            t_us: self.t_us.saturating_add(offset_us),
            prompt: self.prompt,
            completion: self.completion,
            cached: self.cached.min(self.prompt),
            max_tokens: self.max_tokens,
            model,
            group,
            failed: self.failed,
        }
    }
}

/// What turns a parsed row into a request without interning: see [`Emitter::direct`].
#[derive(Clone, Copy)]
pub(crate) struct Direct {
    offset_us: i64,
    model: u16,
}

impl Direct {
    /// The row's request, or `None` when it names a model or carries a usage pair (which the
    /// emitter must record).
    pub fn request(self, p: &Parsed<'_>) -> Option<Request> {
        (p.model.is_none() && p.usage_pair.is_none())
            .then(|| p.request(self.offset_us, self.model, 0))
    }
}

/// Outcome of parsing one row.
pub(crate) type RowResult<'a> = Result<Parsed<'a>, String>;

/// Resolves model names to catalog models, caching the answer, and keeps the unknown ones.
pub(crate) struct ModelResolver<'c> {
    catalog: &'c Catalog,
    default: &'c Model,
    forced: Option<&'c Model>,
}

impl<'c> ModelResolver<'c> {
    pub fn new(catalog: &'c Catalog, opts: &IngestOptions) -> Result<Self, String> {
        let default = catalog
            .resolve(&opts.default_model)
            .map_err(|e| e.to_string())?;
        let forced = opts
            .as_model
            .as_deref()
            .map(|m| catalog.resolve(m).map_err(|e| e.to_string()))
            .transpose()?;
        Ok(ModelResolver {
            catalog,
            default,
            forced,
        })
    }

    /// The model a row is counted and weighted as, and whether its name was unknown.
    pub fn resolve(&self, name: Option<&str>) -> (&'c Model, bool) {
        if let Some(f) = self.forced {
            return (f, false);
        }
        match name {
            None => (self.default, false),
            Some(n) => match self.catalog.model(n) {
                Some(m) => (m, false),
                None => (self.default, true),
            },
        }
    }
}

/// Interning state shared across files.
struct Interner {
    models: FxHashMap<String, u16>,
    groups: FxHashMap<Vec<String>, u32>,
    /// Id of the model used for rows that name none.
    default_id: Option<u16>,
    /// Model names as rows write them: (id, unknown to the catalog).
    named: FxHashMap<String, (u16, bool)>,
}

impl Interner {
    /// Fresh state for a read with `opts`; `summary` gets the `--by` names and, without
    /// `--by`, the one group.
    fn new(opts: &IngestOptions, summary: &mut IngestSummary) -> Interner {
        let mut interner = Interner {
            models: FxHashMap::default(),
            groups: FxHashMap::default(),
            default_id: None,
            named: FxHashMap::default(),
        };
        summary.dims = opts.by.clone();
        if opts.by.is_empty() {
            interner.groups.insert(Vec::new(), 0);
            summary.groups.push(Vec::new());
        }
        interner
    }
}

/// Receives parsed rows from a format reader: checks them, interns names, keeps the counts and
/// hands the requests to the sink.
pub(crate) struct Emitter<'x, 'c> {
    pub label: String,
    pub opts: &'x IngestOptions,
    pub resolver: &'x ModelResolver<'c>,
    interner: &'x mut Interner,
    summary: &'x mut IngestSummary,
    fs: FileSummary,
    sink: &'x mut (dyn FnMut(&[Request], &[String]) + Send),
    /// The file's earliest and latest times.
    extremes: outlier::Extremes,
    /// Looking for the line of a request at this time (a second read of a file with a stray
    /// time): rows then take the path that knows their lines.
    locate: Option<i64>,
    located: Option<u64>,
}

/// What row parsers need (shared across the rayon workers).
#[derive(Clone, Copy)]
pub(crate) struct RowCtx<'x, 'c> {
    pub opts: &'x IngestOptions,
    pub resolver: &'x ModelResolver<'c>,
}

impl<'x, 'c> Emitter<'x, 'c> {
    /// An emitter for one file (or the APIM files read together) of a read.
    fn new(
        label: String,
        opts: &'x IngestOptions,
        resolver: &'x ModelResolver<'c>,
        interner: &'x mut Interner,
        summary: &'x mut IngestSummary,
        fs: FileSummary,
        sink: &'x mut (dyn FnMut(&[Request], &[String]) + Send),
    ) -> Self {
        Emitter {
            label,
            opts,
            resolver,
            interner,
            summary,
            fs,
            sink,
            extremes: Default::default(),
            locate: None,
            located: None,
        }
    }

    pub fn ctx(&self) -> RowCtx<'x, 'c> {
        RowCtx {
            opts: self.opts,
            resolver: self.resolver,
        }
    }
}

impl Emitter<'_, '_> {
    /// The file's timestamps are relative to its start.
    pub fn set_relative(&mut self) {
        self.fs.relative_time = true;
    }

    pub fn error(&self, line: Option<u64>, message: impl Into<String>) -> IngestError {
        match line {
            Some(line) => IngestError::Row {
                file: self.label.clone(),
                line,
                message: message.into(),
                hint: "",
            },
            None => IngestError::File {
                file: self.label.clone(),
                message: message.into(),
            },
        }
    }

    pub fn io(&self, source: std::io::Error) -> IngestError {
        self.io_error()(source)
    }

    /// What turns an I/O error into this file's error, for use while the emitter is borrowed.
    pub fn io_error(&self) -> impl Fn(std::io::Error) -> IngestError + use<> {
        let file = self.label.clone();
        move |source| IngestError::Io {
            file: file.clone(),
            source,
        }
    }

    /// The id of the model a row names (`None`: the default model), interned on first sight.
    fn model_id(&mut self, name: Option<&str>) -> u16 {
        // Names as written are cached: the catalog lookup (case folding, dated spellings) runs
        // once per distinct name, not once per row.
        let cached = match name {
            None => self.interner.default_id.map(|id| (id, false)),
            Some(n) => self.interner.named.get(n).copied(),
        };
        let (id, unknown) = cached.unwrap_or_else(|| {
            let (model, unknown) = self.resolver.resolve(name);
            let id = match self.interner.models.get(model.name.as_str()) {
                Some(&id) => id,
                None => {
                    let id = self.summary.models.len() as u16;
                    self.interner.models.insert(model.name.clone(), id);
                    self.summary.models.push(model.name.clone());
                    id
                }
            };
            match name {
                None => self.interner.default_id = Some(id),
                Some(n) => {
                    self.interner.named.insert(n.to_string(), (id, unknown));
                }
            }
            (id, unknown)
        });
        if unknown && let Some(name) = name {
            match self.summary.unknown_models.get_mut(name) {
                Some(n) => *n += 1,
                None => {
                    self.summary.unknown_models.insert(name.to_string(), 1);
                }
            }
        }
        id
    }

    /// Counts requests a usage log carries no token counts for.
    pub(crate) fn note_missing_tokens(&mut self, n: u64) {
        self.summary.no_tokens += n;
    }

    /// For formats whose rows never name a model: interns the default model up front, so that
    /// every block can take the [`Emitter::direct`] path.
    pub fn expect_default_model(&mut self) {
        self.model_id(None);
    }

    /// When rows need no interning (no `--by`, and the default model already interned), the
    /// clock offset and model id that turn a [`Parsed`] row straight into a [`Request`].
    pub fn direct(&self) -> Option<Direct> {
        if self.locate.is_some() {
            return None;
        }
        let model = self.interner.default_id?;
        self.opts.by.is_empty().then_some(Direct {
            offset_us: self.offset_us(),
            model,
        })
    }

    fn offset_us(&self) -> i64 {
        if self.fs.relative_time {
            self.opts.start_us.unwrap_or(0)
        } else {
            0
        }
    }

    /// The error once more than `max_requests` requests were read.
    fn check_limit(&self) -> Result<(), IngestError> {
        match self.opts.max_requests {
            Some(max) if self.summary.requests > max => Err(IngestError::File {
                file: self.label.clone(),
                message: format!(
                    "more than {} requests (stopped after {} rows of this file)",
                    crate::output::thousands(max),
                    crate::output::thousands(self.fs.rows_read)
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Hands requests made with [`Emitter::direct`] to the sink; `no_completion` of them had
    /// no completion figure.
    pub fn emit_direct(&mut self, out: &[Request], no_completion: u64) -> Result<(), IngestError> {
        let n = out.len() as u64;
        let failed = out.iter().filter(|r| r.failed).count() as u64;
        self.fs.rows_read += n;
        self.fs.requests += n;
        self.fs.failed += failed;
        self.summary.rows_read += n;
        self.summary.requests += n;
        self.summary.failed += failed;
        self.summary.no_completion += no_completion;
        for r in out {
            self.extremes.add(r.t_us);
        }
        self.check_limit()?;
        if !out.is_empty() {
            (self.sink)(out, &self.summary.models);
        }
        Ok(())
    }

    /// Checks, interns and hands one block of parsed rows (with their line numbers) to the sink.
    pub fn emit(&mut self, rows: PieceRows<RowResult<'_>>) -> Result<(), IngestError> {
        // Every row well-formed with nothing to intern: the rows become requests in parallel.
        if let Some(d) = self.direct() {
            let out: Option<Vec<Request>> = rows
                .par_iter()
                .flat_map_iter(|(_, piece)| piece)
                .map(|(_, r)| r.as_ref().ok().and_then(|p| d.request(p)))
                .collect();
            if let Some(out) = out {
                let no_completion = rows
                    .iter()
                    .flat_map(|(_, piece)| piece)
                    .filter(|(_, r)| matches!(r, Ok(p) if p.no_completion))
                    .count() as u64;
                return self.emit_direct(&out, no_completion);
            }
        }
        let offset = self.offset_us();
        let mut out = Vec::with_capacity(rows.iter().map(|(_, piece)| piece.len()).sum());
        let rows = rows
            .into_iter()
            .flat_map(|(first, piece)| piece.into_iter().map(move |(at, row)| (first + at, row)));
        for (line, row) in rows {
            self.fs.rows_read += 1;
            self.summary.rows_read += 1;
            let p = match row {
                Ok(p) => p,
                Err(reason) => {
                    if !self.opts.skip_bad {
                        return Err(IngestError::Row {
                            file: self.label.clone(),
                            line,
                            message: reason,
                            hint: " (pass --skip-bad to skip such rows)",
                        });
                    }
                    self.fs.skipped += 1;
                    self.summary.skipped += 1;
                    if self.summary.skipped_rows.len() < SKIP_SAMPLES {
                        self.summary.skipped_rows.push(RowIssue {
                            file: self.label.clone(),
                            line,
                            reason,
                        });
                    }
                    continue;
                }
            };
            let model_id = self.model_id(p.model.as_deref());
            let group = if self.opts.by.is_empty() {
                0
            } else {
                let key: Vec<String> = p.dims.iter().map(|d| d.to_string()).collect();
                match self.interner.groups.get(&key) {
                    Some(&g) => g,
                    None => {
                        let g = self.summary.groups.len() as u32;
                        self.summary.groups.push(key.clone());
                        self.interner.groups.insert(key, g);
                        g
                    }
                }
            };
            if let Some((c, u)) = p.usage_pair {
                self.summary.usage_check.add(c, u);
            }
            if p.no_completion {
                self.summary.no_completion += 1;
            }
            self.fs.requests += 1;
            self.summary.requests += 1;
            if p.failed {
                self.fs.failed += 1;
                self.summary.failed += 1;
            }
            let r = p.request(offset, model_id, group);
            self.extremes.add(r.t_us);
            if self.locate == Some(r.t_us) && self.located.is_none() {
                self.located = Some(line);
            }
            out.push(r);
        }
        self.check_limit()?;
        if !out.is_empty() {
            (self.sink)(&out, &self.summary.models);
        }
        Ok(())
    }
}

/// Reads `paths` in order, calling `sink` with each block's requests and the model table so far
/// (`Request::model` indexes it).
pub fn read(
    paths: &[PathBuf],
    opts: &IngestOptions,
    catalog: &Catalog,
    progress: &dyn Progress,
    sink: &mut (dyn FnMut(&[Request], &[String]) + Send),
) -> Result<IngestSummary, IngestError> {
    let resolver = ModelResolver::new(catalog, opts).map_err(|message| IngestError::File {
        file: "--model / --as-model".into(),
        message,
    })?;
    let mut summary = IngestSummary::default();
    let mut interner = Interner::new(opts, &mut summary);
    // APIM exports are read together: a request's LLM-log and gateway-log rows sit in
    // different files, joined on CorrelationId.
    let mut apim: Vec<source::OpenFile> = Vec::new();
    let mut others: Vec<source::OpenFile> = Vec::new();
    for path in paths {
        let file = source::open(path, opts.format).map_err(|e| IngestError::Io {
            file: path.display().to_string(),
            source: e,
        })?;
        if file.format == InputFormat::Apim {
            apim.push(file);
        } else {
            others.push(file);
        }
    }
    if !apim.is_empty() {
        let label = apim
            .iter()
            .map(|f| f.path.display().to_string())
            .collect::<Vec<_>>()
            .join(" + ");
        progress.start_file(&apim[0].path, apim.iter().map(|f| f.size).sum());
        let fs = FileSummary::new(&label, InputFormat::Apim.name());
        let mut em = Emitter::new(
            label,
            opts,
            &resolver,
            &mut interner,
            &mut summary,
            fs,
            sink,
        );
        usage::read_apim(&mut apim, &mut em)?;
        let (fs, extremes) = (em.fs, em.extremes);
        summary
            .time_outliers
            .extend(extremes.strays().into_iter().map(|stray| TimeOutlier {
                file: fs.path.clone(),
                stray,
            }));
        summary.files.push(fs);
    }
    for file in others {
        let path = file.path.clone();
        let label = path.display().to_string();
        progress.start_file(&path, file.size);
        let fs = FileSummary::new(&label, file.format.name());
        let format = file.format;
        let mut em = Emitter::new(
            label,
            opts,
            &resolver,
            &mut interner,
            &mut summary,
            fs,
            sink,
        );
        read_file(file, &mut em, progress)?;
        let (fs, extremes) = (em.fs, em.extremes);
        for mut stray in extremes.strays() {
            if !format.is_usage_log() {
                stray.line = locate(&path, opts, &resolver, stray.t_us)?;
            }
            summary.time_outliers.push(TimeOutlier {
                file: fs.path.clone(),
                stray,
            });
        }
        summary.relative_time |= fs.relative_time && opts.start_us.is_none();
        summary.files.push(fs);
    }
    Ok(summary)
}

/// Hands one file's rows to `em`, by format.
fn read_file(
    mut file: source::OpenFile,
    em: &mut Emitter<'_, '_>,
    progress: &dyn Progress,
) -> Result<(), IngestError> {
    match file.format {
        InputFormat::ChatJsonl => chatlog::read(file, em, progress),
        f if f.is_usage_log() => {
            if matches!(
                f,
                InputFormat::PerMinute | InputFormat::UsageApi | InputFormat::AzureMetrics
            ) {
                em.summary.spread = true;
            }
            usage::read(&mut file, em)
        }
        _ => table::read(file, em, progress),
    }
}

/// The line of the first row of `path` at `t_us`: the file read again, every row by the path
/// that knows its line (only for files with a stray time, so rarely).
fn locate(
    path: &Path,
    opts: &IngestOptions,
    resolver: &ModelResolver<'_>,
    t_us: i64,
) -> Result<Option<u64>, IngestError> {
    let file = source::open(path, opts.format).map_err(|e| IngestError::Io {
        file: path.display().to_string(),
        source: e,
    })?;
    let label = path.display().to_string();
    let fs = FileSummary::new(&label, file.format.name());
    let mut summary = IngestSummary::default();
    let mut interner = Interner::new(opts, &mut summary);
    let mut discard = |_: &[Request], _: &[String]| {};
    let mut em = Emitter::new(
        label,
        opts,
        resolver,
        &mut interner,
        &mut summary,
        fs,
        &mut discard,
    );
    em.locate = Some(t_us);
    read_file(file, &mut em, &NoProgress)?;
    Ok(em.located)
}

/// Parses a non-negative integer token count.
pub(crate) fn parse_count(s: &str, what: &str) -> Result<u32, String> {
    match count_value(s) {
        Some(v) if v <= u32::MAX as u64 => Ok(v as u32),
        Some(_) => Err(format!(
            "{what}: '{}' is above the largest token count (4,294,967,295)",
            s.trim()
        )),
        None => Err(format!(
            "{what}: '{}' is not a token count (a whole number in digits, e.g. 1843 or 1843.0)",
            crate::output::clip(s.trim(), 40)
        )),
    }
}

/// The one rule for token-count fields in every format: ASCII digits, optionally followed by a
/// fraction of zeros (`1843`, `1843.0`, as some exporters write integers), with surrounding
/// blanks. Signs, exponents (`1e3`), separators (`1_000`, `1,000`), hexadecimal, non-ASCII
/// digits and non-zero fractions are not counts. At most 15 digits.
pub(crate) fn count_value(s: &str) -> Option<u64> {
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty()
        || int.len() > 15
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b == b'0')
    {
        return None;
    }
    int.parse().ok()
}

/// Normalises a column or field name for matching: lower case, letters and digits only
/// (`Log Type` = `log_type` = `logtype`).
pub(crate) fn norm(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_across_spellings() {
        assert_eq!(norm("Log Type"), norm("log_type"));
        assert_eq!(norm("Request tokens"), "requesttokens");
    }

    #[test]
    fn counts_parse_and_reject() {
        assert_eq!(parse_count("12", "x"), Ok(12));
        assert_eq!(parse_count(" 12.0 ", "x"), Ok(12));
        assert!(parse_count("-1", "x").is_err());
        assert!(parse_count("1.5", "x").is_err());
        assert!(parse_count("", "x").is_err());
    }
}
