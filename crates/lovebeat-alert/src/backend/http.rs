//! The HTTP back-ends: the webhook and Slack, and the shared client.
//!
//! Both POST JSON and count any 2xx answer as delivered. The webhook sends
//! Go lovebeat's documented headers (`User-Agent: Lovebeat`,
//! `X-Lovebeat: 1`) and the entry's extra headers.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};

use super::delivery::{Backend, BoxFuture, DeliveryError};
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

/// POSTs JSON with the Accept and Content-Type lovebeat always sent.
fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("Accept", "application/json")
        .json(body)
}

/// One entry's `webhook`.
pub(crate) struct Webhook {
    pub client: reqwest::Client,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub public_url: String,
}

impl Webhook {
    async fn post(&self, alert: &Alert) -> Result<(), DeliveryError> {
        let body = format::webhook_body(alert, &self.public_url);
        let mut request = post_json(&self.client, &self.url, &body).header("X-Lovebeat", "1");
        for (name, value) in &self.headers {
            // Checked when the config was read; a bad one is skipped.
            if let Ok((name, value)) = header(name, value) {
                request = request.header(name, value);
            }
        }
        send(request).await
    }
}

impl Backend for Webhook {
    fn deliver<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.post(alert))
    }
}

/// One entry's `slack_channel`, through `[slack] webhook_url`.
pub(crate) struct Slack {
    pub client: reqwest::Client,
    pub url: String,
    pub channel: String,
    pub public_url: String,
}

impl Slack {
    async fn post(&self, alert: &Alert) -> Result<(), DeliveryError> {
        let body = format::slack_body(alert, &self.channel, &self.public_url);
        send(post_json(&self.client, &self.url, &body)).await
    }
}

impl Backend for Slack {
    fn deliver<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.post(alert))
    }
}
