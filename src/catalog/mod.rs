//! The catalog: models (encodings, context windows, chat and image token rules, PTU throughput,
//! Standard quota rules, service-time assumptions) and prices (pay-as-you-go per 1M tokens, PTU
//! hourly and reservations).
//!
//! Facts live in `data/models.toml` and `data/prices.toml`, embedded at build time; every row
//! carries `as_of` and `source`. A user file (`--catalog FILE`) with the same tables overrides
//! rows with the same key and adds the others. Invariants after [`Catalog::load`]: names and
//! aliases are unique (case-insensitive), every number is in range (positive windows and PTU
//! sizes, non-negative prices), and every error names the file, line or row, and field.

mod prices;

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::tokens::EncodingName;

pub use prices::{
    HOURS_PER_MONTH, HOURS_PER_YEAR, PriceQuote, PtuPrice, PtuType, Reservation, Sku, SkuRule,
    TokenPrice, UnknownSku,
};

const MODELS_TOML: &str = include_str!("../../data/models.toml");
const PRICES_TOML: &str = include_str!("../../data/prices.toml");
const MODELS_LABEL: &str = "data/models.toml (embedded)";
const PRICES_LABEL: &str = "data/prices.toml (embedded)";

/// Errors in catalog files and look-ups.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read catalog file {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {location}{message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        /// "in [[model]] row 3: " when the error is inside a row.
        location: String,
        message: String,
    },
    #[error("{file}: [[{table}]] row {row} ({name}): field `{field}`: {message}")]
    Invalid {
        file: String,
        table: &'static str,
        row: usize,
        name: String,
        field: &'static str,
        message: String,
    },
    #[error("unknown model '{name}'{}", suggest(.suggestions))]
    UnknownModel {
        name: String,
        suggestions: Vec<String>,
    },
}

fn suggest(s: &[String]) -> String {
    if s.is_empty() {
        "; `spillway models` lists the catalog".to_string()
    } else {
        format!("; did you mean {}?", s.join(", "))
    }
}

/// Per-message chat overhead (OpenAI cookbook `num_tokens_from_messages`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChatOverhead {
    pub tokens_per_message: i64,
    pub tokens_per_name: i64,
    pub reply_priming: i64,
}

/// Tool-definition overhead (OpenAI cookbook `num_tokens_for_tools`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolOverhead {
    pub func_init: i64,
    pub prop_init: i64,
    pub prop_key: i64,
    pub enum_init: i64,
    pub enum_item: i64,
    pub func_end: i64,
}

/// How a model charges for an image.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(tag = "method", rename_all = "lowercase", deny_unknown_fields)]
pub enum ImageParams {
    /// `base + per_tile × tiles` of 512 px after fitting 2048 px and scaling the short side to
    /// 768 px; `low` detail costs `base`.
    Tile { base: u64, per_tile: u64 },
    /// 32-px patches, at most `max_patches`, times `multiplier`.
    Patch { multiplier: f64, max_patches: u64 },
}

/// Provisioned-throughput parameters.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PtuParams {
    /// Input tokens per minute one PTU serves.
    pub input_tpm_per_ptu: f64,
    /// One output token uses as much capacity as this many input tokens.
    pub output_weight: f64,
    pub global_min: u32,
    pub global_step: u32,
    pub regional_min: u32,
    pub regional_step: u32,
    /// Prompts estimated above this are rejected with HTTP 400 on provisioned deployments.
    #[serde(default)]
    pub max_prompt_tokens: Option<u64>,
}

/// The sizes Azure accepts for a provisioned deployment: at least `min` PTU, in steps of
/// `step`, at most [`MAX_PTU_PER_DEPLOYMENT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeRule {
    pub min: u32,
    pub step: u32,
}

/// Largest provisioned deployment (quotas-limits: 100,000 PTU).
pub const MAX_PTU_PER_DEPLOYMENT: u32 = 100_000;

impl SizeRule {
    /// Whether `capacity` PTU is a size Azure accepts.
    pub fn valid(&self, capacity: u32) -> bool {
        capacity >= self.min
            && capacity.is_multiple_of(self.step)
            && capacity <= MAX_PTU_PER_DEPLOYMENT
    }

    /// The smallest valid size of at least `ptu` (the calculator's rounding), capped at the
    /// largest deployment.
    pub fn round_up(&self, ptu: f64) -> u32 {
        let steps = (ptu.max(0.0) / self.step as f64)
            .ceil()
            .min(u32::MAX as f64) as u64;
        (steps * self.step as u64)
            .max(self.min as u64)
            .min(MAX_PTU_PER_DEPLOYMENT as u64) as u32
    }

    /// Why `capacity` PTU of `model` on `sku` is refused, naming the nearest valid sizes.
    pub fn check(&self, capacity: u32, model: &str, sku: Sku) -> Option<String> {
        if self.valid(capacity) {
            return None;
        }
        let (min, step) = (self.min, self.step);
        if capacity > MAX_PTU_PER_DEPLOYMENT {
            return Some(format!(
                "{capacity} PTU: Azure deploys at most {MAX_PTU_PER_DEPLOYMENT} PTU per deployment"
            ));
        }
        let lo = (capacity / step * step).max(min);
        let hi = if lo >= capacity { lo } else { lo + step };
        let valid = if lo == hi || capacity < min {
            format!("{}", min.max(hi))
        } else {
            format!("{lo} or {hi}")
        };
        Some(format!(
            "{capacity} PTU of {model} on {sku}: Azure accepts at least {min} PTU in steps of {step} (nearest valid: {valid})"
        ))
    }
}

impl PtuParams {
    /// Minimum and increment for a provisioned deployment type.
    pub fn size_rule(&self, t: PtuType) -> SizeRule {
        match t {
            PtuType::Global | PtuType::DataZone => SizeRule {
                min: self.global_min,
                step: self.global_step,
            },
            PtuType::Regional => SizeRule {
                min: self.regional_min,
                step: self.regional_step,
            },
        }
    }
}

/// Standard (pay-as-you-go) quota rules.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StandardParams {
    /// Requests per minute granted per 1,000 TPM of quota.
    pub rpm_per_1000_tpm: f64,
    #[serde(default)]
    pub global_standard_tpm: Option<u64>,
    #[serde(default)]
    pub data_zone_standard_tpm: Option<u64>,
    #[serde(default)]
    pub standard_tpm: Option<u64>,
}

/// Enqueued-token quotas of the Batch deployment types (BATCH): a file's input tokens count
/// against them until the job ends. Default and Enterprise subscriptions differ.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BatchParams {
    pub global_enqueued: u64,
    pub global_enqueued_enterprise: u64,
    #[serde(default)]
    pub data_zone_enqueued: Option<u64>,
    #[serde(default)]
    pub data_zone_enqueued_enterprise: Option<u64>,
}

/// Service-time assumptions for the simulator.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceParams {
    pub ttft_ms: f64,
    pub output_tokens_per_s: f64,
}

/// One model row.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub encoding: EncodingName,
    pub context_window: u64,
    #[serde(default)]
    pub max_input_tokens: Option<u64>,
    pub max_output_tokens: u64,
    #[serde(default)]
    pub default_max_tokens: Option<u64>,
    pub chat: ChatOverhead,
    #[serde(default)]
    pub tools: Option<ToolOverhead>,
    #[serde(default)]
    pub image: Option<ImageParams>,
    #[serde(default)]
    pub ptu: Option<PtuParams>,
    pub standard: StandardParams,
    #[serde(default)]
    pub batch: Option<BatchParams>,
    pub service: ServiceParams,
    pub as_of: String,
    pub source: String,
    #[serde(default)]
    pub uncertain: Vec<String>,
}

impl Model {
    /// The model's encoding.
    pub fn encoding(&self) -> EncodingName {
        self.encoding
    }

    /// Largest prompt the model accepts.
    pub fn max_prompt(&self) -> u64 {
        self.max_input_tokens.unwrap_or(self.context_window)
    }

    /// Does a prompt of `prompt` tokens with a completion budget of `max_tokens` fit? The prompt
    /// must fit the input limit, prompt + budget the context window, and the budget the output
    /// limit; `over_by` is the largest excess.
    pub fn fit(&self, prompt: u64, max_tokens: Option<u64>) -> Fit {
        let budget = max_tokens.unwrap_or(0);
        let over_by = [
            prompt.saturating_sub(self.max_prompt()),
            (prompt + budget).saturating_sub(self.context_window),
            max_tokens.map_or(0, |m| m.saturating_sub(self.max_output_tokens)),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        Fit {
            fits: over_by == 0,
            over_by,
        }
    }
}

/// Result of [`Model::fit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    pub fits: bool,
    /// Tokens over the tightest limit (0 when it fits).
    pub over_by: u64,
}

/// The shape of a catalog file: any of the four tables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    model: Vec<Model>,
    #[serde(default)]
    token_price: Vec<TokenPrice>,
    #[serde(default)]
    sku_rule: Vec<SkuRule>,
    #[serde(default)]
    ptu_price: Vec<PtuPrice>,
    #[serde(default)]
    source: Vec<Source>,
}

/// A document the catalog's `source` fields cite by key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub key: String,
    pub title: String,
    pub link: String,
    pub as_of: String,
}

/// Models and prices, ready for look-ups.
#[derive(Debug, Clone)]
pub struct Catalog {
    models: Vec<Model>,
    index: HashMap<String, usize>,
    token_prices: Vec<TokenPrice>,
    sku_rules: Vec<SkuRule>,
    ptu_prices: Vec<PtuPrice>,
    sources: Vec<Source>,
}

impl Catalog {
    /// The embedded catalog, then `user_file` on top when given.
    pub fn load(user_file: Option<&Path>) -> Result<Catalog, CatalogError> {
        let models = parse_file(MODELS_TOML, MODELS_LABEL)?;
        let prices = parse_file(PRICES_TOML, PRICES_LABEL)?;
        let mut catalog = Catalog {
            models: Vec::new(),
            index: HashMap::new(),
            token_prices: Vec::new(),
            sku_rules: Vec::new(),
            ptu_prices: Vec::new(),
            sources: Vec::new(),
        };
        catalog.merge(models, MODELS_LABEL)?;
        catalog.merge(prices, PRICES_LABEL)?;
        if let Some(path) = user_file {
            let label = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
                file: label.clone(),
                source,
            })?;
            let file = parse_file(&text, &label)?;
            catalog.merge(file, &label)?;
        }
        Ok(catalog)
    }

    /// The embedded catalog. It is validated by the test suite, so failing here is a build defect.
    pub fn embedded() -> Catalog {
        match Catalog::load(None) {
            Ok(c) => c,
            Err(e) => panic!("embedded catalog is invalid: {e}"),
        }
    }

    fn merge(&mut self, file: CatalogFile, label: &str) -> Result<(), CatalogError> {
        for (i, mut m) in file.model.into_iter().enumerate() {
            validate_model(&mut m, label, i + 1)?;
            let existing = std::iter::once(&m.name)
                .chain(m.aliases.iter())
                .find_map(|n| self.index.get(&n.to_lowercase()).copied());
            match existing {
                Some(pos) => {
                    let old = std::mem::replace(&mut self.models[pos], m);
                    self.index.retain(|_, v| *v != pos);
                    drop(old);
                    self.index_model(pos, label, i + 1)?;
                }
                None => {
                    self.models.push(m);
                    self.index_model(self.models.len() - 1, label, i + 1)?;
                }
            }
        }
        for (i, p) in file.token_price.into_iter().enumerate() {
            p.validate(label, i + 1)?;
            let key = (p.model.to_lowercase(), p.sku);
            self.token_prices
                .retain(|q| (q.model.to_lowercase(), q.sku) != key);
            self.token_prices.push(p);
        }
        for (i, r) in file.sku_rule.into_iter().enumerate() {
            r.validate(label, i + 1)?;
            self.sku_rules.retain(|q| q.sku != r.sku);
            self.sku_rules.push(r);
        }
        for (i, p) in file.ptu_price.into_iter().enumerate() {
            p.validate(label, i + 1)?;
            self.ptu_prices
                .retain(|q| q.deployment_type != p.deployment_type);
            self.ptu_prices.push(p);
        }
        for (i, src) in file.source.into_iter().enumerate() {
            for (field, value) in [
                ("key", &src.key),
                ("title", &src.title),
                ("link", &src.link),
                ("as_of", &src.as_of),
            ] {
                if value.trim().is_empty() {
                    return Err(CatalogError::Invalid {
                        file: label.to_string(),
                        table: "source",
                        row: i + 1,
                        name: src.key.clone(),
                        field,
                        message: "must not be empty".into(),
                    });
                }
            }
            self.sources.retain(|q| q.key != src.key);
            self.sources.push(src);
        }
        Ok(())
    }

    fn index_model(&mut self, pos: usize, label: &str, row: usize) -> Result<(), CatalogError> {
        let m = &self.models[pos];
        for n in std::iter::once(&m.name).chain(m.aliases.iter()) {
            let key = n.to_lowercase();
            if let Some(&other) = self.index.get(&key)
                && other != pos
            {
                return Err(CatalogError::Invalid {
                    file: label.to_string(),
                    table: "model",
                    row,
                    name: m.name.clone(),
                    field: "aliases",
                    message: format!("'{n}' already names model '{}'", self.models[other].name),
                });
            }
            self.index.insert(key, pos);
        }
        Ok(())
    }

    /// All models, in catalog order.
    pub fn models(&self) -> &[Model] {
        &self.models
    }

    /// The model called `name` (case-insensitive, aliases included). A dated or versioned
    /// spelling of a known model (`gpt-4o-2025-01-31`) resolves to that model.
    pub fn model(&self, name: &str) -> Option<&Model> {
        // Fast path without allocating: the name as written is already a key.
        if let Some(&i) = self.index.get(name) {
            return Some(&self.models[i]);
        }
        let key = name.trim().to_lowercase();
        if let Some(&i) = self.index.get(&key) {
            return Some(&self.models[i]);
        }
        // Longest known name followed by `-<digit>…`: cut at each such dash, rightmost first.
        let bytes = key.as_bytes();
        (1..bytes.len().saturating_sub(1))
            .rev()
            .filter(|&d| bytes[d] == b'-' && bytes[d + 1].is_ascii_digit())
            .find_map(|d| self.index.get(&key[..d]))
            .map(|&i| &self.models[i])
    }

    /// Like [`Catalog::model`], with an error listing close names.
    pub fn resolve(&self, name: &str) -> Result<&Model, CatalogError> {
        self.model(name).ok_or_else(|| {
            let lower = name.to_lowercase();
            let mut scored: Vec<(f64, &str)> = self
                .index
                .keys()
                .map(|k| (strsim::jaro_winkler(&lower, k), k.as_str()))
                .filter(|(s, _)| *s > 0.8)
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
            let mut suggestions: Vec<String> = Vec::new();
            for (_, k) in scored {
                let canonical = &self.models[self.index[k]].name;
                if !suggestions.contains(canonical) {
                    suggestions.push(canonical.clone());
                }
                if suggestions.len() == 3 {
                    break;
                }
            }
            CatalogError::UnknownModel {
                name: name.to_string(),
                suggestions,
            }
        })
    }

    pub fn token_prices(&self) -> &[TokenPrice] {
        &self.token_prices
    }

    pub fn sku_rules(&self) -> &[SkuRule] {
        &self.sku_rules
    }

    pub fn ptu_prices(&self) -> &[PtuPrice] {
        &self.ptu_prices
    }

    /// The documents the `source` fields cite by key.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// The keys of [`Catalog::sources`] a `source` field cites, in order of first mention.
    pub fn cited(&self, source: &str) -> Vec<&str> {
        let mut keys: Vec<(usize, &str)> = self
            .sources
            .iter()
            .filter_map(|s| cites(source, &s.key).map(|at| (at, s.key.as_str())))
            .collect();
        keys.sort_unstable();
        keys.into_iter().map(|(_, k)| k).collect()
    }
}

/// Where `text` cites `key` as a word (`QL24/QL25` cites both), if it does.
fn cites(text: &str, key: &str) -> Option<usize> {
    text.match_indices(key).map(|(at, _)| at).find(|&at| {
        let before = text[..at].chars().next_back();
        let after = text[at + key.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

fn parse_file(text: &str, label: &str) -> Result<CatalogFile, CatalogError> {
    toml::from_str::<CatalogFile>(text).map_err(|e| {
        let start = e.span().map(|s| s.start).unwrap_or(0).min(text.len());
        let (line, column) = line_col(text, start);
        CatalogError::Parse {
            file: label.to_string(),
            line,
            column,
            location: row_at(text, start)
                .map(|(t, r)| format!("in [[{t}]] row {r}: "))
                .unwrap_or_default(),
            message: e.message().trim().to_string(),
        }
    })
}

/// 1-based line and column of byte `offset`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The `[[table]]` row that contains byte `offset`: table name and 1-based row number.
fn row_at(text: &str, offset: usize) -> Option<(String, usize)> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut current = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if pos > offset {
            break;
        }
        let t = line.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
            let name = name.trim().to_string();
            let n = counts.entry(name.clone()).or_default();
            *n += 1;
            current = Some((name, *n));
        } else if t.starts_with('[') {
            current = None;
        }
        pos += line.len();
    }
    current
}

fn validate_model(m: &mut Model, file: &str, row: usize) -> Result<(), CatalogError> {
    let invalid = |field: &'static str, message: String| CatalogError::Invalid {
        file: file.to_string(),
        table: "model",
        row,
        name: m.name.clone(),
        field,
        message,
    };
    if m.name.trim().is_empty() {
        return Err(invalid("name", "must not be empty".into()));
    }
    if m.context_window == 0 {
        return Err(invalid("context_window", "must be positive".into()));
    }
    if m.max_output_tokens == 0 {
        return Err(invalid("max_output_tokens", "must be positive".into()));
    }
    if let Some(mi) = m.max_input_tokens
        && (mi == 0 || mi > m.context_window)
    {
        return Err(invalid(
            "max_input_tokens",
            format!(
                "must be between 1 and context_window ({})",
                m.context_window
            ),
        ));
    }
    if let Some(p) = &m.ptu {
        if !(p.input_tpm_per_ptu > 0.0 && p.input_tpm_per_ptu.is_finite()) {
            return Err(invalid("ptu.input_tpm_per_ptu", "must be positive".into()));
        }
        if !(p.output_weight > 0.0 && p.output_weight.is_finite()) {
            return Err(invalid("ptu.output_weight", "must be positive".into()));
        }
        for (field, v) in [
            ("ptu.global_min", p.global_min),
            ("ptu.global_step", p.global_step),
            ("ptu.regional_min", p.regional_min),
            ("ptu.regional_step", p.regional_step),
        ] {
            if v == 0 {
                return Err(invalid(field, "must be positive".into()));
            }
        }
    }
    if !(m.standard.rpm_per_1000_tpm > 0.0 && m.standard.rpm_per_1000_tpm.is_finite()) {
        return Err(invalid(
            "standard.rpm_per_1000_tpm",
            "must be positive".into(),
        ));
    }
    if !(m.service.output_tokens_per_s > 0.0 && m.service.output_tokens_per_s.is_finite()) {
        return Err(invalid(
            "service.output_tokens_per_s",
            "must be positive".into(),
        ));
    }
    if !(m.service.ttft_ms >= 0.0 && m.service.ttft_ms.is_finite()) {
        return Err(invalid(
            "service.ttft_ms",
            "must be zero or positive".into(),
        ));
    }
    if let Some(ImageParams::Patch {
        multiplier,
        max_patches,
    }) = m.image
        && (!(multiplier > 0.0 && multiplier.is_finite()) || max_patches == 0)
    {
        return Err(invalid(
            "image",
            "patch multiplier and max_patches must be positive".into(),
        ));
    }
    if m.as_of.trim().is_empty() {
        return Err(invalid("as_of", "every row needs an as-of date".into()));
    }
    if m.source.trim().is_empty() {
        return Err(invalid("source", "every row needs a source".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cited_key_is_a_listed_source_and_every_source_is_cited() {
        let c = Catalog::embedded();
        let texts: Vec<&str> = c
            .models()
            .iter()
            .map(|m| m.source.as_str())
            .chain(c.token_prices().iter().map(|p| p.source.as_str()))
            .chain(c.sku_rules().iter().map(|p| p.source.as_str()))
            .chain(c.ptu_prices().iter().map(|p| p.source.as_str()))
            .collect();
        // Keys are upper-case words of 2+ letters, digits allowed (SIZ, QL24, QUOTA1).
        for text in &texts {
            for word in text.split(|ch: char| !ch.is_ascii_alphanumeric()) {
                let key_like = word.len() >= 2
                    && word
                        .chars()
                        .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit())
                    && word.chars().filter(char::is_ascii_uppercase).count() >= 2;
                if key_like
                    && ![
                        "TPM", "RPM", "PTU", "API", "TPS", "TTFT", "USD", "HTTP", "PAYG", "GPT",
                        "SKU",
                    ]
                    .contains(&word)
                {
                    assert!(
                        c.sources().iter().any(|s| s.key == word),
                        "{word} (in \"{text}\") is not a [[source]] key"
                    );
                }
            }
        }
        for s in c.sources() {
            assert!(
                texts.iter().any(|t| cites(t, &s.key).is_some()),
                "source {} is cited nowhere",
                s.key
            );
        }
        assert_eq!(
            c.cited("SIZ (table); QL24/QL25 (quotas); QUOTA1"),
            ["SIZ", "QL24", "QL25", "QUOTA1"]
        );
    }

    #[test]
    fn embedded_catalog_loads_and_covers_the_required_models() {
        let c = Catalog::load(None).expect("embedded catalog is valid");
        for name in [
            "gpt-35-turbo",
            "gpt-4",
            "gpt-4-turbo",
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4.1-nano",
            "o1",
            "o3",
            "o3-mini",
            "o4-mini",
            "gpt-5",
        ] {
            assert!(c.model(name).is_some(), "{name} missing");
        }
    }

    #[test]
    fn azure_spellings_and_dated_versions_resolve() {
        let c = Catalog::embedded();
        assert_eq!(
            c.model("gpt-35-turbo").map(|m| m.encoding()),
            Some(EncodingName::Cl100kBase)
        );
        assert_eq!(
            c.model("GPT-4O-2024-08-06").map(|m| m.name.as_str()),
            Some("gpt-4o")
        );
        assert_eq!(
            c.model("gpt-4o-mini-2099-01-01").map(|m| m.name.as_str()),
            Some("gpt-4o-mini")
        );
        assert!(c.model("gpt-4o-banana").is_none());
    }

    #[test]
    fn fit_checks_input_context_and_output_limits() {
        let c = Catalog::embedded();
        let m = c.model("gpt-4o").unwrap();
        assert!(m.fit(127_000, None).fits);
        assert_eq!(m.fit(127_000, Some(4096)).over_by, 3096);
        assert_eq!(m.fit(10, Some(20_000)).over_by, 20_000 - 16_384);
        let g5 = c.model("gpt-5").unwrap();
        assert_eq!(g5.fit(300_000, None).over_by, 28_000);
    }

    #[test]
    fn unknown_model_suggests_close_names() {
        let c = Catalog::embedded();
        let err = c.resolve("gpt4o").unwrap_err().to_string();
        assert!(err.contains("gpt-4o"), "{err}");
    }

    #[test]
    fn bad_user_row_names_file_row_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cat.toml");
        std::fs::write(
            &path,
            r#"
[[model]]
name = "my-model"
encoding = "o300k_base"
context_window = 1000
max_output_tokens = 100
chat = { tokens_per_message = 3, tokens_per_name = 1, reply_priming = 3 }
standard = { rpm_per_1000_tpm = 6 }
service = { ttft_ms = 100, output_tokens_per_s = 50 }
as_of = "2026-01-01"
source = "test"
"#,
        )
        .unwrap();
        let err = Catalog::load(Some(&path)).unwrap_err().to_string();
        // The encoding is typed: refused where it is read, at its line and column.
        assert!(err.contains("cat.toml:4:12"), "{err}");
        assert!(err.contains("[[model]] row 1"), "{err}");
        assert!(err.contains("unknown encoding 'o300k_base'"), "{err}");
    }

    #[test]
    fn syntax_error_names_line_and_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cat.toml");
        std::fs::write(&path, "[[model]]\nname = \"a\"\ncontext_window = \"big\"\n").unwrap();
        let err = Catalog::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("cat.toml:"), "{err}");
        assert!(err.contains("[[model]] row 1"), "{err}");
    }

    #[test]
    fn user_row_overrides_embedded_model_by_alias() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cat.toml");
        let mut text = String::new();
        text.push_str("[[model]]\nname = \"gpt-4o\"\naliases = [\"gpt-4o-2024-08-06\"]\nencoding = \"o200k_base\"\n");
        text.push_str("context_window = 64000\nmax_output_tokens = 4096\n");
        text.push_str(
            "chat = { tokens_per_message = 3, tokens_per_name = 1, reply_priming = 3 }\n",
        );
        text.push_str("standard = { rpm_per_1000_tpm = 6 }\nservice = { ttft_ms = 1, output_tokens_per_s = 1 }\n");
        text.push_str("as_of = \"2026-11-01\"\nsource = \"our contract\"\n");
        std::fs::write(&path, text).unwrap();
        let c = Catalog::load(Some(&path)).unwrap();
        assert_eq!(c.model("gpt-4o").unwrap().context_window, 64000);
        assert_eq!(c.models().len(), Catalog::embedded().models().len());
    }
}
