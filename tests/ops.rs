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
mod clients;
mod metrics;

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
