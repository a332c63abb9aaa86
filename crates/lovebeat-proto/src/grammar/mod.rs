//! The line grammars, in `nom`: statsd/graphite lines,
//! `<name>.<action>:<value>|<type>[|@<rate>]`, DogStatsD service checks,
//! `_sc|<name>|<status>[|d:<timestamp>][|h:<host>][|#<tags>][|m:<message>]`,
//! the split of a buffer into lines, and the two rules the HTTP API shares:
//! the service name and the integer.
//!
//! Called by the `lines` module: [`split_line`] splits a buffer, [`parse_command`]
//! parses one line already stripped of `\r` and length-checked. Parsers read
//! [`Bytes`] (a `&[u8]`) and return slices of it, so a [`Command`] borrows its
//! name and message from the input and nothing is allocated.
//!
//! Each part of a line is parsed under [`refuse`], which names the [`Reject`]
//! reason if it fails. A statsd line's layout comes first (a `:`, and a `.`
//! before it, else `Malformed`), then its name, action, value, type and rate,
//! left to right. A service check's layout is checked whole (`BadCheck`)
//! before its name and message. Its optional fields may come in any order;
//! `d:` must be digits, `m:` runs to the end of the line (so a message may
//! hold `|`), and any other non-empty field (`h:`, `#tags`, `c:container`…)
//! is accepted and ignored.

mod bytes;

use std::str;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_till1, take_while1};
use nom::character::complete::{digit1, one_of};
use nom::combinator::{
    all_consuming, cut, eof, map, map_opt, map_res, not, opt, peek, rest, value, verify,
};
use nom::error::{ErrorKind, FromExternalError, ParseError};
use nom::multi::fold_many0;
use nom::sequence::{preceded, terminated};
use nom::{IResult, Parser};

use self::bytes::Bytes;
use crate::{Action, CheckStatus, Command, Reject};

/// The prefix that marks a line as a service check.
const CHECK_PREFIX: &str = "_sc|";

/// What the parsers here return; the error says why the line is refused.
type Res<'a, O> = IResult<Bytes<'a>, O, Refusal>;

/// A nom error carrying the reason a line is refused. nom's own errors start
/// as `Malformed`, a placeholder: every error that leaves this module has
/// been through [`refuse`], which sets the real reason.
#[derive(Debug, Clone, Copy)]
struct Refusal(Reject);

impl<I> ParseError<I> for Refusal {
    fn from_error_kind(_: I, _: ErrorKind) -> Self {
        Refusal(Reject::Malformed)
    }

    fn append(_: I, _: ErrorKind, other: Self) -> Self {
        other
    }
}

impl<I, E> FromExternalError<I, E> for Refusal {
    fn from_external_error(input: I, kind: ErrorKind, _: E) -> Self {
        Self::from_error_kind(input, kind)
    }
}

/// Runs `parser`; if it fails, the line is refused for `reason`, as a nom
/// failure so that no `alt` above tries another branch.
#[inline]
fn refuse<'a, O>(
    reason: Reject,
    mut parser: impl Parser<Bytes<'a>, Output = O, Error = Refusal>,
) -> impl FnMut(Bytes<'a>) -> Res<'a, O> {
    move |input| {
        parser
            .parse_complete(input)
            .map_err(|_| nom::Err::Failure(Refusal(reason)))
    }
}

/// Splits off the first line of a buffer, without its `\n` (the last line
/// may lack one): `(rest, line)`, or `None` once the buffer is empty.
#[inline]
pub(crate) fn split_line(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let line = take_till::<_, _, ()>(|b| b == b'\n');
    let mut first_line = preceded(not(eof), terminated(line, opt(tag("\n"))));
    let (rest, line) = first_line.parse_complete(Bytes(buf)).ok()?;
    Some((rest.0, line.0))
}

/// Parses one line, split off its buffer, stripped of `\r` and length-checked:
/// a service check if it starts with `_sc|`, else a statsd line.
#[inline]
pub(crate) fn parse_command(line: &[u8]) -> Result<Command<'_>, Reject> {
    alt((service_check, metric))
        .parse_complete(Bytes(line))
        .map(|(_, command)| command)
        .map_err(into_reject)
}

/// The reason a parse error carries.
fn into_reject(error: nom::Err<Refusal>) -> Reject {
    match error {
        nom::Err::Error(Refusal(reason)) | nom::Err::Failure(Refusal(reason)) => reason,
        // Complete parsers never ask for more input.
        nom::Err::Incomplete(_) => Reject::Malformed,
    }
}

/// The longest service name, in bytes, on every protocol: long enough for
/// any dotted path a job would use, short enough that a name costs at most
/// a quarter of a default line.
pub const MAX_NAME: usize = 255;

/// Whether `s` is a valid service name: 1 to [`MAX_NAME`] of `[a-z0-9._-]`
/// (lowercase ASCII only), and not `.` or `..`, which browsers and curl
/// rewrite in a URL path (`/api/services/./mute` becomes
/// `/api/services/mute`). The same rule holds for lines, service checks,
/// HTTP paths and push tokens.
pub fn is_valid_name(s: &str) -> bool {
    all_consuming(name)
        .parse_complete(Bytes(s.as_bytes()))
        .is_ok()
}

/// A service name, as a `&str` (all ASCII, so the UTF-8 check cannot fail).
#[inline]
fn name(input: Bytes<'_>) -> Res<'_, &str> {
    let allowed = |name: &Bytes<'_>| name.0.len() <= MAX_NAME && !matches!(name.0, b"." | b"..");
    map_res(
        verify(take_while1(is_name_byte), allowed),
        |name: Bytes<'_>| str::from_utf8(name.0),
    )
    .parse_complete(input)
}

fn is_name_byte(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-')
}

/// `-?[0-9]+` as an `i64`, or `None` (no `+`, no spaces, no decimals, no
/// overflow). Shared with the HTTP timeout parameter.
pub(crate) fn parse_i64(digits: &[u8]) -> Option<i64> {
    let (_, value) = all_consuming(integer).parse_complete(Bytes(digits)).ok()?;
    Some(value)
}

/// `-?[0-9]+` that fits an `i64`.
#[inline]
fn integer(input: Bytes<'_>) -> Res<'_, i64> {
    map_opt((opt(tag("-")), digit1), |(minus, digits)| {
        to_i64(minus.is_some(), digits)
    })
    .parse_complete(input)
}

/// Accumulates negatively, so that `i64::MIN`, which has no positive twin, fits.
#[inline]
fn to_i64(negative: bool, digits: Bytes<'_>) -> Option<i64> {
    let magnitude = digits.0.iter().try_fold(0i64, |acc, &d| {
        acc.checked_mul(10)?.checked_sub(i64::from(d - b'0'))
    })?;
    if negative {
        Some(magnitude)
    } else {
        magnitude.checked_neg()
    }
}

/// `<name>.<action>:<value>|<type>[|@<rate>]`. Kept out of line, which
/// timed faster (BENCHMARKS.md, "Parser: nom grammar").
#[inline(never)]
fn metric(input: Bytes<'_>) -> Res<'_, Command<'_>> {
    let (input, (name, action)) = key(input)?;
    // A timeout is seconds, or 0 (always), -1 (clear), -2 (auto); an exit
    // status is 0 to 255.
    let fits = |v: &i64| match action {
        Action::ErrTimeout | Action::WarnTimeout => *v >= -2,
        Action::Exit => (0..=255).contains(v),
        _ => true,
    };
    let (input, value) = refuse(Reject::BadValue, field(verify(integer, fits)))(input)?;
    let (input, _) = refuse(Reject::BadType, preceded(tag("|"), field(kind)))(input)?;
    let (input, _) = refuse(Reject::BadRate, all_consuming(opt(rate)))(input)?;
    let command = Command {
        name,
        action,
        value,
        message: None,
    };
    Ok((input, command))
}

/// `<name>.<action>:`. The layout comes first: a `:`, and a `.` before it.
#[inline]
fn key(input: Bytes<'_>) -> Res<'_, (&str, Action)> {
    let layout = terminated(take_till(|b| b == b':').and_then(split_key), tag(":"));
    let (input, (raw_name, raw_action)) = refuse(Reject::Malformed, layout)(input)?;
    let (_, name) = refuse(Reject::BadName, all_consuming(name))(raw_name)?;
    let (_, action) = refuse(Reject::UnknownAction, all_consuming(action))(raw_action)?;
    Ok((input, (name, action)))
}

/// Splits a key at its last `.`: the name may hold dots, the action may not.
/// nom reads left to right, so this one step searches from the right.
#[inline]
fn split_key(key: Bytes<'_>) -> Res<'_, (Bytes<'_>, Bytes<'_>)> {
    match key.0.iter().rposition(|&b| b == b'.') {
        Some(dot) => {
            let (name, dot_action) = key.0.split_at(dot);
            Ok((Bytes(&[]), (Bytes(name), Bytes(&dot_action[1..]))))
        }
        None => Err(nom::Err::Error(Refusal(Reject::Malformed))),
    }
}

/// The action; `err` is the legacy spelling of `timeout`.
#[inline]
fn action(input: Bytes<'_>) -> Res<'_, Action> {
    alt((
        value(Action::Beat, tag("beat")),
        value(Action::Autobeat, tag("autobeat")),
        value(Action::ErrTimeout, alt((tag("timeout"), tag("err")))),
        value(Action::WarnTimeout, tag("warn")),
        value(Action::Fail, tag("fail")),
        value(Action::Start, tag("start")),
        value(Action::Exit, tag("exit")),
    ))
    .parse_complete(input)
}

/// `parser` over a whole `|`-separated field: it must stop at a `|` (left
/// for the next field) or at the end of the line.
#[inline]
fn field<'a, O>(
    parser: impl Parser<Bytes<'a>, Output = O, Error = Refusal>,
) -> impl Parser<Bytes<'a>, Output = O, Error = Refusal> {
    terminated(parser, peek(alt((tag("|"), eof))))
}

/// The metric type, `g`, `c` or `ms`; all mean the same to lovebeat.
#[inline]
fn kind(input: Bytes<'_>) -> Res<'_, Bytes<'_>> {
    alt((tag("g"), tag("c"), tag("ms"))).parse_complete(input)
}

/// A sample rate, `|@<digits and dots>`, accepted and ignored.
#[inline]
fn rate(input: Bytes<'_>) -> Res<'_, Bytes<'_>> {
    let digits = take_while1(|b: u8| b.is_ascii_digit() || b == b'.');
    preceded(tag("|@"), digits).parse_complete(input)
}

/// `_sc|<name>|<status>[|<field>]…`: the whole layout first, then the name,
/// then the message.
#[inline]
fn service_check(input: Bytes<'_>) -> Res<'_, Command<'_>> {
    let (input, _) = tag(CHECK_PREFIX)(input)?;
    let (input, (raw_name, status, raw_message)) =
        refuse(Reject::BadCheck, all_consuming(check_layout))(input)?;
    let (_, name) = refuse(Reject::BadName, all_consuming(name))(raw_name)?;
    let (_, message) = refuse(Reject::BadCheck, message)(raw_message)?;
    let command = Command {
        name,
        action: Action::Check(status),
        value: 0,
        message,
    };
    Ok((input, command))
}

/// `<name>|<status>[|<field>]…` after the prefix: the raw name, the status
/// and the raw message (empty if there is none).
fn check_layout(input: Bytes<'_>) -> Res<'_, (Bytes<'_>, CheckStatus, Bytes<'_>)> {
    // `m:` runs to the end of the line, so only the last field can be a message.
    let fields = fold_many0(
        preceded(tag("|"), check_field),
        || Bytes(&[]),
        |seen, field| field.unwrap_or(seen),
    );
    (
        take_till1(|b| b == b'|'),
        preceded(tag("|"), status),
        fields,
    )
        .parse_complete(input)
}

fn status(input: Bytes<'_>) -> Res<'_, CheckStatus> {
    map(one_of("0123"), |c| match c {
        '0' => CheckStatus::Ok,
        '1' => CheckStatus::Warning,
        '2' => CheckStatus::Critical,
        _ => CheckStatus::Unknown,
    })
    .parse_complete(input)
}

/// One optional field: `Some(message)` for `m:`, `None` for the rest.
fn check_field(input: Bytes<'_>) -> Res<'_, Option<Bytes<'_>>> {
    alt((
        map(preceded(tag("m:"), rest), Some),
        // `cut`: a `d:` that is not digits must not fall through to "ignored".
        value(None, preceded(tag("d:"), cut(digit1))),
        value(None, take_till1(|b| b == b'|')),
    ))
    .parse_complete(input)
}

/// The `m:` text, which must be UTF-8; `None` if empty.
fn message(input: Bytes<'_>) -> Res<'_, Option<&str>> {
    let text = map_res(rest, |m: Bytes<'_>| str::from_utf8(m.0));
    alt((value(None, eof), map(text, Some))).parse_complete(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command<'_>, Reject> {
        parse_command(line.as_bytes())
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
        assert_eq!(ok("....beat:1|c").0, "...");
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
        assert_eq!(parse_command(b"f\xff.beat:1|c"), Err(Reject::BadName));
    }

    #[test]
    fn empty_name_is_rejected() {
        assert_eq!(parse(".beat:1|c"), Err(Reject::BadName));
    }

    #[test]
    fn dot_and_dot_dot_are_refused_as_names_on_every_grammar() {
        for line in ["..beat:1|c", "...timeout:5|g", "_sc|.|0", "_sc|..|2|m:x"] {
            assert_eq!(parse(line), Err(Reject::BadName), "{line:?}");
        }
        assert!(!is_valid_name(".") && !is_valid_name(".."));
        assert!(is_valid_name("...") && is_valid_name(".a") && is_valid_name("a.."));
    }

    #[test]
    fn names_are_at_most_max_name_bytes_on_every_grammar() {
        let longest = "n".repeat(MAX_NAME);
        assert_eq!(ok(&format!("{longest}.beat:1|c")).0, longest);
        let over = "n".repeat(MAX_NAME + 1);
        assert_eq!(parse(&format!("{over}.beat:1|c")), Err(Reject::BadName));
        assert_eq!(parse(&format!("_sc|{over}|0")), Err(Reject::BadName));
        assert!(is_valid_name(&longest) && !is_valid_name(&over));
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
    fn start_and_exit_statuses_from_0_to_255() {
        assert_eq!(ok("backup.start:1|c"), ("backup", Action::Start, 1));
        assert_eq!(ok("backup.exit:0|g"), ("backup", Action::Exit, 0));
        assert_eq!(ok("backup.exit:255|g").2, 255);
        assert_eq!(parse("backup.exit:256|g"), Err(Reject::BadValue));
        assert_eq!(parse("backup.exit:-1|g"), Err(Reject::BadValue));
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

    // Service checks.

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
        assert_eq!(parse_command(b"_sc|s|0|m:\xff"), Err(Reject::BadCheck));
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
