//! The JSON shape of services and views, as the HTTP API, the websocket
//! and the event log write them: the Go lovebeat's field names and order,
//! plus the fields of the warning/error model.

use std::sync::Arc;

use serde::Serialize;

use crate::auto::Algorithm;
use crate::runs::Runs;
use crate::{Analysis, Failure, Millis, ServiceInfo, State, ViewInfo, analyze};

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
    /// The calendar schedule, when the service has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule: Option<ScheduleJson<'a>>,
    /// Open runs, the last run's duration and the runs' limit, for a
    /// service that ever received `start`.
    #[serde(skip_serializing_if = "Option::is_none")]
    runs: Option<&'a Runs>,
}

/// A service's schedule as the API shows it.
#[derive(Serialize)]
struct ScheduleJson<'a> {
    /// The cron or `OnCalendar` expression.
    expression: &'a str,
    /// The IANA time zone.
    tz: &'a str,
    /// ms after the expected run that the service is in error.
    grace: u64,
    /// The next expected run, ms since the epoch (absent: never again).
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<Millis>,
}

/// How many intervals `recent_intervals` shows.
const RECENT: usize = 20;

impl<'a> ServiceJson<'a> {
    /// The JSON of `info`.
    pub fn new(info: &'a ServiceInfo) -> ServiceJson<'a> {
        let r = &info.record;
        let uses_auto = [r.warn_timeout, r.err_timeout].contains(&crate::Timeout::Auto);
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
            schedule: r.schedule.as_deref().map(|s| ScheduleJson {
                expression: s.expression(),
                tz: s.zone(),
                grace: s.grace_ms(),
                expected: s.expected_after(r.last_beat.unwrap_or(r.created)),
            }),
            runs: r.runs.as_deref(),
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
    /// The JSON of `info`.
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
