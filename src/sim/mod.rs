//! The simulator: replays traffic through clients → gateway → regional deployments.
//!
//! A discrete-event model (one clock, a binary heap of events ordered by time then sequence
//! number, a seeded generator) of the whole serving chain:
//! * clients send each request to a gateway instance and retry failures with exponential
//!   backoff, honouring Retry-After (≤ 60 s, as the OpenAI SDKs do), up to `max_retries`, and
//!   give up on an attempt after `timeout_s`;
//! * the gateway applies its token limit, picks a backend with its policy ([`gateway`]) and
//!   re-routes failures as that gateway does;
//! * deployments admit or throttle ([`backend`]): provisioned ones by leaky-bucket utilisation
//!   (with Azure's native spillover to a Standard deployment in the same region), Standard ones
//!   by TPM and RPM windows; an admitted request takes time-to-first-token plus completion ÷
//!   output tokens per second, plus the region's round trip.
//!
//! Invariants (checked by a property test over random topologies and workloads, and by every
//! scenario test): the run ends within a number of events bounded by the topology's retry
//! budgets; `arrived = succeeded + failed`; every request ends exactly once; every deployment
//! served at most as many requests as it admitted; every latency is at least the service time;
//! the same inputs and seed give byte-identical reports. Where the sources leave a choice, it is
//! documented in the module that makes it.

pub mod backend;
mod engine;
pub mod gateway;
mod hist;
pub mod observed;
pub mod topology;
pub mod workload;

use serde::Serialize;

use crate::catalog::Reservation;

pub use engine::run;
pub use topology::{Policy, Topology, TopologyError};

/// Where the completion budget a deployment charges at admission comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Budget {
    /// The request's own `max_tokens`: the service enforces it (over the model's output limit,
    /// or not fitting the context window with the prompt: HTTP 400) and stops generating there.
    Own,
    /// An estimate by the `--max-tokens-estimate` rule (`actual`, `fixed:N`, `pNN`): charged
    /// as given, never enforced.
    #[default]
    Estimated,
    /// None sent: each deployment charges its model's default `max_tokens` (gpt-4o: 4,096), or
    /// the actual completion where the catalog has no default for the model.
    ModelDefault,
}

/// A request as the simulator replays it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimRequest {
    /// Arrival at the client, µs since the epoch.
    pub t_us: i64,
    pub prompt: u32,
    pub completion: u32,
    pub cached: u32,
    /// The completion budget charged at admission when `budget` is `Own` or `Estimated`.
    pub max_tokens: u32,
    /// Token-limit counter key (index into the key values; 0 without a token limit).
    pub key: u32,
    pub budget: Budget,
}

/// Most requests in one simulation (about 2 GB with the simulator's state).
pub const MAX_REQUESTS: u64 = 30_000_000;

/// Longest workload simulated, in seconds (a quarter): utilisation is kept for every second of
/// every deployment, and the clock advances through each of them.
pub const MAX_SPAN_S: i64 = 92 * 86_400;

/// Checks that a workload (sorted by arrival) spans at most [`MAX_SPAN_S`]; the error says how
/// long it is.
pub fn check_span(reqs: &[SimRequest]) -> Result<(), String> {
    let (Some(first), Some(last)) = (reqs.first(), reqs.last()) else {
        return Ok(());
    };
    let span_s = (last.t_us as i128 - first.t_us as i128) / 1_000_000;
    if span_s > MAX_SPAN_S as i128 {
        return Err(format!(
            "the workload spans {:.1} days; at most {} days are simulated",
            span_s as f64 / 86_400.0,
            MAX_SPAN_S / 86_400
        ));
    }
    Ok(())
}

/// Simulation options.
#[derive(Debug, Clone, Copy)]
pub struct SimOptions {
    pub seed: u64,
    /// Keep the per-second series per deployment.
    pub timeline: bool,
    /// Keep each request's outcome (tests and debugging).
    pub record: bool,
    /// The PTU price the headline cost uses (all three are reported).
    pub reservation: Reservation,
    /// Keep every piece of work a deployment did ([`Served`]), for per-request costing.
    pub ledger: bool,
}

/// A piece of work a deployment did and billed (with `SimOptions::ledger`), delivered or late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// When the deployment finished it, µs since the epoch.
    pub t_us: i64,
    pub req: u32,
    pub dep: u16,
    /// Completion tokens generated.
    pub generated: u32,
}

impl SimOptions {
    /// Seeded options with no timeline, no record, and PTUs on the 1-month reservation.
    pub fn seeded(seed: u64) -> Self {
        SimOptions {
            seed,
            timeline: false,
            record: false,
            reservation: Reservation::default(),
            ledger: false,
        }
    }
}

/// What happened to one request (with `SimOptions::record`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestOutcome {
    /// Deployment that served it (None: failed).
    pub served_by: Option<usize>,
    /// Successful answers the client received (the invariant says at most one).
    pub answers: u32,
    /// Times the request ended, answered or failed (the invariant says exactly one).
    pub ends: u32,
    pub latency_us: i64,
    pub client_retries: u32,
    pub gateway_retries: u32,
    /// The HTTP status the client got last (200, or the failure's: 429, 408 timeout, 400, 503).
    pub status: u16,
    /// The deployment that answered it last (None: the gateway answered by itself).
    pub last_dep: Option<usize>,
    /// The failure was the gateway's own answer (token limit, no backend available).
    pub from_gateway: bool,
}

/// A simulation that broke its own bound: a bug, reported instead of running on.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(
        "internal error: the simulation exceeded its bound of {bound} events (a bug in spillway; please report it with the topology)"
    )]
    EventBound { bound: u64 },
}

/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 20_261_122;

/// xoshiro256** seeded by SplitMix64: small, fast and stable across platforms and versions,
/// so a seed reproduces a run forever.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Exponential with the given mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.next_f64()).ln()
    }
}

/// Latency from arrival to the final answer, milliseconds (percentiles within 0.8%, from a
/// log-linear histogram; nearest rank).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub mean: f64,
    pub max: f64,
}

/// Share of traffic served outside priority 1 (by a lower-priority backend or a native
/// spillover deployment).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Spillover {
    pub requests: f64,
    pub tokens: f64,
}

/// Why client-visible failures failed (each failed request once, by its last answer).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Failures {
    /// 429 after the client's retries (from a deployment, or LiteLLM's "no deployments
    /// available").
    pub throttled: u64,
    /// 503: no backend available (APIM pool with every backend tripped).
    pub unavailable: u64,
    /// 400: prompt above the model's input limit (or the provisioned long-context limit), or
    /// the request's own max_tokens above the output limit or the context window.
    pub too_long: u64,
    /// The client's timeout, after its retries.
    pub timeout: u64,
    /// Rejected by the gateway's token limit after the client's retries.
    pub token_limit: u64,
}

/// Answers the gateway gave by itself, without a deployment (each occurrence, retried or not).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct GatewayRejections {
    /// 429 from the gateway's token limit (APIM `azure-openai-token-limit`).
    pub token_limit: u64,
    /// 429 "No deployments available": every LiteLLM deployment cooling down or over its limits.
    pub no_backend: u64,
    /// 503: every backend of an APIM pool tripped by its circuit breaker.
    pub unavailable: u64,
}

impl GatewayRejections {
    pub fn total(&self) -> u64 {
        self.token_limit + self.no_backend + self.unavailable
    }
}

/// What the simulated span costs, and its projection to a month.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CostSummary {
    /// The PTU price in the headline (`span_usd`, `month_usd`).
    pub reservation: Reservation,
    /// Hours from the first arrival to the last answer.
    pub hours: f64,
    /// PTUs at the chosen price plus pay-as-you-go tokens, over the span.
    pub span_usd: f64,
    /// `span_usd` scaled to a 730-hour month: a projection that assumes the span is
    /// representative of the month.
    pub month_usd: f64,
    /// Pay-as-you-go tokens over the span (spilled tokens where they were served).
    pub payg_usd: f64,
    /// PTUs over the span at each price.
    pub ptu_hourly_usd: f64,
    pub ptu_monthly_reservation_usd: f64,
    pub ptu_yearly_reservation_usd: f64,
    /// True when some deployment has no price in the catalog (its cost is left out).
    pub incomplete: bool,
}

/// Per-deployment results.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeploymentReport {
    pub name: String,
    pub region: String,
    pub model: String,
    pub sku: crate::catalog::Sku,
    pub provisioned: bool,
    pub capacity: u32,
    /// Gateway priority (none for a deployment reached only by native spillover).
    pub priority: Option<u32>,
    pub attempts: u64,
    /// Requests it served (work done and billed), `late` included.
    pub successes: u64,
    /// Served after the client had given up on that attempt (timeout): billed, not delivered.
    pub late: u64,
    /// 429s answered.
    pub throttled: u64,
    /// 400s answered (prompt or max_tokens over the model's limits).
    pub rejected: u64,
    /// Requests that reached it by Azure's native spillover.
    pub spilled_in: u64,
    /// Prompt + completion tokens of the requests it served.
    pub tokens: u64,
    pub prompt_tokens: u64,
    pub cached_tokens: u64,
    pub completion_tokens: u64,
    /// Utilisation as Azure Monitor defines it, per second over the run: charge of the
    /// trailing minute ÷ one minute of capacity (provisioned: PTU-weighted tokens ÷ PTUs × TPM
    /// per PTU; Standard: prompt + max_tokens estimates ÷ TPM limit).
    pub utilisation_mean: f64,
    pub utilisation_p95: f64,
    pub utilisation_max: f64,
    /// Cost over the simulated span: PTUs at the chosen reservation price × hours, or tokens ×
    /// pay-as-you-go prices.
    pub cost_usd: Option<f64>,
    /// Provisioned: the span at each PTU price.
    pub cost_hourly_usd: Option<f64>,
    pub cost_monthly_reservation_usd: Option<f64>,
    pub cost_yearly_reservation_usd: Option<f64>,
}

/// Per-second series of one deployment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub attempts: Vec<u32>,
    /// Prompt + max_tokens charged of every attempt, admitted or not: what the deployment's
    /// token counter was asked to absorb.
    pub asked: Vec<u64>,
    pub successes: Vec<u32>,
    pub throttled: Vec<u32>,
    pub tokens: Vec<u64>,
    pub utilisation: Vec<f32>,
}

/// Per-second series of all deployments from `start_s`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    pub start_s: i64,
    pub seconds: usize,
    pub deployments: Vec<Series>,
}

/// The result of a simulation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SimReport {
    pub arrived: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub failures: Failures,
    pub gateway_rejections: GatewayRejections,
    /// Client re-sends plus gateway re-routes.
    pub retries: u64,
    pub client_retries: u64,
    pub gateway_retries: u64,
    /// Client attempts abandoned at the timeout (each attempt counted).
    pub timed_out_attempts: u64,
    /// Completions cut at the model's output limit or the request's own max_tokens.
    pub truncated: u64,
    /// 429s answered by deployments (each attempt counted).
    pub throttled: u64,
    pub spillover_share: Spillover,
    pub latency_ms: Latency,
    /// The headline cost over the span (`cost.span_usd`).
    pub cost_usd: f64,
    pub cost: CostSummary,
    pub start_us: i64,
    pub end_us: i64,
    /// Events the engine handled.
    pub events: u64,
    pub deployments: Vec<DeploymentReport>,
    #[serde(skip)]
    pub timeline: Option<Timeline>,
    #[serde(skip)]
    pub requests: Option<Vec<RequestOutcome>>,
    #[serde(skip)]
    pub served: Option<Vec<Served>>,
}

#[cfg(test)]
mod tests;
