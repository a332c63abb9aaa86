//! systemd's calendar events (`OnCalendar=`, systemd.time(7)): parsed,
//! written back in systemd's normalized form, and evaluated on a zone's
//! wall clock.
//!
//! The form is `[WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:MINUTE[:SECOND]] [ZONE]`
//! or one of the words `minutely`, `hourly`, `daily`, `weekly`, `monthly`,
//! `yearly`/`annually`, `quarterly`, `semiannually`. Each number field is
//! `*` or a comma list of `A`, `A..B`, `A/STEP` and `A..B/STEP`; weekdays are
//! names (`Mon`, `monday`) and `A..B` ranges; `MONTH~DAY` counts the day
//! from the end of the month (`*-02~01` is the last day of February); a
//! two-digit year is 2000-2069 or 1970-1999. Not supported, with an error
//! saying so: fractions of a second and `@EPOCH` timestamps.

use std::fmt;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use crate::CalendarError;

/// The years a calendar event can name (systemd's own bounds).
const YEARS: (u32, u32) = (1970, 2199);

/// A parsed calendar event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCalendar {
    /// Bit `i` set: the weekday `i` days after Monday runs; 0: any day.
    weekdays: u8,
    year: Field,
    month: Field,
    day: Field,
    /// `MONTH~DAY`: days count back from the month's last day (1 = last).
    day_from_end: bool,
    hour: Field,
    minute: Field,
    second: Field,
}

/// One number field: `*` when empty, else any of its items.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Field(Vec<Item>);

/// `start`, `start..end`, `start/step` or `start..end/step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Item {
    start: u32,
    end: Option<u32>,
    step: Option<u32>,
}

const WEEKDAY_NAMES: [(&str, &str); 7] = [
    ("mon", "monday"),
    ("tue", "tuesday"),
    ("wed", "wednesday"),
    ("thu", "thursday"),
    ("fri", "friday"),
    ("sat", "saturday"),
    ("sun", "sunday"),
];

const SHORTHANDS: [(&str, &str); 9] = [
    ("minutely", "*-*-* *:*:00"),
    ("hourly", "*-*-* *:00:00"),
    ("daily", "*-*-* 00:00:00"),
    ("monthly", "*-*-01 00:00:00"),
    ("weekly", "Mon *-*-* 00:00:00"),
    ("yearly", "*-01-01 00:00:00"),
    ("annually", "*-01-01 00:00:00"),
    ("quarterly", "*-01,04,07,10-01 00:00:00"),
    ("semiannually", "*-01,07-01 00:00:00"),
];

fn error(text: &str, what: impl fmt::Display) -> CalendarError {
    CalendarError::new(format!(
        "bad calendar expression {text:?}: {what} (systemd OnCalendar form: \
         [WEEKDAYS] [YEAR-MONTH-DAY] [HOUR:MINUTE[:SECOND]] [ZONE], e.g. \"Mon..Fri 02:00\")"
    ))
}

impl OnCalendar {
    /// The event `text` means, and the zone it ends with, if any.
    pub(crate) fn parse(text: &str) -> Result<(OnCalendar, Option<String>), CalendarError> {
        let mut tokens: Vec<&str> = text.split_whitespace().collect();
        let zone = match tokens.as_slice() {
            [.., last] if tokens.len() > 1 && is_zone(last) => tokens.pop().map(str::to_owned),
            _ => None,
        };
        if let [word] = tokens.as_slice()
            && let Some((_, expanded)) = SHORTHANDS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(word))
        {
            return Ok((OnCalendar::parse_tokens(text, expanded.split(' '))?, zone));
        }
        Ok((OnCalendar::parse_tokens(text, tokens.into_iter())?, zone))
    }

    fn parse_tokens<'a>(
        text: &str,
        tokens: impl Iterator<Item = &'a str>,
    ) -> Result<OnCalendar, CalendarError> {
        let mut event = OnCalendar {
            weekdays: 0,
            year: Field::default(),
            month: Field::default(),
            day: Field::default(),
            day_from_end: false,
            hour: Field(vec![Item::value(0)]),
            minute: Field(vec![Item::value(0)]),
            second: Field(vec![Item::value(0)]),
        };
        let mut weekdays = String::new();
        let (mut date, mut time) = (None, None);
        for token in tokens {
            let continues_weekdays = weekdays.ends_with(',');
            if token.starts_with(|c: char| c.is_ascii_alphabetic())
                && (weekdays.is_empty() || continues_weekdays)
                && date.is_none()
                && time.is_none()
            {
                weekdays.push_str(token);
            } else if time.is_some() {
                return Err(error(text, format!("{token:?} after the time")));
            } else if token.contains(':') {
                time = Some(token);
            } else if date.is_none() {
                date = Some(token);
            } else {
                return Err(error(text, format!("a second date {token:?}")));
            }
        }
        if !weekdays.is_empty() {
            event.weekdays = parse_weekdays(text, weekdays.trim_end_matches(','))?;
        }
        if let Some(date) = date {
            event.parse_date(text, date)?;
        }
        if let Some(time) = time {
            event.parse_time(text, time)?;
        }
        if weekdays.is_empty() && date.is_none() && time.is_none() {
            return Err(error(text, "nothing to schedule"));
        }
        Ok(event)
    }

    fn parse_date(&mut self, text: &str, date: &str) -> Result<(), CalendarError> {
        let parts: Vec<&str> = date.split(['-', '~']).collect();
        let separators: Vec<char> = date.chars().filter(|&c| c == '-' || c == '~').collect();
        let (year, month, day) = match parts.as_slice() {
            [year, month, day] if separators[0] == '-' => (Some(*year), *month, *day),
            [month, day] => (None, *month, *day),
            _ => {
                return Err(error(
                    text,
                    format!("the date {date:?} is not YEAR-MONTH-DAY or MONTH-DAY"),
                ));
            }
        };
        if let Some(year) = year {
            self.year = parse_field(text, year, "year", YEARS)?;
        }
        self.month = parse_field(text, month, "month", (1, 12))?;
        self.day = parse_field(text, day, "day", (1, 31))?;
        self.day_from_end = separators.last() == Some(&'~');
        Ok(())
    }

    fn parse_time(&mut self, text: &str, time: &str) -> Result<(), CalendarError> {
        let parts: Vec<&str> = time.split(':').collect();
        let (hour, minute, second) = match parts.as_slice() {
            [hour, minute] => (*hour, *minute, None),
            [hour, minute, second] => (*hour, *minute, Some(*second)),
            _ => {
                return Err(error(
                    text,
                    format!("the time {time:?} is not HOUR:MINUTE or HOUR:MINUTE:SECOND"),
                ));
            }
        };
        self.hour = parse_field(text, hour, "hour", (0, 23))?;
        self.minute = parse_field(text, minute, "minute", (0, 59))?;
        if let Some(second) = second {
            if second.split("..").any(|part| part.contains('.')) {
                return Err(error(text, "fractions of a second are not supported"));
            }
            self.second = parse_field(text, second, "second", (0, 59))?;
        }
        Ok(())
    }

    /// The first instant strictly after `after` at which the event happens
    /// on `zone`'s wall clock.
    pub(crate) fn next_after(&self, zone: &TimeZone, after: Timestamp) -> Option<Timestamp> {
        let whole_second = Timestamp::from_second(after.as_second()).ok()?;
        let mut from = zone
            .to_datetime(whole_second)
            .checked_add(SignedDuration::from_secs(1))
            .ok()?;
        // Each round skips one wall-clock time that resolves to `after` or
        // earlier (the second pass of a repeated hour); a few suffice.
        for _ in 0..8 {
            let candidate = self.next_civil(from)?;
            let at = resolve(zone, candidate)?;
            if at > after {
                return Some(at);
            }
            from = candidate.checked_add(SignedDuration::from_secs(1)).ok()?;
        }
        None
    }

    /// The first wall-clock time at or after `from` that matches.
    fn next_civil(&self, from: DateTime) -> Option<DateTime> {
        let mut date = from.date();
        let mut earliest = from.time();
        while year(date) <= YEARS.1 {
            if !self.year.matches(year(date), YEARS.1) {
                date = Date::new(date.year().checked_add(1)?, 1, 1).ok()?;
            } else if !self.month.matches(date.month() as u32, 12) {
                date = date
                    .first_of_month()
                    .checked_add(jiff::Span::new().months(1))
                    .ok()?;
            } else if self.day_matches(date)
                && let Some(time) = self.first_time_from(earliest)
            {
                return Some(date.to_datetime(time));
            } else {
                date = date.tomorrow().ok()?;
            }
            earliest = Time::midnight();
        }
        None
    }

    fn day_matches(&self, date: Date) -> bool {
        let weekday = date.weekday().to_monday_zero_offset();
        if self.weekdays != 0 && self.weekdays & (1 << weekday) == 0 {
            return false;
        }
        let day = date.day() as u32;
        if self.day_from_end {
            let from_end = date.days_in_month() as u32 - day + 1;
            self.day.matches_from_end(from_end)
        } else {
            self.day.matches(day, 31)
        }
    }

    fn first_time_from(&self, earliest: Time) -> Option<Time> {
        let (h0, m0, s0) = (
            earliest.hour() as u32,
            earliest.minute() as u32,
            earliest.second() as u32,
        );
        for hour in (h0..24).filter(|&h| self.hour.matches(h, 23)) {
            let first_minute = if hour == h0 { m0 } else { 0 };
            for minute in (first_minute..60).filter(|&m| self.minute.matches(m, 59)) {
                let first_second = if hour == h0 && minute == m0 { s0 } else { 0 };
                if let Some(second) = (first_second..60).find(|&s| self.second.matches(s, 59)) {
                    return Time::new(hour as i8, minute as i8, second as i8, 0).ok();
                }
            }
        }
        None
    }
}

fn year(date: Date) -> u32 {
    u32::try_from(date.year()).unwrap_or(0)
}

/// The instant of `civil` on `zone`: the first of two when the clock went
/// back over it, the moment the clock jumped when it skipped it.
fn resolve(zone: &TimeZone, civil: DateTime) -> Option<Timestamp> {
    match zone.to_ambiguous_timestamp(civil).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(civil).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(civil).ok(),
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the later offset, `civil` is before the jump; the
            // jump is the zone's next transition.
            let before_jump = after.to_timestamp(civil).ok()?;
            zone.following(before_jump).next().map(|t| t.timestamp())
        }
    }
}

/// Whether `token` names a time zone (not a weekday or a number).
fn is_zone(token: &str) -> bool {
    token.starts_with(|c: char| c.is_ascii_alphabetic())
        && !token.contains([':', ','])
        && parse_weekdays("", token).is_err()
        && TimeZone::get(token).is_ok()
}

fn parse_weekdays(text: &str, list: &str) -> Result<u8, CalendarError> {
    let day = |name: &str| {
        WEEKDAY_NAMES
            .iter()
            .position(|(short, long)| {
                name.eq_ignore_ascii_case(short) || name.eq_ignore_ascii_case(long)
            })
            .ok_or_else(|| error(text, format!("{name:?} is not a weekday (Mon … Sun)")))
    };
    let mut bits = 0u8;
    for item in list.split(',').map(str::trim) {
        let (first, last) = match item.split_once("..").or_else(|| item.split_once('-')) {
            Some((a, b)) => (day(a)?, day(b)?),
            None => (day(item)?, day(item)?),
        };
        if first > last {
            return Err(error(
                text,
                format!("the weekday range {item:?} runs backwards"),
            ));
        }
        bits |= (first..=last).fold(0, |bits, d| bits | 1 << d);
    }
    Ok(bits)
}

fn parse_field(
    text: &str,
    field: &str,
    name: &str,
    bounds: (u32, u32),
) -> Result<Field, CalendarError> {
    if field == "*" {
        return Ok(Field::default());
    }
    let (min, max) = bounds;
    let number = |digits: &str| -> Result<u32, CalendarError> {
        let value: u32 = digits
            .parse()
            .map_err(|_| error(text, format!("{digits:?} is not a {name}")))?;
        let value = if name == "year" && digits.len() <= 2 {
            if value < 70 {
                2000 + value
            } else {
                1900 + value
            }
        } else {
            value
        };
        if (min..=max).contains(&value) {
            Ok(value)
        } else {
            Err(error(
                text,
                format!("the {name} {digits} is not in {min}..{max}"),
            ))
        }
    };
    let mut items = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().ok().filter(|&s| s > 0).ok_or_else(|| {
                    error(
                        text,
                        format!("the repetition {step:?} is not a positive number"),
                    )
                })?;
                (range, Some(step))
            }
            None => (item, None),
        };
        let (start, end) = match range.split_once("..") {
            Some((a, b)) => (number(a)?, Some(number(b)?)),
            None if range == "*" && step.is_some() => (min, None),
            None => (number(range)?, None),
        };
        if end.is_some_and(|end| end < start) {
            return Err(error(
                text,
                format!("the {name} range {range:?} runs backwards"),
            ));
        }
        items.push(Item { start, end, step });
    }
    items.sort();
    items.dedup();
    Ok(Field(items))
}

impl Item {
    fn value(start: u32) -> Item {
        Item {
            start,
            end: None,
            step: None,
        }
    }
}

impl Field {
    /// Whether `value` is one of this field's, `max` ending a repetition.
    fn matches(&self, value: u32, max: u32) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|item| {
                let end = item
                    .end
                    .unwrap_or(if item.step.is_some() { max } else { item.start });
                (item.start..=end).contains(&value)
                    && (value - item.start).is_multiple_of(item.step.unwrap_or(1))
            })
    }

    /// Whether the day `from_end` days before the month's end (1: the last)
    /// is one of this field's; a repetition runs toward the month's end.
    fn matches_from_end(&self, from_end: u32) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|item| match (item.end, item.step) {
                (Some(end), step) => {
                    (end.min(item.start)..=end.max(item.start)).contains(&from_end)
                        && item
                            .start
                            .abs_diff(from_end)
                            .is_multiple_of(step.unwrap_or(1))
                }
                (None, Some(step)) => {
                    from_end <= item.start && (item.start - from_end).is_multiple_of(step)
                }
                (None, None) => from_end == item.start,
            })
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, width: usize) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("*");
        }
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{:0width$}", item.start)?;
            if let Some(end) = item.end {
                write!(f, "..{end:0width$}")?;
            }
            if let Some(step) = item.step {
                write!(f, "/{step}")?;
            }
        }
        Ok(())
    }
}

/// systemd's normalized form: `analyze calendar` prints the same.
impl fmt::Display for OnCalendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.weekdays != 0 {
            let mut runs = Vec::new();
            let mut day = 0;
            while day < 7 {
                if self.weekdays & (1 << day) == 0 {
                    day += 1;
                    continue;
                }
                let start = day;
                while day < 7 && self.weekdays & (1 << day) != 0 {
                    day += 1;
                }
                runs.push((start, day - 1));
            }
            let name = |d: usize| {
                let short = WEEKDAY_NAMES[d].0;
                format!("{}{}", short[..1].to_ascii_uppercase(), &short[1..])
            };
            let mut first = true;
            for (start, end) in runs {
                let parts = if end - start >= 2 {
                    vec![format!("{}..{}", name(start), name(end))]
                } else {
                    (start..=end).map(name).collect()
                };
                for part in parts {
                    f.write_str(if first { "" } else { "," })?;
                    f.write_str(&part)?;
                    first = false;
                }
            }
            f.write_str(" ")?;
        }
        self.year.write(f, 4)?;
        f.write_str("-")?;
        self.month.write(f, 2)?;
        f.write_str(if self.day_from_end { "~" } else { "-" })?;
        self.day.write(f, 2)?;
        f.write_str(" ")?;
        self.hour.write(f, 2)?;
        f.write_str(":")?;
        self.minute.write(f, 2)?;
        f.write_str(":")?;
        self.second.write(f, 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(text: &str) -> String {
        let (event, zone) = OnCalendar::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        match zone {
            Some(zone) => format!("{event} {zone}"),
            None => event.to_string(),
        }
    }

    /// The examples of systemd.time(7), "Calendar Events", with the
    /// normalized form systemd gives for each (fractional seconds aside).
    #[test]
    fn systemds_documented_examples_normalize_as_systemd_does() {
        let examples = [
            (
                "Sat,Thu,Mon..Wed,Sat..Sun",
                "Mon..Thu,Sat,Sun *-*-* 00:00:00",
            ),
            ("Mon,Sun 12-*-* 2,1:23", "Mon,Sun 2012-*-* 01,02:23:00"),
            ("Wed *-1", "Wed *-*-01 00:00:00"),
            ("Wed..Wed,Wed *-1", "Wed *-*-01 00:00:00"),
            ("Wed, 17:48", "Wed *-*-* 17:48:00"),
            (
                "Wed..Sat,Tue 12-10-15 1:2:3",
                "Tue..Sat 2012-10-15 01:02:03",
            ),
            ("*-*-7 0:0:0", "*-*-07 00:00:00"),
            ("10-15", "*-10-15 00:00:00"),
            ("monday *-12-* 17:00", "Mon *-12-* 17:00:00"),
            ("Mon,Fri *-*-3,1,2 *:30:45", "Mon,Fri *-*-01,02,03 *:30:45"),
            ("12,14,13,12:20,10,30", "*-*-* 12,13,14:10,20,30:00"),
            ("12..14:10,20,30", "*-*-* 12..14:10,20,30:00"),
            ("mon,fri *-1/2-1,3 *:30:45", "Mon,Fri *-01/2-01,03 *:30:45"),
            ("03-05 08:05:40", "*-03-05 08:05:40"),
            ("08:05:40", "*-*-* 08:05:40"),
            ("05:40", "*-*-* 05:40:00"),
            ("Sat,Sun 12-05 08:05:40", "Sat,Sun *-12-05 08:05:40"),
            ("Sat,Sun 08:05:40", "Sat,Sun *-*-* 08:05:40"),
            ("2003-03-05 05:40", "2003-03-05 05:40:00"),
            ("2003-02..04-05", "2003-02..04-05 00:00:00"),
            ("2003-03-05 05:40 UTC", "2003-03-05 05:40:00 UTC"),
            ("2003-03-05", "2003-03-05 00:00:00"),
            ("03-05", "*-03-05 00:00:00"),
            ("hourly", "*-*-* *:00:00"),
            ("daily", "*-*-* 00:00:00"),
            ("daily UTC", "*-*-* 00:00:00 UTC"),
            ("monthly", "*-*-01 00:00:00"),
            ("weekly", "Mon *-*-* 00:00:00"),
            (
                "weekly Pacific/Auckland",
                "Mon *-*-* 00:00:00 Pacific/Auckland",
            ),
            ("yearly", "*-01-01 00:00:00"),
            ("annually", "*-01-01 00:00:00"),
            ("*:2/3", "*-*-* *:02/3:00"),
        ];
        for (text, expected) in examples {
            assert_eq!(normalized(text), expected, "{text}");
        }
    }

    fn next(text: &str, after: &str) -> String {
        let (event, _) = OnCalendar::parse(text).unwrap();
        event
            .next_after(&TimeZone::UTC, after.parse().unwrap())
            .map_or("never".into(), |t| t.to_string())
    }

    #[test]
    fn systemds_documented_meanings_hold() {
        // "*-02~03": the third last day of February.
        assert_eq!(
            next("*-02~03", "2027-01-01T00:00:00Z"),
            "2027-02-26T00:00:00Z"
        );
        assert_eq!(
            next("*-02~03", "2028-01-01T00:00:00Z"),
            "2028-02-27T00:00:00Z"
        );
        // "Mon *-05~07/1": the last Monday in May.
        assert_eq!(
            next("Mon *-05~07/1", "2026-01-01T00:00:00Z"),
            "2026-05-25T00:00:00Z"
        );
        assert_eq!(
            next("Mon *-05~07/1", "2027-01-01T00:00:00Z"),
            "2027-05-31T00:00:00Z"
        );
        // "Sat *-1..7 18:00:00": the first Saturday of every month.
        assert_eq!(
            next("Sat *-1..7 18:00:00", "2026-12-08T00:00:00Z"),
            "2027-01-02T18:00:00Z"
        );
        // "*:0/15": every quarter of an hour.
        assert_eq!(
            next("*:0/15", "2026-12-08T10:07:00Z"),
            "2026-12-08T10:15:00Z"
        );
        // The weekday must match as well as the date.
        assert_eq!(
            next("Fri *-*-13", "2026-12-08T00:00:00Z"),
            "2027-08-13T00:00:00Z"
        );
        assert_eq!(next("*-02-30", "2026-12-08T00:00:00Z"), "never");
    }

    #[test]
    fn the_next_time_is_strictly_after() {
        assert_eq!(
            next("daily", "2026-12-08T00:00:00Z"),
            "2026-12-09T00:00:00Z"
        );
        assert_eq!(
            next("daily", "2026-12-07T23:59:59.999Z"),
            "2026-12-08T00:00:00Z"
        );
        assert_eq!(
            next("Mon..Fri 02:00", "2026-12-11T02:00:00Z"),
            "2026-12-14T02:00:00Z"
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: &str| OnCalendar::parse(text).unwrap_err().to_string();
        assert!(err("Mon..Fri 24:00").contains("hour 24"));
        assert!(err("Moon 02:00").contains("not a weekday"));
        assert!(err("Fri..Mon").contains("backwards"));
        assert!(err("*-*-* 05:40:23.42").contains("fractions of a second"));
        assert!(err("*:0/0").contains("repetition"));
        assert!(err("2026-1-2-3").contains("YEAR-MONTH-DAY"));
        assert!(err("02:00 03:00").contains("after the time"));
    }

    #[test]
    fn weekday_bits_start_on_monday() {
        let (event, _) = OnCalendar::parse("Sun").unwrap();
        let sunday = Date::new(2026, 12, 13).unwrap();
        assert_eq!(sunday.weekday(), jiff::civil::Weekday::Sunday);
        assert!(event.day_matches(sunday));
        assert!(!event.day_matches(sunday.yesterday().unwrap()));
    }
}
