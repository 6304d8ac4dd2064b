//! The planner: sweeps the sizes of provisioned deployments through the simulator and finds
//! the cheapest set-up that meets the service level.
//!
//! Every candidate is a full simulation of the same requests (read and tokenized once, shared)
//! through the topology with the sized deployments at the candidate's sizes; candidates of one
//! round run in parallel (rayon), each on its own single-threaded engine, so a seed gives the
//! same candidates and the same answer on any number of threads.
//!
//! * **Sizes**: 0 (no PTU: the gateway sends that traffic to the deployment's native spillover,
//!   or drops it) and every size the SKU accepts (the catalog's minimum and increment), up to
//!   [`MAX_PTU_PER_DEPLOYMENT`].
//! * **Search** ([`search`]): bracket first — sizes doubling from the hint until the sized
//!   deployments answer no 429 (spill stops) — then every valid size between 0 and that
//!   bracket when the budget allows, else an even coarse grid refined around the cheapest
//!   candidate that meets the service level (or, if none does, the one that fails least), until
//!   neighbours are one increment apart or the budget (`max_candidates`) is spent. With several
//!   sized deployments, the same one-dimensional search runs for each in turn with the others
//!   fixed (coordinate descent), twice. Every simulated candidate is kept and reported.
//! * **Monthly cost**: PTUs at the chosen reservation price for a whole 730-hour month (a
//!   deployment bills whether or not it serves), plus the pay-as-you-go tokens of the trace's
//!   span scaled by 730 h ÷ span: a projection that assumes the span is representative.
//! * **Service level**: client-visible failure rate, and optionally p99 latency and the spill
//!   share (requests served, but not by the sized deployments). The recommendation is the cheapest candidate that
//!   meets all three (ties: fewer PTUs).
//!
//! Invariants (tested): every candidate's capacities are valid sizes; the recommendation meets
//! the service level and no simulated candidate that meets it is cheaper; the number of
//! simulations is bounded by the budget plus the bracket (at most 14 doublings per deployment).

pub mod advice;

use std::collections::HashMap;

use rayon::prelude::*;
use serde::Serialize;

use crate::catalog::{HOURS_PER_MONTH, MAX_PTU_PER_DEPLOYMENT, Reservation, SizeRule};
use crate::sim::topology::Admission;
use crate::sim::{SimError, SimOptions, SimReport, SimRequest, Topology};

/// What the recommendation must meet.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ServiceLevel {
    /// Client-visible failures ÷ requests.
    pub max_failure_rate: f64,
    pub max_p99_latency_ms: Option<f64>,
    /// Share of the requests served that the sized deployments may leave to pay-as-you-go.
    pub max_spill: Option<f64>,
}

/// What is simulated for every candidate.
pub struct Scenario<'a> {
    pub topo: &'a Topology,
    /// The deployments being sized (indices into `topo.deployments`).
    pub sized: &'a [usize],
    pub reqs: &'a [SimRequest],
    pub seed: u64,
    pub reservation: Reservation,
    /// 730 h ÷ the workload's span in hours.
    pub month_factor: f64,
    pub slo: ServiceLevel,
}

/// One simulated set-up.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Candidate {
    /// PTUs of each sized deployment, in the order of `Scenario::sized`.
    pub capacities: Vec<u32>,
    pub monthly_cost_usd: f64,
    /// PTUs (all provisioned deployments) per month at the chosen reservation price.
    pub ptu_monthly_usd: f64,
    /// Pay-as-you-go tokens per month (projected from the span).
    pub payg_monthly_usd: f64,
    pub arrived: u64,
    pub failed: u64,
    pub failure_rate: f64,
    pub p99_latency_ms: f64,
    /// Share of the requests served that the sized deployments did not serve (spilled to
    /// pay-as-you-go; all of them at 0 PTU).
    pub spill_share: f64,
    /// 429s the sized deployments answered.
    pub sized_throttled: u64,
    /// 429s the other deployments answered (pay-as-you-go quota short).
    pub other_throttled: u64,
    /// Client-visible failures by the client's timeout.
    pub timeouts: u64,
    /// Meets the service level.
    pub meets: bool,
    /// The constraints it misses: "failure rate", "p99 latency", "spill".
    pub misses: Vec<&'static str>,
}

impl Candidate {
    pub fn total_ptu(&self) -> u64 {
        self.capacities.iter().map(|&c| c as u64).sum()
    }
}

/// The result of a search.
#[derive(Debug, Clone, Serialize)]
pub struct Search {
    /// Every simulated candidate, by total PTUs then capacities.
    pub candidates: Vec<Candidate>,
    /// Index of the cheapest candidate that meets the service level.
    pub recommended: Option<usize>,
    /// Whether the bracket reached the largest deployment Azure allows without spill stopping.
    pub hit_ceiling: bool,
}

impl Scenario<'_> {
    /// The valid sizes of sized deployment `j`, from the catalog.
    pub fn rule(&self, j: usize) -> SizeRule {
        self.topo
            .size_rule(self.sized[j])
            .unwrap_or(SizeRule { min: 1, step: 1 })
    }

    /// The topology at `caps` (None: no backend left).
    pub fn topology(&self, caps: &[u32]) -> Option<Topology> {
        let sizes: Vec<(usize, u32)> = self
            .sized
            .iter()
            .copied()
            .zip(caps.iter().copied())
            .collect();
        self.topo.with_capacities(&sizes)
    }

    /// Simulates `caps` (None: a set-up with no backend left, which serves nothing).
    pub fn simulate(&self, caps: &[u32], opts: SimOptions) -> Result<Option<SimReport>, SimError> {
        let Some(t) = self.topology(caps) else {
            return Ok(None);
        };
        crate::sim::run(&t, self.reqs, opts).map(Some)
    }

    /// Simulates and costs `caps`.
    pub fn evaluate(&self, caps: &[u32]) -> Result<Option<Candidate>, SimError> {
        let Some(r) = self.simulate(
            caps,
            SimOptions {
                reservation: self.reservation,
                ..SimOptions::seeded(self.seed)
            },
        )?
        else {
            return Ok(None);
        };
        Ok(Some(self.candidate(caps, &r)))
    }

    /// The candidate's figures from its simulation.
    pub fn candidate(&self, caps: &[u32], r: &SimReport) -> Candidate {
        let t = self.topo;
        // PTUs bill for the whole month; tokens scale with the span.
        let ptu_monthly: f64 = t
            .deployments
            .iter()
            .enumerate()
            .filter(|(_, d)| d.is_provisioned())
            .map(|(i, d)| {
                let cap = match self.sized.iter().position(|&s| s == i) {
                    Some(j) => caps[j],
                    None => d.capacity,
                };
                d.ptu_price
                    .as_ref()
                    .map_or(0.0, |p| self.reservation.per_ptu_hour(p))
                    * cap as f64
                    * HOURS_PER_MONTH
            })
            .sum();
        let payg_monthly = r.cost.payg_usd * self.month_factor;
        let failure_rate = if r.arrived == 0 {
            0.0
        } else {
            r.failed as f64 / r.arrived as f64
        };
        let (mut sized_throttled, mut other_throttled, mut on_ptu) = (0, 0, 0);
        for (i, d) in r.deployments.iter().enumerate() {
            if self.sized.contains(&i) {
                sized_throttled += d.throttled;
                on_ptu += d.successes - d.late;
            } else {
                other_throttled += d.throttled;
            }
        }
        // What the sized deployments did not serve: the whole of it without PTUs.
        let spill_share = if r.succeeded == 0 {
            1.0
        } else {
            1.0 - on_ptu as f64 / r.succeeded as f64
        };
        let mut misses = Vec::new();
        let slo = &self.slo;
        if failure_rate > slo.max_failure_rate {
            misses.push("failure rate");
        }
        if slo.max_p99_latency_ms.is_some_and(|m| r.latency_ms.p99 > m) {
            misses.push("p99 latency");
        }
        if slo.max_spill.is_some_and(|m| spill_share > m) {
            misses.push("spill");
        }
        Candidate {
            capacities: caps.to_vec(),
            monthly_cost_usd: ptu_monthly + payg_monthly,
            ptu_monthly_usd: ptu_monthly,
            payg_monthly_usd: payg_monthly,
            arrived: r.arrived,
            failed: r.failed,
            failure_rate,
            p99_latency_ms: r.latency_ms.p99,
            spill_share,
            sized_throttled,
            other_throttled,
            timeouts: r.failures.timeout,
            meets: misses.is_empty(),
            misses,
        }
    }
}

/// Candidates simulated so far, by capacities; new ones are simulated in parallel.
struct Memo<'s, 'a> {
    sc: &'s Scenario<'a>,
    seen: HashMap<Vec<u32>, Option<Candidate>>,
    progress: &'s (dyn Fn(usize) + Sync),
}

impl Memo<'_, '_> {
    /// Simulates the capacity vectors not seen yet (in parallel), then returns all of them.
    fn eval(&mut self, list: &[Vec<u32>]) -> Result<Vec<Option<Candidate>>, SimError> {
        let mut todo: Vec<Vec<u32>> = list
            .iter()
            .filter(|c| !self.seen.contains_key(*c))
            .cloned()
            .collect();
        todo.sort();
        todo.dedup();
        let sc = self.sc;
        let progress = self.progress;
        type Done = (Vec<u32>, Result<Option<Candidate>, SimError>);
        let done: Vec<Done> = todo
            .into_par_iter()
            .map(|caps| {
                let c = sc.evaluate(&caps);
                progress(1);
                (caps, c)
            })
            .collect();
        for (caps, c) in done {
            self.seen.insert(caps, c?);
        }
        Ok(list.iter().map(|c| self.seen[c].clone()).collect())
    }

    fn count(&self) -> usize {
        self.seen.len()
    }
}

/// Valid sizes from 0 to `hi` (inclusive), in order.
fn sizes_up_to(rule: SizeRule, hi: u32) -> Vec<u32> {
    let mut v = vec![0];
    let mut c = rule.min;
    while c <= hi && c <= MAX_PTU_PER_DEPLOYMENT {
        v.push(c);
        c += rule.step;
    }
    v
}

/// Ranks candidates, best first: those that meet the service level before those that do
/// not; among those that meet it the cheaper, then fewer PTUs; among those that do not, the
/// lower failure rate, then the cheaper.
fn rank(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.meets, b.meets) {
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (true, true) => a
            .monthly_cost_usd
            .total_cmp(&b.monthly_cost_usd)
            .then(a.total_ptu().cmp(&b.total_ptu())),
        (false, false) => a
            .failure_rate
            .total_cmp(&b.failure_rate)
            .then(a.monthly_cost_usd.total_cmp(&b.monthly_cost_usd)),
    }
}

/// The best of `cands` (see [`rank`]): the point the search refines around.
fn pivot(cands: &[(u32, Candidate)]) -> Option<usize> {
    (0..cands.len()).min_by(|&a, &b| rank(&cands[a].1, &cands[b].1))
}

/// Searches the sizes of sized deployment `j` with the others at `base`, within `budget` new
/// simulations beyond the bracket. Returns whether the bracket hit the ceiling.
fn search_one(
    memo: &mut Memo<'_, '_>,
    base: &mut [u32],
    j: usize,
    hint: u32,
    budget: usize,
) -> Result<bool, SimError> {
    let rule = memo.sc.rule(j);
    let with = |base: &[u32], c: u32| {
        let mut v = base.to_vec();
        v[j] = c;
        v
    };
    // Bracket: doubling from the hint (two at a time) until the sized deployments stop
    // answering 429, or the largest deployment is reached.
    let mut hi = rule.round_up(hint.max(rule.min) as f64);
    let mut ceiling = false;
    loop {
        let pair = [hi, rule.round_up(hi as f64 * 2.0)];
        let got = memo.eval(&[with(base, pair[0]), with(base, pair[1])])?;
        let stop = got
            .iter()
            .zip(pair)
            .find(|(c, _)| c.as_ref().is_some_and(|c| c.sized_throttled == 0))
            .map(|(_, s)| s);
        if let Some(s) = stop {
            hi = s;
            break;
        }
        if pair[1] >= MAX_PTU_PER_DEPLOYMENT {
            hi = MAX_PTU_PER_DEPLOYMENT;
            ceiling = true;
            break;
        }
        hi = rule.round_up(pair[1] as f64 * 2.0);
    }
    let all = sizes_up_to(rule, hi);
    let start = memo.count();
    let spent = |memo: &Memo<'_, '_>| memo.count() - start;
    if all.len() <= budget {
        memo.eval(&all.iter().map(|&c| with(base, c)).collect::<Vec<_>>())?;
    } else {
        // Coarse grid, then refine between the neighbours of the best point.
        let coarse_n = (budget / 2).max(4).min(all.len());
        let mut grid: Vec<u32> = (0..coarse_n)
            .map(|k| all[k * (all.len() - 1) / (coarse_n - 1).max(1)])
            .collect();
        grid.dedup();
        let mut lo_i = 0;
        let mut hi_i = all.len() - 1;
        loop {
            let got = memo.eval(&grid.iter().map(|&c| with(base, c)).collect::<Vec<_>>())?;
            let scored: Vec<(u32, Candidate)> = grid
                .iter()
                .zip(got)
                .filter_map(|(&s, c)| c.map(|c| (s, c)))
                .collect();
            let Some(p) = pivot(&scored) else { break };
            let at = scored[p].0;
            let idx = all.iter().position(|&s| s == at).unwrap_or(0);
            // Neighbours of the pivot on the current grid.
            let below = grid.iter().rev().find(|&&s| s < at).copied();
            let above = grid.iter().find(|&&s| s > at).copied();
            lo_i = below
                .and_then(|b| all.iter().position(|&s| s == b))
                .unwrap_or(idx)
                .max(lo_i);
            hi_i = above
                .and_then(|a| all.iter().position(|&s| s == a))
                .unwrap_or(idx)
                .min(hi_i);
            if hi_i <= lo_i + 1 {
                break;
            }
            let left = budget.saturating_sub(spent(memo));
            if left == 0 {
                break;
            }
            let span = &all[lo_i..=hi_i];
            let n = span.len().min(left + 2).max(2);
            grid = (0..n)
                .map(|k| span[k * (span.len() - 1) / (n - 1)])
                .collect();
            grid.dedup();
            if grid.iter().all(|c| memo.seen.contains_key(&with(base, *c))) {
                break;
            }
        }
    }
    // Move the base to the best size found for this deployment.
    let mut best: Option<(u32, Candidate)> = None;
    for c in all.iter().copied().chain([hi]) {
        if let Some(Some(cand)) = memo.seen.get(&with(base, c))
            && best
                .as_ref()
                .is_none_or(|(_, b)| rank(cand, b) == std::cmp::Ordering::Less)
        {
            best = Some((c, cand.clone()));
        }
    }
    if let Some((c, _)) = best {
        base[j] = c;
    }
    Ok(ceiling)
}

/// Finds the cheapest sizes that meet the service level, starting from `hint` (one size per
/// sized deployment, e.g. the calculator's). `extra` candidates (the calculator's answers) are
/// simulated too and kept in the curve. `progress` is called once per simulation.
pub fn search(
    sc: &Scenario<'_>,
    hint: &[u32],
    extra: &[Vec<u32>],
    max_candidates: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Search, SimError> {
    let mut memo = Memo {
        sc,
        seen: HashMap::new(),
        progress,
    };
    memo.eval(extra)?;
    let n = sc.sized.len();
    let mut base: Vec<u32> = hint.to_vec();
    let mut ceiling = false;
    let rounds = if n == 1 { 1 } else { 2 };
    let per = (max_candidates / (n * rounds)).max(4);
    for _ in 0..rounds {
        for (j, &h) in hint.iter().enumerate().take(n) {
            ceiling |= search_one(&mut memo, &mut base, j, h, per)?;
        }
    }
    let mut candidates: Vec<Candidate> = memo.seen.into_values().flatten().collect();
    candidates.sort_by(|a, b| {
        a.total_ptu()
            .cmp(&b.total_ptu())
            .then(a.capacities.cmp(&b.capacities))
    });
    let recommended = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.meets)
        .min_by(|a, b| {
            a.1.monthly_cost_usd
                .total_cmp(&b.1.monthly_cost_usd)
                .then(a.1.total_ptu().cmp(&b.1.total_ptu()))
        })
        .map(|(i, _)| i);
    Ok(Search {
        candidates,
        recommended,
        hit_ceiling: ceiling,
    })
}

/// A reserved base plus hourly PTUs in the busy hours of the day, for one sized deployment.
#[derive(Debug, Clone, Serialize)]
pub struct Mix {
    /// PTUs on the reservation, all day.
    pub base: u32,
    /// PTUs deployed by UTC hour of day (base + hourly top-up).
    pub schedule: [u32; 24],
    pub monthly_cost_usd: f64,
    pub ptu_monthly_usd: f64,
    pub payg_monthly_usd: f64,
    pub arrived: u64,
    pub failed: u64,
    pub failure_rate: f64,
    pub meets: bool,
    /// The single size it is compared with, and what the mix saves per month against it
    /// (negative: the single size is cheaper).
    pub single: u32,
    pub single_monthly_usd: f64,
    pub saving_usd: f64,
}

/// The busiest minute's PTU-weighted tokens per UTC hour of day, over all days.
fn hourly_load(reqs: &[SimRequest], output_weight: f64) -> [f64; 24] {
    let mut per_minute: HashMap<i64, f64> = HashMap::new();
    for r in reqs {
        let w = (r.prompt - r.cached.min(r.prompt)) as f64 + output_weight * r.completion as f64;
        *per_minute.entry(r.t_us.div_euclid(60_000_000)).or_default() += w;
    }
    let mut load = [0f64; 24];
    for (m, w) in per_minute {
        let h = (m.div_euclid(60)).rem_euclid(24) as usize;
        load[h] = load[h].max(w);
    }
    load
}

/// Proposes a reserved base plus hourly top-ups for the single sized deployment of `sc`, from
/// the trace's hour-of-day profile, and checks it in the simulator. The schedule follows each
/// hour's busiest minute, scaled so that the busiest hour gets the recommended single size
/// `rec`; the base is the one that makes the schedule cheapest (PTUs on the reservation, the
/// rest at the hourly price for the hours it runs, 730 ÷ 24 times a month). When the schedule
/// misses the service level, the hourly needs are raised (×1.15, ×1.3, … ×2) and it is tried
/// again. None when there is nothing to mix (several sized deployments, no PTU, no price, or
/// every hour of the day needing the single size).
pub fn reservation_mix(
    sc: &Scenario<'_>,
    rec: &Candidate,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Option<Mix>, SimError> {
    let ([d], [single]) = (sc.sized, rec.capacities.as_slice()) else {
        return Ok(None);
    };
    let (d, single) = (*d, *single);
    let dep = &sc.topo.deployments[d];
    let (Some(p), Some(price)) = (dep.model.ptu, dep.ptu_price.as_ref()) else {
        return Ok(None);
    };
    if single == 0 {
        return Ok(None);
    }
    let rule = sc.rule(0);
    let load = hourly_load(sc.reqs, p.output_weight);
    let top = load.iter().copied().fold(0.0, f64::max);
    if top <= 0.0 {
        return Ok(None);
    }
    let reserved = sc.reservation.per_ptu_hour(price) * HOURS_PER_MONTH;
    let hourly = Reservation::Hourly.per_ptu_hour(price) * HOURS_PER_MONTH / 24.0;
    let other_ptu = rec.ptu_monthly_usd - reserved * single as f64;
    let mut last = None;
    for inflate in [1.0, 1.15, 1.3, 1.5, 1.75, 2.0] {
        let need: Vec<u32> = load
            .iter()
            .map(|&l| rule.round_up(single as f64 * l / top * inflate).min(single))
            .collect();
        if need.iter().all(|&n| n == single) {
            // Every hour needs the single size: nothing to mix.
            break;
        }
        // The base that makes the schedule cheapest.
        let (base, ptu_cost) = sizes_up_to(rule, single)
            .into_iter()
            .map(|b| {
                let top_up: u32 = need.iter().map(|&n| n.max(b).max(rule.min) - b).sum();
                (b, b as f64 * reserved + top_up as f64 * hourly)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
            .unwrap_or((single, single as f64 * reserved));
        let mut schedule = [0u32; 24];
        for (h, s) in schedule.iter_mut().enumerate() {
            *s = need[h].max(base).max(rule.min);
        }
        let t = sc.topo.with_schedule(d, schedule);
        let r = crate::sim::run(
            &t,
            sc.reqs,
            SimOptions {
                reservation: sc.reservation,
                ..SimOptions::seeded(sc.seed)
            },
        )?;
        progress(1);
        let c = sc.candidate(&[single], &r);
        let ptu_monthly = ptu_cost + other_ptu;
        let monthly = ptu_monthly + c.payg_monthly_usd;
        let mix = Mix {
            base,
            schedule,
            monthly_cost_usd: monthly,
            ptu_monthly_usd: ptu_monthly,
            payg_monthly_usd: c.payg_monthly_usd,
            arrived: c.arrived,
            failed: c.failed,
            failure_rate: c.failure_rate,
            meets: c.meets,
            single,
            single_monthly_usd: rec.monthly_cost_usd,
            saving_usd: rec.monthly_cost_usd - monthly,
        };
        let meets = mix.meets;
        last = Some(mix);
        if meets {
            break;
        }
    }
    Ok(last)
}

/// The PTUs of a provisioned deployment's admission (0 for Standard ones).
pub fn ptu_of(topo: &Topology, d: usize) -> u32 {
    match topo.deployments[d].admission {
        Admission::Provisioned { ptu, .. } => ptu,
        Admission::Standard { .. } => 0,
    }
}

#[cfg(test)]
mod tests;
