//! Progress bar on stderr for long reads (indicatif), hidden when stderr is not a terminal, with
//! `--quiet`, or for inputs too small to need one.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ingest::Progress;

/// Inputs smaller than this finish before a bar would be worth drawing.
const MIN_BYTES: u64 = 32 << 20;

/// A byte-based progress bar over all input files.
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    pub fn new(paths: &[PathBuf], quiet: bool) -> Bar {
        let total: u64 = paths
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        if quiet || total < MIN_BYTES || !std::io::stderr().is_terminal() {
            return Bar { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        Bar { bar: Some(bar) }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn start_file(&self, path: &Path, _bytes: u64) {
        if let Some(b) = &self.bar {
            b.set_message(
                path.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
            );
        }
    }

    fn advance(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }
}

/// Counts simulations on stderr while the sweep runs (hidden off a terminal or with --quiet).
pub struct Counter {
    bar: Option<ProgressBar>,
}

impl Counter {
    pub fn new(quiet: bool) -> Counter {
        if quiet || !std::io::stderr().is_terminal() {
            return Counter { bar: None };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {pos} simulations ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Counter { bar: Some(bar) }
    }

    pub fn stage(&self, msg: &'static str) {
        if let Some(b) = &self.bar {
            b.set_message(msg);
        }
    }

    pub fn tick(&self, n: usize) {
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
