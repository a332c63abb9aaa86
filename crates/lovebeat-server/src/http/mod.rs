//! The HTTP API on port 8080: beats and service changes, views, `/status`,
//! `/metrics` and `/version`.
//!
//! Reads are answered from the published snapshot; writes go through the
//! actor and answer once their effect is visible. Every bad request gets a
//! 4xx with a one-line reason and changes nothing.

mod alerts;
mod render;
mod services;
mod status;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::actor::{EngineHandle, SendError};

pub use render::{ServiceJson, ViewJson, pretty};

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    pub engine: EngineHandle,
    pub version: Arc<str>,
}

/// The API's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/services", get(services::list))
        .route("/api/services/", get(services::list))
        .route(
            "/api/services/{name}",
            get(services::show)
                .post(services::beat)
                .delete(services::delete),
        )
        .route("/api/services/{name}/mute", post(services::mute))
        .route("/api/services/{name}/unmute", post(services::unmute))
        .route("/api/views", get(status::list_views))
        .route("/api/views/", get(status::list_views))
        .route("/api/alarms", get(status::list_alarms))
        .route("/api/alarms/", get(status::list_alarms))
        .route(
            "/api/views/{name}",
            get(status::show_view).delete(status::delete_view),
        )
        .route(
            "/api/alarms/{name}",
            get(status::show_alarm).delete(status::delete_view),
        )
        .route("/api/views/{name}/status", get(status::view_status))
        .route("/api/alarms/{name}/status", get(status::view_status))
        .route("/api/alerts", get(alerts::list))
        .route("/api/alerts/", get(alerts::list))
        .route("/api/alerts/{name}", get(alerts::show))
        .route("/status", get(status::status))
        .route("/api/status", get(status::status))
        .route("/metrics", get(status::metrics))
        .route("/version", get(status::version))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("404 page not found".into())
}

/// A failed request: a status and a one-line reason.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    Conflict(String),
    /// lovebeat is shutting down or overloaded; try again.
    Unavailable,
}

impl From<SendError> for ApiError {
    fn from(_: SendError) -> ApiError {
        ApiError::Unavailable
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, reason) = match self {
            ApiError::BadRequest(r) => (StatusCode::BAD_REQUEST, r),
            ApiError::NotFound(r) => (StatusCode::NOT_FOUND, r),
            ApiError::Conflict(r) => (StatusCode::CONFLICT, r),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "lovebeat is busy or shutting down; retry".to_owned(),
            ),
        };
        let mut response = (status, format!("{reason}\n")).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// Whether the client asked for JSON (`Accept: application/json`, with or
/// without parameters, among other types).
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(is_json_mime)
}

/// Whether a media type (with optional parameters) is `application/json`.
fn is_json_mime(value: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// A JSON response body.
fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A text response body.
fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}
