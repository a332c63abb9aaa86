//! Process logging: tracing to stderr by default, or with `--syslog` to the
//! local syslog socket ([`SYSLOG_SOCKET`]) as facility DAEMON with the tag
//! `lovebeat`, as Go lovebeat did. `--debug` lowers the level to debug;
//! `LOVEBEAT_LOG` (an `EnvFilter`, e.g. `lovebeat_engine=trace`) overrides
//! both.
//!
//! Syslog messages are RFC 3164 as the local daemons (rsyslog, journald,
//! busybox syslogd) take them: `<PRI>lovebeat[PID]: message`, one datagram
//! each, the level carried by PRI. When the socket cannot be reached at
//! startup, lovebeat says so and logs to stderr.

use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use tracing::{Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Where the local syslog daemon listens.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// The syslog facility DAEMON (3), shifted into PRI.
const FACILITY_DAEMON: u8 = 3 << 3;

/// Longest message sent; longer ones are cut (the daemons' limits vary).
const MAX_MESSAGE: usize = 8192;

/// How the binary logs, from the command line.
pub struct Logging {
    pub debug: bool,
    pub syslog: bool,
}

/// Installs the global subscriber.
pub fn init(logging: &Logging) {
    let default = if logging.debug { "debug" } else { "info" };
    let filter =
        || EnvFilter::try_from_env("LOVEBEAT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let mut fallback = None;
    if logging.syslog {
        match Syslog::connect(Path::new(SYSLOG_SOCKET)) {
            Ok(syslog) => {
                tracing_subscriber::fmt()
                    .with_env_filter(filter())
                    .with_writer(syslog)
                    .with_ansi(false)
                    .without_time()
                    .with_level(false)
                    .with_target(false)
                    .init();
                return;
            }
            Err(e) => fallback = Some(e),
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(io::stderr)
        .with_target(false)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .init();
    if let Some(e) = fallback {
        tracing::warn!("cannot log to syslog at {SYSLOG_SOCKET}: {e}; logging to stderr");
    }
}

/// A connection to the local syslog socket.
#[derive(Debug)]
pub struct Syslog {
    path: PathBuf,
    socket: UnixDatagram,
    pid: u32,
}

impl Syslog {
    pub fn connect(path: &Path) -> io::Result<Syslog> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(path)?;
        Ok(Syslog {
            path: path.to_owned(),
            socket,
            pid: std::process::id(),
        })
    }

    /// Sends one message; reconnects once if the daemon restarted, and
    /// falls back to stderr if that fails too.
    fn send(&self, severity: u8, message: &[u8]) {
        let mut datagram =
            format!("<{}>lovebeat[{}]: ", FACILITY_DAEMON | severity, self.pid).into_bytes();
        let message = message.trim_ascii_end();
        datagram.extend_from_slice(&message[..message.len().min(MAX_MESSAGE)]);
        if self.socket.send(&datagram).is_ok() {
            return;
        }
        let resent = UnixDatagram::unbound()
            .and_then(|s| s.connect(&self.path).map(|()| s))
            .and_then(|s| s.send(&datagram));
        if resent.is_err() {
            let _ = io::stderr().write_all(&[message, b"\n"].concat());
        }
    }
}

/// The syslog severity of a tracing level.
fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// One log line being formatted; sent when dropped.
pub struct SyslogLine<'a> {
    syslog: &'a Syslog,
    severity: u8,
    buf: Vec<u8>,
}

impl Write for SyslogLine<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine<'_> {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            self.syslog.send(self.severity, &self.buf);
        }
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine<'a>;

    fn make_writer(&'a self) -> SyslogLine<'a> {
        SyslogLine {
            syslog: self,
            severity: severity(&Level::INFO),
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> SyslogLine<'a> {
        SyslogLine {
            syslog: self,
            severity: severity(meta.level()),
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn server() -> (tempfile::TempDir, PathBuf, UnixDatagram) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (dir, path, server)
    }

    fn receive(server: &UnixDatagram) -> String {
        let mut buf = [0u8; 16384];
        let n = server.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn a_line_is_one_datagram_with_daemon_facility_and_the_level() {
        let (_dir, path, server) = server();
        let syslog = Syslog::connect(&path).unwrap();
        let pid = std::process::id();
        writeln!(syslog.make_writer(), "HTTP listening on 127.0.0.1:8080").unwrap();
        assert_eq!(
            receive(&server),
            format!("<30>lovebeat[{pid}]: HTTP listening on 127.0.0.1:8080")
        );
        let mut line = SyslogLine {
            syslog: &syslog,
            severity: severity(&Level::ERROR),
            buf: Vec::new(),
        };
        line.write_all(b"cannot ").unwrap();
        line.write_all(b"write\n").unwrap();
        drop(line);
        assert_eq!(
            receive(&server),
            format!("<27>lovebeat[{pid}]: cannot write")
        );
    }

    #[test]
    fn levels_map_to_severities() {
        let levels = [
            Level::ERROR,
            Level::WARN,
            Level::INFO,
            Level::DEBUG,
            Level::TRACE,
        ];
        assert_eq!(levels.map(|l| severity(&l)), [3, 4, 6, 7, 7]);
    }

    #[test]
    fn a_missing_socket_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Syslog::connect(&dir.path().join("nothing")).is_err());
    }

    #[test]
    fn a_restarted_daemon_is_reconnected() {
        let (_dir, path, server) = server();
        let syslog = Syslog::connect(&path).unwrap();
        drop(server);
        std::fs::remove_file(&path).unwrap();
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        syslog.send(6, b"back\n");
        assert!(receive(&server).ends_with("]: back"));
    }
}
