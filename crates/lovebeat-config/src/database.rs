//! `[database]`: the file, how often it is written, the startup grace,
//! and the S3 copy ([`S3Settings`]).

use std::path::PathBuf;
use std::time::Duration;

use lovebeat_monitors::s3::S3Settings;
use toml::Spanned;

use crate::check::{Checker, base_url, non_empty, off_if_empty, seconds, seconds_or_zero, text};
use crate::raw;

/// `[database]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// Relative to the working directory.
    pub filename: PathBuf,
    /// How long changed services may wait before they are written.
    pub interval: Duration,
    /// How long after a restart the view changes the downtime caused are
    /// held back before they alert (zero: not at all).
    pub startup_grace: Duration,
    /// A copy of the database in S3: None unless both `remote_s3_url` and
    /// `remote_s3_region` are set (as Go lovebeat required).
    pub remote_s3: Option<S3Settings>,
}

/// `[database] remote_s3_interval` when not set.
pub const DEFAULT_S3_INTERVAL: Duration = Duration::from_secs(60);

/// `[database]` over the defaults in `d`.
pub(crate) fn apply(c: &mut Checker<'_>, d: &mut Database, mut db: raw::Database) {
    d.remote_s3 = remote_s3(c, &mut db);
    c.set(&mut d.filename, "[database] filename", db.filename, |f| {
        non_empty(f).map(PathBuf::from)
    });
    c.set(&mut d.interval, "[database] interval", db.interval, seconds);
    c.set(
        &mut d.startup_grace,
        "[database] startup_grace",
        db.startup_grace,
        seconds_or_zero,
    );
}

/// The S3 copy: on when both `remote_s3_url` and `remote_s3_region` are
/// set (as Go lovebeat required); the other keys are checked either way.
fn remote_s3(c: &mut Checker<'_>, db: &mut raw::Database) -> Option<S3Settings> {
    let url_span = db.remote_s3_url.as_ref().map(Spanned::span);
    let url = c.value(
        "[database] remote_s3_url",
        db.remote_s3_url.take(),
        None,
        |u| off_if_empty(u).map(s3_url).transpose(),
    );
    let region = off_if_empty(text(db.remote_s3_region.take()));
    let endpoint = c.value(
        "[database] remote_s3_endpoint",
        db.remote_s3_endpoint.take(),
        None,
        // An S3-compatible store's base URL.
        |e| off_if_empty(e).map(|e| base_url(e, "endpoint")).transpose(),
    );
    let key_span = db.remote_s3_access_key_id.as_ref().map(Spanned::span);
    let secret_span = db.remote_s3_secret_access_key.as_ref().map(Spanned::span);
    let access_key_id = off_if_empty(text(db.remote_s3_access_key_id.take()));
    let secret_access_key = off_if_empty(text(db.remote_s3_secret_access_key.take()));
    let interval = c.value(
        "[database] remote_s3_interval",
        db.remote_s3_interval.take(),
        DEFAULT_S3_INTERVAL,
        seconds,
    );
    if access_key_id.is_some() != secret_access_key.is_some() {
        let (key, span) = match access_key_id {
            Some(_) => ("[database] remote_s3_access_key_id", key_span),
            None => ("[database] remote_s3_secret_access_key", secret_span),
        };
        let message = "needs remote_s3_access_key_id and remote_s3_secret_access_key both set \
                       (or both empty, for AWS's environment variables)";
        c.report(span.or(url_span).unwrap_or(0..0), key, message.to_owned());
    }
    Some(S3Settings {
        url: url?,
        region: region?,
        endpoint,
        access_key_id,
        secret_access_key,
        interval,
    })
}

/// `s3://BUCKET/KEY`, as Go lovebeat took it: the bucket is the host, the
/// key the path without its leading `/`.
fn s3_url(url: String) -> Result<String, String> {
    let valid = url
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(bucket, key)| {
            !bucket.is_empty()
                && !key.is_empty()
                && !key.ends_with('/')
                && key
                    .split('/')
                    .all(|part| !part.is_empty() && part != "." && part != "..")
        });
    if valid {
        Ok(url)
    } else {
        Err(format!(
            "invalid S3 URL {url:?}: expected s3://BUCKET/PATH/TO/OBJECT"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn the_s3_copy_takes_its_defaults_and_hides_its_secret() {
        let config =
            parse("[database]\nremote_s3_url = \"s3://b/a/k\"\nremote_s3_region = \"r\"\n");
        let s3 = config.database.remote_s3.unwrap();
        assert_eq!((s3.endpoint, s3.access_key_id), (None, None));
        assert_eq!(s3.interval, DEFAULT_S3_INTERVAL);
        let config = parse(concat!(
            "[database]\nremote_s3_url = \"s3://b/k\"\nremote_s3_region = \"r\"\n",
            "remote_s3_access_key_id = \"id\"\nremote_s3_secret_access_key = \"hush\"\n"
        ));
        let s3 = config.database.remote_s3.unwrap();
        assert_eq!(s3.access_key_id.as_deref(), Some("id"));
        assert_eq!(s3.secret_access_key.as_deref(), Some("hush"));
        let shown = format!("{s3:?}");
        assert!(
            shown.contains("\"s3://b/k\"") && !shown.contains("hush"),
            "{shown}"
        );
    }

    #[test]
    fn bad_s3_keys_are_reported() {
        for url in [
            "b/k",
            "s3://b",
            "s3://b/",
            "s3:///k",
            "s3://b/k/",
            "s3://b/a//k",
        ] {
            let message = error(&format!("[database]\nremote_s3_url = {url:?}"));
            assert!(
                message
                    .starts_with("/etc/lovebeat.cfg:2: [database] remote_s3_url: invalid S3 URL"),
                "{url}: {message}"
            );
        }
        let message = error("[database]\nremote_s3_endpoint = \"localhost:9000\"");
        assert!(
            message.contains("remote_s3_endpoint: invalid endpoint"),
            "{message}"
        );
        let message = error("[database]\nremote_s3_interval = 0");
        assert!(message.contains("remote_s3_interval: must be"), "{message}");
        let message = error("[database]\nremote_s3_access_key_id = \"id\"");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:2: [database] remote_s3_access_key_id: needs"),
            "{message}"
        );
    }

    #[test]
    fn startup_grace_may_be_zero_but_not_negative() {
        let config = parse("[database]\nstartup_grace = 0\n");
        assert_eq!(config.database.startup_grace, Duration::ZERO);
        assert_eq!(
            error("[database]\nstartup_grace = -1"),
            "/etc/lovebeat.cfg:2: [database] startup_grace: \
             must be a whole number of seconds, 0 or more (got -1)"
        );
    }
}
