//! lovebeat's alerts: a view's state change becomes mail, a webhook POST,
//! a Slack message, a script run, the entry's `on_ok` / `on_error`
//! commands, a page or a chat message on one of the [`channel`]s, and an
//! alert in Alertmanager, delivered from an outbox with retries.
//!
//! The engine's actor calls [`Alerter::raise`] with each view change; the
//! router passes it through the view's [`policy`] (hold-down, reminders,
//! acknowledgements), picks the targets of each `[alerts.NAME]` entry the
//! view lists ([`rules`]), writes one [`Delivery`] per target to the
//! [`Outbox`] and queues it for that entry's worker of that kind. Workers deliver
//! independently, retry with exponential backoff and give up after an
//! age; counters and last errors are in [`Alerter::status`] and
//! [`Alerter::count`]. The crate knows no store: the engine implements
//! [`Outbox`] for it.
//!
//! # Layout
//! * [`alert`]: the alert, its targets and kinds.
//! * [`rules`]: which changes alert which targets.
//! * [`policy`]: hold-downs, reminders and acknowledgements of each view.
//! * [`format`](mod@format): the §4.5 messages.
//! * [`backend`]: the [`Backend`] trait; mail, webhook (and its
//!   [`BodyTemplate`]), Slack, script, the channels, Alertmanager.
//! * [`channel`]: which channels there are and what each needs.
//! * [`outbox`]: the [`Outbox`] trait, [`MemoryOutbox`], [`Delivery`].
//! * [`retry`]: backoff and give-up.
//! * `worker`: one queue per entry and kind.
//! * `alerter`: [`Alerter`] and [`test_alert`].
//! * [`stats`]: counters and per-entry status.
//! * [`settings`]: what the configuration tells the alerter.
//! * `error`: [`AlertError`].

pub mod alert;
mod alerter;
pub mod backend;
pub mod channel;
mod error;
pub mod format;
pub mod outbox;
pub mod policy;
pub mod retry;
pub mod rules;
pub mod settings;
pub mod stats;
mod worker;

pub use alert::{Ack, Alert, Kind, Occasion, Target};
pub use alerter::{Alerter, test_alert};
pub use backend::template::BodyTemplate;
pub use backend::{Backend, DeliveryError, error_chain};
pub use channel::{Channel, ChannelConfig, Service};
pub use error::AlertError;
pub use outbox::{Delivery, MemoryOutbox, Outbox, OutboxError, adopt_announced_states};
pub use retry::RetryPolicy;
pub use settings::{Entry, MailSettings, MailTls, MailgunSettings, Settings, ViewPolicy};
pub use stats::{EntryStatus, Outcome};
