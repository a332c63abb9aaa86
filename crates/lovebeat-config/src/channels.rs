//! An `[alerts.NAME]` entry's channel keys (`pagerduty_*`, `opsgenie_*`,
//! `teams_webhook`, …, `alertmanager`) and `webhook_body`, into its
//! [`ChannelConfig`]s and [`BodyTemplate`]. Called by `alerts` for each
//! entry.
//!
//! A channel acts once any of its keys is set (an empty string counts as
//! unset); then every key it needs must be set too, or the entry is an
//! error naming what is missing. Base URLs default to the public service.

use std::ops::Range;

use lovebeat_alert::channel::{ALERTMANAGER_RESEND, default_url};
use lovebeat_alert::{BodyTemplate, ChannelConfig, Service};
use toml::Spanned;

use crate::check::{Checker, base_url, http_url, seconds};
use crate::raw;

/// The keys of one channel, as they are read.
struct Group<'c, 'a> {
    c: &'c mut Checker<'a>,
    table: &'c str,
    /// The first key of the channel that is set, and where.
    first: Option<(String, Range<usize>)>,
    missing: Vec<&'static str>,
    bad: bool,
}

impl<'c, 'a> Group<'c, 'a> {
    fn new(c: &'c mut Checker<'a>, table: &'c str) -> Group<'c, 'a> {
        Group {
            c,
            table,
            first: None,
            missing: Vec::new(),
            bad: false,
        }
    }

    /// A key the channel needs.
    fn need(
        &mut self,
        key: &'static str,
        raw: Option<Spanned<String>>,
        check: fn(String) -> Result<String, String>,
    ) -> Option<String> {
        if raw.as_ref().is_none_or(|v| v.get_ref().is_empty()) {
            self.missing.push(key);
            return None;
        }
        self.may(key, raw, check)
    }

    /// A key the channel can do without.
    fn may(
        &mut self,
        key: &'static str,
        raw: Option<Spanned<String>>,
        check: fn(String) -> Result<String, String>,
    ) -> Option<String> {
        let raw = raw.filter(|v| !v.get_ref().is_empty())?;
        let name = format!("{} {key}", self.table);
        self.first.get_or_insert((name.clone(), raw.span()));
        let value = self.c.value(&name, Some(raw), None, |v| check(v).map(Some));
        self.bad |= value.is_none();
        value
    }

    /// Some when the channel is set and complete; a channel with a key
    /// missing is reported where its first key is.
    fn finish(self) -> Option<()> {
        let (key, span) = self.first?;
        if !self.missing.is_empty() {
            let missing: Vec<String> = (self.missing.iter())
                .map(|k| format!("{} {k}", self.table))
                .collect();
            let message = format!("needs {} as well", missing.join(" and "));
            self.c.report(span, &key, message);
            return None;
        }
        (!self.bad).then_some(())
    }
}

fn text(value: String) -> Result<String, String> {
    Ok(value)
}

fn base(url: String) -> Result<String, String> {
    base_url(url, "URL")
}

/// Every channel the entry sets, in [`lovebeat_alert::Channel::ALL`] order.
pub(crate) fn channels(c: &mut Checker<'_>, table: &str, a: &mut raw::Alert) -> Vec<ChannelConfig> {
    let services = [
        pagerduty(Group::new(c, table), a),
        opsgenie(Group::new(c, table), a),
        webhook_channel(
            Group::new(c, table),
            a.teams_webhook.take(),
            "teams_webhook",
        )
        .map(|webhook| Service::Teams { webhook }),
        webhook_channel(
            Group::new(c, table),
            a.discord_webhook.take(),
            "discord_webhook",
        )
        .map(|webhook| Service::Discord { webhook }),
        telegram(Group::new(c, table), a),
        ntfy(Group::new(c, table), a),
        gotify(Group::new(c, table), a),
        matrix(Group::new(c, table), a),
        pushover(Group::new(c, table), a),
    ];
    let services = services.into_iter().flatten().map(ChannelConfig::Service);
    services.chain(alertmanager(c, table, a)).collect()
}

fn pagerduty(mut g: Group<'_, '_>, a: &mut raw::Alert) -> Option<Service> {
    let routing_key = g.need(
        "pagerduty_routing_key",
        a.pagerduty_routing_key.take(),
        text,
    );
    let url = g.may("pagerduty_url", a.pagerduty_url.take(), base);
    g.finish()?;
    Some(Service::PagerDuty {
        routing_key: routing_key?,
        url: url.unwrap_or_else(|| default_url::PAGERDUTY.to_owned()),
    })
}

fn opsgenie(mut g: Group<'_, '_>, a: &mut raw::Alert) -> Option<Service> {
    let api_key = g.need("opsgenie_api_key", a.opsgenie_api_key.take(), text);
    let url = g.may("opsgenie_url", a.opsgenie_url.take(), base);
    g.finish()?;
    Some(Service::Opsgenie {
        api_key: api_key?,
        url: url.unwrap_or_else(|| default_url::OPSGENIE.to_owned()),
    })
}

/// Teams and Discord: one webhook URL.
fn webhook_channel(
    mut g: Group<'_, '_>,
    raw: Option<Spanned<String>>,
    key: &'static str,
) -> Option<String> {
    let webhook = g.need(key, raw, http_url);
    g.finish()?;
    webhook
}

fn telegram(mut g: Group<'_, '_>, a: &mut raw::Alert) -> Option<Service> {
    let bot_token = g.need("telegram_bot_token", a.telegram_bot_token.take(), text);
    let chat_id = g.need("telegram_chat_id", a.telegram_chat_id.take(), text);
    let url = g.may("telegram_url", a.telegram_url.take(), base);
    g.finish()?;
    Some(Service::Telegram {
        bot_token: bot_token?,
        chat_id: chat_id?,
        url: url.unwrap_or_else(|| default_url::TELEGRAM.to_owned()),
    })
}

fn ntfy(mut g: Group<'_, '_>, a: &mut raw::Alert) -> Option<Service> {
    let topic = g.need("ntfy_topic", a.ntfy_topic.take(), text);
    let url = g.may("ntfy_url", a.ntfy_url.take(), base);
    let token = g.may("ntfy_token", a.ntfy_token.take(), text);
    g.finish()?;
    Some(Service::Ntfy {
        topic: topic?,
        url: url.unwrap_or_else(|| default_url::NTFY.to_owned()),
        token,
    })
}

fn gotify(mut g: Group<'_, '_>, a: &mut raw::Alert) -> Option<Service> {
    let url = g.need("gotify_url", a.gotify_url.take(), base);
    let token = g.need("gotify_token", a.gotify_token.take(), text);
    g.finish()?;
    Some(Service::Gotify {
        url: url?,
        token: token?,
    })
}

fn matrix(mut g: Group<'_, '_>, a: &mut raw::Alert) -> Option<Service> {
    let homeserver = g.need("matrix_homeserver", a.matrix_homeserver.take(), base);
    let room = g.need("matrix_room", a.matrix_room.take(), room_id);
    let token = g.need("matrix_token", a.matrix_token.take(), text);
    g.finish()?;
    Some(Service::Matrix {
        homeserver: homeserver?,
        room: room?,
        token: token?,
    })
}

/// A room id (`!opaque:server`); an alias (`#name:server`) is not one.
fn room_id(room: String) -> Result<String, String> {
    if room.starts_with('!') && room.contains(':') {
        Ok(room)
    } else {
        Err(format!(
            "invalid room id {room:?}: expected !ID:SERVER (the room's settings show it; an alias #name:server is not one)"
        ))
    }
}

fn pushover(mut g: Group<'_, '_>, a: &mut raw::Alert) -> Option<Service> {
    let token = g.need("pushover_token", a.pushover_token.take(), text);
    let user = g.need("pushover_user", a.pushover_user.take(), text);
    let url = g.may("pushover_url", a.pushover_url.take(), base);
    g.finish()?;
    Some(Service::Pushover {
        token: token?,
        user: user?,
        url: url.unwrap_or_else(|| default_url::PUSHOVER.to_owned()),
    })
}

/// `alertmanager = [URL, …]` and `alertmanager_resend`.
fn alertmanager(c: &mut Checker<'_>, table: &str, a: &mut raw::Alert) -> Option<ChannelConfig> {
    let key = format!("{table} alertmanager");
    let resend_key = format!("{table} alertmanager_resend");
    let resend = a.alertmanager_resend.take();
    if a.alertmanager.is_empty() {
        if let Some(resend) = resend {
            let message = format!("needs {key} as well");
            c.report(resend.span(), &resend_key, message);
        }
        return None;
    }
    let urls: Vec<Option<String>> = (std::mem::take(&mut a.alertmanager).into_iter())
        .map(|url| c.value(&key, Some(url), None, |u| base(u).map(Some)))
        .collect();
    let resend = c.value(&resend_key, resend, Some(ALERTMANAGER_RESEND), |s| {
        seconds(s).map(Some)
    });
    Some(ChannelConfig::Alertmanager {
        urls: urls.into_iter().collect::<Option<_>>()?,
        resend: resend?,
    })
}

/// `webhook_body`: a template the webhook sends instead of its JSON; with
/// a JSON `Content-Type` (the default) the sample alert must render to
/// JSON.
pub(crate) fn webhook_body(
    c: &mut Checker<'_>,
    table: &str,
    raw: Option<Spanned<String>>,
    webhook: bool,
    content_type: &str,
) -> Option<BodyTemplate> {
    let raw = raw.filter(|v| !v.get_ref().is_empty())?;
    let key = format!("{table} webhook_body");
    if !webhook {
        c.report(raw.span(), &key, format!("needs {table} webhook as well"));
        return None;
    }
    c.value(&key, Some(raw), None, |text| {
        let template = BodyTemplate::parse(&text)?;
        template.check_json(content_type)?;
        Ok(Some(template))
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lovebeat_alert::Channel;

    use crate::testing::*;

    use super::*;

    fn entry_channels(keys: &str) -> Vec<ChannelConfig> {
        parse(&format!("[alerts.ops]\n{keys}\n")).alert.entries["ops"]
            .channels
            .clone()
    }

    #[test]
    fn base_urls_default_to_the_public_services() {
        let channels = entry_channels(
            "pagerduty_routing_key = \"r\"\nopsgenie_api_key = \"o\"\n\
             telegram_bot_token = \"1:x\"\ntelegram_chat_id = \"-1\"\nntfy_topic = \"t\"\n\
             pushover_token = \"a\"\npushover_user = \"u\"\n",
        );
        let kinds: Vec<Channel> = channels.iter().map(ChannelConfig::channel).collect();
        assert_eq!(
            kinds,
            [
                Channel::PagerDuty,
                Channel::Opsgenie,
                Channel::Telegram,
                Channel::Ntfy,
                Channel::Pushover
            ]
        );
        let pagerduty = Service::PagerDuty {
            routing_key: "r".into(),
            url: default_url::PAGERDUTY.into(),
        };
        assert_eq!(channels[0], ChannelConfig::Service(pagerduty));
        let ntfy = Service::Ntfy {
            topic: "t".into(),
            url: default_url::NTFY.into(),
            token: None,
        };
        assert_eq!(channels[3], ChannelConfig::Service(ntfy));
    }

    #[test]
    fn a_base_url_override_loses_its_trailing_slash() {
        let channels = entry_channels("gotify_url = \"http://127.0.0.1:8/\"\ngotify_token = \"t\"");
        let gotify = Service::Gotify {
            url: "http://127.0.0.1:8".into(),
            token: "t".into(),
        };
        assert_eq!(channels, [ChannelConfig::Service(gotify)]);
    }

    #[test]
    fn alertmanager_takes_every_url_and_resends_every_minute_by_default() {
        let channels = entry_channels("alertmanager = [\"http://am1:9093/\", \"http://am2:9093\"]");
        assert_eq!(
            channels,
            [ChannelConfig::Alertmanager {
                urls: vec!["http://am1:9093".into(), "http://am2:9093".into()],
                resend: Duration::from_secs(60)
            }]
        );
    }

    #[test]
    fn a_channel_missing_a_key_names_it() {
        let message = error("[alerts.ops]\ntelegram_bot_token = \"1:x\"\n");
        assert!(
            message.contains(
                ":2: [alerts.ops] telegram_bot_token: needs [alerts.ops] telegram_chat_id as well"
            ),
            "{message}"
        );
        let message = error("[alerts.ops]\nmatrix_room = \"!r:x\"\n");
        assert!(
            message.contains(
                "needs [alerts.ops] matrix_homeserver and [alerts.ops] matrix_token as well"
            ),
            "{message}"
        );
        let message = error("[alerts.ops]\nalertmanager_resend = 5\n");
        assert!(
            message.contains(
                ":2: [alerts.ops] alertmanager_resend: needs [alerts.ops] alertmanager as well"
            ),
            "{message}"
        );
    }

    #[test]
    fn bad_channel_values_are_errors() {
        let message = error(
            "[alerts.ops]\nmatrix_homeserver = \"https://m.org\"\nmatrix_room = \"#ops:m.org\"\nmatrix_token = \"t\"\n\
             discord_webhook = \"discord.com/api/webhooks/1/x\"\nalertmanager = [\"am:9093\"]\n",
        );
        assert!(
            message.contains(":3: [alerts.ops] matrix_room: invalid room id"),
            "{message}"
        );
        assert!(
            message.contains(":5: [alerts.ops] discord_webhook: invalid URL"),
            "{message}"
        );
        assert!(
            message.contains(":6: [alerts.ops] alertmanager: invalid URL"),
            "{message}"
        );
    }

    #[test]
    fn a_webhook_body_is_checked_when_read() {
        let message = error("[alerts.ops]\nwebhook = \"http://h/\"\nwebhook_body = \"{{nope}}\"\n");
        assert!(
            message.contains(":3: [alerts.ops] webhook_body: unknown field {{nope}}"),
            "{message}"
        );
        let message = error(
            "[alerts.ops]\nwebhook = \"http://h/\"\nwebhook_body = \"{\\\"a\\\": {{view}}}\"\n",
        );
        assert!(message.contains("is not JSON"), "{message}");
        let message = error("[alerts.ops]\nwebhook_body = \"x\"\n");
        assert!(
            message.contains("webhook_body: needs [alerts.ops] webhook as well"),
            "{message}"
        );
        let plain = "[alerts.ops]\nwebhook = \"http://h/\"\nwebhook_body = \"view={{view}}\"\nwebhook_headers = { Content-Type = \"text/plain\" }\n";
        assert!(parse(plain).alert.entries["ops"].webhook_body.is_some());
    }
}
