//! Alerts against real receivers on loopback: an SMTP server, an HTTP
//! server standing in for webhooks and Slack, and scripts that write their
//! environment to a file. Retries, giving up, independence of back-ends,
//! `/api/alerts`, `/metrics` and `lovebeat test-alert`.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::receivers::{Answer, GarbageServer, HttpRecorder, Mail, SmtpServer};
use crate::util::{Daemon, eventually, run};

/// A view `web` over `web.*` that alerts `[alerts.ops]`, and `extra`.
fn config(ops: &str, extra: &str) -> String {
    format!(
        r#"
[general]
public_url = "http://lb.example.com/"
[delivery]
retry_first = 1
retry_max = 1
[[alarms]]
name = "web"
pattern = "web.*"
alerts = ["ops"]
[alerts.ops]
{ops}
{extra}
"#
    )
}

fn smtp_config(smtp: SocketAddr) -> String {
    format!("[mail]\nserver = \"{smtp}\"\nfrom = \"lovebeat@example.com\"\n")
}

/// An executable shell script in `dir` that appends its `LOVEBEAT_*`
/// environment and a `---` line to `<script>.out`.
fn env_script(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let text = "#!/bin/sh\nenv | grep '^LOVEBEAT_' | sort >> \"$0.out\"\necho --- >> \"$0.out\"\n";
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The environments a script recorded, one string per run.
fn runs(script: &Path) -> Vec<String> {
    let out = std::fs::read_to_string(script.with_extension("sh.out")).unwrap_or_default();
    out.split_terminator("---\n").map(str::to_owned).collect()
}

/// Makes `web.svc` beat with a 1 s error timeout: the view goes ok at once
/// and error a second later.
fn beat_then_go_late(d: &Daemon) {
    d.send_udp("web.svc.err:1|g\nweb.svc.beat:1|c\n");
}

/// What each mail announces, as `FROM -> TO` (`OK -> ERROR`).
fn announced(mails: &[Mail]) -> Vec<String> {
    let change = |body: &str| {
        let (_, rest) = body.split_once("has changed from '")?;
        let (from, rest) = rest.split_once("' to '")?;
        let (to, _) = rest.split_once('\'')?;
        Some(format!("{from} -> {to}"))
    };
    (mails.iter())
        .map(|m| change(&m.body()).unwrap_or_else(|| panic!("not an alert mail: {}", m.data)))
        .collect()
}

/// Makes the view recover (its service beats, with an error timeout that
/// keeps it ok for the rest of the test) and waits for the mail that says
/// so and for nothing to be pending; returns every mail `smtp` got.
///
/// An entry's mails go out one at a time in the order they were raised
/// (one queue per entry and back-end kind), so once the recovery is in,
/// every mail raised before it has gone out: the mails before it are all
/// that this run had to send until then, and a duplicate among them would
/// show.
fn recover_and_wait_for_its_mail(d: &Daemon, smtp: &SmtpServer) -> Vec<Mail> {
    d.send_udp("web.svc.err:600|g\nweb.svc.beat:1|c\n");
    let mails = eventually("the recovery mail", || {
        let mails = smtp.mails();
        let recovered = announced(&mails).iter().any(|c| c == "ERROR -> OK");
        recovered.then_some(mails)
    });
    // Out of the outbox too (a restart would send it again otherwise).
    eventually("nothing pending", || {
        let pending = d.get_json("/api/alerts/ops")["alert"]["pending"].as_u64();
        (pending == Some(0)).then_some(())
    });
    mails
}

/// Makes the view recover, and checks that the alert raised before went
/// out exactly once: mails of one entry leave in the order raised, so
/// anything sent again (by a restart, say) would come before the
/// recovery's. Returns the two mails.
fn recover_and_see_one_alert_before(d: &Daemon, smtp: &SmtpServer) -> Vec<Mail> {
    let mails = recover_and_wait_for_its_mail(d, smtp);
    assert_eq!(
        announced(&mails),
        ["OK -> ERROR", "ERROR -> OK"],
        "delivered exactly once"
    );
    assert_eq!(metric(d, "mail", "sent"), 2.0);
    mails
}

fn view_state(d: &Daemon) -> String {
    let view = d.get_json("/api/views/web");
    view["view"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits for the view to be in error; returns when that was seen.
fn wait_view_error(d: &Daemon) -> Instant {
    eventually("the view to fail", || {
        (view_state(d) == "error").then(Instant::now)
    })
}

/// Polls `check` until `limit` after `since`.
fn within<T>(
    since: Instant,
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(since.elapsed() < limit, "{what} took longer than {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A loopback port nothing listens on (bound, then released).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn metric(d: &Daemon, kind: &str, result: &str) -> f64 {
    let series = format!("lovebeat_alerts_total{{kind=\"{kind}\",result=\"{result}\"}}");
    d.metric(&series)
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}

#[test]
fn a_late_service_mails_posts_and_runs_the_script_within_a_second() {
    let (smtp, hook) = (
        SmtpServer::start(),
        HttpRecorder::start(Answer::Status(200)),
    );
    let dir = tempfile::tempdir().unwrap();
    let script = env_script(dir.path(), "alarm.sh");
    let ops = format!(
        "mail = \"a@example.com, b@example.com\"\nwebhook = \"{}\"\nwebhook_headers = {{ Authorization = \"Bearer t\" }}\nscript = \"{}\"",
        hook.url("/hook"),
        script.display()
    );
    let d = Daemon::with_config(&config(&ops, &smtp_config(smtp.addr)));
    beat_then_go_late(&d);
    let failed_at = wait_view_error(&d);
    let second = Duration::from_secs(1);
    let mail = within(failed_at, second, "the mail", || smtp.mails().pop());
    let post = within(failed_at, second, "the webhook", || hook.delivered().pop());
    let env = within(failed_at, second, "the script", || runs(&script).pop());

    assert_eq!(mail.header("Subject").as_deref(), Some("[LOVEBEAT] web-1"));
    assert_eq!(mail.header("MIME-Version").as_deref(), Some("1.0"));
    assert_eq!(
        mail.header("To").as_deref(),
        Some("a@example.com, b@example.com")
    );
    assert_eq!(mail.to.len(), 2, "one message to both recipients");
    assert!(
        mail.body()
            .contains("The status for alarm 'web' has changed from 'OK' to 'ERROR'")
    );

    assert_eq!(
        (post.method.as_str(), post.path.as_str()),
        ("POST", "/hook")
    );
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(post.header("user-agent"), Some("Lovebeat"));
    assert_eq!(post.header("x-lovebeat"), Some("1"));
    assert_eq!(post.header("authorization"), Some("Bearer t"));
    let body = post.json();
    assert_eq!(body["name"], "web");
    assert_eq!(
        (body["from_state"].as_str(), body["to_state"].as_str()),
        (Some("ok"), Some("error"))
    );
    assert_eq!(body["incident_number"], 1);
    assert_eq!(body["failed_services"], serde_json::json!(["web.svc"]));
    assert_eq!(body["link"], "http://lb.example.com/alarms/web");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));

    for line in [
        "LOVEBEAT_ALARM=web",
        "LOVEBEAT_VIEW=web",
        "LOVEBEAT_STATE=ERROR",
        "LOVEBEAT_PREVIOUS_STATE=OK",
        "LOVEBEAT_INCIDENT=1",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} missing in\n{env}");
    }
    // The server has the mail before lovebeat reads its answer and counts it.
    eventually("the sent counter", || {
        (metric(&d, "mail", "sent") == 1.0).then_some(())
    });
    assert_eq!(smtp.mails().len(), 1, "the first new -> ok did not alert");
}

#[test]
fn slack_gets_the_incoming_webhook_payload() {
    let slack = HttpRecorder::start(Answer::Status(200));
    let extra = format!(
        "[slack]\nwebhook_url = \"{}\"",
        slack.url("/services/T/B/X")
    );
    let d = Daemon::with_config(&config("slack_channel = \"#ops\"", &extra));
    beat_then_go_late(&d);
    wait_view_error(&d);
    let post = eventually("the slack post", || slack.delivered().pop());
    let body = post.json();
    assert_eq!(post.method, "POST");
    assert_eq!(body["channel"], "#ops");
    assert_eq!(body["username"], "Lovebeat");
    let attachment = &body["attachments"][0];
    assert_eq!(attachment["color"], "danger");
    assert_eq!(
        attachment["title"],
        "<http://lb.example.com/alarms/web|web> is in ERROR"
    );
    assert_eq!(attachment["fields"][2]["value"], "web.svc");
}

#[test]
fn a_failing_webhook_is_retried_until_it_answers() {
    let hook = HttpRecorder::start(Answer::Status(500));
    let d = Daemon::with_config(&config(&format!("webhook = \"{}\"", hook.url("/")), ""));
    beat_then_go_late(&d);
    eventually("two failed attempts", || {
        (hook.requests().len() >= 2).then_some(())
    });
    let alerts = d.get_json("/api/alerts");
    let error = &alerts["alerts"][0]["last_error"];
    assert_eq!(error["kind"], "webhook");
    assert!(
        error["message"].as_str().unwrap().contains("500"),
        "{alerts}"
    );
    assert_eq!(alerts["alerts"][0]["pending"], 1);

    hook.answer(Answer::Status(200));
    let post = eventually("a delivered retry", || hook.delivered().pop());
    assert_eq!(post.json()["to_state"], "error");
    assert!(metric(&d, "webhook", "failed") >= 2.0);
    assert!(metric(&d, "webhook", "retried") >= 2.0);
    eventually("the sent counter", || {
        (metric(&d, "webhook", "sent") == 1.0).then_some(())
    });
    assert_eq!(d.get_json("/api/alerts/ops")["alert"]["pending"], 0);
}

#[test]
fn a_hanging_webhook_delays_neither_mail_nor_ingest() {
    let (smtp, hook) = (SmtpServer::start(), HttpRecorder::start(Answer::Hang));
    let ops = format!("mail = \"a@example.com\"\nwebhook = \"{}\"", hook.url("/"));
    let d = Daemon::with_config(&config(&ops, &smtp_config(smtp.addr)));
    beat_then_go_late(&d);
    let failed_at = wait_view_error(&d);
    within(failed_at, Duration::from_secs(1), "the mail", || {
        smtp.mails().pop()
    });
    assert_eq!(
        hook.requests().len(),
        1,
        "the webhook got the request and hangs"
    );
    let start = Instant::now();
    let (status, _) = d.post_form("/api/services/other.svc", "");
    assert_eq!(status, 200);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "ingest was held up"
    );
    d.send_udp("web.svc.beat:1|c\n");
    eventually("the recovery mail", || {
        (smtp.mails().len() == 2).then_some(())
    });
}

#[test]
fn receivers_answering_garbage_are_retried_and_hold_up_nothing() {
    let (bad_smtp, bad_hook) = (GarbageServer::start(), GarbageServer::start());
    let ops = format!(
        "mail = \"a@example.com\"\nwebhook = \"http://{}/\"",
        bad_hook.addr
    );
    let d = Daemon::with_config(&config(&ops, &smtp_config(bad_smtp.addr)));
    beat_then_go_late(&d);
    wait_view_error(&d);
    eventually("failed attempts of both", || {
        let failed = metric(&d, "mail", "failed") >= 1.0 && metric(&d, "webhook", "failed") >= 1.0;
        failed.then_some(())
    });
    let alert = d.get_json("/api/alerts/ops");
    assert!(alert["alert"]["pending"].as_u64() >= Some(1), "{alert}");
    assert_eq!(
        d.post_form("/api/services/other.svc", "").0,
        200,
        "the API is unaffected"
    );

    // A real SMTP server takes the port: the waiting mail goes out once.
    let addr = bad_smtp.addr;
    bad_smtp.stop();
    let smtp = SmtpServer::start_on(addr);
    eventually("the mail", || (smtp.mails().len() == 1).then_some(()));
    let alert = d.get_json("/api/alerts/ops");
    assert!(
        alert["alert"]["pending"].as_u64() >= Some(1),
        "the webhook is still waiting: garbage is no answer; {alert}"
    );
    bad_hook.stop();
}

#[test]
fn mail_waits_for_the_smtp_server_to_come_back() {
    let addr = free_port();
    let d = Daemon::with_config(&config("mail = \"a@example.com\"", &smtp_config(addr)));
    beat_then_go_late(&d);
    wait_view_error(&d);
    eventually("a failed attempt", || {
        (metric(&d, "mail", "failed") >= 1.0).then_some(())
    });
    let smtp = SmtpServer::start_on(addr);
    eventually("the mail", || (smtp.mails().len() == 1).then_some(()));
    eventually("the sent counter", || {
        (metric(&d, "mail", "sent") == 1.0).then_some(())
    });
    assert_eq!(smtp.mails().len(), 1, "delivered once");
}

#[test]
fn an_alert_is_given_up_after_its_age() {
    let hook = format!("webhook = \"http://{}/\"", free_port());
    let d = Daemon::with_config(
        &config(&hook, "").replace("[delivery]\n", "[delivery]\ngive_up_after = 1\n"),
    );
    beat_then_go_late(&d);
    eventually("giving up", || {
        (metric(&d, "webhook", "gave_up") == 1.0).then_some(())
    });
    assert!(
        d.log_text().contains("giving up on alert"),
        "{}",
        d.log_text()
    );
    assert_eq!(d.get_json("/api/alerts/ops")["alert"]["pending"], 0);
}

#[test]
fn on_error_and_on_ok_run_when_the_view_fails_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (down, up) = (
        env_script(dir.path(), "down.sh"),
        env_script(dir.path(), "up.sh"),
    );
    let ops = format!(
        "on_error = \"{}\"\non_ok = \"{} promoted\"",
        down.display(),
        up.display()
    );
    let d = Daemon::with_config(&config(&ops, ""));
    beat_then_go_late(&d);
    wait_view_error(&d);
    let env = eventually("on_error", || runs(&down).pop());
    assert!(env.contains("LOVEBEAT_STATE=ERROR"), "{env}");
    assert!(runs(&up).is_empty());
    d.send_udp("web.svc.beat:1|c\n");
    let env = eventually("on_ok", || runs(&up).pop());
    assert!(env.contains("LOVEBEAT_STATE=OK"), "{env}");
    assert_eq!(runs(&down).len(), 1);
}

#[test]
fn warnings_alert_only_the_entries_that_want_them() {
    let dir = tempfile::tempdir().unwrap();
    let (all, errors) = (
        env_script(dir.path(), "all.sh"),
        env_script(dir.path(), "err.sh"),
    );
    let ops = format!("script = \"{}\"", errors.display());
    let extra = format!(
        "[alerts.noisy]\nscript = \"{}\"\nwarnings = true\n",
        all.display()
    );
    let d = Daemon::with_config(
        &config(&ops, &extra).replace("alerts = [\"ops\"]", "alerts = [\"ops\", \"noisy\"]"),
    );
    d.send_udp("web.svc.warn:1|g\nweb.svc.beat:1|c\n");
    eventually("the view to warn", || {
        (view_state(&d) == "warning").then_some(())
    });
    let env = eventually("the warning alert", || runs(&all).pop());
    assert!(env.contains("LOVEBEAT_STATE=WARNING"), "{env}");
    eventually("the sent counter", || {
        (metric(&d, "script", "sent") == 1.0).then_some(())
    });
    // The view fails (its service is already silent longer than the new
    // error timeout): both entries alert. `ops` runs its script for that
    // after anything it was given before (one queue per entry and kind),
    // so the warning would show before the error.
    d.send_udp("web.svc.err:1|g\n");
    let env = eventually("the error alert of ops", || runs(&errors).pop());
    assert!(env.contains("LOVEBEAT_STATE=ERROR"), "{env}");
    assert_eq!(runs(&errors).len(), 1, "ops heard of the error only");
    let noisy: Vec<String> = eventually("the error alert of noisy", || {
        let all = runs(&all);
        (all.len() == 2).then_some(all)
    });
    assert!(noisy[1].contains("LOVEBEAT_STATE=ERROR"), "{noisy:?}");
}

/// A config file for `test-alert` with entry `ops`.
fn test_alert_config(dir: &Path, ops: &str, extra: &str) -> PathBuf {
    let path = dir.join("lovebeat.toml");
    std::fs::write(&path, format!("[alerts.ops]\n{ops}\n{extra}")).unwrap();
    path
}

#[test]
fn test_alert_sends_a_sample_through_every_back_end() {
    let (smtp, hook) = (
        SmtpServer::start(),
        HttpRecorder::start(Answer::Status(200)),
    );
    let dir = tempfile::tempdir().unwrap();
    let ops = format!("mail = \"a@example.com\"\nwebhook = \"{}\"", hook.url("/"));
    let file = test_alert_config(dir.path(), &ops, &smtp_config(smtp.addr));
    let config = file.to_str().unwrap();
    let (status, out, err) = run(&["--config", config, "test-alert", "ops"], "");
    assert_eq!(status, 0, "{out}{err}");
    assert!(
        out.contains("mail: sent") && out.contains("webhook: sent"),
        "{out}"
    );
    assert_eq!(
        smtp.mails()[0].header("Subject").as_deref(),
        Some("[LOVEBEAT] lovebeat-test-alert-1")
    );
    assert_eq!(hook.delivered()[0].json()["to_state"], "error");
}

#[test]
fn test_alert_reports_a_failing_back_end() {
    let dir = tempfile::tempdir().unwrap();
    let file = test_alert_config(
        dir.path(),
        "mail = \"a@example.com\"",
        &smtp_config(free_port()),
    );
    let config = file.to_str().unwrap();
    let (status, out, _) = run(&["--config", config, "test-alert", "ops"], "");
    assert_eq!(status, 1);
    assert!(out.contains("mail: failed: smtp:"), "{out}");
    let (status, _, err) = run(&["--config", config, "test-alert", "nope"], "");
    assert_eq!(status, 2);
    assert!(err.contains("there is no [alerts.nope] table"), "{err}");
}

#[test]
fn mailgun_is_used_instead_of_smtp_when_configured() {
    let api = HttpRecorder::start(Answer::Status(200));
    let extra = format!(
        "[mailgun]\ndomain = \"mg.example.org\"\nfrom = \"lb@mg.example.org\"\napi_key = \"key-1\"\napi_url = \"{}\"",
        api.url("/v3")
    );
    let d = Daemon::with_config(&config("mail = \"a@example.com, b@example.com\"", &extra));
    beat_then_go_late(&d);
    let post = eventually("the Mailgun call", || api.delivered().pop());
    assert_eq!(
        (post.method.as_str(), post.path.as_str()),
        ("POST", "/v3/mg.example.org/messages")
    );
    // "api:key-1" in base64.
    assert_eq!(post.header("authorization"), Some("Basic YXBpOmtleS0x"));
    let form: Vec<(String, String)> = form_urlencoded::parse(post.body.as_bytes())
        .into_owned()
        .collect();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(field("from"), Some("lb@mg.example.org"));
    assert_eq!(field("to"), Some("a@example.com,b@example.com"));
    assert_eq!(field("subject"), Some("[LOVEBEAT] web-1"));
    assert!(field("text").unwrap().contains("from 'OK' to 'ERROR'"));
}

#[test]
fn a_script_that_hangs_is_killed_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hang.sh");
    std::fs::write(&script, "#!/bin/sh\necho $$ > \"$0.pid\"\nexec sleep 60\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ops = format!("script = \"{}\"", script.display());
    let d =
        Daemon::with_config(&config(&ops, "").replace("[delivery]\n", "[delivery]\ntimeout = 1\n"));
    beat_then_go_late(&d);
    let pid_file = dir.path().join("hang.sh.pid");
    let pid = eventually("the script to start", || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .filter(|p| p.ends_with('\n'))
    });
    eventually("the script to be killed", || {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
        // Gone, or a zombie waiting to be reaped.
        stat.map_or(true, |s| s.split(' ').nth(2) == Some("Z"))
            .then_some(())
    });
    eventually("the failure to count", || {
        (metric(&d, "script", "failed") >= 1.0).then_some(())
    });
    let alerts = d.get_json("/api/alerts/ops");
    let message = alerts["alert"]["last_error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("timed out"), "{alerts}");
}

/// Starts lovebeat in `dir` mailing `[alerts.ops]` through an SMTP port
/// nobody listens on yet, makes the view fail and waits for the first
/// failed attempt: a mail waits in the outbox. Returns the port, the
/// config (for the restarts) and the daemon.
fn undelivered_mail(dir: &Path) -> (SocketAddr, String, Daemon) {
    let addr = free_port();
    let toml = config("mail = \"a@example.com\"", &smtp_config(addr));
    let d = Daemon::start_in(dir, &toml, &[]);
    beat_then_go_late(&d);
    wait_view_error(&d);
    eventually("a failed attempt", || {
        (metric(&d, "mail", "failed") >= 1.0).then_some(())
    });
    (addr, toml, d)
}

#[test]
fn mail_raised_before_a_restart_is_delivered_once_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, toml, d) = undelivered_mail(dir.path());
    assert!(d.terminate().success());

    let d = Daemon::start_in(dir.path(), &toml, &[]);
    assert_eq!(view_state(&d), "error", "the view's state was restored");
    eventually("an attempt from the outbox", || {
        (metric(&d, "mail", "failed") >= 1.0).then_some(())
    });
    let smtp = SmtpServer::start_on(addr);
    eventually("the mail", || (smtp.mails().len() == 1).then_some(()));
    eventually("the sent counter", || {
        (metric(&d, "mail", "sent") == 1.0).then_some(())
    });
    let mail = &smtp.mails()[0];
    assert_eq!(mail.header("Subject").as_deref(), Some("[LOVEBEAT] web-1"));
    assert_eq!(d.get_json("/api/alerts/ops")["alert"]["pending"], 0);
    // Nothing is sent again: the recovery's mail comes right after it.
    recover_and_see_one_alert_before(&d, &smtp);

    // And once delivered, it stays delivered across another restart.
    assert!(d.terminate().success());
    let d = Daemon::start_in(dir.path(), &toml, &[]);
    assert_eq!(d.get_json("/api/alerts/ops")["alert"]["pending"], 0);
    assert_eq!(metric(&d, "mail", "failed"), 0.0);
    assert_eq!(smtp.mails().len(), 2);
}

#[test]
fn an_alert_survives_a_crash_of_lovebeat() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, toml, d) = undelivered_mail(dir.path());
    d.kill();

    let smtp = SmtpServer::start_on(addr);
    let d = Daemon::start_in(dir.path(), &toml, &[]);
    eventually("the mail", || (smtp.mails().len() == 1).then_some(()));
    eventually("the sent counter", || {
        (metric(&d, "mail", "sent") == 1.0).then_some(())
    });
    // Nothing is sent again: the recovery's mail comes right after it.
    recover_and_see_one_alert_before(&d, &smtp);
}

/// The moment a crash can leave behind: the alert is in the outbox (it is
/// written at once) while the view's new state waits for the next save.
/// The restart must not see the same change again and mail it twice.
#[test]
fn an_alert_whose_view_state_was_not_saved_before_a_crash_goes_out_once() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, toml, d) = undelivered_mail(dir.path());
    d.kill();
    let store = lovebeat_store::Store::open(&dir.path().join("lovebeat.db")).unwrap();
    let before_the_change = lovebeat_core::ViewRecord {
        name: "web".into(),
        state: lovebeat_core::State::Ok,
        incident: 0,
        last_state_change: 0,
    };
    let save = lovebeat_store::Save {
        views: vec![before_the_change],
        ..lovebeat_store::Save::default()
    };
    store.save(&save).unwrap();
    drop(store);

    let smtp = SmtpServer::start_on(addr);
    let d = Daemon::start_in(dir.path(), &toml, &[]);
    assert_eq!(view_state(&d), "error");
    eventually("a mail sent, and nothing pending", || {
        let pending = d.get_json("/api/alerts/ops")["alert"]["pending"].as_u64();
        (metric(&d, "mail", "sent") >= 1.0 && pending == Some(0)).then_some(())
    });
    // The restart raised nothing: the restore's changes were raised
    // before the recovery, and its mail comes right after the first.
    let mails = recover_and_see_one_alert_before(&d, &smtp);
    assert_eq!(
        mails[0].header("Subject").as_deref(),
        Some("[LOVEBEAT] web-1")
    );
}
