//! The alert itself: a view's state change (or a reminder that it still
//! fails, or its acknowledgement), and where it goes.
//!
//! An [`Alert`] is what every back-end formats; a [`Target`] is one
//! back-end of one `[alerts.NAME]` entry; a [`Kind`] groups targets for
//! counters and for the one worker each entry has per kind.

use std::fmt;

use lovebeat_core::{Millis, State, ViewChange};
use serde::{Deserialize, Serialize};

/// A view's state change, as the back-ends tell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// The view (alarm) name.
    pub view: String,
    pub from: State,
    pub to: State,
    pub incident: u64,
    /// When the change happened (for a reminder or an acknowledgement:
    /// when that was sent), ms since the epoch.
    pub at: Millis,
    /// Members in warning or error at the change.
    pub failed: Vec<String>,
    /// Why it is sent: the change itself unless a reminder or an ack.
    #[serde(default)]
    pub occasion: Occasion,
}

/// Why an alert is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Occasion {
    /// The view changed from `from` to `to`.
    #[default]
    Change,
    /// The view is still in `to` (it changed `from` it): reminder number
    /// `number` of the incident, while no one acknowledged it.
    Reminder {
        number: u32,
        /// When the view became unhealthy, ms since the epoch.
        failing_since: Millis,
    },
    /// Someone acknowledged the failing view: reminders stop until it
    /// changes state again.
    Acknowledged(Ack),
}

/// An acknowledgement of a failing view (`POST /api/views/{name}/ack`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub author: String,
    pub comment: String,
    /// When it was made, ms since the epoch.
    pub at: Millis,
}

impl Alert {
    pub fn from_change(change: &ViewChange) -> Alert {
        Alert {
            view: change.name.to_string(),
            from: change.from,
            to: change.to,
            incident: change.incident,
            at: change.at,
            failed: change.failed.iter().map(|s| s.to_string()).collect(),
            occasion: Occasion::Change,
        }
    }

    /// What `lovebeat test-alert` sends: a made-up view going ok → error.
    pub fn sample(at: Millis) -> Alert {
        Alert {
            view: "lovebeat-test-alert".to_owned(),
            from: State::Ok,
            to: State::Error,
            incident: 1,
            at,
            failed: vec!["lovebeat.test.service".to_owned()],
            occasion: Occasion::Change,
        }
    }
}

/// One back-end of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Mail,
    Webhook,
    Slack,
    Script,
    /// The entry's `on_ok` command.
    OnOk,
    /// The entry's `on_error` command.
    OnError,
}

impl Target {
    /// The notifications, in the order an alert offers itself to them.
    pub const NOTIFY: [Target; 4] = [Target::Mail, Target::Webhook, Target::Slack, Target::Script];

    pub fn kind(self) -> Kind {
        match self {
            Target::Mail => Kind::Mail,
            Target::Webhook => Kind::Webhook,
            Target::Slack => Kind::Slack,
            Target::Script => Kind::Script,
            Target::OnOk | Target::OnError => Kind::Command,
        }
    }
}

/// A back-end kind: the `kind` label of `lovebeat_alerts_total`. Each entry
/// delivers through one queue per kind, so `on_error` and `on_ok` of one
/// entry run in the order their changes happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Mail,
    Webhook,
    Slack,
    Script,
    /// `on_ok` and `on_error`.
    Command,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Mail,
        Kind::Webhook,
        Kind::Slack,
        Kind::Script,
        Kind::Command,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Mail => "mail",
            Kind::Webhook => "webhook",
            Kind::Slack => "slack",
            Kind::Script => "script",
            Kind::Command => "command",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn an_alert_copies_the_change() {
        let change = ViewChange {
            name: Arc::from("db"),
            template: 0,
            from: State::Ok,
            to: State::Error,
            incident: 3,
            at: 1_000,
            failed: vec![Arc::from("db.backup")],
        };
        let alert = Alert::from_change(&change);
        assert_eq!(alert.view, "db");
        assert_eq!(
            (alert.from, alert.to, alert.incident),
            (State::Ok, State::Error, 3)
        );
        assert_eq!(alert.failed, ["db.backup"]);
    }

    #[test]
    fn commands_share_one_kind() {
        assert_eq!(Target::OnOk.kind(), Kind::Command);
        assert_eq!(Target::OnError.kind(), Kind::Command);
        assert_eq!(Target::Slack.kind().as_str(), "slack");
    }
}
