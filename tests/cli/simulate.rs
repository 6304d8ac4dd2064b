use predicates::prelude::*;

use crate::{json, ok_json, repo, spillway, temp_file};

fn path(p: &str) -> String {
    repo(p).display().to_string()
}

fn simulate(args: &[&str]) -> std::process::Output {
    spillway().arg("simulate").args(args).output().unwrap()
}

#[test]
fn json_report_has_the_documented_fields_and_invariants() {
    let out = simulate(&[
        "-t",
        &path("samples/topology-ptu-spillover.toml"),
        "--trace",
        &path("samples/AzureLLMInferenceTrace_conv_2023.csv"),
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out.stdout);
    assert_eq!(v["arrived"], 19366);
    assert_eq!(
        v["arrived"].as_u64().unwrap(),
        v["succeeded"].as_u64().unwrap() + v["failed"].as_u64().unwrap()
    );
    for k in ["p50", "p95", "p99"] {
        assert!(v["latency_ms"][k].as_f64().unwrap() > 0.0);
    }
    assert!(v["spillover_share"]["requests"].is_number());
    assert!(v["spillover_share"]["tokens"].is_number());
    assert!(v["cost_usd"].as_f64().unwrap() > 0.0);
    let deps = v["deployments"].as_array().unwrap();
    assert_eq!(deps.len(), 3);
    for d in deps {
        for k in ["name", "attempts", "successes", "throttled", "tokens"] {
            assert!(!d[k].is_null(), "{k}");
        }
    }
    assert_eq!(v["run"]["policy"], "priority");
}

#[test]
fn same_seed_gives_byte_identical_output() {
    let args = [
        "-t",
        &path("samples/topology-apim-pool.toml"),
        "--trace",
        &path("samples/AzureLLMInferenceTrace_code_2023.csv"),
        "--scale",
        "1.5",
        "--format",
        "json",
    ];
    let a = simulate(&args);
    let b = simulate(&args);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    let mut with_seed = args.to_vec();
    with_seed.extend(["--seed", "7"]);
    let c = simulate(&with_seed);
    assert_ne!(
        a.stdout, c.stdout,
        "weighted choices and --scale copies depend on the seed"
    );
}

#[test]
fn every_sample_topology_runs() {
    for (topo, trace) in [
        (
            "samples/topology-apim-priority.toml",
            "samples/chat-log.jsonl.gz",
        ),
        (
            "samples/topology-litellm.toml",
            "samples/BurstGPT_1_first400.csv",
        ),
        (
            "samples/topology-apim-pool.toml",
            "samples/AzureLLMInferenceTrace_code_2023.csv",
        ),
    ] {
        let out = simulate(&["-t", &path(topo), "--trace", &path(trace), "--speed", "4"]);
        assert!(
            out.status.success(),
            "{topo}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("served outside priority 1"), "{topo}");
    }
}

#[test]
fn synthetic_workload_and_timeline_files() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("timeline.csv");
    let out = spillway()
        .args([
            "simulate",
            "-t",
            &path("samples/topology-litellm.toml"),
            "--synthetic",
            "rate=120/min,prompt=500,completion=50,duration=2m,arrivals=constant",
            "--timeline",
        ])
        .arg(&csv)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out.stdout)["arrived"], 239);
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "second,deployment,attempts,successes,throttled,tokens,utilisation"
    );
    // 3 deployments × the simulated seconds.
    assert_eq!((lines.len() - 1) % 3, 0);
    assert!(lines.len() > 3 * 119);
    let pq = dir.path().join("timeline.parquet");
    spillway()
        .args([
            "simulate",
            "-t",
            &path("samples/topology-litellm.toml"),
            "--synthetic",
            "rate=120/min,prompt=500,completion=50,duration=2m",
            "--timeline",
        ])
        .arg(&pq)
        .assert()
        .success();
    assert!(std::fs::metadata(&pq).unwrap().len() > 0);
}

/// Runs a short synthetic workload on the topology `text` (written to `bad.toml`), which must
/// be refused (exit 1); returns the assertion for the message.
fn refused_topology(text: &str) -> assert_cmd::assert::Assert {
    let (_dir, t) = temp_file("bad.toml", text);
    spillway()
        .args([
            "simulate",
            "--synthetic",
            "rate=1/s,prompt=1,completion=1,duration=1m",
            "-t",
        ])
        .arg(&t)
        .assert()
        .code(1)
}

#[test]
fn invalid_topology_names_file_table_and_field() {
    refused_topology(
        "[[region]]\nname = \"eastus\"\n[[deployment]]\nname = \"ptu\"\nregion = \"eastus\"\nmodel = \"gpt-4o\"\nsku = \"GlobalProvisionedManaged\"\ncapacity = 12\n[gateway]\npolicy = \"priority\"\nbackends = [{ deployment = \"ptu\" }]\n",
    )
    .stderr(
        predicate::str::contains("bad.toml")
            .and(predicate::str::contains("[[deployment]] 1 (ptu)"))
            .and(predicate::str::contains("capacity"))
            .and(predicate::str::contains("at least 15")),
    );
    refused_topology(
        "[[region]]\nname = \"eastus\"\n[[deployment]]\nname = \"payg\"\nregion = \"eastus\"\nmodel = \"gpt-4o\"\nsku = \"GlobalStandard\"\ncapacity = 1\n[gateway]\npolicy = \"priority\"\nbackends = [{ deployment = \"payg\" }]\n[client]\nmax_retries = 1000000000\n",
    )
    .stderr(
        predicate::str::contains("[client]")
            .and(predicate::str::contains("max_retries"))
            .and(predicate::str::contains("100 retries")),
    );
}

#[test]
fn bad_workload_flags_are_clear_errors() {
    let t = path("samples/topology-litellm.toml");
    spillway()
        .args(["simulate", "-t", &t, "--synthetic", "rate=1/s,prompt=1"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("--synthetic").and(predicate::str::contains("completion")),
        );
    spillway()
        .args([
            "simulate",
            "-t",
            &t,
            "--synthetic",
            "rate=1/s,prompt=1,completion=1,duration=1m",
            "--speed",
            "0",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--speed"));
    spillway()
        .args([
            "simulate",
            "-t",
            &t,
            "--trace",
            &path("samples/BurstGPT_1_first400.csv"),
            "--max-tokens-estimate",
            "lots",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--max-tokens-estimate"));
    spillway().args(["simulate", "-t", &t]).assert().code(1);
}

#[test]
fn workloads_too_long_or_too_large_are_refused_with_their_size() {
    let t = path("samples/topology-ptu-spillover.toml");
    let dir = tempfile::tempdir().unwrap();
    let far = dir.path().join("far.csv");
    std::fs::write(
        &far,
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n\
         5,ChatGPT,10,20,30,Conversation log\n\
         99999999999999999999,ChatGPT,10,20,30,Conversation log\n",
    )
    .unwrap();
    spillway()
        .args(["simulate", "-t", &t, "--trace", far.to_str().unwrap()])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("far.csv")
                .and(predicate::str::contains("at most 92 days"))
                .and(predicate::str::contains("--speed")),
        );
    spillway()
        .args([
            "simulate",
            "-t",
            &t,
            "--synthetic",
            "rate=1000/s,prompt=10,completion=10,duration=1000h",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("3600000000 requests"));
    let many = dir.path().join("many.csv");
    let mut text =
        String::from("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n");
    for i in 0..40_000 {
        text += &format!("{},ChatGPT,10,20,30,Conversation log\n", i / 10);
    }
    std::fs::write(&many, text).unwrap();
    spillway()
        .args(["simulate", "-t", &t, "--trace", many.to_str().unwrap()])
        .args(["--scale", "1000"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--scale 1000").and(predicate::str::contains("at most")));
}

#[test]
fn token_limit_key_comes_from_the_trace() {
    let out = simulate(&[
        "-t",
        &path("samples/topology-apim-priority.toml"),
        "--trace",
        &path("samples/chat-log.jsonl.gz"),
        "--scale",
        "3",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out.stdout);
    assert!(
        v["client_retries"].as_u64().unwrap() > 0,
        "tripling the chat log pushes tenants over 40K TPM"
    );
}

/// A one-deployment topology of 1K TPM (one request per 10-s window) with `client`.
fn tiny(client: &str) -> String {
    format!(
        "[[region]]\nname = \"r\"\nrtt_ms = 30\n[[deployment]]\nname = \"d\"\nregion = \"r\"\nmodel = \"gpt-4o\"\nsku = \"GlobalStandard\"\ncapacity = 1\n[gateway]\npolicy = \"priority\"\nbackends = [ {{ deployment = \"d\", priority = 1 }} ]\n[client]\n{client}\n"
    )
}

#[test]
fn timeout_shorter_than_the_answer_after_a_429_ends_and_counts_each_request_once() {
    // Field reports: this ran for ever at 1.8 GB; two requests 1 ms apart came out as
    // "arrived 2, succeeded 1, failed 2".
    let (_d1, topo) = temp_file("t.toml", &tiny("timeout_s = 0.5\nmax_retries = 2"));
    let (_d2, one) = temp_file(
        "one.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00.0000000,100,10\n",
    );
    let v = ok_json(
        spillway()
            .args([
                "simulate",
                "-t",
                topo.to_str().unwrap(),
                "--trace",
                one.to_str().unwrap(),
                "--format",
                "json",
            ])
            .timeout(std::time::Duration::from_secs(60)),
    );
    assert_eq!(v["arrived"], 1);
    assert_eq!(v["failed"], 1);
    let (_d3, topo) = temp_file("t.toml", &tiny("timeout_s = 5\nmax_retries = 1"));
    let (_d4, two) = temp_file(
        "two.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00.0000000,100,10\n2023-11-16 18:00:00.0010000,100,800\n",
    );
    let out = spillway()
        .args([
            "simulate",
            "-t",
            topo.to_str().unwrap(),
            "--trace",
            two.to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let v = json(&out.stdout);
    assert_eq!(v["arrived"], 2);
    assert_eq!(
        v["succeeded"].as_u64().unwrap() + v["failed"].as_u64().unwrap(),
        2
    );
}

#[test]
fn every_bundled_trace_is_conserved_through_every_sample_topology() {
    for topo in ["ptu-spillover", "apim-priority", "apim-pool", "litellm"] {
        for trace in [
            "samples/AzureLLMInferenceTrace_conv_2023.csv",
            "samples/chat-log.jsonl.gz",
            "tests/fixtures/traces/mooncake_first200.jsonl",
        ] {
            let out = simulate(&[
                "-t",
                &path(&format!("samples/topology-{topo}.toml")),
                "--trace",
                &path(trace),
                "--format",
                "json",
            ]);
            assert!(
                out.status.success(),
                "{topo} {trace}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v = json(&out.stdout);
            assert_eq!(
                v["arrived"].as_u64().unwrap(),
                v["succeeded"].as_u64().unwrap() + v["failed"].as_u64().unwrap(),
                "{topo} {trace}"
            );
        }
    }
}

#[test]
fn absurd_topology_values_are_refused_naming_table_and_field() {
    let base = std::fs::read_to_string(repo("samples/topology-ptu-spillover.toml")).unwrap();
    let cases: [(&str, &str, &[&str]); 6] = [
        (
            "instances = 1",
            "instances = 100000000",
            &["[gateway]", "instances"],
        ),
        (
            "rtt_ms = 30",
            "rtt_ms = 1e12",
            &["[[region]] 1 (swedencentral)", "rtt_ms"],
        ),
        (
            "timeout_s = 100",
            "timeout_s = 1.8e13",
            &["[client]", "timeout_s"],
        ),
        (
            "max_s = 8",
            "max_s = 0.1",
            &["[client] backoff", "max_s", "base_s"],
        ),
        (
            "priority = 1 }",
            "priority = 0 }",
            &["backends[0]", "priority"],
        ),
        (
            "capacity = 250",
            "capacity = -5",
            &["[[deployment]] 1 (ptu-swedencentral)", "capacity", "-5"],
        ),
    ];
    for (from, to, wants) in cases {
        assert!(base.contains(from), "{from}");
        let (_d, p) = temp_file("t.toml", &base.replacen(from, to, 1));
        let out = spillway()
            .args([
                "simulate",
                "-t",
                p.to_str().unwrap(),
                "--synthetic",
                "rate=1/s,prompt=10,completion=1,duration=1m",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{to}");
        let err = String::from_utf8_lossy(&out.stderr);
        for w in wants {
            assert!(err.contains(w), "{to}: {err} should name {w}");
        }
    }
    // A 9 MB name is cut in the message.
    let (_d, p) = temp_file(
        "t.toml",
        &base.replace(
            "name = \"eastus\"",
            &format!("name = \"{}\"", "x".repeat(9_000_000)),
        ),
    );
    let out = spillway()
        .args([
            "simulate",
            "-t",
            p.to_str().unwrap(),
            "--synthetic",
            "rate=1/s,prompt=10,completion=1,duration=1m",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.len() < 1_000,
        "{} bytes of error",
        out.stderr.len()
    );
}
