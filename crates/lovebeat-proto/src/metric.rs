//! The statsd/graphite line grammar, `<name>.<action>:<value>|<type>[|@<rate>]`,
//! and the service-name rule shared with the HTTP API.
//!
//! This is the hot path (one-line datagrams at hundreds of thousands per
//! second), so it is plain byte code: a few scans, no allocation. Called by
//! [`crate::parse_line`] on a line already stripped of `\r` and length-checked.

use crate::{Action, Command, Reject};

/// Parses one statsd line. Faults are reported left to right: structure
/// (`Malformed`), name, action, value, type, rate.
pub(crate) fn parse_metric(line: &[u8]) -> Result<Command<'_>, Reject> {
    let (key, rest) = split_once(line, b':').ok_or(Reject::Malformed)?;
    // The name may hold dots, the action may not: split the key at its last '.'.
    let dot = key
        .iter()
        .rposition(|&b| b == b'.')
        .ok_or(Reject::Malformed)?;
    let name = parse_name(&key[..dot])?;
    let action = parse_action(&key[dot + 1..])?;
    let (value, suffix) = match split_once(rest, b'|') {
        Some((value, suffix)) => (value, Some(suffix)),
        None => (rest, None),
    };
    let value = parse_value(value, action)?;
    check_type_and_rate(suffix.ok_or(Reject::BadType)?)?;
    Ok(Command {
        name,
        action,
        value,
        message: None,
    })
}

/// Whether `s` is a valid service name: one or more of `[a-z0-9._-]`
/// (lowercase ASCII only). The same rule holds for lines, service checks and
/// HTTP paths. There is no length cap beyond [`crate::MAX_LINE`] for lines.
pub fn is_valid_name(s: &str) -> bool {
    is_valid_name_bytes(s.as_bytes())
}

fn is_valid_name_bytes(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|&b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
}

/// Checks and borrows a service name (used by service checks too).
pub(crate) fn parse_name(name: &[u8]) -> Result<&str, Reject> {
    if !is_valid_name_bytes(name) {
        return Err(Reject::BadName);
    }
    // All ASCII by now, so this cannot fail; no `unsafe` needed for the proof.
    std::str::from_utf8(name).map_err(|_| Reject::BadName)
}

fn parse_action(action: &[u8]) -> Result<Action, Reject> {
    match action {
        b"beat" => Ok(Action::Beat),
        b"autobeat" => Ok(Action::Autobeat),
        b"timeout" | b"err" => Ok(Action::ErrTimeout),
        b"warn" => Ok(Action::WarnTimeout),
        b"fail" => Ok(Action::Fail),
        _ => Err(Reject::UnknownAction),
    }
}

/// An integer value; timeouts must be >= -2 (seconds, 0 always, -1 clear, -2 auto).
fn parse_value(value: &[u8], action: Action) -> Result<i64, Reject> {
    let value = parse_i64(value).ok_or(Reject::BadValue)?;
    if action.is_timeout() && value < -2 {
        return Err(Reject::BadValue);
    }
    Ok(value)
}

/// `-?[0-9]+` as an `i64`, or `None` (no `+`, no spaces, no decimals, no
/// overflow). Shared with the HTTP timeout parameter.
pub(crate) fn parse_i64(digits: &[u8]) -> Option<i64> {
    let (negative, digits) = match digits {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulate negatively so that i64::MIN, which has no positive twin, fits.
    let mut acc: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        acc = acc.checked_mul(10)?.checked_sub(i64::from(b - b'0'))?;
    }
    if negative {
        Some(acc)
    } else {
        acc.checked_neg()
    }
}

/// After the value's `|`: a type of `g`, `c` or `ms`, then optionally `|@<rate>`.
fn check_type_and_rate(suffix: &[u8]) -> Result<(), Reject> {
    let (kind, rate) = match split_once(suffix, b'|') {
        Some((kind, rate)) => (kind, Some(rate)),
        None => (suffix, None),
    };
    if !matches!(kind, b"g" | b"c" | b"ms") {
        return Err(Reject::BadType);
    }
    match rate {
        None => Ok(()),
        Some([b'@', rate @ ..])
            if !rate.is_empty() && rate.iter().all(|&b| b.is_ascii_digit() || b == b'.') =>
        {
            Ok(())
        }
        Some(_) => Err(Reject::BadRate),
    }
}

fn split_once(bytes: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = bytes.iter().position(|&b| b == sep)?;
    Some((&bytes[..i], &bytes[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command<'_>, Reject> {
        parse_metric(line.as_bytes())
    }

    fn ok(line: &str) -> (&str, Action, i64) {
        let c = parse(line).unwrap_or_else(|r| panic!("{line:?} rejected: {r}"));
        assert_eq!(c.message, None);
        (c.name, c.action, c.value)
    }

    #[test]
    fn name_is_split_at_the_last_dot() {
        assert_eq!(ok("foo.beat.beat:1|c"), ("foo.beat", Action::Beat, 1));
        assert_eq!(ok("a.b.c.timeout:5|g").0, "a.b.c");
    }

    #[test]
    fn name_allows_digits_dot_underscore_dash() {
        assert_eq!(ok("a-b_c.9..beat:1|c").0, "a-b_c.9.");
        assert_eq!(ok("..beat:1|c").0, ".");
    }

    #[test]
    fn uppercase_names_are_rejected() {
        assert_eq!(parse("Foo.beat:1|c"), Err(Reject::BadName));
        assert_eq!(parse("fOo.bar.beat:1|c"), Err(Reject::BadName));
    }

    #[test]
    fn other_name_bytes_are_rejected() {
        for line in [
            "foo/bar.beat:1|c",
            "foo bar.beat:1|c",
            "f\u{e9}.beat:1|c",
            "a|b.beat:1|c",
        ] {
            assert_eq!(parse(line), Err(Reject::BadName), "{line:?}");
        }
        assert_eq!(parse_metric(b"f\xff.beat:1|c"), Err(Reject::BadName));
    }

    #[test]
    fn empty_name_is_rejected() {
        assert_eq!(parse(".beat:1|c"), Err(Reject::BadName));
    }

    #[test]
    fn every_action_is_recognised() {
        assert_eq!(ok("s.beat:1|c").1, Action::Beat);
        assert_eq!(ok("s.autobeat:1|c").1, Action::Autobeat);
        assert_eq!(ok("s.timeout:1|g").1, Action::ErrTimeout);
        assert_eq!(ok("s.err:1|g").1, Action::ErrTimeout);
        assert_eq!(ok("s.warn:1|g").1, Action::WarnTimeout);
        assert_eq!(ok("s.fail:1|c").1, Action::Fail);
    }

    #[test]
    fn unknown_actions_are_rejected() {
        for line in ["s.invalid:1|c", "s.BEAT:1|c", "s.:1|c", "s.beats:1|c"] {
            assert_eq!(parse(line), Err(Reject::UnknownAction), "{line:?}");
        }
    }

    #[test]
    fn missing_colon_or_dot_is_malformed() {
        for line in ["invalid", "foo.beat", "beat:1|c", ":1|c", "foo.beat 1|c"] {
            assert_eq!(parse(line), Err(Reject::Malformed), "{line:?}");
        }
    }

    #[test]
    fn values_are_signed_integers() {
        assert_eq!(ok("s.beat:-7|c").2, -7);
        assert_eq!(ok("s.beat:007|c").2, 7);
        assert_eq!(ok("s.beat:-0|c").2, 0);
        assert_eq!(ok("s.beat:9223372036854775807|c").2, i64::MAX);
        assert_eq!(ok("s.beat:-9223372036854775808|c").2, i64::MIN);
    }

    #[test]
    fn non_integer_values_are_rejected() {
        for line in [
            "s.beat:|c",
            "s.beat:-|c",
            "s.beat:+1|c",
            "s.beat:1.5|c",
            "s.beat: 1|c",
            "s.beat:1e3|c",
            "s.beat:--1|c",
            "s.beat:abc",
        ] {
            assert_eq!(parse(line), Err(Reject::BadValue), "{line:?}");
        }
    }

    #[test]
    fn overflowing_values_are_rejected() {
        assert_eq!(parse("s.beat:9223372036854775808|c"), Err(Reject::BadValue));
        assert_eq!(
            parse("s.beat:-9223372036854775809|c"),
            Err(Reject::BadValue)
        );
        assert_eq!(
            parse("s.beat:99999999999999999999999|c"),
            Err(Reject::BadValue)
        );
    }

    #[test]
    fn timeouts_below_minus_two_are_rejected() {
        for action in ["timeout", "err", "warn"] {
            assert_eq!(ok(&format!("s.{action}:-2|g")).2, -2);
            assert_eq!(ok(&format!("s.{action}:-1|g")).2, -1);
            assert_eq!(ok(&format!("s.{action}:0|g")).2, 0);
            assert_eq!(parse(&format!("s.{action}:-3|g")), Err(Reject::BadValue));
        }
    }

    #[test]
    fn beat_autobeat_and_fail_take_any_integer() {
        assert_eq!(ok("s.beat:-5|c").2, -5);
        assert_eq!(ok("s.autobeat:-5|c").2, -5);
        assert_eq!(ok("s.fail:-5|c").2, -5);
        assert_eq!(parse("s.fail:x|c"), Err(Reject::BadValue));
    }

    #[test]
    fn types_g_c_ms_are_accepted() {
        for kind in ["g", "c", "ms"] {
            assert!(parse(&format!("s.beat:1|{kind}")).is_ok(), "{kind}");
        }
    }

    #[test]
    fn other_types_are_rejected() {
        for line in [
            "s.beat:1",
            "s.beat:1|",
            "s.beat:1|h",
            "s.beat:1|s",
            "s.beat:1|C",
            "s.beat:1|c ",
        ] {
            assert_eq!(parse(line), Err(Reject::BadType), "{line:?}");
        }
    }

    #[test]
    fn rate_suffix_is_accepted() {
        assert!(parse("s.beat:1|c|@0.1").is_ok());
        assert!(parse("s.beat:1|ms|@1").is_ok());
        assert!(parse("s.beat:1|g|@.").is_ok());
    }

    #[test]
    fn bad_rate_suffix_is_rejected() {
        for line in [
            "s.beat:1|c|",
            "s.beat:1|c|@",
            "s.beat:1|c|@x",
            "s.beat:1|c|@1|@1",
            "s.beat:1|c|#tag",
            "s.beat:1|c|0.5",
        ] {
            assert_eq!(parse(line), Err(Reject::BadRate), "{line:?}");
        }
    }

    #[test]
    fn valid_names() {
        assert!(is_valid_name("invoice.mailer"));
        assert!(is_valid_name("a"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("Invoice"));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name("a:b"));
    }

    #[test]
    fn parse_i64_rules() {
        assert_eq!(parse_i64(b"42"), Some(42));
        assert_eq!(parse_i64(b"-42"), Some(-42));
        assert_eq!(parse_i64(b""), None);
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"1-"), None);
    }
}
