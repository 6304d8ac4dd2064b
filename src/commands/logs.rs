//! `simulate --log-out`: the simulated traffic written as a gateway would have logged it, in
//! the export formats `ingest::usage` reads — APIM `ApiManagementGatewayLlmLog` +
//! `ApiManagementGatewayLogs` (Log Analytics CSV, or diagnostic-setting JSON lines) and
//! LiteLLM `LiteLLM_SpendLogs`. One gateway row per request (its final outcome, as APIM logs a
//! request whose retries happened inside the policy), one LLM-log row per request a deployment
//! served. Used to test log pipelines and to make calibration samples with known parameters.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::workload::Traffic;
use crate::cli::LogFormat;
use crate::ingest::time::format_utc;
use crate::sim::{SimReport, SimRequest, Topology};

/// A correlation id that looks like APIM's (a UUID), the same for the same seed and request.
fn correlation_id(seed: u64, i: usize) -> String {
    let mut r = crate::sim::Rng::new(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let (a, b) = (r.next_u64(), r.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// What one request looked like to the gateway.
struct Line<'a> {
    id: String,
    t_us: i64,
    end_us: i64,
    tenant: &'a str,
    status: u16,
    from_gateway: bool,
    dep: Option<usize>,
    served: bool,
    prompt: u32,
    completion: u32,
    cached: u32,
}

fn lines<'a>(
    reqs: &[SimRequest],
    report: &SimReport,
    traffic: &'a Traffic,
    seed: u64,
) -> Vec<Line<'a>> {
    let recs = report.requests.as_deref().unwrap_or(&[]);
    let tenant_of = |i: usize| -> &'a str {
        let Some(s) = &traffic.summary else {
            return "default";
        };
        let Some(ti) = s.dims.iter().position(|d| d == "tenant") else {
            return "default";
        };
        traffic
            .trace
            .get(i)
            .and_then(|r| s.groups.get(r.group as usize))
            .and_then(|g| g.get(ti))
            .map(String::as_str)
            .filter(|v| *v != "(none)")
            .unwrap_or("default")
    };
    reqs.iter()
        .enumerate()
        .map(|(i, r)| {
            let o = recs.get(i).copied().unwrap_or_default();
            Line {
                id: correlation_id(seed, i),
                t_us: r.t_us,
                end_us: r.t_us + o.latency_us.max(0),
                tenant: tenant_of(i),
                status: if o.status == 0 { 200 } else { o.status },
                from_gateway: o.from_gateway,
                dep: o.served_by.or(o.last_dep),
                served: o.served_by.is_some(),
                prompt: r.prompt,
                completion: r.completion,
                cached: r.cached,
            }
        })
        .collect()
}

const API_VERSION: &str = "2024-10-21";

fn urls(topo: &Topology, dep: Option<usize>) -> (String, String, String) {
    match dep {
        Some(d) => {
            let name = &topo.deployments[d].name;
            (
                format!(
                    "https://contoso-apim.azure-api.net/openai/deployments/{name}/chat/completions?api-version={API_VERSION}"
                ),
                name.clone(),
                format!(
                    "https://{name}.openai.azure.com/openai/deployments/{name}/chat/completions?api-version={API_VERSION}"
                ),
            )
        }
        None => (
            format!(
                "https://contoso-apim.azure-api.net/openai/deployments/default/chat/completions?api-version={API_VERSION}"
            ),
            String::new(),
            String::new(),
        ),
    }
}

/// Writes the log files; returns their paths.
pub(crate) fn write(
    prefix: &Path,
    format: LogFormat,
    topo: &Topology,
    reqs: &[SimRequest],
    report: &SimReport,
    traffic: &Traffic,
    seed: u64,
) -> anyhow::Result<Vec<String>> {
    let ls = lines(reqs, report, traffic, seed);
    let region = |d: usize| topo.regions[topo.deployments[d].region].name.clone();
    match format {
        LogFormat::Apim => {
            let llm_path = with_suffix(prefix, "-llm.csv");
            let gw_path = with_suffix(prefix, "-gateway.csv");
            let mut llm = csv::Writer::from_path(&llm_path)?;
            let mut gw = csv::Writer::from_path(&gw_path)?;
            llm.write_record([
                "TimeGenerated",
                "CorrelationId",
                "RequestId",
                "SequenceNumber",
                "DeploymentName",
                "ModelName",
                "ApiVersion",
                "OperationName",
                "IsStreamCompletion",
                "PromptTokens",
                "CompletionTokens",
                "TotalTokens",
                "Region",
                "RequestMessages",
                "ResponseMessages",
            ])?;
            gw.write_record([
                "TimeGenerated",
                "CorrelationId",
                "ApiId",
                "OperationId",
                "ApimSubscriptionId",
                "ProductId",
                "UserId",
                "Region",
                "Method",
                "Url",
                "BackendId",
                "BackendUrl",
                "BackendResponseCode",
                "ResponseCode",
                "IsRequestSuccess",
                "TotalTime",
            ])?;
            for (i, l) in ls.iter().enumerate() {
                let (url, backend, backend_url) = urls(topo, l.dep.filter(|_| !l.from_gateway));
                let time = format_utc(l.t_us);
                gw.write_record([
                    time.as_str(),
                    &l.id,
                    "azure-openai",
                    "ChatCompletions_Create",
                    l.tenant,
                    "genai",
                    "1",
                    "West Europe",
                    "POST",
                    &url,
                    &backend,
                    &backend_url,
                    &if l.from_gateway {
                        String::new()
                    } else {
                        l.status.to_string()
                    },
                    &l.status.to_string(),
                    if l.status < 400 { "true" } else { "false" },
                    &((l.end_us - l.t_us) / 1000).to_string(),
                ])?;
                if let (true, Some(d)) = (l.served, l.dep) {
                    let dep = &topo.deployments[d];
                    llm.write_record([
                        time.as_str(),
                        &l.id,
                        &format!("chatcmpl-{i:08}"),
                        "0",
                        &dep.name,
                        &dep.model.name,
                        API_VERSION,
                        "ChatCompletions_Create",
                        "false",
                        &l.prompt.to_string(),
                        &l.completion.to_string(),
                        &(l.prompt as u64 + l.completion as u64).to_string(),
                        &region(d),
                        "",
                        "",
                    ])?;
                }
            }
            llm.flush()?;
            gw.flush()?;
            Ok(vec![
                llm_path.display().to_string(),
                gw_path.display().to_string(),
            ])
        }
        LogFormat::ApimJson => {
            let llm_path = with_suffix(prefix, "-llm.json");
            let gw_path = with_suffix(prefix, "-gateway.json");
            let mut llm = std::io::BufWriter::new(std::fs::File::create(&llm_path)?);
            let mut gw = std::io::BufWriter::new(std::fs::File::create(&gw_path)?);
            let resource = "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG-AI/PROVIDERS/MICROSOFT.APIMANAGEMENT/SERVICE/CONTOSO-APIM";
            for (i, l) in ls.iter().enumerate() {
                let (url, backend, backend_url) = urls(topo, l.dep.filter(|_| !l.from_gateway));
                let time = format_utc(l.t_us);
                let g = serde_json::json!({
                    "time": time,
                    "resourceId": resource,
                    "category": "GatewayLogs",
                    "operationName": "Microsoft.ApiManagement/GatewayLogs",
                    "correlationId": l.id,
                    "isRequestSuccess": l.status < 400,
                    "properties": {
                        "method": "POST",
                        "url": url,
                        "responseCode": l.status,
                        "backendResponseCode": if l.from_gateway { None } else { Some(l.status) },
                        "apimSubscriptionId": l.tenant,
                        "productId": "genai",
                        "userId": "1",
                        "backendId": backend,
                        "backendUrl": backend_url,
                        "totalTime": (l.end_us - l.t_us) / 1000,
                    }
                });
                writeln!(gw, "{g}")?;
                if let (true, Some(d)) = (l.served, l.dep) {
                    let dep = &topo.deployments[d];
                    let m = serde_json::json!({
                        "time": time,
                        "resourceId": resource,
                        "category": "GatewayLlmLogs",
                        "operationName": "Microsoft.ApiManagement/GatewayLlmLogs",
                        "correlationId": l.id,
                        "properties": {
                            "requestId": format!("chatcmpl-{i:08}"),
                            "sequenceNumber": 0,
                            "deploymentName": dep.name,
                            "modelName": dep.model.name,
                            "apiVersion": API_VERSION,
                            "isStreamCompletion": false,
                            "promptTokens": l.prompt,
                            "completionTokens": l.completion,
                            "totalTokens": l.prompt as u64 + l.completion as u64,
                            "region": region(d),
                        }
                    });
                    writeln!(llm, "{m}")?;
                }
            }
            llm.flush()?;
            gw.flush()?;
            Ok(vec![
                llm_path.display().to_string(),
                gw_path.display().to_string(),
            ])
        }
        LogFormat::Litellm => {
            let path = with_suffix(prefix, ".csv");
            let mut w = csv::Writer::from_path(&path)?;
            w.write_record([
                "request_id",
                "call_type",
                "api_key",
                "spend",
                "total_tokens",
                "prompt_tokens",
                "completion_tokens",
                "startTime",
                "endTime",
                "model",
                "model_group",
                "custom_llm_provider",
                "api_base",
                "user",
                "team_id",
                "end_user",
                "cache_hit",
                "status",
                "metadata",
            ])?;
            let stamp = |us: i64| {
                format_utc(us / 1000 * 1000)
                    .replace('T', " ")
                    .replace('Z', "")
            };
            for (i, l) in ls.iter().enumerate() {
                let (model, api_base) = match l.dep {
                    Some(d) => (
                        topo.deployments[d].model.name.clone(),
                        format!("https://{}.openai.azure.com/", topo.deployments[d].name),
                    ),
                    None => (String::new(), String::new()),
                };
                let ok = l.status < 400;
                let mut meta = serde_json::json!({
                    "user_api_key_alias": l.tenant,
                    "status": if ok { "success" } else { "failure" },
                });
                if ok {
                    meta["usage_object"] = serde_json::json!({
                        "prompt_tokens": l.prompt,
                        "completion_tokens": l.completion,
                        "prompt_tokens_details": {"cached_tokens": l.cached},
                    });
                } else {
                    meta["error_information"] = serde_json::json!({
                        "error_code": l.status.to_string(),
                        "error_class": if l.status == 429 { "RateLimitError" } else { "APIError" },
                    });
                }
                let (p, c) = if ok { (l.prompt, l.completion) } else { (0, 0) };
                w.write_record([
                    format!("chatcmpl-{i:08}"),
                    "acompletion".into(),
                    format!(
                        "{:016x}",
                        crate::sim::Rng::new(l.tenant.len() as u64).next_u64()
                    ),
                    "0".into(),
                    (p as u64 + c as u64).to_string(),
                    p.to_string(),
                    c.to_string(),
                    stamp(l.t_us),
                    stamp(l.end_us),
                    model.clone(),
                    model,
                    "azure".into(),
                    api_base,
                    format!("u-{}", l.tenant),
                    l.tenant.to_string(),
                    String::new(),
                    "False".into(),
                    if ok { "success" } else { "failure" }.into(),
                    meta.to_string(),
                ])?;
            }
            w.flush()?;
            Ok(vec![path.display().to_string()])
        }
    }
}
