//! What the fuzz targets under `fuzz/` run, one function per target, and the replay of their
//! committed corpus and crash inputs in `cargo test` (so that a fixed crash stays fixed without
//! a fuzzer installed).
//!
//! Each function takes arbitrary bytes and checks the properties the product promises on any
//! input, panicking when one breaks (the fuzzer reports a panic as a crash):
//! * no panic, no hang: every reader either reads the input or returns an error;
//! * nothing is lost silently: with `--skip-bad`, `rows_read = requests + skipped`, for the read
//!   and for each file; a read that succeeds without `--skip-bad` gives the same requests with
//!   it, and skips nothing;
//! * the hand-written JSON readers agree with serde_json: [`json_differential`] (the scanner's
//!   acceptance and strings) and [`chat_line_differential`] (a chat-log line read by the fast
//!   reader is read the same by the serde reader);
//! * a topology that loads simulates to an end, with arrived = succeeded + failed.
//!
//! Not part of the product's interface (hidden from the docs); the fuzz crate and the tests
//! call it.

use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::catalog::Catalog;
use crate::ingest::{self, IngestOptions, InputFormat, NoProgress, Request};
use crate::sim::topology::Topology;
use crate::sim::workload::{MaxTokensEstimate, Synthetic};
use crate::sim::{self, SimOptions};
use crate::tokens::chat::{ChatRules, count_request, parse_request};

/// What a fuzz target runs on its input.
pub type Target = fn(&[u8]);

/// The fuzz targets: each one's name (its file under `fuzz/fuzz_targets/`) and what it runs.
pub const TARGETS: [(&str, Target); 12] = [
    ("chat_jsonl", chat_jsonl),
    ("csv", csv),
    ("tsv", tsv),
    ("azure", azure),
    ("burstgpt", burstgpt),
    ("mooncake", mooncake),
    ("parquet", parquet),
    ("usage_logs", usage_logs),
    ("topology", topology),
    ("chat_request", chat_request),
    ("json_differential", json_differential),
    ("chat_line_differential", chat_line_differential),
];

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(Catalog::embedded)
}

/// Writes `data` to this thread's scratch file with extension `ext` (readers detect
/// compression from the bytes and some formats from the extension).
fn scratch(data: &[u8], ext: &str) -> PathBuf {
    thread_local! {
        static SEQ: RefCell<u64> = const { RefCell::new(0) };
    }
    let n = SEQ.with(|s| {
        let mut s = s.borrow_mut();
        *s += 1;
        *s % 2
    });
    let thread = format!("{:?}", std::thread::current().id())
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>();
    let path = std::env::temp_dir().join(format!(
        "spillway-fuzz-{}-{thread}-{n}.{ext}",
        std::process::id()
    ));
    let mut f = std::fs::File::create(&path).expect("scratch file");
    f.write_all(data).expect("scratch file");
    path
}

/// Reads `data` as `format` both ways (strict and `--skip-bad`) and checks the accounting.
pub fn read_as(format: Option<InputFormat>, ext: &str, data: &[u8]) {
    let path = scratch(data, ext);
    let mut opts = IngestOptions::new("gpt-4o");
    opts.format = format;
    opts.by = vec!["model".into()];
    opts.by_optional = true;
    opts.max_requests = Some(1_000_000);
    let read = |opts: &IngestOptions| {
        ingest::read_all(std::slice::from_ref(&path), opts, catalog(), &NoProgress)
    };
    let strict = read(&opts);
    opts.skip_bad = true;
    let lenient = read(&opts);
    let _ = std::fs::remove_file(&path);
    if let Ok((_, s)) = &lenient {
        assert_eq!(s.rows_read, s.requests + s.skipped, "{s:?}");
        for f in &s.files {
            assert_eq!(f.rows_read, f.requests + f.skipped, "{f:?}");
        }
        assert!(s.failed <= s.requests);
    }
    match (&strict, &lenient) {
        (Ok((a, sa)), Ok((b, sb))) => {
            assert_eq!(sb.skipped, 0, "a clean read skipped rows with --skip-bad");
            assert_eq!(sa.requests, sb.requests);
            assert!(same_requests(a, b), "--skip-bad changed a clean read");
        }
        (Ok(_), Err(e)) => panic!("read without --skip-bad, refused with it: {e}"),
        (Err(e), _) => assert!(!e.to_string().is_empty()),
    }
}

fn same_requests(a: &[Request], b: &[Request]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

pub fn chat_jsonl(data: &[u8]) {
    read_as(Some(InputFormat::ChatJsonl), "jsonl", data)
}

pub fn csv(data: &[u8]) {
    read_as(Some(InputFormat::Csv), "csv", data)
}

pub fn tsv(data: &[u8]) {
    read_as(Some(InputFormat::Tsv), "tsv", data)
}

pub fn azure(data: &[u8]) {
    read_as(Some(InputFormat::Azure), "csv", data)
}

pub fn burstgpt(data: &[u8]) {
    read_as(Some(InputFormat::BurstGpt), "csv", data)
}

pub fn mooncake(data: &[u8]) {
    read_as(Some(InputFormat::Mooncake), "jsonl", data)
}

pub fn parquet(data: &[u8]) {
    read_as(Some(InputFormat::Parquet), "parquet", data)
}

/// The usage-log readers and format detection: the first byte picks the format (or detection)
/// and the extension; the rest is the file.
pub fn usage_logs(data: &[u8]) {
    const FORMATS: [Option<InputFormat>; 10] = [
        Some(InputFormat::Apim),
        Some(InputFormat::LiteLlm),
        Some(InputFormat::BatchOutput),
        Some(InputFormat::Helicone),
        Some(InputFormat::Langfuse),
        Some(InputFormat::PerMinute),
        Some(InputFormat::UsageApi),
        Some(InputFormat::AzureMetrics),
        Some(InputFormat::BatchInput),
        None,
    ];
    const EXTS: [&str; 3] = ["csv", "json", "jsonl"];
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let format = FORMATS[pick as usize % FORMATS.len()];
    let ext = EXTS[(pick as usize / FORMATS.len()) % EXTS.len()];
    read_as(format, ext, rest)
}

/// A topology file: it loads or is refused; one that loads simulates a minute of traffic to an
/// end.
pub fn topology(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(topo) = Topology::parse(text, "fuzz.toml", catalog()) else {
        return;
    };
    let workload = Synthetic::parse("rate=300/min,prompt=2000,completion=300,duration=1min")
        .expect("fixed workload");
    let reqs = workload.generate(1, MaxTokensEstimate::ModelDefault);
    match sim::run(&topo, &reqs, SimOptions::seeded(1)) {
        Ok(r) => {
            assert_eq!(r.arrived, reqs.len() as u64);
            assert_eq!(r.arrived, r.succeeded + r.failed, "{text}");
        }
        Err(e) => panic!("a loaded topology failed to simulate: {e}\n{text}"),
    }
}

/// A chat request for `count`: parsed and counted, or refused with a path.
pub fn chat_request(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(req) = parse_request(text) else {
        return;
    };
    for name in ["gpt-4o", "gpt-4"] {
        let m = catalog().model(name).expect("catalog model");
        let rules = ChatRules::for_model(m, false, None);
        if let Err(e) = count_request(&req, &rules) {
            assert!(!e.message.is_empty());
        }
    }
}

/// The JSON scanner against serde_json: the same acceptance (except nesting deeper than the
/// scanner's limit), and the same string values.
pub fn json_differential(data: &[u8]) {
    ingest::json::differential(data)
}

/// A chat-log line read by the fast reader is read the same by the serde reader, under each set
/// of options a profile may run with.
pub fn chat_line_differential(data: &[u8]) {
    ingest::chat_line_agreement(data);
}

/// Runs every file of `dir` (a target's corpus or crash inputs) through `target`.
pub fn replay(dir: &std::path::Path, target: Target) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    let mut n = 0;
    for f in files.iter().filter(|f| f.is_file()) {
        let data = std::fs::read(f).expect("corpus file");
        let outcome = std::panic::catch_unwind(|| target(&data));
        assert!(outcome.is_ok(), "{} fails", f.display());
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn fuzz_dir() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz"))
    }

    #[test]
    fn every_fuzz_target_is_listed_and_has_a_seed_corpus() {
        let mut files: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().replace(".rs", ""))
            .collect();
        files.sort();
        let mut listed: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(files, listed);
    }

    #[test]
    fn committed_corpus_and_crash_inputs_pass_every_target() {
        for (name, target) in TARGETS {
            let seeds = replay(&fuzz_dir().join("corpus").join(name), target);
            assert!(seeds > 0, "no seed corpus for {name}");
            replay(&fuzz_dir().join("regressions").join(name), target);
        }
    }
}
