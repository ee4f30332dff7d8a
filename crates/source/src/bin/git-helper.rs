//! Only git's askpass and ssh ([`driftless_source::git_helper`]): what the
//! tests of crates that fetch private repositories name as the helper,
//! their test binaries being no such program. The driftless binary plays
//! this part itself.

use std::process::ExitCode;

fn main() -> ExitCode {
    driftless_source::git_helper::run().unwrap_or_else(|| {
        eprintln!("git-helper: started by git as its askpass or ssh only");
        ExitCode::FAILURE
    })
}
