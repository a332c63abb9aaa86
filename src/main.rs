//! The `lovebeat` binary: command line and wiring.
//!
//! Everything with a rule in it lives in the library crates; this file
//! reads the config (`lovebeat_config`), sets up logging, opens the
//! database (`database`), starts the server (with the tasks that let other
//! tools watch it), and handles signals: SIGTERM and SIGINT save everything
//! and stop it, SIGHUP reopens the event log. `lovebeat services …` is a
//! client of a running daemon (`services`).

mod cli;
mod database;
mod logging;
mod services;

use std::process::ExitCode;
use std::sync::Arc;

use lovebeat_alert::{Alerter, adopt_announced_states};
use lovebeat_config::{Config, ConfigError};
use lovebeat_core::Engine;
use lovebeat_core::clock::now_ms;
use lovebeat_daemon::{Server, Settings};
use lovebeat_engine::Persistence;
use lovebeat_engine::outbox::StoreOutbox;
use lovebeat_monitors::history::{self, StateHistory};
use lovebeat_monitors::messages::MessageBoard;
use lovebeat_monitors::probes::{ProbeSettings, Probes, Target};
use lovebeat_monitors::s3::S3Copy;
use lovebeat_monitors::signals::TokenBook;
use lovebeat_ops::OpsSettings;
use lovebeat_ops::notify::{PeerSettings, service_host};
use lovebeat_store::Store;

use crate::cli::{Cli, Command, ServicesCommand};
use crate::logging::Logging;
use crate::services::Api;

/// Exit status for a configuration error (Go lovebeat's, too).
const EXIT_CONFIG: u8 = 2;
/// Exit status for any other failure to start.
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    let cli = cli::parse();
    // reqwest (alerts, active checks, the S3 copy, peer notify, `lovebeat
    // services`) is built without a TLS provider of its own; lettre uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match &cli.command {
        Command::ValidateAuto(args) => {
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            exit_status(cli::validate_auto(args, stdin, stdout))
        }
        Command::Simulate(args) => exit_status(cli::simulate(args, std::io::stdout().lock())),
        Command::Services {
            url,
            token,
            command,
        } => run_services(&cli, url.as_deref(), token.as_deref(), command),
        Command::Run => run_daemon(&cli),
        Command::Import { file } => run_import(&cli, file),
        Command::StatusPage { url, out } => run_status_page(&cli, url.as_deref(), out),
        Command::TestAlert { name } => test_alert(&cli, name),
    }
}

/// `lovebeat status-page --out DIR`.
fn run_status_page(cli: &Cli, url: Option<&str>, out: &std::path::Path) -> ExitCode {
    let url = match daemon_url(cli, url) {
        Ok(url) => url,
        Err(code) => return code,
    };
    match services::save_status_page(&url, out) {
        Ok(file) => {
            println!("Wrote {}", file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lovebeat: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// The daemon's URL: given, or from the config's `[http] listen`.
fn daemon_url(cli: &Cli, url: Option<&str>) -> Result<String, ExitCode> {
    match url {
        Some(url) => Ok(url.to_owned()),
        None => match load_config(cli, false) {
            Ok(config) => Ok(services::url_of_listen(&config.http_listen)),
            Err(e) => {
                eprintln!("lovebeat: {e}");
                Err(ExitCode::from(EXIT_CONFIG))
            }
        },
    }
}

/// `lovebeat test-alert NAME`: one sample alert through each back-end of
/// the entry; exit 0 when every one delivered, 1 when one failed, 2 for a
/// bad config or an unknown entry.
fn test_alert(cli: &Cli, name: &str) -> ExitCode {
    logging::init(&Logging {
        debug: cli.debug,
        syslog: false,
    });
    let config = match load_config(cli, false) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let results = runtime.block_on(lovebeat_alert::test_alert(config.alert, name));
    let results = match results {
        Ok(results) => results,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if results.is_empty() {
        println!("[alerts.{name}] has no mail, webhook, slack_channel, script or channel to test");
    }
    let mut failed = false;
    for (target, result) in results {
        let kind = target.kind();
        match result {
            Ok(()) => println!("{kind}: sent"),
            Err(e) => {
                failed = true;
                println!("{kind}: failed: {e}");
            }
        }
    }
    if failed {
        ExitCode::from(EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}

/// Success, or the error on stderr and [`EXIT_FAILURE`].
fn exit_status(result: std::io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// `lovebeat import FILE`.
fn run_import(cli: &Cli, file: &std::path::Path) -> ExitCode {
    logging::init(&Logging {
        debug: cli.debug,
        syslog: cli.syslog,
    });
    let config = match load_config(cli, true) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match database::import_command(&config.database.filename, file, now_ms()) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lovebeat: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// The config of `--config` and `--config-dir`; with `log`, the files read
/// and what they say that Go lovebeat read differently are logged.
fn load_config(cli: &Cli, log: bool) -> Result<Config, ConfigError> {
    let files = lovebeat_config::resolve_files(cli.config.as_deref(), &cli.config_dir)?;
    if log {
        for file in &files {
            tracing::info!("Reading configuration file {}", file.display());
        }
    }
    let config = lovebeat_config::load(&files)?;
    if log {
        for warning in &config.warnings {
            tracing::warn!("{warning}");
        }
    }
    Ok(config)
}

fn run_services(
    cli: &Cli,
    url: Option<&str>,
    token: Option<&str>,
    command: &ServicesCommand,
) -> ExitCode {
    let api = match daemon_api(cli, url, token) {
        Ok(api) => api,
        Err(code) => return code,
    };
    match services::run(&api, command, std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// The daemon's API and the bearer token to show it: given, or the
/// config's `[http] listen` and first write token (a config that does not
/// load is an error only when the URL must come from it).
fn daemon_api(cli: &Cli, url: Option<&str>, token: Option<&str>) -> Result<Api, ExitCode> {
    let (url, config) = match url {
        Some(url) => {
            let config = token.is_none().then(|| load_config(cli, false).ok());
            (url.to_owned(), config.flatten())
        }
        None => {
            let config = load_config(cli, false).map_err(|e| {
                eprintln!("lovebeat: {e}");
                ExitCode::from(EXIT_CONFIG)
            })?;
            (services::url_of_listen(&config.http_listen), Some(config))
        }
    };
    let token = token
        .map(str::to_owned)
        .or_else(|| config?.http_access.tokens.write.into_iter().next());
    Ok(Api { url, token })
}

fn run_daemon(cli: &Cli) -> ExitCode {
    logging::init(&Logging {
        debug: cli.debug,
        syslog: cli.syslog,
    });
    tracing::info!("lovebeat v{}", env!("CARGO_PKG_VERSION"));
    let host = service_host("");
    let dir = std::env::current_dir().map_or_else(|_| "?".to_owned(), |d| d.display().to_string());
    tracing::info!(
        "Started on {host}, PID {}, running from {dir}",
        std::process::id()
    );
    let config = match load_config(cli, true) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    runtime.block_on(serve(config))
}

/// The self-monitoring the config asks for: its settings, the peers'
/// host named.
fn ops_settings(config: &Config) -> OpsSettings {
    OpsSettings {
        statsd: config.statsd.clone(),
        eventlog: config.eventlog.clone(),
        peers: Some(PeerSettings {
            host: service_host(&config.peers.host),
            ..config.peers.clone()
        }),
    }
}

async fn serve(config: Config) -> ExitCode {
    raise_fd_limit(&config);
    let s3 = config.database.remote_s3.as_ref().map(S3Copy::new);
    let s3 = match s3.transpose() {
        Ok(s3) => s3,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let opened = match database::open(&config.database.filename, s3.as_ref(), now_ms()).await {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let mut contents = opened.contents;
    let outbox = Arc::new(StoreOutbox(opened.store.clone()));
    match adopt_announced_states(outbox.as_ref(), &mut contents.views) {
        Ok(0) => {}
        Ok(n) => tracing::info!("{n} view(s) take the state their pending alert announced"),
        Err(e) => {
            eprintln!("lovebeat: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    }
    // At a million services the restore and the status history take most
    // of a second each: side by side, on the two threads of a small machine.
    let (engine, extras) = std::thread::scope(|scope| {
        let extras = scope.spawn(|| Extras::load(&config, &opened.store));
        let mut engine = Engine::restore(
            config.engine.clone(),
            now_ms(),
            contents.services,
            contents.views,
        );
        for service in &config.services {
            engine.set_schedule(now_ms(), &service.name, Some(service.schedule.clone()));
        }
        (
            engine,
            extras.join().expect("loading the extras does not panic"),
        )
    });
    let extras = match extras {
        Ok(extras) => extras,
        Err((code, e)) => {
            eprintln!("lovebeat: {e}");
            return ExitCode::from(code);
        }
    };
    let ops_settings = ops_settings(&config);
    let scrubbed = opened.store.clone();
    // Alerts left undelivered by the last run are queued first.
    let alerter = match Alerter::start(config.alert, outbox) {
        Ok(alerter) => alerter,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let settings = Settings {
        udp: config.udp_listen.bind_addrs(),
        tcp: config.tcp_listen.bind_addrs(),
        http: config.http_listen.bind_addrs(),
        base_path: config.base_path,
        queue: config.queue,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        series: config.series,
        persistence: Some(Persistence {
            store: opened.store,
            interval: config.database.interval,
        }),
        s3,
        startup_grace: config.database.startup_grace,
        tokens: extras.tokens,
        messages: extras.messages,
        history: extras.history,
        probes: extras.probes,
        status_page: config.status_page,
        alerter,
        ingest: config.ingest,
        http_limits: config.http_limits,
        http_access: config.http_access,
        ops: ops_settings,
    };
    let server = match Server::start(settings, engine).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    database::scrub_in_background(scrubbed);
    wait_for_stop(&server).await;
    tracing::info!("shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// File descriptors kept for everything but client connections: the
/// store, listeners, the event log, outgoing alerts.
const FD_RESERVE: u64 = 256;

/// Raises the open-file limit to its hard limit, so `[limits]
/// tcp_connections` and `http_connections` can be reached; warns when even
/// that is too low (then accepts fail, are logged and retried, and the
/// other listeners keep working).
fn raise_fd_limit(config: &Config) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        let wanted = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
            limit.rlim_max
        } else {
            limit.rlim_cur
        }
    };
    let needed = (config.ingest.tcp_connections + config.http_limits.connections) as u64;
    if soft < needed + FD_RESERVE {
        tracing::warn!(
            "the open-file limit ({soft}) is below [limits] tcp_connections + http_connections \
             ({needed}) + {FD_RESERVE}; raise it (LimitNOFILE=) or lower them"
        );
    }
}

/// What the server keeps beside the engine: push tokens, incident
/// messages and the status history from the store, and the active checks,
/// ready to run.
struct Extras {
    tokens: Arc<TokenBook>,
    messages: Arc<MessageBoard>,
    history: Arc<StateHistory>,
    probes: Probes,
}

impl Extras {
    /// Loads them; a failure comes with the exit status it deserves.
    fn load(config: &Config, store: &Store) -> Result<Extras, (u8, String)> {
        let failed = |e: lovebeat_store::StoreError| (EXIT_FAILURE, e.to_string());
        let tokens = TokenBook::load(Some(store.clone())).map_err(failed)?;
        let messages = MessageBoard::load(Some(store.clone()), now_ms()).map_err(failed)?;
        let probes =
            Probes::new(probe_settings(config)?).map_err(|e| (EXIT_CONFIG, e.to_string()))?;
        Ok(Extras {
            tokens: Arc::new(tokens),
            messages: Arc::new(messages),
            history: Arc::new(history::load(Some(store))),
            probes,
        })
    }
}

/// `[[checks]]` and `[probes]`, each check's `ca_file` read.
fn probe_settings(config: &Config) -> Result<ProbeSettings, (u8, String)> {
    let mut checks = Vec::with_capacity(config.checks.len());
    for def in &config.checks {
        let mut spec = def.spec.clone();
        if let (Some(file), Target::Http { ca_pem, .. }) = (&def.ca_file, &mut spec.target) {
            let pem = std::fs::read(file).map_err(|e| {
                let what = format!("check {:?}: ca_file {}: {e}", spec.name, file.display());
                (EXIT_CONFIG, what)
            })?;
            *ca_pem = Some(pem);
        }
        checks.push(spec);
    }
    Ok(ProbeSettings {
        probes: checks,
        concurrency: config.probes.concurrency,
        user_agent: format!("lovebeat/{}", env!("CARGO_PKG_VERSION")),
    })
}

/// Waits for SIGTERM or SIGINT (Ctrl-C); reopens the event log on SIGHUP.
async fn wait_for_stop(server: &Server) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM can be handled");
    let mut hup = signal(SignalKind::hangup()).expect("SIGHUP can be handled");
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = tokio::signal::ctrl_c() => return,
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reopening the event log");
                server.reopen_eventlog();
            }
        }
    }
}
