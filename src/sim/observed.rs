//! Observed against simulated: when a usage log records what each request got (its HTTP status
//! and the backend that answered — APIM gateway logs, LiteLLM spend logs), the same arrivals
//! are replayed through the topology and compared per deployment and minute; [`calibrate`]
//! fits what no price list says (a PTU deployment's effective throughput and burst tolerance,
//! a Standard deployment's RPM window) to the 429s and spillover the users saw.
//!
//! * Backends are matched to deployments by name: the log's backend id or host equal to a
//!   deployment's name, else containing it, else containing its region (one deployment per
//!   region); unmatched backends are reported.
//! * Both sides are counted by the request's arrival minute: requests served by each
//!   deployment, and requests that ended in a 429 from it (a 429 the gateway answered itself
//!   counts for the gateway, not a deployment).
//! * Fidelity per deployment: over the busiest quarter of the minutes (at least 5), the mean
//!   absolute difference between observed and simulated shares of the minute's arrivals that
//!   the deployment served, and that ended in its 429 — in percentage points. Calibration
//!   minimises their sum over the deployments.
//! * The fit: a grid over input TPM per PTU (0.6–1.3 × the catalog's, in steps of 0.05) and the
//!   burst tolerance (5–120 s) for each provisioned deployment, one deployment at a time, then
//!   the RPM window (1, 10 or 60 s) of each Standard deployment; candidates run in parallel.

use rayon::prelude::*;
use serde::Serialize;

use super::topology::Admission;
use super::{SimError, SimOptions, SimReport, SimRequest, Topology};

const MINUTE_US: i64 = 60_000_000;

/// What the log says one request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// HTTP status the client got (None: not logged).
    pub status: Option<u16>,
    /// The deployment that answered (None: the gateway itself, or not matched).
    pub dep: Option<usize>,
}

/// Matches backend names from a log to deployments (see the module doc).
pub fn match_backend(topo: &Topology, backend: &str) -> Option<usize> {
    let b = backend.to_ascii_lowercase();
    if b.is_empty() || b == "(none)" {
        return None;
    }
    let names: Vec<String> = topo
        .deployments
        .iter()
        .map(|d| d.name.to_ascii_lowercase())
        .collect();
    if let Some(i) = names.iter().position(|n| *n == b) {
        return Some(i);
    }
    if let Some(i) = names.iter().position(|n| b.contains(n.as_str())) {
        return Some(i);
    }
    let in_region: Vec<usize> = (0..topo.deployments.len())
        .filter(|&i| {
            b.contains(
                &topo.regions[topo.deployments[i].region]
                    .name
                    .to_ascii_lowercase(),
            )
        })
        .collect();
    // Only when the region names one deployment a gateway routes to.
    let routed: Vec<usize> = in_region
        .into_iter()
        .filter(|&i| topo.backend_of(i).is_some())
        .collect();
    (routed.len() == 1).then(|| routed[0])
}

/// One deployment's minute, observed and simulated.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MinuteRow {
    pub minute_us: i64,
    pub deployment: String,
    pub arrivals: u64,
    pub observed_served: u64,
    pub simulated_served: u64,
    pub observed_429: u64,
    pub simulated_429: u64,
}

/// How closely the simulation reproduces one deployment.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Fidelity {
    pub deployment: String,
    pub observed_served: u64,
    pub simulated_served: u64,
    pub observed_429: u64,
    pub simulated_429: u64,
    /// Mean absolute difference of the served share over the busiest minutes, percentage points.
    pub served_share_error_pp: f64,
    /// The same for the share that ended in this deployment's 429.
    pub throttle_share_error_pp: f64,
}

/// The comparison of one simulation with the log.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    pub minutes: Vec<MinuteRow>,
    pub fidelity: Vec<Fidelity>,
    /// Share of served requests outside priority 1, observed and simulated.
    pub observed_spill: f64,
    pub simulated_spill: f64,
    /// Σ over deployments of both errors: what calibration minimises.
    pub score: f64,
}

/// Compares a recorded simulation of `reqs` with the observations (same order).
pub fn compare(
    topo: &Topology,
    reqs: &[SimRequest],
    observed: &[Observation],
    report: &SimReport,
) -> Comparison {
    let recs = report.requests.as_deref().unwrap_or(&[]);
    let start = reqs.first().map_or(0, |r| r.t_us).div_euclid(MINUTE_US);
    let minutes = reqs
        .last()
        .map_or(1, |r| (r.t_us.div_euclid(MINUTE_US) - start + 1) as usize);
    let n = topo.deployments.len();
    // [minute][deployment] → (obs served, sim served, obs 429, sim 429)
    let mut cells = vec![vec![[0u64; 4]; n]; minutes];
    let mut arrivals = vec![0u64; minutes];
    let p1 = topo
        .gateway
        .backends
        .iter()
        .map(|b| b.priority)
        .min()
        .unwrap_or(1);
    let outside = |d: usize| topo.backend_of(d).is_none_or(|b| b.priority > p1);
    let (mut obs_ok, mut obs_out, mut sim_ok, mut sim_out) = (0u64, 0u64, 0u64, 0u64);
    for (i, r) in reqs.iter().enumerate() {
        let m = (r.t_us.div_euclid(MINUTE_US) - start) as usize;
        arrivals[m] += 1;
        let o = observed.get(i).copied().unwrap_or(Observation {
            status: None,
            dep: None,
        });
        if let Some(d) = o.dep {
            match o.status {
                Some(s) if s < 400 => {
                    cells[m][d][0] += 1;
                    obs_ok += 1;
                    obs_out += u64::from(outside(d));
                }
                Some(429) => cells[m][d][2] += 1,
                _ => {}
            }
        }
        if let Some(rec) = recs.get(i) {
            match (rec.served_by, rec.status, rec.last_dep) {
                (Some(d), _, _) => {
                    cells[m][d][1] += 1;
                    sim_ok += 1;
                    sim_out += u64::from(outside(d));
                }
                (None, 429, Some(d)) if !rec.from_gateway => cells[m][d][3] += 1,
                _ => {}
            }
        }
    }
    // The busiest quarter of the minutes (at least 5).
    let mut order: Vec<usize> = (0..minutes).collect();
    order.sort_by(|&a, &b| arrivals[b].cmp(&arrivals[a]).then(a.cmp(&b)));
    let k = (minutes / 4).max(5).min(minutes);
    let busy = &order[..k];
    let mut fidelity = Vec::new();
    let mut score = 0.0;
    #[allow(clippy::needless_range_loop)] // d indexes the inner axis of cells and the topology
    for d in 0..n {
        let total = |j: usize| cells.iter().map(|c| c[d][j]).sum::<u64>();
        let (os, ss, ot, st) = (total(0), total(1), total(2), total(3));
        if os + ss + ot + st == 0 {
            continue;
        }
        let err = |a: usize, b: usize| {
            busy.iter()
                .filter(|&&m| arrivals[m] > 0)
                .map(|&m| {
                    (cells[m][d][a] as f64 - cells[m][d][b] as f64).abs() / arrivals[m] as f64
                })
                .sum::<f64>()
                / busy.len().max(1) as f64
                * 100.0
        };
        let f = Fidelity {
            deployment: topo.deployments[d].name.clone(),
            observed_served: os,
            simulated_served: ss,
            observed_429: ot,
            simulated_429: st,
            served_share_error_pp: err(0, 1),
            throttle_share_error_pp: err(2, 3),
        };
        score += f.served_share_error_pp + f.throttle_share_error_pp;
        fidelity.push(f);
    }
    let mut rows = Vec::new();
    for (m, row) in cells.iter().enumerate() {
        for (d, c) in row.iter().enumerate() {
            if c.iter().any(|&x| x > 0) {
                rows.push(MinuteRow {
                    minute_us: (start + m as i64) * MINUTE_US,
                    deployment: topo.deployments[d].name.clone(),
                    arrivals: arrivals[m],
                    observed_served: c[0],
                    simulated_served: c[1],
                    observed_429: c[2],
                    simulated_429: c[3],
                });
            }
        }
    }
    let share = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Comparison {
        minutes: rows,
        fidelity,
        observed_spill: share(obs_out, obs_ok),
        simulated_spill: share(sim_out, sim_ok),
        score,
    }
}

/// A fitted value and what the topology said before.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Fitted {
    pub deployment: String,
    /// `input_tpm_per_ptu`, `bucket_s` or `rpm_window_s`.
    pub field: &'static str,
    pub before: f64,
    pub after: f64,
    /// The smallest and largest values tried that fit about as well (score within
    /// [`EQUALLY_GOOD_PP`] or 5 % of the best): a wide range means the log does not pin the
    /// value down.
    pub equally_good: (f64, f64),
}

/// Score margin (percentage points, summed over deployments) within which fits count as
/// equally good.
pub const EQUALLY_GOOD_PP: f64 = 0.5;

/// The result of a calibration.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    pub fitted: Vec<Fitted>,
    pub before: Comparison,
    pub after: Comparison,
    pub simulations: usize,
}

/// PTU input TPM factors and burst tolerances tried.
const TPM_FACTORS: [f64; 15] = [
    0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3,
];
const BUCKETS_S: [f64; 9] = [5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0];
const RPM_WINDOWS_S: [f64; 3] = [1.0, 10.0, 60.0];

/// Current (input TPM per PTU, bucket seconds) of provisioned deployment `d`.
fn ptu_params(t: &Topology, d: usize) -> Option<(f64, f64)> {
    match (&t.deployments[d].admission, t.deployments[d].model.ptu) {
        (Admission::Provisioned { bucket_s, .. }, Some(p)) => {
            Some((p.input_tpm_per_ptu, *bucket_s))
        }
        _ => None,
    }
}

/// `t` with provisioned deployment `d` at `tpm` input TPM per PTU and `bucket_s`.
pub fn with_ptu_params(t: &Topology, d: usize, tpm: f64, bucket_s: f64) -> Topology {
    let mut t = t.clone();
    let dep = &mut t.deployments[d];
    if let (
        Some(p),
        Admission::Provisioned {
            ptu,
            deployment_type,
            ..
        },
    ) = (dep.model.ptu.as_mut(), &dep.admission)
    {
        p.input_tpm_per_ptu = tpm;
        dep.admission = Admission::provisioned(p, *deployment_type, *ptu, bucket_s);
    }
    t
}

/// `t` with Standard deployment `d` enforcing RPM per `window_s`.
pub fn with_rpm_window(t: &Topology, d: usize, window_s: f64) -> Topology {
    let mut t = t.clone();
    if let Admission::Standard { rpm_window_us, .. } = &mut t.deployments[d].admission {
        *rpm_window_us = (window_s * 1e6) as i64;
    }
    t
}

fn run_compare(
    t: &Topology,
    reqs: &[SimRequest],
    observed: &[Observation],
    seed: u64,
) -> Result<Comparison, SimError> {
    let r = super::run(
        t,
        reqs,
        SimOptions {
            record: true,
            ..SimOptions::seeded(seed)
        },
    )?;
    Ok(compare(t, reqs, observed, &r))
}

/// Fits the unknowns to the observations (see the module doc); returns the fitted topology.
pub fn calibrate(
    topo: &Topology,
    reqs: &[SimRequest],
    observed: &[Observation],
    seed: u64,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<(Topology, Calibration), SimError> {
    let before = run_compare(topo, reqs, observed, seed)?;
    let mut best_t = topo.clone();
    let mut best = before.clone();
    let mut fitted = Vec::new();
    let mut sims = 1;
    for d in 0..topo.deployments.len() {
        let Some((tpm0, bucket0)) = ptu_params(topo, d) else {
            continue;
        };
        let base = best_t.clone();
        let grid: Vec<(f64, f64)> = TPM_FACTORS
            .iter()
            .flat_map(|&f| BUCKETS_S.iter().map(move |&b| (f * tpm0, b)))
            .collect();
        let results: Vec<(f64, f64, Comparison)> = grid
            .par_iter()
            .map(|&(tpm, b)| {
                let t = with_ptu_params(&base, d, tpm, b);
                let c = run_compare(&t, reqs, observed, seed);
                progress(1);
                c.map(|c| (tpm, b, c))
            })
            .collect::<Result<_, _>>()?;
        sims += grid.len();
        let mut winner: Option<(f64, f64, Comparison)> = None;
        for (tpm, b, c) in results.iter().cloned() {
            let better = winner.as_ref().is_none_or(|w| {
                c.score < w.2.score - 1e-9
                    || ((c.score - w.2.score).abs() <= 1e-9
                        && (tpm - tpm0).abs() + (b - bucket0).abs()
                            < (w.0 - tpm0).abs() + (w.1 - bucket0).abs())
            });
            if better {
                winner = Some((tpm, b, c));
            }
        }
        if let Some((tpm, b, c)) = winner
            && c.score < best.score
        {
            best_t = with_ptu_params(&base, d, tpm, b);
            best = c;
        }
        let (tpm1, b1) = ptu_params(&best_t, d).unwrap_or((tpm0, bucket0));
        let near: Vec<&(f64, f64, Comparison)> = results
            .iter()
            .filter(|r| r.2.score <= best.score + EQUALLY_GOOD_PP.max(0.05 * best.score))
            .collect();
        let range = |v: &[f64], at: f64| {
            v.iter()
                .fold((at, at), |(lo, hi), &x| (lo.min(x), hi.max(x)))
        };
        let tpms: Vec<f64> = near.iter().map(|r| r.0).collect();
        let bs: Vec<f64> = near.iter().map(|r| r.1).collect();
        let name = topo.deployments[d].name.clone();
        fitted.push(Fitted {
            deployment: name.clone(),
            field: "input_tpm_per_ptu",
            before: tpm0,
            after: tpm1,
            equally_good: range(&tpms, tpm1),
        });
        fitted.push(Fitted {
            deployment: name,
            field: "bucket_s",
            before: bucket0,
            after: b1,
            equally_good: range(&bs, b1),
        });
    }
    for d in 0..topo.deployments.len() {
        let Admission::Standard { rpm_window_us, .. } = topo.deployments[d].admission else {
            continue;
        };
        let used = best
            .fidelity
            .iter()
            .any(|f| f.deployment == topo.deployments[d].name);
        if !used {
            continue;
        }
        let base = best_t.clone();
        let results: Vec<(f64, Comparison)> = RPM_WINDOWS_S
            .par_iter()
            .map(|&w| {
                let c = run_compare(&with_rpm_window(&base, d, w), reqs, observed, seed);
                progress(1);
                c.map(|c| (w, c))
            })
            .collect::<Result<_, _>>()?;
        sims += RPM_WINDOWS_S.len();
        let w0 = rpm_window_us as f64 / 1e6;
        let mut chosen = w0;
        for (w, c) in results.iter().cloned() {
            if c.score < best.score - 1e-9 {
                best = c;
                chosen = w;
            }
        }
        let margin = EQUALLY_GOOD_PP.max(0.05 * best.score);
        let equally_good = results
            .iter()
            .filter(|r| r.1.score <= best.score + margin)
            .fold((chosen, chosen), |(lo, hi), r| (lo.min(r.0), hi.max(r.0)));
        best_t = with_rpm_window(&best_t, d, chosen);
        fitted.push(Fitted {
            deployment: topo.deployments[d].name.clone(),
            field: "rpm_window_s",
            before: w0,
            after: chosen,
            equally_good,
        });
    }
    Ok((
        best_t,
        Calibration {
            fitted,
            before,
            after: best,
            simulations: sims,
        },
    ))
}

/// Writes fitted values into the topology's text: each `field = value` line set (replaced
/// or added after the deployment's `name` line) in the `[[deployment]]` block of its
/// deployment, the rest of the file (comments included) unchanged.
pub fn patch_topology_text(text: &str, fitted: &[Fitted]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    // Blocks: (start line of `[[deployment]]`, end exclusive, name).
    let mut blocks: Vec<(usize, usize, String)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "[[deployment]]" {
            let start = i;
            let mut j = i + 1;
            while j < lines.len() && !lines[j].trim_start().starts_with('[') {
                j += 1;
            }
            let name = lines[start..j]
                .iter()
                .find_map(|l| {
                    let t = l.trim();
                    let rest = t.strip_prefix("name")?.trim_start().strip_prefix('=')?;
                    Some(rest.trim().trim_matches('"').to_string())
                })
                .unwrap_or_default();
            blocks.push((start, j, name));
            i = j;
        } else {
            i += 1;
        }
    }
    let mut out: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    let mut inserts: Vec<(usize, String)> = Vec::new();
    for f in fitted {
        if f.before == f.after {
            continue;
        }
        let Some((s, e, _)) = blocks.iter().find(|b| b.2 == f.deployment) else {
            continue;
        };
        let value = if f.field == "input_tpm_per_ptu" {
            format!("{:.0}", f.after)
        } else {
            format!("{}", f.after)
        };
        let line = format!(
            "{} = {value}  # fitted by spillway calibrate (was {})",
            f.field, f.before
        );
        let existing = (*s..*e).find(|&k| {
            let t = out[k].trim_start();
            t.starts_with(f.field) && t[f.field.len()..].trim_start().starts_with('=')
        });
        match existing {
            Some(k) => out[k] = line,
            None => {
                let at = (*s..*e)
                    .find(|&k| out[k].trim_start().starts_with("name"))
                    .map_or(s + 1, |k| k + 1);
                inserts.push((at, line));
            }
        }
    }
    inserts.sort_by_key(|x| std::cmp::Reverse(x.0));
    for (at, line) in inserts {
        out.insert(at, line);
    }
    let mut s = out.join("\n");
    if text.ends_with('\n') {
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_values_are_written_into_the_right_block() {
        let text = "# t\n[[deployment]]\nname = \"ptu\"\nbucket_s = 60\n\n[[deployment]]\nname = \"payg\"\ncapacity = 1\n[gateway]\n";
        let fitted = [
            Fitted {
                deployment: "ptu".into(),
                field: "bucket_s",
                before: 60.0,
                after: 20.0,
                equally_good: (20.0, 20.0),
            },
            Fitted {
                deployment: "ptu".into(),
                field: "input_tpm_per_ptu",
                before: 2500.0,
                after: 2200.0,
                equally_good: (2200.0, 2200.0),
            },
            Fitted {
                deployment: "payg".into(),
                field: "rpm_window_s",
                before: 10.0,
                after: 1.0,
                equally_good: (1.0, 1.0),
            },
        ];
        let out = patch_topology_text(text, &fitted);
        assert!(out.contains("bucket_s = 20 "));
        assert!(!out.contains("bucket_s = 60\n"));
        let ptu = out.find("name = \"ptu\"").unwrap();
        let payg = out.find("name = \"payg\"").unwrap();
        let tpm = out.find("input_tpm_per_ptu = 2200").unwrap();
        assert!(ptu < tpm && tpm < payg);
        assert!(out.find("rpm_window_s = 1 ").unwrap() > payg);
        assert!(out.starts_with("# t\n"));
    }
}
