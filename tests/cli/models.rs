use predicates::prelude::*;

use crate::{json, ok_json, spillway};

#[test]
fn models_lists_every_required_model_with_sources() {
    let out = spillway()
        .args(["models", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v = json(&out.stdout);
    let models = v["models"].as_array().unwrap();
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
        let m = models
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert!(!m["as_of"].as_str().unwrap().is_empty());
        assert!(!m["source"].as_str().unwrap().is_empty());
    }
    let gpt4o = models.iter().find(|m| m["name"] == "gpt-4o").unwrap();
    assert_eq!(gpt4o["ptu"]["input_tpm_per_ptu"], 2500.0);
    assert_eq!(gpt4o["global_standard_price"]["input"], 2.5);
    assert!(v["ptu_prices"].as_array().unwrap().len() >= 3);
}

#[test]
fn models_table_and_csv_render() {
    spillway().args(["models"]).assert().success().stdout(
        predicate::str::contains("gpt-4o-mini").and(predicate::str::contains("o200k_base")),
    );
    let out = spillway()
        .args(["models", "--format", "csv"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("model,aliases,encoding,context_window"));
    assert!(text.lines().count() > 15);
}

#[test]
fn user_catalog_adds_a_model_and_bad_catalog_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("ours.toml");
    std::fs::write(
        &good,
        r#"[[model]]
name = "contoso-gpt"
encoding = "cl100k_base"
context_window = 32000
max_output_tokens = 4000
chat = { tokens_per_message = 3, tokens_per_name = 1, reply_priming = 3 }
standard = { rpm_per_1000_tpm = 6 }
service = { ttft_ms = 300, output_tokens_per_s = 40 }
as_of = "2026-11-01"
source = "internal benchmark"

[[token_price]]
model = "contoso-gpt"
sku = "GlobalStandard"
input = 1.0
output = 2.0
as_of = "2026-11-01"
source = "contract"
"#,
    )
    .unwrap();
    let v = ok_json(spillway().args(["--catalog"]).arg(&good).args([
        "count",
        "--model",
        "contoso-gpt",
        "--format",
        "json",
        "hello world",
    ]));
    assert_eq!(v["results"][0]["tokens"], 2);
    assert_eq!(v["results"][0]["input_cost_usd"], 2e-6);

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[token_price]]\nmodel = \"gpt-4o\"\nsku = \"GlobalStandard\"\ninput = -1.0\noutput = 2.0\nas_of = \"x\"\nsource = \"y\"\n").unwrap();
    spillway()
        .args(["--catalog"])
        .arg(&bad)
        .args(["models"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("bad.toml")
                .and(predicate::str::contains("[[token_price]] row 1"))
                .and(predicate::str::contains("`input`")),
        );
}

#[test]
fn completions_cover_every_subcommand() {
    let out = spillway().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).unwrap();
    for cmd in [
        "plan",
        "report",
        "simulate",
        "cost",
        "calibrate",
        "profile",
        "query",
        "count",
        "models",
    ] {
        assert!(
            script.contains(&format!("spillway__subcmd__{cmd}")),
            "{cmd}"
        );
    }
    spillway()
        .args(["completions", "tcsh"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("invalid value 'tcsh'"));
}
