//! `spillway count`: token counts of text, files and chat requests per model or encoding, with
//! the context-window fit and the input cost.
//!
//! Sources are read and counted in parallel (rayon); a large single text is split at exact
//! split points and counted in parallel too. Every read or parse failure names the file (and
//! byte offset or JSON path); nothing is skipped silently.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use rayon::prelude::*;
use serde::Serialize;

use super::{Context, ExitStatus};
use crate::catalog::{Model, Sku};
use crate::cli::{CountArgs, Format};
use crate::output::{self, thousands, thousands_i};
use crate::tokens::chat::{ChatCount, ChatPartCount, ChatRules, count_request, parse_request};
use crate::tokens::{EncodingName, tokenizer};

/// What to count with: a catalog model or a bare encoding.
#[derive(Clone, Copy)]
enum Target<'c> {
    Model(&'c Model),
    Encoding(EncodingName),
}

impl Target<'_> {
    fn encoding(&self) -> EncodingName {
        match self {
            Target::Model(m) => m.encoding(),
            Target::Encoding(e) => *e,
        }
    }
}

/// Where text comes from.
enum Source {
    Text(String),
    Stdin,
    File(PathBuf),
    Chat(PathBuf),
}

/// Validated `count` configuration.
struct Config<'c> {
    sources: Vec<Source>,
    targets: Vec<Target<'c>>,
    allow_special: bool,
    max_tokens: Option<u64>,
    check: bool,
    per_message: bool,
    image_size: Option<(u64, u64)>,
    lossy: bool,
    sku: Sku,
    format: Format,
}

/// A source read into memory.
struct Loaded {
    label: String,
    kind: &'static str,
    body: Body,
    bytes: u64,
}

enum Body {
    Text(String),
    Chat(String),
}

/// One result row.
#[derive(Debug, Serialize)]
struct Row {
    source: String,
    kind: &'static str,
    model: Option<String>,
    encoding: EncodingNameSer,
    tokens: u64,
    bytes: u64,
    context_window: Option<u64>,
    max_output_tokens: Option<u64>,
    max_tokens: Option<u64>,
    fits: Option<bool>,
    over_by: Option<u64>,
    input_cost_usd: Option<f64>,
    price_sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    breakdown: Option<Vec<ChatPartCount>>,
}

#[derive(Debug)]
struct EncodingNameSer(EncodingName);

impl Serialize for EncodingNameSer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

#[derive(Serialize)]
struct Report<'a> {
    results: &'a [Row],
}

pub fn run(ctx: &mut Context<'_>, args: CountArgs) -> anyhow::Result<ExitStatus> {
    if !args.batch.is_empty() {
        return run_batch(ctx, args);
    }
    let catalog = &ctx.catalog;
    let config = configure(catalog, args)?;
    let loaded = load_sources(&config.sources, config.lossy, ctx.quiet)?;

    let jobs: Vec<(usize, usize)> = (0..loaded.len())
        .flat_map(|s| (0..config.targets.len()).map(move |t| (s, t)))
        .collect();
    let rows: Vec<Row> = jobs
        .par_iter()
        .map(|&(s, t)| make_row(catalog, &config, &loaded[s], config.targets[t]))
        .collect::<anyhow::Result<_>>()?;

    render(&mut *ctx.out, ctx.quiet, &config, &rows)?;
    let all_fit = rows.iter().all(|r| r.fits != Some(false));
    Ok(if config.check && !all_fit {
        ExitStatus::CheckFailed
    } else {
        ExitStatus::Success
    })
}

fn configure<'c>(
    catalog: &'c crate::catalog::Catalog,
    args: CountArgs,
) -> anyhow::Result<Config<'c>> {
    let targets: Vec<Target<'c>> = if !args.encodings.is_empty() {
        args.encodings
            .iter()
            .map(|e| e.parse::<EncodingName>().map(Target::Encoding))
            .collect::<Result<_, _>>()
            .context("--encoding")?
    } else {
        let names = if args.models.is_empty() {
            vec!["gpt-4o".to_string()]
        } else {
            args.models.clone()
        };
        names
            .iter()
            .map(|n| catalog.resolve(n).map(Target::Model))
            .collect::<Result<_, _>>()
            .context("--model")?
    };
    if !args.chats.is_empty() && targets.iter().any(|t| matches!(t, Target::Encoding(_))) {
        bail!(
            "--chat needs --model: chat overhead, tools and images are counted per model, not per encoding"
        );
    }
    let sku: Sku = args
        .sku
        .as_deref()
        .unwrap_or("GlobalStandard")
        .parse()
        .context("--sku")?;
    if sku.is_provisioned() {
        bail!(
            "--sku {sku}: provisioned deployments are priced per PTU, not per token; pick a Standard or Batch SKU"
        );
    }
    let image_size = args
        .image_size
        .as_deref()
        .map(parse_size)
        .transpose()
        .context("--image-size")?;

    let mut sources = Vec::new();
    let mut stdin_uses = 0;
    for t in args.text {
        if t == "-" {
            stdin_uses += 1;
            sources.push(Source::Stdin);
        } else {
            sources.push(Source::Text(t));
        }
    }
    for f in args.files {
        if f.as_os_str() == "-" {
            stdin_uses += 1;
            sources.push(Source::Stdin);
        } else {
            sources.push(Source::File(f));
        }
    }
    for c in args.chats {
        if c.as_os_str() == "-" {
            stdin_uses += 1;
        }
        sources.push(Source::Chat(c));
    }
    if sources.is_empty() {
        if std::io::stdin().is_terminal() {
            bail!(
                "nothing to count: pass TEXT, --file FILE or --chat REQUEST.json, or pipe text in"
            );
        }
        sources.push(Source::Stdin);
        stdin_uses = 1;
    }
    if stdin_uses > 1 {
        bail!("standard input (-) can be read only once");
    }
    Ok(Config {
        sources,
        targets,
        allow_special: args.allow_special,
        max_tokens: args.max_tokens,
        check: args.check,
        per_message: args.per_message,
        image_size,
        lossy: args.lossy,
        sku,
        format: args.format,
    })
}

/// Parses `WxH` (e.g. `1024x768`).
fn parse_size(s: &str) -> anyhow::Result<(u64, u64)> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .with_context(|| format!("'{s}' is not WxH (e.g. 1024x768)"))?;
    let w: u64 = w
        .trim()
        .parse()
        .with_context(|| format!("width in '{s}' is not a number"))?;
    let h: u64 = h
        .trim()
        .parse()
        .with_context(|| format!("height in '{s}' is not a number"))?;
    if w == 0 || h == 0 {
        bail!("'{s}': width and height must be positive");
    }
    Ok((w, h))
}

fn load_sources(sources: &[Source], lossy: bool, quiet: bool) -> anyhow::Result<Vec<Loaded>> {
    sources
        .par_iter()
        .map(|s| load_source(s, lossy, quiet))
        .collect()
}

fn load_source(source: &Source, lossy: bool, quiet: bool) -> anyhow::Result<Loaded> {
    match source {
        Source::Text(t) => Ok(Loaded {
            label: text_label(t),
            kind: "text",
            bytes: t.len() as u64,
            body: Body::Text(t.clone()),
        }),
        Source::Stdin => {
            let bytes = read_stdin()?;
            let n = bytes.len() as u64;
            Ok(Loaded {
                label: "<stdin>".into(),
                kind: "stdin",
                bytes: n,
                body: Body::Text(decode("<stdin>", bytes, lossy, quiet)?),
            })
        }
        Source::File(p) => {
            let bytes = read_file(p)?;
            let label = p.display().to_string();
            let n = bytes.len() as u64;
            Ok(Loaded {
                body: Body::Text(decode(&label, bytes, lossy, quiet)?),
                label,
                kind: "file",
                bytes: n,
            })
        }
        Source::Chat(p) => {
            let (label, bytes) = if p.as_os_str() == "-" {
                ("<stdin>".to_string(), read_stdin()?)
            } else {
                (p.display().to_string(), read_file(p)?)
            };
            let n = bytes.len() as u64;
            Ok(Loaded {
                body: Body::Chat(decode(&label, bytes, lossy, quiet)?),
                label,
                kind: "chat",
                bytes: n,
            })
        }
    }
}

fn text_label(t: &str) -> String {
    let one_line: String = t
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() > 24 {
        format!("\"{}…\"", one_line.chars().take(23).collect::<String>())
    } else {
        format!("\"{one_line}\"")
    }
}

fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut buf)
        .context("reading standard input")?;
    Ok(buf)
}

fn read_file(p: &Path) -> anyhow::Result<Vec<u8>> {
    let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
    if meta.is_dir() {
        bail!(
            "{} is a directory; pass the files in it (e.g. --file {}/*.md)",
            p.display(),
            p.display()
        );
    }
    std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
}

/// UTF-8 text of `bytes`; invalid UTF-8 is an error naming the byte offset unless `lossy`.
fn decode(label: &str, bytes: Vec<u8>, lossy: bool, quiet: bool) -> anyhow::Result<String> {
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            if !lossy {
                bail!(
                    "{label}: invalid UTF-8 at byte {offset} (pass --lossy to replace invalid bytes with U+FFFD)"
                );
            }
            let s = String::from_utf8_lossy(e.as_bytes()).into_owned();
            if !quiet {
                let replaced = s.matches('\u{FFFD}').count();
                eprintln!(
                    "note: {label}: replaced invalid UTF-8 (first at byte {offset}); {replaced} U+FFFD characters in the text"
                );
            }
            Ok(s)
        }
    }
}

fn make_row(
    catalog: &crate::catalog::Catalog,
    config: &Config<'_>,
    src: &Loaded,
    target: Target<'_>,
) -> anyhow::Result<Row> {
    let enc = target.encoding();
    let tok = tokenizer(enc);
    let (tokens, request_max, chat): (u64, Option<u64>, Option<ChatCount>) =
        match (&src.body, target) {
            (Body::Text(t), _) => (
                tok.count_parallel(t, config.allow_special) as u64,
                None,
                None,
            ),
            (Body::Chat(json), Target::Model(m)) => {
                let req = parse_request(json)
                    .with_context(|| format!("{}: malformed chat request", src.label))?;
                let rules = ChatRules::for_model(m, config.allow_special, config.image_size);
                let c = count_request(&req, &rules)
                    .with_context(|| format!("{}: cannot count for {}", src.label, m.name))?;
                (c.prompt_tokens, req.max_tokens(), Some(c))
            }
            (Body::Chat(_), Target::Encoding(_)) => bail!("--chat needs --model"),
        };
    let max_tokens = config.max_tokens.or(request_max);
    let (model, context_window, max_output, fits, over_by, cost, price_sku) = match target {
        Target::Model(m) => {
            let fit = m.fit(tokens, max_tokens);
            let cost = catalog
                .token_price(m, config.sku)
                .map(|q| q.cost(tokens, 0, 0));
            (
                Some(m.name.clone()),
                Some(m.context_window),
                Some(m.max_output_tokens),
                Some(fit.fits),
                Some(fit.over_by),
                cost,
                cost.map(|_| config.sku.to_string()),
            )
        }
        Target::Encoding(_) => (None, None, None, None, None, None, None),
    };
    Ok(Row {
        source: src.label.clone(),
        kind: src.kind,
        model,
        encoding: EncodingNameSer(enc),
        tokens,
        bytes: src.bytes,
        context_window,
        max_output_tokens: max_output,
        max_tokens,
        fits,
        over_by,
        input_cost_usd: cost,
        price_sku,
        image_tokens: chat.as_ref().map(|c| c.image_tokens).filter(|&n| n > 0),
        breakdown: if config.per_message {
            chat.map(|c| c.parts)
        } else {
            None
        },
    })
}

fn render(
    out: &mut dyn Write,
    quiet: bool,
    config: &Config<'_>,
    rows: &[Row],
) -> anyhow::Result<()> {
    match config.format {
        Format::Json => output::write_json(out, &Report { results: rows })?,
        Format::Csv => {
            let mut w = output::csv_writer(out);
            w.write_record([
                "source",
                "kind",
                "model",
                "encoding",
                "tokens",
                "bytes",
                "context_window",
                "max_output_tokens",
                "max_tokens",
                "fits",
                "over_by",
                "input_cost_usd",
                "price_sku",
            ])?;
            let opt = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
            for r in rows {
                w.write_record([
                    r.source.clone(),
                    r.kind.to_string(),
                    r.model.clone().unwrap_or_default(),
                    r.encoding.0.to_string(),
                    r.tokens.to_string(),
                    r.bytes.to_string(),
                    opt(r.context_window),
                    opt(r.max_output_tokens),
                    opt(r.max_tokens),
                    r.fits.map(|b| b.to_string()).unwrap_or_default(),
                    opt(r.over_by),
                    r.input_cost_usd
                        .map(|c| format!("{c:.8}"))
                        .unwrap_or_default(),
                    r.price_sku.clone().unwrap_or_default(),
                ])?;
            }
            w.flush()?;
        }
        Format::Table | Format::Markdown => {
            let mut t = output::table(
                &[
                    "source",
                    "model",
                    "encoding",
                    "tokens",
                    "context",
                    "fit",
                    "input cost",
                ],
                &[false, false, false, true, true, false, true],
            );
            let mut costs =
                output::usd_column(&rows.iter().map(|r| r.input_cost_usd).collect::<Vec<_>>())
                    .into_iter();
            for r in rows {
                let fit = match (r.fits, r.over_by) {
                    (Some(true), _) => match r.max_tokens {
                        Some(m) => format!("fits (+{} out)", thousands(m)),
                        None => "fits".to_string(),
                    },
                    (Some(false), Some(n)) => format!("over by {}", thousands(n)),
                    _ => "–".to_string(),
                };
                t.add_row(vec![
                    r.source.clone(),
                    r.model.clone().unwrap_or_else(|| "–".into()),
                    r.encoding.0.to_string(),
                    thousands(r.tokens),
                    r.context_window
                        .map(thousands)
                        .unwrap_or_else(|| "–".into()),
                    fit,
                    costs.next().unwrap_or_default(),
                ]);
            }
            output::write_table(out, &t)?;
            if config.per_message {
                for r in rows {
                    let Some(parts) = &r.breakdown else { continue };
                    writeln!(out, "\n{} · {}", r.source, r.model.as_deref().unwrap_or(""))?;
                    let mut b = output::table(&["part", "role", "tokens"], &[false, false, true]);
                    for p in parts {
                        b.add_row(vec![
                            p.part.clone(),
                            p.role.clone().unwrap_or_default(),
                            thousands_i(p.tokens),
                        ]);
                    }
                    b.add_row(vec![
                        "total".to_string(),
                        String::new(),
                        thousands(r.tokens),
                    ]);
                    output::write_table(out, &b)?;
                }
            }
            let priced: Vec<&Row> = rows.iter().filter(|r| r.input_cost_usd.is_some()).collect();
            if !quiet && !priced.is_empty() {
                eprintln!(
                    "input cost at {} pay-as-you-go prices (spillway models lists them)",
                    config.sku
                );
            }
        }
    }
    Ok(())
}

/// Largest batch input file the services accept.
const BATCH_MAX_BYTES: u64 = 200 << 20;

/// One model's lines of a `--batch` run, over all files given (submitted together, their
/// input tokens are enqueued together).
#[derive(Debug, Serialize)]
struct BatchModel {
    model: String,
    lines: u64,
    /// Input tokens held against the enqueued-token quota.
    enqueued_tokens: u64,
    prompt_p50: f64,
    prompt_p99: f64,
    prompt_max: u64,
    /// Lines whose prompt + max_tokens do not fit the model's limits.
    not_fitting: u64,
    input_cost_usd: Option<f64>,
    sku: String,
    /// The enqueued-token quota checked against (None: the catalog has none for this model).
    quota: Option<u64>,
    quota_source: String,
    within_quota: Option<bool>,
}

#[derive(Debug, Serialize)]
struct BatchFile {
    path: String,
    bytes: u64,
    #[serde(flatten)]
    count: crate::tokens::batch::BatchCount,
}

fn run_batch(ctx: &mut Context<'_>, args: CountArgs) -> anyhow::Result<ExitStatus> {
    use crate::tokens::batch::{BatchRules, count_file};
    let catalog = &ctx.catalog;
    let sku: Sku = args
        .sku
        .as_deref()
        .unwrap_or("GlobalBatch")
        .parse()
        .context("--sku")?;
    if !matches!(sku, Sku::GlobalBatch | Sku::DataZoneBatch) {
        bail!("--sku {sku}: batch files run on GlobalBatch or DataZoneBatch deployments");
    }
    if args.models.len() > 1 {
        bail!(
            "--model: --batch counts each line for its own body.model; give one --model, used for lines whose body.model is a deployment name"
        );
    }
    let fallback = catalog
        .resolve(args.models.first().map_or("gpt-4o", |m| m.as_str()))
        .context("--model")?;
    let image_size = args
        .image_size
        .as_deref()
        .map(parse_size)
        .transpose()
        .context("--image-size")?;
    // Every file is checked before any is counted.
    for p in &args.batch {
        std::fs::metadata(p).with_context(|| format!("--batch {}", p.display()))?;
    }
    let resolve = |n: &str| catalog.model(n);
    let rules = BatchRules {
        resolve: &resolve,
        fallback,
        allow_special: args.allow_special,
        default_image_size: image_size,
    };
    let mut files = Vec::new();
    for p in &args.batch {
        let bytes = read_file(p)?;
        let size = bytes.len() as u64;
        let label = p.display().to_string();
        let text = decode(&label, bytes, args.lossy, ctx.quiet)?;
        let mut count = count_file(&text, &rules);
        if size > BATCH_MAX_BYTES {
            count.problems.push(format!(
                "{} bytes: the services accept batch files of at most 200 MB",
                thousands(size)
            ));
        }
        files.push(BatchFile {
            path: label,
            bytes: size,
            count,
        });
    }
    let models = batch_models(catalog, &files, sku, args.batch_quota, args.enterprise);
    let bad: usize = files.iter().map(|f| f.count.bad.len()).sum();
    let problems: usize = files.iter().map(|f| f.count.problems.len()).sum();
    let failed = bad > 0
        || problems > 0
        || models
            .iter()
            .any(|m| m.not_fitting > 0 || m.within_quota == Some(false));
    render_batch(&mut *ctx.out, args.format, &files, &models, fallback)?;
    if bad > 0 && !ctx.quiet && !matches!(args.format, Format::Table | Format::Markdown) {
        eprintln!("note: {bad} line(s) could not be counted; they are listed in the output");
    }
    Ok(if args.check && failed {
        ExitStatus::CheckFailed
    } else {
        ExitStatus::Success
    })
}

fn batch_models(
    catalog: &crate::catalog::Catalog,
    files: &[BatchFile],
    sku: Sku,
    quota: Option<u64>,
    enterprise: bool,
) -> Vec<BatchModel> {
    use std::collections::BTreeMap;
    let mut by: BTreeMap<&str, Vec<&crate::tokens::batch::BatchLine>> = BTreeMap::new();
    for l in files.iter().flat_map(|f| &f.count.lines) {
        by.entry(l.counted_as.as_str()).or_default().push(l);
    }
    by.into_iter()
        .map(|(name, lines)| {
            let m = catalog.model(name);
            let enqueued: u64 = lines.iter().map(|l| l.prompt_tokens).sum();
            let mut prompts: Vec<f64> = lines.iter().map(|l| l.prompt_tokens as f64).collect();
            let (limit, source) = match (quota, m.and_then(|m| m.batch)) {
                (Some(q), _) => (Some(q), "--batch-quota".to_string()),
                (None, Some(b)) => {
                    let (v, which) = match (sku, enterprise) {
                        (Sku::DataZoneBatch, false) => (b.data_zone_enqueued, "Data Zone, Default"),
                        (Sku::DataZoneBatch, true) => {
                            (b.data_zone_enqueued_enterprise, "Data Zone, Enterprise")
                        }
                        (_, false) => (Some(b.global_enqueued), "Global, Default"),
                        (_, true) => (Some(b.global_enqueued_enterprise), "Global, Enterprise"),
                    };
                    (v, format!("catalog ({which})"))
                }
                (None, None) => (None, "not in the catalog: pass --batch-quota".to_string()),
            };
            BatchModel {
                model: name.to_string(),
                lines: lines.len() as u64,
                enqueued_tokens: enqueued,
                prompt_p50: crate::stats::percentile(&mut prompts, 0.5),
                prompt_p99: crate::stats::percentile(&mut prompts, 0.99),
                prompt_max: lines.iter().map(|l| l.prompt_tokens).max().unwrap_or(0),
                not_fitting: lines.iter().filter(|l| !l.fits).count() as u64,
                input_cost_usd: m
                    .and_then(|m| catalog.token_price(m, sku))
                    .map(|q| q.cost(enqueued, 0, 0)),
                sku: sku.to_string(),
                quota: limit,
                quota_source: if limit.is_none() && quota.is_none() {
                    "not in the catalog for this SKU: pass --batch-quota".to_string()
                } else {
                    source
                },
                within_quota: limit.map(|q| enqueued <= q),
            }
        })
        .collect()
}

/// Bad lines shown in the table (all of them are in JSON and CSV).
const BAD_LINES_SHOWN: usize = 20;

fn render_batch(
    out: &mut dyn Write,
    format: Format,
    files: &[BatchFile],
    models: &[BatchModel],
    fallback: &Model,
) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            #[derive(Serialize)]
            struct J<'a> {
                files: &'a [BatchFile],
                models: &'a [BatchModel],
            }
            output::write_json(out, &J { files, models })?;
        }
        Format::Csv => {
            let mut w = output::csv_writer(out);
            w.write_record([
                "file",
                "line",
                "custom_id",
                "model",
                "counted_as",
                "endpoint",
                "prompt_tokens",
                "max_tokens",
                "fits",
                "error",
            ])?;
            for f in files {
                let mut rows: Vec<(usize, Vec<String>)> = f
                    .count
                    .lines
                    .iter()
                    .map(|l| {
                        (
                            l.line,
                            vec![
                                f.path.clone(),
                                l.line.to_string(),
                                l.custom_id.clone(),
                                l.model.clone(),
                                l.counted_as.clone(),
                                serde_json::to_value(l.endpoint)
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_string))
                                    .unwrap_or_default(),
                                l.prompt_tokens.to_string(),
                                l.max_tokens.map(|x| x.to_string()).unwrap_or_default(),
                                l.fits.to_string(),
                                String::new(),
                            ],
                        )
                    })
                    .collect();
                rows.extend(f.count.bad.iter().map(|b| {
                    let mut r = vec![f.path.clone(), b.line.to_string()];
                    r.extend(std::iter::repeat_n(String::new(), 7));
                    r.push(b.message.clone());
                    (b.line, r)
                }));
                rows.sort_by_key(|r| r.0);
                for (_, r) in rows {
                    w.write_record(&r)?;
                }
            }
            w.flush()?;
        }
        Format::Table | Format::Markdown => {
            let mut t = output::table(
                &[
                    "model",
                    "lines",
                    "enqueued tokens",
                    "prompt p50 / p99 / max",
                    "not fitting",
                    "input cost",
                    "quota",
                    "of quota",
                ],
                &[false, true, true, true, true, true, true, true],
            );
            let costs =
                output::usd_column(&models.iter().map(|m| m.input_cost_usd).collect::<Vec<_>>());
            for (m, cost) in models.iter().zip(costs) {
                t.add_row(vec![
                    m.model.clone(),
                    thousands(m.lines),
                    thousands(m.enqueued_tokens),
                    format!(
                        "{} / {} / {}",
                        thousands(m.prompt_p50.round() as u64),
                        thousands(m.prompt_p99.round() as u64),
                        thousands(m.prompt_max)
                    ),
                    thousands(m.not_fitting),
                    cost,
                    m.quota.map(thousands).unwrap_or_else(|| "-".into()),
                    m.quota
                        .map(|q| output::pct_fine(m.enqueued_tokens as f64 / q as f64))
                        .unwrap_or_else(|| "-".into()),
                ]);
            }
            let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
            let lines: usize = files.iter().map(|f| f.count.lines.len()).sum();
            let bad: usize = files.iter().map(|f| f.count.bad.len()).sum();
            writeln!(
                out,
                "{} · {} line(s) counted, {} could not be counted",
                paths.join(", "),
                thousands(lines as u64),
                thousands(bad as u64)
            )?;
            output::write_table(out, &t)?;
            for m in models {
                match m.within_quota {
                    Some(true) => writeln!(
                        out,
                        "quota: {} enqueues {} of {} tokens on {} ({}): fits",
                        m.model,
                        thousands(m.enqueued_tokens),
                        thousands(m.quota.unwrap_or(0)),
                        m.sku,
                        m.quota_source
                    )?,
                    Some(false) => writeln!(
                        out,
                        "quota: {} enqueues {} tokens, over the {} of {} ({}): the job is refused (token_limit_exceeded) or fails validation; split the file or wait for running jobs to end",
                        m.model,
                        thousands(m.enqueued_tokens),
                        thousands(m.quota.unwrap_or(0)),
                        m.sku,
                        m.quota_source
                    )?,
                    None => writeln!(out, "quota: {}: {}", m.model, m.quota_source)?,
                }
            }
            for f in files {
                for p in &f.count.problems {
                    writeln!(out, "problem: {}: {p}", f.path)?;
                }
                if !f.count.unresolved_models.is_empty() {
                    writeln!(
                        out,
                        "note: {}: body.model {} is not a catalog model (a batch deployment's name): counted as {} (--model)",
                        f.path,
                        f.count.unresolved_models.join(", "),
                        fallback.name
                    )?;
                }
            }
            let all_bad: Vec<(&str, &crate::tokens::batch::BadLine)> = files
                .iter()
                .flat_map(|f| f.count.bad.iter().map(move |b| (f.path.as_str(), b)))
                .collect();
            for (path, b) in all_bad.iter().take(BAD_LINES_SHOWN) {
                writeln!(out, "bad line: {path}:{}: {}", b.line, b.message)?;
            }
            let misfits: Vec<(&str, &crate::tokens::batch::BatchLine)> = files
                .iter()
                .flat_map(|f| {
                    f.count
                        .lines
                        .iter()
                        .filter(|l| !l.fits)
                        .map(move |l| (f.path.as_str(), l))
                })
                .collect();
            for (path, l) in misfits.iter().take(BAD_LINES_SHOWN) {
                writeln!(
                    out,
                    "does not fit: {path}:{}: prompt {} tokens + max_tokens {} over {}'s limits",
                    l.line,
                    thousands(l.prompt_tokens),
                    l.max_tokens.map(thousands).unwrap_or_else(|| "-".into()),
                    l.counted_as
                )?;
            }
            if all_bad.len() > BAD_LINES_SHOWN {
                writeln!(
                    out,
                    "… and {} more bad lines (--format csv or json lists every line)",
                    all_bad.len() - BAD_LINES_SHOWN
                )?;
            }
            writeln!(
                out,
                "note: enqueued tokens are the lines' prompt tokens, as counted by the API; Azure holds them against the quota until the job ends. --format csv gives every line."
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_size_parses_and_rejects_bad_values() {
        assert_eq!(parse_size("1024x768").unwrap(), (1024, 768));
        assert_eq!(parse_size("10X20").unwrap(), (10, 20));
        assert!(parse_size("1024").is_err());
        assert!(parse_size("0x5").is_err());
        assert!(parse_size("axb").is_err());
    }

    #[test]
    fn text_labels_are_short_and_single_line() {
        assert_eq!(text_label("hi"), "\"hi\"");
        assert_eq!(text_label("a\nb"), "\"a b\"");
        assert!(text_label(&"x".repeat(100)).ends_with("…\""));
    }
}
