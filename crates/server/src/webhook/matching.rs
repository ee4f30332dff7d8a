//! Which apps a push concerns: the same repository (URLs compared in one
//! normal form), a target revision the pushed ref moves, and, with
//! `manifest-generate-paths`, a changed file under the app's paths.
//! Pure functions; a doubt always refreshes (an extra comparison costs
//! little, a missed one leaves the app behind Git).

use driftless_api::{Application, ApplicationSource};

use super::parse::{ChartPush, GitPush};

/// Argo CD's annotation: `;`-separated paths whose changes concern the app.
pub const ANNOTATION_MANIFEST_GENERATE_PATHS: &str = "argocd.argoproj.io/manifest-generate-paths";

pub use driftless_source::normalise_url;

/// A branch or tag name without `refs/heads/` or `refs/tags/`.
fn short_ref(r: &str) -> &str {
    let r = r.trim();
    r.strip_prefix("refs/heads/").or_else(|| r.strip_prefix("refs/tags/")).unwrap_or(r)
}

/// Whether a push of `pushed` (a full ref: `refs/heads/x`, `refs/tags/v1`)
/// moves `target` (an app's targetRevision). Empty and `HEAD` mean the
/// default branch: when the payload does not name it, any branch may be
/// it. A semver constraint matches a pushed tag it allows; a commit id is
/// never moved by a push.
pub fn revision_matches(target: &str, pushed: &str, default_branch: Option<&str>) -> bool {
    let target = target.trim();
    let is_tag = pushed.trim().starts_with("refs/tags/");
    let pushed = short_ref(pushed);
    if target.is_empty() || target == "HEAD" {
        return !is_tag && default_branch.map(short_ref).is_none_or(|d| d == pushed);
    }
    short_ref(target) == pushed || (is_tag && driftless_source::version_matches(target, pushed))
}

/// A relative path with `.`, `..` and empty segments resolved; `..` above
/// the root stays at the root.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// Whether any of `changed` (paths from the repository root) lies under a
/// path of `annotation` (`;`-separated; relative to `app_path`, or from the
/// root when it starts with `/`; `.` is the app's path itself).
pub fn paths_touched(annotation: &str, app_path: &str, changed: &[String]) -> bool {
    let dirs: Vec<String> = annotation
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.strip_prefix('/') {
            Some(abs) => clean(abs),
            None => clean(&format!("{app_path}/{p}")),
        })
        .collect();
    changed
        .iter()
        .map(|f| clean(f))
        .any(|f| dirs.iter().any(|d| d.is_empty() || f == *d || f.strip_prefix(d.as_str()).is_some_and(|rest| rest.starts_with('/'))))
}

/// Every source of an app: `spec.sources`, else `spec.source`.
fn sources(app: &Application) -> impl Iterator<Item = &ApplicationSource> {
    app.spec.sources.iter().chain(app.spec.source.iter().filter(|_| app.spec.sources.is_empty()))
}

fn is_chart(s: &ApplicationSource) -> bool {
    s.chart.as_deref().is_some_and(|c| !c.is_empty())
}

/// Whether `push` concerns `app`: a Git source of the pushed repository
/// whose target revision a pushed ref moves, and, when the app has
/// `manifest-generate-paths` and the payload lists the changed files, one
/// of them under those paths (for any such source).
pub fn git_push_concerns(push: &GitPush, app: &Application) -> bool {
    let repos: Vec<String> = push.repo_urls.iter().map(|u| normalise_url(u)).collect();
    let generate_paths = app.metadata.annotations.as_ref().and_then(|a| a.get(ANNOTATION_MANIFEST_GENERATE_PATHS));
    sources(app).filter(|s| !is_chart(s) && !s.repo_url.starts_with("oci://")).any(|s| {
        repos.contains(&normalise_url(&s.repo_url))
            && push.refs.iter().any(|r| revision_matches(s.target_revision.as_deref().unwrap_or(""), r, push.default_branch.as_deref()))
            && match (generate_paths, &push.changed) {
                (Some(paths), Some(changed)) => paths_touched(paths, s.path.as_deref().unwrap_or(""), changed),
                _ => true,
            }
    })
}

/// Whether `push` concerns an ApplicationSet: a git generator anywhere in
/// it (matrix and merge children too) reading the pushed repository at a
/// revision a pushed ref moves. A match makes the set generate again.
pub fn git_push_concerns_set(push: &GitPush, set: &driftless_api::ApplicationSet) -> bool {
    let repos: Vec<String> = push.repo_urls.iter().map(|u| normalise_url(u)).collect();
    let generators = serde_json::to_value(&set.spec.generators).unwrap_or_default();
    let mut pending = vec![&generators];
    while let Some(v) = pending.pop() {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(git) = m.get("git") {
                    let url = git.get("repoURL").and_then(|u| u.as_str()).unwrap_or_default();
                    let revision = git.get("revision").and_then(|r| r.as_str()).unwrap_or_default();
                    if repos.contains(&normalise_url(url))
                        && push.refs.iter().any(|r| revision_matches(revision, r, push.default_branch.as_deref()))
                    {
                        return true;
                    }
                }
                pending.extend(m.values());
            }
            serde_json::Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    false
}

/// Whether a pushed chart or artifact concerns `app`: a source naming that
/// repository (`repoURL` + `chart`, or an `oci://` artifact URL) whose
/// targetRevision the pushed tag satisfies.
pub fn chart_push_concerns(push: &ChartPush, app: &Application) -> bool {
    let pushed = normalise_url(&format!("oci://{}/{}", push.host, push.repository));
    sources(app).any(|s| {
        // A Helm OCI repoURL may come without a scheme (`host/charts`).
        let repo = if s.repo_url.contains("://") { s.repo_url.clone() } else { format!("oci://{}", s.repo_url) };
        let name = match s.chart.as_deref().filter(|c| !c.is_empty()) {
            Some(chart) => normalise_url(&format!("{}/{chart}", repo.trim_end_matches('/'))),
            None if repo.starts_with("oci://") && s.repo_url.contains("://") => normalise_url(&repo),
            None => return false,
        };
        name == pushed && driftless_source::version_matches(s.target_revision.as_deref().unwrap_or(""), &push.tag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn revisions_match_branches_tags_and_head() {
        assert!(revision_matches("main", "refs/heads/main", None));
        assert!(revision_matches("refs/heads/main", "refs/heads/main", None));
        assert!(!revision_matches("main", "refs/heads/dev", Some("main")));
        assert!(revision_matches("HEAD", "refs/heads/main", Some("main")));
        assert!(revision_matches("", "refs/heads/main", Some("refs/heads/main")));
        assert!(!revision_matches("HEAD", "refs/heads/dev", Some("main")));
        assert!(revision_matches("HEAD", "refs/heads/dev", None), "an unknown default branch may be any");
        assert!(!revision_matches("HEAD", "refs/tags/v1", None));
        assert!(revision_matches("v1.2.0", "refs/tags/v1.2.0", None));
        assert!(revision_matches("1.x", "refs/tags/v1.3.0", None));
        assert!(!revision_matches("1.x", "refs/heads/1.3.0", None), "a constraint follows tags, not branches");
        assert!(!revision_matches("0123456789abcdef0123456789abcdef01234567", "refs/heads/main", Some("main")));
    }

    #[test]
    fn generate_paths_are_relative_to_the_app_or_the_root() {
        let changed = |files: &[&str]| files.iter().map(|f| f.to_string()).collect::<Vec<_>>();
        assert!(paths_touched(".", "apps/web", &changed(&["apps/web/deploy.yaml"])));
        assert!(!paths_touched(".", "apps/web", &changed(&["apps/webhook/deploy.yaml", "apps/other/x.yaml"])));
        assert!(paths_touched("../common", "apps/web", &changed(&["apps/common/base.yaml"])));
        assert!(paths_touched("/shared; .", "apps/web", &changed(&["shared/x.yaml"])));
        assert!(paths_touched("/", "apps/web", &changed(&["README.md"])));
        assert!(!paths_touched("/shared", "apps/web", &changed(&["apps/web/x.yaml"])));
        assert!(paths_touched(".", "./apps//web/", &changed(&["apps/web"])));
        assert!(!paths_touched(";;", "apps/web", &changed(&["apps/web/x.yaml"])), "no paths: nothing concerns the app");
        assert!(!paths_touched(".", "apps/web", &[]));
    }

    fn app(annotations: serde_json::Value, mut spec: serde_json::Value) -> Application {
        spec["destination"] = json!({ "server": "https://kubernetes.default.svc" });
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": { "name": "a", "namespace": "n", "annotations": annotations },
            "spec": spec,
        }))
        .expect("valid app")
    }

    fn push(files: Option<&[&str]>) -> GitPush {
        GitPush {
            repo_urls: vec!["https://github.com/org/repo".into()],
            refs: vec!["refs/heads/main".into()],
            default_branch: Some("main".into()),
            changed: files.map(|f| f.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn pushes_concern_apps_of_their_repository_revision_and_paths() {
        let single = |repo: &str, rev: &str| json!({ "source": { "repoURL": repo, "path": "apps/web", "targetRevision": rev } });
        let p = push(Some(&["apps/web/d.yaml"]));
        assert!(git_push_concerns(&p, &app(json!({}), single("git@github.com:org/repo.git", "main"))));
        assert!(git_push_concerns(&p, &app(json!({}), single("https://github.com/org/repo", "HEAD"))));
        assert!(!git_push_concerns(&p, &app(json!({}), single("https://github.com/org/repo", "dev"))));
        assert!(!git_push_concerns(&p, &app(json!({}), single("https://github.com/org/other", "main"))));
        let paths = json!({ ANNOTATION_MANIFEST_GENERATE_PATHS: "." });
        assert!(git_push_concerns(&p, &app(paths.clone(), single("https://github.com/org/repo", "main"))));
        assert!(!git_push_concerns(&push(Some(&["apps/db/x.yaml"])), &app(paths.clone(), single("https://github.com/org/repo", "main"))));
        assert!(git_push_concerns(&push(None), &app(paths, single("https://github.com/org/repo", "main"))), "unknown files: refresh");
        let multi = json!({ "sources": [
            { "repoURL": "https://github.com/org/values", "targetRevision": "main", "ref": "values" },
            { "repoURL": "https://github.com/org/repo", "targetRevision": "main", "path": "apps/web" },
        ] });
        assert!(git_push_concerns(&p, &app(json!({}), multi)));
        let chart = json!({ "source": { "repoURL": "https://github.com/org/repo", "chart": "web", "targetRevision": "main" } });
        assert!(!git_push_concerns(&p, &app(json!({}), chart)), "a chart is not a Git source");
    }

    #[test]
    fn chart_pushes_concern_apps_whose_range_allows_the_tag() {
        let p = ChartPush { host: "127.0.0.1:5000".into(), repository: "charts/web".into(), tag: "1.3.0".into() };
        let chart = |repo: &str, rev: &str| app(json!({}), json!({ "source": { "repoURL": repo, "chart": "web", "targetRevision": rev } }));
        assert!(chart_push_concerns(&p, &chart("oci://127.0.0.1:5000/charts", "1.x")));
        assert!(chart_push_concerns(&p, &chart("127.0.0.1:5000/charts", ">=1.0 <2")));
        assert!(chart_push_concerns(&p, &chart("oci://127.0.0.1:5000/charts/", "1.3.0")));
        assert!(!chart_push_concerns(&p, &chart("oci://127.0.0.1:5000/charts", "2.x")));
        assert!(!chart_push_concerns(&p, &chart("oci://127.0.0.1:5000/other", "1.x")));
        let artifact = app(json!({}), json!({ "source": { "repoURL": "oci://127.0.0.1:5000/charts/web", "targetRevision": "^1.0" } }));
        assert!(chart_push_concerns(&p, &artifact));
        let git = app(json!({}), json!({ "source": { "repoURL": "https://127.0.0.1:5000/charts/web", "targetRevision": "1.x" } }));
        assert!(!chart_push_concerns(&p, &git), "a Git source is no registry artifact");
    }

    #[test]
    fn a_push_refreshes_the_sets_whose_git_generators_read_the_pushed_branch() {
        let set = |generators: serde_json::Value| -> driftless_api::ApplicationSet {
            serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": {"name": "s"},
                "spec": {"generators": generators, "template": {"metadata": {}, "spec": {"destination": {}, "project": ""}}}
            }))
            .unwrap()
        };
        let git = |url: &str, rev: &str| json!({"git": {"repoURL": url, "revision": rev, "directories": [{"path": "*"}]}});
        let p = push(None);
        let url = p.repo_urls[0].clone();
        assert!(git_push_concerns_set(&p, &set(json!([git(&url, "HEAD")]))));
        assert!(
            git_push_concerns_set(&p, &set(json!([{"matrix": {"generators": [git(&url, "main"), {"list": {"elements": []}}]}}]))),
            "nested"
        );
        assert!(!git_push_concerns_set(&p, &set(json!([git(&url, "release")]))), "another branch");
        assert!(!git_push_concerns_set(&p, &set(json!([git("https://example.com/other.git", "HEAD")]))), "another repo");
        assert!(!git_push_concerns_set(&p, &set(json!([{"list": {"elements": [{"repoURL": url}]}}]))), "only git generators");
    }
}
