//! The daemon as a new user meets it: beats over every protocol, warning and
//! error deadlines, `/status`, views, bad input, config and the CLI.

use crate::util::{Daemon, eventually, http, run};

const MAILER: &str = "invoice.mailer";

#[test]
fn a_service_goes_ok_warning_error_and_back_on_every_protocol() {
    let d = Daemon::start();
    d.send_udp("invoice.mailer.warn:1|g\ninvoice.mailer.err:2|g\ninvoice.mailer.beat:1|c\n");
    d.wait_state(MAILER, "ok");
    d.wait_state(MAILER, "warning");
    d.wait_state(MAILER, "error");
    let (_, status) = d.get("/status");
    assert!(status.contains("num_error 1\n"), "{status}");

    d.send_tcp(b"invoice.mailer.beat:1|c\n");
    d.wait_state(MAILER, "ok");
    d.wait_state(MAILER, "error");

    let (code, body) = d.request("POST", "/api/services/invoice.mailer", &[], "");
    assert_eq!((code, body.as_str()), (200, "{}\n"));
    // The POST answers once its beat is visible.
    assert_eq!(d.state(MAILER).as_deref(), Some("ok"));
}

#[test]
fn a_read_after_an_answered_http_beat_sees_it() {
    let d = Daemon::start();
    let beat = || d.request("POST", "/api/services/read.after", &[], "").0;
    assert_eq!(beat(), 200);
    // The next beats of the now ok service are answered once queued
    // (`plain_beat`); each read after an answer must still see it.
    for beats in 2..=50 {
        assert_eq!(beat(), 200);
        assert_eq!(d.service("read.after").unwrap()["beats"], beats);
    }
    let (code, status) = d.get("/status");
    assert_eq!(code, 200);
    assert!(status.starts_with("num_ok 1\n"), "{status}");
}

#[test]
fn status_text_and_json_have_every_key_in_order() {
    let d = Daemon::start();
    d.send_udp("a.err:0|g\nb.warn:0|g\nc.beat:1|c\nd.beat:1|c\n");
    eventually("four services", || {
        (d.metric("lovebeat_services{state=\"ok\"}") == Some(2.0)).then_some(())
    });
    let (code, text) = d.get("/status");
    assert_eq!(code, 200);
    assert_eq!(
        text,
        "num_ok 2\nnum_warning 1\nnum_error 1\nhas_warning true\nhas_error true\ngood false\n"
    );
    let (_, api) = d.get("/api/status");
    assert_eq!(api, text);
    for accept in [
        "application/json",
        "application/json; charset=utf-8",
        "text/html, application/json;q=0.9",
    ] {
        let (_, json) = d.request("GET", "/status", &[("Accept", accept)], "");
        assert_eq!(
            json,
            "{\n  \"num_ok\": 2,\n  \"num_warning\": 1,\n  \"num_error\": 1,\n  \"has_warning\": true,\n  \"has_error\": true,\n  \"good\": false\n}\n",
            "Accept: {accept}"
        );
    }
}

#[test]
fn warnings_alone_leave_status_good() {
    let d = Daemon::start();
    d.send_udp("slow.warn:0|g\n");
    d.wait_state("slow", "warning");
    let (_, text) = d.get("/status");
    assert!(
        text.ends_with("has_warning true\nhas_error false\ngood true\n"),
        "{text}"
    );
}

#[test]
fn bad_lines_are_counted_and_good_lines_in_the_same_datagram_apply() {
    let d = Daemon::start();
    d.send_udp("good.one.beat:1|c\nBad.Name.beat:1|c\ngood.two.frobnicate:1|c\ngood.three.timeout:1.5|g\ngood.four.beat:1\ngood.five.beat:1|c\n");
    d.wait_state("good.five", "ok");
    assert!(d.service("good.one").is_some());
    for (reason, n) in [
        ("bad_name", 1.0),
        ("unknown_action", 1.0),
        ("bad_value", 1.0),
        ("bad_type", 1.0),
    ] {
        let series = format!("lovebeat_lines_rejected_total{{reason=\"{reason}\"}}");
        assert_eq!(d.metric(&series), Some(n), "{series}");
    }
    assert!(d.service("good.two").is_none());
    assert!(d.service("good.three").is_none());
    eventually("the beats to be counted", || {
        (d.metric("lovebeat_beats_total") == Some(2.0)).then_some(())
    });
    eventually("a rejected-line log line", || {
        d.log_text().contains("rejected line").then_some(())
    });
}

#[test]
fn crlf_lines_work_over_udp_and_tcp() {
    let d = Daemon::start();
    d.send_udp("crlf.udp.beat:1|c\r\ncrlf.udp2.beat:1|c|@0.5\r\n");
    d.send_tcp(b"crlf.tcp.warn:-2|g\r\ncrlf.tcp.beat:1|c\r\n");
    d.wait_state("crlf.udp", "ok");
    d.wait_state("crlf.udp2", "ok");
    d.wait_state("crlf.tcp", "ok");
    assert_eq!(d.service("crlf.tcp").unwrap()["warn_timeout"], -2);
}

#[test]
fn tcp_lines_may_arrive_in_pieces_and_many_per_connection() {
    use std::io::Write;
    let d = Daemon::start();
    let mut stream = std::net::TcpStream::connect(d.tcp).unwrap();
    stream.write_all(b"piece.wise.be").unwrap();
    stream.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    stream
        .write_all(b"at:1|c\nsecond.one.beat:1|c\nlast.no.newline.beat:1|c")
        .unwrap();
    drop(stream);
    d.wait_state("piece.wise", "ok");
    d.wait_state("second.one", "ok");
    d.wait_state("last.no.newline", "ok");
}

#[test]
fn an_overlong_tcp_line_is_rejected_and_the_connection_keeps_working() {
    use std::io::Write;
    let d = Daemon::start();
    let mut stream = std::net::TcpStream::connect(d.tcp).unwrap();
    stream.write_all(&vec![b'x'; 200_000]).unwrap();
    stream.write_all(b"\nafter.long.beat:1|c\n").unwrap();
    d.wait_state("after.long", "ok");
    assert_eq!(
        d.metric("lovebeat_lines_rejected_total{reason=\"too_long\"}"),
        Some(1.0)
    );
}

#[test]
fn a_large_datagram_is_read_whole() {
    let d = Daemon::start();
    let lines: String = (0..1000)
        .map(|i| format!("bulk.service{i:04}.beat:1|c\n"))
        .collect();
    assert!(lines.len() > 20_000);
    d.send_udp(&lines);
    d.wait_state("bulk.service0999", "ok");
}

#[test]
fn http_beats_take_query_form_and_json_timeouts() {
    let d = Daemon::start();
    d.request("POST", "/api/services/q.svc?timeout=3600", &[], "");
    assert_eq!(d.service("q.svc").unwrap()["timeout"], 3_600_000);

    d.post_form("/api/services/f.svc", "err-tmo=1800&warn-tmo=auto");
    let s = d.service("f.svc").unwrap();
    assert_eq!(
        (s["timeout"].as_i64(), s["warn_timeout"].as_i64()),
        (Some(1_800_000), Some(-2))
    );

    let json = ("Content-Type", "application/json; charset=utf-8");
    d.request(
        "POST",
        "/api/services/j.svc",
        &[json],
        r#"{"timeout": 60, "beat": false}"#,
    );
    let s = d.service("j.svc").unwrap();
    assert_eq!(
        (s["timeout"].as_i64(), s["last_beat"].as_i64()),
        (Some(60_000), Some(-1))
    );
    assert_eq!(s["state"], "new");
}

#[test]
fn a_service_gets_its_own_auto_estimator_and_says_why() {
    let d = Daemon::start();
    let path = "/api/services/r.svc?timeout=auto&auto_algorithm=rhythm";
    d.request("POST", path, &[], "");
    let s = d.service("r.svc").unwrap();
    assert_eq!(s["auto_algorithm"], "rhythm");
    assert_eq!(
        s["auto_reason"],
        "learning: 0 of 3 intervals seen, no deadline yet"
    );
    d.request(
        "POST",
        "/api/services/r.svc?auto_algorithm=default",
        &[],
        "",
    );
    let s = d.service("r.svc").unwrap();
    assert_eq!(s["auto_algorithm"], "median");
    let (code, body) = d.request("POST", "/api/services/r.svc?auto_algorithm=ewma", &[], "");
    assert_eq!(code, 400, "{body}");
    d.request("POST", "/api/services/plain.svc", &[], "");
    let s = d.service("plain.svc").unwrap();
    assert!(s.get("auto_reason").is_none() && s.get("auto_algorithm").is_none());
}

#[test]
fn bad_http_input_gets_a_reason_and_changes_nothing() {
    let d = Daemon::start();
    d.post_form("/api/services/keep.me", "timeout=60");
    for (path, body) in [
        ("/api/services/keep.me?timeout=abc", ""),
        ("/api/services/keep.me?timeout=-5", ""),
        ("/api/services/keep.me?timeout=1.5", ""),
    ] {
        let (code, reason) = d.request("POST", path, &[], body);
        assert_eq!(code, 400, "{path}");
        assert!(reason.contains("timeout"), "{reason}");
        assert_eq!(reason.lines().count(), 1);
    }
    let json = ("Content-Type", "application/json");
    let (code, reason) = d.request("POST", "/api/services/keep.me", &[json], "{not json");
    assert_eq!(code, 400);
    assert!(reason.starts_with("invalid JSON body"), "{reason}");
    let (code, _) = d.request("POST", "/api/services/Not.Valid", &[], "");
    assert_eq!(code, 400);
    assert!(d.service("not.valid").is_none());
    assert_eq!(d.service("keep.me").unwrap()["timeout"], 60_000);
    assert_eq!(d.service("keep.me").unwrap()["beats"], 1);

    let (code, reason) = d.get("/status?view=nope");
    assert_eq!((code, reason.as_str()), (404, "no view named \"nope\"\n"));
    assert_eq!(d.get("/api/services/missing.one").0, 404);
    assert_eq!(d.get("/no/such/page").0, 404);
}

#[test]
fn mute_unmute_and_delete_over_http() {
    let d = Daemon::start();
    d.send_udp("m.svc.err:0|g\n");
    d.wait_state("m.svc", "error");
    d.request("POST", "/api/services/m.svc/mute", &[], "");
    assert_eq!(d.state("m.svc").as_deref(), Some("muted"));
    assert!(d.service("m.svc").unwrap()["muted_since"].as_i64().unwrap() > 0);
    let (_, status) = d.get("/status");
    assert!(status.starts_with("num_ok 1\n"), "{status}");
    d.request("POST", "/api/services/m.svc/unmute", &[], "");
    assert_eq!(d.state("m.svc").as_deref(), Some("error"));
    let (code, body) = d.request("DELETE", "/api/services/m.svc", &[], "");
    assert_eq!((code, body.as_str()), (200, "{}\n"));
    assert!(d.service("m.svc").is_none());
}

const VIEWS: &str = r#"
[[alarms]]
name = "server-$name"
pattern = "app.$name.*"
excludes = ["app.deprecated.*"]

[[views]]
name = "backups"
regexp = "backup"
"#;

#[test]
fn views_from_alarms_and_legacy_views() {
    let d = Daemon::with_config(VIEWS);
    let views = d.get_json("/api/views");
    assert_eq!(views["views"][0]["name"], "backups");
    assert_eq!(views["views"][0]["state"], "ok");

    d.send_udp("app.alpha.health.err:0|g\napp.beta.health.beat:1|c\napp.deprecated.x.err:0|g\nnightly.backup.err:0|g\n");
    d.wait_state("nightly.backup", "error");
    d.wait_state("app.alpha.health", "error");
    d.wait_state("app.beta.health", "ok");

    let alpha = d.get_json("/api/alarms/server-alpha");
    assert_eq!(alpha["alarm"]["state"], "error");
    assert_eq!(alpha["alarm"]["incident_nbr"], 1);
    assert_eq!(alpha["alarm"]["failed_services"][0], "app.alpha.health");
    assert_eq!(alpha["services"][0]["name"], "app.alpha.health");
    assert_eq!(d.get_json("/api/views/server-beta")["view"]["state"], "ok");
    assert_eq!(d.get("/api/views/server-deprecated").0, 404);

    let (_, text) = d.get("/status?view=backups");
    assert!(text.contains("num_error 1\n"), "{text}");
    let (_, text) = d.get("/api/alarms/server-beta/status");
    assert!(
        text.starts_with("num_ok 1\nnum_warning 0\nnum_error 0\n"),
        "{text}"
    );
    let (_, all) = d.get("/status?view=all");
    assert!(all.contains("num_error 3\n"), "{all}");

    let (code, _) = d.request("DELETE", "/api/views/server-alpha", &[], "");
    assert_eq!(code, 409);
    d.request("DELETE", "/api/services/app.alpha.health", &[], "");
    let (code, _) = d.request("DELETE", "/api/views/server-alpha", &[], "");
    assert_eq!(code, 200);
    assert_eq!(d.get("/api/alarms/server-alpha").0, 404);
}

#[test]
fn version_in_text_and_json() {
    let d = Daemon::start();
    let (_, text) = d.get("/version");
    assert_eq!(text, format!("{}\n", env!("CARGO_PKG_VERSION")));
    assert_eq!(d.get_json("/version")["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn sigterm_exits_zero() {
    let d = Daemon::start();
    d.send_udp("x.beat:1|c\n");
    d.wait_state("x", "ok");
    assert!(d.terminate().success());
}

#[test]
fn validate_auto_reproduces_the_reference_stream() {
    let input = "60000\n60000\n60000\n120000\n60000\n";
    let (code, out, err) = run(&["validate-auto", "--algorithm", "adaptive"], input);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "61000\n61000\n61000\n161625\n150238\n");
    let (_, legacy, _) = run(&["-validate-auto", "--algorithm=adaptive"], input);
    assert_eq!(legacy, out);
    let (_, median, _) = run(&["validate-auto"], "10\n10\n10\n10\n10\n");
    assert_eq!(median, "none\nnone\nnone\nnone\n15\n");
    let (code, list, _) = run(&["validate-auto", "--list"], "");
    assert_eq!((code, list.as_str()), (0, "median\nadaptive\nrhythm\n"));
}

#[test]
fn version_flag() {
    let (code, out, _) = run(&["--version"], "");
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("lovebeat v{}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_bad_config_names_file_line_and_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[http]\n\nlisten = \"nowhere\"\n").unwrap();
    let (code, _, err) = run(
        &[
            "--config",
            file.to_str().unwrap(),
            "--config-dir",
            "/nonexistent",
        ],
        "",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.toml:3"), "{err}");
    assert!(err.contains("listen"), "{err}");
}

#[test]
fn the_seed_curl_examples_work() {
    let d = Daemon::start();
    let base = d.url("");
    assert_eq!(
        http(
            "POST",
            &format!("{base}/api/services/invoice.mailer"),
            &[],
            ""
        )
        .0,
        200
    );
    let (_, status) = http("GET", &format!("{base}/status"), &[], "");
    assert!(status.starts_with("num_ok 1\n"));
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    http(
        "POST",
        &format!("{base}/api/services/invoice.mailer"),
        &[form],
        "err-tmo=1800",
    );
    assert_eq!(d.service(MAILER).unwrap()["timeout"], 1_800_000);
}
