//! HTTP load: keep-alive POSTs on many connections, and a minimal hyper
//! server answering 200 that is the baseline.

use std::convert::Infallible;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// POSTs beats on `connections` keep-alive connections for `duration`;
/// returns the requests answered with 200.
pub async fn send(
    target: SocketAddr,
    connections: usize,
    services: usize,
    duration: Duration,
) -> io::Result<u64> {
    let tasks: Vec<_> = (0..connections)
        .map(|c| tokio::spawn(connection(target, c, connections, services, duration)))
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("load tasks do not panic")?;
    }
    Ok(total)
}

async fn connection(
    target: SocketAddr,
    index: usize,
    connections: usize,
    services: usize,
    duration: Duration,
) -> io::Result<u64> {
    let mut stream = TcpStream::connect(target).await?;
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 16 * 1024];
    let start = Instant::now();
    let mut ok = 0;
    let mut service = index % services.max(1);
    while start.elapsed() < duration {
        let request = format!(
            "POST /api/services/bench.s{service:06} HTTP/1.1\r\nHost: bench\r\nContent-Length: 0\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        if read_response(&mut stream, &mut buf).await? == 200 {
            ok += 1;
        }
        service = (service + connections) % services.max(1);
    }
    Ok(ok)
}

/// Reads one response with a Content-Length body; returns its status.
async fn read_response(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<u16> {
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled += n;
        let text = &buf[..filled];
        let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&text[..end]).to_ascii_lowercase();
        let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while filled < end + 4 + length {
            let n = stream.read(&mut buf[filled..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            filled += n;
        }
        return Ok(status);
    }
}

/// The baseline: a minimal hyper server answering 200 with an empty body,
/// in a process of its own as lovebeat is. Sharing the load generator's
/// runtime would let client and server tasks hand each request to each
/// other on one thread, which no separate server gets (that inflated the
/// baseline by about 1.7 times).
pub struct Baseline {
    child: Child,
    pub addr: SocketAddr,
}

impl Baseline {
    /// Starts this binary again as `--http-baseline` and reads the address
    /// it prints.
    pub fn start() -> anyhow::Result<Baseline> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--http-baseline")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("the HTTP baseline printed {line:?}: {e}"))?;
        Ok(Baseline { child, addr })
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `lovebeat-bench --http-baseline`: serves on a free loopback port, prints
/// it, and runs until killed. Like lovebeat: a multi-threaded runtime,
/// `TCP_NODELAY`, HTTP/1.1 keep-alive.
pub fn serve_baseline() -> io::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("{}", listener.local_addr()?);
        while let Ok((stream, _)) = listener.accept().await {
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_: Request<Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
        Ok(())
    })
}
