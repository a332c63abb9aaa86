//! The hand-written parser this crate had before the nom grammar, kept for
//! tests only: an oracle that the equivalence properties compare the
//! grammar against, byte for byte and reason for reason.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_till1};
use nom::character::complete::{digit1, one_of};
use nom::combinator::{all_consuming, cut, map, rest, value};
use nom::multi::fold_many0;
use nom::sequence::preceded;
use nom::{IResult, Parser};

use crate::{Action, CheckStatus, Command, Reject};

/// The old `lines` iterator, with its line limit.
pub(crate) fn lines(buf: &[u8], max_line: usize) -> Vec<Result<Command<'_>, Reject>> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let (line, tail) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = tail;
        let line = strip_cr(line);
        if !line.is_empty() {
            out.push(parse_stripped(line, max_line));
        }
    }
    out
}

/// The old `parse_line`.
pub(crate) fn parse_line(line: &[u8]) -> Result<Command<'_>, Reject> {
    parse_stripped(strip_cr(line), crate::MAX_LINE)
}

fn parse_stripped(line: &[u8], max_line: usize) -> Result<Command<'_>, Reject> {
    if line.len() > max_line {
        Err(Reject::TooLong)
    } else if line.starts_with(PREFIX) {
        parse_check(line)
    } else {
        parse_metric(line)
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

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
pub(crate) fn is_valid_name(s: &str) -> bool {
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

mod equivalence {
    //! The grammar against the oracle: same command or same reason, always.

    use proptest::prelude::*;

    use crate::grammar;

    /// Compares every entry point on `buf`, with lines cut at `max_line`.
    fn assert_same(buf: &[u8], max_line: usize) {
        let show = String::from_utf8_lossy(buf);
        assert_eq!(crate::parse_line(buf), super::parse_line(buf), "{show:?}");
        let new: Vec<_> = crate::lines(buf).max_line(max_line).collect();
        assert_eq!(new, super::lines(buf, max_line), "{show:?} at {max_line}");
        assert_eq!(grammar::parse_i64(buf), super::parse_i64(buf), "{show:?}");
        let text = String::from_utf8_lossy(buf);
        assert_eq!(
            crate::is_valid_name(&text),
            super::is_valid_name(&text),
            "{show:?}"
        );
    }

    fn pick(options: &[&'static str]) -> impl Strategy<Value = Vec<u8>> + use<> {
        let options: Vec<Vec<u8>> = options.iter().map(|o| o.as_bytes().to_vec()).collect();
        prop::sample::select(options)
    }

    /// Mostly a valid piece, sometimes a faulty one: most lines then have
    /// no fault or exactly one, wherever it is.
    fn piece(
        valid: impl Strategy<Value = Vec<u8>> + 'static,
        faulty: impl Strategy<Value = Vec<u8>> + 'static,
    ) -> BoxedStrategy<Vec<u8>> {
        prop_oneof![4 => valid, 1 => faulty].boxed()
    }

    fn name() -> BoxedStrategy<Vec<u8>> {
        let valid = prop_oneof![
            pick(&["a", "invoice.mailer", "a-b_c.9.", ".", "x.y.z", "_sc"]),
            "[a-z0-9._-]{1,12}".prop_map(String::into_bytes),
        ];
        let faulty = pick(&[
            "", "Foo", "f\u{e9}", "a b", "a|b", "a/b", "a:b", "a@1", "_SC", "a\r",
        ]);
        piece(valid, faulty)
    }

    fn value() -> BoxedStrategy<Vec<u8>> {
        let valid = prop_oneof![
            pick(&[
                "1",
                "0",
                "-1",
                "-2",
                "-3",
                "007",
                "-0",
                "9223372036854775807",
                "-9223372036854775808",
            ]),
            any::<i64>().prop_map(|v| v.to_string().into_bytes()),
        ];
        let faulty = pick(&[
            "",
            "-",
            "+1",
            "1.5",
            " 1",
            "1e3",
            "--1",
            "abc",
            "1:2",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999999",
        ]);
        piece(valid, faulty)
    }

    fn near_valid_metric() -> impl Strategy<Value = Vec<u8>> {
        (
            name(),
            piece(pick(&["."]), pick(&["", "..", ":"])),
            piece(
                pick(&["beat", "autobeat", "timeout", "err", "warn", "fail"]),
                pick(&["", "BEAT", "beats", "be", "invalid", "timeout "]),
            ),
            piece(pick(&[":"]), pick(&["", "::", " :", "."])),
            value(),
            piece(pick(&["|"]), pick(&["", "||", " |", ":"])),
            piece(
                pick(&["g", "c", "ms"]),
                pick(&["m", "h", "C", "c ", "", "s", "msx", "g|"]),
            ),
            piece(
                pick(&["", "|@0.1", "|@1", "|@."]),
                pick(&["|", "|@", "|@x", "|@1|@1", "|#tag", "|0.5", "|@1 ", "@1"]),
            ),
            piece(pick(&["", "\r"]), pick(&["\r\r", " ", "\n", "\r\n"])),
        )
            .prop_map(|parts| {
                let (a, b, c, d, e, f, g, h, i) = parts;
                [a, b, c, d, e, f, g, h, i].concat()
            })
    }

    fn near_valid_check() -> impl Strategy<Value = Vec<u8>> {
        let field = piece(
            pick(&[
                "|d:1700000000",
                "|h:web1",
                "|#env:prod,role:db",
                "|m:disk full",
                "|m:",
                "|m:caf\u{e9}",
                "|c:ci-1234",
                "|m:a|b:c",
                "|x",
            ]),
            prop_oneof![
                pick(&["|d:", "|d:x", "|d:12x", "|d:-1", "|", "||h:x", "d:1"]),
                Just(b"|m:\xff".to_vec()),
            ],
        );
        (
            piece(pick(&["_sc|"]), pick(&["_sc", "_SC|", "_sc||", ""])),
            name(),
            piece(
                pick(&["|0", "|1", "|2", "|3"]),
                pick(&["|4", "|", "", "|01", "|-1", "|ok"]),
            ),
            prop::collection::vec(field, 0..4),
            piece(pick(&["", "\r"]), pick(&["\r\r", " "])),
        )
            .prop_map(|(prefix, name, status, fields, tail)| {
                [prefix, name, status, fields.concat(), tail].concat()
            })
    }

    /// Often none, else up to three byte edits (insert, replace, delete) from the grammar's alphabet.
    fn mutated(line: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
        let alphabet = b"ab.:|-0123456789@_scgmdh#\r\n\xff beatimoutwrnflA+".to_vec();
        let edit = (
            any::<prop::sample::Index>(),
            0u8..3,
            prop::sample::select(alphabet),
        );
        let edits = prop_oneof![2 => Just(Vec::new()), 1 => prop::collection::vec(edit, 1..4)];
        (line, edits).prop_map(|(mut line, edits)| {
            for (at, op, byte) in edits {
                let i = at.index(line.len() + 1);
                match op {
                    0 => line.insert(i, byte),
                    1 if i < line.len() => line[i] = byte,
                    _ if i < line.len() => {
                        line.remove(i);
                    }
                    _ => {}
                }
            }
            line
        })
    }

    fn near_valid_line() -> impl Strategy<Value = Vec<u8>> {
        mutated(prop_oneof![near_valid_metric(), near_valid_check()])
    }

    proptest! {
        #[test]
        fn same_on_arbitrary_bytes(buf in prop::collection::vec(any::<u8>(), 0..2100), max in 0usize..40) {
            assert_same(&buf, max);
            assert_same(&buf, crate::MAX_LINE);
        }

        #[test]
        fn same_on_grammar_like_bytes(buf in prop::collection::vec(prop::sample::select(
            b"ab.:|-0123456789@_scgmdh#\r\n\xff beatimoutwrnflA+".to_vec()), 0..80)) {
            assert_same(&buf, crate::MAX_LINE);
        }

        #[test]
        fn same_on_near_valid_lines(line in near_valid_line(), max in 0usize..40) {
            assert_same(&line, crate::MAX_LINE);
            assert_same(&line, max);
        }

        #[test]
        fn same_on_buffers_of_near_valid_lines(
            lines in prop::collection::vec((near_valid_line(), pick(&["\n", "\r\n", "\n\n", ""])), 0..6),
            max in 0usize..40,
        ) {
            let buf: Vec<u8> = lines.into_iter().flat_map(|(l, eol)| [l, eol].concat()).collect();
            assert_same(&buf, crate::MAX_LINE);
            assert_same(&buf, max);
        }
    }

    /// Every file of the line fuzz corpus, whole and as the fuzz target reads
    /// it (its first byte is the TCP read size).
    #[test]
    fn same_on_the_fuzz_corpus() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/line");
        let mut files = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            assert_same(&data, crate::MAX_LINE);
            assert_same(&data[1..], crate::MAX_LINE);
            for line in data[1..].split(|&b| b == b'\n') {
                assert_same(line, crate::MAX_LINE);
            }
            files += 1;
        }
        assert!(files > 0);
    }
}
