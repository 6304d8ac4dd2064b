//! spillway: quota planning and token-budget analysis for Azure OpenAI and OpenAI deployments.
//!
//! The library holds the whole product; `src/main.rs` only parses arguments, calls [`run`] and
//! maps the outcome to an exit code. Layout: [`cli`] (argument definitions), [`commands`] (one
//! module per subcommand: arguments → validated configuration → domain calls → rendering), and
//! the domain modules named for the pipeline: [`catalog`], [`tokens`], [`ingest`], [`profile`], [`sim`]. Domain code
//! never prints; it returns values that the command layer renders to the writer it is given.
//! [`alloc`] is the process allocator the binary installs; `fuzzing` holds what the fuzz
//! targets under `fuzz/` run.

pub mod alloc;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod cost;
#[doc(hidden)]
pub mod fuzzing;
pub mod ingest;
pub mod output;
pub mod plan;
pub mod profile;
pub mod report;
pub mod sim;
pub mod stats;
pub mod tokens;

pub use commands::{ExitStatus, run};
