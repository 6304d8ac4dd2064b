//! Queries that aggregate Azure API Management logs where they live — Log Analytics / Azure
//! Data Explorer (KQL) or a lakehouse holding the diagnostic-setting JSON (Spark SQL) — into
//! the per-minute series spillway reads back as a `per-minute` input: one row per minute,
//! model, deployment, backend, status and tenant with `requests`, `prompt_tokens` and
//! `completion_tokens`. Per-window sums are additive, so a month of a few hundred million
//! requests becomes a few hundred thousand rows, and profiling them gives the per-minute RPM
//! and TPM of the raw logs exactly.
//!
//! Both queries join the LLM log's token row (the one with a deployment name; never the
//! message-chunk rows) to the gateway log on the correlation id, count every gateway row
//! (429s APIM answered itself included, with 0 tokens), take the deployment from the LLM log
//! or else the request URL, and write minutes as ISO 8601 text (a datetime column exported from
//! the portal would come out in the browser's locale).

/// Which APIM identity column is the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantColumn {
    Subscription,
    Product,
    User,
}

impl TenantColumn {
    fn kql(self) -> &'static str {
        match self {
            TenantColumn::Subscription => "ApimSubscriptionId",
            TenantColumn::Product => "ProductId",
            TenantColumn::User => "UserId",
        }
    }

    fn spark(self) -> &'static str {
        match self {
            TenantColumn::Subscription => "apimSubscriptionId",
            TenantColumn::Product => "productId",
            TenantColumn::User => "userId",
        }
    }
}

/// The KQL query over the resource-specific APIM tables, for the last `days` days.
pub fn kql(days: u32, tenant: TenantColumn) -> String {
    format!(
        r#"// spillway: per-minute series from Azure API Management (Log Analytics, resource-specific
// tables ApiManagementGatewayLogs + ApiManagementGatewayLlmLog). Export the result as CSV
// (or run it with `az monitor log-analytics query` and save the JSON), then:
//   spillway profile result.csv      spillway plan -t topology.toml --trace result.csv
let since = ago({days}d);
let llm = ApiManagementGatewayLlmLog
    | where TimeGenerated >= since
    | where isnotempty(DeploymentName)
    | summarize PromptTokens = max(PromptTokens), CompletionTokens = max(CompletionTokens),
                ModelName = take_any(ModelName), DeploymentName = take_any(DeploymentName)
        by CorrelationId;
ApiManagementGatewayLogs
| where TimeGenerated >= since
| join kind=leftouter llm on CorrelationId
| extend deployment = iff(isnotempty(DeploymentName), DeploymentName,
                          extract(@"/deployments/([^/?]+)", 1, Url))
| summarize requests = count(),
            prompt_tokens = sum(coalesce(PromptTokens, 0)),
            completion_tokens = sum(coalesce(CompletionTokens, 0))
    by minute = bin(TimeGenerated, 1m), model = ModelName, deployment,
       backend = BackendId, status = ResponseCode, tenant = {tenant}
| extend minute = strcat(format_datetime(minute, "yyyy-MM-ddTHH:mm:ss"), "Z")
| project minute, model, deployment, backend, status, tenant, requests, prompt_tokens,
          completion_tokens
| order by minute asc
"#,
        tenant = tenant.kql()
    )
}

/// The Spark SQL query over the diagnostic-setting JSON of the two APIM log categories,
/// registered as the views `llm` (insights-logs-gatewayllmlogs) and `gateway`
/// (insights-logs-gatewaylogs).
pub fn spark(tenant: TenantColumn) -> String {
    format!(
        r#"-- spillway: per-minute series from Azure API Management diagnostic logs (storage account,
-- categories GatewayLlmLogs and GatewayLogs), for Spark SQL. Register the blobs first:
--   spark.conf.set("spark.sql.session.timeZone", "UTC")
--   spark.read.json("abfss://insights-logs-gatewayllmlogs@<account>.dfs.core.windows.net/").createOrReplaceTempView("llm")
--   spark.read.json("abfss://insights-logs-gatewaylogs@<account>.dfs.core.windows.net/").createOrReplaceTempView("gateway")
-- then run this query and write the result as one CSV with a header:
--   spillway profile result.csv      spillway plan -t topology.toml --trace result.csv
WITH tokens AS (
  SELECT correlationId AS cid,
         max(properties.promptTokens) AS prompt_tokens,
         max(properties.completionTokens) AS completion_tokens,
         first(properties.modelName, true) AS model,
         first(properties.deploymentName, true) AS deployment
  FROM llm
  WHERE properties.deploymentName IS NOT NULL AND properties.deploymentName <> ''
  GROUP BY correlationId
),
requests AS (
  SELECT g.correlationId AS cid,
         date_trunc('minute', to_timestamp(g.time)) AS minute,
         g.properties.responseCode AS status,
         g.properties.backendId AS backend,
         g.properties.{tenant} AS tenant,
         g.properties.url AS url
  FROM gateway g
)
SELECT date_format(r.minute, "yyyy-MM-dd'T'HH:mm:ss'Z'") AS minute,
       t.model AS model,
       coalesce(t.deployment, regexp_extract(r.url, '/deployments/([^/?]+)', 1)) AS deployment,
       r.backend AS backend,
       r.status AS status,
       r.tenant AS tenant,
       count(*) AS requests,
       coalesce(sum(t.prompt_tokens), 0) AS prompt_tokens,
       coalesce(sum(t.completion_tokens), 0) AS completion_tokens
FROM requests r LEFT JOIN tokens t ON r.cid = t.cid
GROUP BY 1, 2, 3, 4, 5, 6
ORDER BY 1
"#,
        tenant = tenant.spark()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_produce_the_per_minute_columns_spillway_reads() {
        for q in [
            kql(30, TenantColumn::Subscription),
            spark(TenantColumn::Product),
        ] {
            for col in [
                "minute",
                "requests",
                "prompt_tokens",
                "completion_tokens",
                "deployment",
                "tenant",
                "status",
                "backend",
            ] {
                assert!(q.contains(col), "{col}");
            }
        }
        assert!(kql(7, TenantColumn::User).contains("ago(7d)"));
        assert!(spark(TenantColumn::Product).contains("properties.productId"));
    }
}
