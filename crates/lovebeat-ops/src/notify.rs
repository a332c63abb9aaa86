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
//! Each peer has its own task and a queue of `QUEUE` beats: posts to a
//! peer are sequential with a 10 s timeout, a slow or dead peer never
//! delays another, and a full queue drops the beat ("Failed to notify
//! heartbeats!", as Go lovebeat said). The tasks share one HTTP client.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{Receiver, Sender, channel, error::TrySendError};
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

/// The queues of every peer's task.
pub(crate) struct Peers {
    queues: Vec<(String, Sender<PeerMetric>)>,
    metrics: Arc<Metrics>,
}

impl Peers {
    /// Starts a task per peer (in the current runtime); each ends when
    /// `Peers` is dropped and its last post is done. Fails only when the
    /// HTTP client cannot be built (the process must have installed a
    /// rustls crypto provider: the binary installs ring in `main`).
    pub(crate) fn start(
        settings: &PeerSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Peers, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .user_agent("Lovebeat")
            .build()?;
        let mut queues = Vec::with_capacity(settings.urls.len());
        for url in &settings.urls {
            let (tx, rx) = channel(QUEUE);
            let peer = Peer {
                base: url.clone(),
                host: settings.host.clone(),
                client: client.clone(),
                metrics: metrics.clone(),
            };
            tokio::spawn(peer.run(rx));
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
    client: reqwest::Client,
    metrics: Arc<Metrics>,
}

impl Peer {
    /// Posts queued beats until every sender is gone.
    async fn run(self, mut queue: Receiver<PeerMetric>) {
        while let Some(metric) = queue.recv().await {
            let error = (self.post(metric).await.err()).map(|e| lovebeat_alert::error_chain(&e));
            let result = match error {
                None => PeerResult::Sent,
                Some(_) => PeerResult::Failed,
            };
            PeerBeat {
                peer: &self.base,
                metric,
                result,
                error: error.as_deref(),
            }
            .emit(&self.metrics);
        }
    }

    /// One beat; an answer other than 2xx is an error. The answer is read
    /// so that the connection can carry the next beat.
    async fn post(&self, metric: PeerMetric) -> Result<(), reqwest::Error> {
        let url = format!(
            "{}/api/services/lovebeat.{}.{}",
            self.base,
            self.host,
            metric.as_str()
        );
        self.client
            .post(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body("{\"timeout\": -2}")
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await
            .map(drop)
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
        let (tx, _rx) = channel(1);
        let peers = Peers {
            queues: vec![("http://peer".into(), tx)],
            metrics: metrics.clone(),
        };
        peers.beat(PeerMetric::Monitor);
        peers.beat(PeerMetric::Monitor);
        let dropped = metrics.peer_beats(PeerMetric::Monitor, PeerResult::Dropped);
        assert_eq!(dropped, 1);
    }

    #[tokio::test]
    async fn beats_are_posted_and_a_refusal_counts_as_failed() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let settings = PeerSettings {
            urls: vec![format!("http://{}", listener.local_addr().unwrap())],
            host: "alpha".into(),
            interval: Duration::from_secs(1),
        };
        let metrics = Arc::new(Metrics::new("test"));
        let peers = Peers::start(&settings, metrics.clone()).unwrap();

        peers.beat(PeerMetric::Save);
        let request = answer(&listener, "200 OK").await;
        assert!(
            request.starts_with("POST /api/services/lovebeat.alpha.save HTTP/1.1\r\n"),
            "{request}"
        );
        let lower = request.to_ascii_lowercase();
        assert!(lower.contains("\r\nuser-agent: lovebeat\r\n"), "{request}");
        assert!(
            lower.contains("\r\ncontent-type: application/json\r\n"),
            "{request}"
        );
        peers.beat(PeerMetric::Monitor);
        answer(&listener, "500 Internal Server Error").await;

        let counted = || {
            metrics.peer_beats(PeerMetric::Save, PeerResult::Sent) == 1
                && metrics.peer_beats(PeerMetric::Monitor, PeerResult::Failed) == 1
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !counted() {
            assert!(Instant::now() < deadline, "the beats were not counted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Reads one request (its body is the beat's) from the next connection
    /// and answers `status`, closing the connection.
    async fn answer(listener: &tokio::net::TcpListener, status: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        while !request.ends_with(b"{\"timeout\": -2}") {
            let mut chunk = [0u8; 1024];
            let n = conn.read(&mut chunk).await.unwrap();
            assert!(n > 0, "{}", String::from_utf8_lossy(&request));
            request.extend_from_slice(&chunk[..n]);
        }
        let response =
            format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        conn.write_all(response.as_bytes()).await.unwrap();
        String::from_utf8(request).unwrap()
    }
}
