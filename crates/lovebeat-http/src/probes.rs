//! `GET /api/checks`: every probe with its last result and recent
//! latencies; `GET /api/checks/{name}` for one. The endpoint is named
//! after the config key the probes come from (`[[checks]]`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;

use super::{ApiError, AppState, json, pretty};

pub(super) async fn list(State(state): State<Arc<AppState>>) -> Response {
    json(pretty(
        &serde_json::json!({ "checks": state.checks.list() }),
    ))
}

pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let probe = (state.checks.get(&name))
        .ok_or_else(|| ApiError::NotFound(format!("no check named {name:?}")))?;
    Ok(json(pretty(&probe)))
}
