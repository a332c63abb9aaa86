//! What every request passes before its handler, in this order: the
//! cross-site check of changes (a browser asked by another site's page,
//! `[http] allowed_origins`), the bearer token check (`[http]
//! write_tokens`, `read_tokens`) and the body limits (`[limits]
//! http_body`, `http_read_timeout`).
//!
//! All are middleware on the routes, so they see paths relative to the
//! base path. A token comes in `Authorization: Bearer TOKEN`, or as
//! `?access_token=TOKEN` for what cannot set headers (a browser's
//! websocket, a quick `curl`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AppState, StatusPageSettings};
use crate::access::{Need, Verdict, is_cross_site};
use lovebeat_telemetry::events::{Denied, Limited};
use lovebeat_telemetry::{Denial, Limit};

/// Refuses a change (any method but GET, HEAD, OPTIONS) that a browser
/// makes for a page of another site (cross-site request forgery): 403,
/// counted as `lovebeat_denied_total{protocol="http",reason="cross_site"}`.
/// A form on any site could otherwise mute, clear or fake things here
/// with the operator's browser, which needs no token on an open install
/// and may hold one in the URL on a closed one.
pub(super) async fn refuse_cross_site(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if is_read(request.method()) || !is_cross_site(request.headers(), &state.access) {
        return next.run(request).await;
    }
    let denial = Denial::HttpCrossSite;
    Denied { denial, peer: None }.emit(&state.metrics);
    let reason = "a page of another site may not change anything here; if it should, \
                  list its origin in [http] allowed_origins\n";
    (StatusCode::FORBIDDEN, reason).into_response()
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses a request without a token good for what it does.
pub(super) async fn authorize(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let tokens = &state.access.tokens;
    if tokens.is_open() {
        return next.run(request).await;
    }
    let need = need(
        request.method(),
        request.uri().path(),
        tokens,
        &state.status_page,
    );
    match tokens.grants(need, presented(&request).as_deref()) {
        Verdict::Granted => next.run(request).await,
        verdict => {
            let (denial, peer) = (Denial::HttpToken, peer(&request));
            Denied { denial, peer }.emit(&state.metrics);
            refuse(verdict)
        }
    }
}

/// The address a request came from (`serve` puts it in every request).
pub(super) fn peer<B>(request: &axum::http::Request<B>) -> Option<std::net::IpAddr> {
    let ConnectInfo(addr) = request.extensions().get::<ConnectInfo<SocketAddr>>()?;
    Some(addr.ip())
}

/// What a request needs, by method and path (relative to the base path).
fn need(
    method: &Method,
    path: &str,
    tokens: &crate::access::Tokens,
    page: &StatusPageSettings,
) -> Need {
    if path == "/signal" {
        // statuscope's signal carries its service's own push token, which
        // the handler checks.
        return Need::Nothing;
    }
    if !is_read(method) {
        return Need::Write;
    }
    let is_page = matches!(path, "/" | "/services")
        || ["/ui/", "/alarms/", "/views/"]
            .iter()
            .any(|p| path.starts_with(p));
    let is_status = matches!(path, "/status" | "/status/store" | "/api/status")
        || (path.starts_with("/api/views/") || path.starts_with("/api/alarms/"))
            && path.ends_with("/status");
    match () {
        // The dashboard's files hold no data; what it shows comes from the
        // API and the websocket, which do need a token.
        _ if is_page => Need::Nothing,
        // The status page is for the public: it shows only what
        // `[status_page]` chooses. Chosen by nobody, it shows everything,
        // which an install that keeps even `/status` private keeps too.
        _ if path == "/status-page" && (tokens.public_status || page.is_chosen()) => Need::Nothing,
        _ if is_status && tokens.public_status => Need::Nothing,
        _ if path == "/metrics" && tokens.public_metrics => Need::Nothing,
        _ => Need::Read,
    }
}

/// The bearer token of a request, from its header or `access_token`.
fn presented(request: &Request) -> Option<String> {
    bearer(request.headers()).or_else(|| {
        let query = request.uri().query()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    })
}

/// The token of an `Authorization: Bearer TOKEN` header.
fn bearer(headers: &HeaderMap) -> Option<String> {
    (headers.get(header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        })
}

/// Whether a request with these headers may change things, as
/// [`refuse_cross_site`] and [`authorize`] would let it (its
/// `access_token` aside).
pub(super) fn may_write(state: &AppState, headers: &HeaderMap) -> bool {
    let tokens = &state.access.tokens;
    let granted = tokens.is_open()
        || tokens.grants(Need::Write, bearer(headers).as_deref()) == Verdict::Granted;
    granted && !is_cross_site(headers, &state.access)
}

fn refuse(verdict: Verdict) -> Response {
    let (status, reason) = match verdict {
        Verdict::Forbidden => (
            StatusCode::FORBIDDEN,
            "this token may read but not change anything",
        ),
        _ => (
            StatusCode::UNAUTHORIZED,
            "a token is needed: Authorization: Bearer TOKEN",
        ),
    };
    let mut response = (status, format!("{reason}\n")).into_response();
    let challenge = if verdict == Verdict::Forbidden {
        r#"Bearer realm="lovebeat", error="insufficient_scope""#
    } else {
        r#"Bearer realm="lovebeat""#
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// Reads the whole body, at most `[limits] http_body` bytes within
/// `[limits] http_read_timeout`, before the handler runs: 413 for a body
/// that is too large, 408 for one that does not arrive in time. Handlers
/// then never wait on a slow client.
pub(super) async fn buffer_body(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let limits = &state.limits;
    let declared = (request.headers().get(header::CONTENT_LENGTH))
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body as u64) {
        return too_large(&state);
    }
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(limits.read_timeout, to_bytes(body, limits.body)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) if is_length_limit(&e) => return too_large(&state),
        Ok(Err(_)) => {
            let reason = "the request body could not be read\n";
            return (StatusCode::BAD_REQUEST, reason).into_response();
        }
        Err(_) => {
            let limit = Limit::HttpReadTimeout;
            Limited { limit }.emit(&state.metrics);
            let reason = format!(
                "the request body did not arrive within {} s\n",
                limits.read_timeout.as_secs_f64()
            );
            return (StatusCode::REQUEST_TIMEOUT, reason).into_response();
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn too_large(state: &AppState) -> Response {
    let limit = Limit::HttpBody;
    Limited { limit }.emit(&state.metrics);
    let reason = format!(
        "the request body is larger than {} bytes ([limits] http_body)\n",
        state.limits.body
    );
    (StatusCode::PAYLOAD_TOO_LARGE, reason).into_response()
}

/// Whether reading stopped at the length limit (and not on a broken
/// connection).
fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Tokens;

    #[test]
    fn pages_are_public_and_status_and_metrics_by_option() {
        let closed = Tokens {
            read: vec!["r".into()],
            ..Tokens::default()
        };
        let get = Method::GET;
        let page = &StatusPageSettings::default();
        let need = |method: &Method, path: &str, tokens: &Tokens| need(method, path, tokens, page);
        assert_eq!(need(&get, "/", &closed), Need::Nothing);
        assert_eq!(need(&get, "/ui/app.js", &closed), Need::Nothing);
        assert_eq!(need(&Method::POST, "/signal", &closed), Need::Nothing);
        assert_eq!(need(&get, "/api/services", &closed), Need::Read);
        assert_eq!(need(&get, "/ws", &closed), Need::Read);
        assert_eq!(need(&get, "/status", &closed), Need::Read);
        assert_eq!(need(&get, "/metrics", &closed), Need::Read);
        let public = Tokens {
            public_status: true,
            public_metrics: true,
            ..closed
        };
        assert_eq!(need(&get, "/status", &public), Need::Nothing);
        assert_eq!(need(&get, "/api/views/web/status", &public), Need::Nothing);
        assert_eq!(need(&get, "/metrics", &public), Need::Nothing);
        assert_eq!(need(&get, "/api/views/web", &public), Need::Read);
        assert_eq!(need(&Method::POST, "/api/services/a", &public), Need::Write);
        assert_eq!(need(&Method::DELETE, "/api/views/a", &public), Need::Write);
    }

    #[test]
    fn a_status_page_of_everything_is_private_when_status_is() {
        let private = Tokens {
            read: vec!["r".into()],
            public_status: false,
            ..Tokens::default()
        };
        let get = Method::GET;
        let everything = StatusPageSettings::default();
        assert_eq!(
            need(&get, "/status-page", &private, &everything),
            Need::Read
        );
        let chosen = StatusPageSettings {
            views: vec!["web".into()],
            ..StatusPageSettings::default()
        };
        assert_eq!(need(&get, "/status-page", &private, &chosen), Need::Nothing);
        let public = Tokens {
            public_status: true,
            ..private
        };
        assert_eq!(
            need(&get, "/status-page", &public, &everything),
            Need::Nothing
        );
    }
}
