//! `GET /api/v1/stream/applications`: server-sent events of app changes,
//! `{"result":{"type":"ADDED|MODIFIED|DELETED","application":{...}}}` as
//! Argo CD's watch sends them, with the list's filters and the caller's
//! permissions applied to each.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt as _};
use tokio::sync::broadcast::error::RecvError;

use super::apps::Filter;
use super::query_pairs;
use crate::auth::Identity;
use crate::error::ApiError;
use crate::state::AppState;

/// Streams changes from now on, until the client goes away.
pub async fn watch(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    RawQuery(raw): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let filter = Filter::parse(&query_pairs(raw.as_deref()))?;
    let rx = state.store.subscribe();
    let mut stopping = state.stopping.subscribe();
    let stream = futures::stream::unfold((rx, state, who, filter), |(mut rx, state, who, filter)| async move {
        loop {
            match rx.recv().await {
                Ok(change) => {
                    let allowed = state.app_visible(&change.app, &state.projects.snapshot())
                        && state.allowed(&state.policy(), &who, "applications", "get", &state.app_object(&change.app));
                    if !allowed || !filter.matches(&change.app) {
                        continue;
                    }
                    let data = serde_json::json!({ "result": { "type": change.kind, "application": change.app.as_ref() } });
                    let event = Event::default().data(data.to_string());
                    return Some((Ok(event), (rx, state, who, filter)));
                }
                // A slow client missed changes: it reloads when its stream
                // ends and the browser reconnects.
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!("event stream client missed {n} changes; closing it");
                    return None;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let stream = stream.take_until(async move {
        let _ = stopping.wait_for(|s| *s).await;
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
