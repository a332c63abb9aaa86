//! What every HTTP back-end shares: the client, a request as plain data
//! ([`Outgoing`]) and the one way it is sent; and the webhook and Slack.
//!
//! An HTTP back-end is a [`Render`]: it says what request an alert makes
//! (pure, so tests look at it without a socket), and [`Http`] sends it;
//! any 2xx answer counts as delivered. The webhook sends Go lovebeat's
//! documented headers (`User-Agent: Lovebeat`, `X-Lovebeat: 1`) and the
//! entry's extra headers.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};

use super::delivery::{Backend, BoxFuture, DeliveryError};
use super::template::{self, BodyTemplate};
use crate::alert::Alert;
use crate::error::AlertError;
use crate::format;

/// The client every HTTP back-end shares. Each request also runs under
/// the worker's attempt timeout; this one bounds the connect alone.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, AlertError> {
    ensure_crypto_provider();
    reqwest::Client::builder()
        .user_agent("Lovebeat")
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .map_err(AlertError::Http)
}

/// Installs rustls' ring provider unless the process has one (the binary
/// installs it in `main`; this covers tests and other embedders).
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A header the webhook can send, or why not.
pub(crate) fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("invalid header name {name:?}"))?;
    let value =
        HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {name}"))?;
    Ok((name, value))
}

/// Sends a request; a 2xx answer is success.
pub(crate) async fn send(request: reqwest::RequestBuilder) -> Result<(), DeliveryError> {
    let response = request.send().await.map_err(DeliveryError::Http)?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(DeliveryError::Status(status.as_u16()))
    }
}

/// The HTTP method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Post,
    Put,
}

/// What a request carries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// Sent with `Content-Type: application/json` and `Accept` the same.
    Json(serde_json::Value),
    /// `application/x-www-form-urlencoded`.
    Form(Vec<(&'static str, String)>),
    /// Bytes as given; the headers say what they are.
    Text(String),
}

/// One request a back-end makes, as plain data: each HTTP back-end only
/// says what to send ([`Render`]), and [`Http`] sends it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outgoing {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Outgoing {
    pub fn post(url: impl Into<String>, body: Body) -> Outgoing {
        Outgoing {
            method: Method::Post,
            url: url.into(),
            headers: Vec::new(),
            body,
        }
    }

    pub fn json(url: impl Into<String>, body: serde_json::Value) -> Outgoing {
        Outgoing::post(url, Body::Json(body))
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Outgoing {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Sends it once; a 2xx answer is success.
    pub async fn send(self, client: &reqwest::Client) -> Result<(), DeliveryError> {
        let request = match self.method {
            Method::Post => client.post(&self.url),
            Method::Put => client.put(&self.url),
        };
        let mut request = match self.body {
            Body::Json(body) => request.header("Accept", "application/json").json(&body),
            Body::Form(fields) => {
                let form = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish();
                (request.header("Content-Type", "application/x-www-form-urlencoded")).body(form)
            }
            Body::Text(text) => request.body(text),
        };
        for (name, value) in &self.headers {
            // Names and values from the config were checked when it was
            // read; one that cannot be sent is skipped.
            if let Ok((name, value)) = header(name, value) {
                request = request.header(name, value);
            }
        }
        send(request).await
    }
}

/// What an HTTP back-end sends for an alert.
pub(crate) trait Render: Send + Sync + 'static {
    fn render(&self, alert: &Alert) -> Outgoing;
}

/// An HTTP back-end: renders the alert and sends it with the shared
/// client.
pub(crate) struct Http<R> {
    pub client: reqwest::Client,
    pub render: R,
}

impl<R: Render> Backend for Http<R> {
    fn deliver<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.render.render(alert).send(&self.client))
    }
}

/// One entry's `webhook`: the §4.5 JSON body, or the entry's
/// `webhook_body` template.
pub(crate) struct Webhook {
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub body: Option<BodyTemplate>,
    pub public_url: String,
}

impl Render for Webhook {
    fn render(&self, alert: &Alert) -> Outgoing {
        let mut request = match &self.body {
            None => Outgoing::json(&self.url, format::webhook_body(alert, &self.public_url)),
            Some(template) => {
                let content_type = template::content_type(&self.headers);
                let text = template.render(alert, &self.public_url, content_type);
                let request = Outgoing::post(&self.url, Body::Text(text));
                request.header("Content-Type", content_type)
            }
        };
        request = request.header("X-Lovebeat", "1");
        for (name, value) in &self.headers {
            if !name.eq_ignore_ascii_case("content-type") {
                request = request.header(name, value);
            }
        }
        request
    }
}

/// One entry's `slack_channel`, through `[slack] webhook_url`.
pub(crate) struct Slack {
    pub url: String,
    pub channel: String,
    pub public_url: String,
}

impl Render for Slack {
    fn render(&self, alert: &Alert) -> Outgoing {
        let body = format::slack_body(alert, &self.channel, &self.public_url);
        Outgoing::json(&self.url, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn a_templated_webhook_sends_its_body_as_the_type_its_headers_say() {
        let webhook = Webhook {
            url: "http://h/".to_owned(),
            headers: BTreeMap::from([header("content-type", "text/plain"), header("X-Key", "k")]),
            body: Some(BodyTemplate::parse("alarm={{view}}").unwrap()),
            public_url: "http://lb/".to_owned(),
        };
        let request = webhook.render(&Alert::sample(0));
        assert_eq!(
            request.body,
            Body::Text("alarm=lovebeat-test-alert".to_owned())
        );
        assert_eq!(
            request.headers,
            [
                header("Content-Type", "text/plain"),
                header("X-Lovebeat", "1"),
                header("X-Key", "k")
            ]
        );
    }

    #[test]
    fn a_plain_webhook_sends_the_json_body() {
        let webhook = Webhook {
            url: "http://h/".to_owned(),
            headers: BTreeMap::new(),
            body: None,
            public_url: "http://lb/".to_owned(),
        };
        let request = webhook.render(&Alert::sample(0));
        assert_eq!(request.method, Method::Post);
        assert!(matches!(&request.body, Body::Json(json) if json["to_state"] == "error"));
    }
}
