//! `POST /api/webhook`: Git providers' push events and registries' push
//! notifications, as Argo CD takes them. A push refreshes the apps it
//! concerns ([`matching`]) by setting the refresh annotation, so the
//! controller compares them at once instead of at the next resync; apps
//! refreshed together share one Git fetch (the controller's cache joins
//! concurrent fetches of one repository).
//!
//! The path needs no login. When `argocd-secret` holds the provider's
//! secret, a request without a valid signature is refused and changes
//! nothing; without one, anyone may ask for refreshes, which is all a
//! webhook can cause. Hardened as Argo CD after CVE-2025-59531/59538: a
//! body limit (`webhook.maxPayloadSizeMB` of argocd-cm, 413 beyond), a
//! deadline for the body, rate limits per source address and overall and
//! a cap on concurrent requests (429), and a parser that never panics.

pub mod limit;
pub mod matching;
pub mod parse;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::{Extension, Json};
use driftless_api::{ANNOTATION_REFRESH, ANNOTATION_REFRESH_SINCE, Application};
use futures::StreamExt as _;
use http::StatusCode;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;
use parse::{Event, Secrets, WebhookError};

pub use limit::Limits;

/// argocd-cm's body limit, in MiB.
pub const MAX_PAYLOAD_KEY: &str = "webhook.maxPayloadSizeMB";
/// Argo CD's default body limit, in MiB.
const DEFAULT_MAX_PAYLOAD_MB: u64 = 50;
/// How long a sender may take to deliver its body: a slow sender holds a
/// request slot no longer than this.
const BODY_DEADLINE: Duration = Duration::from_secs(30);
/// Refresh patches sent at once.
const PATCHES_AT_ONCE: usize = 16;

/// The body limit in bytes: argocd-cm's `webhook.maxPayloadSizeMB`, else
/// 50 MiB (also when the value is not a positive number, which is logged).
pub fn max_payload(cm: &std::collections::BTreeMap<String, String>) -> usize {
    let mb = match cm.get(MAX_PAYLOAD_KEY).map(|v| v.trim()) {
        None => DEFAULT_MAX_PAYLOAD_MB,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                tracing::warn!("argocd-cm {MAX_PAYLOAD_KEY}: {v:?} is not a positive number of MiB; using {DEFAULT_MAX_PAYLOAD_MB}");
                DEFAULT_MAX_PAYLOAD_MB
            }
        },
    };
    usize::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("webhook payload larger than {} MiB ({MAX_PAYLOAD_KEY} of argocd-cm)", max / (1024 * 1024)),
    )
}

/// The body, refused beyond `max` bytes (before reading it, when
/// Content-Length says so) or when it takes longer than [`BODY_DEADLINE`].
async fn read_body(headers: &http::HeaderMap, body: axum::body::Body, max: usize) -> Result<Vec<u8>, ApiError> {
    let declared = headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large(max));
    }
    let read = async {
        let mut stream = body.into_data_stream();
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ApiError::bad_request(format!("webhook body: {e}")))?;
            if out.len().saturating_add(chunk.len()) > max {
                return Err(too_large(max));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    };
    tokio::time::timeout(BODY_DEADLINE, read)
        .await
        .map_err(|_| ApiError::new(StatusCode::REQUEST_TIMEOUT, format!("webhook body not received within {BODY_DEADLINE:?}")))?
}

fn refused(e: WebhookError) -> ApiError {
    match &e {
        WebhookError::MissingSignature { .. } => ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()),
        WebhookError::BadSignature { .. } => ApiError::forbidden(e.to_string()),
        WebhookError::Unknown | WebhookError::Malformed { .. } => ApiError::bad_request(e.to_string()),
    }
}

/// `POST /api/webhook`.
pub async fn receive(
    State(state): State<Arc<AppState>>,
    Extension(limits): Extension<Arc<Limits>>,
    req: Request,
) -> Result<Json<Value>, ApiError> {
    let source = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let _slot = limits.admit(source, Instant::now())?;
    let (parts, body) = req.into_parts();
    let body = read_body(&parts.headers, body, max_payload(&state.settings.argocd_cm())).await?;
    let secrets = Secrets::from_keys(|k| state.settings.secret_value(k));
    let event = parse::parse(&parts.headers, &body, &secrets).map_err(|e| {
        if e.is_auth() {
            tracing::warn!(source = ?source, "webhook refused: {e}");
        }
        refused(e)
    })?;
    drop(body);
    let refreshed = match event {
        Event::Ignored(why) => return Ok(Json(json!({ "message": format!("ignored: {why}") }))),
        Event::Git(push) => {
            let sets = refresh_sets(&state, &push).await;
            tracing::info!(source = ?source, refreshed = ?sets, "webhook: refreshed {} ApplicationSet(s)", sets.len());
            refresh(&state, move |app| matching::git_push_concerns(&push, app)).await?
        }
        Event::Charts(pushes) => refresh(&state, move |app| pushes.iter().any(|p| matching::chart_push_concerns(p, app))).await?,
    };
    tracing::info!(source = ?source, refreshed = ?refreshed, "webhook: refreshed {} app(s)", refreshed.len());
    // How many apps a push concerns is not told to an anonymous caller.
    Ok(Json(json!({ "message": "received" })))
}

/// Sets the refresh annotation on every app the server shows that
/// `concerns` picks (unless one is pending already); returns them as
/// `namespace/name`.
async fn refresh(state: &AppState, concerns: impl Fn(&Application) -> bool + Send + 'static) -> Result<Vec<String>, ApiError> {
    state.apps_ready().await?;
    let projects = state.projects.snapshot();
    let shown = state.store.select(|a| {
        a.metadata.deletion_timestamp.is_none()
            && !a.metadata.annotations.as_ref().is_some_and(|m| m.contains_key(ANNOTATION_REFRESH))
            && state.app_visible(a, &projects)
    });
    // Matching thousands of apps against thousands of files is CPU work:
    // off the request threads.
    let picked = tokio::task::spawn_blocking(move || shown.into_iter().filter(|a| concerns(a)).collect::<Vec<_>>())
        .await
        .map_err(|e| ApiError::internal("match apps to the webhook", e))?;
    // Any fetch begun from now on has the push: the controller shares one
    // among every app refreshed here.
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    let patch = json!({ "metadata": { "annotations": { ANNOTATION_REFRESH: "normal", ANNOTATION_REFRESH_SINCE: since.to_string() } } });
    let results = futures::stream::iter(picked)
        .map(|app| {
            let patch = &patch;
            async move {
                let (ns, name) = crate::store::key(&app);
                let api: Api<Application> = Api::namespaced(state.client.clone(), &ns);
                match api.patch(&name, &PatchParams::default(), &Patch::Merge(patch)).await {
                    Ok(_) => Some(format!("{ns}/{name}")),
                    // Deleted since: nothing to refresh.
                    Err(kube::Error::Api(s)) if s.code == 404 => None,
                    Err(e) => {
                        tracing::warn!("webhook: refresh application {ns}/{name}: {e}");
                        None
                    }
                }
            }
        })
        .buffer_unordered(PATCHES_AT_ONCE)
        .collect::<Vec<_>>()
        .await;
    Ok(results.into_iter().flatten().collect())
}

/// Sets `argocd.argoproj.io/application-set-refresh` on every
/// ApplicationSet whose git generators read the pushed repository, as
/// Argo CD's webhook does; returns them as `namespace/name`. A failure is
/// logged: the sets' own requeue still finds the commit.
async fn refresh_sets(state: &AppState, push: &crate::webhook::parse::GitPush) -> Vec<String> {
    let api: Api<driftless_api::ApplicationSet> = if state.config.tenancy.appset_namespaces.is_empty() {
        Api::namespaced(state.client.clone(), &state.config.tenancy.control_plane)
    } else {
        Api::all(state.client.clone())
    };
    let sets = match api.list(&Default::default()).await {
        Ok(list) => list.items,
        Err(e) => {
            tracing::warn!("webhook: listing ApplicationSets: {e}");
            return Vec::new();
        }
    };
    let patch = json!({ "metadata": { "annotations": { driftless_api::ANNOTATION_APPSET_REFRESH: "true" } } });
    let mut refreshed = Vec::new();
    for set in sets.iter().filter(|s| matching::git_push_concerns_set(push, s)) {
        let (ns, name) = (set.metadata.namespace.clone().unwrap_or_default(), set.metadata.name.clone().unwrap_or_default());
        if !state.config.tenancy.appset_namespace_enabled(&ns) {
            continue;
        }
        let api: Api<driftless_api::ApplicationSet> = Api::namespaced(state.client.clone(), &ns);
        match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => refreshed.push(format!("{ns}/{name}")),
            Err(e) => tracing::warn!("webhook: refresh ApplicationSet {ns}/{name}: {e}"),
        }
    }
    refreshed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_body_limit_comes_from_argocd_cm() {
        let cm = |v: &str| BTreeMap::from([(MAX_PAYLOAD_KEY.to_string(), v.to_string())]);
        assert_eq!(max_payload(&BTreeMap::new()), 50 * 1024 * 1024);
        assert_eq!(max_payload(&cm("1")), 1024 * 1024);
        assert_eq!(max_payload(&cm(" 2 ")), 2 * 1024 * 1024);
        for bad in ["0", "-1", "lots", ""] {
            assert_eq!(max_payload(&cm(bad)), 50 * 1024 * 1024, "{bad:?}");
        }
        assert!(max_payload(&cm(&u64::MAX.to_string())) > 0);
    }
}
