//! The programs git runs for us, without a shell: the driftless executable
//! itself (an image has no `/bin/sh`) in one of two roles, chosen by the
//! environment git hands down from [`crate::git_access`].
//!
//! - askpass (`GIT_ASKPASS`): git runs it with one argument, the prompt;
//!   it answers only for `DRIFTLESS_ASKPASS_ORIGIN`, and nothing when that
//!   is empty (no credentials).
//! - ssh (`GIT_SSH_COMMAND`, variant `ssh`): git runs it with ssh's
//!   arguments (a host and a command at least); it becomes `ssh` with the
//!   options of `DRIFTLESS_SSH_OPTIONS` (a JSON list) first.
//!
//! A binary that fetches Git calls [`run`] first thing in `main`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;

/// The credential's origin (`scheme://host[:port]`): set for every git
/// command we run, empty when there is nothing to answer.
pub(crate) const ASKPASS_ORIGIN: &str = "DRIFTLESS_ASKPASS_ORIGIN";
pub(crate) const ASKPASS_USERNAME: &str = "DRIFTLESS_ASKPASS_USERNAME";
pub(crate) const ASKPASS_PASSWORD: &str = "DRIFTLESS_ASKPASS_PASSWORD";
/// ssh's options, a JSON list of strings.
pub(crate) const SSH_OPTIONS: &str = "DRIFTLESS_SSH_OPTIONS";

static PROGRAM: OnceLock<PathBuf> = OnceLock::new();

/// Names the program git runs as its askpass and ssh: one whose `main`
/// calls [`run`] first. Only needed where this executable is not one (a
/// test binary); the first call wins, and later ones return their path.
pub fn set_program(program: impl Into<PathBuf>) -> Result<(), PathBuf> {
    PROGRAM.set(program.into())
}

/// The program git runs as its askpass and ssh: [`set_program`]'s, else
/// this executable.
pub(crate) fn program() -> &'static Path {
    PROGRAM.get_or_init(|| std::env::current_exe().unwrap_or_else(|_| PathBuf::from("driftless")))
}

/// When this process was started by git as its askpass or ssh, does that
/// and says how to exit; None for any other start (a command to parse).
pub fn run() -> Option<ExitCode> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if let (Some(origin), [prompt]) = (std::env::var_os(ASKPASS_ORIGIN), args.as_slice()) {
        let var = |name| std::env::var(name).unwrap_or_default();
        let (username, password) = (var(ASKPASS_USERNAME), var(ASKPASS_PASSWORD));
        let answer = askpass_answer(&prompt.to_string_lossy(), &origin.to_string_lossy(), &username, &password);
        return Some(match answer {
            Some(a) => {
                println!("{a}");
                ExitCode::SUCCESS
            }
            None => ExitCode::FAILURE,
        });
    }
    let options = std::env::var_os(SSH_OPTIONS)?;
    let options: Vec<String> = match serde_json::from_str(&options.to_string_lossy()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("driftless: {SSH_OPTIONS} is no JSON list of strings: {e}");
            return Some(ExitCode::FAILURE);
        }
    };
    // Replaces this process: ssh's exit status and signals are git's to see.
    let err = std::os::unix::process::CommandExt::exec(std::process::Command::new("ssh").args(options).args(args));
    eprintln!("driftless: run ssh: {err}");
    Some(ExitCode::FAILURE)
}

/// What to answer git's `prompt` (`Username for 'https://host:port': `,
/// `Password for 'https://user@host:port': `) with a credential of
/// `origin`: nothing for any other scheme, host or port (a redirect's), and
/// nothing for any other question.
pub fn askpass_answer<'a>(prompt: &str, origin: &str, username: &'a str, password: &'a str) -> Option<&'a str> {
    let (_, quoted) = prompt.split_once('\'')?;
    let (url, _) = quoted.rsplit_once('\'')?;
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    if origin.is_empty() || format!("{scheme}://{authority}") != origin {
        return None;
    }
    if prompt.starts_with("Username") {
        Some(username)
    } else if prompt.starts_with("Password") {
        Some(password)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_askpass_answers_only_for_the_credentials_origin() {
        let origin = "https://git.example:8443";
        let ask = |prompt: &str| askpass_answer(prompt, origin, "me@corp", "pa ss'word");
        assert_eq!(ask("Username for 'https://git.example:8443': "), Some("me@corp"));
        assert_eq!(ask("Password for 'https://me@corp@git.example:8443': "), Some("pa ss'word"));
        assert_eq!(ask("Password for 'https://me@evil.example': "), None, "another host");
        assert_eq!(ask("Password for 'https://git.example': "), None, "another port");
        assert_eq!(ask("Password for 'http://git.example:8443': "), None, "another scheme");
        assert_eq!(ask("Password for 'https://git.example:8443.evil': "), None, "a longer host");
        assert_eq!(ask("Are you sure? 'https://git.example:8443'"), None, "another question");
        assert_eq!(ask("Password for https://git.example:8443: "), None, "no quoted URL");
        assert_eq!(askpass_answer("Password for 'https://git.example:8443': ", "", "u", "p"), None, "no credentials");
    }

    #[test]
    fn any_prompt_at_all_never_panics() {
        // A small deterministic generator: prompts of quotes, separators and text.
        let pieces = ["'", "://", "@", ":", "Username", "Password", "https", "h", "", " ", "\u{e9}", "''"];
        let mut state = 0x2545_f491_u32;
        for _ in 0..20_000 {
            let mut prompt = String::new();
            for _ in 0..(state % 9) {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                prompt.push_str(pieces[state as usize % pieces.len()]);
            }
            let answer = askpass_answer(&prompt, "https://h", "u", "p");
            assert!(answer.is_none() || prompt.contains("'https://"), "{prompt:?} answered");
        }
    }
}
