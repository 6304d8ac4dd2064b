use std::io::Write;

use predicates::prelude::*;

use crate::{json, ok_json, repo, spillway, temp_file};

#[test]
fn count_text_argument_gives_the_documented_json_shape() {
    let out = spillway()
        .args(["count", "hello world", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let r = &json(&out.stdout)["results"][0];
    assert_eq!(r["model"], "gpt-4o");
    assert_eq!(r["encoding"], "o200k_base");
    assert_eq!(r["tokens"], 2);
    assert_eq!(r["context_window"], 128000);
    assert_eq!(r["fits"], true);
    assert_eq!(r["input_cost_usd"], 0.000005);
}

#[test]
fn count_reads_standard_input_when_no_input_is_given() {
    let out = spillway()
        .args(["count", "--encoding", "cl100k_base", "--format", "json"])
        .write_stdin("hello world")
        .output()
        .unwrap();
    let r = &json(&out.stdout)["results"][0];
    assert_eq!(r["source"], "<stdin>");
    assert_eq!(r["tokens"], 2);
    assert_eq!(r["model"], serde_json::Value::Null);
}

#[test]
fn count_several_files_and_models_gives_one_row_each() {
    let out = spillway()
        .args([
            "count",
            "--format",
            "json",
            "--model",
            "gpt-4o,gpt-4",
            "--model",
            "gpt-35-turbo",
        ])
        .arg("--file")
        .arg(repo("tests/fixtures/golden/prose.txt"))
        .arg("--file")
        .arg(repo("tests/fixtures/golden/cjk.txt"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let rows = json(&out.stdout)["results"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 6);
    // python tiktoken 0.14.0: prose.txt is 231 tokens in o200k_base, 238 in cl100k_base.
    assert_eq!(rows[0]["tokens"], 231);
    assert_eq!(rows[1]["tokens"], 238);
    assert_eq!(rows[1]["model"], "gpt-4");
}

#[test]
fn count_chat_request_matches_the_api_on_the_cookbook_example() {
    let (_dir, path) = temp_file(
        "req.json",
        r#"{"model":"gpt-4o","max_tokens":100,"messages":[
        {"role":"system","content":"You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
        {"role":"system","name":"example_user","content":"New synergies will help drive top-line growth."},
        {"role":"system","name":"example_assistant","content":"Things working well together will increase revenue."},
        {"role":"system","name":"example_user","content":"Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
        {"role":"system","name":"example_assistant","content":"Let's talk later when we're less busy about how to do better."},
        {"role":"user","content":"This late pivot means we don't have time to boil the ocean for the client deliverable."}]}"#,
    );
    let v = ok_json(
        spillway()
            .args([
                "count",
                "--model",
                "gpt-4o,gpt-4",
                "--per-message",
                "--format",
                "json",
                "--chat",
            ])
            .arg(&path),
    );
    assert_eq!(v["results"][0]["tokens"], 124);
    assert_eq!(v["results"][1]["tokens"], 129);
    assert_eq!(v["results"][0]["max_tokens"], 100);
    assert_eq!(v["results"][0]["breakdown"].as_array().unwrap().len(), 7);
}

#[test]
fn count_bundled_chat_sample_reads_the_image_size_from_its_data_url() {
    let out = spillway()
        .args(["count", "--format", "json", "--chat"])
        .arg(repo("samples/chat-request.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = &json(&out.stdout)["results"][0];
    // 1600 x 1200 high detail on gpt-4o: 768 short side -> 1024 x 768 -> 4 tiles -> 765.
    assert_eq!(r["image_tokens"], 765);
    assert_eq!(r["max_tokens"], 800);
}

#[test]
fn per_message_breakdown_puts_a_message_images_on_a_line_of_their_own() {
    let out = spillway()
        .args(["count", "--per-message", "--format", "json", "--chat"])
        .arg(repo("samples/chat-request.json"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let r = &json(&out.stdout)["results"][0];
    let parts = r["breakdown"].as_array().unwrap();
    let image_lines: Vec<&serde_json::Value> = parts
        .iter()
        .filter(|p| p["part"].as_str().unwrap().contains("image"))
        .collect();
    assert_eq!(image_lines.len(), 1, "{parts:?}");
    assert_eq!(image_lines[0]["tokens"], 765);
    // The lines add up to the total, images counted once.
    let sum: i64 = parts.iter().map(|p| p["tokens"].as_i64().unwrap()).sum();
    assert_eq!(sum, r["tokens"].as_i64().unwrap());
}

#[test]
fn malformed_chat_json_names_the_json_path() {
    let (_dir, path) = temp_file(
        "bad.json",
        r#"{"messages":[{"role":"user","content":"ok"},{"role":"user","content":{"x":1}}]}"#,
    );
    spillway()
        .args(["count", "--chat"])
        .arg(&path)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("bad.json")
                .and(predicate::str::contains("messages[1].content")),
        );
}

#[test]
fn check_exits_3_when_a_row_does_not_fit() {
    spillway()
        .args([
            "count",
            "--model",
            "gpt-4",
            "--max-tokens",
            "8192",
            "--check",
            "a few words",
        ])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("over by"));
    spillway()
        .args([
            "count",
            "--model",
            "gpt-4o",
            "--max-tokens",
            "8192",
            "--check",
            "a few words",
        ])
        .assert()
        .success();
}

#[test]
fn special_tokens_count_as_text_unless_allowed() {
    let count = |extra: &[&str]| {
        let out = spillway()
            .args(["count", "--encoding", "cl100k_base", "--format", "json"])
            .args(extra)
            .arg("a <|endoftext|> b")
            .output()
            .unwrap();
        json(&out.stdout)["results"][0]["tokens"].as_u64().unwrap()
    };
    assert!(count(&["--allow-special"]) < count(&[]));
}

#[test]
fn unknown_model_lists_close_names_and_exits_1() {
    spillway()
        .args(["count", "--model", "gpt-4o-mni", "x"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("unknown model 'gpt-4o-mni'")
                .and(predicate::str::contains("gpt-4o-mini")),
        );
}

#[test]
fn unknown_encoding_and_bad_flags_exit_1() {
    spillway()
        .args(["count", "--encoding", "o300k", "x"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--encoding").and(predicate::str::contains("o300k")));
    spillway()
        .args(["count", "--no-such-flag"])
        .assert()
        .code(1);
    spillway()
        .args(["count", "--image-size", "big", "x"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--image-size"));
}

#[test]
fn empty_input_is_zero_tokens() {
    let out = spillway()
        .args(["count", "--format", "json", "-"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(json(&out.stdout)["results"][0]["tokens"], 0);
}

#[test]
fn missing_file_and_directory_are_clear_errors() {
    spillway()
        .args(["count", "--file", "no/such/file.txt"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no/such/file.txt"));
    let dir = tempfile::tempdir().unwrap();
    spillway()
        .args(["count", "--file"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is a directory"));
}

#[test]
fn invalid_utf8_names_file_and_byte_offset_unless_lossy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.txt");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(b"caf\xe9 au lait")
        .unwrap();
    spillway()
        .args(["count", "--file"])
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("latin1.txt").and(predicate::str::contains("byte 3")));
    spillway()
        .args(["count", "--lossy", "--file"])
        .arg(&path)
        .assert()
        .success();
}

#[test]
fn a_million_spaces_with_o200k_does_not_panic() {
    let out = spillway()
        .args(["count", "--encoding", "o200k_base", "--format", "json"])
        .write_stdin(" ".repeat(1_000_000))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(json(&out.stdout)["results"][0]["tokens"], 7813);
}

#[test]
fn ten_megabyte_single_line_and_long_runs_count() {
    let dir = tempfile::tempdir().unwrap();
    let line = dir.path().join("line.txt");
    let unit = "The gateway retried 3 times; utilisation=97.5% ";
    std::fs::write(&line, unit.repeat(10_000_000 / unit.len())).unwrap();
    let letters = dir.path().join("letters.txt");
    std::fs::write(&letters, "a".repeat(100_000)).unwrap();
    let out = spillway()
        .args([
            "count",
            "--encoding",
            "cl100k_base",
            "--format",
            "json",
            "--file",
        ])
        .arg(&line)
        .arg("--file")
        .arg(&letters)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v = json(&out.stdout);
    assert!(v["results"][0]["tokens"].as_u64().unwrap() > 1_000_000);
    assert_eq!(v["results"][1]["tokens"], 12_500);
}

#[test]
fn csv_output_has_a_header_and_a_row_per_result() {
    let out = spillway()
        .args(["count", "--format", "csv", "--model", "gpt-4o,o3", "hello"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("source,kind,model,encoding,tokens"));
}

#[test]
fn closed_pipe_exits_0() {
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg("set -o pipefail; \"$0\" models --format json | (exec 0<&-; sleep 0.3)")
        .arg(assert_cmd::cargo::cargo_bin("spillway"))
        .status()
        .unwrap();
    assert!(status.success(), "{status:?}");
}
