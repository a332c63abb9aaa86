//! Operating lovebeat: `[metrics]` (statsd out), `[eventlog]`,
//! `[[notify]]` and `[peers]` (autobeats to peer lovebeats) and
//! `[prometheus]`, into the ops settings.

use std::path::PathBuf;

use lovebeat_ops::eventlog::EventLogSettings;
use lovebeat_ops::notify::PeerSettings;
use lovebeat_ops::statsd::StatsdSettings;
use toml::Spanned;

use crate::check::{Checker, base_url, host_port, off_if_empty, seconds};
use crate::{Config, raw};

/// The most services `[prometheus] max_services` may ask for.
pub const MAX_PROMETHEUS_SERVICES: usize = 10_000_000;

/// `[metrics] prefix` when not set.
const METRICS_PREFIX: &str = "lovebeat";

/// `[eventlog] mode` when not set.
const EVENTLOG_MODE: u32 = 0o644;

/// `[metrics]`, `[eventlog]`, `[peers]` and `[prometheus]` over the
/// defaults in `config`.
pub(crate) fn apply(
    c: &mut Checker<'_>,
    config: &mut Config,
    metrics: raw::Metrics,
    eventlog: raw::EventLog,
    peers: raw::Peers,
) {
    let server = c.value("[metrics] server", metrics.server, None, |s| {
        off_if_empty(s).map(host_port).transpose()
    });
    let prefix = c.value(
        "[metrics] prefix",
        metrics.prefix,
        METRICS_PREFIX.to_owned(),
        Ok,
    );
    config.statsd = server.map(|server| StatsdSettings { server, prefix });
    let path = c.value("[eventlog] path", eventlog.path, None, |p| {
        Ok(off_if_empty(p).map(PathBuf::from))
    });
    let mode = eventlog.mode;
    let is_octal = mode
        .as_ref()
        .is_some_and(|m| c.sources.text(m.span()).starts_with("0o"));
    let mode = c.value("[eventlog] mode", mode, EVENTLOG_MODE, |m| {
        file_mode(m, is_octal)
    });
    config.eventlog = path.map(|path| EventLogSettings { path, mode });
    let p = &mut config.peers;
    c.set(&mut p.interval, "[peers] interval", peers.interval, seconds);
    c.set(&mut p.host, "[peers] host", peers.host, |h| {
        off_if_empty(h)
            .map(peer_host)
            .transpose()
            .map(Option::unwrap_or_default)
    });
}

/// `[prometheus]` over the defaults in `config`.
pub(crate) fn apply_prometheus(c: &mut Checker<'_>, config: &mut Config, raw: raw::Prometheus) {
    let max = &mut config.series.max_services;
    c.set(
        max,
        "[prometheus] max_services",
        raw.max_services,
        max_services,
    );
}

/// `[[notify]]`: the peers' base URLs, in file order.
pub(crate) fn apply_notify(
    c: &mut Checker<'_>,
    peers: &mut PeerSettings,
    entries: Vec<Spanned<raw::Notify>>,
) {
    for entry in entries {
        let url = entry.into_inner().lovebeat;
        peers
            .urls
            .extend(c.value("[[notify]] lovebeat", Some(url), None, |u| {
                // A peer's base URL (§7.2): the API path is appended.
                base_url(u, "URL").map(Some)
            }));
    }
}

/// Go lovebeat read `mode = 644` as a decimal number and used its digits as
/// octal; so do we, rejecting what is not an octal permission. A TOML octal
/// literal (`mode = 0o644`, `is_octal`) is taken as it is.
fn file_mode(value: i64, is_octal: bool) -> Result<u32, String> {
    let mode = if is_octal {
        u32::try_from(value).ok()
    } else {
        u32::from_str_radix(&value.to_string(), 8).ok()
    };
    mode.filter(|&m| m <= 0o7777).ok_or_else(|| {
        format!("invalid file mode {value}: expected up to 4 octal digits (0-7), e.g. 644")
    })
}

/// The HOST of `lovebeat.HOST.*`: one name segment.
fn peer_host(host: String) -> Result<String, String> {
    let valid = host
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        Ok(host)
    } else {
        Err(format!(
            "invalid host {host:?}: use a-z 0-9 _ - (it becomes lovebeat.HOST.monitor)"
        ))
    }
}

fn max_services(value: i64) -> Result<usize, String> {
    usize::try_from(value)
        .ok()
        .filter(|n| *n <= MAX_PROMETHEUS_SERVICES)
        .ok_or_else(|| format!("must be from 0 to {MAX_PROMETHEUS_SERVICES} (got {value})"))
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn eventlog_mode_digits_are_octal() {
        let mode = |m: &str| {
            let text = format!("[eventlog]\npath = \"e\"\nmode = {m}");
            parse(&text).eventlog.unwrap().mode
        };
        assert_eq!(mode("755"), 0o755);
        assert_eq!(mode("0"), 0);
        assert_eq!(mode("4755"), 0o4755);
        assert_eq!(mode("0o640"), 0o640);
        assert!(error("[eventlog]\nmode = 0o17777").contains("invalid file mode"));
        for bad in ["648", "-1", "17777", "90"] {
            let message = error(&format!("[eventlog]\nmode = {bad}\n"));
            assert!(
                message.starts_with(&format!(
                    "/etc/lovebeat.cfg:2: [eventlog] mode: invalid file mode {bad}: "
                )),
                "{message}"
            );
        }
    }

    #[test]
    fn notify_urls_must_be_http() {
        let config =
            parse("[[notify]]\nlovebeat = \"https://a:1//\"\n[[notify]]\nlovebeat = \"http://b\"");
        assert_eq!(config.peers.urls, strings(&["https://a:1", "http://b"]));
        assert_eq!(
            error("[[notify]]\nlovebeat = \"ftp://a\""),
            "/etc/lovebeat.cfg:2: [[notify]] lovebeat: \
             invalid URL \"ftp://a\": expected http://HOST[:PORT] or https://…"
        );
    }

    #[test]
    fn peers_host_is_one_name_segment_and_max_services_is_bounded() {
        assert_eq!(parse("[peers]\nhost = \"\"").peers.host, "");
        assert_eq!(
            error("[peers]\nhost = \"Web.1\""),
            "/etc/lovebeat.cfg:2: [peers] host: \
             invalid host \"Web.1\": use a-z 0-9 _ - (it becomes lovebeat.HOST.monitor)"
        );
        assert!(error("[peers]\ninterval = 0").contains("[peers] interval"));
        assert!(error("[prometheus]\nmax_services = -1").contains("from 0 to 10000000"));
    }
}
