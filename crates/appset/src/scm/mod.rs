//! The `scmProvider` and `pullRequest` generators, for GitHub and Gitea:
//! repositories (and branches) of an organization, and the open pull
//! requests of a repository, as parameters with Argo CD's names and values.
//!
//! The core is pure (filters, slugs, parameters); [`client`] does the HTTP,
//! [`github`] and [`gitea`] know each API's paths and shapes.

mod client;
mod gitea;
mod github;

use driftless_api::{PullRequestFilter, PullRequestGenerator, ScmProviderFilter, ScmProviderGenerator, SecretRef};
use regex::Regex;
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

use crate::{GeneratorError, Params, Sources};
use client::{Api, Paging};
pub use client::{MAX_ENTRIES, ScmError};

/// The `scmProvider` generator: one parameter set per repository branch of
/// the organization that passes the filters.
pub async fn scm_provider(
    generator: &ScmProviderGenerator,
    go_template: bool,
    sources: &impl Sources,
) -> Result<Vec<Params>, GeneratorError> {
    // Argo CD gives both template kinds the same SCM parameters (labels as
    // a comma-joined string in both).
    let _ = go_template;
    for (set, field) in [
        (generator.gitlab.is_some(), "gitlab"),
        (generator.bitbucket.is_some(), "bitbucket"),
        (generator.bitbucket_server.is_some(), "bitbucketServer"),
        (generator.azure_dev_ops.is_some(), "azureDevOps"),
        (generator.aws_code_commit.is_some(), "awsCodeCommit"),
    ] {
        if set && generator.github.is_none() && generator.gitea.is_none() {
            return Err(unsupported(&format!("scmProvider.{field}")));
        }
    }
    let clone = match generator.clone_protocol.as_deref().unwrap_or("") {
        "" | "ssh" => CloneProtocol::Ssh,
        "https" => CloneProtocol::Https,
        other => return Err(GeneratorError::Invalid(format!("scmProvider.cloneProtocol: {other:?} is not a protocol (ssh or https)"))),
    };
    let filters = generator.filters.iter().enumerate().map(|(i, f)| ScmFilter::compile(i, f)).collect::<Result<Vec<_>, _>>()?;
    // Names first: a bad spec costs no Secret read and no request.
    let (field, org) = match (&generator.github, &generator.gitea) {
        (Some(gh), _) => ("scmProvider.github", &gh.organization),
        (None, Some(gt)) => ("scmProvider.gitea", &gt.owner),
        (None, None) => return Err(GeneratorError::Invalid("scmProvider: no provider is set (driftless reads github and gitea)".into())),
    };
    check_name(&format!("{field}.{}", if generator.github.is_some() { "organization" } else { "owner" }), org)?;
    let (provider, all) = match (&generator.github, &generator.gitea) {
        (Some(gh), _) => {
            let api = github_api(field, gh.api.as_deref(), gh.token_ref.as_ref(), gh.app_secret_name.as_deref(), sources).await?;
            (Provider::GitHub(github::GitHub { api }), gh.all_branches)
        }
        (None, Some(gt)) => {
            let c = &gt.connection;
            let api = gitea_api(field, c.api.as_deref(), c.token_ref.as_ref(), c.insecure, sources).await?;
            (Provider::Gitea(gitea::Gitea { api }), c.all_branches)
        }
        (None, None) => unreachable!("checked above"),
    };
    let source = |e: ScmError| GeneratorError::Source(format!("{field}: {e}"));
    let repos = provider.repos(org, clone).await.map_err(source)?;
    let repos = list_branches(&provider, repos, all, &filters).await.map_err(source)?;
    Ok(repos.iter().map(scm_params).collect())
}

/// The `pullRequest` generator: one parameter set per open pull request
/// that passes the filters.
pub async fn pull_requests(
    generator: &PullRequestGenerator,
    go_template: bool,
    sources: &impl Sources,
) -> Result<Vec<Params>, GeneratorError> {
    for (set, field) in [
        (generator.gitlab.is_some(), "gitlab"),
        (generator.bitbucket_server.is_some(), "bitbucketServer"),
        (generator.bitbucket.is_some(), "bitbucket"),
        (generator.azure_devops.is_some(), "azuredevops"),
    ] {
        if set && generator.github.is_none() && generator.gitea.is_none() {
            return Err(unsupported(&format!("pullRequest.{field}")));
        }
    }
    let filters = generator.filters.iter().enumerate().map(|(i, f)| PullFilter::compile(i, f)).collect::<Result<Vec<_>, _>>()?;
    let (field, listed) = if let Some(gh) = &generator.github {
        let field = "pullRequest.github";
        check_repo(field, &gh.owner, &gh.repo)?;
        let api = github_api(field, gh.api.as_deref(), gh.token_ref.as_ref(), gh.app_secret_name.as_deref(), sources).await?;
        (field, github::GitHub { api }.pulls(&gh.owner, &gh.repo, &gh.labels).await)
    } else if let Some(gt) = &generator.gitea {
        let field = "pullRequest.gitea";
        check_repo(field, &gt.owner, &gt.repo)?;
        let api = gitea_api(field, Some(&gt.api), gt.token_ref.as_ref(), gt.insecure, sources).await?;
        (field, gitea::Gitea { api }.pulls(&gt.owner, &gt.repo, &gt.labels).await)
    } else {
        return Err(GeneratorError::Invalid("pullRequest: no provider is set (driftless reads github and gitea)".into()));
    };
    let pulls = match listed {
        Ok(p) => p,
        Err(e) if e.is_not_found() && generator.continue_on_repo_not_found_error => {
            tracing::warn!(generator = field, error = %e, "the repository does not exist; no pull requests (continueOnRepoNotFoundError)");
            Vec::new()
        }
        Err(e) => return Err(GeneratorError::Source(format!("{field}: {e}"))),
    };
    Ok(pulls.iter().filter(|p| filters.is_empty() || filters.iter().any(|f| f.matches(p))).map(|p| pull_params(p, go_template)).collect())
}

/// The error for a generator kind driftless does not read yet (`field`
/// names it, e.g. `scmProvider.gitlab`, `plugin`).
pub fn unsupported(field: &str) -> GeneratorError {
    GeneratorError::Invalid(format!("{field} is not supported by driftless yet"))
}

/// Which URL a repository's `url` parameter is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloneProtocol {
    Ssh,
    Https,
}

/// A repository at one branch, as a provider lists it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Repo {
    organization: String,
    repository: String,
    repository_id: i64,
    url: String,
    branch: String,
    sha: String,
    labels: Vec<String>,
}

/// An open pull request.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Pull {
    number: i64,
    title: String,
    branch: String,
    target_branch: String,
    head_sha: String,
    author: String,
    labels: Vec<String>,
}

/// A pull request as GitHub's and Gitea's APIs both give it.
#[derive(Deserialize)]
pub(crate) struct ApiPull {
    number: i64,
    #[serde(default)]
    title: String,
    head: ApiRef,
    base: ApiRef,
    user: ApiUser,
    #[serde(default)]
    labels: Vec<ApiLabel>,
}

#[derive(Deserialize)]
struct ApiRef {
    #[serde(rename = "ref")]
    ref_: String,
    #[serde(default)]
    sha: String,
}

#[derive(Deserialize)]
pub(crate) struct ApiUser {
    login: String,
}

/// A label (GitHub's pull request labels, Gitea's repository and pull
/// request labels).
#[derive(Deserialize)]
pub(crate) struct ApiLabel {
    name: String,
}

impl From<ApiPull> for Pull {
    fn from(p: ApiPull) -> Pull {
        Pull {
            number: p.number,
            title: p.title,
            branch: p.head.ref_,
            target_branch: p.base.ref_,
            head_sha: p.head.sha,
            author: p.user.login,
            labels: p.labels.into_iter().map(|l| l.name).collect(),
        }
    }
}

enum Provider {
    GitHub(github::GitHub),
    Gitea(gitea::Gitea),
}

impl Provider {
    fn api(&self) -> &Api {
        match self {
            Provider::GitHub(g) => &g.api,
            Provider::Gitea(g) => &g.api,
        }
    }

    async fn repos(&self, org: &str, clone: CloneProtocol) -> Result<Vec<Repo>, ScmError> {
        match self {
            Provider::GitHub(g) => g.repos(org, clone).await,
            Provider::Gitea(g) => g.repos(org, clone).await,
        }
    }

    async fn branches(&self, repo: &Repo, all: bool) -> Result<Vec<Repo>, ScmError> {
        match self {
            Provider::GitHub(g) => g.branches(repo, all).await,
            Provider::Gitea(g) => g.branches(repo, all).await,
        }
    }

    /// Whether `path` (a file or directory) exists in `repo` at its branch:
    /// both APIs answer `repos/{owner}/{repo}/contents/{path}?ref=` with 404
    /// when it does not.
    async fn has_path(&self, repo: &Repo, path: &str) -> Result<bool, ScmError> {
        let api = self.api();
        let mut segments = vec!["repos", repo.organization.as_str(), repo.repository.as_str(), "contents"];
        segments.extend(path.split('/').filter(|s| !s.is_empty()));
        api.exists(api.url(&segments, &[("ref", &repo.branch)])).await
    }
}

/// The repository branches that pass the filters: those of an entry all
/// hold, any entry will do, and no entry at all keeps everything (Argo CD's
/// documented rule). Repository conditions are checked before branches are
/// listed, so a repository no entry wants costs no further request. (Argo
/// CD's code checks a branch against the branch conditions of every entry,
/// also of entries whose repository conditions failed, which drops e.g.
/// `lib-x` from `[{repositoryMatch: ^lib-}, {repositoryMatch: ^svc-,
/// pathsExist: [deploy]}]`; driftless keeps it, as documented.)
async fn list_branches(provider: &Provider, repos: Vec<Repo>, all: bool, filters: &[ScmFilter]) -> Result<Vec<Repo>, ScmError> {
    let mut out = Vec::new();
    for repo in &repos {
        let wanted: Vec<&ScmFilter> = filters.iter().filter(|f| f.matches_repo(repo)).collect();
        if !filters.is_empty() && wanted.is_empty() {
            continue;
        }
        if check_name("", &repo.repository).is_err() {
            return Err(provider.api().malformed_listing(format!("it lists a repository named {:?}", repo.repository)));
        }
        for branch in provider.branches(repo, all).await? {
            let mut keep = filters.is_empty();
            for f in &wanted {
                if f.matches_branch(provider, &branch).await? {
                    keep = true;
                    break;
                }
            }
            if keep {
                out.push(branch);
            }
        }
        if out.len() > MAX_ENTRIES {
            return Err(provider.api().too_many());
        }
    }
    Ok(out)
}

/// One entry of `scmProvider.filters`, its regular expressions compiled.
#[derive(Debug)]
struct ScmFilter {
    repository: Option<Regex>,
    label: Option<Regex>,
    branch: Option<Regex>,
    paths_exist: Vec<String>,
    paths_do_not_exist: Vec<String>,
}

impl ScmFilter {
    fn compile(i: usize, f: &ScmProviderFilter) -> Result<ScmFilter, GeneratorError> {
        let field = |name: &str| format!("scmProvider.filters[{i}].{name}");
        let paths =
            |name: &str, ps: &[String]| -> Result<Vec<String>, GeneratorError> { ps.iter().map(|p| repo_path(&field(name), p)).collect() };
        Ok(ScmFilter {
            repository: regex(&field("repositoryMatch"), f.repository_match.as_deref())?,
            label: regex(&field("labelMatch"), f.label_match.as_deref())?,
            branch: regex(&field("branchMatch"), f.branch_match.as_deref())?,
            paths_exist: paths("pathsExist", &f.paths_exist)?,
            paths_do_not_exist: paths("pathsDoNotExist", &f.paths_do_not_exist)?,
        })
    }

    /// The repository conditions (true without any): its name matches, and
    /// one of its labels.
    fn matches_repo(&self, repo: &Repo) -> bool {
        self.repository.as_ref().is_none_or(|r| r.is_match(&repo.repository))
            && self.label.as_ref().is_none_or(|r| repo.labels.iter().any(|l| r.is_match(l)))
    }

    /// The branch conditions (true without any, asking nothing): its name
    /// matches, every `pathsExist` exists and no `pathsDoNotExist` does.
    async fn matches_branch(&self, provider: &Provider, repo: &Repo) -> Result<bool, ScmError> {
        if self.branch.as_ref().is_some_and(|r| !r.is_match(&repo.branch)) {
            return Ok(false);
        }
        for p in &self.paths_exist {
            if !provider.has_path(repo, p).await? {
                return Ok(false);
            }
        }
        for p in &self.paths_do_not_exist {
            if provider.has_path(repo, p).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// One entry of `pullRequest.filters`.
#[derive(Debug)]
struct PullFilter {
    branch: Option<Regex>,
    target_branch: Option<Regex>,
    title: Option<Regex>,
}

impl PullFilter {
    fn compile(i: usize, f: &PullRequestFilter) -> Result<PullFilter, GeneratorError> {
        let field = |name: &str| format!("pullRequest.filters[{i}].{name}");
        Ok(PullFilter {
            branch: regex(&field("branchMatch"), f.branch_match.as_deref())?,
            target_branch: regex(&field("targetBranchMatch"), f.target_branch_match.as_deref())?,
            title: regex(&field("titleMatch"), f.title_match.as_deref())?,
        })
    }

    fn matches(&self, p: &Pull) -> bool {
        self.branch.as_ref().is_none_or(|r| r.is_match(&p.branch))
            && self.target_branch.as_ref().is_none_or(|r| r.is_match(&p.target_branch))
            && self.title.as_ref().is_none_or(|r| r.is_match(&p.title))
    }
}

fn regex(field: &str, pattern: Option<&str>) -> Result<Option<Regex>, GeneratorError> {
    pattern
        .map(|p| Regex::new(p).map_err(|e| GeneratorError::Invalid(format!("{field}: {p:?} is not a regular expression: {e}"))))
        .transpose()
}

/// A path of a filter, trailing `/` dropped as Argo CD does; `..` and
/// control characters are refused (the path becomes part of an API URL).
fn repo_path(field: &str, path: &str) -> Result<String, GeneratorError> {
    let p = path.trim_end_matches('/');
    if p.split('/').any(|s| s == ".." || s == ".") || p.chars().any(char::is_control) || p.trim_matches('/').is_empty() {
        return Err(GeneratorError::Invalid(format!("{field}: {path:?} is not a path in a repository")));
    }
    Ok(p.to_string())
}

/// An owner or repository name: it becomes one segment of an API URL.
fn check_name(field: &str, name: &str) -> Result<(), GeneratorError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.chars().any(char::is_control) {
        return Err(GeneratorError::Invalid(format!("{field}: {name:?} is not an owner or repository name")));
    }
    Ok(())
}

fn check_repo(field: &str, owner: &str, repo: &str) -> Result<(), GeneratorError> {
    check_name(&format!("{field}.owner"), owner)?;
    check_name(&format!("{field}.repo"), repo)
}

/// An absolute http(s) URL from a generator's `api`.
fn http_url(api: &str) -> Result<Url, String> {
    let url = Url::parse(api).map_err(|e| format!("api: {api:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("api: {api:?} is not an http(s) URL"));
    }
    Ok(url)
}

/// The API of a `github` block: a token from `tokenRef`, or an
/// installation token of the GitHub App in `appSecretName`, or none
/// (public repositories).
async fn github_api(
    field: &str,
    api: Option<&str>,
    token_ref: Option<&SecretRef>,
    app_secret: Option<&str>,
    sources: &impl Sources,
) -> Result<Api, GeneratorError> {
    let invalid = |e: String| GeneratorError::Invalid(format!("{field}.{e}"));
    let base = github::base_url(api).map_err(invalid)?;
    let token = match app_secret.filter(|s| !s.is_empty()) {
        Some(name) => Some(app_token(field, name, &base, sources).await?),
        None => secret_token(field, token_ref, sources).await?,
    };
    Api::new("GitHub", base, token, "Bearer", Paging::Link, "application/vnd.github+json", false).map_err(invalid)
}

/// The API of a `gitea` block (`api` is required).
async fn gitea_api(
    field: &str,
    api: Option<&str>,
    token_ref: Option<&SecretRef>,
    insecure: bool,
    sources: &impl Sources,
) -> Result<Api, GeneratorError> {
    let invalid = |e: String| GeneratorError::Invalid(format!("{field}.{e}"));
    let api = api.filter(|a| !a.is_empty()).ok_or_else(|| invalid("api: is required for Gitea".into()))?;
    let base = gitea::base_url(api).map_err(invalid)?;
    let token = secret_token(field, token_ref, sources).await?;
    Api::new("Gitea", base, token, "token", Paging::Page, "application/json", insecure).map_err(invalid)
}

/// The token `tokenRef` names (None without one). Whitespace around it is
/// dropped: a Secret written with `echo` ends with a newline.
async fn secret_token(field: &str, token_ref: Option<&SecretRef>, sources: &impl Sources) -> Result<Option<String>, GeneratorError> {
    let Some(r) = token_ref else { return Ok(None) };
    let token = sources
        .secret(&r.secret_name, &r.key)
        .await
        .map_err(|e| GeneratorError::Source(format!("{field}.tokenRef: Secret {:?} key {:?}: {e}", r.secret_name, r.key)))?;
    Ok(Some(token.trim().to_string()))
}

/// An installation token of the GitHub App whose Secret `name` holds
/// `githubAppID`, `githubAppInstallationID` and `githubAppPrivateKey`
/// (Argo CD's repository-credential keys), minted at the generator's API.
async fn app_token(field: &str, name: &str, base: &Url, sources: &impl Sources) -> Result<String, GeneratorError> {
    let read = async |key: &str| {
        sources
            .secret(name, key)
            .await
            .map_err(|e| GeneratorError::Source(format!("{field}.appSecretName: Secret {name:?} key {key}: {e}")))
    };
    let number = |key: &str, v: String| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| GeneratorError::Invalid(format!("{field}.appSecretName: Secret {name:?} key {key} is not a number")))
    };
    let app = driftless_source::repo_creds::GitHubApp {
        app_id: number("githubAppID", read("githubAppID").await?)?,
        installation_id: number("githubAppInstallationID", read("githubAppInstallationID").await?)?,
        private_key: read("githubAppPrivateKey").await?,
        enterprise_base_url: Some(base.as_str().trim_end_matches('/').to_string()),
    };
    sources.app_tokens().token(&app, None).await.map_err(|e| GeneratorError::Source(format!("{field}.appSecretName: {e}")))
}

/// The parameters of one repository branch (Argo CD's names).
fn scm_params(r: &Repo) -> Params {
    let mut p = Params::new();
    let s = |v: &str| Value::String(v.to_string());
    p.insert("organization".into(), s(&r.organization));
    p.insert("repository".into(), s(&r.repository));
    p.insert("repository_id".into(), Value::from(r.repository_id));
    p.insert("url".into(), s(&r.url));
    p.insert("branch".into(), s(&r.branch));
    p.insert("branchNormalized".into(), s(&crate::params::normalize(&r.branch)));
    p.insert("sha".into(), s(&r.sha));
    p.insert("short_sha".into(), s(&prefix(&r.sha, 8)));
    p.insert("short_sha_7".into(), s(&prefix(&r.sha, 7)));
    p.insert("labels".into(), s(&r.labels.join(",")));
    p
}

/// The parameters of one pull request (Argo CD's names); `labels`, a list,
/// only for Go templates as in Argo CD.
fn pull_params(pr: &Pull, go_template: bool) -> Params {
    let mut p = Params::new();
    let s = |v: &str| Value::String(v.to_string());
    p.insert("number".into(), s(&pr.number.to_string()));
    p.insert("title".into(), s(&pr.title));
    p.insert("branch".into(), s(&pr.branch));
    p.insert("branch_slug".into(), s(&slug(&pr.branch)));
    p.insert("target_branch".into(), s(&pr.target_branch));
    p.insert("target_branch_slug".into(), s(&slug(&pr.target_branch)));
    p.insert("head_sha".into(), s(&pr.head_sha));
    p.insert("head_short_sha".into(), s(&prefix(&pr.head_sha, 8)));
    p.insert("head_short_sha_7".into(), s(&prefix(&pr.head_sha, 7)));
    p.insert("author".into(), s(&pr.author));
    if go_template {
        p.insert("labels".into(), Value::from(pr.labels.clone()));
    }
    p
}

/// The first `n` characters (a SHA's short form).
fn prefix(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The most characters of a pull request branch's slug (Argo CD leaves 13
/// of a 63-character DNS label for a suffix).
const SLUG_MAX: usize = 50;

/// gosimple/slug's `Make` as Argo CD configures it (`_` → `-`, at most 50
/// characters, cut after a whole word): `branch_slug`.
pub fn slug(text: &str) -> String {
    let s = text.trim().replace('_', "-").replace('&', "and").replace('@', "at");
    let s = deunicode::deunicode_with_tofu(&s, "").to_lowercase();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    let out = out.trim_matches(['-', '_']);
    if out.len() <= SLUG_MAX {
        return out.to_string();
    }
    // Cut at the last `-` at or before the limit (the text is ASCII now).
    match out.as_bytes()[..=SLUG_MAX].iter().rposition(|b| *b == b'-') {
        Some(i) => out[..i].to_string(),
        None => out[..SLUG_MAX].to_string(),
    }
}

#[cfg(test)]
mod tests;
