//! Scenario tests: one per documented behaviour of the serving chain, and one per fault found in
//! the field (named for what went wrong). Each checks the engine's invariants too
//! ([`check_invariants`]); `properties` checks them over random topologies and workloads.

use super::engine::{events_per_request_bound, service_us};
use super::workload::{MaxTokensEstimate, Synthetic};
use super::*;
use crate::catalog::Catalog;

const S: i64 = 1_000_000;

/// A region block, with RTT 0 so that times in tests are exact.
const REGION: &str = "[[region]]\nname = \"r\"\nrtt_ms = 0\n";

fn topo(body: &str) -> Topology {
    let text = format!("{REGION}{body}");
    Topology::parse(&text, "test.toml", &Catalog::embedded()).unwrap_or_else(|e| panic!("{e}"))
}

/// A deployment row.
fn dep(name: &str, sku: &str, capacity: u32, extra: &str) -> String {
    format!(
        "[[deployment]]\nname = \"{name}\"\nregion = \"r\"\nmodel = \"gpt-4o\"\nsku = \"{sku}\"\ncapacity = {capacity}\nttft_ms = 100\noutput_tokens_per_s = 100\n{extra}\n"
    )
}

fn req(t_us: i64, prompt: u32, completion: u32) -> SimRequest {
    SimRequest {
        t_us,
        prompt,
        completion,
        cached: 0,
        max_tokens: completion,
        key: 0,
        budget: Budget::Estimated,
    }
}

fn recorded(seed: u64) -> SimOptions {
    SimOptions {
        record: true,
        ..SimOptions::seeded(seed)
    }
}

fn run_recorded(t: &Topology, reqs: &[SimRequest], seed: u64) -> SimReport {
    let r = run(t, reqs, recorded(seed)).unwrap_or_else(|e| panic!("{e}"));
    check_invariants(t, reqs, &r);
    r
}

/// The engine's invariants, on any run.
pub(super) fn check_invariants(t: &Topology, reqs: &[SimRequest], r: &SimReport) {
    assert_eq!(r.arrived, reqs.len() as u64);
    assert_eq!(
        r.arrived,
        r.succeeded + r.failed,
        "arrived = succeeded + failed"
    );
    assert!(
        r.events <= reqs.len() as u64 * events_per_request_bound(t),
        "{} events for {} requests",
        r.events,
        reqs.len()
    );
    let recs = r.requests.as_ref().expect("recorded");
    for (i, o) in recs.iter().enumerate() {
        assert_eq!(o.ends, 1, "request {i} ended {} times", o.ends);
        assert!(
            o.client_retries <= t.client.max_retries,
            "request {i}: {} client retries",
            o.client_retries
        );
        assert!(
            o.gateway_retries <= (t.client.max_retries + 1) * t.gateway.retries,
            "request {i}: {} gateway retries",
            o.gateway_retries
        );
        assert!(o.answers <= 1, "request {i} answered {} times", o.answers);
        assert_eq!(o.served_by.is_some(), o.answers == 1, "request {i}");
        if let Some(d) = o.served_by {
            let dep = &t.deployments[d];
            let min = service_us(dep, &reqs[i]).0 + t.regions[dep.region].rtt_us;
            assert!(
                o.latency_us >= min,
                "request {i}: latency {} µs below its service time {min} µs",
                o.latency_us
            );
        }
    }
    let served: u64 = recs.iter().filter(|o| o.served_by.is_some()).count() as u64;
    assert_eq!(served, r.succeeded);
    let (mut work, mut late) = (0, 0);
    for d in &r.deployments {
        assert!(
            d.attempts >= d.successes,
            "{}: {} served of {} attempts",
            d.name,
            d.successes,
            d.attempts
        );
        work += d.successes;
        late += d.late;
    }
    assert_eq!(
        work,
        r.succeeded + late,
        "every piece of work done is either delivered or late"
    );
}

fn served_by(r: &SimReport, i: usize) -> Option<usize> {
    r.requests.as_ref().unwrap()[i].served_by
}

/// 15 PTU of gpt-4o: drains 625 tokens/s, 100% = 37,500 tokens (60 s).
fn ptu_and_payg(gateway_extra: &str, ptu_extra: &str) -> Topology {
    topo(&format!(
        "{}{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"ptu\", priority = 1 }}, {{ deployment = \"payg\", priority = 2 }}]\n{gateway_extra}\n",
        dep("ptu", "GlobalProvisionedManaged", 15, ptu_extra),
        dep("payg", "GlobalStandard", 450, "")
    ))
}

/// A request that fills the 15-PTU bucket to 43,750 tokens: 6,250 over 100%, i.e. 10 s of drain.
fn filler(t: i64) -> SimRequest {
    req(t, 43_750, 0)
}

#[test]
fn priority_backend_throttled_sends_to_next_priority_at_once() {
    let t = ptu_and_payg("", "");
    let r = run_recorded(&t, &[filler(0), req(1_000, 100, 10)], 1);
    assert_eq!(served_by(&r, 0), Some(0));
    assert_eq!(served_by(&r, 1), Some(1));
    assert_eq!(r.gateway_retries, 1);
    assert_eq!(r.client_retries, 0);
    // No waiting: the second request's latency is its own service time (100 ms + 0.1 s).
    assert_eq!(r.requests.as_ref().unwrap()[1].latency_us, 200_000);
    assert_eq!(r.deployments[0].throttled, 1);
    assert_eq!(r.spillover_share.requests, 0.5);
}

#[test]
fn retry_after_benches_a_backend_exactly_that_long() {
    let t = ptu_and_payg("", "");
    // 429 at 1 ms with retry-after-ms 9,998.4 → Retry-After: 10 s → benched until 10.001 s.
    let reqs = [
        filler(0),
        req(1_000, 10, 0),
        req(10 * S, 10, 0),
        req(10 * S + 2_000, 10, 0),
    ];
    let r = run_recorded(&t, &reqs, 1);
    assert_eq!(served_by(&r, 1), Some(1));
    assert_eq!(
        served_by(&r, 2),
        Some(1),
        "still benched at 10.000 s: PTU not even tried"
    );
    assert_eq!(
        r.deployments[0].attempts, 3,
        "filler, the throttled one, and the one after the bench"
    );
    assert_eq!(
        served_by(&r, 3),
        Some(0),
        "bench over at 10.001 s: PTU again"
    );
}

#[test]
fn missing_retry_after_benches_for_the_default_ten_seconds() {
    let t = ptu_and_payg("default_retry_after_s = 10", "retry_after_header = false");
    // The bucket is below 100% again after ~10 s of drain, but without the header the
    // backend stays benched for the default.
    let reqs = [
        req(0, 40_000, 0),
        req(1_000, 10, 0),
        req(9 * S, 10, 0),
        req(10 * S + 2_000, 10, 0),
    ];
    let r = run_recorded(&t, &reqs, 1);
    assert_eq!(served_by(&r, 1), Some(1));
    assert_eq!(served_by(&r, 2), Some(1));
    assert_eq!(served_by(&r, 3), Some(0));
}

#[test]
fn all_backends_throttled_goes_to_first_backend_without_gateway_retry() {
    // Both deployments full: 15 PTU and a Standard deployment of 1K TPM (6 RPM → 1 per 10 s).
    let t = topo(&format!(
        "{}{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"ptu\", priority = 1 }}, {{ deployment = \"payg\", priority = 2 }}]\n[client]\nmax_retries = 0\n",
        dep("ptu", "GlobalProvisionedManaged", 15, ""),
        dep("payg", "GlobalStandard", 1, "")
    ));
    let reqs = [
        filler(0),
        req(1_000, 10, 0),
        req(2_000, 10, 0),
        req(3_000, 10, 0),
    ];
    let r = run_recorded(&t, &reqs, 1);
    // #1: PTU 429 → payg (1st request of its 10 s window). #2: PTU benched → payg 429 → both
    // benched → client gets 429. #3: all benched → first backend (PTU) → 429, no retry.
    assert_eq!(served_by(&r, 1), Some(1));
    assert_eq!(served_by(&r, 2), None);
    assert_eq!(served_by(&r, 3), None);
    assert_eq!(r.deployments[0].attempts, 3);
    assert_eq!(r.requests.as_ref().unwrap()[3].gateway_retries, 0);
    assert_eq!(r.failures.throttled, 2);
}

#[test]
fn idle_gateway_forgets_throttling_after_the_cache_ttl() {
    let t = ptu_and_payg("state_ttl_s = 60", "retry_after_header = false");
    let t = Topology {
        gateway: Gateway {
            default_retry_after_us: 120 * S,
            ..t.gateway.clone()
        },
        ..t
    };
    // Benched for 120 s, but nothing touches the cache for > 60 s: the list is rebuilt healthy.
    let reqs = [filler(0), req(1_000, 10, 0), req(62 * S, 10, 0)];
    let r = run_recorded(&t, &reqs, 1);
    assert_eq!(served_by(&r, 1), Some(1));
    assert_eq!(served_by(&r, 2), Some(0));
}

use super::topology::Gateway;

fn pool(policy: &str, weights: (u32, u32), breaker: &str) -> Topology {
    topo(&format!(
        "{}{}[gateway]\npolicy = \"{policy}\"\nbackends = [{{ deployment = \"a\", weight = {} }}, {{ deployment = \"b\", weight = {} }}]\n{breaker}\n",
        dep("a", "GlobalStandard", 10_000, ""),
        dep("b", "GlobalStandard", 10_000, ""),
        weights.0,
        weights.1
    ))
}

#[test]
fn weighted_shares_converge_to_the_weights() {
    let t = pool("weighted", (3, 1), "");
    let reqs: Vec<SimRequest> = (0..40_000).map(|i| req(i * 1_000, 10, 1)).collect();
    let r = run_recorded(&t, &reqs, 42);
    let a = r.deployments[0].successes as f64 / r.succeeded as f64;
    assert!((a - 0.75).abs() < 0.01, "{a}");
}

#[test]
fn round_robin_alternates() {
    let t = pool("round-robin", (1, 1), "");
    let reqs: Vec<SimRequest> = (0..10).map(|i| req(i * 1_000, 10, 1)).collect();
    let r = run_recorded(&t, &reqs, 1);
    let order: Vec<usize> = (0..10).map(|i| served_by(&r, i).unwrap()).collect();
    assert_eq!(order, vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
}

#[test]
fn circuit_breaker_trips_and_recovers() {
    // Backend a: 1K TPM → 1 request per 10 s window; b is large. Trip on 1 failure for 30 s.
    let t = topo(&format!(
        "{}{}[gateway]\npolicy = \"round-robin\"\nbackends = [{{ deployment = \"a\" }}, {{ deployment = \"b\" }}]\ncircuit_breaker = {{ failures = 1, interval_s = 60, trip_s = 30 }}\n[client]\nmax_retries = 0\n",
        dep("a", "GlobalStandard", 1, ""),
        dep("b", "GlobalStandard", 10_000, "")
    ));
    let reqs: Vec<SimRequest> = (0..8)
        .map(|i| req(i * 1_000, 10, 1))
        .chain([req(31 * S, 10, 1), req(31 * S + 1_000, 10, 1)])
        .collect();
    let r = run_recorded(&t, &reqs, 1);
    // 0 → a (ok), 1 → b, 2 → a: 429 → trips a → pool retry → b; then b only until 30.002 s.
    assert_eq!(served_by(&r, 0), Some(0));
    assert_eq!(served_by(&r, 2), Some(1));
    for i in 3..8 {
        assert_eq!(served_by(&r, i), Some(1), "request {i} while a is tripped");
    }
    assert_eq!(r.deployments[0].throttled, 1);
    let after: Vec<Option<usize>> = (8..10).map(|i| served_by(&r, i)).collect();
    assert!(
        after.contains(&Some(0)),
        "a is back after the trip: {after:?}"
    );
}

#[test]
fn circuit_breaker_can_trip_for_the_retry_after() {
    let t = topo(&format!(
        "{}{}[gateway]\npolicy = \"round-robin\"\nbackends = [{{ deployment = \"a\" }}, {{ deployment = \"b\" }}]\ncircuit_breaker = {{ failures = 1, interval_s = 60, trip_s = 3600, accept_retry_after = true }}\n",
        dep("a", "GlobalStandard", 1, ""),
        dep("b", "GlobalStandard", 10_000, "")
    ));
    // a's 10-s RPM window ends at 10 s: Retry-After ≈ 10 s instead of the 1-hour trip.
    let reqs: Vec<SimRequest> = (0..3)
        .map(|i| req(i * 1_000, 10, 1))
        .chain((0..2).map(|i| req(11 * S + i, 10, 1)))
        .collect();
    let r = run_recorded(&t, &reqs, 1);
    assert!((3..5).any(|i| served_by(&r, i) == Some(0)));
}

#[test]
fn all_tripped_pool_answers_503() {
    let t = topo(&format!(
        "{}[gateway]\npolicy = \"round-robin\"\nbackends = [{{ deployment = \"a\" }}]\ncircuit_breaker = {{ failures = 1, interval_s = 60, trip_s = 30 }}\n[client]\nmax_retries = 0\n",
        dep("a", "GlobalStandard", 1, "")
    ));
    let reqs: Vec<SimRequest> = (0..3).map(|i| req(i * 1_000, 10, 1)).collect();
    let r = run_recorded(&t, &reqs, 1);
    assert_eq!(r.failures.throttled, 1);
    assert_eq!(r.failures.unavailable, 1);
}

#[test]
fn token_limit_rejects_a_tenant_over_its_tpm_and_not_the_others() {
    let t = topo(&format!(
        "{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"a\" }}]\ntoken_limit = {{ key = \"tenant\", tpm = 1000 }}\n[client]\nmax_retries = 0\n",
        dep("a", "GlobalStandard", 10_000, "")
    ));
    let mut reqs: Vec<SimRequest> = (0..3).map(|i| req(i * 1_000, 400, 0)).collect();
    reqs.push(SimRequest {
        key: 1,
        ..req(4_000, 400, 0)
    });
    reqs.push(req(61 * S, 400, 0));
    let r = run_recorded(&t, &reqs, 1);
    assert_eq!(served_by(&r, 0), Some(0));
    assert_eq!(served_by(&r, 1), Some(0));
    assert_eq!(
        served_by(&r, 2),
        None,
        "third 400-token prompt exceeds 1,000 TPM"
    );
    assert_eq!(
        served_by(&r, 3),
        Some(0),
        "another tenant has its own counter"
    );
    assert_eq!(served_by(&r, 4), Some(0), "the next minute starts afresh");
    assert_eq!(r.failures.token_limit, 1);
    assert_eq!(
        r.deployments[0].attempts, 4,
        "rejected before reaching the backend"
    );
}

#[test]
fn client_retries_after_token_limit_retry_after() {
    let t = topo(&format!(
        "{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"a\" }}]\ntoken_limit = {{ key = \"tenant\", tpm = 500 }}\n[client]\nmax_retries = 1\nbackoff = {{ honour_retry_after = true }}\n",
        dep("a", "GlobalStandard", 10_000, "")
    ));
    let reqs = [req(0, 400, 0), req(30 * S, 400, 0)];
    let r = run_recorded(&t, &reqs, 1);
    let o = r.requests.as_ref().unwrap()[1];
    assert_eq!(o.client_retries, 1);
    // Retried at the start of the next minute (Retry-After 30 s), then served (0.1 s).
    assert_eq!(o.latency_us, 30 * S + 100_000);
}

#[test]
fn native_spillover_serves_the_overflow_in_the_standard_deployment() {
    let t = topo(&format!(
        "{}{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"ptu\" }}]\n",
        dep(
            "ptu",
            "GlobalProvisionedManaged",
            15,
            "spillover = \"spill\""
        ),
        dep("spill", "GlobalStandard", 450, "")
    ));
    let r = run_recorded(&t, &[filler(0), req(1_000, 100, 10)], 1);
    assert_eq!(served_by(&r, 1), Some(1));
    assert_eq!(r.gateway_retries, 0, "spillover happens inside the service");
    assert_eq!(
        r.deployments[0].throttled, 1,
        "the PTU still records its 429"
    );
    assert_eq!(r.deployments[1].spilled_in, 1);
    assert_eq!(r.deployments[1].priority, None);
    assert_eq!(r.spillover_share.requests, 0.5);
}

#[test]
fn standard_deployment_throttles_at_its_documented_rpm() {
    // 10K TPM → 60 RPM → 10 requests per 10-s window.
    let t = topo(&format!(
        "{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"a\" }}]\n[client]\nmax_retries = 0\n",
        dep("a", "GlobalStandard", 10, "")
    ));
    let reqs: Vec<SimRequest> = (0..20).map(|i| req(i * 10_000, 10, 0)).collect();
    let r = run_recorded(&t, &reqs, 1);
    assert_eq!(r.succeeded, 10);
    assert_eq!(r.deployments[0].throttled, 10);
}

#[test]
fn standard_deployment_throttles_at_its_documented_tpm() {
    // 1K TPM, counted with prompt + max_tokens at arrival; RPM window of 60 s to isolate TPM.
    let t = topo(&format!(
        "{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"a\" }}]\n[client]\nmax_retries = 0\n",
        dep("a", "GlobalStandard", 1, "rpm_window_s = 60")
    ));
    let reqs = [
        req(0, 500, 100),
        req(1_000, 500, 100),
        req(2_000, 10, 0),
        req(60 * S, 10, 0),
    ];
    let r = run_recorded(&t, &reqs, 1);
    assert_eq!(served_by(&r, 0), Some(0));
    assert_eq!(
        served_by(&r, 1),
        Some(0),
        "600 + 600 crosses 1,000: the crossing request passes"
    );
    assert_eq!(served_by(&r, 2), None, "counter at the limit");
    assert_eq!(served_by(&r, 3), Some(0), "counter reset at the minute");
}

/// Steady constant load of 45 RPM, 1,000 prompt + 200 completion tokens, on gpt-4o.
fn steady(ptu: u32) -> SimReport {
    let t = topo(&format!(
        "{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"ptu\" }}]\n[client]\nmax_retries = 0\n",
        dep("ptu", "GlobalProvisionedManaged", ptu, "")
    ));
    let w =
        Synthetic::parse("rate=45/min,prompt=1000,completion=200,duration=2h,arrivals=constant")
            .unwrap();
    run_recorded(&t, &w.generate(1, MaxTokensEstimate::Actual), 1)
}

#[test]
fn ptu_at_steady_load_serves_what_the_calculator_says_within_one_increment() {
    // Calculator: 45 × (1,000 + 4 × 200) = 81,000 TPM / 2,500 = 32.4 → 35 PTU (steps of 5).
    let at = steady(35);
    assert_eq!(at.deployments[0].throttled, 0);
    assert_eq!(at.succeeded, at.arrived);
    // One increment below cannot keep up: 30 PTU drain 75,000 of the 81,000 TPM.
    let below = steady(30);
    assert!(below.deployments[0].throttled > 0);
    let served_per_min = below.deployments[0].successes as f64 * 1_800.0 / 120.0;
    assert!(
        served_per_min <= 30.0 * 2_500.0 * 1.02,
        "served {served_per_min} weighted TPM on 30 PTU"
    );
}

#[test]
fn long_prompt_is_a_400_on_provisioned_and_on_a_spillover_that_cannot_take_it() {
    let model41 = |extra: &str, spill: bool| {
        let mut d = dep("ptu", "GlobalProvisionedManaged", 15, extra).replace("gpt-4o", "gpt-4.1");
        if spill {
            d.push_str(&dep("spill", "GlobalStandard", 1_000, "").replace("gpt-4o", "gpt-4.1"));
        }
        topo(&format!(
            "{d}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"ptu\" }}]\n"
        ))
    };
    let r = run_recorded(&model41("", false), &[req(0, 130_000, 10)], 1);
    assert_eq!(r.failures.too_long, 1);
    assert_eq!(r.client_retries, 0, "a 400 is not retried");
    // gpt-4.1 on Azure Standard has the same 128,000-token window (catalog): the spill refuses
    // too, and the PTU's 400 is returned.
    let r = run_recorded(
        &model41("spillover = \"spill\"", true),
        &[req(0, 130_000, 10), req(S, 100_000, 10)],
        1,
    );
    assert_eq!(served_by(&r, 0), None);
    assert_eq!(r.deployments[1].rejected, 1);
    assert_eq!(served_by(&r, 1), Some(0));
}

#[test]
fn prompt_over_the_context_window_is_a_400_not_served() {
    // A 200,000-token prompt to gpt-4o (128,000-token window): the service answers 400.
    let t = topo(&format!(
        "{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"a\" }}]\n",
        dep("a", "GlobalStandard", 10_000, "")
    ));
    let r = run_recorded(&t, &[req(0, 200_000, 10)], 1);
    assert_eq!(r.failures.too_long, 1);
    assert_eq!(r.deployments[0].successes, 0);
    assert_eq!(r.deployments[0].rejected, 1);
}

#[test]
fn own_max_tokens_over_the_output_limit_is_a_400_and_completions_are_cut_at_it() {
    let t = topo(&format!(
        "{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"a\" }}]\n",
        dep("a", "GlobalStandard", 10_000, "")
    ));
    let own = |max_tokens| SimRequest {
        max_tokens,
        budget: Budget::Own,
        ..req(0, 10, 100)
    };
    // gpt-4o's output limit is 16,384.
    let r = run_recorded(&t, &[own(20_000)], 1);
    assert_eq!(r.failures.too_long, 1);
    // A trace row claiming 4,294,967,295 completion tokens is cut at the output limit, so its
    // service time stays finite (100 ms + 16,384 / 100 tok/s).
    let r = run_recorded(&t, &[req(0, 10, u32::MAX)], 1);
    assert_eq!(r.truncated, 1);
    assert_eq!(
        r.requests.as_ref().unwrap()[0].latency_us,
        100_000 + 163_840_000
    );
    assert_eq!(r.deployments[0].completion_tokens, 16_384);
    // The request's own max_tokens stops generation there.
    let r = run_recorded(&t, &[own(50)], 1);
    assert_eq!(r.deployments[0].completion_tokens, 50);
}

#[test]
fn model_default_budget_charges_the_deployments_model_default() {
    // gpt-4o charges 4,096 when a request sets none: on 1K TPM of Standard the estimate
    // (10 + 4,096) crosses the limit at once, so the second request is throttled.
    let t = topo(&format!(
        "{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"a\" }}]\n[client]\nmax_retries = 0\n",
        dep("a", "GlobalStandard", 1, "rpm_window_s = 60")
    ));
    let default = |t_us| SimRequest {
        max_tokens: 0,
        budget: Budget::ModelDefault,
        ..req(t_us, 10, 10)
    };
    let r = run_recorded(&t, &[default(0), default(1_000)], 1);
    assert_eq!(r.succeeded, 1);
    assert_eq!(r.deployments[0].throttled, 1);
    // Charged the actual completion instead, both fit.
    let r = run_recorded(&t, &[req(0, 10, 10), req(1_000, 10, 10)], 1);
    assert_eq!(r.succeeded, 2);
}

#[test]
fn client_backs_off_and_gives_up_after_max_retries() {
    let t = topo(&format!(
        "{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"a\" }}]\n[client]\nmax_retries = 2\nbackoff = {{ base_s = 1, max_s = 8, jitter = false, honour_retry_after = false }}\n",
        dep("a", "GlobalStandard", 1, "")
    ));
    // Window of 10 s holds 1 request: the second retries at +1 s, +2 s more, then fails.
    let r = run_recorded(&t, &[req(0, 10, 0), req(1_000, 10, 0)], 1);
    assert_eq!(served_by(&r, 1), None);
    assert_eq!(r.requests.as_ref().unwrap()[1].client_retries, 2);
    assert_eq!(r.client_retries, 2);
    assert_eq!(r.failures.throttled, 1);
}

#[test]
fn slow_answers_time_out_and_are_not_served_twice() {
    // 100 tokens/s: a 2,000-token completion takes 20.1 s; the client gives up at 5 s.
    let t = topo(&format!(
        "{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"a\" }}]\n[client]\nmax_retries = 1\ntimeout_s = 5\n",
        dep("a", "GlobalStandard", 10_000, "")
    ));
    let r = run_recorded(&t, &[req(0, 10, 2_000)], 1);
    assert_eq!(r.failed, 1);
    assert_eq!(r.failures.timeout, 1);
    assert_eq!(
        r.deployments[0].successes, 2,
        "the backend still did (and billed) both attempts"
    );
}

#[test]
fn least_busy_prefers_the_idle_backend_and_cools_down_on_429() {
    let t = topo(&format!(
        "{}{}[gateway]\npolicy = \"least-busy\"\nbackends = [{{ deployment = \"a\" }}, {{ deployment = \"b\" }}]\n",
        dep("a", "GlobalStandard", 10_000, ""),
        dep("b", "GlobalStandard", 10_000, "")
    ));
    // Two long requests at once: the second goes to the other, idle backend.
    let r = run_recorded(&t, &[req(0, 10, 1_000), req(1, 10, 1_000)], 3);
    assert_ne!(served_by(&r, 0), served_by(&r, 1));
}

#[test]
fn litellm_usage_based_skips_deployments_over_their_limits() {
    let t = topo(&format!(
        "{}{}[gateway]\npolicy = \"usage-based\"\nbackends = [{{ deployment = \"a\", tpm = 100 }}, {{ deployment = \"b\", tpm = 100000 }}]\n",
        dep("a", "GlobalStandard", 10_000, ""),
        dep("b", "GlobalStandard", 10_000, "")
    ));
    let r = run_recorded(&t, &[req(0, 500, 1)], 1);
    assert_eq!(served_by(&r, 0), Some(1));
}

#[test]
fn same_seed_same_report_and_seed_changes_random_choices() {
    let t = pool("weighted", (1, 1), "");
    let reqs: Vec<SimRequest> = (0..1000).map(|i| req(i * 1_000, 10, 1)).collect();
    let opts = |seed| SimOptions {
        timeline: true,
        ..recorded(seed)
    };
    let a = run(&t, &reqs, opts(9)).unwrap();
    let b = run(&t, &reqs, opts(9)).unwrap();
    assert_eq!(a, b);
    let c = run(&t, &reqs, opts(10)).unwrap();
    assert_ne!(a.requests, c.requests);
}

#[test]
fn invalid_topologies_name_table_field_and_valid_values() {
    let c = Catalog::embedded();
    let err = |body: &str| {
        Topology::parse(&format!("{REGION}{body}"), "t.toml", &c)
            .unwrap_err()
            .to_string()
    };
    let gateway = |policy: &str, backend: &str, extra: &str| {
        format!(
            "[gateway]\npolicy = \"{policy}\"\nbackends = [{{ deployment = \"{backend}\" }}]\n{extra}"
        )
    };
    let cases: [(String, &[&str]); 6] = [
        (
            dep("ptu", "GlobalProvisionedManaged", 42, "") + &gateway("priority", "ptu", ""),
            &["t.toml", "capacity", "40 or 45"],
        ),
        (
            dep("ptu", "ProvisionedManaged", 20, "") + &gateway("priority", "ptu", ""),
            &["at least 50", "nearest valid: 50"],
        ),
        (
            dep("a", "GlobalStandard", 10, "") + &gateway("fastest", "a", ""),
            &["[gateway]", "policy", "round-robin"],
        ),
        (
            dep("a", "GlobalStandard", 10, "") + &gateway("priority", "b", ""),
            &["backends[0]", "unknown deployment 'b'"],
        ),
        (
            dep("a", "GlobalStandard", 10, "")
                + &gateway(
                    "priority",
                    "a",
                    "circuit_breaker = { failures = 1, interval_s = 1, trip_s = 1 }\n",
                ),
            &["circuit_breaker"],
        ),
        (
            dep("a", "GlobalStandard", 10, "").replace("gpt-4o", "gpt-5o")
                + &gateway("priority", "a", ""),
            &["model", "unknown model"],
        ),
    ];
    for (body, wants) in &cases {
        let e = err(body);
        for w in *wants {
            assert!(e.contains(w), "{e}: should mention {w}");
        }
    }
    let e = err("[gateway]\npolicy = \"priority\"\nbackends = []\n[[deployment]]\nname = \"a\"\n");
    assert!(e.contains("t.toml:"), "{e}");
}

/// A deployment row with the catalog's own service times (gpt-4o: 400 ms + 25 tokens/s).
fn dep_catalog(name: &str, sku: &str, capacity: u32, extra: &str) -> String {
    format!(
        "[[deployment]]\nname = \"{name}\"\nregion = \"r\"\nmodel = \"gpt-4o\"\nsku = \"{sku}\"\ncapacity = {capacity}\n{extra}\n"
    )
}

#[test]
fn timeout_shorter_than_the_service_time_after_a_429_ends_instead_of_hanging() {
    // Field report: 1K TPM (one request per 10-s window), timeout 0.5 s, 2 retries, one request
    // of 100 + 10 tokens: the 0.8-s answer times out, the retry meets a 429 with Retry-After,
    // and the attempt's timeout used to fire again, doubling the retries without end.
    for policy in [
        "priority",
        "round-robin",
        "weighted",
        "least-busy",
        "usage-based",
        "latency-based",
        "simple-shuffle",
    ] {
        let t = topo(&format!(
            "{}[gateway]\npolicy = \"{policy}\"\nbackends = [{{ deployment = \"d\" }}]\n[client]\ntimeout_s = 0.5\nmax_retries = 2\n",
            dep_catalog("d", "GlobalStandard", 1, "")
        ));
        let r = run_recorded(&t, &[req(0, 100, 10)], 1);
        assert_eq!(r.failed, 1, "{policy}");
        assert!(
            r.client_retries <= 2,
            "{policy}: {} client retries",
            r.client_retries
        );
    }
}

#[test]
fn a_request_answered_429_and_retried_is_not_also_failed_by_its_timeout() {
    // Field report: timeout 5 s, 1 retry, two requests 1 ms apart (the second with 800
    // completion tokens): "arrived 2, succeeded 1, failed 2".
    let t = topo(&format!(
        "{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"d\" }}]\n[client]\ntimeout_s = 5\nmax_retries = 1\n",
        dep_catalog("d", "GlobalStandard", 1, "")
    ));
    let r = run_recorded(&t, &[req(0, 100, 10), req(1_000, 100, 800)], 1);
    assert_eq!(r.arrived, 2);
    assert_eq!(r.succeeded + r.failed, 2);
}

#[test]
fn litellm_lone_deployment_sleeps_the_retry_after_then_retries() {
    // One deployment of 1K TPM: one request per 10-s RPM window. The second request's 429
    // carries Retry-After ≈ 10 s; LiteLLM (a lone deployment never cools down on 429) sleeps
    // it, rounded up to whole seconds, plus U(0, 0.75 s), then retries into the next window.
    let t = topo(&format!(
        "{}[gateway]\npolicy = \"least-busy\"\nbackends = [{{ deployment = \"d\" }}]\n[client]\nmax_retries = 0\n",
        dep("d", "GlobalStandard", 1, "")
    ));
    let r = run_recorded(&t, &[req(0, 10, 1), req(1_000, 10, 1)], 1);
    assert_eq!(served_by(&r, 1), Some(0), "served after the sleep");
    let o = r.requests.as_ref().unwrap()[1];
    assert_eq!(o.gateway_retries, 1);
    // Retry-After 9.999 s → 10 s, + jitter ≤ 0.75 s, + the 110-ms service.
    assert!(
        o.latency_us >= 10 * S + 110_000 - 1_000 && o.latency_us <= 10 * S + 750_000 + 110_000,
        "{}",
        o.latency_us
    );
}

#[test]
fn litellm_fails_at_once_when_every_other_deployment_is_cooling_down() {
    // Two deployments of 1K TPM. #0 and #1 fill both windows; #2's 429 from one cools it down
    // and the other is already cooling: the upstream 429 goes back without a retry.
    let t = topo(&format!(
        "{}{}[gateway]\npolicy = \"least-busy\"\nbackends = [{{ deployment = \"a\" }}, {{ deployment = \"b\" }}]\n[client]\nmax_retries = 0\n",
        dep("a", "GlobalStandard", 1, ""),
        dep("b", "GlobalStandard", 1, "")
    ));
    let reqs = [
        req(0, 10, 1),
        req(1_000, 10, 1),
        req(300_000, 10, 1),
        req(301_000, 10, 1),
    ];
    let r = run_recorded(&t, &reqs, 1);
    assert_eq!(served_by(&r, 0), Some(0));
    assert_eq!(served_by(&r, 1), Some(1));
    assert_eq!(served_by(&r, 2), None);
    // #2 met a 429 at one, re-routed at once to the other, met a 429 there (now both cool).
    assert!(r.requests.as_ref().unwrap()[2].gateway_retries <= 1);
    assert_eq!(served_by(&r, 3), None);
    assert!(
        r.gateway_rejections.no_backend >= 1,
        "#3: no deployment available"
    );
}

#[test]
fn litellm_least_busy_breaks_ties_by_list_order() {
    let t = topo(&format!(
        "{}{}[gateway]\npolicy = \"least-busy\"\nbackends = [{{ deployment = \"a\" }}, {{ deployment = \"b\" }}]\n",
        dep("a", "GlobalStandard", 10_000, ""),
        dep("b", "GlobalStandard", 10_000, "")
    ));
    // Requests far apart: nothing in flight, every pick is a tie, and every one goes to a.
    let reqs: Vec<SimRequest> = (0..20).map(|i| req(i * 10 * S, 10, 1)).collect();
    for seed in 1..5 {
        let r = run_recorded(&t, &reqs, seed);
        assert_eq!(r.deployments[0].successes, 20, "seed {seed}");
    }
}

#[test]
fn litellm_simple_shuffle_weighs_by_weight_then_rpm() {
    let shuffle = |backends: &str| {
        topo(&format!(
            "{}{}[gateway]\npolicy = \"simple-shuffle\"\nbackends = [{backends}]\n",
            dep("a", "GlobalStandard", 10_000, ""),
            dep("b", "GlobalStandard", 10_000, "")
        ))
    };
    let reqs: Vec<SimRequest> = (0..20_000).map(|i| req(i * 1_000, 10, 1)).collect();
    let share_a = |t: &Topology| {
        let r = run_recorded(t, &reqs, 3);
        r.deployments[0].successes as f64 / r.succeeded as f64
    };
    let by_weight = share_a(&shuffle(
        "{ deployment = \"a\", weight = 3 }, { deployment = \"b\", weight = 1 }",
    ));
    assert!((by_weight - 0.75).abs() < 0.015, "{by_weight}");
    let by_rpm = share_a(&shuffle(
        "{ deployment = \"a\", rpm = 100 }, { deployment = \"b\", rpm = 900 }",
    ));
    assert!((by_rpm - 0.1).abs() < 0.015, "{by_rpm}");
    let uniform = share_a(&shuffle("{ deployment = \"a\" }, { deployment = \"b\" }"));
    assert!((uniform - 0.5).abs() < 0.015, "{uniform}");
}

#[test]
fn litellm_400_does_not_cool_a_deployment_down() {
    // A too-long prompt (400) at a must not take a out of rotation for the next request.
    let t = topo(&format!(
        "{}{}[gateway]\npolicy = \"least-busy\"\nbackends = [{{ deployment = \"a\" }}, {{ deployment = \"b\" }}]\n[client]\nmax_retries = 0\n",
        dep("a", "GlobalStandard", 10_000, ""),
        dep("b", "GlobalStandard", 10_000, "")
    ));
    let r = run_recorded(&t, &[req(0, 200_000, 1), req(S, 10, 1)], 1);
    assert_eq!(r.failures.too_long, 1);
    assert_eq!(served_by(&r, 1), Some(0), "a is not cooling down");
}

#[test]
fn gateway_token_limit_429s_are_counted_where_they_happen() {
    let t = topo(&format!(
        "{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"a\" }}]\ntoken_limit = {{ key = \"tenant\", tpm = 500 }}\n[client]\nmax_retries = 2\n",
        dep("a", "GlobalStandard", 10_000, "")
    ));
    // The second request is refused by the token limit, retried at the next minute, served.
    let r = run_recorded(&t, &[req(0, 400, 0), req(30 * S, 400, 0)], 1);
    assert_eq!(r.succeeded, 2);
    assert_eq!(r.gateway_rejections.token_limit, 1);
    assert_eq!(r.client_retries, 1);
    assert_eq!(r.throttled, 0, "no deployment answered 429");
}

#[test]
fn abandoned_attempts_are_billed_and_counted_late() {
    let t = topo(&format!(
        "{}[gateway]\npolicy = \"priority\"\nbackends = [{{ deployment = \"a\" }}]\n[client]\nmax_retries = 1\ntimeout_s = 5\n",
        dep("a", "GlobalStandard", 10_000, "")
    ));
    let r = run_recorded(&t, &[req(0, 10, 2_000)], 1);
    assert_eq!(r.timed_out_attempts, 2);
    assert_eq!(r.deployments[0].late, 2);
    assert!(r.cost.payg_usd > 0.0);
}

/// Random small topologies and workloads: every policy and SKU, client timeouts below and
/// above the service times, Retry-After on and off, token limits, breakers, several gateway
/// instances. Each case is built from one seed, which a failure prints.
mod properties {
    use super::*;
    use crate::sim::Rng;
    use proptest::prelude::{ProptestConfig, any, prop_assert, proptest};

    const POLICIES: [&str; 7] = [
        "priority",
        "round-robin",
        "weighted",
        "simple-shuffle",
        "least-busy",
        "usage-based",
        "latency-based",
    ];

    fn pick<'a, T>(rng: &mut Rng, xs: &'a [T]) -> &'a T {
        &xs[rng.below(xs.len())]
    }

    /// A valid topology text and a workload, both from `seed`.
    pub(super) fn case(seed: u64) -> (String, Vec<SimRequest>) {
        let mut rng = Rng::new(seed);
        let mut text = String::new();
        let regions = 1 + rng.below(2);
        for r in 0..regions {
            text += &format!(
                "[[region]]\nname = \"r{r}\"\nrtt_ms = {}\n",
                pick(&mut rng, &[0.0, 5.0, 30.0, 110.0, 250.0])
            );
        }
        let n = 1 + rng.below(4);
        let mut standard_in: Vec<Vec<String>> = vec![Vec::new(); regions];
        let mut rows = Vec::new();
        for i in 0..n {
            let region = rng.below(regions);
            let provisioned = rng.below(2) == 0;
            let name = format!("d{i}");
            let service = if rng.below(2) == 0 {
                format!(
                    "ttft_ms = {}\noutput_tokens_per_s = {}\n",
                    pick(&mut rng, &[0.0, 50.0, 400.0, 2_000.0]),
                    pick(&mut rng, &[5.0, 25.0, 100.0, 1_000.0])
                )
            } else {
                String::new()
            };
            let header = if rng.below(4) == 0 {
                "retry_after_header = false\n"
            } else {
                ""
            };
            let (sku, cap, extra) = if provisioned {
                let bucket = pick(&mut rng, &["", "bucket_s = 10\n", "bucket_s = 60\n"]);
                (
                    "GlobalProvisionedManaged",
                    15 + 5 * rng.below(6) as u32,
                    bucket.to_string(),
                )
            } else {
                standard_in[region].push(name.clone());
                let window = pick(&mut rng, &["", "rpm_window_s = 1\n", "rpm_window_s = 60\n"]);
                (
                    *pick(
                        &mut rng,
                        &["GlobalStandard", "DataZoneStandard", "Standard"],
                    ),
                    *pick(&mut rng, &[1u32, 2, 5, 20, 100]),
                    window.to_string(),
                )
            };
            rows.push((
                name,
                region,
                provisioned,
                sku,
                cap,
                format!("{service}{header}{extra}"),
            ));
        }
        let mut backends = Vec::new();
        for (name, region, provisioned, sku, cap, extra) in &rows {
            let spill = match standard_in[*region].first() {
                Some(s) if *provisioned && rng.below(2) == 0 => format!("spillover = \"{s}\"\n"),
                _ => String::new(),
            };
            text += &format!(
                "[[deployment]]\nname = \"{name}\"\nregion = \"r{region}\"\nmodel = \"gpt-4o\"\nsku = \"{sku}\"\ncapacity = {cap}\n{extra}{spill}"
            );
            if backends.is_empty() || rng.below(3) > 0 {
                backends.push(name.clone());
            }
        }
        let policy = *pick(&mut rng, &POLICIES);
        let pool = matches!(policy, "round-robin" | "weighted");
        let list: Vec<String> = backends
            .iter()
            .map(|b| {
                let limits = if policy == "usage-based" && rng.below(2) == 0 {
                    format!(", tpm = {}", pick(&mut rng, &[1_000, 20_000, 200_000]))
                } else {
                    String::new()
                };
                let weight = if rng.below(2) == 0 {
                    format!(", weight = {}", 1 + rng.below(5))
                } else {
                    String::new()
                };
                format!(
                    "{{ deployment = \"{b}\", priority = {}{weight}{limits} }}",
                    1 + rng.below(3)
                )
            })
            .collect();
        text += &format!(
            "[gateway]\npolicy = \"{policy}\"\nbackends = [{}]\ninstances = {}\n",
            list.join(", "),
            1 + rng.below(3)
        );
        if rng.below(2) == 0 {
            text += &format!("retries = {}\n", rng.below(6));
        }
        if rng.below(3) == 0 {
            text += &format!("cooldown_s = {}\n", pick(&mut rng, &[0.0, 1.0, 5.0]));
            text += &format!(
                "default_retry_after_s = {}\n",
                pick(&mut rng, &[0.0, 1.0, 10.0])
            );
        }
        if pool && rng.below(2) == 0 {
            text += &format!(
                "circuit_breaker = {{ failures = {}, interval_s = 60, trip_s = {}, accept_retry_after = {} }}\n",
                1 + rng.below(3),
                pick(&mut rng, &[1.0, 30.0, 300.0]),
                rng.below(2) == 0
            );
        }
        let keys = 1 + rng.below(3) as u32;
        if rng.below(3) == 0 {
            text += &format!(
                "token_limit = {{ key = \"tenant\", tpm = {}, estimate_prompt = {} }}\n",
                pick(&mut rng, &[500, 5_000, 50_000]),
                rng.below(2) == 0
            );
        }
        text += &format!(
            "[client]\nmax_retries = {}\ntimeout_s = {}\nbackoff = {{ base_s = {}, max_s = {}, jitter = {}, honour_retry_after = {} }}\n",
            rng.below(5),
            pick(&mut rng, &[0.2, 0.5, 1.0, 5.0, 30.0, 600.0]),
            pick(&mut rng, &[0.0, 0.1, 0.5]),
            pick(&mut rng, &[0.5, 2.0, 8.0]),
            rng.below(2) == 0,
            rng.below(4) > 0
        );
        let count = 1 + rng.below(60);
        let span_us = *pick(&mut rng, &[0i64, 1_000, 2 * S, 30 * S, 180 * S]);
        let mut reqs: Vec<SimRequest> = (0..count)
            .map(|_| {
                let prompt = *pick(&mut rng, &[1u32, 100, 2_000, 20_000, 200_000]);
                let completion = *pick(&mut rng, &[0u32, 10, 800, 5_000, 40_000]);
                let budget = *pick(
                    &mut rng,
                    &[Budget::Own, Budget::Estimated, Budget::ModelDefault],
                );
                SimRequest {
                    t_us: if span_us == 0 {
                        0
                    } else {
                        (rng.next_u64() % span_us as u64) as i64
                    },
                    prompt,
                    completion,
                    cached: if rng.below(4) == 0 { prompt / 2 } else { 0 },
                    max_tokens: match budget {
                        Budget::ModelDefault => 0,
                        _ => *pick(&mut rng, &[completion, 100, 4_096, 20_000]),
                    },
                    key: rng.below(keys as usize) as u32,
                    budget,
                }
            })
            .collect();
        reqs.sort_by_key(|r| r.t_us);
        (text, reqs)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        #[test]
        fn every_run_ends_within_its_bound_and_conserves_requests(seed in any::<u64>()) {
            let (text, reqs) = case(seed);
            let t = Topology::parse(&text, "random.toml", &Catalog::embedded())
                .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
            let r = run(&t, &reqs, recorded(seed)).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
            let outcome = std::panic::catch_unwind(|| check_invariants(&t, &reqs, &r));
            prop_assert!(outcome.is_ok(), "seed {}: invariants broken for\n{}", seed, text);
        }
    }
}
