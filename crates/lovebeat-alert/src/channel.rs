//! The channels on-call teams use, as an `[alerts.NAME]` entry configures
//! them: PagerDuty, Opsgenie, Microsoft Teams, Discord, Telegram, ntfy,
//! Gotify, Matrix, Pushover and Alertmanager.
//!
//! Plain data, built by `lovebeat-config` (which checks every value and
//! fills in each service's public base URL when none is given); the
//! back-ends that speak each service's API are in `backend::channels` and
//! `backend::alertmanager`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which channel: a back-end of an entry, and the `kind` of its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    PagerDuty,
    Opsgenie,
    Teams,
    Discord,
    Telegram,
    Ntfy,
    Gotify,
    Matrix,
    Pushover,
    Alertmanager,
}

impl Channel {
    pub const ALL: [Channel; 10] = [
        Channel::PagerDuty,
        Channel::Opsgenie,
        Channel::Teams,
        Channel::Discord,
        Channel::Telegram,
        Channel::Ntfy,
        Channel::Gotify,
        Channel::Matrix,
        Channel::Pushover,
        Channel::Alertmanager,
    ];

    /// The `kind` label, and the prefix of the channel's config keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::PagerDuty => "pagerduty",
            Channel::Opsgenie => "opsgenie",
            Channel::Teams => "teams",
            Channel::Discord => "discord",
            Channel::Telegram => "telegram",
            Channel::Ntfy => "ntfy",
            Channel::Gotify => "gotify",
            Channel::Matrix => "matrix",
            Channel::Pushover => "pushover",
            Channel::Alertmanager => "alertmanager",
        }
    }

    /// Whether an alert opens something that stays open until its
    /// recovery is sent (an incident, a firing alert).
    pub fn keeps_incidents_open(self) -> bool {
        matches!(
            self,
            Channel::PagerDuty | Channel::Opsgenie | Channel::Alertmanager
        )
    }
}

/// The public API base of the services that have one; a `*_url` key
/// replaces it (a self-hosted server, a region, a test receiver).
pub mod default_url {
    pub const PAGERDUTY: &str = "https://events.pagerduty.com";
    pub const OPSGENIE: &str = "https://api.opsgenie.com";
    pub const TELEGRAM: &str = "https://api.telegram.org";
    pub const NTFY: &str = "https://ntfy.sh";
    pub const PUSHOVER: &str = "https://api.pushover.net";
}

/// How often a firing alert is sent to Alertmanager again, when
/// `alertmanager_resend` is not set (Prometheus's `resend-delay` is 1m).
pub const ALERTMANAGER_RESEND: Duration = Duration::from_secs(60);

/// One channel of an entry and what it needs to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelConfig {
    /// A paging, chat or push service: one request per alert.
    Service(Service),
    /// `alertmanager`: every listed Alertmanager (base URLs without a
    /// trailing `/`), re-sent every `resend` while firing.
    Alertmanager { urls: Vec<String>, resend: Duration },
}

impl ChannelConfig {
    pub fn channel(&self) -> Channel {
        match self {
            ChannelConfig::Service(service) => service.channel(),
            ChannelConfig::Alertmanager { .. } => Channel::Alertmanager,
        }
    }
}

/// A paging, chat or push service and what it needs to reach it. Base
/// URLs are kept without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// Events API v2: `pagerduty_routing_key` (an integration key).
    PagerDuty { routing_key: String, url: String },
    /// Alert API v2: `opsgenie_api_key` (an API integration key).
    Opsgenie { api_key: String, url: String },
    /// A Teams workflow (or connector) webhook: `teams_webhook`.
    Teams { webhook: String },
    /// A Discord channel webhook: `discord_webhook`.
    Discord { webhook: String },
    /// Bot API: `telegram_bot_token`, `telegram_chat_id`.
    Telegram {
        bot_token: String,
        chat_id: String,
        url: String,
    },
    /// `ntfy_topic` on `ntfy_url`, with `ntfy_token` when the server needs
    /// one.
    Ntfy {
        topic: String,
        url: String,
        token: Option<String>,
    },
    /// A self-hosted Gotify: `gotify_url`, `gotify_token` (an application
    /// token).
    Gotify { url: String, token: String },
    /// Client-server API: `matrix_homeserver`, `matrix_room` (a room id,
    /// `!abc:example.org`), `matrix_token` (the sending user's access token).
    Matrix {
        homeserver: String,
        room: String,
        token: String,
    },
    /// Message API: `pushover_token` (the application's), `pushover_user`
    /// (a user or group key).
    Pushover {
        token: String,
        user: String,
        url: String,
    },
}

impl Service {
    pub fn channel(&self) -> Channel {
        match self {
            Service::PagerDuty { .. } => Channel::PagerDuty,
            Service::Opsgenie { .. } => Channel::Opsgenie,
            Service::Teams { .. } => Channel::Teams,
            Service::Discord { .. } => Channel::Discord,
            Service::Telegram { .. } => Channel::Telegram,
            Service::Ntfy { .. } => Channel::Ntfy,
            Service::Gotify { .. } => Channel::Gotify,
            Service::Matrix { .. } => Channel::Matrix,
            Service::Pushover { .. } => Channel::Pushover,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_serialize_as_their_labels() {
        for channel in Channel::ALL {
            let json = serde_json::to_value(channel).unwrap();
            assert_eq!(json, channel.as_str());
            assert_eq!(serde_json::from_value::<Channel>(json).unwrap(), channel);
        }
    }
}
