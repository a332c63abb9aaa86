//! `GET /api/alerts` and `/api/alerts/{name}`: each `[alerts.NAME]` entry
//! with its back-ends, what is pending, and the last delivery error.
//!
//! Read from the alerter's status, never from the actor.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;

use super::{ApiError, AppState, json, pretty};

pub(super) async fn list(State(state): State<Arc<AppState>>) -> Response {
    let entries = state.alerter.status();
    json(pretty(&json!({ "alerts": entries })))
}

pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let entry = state
        .alerter
        .status()
        .into_iter()
        .find(|e| e.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no alert entry {name:?}")))?;
    Ok(json(pretty(&json!({ "alert": entry }))))
}
