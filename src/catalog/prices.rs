//! Price rows and price look-ups.
//!
//! A token price is looked up by (model, SKU family). When the SKU has no row of its own, the
//! model's GlobalStandard row is scaled by the SKU's `[[sku_rule]]` multiplier and the quote is
//! marked derived. Invariant: a quote is never invented: no GlobalStandard row, no quote.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Catalog, CatalogError, Model};

/// Azure deployment SKUs (`sku.name` in ARM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Sku {
    GlobalStandard,
    DataZoneStandard,
    Standard,
    GlobalBatch,
    DataZoneBatch,
    GlobalProvisionedManaged,
    DataZoneProvisionedManaged,
    ProvisionedManaged,
}

impl Sku {
    pub const ALL: [Sku; 8] = [
        Sku::GlobalStandard,
        Sku::DataZoneStandard,
        Sku::Standard,
        Sku::GlobalBatch,
        Sku::DataZoneBatch,
        Sku::GlobalProvisionedManaged,
        Sku::DataZoneProvisionedManaged,
        Sku::ProvisionedManaged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sku::GlobalStandard => "GlobalStandard",
            Sku::DataZoneStandard => "DataZoneStandard",
            Sku::Standard => "Standard",
            Sku::GlobalBatch => "GlobalBatch",
            Sku::DataZoneBatch => "DataZoneBatch",
            Sku::GlobalProvisionedManaged => "GlobalProvisionedManaged",
            Sku::DataZoneProvisionedManaged => "DataZoneProvisionedManaged",
            Sku::ProvisionedManaged => "ProvisionedManaged",
        }
    }

    /// The provisioned deployment type, for provisioned SKUs.
    pub fn ptu_type(self) -> Option<PtuType> {
        match self {
            Sku::GlobalProvisionedManaged => Some(PtuType::Global),
            Sku::DataZoneProvisionedManaged => Some(PtuType::DataZone),
            Sku::ProvisionedManaged => Some(PtuType::Regional),
            _ => None,
        }
    }

    pub fn is_provisioned(self) -> bool {
        self.ptu_type().is_some()
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a SKU name that does not exist.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown SKU '{0}' (expected one of: GlobalStandard, DataZoneStandard, Standard, GlobalBatch, DataZoneBatch, GlobalProvisionedManaged, DataZoneProvisionedManaged, ProvisionedManaged)"
)]
pub struct UnknownSku(pub String);

impl FromStr for Sku {
    type Err = UnknownSku;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sku::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownSku(s.to_string()))
    }
}

/// Provisioned deployment types (each with its own quota, price and reservations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PtuType {
    Global,
    DataZone,
    Regional,
}

/// Hours in the month PTU reservations are quoted per (Azure bills 730 hours a month).
pub const HOURS_PER_MONTH: f64 = 730.0;
/// Hours in a (non-leap) year, to spread a 1-year reservation over hours.
pub const HOURS_PER_YEAR: f64 = 8760.0;

/// How PTUs are bought: by the hour, or on a 1-month or 1-year Azure reservation
/// (provisioned-throughput-onboarding: reservations are per deployment type and region, not
/// per model; PTUs above the reservation bill hourly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reservation {
    Hourly,
    /// The smallest commitment most buyers make; spillway's default.
    #[default]
    Monthly,
    Yearly,
}

impl Reservation {
    pub const ALL: [Reservation; 3] = [
        Reservation::Hourly,
        Reservation::Monthly,
        Reservation::Yearly,
    ];

    /// USD per PTU per hour on this purchase.
    pub fn per_ptu_hour(self, p: &PtuPrice) -> f64 {
        match self {
            Reservation::Hourly => p.hourly,
            Reservation::Monthly => p.monthly_reservation / HOURS_PER_MONTH,
            Reservation::Yearly => p.yearly_reservation / HOURS_PER_YEAR,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Reservation::Hourly => "hourly",
            Reservation::Monthly => "1-month reservation",
            Reservation::Yearly => "1-year reservation",
        }
    }
}

/// Pay-as-you-go price per 1M tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenPrice {
    pub model: String,
    pub sku: Sku,
    pub input: f64,
    #[serde(default)]
    pub cached_input: Option<f64>,
    pub output: f64,
    pub as_of: String,
    pub source: String,
    #[serde(default)]
    pub uncertain: bool,
}

/// Price of a SKU family relative to GlobalStandard.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkuRule {
    pub sku: Sku,
    pub multiplier_of_global: f64,
    pub as_of: String,
    pub source: String,
    #[serde(default)]
    pub uncertain: bool,
}

/// Provisioned throughput price per PTU.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PtuPrice {
    pub deployment_type: PtuType,
    pub hourly: f64,
    pub monthly_reservation: f64,
    pub yearly_reservation: f64,
    pub as_of: String,
    pub source: String,
    #[serde(default)]
    pub uncertain: bool,
}

fn check_price(
    file: &str,
    table: &'static str,
    row: usize,
    name: &str,
    fields: &[(&'static str, f64)],
    as_of: &str,
    source: &str,
) -> Result<(), CatalogError> {
    let invalid = |field: &'static str, message: &str| CatalogError::Invalid {
        file: file.to_string(),
        table,
        row,
        name: name.to_string(),
        field,
        message: message.to_string(),
    };
    for &(field, v) in fields {
        if !(v >= 0.0 && v.is_finite()) {
            return Err(invalid(field, "must be a non-negative number"));
        }
    }
    if as_of.trim().is_empty() {
        return Err(invalid("as_of", "every row needs an as-of date"));
    }
    if source.trim().is_empty() {
        return Err(invalid("source", "every row needs a source"));
    }
    Ok(())
}

impl TokenPrice {
    pub(super) fn validate(&self, file: &str, row: usize) -> Result<(), CatalogError> {
        let name = format!("{} {}", self.model, self.sku);
        if self.sku.is_provisioned() {
            return Err(CatalogError::Invalid {
                file: file.to_string(),
                table: "token_price",
                row,
                name,
                field: "sku",
                message: "provisioned SKUs are priced per PTU in [[ptu_price]]".into(),
            });
        }
        let mut fields = vec![("input", self.input), ("output", self.output)];
        if let Some(c) = self.cached_input {
            fields.push(("cached_input", c));
        }
        check_price(
            file,
            "token_price",
            row,
            &name,
            &fields,
            &self.as_of,
            &self.source,
        )
    }
}

impl SkuRule {
    pub(super) fn validate(&self, file: &str, row: usize) -> Result<(), CatalogError> {
        check_price(
            file,
            "sku_rule",
            row,
            self.sku.as_str(),
            &[("multiplier_of_global", self.multiplier_of_global)],
            &self.as_of,
            &self.source,
        )
    }
}

impl PtuPrice {
    pub(super) fn validate(&self, file: &str, row: usize) -> Result<(), CatalogError> {
        check_price(
            file,
            "ptu_price",
            row,
            &format!("{:?}", self.deployment_type),
            &[
                ("hourly", self.hourly),
                ("monthly_reservation", self.monthly_reservation),
                ("yearly_reservation", self.yearly_reservation),
            ],
            &self.as_of,
            &self.source,
        )
    }
}

/// A token price for one (model, SKU), per 1M tokens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceQuote {
    pub input: f64,
    /// Falls back to `input` when no cached rate is published.
    pub cached_input: f64,
    pub output: f64,
    /// True when scaled from the GlobalStandard row by a `[[sku_rule]]`.
    pub derived: bool,
    pub uncertain: bool,
}

impl PriceQuote {
    /// Cost in USD of the given token counts.
    pub fn cost(&self, uncached_input: u64, cached_input: u64, output: u64) -> f64 {
        (uncached_input as f64 * self.input
            + cached_input as f64 * self.cached_input
            + output as f64 * self.output)
            / 1_000_000.0
    }
}

impl Catalog {
    /// Pay-as-you-go price of `model` on `sku`, if the catalog has one.
    pub fn token_price(&self, model: &Model, sku: Sku) -> Option<PriceQuote> {
        let row = |s: Sku| {
            self.token_prices().iter().find(|p| {
                p.sku == s
                    && (p.model.eq_ignore_ascii_case(&model.name)
                        || model
                            .aliases
                            .iter()
                            .any(|a| a.eq_ignore_ascii_case(&p.model)))
            })
        };
        let quote = |p: &TokenPrice, k: f64, derived: bool, uncertain: bool| PriceQuote {
            input: p.input * k,
            cached_input: p.cached_input.unwrap_or(p.input) * k,
            output: p.output * k,
            derived,
            uncertain: uncertain || p.uncertain,
        };
        if let Some(p) = row(sku) {
            return Some(quote(p, 1.0, false, false));
        }
        let global = row(Sku::GlobalStandard)?;
        let rule = self.sku_rules().iter().find(|r| r.sku == sku)?;
        Some(quote(
            global,
            rule.multiplier_of_global,
            true,
            rule.uncertain,
        ))
    }

    /// Price of one PTU of the given deployment type.
    pub fn ptu_price(&self, t: PtuType) -> Option<&PtuPrice> {
        self.ptu_prices().iter().find(|p| p.deployment_type == t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_row_wins_and_missing_sku_is_derived_from_global() {
        let c = Catalog::embedded();
        let m = c.model("gpt-4o").unwrap();
        let g = c.token_price(m, Sku::GlobalStandard).unwrap();
        assert_eq!((g.input, g.cached_input, g.output), (2.5, 1.25, 10.0));
        assert!(!g.derived);
        let s = c.token_price(m, Sku::Standard).unwrap();
        assert!(s.derived);
        assert!((s.input - 2.75).abs() < 1e-9);
        let b = c.token_price(m, Sku::GlobalBatch).unwrap();
        assert!((b.output - 5.0).abs() < 1e-9);
    }

    #[test]
    fn model_without_prices_has_no_quote() {
        let c = Catalog::embedded();
        let m = c.model("gpt-oss-120b").unwrap();
        assert!(c.token_price(m, Sku::GlobalStandard).is_none());
    }

    #[test]
    fn cost_is_per_million_tokens() {
        let q = PriceQuote {
            input: 2.5,
            cached_input: 1.25,
            output: 10.0,
            derived: false,
            uncertain: false,
        };
        assert!((q.cost(1_000_000, 0, 0) - 2.5).abs() < 1e-12);
        assert!((q.cost(0, 2_000_000, 100_000) - 3.5).abs() < 1e-12);
    }
}
