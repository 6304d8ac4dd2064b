//! `spillway simulate`: a topology plus a trace (or a synthetic workload) → what users would see:
//! which deployment served each request, 429s (the deployments' and the gateway's own),
//! retries, timeouts, spillover, latency and cost (over the span and per month), with the
//! assumptions that decide the answer stated beside it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Serialize;

use super::workload::{self, Traffic, WorkloadConfig};
use super::{Context, ExitStatus};
use crate::catalog::Reservation;
use crate::cli::{LogFormat, ReportFormat, SimulateArgs};
use crate::ingest::time::{format_time, format_utc};
use crate::output::{self, duration, pct, share, thousands, thousands_f, usd};
use crate::sim::topology::{Admission, defaults};
use crate::sim::{SimOptions, SimReport, Topology};

/// Validated `simulate` configuration: everything checked before any input is read.
struct Config {
    topology: PathBuf,
    topo: Topology,
    workload: WorkloadConfig,
    reservation: Reservation,
    timeline: Option<(PathBuf, bool)>,
    log_out: Option<(PathBuf, LogFormat)>,
    compare: Option<Option<PathBuf>>,
    format: ReportFormat,
}

fn configure(ctx: &Context<'_>, args: SimulateArgs) -> anyhow::Result<Config> {
    let topo = Topology::load(&args.topology, &ctx.catalog)?;
    let mut extra: Vec<&str> = Vec::new();
    if args.compare_observed {
        if args.workload.synthetic.is_some() {
            bail!(
                "--compare-observed compares with a log: give it with --trace (an APIM or LiteLLM log with statuses and backends)"
            );
        }
        extra.extend(["status", "backend"]);
    }
    if args.log_out.is_some() {
        extra.push("tenant");
    }
    if (args.compare_observed || args.log_out.is_some())
        && (args.scale != 1.0 || args.workload.speed != 1.0)
    {
        bail!(
            "{}: the requests must be the log's own, one for one: drop --scale and --speed",
            if args.compare_observed {
                "--compare-observed"
            } else {
                "--log-out"
            }
        );
    }
    super::require_ext(
        args.out.as_deref(),
        "--out",
        "csv",
        "the side-by-side series is",
    )?;
    let workload = workload::configure(
        &args.workload,
        args.scale,
        "--scale",
        &topo,
        &ctx.catalog,
        &extra,
    )?;
    let timeline = args
        .timeline
        .as_ref()
        .map(|p| {
            anyhow::Ok((
                p.clone(),
                super::table_file(p, "--timeline", "the timeline is")?,
            ))
        })
        .transpose()?;
    Ok(Config {
        topology: args.topology,
        topo,
        workload,
        reservation: args.reservation.into(),
        timeline,
        log_out: args.log_out.map(|p| (p, args.log_format)),
        compare: args.compare_observed.then_some(args.out),
        format: args.format,
    })
}

#[derive(Serialize)]
struct Meta<'a> {
    topology: String,
    policy: &'static str,
    workload: &'a str,
    seed: u64,
    start: String,
    end: String,
    span_s: f64,
    max_tokens_estimate: String,
    /// PTU burst tolerance per provisioned deployment, s (an assumption).
    bucket_s: Vec<(String, f64)>,
}

#[derive(Serialize)]
struct Doc<'a> {
    #[serde(flatten)]
    report: &'a SimReport,
    run: Meta<'a>,
    /// How the trace was read (rows, skipped rows and where), for a trace workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<&'a crate::ingest::IngestSummary>,
    notes: &'a [String],
}

pub fn run(ctx: &mut Context<'_>, args: SimulateArgs) -> anyhow::Result<ExitStatus> {
    let cfg = configure(ctx, args)?;
    let traffic = workload::load(&cfg.workload, ctx, &cfg.topo, "--scale")?;
    let requests = workload::requests(
        &cfg.workload,
        &traffic,
        cfg.workload.scale,
        cfg.workload.estimate,
    )?;
    let report = crate::sim::run(
        &cfg.topo,
        &requests,
        SimOptions {
            seed: cfg.workload.seed,
            timeline: cfg.timeline.is_some(),
            reservation: cfg.reservation,
            record: cfg.log_out.is_some() || cfg.compare.is_some(),
            ..SimOptions::seeded(cfg.workload.seed)
        },
    )?;
    if let Some((path, parquet)) = &cfg.timeline {
        write_timeline(&report, &cfg.topo, path, *parquet)
            .with_context(|| format!("--timeline {}", path.display()))?;
    }
    if let Some((prefix, format)) = &cfg.log_out {
        let written = super::logs::write(
            prefix,
            *format,
            &cfg.topo,
            &requests,
            &report,
            &traffic,
            cfg.workload.seed,
        )
        .with_context(|| format!("--log-out {}", prefix.display()))?;
        if !ctx.quiet {
            eprintln!("log: {}", written.join(", "));
        }
    }
    if let Some(out) = &cfg.compare {
        let observed = observations(&cfg.topo, &traffic)?;
        let c = crate::sim::observed::compare(&cfg.topo, &requests, &observed.0, &report);
        if let Some(path) = out {
            write_comparison(path, &c).with_context(|| format!("--out {}", path.display()))?;
        }
        return render_comparison(ctx, &cfg, &traffic, &c, &observed.1);
    }
    let mut notes = traffic.notes.clone();
    notes.push(workload::admission_note(
        &requests,
        cfg.workload.estimate,
        &cfg.topo,
    ));
    notes.extend(report_notes(&cfg.topo, &report));
    render(ctx, &cfg, &traffic, &report, &notes)?;
    Ok(ExitStatus::Success)
}

/// What the log says each request got, in the trace's order (status and matched backend),
/// and the backends no deployment matched.
pub(crate) fn observations(
    topo: &Topology,
    traffic: &Traffic,
) -> anyhow::Result<(Vec<crate::sim::observed::Observation>, Vec<String>)> {
    use crate::sim::observed::{Observation, match_backend};
    let Some(s) = &traffic.summary else {
        bail!("--compare-observed: the workload is synthetic");
    };
    let (Some(si), Some(bi)) = (
        s.dims.iter().position(|d| d == "status"),
        s.dims.iter().position(|d| d == "backend"),
    ) else {
        bail!("internal: the status and backend fields were not read");
    };
    let groups: Vec<Observation> = s
        .groups
        .iter()
        .map(|g| Observation {
            status: g.get(si).and_then(|v| v.parse().ok()),
            dep: g.get(bi).and_then(|b| match_backend(topo, b)),
        })
        .collect();
    if groups.iter().all(|o| o.status.is_none()) {
        bail!(
            "{}: no request in the log carries a status: --compare-observed needs a log with outcomes (APIM gateway logs, LiteLLM spend logs, per-minute series with a status column)",
            traffic.label
        );
    }
    let mut unmatched: Vec<String> = s
        .groups
        .iter()
        .filter_map(|g| g.get(bi))
        .filter(|b| *b != "(none)" && match_backend(topo, b).is_none())
        .cloned()
        .collect();
    unmatched.sort();
    unmatched.dedup();
    Ok((
        traffic
            .trace
            .iter()
            .map(|r| groups[r.group as usize])
            .collect(),
        unmatched,
    ))
}

fn write_comparison(path: &Path, c: &crate::sim::observed::Comparison) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record([
        "minute",
        "deployment",
        "arrivals",
        "observed_served",
        "simulated_served",
        "observed_429",
        "simulated_429",
    ])?;
    for r in &c.minutes {
        w.write_record([
            format_utc(r.minute_us),
            r.deployment.clone(),
            r.arrivals.to_string(),
            r.observed_served.to_string(),
            r.simulated_served.to_string(),
            r.observed_429.to_string(),
            r.simulated_429.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// The fidelity table of a comparison and the spill shares under it.
pub(crate) fn write_fidelity(
    out: &mut dyn std::io::Write,
    c: &crate::sim::observed::Comparison,
) -> std::io::Result<()> {
    output::write_table(out, &fidelity_table(c))?;
    writeln!(
        out,
        "served outside priority 1: observed {} · simulated {}",
        pct(c.observed_spill),
        pct(c.simulated_spill)
    )
}

/// The note naming backends of the log that match no deployment.
pub(crate) fn write_unmatched(
    out: &mut dyn std::io::Write,
    unmatched: &[String],
) -> std::io::Result<()> {
    if unmatched.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "note: backends in the log that match no deployment (by name or region): {}",
        unmatched.join(", ")
    )
}

/// The fidelity table of a comparison.
pub(crate) fn fidelity_table(c: &crate::sim::observed::Comparison) -> comfy_table::Table {
    let mut t = output::table(
        &[
            "deployment",
            "served: observed",
            "simulated",
            "429s: observed",
            "simulated",
            "served-share error",
            "429-share error",
        ],
        &[false, true, true, true, true, true, true],
    );
    for f in &c.fidelity {
        t.add_row(vec![
            f.deployment.clone(),
            thousands(f.observed_served),
            thousands(f.simulated_served),
            thousands(f.observed_429),
            thousands(f.simulated_429),
            format!("{:.1} pp", f.served_share_error_pp),
            format!("{:.1} pp", f.throttle_share_error_pp),
        ]);
    }
    t
}

fn render_comparison(
    ctx: &mut Context<'_>,
    cfg: &Config,
    traffic: &Traffic,
    c: &crate::sim::observed::Comparison,
    unmatched: &[String],
) -> anyhow::Result<ExitStatus> {
    let out = &mut *ctx.out;
    match cfg.format {
        ReportFormat::Json => {
            #[derive(Serialize)]
            struct J<'a> {
                #[serde(flatten)]
                comparison: &'a crate::sim::observed::Comparison,
                unmatched_backends: &'a [String],
            }
            output::write_json(
                out,
                &J {
                    comparison: c,
                    unmatched_backends: unmatched,
                },
            )?
        }
        ReportFormat::Table | ReportFormat::Markdown => {
            writeln!(
                out,
                "{} · {} · observed against simulated, per deployment (errors: mean over the busiest quarter of the minutes, percentage points of the minute's arrivals)\n",
                cfg.topology.display(),
                traffic.label
            )?;
            write_fidelity(out, c)?;
            write_unmatched(out, unmatched)?;
            writeln!(
                out,
                "note: `spillway calibrate` fits the PTU throughput, burst tolerance and Standard RPM windows to these observations."
            )?;
        }
    }
    Ok(ExitStatus::Success)
}

/// The provisioned deployments' burst tolerance (bucket seconds).
pub(crate) fn bucket_seconds(topo: &Topology) -> Vec<(String, f64)> {
    topo.deployments
        .iter()
        .filter_map(|d| match d.admission {
            Admission::Provisioned { bucket_s, .. } => Some((d.name.clone(), bucket_s)),
            Admission::Standard { .. } => None,
        })
        .collect()
}

/// What a reader must know to trust the figures: assumptions that decide the answer, and
/// what unusual figures mean.
pub(crate) fn report_notes(topo: &Topology, r: &SimReport) -> Vec<String> {
    let mut notes = Vec::new();
    let buckets = bucket_seconds(topo);
    if !buckets.is_empty() {
        let list: Vec<String> = buckets.iter().map(|(n, s)| format!("{n} {s} s")).collect();
        notes.push(format!(
            "assumption: PTU burst tolerance (bucket_s) {} — provisioned deployments admit until the utilisation bucket holds this many seconds of throughput; a reading of Azure's behaviour, not a documented figure (default {} s; `spillway plan` shows how the answer moves with it).",
            list.join(", "),
            defaults::BUCKET_S
        ));
    }
    let over = |provisioned: bool| -> Vec<String> {
        r.deployments
            .iter()
            .filter(|d| d.provisioned == provisioned && d.utilisation_max > 1.0)
            .map(|d| format!("{} max {}", d.name, pct(d.utilisation_max)))
            .collect()
    };
    let (ptu_over, std_over) = (over(true), over(false));
    if !ptu_over.is_empty() {
        notes.push(format!(
            "utilisation above 100% ({}): a request admitted just below 100% is charged its whole estimate, so bursts take the bucket over it (Azure: \"bursts just over 100% may be permitted\"); it drains back at the PTUs' rate and nothing more is admitted until it is below 100%.",
            ptu_over.join(", ")
        ));
    }
    if !std_over.is_empty() {
        notes.push(format!(
            "pay-as-you-go utilisation above 100% ({}): the trailing minute's prompt + max_tokens estimates over the TPM limit; the request that crosses the limit is admitted, and each 10-s RPM window and minute counter starts afresh, so a minute can count more than its limit.",
            std_over.join(", ")
        ));
    }
    if r.failures.timeout > 0 || r.timed_out_attempts > 0 {
        let late: u64 = r.deployments.iter().map(|d| d.late).sum();
        notes.push(format!(
            "the client's timeout ({} s) abandoned {} attempts and failed {} requests; the deployments still did and billed {} of the abandoned attempts. Answers that take longer than the timeout (long completions at the catalog's decode rate) fail on every retry: set [client] timeout_s to what your SDK and gateway use (openai-python 600 s, APIM forward-request 300 s).",
            thousands_f(topo.client.timeout_us as f64 / 1e6, 1),
            thousands(r.timed_out_attempts),
            thousands(r.failures.timeout),
            thousands(late)
        ));
    }
    // Per model, the uncertain catalog fields some deployment of it used.
    let mut uncertain: Vec<(String, Vec<String>)> = Vec::new();
    for d in &topo.deployments {
        let used = |f: &str| match f {
            "ptu.output_weight" => d.is_provisioned(),
            "standard.rpm_per_1000_tpm" => !d.is_provisioned(),
            "service" | "default_max_tokens" | "max_output_tokens" => true,
            _ => false,
        };
        let i = match uncertain.iter().position(|(m, _)| *m == d.model.name) {
            Some(i) => i,
            None => {
                uncertain.push((d.model.name.clone(), Vec::new()));
                uncertain.len() - 1
            }
        };
        for f in d.model.uncertain.iter().filter(|f| used(f)) {
            if !uncertain[i].1.contains(f) {
                uncertain[i].1.push(f.clone());
            }
        }
    }
    let uncertain: Vec<String> = uncertain
        .into_iter()
        .filter(|(_, f)| !f.is_empty())
        .map(|(m, f)| format!("{m}: {}", f.join(", ")))
        .collect();
    if !uncertain.is_empty() {
        notes.push(format!(
            "catalog figures this run used that the sources leave uncertain ({}): `spillway models` shows them and their sources; override them with --catalog or in the topology.",
            uncertain.join("; ")
        ));
    }
    if r.truncated > 0 {
        notes.push(format!(
            "{} completions were longer than the serving model's output limit or the request's own max_tokens, and were cut there.",
            thousands(r.truncated)
        ));
    }
    notes
}

fn render(
    ctx: &mut Context<'_>,
    cfg: &Config,
    traffic: &Traffic,
    r: &SimReport,
    notes: &[String],
) -> anyhow::Result<()> {
    let out = &mut *ctx.out;
    let topo = &cfg.topo;
    let span_s = (r.end_us - r.start_us) as f64 / 1e6;
    match cfg.format {
        ReportFormat::Json => output::write_json(
            out,
            &Doc {
                report: r,
                run: Meta {
                    topology: cfg.topology.display().to_string(),
                    policy: topo.gateway.policy.name(),
                    workload: &traffic.label,
                    seed: cfg.workload.seed,
                    start: format_utc(r.start_us),
                    end: format_utc(r.end_us),
                    span_s,
                    max_tokens_estimate: cfg.workload.estimate.label(),
                    bucket_s: bucket_seconds(topo),
                },
                input: traffic.summary.as_ref(),
                notes,
            },
        )?,
        ReportFormat::Table | ReportFormat::Markdown => {
            writeln!(
                out,
                "{} · {} policy · {} · seed {}",
                cfg.topology.display(),
                topo.gateway.policy.name(),
                traffic.label,
                cfg.workload.seed
            )?;
            let read = match &traffic.summary {
                Some(s) => format!(
                    " · {} rows read, {} requests, {} skipped",
                    thousands(s.rows_read),
                    thousands(s.requests),
                    thousands(s.skipped)
                ),
                None => String::new(),
            };
            let rel = traffic.summary.as_ref().is_some_and(|s| s.relative_time);
            writeln!(
                out,
                "{} → {} ({}){read}{}\n",
                format_time(r.start_us, rel),
                format_time(r.end_us, rel),
                duration(r.end_us - r.start_us),
                if rel {
                    " · times relative to the trace's start (--start anchors them)"
                } else {
                    ""
                }
            )?;
            output::write_table(out, &outcome_table(topo, r))?;
            output::write_table(out, &deployment_table(r))?;
            for n in notes {
                writeln!(out, "note: {n}")?;
            }
        }
    }
    Ok(())
}

/// The run's outcome, one row per figure.
pub(crate) fn outcome_table(topo: &Topology, r: &SimReport) -> comfy_table::Table {
    let mut t = output::table(&["outcome", "value"], &[false, false]);
    let f = &r.failures;
    let g = &r.gateway_rejections;
    let c = &r.cost;
    t.add_row(vec!["arrived".to_string(), thousands(r.arrived)]);
    t.add_row(vec![
        "succeeded".to_string(),
        format!(
            "{} ({})",
            thousands(r.succeeded),
            share(r.succeeded, r.arrived)
        ),
    ]);
    t.add_row(vec![
        "failed (client-visible)".to_string(),
        format!(
            "{} ({}): {} throttled (429) · {} timed out · {} unavailable (503) · {} too long (400) · {} over the token limit",
            thousands(r.failed),
            share(r.failed, r.arrived),
            thousands(f.throttled),
            thousands(f.timeout),
            thousands(f.unavailable),
            thousands(f.too_long),
            thousands(f.token_limit)
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
    if r.timed_out_attempts > 0 {
        t.add_row(vec![
            "attempts abandoned at the client timeout".to_string(),
            format!(
                "{} (timeout {} s)",
                thousands(r.timed_out_attempts),
                thousands_f(topo.client.timeout_us as f64 / 1e6, 1)
            ),
        ]);
    }
    t.add_row(vec![
        "429s answered by deployments".to_string(),
        thousands(r.throttled),
    ]);
    t.add_row(vec![
        "answered by the gateway itself".to_string(),
        format!(
            "{} ({} over a token limit (429) · {} with no deployment left (429) · {} with all tripped (503))",
            thousands(g.total()),
            thousands(g.token_limit),
            thousands(g.no_backend),
            thousands(g.unavailable)
        ),
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
    let incomplete = if c.incomplete {
        " (some prices missing)"
    } else {
        ""
    };
    let has_ptu = r.deployments.iter().any(|d| d.provisioned);
    t.add_row(vec![
        format!("cost over the span ({})", duration(r.end_us - r.start_us)),
        format!(
            "{}{incomplete}{}",
            usd(c.span_usd),
            if has_ptu {
                format!(" (PTUs on {})", c.reservation.name())
            } else {
                String::new()
            }
        ),
    ]);
    t.add_row(vec![
        "cost per 730-hour month (projection)".to_string(),
        format!(
            "{}, if the span is representative of the month",
            usd(c.month_usd)
        ),
    ]);
    if has_ptu {
        let month = |x: f64| {
            if c.hours > 0.0 {
                usd((x + c.payg_usd) * crate::catalog::HOURS_PER_MONTH / c.hours)
            } else {
                usd(0.0)
            }
        };
        t.add_row(vec![
            "per month by PTU purchase".to_string(),
            format!(
                "hourly {} · 1-month reservation {} · 1-year reservation {}",
                month(c.ptu_hourly_usd),
                month(c.ptu_monthly_reservation_usd),
                month(c.ptu_yearly_reservation_usd)
            ),
        ]);
    }
    t
}

/// One row per deployment.
pub(crate) fn deployment_table(r: &SimReport) -> comfy_table::Table {
    let mut d = output::table(
        &[
            "deployment",
            "sku",
            "capacity",
            "prio",
            "attempts",
            "served",
            "late",
            "429s",
            "400s",
            "spilled in",
            "tokens",
            "utilisation mean · p95 · max",
            "cost",
        ],
        &[
            false, false, true, true, true, true, true, true, true, true, true, true, true,
        ],
    );
    for x in &r.deployments {
        let cap = if x.provisioned {
            format!("{} PTU", thousands(x.capacity as u64))
        } else {
            format!("{}K TPM", thousands(x.capacity as u64))
        };
        d.add_row(vec![
            x.name.clone(),
            x.sku.to_string(),
            cap,
            x.priority.map_or("spill".to_string(), |p| p.to_string()),
            thousands(x.attempts),
            thousands(x.successes),
            thousands(x.late),
            thousands(x.throttled),
            thousands(x.rejected),
            thousands(x.spilled_in),
            thousands(x.tokens),
            format!(
                "{} · {} · {}",
                pct(x.utilisation_mean),
                pct(x.utilisation_p95),
                pct(x.utilisation_max)
            ),
            x.cost_usd.map_or("–".to_string(), usd),
        ]);
    }
    d
}

/// Writes the per-second series: one row per second and deployment.
fn write_timeline(
    r: &SimReport,
    topo: &Topology,
    path: &Path,
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
