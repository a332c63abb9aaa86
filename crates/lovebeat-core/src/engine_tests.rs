//! The engine's rules, one per test: the Go lovebeat's state-machine
//! scenarios (§9.3, adapted to warning and error timeouts), views and
//! incidents, and property tests over random command sequences.

use proptest::prelude::*;

use super::*;
use crate::State;
use crate::auto::Algorithm;

pub(super) const ERR: TimeoutKind = TimeoutKind::Err;
pub(super) const WARN: TimeoutKind = TimeoutKind::Warn;

pub(super) fn engine() -> Engine {
    Engine::new(EngineConfig::default(), 0)
}

fn with_views(views: Vec<ViewTemplate>) -> Engine {
    Engine::new(
        EngineConfig {
            views,
            ..EngineConfig::default()
        },
        0,
    )
}

fn test_alarm() -> ViewTemplate {
    ViewTemplate::glob("testalarm", None, &["test.*".to_owned()], &[]).unwrap()
}

pub(super) fn state(e: &Engine, name: &str) -> State {
    e.service(name).unwrap().record.state
}

fn view_state(e: &Engine, name: &str) -> (State, u64) {
    let v = e.view(name).unwrap().record;
    (v.state, v.incident)
}

fn events(e: &mut Engine) -> Vec<Event> {
    e.take_changes().events
}

fn state_changes(e: &mut Engine) -> Vec<(String, State, State)> {
    events(e)
        .into_iter()
        .filter_map(|ev| match ev {
            Event::ServiceStateChanged { name, from, to, .. } => Some((name.to_string(), from, to)),
            Event::ViewStateChanged(c) => Some((format!("view:{}", c.name), c.from, c.to)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_beat_creates_the_service() {
    let mut e = engine();
    e.beat(1000, "test");
    let s = e.service("test").unwrap().record;
    assert_eq!(s.last_beat, Some(1000));
    assert_eq!(s.created, 1000);
    assert_eq!(s.state, State::Ok);
    assert_eq!(
        events(&mut e)[0],
        Event::ServiceAdded {
            name: "test".into()
        }
    );
}

#[test]
fn a_timeout_alone_creates_a_new_service() {
    let mut e = engine();
    e.set_timeout(0, "test", ERR, Timeout::After(5000));
    assert_eq!(state(&e, "test"), State::New);
    assert_eq!(e.next_deadline(), Some(5000));
    e.tick(5000);
    assert_eq!(state(&e, "test"), State::Error);
}

#[test]
fn a_service_expires_once() {
    let mut e = engine();
    e.set_timeout(0, "test", ERR, Timeout::After(1000));
    e.beat(0, "test");
    e.take_changes();
    e.tick(999);
    assert_eq!(state_changes(&mut e), []);
    e.tick(1000);
    assert_eq!(
        state_changes(&mut e),
        [("test".into(), State::Ok, State::Error)]
    );
    e.tick(2000);
    assert_eq!(state_changes(&mut e), []);
}

#[test]
fn warning_comes_before_error() {
    let mut e = engine();
    e.set_timeout(0, "svc", WARN, Timeout::After(1000));
    e.set_timeout(0, "svc", ERR, Timeout::After(2000));
    e.beat(0, "svc");
    e.take_changes();
    assert_eq!(e.next_deadline(), Some(1000));
    e.tick(1000);
    assert_eq!(state(&e, "svc"), State::Warning);
    e.tick(2000);
    assert_eq!(state(&e, "svc"), State::Error);
    e.beat(2500, "svc");
    assert_eq!(state(&e, "svc"), State::Ok);
}

#[test]
fn fast_beats_all_count() {
    let mut e = engine();
    e.set_timeout(0, "test", ERR, Timeout::After(10_000));
    for t in [0, 1000, 1100, 2000, 2900] {
        e.beat(t, "test");
    }
    let s = e.service("test").unwrap().record;
    assert_eq!(s.beats, 5);
    assert_eq!(s.last_beat, Some(2900));
    assert_eq!(s.history.to_vec(), [1000, 1000]);
}

#[test]
fn a_service_that_expired_while_muted_is_in_error_when_unmuted() {
    let mut e = engine();
    e.set_timeout(0, "test", ERR, Timeout::After(10_000));
    e.beat(0, "test");
    e.take_changes();
    e.mute(5000, "test");
    assert_eq!(
        state_changes(&mut e),
        [("test".into(), State::Ok, State::Muted)]
    );
    e.mute(5000, "test");
    e.tick(5000);
    assert_eq!(state_changes(&mut e), []);
    e.tick(12_000);
    assert_eq!(state_changes(&mut e), []);
    e.unmute(12_000, "test");
    assert_eq!(
        state_changes(&mut e),
        [("test".into(), State::Muted, State::Error)]
    );
    e.unmute(12_000, "test");
    assert_eq!(state_changes(&mut e), []);
}

#[test]
fn deleting_a_service_removes_it_once() {
    let mut e = engine();
    e.set_timeout(0, "test", ERR, Timeout::After(1000));
    e.beat(0, "test");
    e.take_changes();
    assert!(e.delete(1000, "test"));
    assert!(!e.contains("test"));
    assert!(
        matches!(&events(&mut e)[..], [Event::ServiceRemoved { record }] if record.state == State::Ok)
    );
    assert!(!e.delete(1000, "test"));
    assert_eq!(events(&mut e), []);
    e.tick(5000);
    assert_eq!(events(&mut e), []);
    assert_eq!(e.counts().total(), 0);
}

#[test]
fn a_view_restored_from_the_store_keeps_counting_incidents() {
    let restored = ViewRecord {
        name: "testalarm".into(),
        state: State::Ok,
        incident: 4,
        last_state_change: 0,
    };
    let config = EngineConfig {
        views: vec![test_alarm()],
        ..EngineConfig::default()
    };
    let mut e = Engine::restore(config, 0, Vec::new(), vec![restored]);
    e.set_timeout(0, "test.service", ERR, Timeout::After(1000));
    e.beat(0, "test.service");
    assert_eq!(view_state(&e, "testalarm"), (State::Ok, 4));
    e.take_changes();
    e.tick(1000);
    assert_eq!(
        state_changes(&mut e),
        [
            ("test.service".into(), State::Ok, State::Error),
            ("view:testalarm".into(), State::Ok, State::Error)
        ]
    );
    assert_eq!(view_state(&e, "testalarm"), (State::Error, 5));
}

#[test]
fn deleting_the_failing_member_clears_the_view() {
    let mut e = with_views(vec![test_alarm()]);
    e.set_timeout(0, "test.service", ERR, Timeout::After(1000));
    e.beat(0, "test.service");
    e.tick(1000);
    assert_eq!(view_state(&e, "testalarm"), (State::Error, 1));
    e.take_changes();
    e.delete(1000, "test.service");
    let evs = events(&mut e);
    assert!(matches!(evs[0], Event::ServiceRemoved { .. }));
    assert!(
        matches!(&evs[1], Event::ViewStateChanged(c) if c.from == State::Error && c.to == State::Ok)
    );
    assert_eq!(e.view("testalarm").unwrap().members, 0);
}

#[test]
fn a_view_with_members_cannot_be_deleted() {
    let mut e = with_views(vec![test_alarm()]);
    e.beat(0, "test.service");
    assert_eq!(
        e.delete_view("testalarm"),
        Err(DeleteViewError::HasMembers(1))
    );
    e.delete(0, "test.service");
    assert_eq!(e.delete_view("testalarm"), Ok(()));
    assert!(e.view("testalarm").is_none());
    assert_eq!(e.delete_view("testalarm"), Err(DeleteViewError::NotFound));
}

#[test]
fn only_a_failing_view_can_be_acknowledged_and_that_is_an_event() {
    let mut e = with_views(vec![test_alarm()]);
    let ack = |name: &str| Acknowledgement {
        name: name.into(),
        author: "alice".into(),
        comment: "on it".into(),
        at: 5,
    };
    e.beat(0, "test.service");
    assert_eq!(e.acknowledge(ack("nothing")), Err(AckRefused::NotFound));
    assert_eq!(
        e.acknowledge(ack("testalarm")),
        Err(AckRefused::NotFailing(State::Ok))
    );
    e.take_changes();
    e.fail(1, "test.service", Severity::Error, "disk full");
    assert_eq!(e.acknowledge(ack("testalarm")), Ok(()));
    let evs = events(&mut e);
    assert!(
        evs.contains(&Event::ViewAcknowledged(ack("testalarm"))),
        "{evs:?}"
    );
}

#[test]
fn a_view_born_failing_is_incident_one() {
    let mut e = with_views(vec![test_alarm()]);
    e.take_changes();
    e.set_timeout(0, "test.service", ERR, Timeout::Always);
    e.beat(0, "test.service");
    assert_eq!(view_state(&e, "testalarm"), (State::Error, 1));
    let evs = events(&mut e);
    assert!(matches!(&evs[0], Event::ServiceAdded { .. }));
    assert!(evs.iter().any(
        |ev| matches!(ev, Event::ViewStateChanged(c) if c.from == State::Ok && c.to == State::Error && c.incident == 1)
    ));
}

#[test]
fn a_templated_view_is_added_before_its_first_service() {
    let template = ViewTemplate::glob("server-$name", Some("app.$name.*"), &[], &[]).unwrap();
    let mut e = with_views(vec![template]);
    e.set_timeout(0, "app.alpha.health", ERR, Timeout::Always);
    let evs = events(&mut e);
    assert_eq!(
        evs[0],
        Event::ViewAdded {
            name: "server-alpha".into()
        }
    );
    assert!(matches!(&evs[1], Event::ServiceAdded { .. }));
    assert!(
        matches!(&evs[2], Event::ViewStateChanged(c) if c.from == State::New && c.to == State::Ok)
    );
    assert_eq!(view_state(&e, "server-alpha"), (State::Error, 1));
}

#[test]
fn new_to_ok_is_not_an_incident() {
    let mut e = with_views(vec![test_alarm()]);
    e.set_timeout(0, "test.a", ERR, Timeout::After(1000));
    e.beat(0, "test.a");
    assert_eq!(view_state(&e, "testalarm"), (State::Ok, 0));
    e.tick(1000);
    assert_eq!(view_state(&e, "testalarm"), (State::Error, 1));
}

#[test]
fn a_view_is_its_worst_member_and_one_incident_spans_warning_and_error() {
    let mut e = with_views(vec![test_alarm()]);
    e.set_timeout(0, "test.a", WARN, Timeout::After(1000));
    e.set_timeout(0, "test.a", ERR, Timeout::After(3000));
    e.set_timeout(0, "test.b", WARN, Timeout::After(2000));
    e.beat(0, "test.a");
    e.beat(0, "test.b");
    e.tick(1000);
    assert_eq!(view_state(&e, "testalarm"), (State::Warning, 1));
    e.tick(3000);
    assert_eq!(view_state(&e, "testalarm"), (State::Error, 1));
    let failed = e.view("testalarm").unwrap().failed;
    assert_eq!(failed.len(), 2);
    e.beat(3500, "test.a");
    assert_eq!(view_state(&e, "testalarm"), (State::Warning, 1));
    e.beat(3500, "test.b");
    assert_eq!(view_state(&e, "testalarm"), (State::Ok, 1));
    e.tick(4500);
    assert_eq!(view_state(&e, "testalarm"), (State::Warning, 2));
}

#[test]
fn muted_and_new_members_count_as_ok() {
    let mut e = with_views(vec![test_alarm()]);
    e.set_timeout(0, "test.a", ERR, Timeout::Always);
    e.mute(0, "test.a");
    e.set_timeout(0, "test.b", ERR, Timeout::After(10_000));
    assert_eq!(view_state(&e, "testalarm").0, State::Ok);
}

#[test]
fn a_view_is_republished_when_its_members_change_without_a_state_change() {
    let mut e = with_views(vec![test_alarm()]);
    e.set_timeout(0, "test.a", ERR, Timeout::Always);
    e.take_changes();
    e.beat(1, "test.b");
    assert_eq!(
        e.take_changes().views,
        ["testalarm".into()],
        "a member joined"
    );
    e.set_timeout(2, "test.b", ERR, Timeout::Always);
    assert_eq!(view_state(&e, "testalarm").0, State::Error);
    assert_eq!(
        e.take_changes().views,
        ["testalarm".into()],
        "a second failure"
    );
    let v = e.view("testalarm").unwrap();
    assert_eq!((v.members, v.error, v.failed.len()), (2, 2, 2));
}

#[test]
fn a_static_view_exists_before_its_members() {
    let views = vec![ViewTemplate::regex("backups", "backup").unwrap()];
    let e = with_views(views);
    let v = e.view("backups").unwrap();
    assert_eq!((v.record.state, v.members), (State::Ok, 0));
}

#[test]
fn auto_sets_no_deadline_until_the_estimator_has_enough_history() {
    let mut e = engine();
    e.autobeat(0, "job");
    assert_eq!(e.next_deadline(), None);
    for i in 1..5 {
        e.autobeat(i * 60_000, "job");
    }
    assert_eq!(e.service("job").unwrap().auto_timeout, None);
    e.autobeat(5 * 60_000, "job");
    assert_eq!(e.service("job").unwrap().auto_timeout, Some(90_000));
    assert_eq!(e.next_deadline(), Some(5 * 60_000 + 90_000));
    e.tick(5 * 60_000 + 90_000);
    assert_eq!(state(&e, "job"), State::Error);
}

#[test]
fn adaptive_auto_needs_one_interval() {
    let config = EngineConfig {
        algorithm: Algorithm::Adaptive,
        ..EngineConfig::default()
    };
    let mut e = Engine::new(config, 0);
    e.autobeat(0, "job");
    assert_eq!(e.next_deadline(), None);
    e.beat(60_000, "job");
    assert_eq!(e.service("job").unwrap().auto_timeout, Some(61_000));
    assert_eq!(e.next_deadline(), Some(121_000));
}

#[test]
fn a_service_can_pick_its_own_estimator() {
    let mut e = engine();
    for i in 0..=5 {
        e.autobeat(i * 60_000, "job");
    }
    assert_eq!(e.service("job").unwrap().auto_timeout, Some(90_000));
    e.set_algorithm(5 * 60_000, "job", Some(Algorithm::Rhythm));
    let info = e.service("job").unwrap();
    assert_eq!(info.auto_algorithm, Algorithm::Rhythm);
    assert_eq!(info.auto_timeout, Some(120_000));
    assert_eq!(info.record.auto_algorithm, Some(Algorithm::Rhythm));
    e.set_algorithm(5 * 60_000, "job", None);
    assert_eq!(e.service("job").unwrap().auto_timeout, Some(90_000));
}

#[test]
fn auto_services_say_why_their_timeout_is_what_it_is() {
    let mut e = engine();
    e.beat(0, "fixed");
    assert_eq!(e.service("fixed").unwrap().auto_reason, None);
    for i in 0..=5 {
        e.autobeat(i * 60_000, "job");
    }
    let reason = e.service("job").unwrap().auto_reason.unwrap();
    assert!(reason.starts_with("1.5 × the median"), "{reason}");
}

#[test]
fn leaving_auto_drops_the_rhythm_state() {
    let mut e = engine();
    e.set_algorithm(0, "job", Some(Algorithm::Rhythm));
    for i in 0..=5 {
        e.autobeat(i * 60_000, "job");
    }
    assert!(e.service_record("job").unwrap().rhythm.is_some());
    e.set_timeout(6 * 60_000, "job", ERR, Timeout::After(1000));
    assert!(e.service_record("job").unwrap().rhythm.is_none());
}

#[test]
fn a_failure_holds_until_the_next_good_beat() {
    let mut e = engine();
    e.fail(0, "backup", Severity::Error, "disk full");
    let s = e.service("backup").unwrap().record;
    assert_eq!(s.state, State::Error);
    assert_eq!(s.failure.as_ref().unwrap().message, "disk full");
    e.tick(1_000_000);
    assert_eq!(state(&e, "backup"), State::Error);
    e.beat(1_000_000, "backup");
    assert_eq!(state(&e, "backup"), State::Ok);
}

#[test]
fn restore_measures_deadlines_from_the_last_beat() {
    let mut e = engine();
    e.set_timeout(0, "late", ERR, Timeout::After(10_000));
    e.set_timeout(0, "fine", ERR, Timeout::After(100_000));
    e.beat(0, "late");
    e.beat(0, "fine");
    let records: Vec<ServiceRecord> = ["late", "fine"]
        .iter()
        .map(|n| e.service_record(n).unwrap())
        .collect();
    let mut e = Engine::restore(EngineConfig::default(), 50_000, records, Vec::new());
    assert_eq!(state(&e, "late"), State::Error);
    assert_eq!(state(&e, "fine"), State::Ok);
    assert_eq!(e.next_deadline(), Some(100_000));
    let evs = events(&mut e);
    assert_eq!(evs.len(), 1, "only the state change is reported: {evs:?}");
}

#[test]
fn restore_names_only_the_services_it_changed() {
    let mut e = engine();
    e.set_timeout(0, "late", ERR, Timeout::After(10_000));
    e.set_timeout(0, "fine", ERR, Timeout::After(100_000));
    let records: Vec<ServiceRecord> = ["late", "fine"]
        .iter()
        .map(|n| e.service_record(n).unwrap())
        .collect();
    let mut e = Engine::restore(EngineConfig::default(), 50_000, records, Vec::new());
    assert_eq!(e.take_changes().services, ["late".into()] as [Arc<str>; 1]);
}

#[test]
fn changes_name_each_dirty_service_once() {
    let mut e = engine();
    for t in 0..10 {
        e.beat(t, "a");
        e.beat(t, "b");
    }
    let mut changed = e.take_changes().services;
    changed.sort();
    assert_eq!(changed, ["a".into(), "b".into()] as [Arc<str>; 2]);
    assert!(e.take_changes().services.is_empty());
}

/// One random command for the property tests.
#[derive(Debug, Clone)]
enum Op {
    Beat(usize),
    Timeout(usize, TimeoutKind, Timeout),
    Fail(usize),
    Mute(usize),
    Unmute(usize),
    Delete(usize),
    Advance(i64),
}

const NAMES: [&str; 4] = ["job.a", "job.b", "other.c", "job.d"];

fn op() -> impl Strategy<Value = Op> {
    let name = 0..NAMES.len();
    let timeout = prop_oneof![
        Just(Timeout::Never),
        Just(Timeout::Always),
        Just(Timeout::Auto),
        (1u64..5000).prop_map(Timeout::After),
    ];
    let kind = prop_oneof![Just(WARN), Just(ERR)];
    prop_oneof![
        4 => name.clone().prop_map(Op::Beat),
        2 => (name.clone(), kind, timeout).prop_map(|(n, k, t)| Op::Timeout(n, k, t)),
        1 => name.clone().prop_map(Op::Fail),
        1 => name.clone().prop_map(Op::Mute),
        1 => name.clone().prop_map(Op::Unmute),
        1 => name.prop_map(Op::Delete),
        4 => (0i64..3000).prop_map(Op::Advance),
    ]
}

fn apply(e: &mut Engine, now: &mut Millis, op: &Op) {
    match *op {
        Op::Beat(n) => e.beat(*now, NAMES[n]),
        Op::Timeout(n, k, t) => e.set_timeout(*now, NAMES[n], k, t),
        Op::Fail(n) => e.fail(*now, NAMES[n], Severity::Error, "failed"),
        Op::Mute(n) => e.mute(*now, NAMES[n]),
        Op::Unmute(n) => e.unmute(*now, NAMES[n]),
        Op::Delete(n) => {
            e.delete(*now, NAMES[n]);
        }
        Op::Advance(ms) => *now += ms,
    }
    e.tick(*now);
}

/// Everything that must hold after every command and tick.
fn check_invariants(e: &Engine, now: Millis) {
    let mut counts = StateCounts::default();
    for s in e.services.iter().flatten() {
        assert_eq!(
            s.record.state,
            s.state_at(now),
            "{} is stale",
            s.record.name
        );
        counts.add(s.record.state);
        if let Some(deadline) = s.next_deadline(now) {
            assert!(deadline > now, "{}: deadline in the past", s.record.name);
            let scheduled = s.scheduled.expect("a future deadline is scheduled");
            assert!(
                scheduled <= deadline,
                "{}: scheduled too late",
                s.record.name
            );
            assert!(e.timers.iter().any(|Reverse(entry)| *entry
                == (scheduled, e.names.get(&s.record.name, &e.services).unwrap())));
        }
    }
    assert_eq!(counts, e.counts());
    for v in e.views() {
        let worst = e
            .services
            .iter()
            .flatten()
            .filter(|s| v.record.name.as_ref() == "jobs" && s.record.name.starts_with("job."))
            .map(|s| s.record.state)
            .filter(|s| s.is_failing())
            .max()
            .unwrap_or(State::Ok);
        assert_eq!(v.record.state, worst, "view is its worst member");
    }
    if let Some(next) = e.next_deadline() {
        assert!(next > now, "no deadline in the past is left unreported");
    }
}

proptest! {
    #[test]
    fn invariants_hold_for_random_command_sequences(ops in proptest::collection::vec(op(), 1..80)) {
        let views = vec![ViewTemplate::glob("jobs", Some("job.*"), &[], &[]).unwrap()];
        let mut e = with_views(views);
        let mut now = 0;
        for op in &ops {
            apply(&mut e, &mut now, op);
            check_invariants(&e, now);
        }
    }

    #[test]
    fn incidents_never_decrease(ops in proptest::collection::vec(op(), 1..80)) {
        let views = vec![ViewTemplate::glob("jobs", Some("job.*"), &[], &[]).unwrap()];
        let mut e = with_views(views);
        let mut now = 0;
        let mut last = 0;
        for op in &ops {
            apply(&mut e, &mut now, op);
            let incident = e.view("jobs").unwrap().record.incident;
            prop_assert!(incident >= last);
            last = incident;
        }
    }
}

/// A service as the tests model it, apart from the engine: what the last
/// commands said, and nothing the engine computed.
#[derive(Debug, Clone, Default)]
struct Shadow {
    since: Millis,
    beat: bool,
    warn: Timeout,
    err: Timeout,
    muted: bool,
    failed: bool,
}

impl Shadow {
    /// The state as a function of deadlines, mute and failures alone.
    fn state(&self, now: Millis) -> State {
        let expired = |t: Timeout| match t {
            Timeout::Never | Timeout::Auto => false,
            Timeout::Always => true,
            Timeout::After(ms) => now >= self.since + ms as Millis,
        };
        match () {
            _ if self.muted => State::Muted,
            _ if self.failed => State::Error,
            _ if expired(self.err) => State::Error,
            _ if expired(self.warn) => State::Warning,
            _ if !self.beat => State::New,
            _ => State::Ok,
        }
    }
}

/// Applies `op` to the shadow model as the engine should; `cap` is the
/// engine's `max_services`.
fn shadow_apply(model: &mut HashMap<&'static str, Shadow>, now: Millis, op: &Op, cap: usize) {
    let name = match *op {
        Op::Advance(_) => return,
        Op::Beat(n) | Op::Timeout(n, ..) | Op::Fail(n) | Op::Mute(n) | Op::Unmute(n) => NAMES[n],
        Op::Delete(n) => {
            model.remove(NAMES[n]);
            return;
        }
    };
    if !model.contains_key(name) && model.len() >= cap {
        return;
    }
    let s = model.entry(name).or_insert_with(|| Shadow {
        since: now,
        ..Shadow::default()
    });
    match *op {
        Op::Beat(_) => {
            (s.since, s.beat, s.failed) = (now, true, false);
        }
        Op::Timeout(_, WARN, t) => s.warn = t,
        Op::Timeout(_, _, t) => s.err = t,
        Op::Fail(_) => s.failed = true,
        Op::Mute(_) => s.muted = true,
        Op::Unmute(_) => s.muted = false,
        Op::Delete(_) | Op::Advance(_) => unreachable!(),
    }
}

/// Like [`op`], without AUTO (whose deadline the estimator decides).
fn fixed_op() -> impl Strategy<Value = Op> {
    op().prop_map(|op| match op {
        Op::Timeout(n, k, Timeout::Auto) => Op::Timeout(n, k, Timeout::Never),
        op => op,
    })
}

proptest! {
    #[test]
    fn state_is_a_function_of_deadlines_mute_and_failures(
        ops in proptest::collection::vec(fixed_op(), 1..80),
    ) {
        let mut e = engine();
        let mut model = HashMap::new();
        let mut now = 0;
        for op in &ops {
            shadow_apply(&mut model, now, op, usize::MAX);
            apply(&mut e, &mut now, op);
            for (name, shadow) in &model {
                prop_assert_eq!(state(&e, name), shadow.state(now), "{} after {:?}", name, op);
            }
            prop_assert_eq!(e.len(), model.len());
        }
    }

    #[test]
    fn new_services_over_the_cap_are_refused_and_existing_ones_keep_working(
        ops in proptest::collection::vec(fixed_op(), 1..80),
    ) {
        let config = EngineConfig { max_services: 2, ..EngineConfig::default() };
        let mut e = Engine::new(config, 0);
        let mut model = HashMap::new();
        let mut now = 0;
        for op in &ops {
            shadow_apply(&mut model, now, op, 2);
            apply(&mut e, &mut now, op);
            prop_assert!(e.len() <= 2);
            prop_assert_eq!(e.len(), model.len());
            for (name, shadow) in &model {
                prop_assert_eq!(state(&e, name), shadow.state(now), "{}", name);
            }
        }
    }

    #[test]
    fn a_restore_brings_back_the_same_states(
        ops in proptest::collection::vec(op(), 1..60),
        later in 0i64..10_000,
    ) {
        let views = vec![ViewTemplate::glob("jobs", Some("job.*"), &[], &[]).unwrap()];
        let mut e = with_views(views.clone());
        let mut now = 0;
        for op in &ops {
            apply(&mut e, &mut now, op);
        }
        let records: Vec<ServiceRecord> = e.services().map(|s| ServiceRecord::clone(&s.record)).collect();
        let view_records: Vec<ViewRecord> = e.views().map(|v| v.record).collect();
        let config = EngineConfig { views, ..EngineConfig::default() };
        let now = now + later;
        e.tick(now);
        let restored = Engine::restore(config, now, records, view_records);
        check_invariants(&restored, now);
        prop_assert_eq!(restored.counts(), e.counts());
        for s in e.services() {
            let name = &s.record.name;
            prop_assert_eq!(state(&restored, name), s.record.state, "{}", name);
        }
        prop_assert_eq!(view_state(&restored, "jobs").0, view_state(&e, "jobs").0);
    }
}

#[test]
fn a_command_over_the_cap_is_counted_and_creates_nothing() {
    let config = EngineConfig {
        max_services: 1,
        ..EngineConfig::default()
    };
    let mut e = Engine::new(config, 0);
    e.beat(0, "a");
    e.beat(0, "b");
    e.autobeat(0, "c");
    e.mute(0, "d");
    assert_eq!((e.len(), e.refused()), (1, 3));
    assert!(!e.contains("b"));
    e.beat(10, "a");
    assert_eq!(e.service("a").unwrap().record.beats, 2);
    e.delete(10, "a");
    e.beat(10, "b");
    assert!(e.contains("b"), "room again after a delete");
}

fn ops_alarm() -> ViewTemplate {
    ViewTemplate::glob("ops", Some("*"), &[], &[])
        .unwrap()
        .with_team(Some("ops".into()))
}

#[test]
fn a_team_label_moves_a_service_into_the_team_s_view() {
    let mut e = with_views(vec![ops_alarm()]);
    e.set_timeout(0, "backup", ERR, Timeout::After(1000));
    e.beat(0, "backup");
    assert!(e.service("backup").unwrap().views.is_empty());
    e.set_team(10, "backup", Some("ops"));
    assert_eq!(
        e.service("backup").unwrap().record.team.as_deref(),
        Some("ops")
    );
    assert_eq!(&*e.service("backup").unwrap().views[0], "ops");
    assert_eq!(e.view("ops").unwrap().members, 1);
    e.tick(1000);
    assert_eq!(view_state(&e, "ops"), (State::Error, 1));
    e.set_team(1001, "backup", Some("dev"));
    assert_eq!(e.view("ops").unwrap().members, 0);
    assert_eq!(view_state(&e, "ops").0, State::Ok);
}

#[test]
fn a_team_is_kept_in_the_record_and_restored_into_its_views() {
    let mut e = with_views(vec![ops_alarm()]);
    e.set_team(0, "backup", Some("ops"));
    let record = e.service_record("backup").unwrap();
    let restored = Engine::restore(
        EngineConfig {
            views: vec![ops_alarm()],
            ..EngineConfig::default()
        },
        5,
        vec![record],
        Vec::new(),
    );
    assert_eq!(restored.view("ops").unwrap().members, 1);
}

#[test]
fn setting_the_same_team_again_changes_nothing() {
    let mut e = engine();
    e.set_team(0, "a", Some("ops"));
    e.take_changes();
    e.set_team(1, "a", Some("ops"));
    assert!(events(&mut e).is_empty());
}
