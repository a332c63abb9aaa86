//! A service's schedule: the calendar its job runs on and how late a run
//! may report.
//!
//! A service with a schedule expects its next beat at the first scheduled
//! time after its last beat (or after its creation), and is in error
//! `grace` after that; a warning timeout then counts from the expected
//! time too. An error timeout set beside a schedule still applies, from the
//! last beat, whichever comes first.

use std::fmt;

use lovebeat_calendar::{Calendar, CalendarError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Millis;

/// When a scheduled job is expected, and how long after that it may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    calendar: Calendar,
    grace_ms: u64,
}

impl Schedule {
    /// How late a run may report when no grace is given: an hour, as
    /// healthchecks does.
    pub const DEFAULT_GRACE_S: u64 = 3600;

    /// The schedule `expression` (cron or systemd `OnCalendar`) in `zone`
    /// (UTC when `None`), late `grace_ms` after each expected time.
    pub fn new(
        expression: &str,
        zone: Option<&str>,
        grace_ms: u64,
    ) -> Result<Schedule, CalendarError> {
        Ok(Schedule {
            calendar: Calendar::parse(expression, zone)?,
            grace_ms,
        })
    }

    /// The expression as given.
    pub fn expression(&self) -> &str {
        self.calendar.expression()
    }

    /// The time zone's IANA name.
    pub fn zone(&self) -> &str {
        self.calendar.zone()
    }

    /// How long after the expected time the service is in error, in ms.
    pub fn grace_ms(&self) -> u64 {
        self.grace_ms
    }

    /// The first expected run after `base`, if the schedule runs again.
    pub fn expected_after(&self, base: Millis) -> Option<Millis> {
        self.calendar.next_after(base)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} in {}, grace {}s",
            self.expression(),
            self.zone(),
            self.grace_ms / 1000
        )
    }
}

/// The stored and wire form: the expression, the zone and the grace.
#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    expression: std::borrow::Cow<'a, str>,
    tz: std::borrow::Cow<'a, str>,
    grace: u64,
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Stored {
            expression: self.expression().into(),
            tz: self.zone().into(),
            grace: self.grace_ms,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Schedule, D::Error> {
        let stored = Stored::deserialize(deserializer)?;
        Schedule::new(&stored.expression, Some(&stored.tz), stored.grace)
            .map_err(serde::de::Error::custom)
    }
}
