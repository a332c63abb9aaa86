//! The alert policy end to end, with second-scale durations against a real
//! webhook receiver: a flap shorter than `for` alerts nothing, a failing
//! view reminds every `repeat` until acknowledged (over HTTP or
//! `lovebeat services ack`; the ack reaches the webhook, the event log and
//! the process log), and reminders survive `kill -9` with none sent twice.

use serde_json::Value;

use crate::util::receivers::{Answer, HttpRecorder, Request};
use crate::util::{Daemon, eventually, run};

/// Views `web` (`web.*`, with `view_keys`) and `db` (`db.*`) alerting
/// `[alerts.ops]`, a webhook to `hook` with `entry_keys`.
fn config(hook: &HttpRecorder, view_keys: &str, entry_keys: &str) -> String {
    format!(
        r#"
[delivery]
retry_first = 1
retry_max = 1
[[alarms]]
name = "web"
pattern = "web.*"
alerts = ["ops"]
{view_keys}
[[alarms]]
name = "db"
pattern = "db.*"
alerts = ["ops"]
[alerts.ops]
webhook = "{}"
{entry_keys}
"#,
        hook.url("/hook")
    )
}

/// The webhook bodies delivered for view `name`.
fn bodies(hook: &HttpRecorder, name: &str) -> Vec<Value> {
    (hook.delivered().iter())
        .map(Request::json)
        .filter(|b| b["name"] == name)
        .collect()
}

/// Each body as `from->to`, `reminder N` or `ack by AUTHOR`.
fn story(bodies: &[Value]) -> Vec<String> {
    bodies
        .iter()
        .map(|b| {
            if let Some(n) = b["reminder"]["number"].as_u64() {
                format!("reminder {n}")
            } else if let Some(author) = b["acknowledged"]["author"].as_str() {
                format!("ack by {author}")
            } else {
                format!(
                    "{}->{}",
                    b["from_state"].as_str().unwrap(),
                    b["to_state"].as_str().unwrap()
                )
            }
        })
        .collect()
}

fn view_state(d: &Daemon, name: &str) -> String {
    let view = d.get_json(&format!("/api/views/{name}"));
    view["view"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn wait_view(d: &Daemon, name: &str, state: &str) {
    eventually(&format!("{name} to be {state}"), || {
        (view_state(d, name) == state).then_some(())
    });
}

#[test]
fn a_flap_shorter_than_for_alerts_nothing_and_a_lasting_failure_alerts_once() {
    let hook = HttpRecorder::start(Answer::Status(200));
    let d = Daemon::with_config(&config(&hook, "for = \"3s\"", ""));
    d.send_udp("web.svc.err:1|g\nweb.svc.beat:1|c\n");
    wait_view(&d, "web", "error");
    d.send_udp("web.svc.beat:1|c\n");
    wait_view(&d, "web", "ok");
    // Now a failure that lasts: its alert must be the first and only one.
    wait_view(&d, "web", "error");
    let first = eventually("the lasting failure's alert", || {
        bodies(&hook, "web").into_iter().next()
    });
    // The receivers were never told of `ok` (a view's first new -> ok
    // never alerts), so the one change they hear of is from `new`.
    assert_eq!(story(std::slice::from_ref(&first)), ["new->error"]);
    assert_eq!(first["failed_services"], serde_json::json!(["web.svc"]));
    assert_eq!(
        story(&bodies(&hook, "web")),
        ["new->error"],
        "the flap before it sent nothing"
    );
}

#[test]
fn a_failing_view_reminds_every_repeat_until_acknowledged() {
    let hook = HttpRecorder::start(Answer::Status(200));
    let d = Daemon::with_config(&config(&hook, "", "repeat = \"1s\""));
    d.send_udp("web.svc.err:1|g\nweb.svc.beat:1|c\ndb.svc.err:1|g\ndb.svc.beat:1|c\n");
    eventually("two reminders of web", || {
        (bodies(&hook, "web").len() >= 3).then_some(())
    });
    let web = bodies(&hook, "web");
    assert_eq!(story(&web[..3]), ["ok->error", "reminder 1", "reminder 2"]);
    let reminder = &web[2]["reminder"];
    assert!(
        reminder["failing_seconds"].as_u64().unwrap() >= 2,
        "{reminder}"
    );
    assert_eq!(web[2]["to_state"], "error");

    let url = format!("http://{}", d.http);
    let (code, out, err) = run(
        &[
            "services",
            "--url",
            &url,
            "ack",
            "web",
            "--author",
            "alice",
            "--comment",
            "disk swap",
        ],
        "",
    );
    assert_eq!((code, out.as_str()), (0, "Acknowledged.\n"), "{err}");
    let ack = eventually("the ack at the webhook", || {
        bodies(&hook, "web")
            .into_iter()
            .find(|b| b["acknowledged"].is_object())
    });
    assert_eq!(ack["acknowledged"]["author"], "alice");
    assert_eq!(ack["acknowledged"]["comment"], "disk swap");
    let acked_at = bodies(&hook, "web").len();
    // db, never acknowledged, keeps reminding: three more of its reminders
    // are three periods in which web sent nothing.
    let db_before = bodies(&hook, "db").len();
    eventually("three more reminders of db", || {
        (bodies(&hook, "db").len() >= db_before + 3).then_some(())
    });
    assert_eq!(
        bodies(&hook, "web").len(),
        acked_at,
        "web stopped reminding"
    );

    // The next change ends the acknowledgement: a new failure reminds again.
    d.send_udp("web.svc.beat:1|c\n");
    wait_view(&d, "web", "ok");
    wait_view(&d, "web", "error");
    eventually("a reminder of the new failure", || {
        let web = story(&bodies(&hook, "web"));
        (web[acked_at..] == ["error->ok", "ok->error", "reminder 1"]).then_some(())
    });
}

#[test]
fn an_ack_needs_an_author_and_a_failing_view_that_exists() {
    let hook = HttpRecorder::start(Answer::Status(200));
    let eventlog = "[eventlog]\npath = \"events.log\"\n";
    let d = Daemon::with_config(&format!(
        "{eventlog}{}",
        config(&hook, "", "repeat = \"1h\"")
    ));
    d.send_udp("web.svc.beat:1|c\n");
    wait_view(&d, "web", "ok");
    let (code, body) = d.post_form("/api/views/nothing/ack", "author=a");
    assert_eq!(code, 404, "{body}");
    let (code, body) = d.post_form("/api/views/web/ack", "author=a");
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("only a view in warning or error"), "{body}");
    d.send_udp("web.svc.err:1|g\n");
    wait_view(&d, "web", "error");
    let (code, body) = d.post_form("/api/views/web/ack", "comment=no+author");
    assert_eq!(code, 400, "{body}");
    let (code, body) = d.request(
        "POST",
        "/api/alarms/web/ack",
        &[("Content-Type", "application/json")],
        r#"{"author": "bob", "comment": "looking"}"#,
    );
    assert_eq!(code, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["acknowledged"]["author"], "bob");
    let logged = eventually("the ack in the event log", || {
        let log = std::fs::read_to_string(d.dir.join("events.log")).unwrap_or_default();
        log.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|e| e["type"] == "alarm_acknowledged")
    });
    let ack = &logged["alarm_acknowledged"];
    assert_eq!(
        (&ack["author"], &ack["comment"]),
        (&Value::from("bob"), &Value::from("looking"))
    );
    assert_eq!(ack["alarm"]["name"], "web");
    eventually("the ack in the process log", || {
        (d.log_text())
            .contains("ALARM 'web', acknowledged by bob: looking")
            .then_some(())
    });
    let webhook = eventually("the ack at the webhook", || {
        bodies(&hook, "web")
            .into_iter()
            .find(|b| b["acknowledged"].is_object())
    });
    assert_eq!(webhook["acknowledged"]["author"], "bob");
}

#[test]
fn reminders_survive_kill_9_and_none_is_sent_twice() {
    let hook = HttpRecorder::start(Answer::Status(200));
    let dir = tempfile::tempdir().unwrap();
    let toml = config(&hook, "repeat = \"2s\"", "");
    let d = Daemon::start_in(dir.path(), &toml, &[]);
    d.send_udp("web.svc.err:1|g\nweb.svc.beat:1|c\n");
    eventually("the alert and a reminder", || {
        (bodies(&hook, "web").len() >= 2).then_some(())
    });
    d.kill();
    let before = bodies(&hook, "web").len();
    let d = Daemon::start_in(dir.path(), &toml, &[]);
    eventually("two reminders after the restart", || {
        (bodies(&hook, "web").len() >= before + 2).then_some(())
    });
    let web = story(&bodies(&hook, "web"));
    assert_eq!(web[0], "ok->error", "{web:?}");
    let numbers: Vec<u64> = (bodies(&hook, "web").iter())
        .filter_map(|b| b["reminder"]["number"].as_u64())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[1] > w[0]),
        "no reminder twice, none restarted from 1: {numbers:?}"
    );
    assert_eq!(
        web.iter().filter(|s| *s == "ok->error").count(),
        1,
        "the alert itself not again: {web:?}"
    );
    drop(d);
}

#[test]
fn a_failure_held_when_lovebeat_is_killed_is_announced_once_after_the_restart() {
    let hook = HttpRecorder::start(Answer::Status(200));
    let dir = tempfile::tempdir().unwrap();
    let toml = config(&hook, "for = \"4s\"", "");
    let d = Daemon::start_in(dir.path(), &toml, &[]);
    d.send_udp("web.svc.err:1|g\nweb.svc.beat:1|c\n");
    wait_view(&d, "web", "error");
    assert!(bodies(&hook, "web").is_empty(), "still held");
    d.kill();
    let d = Daemon::start_in(dir.path(), &toml, &[]);
    assert_eq!(view_state(&d, "web"), "error");
    let first = eventually("the held failure's alert", || {
        bodies(&hook, "web").into_iter().next()
    });
    assert_eq!(story(std::slice::from_ref(&first)), ["new->error"]);
    // Recover for longer than `for`: the recovery comes right after it,
    // so nothing was sent twice.
    d.send_udp("web.svc.err:3600|g\nweb.svc.beat:1|c\n");
    eventually("the recovery's alert", || {
        (bodies(&hook, "web").len() >= 2).then_some(())
    });
    assert_eq!(story(&bodies(&hook, "web")), ["new->error", "error->ok"]);
}
