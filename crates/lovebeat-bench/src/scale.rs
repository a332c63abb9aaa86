//! Scale: a million services with full beat history, written straight into
//! a store; then lovebeat's start on that store (as after a crash: it walks
//! the database), memory per service, idle CPU, detection delay after a
//! deadline, its clean shutdown (which writes the services image), and its
//! restart after that shutdown. With `--scale-longest` every service is
//! as costly as the limits allow, for the worst case of `[limits]
//! services`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use lovebeat_core::{Failure, Intervals, ServiceRecord, Severity, State, Timeout};
use lovebeat_http::HttpLimits;
use lovebeat_proto::MAX_NAME;
use lovebeat_store::{Save, Store};

use crate::daemon::Daemon;

/// What each stored service is like.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// How far the stored intervals stray from a minute (ms, at most).
    pub jitter_ms: u32,
    /// The longest name, failure message and team the limits allow.
    pub longest: bool,
}

/// What the scale run measured.
pub struct Report {
    pub services: usize,
    pub shape: Shape,
    /// From starting the process on the filled store (no image, as after
    /// a crash) to a beat accepted.
    pub cold_start: Duration,
    /// From SIGTERM to exit, the services image included.
    pub shutdown: Duration,
    /// From starting the process after that clean shutdown to a beat
    /// accepted.
    pub restart: Duration,
    pub rss_bytes: u64,
    pub empty_rss_bytes: u64,
    /// Share of one core used over ten idle seconds.
    pub idle_cpu: f64,
    /// Worst delay from a deadline to the service showing `error`.
    pub detection: Duration,
}

impl Report {
    pub fn print(&self) {
        let per_service =
            (self.rss_bytes.saturating_sub(self.empty_rss_bytes)) as f64 / self.services as f64;
        println!("| what | measured | target |");
        println!("|---|---|---|");
        println!(
            "| memory, {} services with 100 intervals each ({}{}) | {:.0} bytes/service (RSS {} MiB, empty daemon {} MiB) | ≤ 1024 |",
            self.services,
            match self.shape.jitter_ms {
                0 => "regular: each 37 ms off the one before".to_owned(),
                j => format!("each within ±{j} ms of a minute"),
            },
            if self.shape.longest {
                "; the longest name, failure message and team"
            } else {
                ""
            },
            per_service,
            self.rss_bytes >> 20,
            self.empty_rss_bytes >> 20
        );
        println!(
            "| idle CPU with {} services | {:.2} % of one core | ≤ 2 % |",
            self.services,
            self.idle_cpu * 100.0
        );
        println!(
            "| start with {} services after a crash (no image: walks the database), to a beat accepted | {} ms | |",
            self.services,
            self.cold_start.as_millis()
        );
        println!(
            "| clean shutdown (SIGTERM) with {} services, services image included | {} ms | |",
            self.services,
            self.shutdown.as_millis()
        );
        println!(
            "| restart with {} services after a clean shutdown, to a beat accepted | {} ms | ≤ 3000 ms |",
            self.services,
            self.restart.as_millis()
        );
        println!(
            "| detection delay after a deadline (worst of 5, polled every 5 ms) | {} ms | ≤ 100 ms |",
            self.detection.as_millis()
        );
    }
}

pub fn run(binary: &Path, services: usize, shape: Shape) -> Result<Report> {
    let empty = Daemon::start(binary)?;
    std::thread::sleep(Duration::from_secs(1));
    let empty_rss_bytes = empty.rss()?;
    drop(empty);

    let dir = std::env::temp_dir().join(format!("lovebeat-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    fill_store(&dir.join("lovebeat.db"), services, shape)?;

    let (daemon, cold_start) = start_to_first_beat(binary, &dir)?;

    std::thread::sleep(Duration::from_secs(3));
    let rss_bytes = daemon.rss()?;
    let idle_cpu = daemon.cpu_share(Duration::from_secs(10))?;
    let mut detection = Duration::ZERO;
    for i in 0..5 {
        detection = detection.max(detection_delay(&daemon, i)?);
    }
    let shutdown = daemon.terminate()?;
    let (daemon, restart) = start_to_first_beat(binary, &dir)?;
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Report {
        services,
        shape,
        cold_start,
        shutdown,
        restart,
        rss_bytes,
        empty_rss_bytes,
        idle_cpu,
        detection,
    })
}

/// Starts lovebeat in `dir` and beats until a beat is applied (its new
/// service shows in the API: a cheap poll, where a million-service
/// `/metrics` scrape would not be); returns the daemon and how long that
/// took.
fn start_to_first_beat(binary: &Path, dir: &Path) -> Result<(Daemon, Duration)> {
    let started = Instant::now();
    let daemon = Daemon::start_in(binary, dir)?;
    daemon.beat_udp("scale.probe.beat:1|c\n")?;
    wait_for(Duration::from_secs(60), || {
        Ok(daemon
            .get("/api/services/scale.probe")?
            .starts_with("HTTP/1.1 200"))
    })?;
    Ok((daemon, started.elapsed()))
}

/// Writes `n` services with full histories, as a long-running lovebeat
/// would have them.
fn fill_store(path: &Path, n: usize, shape: Shape) -> Result<()> {
    let store = Store::open(path).context("opening the scale store")?;
    let now = lovebeat_core::clock::now_ms();
    let history: Intervals = match shape.jitter_ms {
        0 => (0..100).map(|i| 59_000 + (i * 37 % 2000)).collect(),
        j => (0..100u32)
            .map(|i| 60_000 - j + i.wrapping_mul(2_654_435_761) % (2 * j + 1))
            .collect(),
    };
    for chunk in (0..n).collect::<Vec<_>>().chunks(50_000) {
        let services = chunk
            .iter()
            .map(|&i| ServiceRecord {
                last_beat: Some(now - 1000),
                err_timeout: Timeout::After(3_600_000),
                // A failure report holds a service in error.
                state: if shape.longest {
                    State::Error
                } else {
                    State::Ok
                },
                last_state_change: now - 6_000_000,
                history: history.clone(),
                beats: 101,
                ..costliest(i, now, shape.longest)
            })
            .collect();
        store.save(&Save {
            services,
            ..Save::default()
        })?;
    }
    store.checkpoint()?;
    Ok(())
}

/// Service `i`: a short name and nothing else, or, when `longest`, the
/// longest name, failure message and team the limits let a client give it.
fn costliest(i: usize, now: lovebeat_core::Millis, longest: bool) -> ServiceRecord {
    let created = now - 6_000_000;
    if !longest {
        return ServiceRecord::new(Arc::from(format!("scale.service{i:07}")), created);
    }
    let name = format!("{i:0width$}", width = MAX_NAME);
    let failure = Failure {
        at: now - 1000,
        severity: Severity::Error,
        message: "m".repeat(HttpLimits::default().message),
    };
    ServiceRecord {
        failure: Some(Box::new(failure)),
        team: Some("t".repeat(MAX_NAME)),
        ..ServiceRecord::new(Arc::from(name), created)
    }
}

/// Sets a 1 s error timeout on a fresh service, beats it, and polls until
/// it shows `error`; returns how long after the deadline that was.
fn detection_delay(daemon: &Daemon, i: usize) -> Result<Duration> {
    let name = format!("scale.deadline{i}");
    daemon.beat_udp(&format!("{name}.err:1|g\n{name}.beat:1|c\n"))?;
    let sent = Instant::now();
    let seen = wait_for(Duration::from_secs(10), || {
        Ok(daemon
            .get(&format!("/api/services/{name}"))?
            .contains("\"state\": \"error\""))
    })?;
    Ok(seen.saturating_duration_since(sent + Duration::from_secs(1)))
}

/// Polls `check` every 5 ms; returns the moment it held.
fn wait_for(limit: Duration, mut check: impl FnMut() -> Result<bool>) -> Result<Instant> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check()? {
            return Ok(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    bail!("gave up after {limit:?}")
}
