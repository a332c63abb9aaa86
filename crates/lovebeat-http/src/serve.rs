//! The HTTP server loop: accepts connections and serves the router (behind
//! `plain_beat`'s short way) on each, with the limits `axum::serve` does
//! not offer.
//!
//! Who gets a connection is `connections`' to say: at most `[limits]
//! http_connections` in all and `http_connections_per_source` from one
//! address, an idle one (or one of a source holding more) closed to make
//! room, a newcomer closed at once when none can be (counted). A request's
//! head must arrive within `[limits] http_read_timeout` of the connection
//! waiting for it, idle keep-alive connections included, so a slowloris
//! client holds a connection no longer than that; the body has its own
//! deadline (`guard`); each answer must be taken in within `[limits]
//! http_write_timeout` (`deadline`), so a client that never reads holds
//! its connection no longer than that either. Websocket upgrades are
//! served on the same connections.
//!
//! A large answer made whole (over 256 KiB: `/metrics`, the status page)
//! holds its size of `[limits] http_answer_memory` until it is written or
//! its connection closes; one that finds too little left is answered 503
//! with Retry-After instead, so clients that stop reading cannot make
//! lovebeat hold more than that. (`/api/services` is streamed instead.)
//!
//! Each request carries its peer's address (axum's [`ConnectInfo`]), for
//! the log lines of what is refused; a 400 answer, or a request head hyper
//! cannot parse, is counted (`lovebeat_http_bad_requests_total`).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::response::Response;
use http_body_util::BodyExt;
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use socket2::SockRef;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::{ApiError, HttpLimits, HttpService};
use crate::connections::{Conn, ConnTable};
use crate::deadline::DeadlineIo;
use lovebeat_telemetry::events::{BadRequest, Limited};
use lovebeat_telemetry::{Limit, Metrics};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The kernel's send buffer of each connection (Linux doubles it). Left to
/// itself it grows to 4 MiB: a client that pipelines requests and never
/// reads would have that many bytes of answers made for it (the CPU to
/// make them, and the kernel memory to hold them) before its writes wait.
const SEND_BUFFER: usize = 32 * 1024;

/// Answers larger than this, made whole, count against `[limits]
/// http_answer_memory`.
const LARGE_ANSWER: u64 = 256 * 1024;

/// Serves `app` on `listener` until `stop`; then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    app: HttpService,
    limits: HttpLimits,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let table = Arc::new(ConnTable::new(
        limits.connections,
        limits.connections_per_source,
    ));
    let answers = Arc::new(AnswerMemory::new(limits.answer_memory));
    let limits = Arc::new(limits);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = stop.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "http accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(conn) = admit(&table, peer, &metrics) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let _ = SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
        let connection = Connection {
            peer,
            conn,
            app: app.clone(),
            metrics: metrics.clone(),
            answers: answers.clone(),
        };
        let (limits, stop, table) = (limits.clone(), stop.clone(), table.clone());
        tokio::spawn(async move {
            let conn = connection.conn.clone();
            connection.run(stream, &limits, stop).await;
            table.remove(&conn);
        });
    }
}

/// The table's place for a connection from `peer`, counting what it
/// refused or closed to make room; None: close it.
fn admit(table: &ConnTable, peer: SocketAddr, metrics: &Metrics) -> Option<Arc<Conn>> {
    match table.admit(peer.ip()) {
        Ok(admitted) => {
            if let Some(limit) = admitted.evicted {
                Limited { limit }.emit(metrics);
            }
            Some(admitted.conn)
        }
        Err(limit) => {
            Limited { limit }.emit(metrics);
            None
        }
    }
}

/// One accepted connection, and the service each of its requests gets.
#[derive(Clone)]
struct Connection {
    peer: SocketAddr,
    conn: Arc<Conn>,
    app: HttpService,
    metrics: Arc<Metrics>,
    answers: Arc<AnswerMemory>,
}

impl Connection {
    /// Serves requests until the client leaves, the connection is closed to
    /// make room, or `stop`.
    async fn run(self, stream: TcpStream, limits: &HttpLimits, stop: CancellationToken) {
        let (peer, conn, metrics) = (self.peer, self.conn.clone(), self.metrics.clone());
        let io = DeadlineIo::new(stream, limits.write_timeout, conn.clone(), metrics.clone());
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.read_timeout)
            .max_buf_size(64 * 1024);
        let served = builder
            .serve_connection(TokioIo::new(io), self)
            .with_upgrades();
        let mut served = std::pin::pin!(served);
        tokio::select! {
            r = served.as_mut() => {
                if let Err(e) = r {
                    if e.is_parse() && !e.is_parse_too_large() {
                        BadRequest { peer: Some(peer.ip()) }.emit(&metrics);
                    }
                    tracing::debug!(error = %e, "http connection ended");
                }
            }
            () = conn.evicted.cancelled() => {}
            () = stop.cancelled() => {
                served.as_mut().graceful_shutdown();
                let _ = served.await;
            }
        }
    }
}

impl Service<Request<Incoming>> for Connection {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer<<HttpService as Service<Request<Incoming>>>::Future>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        self.conn.activity.begin();
        let busy = Busy {
            conn: self.conn.clone(),
            metrics: self.metrics.clone(),
            answers: self.answers.clone(),
            peer: self.peer,
        };
        Answer {
            inner: self.app.call(request),
            busy: Some(busy),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer on its way: marks the connection busy until the
    /// handler answers, and counts a 400.
    struct Answer<F> {
        #[pin]
        inner: F,
        // Taken once answered.
        busy: Option<Busy>,
    }

    impl<F> PinnedDrop for Answer<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(busy) = this.project().busy.take() {
                busy.conn.activity.answered();
            }
        }
    }
}

/// What an [`Answer`] reports to when it is done.
struct Busy {
    conn: Arc<Conn>,
    metrics: Arc<Metrics>,
    answers: Arc<AnswerMemory>,
    peer: SocketAddr,
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Answer<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.inner.poll(cx));
        let Some(busy) = this.busy.take() else {
            return Poll::Ready(Ok(response));
        };
        busy.conn.activity.answered();
        if response.status() == StatusCode::BAD_REQUEST {
            let peer = Some(busy.peer.ip());
            BadRequest { peer }.emit(&busy.metrics);
        }
        Poll::Ready(Ok(busy.answers.hold(response, &busy.metrics)))
    }
}

/// `[limits] http_answer_memory`: bytes of large answers made whole that
/// may wait to be written at once.
struct AnswerMemory {
    free: Arc<Semaphore>,
    total: u32,
}

impl AnswerMemory {
    fn new(bytes: usize) -> AnswerMemory {
        let total = u32::try_from(bytes).unwrap_or(u32::MAX);
        AnswerMemory {
            free: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// `response`, holding its size (at most all of it) until its body is
    /// dropped, if it is large and made whole; 503 when too little is free.
    fn hold(&self, response: Response, metrics: &Metrics) -> Response {
        let size = response.body().size_hint().exact();
        let Some(size) = size.filter(|&n| n > LARGE_ANSWER) else {
            return response;
        };
        let wanted = u32::try_from(size).unwrap_or(u32::MAX).min(self.total);
        let Ok(held) = self.free.clone().try_acquire_many_owned(wanted) else {
            let limit = Limit::HttpAnswerMemory;
            Limited { limit }.emit(metrics);
            return ApiError::Unavailable.into_response();
        };
        let held = Arc::new(held);
        response.map(|body| {
            Body::new(body.map_frame(move |frame| {
                frame.map_data(|bytes| {
                    let held = held.clone();
                    Bytes::from_owner(HeldBytes { bytes, _held: held })
                })
            }))
        })
    }
}

/// A chunk of a large answer that keeps its share of `[limits]
/// http_answer_memory` until hyper has written it and lets it go.
struct HeldBytes {
    bytes: Bytes,
    _held: Arc<OwnedSemaphorePermit>,
}

impl AsRef<[u8]> for HeldBytes {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}
