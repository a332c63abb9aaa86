//! The alerter with fake back-ends on a paused clock: routing, retries,
//! giving up, independence of queues, and replay of the outbox.

use std::sync::Mutex;
use std::time::Duration;

use lovebeat_core::{Acknowledgement, State};
use tokio::time::Instant;

use super::*;
use crate::backend::BoxFuture;
use crate::outbox::MemoryOutbox;
use crate::retry::RetryPolicy;
use crate::settings::{Entry, MailSettings, MailTls};

/// A back-end that records what it got; fails its first `failures`
/// attempts, or never answers when `hang`.
#[derive(Default)]
struct Fake {
    got: Mutex<Vec<String>>,
    failures: Mutex<u32>,
    hang: bool,
}

impl Fake {
    fn failing(n: u32) -> Arc<Fake> {
        Arc::new(Fake {
            failures: Mutex::new(n),
            ..Fake::default()
        })
    }

    fn got(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }
}

impl Backend for Fake {
    fn deliver<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            if self.hang {
                std::future::pending::<()>().await;
            }
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(DeliveryError::Status(500));
            }
            let line = format!("{} {}->{}", alert.view, alert.from, alert.to);
            self.got.lock().unwrap().push(line);
            Ok(())
        })
    }
}

fn settings(entries: &[(&str, Entry)]) -> Settings {
    Settings {
        entries: entries
            .iter()
            .map(|(n, e)| (n.to_string(), e.clone()))
            .collect(),
        views: vec![entries.iter().map(|(n, _)| n.to_string()).collect()],
        policies: Vec::new(),
        mail: MailSettings {
            server: "localhost:25".into(),
            from: "lovebeat@example.com".into(),
            tls: MailTls::None,
            user: None,
            password: None,
        },
        mailgun: None,
        slack_webhook_url: String::new(),
        public_url: "http://lb/".into(),
        view_teams: Vec::new(),
        retry: RetryPolicy {
            first: Duration::from_secs(1),
            max: Duration::from_secs(4),
            give_up_after: Duration::from_secs(20),
        },
        timeout: Duration::from_secs(10),
    }
}

fn mail_entry() -> Entry {
    Entry {
        mail: Some("a@x.com".into()),
        ..Entry::default()
    }
}

/// A clock that follows tokio's paused time.
fn clock() -> Clock {
    let start = Instant::now();
    Arc::new(move || 1_000_000 + start.elapsed().as_millis() as i64)
}

fn start(
    settings: Settings,
    outbox: Arc<MemoryOutbox>,
    fakes: &[(&str, Kind, Target, Arc<Fake>)],
) -> Alerter {
    start_on(clock(), settings, outbox, fakes)
}

/// [`start`] on the clock of a run before it.
fn start_on(
    clock: Clock,
    settings: Settings,
    outbox: Arc<MemoryOutbox>,
    fakes: &[(&str, Kind, Target, Arc<Fake>)],
) -> Alerter {
    let mut backends = Backends::new();
    for (entry, kind, target, fake) in fakes {
        let backend: Arc<dyn Backend> = fake.clone();
        backends
            .entry((entry.to_string(), *kind))
            .or_default()
            .push((*target, backend));
    }
    Alerter::start_with(settings, outbox, clock, backends).unwrap()
}

fn change(from: State, to: State) -> ViewChange {
    ViewChange {
        name: Arc::from("db"),
        template: 0,
        from,
        to,
        incident: 1,
        at: 0,
        failed: vec![],
    }
}

/// Lets the paused clock run for `secs`.
async fn run_for(secs: f64) {
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
}

#[tokio::test(start_paused = true)]
async fn a_change_is_delivered_and_leaves_the_outbox() {
    let outbox = Arc::new(MemoryOutbox::default());
    let fake = Arc::new(Fake::default());
    let alerter = start(
        settings(&[("ops", mail_entry())]),
        outbox.clone(),
        &[("ops", Kind::Mail, Target::Mail, fake.clone())],
    );
    alerter.raise(&change(State::Ok, State::Error));
    run_for(0.1).await;
    assert_eq!(fake.got(), ["db ok->error"]);
    assert!(outbox.entries().unwrap().is_empty());
    assert_eq!(alerter.count(Kind::Mail, Outcome::Sent), 1);
}

#[tokio::test(start_paused = true)]
async fn the_first_new_to_ok_is_not_delivered() {
    let fake = Arc::new(Fake::default());
    let alerter = start(
        settings(&[("ops", mail_entry())]),
        Arc::default(),
        &[("ops", Kind::Mail, Target::Mail, fake.clone())],
    );
    alerter.raise(&change(State::New, State::Ok));
    run_for(0.1).await;
    assert!(fake.got().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failed_delivery_is_retried_with_backoff() {
    let outbox = Arc::new(MemoryOutbox::default());
    let fake = Fake::failing(2);
    let alerter = start(
        settings(&[("ops", mail_entry())]),
        outbox.clone(),
        &[("ops", Kind::Mail, Target::Mail, fake.clone())],
    );
    alerter.raise(&change(State::Ok, State::Error));
    run_for(0.5).await;
    assert!(fake.got().is_empty());
    let stored = Delivery::decode(&outbox.entries().unwrap()[0].1).unwrap();
    assert_eq!(
        stored.failures, 1,
        "the failure count is kept in the outbox"
    );
    // Retries at 1 s and then 2 s later.
    run_for(1.0).await;
    assert!(fake.got().is_empty());
    run_for(2.0).await;
    assert_eq!(fake.got(), ["db ok->error"]);
    assert_eq!(alerter.count(Kind::Mail, Outcome::Failed), 2);
    assert_eq!(alerter.count(Kind::Mail, Outcome::Retried), 2);
    assert!(outbox.entries().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_delivery_is_given_up_after_its_age() {
    let outbox = Arc::new(MemoryOutbox::default());
    let fake = Fake::failing(u32::MAX);
    let alerter = start(
        settings(&[("ops", mail_entry())]),
        outbox.clone(),
        &[("ops", Kind::Mail, Target::Mail, fake.clone())],
    );
    alerter.raise(&change(State::Ok, State::Error));
    run_for(19.0).await;
    assert_eq!(alerter.count(Kind::Mail, Outcome::GaveUp), 0);
    run_for(2.0).await;
    assert_eq!(alerter.count(Kind::Mail, Outcome::GaveUp), 1);
    assert!(outbox.entries().unwrap().is_empty());
    let status = alerter.status();
    assert_eq!(status[0].pending, 0);
    assert!(
        status[0]
            .last_error
            .as_ref()
            .unwrap()
            .message
            .contains("500")
    );
}

#[tokio::test(start_paused = true)]
async fn a_hanging_back_end_delays_no_other() {
    let hanging = Arc::new(Fake {
        hang: true,
        ..Fake::default()
    });
    let (mail, other) = (Arc::new(Fake::default()), Arc::new(Fake::default()));
    let mut ops = mail_entry();
    ops.webhook = Some("http://h/".into());
    let alerter = start(
        settings(&[("ops", ops), ("dev", mail_entry())]),
        Arc::default(),
        &[
            ("ops", Kind::Webhook, Target::Webhook, hanging.clone()),
            ("ops", Kind::Mail, Target::Mail, mail.clone()),
            ("dev", Kind::Mail, Target::Mail, other.clone()),
        ],
    );
    alerter.raise(&change(State::Ok, State::Error));
    alerter.raise(&change(State::Error, State::Ok));
    run_for(0.1).await;
    assert_eq!(mail.got(), ["db ok->error", "db error->ok"]);
    assert_eq!(other.got(), ["db ok->error", "db error->ok"]);
    run_for(10.5).await;
    let status = alerter.status();
    let ops = status.iter().find(|e| e.name == "ops").unwrap();
    assert!(
        ops.last_error
            .as_ref()
            .unwrap()
            .message
            .contains("timed out")
    );
    assert_eq!(ops.pending, 2, "both webhook deliveries wait, in order");
}

#[tokio::test(start_paused = true)]
async fn the_outbox_is_replayed_in_order_at_start() {
    let outbox = Arc::new(MemoryOutbox::default());
    for (from, to) in [(State::Ok, State::Error), (State::Error, State::Ok)] {
        let delivery = Delivery {
            entry: "ops".into(),
            target: Target::Mail,
            alert: Alert::from_change(&change(from, to)),
            created: 0,
            failures: 3,
        };
        outbox.push(&delivery.encode()).unwrap();
    }
    let fake = Arc::new(Fake::default());
    let _alerter = start(
        settings(&[("ops", mail_entry())]),
        outbox.clone(),
        &[("ops", Kind::Mail, Target::Mail, fake.clone())],
    );
    run_for(0.1).await;
    assert_eq!(fake.got(), ["db ok->error", "db error->ok"]);
    assert!(outbox.entries().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_alert_for_a_removed_back_end_is_dropped_at_start() {
    let outbox = Arc::new(MemoryOutbox::default());
    let delivery = Delivery {
        entry: "gone".into(),
        target: Target::Webhook,
        alert: Alert::sample(0),
        created: 0,
        failures: 0,
    };
    outbox.push(&delivery.encode()).unwrap();
    outbox.push(b"not json").unwrap();
    let _alerter = start(settings(&[]), outbox.clone(), &[]);
    assert!(outbox.entries().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn on_error_and_on_ok_run_in_order_through_one_queue() {
    let (demote, promote) = (Arc::new(Fake::default()), Arc::new(Fake::default()));
    let entry = Entry {
        on_ok: Some("promote".into()),
        on_error: Some("demote".into()),
        ..Entry::default()
    };
    let alerter = start(
        settings(&[("ha", entry)]),
        Arc::default(),
        &[
            ("ha", Kind::Command, Target::OnError, demote.clone()),
            ("ha", Kind::Command, Target::OnOk, promote.clone()),
        ],
    );
    alerter.raise(&change(State::Ok, State::Error));
    alerter.raise(&change(State::Error, State::Ok));
    run_for(0.1).await;
    assert_eq!(demote.got(), ["db ok->error"]);
    assert_eq!(promote.got(), ["db error->ok"]);
}

#[tokio::test]
async fn every_configured_target_gets_a_back_end() {
    let mut entry = mail_entry();
    entry.script = Some("/bin/true".into());
    entry.on_ok = Some("true".into());
    let shared = Arc::new(Shared::new(settings(&[("ops", entry)])).unwrap());
    let all = backends(&shared);
    let keys: Vec<_> = all.keys().map(|(_, k)| *k).collect();
    assert_eq!(keys, [Kind::Mail, Kind::Script, Kind::Command]);
}

fn reminding_entry() -> Entry {
    Entry {
        repeat: Some(Duration::from_secs(60)),
        ..mail_entry()
    }
}

fn db_now(state: State) -> ViewNow {
    ViewNow {
        name: "db".into(),
        template: 0,
        state,
        incident: 1,
        since: 0,
        failed: vec![],
    }
}

#[tokio::test(start_paused = true)]
async fn reminders_go_out_on_time_until_acknowledged_and_are_counted_in_the_outbox() {
    let outbox = Arc::new(MemoryOutbox::default());
    let fake = Arc::new(Fake::default());
    let fakes = [("ops", Kind::Mail, Target::Mail, fake.clone())];
    let alerter = start(
        settings(&[("ops", reminding_entry())]),
        outbox.clone(),
        &fakes,
    );
    alerter.raise(&change(State::Ok, State::Error));
    run_for(59.0).await;
    assert_eq!(fake.got(), ["db ok->error"]);
    run_for(2.0).await;
    assert_eq!(fake.got(), ["db ok->error", "db ok->error"], "reminder 1");
    let saved = outbox.entries().unwrap();
    let record = Record::decode(&saved[0].1).unwrap();
    assert_eq!(record.reminders["ops"], 1);
    let ack = Acknowledgement {
        name: Arc::from("db"),
        author: "alice".into(),
        comment: "on it".into(),
        at: 0,
    };
    alerter.acknowledged(db_now(State::Error), &ack);
    run_for(600.0).await;
    assert_eq!(
        fake.got().len(),
        3,
        "the ack, then nothing: {:?}",
        fake.got()
    );
}

#[tokio::test(start_paused = true)]
async fn a_restart_resumes_reminders_where_the_saved_record_left_them() {
    let outbox = Arc::new(MemoryOutbox::default());
    let first = Arc::new(Fake::default());
    let clock = clock();
    let alerter = start_on(
        clock.clone(),
        settings(&[("ops", reminding_entry())]),
        outbox.clone(),
        &[("ops", Kind::Mail, Target::Mail, first.clone())],
    );
    alerter.raise(&change(State::Ok, State::Error));
    run_for(61.0).await;
    assert_eq!(first.got().len(), 2, "the alert and reminder 1");
    drop(alerter);
    let second = Arc::new(Fake::default());
    let restarted = start_on(
        clock,
        settings(&[("ops", reminding_entry())]),
        outbox.clone(),
        &[("ops", Kind::Mail, Target::Mail, second.clone())],
    );
    restarted.resume(vec![db_now(State::Error)]);
    run_for(30.0).await;
    assert!(
        second.got().is_empty(),
        "nothing sent twice: {:?}",
        second.got()
    );
    run_for(30.0).await;
    assert_eq!(second.got(), ["db ok->error"], "reminder 2 on time");
}
