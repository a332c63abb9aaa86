//! The back-ends: mail, webhook, Slack, script, the paging, chat and push
//! channels and Alertmanager, what they share, and how an entry's target
//! becomes one. The one trait every delivery goes through, [`Backend`], is
//! in `delivery`; every HTTP back-end is a `Render` sent by `http`.
//!
//! A back-end delivers one alert and reports how it went; it never retries
//! and never times itself out (the worker does both), so each stays a
//! straight line of I/O.

pub(crate) mod alertmanager;
pub(crate) mod channels;
mod delivery;
pub(crate) mod http;
pub(crate) mod mail;
pub(crate) mod script;
pub mod template;

use std::sync::Arc;

pub use delivery::{Backend, BoxFuture, DeliveryError, error_chain};

use crate::alert::Target;
use crate::channel::{Channel, ChannelConfig};
use crate::error::AlertError;
use crate::settings::{Entry, Settings};

/// What back-ends share: one HTTP client, one SMTP transport.
pub(crate) struct Shared {
    pub http: reqwest::Client,
    pub mail: mail::Mailer,
    pub settings: Settings,
}

impl Shared {
    pub fn new(settings: Settings) -> Result<Shared, AlertError> {
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
        Target::Webhook => shared.http(http::Webhook {
            url: entry.webhook.clone()?,
            headers: entry.webhook_headers.clone(),
            body: entry.webhook_body.clone(),
            public_url,
        }),
        Target::Slack => shared.http(http::Slack {
            url: shared.settings.slack_webhook_url.clone(),
            channel: entry.slack_channel.clone()?,
            public_url,
        }),
        Target::Script => Arc::new(script::Script::program(entry.script.clone()?)),
        Target::OnOk => Arc::new(script::Script::shell(entry.on_ok.clone()?)),
        Target::OnError => Arc::new(script::Script::shell(entry.on_error.clone()?)),
        Target::Channel(channel) => shared.channel(entry, channel)?,
    };
    Some(backend)
}

impl Shared {
    fn http(&self, render: impl http::Render) -> Arc<dyn Backend> {
        Arc::new(http::Http {
            client: self.http.clone(),
            render,
        })
    }

    /// One of the entry's channels; None when it has not that one.
    fn channel(&self, entry: &Entry, channel: Channel) -> Option<Arc<dyn Backend>> {
        let public_url = self.settings.public_url.clone();
        Some(match entry.channel(channel)?.clone() {
            ChannelConfig::Alertmanager { urls, resend } => {
                Arc::new(alertmanager::Alertmanager::start(
                    self.http.clone(),
                    urls,
                    resend,
                    public_url,
                    entry.warnings,
                ))
            }
            ChannelConfig::Service(service) => self.http(channels::ChannelRender {
                service,
                public_url,
                warnings: entry.warnings,
            }),
        })
    }
}
