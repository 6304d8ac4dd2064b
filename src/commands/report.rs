//! `spillway report`: the architect's capacity report. Plans exactly as `spillway plan` does
//! (same flags, same answer), then lays the findings out for a person who approves the
//! purchase: one HTML file with charts (or Markdown with the charts beside it).

use std::path::Path;

use anyhow::{Context as _, bail};

use super::plan::{
    Analysis, QUOTA_HEAD, QUOTA_NUMERIC, TRUNCATION_HEAD, TRUNCATION_NUMERIC, analyse,
    baseline_rows, caps_text, chunking_text, configure_core, max_tokens_text, quota_cells,
    truncation_cells,
};
use super::{Context, ExitStatus};
use crate::cli::ReportArgs;
use crate::ingest::time::format_utc;
use crate::output::{duration, pct, pct_fine, share, thousands, thousands_f, usd};
use crate::report::charts::{self, HLine, Mark, Series};
use crate::report::{Block, Report, Section};
use crate::sim::SimRequest;

const MINUTE_US: i64 = 60_000_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Html,
    Markdown,
}

pub fn run(ctx: &mut Context<'_>, args: ReportArgs) -> anyhow::Result<ExitStatus> {
    let ext = args
        .out
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let kind = match ext.as_str() {
        "html" | "htm" => Kind::Html,
        "md" | "markdown" => Kind::Markdown,
        _ => bail!(
            "--out {}: the report is written as .html or .md",
            args.out.display()
        ),
    };
    let out = args.out.clone();
    let cfg = configure_core(ctx, args.core)?;
    let a = analyse(ctx, cfg)?;
    let report = build(ctx, &a).map_err(anyhow::Error::msg)?;
    match kind {
        Kind::Html => std::fs::write(&out, crate::report::html(&report))
            .with_context(|| format!("--out {}", out.display()))?,
        Kind::Markdown => {
            let stem = out
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "report".into());
            let dir_name = format!("{stem}-charts");
            let dir = out.parent().unwrap_or(Path::new(".")).join(&dir_name);
            let (md, files) = crate::report::markdown(&report, &dir_name);
            std::fs::create_dir_all(&dir).with_context(|| format!("--out {}", dir.display()))?;
            for (name, svg) in files {
                std::fs::write(dir.join(&name), svg)
                    .with_context(|| format!("--out {}", dir.join(&name).display()))?;
            }
            std::fs::write(&out, md).with_context(|| format!("--out {}", out.display()))?;
        }
    }
    writeln!(ctx.out, "{}", a.doc.sentence)?;
    writeln!(ctx.out, "report: {}", out.display())?;
    Ok(ExitStatus::Success)
}

fn table(head: &[&str], numeric: &[bool], rows: Vec<Vec<String>>) -> Block {
    Block::Table {
        head: head.iter().map(|s| s.to_string()).collect(),
        rows,
        numeric: numeric.to_vec(),
    }
}

/// `s` with its first letter upper-case (table rows in the report read as sentences).
fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}

/// Per-minute sums of `f` over `reqs` from the first minute: (minute index, value).
fn per_minute(reqs: &[SimRequest], f: impl Fn(&SimRequest) -> f64) -> Vec<(f64, f64)> {
    let Some(first) = reqs.first() else {
        return Vec::new();
    };
    let m0 = first.t_us.div_euclid(MINUTE_US);
    let n = (reqs.last().map_or(m0, |r| r.t_us.div_euclid(MINUTE_US)) - m0 + 1) as usize;
    let mut v = vec![0.0; n];
    for r in reqs {
        v[(r.t_us.div_euclid(MINUTE_US) - m0) as usize] += f(r);
    }
    v.into_iter()
        .enumerate()
        .map(|(i, x)| (i as f64, x))
        .collect()
}

/// Linear bins from 0 to the 99.9th percentile of `values` (the rest in the last bin).
fn bins(values: &mut [f64], n: usize) -> Vec<(f64, f64, u64)> {
    if values.is_empty() {
        return Vec::new();
    }
    let top = crate::stats::percentile(values, 0.999).max(1.0);
    let w = (top / n as f64).max(1.0);
    let mut b: Vec<(f64, f64, u64)> = (0..n)
        .map(|i| (i as f64 * w, (i + 1) as f64 * w, 0))
        .collect();
    for &v in values.iter() {
        let i = ((v / w) as usize).min(n - 1);
        b[i].2 += 1;
    }
    b
}

fn build(ctx: &Context<'_>, a: &Analysis) -> Result<Report, String> {
    let cfg = &a.cfg;
    let doc = &a.doc;
    let topo = &cfg.topo;
    let rec = a.result.recommended.map(|i| &a.result.candidates[i]);
    let start = a.reqs.first().map_or(0, |r| r.t_us);
    let start_minute = start.div_euclid(MINUTE_US) * MINUTE_US;
    let mut sections = Vec::new();

    // 1. The recommendation beside the calculator and all pay-as-you-go.
    let find = |caps: &[u32]| a.result.candidates.iter().find(|c| c.capacities == caps);
    let baselines: Vec<Vec<String>> = baseline_rows(&a.result, doc, "")
        .into_iter()
        .map(|mut r| {
            r[0] = capitalise(&r[0]);
            r
        })
        .collect();
    let mut blocks = vec![table(
        &[
            "set-up",
            "PTU",
            "per month",
            "failed",
            "p99 latency",
            "meets the service level",
            "the recommendation saves per month",
        ],
        &[false, true, true, true, true, false, true],
        baselines,
    )];
    blocks.push(Block::Para(format!(
        "Service level: at most {} of requests failed as the client sees them{}{}. Costs are per 730-hour month: PTUs for the whole month on a {}, plus the trace's pay-as-you-go tokens scaled from its span ({}) to a month — a projection that assumes the trace is representative.",
        pct_fine(cfg.slo.max_failure_rate),
        cfg.slo.max_p99_latency_ms.map_or(String::new(), |m| format!(", p99 latency at most {}", duration((m * 1e3) as i64))),
        cfg.slo.max_spill.map_or(String::new(), |m| format!(", at most {} spilled off the PTUs", pct_fine(m))),
        cfg.reservation.name(),
        duration((doc.scaling.span_hours * 3.6e9) as i64)
    )));
    for be in &doc.break_even {
        blocks.push(Block::Para(format!(
            "PTU break-even for {} against {} on this trace's token mix: {} sustained utilisation on a 1-month reservation, {} on a 1-year reservation, {} at the hourly price (above 100 %: never).",
            be.model, be.sku, pct(be.monthly_reservation), pct(be.yearly_reservation), pct(be.hourly)
        )));
    }
    for c in &doc.calculator.details {
        blocks.push(Block::Note(format!(
            "Calculator inputs ({}): peak minute {} requests, p99 minute {}, {} prompt + {} completion tokens per request on average, cache hits {}; {} TPM per PTU, output weight {} → {:.1} PTU at the peak and {:.1} at the p99 minute before rounding up to the increment.",
            c.model,
            thousands_f(c.peak_rpm, 0),
            thousands_f(c.p99_rpm, 0),
            thousands_f(c.avg_prompt, 0),
            thousands_f(c.avg_completion, 0),
            pct_fine(c.cache_hit_rate),
            thousands_f(c.input_tpm_per_ptu, 0),
            c.output_weight,
            c.ptu_raw_peak,
            c.ptu_raw_p99
        )));
    }
    sections.push(Section {
        id: "recommendation".into(),
        title: "Recommendation".into(),
        blocks,
    });

    // 2. The traffic.
    let first = &topo.deployments[cfg.sized[0]];
    let (w, tpm_per_ptu) = first
        .model
        .ptu
        .map_or((1.0, 1.0), |p| (p.output_weight, p.input_tpm_per_ptu));
    let weighted = per_minute(&a.reqs, |r| {
        (r.prompt - r.cached.min(r.prompt)) as f64 + w * r.completion as f64
    });
    let mut lines = Vec::new();
    if let Some(c) = rec.filter(|c| c.total_ptu() > 0) {
        lines.push(HLine {
            name: format!("recommended {} PTU", caps_text(&c.capacities)),
            y: c.total_ptu() as f64 * tpm_per_ptu,
        });
    }
    let calc_ptu: u32 = doc.calculator.ptu_peak.iter().sum();
    let mut calc_line = vec![HLine {
        name: format!("calculator {calc_ptu} PTU"),
        y: calc_ptu as f64 * tpm_per_ptu,
    }];
    lines.append(&mut calc_line);
    let tpm_chart = charts::over_time(
        "PTU-weighted tokens per minute against PTU capacity",
        "PTU-weighted tokens per minute",
        start_minute,
        &[Series {
            name: "traffic".into(),
            points: weighted,
        }],
        &lines,
        false,
    )?;
    let rpm_chart = charts::over_time(
        "Requests per minute",
        "requests per minute",
        start_minute,
        &[Series {
            name: "requests".into(),
            points: per_minute(&a.reqs, |_| 1.0),
        }],
        &[],
        false,
    )?;
    let mut prompts: Vec<f64> = a.reqs.iter().map(|r| r.prompt as f64).collect();
    let mut completions: Vec<f64> = a.reqs.iter().map(|r| r.completion as f64).collect();
    let t = &doc.traffic;
    sections.push(Section {
        id: "traffic".into(),
        title: "Traffic".into(),
        blocks: vec![
            Block::Para(format!(
                "{} — {} requests over {}: {} requests per minute at the peak minute ({} at the p99 minute), {} prompt + {} completion tokens per request on average, cache hits {}.",
                doc.run.workload,
                thousands(t.requests),
                duration((t.span_hours * 3.6e9) as i64),
                thousands_f(t.peak_rpm, 0),
                thousands_f(t.p99_rpm, 0),
                thousands_f(t.avg_prompt, 0),
                thousands_f(t.avg_completion, 0),
                pct_fine(t.cache_hit_rate)
            )),
            Block::Chart {
                id: "tpm".into(),
                svg: tpm_chart,
                caption: format!(
                    "PTU-weighted tokens (prompt − cached + {w} × completion) per minute; a PTU serves {} per minute. Bursts above a line are absorbed by the utilisation bucket or spill.",
                    thousands_f(tpm_per_ptu, 0)
                ),
            },
            Block::Chart {
                id: "rpm".into(),
                svg: rpm_chart,
                caption: "Requests arriving per minute.".into(),
            },
            Block::Chart {
                id: "prompt-tokens".into(),
                svg: charts::histogram("Prompt tokens per request", "prompt tokens", &bins(&mut prompts, 40))?,
                caption: "Requests by prompt size (up to the 99.9th percentile; larger prompts in the last bar).".into(),
            },
            Block::Chart {
                id: "completion-tokens".into(),
                svg: charts::histogram("Completion tokens per request", "completion tokens", &bins(&mut completions, 40))?,
                caption: "Requests by completion size (up to the 99.9th percentile).".into(),
            },
        ],
    });

    // 3. The cost curve.
    let (mut meeting, mut missing) = (Vec::new(), Vec::new());
    for c in &a.result.candidates {
        let p = (c.total_ptu() as f64, c.monthly_cost_usd);
        if c.meets {
            meeting.push(p)
        } else {
            missing.push(p)
        }
    }
    // The chart shows sizes up to 1.4 × the larger of the recommendation and the calculator's
    // answer (the bracket's far points are in the table).
    let focus_ptu = rec
        .map_or(0, |c| c.total_ptu())
        .max(doc.calculator.ptu_peak.iter().map(|&x| x as u64).sum());
    let x_limit = (focus_ptu as f64 * 1.4).max(10.0);
    let beyond = a
        .result
        .candidates
        .iter()
        .filter(|c| c.total_ptu() as f64 > x_limit)
        .count();
    let mut marks = Vec::new();
    if let Some(c) = rec {
        marks.push(Mark {
            name: format!("recommended: {} PTU", caps_text(&c.capacities)),
            x: c.total_ptu() as f64,
            y: c.monthly_cost_usd,
        });
    }
    if let Some(c) = find(&doc.calculator.ptu_peak) {
        marks.push(Mark {
            name: format!("calculator: {} PTU", caps_text(&c.capacities)),
            x: c.total_ptu() as f64,
            y: c.monthly_cost_usd,
        });
    }
    let curve_rows: Vec<Vec<String>> = a
        .result
        .candidates
        .iter()
        .map(|c| {
            vec![
                caps_text(&c.capacities),
                usd(c.monthly_cost_usd),
                usd(c.ptu_monthly_usd),
                usd(c.payg_monthly_usd),
                share(c.failed, c.arrived),
                duration((c.p99_latency_ms * 1e3) as i64),
                pct(c.spill_share),
                if Some(c) == rec {
                    "recommended".into()
                } else if c.meets {
                    String::new()
                } else {
                    format!("misses {}", c.misses.join(", "))
                },
            ]
        })
        .collect();
    sections.push(Section {
        id: "cost-curve".into(),
        title: "Cost curve".into(),
        blocks: vec![
            Block::Chart {
                id: "cost-curve".into(),
                svg: charts::cost_curve("Monthly cost of every size simulated", &meeting, &missing, &marks, x_limit)?,
                caption: format!(
                    "Each point is a full simulation of the trace through the topology at that size ({} simulations{}). Filled: meets the service level; hollow: misses it.",
                    a.result.candidates.len(),
                    if beyond > 0 {
                        format!(
                            "; {beyond} larger size{} from the bracket in the table, off the chart",
                            if beyond == 1 { "" } else { "s" }
                        )
                    } else {
                        String::new()
                    }
                ),
            },
            table(
                &["PTU", "per month", "PTUs", "pay-as-you-go", "failed", "p99", "spill", ""],
                &[true, true, true, true, true, true, true, false],
                curve_rows,
            ),
        ],
    });

    // 4 and 5. Spillover, 429s and utilisation over time in the recommended set-up.
    if let Some((ft, fr)) = &a.focus
        && let Some(tl) = &fr.timeline
    {
        let minutes = tl.seconds.div_ceil(60);
        let per_min = |f: &dyn Fn(usize) -> f64| -> Vec<(f64, f64)> {
            (0..minutes)
                .map(|m| {
                    let s = (m * 60)..((m + 1) * 60).min(tl.seconds);
                    (m as f64, s.map(f).sum())
                })
                .collect()
        };
        let offset = (tl.start_s * 1_000_000 - start_minute) as f64 / 60e6;
        let shift = |v: Vec<(f64, f64)>| {
            v.into_iter()
                .map(|(x, y)| (x + offset, y))
                .collect::<Vec<_>>()
        };
        let active: Vec<usize> = (0..ft.deployments.len())
            .filter(|&i| fr.deployments[i].attempts > 0)
            .collect();
        let served: Vec<Series> = active
            .iter()
            .map(|&i| Series {
                name: ft.deployments[i].name.clone(),
                points: shift(per_min(&|s| tl.deployments[i].successes[s] as f64)),
            })
            .collect();
        let throttled: Vec<Series> = active
            .iter()
            .filter(|&&i| fr.deployments[i].throttled > 0)
            .map(|&i| Series {
                name: ft.deployments[i].name.clone(),
                points: shift(per_min(&|s| tl.deployments[i].throttled[s] as f64)),
            })
            .collect();
        let mut blocks = vec![Block::Chart {
            id: "served".into(),
            svg: charts::over_time("Requests served per minute, by deployment", "requests per minute", start_minute, &served, &[], false)?,
            caption: "Where the requests were served in the recommended set-up: the PTU first, the rest spilled to pay-as-you-go (native spillover or the gateway's lower priorities).".into(),
        }];
        if !throttled.is_empty() {
            blocks.push(Block::Chart {
                id: "throttled".into(),
                svg: charts::over_time("429s answered per minute, by deployment", "429 answers per minute", start_minute, &throttled, &[], false)?,
                caption: "Each 429 is an attempt a deployment refused (the PTU at 100 % utilisation, a pay-as-you-go deployment at its TPM or RPM limit); the gateway and the clients retried them.".into(),
            });
        }
        let g = &fr.gateway_rejections;
        blocks.push(Block::Para(format!(
            "In this simulation {} of {} requests succeeded ({}); {} failed: 429 after the retries {}, timeout {}, 400 {}, 503 {}. The deployments answered {} 429s, the gateway {} by itself (token limit {}, no deployment available {}); clients retried {} times and the gateway re-routed {} times. Latency p50 / p95 / p99: {} / {} / {}.",
            thousands(fr.succeeded),
            thousands(fr.arrived),
            share(fr.succeeded, fr.arrived),
            thousands(fr.failed),
            thousands(fr.failures.throttled),
            thousands(fr.failures.timeout),
            thousands(fr.failures.too_long),
            thousands(fr.failures.unavailable),
            thousands(fr.throttled),
            thousands(g.total()),
            thousands(g.token_limit),
            thousands(g.no_backend),
            thousands(fr.client_retries),
            thousands(fr.gateway_retries),
            duration((fr.latency_ms.p50 * 1e3) as i64),
            duration((fr.latency_ms.p95 * 1e3) as i64),
            duration((fr.latency_ms.p99 * 1e3) as i64)
        )));
        sections.push(Section {
            id: "spillover".into(),
            title: "Spillover and 429s over time".into(),
            blocks,
        });
        let util: Vec<Series> = active
            .iter()
            .map(|&i| Series {
                name: ft.deployments[i].name.clone(),
                points: shift(per_min(&|s| {
                    tl.deployments[i].utilisation[s] as f64 * 100.0 / 60.0
                })),
            })
            .collect();
        let util_rows: Vec<Vec<String>> = active
            .iter()
            .map(|&i| {
                let d = &fr.deployments[i];
                vec![
                    d.name.clone(),
                    d.sku.to_string(),
                    if d.provisioned {
                        format!("{} PTU", thousands(d.capacity as u64))
                    } else {
                        format!("{}K TPM", thousands(d.capacity as u64))
                    },
                    thousands(d.successes),
                    thousands(d.throttled),
                    pct(d.utilisation_mean),
                    pct(d.utilisation_p95),
                    pct(d.utilisation_max),
                ]
            })
            .collect();
        sections.push(Section {
            id: "utilisation".into(),
            title: "Utilisation".into(),
            blocks: vec![
                Block::Chart {
                    id: "utilisation".into(),
                    svg: charts::over_time("Utilisation per minute, by deployment", "utilisation (%)", start_minute, &util, &[HLine { name: "100 %".into(), y: 100.0 }], false)?,
                    caption: "Utilisation as Azure Monitor reports it: the charge of the trailing minute over a minute of capacity (PTU: PTU-weighted tokens; pay-as-you-go: prompt + max_tokens over the TPM limit). Above 100 %: a burst admitted just below it.".into(),
                },
                table(
                    &["deployment", "SKU", "capacity", "served", "429s", "mean", "p95", "max"],
                    &[false, false, true, true, true, true, true, true],
                    util_rows,
                ),
            ],
        });
    }

    // 6. Quota.
    let mut blocks = Vec::new();
    if doc.quota.is_empty() {
        blocks.push(Block::Para(
            "The set-up has no pay-as-you-go deployment.".into(),
        ));
    } else {
        blocks.push(Block::Para("What each pay-as-you-go quota pool (region × model × deployment type) is asked per minute in the recommended set-up — every attempt, in tokens as Azure's TPM counter counts them (prompt + the max_tokens charged) — against its capacity and the default quota.".into()));
        blocks.push(table(
            &QUOTA_HEAD,
            &QUOTA_NUMERIC,
            doc.quota
                .iter()
                .map(|q| {
                    let mut cells = quota_cells(q);
                    cells.push(if q.short {
                        "short: request more".into()
                    } else if q.throttled > 0 {
                        "enough per minute; 429s from bursts within it".into()
                    } else {
                        "enough".into()
                    });
                    cells
                })
                .collect(),
        ));
    }
    sections.push(Section {
        id: "quota".into(),
        title: "Pay-as-you-go quota".into(),
        blocks,
    });

    // 7. Sensitivity.
    if !doc.sensitivity.is_empty() {
        let moved = doc.sensitivity.iter().any(|r| r.moves);
        sections.push(Section {
            id: "sensitivity".into(),
            title: "Sensitivity".into(),
            blocks: vec![
                Block::Para(if moved {
                    "The recommendation recomputed under the assumptions spillway cannot read from a price list. It moves with at least one of them: check it against the utilisation and 429s your own deployment shows before buying.".into()
                } else {
                    "The recommendation recomputed under the assumptions spillway cannot read from a price list: it does not move with them.".into()
                }),
                table(
                    &["assumption", "max_tokens rule", "PTU", "per month", "failed", ""],
                    &[false, false, true, true, true, false],
                    doc.sensitivity
                        .iter()
                        .map(|r| {
                            vec![
                                r.assumption.clone(),
                                r.max_tokens.clone(),
                                r.recommended.as_deref().map_or("none meets".into(), caps_text),
                                r.monthly_cost_usd.map_or("–".into(), usd),
                                r.failure_rate.map_or("–".into(), pct_fine),
                                if r.moves { "moves".into() } else { "same PTU".into() },
                            ]
                        })
                        .collect(),
                ),
            ],
        });
    }

    // 8. Reservation mix.
    if let Some(m) = &doc.reservation_mix {
        let sched: Vec<Vec<String>> = (0..24)
            .map(|h| {
                vec![
                    format!("{h:02}:00"),
                    thousands(m.schedule[h] as u64),
                    thousands((m.schedule[h] - m.base) as u64),
                ]
            })
            .collect();
        sections.push(Section {
            id: "reservation-mix".into(),
            title: "Reservation mix".into(),
            blocks: vec![
                Block::Para(format!(
                    "{} PTU on a {} all day, plus hourly PTUs in the busy hours: {}/month, {} failed — {} one size of {} PTU ({}/month) by {}/month. Azure bills PTUs above the reservation by the hour; capacity released at night is not guaranteed to come back.",
                    thousands(m.base as u64),
                    cfg.reservation.name(),
                    usd(m.monthly_cost_usd),
                    share(m.failed, m.arrived),
                    if m.saving_usd > 0.0 { "beats" } else { "does not beat" },
                    thousands(m.single as u64),
                    usd(m.single_monthly_usd),
                    usd(m.saving_usd.abs())
                )),
                table(&["hour (UTC)", "PTU deployed", "of which hourly"], &[false, true, true], sched),
            ],
        });
    }

    // 9. Token budgets.
    if let Some(tb) = &doc.token_budget {
        let mut blocks = vec![Block::Para(format!(
            "Prompts over {}'s input limit ({} tokens, which the service answers with 400): {} ({}).",
            tb.model,
            thousands(tb.input_limit.limit),
            thousands(tb.input_limit.requests),
            pct_fine(tb.input_limit.share)
        ))];
        blocks.push(table(
            &TRUNCATION_HEAD,
            &TRUNCATION_NUMERIC,
            tb.truncation.iter().map(truncation_cells).collect(),
        ));
        if let Some(m) = &tb.max_tokens {
            blocks.push(Block::Para(max_tokens_text(m)));
        }
        if let Some(c) = &tb.chunking {
            blocks.push(Block::Para(capitalise(&chunking_text(c))));
        }
        sections.push(Section {
            id: "token-budgets".into(),
            title: "Token budgets".into(),
            blocks,
        });
    }

    // 10. Assumptions and sources.
    let mut items: Vec<String> = doc.notes.clone();
    items.push(format!(
        "Service times: time to first token and decode rate per deployment ({}); the catalog's are assumptions (the PTU latency targets as decode rates) unless the topology overrides them.",
        topo.deployments
            .iter()
            .map(|d| format!("{} {} ms + {} tokens/s", d.name, thousands_f(d.ttft_us / 1e3, 0), thousands_f(d.output_tokens_per_s, 0)))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    let mut models: Vec<&crate::catalog::Model> = Vec::new();
    for d in &topo.deployments {
        if !models.iter().any(|m| m.name == d.model.name) {
            models.push(&d.model);
        }
    }
    let mut rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            vec![
                format!("model {}", m.name),
                m.as_of.clone(),
                m.source.clone(),
                m.uncertain.join(", "),
            ]
        })
        .collect();
    for p in ctx.catalog.token_prices() {
        if models.iter().any(|m| m.name.eq_ignore_ascii_case(&p.model)) {
            rows.push(vec![
                format!("price {} {}", p.model, p.sku),
                p.as_of.clone(),
                p.source.clone(),
                if p.uncertain {
                    "uncertain".into()
                } else {
                    String::new()
                },
            ]);
        }
    }
    for p in ctx.catalog.ptu_prices() {
        rows.push(vec![
            format!(
                "PTU price, {}",
                match p.deployment_type {
                    crate::catalog::PtuType::Global => "Global",
                    crate::catalog::PtuType::DataZone => "Data Zone",
                    crate::catalog::PtuType::Regional => "Regional",
                }
            ),
            p.as_of.clone(),
            p.source.clone(),
            if p.uncertain {
                "uncertain".into()
            } else {
                String::new()
            },
        ]);
    }
    sections.push(Section {
        id: "assumptions".into(),
        title: "Assumptions and sources".into(),
        blocks: vec![
            Block::List(items),
            table(
                &["catalog row", "as of", "source", "uncertain fields"],
                &[false, true, false, false],
                rows,
            ),
        ],
    });

    let sized: Vec<String> = cfg
        .sized
        .iter()
        .map(|&d| topo.deployments[d].name.clone())
        .collect();
    Ok(Report {
        title: "PTU capacity plan".into(),
        subtitle: format!(
            "{} · sized: {} · {} · seed {}",
            cfg.topology.display(),
            sized.join(", "),
            doc.run.workload,
            doc.run.seed
        ),
        lead: doc.sentence.clone(),
        sections,
        footer: format!(
            "spillway {} · traffic from {} to {} (UTC) · {} simulations · prices and PTU figures from spillway's catalog (sources above); every figure can be reproduced with the same inputs and seed.",
            env!("CARGO_PKG_VERSION"),
            format_utc(start.div_euclid(1_000_000) * 1_000_000),
            format_utc(
                a.reqs
                    .last()
                    .map_or(start, |r| r.t_us)
                    .div_euclid(1_000_000)
                    * 1_000_000
            ),
            doc.run.simulations
        ),
    })
}
