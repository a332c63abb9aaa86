//! The last 24 hours of every service and view, hour by hour: what the
//! status page's bars show.
//!
//! Each tracked name keeps one [`State`] per clock hour (UTC), the worst it
//! was in during that hour (`error` > `warning` > `muted` > `ok` > `new`),
//! for at most [`HOURS`] hours: 24 bytes and a few words per name. A task
//! ([`follow`]) feeds it from the engine's published changes, starting
//! from the current states of the snapshot. With a store, the server
//! saves it at shutdown ([`StateHistory::to_bytes`]) and loads it at
//! start, so a restart keeps the bars; the hours while lovebeat was down
//! show the state it was in when it stopped.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use lovebeat_core::{Event, Millis, State};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::actor::{EngineHandle, now_ms};
use crate::snapshot::Snapshot;

/// Hours kept per name.
pub const HOURS: usize = 24;

const HOUR_MS: Millis = 3600 * 1000;

/// What a bar is about: a service or a view (their names may clash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Service,
    View,
}

/// One name's hours.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Track {
    /// The clock hour (ms / [`HOUR_MS`]) of `hours[0]`.
    first_hour: i64,
    /// The worst state of each hour, oldest first; `None` before tracking began.
    hours: VecDeque<Option<State>>,
    /// The state now, carried into hours with no change.
    current: State,
}

impl Track {
    fn new(at: Millis, state: State) -> Track {
        Track {
            first_hour: hour_of(at),
            hours: VecDeque::from([Some(state)]),
            current: state,
        }
    }

    /// Extends the track to `hour`, each new hour starting in the current state.
    fn advance(&mut self, hour: i64) {
        let last = self.first_hour + self.hours.len() as i64 - 1;
        let missing = (hour - last).clamp(0, HOURS as i64);
        if hour - last > HOURS as i64 {
            self.hours.clear();
            self.first_hour = hour - missing + 1;
        }
        for _ in 0..missing {
            self.hours.push_back(Some(self.current));
        }
        while self.hours.len() > HOURS {
            self.hours.pop_front();
            self.first_hour += 1;
        }
    }

    fn record(&mut self, at: Millis, state: State) {
        self.advance(hour_of(at));
        if let Some(worst) = self.hours.back_mut() {
            *worst = Some(worst.map_or(state, |w| w.max(state)));
        }
        self.current = state;
    }

    /// The [`HOURS`] hours ending with the hour of `now`, oldest first.
    fn bars(&self, now: Millis) -> Vec<Option<State>> {
        let mut track = self.clone();
        let hour = hour_of(now);
        track.advance(hour);
        (0..HOURS as i64)
            .map(|i| hour - HOURS as i64 + 1 + i)
            .map(|h| {
                let index = h - track.first_hour;
                (index >= 0)
                    .then(|| track.hours.get(index as usize).copied().flatten())
                    .flatten()
            })
            .collect()
    }
}

fn hour_of(at: Millis) -> i64 {
    at.div_euclid(HOUR_MS)
}

/// The start of the hour `bars(now)[i]` stands for.
pub fn bar_start(now: Millis, i: usize) -> Millis {
    (hour_of(now) - HOURS as i64 + 1 + i as i64) * HOUR_MS
}

/// Every tracked name's hours.
#[derive(Debug, Default)]
pub struct StateHistory {
    tracks: Mutex<HashMap<(Kind, Arc<str>), Track>>,
}

impl StateHistory {
    /// Notes that `name` is in `state` at `at`.
    pub fn record(&self, kind: Kind, name: &Arc<str>, at: Millis, state: State) {
        let mut tracks = self.lock();
        match tracks.get_mut(&(kind, name.clone())) {
            Some(track) => track.record(at, state),
            None => {
                tracks.insert((kind, name.clone()), Track::new(at, state));
            }
        }
    }

    /// Forgets a removed service or view.
    pub fn forget(&self, kind: Kind, name: &Arc<str>) {
        self.lock().remove(&(kind, name.clone()));
    }

    /// The last [`HOURS`] hours of `name`, oldest first (`None`: no data).
    pub fn bars(&self, kind: Kind, name: &str, now: Millis) -> Vec<Option<State>> {
        let key = (kind, Arc::from(name));
        match self.lock().get(&key) {
            Some(track) => track.bars(now),
            None => vec![None; HOURS],
        }
    }

    /// The saved form: JSON of every track.
    pub fn to_bytes(&self) -> Vec<u8> {
        let tracks = self.lock();
        let saved: Vec<(Kind, &str, &Track)> = (tracks.iter())
            .map(|((kind, name), t)| (*kind, &**name, t))
            .collect();
        serde_json::to_vec(&saved).expect("tracks serialize")
    }

    /// A history saved with [`StateHistory::to_bytes`]; empty if it does
    /// not read (it is only a picture of the past).
    pub fn from_bytes(bytes: &[u8]) -> StateHistory {
        let saved: Vec<(Kind, String, Track)> = serde_json::from_slice(bytes).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the saved status history does not read; starting afresh");
            Vec::new()
        });
        let tracks = (saved.into_iter())
            .filter(|(_, _, t)| t.hours.len() <= HOURS)
            .map(|(kind, name, t)| ((kind, Arc::from(name)), t))
            .collect();
        StateHistory {
            tracks: Mutex::new(tracks),
        }
    }

    /// Notes every current state of a snapshot (at start, and after
    /// missing published changes).
    pub fn sync(&self, snapshot: &Snapshot) {
        for s in snapshot.services.values() {
            self.record(Kind::Service, &s.record.name, snapshot.at, s.record.state);
        }
        for v in snapshot.views.values() {
            self.record(Kind::View, &v.record.name, snapshot.at, v.record.state);
        }
    }

    /// Applies one round of published events.
    pub fn apply(&self, events: &[Event], at: Millis) {
        for event in events {
            match event {
                Event::ServiceStateChanged { name, to, at, .. } => {
                    self.record(Kind::Service, name, *at, *to);
                }
                Event::ServiceAdded { name } => self.record(Kind::Service, name, at, State::New),
                Event::ServiceRemoved { record } => self.forget(Kind::Service, &record.name),
                Event::ViewStateChanged(change) => {
                    self.record(Kind::View, &change.name, change.at, change.to);
                }
                Event::ViewRemoved { name } => self.forget(Kind::View, name),
                _ => {}
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Kind, Arc<str>), Track>> {
        self.tracks
            .lock()
            .expect("no panics while holding the lock")
    }
}

/// The history saved in `store`, or an empty one.
pub(crate) fn load(store: Option<&lovebeat_store::Store>) -> StateHistory {
    match store.map(lovebeat_store::Store::status_history) {
        Some(Ok(Some(bytes))) => StateHistory::from_bytes(&bytes),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "cannot read the status history; starting afresh");
            StateHistory::default()
        }
        _ => StateHistory::default(),
    }
}

/// Saves `history` in `store` (at shutdown); a failure is only logged.
pub(crate) fn save(store: &lovebeat_store::Store, history: &StateHistory) {
    if let Err(e) = store.put_status_history(&history.to_bytes()) {
        tracing::warn!(error = %e, "cannot save the status history");
    }
}

/// Follows the engine's changes into `history` until `stop`.
pub(crate) async fn follow(
    history: Arc<StateHistory>,
    engine: EngineHandle,
    stop: CancellationToken,
) {
    let mut published = engine.subscribe();
    history.sync(&engine.snapshot());
    loop {
        let round = tokio::select! {
            r = published.recv() => r,
            () = stop.cancelled() => return,
        };
        match round {
            Ok(p) => history.apply(&p.changes.events, p.snapshot.at),
            Err(RecvError::Lagged(_)) => {
                let mut snapshot = (*engine.snapshot()).clone();
                snapshot.at = now_ms();
                history.sync(&snapshot);
            }
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Millis = HOUR_MS;

    fn name() -> Arc<str> {
        "web".into()
    }

    #[test]
    fn each_hour_shows_its_worst_state() {
        let h = StateHistory::default();
        h.record(Kind::Service, &name(), 10 * H, State::Ok);
        h.record(Kind::Service, &name(), 10 * H + 5, State::Error);
        h.record(Kind::Service, &name(), 10 * H + 9, State::Ok);
        let bars = h.bars(Kind::Service, "web", 12 * H);
        assert_eq!(bars.len(), HOURS);
        assert_eq!(
            bars[HOURS - 3..],
            [Some(State::Error), Some(State::Ok), Some(State::Ok)]
        );
        assert_eq!(bars[0], None, "before tracking began");
    }

    #[test]
    fn a_state_carries_into_the_hours_after_it() {
        let h = StateHistory::default();
        h.record(Kind::Service, &name(), 0, State::Error);
        let bars = h.bars(Kind::Service, "web", 5 * H);
        assert!(bars[HOURS - 6..].iter().all(|b| *b == Some(State::Error)));
    }

    #[test]
    fn only_the_last_24_hours_are_kept() {
        let h = StateHistory::default();
        h.record(Kind::Service, &name(), 0, State::Error);
        h.record(Kind::Service, &name(), 30 * H, State::Ok);
        let bars = h.bars(Kind::Service, "web", 30 * H);
        assert_eq!(bars.len(), HOURS);
        assert_eq!(
            bars[HOURS - 1],
            Some(State::Error),
            "the hour it recovered in"
        );
        assert_eq!(bars[0], Some(State::Error));
        let much_later = h.bars(Kind::Service, "web", 100 * H);
        assert!(much_later.iter().all(|b| *b == Some(State::Ok)));
    }

    #[test]
    fn services_and_views_are_apart_and_removal_forgets() {
        let h = StateHistory::default();
        h.record(Kind::View, &name(), 0, State::Error);
        assert_eq!(h.bars(Kind::Service, "web", 0), vec![None; HOURS]);
        h.forget(Kind::View, &name());
        assert_eq!(h.bars(Kind::View, "web", 0), vec![None; HOURS]);
    }

    #[test]
    fn the_history_survives_a_save_and_a_load() {
        let h = StateHistory::default();
        h.record(Kind::Service, &name(), 0, State::Error);
        h.record(Kind::View, &name(), 2 * H, State::Ok);
        let loaded = StateHistory::from_bytes(&h.to_bytes());
        assert_eq!(
            loaded.bars(Kind::Service, "web", 3 * H),
            h.bars(Kind::Service, "web", 3 * H)
        );
        assert_eq!(
            loaded.bars(Kind::View, "web", 3 * H),
            h.bars(Kind::View, "web", 3 * H)
        );
        let garbage = StateHistory::from_bytes(b"nope");
        assert_eq!(garbage.bars(Kind::Service, "web", 0), vec![None; HOURS]);
    }

    #[test]
    fn bar_starts_are_clock_hours() {
        assert_eq!(bar_start(5 * H + 7, HOURS - 1), 5 * H);
        assert_eq!(bar_start(30 * H, 0), 7 * H);
    }
}
