//! Topology files: regions, deployments, the gateway and the client, in Azure's vocabulary.
//!
//! Parsing turns the TOML into a validated [`Topology`]: every reference resolves, every number
//! is in range, and provisioned sizes are ones Azure accepts (at least the model's minimum and
//! a multiple of its increment for the deployment type). Errors name the file, the table (with
//! the row number for arrays of tables) and the field, and list the valid values.

use std::path::Path;

use serde::Deserialize;

use crate::catalog::{Catalog, Model, PriceQuote, PtuParams, PtuPrice, PtuType, SizeRule, Sku};
use crate::output::clip;

/// Errors in topology files.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("cannot read topology {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {table}: field `{field}`: {message}")]
    Invalid {
        file: String,
        table: String,
        field: &'static str,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopology {
    #[serde(default)]
    region: Vec<RawRegion>,
    #[serde(default)]
    deployment: Vec<RawDeployment>,
    gateway: RawGateway,
    #[serde(default)]
    client: Option<RawClient>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegion {
    name: String,
    #[serde(default)]
    rtt_ms: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeployment {
    name: String,
    region: String,
    model: String,
    sku: String,
    capacity: RawCapacity,
    #[serde(default)]
    spillover: Option<String>,
    #[serde(default)]
    ttft_ms: Option<f64>,
    #[serde(default)]
    output_tokens_per_s: Option<f64>,
    /// Provisioned: seconds of throughput the utilisation bucket holds (100% = full).
    #[serde(default)]
    bucket_s: Option<f64>,
    /// Standard: window over which RPM is enforced (Azure: "typically 1 or 10 seconds").
    #[serde(default)]
    rpm_window_s: Option<f64>,
    /// Standard: window over which TPM is enforced (Azure: a counter reset each minute).
    #[serde(default)]
    tpm_window_s: Option<f64>,
    /// Whether 429s carry Retry-After / retry-after-ms (Azure's do).
    #[serde(default)]
    retry_after_header: Option<bool>,
    /// Provisioned: PTUs on the reservation (`cost`; default: the capacity).
    #[serde(default)]
    reserved_ptu: Option<u32>,
    /// Provisioned: input TPM one PTU serves, measured or fitted (`spillway calibrate`), in place
    /// of the catalog's figure.
    #[serde(default)]
    input_tpm_per_ptu: Option<f64>,
}

/// `capacity = 250` or `capacity = "auto"` (sized by `spillway plan`).
#[derive(Debug)]
enum RawCapacity {
    Units(u32),
    Word(String),
}

impl<'de> Deserialize<'de> for RawCapacity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RawCapacity;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a whole number of PTUs (or of 1,000 TPM), or \"auto\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawCapacity, E> {
                u32::try_from(v).map(RawCapacity::Units).map_err(|_| {
                    E::custom(format!(
                        "{v}: expected a whole number from 1 to {} (PTUs, or units of 1,000 TPM)",
                        u32::MAX
                    ))
                })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawCapacity, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<RawCapacity, E> {
                Err(E::custom(format!(
                    "{v}: expected a whole number (PTUs, or units of 1,000 TPM)"
                )))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawCapacity, E> {
                Ok(RawCapacity::Word(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    deployment: String,
    #[serde(default)]
    priority: Option<u32>,
    #[serde(default)]
    weight: Option<f64>,
    /// LiteLLM usage-based routing: the deployment's TPM / RPM as configured in the router.
    #[serde(default)]
    tpm: Option<u64>,
    #[serde(default)]
    rpm: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreaker {
    failures: u32,
    interval_s: f64,
    trip_s: f64,
    #[serde(default)]
    accept_retry_after: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokenLimit {
    key: String,
    tpm: u64,
    #[serde(default = "yes")]
    estimate_prompt: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    policy: String,
    backends: Vec<RawBackend>,
    #[serde(default)]
    instances: Option<u32>,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    default_retry_after_s: Option<f64>,
    #[serde(default)]
    state_ttl_s: Option<f64>,
    #[serde(default)]
    cooldown_s: Option<f64>,
    #[serde(default)]
    circuit_breaker: Option<RawBreaker>,
    #[serde(default)]
    token_limit: Option<RawTokenLimit>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackoff {
    #[serde(default)]
    base_s: Option<f64>,
    #[serde(default)]
    max_s: Option<f64>,
    #[serde(default)]
    jitter: Option<bool>,
    #[serde(default)]
    honour_retry_after: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    #[serde(default)]
    max_retries: Option<u32>,
    #[serde(default)]
    backoff: Option<RawBackoff>,
    #[serde(default)]
    timeout_s: Option<f64>,
}

/// A region and the round trip between the gateway and it.
#[derive(Debug, Clone)]
pub struct Region {
    pub name: String,
    pub rtt_us: i64,
}

/// How a deployment admits requests.
#[derive(Debug, Clone)]
pub enum Admission {
    /// Leaky-bucket utilisation (provisioned SKUs).
    Provisioned {
        ptu: u32,
        /// Tokens drained per microsecond (PTUs × input TPM per PTU / 60 s).
        drain_per_us: f64,
        /// Bucket size in tokens: 100% utilisation.
        bucket_tokens: f64,
        /// Seconds of throughput the bucket holds (burst tolerance).
        bucket_s: f64,
        /// PTUs by UTC hour of day when the capacity follows a schedule (`ptu` is then the
        /// largest); None: `ptu` all day.
        schedule: Option<Box<[u32; 24]>>,
        output_weight: f64,
        deployment_type: PtuType,
    },
    /// TPM and RPM limits over short windows (Standard SKUs).
    Standard {
        tpm_limit: u64,
        rpm_limit: f64,
        tpm_window_us: i64,
        rpm_window_us: i64,
    },
}

/// A validated deployment.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub name: String,
    pub region: usize,
    pub model: Model,
    pub sku: Sku,
    pub capacity: u32,
    pub spillover: Option<usize>,
    pub ttft_us: f64,
    pub output_tokens_per_s: f64,
    /// 1e6 ÷ `output_tokens_per_s`: decoding time per token (a multiplication on the hot path).
    pub us_per_token: f64,
    pub admission: Admission,
    pub retry_after_header: bool,
    /// Largest prompt the deployment accepts (the model's input limit; on provisioned SKUs also
    /// the long-context limit); above it: HTTP 400.
    pub max_prompt_tokens: u64,
    pub max_output_tokens: u64,
    pub context_window: u64,
    /// What the service charges at admission when a request sets no max_tokens (the model's
    /// documented default), if the catalog has it.
    pub default_max_tokens: Option<u32>,
    /// Pay-as-you-go price (Standard SKUs; and what spilled tokens cost).
    pub price: Option<PriceQuote>,
    /// PTU prices (provisioned SKUs).
    pub ptu_price: Option<PtuPrice>,
    /// PTUs on the reservation when they differ from the capacity (provisioned SKUs).
    pub reserved_ptu: Option<u32>,
}

impl Deployment {
    pub fn is_provisioned(&self) -> bool {
        matches!(self.admission, Admission::Provisioned { .. })
    }
}

/// Gateway routing policies (as the open-source load balancers behave; see the module doc of
/// `sim::gateway`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Azure-Samples/openai-apim-lb: lowest priority among backends not benched.
    Priority,
    /// APIM backend pool, round-robin within the best available priority group.
    RoundRobin,
    /// APIM backend pool, weighted within the best available priority group.
    Weighted,
    /// LiteLLM simple-shuffle (the Router's default).
    SimpleShuffle,
    /// LiteLLM least-busy.
    LeastBusy,
    /// LiteLLM usage-based-routing-v2.
    UsageBased,
    /// LiteLLM latency-based-routing.
    LatencyBased,
}

impl Policy {
    pub const NAMES: &'static str =
        "priority, round-robin, weighted, simple-shuffle, least-busy, usage-based, latency-based";

    fn parse(s: &str) -> Option<Policy> {
        Some(match s {
            "priority" => Policy::Priority,
            "round-robin" => Policy::RoundRobin,
            "weighted" => Policy::Weighted,
            "simple-shuffle" => Policy::SimpleShuffle,
            "least-busy" => Policy::LeastBusy,
            "usage-based" => Policy::UsageBased,
            "latency-based" => Policy::LatencyBased,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Policy::Priority => "priority",
            Policy::RoundRobin => "round-robin",
            Policy::Weighted => "weighted",
            Policy::SimpleShuffle => "simple-shuffle",
            Policy::LeastBusy => "least-busy",
            Policy::UsageBased => "usage-based",
            Policy::LatencyBased => "latency-based",
        }
    }

    pub fn is_apim_pool(self) -> bool {
        matches!(self, Policy::RoundRobin | Policy::Weighted)
    }

    pub fn is_litellm(self) -> bool {
        matches!(
            self,
            Policy::SimpleShuffle | Policy::LeastBusy | Policy::UsageBased | Policy::LatencyBased
        )
    }
}

/// A backend of the gateway.
#[derive(Debug, Clone)]
pub struct Backend {
    pub deployment: usize,
    pub priority: u32,
    /// Selection weight (1 when not given).
    pub weight: f64,
    /// Whether `weight` was given (LiteLLM simple-shuffle weighs by it only then).
    pub weight_given: bool,
    pub tpm: Option<u64>,
    pub rpm: Option<u64>,
}

/// APIM circuit-breaker rule.
#[derive(Debug, Clone, Copy)]
pub struct Breaker {
    pub failures: u32,
    pub interval_us: i64,
    pub trip_us: i64,
    pub accept_retry_after: bool,
}

/// APIM `azure-openai-token-limit` per counter key.
#[derive(Debug, Clone)]
pub struct TokenLimit {
    pub key: String,
    pub tpm: u64,
    pub estimate_prompt: bool,
}

/// The gateway.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub policy: Policy,
    pub backends: Vec<Backend>,
    pub instances: u32,
    /// Re-routes inside the gateway after a failed attempt.
    pub retries: u32,
    pub default_retry_after_us: i64,
    /// apim-lb: throttle state is forgotten after this long without traffic.
    pub state_ttl_us: i64,
    /// LiteLLM cooldown when a 429 carries no Retry-After.
    pub cooldown_us: i64,
    pub breaker: Option<Breaker>,
    pub token_limit: Option<TokenLimit>,
}

/// The client (SDK) retry behaviour.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub max_retries: u32,
    pub base_us: f64,
    pub max_us: f64,
    pub jitter: bool,
    pub honour_retry_after: bool,
    pub timeout_us: i64,
}

/// How a topology file is read.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Accept `capacity = "auto"` on provisioned deployments (for `spillway plan`).
    pub allow_auto: bool,
    /// Serve this model on every deployment instead of its own (`plan --as-model`).
    pub model: Option<String>,
}

/// A validated topology.
#[derive(Debug, Clone)]
pub struct Topology {
    pub regions: Vec<Region>,
    pub deployments: Vec<Deployment>,
    pub gateway: Gateway,
    pub client: Client,
    /// Deployments written `capacity = "auto"` (for `spillway plan` to size).
    pub auto: Vec<usize>,
}

impl Admission {
    /// The admission of a provisioned deployment of `capacity` PTUs whose bucket holds
    /// `bucket_s` seconds of throughput.
    pub fn provisioned(p: &PtuParams, t: PtuType, capacity: u32, bucket_s: f64) -> Admission {
        let per_minute = capacity as f64 * p.input_tpm_per_ptu;
        Admission::Provisioned {
            ptu: capacity,
            drain_per_us: per_minute / 60e6,
            bucket_tokens: per_minute / 60.0 * bucket_s,
            bucket_s,
            schedule: None,
            output_weight: p.output_weight,
            deployment_type: t,
        }
    }

    /// (drain per µs, bucket tokens) of a provisioned admission at `ptu` PTUs.
    pub fn rates_at(&self, ptu: u32) -> (f64, f64) {
        match self {
            Admission::Provisioned {
                ptu: own,
                drain_per_us,
                bucket_tokens,
                ..
            } if *own > 0 => {
                let k = ptu as f64 / *own as f64;
                (drain_per_us * k, bucket_tokens * k)
            }
            _ => (0.0, 0.0),
        }
    }
}

/// Parses the TOML into the raw tables; syntax and type errors name the line, the column, the
/// table and the field.
fn parse_raw(text: &str, file: &str) -> Result<RawTopology, TopologyError> {
    let at = |span: Option<std::ops::Range<usize>>, message: String| {
        let start = span.map(|s| s.start).unwrap_or(0).min(text.len());
        let (line, column) = crate::catalog::line_col(text, start);
        TopologyError::Parse {
            file: file.to_string(),
            line,
            column,
            message: clip(&message, 300),
        }
    };
    let de =
        toml::Deserializer::parse(text).map_err(|e| at(e.span(), e.message().trim().into()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let place = describe_path(e.path(), text);
        let inner = e.into_inner();
        let message = inner.message().trim().to_string();
        at(
            inner.span(),
            if place.is_empty() {
                message
            } else {
                format!("{place}: {message}")
            },
        )
    })
}

/// `deployment[0].capacity` → "[[deployment]] 1 (ptu-sweden): field `capacity`", in the words
/// of the other topology errors.
fn describe_path(path: &serde_path_to_error::Path, text: &str) -> String {
    use serde_path_to_error::Segment;
    let segs: Vec<&Segment> = path.iter().collect();
    let key = |s: &Segment| match s {
        Segment::Map { key } => Some(key.clone()),
        _ => None,
    };
    let mut table = String::new();
    let mut rest = &segs[..];
    if let [first, tail @ ..] = rest
        && let Some(k) = key(first)
    {
        match (k.as_str(), tail) {
            ("deployment" | "region", [Segment::Seq { index }, more @ ..]) => {
                // The row's name, from a lenient read of the same text, when it has one.
                let name = toml::from_str::<toml::Table>(text).ok().and_then(|t| {
                    t.get(&k)?
                        .as_array()?
                        .get(*index)?
                        .get("name")?
                        .as_str()
                        .map(|n| format!(" ({})", clip(n, 60)))
                });
                table = format!("[[{k}]] {}{}", index + 1, name.unwrap_or_default());
                rest = more;
            }
            ("gateway" | "client", more) => {
                table = format!("[{k}]");
                rest = more;
            }
            _ => {}
        }
    }
    let mut field = String::new();
    for s in rest {
        match s {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(&clip(key, 40));
            }
            _ => {}
        }
    }
    match (table.is_empty(), field.is_empty()) {
        (true, true) => String::new(),
        (false, true) => table,
        (true, false) => format!("field `{field}`"),
        (false, false) => format!("{table}: field `{field}`"),
    }
}

/// Defaults, by source (the gateways' own code and docs; Azure OpenAI's quota and throttling docs).
pub mod defaults {
    /// openai-apim-lb: `<retry count="50" interval="0">`.
    pub const APIM_LB_RETRIES: u32 = 50;
    /// openai-apim-lb / aca-lb: bench 10 s when no Retry-After.
    pub const RETRY_AFTER_S: f64 = 10.0;
    /// openai-apim-lb: the backend list lives in the APIM cache for 60 s after the last touch.
    pub const STATE_TTL_S: f64 = 60.0;
    /// LiteLLM: `num_retries` defaults to openai.DEFAULT_MAX_RETRIES = 2.
    pub const LITELLM_RETRIES: u32 = 2;
    /// LiteLLM: DEFAULT_COOLDOWN_TIME_SECONDS = 5.
    pub const LITELLM_COOLDOWN_S: f64 = 5.0;
    /// OpenAI / Azure SDKs: max_retries 2 (azure-openai-capacity.md §5).
    pub const CLIENT_RETRIES: u32 = 2;
    /// openai-python: initial retry delay 0.5 s, max 8 s.
    pub const CLIENT_BASE_S: f64 = 0.5;
    pub const CLIENT_MAX_S: f64 = 8.0;
    /// openai-python / openai-node default request timeout: 600 s (APIM's forward-request
    /// default is 300 s, openai-aca-lb's 100 s: set `timeout_s` to the tightest in the chain).
    pub const CLIENT_TIMEOUT_S: f64 = 600.0;
    /// Provisioned utilisation is measured per minute: the bucket holds one minute of throughput.
    pub const BUCKET_S: f64 = 60.0;
    /// Standard RPM: "evaluated over a small period of time, typically 1 or 10 seconds";
    /// quota tiers write limits "per 10 s".
    pub const RPM_WINDOW_S: f64 = 10.0;
    /// Standard TPM: "a running counter reset each minute".
    pub const TPM_WINDOW_S: f64 = 60.0;
}

/// Upper bounds on topology values: each keeps a simulation's time and memory bounded, and
/// each is far beyond anything Azure or the gateways allow.
pub mod limits {
    /// Round trip between the gateway and a region, ms.
    pub const RTT_MS: f64 = 60_000.0;
    /// Time to first token, ms.
    pub const TTFT_MS: f64 = 600_000.0;
    /// Decode rate, tokens per second (bounds below keep service times finite).
    pub const MIN_OUTPUT_TOKENS_PER_S: f64 = 0.1;
    pub const MAX_OUTPUT_TOKENS_PER_S: f64 = 1e6;
    /// Azure's largest provisioned deployment (quotas-limits: 100,000 PTU).
    pub const MAX_PTU: u32 = 100_000;
    /// Standard capacity, units of 1,000 TPM (1 B TPM).
    pub const MAX_STANDARD_UNITS: u32 = 1_000_000;
    /// Utilisation bucket and Standard windows, s.
    pub const WINDOW_S: f64 = 3_600.0;
    /// Gateway instances (one throttle state each) and backends.
    pub const INSTANCES: u32 = 255;
    pub const BACKENDS: usize = 255;
    /// Gateway benches, cooldowns, cache lifetimes, breaker intervals and trips, s (a week).
    pub const GATEWAY_S: f64 = 7.0 * 86_400.0;
    /// Client timeout and backoff cap, s.
    pub const CLIENT_S: f64 = 3_600.0;
}

/// A number as a person reads it in a message: plain, or in exponent form when huge or tiny.
fn number(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-6..1e9).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

fn us(s: f64) -> i64 {
    (s * 1e6).round() as i64
}

impl Topology {
    /// Reads and validates a topology file.
    pub fn load(path: &Path, catalog: &Catalog) -> Result<Topology, TopologyError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
            file: file.clone(),
            source,
        })?;
        Topology::parse(&text, &file, catalog)
    }

    /// Parses and validates topology text for `simulate`: every capacity must be a number.
    /// `file` labels errors.
    pub fn parse(text: &str, file: &str, catalog: &Catalog) -> Result<Topology, TopologyError> {
        Topology::parse_with(text, file, catalog, &ParseOptions::default())
    }

    /// Reads and validates a topology file with `opts`.
    pub fn load_with(
        path: &Path,
        catalog: &Catalog,
        opts: &ParseOptions,
    ) -> Result<Topology, TopologyError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
            file: file.clone(),
            source,
        })?;
        Topology::parse_with(&text, &file, catalog, opts)
    }

    /// Parses and validates topology text. With `opts.allow_auto`, deployments written
    /// `capacity = "auto"` (provisioned only) are marked in [`Topology::auto`] and given the
    /// SKU's minimum size for now; without it they are an error pointing at `spillway plan`.
    /// With `opts.model`, every deployment serves that model instead of its own.
    pub fn parse_with(
        text: &str,
        file: &str,
        catalog: &Catalog,
        opts: &ParseOptions,
    ) -> Result<Topology, TopologyError> {
        let allow_auto = opts.allow_auto;
        let raw = parse_raw(text, file)?;
        let invalid =
            |table: String, field: &'static str, message: String| TopologyError::Invalid {
                file: file.to_string(),
                table,
                field,
                message,
            };
        // Every retry is an event: a bound keeps a run's time bounded whatever the topology.
        let retries_at_most = |n: u32, table: &str, field: &'static str| {
            if n > MAX_RETRIES {
                Err(invalid(
                    table.into(),
                    field,
                    format!("{n} is more than the {MAX_RETRIES} retries simulated"),
                ))
            } else {
                Ok(n)
            }
        };
        // A number of seconds (or ms) in [0, max], or in (0, max] when `positive`.
        let in_range = |v: f64, table: &str, field: &'static str, max: f64, positive: bool| {
            let ok = v.is_finite() && v <= max && if positive { v > 0.0 } else { v >= 0.0 };
            if ok {
                Ok(v)
            } else {
                let lower = if positive { "above 0" } else { "at least 0" };
                Err(invalid(
                    table.into(),
                    field,
                    format!("{}: must be {lower} and at most {max}", number(v)),
                ))
            }
        };

        let mut regions = Vec::new();
        for (i, r) in raw.region.iter().enumerate() {
            let table = format!("[[region]] {} ({})", i + 1, clip(&r.name, 60));
            if r.name.trim().is_empty() {
                return Err(invalid(table, "name", "must not be empty".into()));
            }
            if regions.iter().any(|x: &Region| x.name == r.name) {
                return Err(invalid(
                    table,
                    "name",
                    format!("region '{}' is defined twice", clip(&r.name, 60)),
                ));
            }
            let rtt_ms = in_range(r.rtt_ms, &table, "rtt_ms", limits::RTT_MS, false)?;
            regions.push(Region {
                name: r.name.clone(),
                rtt_us: us(rtt_ms / 1e3),
            });
        }
        if raw.deployment.is_empty() {
            return Err(invalid(
                "[[deployment]]".into(),
                "name",
                "the topology has no deployments".into(),
            ));
        }
        let names: Vec<&str> = raw.deployment.iter().map(|d| d.name.as_str()).collect();
        let list = |names: &[&str]| {
            clip(
                &names
                    .iter()
                    .map(|n| clip(n, 40))
                    .collect::<Vec<_>>()
                    .join(", "),
                200,
            )
        };
        let mut deployments = Vec::new();
        let mut auto = Vec::new();
        for (i, d) in raw.deployment.iter().enumerate() {
            let table = format!("[[deployment]] {} ({})", i + 1, clip(&d.name, 60));
            if d.name.trim().is_empty() {
                return Err(invalid(
                    format!("[[deployment]] {}", i + 1),
                    "name",
                    "must not be empty: the gateway's backends and spillover name deployments"
                        .into(),
                ));
            }
            if names[..i].contains(&d.name.as_str()) {
                return Err(invalid(
                    table,
                    "name",
                    format!("deployment '{}' is defined twice", clip(&d.name, 60)),
                ));
            }
            let region = regions
                .iter()
                .position(|r| r.name == d.region)
                .ok_or_else(|| {
                    invalid(
                        table.clone(),
                        "region",
                        format!(
                            "unknown region '{}' (defined: {})",
                            clip(&d.region, 60),
                            list(&regions.iter().map(|r| r.name.as_str()).collect::<Vec<_>>())
                        ),
                    )
                })?;
            let mut model = catalog
                .resolve(opts.model.as_deref().unwrap_or(&d.model))
                .map_err(|e| invalid(table.clone(), "model", clip(&e.to_string(), 200)))?
                .clone();
            if let Some(x) = d.input_tpm_per_ptu {
                let x = in_range(x, &table, "input_tpm_per_ptu", 1e7, true)?;
                match (
                    &mut model.ptu,
                    d.sku.parse::<Sku>().map(Sku::is_provisioned),
                ) {
                    (Some(p), Ok(true)) => p.input_tpm_per_ptu = x,
                    _ => {
                        return Err(invalid(
                            table,
                            "input_tpm_per_ptu",
                            "applies to provisioned deployments of models with PTU figures".into(),
                        ));
                    }
                }
            }
            let sku: Sku = d.sku.parse().map_err(|e: crate::catalog::UnknownSku| {
                invalid(table.clone(), "sku", clip(&e.to_string(), 300))
            })?;
            if matches!(sku, Sku::GlobalBatch | Sku::DataZoneBatch) {
                return Err(invalid(
                    table,
                    "sku",
                    "batch deployments are asynchronous and take no online traffic".into(),
                ));
            }
            let ptu = match sku.ptu_type() {
                Some(_) => Some(model.ptu.ok_or_else(|| {
                    invalid(
                        table.clone(),
                        "sku",
                        format!(
                            "the catalog has no provisioned-throughput figures for {}",
                            model.name
                        ),
                    )
                })?),
                None => None,
            };
            let capacity = match &d.capacity {
                RawCapacity::Units(n) => *n,
                RawCapacity::Word(w) if w.trim().eq_ignore_ascii_case("auto") => {
                    let Some((t, p)) = sku.ptu_type().zip(ptu) else {
                        return Err(invalid(
                            table,
                            "capacity",
                            "\"auto\" sizes provisioned deployments; give Standard deployments their quota in units of 1,000 TPM".into(),
                        ));
                    };
                    if !allow_auto {
                        return Err(invalid(
                            table,
                            "capacity",
                            "\"auto\" is sized by `spillway plan`; `simulate` needs a number of PTUs".into(),
                        ));
                    }
                    auto.push(i);
                    p.size_rule(t).min
                }
                RawCapacity::Word(w) => {
                    return Err(invalid(
                        table,
                        "capacity",
                        format!("'{}': expected a whole number or \"auto\"", clip(w, 40)),
                    ));
                }
            };
            if capacity == 0 {
                return Err(invalid(table, "capacity", "must be positive".into()));
            }
            let positive = |v: Option<f64>, field: &'static str, max: f64| {
                v.map(|x| in_range(x, &table, field, max, true)).transpose()
            };
            let ttft_ms = match d.ttft_ms {
                Some(x) => in_range(x, &table, "ttft_ms", limits::TTFT_MS, false)?,
                None => model.service.ttft_ms,
            };
            let tps = match d.output_tokens_per_s {
                Some(x) if !(x.is_finite() && x >= limits::MIN_OUTPUT_TOKENS_PER_S) => {
                    return Err(invalid(
                        table,
                        "output_tokens_per_s",
                        format!(
                            "{}: must be at least {} tokens per second",
                            number(x),
                            limits::MIN_OUTPUT_TOKENS_PER_S
                        ),
                    ));
                }
                Some(x) => in_range(
                    x,
                    &table,
                    "output_tokens_per_s",
                    limits::MAX_OUTPUT_TOKENS_PER_S,
                    true,
                )?,
                None => model.service.output_tokens_per_s,
            };
            let admission = match (sku.ptu_type(), ptu) {
                (Some(t), Some(p)) => {
                    if let Some(message) = p.size_rule(t).check(capacity, &model.name, sku) {
                        return Err(invalid(table, "capacity", message));
                    }
                    if d.rpm_window_s.is_some() || d.tpm_window_s.is_some() {
                        return Err(invalid(table, "rpm_window_s", "TPM/RPM windows apply to Standard SKUs; provisioned deployments use utilisation".into()));
                    }
                    let bucket_s = positive(d.bucket_s, "bucket_s", limits::WINDOW_S)?
                        .unwrap_or(defaults::BUCKET_S);
                    Admission::provisioned(&p, t, capacity, bucket_s)
                }
                _ => {
                    if d.bucket_s.is_some() {
                        return Err(invalid(
                            table,
                            "bucket_s",
                            "the utilisation bucket applies to provisioned SKUs".into(),
                        ));
                    }
                    if capacity > limits::MAX_STANDARD_UNITS {
                        return Err(invalid(
                            table,
                            "capacity",
                            format!(
                                "{capacity} units of 1,000 TPM is more than the {} simulated",
                                limits::MAX_STANDARD_UNITS
                            ),
                        ));
                    }
                    let tpm_limit = capacity as u64 * 1000;
                    Admission::Standard {
                        tpm_limit,
                        rpm_limit: capacity as f64 * model.standard.rpm_per_1000_tpm,
                        tpm_window_us: us(positive(
                            d.tpm_window_s,
                            "tpm_window_s",
                            limits::WINDOW_S,
                        )?
                        .unwrap_or(defaults::TPM_WINDOW_S)),
                        rpm_window_us: us(positive(
                            d.rpm_window_s,
                            "rpm_window_s",
                            limits::WINDOW_S,
                        )?
                        .unwrap_or(defaults::RPM_WINDOW_S)),
                    }
                }
            };
            let price = catalog.token_price(
                &model,
                if sku.is_provisioned() {
                    spill_sku(sku)
                } else {
                    sku
                },
            );
            let ptu_price = sku.ptu_type().and_then(|t| catalog.ptu_price(t)).cloned();
            if let Some(r) = d.reserved_ptu {
                if !sku.is_provisioned() {
                    return Err(invalid(
                        table,
                        "reserved_ptu",
                        "reservations cover provisioned deployments; Standard ones bill per token"
                            .into(),
                    ));
                }
                if r > limits::MAX_PTU {
                    return Err(invalid(
                        table,
                        "reserved_ptu",
                        format!("{r}: at most {} PTU", limits::MAX_PTU),
                    ));
                }
            }
            let long_context = ptu
                .filter(|_| sku.is_provisioned())
                .and_then(|p| p.max_prompt_tokens);
            deployments.push(Deployment {
                name: d.name.clone(),
                region,
                sku,
                capacity,
                spillover: None,
                ttft_us: ttft_ms * 1e3,
                output_tokens_per_s: tps,
                us_per_token: 1e6 / tps,
                admission,
                retry_after_header: d.retry_after_header.unwrap_or(true),
                max_prompt_tokens: long_context
                    .map_or(model.max_prompt(), |l| l.min(model.max_prompt())),
                max_output_tokens: model.max_output_tokens,
                context_window: model.context_window,
                default_max_tokens: model
                    .default_max_tokens
                    .map(|n| n.min(u32::MAX as u64) as u32),
                price,
                ptu_price,
                reserved_ptu: d.reserved_ptu,
                model,
            });
        }
        // Native spillover: provisioned → Standard deployment in the same region.
        for (i, d) in raw.deployment.iter().enumerate() {
            let Some(target) = &d.spillover else { continue };
            let table = format!("[[deployment]] {} ({})", i + 1, clip(&d.name, 60));
            let j = names.iter().position(|n| n == target).ok_or_else(|| {
                invalid(
                    table.clone(),
                    "spillover",
                    format!(
                        "unknown deployment '{}' (defined: {})",
                        clip(target, 60),
                        list(&names)
                    ),
                )
            })?;
            if !deployments[i].is_provisioned() {
                return Err(invalid(
                    table,
                    "spillover",
                    "spillover is configured on provisioned deployments".into(),
                ));
            }
            if deployments[j].is_provisioned() {
                return Err(invalid(
                    table,
                    "spillover",
                    format!(
                        "'{}' is provisioned; spillover goes to a Standard deployment",
                        clip(target, 60)
                    ),
                ));
            }
            if deployments[j].region != deployments[i].region {
                return Err(invalid(
                    table,
                    "spillover",
                    format!(
                        "'{}' is in another region; Azure spills within the same resource",
                        clip(target, 60)
                    ),
                ));
            }
            deployments[i].spillover = Some(j);
        }

        let g = &raw.gateway;
        let policy = Policy::parse(g.policy.trim()).ok_or_else(|| {
            invalid(
                "[gateway]".into(),
                "policy",
                format!(
                    "unknown policy '{}' (expected one of: {})",
                    clip(&g.policy, 40),
                    Policy::NAMES
                ),
            )
        })?;
        if g.backends.is_empty() {
            return Err(invalid(
                "[gateway]".into(),
                "backends",
                "the gateway needs at least one backend".into(),
            ));
        }
        if policy.is_apim_pool() && g.backends.len() > 30 {
            return Err(invalid(
                "[gateway]".into(),
                "backends",
                "an APIM backend pool holds at most 30 backends".into(),
            ));
        }
        if g.backends.len() > limits::BACKENDS {
            return Err(invalid(
                "[gateway]".into(),
                "backends",
                format!("at most {} backends are simulated", limits::BACKENDS),
            ));
        }
        let mut backends = Vec::new();
        for (i, b) in g.backends.iter().enumerate() {
            let table = format!("[gateway] backends[{i}]");
            let deployment = names
                .iter()
                .position(|n| *n == b.deployment)
                .ok_or_else(|| {
                    invalid(
                        table.clone(),
                        "deployment",
                        format!(
                            "unknown deployment '{}' (defined: {})",
                            clip(&b.deployment, 60),
                            list(&names)
                        ),
                    )
                })?;
            if backends
                .iter()
                .any(|x: &Backend| x.deployment == deployment)
            {
                return Err(invalid(
                    table,
                    "deployment",
                    format!("'{}' is listed twice", clip(&b.deployment, 60)),
                ));
            }
            let weight = b.weight.unwrap_or(1.0);
            if !(weight.is_finite() && weight > 0.0 && weight <= 1e6) {
                return Err(invalid(
                    table,
                    "weight",
                    "must be above 0 and at most 1,000,000".into(),
                ));
            }
            let priority = b.priority.unwrap_or(1);
            if policy.is_apim_pool() {
                if priority > 100 {
                    return Err(invalid(
                        table,
                        "priority",
                        "APIM pool priorities are 0-100".into(),
                    ));
                }
                if weight > 100.0 {
                    return Err(invalid(
                        table,
                        "weight",
                        "APIM pool weights are 0-100".into(),
                    ));
                }
            } else if priority == 0 {
                return Err(invalid(
                    table,
                    "priority",
                    format!(
                        "the {} policy counts priorities from 1 (tried first)",
                        policy.name()
                    ),
                ));
            }
            for (field, v) in [("tpm", b.tpm), ("rpm", b.rpm)] {
                if v == Some(0) {
                    return Err(invalid(table.clone(), field, "must be positive".into()));
                }
            }
            backends.push(Backend {
                deployment,
                priority,
                weight,
                weight_given: b.weight.is_some(),
                tpm: b.tpm,
                rpm: b.rpm,
            });
        }
        let instances = g.instances.unwrap_or(1);
        if instances == 0 || instances > limits::INSTANCES {
            return Err(invalid(
                "[gateway]".into(),
                "instances",
                format!(
                    "{instances}: must be 1 to {} (each instance keeps its own throttle state)",
                    limits::INSTANCES
                ),
            ));
        }
        let default_retries = match policy {
            Policy::Priority => defaults::APIM_LB_RETRIES,
            Policy::RoundRobin | Policy::Weighted => backends.len() as u32 - 1,
            _ => defaults::LITELLM_RETRIES,
        };
        let secs = |v: Option<f64>, table: &str, field: &'static str, default: f64| {
            v.map(|x| in_range(x, table, field, limits::GATEWAY_S, false))
                .transpose()
                .map(|x| us(x.unwrap_or(default)))
        };
        let breaker = match &g.circuit_breaker {
            None => None,
            Some(b) => {
                if !policy.is_apim_pool() {
                    return Err(invalid(
                        "[gateway]".into(),
                        "circuit_breaker",
                        format!(
                            "the circuit breaker belongs to the APIM backend pool policies (round-robin, weighted); the {} policy has its own failure handling",
                            policy.name()
                        ),
                    ));
                }
                let table = "[gateway] circuit_breaker";
                if b.failures == 0 || b.failures > 10_000 {
                    return Err(invalid(
                        table.into(),
                        "failures",
                        "must be 1 to 10,000".into(),
                    ));
                }
                let interval =
                    in_range(b.interval_s, table, "interval_s", limits::GATEWAY_S, true)?;
                let trip = in_range(b.trip_s, table, "trip_s", limits::GATEWAY_S, true)?;
                Some(Breaker {
                    failures: b.failures,
                    interval_us: us(interval),
                    trip_us: us(trip),
                    accept_retry_after: b.accept_retry_after,
                })
            }
        };
        let token_limit = match &g.token_limit {
            None => None,
            Some(t) => {
                if t.tpm == 0 {
                    return Err(invalid(
                        "[gateway] token_limit".into(),
                        "tpm",
                        "must be positive".into(),
                    ));
                }
                if t.key.trim().is_empty() {
                    return Err(invalid(
                        "[gateway] token_limit".into(),
                        "key",
                        "name the request field to count by (e.g. tenant)".into(),
                    ));
                }
                Some(TokenLimit {
                    key: t.key.trim().to_string(),
                    tpm: t.tpm,
                    estimate_prompt: t.estimate_prompt,
                })
            }
        };
        let gateway = Gateway {
            policy,
            backends,
            instances,
            retries: retries_at_most(g.retries.unwrap_or(default_retries), "[gateway]", "retries")?,
            default_retry_after_us: secs(
                g.default_retry_after_s,
                "[gateway]",
                "default_retry_after_s",
                defaults::RETRY_AFTER_S,
            )?,
            state_ttl_us: secs(
                g.state_ttl_s,
                "[gateway]",
                "state_ttl_s",
                defaults::STATE_TTL_S,
            )?,
            cooldown_us: secs(
                g.cooldown_s,
                "[gateway]",
                "cooldown_s",
                defaults::LITELLM_COOLDOWN_S,
            )?,
            breaker,
            token_limit,
        };

        let c = raw.client.as_ref();
        let b = c.and_then(|c| c.backoff.as_ref());
        let client_s =
            |v: Option<f64>, table: &str, field: &'static str, default: f64, positive| {
                v.map(|x| in_range(x, table, field, limits::CLIENT_S, positive))
                    .transpose()
                    .map(|x| x.unwrap_or(default))
            };
        let timeout_s = client_s(
            c.and_then(|c| c.timeout_s),
            "[client]",
            "timeout_s",
            defaults::CLIENT_TIMEOUT_S,
            true,
        )?;
        let base_s = client_s(
            b.and_then(|b| b.base_s),
            "[client] backoff",
            "base_s",
            defaults::CLIENT_BASE_S,
            false,
        )?;
        let max_s = client_s(
            b.and_then(|b| b.max_s),
            "[client] backoff",
            "max_s",
            defaults::CLIENT_MAX_S.max(base_s),
            false,
        )?;
        if max_s < base_s {
            return Err(invalid(
                "[client] backoff".into(),
                "max_s",
                format!(
                    "{max_s} is below base_s = {base_s}: the cap must be at least the first delay"
                ),
            ));
        }
        let client = Client {
            max_retries: retries_at_most(
                c.and_then(|c| c.max_retries)
                    .unwrap_or(defaults::CLIENT_RETRIES),
                "[client]",
                "max_retries",
            )?,
            base_us: base_s * 1e6,
            max_us: max_s * 1e6,
            jitter: b.and_then(|b| b.jitter).unwrap_or(true),
            honour_retry_after: b.and_then(|b| b.honour_retry_after).unwrap_or(true),
            timeout_us: us(timeout_s),
        };
        Ok(Topology {
            regions,
            deployments,
            gateway,
            client,
            auto,
        })
    }

    /// The sizes Azure accepts for provisioned deployment `d` (None for Standard ones).
    pub fn size_rule(&self, d: usize) -> Option<SizeRule> {
        let dep = &self.deployments[d];
        let t = dep.sku.ptu_type()?;
        Some(dep.model.ptu?.size_rule(t))
    }

    /// The topology with provisioned deployments resized: `(deployment, PTUs)`. Size 0 takes
    /// the deployment out: the gateway sends its traffic to its native spillover deployment
    /// (what a team without PTUs would route to), or drops the backend when it has none.
    /// None when no backend is left. Sizes are not checked against the SKU's rule here (the
    /// planner only proposes valid ones).
    pub fn with_capacities(&self, sizes: &[(usize, u32)]) -> Option<Topology> {
        let mut t = self.clone();
        for &(d, cap) in sizes {
            let dep = &mut t.deployments[d];
            let (
                Some(p),
                Admission::Provisioned {
                    bucket_s,
                    deployment_type,
                    ..
                },
            ) = (dep.model.ptu, &dep.admission)
            else {
                continue;
            };
            dep.admission = Admission::provisioned(&p, *deployment_type, cap, *bucket_s);
            dep.capacity = cap;
            if cap > 0 {
                continue;
            }
            let spill = dep.spillover;
            let backends = &mut t.gateway.backends;
            if let Some(i) = backends.iter().position(|b| b.deployment == d) {
                match spill {
                    Some(s) if !backends.iter().any(|b| b.deployment == s) => {
                        backends[i].deployment = s;
                    }
                    _ => {
                        backends.remove(i);
                    }
                }
            }
        }
        (!t.gateway.backends.is_empty()).then_some(t)
    }

    /// The topology with provisioned deployment `d` following `schedule` (PTUs by UTC hour of
    /// day): a reserved base with hourly PTUs on top in the busy hours.
    pub fn with_schedule(&self, d: usize, schedule: [u32; 24]) -> Topology {
        let mut t = self.clone();
        let dep = &mut t.deployments[d];
        let top = schedule.iter().copied().max().unwrap_or(0);
        if let (
            Some(p),
            Admission::Provisioned {
                bucket_s,
                deployment_type,
                ..
            },
        ) = (dep.model.ptu, &dep.admission)
        {
            let mut a = Admission::provisioned(&p, *deployment_type, top, *bucket_s);
            if let Admission::Provisioned { schedule: s, .. } = &mut a {
                *s = Some(Box::new(schedule));
            }
            dep.admission = a;
            dep.capacity = top;
        }
        t
    }

    /// The topology with every provisioned deployment's burst tolerance set to `bucket_s`.
    pub fn with_bucket_s(&self, bucket_s: f64) -> Topology {
        let mut t = self.clone();
        for dep in &mut t.deployments {
            if let (
                Some(p),
                Admission::Provisioned {
                    ptu,
                    deployment_type,
                    ..
                },
            ) = (dep.model.ptu, &dep.admission)
            {
                dep.admission = Admission::provisioned(&p, *deployment_type, *ptu, bucket_s);
            }
        }
        t
    }

    /// The gateway's backend for deployment `d`, if any.
    pub fn backend_of(&self, d: usize) -> Option<&Backend> {
        self.gateway.backends.iter().find(|b| b.deployment == d)
    }
}

/// Most retries a client or a gateway may be configured with.
pub const MAX_RETRIES: u32 = 100;

/// The Standard SKU a provisioned SKU spills to (same data-processing level).
fn spill_sku(sku: Sku) -> Sku {
    match sku {
        Sku::GlobalProvisionedManaged => Sku::GlobalStandard,
        Sku::DataZoneProvisionedManaged => Sku::DataZoneStandard,
        _ => Sku::Standard,
    }
}
