//! statsd out (§7.3): lovebeat's own counters and gauges, sent over UDP to
//! `[metrics] server` under `[metrics] prefix`.
//!
//! The names are Go lovebeat's: `started.count` once at startup;
//! `service.state.<name>` for every service that changed in a round (each
//! beat too) and `alarm.state.<name>` for every view that changed;
//! `service.count` and `alarm.count` at every periodic flush, and
//! `db.save.count` and `db.save.duration` (ms) when the flush was a real
//! store flush. Unlike Go, each round's lines are packed into as few
//! datagrams as fit `MAX_DATAGRAM` bytes.
//!
//! State numbers are 1.0's, with warning added after them: new 0, ok 1,
//! error 2, muted 3, warning 4.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use lovebeat_core::State;
use tokio::net::UdpSocket;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use lovebeat_engine::{EngineHandle, Flush, Flushes, Published};
use lovebeat_telemetry::events::{StatsdFailed, StatsdSent, SubscriberLagged};
use lovebeat_telemetry::{Metrics, Subscriber};

/// The largest datagram sent: fits an Ethernet MTU with IPv6 and UDP
/// headers, so nothing is fragmented.
pub(crate) const MAX_DATAGRAM: usize = 1432;

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsdSettings {
    /// `host:port`, resolved when lovebeat starts (and again after a failure).
    pub server: String,
    /// Put before every metric name.
    pub prefix: String,
}

/// The gauge value of a state.
pub(crate) fn state_number(state: State) -> u8 {
    match state {
        State::New => 0,
        State::Ok => 1,
        State::Error => 2,
        State::Muted => 3,
        State::Warning => 4,
    }
}

/// A metric name part made safe for the line protocol: anything but
/// `[A-Za-z0-9._-]` (`:`, `|`, `@`, spaces…) becomes `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Builds statsd lines and packs them into datagrams.
#[derive(Debug)]
pub(crate) struct Lines {
    prefix: String,
    datagrams: Vec<String>,
}

impl Lines {
    pub(crate) fn new(prefix: &str) -> Lines {
        let prefix = sanitize(prefix);
        let prefix = if prefix.is_empty() {
            prefix
        } else {
            format!("{prefix}.")
        };
        Lines {
            prefix,
            datagrams: Vec::new(),
        }
    }

    fn push(&mut self, name: &str, value: i64, kind: &str) {
        let line = format!("{}{}:{value}|{kind}\n", self.prefix, name);
        match self.datagrams.last_mut() {
            Some(last) if last.len() + line.len() <= MAX_DATAGRAM => last.push_str(&line),
            _ => self.datagrams.push(line),
        }
    }

    pub(crate) fn counter(&mut self, name: &str) {
        self.push(name, 1, "c");
    }

    pub(crate) fn gauge(&mut self, name: &str, value: i64) {
        self.push(name, value, "g");
    }

    /// The states of the services and views a round changed.
    pub(crate) fn round(&mut self, published: &Published) {
        let snapshot = &published.snapshot;
        for name in &published.changes.services {
            if let Some(s) = snapshot.services.get(name) {
                let value = state_number(s.record.state).into();
                self.gauge(&format!("service.state.{}", sanitize(name)), value);
            }
        }
        for name in &published.changes.views {
            if let Some(v) = snapshot.views.get(name) {
                let value = state_number(v.record.state).into();
                self.gauge(&format!("alarm.state.{}", sanitize(name)), value);
            }
        }
    }

    pub(crate) fn take(&mut self) -> Vec<String> {
        std::mem::take(&mut self.datagrams)
    }
}

/// The UDP socket, connected to the server once it resolves.
struct Sender {
    server: String,
    socket: Option<UdpSocket>,
}

impl Sender {
    async fn connect(server: &str) -> io::Result<UdpSocket> {
        let addr = tokio::net::lookup_host(server)
            .await?
            .next()
            .ok_or_else(|| io::Error::other("the name has no address"))?;
        let any: SocketAddr = match addr {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(any).await?;
        socket.connect(addr).await?;
        Ok(socket)
    }

    async fn send(&mut self, datagrams: Vec<String>, metrics: &Metrics) {
        if datagrams.is_empty() {
            return;
        }
        if self.socket.is_none() {
            match Sender::connect(&self.server).await {
                Ok(socket) => self.socket = Some(socket),
                Err(error) => {
                    let server = &self.server;
                    return StatsdFailed {
                        server,
                        error: &error,
                    }
                    .emit(metrics);
                }
            }
        }
        let socket = self.socket.as_ref().expect("connected above");
        let mut sent = 0;
        for datagram in &datagrams {
            match socket.send(datagram.as_bytes()).await {
                Ok(_) => sent += 1,
                Err(error) => {
                    // Resolve again next time: the server may have moved.
                    self.socket = None;
                    let server = &self.server;
                    StatsdFailed {
                        server,
                        error: &error,
                    }
                    .emit(metrics);
                    break;
                }
            }
        }
        StatsdSent { datagrams: sent }.emit(metrics);
    }
}

/// Sends metrics until `stop`.
pub(crate) async fn run(
    settings: StatsdSettings,
    handle: EngineHandle,
    metrics: Arc<Metrics>,
    mut rounds: broadcast::Receiver<Arc<Published>>,
    mut flushes: Flushes,
    stop: CancellationToken,
) {
    let mut sender = Sender {
        server: settings.server,
        socket: None,
    };
    let mut lines = Lines::new(&settings.prefix);
    lines.counter("started.count");
    sender.send(lines.take(), &metrics).await;
    loop {
        tokio::select! {
            received = rounds.recv() => match received {
                Ok(published) => lines.round(&published),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let subscriber = Subscriber::Statsd;
                    SubscriberLagged { subscriber, missed }.emit(&metrics);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            flush = flushes.next() => match flush {
                Some(flush) => flushed(&mut lines, &flush, &handle),
                None => break,
            },
            () = stop.cancelled() => break,
        }
        sender.send(lines.take(), &metrics).await;
    }
}

fn flushed(lines: &mut Lines, flush: &Flush, handle: &EngineHandle) {
    let snapshot = handle.snapshot();
    lines.counter("db.save.count");
    lines.gauge("db.save.duration", flush.duration.as_millis() as i64);
    lines.gauge("service.count", snapshot.services.len() as i64);
    lines.gauge("alarm.count", snapshot.views.len() as i64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_core::{Engine, EngineConfig, Timeout, TimeoutKind};
    use lovebeat_engine::Snapshot;

    #[test]
    fn state_numbers_extend_go_with_warning() {
        let numbers = State::ALL.map(state_number);
        // new, ok, muted, warning, error
        assert_eq!(numbers, [0, 1, 3, 4, 2]);
    }

    #[test]
    fn a_round_sends_the_changed_services_and_views() {
        let mut engine = Engine::new(EngineConfig::default(), 0);
        engine.beat(0, "a.b");
        engine.set_timeout(0, "c", TimeoutKind::Warn, Timeout::Always);
        let changes = engine.take_changes();
        let snapshot = Arc::new(Snapshot::default().updated(&engine, &changes, 0));
        let mut lines = Lines::new("lovebeat");
        lines.round(&Published { changes, snapshot });
        assert_eq!(
            lines.take(),
            ["lovebeat.service.state.a.b:1|g\nlovebeat.service.state.c:4|g\n"]
        );
    }

    #[test]
    fn lines_are_packed_into_datagrams_that_fit() {
        let mut lines = Lines::new("p");
        for i in 0..200 {
            lines.gauge(&format!("service.state.some-service-{i:03}"), 1);
        }
        let datagrams = lines.take();
        assert!(datagrams.len() > 1);
        assert!(
            datagrams
                .iter()
                .all(|d| d.len() <= MAX_DATAGRAM && d.ends_with('\n'))
        );
        let total: usize = datagrams.iter().map(|d| d.lines().count()).sum();
        assert_eq!(total, 200);
    }

    #[test]
    fn names_are_made_safe_and_an_empty_prefix_adds_no_dot() {
        let mut lines = Lines::new("");
        lines.gauge(&format!("alarm.state.{}", sanitize("web: prod|eu")), 2);
        assert_eq!(lines.take(), ["alarm.state.web__prod_eu:2|g\n"]);
    }
}
