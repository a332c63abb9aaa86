//! The `lovebeat` binary: command line, configuration and wiring.
//!
//! Everything with a rule in it lives in the library crates; this file
//! reads the config, sets up logging, starts the server and waits for a
//! signal to stop it.

mod cli;
mod config;

use std::process::ExitCode;

use lovebeat_core::{Engine, EngineConfig};
use lovebeat_server::{Server, Settings, now_ms};
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
        Command::ValidateAuto(args) => {
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            exit_status(cli::validate_auto(&args, stdin, stdout))
        }
        Command::Simulate(args) => exit_status(cli::simulate(&args, std::io::stdout().lock())),
        Command::Run => run_daemon(&cli),
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
        utc_offset_min: 0,
    };
    let engine = Engine::new(engine_config, now_ms());
    let settings = Settings {
        udp: config.udp.listen.bind_addrs(),
        tcp: config.tcp.listen.bind_addrs(),
        http: config.http.listen.bind_addrs(),
        queue: 4096,
        version: env!("CARGO_PKG_VERSION").to_owned(),
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
