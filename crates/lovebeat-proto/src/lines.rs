//! Entry points: [`parse_line`] for one line, [`lines`] for a buffer of them.
//!
//! Owns the framing rules shared by UDP and TCP: a trailing `\r` is dropped
//! (so CRLF works on both, unlike lovebeat 1.0's UDP), empty lines are
//! skipped, and lines over [`MAX_LINE`] are refused before any parsing. The
//! split into lines and each line's parse are the grammar's.

use std::iter::FusedIterator;

use crate::grammar::{parse_command, split_line};
use crate::{Command, Reject};

/// The longest accepted line by default, in bytes, not counting a trailing
/// `\r` or the `\n`. Service names are short, so real lines are far below
/// it; TCP readers use the same limit (allow one more byte for a `\r`).
/// [`Lines::max_line`] sets another (`[limits] line_length`).
pub const MAX_LINE: usize = 1024;

/// Parses one line, given without its `\n`. A single trailing `\r` is
/// stripped. An empty line is [`Reject::Blank`] (use [`lines`] to skip
/// them silently).
pub fn parse_line(line: &[u8]) -> Result<Command<'_>, Reject> {
    match strip_cr(line) {
        b"" => Err(Reject::Blank),
        line => parse_stripped(line, MAX_LINE),
    }
}

fn parse_stripped(line: &[u8], max_line: usize) -> Result<Command<'_>, Reject> {
    if line.len() > max_line {
        Err(Reject::TooLong)
    } else {
        parse_command(line)
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Splits `buf` on `\n` and parses each non-empty line. CRLF is fine, the
/// final newline is optional, and empty lines (also a lone `\r`) yield
/// nothing. One bad line does not affect the others.
pub fn lines(buf: &[u8]) -> Lines<'_> {
    Lines {
        rest: buf,
        max_line: MAX_LINE,
    }
}

/// The iterator returned by [`lines`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    /// What is left of the buffer, after the last `\n` consumed.
    rest: &'a [u8],
    /// Longer lines are [`Reject::TooLong`].
    max_line: usize,
}

impl Lines<'_> {
    /// Refuses lines longer than `max_line` bytes instead of [`MAX_LINE`].
    pub fn max_line(mut self, max_line: usize) -> Self {
        self.max_line = max_line;
        self
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<Command<'a>, Reject>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        while let Some((rest, line)) = split_line(self.rest) {
            self.rest = rest;
            let line = strip_cr(line);
            if !line.is_empty() {
                return Some(parse_stripped(line, self.max_line));
            }
        }
        None
    }
}

impl FusedIterator for Lines<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, CheckStatus};

    /// (action, name, value_ms) of each accepted line, like Go's `Parse`.
    fn parse_all(buf: &str) -> Vec<(Action, &str, i64)> {
        lines(buf.as_bytes())
            .filter_map(Result::ok)
            .map(|c| (c.action, c.name, c.value_ms()))
            .collect()
    }

    // §9.1 vectors.

    #[test]
    fn empty_buffer_gives_nothing() {
        assert_eq!(lines(b"").count(), 0);
    }

    #[test]
    fn go_beat() {
        assert_eq!(
            parse_all("foo.bar.beat:1|c"),
            [(Action::Beat, "foo.bar", 1000)]
        );
    }

    #[test]
    fn go_timeout() {
        assert_eq!(
            parse_all("foo.bar.timeout:1|c"),
            [(Action::ErrTimeout, "foo.bar", 1000)]
        );
    }

    #[test]
    fn go_autobeat() {
        assert_eq!(
            parse_all("foo.bar.autobeat:1|c"),
            [(Action::Autobeat, "foo.bar", 1000)]
        );
    }

    #[test]
    fn go_auto_timeout() {
        assert_eq!(
            parse_all("foo.bar.timeout:-2|g"),
            [(Action::ErrTimeout, "foo.bar", -2)]
        );
    }

    #[test]
    fn go_invalid_action() {
        assert_eq!(parse_all("foo.bar.invalid:1|c"), []);
        assert_eq!(
            parse_line(b"foo.bar.invalid:1|c"),
            Err(Reject::UnknownAction)
        );
    }

    #[test]
    fn go_three_lines() {
        assert_eq!(
            parse_all("foo.bar.timeout:1|c\nfoo.fum.timeout:4|g\nfoo.fie.beat:8|c"),
            [
                (Action::ErrTimeout, "foo.bar", 1000),
                (Action::ErrTimeout, "foo.fum", 4000),
                (Action::Beat, "foo.fie", 8000),
            ]
        );
    }

    #[test]
    fn go_underscore_name() {
        assert_eq!(
            parse_all("foo_bar.beat:1|c"),
            [(Action::Beat, "foo_bar", 1000)]
        );
    }

    #[test]
    fn go_slash_name() {
        assert_eq!(parse_all("foo/bar.beat:1|c"), []);
        assert_eq!(parse_line(b"foo/bar.beat:1|c"), Err(Reject::BadName));
    }

    // §9.1 legacy vectors.

    #[test]
    fn go_legacy_err() {
        assert_eq!(
            parse_all("foo.bar.err:1|c"),
            [(Action::ErrTimeout, "foo.bar", 1000)]
        );
        assert_eq!(
            parse_all("foo.bar.err:-2|g"),
            [(Action::ErrTimeout, "foo.bar", -2)]
        );
    }

    #[test]
    fn go_legacy_warn() {
        assert_eq!(
            parse_all("foo.bar.warn:1|c"),
            [(Action::WarnTimeout, "foo.bar", 1000)]
        );
    }

    #[test]
    fn go_legacy_three_lines() {
        assert_eq!(
            parse_all("foo.bar.warn:1|c\nfoo.fum.err:4|g\nfoo.fie.beat:8|c"),
            [
                (Action::WarnTimeout, "foo.bar", 1000),
                (Action::ErrTimeout, "foo.fum", 4000),
                (Action::Beat, "foo.fie", 8000),
            ]
        );
    }

    // Framing.

    #[test]
    fn trailing_cr_is_stripped() {
        assert_eq!(parse_line(b"foo.beat:1|c\r").unwrap().name, "foo");
        assert_eq!(parse_line(b"foo.beat:1|c\r\r"), Err(Reject::BadType));
    }

    #[test]
    fn crlf_buffer() {
        let got = parse_all("a.beat:1|c\r\nb.warn:2|g\r\n");
        assert_eq!(
            got,
            [(Action::Beat, "a", 1000), (Action::WarnTimeout, "b", 2000)]
        );
    }

    #[test]
    fn trailing_newline_is_optional() {
        assert_eq!(parse_all("a.beat:1|c\n").len(), 1);
        assert_eq!(parse_all("a.beat:1|c").len(), 1);
    }

    #[test]
    fn empty_lines_are_skipped() {
        let results: Vec<_> = lines(b"\n\r\n\na.beat:1|c\n\n\r\nb.beat:1|c\n\n").collect();
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(Result::is_ok));
    }

    #[test]
    fn bad_line_does_not_affect_others() {
        let results: Vec<_> = lines(b"a.beat:1|c\nBAD\nb.beat:1|c").collect();
        assert_eq!(results.len(), 3);
        assert_eq!(results[1], Err(Reject::Malformed));
        assert!(results[0].is_ok() && results[2].is_ok());
    }

    #[test]
    fn an_empty_line_alone_is_blank() {
        assert_eq!(parse_line(b""), Err(Reject::Blank));
        assert_eq!(parse_line(b"\r"), Err(Reject::Blank));
    }

    #[test]
    fn long_lines_are_rejected() {
        let rate = "1".repeat(MAX_LINE - "a.beat:1|c|@".len());
        let fits = format!("a.beat:1|c|@{rate}");
        assert_eq!(fits.len(), MAX_LINE);
        assert!(parse_line(fits.as_bytes()).is_ok());
        assert!(parse_line(format!("{fits}\r").as_bytes()).is_ok());
        let long = format!("a{fits}");
        assert_eq!(parse_line(long.as_bytes()), Err(Reject::TooLong));
        assert_eq!(
            lines(format!("{long}\n{fits}").as_bytes()).next(),
            Some(Err(Reject::TooLong))
        );
    }

    #[test]
    fn the_line_limit_can_be_set() {
        let line = "a.beat:1|c";
        let short = lines(line.as_bytes()).max_line(line.len() - 1);
        assert_eq!(short.collect::<Vec<_>>(), [Err(Reject::TooLong)]);
        let long = format!("a.beat:1|c|@{}", "1".repeat(MAX_LINE));
        let mut wide = lines(long.as_bytes()).max_line(2 * MAX_LINE);
        assert!(wide.next().unwrap().is_ok());
    }

    #[test]
    fn service_checks_are_dispatched() {
        let c = parse_line(b"_sc|db.backup|2|m:oops\r").unwrap();
        assert_eq!(c.action, Action::Check(CheckStatus::Critical));
        assert_eq!(c.message, Some("oops"));
        assert_eq!(parse_line(b"_sc|x|9"), Err(Reject::BadCheck));
    }

    #[test]
    fn sc_without_pipe_is_a_metric_name() {
        assert_eq!(parse_line(b"_sc.beat:1|c").unwrap().name, "_sc");
    }

    #[test]
    fn each_reject_reason_is_reachable() {
        let long = "a".repeat(MAX_LINE + 1);
        let cases: [(&[u8], Reject); 9] = [
            (long.as_bytes(), Reject::TooLong),
            (b"A.beat:1|c", Reject::BadName),
            (b"a.nope:1|c", Reject::UnknownAction),
            (b"a.beat:x|c", Reject::BadValue),
            (b"a.beat:1|x", Reject::BadType),
            (b"a.beat:1|c|@", Reject::BadRate),
            (b"nonsense", Reject::Malformed),
            (b"_sc|a|7", Reject::BadCheck),
            (b"\r", Reject::Blank),
        ];
        for (line, want) in cases {
            assert_eq!(
                parse_line(line),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        let covered: Vec<_> = cases.iter().map(|c| c.1).collect();
        assert_eq!(covered, Reject::ALL);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Valid service names: `[a-z0-9._-]`, but not `.` or `..`.
        fn names() -> impl Strategy<Value = String> {
            "[a-z0-9._-]{1,40}".prop_filter("not . or ..", |n| n != "." && n != "..")
        }

        /// Bytes drawn mostly from the grammar's own alphabet, to reach deep paths.
        fn grammar_bytes() -> impl Strategy<Value = Vec<u8>> {
            let alphabet = b"ab.:|-0123456789@_scgmdh#\r\n\xff beatimoutwrnfl".to_vec();
            prop::collection::vec(prop::sample::select(alphabet), 0..80)
        }

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(buf in prop::collection::vec(any::<u8>(), 0..2100)) {
                let _ = parse_line(&buf);
                for result in lines(&buf) {
                    let _ = result;
                }
            }

            #[test]
            fn grammar_like_bytes_never_panic(buf in grammar_bytes()) {
                let _ = parse_line(&buf);
                for c in lines(&buf).flatten() {
                    prop_assert!(crate::is_valid_name(c.name));
                    prop_assert!(!c.action.is_timeout() || c.value >= -2);
                }
            }

            #[test]
            fn valid_lines_round_trip(
                name in names(),
                action in prop::sample::select(vec!["beat", "autobeat", "timeout", "err", "warn", "fail"]),
                any_value in any::<i64>(),
                timeout_value in -2i64..,
                kind in prop::sample::select(vec!["g", "c", "ms"]),
                rate in prop::option::of("[0-9.]{1,6}"),
                crlf in any::<bool>(),
            ) {
                let is_timeout = matches!(action, "timeout" | "err" | "warn");
                let value = if is_timeout { timeout_value } else { any_value };
                let rate = rate.map(|r| format!("|@{r}")).unwrap_or_default();
                let eol = if crlf { "\r\n" } else { "\n" };
                let line = format!("{name}.{action}:{value}|{kind}{rate}{eol}");
                let c = parse_line(line.trim_end_matches('\n').as_bytes()).unwrap();
                prop_assert_eq!(c.name, name.as_str());
                prop_assert_eq!(c.action.as_str(), if action == "err" { "timeout" } else { action });
                prop_assert_eq!(c.value, value);
                prop_assert_eq!(c.message, None);
                let buf = line.repeat(3);
                prop_assert_eq!(lines(buf.as_bytes()).filter(|r| r == &Ok(c)).count(), 3);
            }

            #[test]
            fn valid_checks_round_trip(
                name in names(),
                code in 0u8..4,
                message in prop::option::of("[ -~]{1,40}"),
            ) {
                let tail = message.as_ref().map(|m| format!("|m:{m}")).unwrap_or_default();
                let line = format!("_sc|{name}|{code}|d:1700000000|h:host|#a:b{tail}");
                let c = parse_line(line.as_bytes()).unwrap();
                prop_assert_eq!(c.name, name.as_str());
                prop_assert_eq!(c.action, Action::Check(CheckStatus::from_code(code).unwrap()));
                prop_assert_eq!(c.message, message.as_deref());
            }
        }
    }
}
