//! The configuration: what lovebeat's TOML files may say, and the validated
//! [`Config`] the binary runs on, made of each crate's own settings type
//! (the ingest settings, the HTTP limits and access rules, the alerter's
//! settings, the engine's config, the ops and monitors settings), so the
//! binary hands them over as they are.
//!
//! Two layers (STYLE item 10). `raw` mirrors the TOML one to one: every key
//! optional, every value with its position in the file, unknown keys
//! rejected. `validate` turns the merged raw files into a [`Config`] of
//! durations, listen addresses, compiled view templates and enums, collecting
//! every bad value with its file, line and key (one module per section).
//! The binary calls [`resolve_files`] and [`load`] once at startup (there is
//! no reload), exits with status 2 on a [`ConfigError`], and logs the
//! [`Config::warnings`]: what Go lovebeat read differently, or ignored, each
//! with its file, line and key and what to write instead. Applying the
//! config (binding sockets, opening the database, sending alerts, reading a
//! check's `ca_file`) is not done here: config does no I/O but reading the
//! files.
//!
//! It imports the settings types of the crates it configures; it never
//! imports the daemon, and nothing but the binary (and the fuzz target)
//! imports it.
//!
//! # Several files
//! `--config FILE` is read first, then every non-hidden regular file of
//! `--config-dir`, in name order (an entry that cannot be resolved, or is
//! no file nor directory, is an error; a file is read up to
//! [`MAX_FILE_BYTES`]). They are merged as they are read: a later
//! file's scalar keys override earlier ones, an `[alerts.NAME]` table
//! replaces the earlier table of the same name, and the arrays `[[alarms]]`,
//! `[[views]]`, `[[notify]]`, `[[checks]]` and `[[services]]` are **concatenated** (Go lovebeat let a later
//! file's array replace the earlier one, leaking fields between entries;
//! concatenating lets each file in the directory add its own alarms). To keep
//! errors pointing into the right file after merging, each file's spans are
//! moved into one offset space shared by all files (`load::Sources`).
//!
//! # Layout
//! * `load`: which files, reading and merging them ([`from_strs`] does
//!   the same for texts).
//! * `raw`: the TOML mirror (`raw::entries`: the arrays of tables, and Go
//!   lovebeat's forms of views); `locate`: the key a TOML error points at.
//! * `check`: collecting problems, and the value checks sections share.
//! * `validate`: the merged raw files into a [`Config`], section by
//!   section: `database`, `line_protocol` (`[udp]`, `[tcp]`), `http`,
//!   `limits`, `alerts` (with `[mail]`, `[mailgun]`, `[slack]`,
//!   `[delivery]`; an entry's channel keys in `channels`), `views` (`[[alarms]]`, `[[views]]`), `auto`, `ops`
//!   (`[metrics]`, `[eventlog]`, `[[notify]]`, `[peers]`, `[prometheus]`),
//!   `probes` (`[[checks]]`, `[probes]`), `status_page`, `services`
//!   (`[[services]]`).
//! * `error`: [`Problem`] and [`ConfigError`]; `listen`: [`ListenAddr`].

mod alerts;
mod auto;
mod channels;
mod check;
mod database;
mod error;
mod http;
mod limits;
mod line_protocol;
mod listen;
mod load;
mod locate;
mod ops;
mod probes;
mod raw;
mod services;
mod status_page;
mod validate;
mod views;

use std::path::PathBuf;
use std::time::Duration;

use lovebeat_alert::{MailSettings, MailTls, RetryPolicy};
use lovebeat_core::EngineConfig;
use lovebeat_http::{HttpAccess, HttpLimits, StatusPageSettings};
use lovebeat_monitors::s3::S3Settings;
use lovebeat_ops::eventlog::EventLogSettings;
use lovebeat_ops::notify::PeerSettings;
use lovebeat_ops::series::SeriesSettings;
use lovebeat_ops::statsd::StatsdSettings;

pub use alerts::MAILGUN_API_URL;
pub use auto::MAX_HISTORY;
pub use database::{DEFAULT_S3_INTERVAL, Database};
pub use error::{ConfigError, Problem};
pub use listen::ListenAddr;
pub use load::{
    DEFAULT_CONFIG_DIR, DEFAULT_CONFIG_FILE, MAX_FILE_BYTES, from_str, from_strs, load,
    resolve_files,
};
pub use ops::MAX_PROMETHEUS_SERVICES;
pub use probes::{CheckDef, MAX_ATTEMPTS, Probes};
pub use services::ServiceDef;

/// `[limits] services` by default: at the longest names, failure messages
/// and teams a client can give, about 4 KB a service (README, "Security"),
/// so at most about 440 MB, which a small machine has.
const DEFAULT_SERVICES: usize = 100_000;

/// The validated configuration. [`Config::default`] is what lovebeat runs
/// on without any config file: each crate's own default where it has one
/// (`lovebeat.toml`, every key at its default, is tested against it).
#[derive(Debug, Clone)]
pub struct Config {
    pub database: Database,
    /// `[udp] listen`.
    pub udp_listen: ListenAddr,
    /// `[tcp] listen`.
    pub tcp_listen: ListenAddr,
    /// `[http] listen`.
    pub http_listen: ListenAddr,
    /// `[http] base_path`: the path everything is served under, without a
    /// trailing `/` (`/monitoring/lovebeat`), or `""` for the root: for a
    /// reverse proxy that passes the path on unchanged.
    pub base_path: String,
    /// `[udp] allow`, `[tcp] allow` and the line protocol's `[limits]`.
    pub ingest: lovebeat_ingest::Settings,
    /// `[http]` tokens, public reads and websocket origins.
    pub http_access: HttpAccess,
    /// The HTTP server's `[limits]`.
    pub http_limits: HttpLimits,
    /// `[limits] queue`: batches the engine queue holds.
    pub queue: usize,
    /// `[auto]`, the `[[alarms]]` then `[[views]]` templates in file order,
    /// and `[limits] services` (`usize::MAX`: no limit).
    pub engine: EngineConfig,
    /// `public_url`, `[alerts.NAME]`, each view's alerts, `[mail]`,
    /// `[mailgun]`, `[slack]` and `[delivery]`.
    pub alert: lovebeat_alert::Settings,
    /// `[metrics]`: None when `server` is `""`.
    pub statsd: Option<StatsdSettings>,
    /// `[eventlog]`: None when `path` is `""`.
    pub eventlog: Option<EventLogSettings>,
    /// `[[notify]]` and `[peers]`. `host` is as configured: `""` stands for
    /// this machine's name (`lovebeat_ops::notify::service_host`).
    pub peers: PeerSettings,
    /// `[prometheus]`.
    pub series: SeriesSettings,
    /// `[[checks]]`: active checks, in file order.
    pub checks: Vec<CheckDef>,
    pub probes: Probes,
    pub status_page: StatusPageSettings,
    /// `[[services]]`: services with a schedule, in file order.
    pub services: Vec<ServiceDef>,
    /// What the files say that lovebeat reads differently from Go
    /// lovebeat, or that Go ignored and lovebeat reads: each with its
    /// file, line and key and what to write instead; the daemon logs them
    /// at start.
    pub warnings: Vec<Problem>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            database: Database {
                filename: PathBuf::from("lovebeat.db"),
                interval: Duration::from_secs(1),
                startup_grace: Duration::ZERO,
                remote_s3: None::<S3Settings>,
            },
            udp_listen: ListenAddr::Any(8127),
            tcp_listen: ListenAddr::Any(8127),
            http_listen: ListenAddr::Any(8080),
            base_path: String::new(),
            ingest: lovebeat_ingest::Settings::default(),
            http_access: HttpAccess {
                tokens: lovebeat_http::Tokens {
                    write: Vec::new(),
                    read: Vec::new(),
                    public_status: true,
                    public_metrics: false,
                },
                allowed_origins: Vec::new(),
                hosts: Vec::new(),
            },
            http_limits: HttpLimits {
                tokens: DEFAULT_SERVICES,
                ..HttpLimits::default()
            },
            queue: 4096,
            engine: EngineConfig {
                max_services: DEFAULT_SERVICES,
                ..EngineConfig::default()
            },
            alert: lovebeat_alert::Settings {
                entries: Default::default(),
                views: Vec::new(),
                policies: Vec::new(),
                mail: MailSettings {
                    server: "localhost:25".to_owned(),
                    from: "lovebeat@example.com".to_owned(),
                    tls: MailTls::None,
                    user: None,
                    password: None,
                },
                mailgun: None,
                slack_webhook_url:
                    "https://hooks.slack.com/services/TXXXXXXXX/BXXXXXXXX/XXXXXXXXXXXXXXXXX"
                        .to_owned(),
                public_url: "http://lovebeat.example.com/".to_owned(),
                view_teams: Vec::new(),
                retry: RetryPolicy::default(),
                timeout: Duration::from_secs(10),
            },
            statsd: None,
            eventlog: None,
            peers: PeerSettings {
                urls: Vec::new(),
                host: String::new(),
                interval: Duration::from_secs(60),
            },
            series: SeriesSettings::default(),
            checks: Vec::new(),
            probes: Probes::default(),
            status_page: status_page::default_status_page(),
            services: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// For tests: the engine's view templates hold compiled regexes and have
/// no `PartialEq`; their `Debug` rendering shows the name and every regex
/// source, so configs compare by theirs (which leaves out the S3 secret).
#[cfg(test)]
impl PartialEq for Config {
    fn eq(&self, other: &Config) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
}

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
