//! What the tests share: one config text parsed, or its one-line error.

use crate::{Config, from_str};

pub(crate) fn parse(text: &str) -> Config {
    from_str(text, "test.toml").unwrap_or_else(|err| panic!("{err}"))
}

/// The one-line message for a config that must fail.
pub(crate) fn error(text: &str) -> String {
    match from_str(text, "/etc/lovebeat.cfg") {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(err) => err.to_string(),
    }
}

/// The warnings of a config that must load, one line each.
pub(crate) fn warnings(text: &str) -> Vec<String> {
    let config = from_str(text, "/etc/lovebeat.cfg").unwrap_or_else(|err| panic!("{err}"));
    config.warnings.iter().map(ToString::to_string).collect()
}

pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}
