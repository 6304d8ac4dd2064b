//! Batch API input files (OpenAI and Azure OpenAI): one request per JSONL line, `custom_id`,
//! `method`, `url` and `body` (the normal request; on Azure `body.model` is the Global or Data
//! Zone Batch deployment). Each line's prompt is counted as the API counts it — chat requests
//! with the model's message overhead, tools and images, embeddings and completions inputs as
//! text — and checked against the model's limits.
//!
//! Invariants: every non-blank line is either counted or reported bad with its number and
//! why (the other lines are still counted); `lines + bad = non-blank lines`. Per model, the
//! enqueued tokens are the sum of the lines' prompt tokens: Azure and OpenAI hold a file's
//! input tokens (not its completions) against the per-model enqueued-token quota until the
//! job ends.
//!
//! Sources: `../shared/reference/usage-log-formats.md` §4 (file layout, enqueued-token rule,
//! 200 MB and 100,000 (Azure) / 50,000 (OpenAI) requests per file, one deployment per file),
//! the catalog's `batch` quotas (BATCH: articles/foundry/openai/includes/global-batch-limits.md).

use std::borrow::Cow;
use std::collections::HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::chat::{ChatRules, count_request, parse_request};
use crate::catalog::Model;

/// What a batch line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    ChatCompletions,
    Embeddings,
    Completions,
}

/// One counted line.
#[derive(Debug, Clone, Serialize)]
pub struct BatchLine {
    /// 1-based line number in the file.
    pub line: usize,
    pub custom_id: String,
    /// `body.model` as written (on Azure, the batch deployment's name).
    pub model: String,
    /// The catalog model it was counted as.
    pub counted_as: String,
    pub endpoint: Endpoint,
    pub prompt_tokens: u64,
    /// The request's own `max_completion_tokens` / `max_tokens`.
    pub max_tokens: Option<u64>,
    /// Prompt within the input limit, prompt + max_tokens within the context window, and
    /// max_tokens within the output limit.
    pub fits: bool,
}

/// A line that could not be counted.
#[derive(Debug, Clone, Serialize)]
pub struct BadLine {
    pub line: usize,
    pub message: String,
}

/// The count of one batch input file.
#[derive(Debug, Clone, Serialize)]
pub struct BatchCount {
    pub lines: Vec<BatchLine>,
    pub bad: Vec<BadLine>,
    /// File-level findings that make the service reject the file (mixed deployments, too many
    /// requests).
    pub problems: Vec<String>,
    /// `body.model` names that are not catalog models, counted as the fallback model.
    pub unresolved_models: Vec<String>,
}

/// How lines are counted.
pub struct BatchRules<'a> {
    /// Resolves `body.model` to a catalog model (deployment names such as `gpt-4o-batch`
    /// resolve where they name the model).
    pub resolve: &'a (dyn Fn(&str) -> Option<&'a Model> + Sync),
    /// The model lines are counted as when `body.model` does not resolve.
    pub fallback: &'a Model,
    pub allow_special: bool,
    pub default_image_size: Option<(u64, u64)>,
}

/// Requests per file the services accept (Azure 100,000; OpenAI 50,000).
pub const AZURE_MAX_REQUESTS: usize = 100_000;
pub const OPENAI_MAX_REQUESTS: usize = 50_000;

#[derive(Deserialize)]
struct LineIn<'a> {
    #[serde(default, borrow)]
    custom_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    body: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct OtherBody<'a> {
    #[serde(default, borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
    #[serde(default, borrow)]
    prompt: Option<&'a RawValue>,
    #[serde(default)]
    max_tokens: Option<u64>,
}

/// Text inputs of embeddings and completions: a string, strings, or token-id arrays.
#[derive(Deserialize)]
#[serde(untagged)]
enum TextInput<'a> {
    One(#[serde(borrow)] Cow<'a, str>),
    Many(#[serde(borrow)] Vec<Cow<'a, str>>),
    Ids(Vec<u64>),
    IdLists(Vec<Vec<u64>>),
}

fn endpoint_of(url: &str) -> Option<Endpoint> {
    let path = url.split('?').next().unwrap_or(url).trim_end_matches('/');
    if path.ends_with("/chat/completions") {
        Some(Endpoint::ChatCompletions)
    } else if path.ends_with("/embeddings") {
        Some(Endpoint::Embeddings)
    } else if path.ends_with("/completions") {
        Some(Endpoint::Completions)
    } else {
        None
    }
}

fn count_line(line: usize, text: &str, rules: &BatchRules<'_>) -> Result<BatchLine, String> {
    let l: LineIn = serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
    let custom_id = l
        .custom_id
        .ok_or("no custom_id (every line needs a unique one)")?
        .into_owned();
    if let Some(m) = &l.method
        && !m.eq_ignore_ascii_case("POST")
    {
        return Err(format!("method '{m}': batch requests are POST"));
    }
    let url = l.url.ok_or("no url (e.g. /v1/chat/completions)")?;
    let endpoint = endpoint_of(&url).ok_or_else(|| {
        format!(
            "url '{}': counted are /chat/completions, /embeddings and /completions",
            crate::output::clip(&url, 60)
        )
    })?;
    let body = l.body.ok_or("no body")?.get();
    let head: OtherBody = serde_json::from_str(body).map_err(|e| format!("body: {e}"))?;
    let model_name = head.model.as_deref().unwrap_or("").to_string();
    let model = (rules.resolve)(&model_name).unwrap_or(rules.fallback);
    let tok = super::tokenizer(model.encoding());
    let (prompt, max_tokens) = match endpoint {
        Endpoint::ChatCompletions => {
            let req = parse_request(body).map_err(|e| format!("body: {e}"))?;
            let c = count_request(
                &req,
                &ChatRules::for_model(model, rules.allow_special, rules.default_image_size),
            )
            .map_err(|e| format!("body: {e}"))?;
            (c.prompt_tokens, req.max_tokens())
        }
        Endpoint::Embeddings | Endpoint::Completions => {
            let (field, raw) = if endpoint == Endpoint::Embeddings {
                ("input", head.input)
            } else {
                ("prompt", head.prompt)
            };
            let raw = raw.ok_or_else(|| format!("body: no {field}"))?;
            let input: TextInput = serde_json::from_str(raw.get()).map_err(|_| {
                format!("body.{field}: expected a string, strings or token-id arrays")
            })?;
            let n = match input {
                TextInput::One(s) => tok.count(&s, rules.allow_special) as u64,
                TextInput::Many(v) => v
                    .iter()
                    .map(|s| tok.count(s, rules.allow_special) as u64)
                    .sum(),
                TextInput::Ids(v) => v.len() as u64,
                TextInput::IdLists(v) => v.iter().map(|x| x.len() as u64).sum(),
            };
            let max = (endpoint == Endpoint::Completions)
                .then_some(head.max_tokens)
                .flatten();
            (n, max)
        }
    };
    Ok(BatchLine {
        line,
        custom_id,
        model: model_name,
        counted_as: model.name.clone(),
        endpoint,
        prompt_tokens: prompt,
        max_tokens,
        fits: model.fit(prompt, max_tokens).fits,
    })
}

/// Counts every line of a batch input file (lines in parallel).
pub fn count_file(text: &str, rules: &BatchRules<'_>) -> BatchCount {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let numbered: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let results: Vec<Result<BatchLine, BadLine>> = numbered
        .par_iter()
        .map(|&(n, l)| count_line(n, l, rules).map_err(|message| BadLine { line: n, message }))
        .collect();
    let mut lines = Vec::new();
    let mut bad = Vec::new();
    let mut first_of: HashMap<String, usize> = HashMap::new();
    for r in results {
        match r {
            Ok(l) => match first_of.get(&l.custom_id) {
                Some(&first) => bad.push(BadLine {
                    line: l.line,
                    message: format!(
                        "custom_id '{}' repeats line {first}'s (custom_id must be unique)",
                        crate::output::clip(&l.custom_id, 40)
                    ),
                }),
                None => {
                    first_of.insert(l.custom_id.clone(), l.line);
                    lines.push(l);
                }
            },
            Err(b) => bad.push(b),
        }
    }
    let mut problems = Vec::new();
    if let Some(first) = lines.first() {
        let other: Vec<&BatchLine> = lines.iter().filter(|l| l.model != first.model).collect();
        if let Some(o) = other.first() {
            problems.push(format!(
                "{} line(s) name another model or deployment than line {}'s '{}' (first: line {}, '{}'): Azure OpenAI rejects a batch file whose lines name different deployments",
                other.len(),
                first.line,
                first.model,
                o.line,
                o.model
            ));
        }
    }
    let requests = lines.len() + bad.len();
    if requests > AZURE_MAX_REQUESTS {
        problems.push(format!(
            "{requests} requests: Azure OpenAI accepts at most {AZURE_MAX_REQUESTS} per batch file (OpenAI {OPENAI_MAX_REQUESTS})"
        ));
    } else if requests > OPENAI_MAX_REQUESTS {
        problems.push(format!(
            "{requests} requests: OpenAI accepts at most {OPENAI_MAX_REQUESTS} per batch file (Azure OpenAI {AZURE_MAX_REQUESTS})"
        ));
    }
    let mut unresolved: Vec<String> = lines
        .iter()
        .filter(|l| (rules.resolve)(&l.model).is_none())
        .map(|l| l.model.clone())
        .collect();
    unresolved.sort();
    unresolved.dedup();
    BatchCount {
        lines,
        bad,
        problems,
        unresolved_models: unresolved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn count(text: &str) -> BatchCount {
        let cat = Catalog::embedded();
        let resolve = |n: &str| cat.model(n);
        let fallback = cat.model("gpt-4o").unwrap();
        count_file(
            text,
            &BatchRules {
                resolve: &resolve,
                fallback,
                allow_special: false,
                default_image_size: None,
            },
        )
    }

    #[test]
    fn chat_lines_count_as_the_chat_api_counts_them() {
        let c = count(
            r#"{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o","messages":[{"role":"user","content":"hello world"}],"max_tokens":400}}"#,
        );
        assert_eq!(c.bad.len(), 0);
        // 3 per message + "user" (1) + "hello world" (2) + 3 reply priming.
        assert_eq!(c.lines[0].prompt_tokens, 9);
        assert_eq!(c.lines[0].max_tokens, Some(400));
        assert!(c.lines[0].fits);
    }

    #[test]
    fn bad_lines_are_named_and_the_others_still_counted() {
        let c = count(concat!(
            "{\"custom_id\":\"a\",\"url\":\"/v1/embeddings\",\"body\":{\"model\":\"gpt-4o\",\"input\":[\"hello\",\"world\"]}}\n",
            "not json\n",
            "\n",
            "{\"custom_id\":\"a\",\"url\":\"/v1/embeddings\",\"body\":{\"model\":\"gpt-4o\",\"input\":\"x\"}}\n",
            "{\"custom_id\":\"c\",\"url\":\"/v1/responses\",\"body\":{\"model\":\"gpt-4o\"}}\n",
            "{\"custom_id\":\"d\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o-batch\",\"messages\":[]}}\n",
        ));
        assert_eq!(c.lines.len(), 2);
        assert_eq!(c.lines[0].prompt_tokens, 2);
        let bad: Vec<usize> = c.bad.iter().map(|b| b.line).collect();
        assert_eq!(bad, vec![2, 4, 5]);
        assert!(c.bad[1].message.contains("repeats line 1"));
        assert!(c.bad[2].message.contains("/v1/responses"));
        assert_eq!(c.unresolved_models, vec!["gpt-4o-batch".to_string()]);
        assert!(
            c.problems[0].contains("different deployments"),
            "{:?}",
            c.problems
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Lines a batch file may hold, good and bad.
        const LINES: [&str; 7] = [
            r#"{"custom_id":"ID","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi there"}],"max_tokens":10}}"#,
            r#"{"custom_id":"ID","url":"/v1/embeddings","body":{"model":"gpt-4o-mini","input":["a b","c"]}}"#,
            r#"{"custom_id":"ID","url":"/v1/completions","body":{"model":"gpt-4o-batch","prompt":[[1,2,3]],"max_tokens":5}}"#,
            r#"{"custom_id":"ID","url":"/v1/responses","body":{"model":"gpt-4o"}}"#,
            r#"{"custom_id":"ID","method":"GET","url":"/v1/chat/completions","body":{}}"#,
            r#"{"custom_id":"ID","url":"/v1/chat/completions","body":{"messages":"x"}}"#,
            "",
        ];

        proptest! {
            #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

            /// Every non-blank line is counted or reported once, by its own number; duplicates
            /// of a counted custom_id are reported; damage never panics.
            #[test]
            fn every_line_is_counted_or_named_once(
                picks in proptest::collection::vec((0usize..LINES.len(), 0u8..6), 0..40),
                edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..3),
            ) {
                let text: String = picks
                    .iter()
                    .map(|&(k, id)| LINES[k].replace("ID", &format!("c{id}")) + "\n")
                    .collect();
                let mut bytes = text.into_bytes();
                crate::ingest::json::damage(&mut bytes, edits);
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let c = count(&text);
                let mut numbers: Vec<usize> = c.lines.iter().map(|l| l.line)
                    .chain(c.bad.iter().map(|b| b.line)).collect();
                numbers.sort_unstable();
                let expected: Vec<usize> = text.strip_prefix('\u{feff}').unwrap_or(&text)
                    .lines().enumerate()
                    .filter(|(_, l)| !l.trim().is_empty()).map(|(i, _)| i + 1).collect();
                prop_assert_eq!(numbers, expected);
                let mut ids: Vec<&str> = c.lines.iter().map(|l| l.custom_id.as_str()).collect();
                ids.sort_unstable();
                let before = ids.len();
                ids.dedup();
                prop_assert_eq!(ids.len(), before, "custom_ids counted twice");
            }
        }
    }
}
