//! Opening input files: decompression (gzip, zstd) by magic bytes, format detection from the
//! extension and the first line, and line-aligned reading on the rayon pool.
//!
//! Two readers: [`for_each_piece`] pipelines small pieces whose rows own their data (chat
//! logs: the text is tokenized inside the piece, a row is a few numbers and names), and
//! [`for_each_block`] parses large blocks in parallel and hands rows borrowed from the block
//! (token traces: 16.8 M rows of a few fields, where an owned copy per row would cost more
//! than the parse).
//!
//! Invariants: a block always ends at a line end (or the end of the file), so rows never span
//! blocks; line numbers are 1-based and count every line of the (decompressed) file, header
//! included, so an error's `file:line` opens at the right place in an editor.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

/// The input formats spillway reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// JSON Lines chat log: one request per line with a timestamp and messages or usage.
    ChatJsonl,
    /// CSV with a header: time column plus a text or token-count column.
    Csv,
    /// Tab-separated variant of `Csv`.
    Tsv,
    /// Azure LLM inference trace 2023 / 2024 (`TIMESTAMP,ContextTokens,GeneratedTokens`).
    Azure,
    /// BurstGPT 1/2/3 (`Timestamp,…,Request tokens,Response tokens,…`).
    BurstGpt,
    /// Mooncake trace (JSON Lines: `timestamp` ms, `input_length`, `output_length`, `hash_ids`).
    Mooncake,
    /// Apache Parquet with one of the tabular shapes above.
    Parquet,
    /// Azure API Management `ApiManagementGatewayLlmLog` / `ApiManagementGatewayLogs` exports
    /// (CSV, query-API JSON, diagnostic JSON lines), joined on `CorrelationId`.
    Apim,
    /// LiteLLM `LiteLLM_SpendLogs` dump (CSV or JSON).
    LiteLlm,
    /// Batch output JSONL (OpenAI / Azure OpenAI).
    BatchOutput,
    /// Helicone request export (CSV, JSON, JSONL).
    Helicone,
    /// Langfuse observation export (CSV, JSON, JSONL).
    Langfuse,
    /// Batch input JSONL: requests without arrival times; refused with a pointer to
    /// `count --batch`, which counts it.
    BatchInput,
    /// spillway's per-minute aggregate CSV (`spillway query kql|spark` output).
    PerMinute,
    /// OpenAI Usage API (completions) JSON, or the usage dashboard's CSV export.
    UsageApi,
    /// Azure OpenAI metrics: Metrics REST JSON or the `AzureMetrics` table.
    AzureMetrics,
}

impl InputFormat {
    pub const NAMES: &'static str = "jsonl, csv, tsv, azure, burstgpt, mooncake, parquet, apim, litellm, batch-output, batch-input, helicone, langfuse, per-minute, usage-api, azure-metrics";

    pub fn name(self) -> &'static str {
        match self {
            InputFormat::ChatJsonl => "jsonl",
            InputFormat::Csv => "csv",
            InputFormat::Tsv => "tsv",
            InputFormat::Azure => "azure",
            InputFormat::BurstGpt => "burstgpt",
            InputFormat::Mooncake => "mooncake",
            InputFormat::Parquet => "parquet",
            InputFormat::Apim => "apim",
            InputFormat::LiteLlm => "litellm",
            InputFormat::BatchOutput => "batch-output",
            InputFormat::BatchInput => "batch-input",
            InputFormat::Helicone => "helicone",
            InputFormat::Langfuse => "langfuse",
            InputFormat::PerMinute => "per-minute",
            InputFormat::UsageApi => "usage-api",
            InputFormat::AzureMetrics => "azure-metrics",
        }
    }

    /// Usage-log exports, read whole by `ingest::usage`.
    pub fn is_usage_log(self) -> bool {
        matches!(
            self,
            InputFormat::Apim
                | InputFormat::LiteLlm
                | InputFormat::BatchOutput
                | InputFormat::BatchInput
                | InputFormat::Helicone
                | InputFormat::Langfuse
                | InputFormat::PerMinute
                | InputFormat::UsageApi
                | InputFormat::AzureMetrics
        )
    }
}

impl FromStr for InputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" | "chat" => InputFormat::ChatJsonl,
            "csv" => InputFormat::Csv,
            "tsv" => InputFormat::Tsv,
            "azure" => InputFormat::Azure,
            "apim" => InputFormat::Apim,
            "litellm" => InputFormat::LiteLlm,
            "batch-output" | "batch" => InputFormat::BatchOutput,
            "batch-input" => InputFormat::BatchInput,
            "helicone" => InputFormat::Helicone,
            "langfuse" => InputFormat::Langfuse,
            "per-minute" | "perminute" => InputFormat::PerMinute,
            "usage-api" | "openai-usage" => InputFormat::UsageApi,
            "azure-metrics" | "metrics" => InputFormat::AzureMetrics,
            "burstgpt" => InputFormat::BurstGpt,
            "mooncake" => InputFormat::Mooncake,
            "parquet" => InputFormat::Parquet,
            _ => {
                return Err(format!(
                    "unknown input format '{s}' (expected one of: {})",
                    Self::NAMES
                ));
            }
        })
    }
}

/// Compression of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

/// An opened, decompressed input with its detected format.
pub(crate) struct OpenFile {
    pub path: PathBuf,
    pub format: InputFormat,
    /// Size on disk (for progress).
    pub size: u64,
    /// Bytes of the file consumed so far (compressed bytes for compressed files).
    pub consumed: Arc<AtomicU64>,
    pub reader: Box<dyn BufRead + Send>,
}

/// Counts bytes read from the underlying file.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Buffer of a file's reader: room for the first line that format detection looks at, and
/// smaller than the reads the splitters ask for ([`PIECE_BYTES`], [`super::BLOCK_BYTES`]), so
/// that those bypass it and every byte is copied once, from the kernel (or the decompressor)
/// straight into the block.
const HEAD_BYTES: usize = 64 << 10;
const _: () = assert!(HEAD_BYTES < PIECE_BYTES && HEAD_BYTES < super::BLOCK_BYTES);

/// Opens `path`, decompressing and detecting the format unless `forced`.
pub(crate) fn open(path: &Path, forced: Option<InputFormat>) -> io::Result<OpenFile> {
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        return Err(io::Error::other(
            "is a directory; pass the log files in it (e.g. logs/*.jsonl)",
        ));
    }
    let mut raw = File::open(path)?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut raw, &mut magic)?;
    let magic = &magic[..n];
    let compression = if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    };
    let is_parquet_magic = magic == b"PAR1";
    let consumed = Arc::new(AtomicU64::new(0));
    let raw = File::open(path)?;
    let counting = Counting {
        inner: raw,
        count: consumed.clone(),
    };
    let decompressed: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(counting),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(counting))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(counting)?),
    };
    let mut reader: Box<dyn BufRead + Send> =
        Box::new(BufReader::with_capacity(HEAD_BYTES, decompressed));
    let ext = logical_extension(path);
    let format = match forced {
        Some(f) => f,
        None => {
            if is_parquet_magic || matches!(ext.as_str(), "parquet" | "pq") {
                InputFormat::Parquet
            } else {
                detect(&ext, reader.fill_buf()?)
            }
        }
    };
    if format == InputFormat::Parquet && compression != Compression::None {
        return Err(io::Error::other(
            "compressed Parquet is not supported (Parquet compresses its own pages); decompress it first",
        ));
    }
    Ok(OpenFile {
        path: path.to_path_buf(),
        format,
        size: meta.len(),
        consumed,
        reader,
    })
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The extension that names the content: `log.csv.gz` → `csv`.
fn logical_extension(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .or_else(|| name.strip_suffix(".zstd"))
        .unwrap_or(&name);
    Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// Detects the format from the logical extension and the first bytes of the content.
fn detect(ext: &str, head: &[u8]) -> InputFormat {
    if let Some(f) = super::usage::detect(ext, head) {
        return f;
    }
    let first_line = head
        .split(|&b| b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .unwrap_or(&[]);
    let first = String::from_utf8_lossy(first_line);
    let looks_json = first.trim_start().starts_with('{');
    if matches!(ext, "jsonl" | "ndjson" | "json") || (looks_json && !matches!(ext, "csv" | "tsv")) {
        if first.contains("\"input_length\"") && first.contains("\"output_length\"") {
            return InputFormat::Mooncake;
        }
        return InputFormat::ChatJsonl;
    }
    let tab = ext == "tsv" || (first.contains('\t') && !first.contains(','));
    let sep = if tab { '\t' } else { ',' };
    let cols: Vec<String> = first.trim_end().split(sep).map(super::sink::norm).collect();
    let has = |c: &str| cols.iter().any(|x| x == c);
    if has("timestamp") && has("contexttokens") && has("generatedtokens") {
        InputFormat::Azure
    } else if has("timestamp") && has("requesttokens") && has("responsetokens") {
        InputFormat::BurstGpt
    } else if tab {
        InputFormat::Tsv
    } else {
        InputFormat::Csv
    }
}

impl OpenFile {
    /// Takes the reader out (for the block reader); the file then reads as empty.
    pub fn take_reader(&mut self) -> Box<dyn BufRead + Send> {
        std::mem::replace(&mut self.reader, Box::new(io::empty()))
    }
}

/// Cuts a stream into line-aligned blocks of about `block_bytes`.
struct Splitter {
    reader: Box<dyn BufRead + Send>,
    carry: Vec<u8>,
    eof: bool,
    /// Size of the next block: the first blocks are smaller, so that parsing starts early.
    next_bytes: usize,
    block_bytes: usize,
    /// Pieces per block.
    parts: usize,
}

impl Splitter {
    /// Blocks of `first_bytes`, growing fourfold up to `block_bytes`, each cut into `parts`.
    fn new(
        reader: Box<dyn BufRead + Send>,
        first_bytes: usize,
        block_bytes: usize,
        parts: usize,
    ) -> Self {
        Splitter {
            reader,
            carry: Vec::new(),
            eof: false,
            next_bytes: first_bytes,
            block_bytes,
            parts,
        }
    }

    /// Fills `block` (its buffer reused) with the next block; `false` at the end.
    fn next_block(&mut self, block: &mut Block) -> io::Result<bool> {
        if self.eof && self.carry.is_empty() {
            return Ok(false);
        }
        let want = self.next_bytes;
        self.next_bytes = (want * 4).min(self.block_bytes);
        // The buffer is zero-filled once, when it grows, and read into directly after that:
        // `len` counts the bytes of this block, `buf.len()` those ever initialised.
        let buf = &mut block.data;
        let mut len = self.carry.len();
        grow(buf, 0, len);
        buf[..len].copy_from_slice(&self.carry);
        self.carry.clear();
        while !self.eof && (len < want || memchr::memrchr(b'\n', &buf[..len]).is_none()) {
            // Up to the wanted size, then (no line end yet) on in steps of at most READ_BYTES.
            let end = if len < want {
                want
            } else {
                len + want.min(READ_BYTES)
            };
            grow(buf, len, end);
            match self.reader.read(&mut buf[len..end]) {
                Ok(0) => self.eof = true,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if !self.eof
            && let Some(last_nl) = memchr::memrchr(b'\n', &buf[..len])
        {
            self.carry.extend_from_slice(&buf[last_nl + 1..len]);
            len = last_nl + 1;
        }
        block.len = len;
        if len == 0 {
            return Ok(false);
        }
        chunk_ranges(&buf[..len], self.parts, &mut block.pieces);
        Ok(true)
    }
}

/// Bytes asked of the reader at a time once a block is full but has no line end yet.
const READ_BYTES: usize = 1 << 20;

/// Grows `buf` to at least `size` initialised bytes (at least doubling, so that a very long
/// line costs linear time), keeping its first `keep`. A new buffer comes zeroed from the
/// allocator (fresh pages, not written twice).
fn grow(buf: &mut Vec<u8>, keep: usize, size: usize) {
    if buf.len() < size {
        let mut bigger = vec![0u8; size.max(2 * buf.len())];
        bigger[..keep].copy_from_slice(&buf[..keep]);
        *buf = bigger;
    }
}

/// A line-aligned block of a stream, cut into pieces (at line ends) that can be parsed in
/// parallel.
#[derive(Default)]
pub(crate) struct Block {
    /// The buffer; its first `len` bytes are the block.
    data: Vec<u8>,
    len: usize,
    pieces: Vec<std::ops::Range<usize>>,
}

/// A block's rows parsed in parallel: per piece, the number of its first line and its rows
/// with their line offsets in the piece (a row's line is the first plus its offset).
pub(crate) type PieceRows<T> = Vec<(u64, Vec<(u64, T)>)>;

impl Block {
    /// The pieces.
    pub fn pieces(&self) -> Vec<&[u8]> {
        self.pieces.iter().map(|r| &self.data[r.clone()]).collect()
    }

    /// Parses every non-blank line of the block in parallel (`parse` makes the parser of a
    /// piece, which may keep state from line to line); `next_line`, the number of the block's
    /// first line, moves past the block. Lines are numbered as they are split, so the block is
    /// scanned for line ends once.
    pub fn parse_lines<'b, T, F>(
        &'b self,
        next_line: &mut u64,
        parse: impl Fn() -> F + Sync,
    ) -> PieceRows<T>
    where
        T: Send,
        F: FnMut(&'b [u8]) -> T,
    {
        let parsed: Vec<(u64, Vec<(u64, T)>)> = self
            .pieces()
            .par_iter()
            .map(|piece| {
                let mut f = parse();
                let mut lines = Lines::new(piece);
                let rows = lines.by_ref().map(|(n, l)| (n, f(l))).collect();
                (lines.ends(), rows)
            })
            .collect();
        parsed
            .into_iter()
            .map(|(ends, rows)| {
                let first = *next_line;
                *next_line += ends;
                (first, rows)
            })
            .collect()
    }

    #[cfg(test)]
    fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

/// Reads `reader` (decompressing as it goes) in line-aligned blocks of about `block_bytes` and
/// calls `f` with each block in order, stopping at its first error.
///
/// The next block is read as a rayon task beside `f`'s work on the current one, so on two or
/// more threads reading (and decompression) overlaps parsing, and on one thread everything runs
/// on that thread in turn: no thread outside the pool is ever busy. Two buffers are reused
/// from block to block (fresh memory costs page faults).
pub(crate) fn for_each_block<E>(
    reader: Box<dyn BufRead + Send>,
    block_bytes: usize,
    io_error: impl Fn(io::Error) -> E,
    mut f: impl FnMut(&Block) -> Result<(), E>,
) -> Result<(), E> {
    let mut splitter = Splitter::new(
        reader,
        (block_bytes / 16).max(1),
        block_bytes,
        PIECES_PER_THREAD * rayon::current_num_threads(),
    );
    let (mut current, mut next) = (Block::default(), Block::default());
    if !splitter.next_block(&mut current).map_err(&io_error)? {
        return Ok(());
    }
    loop {
        let mut more = Ok(false);
        // The read is spawned before `f` starts, so an idle worker takes it first.
        rayon::in_place_scope(|scope| {
            scope.spawn(|_| more = splitter.next_block(&mut next));
            f(&current)
        })?;
        if !more.map_err(&io_error)? {
            return Ok(());
        }
        std::mem::swap(&mut current, &mut next);
    }
}

/// Bytes per piece read by [`for_each_piece`] (each runs on to the next line end): small
/// enough to stay in cache between the read and the parse, large enough that a task's cost
/// (a spawn, a message) is noise.
const PIECE_BYTES: usize = 256 << 10;

/// Reads `reader` (decompressing as it goes) in line-aligned pieces of about [`PIECE_BYTES`],
/// parses each piece as a rayon task and hands the results to `emit` in order, stopping at the
/// first error.
///
/// Reading and `emit` run on one worker of the pool (the caller waits), which parses pieces
/// itself whenever it would otherwise wait; at most a few pieces per thread are read ahead of
/// `emit`. Nothing waits for the slowest piece of a batch, as [`for_each_block`] does: a
/// worker that finishes a piece takes the next, so every thread stays busy to the end of the
/// input, and with one thread everything runs on it in turn. `parse` results must own their
/// data: a piece's buffer is read into again once it is parsed.
pub(crate) fn for_each_piece<R: Send, E: Send>(
    reader: Box<dyn BufRead + Send>,
    io_error: impl Fn(io::Error) -> E + Sync,
    parse: impl Fn(&[u8]) -> R + Sync,
    mut emit: impl FnMut(R) -> Result<(), E> + Send,
) -> Result<(), E> {
    let ahead = 4 * rayon::current_num_threads() + 8;
    let mut splitter = Splitter::new(reader, PIECE_BYTES, PIECE_BYTES, 1);
    let parse = &parse;
    rayon::scope(|scope| {
        type Parsed<R> = std::thread::Result<R>;
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Parsed<R>, Block)>();
        let mut spare: Vec<Block> = Vec::new();
        // Results that arrived before those of earlier pieces.
        let mut waiting: std::collections::BTreeMap<usize, R> = Default::default();
        let (mut read, mut emitted, mut eof) = (0, 0, false);
        loop {
            while !eof && read - emitted < ahead {
                let mut block = spare.pop().unwrap_or_default();
                if !splitter.next_block(&mut block).map_err(&io_error)? {
                    eof = true;
                    break;
                }
                let (tx, seq) = (tx.clone(), read);
                scope.spawn(move |_| {
                    // A panic is carried to the reader, which re-raises it, rather than left
                    // to stop the result from ever arriving.
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        parse(&block.data[..block.len])
                    }));
                    let _ = tx.send((seq, r, block));
                });
                read += 1;
            }
            if emitted == read {
                return Ok(());
            }
            let (seq, r, block) = recv_helping(&rx);
            spare.push(block);
            waiting.insert(seq, r.unwrap_or_else(|p| std::panic::resume_unwind(p)));
            while let Some(r) = waiting.remove(&emitted) {
                emit(r)?;
                emitted += 1;
            }
        }
    })
}

/// The next message of `rx`, running other rayon jobs (our own pieces among them) while
/// there is none: the thread that waits is one of the pool's.
fn recv_helping<T>(rx: &std::sync::mpsc::Receiver<T>) -> T {
    loop {
        if let Ok(m) = rx.try_recv() {
            return m;
        }
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            // Nothing left to run here: the pieces still out are running on other threads.
            if let Ok(m) = rx.recv() {
                return m;
            }
        }
    }
}

/// Pieces per worker thread in a block: enough for work stealing to even out long lines.
const PIECES_PER_THREAD: usize = 32;

/// The non-blank lines of a piece, without terminators, each with its offset from the
/// piece's first line; once exhausted, [`Lines::ends`] is the number of line ends in the piece.
pub(crate) struct Lines<'a> {
    piece: &'a [u8],
    start: usize,
    ends: u64,
}

impl<'a> Lines<'a> {
    pub fn new(piece: &'a [u8]) -> Self {
        Lines {
            piece,
            start: 0,
            ends: 0,
        }
    }

    /// Line ends passed so far.
    pub fn ends(&self) -> u64 {
        self.ends
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(rest) = self.piece.get(self.start..) {
            let offset = self.ends;
            let mut line = match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    self.ends += 1;
                    &rest[..i]
                }
                None => rest,
            };
            self.start += line.len() + 1;
            if let [head @ .., b'\r'] = line {
                line = head;
            }
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Some((offset, line));
            }
        }
        None
    }
}

/// Cuts `block` into about `parts` pieces at line ends (none shorter than 64 KiB), writing
/// their byte ranges to `out`.
fn chunk_ranges(block: &[u8], parts: usize, out: &mut Vec<std::ops::Range<usize>>) {
    out.clear();
    let target = (block.len() / parts.max(1)).max(1 << 16);
    let mut start = 0;
    while start < block.len() {
        let end = if start + target >= block.len() {
            block.len()
        } else {
            match memchr::memchr(b'\n', &block[start + target..]) {
                Some(i) => start + target + i + 1,
                None => block.len(),
            }
        };
        out.push(start..end);
        start = end;
    }
}

/// Reads the first line (the header) of a stream, without its terminator.
pub(crate) fn read_header(reader: &mut dyn BufRead) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = reader.read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
        buf.drain(..3);
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| io::Error::other("the header line is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats_from_extension_and_header() {
        assert_eq!(
            detect("csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\r\n1"),
            InputFormat::Azure
        );
        assert_eq!(
            detect(
                "csv",
                b"Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
            ),
            InputFormat::BurstGpt
        );
        assert_eq!(
            detect("csv", b"Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,Total tokens,Log Type\n"),
            InputFormat::BurstGpt
        );
        assert_eq!(
            detect("jsonl", b"{\"timestamp\": 0, \"input_length\": 6758, \"output_length\": 500, \"hash_ids\": [0]}\n"),
            InputFormat::Mooncake
        );
        assert_eq!(
            detect(
                "log",
                b"{\"time\":\"2026-01-01T00:00:00Z\",\"messages\":[]}\n"
            ),
            InputFormat::ChatJsonl
        );
        assert_eq!(detect("tsv", b"time\tprompt\n"), InputFormat::Tsv);
        assert_eq!(detect("txt", b"time\tprompt\n"), InputFormat::Tsv);
        assert_eq!(detect("csv", b"time,prompt\n"), InputFormat::Csv);
        assert_eq!(logical_extension(Path::new("a/b/log.CSV.gz")), "csv");
        assert_eq!(logical_extension(Path::new("trace.jsonl.zst")), "jsonl");
    }

    #[test]
    fn blocks_end_on_line_ends_and_number_lines() {
        let text = b"h\na,1\r\nb,2\n\nc,3";
        let mut r: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text.to_vec()));
        let header = read_header(&mut r).unwrap().unwrap();
        assert_eq!(header, "h");
        let mut all = Vec::new();
        let mut next_line = 2;
        for_each_block(
            r,
            4,
            |e| e,
            |b| {
                assert!(b.bytes().ends_with(b"\n") || b.bytes().ends_with(b"3"));
                for (first, rows) in b.parse_lines(&mut next_line, || |l: &[u8]| l.to_vec()) {
                    for (offset, l) in rows {
                        all.push((first + offset, String::from_utf8(l).unwrap()));
                    }
                }
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(
            all,
            vec![(2, "a,1".into()), (3, "b,2".into()), (5, "c,3".into())]
        );
    }

    #[test]
    fn blocks_are_read_on_the_pool_threads_only() {
        // A reader that notes the pool thread (if any) of every read.
        struct Noting {
            inner: std::io::Cursor<Vec<u8>>,
            threads: Arc<std::sync::Mutex<Vec<Option<usize>>>>,
        }
        impl Read for Noting {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if let Ok(mut t) = self.threads.lock() {
                    t.push(rayon::current_thread_index());
                }
                self.inner.read(buf)
            }
        }
        // Several reads' worth (the splitter asks for up to READ_BYTES at a time).
        let rows = 500_000;
        let text: String = (0..rows).map(|i| format!("row {i}\n")).collect();
        assert!(text.len() > 4 * READ_BYTES);
        for n in [1, 2] {
            let threads = Arc::new(std::sync::Mutex::new(Vec::new()));
            let reader = Noting {
                inner: std::io::Cursor::new(text.clone().into_bytes()),
                threads: threads.clone(),
            };
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap();
            let mut seen = 0;
            let mut next_line = 1;
            pool.install(|| {
                for_each_block(
                    Box::new(BufReader::new(reader)),
                    1 << 20,
                    |e| e,
                    |b| {
                        seen += b
                            .parse_lines(&mut next_line, || |_: &[u8]| ())
                            .iter()
                            .map(|(_, r)| r.len())
                            .sum::<usize>();
                        Ok(())
                    },
                )
            })
            .unwrap();
            assert_eq!(seen, rows);
            assert_eq!(next_line, rows as u64 + 1);
            let threads = threads.lock().unwrap();
            assert!(threads.len() > 4, "{} reads", threads.len());
            assert!(
                threads.iter().all(|t| t.is_some_and(|i| i < n)),
                "{threads:?}"
            );
        }
    }

    #[test]
    fn pieces_are_emitted_in_order_with_their_line_numbers() {
        // Lines of very different lengths, so that pieces finish out of order.
        let rows = 60_000;
        let text: String = (0..rows)
            .map(|i| format!("{i} {}\n", "x".repeat((i * 7919) % 3000)))
            .collect();
        for n in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap();
            let reader: Box<dyn BufRead + Send> =
                Box::new(std::io::Cursor::new(text.clone().into_bytes()));
            let mut next_line = 1;
            let mut seen = Vec::new();
            pool.install(|| {
                for_each_piece(
                    reader,
                    |e| e,
                    |piece| {
                        assert!(rayon::current_thread_index().is_some_and(|i| i < n));
                        let mut lines = Lines::new(piece);
                        let first: Vec<(u64, u64)> = lines
                            .by_ref()
                            .map(|(at, l)| {
                                let v = String::from_utf8_lossy(l);
                                (at, v.split(' ').next().unwrap().parse().unwrap())
                            })
                            .collect();
                        (lines.ends(), first)
                    },
                    |(ends, rows)| {
                        for (at, value) in rows {
                            seen.push((next_line + at, value));
                        }
                        next_line += ends;
                        Ok::<(), io::Error>(())
                    },
                )
            })
            .unwrap();
            assert_eq!(seen.len(), rows);
            assert!(
                seen.iter()
                    .enumerate()
                    .all(|(i, &(line, v))| line == i as u64 + 1 && v == i as u64)
            );
        }
    }

    #[test]
    fn an_error_or_a_panic_in_a_piece_stops_the_read() {
        let text: String = (0..200_000).map(|i| format!("row {i}\n")).collect();
        let reader = || -> Box<dyn BufRead + Send> {
            Box::new(std::io::Cursor::new(text.clone().into_bytes()))
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let mut emitted = 0;
        let err = pool.install(|| {
            for_each_piece(
                reader(),
                |e| e.to_string(),
                |p| p.len(),
                |_| {
                    emitted += 1;
                    if emitted == 3 {
                        Err("stop".to_string())
                    } else {
                        Ok(())
                    }
                },
            )
        });
        assert_eq!(err, Err("stop".to_string()));
        assert_eq!(emitted, 3);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| {
                for_each_piece(
                    reader(),
                    |e| e,
                    |p| {
                        assert!(
                            !String::from_utf8_lossy(p).contains("\nrow 100000\n"),
                            "bad piece"
                        )
                    },
                    |_| Ok(()),
                )
            })
        }));
        assert!(panicked.is_err());
    }

    #[test]
    fn a_line_longer_than_blocks_stays_whole() {
        let long = "x".repeat(3_000_000);
        let text = format!("a\n{long}\nb\n");
        let r: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text.into_bytes()));
        let mut lines = Vec::new();
        let mut next_line = 1;
        for_each_block(
            r,
            1 << 16,
            |e| e,
            |b| {
                for (first, rows) in b.parse_lines(&mut next_line, || |l: &[u8]| l.len()) {
                    lines.extend(rows.into_iter().map(|(offset, len)| (first + offset, len)));
                }
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(lines, vec![(1, 1), (2, 3_000_000), (3, 1)]);
        assert_eq!(next_line, 4);
    }

    #[test]
    fn pieces_keep_every_line_and_its_number() {
        // Rows end in CRLF; every 7th is followed by a blank line. Lines are numbered from 3.
        let mut text = Vec::new();
        let mut expected = Vec::new();
        let mut line = 3;
        for i in 0..50_000 {
            text.extend_from_slice(format!("row {i}\r\n").as_bytes());
            expected.push((line, format!("row {i}").into_bytes()));
            line += 1;
            if i % 7 == 0 {
                text.extend_from_slice(b"\n");
                line += 1;
            }
        }
        let mut chunks = Vec::new();
        chunk_ranges(&text, 8, &mut chunks);
        assert!(chunks.len() > 1);
        let mut next = 3;
        let mut chunked: Vec<(u64, Vec<u8>)> = Vec::new();
        for r in chunks {
            let mut lines = Lines::new(&text[r]);
            for (offset, l) in lines.by_ref() {
                chunked.push((next + offset, l.to_vec()));
            }
            next += lines.ends();
        }
        assert_eq!(next, line);
        assert_eq!(chunked, expected);
    }

    #[test]
    fn forced_format_names_are_parsed() {
        assert_eq!("BurstGPT".parse::<InputFormat>(), Ok(InputFormat::BurstGpt));
        assert!("xml".parse::<InputFormat>().is_err());
    }
}
