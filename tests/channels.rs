//! The paging, chat and push channels and the templated webhook against a
//! local receiver that judges each request as the real service would
//! (wrong path, method, auth or a missing required field: a 4xx, so
//! lovebeat counts the attempt as failed); and the Alertmanager back-end
//! against real `alertmanager` processes (Debian `prometheus-alertmanager`,
//! which scripts/test installs) whose webhook receiver is a local one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::util::receivers::{Answer, HttpRecorder, Request};
use crate::util::{Daemon, eventually, free_port, have, run, try_http};

const PAGERDUTY_KEY: &str = "R0UT1NGKEY000000000000000000000A";
const OPSGENIE_KEY: &str = "og-api-key";
const TELEGRAM_PATH: &str = "/tg/bot123456:ABC-token/sendMessage";
const NTFY_TOKEN: &str = "tk_secret";
const GOTIFY_TOKEN: &str = "AppToken.x";
const MATRIX_TOKEN: &str = "syt_token";
const MATRIX_ROOM_PATH: &str =
    "/matrix/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/";
const PUSHOVER_TOKEN: &str = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
const PUSHOVER_USER: &str = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";

/// An `[alerts.ops]` entry with every channel, each on its own path of
/// `receiver`, and the templated webhook.
fn every_channel(receiver: &HttpRecorder) -> String {
    let r = receiver.url("");
    format!(
        r#"pagerduty_routing_key = "{PAGERDUTY_KEY}"
pagerduty_url = "{r}/pd"
opsgenie_api_key = "{OPSGENIE_KEY}"
opsgenie_url = "{r}/og"
teams_webhook = "{r}/teams/webhookb2/abc"
discord_webhook = "{r}/discord/api/webhooks/123/tok"
telegram_bot_token = "123456:ABC-token"
telegram_chat_id = "-100200"
telegram_url = "{r}/tg"
ntfy_topic = "lovebeat-ops"
ntfy_url = "{r}/ntfy"
ntfy_token = "{NTFY_TOKEN}"
gotify_url = "{r}/gotify/"
gotify_token = "{GOTIFY_TOKEN}"
matrix_homeserver = "{r}/matrix"
matrix_room = "!room:example.org"
matrix_token = "{MATRIX_TOKEN}"
pushover_token = "{PUSHOVER_TOKEN}"
pushover_user = "{PUSHOVER_USER}"
pushover_url = "{r}/pushover"
webhook = "{r}/hook"
webhook_body = '{{"text": "{{{{headline}}}}", "incident": {{{{incident}}}}, "failed": "{{{{failed}}}}"}}'
"#
    )
}

/// The daemon config: a view `web` over `web.*` alerting `[alerts.ops]`.
fn config(ops: &str) -> String {
    format!(
        "[general]\npublic_url = \"http://lb.example.com/\"\n[delivery]\nretry_first = 1\nretry_max = 1\n\
         [[alarms]]\nname = \"web\"\npattern = \"web.*\"\nteam = \"payments\"\nalerts = [\"ops\"]\n\
         [alerts.ops]\n{ops}\n"
    )
}

/// Makes `web.svc` (of team payments) beat with a 1 s error timeout: the
/// view goes ok at once and error a second later.
fn fail_web(d: &Daemon) {
    assert_eq!(d.post_form("/api/services/web.svc", "team=payments").0, 200);
    d.send_udp("web.svc.err:1|g\nweb.svc.beat:1|c\n");
}

/// Makes the view recover for the rest of the test.
fn recover_web(d: &Daemon) {
    d.send_udp("web.svc.err:600|g\nweb.svc.beat:1|c\n");
}

/// Judges a request as the service its path stands for does: 2xx when
/// it would take it, else the 4xx it would answer.
fn judge(r: &Request) -> u16 {
    let verdict = if r.path.starts_with("/pd/") {
        pagerduty(r)
    } else if r.path.starts_with("/og/") {
        opsgenie(r)
    } else if r.path.starts_with("/teams/") {
        teams(r)
    } else if r.path.starts_with("/discord/") {
        discord(r)
    } else if r.path.starts_with("/tg/") {
        telegram(r)
    } else if r.path.starts_with("/ntfy") {
        ntfy(r)
    } else if r.path.starts_with("/gotify/") {
        gotify(r)
    } else if r.path.starts_with("/matrix/") {
        matrix(r)
    } else if r.path.starts_with("/pushover/") {
        pushover(r)
    } else if r.path == "/hook" {
        Ok(200)
    } else {
        Err((404, "no such path".to_owned()))
    };
    verdict.unwrap_or_else(|(status, reason)| {
        eprintln!("receiver refused {} {}: {reason}", r.method, r.path);
        status
    })
}

type Verdict = Result<u16, (u16, String)>;

fn require(ok: bool, status: u16, reason: &str) -> Result<(), (u16, String)> {
    if ok {
        Ok(())
    } else {
        Err((status, reason.to_owned()))
    }
}

/// The JSON body of a POST (or `method`) to `path` with a JSON type.
fn json_body(r: &Request, method: &str, path: &str) -> Result<Value, (u16, String)> {
    require(r.method == method, 405, "wrong method")?;
    require(r.path == path, 404, "wrong path")?;
    let json = r.header("content-type") == Some("application/json");
    require(json, 415, "not application/json")?;
    serde_json::from_str(&r.body).map_err(|e| (400, format!("not JSON: {e}")))
}

fn string(v: &Value, max: usize) -> bool {
    v.as_str()
        .is_some_and(|s| !s.is_empty() && s.chars().count() <= max)
}

/// PagerDuty Events API v2 (developer.pagerduty.com, "Send an Alert
/// Event"): `POST /v2/enqueue`; `routing_key` (32 characters),
/// `event_action` (trigger, acknowledge, resolve), `dedup_key` (at most
/// 255, needed to resolve); a trigger needs `payload.summary` (at most
/// 1024), `payload.source` and `payload.severity` (critical, error,
/// warning, info). Answers 202.
fn pagerduty(r: &Request) -> Verdict {
    let body = json_body(r, "POST", "/pd/v2/enqueue")?;
    require(body["routing_key"] == PAGERDUTY_KEY, 400, "routing_key")?;
    require(string(&body["dedup_key"], 255), 400, "dedup_key")?;
    match body["event_action"].as_str() {
        Some("resolve") => {}
        Some("trigger") => {
            let p = &body["payload"];
            require(string(&p["summary"], 1024), 400, "payload.summary")?;
            require(string(&p["source"], 255), 400, "payload.source")?;
            let severities = ["critical", "error", "warning", "info"];
            let severity = p["severity"].as_str().unwrap_or_default();
            require(severities.contains(&severity), 400, "payload.severity")?;
        }
        _ => return Err((400, "event_action".to_owned())),
    }
    Ok(202)
}

/// Opsgenie Alert API (docs.opsgenie.com, "Alert API"): every call needs
/// `Authorization: GenieKey KEY` (else 401); create is `POST /v2/alerts`
/// with `message` (at most 130), `alias` (at most 512) and `priority` P1
/// to P5; close is `POST /v2/alerts/ID/close?identifierType=alias`.
/// Answers 202.
fn opsgenie(r: &Request) -> Verdict {
    let auth = format!("GenieKey {OPSGENIE_KEY}");
    require(r.header("authorization") == Some(&auth), 401, "GenieKey")?;
    if let Some(rest) = r.path.strip_prefix("/og/v2/alerts/") {
        let (alias, query) = rest.split_once("/close?").ok_or((404, "path".to_owned()))?;
        require(
            !alias.is_empty() && query == "identifierType=alias",
            400,
            "close",
        )?;
        json_body(r, "POST", &r.path)?;
        return Ok(202);
    }
    let body = json_body(r, "POST", "/og/v2/alerts")?;
    require(string(&body["message"], 130), 422, "message")?;
    require(string(&body["alias"], 512), 422, "alias")?;
    let priority = body["priority"].as_str().unwrap_or_default();
    require(
        ["P1", "P2", "P3", "P4", "P5"].contains(&priority),
        422,
        "priority",
    )?;
    Ok(202)
}

/// A Teams workflow webhook ("Post to a channel when a webhook request is
/// received"): a `message` whose attachments are Adaptive Cards
/// (`contentType` application/vnd.microsoft.card.adaptive, `content` of
/// `type` AdaptiveCard with a `version` and a `body`). Answers 202.
fn teams(r: &Request) -> Verdict {
    let body = json_body(r, "POST", "/teams/webhookb2/abc")?;
    require(body["type"] == "message", 400, "type")?;
    let card = &body["attachments"][0];
    let adaptive = card["contentType"] == "application/vnd.microsoft.card.adaptive";
    require(adaptive, 400, "contentType")?;
    require(
        card["content"]["type"] == "AdaptiveCard",
        400,
        "content.type",
    )?;
    require(
        string(&card["content"]["version"], 10),
        400,
        "content.version",
    )?;
    let blocks = card["content"]["body"].as_array();
    require(blocks.is_some_and(|b| !b.is_empty()), 400, "content.body")?;
    Ok(202)
}

/// Discord "Execute Webhook": `POST /webhooks/ID/TOKEN`; `content` (at
/// most 2000) or `embeds` (at most 10; `title` at most 256, `description`
/// at most 4096, `color` an integer). Answers 204 (200 here).
fn discord(r: &Request) -> Verdict {
    let body = json_body(r, "POST", "/discord/api/webhooks/123/tok")?;
    let embeds = body["embeds"].as_array().cloned().unwrap_or_default();
    require(
        string(&body["content"], 2000) || !embeds.is_empty(),
        400,
        "content or embeds",
    )?;
    require(embeds.len() <= 10, 400, "embeds")?;
    for embed in &embeds {
        require(string(&embed["title"], 256), 400, "embed title")?;
        require(
            string(&embed["description"], 4096),
            400,
            "embed description",
        )?;
        require(embed["color"].is_u64(), 400, "embed color")?;
    }
    Ok(200)
}

/// Telegram Bot API `sendMessage`: `POST /bot<token>/sendMessage`;
/// `chat_id` (an Integer, or a String `@channel`) and `text` (1 to 4096
/// characters).
fn telegram(r: &Request) -> Verdict {
    let body = json_body(r, "POST", TELEGRAM_PATH)?;
    let chat = &body["chat_id"];
    require(
        chat == -100200 || chat.as_str().is_some_and(|c| c.starts_with('@')),
        400,
        "chat_id",
    )?;
    require(string(&body["text"], 4096), 400, "text")?;
    Ok(200)
}

/// ntfy "Publish as JSON": `POST` to the server's root URL; `topic`
/// required, `message`, `title`, `priority` 1 to 5, `tags` strings,
/// `click` a URL; an access token as `Authorization: Bearer`.
fn ntfy(r: &Request) -> Verdict {
    let auth = format!("Bearer {NTFY_TOKEN}");
    require(r.header("authorization") == Some(&auth), 401, "token")?;
    let body = json_body(r, "POST", "/ntfy/")?;
    require(body["topic"] == "lovebeat-ops", 400, "topic")?;
    require(string(&body["message"], 4096), 400, "message")?;
    let priority = body["priority"].as_u64().unwrap_or(0);
    require((1..=5).contains(&priority), 400, "priority")?;
    let tags = body["tags"].as_array();
    require(
        tags.is_some_and(|t| t.iter().all(Value::is_string)),
        400,
        "tags",
    )?;
    require(
        body["click"]
            .as_str()
            .is_some_and(|u| u.starts_with("http")),
        400,
        "click",
    )?;
    Ok(200)
}

/// Gotify `POST /message` with an application token (`X-Gotify-Key`);
/// `message` required, `title`, `priority` an integer.
fn gotify(r: &Request) -> Verdict {
    require(r.header("x-gotify-key") == Some(GOTIFY_TOKEN), 401, "token")?;
    let body = json_body(r, "POST", "/gotify/message")?;
    require(string(&body["message"], usize::MAX), 400, "message")?;
    require(body["priority"].is_u64(), 400, "priority")?;
    Ok(200)
}

/// Matrix client-server API: `PUT
/// /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}` with
/// `Authorization: Bearer` the access token; an `m.room.message` needs
/// `msgtype` and `body`.
fn matrix(r: &Request) -> Verdict {
    let auth = format!("Bearer {MATRIX_TOKEN}");
    require(
        r.header("authorization") == Some(&auth),
        401,
        "M_MISSING_TOKEN",
    )?;
    let txn = r.path.strip_prefix(MATRIX_ROOM_PATH).unwrap_or_default();
    require(!txn.is_empty() && !txn.contains('/'), 404, "path")?;
    let body = json_body(r, "PUT", &r.path)?;
    require(body["msgtype"] == "m.text", 400, "msgtype")?;
    require(string(&body["body"], usize::MAX), 400, "body")?;
    Ok(200)
}

/// Pushover Message API: `POST /1/messages.json`, form-encoded; `token`,
/// `user` and `message` (at most 1024) required; `title` at most 250,
/// `url` at most 512, `priority` -2 to 1 (2 needs `retry` and `expire`).
fn pushover(r: &Request) -> Verdict {
    require(
        r.method == "POST" && r.path == "/pushover/1/messages.json",
        404,
        "path",
    )?;
    let form = r.header("content-type") == Some("application/x-www-form-urlencoded");
    require(form, 400, "not a form")?;
    let fields: Vec<(String, String)> = form_urlencoded::parse(r.body.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    require(get("token") == Some(PUSHOVER_TOKEN), 400, "token")?;
    require(get("user") == Some(PUSHOVER_USER), 400, "user")?;
    let within =
        |k: &str, max: usize| get(k).is_some_and(|v| !v.is_empty() && v.chars().count() <= max);
    require(within("message", 1024), 400, "message")?;
    require(
        get("title").is_none_or(|t| t.chars().count() <= 250),
        400,
        "title",
    )?;
    require(
        get("url").is_none_or(|u| u.chars().count() <= 512),
        400,
        "url",
    )?;
    let priority: i32 = get("priority").unwrap_or("0").parse().unwrap_or(9);
    require((-2..=1).contains(&priority), 400, "priority")?;
    Ok(200)
}

/// The requests the receiver took, whose path starts with `prefix`.
fn taken(receiver: &HttpRecorder, prefix: &str) -> Vec<Request> {
    let mut taken = receiver.delivered();
    taken.retain(|r| r.path.starts_with(prefix));
    taken
}

const PREFIXES: [&str; 10] = [
    "/pd/",
    "/og/",
    "/teams/",
    "/discord/",
    "/tg/",
    "/ntfy",
    "/gotify/",
    "/matrix/",
    "/pushover/",
    "/hook",
];

/// Waits until every channel's receiver took `n` requests.
fn wait_for_each(receiver: &HttpRecorder, n: usize, what: &str) {
    eventually(what, || {
        let short: Vec<&str> = (PREFIXES.iter().copied())
            .filter(|p| taken(receiver, p).len() < n)
            .collect();
        short.is_empty().then_some(())
    });
}

#[test]
fn every_channel_request_matches_its_services_api() {
    let receiver = HttpRecorder::start(Answer::Judge(judge));
    let d = Daemon::with_config(&config(&every_channel(&receiver)));
    fail_web(&d);
    wait_for_each(&receiver, 1, "every channel to take the failure");
    recover_web(&d);
    wait_for_each(&receiver, 2, "every channel to take the recovery");

    let pd: Vec<Value> = taken(&receiver, "/pd/").iter().map(Request::json).collect();
    assert_eq!(
        (
            pd[0]["event_action"].as_str(),
            pd[1]["event_action"].as_str()
        ),
        (Some("trigger"), Some("resolve"))
    );
    assert_eq!(pd[0]["dedup_key"], pd[1]["dedup_key"], "one incident");
    assert_eq!(pd[0]["payload"]["group"], "payments");
    let og = taken(&receiver, "/og/");
    let alias = og[0].json()["alias"].as_str().unwrap().replace(':', "%3A");
    assert_eq!(
        og[1].path,
        format!("/og/v2/alerts/{alias}/close?identifierType=alias")
    );
    let matrix = taken(&receiver, "/matrix/");
    assert_ne!(matrix[0].path, matrix[1].path, "a transaction id per alert");
    let hook = taken(&receiver, "/hook");
    assert_eq!(
        hook[0].json(),
        serde_json::json!({"text": "web is in ERROR", "incident": 1, "failed": "web.svc"})
    );
    assert_eq!(hook[1].json()["text"], "web has recovered");
    assert_eq!(hook[0].header("content-type"), Some("application/json"));
    eventually("nothing pending", || {
        let alert = d.get_json("/api/alerts/ops")["alert"].clone();
        (alert["pending"] == 0).then_some(alert)
    });
    let refused = receiver.requests().len() - receiver.delivered().len();
    assert_eq!(refused, 0, "every request was one the service takes");
}

/// A config file of `[alerts.ops]` for `test-alert`.
fn test_alert_file(dir: &Path, ops: &str) -> PathBuf {
    let path = dir.join("lovebeat.toml");
    std::fs::write(&path, format!("[alerts.ops]\n{ops}\n")).unwrap();
    path
}

#[test]
fn test_alert_sends_through_every_channel_and_closes_what_it_opened() {
    let receiver = HttpRecorder::start(Answer::Judge(judge));
    let dir = tempfile::tempdir().unwrap();
    let file = test_alert_file(dir.path(), &every_channel(&receiver));
    let (status, out, err) = run(
        &["--config", file.to_str().unwrap(), "test-alert", "ops"],
        "",
    );
    assert_eq!(status, 0, "{out}{err}");
    for kind in [
        "webhook",
        "pagerduty",
        "opsgenie",
        "teams",
        "discord",
        "telegram",
        "ntfy",
        "gotify",
        "matrix",
        "pushover",
    ] {
        assert!(out.contains(&format!("{kind}: sent\n")), "{kind}: {out}");
    }
    let pd: Vec<Value> = taken(&receiver, "/pd/").iter().map(Request::json).collect();
    let actions: Vec<&str> = pd
        .iter()
        .map(|b| b["event_action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["trigger", "resolve"],
        "the test incident is closed"
    );
    assert_eq!(taken(&receiver, "/og/").len(), 2);
    assert_eq!(
        taken(&receiver, "/discord/").len(),
        1,
        "a chat gets one message"
    );
}

#[test]
fn a_request_the_service_refuses_is_reported() {
    let receiver = HttpRecorder::start(Answer::Judge(judge));
    let dir = tempfile::tempdir().unwrap();
    let ops = format!(
        "opsgenie_api_key = \"wrong\"\nopsgenie_url = \"{}\"",
        receiver.url("/og")
    );
    let file = test_alert_file(dir.path(), &ops);
    let (status, out, _) = run(
        &["--config", file.to_str().unwrap(), "test-alert", "ops"],
        "",
    );
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("opsgenie: failed: the receiver answered HTTP 401"),
        "{out}"
    );
}

/// The Alertmanager program: Debian's name, or upstream's.
fn alertmanager_program() -> &'static str {
    ["prometheus-alertmanager", "alertmanager"]
        .into_iter()
        .find(|p| have(p))
        .expect(
            "alertmanager is installed (Debian prometheus-alertmanager; scripts/test installs it)",
        )
}

/// A real Alertmanager on a free loopback port, not clustered, whose one
/// receiver is a webhook to `hook`; killed when dropped.
struct Alertmanager {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    fn start(hook: &str) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        let yaml = format!(
            "route:\n  receiver: hook\n  group_by: ['view']\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: hook\n    webhook_configs:\n      - url: '{hook}'\n        send_resolved: true\n"
        );
        std::fs::write(&config, yaml).unwrap();
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let child = Command::new(alertmanager_program())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--web.external-url={url}"))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("alertmanager starts");
        let mut am = Alertmanager {
            child,
            url,
            _dir: dir,
        };
        eventually("alertmanager to be ready", || {
            if let Ok(Some(status)) = am.child.try_wait() {
                panic!("alertmanager exited with {status}");
            }
            let ready = try_http("GET", &format!("{}/-/ready", am.url), &[], Vec::new());
            ready.ok().filter(|(code, _)| *code == 200).map(|_| ())
        });
        am
    }

    /// The `endsAt` of its alert of view `web`, while it holds one active.
    fn active_ends_at(&self) -> Option<String> {
        let url = format!("{}/api/v2/alerts?active=true", self.url);
        let (_, body) = try_http("GET", &url, &[], Vec::new()).ok()?;
        let alerts: Value = serde_json::from_slice(&body).ok()?;
        let alert = alerts
            .as_array()?
            .iter()
            .find(|a| a["labels"]["view"] == "web")?;
        let active = alert["status"]["state"] == "active";
        active.then(|| alert["endsAt"].as_str().unwrap_or_default().to_owned())
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The webhook notifications the receiver got: (status, externalURL, the
/// first alert).
fn notifications(receiver: &HttpRecorder) -> Vec<(String, String, Value)> {
    (receiver.delivered().iter())
        .map(|r| {
            let n = r.json();
            let field = |k: &str| n[k].as_str().unwrap_or_default().to_owned();
            (
                field("status"),
                field("externalURL"),
                n["alerts"][0].clone(),
            )
        })
        .collect()
}

/// Whether each of `ams` notified `status`.
fn each_notified(receiver: &HttpRecorder, ams: &[&Alertmanager], status: &str) -> bool {
    let got = notifications(receiver);
    ams.iter()
        .all(|am| got.iter().any(|(s, url, _)| s == status && *url == am.url))
}

#[test]
fn alertmanagers_each_get_the_alert_keep_it_firing_and_resolve_it() {
    let receiver = HttpRecorder::start(Answer::Status(200));
    let hook = receiver.url("/am");
    let (am1, am2) = (Alertmanager::start(&hook), Alertmanager::start(&hook));
    let ops = format!(
        "alertmanager = [\"{}\", \"{}/\"]\nalertmanager_resend = 1",
        am1.url, am2.url
    );
    let d = Daemon::with_config(&config(&ops));
    fail_web(&d);
    eventually("a firing notification from each", || {
        each_notified(&receiver, &[&am1, &am2], "firing").then_some(())
    });
    let (_, _, alert) = notifications(&receiver).remove(0);
    let labels = &alert["labels"];
    assert_eq!(
        (
            &labels["alertname"],
            &labels["view"],
            &labels["severity"],
            &labels["incident"],
            &labels["team"]
        ),
        (
            &"LovebeatView".into(),
            &"web".into(),
            &"critical".into(),
            &"1".into(),
            &"payments".into()
        )
    );
    assert_eq!(alert["annotations"]["failed_services"], "web.svc");
    assert_eq!(
        alert["annotations"]["link"],
        "http://lb.example.com/alarms/web"
    );

    // Each firing alert ends four re-sends (4 s) ahead: once its end has
    // moved on five times, the first end has passed, and it still fires.
    let mut ends: Vec<String> = Vec::new();
    eventually("five re-sends", || {
        let end = am1.active_ends_at().expect("the alert is still active");
        if ends.last() != Some(&end) {
            ends.push(end);
        }
        (ends.len() >= 6).then_some(())
    });
    assert!(
        !notifications(&receiver)
            .iter()
            .any(|(s, _, _)| s == "resolved"),
        "resolved while the view still failed"
    );

    recover_web(&d);
    eventually("a resolved notification from each", || {
        each_notified(&receiver, &[&am1, &am2], "resolved").then_some(())
    });
    assert_eq!(am1.active_ends_at(), None);
}

#[test]
fn an_alertmanager_that_is_down_holds_up_nothing() {
    let receiver = HttpRecorder::start(Answer::Status(200));
    let am = Alertmanager::start(&receiver.url("/am"));
    let down = format!("http://127.0.0.1:{}", free_port());
    let ops = format!("alertmanager = [\"{down}\", \"{}\"]", am.url);
    let d = Daemon::with_config(&config(&ops));
    fail_web(&d);
    eventually("the firing notification", || {
        each_notified(&receiver, &[&am], "firing").then_some(())
    });
    recover_web(&d);
    eventually("the resolved notification", || {
        each_notified(&receiver, &[&am], "resolved").then_some(())
    });
    let alert = d.get_json("/api/alerts/ops")["alert"].clone();
    assert_eq!(alert["pending"], 0, "{alert}");
    assert!(
        d.log_text().contains(&format!("url={down}")),
        "the one down is logged"
    );
}
