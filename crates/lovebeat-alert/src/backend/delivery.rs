//! What every back-end is: the [`Backend`] trait and why an attempt
//! failed ([`DeliveryError`]).

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use crate::alert::Alert;

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
