//! Argo CD's template functions (`repo`, `time`, `strings`, `sync`), reached
//! through Go's `call`: `{{call .repo.RepoURLToHTTPS .app.spec.source.repoURL}}`.
//!
//! Differences, said where they arise: `time.Now` and `time.Parse` give
//! RFC 3339 text (templates cannot call methods on a Go time), and
//! `repo.GetCommitMetadata`/`repo.GetAppDetails` answer "not supported".

use std::sync::Arc;

use driftless_gotemplate::{HostFn, HostFuncs, query_escape};
use serde_json::Value;

/// Every function, by the name `call` reaches it under; built once.
pub(crate) static HOST_FUNCS: std::sync::LazyLock<HostFuncs> = std::sync::LazyLock::new(host_funcs);

fn host_funcs() -> HostFuncs {
    let unsupported = |name: &'static str| -> HostFn {
        Arc::new(move |_: &[Value]| Err(format!("{name} is not supported by driftless notifications yet")))
    };
    HostFuncs::default()
        .with("repo.RepoURLToHTTPS", Arc::new(|a: &[Value]| Ok(Value::String(repo_url_to_https(&one_str(a)?)))))
        .with("repo.FullNameByRepoURL", Arc::new(|a: &[Value]| Ok(Value::String(full_name_by_repo_url(&one_str(a)?)))))
        .with("repo.QueryEscape", Arc::new(|a: &[Value]| Ok(Value::String(query_escape(&one_str(a)?)))))
        .with("repo.GetCommitMetadata", unsupported("repo.GetCommitMetadata"))
        .with("repo.GetAppDetails", unsupported("repo.GetAppDetails"))
        .with("time.Now", Arc::new(|_: &[Value]| Ok(Value::String(jiff::Timestamp::now().to_string()))))
        .with(
            "time.Parse",
            Arc::new(|a: &[Value]| {
                let s = one_str(a)?;
                s.parse::<jiff::Timestamp>().map(|t| Value::String(t.to_string())).map_err(|e| format!("time.Parse {s:?}: {e}"))
            }),
        )
        .with("strings.ToUpper", Arc::new(|a: &[Value]| Ok(Value::String(one_str(a)?.to_uppercase()))))
        .with("strings.ToLower", Arc::new(|a: &[Value]| Ok(Value::String(one_str(a)?.to_lowercase()))))
        .with(
            "strings.ReplaceAll",
            Arc::new(|a: &[Value]| match a {
                [Value::String(s), Value::String(old), Value::String(new)] => Ok(Value::String(s.replace(old.as_str(), new))),
                _ => Err("strings.ReplaceAll wants three strings".into()),
            }),
        )
        .with(
            "sync.GetInfoItem",
            Arc::new(|a: &[Value]| match a {
                [app, Value::String(name)] => info_item(app, name).map(Value::String),
                _ => Err("sync.GetInfoItem wants the app and a name".into()),
            }),
        )
}

fn one_str(args: &[Value]) -> Result<String, String> {
    match args {
        [Value::String(s)] => Ok(s.clone()),
        [other] => Err(format!("wants a string, got {other}")),
        _ => Err(format!("wants one argument, got {}", args.len())),
    }
}

/// Argo CD's `repo.RepoURLToHTTPS`: the same repository over HTTPS,
/// without user info (a `.git` suffix stays).
pub(crate) fn repo_url_to_https(url: &str) -> String {
    match crate::services::repo_url::host_and_path(url) {
        Ok((host, path)) if !host.is_empty() => format!("https://{host}/{}", path.trim_start_matches('/')),
        _ => url.to_string(),
    }
}

/// Argo CD's `repo.FullNameByRepoURL`: `owner/repo`.
pub(crate) fn full_name_by_repo_url(url: &str) -> String {
    match crate::services::repo_url::segments(url) {
        Ok(parts) => parts[..2].join("/"),
        Err(_) => url.to_string(),
    }
}

/// Argo CD's `sync.GetInfoItem`: a `name`'s value in the sync's `info`
/// (the requested operation's, else the running or last one's).
fn info_item(app: &Value, name: &str) -> Result<String, String> {
    let info = app
        .pointer("/operation/info")
        .or_else(|| app.pointer("/status/operationState/operation/info"))
        .and_then(Value::as_array)
        .ok_or_else(|| "the app has no operation info".to_string())?;
    info.iter()
        .find(|i| i["name"] == name)
        .and_then(|i| i["value"].as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("the operation info has no item {name:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_urls_as_argo_cd_writes_them() {
        assert_eq!(repo_url_to_https("git@github.com:org/repo.git"), "https://github.com/org/repo.git");
        assert_eq!(repo_url_to_https("ssh://git@gitlab.example.com:2222/group/sub/repo"), "https://gitlab.example.com/group/sub/repo");
        assert_eq!(repo_url_to_https("https://user:secret@github.com/org/repo"), "https://github.com/org/repo");
        assert_eq!(full_name_by_repo_url("https://github.com/org/repo.git"), "org/repo");
        assert_eq!(full_name_by_repo_url("git@github.com:org/repo.git"), "org/repo");
        assert_eq!(full_name_by_repo_url("not a url"), "not a url");
        assert_eq!(query_escape("a b/c?d=é"), "a+b%2Fc%3Fd%3D%C3%A9");
    }

    #[test]
    fn info_items_come_from_the_operation() {
        let app = serde_json::json!({"status": {"operationState": {"operation": {"info": [{"name": "reason", "value": "hotfix"}]}}}});
        assert_eq!(info_item(&app, "reason").unwrap(), "hotfix");
        assert!(info_item(&app, "other").unwrap_err().contains("no item"));
        assert!(info_item(&serde_json::json!({}), "x").is_err());
    }
}
