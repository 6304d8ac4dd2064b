//! Usage logs as teams export them, read unmodified (`../shared/reference/usage-log-formats.md`):
//!
//! * **Azure API Management**: `ApiManagementGatewayLlmLog` (tokens, model, deployment; message
//!   chunks in further rows of the same `CorrelationId`) joined on `CorrelationId` with
//!   `ApiManagementGatewayLogs` (time, client and backend status, backend, APIM subscription,
//!   product and user), from Log Analytics CSV or query-API JSON exports or diagnostic-setting
//!   JSON lines. Tokens come from the one row per request that carries them (the first with a
//!   deployment name or token counts), never from message-chunk rows. A request logged by the
//!   gateway only (a 429 APIM answered itself, or no LLM logging) is a request with no token
//!   counts, and the summary says how many.
//! * **LiteLLM** `LiteLLM_SpendLogs` dumps (CSV, JSON array or lines): tokens, cached tokens from
//!   `metadata.usage_object`, model and model group, `api_base`, status and error code, user,
//!   team, end user and key alias.
//! * **Helicone** request exports and **Langfuse** observation exports (CSV, JSON or JSONL):
//!   tokens, model, user; Helicone's HTTP status and cache reads; Langfuse's `level: ERROR`
//!   as a failure (it logs no status).
//! * **Batch output** JSONL (OpenAI and Azure): `usage` of each response, time from the
//!   response's `created`.
//! * **Per-minute aggregates**: spillway's own per-minute CSV (what `spillway query kql|spark`
//!   produce), the OpenAI Usage API JSON, Azure OpenAI metrics (Metrics REST JSON, or the
//!   `AzureMetrics` table). Aggregates have no per-request sizes: each bucket's requests are
//!   spread evenly over the bucket (request i of n at start + (i + ½) ÷ n of the width), with
//!   its tokens split evenly between them (the remainder one token at a time to the first
//!   ones). Per-minute RPM and TPM are then exactly the source's; per-request distributions are
//!   flat, and the summary says so.
//!
//! These exports are read whole (they are what teams export by hand; the big logs are reduced
//! where they live with `spillway query`). Every row keeps its file and line; a row that cannot
//! be read is an error naming them (or is skipped and counted with `--skip-bad`). Fields any
//! `--by` can name: the normalised column names (`apimsubscriptionid`, `productid`, `userid`,
//! `backendid`, `deploymentname`, `team_id`, `end_user` …), and the short names `tenant`
//! (APIM subscription, LiteLLM team or key alias), `deployment`, `backend`, `model` and
//! `status` (the HTTP status the client got).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;

use serde_json::Value;

use super::IngestError;
use super::sink::{Emitter, Parsed, norm};
use super::source::{InputFormat, OpenFile};
use super::time::{from_unix_number, parse_datetime};

/// One request read from a usage log (or one share of an aggregate bucket).
#[derive(Debug, Clone, Default)]
pub(crate) struct UsageRow {
    pub line: u64,
    pub t_us: i64,
    pub prompt: Option<u64>,
    pub completion: Option<u64>,
    pub cached: u64,
    pub max_tokens: u64,
    pub model: Option<String>,
    /// HTTP status the client got (None: not logged).
    pub status: Option<u16>,
    /// Failed without an HTTP status (Langfuse `level: ERROR`).
    pub failed: bool,
    /// Normalised field name → value, for `--by` (shared by the requests an aggregate row is
    /// spread into).
    pub fields: Fields,
}

/// A row's fields, shared cheaply: the requests an aggregate row spreads into point at one
/// copy (a minute of 100,000 requests would otherwise hold 100,000 copies).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Fields(std::sync::Arc<HashMap<String, String>>);

impl Fields {
    fn insert(&mut self, k: String, v: String) {
        std::sync::Arc::make_mut(&mut self.0).insert(k, v);
    }
}

impl std::ops::Deref for Fields {
    type Target = HashMap<String, String>;
    fn deref(&self) -> &HashMap<String, String> {
        &self.0
    }
}

impl From<HashMap<String, String>> for Fields {
    fn from(m: HashMap<String, String>) -> Fields {
        Fields(std::sync::Arc::new(m))
    }
}

/// Detects a usage-log format from the extension and the first bytes (up to 64 KiB).
pub(crate) fn detect(ext: &str, head: &[u8]) -> Option<InputFormat> {
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start();
    if trimmed.starts_with('{')
        || trimmed.starts_with('[')
        || matches!(ext, "json" | "jsonl" | "ndjson")
    {
        let has = |k: &str| text.contains(&format!("\"{k}\""));
        if has("custom_id") && has("response") {
            return Some(InputFormat::BatchOutput);
        }
        if has("custom_id") && has("body") && has("url") {
            return Some(InputFormat::BatchInput);
        }
        if has("object") && text.contains("\"page\"") && has("data") {
            return Some(InputFormat::UsageApi);
        }
        if has("timeseries") {
            return Some(InputFormat::AzureMetrics);
        }
        if has("tables") && has("columns") && has("rows") {
            return Some(InputFormat::Apim);
        }
        if has("category") && (text.contains("GatewayLlmLog") || text.contains("GatewayLog")) {
            return Some(InputFormat::Apim);
        }
        if has("request_id") && has("call_type") && (has("model_group") || has("spend")) {
            return Some(InputFormat::LiteLlm);
        }
        if has("response_status") && has("request_created_at") {
            return Some(InputFormat::Helicone);
        }
        if has("usage_details") || has("usageDetails") {
            return Some(InputFormat::Langfuse);
        }
        return None;
    }
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let cols: Vec<String> = first
        .trim_end()
        .split([',', '\t'])
        .map(|c| norm(c.trim_matches('"')))
        .collect();
    let has = |c: &str| cols.iter().any(|x| x == c);
    if has("correlationid")
        && (has("sequencenumber") || has("backendresponsecode") || has("apimsubscriptionid"))
    {
        return Some(InputFormat::Apim);
    }
    if has("requestid") && has("calltype") && (has("modelgroup") || has("spend")) {
        return Some(InputFormat::LiteLlm);
    }
    if has("responsestatus") && has("requestcreatedat") {
        return Some(InputFormat::Helicone);
    }
    if has("usagedetails") && (has("starttime") || has("type")) {
        return Some(InputFormat::Langfuse);
    }
    if has("minute") && has("requests") && has("prompttokens") && has("completiontokens") {
        return Some(InputFormat::PerMinute);
    }
    if has("metricname") && has("total") && has("timegenerated") {
        return Some(InputFormat::AzureMetrics);
    }
    if has("starttimeiso") && has("nummodelrequests") {
        return Some(InputFormat::UsageApi);
    }
    None
}

/// A record: normalised field name → text value, and where it came from.
#[derive(Debug, Clone, Default)]
struct Record {
    line: u64,
    fields: HashMap<String, String>,
}

impl Record {
    fn get(&self, k: &str) -> Option<&str> {
        self.fields
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        // `[1843]` (AzureOpenAIRequestUsage) → 1843.
        Value::Array(a) if a.len() == 1 && !a[0].is_object() => value_text(&a[0]),
        other => other.to_string(),
    }
}

/// Flattens a JSON object into a record (nested objects by dotted normalised names, and their
/// leaves under their own names as well, outer ones first).
fn flatten(prefix: &str, v: &Value, out: &mut HashMap<String, String>) {
    if let Value::Object(o) = v {
        for (k, x) in o {
            let key = if prefix.is_empty() {
                norm(k)
            } else {
                format!("{prefix}.{}", norm(k))
            };
            match x {
                Value::Object(_) => flatten(&key, x, out),
                // `properties` may be a JSON string (some diagnostic records).
                Value::String(s) if k == "properties" && s.trim_start().starts_with('{') => {
                    if let Ok(inner) = serde_json::from_str::<Value>(s) {
                        flatten(&key, &inner, out);
                    }
                }
                _ => {
                    let t = value_text(x);
                    out.entry(norm(k)).or_insert_with(|| t.clone());
                    out.insert(key, t);
                }
            }
        }
    }
}

/// Reads the whole file (decompressed).
fn read_text(file: &mut OpenFile, em: &Emitter<'_, '_>) -> Result<String, IngestError> {
    let mut s = String::new();
    file.take_reader()
        .read_to_string(&mut s)
        .map_err(|e| em.io(e))?;
    Ok(s)
}

/// Records of a CSV / TSV export (header names normalised; line = the record's first line).
fn csv_records(text: &str, em: &Emitter<'_, '_>) -> Result<Vec<Record>, IngestError> {
    let first = text.lines().next().unwrap_or("");
    let delim = if first.contains('\t') && !first.contains(',') {
        b'\t'
    } else {
        b','
    };
    let mut rd = csv::ReaderBuilder::new()
        .delimiter(delim)
        .flexible(true)
        .from_reader(text.as_bytes());
    let head: Vec<String> = rd
        .headers()
        .map_err(|e| em.error(Some(1), format!("header: {e}")))?
        .iter()
        .map(norm)
        .collect();
    let mut out = Vec::new();
    for rec in rd.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            em.error(Some(line), format!("not a CSV record: {e}"))
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        let fields = head
            .iter()
            .cloned()
            .zip(rec.iter().map(str::to_string))
            .collect();
        out.push(Record { line, fields });
    }
    Ok(out)
}

/// Records of a JSON export: Log Analytics query-API tables, a JSON array of objects, a
/// `{"records": [...]}` wrapper (Event Hubs), or JSON lines (one object, or wrapper, per line).
fn json_records(text: &str, em: &Emitter<'_, '_>) -> Result<Vec<Record>, IngestError> {
    let whole: Option<Value> = serde_json::from_str(text).ok();
    let mut out = Vec::new();
    let mut push = |line: u64, v: &Value| {
        let mut fields = HashMap::new();
        flatten("", v, &mut fields);
        out.push(Record { line, fields });
    };
    match whole {
        Some(Value::Object(o)) if o.contains_key("tables") => {
            let tables = o["tables"].as_array().cloned().unwrap_or_default();
            for t in tables {
                let cols: Vec<String> = t["columns"]
                    .as_array()
                    .map(|c| {
                        c.iter()
                            .map(|x| norm(x["name"].as_str().unwrap_or("")))
                            .collect()
                    })
                    .unwrap_or_default();
                for (i, row) in t["rows"].as_array().into_iter().flatten().enumerate() {
                    let vals = row.as_array().cloned().unwrap_or_default();
                    let fields = cols
                        .iter()
                        .cloned()
                        .zip(vals.iter().map(value_text))
                        .collect();
                    out.push(Record {
                        line: i as u64 + 1,
                        fields,
                    });
                }
            }
        }
        Some(Value::Object(o)) if o.contains_key("records") => {
            for (i, r) in o["records"].as_array().into_iter().flatten().enumerate() {
                push(i as u64 + 1, r);
            }
        }
        Some(Value::Array(a)) => {
            for (i, r) in a.iter().enumerate() {
                push(i as u64 + 1, r);
            }
        }
        Some(v @ Value::Object(_)) => push(1, &v),
        _ => {
            for (i, l) in text.lines().enumerate() {
                if l.trim().is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(l)
                    .map_err(|e| em.error(Some(i as u64 + 1), format!("not a JSON object: {e}")))?;
                match v.get("records").and_then(Value::as_array) {
                    Some(rs) => rs.iter().for_each(|r| push(i as u64 + 1, r)),
                    None => push(i as u64 + 1, &v),
                }
            }
        }
    }
    Ok(out)
}

fn records(text: &str, em: &Emitter<'_, '_>) -> Result<Vec<Record>, IngestError> {
    let t = text.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        json_records(text, em)
    } else {
        csv_records(text, em)
    }
}

/// A date-time field: ISO 8601 (0–9 fractional digits, with or without zone), .NET ticks or
/// unix seconds; portal CSVs with locale dates are refused with how to export ISO dates.
fn time_of(r: &Record, keys: &[&str]) -> Result<i64, String> {
    let Some((k, v)) = keys.iter().find_map(|k| r.get(k).map(|v| (*k, v))) else {
        return Err(format!("no time field ({})", keys.join(", ")));
    };
    if let Some(t) = parse_datetime(v) {
        return Ok(t);
    }
    // .NET ticks (100 ns since 0001-01-01) are above 6e17; read as an integer
    // (an f64 would round them by tens of microseconds).
    if let Ok(ticks) = v.trim().parse::<i64>()
        && ticks > 600_000_000_000_000_000
    {
        return Ok(ticks / 10 - 62_135_596_800_000_000);
    }
    if let Ok(x) = v.trim().parse::<f64>()
        && let Some(t) = from_unix_number(x)
    {
        return Ok(t);
    }
    if v.contains('/') || v.contains(" AM") || v.contains(" PM") {
        return Err(format!(
            "{k}: '{}' is a locale-formatted date (the portal's CSV export writes dates in the browser's locale); export ISO 8601 dates instead: add `| extend {k} = tostring({k})` to the query, or use the query API (JSON)",
            crate::output::clip(v, 40)
        ));
    }
    Err(format!(
        "{k}: '{}' is not a date-time (ISO 8601, .NET ticks or unix seconds)",
        crate::output::clip(v, 40)
    ))
}

/// A token count: a whole number, possibly written `12.0` or `[12]`.
fn count_of(r: &Record, key: &str) -> Result<Option<u64>, String> {
    let Some(v) = r.get(key) else {
        return Ok(None);
    };
    match super::sink::count_value(v) {
        Some(n) => Ok(Some(n)),
        None => Err(format!(
            "{key}: '{}' is not a token count (a whole number in digits, e.g. 1843 or 1843.0)",
            crate::output::clip(v, 40)
        )),
    }
}

fn status_of(r: &Record, keys: &[&str]) -> Option<u16> {
    keys.iter()
        .find_map(|k| r.get(k))
        .and_then(|v| v.trim().trim_end_matches(".0").parse::<u16>().ok())
}

/// `/openai/deployments/gpt-4o/chat/…` → `gpt-4o`; a URL's host.
fn deployment_from_url(url: &str) -> Option<String> {
    let i = url.find("/deployments/")? + "/deployments/".len();
    Some(url[i..].split(['/', '?']).next()?.to_string()).filter(|s| !s.is_empty())
}

fn host_of(url: &str) -> Option<String> {
    let rest = url.split("://").nth(1)?;
    Some(rest.split(['/', ':', '?']).next()?.to_string()).filter(|s| !s.is_empty())
}

/// Reads one usage-log file into rows (the APIM join spans files: see [`read_apim`]).
pub(crate) fn read(file: &mut OpenFile, em: &mut Emitter<'_, '_>) -> Result<(), IngestError> {
    if file.format == InputFormat::BatchInput {
        return Err(em.error(
            None,
            "a Batch API input file (custom_id, url, body) has no arrival times to profile or replay: `spillway count --batch FILE` counts its tokens and checks the enqueued-token quota; the job's output file (custom_id, response) is read here",
        ));
    }
    let text = read_text(file, em)?;
    let rows = match file.format {
        InputFormat::LiteLlm => litellm(&records(&text, em)?),
        InputFormat::BatchOutput => batch_output(&json_records(&text, em)?),
        InputFormat::Helicone => helicone(&records(&text, em)?),
        InputFormat::Langfuse => langfuse(&records(&text, em)?),
        InputFormat::PerMinute => per_minute(&csv_records(&text, em)?),
        InputFormat::UsageApi => usage_api(&text, em)?,
        InputFormat::AzureMetrics => azure_metrics(&text, em)?,
        InputFormat::Apim => apim(&[(em.label.clone(), records(&text, em)?)]),
        _ => return Err(em.error(None, "not a usage-log format")),
    };
    emit(em, rows)
}

/// Reads the APIM exports among the inputs together: the LLM log and the gateway log of a
/// request sit in different files (or tables), joined on `CorrelationId`.
pub(crate) fn read_apim(
    files: &mut [OpenFile],
    em: &mut Emitter<'_, '_>,
) -> Result<(), IngestError> {
    let mut all = Vec::new();
    for f in files.iter_mut() {
        let label = f.path.display().to_string();
        let text = read_text(f, em)?;
        all.push((label, records(&text, em)?));
    }
    let rows = apim(&all);
    emit(em, rows)
}

/// Rows (or their errors, with the line) into the emitter; `--by` fields by name.
fn emit(
    em: &mut Emitter<'_, '_>,
    rows: Vec<Result<UsageRow, (u64, String)>>,
) -> Result<(), IngestError> {
    let by: Vec<String> = em.opts.by.iter().map(|d| norm(d)).collect();
    let mut missing_tokens = 0u64;
    let parsed: Vec<(u64, super::sink::RowResult<'static>)> = rows
        .into_iter()
        .map(|r| match r {
            Err((line, e)) => (line, Err(e)),
            Ok(u) => {
                if u.prompt.is_none() {
                    missing_tokens += 1;
                }
                let dims = by
                    .iter()
                    .map(|d| {
                        let v = if d == "status" {
                            u.status.map(|s| s.to_string())
                        } else {
                            u.fields.get(d).cloned()
                        };
                        Cow::Owned(
                            v.filter(|s| !s.is_empty())
                                .unwrap_or_else(|| "(none)".into()),
                        )
                    })
                    .collect();
                let failed = u.failed || u.status.is_some_and(|s| s >= 400);
                (
                    u.line,
                    Ok(Parsed {
                        t_us: u.t_us,
                        prompt: u.prompt.unwrap_or(0).min(u32::MAX as u64) as u32,
                        completion: u.completion.unwrap_or(0).min(u32::MAX as u64) as u32,
                        cached: u.cached.min(u32::MAX as u64) as u32,
                        max_tokens: u.max_tokens.min(u32::MAX as u64) as u32,
                        failed,
                        model: u.model.map(Cow::Owned),
                        dims,
                        usage_pair: None,
                        no_completion: u.completion.is_none(),
                    }),
                )
            }
        })
        .collect();
    em.note_missing_tokens(missing_tokens);
    em.emit(vec![(0, parsed)])
}

type Rows = Vec<Result<UsageRow, (u64, String)>>;

/// The APIM join.
fn apim(files: &[(String, Vec<Record>)]) -> Rows {
    #[derive(Default)]
    struct Req<'a> {
        llm: Option<&'a Record>,
        gateway: Option<&'a Record>,
        first: Option<&'a Record>,
    }
    let mut by_id: HashMap<&str, Req<'_>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut out: Rows = Vec::new();
    for (_, recs) in files {
        for r in recs {
            let Some(id) = r.get("correlationid") else {
                out.push(Err((r.line, "CorrelationId: missing".into())));
                continue;
            };
            let e = by_id.entry(id).or_insert_with(|| {
                order.push(id);
                Req::default()
            });
            e.first.get_or_insert(r);
            let category = r.get("category").unwrap_or("");
            let is_gateway = category.eq_ignore_ascii_case("GatewayLogs")
                || r.fields.contains_key("responsecode")
                || r.fields.contains_key("backendresponsecode");
            if is_gateway {
                e.gateway.get_or_insert(r);
            } else {
                // The row that carries the tokens: a deployment name or token counts (message
                // chunks carry neither).
                let carries = r.get("deploymentname").is_some()
                    || r.get("prompttokens").is_some_and(|v| v != "0");
                if carries && e.llm.is_none() {
                    e.llm = Some(r);
                }
            }
        }
    }
    for id in order {
        let e = &by_id[id];
        let main = e.gateway.or(e.llm).or(e.first);
        let Some(main) = main else { continue };
        let line = main.line;
        let row = (|| -> Result<UsageRow, String> {
            let t_us = time_of(main, &["timegenerated", "time"])?;
            let mut u = UsageRow {
                line,
                t_us,
                ..UsageRow::default()
            };
            if let Some(l) = e.llm {
                u.prompt = count_of(l, "prompttokens")?;
                u.completion = count_of(l, "completiontokens")?;
                u.model = l.get("modelname").map(str::to_string);
                for (k, v) in &l.fields {
                    u.fields.insert(k.clone(), v.clone());
                }
            }
            if let Some(g) = e.gateway {
                for (k, v) in &g.fields {
                    u.fields.insert(k.clone(), v.clone());
                }
                u.status = status_of(g, &["responsecode"]);
            } else if u.prompt.is_some() {
                u.status = Some(200);
            }
            let deployment = u
                .fields
                .get("deploymentname")
                .filter(|s| !s.is_empty())
                .cloned()
                .or_else(|| u.fields.get("url").and_then(|x| deployment_from_url(x)));
            let backend = u
                .fields
                .get("backendid")
                .filter(|s| !s.is_empty())
                .cloned()
                .or_else(|| u.fields.get("backendurl").and_then(|x| host_of(x)));
            if let Some(d) = deployment {
                u.fields.insert("deployment".into(), d);
            }
            if let Some(b) = backend {
                u.fields.insert("backend".into(), b);
            }
            if let Some(s) = u.fields.get("apimsubscriptionid").cloned() {
                u.fields.insert("tenant".into(), s);
            }
            if let Some(m) = &u.model {
                u.fields.insert("model".into(), m.clone());
            }
            Ok(u)
        })();
        out.push(row.map_err(|m| (line, m)));
    }
    out.sort_by_key(|r| r.as_ref().map_or(i64::MIN, |u| u.t_us));
    out
}

/// LiteLLM `LiteLLM_SpendLogs`.
fn litellm(recs: &[Record]) -> Rows {
    each_row(recs, |r| {
        // `metadata` arrives as a JSON string in CSV dumps.
        let meta = flatten_embedded(r, "metadata");
        let t_us = time_of(&meta, &["starttime"])?;
        let prompt = count_of(&meta, "prompttokens")?;
        let completion = count_of(&meta, "completiontokens")?;
        let cached = count_of(
            &meta,
            "metadata.usageobject.prompttokensdetails.cachedtokens",
        )?
        .or(count_of(
            &meta,
            "metadata.usageobject.cachereadinputtokens",
        )?)
        .unwrap_or(0);
        let status_text = meta.get("status").unwrap_or("success").to_ascii_lowercase();
        let code = status_of(&meta, &["metadata.errorinformation.errorcode"]);
        let status = if status_text == "failure" {
            Some(code.unwrap_or(500))
        } else {
            Some(200)
        };
        let model = meta
            .get("model")
            .or(meta.get("modelgroup"))
            .map(str::to_string);
        let mut u = UsageRow {
            line: r.line,
            t_us,
            prompt,
            completion,
            cached,
            model,
            status,
            fields: meta.fields.into(),
            ..UsageRow::default()
        };
        let alias = u.fields.get("metadata.userapikeyalias").cloned();
        let tenant = u
            .fields
            .get("teamid")
            .filter(|s| !s.is_empty())
            .cloned()
            .or(alias);
        if let Some(t) = tenant {
            u.fields.insert("tenant".into(), t);
        }
        if let Some(b) = u.fields.get("apibase").and_then(|x| host_of(x)) {
            u.fields.insert("backend".into(), b);
        }
        if let Some(g) = u.fields.get("modelgroup").cloned() {
            u.fields.insert("deployment".into(), g);
        }
        Ok(u)
    })
}

/// One row per record: `read` makes it, or says what is wrong (the record's line is added).
fn each_row<'a>(
    recs: impl IntoIterator<Item = &'a Record>,
    read: impl Fn(&Record) -> Result<UsageRow, String>,
) -> Rows {
    recs.into_iter()
        .map(|r| read(r).map_err(|m| (r.line, m)))
        .collect()
}

/// A record's fields, with `tenant` set from the field `key` when it has a value.
fn fields_with_tenant(r: Record, key: &str) -> Fields {
    let tenant = r.get(key).map(str::to_string);
    let mut fields = Fields::from(r.fields);
    if let Some(t) = tenant {
        fields.insert("tenant".into(), t);
    }
    fields
}

/// A JSON object that arrives as a string in CSV exports (`metadata`, `usage_details`,
/// `request_properties`), flattened into the record under its field name.
fn flatten_embedded(r: &Record, field: &str) -> Record {
    let mut fields = r.fields.clone();
    if let Some(m) = r.get(field)
        && m.trim_start().starts_with('{')
        && let Ok(v) = serde_json::from_str::<Value>(m)
    {
        flatten(field, &v, &mut fields);
    }
    Record {
        line: r.line,
        fields,
    }
}

/// Helicone request exports (`@helicone/export` JSON, JSONL or CSV; the request query API):
/// one row per request with its HTTP status, tokens and cache reads.
fn helicone(recs: &[Record]) -> Rows {
    each_row(recs, |r| {
        let r = flatten_embedded(r, "requestproperties");
        let t_us = time_of(&r, &["requestcreatedat"])?;
        let status = status_of(&r, &["responsestatus"]);
        let mut u = UsageRow {
            line: r.line,
            t_us,
            prompt: count_of(&r, "prompttokens")?,
            completion: count_of(&r, "completiontokens")?,
            cached: count_of(&r, "promptcachereadtokens")?.unwrap_or(0),
            model: r
                .get("requestmodel")
                .or(r.get("responsemodel"))
                .map(str::to_string),
            status,
            ..UsageRow::default()
        };
        u.fields = fields_with_tenant(r, "requestuserid");
        Ok(u)
    })
}

/// Langfuse observation exports (UI or blob-storage CSV / JSON / JSONL, snake_case or the
/// API's camelCase): the `GENERATION` rows (model calls; spans and events are not requests),
/// tokens from `usage_details.input` / `.output`. Langfuse records no HTTP status: `level:
/// ERROR` marks a failed call. Cached-input keys in `usage_details` vary by provider and are
/// not read (the summary says no cached tokens were found).
fn langfuse(recs: &[Record]) -> Rows {
    let generations = recs.iter().filter(|r| {
        r.get("type")
            .is_none_or(|t| t.eq_ignore_ascii_case("GENERATION"))
    });
    each_row(generations, |r| {
        let r = flatten_embedded(r, "usagedetails");
        let t_us = time_of(&r, &["starttime"])?;
        let failed = r
            .get("level")
            .is_some_and(|l| l.eq_ignore_ascii_case("ERROR"));
        let mut u = UsageRow {
            line: r.line,
            t_us,
            prompt: count_of(&r, "usagedetails.input")?,
            completion: count_of(&r, "usagedetails.output")?,
            model: r
                .get("providedmodelname")
                .or(r.get("model"))
                .map(str::to_string),
            failed,
            ..UsageRow::default()
        };
        u.fields = fields_with_tenant(r, "userid");
        Ok(u)
    })
}

/// Batch output lines: one response each.
fn batch_output(recs: &[Record]) -> Rows {
    each_row(recs, |r| {
        let t_us = time_of(r, &["response.body.created", "created"])?;
        let status = status_of(r, &["response.statuscode", "statuscode"]);
        let prompt = count_of(r, "response.body.usage.prompttokens")?
            .or(count_of(r, "response.body.usage.inputtokens")?);
        let completion = count_of(r, "response.body.usage.completiontokens")?
            .or(count_of(r, "response.body.usage.outputtokens")?);
        let cached =
            count_of(r, "response.body.usage.prompttokensdetails.cachedtokens")?.unwrap_or(0);
        Ok(UsageRow {
            line: r.line,
            t_us,
            prompt,
            completion,
            cached,
            model: r.get("response.body.model").map(str::to_string),
            status: status.or(Some(if r.get("error.code").is_some() {
                400
            } else {
                200
            })),
            fields: r.fields.clone().into(),
            ..UsageRow::default()
        })
    })
}

/// A bucket of an aggregate: `n` requests and their tokens over `width_us` from `start_us`.
struct Bucket {
    line: u64,
    start_us: i64,
    width_us: i64,
    requests: u64,
    prompt: u64,
    completion: u64,
    cached: u64,
    status: Option<u16>,
    model: Option<String>,
    fields: HashMap<String, String>,
}

/// The spread rule: request i of n at start + (i + ½) ÷ n of the width; tokens split evenly,
/// the remainder one token at a time to the first requests.
fn spread(b: &Bucket, out: &mut Rows) {
    let n = b.requests;
    // Rows so far (skipped ones included: an upper bound, in constant time).
    if out.len() as u64 + n > MAX_SPREAD_REQUESTS {
        out.push(Err((
            b.line,
            format!(
                "requests: spreading this row's {} requests would take the file past {} requests (aggregates are replayed request by request, in memory); read a shorter span (`spillway query --days`)",
                crate::output::thousands(n),
                crate::output::thousands(MAX_SPREAD_REQUESTS)
            ),
        )));
        return;
    }
    let fields = Fields::from(b.fields.clone());
    let share = |total: u64, i: u64| total / n + u64::from(i < total % n);
    for i in 0..n {
        let t = b.start_us + ((2 * i + 1) as f64 / (2 * n) as f64 * b.width_us as f64) as i64;
        out.push(Ok(UsageRow {
            line: b.line,
            t_us: t,
            prompt: Some(share(b.prompt, i)),
            completion: Some(share(b.completion, i)),
            cached: share(b.cached, i),
            model: b.model.clone(),
            status: b.status,
            fields: fields.clone(),
            ..UsageRow::default()
        }));
    }
}

/// Most requests one aggregate row may stand for (a minute of 100 M requests is not a
/// usage export).
const MAX_BUCKET_REQUESTS: u64 = 100_000_000;

/// Most requests the aggregates of one file are spread into (each is a row in memory until the
/// file is read: about 200 bytes, so 2 GB at most; a week at 1,000 requests a minute).
const MAX_SPREAD_REQUESTS: u64 = 10_000_000;

/// spillway's per-minute CSV: `minute`, `requests`, `prompt_tokens`, `completion_tokens`,
/// optional `cached_tokens` and `status`, and any dimension columns.
fn per_minute(recs: &[Record]) -> Rows {
    let mut out = Vec::new();
    for r in recs {
        let b = (|| -> Result<Bucket, String> {
            let start_us = time_of(r, &["minute"])?;
            let requests = count_of(r, "requests")?.unwrap_or(0);
            if requests > MAX_BUCKET_REQUESTS {
                return Err(format!(
                    "requests: {requests} in one minute is not plausible"
                ));
            }
            let mut fields = r.fields.clone();
            let model = r.get("model").map(str::to_string);
            if let Some(m) = &model {
                fields.insert("model".into(), m.clone());
            }
            Ok(Bucket {
                line: r.line,
                start_us,
                width_us: 60_000_000,
                requests,
                prompt: count_of(r, "prompttokens")?.unwrap_or(0),
                completion: count_of(r, "completiontokens")?.unwrap_or(0),
                cached: count_of(r, "cachedtokens")?.unwrap_or(0),
                status: status_of(r, &["status", "responsecode"]),
                model,
                fields,
            })
        })();
        match b {
            Ok(b) => spread(&b, &mut out),
            Err(m) => out.push(Err((r.line, m))),
        }
    }
    out.sort_by_key(|r| r.as_ref().map_or(i64::MIN, |u| u.t_us));
    out
}

/// OpenAI Usage API (completions) JSON pages, or the dashboard's CSV export.
fn usage_api(text: &str, em: &Emitter<'_, '_>) -> Result<Rows, IngestError> {
    let mut out = Vec::new();
    let t = text.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        // Dashboard CSV: start_time, end_time, …, result fields flattened.
        for r in csv_records(text, em)? {
            let b = (|| -> Result<Bucket, String> {
                let start_us = time_of(&r, &["starttime", "starttimeiso"])?;
                let end_us = time_of(&r, &["endtime", "endtimeiso"])?;
                Ok(Bucket {
                    line: r.line,
                    start_us,
                    width_us: (end_us - start_us).max(1),
                    requests: count_of(&r, "nummodelrequests")?
                        .unwrap_or(0)
                        .min(MAX_BUCKET_REQUESTS),
                    prompt: count_of(&r, "inputtokens")?.unwrap_or(0),
                    completion: count_of(&r, "outputtokens")?.unwrap_or(0),
                    cached: count_of(&r, "inputcachedtokens")?.unwrap_or(0),
                    status: None,
                    model: r.get("model").map(str::to_string),
                    fields: r.fields.clone(),
                })
            })();
            match b {
                Ok(b) => spread(&b, &mut out),
                Err(m) => out.push(Err((r.line, m))),
            }
        }
        return Ok(out);
    }
    // One page, an array of pages, or JSON lines of pages.
    let pages: Vec<Value> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(a)) => a,
        Ok(v) => vec![v],
        Err(_) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .map_err(|e| em.error(Some(i as u64 + 1), format!("not a JSON page: {e}")))
            })
            .collect::<Result<_, _>>()?,
    };
    let mut line = 0u64;
    for page in &pages {
        for bucket in page["data"].as_array().into_iter().flatten() {
            let (Some(s), Some(e)) = (bucket["start_time"].as_i64(), bucket["end_time"].as_i64())
            else {
                continue;
            };
            for res in bucket["results"].as_array().into_iter().flatten() {
                line += 1;
                let n = |k: &str| {
                    res[k]
                        .as_u64()
                        .or_else(|| res[k].as_f64().map(|x| x as u64))
                };
                let mut fields = HashMap::new();
                flatten("", res, &mut fields);
                let b = Bucket {
                    line,
                    start_us: s * 1_000_000,
                    width_us: ((e - s) * 1_000_000).max(1),
                    requests: n("num_model_requests")
                        .unwrap_or(0)
                        .min(MAX_BUCKET_REQUESTS),
                    prompt: n("input_tokens").unwrap_or(0),
                    completion: n("output_tokens").unwrap_or(0),
                    cached: n("input_cached_tokens").unwrap_or(0),
                    status: None,
                    model: res["model"].as_str().map(str::to_string),
                    fields,
                };
                spread(&b, &mut out);
            }
        }
    }
    out.sort_by_key(|r| r.as_ref().map_or(i64::MIN, |u| u.t_us));
    Ok(out)
}

/// Azure OpenAI metrics: the Metrics REST API JSON (`value[].timeseries[].data[]`, with
/// dimensions) or the `AzureMetrics` table (no dimensions). Requests come from
/// `AzureOpenAIRequests` (split by `StatusCode` when present), tokens from
/// `ProcessedPromptTokens` and `GeneratedTokens`, spread over the requests that were not
/// throttled in the same minute and deployment.
fn azure_metrics(text: &str, em: &Emitter<'_, '_>) -> Result<Rows, IngestError> {
    // (minute, deployment) → (requests by status, prompt, completion)
    type Key = (i64, String);
    let mut cells: HashMap<Key, (HashMap<u16, u64>, u64, u64, u64)> = HashMap::new();
    let t = text.trim_start();
    let mut add =
        |minute: i64, dep: String, metric: &str, status: Option<u16>, v: u64, line: u64| {
            let c = cells
                .entry((minute, dep))
                .or_insert((HashMap::new(), 0, 0, line));
            match metric.to_ascii_lowercase().as_str() {
                "azureopenairequests" => *c.0.entry(status.unwrap_or(200)).or_insert(0) += v,
                "processedprompttokens" => c.1 += v,
                "generatedtokens" => c.2 += v,
                _ => {}
            }
        };
    if t.starts_with('{') {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| em.error(None, format!("not Metrics REST JSON: {e}")))?;
        let mut line = 0;
        for m in v["value"].as_array().into_iter().flatten() {
            let name = m["name"]["value"].as_str().unwrap_or("");
            for ts in m["timeseries"].as_array().into_iter().flatten() {
                let meta: HashMap<String, String> = ts["metadatavalues"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| {
                        (
                            norm(x["name"]["value"].as_str().unwrap_or("")),
                            value_text(&x["value"]),
                        )
                    })
                    .collect();
                let dep = meta.get("modeldeploymentname").cloned().unwrap_or_default();
                let status = meta.get("statuscode").and_then(|s| s.parse().ok());
                for d in ts["data"].as_array().into_iter().flatten() {
                    line += 1;
                    let ts_text = d["timeStamp"].as_str().unwrap_or("");
                    let minute = parse_datetime(ts_text).ok_or_else(|| {
                        em.error(
                            Some(line),
                            format!("timeStamp: '{ts_text}' is not a date-time"),
                        )
                    })?;
                    let v = d["total"].as_f64().unwrap_or(0.0).max(0.0) as u64;
                    add(minute, dep.clone(), name, status, v, line);
                }
            }
        }
    } else {
        for r in csv_records(text, em)? {
            let minute = time_of(&r, &["timegenerated"]).map_err(|m| em.error(Some(r.line), m))?;
            let total = r
                .get("total")
                .and_then(|x| x.parse::<f64>().ok())
                .unwrap_or(0.0)
                .max(0.0) as u64;
            add(
                minute,
                String::new(),
                r.get("metricname").unwrap_or(""),
                None,
                total,
                r.line,
            );
        }
    }
    let mut out = Vec::new();
    let mut keys: Vec<&Key> = cells.keys().collect();
    keys.sort();
    for k in keys {
        let (by_status, prompt, completion, line) = &cells[k];
        let mut fields = HashMap::new();
        if !k.1.is_empty() {
            fields.insert("deployment".to_string(), k.1.clone());
            fields.insert("modeldeploymentname".to_string(), k.1.clone());
        }
        let ok: u64 = by_status
            .iter()
            .filter(|(s, _)| **s < 400)
            .map(|(_, n)| n)
            .sum();
        let mut statuses: Vec<(&u16, &u64)> = by_status.iter().collect();
        statuses.sort();
        for (status, n) in statuses {
            let served = *status < 400;
            let b = Bucket {
                line: *line,
                start_us: k.0,
                width_us: 60_000_000,
                requests: (*n).min(MAX_BUCKET_REQUESTS),
                // Tokens belong to the requests that were processed, in proportion.
                prompt: if served && ok > 0 { prompt * n / ok } else { 0 },
                completion: if served && ok > 0 {
                    completion * n / ok
                } else {
                    0
                },
                cached: 0,
                status: Some(*status),
                model: None,
                fields: fields.clone(),
            };
            spread(&b, &mut out);
        }
    }
    out.sort_by_key(|r| r.as_ref().map_or(i64::MIN, |u| u.t_us));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_usage_logs_by_their_keys() {
        let d = |ext: &str, head: &str| detect(ext, head.as_bytes());
        assert_eq!(
            d(
                "csv",
                "TimeGenerated,CorrelationId,SequenceNumber,DeploymentName,ModelName,PromptTokens\n"
            ),
            Some(InputFormat::Apim)
        );
        assert_eq!(
            d(
                "csv",
                "TimeGenerated,CorrelationId,ApimSubscriptionId,BackendResponseCode,ResponseCode\n"
            ),
            Some(InputFormat::Apim)
        );
        assert_eq!(
            d(
                "csv",
                "request_id,call_type,api_key,spend,total_tokens,prompt_tokens,completion_tokens,startTime,model_group\n"
            ),
            Some(InputFormat::LiteLlm)
        );
        assert_eq!(
            d(
                "csv",
                "minute,model,requests,prompt_tokens,completion_tokens\n"
            ),
            Some(InputFormat::PerMinute)
        );
        assert_eq!(
            d(
                "jsonl",
                "{\"id\":\"batch_req_1\",\"custom_id\":\"a\",\"response\":{\"status_code\":200}}\n"
            ),
            Some(InputFormat::BatchOutput)
        );
        assert_eq!(
            d("json", "{\"object\": \"page\", \"data\": []}"),
            Some(InputFormat::UsageApi)
        );
        assert_eq!(
            d("json", "{\"value\":[{\"timeseries\":[]}]}"),
            Some(InputFormat::AzureMetrics)
        );
        assert_eq!(d("csv", "time,prompt\n"), None);
    }

    #[test]
    fn spread_keeps_every_minutes_totals() {
        let mut out = Vec::new();
        spread(
            &Bucket {
                line: 1,
                start_us: 0,
                width_us: 60_000_000,
                requests: 3,
                prompt: 10,
                completion: 5,
                cached: 0,
                status: None,
                model: None,
                fields: HashMap::new(),
            },
            &mut out,
        );
        let rows: Vec<UsageRow> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(rows.iter().map(|r| r.prompt.unwrap()).sum::<u64>(), 10);
        assert_eq!(rows.iter().map(|r| r.completion.unwrap()).sum::<u64>(), 5);
        assert_eq!(rows[0].t_us, 10_000_000);
        assert_eq!(rows[2].t_us, 50_000_000);
        assert!(rows.iter().all(|r| r.t_us < 60_000_000));
    }

    #[test]
    fn times_accept_iso_ticks_and_unix_and_refuse_locale_dates() {
        let r = |v: &str| Record {
            line: 1,
            fields: HashMap::from([("timegenerated".to_string(), v.to_string())]),
        };
        assert_eq!(
            time_of(&r("2025-03-11T09:14:09.5127734Z"), &["timegenerated"]).unwrap(),
            parse_datetime("2025-03-11T09:14:09.512773Z").unwrap()
        );
        // .NET ticks: 638772812480312000 = 2025-03-11T09:14:08.0312Z.
        assert_eq!(
            time_of(&r("638772812480312000"), &["timegenerated"]).unwrap(),
            parse_datetime("2025-03-11T09:14:08.0312Z").unwrap()
        );
        let e = time_of(&r("3/11/2025, 9:14:09.512 AM"), &["timegenerated"]).unwrap_err();
        assert!(e.contains("locale") && e.contains("tostring"), "{e}");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::catalog::Catalog;
        use crate::ingest::{IngestError, IngestOptions, NoProgress, read_all};

        const FIXTURES: [&str; 9] = [
            "apim-llm.csv",
            "apim-gateway.csv",
            "litellm-spend.csv",
            "batch-output.jsonl",
            "metrics.json",
            "per-minute.csv",
            "usage-api.json",
            "helicone.jsonl",
            "langfuse-observations.csv",
        ];

        fn fixture(name: &str) -> Vec<u8> {
            std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/usage")
                    .join(name),
            )
            .unwrap()
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

            /// The spread rule keeps each bucket's request and token totals and puts every
            /// request inside its bucket, in order.
            #[test]
            fn spread_keeps_totals_inside_the_bucket(
                requests in 1u64..2_000,
                prompt in 0u64..10_000_000_000,
                completion in 0u64..1_000_000_000,
                cached_share in 0.0f64..1.0,
                start_us in -1_000_000_000_000i64..4_000_000_000_000_000,
                width_us in 1i64..86_400_000_000,
            ) {
                let cached = (prompt as f64 * cached_share) as u64;
                let mut out = Vec::new();
                spread(&Bucket {
                    line: 7, start_us, width_us, requests, prompt, completion, cached,
                    status: Some(200), model: None, fields: HashMap::new(),
                }, &mut out);
                let rows: Vec<UsageRow> = out.into_iter().map(|r| r.unwrap()).collect();
                prop_assert_eq!(rows.len() as u64, requests);
                prop_assert_eq!(rows.iter().map(|r| r.prompt.unwrap()).sum::<u64>(), prompt);
                prop_assert_eq!(rows.iter().map(|r| r.completion.unwrap()).sum::<u64>(), completion);
                prop_assert_eq!(rows.iter().map(|r| r.cached).sum::<u64>(), cached);
                prop_assert!(rows.iter().all(|r| r.cached <= r.prompt.unwrap()));
                prop_assert!(rows.windows(2).all(|w| w[0].t_us <= w[1].t_us));
                prop_assert!(rows.iter().all(|r| r.t_us >= start_us && r.t_us < start_us + width_us));
            }

            /// A damaged export never panics: it is read, or refused with an error naming the
            /// file; what is read never has more requests than a row can stand for.
            #[test]
            fn damaged_exports_are_read_or_refused_by_name(
                which in 0usize..FIXTURES.len(),
                edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..6),
            ) {
                let name = FIXTURES[which];
                let mut bytes = fixture(name);
                crate::ingest::json::damage(&mut bytes, edits);
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join(name);
                std::fs::write(&path, &bytes).unwrap();
                let catalog = Catalog::embedded();
                // With --skip-bad every row is read or skipped and counted.
                let mut skipping = IngestOptions::new("gpt-4o");
                skipping.skip_bad = true;
                if let Ok((reqs, summary)) = read_all(std::slice::from_ref(&path), &skipping, &catalog, &NoProgress) {
                    prop_assert_eq!(reqs.len() as u64, summary.requests);
                    prop_assert_eq!(summary.rows_read, summary.requests + summary.skipped);
                }
                match read_all(std::slice::from_ref(&path), &IngestOptions::new("gpt-4o"), &catalog, &NoProgress) {
                    Ok((reqs, summary)) => {
                        prop_assert_eq!(reqs.len() as u64, summary.requests);
                        prop_assert_eq!(summary.rows_read, summary.requests + summary.skipped);
                    }
                    Err(e) => {
                        let text = e.to_string();
                        prop_assert!(text.contains(name), "{}", text);
                        let named = matches!(e, IngestError::Row { .. } | IngestError::File { .. } | IngestError::Io { .. });
                        prop_assert!(named);
                    }
                }
            }
        }
    }
}
