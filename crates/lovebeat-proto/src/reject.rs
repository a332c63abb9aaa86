//! Why a line was refused: [`Reject`], one variant per reason.
//!
//! Ingest counts rejects by [`Reject::as_str`] (the `reason` label of
//! `lovebeat_lines_rejected_total`) and may log the [`Display`] sentence.

use std::fmt;

/// The reason a line did not parse. Checked left to right, so a line with
/// several faults reports the first one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// Longer than the line limit ([`crate::MAX_LINE`] bytes unless set
    /// otherwise), not counting a trailing `\r`.
    TooLong,
    /// The name is empty, longer than [`crate::MAX_NAME`], `.` or `..`, or
    /// has a byte outside `[a-z0-9._-]`.
    BadName,
    /// The part after the name's last `.` is not a known action.
    UnknownAction,
    /// The value is not an integer that fits `i64`, or is a timeout below -2.
    BadValue,
    /// The type is missing or not `g`, `c` or `ms`.
    BadType,
    /// Something other than a `|@<rate>` sample rate follows the type.
    BadRate,
    /// No `:` or no `.` before it: not `<name>.<action>:…` at all.
    Malformed,
    /// A `_sc|` service check with a bad layout, status, timestamp or message.
    BadCheck,
    /// An empty line (from [`crate::parse_line`]; [`crate::lines`] skips
    /// them). TCP ingest counts them: they are no sign of life.
    Blank,
}

impl Reject {
    /// Every variant, for pre-registering metric labels.
    pub const ALL: [Reject; 9] = [
        Reject::TooLong,
        Reject::BadName,
        Reject::UnknownAction,
        Reject::BadValue,
        Reject::BadType,
        Reject::BadRate,
        Reject::Malformed,
        Reject::BadCheck,
        Reject::Blank,
    ];

    /// A stable snake_case label for metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reject::TooLong => "too_long",
            Reject::BadName => "bad_name",
            Reject::UnknownAction => "unknown_action",
            Reject::BadValue => "bad_value",
            Reject::BadType => "bad_type",
            Reject::BadRate => "bad_rate",
            Reject::Malformed => "malformed",
            Reject::BadCheck => "bad_check",
            Reject::Blank => "blank",
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Reject::TooLong => "line is longer than the line limit ([limits] line_length)",
            Reject::BadName => "service name must be 1 to 255 of [a-z0-9._-], and not . or ..",
            Reject::UnknownAction => "action must be beat, autobeat, timeout, err, warn or fail",
            Reject::BadValue => "value must be an integer, and a timeout must be >= -2",
            Reject::BadType => "type must be g, c or ms",
            Reject::BadRate => "only a sample rate |@<digits and dots> may follow the type",
            Reject::Malformed => "line must look like <name>.<action>:<value>|<type>",
            Reject::Blank => "line is empty",
            Reject::BadCheck => {
                "service check must look like _sc|<name>|<0-3>[|d:<ts>][|h:<host>][|#<tags>][|m:<message>]"
            }
        };
        f.write_str(text)
    }
}

impl std::error::Error for Reject {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for r in Reject::ALL {
            let label = r.as_str();
            assert!(label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert!(seen.insert(label), "duplicate label {label}");
        }
    }

    #[test]
    fn every_reason_has_a_sentence() {
        for r in Reject::ALL {
            assert!(!r.to_string().is_empty());
        }
    }

    #[test]
    fn too_long_names_the_limit() {
        assert!(Reject::TooLong.to_string().contains("line_length"));
    }

    #[test]
    fn bad_name_states_the_longest_name() {
        let sentence = Reject::BadName.to_string();
        assert!(
            sentence.contains(&format!(" {} ", crate::MAX_NAME)),
            "{sentence}"
        );
    }
}
