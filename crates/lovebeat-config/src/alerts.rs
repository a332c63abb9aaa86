//! What the alerter is told: `public_url`, the `[alerts.NAME]` entries
//! (their channel keys in `channels`), `[mail]`, `[mailgun]`, `[slack]`
//! and `[delivery]`, into [`lovebeat_alert::Settings`] (the views' alert
//! names and teams are set by `views`).

use std::collections::BTreeMap;

use lovebeat_alert::{Entry, MailgunSettings};
use toml::Spanned;

use crate::check::{
    Checker, duration, host_port, http_url, non_empty, off_if_empty, seconds, text,
};
use crate::{channels, locate, raw};

/// The Mailgun API base when `[mailgun] api_url` is not set.
pub const MAILGUN_API_URL: &str = "https://api.mailgun.net/v3";

/// `[alerts.NAME]` tables, by name.
pub(crate) fn apply_entries(
    c: &mut Checker<'_>,
    settings: &mut lovebeat_alert::Settings,
    alerts: BTreeMap<String, Spanned<raw::Alert>>,
) {
    settings.entries = alerts
        .into_iter()
        .map(|(name, alert)| {
            let entry = entry(c, &name, alert.into_inner());
            (name, entry)
        })
        .collect();
}

/// `public_url`, `[mail]`, `[mailgun]` and `[slack]`: where alerts go out
/// and what their links point at.
pub(crate) fn apply_sending(
    c: &mut Checker<'_>,
    settings: &mut lovebeat_alert::Settings,
    public_url: Option<Spanned<String>>,
    mail: raw::Mail,
    mailgun: raw::Mailgun,
    slack: raw::Slack,
) {
    let s = settings;
    c.set(
        &mut s.public_url,
        "public_url",
        public_url,
        self::public_url,
    );
    let m = &mut s.mail;
    c.set(&mut m.server, "[mail] server", mail.server, host_port);
    c.set(&mut m.from, "[mail] from", mail.from, mailbox);
    c.set(&mut m.tls, "[mail] tls", mail.tls, |s| s.parse());
    let off_if_empty = |s| Ok(off_if_empty(s));
    c.set(&mut m.user, "[mail] user", mail.user, off_if_empty);
    c.set(
        &mut m.password,
        "[mail] password",
        mail.password,
        off_if_empty,
    );
    s.mailgun = mailgun_settings(c, mailgun);
    c.set(
        &mut s.slack_webhook_url,
        "[slack] webhook_url",
        slack.webhook_url,
        Ok,
    );
}

fn mailgun_settings(c: &mut Checker<'_>, raw: raw::Mailgun) -> Option<MailgunSettings> {
    let domain = off_if_empty(text(raw.domain))?;
    let api_url = c.value("[mailgun] api_url", raw.api_url, None, |u| {
        http_url(u).map(Some)
    });
    Some(MailgunSettings {
        domain,
        from: text(raw.from),
        api_key: text(raw.api_key),
        api_url: api_url.unwrap_or_else(|| MAILGUN_API_URL.to_owned()),
    })
}

/// `[delivery]`: every key whole seconds, at least 1.
pub(crate) fn apply_delivery(
    c: &mut Checker<'_>,
    settings: &mut lovebeat_alert::Settings,
    raw: raw::Delivery,
) {
    let (timeout, retry) = (&mut settings.timeout, &mut settings.retry);
    c.set(timeout, "[delivery] timeout", raw.timeout, seconds);
    c.set(
        &mut retry.first,
        "[delivery] retry_first",
        raw.retry_first,
        seconds,
    );
    c.set(
        &mut retry.max,
        "[delivery] retry_max",
        raw.retry_max,
        seconds,
    );
    c.set(
        &mut retry.give_up_after,
        "[delivery] give_up_after",
        raw.give_up_after,
        seconds,
    );
}

/// An `[alerts.NAME]` table; an empty string counts as unset.
fn entry(c: &mut Checker<'_>, name: &str, mut alert: raw::Alert) -> Entry {
    let table = format!("[alerts.{}]", locate::quote(name));
    let key = |k: &str| format!("{table} {k}");
    let channels = channels::channels(c, &table, &mut alert);
    let mut set =
        |k: &str, value: Option<Spanned<String>>, check: fn(String) -> Result<String, String>| {
            c.value(&key(k), value, None, |v| {
                off_if_empty(v).map(check).transpose()
            })
        };
    let mail = set("mail", alert.mail, mailboxes);
    let webhook = set("webhook", alert.webhook, http_url);
    let slack_channel = set("slack_channel", alert.slack_channel, Ok);
    let script = set("script", alert.script, Ok);
    let on_ok = set("on_ok", alert.on_ok, Ok);
    let on_error = set("on_error", alert.on_error, Ok);
    let mut webhook_headers = BTreeMap::new();
    for (header, value) in alert.webhook_headers {
        let span = value.span();
        let value = value.into_inner();
        match lovebeat_alert::settings::check_header(&header, &value) {
            Ok(()) => drop(webhook_headers.insert(header, value)),
            Err(message) => c.report(span, &key("webhook_headers"), message),
        }
    }
    let content_type = lovebeat_alert::backend::template::content_type(&webhook_headers);
    let body = alert.webhook_body.take();
    let webhook_body = channels::webhook_body(c, &table, body, webhook.is_some(), content_type);
    Entry {
        channels,
        webhook_body,
        mail,
        webhook,
        webhook_headers,
        slack_channel,
        script,
        on_ok,
        on_error,
        warnings: alert.warnings.is_some_and(Spanned::into_inner),
        repeat: c.value(&key("repeat"), alert.repeat, None, |d| {
            duration(d).map(Some)
        }),
    }
}

/// Comma-separated mail addresses.
fn mailboxes(list: String) -> Result<String, String> {
    lovebeat_alert::settings::check_mailboxes(&list)
        .map(|()| list)
        .map_err(|e| format!("invalid mail address {e}"))
}

/// One mail address, e.g. `lovebeat@example.com` or `Lovebeat <lb@x.org>`.
fn mailbox(address: String) -> Result<String, String> {
    if address.contains(',') {
        return Err(format!("expected one mail address, got {address:?}"));
    }
    mailboxes(address)
}

/// Alert links append `alarms/NAME` to it, so it must end with `/`; add one.
fn public_url(url: String) -> Result<String, String> {
    let mut url = non_empty(url)?;
    if !url.ends_with('/') {
        url.push('/');
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn mailgun_api_url_defaults_to_the_us_region() {
        let config = parse("[mailgun]\ndomain = \"mg.example.org\"\n");
        assert_eq!(config.alert.mailgun.unwrap().api_url, MAILGUN_API_URL);
    }

    #[test]
    fn bad_alert_values_name_the_entry_and_key() {
        let text = "[alerts.ops]\nmail = \"a@x.com, not-an-address\"\nwebhook = \"ftp://x\"\nwebhook_headers = { \"bad name\" = \"v\" }\n";
        let message = error(text);
        assert!(
            message.contains(":2: [alerts.ops] mail: invalid mail address"),
            "{message}"
        );
        assert!(
            message.contains(":3: [alerts.ops] webhook: invalid URL"),
            "{message}"
        );
        assert!(
            message.contains(":4: [alerts.ops] webhook_headers: invalid header name"),
            "{message}"
        );
    }

    #[test]
    fn bad_mail_tls_and_delivery_values_are_errors() {
        assert!(error("[mail]\ntls = \"ssl\"\n").contains("[mail] tls: unknown TLS mode"));
        assert!(error("[delivery]\nretry_first = 0\n").contains("[delivery] retry_first"));
        assert!(error("[mail]\nfrom = \"a@x.com,b@y.com\"\n").contains("[mail] from"));
    }

    #[test]
    fn alert_warnings_default_to_off() {
        let config = parse("[alerts.ops]\nmail = \"a@x.com\"\n");
        let alert = &config.alert.entries["ops"];
        assert!(!alert.warnings && alert.on_ok.is_none() && alert.webhook_headers.is_empty());
    }
}
