//! Output formats shared by every command: a table for people, JSON or
//! YAML for scripts.

use std::io::Write;

use anyhow::Context;
use serde::Serialize;

/// How a command prints its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Table,
    /// JSON, for scripts.
    Json,
    /// YAML, for scripts.
    Yaml,
}

/// Prints `value` as `format` asks; `table` renders the human form.
/// A closed pipe (`driftless ... | head`) is not an error.
pub fn print<T: Serialize>(format: Format, value: &T, table: impl FnOnce() -> String) -> anyhow::Result<()> {
    let text = match format {
        Format::Table => table(),
        Format::Json => serde_json::to_string_pretty(value).context("encode JSON")? + "\n",
        Format::Yaml => serde_saphyr::to_string(value).context("encode YAML")?,
    };
    write_stdout(&text)
}

/// Writes `text` to stdout; a closed pipe is not an error.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("write to stdout"),
    }
}
