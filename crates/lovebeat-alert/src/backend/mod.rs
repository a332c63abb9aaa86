//! The back-ends: the one trait every delivery goes through, and how an
//! entry's target becomes a back-end.
//!
//! A back-end delivers one alert and reports how it went; it never retries
//! and never times itself out (the worker does both), so each stays a
//! straight line of I/O.

pub(crate) mod http;
pub(crate) mod mail;
pub(crate) mod script;

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::alert::{Alert, Target};
use crate::settings::{Entry, Settings};

/// A boxed future, so [`Backend`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something that delivers alerts: a mail server, a URL, a program.
pub trait Backend: Send + Sync {
    /// Delivers one alert once; an error leaves it to the caller to retry.
    fn deliver<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<(), DeliveryError>>;
}

/// Why one attempt failed.
#[derive(Debug)]
pub enum DeliveryError {
    /// A recipient or sender that is not a mail address.
    Address(String),
    /// The SMTP conversation failed (connection, TLS, a refusal).
    Smtp(lettre::transport::smtp::Error),
    /// The message could not be built.
    Message(lettre::error::Error),
    /// The HTTP request failed before an answer (connection, TLS).
    Http(reqwest::Error),
    /// The receiver answered with a status other than 2xx.
    Status(u16),
    /// The program could not be started.
    Spawn(io::Error),
    /// The program exited unsuccessfully.
    Exit(std::process::ExitStatus),
    /// No answer within the attempt timeout (a script is killed).
    TimedOut(Duration),
    /// The entry has no such back-end any more (the config changed).
    NotConfigured,
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliveryError::Address(e) => write!(f, "bad address: {e}"),
            DeliveryError::Smtp(e) => write!(f, "smtp: {e}"),
            DeliveryError::Message(e) => write!(f, "cannot build the message: {e}"),
            DeliveryError::Http(e) => write!(f, "http: {}", error_chain(e)),
            DeliveryError::Status(code) => write!(f, "the receiver answered HTTP {code}"),
            DeliveryError::Spawn(e) => write!(f, "cannot run: {e}"),
            DeliveryError::Exit(status) => write!(f, "exited with {status}"),
            DeliveryError::TimedOut(d) => write!(f, "timed out after {}s", d.as_secs_f64()),
            DeliveryError::NotConfigured => f.write_str("no longer configured"),
        }
    }
}

impl std::error::Error for DeliveryError {}

/// An error and its causes on one line (reqwest hides the useful part);
/// the peer notifier and `lovebeat services` use it for their reqwest
/// errors too.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What back-ends share: one HTTP client, one SMTP transport.
pub(crate) struct Shared {
    pub http: reqwest::Client,
    pub mail: mail::Mailer,
    pub settings: Settings,
}

impl Shared {
    pub fn new(settings: Settings) -> Result<Shared, crate::AlertError> {
        let http = http::client(settings.timeout)?;
        let mail = mail::Mailer::new(&settings, &http)?;
        Ok(Shared {
            http,
            mail,
            settings,
        })
    }
}

/// The back-end for one target of an entry; None when its key is unset.
pub(crate) fn build(
    shared: &Arc<Shared>,
    entry: &Entry,
    target: Target,
) -> Option<Arc<dyn Backend>> {
    let public_url = shared.settings.public_url.clone();
    let backend: Arc<dyn Backend> = match target {
        Target::Mail => Arc::new(shared.mail.for_recipients(entry.mail.clone()?)),
        Target::Webhook => Arc::new(http::Webhook {
            client: shared.http.clone(),
            url: entry.webhook.clone()?,
            headers: entry.webhook_headers.clone(),
            public_url,
        }),
        Target::Slack => Arc::new(http::Slack {
            client: shared.http.clone(),
            url: shared.settings.slack_webhook_url.clone(),
            channel: entry.slack_channel.clone()?,
            public_url,
        }),
        Target::Script => Arc::new(script::Script::program(entry.script.clone()?)),
        Target::OnOk => Arc::new(script::Script::shell(entry.on_ok.clone()?)),
        Target::OnError => Arc::new(script::Script::shell(entry.on_error.clone()?)),
    };
    Some(backend)
}
