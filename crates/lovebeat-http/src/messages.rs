//! `/api/messages`: the status page's incident messages. `POST
//! /api/messages` (`text`, or `message`, as form or JSON) posts one and
//! answers it with its id; `POST /api/messages/{id}/resolve` resolves it;
//! `GET /api/messages` lists them all. The page itself only reads them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use lovebeat_store::MessageRecord;

use super::signals::{param, params};
use super::{ApiError, AppState, json, pretty};
use lovebeat_core::clock::now_ms;
use lovebeat_monitors::messages::MessageError;

pub(super) async fn post(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let pairs = params(query, &headers, &body)?;
    let text = param(&pairs, "text")
        .or_else(|| param(&pairs, "message"))
        .unwrap_or("")
        .to_owned();
    let board = state.messages.clone();
    let record = run(move || board.post(&text, now_ms())).await?;
    Ok((StatusCode::CREATED, json(pretty(&record))).into_response())
}

pub(super) async fn resolve(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("invalid message id {id:?}")))?;
    let board = state.messages.clone();
    let record = run(move || board.resolve(id, now_ms())).await?;
    Ok(json(pretty(&record)))
}

pub(super) async fn list(State(state): State<Arc<AppState>>) -> Response {
    let messages: Vec<MessageRecord> = state.messages.list();
    json(pretty(&serde_json::json!({ "messages": messages })))
}

/// Runs a board call (which flushes the store) off the async workers.
async fn run(
    f: impl FnOnce() -> Result<MessageRecord, MessageError> + Send + 'static,
) -> Result<MessageRecord, ApiError> {
    let result = tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::Unavailable)?;
    result.map_err(|e| match e {
        MessageError::NotFound => ApiError::NotFound(e.to_string()),
        MessageError::Store(_) => {
            tracing::error!(error = %e, "message store failed");
            ApiError::Unavailable
        }
        MessageError::Empty | MessageError::TooLong => ApiError::BadRequest(e.to_string()),
        MessageError::TooMany => ApiError::Conflict(e.to_string()),
    })
}
