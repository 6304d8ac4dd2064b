//! The traffic `simulate` and `plan` replay: the shared input flags turned into ingest options,
//! a trace read once (or a synthetic load), and the simulator's requests built from it.
//!
//! Everything that can be checked before reading is checked in [`configure`]: flags, the
//! synthetic spec, the size limit (applied while the rows stream, so a trace too large is
//! refused as soon as it is, not after it was read).

use std::path::PathBuf;

use anyhow::{Context as _, bail};

use super::Context;
use crate::catalog::Catalog;
use crate::cli::WorkloadArgs;
use crate::ingest::time::format_utc;
use crate::ingest::{IngestOptions, IngestSummary, Request};
use crate::output::thousands;
use crate::sim::workload::{MaxTokensEstimate, Synthetic, TraceShape, from_trace};
use crate::sim::{Budget, DEFAULT_SEED, MAX_REQUESTS, SimRequest, Topology};

/// Turns the shared input flags into ingest options (also used by `simulate --trace`).
pub(crate) fn ingest_options(
    args: &crate::cli::InputArgs,
    by_args: &[String],
    catalog: &crate::catalog::Catalog,
) -> anyhow::Result<IngestOptions> {
    catalog.resolve(&args.model).context("--model")?;
    if let Some(m) = &args.as_model {
        catalog.resolve(m).context("--as-model")?;
    }
    let by = by_list(by_args)?;
    Ok(IngestOptions {
        format: args.input_format,
        time_col: args.time_col.clone(),
        text_col: args.text_col.clone(),
        prompt_tokens_col: args.prompt_tokens_col.clone(),
        completion_col: args.completion_col.clone(),
        by,
        default_model: args.model.clone(),
        as_model: args.as_model.clone(),
        skip_bad: args.skip_bad,
        allow_special: args.allow_special,
        start_us: args.start,
        prompt_source: args.prompt_source.into(),
        max_requests: None,
        by_optional: false,
    })
}

/// Where the requests come from.
pub(crate) enum Source {
    Trace {
        paths: Vec<PathBuf>,
        ingest: IngestOptions,
    },
    Synthetic {
        spec: String,
        synthetic: Synthetic,
    },
}

/// The `--by` fields, trimmed, each named once.
pub(crate) fn by_list(names: &[String]) -> anyhow::Result<Vec<String>> {
    let mut by = Vec::new();
    for d in names {
        let d = d.trim();
        if d.is_empty() {
            bail!("--by: empty dimension name");
        }
        if by.iter().any(|x: &String| x == d) {
            bail!("--by {d}: named twice");
        }
        by.push(d.to_string());
    }
    Ok(by)
}

/// A validated workload configuration.
pub(crate) struct WorkloadConfig {
    pub source: Source,
    pub speed: f64,
    /// Traffic growth (`--scale` / `--growth`).
    pub scale: f64,
    pub estimate: MaxTokensEstimate,
    pub seed: u64,
}

/// Checks the workload flags; `scale_flag` names the growth flag in errors. `extra_dims` are
/// log fields to keep per request besides the token limit's key (each request's values end up
/// in `IngestSummary::groups`).
pub(crate) fn configure(
    args: &WorkloadArgs,
    scale: f64,
    scale_flag: &str,
    topo: &Topology,
    catalog: &Catalog,
    extra_dims: &[&str],
) -> anyhow::Result<WorkloadConfig> {
    if !(args.speed.is_finite() && args.speed > 0.0 && args.speed <= 1e6) {
        bail!(
            "--speed {}: must be above 0 and at most 1,000,000",
            args.speed
        );
    }
    if !(scale.is_finite() && scale > 0.0 && scale <= 1000.0) {
        bail!("{scale_flag} {scale}: must be above 0 and at most 1000");
    }
    if args.trace.is_empty() && args.synthetic.is_none() {
        bail!(
            "no workload: give --trace LOG… (logs or traces in any format `profile` reads) or --synthetic SPEC (e.g. \"rate=60/min,prompt=1000,completion=100,duration=1h\")"
        );
    }
    let seed = args.seed.unwrap_or(DEFAULT_SEED);
    let source = match &args.synthetic {
        Some(spec) => {
            let synthetic = Synthetic::parse(spec)
                .map_err(anyhow::Error::msg)
                .context("--synthetic")?;
            let expected = synthetic.rate_per_s * synthetic.duration_us as f64 / 1e6 * scale;
            if expected > MAX_REQUESTS as f64 {
                bail!(
                    "--synthetic{}: about {} requests; at most {} are simulated",
                    if scale == 1.0 {
                        String::new()
                    } else {
                        format!(" with {scale_flag} {scale}")
                    },
                    thousands(expected as u64),
                    thousands(MAX_REQUESTS)
                );
            }
            Source::Synthetic {
                spec: spec.clone(),
                synthetic,
            }
        }
        None => {
            let mut ingest = ingest_options(&args.input, &[], catalog)?;
            if let Some(tl) = &topo.gateway.token_limit {
                ingest.by = vec![tl.key.clone()];
            }
            for d in extra_dims {
                if !ingest.by.iter().any(|x| x == d) {
                    ingest.by.push(d.to_string());
                }
            }
            ingest.by_optional = true;
            ingest.max_requests = Some((MAX_REQUESTS as f64 / scale.max(1.0)).floor() as u64);
            Source::Trace {
                paths: args.trace.clone(),
                ingest,
            }
        }
    };
    Ok(WorkloadConfig {
        source,
        speed: args.speed,
        scale,
        estimate: args.max_tokens_estimate,
        seed,
    })
}

/// The traffic as read: a trace (sorted by arrival) or a synthetic spec.
pub(crate) struct Traffic {
    /// The trace's requests, sorted by arrival (empty for a synthetic workload).
    pub trace: Vec<Request>,
    pub summary: Option<IngestSummary>,
    /// "trace: a.csv, b.csv" or "synthetic: …, from 2026-01-05T00:00:00Z".
    pub label: String,
    /// Things the reader should know about how the traffic was read.
    pub notes: Vec<String>,
    /// Token-limit key of each ingest group (by `Request::group`).
    pub keys: Vec<u32>,
}

/// Reads the trace (once) or describes the synthetic load.
pub(crate) fn load(
    cfg: &WorkloadConfig,
    ctx: &Context<'_>,
    topo: &Topology,
    scale_flag: &str,
) -> anyhow::Result<Traffic> {
    let (paths, ingest) = match &cfg.source {
        Source::Synthetic { spec, synthetic } => {
            return Ok(Traffic {
                trace: Vec::new(),
                summary: None,
                label: format!(
                    "synthetic: {spec} (from {})",
                    format_utc(synthetic.start_us)
                ),
                notes: Vec::new(),
                keys: Vec::new(),
            });
        }
        Source::Trace { paths, ingest } => (paths, ingest),
    };
    let progress = super::progress::Bar::new(paths, ctx.quiet);
    let read = crate::ingest::read_all(paths, ingest, &ctx.catalog, &progress);
    progress.finish();
    let (mut trace, summary) = read.map_err(|e| {
        let limit = ingest.max_requests.unwrap_or(MAX_REQUESTS);
        let hint = if cfg.scale > 1.0 {
            format!(
                ": at most {} requests are simulated, {} with {scale_flag} {}",
                thousands(MAX_REQUESTS),
                thousands(limit),
                cfg.scale
            )
        } else {
            format!(
                ": at most {} requests are simulated; simulate a part of the trace",
                thousands(MAX_REQUESTS)
            )
        };
        let over = matches!(&e, crate::ingest::IngestError::File { message, .. } if message.starts_with("more than"));
        let err = anyhow::Error::new(e);
        if over { err.context(hint.trim_start_matches(": ").to_string()) } else { err }
    })?;
    warn_outliers(&summary);
    let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    if trace.is_empty() {
        bail!(
            "{}: no requests to simulate ({} rows read, {} skipped)",
            files.join(", "),
            thousands(summary.rows_read),
            thousands(summary.skipped)
        );
    }
    let cached: u64 = trace.iter().map(|r| r.cached as u64).sum();
    let mut notes = outlier_notes(&summary);
    notes.extend(usage_notes(&summary, cached, true));
    let imputed = impute_unlogged(&mut trace);
    if imputed > 0 {
        notes.push(format!(
            "{} requests were logged without token counts (a 429 carries none; so does every request when APIM's LLM logging is off); they replay at the median prompt and completion of the same model's requests that carry them",
            thousands(imputed)
        ));
    }
    if let Some(tl) = &topo.gateway.token_limit {
        let keyless = summary
            .groups
            .iter()
            .all(|g| g.iter().all(|v| v == "(none)"));
        if keyless {
            notes.push(format!(
                "the topology's token limit counts per `{}`, which the trace does not carry: every request counts against one counter of {} TPM",
                tl.key,
                thousands(tl.tpm)
            ));
        }
    }
    // Each group's token-limit key: the interned value of the key's field.
    let keys = match topo
        .gateway
        .token_limit
        .as_ref()
        .and_then(|tl| summary.dims.iter().position(|d| *d == tl.key))
    {
        Some(i) => {
            let mut ids: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
            summary
                .groups
                .iter()
                .map(|g| {
                    let v = g.get(i).map_or("", String::as_str);
                    let n = ids.len() as u32;
                    *ids.entry(v).or_insert(n)
                })
                .collect()
        }
        None => vec![0; summary.groups.len()],
    };
    Ok(Traffic {
        trace,
        summary: Some(summary),
        label: format!("trace: {}", files.join(", ")),
        notes,
        keys,
    })
}

/// What a reader must know about usage-log inputs: requests logged without token counts (for a
/// replay, see [`impute_unlogged`]), and aggregates spread over their buckets.
/// One warning per stray timestamp (see `ingest::outlier`): the file and line, how far from the
/// rest of its file, and what it does to the output.
pub(crate) fn outlier_notes(summary: &IngestSummary) -> Vec<String> {
    summary
        .time_outliers
        .iter()
        .map(|o| {
            let s = &o.stray;
            let place = match s.line {
                Some(line) => format!("{}:{line}", o.file),
                None => o.file.clone(),
            };
            let when = if summary.relative_time {
                format!("+{}", crate::output::duration(s.t_us))
            } else {
                crate::ingest::time::format_utc(s.t_us)
            };
            let more = if s.rows > 1 {
                format!(" (with {} more rows near it)", s.rows - 1)
            } else {
                String::new()
            };
            format!(
                "{place}: timestamp {when} lies {} {} the rest of the file{more}, whose rows span {}; the output spans the gap too: fix or drop the row if it is a stray",
                crate::output::duration(s.gap_us),
                if s.early { "before" } else { "after" },
                crate::output::duration(s.rest_span_us),
            )
        })
        .collect()
}

/// Writes [`outlier_notes`] to stderr as soon as a read ends: the work after it may take long,
/// or fail, because of the stray.
pub(crate) fn warn_outliers(summary: &IngestSummary) {
    for n in outlier_notes(summary) {
        eprintln!("warning: {n}");
    }
}

pub(crate) fn usage_notes(
    summary: &IngestSummary,
    cached_tokens: u64,
    replay: bool,
) -> Vec<String> {
    let mut n = Vec::new();
    // Sources whose exports never carry cached tokens.
    let uncached: Vec<&str> = summary
        .files
        .iter()
        .filter(|f| {
            matches!(
                f.format.as_str(),
                "apim" | "azure-metrics" | "per-minute" | "langfuse"
            )
        })
        .map(|f| f.path.as_str())
        .collect();
    if !uncached.is_empty() && cached_tokens == 0 {
        n.push(format!(
            "no cached tokens in this source ({}: APIM logs, Azure metrics and per-minute series do not record them, nor Langfuse under one key): prompt-cache discounts are not applied",
            uncached.join(", ")
        ));
    }
    if summary.no_tokens > 0 && !replay {
        n.push(format!(
            "{} requests in the usage log carry no token counts (failed requests log none, nor does an APIM gateway row when LLM logging is off); they count as arrivals with 0 tokens",
            thousands(summary.no_tokens)
        ));
    }
    if summary.spread {
        n.push("per-minute (or coarser) aggregates were spread over their buckets: request i of n at start + (i + ½) ÷ n of the bucket, its tokens split evenly. Per-minute RPM and TPM are the source's; per-request sizes are even shares, not observed".into());
    }
    n
}

/// Requests logged with no tokens at all (gateway logs record none for a 429, nor for any
/// request when LLM logging is off) would replay as empty requests that any deployment admits; they replay instead at the median
/// prompt and completion of the same model's requests that carry tokens (none: left as they
/// are). Returns how many were filled in.
fn impute_unlogged(trace: &mut [Request]) -> u64 {
    let unlogged = |r: &Request| r.prompt == 0 && r.completion == 0;
    if !trace.iter().any(unlogged) {
        return 0;
    }
    let mut sizes: std::collections::HashMap<u16, (Vec<f64>, Vec<f64>)> = Default::default();
    for r in trace.iter().filter(|r| r.prompt > 0) {
        let e = sizes.entry(r.model).or_default();
        e.0.push(r.prompt as f64);
        e.1.push(r.completion as f64);
    }
    let medians: std::collections::HashMap<u16, (u32, u32)> = sizes
        .into_iter()
        .map(|(m, (mut p, mut c))| {
            (
                m,
                (
                    crate::stats::percentile(&mut p, 0.5).round() as u32,
                    crate::stats::percentile(&mut c, 0.5).round() as u32,
                ),
            )
        })
        .collect();
    let mut n = 0;
    for r in trace.iter_mut().filter(|r| unlogged(r)) {
        if let Some(&(p, c)) = medians.get(&r.model) {
            r.prompt = p;
            r.completion = c;
            n += 1;
        }
    }
    n
}

/// The simulator's requests: the trace shaped by speed, growth and the max_tokens rule (or the
/// synthetic load generated), checked against the simulator's limits.
pub(crate) fn requests(
    cfg: &WorkloadConfig,
    traffic: &Traffic,
    scale: f64,
    estimate: MaxTokensEstimate,
) -> anyhow::Result<Vec<SimRequest>> {
    let reqs = match &cfg.source {
        Source::Synthetic { synthetic, .. } => {
            let mut reqs = synthetic.generate(cfg.seed, estimate);
            if scale != 1.0 {
                let as_trace: Vec<Request> = reqs
                    .iter()
                    .map(|r| Request {
                        t_us: r.t_us,
                        prompt: r.prompt,
                        completion: r.completion,
                        cached: r.cached,
                        max_tokens: if r.budget == Budget::Own {
                            r.max_tokens
                        } else {
                            0
                        },
                        model: 0,
                        group: r.key,
                        failed: false,
                    })
                    .collect();
                let keys: Vec<u32> =
                    (0..=as_trace.iter().map(|r| r.group).max().unwrap_or(0)).collect();
                reqs = shape(&as_trace, &keys, cfg, scale, estimate);
            }
            reqs
        }
        Source::Trace { .. } => shape(&traffic.trace, &traffic.keys, cfg, scale, estimate),
    };
    if reqs.is_empty() {
        bail!("{}: the workload has no requests", traffic.label);
    }
    if reqs.len() as u64 > MAX_REQUESTS {
        bail!(
            "{}: {} requests after growth {scale}; at most {} are simulated",
            traffic.label,
            thousands(reqs.len() as u64),
            thousands(MAX_REQUESTS)
        );
    }
    crate::sim::check_span(&reqs).map_err(|m| {
        let hint = match cfg.source {
            Source::Synthetic { .. } => "shorten duration=",
            Source::Trace { .. } => {
                "check the time column, compress time with --speed, or simulate a part"
            }
        };
        anyhow::anyhow!("{}: {m}: {hint}", traffic.label)
    })?;
    Ok(reqs)
}

fn shape(
    trace: &[Request],
    keys: &[u32],
    cfg: &WorkloadConfig,
    scale: f64,
    estimate: MaxTokensEstimate,
) -> Vec<SimRequest> {
    let shape = TraceShape {
        speed: cfg.speed,
        scale,
        estimate,
        seed: cfg.seed,
    };
    from_trace(trace, &shape, &|g| {
        keys.get(g as usize).copied().unwrap_or(0)
    })
}

/// How admission was charged: how many requests carried their own max_tokens, and what the
/// others were charged, per model of the topology.
pub(crate) fn admission_note(
    reqs: &[SimRequest],
    estimate: MaxTokensEstimate,
    topo: &Topology,
) -> String {
    let own = reqs.iter().filter(|r| r.budget == Budget::Own).count() as u64;
    let others = reqs.len() as u64 - own;
    let head = format!(
        "admission charged max_tokens: {} of {} requests carried their own",
        thousands(own),
        thousands(reqs.len() as u64)
    );
    if others == 0 {
        return format!("{head}.");
    }
    let rule = match estimate {
        MaxTokensEstimate::ModelDefault => {
            let mut seen: Vec<String> = Vec::new();
            for d in &topo.deployments {
                let text = match d.default_max_tokens {
                    Some(n) => format!("{} {}", d.model.name, thousands(n as u64)),
                    None => format!(
                        "{} none documented, so the actual completion (optimistic)",
                        d.model.name
                    ),
                };
                if !seen.contains(&text) {
                    seen.push(text);
                }
            }
            format!(
                "the model's default max_tokens, as the service charges ({})",
                seen.join("; ")
            )
        }
        MaxTokensEstimate::Actual => {
            "their actual completion, as if every client set max_tokens exactly (optimistic)".into()
        }
        MaxTokensEstimate::Fixed(n) => format!("{} tokens each", thousands(n as u64)),
        MaxTokensEstimate::Percentile(_) => {
            let v = reqs
                .iter()
                .find(|r| r.budget != Budget::Own)
                .map_or(0, |r| r.max_tokens);
            format!(
                "the trace's {} completion, {} tokens, as if every client set it",
                estimate.label(),
                thousands(v as u64)
            )
        }
    };
    format!(
        "{head}; the other {} were charged {rule} (--max-tokens-estimate {}).",
        thousands(others),
        estimate.label()
    )
}
