//! The mail back-end: SMTP through lettre, or Mailgun's API when
//! `[mailgun] domain` is set (as Go lovebeat chose).
//!
//! One message per alert to all of an entry's recipients (addresses
//! trimmed), with the §4.5 subject and body. SMTP may use STARTTLS or TLS
//! and a login; connections are pooled and shared by every entry.

use std::sync::Arc;

use lettre::message::header::{ContentType, MIME_VERSION_1_0};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::delivery::{Backend, BoxFuture, DeliveryError};
use crate::alert::Alert;
use crate::error::AlertError;
use crate::format;
use crate::settings::{MailSettings, MailTls, MailgunSettings, Settings, parse_mailboxes};

type Smtp = AsyncSmtpTransport<Tokio1Executor>;

/// How mail leaves: shared by every entry's mail back-end.
#[derive(Clone)]
pub(crate) enum Mailer {
    Smtp {
        transport: Smtp,
        from: String,
    },
    Mailgun {
        client: reqwest::Client,
        settings: Arc<MailgunSettings>,
    },
}

impl Mailer {
    pub fn new(settings: &Settings, client: &reqwest::Client) -> Result<Mailer, AlertError> {
        Ok(match &settings.mailgun {
            Some(mailgun) => Mailer::Mailgun {
                client: client.clone(),
                settings: Arc::new(mailgun.clone()),
            },
            None => Mailer::Smtp {
                transport: smtp(&settings.mail, settings.timeout)?,
                from: settings.mail.from.clone(),
            },
        })
    }

    /// The back-end of one entry's `mail` key.
    pub fn for_recipients(&self, to: String) -> Mail {
        Mail {
            mailer: self.clone(),
            to,
        }
    }
}

/// An SMTP transport for `[mail]`; the server is resolved when used.
fn smtp(mail: &MailSettings, timeout: std::time::Duration) -> Result<Smtp, AlertError> {
    let (host, port) = mail
        .server
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
        .ok_or_else(|| AlertError::Mail(format!("invalid server {:?}", mail.server)))?;
    let tls = |wrap: fn(TlsParameters) -> Tls| {
        TlsParameters::new(host.to_owned())
            .map(wrap)
            .map_err(|e| AlertError::Mail(e.to_string()))
    };
    let tls = match mail.tls {
        MailTls::None => Tls::None,
        MailTls::StartTls => tls(Tls::Required)?,
        MailTls::Tls => tls(Tls::Wrapper)?,
    };
    let mut builder = Smtp::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some(user) = &mail.user {
        let password = mail.password.clone().unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

/// One entry's mail back-end.
pub(crate) struct Mail {
    mailer: Mailer,
    /// The entry's `mail` value, as written.
    to: String,
}

impl Mail {
    async fn send(&self, alert: &Alert) -> Result<(), DeliveryError> {
        let to = parse_mailboxes(&self.to).map_err(DeliveryError::Address)?;
        match &self.mailer {
            Mailer::Smtp { transport, from } => {
                let message = message(from, to, alert)?;
                transport.send(message).await.map_err(DeliveryError::Smtp)?;
                Ok(())
            }
            Mailer::Mailgun { client, settings } => mailgun(client, settings, &to, alert).await,
        }
    }
}

impl Backend for Mail {
    fn deliver<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.send(alert))
    }
}

/// The §4.5 message: one to all recipients, text/html with
/// `MIME-Version: 1.0` as Go sent it.
fn message(from: &str, to: Vec<Mailbox>, alert: &Alert) -> Result<Message, DeliveryError> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| DeliveryError::Address(format!("{from:?}: {e}")))?;
    let mut builder = Message::builder().from(from);
    for mailbox in to {
        builder = builder.to(mailbox);
    }
    builder
        .subject(format::mail_subject(alert))
        .header(MIME_VERSION_1_0)
        .header(ContentType::TEXT_HTML)
        .body(format::mail_body(alert))
        .map_err(DeliveryError::Message)
}

/// POSTs the message to Mailgun's `messages` endpoint.
async fn mailgun(
    client: &reqwest::Client,
    settings: &MailgunSettings,
    to: &[Mailbox],
    alert: &Alert,
) -> Result<(), DeliveryError> {
    let to: Vec<String> = to.iter().map(Mailbox::to_string).collect();
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("from", &settings.from)
        .append_pair("to", &to.join(","))
        .append_pair("subject", &format::mail_subject(alert))
        .append_pair("text", &format::mail_body(alert))
        .finish();
    let url = format!(
        "{}/{}/messages",
        settings.api_url.trim_end_matches('/'),
        settings.domain
    );
    let request = client
        .post(url)
        .basic_auth("api", Some(&settings.api_key))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form);
    super::http::send(request).await
}

#[cfg(test)]
mod tests {
    use lovebeat_core::State;

    use super::*;

    #[test]
    fn the_message_goes_to_all_recipients_at_once() {
        let alert = Alert::sample(0);
        let to = parse_mailboxes("a@x.com,b@y.com").unwrap();
        let message = message("lovebeat@example.com", to, &alert).unwrap();
        let text = String::from_utf8(message.formatted()).unwrap();
        assert!(text.contains("To: a@x.com, b@y.com\r\n"), "{text}");
        assert!(
            text.contains("Subject: [LOVEBEAT] lovebeat-test-alert-1\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Content-Type: text/html; charset=utf-8\r\n"),
            "{text}"
        );
        assert!(text.contains("has changed from 'OK' to 'ERROR'"), "{text}");
        assert_eq!(message.envelope().to().len(), 2);
        let _ = State::Ok;
    }

    #[test]
    fn a_bad_sender_is_an_address_error() {
        let result = message("nobody", vec![], &Alert::sample(0));
        assert!(matches!(result, Err(DeliveryError::Address(_))));
    }
}
