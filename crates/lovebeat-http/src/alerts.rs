//! `GET /api/alerts` and `/api/alerts/{name}`: each `[alerts.NAME]` entry
//! with its back-ends, what is pending, and the last delivery error; and
//! `POST /api/views/{name}/ack` (also `/api/alarms/…`): acknowledge a
//! failing view with an `author` and an optional `comment` (query, form or
//! JSON), through the engine (which checks it and publishes it to the
//! event log and the alerter); its entries are told, and its reminders
//! stop until its next change.
//!
//! Read from the alerter's status, never from the actor.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use lovebeat_core::clock::now_ms;
use lovebeat_core::{AckRefused, Acknowledgement};
use serde_json::json;

use super::signals::{param, params};
use super::{ApiError, AppState, json, pretty};

/// Longest author an acknowledgement takes, in bytes.
const MAX_AUTHOR: usize = 255;
/// Longest comment, in bytes (a line's worth).
const MAX_COMMENT: usize = 1024;

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

pub(super) async fn acknowledge(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let pairs = params(query, &headers, &body)?;
    let author = param(&pairs, "author").unwrap_or("").trim();
    let comment = param(&pairs, "comment").unwrap_or("").trim();
    if author.is_empty() {
        return Err(ApiError::BadRequest(
            "author is required: who acknowledges (author=NAME)".to_owned(),
        ));
    }
    if author.len() > MAX_AUTHOR || comment.len() > MAX_COMMENT {
        return Err(ApiError::BadRequest(format!(
            "author is at most {MAX_AUTHOR} bytes and comment {MAX_COMMENT}"
        )));
    }
    let ack = Acknowledgement {
        name: name.as_str().into(),
        author: author.to_owned(),
        comment: comment.to_owned(),
        at: now_ms(),
    };
    match state.engine.acknowledge(ack.clone()).await? {
        Ok(()) => {}
        Err(AckRefused::NotFound) => {
            return Err(ApiError::NotFound(format!("no view named {name:?}")));
        }
        Err(e @ AckRefused::NotFailing(_)) => {
            return Err(ApiError::Conflict(format!("view {name:?}: {e}")));
        }
    }
    Ok(json(pretty(&json!({
        "view": name,
        "acknowledged": {
            "author": ack.author,
            "comment": ack.comment,
            "timestamp": lovebeat_alert::format::rfc3339(ack.at),
        },
    }))))
}
