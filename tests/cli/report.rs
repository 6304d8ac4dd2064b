//! `spillway report`: one self-contained HTML file with its sections and charts, nothing loaded
//! from the network; the Markdown variant with its charts beside it.

use crate::{repo, spillway};

fn path(p: &str) -> String {
    repo(p).display().to_string()
}

#[test]
fn html_report_has_its_sections_and_charts_and_loads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.html");
    let res = spillway()
        .args([
            "report",
            "-t",
            &path("samples/topology-plan.toml"),
            "--trace",
            &path("samples/AzureLLMInferenceTrace_conv_2023.csv"),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let html = std::fs::read_to_string(&out).unwrap();
    for id in [
        "recommendation",
        "traffic",
        "cost-curve",
        "spillover",
        "utilisation",
        "quota",
        "sensitivity",
        "token-budgets",
        "assumptions",
    ] {
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "section {id}"
        );
    }
    let charts = html.matches("<svg").count();
    assert!(charts >= 7, "{charts} charts");
    assert!(html.contains("PTU capacity plan"));
    assert!(html.contains("PTU of gpt-4o"));
    // Axes carry units.
    assert!(html.contains("PTU-weighted tokens per minute") && html.contains("time (UTC)"));
    assert!(html.contains("cost per month (USD)"));
    // Self-contained: no script, stylesheet, image, font or frame fetched from anywhere.
    let lower = html.to_lowercase();
    for bad in [
        "<script",
        "<link",
        "<img",
        "<iframe",
        "@import",
        "url(",
        "src=\"http",
        "href=\"http",
    ] {
        assert!(!lower.contains(bad), "the report loads something: {bad}");
    }
}

#[test]
fn markdown_report_writes_its_charts_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("capacity.md");
    spillway()
        .args([
            "report",
            "-t",
            &path("samples/topology-plan.toml"),
            "--trace",
            &path("samples/AzureLLMInferenceTrace_code_2023.csv"),
            "--no-sensitivity",
            "--out",
            out.to_str().unwrap(),
        ])
        .assert()
        .success();
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(md.starts_with("# PTU capacity plan"));
    assert!(md.contains("](capacity-charts/tpm.svg)"));
    let svg = std::fs::read_to_string(dir.path().join("capacity-charts/tpm.svg")).unwrap();
    assert!(svg.contains("<svg"));
}

#[test]
fn report_needs_an_html_or_markdown_file() {
    spillway()
        .args([
            "report",
            "-t",
            &path("samples/topology-plan.toml"),
            "--trace",
            &path("samples/AzureLLMInferenceTrace_conv_2023.csv"),
            "--out",
            "report.pdf",
        ])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(".html or .md"));
}
