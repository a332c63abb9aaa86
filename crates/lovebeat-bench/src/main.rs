//! `lovebeat-bench`: drives UDP, TCP and HTTP beats at a running lovebeat
//! and, in the same run, at bare baseline receivers on the same machine,
//! and reports each lovebeat figure as a ratio to its baseline (absolute
//! numbers on shared machines drift; ratios measured side by side do not).
//!
//! `lovebeat-bench --lovebeat target/release/lovebeat` starts the daemon
//! itself (in a temp dir, on free loopback ports) and prints a Markdown
//! table; `scripts/bench` writes it into BENCHMARKS.md.

mod daemon;
mod http;
mod payload;
mod scale;
mod tcp;
mod udp;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;

use crate::daemon::Daemon;
use crate::payload::Lines;

#[derive(Parser)]
#[command(about = "Load generator: lovebeat against bare baseline receivers")]
struct Args {
    /// The lovebeat binary to start.
    #[arg(long, default_value = "target/release/lovebeat")]
    lovebeat: PathBuf,
    /// Seconds each measurement sends for.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Distinct service names the load rotates over.
    #[arg(long, default_value_t = 10_000)]
    services: usize,
    /// Only these scenarios (udp1, udp20, tcp4, http64, scale); all by default.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Services in the scale scenario (memory, idle CPU, restart, detection).
    #[arg(long, default_value_t = 1_000_000)]
    scale_services: usize,
    /// How far each stored beat interval strays from a minute, in ms, at
    /// most (pseudo-random): 0 gives intervals that differ by little and
    /// pack into about a byte each; beyond 63 most take two.
    #[arg(long, default_value_t = 0)]
    scale_jitter_ms: u32,
    /// Fill the scale store with the costliest services the limits allow
    /// (the longest name, a failure message as long as `[limits]
    /// message_length` keeps, the longest team), for the worst-case memory
    /// of `[limits] services`.
    #[arg(long)]
    scale_longest: bool,
    /// Serve the HTTP baseline and nothing else (the bench starts itself
    /// with this).
    #[arg(long, hide = true)]
    http_baseline: bool,
}

/// One line of the report.
struct Row {
    scenario: &'static str,
    baseline: f64,
    lovebeat: f64,
    target: &'static str,
    sent: u64,
    accepted: u64,
    /// The lowest and highest ratio, when the row is the median of pairs.
    spread: Option<(f64, f64)>,
}

impl Row {
    fn print(&self) {
        let mut ratio = format!("{:.2}", self.lovebeat / self.baseline);
        if let Some((low, high)) = self.spread {
            ratio += &format!(" ({low:.2}–{high:.2})");
        }
        println!(
            "| {} | {:.0} | {:.0} | {} | {} | {} | {} | {} |",
            self.scenario,
            self.baseline,
            self.lovebeat,
            ratio,
            self.target,
            self.sent,
            self.accepted,
            self.sent.saturating_sub(self.accepted)
        );
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.http_baseline {
        return Ok(http::serve_baseline()?);
    }
    let duration = Duration::from_secs_f64(args.seconds);
    let runtime = tokio::runtime::Runtime::new()?;
    let wants = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let daemon = Daemon::start(&args.lovebeat)?;
    println!(
        "| scenario | baseline lines/s | lovebeat beats/s | ratio | target | sent | accepted | not accepted |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    if wants("udp1") {
        udp_row(&daemon, 1, "udp, 1 line/datagram", "≥ 0.8", &args, duration)?.print();
        udp_at_80_percent(&daemon, &args, duration)?.print();
    }
    if wants("udp20") {
        udp_row(
            &daemon,
            20,
            "udp, 20 lines/datagram",
            "≥ 0.5",
            &args,
            duration,
        )?
        .print();
    }
    if wants("tcp4") {
        let base = tcp::Baseline::start()?;
        let baseline = measure(&base.lines, || {
            tcp::send(base.addr, 4, args.services, duration)
        })?;
        let (sent, accepted) =
            daemon.measure(|| tcp::send(daemon.tcp, 4, args.services, duration))?;
        Row {
            scenario: "tcp, 4 connections, pipelined",
            baseline: baseline.1 as f64 / args.seconds,
            lovebeat: accepted as f64 / args.seconds,
            target: "≥ 2 000 000/s",
            sent,
            accepted,
            spread: None,
        }
        .print();
    }
    if wants("http64") {
        http_row(&daemon, &runtime, &args, duration)?.print();
    }
    drop(daemon);
    if wants("scale") {
        println!();
        let shape = scale::Shape {
            jitter_ms: args.scale_jitter_ms,
            longest: args.scale_longest,
        };
        scale::run(&args.lovebeat, args.scale_services, shape)?.print();
    }
    Ok(())
}

/// The pairs of runs HTTP is measured in. Its rates move the most from
/// run to run (the bare server's alone by a third on a shared machine), so
/// the baseline and lovebeat alternate, and the pair with the median ratio
/// is reported with the lowest and highest.
const HTTP_PAIRS: usize = 3;

fn http_row(
    daemon: &Daemon,
    runtime: &tokio::runtime::Runtime,
    args: &Args,
    duration: Duration,
) -> Result<Row> {
    let base = http::Baseline::start()?;
    let (mut sent, mut accepted) = (0, 0);
    let mut pairs = Vec::with_capacity(HTTP_PAIRS);
    for _ in 0..HTTP_PAIRS {
        let baseline = runtime.block_on(http::send(base.addr, 64, args.services, duration))?;
        let (pair_sent, pair_accepted) = daemon
            .measure(|| runtime.block_on(http::send(daemon.http, 64, args.services, duration)))?;
        sent += pair_sent;
        accepted += pair_accepted;
        pairs.push((
            baseline as f64 / args.seconds,
            pair_accepted as f64 / args.seconds,
        ));
    }
    let ratio = |(baseline, lovebeat): (f64, f64)| lovebeat / baseline;
    pairs.sort_by(|a, b| ratio(*a).total_cmp(&ratio(*b)));
    let (baseline, lovebeat) = pairs[HTTP_PAIRS / 2];
    Ok(Row {
        scenario: "http, 64 keep-alive connections (median of alternating pairs)",
        baseline,
        lovebeat,
        target: "≥ 0.6",
        sent,
        accepted,
        spread: Some((ratio(pairs[0]), ratio(pairs[HTTP_PAIRS - 1]))),
    })
}

fn udp_row(
    daemon: &Daemon,
    per_datagram: usize,
    scenario: &'static str,
    target: &'static str,
    args: &Args,
    duration: Duration,
) -> Result<Row> {
    let base = udp::Baseline::start()?;
    let mut lines = Lines::new(args.services);
    let (_, received) = measure(&base.lines, || {
        udp::send(base.addr, per_datagram, &mut lines, duration, None)
    })?;
    let (sent, accepted) =
        daemon.measure(|| udp::send(daemon.udp, per_datagram, &mut lines, duration, None))?;
    Ok(Row {
        scenario,
        baseline: received as f64 / args.seconds,
        lovebeat: accepted as f64 / args.seconds,
        target,
        sent,
        accepted,
        spread: None,
    })
}

/// One-line datagrams at 80 % of what the bare receiver took: lovebeat
/// should accept every one.
fn udp_at_80_percent(daemon: &Daemon, args: &Args, duration: Duration) -> Result<Row> {
    let base = udp::Baseline::start()?;
    let mut lines = Lines::new(args.services);
    let (_, received) = measure(&base.lines, || {
        udp::send(base.addr, 1, &mut lines, duration, None)
    })?;
    let rate = (received as f64 / args.seconds * 0.8) as u64;
    let (sent, accepted) =
        daemon.measure(|| udp::send(daemon.udp, 1, &mut lines, duration, Some(rate)))?;
    Ok(Row {
        scenario: "udp, 1 line/datagram at 80 % of baseline",
        baseline: rate as f64,
        lovebeat: accepted as f64 / args.seconds,
        target: "no loss",
        sent,
        accepted,
        spread: None,
    })
}

/// Runs `load` and waits until `counter` stops moving; returns what
/// `load` reported and how far the counter moved.
fn measure<T>(counter: &AtomicU64, load: impl FnOnce() -> std::io::Result<T>) -> Result<(T, u64)> {
    let before = counter.load(Relaxed);
    let sent = load()?;
    let after = settle(|| Ok(counter.load(Relaxed)))?;
    Ok((sent, after - before))
}

/// Polls `read` until it returns the same value for 300 ms (at most 10 s).
pub(crate) fn settle(mut read: impl FnMut() -> Result<u64>) -> Result<u64> {
    let start = Instant::now();
    let mut last = read()?;
    let mut since = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
        let now = read()?;
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= Duration::from_millis(300) {
            break;
        }
    }
    Ok(last)
}
