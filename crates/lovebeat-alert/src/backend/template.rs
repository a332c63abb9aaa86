//! `webhook_body`: the webhook's body written by the user, with the
//! alert's fields in `{{…}}`, for receivers lovebeat has no back-end for.
//!
//! Parsed once when the config is read (an unknown field is an error
//! there), rendered per alert. When the body is JSON (the default
//! `Content-Type`, or any type naming `json`), each value is escaped as
//! the inside of a JSON string, so `"text": "{{summary}}"` stays valid
//! whatever the view is called; otherwise values go in as they are.

use std::collections::BTreeMap;

use crate::alert::Alert;
use crate::format;

/// The `Content-Type` of a templated body unless `webhook_headers` sets
/// one.
pub const JSON: &str = "application/json";

/// The `Content-Type` a templated body is sent as: the one the webhook's
/// headers set (named in any case), else [`JSON`].
pub fn content_type(headers: &BTreeMap<String, String>) -> &str {
    (headers.iter())
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map_or(JSON, |(_, value)| value.as_str())
}

/// A field of the alert a template can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    View,
    From,
    To,
    Incident,
    Failed,
    Timestamp,
    Link,
    Team,
    Headline,
    Summary,
}

impl Field {
    const ALL: [(&'static str, Field); 10] = [
        ("view", Field::View),
        ("from", Field::From),
        ("to", Field::To),
        ("incident", Field::Incident),
        ("failed", Field::Failed),
        ("timestamp", Field::Timestamp),
        ("link", Field::Link),
        ("team", Field::Team),
        ("headline", Field::Headline),
        ("summary", Field::Summary),
    ];

    fn parse(name: &str) -> Result<Field, String> {
        let known = Field::ALL.iter().find(|(n, _)| *n == name);
        known.map(|(_, f)| *f).ok_or_else(|| {
            let names: Vec<String> = Field::ALL
                .iter()
                .map(|(n, _)| format!("{{{{{n}}}}}"))
                .collect();
            format!(
                "unknown field {{{{{name}}}}}: expected one of {}",
                names.join(", ")
            )
        })
    }

    fn value(self, alert: &Alert, public_url: &str) -> String {
        match self {
            Field::View => alert.view.clone(),
            Field::From => alert.from.as_str().to_owned(),
            Field::To => alert.to.as_str().to_owned(),
            Field::Incident => alert.incident.to_string(),
            Field::Failed => alert.failed.join(", "),
            Field::Timestamp => format::rfc3339(alert.at),
            Field::Link => format::view_link(public_url, &alert.view),
            Field::Team => alert.team.clone().unwrap_or_default(),
            Field::Headline => format::headline(alert),
            Field::Summary => format::summary(alert, public_url),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// A parsed `webhook_body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyTemplate {
    pieces: Vec<Piece>,
}

impl BodyTemplate {
    /// Reads `{{field}}` (spaces inside allowed); text outside is kept.
    pub fn parse(text: &str) -> Result<BodyTemplate, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let (before, after) = rest.split_at(open);
            let close = after
                .find("}}")
                .ok_or_else(|| format!("{{{{ without }}}} at {:?}", cut(after)))?;
            pieces.push(Piece::Text(before.to_owned()));
            pieces.push(Piece::Field(Field::parse(after[2..close].trim())?));
            rest = &after[close + 2..];
        }
        pieces.push(Piece::Text(rest.to_owned()));
        pieces.retain(|p| *p != Piece::Text(String::new()));
        Ok(BodyTemplate { pieces })
    }

    /// The body for `alert`, its values escaped for `content_type`.
    pub fn render(&self, alert: &Alert, public_url: &str, content_type: &str) -> String {
        let json = content_type.to_ascii_lowercase().contains("json");
        let mut body = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => body.push_str(text),
                Piece::Field(field) if json => {
                    body.push_str(&json_inner(&field.value(alert, public_url)))
                }
                Piece::Field(field) => body.push_str(&field.value(alert, public_url)),
            }
        }
        body
    }

    /// Whether the sample alert renders to valid JSON, for a body sent as
    /// JSON (checked when the config is read).
    pub fn check_json(&self, content_type: &str) -> Result<(), String> {
        if !content_type.to_ascii_lowercase().contains("json") {
            return Ok(());
        }
        let sample = self.render(&Alert::sample(0), "http://lovebeat/", content_type);
        serde_json::from_str::<serde_json::Value>(&sample)
            .map(|_| ())
            .map_err(|e| {
                format!("the body is sent as {content_type} but is not JSON: {e} (in {sample:?})")
            })
    }
}

/// At most the first 20 characters, for an error message.
fn cut(text: &str) -> String {
    text.chars().take(20).collect()
}

/// `text` as the inside of a JSON string (no quotes around it).
fn json_inner(text: &str) -> String {
    let quoted = serde_json::to_string(text).expect("a string serializes");
    quoted[1..quoted.len() - 1].to_owned()
}

#[cfg(test)]
mod tests {
    use lovebeat_core::State;

    use super::*;

    fn alert() -> Alert {
        Alert {
            view: "web \"eu\"".to_owned(),
            from: State::Ok,
            to: State::Error,
            incident: 3,
            at: 1_714_564_800_250,
            failed: vec!["web.a".to_owned(), "web.b".to_owned()],
            team: Some("ops".to_owned()),
            occasion: crate::alert::Occasion::Change,
        }
    }

    #[test]
    fn fields_are_filled_in_and_escaped_for_json() {
        let template = BodyTemplate::parse(
            r#"{"text": "{{ view }} went {{from}} -> {{to}} #{{incident}}: {{failed}} at {{timestamp}} ({{team}}) {{link}}"}"#,
        )
        .unwrap();
        let body = template.render(&alert(), "http://lb/", JSON);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json["text"],
            "web \"eu\" went ok -> error #3: web.a, web.b at 2024-05-01T12:00:00.250Z (ops) http://lb/alarms/web \"eu\""
        );
    }

    #[test]
    fn other_content_types_get_the_values_as_they_are() {
        let template = BodyTemplate::parse("alarm={{view}}&state={{to}}").unwrap();
        assert_eq!(
            template.render(&alert(), "http://lb/", "text/plain"),
            "alarm=web \"eu\"&state=error"
        );
    }

    #[test]
    fn unknown_fields_and_unclosed_braces_are_errors() {
        let unknown = BodyTemplate::parse("{{nope}}").unwrap_err();
        assert!(
            unknown.starts_with("unknown field {{nope}}: expected one of {{view}}"),
            "{unknown}"
        );
        assert!(
            BodyTemplate::parse("x {{view")
                .unwrap_err()
                .contains("without }}")
        );
    }

    #[test]
    fn a_json_body_must_render_to_json() {
        let template = BodyTemplate::parse("{\"text\": {{view}}}").unwrap();
        assert!(
            template
                .check_json(JSON)
                .unwrap_err()
                .contains("is not JSON")
        );
        assert!(template.check_json("text/plain").is_ok());
        let good = BodyTemplate::parse("{\"text\": \"{{summary}}\"}").unwrap();
        assert!(good.check_json("application/json; charset=utf-8").is_ok());
    }
}
