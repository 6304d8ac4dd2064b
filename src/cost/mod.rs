//! FinOps FOCUS 1.2 cost rows: what each piece of served work costs, per charge period, with
//! PTU reservations amortized and shown back to the groups that used them.
//!
//! Rules (`../shared/reference/focus.md`, FOCUS 1.2 tag v1.2, Azure's reservation docs):
//! * **Pay-as-you-go tokens**: one `Usage` row per charge period, meter (deployment or model
//!   and SKU), group and token kind (uncached input, cached input, output), priced per
//!   `1000000 Tokens` at the catalog's price; `BilledCost = EffectiveCost = ListCost =
//!   ContractedCost` (no commitment covers tokens).
//! * **PTUs** bill whether or not they serve: a provisioned deployment is billed for every
//!   charge period of every billing month the traffic touches. Hourly: `Usage` rows at the
//!   hourly price. On a 1-month or 1-year reservation (paid monthly): one `Purchase` row per
//!   billing month (`BilledCost` = the month's payment, `EffectiveCost` 0), amortized over the
//!   month's hours into `Usage` rows (`PricingCategory` `Committed`, status `Used`, `BilledCost`
//!   0, `EffectiveCost` the amortized share); reserved PTUs beyond the deployment's capacity
//!   give `Unused` rows, capacity beyond the reservation bills hourly (`Standard`).
//! * **Showback**: each period's PTU rows are split between the groups by their share of the
//!   PTU-weighted tokens the deployment could serve in the period (capacity × input TPM per
//!   PTU × minutes); what no group used is its own row (`x_AllocationMethod`
//!   `idle-capacity`). When bursts take the period over 100 %, the shares are scaled to 100 %.
//! * **Exact money**: decimal arithmetic throughout (`rust_decimal`), never floating point.
//!   Quantities have 6 decimals, money 10; a split gives its rounding residue to the row with
//!   the largest remainder, and an amortization gives it to the month's last period, so every
//!   sum is exact: per period, the rows add up to that period's bill (amortized PTUs +
//!   pay-as-you-go), and per reservation and month the `Used` and `Unused` rows add up to the
//!   `Purchase`. [`Ledger::reconcile`] checks both.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::catalog::{PriceQuote, PtuPrice, PtuType, Reservation, Sku};
use crate::ingest::time::{civil_from_days, days_from_civil, format_utc};

const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 24 * HOUR_US;
/// Decimals of quantities and of money in the rows.
pub const QTY_DP: u32 = 6;
pub const MONEY_DP: u32 = 10;

/// Errors in the cost computation.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    #[error("{0}: no price in the catalog (add one with --catalog)")]
    NoPrice(String),
    #[error("{0} is not a decimal price")]
    Price(String),
}

/// The charge periods of the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Hour,
    Day,
    Month,
}

fn month_start(t_us: i64) -> i64 {
    let (y, m, _) = civil_from_days(t_us.div_euclid(DAY_US));
    days_from_civil(y, m, 1) * DAY_US
}

fn next_month(start: i64) -> i64 {
    let (y, m, _) = civil_from_days(start.div_euclid(DAY_US));
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(y, m, 1) * DAY_US
}

impl Period {
    /// Start of the period holding `t_us`.
    pub fn floor(self, t_us: i64) -> i64 {
        match self {
            Period::Hour => t_us.div_euclid(HOUR_US) * HOUR_US,
            Period::Day => t_us.div_euclid(DAY_US) * DAY_US,
            Period::Month => month_start(t_us),
        }
    }

    /// Start of the period after the one starting at `start`.
    pub fn next(self, start: i64) -> i64 {
        match self {
            Period::Hour => start + HOUR_US,
            Period::Day => start + DAY_US,
            Period::Month => next_month(start),
        }
    }
}

/// A price as an exact decimal. The catalog's prices have at most a few decimals, and a SKU
/// rule multiplies them by a short factor (1.1, 0.5): rounding the f64 to 8 decimals recovers
/// the decimal the catalog means, without the binary noise of the product.
pub fn dec(x: f64, what: &str) -> Result<Decimal, CostError> {
    let s = format!("{x:.8}");
    Decimal::from_str_exact(&s)
        .map(|d| d.normalize())
        .map_err(|_| CostError::Price(format!("{what} {x}")))
}

/// Who pays: the FOCUS account columns.
#[derive(Debug, Clone)]
pub struct Account {
    pub billing_account_id: String,
    pub billing_account_name: String,
    pub subscription_id: String,
    pub subscription_name: String,
    pub resource_group: String,
}

/// A pay-as-you-go meter: a Standard deployment, or a model at a SKU when there is no topology.
#[derive(Debug, Clone)]
pub struct Meter {
    pub deployment: Option<String>,
    /// (region id, region display name).
    pub region: Option<(String, String)>,
    pub model: String,
    pub sku: Sku,
    /// USD per 1M tokens: input, cached input (the input price when none is published), output.
    pub input: Decimal,
    pub cached: Decimal,
    pub output: Decimal,
}

impl Meter {
    pub fn new(
        deployment: Option<String>,
        region: Option<(String, String)>,
        model: &str,
        sku: Sku,
        q: &PriceQuote,
    ) -> Result<Meter, CostError> {
        Ok(Meter {
            deployment,
            region,
            model: model.to_string(),
            sku,
            input: dec(q.input, "input price")?,
            cached: dec(q.cached_input, "cached input price")?,
            output: dec(q.output, "output price")?,
        })
    }
}

/// A provisioned deployment and how its PTUs are bought.
#[derive(Debug, Clone)]
pub struct PtuLine {
    pub deployment: String,
    pub region: (String, String),
    pub model: String,
    pub sku: Sku,
    pub deployment_type: PtuType,
    pub capacity: u32,
    /// PTUs on the reservation (with a monthly or yearly reservation).
    pub reserved: u32,
    pub input_tpm_per_ptu: f64,
    pub price: PtuPrice,
}

/// Where a piece of work was billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Billed {
    Payg(u32),
    Ptu(u32),
}

/// One piece of served work.
#[derive(Debug, Clone, Copy)]
pub struct Work {
    pub t_us: i64,
    pub billed: Billed,
    pub group: u32,
    pub uncached: u64,
    pub cached: u64,
    pub completion: u64,
    /// PTU-weighted tokens (uncached prompt + output weight × completion).
    pub weighted: f64,
}

/// Everything a cost export is computed from.
pub struct CostInput<'a> {
    pub period: Period,
    pub reservation: Reservation,
    pub account: &'a Account,
    pub meters: &'a [Meter],
    pub ptus: &'a [PtuLine],
    pub work: &'a [Work],
    /// Group index → its values of `dims`.
    pub groups: &'a [Vec<String>],
    /// The `--by` dimensions other than the built-in deployment and model.
    pub dims: &'a [String],
}

/// The FOCUS columns spillway writes, in order (FOCUS 1.2 IDs), then its own.
pub const FOCUS_COLUMNS: [&str; 52] = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
];

/// spillway's own columns, after every FOCUS column (besides one `x_` column per `--by`
/// dimension, between `x_ModelName` and `x_AllocationMethod`).
pub const X_COLUMNS_HEAD: [&str; 3] = ["x_DeploymentName", "x_DeploymentType", "x_ModelName"];
pub const X_COLUMNS_TAIL: [&str; 2] = ["x_AllocationMethod", "x_AllocationRatio"];

/// The `x_` column of a `--by` dimension: `tenant` → `x_TenantId`, others in PascalCase.
pub fn x_column(dim: &str) -> String {
    if dim.eq_ignore_ascii_case("tenant") {
        return "x_TenantId".into();
    }
    let mut out = String::from("x_");
    let mut up = true;
    for c in dim.chars() {
        if c.is_ascii_alphanumeric() {
            if up {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            up = false;
        } else {
            up = true;
        }
    }
    out
}

/// One FOCUS row. Money and quantities are exact decimals; None is null.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub billed_cost: Decimal,
    pub effective_cost: Decimal,
    pub list_cost: Decimal,
    pub contracted_cost: Decimal,
    pub list_unit_price: Option<Decimal>,
    pub pricing_quantity: Option<Decimal>,
    pub pricing_unit: Option<&'static str>,
    pub consumed_quantity: Option<Decimal>,
    pub consumed_unit: Option<&'static str>,
    pub billing_period_start: i64,
    pub billing_period_end: i64,
    pub charge_period_start: i64,
    pub charge_period_end: i64,
    pub charge_category: &'static str,
    pub charge_frequency: &'static str,
    pub charge_description: String,
    pub pricing_category: &'static str,
    pub region: Option<(String, String)>,
    pub resource_id: Option<String>,
    pub resource_name: Option<String>,
    pub resource_type: Option<&'static str>,
    pub service_name: &'static str,
    pub sku_id: String,
    pub sku_price_id: String,
    pub sku_meter: String,
    pub sku_price_details: String,
    pub commitment: Option<Commitment>,
    pub deployment: Option<String>,
    pub deployment_type: String,
    pub model: String,
    /// Values of the `--by` dimensions (None: not allocated to a group).
    pub dims: Option<Vec<String>>,
    pub allocation_method: Option<&'static str>,
    pub allocation_ratio: Option<Decimal>,
}

/// The commitment columns of a reservation row.
#[derive(Debug, Clone, PartialEq)]
pub struct Commitment {
    pub id: String,
    pub name: String,
    /// `Used`, `Unused`, or None on the purchase.
    pub status: Option<&'static str>,
    pub quantity: Decimal,
}

/// A charge period's bill, computed apart from the rows (for reconciliation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeriodBill {
    pub start: String,
    pub payg_usd: Decimal,
    pub ptu_usd: Decimal,
    pub total_usd: Decimal,
    /// The rows' EffectiveCost in the period.
    pub rows_usd: Decimal,
    /// Pieces of work billed in the period (0: PTU capacity only).
    pub work: u64,
}

/// Showback: what each group (and the idle capacity) costs over the export.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupCost {
    /// The group's values of the `--by` dimensions (empty: idle capacity and unallocated).
    pub key: Vec<String>,
    pub payg_usd: Decimal,
    pub ptu_usd: Decimal,
    pub total_usd: Decimal,
}

/// The rows and the checks that they add up.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub rows: Vec<Row>,
    pub periods: Vec<PeriodBill>,
    pub groups: Vec<GroupCost>,
    /// Σ EffectiveCost of every row.
    pub total_usd: Decimal,
    /// Σ BilledCost of every row.
    pub billed_usd: Decimal,
}

/// Splits `total` (at `dp` decimals) in proportion to `weights`, exactly: each share is rounded
/// down and the residue goes, one unit at a time, to the largest remainders (ties: first).
pub fn split(total: Decimal, weights: &[Decimal], dp: u32) -> Vec<Decimal> {
    let sum: Decimal = weights.iter().copied().sum();
    if weights.is_empty() {
        return Vec::new();
    }
    if sum.is_zero() {
        let mut v = vec![Decimal::ZERO; weights.len()];
        v[0] = total;
        return v;
    }
    let unit = Decimal::new(1, dp);
    let raw: Vec<Decimal> = weights.iter().map(|w| total * *w / sum).collect();
    let mut out: Vec<Decimal> = raw
        .iter()
        .map(|r| r.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::ToZero))
        .collect();
    let assigned: Decimal = out.iter().copied().sum();
    let mut left = ((total - assigned) / unit)
        .round()
        .to_string()
        .parse::<i64>()
        .unwrap_or(0);
    let mut order: Vec<usize> = (0..out.len()).collect();
    order.sort_by(|&a, &b| (raw[b] - out[b]).cmp(&(raw[a] - out[a])).then(a.cmp(&b)));
    let n = order.len();
    let mut k = 0;
    while left > 0 {
        out[order[k % n]] += unit;
        left -= 1;
        k += 1;
    }
    while left < 0 {
        out[order[k % n]] -= unit;
        left += 1;
        k += 1;
    }
    out
}

fn sku_family(sku: Sku) -> &'static str {
    match sku {
        Sku::GlobalStandard | Sku::GlobalBatch | Sku::GlobalProvisionedManaged => "glbl",
        Sku::DataZoneStandard | Sku::DataZoneBatch | Sku::DataZoneProvisionedManaged => "DZ",
        Sku::Standard | Sku::ProvisionedManaged => "regnl",
    }
}

fn ptu_meter(t: PtuType) -> &'static str {
    match t {
        PtuType::Global => "Provisioned Managed Global Unit",
        PtuType::DataZone => "Provisioned Managed Data Zone Unit",
        PtuType::Regional => "Provisioned Managed Regional Unit",
    }
}

/// The price and SKU columns of a row of PTU-hours at the hourly price (`list` before
/// rounding): list and contracted cost, SKU id, price id, meter and details.
fn hourly_ptu_sku(r: &mut Row, t: PtuType, sku_id: &str, meter: &str, list: Decimal) {
    r.list_cost = list.round_dp(MONEY_DP);
    r.contracted_cost = r.list_cost;
    r.sku_id = sku_id.to_string();
    r.sku_price_id = format!("{} PTU hourly", ptu_type_name(t));
    r.sku_meter = meter.into();
    r.sku_price_details = serde_json::json!({ "x_DeploymentType": ptu_type_name(t) }).to_string();
}

fn ptu_type_name(t: PtuType) -> &'static str {
    match t {
        PtuType::Global => "Global",
        PtuType::DataZone => "Data Zone",
        PtuType::Regional => "Regional",
    }
}

impl CostInput<'_> {
    fn resource_id(&self, region: &str) -> String {
        format!(
            "/subscriptions/{}/resourcegroups/{}/providers/microsoft.cognitiveservices/accounts/{}",
            self.account.subscription_id,
            self.account.resource_group,
            account_name(region)
        )
        .to_lowercase()
    }

    fn reservation_id(&self, p: &PtuLine) -> String {
        let name = format!("spillway-{}", p.deployment).to_lowercase();
        format!("/providers/microsoft.capacity/reservationorders/{name}/reservations/{name}")
    }

    fn base_row(&self, period_start: i64, period_end: i64) -> Row {
        let bp = month_start(period_start);
        Row {
            billing_period_start: bp,
            billing_period_end: next_month(bp),
            charge_period_start: period_start,
            charge_period_end: period_end,
            service_name: "Azure AI Services",
            ..Row::default()
        }
    }
}

/// The Cognitive Services account spillway names for a region's deployments.
pub fn account_name(region: &str) -> String {
    format!("aoai-{region}")
}

/// PAYG sums per (period start, meter, group).
#[derive(Default, Clone, Copy)]
struct TokenSums {
    uncached: u64,
    cached: u64,
    completion: u64,
}

/// Builds the rows and checks that they add up.
pub fn ledger(input: &CostInput<'_>) -> Result<Ledger, CostError> {
    let mut rows = Vec::new();
    let period = input.period;
    let Some(first) = input.work.iter().map(|w| w.t_us).min() else {
        return Ok(Ledger {
            rows,
            periods: Vec::new(),
            groups: Vec::new(),
            total_usd: Decimal::ZERO,
            billed_usd: Decimal::ZERO,
        });
    };
    let last = input.work.iter().map(|w| w.t_us).max().unwrap_or(first);
    // Pay-as-you-go: sums per period, meter and group.
    let mut payg: BTreeMap<(i64, u32, u32), TokenSums> = BTreeMap::new();
    // PTU: weighted tokens per period, deployment and group.
    let mut weighted: BTreeMap<(i64, u32, u32), f64> = BTreeMap::new();
    for w in input.work {
        let p = period.floor(w.t_us);
        match w.billed {
            Billed::Payg(m) => {
                let s = payg.entry((p, m, w.group)).or_default();
                s.uncached += w.uncached;
                s.cached += w.cached;
                s.completion += w.completion;
            }
            Billed::Ptu(d) => *weighted.entry((p, d, w.group)).or_default() += w.weighted,
        }
    }
    // Each period's pay-as-you-go bill, priced request by request (apart from the rows).
    let mut bills: BTreeMap<i64, PeriodBill> = BTreeMap::new();
    for w in input.work {
        bills.entry(period.floor(w.t_us)).or_default().work += 1;
        if let Billed::Payg(m) = w.billed {
            let meter = &input.meters[m as usize];
            let cost = (meter.input * Decimal::from(w.uncached)
                + meter.cached * Decimal::from(w.cached)
                + meter.output * Decimal::from(w.completion))
                / Decimal::from(1_000_000u32);
            bills.entry(period.floor(w.t_us)).or_default().payg_usd += cost;
        }
    }
    let mut group_cost: BTreeMap<Option<u32>, (Decimal, Decimal)> = BTreeMap::new();
    let million = Decimal::from(1_000_000u32);
    for (&(p, m, g), s) in &payg {
        let meter = &input.meters[m as usize];
        let end = period.next(p);
        for (kind, tokens, price, word) in [
            ("input", s.uncached, meter.input, "Inp"),
            ("cached input", s.cached, meter.cached, "cached Inp"),
            ("output", s.completion, meter.output, "Outp"),
        ] {
            if tokens == 0 {
                continue;
            }
            let qty = Decimal::from(tokens) / million;
            let cost = (price * qty).round_dp(MONEY_DP);
            let mut r = input.base_row(p, end);
            r.charge_category = "Usage";
            r.charge_frequency = "Usage-Based";
            r.pricing_category = "Standard";
            r.billed_cost = cost;
            r.effective_cost = cost;
            r.list_cost = cost;
            r.contracted_cost = cost;
            r.list_unit_price = Some(price);
            r.pricing_quantity = Some(qty);
            r.pricing_unit = Some("1000000 Tokens");
            r.consumed_quantity = Some(Decimal::from(tokens));
            r.consumed_unit = Some("Tokens");
            r.charge_description = format!(
                "{} {} {kind} tokens{}",
                meter.model,
                meter.sku,
                meter
                    .deployment
                    .as_ref()
                    .map_or(String::new(), |d| format!(" on {d}"))
            );
            r.region = meter.region.clone();
            if let Some((id, _)) = &meter.region {
                r.resource_id = Some(input.resource_id(id));
                r.resource_name = Some(account_name(id));
                r.resource_type = Some("Azure AI Foundry");
            }
            r.sku_id = format!("{} {}", meter.model, meter.sku);
            r.sku_price_id = format!("{} {} {kind}", meter.model, meter.sku);
            r.sku_meter = format!(
                "{} {word} {} Tokens",
                meter.model.replace('-', " "),
                sku_family(meter.sku)
            );
            r.sku_price_details = serde_json::json!({
                "x_Model": meter.model,
                "x_TokenDirection": if kind == "output" { "output" } else { "input" },
                "x_CacheAction": if kind == "cached input" { "hit" } else if kind == "input" { "miss" } else { "none" },
            })
            .to_string();
            r.deployment = meter.deployment.clone();
            r.deployment_type = meter.sku.to_string();
            r.model = meter.model.clone();
            r.dims = Some(input.groups[g as usize].clone());
            group_cost.entry(Some(g)).or_default().0 += cost;
            rows.push(r);
        }
    }
    // PTUs: every charge period of every billing month the traffic touches.
    let (mut m, stop) = (month_start(first), next_month(month_start(last)));
    while m < stop {
        let month_end = next_month(m);
        let month_hours = Decimal::from((month_end - m) / HOUR_US);
        for (d, line) in input.ptus.iter().enumerate() {
            ptu_month(
                input,
                d as u32,
                line,
                m,
                month_end,
                month_hours,
                &weighted,
                &mut rows,
                &mut bills,
                &mut group_cost,
            )?;
        }
        m = month_end;
    }
    for r in &rows {
        if r.charge_category == "Usage" {
            bills.entry(r.charge_period_start).or_default().rows_usd += r.effective_cost;
        }
    }
    let periods: Vec<PeriodBill> = bills
        .into_iter()
        .map(|(p, mut b)| {
            b.start = format_utc(p);
            b.total_usd = b.payg_usd + b.ptu_usd;
            b
        })
        .collect();
    let groups = group_cost
        .into_iter()
        .map(|(g, (payg, ptu))| GroupCost {
            key: g.map_or(Vec::new(), |g| input.groups[g as usize].clone()),
            payg_usd: payg,
            ptu_usd: ptu,
            total_usd: payg + ptu,
        })
        .collect();
    let total_usd = rows.iter().map(|r| r.effective_cost).sum();
    let billed_usd = rows.iter().map(|r| r.billed_cost).sum();
    Ok(Ledger {
        rows,
        periods,
        groups,
        total_usd,
        billed_usd,
    })
}

/// The PTU rows of one deployment for one billing month.
#[allow(clippy::too_many_arguments)]
fn ptu_month(
    input: &CostInput<'_>,
    d: u32,
    line: &PtuLine,
    month: i64,
    month_end: i64,
    month_hours: Decimal,
    weighted: &BTreeMap<(i64, u32, u32), f64>,
    rows: &mut Vec<Row>,
    bills: &mut BTreeMap<i64, PeriodBill>,
    group_cost: &mut BTreeMap<Option<u32>, (Decimal, Decimal)>,
) -> Result<(), CostError> {
    let period = input.period;
    let hourly = dec(line.price.hourly, "PTU hourly price")?;
    let reserved_price = match input.reservation {
        Reservation::Hourly => None,
        Reservation::Monthly => Some(dec(line.price.monthly_reservation, "PTU 1-month price")?),
        // Paid monthly: a twelfth of the year's price each month.
        Reservation::Yearly => {
            Some(dec(line.price.yearly_reservation, "PTU 1-year price")? / Decimal::from(12))
        }
    };
    let reserved_price = reserved_price.filter(|_| line.reserved > 0);
    let reserved = if reserved_price.is_some() {
        line.reserved
    } else {
        0
    };
    let covered = line.capacity.min(reserved);
    let overage = line.capacity - covered;
    let unused = reserved - covered;
    let region = Some(line.region.clone());
    let resource = input.resource_id(&line.region.0);
    let meter = ptu_meter(line.deployment_type);
    let sku_id = format!("{} {}", line.model, line.sku);
    let commitment_id = input.reservation_id(line);
    let commitment_name = format!(
        "{} PTU {} reservation for {}",
        reserved,
        ptu_type_name(line.deployment_type),
        line.deployment
    );
    // The month's payment, amortized over its periods (the residue on the last one).
    let payment = reserved_price.map(|p| (p * Decimal::from(reserved)).round_dp(MONEY_DP));
    if let Some(payment) = payment {
        let mut r = input.base_row(month, month_end);
        r.charge_category = "Purchase";
        r.charge_frequency = "Recurring";
        r.pricing_category = "Standard";
        r.billed_cost = payment;
        r.effective_cost = Decimal::ZERO;
        r.list_unit_price = reserved_price;
        r.pricing_quantity = Some(Decimal::from(reserved));
        r.pricing_unit = Some("PTU-Months");
        r.list_cost = payment;
        r.contracted_cost = payment;
        r.charge_description = format!(
            "{commitment_name}: {} payment ({})",
            if input.reservation == Reservation::Yearly {
                "1-year term, monthly"
            } else {
                "1-month term"
            },
            &format_utc(month)[..7]
        );
        r.region = region.clone();
        r.resource_id = Some(commitment_id.clone());
        r.resource_name = Some(commitment_name.clone());
        r.resource_type = Some("Reservation");
        r.service_name = "Azure AI Services";
        r.sku_id = sku_id.clone();
        r.sku_price_id = format!(
            "{} PTU reservation {}",
            ptu_type_name(line.deployment_type),
            input.reservation.name()
        );
        r.sku_meter = meter.into();
        r.sku_price_details = serde_json::json!({
            "x_DeploymentType": ptu_type_name(line.deployment_type),
            "x_Term": if input.reservation == Reservation::Yearly { "P1Y" } else { "P1M" },
        })
        .to_string();
        r.commitment = Some(Commitment {
            id: commitment_id.clone(),
            name: commitment_name.clone(),
            status: None,
            quantity: Decimal::from(reserved) * month_hours,
        });
        r.deployment = Some(line.deployment.clone());
        r.deployment_type = line.sku.to_string();
        r.model = line.model.clone();
        rows.push(r);
    }
    let mut p = period.floor(month).max(month);
    let mut amortized_so_far = Decimal::ZERO;
    let cap_weighted_per_hour = line.capacity as f64 * line.input_tpm_per_ptu * 60.0;
    while p < month_end {
        let end = period.next(p).min(month_end);
        let hours = Decimal::from((end - p) / HOUR_US);
        // This period's share of the month's payment; the last period takes the residue.
        let amortized = payment.map(|pay| {
            let a = if end == month_end {
                pay - amortized_so_far
            } else {
                (pay * hours / month_hours).round_dp(MONEY_DP)
            };
            amortized_so_far += a;
            a
        });
        // Group shares of the deployment's capacity in the period.
        let cap = cap_weighted_per_hour * ((end - p) / HOUR_US) as f64;
        let mut used: Vec<(u32, f64)> = weighted
            .range((p, d, 0)..=(p, d, u32::MAX))
            .map(|(&(_, _, g), &w)| (g, w))
            .filter(|(_, w)| *w > 0.0)
            .collect();
        used.sort_by_key(|(g, _)| *g);
        let total_w: f64 = used.iter().map(|(_, w)| w).sum();
        let denom = total_w.max(cap);
        // Weights per row: each group's tokens, then the idle part, as decimals.
        let mut weights: Vec<Decimal> = used
            .iter()
            .map(|(_, w)| Decimal::from_f64_retain(*w / denom).unwrap_or_default())
            .collect();
        let idle = (1.0 - total_w / denom).max(0.0);
        weights.push(Decimal::from_f64_retain(idle).unwrap_or_default());
        let labels: Vec<Option<u32>> = used
            .iter()
            .map(|(g, _)| Some(*g))
            .chain(std::iter::once(None))
            .collect();
        // Covered (reserved) and overage (hourly) PTU-hours, split between the groups.
        for (covered_part, ptus) in [(true, covered), (false, overage)] {
            if ptus == 0 {
                continue;
            }
            let ptu_hours = Decimal::from(ptus) * hours;
            let qty = split(ptu_hours, &weights, QTY_DP);
            let effective_total = if covered_part {
                // Covered PTUs' share of the amortized payment.
                let a = amortized.unwrap_or_default();
                if reserved == 0 {
                    Decimal::ZERO
                } else {
                    (a * Decimal::from(covered) / Decimal::from(reserved)).round_dp(MONEY_DP)
                }
            } else {
                (hourly * ptu_hours).round_dp(MONEY_DP)
            };
            let eff = split(effective_total, &weights, MONEY_DP);
            for (i, label) in labels.iter().enumerate() {
                if qty[i].is_zero() && eff[i].is_zero() {
                    continue;
                }
                let mut r = input.base_row(p, end);
                r.charge_category = "Usage";
                r.charge_frequency = "Usage-Based";
                r.pricing_category = if covered_part {
                    "Committed"
                } else {
                    "Standard"
                };
                r.list_unit_price = Some(hourly);
                r.pricing_quantity = Some(qty[i]);
                r.pricing_unit = Some("PTU-Hours");
                r.consumed_quantity = Some(qty[i]);
                r.consumed_unit = Some("PTU-Hours");
                hourly_ptu_sku(
                    &mut r,
                    line.deployment_type,
                    &sku_id,
                    meter,
                    hourly * qty[i],
                );
                r.effective_cost = eff[i];
                r.billed_cost = if covered_part { Decimal::ZERO } else { eff[i] };
                r.region = region.clone();
                r.resource_id = Some(resource.clone());
                r.resource_name = Some(account_name(&line.region.0));
                r.resource_type = Some("Azure AI Foundry");
                if covered_part {
                    r.commitment = Some(Commitment {
                        id: commitment_id.clone(),
                        name: commitment_name.clone(),
                        status: Some("Used"),
                        quantity: qty[i],
                    });
                }
                r.charge_description = match label {
                    Some(_) => format!(
                        "{} PTU of {} on {}, {}: share of the PTU-weighted tokens served",
                        ptus,
                        line.model,
                        line.deployment,
                        if covered_part { "reserved" } else { "hourly" }
                    ),
                    None => format!(
                        "{} PTU of {} on {}, {}: idle capacity (not used by any group)",
                        ptus,
                        line.model,
                        line.deployment,
                        if covered_part { "reserved" } else { "hourly" }
                    ),
                };
                r.deployment = Some(line.deployment.clone());
                r.deployment_type = line.sku.to_string();
                r.model = line.model.clone();
                r.dims = label.map(|g| input.groups[g as usize].clone());
                r.allocation_method = Some(match label {
                    Some(_) => "ptu-weighted-token-share",
                    None => "idle-capacity",
                });
                r.allocation_ratio = Some(weights[i].round_dp(QTY_DP));
                group_cost.entry(*label).or_default().1 += eff[i];
                rows.push(r);
            }
        }
        // Reserved PTUs no deployment used: one Unused row.
        if unused > 0 {
            let a = amortized.unwrap_or_default();
            let eff = a - (a * Decimal::from(covered) / Decimal::from(reserved)).round_dp(MONEY_DP);
            let qty = Decimal::from(unused) * hours;
            let mut r = input.base_row(p, end);
            r.charge_category = "Usage";
            r.charge_frequency = "Usage-Based";
            r.pricing_category = "Committed";
            r.list_unit_price = Some(hourly);
            r.pricing_quantity = Some(qty);
            r.pricing_unit = Some("PTU-Hours");
            hourly_ptu_sku(&mut r, line.deployment_type, &sku_id, meter, hourly * qty);
            r.effective_cost = eff;
            r.billed_cost = Decimal::ZERO;
            r.region = region.clone();
            r.resource_id = Some(commitment_id.clone());
            r.resource_name = Some(commitment_name.clone());
            r.resource_type = Some("Reservation");
            r.commitment = Some(Commitment {
                id: commitment_id.clone(),
                name: commitment_name.clone(),
                status: Some("Unused"),
                quantity: qty,
            });
            r.charge_description = format!(
                "{unused} reserved PTU not deployed ({} has {} PTU): unused reservation",
                line.deployment, line.capacity
            );
            r.deployment = Some(line.deployment.clone());
            r.deployment_type = line.sku.to_string();
            r.model = line.model.clone();
            r.allocation_method = Some("unused-reservation");
            group_cost.entry(None).or_default().1 += eff;
            rows.push(r);
        }
        bills.entry(p).or_default().ptu_usd += match payment {
            Some(_) => {
                amortized.unwrap_or_default()
                    + if overage > 0 {
                        (hourly * Decimal::from(overage) * hours).round_dp(MONEY_DP)
                    } else {
                        Decimal::ZERO
                    }
            }
            None => (hourly * Decimal::from(line.capacity) * hours).round_dp(MONEY_DP),
        };
        p = end;
    }
    Ok(())
}

impl Ledger {
    /// Checks that the rows add up: per charge period, the Usage rows' EffectiveCost equals
    /// the period's bill (PTUs amortized or hourly + pay-as-you-go tokens); per reservation
    /// and month, the Used and Unused rows' EffectiveCost equal the Purchase's BilledCost; and
    /// over the whole export, Σ BilledCost = Σ EffectiveCost. Returns the first mismatch.
    pub fn reconcile(&self) -> Result<(), String> {
        for b in &self.periods {
            if b.rows_usd != b.payg_usd + b.ptu_usd {
                return Err(format!(
                    "period {}: rows {} against the bill {} + {}",
                    b.start, b.rows_usd, b.payg_usd, b.ptu_usd
                ));
            }
        }
        let mut purchases: BTreeMap<(String, i64), (Decimal, Decimal)> = BTreeMap::new();
        for r in &self.rows {
            let Some(c) = &r.commitment else { continue };
            let e = purchases
                .entry((c.id.clone(), r.billing_period_start))
                .or_default();
            if r.charge_category == "Purchase" {
                e.0 += r.billed_cost;
            } else {
                e.1 += r.effective_cost;
            }
        }
        for ((id, month), (bought, used)) in &purchases {
            if bought != used {
                return Err(format!(
                    "reservation {id}, month {}: purchased {bought}, amortized {used}",
                    format_utc(*month)
                ));
            }
        }
        if self.total_usd != self.billed_usd {
            return Err(format!(
                "Σ EffectiveCost {} ≠ Σ BilledCost {}",
                self.total_usd, self.billed_usd
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
