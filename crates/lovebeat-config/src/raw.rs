//! The TOML as written: a serde mirror of every key, each optional and with
//! its span, unknown keys rejected; and how a later file's tables merge
//! into an earlier one's. Defaults and checks live in the section modules.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(crate) mod entries;

pub(crate) use entries::View;
use entries::{ArrayEntry, entries, views};

/// An optional key, with where its value is.
type Opt<T> = Option<Spanned<T>>;

/// One config file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct File {
    /// Base URL of the dashboard, used in Slack links. Also accepted as
    /// `[general] public_url`, where Go lovebeat read it.
    pub public_url: Opt<String>,
    /// `[general]`.
    pub general: General,
    /// `[database]`.
    pub database: Database,
    /// `[udp]`.
    pub udp: Udp,
    /// `[tcp]`.
    pub tcp: Listener,
    /// `[http]`.
    pub http: Http,
    /// `[mail]`.
    pub mail: Mail,
    /// `[mailgun]`.
    pub mailgun: Mailgun,
    /// `[slack]`.
    pub slack: Slack,
    /// `[metrics]`.
    pub metrics: Metrics,
    /// `[eventlog]`.
    pub eventlog: EventLog,
    /// `[[notify]]`: peer lovebeats to autobeat.
    #[serde(deserialize_with = "entries")]
    pub notify: Vec<Spanned<Notify>>,
    /// `[peers]`.
    pub peers: Peers,
    /// `[prometheus]`.
    pub prometheus: Prometheus,
    /// `[[alarms]]`: glob view templates.
    #[serde(deserialize_with = "entries")]
    pub alarms: Vec<Spanned<Alarm>>,
    /// `[[views]]`: legacy regex views; also Go lovebeat's `[views.NAME]`
    /// tables and its sample's `[[views]] pattern`.
    #[serde(deserialize_with = "views")]
    pub views: Vec<Spanned<View>>,
    /// `[alerts.NAME]`: what to do when a view that names it changes state.
    pub alerts: BTreeMap<String, Spanned<Alert>>,
    /// `[delivery]`.
    pub delivery: Delivery,
    /// `[auto]`.
    pub auto: Auto,
    /// `[limits]`.
    pub limits: Limits,
    /// `[[checks]]`: active HTTP, HTTPS and TCP checks.
    #[serde(deserialize_with = "entries")]
    pub checks: Vec<Spanned<Check>>,
    /// `[probes]`.
    pub probes: Probes,
    /// `[status_page]`.
    pub status_page: StatusPage,
    /// `[[services]]`: services declared here, with their schedules.
    pub services: Vec<Spanned<Service>>,
}

/// One `[[services]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Service {
    /// The service.
    pub name: Spanned<String>,
    /// A cron or systemd `OnCalendar` expression.
    pub schedule: Opt<String>,
    /// The schedule's IANA time zone (UTC if absent).
    pub tz: Opt<String>,
    /// How late a run may report.
    pub grace: Opt<Duration>,
}

/// A duration: whole seconds, or a string with a unit (`"90s"`, `"5m"`,
/// `"2h"`, `"1d"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Duration {
    Seconds(i64),
    Text(String),
}

impl Rebase for Duration {
    fn rebase(self, _: usize) -> Self {
        self
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Check {
    /// The service that gets a beat per passing run, a failure per failing one.
    pub name: Spanned<String>,
    /// `http`, `https` or `tcp`; taken from `url` when absent.
    #[serde(rename = "type")]
    pub kind: Opt<String>,
    /// The URL to GET (http and https).
    pub url: Opt<String>,
    /// Host to check, instead of `url` (and for tcp).
    pub host: Opt<String>,
    /// Port (tcp; http and https default to 80 and 443).
    pub port: Opt<i64>,
    /// Path, with `host` (http and https).
    pub path: Opt<String>,
    /// Seconds one attempt may take.
    pub timeout: Opt<i64>,
    /// Seconds between runs.
    pub interval: Opt<i64>,
    /// Attempts per run; the run passes at the first that passes.
    pub attempts: Opt<i64>,
    /// Failed runs in a row before the service is an error.
    pub failures: Opt<i64>,
    /// The status that passes (default: any 2xx).
    pub expect_status: Opt<i64>,
    /// Text the body must contain.
    pub expect_body: Opt<String>,
    /// PEM file of the CA certificates to trust instead of the system's.
    pub ca_file: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Probes {
    /// Check runs in flight at once.
    pub concurrency: Opt<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct StatusPage {
    /// The page's title.
    pub title: Opt<String>,
    /// Views to show, in order; empty: every view.
    pub views: Opt<Vec<Spanned<String>>>,
    /// Services to show besides the views' members; empty: those in no view.
    pub services: Opt<Vec<Spanned<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct General {
    /// Base URL of the dashboard (moved to the top level when read).
    pub public_url: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Database {
    /// The database file, relative to the working directory.
    pub filename: Opt<String>,
    /// Seconds a changed service may wait before it is written.
    pub interval: Opt<i64>,
    /// Seconds after a restart during which view changes caused by
    /// the downtime are held back.
    pub startup_grace: Opt<i64>,
    /// `s3://bucket/path` to keep a copy of the database in S3.
    pub remote_s3_url: Opt<String>,
    /// The S3 region, e.g. `eu-west-1`.
    pub remote_s3_region: Opt<String>,
    /// `http(s)://HOST[:PORT]` of an S3-compatible store; `""`: AWS.
    pub remote_s3_endpoint: Opt<String>,
    /// Access key; `""`: `AWS_ACCESS_KEY_ID` or the instance's.
    pub remote_s3_access_key_id: Opt<String>,
    /// Secret key; `""`: `AWS_SECRET_ACCESS_KEY` or the instance's.
    pub remote_s3_secret_access_key: Opt<String>,
    /// Seconds between two uploads of the copy, at least.
    pub remote_s3_interval: Opt<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Listener {
    /// `[HOST]:PORT` to listen on.
    pub listen: Opt<String>,
    /// Source networks allowed to send, e.g. `["10.0.0.0/8", "::1"]`;
    /// empty allows everyone.
    pub allow: Opt<Vec<String>>,
}

/// `[udp]`: a listener with a kernel receive buffer.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Udp {
    /// `[HOST]:PORT` to listen on.
    pub listen: Opt<String>,
    /// Source networks allowed to send, as for TCP.
    pub allow: Opt<Vec<String>>,
    /// Bytes of kernel receive buffer asked for the socket.
    pub receive_buffer: Opt<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Http {
    /// `[HOST]:PORT` to listen on.
    pub listen: Opt<String>,
    /// The path prefix everything is served under, e.g.
    /// `/monitoring/lovebeat`; `""` is the root.
    pub base_path: Opt<String>,
    /// Bearer tokens that may change anything; empty leaves writes open.
    pub write_tokens: Opt<Vec<String>>,
    /// Bearer tokens that may read; empty leaves reads open.
    pub read_tokens: Opt<Vec<String>>,
    /// Whether `/status` stays open when read tokens are set.
    pub public_status: Opt<bool>,
    /// Whether `/metrics` stays open when read tokens are set.
    pub public_metrics: Opt<bool>,
    /// Origins of other sites' pages that may change things and open `/ws`.
    pub allowed_origins: Opt<Vec<String>>,
    /// `host[:port]` browsers reach lovebeat as; empty trusts `Host`.
    pub hosts: Opt<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Limits {
    /// The longest protocol line, in bytes.
    pub line_length: Opt<i64>,
    /// Open line-protocol TCP connections at most.
    pub tcp_connections: Opt<i64>,
    /// Open line-protocol TCP connections of one source address at most.
    pub tcp_connections_per_source: Opt<i64>,
    /// Seconds a TCP connection may stay silent; 0 is forever.
    pub tcp_idle_timeout: Opt<i64>,
    /// Open HTTP connections at most.
    pub http_connections: Opt<i64>,
    /// Open HTTP connections of one source address at most.
    pub http_connections_per_source: Opt<i64>,
    /// Seconds a client has to read an answer.
    pub http_write_timeout: Opt<i64>,
    /// Bytes of large answers made whole that may wait to be written.
    pub http_answer_memory: Opt<i64>,
    /// The largest HTTP request body, in bytes.
    pub http_body: Opt<i64>,
    /// Seconds an HTTP request's head, and then its body, may take.
    pub http_read_timeout: Opt<i64>,
    /// Websocket clients at once.
    pub websockets: Opt<i64>,
    /// Services at most; 0 is no limit.
    pub services: Opt<i64>,
    /// Batches the engine queue holds.
    pub queue: Opt<i64>,
    /// The longest failure message kept, in bytes; longer ones are cut.
    pub message_length: Opt<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Mail {
    /// SMTP `HOST:PORT`.
    pub server: Opt<String>,
    /// Envelope and header sender.
    pub from: Opt<String>,
    /// `none`, `starttls` or `tls`.
    pub tls: Opt<String>,
    /// SMTP login; `""` sends without one.
    pub user: Opt<String>,
    /// SMTP password for `user`.
    pub password: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Mailgun {
    /// Mailgun domain; non-empty switches mail alerts to Mailgun.
    pub domain: Opt<String>,
    /// Sender for Mailgun mail.
    pub from: Opt<String>,
    /// Mailgun API key.
    pub api_key: Opt<String>,
    /// Mailgun API base URL (the EU region has its own).
    pub api_url: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Delivery {
    /// Seconds one delivery attempt may take; a script is killed then.
    pub timeout: Opt<i64>,
    /// Seconds before the first retry; doubled after each failure.
    pub retry_first: Opt<i64>,
    /// Longest wait between retries, seconds.
    pub retry_max: Opt<i64>,
    /// Seconds after which an undelivered alert is dropped.
    pub give_up_after: Opt<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Slack {
    /// Incoming-webhook URL for alerts with a `slack_channel`.
    pub webhook_url: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Metrics {
    /// statsd `HOST:PORT` for lovebeat's own metrics; `""` is off.
    pub server: Opt<String>,
    /// Prefix of every metric name.
    pub prefix: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct EventLog {
    /// JSON-lines event file; `""` is off.
    pub path: Opt<String>,
    /// Permissions of a new file, octal digits written as a number (644).
    pub mode: Opt<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Peers {
    /// Seconds between the `monitor` and `alerter` autobeats to peers.
    pub interval: Opt<i64>,
    /// HOST in `lovebeat.HOST.*`; `""` is the hostname up to its first `.`.
    pub host: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Prometheus {
    /// Services (and views) that get their own series on `/metrics`.
    pub max_services: Opt<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Notify {
    /// Base URL of a peer lovebeat, e.g. `http://other:8080`.
    pub lovebeat: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Alarm {
    /// View name template; may use `$vars` captured by the globs.
    pub name: Spanned<String>,
    /// A glob appended to `includes`.
    pub pattern: Opt<String>,
    /// Globs of member services; the first that matches gives the `$vars`.
    #[serde(default)]
    pub includes: Vec<Spanned<String>>,
    /// Globs of services that are never members.
    #[serde(default)]
    pub excludes: Vec<Spanned<String>>,
    /// Names of `[alerts.NAME]` tables.
    #[serde(default)]
    pub alerts: Vec<Spanned<String>>,
    /// Only services with this team label (all of them, without globs).
    #[serde(default)]
    pub team: Opt<String>,
    /// Hold-down: how long a change must last before it alerts (`5m`).
    #[serde(default, rename = "for")]
    pub hold: Opt<String>,
    /// Remind this often while failing and unacknowledged (`1h`).
    #[serde(default)]
    pub repeat: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Alert {
    /// Comma-separated mail recipients.
    pub mail: Opt<String>,
    /// URL to POST a JSON description of the change to.
    pub webhook: Opt<String>,
    /// Slack channel, through `[slack] webhook_url`.
    pub slack_channel: Opt<String>,
    /// Program to run, with `LOVEBEAT_*` environment variables.
    pub script: Opt<String>,
    /// Extra webhook request headers, name = value.
    pub webhook_headers: BTreeMap<String, Spanned<String>>,
    /// Shell command run when the view turns healthy again.
    pub on_ok: Opt<String>,
    /// Shell command run when the view turns unhealthy.
    pub on_error: Opt<String>,
    /// Whether warnings alert too (else a view in warning counts as ok).
    pub warnings: Opt<bool>,
    /// The webhook's body, with `{{field}}`s, instead of the JSON one.
    pub webhook_body: Opt<String>,
    /// PagerDuty Events API v2 integration (routing) key.
    pub pagerduty_routing_key: Opt<String>,
    /// PagerDuty API base (default `https://events.pagerduty.com`).
    pub pagerduty_url: Opt<String>,
    /// Opsgenie API key (of an API integration).
    pub opsgenie_api_key: Opt<String>,
    /// Opsgenie API base (default `https://api.opsgenie.com`).
    pub opsgenie_url: Opt<String>,
    /// Microsoft Teams workflow webhook URL.
    pub teams_webhook: Opt<String>,
    /// Discord channel webhook URL.
    pub discord_webhook: Opt<String>,
    /// Telegram bot token.
    pub telegram_bot_token: Opt<String>,
    /// Telegram chat id (`-100…`) or `@channelname`.
    pub telegram_chat_id: Opt<String>,
    /// Telegram Bot API base (default `https://api.telegram.org`).
    pub telegram_url: Opt<String>,
    /// ntfy topic.
    pub ntfy_topic: Opt<String>,
    /// ntfy server (default `https://ntfy.sh`).
    pub ntfy_url: Opt<String>,
    /// ntfy access token, for a server that needs one.
    pub ntfy_token: Opt<String>,
    /// Gotify server URL.
    pub gotify_url: Opt<String>,
    /// Gotify application token.
    pub gotify_token: Opt<String>,
    /// Matrix homeserver URL.
    pub matrix_homeserver: Opt<String>,
    /// Matrix room id (`!abc:example.org`).
    pub matrix_room: Opt<String>,
    /// Matrix access token of the sending user.
    pub matrix_token: Opt<String>,
    /// Pushover application token.
    pub pushover_token: Opt<String>,
    /// Pushover user or group key.
    pub pushover_user: Opt<String>,
    /// Pushover API base (default `https://api.pushover.net`).
    pub pushover_url: Opt<String>,
    /// Alertmanager base URLs; every one gets every alert.
    pub alertmanager: Vec<Spanned<String>>,
    /// Seconds between re-sends of a firing alert to Alertmanager.
    pub alertmanager_resend: Opt<i64>,
    /// Remind this often while a view stays failing, unacknowledged.
    pub repeat: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Auto {
    /// AUTO estimator: `median`, `adaptive` or `rhythm` (a service can
    /// pick its own with the HTTP parameter `auto_algorithm`).
    pub algorithm: Opt<String>,
    /// Beat intervals kept per service.
    pub history: Opt<i64>,
}

/// Moves a value's spans from its own file's offsets to the shared
/// offset space of `Sources`, by adding the file's base.
pub(crate) trait Rebase {
    fn rebase(self, base: usize) -> Self;
}

impl Rebase for String {
    fn rebase(self, _: usize) -> Self {
        self
    }
}

impl Rebase for i64 {
    fn rebase(self, _: usize) -> Self {
        self
    }
}

impl Rebase for entries::ViewForm {
    fn rebase(self, _: usize) -> Self {
        self
    }
}

impl Rebase for bool {
    fn rebase(self, _: usize) -> Self {
        self
    }
}

impl<T: Rebase> Rebase for Spanned<T> {
    fn rebase(self, base: usize) -> Self {
        let span = self.span();
        Spanned::new(
            span.start + base..span.end + base,
            self.into_inner().rebase(base),
        )
    }
}

impl<T: Rebase> Rebase for Option<T> {
    fn rebase(self, base: usize) -> Self {
        self.map(|v| v.rebase(base))
    }
}

impl<T: Rebase> Rebase for Vec<T> {
    fn rebase(self, base: usize) -> Self {
        self.into_iter().map(|v| v.rebase(base)).collect()
    }
}

impl<T: Rebase> Rebase for BTreeMap<String, T> {
    fn rebase(self, base: usize) -> Self {
        self.into_iter().map(|(k, v)| (k, v.rebase(base))).collect()
    }
}

/// `Rebase` for structs, field by field.
macro_rules! rebase_fields {
    ($($ty:ident { $($field:ident),* })*) => {$(
        impl Rebase for $ty {
            fn rebase(self, base: usize) -> Self {
                $ty { $($field: self.$field.rebase(base)),* }
            }
        }
    )*};
}

/// `Rebase` and `merge` for tables of scalar keys: a key set in the
/// later file wins.
macro_rules! section {
    ($($ty:ident { $($field:ident),* })*) => {$(
        rebase_fields!($ty { $($field),* });
        impl $ty {
            fn merge(&mut self, later: $ty) {
                $(if later.$field.is_some() {
                    self.$field = later.$field;
                })*
            }
        }
    )*};
}

section! {
    General { public_url }
    Database {
        filename, interval, startup_grace, remote_s3_url, remote_s3_region,
        remote_s3_endpoint, remote_s3_access_key_id, remote_s3_secret_access_key,
        remote_s3_interval
    }
    Udp { listen, allow, receive_buffer }
    Listener { listen, allow }
    Http {
        listen, base_path, write_tokens, read_tokens, public_status, public_metrics,
        allowed_origins, hosts
    }
    Mail { server, from, tls, user, password }
    Mailgun { domain, from, api_key, api_url }
    Delivery { timeout, retry_first, retry_max, give_up_after }
    Slack { webhook_url }
    Metrics { server, prefix }
    EventLog { path, mode }
    Peers { interval, host }
    Prometheus { max_services }
    Auto { algorithm, history }
    Limits {
        line_length, tcp_connections, tcp_idle_timeout, http_connections, http_body,
        http_read_timeout, websockets, services, queue, message_length,
        tcp_connections_per_source, http_connections_per_source, http_write_timeout,
        http_answer_memory
    }
    Probes { concurrency }
    StatusPage { title, views, services }
}

rebase_fields! {
    Notify { lovebeat }
    Alarm { name, pattern, includes, excludes, alerts, team, hold, repeat }
    Check {
        name, kind, url, host, port, path, timeout, interval, attempts, failures, expect_status,
        expect_body, ca_file
    }
    View { name, regexp, pattern, alerts, form, hold, repeat }
    Service { name, schedule, tz, grace }
    Alert {
        mail, webhook, slack_channel, script, webhook_headers, on_ok, on_error, warnings,
        webhook_body, pagerduty_routing_key, pagerduty_url, opsgenie_api_key, opsgenie_url,
        teams_webhook, discord_webhook, telegram_bot_token, telegram_chat_id, telegram_url,
        ntfy_topic, ntfy_url, ntfy_token, gotify_url, gotify_token, matrix_homeserver,
        matrix_room, matrix_token, pushover_token, pushover_user, pushover_url, alertmanager,
        alertmanager_resend, repeat
    }
    File {
        public_url, general, database, udp, tcp, http, mail, mailgun, slack,
        metrics, eventlog, notify, peers, prometheus, alarms, views, alerts, delivery, auto,
        limits,
        checks, probes, status_page, services
    }
}

impl File {
    /// Adds a later file (already rebased): scalars override, arrays
    /// are concatenated, `[alerts.NAME]` tables replace by name.
    pub(crate) fn merge(&mut self, later: File) {
        if later.public_url.is_some() {
            self.public_url = later.public_url;
        }
        self.general.merge(later.general);
        self.database.merge(later.database);
        self.udp.merge(later.udp);
        self.tcp.merge(later.tcp);
        self.http.merge(later.http);
        self.mail.merge(later.mail);
        self.mailgun.merge(later.mailgun);
        self.slack.merge(later.slack);
        self.metrics.merge(later.metrics);
        self.eventlog.merge(later.eventlog);
        self.notify.extend(later.notify);
        self.peers.merge(later.peers);
        self.prometheus.merge(later.prometheus);
        self.alarms.extend(later.alarms);
        self.views.extend(later.views);
        self.alerts.extend(later.alerts);
        self.delivery.merge(later.delivery);
        self.auto.merge(later.auto);
        self.limits.merge(later.limits);
        self.checks.extend(later.checks);
        self.probes.merge(later.probes);
        self.status_page.merge(later.status_page);
        self.services.extend(later.services);
    }
}

impl ArrayEntry for Alarm {
    const TABLE: &str = "alarms";
    const KEYS: &str = "name = \"…\"";
}

impl ArrayEntry for Notify {
    const TABLE: &str = "notify";
    const KEYS: &str = "lovebeat = \"http://…\"";
}

impl ArrayEntry for Check {
    const TABLE: &str = "checks";
    const KEYS: &str = "name = \"…\"";
}
