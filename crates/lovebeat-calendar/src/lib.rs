//! When a scheduled job is expected to run: a 5-field cron expression or a
//! systemd `OnCalendar` expression, on the wall clock of an IANA time zone.
//!
//! Cron is parsed and evaluated by the `croner` crate; `OnCalendar`, which no
//! maintained crate reads, by [`systemd`] here. Both work on `jiff`'s time
//! zones, whose database is compiled in, so a zone name means the same on
//! every machine. Times are milliseconds since the Unix epoch, as in the
//! rest of lovebeat.
//!
//! Daylight saving time: a wall-clock time the clock skips (02:30 on the
//! night it jumps from 02:00 to 03:00) runs at the first instant after the
//! jump; a wall-clock time that happens twice (the night the clock goes
//! back) runs once, the first time.

mod systemd;

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::tz::TimeZone;

pub use systemd::OnCalendar;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// A parsed schedule in its time zone.
#[derive(Clone)]
pub struct Calendar {
    expression: Box<str>,
    zone_name: Box<str>,
    zone: TimeZone,
    rule: Rule,
}

#[derive(Clone)]
enum Rule {
    Cron(Box<croner::Cron>),
    OnCalendar(OnCalendar),
}

/// Why an expression or a zone was refused; the text says what to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarError(String);

impl fmt::Display for CalendarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CalendarError {}

impl CalendarError {
    fn new(message: impl Into<String>) -> CalendarError {
        CalendarError(message.into())
    }
}

/// The zone named `name` (an IANA name such as `Europe/Berlin`, or `UTC`).
fn zone(name: &str) -> Result<TimeZone, CalendarError> {
    TimeZone::get(name).map_err(|_| {
        CalendarError::new(format!(
            "unknown time zone {name:?}: use an IANA name such as \"Europe/Berlin\" or \"UTC\""
        ))
    })
}

/// Whether `expression` is cron: an `@` shorthand or exactly five fields.
fn is_cron(expression: &str) -> bool {
    expression.starts_with('@') || expression.split_whitespace().count() == 5
}

impl Calendar {
    /// `expression` read as cron when it has five fields or starts with `@`
    /// (`@daily`), otherwise as systemd `OnCalendar`, on the wall clock of
    /// `zone` (UTC when `None`). An `OnCalendar` expression may end with its
    /// own zone (`daily Europe/Berlin`); it must then agree with `zone`.
    pub fn parse(expression: &str, zone_name: Option<&str>) -> Result<Calendar, CalendarError> {
        let expression = expression.trim();
        if expression.is_empty() {
            return Err(CalendarError::new(
                "an empty schedule: write a cron expression such as \"0 2 * * 1-5\" \
                 or an OnCalendar expression such as \"Mon..Fri 02:00\"",
            ));
        }
        let (rule, own_zone) = if is_cron(expression) {
            let cron = croner::Cron::from_str(expression).map_err(|e| {
                CalendarError::new(format!(
                    "bad cron expression {expression:?}: {e} (five fields: minute hour \
                     day-of-month month day-of-week)"
                ))
            })?;
            (Rule::Cron(Box::new(cron)), None)
        } else {
            let (on_calendar, own_zone) = OnCalendar::parse(expression)?;
            (Rule::OnCalendar(on_calendar), own_zone)
        };
        let zone_name = match (zone_name, own_zone.as_deref()) {
            (Some(given), Some(own)) if given != own => {
                return Err(CalendarError::new(format!(
                    "the schedule {expression:?} names the time zone {own:?} but tz is {given:?}: \
                     give one of them"
                )));
            }
            (Some(name), _) | (None, Some(name)) => name,
            (None, None) => "UTC",
        };
        Ok(Calendar {
            expression: expression.into(),
            zone: zone(zone_name)?,
            zone_name: zone_name.into(),
            rule,
        })
    }

    /// The expression as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone's name.
    pub fn zone(&self) -> &str {
        &self.zone_name
    }

    /// The first scheduled time strictly after `after`, or `None` when the
    /// schedule never runs again (a date in the past).
    pub fn next_after(&self, after: Millis) -> Option<Millis> {
        let at = Timestamp::from_millisecond(after).ok()?;
        let next = match &self.rule {
            Rule::Cron(cron) => cron
                .find_next_occurrence(&at.to_zoned(self.zone.clone()), false)
                .ok()?
                .timestamp(),
            Rule::OnCalendar(on_calendar) => on_calendar.next_after(&self.zone, at)?,
        };
        Some(next.as_millisecond())
    }
}

impl fmt::Debug for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Calendar")
            .field("expression", &self.expression)
            .field("zone", &self.zone_name)
            .finish()
    }
}

impl PartialEq for Calendar {
    fn eq(&self, other: &Calendar) -> bool {
        self.expression == other.expression && self.zone_name == other.zone_name
    }
}

impl Eq for Calendar {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> Millis {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn next(expression: &str, zone: &str, after: &str) -> String {
        let calendar = Calendar::parse(expression, Some(zone)).unwrap();
        let at = calendar.next_after(ms(after)).unwrap();
        Timestamp::from_millisecond(at).unwrap().to_string()
    }

    #[test]
    fn cron_on_weekdays_in_berlin_follows_daylight_saving_time() {
        // 2026-03-29 Berlin goes from +01:00 to +02:00; Friday the 27th
        // runs at 01:00Z, Monday the 30th at 00:00Z.
        let cron = "0 2 * * 1-5";
        assert_eq!(
            next(cron, "Europe/Berlin", "2026-03-26T01:00:00Z"),
            "2026-03-27T01:00:00Z"
        );
        assert_eq!(
            next(cron, "Europe/Berlin", "2026-03-27T01:00:00Z"),
            "2026-03-30T00:00:00Z"
        );
        // Back to +01:00 on 2026-10-25 (a Sunday): Monday runs at 01:00Z.
        assert_eq!(
            next(cron, "Europe/Berlin", "2026-10-23T00:00:00Z"),
            "2026-10-26T01:00:00Z"
        );
    }

    #[test]
    fn on_calendar_in_the_skipped_hour_runs_when_the_clock_jumps() {
        // 02:30 does not exist in Berlin on 2026-03-29: run at 03:00 local.
        assert_eq!(
            next("*-*-* 02:30", "Europe/Berlin", "2026-03-28T12:00:00Z"),
            "2026-03-29T01:00:00Z"
        );
        assert_eq!(
            next("*-*-* 02:30", "Europe/Berlin", "2026-03-29T01:00:00Z"),
            "2026-03-30T00:30:00Z"
        );
    }

    #[test]
    fn on_calendar_in_the_repeated_hour_runs_once() {
        // 02:30 happens twice in Berlin on 2026-10-25: 00:30Z and 01:30Z.
        let daily = "*-*-* 02:30:00";
        assert_eq!(
            next(daily, "Europe/Berlin", "2026-10-24T12:00:00Z"),
            "2026-10-25T00:30:00Z"
        );
        assert_eq!(
            next(daily, "Europe/Berlin", "2026-10-25T00:30:00Z"),
            "2026-10-26T01:30:00Z"
        );
    }

    #[test]
    fn the_zone_defaults_to_utc_and_may_come_with_the_expression() {
        let utc = Calendar::parse("daily", None).unwrap();
        assert_eq!(utc.zone(), "UTC");
        assert_eq!(
            utc.next_after(ms("2026-01-01T05:00:00Z")),
            Some(ms("2026-01-02T00:00:00Z"))
        );
        let auckland = Calendar::parse("weekly Pacific/Auckland", None).unwrap();
        assert_eq!(auckland.zone(), "Pacific/Auckland");
        assert!(Calendar::parse("daily UTC", Some("Europe/Berlin")).is_err());
        assert!(Calendar::parse("daily UTC", Some("UTC")).is_ok());
    }

    #[test]
    fn bad_input_says_what_to_write() {
        let err = |e: &str, z: Option<&str>| Calendar::parse(e, z).unwrap_err().to_string();
        assert!(err("0 2 * * *", Some("Mars/Olympus")).contains("IANA name"));
        assert!(err("61 2 * * *", None).contains("bad cron expression"));
        assert!(err("", None).contains("empty"));
        assert!(err("Mon..Fri 25:00", None).contains("hour"));
    }

    #[test]
    fn a_date_in_the_past_never_runs_again() {
        let once = Calendar::parse("2003-03-05 05:40", None).unwrap();
        assert_eq!(once.next_after(ms("2026-01-01T00:00:00Z")), None);
        assert_eq!(
            once.next_after(ms("2003-01-01T00:00:00Z")),
            Some(ms("2003-03-05T05:40:00Z"))
        );
    }
}
