//! `spillway cost`: a FinOps FOCUS 1.2 cost export of a log or trace. Without a topology every
//! request is priced at the pay-as-you-go list price of its model and SKU; with one, the traffic
//! is simulated (the engine and rules of `simulate`), each piece of work is costed where it was
//! served, and PTU reservations are amortized and shown back by the groups' share of the
//! PTU-weighted tokens. The rows reconcile to the cent (`crate::cost`).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use rust_decimal::Decimal;
use serde::Serialize;

use super::workload::ingest_options;
use super::{Context, ExitStatus};
use crate::catalog::{Reservation, Sku};
use crate::cli::{CostArgs, PeriodArg, ReportFormat};
use crate::cost::{
    Account, Billed, CostInput, FOCUS_COLUMNS, Ledger, Meter, Period, PtuLine, Row, Work,
    X_COLUMNS_HEAD, X_COLUMNS_TAIL, ledger, x_column,
};
use crate::ingest::IngestOptions;
use crate::ingest::time::format_utc;
use crate::output::{self, thousands};
use crate::sim::topology::Admission;
use crate::sim::workload::{MaxTokensEstimate, TraceShape, from_trace};
use crate::sim::{DEFAULT_SEED, MAX_REQUESTS, SimOptions, Topology};

const REGIONS_TOML: &str = include_str!("../../data/regions.toml");

/// Built-in `--by` dimensions (everything else is a log field).
const BUILT_IN: [&str; 2] = ["deployment", "model"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutFormat {
    Csv,
    Parquet,
}

/// Validated `cost` configuration.
struct Config {
    logs: Vec<PathBuf>,
    ingest: IngestOptions,
    topology: Option<(PathBuf, Topology)>,
    period: Period,
    /// The `--by` dimensions in order, and which of them are log fields.
    by: Vec<String>,
    sku: Sku,
    reservation: Reservation,
    estimate: MaxTokensEstimate,
    seed: u64,
    out: Option<(PathBuf, OutFormat)>,
    account: Account,
    format: ReportFormat,
}

fn configure(ctx: &Context<'_>, args: CostArgs) -> anyhow::Result<Config> {
    let by = super::workload::by_list(&args.by)?;
    let log_dims: Vec<String> = by
        .iter()
        .filter(|d| !BUILT_IN.contains(&d.as_str()))
        .cloned()
        .collect();
    let mut ingest = ingest_options(&args.input, &log_dims, &ctx.catalog)?;
    let topology = match &args.topology {
        Some(p) => {
            let t = Topology::load(p, &ctx.catalog)?;
            if args.batch {
                bail!(
                    "--batch prices requests at the batch discount without a topology; a topology's deployments take online traffic"
                );
            }
            if let Some(tl) = &t.gateway.token_limit
                && !ingest.by.contains(&tl.key)
            {
                ingest.by.push(tl.key.clone());
            }
            Some((p.clone(), t))
        }
        None => {
            if by.iter().any(|d| d == "deployment") {
                bail!("--by deployment: deployments come from a topology (-t topology.toml)");
            }
            None
        }
    };
    ingest.by_optional = true;
    ingest.max_requests = Some(MAX_REQUESTS);
    let sku: Sku = args
        .sku
        .parse()
        .map_err(|e: crate::catalog::UnknownSku| anyhow::anyhow!("--sku: {e}"))?;
    if sku.is_provisioned() {
        bail!(
            "--sku {sku}: provisioned SKUs are priced per PTU; give a topology (-t) to cost them"
        );
    }
    let sku = if args.batch {
        match sku {
            Sku::DataZoneStandard | Sku::DataZoneBatch => Sku::DataZoneBatch,
            _ => Sku::GlobalBatch,
        }
    } else {
        sku
    };
    let out = args
        .out
        .as_ref()
        .map(|p| {
            let parquet = super::table_file(p, "--out", "FOCUS rows are")?;
            anyhow::Ok((
                p.clone(),
                if parquet {
                    OutFormat::Parquet
                } else {
                    OutFormat::Csv
                },
            ))
        })
        .transpose()?;
    for (flag, v) in [
        ("--billing-account", &args.billing_account),
        ("--subscription", &args.subscription),
        ("--resource-group", &args.resource_group),
    ] {
        if v.trim().is_empty() {
            bail!("{flag}: must not be empty (FOCUS needs an id)");
        }
    }
    Ok(Config {
        logs: args.logs,
        ingest,
        topology,
        period: match args.period {
            PeriodArg::Hour => Period::Hour,
            PeriodArg::Day => Period::Day,
            PeriodArg::Month => Period::Month,
        },
        by,
        sku,
        reservation: args.reservation.into(),
        estimate: args.max_tokens_estimate,
        seed: args.seed.unwrap_or(DEFAULT_SEED),
        out,
        account: Account {
            billing_account_id: args.billing_account,
            billing_account_name: args.billing_account_name,
            subscription_id: args.subscription,
            subscription_name: args.subscription_name,
            resource_group: args.resource_group,
        },
        format: args.format,
    })
}

/// Region id → display name, from `data/regions.toml`.
fn region_name(id: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Regions {
        names: std::collections::BTreeMap<String, String>,
    }
    toml::from_str::<Regions>(REGIONS_TOML)
        .ok()
        .and_then(|r| r.names.get(id).cloned())
        .unwrap_or_else(|| id.to_string())
}

#[derive(Serialize)]
struct PeriodJson {
    start: String,
    requests: u64,
    payg_usd: String,
    ptu_usd: String,
    total_usd: String,
}

#[derive(Serialize)]
struct GroupJson {
    key: serde_json::Map<String, serde_json::Value>,
    /// The key's values in `--by` order (empty: idle or unallocated PTU capacity).
    #[serde(skip)]
    values: Vec<String>,
    payg_usd: String,
    ptu_usd: String,
    total_usd: String,
}

#[derive(Serialize)]
struct Summary {
    total_usd: String,
    billed_usd: String,
    rows: usize,
    periods: usize,
    period: Period,
    reconciled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reconcile_error: Option<String>,
    by_period: Vec<PeriodJson>,
    by_group: Vec<GroupJson>,
    out: Option<String>,
    notes: Vec<String>,
}

/// Money at cents for people; the rows keep 10 decimals.
fn cents(d: Decimal) -> String {
    format!("{:.2}", d.round_dp(2))
}

pub fn run(ctx: &mut Context<'_>, args: CostArgs) -> anyhow::Result<ExitStatus> {
    let cfg = configure(ctx, args)?;
    let progress = super::progress::Bar::new(&cfg.logs, ctx.quiet);
    let read = crate::ingest::read_all(&cfg.logs, &cfg.ingest, &ctx.catalog, &progress);
    progress.finish();
    let (trace, summary) = read?;
    super::workload::warn_outliers(&summary);
    let files: Vec<String> = cfg.logs.iter().map(|p| p.display().to_string()).collect();
    if trace.is_empty() {
        bail!(
            "{}: no requests to cost ({} rows read, {} skipped)",
            files.join(", "),
            thousands(summary.rows_read),
            thousands(summary.skipped)
        );
    }
    let mut notes = super::workload::outlier_notes(&summary);
    let field_of = |group: u32, dim: &str| -> String {
        summary
            .dims
            .iter()
            .position(|d| d == dim)
            .and_then(|i| summary.groups[group as usize].get(i).cloned())
            .unwrap_or_else(|| "(none)".into())
    };
    // Cost groups: (deployment, model, log fields) as the user ordered them.
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut index = std::collections::HashMap::new();
    let mut group_of = |values: Vec<String>| -> u32 {
        *index.entry(values.clone()).or_insert_with(|| {
            groups.push(values);
            (groups.len() - 1) as u32
        })
    };
    let key = |dep: Option<&str>, model: &str, g: u32| -> Vec<String> {
        cfg.by
            .iter()
            .map(|d| match d.as_str() {
                "deployment" => dep.unwrap_or("").to_string(),
                "model" => model.to_string(),
                other => field_of(g, other),
            })
            .collect()
    };
    let mut meters: Vec<Meter> = Vec::new();
    let mut ptus: Vec<PtuLine> = Vec::new();
    let mut work: Vec<Work> = Vec::new();
    let failed = trace.iter().filter(|r| r.failed).count();
    if failed > 0 {
        notes.push(format!(
            "{} failed requests in the log (no response) are not billed",
            thousands(failed as u64)
        ));
    }
    match &cfg.topology {
        None => {
            // Every request at its model's list price for --sku.
            for name in &summary.models {
                let model = ctx.catalog.resolve(name)?;
                let q = ctx.catalog.token_price(model, cfg.sku).with_context(|| {
                    format!(
                        "{name} on {}: no price in the catalog (add one with --catalog)",
                        cfg.sku
                    )
                })?;
                meters.push(Meter::new(None, None, &model.name, cfg.sku, &q)?);
            }
            for r in trace.iter().filter(|r| !r.failed) {
                let model = &summary.models[r.model as usize];
                let cached = r.cached.min(r.prompt) as u64;
                work.push(Work {
                    t_us: r.t_us,
                    billed: Billed::Payg(r.model as u32),
                    group: group_of(key(None, model, r.group)),
                    uncached: r.prompt as u64 - cached,
                    cached,
                    completion: r.completion as u64,
                    weighted: 0.0,
                });
            }
            notes.push(format!(
                "priced at the pay-as-you-go list price of each request's model on {} (no topology: no PTUs, no quota)",
                cfg.sku
            ));
        }
        Some((_, topo)) => {
            // Simulate, then cost each piece of work where it was done.
            let served_trace: Vec<crate::ingest::Request> =
                trace.iter().filter(|r| !r.failed).copied().collect();
            let tl_key = topo.gateway.token_limit.as_ref().map(|t| t.key.clone());
            let mut tl_index = std::collections::HashMap::new();
            let tl_keys: Vec<u32> = (0..summary.groups.len() as u32)
                .map(|g| {
                    let v = tl_key.as_deref().map_or(String::new(), |k| field_of(g, k));
                    let n = tl_index.len() as u32;
                    *tl_index.entry(v).or_insert(n)
                })
                .collect();
            let shape = TraceShape {
                speed: 1.0,
                scale: 1.0,
                estimate: cfg.estimate,
                seed: cfg.seed,
            };
            let reqs = from_trace(&served_trace, &shape, &|g| tl_keys[g as usize]);
            crate::sim::check_span(&reqs)
                .map_err(|m| anyhow::anyhow!("{}: {m}", files.join(", ")))?;
            let report = crate::sim::run(
                topo,
                &reqs,
                SimOptions {
                    ledger: true,
                    reservation: cfg.reservation,
                    ..SimOptions::seeded(cfg.seed)
                },
            )?;
            let mut billed_as: Vec<Billed> = Vec::new();
            for d in &topo.deployments {
                let region = topo.regions[d.region].name.clone();
                let pair = (region.clone(), region_name(&region));
                match (&d.admission, &d.ptu_price) {
                    (
                        Admission::Provisioned {
                            deployment_type, ..
                        },
                        Some(price),
                    ) => {
                        billed_as.push(Billed::Ptu(ptus.len() as u32));
                        ptus.push(PtuLine {
                            deployment: d.name.clone(),
                            region: pair,
                            model: d.model.name.clone(),
                            sku: d.sku,
                            deployment_type: *deployment_type,
                            capacity: d.capacity,
                            reserved: d.reserved_ptu.unwrap_or(d.capacity),
                            input_tpm_per_ptu: d.model.ptu.map_or(0.0, |p| p.input_tpm_per_ptu),
                            price: price.clone(),
                        });
                    }
                    (Admission::Provisioned { .. }, None) => {
                        bail!("{}: the catalog has no PTU price for {}", d.name, d.sku)
                    }
                    (Admission::Standard { .. }, _) => {
                        let q = d.price.as_ref().with_context(|| {
                            format!(
                                "{}: no price for {} on {} in the catalog",
                                d.name, d.model.name, d.sku
                            )
                        })?;
                        billed_as.push(Billed::Payg(meters.len() as u32));
                        meters.push(Meter::new(
                            Some(d.name.clone()),
                            Some(pair),
                            &d.model.name,
                            d.sku,
                            q,
                        )?);
                    }
                }
            }
            for s in report.served.as_deref().unwrap_or(&[]) {
                let r = served_trace[s.req as usize];
                let d = &topo.deployments[s.dep as usize];
                let cached = r.cached.min(r.prompt) as u64;
                let uncached = r.prompt as u64 - cached;
                let w = d.model.ptu.map_or(1.0, |p| p.output_weight);
                work.push(Work {
                    t_us: s.t_us,
                    billed: billed_as[s.dep as usize],
                    group: group_of(key(Some(&d.name), &d.model.name, r.group)),
                    uncached,
                    cached,
                    completion: s.generated as u64,
                    weighted: uncached as f64 + w * s.generated as f64,
                });
            }
            let late: u64 = report.deployments.iter().map(|d| d.late).sum();
            notes.push(format!(
                "simulated through the topology: {} of {} requests served, {} failed (not billed){}; PTUs billed for every hour of the billing months the log touches (a deployment bills whether or not it serves), on a {}",
                thousands(report.succeeded),
                thousands(report.arrived),
                thousands(report.failed),
                if late > 0 {
                    format!(
                        "; {} pieces of work a client had given up on are billed where they were done",
                        thousands(late)
                    )
                } else {
                    String::new()
                },
                cfg.reservation.name()
            ));
        }
    }
    let dims: Vec<String> = cfg.by.clone();
    let input = CostInput {
        period: cfg.period,
        reservation: cfg.reservation,
        account: &cfg.account,
        meters: &meters,
        ptus: &ptus,
        work: &work,
        groups: &groups,
        dims: &dims,
    };
    let l = ledger(&input)?;
    let reconciled = l.reconcile();
    if let Some((path, fmt)) = &cfg.out {
        write_rows(&l, &cfg, path, *fmt).with_context(|| format!("--out {}", path.display()))?;
    }
    let summary_doc = Summary {
        total_usd: cents(l.total_usd),
        billed_usd: cents(l.billed_usd),
        rows: l.rows.len(),
        periods: l.periods.len(),
        period: cfg.period,
        reconciled: reconciled.is_ok(),
        reconcile_error: reconciled.as_ref().err().cloned(),
        by_period: l
            .periods
            .iter()
            .map(|p| PeriodJson {
                start: p.start.clone(),
                requests: p.work,
                payg_usd: cents(p.payg_usd),
                ptu_usd: cents(p.ptu_usd),
                total_usd: cents(p.total_usd),
            })
            .collect(),
        by_group: l
            .groups
            .iter()
            .map(|g| GroupJson {
                key: if g.key.is_empty() {
                    serde_json::Map::new()
                } else {
                    cfg.by
                        .iter()
                        .cloned()
                        .zip(g.key.iter().map(|v| serde_json::Value::String(v.clone())))
                        .collect()
                },
                values: g.key.clone(),
                payg_usd: cents(g.payg_usd),
                ptu_usd: cents(g.ptu_usd),
                total_usd: cents(g.total_usd),
            })
            .collect(),
        out: cfg.out.as_ref().map(|(p, _)| p.display().to_string()),
        notes,
    };
    render(ctx, &cfg, &files, &summary_doc)?;
    if let Err(e) = reconciled {
        bail!("internal error: the cost rows do not reconcile ({e})");
    }
    Ok(ExitStatus::Success)
}

fn render(
    ctx: &mut Context<'_>,
    cfg: &Config,
    files: &[String],
    s: &Summary,
) -> anyhow::Result<()> {
    let out = &mut *ctx.out;
    match cfg.format {
        ReportFormat::Json => output::write_json(out, s)?,
        ReportFormat::Table | ReportFormat::Markdown => {
            writeln!(
                out,
                "{} · {} rows · {} period{} of one {} · total {} (Σ EffectiveCost = Σ BilledCost: {}) · reconciled: {}\n",
                files.join(", "),
                thousands(s.rows as u64),
                thousands(s.periods as u64),
                if s.periods == 1 { "" } else { "s" },
                match cfg.period {
                    Period::Hour => "hour",
                    Period::Day => "day",
                    Period::Month => "month",
                },
                output::usd_cents(&s.total_usd),
                output::usd_cents(&s.billed_usd),
                if s.reconciled { "yes" } else { "NO" }
            )?;
            let by = if cfg.by.is_empty() {
                "all traffic".to_string()
            } else {
                cfg.by.join(" · ")
            };
            let mut g = output::table(
                &[&by, "pay-as-you-go", "PTU", "total"],
                &[false, true, true, true],
            );
            for x in &s.by_group {
                let label = if x.values.is_empty() {
                    "(idle or unallocated PTU capacity)".to_string()
                } else {
                    x.values.join(" · ")
                };
                g.add_row(vec![
                    label,
                    output::usd_cents(&x.payg_usd),
                    output::usd_cents(&x.ptu_usd),
                    output::usd_cents(&x.total_usd),
                ]);
            }
            output::write_table(out, &g)?;
            // The periods with traffic (at most 24 shown), then the PTU-only ones in one line.
            let shown = 24;
            let busy: Vec<&PeriodJson> = s.by_period.iter().filter(|p| p.requests > 0).collect();
            let mut p = output::table(
                &["period", "requests", "pay-as-you-go", "PTU", "total"],
                &[false, true, true, true, true],
            );
            for x in busy.iter().take(shown) {
                p.add_row(vec![
                    x.start.clone(),
                    thousands(x.requests),
                    output::usd_cents(&x.payg_usd),
                    output::usd_cents(&x.ptu_usd),
                    output::usd_cents(&x.total_usd),
                ]);
            }
            output::write_table(out, &p)?;
            if busy.len() > shown {
                writeln!(
                    out,
                    "… {} more periods with traffic (every period in --format json and the rows)",
                    thousands((busy.len() - shown) as u64)
                )?;
            }
            let idle = s.by_period.len() - busy.len();
            if idle > 0 {
                writeln!(
                    out,
                    "{} periods without traffic in the log bill PTU capacity only (idle)",
                    thousands(idle as u64)
                )?;
            }
            if let Some(o) = &s.out {
                writeln!(
                    out,
                    "rows: {} FOCUS 1.2 rows written to {o}",
                    thousands(s.rows as u64)
                )?;
            }
            for n in &s.notes {
                writeln!(out, "note: {n}")?;
            }
        }
    }
    Ok(())
}

/// A decimal in FOCUS's format: plain digits, fixed decimals.
fn fixed(d: Decimal, dp: u32) -> String {
    format!("{:.*}", dp as usize, d.round_dp(dp))
}

/// The header: FOCUS columns, then spillway's.
pub(crate) fn header(by: &[String]) -> Vec<String> {
    let mut h: Vec<String> = FOCUS_COLUMNS.iter().map(|s| s.to_string()).collect();
    h.extend(X_COLUMNS_HEAD.iter().map(|s| s.to_string()));
    h.extend(
        by.iter()
            .filter(|d| !BUILT_IN.contains(&d.as_str()))
            .map(|d| x_column(d)),
    );
    h.extend(X_COLUMNS_TAIL.iter().map(|s| s.to_string()));
    h
}

/// One row's fields in header order ("" is null).
fn record(r: &Row, cfg: &Config) -> Vec<String> {
    use crate::cost::{MONEY_DP, QTY_DP};
    let a = &cfg.account;
    let opt = |o: Option<String>| o.unwrap_or_default();
    let money = |d: Decimal| fixed(d, MONEY_DP);
    let qty = |d: Option<Decimal>| d.map(|d| fixed(d, QTY_DP)).unwrap_or_default();
    let c = r.commitment.as_ref();
    let mut v: Vec<String> = vec![
        String::new(),                                             // AvailabilityZone
        money(r.billed_cost),                                      // BilledCost
        a.billing_account_id.clone(),                              // BillingAccountId
        a.billing_account_name.clone(),                            // BillingAccountName
        "Billing Account".into(),                                  // BillingAccountType
        "USD".into(),                                              // BillingCurrency
        format_utc(r.billing_period_end),                          // BillingPeriodEnd
        format_utc(r.billing_period_start),                        // BillingPeriodStart
        String::new(),                                             // CapacityReservationId
        String::new(),                                             // CapacityReservationStatus
        r.charge_category.into(),                                  // ChargeCategory
        String::new(),                                             // ChargeClass
        r.charge_description.clone(),                              // ChargeDescription
        r.charge_frequency.into(),                                 // ChargeFrequency
        format_utc(r.charge_period_end),                           // ChargePeriodEnd
        format_utc(r.charge_period_start),                         // ChargePeriodStart
        opt(c.map(|_| "Usage".into())),                            // CommitmentDiscountCategory
        opt(c.map(|c| c.id.clone())),                              // CommitmentDiscountId
        opt(c.map(|c| c.name.clone())),                            // CommitmentDiscountName
        opt(c.map(|c| fixed(c.quantity, QTY_DP))),                 // CommitmentDiscountQuantity
        opt(c.and_then(|c| c.status.map(str::to_string))),         // CommitmentDiscountStatus
        opt(c.map(|_| "Reservation".into())),                      // CommitmentDiscountType
        opt(c.map(|_| "PTU-Hours".into())),                        // CommitmentDiscountUnit
        qty(r.consumed_quantity),                                  // ConsumedQuantity
        opt(r.consumed_unit.map(str::to_string)),                  // ConsumedUnit
        money(r.contracted_cost),                                  // ContractedCost
        opt(r.list_unit_price.map(|p| p.normalize().to_string())), // ContractedUnitPrice
        money(r.effective_cost),                                   // EffectiveCost
        String::new(),                                             // InvoiceId
        "Microsoft".into(),                                        // InvoiceIssuerName
        money(r.list_cost),                                        // ListCost
        opt(r.list_unit_price.map(|p| p.normalize().to_string())), // ListUnitPrice
        r.pricing_category.into(),                                 // PricingCategory
        qty(r.pricing_quantity),                                   // PricingQuantity
        opt(r.pricing_unit.map(str::to_string)),                   // PricingUnit
        "Microsoft".into(),                                        // ProviderName
        "Microsoft".into(),                                        // PublisherName
        opt(r.region.as_ref().map(|x| x.0.clone())),               // RegionId
        opt(r.region.as_ref().map(|x| x.1.clone())),               // RegionName
        opt(r.resource_id.clone()),                                // ResourceId
        opt(r.resource_name.clone()),                              // ResourceName
        opt(r.resource_type.map(str::to_string)),                  // ResourceType
        "AI and Machine Learning".into(),                          // ServiceCategory
        r.service_name.into(),                                     // ServiceName
        "AI Platforms".into(),                                     // ServiceSubcategory
        r.sku_id.clone(),                                          // SkuId
        r.sku_meter.clone(),                                       // SkuMeter
        r.sku_price_details.clone(),                               // SkuPriceDetails
        r.sku_price_id.clone(),                                    // SkuPriceId
        a.subscription_id.clone(),                                 // SubAccountId
        a.subscription_name.clone(),                               // SubAccountName
        "Subscription".into(),                                     // SubAccountType
    ];
    debug_assert_eq!(v.len(), FOCUS_COLUMNS.len());
    v.push(opt(r.deployment.clone()));
    v.push(r.deployment_type.clone());
    v.push(r.model.clone());
    for (i, d) in cfg.by.iter().enumerate() {
        if BUILT_IN.contains(&d.as_str()) {
            continue;
        }
        v.push(opt(r.dims.as_ref().and_then(|k| k.get(i).cloned())));
    }
    v.push(opt(r.allocation_method.map(str::to_string)));
    v.push(opt(r.allocation_ratio.map(|x| fixed(x, QTY_DP))));
    v
}

fn write_rows(l: &Ledger, cfg: &Config, path: &Path, fmt: OutFormat) -> anyhow::Result<()> {
    let head = header(&cfg.by);
    match fmt {
        OutFormat::Csv => {
            let mut w =
                csv::Writer::from_writer(std::io::BufWriter::new(std::fs::File::create(path)?));
            w.write_record(&head)?;
            for r in &l.rows {
                w.write_record(record(r, cfg))?;
            }
            w.flush()?;
        }
        OutFormat::Parquet => {
            use polars::prelude::*;
            let records: Vec<Vec<String>> = l.rows.iter().map(|r| record(r, cfg)).collect();
            let columns: Vec<Column> = head
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let vals: Vec<Option<&str>> = records
                        .iter()
                        .map(|r| (!r[i].is_empty()).then_some(r[i].as_str()))
                        .collect();
                    Column::new(name.as_str().into(), vals)
                })
                .collect();
            let mut df = DataFrame::new(records.len(), columns)?;
            ParquetWriter::new(std::fs::File::create(path)?).finish(&mut df)?;
        }
    }
    Ok(())
}
