//! Token-counting throughput on real text the benchmark can obtain offline.
//!
//! Two corpora of real text the benchmark can obtain offline, from the sources of the crates
//! pinned in Cargo.lock in the cargo registry (always present after a build), sorted by path
//! and cut at line ends into prompt-sized documents of about 2 KB:
//! * `prose`: their Markdown and text files (READMEs, changelogs, guides), up to 8 MB;
//! * `code`: their Rust sources, up to 8 MB.
//!
//! Each is written to `$CARGO_TARGET_DIR/bench-corpus/<name>.jsonl` (one JSON string per line)
//! so that `benches/compare-tiktoken.sh` can time python tiktoken on the very same documents,
//! with our token totals in `spillway-counts.json` for the identical-count check.
//!
//! Groups: `count-<corpus>/<encoding>_1-thread` (documents one after another on one thread),
//! `count-<corpus>/<encoding>_all-threads` (rayon across documents), and `pathological/*`
//! (inputs that break or slow down other tokenizers).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;
use spillway::tokens::{EncodingName, tokenizer};

const CORPUS_BYTES: usize = 8 << 20;
const DOC_BYTES: usize = 2048;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo")
        })
}

/// `name-version` of every registry package in Cargo.lock.
fn locked_packages() -> Vec<String> {
    let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"))
        .expect("Cargo.lock is committed");
    let mut out = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            out.push(format!("{n}-{}", v.trim_matches('"')));
        }
    }
    out.sort();
    out
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_files(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("md" | "txt" | "rs")
        ) {
            out.push(p);
        }
    }
}

fn build_corpus(code: bool) -> Vec<String> {
    let src = cargo_home().join("registry").join("src");
    let mut roots: Vec<PathBuf> = std::fs::read_dir(&src)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    roots.sort();
    let mut files = Vec::new();
    for pkg in locked_packages() {
        for root in &roots {
            let dir = root.join(&pkg);
            if dir.is_dir() {
                collect_files(&dir, &mut files);
                break;
            }
        }
    }
    files.retain(|p| (p.extension().and_then(|e| e.to_str()) == Some("rs")) == code);
    let mut docs = Vec::new();
    let mut total = 0;
    'files: for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let mut doc = String::new();
        for line in text.split_inclusive('\n') {
            doc.push_str(line);
            if doc.len() >= DOC_BYTES {
                total += doc.len();
                docs.push(std::mem::take(&mut doc));
                if total >= CORPUS_BYTES {
                    break 'files;
                }
            }
        }
        if !doc.is_empty() {
            total += doc.len();
            docs.push(doc);
        }
    }
    assert!(
        !docs.is_empty(),
        "no corpus: the cargo registry under {} is empty",
        src.display()
    );
    docs
}

fn corpus(name: &str) -> Vec<String> {
    let dir = target_dir().join("bench-corpus");
    let path = dir.join(format!("{name}.jsonl"));
    if path.exists() {
        return read_jsonl(&path);
    }
    let docs = build_corpus(name == "code");
    std::fs::create_dir_all(&dir).expect("create bench-corpus dir");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("write corpus"));
    for d in &docs {
        serde_json::to_writer(&mut f, d).expect("write corpus");
        f.write_all(b"\n").expect("write corpus");
    }
    docs
}

fn read_jsonl(p: &Path) -> Vec<String> {
    let f = std::fs::File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    std::io::BufReader::new(f)
        .lines()
        .map(|l| {
            serde_json::from_str(&l.expect("read corpus")).expect("corpus line is a JSON string")
        })
        .collect()
}

fn bench_count(c: &mut Criterion) {
    let mut totals = serde_json::Map::new();
    for name in ["prose", "code"] {
        let docs = corpus(name);
        let bytes: usize = docs.iter().map(String::len).sum();
        let mut t = serde_json::Map::new();
        t.insert("documents".into(), docs.len().into());
        t.insert("bytes".into(), bytes.into());
        let mut group = c.benchmark_group(format!("count-{name}"));
        group.throughput(Throughput::Bytes(bytes as u64));
        group.sample_size(10);
        for enc in [EncodingName::Cl100kBase, EncodingName::O200kBase] {
            let tok = tokenizer(enc);
            let total: usize = docs.iter().map(|d| tok.count_ordinary(d)).sum();
            t.insert(enc.as_str().into(), total.into());
            group.bench_function(format!("{enc}_1-thread"), |b| {
                b.iter(|| docs.iter().map(|d| tok.count_ordinary(d)).sum::<usize>())
            });
            group.bench_function(format!("{enc}_all-threads"), |b| {
                b.iter(|| {
                    docs.par_iter()
                        .map(|d| tok.count_ordinary(d))
                        .sum::<usize>()
                })
            });
        }
        group.finish();
        totals.insert(name.into(), serde_json::Value::Object(t));
    }
    let out = target_dir()
        .join("bench-corpus")
        .join("spillway-counts.json");
    let _ = std::fs::write(out, serde_json::Value::Object(totals).to_string());
}

fn bench_pathological(c: &mut Criterion) {
    let mut group = c.benchmark_group("pathological");
    group.sample_size(10);
    let spaces = " ".repeat(1_000_000);
    let letters = "a".repeat(100_000);
    let o200k = tokenizer(EncodingName::O200kBase);
    let cl100k = tokenizer(EncodingName::Cl100kBase);
    group.bench_function("o200k_base/1M-spaces", |b| {
        b.iter(|| o200k.count_ordinary(&spaces))
    });
    group.bench_function("cl100k_base/100k-a", |b| {
        b.iter(|| cl100k.count_ordinary(&letters))
    });
    group.finish();
}

criterion_group!(benches, bench_count, bench_pathological);
criterion_main!(benches);
