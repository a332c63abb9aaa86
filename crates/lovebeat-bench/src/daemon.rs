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
    dir: PathBuf,
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
"#;

impl Daemon {
    pub fn start(binary: &Path) -> Result<Daemon> {
        let binary = std::fs::canonicalize(binary)
            .with_context(|| format!("no lovebeat binary at {}", binary.display()))?;
        let dir = std::env::temp_dir().join(format!("lovebeat-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("lovebeat.toml");
        std::fs::write(&config, CONFIG)?;
        let mut child = Command::new(&binary)
            .arg("--config")
            .arg(&config)
            .arg("--config-dir")
            .arg(dir.join("conf.d"))
            .current_dir(&dir)
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
                .recv_timeout(Duration::from_secs(10))
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
            dir,
            udp,
            tcp,
            http,
        })
    }

    /// `lovebeat_beats_total` from `/metrics`.
    pub fn beats(&self) -> Result<u64> {
        let mut stream = TcpStream::connect(self.http)?;
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")?;
        let mut body = String::new();
        stream.read_to_string(&mut body)?;
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
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
