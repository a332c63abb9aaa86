//! The HTTP `timeout` parameter: [`parse_timeout_param`].
//!
//! Lives here so that HTTP and the line protocol agree on what a timeout is:
//! seconds (> 0), 0 (always error), -1 (clear) or -2 / `auto`. Unlike
//! lovebeat 1.0, garbage is an error instead of silently meaning 0. The
//! HTTP API converts the result with [`crate::value_to_ms`].

use std::fmt;

use crate::grammar::parse_i64;

/// Parses an HTTP timeout: `auto` gives -2, otherwise an integer >= -2 in
/// seconds. Surrounding whitespace is trimmed. Empty strings, `+`, decimals,
/// overflow and values below -2 are errors.
pub fn parse_timeout_param(s: &str) -> Result<i64, TimeoutParamError> {
    let trimmed = s.trim();
    if trimmed == "auto" {
        return Ok(-2);
    }
    match parse_i64(trimmed.as_bytes()) {
        Some(v) if v >= -2 => Ok(v),
        _ => Err(TimeoutParamError {
            input: s.to_owned(),
        }),
    }
}

/// A timeout parameter that is not seconds, 0, -1, -2 or `auto`. Its
/// [`Display`](fmt::Display) is a one-line message fit for a 400 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutParamError {
    /// The value as received (owned: errors are rare and leave the request).
    input: String,
}

impl TimeoutParamError {
    /// The rejected value, as received.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for TimeoutParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timeout must be seconds (> 0), 0 (always), -1 (clear), -2 or \"auto\", got {:?}",
            self.input
        )
    }
}

impl std::error::Error for TimeoutParamError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_minus_two() {
        assert_eq!(parse_timeout_param("auto"), Ok(-2));
        assert_eq!(parse_timeout_param(" auto\n"), Ok(-2));
    }

    #[test]
    fn integers_are_seconds() {
        assert_eq!(parse_timeout_param("3600"), Ok(3600));
        assert_eq!(parse_timeout_param("0"), Ok(0));
        assert_eq!(parse_timeout_param("-1"), Ok(-1));
        assert_eq!(parse_timeout_param("-2"), Ok(-2));
    }

    #[test]
    fn whitespace_is_trimmed() {
        assert_eq!(parse_timeout_param("  60\t"), Ok(60));
    }

    #[test]
    fn garbage_is_an_error() {
        for s in [
            "",
            " ",
            "abc",
            "1.5",
            "+5",
            "-3",
            "AUTO",
            "1 0",
            "99999999999999999999",
        ] {
            assert!(parse_timeout_param(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn error_message_quotes_the_input() {
        let err = parse_timeout_param("abc").unwrap_err();
        assert_eq!(err.input(), "abc");
        assert_eq!(
            err.to_string(),
            "timeout must be seconds (> 0), 0 (always), -1 (clear), -2 or \"auto\", got \"abc\""
        );
    }
}
