//! Helpers shared by the benchmarks: the bench data they build once under the target
//! directory, and the two sides of the JSONL comparison.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use spillway::catalog::Catalog;
use spillway::ingest::{IngestOptions, NoProgress, read};
use spillway::profile::Profiler;
use spillway::tokens::Tokenizer;

/// The allocator the binary installs, so that the benchmarks measure what `spillway` runs.
#[global_allocator]
static GLOBAL: spillway::alloc::Allocator = spillway::alloc::Allocator;

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

pub fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// The sample chat log, decompressed and repeated 8 times.
pub fn chat_log() -> PathBuf {
    let dir = target_dir().join("bench-data");
    let path = dir.join("chat-log-x8.jsonl");
    if !path.exists() {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(
            std::fs::File::open(repo("samples/chat-log.jsonl.gz")).unwrap(),
        )
        .read_to_end(&mut raw)
        .unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        let mut f = std::fs::File::create(&path).unwrap();
        for _ in 0..8 {
            f.write_all(&raw).unwrap();
        }
    }
    path
}

/// Message texts of the chat log, as the raw tokenizer sees them.
pub fn message_texts(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for m in v["request"]["messages"].as_array().unwrap() {
            for k in ["role", "content", "name"] {
                if let Some(s) = m[k].as_str() {
                    out.push(s.to_string());
                }
            }
        }
        if let Some(s) = v["response"].as_str() {
            out.push(s.to_string());
        }
    }
    out
}

pub fn pool(n: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
}

/// The raw tokenizer counting the message texts already in memory.
pub fn jsonl_raw(texts: &[String], tok: &Tokenizer) -> usize {
    use rayon::prelude::*;
    texts
        .par_iter()
        .with_min_len(16)
        .map(|t| tok.count_ordinary(t))
        .sum()
}

/// The chat log end to end: read, parse, count with the chat rules, aggregate, statistics.
pub fn jsonl_end_to_end(path: &Path, opts: &IngestOptions, catalog: &Catalog) -> (u64, u64) {
    let mut p = Profiler::new(60_000_000, false);
    let paths = [path.to_path_buf()];
    let s = read(&paths, opts, catalog, &NoProgress, &mut |batch, _| {
        p.add(batch, &[Some(4.0)])
    })
    .unwrap();
    (s.requests, p.finish(&s).unwrap().windows)
}
