//! `[http]`: where the API, `/status`, `/metrics` and the dashboard are
//! served, under which path, and who may use them ([`HttpAccess`]).

use lovebeat_http::HttpAccess;

use crate::check::Checker;
use crate::{Config, raw};

/// `[http]` over the defaults in `config`.
pub(crate) fn apply(c: &mut Checker<'_>, config: &mut Config, http: raw::Http) {
    c.set(&mut config.http_listen, "[http] listen", http.listen, |s| {
        s.parse()
    });
    c.set(
        &mut config.base_path,
        "[http] base_path",
        http.base_path,
        base_path,
    );
    let HttpAccess {
        tokens: t,
        allowed_origins,
        hosts,
    } = &mut config.http_access;
    c.set(
        &mut t.write,
        "[http] write_tokens",
        http.write_tokens,
        tokens,
    );
    c.set(&mut t.read, "[http] read_tokens", http.read_tokens, tokens);
    c.set(
        &mut t.public_status,
        "[http] public_status",
        http.public_status,
        Ok,
    );
    c.set(
        &mut t.public_metrics,
        "[http] public_metrics",
        http.public_metrics,
        Ok,
    );
    let key = "[http] allowed_origins";
    c.set(allowed_origins, key, http.allowed_origins, origins);
    c.set(hosts, "[http] hosts", http.hosts, served_hosts);
}

/// The shortest token accepted: long enough not to be guessed.
const MIN_TOKEN: usize = 16;

/// `[http] write_tokens`, `read_tokens`: printable ASCII without spaces,
/// at least [`MIN_TOKEN`] long.
fn tokens(tokens: Vec<String>) -> Result<Vec<String>, String> {
    for (i, t) in tokens.iter().enumerate() {
        let printable = t.bytes().all(|b| b.is_ascii_graphic());
        if t.len() < MIN_TOKEN || !printable {
            return Err(format!(
                "token {} must be at least {MIN_TOKEN} printable ASCII characters without \
                 spaces (e.g. from `openssl rand -hex 24`)",
                i + 1
            ));
        }
    }
    Ok(tokens)
}

/// `[http] allowed_origins`: `*`, or `http(s)://HOST[:PORT]` as browsers
/// send it (no path), kept without a trailing `/`.
fn origins(origins: Vec<String>) -> Result<Vec<String>, String> {
    origins
        .into_iter()
        .map(|o| {
            let trimmed = o.trim_end_matches('/');
            let host = trimmed
                .strip_prefix("http://")
                .or_else(|| trimmed.strip_prefix("https://"));
            match host {
                _ if o == "*" => Ok(o),
                Some(h) if !h.is_empty() && !h.contains(['/', '?', '#', ' ']) => {
                    Ok(trimmed.to_owned())
                }
                _ => Err(format!(
                    "invalid origin {o:?}: expected \"*\" or scheme://host[:port], \
                     e.g. \"https://dashboard.example.com\""
                )),
            }
        })
        .collect()
}

/// `[http] hosts`: `host` or `host:port` as a browser's address bar has
/// it (no scheme, no path).
fn served_hosts(hosts: Vec<String>) -> Result<Vec<String>, String> {
    for host in &hosts {
        let bad = host.is_empty()
            || host.contains("://")
            || host.contains(['/', '?', '#', ' ', ',', '@']);
        if bad {
            return Err(format!(
                "invalid host {host:?}: expected host or host:port as browsers address \
                 lovebeat, e.g. \"lovebeat.example.com\" or \"localhost:8080\""
            ));
        }
    }
    Ok(hosts)
}

/// `[http] base_path`: `""` or `/` for the root, else `/SEGMENT[/SEGMENT…]`
/// of URL-safe characters, kept without its trailing `/`. Anything that
/// would need escaping (or `.`/`..` segments) is refused: the path ends up
/// in links and in the page's `<base href>`.
fn base_path(path: String) -> Result<String, String> {
    lovebeat_http::normalize_path(&path).ok_or_else(|| {
        format!(
            "invalid path {path:?}: expected \"\" or a path like \"/monitoring/lovebeat\" \
             (letters, digits, - . _ ~ between slashes)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn base_path_is_kept_without_its_trailing_slash() {
        for (given, kept) in [
            ("", ""),
            ("/", ""),
            ("/lovebeat", "/lovebeat"),
            ("/monitoring/lovebeat/", "/monitoring/lovebeat"),
            ("/a-b/c_d.e~f", "/a-b/c_d.e~f"),
        ] {
            assert_eq!(base_path(given.to_owned()).as_deref(), Ok(kept), "{given}");
        }
    }

    #[test]
    fn base_path_refuses_what_a_link_would_need_to_escape() {
        for bad in [
            "lovebeat",
            "//evil.example",
            "/a//b",
            "/a/../b",
            "/./a",
            "/a b",
            "/a\"b",
            "/a<b>",
            "/a?b",
            "/a#b",
            "/a%20b",
            "/é",
        ] {
            assert!(base_path(bad.to_owned()).is_err(), "{bad}");
        }
        assert_eq!(
            error("[http]\nbase_path = \"x\"\n"),
            "/etc/lovebeat.cfg:2: [http] base_path: invalid path \"x\": expected \"\" or a \
             path like \"/monitoring/lovebeat\" (letters, digits, - . _ ~ between slashes)"
        );
    }

    #[test]
    fn hosts_are_bare_host_and_port() {
        let hosts = |list: &[&str]| served_hosts(list.iter().map(|h| h.to_string()).collect());
        assert!(hosts(&["lovebeat.example.com", "localhost:8080", "[::1]:8080"]).is_ok());
        for bad in [
            "",
            "https://lovebeat.example.com",
            "host/path",
            "a b",
            "a,b",
        ] {
            assert!(hosts(&[bad]).is_err(), "{bad}");
        }
        assert_eq!(
            error("[http]\nhosts = [\"http://mon\"]\n"),
            "/etc/lovebeat.cfg:2: [http] hosts: invalid host \"http://mon\": expected host or \
             host:port as browsers address lovebeat, e.g. \"lovebeat.example.com\" or \
             \"localhost:8080\""
        );
    }

    #[test]
    fn bad_listen_names_file_line_and_key() {
        assert_eq!(
            error("# comment\n[http]\nlisten = \"foo:bar\"\n"),
            "/etc/lovebeat.cfg:3: [http] listen: invalid address \"foo:bar\": \
             the port must be a number from 0 to 65535"
        );
    }
}
