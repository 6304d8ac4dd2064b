//! The cost rows as specifications: FOCUS's worked example, exact splits, and reconciliation
//! over random workloads.

use super::*;
use proptest::prelude::{ProptestConfig, any, prop_assert, prop_assert_eq, proptest};

fn account() -> Account {
    Account {
        billing_account_id: "ba".into(),
        billing_account_name: "Contoso".into(),
        subscription_id: "sub".into(),
        subscription_name: "prod".into(),
        resource_group: "rg-ai".into(),
    }
}

fn global_price() -> PtuPrice {
    PtuPrice {
        deployment_type: PtuType::Global,
        hourly: 1.0,
        monthly_reservation: 260.0,
        yearly_reservation: 2652.0,
        as_of: "t".into(),
        source: "t".into(),
        uncertain: false,
    }
}

fn ptu(capacity: u32, reserved: u32) -> PtuLine {
    PtuLine {
        deployment: "ptu".into(),
        region: ("swedencentral".into(), "Sweden Central".into()),
        model: "gpt-4o".into(),
        sku: Sku::GlobalProvisionedManaged,
        deployment_type: PtuType::Global,
        capacity,
        reserved,
        input_tpm_per_ptu: 2500.0,
        price: global_price(),
    }
}

fn meter() -> Meter {
    Meter {
        deployment: Some("payg".into()),
        region: Some(("swedencentral".into(), "Sweden Central".into())),
        model: "gpt-4o".into(),
        sku: Sku::GlobalStandard,
        input: Decimal::new(25, 1),
        cached: Decimal::new(125, 2),
        output: Decimal::new(10, 0),
    }
}

/// 2026-06-10 12:00 UTC.
const JUNE: i64 = 1_781_092_800_000_000;

fn work(t_us: i64, billed: Billed, group: u32, weighted: f64) -> Work {
    Work {
        t_us,
        billed,
        group,
        uncached: 1_000,
        cached: 100,
        completion: 200,
        weighted,
    }
}

fn groups() -> Vec<Vec<String>> {
    vec![vec!["tenant-a".into()], vec!["tenant-b".into()]]
}

#[test]
fn reservation_month_amortizes_to_the_purchase_and_shows_back_by_token_share() {
    // 100 PTU on a 1-month reservation in June (720 h): $26,000. Two tenants use 60 % and 40 %
    // of the capacity of the one hour they send traffic in; every other hour is idle.
    let hour_capacity = 100.0 * 2500.0 * 60.0;
    let work = [
        work(JUNE, Billed::Ptu(0), 0, 0.6 * hour_capacity),
        work(JUNE + 1, Billed::Ptu(0), 1, 0.4 * hour_capacity),
    ];
    let (acct, g) = (account(), groups());
    let input = CostInput {
        period: Period::Month,
        reservation: Reservation::Monthly,
        account: &acct,
        meters: &[],
        ptus: &[ptu(100, 100)],
        work: &work,
        groups: &g,
        dims: &["tenant".into()],
    };
    let l = ledger(&input).unwrap();
    l.reconcile().unwrap();
    let purchase: Vec<&Row> = l
        .rows
        .iter()
        .filter(|r| r.charge_category == "Purchase")
        .collect();
    assert_eq!(purchase.len(), 1);
    assert_eq!(purchase[0].billed_cost, Decimal::from(26_000));
    assert_eq!(purchase[0].effective_cost, Decimal::ZERO);
    assert_eq!(
        purchase[0].commitment.as_ref().unwrap().quantity,
        Decimal::from(72_000)
    );
    // The month is one charge period: the tenants used 60 % and 40 % of one hour of 720.
    let used: Vec<&Row> = l
        .rows
        .iter()
        .filter(|r| {
            r.commitment
                .as_ref()
                .is_some_and(|c| c.status == Some("Used"))
        })
        .collect();
    let total: Decimal = used.iter().map(|r| r.effective_cost).sum();
    assert_eq!(total, Decimal::from(26_000));
    let a = used
        .iter()
        .find(|r| r.dims.as_deref() == Some(&["tenant-a".to_string()][..]))
        .unwrap();
    // 60 % of 1/720 of $26,000 = $21.666…
    assert!((a.effective_cost - Decimal::new(21_6666666667, 10)).abs() < Decimal::new(1, 8));
    assert!(used.iter().all(|r| r.billed_cost.is_zero()));
    assert!(used.iter().all(|r| r.pricing_category == "Committed"));
    assert_eq!(l.total_usd, l.billed_usd);
}

#[test]
fn reserved_beyond_the_capacity_is_unused_and_capacity_beyond_the_reservation_bills_hourly() {
    let (acct, g) = (account(), groups());
    let work = [work(JUNE, Billed::Ptu(0), 0, 1.0)];
    for (capacity, reserved) in [(100, 120), (120, 100)] {
        let ptus = [ptu(capacity, reserved)];
        let input = CostInput {
            period: Period::Day,
            reservation: Reservation::Yearly,
            account: &acct,
            meters: &[],
            ptus: &ptus,
            work: &work,
            groups: &g,
            dims: &["tenant".into()],
        };
        let l = ledger(&input).unwrap();
        l.reconcile()
            .unwrap_or_else(|e| panic!("{capacity}/{reserved}: {e}"));
        let unused = l
            .rows
            .iter()
            .filter(|r| {
                r.commitment
                    .as_ref()
                    .is_some_and(|c| c.status == Some("Unused"))
            })
            .count();
        let overage = l
            .rows
            .iter()
            .filter(|r| r.pricing_category == "Standard" && r.charge_category == "Usage")
            .count();
        if reserved > capacity {
            assert_eq!(unused, 30, "one Unused row per day of June");
            assert_eq!(overage, 0);
        } else {
            assert_eq!(unused, 0);
            assert!(
                overage >= 30,
                "the 20 PTU over the reservation bill hourly every day"
            );
        }
    }
}

#[test]
fn splits_are_exact_and_follow_the_weights() {
    let w = [Decimal::from(1), Decimal::from(1), Decimal::from(1)];
    let s = split(Decimal::from(100), &w, 2);
    assert_eq!(s.iter().copied().sum::<Decimal>(), Decimal::from(100));
    assert_eq!(
        s,
        vec![
            Decimal::new(3334, 2),
            Decimal::new(3333, 2),
            Decimal::new(3333, 2)
        ]
    );
    assert_eq!(
        split(Decimal::from(7), &[Decimal::ZERO, Decimal::ZERO], 2)[0],
        Decimal::from(7)
    );
}

#[test]
fn payg_rows_price_each_token_kind_per_million() {
    let (acct, g) = (account(), groups());
    let work = [work(JUNE, Billed::Payg(0), 0, 0.0)];
    let m = [meter()];
    let input = CostInput {
        period: Period::Hour,
        reservation: Reservation::Monthly,
        account: &acct,
        meters: &m,
        ptus: &[],
        work: &work,
        groups: &g,
        dims: &["tenant".into()],
    };
    let l = ledger(&input).unwrap();
    l.reconcile().unwrap();
    assert_eq!(l.rows.len(), 3);
    // 1,000 × $2.50 + 100 × $1.25 + 200 × $10 per million = $0.004625.
    assert_eq!(l.total_usd, Decimal::new(4625, 6));
    for r in &l.rows {
        assert_eq!(
            r.list_cost,
            r.list_unit_price.unwrap() * r.pricing_quantity.unwrap()
        );
        assert_eq!(r.pricing_unit, Some("1000000 Tokens"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any workload, period and purchase: every period's rows add up to its bill, every
    /// reservation month to its purchase, and Σ BilledCost = Σ EffectiveCost.
    #[test]
    fn every_ledger_reconciles(
        seed in any::<u64>(),
        n in 1usize..200,
        period in 0usize..3,
        reservation in 0usize..3,
        capacity in 1u32..400,
        reserved in 0u32..400,
    ) {
        let mut rng = crate::sim::Rng::new(seed);
        let (acct, g) = (account(), groups());
        let m = [meter()];
        let ptus = [ptu(capacity, reserved)];
        let work: Vec<Work> = (0..n)
            .map(|_| Work {
                t_us: JUNE + (rng.next_u64() % (40 * 24 * HOUR_US as u64)) as i64,
                billed: if rng.below(2) == 0 { Billed::Payg(0) } else { Billed::Ptu(0) },
                group: rng.below(2) as u32,
                uncached: rng.below(100_000) as u64,
                cached: rng.below(10_000) as u64,
                completion: rng.below(5_000) as u64,
                weighted: rng.below(10_000_000) as f64,
            })
            .collect();
        let input = CostInput {
            period: [Period::Hour, Period::Day, Period::Month][period],
            reservation: Reservation::ALL[reservation],
            account: &acct,
            meters: &m,
            ptus: &ptus,
            work: &work,
            groups: &g,
            dims: &["tenant".into()],
        };
        let l = ledger(&input).unwrap();
        prop_assert!(l.reconcile().is_ok(), "{:?}", l.reconcile());
        prop_assert_eq!(l.total_usd, l.billed_usd);
        for r in &l.rows {
            prop_assert_eq!(r.list_cost, (r.list_unit_price.unwrap() * r.pricing_quantity.unwrap()).round_dp(MONEY_DP));
            prop_assert!(r.effective_cost >= Decimal::ZERO);
        }
    }
}
