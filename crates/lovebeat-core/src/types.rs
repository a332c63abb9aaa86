//! The small value types of the model: time, timeouts and states.
//!
//! These are what every other crate speaks: the HTTP API renders them as
//! JSON, the store persists them, the alerter names them in messages.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch: the model's only notion of time.
pub type Millis = i64;

/// One of the two timeouts of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(into = "i64", from = "i64")]
pub enum Timeout {
    /// Never expires (wire value -1): the initial value, and what "clear" sets.
    #[default]
    Never,
    /// Always in that state (wire value 0): for things that must never happen.
    Always,
    /// Expires this many milliseconds after the last beat.
    After(u64),
    /// Computed from the beat history by the configured estimator (wire value -2).
    Auto,
}

impl Timeout {
    /// The timeout a protocol value in seconds means: `> 0` seconds, `0`
    /// always, `-1` clear, `-2` AUTO. Other negatives mean nothing.
    pub fn from_seconds(seconds: i64) -> Option<Timeout> {
        match seconds {
            s if s > 0 => Some(Timeout::After((s as u64).saturating_mul(1000))),
            0 => Some(Timeout::Always),
            -1 => Some(Timeout::Never),
            -2 => Some(Timeout::Auto),
            _ => None,
        }
    }

    /// The Go lovebeat's encoding in milliseconds (also ours on the wire).
    /// Other negatives, which old Go databases can hold, never expire.
    pub fn from_wire_ms(ms: i64) -> Timeout {
        match ms {
            ms if ms > 0 => Timeout::After(ms as u64),
            0 => Timeout::Always,
            -2 => Timeout::Auto,
            _ => Timeout::Never,
        }
    }

    /// The wire encoding: milliseconds, `0` always, `-1` never, `-2` AUTO.
    pub fn to_wire_ms(self) -> i64 {
        match self {
            Timeout::Never => -1,
            Timeout::Always => 0,
            Timeout::After(ms) => i64::try_from(ms).unwrap_or(i64::MAX),
            Timeout::Auto => -2,
        }
    }
}

impl From<Timeout> for i64 {
    fn from(t: Timeout) -> i64 {
        t.to_wire_ms()
    }
}

impl From<i64> for Timeout {
    fn from(ms: i64) -> Timeout {
        Timeout::from_wire_ms(ms)
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timeout::Never => f.write_str("never"),
            Timeout::Always => f.write_str("always"),
            Timeout::After(ms) if ms % 1000 == 0 => write!(f, "{}s", ms / 1000),
            Timeout::After(ms) => write!(f, "{ms}ms"),
            Timeout::Auto => f.write_str("auto"),
        }
    }
}

/// Which of a service's two timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutKind {
    Warn,
    Err,
}

/// The state of a service or a view.
///
/// Services use all five; views are `new` until their first member arrives
/// and then the worst state of their members (`muted` and `new` members
/// count as `ok`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    New,
    Ok,
    Muted,
    Warning,
    Error,
}

impl State {
    pub const ALL: [State; 5] = [
        State::New,
        State::Ok,
        State::Muted,
        State::Warning,
        State::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Ok => "ok",
            State::Muted => "muted",
            State::Warning => "warning",
            State::Error => "error",
        }
    }

    /// Upper-case name, as Go lovebeat's alerts wrote states.
    pub fn as_upper_str(self) -> &'static str {
        match self {
            State::New => "NEW",
            State::Ok => "OK",
            State::Muted => "MUTED",
            State::Warning => "WARNING",
            State::Error => "ERROR",
        }
    }

    /// Whether this state is a problem a view reports (warning or error).
    pub fn is_failing(self) -> bool {
        matches!(self, State::Warning | State::Error)
    }

    /// The state's place in [`State::ALL`] (its declaration order).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad an explicit failure report is: a DogStatsD `warning` check, or a
/// `fail` / `critical` one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub(crate) fn state(self) -> State {
        match self {
            Severity::Warning => State::Warning,
            Severity::Error => State::Error,
        }
    }
}

/// An explicit failure report, kept until the next good beat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub at: Millis,
    pub severity: Severity,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_s_index_is_its_place_in_all_from_best_to_worst() {
        for (i, state) in State::ALL.into_iter().enumerate() {
            assert_eq!(state.index(), i);
        }
        assert!(State::ALL.is_sorted(), "worse states come later");
    }

    #[test]
    fn protocol_seconds_map_to_timeouts() {
        assert_eq!(Timeout::from_seconds(3600), Some(Timeout::After(3_600_000)));
        assert_eq!(Timeout::from_seconds(0), Some(Timeout::Always));
        assert_eq!(Timeout::from_seconds(-1), Some(Timeout::Never));
        assert_eq!(Timeout::from_seconds(-2), Some(Timeout::Auto));
        assert_eq!(Timeout::from_seconds(-3), None);
        assert_eq!(
            Timeout::from_seconds(i64::MAX),
            Some(Timeout::After(u64::MAX))
        );
    }

    #[test]
    fn wire_encoding_round_trips() {
        for t in [
            Timeout::Never,
            Timeout::Always,
            Timeout::After(1500),
            Timeout::Auto,
        ] {
            assert_eq!(Timeout::from_wire_ms(t.to_wire_ms()), t);
        }
        assert_eq!(Timeout::from_wire_ms(-1000), Timeout::Never);
    }

    #[test]
    fn states_order_by_severity() {
        assert!(State::Error > State::Warning);
        assert!(State::Warning > State::Ok);
        assert_eq!(State::Warning.as_str(), "warning");
    }
}
