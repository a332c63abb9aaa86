//! The HTTP server loop: accepts connections and serves the router (behind
//! `plain_beat`'s short way) on each, with the limits `axum::serve` does
//! not offer.
//!
//! At most `[limits] http_connections` are open; one more is closed at
//! once (counted). A request's head must arrive within `[limits]
//! http_read_timeout` of the connection waiting for it, idle keep-alive
//! connections included, so a slowloris client holds a connection no
//! longer than that; the body has its own deadline (`guard`). Websocket
//! upgrades are served on the same connections.

use std::sync::Arc;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::HttpLimits;
use super::HttpService;
use lovebeat_telemetry::events::Limited;
use lovebeat_telemetry::{Limit, Metrics};

/// Serves `app` on `listener` until `stop`; then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    app: HttpService,
    limits: HttpLimits,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let open = Arc::new(Semaphore::new(limits.connections));
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = stop.cancelled() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "http accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            let limit = Limit::HttpConnections;
            Limited { limit }.emit(&metrics);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone();
        let stop = stop.clone();
        let read_timeout = limits.read_timeout;
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(read_timeout)
                .max_buf_size(64 * 1024);
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "http connection ended");
                    }
                }
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(permit);
        });
    }
}
