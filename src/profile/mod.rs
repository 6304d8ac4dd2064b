//! Traffic profiles: requests and tokens per time window, and their distribution.
//!
//! [`Profiler`] accumulates [`Request`]s as they stream in (in parallel, chunk by chunk) into
//! per-window sums for every `--by` group and for all traffic together, plus exact histograms
//! of prompt and completion tokens per request. [`Profiler::finish`] lays the windows out
//! densely and computes the statistics with polars.
//!
//! Invariants and definitions:
//! * Windows are aligned to multiples of the window length since the Unix epoch (UTC), so 1-minute
//!   windows start on whole minutes. The profile spans every window from the first request's
//!   to the last request's, and **idle windows count as zero**: a quiet minute is a minute at
//!   0 TPM, so means, percentiles and peak-to-mean include it.
//! * Rates are per minute: a sub-minute window's count is scaled by 60 / window seconds (the
//!   label says so); longer windows are averaged down to per-minute the same way.
//! * TPM counts prompt + completion tokens. PTU-weighted tokens are
//!   `prompt − cached + output_weight × completion`, with the output weight of the request's
//!   model from the catalog; when a request's model has no PTU figures the weighted series is
//!   reported as unavailable rather than guessed.
//! * Percentiles use linear interpolation between closest ranks (numpy's default), over the
//!   windows for rates and over requests for the per-request distributions. Failed requests
//!   count as arrivals (RPM) and with the tokens they carry, but not in per-request
//!   distributions.

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::ingest::time::format_time;
use crate::ingest::{IngestSummary, Request};

/// Requests per parallel accumulation task.
const CHUNK: usize = 1 << 16;
/// Token values below this are counted in a dense array; others in a map.
const DENSE_HIST: usize = 1 << 16;

/// Errors of profile computation.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{files}: no requests to profile ({rows} rows read, {skipped} skipped{hint})")]
    Empty {
        files: String,
        rows: u64,
        skipped: u64,
        hint: &'static str,
    },
    #[error(
        "the requests span {windows} windows of {window_s} s (from {first} to {last}) in {groups} \
         series; at most {MAX_CELLS} window rows are kept: check the time column, or pass a \
         longer --window or fewer --by fields"
    )]
    Span {
        windows: u64,
        groups: usize,
        window_s: f64,
        first: String,
        last: String,
    },
    #[error("computing the profile: {0}")]
    Polars(#[from] PolarsError),
}

/// Most window rows (windows × series) a profile lays out: 20 M rows of sums are about 1.3 GB.
/// One series of 1-minute windows covers 38 years; of 1-second windows, 231 days.
pub const MAX_CELLS: u64 = 20_000_000;

/// Sums over one window.
#[derive(Debug, Default, Clone, Copy)]
struct Acc {
    requests: u64,
    failed: u64,
    prompt: u64,
    completion: u64,
    cached: u64,
    weighted: f64,
    /// Requests whose model has no PTU figures.
    unweighted: u64,
}

impl Acc {
    fn add(&mut self, r: &Request, weight: Option<f64>) {
        self.requests += 1;
        self.failed += r.failed as u64;
        self.prompt += r.prompt as u64;
        self.completion += r.completion as u64;
        self.cached += r.cached as u64;
        match weight {
            Some(w) => {
                self.weighted +=
                    (r.prompt - r.cached.min(r.prompt)) as f64 + w * r.completion as f64
            }
            None => self.unweighted += 1,
        }
    }

    fn merge(&mut self, o: &Acc) {
        self.requests += o.requests;
        self.failed += o.failed;
        self.prompt += o.prompt;
        self.completion += o.completion;
        self.cached += o.cached;
        self.weighted += o.weighted;
        self.unweighted += o.unweighted;
    }
}

/// Exact histogram of token counts.
#[derive(Debug, Default, Clone)]
struct Hist {
    dense: Vec<u64>,
    sparse: FxHashMap<u32, u64>,
}

impl Hist {
    fn add(&mut self, v: u32) {
        let i = v as usize;
        if i < DENSE_HIST {
            if i >= self.dense.len() {
                self.dense
                    .resize((i + 1).next_power_of_two().min(DENSE_HIST), 0);
            }
            self.dense[i] += 1;
        } else {
            *self.sparse.entry(v).or_default() += 1;
        }
    }

    fn merge(&mut self, o: &Hist) {
        if o.dense.len() > self.dense.len() {
            self.dense.resize(o.dense.len(), 0);
        }
        for (a, b) in self.dense.iter_mut().zip(&o.dense) {
            *a += b;
        }
        for (k, v) in &o.sparse {
            *self.sparse.entry(*k).or_default() += v;
        }
    }

    /// (value, count) pairs in increasing value order.
    fn sorted(&self) -> Vec<(u32, u64)> {
        let mut v: Vec<(u32, u64)> = self
            .dense
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (i as u32, *c))
            .collect();
        let mut s: Vec<(u32, u64)> = self.sparse.iter().map(|(k, c)| (*k, *c)).collect();
        s.sort_unstable();
        v.extend(s);
        v
    }
}

/// Accumulators of one group.
#[derive(Debug, Default, Clone)]
struct GroupAcc {
    windows: FxHashMap<i64, Acc>,
    prompt: Hist,
    completion: Hist,
}

impl GroupAcc {
    /// Counts the request's prompt and completion sizes (failed requests have none).
    fn add_sizes(&mut self, r: &Request) {
        if !r.failed {
            self.prompt.add(r.prompt);
            self.completion.add(r.completion);
        }
    }

    fn merge(&mut self, o: &GroupAcc) {
        for (w, a) in &o.windows {
            self.windows.entry(*w).or_default().merge(a);
        }
        self.prompt.merge(&o.prompt);
        self.completion.merge(&o.completion);
    }
}

/// Streaming accumulator for a profile.
#[derive(Debug, Clone)]
pub struct Profiler {
    window_us: i64,
    /// Index 0 = all traffic; index g + 1 = group g (when grouping).
    groups: Vec<GroupAcc>,
    grouped: bool,
}

impl Profiler {
    /// `window_us` > 0; `grouped` when `--by` was given.
    pub fn new(window_us: i64, grouped: bool) -> Self {
        Profiler {
            window_us: window_us.max(1),
            groups: vec![GroupAcc::default()],
            grouped,
        }
    }

    /// Adds a block of requests; `weights[model id]` is the model's PTU output weight.
    pub fn add(&mut self, batch: &[Request], weights: &[Option<f64>]) {
        let window = self.window_us;
        let grouped = self.grouped;
        let partial = batch
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut p: Vec<GroupAcc> = vec![GroupAcc::default()];
                // Logs are (nearly) in time order: all traffic sums into the current window
                // and reaches the map only when the window changes.
                let mut run: Option<(i64, Acc)> = None;
                for r in chunk {
                    let w = r.t_us.div_euclid(window);
                    let weight = weights.get(r.model as usize).copied().flatten();
                    match &mut run {
                        Some((rw, acc)) if *rw == w => acc.add(r, weight),
                        _ => {
                            if let Some((rw, acc)) = run.take() {
                                p[0].windows.entry(rw).or_default().merge(&acc);
                            }
                            let mut acc = Acc::default();
                            acc.add(r, weight);
                            run = Some((w, acc));
                        }
                    }
                    p[0].add_sizes(r);
                    if grouped {
                        let g = r.group as usize + 1;
                        if g >= p.len() {
                            p.resize(g + 1, GroupAcc::default());
                        }
                        let ga = &mut p[g];
                        ga.windows.entry(w).or_default().add(r, weight);
                        ga.add_sizes(r);
                    }
                }
                if let Some((rw, acc)) = run {
                    p[0].windows.entry(rw).or_default().merge(&acc);
                }
                p
            })
            .reduce(Vec::new, |mut a, b| {
                if b.len() > a.len() {
                    a.resize(b.len(), GroupAcc::default());
                }
                for (x, y) in a.iter_mut().zip(&b) {
                    x.merge(y);
                }
                a
            });
        if partial.len() > self.groups.len() {
            self.groups.resize(partial.len(), GroupAcc::default());
        }
        for (x, y) in self.groups.iter_mut().zip(&partial) {
            x.merge(y);
        }
    }

    /// Computes the profile.
    pub fn finish(self, summary: &IngestSummary) -> Result<Profile, ProfileError> {
        let all = &self.groups[0];
        if all.windows.is_empty() {
            let files: Vec<&str> = summary.files.iter().map(|f| f.path.as_str()).collect();
            return Err(ProfileError::Empty {
                files: files.join(", "),
                rows: summary.rows_read,
                skipped: summary.skipped,
                hint: if summary.rows_read == 0 {
                    ": the input holds a header at most"
                } else if summary.skipped > 0 {
                    ": every row was skipped; run without --skip-bad to see why"
                } else {
                    ""
                },
            });
        }
        let first = *all.windows.keys().min().unwrap_or(&0);
        let last = *all.windows.keys().max().unwrap_or(&0);
        let ngroups = self.groups.len();
        let span = (last as i128 - first as i128 + 1) as u64;
        if span.saturating_mul(ngroups as u64) > MAX_CELLS {
            let at = |w: i64| format_time(w.saturating_mul(self.window_us), summary.relative_time);
            return Err(ProfileError::Span {
                windows: span,
                groups: ngroups,
                window_s: self.window_us as f64 / 1e6,
                first: at(first),
                last: at(last),
            });
        }
        let n = span as usize;
        let window_s = self.window_us as f64 / 1e6;
        let scale = 60.0 / window_s;

        // Dense series: gid, window index, sums.
        let mut gid = Vec::with_capacity(ngroups * n);
        let mut widx = Vec::with_capacity(ngroups * n);
        let mut cols: [Vec<u64>; 5] = Default::default();
        let mut weighted = Vec::with_capacity(ngroups * n);
        let mut unweighted = vec![0u64; ngroups];
        for (g, ga) in self.groups.iter().enumerate() {
            if g > 0 && ga.windows.is_empty() {
                continue;
            }
            for w in first..=last {
                let a = ga.windows.get(&w).copied().unwrap_or_default();
                gid.push(g as u32);
                widx.push(w);
                cols[0].push(a.requests);
                cols[1].push(a.failed);
                cols[2].push(a.prompt);
                cols[3].push(a.completion);
                cols[4].push(a.cached);
                weighted.push(a.weighted);
                unweighted[g] += a.unweighted;
            }
        }
        let [requests, failed, prompt, completion, cached] = cols;
        let df = df!(
            "gid" => gid,
            "w" => widx,
            "requests" => requests,
            "failed" => failed,
            "prompt" => prompt,
            "completion" => completion,
            "cached" => cached,
            "weighted" => weighted,
        )?;

        let metrics = ["rpm", "tpm", "prompt_tpm", "completion_tpm", "weighted_tpm"];
        let rates = df.clone().lazy().with_columns([
            (col("requests").cast(DataType::Float64) * lit(scale)).alias("rpm"),
            ((col("prompt") + col("completion")).cast(DataType::Float64) * lit(scale)).alias("tpm"),
            (col("prompt").cast(DataType::Float64) * lit(scale)).alias("prompt_tpm"),
            (col("completion").cast(DataType::Float64) * lit(scale)).alias("completion_tpm"),
            (col("weighted") * lit(scale)).alias("weighted_tpm"),
        ]);
        let mut aggs = vec![
            col("requests").sum().alias("n_requests"),
            col("failed").sum().alias("n_failed"),
            col("prompt").sum().alias("n_prompt"),
            col("completion").sum().alias("n_completion"),
            col("cached").sum().alias("n_cached"),
            col("weighted").sum().alias("n_weighted"),
            (col("requests").eq(lit(0u64))).sum().alias("idle"),
        ];
        for m in metrics {
            aggs.push(col(m).mean().alias(format!("{m}_mean")));
            for (q, name) in QUANTILES {
                aggs.push(
                    col(m)
                        .quantile(lit(q), QuantileMethod::Linear)
                        .alias(format!("{m}_{name}")),
                );
            }
            aggs.push(col(m).max().alias(format!("{m}_max")));
            aggs.push(
                col("w")
                    .get(col(m).arg_max(), false)
                    .alias(format!("{m}_busiest")),
            );
        }
        let stats = rates
            .clone()
            .group_by([col("gid")])
            .agg(aggs)
            .sort(["gid"], SortMultipleOptions::default())
            .collect()?;

        let get_f = |name: &str, row: usize| -> Result<f64, PolarsError> {
            let c = stats.column(name)?.cast(&DataType::Float64)?;
            Ok(c.f64()?.get(row).unwrap_or(0.0))
        };
        let get_i = |name: &str, row: usize| -> Result<i64, PolarsError> {
            let c = stats.column(name)?.cast(&DataType::Int64)?;
            Ok(c.i64()?.get(row).unwrap_or(0))
        };
        let gid_col = stats.column("gid")?.cast(&DataType::Int64)?;
        let gid_ca = gid_col.i64()?;
        let gids: Vec<u32> = (0..gid_ca.len())
            .map(|i| gid_ca.get(i).unwrap_or(0) as u32)
            .collect();
        let mut profiles = Vec::with_capacity(gids.len());
        for (row, &g) in gids.iter().enumerate() {
            let g = g as usize;
            let weights_known = unweighted[g] == 0;
            let rate = |m: &str| -> Result<RateStats, PolarsError> {
                let mean = get_f(&format!("{m}_mean"), row)?;
                let max = get_f(&format!("{m}_max"), row)?;
                Ok(RateStats {
                    mean,
                    p50: get_f(&format!("{m}_p50"), row)?,
                    p90: get_f(&format!("{m}_p90"), row)?,
                    p95: get_f(&format!("{m}_p95"), row)?,
                    p99: get_f(&format!("{m}_p99"), row)?,
                    p999: get_f(&format!("{m}_p999"), row)?,
                    max,
                    peak_to_mean: if mean > 0.0 { max / mean } else { 0.0 },
                    busiest_window_start_us: get_i(&format!("{m}_busiest"), row)? * self.window_us,
                })
            };
            let key = if g == 0 {
                Vec::new()
            } else {
                summary
                    .dims
                    .iter()
                    .cloned()
                    .zip(summary.groups.get(g - 1).cloned().unwrap_or_default())
                    .collect()
            };
            let ga = &self.groups[g];
            profiles.push(GroupProfile {
                key,
                requests: get_i("n_requests", row)? as u64,
                failed: get_i("n_failed", row)? as u64,
                prompt_tokens: get_i("n_prompt", row)? as u64,
                completion_tokens: get_i("n_completion", row)? as u64,
                cached_tokens: get_i("n_cached", row)? as u64,
                ptu_weighted_tokens: weights_known.then_some(get_f("n_weighted", row)?),
                idle_windows: get_i("idle", row)? as u64,
                rpm: rate("rpm")?,
                tpm: rate("tpm")?,
                prompt_tpm: rate("prompt_tpm")?,
                completion_tpm: rate("completion_tpm")?,
                ptu_weighted_tpm: if weights_known {
                    Some(rate("weighted_tpm")?)
                } else {
                    None
                },
                prompt_per_request: Dist::from_hist(&ga.prompt),
                completion_per_request: Dist::from_hist(&ga.completion),
            });
        }
        let overall = profiles.remove(0);
        let series = series_frame(
            rates,
            &summary.dims,
            &summary.groups,
            self.grouped,
            self.window_us,
        )?;
        Ok(Profile {
            window_s,
            rate_scale: scale,
            start_us: first * self.window_us,
            end_us: (last + 1) * self.window_us,
            windows: n as u64,
            relative_time: summary.relative_time,
            overall,
            groups: profiles,
            series,
        })
    }
}

/// Quantiles reported over windows, with their field-name suffixes.
const QUANTILES: [(f64, &str); 5] = [
    (0.5, "p50"),
    (0.9, "p90"),
    (0.95, "p95"),
    (0.99, "p99"),
    (0.999, "p999"),
];

/// The per-window series, one row per window and group (all traffic when not grouped).
fn series_frame(
    rates: LazyFrame,
    dims: &[String],
    groups: &[Vec<String>],
    grouped: bool,
    window_us: i64,
) -> Result<DataFrame, PolarsError> {
    let lf = if grouped {
        rates.filter(col("gid").gt(lit(0u32)))
    } else {
        rates.filter(col("gid").eq(lit(0u32)))
    };
    let mut df = lf
        .select([
            (col("w") * lit(window_us)).alias("window_start_us"),
            col("gid"),
            col("requests"),
            col("failed"),
            col("prompt").alias("prompt_tokens"),
            col("completion").alias("completion_tokens"),
            col("cached").alias("cached_tokens"),
            col("weighted").alias("ptu_weighted_tokens"),
            col("rpm"),
            col("tpm"),
        ])
        .collect()?;
    if grouped {
        let gid_col = df.column("gid")?.cast(&DataType::Int64)?;
        let gid_ca = gid_col.i64()?;
        let gid: Vec<u32> = (0..gid_ca.len())
            .map(|i| gid_ca.get(i).unwrap_or(1) as u32)
            .collect();
        for (d, name) in dims.iter().enumerate() {
            let values: Vec<String> = gid
                .iter()
                .map(|&g| {
                    groups
                        .get(g as usize - 1)
                        .and_then(|k| k.get(d))
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            df.with_column(Column::new(name.as_str().into(), values))?;
        }
    }
    df.drop_in_place("gid")?;
    Ok(df)
}

/// Statistics of a per-minute rate over the windows.
#[derive(Debug, Clone, Serialize)]
pub struct RateStats {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub peak_to_mean: f64,
    /// Start of the (first) window with the maximum.
    pub busiest_window_start_us: i64,
}

/// Distribution of a per-request figure.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dist {
    pub count: u64,
    pub mean: f64,
    pub min: u64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: u64,
}

impl Dist {
    fn from_hist(h: &Hist) -> Dist {
        let v = h.sorted();
        let count: u64 = v.iter().map(|(_, c)| c).sum();
        if count == 0 {
            return Dist::default();
        }
        let sum: f64 = v.iter().map(|(x, c)| *x as f64 * *c as f64).sum();
        // Value at 0-based rank k.
        let at = |k: u64| -> f64 {
            let mut seen = 0;
            for (x, c) in &v {
                seen += c;
                if k < seen {
                    return *x as f64;
                }
            }
            v.last().map_or(0.0, |(x, _)| *x as f64)
        };
        let q = |p: f64| -> f64 {
            let pos = p * (count - 1) as f64;
            let lo = pos.floor();
            let frac = pos - lo;
            let a = at(lo as u64);
            if frac == 0.0 {
                a
            } else {
                a + (at(lo as u64 + 1) - a) * frac
            }
        };
        Dist {
            count,
            mean: sum / count as f64,
            min: v.first().map_or(0, |(x, _)| *x as u64),
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: v.last().map_or(0, |(x, _)| *x as u64),
        }
    }
}

/// The profile of one group (or of all traffic).
#[derive(Debug, Clone, Serialize)]
pub struct GroupProfile {
    /// `--by` dimension → value (empty for all traffic).
    pub key: Vec<(String, String)>,
    pub requests: u64,
    pub failed: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub ptu_weighted_tokens: Option<f64>,
    pub idle_windows: u64,
    pub rpm: RateStats,
    pub tpm: RateStats,
    pub prompt_tpm: RateStats,
    pub completion_tpm: RateStats,
    pub ptu_weighted_tpm: Option<RateStats>,
    pub prompt_per_request: Dist,
    pub completion_per_request: Dist,
}

/// A computed profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub window_s: f64,
    /// Multiplier from a window's count to a per-minute rate.
    pub rate_scale: f64,
    pub start_us: i64,
    pub end_us: i64,
    pub windows: u64,
    pub relative_time: bool,
    pub overall: GroupProfile,
    pub groups: Vec<GroupProfile>,
    /// One row per window (and group): window_start_us, requests, failed, prompt_tokens,
    /// completion_tokens, cached_tokens, ptu_weighted_tokens, rpm, tpm, then the `--by` columns.
    pub series: DataFrame,
}

/// PTU output weight per model id (None when the catalog has no PTU figures for it).
pub fn model_weights(catalog: &Catalog, models: &[String]) -> Vec<Option<f64>> {
    models
        .iter()
        .map(|m| {
            catalog
                .model(m)
                .and_then(|m| m.ptu.map(|p| p.output_weight))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(t_s: f64, prompt: u32, completion: u32) -> Request {
        Request {
            t_us: (t_s * 1e6) as i64,
            prompt,
            completion,
            cached: 0,
            max_tokens: 0,
            model: 0,
            group: 0,
            failed: false,
        }
    }

    fn summary() -> IngestSummary {
        IngestSummary {
            models: vec!["gpt-4o".into()],
            groups: vec![vec![]],
            ..Default::default()
        }
    }

    #[test]
    fn idle_windows_count_as_zero() {
        // Minute 0: 2 requests, minute 1: idle, minute 2: 1 request.
        let mut p = Profiler::new(60_000_000, false);
        p.add(
            &[req(1.0, 100, 10), req(30.0, 100, 10), req(125.0, 300, 30)],
            &[Some(4.0)],
        );
        let prof = p.finish(&summary()).unwrap();
        assert_eq!(prof.windows, 3);
        assert_eq!(prof.overall.idle_windows, 1);
        let rpm = &prof.overall.rpm;
        assert!((rpm.mean - 1.0).abs() < 1e-9);
        assert!((rpm.p50 - 1.0).abs() < 1e-9);
        assert_eq!(rpm.max, 2.0);
        assert_eq!(rpm.busiest_window_start_us, 0);
        assert_eq!(prof.overall.tpm.max, 330.0);
        assert_eq!(prof.overall.tpm.busiest_window_start_us, 120_000_000);
        assert_eq!(prof.series.height(), 3);
    }

    #[test]
    fn sub_minute_windows_scale_to_per_minute() {
        let mut p = Profiler::new(10_000_000, false);
        p.add(&[req(0.0, 10, 0), req(1.0, 10, 0)], &[Some(4.0)]);
        let prof = p.finish(&summary()).unwrap();
        assert_eq!(prof.overall.rpm.max, 12.0);
        assert_eq!(prof.overall.tpm.max, 120.0);
    }

    #[test]
    fn weighted_tokens_use_the_output_weight_and_deduct_cache() {
        let mut p = Profiler::new(60_000_000, false);
        let mut r = req(0.0, 1000, 100);
        r.cached = 400;
        p.add(&[r], &[Some(4.0)]);
        let prof = p.finish(&summary()).unwrap();
        assert_eq!(prof.overall.ptu_weighted_tokens, Some(600.0 + 400.0));
    }

    #[test]
    fn unknown_weights_are_reported_unavailable() {
        let mut p = Profiler::new(60_000_000, false);
        p.add(&[req(0.0, 1000, 100)], &[None]);
        let prof = p.finish(&summary()).unwrap();
        assert!(prof.overall.ptu_weighted_tokens.is_none());
        assert!(prof.overall.ptu_weighted_tpm.is_none());
    }

    #[test]
    fn per_request_percentiles_interpolate_like_numpy() {
        let mut h = Hist::default();
        for v in [1u32, 2, 3, 4, 100_000] {
            h.add(v);
        }
        let d = Dist::from_hist(&h);
        assert_eq!(d.count, 5);
        assert_eq!(d.p50, 3.0);
        assert!((d.p90 - (4.0 + (100_000.0 - 4.0) * 0.6)).abs() < 1e-6);
        assert_eq!(d.max, 100_000);
        assert_eq!(d.min, 1);
    }

    #[test]
    fn groups_are_profiled_on_the_shared_time_axis() {
        let mut p = Profiler::new(60_000_000, true);
        let mut a = req(0.0, 10, 0);
        a.group = 0;
        let mut b = req(120.0, 20, 0);
        b.group = 1;
        p.add(&[a, b], &[Some(4.0)]);
        let s = IngestSummary {
            models: vec!["gpt-4o".into()],
            dims: vec!["tenant".into()],
            groups: vec![vec!["a".into()], vec!["b".into()]],
            ..Default::default()
        };
        let prof = p.finish(&s).unwrap();
        assert_eq!(prof.groups.len(), 2);
        assert_eq!(
            prof.groups[0].key,
            vec![("tenant".to_string(), "a".to_string())]
        );
        assert_eq!(prof.groups[0].idle_windows, 2);
        assert_eq!(prof.series.height(), 6);
        assert_eq!(prof.overall.requests, 2);
    }

    #[test]
    fn empty_input_is_an_error() {
        let p = Profiler::new(60_000_000, false);
        assert!(matches!(
            p.finish(&summary()),
            Err(ProfileError::Empty { .. })
        ));
    }
}
