//! Operating lovebeat as its users' tools see it: Prometheus and promtool on
//! `/metrics`, the Nagios plugin and `check_http` on `/status`, the example
//! clients (shell, Python `statsd`, cron wrapper), statsd out, the event
//! log, two peered daemons, `lovebeat services …` and the systemd unit.
//!
//! Tests that need an outside tool (promtool, check_http, curl, the Python
//! `statsd` package) fail with a message naming it when it is missing;
//! `scripts/test` installs them.

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::util::prom::{self, Format};
use crate::util::{
    DEADLINE, Daemon, eventually, free_port, have, http, repo_file, run, run_program,
};

/// What Prometheus 2.x sends as `Accept`.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

const CHECK_HTTP: &str = "/usr/lib/nagios/plugins/check_http";

fn require(tool: &str, package: &str) {
    assert!(
        have(tool),
        "{tool} is missing: install {package} (scripts/test does)"
    );
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Waits until the daemon has `n` services.
fn wait_services(d: &Daemon, n: usize) {
    eventually(&format!("{n} services"), || {
        let listing = d.get_json("/api/services");
        (listing["services"].as_array().unwrap().len() == n).then_some(())
    });
}

fn services(d: &Daemon) -> Vec<Value> {
    d.get_json("/api/services")["services"]
        .as_array()
        .unwrap()
        .clone()
}

// ---------------------------------------------------------------- /metrics

#[test]
fn metrics_parse_strictly_in_both_formats_and_show_every_service() {
    let d = Daemon::start();
    d.send_udp("m.ok.beat:1|c\nm.warn.warn:0|g\nm.err.err:0|g\nm.auto.autobeat:1|c\n");
    d.send_tcp(b"m.tcp.beat:1|c\n");
    let (code, _) = d.request("POST", "/api/services/m.http?timeout=90", &[], "");
    assert_eq!(code, 200);
    wait_services(&d, 6);

    let (_, text) = d.get("/metrics");
    let e = prom::parse(&text, Format::Text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    let (_, om) = d.request("GET", "/metrics", &[("Accept", PROMETHEUS_ACCEPT)], "");
    let o = prom::parse(&om, Format::OpenMetrics).unwrap_or_else(|err| panic!("{err}\n{om}"));
    for family in [
        "lovebeat_beats",
        "lovebeat_lines_rejected",
        "lovebeat_ingest_lines",
    ] {
        assert_eq!(o.families[family].kind, "counter", "{family}");
        assert_eq!(e.families[&format!("{family}_total")].kind, "counter");
    }

    // Every service, one-hot, matching the API.
    for service in services(&d) {
        let name = service["name"].as_str().unwrap();
        let state = service["state"].as_str().unwrap();
        let hot: BTreeMap<String, f64> = e
            .samples("lovebeat_service_state")
            .filter(|s| s.labels["service"] == name)
            .map(|s| (s.labels["state"].clone(), s.value))
            .collect();
        assert_eq!(hot.len(), 5, "{name}: {hot:?}");
        assert_eq!(hot.values().sum::<f64>(), 1.0, "{name}: {hot:?}");
        assert_eq!(hot[state], 1.0, "{name} is {state}: {hot:?}");
    }
    let beat = e
        .value(
            "lovebeat_service_last_beat_timestamp_seconds",
            &[("service", "m.ok")],
        )
        .unwrap();
    assert!((beat - now_seconds()).abs() < 60.0, "{beat}");
    assert_eq!(
        e.value(
            "lovebeat_service_last_beat_timestamp_seconds",
            &[("service", "m.err")]
        ),
        None,
        "m.err never beat"
    );
    let timeout = |service, kind| {
        e.value(
            "lovebeat_service_timeout_seconds",
            &[("service", service), ("kind", kind)],
        )
    };
    assert_eq!(timeout("m.http", "err"), Some(90.0));
    assert_eq!(timeout("m.err", "err"), Some(0.0));
    assert_eq!(timeout("m.warn", "warn"), Some(0.0));
    assert_eq!(timeout("m.auto", "err"), None, "AUTO with no history yet");
    assert_eq!(timeout("m.ok", "err"), None, "never");

    // Counts, ingest per protocol, queue, process.
    assert_eq!(
        e.value("lovebeat_services", &[("state", "error")]),
        Some(1.0)
    );
    assert_eq!(
        e.value("lovebeat_services", &[("state", "warning")]),
        Some(1.0)
    );
    let ingest = |p| {
        e.value("lovebeat_ingest_lines_total", &[("protocol", p)])
            .unwrap()
    };
    // The HTTP beat set a timeout too: two commands.
    assert_eq!(
        (ingest("udp"), ingest("tcp"), ingest("http")),
        (4.0, 1.0, 2.0)
    );
    assert_eq!(e.value("lovebeat_beats_total", &[]), Some(4.0));
    assert_eq!(e.value("lovebeat_queue_capacity", &[]), Some(4096.0));
    assert!(e.value("lovebeat_queue_depth", &[]).is_some());
    assert!(e.value("process_resident_memory_bytes", &[]).unwrap() > 0.0);
    assert!(e.value("process_cpu_seconds_total", &[]).is_some());
    let start = e.value("process_start_time_seconds", &[]).unwrap();
    assert!((now_seconds() - start).abs() < 3600.0, "{start}");
    assert!(e.value("process_open_fds", &[]).unwrap() > 0.0);
    assert_eq!(
        e.families["lovebeat_store_flush_duration_seconds"].kind,
        "histogram"
    );
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        e.value("lovebeat_build_info", &[("version", version)]),
        Some(1.0)
    );
}

#[test]
fn promtool_check_metrics_accepts_the_scrape() {
    require("promtool", "the Debian package prometheus");
    let d = Daemon::with_config("[[alarms]]\nname = \"all-m\"\npattern = \"m.*\"\n");
    d.send_udp("m.a.beat:1|c\nm.b.err:0|g\nm.c.warn:0|g\nm.d.autobeat:1|c\nx.beat:1|c\n");
    wait_services(&d, 5);
    let (_, text) = d.get("/metrics");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );
    assert!(text.contains("lovebeat_view_state{view=\"all-m\",state=\"error\"} 1\n"));
}

#[test]
fn the_series_cap_keeps_the_first_services_and_counts_the_rest() {
    let d = Daemon::with_config("[prometheus]\nmax_services = 2\n");
    d.send_udp("e.beat:1|c\nd.beat:1|c\nc.beat:1|c\nb.beat:1|c\na.beat:1|c\n");
    wait_services(&d, 5);
    let (_, text) = d.get("/metrics");
    let e = prom::parse(&text, Format::Text).unwrap();
    let shown: Vec<&str> = e
        .samples("lovebeat_service_last_beat_timestamp_seconds")
        .map(|s| s.labels["service"].as_str())
        .collect();
    assert_eq!(shown, ["a", "b"]);
    assert_eq!(
        e.value("lovebeat_series_omitted", &[("kind", "service")]),
        Some(3.0)
    );
    assert_eq!(e.value("lovebeat_services", &[("state", "ok")]), Some(5.0));
}

#[test]
fn a_scrape_of_100000_services_is_capped_and_does_not_stall_ingest() {
    // More than the default `[limits] services` (100 000): the probe too.
    let d = Daemon::with_config("[limits]\nservices = 200000\n");
    let lines: String = (0..100_000)
        .map(|i| format!("bulk.{i:06}.beat:1|c\n"))
        .collect();
    d.send_tcp(lines.as_bytes());
    eventually("100000 services", || {
        d.get("/status")
            .1
            .starts_with("num_ok 100000\n")
            .then_some(())
    });
    // Created (and so saved) before the scrapes: its beats then never wait
    // on the disk, only on the actor.
    assert_eq!(
        d.request("POST", "/api/services/bulk.probe", &[], "").0,
        200
    );
    let url = d.url("/metrics");
    let scraper = std::thread::spawn(move || {
        (0..2)
            .map(|_| http("GET", &url, &[], "").1)
            .collect::<Vec<String>>()
    });
    let mut slowest = Duration::ZERO;
    let mut beats = 0;
    while !scraper.is_finished() || beats == 0 {
        let start = Instant::now();
        let (code, _) = d.request("POST", "/api/services/bulk.probe", &[], "");
        assert_eq!(code, 200);
        slowest = slowest.max(start.elapsed());
        beats += 1;
        assert!(beats < 100_000, "the scrapes never finished");
    }
    let scrapes = scraper.join().unwrap();
    let e = prom::parse(&scrapes[1], Format::Text).unwrap();
    let shown = e.samples("lovebeat_service_last_beat_timestamp_seconds");
    assert_eq!(shown.count(), 10_000);
    let omitted = e.value("lovebeat_series_omitted", &[("kind", "service")]);
    assert_eq!(omitted, Some(90_001.0), "100000 and bulk.probe");
    // A stalled actor would have failed a beat above: every request of the
    // harness gives up after 10 s. No tighter bound: timings on a loaded
    // 2-core CI machine say nothing.
    eprintln!("slowest beat during the scrapes: {slowest:?}");
}

// ---------------------------------------------------------------- Nagios

fn check_lovebeat(args: &[&str]) -> (i32, String) {
    let (code, out, err) = run_program(&repo_file("contrib/check_lovebeat"), args, &[], "");
    assert!(err.is_empty(), "stderr: {err}");
    (code, out)
}

#[test]
fn check_lovebeat_says_ok_warning_critical_and_unknown() {
    require("curl", "curl");
    let d = Daemon::with_config("[[alarms]]\nname = \"web\"\npattern = \"web.*\"\n");
    let host = d.http_hostport();
    let (code, out) = check_lovebeat(&[&host]);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "OK - ok: 0, warnings: 0, errors: 0 | ok=0 warnings=0 errors=0\n"
        )
    );

    d.send_udp("web.1.beat:1|c\ndb.1.warn:0|g\n");
    d.wait_state("db.1", "warning");
    let (code, out) = check_lovebeat(&[&host]);
    assert_eq!(
        (code, out.as_str()),
        (
            1,
            "WARNING - ok: 1, warnings: 1, errors: 0 | ok=1 warnings=1 errors=0\n"
        )
    );
    let (code, out) = check_lovebeat(&["-v", "web", &host]);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "OK - ok: 1, warnings: 0, errors: 0 | ok=1 warnings=0 errors=0\n"
        )
    );

    d.send_udp("web.2.err:0|g\n");
    d.wait_state("web.2", "error");
    let (code, out) = check_lovebeat(&["-v", "web", &host]);
    assert_eq!(
        (code, out.as_str()),
        (
            2,
            "CRITICAL - ok: 1, warnings: 0, errors: 1 | ok=1 warnings=0 errors=1\n"
        )
    );

    let (code, out) = check_lovebeat(&["-v", "nosuchview", &host]);
    assert_eq!(
        (code, out.as_str()),
        (
            3,
            "UNKNOWN - lovebeat on {host} has no view 'nosuchview'\n"
                .replace("{host}", &host)
                .as_str()
        )
    );
    let (code, out) = check_lovebeat(&[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("UNKNOWN - usage: check_lovebeat"), "{out}");

    // An HTTP server that is not lovebeat: UNKNOWN.
    let garbage =
        serve_once("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>hello</html>\n");
    let (code, out) = check_lovebeat(&[&garbage]);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("UNKNOWN - unexpected answer"), "{out}");

    // Nobody there: CRITICAL, as lovebeat 1.0's plugin said.
    let nobody = format!("127.0.0.1:{}", free_port());
    let (code, out) = check_lovebeat(&["-t", "5", &nobody]);
    assert_eq!(
        (code, out),
        (
            2,
            format!("CRITICAL - failed to contact lovebeat server on {nobody}\n")
        )
    );
}

/// Answers one HTTP request with `response` on a fresh port; returns
/// `host:port`.
fn serve_once(response: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut stream, _)) = listener.accept() {
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    addr
}

#[test]
fn check_http_reads_status() {
    assert!(
        Path::new(CHECK_HTTP).exists(),
        "{CHECK_HTTP} is missing: install monitoring-plugins-basic (scripts/test does)"
    );
    let d = Daemon::start();
    let port = d.http.port().to_string();
    let check = |extra: &[&str]| {
        let mut args = vec!["-H", "127.0.0.1", "-p", &port, "-u", "/status", "-t", "10"];
        args.extend_from_slice(extra);
        let (code, out, _) = run_program(Path::new(CHECK_HTTP), &args, &[], "");
        (code, out)
    };
    let (code, out) = check(&["-s", "good true"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("HTTP OK"), "{out}");

    d.send_udp("late.err:0|g\n");
    d.wait_state("late", "error");
    let (code, out) = check(&["-s", "good true"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("string 'good true' not found"), "{out}");
    let (code, out) = check(&["-u", "/status?view=nosuchview"]);
    assert_eq!(code, 1, "a 404 is a warning for check_http: {out}");
}

// ---------------------------------------------------------------- clients

fn client_env(d: &Daemon) -> Vec<(&'static str, String)> {
    vec![
        ("LOVEBEAT_HOST", "127.0.0.1".to_owned()),
        ("LOVEBEAT_PORT", d.udp.port().to_string()),
        ("LOVEBEAT_HTTP_PORT", d.http.port().to_string()),
    ]
}

fn run_client(d: &Daemon, path: &str, args: &[&str]) -> (i32, String, String) {
    let env = client_env(d);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_program(&repo_file(path), args, &env, "")
}

#[test]
fn the_shell_client_beats_over_udp_and_http() {
    require("curl", "curl");
    let d = Daemon::start();
    let (code, _, err) = run_client(
        &d,
        "contrib/clients/beat.sh",
        &["-w", "30", "-e", "60", "sh.udp"],
    );
    assert_eq!(code, 0, "{err}");
    d.wait_state("sh.udp", "ok");
    let s = d.service("sh.udp").unwrap();
    assert_eq!(
        (s["warn_timeout"].as_i64(), s["timeout"].as_i64()),
        (Some(30_000), Some(60_000))
    );

    let (code, _, err) = run_client(&d, "contrib/clients/beat.sh", &["-H", "-a", "sh.http"]);
    assert_eq!(code, 0, "{err}");
    let s = d.service("sh.http").unwrap();
    assert_eq!(
        (s["state"].as_str(), s["timeout"].as_i64()),
        (Some("ok"), Some(-2))
    );

    let (code, _, err) = run_client(&d, "contrib/clients/beat.sh", &["-f", "sh.udp"]);
    assert_eq!(code, 0, "{err}");
    d.wait_state("sh.udp", "error");
}

#[test]
fn the_python_statsd_client_sends_beats() {
    let has_statsd = Command::new("python3")
        .args(["-c", "import statsd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_statsd,
        "the Python package statsd is missing: pip install statsd (scripts/test does)"
    );
    let d = Daemon::start();
    let script = repo_file("contrib/clients/beat.py");
    let py = |args: &[&str]| {
        let port = d.udp.port().to_string();
        let mut all = vec![
            script.to_str().unwrap(),
            "--host",
            "127.0.0.1",
            "--port",
            &port,
        ];
        all.extend_from_slice(args);
        let (code, out, err) = run_program(Path::new("python3"), &all, &[], "");
        assert_eq!(code, 0, "{out}{err}");
    };
    py(&["py.job", "--warn", "30", "--err", "60"]);
    d.wait_state("py.job", "ok");
    let s = d.service("py.job").unwrap();
    assert_eq!(
        (s["warn_timeout"].as_i64(), s["timeout"].as_i64()),
        (Some(30_000), Some(60_000))
    );

    // -2 (auto) and -1 (clear) must not pass through "always late".
    py(&["py.job", "--err", "-2", "--warn", "-1"]);
    eventually("py.job err auto", || {
        let s = d.service("py.job")?;
        (s["timeout"].as_i64() == Some(-2) && s["warn_timeout"].as_i64() == Some(-1)).then_some(())
    });
    assert!(
        !d.log_text().contains("SERVICE 'py.job', state ok -> error"),
        "{}",
        d.log_text()
    );
    py(&["py.job", "--fail"]);
    d.wait_state("py.job", "error");
    py(&["py.job"]);
    d.wait_state("py.job", "ok");
    assert_eq!(
        d.metric("lovebeat_lines_rejected_total{reason=\"bad_value\"}"),
        Some(0.0)
    );
}

#[test]
fn the_cron_wrapper_beats_on_success_and_fails_on_error() {
    let d = Daemon::start();
    let cron = "contrib/clients/lovebeat-cron";
    let (code, out, _) = run_client(&d, cron, &["cron.job", "echo", "done"]);
    assert_eq!((code, out.as_str()), (0, "done\n"));
    d.wait_state("cron.job", "ok");

    let (code, _, err) = run_client(&d, cron, &["cron.job", "sh", "-c", "echo oops >&2; exit 3"]);
    assert_eq!(
        (code, err.as_str()),
        (3, "oops\n"),
        "the job's status and output pass through"
    );
    d.wait_state("cron.job", "error");

    let (code, _, _) = run_client(&d, cron, &["cron.job", "true"]);
    assert_eq!(code, 0);
    d.wait_state("cron.job", "ok");
    let (code, _, err) = run_client(&d, cron, &["cron.job"]);
    assert_eq!(code, 2, "{err}");
}

// ---------------------------------------------------------------- statsd out

/// Receives datagrams on `socket` until `done` holds for everything seen.
fn receive_until(socket: &UdpSocket, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 65536];
    while !done(&seen) {
        assert!(
            start.elapsed() < DEADLINE,
            "timed out waiting for {what}; got {seen:#?}"
        );
        if let Ok(n) = socket.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    seen
}

fn has_line(datagrams: &[String], line: &str) -> bool {
    datagrams.iter().any(|d| d.lines().any(|l| l == line))
}

#[test]
fn statsd_out_sends_go_names_in_batched_datagrams() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let d = Daemon::with_config(&format!(
        "[metrics]\nserver = \"127.0.0.1:{port}\"\nprefix = \"lb\"\n[database]\ninterval = 1\n"
    ));
    receive_until(&server, "started.count", |seen| {
        has_line(seen, "lb.started.count:1|c")
    });

    let many: String = (0..40)
        .map(|i| format!("batch.service-{i:02}.beat:1|c\n"))
        .collect();
    d.send_udp(&many);
    d.send_udp("st.warn.warn:0|g\n");
    let seen = receive_until(&server, "service states", |seen| {
        has_line(seen, "lb.service.state.batch.service-39:1|g")
            && has_line(seen, "lb.service.state.st.warn:4|g")
            && has_line(seen, "lb.service.count:41|g")
    });
    assert!(has_line(&seen, "lb.alarm.count:0|g"));
    for datagram in &seen {
        assert!(
            datagram.len() <= 1432 && datagram.ends_with('\n'),
            "{datagram:?}"
        );
    }
    let batched = seen
        .iter()
        .find(|d| d.contains("batch.service-00"))
        .unwrap();
    assert!(
        batched.lines().count() >= 10,
        "one round, few datagrams: {batched:?}"
    );
    // The receiver has a datagram before lovebeat counts it as sent.
    eventually("the datagrams counted", || {
        let sent = d.metric("lovebeat_statsd_datagrams_total");
        sent.is_some_and(|n| n >= 3.0).then_some(())
    });
}

// ---------------------------------------------------------------- event log

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn the_event_log_writes_json_lines_and_follows_rotation_and_sighup() {
    let mut d = Daemon::with_config("[eventlog]\npath = \"events.log\"\nmode = 600\n");
    let log = d.dir.join("events.log");
    d.send_udp("ev.one.beat:1|c\n");
    let text = eventually("ev.one in the event log", || {
        let text = read(&log);
        text.contains("\"service_state_changed\"").then_some(text)
    });
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let kind = v["type"].as_str().unwrap();
        assert!(v["ts"].as_i64().unwrap() > 0);
        assert!(v[kind].is_object(), "{line}");
        assert!(line.starts_with("{\"ts\":"), "{line}");
    }
    let changed: Value = serde_json::from_str(
        text.lines()
            .find(|l| l.contains("service_state_changed"))
            .unwrap(),
    )
    .unwrap();
    let body = &changed["service_state_changed"];
    assert_eq!(body["service"]["name"], "ev.one");
    assert_eq!(
        (body["previous"].as_str(), body["current"].as_str()),
        (Some("new"), Some("ok"))
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&log).unwrap().mode() & 0o777, 0o600);

    // Rotated away (logrotate without postrotate): a new file follows.
    let rotated = d.dir.join("events.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    let mut n = 0;
    eventually("a new events.log after rotation", || {
        n += 1;
        d.send_udp(&format!("ev.rot-{n}.beat:1|c\n"));
        read(&log).contains("ev.rot-").then_some(())
    });
    // Until the rotation is noticed (within a second), lines go to the
    // renamed file; none is lost.
    assert!(read(&rotated).contains("ev.one"));

    // SIGHUP reopens at once, and does not stop lovebeat.
    let hupped = d.dir.join("events.log.2");
    std::fs::rename(&log, &hupped).unwrap();
    d.signal("HUP");
    eventually("the SIGHUP reopen", || {
        d.log_text().contains("why=\"SIGHUP\"").then_some(())
    });
    d.send_udp("ev.after-hup.beat:1|c\n");
    eventually("ev.after-hup in the reopened log", || {
        read(&log).contains("ev.after-hup").then_some(())
    });
    assert!(d.is_running());
    eventually("the reopens counted", || {
        let reopens = d.metric("lovebeat_eventlog_reopens_total");
        reopens.is_some_and(|n| n >= 2.0).then_some(())
    });
}

#[test]
fn an_event_log_that_cannot_be_opened_stops_startup() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    let database = dir.path().join("lovebeat.db");
    std::fs::write(
        &config,
        format!(
            "[http]\nlisten = \"127.0.0.1:0\"\n[udp]\nlisten = \"127.0.0.1:0\"\n[tcp]\nlisten = \"127.0.0.1:0\"\n[database]\nfilename = {database:?}\n[eventlog]\npath = \"/nonexistent/dir/events.log\"\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (code, _, err) = run(&["--config", config, "--config-dir", "/nonexistent"], "");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot open the event log /nonexistent/dir/events.log"),
        "{err}"
    );
}

// ---------------------------------------------------------------- logging

#[test]
fn state_changes_are_logged_in_go_words() {
    let d = Daemon::start();
    d.send_udp("log.svc.err:60|g\nlog.svc.beat:1|c\nlog.gone.beat:1|c\n");
    d.wait_state("log.svc", "ok");
    let (code, _) = d.request("DELETE", "/api/services/log.gone", &[], "");
    assert_eq!(code, 200);
    eventually("the state log", || {
        let log = d.log_text();
        [
            "SERVICE 'log.svc', created -> new",
            "SERVICE 'log.svc', tmo never -> 60s",
            "SERVICE 'log.svc', state new -> ok",
            "SERVICE 'log.gone', ok -> deleted",
        ]
        .iter()
        .all(|l| log.contains(l))
        .then_some(())
    });
    let log = d.log_text();
    assert!(log.contains("Started on "), "{log}");
    assert!(
        log.contains("service=\"log.svc\""),
        "structured fields: {log}"
    );
}

#[test]
fn syslog_without_a_syslog_daemon_falls_back_to_stderr() {
    // Where a syslog daemon listens, `--syslog` sends everything there and
    // this harness (which reads stderr) cannot follow; the writer itself is
    // unit-tested against a socket of its own (src/logging.rs).
    if Path::new("/dev/log").exists() {
        eprintln!("skipped: /dev/log exists here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(dir.path(), "", &["--syslog", "--debug"]);
    let log = d.log_text();
    assert!(
        log.contains("cannot log to syslog at /dev/log") && log.contains("logging to stderr"),
        "{log}"
    );
}

// ---------------------------------------------------------------- peers

/// A daemon whose HTTP port is `port` (known before it starts).
fn daemon_on(dir: &Path, port: u16, extra: &str) -> Daemon {
    let conf_d = dir.join("conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    std::fs::write(
        conf_d.join("http.toml"),
        format!("[http]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    Daemon::start_in(dir, extra, &[])
}

fn peer_config(host: &str, peer: &str) -> String {
    format!(
        "[database]\ninterval = 1\n[peers]\ninterval = 1\nhost = \"{host}\"\n[auto]\nalgorithm = \"adaptive\"\n[[notify]]\nlovebeat = \"{peer}\"\n"
    )
}

#[test]
fn two_peers_watch_each_other_and_a_killed_one_goes_late() {
    let b_port = free_port();
    let a = Daemon::with_config(&peer_config("alpha", &format!("http://127.0.0.1:{b_port}")));
    let b_dir = tempfile::tempdir().unwrap();
    let b = daemon_on(b_dir.path(), b_port, &peer_config("beta", &a.url("")));

    let metrics = ["monitor", "alerter", "save"];
    let watched = |d: &Daemon, host: &str| {
        metrics.iter().all(|m| {
            d.service(&format!("lovebeat.{host}.{m}")).is_some_and(|s| {
                s["state"] == "ok" && s["timeout"] == -2 && s["auto_timeout"].as_u64().is_some()
            })
        })
    };
    eventually("each to watch the other", || {
        (watched(&b, "alpha") && watched(&a, "beta")).then_some(())
    });
    assert!(
        a.metric("lovebeat_peer_beats_total{metric=\"monitor\",result=\"sent\"}")
            .unwrap()
            >= 1.0
    );

    a.kill();
    for m in metrics {
        b.wait_state(&format!("lovebeat.alpha.{m}"), "error");
    }
    assert_eq!(
        b.state("lovebeat.beta.monitor"),
        None,
        "a lovebeat does not beat itself"
    );
    let (_, status) = b.get("/status");
    assert!(status.contains("num_error 3\n"), "{status}");
}

// ---------------------------------------------------------------- services CLI

fn lovebeat(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    run_program(&crate::util::binary(), args, env, "")
}

#[test]
fn services_subcommands_drive_a_live_daemon() {
    let d = Daemon::with_config("[[alarms]]\nname = \"cli\"\npattern = \"cli.*\"\n");
    let url = d.url("");
    let cli = |args: &[&str]| {
        let mut all = vec!["services", "--url", &url];
        all.extend_from_slice(args);
        let (code, out, err) = lovebeat(&all, &[]);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    assert_eq!(
        cli(&["beat", "cli.svc", "--warn", "1m", "--err", "auto"]),
        ""
    );
    let s = d.service("cli.svc").unwrap();
    assert_eq!(
        (
            s["state"].as_str(),
            s["warn_timeout"].as_i64(),
            s["timeout"].as_i64()
        ),
        (Some("ok"), Some(60_000), Some(-2))
    );
    cli(&["beat", "other"]);

    let table = cli(&["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "STATE", "LAST", "BEAT", "WARN", "ERR", "VIEWS"]
    );
    assert!(lines[1].starts_with("cli.svc  ok"), "{table}");
    assert!(
        lines[1].contains("1m")
            && lines[1].contains("auto (learning)")
            && lines[1].ends_with("cli"),
        "{table}"
    );
    let only_view = cli(&["list", "--view", "cli"]);
    assert_eq!(only_view.lines().count(), 2, "{only_view}");

    cli(&["set", "cli.svc", "--err", "always"]);
    assert_eq!(d.state("cli.svc").as_deref(), Some("error"));
    let s = d.service("cli.svc").unwrap();
    assert_eq!(s["beats"], 1, "set does not beat");
    cli(&["mute", "cli.svc"]);
    assert_eq!(d.state("cli.svc").as_deref(), Some("muted"));
    cli(&["unmute", "cli.svc"]);
    assert_eq!(d.state("cli.svc").as_deref(), Some("error"));
    cli(&["delete", "cli.svc"]);
    assert_eq!(d.state("cli.svc"), None);

    // LOVEBEAT_URL, then the config's [http] listen.
    let (code, out, err) = lovebeat(&["services", "list"], &[("LOVEBEAT_URL", &url)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("other"), "{out}");
    let config = d.dir.join("client.toml");
    std::fs::write(&config, format!("[http]\nlisten = \"{}\"\n", d.http)).unwrap();
    let config = config.to_str().unwrap();
    let (code, out, err) = lovebeat(
        &[
            "services",
            "--config",
            config,
            "--config-dir",
            "/nonexistent",
            "list",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("other"), "{out}");

    // Failures: one line, status 1.
    let (code, _, err) = lovebeat(&["services", "--url", &url, "beat", "Bad Name"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("lovebeat: invalid service name") && err.contains("(HTTP 400)"),
        "{err}"
    );
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let (code, _, err) = lovebeat(&["services", "--url", &nobody, "list"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with(&format!("lovebeat: cannot reach lovebeat at {nobody}")),
        "{err}"
    );
    let (code, _, err) = lovebeat(&["services", "--url", &url, "set", "x"], &[]);
    assert_eq!(code, 1, "{err}");
}

// ---------------------------------------------------------------- systemd

#[test]
fn the_systemd_unit_runs_a_dedicated_user_with_hardening_and_valid_flags() {
    let unit = std::fs::read_to_string(repo_file("contrib/systemd/lovebeat.service")).unwrap();
    let keys: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#')).collect();
    for needed in [
        "User=lovebeat",
        "StateDirectory=lovebeat",
        "WorkingDirectory=/var/lib/lovebeat",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(keys.contains(&needed), "missing {needed}");
    }
    let sysusers = std::fs::read_to_string(repo_file("contrib/systemd/lovebeat.sysusers")).unwrap();
    assert!(sysusers.contains("u lovebeat "));
    // The flags of ExecStart parse (validate-auto exits at once on no input).
    let exec = keys
        .iter()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let mut args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    args.push("validate-auto");
    let (code, out, err) = run(&args, "");
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
}
