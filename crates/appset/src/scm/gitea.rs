//! Gitea's REST API (`/api/v1`) as Argo CD's Gitea SDK client calls it.

use reqwest::Url;
use serde::Deserialize;

use super::client::{Api, ScmError};
use super::{ApiLabel, ApiPull, CloneProtocol, Pull, Repo};

/// `api` with `/api/v1/` appended, as the Gitea SDK does.
pub(crate) fn base_url(api: &str) -> Result<Url, String> {
    let mut url = super::http_url(api)?;
    let path = format!("{}/api/v1/", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

/// One owner's (or one repository's) Gitea.
pub(crate) struct Gitea {
    pub(crate) api: Api,
}

#[derive(Deserialize)]
struct GtRepo {
    #[serde(default)]
    id: i64,
    name: String,
    #[serde(default)]
    default_branch: String,
    #[serde(default)]
    ssh_url: String,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    empty: bool,
}

#[derive(Deserialize)]
struct GtBranch {
    name: String,
    commit: GtCommit,
}

#[derive(Deserialize)]
struct GtCommit {
    id: String,
}

impl Gitea {
    /// The owner's repositories with their labels, each at its default
    /// branch (no SHA yet). Empty repositories (no commit) are left out:
    /// they have no branch to deploy.
    pub(crate) async fn repos(&self, owner: &str, clone: CloneProtocol) -> Result<Vec<Repo>, ScmError> {
        let list: Vec<GtRepo> = self.api.list(self.api.url(&["orgs", owner, "repos"], &[])).await?;
        let mut repos = Vec::new();
        for r in list.into_iter().filter(|r| !r.empty) {
            let labels: Vec<ApiLabel> = self.api.list(self.api.url(&["repos", owner, &r.name, "labels"], &[])).await?;
            repos.push(Repo {
                organization: owner.to_string(),
                repository: r.name,
                repository_id: r.id,
                // Argo CD's Gitea provider clones over https from the web URL.
                url: match clone {
                    CloneProtocol::Ssh => r.ssh_url,
                    CloneProtocol::Https => r.html_url,
                },
                branch: r.default_branch,
                sha: String::new(),
                labels: labels.into_iter().map(|l| l.name).collect(),
            });
        }
        Ok(repos)
    }

    /// `repo` at each of its branches (all, or only its default branch).
    pub(crate) async fn branches(&self, repo: &Repo, all: bool) -> Result<Vec<Repo>, ScmError> {
        let (o, r) = (repo.organization.as_str(), repo.repository.as_str());
        let branches: Vec<GtBranch> = if all {
            self.api.list(self.api.url(&["repos", o, r, "branches"], &[])).await?
        } else {
            vec![self.api.get(self.api.url(&["repos", o, r, "branches", &repo.branch], &[])).await?]
        };
        Ok(branches.into_iter().map(|b| Repo { branch: b.name, sha: b.commit.id, ..repo.clone() }).collect())
    }

    /// The open pull requests of `owner/repo` carrying every label of
    /// `labels` (Gitea's API does not filter by label: Argo CD filters here).
    pub(crate) async fn pulls(&self, owner: &str, repo: &str, labels: &[String]) -> Result<Vec<Pull>, ScmError> {
        let list: Vec<ApiPull> = self.api.list(self.api.url(&["repos", owner, repo, "pulls"], &[("state", "open")])).await?;
        Ok(list.into_iter().map(Pull::from).filter(|p| labels.iter().all(|l| p.labels.contains(l))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_get_api_v1_as_the_gitea_sdk_adds_it() {
        let b = |a: &str| base_url(a).unwrap().to_string();
        assert_eq!(b("https://gitea.example"), "https://gitea.example/api/v1/");
        assert_eq!(b("https://gitea.example/"), "https://gitea.example/api/v1/");
        assert_eq!(b("http://127.0.0.1:3000/sub/"), "http://127.0.0.1:3000/sub/api/v1/");
        assert!(base_url("").is_err());
        assert!(base_url("gitea.example").is_err());
    }
}
