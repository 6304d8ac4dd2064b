//! Command layer: one module per subcommand. Each turns its `*Args` into a validated
//! configuration (failing fast with the flag to fix), calls the domain modules, and renders the
//! result to stdout. [`run`] dispatches with one `match`.

pub mod count;
pub mod models;
pub mod profile;
mod progress;
pub mod simulate;

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
    }
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
