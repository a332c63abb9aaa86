//! TCP load: pipelined lines on several connections, and the bare line
//! counter that is the baseline.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use crate::payload::Lines;

/// Writes pipelined lines on `connections` connections for `duration`;
/// returns the lines written.
pub fn send(
    target: SocketAddr,
    connections: usize,
    services: usize,
    duration: Duration,
) -> io::Result<u64> {
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            thread::spawn(move || -> io::Result<u64> {
                let mut lines = Lines::new(services);
                let mut chunk = Vec::with_capacity(64 * 1024);
                let mut per_chunk = 0u64;
                while chunk.len() < 60 * 1024 {
                    lines.push(&mut chunk);
                    per_chunk += 1;
                }
                let mut stream = TcpStream::connect(target)?;
                stream.set_nodelay(true)?;
                let start = Instant::now();
                let mut sent = 0;
                while start.elapsed() < duration {
                    stream.write_all(&chunk)?;
                    sent += per_chunk;
                }
                Ok(sent)
            })
        })
        .collect();
    let mut total = 0;
    for t in threads {
        total += t.join().expect("sender threads do not panic")?;
    }
    Ok(total)
}

/// A bare receiver: accepts connections and counts newlines.
pub struct Baseline {
    pub addr: SocketAddr,
    pub lines: Arc<AtomicU64>,
}

impl Baseline {
    pub fn start() -> io::Result<Baseline> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let lines = Arc::new(AtomicU64::new(0));
        let counter = lines.clone();
        thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let counter = counter.clone();
                thread::spawn(move || count_lines(stream, &counter));
            }
        });
        Ok(Baseline { addr, lines })
    }
}

fn count_lines(mut stream: TcpStream, counter: &AtomicU64) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            return;
        }
        let lines = buf[..n].iter().filter(|&&b| b == b'\n').count();
        counter.fetch_add(lines as u64, Relaxed);
    }
}
