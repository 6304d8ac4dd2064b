//! `spillway models`: the catalog as a table, JSON or CSV: per model its encoding, limits, PTU
//! throughput and sizes, Standard RPM rule and GlobalStandard price, plus the PTU price table
//! and the sources the rows cite. Uncertain figures are marked cell by cell.

use serde::Serialize;

use super::{Context, ExitStatus};
use crate::catalog::{Model, PriceQuote, PtuPrice, Sku, SkuRule, Source, TokenPrice};
use crate::cli::{Format, ModelsArgs};
use crate::output::{self, thousands, thousands_f};

#[derive(Serialize)]
struct ModelEntry<'a> {
    #[serde(flatten)]
    model: &'a Model,
    global_standard_price: Option<PriceQuote>,
    /// The keys of `sources` this model's `source` note cites.
    source_keys: Vec<&'a str>,
}

#[derive(Serialize)]
struct Report<'a> {
    models: Vec<ModelEntry<'a>>,
    token_prices: &'a [TokenPrice],
    sku_rules: &'a [SkuRule],
    ptu_prices: &'a [PtuPrice],
    sources: &'a [Source],
}

/// A row's cited source keys, or its note when it cites none (a few price rows quote their
/// origin in words).
fn source_text(c: &crate::catalog::Catalog, note: &str) -> String {
    let keys = c.cited(note);
    if keys.is_empty() {
        note.to_string()
    } else {
        keys.join(" ")
    }
}

pub fn run(ctx: &mut Context<'_>, args: ModelsArgs) -> anyhow::Result<ExitStatus> {
    let c = &ctx.catalog;
    let entries: Vec<ModelEntry<'_>> = c
        .models()
        .iter()
        .map(|m| ModelEntry {
            model: m,
            global_standard_price: c.token_price(m, Sku::GlobalStandard),
            source_keys: c.cited(&m.source),
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
                sources: c.sources(),
            },
        )?,
        Format::Csv => {
            let mut w = output::csv_writer(out);
            // PTU prices are per deployment type, the same for every model: repeated on each
            // row so that one file prices any model.
            let ptu_cols: Vec<String> = c
                .ptu_prices()
                .iter()
                .flat_map(|p| {
                    let t = format!("{:?}", p.deployment_type).to_lowercase();
                    [
                        format!("ptu_{t}_hourly_usd"),
                        format!("ptu_{t}_monthly_reservation_usd"),
                        format!("ptu_{t}_yearly_reservation_usd"),
                    ]
                })
                .collect();
            let ptu_vals: Vec<String> = c
                .ptu_prices()
                .iter()
                .flat_map(|p| {
                    [p.hourly, p.monthly_reservation, p.yearly_reservation].map(|x| x.to_string())
                })
                .collect();
            let mut header: Vec<String> = [
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
            ]
            .map(String::from)
            .to_vec();
            header.extend(ptu_cols);
            header.extend(["as_of", "source", "source_keys", "uncertain"].map(String::from));
            w.write_record(&header)?;
            for e in &entries {
                let m = e.model;
                let o = |v: Option<String>| v.unwrap_or_default();
                let p = m.ptu.as_ref();
                let q = e.global_standard_price.as_ref();
                let mut row = vec![
                    m.name.clone(),
                    m.aliases.join(" "),
                    m.encoding.to_string(),
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
                ];
                row.extend(ptu_vals.iter().cloned());
                row.extend([
                    m.as_of.clone(),
                    m.source.clone(),
                    c.cited(&m.source).join(" "),
                    m.uncertain.join(" "),
                ]);
                w.write_record(&row)?;
            }
            w.flush()?;
        }
        Format::Table | Format::Markdown => {
            let mut t = output::table(
                &[
                    "model",
                    "encoding",
                    "context",
                    "max output",
                    "input TPM per PTU",
                    "output weight",
                    "PTUs min, step: Global·DZ",
                    "PTUs min, step: Regional",
                    "RPM per 1K TPM",
                    "$ per 1M in, out",
                    "as of",
                    "sources",
                ],
                &[
                    false, false, true, true, true, true, false, false, true, false, false, false,
                ],
            );
            for e in &entries {
                let m = e.model;
                // A cell is marked when the catalog lists its field as uncertain.
                let mark = |fields: &[&str], text: String| {
                    if fields.iter().any(|f| m.uncertain.iter().any(|u| u == f)) {
                        format!("{text} *")
                    } else {
                        text
                    }
                };
                let dash = || "–".to_string();
                let (tpm, weight, global, regional) = match &m.ptu {
                    Some(p) => (
                        mark(
                            &["ptu.input_tpm_per_ptu"],
                            thousands_f(p.input_tpm_per_ptu, 0),
                        ),
                        mark(&["ptu.output_weight"], format!("{}", p.output_weight)),
                        mark(
                            &["ptu.global_min", "ptu.global_step"],
                            format!("{}, {}", p.global_min, p.global_step),
                        ),
                        mark(
                            &["ptu.regional_min", "ptu.regional_step"],
                            format!("{}, {}", p.regional_min, p.regional_step),
                        ),
                    ),
                    None => (dash(), dash(), dash(), dash()),
                };
                let price = e
                    .global_standard_price
                    .as_ref()
                    .map(|q| format!("{}, {}", q.input, q.output))
                    .unwrap_or_else(dash);
                t.add_row(vec![
                    m.name.clone(),
                    mark(&["encoding"], m.encoding.to_string()),
                    mark(&["context_window"], thousands(m.context_window)),
                    mark(&["max_output_tokens"], thousands(m.max_output_tokens)),
                    tpm,
                    weight,
                    global,
                    regional,
                    mark(
                        &["standard.rpm_per_1000_tpm"],
                        format!(
                            "{}",
                            (m.standard.rpm_per_1000_tpm * 1000.0).round() / 1000.0
                        ),
                    ),
                    price,
                    m.as_of.clone(),
                    c.cited(&m.source).join(" "),
                ]);
            }
            output::write_table(out, &t)?;
            let mut p = output::table(
                &[
                    "PTU type",
                    "hourly ($ per PTU-hour)",
                    "1-month reservation ($ per PTU-month)",
                    "1-year reservation ($ per PTU-year)",
                    "as of",
                    "sources",
                ],
                &[false, true, true, true, false, false],
            );
            for r in c.ptu_prices() {
                let mark = |x: String| if r.uncertain { format!("{x} *") } else { x };
                p.add_row(vec![
                    format!("{:?}", r.deployment_type),
                    mark(output::usd(r.hourly)),
                    mark(output::usd(r.monthly_reservation)),
                    mark(output::usd(r.yearly_reservation)),
                    r.as_of.clone(),
                    source_text(c, &r.source),
                ]);
            }
            output::write_table(out, &p)?;
            let mut s = output::table(&["source", "what", "where", "as of"], &[false; 4]);
            for src in c.sources() {
                s.add_row(vec![
                    src.key.clone(),
                    src.title.clone(),
                    src.link.clone(),
                    src.as_of.clone(),
                ]);
            }
            output::write_table(out, &s)?;
            writeln!(
                out,
                "context, max output: tokens · output weight: input tokens one output token counts as on a PTU · PTUs: smallest deployment and increment, Global and Data Zone vs Regional · RPM per 1K TPM: Standard quota's request limit · $ per 1M: Global Standard list price, input and output\n* uncertain: from a third-party or conflicting source (`--format json` gives each row's full source note)"
            )?;
        }
    }
    Ok(ExitStatus::Success)
}
