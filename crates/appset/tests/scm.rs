//! The `scmProvider` and `pullRequest` generators against a real Gitea on
//! 127.0.0.1 (one per test binary, each test its own organization) and
//! against a server of recorded GitHub REST API responses on 127.0.0.1
//! (GitHub itself cannot be reached from tests): pagination, filters,
//! labels, missing repositories, where the token goes, hostile answers.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use driftless_api::{PullRequestGenerator, ScmProviderGenerator};
use driftless_appset::scm::{pull_requests, scm_provider};
use driftless_appset::{GeneratorError, Params, Sources};
use driftless_testkit::{GITEA_ADMIN, Gitea};
use serde_json::{Value, json};

/// Secrets of the set's namespace: (name, key) → value; nothing else
/// of the world is read by these generators.
struct Secrets(HashMap<(String, String), String>, driftless_source::AppTokens);

impl Secrets {
    fn new(entries: &[(&str, &str, &str)]) -> Secrets {
        Secrets(entries.iter().map(|(n, k, v)| ((n.to_string(), k.to_string()), v.to_string())).collect(), Default::default())
    }
}

impl Sources for Secrets {
    fn secret(&self, name: &str, key: &str) -> impl Future<Output = Result<String, String>> + Send {
        let v = self.0.get(&(name.to_string(), key.to_string())).cloned().ok_or_else(|| format!("Secret {name} has no key {key}"));
        async move { v }
    }

    async fn clusters(&self) -> Result<Vec<driftless_appset::generators::ClusterEntry>, String> {
        Err("the SCM generators read no clusters".into())
    }

    async fn git(&self, _repo: &str, _revision: &str) -> Result<driftless_appset::generators::GitTree, String> {
        Err("the SCM generators read no Git checkout".into())
    }

    async fn decisions(
        &self,
        _config_map: &str,
        _name: Option<&str>,
        _selector: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
    ) -> Result<(std::collections::BTreeMap<String, String>, Vec<Value>), String> {
        Err("the SCM generators read no decision resources".into())
    }

    fn app_tokens(&self) -> &driftless_source::AppTokens {
        &self.1
    }
}

fn scm(spec: Value) -> ScmProviderGenerator {
    serde_json::from_value(spec).expect("an scmProvider generator")
}

fn prs(spec: Value) -> PullRequestGenerator {
    serde_json::from_value(spec).expect("a pullRequest generator")
}

/// One field of every element, sorted.
fn column(params: &[Params], key: &str) -> Vec<String> {
    let mut v: Vec<String> = params.iter().map(|p| p[key].as_str().unwrap_or_default().to_string()).collect();
    v.sort();
    v
}

fn gitea_token(g: &Gitea) -> Secrets {
    Secrets::new(&[("gitea", "token", g.token())])
}

// ---------------------------------------------------------------- Gitea ----

#[tokio::test]
async fn gitea_repositories_give_argo_cds_parameters_at_their_default_branch() {
    let g = Gitea::shared();
    g.create_org("scm-params");
    g.create_repo("scm-params", "billing", "main");
    g.create_repo("scm-params", "shipping", "trunk");
    g.create_empty_repo("scm-params", "nothing-yet");
    for l in ["team-a", "prod"] {
        g.create_label("scm-params", "billing", l);
    }
    let head = g.head("scm-params", "billing", "main");
    let port = g.base().rsplit(':').next().unwrap();
    let spec = json!({"gitea": {"owner": "scm-params", "api": g.base(), "tokenRef": {"secretName": "gitea", "key": "token"}}});

    let got = scm_provider(&scm(spec.clone()), false, &gitea_token(g)).await.unwrap();
    assert_eq!(column(&got, "repository"), ["billing", "shipping"], "the empty repository has no branch to deploy");
    let billing = got.iter().find(|p| p["repository"] == "billing").unwrap();
    let id = billing["repository_id"].clone();
    assert!(id.as_i64().is_some_and(|i| i > 0));
    assert_eq!(
        Value::Object(billing.clone()),
        json!({
            "organization": "scm-params",
            "repository": "billing",
            "repository_id": id,
            "url": "ssh://git@127.0.0.1:2222/scm-params/billing.git",
            "branch": "main",
            "branchNormalized": "main",
            "sha": head,
            "short_sha": &head[..8],
            "short_sha_7": &head[..7],
            "labels": "prod,team-a",
        })
    );
    let shipping = got.iter().find(|p| p["repository"] == "shipping").unwrap();
    assert_eq!(shipping["branch"], "trunk");
    assert_eq!(shipping["sha"], g.head("scm-params", "shipping", "trunk"));

    // cloneProtocol https: the web URL, as Argo CD's Gitea provider gives it.
    let mut https = spec.clone();
    https["cloneProtocol"] = json!("https");
    let got = scm_provider(&scm(https), true, &gitea_token(g)).await.unwrap();
    assert_eq!(
        column(&got, "url"),
        [format!("http://127.0.0.1:{port}/scm-params/billing"), format!("http://127.0.0.1:{port}/scm-params/shipping")]
    );

    let mut bad = spec;
    bad["cloneProtocol"] = json!("git");
    let e = scm_provider(&scm(bad), false, &gitea_token(g)).await.unwrap_err();
    assert!(matches!(&e, GeneratorError::Invalid(m) if m.starts_with("scmProvider.cloneProtocol:")), "{e}");
}

#[tokio::test]
async fn gitea_all_branches_gives_one_element_per_branch_across_pages() {
    let g = Gitea::shared();
    g.create_org("scm-branches");
    g.create_repo("scm-branches", "app", "main");
    // More branches than one page of this Gitea holds (3).
    let mut heads = HashMap::new();
    for b in ["dev", "feature/New_Thing", "release-1.0", "stage"] {
        heads.insert(b.to_string(), g.add_file("scm-branches", "app", "main", b, &format!("{}.txt", b.replace('/', "-")), b));
    }
    heads.insert("main".into(), g.head("scm-branches", "app", "main"));
    let spec = json!({"gitea": {"owner": "scm-branches", "api": g.base(), "allBranches": true, "tokenRef": {"secretName": "gitea", "key": "token"}}});
    let got = scm_provider(&scm(spec), false, &gitea_token(g)).await.unwrap();
    assert_eq!(column(&got, "branch"), ["dev", "feature/New_Thing", "main", "release-1.0", "stage"]);
    for p in &got {
        assert_eq!(p["sha"], heads[p["branch"].as_str().unwrap()]);
    }
    let normalized = got.iter().find(|p| p["branch"] == "feature/New_Thing").unwrap();
    assert_eq!(normalized["branchNormalized"], "feature-new-thing");
}

#[tokio::test]
async fn gitea_filters_and_within_an_entry_and_or_across_entries() {
    let g = Gitea::shared();
    let o = "scm-filters";
    g.create_org(o);
    for r in ["svc-a", "svc-b", "svc-c", "lib-x", "tool"] {
        g.create_repo(o, r, "main");
    }
    g.create_label(o, "tool", "deploy-me");
    g.add_file(o, "svc-a", "main", "main", "deploy/kustomization.yaml", "resources: []\n");
    g.add_file(o, "svc-b", "main", "main", "deploy/kustomization.yaml", "resources: []\n");
    g.add_file(o, "svc-b", "main", "main", "deploy/SKIP", "");
    g.add_file(o, "svc-c", "main", "feature/x", "deploy/kustomization.yaml", "resources: []\n");
    let token = gitea_token(g);
    let run = async |filters: Value, all: bool| {
        let spec = json!({"gitea": {"owner": o, "api": g.base(), "allBranches": all, "tokenRef": {"secretName": "gitea", "key": "token"}}, "filters": filters});
        let got = scm_provider(&scm(spec), false, &token).await.unwrap();
        let mut v: Vec<String> =
            got.iter().map(|p| format!("{}@{}", p["repository"].as_str().unwrap(), p["branch"].as_str().unwrap())).collect();
        v.sort();
        v
    };
    assert_eq!(run(json!([{"repositoryMatch": "^svc-"}]), false).await, ["svc-a@main", "svc-b@main", "svc-c@main"]);
    assert_eq!(run(json!([{"labelMatch": "^deploy-"}]), false).await, ["tool@main"]);
    // A directory counts as a path, as a file does.
    assert_eq!(run(json!([{"pathsExist": ["deploy/"]}]), false).await, ["svc-a@main", "svc-b@main"]);
    assert_eq!(
        run(json!([{"pathsExist": ["deploy/kustomization.yaml"], "pathsDoNotExist": ["deploy/SKIP"]}]), false).await,
        ["svc-a@main"]
    );
    assert_eq!(run(json!([{"branchMatch": "^feature/"}]), true).await, ["svc-c@feature/x"]);
    assert_eq!(run(json!([{"repositoryMatch": "^svc-c$", "pathsExist": ["deploy"]}]), true).await, ["svc-c@feature/x"]);
    // Entries OR: either the lib, or a repository with a deploy directory.
    assert_eq!(
        run(json!([{"repositoryMatch": "^lib-"}, {"repositoryMatch": "^svc-", "pathsExist": ["deploy"]}]), false).await,
        ["lib-x@main", "svc-a@main", "svc-b@main"]
    );
    assert_eq!(run(json!([{"repositoryMatch": "^nothing$"}]), false).await, Vec::<String>::new());
}

#[tokio::test]
async fn gitea_pull_requests_give_argo_cds_parameters_for_open_ones_only() {
    let g = Gitea::shared();
    let o = "pr-params";
    g.create_org(o);
    g.create_repo(o, "app", "main");
    let preview = g.create_label(o, "app", "preview");
    let head = g.add_file(o, "app", "main", "feature/JIRA-12_new", "a.txt", "a");
    let one = g.create_pull(o, "app", "feature/JIRA-12_new", "main", "Add the new thing", &[preview]);
    g.add_file(o, "app", "main", "fix/typo", "b.txt", "b");
    let two = g.create_pull(o, "app", "fix/typo", "main", "WIP: fix a typo", &[]);
    g.add_file(o, "app", "main", "old", "c.txt", "c");
    let closed = g.create_pull(o, "app", "old", "main", "Closed one", &[]);
    g.close_pull(o, "app", closed);
    let spec = |filters: Value| {
        prs(
            json!({"gitea": {"owner": o, "repo": "app", "api": g.base(), "tokenRef": {"secretName": "gitea", "key": "token"}}, "filters": filters}),
        )
    };
    let token = gitea_token(g);

    let got = pull_requests(&spec(json!([])), true, &token).await.unwrap();
    assert_eq!(column(&got, "number"), [one.to_string(), two.to_string()], "the closed pull request is not listed");
    let p = got.iter().find(|p| p["number"] == one.to_string().as_str()).unwrap();
    assert_eq!(
        Value::Object(p.clone()),
        json!({
            "number": one.to_string(),
            "title": "Add the new thing",
            "branch": "feature/JIRA-12_new",
            "branch_slug": "feature-jira-12-new",
            "target_branch": "main",
            "target_branch_slug": "main",
            "head_sha": head,
            "head_short_sha": &head[..8],
            "head_short_sha_7": &head[..7],
            "author": GITEA_ADMIN,
            "labels": ["preview"],
        })
    );
    // fasttemplate sets see no labels (Argo CD gives them to Go templates only).
    let fast = pull_requests(&spec(json!([])), false, &token).await.unwrap();
    assert!(fast.iter().all(|p| !p.contains_key("labels")));

    let branches = pull_requests(&spec(json!([{"branchMatch": "^feature/"}])), false, &token).await.unwrap();
    assert_eq!(column(&branches, "branch"), ["feature/JIRA-12_new"]);
    let titles = pull_requests(&spec(json!([{"titleMatch": "^WIP"}])), false, &token).await.unwrap();
    assert_eq!(column(&titles, "title"), ["WIP: fix a typo"]);
    let none = pull_requests(&spec(json!([{"targetBranchMatch": "^release$"}])), false, &token).await.unwrap();
    assert!(none.is_empty());
    let either = pull_requests(&spec(json!([{"titleMatch": "^WIP"}, {"branchMatch": "^feature/"}])), false, &token).await.unwrap();
    assert_eq!(either.len(), 2);
    // Labels filter as Argo CD does for Gitea: every label asked for.
    let labelled = |labels: Value| {
        prs(
            json!({"gitea": {"owner": o, "repo": "app", "api": g.base(), "tokenRef": {"secretName": "gitea", "key": "token"}, "labels": labels}}),
        )
    };
    let got = pull_requests(&labelled(json!(["preview"])), false, &token).await.unwrap();
    assert_eq!(column(&got, "number"), [one.to_string()]);
    assert!(pull_requests(&labelled(json!(["preview", "other"])), false, &token).await.unwrap().is_empty());

    // values, rendered per pull request, through the set as the controller renders it.
    let set: driftless_api::ApplicationSet = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": {"name": "previews", "namespace": "argocd"},
        "spec": {
            "generators": [{"pullRequest": {
                "gitea": {"owner": o, "repo": "app", "api": g.base(), "tokenRef": {"secretName": "gitea", "key": "token"}},
                "values": {"env": "preview-{{number}}"}
            }}],
            "template": {"metadata": {"name": "{{values.env}}"}, "spec": {
                "project": "default", "source": {"repoURL": "https://git.example/app.git", "targetRevision": "{{head_sha}}"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{values.env}}"}
            }}
        }
    }))
    .unwrap();
    let mut names: Vec<String> =
        driftless_appset::applications(&set, &token).await.unwrap().iter().map(|a| a.metadata.name.clone().unwrap()).collect();
    names.sort();
    assert_eq!(names, [format!("preview-{one}"), format!("preview-{two}")]);
}

#[tokio::test]
async fn gitea_missing_repository_fails_unless_continue_on_repo_not_found_error() {
    let g = Gitea::shared();
    g.create_org("pr-missing");
    let token = gitea_token(g);
    let mut spec =
        json!({"gitea": {"owner": "pr-missing", "repo": "gone", "api": g.base(), "tokenRef": {"secretName": "gitea", "key": "token"}}});
    let e = pull_requests(&prs(spec.clone()), false, &token).await.unwrap_err().to_string();
    assert!(e.starts_with("pullRequest.gitea: Gitea: GET "), "{e}");
    assert!(e.contains("/api/v1/repos/pr-missing/gone/pulls") && e.contains("404"), "{e}");
    spec["continueOnRepoNotFoundError"] = json!(true);
    assert!(pull_requests(&prs(spec), false, &token).await.unwrap().is_empty());
}

#[tokio::test]
async fn gitea_rejecting_the_token_is_an_error_naming_gitea_the_url_and_the_status_never_the_token() {
    let g = Gitea::shared();
    g.create_org("scm-badtoken");
    const WRONG: &str = "0123456789abcdef0123456789abcdef01234567";
    let spec = json!({"gitea": {"owner": "scm-badtoken", "api": g.base(), "tokenRef": {"secretName": "s", "key": "t"}}});
    let e = scm_provider(&scm(spec), false, &Secrets::new(&[("s", "t", WRONG)])).await.unwrap_err().to_string();
    assert!(e.contains("Gitea") && e.contains("/api/v1/orgs/scm-badtoken/repos") && e.contains("401"), "{e}");
    assert!(!e.contains(WRONG), "{e}");
    // A tokenRef that cannot be read names the field.
    let spec = json!({"gitea": {"owner": "scm-badtoken", "api": g.base(), "tokenRef": {"secretName": "missing", "key": "t"}}});
    let e = scm_provider(&scm(spec), false, &Secrets::new(&[])).await.unwrap_err().to_string();
    assert!(e.starts_with("scmProvider.gitea.tokenRef:"), "{e}");
}

// ------------------------------------------ GitHub, recorded responses ----

/// An HTTP server on 127.0.0.1 answering with recorded GitHub REST API
/// responses: `path?query` → (status, headers, body); anything else is
/// GitHub's 404. It records each request's target and Authorization.
struct RecordedGitHub {
    base: String,
    seen: Seen,
}

/// A recorded response: `path?query`, status, headers, body.
type Route = (String, u16, Vec<(String, String)>, String);
type Routes = HashMap<String, (u16, Vec<(String, String)>, String)>;
/// Each request's target and Authorization header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

impl RecordedGitHub {
    /// Starts a server whose routes `routes` makes from its base URL.
    fn start(routes: impl FnOnce(&str) -> Vec<Route>) -> RecordedGitHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<Routes> = Arc::new(routes(&base).into_iter().map(|(p, s, h, b)| (p, (s, h, b))).collect());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (routes, record) = (routes.clone(), record.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(&conn);
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let mut auth = None;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':')
                            && k.eq_ignore_ascii_case("authorization")
                        {
                            auth = Some(v.trim().to_string());
                        }
                    }
                    record.lock().unwrap().push((target.clone(), auth));
                    let not_found = (
                        404,
                        vec![],
                        r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}"#.into(),
                    );
                    let (status, headers, body) = routes.get(&target).unwrap_or(&not_found);
                    let mut head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n",
                        body.len()
                    );
                    for (k, v) in headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    let mut conn = &conn;
                    let _ = conn.write_all(format!("{head}\r\n").as_bytes());
                    let _ = conn.write_all(body.as_bytes());
                });
            }
        });
        RecordedGitHub { base, seen }
    }

    /// Request targets and their Authorization headers, in order.
    fn seen(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().unwrap().clone()
    }
}

fn ok(path: &str, body: Value) -> Route {
    (path.to_string(), 200, vec![], body.to_string())
}

/// A repository as `GET /orgs/{org}/repos` records it (trimmed).
fn gh_repo(id: i64, org: &str, name: &str, default_branch: &str, topics: &[&str]) -> Value {
    json!({
        "id": id, "node_id": "R_x", "name": name, "full_name": format!("{org}/{name}"), "private": false,
        "owner": {"login": org, "id": 1, "type": "Organization"},
        "html_url": format!("https://github.com/{org}/{name}"),
        "clone_url": format!("https://github.com/{org}/{name}.git"),
        "ssh_url": format!("git@github.com:{org}/{name}.git"),
        "default_branch": default_branch, "topics": topics, "archived": false,
    })
}

fn gh_branch(name: &str, sha: &str) -> Value {
    json!({"name": name, "commit": {"sha": sha, "url": "https://api.github.com/repos/x/y/commits/sha"}, "protected": false})
}

fn gh_pull(number: i64, title: &str, head: &str, sha: &str, base: &str, user: &str, labels: &[&str]) -> Value {
    json!({
        "url": "https://api.github.com/repos/acme/app/pulls/1", "id": number * 1000, "number": number, "state": "open", "title": title,
        "user": {"login": user, "id": 7, "type": "User"},
        "labels": labels.iter().map(|l| json!({"id": 1, "name": l, "color": "ededed", "default": false})).collect::<Vec<_>>(),
        "head": {"label": format!("acme:{head}"), "ref": head, "sha": sha, "user": {"login": "acme"}},
        "base": {"label": format!("acme:{base}"), "ref": base, "sha": "b".repeat(40), "user": {"login": "acme"}},
        "draft": false,
    })
}

const SHA_MAIN: &str = "1111111111111111111111111111111111111111";
const SHA_DEV: &str = "2222222222222222222222222222222222222222";
const SHA_SHIP: &str = "3333333333333333333333333333333333333333";
const TOKEN: &str = "ghp_recordedtesttoken0000000000000000000";

fn github_token() -> Secrets {
    Secrets::new(&[("github", "token", TOKEN)])
}

/// The organization `acme`: two pages of repositories (`Link` header), one
/// of them empty (its default branch is 404), paths for `pathsExist`.
fn acme(base: &str) -> Vec<Route> {
    let page2 = format!("{base}/api/v3/organizations/1/repos?per_page=100&page=2");
    vec![
        (
            "/api/v3/orgs/acme/repos?per_page=100".into(),
            200,
            vec![("Link".into(), format!(r#"<{page2}>; rel="next", <{page2}>; rel="last""#))],
            json!([gh_repo(10, "acme", "billing", "main", &["team-a", "prod"]), gh_repo(11, "acme", "empty", "main", &[])]).to_string(),
        ),
        ok("/api/v3/organizations/1/repos?per_page=100&page=2", json!([gh_repo(12, "acme", "shipping", "trunk", &[])])),
        ok("/api/v3/repos/acme/billing/branches/main", gh_branch("main", SHA_MAIN)),
        ok("/api/v3/repos/acme/shipping/branches/trunk", gh_branch("trunk", SHA_SHIP)),
        ok("/api/v3/repos/acme/billing/branches?per_page=100", json!([gh_branch("main", SHA_MAIN), gh_branch("dev", SHA_DEV)])),
        ok("/api/v3/repos/acme/shipping/branches?per_page=100", json!([gh_branch("trunk", SHA_SHIP)])),
        ok("/api/v3/repos/acme/empty/branches?per_page=100", json!([])),
        ok(
            "/api/v3/repos/acme/billing/contents/deploy?ref=main",
            json!([{"type": "file", "name": "kustomization.yaml", "path": "deploy/kustomization.yaml"}]),
        ),
        ok(
            "/api/v3/repos/acme/shipping/contents/deploy/kustomization.yaml?ref=trunk",
            json!({"type": "file", "name": "kustomization.yaml"}),
        ),
    ]
}

#[tokio::test]
async fn github_recorded_repositories_page_through_link_headers_with_argo_cds_parameters() {
    let gh = RecordedGitHub::start(acme);
    let spec = json!({"github": {"organization": "acme", "api": gh.base, "tokenRef": {"secretName": "github", "key": "token"}}});
    let got = scm_provider(&scm(spec.clone()), false, &github_token()).await.unwrap();
    assert_eq!(
        got.iter().map(|p| Value::Object(p.clone())).collect::<Vec<_>>(),
        [
            json!({"organization": "acme", "repository": "billing", "repository_id": 10, "url": "git@github.com:acme/billing.git",
                   "branch": "main", "branchNormalized": "main", "sha": SHA_MAIN, "short_sha": "11111111", "short_sha_7": "1111111",
                   "labels": "team-a,prod"}),
            json!({"organization": "acme", "repository": "shipping", "repository_id": 12, "url": "git@github.com:acme/shipping.git",
                   "branch": "trunk", "branchNormalized": "trunk", "sha": SHA_SHIP, "short_sha": "33333333", "short_sha_7": "3333333",
                   "labels": ""}),
        ],
        "the second page is read; the empty repository (its default branch is 404) gives nothing"
    );
    let mut https = spec.clone();
    https["cloneProtocol"] = json!("https");
    https["github"]["allBranches"] = json!(true);
    let got = scm_provider(&scm(https), false, &github_token()).await.unwrap();
    let pairs: Vec<(String, String)> =
        got.iter().map(|p| (p["branch"].as_str().unwrap().into(), p["url"].as_str().unwrap().into())).collect();
    assert_eq!(
        pairs,
        [
            ("main".to_string(), "https://github.com/acme/billing.git".to_string()),
            ("dev".into(), "https://github.com/acme/billing.git".into()),
            ("trunk".into(), "https://github.com/acme/shipping.git".into()),
        ]
    );
    // Every request went to the API with the token, as GitHub wants it.
    assert!(gh.seen().iter().all(|(_, a)| a.as_deref() == Some(&format!("Bearer {TOKEN}"))));

    let filtered = |filters: Value| {
        let mut s = spec.clone();
        s["filters"] = filters;
        scm(s)
    };
    let got = scm_provider(&filtered(json!([{"labelMatch": "^prod$"}])), false, &github_token()).await.unwrap();
    assert_eq!(column(&got, "repository"), ["billing"], "labels are the repositories' topics");
    let got = scm_provider(
        &filtered(json!([{"pathsExist": ["deploy/"]}, {"pathsExist": ["deploy/kustomization.yaml"]}])),
        false,
        &github_token(),
    )
    .await
    .unwrap();
    assert_eq!(column(&got, "repository"), ["billing", "shipping"]);
    let got = scm_provider(&filtered(json!([{"pathsDoNotExist": ["deploy"]}])), false, &github_token()).await.unwrap();
    assert_eq!(column(&got, "repository"), ["shipping"]);
}

fn pulls_of_app(_: &str) -> Vec<Route> {
    vec![ok(
        "/api/v3/repos/acme/app/pulls?per_page=100",
        json!([
            gh_pull(12, "Preview me", "feature/Preview_This", SHA_DEV, "main", "alice", &["preview", "team-a"]),
            gh_pull(13, "Only team", "fix/x", SHA_MAIN, "release/1.x", "bob", &["team-a"]),
            gh_pull(14, "No labels", "chore", SHA_SHIP, "main", "carol", &[]),
        ]),
    )]
}

#[tokio::test]
async fn github_recorded_pull_requests_carry_every_label_asked_for() {
    let gh = RecordedGitHub::start(pulls_of_app);
    let spec = |labels: Value, filters: Value| {
        prs(
            json!({"github": {"owner": "acme", "repo": "app", "api": gh.base, "tokenRef": {"secretName": "github", "key": "token"}, "labels": labels}, "filters": filters}),
        )
    };
    let all = pull_requests(&spec(json!([]), json!([])), true, &github_token()).await.unwrap();
    assert_eq!(column(&all, "number"), ["12", "13", "14"]);
    assert_eq!(
        Value::Object(all[0].clone()),
        json!({"number": "12", "title": "Preview me", "branch": "feature/Preview_This", "branch_slug": "feature-preview-this",
               "target_branch": "main", "target_branch_slug": "main", "head_sha": SHA_DEV, "head_short_sha": "22222222",
               "head_short_sha_7": "2222222", "author": "alice", "labels": ["preview", "team-a"]})
    );
    let both = pull_requests(&spec(json!(["preview", "team-a"]), json!([])), true, &github_token()).await.unwrap();
    assert_eq!(column(&both, "number"), ["12"]);
    let team = pull_requests(&spec(json!(["team-a"]), json!([])), false, &github_token()).await.unwrap();
    assert_eq!(column(&team, "number"), ["12", "13"]);
    let release =
        pull_requests(&spec(json!(["team-a"]), json!([{"targetBranchMatch": "^release/"}])), false, &github_token()).await.unwrap();
    assert_eq!(column(&release, "target_branch_slug"), ["release-1-x"]);
}

#[tokio::test]
async fn github_recorded_missing_repository_is_an_error_unless_continue_on_repo_not_found_error() {
    let gh = RecordedGitHub::start(|_| vec![]);
    let mut spec = json!({"github": {"owner": "acme", "repo": "gone", "api": gh.base}});
    let e = pull_requests(&prs(spec.clone()), false, &Secrets::new(&[])).await.unwrap_err().to_string();
    assert_eq!(e, format!("pullRequest.github: GitHub: GET {}/api/v3/repos/acme/gone/pulls?per_page=100: not found (HTTP 404)", gh.base));
    spec["continueOnRepoNotFoundError"] = json!(true);
    assert!(pull_requests(&prs(spec), false, &Secrets::new(&[])).await.unwrap().is_empty());
    // Without tokenRef no Authorization is sent (public repositories).
    assert!(gh.seen().iter().all(|(_, a)| a.is_none()));
    // A missing organization is an error for the SCM provider.
    let e = scm_provider(&scm(json!({"github": {"organization": "nobody", "api": gh.base}})), false, &Secrets::new(&[])).await.unwrap_err();
    assert!(e.to_string().contains("/api/v3/orgs/nobody/repos?per_page=100: not found (HTTP 404)"), "{e}");
}

#[tokio::test]
async fn github_recorded_redirects_and_next_links_to_another_host_never_get_the_token() {
    let elsewhere = RecordedGitHub::start(|_| vec![ok("/api/v3/orgs/acme/repos?per_page=100", json!([]))]);
    let other = elsewhere.base.clone();
    let gh = RecordedGitHub::start(|_| {
        vec![
            (
                "/api/v3/orgs/acme/repos?per_page=100".into(),
                302,
                vec![("Location".into(), format!("{other}/api/v3/orgs/acme/repos?per_page=100"))],
                String::new(),
            ),
            (
                "/api/v3/repos/acme/app/pulls?per_page=100".into(),
                200,
                vec![("Link".into(), format!(r#"<{other}/api/v3/repos/acme/app/pulls?page=2>; rel="next""#))],
                "[]".into(),
            ),
        ]
    });
    let e = scm_provider(
        &scm(json!({"github": {"organization": "acme", "api": gh.base, "tokenRef": {"secretName": "github", "key": "token"}}})),
        false,
        &github_token(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("points to another host") && e.contains(&other), "{e}");
    let e = pull_requests(
        &prs(json!({"github": {"owner": "acme", "repo": "app", "api": gh.base, "tokenRef": {"secretName": "github", "key": "token"}}})),
        false,
        &github_token(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("points to another host"), "{e}");
    assert!(elsewhere.seen().is_empty(), "the other host got no request: {:?}", elsewhere.seen());
    assert!(gh.seen().iter().all(|(_, a)| a.as_deref() == Some(&format!("Bearer {TOKEN}"))));
}

#[tokio::test]
async fn github_recorded_hostile_answers_are_clear_errors_without_the_token() {
    let huge: Vec<Value> = (0..10_001).map(|i| gh_repo(i, "acme", &format!("r{i}"), "main", &[])).collect();
    let gh = RecordedGitHub::start(|base| {
        vec![
            ok("/api/v3/orgs/huge/repos?per_page=100", Value::Array(huge)),
            ("/api/v3/orgs/garbage/repos?per_page=100".into(), 200, vec![], "{\"not\": [json".into()),
            ("/api/v3/orgs/object/repos?per_page=100".into(), 200, vec![], r#"{"message":"hi"}"#.into()),
            // A server echoing the token in a field that fails to decode.
            ok("/api/v3/orgs/echo/repos?per_page=100", json!([{"id": TOKEN, "name": "x", "owner": {"login": "echo"}}])),
            // A next link to itself: pages without end.
            (
                "/api/v3/orgs/loop/repos?per_page=100".into(),
                200,
                vec![("Link".into(), format!(r#"<{base}/api/v3/orgs/loop/repos?per_page=100>; rel="next""#))],
                "[]".into(),
            ),
            ("/api/v3/orgs/down/repos?per_page=100".into(), 502, vec![], format!("upstream said {TOKEN}")),
        ]
    });
    let run = async |org: &str| {
        let spec = json!({"github": {"organization": org, "api": gh.base, "tokenRef": {"secretName": "github", "key": "token"}}});
        let e = scm_provider(&scm(spec), false, &github_token()).await.unwrap_err();
        assert!(matches!(e, GeneratorError::Source(_)), "{e:?}");
        let e = e.to_string();
        assert!(e.starts_with("scmProvider.github: GitHub:"), "{e}");
        assert!(!e.contains(TOKEN), "the token is in {e}");
        e
    };
    let e = run("huge").await;
    assert!(e.contains("more than 10000"), "{e}");
    let e = run("garbage").await;
    assert!(e.contains("/api/v3/orgs/garbage/repos?per_page=100: the answer is not GitHub's API's"), "{e}");
    assert!(run("object").await.contains("expected a sequence"));
    assert!(run("echo").await.contains("<token>"));
    assert!(run("loop").await.contains("more than 10000 entries (or takes more than 500 pages)"));
    assert!(run("down").await.ends_with("/api/v3/orgs/down/repos?per_page=100: HTTP 502"));
}

#[tokio::test]
async fn github_app_recorded_installation_token_is_minted_and_used() {
    const MINTED: &str = "ghs_recordedinstallationtoken000000000000";
    let keys = tempfile::tempdir().unwrap();
    let key_path = keys.path().join("app");
    let ok_keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-f"])
        .arg(&key_path)
        .status();
    assert!(ok_keygen.unwrap().success());
    let private_key = std::fs::read_to_string(&key_path).unwrap();
    let gh = RecordedGitHub::start(|_| {
        vec![
            ok("/api/v3/app/installations/99/access_tokens", json!({"token": MINTED, "expires_at": "2999-01-01T00:00:00Z"})),
            ok("/api/v3/repos/acme/app/pulls?per_page=100", json!([gh_pull(1, "t", "b", SHA_MAIN, "main", "u", &[])])),
        ]
    });
    let secrets = Secrets::new(&[
        ("app", "githubAppID", "12"),
        ("app", "githubAppInstallationID", "99"),
        ("app", "githubAppPrivateKey", &private_key),
    ]);
    let spec = prs(json!({"github": {"owner": "acme", "repo": "app", "api": gh.base, "appSecretName": "app"}}));
    let got = pull_requests(&spec, false, &secrets).await.unwrap();
    assert_eq!(column(&got, "number"), ["1"]);
    let seen = gh.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].1.as_deref().is_some_and(|a| a.starts_with("Bearer ey")), "the app's JWT buys the token");
    assert_eq!(seen[1].1.as_deref(), Some(format!("Bearer {MINTED}").as_str()));
    // A Secret without the app's keys names the field.
    let e = pull_requests(&spec, false, &Secrets::new(&[])).await.unwrap_err().to_string();
    assert!(e.starts_with("pullRequest.github.appSecretName:"), "{e}");
}

#[tokio::test]
async fn providers_driftless_does_not_read_yet_and_bad_specs_are_named() {
    let none = Secrets::new(&[]);
    let e = scm_provider(&scm(json!({"gitlab": {"group": "g"}})), false, &none).await.unwrap_err();
    assert!(matches!(&e, GeneratorError::Invalid(m) if m == "scmProvider.gitlab is not supported by driftless yet"), "{e}");
    let e = scm_provider(&scm(json!({"azureDevOps": {"organization": "o", "teamProject": "p"}})), false, &none).await.unwrap_err();
    assert_eq!(e.to_string(), "scmProvider.azureDevOps is not supported by driftless yet");
    let e =
        pull_requests(&prs(json!({"bitbucketServer": {"project": "p", "repo": "r", "api": "https://b"}})), false, &none).await.unwrap_err();
    assert_eq!(e.to_string(), "pullRequest.bitbucketServer is not supported by driftless yet");
    let e = scm_provider(&scm(json!({"gitea": {"owner": "o"}})), false, &none).await.unwrap_err();
    assert_eq!(e.to_string(), "scmProvider.gitea.api: is required for Gitea");
    let e =
        scm_provider(&scm(json!({"github": {"organization": "../admin", "api": "https://ghe.example"}})), false, &none).await.unwrap_err();
    assert!(e.to_string().starts_with("scmProvider.github.organization:"), "{e}");
    let e = pull_requests(&prs(json!({"gitea": {"owner": "o", "repo": "r", "api": "file:///etc"}})), false, &none).await.unwrap_err();
    assert!(e.to_string().starts_with("pullRequest.gitea.api:"), "{e}");
    let e = scm_provider(&scm(json!({})), false, &none).await.unwrap_err();
    assert!(matches!(e, GeneratorError::Invalid(_)));
}

#[tokio::test]
async fn gitea_insecure_skips_tls_verification_and_only_then() {
    use driftless_testkit::{GitHttpOptions, GitHttpServer, TestCa};
    // An HTTPS server whose certificate no system root signed (it answers
    // API paths with 404: what matters is whether TLS got that far).
    let server = GitHttpServer::start(GitHttpOptions { tls: Some(TestCa::new()), ..Default::default() });
    let spec = |insecure: bool| scm(json!({"gitea": {"owner": "o", "api": server.base(), "insecure": insecure}}));
    let verified = scm_provider(&spec(false), false, &Secrets::new(&[])).await.unwrap_err().to_string();
    assert!(verified.contains("certificate") || verified.contains("Unknown"), "{verified}");
    assert!(!verified.contains("HTTP 404"), "{verified}");
    let skipped = scm_provider(&spec(true), false, &Secrets::new(&[])).await.unwrap_err().to_string();
    assert!(skipped.contains("HTTP 404") || skipped.contains("not found"), "{skipped}");
}
