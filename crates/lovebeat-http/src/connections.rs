//! The open HTTP connections by source address, so no one source can take
//! them all (`[limits] http_connections`, `http_connections_per_source`).
//!
//! A source is the peer's IP address (an IPv4-mapped IPv6 address counts
//! as the IPv4 one). A connection is *idle* while no request is in a
//! handler and it owes its client nothing (every answer written): waiting
//! for a request head, keep-alive or slowloris alike. Who makes room:
//!
//! * a source at its cap: its connection idle longest is closed for the
//!   newcomer; with none idle the newcomer is closed;
//! * every connection taken: the source holding the most gives up its
//!   connection idle longest, or its oldest one, provided it holds more
//!   than the newcomer's source; else the newcomer is closed.
//!
//! So a client from a source that holds little always gets in, however
//! many connections others hold. `serve` asks [`ConnTable::admit`] for each
//! accepted connection and removes it when it ends; the connection's
//! [`Activity`] is kept by `serve`'s request wrapper and `deadline`'s
//! writer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use lovebeat_core::clock::now_ms;
use lovebeat_telemetry::Limit;
use tokio_util::sync::CancellationToken;

/// One open connection, as the table sees it.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Admission order: lower is older.
    id: u64,
    source: IpAddr,
    /// Whether it is idle, and since when.
    pub(crate) activity: Activity,
    /// Cancelled to close it and make room for another.
    pub(crate) evicted: CancellationToken,
}

/// What a connection is doing: requests in handlers, answers not yet
/// written, and since when it has done neither.
#[derive(Debug)]
pub(crate) struct Activity {
    requests: AtomicUsize,
    owing: AtomicBool,
    /// ms since the epoch when it last became idle.
    idle_since: AtomicI64,
}

impl Activity {
    fn new(now: i64) -> Activity {
        Activity {
            requests: AtomicUsize::new(0),
            owing: AtomicBool::new(false),
            idle_since: AtomicI64::new(now),
        }
    }

    /// A request reached the handler.
    pub(crate) fn begin(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    /// A handler answered: the answer is owed until written ([`Self::settle`]).
    pub(crate) fn answered(&self) {
        self.owing.store(true, Relaxed);
        self.requests.fetch_sub(1, Relaxed);
    }

    /// Bytes are being written to the client.
    pub(crate) fn owe(&self) {
        self.owing.store(true, Relaxed);
    }

    /// Everything written so far reached the socket.
    pub(crate) fn settle(&self) {
        if self.owing.swap(false, Relaxed) {
            self.idle_since.store(now_ms(), Relaxed);
        }
    }

    /// Since when it has been idle, or None while it is busy.
    fn idle_since(&self) -> Option<i64> {
        let busy = self.requests.load(Relaxed) > 0 || self.owing.load(Relaxed);
        (!busy).then(|| self.idle_since.load(Relaxed))
    }
}

/// A connection let in, and the limit that closed another to make room.
#[derive(Debug)]
pub(crate) struct Admitted {
    pub(crate) conn: Arc<Conn>,
    pub(crate) evicted: Option<Limit>,
}

/// The open connections by source, capped in all and per source.
#[derive(Debug)]
pub(crate) struct ConnTable {
    cap: usize,
    per_source: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    total: usize,
    /// Each source's connections, oldest first.
    by_source: HashMap<IpAddr, Vec<Arc<Conn>>>,
}

impl ConnTable {
    /// A table of at most `cap` connections, `per_source` of one source.
    pub(crate) fn new(cap: usize, per_source: usize) -> ConnTable {
        ConnTable {
            cap,
            per_source,
            inner: Mutex::default(),
        }
    }

    /// Lets a connection from `peer` in, closing another to make room when
    /// it must (see the module doc); Err names the limit that refused it.
    pub(crate) fn admit(&self, peer: IpAddr) -> Result<Admitted, Limit> {
        let source = peer.to_canonical();
        let mut inner = self.inner.lock().expect("not poisoned");
        let held = inner.by_source.get(&source).map_or(0, Vec::len);
        let evicted = if held >= self.per_source {
            let victim =
                longest_idle(&inner.by_source[&source]).ok_or(Limit::HttpConnectionsPerSource)?;
            inner.evict(&victim);
            Some(Limit::HttpConnectionsPerSource)
        } else if inner.total >= self.cap {
            let victim = inner.fair_victim(held).ok_or(Limit::HttpConnections)?;
            inner.evict(&victim);
            Some(Limit::HttpConnections)
        } else {
            None
        };
        let conn = Arc::new(Conn {
            id: inner.next_id,
            source,
            activity: Activity::new(now_ms()),
            evicted: CancellationToken::new(),
        });
        inner.next_id += 1;
        inner.total += 1;
        inner
            .by_source
            .entry(source)
            .or_default()
            .push(conn.clone());
        Ok(Admitted { conn, evicted })
    }

    /// Forgets a connection that ended (nothing if it was evicted).
    pub(crate) fn remove(&self, conn: &Conn) {
        self.inner.lock().expect("not poisoned").forget(conn);
    }
}

impl Inner {
    /// The connection to close for a newcomer whose source holds `held`:
    /// of the source holding the most, if more than `held`, the one idle
    /// longest, else the oldest.
    fn fair_victim(&self, held: usize) -> Option<Arc<Conn>> {
        let largest = self.by_source.values().max_by_key(|c| c.len())?;
        if largest.len() <= held {
            return None;
        }
        longest_idle(largest).or_else(|| largest.first().cloned())
    }

    fn evict(&mut self, victim: &Conn) {
        self.forget(victim);
        victim.evicted.cancel();
    }

    fn forget(&mut self, conn: &Conn) {
        let Some(conns) = self.by_source.get_mut(&conn.source) else {
            return;
        };
        let Some(at) = conns.iter().position(|c| c.id == conn.id) else {
            return;
        };
        conns.remove(at);
        self.total -= 1;
        if conns.is_empty() {
            self.by_source.remove(&conn.source);
        }
    }
}

/// The connection of `conns` idle longest, if any is idle.
fn longest_idle(conns: &[Arc<Conn>]) -> Option<Arc<Conn>> {
    conns
        .iter()
        .filter_map(|c| Some((c.activity.idle_since()?, c)))
        .min_by_key(|(since, c)| (*since, c.id))
        .map(|(_, c)| c.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn a_source_at_its_cap_gives_up_its_longest_idle_connection() {
        let table = ConnTable::new(100, 2);
        let a = table.admit(ip(1)).unwrap().conn;
        let b = table.admit(ip(1)).unwrap().conn;
        a.activity.idle_since.store(now_ms() - 5_000, Relaxed);
        let c = table.admit(ip(1)).unwrap();
        assert!(a.evicted.is_cancelled() && !b.evicted.is_cancelled());
        assert_eq!(c.evicted, Some(Limit::HttpConnectionsPerSource));
        // Both left are busy now: the next one from that source is refused,
        // one from elsewhere is not.
        b.activity.begin();
        c.conn.activity.owe();
        let refused = table.admit(ip(1)).unwrap_err();
        assert_eq!(refused, Limit::HttpConnectionsPerSource);
        assert!(table.admit(ip(2)).is_ok());
        // Once its answer is written, the connection is idle again.
        c.conn.activity.settle();
        assert!(table.admit(ip(1)).is_ok());
        assert!(c.conn.evicted.is_cancelled());
    }

    #[test]
    fn when_all_are_taken_the_largest_source_makes_room_for_a_smaller_one() {
        let table = ConnTable::new(4, 10);
        let greedy: Vec<_> = (0..3).map(|_| table.admit(ip(1)).unwrap().conn).collect();
        for c in &greedy {
            c.activity.begin();
        }
        let other = table.admit(ip(2)).unwrap().conn;
        // All taken and all busy: the greedy source's oldest goes.
        let newcomer = table.admit(ip(3)).unwrap();
        assert_eq!(newcomer.evicted, Some(Limit::HttpConnections));
        assert!(greedy[0].evicted.is_cancelled());
        assert!(!other.evicted.is_cancelled());
        // Now every source holds one or two: one holding two makes room
        // for a source holding none, but not for a source holding one.
        assert!(table.admit(ip(4)).is_ok());
        assert!(greedy[1].evicted.is_cancelled());
        assert_eq!(table.admit(ip(2)).unwrap_err(), Limit::HttpConnections);
    }

    #[test]
    fn an_ended_connection_frees_its_place() {
        let table = ConnTable::new(1, 1);
        let a = table.admit(ip(1)).unwrap().conn;
        a.activity.begin();
        assert!(table.admit(ip(1)).is_err());
        table.remove(&a);
        table.remove(&a);
        assert!(table.admit(ip(1)).is_ok());
        let mapped: IpAddr = "::ffff:127.0.0.9".parse().unwrap();
        let conn = table.admit(ip(9)).unwrap().conn;
        conn.activity.begin();
        let refused = table.admit(mapped).unwrap_err();
        assert_eq!(refused, Limit::HttpConnectionsPerSource, "the same source");
    }
}
