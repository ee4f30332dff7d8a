//! Remote bases: `resources` and `components` entries naming a directory of
//! a Git repository, in kustomize's URL forms:
//!
//! - `https://github.com/org/repo//deploy/base?ref=v1.2.0` (`//` ends the
//!   repository, the rest is the directory);
//! - `github.com/org/repo/deploy/base?ref=main` (on github.com the first
//!   two path segments are the repository);
//! - `git@github.com:org/repo.git/deploy/base` (`.git` ends the repository);
//! - `ssh://git@host/org/repo.git//base`, `https://dev.azure.com/o/p/_git/repo/base`;
//! - `file:///srv/repo//base?ref=abc123` (a repository on local disk).
//!
//! `ref` (or its older name `version`) picks a branch, tag or commit; none
//! means the default branch. The build asks [`Remotes`] for the checkout,
//! so the caller decides how repositories are fetched and cached.

use std::path::PathBuf;

/// Fetches the repositories remote bases name. driftless' source layer
/// implements it; a build without one refuses remote bases.
pub trait Remotes: Send + Sync + std::fmt::Debug {
    /// The files of `repo` at `reference` (empty: the default branch).
    fn checkout(&self, repo: &str, reference: &str) -> Result<RemoteCheckout, String>;
}

/// A repository's files at one commit, read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCheckout {
    /// The root of the files.
    pub root: PathBuf,
    /// The commit SHA checked out.
    pub revision: String,
}

/// A remote base a build used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteBase {
    /// The entry as written in the kustomization.
    pub url: String,
    /// The repository cloned.
    pub repo: String,
    /// The `ref` asked for (empty: the default branch).
    pub reference: String,
    /// The commit it resolved to.
    pub revision: String,
}

impl RemoteBase {
    /// Whether the base can never change: its `ref` is the commit itself.
    /// A branch moves and a tag can be moved.
    pub fn is_pinned(&self) -> bool {
        self.reference.len() == 40 && self.reference.eq_ignore_ascii_case(&self.revision)
    }
}

/// A parsed remote base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    /// What `git clone` is given.
    pub repo: String,
    /// The kustomization's directory inside the repository (may be empty).
    pub path: String,
    /// Branch, tag or commit; empty for the default branch.
    pub reference: String,
}

const SCHEMES: [&str; 4] = ["ssh://", "https://", "http://", "file://"];

impl RepoSpec {
    /// Parses `entry`; None when it is not a repository URL (a local path).
    /// An entry that is a URL but names no repository is an error.
    pub fn parse(entry: &str) -> Option<Result<RepoSpec, String>> {
        if entry.starts_with('/') {
            return None;
        }
        let (rest, query) = entry.split_once('?').unwrap_or((entry, ""));
        // kustomize strips a forced-protocol prefix (`git::https://...`).
        let rest = strip_prefix_ignore_case(rest, "git::").unwrap_or(rest);
        let (scheme, rest) = SCHEMES.iter().find_map(|s| strip_prefix_ignore_case(rest, s).map(|r| (*s, r))).unwrap_or(("", rest));
        let (user, rest) = split_user(rest);
        let github = {
            let lower = rest.to_ascii_lowercase();
            lower.starts_with("github.com/") || lower.starts_with("github.com:")
        };
        // scp-like `user@host:path` needs a user, or github.com.
        let scp = scheme.is_empty() && (!user.is_empty() || github);
        if scheme.is_empty() && !scp {
            return None;
        }
        Some(Self::parse_parts(scheme, user, rest, scp, github, query))
    }

    fn parse_parts(scheme: &str, user: &str, rest: &str, scp: bool, github: bool, query: &str) -> Result<RepoSpec, String> {
        let (host, rest) = if scheme == "file://" {
            (format!("{scheme}{user}"), rest)
        } else {
            let slash = rest.find('/');
            let sep = match (scp, rest.find(':')) {
                (true, Some(colon)) if colon > 0 && slash.is_none_or(|s| colon < s) => Some(colon),
                _ => slash,
            };
            let (host, rest) = match sep {
                Some(i) => (&rest[..=i], &rest[i + 1..]),
                None => (rest, ""),
            };
            if host.is_empty() {
                return Err("no host".into());
            }
            let host = match github {
                // github.com is reached over ssh with a user, else https.
                true if scheme == "ssh://" || !user.is_empty() => format!("{user}github.com:"),
                true => "https://github.com/".to_string(),
                false => format!("{scheme}{user}{host}"),
            };
            (host, rest)
        };
        let (repo_path, path) = split_repo_path(rest, scheme == "file://").ok_or("no repository path")?;
        let path = path.trim_start_matches('/');
        let leaves = path.split('/').try_fold(0usize, |depth, seg| match seg {
            "" | "." => Some(depth),
            ".." => depth.checked_sub(1),
            _ => Some(depth + 1),
        });
        if leaves.is_none() {
            return Err(format!("the path `{path}` leaves the repository"));
        }
        Ok(RepoSpec { repo: format!("{host}{repo_path}"), path: path.to_string(), reference: reference(query) })
    }
}

/// Splits the repository from the directory inside it: at Azure's `_git/`
/// plus one segment, at `//`, or after `.git`; otherwise a local
/// repository is the whole path and a hosted one is `org/repo`.
fn split_repo_path(rest: &str, local: bool) -> Option<(&str, &str)> {
    let (repo, path) = if let Some(i) = rest.find("_git/") {
        let after = i + "_git/".len();
        let end = rest[after..].find('/').map_or(rest.len(), |j| after + j);
        (&rest[..end], rest.get(end + 1..).unwrap_or(""))
    } else if let Some(i) = rest.find("//") {
        (&rest[..i], &rest[i + 2..])
    } else if let Some(i) = rest.find(".git") {
        rest.split_at(i + ".git".len())
    } else if local {
        (rest, "")
    } else {
        let mut cut = rest.match_indices('/').map(|(i, _)| i);
        match (cut.next(), cut.next()) {
            (Some(_), Some(second)) => (&rest[..second], &rest[second + 1..]),
            (Some(_), None) => (rest, ""),
            _ => return None,
        }
    };
    (!repo.is_empty()).then_some((repo, path))
}

/// `ref`, else `version`, from the query string.
fn reference(query: &str) -> String {
    let find = |key: &str| {
        query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, v)| *k == key && !v.is_empty()).map(|(_, v)| v.to_string())
    };
    find("ref").or_else(|| find("version")).unwrap_or_default()
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.get(..prefix.len()).filter(|head| head.eq_ignore_ascii_case(prefix)).map(|_| &s[prefix.len()..])
}

/// A leading `user@` (a letter, then letters, digits and dashes).
fn split_user(s: &str) -> (&str, &str) {
    let end = s.find('@').filter(|&at| {
        let name = &s[..at];
        name.starts_with(|c: char| c.is_ascii_alphabetic()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    match end {
        Some(at) => s.split_at(at + 1),
        None => ("", s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(entry: &str) -> RepoSpec {
        RepoSpec::parse(entry).expect("a repository URL").expect("valid")
    }

    fn check(entry: &str, repo: &str, path: &str, reference: &str) {
        let s = spec(entry);
        assert_eq!((s.repo.as_str(), s.path.as_str(), s.reference.as_str()), (repo, path, reference), "{entry}");
    }

    #[test]
    fn the_url_forms_kustomize_accepts() {
        check("https://github.com/org/repo//deploy/base?ref=v1.2.0", "https://github.com/org/repo", "deploy/base", "v1.2.0");
        check("github.com/org/repo/deploy/base?ref=main", "https://github.com/org/repo", "deploy/base", "main");
        check("github.com/org/repo", "https://github.com/org/repo", "", "");
        check("git@github.com:org/repo.git/deploy/base", "git@github.com:org/repo.git", "deploy/base", "");
        check("ssh://git@github.com/org/repo//base", "git@github.com:org/repo", "base", "");
        check("ssh://git@example.com/org/repo.git//base?version=v2", "ssh://git@example.com/org/repo.git", "base", "v2");
        check("https://example.com/org/repo.git/base?ref=v1&timeout=90", "https://example.com/org/repo.git", "base", "v1");
        check("https://dev.azure.com/o/p/_git/repo/base", "https://dev.azure.com/o/p/_git/repo", "base", "");
        check("git::https://example.com/org/repo//base", "https://example.com/org/repo", "base", "");
        check("file:///srv/git/repo//apps/web?ref=abc", "file:///srv/git/repo", "apps/web", "abc");
        check("file:///srv/git/repo", "file:///srv/git/repo", "", "");
        check("https://example.com/org/repo/base?ref=x&version=y", "https://example.com/org/repo", "base", "x");
    }

    #[test]
    fn local_paths_are_not_urls() {
        for local in ["../base", "base", "./overlays/prod", "/abs/path", "deploy.yaml", "git-stuff/base"] {
            assert_eq!(RepoSpec::parse(local), None, "{local}");
        }
    }

    #[test]
    fn a_url_leaving_its_repository_or_naming_none_is_an_error() {
        assert!(RepoSpec::parse("https://example.com/org/repo//../x").unwrap().is_err());
        assert!(RepoSpec::parse("https://example.com/org/repo//a/../../x").unwrap().is_err());
        assert!(RepoSpec::parse("https://example.com/org/repo//a/../b").unwrap().is_ok());
        assert!(RepoSpec::parse("https://").unwrap().is_err());
        assert!(RepoSpec::parse("https://example.com").unwrap().is_err());
    }

    #[test]
    fn only_a_commit_sha_ref_pins_a_base() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let base =
            |reference: &str| RemoteBase { url: String::new(), repo: String::new(), reference: reference.into(), revision: sha.into() };
        assert!(base(sha).is_pinned());
        assert!(!base("v1.0.0").is_pinned());
        assert!(!base("").is_pinned());
    }
}
