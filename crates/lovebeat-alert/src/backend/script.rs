//! The script back-end and the `on_ok` / `on_error` commands.
//!
//! A `script` is a program run with no arguments (as Go lovebeat ran it);
//! a command is a line for `/bin/sh -c`. Both get the `LOVEBEAT_*`
//! environment and lovebeat's stdout and stderr, and are killed when the
//! worker's attempt timeout drops them.

use std::process::Stdio;

use tokio::process::Command;

use super::delivery::{Backend, BoxFuture, DeliveryError};
use crate::alert::Alert;
use crate::format;

/// A program, or a shell command line.
pub(crate) struct Script {
    program: String,
    args: Vec<String>,
}

impl Script {
    pub fn program(path: String) -> Script {
        Script {
            program: path,
            args: Vec::new(),
        }
    }

    pub fn shell(command: String) -> Script {
        Script {
            program: "/bin/sh".to_owned(),
            args: vec!["-c".to_owned(), command],
        }
    }

    async fn run(&self, alert: &Alert) -> Result<(), DeliveryError> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(format::script_env(alert))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let status = command
            .spawn()
            .map_err(DeliveryError::Spawn)?
            .wait()
            .await
            .map_err(DeliveryError::Spawn)?;
        if status.success() {
            Ok(())
        } else {
            Err(DeliveryError::Exit(status))
        }
    }
}

impl Backend for Script {
    fn deliver<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.run(alert))
    }
}

#[cfg(test)]
mod tests {
    use lovebeat_core::State;

    use super::*;

    fn alert() -> Alert {
        Alert {
            view: "db".into(),
            from: State::Ok,
            to: State::Error,
            incident: 2,
            at: 0,
            failed: vec![],
            team: None,
            occasion: crate::alert::Occasion::Change,
        }
    }

    #[tokio::test]
    async fn a_command_sees_the_environment() {
        let check = r#"test "$LOVEBEAT_ALARM/$LOVEBEAT_STATE/$LOVEBEAT_INCIDENT" = db/ERROR/2"#;
        let result = Script::shell(check.to_owned()).deliver(&alert()).await;
        assert!(result.is_ok(), "{result:?}");
    }

    #[tokio::test]
    async fn a_failing_exit_is_an_error() {
        let result = Script::shell("exit 3".to_owned()).deliver(&alert()).await;
        assert!(matches!(result, Err(DeliveryError::Exit(_))), "{result:?}");
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error() {
        let result = Script::program("/nonexistent/x".to_owned())
            .deliver(&alert())
            .await;
        assert!(matches!(result, Err(DeliveryError::Spawn(_))), "{result:?}");
    }
}
