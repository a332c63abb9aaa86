//! The dashboard: one HTML page, a script, a stylesheet and an icon,
//! compiled into the binary from `crates/lovebeat-http/ui/` (no build
//! step, no CDN, no web font).
//!
//! Every URL in the page is relative, resolved against a `<base href>` that
//! is itself relative to the page's own URL (`./`, or `../` for
//! `/alarms/web`): it names lovebeat's root without knowing where the
//! browser sees it. So the page, its API calls and its websocket work at
//! `/`, under `[http] base_path`, and behind a reverse proxy that mounts
//! lovebeat anywhere, such as nginx's `location /monitoring/lovebeat/ {
//! proxy_pass http://localhost:8080/; }`, with no header to set. The page
//! is also served at Go lovebeat's `/services` and `/alarms/{name}` (and
//! `/views/{name}`), which preselect a view.
//!
//! Such a proxy also rewrites `Host`, so the websocket cannot tell its own
//! page by `Origin` alone: the page carries a [`PageTicket`] it hands the
//! websocket, which a page of another site cannot read.

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

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

/// `GET /`: the page, its `<base href>` filled in.
pub(super) async fn index(State(state): State<Arc<AppState>>, uri: OriginalUri) -> Response {
    let base = page_base(uri.path(), &state.base_path);
    let page = INDEX
        .replace("{{BASE}}", &escape(&base))
        .replace("{{TICKET}}", &state.page_ticket.0)
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

/// What the dashboard page gives its websocket (`ws?page=TICKET`) to show
/// that lovebeat served it: random per start, in the page only, so a page
/// of another site (which cannot read lovebeat's page) cannot open the
/// feed from an operator's browser, however a proxy rewrote `Host`.
pub struct PageTicket(String);

impl PageTicket {
    /// A fresh ticket: 16 random bytes as hex. A system with no
    /// randomness to give cannot run lovebeat at all (std's `HashMap`
    /// panics there too).
    pub fn random() -> PageTicket {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the system's random source");
        PageTicket(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Whether `sent` is this ticket (in time independent of the content).
    pub(super) fn admits(&self, sent: &str) -> bool {
        self.0.as_bytes().ct_eq(sent.as_bytes()).into()
    }
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

/// Lovebeat's root as seen from the page at `path` (a route of the
/// page, under `base_path`), relative so it survives any proxy prefix:
/// `./` for `{base}/` and `{base}/services`, `../` for
/// `{base}/alarms/web`, and `lb/` for `/lb` itself (the base path without
/// its `/`, where the page's directory is the one above).
fn page_base(path: &str, base_path: &str) -> String {
    let below = path.strip_prefix(base_path).unwrap_or(path);
    if below.is_empty() {
        let last = base_path.rsplit('/').next().unwrap_or_default();
        return format!("{last}/");
    }
    match below.matches('/').count() {
        0 | 1 => "./".to_owned(),
        slashes => "../".repeat(slashes - 1),
    }
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

    #[test]
    fn the_base_leads_from_each_page_route_to_the_root() {
        assert_eq!(page_base("/", ""), "./");
        assert_eq!(page_base("/services", ""), "./");
        assert_eq!(page_base("/alarms/web", ""), "../");
        assert_eq!(page_base("/views/web", ""), "../");
        assert_eq!(page_base("/lb/", "/lb"), "./");
        assert_eq!(page_base("/lb/alarms/web", "/lb"), "../");
        assert_eq!(page_base("/lb", "/lb"), "lb/");
        assert_eq!(page_base("/a/lb", "/a/lb"), "lb/");
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
        let page = INDEX
            .replace("{{BASE}}", "../")
            .replace("{{TICKET}}", "t")
            .replace("{{VERSION}}", "1");
        assert!(!page.contains("{{"), "{page}");
        for absolute in ["src=\"/", "href=\"/", "http://", "https://", "url(/"] {
            assert!(!page.contains(absolute), "{absolute}");
        }
        assert!(page.contains("<base href=\"../\">"));
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
    fn a_ticket_admits_itself_only() {
        let (a, b) = (PageTicket::random(), PageTicket::random());
        assert_eq!(a.0.len(), 32);
        assert!(a.admits(&a.0));
        assert!(!a.admits(&b.0), "each start has its own");
        assert!(!a.admits(""));
        assert!(!a.admits(&a.0[..31]));
    }

    #[test]
    fn escape_covers_the_attribute_breakers() {
        assert_eq!(
            escape(r#"<a href="x">'&"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
