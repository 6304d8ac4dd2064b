//! Command-line definitions (clap derive): the global flags, the subcommands and one `*Args`
//! struct per subcommand. Only syntax lives here; values are validated into typed
//! configurations by `src/commands/<name>.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::catalog::Reservation;
use crate::ingest::{InputFormat, PromptSource};
use crate::sim::workload::MaxTokensEstimate;

#[derive(Debug, Parser)]
#[command(
    name = "spillway",
    version,
    about = "Quota planning and token-budget analysis for Azure OpenAI and OpenAI deployments",
    long_about = "Quota planning and token-budget analysis for Azure OpenAI and OpenAI deployments.\n\n\
        plan      how many PTUs to buy: sizes swept through the simulator, beside the calculator\n\
        report    the capacity report (HTML or Markdown) with charts\n\
        simulate  replay traffic through gateway, provisioned and pay-as-you-go deployments\n\
        cost      FinOps FOCUS 1.2 cost rows\n\
        calibrate fit PTU throughput and burst tolerance to the 429s in gateway logs\n\
        profile   TPM / RPM profiles of prompt logs, usage logs and request traces\n\
        query     KQL / Spark SQL that aggregates APIM logs where they live\n\
        count     exact token counts for text, files, chat requests and batch files\n\
        models    the model and price catalog",
    after_help = "Examples:\n  \
        spillway plan -t samples/topology-plan.toml \\\n          --trace samples/AzureLLMInferenceTrace_conv_2023.csv\n  \
        spillway count \"How many tokens is this?\"\n  \
        spillway profile samples/AzureLLMInferenceTrace_conv_2023.csv\n  \
        spillway -j 1 profile samples/chat-log.jsonl.gz   # one worker thread\n  \
        spillway models"
)]
pub struct Cli {
    /// Catalog file (TOML) whose [[model]], [[token_price]], [[sku_rule]] and [[ptu_price]] rows
    /// override or extend the built-in catalog.
    #[arg(long, global = true, value_name = "FILE")]
    pub catalog: Option<PathBuf>,

    /// No progress bars or notes on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Worker threads for reading, parsing, counting and simulating (default: one per core).
    /// With 1, spillway's own work runs on one thread, reading included; polars' pool (the
    /// per-window aggregation of `profile`) follows POLARS_MAX_THREADS.
    #[arg(short = 'j', long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Count tokens in text, files or Chat Completions requests, per model, with context-window fit
    /// and input cost.
    #[command(after_help = "Examples:\n  \
        spillway count \"some text\"\n  \
        spillway count --file README.md --file src/main.rs --model gpt-4o,gpt-4\n  \
        cat prompt.txt | spillway count --encoding cl100k_base\n  \
        spillway count --chat request.json --per-message --max-tokens 4096 --check\n  \
        spillway count --batch batch-input.jsonl --check\n  \
        spillway count --file big.txt --format json")]
    Count(CountArgs),
    /// Profile prompt logs, usage logs and request traces: requests and tokens per minute (mean, percentiles,
    /// peaks), per-request token distributions, by model, deployment, tenant or any field.
    #[command(after_help = "Examples:\n  \
        spillway profile samples/AzureLLMInferenceTrace_conv_2023.csv\n  \
        spillway profile samples/chat-log.jsonl.gz --by tenant,model --window 10s\n  \
        spillway profile samples/chat-log.jsonl.gz --format markdown > profile.md\n  \
        spillway profile logs/*.jsonl.gz --format json --out series.parquet\n  \
        spillway profile requests.csv --time-col ts --text-col prompt \\\n          --completion-col answer\n  \
        spillway profile samples/BurstGPT_1_first400.csv --by Model \\\n          --start 2023-07-01T00:00:00Z\n  \
        spillway profile samples/apim-llm.csv.gz samples/apim-gateway.csv.gz \\\n          --by status,backend\n  \
        spillway --threads 2 profile logs/*.jsonl.zst --quiet   # two threads")]
    Profile(ProfileArgs),
    /// Replay traffic through clients, a gateway and provisioned / pay-as-you-go deployments:
    /// 429s, retries, spillover, latency and cost.
    #[command(after_help = "Examples:\n  \
        spillway simulate --topology samples/topology-ptu-spillover.toml \\\n          --trace samples/AzureLLMInferenceTrace_conv_2023.csv\n  \
        spillway simulate -t samples/topology-apim-priority.toml \\\n          --trace samples/chat-log.jsonl.gz --scale 2 --format json\n  \
        spillway simulate -t ours.toml \\\n          --synthetic \"rate=600/min,prompt=1000,completion=200,duration=1h\"\n  \
        spillway simulate -t ours.toml --trace logs/*.jsonl --speed 4 \\\n          --timeline timeline.parquet --seed 7\n  \
        spillway simulate -t samples/topology-calibration.toml \\\n          --trace samples/apim-*.csv.gz --compare-observed\n  \
        spillway simulate -t truth.toml --trace trace.csv --log-out logs/apim \\\n          --log-format apim-json")]
    Simulate(SimulateArgs),
    /// Recommend PTU sizes, spillover quota and reservation from real traffic: sweep the sizes
    /// through the simulator, cheapest set-up that meets the service level, beside the capacity
    /// calculator's answer and all pay-as-you-go; token budgets from the trace.
    #[command(after_help = "Examples:\n  \
        spillway plan -t samples/topology-plan.toml \\\n          --trace samples/AzureLLMInferenceTrace_conv_2023.csv\n  \
        spillway plan -t ours.toml --trace logs/*.jsonl.gz --size ptu-sweden \\\n          --reservation yearly\n  \
        spillway plan -t ours.toml --trace week.csv --max-failure-rate 0.5% \\\n          --max-p99-latency 20s --out curve.csv\n  \
        spillway plan -t ours.toml --trace week.csv --growth 1.5 \\\n          --cache-hit-rate 0.3 --format json\n  \
        spillway plan -t ours.toml --trace week.csv --as-model gpt-4.1 \\\n          --budget 8000")]
    Plan(PlanArgs),
    /// FinOps FOCUS 1.2 cost export: every request priced where it was served (pay-as-you-go
    /// list prices, or a simulated topology with its PTU reservations amortized and shown back
    /// by tenant), per hour, day or month, reconciled to the cent.
    #[command(after_help = "Examples:\n  \
        spillway cost samples/chat-log.jsonl.gz --by tenant,model --period day \\\n          --out costs.csv\n  \
        spillway cost samples/chat-log.jsonl.gz \\\n          -t samples/topology-apim-priority.toml --by tenant --period hour \\\n          --out costs.csv\n  \
        spillway cost logs/*.jsonl.gz --sku DataZoneStandard --period month \\\n          --format json\n  \
        spillway cost batch-output.jsonl --batch --by model --out costs.parquet")]
    Cost(CostArgs),
    /// The architect's capacity report: the plan's recommendation, the traffic, the cost curve,
    /// spillover and 429s over time, utilisation, quota, sensitivity and token budgets, with
    /// charts, in one HTML file to send on (or Markdown).
    #[command(after_help = "Examples:\n  \
        spillway report -t samples/topology-plan.toml \\\n          --trace samples/AzureLLMInferenceTrace_conv_2023.csv \\\n          --out report.html\n  \
        spillway report -t ours.toml --trace logs/*.jsonl.gz \\\n          --reservation yearly --out capacity.md")]
    Report(ReportArgs),
    /// Fit what no price list says — a PTU deployment's effective throughput and burst
    /// tolerance, a Standard deployment's RPM window — to the 429s and spillover in a gateway
    /// log (APIM or LiteLLM), report the fidelity before and after, and write the fitted
    /// topology for the other commands.
    #[command(after_help = "Examples:\n  \
        spillway calibrate -t samples/topology-calibration.toml \\\n          --trace samples/apim-*.csv.gz --out fitted.toml\n  \
        spillway calibrate -t ours.toml --trace litellm-spend.csv \\\n          --out fitted.toml --format json\n  \
        spillway plan -t fitted.toml --trace logs/*.jsonl.gz")]
    Calibrate(CalibrateArgs),
    /// Print a query that aggregates Azure API Management logs where they live (Log Analytics
    /// KQL, or Spark SQL over the diagnostic-setting JSON) into the per-minute series spillway
    /// reads back: for logs too big to export.
    #[command(after_help = "Examples:\n  \
        spillway query kql --days 30 > per-minute.kql\n  \
        spillway query spark --tenant product > per-minute.sql\n  \
        spillway plan -t topology.toml --trace per-minute.csv   # the result")]
    Query(QueryArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(after_help = "Examples:\n  \
        spillway completions bash \\\n        > ~/.local/share/bash-completion/completions/spillway\n  \
        spillway completions zsh > \"${fpath[1]}/_spillway\"\n  \
        spillway completions fish > ~/.config/fish/completions/spillway.fish")]
    Completions(CompletionsArgs),
    /// List the model catalog: encodings, context windows, PTU throughput, quotas and prices.
    #[command(after_help = "Examples:\n  \
        spillway models\n  \
        spillway models --format json\n  \
        spillway --catalog ours.toml models --format csv")]
    Models(ModelsArgs),
}

/// Output format of a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables for the terminal (arranged to its width).
    Table,
    /// The same tables as Markdown, for issues, wikis and pull requests.
    Markdown,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct CountArgs {
    /// Text to count. `-` (or no input at all) reads standard input.
    #[arg(value_name = "TEXT")]
    pub text: Vec<String>,

    /// File to count (repeatable; files are counted in parallel).
    #[arg(short, long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Chat Completions request body (JSON) to count as the API counts `prompt_tokens`
    /// (repeatable; `-` reads standard input).
    #[arg(long = "chat", value_name = "REQUEST.json")]
    pub chats: Vec<PathBuf>,

    /// Model(s) to count for, comma-separated or repeated [default: gpt-4o].
    #[arg(
        short,
        long = "model",
        value_name = "NAME",
        value_delimiter = ',',
        conflicts_with = "encodings"
    )]
    pub models: Vec<String>,

    /// Count with a bare encoding instead of a model (r50k_base, p50k_base, p50k_edit,
    /// cl100k_base, o200k_base, o200k_harmony).
    #[arg(short, long = "encoding", value_name = "NAME", value_delimiter = ',')]
    pub encodings: Vec<String>,

    /// Count special-token text such as <|endoftext|> as the special token (default: as text).
    #[arg(long)]
    pub allow_special: bool,

    /// Completion budget for the fit check (default: the request's max_completion_tokens or
    /// max_tokens).
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u64>,

    /// Exit with code 3 when any row does not fit the model's context window or output limit.
    #[arg(long)]
    pub check: bool,

    /// Show the per-message breakdown of chat requests.
    #[arg(long)]
    pub per_message: bool,

    /// Size of images given by URL (their size cannot be read offline), e.g. 1024x768.
    #[arg(long, value_name = "WxH")]
    pub image_size: Option<String>,

    /// Replace invalid UTF-8 with U+FFFD instead of failing.
    #[arg(long)]
    pub lossy: bool,

    /// Deployment SKU whose pay-as-you-go price is used for the input cost [default:
    /// GlobalStandard; GlobalBatch with --batch, which takes GlobalBatch or DataZoneBatch].
    #[arg(long, value_name = "SKU")]
    pub sku: Option<String>,

    /// Batch API input file (JSONL lines of custom_id, method, url, body) to count line by
    /// line: tokens per line and per model, the enqueued tokens held against the batch quota,
    /// the quota check, and each bad line by its number (the others still counted).
    #[arg(long = "batch", value_name = "INPUT.jsonl",
          conflicts_with_all = ["text", "files", "chats", "encodings", "per_message", "max_tokens"])]
    pub batch: Vec<PathBuf>,

    /// With --batch: the enqueued-token quota to check against [default: the catalog's quota
    /// for the batch SKU and subscription type].
    #[arg(long, value_name = "TOKENS", requires = "batch",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_quota: Option<u64>,

    /// With --batch: the subscription is an Enterprise agreement (its larger default quota).
    #[arg(long, requires = "batch")]
    pub enterprise: bool,

    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Input flags shared by the commands that read logs and traces.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Force the input format: jsonl, csv, tsv, azure, burstgpt, mooncake, parquet, apim,
    /// litellm, batch-output, helicone, langfuse, per-minute, usage-api, azure-metrics
    /// [default: detected from the extension and the header].
    #[arg(long, value_name = "FORMAT", value_parser = parse_input_format)]
    pub input_format: Option<InputFormat>,

    /// CSV / Parquet column holding the request time [default: timestamp, time or created].
    #[arg(long, value_name = "COLUMN")]
    pub time_col: Option<String>,

    /// CSV / Parquet column holding the prompt text to tokenize.
    #[arg(long, value_name = "COLUMN")]
    pub text_col: Option<String>,

    /// CSV / Parquet column holding prompt token counts (instead of text).
    #[arg(long, value_name = "COLUMN")]
    pub prompt_tokens_col: Option<String>,

    /// CSV / Parquet column holding completion token counts or completion text.
    #[arg(long, value_name = "COLUMN")]
    pub completion_col: Option<String>,

    /// Model for requests that name none (and for names the catalog does not know).
    #[arg(short, long, value_name = "NAME", default_value = "gpt-4o")]
    pub model: String,

    /// Count and weigh all traffic as this model (e.g. to size gpt-35-turbo traffic on gpt-4o-mini).
    #[arg(long, value_name = "NAME")]
    pub as_model: Option<String>,

    /// Start time for traces with relative timestamps (BurstGPT, Mooncake), RFC 3339.
    #[arg(long, value_name = "TIME", value_parser = parse_start)]
    pub start: Option<i64>,

    /// Skip malformed rows (they are counted and reported) instead of stopping at the first.
    #[arg(long)]
    pub skip_bad: bool,

    /// Count special-token text such as <|endoftext|> as the special token.
    #[arg(long)]
    pub allow_special: bool,

    /// Prompt tokens when a log line has both text and usage: `usage` (the service's figure)
    /// or `count` (spillway's count of the text).
    #[arg(long, value_name = "SOURCE", value_enum, default_value_t = PromptSourceArg::Usage)]
    pub prompt_source: PromptSourceArg,
}

/// Which prompt-token figure to use when a log line has both text and `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PromptSourceArg {
    /// The service's `usage.prompt_tokens`.
    Usage,
    /// spillway's count of the text.
    Count,
}

impl From<PromptSourceArg> for PromptSource {
    fn from(a: PromptSourceArg) -> PromptSource {
        match a {
            PromptSourceArg::Usage => PromptSource::Usage,
            PromptSourceArg::Count => PromptSource::Count,
        }
    }
}

fn parse_input_format(s: &str) -> Result<InputFormat, String> {
    s.parse()
}

/// `--start`: an RFC 3339 time, as µs since the epoch.
fn parse_start(s: &str) -> Result<i64, String> {
    crate::ingest::time::parse_datetime(s)
        .ok_or_else(|| format!("'{s}': expected an RFC 3339 time such as 2024-05-10T00:00:00Z"))
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Log or trace files: JSONL chat logs, CSV/TSV, Azure LLM inference and BurstGPT CSV,
    /// Mooncake JSONL, Parquet; .gz and .zst are decompressed. Several files are merged.
    #[arg(value_name = "LOG", required = true)]
    pub logs: Vec<PathBuf>,

    #[command(flatten)]
    pub input: InputArgs,

    /// Group by these fields or columns (comma-separated; dotted paths reach into JSON objects,
    /// e.g. metadata.tenant).
    #[arg(long, value_name = "FIELD", value_delimiter = ',')]
    pub by: Vec<String>,

    /// Window length: 1s, 10s, 1m, 5m, 1h … Rates are always per minute (scaled and labelled).
    #[arg(long, value_name = "DURATION", default_value = "1m")]
    pub window: String,

    /// Write the per-window series (one row per window and group) to FILE.csv or FILE.parquet.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Summary format (the per-window series goes to --out FILE.csv or .parquet).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Output format of a report (table or JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Tables for the terminal (arranged to its width).
    Table,
    /// The same tables as Markdown, for issues, wikis and pull requests.
    Markdown,
    Json,
}

/// How PTUs are bought (the headline cost; all three are shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReservationArg {
    /// $/PTU/hour, no commitment.
    Hourly,
    /// 1-month Azure reservation.
    Monthly,
    /// 1-year Azure reservation.
    Yearly,
}

impl Command {
    /// The run writes its tables as Markdown (`--format markdown`).
    pub fn markdown(&self) -> bool {
        let report = |f: ReportFormat| f == ReportFormat::Markdown;
        match self {
            Command::Count(a) => a.format == Format::Markdown,
            Command::Models(a) => a.format == Format::Markdown,
            Command::Profile(a) => report(a.format),
            Command::Simulate(a) => report(a.format),
            Command::Plan(a) => report(a.format),
            Command::Cost(a) => report(a.format),
            Command::Calibrate(a) => report(a.format),
            Command::Report(_) | Command::Query(_) | Command::Completions(_) => false,
        }
    }
}

impl From<ReservationArg> for Reservation {
    fn from(r: ReservationArg) -> Reservation {
        match r {
            ReservationArg::Hourly => Reservation::Hourly,
            ReservationArg::Monthly => Reservation::Monthly,
            ReservationArg::Yearly => Reservation::Yearly,
        }
    }
}

fn parse_estimate(s: &str) -> Result<MaxTokensEstimate, String> {
    MaxTokensEstimate::parse(s)
}

/// The traffic a simulation replays: a trace, or a synthetic load (shared by `simulate` and
/// `plan`).
#[derive(Debug, Args)]
pub struct WorkloadArgs {
    /// Replay these logs or traces (any format `profile` reads).
    #[arg(long, value_name = "LOG", num_args = 1.., conflicts_with = "synthetic")]
    pub trace: Vec<PathBuf>,

    /// Synthetic workload instead of a trace: "rate=60/min,prompt=1000,completion=100,duration=1h"
    /// plus optional arrivals=poisson|constant, cached=N, max_tokens=N (the clients' own),
    /// keys=K (token-limit keys), start=RFC3339 (default 2026-01-05T00:00:00Z).
    #[arg(long, value_name = "SPEC")]
    pub synthetic: Option<String>,

    #[command(flatten)]
    pub input: InputArgs,

    /// Time compression: 2 replays the trace twice as fast.
    #[arg(long, value_name = "X", default_value = "1")]
    pub speed: f64,

    /// Completion budget charged at admission for requests that carry no max_tokens:
    /// model-default (what the service charges: the model's default, 4,096 for gpt-4o; the
    /// actual completion where the catalog has none), actual (as if every client set it
    /// exactly), fixed:N, or pNN (the trace's completion percentile, e.g. p99).
    #[arg(long, value_name = "RULE", default_value = "model-default", value_parser = parse_estimate)]
    pub max_tokens_estimate: MaxTokensEstimate,

    /// Seed of the simulation's random choices (same inputs + seed = identical output).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

/// A share: 0.001, or with a percent sign, 0.1%.
fn parse_share(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("'{s}': expected a share such as 0.001 or 0.1%"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("'{s}': must be between 0 and 100%"))
    }
}

/// A duration such as 2500ms, 30s or 2m, in milliseconds.
fn parse_duration_ms(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = if let Some(ms) = t.strip_suffix("ms") {
        ms.trim().parse::<f64>().ok()
    } else {
        crate::ingest::time::parse_duration(t).map(|us| us as f64 / 1e3)
    };
    match v {
        Some(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!(
            "'{s}': expected a duration such as 2500ms, 30s or 2m"
        )),
    }
}

/// What `plan` and `report` plan from: the topology, the traffic, what is sized, the
/// service level and the what-ifs.
#[derive(Debug, Args)]
pub struct PlanCore {
    /// Topology file (TOML); provisioned deployments to size are named with --size or written
    /// `capacity = "auto"` (default: every provisioned deployment).
    #[arg(short, long, value_name = "FILE")]
    pub topology: PathBuf,

    #[command(flatten)]
    pub workload: WorkloadArgs,

    /// Size this provisioned deployment (repeatable); the others stay as written.
    #[arg(long = "size", value_name = "NAME")]
    pub size: Vec<String>,

    /// How PTUs are bought, for every cost (hourly, 1-month or 1-year reservation).
    #[arg(long, value_enum, default_value_t = ReservationArg::Monthly)]
    pub reservation: ReservationArg,

    /// Largest client-visible failure rate the recommendation may have.
    #[arg(long, value_name = "SHARE", default_value = "0.1%", value_parser = parse_share)]
    pub max_failure_rate: f64,

    /// Largest p99 latency (e.g. 20s, 2500ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    pub max_p99_latency: Option<f64>,

    /// Largest share of requests the sized deployments may spill to pay-as-you-go (e.g. 10%).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub max_spill: Option<f64>,

    /// Most simulations of the sweep (the calculator's candidates and the bracket come on top).
    #[arg(long, value_name = "N", default_value_t = 40,
          value_parser = clap::value_parser!(u32).range(4..=10_000))]
    pub max_candidates: u32,

    /// Traffic growth, as simulate's --scale: 1.5 sends every request once and half of them
    /// twice.
    #[arg(long, value_name = "X", default_value = "1")]
    pub growth: f64,

    /// Share of each prompt served from the prompt cache where the trace has no cached tokens
    /// (Azure caches from 1,024 tokens, in steps of 128).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub cache_hit_rate: Option<f64>,

    /// Prompt token budget for the token-budget advice (default: the model's input limit).
    #[arg(long, value_name = "TOKENS")]
    pub budget: Option<u32>,

    /// Chunk size for prompts over the limit (default: the limit).
    #[arg(long, value_name = "TOKENS")]
    pub chunk_size: Option<u32>,

    /// Tokens consecutive chunks share.
    #[arg(long, value_name = "TOKENS", default_value_t = 0)]
    pub overlap: u32,

    /// Skip the what-if re-simulations: the sensitivity sweeps (burst tolerance, max_tokens
    /// rule) and the PTUs truncated prompts would need (their token and dollar savings stay).
    #[arg(long)]
    pub no_sensitivity: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub core: PlanCore,

    /// Write every simulated candidate to FILE.csv.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Topology the log was recorded on (TOML); its deployment names (or regions) must match
    /// the log's backends.
    #[arg(short, long, value_name = "FILE")]
    pub topology: PathBuf,

    #[command(flatten)]
    pub workload: WorkloadArgs,

    /// Write the topology with the fitted values (the rest of the file, comments included,
    /// unchanged) to FILE.toml.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Write the per-minute observed / before / after series to FILE.csv.
    #[arg(long, value_name = "FILE")]
    pub series: Option<PathBuf>,

    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Where the query runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryEngine {
    /// Log Analytics / Azure Data Explorer (resource-specific APIM tables).
    Kql,
    /// Spark SQL over the diagnostic-setting JSON in a storage account.
    Spark,
}

/// Which APIM identity is the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TenantArg {
    /// The APIM subscription (the key owner).
    Subscription,
    Product,
    User,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    #[arg(value_enum)]
    pub engine: QueryEngine,

    /// Days of logs (KQL: `ago(Nd)`).
    #[arg(long, value_name = "N", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,

    /// The APIM identity written as the tenant column.
    #[arg(long, value_enum, default_value_t = TenantArg::Subscription)]
    pub tenant: TenantArg,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub core: PlanCore,

    /// The report: FILE.html (one self-contained file with inline SVG charts) or FILE.md (with
    /// the charts as SVG files beside it).
    #[arg(long, value_name = "FILE", required = true)]
    pub out: PathBuf,
}

/// Charge period of a cost export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PeriodArg {
    Hour,
    Day,
    Month,
}

#[derive(Debug, Args)]
pub struct CostArgs {
    /// Logs or traces (any format `profile` reads).
    #[arg(value_name = "LOG", required = true)]
    pub logs: Vec<PathBuf>,

    #[command(flatten)]
    pub input: InputArgs,

    /// Topology: the traffic is simulated through it and each request costed where it was
    /// served; PTU reservations are amortized and shown back. Without one, every request is
    /// priced at the pay-as-you-go list price of its model and --sku.
    #[arg(short, long, value_name = "FILE")]
    pub topology: Option<PathBuf>,

    /// Charge period of the rows.
    #[arg(long, value_enum, default_value_t = PeriodArg::Day)]
    pub period: PeriodArg,

    /// Split the rows by: deployment (with a topology), model, or any log field (comma-separated;
    /// dotted paths reach into JSON objects). Each becomes an x_ column (tenant: x_TenantId).
    #[arg(long, value_name = "FIELD", value_delimiter = ',')]
    pub by: Vec<String>,

    /// Pay-as-you-go SKU whose prices apply without a topology.
    #[arg(long, value_name = "SKU", default_value = "GlobalStandard")]
    pub sku: String,

    /// Price at the batch discount (GlobalBatch / DataZoneBatch) instead, without a topology.
    #[arg(long)]
    pub batch: bool,

    /// How the topology's PTUs are bought: hourly, or a 1-month or 1-year reservation (paid
    /// monthly), amortized over the month's hours.
    #[arg(long, value_enum, default_value_t = ReservationArg::Monthly)]
    pub reservation: ReservationArg,

    /// Completion budget charged at admission in the simulation (as `simulate`).
    #[arg(long, value_name = "RULE", default_value = "model-default", value_parser = parse_estimate)]
    pub max_tokens_estimate: MaxTokensEstimate,

    /// Seed of the simulation's random choices.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Write the FOCUS rows to FILE.csv or FILE.parquet.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// FOCUS BillingAccountId (and Name) of the rows.
    #[arg(long, value_name = "ID", default_value = "spillway-estimate")]
    pub billing_account: String,
    #[arg(long, value_name = "NAME", default_value = "spillway estimate")]
    pub billing_account_name: String,

    /// Azure subscription (FOCUS SubAccountId / Name) and resource group of the deployments.
    #[arg(
        long,
        value_name = "ID",
        default_value = "00000000-0000-0000-0000-000000000000"
    )]
    pub subscription: String,
    #[arg(long, value_name = "NAME", default_value = "spillway estimate")]
    pub subscription_name: String,
    #[arg(long, value_name = "NAME", default_value = "rg-openai")]
    pub resource_group: String,

    /// Summary format on stdout (table or json).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Topology file (TOML): regions, deployments, gateway, client.
    #[arg(short, long, value_name = "FILE")]
    pub topology: PathBuf,

    #[command(flatten)]
    pub workload: WorkloadArgs,

    /// Traffic growth: 1.5 sends every request once and half of them twice (copies moved by up
    /// to ±1 s); 0.5 keeps half.
    #[arg(long, value_name = "X", default_value = "1")]
    pub scale: f64,

    /// How PTUs are bought, for the headline cost (hourly, 1-month or 1-year reservation; all
    /// three are shown).
    #[arg(long, value_enum, default_value_t = ReservationArg::Monthly)]
    pub reservation: ReservationArg,

    /// Write the per-second series per deployment to FILE.csv or FILE.parquet.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,

    /// Write the simulated traffic as the gateway would have logged it (see --log-format), for
    /// testing log pipelines and `calibrate`: PREFIX-llm.csv + PREFIX-gateway.csv (apim),
    /// PREFIX-llm.json + PREFIX-gateway.json (apim-json), PREFIX.csv (litellm).
    #[arg(long, value_name = "PREFIX")]
    pub log_out: Option<PathBuf>,

    /// Log format of --log-out: APIM GatewayLlmLog + GatewayLogs as Log Analytics CSV (apim) or
    /// as diagnostic-setting JSON lines (apim-json), or a LiteLLM_SpendLogs dump (litellm).
    #[arg(long, value_enum, default_value_t = LogFormat::Apim)]
    pub log_format: LogFormat,

    /// Compare with what the log observed (APIM or LiteLLM logs with statuses and backends): per
    /// deployment and minute, observed against simulated requests served, 429s and spill
    /// share, with one fidelity figure per deployment; --out writes the side-by-side series.
    #[arg(long)]
    pub compare_observed: bool,

    /// With --compare-observed: write the per-minute side-by-side series to FILE.csv.
    #[arg(long, value_name = "FILE", requires = "compare_observed")]
    pub out: Option<PathBuf>,

    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// A gateway log format spillway writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Apim,
    ApimJson,
    Litellm,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// The "Examples:" of a command's help as commands: continuation lines joined, comments,
    /// redirections and what pipes into spillway dropped.
    fn examples(help: &str) -> Vec<String> {
        let Some((_, ex)) = help.split_once("Examples:\n") else {
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        let mut joining = false;
        for line in ex.lines() {
            let l = line.trim();
            if l.is_empty() {
                break;
            }
            let (cmd, more) = match l.strip_suffix('\\') {
                Some(c) => (c.trim_end(), true),
                None => (l, false),
            };
            if joining {
                let last = out.last_mut().expect("a line to continue");
                last.push(' ');
                last.push_str(cmd);
            } else {
                out.push(cmd.to_string());
            }
            joining = more;
        }
        out.into_iter()
            .map(|c| {
                let c = c.split(" # ").next().unwrap_or("");
                // Redirections are the shell's.
                let c = c.split(" > ").next().unwrap_or("").trim().to_string();
                match c.split_once(" | ") {
                    Some((_, after)) => after.to_string(),
                    None => c,
                }
            })
            .collect()
    }

    /// Splits a command line as a shell would for these examples: words, double quotes.
    fn words(cmd: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let (mut quoted, mut any) = (false, false);
        for ch in cmd.chars() {
            match ch {
                '"' => {
                    quoted = !quoted;
                    any = true;
                }
                ' ' if !quoted => {
                    if any {
                        out.push(std::mem::take(&mut cur));
                        any = false;
                    }
                }
                _ => {
                    cur.push(ch);
                    any = true;
                }
            }
        }
        if any {
            out.push(cur);
        }
        out
    }

    #[test]
    fn help_examples_fit_80_columns_and_parse_as_written() {
        let mut cli = Cli::command();
        let mut helps = vec![cli.render_long_help().to_string()];
        for sub in cli.get_subcommands_mut() {
            helps.push(sub.render_long_help().to_string());
        }
        let mut checked = 0;
        for help in &helps {
            let ex = help.split_once("Examples:\n").map_or("", |(_, e)| e);
            for line in ex.lines().take_while(|l| !l.trim().is_empty()) {
                assert!(
                    line.chars().count() <= 80,
                    "example wider than 80 columns: {line}"
                );
            }
            for cmd in examples(help) {
                let args = words(&cmd);
                assert_eq!(args.first().map(String::as_str), Some("spillway"), "{cmd}");
                if let Err(e) = Cli::try_parse_from(&args) {
                    panic!("example does not parse: {cmd}\n{e}");
                }
                checked += 1;
            }
        }
        assert!(checked > 40, "only {checked} examples found");
    }
}
