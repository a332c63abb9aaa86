//! The engine's rules in calendar time: schedules (cron and OnCalendar in
//! a time zone, across daylight saving time) and runs (`start` to finish,
//! a run open past its limit), on a simulated clock.

use std::sync::Arc;

use super::tests::{ERR, WARN, engine, state};
use super::*;
use crate::State;

/// Milliseconds of an RFC 3339 time, for the schedule tests.
fn at(text: &str) -> Millis {
    text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

/// The service's own next deadline (the engine's queue may hold stale
/// entries until they come due).
fn deadline(e: &Engine, name: &str) -> Option<Millis> {
    let info = e.service(name).unwrap();
    info.next_deadline(info.record.last_beat.unwrap_or(info.record.created))
}

fn scheduled(e: &mut Engine, now: Millis, name: &str, cron: &str, zone: &str, grace_s: u64) {
    let schedule = Schedule::new(cron, Some(zone), grace_s * 1000).unwrap();
    e.set_schedule(now, name, Some(Arc::new(schedule)));
}

#[test]
fn a_weekday_cron_job_in_berlin_is_late_at_the_right_instant_across_daylight_saving_time() {
    // 02:00 on weekdays, Berlin time, 30 minutes of grace. Berlin moves
    // from +01:00 to +02:00 on Sunday 2026-03-29.
    let mut e = engine();
    let created = at("2026-03-26T12:00:00Z");
    scheduled(
        &mut e,
        created,
        "backup",
        "0 2 * * 1-5",
        "Europe/Berlin",
        1800,
    );
    // Never beat: expected Friday 02:00 CET (01:00Z), late at 01:30Z.
    assert_eq!(e.next_deadline(), Some(at("2026-03-27T01:30:00Z")));
    e.tick(at("2026-03-27T01:29:59Z"));
    assert_eq!(state(&e, "backup"), State::New);
    e.tick(at("2026-03-27T01:30:00Z"));
    assert_eq!(state(&e, "backup"), State::Error);
    // Friday's run reports at 02:31 CET; the next is Monday 02:00 CEST
    // (00:00Z), late at 00:30Z: an hour earlier in UTC than before.
    e.beat(at("2026-03-27T01:31:00Z"), "backup");
    assert_eq!(state(&e, "backup"), State::Ok);
    assert_eq!(deadline(&e, "backup"), Some(at("2026-03-30T00:30:00Z")));
    e.tick(at("2026-03-30T00:29:59Z"));
    assert_eq!(state(&e, "backup"), State::Ok);
    e.tick(at("2026-03-30T00:30:00Z"));
    assert_eq!(state(&e, "backup"), State::Error);
    // And back: Berlin returns to +01:00 on Sunday 2026-10-25. Friday
    // 23rd's run is late at 00:30Z, Monday 26th's at 01:30Z.
    e.beat(at("2026-10-22T00:05:00Z"), "backup");
    assert_eq!(deadline(&e, "backup"), Some(at("2026-10-23T00:30:00Z")));
    e.beat(at("2026-10-23T00:05:00Z"), "backup");
    assert_eq!(deadline(&e, "backup"), Some(at("2026-10-26T01:30:00Z")));
    e.tick(at("2026-10-26T01:29:59Z"));
    assert_eq!(state(&e, "backup"), State::Ok);
    e.tick(at("2026-10-26T01:30:00Z"));
    assert_eq!(state(&e, "backup"), State::Error);
}

#[test]
fn a_warning_timeout_counts_from_the_expected_run_and_an_error_timeout_beside_it_still_holds() {
    let mut e = engine();
    let start = at("2026-12-08T00:00:00Z");
    scheduled(&mut e, start, "job", "daily", "UTC", 3600);
    e.set_timeout(start, "job", WARN, Timeout::After(600_000));
    e.beat(start + 1000, "job");
    // Expected at midnight: a warning at 00:10, an error at 01:00.
    assert_eq!(e.next_deadline(), Some(at("2026-12-09T00:10:00Z")));
    e.tick(at("2026-12-09T00:10:00Z"));
    assert_eq!(state(&e, "job"), State::Warning);
    e.tick(at("2026-12-09T01:00:00Z"));
    assert_eq!(state(&e, "job"), State::Error);
    // An error timeout of 2 h beside the schedule comes first.
    e.beat(at("2026-12-09T01:00:00Z"), "job");
    e.set_timeout(
        at("2026-12-09T01:00:00Z"),
        "job",
        ERR,
        Timeout::After(7_200_000),
    );
    e.tick(at("2026-12-09T03:00:00Z"));
    assert_eq!(state(&e, "job"), State::Error);
    // Off the schedule, the timeouts count from the last beat again.
    e.set_schedule(at("2026-12-09T03:00:00Z"), "job", None);
    e.beat(at("2026-12-09T03:00:00Z"), "job");
    assert_eq!(deadline(&e, "job"), Some(at("2026-12-09T03:10:00Z")));
}

#[test]
fn a_run_that_started_and_did_not_finish_is_late_after_its_limit() {
    // Daily at 02:00 UTC, 30 minutes of grace, runs of at most 10 minutes:
    // a run that starts at 02:00:04 and is still going at 02:10:04 is late.
    let mut e = engine();
    let day = at("2026-12-08T00:00:00Z");
    scheduled(&mut e, day, "backup", "0 2 * * *", "UTC", 1800);
    e.set_max_duration(day, "backup", Some(600_000));
    e.beat(day, "backup");
    e.start_run(at("2026-12-08T02:00:04Z"), "backup", None);
    assert_eq!(deadline(&e, "backup"), Some(at("2026-12-08T02:10:04Z")));
    e.tick(at("2026-12-08T02:10:03Z"));
    assert_eq!(state(&e, "backup"), State::Ok);
    e.tick(at("2026-12-08T02:10:04Z"));
    assert_eq!(state(&e, "backup"), State::Error);
    // It finishes: ok again, with its duration, until tomorrow 02:30.
    e.beat(at("2026-12-08T02:41:04Z"), "backup");
    assert_eq!(state(&e, "backup"), State::Ok);
    let record = e.service("backup").unwrap().record;
    assert_eq!(
        record.runs.as_ref().unwrap().last_duration,
        Some(41 * 60_000)
    );
    assert_eq!(deadline(&e, "backup"), Some(at("2026-12-09T02:30:00Z")));
    // A failure closes the run too, and says so.
    e.start_run(at("2026-12-09T02:00:00Z"), "backup", Some("r1"));
    e.finish_run(
        at("2026-12-09T02:05:00Z"),
        "backup",
        "r1",
        Some((Severity::Error, "exit status 2")),
    );
    assert_eq!(state(&e, "backup"), State::Error);
    let record = e.service("backup").unwrap().record;
    assert!(record.runs.as_ref().unwrap().open.is_empty());
    assert_eq!(
        record.runs.as_ref().unwrap().last_duration,
        Some(5 * 60_000)
    );
}
