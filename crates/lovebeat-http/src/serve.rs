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
//! Each request carries its peer's address (axum's [`ConnectInfo`]), for
//! the log lines of what is refused; a 400 answer, or a request head hyper
//! cannot parse, is counted (`lovebeat_http_bad_requests_total`).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use socket2::SockRef;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::HttpLimits;
use super::HttpService;
use crate::connections::{Conn, ConnTable};
use crate::deadline::DeadlineIo;
use lovebeat_telemetry::Metrics;
use lovebeat_telemetry::events::{BadRequest, Limited};

/// The kernel's send buffer of each connection (Linux doubles it). Left to
/// itself it grows to 4 MiB: a client that pipelines requests and never
/// reads would have that many bytes of answers made for it (the CPU to
/// make them, and the kernel memory to hold them) before its writes wait.
const SEND_BUFFER: usize = 32 * 1024;

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
        let admitted = match table.admit(peer.ip()) {
            Ok(admitted) => admitted,
            Err(limit) => {
                Limited { limit }.emit(&metrics);
                continue;
            }
        };
        if let Some(limit) = admitted.evicted {
            Limited { limit }.emit(&metrics);
        }
        let _ = stream.set_nodelay(true);
        let _ = SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
        let connection = Connection {
            peer,
            conn: admitted.conn,
            app: app.clone(),
            metrics: metrics.clone(),
        };
        let (limits, stop, table) = (limits.clone(), stop.clone(), table.clone());
        tokio::spawn(async move {
            let conn = connection.conn.clone();
            connection.run(stream, &limits, stop).await;
            table.remove(&conn);
        });
    }
}

/// One accepted connection, and the service each of its requests gets.
#[derive(Clone)]
struct Connection {
    peer: SocketAddr,
    conn: Arc<Conn>,
    app: HttpService,
    metrics: Arc<Metrics>,
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
    peer: SocketAddr,
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Answer<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.inner.poll(cx));
        if let Some(busy) = this.busy.take() {
            busy.conn.activity.answered();
            if response.status() == StatusCode::BAD_REQUEST {
                let peer = Some(busy.peer.ip());
                BadRequest { peer }.emit(&busy.metrics);
            }
        }
        Poll::Ready(Ok(response))
    }
}
