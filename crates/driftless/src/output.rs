//! Output formats shared by every command: a table for people, JSON or
//! YAML for scripts.

use std::io::{BufRead as _, Write};

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
    /// A table with more columns, where a command has them (else `table`).
    Wide,
    /// Names only, one a line, where a command has names (else `table`).
    Name,
}

/// `-o table|json|yaml`, for every command that prints something.
#[derive(clap::Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// `--output table|json|yaml`, long form only, for commands where `-o`
/// is another flag (as in `argocd proj role add-policy -o OBJECT`).
#[derive(clap::Args)]
pub struct LongOutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// Prints `value` as `format` asks; `table` renders the human form.
/// A closed pipe (`driftless ... | head`) is not an error.
pub fn print<T: Serialize>(format: Format, value: &T, table: impl FnOnce() -> String) -> anyhow::Result<()> {
    let text = match format {
        Format::Table | Format::Wide | Format::Name => table(),
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

/// Renders rows under `headers` as aligned columns, two spaces apart, as
/// `kubectl` and `argocd` print them. Empty cells stay empty; trailing
/// spaces are trimmed so that output diffs cleanly.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(width.saturating_sub(cell.chars().count()) + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Writes one line to stdout right away: progress of long-running work
/// must show while it happens, not when the buffer fills.
pub fn progress(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("write to stdout"),
    }
}

/// A progress line for a command printing `format`: on stdout beside a
/// table, on stderr when stdout carries JSON or YAML for a script.
pub fn progress_as(format: Format, line: &str) -> anyhow::Result<()> {
    match format {
        Format::Json | Format::Yaml => {
            eprintln!("{line}");
            Ok(())
        }
        Format::Table | Format::Wide | Format::Name => progress(line),
    }
}

/// Asks on stderr and reads the answer from stdin; no answer is a no.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("read the confirmation from stdin")?;
    Ok(matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let rows = vec![vec!["web".to_string(), "Synced".to_string()], vec!["database".to_string(), String::new()]];
        assert_eq!(table(&["NAME", "STATUS"], &rows), "NAME      STATUS\nweb       Synced\ndatabase\n");
    }
}
