//! What the planner shows beside its recommendation: the capacity calculator's answer, the
//! PTU break-even utilisation, the pay-as-you-go quota the spillover needs, and token budgets
//! (truncation, chunking).
//!
//! * **Calculator** (azure-openai-capacity.md §2, SIZ): `normalized TPM = RPM × (prompt ×
//!   (1 − cache-hit rate) + output weight × completion)`, `PTU = normalized ÷ input TPM per
//!   PTU`, rounded up to the increment (at least the minimum). The calculator takes one peak
//!   RPM and average token counts; spillway gives it the trace's peak minute and its p99
//!   minute, with the trace's averages and cache-hit rate, exactly as a user would type them.
//! * **Break-even utilisation**: the sustained utilisation at which a PTU costs what the same
//!   PTU-weighted tokens cost at the pay-as-you-go price, for the trace's own mix of uncached
//!   prompt, cached prompt and completion tokens: PTU price per hour ÷ (input TPM per PTU × 60
//!   × pay-as-you-go dollars per PTU-weighted token).
//! * **Quota**: what each Standard deployment was asked per minute in the simulation (every
//!   attempt, admitted or not, as Azure's TPM counter counts it: prompt + max_tokens charged),
//!   at the peak and the p99 minute,
//!   against its own capacity and the catalog's default quota for the model, SKU and region
//!   (quota is per subscription, region, model and deployment type, so deployments sharing
//!   them add up).
//! * **Token budgets**: prompts over the model's input limit (the service answers 400) and over
//!   a chosen budget; what truncating prompts at a percentile saves; a chunk plan for prompts
//!   over the limit.

use serde::Serialize;

use crate::catalog::{PriceQuote, PtuParams, PtuPrice, Reservation, SizeRule, Sku};
use crate::sim::{SimReport, SimRequest, Topology};

const MINUTE_US: i64 = 60_000_000;

/// Per-minute figures of a workload (idle minutes count as zero).
#[derive(Debug, Clone, Serialize)]
pub struct TrafficStats {
    pub requests: u64,
    pub minutes: u64,
    pub span_hours: f64,
    pub peak_rpm: f64,
    pub p99_rpm: f64,
    pub avg_prompt: f64,
    pub avg_completion: f64,
    /// Cached prompt tokens ÷ prompt tokens.
    pub cache_hit_rate: f64,
    /// Prompt + completion tokens per minute at the peak and p99 minute.
    pub peak_tpm: f64,
    pub p99_tpm: f64,
}

/// Minute buckets of `reqs` (sorted): (requests, tokens) per minute from the first arrival.
fn per_minute(reqs: &[SimRequest], tokens: impl Fn(&SimRequest) -> u64) -> Vec<(u64, u64)> {
    let Some(first) = reqs.first() else {
        return Vec::new();
    };
    let t0 = first.t_us.div_euclid(MINUTE_US);
    let last = reqs.last().map_or(t0, |r| r.t_us.div_euclid(MINUTE_US));
    let mut m = vec![(0u64, 0u64); (last - t0 + 1) as usize];
    for r in reqs {
        let i = (r.t_us.div_euclid(MINUTE_US) - t0) as usize;
        m[i].0 += 1;
        m[i].1 += tokens(r);
    }
    m
}

pub fn traffic_stats(reqs: &[SimRequest]) -> TrafficStats {
    let m = per_minute(reqs, |r| r.prompt as u64 + r.completion as u64);
    let mut rpm: Vec<f64> = m.iter().map(|x| x.0 as f64).collect();
    let mut tpm: Vec<f64> = m.iter().map(|x| x.1 as f64).collect();
    let n = reqs.len().max(1) as f64;
    let prompt: u64 = reqs.iter().map(|r| r.prompt as u64).sum();
    let cached: u64 = reqs.iter().map(|r| r.cached.min(r.prompt) as u64).sum();
    let completion: u64 = reqs.iter().map(|r| r.completion as u64).sum();
    let span_us = match (reqs.first(), reqs.last()) {
        (Some(a), Some(b)) => b.t_us - a.t_us,
        _ => 0,
    };
    TrafficStats {
        requests: reqs.len() as u64,
        minutes: m.len() as u64,
        span_hours: span_us as f64 / 3.6e9,
        peak_rpm: rpm.iter().copied().fold(0.0, f64::max),
        p99_rpm: crate::stats::percentile(&mut rpm, 0.99),
        avg_prompt: prompt as f64 / n,
        avg_completion: completion as f64 / n,
        cache_hit_rate: if prompt == 0 {
            0.0
        } else {
            cached as f64 / prompt as f64
        },
        peak_tpm: tpm.iter().copied().fold(0.0, f64::max),
        p99_tpm: crate::stats::percentile(&mut tpm, 0.99),
    }
}

/// The capacity calculator's answer for one model and deployment type.
#[derive(Debug, Clone, Serialize)]
pub struct Calculator {
    pub model: String,
    pub input_tpm_per_ptu: f64,
    pub output_weight: f64,
    pub peak_rpm: f64,
    pub p99_rpm: f64,
    pub avg_prompt: f64,
    pub avg_completion: f64,
    pub cache_hit_rate: f64,
    /// PTUs before rounding, at the peak and the p99 minute.
    pub ptu_raw_peak: f64,
    pub ptu_raw_p99: f64,
    /// Rounded up to the increment, at least the minimum.
    pub ptu_peak: u32,
    pub ptu_p99: u32,
}

/// The calculator formula on the trace's peak and p99 minute.
pub fn calculator(model: &str, stats: &TrafficStats, p: &PtuParams, rule: SizeRule) -> Calculator {
    let per_request =
        stats.avg_prompt * (1.0 - stats.cache_hit_rate) + p.output_weight * stats.avg_completion;
    let raw = |rpm: f64| rpm * per_request / p.input_tpm_per_ptu;
    Calculator {
        model: model.to_string(),
        input_tpm_per_ptu: p.input_tpm_per_ptu,
        output_weight: p.output_weight,
        peak_rpm: stats.peak_rpm,
        p99_rpm: stats.p99_rpm,
        avg_prompt: stats.avg_prompt,
        avg_completion: stats.avg_completion,
        cache_hit_rate: stats.cache_hit_rate,
        ptu_raw_peak: raw(stats.peak_rpm),
        ptu_raw_p99: raw(stats.p99_rpm),
        ptu_peak: rule.round_up(raw(stats.peak_rpm)),
        ptu_p99: rule.round_up(raw(stats.p99_rpm)),
    }
}

/// Sustained utilisation at which a PTU costs what its tokens cost pay-as-you-go.
#[derive(Debug, Clone, Serialize)]
pub struct BreakEven {
    pub model: String,
    pub sku: String,
    /// Pay-as-you-go dollars per million PTU-weighted tokens, for the trace's token mix.
    pub payg_usd_per_m_weighted: f64,
    /// What one PTU fully used for an hour would cost pay-as-you-go.
    pub payg_usd_per_ptu_hour: f64,
    /// Break-even utilisation (1.0 = 100%) per way of buying PTUs; above 1.0 a PTU never pays.
    pub hourly: f64,
    pub monthly_reservation: f64,
    pub yearly_reservation: f64,
}

pub fn break_even(
    model: &str,
    sku: Sku,
    reqs: &[SimRequest],
    p: &PtuParams,
    payg: &PriceQuote,
    ptu: &PtuPrice,
) -> BreakEven {
    let (mut usd, mut weighted) = (0.0, 0.0);
    for r in reqs {
        let cached = r.cached.min(r.prompt) as u64;
        let uncached = r.prompt as u64 - cached;
        usd += payg.cost(uncached, cached, r.completion as u64);
        weighted += uncached as f64 + p.output_weight * r.completion as f64;
    }
    let per_weighted = if weighted > 0.0 { usd / weighted } else { 0.0 };
    let per_ptu_hour = p.input_tpm_per_ptu * 60.0 * per_weighted;
    let be = |r: Reservation| {
        if per_ptu_hour > 0.0 {
            r.per_ptu_hour(ptu) / per_ptu_hour
        } else {
            f64::INFINITY
        }
    };
    BreakEven {
        model: model.to_string(),
        sku: sku.to_string(),
        payg_usd_per_m_weighted: per_weighted * 1e6,
        payg_usd_per_ptu_hour: per_ptu_hour,
        hourly: be(Reservation::Hourly),
        monthly_reservation: be(Reservation::Monthly),
        yearly_reservation: be(Reservation::Yearly),
    }
}

/// What one quota pool (subscription × region × model × deployment type) was asked.
#[derive(Debug, Clone, Serialize)]
pub struct QuotaNeed {
    pub region: String,
    pub model: String,
    pub sku: String,
    pub deployments: Vec<String>,
    /// Tokens (prompt + max_tokens charged, as the TPM counter counts) and requests per minute
    /// asked, every attempt counted.
    pub peak_tpm: u64,
    pub p99_tpm: u64,
    pub peak_rpm: u64,
    pub p99_rpm: u64,
    /// The deployments' capacity in the topology.
    pub capacity_tpm: u64,
    pub capacity_rpm: u64,
    /// The catalog's default quota for the model, SKU and region (None: not in the catalog).
    pub default_quota_tpm: Option<u64>,
    /// 429s the deployments answered in the simulation.
    pub throttled: u64,
    /// Asked more than the capacity at the peak minute.
    pub short: bool,
}

/// The quota the Standard deployments need in a simulated set-up (`r` with its timeline).
pub fn quota(topo: &Topology, r: &SimReport) -> Vec<QuotaNeed> {
    let Some(tl) = &r.timeline else {
        return Vec::new();
    };
    let mut out: Vec<(Vec<usize>, QuotaNeed)> = Vec::new();
    for (i, d) in topo.deployments.iter().enumerate() {
        if d.is_provisioned() {
            continue;
        }
        let region = topo.regions[d.region].name.clone();
        let key = (region.clone(), d.model.name.clone(), d.sku.to_string());
        let pos = out
            .iter()
            .position(|(_, q)| (q.region.clone(), q.model.clone(), q.sku.clone()) == key);
        let (tpm, rpm) = match d.admission {
            crate::sim::topology::Admission::Standard {
                tpm_limit,
                rpm_limit,
                ..
            } => (tpm_limit, rpm_limit.floor() as u64),
            _ => (0, 0),
        };
        let default_quota_tpm = match d.sku {
            Sku::GlobalStandard => d.model.standard.global_standard_tpm,
            Sku::DataZoneStandard => d.model.standard.data_zone_standard_tpm,
            Sku::Standard => d.model.standard.standard_tpm,
            _ => None,
        };
        match pos {
            Some(p) => {
                out[p].0.push(i);
                out[p].1.deployments.push(d.name.clone());
                out[p].1.capacity_tpm += tpm;
                out[p].1.capacity_rpm += rpm;
            }
            None => out.push((
                vec![i],
                QuotaNeed {
                    region,
                    model: d.model.name.clone(),
                    sku: d.sku.to_string(),
                    deployments: vec![d.name.clone()],
                    peak_tpm: 0,
                    p99_tpm: 0,
                    peak_rpm: 0,
                    p99_rpm: 0,
                    capacity_tpm: tpm,
                    capacity_rpm: rpm,
                    default_quota_tpm,
                    throttled: 0,
                    short: false,
                },
            )),
        }
    }
    for (deps, q) in &mut out {
        let minutes = tl.seconds.div_ceil(60).max(1);
        let (mut tpm, mut rpm) = (vec![0f64; minutes], vec![0f64; minutes]);
        for &i in deps.iter() {
            let s = &tl.deployments[i];
            for (sec, (&a, &t)) in s.attempts.iter().zip(&s.asked).enumerate() {
                rpm[sec / 60] += a as f64;
                tpm[sec / 60] += t as f64;
            }
            q.throttled += r.deployments[i].throttled;
        }
        q.peak_tpm = tpm.iter().copied().fold(0.0, f64::max) as u64;
        q.peak_rpm = rpm.iter().copied().fold(0.0, f64::max) as u64;
        q.p99_tpm = crate::stats::percentile(&mut tpm, 0.99).round() as u64;
        q.p99_rpm = crate::stats::percentile(&mut rpm, 0.99).round() as u64;
        q.short = q.peak_tpm > q.capacity_tpm || q.peak_rpm > q.capacity_rpm;
    }
    out.into_iter().map(|(_, q)| q).collect()
}

/// What a Standard deployment's counters would see if it took all of `reqs`: the busiest
/// minute's requests, and tokens as the TPM counter counts them (prompt + the max_tokens
/// charged: the request's own, the estimate, or `default_budget` when it sent none).
pub fn standard_peak(reqs: &[SimRequest], default_budget: Option<u32>) -> (u64, u64) {
    let m = per_minute(reqs, |r| {
        let budget = match r.budget {
            crate::sim::Budget::ModelDefault => default_budget.unwrap_or(r.completion),
            _ => r.max_tokens,
        };
        r.prompt as u64 + budget as u64
    });
    (
        m.iter().map(|x| x.0).max().unwrap_or(0),
        m.iter().map(|x| x.1).max().unwrap_or(0),
    )
}

/// Prompts over a limit.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OverLimit {
    pub limit: u64,
    pub requests: u64,
    pub share: f64,
    /// Prompt tokens above the limit, summed.
    pub tokens_over: u64,
}

pub fn over_limit(reqs: &[SimRequest], limit: u64) -> OverLimit {
    let over: Vec<u64> = reqs
        .iter()
        .filter(|r| r.prompt as u64 > limit)
        .map(|r| r.prompt as u64 - limit)
        .collect();
    OverLimit {
        limit,
        requests: over.len() as u64,
        share: over.len() as f64 / reqs.len().max(1) as f64,
        tokens_over: over.iter().sum(),
    }
}

/// `reqs` with every prompt cut to `cap` tokens (cached tokens cut with it).
pub fn truncated(reqs: &[SimRequest], cap: u32) -> Vec<SimRequest> {
    reqs.iter()
        .map(|r| SimRequest {
            prompt: r.prompt.min(cap),
            cached: r.cached.min(cap),
            ..*r
        })
        .collect()
}

/// The `p` percentile of the prompts (nearest rank, rounding up).
pub fn prompt_percentile(reqs: &[SimRequest], p: f64) -> u32 {
    crate::sim::workload::completion_percentile(reqs.iter().map(|r| r.prompt), p)
}

/// A chunk plan for prompts over `limit`: each is split into calls of `chunk` tokens that
/// overlap by `overlap`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChunkPlan {
    pub limit: u64,
    pub chunk_size: u32,
    pub overlap: u32,
    /// Prompts over the limit, and the calls they become.
    pub prompts: u64,
    pub calls: u64,
    /// Prompt tokens the overlaps add.
    pub extra_tokens: u64,
    /// Prompt + completion tokens in the busiest minute, before and after chunking (each
    /// chunk's call at the prompt's arrival, each with the completion).
    pub peak_tpm_before: u64,
    pub peak_tpm_after: u64,
}

/// Calls a prompt of `p` tokens becomes in chunks of `chunk` overlapping by `overlap`.
pub fn chunk_calls(p: u64, chunk: u64, overlap: u64) -> u64 {
    if p <= chunk {
        1
    } else {
        1 + (p - chunk).div_ceil(chunk - overlap)
    }
}

pub fn chunk_plan(reqs: &[SimRequest], limit: u64, chunk: u32, overlap: u32) -> ChunkPlan {
    let (c, o) = (chunk as u64, overlap as u64);
    let mut prompts = 0;
    let mut calls = 0;
    let mut extra = 0;
    for r in reqs.iter().filter(|r| r.prompt as u64 > limit) {
        let k = chunk_calls(r.prompt as u64, c, o);
        prompts += 1;
        calls += k;
        extra += (k - 1) * o;
    }
    let before = per_minute(reqs, |r| r.prompt as u64 + r.completion as u64);
    let after = per_minute(reqs, |r| {
        let p = r.prompt as u64;
        if p > limit {
            let k = chunk_calls(p, c, o);
            p + (k - 1) * o + k * r.completion as u64
        } else {
            p + r.completion as u64
        }
    });
    let peak = |m: &[(u64, u64)]| m.iter().map(|x| x.1).max().unwrap_or(0);
    ChunkPlan {
        limit,
        chunk_size: chunk,
        overlap,
        prompts,
        calls,
        extra_tokens: extra,
        peak_tpm_before: peak(&before),
        peak_tpm_after: peak(&after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Budget;

    fn r(t_s: i64, prompt: u32, completion: u32) -> SimRequest {
        SimRequest {
            t_us: t_s * 1_000_000,
            prompt,
            completion,
            cached: 0,
            max_tokens: completion,
            key: 0,
            budget: Budget::Estimated,
        }
    }

    #[test]
    fn calculator_reproduces_the_documented_worked_example() {
        // gpt-4o, 45 RPM, 1,000 in / 200 out: 45 × (1,000 + 4 × 200) = 81,000 / 2,500 = 32.4
        // → 35 Global (azure-openai-capacity.md §2).
        let reqs: Vec<SimRequest> = (0..45 * 10).map(|i| r(i * 60 / 45, 1_000, 200)).collect();
        let s = traffic_stats(&reqs);
        assert_eq!(s.peak_rpm, 45.0);
        let p = crate::catalog::Catalog::embedded()
            .resolve("gpt-4o")
            .unwrap()
            .ptu
            .unwrap();
        let c = calculator("gpt-4o", &s, &p, SizeRule { min: 15, step: 5 });
        assert!((c.ptu_raw_peak - 32.4).abs() < 1e-9, "{}", c.ptu_raw_peak);
        assert_eq!(c.ptu_peak, 35);
        let regional = calculator("gpt-4o", &s, &p, SizeRule { min: 50, step: 50 });
        assert_eq!(regional.ptu_peak, 50);
    }

    #[test]
    fn chunks_cover_the_prompt_with_their_overlaps() {
        assert_eq!(chunk_calls(100, 100, 10), 1);
        assert_eq!(chunk_calls(101, 100, 10), 2);
        assert_eq!(chunk_calls(190, 100, 10), 2);
        assert_eq!(chunk_calls(191, 100, 10), 3);
        let plan = chunk_plan(&[r(0, 250, 10), r(1, 50, 10)], 100, 100, 10);
        assert_eq!(plan.prompts, 1);
        assert_eq!(plan.calls, 3);
        assert_eq!(plan.extra_tokens, 20);
        assert_eq!(plan.peak_tpm_before, 320);
        assert_eq!(plan.peak_tpm_after, 250 + 20 + 30 + 60);
    }

    #[test]
    fn over_limit_counts_requests_and_tokens() {
        let o = over_limit(
            &[r(0, 150, 0), r(0, 90, 0), r(0, 300, 0), r(0, 100, 0)],
            100,
        );
        assert_eq!(o.requests, 2);
        assert_eq!(o.tokens_over, 250);
        assert_eq!(o.share, 0.5);
    }
}
