//! `spillway cost`: FOCUS 1.2 rows checked column by column against the reference's rules
//! (`../shared/reference/focus.md` §1, §2, §4), and reconciliation on every bundled sample.

use std::collections::HashMap;
use std::str::FromStr;

use predicates::prelude::*;
use rust_decimal::Decimal;

use crate::{json, repo, spillway};

fn path(p: &str) -> String {
    repo(p).display().to_string()
}

/// FOCUS 1.2 mandatory columns.
const MANDATORY: [&str; 21] = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
];

fn is_decimal(s: &str) -> bool {
    let t = s.strip_prefix('-').unwrap_or(s);
    let (i, f) = t.split_once('.').unwrap_or((t, "0"));
    !i.is_empty()
        && i.bytes().all(|b| b.is_ascii_digit())
        && !f.is_empty()
        && f.bytes().all(|b| b.is_ascii_digit())
}

fn is_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
}

/// Checks a FOCUS CSV row by row; returns the number of rows and Σ EffectiveCost.
pub fn check_focus_csv(text: &str) -> (usize, Decimal) {
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let head: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
    for m in MANDATORY {
        assert!(head.iter().any(|h| h == m), "mandatory column {m} missing");
    }
    let first_x = head
        .iter()
        .position(|h| h.starts_with("x_"))
        .unwrap_or(head.len());
    assert!(
        head[first_x..].iter().all(|h| h.starts_with("x_")),
        "x_ columns come after every FOCUS column"
    );
    let (mut billed, mut effective, mut n) = (Decimal::ZERO, Decimal::ZERO, 0);
    for rec in rd.records() {
        let rec = rec.unwrap();
        n += 1;
        let row: HashMap<&str, &str> = head.iter().map(String::as_str).zip(rec.iter()).collect();
        let at = |c: &str| -> Option<&str> { row.get(c).copied().filter(|v| !v.is_empty()) };
        let dec = |c: &str| -> Option<Decimal> {
            at(c).map(|v| {
                assert!(is_decimal(v), "row {n}: {c} = {v} is not a plain decimal");
                Decimal::from_str(v).unwrap()
            })
        };
        let ctx = format!("row {n}: {:?}", at("ChargeDescription"));
        for c in ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"] {
            assert!(dec(c).is_some(), "{ctx}: {c} is null");
        }
        for c in [
            "BillingAccountId",
            "BillingAccountName",
            "ProviderName",
            "PublisherName",
            "InvoiceIssuerName",
            "ServiceName",
            "ChargeDescription",
        ] {
            assert!(at(c).is_some(), "{ctx}: {c} is null");
        }
        assert_eq!(at("BillingCurrency"), Some("USD"), "{ctx}");
        assert_eq!(
            at("ServiceCategory"),
            Some("AI and Machine Learning"),
            "{ctx}"
        );
        for (s, e) in [
            ("BillingPeriodStart", "BillingPeriodEnd"),
            ("ChargePeriodStart", "ChargePeriodEnd"),
        ] {
            let (s, e) = (at(s).unwrap(), at(e).unwrap());
            assert!(is_datetime(s) && is_datetime(e), "{ctx}: {s} {e}");
            assert!(s < e, "{ctx}: start {s} is not before end {e}");
        }
        let category = at("ChargeCategory").unwrap();
        assert!(
            ["Usage", "Purchase", "Tax", "Credit", "Adjustment"].contains(&category),
            "{ctx}"
        );
        assert!(at("ChargeClass").is_none_or(|c| c == "Correction"), "{ctx}");
        let freq = at("ChargeFrequency").unwrap();
        assert!(
            ["One-Time", "Recurring", "Usage-Based"].contains(&freq),
            "{ctx}"
        );
        let usage_or_purchase = matches!(category, "Usage" | "Purchase");
        if category == "Purchase" {
            assert_ne!(freq, "Usage-Based", "{ctx}");
        }
        let pricing = at("PricingCategory");
        if usage_or_purchase {
            assert!(
                ["Standard", "Dynamic", "Committed", "Other"].contains(&pricing.unwrap()),
                "{ctx}"
            );
            assert!(dec("PricingQuantity").is_some(), "{ctx}: PricingQuantity");
            assert!(
                at("SkuId").is_some() && at("SkuPriceId").is_some() && at("SkuMeter").is_some(),
                "{ctx}"
            );
            let lup = dec("ListUnitPrice").expect("ListUnitPrice on Usage/Purchase");
            let cup = dec("ContractedUnitPrice").expect("ContractedUnitPrice");
            assert!(lup >= Decimal::ZERO && cup >= Decimal::ZERO, "{ctx}");
            let q = dec("PricingQuantity").unwrap();
            assert_eq!(
                dec("ListCost").unwrap(),
                lup * q,
                "{ctx}: ListCost = ListUnitPrice × PricingQuantity"
            );
            assert_eq!(
                dec("ContractedCost").unwrap(),
                cup * q,
                "{ctx}: ContractedCost"
            );
        }
        assert_eq!(
            at("PricingUnit").is_some(),
            at("PricingQuantity").is_some(),
            "{ctx}: PricingUnit"
        );
        assert_eq!(
            at("ConsumedUnit").is_some(),
            at("ConsumedQuantity").is_some(),
            "{ctx}: ConsumedUnit"
        );
        if category != "Usage" {
            assert!(
                at("ConsumedQuantity").is_none(),
                "{ctx}: ConsumedQuantity only on Usage"
            );
        }
        let cd = at("CommitmentDiscountId");
        for c in [
            "CommitmentDiscountName",
            "CommitmentDiscountCategory",
            "CommitmentDiscountType",
            "CommitmentDiscountUnit",
            "CommitmentDiscountQuantity",
        ] {
            assert_eq!(
                at(c).is_some(),
                cd.is_some(),
                "{ctx}: {c} follows CommitmentDiscountId"
            );
        }
        if cd.is_some() {
            assert!(
                ["Spend", "Usage"].contains(&at("CommitmentDiscountCategory").unwrap()),
                "{ctx}"
            );
        }
        let status = at("CommitmentDiscountStatus");
        if pricing == Some("Committed") {
            assert!(cd.is_some(), "{ctx}: Committed only under a commitment");
        }
        match (category, status) {
            ("Purchase", s) => {
                assert!(s.is_none(), "{ctx}");
                assert_eq!(
                    dec("EffectiveCost").unwrap(),
                    Decimal::ZERO,
                    "{ctx}: a purchase is amortized"
                );
                assert_eq!(pricing, Some("Standard"), "{ctx}");
                if cd.is_some() {
                    assert_eq!(
                        at("ResourceId"),
                        cd,
                        "{ctx}: ResourceId = CommitmentDiscountId"
                    );
                }
            }
            ("Usage", Some("Unused")) => {
                assert!(at("ConsumedQuantity").is_none(), "{ctx}");
                assert_eq!(at("ResourceId"), cd, "{ctx}");
                assert_eq!(dec("BilledCost").unwrap(), Decimal::ZERO, "{ctx}");
            }
            ("Usage", Some("Used")) => {
                assert!(at("ConsumedQuantity").is_some(), "{ctx}");
            }
            ("Usage", None) => {
                assert!(
                    cd.is_none(),
                    "{ctx}: a Usage row with a commitment has a status"
                );
                assert!(at("ConsumedQuantity").is_some(), "{ctx}");
                assert_eq!(
                    dec("BilledCost"),
                    dec("EffectiveCost"),
                    "{ctx}: no commitment, billed = effective"
                );
            }
            other => panic!("{ctx}: unexpected {other:?}"),
        }
        assert_eq!(
            at("RegionName").is_some(),
            at("RegionId").is_some(),
            "{ctx}: RegionName"
        );
        assert_eq!(
            at("ResourceType").is_some(),
            at("ResourceId").is_some(),
            "{ctx}: ResourceType"
        );
        if at("ResourceId").is_none() {
            assert!(at("ResourceName").is_none(), "{ctx}");
        }
        if let Some(id) = at("ResourceId") {
            assert_eq!(
                id,
                id.to_lowercase(),
                "{ctx}: Azure ResourceIds are lower case"
            );
        }
        assert_eq!(
            at("SubAccountName").is_some(),
            at("SubAccountId").is_some(),
            "{ctx}"
        );
        if let Some(d) = at("SkuPriceDetails") {
            let v: serde_json::Value = serde_json::from_str(d).expect("SkuPriceDetails is JSON");
            let o = v.as_object().expect("a JSON object");
            for (k, v) in o {
                assert!(k.starts_with("x_"), "{ctx}: non-FOCUS key {k}");
                assert!(!v.is_object() && !v.is_array(), "{ctx}: nested value");
            }
        }
        billed += dec("BilledCost").unwrap();
        effective += dec("EffectiveCost").unwrap();
    }
    assert_eq!(billed, effective, "Σ BilledCost = Σ EffectiveCost");
    (n, effective)
}

fn cost(args: &[&str]) -> (serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("costs.csv");
    let mut all: Vec<&str> = args.to_vec();
    let o = out.to_str().unwrap().to_string();
    all.extend(["--out", &o, "--format", "json"]);
    let res = spillway().arg("cost").args(&all).output().unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    (json(&res.stdout), std::fs::read_to_string(&out).unwrap())
}

#[test]
fn every_bundled_sample_reconciles_and_follows_focus_row_by_row() {
    let samples = [
        "samples/chat-log.jsonl.gz",
        "samples/AzureLLMInferenceTrace_conv_2023.csv",
        "samples/AzureLLMInferenceTrace_code_2023.csv",
        "samples/BurstGPT_1_first400.csv",
    ];
    for s in samples {
        for (topo, period, reservation) in [
            (None, "day", "monthly"),
            (
                Some("samples/topology-ptu-spillover.toml"),
                "hour",
                "monthly",
            ),
            (Some("samples/topology-apim-priority.toml"), "day", "yearly"),
            (Some("samples/topology-apim-pool.toml"), "month", "hourly"),
        ] {
            let p = path(s);
            let t = topo.map(path);
            let mut args = vec![p.as_str(), "--period", period, "--reservation", reservation];
            if let Some(t) = &t {
                args.extend(["-t", t.as_str()]);
            }
            if s.ends_with(".jsonl.gz") {
                args.extend(["--by", "tenant,model"]);
            }
            let (v, csv) = cost(&args);
            assert_eq!(
                v["reconciled"], true,
                "{s} {topo:?}: {}",
                v["reconcile_error"]
            );
            let (rows, total) = check_focus_csv(&csv);
            assert_eq!(rows as u64, v["rows"].as_u64().unwrap());
            assert_eq!(
                format!("{:.2}", total.round_dp(2)),
                v["total_usd"].as_str().unwrap(),
                "{s} {topo:?}: the rows add up to the summary"
            );
        }
    }
}

#[test]
fn tenant_showback_adds_up_to_the_bill() {
    let (v, csv) = cost(&[
        &path("samples/chat-log.jsonl.gz"),
        "-t",
        &path("samples/topology-apim-priority.toml"),
        "--by",
        "tenant",
        "--period",
        "month",
    ]);
    let groups = v["by_group"].as_array().unwrap();
    let sum: Decimal = groups
        .iter()
        .map(|g| Decimal::from_str(g["total_usd"].as_str().unwrap()).unwrap())
        .sum();
    let total = Decimal::from_str(v["total_usd"].as_str().unwrap()).unwrap();
    assert!((sum - total).abs() <= Decimal::new(1, 2) * Decimal::from(groups.len()));
    assert!(csv.lines().next().unwrap().contains("x_TenantId"));
    // One Purchase row for the month's 15-PTU reservation: 15 × $260.
    let purchase: Vec<&str> = csv.lines().filter(|l| l.contains(",Purchase,")).collect();
    assert_eq!(purchase.len(), 1);
    assert!(
        purchase[0].starts_with(",3900.0000000000,"),
        "{}",
        purchase[0]
    );
}

#[test]
fn mistakes_are_refused_before_reading() {
    spillway()
        .args([
            "cost",
            &path("samples/chat-log.jsonl.gz"),
            "--by",
            "deployment",
        ])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("--by deployment").and(predicate::str::contains("topology")),
        );
    spillway()
        .args([
            "cost",
            &path("samples/chat-log.jsonl.gz"),
            "--out",
            "c.xlsx",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(".csv or .parquet"));
    spillway()
        .args([
            "cost",
            &path("samples/chat-log.jsonl.gz"),
            "--sku",
            "GlobalProvisionedManaged",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("per PTU"));
}

#[test]
fn parquet_rows_match_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("costs.parquet");
    spillway()
        .args([
            "cost",
            &path("samples/chat-log.jsonl.gz"),
            "--by",
            "tenant",
            "--out",
            pq.to_str().unwrap(),
        ])
        .assert()
        .success();
    let bytes = std::fs::read(&pq).unwrap();
    assert_eq!(&bytes[..4], b"PAR1");
}
