//! lovebeat's alerts: a view's state change becomes mail, a webhook POST,
//! a Slack message, a script run, and the entry's `on_ok` / `on_error`
//! commands, delivered from an outbox with retries.
//!
//! The server's actor calls [`Alerter::raise`] with each view change; the
//! router picks the targets of each `[alerts.NAME]` entry the view lists
//! ([`rules`]), writes one [`Delivery`] per target to the [`Outbox`] and
//! queues it for that entry's worker of that kind. Workers deliver
//! independently, retry with exponential backoff and give up after an
//! age; counters and last errors are in [`Alerter::status`] and
//! [`Alerter::count`]. The crate knows no store: the server implements
//! [`Outbox`] for it.
//!
//! # Layout
//! * [`alert`]: the alert, its targets and kinds.
//! * [`rules`]: which changes alert which targets.
//! * [`format`](mod@format): the §4.5 messages.
//! * [`backend`]: the [`Backend`] trait; mail, webhook, Slack, script.
//! * [`outbox`]: the [`Outbox`] trait, [`MemoryOutbox`], [`Delivery`].
//! * [`retry`]: backoff and give-up.
//! * `worker`: one queue per entry and kind.
//! * `alerter`: [`Alerter`] and [`test_alert`].
//! * [`stats`]: counters and per-entry status.
//! * [`settings`]: what the configuration tells the alerter.

pub mod alert;
mod alerter;
pub mod backend;
pub mod format;
pub mod outbox;
pub mod retry;
pub mod rules;
pub mod settings;
pub mod stats;
mod worker;

use std::fmt;

pub use alert::{Alert, Kind, Target};
pub use alerter::{Alerter, test_alert};
pub use backend::{Backend, DeliveryError, error_chain};
pub use outbox::{Delivery, MemoryOutbox, Outbox, OutboxError, adopt_announced_states};
pub use retry::RetryPolicy;
pub use settings::{Entry, MailSettings, MailTls, MailgunSettings, Settings};
pub use stats::{EntryStatus, Outcome};

/// Why the alerter could not start (or `test-alert` could not run).
#[derive(Debug)]
pub enum AlertError {
    /// `test-alert` named no `[alerts.NAME]` entry.
    UnknownEntry(String),
    /// The SMTP settings cannot be used.
    Mail(String),
    /// The HTTP client cannot be built.
    Http(reqwest::Error),
    /// The outbox cannot be read.
    Outbox(OutboxError),
}

impl fmt::Display for AlertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertError::UnknownEntry(name) => write!(f, "there is no [alerts.{name}] table"),
            AlertError::Mail(e) => write!(f, "mail: {e}"),
            AlertError::Http(e) => write!(f, "http client: {e}"),
            AlertError::Outbox(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AlertError {}

/// Installs rustls' ring provider unless the process has one (the binary
/// installs it in `main`; this covers tests and other embedders).
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
