//! The planner's search, as specifications.

use super::*;
use crate::catalog::Catalog;
use crate::sim::workload::{MaxTokensEstimate, Synthetic};

fn topo(ptu_extra: &str, payg_capacity: u32) -> Topology {
    let text = format!(
        "[[region]]\nname = \"r\"\nrtt_ms = 0\n\
         [[deployment]]\nname = \"ptu\"\nregion = \"r\"\nmodel = \"gpt-4o\"\nsku = \"GlobalProvisionedManaged\"\ncapacity = \"auto\"\nttft_ms = 100\noutput_tokens_per_s = 100\n{ptu_extra}\n\
         [[deployment]]\nname = \"payg\"\nregion = \"r\"\nmodel = \"gpt-4o\"\nsku = \"GlobalStandard\"\ncapacity = {payg_capacity}\nttft_ms = 100\noutput_tokens_per_s = 100\n\
         [gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"ptu\", priority = 1 }}, {{ deployment = \"payg\", priority = 2 }}]\n\
         [client]\nmax_retries = 2\n"
    );
    Topology::parse_with(
        &text,
        "plan.toml",
        &Catalog::embedded(),
        &crate::sim::topology::ParseOptions {
            allow_auto: true,
            model: None,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn steady(spec: &str) -> Vec<SimRequest> {
    Synthetic::parse(spec)
        .unwrap()
        .generate(1, MaxTokensEstimate::Actual)
}

fn scenario<'a>(t: &'a Topology, reqs: &'a [SimRequest], slo: ServiceLevel) -> Scenario<'a> {
    let span_h = (reqs.last().unwrap().t_us - reqs[0].t_us) as f64 / 3.6e9;
    Scenario {
        topo: t,
        sized: &[0],
        reqs,
        seed: 1,
        reservation: Reservation::Monthly,
        month_factor: HOURS_PER_MONTH / span_h,
        slo,
    }
}

const STRICT: ServiceLevel = ServiceLevel {
    max_failure_rate: 0.001,
    max_p99_latency_ms: None,
    max_spill: Some(0.001),
};

#[test]
fn steady_traffic_is_sized_within_one_increment_of_the_calculator() {
    // 45 RPM of 1,000 + 200 tokens: the calculator says 32.4 → 35 PTU of gpt-4o.
    let reqs = steady("rate=45/min,prompt=1000,completion=200,duration=2h,arrivals=constant");
    let t = topo("", 450);
    let sc = scenario(&t, &reqs, STRICT);
    let s = search(&sc, &[35], &[vec![35]], 40, &|_| {}).unwrap();
    let rec = &s.candidates[s.recommended.expect("a size meets it")];
    let c = rec.capacities[0];
    assert!((30..=40).contains(&c), "recommended {c} PTU");
}

#[test]
fn every_candidate_is_a_valid_size_and_none_that_meets_is_cheaper() {
    let reqs = steady("rate=200/min,prompt=2000,completion=300,duration=30m");
    let t = topo("", 450);
    let sc = scenario(
        &t,
        &reqs,
        ServiceLevel {
            max_failure_rate: 0.001,
            max_p99_latency_ms: None,
            max_spill: None,
        },
    );
    let s = search(&sc, &[100], &[vec![0]], 24, &|_| {}).unwrap();
    let rule = sc.rule(0);
    for c in &s.candidates {
        let x = c.capacities[0];
        assert!(
            x == 0 || rule.valid(x),
            "{x} PTU is not a size Azure accepts"
        );
    }
    let rec = &s.candidates[s.recommended.expect("something meets it")];
    assert!(rec.meets);
    for c in s.candidates.iter().filter(|c| c.meets) {
        assert!(c.monthly_cost_usd >= rec.monthly_cost_usd);
    }
}

#[test]
fn growth_never_lowers_the_recommendation_and_cache_hits_never_raise_it() {
    let base = steady("rate=120/min,prompt=3000,completion=200,duration=40m");
    let rec = |reqs: &[SimRequest]| {
        let t = topo("", 1);
        let sc = scenario(&t, reqs, STRICT);
        let s = search(&sc, &[60], &[], 40, &|_| {}).unwrap();
        s.recommended.map(|i| s.candidates[i].capacities[0])
    };
    let grown = steady("rate=240/min,prompt=3000,completion=200,duration=40m");
    let cached: Vec<SimRequest> = base
        .iter()
        .map(|r| SimRequest { cached: 2048, ..*r })
        .collect();
    let (b, g, c) = (rec(&base), rec(&grown), rec(&cached));
    assert!(g >= b, "growth: {g:?} < {b:?}");
    assert!(c <= b, "cache hits: {c:?} > {b:?}");
}

#[test]
fn a_trace_with_idle_nights_and_a_short_peak_is_cheaper_on_a_base_plus_hourly_top_ups() {
    // Three days: 07:00–19:00 UTC at 20 RPM, 10:00–12:00 at 300 RPM, nothing at night.
    let mut reqs = Vec::new();
    for day in 0..3i64 {
        for minute in 0..24 * 60i64 {
            let h = minute / 60;
            let rpm = match h {
                10 | 11 => 300,
                7..=18 => 20,
                _ => 0,
            };
            for k in 0..rpm {
                reqs.push(SimRequest {
                    t_us: ((day * 24 * 60 + minute) * 60 + k * 60 / rpm) * 1_000_000,
                    prompt: 1_000,
                    completion: 100,
                    cached: 0,
                    max_tokens: 100,
                    key: 0,
                    budget: crate::sim::Budget::Estimated,
                });
            }
        }
    }
    let t = topo("", 1);
    let slo = ServiceLevel {
        max_failure_rate: 0.001,
        max_p99_latency_ms: None,
        max_spill: Some(0.01),
    };
    let sc = scenario(&t, &reqs, slo);
    let s = search(&sc, &[200], &[], 30, &|_| {}).unwrap();
    let rec = s.candidates[s.recommended.expect("a single size meets it")].clone();
    let mix = reservation_mix(&sc, &rec, &|_| {}).unwrap().expect("a mix");
    assert!(mix.meets, "{mix:?}");
    assert!(mix.base < rec.capacities[0], "{mix:?}");
    assert!(mix.schedule[10] > mix.schedule[3], "{mix:?}");
    assert!(
        mix.saving_usd > 0.0,
        "mix {} vs single {}",
        mix.monthly_cost_usd,
        rec.monthly_cost_usd
    );
}
