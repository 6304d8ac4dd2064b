//! `spillway models`: the catalog as a table, JSON or CSV: per model its encoding, limits, PTU
//! throughput and sizes, Standard RPM rule and GlobalStandard price, plus the PTU price table.

use serde::Serialize;

use super::{Context, ExitStatus};
use crate::catalog::{Model, PriceQuote, PtuPrice, Sku, SkuRule, TokenPrice};
use crate::cli::{Format, ModelsArgs};
use crate::output::{self, thousands, thousands_f};

#[derive(Serialize)]
struct ModelEntry<'a> {
    #[serde(flatten)]
    model: &'a Model,
    global_standard_price: Option<PriceQuote>,
}

#[derive(Serialize)]
struct Report<'a> {
    models: Vec<ModelEntry<'a>>,
    token_prices: &'a [TokenPrice],
    sku_rules: &'a [SkuRule],
    ptu_prices: &'a [PtuPrice],
}

pub fn run(ctx: &mut Context<'_>, args: ModelsArgs) -> anyhow::Result<ExitStatus> {
    let c = &ctx.catalog;
    let entries: Vec<ModelEntry<'_>> = c
        .models()
        .iter()
        .map(|m| ModelEntry {
            model: m,
            global_standard_price: c.token_price(m, Sku::GlobalStandard),
        })
        .collect();
    let out = &mut *ctx.out;
    match args.format {
        Format::Json => output::write_json(
            out,
            &Report {
                models: entries,
                token_prices: c.token_prices(),
                sku_rules: c.sku_rules(),
                ptu_prices: c.ptu_prices(),
            },
        )?,
        Format::Csv => {
            let mut w = output::csv_writer(out);
            w.write_record([
                "model",
                "aliases",
                "encoding",
                "context_window",
                "max_input_tokens",
                "max_output_tokens",
                "ptu_input_tpm_per_ptu",
                "ptu_output_weight",
                "ptu_global_min",
                "ptu_global_step",
                "ptu_regional_min",
                "ptu_regional_step",
                "rpm_per_1000_tpm",
                "global_standard_input_per_1m",
                "global_standard_cached_input_per_1m",
                "global_standard_output_per_1m",
                "as_of",
                "source",
                "uncertain",
            ])?;
            for e in &entries {
                let m = e.model;
                let o = |v: Option<String>| v.unwrap_or_default();
                let p = m.ptu.as_ref();
                let q = e.global_standard_price.as_ref();
                w.write_record([
                    m.name.clone(),
                    m.aliases.join(" "),
                    m.encoding.clone(),
                    m.context_window.to_string(),
                    m.max_prompt().to_string(),
                    m.max_output_tokens.to_string(),
                    o(p.map(|p| p.input_tpm_per_ptu.to_string())),
                    o(p.map(|p| p.output_weight.to_string())),
                    o(p.map(|p| p.global_min.to_string())),
                    o(p.map(|p| p.global_step.to_string())),
                    o(p.map(|p| p.regional_min.to_string())),
                    o(p.map(|p| p.regional_step.to_string())),
                    m.standard.rpm_per_1000_tpm.to_string(),
                    o(q.map(|q| q.input.to_string())),
                    o(q.map(|q| q.cached_input.to_string())),
                    o(q.map(|q| q.output.to_string())),
                    m.as_of.clone(),
                    m.source.clone(),
                    m.uncertain.join(" "),
                ])?;
            }
            w.flush()?;
        }
        Format::Table => {
            let mut t = output::table(
                &[
                    "model",
                    "encoding",
                    "context",
                    "max out",
                    "TPM/PTU",
                    "out ×",
                    "PTU min/step G·DZ | Reg",
                    "RPM/1K TPM",
                    "$/1M in · out",
                    "as of",
                ],
                &[
                    false, false, true, true, true, true, false, true, false, false,
                ],
            );
            for e in &entries {
                let m = e.model;
                let dash = || "–".to_string();
                let (tpm, w, sizes) = match &m.ptu {
                    Some(p) => (
                        thousands_f(p.input_tpm_per_ptu, 0),
                        format!("{}", p.output_weight),
                        format!(
                            "{}/{} | {}/{}",
                            p.global_min, p.global_step, p.regional_min, p.regional_step
                        ),
                    ),
                    None => (dash(), dash(), dash()),
                };
                let price = e
                    .global_standard_price
                    .as_ref()
                    .map(|q| format!("{} · {}", q.input, q.output))
                    .unwrap_or_else(dash);
                let flag = if m.uncertain.is_empty() { "" } else { " *" };
                t.add_row(vec![
                    format!("{}{flag}", m.name),
                    m.encoding.clone(),
                    thousands(m.context_window),
                    thousands(m.max_output_tokens),
                    tpm,
                    w,
                    sizes,
                    format!(
                        "{}",
                        (m.standard.rpm_per_1000_tpm * 1000.0).round() / 1000.0
                    ),
                    price,
                    m.as_of.clone(),
                ]);
            }
            output::write_table(out, &t)?;
            let mut p = output::table(
                &[
                    "PTU type",
                    "$/PTU/hour",
                    "1-month reservation",
                    "1-year reservation",
                    "as of",
                ],
                &[false, true, true, true, false],
            );
            for r in c.ptu_prices() {
                let flag = if r.uncertain { " *" } else { "" };
                p.add_row(vec![
                    format!("{:?}{flag}", r.deployment_type),
                    format!("{:.2}", r.hourly),
                    format!("{:.0}", r.monthly_reservation),
                    format!("{:.0}", r.yearly_reservation),
                    r.as_of.clone(),
                ]);
            }
            output::write_table(out, &p)?;
            if !ctx.quiet {
                eprintln!(
                    "* = some figures are uncertain; `--format json` shows the sources and which fields"
                );
            }
        }
    }
    Ok(ExitStatus::Success)
}
