//! The dashboard: one HTML page, a script, a stylesheet and an icon,
//! compiled into the binary from `crates/lovebeat-http/ui/` (no build
//! step, no CDN, no web font).
//!
//! Every URL in the page is relative, resolved against a `<base href>` set
//! here to where the browser sees lovebeat: the `X-Forwarded-Prefix` of a
//! reverse proxy that strips a sub-path, then `[http] base_path` for one
//! that does not. So the page, its API calls and its websocket work at
//! `/`, under a base path, and behind nginx's
//! `location /monitoring/lovebeat/ { proxy_pass http://127.0.0.1:8080/; }`.
//! The page is also served at Go lovebeat's `/services` and
//! `/alarms/{name}` (and `/views/{name}`), which preselect a view.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;

const INDEX: &str = include_str!("../ui/index.html");
const SCRIPT: &str = include_str!("../ui/app.js");
const STYLE: &str = include_str!("../ui/app.css");
const ICON: &str = include_str!("../ui/icon.svg");

/// What the page may load and do: only its own files and API, no inline
/// script, no framing. Defence in depth: the script never parses data as
/// HTML in the first place.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'self'; form-action 'none'; \
     frame-ancestors 'none'";

/// The header a prefix-stripping reverse proxy names the prefix in.
const FORWARDED_PREFIX: &str = "x-forwarded-prefix";

/// `GET /`: the page, its `<base href>` filled in.
pub(super) async fn index(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let base = page_base(&headers, &state.base_path);
    let page = INDEX
        .replace("{{BASE}}", &escape(&base))
        .replace("{{VERSION}}", &escape(&state.version));
    let mut response = file("text/html; charset=utf-8", page);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

pub(super) async fn script() -> Response {
    file("text/javascript; charset=utf-8", SCRIPT.to_owned())
}

pub(super) async fn style() -> Response {
    file("text/css; charset=utf-8", STYLE.to_owned())
}

pub(super) async fn icon() -> Response {
    file("image/svg+xml", ICON.to_owned())
}

fn file(content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// A URL path prefix made safe to put in a link: `""` for the root, else
/// `/SEGMENT[/SEGMENT…]` without a trailing `/`, each segment of letters,
/// digits and `-._~` (no `.` or `..`). None if it is anything else: a
/// prefix that would need escaping is refused, never escaped.
pub fn normalize_path(path: &str) -> Option<String> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return Some(String::new());
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
    let segments_ok = trimmed.strip_prefix('/').is_some_and(|rest| {
        rest.split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && seg.chars().all(safe))
    });
    segments_ok.then(|| trimmed.to_owned())
}

/// Where the browser sees lovebeat's root, ending in `/`. An invalid
/// `X-Forwarded-Prefix` is ignored: taken as it is, `//evil.example` would
/// point the page's scripts and API calls at another host.
fn page_base(headers: &HeaderMap, base_path: &str) -> String {
    let forwarded = headers
        .get(FORWARDED_PREFIX)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| normalize_path(v.trim()))
        .unwrap_or_default();
    format!("{forwarded}{base_path}/")
}

/// Text made safe for an HTML attribute value or element.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(prefix: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(FORWARDED_PREFIX, HeaderValue::from_str(prefix).unwrap());
        headers
    }

    #[test]
    fn the_base_is_the_forwarded_prefix_then_the_base_path() {
        assert_eq!(page_base(&HeaderMap::new(), ""), "/");
        assert_eq!(page_base(&HeaderMap::new(), "/lb"), "/lb/");
        let proxy = headers("/monitoring/lovebeat/");
        assert_eq!(page_base(&proxy, ""), "/monitoring/lovebeat/");
        assert_eq!(page_base(&proxy, "/lb"), "/monitoring/lovebeat/lb/");
        assert_eq!(
            page_base(&headers("/a, /b"), ""),
            "/a/",
            "the first proxy's"
        );
    }

    #[test]
    fn a_forwarded_prefix_that_could_leave_the_site_is_ignored() {
        for bad in [
            "//evil.example",
            "https://evil.example",
            "evil",
            "/a/../..",
            "/\"><script>",
            "/a b",
        ] {
            assert_eq!(page_base(&headers(bad), ""), "/", "{bad}");
        }
    }

    #[test]
    fn paths_are_kept_without_a_trailing_slash() {
        assert_eq!(normalize_path("").as_deref(), Some(""));
        assert_eq!(normalize_path("/").as_deref(), Some(""));
        assert_eq!(
            normalize_path("/a/b-c_d.e~f/").as_deref(),
            Some("/a/b-c_d.e~f")
        );
        for bad in [
            "a", "//", "/a//b", "/./a", "/a/..", "/a%20", "/é", "/a?b", "/a#b",
        ] {
            assert_eq!(normalize_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_page_has_no_placeholder_left_and_only_relative_urls() {
        let page = INDEX.replace("{{BASE}}", "/x/").replace("{{VERSION}}", "1");
        assert!(!page.contains("{{"), "{page}");
        for absolute in ["src=\"/", "http://", "https://", "url(/"] {
            assert!(!page.contains(absolute), "{absolute}");
        }
        assert_eq!(
            page.matches("href=\"/").count(),
            1,
            "only <base> is absolute"
        );
        assert!(page.contains("<base href=\"/x/\">"));
    }

    #[test]
    fn the_script_never_parses_data_as_html() {
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!SCRIPT.contains(sink), "app.js uses {sink}");
        }
        assert!(
            !SCRIPT.contains("'/api") && !SCRIPT.contains("\"/api"),
            "absolute API URL"
        );
    }

    #[test]
    fn escape_covers_the_attribute_breakers() {
        assert_eq!(
            escape(r#"<a href="x">'&"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
