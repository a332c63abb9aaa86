//! Collecting problems while the config is validated ([`Checker`]), and
//! the value checks more than one section uses: seconds, `HOST:PORT`,
//! URLs, empty strings.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::Config;
use crate::error::{ConfigError, Problem};
use crate::load::Sources;

/// Collects problems while `validate::from_raw` builds the config.
pub(crate) struct Checker<'a> {
    pub(crate) sources: &'a Sources,
    /// With the shared offset, to sort them into file and line order.
    pub(crate) problems: Vec<(usize, Problem)>,
    /// What lovebeat reads differently from Go lovebeat, or ignores: it
    /// starts, and logs them (sorted like `problems`).
    pub(crate) warnings: Vec<(usize, Problem)>,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(sources: &'a Sources) -> Checker<'a> {
        Checker {
            sources,
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(crate) fn report(&mut self, span: Range<usize>, key: &str, message: String) {
        let problem = self.problem(span.start, key, message);
        self.problems.push((span.start, problem));
    }

    /// A warning: the config is used, and this is logged at start.
    pub(crate) fn warn(&mut self, span: Range<usize>, key: &str, message: String) {
        let warning = self.problem(span.start, key, message);
        self.warnings.push((span.start, warning));
    }

    fn problem(&self, offset: usize, key: &str, message: String) -> Problem {
        let (file, line) = self.sources.site(offset);
        Problem {
            file: file.to_owned(),
            line: Some(line),
            key: Some(key.to_owned()),
            message,
        }
    }

    /// `check(value)` of a key, or `default` when the key is absent or its
    /// value is bad (then reported).
    pub(crate) fn value<T, U>(
        &mut self,
        key: &str,
        raw: Option<Spanned<T>>,
        default: U,
        check: impl FnOnce(T) -> Result<U, String>,
    ) -> U {
        let Some(raw) = raw else { return default };
        let span = raw.span();
        check(raw.into_inner()).unwrap_or_else(|message| {
            self.report(span, key, message);
            default
        })
    }

    /// Sets `field` to `check(value)` of a key; leaves it (the default)
    /// when the key is absent or its value is bad (then reported).
    pub(crate) fn set<T, U>(
        &mut self,
        field: &mut U,
        key: &str,
        raw: Option<Spanned<T>>,
        check: impl FnOnce(T) -> Result<U, String>,
    ) {
        if let Some(value) = self.value(key, raw, None, |v| check(v).map(Some)) {
            *field = value;
        }
    }

    pub(crate) fn finish(self, mut config: Config) -> Result<Config, ConfigError> {
        if self.problems.is_empty() {
            config.warnings = in_file_order(self.warnings);
            return Ok(config);
        }
        let problems = in_file_order(self.problems);
        Err(ConfigError { problems })
    }
}

fn in_file_order(mut problems: Vec<(usize, Problem)>) -> Vec<Problem> {
    problems.sort_by_key(|(offset, _)| *offset);
    problems.into_iter().map(|(_, p)| p).collect()
}

/// An unchecked string key's value, `""` when absent.
pub(crate) fn text(value: Option<Spanned<String>>) -> String {
    value.map(Spanned::into_inner).unwrap_or_default()
}

pub(crate) fn non_empty(s: String) -> Result<String, String> {
    if s.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(s)
    }
}

/// `""` means "off" for optional features.
pub(crate) fn off_if_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

pub(crate) fn seconds(value: i64) -> Result<Duration, String> {
    u64::try_from(value)
        .ok()
        .filter(|&s| s >= 1)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("must be a whole number of seconds, at least 1 (got {value})"))
}

/// A positive duration written `90s`, `5m`, `1h` or `1d` (or plain
/// seconds, `90`).
pub(crate) fn duration(text: String) -> Result<Duration, String> {
    lovebeat_core::duration::parse_seconds(&text)
        .map(Duration::from_secs)
        .ok_or_else(|| {
            format!("must be a duration like \"90s\", \"5m\", \"1h\" or \"1d\" (got {text:?})")
        })
}

pub(crate) fn seconds_or_zero(value: i64) -> Result<Duration, String> {
    u64::try_from(value)
        .map(Duration::from_secs)
        .map_err(|_| format!("must be a whole number of seconds, 0 or more (got {value})"))
}

/// `HOST:PORT` for outgoing connections; the host is resolved when used.
pub(crate) fn host_port(s: String) -> Result<String, String> {
    let valid = s
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if valid {
        Ok(s)
    } else {
        Err(format!("invalid address {s:?}: expected HOST:PORT"))
    }
}

/// Whether `url` is http or https, with a host.
fn is_http(url: &str) -> bool {
    url.strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
}

/// An http or https URL to POST to.
pub(crate) fn http_url(url: String) -> Result<String, String> {
    if is_http(&url) {
        Ok(url)
    } else {
        Err(format!(
            "invalid URL {url:?}: expected http://HOST/… or https://…"
        ))
    }
}

/// An http or https base URL that paths are appended to, kept without a
/// trailing `/`; `what` names it in the error (`URL`, `endpoint`).
pub(crate) fn base_url(url: String, what: &str) -> Result<String, String> {
    if is_http(&url) {
        Ok(url.trim_end_matches('/').to_owned())
    } else {
        Err(format!(
            "invalid {what} {url:?}: expected http://HOST[:PORT] or https://…"
        ))
    }
}
