//! Command layer: one module per subcommand. Each turns its `*Args` into a validated
//! configuration (failing fast with the flag to fix), calls the domain modules, and renders the
//! result to stdout. [`run`] dispatches with one `match`.

pub mod calibrate;
pub mod cost;
pub mod count;
mod logs;
pub mod models;
pub mod plan;
pub mod profile;
mod progress;
pub mod query;
pub mod report;
pub mod simulate;
pub(crate) mod workload;

use std::io::{self, BufWriter, Write};

use anyhow::Context as _;

use crate::catalog::Catalog;
use crate::cli::{Cli, Command};

/// How a successful run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Exit 0.
    Success,
    /// Exit 3: a `--check` found a row that does not fit.
    CheckFailed,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::CheckFailed => 3,
        }
    }
}

/// Shared context of a command run.
pub struct Context<'a> {
    pub catalog: Catalog,
    pub quiet: bool,
    pub out: &'a mut dyn Write,
}

/// Runs the parsed command line, writing results to stdout.
pub fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let status = run_with(cli, &mut out)?;
    out.flush().context("writing to standard output")?;
    Ok(status)
}

/// Runs the parsed command line, writing results to `out`.
pub fn run_with(cli: Cli, out: &mut dyn Write) -> anyhow::Result<ExitStatus> {
    if let Some(n) = cli.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.into())
            .build_global()
            .context("--threads: starting the worker threads")?;
    }
    crate::output::set_markdown(cli.command.markdown());
    let catalog = Catalog::load(cli.catalog.as_deref())?;
    let mut ctx = Context {
        catalog,
        quiet: cli.quiet,
        out,
    };
    match cli.command {
        Command::Count(args) => count::run(&mut ctx, args),
        Command::Models(args) => models::run(&mut ctx, args),
        Command::Profile(args) => profile::run(&mut ctx, args),
        Command::Simulate(args) => simulate::run(&mut ctx, args),
        Command::Plan(args) => plan::run(&mut ctx, args),
        Command::Cost(args) => cost::run(&mut ctx, args),
        Command::Report(args) => report::run(&mut ctx, args),
        Command::Query(args) => query::run(&mut ctx, args),
        Command::Calibrate(args) => calibrate::run(&mut ctx, args),
        Command::Completions(args) => {
            use clap::CommandFactory as _;
            clap_complete::generate(args.shell, &mut Cli::command(), "spillway", ctx.out);
            Ok(ExitStatus::Success)
        }
    }
}

/// Checks the extension of a table output file given with `flag`: `Ok(true)` for Parquet
/// (`.parquet`, `.pq`), `Ok(false)` for CSV; anything else is refused naming the flag (`what`:
/// "the series is", written before "written as .csv or .parquet").
pub(crate) fn table_file(path: &std::path::Path, flag: &str, what: &str) -> anyhow::Result<bool> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "csv" => Ok(false),
        "parquet" | "pq" => Ok(true),
        _ => anyhow::bail!(
            "{flag} {}: {what} written as .csv or .parquet",
            path.display()
        ),
    }
}

/// Refuses an output file given with `flag` whose extension is not `ext` (`what`: "the curve
/// is", written before "written as .ext").
pub(crate) fn require_ext(
    path: Option<&std::path::Path>,
    flag: &str,
    ext: &str,
    what: &str,
) -> anyhow::Result<()> {
    match path {
        Some(p) if p.extension().is_none_or(|e| !e.eq_ignore_ascii_case(ext)) => {
            anyhow::bail!("{flag} {}: {what} written as .{ext}", p.display())
        }
        _ => Ok(()),
    }
}

/// The error and its causes on one line (`--model: unknown model …`), each said once: a cause
/// whose text the line already ends with (an I/O error quoted by the error wrapping it) is not
/// repeated.
pub fn error_line(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// True when the error is spillway's own fault (exit 2), not the user's input.
pub fn is_internal(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|c| c.downcast_ref::<crate::sim::SimError>().is_some())
}

/// True when the error comes from writing to a closed pipe (`spillway … | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<csv::Error>().is_some_and(|e| {
                matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == io::ErrorKind::BrokenPipe)
            })
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(io::ErrorKind::BrokenPipe))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_line_says_a_quoted_cause_once() {
        let io = io::Error::other("incomplete deflate stream");
        let err = anyhow::Error::new(crate::ingest::IngestError::Io {
            file: "log.jsonl.gz".into(),
            source: io,
        });
        assert_eq!(error_line(&err), "log.jsonl.gz: incomplete deflate stream");
        let err = anyhow::anyhow!("unknown model 'gpt4o'").context("--model");
        assert_eq!(error_line(&err), "--model: unknown model 'gpt4o'");
    }
}
