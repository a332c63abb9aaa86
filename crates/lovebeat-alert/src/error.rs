//! Why the alerter could not start, or `test-alert` could not run.

use std::fmt;

use crate::outbox::OutboxError;

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
