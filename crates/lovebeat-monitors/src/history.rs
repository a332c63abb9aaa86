//! The last 24 hours of every service and view, hour by hour: what the
//! status page's bars show.
//!
//! Each tracked name keeps one [`State`] per clock hour (UTC), the worst it
//! was in during that hour (`error` > `warning` > `muted` > `ok` > `new`),
//! for at most [`HOURS`] hours: 24 bytes and a few words per name. A task
//! (`follow`) feeds it from the engine's published changes, starting
//! from the current states of the snapshot. With a store, the server
//! saves it at shutdown (`StateHistory::to_bytes`, a compact binary form) and loads it at
//! start, so a restart keeps the bars; the hours while lovebeat was down
//! show the state it was in when it stopped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use foldhash::fast::RandomState;
use lovebeat_core::{Event, Millis, State};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use lovebeat_core::clock::now_ms;
use lovebeat_engine::{EngineHandle, Snapshot};

/// Hours kept per name.
pub const HOURS: usize = 24;

const HOUR_MS: Millis = 3600 * 1000;

/// What a bar is about: a service or a view (their names may clash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A service's bar.
    Service,
    /// A view's bar.
    View,
}

/// One name's hours, held inline: no allocation per name.
#[derive(Debug, Clone)]
struct Track {
    /// The clock hour (ms / [`HOUR_MS`]) of `hours[0]`: 4 bytes hold
    /// hours for 245 000 years either side of 1970, and keep a million
    /// tracks 16 MB smaller than 8 would.
    first_hour: i32,
    /// The worst state of each hour, oldest first, as [`hour_code`]s (0:
    /// before tracking began); the first `len` are used.
    hours: [u8; HOURS],
    len: u8,
    /// The state now, carried into hours with no change.
    current: State,
}

impl Track {
    fn new(at: Millis, state: State) -> Track {
        let mut hours = [0; HOURS];
        hours[0] = hour_code(Some(state));
        Track {
            first_hour: clock_hour(hour_of(at)),
            hours,
            len: 1,
            current: state,
        }
    }

    /// Extends the track to `hour`, each new hour starting in the current state.
    fn advance(&mut self, hour: i64) {
        let last = i64::from(self.first_hour) + i64::from(self.len) - 1;
        let missing = (hour - last).clamp(0, HOURS as i64);
        if hour - last > HOURS as i64 {
            self.len = 0;
            self.first_hour = clock_hour(hour - missing + 1);
        }
        for _ in 0..missing {
            self.push(hour_code(Some(self.current)));
        }
    }

    /// Appends an hour, dropping the oldest when all [`HOURS`] are used.
    fn push(&mut self, code: u8) {
        if usize::from(self.len) == HOURS {
            self.hours.copy_within(1.., 0);
            self.first_hour += 1;
            self.len -= 1;
        }
        self.hours[usize::from(self.len)] = code;
        self.len += 1;
    }

    fn record(&mut self, at: Millis, state: State) {
        self.advance(hour_of(at));
        if let Some(last) = self.len.checked_sub(1) {
            let hour = &mut self.hours[usize::from(last)];
            *hour = hour_code(Some(hour_state(*hour).map_or(state, |w| w.max(state))));
        }
        self.current = state;
    }

    /// The [`HOURS`] hours ending with the hour of `now`, oldest first.
    fn bars(&self, now: Millis) -> Vec<Option<State>> {
        let mut track = self.clone();
        let hour = hour_of(now);
        track.advance(hour);
        let used = &track.hours[..usize::from(track.len)];
        (0..HOURS as i64)
            .map(|i| hour - HOURS as i64 + 1 + i)
            .map(|h| {
                let index = usize::try_from(h - i64::from(track.first_hour)).ok()?;
                used.get(index).copied().and_then(hour_state)
            })
            .collect()
    }
}

/// How lovebeat 1.1.0 saved a track (as JSON).
#[derive(Deserialize)]
struct SavedTrack {
    first_hour: i64,
    hours: Vec<Option<State>>,
    current: State,
}

impl SavedTrack {
    /// The track, if it holds no more than [`HOURS`] hours.
    fn into_track(self) -> Option<Track> {
        let mut hours = [0; HOURS];
        let used = hours.get_mut(..self.hours.len())?;
        for (code, state) in used.iter_mut().zip(self.hours) {
            *code = hour_code(state);
        }
        let len = used.len() as u8;
        Some(Track {
            first_hour: clock_hour(self.first_hour),
            hours,
            len,
            current: self.current,
        })
    }
}

/// An hour's byte: 0 for no data, else 1 + the state's place in
/// [`State::ALL`] (in memory and in the saved form).
fn hour_code(state: Option<State>) -> u8 {
    state.map_or(0, |s| 1 + s.index() as u8)
}

fn hour_state(code: u8) -> Option<State> {
    code.checked_sub(1).map(|i| State::ALL[usize::from(i)])
}

fn hour_of(at: Millis) -> i64 {
    at.div_euclid(HOUR_MS)
}

/// An hour as a track keeps it (times beyond its range are clamped).
fn clock_hour(hour: i64) -> i32 {
    hour.clamp(i32::MIN.into(), i32::MAX.into()) as i32
}

/// The start of the hour `bars(now)[i]` stands for.
pub fn bar_start(now: Millis, i: usize) -> Millis {
    (hour_of(now) - HOURS as i64 + 1 + i as i64) * HOUR_MS
}

/// Every tracked name's hours.
#[derive(Debug, Default)]
pub struct StateHistory {
    tracks: Mutex<Tracks>,
}

/// The tracks of services and of views, each by name.
#[derive(Debug, Default)]
struct Tracks {
    services: HashMap<Arc<str>, Track, RandomState>,
    views: HashMap<Arc<str>, Track, RandomState>,
}

impl Tracks {
    fn with_capacity(services: usize) -> Tracks {
        Tracks {
            services: HashMap::with_capacity_and_hasher(services, RandomState::default()),
            views: HashMap::default(),
        }
    }

    fn of(&self, kind: Kind) -> &HashMap<Arc<str>, Track, RandomState> {
        match kind {
            Kind::Service => &self.services,
            Kind::View => &self.views,
        }
    }

    fn of_mut(&mut self, kind: Kind) -> &mut HashMap<Arc<str>, Track, RandomState> {
        match kind {
            Kind::Service => &mut self.services,
            Kind::View => &mut self.views,
        }
    }

    fn len(&self) -> usize {
        self.services.len() + self.views.len()
    }

    /// Every track with its kind and name.
    fn iter(&self) -> impl Iterator<Item = (Kind, &Arc<str>, &Track)> {
        let services = self.services.iter().map(|(n, t)| (Kind::Service, n, t));
        services.chain(self.views.iter().map(|(n, t)| (Kind::View, n, t)))
    }

    fn record(&mut self, kind: Kind, name: &Arc<str>, at: Millis, state: State) {
        let tracks = self.of_mut(kind);
        match tracks.get_mut(name) {
            Some(track) => track.record(at, state),
            None => {
                tracks.insert(name.clone(), Track::new(at, state));
            }
        }
    }
}

impl FromIterator<(Kind, Arc<str>, Track)> for Tracks {
    fn from_iter<I: IntoIterator<Item = (Kind, Arc<str>, Track)>>(items: I) -> Tracks {
        let mut tracks = Tracks::default();
        for (kind, name, track) in items {
            tracks.of_mut(kind).insert(name, track);
        }
        tracks
    }
}

/// The first byte of [`StateHistory::to_bytes`] (JSON starts with `[`).
const SAVED_BINARY: u8 = 1;

fn state_of(code: u8) -> Result<State, String> {
    (State::ALL.get(usize::from(code)).copied()).ok_or_else(|| format!("no state {code}"))
}

/// The tracks of [`StateHistory::to_bytes`], after its tag.
fn read_binary(mut bytes: &[u8]) -> Result<Tracks, String> {
    // A track takes at least 16 bytes: no huge reservation for a count
    // the bytes cannot hold.
    let room = bytes.len() as u64 / 16;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let (taken, rest) = bytes.split_at_checked(n).ok_or("it ends early")?;
        bytes = rest;
        Ok(taken)
    };
    let count = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
    let mut tracks = Tracks::with_capacity(count.min(room) as usize);
    for _ in 0..count {
        let kind = match take(1)?[0] {
            0 => Kind::Service,
            1 => Kind::View,
            other => return Err(format!("no kind {other}")),
        };
        let len = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes"));
        let name = std::str::from_utf8(take(len as usize)?).map_err(|e| e.to_string())?;
        let first_hour = clock_hour(i64::from_le_bytes(take(8)?.try_into().expect("8 bytes")));
        let current = state_of(take(1)?[0])?;
        let len = take(1)?[0];
        let mut hours = [0; HOURS];
        let used = (hours.get_mut(..usize::from(len))).ok_or(format!("{len} hours"))?;
        used.copy_from_slice(take(usize::from(len))?);
        if let Some(&bad) = used.iter().find(|&&code| code > State::ALL.len() as u8) {
            return Err(format!("no hour code {bad}"));
        }
        let track = Track {
            first_hour,
            hours,
            len,
            current,
        };
        tracks.of_mut(kind).insert(Arc::from(name), track);
    }
    match take(1) {
        Ok(_) => Err("it has bytes after its last track".to_owned()),
        Err(_) => Ok(tracks),
    }
}

impl StateHistory {
    /// Notes that `name` is in `state` at `at`.
    #[cfg(test)]
    pub(crate) fn record(&self, kind: Kind, name: &Arc<str>, at: Millis, state: State) {
        self.lock().record(kind, name, at, state);
    }

    /// The last [`HOURS`] hours of `name`, oldest first (`None`: no data).
    pub fn bars(&self, kind: Kind, name: &str, now: Millis) -> Vec<Option<State>> {
        match self.lock().of(kind).get(name) {
            Some(track) => track.bars(now),
            None => vec![None; HOURS],
        }
    }

    /// The saved form of every track: a `SAVED_BINARY` tag, the number
    /// of tracks (`u64`), then per track its kind (0 service, 1 view), its name (a `u32` length and
    /// UTF-8), `first_hour` (`i64`), the current state, the number of
    /// hours (`u8`) and one byte per hour (0: no data, else 1 + the
    /// state's place in [`State::ALL`]); integers little-endian. A million
    /// services save and load in a fraction of a second (JSON, lovebeat
    /// 1.1's first form, took seconds; it still loads).
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let tracks = self.lock();
        let mut out = Vec::with_capacity(1 + tracks.len() * (HOURS + 32));
        out.push(SAVED_BINARY);
        out.extend((tracks.len() as u64).to_le_bytes());
        for (kind, name, track) in tracks.iter() {
            out.push(match kind {
                Kind::Service => 0,
                Kind::View => 1,
            });
            out.extend((name.len() as u32).to_le_bytes());
            out.extend(name.as_bytes());
            out.extend(i64::from(track.first_hour).to_le_bytes());
            out.push(track.current.index() as u8);
            out.push(track.len);
            out.extend(&track.hours[..usize::from(track.len)]);
        }
        out
    }

    /// A history saved with [`StateHistory::to_bytes`] (or as JSON, by an
    /// earlier lovebeat); empty if it does not read (it is only a picture
    /// of the past).
    pub(crate) fn from_bytes(bytes: &[u8]) -> StateHistory {
        let read = match bytes.first() {
            Some(&SAVED_BINARY) => read_binary(&bytes[1..]),
            _ => serde_json::from_slice::<Vec<(Kind, String, SavedTrack)>>(bytes)
                .map(|saved| {
                    (saved.into_iter())
                        .filter_map(|(kind, name, t)| {
                            Some((kind, Arc::from(name), t.into_track()?))
                        })
                        .collect()
                })
                .map_err(|e| e.to_string()),
        };
        let tracks: Tracks = read.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the saved status history does not read; starting afresh");
            Tracks::default()
        });
        StateHistory {
            tracks: Mutex::new(tracks),
        }
    }

    /// Notes every current state of a snapshot (at start, and after
    /// missing published changes).
    pub fn sync(&self, snapshot: &Snapshot) {
        let mut tracks = self.lock();
        for s in snapshot.services.values() {
            tracks.record(Kind::Service, &s.record.name, snapshot.at, s.record.state);
        }
        for v in snapshot.views.values() {
            tracks.record(Kind::View, &v.record.name, snapshot.at, v.record.state);
        }
    }

    /// Applies one round of published events.
    pub(crate) fn apply(&self, events: &[Event], at: Millis) {
        let mut tracks = self.lock();
        for event in events {
            match event {
                Event::ServiceStateChanged { name, to, at, .. } => {
                    tracks.record(Kind::Service, name, *at, *to);
                }
                Event::ServiceAdded { name } => tracks.record(Kind::Service, name, at, State::New),
                Event::ServiceRemoved { record } => {
                    tracks.services.remove(&record.name);
                }
                Event::ViewStateChanged(change) => {
                    tracks.record(Kind::View, &change.name, change.at, change.to);
                }
                Event::ViewRemoved { name } => {
                    tracks.views.remove(name);
                }
                _ => {}
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tracks> {
        self.tracks
            .lock()
            .expect("no panics while holding the lock")
    }
}

/// The history saved in `store`, or an empty one.
pub fn load(store: Option<&lovebeat_store::Store>) -> StateHistory {
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
pub fn save(store: &lovebeat_store::Store, history: &StateHistory) {
    if let Err(e) = store.put_status_history(&history.to_bytes()) {
        tracing::warn!(error = %e, "cannot save the status history");
    }
}

/// Follows the engine's changes into `history` until `stop`.
pub async fn follow(history: Arc<StateHistory>, engine: EngineHandle, stop: CancellationToken) {
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
        h.apply(&[Event::ViewRemoved { name: name() }], 0);
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
        let mut cut = h.to_bytes();
        cut.pop();
        let cut = StateHistory::from_bytes(&cut);
        assert_eq!(cut.bars(Kind::View, "web", 0), vec![None; HOURS]);
    }

    #[test]
    fn the_json_that_lovebeat_1_1_saved_still_loads() {
        let json = br#"[["service","web",{"first_hour":0,"hours":["error",null],"current":"ok"}]]"#;
        let loaded = StateHistory::from_bytes(json);
        let bars = loaded.bars(Kind::Service, "web", H);
        assert_eq!(bars[HOURS - 2..], [Some(State::Error), None]);
    }

    #[test]
    fn bar_starts_are_clock_hours() {
        assert_eq!(bar_start(5 * H + 7, HOURS - 1), 5 * H);
        assert_eq!(bar_start(30 * H, 0), 7 * H);
    }
}
