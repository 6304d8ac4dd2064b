//! `spillway profile`: prompt logs and traces → TPM / RPM profiles (table or JSON), and the
//! per-window series (`--out series.csv|.parquet`) that `simulate` and `plan` consume.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Context, ExitStatus};
use crate::cli::{ProfileArgs, ReportFormat};
use crate::ingest::time::{format_time, parse_duration};
use crate::ingest::{IngestOptions, IngestSummary};
use crate::output::{self, thousands, thousands_f};
use crate::profile::{Dist, GroupProfile, Profile, Profiler, RateStats, model_weights};

/// Validated `profile` configuration.
pub(crate) struct Config {
    pub paths: Vec<PathBuf>,
    pub ingest: IngestOptions,
    pub window_us: i64,
    pub out: Option<(PathBuf, SeriesFormat)>,
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeriesFormat {
    Csv,
    Parquet,
}

fn configure(ctx: &Context<'_>, args: ProfileArgs) -> anyhow::Result<Config> {
    let ingest = super::workload::ingest_options(&args.input, &args.by, &ctx.catalog)?;
    let window_us = parse_duration(&args.window).with_context(|| {
        format!(
            "--window '{}': expected a duration such as 1s, 10s, 1m or 5m",
            args.window
        )
    })?;
    if window_us < 1_000 {
        bail!(
            "--window {}: windows shorter than 1ms are not supported",
            args.window
        );
    }
    let out = args
        .out
        .map(|p| {
            let parquet = super::table_file(&p, "--out", "the series is")?;
            anyhow::Ok((
                p,
                if parquet {
                    SeriesFormat::Parquet
                } else {
                    SeriesFormat::Csv
                },
            ))
        })
        .transpose()?;
    Ok(Config {
        paths: args.logs,
        ingest,
        window_us,
        out,
        format: args.format,
    })
}

pub fn run(ctx: &mut Context<'_>, args: ProfileArgs) -> anyhow::Result<ExitStatus> {
    let config = configure(ctx, args)?;
    let progress = super::progress::Bar::new(&config.paths, ctx.quiet);
    let mut profiler = Profiler::new(config.window_us, !config.ingest.by.is_empty());
    let catalog = &ctx.catalog;
    let mut weights: Vec<Option<f64>> = Vec::new();
    let summary = crate::ingest::read(
        &config.paths,
        &config.ingest,
        catalog,
        &progress,
        &mut |batch, models| {
            if weights.len() < models.len() {
                weights = model_weights(catalog, models);
            }
            profiler.add(batch, &weights);
        },
    )?;
    progress.finish();
    super::workload::warn_outliers(&summary);
    let profile = profiler.finish(&summary)?;
    if let Some((path, fmt)) = &config.out {
        write_series(&profile, path, *fmt).with_context(|| format!("--out {}", path.display()))?;
    }
    render(ctx, &config, &summary, &profile)?;
    Ok(ExitStatus::Success)
}

fn window_label(window_s: f64) -> String {
    if window_s >= 60.0 && (window_s / 60.0).fract() == 0.0 {
        format!("{}m", window_s / 60.0)
    } else {
        format!("{}s", window_s)
    }
}

/// Rounds to 3 decimals (JSON output).
fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[derive(Serialize)]
struct RateJson {
    mean: f64,
    p50: f64,
    p90: f64,
    p95: f64,
    p99: f64,
    #[serde(rename = "p99.9")]
    p999: f64,
    max: f64,
    peak_to_mean: f64,
    busiest_window: String,
}

impl RateJson {
    fn new(r: &RateStats, relative: bool) -> Self {
        RateJson {
            mean: r3(r.mean),
            p50: r3(r.p50),
            p90: r3(r.p90),
            p95: r3(r.p95),
            p99: r3(r.p99),
            p999: r3(r.p999),
            max: r3(r.max),
            peak_to_mean: r3(r.peak_to_mean),
            busiest_window: format_time(r.busiest_window_start_us, relative),
        }
    }
}

#[derive(Serialize)]
struct DistJson {
    count: u64,
    mean: f64,
    min: u64,
    p50: f64,
    p90: f64,
    p95: f64,
    p99: f64,
    #[serde(rename = "p99.9")]
    p999: f64,
    max: u64,
}

impl DistJson {
    fn new(d: &Dist) -> Self {
        DistJson {
            count: d.count,
            mean: r3(d.mean),
            min: d.min,
            p50: r3(d.p50),
            p90: r3(d.p90),
            p95: r3(d.p95),
            p99: r3(d.p99),
            p999: r3(d.p999),
            max: d.max,
        }
    }
}

#[derive(Serialize)]
struct GroupJson {
    #[serde(skip_serializing_if = "Map::is_empty")]
    key: Map<String, Value>,
    requests: u64,
    failed: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    cached_tokens: u64,
    ptu_weighted_tokens: Option<f64>,
    idle_windows: u64,
    rpm: RateJson,
    tpm: RateJson,
    prompt_tpm: RateJson,
    completion_tpm: RateJson,
    ptu_weighted_tpm: Option<RateJson>,
    prompt_per_request: DistJson,
    completion_per_request: DistJson,
}

impl GroupJson {
    fn new(g: &GroupProfile, relative: bool) -> Self {
        GroupJson {
            key: g
                .key
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
            requests: g.requests,
            failed: g.failed,
            prompt_tokens: g.prompt_tokens,
            completion_tokens: g.completion_tokens,
            cached_tokens: g.cached_tokens,
            ptu_weighted_tokens: g.ptu_weighted_tokens.map(r3),
            idle_windows: g.idle_windows,
            rpm: RateJson::new(&g.rpm, relative),
            tpm: RateJson::new(&g.tpm, relative),
            prompt_tpm: RateJson::new(&g.prompt_tpm, relative),
            completion_tpm: RateJson::new(&g.completion_tpm, relative),
            ptu_weighted_tpm: g
                .ptu_weighted_tpm
                .as_ref()
                .map(|r| RateJson::new(r, relative)),
            prompt_per_request: DistJson::new(&g.prompt_per_request),
            completion_per_request: DistJson::new(&g.completion_per_request),
        }
    }
}

/// PTUs a model's traffic needs by the capacity calculator's formula: PTU-weighted TPM ÷ input
/// TPM per PTU, at the p99 and the peak minute, rounded up to each provisioned type's
/// increment (at least its minimum).
#[derive(Serialize)]
struct PtuNeed {
    model: String,
    input_tpm_per_ptu: f64,
    p99_raw: f64,
    peak_raw: f64,
    /// Global and Data Zone provisioned (same minimum and increment).
    global_p99: u32,
    global_peak: u32,
    regional_p99: u32,
    regional_peak: u32,
}

/// The PTU need of each model whose traffic the profile can tell apart: the one model of a
/// single-model trace, or each model group of `--by model`.
fn ptu_needs(
    summary: &IngestSummary,
    p: &Profile,
    catalog: &crate::catalog::Catalog,
) -> Vec<PtuNeed> {
    use crate::catalog::PtuType;
    let need = |name: &str, w: &crate::profile::RateStats| -> Option<PtuNeed> {
        let m = catalog.model(name)?;
        let ptu = m.ptu?;
        // Rates are per minute whatever the window.
        let (p99, peak) = (w.p99 / ptu.input_tpm_per_ptu, w.max / ptu.input_tpm_per_ptu);
        let g = ptu.size_rule(PtuType::Global);
        let r = ptu.size_rule(PtuType::Regional);
        Some(PtuNeed {
            model: m.name.clone(),
            input_tpm_per_ptu: ptu.input_tpm_per_ptu,
            p99_raw: p99,
            peak_raw: peak,
            global_p99: g.round_up(p99),
            global_peak: g.round_up(peak),
            regional_p99: r.round_up(p99),
            regional_peak: r.round_up(peak),
        })
    };
    if let [only] = summary.models.as_slice()
        && let Some(w) = &p.overall.ptu_weighted_tpm
    {
        return need(only, w).into_iter().collect();
    }
    let Some(k) = summary.dims.iter().position(|d| d == "model") else {
        return Vec::new();
    };
    p.groups
        .iter()
        .filter(|g| g.key.len() == summary.dims.len())
        .filter_map(|g| need(&g.key[k].1, g.ptu_weighted_tpm.as_ref()?))
        .collect()
}

/// The JSON document of `profile --format json`.
#[derive(Serialize)]
struct ProfileJson<'a> {
    rows_read: u64,
    skipped: u64,
    skipped_rows: &'a [crate::ingest::RowIssue],
    window_s: f64,
    rate_unit: String,
    rate_scale: f64,
    start: String,
    end: String,
    windows: u64,
    relative_time: bool,
    #[serde(flatten)]
    all: GroupJson,
    usage_check: &'a crate::ingest::UsageCheck,
    no_completion: u64,
    models: &'a [String],
    unknown_models: &'a std::collections::BTreeMap<String, u64>,
    files: &'a [crate::ingest::FileSummary],
    groups: Vec<GroupJson>,
    ptu_need: Vec<PtuNeed>,
    notes: Vec<String>,
}

/// Human notes on what was read: skipped rows, failures, discrepancies, assumptions.
fn notes(
    summary: &IngestSummary,
    profile: &Profile,
    catalog: &crate::catalog::Catalog,
) -> Vec<String> {
    let mut n = super::workload::outlier_notes(summary);
    if summary.skipped > 0 {
        let first: Vec<String> = summary
            .skipped_rows
            .iter()
            .map(|r| format!("{}:{} ({})", r.file, r.line, r.reason))
            .collect();
        n.push(format!(
            "skipped {} malformed rows (--skip-bad); first: {}",
            thousands(summary.skipped),
            first.join("; ")
        ));
    }
    if summary.failed > 0 {
        n.push(format!(
            "{} failed requests (an error status in a usage log; zero response tokens in BurstGPT) are counted as arrivals and excluded from per-request distributions",
            thousands(summary.failed)
        ));
    }
    let u = &summary.usage_check;
    if u.compared > 0 {
        n.push(format!(
            "prompt tokens: spillway counted {} and usage reported {} on {} requests with both ({:.1}% exact, mean |diff| {:.2}, max {}); the profile uses the {} figure",
            thousands(u.counted_tokens),
            thousands(u.usage_tokens),
            thousands(u.compared),
            100.0 * u.exact as f64 / u.compared as f64,
            u.sum_abs_diff as f64 / u.compared as f64,
            u.max_abs_diff,
            "usage (--prompt-source count to use spillway's)"
        ));
    }
    if summary.no_completion > 0 {
        n.push(format!(
            "{} requests carry no completion figure (no usage, no response text): counted as 0 completion tokens",
            thousands(summary.no_completion)
        ));
    }
    if !summary.unknown_models.is_empty() {
        let list: Vec<String> = summary
            .unknown_models
            .iter()
            .map(|(m, c)| format!("{m} ({c})"))
            .collect();
        n.push(format!(
            "models not in the catalog were counted as the default model: {}",
            list.join(", ")
        ));
    }
    let unweighted: Vec<&String> = summary
        .models
        .iter()
        .filter(|m| catalog.model(m).and_then(|m| m.ptu).is_none())
        .collect();
    if !unweighted.is_empty() && profile.overall.ptu_weighted_tpm.is_none() {
        n.push(format!(
            "no PTU figures for {}: PTU-weighted tokens are unavailable; pass --as-model to size this traffic on another model",
            unweighted.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    if profile.relative_time {
        n.push("timestamps are relative to the trace start (pass --start to anchor them)".into());
    }
    n.extend(super::workload::usage_notes(
        summary,
        profile.overall.cached_tokens,
        false,
    ));
    n
}

fn render(
    ctx: &mut Context<'_>,
    config: &Config,
    summary: &IngestSummary,
    p: &Profile,
) -> anyhow::Result<()> {
    let rel = p.relative_time;
    let mut notes = notes(summary, p, &ctx.catalog);
    let needs = ptu_needs(summary, p, &ctx.catalog);
    if needs.is_empty() && summary.models.len() > 1 {
        notes.push("several models: profile --by model for each one's PTU need".into());
    }
    let out = &mut *ctx.out;
    let rate_unit = if p.window_s == 60.0 {
        "per minute".to_string()
    } else {
        format!(
            "per minute (from {} windows × {})",
            window_label(p.window_s),
            trim_float(p.rate_scale)
        )
    };
    match config.format {
        ReportFormat::Json => {
            let doc = ProfileJson {
                rows_read: summary.rows_read,
                skipped: summary.skipped,
                skipped_rows: &summary.skipped_rows,
                window_s: p.window_s,
                rate_unit,
                rate_scale: p.rate_scale,
                start: format_time(p.start_us, rel),
                end: format_time(p.end_us, rel),
                windows: p.windows,
                relative_time: rel,
                all: GroupJson::new(&p.overall, rel),
                usage_check: &summary.usage_check,
                no_completion: summary.no_completion,
                models: &summary.models,
                unknown_models: &summary.unknown_models,
                files: &summary.files,
                groups: p.groups.iter().map(|g| GroupJson::new(g, rel)).collect(),
                ptu_need: needs,
                notes,
            };
            output::write_json(out, &doc)?;
        }
        ReportFormat::Table | ReportFormat::Markdown => {
            writeln!(
                out,
                "{} file{} · {} rows · {} requests ({} failed, {} skipped) · window {} · rates {}",
                summary.files.len(),
                if summary.files.len() == 1 { "" } else { "s" },
                thousands(summary.rows_read),
                thousands(summary.requests),
                thousands(summary.failed),
                thousands(summary.skipped),
                window_label(p.window_s),
                rate_unit
            )?;
            writeln!(
                out,
                "{} → {} · {} windows ({} idle) · {} prompt + {} completion tokens ({} cached)\n",
                format_time(p.start_us, rel),
                format_time(p.end_us, rel),
                thousands(p.windows),
                thousands(p.overall.idle_windows),
                thousands(p.overall.prompt_tokens),
                thousands(p.overall.completion_tokens),
                thousands(p.overall.cached_tokens),
            )?;
            output::write_table(out, &rate_table(&p.overall, rel))?;
            output::write_table(out, &dist_table(&p.overall))?;
            if !p.groups.is_empty() {
                writeln!(out, "\nby {}", summary.dims.join(", "))?;
                output::write_table(out, &group_table(&p.groups, rel))?;
            }
            if !needs.is_empty() {
                writeln!(
                    out,
                    "\nPTU need by the capacity calculator's formula (PTU-weighted TPM ÷ TPM per PTU, rounded up to the increment); `spillway plan` sizes it with the simulator:"
                )?;
                let mut t = output::table(
                    &[
                        "model",
                        "TPM per PTU",
                        "p99 minute",
                        "peak minute",
                        "Global / Data Zone: p99 · peak",
                        "Regional: p99 · peak",
                    ],
                    &[false, true, true, true, true, true],
                );
                for n in &needs {
                    t.add_row(vec![
                        n.model.clone(),
                        thousands_f(n.input_tpm_per_ptu, 0),
                        format!("{:.1} PTU", n.p99_raw),
                        format!("{:.1} PTU", n.peak_raw),
                        format!(
                            "{} · {}",
                            thousands(n.global_p99 as u64),
                            thousands(n.global_peak as u64)
                        ),
                        format!(
                            "{} · {}",
                            thousands(n.regional_p99 as u64),
                            thousands(n.regional_peak as u64)
                        ),
                    ]);
                }
                output::write_table(out, &t)?;
            }
            for n in &notes {
                writeln!(out, "note: {n}")?;
            }
            if let Some((path, _)) = &config.out {
                writeln!(
                    out,
                    "series: {} rows written to {}",
                    thousands(p.series.height() as u64),
                    path.display()
                )?;
            }
        }
    }
    Ok(())
}

fn trim_float(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
    }
}

fn rate_table(g: &GroupProfile, rel: bool) -> comfy_table::Table {
    let mut t = output::table(
        &[
            "per minute",
            "mean",
            "p50",
            "p90",
            "p95",
            "p99",
            "p99.9",
            "max",
            "peak/mean",
            "busiest window",
        ],
        &[false, true, true, true, true, true, true, true, true, false],
    );
    let mut row = |name: &str, r: &RateStats| {
        t.add_row(vec![
            name.to_string(),
            thousands_f(r.mean, 1),
            thousands_f(r.p50, 1),
            thousands_f(r.p90, 1),
            thousands_f(r.p95, 1),
            thousands_f(r.p99, 1),
            thousands_f(r.p999, 1),
            thousands_f(r.max, 1),
            format!("{:.2}", r.peak_to_mean),
            format_time(r.busiest_window_start_us, rel),
        ]);
    };
    row("requests (RPM)", &g.rpm);
    row("tokens (TPM)", &g.tpm);
    row("prompt TPM", &g.prompt_tpm);
    row("completion TPM", &g.completion_tpm);
    match &g.ptu_weighted_tpm {
        Some(r) => row("PTU-weighted TPM", r),
        None => {
            t.add_row(vec![
                "PTU-weighted TPM".to_string(),
                "unavailable".to_string(),
            ]);
        }
    }
    t
}

fn dist_table(g: &GroupProfile) -> comfy_table::Table {
    let mut t = output::table(
        &[
            "per request",
            "mean",
            "min",
            "p50",
            "p90",
            "p95",
            "p99",
            "p99.9",
            "max",
        ],
        &[false, true, true, true, true, true, true, true, true],
    );
    for (name, d) in [
        ("prompt tokens", &g.prompt_per_request),
        ("completion tokens", &g.completion_per_request),
    ] {
        t.add_row(vec![
            name.to_string(),
            thousands_f(d.mean, 1),
            thousands(d.min),
            thousands_f(d.p50, 0),
            thousands_f(d.p90, 0),
            thousands_f(d.p95, 0),
            thousands_f(d.p99, 0),
            thousands_f(d.p999, 0),
            thousands(d.max),
        ]);
    }
    t
}

fn group_table(groups: &[GroupProfile], rel: bool) -> comfy_table::Table {
    let mut header: Vec<String> = groups
        .first()
        .map(|g| g.key.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let base = header.len();
    for h in [
        "requests",
        "failed",
        "mean RPM",
        "p95 RPM",
        "mean TPM",
        "p95 TPM",
        "max TPM",
        "peak/mean",
        "busiest window",
    ] {
        header.push(h.to_string());
    }
    let refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let numeric: Vec<bool> = (0..header.len())
        .map(|i| i >= base && i < header.len() - 1)
        .collect();
    let mut t = output::table(&refs, &numeric);
    for g in groups {
        let mut row: Vec<String> = g.key.iter().map(|(_, v)| v.clone()).collect();
        row.extend([
            thousands(g.requests),
            thousands(g.failed),
            thousands_f(g.rpm.mean, 1),
            thousands_f(g.rpm.p95, 1),
            thousands_f(g.tpm.mean, 1),
            thousands_f(g.tpm.p95, 1),
            thousands_f(g.tpm.max, 1),
            format!("{:.2}", g.tpm.peak_to_mean),
            format_time(g.tpm.busiest_window_start_us, rel),
        ]);
        t.add_row(row);
    }
    t
}

/// Writes the per-window series.
fn write_series(p: &Profile, path: &Path, fmt: SeriesFormat) -> anyhow::Result<()> {
    use polars::prelude::{AnyValue, Column, DataType, ParquetWriter, TimeUnit};
    let mut df = p.series.clone();
    match fmt {
        SeriesFormat::Parquet => {
            if !p.relative_time {
                let ts = df
                    .column("window_start_us")?
                    .cast(&DataType::Datetime(TimeUnit::Microseconds, None))?
                    .with_name("window_start_utc".into());
                df.with_column(ts)?;
            }
            let f = std::fs::File::create(path)?;
            ParquetWriter::new(f).finish(&mut df)?;
        }
        SeriesFormat::Csv => {
            let f = std::fs::File::create(path)?;
            let mut w = csv::Writer::from_writer(std::io::BufWriter::new(f));
            let names: Vec<String> = df
                .get_column_names()
                .iter()
                .map(|s| s.to_string())
                .collect();
            let mut header = vec!["window_start".to_string()];
            header.extend(names.iter().filter(|n| *n != "window_start_us").cloned());
            w.write_record(&header)?;
            let cols: Vec<Column> = names
                .iter()
                .map(|n| df.column(n).cloned())
                .collect::<Result<_, _>>()?;
            let starts = df.column("window_start_us")?.i64()?.clone();
            for r in 0..df.height() {
                let mut rec = vec![format_time(starts.get(r).unwrap_or(0), p.relative_time)];
                for (n, c) in names.iter().zip(&cols) {
                    if n == "window_start_us" {
                        continue;
                    }
                    let v = c.get(r)?;
                    rec.push(match v {
                        AnyValue::String(s) => s.to_string(),
                        AnyValue::StringOwned(s) => s.to_string(),
                        AnyValue::Float64(x) => format!("{}", (x * 1000.0).round() / 1000.0),
                        other => other.to_string(),
                    });
                }
                w.write_record(&rec)?;
            }
            w.flush()?;
        }
    }
    Ok(())
}
