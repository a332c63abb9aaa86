//! The configuration: what lovebeat's TOML files may say, and the validated
//! [`Config`] the rest of the binary runs on.
//!
//! Two layers (STYLE item 10). [`raw`] mirrors the TOML one to one: every key
//! optional, every value with its position in the file, unknown keys
//! rejected. [`from_raw`] turns the merged raw files into a [`Config`] of
//! durations, listen addresses, compiled view templates and enums, collecting
//! every bad value with its file, line and key. `main` calls [`resolve_files`]
//! and [`load`] once at startup (there is no reload) and exits with status 2
//! on a [`ConfigError`]. Applying the config (binding sockets, opening the
//! database, sending alerts) is not done here.
//!
//! # Several files
//! `--config FILE` is read first, then every non-hidden regular file of
//! `--config-dir`, in name order. They are merged as they are read: a later
//! file's scalar keys override earlier ones, an `[alerts.NAME]` table
//! replaces the earlier table of the same name, and the arrays `[[alarms]]`,
//! `[[views]]`, `[[notify]]` and `[[checks]]` are **concatenated** (Go lovebeat let a later
//! file's array replace the earlier one, leaking fields between entries;
//! concatenating lets each file in the directory add its own alarms). To keep
//! errors pointing into the right file after merging, each file's spans are
//! moved into one offset space shared by all files ([`Sources`]).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use lovebeat_alert::MailTls;
use lovebeat_core::auto::Algorithm;
use lovebeat_core::pattern::ViewTemplate;
use lovebeat_http::StatusPageSettings;
use lovebeat_ingest::{Allow, parse_network};
use toml::Spanned;

// The path keeps working when the fuzz crate includes this file by path.
#[path = "config/seeds.rs"]
mod seeds;

pub use seeds::{CheckDef, Probes};

/// The main config file read when `--config` is not given; skipped if missing.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/lovebeat.cfg";

/// The directory whose files are read after the main config file.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/lovebeat.conf.d";

/// The most beat intervals `[auto] history` may keep per service.
pub const MAX_HISTORY: usize = 10_000;

/// The validated configuration. [`Config::default`] is what lovebeat runs
/// on without any config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Base URL of the dashboard, ending in `/`; alert links append to it.
    pub public_url: String,
    pub database: Database,
    pub udp: Listener,
    pub tcp: Listener,
    pub http: Http,
    pub mail: Mail,
    pub mailgun: Option<Mailgun>,
    pub slack: Slack,
    pub metrics: Metrics,
    pub eventlog: EventLog,
    /// Base URLs of peer lovebeats to autobeat (§7.2), without a trailing `/`.
    pub notify: Vec<String>,
    pub peers: Peers,
    pub prometheus: Prometheus,
    /// `[[alarms]]` in file order, then `[[views]]` in file order.
    pub views: Vec<ViewDef>,
    /// `[alerts.NAME]` tables by name.
    pub alerts: BTreeMap<String, AlertDef>,
    pub delivery: AlertDelivery,
    pub auto: Auto,
    /// `[[checks]]`: active checks, in file order.
    pub checks: Vec<CheckDef>,
    pub probes: Probes,
    pub status_page: StatusPageSettings,
    pub limits: Limits,
}

/// `[limits]`: how much of anything lovebeat takes (docs/RELIABILITY.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The longest protocol line, in bytes.
    pub line_length: usize,
    /// Open line-protocol TCP connections at most.
    pub tcp_connections: usize,
    /// A TCP connection silent this long is closed; None: never.
    pub tcp_idle_timeout: Option<Duration>,
    /// Open HTTP connections at most.
    pub http_connections: usize,
    /// The largest HTTP request body, in bytes.
    pub http_body: usize,
    /// How long an HTTP request's head, and then its body, may take.
    pub http_read_timeout: Duration,
    /// Websocket clients at once.
    pub websockets: usize,
    /// Services at most; None: no limit.
    pub services: Option<usize>,
    /// Batches the engine queue holds.
    pub queue: usize,
}

/// `[database]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// Relative to the working directory.
    pub filename: PathBuf,
    /// How long changed services may wait before they are written.
    pub interval: Duration,
    /// How long after a restart the view changes the downtime caused are
    /// held back before they alert (zero: not at all).
    pub startup_grace: Duration,
    /// A copy of the database in S3: None unless both `remote_s3_url` and
    /// `remote_s3_region` are set (as Go lovebeat required).
    pub remote_s3: Option<RemoteS3>,
}

/// `[database] remote_s3_*`: where the S3 copy is, how to reach it, and
/// how often it is brought up to date.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteS3 {
    /// `s3://bucket/path/to/lovebeat.db`.
    pub url: String,
    /// e.g. `eu-west-1`.
    pub region: String,
    /// `http(s)://HOST[:PORT]` of an S3-compatible store; None: AWS (or
    /// `AWS_ENDPOINT`).
    pub endpoint: Option<String>,
    /// Both or neither; None: AWS's environment variables, else the
    /// instance's credentials.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// The most often a snapshot is uploaded.
    pub interval: Duration,
}

/// Everything but the secret.
impl fmt::Debug for RemoteS3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteS3")
            .field("url", &self.url)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "…"),
            )
            .field("interval", &self.interval)
            .finish()
    }
}

/// `[database] remote_s3_interval` when not set.
pub const DEFAULT_S3_INTERVAL: Duration = Duration::from_secs(60);

/// `[udp]` or `[tcp]`: where the line protocol is served, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub listen: ListenAddr,
    /// Source networks allowed to send; empty: everyone.
    pub allow: Allow,
}

/// `[http]`: where the API, `/status`, `/metrics` and the dashboard are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http {
    pub listen: ListenAddr,
    /// The path everything is served under, without a trailing `/`
    /// (`/monitoring/lovebeat`), or `""` for the root: for a reverse proxy
    /// that passes the path on unchanged.
    pub base_path: String,
    /// Bearer tokens that may change anything (and read); empty: writes
    /// are open.
    pub write_tokens: Vec<String>,
    /// Bearer tokens that may read; empty: reads are open.
    pub read_tokens: Vec<String>,
    /// `/status` (and the views' status) needs no token.
    pub public_status: bool,
    /// `/metrics` needs no token.
    pub public_metrics: bool,
    /// Origins of pages, besides the served host, that may open `/ws`.
    pub allowed_origins: Vec<String>,
}

/// `[mail]`: the SMTP server for mail alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// `host:port`.
    pub server: String,
    pub from: String,
    /// Plain (Go lovebeat's only choice), STARTTLS or TLS.
    pub tls: MailTls,
    /// Login; None (the key set to `""`) sends without one.
    pub user: Option<String>,
    pub password: Option<String>,
}

/// `[mailgun]`: when present, mail alerts go through Mailgun instead of
/// SMTP. Present when `domain` is set (as in Go lovebeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailgun {
    pub domain: String,
    pub from: String,
    pub api_key: String,
    /// API base URL, without a trailing `/`.
    pub api_url: String,
}

/// `[delivery]`: how alerts are attempted, retried and given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertDelivery {
    /// Longest one attempt may take; a script is killed then.
    pub timeout: Duration,
    /// Wait after the first failure; it doubles after each further one.
    pub retry_first: Duration,
    /// Longest wait between two attempts.
    pub retry_max: Duration,
    /// Age after which an undelivered alert is dropped.
    pub give_up_after: Duration,
}

/// The Mailgun API base when `[mailgun] api_url` is not set.
pub const MAILGUN_API_URL: &str = "https://api.mailgun.net/v3";

/// `[slack]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slack {
    /// The incoming-webhook URL that alerts with a `slack_channel` post to.
    pub webhook_url: String,
}

/// `[metrics]`: statsd counters and gauges about lovebeat itself (§7.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// statsd `host:port`; None (the key set to `""`) turns them off.
    pub server: Option<String>,
    pub prefix: String,
}

/// `[eventlog]`: service and view events as JSON lines (§7.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog {
    /// None (the key set to `""`) turns the event log off.
    pub path: Option<PathBuf>,
    /// Permission bits for a new file (the TOML `644` means `0o644`).
    pub mode: u32,
}

/// `[peers]`: how this lovebeat autobeats its `[[notify]]` peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers {
    /// Between two `monitor` and `alerter` beats, and at least between two
    /// `save` beats.
    pub interval: Duration,
    /// The HOST of `lovebeat.HOST.*`; None: this machine's hostname up to
    /// its first `.`.
    pub host: Option<String>,
}

/// `[prometheus]`: how large `/metrics` may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prometheus {
    /// Services (and views), in name order, that get their own series.
    pub max_services: usize,
}

/// The most services `[prometheus] max_services` may ask for.
pub const MAX_PROMETHEUS_SERVICES: usize = 10_000_000;

/// `[auto]`: how AUTO timeouts are estimated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auto {
    pub algorithm: Algorithm,
    /// Beat intervals kept per service, 1 to [`MAX_HISTORY`].
    pub history: usize,
}

/// One `[[alarms]]` or legacy `[[views]]` entry, compiled.
#[derive(Debug, Clone)]
pub struct ViewDef {
    pub template: ViewTemplate,
    /// Names of `[alerts.NAME]` tables; every one exists.
    pub alerts: Vec<String>,
}

/// `ViewTemplate` holds compiled regexes and has no `PartialEq`; its `Debug`
/// rendering shows the name and every regex source, so compare that.
impl PartialEq for ViewDef {
    fn eq(&self, other: &ViewDef) -> bool {
        self.alerts == other.alerts
            && format!("{:?}", self.template) == format!("{:?}", other.template)
    }
}

/// One `[alerts.NAME]` table (§4.5). Each back-end acts when its key is set;
/// an empty string counts as unset, as in Go lovebeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertDef {
    /// Comma-separated recipients.
    pub mail: Option<String>,
    pub webhook: Option<String>,
    pub slack_channel: Option<String>,
    /// Run with no arguments and `LOVEBEAT_*` variables in its environment.
    pub script: Option<String>,
    /// Extra webhook request headers.
    pub webhook_headers: BTreeMap<String, String>,
    /// `sh -c` command run when the view turns healthy.
    pub on_ok: Option<String>,
    /// `sh -c` command run when the view turns unhealthy.
    pub on_error: Option<String>,
    /// Whether warning counts as unhealthy (else only errors alert).
    pub warnings: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            public_url: "http://lovebeat.example.com/".to_owned(),
            database: Database {
                filename: PathBuf::from("lovebeat.db"),
                interval: Duration::from_secs(1),
                startup_grace: Duration::ZERO,
                remote_s3: None,
            },
            udp: Listener {
                listen: ListenAddr::Any(8127),
                allow: Allow::default(),
            },
            tcp: Listener {
                listen: ListenAddr::Any(8127),
                allow: Allow::default(),
            },
            http: Http {
                listen: ListenAddr::Any(8080),
                base_path: String::new(),
                write_tokens: Vec::new(),
                read_tokens: Vec::new(),
                public_status: true,
                public_metrics: false,
                allowed_origins: Vec::new(),
            },
            mail: Mail {
                server: "localhost:25".to_owned(),
                from: "lovebeat@example.com".to_owned(),
                tls: MailTls::None,
                user: None,
                password: None,
            },
            mailgun: None,
            slack: Slack {
                webhook_url:
                    "https://hooks.slack.com/services/TXXXXXXXX/BXXXXXXXX/XXXXXXXXXXXXXXXXX"
                        .to_owned(),
            },
            metrics: Metrics {
                server: None,
                prefix: "lovebeat".to_owned(),
            },
            eventlog: EventLog {
                path: None,
                mode: 0o644,
            },
            notify: Vec::new(),
            peers: Peers {
                interval: Duration::from_secs(60),
                host: None,
            },
            prometheus: Prometheus {
                max_services: 10_000,
            },
            views: Vec::new(),
            alerts: BTreeMap::new(),
            delivery: AlertDelivery {
                timeout: Duration::from_secs(10),
                retry_first: Duration::from_secs(1),
                retry_max: Duration::from_secs(300),
                give_up_after: Duration::from_secs(86_400),
            },
            auto: Auto {
                algorithm: Algorithm::Median,
                history: 100,
            },
            limits: Limits {
                line_length: 1024,
                tcp_connections: 10_000,
                tcp_idle_timeout: None,
                http_connections: 1024,
                http_body: 64 * 1024,
                http_read_timeout: Duration::from_secs(10),
                websockets: 256,
                services: Some(1_000_000),
                queue: 4096,
            },
            checks: Vec::new(),
            probes: Probes::default(),
            status_page: seeds::default_status_page(),
        }
    }
}

/// A `listen` address: `:PORT` (every interface), `IP:PORT`, `[IPv6]:PORT`
/// or `localhost:PORT`. Port 0 lets the OS pick. Host names other than
/// `localhost` are not resolved: config does no I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenAddr {
    /// `:PORT`: every interface, IPv6 and IPv4.
    Any(u16),
    /// One address.
    Addr(SocketAddr),
}

impl ListenAddr {
    /// The addresses to try binding, in order, until one works: for `Any`,
    /// dual-stack `[::]` and then `0.0.0.0` for hosts without IPv6.
    pub fn bind_addrs(&self) -> Vec<SocketAddr> {
        match *self {
            ListenAddr::Any(port) => vec![
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            ],
            ListenAddr::Addr(addr) => vec![addr],
        }
    }
}

impl FromStr for ListenAddr {
    /// A one-line reason that quotes the input.
    type Err = String;

    fn from_str(s: &str) -> Result<ListenAddr, String> {
        let invalid = |why: &str| format!("invalid address {s:?}: {why}");
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| invalid("expected [HOST]:PORT, e.g. \":8127\""))?;
        let port: u16 = port
            .parse()
            .map_err(|_| invalid("the port must be a number from 0 to 65535"))?;
        if host.is_empty() {
            return Ok(ListenAddr::Any(port));
        }
        if host.eq_ignore_ascii_case("localhost") {
            return Ok(ListenAddr::Addr(SocketAddr::new(
                Ipv4Addr::LOCALHOST.into(),
                port,
            )));
        }
        let ip = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<Ipv6Addr>().map(IpAddr::V6),
            None => host.parse::<Ipv4Addr>().map(IpAddr::V4),
        };
        let ip = ip.map_err(|_| {
            invalid("the host must be an IP address (IPv6 in brackets) or localhost")
        })?;
        Ok(ListenAddr::Addr(SocketAddr::new(ip, port)))
    }
}

/// The config spelling: `:8127`, `127.0.0.1:8127`, `[::1]:8127`.
impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Any(port) => write!(f, ":{port}"),
            ListenAddr::Addr(addr) => write!(f, "{addr}"),
        }
    }
}

/// One thing wrong with the configuration, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file as given (or the origin a test passed to `from_str`).
    pub file: String,
    /// 1-based line in `file`, when the problem is in its text.
    pub line: Option<usize>,
    /// The key or table, spelled as in the file: `[http] listen`,
    /// `[[alarms]] pattern`, `public_url`, `[alerts.ops]`.
    pub key: Option<String>,
    /// One line, no trailing period.
    pub message: String,
}

/// `FILE:LINE: KEY: MESSAGE`, leaving out what is not known.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why the configuration cannot be used: every problem found, in file and
/// line order (at least one). A file that is not valid TOML stops at its
/// first syntax or type error; bad values are all collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<Problem>,
}

impl ConfigError {
    fn new(problem: Problem) -> ConfigError {
        ConfigError {
            problems: vec![problem],
        }
    }
}

/// One problem per line.
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The files to read, in order: `config` (or [`DEFAULT_CONFIG_FILE`] when
/// None, skipped if it does not exist; a missing file given explicitly is an
/// error), then every regular file of `config_dir` whose name does not start
/// with `.`, sorted by name. A missing `config_dir` is ignored.
pub fn resolve_files(
    config: Option<&Path>,
    config_dir: &Path,
) -> Result<Vec<PathBuf>, ConfigError> {
    resolve_files_with_default(config, Path::new(DEFAULT_CONFIG_FILE), config_dir)
}

/// [`resolve_files`] with another default main file (for tests).
fn resolve_files_with_default(
    config: Option<&Path>,
    default: &Path,
    config_dir: &Path,
) -> Result<Vec<PathBuf>, ConfigError> {
    let mut files = Vec::new();
    let main = config.unwrap_or(default);
    match fs::metadata(main) {
        Ok(_) => files.push(main.to_owned()),
        Err(err) if err.kind() == io::ErrorKind::NotFound && config.is_none() => {}
        Err(err) => return Err(ConfigError::new(io_problem(main, CANNOT_READ_FILE, &err))),
    }
    let entries = match fs::read_dir(config_dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(files),
        Err(err) => {
            return Err(ConfigError::new(io_problem(
                config_dir,
                CANNOT_READ_DIR,
                &err,
            )));
        }
    };
    let mut dir_files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|err| ConfigError::new(io_problem(config_dir, CANNOT_READ_DIR, &err)))?
            .path();
        let hidden = path
            .file_name()
            .is_some_and(|name| name.as_encoded_bytes().starts_with(b"."));
        // metadata() follows symlinks: a link to a file counts as a file.
        if !hidden && fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            dir_files.push(path);
        }
    }
    dir_files.sort();
    files.extend(dir_files);
    Ok(files)
}

/// Reads and merges `files` (as [`resolve_files`] gives them) over the
/// defaults. No files gives [`Config::default`].
pub fn load(files: &[PathBuf]) -> Result<Config, ConfigError> {
    let mut texts = Vec::with_capacity(files.len());
    let mut problems = Vec::new();
    for file in files {
        match fs::read_to_string(file) {
            Ok(text) => texts.push((file.display().to_string(), text)),
            Err(err) => problems.push(io_problem(file, CANNOT_READ_FILE, &err)),
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    build(texts)
}

/// One config file's text over the defaults; `origin` names it in errors.
#[cfg(any(test, fuzzing))]
pub fn from_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
    build(vec![(origin.to_owned(), text.to_owned())])
}

/// Several files' texts, `(origin, text)` in order, over the defaults.
#[cfg(fuzzing)]
pub fn from_strs(files: &[(&str, &str)]) -> Result<Config, ConfigError> {
    build(
        files
            .iter()
            .map(|(o, t)| (o.to_string(), t.to_string()))
            .collect(),
    )
}

const CANNOT_READ_FILE: &str = "cannot read config file";
const CANNOT_READ_DIR: &str = "cannot read config directory";

fn io_problem(path: &Path, what: &str, err: &io::Error) -> Problem {
    Problem {
        file: path.display().to_string(),
        line: None,
        key: None,
        message: format!("{what}: {err}"),
    }
}

/// Parses every `(origin, text)`, merges them in order and validates.
fn build(files: Vec<(String, String)>) -> Result<Config, ConfigError> {
    let mut sources = Sources::default();
    let mut merged = raw::File::default();
    let mut problems = Vec::new();
    for (origin, text) in files {
        match parse_file(&origin, &text) {
            Ok(file) => merged.merge(raw::Rebase::rebase(file, sources.next_base())),
            Err(problem) => problems.push(problem),
        }
        sources.add(origin, text);
    }
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    from_raw(merged, &sources)
}

/// One file's TOML into the raw layer, its spans still offsets into `text`.
fn parse_file(origin: &str, text: &str) -> Result<raw::File, Problem> {
    let mut file: raw::File = toml::from_str(text).map_err(|err| {
        let offset = err.span().map_or(0, |span| span.start);
        Problem {
            file: origin.to_owned(),
            line: Some(line_of(text, offset)),
            key: locate::key_at(text, offset),
            message: err.message().trim().replace('\n', "; "),
        }
    })?;
    // Go read `public_url` only from [general]; its sample put it at the
    // top. Take either, but not two different values from one file.
    if let Some(general) = file.general.public_url.take() {
        if let Some(top) = file
            .public_url
            .as_ref()
            .filter(|top| top.get_ref() != general.get_ref())
        {
            return Err(Problem {
                file: origin.to_owned(),
                line: Some(line_of(text, general.span().start)),
                key: Some("[general] public_url".to_owned()),
                message: format!(
                    "conflicts with the top-level public_url on line {}; keep one",
                    line_of(text, top.span().start)
                ),
            });
        }
        file.public_url = Some(general);
    }
    Ok(file)
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    1 + text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// The text of every file read, laid end to end (with one byte between
/// files): a span in the merged raw config is an offset into this, which
/// gives the file and the line.
#[derive(Default)]
struct Sources {
    files: Vec<Source>,
}

struct Source {
    origin: String,
    text: String,
    /// Where this file starts in the shared offset space.
    base: usize,
}

impl Sources {
    /// The base the next file added will get.
    fn next_base(&self) -> usize {
        self.files.last().map_or(0, |f| f.base + f.text.len() + 1)
    }

    fn add(&mut self, origin: String, text: String) {
        let base = self.next_base();
        self.files.push(Source { origin, text, base });
    }

    /// The file and line of a shared offset.
    fn site(&self, offset: usize) -> (&str, usize) {
        let file = self.file_at(offset);
        (&file.origin, line_of(&file.text, offset - file.base))
    }

    /// The text of a shared span, as written.
    fn text(&self, span: Range<usize>) -> &str {
        let file = self.file_at(span.start);
        file.text
            .get(span.start - file.base..span.end - file.base)
            .unwrap_or("")
    }

    fn file_at(&self, offset: usize) -> &Source {
        self.files
            .iter()
            .rev()
            .find(|f| f.base <= offset)
            .expect("a span from a file that was never added")
    }
}

/// Collects problems while [`from_raw`] builds the config.
struct Checker<'a> {
    sources: &'a Sources,
    /// With the shared offset, to sort them into file and line order.
    problems: Vec<(usize, Problem)>,
}

impl Checker<'_> {
    fn report(&mut self, span: Range<usize>, key: &str, message: String) {
        let (file, line) = self.sources.site(span.start);
        let problem = Problem {
            file: file.to_owned(),
            line: Some(line),
            key: Some(key.to_owned()),
            message,
        };
        self.problems.push((span.start, problem));
    }

    /// `check(value)` of a key, or `default` when the key is absent or its
    /// value is bad (then reported).
    fn value<T, U>(
        &mut self,
        key: &str,
        raw: Option<Spanned<T>>,
        default: U,
        check: impl FnOnce(T) -> Result<U, String>,
    ) -> U {
        let Some(raw) = raw else { return default };
        let span = raw.span();
        check(raw.into_inner()).unwrap_or_else(|message| {
            self.report(span, key, message);
            default
        })
    }

    /// The referenced alert names, each reported unless `alerts` has it.
    fn alert_refs(
        &mut self,
        key: &str,
        refs: Vec<Spanned<String>>,
        alerts: &BTreeMap<String, AlertDef>,
    ) -> Vec<String> {
        let mut names = Vec::with_capacity(refs.len());
        for name in refs {
            if !alerts.contains_key(name.get_ref()) {
                let message = format!(
                    "unknown alert {:?}: there is no [alerts.{}] table",
                    name.get_ref(),
                    locate::quote(name.get_ref())
                );
                self.report(name.span(), key, message);
            }
            names.push(name.into_inner());
        }
        names
    }

    fn finish(mut self, config: Config) -> Result<Config, ConfigError> {
        if self.problems.is_empty() {
            return Ok(config);
        }
        self.problems.sort_by_key(|(offset, _)| *offset);
        let problems = self.problems.into_iter().map(|(_, p)| p).collect();
        Err(ConfigError { problems })
    }
}

/// The merged raw files, validated: the one place a [`Config`] is built.
fn from_raw(raw: raw::File, sources: &Sources) -> Result<Config, ConfigError> {
    let d = Config::default();
    let mut c = Checker {
        sources,
        problems: Vec::new(),
    };
    let alerts: BTreeMap<String, AlertDef> = raw
        .alerts
        .into_iter()
        .map(|(name, alert)| {
            let def = alert_def(&mut c, &name, alert.into_inner());
            (name, def)
        })
        .collect();
    let mut views = Vec::new();
    for alarm in raw.alarms {
        views.extend(alarm_def(&mut c, alarm.into_inner(), &alerts));
    }
    for view in raw.views {
        views.extend(view_def(&mut c, view.into_inner(), &alerts));
    }
    let mut notify = Vec::new();
    for entry in raw.notify {
        let url = entry.into_inner().lovebeat;
        notify.extend(c.value("[[notify]] lovebeat", Some(url), None, |u| {
            notify_url(u).map(Some)
        }));
    }
    let (mut db, udp, tcp, http) = (raw.database, raw.udp, raw.tcp, raw.http);
    let remote_s3 = remote_s3(&mut c, &mut db);
    let (mail, mailgun, metrics, eventlog, auto) =
        (raw.mail, raw.mailgun, raw.metrics, raw.eventlog, raw.auto);
    let (peers, prometheus, limits) = (raw.peers, raw.prometheus, raw.limits);
    let delivery = alert_delivery(&mut c, raw.delivery);
    let config = Config {
        public_url: c.value("public_url", raw.public_url, d.public_url, public_url),
        database: Database {
            filename: c.value(
                "[database] filename",
                db.filename,
                d.database.filename,
                |f| non_empty(f).map(PathBuf::from),
            ),
            interval: c.value(
                "[database] interval",
                db.interval,
                d.database.interval,
                seconds,
            ),
            startup_grace: c.value(
                "[database] startup_grace",
                db.startup_grace,
                d.database.startup_grace,
                seconds_or_zero,
            ),
            remote_s3,
        },
        udp: Listener {
            listen: c.value("[udp] listen", udp.listen, d.udp.listen, |s| s.parse()),
            allow: c.value("[udp] allow", udp.allow, d.udp.allow, allow),
        },
        tcp: Listener {
            listen: c.value("[tcp] listen", tcp.listen, d.tcp.listen, |s| s.parse()),
            allow: c.value("[tcp] allow", tcp.allow, d.tcp.allow, allow),
        },
        http: Http {
            listen: c.value("[http] listen", http.listen, d.http.listen, |s| s.parse()),
            base_path: c.value(
                "[http] base_path",
                http.base_path,
                d.http.base_path,
                base_path,
            ),
            write_tokens: c.value("[http] write_tokens", http.write_tokens, vec![], tokens),
            read_tokens: c.value("[http] read_tokens", http.read_tokens, vec![], tokens),
            public_status: c.value("[http] public_status", http.public_status, true, Ok),
            public_metrics: c.value("[http] public_metrics", http.public_metrics, false, Ok),
            allowed_origins: c.value(
                "[http] allowed_origins",
                http.allowed_origins,
                vec![],
                origins,
            ),
        },
        mail: Mail {
            server: c.value("[mail] server", mail.server, d.mail.server, host_port),
            from: c.value("[mail] from", mail.from, d.mail.from, mailbox),
            tls: c.value("[mail] tls", mail.tls, d.mail.tls, |s| s.parse()),
            user: c.value("[mail] user", mail.user, d.mail.user, |s| {
                Ok(off_if_empty(s))
            }),
            password: c.value("[mail] password", mail.password, d.mail.password, |s| {
                Ok(off_if_empty(s))
            }),
        },
        mailgun: mailgun_def(&mut c, mailgun),
        slack: Slack {
            webhook_url: c.value(
                "[slack] webhook_url",
                raw.slack.webhook_url,
                d.slack.webhook_url,
                Ok,
            ),
        },
        metrics: Metrics {
            server: c.value("[metrics] server", metrics.server, d.metrics.server, |s| {
                off_if_empty(s).map(host_port).transpose()
            }),
            prefix: c.value("[metrics] prefix", metrics.prefix, d.metrics.prefix, Ok),
        },
        eventlog: EventLog {
            path: c.value("[eventlog] path", eventlog.path, d.eventlog.path, |p| {
                Ok(off_if_empty(p).map(PathBuf::from))
            }),
            mode: {
                let mode = eventlog.mode;
                let is_octal = mode
                    .as_ref()
                    .is_some_and(|m| sources.text(m.span()).starts_with("0o"));
                c.value("[eventlog] mode", mode, d.eventlog.mode, |m| {
                    file_mode(m, is_octal)
                })
            },
        },
        notify,
        peers: Peers {
            interval: c.value(
                "[peers] interval",
                peers.interval,
                d.peers.interval,
                seconds,
            ),
            host: c.value("[peers] host", peers.host, d.peers.host, |h| {
                off_if_empty(h).map(peer_host).transpose()
            }),
        },
        prometheus: Prometheus {
            max_services: c.value(
                "[prometheus] max_services",
                prometheus.max_services,
                d.prometheus.max_services,
                max_services,
            ),
        },
        views,
        alerts,
        delivery,
        auto: Auto {
            algorithm: c.value("[auto] algorithm", auto.algorithm, d.auto.algorithm, |s| {
                s.parse().map_err(|err| format!("{err}"))
            }),
            history: c.value("[auto] history", auto.history, d.auto.history, history),
        },
        limits: limits_def(&mut c, limits, d.limits),
        checks: seeds::checks(&mut c, raw.checks),
        probes: seeds::probes(&mut c, raw.probes),
        status_page: seeds::status_page(&mut c, raw.status_page),
    };
    c.finish(config)
}

/// `[limits]`, each key within its range.
fn limits_def(c: &mut Checker<'_>, raw: raw::Limits, d: Limits) -> Limits {
    let mut count =
        |key: &str, value: Option<Spanned<i64>>, default: usize, min: usize, max: usize| {
            c.value(&format!("[limits] {key}"), value, default, |v| {
                usize::try_from(v)
                    .ok()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| format!("must be from {min} to {max} (got {v})"))
            })
        };
    const MILLION: usize = 1_000_000;
    let line_length = count("line_length", raw.line_length, d.line_length, 16, 65_536);
    let tcp_connections = count(
        "tcp_connections",
        raw.tcp_connections,
        d.tcp_connections,
        1,
        MILLION,
    );
    let http_connections = count(
        "http_connections",
        raw.http_connections,
        d.http_connections,
        1,
        MILLION,
    );
    let http_body = count("http_body", raw.http_body, d.http_body, 1024, 64 << 20);
    let websockets = count("websockets", raw.websockets, d.websockets, 0, MILLION);
    let queue = count("queue", raw.queue, d.queue, 1, MILLION);
    let services = count(
        "services",
        raw.services,
        d.services.unwrap_or(0),
        0,
        100 * MILLION,
    );
    Limits {
        line_length,
        tcp_connections,
        tcp_idle_timeout: c.value(
            "[limits] tcp_idle_timeout",
            raw.tcp_idle_timeout,
            d.tcp_idle_timeout,
            |s| seconds_or_zero(s).map(|d| (!d.is_zero()).then_some(d)),
        ),
        http_connections,
        http_body,
        http_read_timeout: c.value(
            "[limits] http_read_timeout",
            raw.http_read_timeout,
            d.http_read_timeout,
            seconds,
        ),
        websockets,
        services: (services > 0).then_some(services),
        queue,
    }
}

/// `[udp] allow`, `[tcp] allow`: networks, each `ADDRESS[/PREFIX]`.
fn allow(networks: Vec<String>) -> Result<Allow, String> {
    let nets = networks.iter().map(|n| parse_network(n));
    nets.collect::<Result<Vec<_>, _>>().map(Allow)
}

/// The shortest token accepted: long enough not to be guessed.
const MIN_TOKEN: usize = 16;

/// `[http] write_tokens`, `read_tokens`: printable ASCII without spaces,
/// at least [`MIN_TOKEN`] long.
fn tokens(tokens: Vec<String>) -> Result<Vec<String>, String> {
    for (i, t) in tokens.iter().enumerate() {
        let printable = t.bytes().all(|b| b.is_ascii_graphic());
        if t.len() < MIN_TOKEN || !printable {
            return Err(format!(
                "token {} must be at least {MIN_TOKEN} printable ASCII characters without \
                 spaces (e.g. from `openssl rand -hex 24`)",
                i + 1
            ));
        }
    }
    Ok(tokens)
}

/// `[http] allowed_origins`: `*`, or `http(s)://HOST[:PORT]` as browsers
/// send it (no path), kept without a trailing `/`.
fn origins(origins: Vec<String>) -> Result<Vec<String>, String> {
    origins
        .into_iter()
        .map(|o| {
            let trimmed = o.trim_end_matches('/');
            let host = trimmed
                .strip_prefix("http://")
                .or_else(|| trimmed.strip_prefix("https://"));
            match host {
                _ if o == "*" => Ok(o),
                Some(h) if !h.is_empty() && !h.contains(['/', '?', '#', ' ']) => {
                    Ok(trimmed.to_owned())
                }
                _ => Err(format!(
                    "invalid origin {o:?}: expected \"*\" or scheme://host[:port], \
                     e.g. \"https://dashboard.example.com\""
                )),
            }
        })
        .collect()
}

/// An unchecked string key's value, `""` when absent.
fn text(value: Option<Spanned<String>>) -> String {
    value.map(Spanned::into_inner).unwrap_or_default()
}

/// The S3 copy: on when both `remote_s3_url` and `remote_s3_region` are
/// set (as Go lovebeat required); the other keys are checked either way.
fn remote_s3(c: &mut Checker<'_>, db: &mut raw::Database) -> Option<RemoteS3> {
    let url_span = db.remote_s3_url.as_ref().map(Spanned::span);
    let url = c.value(
        "[database] remote_s3_url",
        db.remote_s3_url.take(),
        None,
        |u| off_if_empty(u).map(s3_url).transpose(),
    );
    let region = off_if_empty(text(db.remote_s3_region.take()));
    let endpoint = c.value(
        "[database] remote_s3_endpoint",
        db.remote_s3_endpoint.take(),
        None,
        |e| off_if_empty(e).map(s3_endpoint).transpose(),
    );
    let key_span = db.remote_s3_access_key_id.as_ref().map(Spanned::span);
    let secret_span = db.remote_s3_secret_access_key.as_ref().map(Spanned::span);
    let access_key_id = off_if_empty(text(db.remote_s3_access_key_id.take()));
    let secret_access_key = off_if_empty(text(db.remote_s3_secret_access_key.take()));
    let interval = c.value(
        "[database] remote_s3_interval",
        db.remote_s3_interval.take(),
        DEFAULT_S3_INTERVAL,
        seconds,
    );
    if access_key_id.is_some() != secret_access_key.is_some() {
        let (key, span) = match access_key_id {
            Some(_) => ("[database] remote_s3_access_key_id", key_span),
            None => ("[database] remote_s3_secret_access_key", secret_span),
        };
        let message = "needs remote_s3_access_key_id and remote_s3_secret_access_key both set \
                       (or both empty, for AWS's environment variables)";
        c.report(span.or(url_span).unwrap_or(0..0), key, message.to_owned());
    }
    Some(RemoteS3 {
        url: url?,
        region: region?,
        endpoint,
        access_key_id,
        secret_access_key,
        interval,
    })
}

/// `s3://BUCKET/KEY`, as Go lovebeat took it: the bucket is the host, the
/// key the path without its leading `/`.
fn s3_url(url: String) -> Result<String, String> {
    let valid = url
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(bucket, key)| {
            !bucket.is_empty()
                && !key.is_empty()
                && !key.ends_with('/')
                && key
                    .split('/')
                    .all(|part| !part.is_empty() && part != "." && part != "..")
        });
    if valid {
        Ok(url)
    } else {
        Err(format!(
            "invalid S3 URL {url:?}: expected s3://BUCKET/PATH/TO/OBJECT"
        ))
    }
}

/// An S3-compatible store's base URL, kept without a trailing `/`.
fn s3_endpoint(url: String) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {
            Ok(url.trim_end_matches('/').to_owned())
        }
        _ => Err(format!(
            "invalid endpoint {url:?}: expected http://HOST[:PORT] or https://…"
        )),
    }
}

fn mailgun_def(c: &mut Checker<'_>, raw: raw::Mailgun) -> Option<Mailgun> {
    let domain = off_if_empty(text(raw.domain))?;
    let api_url = c.value("[mailgun] api_url", raw.api_url, None, |u| {
        http_url(u).map(Some)
    });
    Some(Mailgun {
        domain,
        from: text(raw.from),
        api_key: text(raw.api_key),
        api_url: api_url.unwrap_or_else(|| MAILGUN_API_URL.to_owned()),
    })
}

/// `[delivery]`: every key whole seconds, at least 1.
fn alert_delivery(c: &mut Checker<'_>, raw: raw::Delivery) -> AlertDelivery {
    let d = Config::default().delivery;
    AlertDelivery {
        timeout: c.value("[delivery] timeout", raw.timeout, d.timeout, seconds),
        retry_first: c.value(
            "[delivery] retry_first",
            raw.retry_first,
            d.retry_first,
            seconds,
        ),
        retry_max: c.value("[delivery] retry_max", raw.retry_max, d.retry_max, seconds),
        give_up_after: c.value(
            "[delivery] give_up_after",
            raw.give_up_after,
            d.give_up_after,
            seconds,
        ),
    }
}

/// An `[alerts.NAME]` table; an empty string counts as unset.
fn alert_def(c: &mut Checker<'_>, name: &str, alert: raw::Alert) -> AlertDef {
    let table = format!("[alerts.{}]", locate::quote(name));
    let key = |k: &str| format!("{table} {k}");
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
    AlertDef {
        mail,
        webhook,
        slack_channel,
        script,
        webhook_headers,
        on_ok,
        on_error,
        warnings: alert.warnings.is_some_and(Spanned::into_inner),
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

/// An http or https URL to POST to.
fn http_url(url: String) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(url),
        _ => Err(format!(
            "invalid URL {url:?}: expected http://HOST/… or https://…"
        )),
    }
}

/// An `[[alarms]]` entry: a §4.2 glob template.
fn alarm_def(
    c: &mut Checker<'_>,
    alarm: raw::Alarm,
    alerts: &BTreeMap<String, AlertDef>,
) -> Option<ViewDef> {
    let name_span = alarm.name.span();
    let name = c.value("[[alarms]] name", Some(alarm.name), None, |n| {
        non_empty(n).map(Some)
    })?;
    let alert_names = c.alert_refs("[[alarms]] alerts", alarm.alerts, alerts);
    let strings =
        |list: &[Spanned<String>]| list.iter().map(|s| s.get_ref().clone()).collect::<Vec<_>>();
    let (includes, excludes) = (strings(&alarm.includes), strings(&alarm.excludes));
    let team = alarm.team.map(Spanned::into_inner).and_then(off_if_empty);
    // A team alone selects every service of the team.
    let everything = team.is_some() && alarm.pattern.is_none() && includes.is_empty();
    let pattern = match &alarm.pattern {
        Some(p) => Some(p.get_ref().as_str()),
        None if everything => Some("*"),
        None => None,
    };
    match ViewTemplate::glob(&name, pattern, &includes, &excludes) {
        Ok(template) => Some(ViewDef {
            template: template.with_team(team),
            alerts: alert_names,
        }),
        Err(err) => {
            // Point at the glob that failed (the name template cannot fail).
            let culprit = alarm
                .pattern
                .iter()
                .map(|p| ("[[alarms]] pattern", p))
                .chain(alarm.includes.iter().map(|p| ("[[alarms]] includes", p)))
                .chain(alarm.excludes.iter().map(|p| ("[[alarms]] excludes", p)))
                .find(|(_, p)| p.get_ref() == err.pattern());
            let (key, span) =
                culprit.map_or(("[[alarms]] name", name_span), |(key, p)| (key, p.span()));
            c.report(span, key, err.to_string());
            None
        }
    }
}

/// A legacy `[[views]]` entry: an unanchored regex under a fixed name.
fn view_def(
    c: &mut Checker<'_>,
    view: raw::View,
    alerts: &BTreeMap<String, AlertDef>,
) -> Option<ViewDef> {
    let name = c.value("[[views]] name", Some(view.name), None, |n| {
        non_empty(n).map(Some)
    })?;
    let alert_names = c.alert_refs("[[views]] alerts", view.alerts, alerts);
    let template = c.value("[[views]] regexp", Some(view.regexp), None, |regexp| {
        ViewTemplate::regex(&name, &regexp)
            .map(Some)
            .map_err(|err| err.to_string())
    })?;
    Some(ViewDef {
        template,
        alerts: alert_names,
    })
}

fn non_empty(s: String) -> Result<String, String> {
    if s.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(s)
    }
}

/// `""` means "off" for optional features.
fn off_if_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Alert links append `alarms/NAME` to it, so it must end with `/`; add one.
fn public_url(url: String) -> Result<String, String> {
    let mut url = non_empty(url)?;
    if !url.ends_with('/') {
        url.push('/');
    }
    Ok(url)
}

/// `[http] base_path`: `""` or `/` for the root, else `/SEGMENT[/SEGMENT…]`
/// of URL-safe characters, kept without its trailing `/`. Anything that
/// would need escaping (or `.`/`..` segments) is refused: the path ends up
/// in links and in the page's `<base href>`.
fn base_path(path: String) -> Result<String, String> {
    lovebeat_http::normalize_path(&path).ok_or_else(|| {
        format!(
            "invalid path {path:?}: expected \"\" or a path like \"/monitoring/lovebeat\" \
             (letters, digits, - . _ ~ between slashes)"
        )
    })
}

fn seconds(value: i64) -> Result<Duration, String> {
    u64::try_from(value)
        .ok()
        .filter(|&s| s >= 1)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("must be a whole number of seconds, at least 1 (got {value})"))
}

fn seconds_or_zero(value: i64) -> Result<Duration, String> {
    u64::try_from(value)
        .map(Duration::from_secs)
        .map_err(|_| format!("must be a whole number of seconds, 0 or more (got {value})"))
}

/// `HOST:PORT` for outgoing connections; the host is resolved when used.
fn host_port(s: String) -> Result<String, String> {
    let valid = s
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if valid {
        Ok(s)
    } else {
        Err(format!("invalid address {s:?}: expected HOST:PORT"))
    }
}

/// Go lovebeat read `mode = 644` as a decimal number and used its digits as
/// octal; so do we, rejecting what is not an octal permission. A TOML octal
/// literal (`mode = 0o644`, `is_octal`) is taken as it is.
fn file_mode(value: i64, is_octal: bool) -> Result<u32, String> {
    let mode = if is_octal {
        u32::try_from(value).ok()
    } else {
        u32::from_str_radix(&value.to_string(), 8).ok()
    };
    mode.filter(|&m| m <= 0o7777).ok_or_else(|| {
        format!("invalid file mode {value}: expected up to 4 octal digits (0-7), e.g. 644")
    })
}

fn history(value: i64) -> Result<usize, String> {
    usize::try_from(value)
        .ok()
        .filter(|n| (1..=MAX_HISTORY).contains(n))
        .ok_or_else(|| format!("must be from 1 to {MAX_HISTORY} (got {value})"))
}

/// The HOST of `lovebeat.HOST.*`: one name segment.
fn peer_host(host: String) -> Result<String, String> {
    let valid = host
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        Ok(host)
    } else {
        Err(format!(
            "invalid host {host:?}: use a-z 0-9 _ - (it becomes lovebeat.HOST.monitor)"
        ))
    }
}

fn max_services(value: i64) -> Result<usize, String> {
    usize::try_from(value)
        .ok()
        .filter(|n| *n <= MAX_PROMETHEUS_SERVICES)
        .ok_or_else(|| format!("must be from 0 to {MAX_PROMETHEUS_SERVICES} (got {value})"))
}

/// A peer's base URL (§7.2): http or https; a trailing `/` is dropped since
/// the API path is appended.
fn notify_url(url: String) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {
            Ok(url.trim_end_matches('/').to_owned())
        }
        _ => Err(format!(
            "invalid URL {url:?}: expected http://HOST[:PORT] or https://…"
        )),
    }
}

/// The TOML as written: a serde mirror of every key, each optional and with
/// its span, unknown keys rejected. Defaults and checks live in [`from_raw`].
mod raw {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use toml::Spanned;

    /// An optional key, with where its value is.
    type Opt<T> = Option<Spanned<T>>;

    /// One config file.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct File {
        /// Base URL of the dashboard, used in Slack links. Also accepted as
        /// `[general] public_url`, where Go lovebeat read it.
        pub public_url: Opt<String>,
        /// `[general]`.
        pub general: General,
        /// `[database]`.
        pub database: Database,
        /// `[udp]`.
        pub udp: Listener,
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
        pub notify: Vec<Spanned<Notify>>,
        /// `[peers]`.
        pub peers: Peers,
        /// `[prometheus]`.
        pub prometheus: Prometheus,
        /// `[[alarms]]`: glob view templates.
        pub alarms: Vec<Spanned<Alarm>>,
        /// `[[views]]`: legacy regex views.
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
        pub checks: Vec<Spanned<Check>>,
        /// `[probes]`.
        pub probes: Probes,
        /// `[status_page]`.
        pub status_page: StatusPage,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Check {
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
        /// The status that passes (default: any 2xx).
        pub expect_status: Opt<i64>,
        /// Text the body must contain.
        pub expect_body: Opt<String>,
        /// PEM file of the CA certificates to trust instead of the system's.
        pub ca_file: Opt<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Probes {
        /// Check runs in flight at once.
        pub concurrency: Opt<i64>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct StatusPage {
        /// The page's title.
        pub title: Opt<String>,
        /// Views to show, in order; empty: every view.
        pub views: Opt<Vec<Spanned<String>>>,
        /// Services to show besides the views' members; empty: those in no view.
        pub services: Opt<Vec<Spanned<String>>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct General {
        /// Base URL of the dashboard (moved to the top level when read).
        pub public_url: Opt<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Database {
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
    pub(super) struct Listener {
        /// `[HOST]:PORT` to listen on.
        pub listen: Opt<String>,
        /// Source networks allowed to send, e.g. `["10.0.0.0/8", "::1"]`;
        /// empty allows everyone.
        pub allow: Opt<Vec<String>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Http {
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
        /// Origins of pages (besides the served host) that may open `/ws`.
        pub allowed_origins: Opt<Vec<String>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Limits {
        /// The longest protocol line, in bytes.
        pub line_length: Opt<i64>,
        /// Open line-protocol TCP connections at most.
        pub tcp_connections: Opt<i64>,
        /// Seconds a TCP connection may stay silent; 0 is forever.
        pub tcp_idle_timeout: Opt<i64>,
        /// Open HTTP connections at most.
        pub http_connections: Opt<i64>,
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
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Mail {
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
    pub(super) struct Mailgun {
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
    pub(super) struct Delivery {
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
    pub(super) struct Slack {
        /// Incoming-webhook URL for alerts with a `slack_channel`.
        pub webhook_url: Opt<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Metrics {
        /// statsd `HOST:PORT` for lovebeat's own metrics; `""` is off.
        pub server: Opt<String>,
        /// Prefix of every metric name.
        pub prefix: Opt<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct EventLog {
        /// JSON-lines event file; `""` is off.
        pub path: Opt<String>,
        /// Permissions of a new file, octal digits written as a number (644).
        pub mode: Opt<i64>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Peers {
        /// Seconds between the `monitor` and `alerter` autobeats to peers.
        pub interval: Opt<i64>,
        /// HOST in `lovebeat.HOST.*`; `""` is the hostname up to its first `.`.
        pub host: Opt<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Prometheus {
        /// Services (and views) that get their own series on `/metrics`.
        pub max_services: Opt<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Notify {
        /// Base URL of a peer lovebeat, e.g. `http://other:8080`.
        pub lovebeat: Spanned<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Alarm {
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
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct View {
        /// The view name.
        pub name: Spanned<String>,
        /// A regex matched anywhere in the service name (unanchored).
        pub regexp: Spanned<String>,
        /// Names of `[alerts.NAME]` tables.
        #[serde(default)]
        pub alerts: Vec<Spanned<String>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Alert {
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
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Auto {
        /// AUTO estimator: `median`, `adaptive` or `rhythm` (a service can
        /// pick its own with the HTTP parameter `auto_algorithm`).
        pub algorithm: Opt<String>,
        /// Beat intervals kept per service.
        pub history: Opt<i64>,
    }

    /// Moves a value's spans from its own file's offsets to the shared
    /// offset space of `Sources`, by adding the file's base.
    pub(super) trait Rebase {
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
        Listener { listen, allow }
        Http {
            listen, base_path, write_tokens, read_tokens, public_status, public_metrics,
            allowed_origins
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
            http_read_timeout, websockets, services, queue
        }
        Probes { concurrency }
        StatusPage { title, views, services }
    }

    rebase_fields! {
        Notify { lovebeat }
        Alarm { name, pattern, includes, excludes, alerts, team }
        Check {
            name, kind, url, host, port, path, timeout, interval, attempts, expect_status,
            expect_body, ca_file
        }
        View { name, regexp, alerts }
        Alert { mail, webhook, slack_channel, script, webhook_headers, on_ok, on_error, warnings }
        File {
            public_url, general, database, udp, tcp, http, mail, mailgun, slack,
            metrics, eventlog, notify, peers, prometheus, alarms, views, alerts, delivery, auto,
            limits,
            checks, probes, status_page
        }
    }

    impl File {
        /// Adds a later file (already rebased): scalars override, arrays
        /// are concatenated, `[alerts.NAME]` tables replace by name.
        pub(super) fn merge(&mut self, later: File) {
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
        }
    }
}

/// Which key a TOML error points at, for the message: `[http] listen`.
mod locate {
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::fmt;
    use toml::Spanned;

    /// Any TOML document, keeping the span of every key and value.
    enum Node {
        Leaf,
        Table(Vec<(Spanned<String>, Spanned<Node>)>),
        Array(Vec<Spanned<Node>>),
    }

    /// A step of the path to a key.
    enum Step {
        Key(String),
        /// An element of an array of tables (`[[alarms]]`).
        Element,
    }

    /// The key or table at byte `offset` of `text`, spelled as in the file.
    pub(super) fn key_at(text: &str, offset: usize) -> Option<String> {
        // A document that does not parse (or holds a datetime, which the
        // span tree does not take) is located by its lines instead.
        let Ok(root) = toml::from_str::<Node>(text) else {
            return key_by_lines(text, offset);
        };
        let mut path = Vec::new();
        let is_table = find(&root, offset, &mut path)?;
        Some(render(&path, is_table))
    }

    /// Fills `path` with the deepest key whose key or value span holds
    /// `offset`, returning whether that value is a table. Children are
    /// searched whatever their parent's span: a `[header]` table's span is
    /// only the header.
    fn find(node: &Node, offset: usize, path: &mut Vec<Step>) -> Option<bool> {
        let Node::Table(entries) = node else {
            return None;
        };
        for (key, value) in entries {
            path.push(Step::Key(key.get_ref().clone()));
            if let Some(is_table) = find_within(value.get_ref(), offset, path) {
                return Some(is_table);
            }
            if holds(key, offset) || holds(value, offset) {
                return Some(!matches!(value.get_ref(), Node::Leaf | Node::Array(_)));
            }
            path.pop();
        }
        None
    }

    /// Like [`find`] for a value: into tables, and into the elements of
    /// arrays of tables (an element's own span is its `[[header]]`).
    fn find_within(node: &Node, offset: usize, path: &mut Vec<Step>) -> Option<bool> {
        match node {
            Node::Leaf => None,
            Node::Table(_) => find(node, offset, path),
            Node::Array(items) => items.iter().find_map(|item| {
                if !matches!(item.get_ref(), Node::Table(_)) {
                    return None;
                }
                path.push(Step::Element);
                let found = find(item.get_ref(), offset, path)
                    .or_else(|| holds(item, offset).then_some(true));
                if found.is_none() {
                    path.pop();
                }
                found
            }),
        }
    }

    fn holds<T>(spanned: &Spanned<T>, offset: usize) -> bool {
        let span = spanned.span();
        span.contains(&offset) || span.start == offset
    }

    /// `[a.b]` or `[[a]]` for a table, `[a.b] key` or `key` for a key.
    fn render(path: &[Step], is_table: bool) -> String {
        let (table, key) = match (is_table, path.split_last()) {
            (false, Some((Step::Key(key), table))) => (table, Some(key.as_str())),
            _ => (path, None),
        };
        let names: Vec<String> = table
            .iter()
            .filter_map(|step| match step {
                Step::Key(k) => Some(quote(k)),
                Step::Element => None,
            })
            .collect();
        let header = match () {
            _ if names.is_empty() => String::new(),
            _ if table.iter().any(|s| matches!(s, Step::Element)) => {
                format!("[[{}]]", names.join("."))
            }
            _ => format!("[{}]", names.join(".")),
        };
        match key {
            Some(key) if header.is_empty() => quote(key),
            Some(key) => format!("{header} {}", quote(key)),
            None => header,
        }
    }

    /// A key as TOML spells it: bare if it can be.
    pub(super) fn quote(key: &str) -> String {
        let bare = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if bare {
            key.to_owned()
        } else {
            format!("{key:?}")
        }
    }

    /// For text that is not valid TOML: the last `[header]` line at or
    /// before the offset, and the `key =` of the offset's line if it has one.
    fn key_by_lines(text: &str, offset: usize) -> Option<String> {
        let offset = offset.min(text.len());
        let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        let line = text[line_start..line_end].trim();
        let header = text[..line_end]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .and_then(header_of);
        let key = (!line.starts_with('['))
            .then(|| line.split_once('='))
            .flatten()
            .map(|(key, _)| key.trim())
            .filter(|key| !key.is_empty() && !key.contains(char::is_whitespace));
        match (header, key) {
            (Some(header), Some(key)) => Some(format!("{header} {key}")),
            (header, key) => header.or(key.map(str::to_owned)),
        }
    }

    /// `[name]` or `[[name]]` from a header line, without any comment.
    fn header_of(line: &str) -> Option<String> {
        let close = if line.starts_with("[[") { "]]" } else { "]" };
        let end = line.find(close)? + close.len();
        Some(line[..end].to_owned())
    }

    impl<'de> Deserialize<'de> for Node {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
            deserializer.deserialize_any(NodeVisitor)
        }
    }

    struct NodeVisitor;

    impl<'de> Visitor<'de> for NodeVisitor {
        type Value = Node;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any TOML value")
        }

        fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
            Ok(Node::Leaf)
        }

        fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
            Ok(Node::Leaf)
        }

        fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
            Ok(Node::Leaf)
        }

        fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
            Ok(Node::Leaf)
        }

        fn visit_str<E>(self, _: &str) -> Result<Node, E> {
            Ok(Node::Leaf)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
            let mut entries = Vec::new();
            while let Some(entry) = map.next_entry()? {
                entries.push(entry);
            }
            Ok(Node::Table(entries))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(Node::Array(items))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        from_str(text, "test.toml").unwrap_or_else(|err| panic!("{err}"))
    }

    /// The one-line message for a config that must fail.
    fn error(text: &str) -> String {
        match from_str(text, "/etc/lovebeat.cfg") {
            Ok(config) => panic!("accepted: {config:?}"),
            Err(err) => err.to_string(),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// A scratch directory, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("lovebeat-config-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn defaults() {
        let config = Config::default();
        assert_eq!(config.public_url, "http://lovebeat.example.com/");
        assert_eq!(config.database.filename, PathBuf::from("lovebeat.db"));
        assert_eq!(config.database.interval, Duration::from_secs(1));
        assert_eq!(config.database.remote_s3, None);
        assert_eq!(config.udp.listen, ListenAddr::Any(8127));
        assert_eq!(config.tcp.listen, ListenAddr::Any(8127));
        assert_eq!(config.http.listen, ListenAddr::Any(8080));
        assert_eq!(config.mail.server, "localhost:25");
        assert_eq!(config.mail.from, "lovebeat@example.com");
        assert_eq!(config.mailgun, None);
        assert_eq!(config.metrics.server, None);
        assert_eq!(config.metrics.prefix, "lovebeat");
        assert_eq!(config.eventlog.path, None);
        assert_eq!(config.eventlog.mode, 0o644);
        assert!(config.notify.is_empty() && config.views.is_empty() && config.alerts.is_empty());
        assert_eq!(config.auto.algorithm, Algorithm::Median);
        assert_eq!(config.auto.history, 100);
        assert_eq!(config.mail.tls, MailTls::None);
        assert_eq!(config.delivery.timeout, Duration::from_secs(10));
        assert_eq!(config.delivery.give_up_after, Duration::from_secs(86_400));
        assert_eq!(config.peers.interval, Duration::from_secs(60));
        assert_eq!(config.peers.host, None);
        assert_eq!(config.prometheus.max_services, 10_000);
        assert!(config.http.write_tokens.is_empty() && config.http.read_tokens.is_empty());
        assert!(config.udp.allow.0.is_empty() && config.tcp.allow.0.is_empty());
        assert_eq!(config.limits.services, Some(1_000_000));
        assert_eq!(config.limits.tcp_idle_timeout, None);
    }

    #[test]
    fn mailgun_api_url_defaults_to_the_us_region() {
        let config = parse("[mailgun]\ndomain = \"mg.example.org\"\n");
        assert_eq!(config.mailgun.unwrap().api_url, MAILGUN_API_URL);
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
        let alert = &config.alerts["ops"];
        assert!(!alert.warnings && alert.on_ok.is_none() && alert.webhook_headers.is_empty());
    }

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(parse(""), Config::default());
        assert_eq!(load(&[]).unwrap(), Config::default());
    }

    #[test]
    fn lovebeat_toml_is_the_defaults() {
        let config = from_str(include_str!("../lovebeat.toml"), "lovebeat.toml");
        assert_eq!(config.unwrap(), Config::default());
    }

    /// Uncomments the `# [table]`, `# key = value` and `# # comment` lines.
    fn uncomment_examples(text: &str) -> String {
        let is_code = |rest: &str| {
            rest.starts_with('[')
                || rest.starts_with('#')
                || rest.split_once(" = ").is_some_and(|(key, _)| {
                    key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                })
        };
        text.lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if is_code(rest) => rest,
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn lovebeat_toml_examples_are_valid() {
        let text = uncomment_examples(include_str!("../lovebeat.toml"));
        let config = from_str(&text, "lovebeat.toml").unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(config.views.len(), 2);
        assert_eq!(config.views[0].template.name_template(), "server-$name");
        assert_eq!(config.views[1].template.name_template(), "web");
        assert_eq!(config.views[0].alerts, strings(&["mail-ops"]));
        let alert = &config.alerts["mail-ops"];
        assert_eq!(alert.slack_channel.as_deref(), Some("#ops"));
        assert!(alert.mail.is_some() && alert.webhook.is_some() && alert.script.is_some());
        assert_eq!(config.notify, strings(&["http://other-host:8080"]));
    }

    #[test]
    fn the_s3_copy_takes_its_defaults_and_hides_its_secret() {
        let config =
            parse("[database]\nremote_s3_url = \"s3://b/a/k\"\nremote_s3_region = \"r\"\n");
        let s3 = config.database.remote_s3.unwrap();
        assert_eq!((s3.endpoint, s3.access_key_id), (None, None));
        assert_eq!(s3.interval, DEFAULT_S3_INTERVAL);
        let config = parse(concat!(
            "[database]\nremote_s3_url = \"s3://b/k\"\nremote_s3_region = \"r\"\n",
            "remote_s3_access_key_id = \"id\"\nremote_s3_secret_access_key = \"hush\"\n"
        ));
        let shown = format!("{:?}", config.database.remote_s3.unwrap());
        assert!(
            shown.contains("\"id\"") && !shown.contains("hush"),
            "{shown}"
        );
    }

    #[test]
    fn bad_s3_keys_are_reported() {
        for url in [
            "b/k",
            "s3://b",
            "s3://b/",
            "s3:///k",
            "s3://b/k/",
            "s3://b/a//k",
        ] {
            let message = error(&format!("[database]\nremote_s3_url = {url:?}"));
            assert!(
                message
                    .starts_with("/etc/lovebeat.cfg:2: [database] remote_s3_url: invalid S3 URL"),
                "{url}: {message}"
            );
        }
        let message = error("[database]\nremote_s3_endpoint = \"localhost:9000\"");
        assert!(
            message.contains("remote_s3_endpoint: invalid endpoint"),
            "{message}"
        );
        let message = error("[database]\nremote_s3_interval = 0");
        assert!(message.contains("remote_s3_interval: must be"), "{message}");
        let message = error("[database]\nremote_s3_access_key_id = \"id\"");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:2: [database] remote_s3_access_key_id: needs"),
            "{message}"
        );
    }

    #[test]
    fn startup_grace_may_be_zero_but_not_negative() {
        let config = parse("[database]\nstartup_grace = 0\n");
        assert_eq!(config.database.startup_grace, Duration::ZERO);
        assert_eq!(
            error("[database]\nstartup_grace = -1"),
            "/etc/lovebeat.cfg:2: [database] startup_grace: \
             must be a whole number of seconds, 0 or more (got -1)"
        );
    }

    #[test]
    fn every_key_is_parsed() {
        let config = parse(
            r##"
            public_url = "https://beats.example.org"
            [database]
            filename = "/var/lib/lovebeat/state.db"
            interval = 30
            startup_grace = 120
            remote_s3_url = "s3://bucket/lovebeat.db"
            remote_s3_region = "eu-west-1"
            remote_s3_endpoint = "http://127.0.0.1:9000/"
            remote_s3_access_key_id = "AKID"
            remote_s3_secret_access_key = "secret"
            remote_s3_interval = 300
            [udp]
            listen = "127.0.0.1:9127"
            allow = ["10.0.0.0/8", "::1"]
            [tcp]
            listen = "[::1]:9128"
            allow = ["192.0.2.7"]
            [http]
            listen = "localhost:0"
            base_path = "/monitoring/lovebeat/"
            write_tokens = ["0123456789abcdef-w"]
            read_tokens = ["0123456789abcdef-r"]
            public_status = false
            public_metrics = true
            allowed_origins = ["https://ops.example.org/"]
            [limits]
            line_length = 4096
            tcp_connections = 50
            tcp_idle_timeout = 300
            http_connections = 60
            http_body = 2048
            http_read_timeout = 5
            websockets = 3
            services = 0
            queue = 16
            [mail]
            server = "smtp.example.org:587"
            from = "beats@example.org"
            tls = "starttls"
            user = "beats"
            password = "secret"
            [mailgun]
            domain = "mg.example.org"
            from = "mg@example.org"
            api_key = "key-123"
            api_url = "https://api.eu.mailgun.net/v3"
            [delivery]
            timeout = 5
            retry_first = 2
            retry_max = 60
            give_up_after = 3600
            [slack]
            webhook_url = "https://hooks.slack.com/services/T/B/X"
            [metrics]
            server = "localhost:8125"
            prefix = "lb"
            [eventlog]
            path = "/var/log/lovebeat/events.json"
            mode = 600
            [auto]
            algorithm = "adaptive"
            history = 20
            [[notify]]
            lovebeat = "http://peer:8080/"
            [peers]
            interval = 15
            host = "alpha"
            [prometheus]
            max_services = 0
            [[alarms]]
            name = "server-$name"
            pattern = "app.$name.*"
            excludes = ["app.old.*"]
            alerts = ["ops"]
            [[views]]
            name = "web"
            regexp = "web\\."
            alerts = ["ops"]
            [alerts.ops]
            mail = "a@x.com,b@y.com"
            webhook = "http://hook.example.org/"
            slack_channel = "#ops"
            script = "/bin/true"
            webhook_headers = { Authorization = "Bearer x" }
            on_ok = "promote"
            on_error = "demote"
            warnings = true
            [alerts.quiet]
            mail = ""
            "##,
        );
        let expected = Config {
            public_url: "https://beats.example.org/".to_owned(),
            database: Database {
                filename: PathBuf::from("/var/lib/lovebeat/state.db"),
                interval: Duration::from_secs(30),
                startup_grace: Duration::from_secs(120),
                remote_s3: Some(RemoteS3 {
                    url: "s3://bucket/lovebeat.db".to_owned(),
                    region: "eu-west-1".to_owned(),
                    endpoint: Some("http://127.0.0.1:9000".to_owned()),
                    access_key_id: Some("AKID".to_owned()),
                    secret_access_key: Some("secret".to_owned()),
                    interval: Duration::from_secs(300),
                }),
            },
            udp: Listener {
                listen: "127.0.0.1:9127".parse().unwrap(),
                allow: Allow(vec![
                    "10.0.0.0/8".parse().unwrap(),
                    "::1/128".parse().unwrap(),
                ]),
            },
            tcp: Listener {
                listen: "[::1]:9128".parse().unwrap(),
                allow: Allow(vec!["192.0.2.7/32".parse().unwrap()]),
            },
            http: Http {
                listen: "127.0.0.1:0".parse().unwrap(),
                base_path: "/monitoring/lovebeat".to_owned(),
                write_tokens: strings(&["0123456789abcdef-w"]),
                read_tokens: strings(&["0123456789abcdef-r"]),
                public_status: false,
                public_metrics: true,
                allowed_origins: strings(&["https://ops.example.org"]),
            },
            mail: Mail {
                server: "smtp.example.org:587".to_owned(),
                from: "beats@example.org".to_owned(),
                tls: MailTls::StartTls,
                user: Some("beats".to_owned()),
                password: Some("secret".to_owned()),
            },
            mailgun: Some(Mailgun {
                domain: "mg.example.org".to_owned(),
                from: "mg@example.org".to_owned(),
                api_key: "key-123".to_owned(),
                api_url: "https://api.eu.mailgun.net/v3".to_owned(),
            }),
            slack: Slack {
                webhook_url: "https://hooks.slack.com/services/T/B/X".to_owned(),
            },
            metrics: Metrics {
                server: Some("localhost:8125".to_owned()),
                prefix: "lb".to_owned(),
            },
            eventlog: EventLog {
                path: Some(PathBuf::from("/var/log/lovebeat/events.json")),
                mode: 0o600,
            },
            notify: strings(&["http://peer:8080"]),
            peers: Peers {
                interval: Duration::from_secs(15),
                host: Some("alpha".to_owned()),
            },
            prometheus: Prometheus { max_services: 0 },
            views: vec![
                ViewDef {
                    template: ViewTemplate::glob(
                        "server-$name",
                        Some("app.$name.*"),
                        &[],
                        &strings(&["app.old.*"]),
                    )
                    .unwrap(),
                    alerts: strings(&["ops"]),
                },
                ViewDef {
                    template: ViewTemplate::regex("web", r"web\.").unwrap(),
                    alerts: strings(&["ops"]),
                },
            ],
            alerts: BTreeMap::from([
                (
                    "ops".to_owned(),
                    AlertDef {
                        mail: Some("a@x.com,b@y.com".to_owned()),
                        webhook: Some("http://hook.example.org/".to_owned()),
                        slack_channel: Some("#ops".to_owned()),
                        script: Some("/bin/true".to_owned()),
                        webhook_headers: BTreeMap::from([(
                            "Authorization".to_owned(),
                            "Bearer x".to_owned(),
                        )]),
                        on_ok: Some("promote".to_owned()),
                        on_error: Some("demote".to_owned()),
                        warnings: true,
                    },
                ),
                ("quiet".to_owned(), AlertDef::default()),
            ]),
            delivery: AlertDelivery {
                timeout: Duration::from_secs(5),
                retry_first: Duration::from_secs(2),
                retry_max: Duration::from_secs(60),
                give_up_after: Duration::from_secs(3600),
            },
            auto: Auto {
                algorithm: Algorithm::Adaptive,
                history: 20,
            },
            limits: Limits {
                line_length: 4096,
                tcp_connections: 50,
                tcp_idle_timeout: Some(Duration::from_secs(300)),
                http_connections: 60,
                http_body: 2048,
                http_read_timeout: Duration::from_secs(5),
                websockets: 3,
                services: None,
                queue: 16,
            },
            checks: Vec::new(),
            probes: Probes::default(),
            status_page: seeds::default_status_page(),
        };
        assert_eq!(config, expected);
    }

    /// The config fuzz target's committed inputs (its seed corpus, and the
    /// inputs of fixed findings) load without a panic, with errors that
    /// name a file and are one line each.
    #[test]
    fn the_fuzz_corpus_loads_or_is_refused_cleanly() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/config");
        for entry in fs::read_dir(dir).unwrap() {
            let bytes = fs::read(entry.unwrap().path()).unwrap();
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            let files: Vec<(String, String)> = (text.split('\0').enumerate())
                .map(|(i, t)| (format!("f{i}.toml"), t.to_owned()))
                .collect();
            if let Err(error) = build(files) {
                assert!(error.to_string().lines().all(|l| l.starts_with('f')));
            }
        }
    }

    #[test]
    fn bad_networks_tokens_origins_and_limits_name_their_key() {
        assert_eq!(
            error("[udp]\nallow = [\"10.0.0.0/33\"]"),
            "/etc/lovebeat.cfg:2: [udp] allow: invalid network \"10.0.0.0/33\": expected an \
             address or ADDRESS/PREFIX, e.g. \"10.0.0.0/8\" or \"::1\""
        );
        let short = error("[http]\nwrite_tokens = [\"0123456789abcdef\", \"short\"]");
        assert!(short.starts_with("/etc/lovebeat.cfg:2: [http] write_tokens: token 2 must be"));
        let origin = error("[http]\nallowed_origins = [\"ops.example.org\"]");
        assert!(
            origin.contains("[http] allowed_origins: invalid origin"),
            "{origin}"
        );
        assert_eq!(
            error("[limits]\nline_length = 8"),
            "/etc/lovebeat.cfg:2: [limits] line_length: must be from 16 to 65536 (got 8)"
        );
        assert!(error("[limits]\nhttp_read_timeout = 0").contains("at least 1"));
        assert!(error("[limits]\ntcp_idle_timeout = -1").contains("0 or more"));
    }

    #[test]
    fn s3_and_mailgun_need_their_main_keys() {
        let config =
            parse("[database]\nremote_s3_url = \"s3://b/p\"\n[mailgun]\napi_key = \"k\"\n");
        assert_eq!(config.database.remote_s3, None);
        assert_eq!(config.mailgun, None);
        let config =
            parse("[database]\nremote_s3_region = \"eu-west-1\"\n[mailgun]\ndomain = \"d\"\n");
        assert_eq!(config.database.remote_s3, None);
        let mailgun = config.mailgun.unwrap();
        assert_eq!((mailgun.domain.as_str(), mailgun.from.as_str()), ("d", ""));
    }

    #[test]
    fn views_match_services() {
        let config = parse(
            r#"
            [[alarms]]
            name = "server-$name"
            includes = ["app.$name.*"]
            excludes = ["app.old.*"]
            [[views]]
            name = "web"
            regexp = "web"
            "#,
        );
        let alarm = &config.views[0].template;
        assert_eq!(alarm.view_for("app.db.1").as_deref(), Some("server-db"));
        assert_eq!(alarm.view_for("app.old.1"), None);
        let view = &config.views[1].template;
        assert_eq!(view.view_for("prod.web.1").as_deref(), Some("web"));
    }

    #[test]
    fn public_url_in_general_and_a_slash_is_added() {
        let config = parse("[general]\npublic_url = \"http://x:8080\"\n");
        assert_eq!(config.public_url, "http://x:8080/");
        let both = "public_url = \"http://a/\"\n[general]\npublic_url = \"http://a/\"\n";
        assert_eq!(parse(both).public_url, "http://a/");
    }

    #[test]
    fn public_url_twice_with_different_values_is_an_error() {
        let text = "public_url = \"http://a/\"\n[general]\npublic_url = \"http://b/\"\n";
        assert_eq!(
            error(text),
            "/etc/lovebeat.cfg:3: [general] public_url: \
             conflicts with the top-level public_url on line 1; keep one"
        );
    }

    #[test]
    fn listen_address_forms() {
        let addr = |s: &str| s.parse::<ListenAddr>();
        assert_eq!(addr(":8127"), Ok(ListenAddr::Any(8127)));
        assert_eq!(addr(":0"), Ok(ListenAddr::Any(0)));
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(addr("127.0.0.1:80"), Ok(ListenAddr::Addr(v4)));
        assert_eq!(addr("localhost:80"), Ok(ListenAddr::Addr(v4)));
        assert_eq!(addr("LocalHost:80"), Ok(ListenAddr::Addr(v4)));
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(addr("[::1]:80"), Ok(ListenAddr::Addr(v6)));
        let any4: SocketAddr = "0.0.0.0:5".parse().unwrap();
        assert_eq!(addr("0.0.0.0:5"), Ok(ListenAddr::Addr(any4)));
        for bad in [
            "", "8127", "foo:bar", "host:80", "::1:80", ":65536", ":-1", "1.2.3:4",
        ] {
            let err = addr(bad).unwrap_err();
            assert!(
                err.starts_with(&format!("invalid address {bad:?}: ")),
                "{err}"
            );
        }
    }

    #[test]
    fn listen_address_round_trips_through_display() {
        for s in [":8127", "127.0.0.1:80", "[::1]:80", "0.0.0.0:0"] {
            assert_eq!(s.parse::<ListenAddr>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn listen_any_tries_ipv6_then_ipv4() {
        let addrs = ListenAddr::Any(8127).bind_addrs();
        let expected: Vec<SocketAddr> = vec![
            "[::]:8127".parse().unwrap(),
            "0.0.0.0:8127".parse().unwrap(),
        ];
        assert_eq!(addrs, expected);
        let one: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(ListenAddr::Addr(one).bind_addrs(), vec![one]);
    }

    #[test]
    fn eventlog_mode_digits_are_octal() {
        assert_eq!(parse("[eventlog]\nmode = 755").eventlog.mode, 0o755);
        assert_eq!(parse("[eventlog]\nmode = 0").eventlog.mode, 0);
        assert_eq!(parse("[eventlog]\nmode = 4755").eventlog.mode, 0o4755);
        assert_eq!(parse("[eventlog]\nmode = 0o640").eventlog.mode, 0o640);
        assert!(error("[eventlog]\nmode = 0o17777").contains("invalid file mode"));
        for bad in ["648", "-1", "17777", "90"] {
            let message = error(&format!("[eventlog]\nmode = {bad}\n"));
            assert!(
                message.starts_with(&format!(
                    "/etc/lovebeat.cfg:2: [eventlog] mode: invalid file mode {bad}: "
                )),
                "{message}"
            );
        }
    }

    #[test]
    fn interval_and_history_bounds() {
        assert_eq!(
            error("[database]\ninterval = 0"),
            "/etc/lovebeat.cfg:2: [database] interval: \
             must be a whole number of seconds, at least 1 (got 0)"
        );
        assert_eq!(parse("[auto]\nhistory = 1").auto.history, 1);
        assert_eq!(parse("[auto]\nhistory = 10000").auto.history, 10_000);
        assert_eq!(
            error("[auto]\nhistory = 10001"),
            "/etc/lovebeat.cfg:2: [auto] history: must be from 1 to 10000 (got 10001)"
        );
        assert!(error("[auto]\nhistory = 0").contains("(got 0)"));
    }

    #[test]
    fn empty_strings_turn_features_off() {
        let config = parse("[metrics]\nserver = \"\"\n[eventlog]\npath = \"\"\n");
        assert_eq!(config.metrics.server, None);
        assert_eq!(config.eventlog.path, None);
        let message = error("[metrics]\nserver = \"statsd\"");
        assert_eq!(
            message,
            "/etc/lovebeat.cfg:2: [metrics] server: invalid address \"statsd\": expected HOST:PORT"
        );
        assert!(error("[mail]\nserver = \"smtp:x\"").contains("[mail] server"));
        assert!(error("[database]\nfilename = \"\"").contains("must not be empty"));
    }

    #[test]
    fn base_path_is_kept_without_its_trailing_slash() {
        for (given, kept) in [
            ("", ""),
            ("/", ""),
            ("/lovebeat", "/lovebeat"),
            ("/monitoring/lovebeat/", "/monitoring/lovebeat"),
            ("/a-b/c_d.e~f", "/a-b/c_d.e~f"),
        ] {
            assert_eq!(base_path(given.to_owned()).as_deref(), Ok(kept), "{given}");
        }
    }

    #[test]
    fn base_path_refuses_what_a_link_would_need_to_escape() {
        for bad in [
            "lovebeat",
            "//evil.example",
            "/a//b",
            "/a/../b",
            "/./a",
            "/a b",
            "/a\"b",
            "/a<b>",
            "/a?b",
            "/a#b",
            "/a%20b",
            "/é",
        ] {
            assert!(base_path(bad.to_owned()).is_err(), "{bad}");
        }
        assert_eq!(
            error("[http]\nbase_path = \"x\"\n"),
            "/etc/lovebeat.cfg:2: [http] base_path: invalid path \"x\": expected \"\" or a \
             path like \"/monitoring/lovebeat\" (letters, digits, - . _ ~ between slashes)"
        );
    }

    #[test]
    fn notify_urls_must_be_http() {
        let config =
            parse("[[notify]]\nlovebeat = \"https://a:1//\"\n[[notify]]\nlovebeat = \"http://b\"");
        assert_eq!(config.notify, strings(&["https://a:1", "http://b"]));
        assert_eq!(
            error("[[notify]]\nlovebeat = \"ftp://a\""),
            "/etc/lovebeat.cfg:2: [[notify]] lovebeat: \
             invalid URL \"ftp://a\": expected http://HOST[:PORT] or https://…"
        );
    }

    #[test]
    fn peers_host_is_one_name_segment_and_max_services_is_bounded() {
        assert_eq!(parse("[peers]\nhost = \"\"").peers.host, None);
        assert_eq!(
            error("[peers]\nhost = \"Web.1\""),
            "/etc/lovebeat.cfg:2: [peers] host: \
             invalid host \"Web.1\": use a-z 0-9 _ - (it becomes lovebeat.HOST.monitor)"
        );
        assert!(error("[peers]\ninterval = 0").contains("[peers] interval"));
        assert!(error("[prometheus]\nmax_services = -1").contains("from 0 to 10000000"));
    }

    #[test]
    fn unknown_alert_is_an_error() {
        let text = "[alerts.ops]\nmail = \"a@b\"\n\n\
                    [[alarms]]\nname = \"x\"\npattern = \"*\"\nalerts = [\"ops\", \"pager\"]\n";
        assert_eq!(
            error(text),
            "/etc/lovebeat.cfg:7: [[alarms]] alerts: \
             unknown alert \"pager\": there is no [alerts.pager] table"
        );
        let text = "[[views]]\nname = \"x\"\nregexp = \"\"\nalerts = [\"my pager\"]\n";
        assert_eq!(
            error(text),
            "/etc/lovebeat.cfg:4: [[views]] alerts: \
             unknown alert \"my pager\": there is no [alerts.\"my pager\"] table"
        );
    }

    #[test]
    fn bad_listen_names_file_line_and_key() {
        assert_eq!(
            error("# comment\n[http]\nlisten = \"foo:bar\"\n"),
            "/etc/lovebeat.cfg:3: [http] listen: invalid address \"foo:bar\": \
             the port must be a number from 0 to 65535"
        );
    }

    #[test]
    fn bad_regex_in_views_names_file_line_and_key() {
        let message = error("[[views]]\nname = \"v\"\n\nregexp = \"a(b\"\n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:4: [[views]] regexp: invalid pattern \"a(b\": "),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn bad_glob_in_alarms_names_the_key_it_is_in() {
        let text =
            "[[alarms]]\nname = \"a\"\npattern = \"ok.*\"\nincludes = [\"x\",\n  \"$n.$n\"]\n";
        assert_eq!(
            error(text),
            "/etc/lovebeat.cfg:5: [[alarms]] includes: \
             invalid pattern \"$n.$n\": variable $n is used more than once"
        );
        assert_eq!(
            error("[[alarms]]\nname = \"\"\n"),
            "/etc/lovebeat.cfg:2: [[alarms]] name: must not be empty"
        );
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        assert_eq!(
            error("[tcp]\nlsten = \":1\"\n"),
            "/etc/lovebeat.cfg:2: [tcp] lsten: unknown field `lsten`, \
             expected `listen` or `allow`"
        );
        let message = error("\n[htp]\nlisten = \":1\"\n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:2: [htp]: unknown field `htp`"),
            "{message}"
        );
        let message = error("[alerts.ops]\nmial = \"x\"\n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:2: [alerts.ops] mial: unknown field"),
            "{message}"
        );
        let message = error("[[views]]\nname = \"x\"\npattern = \"y\"\n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:3: [[views]] pattern: unknown field"),
            "{message}"
        );
    }

    #[test]
    fn wrong_type_names_file_line_and_key() {
        assert_eq!(
            error("public_url = 5\n"),
            "/etc/lovebeat.cfg:1: public_url: invalid type: integer `5`, expected a string"
        );
        let message = error("[[alarms]]\nname = \"a\"\nincludes = [\"a\",\n  5]\n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:4: [[alarms]] includes: invalid type"),
            "{message}"
        );
        let message = error("[[alarms]]\nname = \"a\"\n[[alarms]]\npattern = \"b\"\n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:3: [[alarms]]: missing field `name`"),
            "{message}"
        );
        let message = error("[database]\ninterval = 1979-05-27\n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:2: [database] interval: invalid type"),
            "{message}"
        );
    }

    #[test]
    fn bad_algorithm_names_file_line_and_key() {
        assert_eq!(
            error("[auto]\nalgorithm = \"mean\"\n"),
            "/etc/lovebeat.cfg:2: [auto] algorithm: \
             unknown AUTO algorithm \"mean\" (expected one of: \"median\" \"adaptive\" \"rhythm\")"
        );
    }

    #[test]
    fn toml_syntax_error_names_file_line_and_key() {
        let message = error("[udp]\nlisten = \":1\"\n[http]\nlisten = \n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:4: [http] listen: "),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
        let message = error("[http]\nlisten = \":1\"\nlisten = \":2\"\n");
        assert_eq!(message, "/etc/lovebeat.cfg:3: [http] listen: duplicate key");
    }

    #[test]
    fn every_bad_value_is_reported_in_line_order() {
        let text = "[udp]\nlisten = \"x\"\n[auto]\nalgorithm = \"x\"\nhistory = 0\n\
                    [[alarms]]\nname = \"a\"\nalerts = [\"none\"]\n";
        let err = from_str(text, "f").unwrap_err();
        let lines: Vec<_> = err.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(2), Some(4), Some(5), Some(8)]);
        assert_eq!(err.to_string().lines().count(), 4);
        assert_eq!(err.problems[1].key.as_deref(), Some("[auto] algorithm"));
    }

    /// `build` is `load` without the file system.
    fn merge(files: &[(&str, &str)]) -> Result<Config, ConfigError> {
        build(
            files
                .iter()
                .map(|(o, t)| (o.to_string(), t.to_string()))
                .collect(),
        )
    }

    #[test]
    fn later_files_override_scalars() {
        let config = merge(&[
            ("a", "[http]\nlisten = \":1\"\n[udp]\nlisten = \":2\"\n"),
            ("b", "[http]\nlisten = \":3\"\n"),
            ("c", "public_url = \"http://c/\"\n"),
        ])
        .unwrap();
        assert_eq!(config.http.listen, ListenAddr::Any(3));
        assert_eq!(config.udp.listen, ListenAddr::Any(2));
        assert_eq!(config.public_url, "http://c/");
        let config = merge(&[
            ("a", "public_url = \"http://top/\""),
            ("b", "[general]\npublic_url = \"http://general/\""),
        ])
        .unwrap();
        assert_eq!(config.public_url, "http://general/");
    }

    #[test]
    fn later_files_add_to_arrays() {
        let config = merge(&[
            (
                "a",
                "[[alarms]]\nname = \"a1\"\n[[notify]]\nlovebeat = \"http://p1\"\n",
            ),
            (
                "b",
                "[[alarms]]\nname = \"b1\"\n[[views]]\nname = \"v\"\nregexp = \"\"\n",
            ),
            (
                "c",
                "[[notify]]\nlovebeat = \"http://p2\"\n[[alarms]]\nname = \"c1\"\n",
            ),
        ])
        .unwrap();
        let names: Vec<_> = config
            .views
            .iter()
            .map(|v| v.template.name_template())
            .collect();
        assert_eq!(names, ["a1", "b1", "c1", "v"]);
        assert_eq!(config.notify, strings(&["http://p1", "http://p2"]));
    }

    #[test]
    fn later_files_replace_alerts_by_name() {
        let config = merge(&[
            (
                "a",
                "[alerts.x]\nmail = \"a@x\"\nscript = \"/s\"\n[alerts.y]\nmail = \"y@x\"\n",
            ),
            ("b", "[alerts.x]\nwebhook = \"http://h\"\n[alerts.z]\n"),
        ])
        .unwrap();
        let x = AlertDef {
            webhook: Some("http://h".to_owned()),
            ..AlertDef::default()
        };
        assert_eq!(config.alerts["x"], x);
        assert_eq!(config.alerts["y"].mail.as_deref(), Some("y@x"));
        assert_eq!(config.alerts["z"], AlertDef::default());
    }

    #[test]
    fn alarms_may_use_alerts_from_another_file() {
        let config = merge(&[
            ("a", "[[alarms]]\nname = \"a\"\nalerts = [\"ops\"]\n"),
            ("b", "[alerts.ops]\nmail = \"o@x\"\n"),
        ])
        .unwrap();
        assert_eq!(config.views[0].alerts, strings(&["ops"]));
    }

    #[test]
    fn errors_after_merging_point_into_the_right_file() {
        let err = merge(&[
            ("first.cfg", "[http]\nlisten = \"bad\"\n"),
            (
                "second.cfg",
                "\n\n[udp]\nlisten = \"worse\"\n[http]\nlisten = \":1\"\n",
            ),
        ])
        .unwrap_err();
        // The first file's bad value was overridden: only the second's counts.
        assert_eq!(err.problems.len(), 1);
        assert!(
            err.to_string().starts_with("second.cfg:4: [udp] listen: "),
            "{err}"
        );
        let err = merge(&[
            ("a", "[[alarms]]\nname = \"a\"\nalerts = [\"nope\"]\n"),
            ("b", "[alerts.ops]\n"),
            (
                "c",
                "\n[[alarms]]\nname = \"c\"\nalerts = [\"ops\", \"nope\"]\n",
            ),
        ])
        .unwrap_err();
        let sites: Vec<_> = err
            .problems
            .iter()
            .map(|p| (p.file.as_str(), p.line))
            .collect();
        assert_eq!(sites, [("a", Some(3)), ("c", Some(4))]);
    }

    #[test]
    fn every_file_with_a_syntax_error_is_reported() {
        let err = merge(&[
            ("a", "x = \n"),
            ("b", "[ok]\n"),
            ("c", "[auto]\nalgorithm = \"median\"\n"),
        ])
        .unwrap_err();
        let files: Vec<_> = err.problems.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(files, ["a", "b"]);
    }

    #[test]
    fn load_reads_files_in_order() {
        let dir = TempDir::new("load");
        let a = dir.write("a.cfg", "[http]\nlisten = \":1\"\n");
        let b = dir.write("b.cfg", "[http]\nlisten = \":2\"\n");
        assert_eq!(
            load(&[a.clone(), b.clone()]).unwrap().http.listen,
            ListenAddr::Any(2)
        );
        assert_eq!(load(&[b, a]).unwrap().http.listen, ListenAddr::Any(1));
    }

    #[test]
    fn load_names_the_file_in_errors() {
        let dir = TempDir::new("load-errors");
        let bad = dir.write("bad.cfg", "[auto]\nhistory = -3\n");
        let message = load(std::slice::from_ref(&bad)).unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "{}:2: [auto] history: must be from 1 to 10000 (got -3)",
                bad.display()
            )
        );
        let missing = dir.0.join("missing.cfg");
        let message = load(std::slice::from_ref(&missing))
            .unwrap_err()
            .to_string();
        let expected = format!("{}: cannot read config file: ", missing.display());
        assert!(message.starts_with(&expected), "{message}");
    }

    #[test]
    fn resolve_files_reads_the_directory_in_name_order() {
        let dir = TempDir::new("resolve");
        let main = dir.write("main.cfg", "");
        let conf_d = dir.0.join("conf.d");
        fs::create_dir(&conf_d).unwrap();
        for name in ["b.cfg", "a.toml", ".hidden", "c"] {
            fs::write(conf_d.join(name), "").unwrap();
        }
        fs::create_dir(conf_d.join("subdir")).unwrap();
        let files = resolve_files(Some(&main), &conf_d).unwrap();
        let expected = vec![
            main,
            conf_d.join("a.toml"),
            conf_d.join("b.cfg"),
            conf_d.join("c"),
        ];
        assert_eq!(files, expected);
    }

    #[test]
    fn resolve_files_skips_a_missing_default_but_not_a_missing_explicit_file() {
        let dir = TempDir::new("resolve-missing");
        let missing = dir.0.join("lovebeat.cfg");
        let no_dir = dir.0.join("conf.d");
        let files = resolve_files_with_default(None, &missing, &no_dir).unwrap();
        assert_eq!(files, Vec::<PathBuf>::new());
        let present = dir.write("present.cfg", "");
        let files = resolve_files_with_default(None, &present, &no_dir).unwrap();
        assert_eq!(files, vec![present]);
        let err = resolve_files_with_default(Some(&missing), &missing, &no_dir).unwrap_err();
        let expected = format!("{}: cannot read config file: ", missing.display());
        assert!(err.to_string().starts_with(&expected), "{err}");
    }

    #[test]
    fn resolve_files_rejects_a_config_dir_that_is_a_file() {
        let dir = TempDir::new("resolve-notdir");
        let file = dir.write("file", "");
        let missing = dir.0.join("missing.cfg");
        assert!(resolve_files_with_default(None, &missing, &file).is_err());
    }
}
