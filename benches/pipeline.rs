//! Pipeline benchmarks: reading chat logs end to end against the raw tokenizer, windowed
//! aggregation, and simulated requests per second.
//!
//! * `jsonl/*`: the bundled chat log (samples/chat-log.jsonl.gz, decompressed and repeated 8
//!   times, ≈ 75 MB, written to `$CARGO_TARGET_DIR/bench-data/`) read end to end (read, JSON
//!   parse, chat-rule token counting, profile aggregation) versus the raw tokenizer counting
//!   the same message texts already in memory, on 1 and on 2 threads. Throughput is in bytes
//!   of message text, so the two are directly comparable: end-to-end ÷ raw is the share of the
//!   time that is tokenizing.
//! * `profile/aggregate-5M`: 5 M requests over a week into 1-minute windows, then the polars
//!   statistics.
//! * `sim/*`: simulated requests per second: 1 M synthetic requests (Poisson, 30/s) through a
//!   6-deployment topology (two regions of 1,000 PTU with native spillover, two pay-as-you-go
//!   backups), and a one-week trace of 16.8 M requests (the Azure 2023 code trace, 1,906 copies
//!   5 minutes apart, ~28 requests/s with peaks above the PTUs) through the same topology.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spillway::catalog::Catalog;
use spillway::ingest::{IngestOptions, Request};
use spillway::profile::Profiler;
use spillway::sim::workload::{MaxTokensEstimate, Synthetic};
use spillway::sim::{Budget, SimOptions, SimRequest, Topology, run};
use spillway::tokens::{EncodingName, tokenizer};

#[path = "common/mod.rs"]
mod common;
use common::{chat_log, jsonl_end_to_end, jsonl_raw, message_texts, pool, repo};

fn bench_jsonl(c: &mut Criterion) {
    let path = chat_log();
    let texts = message_texts(&path);
    let bytes: usize = texts.iter().map(String::len).sum();
    let catalog = Catalog::embedded();
    let opts = IngestOptions::new("gpt-4o");
    let tok = tokenizer(EncodingName::O200kBase);
    let mut group = c.benchmark_group("jsonl");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    for threads in [1usize, 2] {
        // One pool per thread count, kept across iterations (as a run keeps its threads).
        let pool = pool(threads);
        group.bench_function(format!("raw-tokenizer_{threads}-thread"), |b| {
            b.iter(|| pool.install(|| jsonl_raw(&texts, tok)))
        });
        group.bench_function(format!("end-to-end_{threads}-thread"), |b| {
            b.iter(|| pool.install(|| jsonl_end_to_end(&path, &opts, &catalog)))
        });
    }
    group.finish();
}

fn bench_profile(c: &mut Criterion) {
    let n = 5_000_000u64;
    let reqs: Vec<Request> = (0..n)
        .map(|i| Request {
            t_us: 1_700_000_000_000_000 + (i as i64) * 120_000,
            prompt: (i % 7919) as u32,
            completion: (i % 613) as u32,
            cached: 0,
            max_tokens: 0,
            model: 0,
            group: 0,
            failed: false,
        })
        .collect();
    let summary = spillway::ingest::IngestSummary {
        models: vec!["gpt-4o".into()],
        groups: vec![vec![]],
        ..Default::default()
    };
    let mut group = c.benchmark_group("profile");
    group.throughput(Throughput::Elements(n));
    group.sample_size(10);
    group.bench_function("aggregate-5M", |b| {
        b.iter(|| {
            let mut p = Profiler::new(60_000_000, false);
            for chunk in reqs.chunks(1 << 20) {
                p.add(chunk, &[Some(4.0)]);
            }
            p.finish(&summary).unwrap().windows
        })
    });
    group.finish();
}

/// Two regions, each a provisioned deployment with native spillover, plus two pay-as-you-go
/// backups: 6 deployments behind the priority policy.
const SIX: &str = r#"
[[region]]
name = "swedencentral"
rtt_ms = 30
[[region]]
name = "eastus"
rtt_ms = 100
[[deployment]]
name = "ptu-se"
region = "swedencentral"
model = "gpt-4o"
sku = "GlobalProvisionedManaged"
capacity = 1000
spillover = "spill-se"
[[deployment]]
name = "spill-se"
region = "swedencentral"
model = "gpt-4o"
sku = "GlobalStandard"
capacity = 450
[[deployment]]
name = "ptu-us"
region = "eastus"
model = "gpt-4o"
sku = "GlobalProvisionedManaged"
capacity = 1000
spillover = "spill-us"
[[deployment]]
name = "spill-us"
region = "eastus"
model = "gpt-4o"
sku = "GlobalStandard"
capacity = 450
[[deployment]]
name = "payg-a"
region = "swedencentral"
model = "gpt-4o"
sku = "DataZoneStandard"
capacity = 300
[[deployment]]
name = "payg-b"
region = "eastus"
model = "gpt-4o"
sku = "Standard"
capacity = 150
[gateway]
policy = "priority"
backends = [
  { deployment = "ptu-se", priority = 1 },
  { deployment = "ptu-us", priority = 1 },
  { deployment = "payg-a", priority = 2 },
  { deployment = "payg-b", priority = 3 },
]
instances = 2
"#;

/// The Azure 2023 code trace as 1,906 copies 5 minutes apart: 16.8 M requests over 6.6 days.
fn week() -> Vec<SimRequest> {
    let text =
        std::fs::read_to_string(repo("samples/AzureLLMInferenceTrace_code_2023.csv")).unwrap();
    let base: Vec<(i64, u32, u32)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.trim_end().split(',').collect();
            let t = spillway::ingest::time::parse_datetime(f[0]).unwrap();
            (t, f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    let mut out = Vec::with_capacity(base.len() * 1906);
    for k in 0..1906i64 {
        for &(t, p, c) in &base {
            out.push(SimRequest {
                t_us: t + k * 300_000_000,
                prompt: p,
                completion: c,
                cached: 0,
                max_tokens: c,
                key: 0,
                budget: Budget::Estimated,
            });
        }
    }
    out.sort_by_key(|r| r.t_us);
    out
}

fn bench_sim(c: &mut Criterion) {
    let catalog = Catalog::embedded();
    let topo = Topology::parse(SIX, "six.toml", &catalog).unwrap();
    let opts = SimOptions::seeded(1);
    // ~1 M requests at 30/s: about 90% of the two PTU deployments' 5 M weighted TPM.
    let synthetic = Synthetic::parse("rate=30/s,prompt=1500,completion=150,duration=33334s")
        .unwrap()
        .generate(1, MaxTokensEstimate::Actual);
    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    group.throughput(Throughput::Elements(synthetic.len() as u64));
    group.bench_function("synthetic-1M", |b| {
        b.iter(|| run(&topo, &synthetic, opts).unwrap().succeeded)
    });
    let week = week();
    group.throughput(Throughput::Elements(week.len() as u64));
    group.bench_function("week-16.8M", |b| {
        b.iter(|| run(&topo, &week, opts).unwrap().succeeded)
    });
    group.finish();
}

criterion_group!(benches, bench_jsonl, bench_profile, bench_sim);
criterion_main!(benches);
