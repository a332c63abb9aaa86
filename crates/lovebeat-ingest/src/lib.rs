//! Where beats enter: it owns the UDP and TCP listeners of the line
//! protocol, their sockets, the open TCP connections and their unfinished
//! lines. It imports the protocol grammar, the model's clock, the engine's
//! handle and the counters; it must never import HTTP, operations or the
//! monitors.
//!
//! What one wake-up of the UDP socket takes (up to `PER_CALL` datagrams),
//! and each read of complete TCP lines, becomes one [`Batch`]. Rejected
//! lines are counted and logged (rate-limited) here and never reach the
//! actor. UDP never waits: when the engine's queue is full the datagram is
//! dropped and counted. TCP waits for room, which pushes back on the
//! sender through the socket.
//!
//! Hostile input (see docs/RELIABILITY.md): datagrams and connections from
//! outside `[udp] allow` / `[tcp] allow` are dropped and counted; a line
//! longer than `[limits] line_length` is rejected and skipped to its end, so
//! a connection holds at most one line limit of unfinished text; at most
//! `[limits] tcp_connections` are open, `tcp_connections_per_source` from
//! one address, and a connection that would go over closes the one that
//! has been silent longest (of its own address, at the per-source cap; if
//! any has been silent a while) instead of being refused, so idle
//! connections cannot lock out live clients; one silent for `[limits]
//! tcp_idle_timeout` is closed. Silent means no accepted line: blank and
//! rejected lines (counted, `blank` among the reasons) keep no connection
//! alive, neither against eviction nor against the idle timeout.
//!
//! # Layout
//! * this file: [`Settings`], [`Ingest`], the bind and serve functions,
//!   the TCP connections and the [`LineBuffer`].
//! * `allow`: [`Allow`], the source allow-lists.
//! * `datagrams`: many datagrams per `recvmmsg(2)`.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lovebeat_core::clock::now_ms;
use lovebeat_engine::{Batch, EngineHandle, SendError};
use lovebeat_proto::Reject;
use lovebeat_telemetry::events::{
    BatchDropped, BlankLines, Denied, Limited, LineRejected, LinesAccepted,
};
use lovebeat_telemetry::{Denial, Limit, Metrics, Protocol};
use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::datagrams::{Datagrams, PER_CALL};

mod allow;
mod datagrams;

pub use allow::{Allow, parse_network};

/// Receive buffer asked of the kernel for the UDP socket by default
/// (`[udp] receive_buffer`; Linux caps it at `net.core.rmem_max`), to ride
/// out bursts.
pub const DEFAULT_UDP_RECEIVE_BUFFER: usize = 8 << 20;
/// TCP read size. The buffer lives on the stack of the read only, so an
/// idle connection costs no buffer.
const TCP_READ: usize = 16 * 1024;
/// A connection silent for less than this is never closed to make room.
const EVICT_AFTER: Duration = Duration::from_secs(1);

/// `[limits]` and `[udp]`/`[tcp] allow` of the line protocol: what ingest
/// enforces (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The longest line, in bytes.
    pub line_length: usize,
    /// Open TCP connections at most.
    pub tcp_connections: usize,
    /// Open TCP connections of one source address at most.
    pub tcp_connections_per_source: usize,
    /// A TCP connection silent this long is closed; None: never.
    pub tcp_idle_timeout: Option<Duration>,
    /// Who may send datagrams.
    pub udp_allow: Allow,
    /// Bytes of receive buffer asked for the UDP socket.
    pub udp_receive_buffer: usize,
    /// Who may connect.
    pub tcp_allow: Allow,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            line_length: lovebeat_proto::MAX_LINE,
            tcp_connections: 10_000,
            tcp_connections_per_source: 1_000,
            tcp_idle_timeout: None,
            udp_allow: Allow::default(),
            udp_receive_buffer: DEFAULT_UDP_RECEIVE_BUFFER,
            tcp_allow: Allow::default(),
        }
    }
}

/// What every listener shares: where batches go, what is counted, and
/// what is enforced.
#[derive(Clone)]
pub struct Ingest {
    /// Where batches go.
    pub engine: EngineHandle,
    /// What is counted.
    pub metrics: Arc<Metrics>,
    /// What is enforced.
    pub settings: Arc<Settings>,
}

/// Binds the first address of `candidates` that works, asking the kernel
/// for `receive_buffer` bytes of receive buffer; logs when it gives less.
pub fn bind_udp(candidates: &[SocketAddr], receive_buffer: usize) -> io::Result<UdpSocket> {
    first_bound(candidates, |addr| {
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::DGRAM,
            Some(SockProtocol::UDP),
        )?;
        if addr.is_ipv6() {
            socket.set_only_v6(false)?;
        }
        let _ = socket.set_recv_buffer_size(receive_buffer);
        // Linux reports twice what it grants (the other half is its own
        // bookkeeping), capped by net.core.rmem_max.
        let granted = socket.recv_buffer_size().unwrap_or(0) / 2;
        if granted < receive_buffer {
            tracing::info!(
                "the UDP receive buffer is {granted} bytes, less than the {receive_buffer} \
                 asked ([udp] receive_buffer): raise net.core.rmem_max to ride out larger bursts"
            );
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        UdpSocket::from_std(socket.into())
    })
}

/// Binds the first address of `candidates` that works.
pub fn bind_tcp(candidates: &[SocketAddr]) -> io::Result<TcpListener> {
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

/// Receives datagrams until `stop`. Each wake-up takes what is queued
/// (see `Datagrams`) and sends the actor one batch of all of it.
pub async fn serve_udp(socket: UdpSocket, ingest: Ingest, stop: CancellationToken) {
    let (handle, limits, metrics) = (&ingest.engine, &ingest.settings, &*ingest.metrics);
    let mut datagrams = Datagrams::new();
    loop {
        let received = tokio::select! {
            r = datagrams.receive(&socket) => r,
            () = stop.cancelled() => return,
        };
        if let Err(e) = received {
            tracing::warn!(error = %e, "udp receive failed");
            continue;
        }
        // Datagrams end their last line: each is joined with a newline.
        let mut text = String::with_capacity(datagrams.total_len() + PER_CALL);
        for (peer, bytes) in datagrams.iter() {
            match peer {
                Some(peer) if !limits.udp_allow.permits(peer.ip()) => {
                    let (denial, peer) = (Denial::UdpSource, Some(peer.ip()));
                    Denied { denial, peer }.emit(metrics);
                }
                _ => {
                    text.push_str(&String::from_utf8_lossy(bytes));
                    text.push('\n');
                }
            }
        }
        let batch = parse(text, metrics, Protocol::Udp, limits.line_length);
        if batch.is_empty() {
            continue;
        }
        let lines = batch.len();
        match handle.try_send(batch) {
            Ok(()) => LinesAccepted {
                protocol: Protocol::Udp,
                lines,
            }
            .emit(metrics),
            Err(SendError::Full) => BatchDropped {
                protocol: Protocol::Udp,
                lines,
            }
            .emit(metrics),
            Err(SendError::Closed) => return,
        }
    }
}

/// The text of `bytes`, in place when it is valid UTF-8 (as good lines
/// are), else with U+FFFD for what is not.
fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn parse(text: String, metrics: &Metrics, protocol: Protocol, max_line: usize) -> Batch {
    Batch::parse(text, max_line, |reason| {
        LineRejected { protocol, reason }.emit(metrics)
    })
}

/// Accepts TCP connections until `stop`, each served by its own task.
pub async fn serve_tcp(listener: TcpListener, ingest: Ingest, stop: CancellationToken) {
    let (limits, metrics) = (&ingest.settings, &*ingest.metrics);
    let open = Arc::new(Connections::default());
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = stop.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: wait for some to close.
                tracing::warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if !limits.tcp_allow.permits(peer.ip()) {
            let (denial, peer) = (Denial::TcpSource, Some(peer.ip()));
            Denied { denial, peer }.emit(metrics);
            continue;
        }
        let caps = Caps {
            total: limits.tcp_connections,
            per_source: limits.tcp_connections_per_source,
        };
        let conn = match open.admit(peer.ip(), caps, metrics) {
            Ok(conn) => conn,
            Err(limit) => {
                Limited { limit }.emit(metrics);
                continue;
            }
        };
        let (ingest, stop, open) = (ingest.clone(), stop.clone(), open.clone());
        tokio::spawn(async move {
            let _open = ingest.metrics.tcp_connection();
            tokio::select! {
                r = serve_connection(stream, &ingest, &conn) => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "tcp connection ended");
                    }
                }
                () = conn.evicted.cancelled() => {}
                () = stop.cancelled() => {}
            }
            open.remove(conn.id);
        });
    }
}

/// One open connection, as [`Connections`] sees it.
#[derive(Debug)]
struct Conn {
    id: u64,
    /// Its peer's address.
    source: IpAddr,
    /// When it last sent an accepted line, in ms since the Unix epoch
    /// (blank and rejected lines are no sign of life).
    last_heard: AtomicI64,
    /// Cancelled to close it and make room for a new one.
    evicted: CancellationToken,
}

impl Conn {
    /// How much of `idle` is left since its last accepted line.
    fn idle_left(&self, idle: Duration) -> Duration {
        let silent = now_ms().saturating_sub(self.last_heard.load(Relaxed));
        idle.saturating_sub(Duration::from_millis(silent.max(0) as u64))
    }
}

/// The open TCP connections, to cap them (in all and per source address)
/// and close the most silent.
#[derive(Default)]
struct Connections {
    next_id: AtomicU64,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    by_id: HashMap<u64, Arc<Conn>>,
    per_source: HashMap<IpAddr, usize>,
}

/// How many connections may be open: in all, and from one address.
#[derive(Debug, Clone, Copy)]
struct Caps {
    total: usize,
    per_source: usize,
}

impl Connections {
    /// Registers a new connection from `peer`. A source at its cap closes
    /// its own connection silent longest to make room; at the total cap
    /// the connection silent longest of all is closed. Either refuses
    /// (Err: the limit) when every candidate spoke within [`EVICT_AFTER`].
    fn admit(&self, peer: IpAddr, caps: Caps, metrics: &Metrics) -> Result<Arc<Conn>, Limit> {
        let now = now_ms();
        let source = peer.to_canonical();
        let mut open = self.open.lock().expect("not poisoned");
        let held = open.per_source.get(&source).copied().unwrap_or(0);
        let full = match () {
            _ if held >= caps.per_source => Some(Limit::TcpConnectionsPerSource),
            _ if open.by_id.len() >= caps.total => Some(Limit::TcpConnections),
            _ => None,
        };
        if let Some(limit) = full {
            let same_source = limit == Limit::TcpConnectionsPerSource;
            let quiet = (open.by_id.values())
                .filter(|c| !same_source || c.source == source)
                .min_by_key(|c| c.last_heard.load(Relaxed))
                .filter(|c| now - c.last_heard.load(Relaxed) >= EVICT_AFTER.as_millis() as i64)
                .ok_or(limit)?
                .id;
            if let Some(evicted) = open.remove(quiet) {
                evicted.evicted.cancel();
            }
            Limited { limit }.emit(metrics);
        }
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Relaxed),
            source,
            last_heard: AtomicI64::new(now),
            evicted: CancellationToken::new(),
        });
        open.by_id.insert(conn.id, conn.clone());
        *open.per_source.entry(source).or_default() += 1;
        Ok(conn)
    }

    fn remove(&self, id: u64) {
        self.open.lock().expect("not poisoned").remove(id);
    }
}

impl Open {
    /// Forgets a connection (None if it was already closed to make room).
    fn remove(&mut self, id: u64) -> Option<Arc<Conn>> {
        let conn = self.by_id.remove(&id)?;
        if let Some(held) = self.per_source.get_mut(&conn.source) {
            *held -= 1;
            if *held == 0 {
                self.per_source.remove(&conn.source);
            }
        }
        Some(conn)
    }
}

/// Reads lines until the peer closes or stays silent past the idle
/// timeout. Lines may be split across reads; a line longer than the limit
/// is rejected once and skipped to its end.
async fn serve_connection(stream: TcpStream, ingest: &Ingest, conn: &Conn) -> io::Result<()> {
    let (handle, limits, metrics) = (&ingest.engine, &ingest.settings, &*ingest.metrics);
    let mut lines = LineBuffer::new(limits.line_length);
    loop {
        let readable = stream.readable();
        match limits.tcp_idle_timeout {
            Some(idle) => match tokio::time::timeout(conn.idle_left(idle), readable).await {
                Ok(ready) => ready?,
                Err(_) => {
                    let limit = Limit::TcpIdleTimeout;
                    Limited { limit }.emit(metrics);
                    return Ok(());
                }
            },
            None => readable.await?,
        }
        let Some((complete, closed)) = read_lines(&stream, &mut lines, metrics)? else {
            continue;
        };
        // `readable` + `try_read` spend none of tokio's cooperative budget:
        // a sender that keeps the socket readable (a 1 GB line) would keep
        // this task on its worker thread, and HTTP answers behind it wait.
        tokio::task::coop::consume_budget().await;
        if let Some(text) = complete {
            let batch = parse_counting_blanks(utf8(text), metrics, limits.line_length);
            let lines = batch.len();
            if lines > 0 {
                // Only an accepted line is a sign of life.
                conn.last_heard.store(now_ms(), Relaxed);
                if handle.send(batch).await.is_err() {
                    return Ok(());
                }
                let protocol = Protocol::Tcp;
                LinesAccepted { protocol, lines }.emit(metrics);
            }
        }
        if closed {
            return Ok(());
        }
    }
}

/// Parses the complete lines of a TCP read, counting the rejected ones by
/// reason and the blank ones as `blank`.
fn parse_counting_blanks(text: String, metrics: &Metrics, max_line: usize) -> Batch {
    let newlines = text.bytes().filter(|&b| b == b'\n').count();
    let lines = newlines + usize::from(!text.is_empty() && !text.ends_with('\n'));
    let mut rejected = 0;
    let batch = Batch::parse(text, max_line, |reason| {
        rejected += 1;
        let protocol = Protocol::Tcp;
        LineRejected { protocol, reason }.emit(metrics)
    });
    let blank = lines - batch.len() - rejected;
    if blank > 0 {
        BlankLines { lines: blank }.emit(metrics);
    }
    batch
}

/// One read from a readable socket, into a buffer on this call's stack:
/// the complete lines it finished and whether the peer closed, or None when
/// the readiness was spurious.
fn read_lines(
    stream: &TcpStream,
    lines: &mut LineBuffer,
    metrics: &Metrics,
) -> io::Result<Option<(Option<Vec<u8>>, bool)>> {
    let mut chunk = [0u8; TCP_READ];
    let n = match stream.try_read(&mut chunk) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
        Err(e) => return Err(e),
    };
    if n == 0 {
        return Ok(Some((lines.finish(), true)));
    }
    let complete = lines.feed(&chunk[..n], |reason| {
        let protocol = Protocol::Tcp;
        LineRejected { protocol, reason }.emit(metrics)
    });
    Ok(Some((complete, false)))
}

/// Splits a byte stream into runs of complete lines.
pub struct LineBuffer {
    /// The unfinished last line.
    partial: Vec<u8>,
    /// Skipping the rest of an overlong line.
    discarding: bool,
    /// The longest line, without its `\r\n`.
    max_line: usize,
}

impl LineBuffer {
    /// A buffer for lines of at most `max_line` bytes.
    pub fn new(max_line: usize) -> LineBuffer {
        LineBuffer {
            partial: Vec::new(),
            discarding: false,
            max_line,
        }
    }

    /// Bytes held for an unfinished line.
    pub fn held(&self) -> usize {
        self.partial.len()
    }

    /// Takes a read; returns the complete lines it finishes, if any.
    pub fn feed(&mut self, mut data: &[u8], mut rejected: impl FnMut(Reject)) -> Option<Vec<u8>> {
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
        if self.partial.len() > self.max_line + 1 {
            rejected(Reject::TooLong);
            self.partial.clear();
            self.discarding = true;
        }
        complete
    }

    /// The last line of a closed stream, if it had no newline.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        (!self.partial.is_empty() && !self.discarding).then(|| std::mem::take(&mut self.partial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_proto::MAX_LINE;

    impl Default for LineBuffer {
        fn default() -> Self {
            LineBuffer::new(MAX_LINE)
        }
    }

    use lovebeat_core::{Engine, EngineConfig};
    use lovebeat_engine::Actor;

    /// An actor not yet running, with a queue of one batch, already full,
    /// and what listeners share to send to it.
    fn full_queue() -> (Actor, Ingest) {
        let engine = Engine::new(EngineConfig::default(), 0);
        let alerter = lovebeat_alert::Alerter::disabled();
        let metrics = Arc::new(Metrics::default());
        let (actor, handle) = Actor::new(engine, 1, metrics.clone(), alerter);
        handle.try_send(Batch::new()).unwrap();
        let settings = Arc::new(Settings {
            tcp_connections: 10,
            ..Settings::default()
        });
        let ingest = Ingest {
            engine: handle,
            metrics,
            settings,
        };
        (actor, ingest)
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_datagrams() {
        let (_actor, ingest) = full_queue();
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(serve_udp(socket, ingest.clone(), stop.clone()));
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let dropped = || ingest.metrics.dropped(Protocol::Udp);
        for _ in 0..100 {
            client
                .send_to(b"a.beat:1|c\nb.beat:1|c\n", addr)
                .await
                .unwrap();
            if dropped() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(dropped() >= 2, "two lines a datagram, counted");
        stop.cancel();
    }

    #[tokio::test]
    async fn a_full_queue_holds_tcp_back_and_loses_nothing() {
        let (actor, ingest) = full_queue();
        let handle = ingest.engine.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(serve_tcp(listener, ingest.clone(), stop.clone()));
        let mut client = TcpStream::connect(addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut client, b"BAD.beat:1|c\nheld.beat:1|c\n")
            .await
            .unwrap();
        // The bad line counted: the read was parsed and its batch handed on
        // in the same poll (no await between), while the queue is full.
        for _ in 0..200 {
            if ingest.metrics.rejected(Reject::BadName) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(ingest.metrics.rejected(Reject::BadName), 1, "read");
        assert!(!handle.snapshot().services.contains_key("held"), "waits");
        assert_eq!(ingest.metrics.dropped(Protocol::Tcp), 0);
        tokio::spawn(actor.run(stop.clone()));
        for _ in 0..200 {
            if handle.snapshot().services.contains_key("held") {
                stop.cancel();
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the held line was never applied");
    }

    const CAPS: Caps = Caps {
        total: 2,
        per_source: 10,
    };

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn at_the_cap_the_longest_silent_connection_makes_room() {
        let open = Connections::default();
        let metrics = Metrics::default();
        let a = open.admit(ip(1), CAPS, &metrics).unwrap();
        let b = open.admit(ip(2), CAPS, &metrics).unwrap();
        let refused = open.admit(ip(3), CAPS, &metrics).unwrap_err();
        assert_eq!(refused, Limit::TcpConnections, "both spoke just now");
        a.last_heard.store(now_ms() - 5_000, Relaxed);
        b.last_heard.store(now_ms() - 3_000, Relaxed);
        let c = open.admit(ip(3), CAPS, &metrics).unwrap();
        assert!(a.evicted.is_cancelled() && !b.evicted.is_cancelled());
        assert_ne!(c.id, a.id);
        assert_eq!(metrics.limited(Limit::TcpConnections), 1);
        open.remove(a.id);
        assert_eq!(open.open.lock().unwrap().by_id.len(), 2, "a was gone");
    }

    #[test]
    fn a_source_at_its_cap_makes_room_from_its_own_connections() {
        let open = Connections::default();
        let metrics = Metrics::default();
        let caps = Caps {
            total: 10,
            per_source: 2,
        };
        let other = open.admit(ip(2), caps, &metrics).unwrap();
        other.last_heard.store(now_ms() - 9_000, Relaxed);
        let a = open.admit(ip(1), caps, &metrics).unwrap();
        let b = open.admit(ip(1), caps, &metrics).unwrap();
        let refused = open.admit(ip(1), caps, &metrics).unwrap_err();
        assert_eq!(refused, Limit::TcpConnectionsPerSource);
        b.last_heard.store(now_ms() - 2_000, Relaxed);
        open.admit(ip(1), caps, &metrics).unwrap();
        assert!(b.evicted.is_cancelled(), "its own most silent");
        assert!(!a.evicted.is_cancelled() && !other.evicted.is_cancelled());
        assert_eq!(metrics.limited(Limit::TcpConnectionsPerSource), 1);
    }

    #[test]
    fn blank_and_rejected_lines_are_counted_and_only_good_ones_kept() {
        let metrics = Metrics::default();
        let text = "a.beat:1|c\n\n\r\nBAD\n\nb.beat:1|c".to_owned();
        let batch = parse_counting_blanks(text, &metrics, 1024);
        assert_eq!(batch.len(), 2);
        assert_eq!(metrics.rejected(Reject::Blank), 3);
        assert_eq!(metrics.rejected(Reject::Malformed), 1);
        let batch = parse_counting_blanks("\n".repeat(5), &metrics, 1024);
        assert!(batch.is_empty());
        assert_eq!(metrics.rejected(Reject::Blank), 8);
    }

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
