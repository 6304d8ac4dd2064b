//! Workloads: requests from a trace (with time compression and traffic growth) or synthetic.
//!
//! * `--speed X` divides every gap from the first arrival by X.
//! * `--scale S` grows or shrinks traffic: each request arrives ⌊S⌋ times, plus once more with
//!   probability S − ⌊S⌋ (S < 1 thins the trace). Copies beyond the first are moved by a
//!   uniform offset within ±1 s ("fresh randomness"), which keeps the minute-scale shape of
//!   bursts while not stacking copies on the same microsecond.
//! * The completion budget charged at admission: the request's own `max_tokens` when the log
//!   has it (the service enforces it); otherwise the `--max-tokens-estimate` rule:
//!   `model-default` (the default: what the service charges a request that sets none — the
//!   model's documented default, 4,096 for gpt-4o — per deployment, or the actual completion
//!   where the catalog has no default for the model), `actual` (the completion that came, as
//!   if every client set max_tokens exactly), `fixed:N`, or `pNN` (that percentile of the
//!   trace's completions, as if every client set it).
//! * Synthetic: `rate=60/min,prompt=1000,completion=100,duration=1h,arrivals=poisson` (or
//!   `constant`); optional `cached=N`, `max_tokens=N` (the clients' own), `keys=K` (token-limit
//!   keys assigned round-robin), `start=RFC3339` (default [`SYNTHETIC_START`]).

use super::{Budget, MAX_REQUESTS, Rng, SimRequest};
use crate::ingest::Request;
use crate::ingest::time::{parse_datetime, parse_duration};

/// Where synthetic workloads start unless `start=` says otherwise: Monday 2026-01-05 00:00 UTC.
pub const SYNTHETIC_START: &str = "2026-01-05T00:00:00Z";

/// How the completion budget is estimated when a request does not carry `max_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum MaxTokensEstimate {
    Actual,
    Fixed(u32),
    Percentile(f64),
    #[default]
    ModelDefault,
}

impl MaxTokensEstimate {
    /// How the rule reads in reports (`--max-tokens-estimate` spelling).
    pub fn label(&self) -> String {
        match self {
            MaxTokensEstimate::Actual => "actual".into(),
            MaxTokensEstimate::Fixed(n) => format!("fixed:{n}"),
            MaxTokensEstimate::Percentile(p) => format!("p{}", p * 100.0),
            MaxTokensEstimate::ModelDefault => "model-default".into(),
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("'{s}': expected actual, fixed:N, pNN (e.g. p95) or model-default");
        if s == "actual" {
            return Ok(MaxTokensEstimate::Actual);
        }
        if s == "model-default" {
            return Ok(MaxTokensEstimate::ModelDefault);
        }
        if let Some(n) = s.strip_prefix("fixed:") {
            return n
                .trim()
                .parse()
                .map(MaxTokensEstimate::Fixed)
                .map_err(|_| bad());
        }
        if let Some(p) = s.strip_prefix('p') {
            let v: f64 = p.parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&v) {
                return Err(bad());
            }
            return Ok(MaxTokensEstimate::Percentile(v / 100.0));
        }
        Err(bad())
    }
}

/// Transformation of a trace into simulator requests.
#[derive(Debug, Clone, Copy)]
pub struct TraceShape {
    pub speed: f64,
    pub scale: f64,
    pub estimate: MaxTokensEstimate,
    pub seed: u64,
}

/// The budget of a request without its own `max_tokens` under `estimate` (`pNN` resolved to
/// `percentile_value`).
fn estimated(estimate: MaxTokensEstimate, completion: u32, percentile_value: u32) -> (u32, Budget) {
    match estimate {
        MaxTokensEstimate::Actual => (completion, Budget::Estimated),
        MaxTokensEstimate::Fixed(n) => (n, Budget::Estimated),
        MaxTokensEstimate::Percentile(_) => (percentile_value, Budget::Estimated),
        MaxTokensEstimate::ModelDefault => (0, Budget::ModelDefault),
    }
}

/// The `p`-quantile (nearest rank, rounding up) of the completions: what a `pNN` rule charges.
pub fn completion_percentile(completions: impl Iterator<Item = u32>, p: f64) -> u32 {
    let mut c: Vec<u32> = completions.collect();
    if c.is_empty() {
        return 0;
    }
    let k = ((p * (c.len() - 1) as f64).ceil() as usize).min(c.len() - 1);
    *c.select_nth_unstable(k).1
}

/// Builds simulator requests from trace requests (sorted by arrival). `key_of` maps a
/// request's group to its token-limit key.
pub fn from_trace(
    reqs: &[Request],
    shape: &TraceShape,
    key_of: &dyn Fn(u32) -> u32,
) -> Vec<SimRequest> {
    let pct = match shape.estimate {
        MaxTokensEstimate::Percentile(p) => {
            completion_percentile(reqs.iter().map(|r| r.completion), p)
        }
        _ => 0,
    };
    let t0 = reqs.first().map_or(0, |r| r.t_us);
    let mut rng = Rng::new(shape.seed ^ 0x7472_6163_6521);
    let whole = shape.scale.floor() as u64;
    let frac = shape.scale - shape.scale.floor();
    let mut out =
        Vec::with_capacity((reqs.len() as f64 * shape.scale.max(0.0) * 1.01) as usize + 1);
    for r in reqs {
        let t = t0 + ((r.t_us - t0) as f64 / shape.speed).round() as i64;
        let copies = whole + u64::from(frac > 0.0 && rng.next_f64() < frac);
        let (max_tokens, budget) = if r.max_tokens > 0 {
            (r.max_tokens, Budget::Own)
        } else {
            estimated(shape.estimate, r.completion, pct)
        };
        for c in 0..copies {
            let jitter = if c == 0 {
                0
            } else {
                ((rng.next_f64() * 2.0 - 1.0) * 1e6).round() as i64
            };
            out.push(SimRequest {
                t_us: t + jitter,
                prompt: r.prompt,
                completion: r.completion,
                cached: r.cached,
                max_tokens,
                key: key_of(r.group),
                budget,
            });
        }
    }
    if shape.scale > 1.0 {
        out.sort_by_key(|r| r.t_us);
    }
    out
}

/// A synthetic workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Synthetic {
    pub rate_per_s: f64,
    pub prompt: u32,
    pub completion: u32,
    pub cached: u32,
    pub max_tokens: Option<u32>,
    pub duration_us: i64,
    pub poisson: bool,
    pub keys: u32,
    pub start_us: i64,
}

impl Synthetic {
    /// Parses `rate=60/min,prompt=1000,completion=100,duration=1h,arrivals=poisson`.
    pub fn parse(spec: &str) -> Result<Synthetic, String> {
        let mut s = Synthetic {
            rate_per_s: 0.0,
            prompt: 0,
            completion: 0,
            cached: 0,
            max_tokens: None,
            duration_us: 0,
            poisson: true,
            keys: 1,
            start_us: parse_datetime(SYNTHETIC_START).unwrap_or(0),
        };
        let mut have = [false; 4];
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}': expected key=value"))?;
            let (k, v) = (k.trim(), v.trim());
            let count = |what: &str| {
                v.parse::<u32>()
                    .map_err(|_| format!("{what}={v}: expected a whole number of tokens"))
            };
            match k {
                "rate" => {
                    let (n, unit) = v.split_once('/').unwrap_or((v, "s"));
                    let n: f64 = n
                        .trim()
                        .parse()
                        .map_err(|_| format!("rate={v}: expected N/s, N/min or N/h"))?;
                    let per = match unit.trim() {
                        "s" | "sec" => 1.0,
                        "min" | "m" => 60.0,
                        "h" | "hour" => 3600.0,
                        other => {
                            return Err(format!("rate={v}: unknown unit '{other}' (s, min or h)"));
                        }
                    };
                    if !(n.is_finite() && n > 0.0) {
                        return Err(format!("rate={v}: must be positive"));
                    }
                    s.rate_per_s = n / per;
                    have[0] = true;
                }
                "prompt" => {
                    s.prompt = count("prompt")?;
                    have[1] = true;
                }
                "completion" => {
                    s.completion = count("completion")?;
                    have[2] = true;
                }
                "duration" => {
                    s.duration_us = parse_duration(v)
                        .ok_or_else(|| format!("duration={v}: expected e.g. 10m, 1h"))?;
                    have[3] = true;
                }
                "arrivals" => {
                    s.poisson = match v {
                        "poisson" => true,
                        "constant" => false,
                        _ => return Err(format!("arrivals={v}: expected poisson or constant")),
                    }
                }
                "cached" => s.cached = count("cached")?,
                "max_tokens" => s.max_tokens = Some(count("max_tokens")?),
                "keys" => {
                    s.keys = count("keys")?;
                    if s.keys == 0 {
                        return Err("keys=0: need at least one key".into());
                    }
                }
                "start" => {
                    s.start_us =
                        parse_datetime(v).ok_or_else(|| format!("start={v}: expected RFC 3339"))?
                }
                other => {
                    return Err(format!(
                        "unknown key '{other}' (expected rate, prompt, completion, duration, arrivals, cached, max_tokens, keys, start)"
                    ));
                }
            }
        }
        for (i, k) in ["rate", "prompt", "completion", "duration"]
            .iter()
            .enumerate()
        {
            if !have[i] {
                return Err(format!(
                    "missing {k}= (e.g. rate=60/min,prompt=1000,completion=100,duration=1h)"
                ));
            }
        }
        if s.cached > s.prompt {
            return Err("cached cannot exceed prompt".into());
        }
        let expected = s.rate_per_s * s.duration_us as f64 / 1e6;
        if expected > MAX_REQUESTS as f64 {
            return Err(format!(
                "rate × duration is {expected:.0} requests; at most {MAX_REQUESTS} are generated"
            ));
        }
        Ok(s)
    }

    /// Generates the requests (sorted); requests without `max_tokens=` are charged by
    /// `estimate`.
    pub fn generate(&self, seed: u64, estimate: MaxTokensEstimate) -> Vec<SimRequest> {
        let (max_tokens, budget) = match self.max_tokens {
            Some(n) => (n, Budget::Own),
            None => estimated(estimate, self.completion, self.completion),
        };
        let mut rng = Rng::new(seed ^ 0x7379_6e74_6821);
        let gap_us = 1e6 / self.rate_per_s;
        let mut out = Vec::with_capacity((self.duration_us as f64 / gap_us) as usize + 1);
        let mut t = 0.0f64;
        let mut i = 0u32;
        loop {
            t += if self.poisson {
                rng.exp(gap_us)
            } else {
                gap_us
            };
            if t >= self.duration_us as f64 {
                break;
            }
            out.push(SimRequest {
                t_us: self.start_us + t.round() as i64,
                prompt: self.prompt,
                completion: self.completion,
                cached: self.cached,
                max_tokens,
                key: i % self.keys,
                budget,
            });
            i = i.wrapping_add(1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_spec_parses_and_reports_bad_keys() {
        let s = Synthetic::parse(
            "rate=60/min,prompt=1000,completion=100,duration=1h,arrivals=constant",
        )
        .unwrap();
        assert_eq!(s.rate_per_s, 1.0);
        assert_eq!(s.generate(1, MaxTokensEstimate::Actual).len(), 3599);
        assert!(
            Synthetic::parse("rate=60/min,prompt=1000,completion=100")
                .unwrap_err()
                .contains("duration")
        );
        assert!(
            Synthetic::parse("rate=fast,prompt=1,completion=1,duration=1m")
                .unwrap_err()
                .contains("rate")
        );
        assert!(
            Synthetic::parse("rate=1/s,prompt=1,completion=1,duration=1m,colour=red")
                .unwrap_err()
                .contains("colour")
        );
    }

    #[test]
    fn poisson_rate_converges() {
        let s = Synthetic::parse("rate=10/s,prompt=1,completion=1,duration=1h").unwrap();
        let n = s.generate(7, MaxTokensEstimate::Actual).len() as f64;
        assert!((n / 36_000.0 - 1.0).abs() < 0.02, "{n}");
    }

    #[test]
    fn estimates_parse() {
        assert_eq!(
            MaxTokensEstimate::parse("p95"),
            Ok(MaxTokensEstimate::Percentile(0.95))
        );
        assert_eq!(
            MaxTokensEstimate::parse("fixed:4096"),
            Ok(MaxTokensEstimate::Fixed(4096))
        );
        assert!(MaxTokensEstimate::parse("p101").is_err());
        assert!(MaxTokensEstimate::parse("lots").is_err());
    }

    fn req(t_s: i64, completion: u32) -> Request {
        Request {
            t_us: t_s * 1_000_000,
            prompt: 10,
            completion,
            cached: 0,
            max_tokens: 0,
            model: 0,
            group: 0,
            failed: false,
        }
    }

    #[test]
    fn speed_compresses_and_scale_duplicates() {
        let reqs: Vec<Request> = (0..1000).map(|i| req(i * 10, (i % 100) as u32)).collect();
        let shape = TraceShape {
            speed: 2.0,
            scale: 1.5,
            estimate: MaxTokensEstimate::Percentile(0.9),
            seed: 1,
        };
        let out = from_trace(&reqs, &shape, &|_| 0);
        assert!(
            (out.len() as f64 / 1500.0 - 1.0).abs() < 0.06,
            "{}",
            out.len()
        );
        assert!(out.last().unwrap().t_us <= 9990 * 1_000_000 / 2 + 1_000_000);
        assert!(out.iter().all(|r| r.max_tokens == 90));
        assert!(out.windows(2).all(|w| w[0].t_us <= w[1].t_us));
    }
}
