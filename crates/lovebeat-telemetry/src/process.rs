//! The standard `process_*` metrics (CPU, memory, file descriptors, start
//! time, threads), read from `/proc/self` at each scrape. On systems
//! without `/proc` the collector encodes nothing.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::names;

#[derive(Debug)]
pub(super) struct ProcessCollector;

/// What `/proc/self/stat` says, in the units of the metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    cpu_seconds: f64,
    threads: i64,
    /// Seconds after boot.
    start_after_boot: f64,
    virtual_bytes: i64,
    resident_bytes: i64,
}

/// Parses `/proc/self/stat` (see proc(5)); the name field may hold spaces
/// and parentheses, so fields are counted from its last `)`.
fn parse_stat(text: &str, ticks_per_second: f64, page_size: i64) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 of proc(5), `state`.
    let field = |n: usize| fields.get(n - 3)?.parse::<i64>().ok();
    Some(Stat {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks_per_second,
        threads: field(20)?,
        start_after_boot: field(22)? as f64 / ticks_per_second,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * page_size,
    })
}

/// The boot time in seconds since the epoch, from `/proc/stat`.
fn parse_boot_time(text: &str) -> Option<i64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn sysconf(name: libc::c_int) -> Option<i64> {
    // SAFETY: sysconf only reads a system constant.
    let value = unsafe { libc::sysconf(name) };
    (value > 0).then_some(value)
}

fn max_fds() -> Option<i64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    ok.then(|| i64::try_from(limit.rlim_cur).unwrap_or(i64::MAX))
}

fn open_fds() -> Option<i64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as i64)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let Ok(text) = std::fs::read_to_string("/proc/self/stat") else {
            return Ok(());
        };
        let ticks = sysconf(libc::_SC_CLK_TCK).unwrap_or(100) as f64;
        let page = sysconf(libc::_SC_PAGESIZE).unwrap_or(4096);
        let Some(stat) = parse_stat(&text, ticks, page) else {
            return Ok(());
        };
        let cpu = ConstCounter::new(stat.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            names::PROCESS_CPU,
            "User and system CPU time spent, in seconds.",
            None,
            cpu.metric_type(),
        )?)?;
        let e = &mut encoder;
        gauge(
            e,
            names::PROCESS_RESIDENT_MEMORY,
            "Resident memory size in bytes.",
            stat.resident_bytes,
        )?;
        gauge(
            e,
            names::PROCESS_VIRTUAL_MEMORY,
            "Virtual memory size in bytes.",
            stat.virtual_bytes,
        )?;
        gauge(
            e,
            names::PROCESS_THREADS,
            "OS threads in the process.",
            stat.threads,
        )?;
        if let Some(n) = open_fds() {
            gauge(e, names::PROCESS_OPEN_FDS, "Open file descriptors.", n)?;
        }
        if let Some(n) = max_fds() {
            gauge(
                e,
                names::PROCESS_MAX_FDS,
                "Maximum number of open file descriptors.",
                n,
            )?;
        }
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| parse_boot_time(&t));
        if let Some(boot) = boot {
            let start = ConstGauge::new(boot as f64 + stat.start_after_boot);
            start.encode(encoder.encode_descriptor(
                names::PROCESS_START_TIME,
                "Start time of the process since the epoch, in seconds.",
                None,
                start.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let text = "4242 (lovebeat (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 1000 123456789 512 18446744073709551615";
        let stat = parse_stat(text, 100.0, 4096).unwrap();
        assert_eq!(
            stat,
            Stat {
                cpu_seconds: 3.0,
                threads: 7,
                start_after_boot: 10.0,
                virtual_bytes: 123_456_789,
                resident_bytes: 512 * 4096,
            }
        );
        assert_eq!(parse_stat("garbage", 100.0, 4096), None);
    }

    #[test]
    fn boot_time_comes_from_btime() {
        assert_eq!(
            parse_boot_time("cpu 1 2 3\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_boot_time("cpu 1 2 3\n"), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_can_be_read() {
        let text = std::fs::read_to_string("/proc/self/stat").unwrap();
        let stat = parse_stat(&text, 100.0, 4096).unwrap();
        assert!(stat.threads >= 1 && stat.resident_bytes > 0);
        assert!(open_fds().unwrap() > 0 && max_fds().unwrap() > 0);
    }
}
