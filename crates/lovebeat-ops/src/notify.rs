//! Peer notification (§7.2): autobeats to every `[[notify]] lovebeat` URL,
//! so that two lovebeats watch each other.
//!
//! Each peer gets `POST URL/api/services/lovebeat.<host>.<metric>` with the
//! JSON body `{"timeout": -2}` (auto timeout, and beat) for:
//! * `monitor`, every interval, if the engine answered a round trip within
//!   the interval (a stuck actor stops the beat);
//! * `alerter`, every interval;
//! * `save`, after a periodic flush, at most once per interval.
//!
//! Each peer has its own thread and a queue of `QUEUE` beats: posts to a
//! peer are sequential with a 10 s timeout, a slow or dead peer never
//! delays another, and a full queue drops the beat ("Failed to notify
//! heartbeats!", as Go lovebeat said).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use lovebeat_engine::{Batch, EngineHandle, Flushes};
use lovebeat_telemetry::events::PeerBeat;
use lovebeat_telemetry::{Metrics, PeerMetric, PeerResult};

/// Beats each peer's queue holds (Go lovebeat's 10).
const QUEUE: usize = 10;
/// Timeout of one post.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// `[[notify]]` and `[peers]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSettings {
    /// Base URLs, without a trailing `/`.
    pub urls: Vec<String>,
    /// The `<host>` of `lovebeat.<host>.*`; see [`service_host`].
    pub host: String,
    /// Between two `monitor` (and `alerter`) beats, and at least between
    /// two `save` beats.
    pub interval: Duration,
}

/// `configured` if set, else this machine's hostname up to its first `.`,
/// lowercased, with anything outside `[a-z0-9_-]` replaced by `-` (a peer
/// takes no other service names); `unknown_<pid>` when there is none.
pub fn service_host(configured: &str) -> String {
    if !configured.is_empty() {
        return configured.to_owned();
    }
    host_part(&hostname().unwrap_or_default())
        .unwrap_or_else(|| format!("unknown_{}", std::process::id()))
}

fn host_part(hostname: &str) -> Option<String> {
    let first = hostname.split('.').next().unwrap_or("");
    let part: String = first
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    (!part.is_empty()).then_some(part)
}

fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..end].to_vec()).ok()
}

/// The queues of every peer's thread.
pub(crate) struct Peers {
    queues: Vec<(String, SyncSender<PeerMetric>)>,
    metrics: Arc<Metrics>,
}

impl Peers {
    /// Starts a thread per peer.
    pub(crate) fn start(settings: &PeerSettings, metrics: Arc<Metrics>) -> std::io::Result<Peers> {
        let mut queues = Vec::with_capacity(settings.urls.len());
        for url in &settings.urls {
            let (tx, rx) = sync_channel(QUEUE);
            let peer = Peer {
                base: url.clone(),
                host: settings.host.clone(),
                metrics: metrics.clone(),
            };
            std::thread::Builder::new()
                .name("lovebeat-notify".into())
                .spawn(move || peer.run(rx))?;
            queues.push((url.clone(), tx));
        }
        Ok(Peers { queues, metrics })
    }

    /// Queues `metric` for every peer, dropping it for a peer whose queue
    /// is full.
    pub(crate) fn beat(&self, metric: PeerMetric) {
        for (peer, queue) in &self.queues {
            if let Err(TrySendError::Full(_)) = queue.try_send(metric) {
                let result = PeerResult::Dropped;
                PeerBeat {
                    peer,
                    metric,
                    result,
                    error: None,
                }
                .emit(&self.metrics);
            }
        }
    }
}

struct Peer {
    base: String,
    host: String,
    metrics: Arc<Metrics>,
}

impl Peer {
    /// Posts queued beats until every sender is gone.
    fn run(self, queue: Receiver<PeerMetric>) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(POST_TIMEOUT))
            .user_agent("Lovebeat")
            .build()
            .into();
        for metric in queue {
            let url = format!(
                "{}/api/services/lovebeat.{}.{}",
                self.base,
                self.host,
                metric.as_str()
            );
            let sent = agent
                .post(&url)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .send("{\"timeout\": -2}");
            let peer = self.base.as_str();
            match sent {
                Ok(_) => {
                    let result = PeerResult::Sent;
                    PeerBeat {
                        peer,
                        metric,
                        result,
                        error: None,
                    }
                    .emit(&self.metrics);
                }
                Err(e) => {
                    let error = e.to_string();
                    let result = PeerResult::Failed;
                    PeerBeat {
                        peer,
                        metric,
                        result,
                        error: Some(&error),
                    }
                    .emit(&self.metrics);
                }
            }
        }
    }
}

/// Sends `monitor` and `alerter` every interval and `save` after flushes,
/// until `stop`.
pub(crate) async fn run(
    peers: Peers,
    interval: Duration,
    handle: EngineHandle,
    mut flushes: Flushes,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_save: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if engine_answers(&handle, interval).await {
                    peers.beat(PeerMetric::Monitor);
                }
                peers.beat(PeerMetric::Alerter);
            }
            flush = flushes.next() => match flush {
                Some(_) => {
                    // A tenth of slack: a flush timer at the same period
                    // as `interval` must not skip every other save.
                    if last_save.is_none_or(|at| at.elapsed() + interval / 10 >= interval) {
                        last_save = Some(Instant::now());
                        peers.beat(PeerMetric::Save);
                    }
                }
                None => break,
            },
            () = stop.cancelled() => break,
        }
    }
}

/// Whether the actor applies an empty batch within `limit` (at most 10 s).
async fn engine_answers(handle: &EngineHandle, limit: Duration) -> bool {
    let limit = limit.min(POST_TIMEOUT);
    matches!(
        tokio::time::timeout(limit, handle.apply(Batch::new(), limit)).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_the_first_label_made_valid() {
        assert_eq!(host_part("Web01.example.com").as_deref(), Some("web01"));
        assert_eq!(host_part("my host").as_deref(), Some("my-host"));
        assert_eq!(host_part(""), None);
        assert_eq!(host_part(".example.com"), None);
    }

    #[test]
    fn a_configured_host_wins() {
        assert_eq!(service_host("alpha"), "alpha");
        let derived = service_host("");
        assert!(!derived.is_empty() && !derived.contains('.'), "{derived}");
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let metrics = Arc::new(Metrics::new("test"));
        let (tx, _rx) = sync_channel(1);
        let peers = Peers {
            queues: vec![("http://peer".into(), tx)],
            metrics: metrics.clone(),
        };
        peers.beat(PeerMetric::Monitor);
        peers.beat(PeerMetric::Monitor);
        let dropped = metrics.peer_beats(PeerMetric::Monitor, PeerResult::Dropped);
        assert_eq!(dropped, 1);
    }
}
