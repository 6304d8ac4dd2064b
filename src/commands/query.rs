//! `spillway query kql|spark`: prints the query that reduces Azure API Management logs, where
//! they live, to the per-minute series spillway reads back (`crate::ingest::query`).

use super::{Context, ExitStatus};
use crate::cli::{QueryArgs, QueryEngine, TenantArg};
use crate::ingest::query::{TenantColumn, kql, spark};

pub fn run(ctx: &mut Context<'_>, args: QueryArgs) -> anyhow::Result<ExitStatus> {
    let tenant = match args.tenant {
        TenantArg::Subscription => TenantColumn::Subscription,
        TenantArg::Product => TenantColumn::Product,
        TenantArg::User => TenantColumn::User,
    };
    let text = match args.engine {
        QueryEngine::Kql => kql(args.days, tenant),
        QueryEngine::Spark => spark(tenant),
    };
    write!(ctx.out, "{text}")?;
    Ok(ExitStatus::Success)
}
