//! `spillway calibrate`: a gateway log with outcomes (APIM or LiteLLM) and the topology it was
//! recorded on → the PTU throughput, burst tolerance and Standard RPM windows that reproduce
//! the 429s and spillover the users saw (see [`crate::sim::observed`] for the fit), the
//! fidelity before and after, and the topology with the fitted values for the other commands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Serialize;

use super::progress::Counter;
use super::simulate::{observations, write_fidelity, write_unmatched};
use super::workload::{self, WorkloadConfig};
use super::{Context, ExitStatus};
use crate::cli::{CalibrateArgs, ReportFormat};
use crate::ingest::time::format_utc;
use crate::output::{self, thousands};
use crate::sim::Topology;
use crate::sim::observed::{Calibration, Comparison, calibrate, patch_topology_text};

struct Config {
    topology: PathBuf,
    /// The topology file's text, patched with the fitted values for --out.
    text: String,
    topo: Topology,
    workload: WorkloadConfig,
    out: Option<PathBuf>,
    series: Option<PathBuf>,
    format: ReportFormat,
}

fn configure(ctx: &Context<'_>, args: CalibrateArgs) -> anyhow::Result<Config> {
    if args.workload.synthetic.is_some() {
        bail!(
            "--synthetic: calibrate fits the topology to a log; give it with --trace (APIM gateway logs or a LiteLLM spend log, with statuses and backends)"
        );
    }
    if args.workload.speed != 1.0 {
        bail!("--speed: the log's requests are replayed at their own times; drop --speed");
    }
    super::require_ext(
        args.out.as_deref(),
        "--out",
        "toml",
        "the fitted topology is",
    )?;
    super::require_ext(args.series.as_deref(), "--series", "csv", "the series is")?;
    if let Some(out) = &args.out
        && same_file(out, &args.topology)
    {
        bail!(
            "--out {}: is the topology read; write the fitted one beside it",
            out.display()
        );
    }
    let file = args.topology.display().to_string();
    let text =
        std::fs::read_to_string(&args.topology).with_context(|| format!("reading {file}"))?;
    let topo = Topology::parse(&text, &file, &ctx.catalog)?;
    let workload = workload::configure(
        &args.workload,
        1.0,
        "--scale",
        &topo,
        &ctx.catalog,
        &["status", "backend"],
    )?;
    Ok(Config {
        topology: args.topology,
        text,
        topo,
        workload,
        out: args.out,
        series: args.series,
        format: args.format,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

pub fn run(ctx: &mut Context<'_>, args: CalibrateArgs) -> anyhow::Result<ExitStatus> {
    let cfg = configure(ctx, args)?;
    let traffic = workload::load(&cfg.workload, ctx, &cfg.topo, "--scale")?;
    let requests = workload::requests(&cfg.workload, &traffic, 1.0, cfg.workload.estimate)?;
    let (observed, unmatched) = observations(&cfg.topo, &traffic)?;
    if observed.iter().all(|o| o.dep.is_none()) {
        bail!(
            "{}: no backend in the log matches a deployment of {} (by name, or by region where one deployment is routed there){}",
            traffic.label,
            cfg.topology.display(),
            if unmatched.is_empty() {
                String::new()
            } else {
                format!("; the log's backends: {}", unmatched.join(", "))
            }
        );
    }
    let counter = Counter::new(ctx.quiet);
    counter.stage("calibrating:");
    let tick = |k: usize| counter.tick(k);
    let (_, cal) = calibrate(&cfg.topo, &requests, &observed, cfg.workload.seed, &tick)?;
    counter.finish();
    let admission = workload::admission_note(&requests, cfg.workload.estimate, &cfg.topo);
    if let Some(path) = &cfg.out {
        let patched = format!(
            "# spillway calibrate: input_tpm_per_ptu, bucket_s and rpm_window_s fitted to {} with\n# --max-tokens-estimate {} (the fit holds for that rule: simulate and plan with it).\n{}",
            label_of(&traffic.label),
            cfg.workload.estimate.label(),
            patch_topology_text(&cfg.text, &cal.fitted)
        );
        // What is written must load as the topology that was fitted.
        Topology::parse(&patched, &path.display().to_string(), &ctx.catalog)
            .context("internal: the fitted topology does not load")?;
        std::fs::write(path, patched).with_context(|| format!("--out {}", path.display()))?;
    }
    if let Some(path) = &cfg.series {
        write_series(path, &cal.before, &cal.after)
            .with_context(|| format!("--series {}", path.display()))?;
    }
    render(ctx, &cfg, &traffic.label, &cal, &unmatched, &admission)
}

/// A one-line label for a comment (file names only).
fn label_of(label: &str) -> String {
    output::clip(&label.replace('\n', " "), 200)
}

/// Per minute and deployment: observed, simulated before and after the fit.
fn write_series(path: &Path, before: &Comparison, after: &Comparison) -> anyhow::Result<()> {
    type Key = (i64, String);
    let mut rows: BTreeMap<Key, (u64, [u64; 6])> = BTreeMap::new();
    for (k, c) in [before, after].into_iter().enumerate() {
        for r in &c.minutes {
            let e = rows
                .entry((r.minute_us, r.deployment.clone()))
                .or_insert((r.arrivals, [0; 6]));
            e.1[0] = r.observed_served;
            e.1[3] = r.observed_429;
            e.1[1 + k] = r.simulated_served;
            e.1[4 + k] = r.simulated_429;
        }
    }
    let mut w = csv::Writer::from_path(path)?;
    w.write_record([
        "minute",
        "deployment",
        "arrivals",
        "observed_served",
        "before_served",
        "after_served",
        "observed_429",
        "before_429",
        "after_429",
    ])?;
    for ((minute, dep), (arrivals, v)) in rows {
        let mut rec = vec![format_utc(minute), dep, arrivals.to_string()];
        rec.extend(v.iter().map(|x| x.to_string()));
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}

fn render(
    ctx: &mut Context<'_>,
    cfg: &Config,
    label: &str,
    cal: &Calibration,
    unmatched: &[String],
    admission: &str,
) -> anyhow::Result<ExitStatus> {
    let out = &mut *ctx.out;
    match cfg.format {
        ReportFormat::Json => {
            #[derive(Serialize)]
            struct J<'a> {
                topology: String,
                workload: &'a str,
                max_tokens_estimate: String,
                fitted: &'a [crate::sim::observed::Fitted],
                before: &'a Comparison,
                after: &'a Comparison,
                simulations: usize,
                unmatched_backends: &'a [String],
                written: Option<String>,
            }
            let strip = |c: &Comparison| Comparison {
                minutes: Vec::new(),
                ..c.clone()
            };
            output::write_json(
                out,
                &J {
                    topology: cfg.topology.display().to_string(),
                    workload: label,
                    max_tokens_estimate: cfg.workload.estimate.label(),
                    fitted: &cal.fitted,
                    before: &strip(&cal.before),
                    after: &strip(&cal.after),
                    simulations: cal.simulations,
                    unmatched_backends: unmatched,
                    written: cfg.out.as_ref().map(|p| p.display().to_string()),
                },
            )?;
        }
        ReportFormat::Table | ReportFormat::Markdown => {
            writeln!(
                out,
                "{} · {} · fitted to the log's 429s and spillover ({} simulations)\n",
                cfg.topology.display(),
                label,
                thousands(cal.simulations as u64)
            )?;
            let mut t = output::table(
                &[
                    "deployment",
                    "assumption",
                    "before",
                    "fitted",
                    "fits as well",
                ],
                &[false, false, true, true, true],
            );
            let mut loose = Vec::new();
            for f in &cal.fitted {
                let v = |x: f64| match f.field {
                    "input_tpm_per_ptu" => format!("{} TPM/PTU", thousands(x.round() as u64)),
                    _ => format!("{x} s"),
                };
                let (lo, hi) = f.equally_good;
                t.add_row(vec![
                    f.deployment.clone(),
                    f.field.to_string(),
                    v(f.before),
                    v(f.after),
                    if lo == hi {
                        "only this".to_string()
                    } else {
                        format!("{} – {}", v(lo), v(hi))
                    },
                ]);
                if hi >= 2.0 * lo {
                    loose.push(format!("{} {}", f.deployment, f.field));
                }
            }
            output::write_table(out, &t)?;
            writeln!(
                out,
                "fits as well: the values tried whose fit is within {} pp (or 5 %) of the best",
                crate::sim::observed::EQUALLY_GOOD_PP
            )?;
            if !loose.is_empty() {
                writeln!(
                    out,
                    "note: the log does not pin down {}: the fitted value is one of several that reproduce it (burst tolerance shows in bursts after quiet spells, RPM windows only where Standard deployments throttled); plan's sensitivity runs show what it changes",
                    loose.join(", ")
                )?;
            }
            for (name, c) in [("before", &cal.before), ("after", &cal.after)] {
                writeln!(
                    out,
                    "\n{name}: observed against simulated (errors: mean over the busiest quarter of the minutes, percentage points of the minute's arrivals)"
                )?;
                write_fidelity(out, c)?;
            }
            write_unmatched(out, unmatched)?;
            writeln!(
                out,
                "note: {admission} The fitted throughput holds for this rule (--max-tokens-estimate {}): simulate and plan with the same one.",
                cfg.workload.estimate.label()
            )?;
            match &cfg.out {
                Some(p) => writeln!(
                    out,
                    "\nwrote {}: plan, simulate and report take it with -t",
                    p.display()
                )?,
                None => writeln!(
                    out,
                    "\nnote: --out FILE.toml writes the topology with the fitted values"
                )?,
            }
        }
    }
    Ok(ExitStatus::Success)
}
