//! GitLab (`service.gitlab`), driftless's own service (Argo CD's
//! notifications-engine has one of the same shape):
//!
//! ```yaml
//! service.gitlab: |
//!   token: $gitlab-token          # a project, group or personal access token (api scope)
//!   baseURL: https://gitlab.example  # default https://gitlab.com; /api/v4 is added when missing
//!   insecureSkipVerify: false
//! template.app-deployed: |
//!   message: Application {{.app.metadata.name}} is now running new version of deployments manifests.
//!   gitlab:
//!     repoURLPath: "{{.app.spec.source.repoURL}}"
//!     revisionPath: "{{.app.status.operationState.syncResult.revision}}"
//!     status:            # POST /projects/:id/statuses/:sha
//!       state: success   # pending, running, success, failed, canceled, skipped
//!       label: continuous-delivery/{{.app.metadata.name}}
//!       targetURL: "{{.context.argocdUrl}}/applications/{{.app.metadata.name}}"
//!       description: ""  # default the message (GitLab keeps 255 characters)
//!     deployment:        # POST /projects/:id/deployments
//!       state: success   # created, running, success, failed, canceled
//!       environment: production
//!       reference: main  # default the revision
//!       tag: false
//!     mergeRequestComment:  # a note on every merge request of the commit
//!       content: Deployed {{.app.metadata.name}}
//! ```
//!
//! The project is the repository URL's whole path (groups and subgroups);
//! the token goes in `PRIVATE-TOKEN`, only to `baseURL`'s origin.

use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Config, Failure, ServiceError, http, lenient, one_of, repo_url, required_section, truncate};
use crate::Notification;

const GITLAB: &str = "https://gitlab.com/";
/// GitLab's limit on a commit status's description.
const MAX_DESCRIPTION: usize = 255;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Settings {
    #[serde(default)]
    token: String,
    #[serde(default, rename = "baseURL")]
    base_url: String,
    #[serde(default, deserialize_with = "lenient::bool")]
    insecure_skip_verify: bool,
}

/// The `gitlab` section of a template.
pub(super) type Section = repo_url::Section<Actions>;

/// What the section asks for besides a commit status.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Actions {
    deployment: Option<Deployment>,
    merge_request_comment: Option<Comment>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
struct Deployment {
    state: String,
    environment: String,
    reference: String,
    #[serde(deserialize_with = "lenient::bool")]
    tag: bool,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
struct Comment {
    content: String,
}

pub(super) struct GitLab {
    /// `{baseURL}/api/v4/`.
    api: Url,
    token: String,
    client: reqwest::Client,
}

impl GitLab {
    pub(super) fn parse(at: &Config) -> Result<GitLab, ServiceError> {
        let s: Settings = at.typed(&[])?;
        if s.token.trim().is_empty() {
            return Err(at.invalid("token", "is required (an access token with the api scope)"));
        }
        let mut api =
            http::parse_url(if s.base_url.trim().is_empty() { GITLAB } else { &s.base_url }).map_err(|e| at.invalid("baseURL", &e))?;
        let mut path = api.path().trim_end_matches('/').to_string();
        if !path.ends_with("/api/v4") {
            path.push_str("/api/v4");
        }
        api.set_path(&format!("{path}/"));
        api.set_query(None);
        let client = http::client(s.insecure_skip_verify).map_err(|e| at.invalid("", &e))?;
        Ok(GitLab { api, token: s.token.trim().to_string(), client })
    }

    pub(super) async fn send(&self, n: &Notification) -> Result<(), Failure> {
        let section: Section = required_section(n, "gitlab")?;
        let (parts, sha) = section.commit.target()?;
        let project = format!("projects/{}", parts.join("%2F"));
        if let Some(status) = &section.commit.status {
            let state = one_of(&status.state, "gitlab.status.state", &["pending", "running", "success", "failed", "canceled", "skipped"])?;
            let description = if status.description.is_empty() { &n.message } else { &status.description };
            let mut body = json!({ "state": state, "description": truncate(description, MAX_DESCRIPTION) });
            if !status.label.is_empty() {
                body["name"] = json!(status.label);
            }
            if !status.target_url.is_empty() {
                body["target_url"] = json!(status.target_url);
            }
            self.call(Method::POST, &format!("{project}/statuses/{sha}"), Some(body)).await?;
        }
        if let Some(d) = &section.rest.deployment {
            let state = one_of(&d.state, "gitlab.deployment.state", &["created", "running", "success", "failed", "canceled"])?;
            let reference = if d.reference.is_empty() { sha.replace("%2F", "/") } else { d.reference.clone() };
            let body =
                json!({ "environment": d.environment, "ref": reference, "sha": sha.replace("%2F", "/"), "tag": d.tag, "status": state });
            self.call(Method::POST, &format!("{project}/deployments"), Some(body)).await?;
        }
        if let Some(c) = &section.rest.merge_request_comment {
            let requests = self.call(Method::GET, &format!("{project}/repository/commits/{sha}/merge_requests"), None).await?;
            for iid in requests.as_array().into_iter().flatten().filter_map(|r| r.get("iid").and_then(Value::as_u64)) {
                self.call(Method::POST, &format!("{project}/merge_requests/{iid}/notes"), Some(json!({ "body": c.content }))).await?;
            }
        }
        Ok(())
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, Failure> {
        let url = self.api.join(path).map_err(|e| Failure::permanent(format!("API URL: {e}")))?;
        let label = format!("{method} {}{}", http::origin(&url), url.path());
        let mut request = self.client.request(method, url).header("PRIVATE-TOKEN", &self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        http::json(request, &label, &[&self.token]).await
    }
}
