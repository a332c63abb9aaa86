//! `GET /status-page`: a public, read-only status page (checkup's idea),
//! rendered on the server as one self-contained HTML document: no script,
//! no external file, every text escaped. `lovebeat status-page --out DIR`
//! saves the same document, to host it anywhere.
//!
//! It shows the incident messages (open ones, and those resolved in the
//! last day), then the chosen views (`[status_page] views`, default every
//! view) with their member services, then the chosen services
//! (`[status_page] services`, default those in no view), each with its
//! state now and a bar of the last 24 hours (`history`), and the latency
//! of the last run for services fed by a probe. Nothing on it can
//! change anything.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use lovebeat_core::{Millis, State as ServiceState};
use lovebeat_store::MessageRecord;

use super::AppState;
use super::render::rfc3339;
use super::ui::escape;
use lovebeat_core::clock::now_ms;
use lovebeat_engine::Snapshot;
use lovebeat_monitors::history::{HOURS, Kind, StateHistory, bar_start};
use lovebeat_monitors::probes::ProbeBoard;

/// Most services listed (in name order); the rest are counted.
const MAX_SERVICES: usize = 1000;

/// No script, nothing loaded: only the inline style.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

const STYLE: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}\
main{max-width:860px;margin:0 auto;padding:24px 16px}h1{font-size:26px;margin:0 0 16px}\
h2{font-size:18px;margin:28px 0 8px}.overall{padding:14px 16px;border-radius:8px;color:#fff;font-weight:600}\
.overall.s-ok{background:#2f9e44}.overall.s-warning{background:#e8a317}.overall.s-error{background:#d6336c}\
.message{background:#fff;border-left:4px solid #d6336c;padding:8px 12px;margin:8px 0;border-radius:4px}\
.message.resolved{border-color:#2f9e44;color:#555}.message p{margin:0 0 4px;white-space:pre-wrap}\
.message small,footer{color:#666;font-size:12px}ul{list-style:none;padding:0;margin:0}\
.item{background:#fff;border-radius:6px;padding:8px 12px;margin:6px 0}\
.row{display:flex;justify-content:space-between;gap:12px}.name{font-weight:600;word-break:break-all}\
.state{font-size:13px;text-transform:uppercase}.state.s-ok{color:#2f9e44}.state.s-warning{color:#b7791f}\
.state.s-error{color:#d6336c}.state.s-muted,.state.s-new{color:#777}.latency{color:#666;font-size:12px}\
.bar{display:flex;gap:2px;margin-top:6px}.bar span{flex:1;height:18px;border-radius:2px;background:#dfe3e8}\
.bar .s-ok{background:#40c057}.bar .s-warning{background:#fab005}.bar .s-error{background:#e03131}\
.bar .s-muted{background:#adb5bd}.legend{display:flex;justify-content:space-between;color:#888;font-size:11px}\
footer{margin-top:32px}";

/// `[status_page]`: what the page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusPageSettings {
    pub title: String,
    /// Views to show, in order; empty: every view.
    pub views: Vec<String>,
    /// Services to show besides the views' members, in order; empty:
    /// every service in no view.
    pub services: Vec<String>,
}

impl StatusPageSettings {
    /// Whether `views` or `services` picks what is shown (rather than
    /// every view and service by default).
    pub fn is_chosen(&self) -> bool {
        !self.views.is_empty() || !self.services.is_empty()
    }
}

/// `GET /status-page`.
pub(super) async fn page(State(state): State<Arc<AppState>>) -> Response {
    let snapshot = state.read().await;
    let html = render(&Inputs {
        settings: &state.status_page,
        snapshot: &snapshot,
        history: &state.history,
        probes: &state.checks,
        messages: state.messages.shown(now_ms()),
        version: &state.version,
        now: now_ms(),
    });
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Everything a page is made of.
pub(crate) struct Inputs<'a> {
    pub settings: &'a StatusPageSettings,
    pub snapshot: &'a Snapshot,
    pub history: &'a StateHistory,
    pub probes: &'a ProbeBoard,
    pub messages: Vec<MessageRecord>,
    pub version: &'a str,
    pub now: Millis,
}

/// One listed thing: a view or a service, and its state now.
struct Item {
    kind: Kind,
    name: Arc<str>,
    state: ServiceState,
}

/// A view and its members, or the loose services (`view` None).
struct Group {
    view: Option<Item>,
    members: Vec<Item>,
}

/// The whole document.
pub(crate) fn render(inputs: &Inputs<'_>) -> String {
    let groups = groups(inputs.settings, inputs.snapshot);
    let title = if inputs.settings.title.is_empty() {
        "Status"
    } else {
        &inputs.settings.title
    };
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"60\"><title>{}</title><style>{STYLE}</style>\
         </head><body><main>\n<h1>{}</h1>\n",
        escape(title),
        escape(title)
    );
    overall(&mut out, &groups);
    messages(&mut out, &inputs.messages);
    for group in &groups {
        group_html(&mut out, group, inputs);
    }
    let _ = write!(
        out,
        "<footer>Updated <time datetime=\"{at}\">{at}</time> · the bars show the last {HOURS} hours, \
         one an hour (UTC) · lovebeat {}</footer>\n</main></body></html>\n",
        escape(inputs.version),
        at = rfc3339(inputs.now),
    );
    out
}

/// The groups to show, in order.
fn groups(settings: &StatusPageSettings, snapshot: &Snapshot) -> Vec<Group> {
    let item = |kind, name: &Arc<str>, state| Item {
        kind,
        name: name.clone(),
        state,
    };
    let views: Vec<_> = if settings.views.is_empty() {
        snapshot.views.values().cloned().collect()
    } else {
        (settings.views.iter())
            .filter_map(|v| snapshot.views.get(v.as_str()).cloned())
            .collect()
    };
    let mut groups: Vec<Group> = views
        .iter()
        .map(|v| Group {
            view: Some(item(Kind::View, &v.record.name, v.record.state)),
            members: (snapshot.members(&v.record.name).take(MAX_SERVICES))
                .map(|s| item(Kind::Service, &s.record.name, s.record.state))
                .collect(),
        })
        .collect();
    let loose: Vec<Item> = if settings.services.is_empty() {
        (snapshot.services.values())
            .filter(|s| s.views.is_empty())
            .take(MAX_SERVICES)
            .map(|s| item(Kind::Service, &s.record.name, s.record.state))
            .collect()
    } else {
        (settings.services.iter())
            .filter_map(|name| snapshot.services.get(name.as_str()))
            .map(|s| item(Kind::Service, &s.record.name, s.record.state))
            .collect()
    };
    if !loose.is_empty() {
        groups.push(Group {
            view: None,
            members: loose,
        });
    }
    groups
}

/// The banner: the worst state shown.
fn overall(out: &mut String, groups: &[Group]) {
    let worst = groups
        .iter()
        .flat_map(|g| g.view.iter().chain(&g.members))
        .map(|i| i.state)
        .filter(|s| s.is_failing())
        .max();
    let (class, text) = match worst {
        Some(ServiceState::Error) => ("error", "Some systems are down"),
        Some(_) => ("warning", "Some systems are degraded"),
        None => ("ok", "All systems operational"),
    };
    let _ = writeln!(
        out,
        "<p class=\"overall s-{class}\" id=\"overall\" data-state=\"{class}\">{text}</p>"
    );
}

fn messages(out: &mut String, messages: &[MessageRecord]) {
    if messages.is_empty() {
        return;
    }
    out.push_str("<section class=\"messages\"><h2>Incidents</h2>\n");
    for m in messages {
        let (class, when) = match m.resolved {
            None => ("open", format!("Posted {}", rfc3339(m.created))),
            Some(at) => ("resolved", format!("Resolved {}", rfc3339(at))),
        };
        let _ = writeln!(
            out,
            "<article class=\"message {class}\" data-id=\"{}\"><p>{}</p><small>{when}</small></article>",
            m.id,
            escape(&m.text)
        );
    }
    out.push_str("</section>\n");
}

fn group_html(out: &mut String, group: &Group, inputs: &Inputs<'_>) {
    match &group.view {
        Some(view) => {
            let _ = writeln!(
                out,
                "<section class=\"group\" data-view=\"{}\"><h2>{}</h2><ul>",
                escape(&view.name),
                escape(&view.name)
            );
            item_html(out, view, inputs);
        }
        None => out.push_str("<section class=\"group\" data-view=\"\"><h2>Services</h2><ul>\n"),
    }
    for member in &group.members {
        item_html(out, member, inputs);
    }
    out.push_str("</ul></section>\n");
}

fn item_html(out: &mut String, item: &Item, inputs: &Inputs<'_>) {
    let kind = match item.kind {
        Kind::Service => "service",
        Kind::View => "view",
    };
    let name = escape(&item.name);
    let state = item.state.as_str();
    let latency = match item.kind {
        Kind::Service => latency(inputs.probes, &item.name),
        Kind::View => String::new(),
    };
    let _ = write!(
        out,
        "<li class=\"item {kind}\" data-name=\"{name}\" data-state=\"{state}\"><div class=\"row\">\
         <span class=\"name\">{name}</span><span>{latency}<span class=\"state s-{state}\">{state}</span></span></div>"
    );
    bar(out, inputs.history, item, inputs.now);
    out.push_str("</li>\n");
}

/// ` 12 ms ` for a service a probe feeds (its last run passed),
/// else nothing.
fn latency(probes: &ProbeBoard, name: &str) -> String {
    match probes.get(name).and_then(|c| c.last).filter(|l| l.ok) {
        Some(last) => format!("<span class=\"latency\">{} ms</span> ", last.latency_ms),
        None => String::new(),
    }
}

fn bar(out: &mut String, history: &StateHistory, item: &Item, now: Millis) {
    out.push_str("<div class=\"bar\">");
    for (i, hour) in history.bars(item.kind, &item.name, now).iter().enumerate() {
        let (class, label) = match hour {
            Some(state) => (state.as_str(), state.as_str()),
            None => ("none", "no data"),
        };
        let from = rfc3339(bar_start(now, i));
        let _ = write!(
            out,
            "<span class=\"s-{class}\" title=\"{} UTC: {label}\"></span>",
            &from[..16].replace('T', " ")
        );
    }
    out.push_str("</div><div class=\"legend\"><span>24 h ago</span><span>now</span></div>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_core::pattern::ViewTemplate;
    use lovebeat_core::{Engine, EngineConfig, Severity};

    fn engine() -> Engine {
        let config = EngineConfig {
            views: vec![ViewTemplate::glob("web", Some("web.*"), &[], &[]).unwrap()],
            ..EngineConfig::default()
        };
        let mut e = Engine::new(config, 0);
        e.beat(0, "web.1");
        e.fail(0, "web.2", Severity::Error, "down");
        e.beat(0, "backup");
        e
    }

    fn page(e: &Engine, settings: &StatusPageSettings, messages: Vec<MessageRecord>) -> String {
        let snapshot = Snapshot::full(e, 1000);
        let history = StateHistory::default();
        history.sync(&snapshot);
        render(&Inputs {
            settings,
            snapshot: &snapshot,
            history: &history,
            probes: &ProbeBoard::default(),
            messages,
            version: "1.1.0",
            now: 1000,
        })
    }

    #[test]
    fn by_default_every_view_and_every_loose_service_is_shown() {
        let html = page(&engine(), &StatusPageSettings::default(), Vec::new());
        assert!(html.contains("data-view=\"web\""), "{html}");
        assert!(html.contains("data-name=\"web.2\" data-state=\"error\""));
        assert!(html.contains("data-name=\"backup\" data-state=\"ok\""));
        assert!(html.contains("id=\"overall\" data-state=\"error\""));
        assert_eq!(
            html.matches("<div class=\"bar\">").count(),
            4,
            "the view and 3 services"
        );
        assert!(!html.contains("<script"));
    }

    #[test]
    fn chosen_views_and_services_only() {
        let settings = StatusPageSettings {
            title: "Acme".into(),
            views: Vec::new(),
            services: vec!["backup".into()],
        };
        let html = page(&engine(), &settings, Vec::new());
        assert!(html.contains("<title>Acme</title>"));
        assert!(html.contains("data-name=\"backup\""));
        let settings = StatusPageSettings {
            views: vec!["nope".into()],
            services: vec!["backup".into()],
            ..settings
        };
        let html = page(&engine(), &settings, Vec::new());
        assert!(!html.contains("data-name=\"web.2\""));
        assert!(html.contains("id=\"overall\" data-state=\"ok\""));
    }

    #[test]
    fn every_text_is_escaped() {
        let settings = StatusPageSettings {
            title: "<b>x</b>".into(),
            ..StatusPageSettings::default()
        };
        let message = MessageRecord {
            id: 1,
            text: "<script>alert(1)</script> & \"quotes\"".into(),
            created: 0,
            resolved: None,
        };
        let html = page(&engine(), &settings, vec![message]);
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"));
        assert!(html.contains("<title>&lt;b&gt;x&lt;/b&gt;</title>"));
        assert!(!html.contains("<script>"));
    }
}
