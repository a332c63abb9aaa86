//! The DogStatsD service-check grammar:
//! `_sc|<name>|<status>[|d:<timestamp>][|h:<host>][|#<tags>][|m:<message>]`.
//!
//! Written with `nom` because the optional fields read best as combinators;
//! service checks are rare next to beats. Called by [`crate::parse_line`] for
//! lines starting with `_sc|`. Optional fields may come in any order; `d:`
//! must be digits, `m:` runs to the end of the line (so a message may hold
//! `|`), and any other non-empty field (`h:`, `#tags`, `c:container`…) is
//! accepted and ignored.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_till1};
use nom::character::complete::{digit1, one_of};
use nom::combinator::{all_consuming, cut, map, rest, value};
use nom::multi::fold_many0;
use nom::sequence::preceded;
use nom::{IResult, Parser};

use crate::metric::parse_name;
use crate::{Action, CheckStatus, Command, Reject};

/// The prefix that marks a line as a service check.
pub(crate) const PREFIX: &[u8] = b"_sc|";

/// Parses one service-check line (prefix included).
pub(crate) fn parse_check(line: &[u8]) -> Result<Command<'_>, Reject> {
    let (_, (raw_name, status, message)) = all_consuming(check)
        .parse(line)
        .map_err(|_| Reject::BadCheck)?;
    let name = parse_name(raw_name)?;
    let message = match message {
        Some(m) if !m.is_empty() => Some(std::str::from_utf8(m).map_err(|_| Reject::BadCheck)?),
        _ => None,
    };
    Ok(Command {
        name,
        action: Action::Check(status),
        value: 0,
        message,
    })
}

type Check<'a> = (&'a [u8], CheckStatus, Option<&'a [u8]>);

fn check(input: &[u8]) -> IResult<&[u8], Check<'_>> {
    let (input, _) = tag(PREFIX).parse(input)?;
    let (input, name) = take_till1(|b| b == b'|').parse(input)?;
    let (input, status) = preceded(tag("|"), status).parse(input)?;
    // Keep the last message seen; fields other than `m:` carry nothing we use.
    let (input, message) = fold_many0(
        preceded(tag("|"), field),
        || None,
        |seen, field| field.or(seen),
    )
    .parse(input)?;
    Ok((input, (name, status, message)))
}

fn status(input: &[u8]) -> IResult<&[u8], CheckStatus> {
    map(one_of("0123"), |c| match c {
        '0' => CheckStatus::Ok,
        '1' => CheckStatus::Warning,
        '2' => CheckStatus::Critical,
        _ => CheckStatus::Unknown,
    })
    .parse(input)
}

/// One optional field: `Some(message)` for `m:`, `None` for the rest.
fn field(input: &[u8]) -> IResult<&[u8], Option<&[u8]>> {
    alt((
        map(preceded(tag("m:"), rest), Some),
        // `cut`: a `d:` that is not digits must not fall through to "ignored".
        value(None, preceded(tag("d:"), cut(digit1))),
        value(None, take_till1(|b| b == b'|')),
    ))
    .parse(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command<'_>, Reject> {
        parse_check(line.as_bytes())
    }

    #[test]
    fn minimal_check() {
        let c = parse("_sc|db.backup|0").unwrap();
        assert_eq!(c.name, "db.backup");
        assert_eq!(c.action, Action::Check(CheckStatus::Ok));
        assert_eq!(c.value, 0);
        assert_eq!(c.message, None);
    }

    #[test]
    fn every_status_code() {
        let want = [
            CheckStatus::Ok,
            CheckStatus::Warning,
            CheckStatus::Critical,
            CheckStatus::Unknown,
        ];
        for (code, status) in want.into_iter().enumerate() {
            let line = format!("_sc|s|{code}");
            assert_eq!(parse(&line).unwrap().action, Action::Check(status));
        }
    }

    #[test]
    fn bad_status_is_rejected() {
        for line in [
            "_sc|s|4", "_sc|s|", "_sc|s", "_sc|s|01", "_sc|s|-1", "_sc|s|ok",
        ] {
            assert_eq!(parse(line), Err(Reject::BadCheck), "{line:?}");
        }
    }

    #[test]
    fn all_fields() {
        let c = parse("_sc|s|2|d:1700000000|h:web1|#env:prod,role:db|m:disk full").unwrap();
        assert_eq!(c.action, Action::Check(CheckStatus::Critical));
        assert_eq!(c.message, Some("disk full"));
    }

    #[test]
    fn fields_in_any_order() {
        let c = parse("_sc|s|1|#a,b|h:web1|d:1").unwrap();
        assert_eq!(c.action, Action::Check(CheckStatus::Warning));
        assert_eq!(c.message, None);
    }

    #[test]
    fn message_runs_to_end_of_line() {
        assert_eq!(parse("_sc|s|2|m:a|b:c").unwrap().message, Some("a|b:c"));
    }

    #[test]
    fn empty_message_is_none() {
        assert_eq!(parse("_sc|s|0|m:").unwrap().message, None);
    }

    #[test]
    fn message_must_be_utf8() {
        assert_eq!(parse_check(b"_sc|s|0|m:\xff"), Err(Reject::BadCheck));
        assert_eq!(
            parse("_sc|s|0|m:caf\u{e9}").unwrap().message,
            Some("caf\u{e9}")
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert!(parse("_sc|s|0|c:ci-1234").is_ok());
    }

    #[test]
    fn empty_fields_are_rejected() {
        assert_eq!(parse("_sc|s|0|"), Err(Reject::BadCheck));
        assert_eq!(parse("_sc|s|0||h:x"), Err(Reject::BadCheck));
    }

    #[test]
    fn timestamp_must_be_digits() {
        for line in ["_sc|s|0|d:", "_sc|s|0|d:x", "_sc|s|0|d:12x", "_sc|s|0|d:-1"] {
            assert_eq!(parse(line), Err(Reject::BadCheck), "{line:?}");
        }
    }

    #[test]
    fn check_name_follows_the_name_rule() {
        assert_eq!(parse("_sc|DB|0"), Err(Reject::BadName));
        assert_eq!(parse("_sc|a/b|0"), Err(Reject::BadName));
        assert_eq!(parse("_sc||0"), Err(Reject::BadCheck));
    }
}
