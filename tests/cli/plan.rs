//! `spillway plan` as a user runs it: the bundled sample, the JSON contract, errors before work.

use predicates::prelude::*;

use crate::{json, repo, spillway, temp_file};

fn path(p: &str) -> String {
    repo(p).display().to_string()
}

fn plan(args: &[&str]) -> std::process::Output {
    spillway().arg("plan").args(args).output().unwrap()
}

fn sample_json(extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "-t",
        "samples/topology-plan.toml",
        "--trace",
        "samples/AzureLLMInferenceTrace_conv_2023.csv",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            if a.starts_with("samples/") {
                path(a)
            } else {
                a.to_string()
            }
        })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = plan(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out.stdout)
}

#[test]
fn bundled_trace_recommendation_meets_the_service_level_and_beats_the_calculator() {
    let v = sample_json(&[]);
    let rec = &v["recommended"];
    assert!(rec.is_object(), "a recommendation: {}", v["notes"]);
    let cost = rec["monthly_cost_usd"].as_f64().unwrap();
    assert!(rec["failure_rate"].as_f64().unwrap() <= 0.001);
    assert_eq!(rec["deployments"][0]["name"], "ptu-swedencentral");
    let cap = rec["deployments"][0]["capacity"].as_u64().unwrap();
    assert!(
        cap == 0 || (cap >= 15 && cap.is_multiple_of(5)),
        "{cap} PTU"
    );
    // Both baselines are in the sweep, simulated and costed like any candidate.
    let calc = &v["calculator"];
    assert!(calc["ptu_peak"][0].as_u64().unwrap() >= calc["ptu_p99"][0].as_u64().unwrap());
    assert!(cost <= calc["monthly_cost_usd"].as_f64().unwrap());
    assert!(cost <= v["all_payg"]["monthly_cost_usd"].as_f64().unwrap());
    let cands = v["candidates"].as_array().unwrap();
    assert!(cands.len() >= 10);
    for c in cands {
        if c["meets"].as_bool().unwrap() {
            assert!(c["monthly_cost_usd"].as_f64().unwrap() >= cost, "{c}");
        }
    }
    for key in [
        "quota",
        "sensitivity",
        "token_budget",
        "break_even",
        "scaling",
    ] {
        assert!(!v[key].is_null(), "{key}");
    }
    assert_eq!(v["sensitivity"].as_array().unwrap().len(), 4);
    assert!(v["sentence"].as_str().unwrap().contains("PTU of gpt-4o"));
}

#[test]
fn same_inputs_and_seed_give_byte_identical_output() {
    let args = [
        "-t",
        &path("samples/topology-plan.toml"),
        "--trace",
        &path("samples/AzureLLMInferenceTrace_code_2023.csv"),
        "--no-sensitivity",
        "--seed",
        "7",
    ];
    let a = plan(&args);
    let b = plan(&args);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(a.stdout, b.stdout);
    let text = String::from_utf8_lossy(&a.stdout);
    assert!(text.contains("★ recommended") || text.contains("No set-up"));
    assert!(text.contains("calculator (peak)"));
}

#[test]
fn growth_never_lowers_the_recommendation() {
    let ptu = |growth: &str| {
        let v = sample_json(&["--no-sensitivity", "--growth", growth]);
        v["recommended"]["deployments"][0]["capacity"]
            .as_u64()
            .unwrap_or(u64::MAX)
    };
    assert!(ptu("2") >= ptu("1"));
}

#[test]
fn curve_csv_has_every_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("curve.csv");
    let v = sample_json(&["--no-sensitivity", "--out", out.to_str().unwrap()]);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("ptu_ptu-swedencentral,monthly_cost_usd"));
    assert_eq!(lines.len() - 1, v["candidates"].as_array().unwrap().len());
    assert_eq!(lines.iter().filter(|l| l.ends_with(",true")).count(), 1);
}

#[test]
fn mistakes_are_refused_before_any_work() {
    let topo = path("samples/topology-plan.toml");
    let trace = path("samples/AzureLLMInferenceTrace_conv_2023.csv");
    spillway()
        .args(["plan", "-t", &topo, "--trace", &trace, "--size", "nope"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("--size nope")
                .and(predicate::str::contains("ptu-swedencentral")),
        );
    spillway()
        .args([
            "plan",
            "-t",
            &topo,
            "--trace",
            &trace,
            "--size",
            "payg-eastus",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no PTUs to size"));
    spillway()
        .args([
            "plan",
            "-t",
            &topo,
            "--trace",
            &trace,
            "--max-failure-rate",
            "150%",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--max-failure-rate"));
    spillway()
        .args([
            "plan",
            "-t",
            &topo,
            "--trace",
            &trace,
            "--out",
            "curve.parquet",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(".csv"));
    let (_d, short) = temp_file(
        "short.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00.0000000,100,10\n2023-11-16 18:01:00.0000000,100,10\n",
    );
    spillway()
        .args(["plan", "-t", &topo, "--trace", short.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("at least 10 minutes"));
    // `simulate` needs numbers where `plan` sizes.
    spillway()
        .args(["simulate", "-t", &topo, "--trace", &trace])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "\"auto\" is sized by `spillway plan`",
        ));
}
