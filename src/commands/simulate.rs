//! `spillway simulate`: a topology plus a trace (or a synthetic workload) → what users would see:
//! which deployment served each request, 429s, retries, spillover, latency and cost.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Serialize;

use super::{Context, ExitStatus};
use crate::cli::{Format, SimulateArgs};
use crate::ingest::time::format_utc;
use crate::output::{self, thousands, thousands_f, usd};
use crate::sim::workload::{MaxTokensEstimate, Synthetic, TraceShape, from_trace};
use crate::sim::{DEFAULT_SEED, SimOptions, SimReport, SimRequest, Topology};

#[derive(Serialize)]
struct Meta<'a> {
    topology: String,
    policy: &'static str,
    workload: &'a str,
    seed: u64,
    start: String,
    end: String,
    span_s: f64,
}

#[derive(Serialize)]
struct Doc<'a> {
    #[serde(flatten)]
    report: &'a SimReport,
    run: Meta<'a>,
}

pub fn run(ctx: &mut Context<'_>, args: SimulateArgs) -> anyhow::Result<ExitStatus> {
    let topo = Topology::load(&args.topology, &ctx.catalog)?;
    if !(args.speed.is_finite() && args.speed > 0.0) {
        bail!("--speed {}: must be a positive number", args.speed);
    }
    if !(args.scale.is_finite() && args.scale > 0.0 && args.scale <= 1000.0) {
        bail!("--scale {}: must be above 0 and at most 1000", args.scale);
    }
    let estimate = MaxTokensEstimate::parse(&args.max_tokens_estimate)
        .map_err(anyhow::Error::msg)
        .context("--max-tokens-estimate")?;
    let timeline = args
        .timeline
        .as_ref()
        .map(|p| {
            let ext = p
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            match ext.as_str() {
                "csv" => Ok((p.clone(), false)),
                "parquet" | "pq" => Ok((p.clone(), true)),
                _ => bail!(
                    "--timeline {}: the timeline is written as .csv or .parquet",
                    p.display()
                ),
            }
        })
        .transpose()?;
    let seed = args.seed.unwrap_or(DEFAULT_SEED);

    let (requests, workload): (Vec<SimRequest>, String) = match &args.synthetic {
        Some(spec) => {
            let s = Synthetic::parse(spec)
                .map_err(anyhow::Error::msg)
                .context("--synthetic")?;
            (s.generate(seed), format!("synthetic: {spec}"))
        }
        None => {
            let mut opts = super::profile::ingest_options(&args.input, &ctx.catalog)?;
            if !opts.by.is_empty() {
                bail!(
                    "--by groups profiles; simulate groups by the token limit's key when the topology has one"
                );
            }
            if let Some(tl) = &topo.gateway.token_limit {
                opts.by = vec![tl.key.clone()];
            }
            let progress = super::progress::Bar::new(&args.trace, ctx.quiet);
            let (reqs, summary) =
                crate::ingest::read_all(&args.trace, &opts, &ctx.catalog, &progress)?;
            progress.finish();
            if reqs.is_empty() {
                bail!(
                    "the trace holds no requests ({} rows skipped)",
                    summary.skipped
                );
            }
            let scaled = reqs.len() as f64 * args.scale.max(1.0);
            if scaled > crate::sim::MAX_REQUESTS as f64 {
                bail!(
                    "--scale {}: {} trace requests would become {scaled:.0}; at most {} are simulated",
                    args.scale,
                    reqs.len(),
                    crate::sim::MAX_REQUESTS
                );
            }
            let model_default = default_max_tokens(&topo, estimate)?;
            let shape = TraceShape {
                speed: args.speed,
                scale: args.scale,
                estimate,
                model_default,
                seed,
            };
            let files: Vec<String> = args.trace.iter().map(|p| p.display().to_string()).collect();
            (
                from_trace(&reqs, &shape, &|g| g),
                format!("trace: {}", files.join(", ")),
            )
        }
    };
    if requests.is_empty() {
        bail!("the workload has no requests");
    }
    crate::sim::check_span(&requests).map_err(|m| {
        let hint = if args.synthetic.is_some() {
            "shorten duration="
        } else {
            "check the time column, compress time with --speed, or simulate a part"
        };
        anyhow::anyhow!("{workload}: {m}: {hint}")
    })?;
    let report = crate::sim::run(
        &topo,
        &requests,
        SimOptions {
            seed,
            timeline: timeline.is_some(),
            record: false,
        },
    );
    if let Some((path, parquet)) = &timeline {
        write_timeline(&report, &topo, path, *parquet)
            .with_context(|| format!("--timeline {}", path.display()))?;
    }
    render(
        ctx,
        &args.topology,
        &topo,
        &report,
        &workload,
        seed,
        args.format,
    )?;
    Ok(ExitStatus::Success)
}

/// The service default max_tokens of the priority-1 deployment's model.
fn default_max_tokens(topo: &Topology, estimate: MaxTokensEstimate) -> anyhow::Result<u32> {
    if estimate != MaxTokensEstimate::ModelDefault {
        return Ok(0);
    }
    let first = topo
        .gateway
        .backends
        .iter()
        .min_by_key(|b| b.priority)
        .map(|b| &topo.deployments[b.deployment].model);
    match first.and_then(|m| m.default_max_tokens) {
        Some(n) => Ok(n.min(u32::MAX as u64) as u32),
        None => bail!(
            "--max-tokens-estimate model-default: the catalog has no default max_tokens for {}; use fixed:N",
            first.map_or("the first backend", |m| m.name.as_str())
        ),
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn render(
    ctx: &mut Context<'_>,
    topology: &Path,
    topo: &Topology,
    r: &SimReport,
    workload: &str,
    seed: u64,
    format: Format,
) -> anyhow::Result<()> {
    let out = &mut *ctx.out;
    let span_s = (r.end_us - r.start_us) as f64 / 1e6;
    match format {
        Format::Csv => bail!(
            "--format csv: the simulation report is table or json; write per-second series with --timeline FILE.csv"
        ),
        Format::Json => output::write_json(
            out,
            &Doc {
                report: r,
                run: Meta {
                    topology: topology.display().to_string(),
                    policy: topo.gateway.policy.name(),
                    workload,
                    seed,
                    start: format_utc(r.start_us),
                    end: format_utc(r.end_us),
                    span_s,
                },
            },
        )?,
        Format::Table => {
            writeln!(
                out,
                "{} · {} policy · {} · seed {}",
                topology.display(),
                topo.gateway.policy.name(),
                workload,
                seed
            )?;
            writeln!(
                out,
                "{} → {} ({} min)\n",
                format_utc(r.start_us),
                format_utc(r.end_us),
                thousands_f(span_s / 60.0, 1)
            )?;
            let mut t = output::table(&["outcome", "value"], &[false, true]);
            let f = &r.failures;
            t.add_row(vec!["arrived".to_string(), thousands(r.arrived)]);
            t.add_row(vec![
                "succeeded".to_string(),
                format!(
                    "{} ({})",
                    thousands(r.succeeded),
                    pct(r.succeeded as f64 / r.arrived.max(1) as f64)
                ),
            ]);
            t.add_row(vec![
                "failed (client-visible)".to_string(),
                format!(
                    "{} (429 {}, timeout {}, 503 {}, 400 {}, token limit {})",
                    thousands(r.failed),
                    f.throttled,
                    f.timeout,
                    f.unavailable,
                    f.too_long,
                    f.token_limit
                ),
            ]);
            t.add_row(vec![
                "retries".to_string(),
                format!(
                    "{} (client {}, gateway {})",
                    thousands(r.retries),
                    thousands(r.client_retries),
                    thousands(r.gateway_retries)
                ),
            ]);
            t.add_row(vec![
                "429s answered by deployments".to_string(),
                thousands(r.throttled),
            ]);
            t.add_row(vec![
                "served outside priority 1".to_string(),
                format!(
                    "{} of requests, {} of tokens",
                    pct(r.spillover_share.requests),
                    pct(r.spillover_share.tokens)
                ),
            ]);
            t.add_row(vec![
                "latency p50 / p95 / p99".to_string(),
                format!(
                    "{} / {} / {} ms",
                    thousands_f(r.latency_ms.p50, 0),
                    thousands_f(r.latency_ms.p95, 0),
                    thousands_f(r.latency_ms.p99, 0)
                ),
            ]);
            t.add_row(vec![
                "cost over the span".to_string(),
                format!(
                    "{}{}",
                    usd(r.cost_usd),
                    if r.cost_incomplete {
                        " (some prices missing)"
                    } else {
                        ""
                    }
                ),
            ]);
            output::write_table(out, &t)?;
            let mut d = output::table(
                &[
                    "deployment",
                    "sku",
                    "capacity",
                    "prio",
                    "attempts",
                    "served",
                    "429s",
                    "spilled in",
                    "tokens",
                    "util mean",
                    "util p95",
                    "cost",
                ],
                &[
                    false, false, true, true, true, true, true, true, true, true, true, true,
                ],
            );
            for x in &r.deployments {
                let cap = if x.sku.contains("Provisioned") {
                    format!("{} PTU", x.capacity)
                } else {
                    format!("{}K TPM", thousands(x.capacity as u64))
                };
                d.add_row(vec![
                    x.name.clone(),
                    x.sku.clone(),
                    cap,
                    x.priority.map_or("spill".to_string(), |p| p.to_string()),
                    thousands(x.attempts),
                    thousands(x.successes),
                    thousands(x.throttled),
                    thousands(x.spilled_in),
                    thousands(x.tokens),
                    pct(x.utilisation_mean),
                    pct(x.utilisation_p95),
                    x.cost_usd.map_or("–".to_string(), usd),
                ]);
            }
            output::write_table(out, &d)?;
        }
    }
    Ok(())
}

/// Writes the per-second series: one row per second and deployment.
fn write_timeline(
    r: &SimReport,
    topo: &Topology,
    path: &PathBuf,
    parquet: bool,
) -> anyhow::Result<()> {
    let Some(tl) = &r.timeline else { return Ok(()) };
    let n = tl.seconds * tl.deployments.len();
    let mut second = Vec::with_capacity(n);
    let mut dep = Vec::with_capacity(n);
    let mut attempts = Vec::with_capacity(n);
    let mut successes = Vec::with_capacity(n);
    let mut throttled = Vec::with_capacity(n);
    let mut tokens = Vec::with_capacity(n);
    let mut util = Vec::with_capacity(n);
    for s in 0..tl.seconds {
        for (i, d) in tl.deployments.iter().enumerate() {
            second.push((tl.start_s + s as i64) * 1_000_000);
            dep.push(topo.deployments[i].name.clone());
            attempts.push(d.attempts[s]);
            successes.push(d.successes[s]);
            throttled.push(d.throttled[s]);
            tokens.push(d.tokens[s]);
            util.push(d.utilisation[s]);
        }
    }
    if parquet {
        use polars::prelude::*;
        let mut df = df!(
            "second_us" => &second,
            "deployment" => dep,
            "attempts" => attempts,
            "successes" => successes,
            "throttled" => throttled,
            "tokens" => tokens,
            "utilisation" => util,
        )?;
        let ts = df
            .column("second_us")?
            .cast(&DataType::Datetime(TimeUnit::Microseconds, None))?
            .with_name("second_utc".into());
        df.with_column(ts)?;
        ParquetWriter::new(std::fs::File::create(path)?).finish(&mut df)?;
    } else {
        let mut w = csv::Writer::from_writer(std::io::BufWriter::new(std::fs::File::create(path)?));
        w.write_record([
            "second",
            "deployment",
            "attempts",
            "successes",
            "throttled",
            "tokens",
            "utilisation",
        ])?;
        for i in 0..second.len() {
            w.write_record([
                format_utc(second[i]),
                dep[i].clone(),
                attempts[i].to_string(),
                successes[i].to_string(),
                throttled[i].to_string(),
                tokens[i].to_string(),
                format!("{:.4}", util[i]),
            ])?;
        }
        w.flush()?;
    }
    Ok(())
}
