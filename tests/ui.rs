//! The dashboard and its websocket, as a user and a script meet them: a
//! real headless Chromium on the page the real binary serves (beats arrive
//! live, late services turn red, the buttons act through the API, a base
//! path and a real nginx with Go lovebeat's proxy recipe work, user input
//! stays text), and `/ws` read without a browser.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::browser::Browser;
use crate::util::{DEADLINE, Daemon, eventually, free_port};

/// Where each run leaves its screenshot of the dashboard.
fn screenshot_path() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target dir")
        .join("ui-screenshot.png")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A daemon whose `[http]` table also has `extra` (the harness's main
/// config already has one, so this goes in a file of the config dir).
fn daemon_with_http(extra: &str) -> (Daemon, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("conf.d")).unwrap();
    std::fs::write(
        tmp.path().join("conf.d/http.toml"),
        format!("[http]\n{extra}\n"),
    )
    .unwrap();
    (Daemon::start_in(tmp.path(), "", &[]), tmp)
}

/// The page at `path`, connected and showing its first snapshot.
fn open(d: &Daemon, path: &str) -> Browser {
    open_url(&d.url(path))
}

fn open_url(url: &str) -> Browser {
    let b = Browser::start();
    b.goto(url);
    b.wait(
        "the page to go live",
        "return document.getElementById('conn').dataset.state === 'live'",
    );
    b
}

/// The JS expression for the shown row of `name` (pooled rows out of
/// sight are hidden and keep stale names).
fn row(name: &str) -> String {
    format!("document.querySelector('#rows .row[data-name=\"{name}\"]:not([hidden])')")
}

/// The state a row shows, once it shows `state`.
fn wait_row_state(b: &Browser, name: &str, state: &str) {
    b.wait(
        &format!("{name} to show as {state}"),
        &format!(
            "const r = {}; return r && r.dataset.state === '{state}'",
            row(name)
        ),
    );
}

#[test]
fn a_udp_beat_appears_in_the_open_page_without_a_reload() {
    let d = Daemon::start();
    let b = open(&d, "/");
    // The page goes live on the first snapshot and draws it at the next
    // animation frame, which a loaded machine can hold back.
    b.wait(
        "a new lovebeat to show how to send a beat",
        "return !document.getElementById('empty').hidden",
    );
    b.js("window.notReloaded = true; return null");

    d.send_udp("invoice.mailer.beat:1|c\n");
    wait_row_state(&b, "invoice.mailer", "ok");
    let cells = b.js(&format!(
        "const r = {}; return [r.querySelector('.name').textContent, \
         r.querySelector('.c-beat').textContent, window.notReloaded === true]",
        row("invoice.mailer")
    ));
    assert_eq!(cells[0], "invoice.mailer");
    let beat = cells[1].as_str().unwrap();
    assert!(beat == "just now" || beat.ends_with(" ago"), "{beat}");
    assert_eq!(cells[2], true, "the page was not reloaded");
    assert_eq!(b.js("return document.getElementById('empty').hidden"), true);
}

#[test]
fn a_late_service_turns_red_within_a_second() {
    let d = Daemon::start();
    let b = open(&d, "/");
    d.send_udp("late.job.beat:1|c\n");
    wait_row_state(&b, "late.job", "ok");
    // The page must be watching before the deadline is set.
    d.send_udp("late.job.err:1|g\nlate.job.beat:1|c\n");
    let deadline = eventually("the 1 s timeout to apply", || {
        let s = d.service("late.job")?;
        (s["timeout"] == 1000).then(|| s["last_beat"].as_i64().unwrap() + 1000)
    });
    wait_row_state(&b, "late.job", "error");
    let late_by = now_ms() - deadline;
    assert!(late_by < 1000, "shown red {late_by} ms after the deadline");
    let color = b.js(&format!(
        "return getComputedStyle({}.querySelector('.badge')).backgroundColor",
        row("late.job")
    ));
    assert_eq!(color, "rgb(220, 62, 66)", "the error badge is red");
}

#[test]
fn the_buttons_mute_edit_timeouts_and_delete_through_the_api() {
    let d = Daemon::start();
    d.send_udp("db.backup.beat:1|c\nother.job.beat:1|c\n");
    let b = open(&d, "/");
    wait_row_state(&b, "db.backup", "ok");

    b.click("#rows .row[data-name=\"db.backup\"]:not([hidden]) input[type=checkbox]");
    b.wait(
        "the toolbar to enable",
        "return !document.querySelector('button[data-action=mute]').disabled",
    );
    b.click("button[data-action=mute]");
    d.wait_state("db.backup", "muted");
    wait_row_state(&b, "db.backup", "muted");
    assert_eq!(
        d.state("other.job").as_deref(),
        Some("ok"),
        "only the selected"
    );

    b.click("button[data-action=edit]");
    b.wait(
        "the timeouts dialog",
        "return document.getElementById('edit-dialog').open",
    );
    b.type_into("#edit-warn", "auto");
    b.type_into("#edit-err", "1h30m");
    b.click("#edit-save");
    eventually("the timeouts to change", || {
        let s = d.service("db.backup")?;
        (s["timeout"] == 5_400_000 && s["warn_timeout"] == -2).then_some(())
    });
    b.wait(
        "the new timeouts in the row",
        &format!(
            "const r = {}; return r.querySelector('.c-err').textContent === '1h 30m' \
             && r.querySelector('.c-warn').textContent.startsWith('auto')",
            row("db.backup")
        ),
    );

    b.click("button[data-action=unmute]");
    eventually("db.backup to be unmuted", || {
        (d.state("db.backup")? != "muted").then_some(())
    });

    b.click("button[data-action=delete]");
    b.wait(
        "the confirmation",
        "return document.getElementById('confirm-dialog').open",
    );
    b.click("#confirm-ok");
    eventually("db.backup to be deleted", || {
        d.service("db.backup").is_none().then_some(())
    });
    b.wait(
        "the row to go",
        &format!("return {} === null", row("db.backup")),
    );
    assert!(d.service("other.job").is_some());
}

#[test]
fn the_page_its_api_calls_and_its_websocket_work_under_a_base_path() {
    let (d, _dir) = daemon_with_http("base_path = \"/monitoring/lovebeat\"");
    assert_eq!(d.get("/").0, 404);
    assert_eq!(d.get("/api/services").0, 404);
    let b = open(&d, "/monitoring/lovebeat/");
    d.send_udp("behind.proxy.beat:1|c\n");
    wait_row_state(&b, "behind.proxy", "ok");
    b.click("#rows .row[data-name=\"behind.proxy\"]:not([hidden]) input[type=checkbox]");
    b.click("button[data-action=mute]");
    eventually("the mute to go through the base path", || {
        let (code, body) = d.get("/monitoring/lovebeat/api/services/behind.proxy");
        (code == 200 && body.contains("\"state\": \"muted\"")).then_some(())
    });
    wait_row_state(&b, "behind.proxy", "muted");
    let outside = b.js(
        "const base = new URL('/monitoring/lovebeat/', location.href).href; \
         return performance.getEntriesByType('resource').map(e => e.name) \
           .filter(u => !u.startsWith(base))",
    );
    assert_eq!(
        outside,
        Value::Array(vec![]),
        "every request under the base"
    );
}

/// A real nginx on a free loopback port, configured with the reverse-proxy
/// recipe of Go lovebeat's advanced-topics document, word for word but for
/// the upstream's address. One process (no master and workers), so
/// stopping it when dropped leaves nothing behind.
struct Nginx {
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(upstream: std::net::SocketAddr) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/access.log;\n\
               client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
               scgi_temp_path {d}/scgi;\n\
               server {{\n    listen 127.0.0.1:{port};\n\
                 location /monitoring/lovebeat/ {{\n\
                   proxy_http_version 1.1;\n\
                   proxy_set_header Upgrade $http_upgrade;\n\
                   proxy_set_header Connection \"upgrade\";\n\
                   proxy_pass http://{upstream}/;\n\
                 }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), config).unwrap();
        let child = std::process::Command::new(nginx_binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run nginx (Debian's nginx-light): {e}"));
        let nginx = Nginx {
            port,
            child,
            _dir: dir,
        };
        eventually("nginx to listen", || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        nginx
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx, from the PATH or where Debian puts it (`/usr/sbin`, not on
/// every user's PATH).
fn nginx_binary() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/nginx");
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from("nginx")
    }
}

#[test]
fn the_page_works_behind_the_seed_nginx_recipe_with_no_extra_header() {
    let d = Daemon::start();
    let nginx = Nginx::start(d.http);
    let base = nginx.url("/monitoring/lovebeat/");
    let b = open_url(&base);
    d.send_udp("proxied.job.beat:1|c\n");
    wait_row_state(&b, "proxied.job", "ok");
    b.click("#rows .row[data-name=\"proxied.job\"]:not([hidden]) input[type=checkbox]");
    b.click("button[data-action=mute]");
    d.wait_state("proxied.job", "muted");
    wait_row_state(&b, "proxied.job", "muted");
    let outside = b.js(&format!(
        "return performance.getEntriesByType('resource').map(e => e.name) \
           .filter(u => !u.startsWith('{base}'))"
    ));
    assert_eq!(
        outside,
        Value::Array(vec![]),
        "every request through the proxy"
    );
}

#[test]
fn a_view_page_one_level_down_works_behind_the_seed_nginx_recipe() {
    let d = Daemon::with_config("[[views]]\nname = \"backups\"\nregexp = \"^backup\\\\.\"\n");
    let nginx = Nginx::start(d.http);
    let b = open_url(&nginx.url("/monitoring/lovebeat/alarms/backups"));
    d.send_udp("backup.db.beat:1|c\nweb.front.beat:1|c\n");
    wait_row_state(&b, "backup.db", "ok");
    b.wait(
        "the view to be preselected",
        &format!(
            "return document.querySelector('.view-link.current[data-view=\"backups\"]') !== null \
               && {} === null",
            row("web.front")
        ),
    );
}

/// The status of a websocket handshake at `query` from a page of
/// `origin` (101 when it opens).
fn ws_status(d: &Daemon, query: &str, origin: &str) -> u16 {
    use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
    let mut request = format!("ws://{}/ws{query}", d.http)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    match tungstenite::connect(request) {
        Ok((_, response)) => response.status().as_u16(),
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("no answer to the handshake: {e}"),
    }
}

#[test]
fn the_ticket_of_the_served_page_admits_its_websocket_whatever_the_host() {
    let d = Daemon::start();
    let (_, page) = d.get("/");
    let ticket = page
        .split("<meta name=\"lovebeat-page\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries its ticket");
    let proxied = "https://mon.example.com";
    assert_eq!(ws_status(&d, "", proxied), 403, "no ticket");
    assert_eq!(
        ws_status(&d, "?page=0123", proxied),
        403,
        "a made-up ticket"
    );
    assert_eq!(ws_status(&d, &format!("?page={ticket}"), proxied), 101);
}

#[test]
fn user_input_cannot_make_a_name_and_reaches_the_page_only_as_text() {
    let d = Daemon::start();
    let b = open(&d, "/");
    b.js("window.xss = 0; window.alert = () => { window.xss += 1; }; return null");
    let evil = "<img src=x onerror=alert(1)>";
    d.send_udp(&format!("{evil}.beat:1|c\nok.marker.beat:1|c\n"));
    let (code, _) = d.request(
        "POST",
        "/api/services/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
        &[],
        "",
    );
    assert_eq!(code, 400, "an HTML name is refused over HTTP");
    wait_row_state(&b, "ok.marker", "ok");
    let names: Vec<Value> = d.get_json("/api/services")["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(
        names,
        ["ok.marker"],
        "the UDP line with an HTML name was rejected"
    );

    // A failure message is free text: it must show as typed.
    let message = "<img src=x onerror=alert(2)><script>alert(3)</script>";
    let body = format!("status=fail&message={}", urlencode(message));
    let (code, _) = d.post_form("/api/services/ok.marker", &body);
    assert_eq!(code, 200);
    wait_row_state(&b, "ok.marker", "error");
    let shown = b.js(&format!(
        "const r = {}; return [r.querySelector('.failure').textContent, \
         document.querySelectorAll('#rows img, #rows script').length, window.xss]",
        row("ok.marker")
    ));
    assert_eq!(shown[0], message);
    assert_eq!(shown[1], 0, "no element was made from the data");
    assert_eq!(shown[2], 0, "no script ran");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|c| match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (c as char).to_string(),
            _ => format!("%{c:02X}"),
        })
        .collect()
}

#[test]
fn a_lost_connection_shows_a_banner_and_the_page_reconnects() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(dir.path(), "", &[]);
    let port = d.http.port();
    d.send_udp("survivor.beat:1|c\n");
    let b = open(&d, "/");
    wait_row_state(&b, "survivor", "ok");
    assert_eq!(
        b.js("return document.getElementById('banner').hidden"),
        true
    );

    d.kill();
    b.wait(
        "the connection-lost banner",
        "return !document.getElementById('banner').hidden",
    );
    let banner = b.js("return document.getElementById('banner').textContent");
    assert!(
        banner
            .as_str()
            .unwrap()
            .contains("Connection lost, reconnecting"),
        "{banner}"
    );
    assert_eq!(
        b.js("return document.getElementById('conn').dataset.state"),
        "lost"
    );

    std::fs::create_dir_all(dir.path().join("conf.d")).unwrap();
    std::fs::write(
        dir.path().join("conf.d/http.toml"),
        format!("[http]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let d = Daemon::start_in(dir.path(), "", &[]);
    d.send_udp("newcomer.beat:1|c\n");
    wait_row_state(&b, "newcomer", "ok");
    assert_eq!(
        b.js("return document.getElementById('banner').hidden"),
        true
    );
}

#[test]
fn the_dashboard_shows_states_timeouts_and_views_errors_first() {
    let d = Daemon::with_config("[[alarms]]\nname = \"team-$t\"\npattern = \"team.$t.*\"\n");
    d.send_udp(
        "team.a.sync.err:0|g\nteam.a.sync.beat:1|c\n\
         team.a.report.beat:1|c\n\
         team.b.backup.err:-2|g\nteam.b.backup.warn:3600|g\nteam.b.backup.beat:1|c\n\
         web.frontend.warn:0|g\nweb.frontend.beat:1|c\n",
    );
    d.post_form(
        "/api/services/payments.worker",
        "status=fail&message=disk+full",
    );
    d.request("POST", "/api/services/legacy.path/mute", &[], "");
    let b = open(&d, "/");
    wait_row_state(&b, "legacy.path", "muted");
    wait_row_state(&b, "team.b.backup", "ok");

    let states = b.js(
        "return [...document.querySelectorAll('#rows .row:not([hidden])')] \
           .sort((x, y) => x.getBoundingClientRect().top - y.getBoundingClientRect().top) \
           .map(r => r.dataset.state)",
    );
    assert_eq!(
        states,
        serde_json::json!(["error", "error", "warning", "ok", "ok", "muted"])
    );
    let backup = b.js(&format!(
        "const r = {}; return [r.querySelector('.c-warn').textContent, \
         r.querySelector('.c-err').textContent]",
        row("team.b.backup")
    ));
    assert_eq!(backup, serde_json::json!(["1h", "auto · learning"]));

    let views = b.js(
        "return [...document.querySelectorAll('#views .view-link')] \
           .map(v => [v.querySelector('.view-name').textContent, \
                      v.querySelector('.dot').dataset.state, \
                      v.querySelector('.view-meta').textContent])",
    );
    assert_eq!(
        views,
        serde_json::json!([["team-a", "error", "#1"], ["team-b", "ok", ""]])
    );

    b.screenshot(&screenshot_path());

    b.type_into("#filter", "team");
    b.wait(
        "the filter to apply",
        "return document.querySelectorAll('#rows .row:not([hidden])').length === 3",
    );
    b.click("#views .view-link[data-view=\"team-a\"]");
    b.wait(
        "the view to be selected",
        "return document.querySelectorAll('#rows .row:not([hidden])').length === 2",
    );
    b.click("#all-services");
    b.wait(
        "all team services again",
        "return document.querySelectorAll('#rows .row:not([hidden])').length === 3",
    );
}

/// A websocket client on `/ws`, read with deadlines.
struct Feed {
    runtime: tokio::runtime::Runtime,
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Feed {
    fn connect(d: &Daemon) -> Feed {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = format!("ws://{}/ws", d.http);
        let (socket, _) = runtime
            .block_on(tokio_tungstenite::connect_async(url))
            .expect("the websocket opens");
        Feed { runtime, socket }
    }

    /// The next JSON message, or None if none comes within `wait`.
    fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        self.runtime.block_on(async {
            loop {
                let message = tokio::time::timeout_at(deadline, self.socket.next())
                    .await
                    .ok()?
                    .expect("the websocket stays open")
                    .expect("a websocket message");
                if let Message::Text(text) = message {
                    return Some(serde_json::from_str(&text).expect("JSON messages"));
                }
            }
        })
    }

    fn next(&mut self) -> Value {
        self.next_within(DEADLINE)
            .expect("a websocket message in time")
    }

    /// `type name` of the next message.
    fn next_event(&mut self) -> String {
        let m = self.next();
        let subject = m
            .get("service")
            .or_else(|| m.get("view"))
            .or_else(|| m.get("alarm"))
            .unwrap_or_else(|| panic!("an event: {m}"));
        format!(
            "{} {}",
            m["type"].as_str().unwrap(),
            subject["name"].as_str().unwrap()
        )
    }
}

#[test]
fn the_websocket_sends_a_snapshot_then_one_event_per_change() {
    let d = Daemon::with_config("[[alarms]]\nname = \"team-$t\"\npattern = \"team.$t.*\"\n");
    d.send_udp("first.one.beat:1|c\n");
    d.wait_state("first.one", "ok");
    let mut feed = Feed::connect(&d);
    let snapshot = feed.next();
    assert_eq!(snapshot["type"], "SNAPSHOT");
    assert_eq!(snapshot["services"][0]["name"], "first.one");
    assert_eq!(snapshot["views"], serde_json::json!([]));
    assert!((snapshot["now"].as_i64().unwrap() - now_ms()).abs() < 5000);

    d.send_udp("team.x.job.beat:1|c\n");
    let mut added: Vec<String> = (0..3).map(|_| feed.next_event()).collect();
    added.sort();
    assert_eq!(
        added,
        [
            "ADD_ALARM team-x",
            "ADD_SERVICE team.x.job",
            "ADD_VIEW team-x"
        ]
    );
    d.send_udp("first.one.beat:1|c\n");
    assert_eq!(feed.next_event(), "UPDATE_SERVICE first.one");
    d.request("DELETE", "/api/services/first.one", &[], "");
    assert_eq!(feed.next_event(), "REMOVE_SERVICE first.one");
    // Nothing else: a later change comes next. Whatever the delete caused
    // was published before it, and a flush sends views first, then
    // services in name order, so it would come before `zzz.last`.
    d.send_udp("zzz.last.beat:1|c\n");
    assert_eq!(feed.next_event(), "ADD_SERVICE zzz.last", "nothing else");
}

#[test]
fn a_service_beating_ten_thousand_times_a_second_is_coalesced() {
    let d = Daemon::start();
    d.send_udp("hot.path.beat:1|c\n");
    d.wait_state("hot.path", "ok");
    let mut feed = Feed::connect(&d);
    assert_eq!(feed.next()["type"], "SNAPSHOT");

    // 100 datagrams of 100 beats, one every 10 ms: 10 000 beats a second.
    let udp = d.udp;
    let sender = std::thread::spawn(move || {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let datagram = "hot.path.beat:1|c\n".repeat(100);
        for _ in 0..100 {
            socket.send_to(datagram.as_bytes(), udp).unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let start = Instant::now();
    let mut updates = 0;
    let mut last = start;
    let mut beats = 0;
    // Until a second passes without news after the sender is done.
    while let Some(m) = feed.next_within(Duration::from_secs(1)) {
        assert_eq!(m["type"], "UPDATE_SERVICE", "{m}");
        updates += 1;
        last = Instant::now();
        beats = m["service"]["beats"].as_u64().unwrap();
        assert!(start.elapsed() < DEADLINE, "the feed never settles");
    }
    sender.join().unwrap();
    let span = last - start;
    let most = span.as_millis() / 250 + 2;
    assert!(updates as u128 <= most, "{updates} updates in {span:?}");
    assert!(updates >= 2, "updates kept coming while it beat: {updates}");
    let api = d.service("hot.path").unwrap()["beats"].as_u64().unwrap();
    assert_eq!(beats, api, "the last update is the newest state");
    assert!(beats > 5_000, "most beats arrived: {beats}");
    assert!(TcpStream::connect(d.http).is_ok(), "still serving");
}
