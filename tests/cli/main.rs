//! Integration tests: the built `spillway` binary, run as a user runs it. One test binary for
//! the whole CLI (link time matters with polars); one module per subcommand.

mod cost;
mod count;
mod models;
mod plan;
mod profile;
mod report;
mod simulate;
mod usage;

use assert_cmd::Command;

/// The binary under test, with a clean environment for deterministic output.
pub fn spillway() -> Command {
    let mut cmd = Command::cargo_bin("spillway").expect("binary builds");
    cmd.env_remove("RAYON_NUM_THREADS");
    cmd
}

/// Path of a file in the repository.
pub fn repo(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs `cmd`, which must succeed (its stderr is shown when it does not), and parses its
/// stdout as JSON.
pub fn ok_json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out.stdout)
}

/// Parses stdout as JSON.
pub fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).expect("stdout is JSON")
}

/// Writes `text` to a file `name` in a fresh temporary folder (removed when the guard drops).
pub fn temp_file(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}
