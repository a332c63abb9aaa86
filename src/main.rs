//! The `lovebeat` binary: command line, configuration and wiring.
//!
//! Everything with a rule in it lives in the library crates; this file
//! reads the config, sets up logging, opens the database (`database`),
//! starts the server and waits for a signal to stop it, which saves
//! everything before exiting.

mod cli;
mod config;
mod database;

use std::process::ExitCode;

use lovebeat_core::{Engine, EngineConfig};
use lovebeat_server::{Persistence, Server, Settings, now_ms};
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};
use crate::config::Config;

/// Exit status for a configuration error (Go lovebeat's, too).
const EXIT_CONFIG: u8 = 2;
/// Exit status for any other failure to start.
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    let cli = cli::parse();
    match cli.command {
        Command::ValidateAuto { algorithm } => {
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            match cli::validate_auto(algorithm, stdin, stdout) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("lovebeat: {e}");
                    ExitCode::from(EXIT_FAILURE)
                }
            }
        }
        Command::Run => run_daemon(&cli),
        Command::Import { ref file } => run_import(&cli, file),
    }
}

/// `lovebeat import FILE`.
fn run_import(cli: &Cli, file: &std::path::Path) -> ExitCode {
    init_logging(cli);
    let config = match load_config(cli) {
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

fn init_logging(cli: &Cli) {
    let default = if cli.debug { "debug" } else { "info" };
    let filter =
        EnvFilter::try_from_env("LOVEBEAT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn load_config(cli: &Cli) -> Result<Config, config::ConfigError> {
    let files = config::resolve_files(cli.config.as_deref(), &cli.config_dir)?;
    for file in &files {
        tracing::info!("Reading configuration file {}", file.display());
    }
    config::load(&files)
}

fn run_daemon(cli: &Cli) -> ExitCode {
    init_logging(cli);
    tracing::info!("lovebeat v{}", env!("CARGO_PKG_VERSION"));
    let config = match load_config(cli) {
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

async fn serve(config: Config) -> ExitCode {
    let engine_config = EngineConfig {
        algorithm: config.auto.algorithm,
        history: config.auto.history,
        views: config.views.iter().map(|v| v.template.clone()).collect(),
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
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// Waits for SIGTERM or SIGINT (Ctrl-C).
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM can be handled");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
