//! The `lovebeat` binary: command line, configuration and wiring.
//!
//! Everything with a rule in it lives in the library crates; this file
//! reads the config, sets up logging, opens the database (`database`),
//! starts the server and the tasks that let other tools watch it, and
//! handles signals: SIGTERM and SIGINT save everything and stop it, SIGHUP
//! reopens the event log. `lovebeat services …` is a client of a running
//! daemon (`services`).

mod cli;
mod config;
mod database;
mod logging;
mod services;

use std::process::ExitCode;

use lovebeat_core::{Engine, EngineConfig};
use lovebeat_server::eventlog::EventLogSettings;
use lovebeat_server::metrics::MetricsSettings;
use lovebeat_server::notify::{PeerSettings, service_host};
use lovebeat_server::ops::{Ops, OpsSettings};
use lovebeat_server::statsd::StatsdSettings;
use lovebeat_server::{Persistence, Server, Settings, now_ms};

use crate::cli::{Cli, Command, ServicesCommand};
use crate::config::Config;
use crate::logging::Logging;

/// Exit status for a configuration error (Go lovebeat's, too).
const EXIT_CONFIG: u8 = 2;
/// Exit status for any other failure to start.
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    let cli = cli::parse();
    match &cli.command {
        Command::ValidateAuto(args) => {
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            exit_status(cli::validate_auto(args, stdin, stdout))
        }
        Command::Simulate(args) => exit_status(cli::simulate(args, std::io::stdout().lock())),
        Command::Services { url, command } => run_services(&cli, url.as_deref(), command),
        Command::Run => run_daemon(&cli),
        Command::Import { file } => run_import(&cli, file),
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

fn load_config(cli: &Cli, log: bool) -> Result<Config, config::ConfigError> {
    let files = config::resolve_files(cli.config.as_deref(), &cli.config_dir)?;
    if log {
        for file in &files {
            tracing::info!("Reading configuration file {}", file.display());
        }
    }
    config::load(&files)
}

fn run_services(cli: &Cli, url: Option<&str>, command: &ServicesCommand) -> ExitCode {
    let url = match url {
        Some(url) => url.to_owned(),
        None => match load_config(cli, false) {
            Ok(config) => services::url_of_listen(&config.http.listen),
            Err(e) => {
                eprintln!("lovebeat: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
    };
    match services::run(&url, command, std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
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

/// The self-monitoring the config asks for.
fn ops_settings(config: &Config) -> OpsSettings {
    OpsSettings {
        statsd: config.metrics.server.as_ref().map(|server| StatsdSettings {
            server: server.clone(),
            prefix: config.metrics.prefix.clone(),
        }),
        eventlog: config.eventlog.path.as_ref().map(|path| EventLogSettings {
            path: path.clone(),
            mode: config.eventlog.mode,
        }),
        peers: Some(PeerSettings {
            urls: config.notify.clone(),
            host: service_host(config.peers.host.as_deref().unwrap_or("")),
            interval: config.peers.interval,
        }),
    }
}

async fn serve(config: Config) -> ExitCode {
    let engine_config = EngineConfig {
        algorithm: config.auto.algorithm,
        history: config.auto.history,
        views: config.views.iter().map(|v| v.template.clone()).collect(),
        utc_offset_min: 0,
    };
    let opened = match database::open(&config.database.filename, now_ms()) {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let contents = opened.contents;
    let engine = Engine::restore(engine_config, now_ms(), contents.services, contents.views);
    let settings = Settings {
        udp: config.udp.listen.bind_addrs(),
        tcp: config.tcp.listen.bind_addrs(),
        http: config.http.listen.bind_addrs(),
        base_path: config.http.base_path.clone(),
        queue: 4096,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        metrics: MetricsSettings {
            max_services: config.prometheus.max_services,
        },
        persistence: Some(Persistence {
            store: opened.store,
            interval: config.database.interval,
        }),
        startup_grace: config.database.startup_grace,
    };
    let server = match Server::start(settings, engine).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let ops = match Ops::start(&server.engine, ops_settings(&config)) {
        Ok(ops) => ops,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            server.shutdown().await;
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    wait_for_stop(&ops).await;
    tracing::info!("shutting down");
    server.shutdown().await;
    ops.shutdown().await;
    ExitCode::SUCCESS
}

/// Waits for SIGTERM or SIGINT (Ctrl-C); reopens the event log on SIGHUP.
async fn wait_for_stop(ops: &Ops) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM can be handled");
    let mut hup = signal(SignalKind::hangup()).expect("SIGHUP can be handled");
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = tokio::signal::ctrl_c() => return,
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reopening the event log");
                ops.reopen_eventlog();
            }
        }
    }
}
