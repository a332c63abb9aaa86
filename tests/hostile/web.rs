//! Hostile web pages and requests: cross-site forms, DNS rebinding,
//! refused token requests, `.` and `..`, overlong names and messages, the
//! private status page (docs/RELIABILITY.md names each).

use super::*;

fn forged(d: &Daemon, origin: &str, path: &str, body: &str) -> u16 {
    let headers = [
        ("Origin", origin),
        ("Sec-Fetch-Site", "cross-site"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    d.request("POST", path, &headers, body).0
}

#[test]
fn a_cross_site_form_post_is_refused_and_changes_nothing() {
    let d = Daemon::start();
    assert_eq!(d.post_form("/api/services/x", "timeout=3600").0, 200);
    let evil = "http://evil.example";
    assert_eq!(forged(&d, evil, "/api/services/x", "timeout=-1"), 403);
    assert_eq!(forged(&d, evil, "/api/services/x/mute", ""), 403);
    assert_eq!(
        forged(&d, evil, "/api/services/new", ""),
        403,
        "a plain beat too"
    );
    assert_eq!(forged(&d, evil, "/api/messages", "text=all+down"), 403);
    assert_eq!(forged(&d, evil, "/api/tokens/x", "interval=1"), 403);
    let no_origin = [("Sec-Fetch-Site", "cross-site")];
    assert_eq!(
        d.request("DELETE", "/api/services/x", &no_origin, "").0,
        403
    );
    let x = d.service("x").unwrap();
    assert_eq!(
        (x["timeout"].as_i64(), x["state"].as_str()),
        (Some(3_600_000), Some("ok"))
    );
    assert!(d.service("new").is_none());
    assert_eq!(
        d.get_json("/api/messages")["messages"],
        serde_json::json!([])
    );
    let (status, _) = d.post_form("/api/tokens/x", "existing=true");
    assert_eq!(status, 404, "no token was made");
    assert_eq!(
        counter(
            &d,
            "lovebeat_denied_total{protocol=\"http\",reason=\"cross_site\"}"
        ),
        6.0
    );
    // The dashboard's own page, and clients that are not browsers.
    let own = format!("http://{}", d.http);
    let same = [("Origin", own.as_str()), ("Sec-Fetch-Site", "same-origin")];
    assert_eq!(d.request("POST", "/api/services/x/mute", &same, "").0, 200);
    assert_eq!(d.request("POST", "/api/services/x/unmute", &[], "").0, 200);
}

#[test]
fn listed_origins_may_change_things_and_configured_hosts_stop_dns_rebinding() {
    let d = Daemon::with_conf_d(
        "[http]\nallowed_origins = [\"https://ops.example.com\"]\nhosts = [\"mon.example.com\"]\n",
    );
    let listed = [
        ("Origin", "https://ops.example.com"),
        ("Sec-Fetch-Site", "cross-site"),
    ];
    assert_eq!(d.request("POST", "/api/services/a", &listed, "").0, 200);
    // A rebinding page: its own name resolves here, so Origin and Host
    // agree; only `hosts` says this is not how lovebeat is reached.
    let rebound = format!("http://{}", d.http);
    let page = [
        ("Origin", rebound.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
    ];
    assert_eq!(d.request("POST", "/api/services/b", &page, "").0, 403);
    assert_eq!(ws_upgrade(&d, "/ws", Some(&rebound)).0, 403);
    let served = [("Origin", "http://mon.example.com")];
    assert_eq!(d.request("POST", "/api/services/c", &served, "").0, 200);
    assert_eq!(ws_upgrade(&d, "/ws", Some("http://mon.example.com")).0, 101);
    assert!(d.service("a").is_some() && d.service("b").is_none());
}

#[test]
fn a_token_request_refused_429_stores_no_token_and_tokens_are_bounded() {
    let d = Daemon::with_config("[limits]\nservices = 2\n");
    assert_eq!(d.post_form("/api/tokens/one", "interval=60").0, 200);
    assert_eq!(d.post_form("/api/services/two", "").0, 200);
    let (status, body) = d.post_form("/api/tokens/three", "interval=60");
    assert_eq!(status, 429, "{body}");
    assert_eq!(d.request("DELETE", "/api/services/two", &[], "").0, 200);
    let (status, body) = d.post_form("/api/tokens/three", "existing=true");
    assert_eq!(status, 404, "the refused request left no token: {body}");
    // Deleting a service keeps its token; tokens stay within the cap.
    assert_eq!(d.post_form("/api/tokens/two", "").0, 200);
    assert_eq!(d.request("DELETE", "/api/services/two", &[], "").0, 200);
    let (status, body) = d.post_form("/api/tokens/three", "interval=60");
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("[limits] services"), "{body}");
    assert!(
        d.service("three").is_none(),
        "a refused request changes nothing"
    );
    assert_eq!(
        d.post_form("/api/tokens/one", "").0,
        200,
        "renewing is not new"
    );
}

/// Sends `request_line` and a Host header as written, on a raw socket
/// (HTTP clients rewrite `.` and `..` path segments); returns the status.
fn raw_status(d: &Daemon, request_line: &str) -> u16 {
    let mut s = TcpStream::connect(d.http).unwrap();
    let request = format!(
        "{request_line}\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        d.http
    );
    s.write_all(request.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

#[test]
fn names_dot_and_dot_dot_and_overlong_names_are_refused_everywhere() {
    let d = Daemon::start();
    let longest = "n".repeat(255);
    let over = "o".repeat(256);
    d.send_udp(&format!(
        "..beat:1|c\n...beat:1|c\n_sc|..|2\n{over}.beat:1|c\n"
    ));
    d.send_tcp(format!("..beat:1|c\n...fail:1|c\n{longest}.beat:1|c\n").as_bytes());
    d.wait_state(&longest, "ok");
    eventually("the bad names to be counted", || {
        let bad = counter(&d, "lovebeat_lines_rejected_total{reason=\"bad_name\"}");
        (bad >= 6.0).then_some(())
    });
    for line in [
        "POST /api/services/. HTTP/1.1",
        "POST /api/services/.. HTTP/1.1",
        "POST /api/services/%2e HTTP/1.1",
        "POST /api/services/./mute HTTP/1.1",
        "POST /api/services/%2E%2E/unmute HTTP/1.1",
        "DELETE /api/services/.. HTTP/1.1",
        "POST /api/tokens/. HTTP/1.1",
        "POST /api/tokens/%2e%2e HTTP/1.1",
    ] {
        assert_eq!(raw_status(&d, line), 400, "{line}");
    }
    assert_eq!(d.post_form(&format!("/api/services/{over}"), "").0, 400);
    let signal = "application=..&token=x&status=fail";
    assert_eq!(d.post_form("/signal", signal).0, 400);
    let services = d.get_json("/api/services")["services"].clone();
    let names: Vec<&str> = (services.as_array().unwrap().iter())
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [longest.as_str()], "no ., .., mute or overlong name");
}

#[test]
fn a_long_failure_message_is_cut_at_message_length() {
    let d = Daemon::start();
    let long = "disk full ".repeat(500);
    let body = format!("status=fail&message={}", long.replace(' ', "+"));
    assert_eq!(d.post_form("/api/services/backup", &body).0, 200);
    let message = |d: &Daemon, name: &str| {
        let service = d.service(name).unwrap();
        let message = service["failure"]["message"].as_str();
        message.unwrap_or_else(|| panic!("{service}")).to_owned()
    };
    let kept = message(&d, "backup");
    assert_eq!(
        kept.len(),
        1024,
        "[limits] message_length, 1 KiB by default"
    );
    assert!(
        kept.starts_with("disk full disk full") && kept.ends_with('…'),
        "{kept}"
    );
    let d = Daemon::with_config("[limits]\nmessage_length = 64\n");
    let (_, out) = d.post_form("/api/tokens/app", "");
    let token: serde_json::Value = serde_json::from_str(&out).unwrap();
    let token = token["token"].as_str().unwrap();
    let signal = format!(
        "application=app&token={token}&status=fail&message={}",
        "x".repeat(5000)
    );
    assert_eq!(d.post_form("/signal", &signal).0, 201);
    let kept = message(&d, "app");
    assert!(kept.len() <= 64 && kept.ends_with('…'), "{kept}");
}

#[test]
fn the_status_page_of_everything_needs_a_read_token_when_status_is_private() {
    let tokens = format!("[http]\nread_tokens = [\"{READ}\"]\npublic_status = false\n");
    let d = Daemon::with_conf_d(&tokens);
    d.send_udp("secret.backup.beat:1|c\n");
    eventually("the beat", || {
        let (s, _) = d.request(
            "GET",
            "/api/services/secret.backup",
            &[("Authorization", &bearer(READ))],
            "",
        );
        (s == 200).then_some(())
    });
    let (status, page) = d.get("/status-page");
    assert_eq!(status, 401, "{page}");
    assert!(!page.contains("secret.backup"));
    let (status, page) = d.get(&format!("/status-page?access_token={READ}"));
    assert_eq!(status, 200);
    assert!(page.contains("secret.backup"));
    let chosen = format!("{tokens}[status_page]\nservices = [\"public.site\"]\n");
    let d = Daemon::with_conf_d(&chosen);
    d.send_udp("secret.backup.beat:1|c\npublic.site.beat:1|c\n");
    eventually("the page to show the chosen service", || {
        let (status, page) = d.get("/status-page");
        (status == 200 && page.contains("public.site")).then_some(page)
    });
    assert!(!d.get("/status-page").1.contains("secret.backup"));
}
