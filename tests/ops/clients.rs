//! What talks to lovebeat from outside: the Nagios plugin and check_http,
//! the example shell and Python clients, the cron wrapper.

use super::*;

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
