//! `[database] startup_grace`: after a restart, view state changes caused
//! by the downtime are held back for a while before anyone is told.
//!
//! A restore brings every service up to the present, so services whose
//! deadline passed while lovebeat was down turn late at once, and their
//! views change state. With a grace period, the actor takes those
//! `ViewStateChanged` events out of what it publishes (alerts, the
//! websocket and the event log all consume published events), and so every
//! later change of the same views until the grace ends. When it ends, each
//! held view whose state still differs from the state it had before the
//! restart is published as one `ViewStateChanged` from the old state to the
//! current one (with the current incident number and failed members); a
//! view that recovered meanwhile (its services beat again) is published as
//! nothing. Readers of the snapshot (`/status`, the API) always see the
//! true states; only the announcements wait. Views that the restore did not
//! change are not held. If lovebeat stops during the grace, what is held
//! is published at shutdown, so no failure goes unannounced.

use std::collections::BTreeMap;
use std::sync::Arc;

use lovebeat_core::{Engine, Event, Millis, ViewChange};

/// The views held back, each with its first held change (whose `from` is
/// the state before the restart).
#[derive(Debug)]
pub(crate) struct Grace {
    /// When the grace ends (ms since the epoch).
    pub until: Millis,
    held: BTreeMap<Arc<str>, ViewChange>,
}

impl Grace {
    pub fn new(until: Millis) -> Grace {
        Grace {
            until,
            held: BTreeMap::new(),
        }
    }

    /// Takes out of `events` the view changes to hold: all of them when
    /// they come from the restore (`restoring`), else those of views
    /// already held.
    pub fn hold(&mut self, events: &mut Vec<Event>, restoring: bool) {
        events.retain(|event| {
            let Event::ViewStateChanged(change) = event else {
                return true;
            };
            if !restoring && !self.held.contains_key(&change.name) {
                return true;
            }
            self.held
                .entry(change.name.clone())
                .or_insert_with(|| change.clone());
            false
        });
    }

    /// The net change of every held view that still differs from its
    /// state before the restart, as of `now`.
    pub fn release(self, engine: &Engine, now: Millis) -> Vec<Event> {
        let mut events = Vec::new();
        for (name, first) in self.held {
            let Some(view) = engine.view(&name) else {
                continue;
            };
            if view.record.state == first.from {
                continue;
            }
            events.push(Event::ViewStateChanged(ViewChange {
                name,
                template: view.template,
                from: first.from,
                to: view.record.state,
                incident: view.record.incident,
                at: now,
                failed: view.failed,
            }));
        }
        events
    }
}

/// An engine restored at `now` with service `a` (timeout 10 s, last beat
/// at `beat`) in view `v`, which was ok: late at once when `now` is over
/// 10 s after `beat`. For the tests here and the actor's.
#[cfg(test)]
pub(crate) fn restored(beat: Millis, now: Millis) -> Engine {
    use lovebeat_core::pattern::ViewTemplate;
    use lovebeat_core::{EngineConfig, ServiceRecord, State, Timeout, ViewRecord};

    let config = EngineConfig {
        views: vec![ViewTemplate::regex("v", "^a$").unwrap()],
        ..EngineConfig::default()
    };
    let service = ServiceRecord {
        last_beat: Some(beat),
        err_timeout: Timeout::After(10_000),
        state: State::Ok,
        beats: 1,
        ..ServiceRecord::new("a".into(), beat)
    };
    let view = ViewRecord {
        name: "v".into(),
        state: State::Ok,
        incident: 1,
        last_state_change: 0,
    };
    Engine::restore(config, now, vec![service], vec![view])
}

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_core::State;

    fn view_changes(events: &[Event]) -> Vec<(State, State, u64)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::ViewStateChanged(c) => Some((c.from, c.to, c.incident)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_restore_s_view_changes_are_held() {
        let mut engine = restored(0, 60_000);
        let mut events = engine.take_changes().events;
        assert_eq!(view_changes(&events), [(State::Ok, State::Error, 2)]);
        let mut grace = Grace::new(70_000);
        grace.hold(&mut events, true);
        assert_eq!(view_changes(&events), []);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::ServiceStateChanged { .. }))
        );
    }

    #[test]
    fn a_view_still_failing_at_the_end_is_announced_once() {
        let mut engine = restored(0, 60_000);
        let mut grace = Grace::new(70_000);
        grace.hold(&mut engine.take_changes().events, true);
        let released = grace.release(&engine, 70_000);
        assert_eq!(view_changes(&released), [(State::Ok, State::Error, 2)]);
    }

    #[test]
    fn a_view_that_recovered_during_the_grace_is_not_announced() {
        let mut engine = restored(0, 60_000);
        let mut grace = Grace::new(70_000);
        grace.hold(&mut engine.take_changes().events, true);
        engine.beat(65_000, "a");
        let mut events = engine.take_changes().events;
        grace.hold(&mut events, false);
        assert_eq!(view_changes(&events), [], "the recovery is held too");
        assert_eq!(view_changes(&grace.release(&engine, 70_000)), []);
    }

    #[test]
    fn changes_of_views_not_held_pass() {
        let mut engine = restored(0, 5_000);
        let mut grace = Grace::new(70_000);
        grace.hold(&mut engine.take_changes().events, true);
        engine.tick(10_000);
        let mut events = engine.take_changes().events;
        grace.hold(&mut events, false);
        assert_eq!(view_changes(&events), [(State::Ok, State::Error, 2)]);
    }
}
