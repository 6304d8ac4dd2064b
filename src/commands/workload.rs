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
use crate::ingest::time::{format_utc, parse_datetime};
use crate::ingest::{IngestOptions, IngestSummary, InputFormat, PromptSource, Request};
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
    let format = args
        .input_format
        .as_deref()
        .map(str::parse::<InputFormat>)
        .transpose()
        .map_err(anyhow::Error::msg)
        .context("--input-format")?;
    let start_us = args
        .start
        .as_deref()
        .map(|s| {
            parse_datetime(s).with_context(|| {
                format!("--start '{s}': expected an RFC 3339 time such as 2024-05-10T00:00:00Z")
            })
        })
        .transpose()?;
    let prompt_source = match args.prompt_source.as_str() {
        "usage" => PromptSource::Usage,
        "count" => PromptSource::Count,
        other => bail!("--prompt-source '{other}': expected usage or count"),
    };
    let mut by = Vec::new();
    for d in by_args {
        let d = d.trim();
        if d.is_empty() {
            bail!("--by: empty dimension name");
        }
        if by.iter().any(|x: &String| x == d) {
            bail!("--by {d}: named twice");
        }
        by.push(d.to_string());
    }
    Ok(IngestOptions {
        format,
        time_col: args.time_col.clone(),
        text_col: args.text_col.clone(),
        prompt_tokens_col: args.prompt_tokens_col.clone(),
        completion_col: args.completion_col.clone(),
        by,
        default_model: args.model.clone(),
        as_model: args.as_model.clone(),
        skip_bad: args.skip_bad,
        allow_special: args.allow_special,
        start_us,
        prompt_source,
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

/// A validated workload configuration.
pub(crate) struct WorkloadConfig {
    pub source: Source,
    pub speed: f64,
    /// Traffic growth (`--scale` / `--growth`).
    pub scale: f64,
    pub estimate: MaxTokensEstimate,
    pub seed: u64,
}

/// Checks the workload flags; `scale_flag` names the growth flag in errors.
pub(crate) fn configure(
    args: &WorkloadArgs,
    scale: f64,
    scale_flag: &str,
    topo: &Topology,
    catalog: &Catalog,
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
                ingest.by_optional = true;
            }
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
            });
        }
        Source::Trace { paths, ingest } => (paths, ingest),
    };
    let progress = super::progress::Bar::new(paths, ctx.quiet);
    let read = crate::ingest::read_all(paths, ingest, &ctx.catalog, &progress);
    progress.finish();
    let (trace, summary) = read.map_err(|e| {
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
    let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    if trace.is_empty() {
        bail!(
            "{}: no requests to simulate ({} rows read, {} skipped)",
            files.join(", "),
            summary.rows_read,
            summary.skipped
        );
    }
    let mut notes = Vec::new();
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
    Ok(Traffic {
        trace,
        summary: Some(summary),
        label: format!("trace: {}", files.join(", ")),
        notes,
    })
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
                reqs = shape(&as_trace, cfg, scale, estimate);
            }
            reqs
        }
        Source::Trace { .. } => shape(&traffic.trace, cfg, scale, estimate),
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
    from_trace(trace, &shape, &|g| g)
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
