//! JSON shapes of the HTTP API: the Go lovebeat's field names and order,
//! plus the fields of the warning/error model.

use std::sync::Arc;

use lovebeat_core::auto::Algorithm;
use lovebeat_core::{Analysis, Failure, Millis, ServiceInfo, State, ViewInfo, analyze};
use serde::Serialize;

/// A service as the API and the websocket show it.
#[derive(Serialize)]
pub struct ServiceJson<'a> {
    name: &'a str,
    /// ms since the epoch; -1 if never beaten.
    last_beat: Millis,
    /// The error timeout on the wire: ms, 0 always, -1 never, -2 auto.
    timeout: i64,
    warn_timeout: i64,
    state: State,
    /// ms since the epoch, 0 when not muted.
    muted_since: Millis,
    last_state_change: Millis,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    in_alarms: &'a [Arc<str>],
    #[serde(skip_serializing_if = "Option::is_none")]
    analysis: Option<Analysis>,
    created: Millis,
    beats: u64,
    /// What AUTO stands for now, in ms, when a timeout is AUTO.
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_timeout: Option<u64>,
    /// The AUTO estimator, when a timeout is AUTO.
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_algorithm: Option<Algorithm>,
    /// One line on why AUTO is what it is, when a timeout is AUTO.
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<&'a Failure>,
    /// The most recent beat intervals in ms, oldest first.
    recent_intervals: Vec<u32>,
    /// The team label, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    team: Option<&'a str>,
}

/// How many intervals `recent_intervals` shows.
const RECENT: usize = 20;

impl<'a> ServiceJson<'a> {
    pub fn new(info: &'a ServiceInfo) -> ServiceJson<'a> {
        let r = &info.record;
        let uses_auto = [r.warn_timeout, r.err_timeout].contains(&lovebeat_core::Timeout::Auto);
        let (analysis, recent) = r.history.with_slice(|intervals| {
            let recent = &intervals[intervals.len().saturating_sub(RECENT)..];
            (analyze(intervals), recent.to_vec())
        });
        ServiceJson {
            name: &r.name,
            last_beat: r.last_beat.unwrap_or(-1),
            timeout: r.err_timeout.to_wire_ms(),
            warn_timeout: r.warn_timeout.to_wire_ms(),
            state: r.state,
            muted_since: r.muted_since.unwrap_or(0),
            last_state_change: r.last_state_change,
            in_alarms: &info.views,
            analysis,
            created: r.created,
            beats: r.beats,
            auto_timeout: info.auto_timeout.filter(|_| uses_auto),
            auto_algorithm: uses_auto.then_some(info.auto_algorithm),
            auto_reason: info.auto_reason.as_deref(),
            failure: r.failure.as_deref(),
            recent_intervals: recent,
            team: r.team.as_deref(),
        }
    }
}

/// A view ("alarm") as the API shows it.
#[derive(Serialize)]
pub struct ViewJson<'a> {
    name: &'a str,
    state: State,
    incident_nbr: u64,
    failed_services: &'a [Arc<str>],
    last_state_change: Millis,
    members: usize,
}

impl<'a> ViewJson<'a> {
    pub fn new(info: &'a ViewInfo) -> ViewJson<'a> {
        ViewJson {
            name: &info.record.name,
            state: info.record.state,
            incident_nbr: info.record.incident,
            failed_services: &info.failed,
            last_state_change: info.record.last_state_change,
            members: info.members,
        }
    }
}

/// Pretty JSON with a trailing newline, as Go lovebeat wrote it.
pub fn pretty(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("API values serialize");
    text.push('\n');
    text
}

/// RFC 3339 in UTC with milliseconds, as statuscope writes `check_in`:
/// `2018-12-05T13:27:00.980Z`.
pub fn rfc3339(ms: Millis) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc_with_milliseconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_544_016_420_980), "2018-12-05T13:27:00.980Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }
}
