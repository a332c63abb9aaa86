//! The short way for the commonest request: a plain beat.
//!
//! `POST {base}/api/services/{name}` with neither a query nor a body, of a
//! service readers see `ok` and not about to go late, from a client
//! allowed to write, is queued and answered at once
//! ([`EngineHandle::beat_at_once`](lovebeat_engine::EngineHandle::beat_at_once)):
//! it skips the router, its middleware and the wait for the actor's round,
//! which together cost more than hyper itself. Reads still see it: they
//! pass the engine's [`ReadBarrier`](lovebeat_engine::ReadBarrier).
//! Everything else, and a plain beat that finds the queue full, takes the
//! router's way.
//!
//! Why before the router and not in its handler: the same short way as a
//! route-level check in `POST /api/services/{name}` (guard middleware,
//! extractors) measured about 13 % below this one against bare hyper, in
//! alternating paired runs (BENCHMARKS.md, "HTTP: one way in").

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;

use axum::Router;
use axum::http::{Method, Request, header};
use axum::response::Response;
use futures_util::future::Either;
use hyper::body::Incoming;
use hyper_util::service::{TowerToHyperService, TowerToHyperServiceFuture};

use super::services::EMPTY;
use super::{AppState, guard, json};
use lovebeat_telemetry::Protocol;
use lovebeat_telemetry::events::LinesAccepted;

/// What serves each HTTP request: plain beats here, the rest by the router.
#[derive(Clone)]
pub struct HttpService {
    state: Arc<AppState>,
    router: TowerToHyperService<Router>,
}

impl HttpService {
    /// Serves every route of `state` (see [`super::router`]).
    pub fn new(state: AppState) -> HttpService {
        let state = Arc::new(state);
        let router = TowerToHyperService::new(super::router_of(state.clone()));
        HttpService { state, router }
    }
}

type RouterFuture = TowerToHyperServiceFuture<Router, Request<Incoming>>;

impl hyper::service::Service<Request<Incoming>> for HttpService {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, RouterFuture>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        match answer(&self.state, &request) {
            Some(response) => Either::Left(ready(Ok(response))),
            None => Either::Right(self.router.call(request)),
        }
    }
}

/// The answer to a plain beat, once it is queued; None for any other
/// request, and for a plain beat the queue has no room for.
pub(crate) fn answer<B>(state: &AppState, request: &Request<B>) -> Option<Response> {
    let name = plain_beat(state, request)?;
    // A name the snapshot holds is a valid one.
    if !state.engine.beat_at_once(name) {
        return None;
    }
    let protocol = Protocol::Http;
    LinesAccepted { protocol, lines: 1 }.emit(&state.metrics);
    Some(json(EMPTY.into()))
}

/// The service a plain beat is for, if `request` is one (whether the
/// service stays `ok` is the engine's to say).
fn plain_beat<'r, B>(state: &AppState, request: &'r Request<B>) -> Option<&'r str> {
    let uri = request.uri();
    if request.method() != Method::POST || uri.query().is_some() {
        return None;
    }
    let path = uri.path().strip_prefix(&*state.base_path)?;
    let name = path.strip_prefix("/api/services/")?;
    let headers = request.headers();
    let bodiless = !headers.contains_key(header::TRANSFER_ENCODING)
        && headers
            .get(header::CONTENT_LENGTH)
            .is_none_or(|length| length == "0");
    let plain = bodiless && guard::may_write(state, headers);
    plain.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Tokens;
    use crate::{HttpAccess, HttpLimits, router};
    use axum::body::Body;
    use http_body_util::BodyExt;
    use lovebeat_core::clock::now_ms;
    use lovebeat_core::{Engine, EngineConfig, Timeout, TimeoutKind};
    use lovebeat_engine::Actor;
    use tokio_util::sync::CancellationToken;
    use tower::ServiceExt;

    /// A state whose engine has `ok` (beaten once, no timeouts), `hourly`
    /// (beaten, due in an hour), `soon` (beaten, due in half a second) and
    /// `late` (in error), its actor spawned but not yet run (the tests run
    /// on one thread).
    fn state(base_path: &str, tokens: Tokens) -> (AppState, CancellationToken) {
        let now = now_ms();
        let mut engine = Engine::new(EngineConfig::default(), now);
        engine.beat(now, "ok");
        for (name, ms) in [("hourly", 3_600_000), ("soon", 500)] {
            engine.set_timeout(now, name, TimeoutKind::Err, Timeout::After(ms));
            engine.beat(now, name);
        }
        engine.set_timeout(now, "late", TimeoutKind::Err, Timeout::Always);
        let alerter = lovebeat_alert::Alerter::disabled();
        let (actor, handle) = Actor::new(engine, 16, Arc::default(), alerter);
        let stop = CancellationToken::new();
        tokio::spawn(actor.run(stop.clone()));
        let access = HttpAccess {
            tokens,
            ..HttpAccess::default()
        };
        let state = AppState::new(handle, "1", base_path).limited(HttpLimits::default(), access);
        (state, stop)
    }

    async fn beats_of(state: &AppState, name: &str) -> u64 {
        let request = Request::get(format!("/api/services/{name}"))
            .body(Body::empty())
            .unwrap();
        let response = router(state.clone()).oneshot(request).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let service: serde_json::Value = serde_json::from_slice(&body).unwrap();
        service["service"]["beats"].as_u64().unwrap()
    }

    #[tokio::test]
    async fn a_plain_beat_is_answered_once_queued_and_a_read_after_it_sees_it() {
        let (state, stop) = state("", Tokens::default());
        let request = Request::post("/api/services/ok")
            .body(Body::empty())
            .unwrap();
        let response = answer(&state, &request).expect("a plain beat of an ok service");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "{}\n");
        // The actor has not run yet: the read must wait for it.
        assert_eq!(state.engine.snapshot().services["ok"].record.beats, 1);
        assert_eq!(beats_of(&state, "ok").await, 2);
        assert_eq!(beats_of(&state, "ok").await, 2, "nothing pending now");
        stop.cancel();
    }

    #[tokio::test]
    async fn anything_but_a_plain_beat_of_an_ok_service_takes_the_router_s_way() {
        let (state, stop) = state("", Tokens::default());
        let not_plain = [
            Request::post("/api/services/new").body(Body::empty()),
            Request::post("/api/services/late").body(Body::empty()),
            Request::post("/api/services/soon").body(Body::empty()),
            Request::post("/api/services/ok?timeout=5").body(Body::empty()),
            Request::post("/api/services/ok")
                .header(header::CONTENT_LENGTH, "9")
                .body(Body::from("timeout=5")),
            Request::post("/api/services/ok")
                .header(header::TRANSFER_ENCODING, "chunked")
                .body(Body::empty()),
            Request::post("/api/services/ok/mute").body(Body::empty()),
            Request::post("/api/services/%6Fk").body(Body::empty()),
            Request::delete("/api/services/ok").body(Body::empty()),
            Request::get("/api/services/ok").body(Body::empty()),
        ];
        for request in not_plain {
            let request = request.unwrap();
            assert!(answer(&state, &request).is_none(), "{request:?}");
        }
        let plain = Request::post("/api/services/ok")
            .header(header::CONTENT_LENGTH, "0")
            .body(Body::empty())
            .unwrap();
        assert!(answer(&state, &plain).is_some());
        let hourly = Request::post("/api/services/hourly")
            .body(Body::empty())
            .unwrap();
        assert!(answer(&state, &hourly).is_some(), "due in an hour");
        stop.cancel();
    }

    #[tokio::test]
    async fn a_base_path_and_write_tokens_still_apply() {
        let tokens = Tokens {
            write: vec!["w".into()],
            read: vec!["r".into()],
            ..Tokens::default()
        };
        let (state, stop) = state("/lb", tokens);
        let with = |token: &str| {
            Request::post("/lb/api/services/ok")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap()
        };
        assert!(answer(&state, &with("w")).is_some());
        assert!(answer(&state, &with("r")).is_none(), "a read token");
        assert!(answer(&state, &with("x")).is_none(), "an unknown token");
        let bare = Request::post("/lb/api/services/ok")
            .body(Body::empty())
            .unwrap();
        assert!(answer(&state, &bare).is_none(), "no token");
        let outside = Request::post("/api/services/ok")
            .body(Body::empty())
            .unwrap();
        assert!(answer(&state, &outside).is_none(), "outside the base path");
        stop.cancel();
    }
}
