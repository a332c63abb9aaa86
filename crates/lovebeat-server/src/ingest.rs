//! UDP and TCP ingest of the line protocol.
//!
//! Each datagram, and each read of complete TCP lines, becomes one
//! [`Batch`]. Rejected lines are counted and logged (rate-limited) here and
//! never reach the actor. UDP never waits: when the engine's queue is full
//! the datagram is dropped and counted. TCP waits for room, which pushes
//! back on the sender through the socket.

use std::io;
use std::net::SocketAddr;

use lovebeat_proto::{MAX_LINE, Reject};
use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::actor::{EngineHandle, SendError};
use crate::batch::Batch;
use crate::internal_events::{BatchDropped, LineRejected, LinesAccepted};
use crate::metrics::Protocol;

/// Largest UDP payload: a datagram is always read whole.
const MAX_DATAGRAM: usize = 65_536;
/// Receive buffer asked of the kernel for the UDP socket (capped by
/// `net.core.rmem_max`), to ride out bursts.
const UDP_RECV_BUFFER: usize = 8 << 20;
/// TCP read size.
const TCP_READ: usize = 64 * 1024;

/// Binds the first address of `candidates` that works.
pub(crate) fn bind_udp(candidates: &[SocketAddr]) -> io::Result<UdpSocket> {
    first_bound(candidates, |addr| {
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::DGRAM,
            Some(SockProtocol::UDP),
        )?;
        if addr.is_ipv6() {
            socket.set_only_v6(false)?;
        }
        let _ = socket.set_recv_buffer_size(UDP_RECV_BUFFER);
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        UdpSocket::from_std(socket.into())
    })
}

/// Binds the first address of `candidates` that works.
pub(crate) fn bind_tcp(candidates: &[SocketAddr]) -> io::Result<TcpListener> {
    first_bound(candidates, |addr| {
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::STREAM,
            Some(SockProtocol::TCP),
        )?;
        if addr.is_ipv6() {
            socket.set_only_v6(false)?;
        }
        socket.set_reuse_address(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(1024)?;
        TcpListener::from_std(socket.into())
    })
}

fn first_bound<T>(
    candidates: &[SocketAddr],
    bind: impl Fn(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to listen on");
    for addr in candidates {
        match bind(*addr) {
            Ok(bound) => return Ok(bound),
            Err(e) => last = io::Error::new(e.kind(), format!("{addr}: {e}")),
        }
    }
    Err(last)
}

/// Receives datagrams until `stop`.
pub(crate) async fn serve_udp(socket: UdpSocket, handle: EngineHandle, stop: CancellationToken) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            () = stop.cancelled() => return,
        };
        let len = match received {
            Ok((len, _)) => len,
            Err(e) => {
                tracing::warn!(error = %e, "udp receive failed");
                continue;
            }
        };
        let batch = parse(&buf[..len], &handle, Protocol::Udp);
        if batch.is_empty() {
            continue;
        }
        let lines = batch.len();
        match handle.try_send(batch) {
            Ok(()) => LinesAccepted {
                protocol: Protocol::Udp,
                lines,
            }
            .emit(handle.metrics()),
            Err(SendError::Full) => BatchDropped {
                protocol: Protocol::Udp,
                lines,
            }
            .emit(handle.metrics()),
            Err(SendError::Closed) => return,
        }
    }
}

fn parse(bytes: &[u8], handle: &EngineHandle, protocol: Protocol) -> Batch {
    let text = String::from_utf8_lossy(bytes).into_owned();
    Batch::parse(text, |reason| {
        LineRejected { protocol, reason }.emit(handle.metrics())
    })
}

/// Accepts TCP connections until `stop`, each served by its own task.
pub(crate) async fn serve_tcp(
    listener: TcpListener,
    handle: EngineHandle,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = stop.cancelled() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                let handle = handle.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        r = serve_connection(stream, &handle) => {
                            if let Err(e) = r {
                                tracing::debug!(error = %e, "tcp connection ended");
                            }
                        }
                        () = stop.cancelled() => {}
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads lines until the peer closes. Lines may be split across reads; a
/// line longer than the limit is rejected once and skipped to its end.
async fn serve_connection(mut stream: TcpStream, handle: &EngineHandle) -> io::Result<()> {
    let mut lines = LineBuffer::default();
    let mut chunk = vec![0u8; TCP_READ];
    loop {
        let n = stream.read(&mut chunk).await?;
        let complete = if n == 0 {
            lines.finish()
        } else {
            lines.feed(&chunk[..n], |reason| {
                let protocol = Protocol::Tcp;
                LineRejected { protocol, reason }.emit(handle.metrics())
            })
        };
        if let Some(text) = complete {
            let batch = parse(&text, handle, Protocol::Tcp);
            let lines = batch.len();
            if lines > 0 {
                if handle.send(batch).await.is_err() {
                    return Ok(());
                }
                let protocol = Protocol::Tcp;
                LinesAccepted { protocol, lines }.emit(handle.metrics());
            }
        }
        if n == 0 {
            return Ok(());
        }
    }
}

/// Splits a byte stream into runs of complete lines.
#[derive(Default)]
struct LineBuffer {
    /// The unfinished last line.
    partial: Vec<u8>,
    /// Skipping the rest of an overlong line.
    discarding: bool,
}

impl LineBuffer {
    /// Takes a read; returns the complete lines it finishes, if any.
    fn feed(&mut self, mut data: &[u8], mut rejected: impl FnMut(Reject)) -> Option<Vec<u8>> {
        if self.discarding {
            let end = data.iter().position(|&b| b == b'\n')?;
            self.discarding = false;
            data = &data[end + 1..];
        }
        let complete = match data.iter().rposition(|&b| b == b'\n') {
            Some(last) => {
                let mut lines = std::mem::take(&mut self.partial);
                lines.extend_from_slice(&data[..=last]);
                self.partial.extend_from_slice(&data[last + 1..]);
                Some(lines)
            }
            None => {
                self.partial.extend_from_slice(data);
                None
            }
        };
        if self.partial.len() > MAX_LINE + 1 {
            rejected(Reject::TooLong);
            self.partial.clear();
            self.discarding = true;
        }
        complete
    }

    /// The last line of a closed stream, if it had no newline.
    fn finish(&mut self) -> Option<Vec<u8>> {
        (!self.partial.is_empty() && !self.discarding).then(|| std::mem::take(&mut self.partial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_reads_are_joined() {
        let mut buf = LineBuffer::default();
        let mut rejected = Vec::new();
        assert_eq!(buf.feed(b"a.beat:1", |r| rejected.push(r)), None);
        assert_eq!(
            buf.feed(b"|c\nb.be", |r| rejected.push(r)).unwrap(),
            b"a.beat:1|c\n"
        );
        assert_eq!(
            buf.feed(b"at:1|c\n", |r| rejected.push(r)).unwrap(),
            b"b.beat:1|c\n"
        );
        assert!(rejected.is_empty());
    }

    #[test]
    fn an_overlong_line_is_rejected_once_and_skipped() {
        let mut buf = LineBuffer::default();
        let mut rejected = Vec::new();
        let junk = vec![b'x'; 10_000];
        for _ in 0..5 {
            assert_eq!(buf.feed(&junk, |r| rejected.push(r)), None);
        }
        assert_eq!(rejected, [Reject::TooLong]);
        assert_eq!(
            buf.feed(b"xx\na.beat:1|c\n", |r| rejected.push(r)).unwrap(),
            b"a.beat:1|c\n"
        );
    }

    #[test]
    fn the_last_line_needs_no_newline() {
        let mut buf = LineBuffer::default();
        assert_eq!(buf.feed(b"a.beat:1|c", |_| {}), None);
        assert_eq!(buf.finish().unwrap(), b"a.beat:1|c");
    }
}
