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
//! Invariants (checked by tests on every scenario): `arrived = succeeded + failed`; a request is
//! answered successfully at most once; the same inputs and seed give byte-identical reports.
//! Where the sources leave a choice, it is documented in the module that makes it.

pub mod backend;
mod engine;
pub mod gateway;
mod hist;
pub mod topology;
pub mod workload;

use serde::Serialize;

pub use engine::run;
pub use topology::{Policy, Topology, TopologyError};

/// A request as the simulator replays it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimRequest {
    /// Arrival at the client, µs since the epoch.
    pub t_us: i64,
    pub prompt: u32,
    pub completion: u32,
    pub cached: u32,
    /// The completion budget the services charge at admission (the request's `max_tokens`,
    /// or the `--max-tokens-estimate` rule).
    pub max_tokens: u32,
    /// Token-limit counter key (index into the key values; 0 without a token limit).
    pub key: u32,
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
}

/// What happened to one request (with `SimOptions::record`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestOutcome {
    /// Deployment that served it (None: failed).
    pub served_by: Option<usize>,
    /// Successful answers received (the invariant says at most one).
    pub answers: u32,
    pub latency_us: i64,
    pub client_retries: u32,
    pub gateway_retries: u32,
    /// Id of the latest attempt (internal).
    pub last_attempt: u32,
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

/// Why client-visible failures failed.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Failures {
    /// 429 after the client's retries.
    pub throttled: u64,
    /// 503: no backend available (APIM pool with every backend tripped).
    pub unavailable: u64,
    /// 400: prompt above the provisioned long-context limit, no spillover.
    pub too_long: u64,
    /// The client's timeout, after its retries.
    pub timeout: u64,
    /// Rejected by the gateway's token limit after the client's retries.
    pub token_limit: u64,
}

/// Per-deployment results.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeploymentReport {
    pub name: String,
    pub region: String,
    pub model: String,
    pub sku: String,
    pub capacity: u32,
    /// Gateway priority (none for a deployment reached only by native spillover).
    pub priority: Option<u32>,
    pub attempts: u64,
    pub successes: u64,
    /// 429s answered.
    pub throttled: u64,
    /// 400s answered (long-context prompts on provisioned deployments).
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
    /// Cost over the simulated span: PTU hourly price × PTUs × hours, or tokens × PAYG prices.
    pub cost_usd: Option<f64>,
    /// Provisioned: the same span at the 1-year reservation rate.
    pub cost_1y_reservation_usd: Option<f64>,
}

/// Per-second series of one deployment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub attempts: Vec<u32>,
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
    /// Client re-sends plus gateway re-routes.
    pub retries: u64,
    pub client_retries: u64,
    pub gateway_retries: u64,
    /// 429s answered by deployments (each attempt counted).
    pub throttled: u64,
    pub spillover_share: Spillover,
    pub latency_ms: Latency,
    pub cost_usd: f64,
    /// True when some deployment has no price in the catalog (its cost is left out).
    pub cost_incomplete: bool,
    pub start_us: i64,
    pub end_us: i64,
    pub deployments: Vec<DeploymentReport>,
    #[serde(skip)]
    pub timeline: Option<Timeline>,
    #[serde(skip)]
    pub requests: Option<Vec<RequestOutcome>>,
}

#[cfg(test)]
mod tests;
