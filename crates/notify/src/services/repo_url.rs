//! A repository URL's path (`owner/repo`, or GitLab's
//! `group/subgroup/project`) from the forms Argo CD Applications use:
//! `https://host/owner/repo(.git)`, `ssh://git@host[:port]/owner/repo.git`
//! and scp-like `git@host:owner/repo.git`.

use reqwest::Url;
use serde::Deserialize;

use super::Failure;

/// GitHub's or GitLab's section: the commit, and what else the service does.
#[derive(Deserialize, Default, Debug)]
pub(super) struct Section<T> {
    #[serde(flatten)]
    pub commit: Commit,
    #[serde(flatten)]
    pub rest: T,
}

/// What GitHub's and GitLab's sections share: the repository, the
/// revision and the commit status.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct Commit {
    #[serde(rename = "repoURLPath")]
    repo_url_path: String,
    #[serde(rename = "revisionPath")]
    revision_path: String,
    pub status: Option<Status>,
}

/// A commit status: `state`, `label` (its context or name), `targetURL`,
/// and `description` (default the message).
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct Status {
    pub state: String,
    pub label: String,
    #[serde(rename = "targetURL")]
    pub target_url: String,
    pub description: String,
}

impl Commit {
    /// The repository's path segments and the revision for an API path.
    pub(super) fn target(&self) -> Result<(Vec<String>, String), Failure> {
        Ok((segments(&self.repo_url_path).map_err(Failure::permanent)?, revision(&self.revision_path).map_err(Failure::permanent)?))
    }
}

/// The host (empty for a URL without one) and the path of a repository
/// URL: `https://host/path`, `ssh://git@host:22/path` or scp-like
/// `git@host:path`.
pub(crate) fn host_and_path(url: &str) -> Result<(String, String), String> {
    if url.contains("://") {
        let u = Url::parse(url).map_err(|e| e.to_string())?;
        return Ok((u.host_str().unwrap_or_default().to_string(), u.path().to_string()));
    }
    match url.split_once(':') {
        Some((user_host, path)) if !user_host.is_empty() && !user_host.contains('/') => {
            Ok((user_host.rsplit_once('@').map_or(user_host, |(_, h)| h).to_string(), path.to_string()))
        }
        _ => Err("not a URL (https://host/owner/repo or git@host:owner/repo)".into()),
    }
}

/// The path's segments, without `.git` and empty segments. Each segment is
/// a name GitHub and GitLab allow (letters, digits, `-`, `_`, `.`, not `.`
/// or `..`), so it can go into an API path as it is.
pub(crate) fn segments(repo_url: &str) -> Result<Vec<String>, String> {
    let text = repo_url.trim();
    let bad = |why: &str| format!("repository URL `{}`: {why}", super::http::quote(text.as_bytes(), &[]));
    let (_, path) = host_and_path(text).map_err(|e| bad(&e))?;
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let parts: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
    if parts.len() < 2 {
        return Err(bad("has no owner/repository path"));
    }
    if let Some(p) =
        parts.iter().find(|p| *p == "." || *p == ".." || !p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(bad(&format!("`{p}` is not a repository or owner name")));
    }
    Ok(parts)
}

/// A revision for an API path: a commit SHA, or a branch or tag name
/// without characters that would leave the path segment.
pub(super) fn revision(revision: &str) -> Result<String, String> {
    let r = revision.trim();
    if r.is_empty() {
        return Err("the template's revision (`revisionPath`) is empty".into());
    }
    if r.len() > 255 || r.contains("..") || !r.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')) {
        return Err(format!("the template's revision `{}` is not a commit SHA or ref name", super::http::quote(r.as_bytes(), &[])));
    }
    // A ref name's slashes are one path segment to the APIs.
    Ok(r.replace('/', "%2F"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_of_argo_cd_repository_urls() {
        for url in [
            "https://github.com/argoproj/argocd-example-apps",
            "https://github.com/argoproj/argocd-example-apps.git",
            "https://github.com/argoproj/argocd-example-apps/",
            "git@github.com:argoproj/argocd-example-apps.git",
            "ssh://git@github.com:22/argoproj/argocd-example-apps.git",
            "https://user@github.com/argoproj/argocd-example-apps.git",
        ] {
            assert_eq!(segments(url).unwrap(), ["argoproj", "argocd-example-apps"], "{url}");
        }
        assert_eq!(segments("https://gitlab.com/group/sub/project.git").unwrap(), ["group", "sub", "project"]);
    }

    #[test]
    fn urls_that_name_no_repository_or_leave_the_path_are_refused() {
        for url in [
            "",
            "not a url",
            "https://github.com/",
            "https://github.com/only-owner",
            "https://github.com/owner/re po",
            "https://github.com/owner/%2e%2e",
            "git@github.com:owner/..",
            "/local/path",
        ] {
            assert!(segments(url).is_err(), "{url}");
        }
        assert_eq!(revision("feature/x").unwrap(), "feature%2Fx");
        for r in ["", "a b", "../../x", "sha?x=1", "sha#x", "a\r\nb"] {
            assert!(revision(r).is_err(), "{r:?}");
        }
    }
}
