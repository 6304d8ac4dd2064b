//! Topology files: regions, deployments, the gateway and the client, in Azure's vocabulary.
//!
//! Parsing turns the TOML into a validated [`Topology`]: every reference resolves, every number
//! is in range, and provisioned sizes are ones Azure accepts (at least the model's minimum and
//! a multiple of its increment for the deployment type). Errors name the file, the table (with
//! the row number for arrays of tables) and the field, and list the valid values.

use std::path::Path;

use serde::Deserialize;

use crate::catalog::{Catalog, Model, PriceQuote, PtuType, Sku};

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
    capacity: u32,
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
        output_weight: f64,
        /// Prompts above this are rejected with HTTP 400.
        max_prompt_tokens: Option<u64>,
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
    pub admission: Admission,
    pub retry_after_header: bool,
    /// Pay-as-you-go price (Standard SKUs; and what spilled tokens cost).
    pub price: Option<PriceQuote>,
    /// USD per PTU per hour (provisioned SKUs).
    pub ptu_hourly: Option<f64>,
    /// USD per PTU per year on a 1-year reservation (provisioned SKUs).
    pub ptu_yearly: Option<f64>,
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
    /// LiteLLM least-busy.
    LeastBusy,
    /// LiteLLM usage-based-routing-v2.
    UsageBased,
    /// LiteLLM latency-based-routing.
    LatencyBased,
}

impl Policy {
    pub const NAMES: &'static str =
        "priority, round-robin, weighted, least-busy, usage-based, latency-based";

    fn parse(s: &str) -> Option<Policy> {
        Some(match s {
            "priority" => Policy::Priority,
            "round-robin" => Policy::RoundRobin,
            "weighted" => Policy::Weighted,
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
            Policy::LeastBusy | Policy::UsageBased | Policy::LatencyBased
        )
    }
}

/// A backend of the gateway.
#[derive(Debug, Clone)]
pub struct Backend {
    pub deployment: usize,
    pub priority: u32,
    pub weight: f64,
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

/// A validated topology.
#[derive(Debug, Clone)]
pub struct Topology {
    pub regions: Vec<Region>,
    pub deployments: Vec<Deployment>,
    pub gateway: Gateway,
    pub client: Client,
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
    /// openai-aca-lb HTTP_TIMEOUT_SECONDS / APIM default: 100 s.
    pub const CLIENT_TIMEOUT_S: f64 = 100.0;
    /// Provisioned utilisation is measured per minute: the bucket holds one minute of throughput.
    pub const BUCKET_S: f64 = 60.0;
    /// Standard RPM: "evaluated over a small period of time, typically 1 or 10 seconds";
    /// quota tiers write limits "per 10 s".
    pub const RPM_WINDOW_S: f64 = 10.0;
    /// Standard TPM: "a running counter reset each minute".
    pub const TPM_WINDOW_S: f64 = 60.0;
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

    /// Parses and validates topology text; `file` labels errors.
    pub fn parse(text: &str, file: &str, catalog: &Catalog) -> Result<Topology, TopologyError> {
        let raw: RawTopology = toml::from_str(text).map_err(|e| {
            let start = e.span().map(|s| s.start).unwrap_or(0).min(text.len());
            let (line, column) = crate::catalog::line_col(text, start);
            TopologyError::Parse {
                file: file.to_string(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
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

        let mut regions = Vec::new();
        for (i, r) in raw.region.iter().enumerate() {
            let table = format!("[[region]] {} ({})", i + 1, r.name);
            if r.name.trim().is_empty() {
                return Err(invalid(table, "name", "must not be empty".into()));
            }
            if regions.iter().any(|x: &Region| x.name == r.name) {
                return Err(invalid(
                    table,
                    "name",
                    format!("region '{}' is defined twice", r.name),
                ));
            }
            if !(r.rtt_ms.is_finite() && r.rtt_ms >= 0.0) {
                return Err(invalid(table, "rtt_ms", "must be zero or positive".into()));
            }
            regions.push(Region {
                name: r.name.clone(),
                rtt_us: us(r.rtt_ms / 1e3),
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
        let mut deployments = Vec::new();
        for (i, d) in raw.deployment.iter().enumerate() {
            let table = format!("[[deployment]] {} ({})", i + 1, d.name);
            if names[..i].contains(&d.name.as_str()) {
                return Err(invalid(
                    table,
                    "name",
                    format!("deployment '{}' is defined twice", d.name),
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
                            d.region,
                            regions
                                .iter()
                                .map(|r| r.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
            let model = catalog
                .resolve(&d.model)
                .map_err(|e| invalid(table.clone(), "model", e.to_string()))?
                .clone();
            let sku: Sku = d.sku.parse().map_err(|e: crate::catalog::UnknownSku| {
                invalid(table.clone(), "sku", e.to_string())
            })?;
            if matches!(sku, Sku::GlobalBatch | Sku::DataZoneBatch) {
                return Err(invalid(
                    table,
                    "sku",
                    "batch deployments are asynchronous and take no online traffic".into(),
                ));
            }
            if d.capacity == 0 {
                return Err(invalid(table, "capacity", "must be positive".into()));
            }
            let positive =
                |v: Option<f64>, field: &'static str| -> Result<Option<f64>, TopologyError> {
                    match v {
                        Some(x) if !(x.is_finite() && x > 0.0) => {
                            Err(invalid(table.clone(), field, "must be positive".into()))
                        }
                        _ => Ok(v),
                    }
                };
            let ttft_ms = match d.ttft_ms {
                Some(x) if !(x.is_finite() && x >= 0.0) => {
                    return Err(invalid(table, "ttft_ms", "must be zero or positive".into()));
                }
                Some(x) => x,
                None => model.service.ttft_ms,
            };
            let tps = positive(d.output_tokens_per_s, "output_tokens_per_s")?
                .unwrap_or(model.service.output_tokens_per_s);
            let admission = match sku.ptu_type() {
                Some(t) => {
                    let p = model.ptu.ok_or_else(|| {
                        invalid(
                            table.clone(),
                            "sku",
                            format!(
                                "the catalog has no provisioned-throughput figures for {}",
                                model.name
                            ),
                        )
                    })?;
                    let (min, step) = match t {
                        PtuType::Global | PtuType::DataZone => (p.global_min, p.global_step),
                        PtuType::Regional => (p.regional_min, p.regional_step),
                    };
                    if d.capacity < min || d.capacity % step != 0 {
                        let lo = (d.capacity / step * step).max(min);
                        let hi = if lo >= d.capacity { lo } else { lo + step };
                        let valid = if lo == hi || d.capacity < min {
                            format!("{}", min.max(hi))
                        } else {
                            format!("{lo} or {hi}")
                        };
                        return Err(invalid(
                            table,
                            "capacity",
                            format!(
                                "{} PTU of {} on {}: Azure accepts at least {min} PTU in steps of {step} (nearest valid: {valid})",
                                d.capacity, model.name, sku
                            ),
                        ));
                    }
                    if d.rpm_window_s.is_some() || d.tpm_window_s.is_some() {
                        return Err(invalid(table, "rpm_window_s", "TPM/RPM windows apply to Standard SKUs; provisioned deployments use utilisation".into()));
                    }
                    let bucket_s = positive(d.bucket_s, "bucket_s")?.unwrap_or(defaults::BUCKET_S);
                    let per_minute = d.capacity as f64 * p.input_tpm_per_ptu;
                    Admission::Provisioned {
                        ptu: d.capacity,
                        drain_per_us: per_minute / 60e6,
                        bucket_tokens: per_minute / 60.0 * bucket_s,
                        output_weight: p.output_weight,
                        max_prompt_tokens: p.max_prompt_tokens,
                        deployment_type: t,
                    }
                }
                None => {
                    if d.bucket_s.is_some() {
                        return Err(invalid(
                            table,
                            "bucket_s",
                            "the utilisation bucket applies to provisioned SKUs".into(),
                        ));
                    }
                    let tpm_limit = d.capacity as u64 * 1000;
                    Admission::Standard {
                        tpm_limit,
                        rpm_limit: d.capacity as f64 * model.standard.rpm_per_1000_tpm,
                        tpm_window_us: us(positive(d.tpm_window_s, "tpm_window_s")?
                            .unwrap_or(defaults::TPM_WINDOW_S)),
                        rpm_window_us: us(positive(d.rpm_window_s, "rpm_window_s")?
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
            let ptu_price = sku.ptu_type().and_then(|t| catalog.ptu_price(t));
            deployments.push(Deployment {
                name: d.name.clone(),
                region,
                model,
                sku,
                capacity: d.capacity,
                spillover: None,
                ttft_us: ttft_ms * 1e3,
                output_tokens_per_s: tps,
                admission,
                retry_after_header: d.retry_after_header.unwrap_or(true),
                price,
                ptu_hourly: ptu_price.map(|p| p.hourly),
                ptu_yearly: ptu_price.map(|p| p.yearly_reservation),
            });
        }
        // Native spillover: provisioned → Standard deployment in the same region.
        for (i, d) in raw.deployment.iter().enumerate() {
            let Some(target) = &d.spillover else { continue };
            let table = format!("[[deployment]] {} ({})", i + 1, d.name);
            let j = names.iter().position(|n| n == target).ok_or_else(|| {
                invalid(
                    table.clone(),
                    "spillover",
                    format!(
                        "unknown deployment '{target}' (defined: {})",
                        names.join(", ")
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
                    format!("'{target}' is provisioned; spillover goes to a Standard deployment"),
                ));
            }
            if deployments[j].region != deployments[i].region {
                return Err(invalid(
                    table,
                    "spillover",
                    format!(
                        "'{target}' is in another region; Azure spills within the same resource"
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
                    g.policy,
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
                            b.deployment,
                            names.join(", ")
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
                    format!("'{}' is listed twice", b.deployment),
                ));
            }
            let weight = b.weight.unwrap_or(1.0);
            if !(weight.is_finite() && weight > 0.0) {
                return Err(invalid(table, "weight", "must be positive".into()));
            }
            if policy.is_apim_pool() && (b.priority.is_some_and(|p| p > 100) || weight > 100.0) {
                return Err(invalid(
                    table,
                    "priority",
                    "APIM pool priorities and weights are 0-100".into(),
                ));
            }
            backends.push(Backend {
                deployment,
                priority: b.priority.unwrap_or(1),
                weight,
                tpm: b.tpm,
                rpm: b.rpm,
            });
        }
        let instances = g.instances.unwrap_or(1);
        if instances == 0 {
            return Err(invalid(
                "[gateway]".into(),
                "instances",
                "must be at least 1".into(),
            ));
        }
        let default_retries = match policy {
            Policy::Priority => defaults::APIM_LB_RETRIES,
            Policy::RoundRobin | Policy::Weighted => backends.len() as u32 - 1,
            _ => defaults::LITELLM_RETRIES,
        };
        let secs =
            |v: Option<f64>, field: &'static str, default: f64| -> Result<i64, TopologyError> {
                match v {
                    Some(x) if !(x.is_finite() && x >= 0.0) => Err(invalid(
                        "[gateway]".into(),
                        field,
                        "must be zero or positive".into(),
                    )),
                    Some(x) => Ok(us(x)),
                    None => Ok(us(default)),
                }
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
                if b.failures == 0 {
                    return Err(invalid(
                        "[gateway] circuit_breaker".into(),
                        "failures",
                        "must be at least 1".into(),
                    ));
                }
                for (f, v) in [("interval_s", b.interval_s), ("trip_s", b.trip_s)] {
                    if !(v.is_finite() && v > 0.0) {
                        return Err(invalid(
                            "[gateway] circuit_breaker".into(),
                            if f == "trip_s" {
                                "trip_s"
                            } else {
                                "interval_s"
                            },
                            "must be positive".into(),
                        ));
                    }
                }
                Some(Breaker {
                    failures: b.failures,
                    interval_us: us(b.interval_s),
                    trip_us: us(b.trip_s),
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
                "default_retry_after_s",
                defaults::RETRY_AFTER_S,
            )?,
            state_ttl_us: secs(g.state_ttl_s, "state_ttl_s", defaults::STATE_TTL_S)?,
            cooldown_us: secs(g.cooldown_s, "cooldown_s", defaults::LITELLM_COOLDOWN_S)?,
            breaker,
            token_limit,
        };

        let c = raw.client.as_ref();
        let b = c.and_then(|c| c.backoff.as_ref());
        let nonneg =
            |v: Option<f64>, field: &'static str, default: f64| -> Result<f64, TopologyError> {
                match v {
                    Some(x) if !(x.is_finite() && x >= 0.0) => Err(invalid(
                        "[client]".into(),
                        field,
                        "must be zero or positive".into(),
                    )),
                    Some(x) => Ok(x),
                    None => Ok(default),
                }
            };
        let timeout_s = nonneg(
            c.and_then(|c| c.timeout_s),
            "timeout_s",
            defaults::CLIENT_TIMEOUT_S,
        )?;
        if timeout_s == 0.0 {
            return Err(invalid(
                "[client]".into(),
                "timeout_s",
                "must be positive".into(),
            ));
        }
        let client = Client {
            max_retries: retries_at_most(
                c.and_then(|c| c.max_retries)
                    .unwrap_or(defaults::CLIENT_RETRIES),
                "[client]",
                "max_retries",
            )?,
            base_us: nonneg(
                b.and_then(|b| b.base_s),
                "backoff.base_s",
                defaults::CLIENT_BASE_S,
            )? * 1e6,
            max_us: nonneg(
                b.and_then(|b| b.max_s),
                "backoff.max_s",
                defaults::CLIENT_MAX_S,
            )? * 1e6,
            jitter: b.and_then(|b| b.jitter).unwrap_or(true),
            honour_retry_after: b.and_then(|b| b.honour_retry_after).unwrap_or(true),
            timeout_us: us(timeout_s),
        };
        Ok(Topology {
            regions,
            deployments,
            gateway,
            client,
        })
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
