//! The chat, push and paging services: what request each one's documented
//! API wants for an alert. Alertmanager, which is sent to several servers
//! and re-sent while firing, is in `alertmanager`.
//!
//! Each is a [`Render`]: pure, so the unit tests below look at the
//! request, and the end-to-end tests (`tests/channels.rs`) check it
//! against a receiver that answers as the service would. The text is the
//! same everywhere ([`format::headline`] and [`format::summary`]). The
//! paging services open an incident while the view is failing (as the
//! entry sees it: without `warnings`, a warning is ok) and close it when
//! it is not, under one key per view incident, so a retry or a second
//! change of one incident never opens a second one.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::http::{Body, Method, Outgoing, Render};
use crate::alert::Alert;
use crate::channel::Service;
use crate::format;
use crate::rules;

/// One channel of one entry.
pub(crate) struct ChannelRender {
    pub service: Service,
    pub public_url: String,
    /// The entry's `warnings`: whether a warning is firing.
    pub warnings: bool,
}

impl Render for ChannelRender {
    fn render(&self, alert: &Alert) -> Outgoing {
        let message = Message {
            alert,
            link: format::view_link(&self.public_url, &alert.view),
            public_url: &self.public_url,
            firing: is_firing(alert, self.warnings),
        };
        match &self.service {
            Service::PagerDuty { routing_key, url } => pagerduty(&message, routing_key, url),
            Service::Opsgenie { api_key, url } => opsgenie(&message, api_key, url),
            Service::Teams { webhook } => teams(&message, webhook),
            Service::Discord { webhook } => discord(&message, webhook),
            Service::Telegram {
                bot_token,
                chat_id,
                url,
            } => telegram(&message, bot_token, chat_id, url),
            Service::Ntfy { topic, url, token } => ntfy(&message, topic, url, token),
            Service::Gotify { url, token } => gotify(&message, url, token),
            Service::Matrix {
                homeserver,
                room,
                token,
            } => matrix(&message, homeserver, room, token),
            Service::Pushover { token, user, url } => pushover(&message, token, user, url),
        }
    }
}

/// Whether the view is failing as an entry sees it.
pub(crate) fn is_firing(alert: &Alert, warnings: bool) -> bool {
    rules::level(alert.to, warnings).is_failing()
}

/// An alert with what every channel says about it.
struct Message<'a> {
    alert: &'a Alert,
    link: String,
    public_url: &'a str,
    firing: bool,
}

impl Message<'_> {
    fn headline(&self) -> String {
        format::headline(self.alert)
    }

    fn summary(&self) -> String {
        format::summary(self.alert, self.public_url)
    }

    /// The paging services' incident key: one per view incident.
    fn incident_key(&self) -> String {
        format!("lovebeat:{}:{}", self.alert.view, self.alert.incident)
    }

    fn is_error(&self) -> bool {
        self.alert.to == lovebeat_core::State::Error
    }
}

/// `text` cut to at most `max` characters (the services refuse longer).
fn at_most(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_owned(),
        None => text,
    }
}

/// What a path segment escapes: all but RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One path segment, escaped.
fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// Events API v2 (`POST /v2/enqueue`): `trigger` with a payload, or
/// `resolve`, under the incident's `dedup_key`.
fn pagerduty(m: &Message<'_>, routing_key: &str, url: &str) -> Outgoing {
    let mut body = json!({
        "routing_key": routing_key,
        "dedup_key": m.incident_key(),
        "event_action": if m.firing { "trigger" } else { "resolve" },
    });
    if m.firing {
        body["payload"] = json!({
            "summary": at_most(m.headline(), 1024),
            "source": "lovebeat",
            "severity": if m.is_error() { "critical" } else { "warning" },
            "timestamp": format::rfc3339(m.alert.at),
            "component": m.alert.view,
            "custom_details": {
                "failed_services": m.alert.failed,
                "incident": m.alert.incident,
                "from_state": m.alert.from.as_str(),
                "to_state": m.alert.to.as_str(),
            },
        });
        if let Some(team) = &m.alert.team {
            body["payload"]["group"] = json!(team);
        }
        body["client"] = json!("lovebeat");
        body["client_url"] = json!(m.link);
        body["links"] = json!([{"href": m.link, "text": m.alert.view}]);
    }
    Outgoing::json(format!("{url}/v2/enqueue"), body)
}

/// Alert API v2: create (`POST /v2/alerts`) under the incident's `alias`,
/// or close it (`POST /v2/alerts/ALIAS/close?identifierType=alias`).
fn opsgenie(m: &Message<'_>, api_key: &str, url: &str) -> Outgoing {
    let alias = m.incident_key();
    let request = if m.firing {
        Outgoing::json(
            format!("{url}/v2/alerts"),
            json!({
                "message": at_most(m.headline(), 130),
                "alias": alias,
                "description": m.summary(),
                "source": "lovebeat",
                "priority": if m.is_error() { "P1" } else { "P3" },
                "entity": m.alert.view,
                "tags": ["lovebeat"],
                "details": {
                    "failed_services": m.alert.failed.join(", "),
                    "incident": m.alert.incident.to_string(),
                    "link": m.link,
                },
            }),
        )
    } else {
        Outgoing::json(
            format!(
                "{url}/v2/alerts/{}/close?identifierType=alias",
                segment(&alias)
            ),
            json!({"source": "lovebeat", "note": m.headline()}),
        )
    };
    request.header("Authorization", format!("GenieKey {api_key}"))
}

/// A Teams workflow webhook: a message with one Adaptive Card.
fn teams(m: &Message<'_>, webhook: &str) -> Outgoing {
    let card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": m.headline(), "weight": "Bolder", "size": "Medium", "wrap": true},
            {"type": "TextBlock", "text": m.summary(), "wrap": true},
        ],
        "actions": [{"type": "Action.OpenUrl", "title": "Open in lovebeat", "url": m.link}],
    });
    Outgoing::json(
        webhook,
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card,
            }],
        }),
    )
}

/// Discord's colours: red, amber, green.
fn discord_colour(m: &Message<'_>) -> u32 {
    match (m.firing, m.is_error()) {
        (true, true) => 0xd9_3f_3f,
        (true, false) => 0xe8_a3_17,
        _ => 0x2e_b8_6e,
    }
}

/// Execute Webhook: `content` and one embed.
fn discord(m: &Message<'_>, webhook: &str) -> Outgoing {
    Outgoing::json(
        webhook,
        json!({
            "username": "lovebeat",
            "content": at_most(m.headline(), 2000),
            "embeds": [{
                "title": at_most(m.headline(), 256),
                "description": at_most(m.summary(), 4096),
                "url": m.link,
                "color": discord_colour(m),
                "timestamp": format::rfc3339(m.alert.at),
            }],
        }),
    )
}

/// Bot API `sendMessage` (`POST /bot<token>/sendMessage`), plain text.
fn telegram(m: &Message<'_>, bot_token: &str, chat_id: &str, url: &str) -> Outgoing {
    // A numeric chat id is an Integer in the API; `@channel` a String.
    let chat: Value = chat_id
        .parse::<i64>()
        .map_or_else(|_| json!(chat_id), |id| json!(id));
    let text = format!("{}\n{}", m.headline(), m.summary());
    Outgoing::json(
        format!("{url}/bot{bot_token}/sendMessage"),
        json!({"chat_id": chat, "text": at_most(text, 4096)}),
    )
}

/// Publish as JSON (`POST` to the server's root URL).
fn ntfy(m: &Message<'_>, topic: &str, url: &str, token: &Option<String>) -> Outgoing {
    let (priority, tag) = match (m.firing, m.is_error()) {
        (true, true) => (5, "rotating_light"),
        (true, false) => (4, "warning"),
        _ => (3, "white_check_mark"),
    };
    let request = Outgoing::json(
        format!("{url}/"),
        json!({
            "topic": topic,
            "title": m.headline(),
            "message": m.summary(),
            "priority": priority,
            "tags": [tag],
            "click": m.link,
        }),
    );
    match token {
        Some(token) => request.header("Authorization", format!("Bearer {token}")),
        None => request,
    }
}

/// `POST /message` with an application token.
fn gotify(m: &Message<'_>, url: &str, token: &str) -> Outgoing {
    let priority = match (m.firing, m.is_error()) {
        (true, true) => 8,
        (true, false) => 5,
        _ => 2,
    };
    Outgoing::json(
        format!("{url}/message"),
        json!({
            "title": m.headline(),
            "message": m.summary(),
            "priority": priority,
            "extras": {"client::notification": {"click": {"url": m.link}}},
        }),
    )
    .header("X-Gotify-Key", token)
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}`:
/// an `m.text` message. The transaction id is the alert's own, so the
/// homeserver takes a retried alert once.
fn matrix(m: &Message<'_>, homeserver: &str, room: &str, token: &str) -> Outgoing {
    let alert = m.alert;
    let txn = format!(
        "lovebeat-{}-{}-{}-{}",
        alert.view,
        alert.incident,
        alert.to.as_str(),
        alert.at
    );
    let url = format!(
        "{homeserver}/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
        segment(room),
        segment(&txn)
    );
    let body = json!({"msgtype": "m.text", "body": format!("{}\n{}", m.headline(), m.summary())});
    Outgoing {
        method: Method::Put,
        url,
        headers: Vec::new(),
        body: Body::Json(body),
    }
    .header("Authorization", format!("Bearer {token}"))
}

/// Message API (`POST /1/messages.json`), form-encoded.
fn pushover(m: &Message<'_>, token: &str, user: &str, url: &str) -> Outgoing {
    let priority = if m.firing && m.is_error() { "1" } else { "0" };
    let timestamp = (m.alert.at / 1000).to_string();
    let fields = vec![
        ("token", token.to_owned()),
        ("user", user.to_owned()),
        ("title", at_most(m.headline(), 250)),
        ("message", at_most(m.summary(), 1024)),
        ("url", at_most(m.link.clone(), 512)),
        ("url_title", "Open in lovebeat".to_owned()),
        ("priority", priority.to_owned()),
        ("timestamp", timestamp),
    ];
    Outgoing::post(format!("{url}/1/messages.json"), Body::Form(fields))
}

#[cfg(test)]
mod tests {
    use lovebeat_core::State;

    use super::*;

    const URL: &str = "http://lb.example.com/";

    fn render(service: Service, from: State, to: State) -> Outgoing {
        let channel = ChannelRender {
            service,
            public_url: URL.to_owned(),
            warnings: false,
        };
        let alert = Alert {
            view: "web".to_owned(),
            from,
            to,
            incident: 4,
            at: 1_714_564_800_250,
            failed: vec!["web.a".to_owned()],
            team: Some("ops".to_owned()),
            occasion: crate::alert::Occasion::Change,
        };
        channel.render(&alert)
    }

    fn json(request: &Outgoing) -> &Value {
        match &request.body {
            Body::Json(body) => body,
            other => panic!("not JSON: {other:?}"),
        }
    }

    fn pagerduty() -> Service {
        Service::PagerDuty {
            routing_key: "R0UT1NG".into(),
            url: "https://events.pagerduty.com".into(),
        }
    }

    #[test]
    fn pagerduty_triggers_and_resolves_one_dedup_key_per_incident() {
        let trigger = render(pagerduty(), State::Ok, State::Error);
        assert_eq!(trigger.url, "https://events.pagerduty.com/v2/enqueue");
        let body = json(&trigger);
        assert_eq!(body["event_action"], "trigger");
        assert_eq!(body["dedup_key"], "lovebeat:web:4");
        assert_eq!(body["payload"]["severity"], "critical");
        assert_eq!(body["payload"]["group"], "ops");
        let resolve = render(pagerduty(), State::Error, State::Ok);
        let body = json(&resolve);
        assert_eq!(body["event_action"], "resolve");
        assert_eq!(body["dedup_key"], "lovebeat:web:4");
        assert!(body.get("payload").is_none());
    }

    #[test]
    fn without_warnings_a_warning_resolves() {
        let request = render(pagerduty(), State::Error, State::Warning);
        assert_eq!(json(&request)["event_action"], "resolve");
    }

    #[test]
    fn opsgenie_closes_by_alias() {
        let config = Service::Opsgenie {
            api_key: "k".into(),
            url: "https://api.eu.opsgenie.com".into(),
        };
        let close = render(config, State::Error, State::Ok);
        assert_eq!(
            close.url,
            "https://api.eu.opsgenie.com/v2/alerts/lovebeat%3Aweb%3A4/close?identifierType=alias"
        );
        let auth = ("Authorization".to_owned(), "GenieKey k".to_owned());
        assert_eq!(close.headers, [auth]);
    }

    #[test]
    fn matrix_puts_with_an_escaped_room_and_a_transaction_per_alert() {
        let config = Service::Matrix {
            homeserver: "https://matrix.example.org".into(),
            room: "!abc:example.org".into(),
            token: "t".into(),
        };
        let request = render(config, State::Ok, State::Error);
        assert_eq!(request.method, Method::Put);
        assert_eq!(
            request.url,
            "https://matrix.example.org/_matrix/client/v3/rooms/%21abc%3Aexample.org/send/m.room.message/lovebeat-web-4-error-1714564800250"
        );
    }

    #[test]
    fn telegram_sends_a_numeric_chat_id_as_a_number() {
        let config = |chat_id: &str| Service::Telegram {
            bot_token: "1:x".into(),
            chat_id: chat_id.into(),
            url: "https://api.telegram.org".into(),
        };
        let numeric = render(config("-100123"), State::Ok, State::Error);
        assert_eq!(numeric.url, "https://api.telegram.org/bot1:x/sendMessage");
        assert_eq!(json(&numeric)["chat_id"], -100123);
        let named = render(config("@ops"), State::Ok, State::Error);
        assert_eq!(json(&named)["chat_id"], "@ops");
    }

    #[test]
    fn long_texts_are_cut_to_the_services_limits() {
        assert_eq!(at_most("ééé".to_owned(), 2), "éé");
        assert_eq!(at_most("ab".to_owned(), 5), "ab");
    }
}
