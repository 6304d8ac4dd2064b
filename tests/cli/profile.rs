use std::io::Write;

use predicates::prelude::*;

use crate::{json, ok_json, repo, spillway, temp_file};

fn profile_json(args: &[&str]) -> serde_json::Value {
    ok_json(
        spillway()
            .arg("profile")
            .args(args)
            .args(["--format", "json"]),
    )
}

fn sample(name: &str) -> String {
    repo(&format!("samples/{name}")).display().to_string()
}

fn fixture(name: &str) -> String {
    repo(&format!("tests/fixtures/traces/{name}"))
        .display()
        .to_string()
}

#[test]
fn azure_code_trace_median_tpm_includes_idle_minutes() {
    let v = profile_json(&[&sample("AzureLLMInferenceTrace_code_2023.csv")]);
    assert_eq!(v["rows_read"], 8819);
    assert_eq!(v["requests"], 8819);
    assert_eq!(v["windows"], 58);
    assert_eq!(v["idle_windows"], 13);
    // 222,676 with the 13 idle minutes; 358,831 if they were dropped.
    assert_eq!(v["tpm"]["p50"], 222676.0);
    assert_eq!(v["prompt_per_request"]["p50"], 1469.0);
    assert_eq!(v["prompt_per_request"]["max"], 7437);
    // numpy.percentile(GeneratedTokens, 99) on the same file: 251.46.
    assert_eq!(v["completion_per_request"]["p99"], 251.46);
    assert_eq!(v["window_s"], 60.0);
    assert_eq!(v["start"], "2023-11-16T18:17:00Z");
}

#[test]
fn json_summary_has_the_documented_shape() {
    let v = profile_json(&[&sample("AzureLLMInferenceTrace_conv_2023.csv")]);
    for k in [
        "rows_read",
        "requests",
        "failed",
        "skipped",
        "prompt_tokens",
        "completion_tokens",
        "window_s",
        "groups",
    ] {
        assert!(!v[k].is_null(), "{k} missing");
    }
    for k in ["mean", "p50", "p95", "p99", "max"] {
        assert!(v["rpm"][k].is_number(), "rpm.{k}");
        assert!(v["tpm"][k].is_number(), "tpm.{k}");
    }
    assert_eq!(v["prompt_tokens"], 22_361_870u64);
    let tpm_max = v["tpm"]["max"].as_f64().unwrap();
    assert!(tpm_max >= v["tpm"]["p99"].as_f64().unwrap());
}

#[test]
fn burstgpt_zero_response_rows_are_failed_requests_not_dropped() {
    let v = profile_json(&[&sample("BurstGPT_1_first400.csv"), "--by", "Model"]);
    assert_eq!(v["requests"], 400);
    assert_eq!(v["failed"], 17);
    assert_eq!(v["completion_per_request"]["count"], 383);
    assert_eq!(v["prompt_per_request"]["p50"], 353.0);
    assert_eq!(v["completion_per_request"]["p50"], 238.0);
    assert_eq!(v["relative_time"], true);
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    let chat = groups
        .iter()
        .find(|g| g["key"]["Model"] == "ChatGPT")
        .unwrap();
    assert_eq!(chat["requests"], 320);
}

#[test]
fn burstgpt_3_reads_columns_by_name_and_anchors_with_start() {
    let v = profile_json(&[
        &fixture("burstgpt_3_style.csv"),
        "--start",
        "2023-07-01T00:00:00Z",
    ]);
    assert_eq!(v["requests"], 4);
    assert_eq!(v["failed"], 1);
    assert_eq!(v["relative_time"], false);
    // 19,440,110 s after 2023-07-01T00:00:00Z is 2024-02-11T00:01:50Z.
    assert_eq!(v["start"], "2024-02-11T00:01:00Z");
}

#[test]
fn azure_2024_timestamps_with_zone_and_mixed_precision_parse() {
    let v = profile_json(&[&fixture("azure_2024_style.csv")]);
    assert_eq!(v["requests"], 5);
    assert_eq!(v["windows"], 2);
    assert_eq!(v["rpm"]["max"], 4.0);
    assert_eq!(v["start"], "2024-05-10T00:00:00Z");
}

#[test]
fn trace_rows_wider_than_sixteen_columns_are_read() {
    let extra: Vec<String> = (0..17).map(|i| format!("x{i}")).collect();
    let mut text = format!(
        "{},TIMESTAMP,ContextTokens,GeneratedTokens\n",
        extra.join(",")
    );
    for s in 0..3 {
        text += &format!("{},2023-11-16 18:17:0{s},100,10\n", vec!["1"; 17].join(","));
    }
    let (_dir, path) = temp_file("wide.csv", &text);
    let v = profile_json(&[path.to_str().unwrap()]);
    assert_eq!(v["requests"], 3);
    assert_eq!(v["prompt_tokens"], 300);
}

#[test]
fn absurd_time_span_is_an_error_not_an_allocation() {
    let (_dir, path) = temp_file(
        "far.jsonl",
        "{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 3, \"hash_ids\": []}\n\
         {\"timestamp\": 1e300, \"input_length\": 5, \"output_length\": 3, \"hash_ids\": []}\n",
    );
    spillway()
        .args(["profile"])
        .arg(&path)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("windows of 60 s").and(predicate::str::contains("--window")),
        );
}

#[test]
fn mooncake_trace_is_relative_milliseconds() {
    let v = profile_json(&[&fixture("mooncake_first200.jsonl"), "--window", "10s"]);
    assert_eq!(v["requests"], 200);
    assert_eq!(v["relative_time"], true);
    assert!(v["rate_unit"].as_str().unwrap().contains("× 6"));
}

#[test]
fn parquet_trace_reads_typed_timestamps() {
    let v = profile_json(&[&fixture("azure_conv_first500.parquet")]);
    assert_eq!(v["requests"], 500);
    assert_eq!(v["start"], "2023-11-16T18:15:00Z");
    assert_eq!(v["files"][0]["format"], "parquet");
}

#[test]
fn chat_log_counts_match_usage_and_group_by_tenant() {
    let v = profile_json(&[&sample("chat-log.jsonl.gz"), "--by", "tenant"]);
    let u = &v["usage_check"];
    assert!(u["compared"].as_u64().unwrap() > 1000);
    assert_eq!(
        u["exact"], u["compared"],
        "spillway's counts equal the usage the generator computed with tiktoken"
    );
    assert!(v["cached_tokens"].as_u64().unwrap() > 0);
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3);
    let total: u64 = groups.iter().map(|g| g["requests"].as_u64().unwrap()).sum();
    assert_eq!(total, v["requests"].as_u64().unwrap());
    assert_eq!(v["no_completion"], 0);
}

#[test]
fn one_thread_and_all_threads_give_the_same_profile() {
    let log = sample("chat-log.jsonl.gz");
    let all = profile_json(&[&log, "--by", "tenant,model"]);
    let one = profile_json(&["-j", "1", &log, "--by", "tenant,model"]);
    assert_eq!(one, all);
    spillway()
        .args(["--threads", "0", "profile"])
        .arg(&log)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--threads"));
}

#[test]
fn chat_log_variants_parse() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    // created as unix seconds, top-level messages, usage only on the second line,
    // a legacy prompt, a request under `body`, dotted --by path.
    writeln!(f, r#"{{"created": 1794816000, "model": "gpt-4o", "messages": [{{"role": "user", "content": "hello world"}}], "meta": {{"team": "a"}}}}"#).unwrap();
    writeln!(f).unwrap();
    writeln!(f, r#"{{"time": "2026-11-16T08:00:30Z", "usage": {{"prompt_tokens": 100, "completion_tokens": 7}}, "meta": {{"team": "b"}}}}"#).unwrap();
    writeln!(f, r#"{{"timestamp": 1794816045000, "request": {{"model": "gpt-35-turbo", "prompt": "hello world"}}, "response": "hi there", "meta": {{"team": "a"}}}}"#).unwrap();
    writeln!(f, r#"{{"ts": "2026-11-16 08:01:00", "body": {{"messages": [{{"role": "user", "content": "x"}}], "max_tokens": 50}}, "response": {{"choices": [{{"message": {{"content": "a b c"}}}}]}}}}"#).unwrap();
    drop(f);
    let v = profile_json(&[path.to_str().unwrap(), "--by", "meta.team"]);
    assert_eq!(v["rows_read"], 4);
    assert_eq!(v["requests"], 4);
    // hello world with gpt-4o chat overhead: 3 + 1 (role) + 2 + 3 = 9.
    assert_eq!(v["prompt_per_request"]["min"], 2);
    assert_eq!(v["windows"], 2);
    assert_eq!(v["no_completion"], 1);
    let keys: Vec<String> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"]["meta.team"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, vec!["a", "b", "(none)"]);
}

#[test]
fn malformed_row_stops_with_file_and_line_unless_skip_bad() {
    let (_dir, path) = temp_file(
        "trace.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 18:17:04.0319600,lots,8\n2023-11-16 18:17:05,3,4\nnot a time,1,1\n",
    );
    spillway()
        .args(["profile"])
        .arg(&path)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("trace.csv:3:")
                .and(predicate::str::contains("ContextTokens"))
                .and(predicate::str::contains("--skip-bad")),
        );
    let v = profile_json(&[path.to_str().unwrap(), "--skip-bad"]);
    assert_eq!(v["rows_read"], 4);
    assert_eq!(v["requests"], 2);
    assert_eq!(v["skipped"], 2);
    assert_eq!(v["skipped_rows"][0]["line"], 3);
    assert_eq!(v["skipped_rows"][1]["line"], 5);
}

#[test]
fn bad_jsonl_line_names_line_and_field() {
    let (_dir, path) = temp_file(
        "log.jsonl",
        "{\"time\":\"2026-01-01T00:00:00Z\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n{\"time\":\"2026-01-01T00:00:01Z\",\"messages\":[{\"role\":\"user\",\"content\":7}]}\n",
    );
    spillway()
        .args(["profile"])
        .arg(&path)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("log.jsonl:2:")
                .and(predicate::str::contains("messages[0].content")),
        );
}

/// Files of several blocks (the first blocks are small, later ones several MB), with blank and
/// CRLF lines: bad rows deep in the file are reported at their exact line.
#[test]
fn bad_rows_past_the_first_blocks_are_reported_at_their_line() {
    let mut jsonl = String::new();
    let mut csv = String::from("TIMESTAMP,ContextTokens,GeneratedTokens\n");
    let mut line = 0;
    for i in 0..60_000u32 {
        line += 1;
        if line == 45_001 {
            jsonl += "{\"time\": \"not a time\", \"usage\": {\"prompt_tokens\": 1}}\n";
            csv += "2023-11-16 18:17:05,lots,4\n";
            continue;
        }
        let pad = "x".repeat((i % 97) as usize);
        jsonl += &format!(
            "{{\"time\": {}, \"usage\": {{\"prompt_tokens\": {i}, \"completion_tokens\": 1}}, \"pad\": \"{pad}\"}}\r\n",
            1_700_000_000 + i / 10
        );
        csv += &format!("2023-11-16 18:17:{:02},{i},1\n", i % 60);
        if i % 1000 == 7 {
            line += 1;
            jsonl += "\n";
            csv += "\n";
        }
    }
    let (_d1, jsonl_path) = temp_file("log.jsonl", &jsonl);
    let (_d2, csv_path) = temp_file("trace.csv", &csv);
    assert!(jsonl.len() > 5_000_000, "spans several blocks");
    // The CSV's header is its line 1, so the same row is one line further down.
    for (path, bad) in [(&jsonl_path, 45_001), (&csv_path, 45_002)] {
        let name = path.file_name().unwrap().to_str().unwrap();
        spillway()
            .args(["profile"])
            .arg(path)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!("{name}:{bad}:")));
        let v = profile_json(&[path.to_str().unwrap(), "--skip-bad"]);
        assert_eq!(v["skipped"], 1, "{name}");
        assert_eq!(v["skipped_rows"][0]["line"], bad, "{name}");
        assert_eq!(v["rows_read"], 59_999 + 1, "{name}");
    }
}

#[test]
fn model_names_resolve_by_catalog_and_unknown_ones_are_counted_per_row() {
    let mut text = String::new();
    for (i, model) in [
        "gpt-4o-2024-08-06",
        "GPT-4o",
        "my-finetune",
        "gpt-4o-mini",
        "my-finetune",
        "my-finetune",
    ]
    .iter()
    .enumerate()
    {
        text += &format!(
            "{{\"time\": {}, \"model\": \"{model}\", \"usage\": {{\"prompt_tokens\": 10, \"completion_tokens\": 1}}}}\n",
            1_700_000_000 + i
        );
    }
    let (_dir, path) = temp_file("log.jsonl", &text);
    let v = profile_json(&[path.to_str().unwrap(), "--model", "gpt-4o"]);
    assert_eq!(v["requests"], 6);
    assert_eq!(v["models"], serde_json::json!(["gpt-4o", "gpt-4o-mini"]));
    assert_eq!(v["unknown_models"], serde_json::json!({"my-finetune": 3}));
}

#[test]
fn csv_and_tsv_with_text_columns_are_tokenized() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("prompts.csv");
    std::fs::write(
        &csv,
        "ts,user,prompt,answer\n2026-11-16T08:00:00Z,ann,\"hello world\",\"hi\"\n2026-11-16T08:00:10Z,bob,\"multi\nline, quoted\",12\n",
    )
    .unwrap();
    let v = profile_json(&[
        csv.to_str().unwrap(),
        "--time-col",
        "ts",
        "--text-col",
        "prompt",
        "--completion-col",
        "answer",
        "--by",
        "user",
    ]);
    assert_eq!(v["requests"], 2);
    assert_eq!(v["prompt_tokens"], 2 + 5);
    assert_eq!(v["completion_tokens"], 1 + 12);
    let tsv = dir.path().join("prompts.tsv");
    std::fs::write(&tsv, "time\ttext\n1794816000\thello world\n").unwrap();
    let v = profile_json(&[tsv.to_str().unwrap()]);
    assert_eq!(v["prompt_tokens"], 2);
}

#[test]
fn gzip_and_zstd_inputs_are_decompressed_and_files_merge() {
    let dir = tempfile::tempdir().unwrap();
    let raw = std::fs::read(repo("samples/AzureLLMInferenceTrace_code_2023.csv")).unwrap();
    let gz = dir.path().join("code.csv.gz");
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    e.write_all(&raw).unwrap();
    e.finish().unwrap();
    let zst = dir.path().join("code.csv.zst");
    std::fs::write(&zst, zstd::encode_all(&raw[..], 3).unwrap()).unwrap();
    let v = profile_json(&[gz.to_str().unwrap(), zst.to_str().unwrap()]);
    assert_eq!(v["requests"], 2 * 8819);
    assert_eq!(v["files"].as_array().unwrap().len(), 2);
    assert_eq!(v["windows"], 58);
}

#[test]
fn series_is_written_as_csv_and_parquet_one_row_per_window_and_group() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("series.csv");
    spillway()
        .args([
            "profile",
            &sample("BurstGPT_1_first400.csv"),
            "--by",
            "Model",
            "--window",
            "1h",
            "--out",
        ])
        .arg(&csv)
        .assert()
        .success();
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("window_start,requests,failed,prompt_tokens"));
    assert!(lines[0].ends_with(",Model"));
    assert_eq!(lines.len(), 1 + 2 * 11);
    let pq = dir.path().join("series.parquet");
    spillway()
        .args([
            "profile",
            &sample("AzureLLMInferenceTrace_code_2023.csv"),
            "--out",
        ])
        .arg(&pq)
        .assert()
        .success();
    // Read it back: the series is itself a valid input.
    let v = profile_json(&[
        pq.to_str().unwrap(),
        "--time-col",
        "window_start_utc",
        "--prompt-tokens-col",
        "prompt_tokens",
        "--completion-col",
        "completion_tokens",
    ]);
    assert_eq!(v["requests"], 58);
    assert_eq!(v["prompt_tokens"], 18_059_974u64);
}

#[test]
fn bad_flags_and_missing_inputs_are_clear_errors() {
    spillway()
        .args(["profile", "no/such/log.jsonl"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no/such/log.jsonl"));
    spillway()
        .args([
            "profile",
            &sample("BurstGPT_1_first400.csv"),
            "--by",
            "tenant",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--by tenant").and(predicate::str::contains("Log Type")));
    spillway()
        .args([
            "profile",
            &sample("BurstGPT_1_first400.csv"),
            "--window",
            "soon",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--window"));
    spillway()
        .args([
            "profile",
            &sample("BurstGPT_1_first400.csv"),
            "--out",
            "series.xlsx",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--out"));
    let dir = tempfile::tempdir().unwrap();
    spillway()
        .arg("profile")
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is a directory"));
}

#[test]
fn table_output_names_window_and_idle_minutes() {
    spillway()
        .args(["profile", &sample("AzureLLMInferenceTrace_code_2023.csv")])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("58 windows (13 idle)")
                .and(predicate::str::contains("tokens (TPM)")),
        );
}

#[test]
fn profile_gives_the_calculator_ptu_need_per_model() {
    let out = spillway()
        .args([
            "profile",
            &repo("samples/AzureLLMInferenceTrace_conv_2023.csv")
                .display()
                .to_string(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let v = crate::json(&out.stdout);
    let need = &v["ptu_need"][0];
    assert_eq!(need["model"], "gpt-4o");
    // Peak PTU-weighted TPM 998,809 ÷ 2,500 = 399.5 → 400 (Global, steps of 5).
    assert!((need["peak_raw"].as_f64().unwrap() - 399.5).abs() < 0.1);
    assert_eq!(need["global_peak"], 400);
    assert_eq!(need["regional_peak"], 400);
    assert!(need["global_p99"].as_u64().unwrap() <= 400);
}

#[test]
fn a_summary_format_profile_cannot_write_is_refused_before_any_input_is_read() {
    // The file does not exist: the flag is refused first, by the argument parser.
    spillway()
        .args(["profile", "--format", "csv", "/nonexistent/trace.csv"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "invalid value 'csv' for '--format",
        ))
        .stderr(predicate::str::contains("nonexistent").not());
}

#[test]
fn a_stray_timestamp_years_away_is_named_with_its_file_and_line() {
    // A 2016 leap second inside an hour of 2023 traffic, in the Azure format and in a chat log.
    let trace = std::fs::read_to_string(sample("AzureLLMInferenceTrace_code_2023.csv")).unwrap();
    let mut lines: Vec<&str> = trace.lines().take(300).collect();
    lines.insert(120, "2016-12-31 23:59:60.0000000,100,10");
    let (_d, path) = temp_file("stray.csv", &(lines.join("\n") + "\n"));
    let out = spillway()
        .args(["profile", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let place = format!(
        "{}:121: timestamp 2017-01-01T00:00:00Z lies",
        path.display()
    );
    assert!(stderr.contains(&place), "{stderr}");
    assert!(stderr.contains("before the rest of the file"), "{stderr}");
    let v = json(&out.stdout);
    assert!(v["notes"][0].as_str().unwrap().starts_with(&place), "{v}");

    let log = "{\"timestamp\": \"2026-11-16T08:00:00Z\", \"prompt\": \"a\"}\n\
               {\"timestamp\": \"2026-11-16T08:00:05Z\", \"prompt\": \"b\"}\n\
               \n\
               {\"timestamp\": \"2036-11-16T08:00:00Z\", \"prompt\": \"c\"}\n";
    let (_d2, path) = temp_file("stray.jsonl", log);
    spillway()
        .args(["profile", "--quiet"])
        .arg(&path)
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "{}:4: timestamp 2036-11-16T08:00:00Z lies",
            path.display()
        )));
}

#[test]
fn a_trace_without_strays_warns_of_nothing() {
    spillway()
        .args(["profile", "--quiet"])
        .arg(sample("AzureLLMInferenceTrace_code_2023.csv"))
        .assert()
        .success()
        .stderr(predicate::str::contains("warning").not());
}

#[test]
fn a_damaged_parquet_file_is_an_error_naming_the_file_not_a_crash() {
    // Found by the parquet fuzz target: polars' reader panics on the first footer, asks for
    // exabytes on the second file (a page claiming a negative value count) and for gigabytes
    // on the last two (footer lists claiming ~10^9 elements).
    for (name, why) in [
        (
            "thrift-bool-field",
            "a damaged file (its footer does not decode",
        ),
        (
            "negative-page-values",
            "a damaged file (column GeneratedTokens: a page claims a negative number of values)",
        ),
        (
            "footer-list-claims-gigabytes",
            "a damaged file (its footer does not decode",
        ),
        (
            "footer-list-claims-136-gb",
            "a damaged file (its footer does not decode",
        ),
    ] {
        let path = repo(&format!("fuzz/regressions/parquet/{name}"));
        let (_d, copy) = temp_file("damaged.parquet", "");
        std::fs::copy(&path, &copy).unwrap();
        spillway()
            .arg("profile")
            .arg(&copy)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "{}: Parquet: {why}",
                copy.display()
            )))
            .stderr(predicate::str::contains("panicked").not());
    }
}
