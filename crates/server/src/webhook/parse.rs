//! Reading one webhook request: which provider sent it (by its headers),
//! whether its signature holds (when a secret is configured), and what was
//! pushed. Pure: no I/O, no panics on any input; the payloads are read into
//! typed structs whose every field is optional, and lists are capped.

use base64::Engine as _;
use http::HeaderMap;
use serde::Deserialize;

/// Who sent a webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// GitHub (`X-GitHub-Event`).
    GitHub,
    /// GitLab (`X-Gitlab-Event`).
    GitLab,
    /// Bitbucket Cloud (`X-Event-Key: repo:push`).
    BitbucketCloud,
    /// Bitbucket Server / Data Center (`X-Event-Key: repo:refs_changed`).
    BitbucketServer,
    /// Gitea (`X-Gitea-Event`).
    Gitea,
    /// Gogs (`X-Gogs-Event`).
    Gogs,
    /// Azure DevOps (`eventType: git.push`).
    AzureDevOps,
    /// A CNCF distribution registry's notifications.
    Registry,
    /// Harbor's `PUSH_ARTIFACT` webhook.
    Harbor,
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Provider::GitHub => "GitHub",
            Provider::GitLab => "GitLab",
            Provider::BitbucketCloud => "Bitbucket Cloud",
            Provider::BitbucketServer => "Bitbucket Server",
            Provider::Gitea => "Gitea",
            Provider::Gogs => "Gogs",
            Provider::AzureDevOps => "Azure DevOps",
            Provider::Registry => "registry",
            Provider::Harbor => "Harbor",
        })
    }
}

/// The secrets of `argocd-secret` that webhooks are checked with; `None`:
/// not configured, requests are taken unsigned.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    /// `webhook.github.secret`.
    pub github: Option<String>,
    /// `webhook.gitlab.secret`.
    pub gitlab: Option<String>,
    /// `webhook.bitbucket.uuid`.
    pub bitbucket_uuid: Option<String>,
    /// `webhook.bitbucketserver.secret`.
    pub bitbucket_server: Option<String>,
    /// `webhook.gogs.secret` (Gitea's too, as in Argo CD).
    pub gogs: Option<String>,
    /// `webhook.azuredevops.username`.
    pub azure_username: Option<String>,
    /// `webhook.azuredevops.password`.
    pub azure_password: Option<String>,
    /// `webhook.registry.secret` (driftless's): the `Authorization` header
    /// a registry or Harbor must send (the value, or `Bearer <value>`).
    pub registry: Option<String>,
}

impl Secrets {
    /// The secrets from `argocd-secret`'s keys, read with `value`; empty
    /// values count as not configured.
    pub fn from_keys(value: impl Fn(&str) -> Option<String>) -> Secrets {
        let get = |k: &str| value(k).filter(|v| !v.is_empty());
        Secrets {
            github: get("webhook.github.secret"),
            gitlab: get("webhook.gitlab.secret"),
            bitbucket_uuid: get("webhook.bitbucket.uuid"),
            bitbucket_server: get("webhook.bitbucketserver.secret"),
            gogs: get("webhook.gogs.secret"),
            azure_username: get("webhook.azuredevops.username"),
            azure_password: get("webhook.azuredevops.password"),
            registry: get("webhook.registry.secret"),
        }
    }
}

/// A push to a Git repository.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GitPush {
    /// Every URL the payload gives the repository (web, HTTPS, SSH).
    pub repo_urls: Vec<String>,
    /// The pushed refs, in full (`refs/heads/main`, `refs/tags/v1`).
    pub refs: Vec<String>,
    /// The repository's default branch, when the payload says.
    pub default_branch: Option<String>,
    /// The files the pushed commits touched, from the repository root;
    /// `None` when the payload does not (fully) say.
    pub changed: Option<Vec<String>>,
}

/// A pushed image or chart: `host/repository:tag`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChartPush {
    /// The registry, `host[:port]`.
    pub host: String,
    /// The repository within it (`charts/web`).
    pub repository: String,
    /// The pushed tag (a chart version).
    pub tag: String,
}

/// What a webhook asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Refresh the apps of a Git push.
    Git(GitPush),
    /// Refresh the apps of pushed charts or artifacts.
    Charts(Vec<ChartPush>),
    /// An event that changes nothing (a ping, an issue comment): why.
    Ignored(String),
}

/// Why a webhook is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No provider's headers, and a body no provider sends.
    #[error(
        "unknown webhook: no X-GitHub-Event, X-Gitlab-Event, X-Event-Key, X-Gitea-Event, X-Gogs-Event header, nor an Azure DevOps, registry or Harbor payload"
    )]
    Unknown,
    /// A secret is configured and the request does not carry its proof.
    #[error("{provider} webhook: missing {header}; webhook secrets are configured in argocd-secret")]
    MissingSignature {
        /// The sender.
        provider: Provider,
        /// The header the proof belongs in.
        header: &'static str,
    },
    /// The proof does not match the configured secret.
    #[error("{provider} webhook: {header} does not match the configured secret")]
    BadSignature {
        /// The sender.
        provider: Provider,
        /// The header at fault.
        header: &'static str,
    },
    /// The payload is not what the provider sends.
    #[error("{provider} webhook payload: {reason}")]
    Malformed {
        /// The sender.
        provider: Provider,
        /// What is wrong.
        reason: String,
    },
}

impl WebhookError {
    /// Whether the caller failed to prove it knows the secret.
    pub fn is_auth(&self) -> bool {
        matches!(self, WebhookError::MissingSignature { .. } | WebhookError::BadSignature { .. })
    }
}

/// At most this many refs, commits or events of one payload are read; a
/// payload listing more is cut there.
const MAX_ITEMS: usize = 1000;
/// At most this many changed files are compared with apps' paths; a push
/// touching more counts as touching everything.
const MAX_CHANGED_FILES: usize = 10_000;

/// The distribution registry's notification media type.
pub const REGISTRY_EVENTS: &str = "application/vnd.docker.distribution.events.v1+json";

/// Reads one webhook request: the provider, its proof against `secrets`,
/// and the event.
pub fn parse(headers: &HeaderMap, body: &[u8], secrets: &Secrets) -> Result<Event, WebhookError> {
    let provider = detect(headers, body)?;
    verify(provider, headers, body, secrets)?;
    read(provider, headers, body)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// The two fields that tell Azure DevOps' and Harbor's payloads apart (they
/// send no header of their own).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Sniff {
    #[serde(rename = "eventType")]
    event_type: Option<String>,
    #[serde(rename = "type")]
    type_: Option<String>,
    event_data: Option<serde::de::IgnoredAny>,
}

fn detect(headers: &HeaderMap, body: &[u8]) -> Result<Provider, WebhookError> {
    if header(headers, "x-vss-activityid").is_some() {
        return Ok(Provider::AzureDevOps);
    }
    // Gitea sends X-Gogs-Event and X-GitHub-Event as well: its own first.
    if header(headers, "x-gitea-event").is_some() {
        return Ok(Provider::Gitea);
    }
    if header(headers, "x-gogs-event").is_some() {
        return Ok(Provider::Gogs);
    }
    if header(headers, "x-github-event").is_some() {
        return Ok(Provider::GitHub);
    }
    if header(headers, "x-gitlab-event").is_some() {
        return Ok(Provider::GitLab);
    }
    if let Some(key) = header(headers, "x-event-key") {
        let cloud = key == "repo:push" || (header(headers, "x-hook-uuid").is_some() && !key.starts_with("repo:refs_changed"));
        return Ok(if cloud { Provider::BitbucketCloud } else { Provider::BitbucketServer });
    }
    if header(headers, "content-type").is_some_and(|c| c.starts_with("application/vnd.docker.distribution.events.")) {
        return Ok(Provider::Registry);
    }
    let sniff: Sniff = serde_json::from_slice(body).unwrap_or_default();
    if sniff.event_type.is_some_and(|t| t.starts_with("git.") || t.starts_with("ms.vss")) {
        return Ok(Provider::AzureDevOps);
    }
    if sniff.type_.is_some() && sniff.event_data.is_some() {
        return Ok(Provider::Harbor);
    }
    // A registry that sends `application/json`: its envelope says.
    if serde_json::from_slice::<RegistryEnvelope>(body).is_ok_and(|e| !e.events.is_empty()) {
        return Ok(Provider::Registry);
    }
    Err(WebhookError::Unknown)
}

/// Whether `a` and `b` are equal, in time that does not depend on where
/// they differ, nor on their lengths (both are hashed first).
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (ring::digest::digest(&ring::digest::SHA256, a), ring::digest::digest(&ring::digest::SHA256, b));
    a.as_ref().iter().zip(b.as_ref()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

/// HMAC-SHA256 of `body` with `secret` against a hex signature (after
/// `prefix`, e.g. `sha256=`), compared in constant time.
fn check_hmac(
    provider: Provider,
    headers: &HeaderMap,
    name: &'static str,
    prefix: &str,
    secret: &str,
    body: &[u8],
) -> Result<(), WebhookError> {
    let given = header(headers, name).ok_or(WebhookError::MissingSignature { provider, header: name })?;
    let bad = || WebhookError::BadSignature { provider, header: name };
    let tag = given.strip_prefix(prefix).and_then(decode_hex).ok_or_else(bad)?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, body, &tag).map_err(|_| bad())
}

/// A header that must equal `secret`.
fn check_token(provider: Provider, headers: &HeaderMap, name: &'static str, secret: &str) -> Result<(), WebhookError> {
    let given = header(headers, name).ok_or(WebhookError::MissingSignature { provider, header: name })?;
    if same_secret(given.as_bytes(), secret.as_bytes()) { Ok(()) } else { Err(WebhookError::BadSignature { provider, header: name }) }
}

fn verify(provider: Provider, headers: &HeaderMap, body: &[u8], secrets: &Secrets) -> Result<(), WebhookError> {
    match provider {
        Provider::GitHub => match &secrets.github {
            Some(s) => check_hmac(provider, headers, "x-hub-signature-256", "sha256=", s, body),
            None => Ok(()),
        },
        Provider::Gitea | Provider::Gogs => match &secrets.gogs {
            Some(s) => {
                let name = if provider == Provider::Gitea { "x-gitea-signature" } else { "x-gogs-signature" };
                check_hmac(provider, headers, name, "", s, body)
            }
            None => Ok(()),
        },
        Provider::BitbucketServer => match &secrets.bitbucket_server {
            Some(s) => check_hmac(provider, headers, "x-hub-signature", "sha256=", s, body),
            None => Ok(()),
        },
        Provider::GitLab => match &secrets.gitlab {
            Some(s) => check_token(provider, headers, "x-gitlab-token", s),
            None => Ok(()),
        },
        Provider::BitbucketCloud => match &secrets.bitbucket_uuid {
            Some(s) => check_token(provider, headers, "x-hook-uuid", s),
            None => Ok(()),
        },
        Provider::AzureDevOps => {
            if secrets.azure_username.is_none() && secrets.azure_password.is_none() {
                return Ok(());
            }
            let name = "authorization";
            let given = header(headers, name).ok_or(WebhookError::MissingSignature { provider, header: name })?;
            let bad = || WebhookError::BadSignature { provider, header: name };
            let (scheme, encoded) = given.split_once(' ').ok_or_else(bad)?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(bad());
            }
            let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
            let (user, password) = match decoded.iter().position(|b| *b == b':') {
                Some(i) => (&decoded[..i], &decoded[i + 1..]),
                None => return Err(bad()),
            };
            // Both are compared, whatever the first gave: no early answer.
            let user_ok = same_secret(user, secrets.azure_username.as_deref().unwrap_or("").as_bytes());
            let password_ok = same_secret(password, secrets.azure_password.as_deref().unwrap_or("").as_bytes());
            if user_ok & password_ok { Ok(()) } else { Err(bad()) }
        }
        Provider::Registry | Provider::Harbor => match &secrets.registry {
            Some(s) => {
                let name = "authorization";
                let given = header(headers, name).ok_or(WebhookError::MissingSignature { provider, header: name })?;
                let token = given.strip_prefix("Bearer ").or_else(|| given.strip_prefix("bearer ")).unwrap_or(given);
                if same_secret(token.trim().as_bytes(), s.as_bytes()) {
                    Ok(())
                } else {
                    Err(WebhookError::BadSignature { provider, header: name })
                }
            }
            None => Ok(()),
        },
    }
}

fn json<'a, T: Deserialize<'a>>(provider: Provider, body: &'a [u8]) -> Result<T, WebhookError> {
    serde_json::from_slice(body).map_err(|e| WebhookError::Malformed { provider, reason: e.to_string() })
}

/// Added, modified and removed files of one commit (GitHub, GitLab, Gitea).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Commit {
    added: Vec<String>,
    modified: Vec<String>,
    removed: Vec<String>,
}

/// The changed files of `commits`; `None` when there are none listed (a
/// new branch, or a payload that leaves them out) or too many.
fn changed_files(commits: &[Commit], complete: bool) -> Option<Vec<String>> {
    if commits.is_empty() || !complete || commits.len() > MAX_ITEMS {
        return None;
    }
    let files: Vec<String> =
        commits.iter().flat_map(|c| c.added.iter().chain(&c.modified).chain(&c.removed)).take(MAX_CHANGED_FILES + 1).cloned().collect();
    (files.len() <= MAX_CHANGED_FILES).then_some(files)
}

/// GitHub's push; Gitea's and Gogs' have the same shape.
#[derive(Deserialize, Default)]
#[serde(default)]
struct GitHubPush {
    #[serde(rename = "ref")]
    ref_: String,
    repository: GitHubRepo,
    commits: Vec<Commit>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GitHubRepo {
    html_url: String,
    clone_url: String,
    ssh_url: String,
    default_branch: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GitLabPush {
    object_kind: String,
    #[serde(rename = "ref")]
    ref_: String,
    project: GitLabProject,
    repository: GitLabRepo,
    commits: Vec<Commit>,
    total_commits_count: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GitLabProject {
    web_url: String,
    git_http_url: String,
    git_ssh_url: String,
    default_branch: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GitLabRepo {
    homepage: String,
    git_http_url: String,
    git_ssh_url: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BitbucketPush {
    repository: BitbucketRepo,
    push: BitbucketChanges,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BitbucketRepo {
    full_name: String,
    links: BitbucketLinks,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BitbucketLinks {
    html: Link,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Link {
    href: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BitbucketChanges {
    changes: Vec<BitbucketChange>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BitbucketChange {
    new: Option<BitbucketRef>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BitbucketRef {
    #[serde(rename = "type")]
    type_: String,
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BitbucketServerPush {
    repository: BitbucketServerRepo,
    changes: Vec<BitbucketServerChange>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BitbucketServerRepo {
    links: BitbucketServerLinks,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BitbucketServerLinks {
    clone: Vec<Link>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BitbucketServerChange {
    #[serde(rename = "ref")]
    ref_: BitbucketServerRef,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BitbucketServerRef {
    id: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct AzurePush {
    event_type: String,
    resource: AzureResource,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct AzureResource {
    ref_updates: Vec<AzureRefUpdate>,
    repository: AzureRepo,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AzureRefUpdate {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct AzureRepo {
    remote_url: String,
    ssh_url: String,
    web_url: String,
    default_branch: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RegistryEnvelope {
    events: Vec<RegistryEvent>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RegistryEvent {
    action: String,
    target: RegistryTarget,
    request: RegistryRequest,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RegistryTarget {
    repository: String,
    tag: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RegistryRequest {
    host: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HarborPush {
    #[serde(rename = "type")]
    type_: String,
    event_data: HarborData,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HarborData {
    resources: Vec<HarborResource>,
    repository: HarborRepo,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HarborResource {
    tag: String,
    resource_url: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HarborRepo {
    repo_full_name: String,
}

/// The non-empty strings of `urls`, each once.
fn urls<'a>(urls: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for u in urls.into_iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        if !out.iter().any(|o| o == u) {
            out.push(u.to_string());
        }
    }
    out
}

fn non_empty(s: &str) -> Option<String> {
    Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_string)
}

/// A push with no repository or no ref concerns nothing: the payload is
/// malformed.
fn git_event(provider: Provider, push: GitPush) -> Result<Event, WebhookError> {
    if push.repo_urls.is_empty() {
        return Err(WebhookError::Malformed { provider, reason: "no repository URL".into() });
    }
    if push.refs.is_empty() {
        return Err(WebhookError::Malformed { provider, reason: "no pushed ref".into() });
    }
    Ok(Event::Git(push))
}

/// Azure DevOps' SSH form of `https://dev.azure.com/{org}/{project}/_git/{repo}`:
/// `git@ssh.dev.azure.com:v3/{org}/{project}/{repo}`.
fn azure_ssh_url(remote: &str) -> Option<String> {
    let rest = remote.split_once("dev.azure.com/")?.1;
    let (org_project, repo) = rest.split_once("/_git/")?;
    Some(format!("git@ssh.dev.azure.com:v3/{org_project}/{repo}"))
}

fn read(provider: Provider, headers: &HeaderMap, body: &[u8]) -> Result<Event, WebhookError> {
    match provider {
        Provider::GitHub | Provider::Gitea | Provider::Gogs => {
            let event_header = match provider {
                Provider::Gitea => "x-gitea-event",
                Provider::Gogs => "x-gogs-event",
                _ => "x-github-event",
            };
            let event = header(headers, event_header).unwrap_or_default();
            if event != "push" {
                return Ok(Event::Ignored(format!("{provider} event {event:?}")));
            }
            let p: GitHubPush = json(provider, body)?;
            let r = &p.repository;
            git_event(
                provider,
                GitPush {
                    repo_urls: urls([&r.html_url, &r.clone_url, &r.ssh_url]),
                    refs: non_empty(&p.ref_).into_iter().collect(),
                    default_branch: non_empty(&r.default_branch),
                    changed: changed_files(&p.commits, true),
                },
            )
        }
        Provider::GitLab => {
            let event = header(headers, "x-gitlab-event").unwrap_or_default();
            if event != "Push Hook" && event != "Tag Push Hook" {
                return Ok(Event::Ignored(format!("GitLab event {event:?}")));
            }
            let p: GitLabPush = json(provider, body)?;
            if !p.object_kind.is_empty() && p.object_kind != "push" && p.object_kind != "tag_push" {
                return Ok(Event::Ignored(format!("GitLab object_kind {:?}", p.object_kind)));
            }
            // GitLab lists at most 20 commits; the count says whether all are there.
            let complete = p.total_commits_count.is_none_or(|n| n as usize == p.commits.len());
            let (pr, rr) = (&p.project, &p.repository);
            git_event(
                provider,
                GitPush {
                    repo_urls: urls([&pr.web_url, &pr.git_http_url, &pr.git_ssh_url, &rr.homepage, &rr.git_http_url, &rr.git_ssh_url]),
                    refs: non_empty(&p.ref_).into_iter().collect(),
                    default_branch: non_empty(&pr.default_branch),
                    changed: changed_files(&p.commits, complete),
                },
            )
        }
        Provider::BitbucketCloud => {
            let event = header(headers, "x-event-key").unwrap_or_default();
            if event != "repo:push" {
                return Ok(Event::Ignored(format!("Bitbucket event {event:?}")));
            }
            let p: BitbucketPush = json(provider, body)?;
            let mut repo_urls = urls([&p.repository.links.html.href]);
            if let Some(name) = non_empty(&p.repository.full_name) {
                repo_urls.extend([format!("https://bitbucket.org/{name}"), format!("git@bitbucket.org:{name}.git")]);
            }
            let refs = p
                .push
                .changes
                .iter()
                .take(MAX_ITEMS)
                .filter_map(|c| c.new.as_ref())
                .filter(|n| !n.name.is_empty())
                .map(|n| if n.type_ == "tag" { format!("refs/tags/{}", n.name) } else { format!("refs/heads/{}", n.name) })
                .collect();
            // The payload lists no files (Argo CD asks Bitbucket's API).
            git_event(provider, GitPush { repo_urls, refs, default_branch: None, changed: None })
        }
        Provider::BitbucketServer => {
            let event = header(headers, "x-event-key").unwrap_or_default();
            if event != "repo:refs_changed" {
                return Ok(Event::Ignored(format!("Bitbucket Server event {event:?}")));
            }
            let p: BitbucketServerPush = json(provider, body)?;
            let refs = p.changes.iter().take(MAX_ITEMS).filter_map(|c| non_empty(&c.ref_.id)).collect();
            git_event(
                provider,
                GitPush {
                    repo_urls: urls(p.repository.links.clone.iter().take(MAX_ITEMS).map(|l| &l.href)),
                    refs,
                    default_branch: None,
                    changed: None,
                },
            )
        }
        Provider::AzureDevOps => {
            let p: AzurePush = json(provider, body)?;
            if p.event_type != "git.push" {
                return Ok(Event::Ignored(format!("Azure DevOps event {:?}", p.event_type)));
            }
            let r = &p.resource.repository;
            let mut repo_urls = urls([&r.remote_url, &r.ssh_url, &r.web_url]);
            repo_urls.extend(azure_ssh_url(&r.remote_url));
            let refs = p.resource.ref_updates.iter().take(MAX_ITEMS).filter_map(|u| non_empty(&u.name)).collect();
            git_event(provider, GitPush { repo_urls, refs, default_branch: non_empty(&r.default_branch), changed: None })
        }
        Provider::Registry => {
            let p: RegistryEnvelope = json(provider, body)?;
            let pushes: Vec<ChartPush> = p
                .events
                .iter()
                .take(MAX_ITEMS)
                .filter(|e| e.action == "push" && !e.target.tag.is_empty() && !e.target.repository.is_empty() && !e.request.host.is_empty())
                .map(|e| ChartPush { host: e.request.host.clone(), repository: e.target.repository.clone(), tag: e.target.tag.clone() })
                .collect();
            Ok(if pushes.is_empty() { Event::Ignored("registry events without a tagged push".into()) } else { Event::Charts(pushes) })
        }
        Provider::Harbor => {
            let p: HarborPush = json(provider, body)?;
            if p.type_ != "PUSH_ARTIFACT" {
                return Ok(Event::Ignored(format!("Harbor event {:?}", p.type_)));
            }
            let repository = p.event_data.repository.repo_full_name.trim().to_string();
            let pushes: Vec<ChartPush> = p
                .event_data
                .resources
                .iter()
                .take(MAX_ITEMS)
                .filter_map(|r| {
                    // `host/project/repo:tag`: the host is before the first slash.
                    let host = r.resource_url.split_once('/')?.0;
                    Some(ChartPush { host: non_empty(host)?, repository: non_empty(&repository)?, tag: non_empty(&r.tag)? })
                })
                .collect();
            Ok(if pushes.is_empty() { Event::Ignored("Harbor push without a tagged artifact".into()) } else { Event::Charts(pushes) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("valid header"));
        }
        h
    }

    fn sign(secret: &str, body: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        ring::hmac::sign(&key, body).as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    const GITHUB: &str = r#"{"ref":"refs/heads/main","repository":{"html_url":"https://github.com/o/r","clone_url":"https://github.com/o/r.git","ssh_url":"git@github.com:o/r.git","default_branch":"main"},"commits":[{"added":["a/x.yaml"],"modified":["b/y.yaml"],"removed":[]}]}"#;

    #[test]
    fn github_signatures_are_checked_when_a_secret_is_set() {
        let secrets = Secrets { github: Some("s3cret".into()), ..Default::default() };
        let good = format!("sha256={}", sign("s3cret", GITHUB.as_bytes()));
        let event =
            parse(&headers(&[("x-github-event", "push"), ("x-hub-signature-256", &good)]), GITHUB.as_bytes(), &secrets).expect("valid");
        let Event::Git(push) = event else { panic!("a push: {event:?}") };
        assert_eq!(push.refs, vec!["refs/heads/main"]);
        assert_eq!(push.changed, Some(vec!["a/x.yaml".to_string(), "b/y.yaml".to_string()]));
        assert_eq!(push.default_branch.as_deref(), Some("main"));
        let other = format!("sha256={}", sign("other", GITHUB.as_bytes()));
        for bad in [other.as_str(), "sha256=zz", "sha1=00", "", "sha256="] {
            let err =
                parse(&headers(&[("x-github-event", "push"), ("x-hub-signature-256", bad)]), GITHUB.as_bytes(), &secrets).unwrap_err();
            assert!(err.is_auth(), "{bad:?}: {err}");
        }
        let err = parse(&headers(&[("x-github-event", "push")]), GITHUB.as_bytes(), &secrets).unwrap_err();
        assert!(matches!(err, WebhookError::MissingSignature { .. }), "{err}");
        // Without a secret, anyone may ask for a refresh.
        assert!(parse(&headers(&[("x-github-event", "push")]), GITHUB.as_bytes(), &Secrets::default()).is_ok());
        let ping = parse(&headers(&[("x-github-event", "ping")]), b"{}", &Secrets::default()).expect("ping");
        assert!(matches!(ping, Event::Ignored(_)));
    }

    #[test]
    fn tokens_and_basic_auth_compare_whole_values() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        let secrets = Secrets { azure_username: Some("u".into()), azure_password: Some("p".into()), ..Default::default() };
        let body = br#"{"eventType":"git.push","resource":{"refUpdates":[{"name":"refs/heads/main"}],"repository":{"remoteUrl":"https://dev.azure.com/org/proj/_git/repo"}}}"#;
        let basic = |s: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s));
        assert!(parse(&headers(&[("authorization", &basic("u:p"))]), body, &secrets).is_ok());
        for wrong in [basic("u:x"), basic("x:p"), basic("up"), "Bearer u:p".into(), "Basic !!".into()] {
            assert!(parse(&headers(&[("authorization", &wrong)]), body, &secrets).unwrap_err().is_auth(), "{wrong}");
        }
        let Ok(Event::Git(push)) = parse(&HeaderMap::new(), body, &Secrets::default()) else { panic!("Azure push") };
        assert!(push.repo_urls.contains(&"git@ssh.dev.azure.com:v3/org/proj/repo".to_string()));
    }

    #[test]
    fn unknown_and_malformed_payloads_are_errors() {
        assert_eq!(parse(&HeaderMap::new(), b"{}", &Secrets::default()), Err(WebhookError::Unknown));
        assert_eq!(parse(&HeaderMap::new(), b"\xff\x00", &Secrets::default()), Err(WebhookError::Unknown));
        let err = parse(&headers(&[("x-github-event", "push")]), b"{\"ref\":", &Secrets::default()).unwrap_err();
        assert!(matches!(err, WebhookError::Malformed { provider: Provider::GitHub, .. }), "{err}");
        let err = parse(&headers(&[("x-github-event", "push")]), br#"{"ref":"refs/heads/x"}"#, &Secrets::default()).unwrap_err();
        assert!(err.to_string().contains("no repository URL"), "{err}");
        // serde_json's depth limit: deep nesting is an error, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&headers(&[("x-github-event", "push")]), deep.as_bytes(), &Secrets::default()).is_err());
    }

    #[test]
    fn too_many_changed_files_count_as_all() {
        let commit = Commit { added: (0..MAX_CHANGED_FILES + 1).map(|i| format!("f{i}")).collect(), ..Default::default() };
        assert_eq!(changed_files(&[commit], true), None);
        assert_eq!(changed_files(&[], true), None);
        assert_eq!(changed_files(&[Commit::default()], true), Some(vec![]));
        assert_eq!(changed_files(&[Commit::default()], false), None);
    }
}
