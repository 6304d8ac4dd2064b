//! `spillway plan`: the product's main job. Sweeps the sizes of provisioned deployments through
//! the simulator on real traffic and recommends the cheapest set-up that meets the service
//! level, beside the capacity calculator's answer and all pay-as-you-go; then the quota the
//! spillover needs, how the answer moves with the assumptions, and token budgets.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use rayon::prelude::*;
use serde::Serialize;

use super::workload::{self, Traffic, WorkloadConfig};
use super::{Context, ExitStatus};
use crate::catalog::{HOURS_PER_MONTH, PriceQuote, Reservation};
use crate::cli::{PlanArgs, PlanCore, ReportFormat};
use crate::output::{self, duration, share, thousands, thousands_f, usd};
use crate::plan::advice::{self, BreakEven, Calculator, ChunkPlan, OverLimit, QuotaNeed};
use crate::plan::{Candidate, Mix, Scenario, Search, ServiceLevel, reservation_mix, search};
use crate::sim::topology::{Admission, ParseOptions, defaults};
use crate::sim::workload::MaxTokensEstimate;
use crate::sim::{SimOptions, SimRequest, Topology};

/// Plans need this much traffic: Azure's sizing guide runs a shape for at least ten minutes to
/// reach steady state, and monthly costs are scaled from the span.
const MIN_SPAN_US: i64 = 10 * 60_000_000;
/// Prompt caching starts at 1,024 cached tokens and grows in steps of 128 (prompt-caching).
const CACHE_MIN: u32 = 1024;
const CACHE_STEP: u32 = 128;
/// Burst tolerances the sensitivity table tries (seconds of throughput in the bucket).
const BUCKETS_S: [f64; 3] = [10.0, 30.0, 60.0];
/// The percentile clients would set max_tokens to in the sensitivity and max_tokens advice.
const MAX_TOKENS_PCT: f64 = 0.99;
/// The reservation mix needs the hour-of-day profile of at least one whole day.
const MIX_MIN_SPAN_US: i64 = 24 * 3_600_000_000;
/// Truncation points of the token-budget advice.
const TRUNCATE_AT: [(f64, &str); 3] = [(0.90, "p90"), (0.95, "p95"), (0.99, "p99")];

/// Validated `plan` configuration.
pub(crate) struct Config {
    pub(crate) topology: PathBuf,
    pub(crate) topo: Topology,
    /// Deployments to size.
    pub(crate) sized: Vec<usize>,
    pub(crate) workload: WorkloadConfig,
    pub(crate) reservation: Reservation,
    pub(crate) slo: ServiceLevel,
    pub(crate) max_candidates: usize,
    pub(crate) cache_hit_rate: Option<f64>,
    pub(crate) as_model: Option<String>,
    pub(crate) budget: Option<u32>,
    pub(crate) chunk_size: Option<u32>,
    pub(crate) overlap: u32,
    pub(crate) sensitivity: bool,
    pub(crate) out: Option<PathBuf>,
    pub(crate) format: ReportFormat,
    pub(crate) notes: Vec<String>,
}

fn configure(
    ctx: &Context<'_>,
    args: PlanCore,
    out: Option<PathBuf>,
    format: ReportFormat,
) -> anyhow::Result<Config> {
    let as_model = args.workload.input.as_model.clone();
    let topo = Topology::load_with(
        &args.topology,
        &ctx.catalog,
        &ParseOptions {
            allow_auto: true,
            model: as_model.clone(),
        },
    )?;
    let mut notes = Vec::new();
    let mut sized = topo.auto.clone();
    for name in &args.size {
        let Some(i) = topo.deployments.iter().position(|d| &d.name == name) else {
            bail!(
                "--size {name}: no such deployment in {} (deployments: {})",
                args.topology.display(),
                topo.deployments
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        if !topo.deployments[i].is_provisioned() {
            bail!(
                "--size {name}: a {} deployment has no PTUs to size; its capacity is quota",
                topo.deployments[i].sku
            );
        }
        if !sized.contains(&i) {
            sized.push(i);
        }
    }
    if sized.is_empty() {
        sized = (0..topo.deployments.len())
            .filter(|&i| topo.deployments[i].is_provisioned())
            .collect();
        if sized.is_empty() {
            bail!(
                "{}: no provisioned deployment to size: add one (sku = \"GlobalProvisionedManaged\", capacity = \"auto\") to plan PTUs",
                args.topology.display()
            );
        }
        notes.push(format!(
            "sized every provisioned deployment ({}); name some with --size or write capacity = \"auto\" to keep the others as written",
            sized
                .iter()
                .map(|&i| topo.deployments[i].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    sized.sort_unstable();
    if let Some(n) = args.chunk_size
        && n <= args.overlap
    {
        bail!(
            "--chunk-size {n}: must be larger than --overlap {}",
            args.overlap
        );
    }
    if args.budget == Some(0) {
        bail!("--budget 0: a prompt budget must be positive");
    }
    let workload = workload::configure(
        &args.workload,
        args.growth,
        "--growth",
        &topo,
        &ctx.catalog,
        &[],
    )?;
    super::require_ext(out.as_deref(), "--out", "csv", "the curve is")?;
    Ok(Config {
        topology: args.topology,
        topo,
        sized,
        workload,
        reservation: args.reservation.into(),
        slo: ServiceLevel {
            max_failure_rate: args.max_failure_rate,
            max_p99_latency_ms: args.max_p99_latency,
            max_spill: args.max_spill,
        },
        max_candidates: args.max_candidates as usize,
        cache_hit_rate: args.cache_hit_rate,
        as_model,
        budget: args.budget,
        chunk_size: args.chunk_size,
        overlap: args.overlap,
        sensitivity: !args.no_sensitivity,
        out,
        format,
        notes,
    })
}

/// Cached tokens of a `prompt` when `rate` of it is served from the cache: none below 1,024,
/// then 1,024 plus whole steps of 128.
fn cached_tokens(prompt: u32, rate: f64) -> u32 {
    let want = (prompt as f64 * rate).floor() as u32;
    if want < CACHE_MIN {
        0
    } else {
        (CACHE_MIN + (want - CACHE_MIN) / CACHE_STEP * CACHE_STEP).min(prompt)
    }
}

/// The simulator's requests for this plan: the trace shaped by growth and the max_tokens
/// rule, with the cache-hit what-if applied.
fn plan_requests(
    cfg: &Config,
    traffic: &Traffic,
    estimate: MaxTokensEstimate,
) -> anyhow::Result<Vec<SimRequest>> {
    let mut reqs = workload::requests(&cfg.workload, traffic, cfg.workload.scale, estimate)?;
    if let Some(rate) = cfg.cache_hit_rate {
        for r in reqs.iter_mut().filter(|r| r.cached == 0) {
            r.cached = cached_tokens(r.prompt, rate);
        }
    }
    Ok(reqs)
}

/// One sensitivity row: the recommendation under another assumption.
#[derive(Serialize)]
pub(crate) struct SensitivityRow {
    pub(crate) assumption: String,
    pub(crate) bucket_s: f64,
    pub(crate) max_tokens: String,
    pub(crate) recommended: Option<Vec<u32>>,
    pub(crate) monthly_cost_usd: Option<f64>,
    pub(crate) failure_rate: Option<f64>,
    /// Differs from the main recommendation.
    pub(crate) moves: bool,
}

#[derive(Serialize)]
pub(crate) struct TruncationRow {
    pub(crate) at: String,
    /// Prompts cut to this many tokens.
    pub(crate) cap_tokens: u32,
    pub(crate) requests_cut: u64,
    pub(crate) prompt_tokens_saved: u64,
    /// Per month, at the pay-as-you-go input price.
    pub(crate) usd_saved_per_month: f64,
    /// The smallest sizes meeting the service level with truncated prompts.
    pub(crate) recommended_after: Option<Vec<u32>>,
    pub(crate) ptu_saved: Option<i64>,
}

#[derive(Serialize)]
pub(crate) struct MaxTokensAdvice {
    /// Requests that carried no max_tokens of their own.
    pub(crate) requests_without: u64,
    /// Mean completion budget charged at admission as the clients are, and if they set pNN.
    pub(crate) mean_charged_as_is: f64,
    pub(crate) set_to: u32,
    pub(crate) mean_charged_if_set: f64,
    /// PTU-weighted admission charge saved (share).
    pub(crate) charge_saved: f64,
    pub(crate) ptu_as_is: Option<u64>,
    pub(crate) ptu_if_set: Option<u64>,
}

#[derive(Serialize)]
pub(crate) struct TokenBudget {
    pub(crate) model: String,
    pub(crate) input_limit: OverLimit,
    pub(crate) budget: Option<OverLimit>,
    pub(crate) truncation: Vec<TruncationRow>,
    pub(crate) max_tokens: Option<MaxTokensAdvice>,
    pub(crate) chunking: Option<ChunkPlan>,
}

#[derive(Serialize)]
pub(crate) struct DeploymentSize {
    pub(crate) name: String,
    pub(crate) capacity: u32,
}

#[derive(Serialize)]
pub(crate) struct Recommended {
    pub(crate) deployments: Vec<DeploymentSize>,
    pub(crate) monthly_cost_usd: f64,
    pub(crate) ptu_monthly_usd: f64,
    pub(crate) payg_monthly_usd: f64,
    pub(crate) failure_rate: f64,
    pub(crate) p99_latency_ms: f64,
    pub(crate) spill_share: f64,
}

#[derive(Serialize)]
pub(crate) struct CalculatorOut {
    pub(crate) ptu_peak: Vec<u32>,
    pub(crate) ptu_p99: Vec<u32>,
    /// The peak-minute answer, simulated and costed.
    pub(crate) monthly_cost_usd: Option<f64>,
    pub(crate) monthly_cost_usd_p99: Option<f64>,
    pub(crate) failure_rate: Option<f64>,
    pub(crate) failure_rate_p99: Option<f64>,
    pub(crate) details: Vec<Calculator>,
}

#[derive(Serialize)]
pub(crate) struct AllPayg {
    /// Every request at the pay-as-you-go list price, quota assumed sufficient.
    pub(crate) monthly_cost_usd: f64,
    pub(crate) sku: crate::catalog::Sku,
    /// The topology with no PTU at all, simulated with the quota it has.
    pub(crate) no_ptu: Option<Candidate>,
}

#[derive(Serialize)]
pub(crate) struct Savings {
    pub(crate) vs_calculator_peak_usd: Option<f64>,
    pub(crate) vs_calculator_p99_usd: Option<f64>,
    pub(crate) vs_all_payg_usd: Option<f64>,
}

#[derive(Serialize)]
pub(crate) struct Scaling {
    pub(crate) span_hours: f64,
    pub(crate) month_factor: f64,
    pub(crate) how: &'static str,
}

#[derive(Serialize)]
pub(crate) struct RunMeta {
    pub(crate) topology: String,
    pub(crate) workload: String,
    pub(crate) seed: u64,
    pub(crate) reservation: Reservation,
    pub(crate) max_tokens_estimate: String,
    pub(crate) growth: f64,
    pub(crate) cache_hit_rate: Option<f64>,
    pub(crate) as_model: Option<String>,
    pub(crate) sized: Vec<String>,
    pub(crate) simulations: usize,
}

#[derive(Serialize)]
pub(crate) struct Doc {
    pub(crate) sentence: String,
    pub(crate) recommended: Option<Recommended>,
    pub(crate) calculator: CalculatorOut,
    pub(crate) all_payg: AllPayg,
    pub(crate) break_even: Vec<BreakEven>,
    pub(crate) savings: Savings,
    pub(crate) service_level: ServiceLevel,
    pub(crate) scaling: Scaling,
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) quota: Vec<QuotaNeed>,
    pub(crate) reservation_mix: Option<Mix>,
    pub(crate) sensitivity: Vec<SensitivityRow>,
    pub(crate) token_budget: Option<TokenBudget>,
    pub(crate) traffic: advice::TrafficStats,
    pub(crate) run: RunMeta,
    pub(crate) notes: Vec<String>,
}

pub fn run(ctx: &mut Context<'_>, args: PlanArgs) -> anyhow::Result<ExitStatus> {
    let cfg = configure(ctx, args.core, args.out, args.format)?;
    let a = analyse(ctx, cfg)?;
    if let Some(path) = &a.cfg.out {
        write_curve(path, &a.cfg, &a.result)
            .with_context(|| format!("--out {}", path.display()))?;
    }
    match a.cfg.format {
        ReportFormat::Json => output::write_json(&mut *ctx.out, &a.doc)?,
        ReportFormat::Table | ReportFormat::Markdown => render(ctx, &a.cfg, &a.doc, &a.result)?,
    }
    Ok(ExitStatus::Success)
}

/// `plan`'s core, for `plan` and `report`: the configuration from the shared flags.
pub(crate) fn configure_core(ctx: &Context<'_>, core: PlanCore) -> anyhow::Result<Config> {
    configure(ctx, core, None, ReportFormat::Table)
}

/// Everything a plan found, for the renderers.
pub(crate) struct Analysis {
    pub cfg: Config,
    pub doc: Doc,
    pub result: Search,
    /// The requests every candidate replayed.
    pub reqs: Vec<SimRequest>,
    /// The recommended set-up (or the one that fails least), simulated with its timeline.
    pub focus: Option<(Topology, crate::sim::SimReport)>,
}

/// Reads the traffic once and plans.
pub(crate) fn analyse(ctx: &mut Context<'_>, cfg: Config) -> anyhow::Result<Analysis> {
    let traffic = workload::load(&cfg.workload, ctx, &cfg.topo, "--growth")?;
    let estimate = cfg.workload.estimate;
    let reqs = plan_requests(&cfg, &traffic, estimate)?;
    let span_us = reqs.last().map_or(0, |r| r.t_us) - reqs.first().map_or(0, |r| r.t_us);
    if span_us < MIN_SPAN_US {
        bail!(
            "{}: the traffic spans {}; plan needs at least 10 minutes (costs are scaled from the span to a month, and PTU utilisation needs minutes to settle)",
            traffic.label,
            duration(span_us)
        );
    }
    let month_factor = HOURS_PER_MONTH / (span_us as f64 / 3.6e9);
    let stats = advice::traffic_stats(&reqs);
    let topo = &cfg.topo;
    let sc = Scenario {
        topo,
        sized: &cfg.sized,
        reqs: &reqs,
        seed: cfg.workload.seed,
        reservation: cfg.reservation,
        month_factor,
        slo: cfg.slo,
    };

    // The calculator's answer per sized deployment (its model and deployment type), the total
    // split evenly across several.
    let n = cfg.sized.len() as f64;
    let mut details = Vec::new();
    let (mut peak, mut p99) = (Vec::new(), Vec::new());
    for (j, &d) in cfg.sized.iter().enumerate() {
        let dep = &topo.deployments[d];
        let Some(p) = dep.model.ptu else {
            bail!(
                "{}: the catalog has no PTU figures for {}",
                dep.name,
                dep.model.name
            );
        };
        let rule = sc.rule(j);
        let c = advice::calculator(&dep.model.name, &stats, &p, rule);
        peak.push(rule.round_up(c.ptu_raw_peak / n));
        p99.push(rule.round_up(c.ptu_raw_p99 / n));
        details.push(c);
    }
    let zero = vec![0u32; cfg.sized.len()];
    let counter = super::progress::Counter::new(ctx.quiet);
    counter.stage("sweeping sizes:");
    let tick = |k: usize| counter.tick(k);
    let result = search(
        &sc,
        &p99,
        &[peak.clone(), p99.clone(), zero.clone()],
        cfg.max_candidates,
        &tick,
    )?;
    let find = |caps: &[u32]| {
        result
            .candidates
            .iter()
            .find(|c| c.capacities == caps)
            .cloned()
    };
    let rec = result.recommended.map(|i| result.candidates[i].clone());

    // The recommended set-up (or the one that fails least), simulated again with its timeline
    // for the quota.
    let focus = rec.clone().or_else(|| {
        result
            .candidates
            .iter()
            .min_by(|a, b| a.failure_rate.total_cmp(&b.failure_rate))
            .cloned()
    });
    let focus_run = match &focus {
        Some(c) => sc
            .simulate(
                &c.capacities,
                SimOptions {
                    timeline: true,
                    reservation: cfg.reservation,
                    ..SimOptions::seeded(cfg.workload.seed)
                },
            )?
            .map(|r| {
                let t = sc.topology(&c.capacities).unwrap_or_else(|| topo.clone());
                (t, r)
            }),
        None => None,
    };
    let quota = focus_run
        .as_ref()
        .map_or(Vec::new(), |(t, r)| advice::quota(t, r));

    // All pay-as-you-go at list price, and the break-even utilisation, for the first sized
    // deployment's model and spill SKU.
    let first = &topo.deployments[cfg.sized[0]];
    let spill_sku = spill_sku_of(first.sku);
    let payg_price: Option<PriceQuote> = first.price.clone();
    let all_payg = AllPayg {
        monthly_cost_usd: payg_price.as_ref().map_or(0.0, |p| {
            reqs.iter()
                .map(|r| {
                    let cached = r.cached.min(r.prompt) as u64;
                    p.cost(r.prompt as u64 - cached, cached, r.completion as u64)
                })
                .sum::<f64>()
                * month_factor
        }),
        sku: spill_sku,
        no_ptu: find(&zero),
    };
    let break_even: Vec<BreakEven> = cfg
        .sized
        .iter()
        .filter_map(|&d| {
            let dep = &topo.deployments[d];
            Some(advice::break_even(
                &dep.model.name,
                spill_sku_of(dep.sku),
                &reqs,
                dep.model.ptu.as_ref()?,
                dep.price.as_ref()?,
                dep.ptu_price.as_ref()?,
            ))
        })
        .collect();

    // Sensitivity: the same search under other burst tolerances and max_tokens rules.
    let mut sensitivity = Vec::new();
    let mut set_to = 0;
    let mut ptu_if_set = None;
    if cfg.sensitivity {
        counter.stage("sensitivity:");
        let base_bucket = base_bucket_s(topo, &cfg.sized);
        let hint = rec.as_ref().map_or(p99.clone(), |c| c.capacities.clone());
        let budget = (cfg.max_candidates / 2).max(8);
        let mut rows: Vec<(String, f64, MaxTokensEstimate)> = BUCKETS_S
            .iter()
            .map(|&b| (format!("burst tolerance {b} s"), b, estimate))
            .collect();
        let pct = MaxTokensEstimate::Percentile(MAX_TOKENS_PCT);
        if estimate != pct {
            rows.push((
                format!("clients set max_tokens = {}", pct.label()),
                base_bucket,
                pct,
            ));
        }
        for (name, bucket, est) in rows {
            let same = (bucket - base_bucket).abs() < 1e-9 && est == estimate;
            let (found, label) = if same {
                (rec.clone(), estimate.label())
            } else {
                let t = topo.with_bucket_s(bucket);
                let r2 = if est == estimate {
                    None
                } else {
                    Some(plan_requests(&cfg, &traffic, est)?)
                };
                if let Some(r2) = &r2
                    && let Some(x) = r2.iter().find(|r| r.budget != crate::sim::Budget::Own)
                {
                    set_to = x.max_tokens;
                }
                let sc2 = Scenario {
                    topo: &t,
                    reqs: r2.as_deref().unwrap_or(&reqs),
                    ..sc_like(&sc)
                };
                let s = search(&sc2, &hint, &[], budget, &tick)?;
                let found = s.recommended.map(|i| s.candidates[i].clone());
                if est != estimate {
                    ptu_if_set = found.as_ref().map(Candidate::total_ptu);
                }
                (found, est.label())
            };
            let moves =
                found.as_ref().map(|c| &c.capacities) != rec.as_ref().map(|c| &c.capacities);
            sensitivity.push(SensitivityRow {
                assumption: name,
                bucket_s: bucket,
                max_tokens: label,
                recommended: found.as_ref().map(|c| c.capacities.clone()),
                monthly_cost_usd: found.as_ref().map(|c| c.monthly_cost_usd),
                failure_rate: found.as_ref().map(|c| c.failure_rate),
                moves,
            });
        }
    }

    let mix = match &rec {
        Some(c) if span_us >= MIX_MIN_SPAN_US => {
            counter.stage("reservation mix:");
            reservation_mix(&sc, c, &tick)?
        }
        _ => None,
    };

    counter.stage("token budgets:");
    let token_budget = token_budget(&cfg, &sc, rec.as_ref(), &reqs, set_to, ptu_if_set, &tick)?;
    counter.finish();

    let calc = CalculatorOut {
        monthly_cost_usd: find(&peak).map(|c| c.monthly_cost_usd),
        monthly_cost_usd_p99: find(&p99).map(|c| c.monthly_cost_usd),
        failure_rate: find(&peak).map(|c| c.failure_rate),
        failure_rate_p99: find(&p99).map(|c| c.failure_rate),
        ptu_peak: peak.clone(),
        ptu_p99: p99.clone(),
        details,
    };
    let savings = Savings {
        vs_calculator_peak_usd: rec
            .as_ref()
            .zip(calc.monthly_cost_usd)
            .map(|(r, c)| c - r.monthly_cost_usd),
        vs_calculator_p99_usd: rec
            .as_ref()
            .zip(calc.monthly_cost_usd_p99)
            .map(|(r, c)| c - r.monthly_cost_usd),
        vs_all_payg_usd: rec
            .as_ref()
            .map(|r| all_payg.monthly_cost_usd - r.monthly_cost_usd),
    };
    let mut notes = cfg.notes.clone();
    notes.extend(traffic.notes.iter().cloned());
    notes.push(format!(
        "monthly costs: PTUs for a whole 730-hour month at the {} price, plus the trace's pay-as-you-go tokens scaled by 730 h ÷ its span ({}, × {}): this assumes the trace is representative of the month.",
        cfg.reservation.name(),
        duration(span_us),
        thousands_f(month_factor, 1)
    ));
    notes.push(workload::admission_note(&reqs, estimate, topo));
    if result.hit_ceiling {
        notes.push(format!(
            "the sweep reached Azure's largest deployment ({} PTU) without the 429s stopping: the traffic needs more than one deployment (another region, or several deployments behind the gateway).",
            thousands(crate::catalog::MAX_PTU_PER_DEPLOYMENT as u64)
        ));
    }
    if rec.is_none() {
        notes.push(why_none(&result, &cfg));
    }
    let moved: Vec<&SensitivityRow> = sensitivity.iter().filter(|r| r.moves).collect();
    if !moved.is_empty() {
        notes.push(format!(
            "the answer moves with an assumption spillway cannot read from a price list ({}): see the sensitivity table, and settle it from what your deployment saw: `spillway calibrate` fits the burst tolerance and PTU throughput to your APIM or LiteLLM logs (or compare with Azure Monitor: Provisioned-managed Utilization V2).",
            moved
                .iter()
                .map(|r| r.assumption.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let (Some(r), Some(z)) = (&rec, &all_payg.no_ptu)
        && all_payg.monthly_cost_usd < r.monthly_cost_usd
        && !z.meets
    {
        let (rpm, tpm) = advice::standard_peak(&reqs, first.default_max_tokens);
        let rpm_per_1000 = first.model.standard.rpm_per_1000_tpm;
        let tpm_for_rpm = (rpm as f64 / rpm_per_1000 * 1000.0).ceil() as u64;
        let need = tpm.max(tpm_for_rpm).div_ceil(1000) * 1000;
        notes.push(format!(
            "all pay-as-you-go would cost {}/month, {}/month less than the recommendation, if the pay-as-you-go quota took the whole peak: this topology's quota fails {} without PTUs. The busiest minute asks {} TPM as Azure's counter counts it (prompt + max_tokens) and {} RPM: about {} TPM of {} {} quota (in one region, or spread over the gateway's regions) would serve it without PTUs.",
            usd(all_payg.monthly_cost_usd),
            usd(r.monthly_cost_usd - all_payg.monthly_cost_usd),
            share(z.failed, z.arrived),
            thousands(tpm),
            thousands(rpm),
            thousands(need),
            first.model.name,
            spill_sku
        ));
    }
    if span_us < MIX_MIN_SPAN_US {
        notes.push(format!(
            "no reservation mix: the traffic spans {}; a base reservation plus hourly PTUs in the busy hours needs at least one whole day's hour-of-day profile",
            duration(span_us)
        ));
    } else if mix.is_none() && rec.as_ref().is_some_and(|c| c.total_ptu() > 0) {
        notes.push(
            "no reservation mix: every hour of the day has a minute that needs the recommended size (or several deployments are sized): one size all day".into(),
        );
    } else if let Some(m) = &mix {
        notes.push(
            "the reservation mix resizes the deployment at the hour: Azure bills PTUs above the reservation by the hour, and capacity released at night is not guaranteed to come back in the morning (provisioned-throughput-onboarding)".into(),
        );
        if !m.meets {
            notes.push("no reservation mix met the service level: keep one size".into());
        }
    }
    for q in quota.iter().filter(|q| q.short) {
        notes.push(quota_warning(q));
    }

    let sentence = sentence(&cfg, rec.as_ref(), &calc, &all_payg, &quota);
    let doc = Doc {
        sentence,
        recommended: rec.as_ref().map(|c| Recommended {
            deployments: cfg
                .sized
                .iter()
                .zip(&c.capacities)
                .map(|(&d, &cap)| DeploymentSize {
                    name: topo.deployments[d].name.clone(),
                    capacity: cap,
                })
                .collect(),
            monthly_cost_usd: c.monthly_cost_usd,
            ptu_monthly_usd: c.ptu_monthly_usd,
            payg_monthly_usd: c.payg_monthly_usd,
            failure_rate: c.failure_rate,
            p99_latency_ms: c.p99_latency_ms,
            spill_share: c.spill_share,
        }),
        calculator: calc,
        all_payg,
        break_even,
        savings,
        service_level: cfg.slo,
        scaling: Scaling {
            span_hours: span_us as f64 / 3.6e9,
            month_factor,
            how: "PTUs × price × 730 h + pay-as-you-go cost of the span × 730 h ÷ span",
        },
        candidates: result.candidates.clone(),
        quota,
        reservation_mix: mix,
        sensitivity,
        token_budget,
        traffic: stats,
        run: RunMeta {
            topology: cfg.topology.display().to_string(),
            workload: traffic.label.clone(),
            seed: cfg.workload.seed,
            reservation: cfg.reservation,
            max_tokens_estimate: estimate.label(),
            growth: cfg.workload.scale,
            cache_hit_rate: cfg.cache_hit_rate,
            as_model: cfg.as_model.clone(),
            sized: cfg
                .sized
                .iter()
                .map(|&d| topo.deployments[d].name.clone())
                .collect(),
            simulations: result.candidates.len(),
        },
        notes,
    };
    Ok(Analysis {
        cfg,
        doc,
        result,
        reqs,
        focus: focus_run,
    })
}

/// A copy of the scenario's settings, to override some of them.
fn sc_like<'a>(sc: &Scenario<'a>) -> Scenario<'a> {
    Scenario {
        topo: sc.topo,
        sized: sc.sized,
        reqs: sc.reqs,
        seed: sc.seed,
        reservation: sc.reservation,
        month_factor: sc.month_factor,
        slo: sc.slo,
    }
}

/// The burst tolerance of the sized deployments as written (the first one's).
fn base_bucket_s(topo: &Topology, sized: &[usize]) -> f64 {
    sized
        .iter()
        .find_map(|&d| match topo.deployments[d].admission {
            Admission::Provisioned { bucket_s, .. } => Some(bucket_s),
            Admission::Standard { .. } => None,
        })
        .unwrap_or(defaults::BUCKET_S)
}

fn spill_sku_of(sku: crate::catalog::Sku) -> crate::catalog::Sku {
    use crate::catalog::Sku;
    match sku {
        Sku::GlobalProvisionedManaged => Sku::GlobalStandard,
        Sku::DataZoneProvisionedManaged => Sku::DataZoneStandard,
        Sku::ProvisionedManaged => Sku::Standard,
        other => other,
    }
}

/// The smallest sizes (scaled down together from `upper`) that still meet the service level
/// on `sc`'s requests: a bisection over 20 even fractions of `upper`.
fn smallest_meeting(
    sc: &Scenario<'_>,
    upper: &[u32],
    progress: &(dyn Fn(usize) + Sync),
) -> anyhow::Result<Option<Vec<u32>>> {
    const STEPS: u32 = 20;
    let caps_at = |k: u32| -> Vec<u32> {
        upper
            .iter()
            .enumerate()
            .map(|(j, &u)| {
                if k == 0 || u == 0 {
                    0
                } else {
                    sc.rule(j)
                        .round_up(u as f64 * k as f64 / STEPS as f64)
                        .min(u)
                }
            })
            .collect()
    };
    let meets = |k: u32| -> anyhow::Result<bool> {
        progress(1);
        Ok(sc.evaluate(&caps_at(k))?.is_some_and(|c| c.meets))
    };
    if !meets(STEPS)? {
        return Ok(None);
    }
    let (mut lo, mut hi) = (0u32, STEPS);
    if meets(0)? {
        return Ok(Some(caps_at(0)));
    }
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if meets(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(Some(caps_at(hi)))
}

#[allow(clippy::too_many_arguments)]
fn token_budget(
    cfg: &Config,
    sc: &Scenario<'_>,
    rec: Option<&Candidate>,
    reqs: &[SimRequest],
    set_to: u32,
    ptu_if_set: Option<u64>,
    progress: &(dyn Fn(usize) + Sync),
) -> anyhow::Result<Option<TokenBudget>> {
    let dep = &cfg.topo.deployments[cfg.sized[0]];
    let limit = dep.max_prompt_tokens;
    let input_price = dep.price.as_ref().map_or(0.0, |p| p.input);
    let budget = cfg.budget.map(|b| advice::over_limit(reqs, b as u64));
    let mut truncation = Vec::new();
    let mut points: Vec<(String, u32)> = TRUNCATE_AT
        .iter()
        .map(|&(p, name)| (name.to_string(), advice::prompt_percentile(reqs, p)))
        .collect();
    if let Some(b) = cfg.budget {
        points.push((format!("budget {}", thousands(b as u64)), b));
    }
    // Each truncation point's search is sequential (a bisection); the points run in parallel.
    let afters: Vec<anyhow::Result<Option<Vec<u32>>>> = points
        .par_iter()
        .map(|(_, cap)| {
            let cap = *cap;
            match rec {
                Some(c) if cfg.sensitivity && reqs.iter().any(|r| r.prompt > cap) => {
                    let t = advice::truncated(reqs, cap);
                    let sc2 = Scenario {
                        reqs: &t,
                        ..sc_like(sc)
                    };
                    smallest_meeting(&sc2, &c.capacities, progress)
                }
                Some(c) if !reqs.iter().any(|r| r.prompt > cap) => Ok(Some(c.capacities.clone())),
                _ => Ok(None),
            }
        })
        .collect();
    for ((name, cap), after) in points.into_iter().zip(afters) {
        let after = after?;
        let cut: Vec<&SimRequest> = reqs.iter().filter(|r| r.prompt > cap).collect();
        let saved: u64 = cut.iter().map(|r| (r.prompt - cap) as u64).sum();
        truncation.push(TruncationRow {
            at: name,
            cap_tokens: cap,
            requests_cut: cut.len() as u64,
            prompt_tokens_saved: saved,
            usd_saved_per_month: saved as f64 * input_price / 1e6 * sc.month_factor,
            ptu_saved: rec
                .zip(after.as_ref())
                .map(|(c, a)| c.total_ptu() as i64 - a.iter().map(|&x| x as i64).sum::<i64>()),
            recommended_after: after,
        });
    }
    let without = reqs
        .iter()
        .filter(|r| r.budget != crate::sim::Budget::Own)
        .count() as u64;
    let max_tokens = (without > 0 && set_to > 0).then(|| {
        let charged: f64 = reqs
            .iter()
            .filter(|r| r.budget != crate::sim::Budget::Own)
            .map(|r| match r.budget {
                crate::sim::Budget::ModelDefault => {
                    dep.default_max_tokens.unwrap_or(r.completion) as f64
                }
                _ => r.max_tokens as f64,
            })
            .sum::<f64>()
            / without as f64;
        let w = dep.model.ptu.map_or(1.0, |p| p.output_weight);
        let prompt_mean = reqs
            .iter()
            .map(|r| (r.prompt - r.cached.min(r.prompt)) as f64)
            .sum::<f64>()
            / reqs.len().max(1) as f64;
        let before = prompt_mean + w * charged;
        let after = prompt_mean + w * set_to as f64;
        MaxTokensAdvice {
            requests_without: without,
            mean_charged_as_is: charged,
            set_to,
            mean_charged_if_set: set_to as f64,
            charge_saved: if before > 0.0 {
                1.0 - after / before
            } else {
                0.0
            },
            ptu_as_is: rec.map(Candidate::total_ptu),
            ptu_if_set,
        }
    });
    let chunk_limit = cfg.budget.map_or(limit, |b| b as u64);
    let chunking = reqs.iter().any(|r| r.prompt as u64 > chunk_limit).then(|| {
        let size = cfg
            .chunk_size
            .unwrap_or(chunk_limit.min(u32::MAX as u64) as u32);
        advice::chunk_plan(reqs, chunk_limit, size.max(cfg.overlap + 1), cfg.overlap)
    });
    Ok(Some(TokenBudget {
        model: dep.model.name.clone(),
        input_limit: advice::over_limit(reqs, limit),
        budget,
        truncation,
        max_tokens,
        chunking,
    }))
}

/// Why no candidate meets the service level, and what would.
fn why_none(result: &Search, cfg: &Config) -> String {
    let best = result
        .candidates
        .iter()
        .min_by(|a, b| a.failure_rate.total_cmp(&b.failure_rate));
    let Some(b) = best else {
        return "no candidate could be simulated".into();
    };
    let mut fixes = Vec::new();
    if b.other_throttled > 0 {
        fixes
            .push("more pay-as-you-go quota (the spillover deployments answered 429s)".to_string());
    }
    if b.timeouts > 0 {
        fixes.push(
            "a client timeout longer than the slowest answers (timeouts failed requests)".into(),
        );
    }
    if result.hit_ceiling {
        fixes.push("another region: the sweep reached the largest deployment".into());
    } else if b.sized_throttled > 0 {
        fixes.push("a larger size than the sweep reached (raise --max-candidates)".into());
    }
    if fixes.is_empty() {
        fixes.push("a looser service level".into());
    }
    format!(
        "no candidate meets the service level: the best fails {} ({}) at {} PTU, missing {}; what would fix it: {}.",
        share(b.failed, b.arrived),
        thousands(b.failed),
        thousands(b.total_ptu()),
        b.misses.join(", "),
        fixes.join("; ")
    ) + if cfg.slo.max_failure_rate == 0.0 {
        " (--max-failure-rate 0 allows no failure at all)"
    } else {
        ""
    }
}

fn quota_warning(q: &QuotaNeed) -> String {
    let need = q.peak_tpm.max(q.capacity_tpm);
    let request = need.div_ceil(1000) * 1000;
    format!(
        "quota: {} ({} {} in {}) is asked up to {} TPM and {} RPM at the peak minute (p99 minute {} TPM) against its {} TPM / {} RPM, and answered {} 429s: request {} TPM of {} {} quota in {}{}.",
        q.deployments.join(", "),
        q.model,
        q.sku,
        q.region,
        thousands(q.peak_tpm),
        thousands(q.peak_rpm),
        thousands(q.p99_tpm),
        thousands(q.capacity_tpm),
        thousands(q.capacity_rpm),
        thousands(q.throttled),
        thousands(request),
        q.model,
        q.sku,
        q.region,
        match q.default_quota_tpm {
            Some(d) => format!(" (the default is {} TPM)", thousands(d)),
            None => String::new(),
        }
    )
}

/// The recommendation in one sentence a person can forward.
fn sentence(
    cfg: &Config,
    rec: Option<&Candidate>,
    calc: &CalculatorOut,
    all_payg: &AllPayg,
    quota: &[QuotaNeed],
) -> String {
    let topo = &cfg.topo;
    let Some(c) = rec else {
        return "No set-up in the sweep meets the service level (see the notes).".into();
    };
    let ptus: Vec<String> = cfg
        .sized
        .iter()
        .zip(&c.capacities)
        .filter(|(_, cap)| **cap > 0)
        .map(|(&d, &cap)| {
            let dep = &topo.deployments[d];
            format!(
                "{} PTU of {} {} in {}",
                thousands(cap as u64),
                dep.model.name,
                dep.sku,
                topo.regions[dep.region].name
            )
        })
        .collect();
    let payg: Vec<String> = quota
        .iter()
        .map(|q| {
            format!(
                "{}K TPM of {} in {}",
                thousands(q.capacity_tpm / 1000),
                q.sku,
                q.region
            )
        })
        .collect();
    let head = if ptus.is_empty() {
        "No PTU: pay-as-you-go alone".to_string()
    } else {
        format!("{} on a {}", ptus.join(" and "), cfg.reservation.name())
    };
    let spill = if payg.is_empty() {
        String::new()
    } else if ptus.is_empty() {
        format!(" ({})", payg.join(", "))
    } else {
        format!(", with {} for spillover", payg.join(" and "))
    };
    let calc_text = match calc.monthly_cost_usd {
        Some(m) => format!(
            "the calculator's {} PTU: {}/month",
            calc.ptu_peak
                .iter()
                .map(|x| thousands(*x as u64))
                .collect::<Vec<_>>()
                .join(" + "),
            usd(m)
        ),
        None => "the calculator's answer left no backend".into(),
    };
    format!(
        "{head}{spill}: {}/month, {} failed, p99 {} — {calc_text}; all pay-as-you-go: {}/month.",
        usd(c.monthly_cost_usd),
        share(c.failed, c.arrived),
        duration((c.p99_latency_ms * 1e3) as i64),
        usd(all_payg.monthly_cost_usd)
    )
}

/// The recommendation beside the calculator (peak and p99 minute), no PTU and all
/// pay-as-you-go at list price: set-up, PTU, cost per month, failed, p99, whether it meets the
/// service level, and what the recommendation saves against it (`per` after each amount).
pub(crate) fn baseline_rows(result: &Search, doc: &Doc, per: &str) -> Vec<Vec<String>> {
    let saving_text = |s: f64| {
        if s < 0.0 {
            format!("costs {} more{per}", usd(-s))
        } else {
            format!("{}{per}", usd(s))
        }
    };
    let row = |name: &str, c: Option<&Candidate>, saving: Option<f64>| -> Vec<String> {
        match c {
            Some(c) => vec![
                name.to_string(),
                caps_text(&c.capacities),
                usd(c.monthly_cost_usd),
                share(c.failed, c.arrived),
                duration((c.p99_latency_ms * 1e3) as i64),
                if c.meets {
                    "yes".into()
                } else {
                    format!("no ({})", c.misses.join(", "))
                },
                match saving {
                    None => "–".into(),
                    Some(_) if !c.meets => "– (misses the service level)".into(),
                    Some(s) => saving_text(s),
                },
            ],
            None => vec![
                name.to_string(),
                "–".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                "no backend left".into(),
                "–".into(),
            ],
        }
    };
    let rec = result.recommended.map(|i| &result.candidates[i]);
    let find = |caps: &[u32]| result.candidates.iter().find(|c| c.capacities == caps);
    vec![
        row("recommended", rec, None),
        row(
            "calculator, peak minute",
            find(&doc.calculator.ptu_peak),
            doc.savings.vs_calculator_peak_usd,
        ),
        row(
            "calculator, p99 minute",
            find(&doc.calculator.ptu_p99),
            doc.savings.vs_calculator_p99_usd,
        ),
        row(
            "no PTU (this topology's pay-as-you-go quota)",
            doc.all_payg.no_ptu.as_ref(),
            rec.zip(doc.all_payg.no_ptu.as_ref())
                .map(|(r, z)| z.monthly_cost_usd - r.monthly_cost_usd),
        ),
        vec![
            format!(
                "all pay-as-you-go at list price ({}, quota unlimited)",
                doc.all_payg.sku
            ),
            "0".into(),
            usd(doc.all_payg.monthly_cost_usd),
            "0.0%".into(),
            "–".into(),
            "if the quota takes the peak".into(),
            doc.savings.vs_all_payg_usd.map_or("–".into(), saving_text),
        ],
    ]
}

/// Columns of the pay-as-you-go quota table (the last one is the verdict, worded per output).
pub(crate) const QUOTA_HEAD: [&str; 9] = [
    "region · model · SKU",
    "deployments",
    "peak TPM",
    "p99 TPM",
    "peak RPM",
    "capacity",
    "default quota",
    "429s",
    "",
];
pub(crate) const QUOTA_NUMERIC: [bool; 9] =
    [false, false, true, true, true, true, true, true, false];

/// A quota pool's cells of [`QUOTA_HEAD`], up to the verdict.
pub(crate) fn quota_cells(x: &QuotaNeed) -> Vec<String> {
    vec![
        format!("{} · {} · {}", x.region, x.model, x.sku),
        x.deployments.join(", "),
        thousands(x.peak_tpm),
        thousands(x.p99_tpm),
        thousands(x.peak_rpm),
        format!(
            "{} TPM / {} RPM",
            thousands(x.capacity_tpm),
            thousands(x.capacity_rpm)
        ),
        x.default_quota_tpm
            .map_or("–".into(), |d| format!("{} TPM", thousands(d))),
        thousands(x.throttled),
    ]
}

pub(crate) fn caps_text(caps: &[u32]) -> String {
    caps.iter()
        .map(|c| thousands(*c as u64))
        .collect::<Vec<_>>()
        .join(" + ")
}

fn render(ctx: &mut Context<'_>, cfg: &Config, doc: &Doc, result: &Search) -> anyhow::Result<()> {
    let out = &mut *ctx.out;
    writeln!(out, "{}\n", doc.sentence)?;
    writeln!(
        out,
        "{} · {} · {} requests over {} · seed {} · sized: {} · service level: ≤ {} failed{}{}",
        cfg.topology.display(),
        doc.run.workload,
        thousands(doc.traffic.requests),
        duration((doc.scaling.span_hours * 3.6e9) as i64),
        doc.run.seed,
        doc.run.sized.join(", "),
        output::pct_fine(cfg.slo.max_failure_rate),
        cfg.slo
            .max_p99_latency_ms
            .map_or(String::new(), |m| format!(
                ", p99 ≤ {}",
                duration((m * 1e3) as i64)
            )),
        cfg.slo.max_spill.map_or(String::new(), |m| format!(
            ", spill ≤ {}",
            output::pct_fine(m)
        )),
    )?;
    writeln!(out)?;

    // Baselines beside the recommendation.
    let mut b = output::table(
        &[
            "set-up",
            "PTU",
            "per month",
            "failed",
            "p99",
            "meets the service level",
            "the recommendation saves",
        ],
        &[false, true, true, true, true, false, true],
    );
    let rec = result.recommended.map(|i| &result.candidates[i]);
    for r in baseline_rows(result, doc, "/month") {
        b.add_row(r);
    }
    output::write_table(out, &b)?;
    for be in &doc.break_even {
        writeln!(
            out,
            "PTU break-even for {} against {} (this trace's token mix, {} per million PTU-weighted tokens): {} sustained utilisation hourly, {} on a 1-month reservation, {} on a 1-year reservation.",
            be.model,
            be.sku,
            usd(be.payg_usd_per_m_weighted),
            be_text(be.hourly),
            be_text(be.monthly_reservation),
            be_text(be.yearly_reservation)
        )?;
    }
    for c in &doc.calculator.details {
        writeln!(
            out,
            "Calculator inputs ({}): peak minute {} RPM, p99 minute {} RPM, {} prompt + {} completion tokens per request on average, cache hits {}; {} TPM per PTU, output weight {} → {:.1} PTU (peak), {:.1} PTU (p99) before rounding.",
            c.model,
            thousands_f(c.peak_rpm, 0),
            thousands_f(c.p99_rpm, 0),
            thousands_f(c.avg_prompt, 0),
            thousands_f(c.avg_completion, 0),
            output::pct_fine(c.cache_hit_rate),
            thousands_f(c.input_tpm_per_ptu, 0),
            c.output_weight,
            c.ptu_raw_peak,
            c.ptu_raw_p99
        )?;
    }
    writeln!(out)?;

    // The cost curve.
    writeln!(out, "Cost curve ({} simulations):", result.candidates.len())?;
    let mut t = output::table(
        &[
            "PTU",
            "per month",
            "PTUs",
            "pay-as-you-go",
            "failed",
            "p99",
            "spill",
            "429s at PTU",
            "",
        ],
        &[true, true, true, true, true, true, true, true, false],
    );
    for c in &result.candidates {
        let mut mark = Vec::new();
        if Some(c) == rec {
            mark.push("★ recommended".to_string());
        }
        if c.capacities == doc.calculator.ptu_peak {
            mark.push("calculator (peak)".into());
        }
        if c.capacities == doc.calculator.ptu_p99 {
            mark.push("calculator (p99)".into());
        }
        if !c.meets {
            mark.push(format!("misses {}", c.misses.join(", ")));
        }
        t.add_row(vec![
            caps_text(&c.capacities),
            usd(c.monthly_cost_usd),
            usd(c.ptu_monthly_usd),
            usd(c.payg_monthly_usd),
            share(c.failed, c.arrived),
            duration((c.p99_latency_ms * 1e3) as i64),
            output::pct(c.spill_share),
            thousands(c.sized_throttled),
            mark.join(" · "),
        ]);
    }
    output::write_table(out, &t)?;
    writeln!(out)?;

    if !doc.quota.is_empty() {
        writeln!(
            out,
            "Pay-as-you-go quota in the {} set-up (asked per minute, every attempt):",
            if rec.is_some() {
                "recommended"
            } else {
                "least failing"
            }
        )?;
        let mut q = output::table(&QUOTA_HEAD, &QUOTA_NUMERIC);
        for x in &doc.quota {
            let mut cells = quota_cells(x);
            cells.push(if x.short { "SHORT".into() } else { "ok".into() });
            q.add_row(cells);
        }
        output::write_table(out, &q)?;
        writeln!(out)?;
    }

    if let Some(m) = &doc.reservation_mix {
        writeln!(
            out,
            "Reservation mix: {} PTU on a {} all day, plus hourly PTUs in the busy hours (UTC): {}/month, {} failed — {} one size of {} PTU ({}/month) by {}/month.",
            thousands(m.base as u64),
            cfg.reservation.name(),
            usd(m.monthly_cost_usd),
            share(m.failed, m.arrived),
            if m.saving_usd > 0.0 {
                "beats"
            } else {
                "does not beat"
            },
            thousands(m.single as u64),
            usd(m.single_monthly_usd),
            usd(m.saving_usd.abs())
        )?;
        writeln!(
            out,
            "  schedule (PTU by UTC hour): {}",
            schedule_text(&m.schedule, m.base)
        )?;
        writeln!(out)?;
    }

    if !doc.sensitivity.is_empty() {
        writeln!(
            out,
            "Sensitivity (the recommendation under other assumptions):"
        )?;
        let mut s = output::table(
            &[
                "assumption",
                "max_tokens rule",
                "PTU",
                "per month",
                "failed",
                "",
            ],
            &[false, false, true, true, true, false],
        );
        for r in &doc.sensitivity {
            s.add_row(vec![
                r.assumption.clone(),
                r.max_tokens.clone(),
                r.recommended
                    .as_deref()
                    .map_or("none meets".into(), caps_text),
                r.monthly_cost_usd.map_or("–".into(), usd),
                r.failure_rate.map_or("–".into(), output::pct_fine),
                if r.moves {
                    "moves".into()
                } else {
                    "same".into()
                },
            ]);
        }
        output::write_table(out, &s)?;
        writeln!(out)?;
    }

    if let Some(tb) = &doc.token_budget {
        writeln!(out, "Token budgets ({}):", tb.model)?;
        let il = &tb.input_limit;
        writeln!(
            out,
            "  prompts over the input limit ({} tokens, answered 400): {} ({}), {} tokens over",
            thousands(il.limit),
            thousands(il.requests),
            output::pct_fine(il.share),
            thousands(il.tokens_over)
        )?;
        if let Some(b) = &tb.budget {
            writeln!(
                out,
                "  prompts over the budget ({} tokens): {} ({}), {} tokens over",
                thousands(b.limit),
                thousands(b.requests),
                output::pct_fine(b.share),
                thousands(b.tokens_over)
            )?;
        }
        let mut tt = output::table(&TRUNCATION_HEAD, &TRUNCATION_NUMERIC);
        for r in &tb.truncation {
            tt.add_row(truncation_cells(r));
        }
        output::write_table(out, &tt)?;
        if let Some(m) = &tb.max_tokens {
            writeln!(out, "  {}", max_tokens_text(m))?;
        }
        if let Some(c) = &tb.chunking {
            writeln!(out, "  {}", chunking_text(c))?;
        }
        writeln!(out)?;
    }
    for n in &doc.notes {
        writeln!(out, "note: {n}")?;
    }
    Ok(())
}

/// "00–06 40 · 07–09 120 · …": runs of equal hours, the base hours marked.
fn schedule_text(s: &[u32; 24], base: u32) -> String {
    let mut parts = Vec::new();
    let mut h = 0;
    while h < 24 {
        let mut e = h;
        while e + 1 < 24 && s[e + 1] == s[h] {
            e += 1;
        }
        let hours = if e == h {
            format!("{h:02}:00")
        } else {
            format!("{h:02}:00–{e:02}:59")
        };
        let what = if s[h] == base {
            format!("{} (base)", thousands(s[h] as u64))
        } else {
            format!(
                "{} (+{} hourly)",
                thousands(s[h] as u64),
                thousands((s[h] - base) as u64)
            )
        };
        parts.push(format!("{hours} {what}"));
        h = e + 1;
    }
    parts.join(" · ")
}

/// Columns of the truncation table.
pub(crate) const TRUNCATION_HEAD: [&str; 7] = [
    "truncate prompts at",
    "tokens",
    "requests cut",
    "prompt tokens saved",
    "saved per month",
    "PTU after",
    "PTU saved",
];
pub(crate) const TRUNCATION_NUMERIC: [bool; 7] = [false, true, true, true, true, true, true];

/// A truncation row's cells of [`TRUNCATION_HEAD`].
pub(crate) fn truncation_cells(r: &TruncationRow) -> Vec<String> {
    vec![
        r.at.clone(),
        thousands(r.cap_tokens as u64),
        thousands(r.requests_cut),
        thousands(r.prompt_tokens_saved),
        usd(r.usd_saved_per_month),
        r.recommended_after.as_deref().map_or("–".into(), caps_text),
        r.ptu_saved.map_or("–".into(), |x| x.to_string()),
    ]
}

/// What setting max_tokens would change, in one sentence.
pub(crate) fn max_tokens_text(m: &MaxTokensAdvice) -> String {
    format!(
        "max_tokens: {} requests sent none and were charged {} tokens on average at admission; clients that set max_tokens = {} (the trace's p99 completion) cut the PTU-weighted admission charge by {}{}.",
        thousands(m.requests_without),
        thousands_f(m.mean_charged_as_is, 0),
        thousands(m.set_to as u64),
        output::pct_fine(m.charge_saved),
        match (m.ptu_as_is, m.ptu_if_set) {
            (Some(a), Some(b)) =>
                format!(" and need {} PTU instead of {}", thousands(b), thousands(a)),
            _ => String::new(),
        }
    )
}

/// What chunking the long prompts would cost, in one sentence.
pub(crate) fn chunking_text(c: &ChunkPlan) -> String {
    format!(
        "chunking: {} prompts over {} tokens become {} calls of {} tokens (overlap {}): {} extra prompt tokens; the busiest minute goes from {} to {} tokens.",
        thousands(c.prompts),
        thousands(c.limit),
        thousands(c.calls),
        thousands(c.chunk_size as u64),
        thousands(c.overlap as u64),
        thousands(c.extra_tokens),
        thousands(c.peak_tpm_before),
        thousands(c.peak_tpm_after)
    )
}

fn be_text(x: f64) -> String {
    if x > 1.0 {
        format!("never (needs {})", output::pct(x))
    } else {
        output::pct(x)
    }
}

/// Writes every simulated candidate, one row each.
fn write_curve(path: &PathBuf, cfg: &Config, result: &Search) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    let names: Vec<String> = cfg
        .sized
        .iter()
        .map(|&d| format!("ptu_{}", cfg.topo.deployments[d].name))
        .collect();
    let mut header: Vec<&str> = names.iter().map(String::as_str).collect();
    header.extend([
        "monthly_cost_usd",
        "ptu_monthly_usd",
        "payg_monthly_usd",
        "failure_rate",
        "p99_latency_ms",
        "spill_share",
        "sized_throttled",
        "meets",
        "recommended",
    ]);
    w.write_record(&header)?;
    for (i, c) in result.candidates.iter().enumerate() {
        let mut row: Vec<String> = c.capacities.iter().map(|x| x.to_string()).collect();
        row.extend([
            format!("{:.2}", c.monthly_cost_usd),
            format!("{:.2}", c.ptu_monthly_usd),
            format!("{:.2}", c.payg_monthly_usd),
            format!("{:.6}", c.failure_rate),
            format!("{:.1}", c.p99_latency_ms),
            format!("{:.6}", c.spill_share),
            c.sized_throttled.to_string(),
            c.meets.to_string(),
            (Some(i) == result.recommended).to_string(),
        ]);
        w.write_record(&row)?;
    }
    w.flush()?;
    Ok(())
}
