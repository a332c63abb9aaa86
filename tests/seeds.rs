//! What lovebeat took over from the other seed monitors, end to end:
//! explicit failure on every protocol; statuscope's README run as written
//! (its curl examples, with a token from `lovebeat services add`); active
//! checks against real local servers (HTTP the test turns healthy,
//! unhealthy and slow, a TCP listener it closes, HTTPS with a self-signed
//! certificate); and the status page, fetched, saved with `lovebeat
//! status-page --out` and rendered in headless Chromium.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::browser::Browser;
use crate::util::{Daemon, eventually, have, run, run_program};

// ---------------------------------------------------------------------------
// A web server the test controls.

/// How the test server answers.
#[derive(Debug, Clone, PartialEq)]
enum Mode {
    /// 200 with the body `ok`.
    Healthy,
    /// This status with the body `down`.
    Status(u16),
    /// Healthy, after this long.
    Slow(Duration),
    /// 200 with this body.
    Body(&'static str),
}

/// A plain HTTP/1.1 server (or HTTPS, with a rustls config) on a free
/// loopback port; [`TestWeb::stop`] closes the port.
struct TestWeb {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestWeb {
    fn start(tls: Option<Arc<rustls::ServerConfig>>) -> TestWeb {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(Mode::Healthy));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (mode.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (mode, tls) = (m.lock().unwrap().clone(), tls.clone());
                std::thread::spawn(move || serve(stream, mode, tls));
            }
        });
        TestWeb {
            addr,
            mode,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Closes the listening socket: connections are refused from now on.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for TestWeb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Answers one request on `stream` and closes it.
fn serve(stream: TcpStream, mode: Mode, tls: Option<Arc<rustls::ServerConfig>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    match tls {
        Some(config) => {
            let Ok(conn) = rustls::ServerConnection::new(config) else {
                return;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            answer(&mut tls, &mode);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
        None => answer(&mut { stream }, &mode),
    }
}

fn answer(stream: &mut (impl Read + Write), mode: &Mode) {
    let mut reader = BufReader::new(&mut *stream);
    let mut line = String::new();
    for _ in 0..100 {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let (status, body) = match mode {
        Mode::Healthy => (200, "ok"),
        Mode::Status(code) => (*code, "down"),
        Mode::Slow(pause) => {
            std::thread::sleep(*pause);
            (200, "ok")
        }
        Mode::Body(body) => (200, *body),
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

/// A self-signed certificate for 127.0.0.1 and localhost: the server's
/// TLS config, and the certificate as PEM (for the check's `ca_file`).
fn self_signed() -> (Arc<rustls::ServerConfig>, String) {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    (Arc::new(config), certified.cert.pem())
}

// ---------------------------------------------------------------------------
// Helpers.

/// `lovebeat services --url URL ARGS…`; returns (status, stdout, stderr).
fn services(d: &Daemon, args: &[&str]) -> (i32, String, String) {
    let url = d.url("");
    let mut all = vec!["services", "--url", url.as_str()];
    all.extend_from_slice(args);
    run(&all, "")
}

/// The failure message of a service, if it has one.
fn failure(d: &Daemon, name: &str) -> Option<String> {
    let service = d.service(name)?;
    service["failure"]["message"].as_str().map(str::to_owned)
}

/// Waits until `name` is in error with a failure message containing `text`.
fn wait_failure(d: &Daemon, name: &str, text: &str) -> String {
    eventually(&format!("{name} to fail with {text:?}"), || {
        let message = failure(d, name)?;
        (d.state(name).as_deref() == Some("error") && message.contains(text)).then_some(message)
    })
}

/// Runs `script` with `sh -c`; returns stdout (must exit 0).
fn sh(script: &str) -> String {
    let (code, out, err) = run_program(Path::new("/bin/sh"), &["-c", script], &[], "");
    assert_eq!(code, 0, "{script}\n{err}");
    out
}

// ---------------------------------------------------------------------------
// 1. Explicit failure on every protocol.

#[test]
fn explicit_failure_on_udp_tcp_dogstatsd_http_and_the_command_line() {
    let d = Daemon::start();
    d.send_udp("job.udp.beat:1|c");
    d.wait_state("job.udp", "ok");
    d.send_udp("job.udp.fail:1|c");
    d.wait_state("job.udp", "error");
    d.send_udp("job.udp.beat:1|c");
    d.wait_state("job.udp", "ok");

    d.send_tcp(b"job.tcp.fail:1|c\n");
    d.wait_state("job.tcp", "error");

    d.send_tcp(b"_sc|job.sc|2|h:web1|m:disk full\n");
    assert_eq!(wait_failure(&d, "job.sc", "disk"), "disk full");
    d.send_udp("_sc|job.sc|1|m:disk almost full");
    d.wait_state("job.sc", "warning");
    d.send_udp("_sc|job.sc|0");
    d.wait_state("job.sc", "ok");
    assert_eq!(
        failure(&d, "job.sc"),
        None,
        "a good beat clears the failure"
    );

    let (status, _) = d.post_form(
        "/api/services/job.http",
        "status=fail&message=backup+failed",
    );
    assert_eq!(status, 200);
    assert_eq!(wait_failure(&d, "job.http", "backup"), "backup failed");
    let json = ("Content-Type", "application/json");
    let body = r#"{"status": "fail", "message": "from json"}"#;
    let (status, _) = d.request("POST", "/api/services/job.json", &[json], body);
    assert_eq!(status, 200);
    wait_failure(&d, "job.json", "from json");
    let (status, _) = d.post_form("/api/services/job.http", "status=maybe");
    assert_eq!(status, 400, "a bad status changes nothing");
    assert_eq!(failure(&d, "job.http").as_deref(), Some("backup failed"));

    let (code, _, err) = services(&d, &["fail", "job.cli", "--message", "exit 3"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(wait_failure(&d, "job.cli", "exit"), "exit 3");
}

// ---------------------------------------------------------------------------
// 2. statuscope, as its README says.

/// The statuscope README's curl examples, exactly as written there.
const README_OK: &str = "curl \\
  -X POST \\
  http://localhost:3000/signal \\
  -d application=my_app \\
  -d token=m2x5b6vMdxtatTdGYnqyR8ee \\
  -d status=ok";
const README_FAIL: &str = "curl \\
  -X POST \\
  http://localhost:3000/signal \\
  -d application=my_app \\
  -d token=m2x5b6vMdxtatTdGYnqyR8ee \\
  -d status=fail";
const README_DEBUG: &str = "curl http://localhost:3000/checks/my_app | jq .";

/// A README example with our port and token: nothing else changed.
fn as_written(example: &str, d: &Daemon, token: &str) -> String {
    let port = d.http.port().to_string();
    example
        .replace("3000", &port)
        .replace("m2x5b6vMdxtatTdGYnqyR8ee", token)
}

/// The `/checks/my_app` JSON as the README's debugging example prints it
/// (through jq where there is one).
fn debug_check(d: &Daemon, token: &str) -> Value {
    let example = as_written(README_DEBUG, d, token);
    let script = if have("jq") {
        format!("{example} 2>/dev/null")
    } else {
        example.replace(" | jq .", " 2>/dev/null")
    };
    serde_json::from_str(&sh(&script)).unwrap()
}

#[test]
fn statuscope_s_readme_works_as_written() {
    assert!(
        have("curl"),
        "these tests run statuscope's curl examples: install curl"
    );
    let d = Daemon::with_config("[[alarms]]\nname = \"puzzle\"\nteam = \"puzzle\"\n");
    let (code, out, err) = services(
        &d,
        &["add", "my_app", "--interval", "16800", "--team", "puzzle"],
    );
    assert_eq!(code, 0, "{err}");
    let token = out
        .trim()
        .strip_prefix("Added. Token: ")
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    assert_eq!(token.len(), 24);

    sh(&as_written(README_OK, &d, &token));
    let check = debug_check(&d, &token);
    assert_eq!(check["application"], "my_app");
    assert_eq!(check["state"], "ok");
    assert_eq!(check["interval"], 16800);
    assert_eq!(check["team"], "puzzle");
    let check_in = check["check_in"].as_str().unwrap();
    assert!(is_rfc3339_ms(check_in), "{check_in}");
    assert_eq!(d.state("my_app").as_deref(), Some("ok"));

    sh(&as_written(README_FAIL, &d, &token));
    assert_eq!(debug_check(&d, &token)["state"], "fail");
    d.wait_state("my_app", "error");
    let view = d.get_json("/api/views/puzzle");
    assert_eq!(view["view"]["state"], "error", "{view}");
    let team = "lovebeat_service_state{service=\"my_app\",state=\"error\",team=\"puzzle\"}";
    assert_eq!(d.metric(team), Some(1.0));
    let statuscope = "statuscope_check_ok{application=\"my_app\",team=\"puzzle\"}";
    assert_eq!(
        d.metric(statuscope),
        Some(3.0),
        "statuscope's gauge: 3 is failed"
    );

    // A wrong token: 403, and nothing changes.
    let beats = d.service("my_app").unwrap()["beats"].clone();
    let wrong = as_written(README_OK, &d, "AAAAAAAAAAAAAAAAAAAAAAAA");
    let status = sh(&format!("{wrong} -s -o /dev/null -w '%{{http_code}}'"));
    assert_eq!(status, "403");
    assert_eq!(d.state("my_app").as_deref(), Some("error"));
    assert_eq!(d.service("my_app").unwrap()["beats"], beats);

    // `token` issues a new one; the old one stops working.
    let (code, out, _) = services(&d, &["token", "my_app"]);
    assert_eq!(code, 0);
    let new_token = out.trim().strip_prefix("Token: ").unwrap().to_owned();
    assert_ne!(new_token, token);
    let old = as_written(README_OK, &d, &token);
    assert_eq!(
        sh(&format!("{old} -s -o /dev/null -w '%{{http_code}}'")),
        "403"
    );
    sh(&as_written(README_OK, &d, &new_token));
    d.wait_state("my_app", "ok");

    let (code, out, _) = services(&d, &["remove", "my_app"]);
    assert_eq!((code, out.as_str()), (0, "Removed.\n"));
    assert_eq!(d.get("/checks/my_app").0, 404);
    let (code, _, err) = services(&d, &["token", "my_app"]);
    assert_eq!(code, 1);
    assert!(err.contains("has no token"), "{err}");
}

fn is_rfc3339_ms(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 24
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[23] == b'Z'
        && text.bytes().filter(u8::is_ascii_digit).count() == 17
}

#[test]
fn interval_zero_remembers_the_state_and_tokens_outlive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(tmp.path(), "", &[]);
    let (code, out, _) = services(&d, &["add", "nightly", "--interval", "0"]);
    assert_eq!(code, 0);
    let token = out
        .trim()
        .strip_prefix("Added. Token: ")
        .unwrap()
        .to_owned();
    let form = format!("application=nightly&token={token}&status=fail");
    let (status, body) = d.post_form("/signal", &form);
    assert_eq!(status, 201, "{body}");
    let check: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (check["state"].as_str(), check["interval"].as_u64()),
        (Some("fail"), Some(0))
    );
    assert_eq!(d.service("nightly").unwrap()["timeout"], -1, "no deadline");
    assert_eq!(d.terminate().code(), Some(0));

    let d = Daemon::start_in(tmp.path(), "", &[]);
    let form = format!("application=nightly&token={token}&status=ok");
    assert_eq!(d.post_form("/signal", &form).0, 201);
    assert_eq!(d.get_json("/checks/nightly")["state"], "ok");
    let (status, _) = d.post_form("/signal", "application=nightly&token=nope&status=ok");
    assert_eq!(status, 403);
}

// ---------------------------------------------------------------------------
// 3. Active checks.

/// A `[[checks]]` entry for a URL, run every second.
fn http_check(name: &str, url: &str, extra: &str) -> String {
    format!("[[checks]]\nname = \"{name}\"\nurl = \"{url}\"\ninterval = 1\ntimeout = 1\n{extra}\n")
}

#[test]
fn an_http_check_follows_a_server_that_turns_unhealthy_slow_and_away() {
    let mut web = TestWeb::start(None);
    let url = format!("http://{}/health", web.addr);
    let d = Daemon::with_config(&http_check("web.front", &url, "expect_body = \"ok\""));
    d.wait_state("web.front", "ok");
    let check = d.get_json("/api/checks/web.front");
    assert_eq!(check["type"], "http");
    assert_eq!(check["last"]["ok"], true);
    assert!(
        check["last"]["latency_ms"].as_u64().unwrap() < 1000,
        "{check}"
    );
    assert_eq!(
        d.metric("lovebeat_check_up{check=\"web.front\"}"),
        Some(1.0)
    );
    assert!(
        d.metric("lovebeat_check_latency_seconds{check=\"web.front\"}")
            .is_some()
    );

    web.set(Mode::Status(503));
    wait_failure(&d, "web.front", "status 503 (expected 2xx)");
    web.set(Mode::Healthy);
    d.wait_state("web.front", "ok");
    web.set(Mode::Slow(Duration::from_secs(3)));
    wait_failure(&d, "web.front", "timed out");
    web.set(Mode::Body("maintenance"));
    wait_failure(&d, "web.front", "does not contain \"ok\"");
    web.set(Mode::Healthy);
    d.wait_state("web.front", "ok");

    let stopped = Instant::now();
    web.stop();
    wait_failure(&d, "web.front", "http check of");
    // One interval (1 s), plus an attempt's timeout and the poll.
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopped.elapsed()
    );
    // The check's series may be set a moment after the service shows it.
    let fails = "lovebeat_check_runs_total{check=\"web.front\",result=\"fail\"}";
    eventually("the failed check in /metrics", || {
        let up = d.metric("lovebeat_check_up{check=\"web.front\"}");
        (up == Some(0.0) && d.metric(fails).is_some_and(|n| n >= 1.0)).then_some(())
    });
}

#[test]
fn attempts_smooth_out_a_single_blip() {
    let web = TestWeb::start(None);
    let url = format!("http://{}/", web.addr);
    let d = Daemon::with_config(&http_check("web.flaky", &url, "attempts = 3"));
    d.wait_state("web.flaky", "ok");
    web.set(Mode::Status(500));
    let message = wait_failure(&d, "web.flaky", "status 500");
    assert!(message.contains("(3 attempts)"), "{message}");
}

#[test]
fn a_check_with_failures_is_an_error_only_after_that_many_failed_runs_in_a_row() {
    let web = TestWeb::start(None);
    let url = format!("http://{}/", web.addr);
    let d = Daemon::with_config(&http_check("web.tolerant", &url, "failures = 3"));
    d.wait_state("web.tolerant", "ok");
    web.set(Mode::Status(500));
    let fails = "lovebeat_check_runs_total{check=\"web.tolerant\",result=\"fail\"}";
    let failed = || d.metric(fails).unwrap_or(0.0);
    // Read between two counts below three, the state is still ok.
    let held = eventually("a failed run, still within the tolerance", || {
        let before = failed();
        let state = d.state("web.tolerant");
        (before >= 1.0 && failed() < 3.0).then_some(state)
    });
    assert_eq!(held.as_deref(), Some("ok"));
    let message = wait_failure(&d, "web.tolerant", "status 500");
    assert!(message.ends_with("(3 runs in a row)"), "{message}");
}

#[test]
fn a_tcp_check_fails_once_the_listener_is_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = format!(
        "[[checks]]\nname = \"db.primary\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\n\
         port = {port}\ninterval = 1\ntimeout = 1\n"
    );
    let d = Daemon::with_config(&config);
    d.wait_state("db.primary", "ok");
    drop(listener);
    let message = wait_failure(&d, "db.primary", "connect");
    assert!(
        message.starts_with(&format!("tcp check of 127.0.0.1:{port} failed")),
        "{message}"
    );
}

#[test]
fn an_https_check_trusts_its_ca_file_and_refuses_an_unknown_certificate() {
    let (tls, pem) = self_signed();
    let web = TestWeb::start(Some(tls));
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let url = format!("https://127.0.0.1:{}/health", web.addr.port());
    let config = format!(
        "{}{}",
        http_check(
            "tls.trusted",
            &url,
            &format!("ca_file = \"{}\"", ca.display())
        ),
        http_check("tls.unknown", &url, "")
    );
    let d = Daemon::start_in(tmp.path(), &config, &[]);
    d.wait_state("tls.trusted", "ok");
    assert_eq!(d.get_json("/api/checks/tls.trusted")["type"], "https");
    let message = wait_failure(&d, "tls.unknown", "certificate");
    assert!(message.starts_with("https check of"), "{message}");
    web.set(Mode::Status(500));
    wait_failure(&d, "tls.trusted", "status 500");
}

#[test]
fn a_missing_ca_file_stops_the_daemon_with_status_2() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("lovebeat.toml");
    std::fs::write(
        &config,
        http_check("x", "https://127.0.0.1:1/", "ca_file = \"nope.pem\""),
    )
    .unwrap();
    let config = config.display().to_string();
    let out = Command::new(crate::util::binary())
        .args(["--config", &config, "--config-dir", "/nonexistent"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("check \"x\": ca_file nope.pem"), "{err}");
}

/// Heartbeat's promotion and demotion: the view of the checked services
/// runs `on_error` when a check fails and `on_ok` when all pass again.
#[test]
fn a_failing_check_demotes_and_a_passing_one_promotes() {
    let web = TestWeb::start(None);
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("actions");
    let config = format!(
        "[[alarms]]\nname = \"web\"\npattern = \"web.*\"\nalerts = [\"failover\"]\n\
         [alerts.failover]\non_error = \"echo demoted >> {log}\"\n\
         on_ok = \"echo promoted >> {log}\"\n{}",
        http_check("web.front", &format!("http://{}/", web.addr), ""),
        log = log.display(),
    );
    let d = Daemon::start_in(tmp.path(), &config, &[]);
    d.wait_state("web.front", "ok");
    let actions = || std::fs::read_to_string(&log).unwrap_or_default();
    web.set(Mode::Status(500));
    eventually("on_error", || (actions() == "demoted\n").then_some(()));
    web.set(Mode::Healthy);
    eventually("on_ok", || {
        (actions() == "demoted\npromoted\n").then_some(())
    });
}

// ---------------------------------------------------------------------------
// 4. The status page.

/// The class of the last (current hour's) bar segment of `name`.
fn current_bar(page: &str, name: &str) -> String {
    let item = page
        .split("<li ")
        .find(|li| li.contains(&format!("data-name=\"{name}\"")))
        .unwrap_or_else(|| panic!("{name} is not on the page:\n{page}"));
    let bar = item.split("<div class=\"bar\">").nth(1).unwrap();
    let last = bar.split("<span class=\"").nth(24).unwrap();
    last.split('"').next().unwrap().to_owned()
}

#[test]
fn the_status_page_shows_an_outage_in_its_bar_and_the_incident_messages() {
    let mut web = TestWeb::start(None);
    let url = format!("http://{}/", web.addr);
    let config = format!(
        "[[alarms]]\nname = \"web\"\npattern = \"web.*\"\n{}\
         [status_page]\ntitle = \"Acme <status>\"\n",
        http_check("web.front", &url, "")
    );
    let d = Daemon::with_config(&config);
    d.send_udp("backup.nightly.beat:1|c");
    d.wait_state("web.front", "ok");
    d.wait_state("backup.nightly", "ok");
    let (status, page) = d.get("/status-page");
    assert_eq!(status, 200);
    assert!(page.contains("<title>Acme &lt;status&gt;</title>"));
    assert!(page.contains("id=\"overall\" data-state=\"ok\""));
    assert_eq!(current_bar(&page, "web.front"), "s-ok");
    assert!(page.contains("data-name=\"backup.nightly\" data-state=\"ok\""));

    web.stop();
    d.wait_state("web.front", "error");
    let (status, body) = d.post_form("/api/messages", "text=<b>Front page down</b>, we're on it");
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_u64()
        .unwrap();
    let page = d.get("/status-page").1;
    assert!(page.contains("id=\"overall\" data-state=\"error\""));
    assert_eq!(current_bar(&page, "web.front"), "s-error");
    assert_eq!(current_bar(&page, "web"), "s-error", "the view's bar");
    assert!(page.contains("&lt;b&gt;Front page down&lt;/b&gt;, we&#39;re on it"));
    assert!(page.contains("class=\"message open\""));
    assert!(!page.contains("<script"));

    // A static copy, as checkup hosts it.
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("site");
    let url = d.url("");
    let (code, stdout, err) = run(
        &["status-page", "--url", &url, "--out", dir.to_str().unwrap()],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(stdout.starts_with("Wrote "), "{stdout}");
    let saved = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert_eq!(current_bar(&saved, "web.front"), "s-error");

    render_in_chromium(&dir.join("index.html"));

    let (status, _) = d.post_form(&format!("/api/messages/{id}/resolve"), "");
    assert_eq!(status, 200);
    let page = d.get("/status-page").1;
    assert!(
        page.contains("class=\"message resolved\""),
        "shown as resolved for a day"
    );
    assert_eq!(d.get("/api/messages/x/resolve").0, 405);
}

/// The saved page in a real browser: it renders with no script, the
/// outage shows, and a screenshot is left beside the dashboard's.
fn render_in_chromium(file: &Path) {
    let b = Browser::start();
    b.goto(&format!("file://{}", file.display()));
    let state = b.wait(
        "the page to render",
        "const o = document.getElementById('overall'); return o && o.dataset.state",
    );
    assert_eq!(state, "error");
    let red = b.js(
        "const li = document.querySelector('li[data-name=\"web.front\"]');\
         const bars = li.querySelectorAll('.bar span');\
         return getComputedStyle(bars[bars.length - 1]).backgroundColor",
    );
    assert_eq!(red, "rgb(224, 49, 49)");
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("status-page-screenshot.png");
    b.screenshot(&shot);
}

fn clock_hour() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.unwrap().as_secs() / 3600
}

#[test]
fn the_status_page_history_outlives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let hour = clock_hour();
    let d = Daemon::start_in(tmp.path(), "", &[]);
    d.send_udp("job.fail:1|c");
    d.wait_state("job", "error");
    d.send_udp("job.beat:1|c");
    d.wait_state("job", "ok");
    assert_eq!(d.terminate().code(), Some(0));
    let d = Daemon::start_in(tmp.path(), "", &[]);
    let page = d.get("/status-page").1;
    if clock_hour() == hour {
        assert_eq!(current_bar(&page, "job"), "s-error", "this hour's outage");
    }
    assert!(page.contains("data-name=\"job\" data-state=\"ok\""));
}
