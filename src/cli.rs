//! The command line: global flags, subcommands, and the Go spellings of
//! lovebeat 1.0's flags; plus the `validate-auto` and `simulate` tools.
//!
//! `lovebeat` with no subcommand runs the daemon. Go's flag package took long
//! flags with one dash (`-config-dir=/etc/lovebeat.conf.d -syslog`), which
//! clap reads as bundles of short flags, so [`parse_from`] first rewrites
//! those names to `--` form ([`rewrite_go_flags`]). `main` calls [`parse`]
//! and dispatches on [`Command`]; reading the config is not done here.

use std::ffi::OsString;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};
use lovebeat_config::DEFAULT_CONFIG_DIR;
use lovebeat_core::auto::Algorithm;
use lovebeat_core::{Engine, EngineConfig, Millis};
use lovebeat_sim as sim;

/// What `--version` prints after the program name.
const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

/// The parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Cli {
    /// `--config FILE`. None when not given: then
    /// `lovebeat_config::DEFAULT_CONFIG_FILE` is read if it exists (see
    /// `lovebeat_config::resolve_files`).
    pub config: Option<PathBuf>,
    /// `--config-dir DIR`, default [`DEFAULT_CONFIG_DIR`].
    pub config_dir: PathBuf,
    /// `--debug`: debug-level logs.
    pub debug: bool,
    /// `--syslog`: log to syslog instead of stderr.
    pub syslog: bool,
    pub command: Command,
}

/// What to do. `Run` when no subcommand is given.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum Command {
    /// Run the daemon (what `lovebeat` with no subcommand does).
    #[command(hide = true)]
    Run,
    /// Read beat intervals (ms, one per line) on stdin and print, after
    /// each, the AUTO timeout in ms over all intervals so far, or `none`.
    ValidateAuto(AutoArgs),
    /// Score every AUTO estimator on generated beat traces (and recorded
    /// ones): false alarms and detection delay, as in docs/DETECTION.md.
    Simulate(SimulateArgs),
    /// Send a sample alert (view "lovebeat-test-alert", OK to ERROR) through
    /// every back-end of the [alerts.NAME] entry, once, and report each result
    /// (PagerDuty, Opsgenie and Alertmanager are sent its recovery too).
    TestAlert {
        /// The [alerts.NAME] table to test.
        name: String,
    },
    /// Look at and change the services of a running lovebeat
    Services {
        /// Base URL of the daemon's HTTP API [default: the config's [http] listen]
        #[arg(long, env = "LOVEBEAT_URL", value_name = "URL", value_parser = parse_url)]
        url: Option<String>,
        /// Bearer token for a daemon with [http] write_tokens [default: the
        /// config's first write token]
        #[arg(
            long,
            env = "LOVEBEAT_TOKEN",
            value_name = "TOKEN",
            hide_env_values = true
        )]
        token: Option<String>,
        #[command(subcommand)]
        command: ServicesCommand,
    },
    /// Save the status page of a running lovebeat as DIR/index.html, to
    /// host it as static files (run it from cron to keep it fresh)
    StatusPage {
        /// Base URL of the daemon's HTTP API [default: the config's [http] listen]
        #[arg(long, env = "LOVEBEAT_URL", value_name = "URL", value_parser = parse_url)]
        url: Option<String>,
        /// Directory to write index.html into (created if missing)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Import a Go lovebeat database file (gzip of SERV/ALARM/VIEW lines)
    /// into the database of the config, replacing the services and views
    /// it names; run it while the daemon is stopped.
    Import {
        /// The Go lovebeat database, e.g. /var/lib/lovebeat/lovebeat.db
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// `lovebeat services …`.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum ServicesCommand {
    /// List services: state, last beat, timeouts, views
    List {
        /// Only the members of this view (alarm)
        #[arg(long, value_name = "VIEW")]
        view: Option<String>,
    },
    /// Beat a service (creating it), optionally setting its timeouts
    Beat {
        /// The service, e.g. backup.nightly
        name: String,
        #[command(flatten)]
        timeouts: Timeouts,
    },
    /// Set a service's timeouts without beating it
    Set {
        /// The service, e.g. backup.nightly
        name: String,
        #[command(flatten)]
        timeouts: Timeouts,
    },
    /// Mute a service: it stays muted, whatever it does, until unmuted
    Mute {
        /// The service, e.g. backup.nightly
        name: String,
    },
    /// Unmute a service
    Unmute {
        /// The service, e.g. backup.nightly
        name: String,
    },
    /// Delete a service (it comes back with its next beat)
    Delete {
        /// The service, e.g. backup.nightly
        name: String,
    },
    /// Report that a service failed: it is in error until its next beat
    Fail {
        /// The service, e.g. backup.nightly
        name: String,
        /// What failed, kept with the service
        #[arg(long, value_name = "TEXT", default_value = "")]
        message: String,
    },
    /// Acknowledge a failing view (alarm): its alert entries are told, and
    /// reminders stop until it changes state again
    Ack {
        /// The view, e.g. backups
        view: String,
        /// Who acknowledges [default: $USER]
        #[arg(long, env = "USER", value_name = "NAME")]
        author: String,
        /// Why, or what is being done
        #[arg(long, value_name = "TEXT", default_value = "")]
        comment: String,
    },
    /// Add a service that pushes with a token (statuscope's heartbeat:add):
    /// `POST /signal` with application=NAME, token=…, status=ok|fail.
    /// Prints the token; lovebeat keeps only its hash.
    Add {
        /// The service (statuscope's application), e.g. my_app
        name: String,
        /// Seconds between signals before it is late; 0: no deadline, just
        /// remember the last state
        #[arg(long, value_name = "SECONDS", default_value_t = 86_400)]
        interval: u64,
        /// The team label: views can select on it (`[[alarms]] team`) and
        /// /metrics carries it
        #[arg(long, value_name = "TEAM")]
        team: Option<String>,
    },
    /// Issue a new token for a service added with `add` and print it (the
    /// old token stops working: lovebeat keeps only a hash, so it cannot
    /// show the old one)
    Token {
        /// The service, e.g. my_app
        name: String,
    },
    /// Remove a service added with `add`: its token and the service
    Remove {
        /// The service, e.g. my_app
        name: String,
    },
}

/// `--warn`, `--err` and `--schedule` of `services beat` and `services set`.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct Timeouts {
    /// Warning timeout: seconds, a duration (90s, 5m, 2h, 1d), auto, never or always
    #[arg(long, value_name = "TIMEOUT", value_parser = parse_timeout)]
    pub warn: Option<String>,
    /// Error timeout: seconds, a duration (90s, 5m, 2h, 1d), auto, never or always
    #[arg(long, value_name = "TIMEOUT", value_parser = parse_timeout)]
    pub err: Option<String>,
    /// A calendar the job runs on: cron ("0 2 * * 1-5") or systemd
    /// OnCalendar ("Mon..Fri 02:00"); "" takes the service off its schedule
    #[arg(long, value_name = "EXPRESSION")]
    pub schedule: Option<String>,
    /// The schedule's time zone, an IANA name such as Europe/Berlin [default: UTC]
    #[arg(long, value_name = "ZONE", requires = "schedule")]
    pub tz: Option<String>,
    /// How late a scheduled run may report: seconds or a duration (90s, 5m, 2h, 1d) [default: 1h]
    #[arg(long, value_name = "DURATION", requires = "schedule")]
    pub grace: Option<String>,
}

/// A daemon URL: http or https, without a trailing `/`.
fn parse_url(url: &str) -> Result<String, String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.trim_end_matches('/').to_owned())
    } else {
        Err(format!("{url:?} is not an http:// or https:// URL"))
    }
}

/// A timeout as the HTTP API takes it: whole seconds, `auto`, `-1` for
/// never and `0` for always.
pub fn parse_timeout(text: &str) -> Result<String, String> {
    let text = text.trim();
    match text {
        "auto" => return Ok("auto".to_owned()),
        "never" | "clear" | "none" | "-1" => return Ok("-1".to_owned()),
        "always" | "0" => return Ok("0".to_owned()),
        _ => {}
    }
    lovebeat_core::duration::parse_seconds(text)
        .map(|s| s.to_string())
        .ok_or_else(|| {
            format!(
                "{text:?} is not a timeout: use seconds, 90s, 5m, 2h, 1d, auto, never or always"
            )
        })
}

/// `validate-auto`'s options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct AutoArgs {
    /// The AUTO estimator to try.
    #[arg(long, default_value = "median", value_parser = algorithm_parser())]
    pub algorithm: Algorithm,
    /// Read absolute beat times (ms since the epoch) instead of intervals,
    /// and run them through the engine as autobeats.
    #[arg(long)]
    pub timestamps: bool,
    /// UTC offset for the clock times --explain prints, e.g. +02:00 or
    /// -0500 (timeouts do not depend on it).
    #[arg(long, default_value = "+00:00", value_parser = parse_utc_offset, allow_hyphen_values = true)]
    pub tz: i32,
    /// After each timeout, a tab and one line on why it is what it is.
    #[arg(long)]
    pub explain: bool,
    /// Print the estimator names, one a line, and exit.
    #[arg(long)]
    pub list: bool,
}

impl AutoArgs {
    /// The options of plain `validate-auto --algorithm NAME`.
    pub fn with(algorithm: Algorithm) -> AutoArgs {
        AutoArgs {
            algorithm,
            timestamps: false,
            tz: 0,
            explain: false,
            list: false,
        }
    }
}

/// `simulate`'s options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct SimulateArgs {
    /// Print docs/DETECTION.md (markdown) instead of a text table.
    #[arg(long)]
    pub markdown: bool,
    /// Also score a recorded trace: one beat time a line, ms since the
    /// epoch; its period is taken to be its median interval. Repeatable.
    #[arg(long = "trace", value_name = "FILE")]
    pub traces: Vec<PathBuf>,
    /// Seed of the generated families.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// The clap mirror of the command line, before the legacy flag is folded
/// into [`Command`].
#[derive(Debug, Parser)]
#[command(
    name = "lovebeat",
    version = VERSION,
    about = "A zero-configuration heartbeat monitor",
    long_about = None,
)]
struct Args {
    /// Main config file [default: /etc/lovebeat.cfg, skipped if missing]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Directory of more config files, read in name order after --config
    #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_CONFIG_DIR)]
    config_dir: PathBuf,

    /// Log at debug level
    #[arg(long, global = true)]
    debug: bool,

    /// Log to syslog instead of stderr
    #[arg(long, global = true)]
    syslog: bool,

    /// Same as the validate-auto subcommand (lovebeat 1.0's flag)
    #[arg(long = "validate-auto", hide = true)]
    validate_auto: bool,

    /// The AUTO estimator for --validate-auto
    #[arg(
        long,
        hide = true,
        requires = "validate_auto",
        value_parser = algorithm_parser(),
    )]
    algorithm: Option<Algorithm>,

    #[command(subcommand)]
    command: Option<Command>,
}

/// "+02:00", "-0500", "+5", "Z" or "UTC" → minutes east of UTC.
fn parse_utc_offset(text: &str) -> Result<i32, String> {
    let bad = || format!("{text:?} is not a UTC offset like +02:00, -0500 or UTC");
    if matches!(text, "Z" | "UTC" | "utc") {
        return Ok(0);
    }
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) if m.len() == 2 => (h, m),
        Some(_) => return Err(bad()),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let number = |t: &str| {
        let ok = !t.is_empty() && t.len() <= 2 && t.bytes().all(|b| b.is_ascii_digit());
        if ok {
            t.parse::<i32>().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (h, m) = (number(h)?, number(m)?);
    if h > 14 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 60 + m))
}

/// An AUTO estimator's name, listed in help and errors.
fn algorithm_parser() -> impl TypedValueParser<Value = Algorithm> {
    PossibleValuesParser::new(Algorithm::ALL.map(Algorithm::as_str))
        .try_map(|name| name.parse::<Algorithm>())
}

/// The process's command line; prints help, the version or a usage error
/// and exits (status 0 or 2) when that is what it asks for.
pub fn parse() -> Cli {
    parse_from(std::env::args_os()).unwrap_or_else(|err| err.exit())
}

/// Parses `args` (the program name first) after [`rewrite_go_flags`].
pub fn parse_from(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
    let args = Args::try_parse_from(rewrite_go_flags(args))?;
    let command = match (args.command, args.validate_auto) {
        (None, false) => Command::Run,
        (None, true) => {
            Command::ValidateAuto(AutoArgs::with(args.algorithm.unwrap_or(Algorithm::Median)))
        }
        (Some(command), false) => command,
        (Some(_), true) => {
            let message = "--validate-auto cannot be used with a subcommand";
            return Err(Args::command().error(ErrorKind::ArgumentConflict, message));
        }
    };
    Ok(Cli {
        config: args.config,
        config_dir: args.config_dir,
        debug: args.debug,
        syslog: args.syslog,
        command,
    })
}

/// lovebeat 1.0's flags, which Go let users write with one dash.
const GO_FLAGS: [&str; 7] = [
    "config",
    "config-dir",
    "debug",
    "syslog",
    "version",
    "validate-auto",
    "help",
];

/// The Go flags that are booleans: Go also took `-debug=true`/`=false`.
const GO_BOOL_FLAGS: [&str; 5] = ["debug", "syslog", "version", "validate-auto", "help"];

/// Rewrites the Go spellings of lovebeat 1.0's flags to clap's: `-syslog`
/// → `--syslog`, `-config-dir=/x` → `--config-dir=/x`, and for booleans
/// `-debug=true` → `--debug`, `-debug=false` → nothing. Other arguments, and
/// everything after `--`, are left alone.
pub fn rewrite_go_flags(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args = args.into_iter();
    let mut out: Vec<OsString> = args.next().into_iter().collect();
    while let Some(arg) = args.next() {
        if arg == "--" {
            out.push(arg);
            out.extend(args.by_ref());
            break;
        }
        match arg.to_str().and_then(rewrite_go_flag) {
            Some(rewritten) => out.extend(rewritten.map(OsString::from)),
            None => out.push(arg),
        }
    }
    out
}

/// For a Go flag, what replaces it (None inside: drop it); None otherwise.
fn rewrite_go_flag(arg: &str) -> Option<Option<String>> {
    let body = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    let (name, value) = match body.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (body, None),
    };
    if !GO_FLAGS.contains(&name) {
        return None;
    }
    let is_bool = GO_BOOL_FLAGS.contains(&name);
    Some(match value {
        None => Some(format!("--{name}")),
        Some(value) if is_bool => match go_bool(value) {
            Some(true) => Some(format!("--{name}")),
            Some(false) => None,
            // Let clap reject it, naming the flag.
            None => Some(format!("--{name}={value}")),
        },
        Some(value) => Some(format!("--{name}={value}")),
    })
}

/// Go's `strconv.ParseBool`, which its flag package used.
fn go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// `lovebeat validate-auto`: reads one interval in ms per line from `input`
/// (blank lines skipped) and after each writes `algorithm`'s timeout in ms
/// over all intervals so far, or `none`, to `out`. Stops at the first line
/// that is not an interval (0 to `u32::MAX`), saying why on stderr. With
/// `--timestamps`, lines are beat times instead; `--list` prints the names.
pub fn validate_auto(args: &AutoArgs, input: impl BufRead, out: impl Write) -> io::Result<()> {
    validate_auto_logging(args, input, out, io::stderr().lock())
}

/// [`validate_auto`] with its messages written to `log`.
fn validate_auto_logging(
    args: &AutoArgs,
    input: impl BufRead,
    mut out: impl Write,
    mut log: impl Write,
) -> io::Result<()> {
    if args.list {
        for algorithm in Algorithm::ALL {
            writeln!(out, "{algorithm}")?;
        }
        return Ok(());
    }
    writeln!(log, "Validating auto-algorithm from stdin")?;
    let mut feed: Box<dyn Feed> = if args.timestamps {
        Box::new(Timestamps::new(args))
    } else {
        Box::new(Intervals::new(args))
    };
    for line in input.split(b'\n') {
        let line = line?;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let (timeout, reason) = match feed.push(text) {
            Ok(answer) => answer,
            Err(why) => {
                writeln!(log, "{why}")?;
                break;
            }
        };
        match timeout {
            Some(timeout) => write!(out, "{timeout}")?,
            None => write!(out, "none")?,
        }
        if args.explain {
            write!(out, "\t{reason}")?;
        }
        writeln!(out)?;
        // One answer per line typed, when used interactively.
        out.flush()?;
    }
    Ok(())
}

/// One line of `validate-auto` input in, the timeout and its reason out.
trait Feed {
    fn push(&mut self, line: &str) -> Result<(Option<u64>, String), String>;
}

/// Intervals in ms: each estimate is over all intervals so far.
struct Intervals {
    algorithm: Algorithm,
    tz: i32,
    intervals: Vec<u32>,
}

impl Intervals {
    fn new(args: &AutoArgs) -> Intervals {
        Intervals {
            algorithm: args.algorithm,
            tz: args.tz,
            intervals: Vec::new(),
        }
    }
}

impl Feed for Intervals {
    fn push(&mut self, line: &str) -> Result<(Option<u64>, String), String> {
        self.intervals.push(parse_interval(line)?);
        let timeout = self.algorithm.estimate(&self.intervals);
        let reason = match self.algorithm {
            Algorithm::Rhythm => {
                lovebeat_core::auto::Rhythm::replay(&self.intervals, 0).explain(0, self.tz)
            }
            other => other.explain(&self.intervals),
        };
        Ok((timeout, reason))
    }
}

/// Beat times in ms since the epoch, run through an engine as autobeats of
/// one service, exactly as the daemon would see them.
struct Timestamps {
    engine: Option<Engine>,
    algorithm: Algorithm,
    tz: i32,
    last: Millis,
}

/// The service `validate-auto --timestamps` beats.
const SERVICE: &str = "validate-auto";

impl Timestamps {
    fn new(args: &AutoArgs) -> Timestamps {
        Timestamps {
            engine: None,
            algorithm: args.algorithm,
            tz: args.tz,
            last: Millis::MIN,
        }
    }
}

impl Feed for Timestamps {
    fn push(&mut self, line: &str) -> Result<(Option<u64>, String), String> {
        let at: Millis = line
            .parse()
            .map_err(|_| format!("stopping at {line:?}: not a time in ms since the epoch"))?;
        if at < self.last {
            return Err(format!("stopping at {at}: earlier than the beat before it"));
        }
        self.last = at;
        let config = EngineConfig {
            algorithm: self.algorithm,
            utc_offset_min: self.tz,
            ..EngineConfig::default()
        };
        let engine = self.engine.get_or_insert_with(|| Engine::new(config, at));
        engine.autobeat(at, SERVICE);
        engine.take_changes();
        let info = engine
            .service(SERVICE)
            .expect("the service was just beaten");
        Ok((
            info.auto_timeout,
            info.auto_reason.unwrap_or_default().into(),
        ))
    }
}

/// `lovebeat simulate`: scores every estimator on the generated families
/// and the recorded traces, as a text table or DETECTION.md's markdown.
pub fn simulate(args: &SimulateArgs, mut out: impl Write) -> io::Result<()> {
    let mut families = sim::families(args.seed);
    for path in &args.traces {
        let text = std::fs::read_to_string(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let times = parse_trace(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        families.push(sim::Family::recorded(path.display().to_string(), times));
    }
    let results = sim::run(&families);
    if args.markdown {
        write!(out, "{}", sim::markdown(&results, args.seed))
    } else {
        write!(out, "{}", sim::text(&results))
    }
}

/// Beat times, one a line (blank lines and `#` comments skipped).
fn parse_trace(text: &str) -> Result<Vec<Millis>, String> {
    let mut times = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = line
            .parse()
            .map_err(|_| format!("line {}: {line:?} is not a time in ms", n + 1))?;
        times.push(at);
    }
    if times.len() < 2 {
        return Err("a trace needs at least two beats".to_owned());
    }
    Ok(times)
}

fn parse_interval(text: &str) -> Result<u32, String> {
    let value: i128 = text
        .parse()
        .map_err(|_| format!("stopping at {text:?}: not an integer"))?;
    u32::try_from(value)
        .map_err(|_| format!("stopping at {value}: an interval is 0 to {} ms", u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_config::DEFAULT_CONFIG_FILE;

    fn args(list: &[&str]) -> Vec<OsString> {
        std::iter::once("lovebeat")
            .chain(list.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn cli(list: &[&str]) -> Cli {
        parse_from(args(list)).unwrap_or_else(|err| panic!("{list:?}: {err}"))
    }

    #[test]
    fn no_arguments_runs_the_daemon_on_defaults() {
        let cli = cli(&[]);
        assert_eq!(cli.command, Command::Run);
        assert_eq!(cli.config, None);
        assert_eq!(cli.config_dir, PathBuf::from(DEFAULT_CONFIG_DIR));
        assert!(!cli.debug && !cli.syslog);
    }

    #[test]
    fn global_flags() {
        let cli = cli(&[
            "--config",
            "/x.cfg",
            "--config-dir=/d",
            "--debug",
            "--syslog",
        ]);
        assert_eq!(cli.config, Some(PathBuf::from("/x.cfg")));
        assert_eq!(cli.config_dir, PathBuf::from("/d"));
        assert!(cli.debug && cli.syslog);
        assert_eq!(cli.command, Command::Run);
    }

    #[test]
    fn help_mentions_the_default_config_file() {
        let help = Args::command().render_help().to_string();
        assert!(help.contains(DEFAULT_CONFIG_FILE), "{help}");
    }

    #[test]
    fn version_prints_v_and_the_package_version() {
        let err = parse_from(args(&["--version"])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DisplayVersion);
        let expected = format!("lovebeat v{}\n", env!("CARGO_PKG_VERSION"));
        assert_eq!(err.to_string(), expected);
        let err = parse_from(args(&["-version"])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DisplayVersion);
    }

    #[test]
    fn validate_auto_subcommand() {
        let median = Command::ValidateAuto(AutoArgs::with(Algorithm::Median));
        let adaptive = Command::ValidateAuto(AutoArgs::with(Algorithm::Adaptive));
        assert_eq!(cli(&["validate-auto"]).command, median);
        assert_eq!(
            cli(&["validate-auto", "--algorithm", "adaptive"]).command,
            adaptive
        );
        assert_eq!(
            cli(&["validate-auto", "--algorithm=median"]).command,
            median
        );
        assert!(cli(&["validate-auto", "--debug"]).debug);
        let err = parse_from(args(&["validate-auto", "--algorithm", "mean"])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidValue);
    }

    #[test]
    fn test_alert_takes_the_entry_name() {
        let cli = cli(&["--config", "/x.toml", "test-alert", "ops"]);
        assert_eq!(cli.command, Command::TestAlert { name: "ops".into() });
        assert_eq!(cli.config, Some(PathBuf::from("/x.toml")));
    }

    #[test]
    fn import_subcommand() {
        let cli = cli(&["import", "/var/lib/lovebeat/lovebeat.db", "--config", "/x"]);
        let file = PathBuf::from("/var/lib/lovebeat/lovebeat.db");
        assert_eq!(cli.command, Command::Import { file });
        assert_eq!(cli.config, Some(PathBuf::from("/x")));
        assert!(parse_from(args(&["import"])).is_err());
    }

    #[test]
    fn validate_auto_legacy_flag() {
        let median = Command::ValidateAuto(AutoArgs::with(Algorithm::Median));
        assert_eq!(cli(&["--validate-auto"]).command, median);
        assert_eq!(cli(&["-validate-auto"]).command, median);
        let command = cli(&["--validate-auto", "--algorithm", "adaptive"]).command;
        assert_eq!(
            command,
            Command::ValidateAuto(AutoArgs::with(Algorithm::Adaptive))
        );
        assert!(parse_from(args(&["--algorithm", "adaptive"])).is_err());
        assert!(parse_from(args(&["--validate-auto", "validate-auto"])).is_err());
    }

    #[test]
    fn services_subcommands() {
        let parsed = cli(&[
            "services",
            "--url",
            "http://h:1/",
            "beat",
            "a.b",
            "--err",
            "5m",
        ]);
        let Command::Services { url, command, .. } = parsed.command else {
            panic!("{parsed:?}");
        };
        assert_eq!(url.as_deref(), Some("http://h:1"));
        let timeouts = Timeouts {
            err: Some("300".into()),
            ..Timeouts::default()
        };
        let beat = ServicesCommand::Beat {
            name: "a.b".into(),
            timeouts,
        };
        assert_eq!(command, beat);
        let list = cli(&["services", "list", "--view", "web"]).command;
        assert!(
            matches!(list, Command::Services { command: ServicesCommand::List { view: Some(v) }, .. } if v == "web")
        );
        assert!(parse_from(args(&["services", "--url", "ftp://x", "list"])).is_err());
        assert!(parse_from(args(&["services", "mute"])).is_err());
    }

    /// The services command of a command line.
    fn services_command(list: &[&str]) -> ServicesCommand {
        match cli(list).command {
            Command::Services { command, .. } => command,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statuscope_s_add_token_and_remove() {
        let add = services_command(&[
            "services",
            "add",
            "my_app",
            "--interval",
            "16800",
            "--team",
            "puzzle",
        ]);
        let want = ServicesCommand::Add {
            name: "my_app".into(),
            interval: 16800,
            team: Some("puzzle".into()),
        };
        assert_eq!(add, want);
        let ServicesCommand::Add { interval, team, .. } =
            services_command(&["services", "add", "x"])
        else {
            panic!();
        };
        assert_eq!(
            (interval, team),
            (86_400, None),
            "statuscope's default: a day"
        );
        let token = services_command(&["services", "token", "my_app"]);
        assert_eq!(
            token,
            ServicesCommand::Token {
                name: "my_app".into()
            }
        );
        let remove = services_command(&["services", "remove", "my_app"]);
        assert_eq!(
            remove,
            ServicesCommand::Remove {
                name: "my_app".into()
            }
        );
        let fail = services_command(&["services", "fail", "job", "--message", "exit 3"]);
        let want = ServicesCommand::Fail {
            name: "job".into(),
            message: "exit 3".into(),
        };
        assert_eq!(fail, want);
        assert!(parse_from(args(&["services", "add", "x", "--interval", "-1"])).is_err());
        let ack = services_command(&["services", "ack", "web", "--author", "al", "--comment", "c"]);
        let want = ServicesCommand::Ack {
            view: "web".into(),
            author: "al".into(),
            comment: "c".into(),
        };
        assert_eq!(ack, want);
    }

    #[test]
    fn status_page_needs_an_out_dir() {
        let parsed = cli(&["status-page", "--out", "/var/www/status"]).command;
        let Command::StatusPage { url, out } = parsed else {
            panic!("{parsed:?}");
        };
        assert_eq!((url, out), (None, PathBuf::from("/var/www/status")));
        assert!(parse_from(args(&["status-page"])).is_err());
    }

    #[test]
    fn timeouts_take_durations_and_words() {
        let ok = |t: &str| parse_timeout(t).unwrap();
        assert_eq!(ok("90"), "90");
        assert_eq!(ok("90s"), "90");
        assert_eq!(ok("5m"), "300");
        assert_eq!(ok("2h"), "7200");
        assert_eq!(ok("1d"), "86400");
        assert_eq!(ok("auto"), "auto");
        assert_eq!(ok("never"), "-1");
        assert_eq!(ok("always"), "0");
        for bad in ["", "5x", "-5", "1.5", "0s", "m"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn go_flags_are_rewritten() {
        let rewritten = rewrite_go_flags(args(&[
            "-config",
            "/etc/x.cfg",
            "-config-dir=/etc/lovebeat.conf.d",
            "-syslog",
            "-debug",
            "-validate-auto",
            "-version",
            "-help",
        ]));
        let expected = args(&[
            "--config",
            "/etc/x.cfg",
            "--config-dir=/etc/lovebeat.conf.d",
            "--syslog",
            "--debug",
            "--validate-auto",
            "--version",
            "--help",
        ]);
        assert_eq!(rewritten, expected);
    }

    #[test]
    fn go_boolean_values_are_rewritten() {
        let rewritten = rewrite_go_flags(args(&["-debug=true", "-syslog=false", "--debug=1"]));
        assert_eq!(rewritten, args(&["--debug", "--debug"]));
        let rewritten = rewrite_go_flags(args(&["-debug=yes"]));
        assert_eq!(rewritten, args(&["--debug=yes"]));
        assert!(parse_from(args(&["-debug=yes"])).is_err());
    }

    #[test]
    fn other_arguments_are_left_alone() {
        let list = [
            "-V",
            "-h",
            "-x",
            "--config=/a",
            "validate-auto",
            "-",
            "-conf",
        ];
        assert_eq!(rewrite_go_flags(args(&list)), args(&list));
        let after_dashes = args(&["--", "-debug"]);
        assert_eq!(rewrite_go_flags(after_dashes.clone()), after_dashes);
        assert_eq!(rewrite_go_flags(Vec::new()), Vec::<OsString>::new());
    }

    #[test]
    fn go_command_line_parses() {
        let cli = cli(&[
            "-config-dir=/etc/lovebeat.conf.d",
            "-syslog",
            "-config",
            "/a",
        ]);
        assert_eq!(cli.config_dir, PathBuf::from("/etc/lovebeat.conf.d"));
        assert_eq!(cli.config, Some(PathBuf::from("/a")));
        assert!(cli.syslog);
    }

    fn run_validate(algorithm: Algorithm, input: &str) -> (String, String) {
        run_with(&AutoArgs::with(algorithm), input)
    }

    fn run_with(args: &AutoArgs, input: &str) -> (String, String) {
        let (mut out, mut log) = (Vec::new(), Vec::new());
        validate_auto_logging(args, input.as_bytes(), &mut out, &mut log).unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(log).unwrap(),
        )
    }

    #[test]
    fn validate_auto_adaptive_reproduces_the_reference_stream() {
        let input = "60000\n60000\n60000\n120000\n60000\n";
        let (out, log) = run_validate(Algorithm::Adaptive, input);
        assert_eq!(out, "61000\n61000\n61000\n161625\n150238\n");
        assert_eq!(log, "Validating auto-algorithm from stdin\n");
    }

    #[test]
    fn validate_auto_median_needs_five_intervals() {
        let input = "60000\n60000\n60000\n120000\n60000\n";
        let (out, _) = run_validate(Algorithm::Median, input);
        assert_eq!(out, "none\nnone\nnone\nnone\n90000\n");
    }

    #[test]
    fn validate_auto_trims_and_skips_blank_lines() {
        let (out, _) = run_validate(Algorithm::Adaptive, "\n  60000 \r\n\n\t60000\n");
        assert_eq!(out, "61000\n61000\n");
    }

    #[test]
    fn validate_auto_stops_at_the_first_non_integer() {
        let (out, log) = run_validate(Algorithm::Adaptive, "60000\nabc\n60000\n");
        assert_eq!(out, "61000\n");
        assert!(
            log.ends_with("stopping at \"abc\": not an integer\n"),
            "{log}"
        );
    }

    #[test]
    fn validate_auto_rejects_out_of_range_intervals() {
        let (out, log) = run_validate(Algorithm::Adaptive, "-1\n");
        assert_eq!(out, "");
        assert!(log.contains("stopping at -1"), "{log}");
        let (out, log) = run_validate(Algorithm::Adaptive, "4294967296\n");
        assert_eq!(out, "");
        assert!(log.contains("4294967295"), "{log}");
        let (out, _) = run_validate(Algorithm::Median, "4294967295\n");
        assert_eq!(out, "none\n");
    }

    #[test]
    fn validate_auto_options() {
        let command = cli(&[
            "validate-auto",
            "--timestamps",
            "--tz",
            "-05:00",
            "--explain",
            "--algorithm",
            "rhythm",
        ])
        .command;
        let expected = AutoArgs {
            timestamps: true,
            tz: -300,
            explain: true,
            ..AutoArgs::with(Algorithm::Rhythm)
        };
        assert_eq!(command, Command::ValidateAuto(expected));
        assert!(parse_from(args(&["validate-auto", "--tz", "Paris"])).is_err());
    }

    #[test]
    fn utc_offsets() {
        assert_eq!(parse_utc_offset("+02:00"), Ok(120));
        assert_eq!(parse_utc_offset("-0530"), Ok(-330));
        assert_eq!(parse_utc_offset("+5"), Ok(300));
        assert_eq!(parse_utc_offset("UTC"), Ok(0));
        assert!(parse_utc_offset("+15:00").is_err());
        assert!(parse_utc_offset("0200").is_err());
        assert!(parse_utc_offset("+1:2:3").is_err());
    }

    #[test]
    fn validate_auto_lists_the_estimators() {
        let args = AutoArgs {
            list: true,
            ..AutoArgs::with(Algorithm::Median)
        };
        let (out, log) = run_with(&args, "");
        assert_eq!(out, "median\nadaptive\nrhythm\n");
        assert_eq!(log, "");
    }

    #[test]
    fn validate_auto_timestamps_run_through_the_engine() {
        let args = AutoArgs {
            timestamps: true,
            ..AutoArgs::with(Algorithm::Median)
        };
        let input: String = (0..7)
            .map(|i| format!("{}\n", 1_000_000 + i * 60_000))
            .collect();
        let (out, _) = run_with(&args, &input);
        assert_eq!(out, "none\nnone\nnone\nnone\nnone\n90000\n90000\n");
    }

    #[test]
    fn validate_auto_timestamps_must_not_go_back() {
        let args = AutoArgs {
            timestamps: true,
            ..AutoArgs::with(Algorithm::Rhythm)
        };
        let (out, log) = run_with(&args, "5000\n4000\n");
        assert_eq!(out, "none\n");
        assert!(log.contains("earlier than the beat before it"), "{log}");
    }

    #[test]
    fn validate_auto_explains_each_timeout() {
        let args = AutoArgs {
            explain: true,
            ..AutoArgs::with(Algorithm::Median)
        };
        let (out, _) = run_with(&args, "60000\n60000\n60000\n60000\n60000\n");
        let last = out.lines().last().unwrap();
        assert_eq!(
            last,
            "90000\t1.5 × the median of the last 5 intervals; late after 90 s"
        );
    }

    #[test]
    fn traces_are_beat_times_with_comments() {
        assert_eq!(parse_trace("# t\n1000\n\n 2000 \n"), Ok(vec![1000, 2000]));
        assert!(parse_trace("1000\n").is_err());
        assert!(parse_trace("1000\nx\n").unwrap_err().starts_with("line 2"));
    }
}
