//! GitHub (`service.github`): commit statuses, deployments and pull request
//! comments, as notifications-engine sends them, authenticated as a GitHub
//! App installation (`appID`, `installationID`, `privateKey`) or (driftless)
//! with a token (`token`). `enterpriseBaseURL` names a GitHub Enterprise
//! server (`https://ghe.example/api/v3`; `/api/v3` is added when missing,
//! as go-github does). The token is sent only to that API's origin.

use std::sync::Arc;

use driftless_source::AppTokens;
use driftless_source::repo_creds::GitHubApp;
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Config, Failure, ServiceError, http, lenient, one_of, repo_url, required_section, truncate};
use crate::Notification;

const GITHUB_API: &str = "https://api.github.com";
/// GitHub's limit on a status's and a deployment status's description.
const MAX_DESCRIPTION: usize = 140;
/// GitHub's limit on a comment.
const MAX_COMMENT: usize = 65536;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Settings {
    #[serde(default, rename = "appID", deserialize_with = "opt_u64")]
    app_id: Option<u64>,
    #[serde(default, rename = "installationID", deserialize_with = "opt_u64")]
    installation_id: Option<u64>,
    #[serde(default)]
    private_key: String,
    #[serde(default, rename = "enterpriseBaseURL")]
    enterprise_base_url: String,
    #[serde(default)]
    token: String,
    #[serde(default, deserialize_with = "lenient::bool")]
    insecure_skip_verify: bool,
}

fn opt_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    lenient::u64(d).map(Some)
}

/// The `github` section of a template.
pub(super) type Section = repo_url::Section<Actions>;

/// What the section asks for besides a commit status.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Actions {
    deployment: Option<Deployment>,
    pull_request_comment: Option<Comment>,
    check_run: Option<Value>,
    repository_dispatch: Option<Value>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
struct Deployment {
    state: String,
    environment: String,
    #[serde(rename = "environmentURL")]
    environment_url: String,
    #[serde(rename = "logURL")]
    log_url: String,
    required_contexts: Option<Vec<String>>,
    #[serde(deserialize_with = "lenient::opt_bool")]
    auto_merge: Option<bool>,
    #[serde(deserialize_with = "lenient::opt_bool")]
    transient_environment: Option<bool>,
    reference: String,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
struct Comment {
    content: String,
    comment_tag: String,
}

enum Auth {
    Token(String),
    App(GitHubApp, Arc<AppTokens>),
}

pub(super) struct GitHub {
    api: Url,
    auth: Auth,
    client: reqwest::Client,
}

/// A call's target: the repository's API path and the credential.
struct Call<'a> {
    service: &'a GitHub,
    repo: String,
    token: String,
}

impl GitHub {
    pub(super) fn parse(at: &Config) -> Result<GitHub, ServiceError> {
        let s: Settings = at.typed(&[])?;
        let api = api_base(&s.enterprise_base_url).map_err(|e| at.invalid("enterpriseBaseURL", &e))?;
        let token = s.token.trim();
        let auth = match (token.is_empty(), s.app_id, s.installation_id, s.private_key.trim().is_empty()) {
            (false, None, None, true) => Auth::Token(token.to_string()),
            (true, Some(app_id), Some(installation_id), false) => {
                if !s.private_key.contains("-----BEGIN") || !s.private_key.contains("PRIVATE KEY-----") {
                    return Err(at.invalid("privateKey", "not a PEM private key (`-----BEGIN RSA PRIVATE KEY-----`)"));
                }
                let app = GitHubApp {
                    app_id,
                    installation_id,
                    private_key: s.private_key.clone(),
                    enterprise_base_url: Some(api.as_str().trim_end_matches('/').to_string()),
                };
                Auth::App(app, Arc::default())
            }
            (false, ..) => {
                return Err(at.invalid("token", "set either `token` or the app (`appID`, `installationID`, `privateKey`), not both"));
            }
            _ => return Err(at.invalid("", "needs `appID`, `installationID` and `privateKey` (a GitHub App), or `token`")),
        };
        let client = http::client(s.insecure_skip_verify).map_err(|e| at.invalid("", &e))?;
        Ok(GitHub { api, auth, client })
    }

    pub(super) async fn send(&self, n: &Notification) -> Result<(), Failure> {
        let section: Section = required_section(n, "github")?;
        if section.rest.check_run.is_some() || section.rest.repository_dispatch.is_some() {
            return Err(Failure::permanent("the template's `github.checkRun` and `github.repositoryDispatch` are not supported"));
        }
        let (parts, sha) = section.commit.target()?;
        let token = match &self.auth {
            Auth::Token(t) => t.clone(),
            // The key is checked at parse; what fails here is the network or
            // GitHub's answer, which a retry may get past.
            Auth::App(app, tokens) => {
                tokens.token(app, None).await.map_err(|e| Failure::Transient(format!("GitHub App token: {e}"), None))?
            }
        };
        let call = Call { service: self, repo: format!("repos/{}/{}", parts[0], parts[1]), token };
        let description = truncate(&n.message, MAX_DESCRIPTION);
        if let Some(status) = &section.commit.status {
            let state = one_of(&status.state, "github.status.state", &["error", "failure", "pending", "success"])?;
            let description =
                if status.description.is_empty() { description.clone() } else { truncate(&status.description, MAX_DESCRIPTION) };
            let body = json!({ "state": state, "context": status.label, "target_url": status.target_url, "description": description });
            call.json(Method::POST, &format!("statuses/{sha}"), Some(body)).await.map_err(|f| match f {
                Failure::Permanent(r) if r.contains("HTTP 422") => {
                    Failure::permanent(format!("{r} (GitHub keeps at most 1000 statuses per commit and context)"))
                }
                f => f,
            })?;
        }
        if let Some(d) = &section.rest.deployment {
            call.deploy(d, &sha, &description).await?;
        }
        if let Some(c) = &section.rest.pull_request_comment {
            call.comment(c, &sha).await?;
        }
        Ok(())
    }
}

impl Call<'_> {
    /// `method` on `{api}/repos/{owner}/{repo}/{path}`, the answer as JSON.
    async fn json(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, Failure> {
        let url = self.service.api.join(&format!("{}/{path}", self.repo)).map_err(|e| Failure::permanent(format!("API URL: {e}")))?;
        let label = format!("{method} {}{}", http::origin(&url), url.path());
        let mut request = self
            .service
            .client
            .request(method, url)
            .bearer_auth(&self.token)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        if let Some(body) = body {
            request = request.json(&body);
        }
        http::json(request, &label, &[&self.token]).await
    }

    /// The commit's deployment to the environment (the first listed, else a
    /// new one), then a status of it.
    async fn deploy(&self, d: &Deployment, sha: &str, description: &str) -> Result<(), Failure> {
        let query = |v: &str| percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string();
        let listed = self.json(Method::GET, &format!("deployments?ref={}&environment={}", query(sha), query(&d.environment)), None).await?;
        let existing = listed.as_array().and_then(|l| l.first()).and_then(|d| d.get("id")).and_then(Value::as_u64);
        let id = match existing {
            Some(id) => id,
            None => {
                let reference = if d.reference.is_empty() { sha.replace("%2F", "/") } else { d.reference.clone() };
                let mut body = json!({
                    "ref": reference,
                    "environment": d.environment,
                    "auto_merge": d.auto_merge.unwrap_or(true),
                    "transient_environment": d.transient_environment.unwrap_or(false),
                    "description": description,
                });
                if let Some(contexts) = &d.required_contexts {
                    body["required_contexts"] = json!(contexts);
                }
                let created = self.json(Method::POST, "deployments", Some(body)).await?;
                created
                    .get("id")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| Failure::permanent("GitHub created a deployment but answered no `id`"))?
            }
        };
        let body = json!({
            "state": d.state,
            "log_url": d.log_url,
            "description": description,
            "environment": d.environment,
            "environment_url": d.environment_url,
        });
        self.json(Method::POST, &format!("deployments/{id}/statuses"), Some(body)).await.map(drop)
    }

    /// A comment on every pull request of the commit; with a `commentTag`,
    /// the pull request's comment of that tag is edited instead when there
    /// is one.
    async fn comment(&self, c: &Comment, sha: &str) -> Result<(), Failure> {
        let tag = (!c.comment_tag.is_empty()).then(|| format!("<!-- argocd-notifications {} -->", c.comment_tag));
        let content = truncate(&c.content, MAX_COMMENT);
        let body = match &tag {
            Some(tag) => format!("{content}\n{tag}"),
            None => content,
        };
        let pulls = self.json(Method::GET, &format!("commits/{sha}/pulls"), None).await?;
        for number in pulls.as_array().into_iter().flatten().filter_map(|p| p.get("number").and_then(Value::as_u64)) {
            let previous = match &tag {
                None => None,
                Some(tag) => {
                    let comments = self.json(Method::GET, &format!("issues/{number}/comments?per_page=100"), None).await?;
                    comments
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|c| c.get("body").and_then(Value::as_str).is_some_and(|b| b.contains(tag.as_str())))
                        .and_then(|c| c.get("id").and_then(Value::as_u64))
                }
            };
            match previous {
                Some(id) => self.json(Method::PATCH, &format!("issues/comments/{id}"), Some(json!({ "body": body }))).await?,
                None => self.json(Method::POST, &format!("issues/{number}/comments"), Some(json!({ "body": body }))).await?,
            };
        }
        Ok(())
    }
}

/// The API's base, ending in `/`: api.github.com, or an Enterprise
/// server's `/api/v3/`.
fn api_base(enterprise: &str) -> Result<Url, String> {
    let enterprise = enterprise.trim();
    if enterprise.is_empty() {
        return Ok(Url::parse(&format!("{GITHUB_API}/")).expect("GitHub's API URL"));
    }
    let mut url = http::parse_url(enterprise)?;
    let mut path = url.path().trim_end_matches('/').to_string();
    let host = url.host_str().unwrap_or_default();
    if !path.ends_with("/api/v3") && !host.starts_with("api.") && !host.contains(".api.") {
        path.push_str("/api/v3");
    }
    url.set_path(&format!("{path}/"));
    url.set_query(None);
    Ok(url)
}
