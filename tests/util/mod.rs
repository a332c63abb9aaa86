//! The test harness: starts the real `lovebeat` binary in a fresh directory
//! on free loopback ports, and talks to it over real sockets.
//!
//! Ports: every listener is configured on port 0 and the daemon logs the
//! address it bound ("HTTP listening on …"); the harness reads them from
//! its stderr. Time: tests never sleep a fixed amount and hope; they poll
//! with [`eventually`] under a generous deadline.

#![allow(dead_code)]

pub mod prom;
pub mod receivers;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a test waits for anything before it fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Path of the binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lovebeat"))
}

/// Polls `check` until it returns `Some`, or panics with `what` after
/// [`DEADLINE`].
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// A running daemon; killed when dropped.
pub struct Daemon {
    child: Child,
    /// The daemon's working directory (its database lives here).
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub http: SocketAddr,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

/// The listener part of every test config: loopback, OS-chosen ports.
pub const LISTEN: &str = r#"
[udp]
listen = "127.0.0.1:0"
[tcp]
listen = "127.0.0.1:0"
[http]
listen = "127.0.0.1:0"
"#;

impl Daemon {
    /// A daemon with the default config (on free ports).
    pub fn start() -> Daemon {
        Daemon::with_config("")
    }

    /// A daemon with `extra` TOML appended to the listener config.
    pub fn with_config(extra: &str) -> Daemon {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let dir = tmp.path().to_owned();
        let mut daemon = Daemon::start_in(&dir, extra, &[]);
        daemon._tmp = Some(tmp);
        daemon
    }

    /// A daemon with `extra` TOML as a file of its config directory, so it
    /// may set keys of the listener tables (`[udp] allow`, `[http] …`).
    pub fn with_conf_d(extra: &str) -> Daemon {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let dir = tmp.path().to_owned();
        std::fs::create_dir(dir.join("conf.d")).expect("conf.d created");
        std::fs::write(dir.join("conf.d/extra.toml"), extra).expect("config written");
        let mut daemon = Daemon::start_in(&dir, "", &[]);
        daemon._tmp = Some(tmp);
        daemon
    }

    /// A daemon in `dir` (which outlives it, for restarts), with extra
    /// command-line arguments.
    pub fn start_in(dir: &Path, extra: &str, args: &[&str]) -> Daemon {
        let config = dir.join("lovebeat.toml");
        std::fs::write(&config, format!("{LISTEN}\n{extra}")).expect("config written");
        let mut child = Command::new(binary())
            .arg("--config")
            .arg(&config)
            .arg("--config-dir")
            .arg(dir.join("conf.d"))
            .args(args)
            .current_dir(dir)
            .env_remove("LOVEBEAT_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lovebeat starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut daemon = Daemon {
            child,
            dir: dir.to_owned(),
            _tmp: None,
            http: unbound(),
            udp: unbound(),
            tcp: unbound(),
            log,
        };
        daemon.http = daemon.listening("HTTP");
        daemon.udp = daemon.listening("UDP");
        daemon.tcp = daemon.listening("TCP");
        daemon
    }

    /// The address from the daemon's "<what> listening on <addr>" line.
    fn listening(&mut self, what: &str) -> SocketAddr {
        let prefix = format!("{what} listening on ");
        eventually(&format!("{what} to listen"), || {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("lovebeat exited with {status}:\n{}", self.log_text());
            }
            self.log.lock().unwrap().iter().find_map(|l| {
                l.split_once(&prefix)
                    .map(|(_, a)| a.trim().parse().unwrap())
            })
        })
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// Sends one UDP datagram.
    pub fn send_udp(&self, payload: &str) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.send_to(payload.as_bytes(), self.udp).unwrap();
    }

    /// Sends bytes over a fresh TCP connection and closes it.
    pub fn send_tcp(&self, payload: &[u8]) {
        let mut stream = TcpStream::connect(self.tcp).unwrap();
        stream.write_all(payload).unwrap();
    }

    /// GET; returns the status and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, &[], "")
    }

    /// GET a JSON document.
    pub fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.request("GET", path, &[("Accept", "application/json")], "");
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// POST a form body.
    pub fn post_form(&self, path: &str, body: &str) -> (u16, String) {
        let ct = ("Content-Type", "application/x-www-form-urlencoded");
        self.request("POST", path, &[ct], body)
    }

    /// Any request.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        http(method, &self.url(path), headers, body)
    }

    /// The service's JSON, or None when it does not exist.
    pub fn service(&self, name: &str) -> Option<Value> {
        let (status, body) = self.get(&format!("/api/services/{name}"));
        (status == 200).then(|| serde_json::from_str::<Value>(&body).unwrap()["service"].clone())
    }

    /// The service's state ("ok", "error", …), or None.
    pub fn state(&self, name: &str) -> Option<String> {
        self.service(name)
            .map(|s| s["state"].as_str().unwrap().to_owned())
    }

    /// Waits until the service is in `state`.
    pub fn wait_state(&self, name: &str, state: &str) {
        eventually(&format!("{name} to be {state}"), || {
            (self.state(name).as_deref() == Some(state)).then_some(())
        });
    }

    /// The value of a metric line (exact series text, e.g.
    /// `lovebeat_beats_total`), from `/metrics`.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`HUP`, `TERM`…) without waiting.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status();
        assert!(status.unwrap().success(), "kill -{name} {pid}");
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `host:port` of the HTTP listener, as Nagios plugins take it.
    pub fn http_hostport(&self) -> String {
        self.http.to_string()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.wait_exit()
    }

    /// SIGKILL, as a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        eventually("lovebeat to exit", || self.child.try_wait().unwrap())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unbound() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

/// One HTTP request; any status is returned, not an error. Panics when
/// nothing answers; the body is read as lossy UTF-8.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let (status, body) = try_http(method, url, headers, body.as_bytes().to_vec())
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// One HTTP request with reqwest, on a runtime of its own (the tests are
/// synchronous); any status is returned, Err when nothing answers.
pub fn try_http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(u16, Vec<u8>), reqwest::Error> {
    // reqwest is built without a crypto provider; the binary installs ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = client.request(method, url).body(body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.bytes().await?.to_vec()))
    })
}

/// Runs the binary with `args` and `stdin`; returns (status, stdout, stderr).
pub fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    run_program(&binary(), args, &[], stdin)
}

/// Runs any program with `args`, extra environment and `stdin`; returns
/// (status, stdout, stderr). The program must end by itself (every program
/// the tests run has its own timeout).
pub fn run_program(
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &str,
) -> (i32, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .env_remove("LOVEBEAT_URL")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A file of the repository, e.g. `contrib/check_lovebeat`.
pub fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A TCP port that was free a moment ago (for a config that must name a
/// port before the daemon starts).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Whether a command can be found on the PATH.
pub fn have(command: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {command}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
