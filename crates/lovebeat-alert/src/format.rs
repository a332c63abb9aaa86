//! The messages of §4.5, as the back-ends send them.
//!
//! Mail and Slack keep Go lovebeat's wording and upper-case states. The
//! webhook body uses lower-case states as lovebeat's docs showed them, and
//! adds `failed_services`, a `timestamp` and a `link` to the view. Scripts
//! get the `LOVEBEAT_*` environment, with `LOVEBEAT_VIEW` for scripts
//! written for the legacy name. The paging, chat and push channels and
//! Alertmanager say the same thing everywhere: a [`headline`] and a
//! [`summary`] (the mail's sentence, the failed services, the link). A
//! reminder or an acknowledgement says so: in the mail's first line, the
//! webhook's `reminder` or `acknowledged` object, Slack's text and the
//! script's `LOVEBEAT_OCCASION`. Pure: no I/O.

use std::time::{Duration, UNIX_EPOCH};

use lovebeat_core::State;
use serde_json::{Value, json};

use crate::alert::{Alert, Occasion};

/// Slack's icon for lovebeat, as Go lovebeat sent it.
pub const SLACK_ICON: &str = "https://cdn.rawgit.com/boivie/lovebeat/a440f41aaf74be2e14b14a8f470456b71fc3e64e/docs/lovebeat-48.png";

/// `[LOVEBEAT] <view>-<incident>`.
pub fn mail_subject(alert: &Alert) -> String {
    format!("[LOVEBEAT] {}-{}", alert.view, alert.incident)
}

/// One line, ending in a newline; a reminder or an acknowledgement says
/// so first.
pub fn mail_body(alert: &Alert) -> String {
    let (view, to) = (&alert.view, alert.to.as_upper_str());
    match &alert.occasion {
        Occasion::Change => format!(
            "The status for alarm '{view}' has changed from '{}' to '{to}'\n",
            alert.from.as_upper_str(),
        ),
        Occasion::Reminder {
            number,
            failing_since,
        } => format!(
            "Reminder {number}: alarm '{view}' is still '{to}', failing for {}\n",
            for_how_long(alert.at, *failing_since)
        ),
        Occasion::Acknowledged(ack) => format!(
            "Alarm '{view}' ('{to}') was acknowledged by {}: {}\n",
            ack.author, ack.comment
        ),
    }
}

/// `1h 5m 3s`, from `since` to `now` (whole seconds; `0s` at most).
pub fn for_how_long(now: lovebeat_core::Millis, since: lovebeat_core::Millis) -> String {
    let seconds = u64::try_from(now.saturating_sub(since) / 1000).unwrap_or(0);
    humantime::format_duration(Duration::from_secs(seconds)).to_string()
}

/// The view's page on the dashboard: `public_url` (ending in `/`) +
/// `alarms/NAME`, as Go lovebeat linked it.
pub fn view_link(public_url: &str, view: &str) -> String {
    format!("{public_url}alarms/{view}")
}

/// The webhook's JSON body; a reminder adds `reminder`, an
/// acknowledgement `acknowledged`.
pub fn webhook_body(alert: &Alert, public_url: &str) -> Value {
    let mut body = json!({
        "name": alert.view,
        "from_state": alert.from.as_str(),
        "to_state": alert.to.as_str(),
        "incident_number": alert.incident,
        "failed_services": alert.failed,
        "timestamp": rfc3339(alert.at),
        "link": view_link(public_url, &alert.view),
    });
    match &alert.occasion {
        Occasion::Change => {}
        Occasion::Reminder {
            number,
            failing_since,
        } => {
            body["reminder"] = json!({
                "number": number,
                "failing_since": rfc3339(*failing_since),
                "failing_seconds": alert.at.saturating_sub(*failing_since) / 1000,
            });
        }
        Occasion::Acknowledged(ack) => {
            body["acknowledged"] = json!({
                "author": ack.author,
                "comment": ack.comment,
                "timestamp": rfc3339(ack.at),
            });
        }
    }
    body
}

/// `2024-05-01T12:00:00.250Z` for ms since the epoch.
pub fn rfc3339(at: lovebeat_core::Millis) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(u64::try_from(at).unwrap_or(0));
    humantime::format_rfc3339_millis(time).to_string()
}

/// The Slack incoming-webhook payload.
pub fn slack_body(alert: &Alert, channel: &str, public_url: &str) -> Value {
    let (from, to) = (alert.from.as_upper_str(), alert.to.as_upper_str());
    let link = format!("<{}|{}>", view_link(public_url, &alert.view), alert.view);
    let (color, title) = match alert.to {
        State::Error => ("danger", format!("{link} is in ERROR")),
        State::Warning => ("warning", format!("{link} is in WARNING")),
        _ => ("good", format!("{link} has recovered")),
    };
    let mut fields = vec![
        json!({"title": "Alarm", "value": alert.view, "short": true}),
        json!({"title": "Incident Number", "value": format!("#{}", alert.incident), "short": true}),
    ];
    if alert.to.is_failing() {
        fields.push(json!({
            "title": "Failed Service(s)",
            "value": alert.failed.join(", "),
            "short": false,
        }));
    }
    let (fallback, text) = match &alert.occasion {
        Occasion::Change => (
            format!("lovebeat: {} changed from {from} to {to}", alert.view),
            format!("Changed from {from} to {to}."),
        ),
        Occasion::Reminder {
            number,
            failing_since,
        } => {
            let ago = for_how_long(alert.at, *failing_since);
            (
                format!("lovebeat: {} still {to} ({ago})", alert.view),
                format!("Reminder {number}: still {to}, failing for {ago}."),
            )
        }
        Occasion::Acknowledged(ack) => (
            format!("lovebeat: {} acknowledged by {}", alert.view, ack.author),
            format!("Acknowledged by {}: {}", ack.author, ack.comment),
        ),
    };
    json!({
        "username": "Lovebeat",
        "icon_url": SLACK_ICON,
        "channel": channel,
        "attachments": [{
            "fallback": fallback,
            "color": color,
            "title": title,
            "text": text,
            "fields": fields,
        }],
    })
}

/// One line for a chat or a pager: `web is in ERROR`, `web has recovered`.
pub fn headline(alert: &Alert) -> String {
    match alert.to {
        State::Error | State::Warning => {
            format!("{} is in {}", alert.view, alert.to.as_upper_str())
        }
        _ => format!("{} has recovered", alert.view),
    }
}

/// The §4.5 sentence, the failed services if any, and the link: the text
/// of the chat and push channels.
pub fn summary(alert: &Alert, public_url: &str) -> String {
    let mut text = mail_body(alert).trim_end().to_owned();
    if alert.to.is_failing() && !alert.failed.is_empty() {
        text.push_str(&format!("\nFailed: {}", alert.failed.join(", ")));
    }
    text.push_str(&format!("\n{}", view_link(public_url, &alert.view)));
    text
}

/// The variables a script or command gets on top of lovebeat's
/// environment; `LOVEBEAT_OCCASION` is `change`, `reminder` or
/// `acknowledged`.
pub fn script_env(alert: &Alert) -> [(&'static str, String); 6] {
    let occasion = match alert.occasion {
        Occasion::Change => "change",
        Occasion::Reminder { .. } => "reminder",
        Occasion::Acknowledged(_) => "acknowledged",
    };
    [
        ("LOVEBEAT_ALARM", alert.view.clone()),
        ("LOVEBEAT_VIEW", alert.view.clone()),
        ("LOVEBEAT_STATE", alert.to.as_upper_str().to_owned()),
        (
            "LOVEBEAT_PREVIOUS_STATE",
            alert.from.as_upper_str().to_owned(),
        ),
        ("LOVEBEAT_INCIDENT", alert.incident.to_string()),
        ("LOVEBEAT_OCCASION", occasion.to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://lovebeat.example.com/";

    fn alert(from: State, to: State) -> Alert {
        Alert {
            view: "TestAlarm".to_owned(),
            from,
            to,
            incident: 1,
            at: 1_714_564_800_250,
            failed: vec!["a.b".to_owned(), "c.d".to_owned()],
            team: None,
            occasion: Occasion::Change,
        }
    }

    #[test]
    fn mail_subject_names_view_and_incident() {
        assert_eq!(
            mail_subject(&alert(State::Ok, State::Error)),
            "[LOVEBEAT] TestAlarm-1"
        );
    }

    #[test]
    fn mail_body_has_upper_case_states() {
        assert_eq!(
            mail_body(&alert(State::Ok, State::Error)),
            "The status for alarm 'TestAlarm' has changed from 'OK' to 'ERROR'\n"
        );
    }

    #[test]
    fn webhook_body_has_lower_case_states_and_the_additions() {
        let body = webhook_body(&alert(State::Ok, State::Error), URL);
        assert_eq!(
            body,
            json!({
                "name": "TestAlarm",
                "from_state": "ok",
                "to_state": "error",
                "incident_number": 1,
                "failed_services": ["a.b", "c.d"],
                "timestamp": "2024-05-01T12:00:00.250Z",
                "link": "http://lovebeat.example.com/alarms/TestAlarm",
            })
        );
    }

    #[test]
    fn slack_error_is_danger_with_failed_services() {
        let body = slack_body(&alert(State::Ok, State::Error), "#ops", URL);
        let attachment = &body["attachments"][0];
        assert_eq!(body["username"], "Lovebeat");
        assert_eq!(body["icon_url"], SLACK_ICON);
        assert_eq!(body["channel"], "#ops");
        assert_eq!(
            attachment["fallback"],
            "lovebeat: TestAlarm changed from OK to ERROR"
        );
        assert_eq!(attachment["color"], "danger");
        assert_eq!(
            attachment["title"],
            "<http://lovebeat.example.com/alarms/TestAlarm|TestAlarm> is in ERROR"
        );
        assert_eq!(attachment["text"], "Changed from OK to ERROR.");
        assert_eq!(
            attachment["fields"],
            json!([
                {"title": "Alarm", "value": "TestAlarm", "short": true},
                {"title": "Incident Number", "value": "#1", "short": true},
                {"title": "Failed Service(s)", "value": "a.b, c.d", "short": false},
            ])
        );
    }

    #[test]
    fn slack_recovery_is_good_without_failed_services() {
        let body = slack_body(&alert(State::Error, State::Ok), "#ops", URL);
        let attachment = &body["attachments"][0];
        assert_eq!(attachment["color"], "good");
        assert_eq!(
            attachment["title"],
            "<http://lovebeat.example.com/alarms/TestAlarm|TestAlarm> has recovered"
        );
        assert_eq!(attachment["fields"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn slack_warning_is_yellow_and_says_so() {
        let body = slack_body(&alert(State::Ok, State::Warning), "#ops", URL);
        assert_eq!(body["attachments"][0]["color"], "warning");
        assert!(
            body["attachments"][0]["title"]
                .as_str()
                .unwrap()
                .ends_with("is in WARNING")
        );
    }

    #[test]
    fn headline_and_summary_say_what_changed_and_link() {
        let failing = alert(State::Ok, State::Error);
        assert_eq!(headline(&failing), "TestAlarm is in ERROR");
        assert_eq!(
            summary(&failing, URL),
            "The status for alarm 'TestAlarm' has changed from 'OK' to 'ERROR'\n\
             Failed: a.b, c.d\nhttp://lovebeat.example.com/alarms/TestAlarm"
        );
        let recovered = alert(State::Error, State::Ok);
        assert_eq!(headline(&recovered), "TestAlarm has recovered");
        assert!(!summary(&recovered, URL).contains("Failed"));
    }

    #[test]
    fn script_env_has_both_view_names_and_upper_case_states() {
        let env = script_env(&alert(State::Ok, State::Error));
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("LOVEBEAT_ALARM"), Some("TestAlarm"));
        assert_eq!(get("LOVEBEAT_VIEW"), Some("TestAlarm"));
        assert_eq!(get("LOVEBEAT_STATE"), Some("ERROR"));
        assert_eq!(get("LOVEBEAT_PREVIOUS_STATE"), Some("OK"));
        assert_eq!(get("LOVEBEAT_INCIDENT"), Some("1"));
        assert_eq!(get("LOVEBEAT_OCCASION"), Some("change"));
    }

    #[test]
    fn a_reminder_says_how_long_the_view_has_been_failing() {
        let reminder = Alert {
            at: 1_714_568_400_250,
            occasion: Occasion::Reminder {
                number: 2,
                failing_since: 1_714_564_800_250,
            },
            ..alert(State::Ok, State::Error)
        };
        assert_eq!(
            mail_body(&reminder),
            "Reminder 2: alarm 'TestAlarm' is still 'ERROR', failing for 1h\n"
        );
        let body = webhook_body(&reminder, URL);
        assert_eq!(
            body["reminder"],
            json!({"number": 2, "failing_since": "2024-05-01T12:00:00.250Z", "failing_seconds": 3600})
        );
        assert_eq!(body["to_state"], "error");
        assert!(body.get("acknowledged").is_none());
        let slack = slack_body(&reminder, "#ops", URL);
        assert_eq!(
            slack["attachments"][0]["text"],
            "Reminder 2: still ERROR, failing for 1h."
        );
        let env = script_env(&reminder);
        assert!(env.contains(&("LOVEBEAT_OCCASION", "reminder".to_owned())));
    }

    #[test]
    fn an_acknowledgement_names_its_author_and_comment() {
        let ack = Alert {
            occasion: Occasion::Acknowledged(crate::alert::Ack {
                author: "alice".into(),
                comment: "restoring the backup disk".into(),
                at: 1_714_564_860_000,
            }),
            ..alert(State::Ok, State::Error)
        };
        assert_eq!(
            mail_body(&ack),
            "Alarm 'TestAlarm' ('ERROR') was acknowledged by alice: restoring the backup disk\n"
        );
        assert_eq!(
            webhook_body(&ack, URL)["acknowledged"],
            json!({"author": "alice", "comment": "restoring the backup disk", "timestamp": "2024-05-01T12:01:00.000Z"})
        );
    }
}
