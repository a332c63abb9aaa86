//! Active probes: lovebeat asks HTTP, HTTPS and TCP endpoints itself, as
//! the Heartbeat and checkup seeds do. The config key (`[[checks]]`) and
//! the API (`/api/checks`) keep the seeds' word; in code they are probes.
//!
//! Each probe runs every `interval` in its own task; at most
//! `concurrency` runs are in flight at once (a semaphore). A run makes up
//! to `attempts` attempts and passes at the first one that passes, so a
//! single blip is smoothed out; it fails only when every attempt failed.
//! A passing run is a beat of the service named like the probe, a failing
//! run a failure report (`fail`) with the reason, so the service is
//! `error` from the first failing run until the next passing one. At
//! start each service gets an error timeout of a few intervals, so a probe
//! that stops running shows too. Results and latencies go to the
//! [`ProbeBoard`] (`/api/checks`, the status page, `/metrics`).
//!
//! HTTPS goes through rustls (reqwest built without a provider of its own;
//! `main` installs ring's). A probe may name its own CA certificates
//! (`ca_file`), which then are the only roots it trusts.
//!
//! # Layout
//! * this module: [`ProbeSpec`], [`Probes`] and the run loop.
//! * `board`: the results.

mod board;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lovebeat_core::{Severity, Timeout, TimeoutKind};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

pub use board::{ProbeBoard, ProbeMetrics, ProbeStatus, RunResult};

use lovebeat_core::clock::now_ms;
use lovebeat_engine::{Batch, EngineHandle, Op};

/// Most of a response body read to look for `expect_body`.
const MAX_BODY: usize = 1 << 20;

/// What to ask, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// GET the URL (http or https).
    Http {
        /// What to GET.
        url: String,
        /// The status that passes; any 2xx when None.
        expect_status: Option<u16>,
        /// Text the body must contain.
        expect_body: Option<String>,
        /// PEM certificates to trust instead of the system's roots.
        ca_pem: Option<Vec<u8>>,
    },
    /// Open a TCP connection.
    Tcp {
        /// A name or an address.
        host: String,
        /// The port to connect to.
        port: u16,
    },
}

/// One probe: a `[[checks]]` entry, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    /// The service the results go to.
    pub name: String,
    /// `http`, `https` or `tcp`, as configured.
    pub kind: &'static str,
    /// What to ask, and how.
    pub target: Target,
    /// Per attempt.
    pub timeout: Duration,
    /// Between the starts of two runs.
    pub interval: Duration,
    /// At least 1.
    pub attempts: u32,
    /// Failed runs in a row before the service is an error; at least 1.
    pub failures: u32,
}

impl ProbeSpec {
    /// The URL, or `host:port`.
    pub(crate) fn target_text(&self) -> String {
        match &self.target {
            Target::Http { url, .. } => url.clone(),
            Target::Tcp { host, port } => format!("{host}:{port}"),
        }
    }

    /// The error timeout the probe's service gets: the runs that may fail
    /// before it is an error, two intervals more, and the longest a run
    /// can take (three intervals and a run with `failures = 1`).
    pub(crate) fn service_timeout(&self) -> Duration {
        self.interval * (self.failures + 2) + self.timeout * self.attempts
    }
}

/// `[[checks]]` and `[probes]`.
#[derive(Debug, Clone, Default)]
pub struct ProbeSettings {
    /// One per `[[checks]]` entry.
    pub probes: Vec<ProbeSpec>,
    /// Runs in flight at once, at least 1.
    pub concurrency: usize,
    /// Sent as the User-Agent.
    pub user_agent: String,
}

/// A probe that could not be set up.
#[derive(Debug)]
pub struct ProbeError {
    /// The probe's name.
    pub(crate) probe: String,
    /// Why.
    pub(crate) reason: String,
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "check {:?}: {}", self.probe, self.reason)
    }
}

impl std::error::Error for ProbeError {}

/// The probes, ready to run: one HTTP client each.
#[derive(Debug)]
pub struct Probes {
    probes: Vec<(ProbeSpec, Option<reqwest::Client>)>,
    concurrency: usize,
    /// Where the runs' results go; HTTP and `/metrics` read it.
    pub board: Arc<ProbeBoard>,
}

impl Probes {
    /// Builds each probe's client (its TLS roots, its timeouts).
    pub fn new(settings: ProbeSettings) -> Result<Probes, ProbeError> {
        let board = Arc::new(ProbeBoard::default());
        let mut probes = Vec::with_capacity(settings.probes.len());
        for spec in settings.probes {
            let client = match &spec.target {
                Target::Http { ca_pem, .. } => Some(
                    http_client(&spec, ca_pem.as_deref(), &settings.user_agent).map_err(
                        |reason| ProbeError {
                            probe: spec.name.clone(),
                            reason,
                        },
                    )?,
                ),
                Target::Tcp { .. } => None,
            };
            let interval = spec.interval.as_secs();
            board.add(&spec.name, spec.kind, spec.target_text(), interval);
            probes.push((spec, client));
        }
        Ok(Probes {
            probes,
            concurrency: settings.concurrency.max(1),
            board,
        })
    }

    /// Starts every probe; they stop at `stop`.
    pub fn start(self, engine: &EngineHandle, stop: &CancellationToken) -> Vec<JoinHandle<()>> {
        let permits = Arc::new(Semaphore::new(self.concurrency));
        (self.probes.into_iter())
            .map(|(spec, client)| {
                let runner = Runner {
                    spec,
                    client,
                    engine: engine.clone(),
                    board: self.board.clone(),
                    permits: permits.clone(),
                    streak: Streak::default(),
                };
                tokio::spawn(runner.run(stop.clone()))
            })
            .collect()
    }
}

fn http_client(
    spec: &ProbeSpec,
    ca_pem: Option<&[u8]>,
    user_agent: &str,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(spec.timeout)
        .connect_timeout(spec.timeout)
        .user_agent(user_agent)
        .pool_max_idle_per_host(0);
    if let Some(pem) = ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("ca_file: {}", chain(&e)))?;
        if certs.is_empty() {
            return Err("ca_file holds no PEM certificate".to_owned());
        }
        builder = builder.tls_certs_only(certs);
    }
    builder.build().map_err(|e| chain(&e))
}

/// One probe's task.
struct Runner {
    spec: ProbeSpec,
    client: Option<reqwest::Client>,
    engine: EngineHandle,
    board: Arc<ProbeBoard>,
    permits: Arc<Semaphore>,
    /// Failed runs since the last that passed.
    streak: Streak,
}

/// Failed runs in a row, against the number a check tolerates.
#[derive(Debug, Default)]
struct Streak {
    failed_in_a_row: u32,
}

impl Streak {
    /// Counts a run; what it does to the service of a check that is an
    /// error after `failures` failed runs in a row.
    fn note(&mut self, ok: bool, failures: u32) -> Verdict {
        if ok {
            self.failed_in_a_row = 0;
            return Verdict::Beat;
        }
        self.failed_in_a_row = self.failed_in_a_row.saturating_add(1);
        if self.failed_in_a_row >= failures {
            Verdict::Fail
        } else {
            Verdict::Hold
        }
    }
}

/// What a run's result does to the probe's service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// A beat.
    Beat,
    /// Nothing yet: fewer than `failures` runs failed in a row.
    Hold,
    /// A failure report.
    Fail,
}

impl Runner {
    async fn run(mut self, stop: CancellationToken) {
        let mut setup = Batch::new();
        let timeout = Timeout::After(self.spec.service_timeout().as_millis() as u64);
        setup.push(&self.spec.name, Op::SetTimeout(TimeoutKind::Err, timeout));
        if self.engine.send(setup).await.is_err() {
            return;
        }
        let mut ticker = tokio::time::interval(self.spec.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = stop.cancelled() => return,
            }
            let result = tokio::select! {
                r = self.run_once() => r,
                () = stop.cancelled() => return,
            };
            if !self.report(result).await {
                return;
            }
        }
    }

    /// One run: attempts until one passes, under a permit.
    async fn run_once(&self) -> RunResult {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let mut attempts = 0;
        loop {
            attempts += 1;
            let started = Instant::now();
            let outcome = self.attempt().await;
            let latency_ms = started.elapsed().as_millis() as u64;
            if outcome.is_ok() || attempts >= self.spec.attempts {
                return RunResult {
                    at: now_ms(),
                    ok: outcome.is_ok(),
                    latency_ms,
                    attempts,
                    reason: outcome.err(),
                };
            }
        }
    }

    async fn attempt(&self) -> Result<(), String> {
        match (&self.spec.target, &self.client) {
            (Target::Tcp { host, port }, _) => tcp_attempt(host, *port, self.spec.timeout).await,
            (
                Target::Http {
                    url,
                    expect_status,
                    expect_body,
                    ..
                },
                Some(client),
            ) => http_attempt(client, url, *expect_status, expect_body.as_deref()).await,
            (Target::Http { .. }, None) => Err("no HTTP client".to_owned()),
        }
    }

    /// Notes the result and hands it to the engine; false once it is gone.
    async fn report(&mut self, result: RunResult) -> bool {
        let mut batch = Batch::new();
        match (
            self.streak.note(result.ok, self.spec.failures),
            &result.reason,
        ) {
            (Verdict::Beat, _) => batch.push(&self.spec.name, Op::Beat),
            (Verdict::Fail, Some(reason)) => {
                let mut message = failure_message(&self.spec, &result, reason);
                if self.spec.failures > 1 {
                    let runs = self.streak.failed_in_a_row;
                    message.push_str(&format!(" ({runs} runs in a row)"));
                }
                batch.push_fail(&self.spec.name, Severity::Error, &message);
            }
            (Verdict::Fail | Verdict::Hold, _) => {}
        }
        if !result.ok {
            tracing::debug!(check = %self.spec.name, reason = ?result.reason, "check failed");
        }
        self.board.record(&self.spec.name, result);
        batch.is_empty() || self.engine.send(batch).await.is_ok()
    }
}

/// The failure message a failed run leaves on its service.
fn failure_message(spec: &ProbeSpec, result: &RunResult, reason: &str) -> String {
    let tries = match result.attempts {
        1 => String::new(),
        n => format!(" ({n} attempts)"),
    };
    format!(
        "{} check of {} failed{tries}: {reason}",
        spec.kind,
        spec.target_text()
    )
}

async fn tcp_attempt(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(Ok(_stream)) => Ok(()),
        Ok(Err(e)) => Err(format!("connect: {e}")),
        Err(_) => Err(format!("no connection within {}", seconds(timeout))),
    }
}

async fn http_attempt(
    client: &reqwest::Client,
    url: &str,
    expect_status: Option<u16>,
    expect_body: Option<&str>,
) -> Result<(), String> {
    let mut response = client.get(url).send().await.map_err(|e| describe(&e))?;
    let status = response.status();
    let status_ok = match expect_status {
        Some(code) => status.as_u16() == code,
        None => status.is_success(),
    };
    if !status_ok {
        let wanted = expect_status.map_or("2xx".to_owned(), |c| c.to_string());
        return Err(format!("status {} (expected {wanted})", status.as_u16()));
    }
    let Some(wanted) = expect_body else {
        return Ok(());
    };
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_BODY {
            break;
        }
    }
    if String::from_utf8_lossy(&body).contains(wanted) {
        Ok(())
    } else {
        Err(format!("the body does not contain {wanted:?}"))
    }
}

/// A reqwest error for people: timeouts said plainly, else the causes.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else {
        chain(e)
    }
}

/// An error and its sources, `: `-separated, without repeats.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_spec(port: u16) -> ProbeSpec {
        ProbeSpec {
            name: "db".into(),
            kind: "tcp",
            target: Target::Tcp {
                host: "127.0.0.1".into(),
                port,
            },
            timeout: Duration::from_secs(2),
            interval: Duration::from_secs(10),
            attempts: 2,
            failures: 1,
        }
    }

    #[tokio::test]
    async fn a_tcp_attempt_passes_while_something_listens() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(
            tcp_attempt("127.0.0.1", port, Duration::from_secs(2)).await,
            Ok(())
        );
        drop(listener);
        let err = tcp_attempt("127.0.0.1", port, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(err.starts_with("connect: "), "{err}");
    }

    #[test]
    fn the_failure_message_names_the_probe_and_the_attempts() {
        let spec = tcp_spec(5432);
        let result = RunResult {
            at: 0,
            ok: false,
            latency_ms: 1,
            attempts: 2,
            reason: Some("connect: refused".into()),
        };
        assert_eq!(
            failure_message(&spec, &result, "connect: refused"),
            "tcp check of 127.0.0.1:5432 failed (2 attempts): connect: refused"
        );
    }

    #[test]
    fn the_service_timeout_covers_three_intervals_and_a_run() {
        assert_eq!(tcp_spec(1).service_timeout(), Duration::from_secs(34));
        let tolerant = ProbeSpec {
            failures: 3,
            ..tcp_spec(1)
        };
        assert_eq!(tolerant.service_timeout(), Duration::from_secs(54));
    }

    #[test]
    fn a_check_fails_only_after_failures_runs_in_a_row() {
        let mut streak = Streak::default();
        let runs = [false, false, true, false, false, false, false];
        let verdicts: Vec<Verdict> = runs.iter().map(|&ok| streak.note(ok, 3)).collect();
        use Verdict::{Beat, Fail, Hold};
        assert_eq!(verdicts, [Hold, Hold, Beat, Hold, Hold, Fail, Fail]);
        assert_eq!(Streak::default().note(false, 1), Fail);
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut spec = tcp_spec(1);
        spec.timeout = Duration::from_secs(1);
        assert!(http_client(&spec, Some(b"not pem"), "t").is_err());
        assert!(http_client(&spec, None, "t").is_ok());
    }
}
