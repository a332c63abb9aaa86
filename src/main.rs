//! The `lovebeat` binary: command line, configuration and wiring.
//!
//! Everything with a rule in it lives in the library crates; this file
//! reads the config, sets up logging, starts the server and waits for a
//! signal to stop it.

mod cli;
mod config;

use std::process::ExitCode;
use std::sync::Arc;

use lovebeat_alert::{Alerter, MemoryOutbox, RetryPolicy};
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
    // reqwest is built without a TLS provider of its own; lettre uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match &cli.command {
        Command::ValidateAuto { algorithm } => {
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            match cli::validate_auto(*algorithm, stdin, stdout) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("lovebeat: {e}");
                    ExitCode::from(EXIT_FAILURE)
                }
            }
        }
        Command::Run => run_daemon(&cli),
        Command::TestAlert { name } => test_alert(&cli, name),
    }
}

/// `lovebeat test-alert NAME`: one sample alert through each back-end of
/// the entry; exit 0 when every one delivered, 1 when one failed, 2 for a
/// bad config or an unknown entry.
fn test_alert(cli: &Cli, name: &str) -> ExitCode {
    init_logging(cli);
    let config = match load_config(cli) {
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
    let results = runtime.block_on(lovebeat_alert::test_alert(alert_settings(&config), name));
    let results = match results {
        Ok(results) => results,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if results.is_empty() {
        println!("[alerts.{name}] has no mail, webhook, slack_channel or script to test");
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

/// What the alerter needs from the configuration.
fn alert_settings(config: &Config) -> lovebeat_alert::Settings {
    let entries = config
        .alerts
        .iter()
        .map(|(name, a)| {
            let entry = lovebeat_alert::Entry {
                mail: a.mail.clone(),
                webhook: a.webhook.clone(),
                webhook_headers: a.webhook_headers.clone(),
                slack_channel: a.slack_channel.clone(),
                script: a.script.clone(),
                on_ok: a.on_ok.clone(),
                on_error: a.on_error.clone(),
                warnings: a.warnings,
            };
            (name.clone(), entry)
        })
        .collect();
    let mail = &config.mail;
    let delivery = &config.delivery;
    lovebeat_alert::Settings {
        entries,
        views: config.views.iter().map(|v| v.alerts.clone()).collect(),
        mail: lovebeat_alert::MailSettings {
            server: mail.server.clone(),
            from: mail.from.clone(),
            tls: mail.tls,
            user: mail.user.clone(),
            password: mail.password.clone(),
        },
        mailgun: config
            .mailgun
            .as_ref()
            .map(|m| lovebeat_alert::MailgunSettings {
                domain: m.domain.clone(),
                from: m.from.clone(),
                api_key: m.api_key.clone(),
                api_url: m.api_url.clone(),
            }),
        slack_webhook_url: config.slack.webhook_url.clone(),
        public_url: config.public_url.clone(),
        retry: RetryPolicy {
            first: delivery.retry_first,
            max: delivery.retry_max,
            give_up_after: delivery.give_up_after,
        },
        timeout: delivery.timeout,
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
    let engine = Engine::new(engine_config, now_ms());
    // Until the store lands, alerts wait in memory (lost on restart).
    let outbox = Arc::new(MemoryOutbox::default());
    let alerter = match Alerter::start(alert_settings(&config), outbox) {
        Ok(alerter) => alerter,
        Err(e) => {
            eprintln!("lovebeat: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let settings = Settings {
        udp: config.udp.listen.bind_addrs(),
        tcp: config.tcp.listen.bind_addrs(),
        http: config.http.listen.bind_addrs(),
        base_path: config.http.base_path.clone(),
        queue: 4096,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        alerter,
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
