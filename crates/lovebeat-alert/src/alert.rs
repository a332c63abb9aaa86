//! The alert itself: a view's state change (or a reminder that it still
//! fails, or its acknowledgement), and where it goes.
//!
//! An [`Alert`] is what every back-end formats; a [`Target`] is one
//! back-end of one `[alerts.NAME]` entry; a [`Kind`] groups targets for
//! counters and for the one worker each entry has per kind.

use std::fmt;

use lovebeat_core::{Millis, State, ViewChange};
use serde::{Deserialize, Serialize, Serializer};

use crate::channel::Channel;

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
    /// The view's `[[alarms]] team`, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
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
            team: None,
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
            team: None,
            occasion: Occasion::Change,
        }
    }

    /// The sample's view recovering, a second later.
    pub fn sample_recovery(&self) -> Alert {
        Alert {
            from: self.to,
            to: State::Ok,
            at: self.at + 1_000,
            failed: Vec::new(),
            ..self.clone()
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
    Channel(Channel),
}

impl Target {
    /// The notifications, in the order an alert offers itself to them.
    pub const NOTIFY: [Target; 14] = [
        Target::Mail,
        Target::Webhook,
        Target::Slack,
        Target::Script,
        Target::Channel(Channel::PagerDuty),
        Target::Channel(Channel::Opsgenie),
        Target::Channel(Channel::Teams),
        Target::Channel(Channel::Discord),
        Target::Channel(Channel::Telegram),
        Target::Channel(Channel::Ntfy),
        Target::Channel(Channel::Gotify),
        Target::Channel(Channel::Matrix),
        Target::Channel(Channel::Pushover),
        Target::Channel(Channel::Alertmanager),
    ];

    pub fn kind(self) -> Kind {
        match self {
            Target::Mail => Kind::Mail,
            Target::Webhook => Kind::Webhook,
            Target::Slack => Kind::Slack,
            Target::Script => Kind::Script,
            Target::OnOk | Target::OnError => Kind::Command,
            Target::Channel(channel) => Kind::Channel(channel),
        }
    }
}

/// A back-end kind: the `kind` label of `lovebeat_alerts_total`. Each entry
/// delivers through one queue per kind, so `on_error` and `on_ok` of one
/// entry run in the order their changes happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Mail,
    Webhook,
    Slack,
    Script,
    /// `on_ok` and `on_error`.
    Command,
    Channel(Channel),
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::Mail,
        Kind::Webhook,
        Kind::Slack,
        Kind::Script,
        Kind::Command,
        Kind::Channel(Channel::PagerDuty),
        Kind::Channel(Channel::Opsgenie),
        Kind::Channel(Channel::Teams),
        Kind::Channel(Channel::Discord),
        Kind::Channel(Channel::Telegram),
        Kind::Channel(Channel::Ntfy),
        Kind::Channel(Channel::Gotify),
        Kind::Channel(Channel::Matrix),
        Kind::Channel(Channel::Pushover),
        Kind::Channel(Channel::Alertmanager),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Mail => "mail",
            Kind::Webhook => "webhook",
            Kind::Slack => "slack",
            Kind::Script => "script",
            Kind::Command => "command",
            Kind::Channel(channel) => channel.as_str(),
        }
    }

    /// Its place in [`Kind::ALL`].
    pub fn index(self) -> usize {
        match self {
            Kind::Mail => 0,
            Kind::Webhook => 1,
            Kind::Slack => 2,
            Kind::Script => 3,
            Kind::Command => 4,
            Kind::Channel(channel) => 5 + channel as usize,
        }
    }
}

/// As its label, `"pagerduty"` as well as `"mail"`.
impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
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

    #[test]
    fn every_kind_has_its_own_index_and_label() {
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i, "{kind}");
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        let channel = Target::Channel(Channel::Ntfy);
        assert_eq!(channel.kind().as_str(), "ntfy");
        assert!(Target::NOTIFY.contains(&channel));
    }
}
