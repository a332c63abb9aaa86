//! What the alerter is told: the `[alerts.NAME]` entries, which views name
//! them, and how to reach mail servers and webhooks.
//!
//! Built once by `lovebeat-config` from the validated configuration; the
//! alerter never reads files. Plain data, no checks here: `lovebeat-config`
//! reports bad values with their file and line (using [`check_mailboxes`]
//! and [`check_header`] for the parts only this crate understands).

use std::collections::BTreeMap;
use std::time::Duration;

use lettre::message::Mailbox;

use crate::backend::template::BodyTemplate;
use crate::channel::{Channel, ChannelConfig};
use crate::retry::RetryPolicy;

/// Everything the alerter runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `[alerts.NAME]` entries by name.
    pub entries: BTreeMap<String, Entry>,
    /// For each view template, by index (as in `ViewChange::template`), the
    /// names of the entries it lists.
    pub views: Vec<Vec<String>>,
    /// For each view template, by index, its `for` and `repeat`; a
    /// template past the end has neither.
    pub policies: Vec<ViewPolicy>,
    pub mail: MailSettings,
    /// When set, mail goes through Mailgun's API instead of SMTP.
    pub mailgun: Option<MailgunSettings>,
    /// The incoming-webhook URL that `slack_channel` alerts post to.
    pub slack_webhook_url: String,
    /// Base URL of the dashboard, ending in `/`; links append `alarms/NAME`.
    pub public_url: String,
    /// For each view template, by index, its `[[alarms]] team`.
    pub view_teams: Vec<Option<String>>,
    pub retry: RetryPolicy,
    /// How long one attempt may take (an SMTP session, an HTTP request, a
    /// script run, which is killed then).
    pub timeout: Duration,
}

/// One `[alerts.NAME]` table: each back-end whose key is set acts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// Comma-separated recipients, one message to all of them.
    pub mail: Option<String>,
    /// URL the §4.5 JSON body is POSTed to.
    pub webhook: Option<String>,
    /// Extra request headers of the webhook, e.g. `Authorization`.
    pub webhook_headers: BTreeMap<String, String>,
    /// The webhook's body, written by the user, instead of the §4.5 JSON.
    pub webhook_body: Option<BodyTemplate>,
    /// PagerDuty, Opsgenie, …, Alertmanager: at most one of each.
    pub channels: Vec<ChannelConfig>,
    /// Channel posted to through [`Settings::slack_webhook_url`].
    pub slack_channel: Option<String>,
    /// Program run with no arguments and the `LOVEBEAT_*` environment.
    pub script: Option<String>,
    /// Shell command run when the view turns healthy again.
    pub on_ok: Option<String>,
    /// Shell command run when the view turns unhealthy.
    pub on_error: Option<String>,
    /// Whether `warning` counts as unhealthy for this entry; when false, a
    /// view in warning is treated as ok (so only error alerts).
    pub warnings: bool,
    /// Remind this often while a view stays failing, unacknowledged
    /// (a view's own `repeat` wins).
    pub repeat: Option<Duration>,
}

/// A view's alert policy: its `for` and `repeat` keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewPolicy {
    /// How long the view must stay unhealthy (or healthy again) before
    /// the change is announced; zero announces at once.
    pub hold: Duration,
    /// Remind this often while the view stays failing, unacknowledged, on
    /// every entry it lists (instead of the entries' own `repeat`).
    pub repeat: Option<Duration>,
}

impl Entry {
    /// The entry's settings of `channel`, if it has that one.
    pub fn channel(&self, channel: Channel) -> Option<&ChannelConfig> {
        self.channels.iter().find(|c| c.channel() == channel)
    }
}

/// `[mail]`: the SMTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// `HOST:PORT`.
    pub server: String,
    /// Envelope and header sender.
    pub from: String,
    pub tls: MailTls,
    /// Login, with [`MailSettings::password`]; None sends without one.
    pub user: Option<String>,
    pub password: Option<String>,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MailTls {
    /// Plain SMTP, as Go lovebeat spoke it.
    #[default]
    None,
    /// Plain connection upgraded with STARTTLS, which must succeed.
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

impl MailTls {
    pub const ALL: [MailTls; 3] = [MailTls::None, MailTls::StartTls, MailTls::Tls];

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MailTls::None => "none",
            MailTls::StartTls => "starttls",
            MailTls::Tls => "tls",
        }
    }
}

impl std::str::FromStr for MailTls {
    type Err = String;

    fn from_str(s: &str) -> Result<MailTls, String> {
        MailTls::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown TLS mode {s:?}: expected none, starttls or tls"))
    }
}

/// `[mailgun]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailgunSettings {
    pub domain: String,
    pub from: String,
    pub api_key: String,
    /// API base, e.g. `https://api.mailgun.net/v3` (the EU region differs).
    pub api_url: String,
}

/// Whether `list` (comma-separated) is a list of mail addresses.
pub fn check_mailboxes(list: &str) -> Result<(), String> {
    parse_mailboxes(list).map(|_| ())
}

/// An entry's `mail` value: comma-separated addresses, each trimmed; none
/// may be empty.
pub(crate) fn parse_mailboxes(list: &str) -> Result<Vec<Mailbox>, String> {
    list.split(',')
        .map(|address| {
            let address = address.trim();
            address
                .parse::<Mailbox>()
                .map_err(|e| format!("{address:?}: {e}"))
        })
        .collect()
}

/// Whether a webhook header name and value can be sent.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    crate::backend::http::header(name, value).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_modes_parse_by_their_config_names() {
        for tls in MailTls::ALL {
            assert_eq!(tls.as_str().parse::<MailTls>(), Ok(tls));
        }
        assert!("ssl".parse::<MailTls>().is_err());
    }

    #[test]
    fn recipients_are_trimmed() {
        let boxes = parse_mailboxes(" a@x.com ,b@y.com").unwrap();
        let addresses: Vec<String> = boxes.iter().map(|m| m.email.to_string()).collect();
        assert_eq!(addresses, ["a@x.com", "b@y.com"]);
    }

    #[test]
    fn mailbox_lists_are_checked() {
        assert!(check_mailboxes("a@x.com, b@y.com").is_ok());
        assert!(check_mailboxes("a@x.com,,").is_err());
        assert!(check_mailboxes("not an address").is_err());
    }

    #[test]
    fn headers_are_checked() {
        assert!(check_header("Authorization", "Bearer x").is_ok());
        assert!(check_header("bad header", "x").is_err());
        assert!(check_header("X-Ok", "line\nbreak").is_err());
    }
}
