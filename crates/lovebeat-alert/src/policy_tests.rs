//! The policy on a simulated clock: hold-downs, reminders, acknowledgements
//! and a restart in the middle of each.

use std::sync::Arc;

use super::*;
use crate::retry::RetryPolicy;
use crate::settings::{MailSettings, MailTls};

const S: Millis = 1000;

fn entry(repeat: Option<u64>) -> Entry {
    Entry {
        webhook: Some("http://h/".into()),
        on_error: Some("demote".into()),
        repeat: repeat.map(Duration::from_secs),
        ..Entry::default()
    }
}

/// One view (template 0) listing entry `ops`.
fn settings(hold: u64, view_repeat: Option<u64>, ops: Entry) -> Settings {
    Settings {
        entries: [("ops".to_owned(), ops)].into(),
        views: vec![vec!["ops".to_owned()]],
        policies: vec![ViewPolicy {
            hold: Duration::from_secs(hold),
            repeat: view_repeat.map(Duration::from_secs),
        }],
        view_teams: Vec::new(),
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
        retry: RetryPolicy {
            first: Duration::from_secs(1),
            max: Duration::from_secs(4),
            give_up_after: Duration::from_secs(20),
        },
        timeout: Duration::from_secs(10),
    }
}

fn change(from: State, to: State, incident: u64, at: Millis) -> ViewChange {
    ViewChange {
        name: Arc::from("web"),
        template: 0,
        from,
        to,
        incident,
        at,
        failed: vec![Arc::from("web.a")],
    }
}

/// What a step sends, as `target from->to occasion`.
fn sent(step: &Step) -> Vec<String> {
    step.sends
        .iter()
        .map(|(_, target, a)| {
            let occasion = match &a.occasion {
                Occasion::Change => "change".to_owned(),
                Occasion::Reminder { number, .. } => format!("reminder {number}"),
                Occasion::Acknowledged(ack) => format!("ack by {}", ack.author),
            };
            format!("{target:?} {}->{} {occasion}", a.from, a.to)
        })
        .collect()
}

/// Runs `due` at every whole second from `from` to `to` (inclusive).
fn run(p: &mut Policies, from: Millis, to: Millis) -> Vec<(Millis, String)> {
    let mut out = Vec::new();
    for t in (from..=to).step_by(S as usize) {
        out.extend(sent(&p.due(t)).into_iter().map(|s| (t / S, s)));
    }
    out
}

#[test]
fn a_view_without_for_or_repeat_alerts_at_once_and_is_not_tracked() {
    let mut p = Policies::new(settings(0, None, entry(None)));
    let step = p.observe(&change(State::Ok, State::Error, 1, 0), 0);
    assert_eq!(
        sent(&step),
        ["Webhook ok->error change", "OnError ok->error change"]
    );
    assert!(step.saves.is_empty());
    assert_eq!(p.next_due(), None);
}

#[test]
fn a_flap_shorter_than_for_alerts_nothing() {
    let mut p = Policies::new(settings(60, None, entry(None)));
    let step = p.observe(&change(State::Ok, State::Error, 2, 0), 0);
    assert!(step.sends.is_empty());
    assert_eq!(p.next_due(), Some(60 * S));
    assert!(run(&mut p, S, 30 * S).is_empty());
    let back = p.observe(&change(State::Error, State::Ok, 2, 31 * S), 31 * S);
    assert!(back.sends.is_empty());
    assert!(
        run(&mut p, 32 * S, 200 * S).is_empty(),
        "the flap is forgotten"
    );
}

#[test]
fn a_failure_that_holds_for_the_whole_for_alerts_once_from_when_it_began() {
    let mut p = Policies::new(settings(60, None, entry(None)));
    p.observe(&change(State::Ok, State::Warning, 2, 10 * S), 10 * S);
    p.observe(&change(State::Warning, State::Error, 2, 40 * S), 40 * S);
    let out = run(&mut p, 11 * S, 200 * S);
    assert_eq!(
        out,
        [
            (70, "Webhook ok->error change".to_owned()),
            (70, "OnError ok->error change".to_owned())
        ],
        "counted from the first unhealthy change, announced as one change"
    );
}

#[test]
fn a_recovery_must_hold_too_and_a_relapse_within_it_alerts_nothing() {
    let mut p = Policies::new(settings(60, None, entry(None)));
    p.observe(&change(State::Ok, State::Error, 2, 0), 0);
    run(&mut p, S, 60 * S);
    p.observe(&change(State::Error, State::Ok, 2, 100 * S), 100 * S);
    assert!(run(&mut p, 101 * S, 130 * S).is_empty());
    p.observe(&change(State::Ok, State::Error, 3, 131 * S), 131 * S);
    assert!(
        run(&mut p, 132 * S, 300 * S).is_empty(),
        "still error: nothing"
    );
    p.observe(&change(State::Error, State::Ok, 3, 301 * S), 301 * S);
    assert_eq!(
        run(&mut p, 302 * S, 400 * S),
        [(361, "Webhook error->ok change".to_owned())]
    );
}

#[test]
fn reminders_come_every_repeat_until_acknowledged() {
    let mut p = Policies::new(settings(0, None, entry(Some(3600))));
    let step = p.observe(&change(State::Ok, State::Error, 2, 0), 0);
    assert_eq!(
        sent(&step),
        ["Webhook ok->error change", "OnError ok->error change"]
    );
    assert_eq!(p.next_due(), Some(3600 * S));
    let step = p.due(3600 * S);
    assert_eq!(sent(&step), ["Webhook ok->error reminder 1"]);
    let Occasion::Reminder { failing_since, .. } = step.sends[0].2.occasion else {
        panic!("{step:?}");
    };
    assert_eq!(failing_since, 0);
    assert_eq!(step.saves[0].reminders["ops"], 1, "saved with the count");
    assert!(p.due(3601 * S).sends.is_empty(), "once per period");
    assert_eq!(sent(&p.due(7200 * S)), ["Webhook ok->error reminder 2"]);
    let now = ViewNow {
        name: "web".into(),
        template: 0,
        state: State::Error,
        incident: 2,
        since: 0,
        failed: vec!["web.a".into()],
    };
    let ack = Ack {
        author: "alice".into(),
        comment: "on it".into(),
        at: 7300 * S,
    };
    let step = p.acknowledge(&now, ack).unwrap();
    assert_eq!(sent(&step), ["Webhook error->error ack by alice"]);
    assert_eq!(p.next_due(), None, "no more reminders");
    assert!(p.due(20_000 * S).sends.is_empty());
    p.observe(&change(State::Error, State::Ok, 2, 20_001 * S), 20_001 * S);
    p.observe(&change(State::Ok, State::Error, 3, 20_002 * S), 20_002 * S);
    assert_eq!(
        sent(&p.due((20_002 + 3600) * S)),
        ["Webhook ok->error reminder 1"],
        "a new failure reminds again"
    );
}

#[test]
fn a_view_repeat_wins_over_the_entry_s_and_needs_no_entry_repeat() {
    let mut p = Policies::new(settings(0, Some(60), entry(Some(3600))));
    p.observe(&change(State::Ok, State::Error, 2, 0), 0);
    assert_eq!(p.next_due(), Some(60 * S));
}

#[test]
fn only_a_failing_view_can_be_acknowledged() {
    let mut p = Policies::new(settings(0, None, entry(Some(60))));
    let ok = ViewNow {
        name: "web".into(),
        template: 0,
        state: State::Ok,
        incident: 1,
        since: 0,
        failed: vec![],
    };
    let ack = Ack {
        author: "a".into(),
        comment: String::new(),
        at: 0,
    };
    assert_eq!(
        p.acknowledge(&ok, ack),
        Err(AckError::NotFailing(State::Ok))
    );
}

#[test]
fn a_warning_reminds_only_entries_that_want_warnings() {
    let mut p = Policies::new(settings(0, Some(60), entry(None)));
    p.observe(&change(State::Ok, State::Warning, 2, 0), 0);
    assert!(run(&mut p, S, 600 * S).is_empty());
}

#[test]
fn a_restart_during_a_hold_keeps_counting_from_the_real_change() {
    let mut before = Policies::new(settings(60, None, entry(None)));
    let step = before.observe(&change(State::Ok, State::Error, 2, 10 * S), 10 * S);
    let records = step.saves;
    assert_eq!(records.len(), 1, "the record is saved as the hold starts");
    let mut after = Policies::new(settings(60, None, entry(None)));
    let now = ViewNow {
        name: "web".into(),
        template: 0,
        state: State::Error,
        incident: 2,
        since: 10 * S,
        failed: vec!["web.a".into()],
    };
    assert!(after.resume(records, &[now]).is_empty());
    assert_eq!(after.next_due(), Some(70 * S));
    assert_eq!(
        run(&mut after, 40 * S, 100 * S),
        [
            (70, "Webhook ok->error change".to_owned()),
            (70, "OnError ok->error change".to_owned())
        ]
    );
}

#[test]
fn a_restart_sends_no_reminder_twice_and_one_for_the_periods_it_missed() {
    let mut before = Policies::new(settings(0, None, entry(Some(60))));
    before.observe(&change(State::Ok, State::Error, 2, 0), 0);
    let record = before.due(60 * S).saves.pop().unwrap();
    let mut after = Policies::new(settings(0, None, entry(Some(60))));
    let now = ViewNow {
        name: "web".into(),
        template: 0,
        state: State::Error,
        incident: 2,
        since: 0,
        failed: vec!["web.a".into()],
    };
    assert!(after.resume(vec![record], &[now]).is_empty());
    assert_eq!(after.next_due(), Some(120 * S), "reminder 1 was sent");
    assert_eq!(
        run(&mut after, 300 * S, 330 * S),
        [(300, "Webhook ok->error reminder 5".to_owned())]
    );
}

#[test]
fn a_pending_delivery_counts_in_the_record_it_was_sent_before() {
    let mut p = Policies::new(settings(0, None, entry(Some(60))));
    let record = p.observe(&change(State::Ok, State::Error, 2, 0), 0).saves[0].clone();
    assert_eq!(record.state, State::Ok, "saved before the announcement");
    let announced = p.observe(&change(State::Ok, State::Error, 2, 0), 0);
    assert!(announced.sends.is_empty(), "already announced");
    let mut stale = record.clone();
    let change_alert = Alert::from_change(&change(State::Ok, State::Error, 2, 0));
    stale.adopt("ops", &change_alert);
    assert_eq!(stale.state, State::Error);
    let reminder = p.due(60 * S).sends.remove(0).2;
    stale.adopt("ops", &reminder);
    assert_eq!(stale.reminders["ops"], 1);
    stale.adopt("ops", &change_alert);
    assert_eq!(
        stale.state,
        State::Error,
        "a change from another state is not adopted"
    );
    assert_eq!(Record::decode(&stale.encode()).unwrap(), stale);
    assert!(
        crate::outbox::Delivery::decode(&stale.encode()).is_err(),
        "a record is never taken for a delivery"
    );
}

#[test]
fn records_of_views_gone_or_no_longer_tracked_are_dropped_at_resume() {
    let mut before = Policies::new(settings(60, None, entry(None)));
    let records = before
        .observe(&change(State::Ok, State::Error, 2, 0), 0)
        .saves;
    let mut gone = Policies::new(settings(60, None, entry(None)));
    assert_eq!(gone.resume(records.clone(), &[]), ["web"]);
    let mut untracked = Policies::new(settings(0, None, entry(None)));
    let now = ViewNow {
        name: "web".into(),
        template: 0,
        state: State::Error,
        incident: 2,
        since: 0,
        failed: vec![],
    };
    assert_eq!(untracked.resume(records, &[now]), ["web"]);
    assert_eq!(untracked.next_due(), None);
}
