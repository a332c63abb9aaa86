//! `[limits]`: how much of anything lovebeat takes (docs/RELIABILITY.md),
//! each key within its range, into the settings of what enforces it: the
//! line protocol's ingest, the HTTP server (with the push tokens, one a
//! service), the engine and its queue.

use toml::Spanned;

use crate::check::{Checker, seconds, seconds_or_zero};
use crate::{Config, raw};

const MILLION: usize = 1_000_000;

/// `[limits]` over the defaults in `config`.
pub(crate) fn apply(c: &mut Checker<'_>, config: &mut Config, raw: raw::Limits) {
    let mut count =
        |key: &str, value: Option<Spanned<i64>>, default: usize, min: usize, max: usize| {
            c.value(&format!("[limits] {key}"), value, default, |v| {
                usize::try_from(v)
                    .ok()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| format!("must be from {min} to {max} (got {v})"))
            })
        };
    let (ingest, http) = (&mut config.ingest, &mut config.http_limits);
    ingest.line_length = count(
        "line_length",
        raw.line_length,
        ingest.line_length,
        16,
        65_536,
    );
    ingest.tcp_connections = count(
        "tcp_connections",
        raw.tcp_connections,
        ingest.tcp_connections,
        1,
        MILLION,
    );
    ingest.tcp_connections_per_source = count(
        "tcp_connections_per_source",
        raw.tcp_connections_per_source,
        ingest.tcp_connections_per_source,
        1,
        MILLION,
    );
    http.connections = count(
        "http_connections",
        raw.http_connections,
        http.connections,
        1,
        MILLION,
    );
    http.connections_per_source = count(
        "http_connections_per_source",
        raw.http_connections_per_source,
        http.connections_per_source,
        1,
        MILLION,
    );
    http.answer_memory = count(
        "http_answer_memory",
        raw.http_answer_memory,
        http.answer_memory,
        1 << 20,
        1 << 32,
    );
    http.body = count("http_body", raw.http_body, http.body, 1024, 64 << 20);
    http.websockets = count("websockets", raw.websockets, http.websockets, 0, MILLION);
    config.queue = count("queue", raw.queue, config.queue, 1, MILLION);
    // 0 is no limit.
    let services = count(
        "services",
        raw.services,
        config.engine.max_services,
        0,
        100 * MILLION,
    );
    config.engine.max_services = if services == 0 { usize::MAX } else { services };
    // One push token a service at most.
    http.tokens = config.engine.max_services;
    http.message = count(
        "message_length",
        raw.message_length,
        http.message,
        16,
        65_536,
    );
    ingest.tcp_idle_timeout = c.value(
        "[limits] tcp_idle_timeout",
        raw.tcp_idle_timeout,
        ingest.tcp_idle_timeout,
        |s| seconds_or_zero(s).map(|d| (!d.is_zero()).then_some(d)),
    );
    http.read_timeout = c.value(
        "[limits] http_read_timeout",
        raw.http_read_timeout,
        http.read_timeout,
        seconds,
    );
    http.write_timeout = c.value(
        "[limits] http_write_timeout",
        raw.http_write_timeout,
        http.write_timeout,
        seconds,
    );
}
