//! Hostile input and failures, end to end (docs/RELIABILITY.md lists each
//! test here with what it shows): floods, endless lines, idle connections,
//! slow and oversized HTTP requests, limits, tokens, origins, source
//! networks, and a store whose disk fills up or turns read-only.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::util::{Daemon, binary, eventually, run_program};

/// A token long enough for `[http] *_tokens`.
const WRITE: &str = "write-token-0123456789";
const READ: &str = "read-token-0123456789";

/// A small xorshift generator: reproducible noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// Held by the tests that load the machine (a flood, 1 GB, 10 000
/// connections), so they do not run at once on a small CI machine and
/// starve each other's daemons.
mod http;
mod web;

static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn counter(d: &Daemon, series: &str) -> f64 {
    d.metric(series).unwrap_or(0.0)
}

/// Whether the peer closed `stream` (end of file, or reset); does not
/// wait (the stream is non-blocking).
fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(n) => n == 0,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// Raises this process's open-file limit to its hard limit.
fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

/// A new TCP client, made by `connect`, that beats `fresh` and tries again
/// until it is let in: each try ends in a sign, its beat arrives or
/// lovebeat closes it. Returns the connection that got in.
fn let_in(d: &Daemon, connect: impl Fn() -> TcpStream) -> TcpStream {
    eventually("a new client with beats to be let in", || {
        let mut stream = connect();
        let _ = stream.write_all(b"fresh.beat:1|c\n");
        stream.set_nonblocking(true).unwrap();
        eventually("the new client to be served or refused", || {
            if d.state("fresh").as_deref() == Some("ok") {
                return Some(Some(stream.try_clone().unwrap()));
            }
            closed(&mut stream).then_some(None)
        })
    })
}

#[test]
fn a_udp_flood_of_random_bytes_lets_good_beats_through() {
    let _heavy = heavy();
    let d = Daemon::start();
    d.send_udp("good.err:2|g\ngood.beat:1|c\n");
    d.wait_state("good", "ok");
    let stop = Arc::new(AtomicBool::new(false));
    let target = d.udp;
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
            let mut buf = vec![0u8; 1400];
            let mut sent = 0u64;
            // 20 000 datagrams a second (about 14 MB/s of noise), in
            // bursts of 20 a millisecond: a flood a debug build on a busy
            // 2-core machine still drains, so what is measured is whether
            // good lines get through the noise, not the kernel's drops
            // (counted apart, datagrams_the_kernel_drops_…).
            while !stop.load(Relaxed) {
                for _ in 0..20 {
                    let len = 1 + (noise.next() % 1400) as usize;
                    noise.fill(&mut buf[..len]);
                    if socket.send_to(&buf[..len], target).is_ok() {
                        sent += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            sent
        })
    };
    // Six seconds of flood, three times the error timeout: the service
    // stays ok only if good beats keep getting through.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(6) {
        d.send_udp("good.beat:1|c\n");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(d.state("good").as_deref(), Some("ok"), "good went late");
    }
    stop.store(true, Relaxed);
    let sent = flood.join().unwrap();
    assert!(sent > 10_000, "the flood sent only {sent} datagrams");
    let rejected: f64 = [
        "malformed",
        "bad_name",
        "unknown_action",
        "bad_value",
        "too_long",
    ]
    .iter()
    .map(|r| {
        counter(
            &d,
            &format!("lovebeat_lines_rejected_total{{reason=\"{r}\"}}"),
        )
    })
    .sum();
    assert!(rejected > 1000.0, "rejected {rejected}");
    let services = d.get_json("/api/services")["services"]
        .as_array()
        .unwrap()
        .len();
    assert!(services <= 2, "noise created services: {services}");
}

#[test]
fn a_tcp_client_sending_1_gb_without_a_newline_costs_one_line_of_memory() {
    let _heavy = heavy();
    let d = Daemon::start();
    // A 10 s deadline: generous for a loaded CI machine, far shorter than
    // a stalled ingest would take to show.
    d.send_udp("steady.err:10|g\nsteady.beat:1|c\n");
    d.wait_state("steady", "ok");
    let before = d.metric("process_resident_memory_bytes").unwrap();
    let tcp = d.tcp;
    let sender = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(tcp).unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..1024 {
            stream.write_all(&chunk).unwrap();
        }
        stream.write_all(b"\nafter.beat:1|c\n").unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    });
    while !sender.is_finished() {
        d.send_udp("steady.beat:1|c\n");
        assert_eq!(d.state("steady").as_deref(), Some("ok"));
        std::thread::sleep(Duration::from_millis(200));
    }
    sender.join().unwrap();
    d.wait_state("after", "ok");
    let too_long = counter(&d, "lovebeat_lines_rejected_total{reason=\"too_long\"}");
    assert_eq!(too_long, 1.0, "the endless line is rejected once");
    let after = d.metric("process_resident_memory_bytes").unwrap();
    assert!(
        after - before < 64.0 * 1024.0 * 1024.0,
        "memory grew from {before} to {after} bytes"
    );
}

#[test]
fn ten_thousand_idle_tcp_connections_do_not_lock_out_clients() {
    let _heavy = heavy();
    let limit = raise_fd_limit();
    if limit < 10_000 + 200 {
        eprintln!("skipped: the open-file limit is {limit}, below 10 200");
        return;
    }
    let d = Daemon::start();
    // From ten addresses: one holds at most `tcp_connections_per_source`
    // (1 000).
    let mut idle = Vec::with_capacity(10_000);
    for i in 0..10_000 {
        match connect_from([127, 0, 3, (i % 10) as u8], d.tcp, None) {
            Ok(stream) => idle.push(stream),
            Err(e) => panic!("connection {i}: {e}"),
        }
    }
    eventually("10 000 open connections", || {
        (counter(&d, "lovebeat_tcp_connections") >= 10_000.0).then_some(())
    });
    // Past the cap (10 000 by default) a new client is refused until a
    // connection has been silent a while (a second); then it closes the
    // one silent longest and is served.
    let _fresh = let_in(&d, || TcpStream::connect(d.tcp).unwrap());
    // It made room: with it open, the count is back at the cap.
    eventually("a silent connection closed to make room", || {
        (counter(&d, "lovebeat_tcp_connections") == 10_000.0).then_some(())
    });
    assert!(counter(&d, "lovebeat_limited_total{limit=\"tcp_connections\"}") >= 1.0);
    d.send_udp("udp.beat:1|c\n");
    d.wait_state("udp", "ok");
    let (status, _) = d.post_form("/api/services/http", "");
    assert_eq!(status, 200);
    // A silent connection that was closed reads end-of-file; the others
    // still work.
    let mut live = idle.pop().unwrap();
    live.write_all(b"last.beat:1|c\n").unwrap();
    d.wait_state("last", "ok");
    drop(idle);
    eventually("the connections to close", || {
        (counter(&d, "lovebeat_tcp_connections") < 10.0).then_some(())
    });
}

#[test]
fn an_idle_tcp_connection_is_closed_after_the_idle_timeout() {
    let d = Daemon::with_config("[limits]\ntcp_idle_timeout = 1\n");
    let mut stream = TcpStream::connect(d.tcp).unwrap();
    stream.write_all(b"chatty.beat:1|c\n").unwrap();
    d.wait_state("chatty", "ok");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 1];
    assert_eq!(stream.read(&mut buf).unwrap(), 0, "closed by lovebeat");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(
        counter(&d, "lovebeat_limited_total{limit=\"tcp_idle_timeout\"}"),
        1.0
    );
}

#[test]
fn a_tcp_connection_sending_only_blank_lines_is_closed_after_the_idle_timeout() {
    let d = Daemon::with_config("[limits]\ntcp_idle_timeout = 1\n");
    let mut stream = TcpStream::connect(d.tcp).unwrap();
    stream.write_all(b"chatty.beat:1|c\n").unwrap();
    d.wait_state("chatty", "ok");
    let start = Instant::now();
    let closed_after = eventually("the connection to be closed", || {
        std::thread::sleep(Duration::from_millis(200));
        stream.write_all(b"\n").is_err().then(|| start.elapsed())
    });
    assert!(closed_after < Duration::from_secs(10), "{closed_after:?}");
    assert_eq!(
        counter(&d, "lovebeat_limited_total{limit=\"tcp_idle_timeout\"}"),
        1.0
    );
}

fn connect_from(
    from: [u8; 4],
    to: SocketAddr,
    recv_buffer: Option<usize>,
) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket.bind(&SocketAddr::from((from, 0)).into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(5))?;
    Ok(socket.into())
}

/// `GET /status` from `from`: its status and how long the whole answer
/// took, if it came within 5 s.
#[test]
fn tcp_connections_sending_only_blank_lines_make_room_for_a_client_with_beats() {
    let _heavy = heavy();
    let d = Daemon::with_config("[limits]\ntcp_connections = 200\n");
    let stop = Arc::new(AtomicBool::new(false));
    let blank = {
        let (stop, tcp) = (stop.clone(), d.tcp);
        std::thread::spawn(move || {
            let mut conns: Vec<TcpStream> = (0..200)
                .map(|_| connect_from([127, 0, 0, 1], tcp, None).unwrap())
                .collect();
            while !stop.load(Relaxed) {
                conns.retain_mut(|c| c.write_all(b"\n").is_ok());
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    eventually("200 open connections", || {
        (counter(&d, "lovebeat_tcp_connections") >= 200.0).then_some(())
    });
    let _fresh = let_in(&d, || connect_from([127, 0, 0, 2], d.tcp, None).unwrap());
    // It made room: with it open, the count is back at the cap.
    eventually("a blank-line connection closed to make room", || {
        (counter(&d, "lovebeat_tcp_connections") == 200.0).then_some(())
    });
    stop.store(true, Relaxed);
    blank.join().unwrap();
    assert!(counter(&d, "lovebeat_lines_rejected_total{reason=\"blank\"}") >= 200.0);
    assert!(counter(&d, "lovebeat_limited_total{limit=\"tcp_connections\"}") >= 1.0);
}

#[test]
fn an_oversized_http_body_is_refused_with_413() {
    let d = Daemon::with_config("[limits]\nhttp_body = 1024\n");
    let big = format!("timeout=10&pad={}", "x".repeat(4096));
    let (status, body) = d.post_form("/api/services/big", &big);
    assert_eq!(status, 413, "{body}");
    assert!(d.service("big").is_none());
    assert_eq!(d.post_form("/api/services/small", "timeout=10").0, 200);
    assert_eq!(
        counter(&d, "lovebeat_limited_total{limit=\"http_body\"}"),
        1.0
    );
}

#[test]
fn new_services_over_the_cap_are_refused_and_existing_ones_keep_working() {
    let d = Daemon::with_config("[limits]\nservices = 2\n");
    d.send_udp("one.beat:1|c\ntwo.beat:1|c\n");
    d.wait_state("two", "ok");
    d.send_udp("three.beat:1|c\none.err:60|g\n");
    eventually("the refusal to be counted", || {
        (counter(&d, "lovebeat_limited_total{limit=\"services\"}") >= 1.0).then_some(())
    });
    let (status, body) = d.post_form("/api/services/four", "");
    assert_eq!(status, 429, "{body}");
    assert!(d.service("three").is_none() && d.service("four").is_none());
    let one = d.service("one").unwrap();
    assert_eq!(one["timeout"], 60_000, "existing services keep working");
    assert_eq!(d.post_form("/api/services/two", "timeout=30").0, 200);
    assert_eq!(d.request("DELETE", "/api/services/two", &[], "").0, 200);
    assert_eq!(d.post_form("/api/services/four", "").0, 200, "room again");
}

/// Asks for a websocket at `path`: the status, and the open connection.
fn ws_upgrade(d: &Daemon, path: &str, origin: Option<&str>) -> (u16, TcpStream) {
    let mut s = TcpStream::connect(d.http).unwrap();
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         {origin}\r\n",
        d.http
    );
    s.write_all(request.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    let status = String::from_utf8_lossy(&head[9..12]).parse().unwrap();
    (status, s)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn tokens_guard_writes_and_reads_and_status_stays_public() {
    let d = Daemon::with_conf_d(&format!(
        "[http]\nwrite_tokens = [\"{WRITE}\"]\nread_tokens = [\"{READ}\"]\n"
    ));
    let write = bearer(WRITE);
    let read = bearer(READ);
    let auth = |t: &str| vec![("Authorization", t.to_owned())];
    let req = |method: &str, path: &str, headers: Vec<(&str, String)>| {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        d.request(method, path, &h, "").0
    };
    assert_eq!(req("POST", "/api/services/a", vec![]), 401);
    assert_eq!(
        req("POST", "/api/services/a", auth("Bearer wrong-token-000000")),
        401
    );
    assert_eq!(req("POST", "/api/services/a", auth(&read)), 403);
    assert_eq!(req("POST", "/api/services/a", auth(&write)), 200);
    assert_eq!(req("DELETE", "/api/services/a", auth(&read)), 403);
    assert_eq!(req("GET", "/api/services", vec![]), 401);
    assert_eq!(req("GET", "/api/services", auth(&read)), 200);
    assert_eq!(req("GET", "/api/services", auth(&write)), 200);
    assert_eq!(
        req("GET", &format!("/api/services?access_token={READ}"), vec![]),
        200
    );
    assert_eq!(req("GET", "/metrics", vec![]), 401);
    assert_eq!(
        req("GET", "/status", vec![]),
        200,
        "public_status by default"
    );
    assert_eq!(
        req("GET", "/", vec![]),
        200,
        "the dashboard's page holds no data"
    );
    // UDP and TCP are not HTTP: they are closed with [udp]/[tcp] allow.
    d.send_udp("b.beat:1|c\n");
    eventually("b over UDP", || {
        let (s, _) = d.request("GET", "/api/services/b", &[("Authorization", &read)], "");
        (s == 200).then_some(())
    });
    let (_, metrics) = d.get(&format!("/metrics?access_token={READ}"));
    let denied = "lovebeat_denied_total{protocol=\"http\",reason=\"token\"} ";
    let line = metrics
        .lines()
        .find_map(|l| l.strip_prefix(denied))
        .unwrap();
    assert!(line.parse::<f64>().unwrap() >= 5.0, "{line}");
}

#[test]
fn push_tokens_and_the_status_page_work_beside_bearer_tokens() {
    let d = Daemon::with_conf_d(&format!("[http]\nwrite_tokens = [\"{WRITE}\"]\n"));
    let url = d.url("");
    let cli = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["services", "--url", url.as_str()];
        all.extend_from_slice(args);
        run_program(&binary(), &all, env, "")
    };
    let (code, _, err) = cli(&["add", "nightly"], &[]);
    assert_eq!(code, 1, "no token: refused");
    assert!(err.contains("401"), "{err}");
    let (code, out, err) = cli(&["add", "nightly"], &[("LOVEBEAT_TOKEN", WRITE)]);
    assert_eq!(code, 0, "{err}");
    let push = out
        .trim()
        .strip_prefix("Added. Token: ")
        .unwrap()
        .to_owned();
    let (code, _, err) = cli(&["--token", WRITE, "mute", "nightly"], &[]);
    assert_eq!(code, 0, "{err}");

    // statuscope's signal carries the service's push token, no bearer.
    let form = |token: &str| format!("application=nightly&token={token}&status=ok");
    assert_eq!(d.post_form("/signal", &form(&push)).0, 201);
    assert_eq!(d.post_form("/signal", &form(WRITE)).0, 403);
    assert_eq!(d.get("/status-page").0, 200, "the status page is public");
    let (status, _) = d.post_form("/api/tokens/other", "interval=60");
    assert_eq!(status, 401, "making push tokens needs a write token");
}

#[test]
fn the_websocket_refuses_other_origins_and_clients_over_the_cap() {
    let d = Daemon::with_conf_d(
        "[http]\nallowed_origins = [\"https://ops.example.com\"]\n[limits]\nwebsockets = 1\n",
    );
    let upgrade = |origin: Option<&str>| ws_upgrade(&d, "/ws", origin);
    assert_eq!(upgrade(Some("https://evil.example.net")).0, 403);
    let own = format!("http://{}", d.http);
    let (status, first) = upgrade(Some(&own));
    assert_eq!(status, 101, "the served host's own page");
    assert_eq!(
        upgrade(Some("https://ops.example.com")).0,
        503,
        "over the cap"
    );
    drop(first);
    eventually("the slot to free", || {
        (counter(&d, "lovebeat_websocket_clients") == 0.0).then_some(())
    });
    assert_eq!(upgrade(Some("https://ops.example.com")).0, 101, "listed");
    assert!(
        counter(
            &d,
            "lovebeat_denied_total{protocol=\"websocket\",reason=\"origin\"}"
        ) >= 1.0
    );
}

#[test]
fn sources_outside_the_allow_lists_are_dropped_and_counted() {
    let d =
        Daemon::with_conf_d("[udp]\nallow = [\"10.0.0.0/8\"]\n[tcp]\nallow = [\"10.0.0.0/8\"]\n");
    d.send_udp("u.beat:1|c\n");
    d.send_tcp(b"t.beat:1|c\n");
    eventually("both to be denied", || {
        let udp = counter(
            &d,
            "lovebeat_denied_total{protocol=\"udp\",reason=\"source\"}",
        );
        let tcp = counter(
            &d,
            "lovebeat_denied_total{protocol=\"tcp\",reason=\"source\"}",
        );
        (udp >= 1.0 && tcp >= 1.0).then_some(())
    });
    assert!(d.service("u").is_none() && d.service("t").is_none());
    let d =
        Daemon::with_conf_d("[udp]\nallow = [\"127.0.0.0/8\"]\n[tcp]\nallow = [\"127.0.0.1\"]\n");
    d.send_udp("u.beat:1|c\n");
    d.send_tcp(b"t.beat:1|c\n");
    d.wait_state("u", "ok");
    d.wait_state("t", "ok");
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped;
/// None where this process may not mount (not root, no CAP_SYS_ADMIN).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk with one file; returns its path.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// The failed saves the daemon logged from its `from`th log line on: when
/// (seconds into the day, from the log's timestamp) and the retry each
/// announced ("retrying in 1.6s").
fn failed_saves(d: &Daemon, from: usize) -> Vec<(f64, Duration)> {
    let seconds = |stamp: &str| -> Option<f64> {
        let time = stamp.split_once('T')?.1.trim_end_matches('Z');
        let mut parts = time.split(':').map(|p| p.parse::<f64>().ok());
        Some(parts.next()?? * 3600.0 + parts.next()?? * 60.0 + parts.next()??)
    };
    let retry = |said: &str| -> Option<Duration> {
        let said = said.trim_end_matches(',');
        match said.strip_suffix("ms") {
            Some(ms) => Some(Duration::from_secs_f64(ms.parse::<f64>().ok()? / 1000.0)),
            None => Some(Duration::from_secs_f64(
                said.strip_suffix('s')?.parse().ok()?,
            )),
        }
    };
    let text = d.log_text();
    text.lines()
        .skip(from)
        .filter_map(|line| {
            let (_, rest) = line.split_once("database save failed; retrying in ")?;
            let at = seconds(line.split_whitespace().next()?)?;
            Some((at, retry(rest.split_whitespace().next()?)?))
        })
        .collect()
}

#[test]
fn a_full_disk_keeps_monitoring_from_memory_and_catches_up() {
    let _heavy = heavy();
    let Some(disk) = SmallDisk::mount("64m") else {
        eprintln!("skipped: mounting a tmpfs needs root (CAP_SYS_ADMIN)");
        return;
    };
    let dir = disk.path().join("lovebeat");
    std::fs::create_dir(&dir).unwrap();
    let d = Daemon::start_in(&dir, "", &[]);
    assert_eq!(d.post_form("/api/services/before", "timeout=3600").0, 200);
    let filler = disk.fill();
    // Changes go on; once a save fails, a change is applied in memory and
    // answered 503 (not acknowledged as durable: retry).
    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    for i in 0..2000 {
        let name = format!("during.s{i}");
        match d
            .post_form(&format!("/api/services/{name}"), "timeout=3600")
            .0
        {
            200 => acknowledged.push(name),
            503 => {
                refused.push(name);
                break;
            }
            other => panic!("POST {name}: {other}"),
        }
    }
    assert!(!refused.is_empty(), "the disk never filled up");
    let failing_from = d.log_text().lines().count();
    eventually("the store to be reported failing", || {
        let (code, text) = d.get("/status/store");
        (code == 503 && text.starts_with("ok false\n")).then_some(())
    });
    assert_eq!(d.metric("lovebeat_store_up"), Some(0.0));
    assert_eq!(d.get("/status").0, 200, "/status is unchanged");
    // Monitoring goes on from memory.
    d.send_udp("live.err:1|g\nlive.beat:1|c\n");
    d.wait_state("live", "ok");
    d.wait_state("live", "error");
    assert_eq!(
        d.state(&refused[0]).as_deref(),
        Some("ok"),
        "applied in memory"
    );
    // With no change waiting, each retry comes when its log line said,
    // not with the next interval save.
    let retries = eventually("a retry after a wait of 3.2 s", || {
        let retries = failed_saves(&d, failing_from);
        let long = retries
            .iter()
            .position(|&(_, r)| r >= Duration::from_millis(3200))?;
        (retries.len() > long + 1).then_some(retries)
    });
    for pair in retries.windows(2) {
        let ((at, said), (next, _)) = (pair[0], pair[1]);
        let waited = Duration::from_secs_f64(next - at);
        assert!(
            waited + Duration::from_millis(50) >= said,
            "said {said:?}, retried after {waited:?}: {retries:?}"
        );
    }
    std::fs::remove_file(filler).unwrap();
    eventually("the store to catch up", || {
        let (code, text) = d.get("/status/store");
        (code == 200 && text.starts_with("ok true\n")).then_some(())
    });
    assert_eq!(d.metric("lovebeat_store_up"), Some(1.0));
    assert_eq!(d.post_form("/api/services/after", "timeout=3600").0, 200);
    d.kill();
    let d = Daemon::start_in(&dir, "", &[]);
    let names = ["before", "live", "after"].map(str::to_owned);
    for name in names.iter().chain(&acknowledged).chain(&refused) {
        let service = d.service(name).unwrap_or_else(|| panic!("{name} lost"));
        if name != "live" {
            assert_eq!(service["timeout"], 3_600_000, "{name}");
        }
    }
    d.kill();
}

/// A form POST as a page of `origin` makes the operator's browser send it.
#[test]
fn datagrams_the_kernel_drops_for_a_full_buffer_are_counted() {
    let _heavy = heavy();
    // The smallest buffer lovebeat takes: a burst overflows it.
    let d = Daemon::with_conf_d("[udp]\nlisten = \"127.0.0.1:0\"\nreceive_buffer = 4096\n");
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let series = "lovebeat_ingest_kernel_dropped_total{protocol=\"udp\"}";
    assert_eq!(d.metric(series), Some(0.0), "counted from the start");
    let dropped = eventually("the kernel to drop datagrams of a burst", || {
        for i in 0..20_000 {
            let _ = sender.send_to(format!("burst.{}.beat:1|c", i % 100).as_bytes(), d.udp);
        }
        d.metric(series).filter(|&n| n > 0.0)
    });
    assert!(dropped >= 1.0);
}
