//! A view (an "alarm" in lovebeat 1.0): a group of services with one state.
//!
//! A view's state is the worst state of its members, kept in O(1) per
//! member change by counting members per state. Incidents are numbered:
//! each time a view starts failing (from `new` or `ok` to `warning` or
//! `error`), its incident number grows by one.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::types::{Millis, State};

/// What the store persists of a view, and what readers see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewRecord {
    pub name: Arc<str>,
    pub state: State,
    pub incident: u64,
    /// When the state last changed (0: never).
    pub last_state_change: Millis,
}

#[derive(Debug)]
pub(crate) struct View {
    pub name: Arc<str>,
    /// Index of the config entry this view comes from.
    pub template: usize,
    pub state: State,
    pub incident: u64,
    pub last_state_change: Millis,
    pub members: BTreeSet<u32>,
    pub warning: u32,
    pub error: u32,
    pub dirty: bool,
}

impl View {
    pub fn new(name: Arc<str>, template: usize, restored: Option<ViewRecord>) -> View {
        let (state, incident, last_state_change) = restored
            .map(|r| (r.state, r.incident, r.last_state_change))
            .unwrap_or((State::New, 0, 0));
        View {
            name,
            template,
            state,
            incident,
            last_state_change,
            members: BTreeSet::new(),
            warning: 0,
            error: 0,
            dirty: true,
        }
    }

    /// Moves one member's contribution from state `from` to state `to`
    /// (`None` for a member joining or leaving).
    pub fn count(&mut self, from: Option<State>, to: Option<State>) {
        if let Some(c) = from.and_then(|s| self.counter(s)) {
            *c -= 1;
        }
        if let Some(c) = to.and_then(|s| self.counter(s)) {
            *c += 1;
        }
    }

    fn counter(&mut self, state: State) -> Option<&mut u32> {
        match state {
            State::Warning => Some(&mut self.warning),
            State::Error => Some(&mut self.error),
            _ => None,
        }
    }

    /// The worst member state: error, then warning, else ok.
    pub fn computed_state(&self) -> State {
        if self.error > 0 {
            State::Error
        } else if self.warning > 0 {
            State::Warning
        } else {
            State::Ok
        }
    }

    /// Moves to the computed state; returns the previous state if it changed.
    pub fn settle(&mut self, now: Millis) -> Option<State> {
        let to = self.computed_state();
        let from = self.state;
        if to == from {
            return None;
        }
        if !from.is_failing() && to.is_failing() {
            self.incident += 1;
        }
        self.state = to;
        self.last_state_change = now;
        self.dirty = true;
        Some(from)
    }

    pub fn to_record(&self) -> ViewRecord {
        ViewRecord {
            name: self.name.clone(),
            state: self.state,
            incident: self.incident,
            last_state_change: self.last_state_change,
        }
    }
}
