//! Active checks: `[[checks]]` (HTTP, HTTPS and TCP, each feeding a
//! service) into the monitors' [`ProbeSpec`], and `[probes]`, how they run.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use lovebeat_monitors::probes::{ProbeSpec, Target};
use lovebeat_proto::is_valid_name;
use toml::Spanned;

use crate::check::Checker;
use crate::raw;

/// Most failed runs in a row a check may tolerate before its service is
/// an error.
pub const MAX_FAILURES: u32 = 100;

/// Most attempts a check may make per run.
pub const MAX_ATTEMPTS: u32 = 10;

/// One `[[checks]]` entry, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckDef {
    /// The check; its `ca_pem` is read from `ca_file` when lovebeat starts.
    pub spec: ProbeSpec,
    /// PEM certificates the check trusts instead of the system's roots.
    pub ca_file: Option<PathBuf>,
}

/// `[probes]`: how active checks run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probes {
    /// Check runs in flight at once.
    pub concurrency: usize,
}

impl Default for Probes {
    fn default() -> Probes {
        Probes { concurrency: 8 }
    }
}

/// `[probes]` over its defaults.
pub(crate) fn probes(c: &mut Checker<'_>, raw: raw::Probes) -> Probes {
    let d = Probes::default();
    let concurrency = c.value(
        "[probes] concurrency",
        raw.concurrency,
        d.concurrency,
        |n| {
            usize::try_from(n)
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| format!("must be from 1 to 1000 (got {n})"))
        },
    );
    Probes { concurrency }
}

/// Every `[[checks]]` entry; a bad one is reported and left out. Two
/// checks may not feed one service.
pub(crate) fn checks(c: &mut Checker<'_>, entries: Vec<Spanned<raw::Check>>) -> Vec<CheckDef> {
    let mut defs: Vec<CheckDef> = Vec::new();
    for entry in entries {
        let span = entry.span();
        let Some(def) = check(c, entry.into_inner(), span.clone()) else {
            continue;
        };
        if defs.iter().any(|d| d.spec.name == def.spec.name) {
            let message = format!("a check named {:?} is already configured", def.spec.name);
            c.report(span, "[[checks]] name", message);
            continue;
        }
        defs.push(def);
    }
    defs
}

/// What kind of check, from `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Http,
    Https,
    Tcp,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Https => "https",
            Kind::Tcp => "tcp",
        }
    }
}

fn check(c: &mut Checker<'_>, raw: raw::Check, span: Range<usize>) -> Option<CheckDef> {
    let name = c.value("[[checks]] name", Some(raw.name.clone()), None, |n| {
        if is_valid_name(&n) {
            Ok(Some(n))
        } else {
            Err(format!("invalid service name {n:?}: use a-z 0-9 . _ -"))
        }
    })?;
    let kind = kind(c, &raw, span.clone())?;
    let (timeout, interval, attempts) = timings(c, &raw);
    let failures = c.value("[[checks]] failures", raw.failures.clone(), 1, |n| {
        u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_FAILURES).contains(n))
            .ok_or_else(|| format!("must be from 1 to {MAX_FAILURES} (got {n})"))
    });
    let target = target(c, kind, &raw, span)?;
    let ca_file = raw.ca_file.map(|f| PathBuf::from(f.into_inner()));
    Some(CheckDef {
        spec: ProbeSpec {
            name,
            kind: kind.as_str(),
            target,
            timeout,
            interval,
            attempts,
            failures,
        },
        ca_file,
    })
}

/// `type`, or the scheme of `url`.
fn kind(c: &mut Checker<'_>, raw: &raw::Check, span: Range<usize>) -> Option<Kind> {
    let url_kind = raw.url.as_ref().and_then(|u| scheme_kind(u.get_ref()));
    let kind = c.value("[[checks]] type", raw.kind.clone(), url_kind, |k| {
        match k.as_str() {
            "http" => Ok(Some(Kind::Http)),
            "https" => Ok(Some(Kind::Https)),
            "tcp" => Ok(Some(Kind::Tcp)),
            _ => Err(format!(
                "must be \"http\", \"https\" or \"tcp\" (got {k:?})"
            )),
        }
    });
    if kind.is_none() && raw.kind.is_none() {
        let message = "missing: give type = \"http\", \"https\" or \"tcp\", or a url";
        c.report(span, "[[checks]] type", message.into());
    }
    kind
}

/// `timeout`, `interval` and `attempts`, or their defaults.
fn timings(c: &mut Checker<'_>, raw: &raw::Check) -> (Duration, Duration, u32) {
    let seconds = |c: &mut Checker<'_>, key: &str, value, default: u64| {
        c.value(key, value, Duration::from_secs(default), |s: i64| {
            u64::try_from(s)
                .ok()
                .filter(|&s| (1..=86_400).contains(&s))
                .map(Duration::from_secs)
                .ok_or_else(|| format!("must be whole seconds from 1 to 86400 (got {s})"))
        })
    };
    let timeout = seconds(c, "[[checks]] timeout", raw.timeout.clone(), 10);
    let interval = seconds(c, "[[checks]] interval", raw.interval.clone(), 60);
    let attempts = c.value("[[checks]] attempts", raw.attempts.clone(), 1, |n| {
        u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_ATTEMPTS).contains(n))
            .ok_or_else(|| format!("must be from 1 to {MAX_ATTEMPTS} (got {n})"))
    });
    (timeout, interval, attempts)
}

fn scheme_kind(url: &str) -> Option<Kind> {
    if url.starts_with("https://") {
        Some(Kind::Https)
    } else if url.starts_with("http://") {
        Some(Kind::Http)
    } else {
        None
    }
}

/// The URL, or host and port, that `kind` needs.
fn target(c: &mut Checker<'_>, kind: Kind, raw: &raw::Check, span: Range<usize>) -> Option<Target> {
    let port = c.value("[[checks]] port", raw.port.clone(), None, |p| {
        u16::try_from(p)
            .ok()
            .filter(|&p| p > 0)
            .map(Some)
            .ok_or_else(|| format!("must be from 1 to 65535 (got {p})"))
    });
    let host = (raw.host.as_ref())
        .map(|h| h.get_ref().trim().to_owned())
        .filter(|h| !h.is_empty());
    if kind == Kind::Tcp {
        let Some((host, port)) = host.zip(port) else {
            let message = "a tcp check needs host and port".into();
            c.report(span, "[[checks]] host", message);
            return None;
        };
        return Some(Target::Tcp { host, port });
    }
    let url = url(c, kind, raw, host, port, span)?;
    let expect_status = c.value(
        "[[checks]] expect_status",
        raw.expect_status.clone(),
        None,
        |s| {
            u16::try_from(s)
                .ok()
                .filter(|s| (100..=599).contains(s))
                .map(Some)
                .ok_or_else(|| format!("must be an HTTP status from 100 to 599 (got {s})"))
        },
    );
    let expect_body = (raw.expect_body.as_ref())
        .map(|b| b.get_ref().clone())
        .filter(|b| !b.is_empty());
    Some(Target::Http {
        url,
        expect_status,
        expect_body,
        ca_pem: None,
    })
}

/// `url`, or the URL of `host`, `port` and `path` (Heartbeat's way).
fn url(
    c: &mut Checker<'_>,
    kind: Kind,
    raw: &raw::Check,
    host: Option<String>,
    port: Option<u16>,
    span: Range<usize>,
) -> Option<String> {
    if let Some(url) = &raw.url {
        return c.value(
            "[[checks]] url",
            Some(url.clone()),
            None,
            |u| match scheme_kind(&u) {
                Some(k) if k == kind && u.len() > kind.as_str().len() + 3 => Ok(Some(u)),
                _ => Err(format!("must be a {}:// URL (got {u:?})", kind.as_str())),
            },
        );
    }
    let Some(host) = host else {
        let message = "an http or https check needs url, or host (and port, path)".into();
        c.report(span, "[[checks]] url", message);
        return None;
    };
    let path = raw.path.as_ref().map_or("/", |p| p.get_ref().as_str());
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    let slash = if path.starts_with('/') { "" } else { "/" };
    Some(format!("{}://{host}{port}{slash}{path}", kind.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::from_str;

    fn parse(text: &str) -> crate::Config {
        from_str(text, "test.toml").unwrap_or_else(|err| panic!("{err}"))
    }

    fn error(text: &str) -> String {
        match from_str(text, "t.toml") {
            Ok(config) => panic!("accepted: {config:?}"),
            Err(err) => err.to_string(),
        }
    }

    fn http(url: &str, expect_status: Option<u16>, expect_body: Option<&str>) -> Target {
        Target::Http {
            url: url.into(),
            expect_status,
            expect_body: expect_body.map(str::to_owned),
            ca_pem: None,
        }
    }

    #[test]
    fn a_url_check_takes_its_type_from_the_url() {
        let config = parse(
            "[[checks]]\nname = \"web\"\nurl = \"https://example.com/health\"\n\
             timeout = 2\ninterval = 5\nattempts = 3\nfailures = 2\nexpect_status = 204\n\
             expect_body = \"up\"\nca_file = \"ca.pem\"\n",
        );
        let def = &config.checks[0];
        assert_eq!(def.spec.kind, "https");
        let target = http("https://example.com/health", Some(204), Some("up"));
        assert_eq!(def.spec.target, target);
        let timings = (def.spec.timeout, def.spec.interval, def.spec.attempts);
        assert_eq!(timings, (Duration::from_secs(2), Duration::from_secs(5), 3));
        assert_eq!(def.spec.failures, 2);
        assert_eq!(def.ca_file, Some(PathBuf::from("ca.pem")));
    }

    #[test]
    fn host_port_and_path_make_the_url_as_heartbeat_did() {
        let config = parse(
            "[[checks]]\nname = \"webapp\"\ntype = \"http\"\nhost = \"localhost\"\n\
             port = 8080\npath = \"/app/login\"\n[[checks]]\nname = \"db\"\n\
             type = \"tcp\"\nhost = \"db1\"\nport = 5432\n",
        );
        assert_eq!(
            config.checks[0].spec.target,
            http("http://localhost:8080/app/login", None, None)
        );
        assert_eq!(config.checks[0].spec.interval, Duration::from_secs(60));
        let tcp = Target::Tcp {
            host: "db1".into(),
            port: 5432,
        };
        assert_eq!(config.checks[1].spec.target, tcp);
    }

    #[test]
    fn bad_checks_name_the_line_and_key() {
        assert_eq!(
            error("[[checks]]\nname = \"db\"\ntype = \"tcp\"\nhost = \"x\"\n"),
            "t.toml:1: [[checks]] host: a tcp check needs host and port"
        );
        assert_eq!(
            error("[[checks]]\nname = \"web\"\ntype = \"http\"\nurl = \"https://x\"\n"),
            "t.toml:4: [[checks]] url: must be a http:// URL (got \"https://x\")"
        );
        assert_eq!(
            error("[[checks]]\nname = \"Web\"\nurl = \"http://x\"\n"),
            "t.toml:2: [[checks]] name: invalid service name \"Web\": use a-z 0-9 . _ -"
        );
        assert_eq!(
            error("[[checks]]\nname = \"w\"\nurl = \"http://x\"\nattempts = 0\n"),
            "t.toml:4: [[checks]] attempts: must be from 1 to 10 (got 0)"
        );
        let twice = "[[checks]]\nname = \"w\"\nurl = \"http://x\"\n";
        assert!(error(&format!("{twice}{twice}")).contains("already configured"));
        assert!(error("[[checks]]\nname = \"w\"\n").contains("[[checks]] type: missing"));
    }

    #[test]
    fn probes_and_the_status_page() {
        let config = parse(
            "[probes]\nconcurrency = 2\n[status_page]\ntitle = \"Acme\"\n\
             views = [\"web\"]\nservices = [\"backup\"]\n",
        );
        assert_eq!(config.probes.concurrency, 2);
        assert_eq!(config.status_page.title, "Acme");
        assert_eq!(config.status_page.views, ["web"]);
        assert_eq!(config.status_page.services, ["backup"]);
        assert!(error("[probes]\nconcurrency = 0\n").contains("must be from 1 to 1000"));
    }
}
