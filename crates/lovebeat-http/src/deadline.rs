//! A connection's socket with a deadline on what it owes its client
//! (`[limits] http_write_timeout`).
//!
//! hyper writes an answer (or one chunk of a streamed answer) into its
//! buffer, writes the buffer to the socket and then flushes. From the first
//! write of such a burst, the client has the write timeout to take it all
//! in; one that does not (it pipelines requests and never reads the
//! answers, or reads too slowly) gets an error from the next write, and
//! hyper closes the connection. A connection that reads its answers never
//! waits on the timer: it is looked at only when the socket's buffer is full.
//!
//! It also tells the connection's [`Activity`] when it owes something and
//! when everything is written, which `connections` needs to know which
//! connections are idle.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep, sleep_until};

use crate::connections::Conn;
use lovebeat_telemetry::events::Limited;
use lovebeat_telemetry::{Limit, Metrics};

/// A TCP stream whose writes must drain within a deadline.
pub(crate) struct DeadlineIo {
    stream: TcpStream,
    timeout: Duration,
    /// When the current burst of writes began; None when all is written.
    owing_since: Option<Instant>,
    /// Armed only once a write had to wait.
    timer: Option<Pin<Box<Sleep>>>,
    conn: Arc<Conn>,
    metrics: Arc<Metrics>,
}

impl DeadlineIo {
    pub(crate) fn new(
        stream: TcpStream,
        timeout: Duration,
        conn: Arc<Conn>,
        metrics: Arc<Metrics>,
    ) -> DeadlineIo {
        DeadlineIo {
            stream,
            timeout,
            owing_since: None,
            timer: None,
            conn,
            metrics,
        }
    }

    /// What a write returned, unless it had to wait past the deadline.
    fn checked(
        &mut self,
        cx: &mut Context<'_>,
        wrote: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let since = match self.owing_since {
            Some(since) => since,
            None => {
                self.conn.activity.owe();
                *self.owing_since.insert(Instant::now())
            }
        };
        if wrote.is_ready() {
            return wrote;
        }
        let deadline = since + self.timeout;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        ready!(timer.as_mut().poll(cx));
        let limit = Limit::HttpWriteTimeout;
        Limited { limit }.emit(&self.metrics);
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client did not read its answer within [limits] http_write_timeout",
        )))
    }
}

impl AsyncRead for DeadlineIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for DeadlineIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let wrote = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.checked(cx, wrote)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let wrote = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.checked(cx, wrote)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    /// hyper flushes once its buffer is all written: the burst is over.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut self.stream).poll_flush(cx))?;
        if self.owing_since.take().is_some() {
            self.conn.activity.settle();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
