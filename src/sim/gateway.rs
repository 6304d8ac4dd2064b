//! Gateway routing policies, as the real load balancers behave
//! (Azure-Samples/openai-apim-lb, APIM backend pools, LiteLLM Router).
//!
//! State is kept per gateway instance (each instance learns throttling from its own 429s), except
//! the token limit, whose counters APIM shares across the policy's scopes.
//!
//! * `priority` — Azure-Samples/openai-apim-lb: pick the lowest priority among backends not
//!   benched, uniform random among ties. A 429 benches the backend for its integer
//!   `Retry-After` (seconds, rounded up; `default_retry_after_s` = 10 s when the header is
//!   absent). The gateway retries at once while a healthy backend remains (at most `retries`,
//!   default 50). With every backend benched the request goes to the first backend in the list
//!   and its error is returned without retry. The backend list lives in the APIM cache for
//!   `state_ttl_s` (60 s) after the last request: an idle gateway forgets throttling.
//! * `round-robin`, `weighted` — APIM backend pool: the best priority group whose backends are
//!   not tripped by the circuit breaker, then round-robin or weighted random inside it. The pool
//!   does not re-send; the policy's `<retry>` around it does, at once, up to `retries`
//!   (default backends − 1). Circuit breaker: `failures` 429s within `interval_s` trip a backend
//!   for `trip_s`, or for the Retry-After when `accept_retry_after`. All tripped: 503.
//! * `simple-shuffle`, `least-busy`, `usage-based`, `latency-based` — LiteLLM Router (checked
//!   against litellm 1.110.2's `Router` with mock Azure deployments; files named are in the
//!   `litellm` package): backends cooling down are skipped; `order` (priority) tiers are
//!   honoured. simple-shuffle (LiteLLM's default) picks at random weighted by `weight` when the
//!   first deployment has one, else by `rpm`, else by `tpm`, else uniformly; least-busy the
//!   fewest in flight, ties to the first in the list; usage-based the lowest current-minute TPM
//!   among those under their `tpm`/`rpm` (fixed UTC minute buckets, RPM counted before the
//!   call, TPM after success); latency-based the lowest mean latency per completion token over
//!   a sliding window of the last 10 samples. Retry-After is read in whole seconds, rounded up
//!   (`retry-after-ms` is ignored). Cooldowns (`router_utils/cooldown_handlers.py`): a 429 in a
//!   group of several deployments (a lone deployment never cools down on 429), and 401, 404,
//!   408 and 5xx, start a cooldown of the Retry-After (or `cooldown_s`, 5 s); other 4xx do not.
//!   Retries (`num_retries`, 2): at once when another deployment of the group is healthy; when
//!   every other deployment of a group of several is cooling down, the upstream 429 is
//!   returned at once; a lone deployment sleeps Retry-After (≤ 60 s) or min(0.5 s × 2ⁿ, 8 s),
//!   plus U(0, 0.75 s), then retries. All cooling down: 429 "No deployments available" with
//!   the time to the first recovery.
//!
//! Ties are broken with the simulation's seeded generator, so a run is reproducible.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::Rng;
use super::topology::{Gateway, Policy, TokenLimit};

/// LiteLLM keeps this many latency samples per deployment.
const LATENCY_SAMPLES: usize = 10;
/// LiteLLM retries: initial delay, cap and jitter (`_calculate_retry_after`).
const LITELLM_RETRY_BASE_US: f64 = 0.5e6;
const LITELLM_RETRY_MAX_US: f64 = 8e6;
const LITELLM_JITTER_US: f64 = 0.75e6;
/// LiteLLM honours a Retry-After of at most this long.
const LITELLM_MAX_RETRY_AFTER_US: i64 = 60_000_000;
/// LiteLLM usage-based routing answers "try again in 60 seconds".
const LITELLM_NO_DEPLOYMENT_RETRY_US: i64 = 60_000_000;
const MINUTE_US: i64 = 60_000_000;

/// What the gateway does with a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Choice {
    /// Send to backend `i` (index into the gateway's backend list).
    Backend(usize),
    /// apim-lb with every backend benched: send to the first backend; do not retry.
    Fallback(usize),
    /// Answer the client without a backend.
    Reject {
        status: u16,
        retry_after_us: Option<i64>,
    },
}

/// After a failed attempt: what the gateway does next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Retry {
    Now,
    After(i64),
    No,
}

/// How an attempt ended, as the gateway sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Ok {
        latency_us: i64,
        tokens: u64,
        completion: u64,
    },
    Failed {
        status: u16,
        retry_after_us: Option<i64>,
    },
}

#[derive(Debug, Clone, Default)]
struct Instance {
    benched_until: Vec<i64>,
    last_touch: i64,
    rr_cursor: FxHashMap<u32, usize>,
    tripped_until: Vec<i64>,
    failures: Vec<VecDeque<i64>>,
    cooldown_until: Vec<i64>,
    in_flight: Vec<u32>,
    usage_minute: Vec<i64>,
    usage_tpm: Vec<u64>,
    usage_rpm: Vec<u64>,
    latency: Vec<VecDeque<f64>>,
}

/// A Retry-After as LiteLLM reads it: the `retry-after` header's whole seconds (Azure rounds
/// up), never `retry-after-ms`.
fn whole_seconds(ra_us: i64) -> i64 {
    (ra_us.max(0) + 999_999) / 1_000_000 * 1_000_000
}

/// Token-limit counters (per key, per fixed UTC minute).
#[derive(Debug, Clone, Default)]
struct TokenCounters {
    used: FxHashMap<u32, (i64, u64)>,
}

/// Mutable state of the gateway.
#[derive(Debug, Clone)]
pub struct GatewayState {
    cfg: Gateway,
    instances: Vec<Instance>,
    tokens: TokenCounters,
    /// LiteLLM per-deployment TPM / RPM limits (usage-based routing).
    limits: Vec<(Option<u64>, Option<u64>)>,
}

impl GatewayState {
    /// `limits[i]` = the TPM / RPM usage-based routing allows backend `i` (from the backend's
    /// `tpm`/`rpm`, else the deployment's own limits).
    pub fn new(cfg: &Gateway, limits: Vec<(Option<u64>, Option<u64>)>) -> Self {
        let n = cfg.backends.len();
        let inst = Instance {
            benched_until: vec![i64::MIN; n],
            last_touch: i64::MIN,
            rr_cursor: FxHashMap::default(),
            tripped_until: vec![i64::MIN; n],
            failures: vec![VecDeque::new(); n],
            cooldown_until: vec![i64::MIN; n],
            in_flight: vec![0; n],
            usage_minute: vec![i64::MIN; n],
            usage_tpm: vec![0; n],
            usage_rpm: vec![0; n],
            latency: vec![VecDeque::new(); n],
        };
        GatewayState {
            instances: vec![inst; cfg.instances as usize],
            cfg: cfg.clone(),
            tokens: TokenCounters::default(),
            limits,
        }
    }

    pub fn config(&self) -> &Gateway {
        &self.cfg
    }

    /// Token-limit check before routing. `Err(retry_after_us)` rejects with 429.
    pub fn token_limit_admit(&mut self, now: i64, key: u32, prompt: u64) -> Result<(), i64> {
        let Some(TokenLimit {
            tpm,
            estimate_prompt,
            ..
        }) = self.cfg.token_limit.as_ref()
        else {
            return Ok(());
        };
        let minute = now.div_euclid(MINUTE_US);
        let e = self.tokens.used.entry(key).or_insert((minute, 0));
        if e.0 != minute {
            *e = (minute, 0);
        }
        let to_reset = (minute + 1) * MINUTE_US - now;
        if *estimate_prompt {
            if e.1 + prompt > *tpm {
                return Err(to_reset);
            }
            e.1 += prompt;
        } else if e.1 >= *tpm {
            return Err(to_reset);
        }
        Ok(())
    }

    /// Token-limit accounting after a response with usage.
    pub fn token_limit_settle(&mut self, now: i64, key: u32, prompt: u64, completion: u64) {
        let Some(tl) = self.cfg.token_limit.as_ref() else {
            return;
        };
        let add = if tl.estimate_prompt {
            completion
        } else {
            prompt + completion
        };
        let minute = now.div_euclid(MINUTE_US);
        let e = self.tokens.used.entry(key).or_insert((minute, 0));
        if e.0 != minute {
            *e = (minute, 0);
        }
        e.1 += add;
    }

    /// Chooses where instance `inst` sends a request with `prompt` tokens.
    pub fn select(&mut self, inst: usize, now: i64, prompt: u64, rng: &mut Rng) -> Choice {
        let policy = self.cfg.policy;
        let n = self.cfg.backends.len();
        let ttl = self.cfg.state_ttl_us;
        let it = &mut self.instances[inst];
        match policy {
            Policy::Priority => {
                if it.last_touch != i64::MIN && now - it.last_touch > ttl {
                    it.benched_until.iter_mut().for_each(|b| *b = i64::MIN);
                }
                it.last_touch = now;
                let healthy = |i: usize| it.benched_until[i] <= now;
                match pick_min_priority(&self.cfg, (0..n).filter(|&i| healthy(i)), rng) {
                    Some(i) => Choice::Backend(i),
                    None => Choice::Fallback(0),
                }
            }
            Policy::RoundRobin | Policy::Weighted => {
                let avail: Vec<usize> = (0..n).filter(|&i| it.tripped_until[i] <= now).collect();
                let Some(p) = avail.iter().map(|&i| self.cfg.backends[i].priority).min() else {
                    return Choice::Reject {
                        status: 503,
                        retry_after_us: None,
                    };
                };
                let group: Vec<usize> = avail
                    .into_iter()
                    .filter(|&i| self.cfg.backends[i].priority == p)
                    .collect();
                if policy == Policy::RoundRobin {
                    let c = it.rr_cursor.entry(p).or_insert(0);
                    let i = group[*c % group.len()];
                    *c = (*c + 1) % group.len();
                    Choice::Backend(i)
                } else {
                    let total: f64 = group.iter().map(|&i| self.cfg.backends[i].weight).sum();
                    let mut x = rng.next_f64() * total;
                    for &i in &group {
                        x -= self.cfg.backends[i].weight;
                        if x < 0.0 {
                            return Choice::Backend(i);
                        }
                    }
                    Choice::Backend(*group.last().unwrap_or(&0))
                }
            }
            Policy::SimpleShuffle
            | Policy::LeastBusy
            | Policy::UsageBased
            | Policy::LatencyBased => {
                let minute = now.div_euclid(MINUTE_US);
                for i in 0..n {
                    if it.usage_minute[i] != minute {
                        it.usage_minute[i] = minute;
                        it.usage_tpm[i] = 0;
                        it.usage_rpm[i] = 0;
                    }
                }
                let limits = &self.limits;
                let under_limits = |i: usize| {
                    policy != Policy::UsageBased || {
                        let (tpm, rpm) = limits[i];
                        tpm.is_none_or(|t| it.usage_tpm[i] + prompt <= t)
                            && rpm.is_none_or(|r| it.usage_rpm[i] + 1 < r)
                    }
                };
                let avail: Vec<usize> = (0..n)
                    .filter(|&i| it.cooldown_until[i] <= now && under_limits(i))
                    .collect();
                let Some(p) = avail.iter().map(|&i| self.cfg.backends[i].priority).min() else {
                    let retry = if policy == Policy::UsageBased
                        && (0..n).any(|i| it.cooldown_until[i] <= now)
                    {
                        LITELLM_NO_DEPLOYMENT_RETRY_US
                    } else {
                        let first = it.cooldown_until.iter().copied().min().unwrap_or(now);
                        ((first - now).max(0) + 999_999) / 1_000_000 * 1_000_000
                    };
                    return Choice::Reject {
                        status: 429,
                        retry_after_us: Some(retry),
                    };
                };
                let tier: Vec<usize> = avail
                    .into_iter()
                    .filter(|&i| self.cfg.backends[i].priority == p)
                    .collect();
                if policy == Policy::SimpleShuffle {
                    return Choice::Backend(self.shuffle(&tier, rng));
                }
                let score = |i: usize| -> f64 {
                    match policy {
                        Policy::LeastBusy => it.in_flight[i] as f64,
                        Policy::UsageBased => it.usage_tpm[i] as f64,
                        _ => {
                            let l = &it.latency[i];
                            if l.is_empty() {
                                0.0
                            } else {
                                l.iter().sum::<f64>() / l.len() as f64
                            }
                        }
                    }
                };
                let best = tier.iter().map(|&i| score(i)).fold(f64::INFINITY, f64::min);
                let ties: Vec<usize> = tier.into_iter().filter(|&i| score(i) == best).collect();
                if policy == Policy::LeastBusy {
                    // `min()` over the in-flight map: the first deployment in the list wins a tie.
                    Choice::Backend(ties[0])
                } else {
                    Choice::Backend(ties[rng.below(ties.len())])
                }
            }
        }
    }

    /// LiteLLM simple-shuffle among `tier` (`router_strategy/simple_shuffle.py`): weighted by
    /// `weight` when the first deployment sets one, else by `rpm`, else by `tpm` (a deployment
    /// without the attribute weighs 0), else uniform.
    fn shuffle(&self, tier: &[usize], rng: &mut Rng) -> usize {
        let b = &self.cfg.backends;
        let first = &b[tier[0]];
        let weight = |i: usize| -> f64 {
            let x = &b[i];
            if first.weight_given {
                if x.weight_given { x.weight } else { 0.0 }
            } else if first.rpm.is_some() {
                x.rpm.unwrap_or(0) as f64
            } else if first.tpm.is_some() {
                x.tpm.unwrap_or(0) as f64
            } else {
                1.0
            }
        };
        let total: f64 = tier.iter().map(|&i| weight(i)).sum();
        if total <= 0.0 {
            return tier[rng.below(tier.len())];
        }
        let mut x = rng.next_f64() * total;
        for &i in tier {
            x -= weight(i);
            if x < 0.0 {
                return i;
            }
        }
        tier[tier.len() - 1]
    }

    /// A request leaves instance `inst` for backend `b`.
    pub fn on_dispatch(&mut self, inst: usize, b: usize) {
        let it = &mut self.instances[inst];
        it.in_flight[b] += 1;
        it.usage_rpm[b] += 1;
    }

    /// The response of backend `b` reached instance `inst`.
    pub fn on_result(&mut self, inst: usize, now: i64, b: usize, outcome: Outcome) {
        let cfg = &self.cfg;
        let n = cfg.backends.len();
        let it = &mut self.instances[inst];
        it.in_flight[b] = it.in_flight[b].saturating_sub(1);
        match outcome {
            Outcome::Ok {
                latency_us,
                tokens,
                completion,
            } => {
                if it.usage_minute[b] == now.div_euclid(MINUTE_US) {
                    it.usage_tpm[b] += tokens;
                }
                let l = &mut it.latency[b];
                if l.len() == LATENCY_SAMPLES {
                    l.pop_front();
                }
                l.push_back(latency_us as f64 / completion.max(1) as f64);
            }
            Outcome::Failed {
                status,
                retry_after_us,
            } => match cfg.policy {
                Policy::Priority => {
                    // apim-lb benches on 401, 429 and >= 500, for the integer Retry-After.
                    if status == 429 || status >= 500 || status == 401 {
                        let secs = retry_after_us
                            .map(|ra| (ra + 999_999) / 1_000_000 * 1_000_000)
                            .unwrap_or(cfg.default_retry_after_us);
                        it.benched_until[b] = now + secs;
                    }
                }
                Policy::RoundRobin | Policy::Weighted => {
                    if let Some(br) = cfg.breaker
                        && (status == 429 || status >= 500)
                    {
                        let f = &mut it.failures[b];
                        f.push_back(now);
                        while f.front().is_some_and(|&t| t <= now - br.interval_us) {
                            f.pop_front();
                        }
                        if f.len() as u32 >= br.failures {
                            let trip = match (br.accept_retry_after, retry_after_us) {
                                (true, Some(ra)) => ra,
                                _ => br.trip_us,
                            };
                            it.tripped_until[b] = now + trip;
                            f.clear();
                        }
                    }
                }
                _ => {
                    // LiteLLM (`_is_cooldown_required`, `_should_cooldown_deployment`): 429 in a
                    // group of several; 401, 404, 408 and 5xx always; other 4xx never.
                    let cools = (status == 429 && n > 1)
                        || matches!(status, 401 | 404 | 408)
                        || status >= 500;
                    if cools {
                        let d = retry_after_us
                            .map(whole_seconds)
                            .filter(|&ra| ra > 0)
                            .unwrap_or(cfg.cooldown_us);
                        it.cooldown_until[b] = it.cooldown_until[b].max(now + d);
                    }
                }
            },
        }
    }

    /// Whether instance `inst` re-routes after its `tries`-th failed attempt, which backend
    /// `b` answered.
    pub fn retry(
        &self,
        inst: usize,
        now: i64,
        tries: u32,
        b: usize,
        failed: Outcome,
        rng: &mut Rng,
    ) -> Retry {
        let cfg = &self.cfg;
        if tries > cfg.retries {
            return Retry::No;
        }
        let it = &self.instances[inst];
        let n = cfg.backends.len();
        let (status, ra) = match failed {
            Outcome::Failed {
                status,
                retry_after_us,
            } => (status, retry_after_us),
            Outcome::Ok { .. } => return Retry::No,
        };
        match cfg.policy {
            Policy::Priority => {
                let remaining = (0..n).filter(|&i| it.benched_until[i] <= now).count();
                if (status == 429 || status >= 500 || status == 401) && remaining > 0 {
                    Retry::Now
                } else {
                    Retry::No
                }
            }
            Policy::RoundRobin | Policy::Weighted => {
                if status == 429 || status == 503 {
                    Retry::Now
                } else {
                    Retry::No
                }
            }
            _ => {
                let retryable = matches!(status, 408 | 409 | 429) || status >= 500;
                if !retryable {
                    return Retry::No;
                }
                // `_time_to_sleep_before_retry`: no sleep while another deployment is healthy.
                let others = (0..n).any(|i| i != b && it.cooldown_until[i] <= now);
                if others {
                    return Retry::Now;
                }
                if n > 1 {
                    // Every other deployment cooling down: the upstream error, at once.
                    return Retry::No;
                }
                let jitter = rng.next_f64() * LITELLM_JITTER_US;
                let wait = match ra.map(whole_seconds) {
                    Some(r) if r > 0 && r <= LITELLM_MAX_RETRY_AFTER_US => r as f64 + jitter,
                    _ => {
                        (LITELLM_RETRY_BASE_US * 2f64.powi(tries as i32 - 1))
                            .min(LITELLM_RETRY_MAX_US)
                            + jitter
                    }
                };
                Retry::After(wait.round() as i64)
            }
        }
    }
}

/// Lowest-priority backend among `candidates`, uniform random among ties: one pass finds the
/// priority and the number of ties, a second the chosen one (no buffer on the hot path).
fn pick_min_priority(
    cfg: &Gateway,
    candidates: impl Iterator<Item = usize> + Clone,
    rng: &mut Rng,
) -> Option<usize> {
    let mut best = u32::MAX;
    let mut count = 0usize;
    let mut first = 0usize;
    for i in candidates.clone() {
        let p = cfg.backends[i].priority;
        if p < best {
            best = p;
            count = 1;
            first = i;
        } else if p == best {
            count += 1;
        }
    }
    match count {
        0 => None,
        1 => Some(first),
        _ => {
            let k = rng.below(count);
            candidates
                .filter(|&i| cfg.backends[i].priority == best)
                .nth(k)
        }
    }
}
