//! The lovebeat under test: started in a temp directory on free loopback
//! ports, and read through its `/metrics`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};

pub struct Daemon {
    child: Child,
    /// A directory of our own, removed on drop (None: the caller's).
    own_dir: Option<PathBuf>,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub http: SocketAddr,
}

const CONFIG: &str = r#"
[udp]
listen = "127.0.0.1:0"
[tcp]
listen = "127.0.0.1:0"
[http]
listen = "127.0.0.1:0"
# The scale scenario holds a million services and then adds more.
[limits]
services = 0
"#;

impl Daemon {
    /// A daemon in a fresh directory of its own.
    pub fn start(binary: &Path) -> Result<Daemon> {
        let dir = std::env::temp_dir().join(format!("lovebeat-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let mut daemon = Daemon::start_in(binary, &dir)?;
        daemon.own_dir = Some(dir);
        Ok(daemon)
    }

    /// A daemon working in `dir` (its database is `dir/lovebeat.db`).
    pub fn start_in(binary: &Path, dir: &Path) -> Result<Daemon> {
        let binary = std::fs::canonicalize(binary)
            .with_context(|| format!("no lovebeat binary at {}", binary.display()))?;
        let config = dir.join("lovebeat.toml");
        std::fs::write(&config, CONFIG)?;
        let mut child = Command::new(&binary)
            .arg("--config")
            .arg(&config)
            .arg("--config-dir")
            .arg(dir.join("conf.d"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut addrs = [None; 3];
        while addrs.iter().any(Option::is_none) {
            let line = rx
                .recv_timeout(Duration::from_secs(180))
                .map_err(|_| anyhow!("lovebeat did not start listening"))?;
            for (i, what) in ["UDP", "TCP", "HTTP"].iter().enumerate() {
                if let Some((_, a)) = line.split_once(&format!("{what} listening on ")) {
                    addrs[i] = Some(a.trim().parse()?);
                }
            }
        }
        std::thread::spawn(move || for _ in rx {});
        let [udp, tcp, http] = addrs.map(|a| a.expect("all three seen"));
        Ok(Daemon {
            child,
            own_dir: None,
            udp,
            tcp,
            http,
        })
    }

    /// Stops the daemon with SIGTERM, as a service manager does; returns
    /// how long it took to exit.
    pub fn terminate(mut self) -> Result<Duration> {
        let started = std::time::Instant::now();
        let pid = libc::pid_t::try_from(self.child.id())?;
        // SAFETY: a plain system call on our own child's pid.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        let status = self.child.wait()?;
        if !status.success() {
            return Err(anyhow!("lovebeat exited with {status} after SIGTERM"));
        }
        Ok(started.elapsed())
    }

    /// The response (head and body) to a GET of `path`.
    pub fn get(&self, path: &str) -> Result<String> {
        let mut stream = TcpStream::connect(self.http)?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes())?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    }

    /// Sends one datagram to the daemon's UDP port.
    pub fn beat_udp(&self, payload: &str) -> Result<()> {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        socket.send_to(payload.as_bytes(), self.udp)?;
        Ok(())
    }

    /// Resident memory, from /proc.
    pub fn rss(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("no VmRSS in /proc"))?;
        Ok(kib * 1024)
    }

    /// The share of one core the process used over `span`.
    pub fn cpu_share(&self, span: Duration) -> Result<f64> {
        let ticks = || -> Result<u64> {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map_or("", |(_, r)| r)
                .split_whitespace()
                .collect();
            Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
        };
        let before = ticks()?;
        std::thread::sleep(span);
        let used = ticks()? - before;
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Ok(used as f64 / per_second / span.as_secs_f64())
    }

    /// `lovebeat_beats_total` from `/metrics`.
    pub fn beats(&self) -> Result<u64> {
        let body = self.get("/metrics")?;
        body.lines()
            .find_map(|l| l.strip_prefix("lovebeat_beats_total "))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| anyhow!("no lovebeat_beats_total in /metrics"))
    }

    /// Runs `load` and waits for the daemon to apply what it took; returns
    /// (what `load` sent, beats accepted meanwhile).
    pub fn measure(&self, load: impl FnOnce() -> std::io::Result<u64>) -> Result<(u64, u64)> {
        let before = self.beats()?;
        let sent = load()?;
        let after = crate::settle(|| self.beats())?;
        Ok((sent, after - before))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.own_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
