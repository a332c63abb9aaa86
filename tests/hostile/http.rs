//! Hostile HTTP clients: slowloris heads, pipelined requests never read,
//! slow readers of large answers, the answer memory budget, bad requests
//! (docs/RELIABILITY.md names each).

use super::*;

#[test]
fn a_slowloris_http_client_is_cut_off_and_others_are_served() {
    let d = Daemon::with_config("[limits]\nhttp_read_timeout = 1\n");
    let mut slow = TcpStream::connect(d.http).unwrap();
    slow.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let start = Instant::now();
    // Meanwhile everyone else is served.
    assert_eq!(d.get("/status").0, 200);
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "held for {:?}",
        start.elapsed()
    );
    // A request whose body never comes is answered 408.
    let mut stalled = TcpStream::connect(d.http).unwrap();
    stalled
        .write_all(b"POST /api/services/a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        .unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    let _ = stalled.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        d.service("a").is_none(),
        "a cut-off request changes nothing"
    );
}

/// A TCP connection to `to` from `from` (any address of 127/8 works on
/// Linux loopback), with a small receive buffer when asked: a client that
/// does not read fills it at once.
fn status_from(from: [u8; 4], to: SocketAddr) -> Option<(u16, Duration)> {
    let start = Instant::now();
    let mut stream = connect_from(from, to, None).ok()?;
    stream
        .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    Some((status, start.elapsed()))
}

/// Keeps `count` connections from `from` open until `stop`, each fed a
/// little more of `feed` every 200 ms and replaced as soon as lovebeat
/// closes it (a write fails). Never reads. Returns the connections opened.
fn hold_connections(
    from: [u8; 4],
    to: SocketAddr,
    count: usize,
    feed: Vec<u8>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut opened = 0;
        let mut conns: Vec<Option<TcpStream>> = (0..count).map(|_| None).collect();
        while !stop.load(Relaxed) {
            for slot in &mut conns {
                if slot.is_none() {
                    *slot = connect_from(from, to, Some(4096)).ok();
                    if let Some(stream) = slot {
                        stream.set_nonblocking(true).unwrap();
                        opened += 1;
                    }
                }
                let Some(stream) = slot else { continue };
                match stream.write(&feed) {
                    Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => *slot = None,
                    _ => {}
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        opened
    })
}

/// What a pipelining client that never reads sends at a time: 200
/// requests for the status page (the answers fill the socket's buffers in
/// a few writes).
fn pipelined() -> Vec<u8> {
    b"GET /status-page HTTP/1.1\r\nHost: x\r\n\r\n".repeat(200)
}

/// What a slowloris sends: a request head that never ends.
const SLOWLORIS: &[u8] = b"GET /status HTTP/1.1\r\nX-Slow: yes\r\n";

#[test]
fn clients_that_never_read_and_reconnecting_slowloris_do_not_lock_others_out() {
    let _heavy = heavy();
    if raise_fd_limit() < 2_000 {
        eprintln!("skipped: the open-file limit is below 2 000");
        return;
    }
    // 256 connections in all (128 per source by default); the attack holds
    // 360 from six addresses.
    let d = Daemon::with_config("[limits]\nhttp_connections = 256\n");
    let stop = Arc::new(AtomicBool::new(false));
    let mut attackers = Vec::new();
    for source in 10..14 {
        let stop = stop.clone();
        attackers.push(hold_connections(
            [127, 0, 1, source],
            d.http,
            60,
            pipelined(),
            stop,
        ));
    }
    for source in 20..22 {
        let stop = stop.clone();
        attackers.push(hold_connections(
            [127, 0, 1, source],
            d.http,
            60,
            SLOWLORIS.to_vec(),
            stop,
        ));
    }
    eventually("the attack to fill every connection", || {
        let full = counter(&d, "lovebeat_limited_total{limit=\"http_connections\"}") > 50.0;
        full.then_some(())
    });
    // Every request from another address is answered, most within a
    // second (the attack also costs CPU: on a loaded two-core machine in a
    // debug build some take longer).
    let answers: Vec<_> = (0..20)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(500));
            status_from([127, 0, 0, 2], d.http)
        })
        .collect();
    stop.store(true, Relaxed);
    let opened: usize = attackers.into_iter().map(|a| a.join().unwrap()).sum();
    eprintln!("during an attack of {opened} connections: {answers:?}");
    assert!(
        answers.iter().all(|a| matches!(a, Some((200, _)))),
        "{answers:?}"
    );
    let within_a_second = (answers.iter().flatten())
        .filter(|(_, took)| *took < Duration::from_secs(1))
        .count();
    assert!(within_a_second >= 15, "{answers:?}");
    assert!(opened > 360, "the attackers reconnected: {opened}");
}

#[test]
fn a_client_that_never_reads_its_answers_is_closed_after_the_write_timeout() {
    let d = Daemon::with_config("[limits]\nhttp_write_timeout = 1\n");
    let mut stream = connect_from([127, 0, 0, 1], d.http, Some(4096)).unwrap();
    stream.set_nonblocking(true).unwrap();
    let (start, requests) = (Instant::now(), pipelined());
    let closed_after = eventually("the connection to be closed", || {
        match stream.write(&requests) {
            Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => Some(start.elapsed()),
            _ => {
                std::thread::sleep(Duration::from_millis(50));
                None
            }
        }
    });
    assert!(closed_after < Duration::from_secs(10), "{closed_after:?}");
    assert_eq!(
        counter(&d, "lovebeat_limited_total{limit=\"http_write_timeout\"}"),
        1.0
    );
    assert_eq!(d.get("/status").0, 200);
}

/// The daemon's resident memory, from /proc/PID/status, in MB.
fn rss_mb(d: &Daemon) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

#[test]
fn slow_readers_of_a_large_answer_hold_a_buffer_each_not_the_answer() {
    let _heavy = heavy();
    let d = Daemon::start();
    let lines: String = (0..20_000)
        .map(|i| format!("slow-reader.service-{i:05}.autobeat:1|c\n"))
        .collect();
    d.send_tcp(lines.as_bytes());
    eventually("20 000 services", || {
        let (_, status) = d.get("/status");
        status.contains("num_ok 20000\n").then_some(())
    });
    let (_, list) = d.get("/api/services");
    assert!(list.len() > 5_000_000, "the list is {} bytes", list.len());
    let before = rss_mb(&d);
    let mut readers = Vec::new();
    for i in 0..100u8 {
        let from = [127, 0, 2, i];
        let mut stream = connect_from(from, d.http, Some(4096)).unwrap();
        stream
            .write_all(b"GET /api/services HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut head = [0u8; 1024];
        stream.read_exact(&mut head).unwrap();
        assert!(head.starts_with(b"HTTP/1.1 200"));
        readers.push(stream);
    }
    // Every reader has its answer under way and reads no more: what each
    // holds now is what it holds until the write timeout.
    let during = (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(200));
            rss_mb(&d)
        })
        .fold(0.0, f64::max);
    drop(readers);
    let after = rss_mb(&d);
    eprintln!(
        "RSS with 20 000 services ({:.1} MB list): {before:.1} MB before, \
         {during:.1} MB with 100 slow readers, {after:.1} MB after",
        list.len() as f64 / 1e6
    );
    assert!(
        during - before < 100.0,
        "100 slow readers took RSS from {before:.1} MB to {during:.1} MB"
    );
    assert_eq!(d.get("/status").0, 200);
}

#[test]
fn large_answers_made_whole_share_a_memory_budget() {
    // /metrics with 2 000 services is about 0.9 MB; 1 MiB holds one.
    let d = Daemon::with_config("[limits]\nhttp_answer_memory = 1048576\n");
    let lines: String = (0..2_000)
        .map(|i| format!("budget.service-{i:04}.beat:1|c\n"))
        .collect();
    d.send_tcp(lines.as_bytes());
    eventually("2 000 services", || {
        let (_, status) = d.get("/status");
        status.contains("num_ok 2000\n").then_some(())
    });
    let (status, metrics) = d.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.len() > 600_000,
        "/metrics is {} bytes",
        metrics.len()
    );
    // A client that asks and does not read holds its answer's bytes...
    let ask = |from: u8| {
        let mut stream = connect_from([127, 0, 4, from], d.http, Some(4096)).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).unwrap();
        (String::from_utf8_lossy(&head).into_owned(), stream)
    };
    let (first, holder) = ask(1);
    assert_eq!(first, "HTTP/1.1 200");
    // ...so the next one is told to come back (the test's own reads of
    // /metrics too, while the holder stays)...
    let (second, _) = ask(2);
    assert_eq!(second, "HTTP/1.1 503");
    // ...while small answers are not held back.
    assert_eq!(d.get("/status").0, 200);
    // Once the holder leaves, its bytes are free again.
    drop(holder);
    eventually("the memory to be free again", || {
        let (answer, _) = ask(3);
        (answer == "HTTP/1.1 200").then_some(())
    });
    let refused = counter(&d, "lovebeat_limited_total{limit=\"http_answer_memory\"}");
    assert!(refused >= 1.0, "{refused}");
}

#[test]
fn bad_requests_are_counted_and_denials_name_their_peer() {
    let d = Daemon::with_conf_d(&format!("[http]\nwrite_tokens = [\"{WRITE}\"]\n"));
    let token = bearer(WRITE);
    let auth = [("Authorization", token.as_str())];
    let (status, _) = d.request("POST", "/api/services/a?timeout=abc", &auth, "");
    assert_eq!(status, 400);
    let mut garbage = TcpStream::connect(d.http).unwrap();
    garbage.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = garbage.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(counter(&d, "lovebeat_http_bad_requests_total"), 2.0);
    let mut denied = connect_from([127, 0, 0, 7], d.http, None).unwrap();
    denied
        .write_all(b"POST /api/services/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = denied.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    eventually("the denial logged with its peer", || {
        let log = d.log_text();
        let line = log.lines().find(|l| l.contains("access denied"))?;
        line.contains("127.0.0.7").then_some(())
    });
}
