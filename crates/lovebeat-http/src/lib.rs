//! Every HTTP endpoint on port 8080, and where each is answered:
//!
//! | path | module |
//! |---|---|
//! | `/`, `/services`, `/views/{name}`, `/ui/*` (the dashboard) | `ui` |
//! | `/ws` (the dashboard's live events) | `ws` |
//! | `/api/services[/{name}[/mute\|/unmute]]` (beats and changes) | `services`, and `plain_beat` in front of the router |
//! | `/api/views…`, `/api/alarms…`, `/status`, `/api/status`, `/status/store`, `/metrics`, `/version` | `status` |
//! | `/api/alerts[/{name}]`, `/api/views/{name}/ack` | `alerts` |
//! | `/signal`, `/checks[/{application}]`, `/api/tokens/{name}` (statuscope's API) | `signals` |
//! | `/api/checks[/{name}]` (probe results; the path follows `[[checks]]`) | `probes` |
//! | `/api/messages…` and `/status-page` | `messages`, `status_page` |
//!
//! Every request first passes `guard` (changes asked by another site's
//! page, bearer tokens from `access`, body limits) and is served by
//! `serve` (connection limits from `connections`, timeouts, the write
//! deadline of `deadline`).
//! It owns no state of its own beyond its limits: it reads the engine's
//! snapshots and the monitors' books, and it must never import ingest,
//! operations or the daemon.
//!
//! Reads are answered from the published snapshot past the engine's
//! [`ReadBarrier`](lovebeat_engine::ReadBarrier); writes go through the
//! actor and answer once their effect is visible, except a plain beat of
//! a healthy service, answered once queued before the router
//! (`plain_beat`): the barrier makes reads wait for those, so a read after
//! any answered write sees it. Every bad request gets a 4xx with a
//! one-line reason and changes nothing. With `[http] base_path` every
//! route moves under that path (`/monitoring/lovebeat/api/services`) and
//! nothing is served outside it.

mod access;
mod alerts;
mod connections;
mod deadline;
mod guard;
mod listing;
mod messages;
mod plain_beat;
mod probes;
mod render;
mod serve;
mod services;
mod signals;
mod status;
mod status_page;
mod ui;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Semaphore;

use lovebeat_alert::Alerter;
use lovebeat_engine::{EngineHandle, SendError, Snapshot};
use lovebeat_monitors::history::StateHistory;
use lovebeat_monitors::messages::MessageBoard;
use lovebeat_monitors::probes::ProbeBoard;
use lovebeat_monitors::signals::TokenBook;
use lovebeat_telemetry::Metrics;

pub use access::Tokens;
pub use plain_beat::HttpService;
pub use serve::serve;
pub use services::beat_batch;
pub use signals::StatuscopeMetrics;
pub use status_page::StatusPageSettings;
pub use ui::{PageTicket, normalize_path};

use crate::render::pretty;

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    /// Where writes go and reads come from.
    pub engine: EngineHandle,
    /// What is counted, and `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Where view changes become alerts (`/api/alerts`).
    pub alerter: Alerter,
    pub version: Arc<str>,
    /// Where everything is served: `""` (the root) or a path like
    /// `/monitoring/lovebeat`, as [`normalize_path`] leaves it.
    pub base_path: Arc<str>,
    /// Push tokens (`/signal`, `/api/tokens`).
    pub tokens: Arc<TokenBook>,
    /// Incident messages (`/api/messages`, the status page).
    pub messages: Arc<MessageBoard>,
    /// The last 24 hours, for the status page's bars.
    pub history: Arc<StateHistory>,
    /// Active check results (`/api/checks`, the status page).
    pub checks: Arc<ProbeBoard>,
    pub status_page: Arc<StatusPageSettings>,
    pub limits: Arc<HttpLimits>,
    pub access: Arc<HttpAccess>,
    /// One permit per websocket client (`[limits] websockets`).
    pub websockets: Arc<Semaphore>,
    /// What the dashboard page shows the websocket (`ui::PageTicket`).
    pub page_ticket: Arc<PageTicket>,
}

impl AppState {
    /// A state with default limits, no access control, no alerts, and no
    /// tokens, messages, history or checks yet.
    pub fn new(engine: EngineHandle, version: &str, base_path: &str) -> AppState {
        AppState {
            engine,
            metrics: Arc::default(),
            alerter: Alerter::disabled(),
            version: version.into(),
            base_path: base_path.into(),
            tokens: Arc::default(),
            messages: Arc::default(),
            history: Arc::default(),
            checks: Arc::default(),
            status_page: Arc::default(),
            websockets: Arc::new(Semaphore::new(HttpLimits::default().websockets)),
            page_ticket: Arc::new(PageTicket::random()),
            limits: Arc::default(),
            access: Arc::default(),
        }
    }

    /// The snapshot an API read answers from: past the engine's
    /// [`ReadBarrier`](lovebeat_engine::ReadBarrier), it shows every beat
    /// answered before the read began.
    async fn read(&self) -> Arc<Snapshot> {
        self.engine.read(self.limits.queue_wait).await
    }

    /// The same state under other limits and access rules.
    pub fn limited(self, limits: HttpLimits, access: HttpAccess) -> AppState {
        AppState {
            websockets: Arc::new(Semaphore::new(limits.websockets)),
            limits: Arc::new(limits),
            access: Arc::new(access),
            ..self
        }
    }
}

/// `[limits]` of the HTTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Open HTTP connections; past it a newcomer takes the place of a
    /// connection of the source holding the most, if that holds more than
    /// the newcomer's source, or is closed at once (`connections`).
    pub connections: usize,
    /// Open HTTP connections of one source address; past it the source's
    /// connection idle longest makes room, or the newcomer is closed.
    pub connections_per_source: usize,
    /// How long a connection may take to take in what it is owed: an
    /// answer (or a chunk of a streamed one) not read within it closes the
    /// connection.
    pub write_timeout: Duration,
    /// Bytes of large answers made whole (`/metrics`, the status page)
    /// that may be waiting to be written at once; one more is answered 503.
    pub answer_memory: usize,
    /// The largest request body (413 beyond).
    pub body: usize,
    /// How long a request's head, and then its body, may take to arrive.
    pub read_timeout: Duration,
    /// Websocket clients at once (503 beyond).
    pub websockets: usize,
    /// How long a change waits for room in the engine queue before it is
    /// answered 503 with Retry-After.
    pub queue_wait: Duration,
    /// The longest failure message kept, in bytes (`[limits]
    /// message_length`); a longer one is cut, and marked so.
    pub message: usize,
    /// The most push tokens (`[limits] services`: one a service); a new
    /// one beyond is answered 429.
    pub tokens: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            connections: 1024,
            connections_per_source: 128,
            write_timeout: Duration::from_secs(10),
            answer_memory: 64 << 20,
            body: 64 * 1024,
            read_timeout: Duration::from_secs(10),
            websockets: 256,
            queue_wait: Duration::from_secs(1),
            message: 1024,
            tokens: 100_000,
        }
    }
}

/// `[http]` access control: tokens, and which pages a browser may act for
/// (change anything, open the websocket): those of a host lovebeat is
/// served as, and `allowed_origins`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpAccess {
    pub tokens: Tokens,
    /// `scheme://host[:port]` of other sites' pages allowed to change
    /// things and open `/ws`; `*` for any.
    pub allowed_origins: Vec<String>,
    /// `host[:port]` lovebeat is served as (`[http] hosts`); empty: the
    /// `Host` each request names.
    pub hosts: Vec<String>,
}

/// Every route, under `state.base_path`. Handlers share one state: a
/// request clones one `Arc`, not each of its fields.
pub fn router(state: AppState) -> Router {
    router_of(Arc::new(state))
}

fn router_of(state: Arc<AppState>) -> Router {
    let base = state.base_path.clone();
    if base.is_empty() {
        return routes(&state).with_state(state);
    }
    // `nest` serves the inner `/` at `{base}` only; the page's relative
    // URLs are made for `{base}/`, and its `<base href>` makes either work.
    Router::new()
        .route(&format!("{base}/"), get(ui::index))
        .nest(&base, routes(&state))
        .fallback(not_found)
        .with_state(state)
}

/// The routes, relative to the base path, behind the cross-site check, the
/// token check and the body limits (`guard`).
fn routes(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(ui::index))
        .route("/services", get(ui::index))
        .route("/alarms/{name}", get(ui::index))
        .route("/views/{name}", get(ui::index))
        .route("/ui/app.js", get(ui::script))
        .route("/ui/app.css", get(ui::style))
        .route("/ui/icon.svg", get(ui::icon))
        .route("/ws", get(ws::upgrade))
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
        .route("/api/views/{name}/ack", post(alerts::acknowledge))
        .route("/api/alarms/{name}/ack", post(alerts::acknowledge))
        .route("/api/alarms/{name}/status", get(status::view_status))
        .route("/api/alerts", get(alerts::list))
        .route("/api/alerts/", get(alerts::list))
        .route("/api/alerts/{name}", get(alerts::show))
        .route("/status", get(status::status))
        .route("/status/store", get(status::store_status))
        .route("/api/status", get(status::status))
        .route("/metrics", get(status::metrics))
        .route("/version", get(status::version))
        .route("/signal", post(signals::signal))
        .route("/checks", get(signals::list))
        .route("/checks/{application}", get(signals::show))
        .route(
            "/api/tokens/{name}",
            post(signals::issue).delete(signals::remove),
        )
        .route("/api/messages", get(messages::list).post(messages::post))
        .route("/api/messages/{id}/resolve", post(messages::resolve))
        .route("/api/checks", get(probes::list))
        .route("/api/checks/{name}", get(probes::show))
        .route("/status-page", get(status_page::page))
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), guard::buffer_body))
        .layer(from_fn_with_state(state.clone(), guard::authorize))
        .layer(from_fn_with_state(state.clone(), guard::refuse_cross_site))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("404 page not found".into())
}

/// A failed request: a status and a one-line reason.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    /// A wrong or missing push token.
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    /// A limit that waiting will not lift (`[limits] services`): 429.
    Limited(String),
    /// lovebeat is shutting down or overloaded; try again.
    Unavailable,
}

impl From<SendError> for ApiError {
    fn from(_: SendError) -> ApiError {
        ApiError::Unavailable
    }
}

impl ApiError {
    /// The one-line reason a client gets.
    pub fn reason(&self) -> &str {
        match self {
            ApiError::BadRequest(r)
            | ApiError::Forbidden(r)
            | ApiError::NotFound(r)
            | ApiError::Conflict(r)
            | ApiError::Limited(r) => r,
            ApiError::Unavailable => "lovebeat is busy or shutting down; retry",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Limited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut response = (status, format!("{}\n", self.reason())).into_response();
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use lovebeat_core::{Engine, EngineConfig};
    use tower::ServiceExt;

    fn app(base_path: &str) -> Router {
        let engine = Engine::new(EngineConfig::default(), 0);
        let counters = Arc::new(lovebeat_telemetry::Metrics::new("test"));
        let (_actor, engine) =
            lovebeat_engine::Actor::new(engine, 1, counters, lovebeat_alert::Alerter::disabled());
        router(AppState::new(engine, "1.2.3", base_path))
    }

    /// GET `path`: status, Location header and body.
    async fn get(app: &Router, path: &str) -> (u16, String, String) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            location,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn a_change_is_answered_503_with_retry_after_when_the_queue_stays_full() {
        let engine = Engine::new(EngineConfig::default(), 0);
        let alerter = lovebeat_alert::Alerter::disabled();
        let metrics = Arc::new(Metrics::default());
        let (_actor, handle) = lovebeat_engine::Actor::new(engine, 1, metrics.clone(), alerter);
        handle.try_send(lovebeat_engine::Batch::new()).unwrap();
        let limits = HttpLimits {
            queue_wait: Duration::from_millis(50),
            ..HttpLimits::default()
        };
        let state = AppState {
            metrics: metrics.clone(),
            ..AppState::new(handle, "1", "")
        }
        .limited(limits, HttpAccess::default());
        let request = Request::post("/api/services/a")
            .body(Body::empty())
            .unwrap();
        let response = router(state).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(metrics.limited(lovebeat_telemetry::Limit::Queue), 1);
    }

    #[tokio::test]
    async fn a_service_named_before_the_name_rule_can_still_be_deleted() {
        let now = lovebeat_core::clock::now_ms();
        let mut engine = Engine::new(EngineConfig::default(), now);
        engine.beat(now, ".");
        let alerter = lovebeat_alert::Alerter::disabled();
        let (actor, handle) = lovebeat_engine::Actor::new(engine, 16, Arc::default(), alerter);
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(actor.run(stop.clone()));
        let app = router(AppState::new(handle, "1", ""));
        let status = |method: &str| {
            let request = Request::builder()
                .method(method)
                .uri("/api/services/%2e")
                .body(Body::empty())
                .unwrap();
            let app = app.clone();
            async move { app.oneshot(request).await.unwrap().status().as_u16() }
        };
        assert_eq!(status("POST").await, 400, "no new beats of it");
        assert_eq!(status("DELETE").await, 200);
        assert_eq!(status("DELETE").await, 400, "gone, and never made again");
        stop.cancel();
    }

    #[tokio::test]
    async fn the_dashboard_is_at_the_root_by_default() {
        let app = app("");
        let (status, _, page) = get(&app, "/").await;
        assert_eq!(status, 200);
        assert!(page.contains("<base href=\"./\">"), "{page}");
        for path in [
            "/ui/app.js",
            "/ui/app.css",
            "/ui/icon.svg",
            "/api/services",
            "/services",
        ] {
            assert_eq!(get(&app, path).await.0, 200, "{path}");
        }
        let (_, _, page) = get(&app, "/alarms/web").await;
        assert!(page.contains("<base href=\"../\">"), "{page}");
    }

    #[tokio::test]
    async fn a_base_path_moves_every_route_under_it() {
        let app = app("/monitoring/lovebeat");
        let (status, _, page) = get(&app, "/monitoring/lovebeat/").await;
        assert_eq!(status, 200);
        assert!(page.contains("<base href=\"./\">"));
        let (status, _, page) = get(&app, "/monitoring/lovebeat").await;
        assert_eq!(status, 200);
        assert!(page.contains("<base href=\"lovebeat/\">"));
        let (_, _, page) = get(&app, "/monitoring/lovebeat/views/web").await;
        assert!(page.contains("<base href=\"../\">"));
        for path in [
            "/monitoring/lovebeat/api/services",
            "/monitoring/lovebeat/ui/app.js",
            "/monitoring/lovebeat/status",
            "/monitoring/lovebeat/version",
        ] {
            assert_eq!(get(&app, path).await.0, 200, "{path}");
        }
        for path in [
            "/",
            "/api/services",
            "/ui/app.js",
            "/monitoring/lovebeatx/",
            "/monitoring",
        ] {
            assert_eq!(get(&app, path).await.0, 404, "{path}");
        }
    }
}
