//! The `driftless` command: the CLI, and later the controller and server
//! entry points. Parsing and output live here; every stage's logic lives in
//! its own crate.

mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::output::{Format, print};

/// A GitOps continuous-delivery operator for Kubernetes that speaks Argo CD's API.
#[derive(Parser)]
#[command(name = "driftless", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the version of this binary and what it was built for.
    Version {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
}

/// What `driftless version` reports.
#[derive(serde::Serialize)]
struct VersionInfo {
    version: &'static str,
    /// The Kubernetes minor whose API the binary is built against.
    kubernetes: &'static str,
    target: &'static str,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Version { output } => {
            let info = VersionInfo {
                version: env!("CARGO_PKG_VERSION"),
                kubernetes: "1.34",
                target: std::env::consts::ARCH,
            };
            print(output, &info, || {
                format!("driftless {} (Kubernetes API {}, {})\n", info.version, info.kubernetes, info.target)
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("driftless: {err:#}");
            ExitCode::FAILURE
        }
    }
}
