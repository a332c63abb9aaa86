//! Health summaries (`/status`, `/api/status`, `/api/views/{name}/status`),
//! the views API, `/metrics` and `/version`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::response::Response;
use lovebeat_core::{DeleteViewError, State as ServiceState};
use serde::{Deserialize, Serialize};

use lovebeat_core::json::{ServiceJson, ViewJson};

use super::{ApiError, AppState, json, pretty, text, wants_json};
use lovebeat_engine::Snapshot;
use lovebeat_telemetry::Format;

/// The summary Nagios checks read. `good` is true when nothing is in error
/// (warnings do not make lovebeat "bad", as lovebeat documents it).
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    pub num_ok: usize,
    pub num_warning: usize,
    pub num_error: usize,
    pub has_warning: bool,
    pub has_error: bool,
    pub good: bool,
}

impl Status {
    fn new(total: usize, warning: usize, error: usize) -> Status {
        Status {
            num_ok: total - warning - error,
            num_warning: warning,
            num_error: error,
            has_warning: warning > 0,
            has_error: error > 0,
            good: error == 0,
        }
    }

    /// All services, or the members of one view. The view `all`, unless
    /// configured, means all services (the legacy built-in view).
    fn of(snapshot: &Snapshot, view: Option<&str>) -> Result<Status, ApiError> {
        match view {
            Some(name) if snapshot.views.contains_key(name) || name != "all" => {
                let v = snapshot.views.get(name).ok_or_else(|| unknown_view(name))?;
                Ok(Status::new(v.members, v.warning, v.error))
            }
            _ => {
                let c = snapshot.counts;
                Ok(Status::new(
                    c.total(),
                    c.get(ServiceState::Warning),
                    c.get(ServiceState::Error),
                ))
            }
        }
    }

    /// The text form: one `key value` a line.
    fn to_text(&self) -> String {
        format!(
            "num_ok {}\nnum_warning {}\nnum_error {}\nhas_warning {}\nhas_error {}\ngood {}\n",
            self.num_ok,
            self.num_warning,
            self.num_error,
            self.has_warning,
            self.has_error,
            self.good
        )
    }
}

/// `/status/store`: whether changes reach the disk. Not part of `/status`,
/// whose lines and keys are fixed (§7.1): while saves fail, lovebeat goes
/// on monitoring from memory, so the services' health is unchanged; this
/// says whether a restart would lose what changed since `saved_through`.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct StoreStatus {
    /// Whether the last save succeeded (true before any save was tried,
    /// and without a store).
    pub ok: bool,
    /// Every change applied before this time (ms since the epoch) is on
    /// disk; 0 before the first save.
    pub saved_through: i64,
    /// Since when saves fail (ms since the epoch); 0 while they succeed.
    pub failing_since: i64,
    /// Failed saves since lovebeat started (each is retried).
    pub save_errors: u64,
    /// Why the last save failed; empty while saves succeed.
    pub error: String,
}

impl StoreStatus {
    fn to_text(&self) -> String {
        format!(
            "ok {}\nsaved_through {}\nfailing_since {}\nsave_errors {}\nerror {}\n",
            self.ok,
            self.saved_through,
            self.failing_since,
            self.save_errors,
            self.error.replace(['\n', '\r'], " ")
        )
    }
}

pub(super) async fn store_status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Response {
    let store = state.engine.store_status().borrow().clone();
    let failure = store.failure;
    let status = StoreStatus {
        ok: failure.is_none(),
        saved_through: store.saved_through,
        failing_since: failure.as_ref().map_or(0, |f| f.since),
        save_errors: store.save_errors,
        error: failure.map(|f| f.error).unwrap_or_default(),
    };
    let mut response = if wants_json(&headers) {
        json(pretty(&status))
    } else {
        text(status.to_text())
    };
    if !status.ok {
        // Monitoring tools that look only at the status code see it too.
        *response.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
    }
    response
}

fn unknown_view(name: &str) -> ApiError {
    ApiError::NotFound(format!("no view named {name:?}"))
}

#[derive(Deserialize)]
pub(super) struct ViewQuery {
    view: Option<String>,
}

fn respond(status: &Status, headers: &HeaderMap) -> Response {
    if wants_json(headers) {
        json(pretty(status))
    } else {
        text(status.to_text())
    }
}

pub(super) async fn status(
    State(state): State<Arc<AppState>>,
    Query(query): Query<ViewQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let snapshot = state.read().await;
    let status = Status::of(&snapshot, query.view.as_deref().filter(|v| !v.is_empty()))?;
    Ok(respond(&status, &headers))
}

pub(super) async fn view_status(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let snapshot = state.read().await;
    let status = Status::of(&snapshot, Some(&name))?;
    Ok(respond(&status, &headers))
}

fn views_body(snapshot: &Snapshot, key: &'static str) -> String {
    let views: Vec<ViewJson> = snapshot.views.values().map(|v| ViewJson::new(v)).collect();
    let mut body = serde_json::Map::new();
    body.insert(
        key.into(),
        serde_json::to_value(views).expect("views serialize"),
    );
    body.insert("now".into(), lovebeat_core::clock::now_ms().into());
    pretty(&body)
}

pub(super) async fn list_views(State(state): State<Arc<AppState>>) -> Response {
    json(views_body(&*state.read().await, "views"))
}

pub(super) async fn list_alarms(State(state): State<Arc<AppState>>) -> Response {
    json(views_body(&*state.read().await, "alarms"))
}

fn view_body(snapshot: &Snapshot, name: &str, key: &'static str) -> Result<String, ApiError> {
    let view = snapshot.views.get(name).ok_or_else(|| unknown_view(name))?;
    let services: Vec<ServiceJson> = snapshot
        .members(name)
        .map(|s| ServiceJson::new(s))
        .collect();
    let mut body = serde_json::Map::new();
    body.insert(
        key.into(),
        serde_json::to_value(ViewJson::new(view)).expect("views serialize"),
    );
    body.insert(
        "services".into(),
        serde_json::to_value(services).expect("services serialize"),
    );
    body.insert("now".into(), lovebeat_core::clock::now_ms().into());
    Ok(pretty(&body))
}

pub(super) async fn show_view(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(view_body(&*state.read().await, &name, "view")?))
}

pub(super) async fn show_alarm(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(view_body(&*state.read().await, &name, "alarm")?))
}

pub(super) async fn delete_view(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    match state.engine.delete_view(&name).await? {
        Ok(()) => Ok(json("{}\n".into())),
        Err(DeleteViewError::NotFound) => Err(unknown_view(&name)),
        Err(e @ DeleteViewError::HasMembers(_)) => {
            Err(ApiError::Conflict(format!("view {name:?}: {e}")))
        }
    }
}

/// `/metrics`: encoded off the async workers, from the latest snapshot.
pub(super) async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(
        headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    // No read barrier: a scrape never waits on the engine queue; it shows
    // the latest published snapshot (at most 50 ms behind a plain beat).
    let metrics = state.metrics.clone();
    match tokio::task::spawn_blocking(move || metrics.render(format)).await {
        Ok(body) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering /metrics failed");
            ApiError::Unavailable.into_response()
        }
    }
}

pub(super) async fn version(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    #[derive(Serialize)]
    struct Version<'a> {
        version: &'a str,
    }
    if wants_json(&headers) {
        json(pretty(&Version {
            version: &state.version,
        }))
    } else {
        text(format!("{}\n", state.version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_has_the_legacy_keys_in_order() {
        let s = Status::new(6, 1, 2);
        assert_eq!(
            s.to_text(),
            "num_ok 3\nnum_warning 1\nnum_error 2\nhas_warning true\nhas_error true\ngood false\n"
        );
    }

    #[test]
    fn warnings_alone_are_good() {
        let s = Status::new(2, 1, 0);
        assert!(s.good && s.has_warning && !s.has_error);
    }
}
