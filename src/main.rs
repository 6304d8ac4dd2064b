//! The `spillway` binary: parse arguments, run, map the outcome to an exit code
//! (0 ok, 1 user or data error, 2 internal error, 3 a `--check` failed; a closed pipe is 0).

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: spillway::alloc::Allocator = spillway::alloc::Allocator;

fn main() -> ExitCode {
    let cli = match spillway::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let outcome = std::panic::catch_unwind(|| spillway::run(cli));
    match outcome {
        Ok(Ok(status)) => ExitCode::from(status.code()),
        Ok(Err(err)) => {
            if spillway::commands::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            if spillway::commands::is_internal(&err) {
                eprintln!("error: {}", spillway::commands::error_line(&err));
                return ExitCode::from(2);
            }
            // One line: "error: --model: unknown model 'gpt4o'; did you mean gpt-4o?"
            eprintln!("error: {}", spillway::commands::error_line(&err));
            ExitCode::from(1)
        }
        Err(_) => {
            eprintln!(
                "error: internal error (a bug in spillway); please report it with the command line"
            );
            ExitCode::from(2)
        }
    }
}
