//! Who may talk to lovebeat over HTTP: bearer tokens (`[http]
//! write_tokens`, `read_tokens`), asked once per request by `guard`; and
//! from which pages a browser may act here (`[http] allowed_origins`,
//! `hosts`), asked by `guard` of every change and by `ws` of the websocket.

use axum::http::{HeaderMap, header};
use subtle::ConstantTimeEq;

use crate::HttpAccess;

/// What a request needs: nothing, a read token or a write token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    Nothing,
    Read,
    Write,
}

/// What a request presented, measured against [`Tokens`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Granted,
    /// No token, or one lovebeat does not know: 401.
    Unauthenticated,
    /// A read token on a write: 403.
    Forbidden,
}

/// `[http] write_tokens`, `read_tokens` and which reads stay public.
///
/// Writes need a write token when any is set; reads need a read (or write)
/// token when any read token is set. `/status` and `/metrics` may stay
/// public (`public_status`, `public_metrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    pub write: Vec<String>,
    pub read: Vec<String>,
    pub public_status: bool,
    pub public_metrics: bool,
}

impl Tokens {
    /// Whether anything is protected at all.
    pub fn is_open(&self) -> bool {
        self.write.is_empty() && self.read.is_empty()
    }

    /// Whether `presented` (a bearer token, if any) may do what `need` asks.
    pub fn grants(&self, need: Need, presented: Option<&str>) -> Verdict {
        let is_write = presented.is_some_and(|t| known(&self.write, t));
        let is_read = is_write || presented.is_some_and(|t| known(&self.read, t));
        let allowed = match need {
            Need::Nothing => true,
            Need::Read => self.read.is_empty() || is_read,
            Need::Write => self.write.is_empty() || is_write,
        };
        match () {
            _ if allowed => Verdict::Granted,
            _ if is_read => Verdict::Forbidden,
            _ => Verdict::Unauthenticated,
        }
    }
}

/// Whether `token` is one of `tokens`, comparing in time that does not
/// depend on where the first difference is.
fn known(tokens: &[String], token: &str) -> bool {
    tokens.iter().fold(false, |found, t| {
        found | bool::from(t.as_bytes().ct_eq(token.as_bytes()))
    })
}

/// Whether a browser says this request comes from a page that may not act
/// here. An `Origin` in `[http] allowed_origins` may; with `[http] hosts`
/// set, any other `Origin` must be one of those hosts (a DNS-rebinding
/// page is same-origin to its browser, so only this tells it apart).
/// Otherwise `Sec-Fetch-Site` decides where a browser sends it (all
/// current ones do; a page cannot forge it): `same-origin` and `none`
/// (typed, bookmarked) may, `same-site` and `cross-site` may not. It also
/// holds behind a proxy that rewrites `Host`. A browser too old to send it
/// is judged by its `Origin`, which must name the host the request was
/// sent to. A request with neither header (curl, scripts, Nagios) is no
/// browser's: it passes.
pub(crate) fn is_cross_site(headers: &HeaderMap, access: &HttpAccess) -> bool {
    let origin = origin_of(headers);
    if origin.is_some_and(|o| is_listed(o, &access.allowed_origins)) {
        return false;
    }
    let has_origin = headers.contains_key(header::ORIGIN);
    if has_origin && !access.hosts.is_empty() {
        return !origin.is_some_and(|o| is_served_as(o, headers, &access.hosts));
    }
    let fetch_site = (headers.get("sec-fetch-site")).and_then(|v| v.to_str().ok());
    match (fetch_site.map(str::trim), origin) {
        (Some(site), _) => !matches!(site, "same-origin" | "none"),
        (None, Some(origin)) => !is_served_as(origin, headers, &access.hosts),
        (None, None) => has_origin,
    }
}

/// The `Origin` header without a trailing `/`; None when there is none or
/// it is not text.
fn origin_of(headers: &HeaderMap) -> Option<&str> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    Some(origin.trim().trim_end_matches('/'))
}

/// Whether `origin` is one of `[http] allowed_origins` (`*`: any).
fn is_listed(origin: &str, allowed: &[String]) -> bool {
    (allowed.iter()).any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// Whether `origin`'s host is a host lovebeat is served as: one of
/// `[http] hosts` when any is set; else the host the request was sent to
/// (`Host`, or `X-Forwarded-Host` behind a proxy: a page cannot set
/// either, but a DNS-rebinding page makes its own name point here, and
/// then `Host` is that name, which only `[http] hosts` tells apart).
fn is_served_as(origin: &str, headers: &HeaderMap, hosts: &[String]) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let origin_host = without_default_port(scheme, authority);
    let same =
        |host: &str| without_default_port(scheme, host.trim()).eq_ignore_ascii_case(origin_host);
    if !hosts.is_empty() {
        return hosts.iter().any(|h| same(h));
    }
    [header::HOST.as_str(), "x-forwarded-host"]
        .into_iter()
        .flat_map(|name| headers.get_all(name))
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(same)
}

/// `host:80` as `host` for http (`:443` for https), as browsers send
/// origins.
fn without_default_port<'a>(scheme: &str, authority: &'a str) -> &'a str {
    let default = if scheme.eq_ignore_ascii_case("https") {
        ":443"
    } else {
        ":80"
    };
    authority.strip_suffix(default).unwrap_or(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap());
        }
        map
    }

    fn allowing(origins: &[&str], hosts: &[&str]) -> HttpAccess {
        HttpAccess {
            allowed_origins: origins.iter().map(|o| o.to_string()).collect(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..HttpAccess::default()
        }
    }

    #[test]
    fn the_origin_must_be_the_served_host_or_allowed() {
        let none = &HttpAccess::default();
        let same = headers(&[("host", "mon:8080"), ("origin", "http://mon:8080")]);
        assert!(!is_cross_site(&same, none));
        let other = headers(&[("host", "mon:8080"), ("origin", "https://evil.example")]);
        assert!(is_cross_site(&other, none));
        assert!(!is_cross_site(
            &other,
            &allowing(&["https://evil.example/"], &[])
        ));
        assert!(!is_cross_site(&other, &allowing(&["*"], &[])));
        let no_origin = headers(&[("host", "mon:8080")]);
        assert!(!is_cross_site(&no_origin, none), "not a browser");
        let null = headers(&[("host", "mon"), ("origin", "null")]);
        assert!(is_cross_site(&null, none));
        let default_port = headers(&[("host", "mon:443"), ("origin", "https://mon")]);
        assert!(!is_cross_site(&default_port, none));
        let proxied = headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "mon.example.com"),
            ("origin", "https://mon.example.com"),
        ]);
        assert!(!is_cross_site(&proxied, none));
        let port_differs = headers(&[("host", "mon:8080"), ("origin", "http://mon:9090")]);
        assert!(is_cross_site(&port_differs, none));
    }

    #[test]
    fn sec_fetch_site_from_another_site_needs_a_listed_origin() {
        let none = &HttpAccess::default();
        for site in ["cross-site", "same-site"] {
            let bare = headers(&[("host", "mon"), ("sec-fetch-site", site)]);
            assert!(is_cross_site(&bare, none), "{site}");
            let with_host_origin = headers(&[
                ("host", "mon"),
                ("origin", "http://mon"),
                ("sec-fetch-site", site),
            ]);
            assert!(is_cross_site(&with_host_origin, none), "{site}");
            let listed = allowing(&["http://mon"], &[]);
            assert!(!is_cross_site(&with_host_origin, &listed), "{site}");
        }
        for site in ["same-origin", "none"] {
            let own = headers(&[("host", "mon"), ("sec-fetch-site", site)]);
            assert!(!is_cross_site(&own, none), "{site}");
        }
    }

    #[test]
    fn sec_fetch_site_same_origin_holds_behind_a_proxy_that_rewrites_host() {
        let none = &HttpAccess::default();
        let proxied = [
            ("host", "localhost:8080"),
            ("origin", "https://mon.example.com"),
        ];
        let modern = headers(&[proxied[0], proxied[1], ("sec-fetch-site", "same-origin")]);
        assert!(!is_cross_site(&modern, none));
        let old_browser = headers(&proxied);
        assert!(
            is_cross_site(&old_browser, none),
            "judged by Origin against Host"
        );
    }

    #[test]
    fn configured_hosts_replace_the_host_header_against_dns_rebinding() {
        // A rebinding page: its own name now points here, so Host and
        // Origin agree, and Sec-Fetch-Site says same-origin.
        let rebound = headers(&[
            ("host", "evil.example:8080"),
            ("origin", "http://evil.example:8080"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(!is_cross_site(&rebound, &HttpAccess::default()));
        let hosts = allowing(&[], &["mon.example.com", "localhost:8080"]);
        assert!(is_cross_site(&rebound, &hosts));
        let own = headers(&[
            ("host", "10.0.0.5:8080"),
            ("origin", "https://mon.example.com"),
        ]);
        assert!(!is_cross_site(&own, &hosts));
        let local = headers(&[
            ("host", "localhost:8080"),
            ("origin", "http://localhost:8080"),
        ]);
        assert!(!is_cross_site(&local, &hosts));
    }

    #[test]
    fn without_tokens_everything_is_granted() {
        let open = Tokens::default();
        assert!(open.is_open());
        assert_eq!(open.grants(Need::Write, None), Verdict::Granted);
        assert_eq!(open.grants(Need::Read, Some("x")), Verdict::Granted);
    }

    #[test]
    fn write_tokens_guard_writes_only() {
        let t = Tokens {
            write: vec!["w".into()],
            ..Tokens::default()
        };
        assert_eq!(t.grants(Need::Write, None), Verdict::Unauthenticated);
        assert_eq!(t.grants(Need::Write, Some("x")), Verdict::Unauthenticated);
        assert_eq!(t.grants(Need::Write, Some("w")), Verdict::Granted);
        assert_eq!(t.grants(Need::Read, None), Verdict::Granted);
    }

    #[test]
    fn read_tokens_guard_reads_and_write_tokens_read_too() {
        let t = Tokens {
            write: vec!["w".into()],
            read: vec!["r".into()],
            ..Tokens::default()
        };
        assert_eq!(t.grants(Need::Read, None), Verdict::Unauthenticated);
        assert_eq!(t.grants(Need::Read, Some("r")), Verdict::Granted);
        assert_eq!(t.grants(Need::Read, Some("w")), Verdict::Granted);
        assert_eq!(t.grants(Need::Write, Some("r")), Verdict::Forbidden);
        assert_eq!(t.grants(Need::Nothing, None), Verdict::Granted);
    }

    #[test]
    fn tokens_compare_whole() {
        let tokens = ["secret".to_owned(), "other".to_owned()];
        assert!(!known(&tokens, "secre"));
        assert!(!known(&tokens, "secreT"));
        assert!(!known(&tokens, "secretsecret"));
        assert!(known(&tokens, "secret"));
        assert!(known(&tokens, "other"));
    }
}
