//! GitHub's REST API (github.com or GitHub Enterprise) as Argo CD's
//! go-github client calls it.

use reqwest::Url;
use serde::Deserialize;

use super::client::{Api, ScmError};
use super::{ApiPull, CloneProtocol, Pull, Repo};

/// `api` as go-github's `WithEnterpriseURLs` takes it: a trailing `/`, and
/// `api/v3/` appended unless the path ends with it or the host is an `api.`
/// host. None: `https://api.github.com/`.
pub(crate) fn base_url(api: Option<&str>) -> Result<Url, String> {
    let Some(api) = api.filter(|a| !a.is_empty()) else {
        return Ok(Url::parse("https://api.github.com/").expect("a URL"));
    };
    let mut url = super::http_url(api)?;
    let host = url.host_str().unwrap_or_default().to_string();
    let mut path = url.path().to_string();
    if !path.ends_with('/') {
        path.push('/');
    }
    if !path.ends_with("/api/v3/") && !host.starts_with("api.") && !host.contains(".api.") {
        path.push_str("api/v3/");
    }
    url.set_path(&path);
    Ok(url)
}

/// One organization's (or one repository's) GitHub.
pub(crate) struct GitHub {
    pub(crate) api: Api,
}

#[derive(Deserialize)]
struct GhRepo {
    #[serde(default)]
    id: i64,
    name: String,
    owner: GhUser,
    #[serde(default)]
    default_branch: String,
    #[serde(default)]
    ssh_url: String,
    #[serde(default)]
    clone_url: String,
    #[serde(default)]
    topics: Vec<String>,
}

#[derive(Deserialize)]
struct GhUser {
    login: String,
}

#[derive(Deserialize)]
struct GhBranch {
    name: String,
    commit: GhCommit,
}

#[derive(Deserialize)]
struct GhCommit {
    sha: String,
}

impl GitHub {
    /// The organization's repositories, each at its default branch (no SHA yet).
    pub(crate) async fn repos(&self, org: &str, clone: CloneProtocol) -> Result<Vec<Repo>, ScmError> {
        let list: Vec<GhRepo> = self.api.list(self.api.url(&["orgs", org, "repos"], &[])).await?;
        Ok(list
            .into_iter()
            .map(|r| Repo {
                organization: r.owner.login,
                repository: r.name,
                repository_id: r.id,
                url: match clone {
                    CloneProtocol::Ssh => r.ssh_url,
                    CloneProtocol::Https => r.clone_url,
                },
                branch: r.default_branch,
                sha: String::new(),
                labels: r.topics,
            })
            .collect())
    }

    /// `repo` at each of its branches (all, or only its default branch; a
    /// repository without one, an empty repository, has none).
    pub(crate) async fn branches(&self, repo: &Repo, all: bool) -> Result<Vec<Repo>, ScmError> {
        let (o, r) = (repo.organization.as_str(), repo.repository.as_str());
        let branches: Vec<GhBranch> = if all {
            self.api.list(self.api.url(&["repos", o, r, "branches"], &[])).await?
        } else if repo.branch.is_empty() {
            Vec::new()
        } else {
            match self.api.get(self.api.url(&["repos", o, r, "branches", &repo.branch], &[])).await {
                Ok(b) => vec![b],
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(e),
            }
        };
        Ok(branches.into_iter().map(|b| Repo { branch: b.name, sha: b.commit.sha, ..repo.clone() }).collect())
    }

    /// The open pull requests of `owner/repo` carrying every label of `labels`.
    pub(crate) async fn pulls(&self, owner: &str, repo: &str, labels: &[String]) -> Result<Vec<Pull>, ScmError> {
        let list: Vec<ApiPull> = self.api.list(self.api.url(&["repos", owner, repo, "pulls"], &[])).await?;
        Ok(list.into_iter().map(Pull::from).filter(|p| labels.iter().all(|l| p.labels.contains(l))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enterprise_urls_get_api_v3_as_go_github_adds_it() {
        let b = |a: Option<&str>| base_url(a).unwrap().to_string();
        assert_eq!(b(None), "https://api.github.com/");
        assert_eq!(b(Some("")), "https://api.github.com/");
        assert_eq!(b(Some("https://git.example.com")), "https://git.example.com/api/v3/");
        assert_eq!(b(Some("https://git.example.com/")), "https://git.example.com/api/v3/");
        assert_eq!(b(Some("https://git.example.com/api/v3")), "https://git.example.com/api/v3/");
        assert_eq!(b(Some("https://api.github.com")), "https://api.github.com/");
        assert_eq!(b(Some("http://127.0.0.1:8080/gh")), "http://127.0.0.1:8080/gh/api/v3/");
        assert!(base_url(Some("ftp://x")).is_err());
        assert!(base_url(Some("not a url")).is_err());
    }
}
