//! What the engine tells its readers: the [`Event`]s of a round and the
//! [`Changes`] that carry them, a service's and a view's published
//! [`ServiceInfo`] and [`ViewInfo`], the [`StateCounts`], and why a view
//! cannot be deleted.

use std::fmt;
use std::sync::Arc;

use crate::auto::Algorithm;
use crate::service::ServiceRecord;
use crate::types::{Millis, State, Timeout, TimeoutKind};
use crate::view::ViewRecord;

/// Something that happened, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    ServiceAdded {
        name: Arc<str>,
    },
    ServiceStateChanged {
        name: Arc<str>,
        from: State,
        to: State,
        at: Millis,
    },
    ServiceTimeoutChanged {
        name: Arc<str>,
        kind: TimeoutKind,
        from: Timeout,
        to: Timeout,
    },
    ServiceRemoved {
        record: ServiceRecord,
    },
    /// The service's team label changed (and with it, maybe, its views).
    ServiceTeamChanged {
        name: Arc<str>,
        from: Option<String>,
        to: Option<String>,
    },
    ViewAdded {
        name: Arc<str>,
    },
    ViewStateChanged(ViewChange),
    /// Someone acknowledged the failing view.
    ViewAcknowledged(Acknowledgement),
    ViewRemoved {
        name: Arc<str>,
    },
}

/// A view changed state: what alerts are made of.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewChange {
    pub name: Arc<str>,
    /// Index of the view's config entry (its alerts are listed there).
    pub template: usize,
    pub from: State,
    pub to: State,
    pub incident: u64,
    pub at: Millis,
    /// Members in warning or error at the moment of the change.
    pub failed: Vec<Arc<str>>,
}

/// What changed since the last [`Engine::take_changes`](crate::Engine::take_changes).
#[derive(Debug, Default)]
pub struct Changes {
    pub events: Vec<Event>,
    /// Services whose details changed (beats, timeouts, states), still present.
    pub services: Vec<Arc<str>>,
    /// Views whose details changed, still present.
    pub views: Vec<Arc<str>>,
}

/// A service as readers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceInfo {
    /// The stored form, less the `rhythm` state (see [`Engine::service_record`](crate::Engine::service_record)).
    /// Shared with the engine until the service next changes.
    pub record: Arc<ServiceRecord>,
    /// Names of the views the service is a member of.
    pub views: Vec<Arc<str>>,
    /// What AUTO stands for now, in ms (None: too little history).
    pub auto_timeout: Option<u64>,
    /// The AUTO estimator this service uses (its own or the configured one).
    pub auto_algorithm: Algorithm,
    /// One line on why AUTO is what it is, when a timeout is AUTO.
    pub auto_reason: Option<Box<str>>,
}

impl ServiceInfo {
    /// When the service's state next changes by itself, as of `now`.
    pub fn next_deadline(&self, now: Millis) -> Option<Millis> {
        self.record.next_deadline(self.auto_timeout, now)
    }
}

/// A view as readers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewInfo {
    pub record: ViewRecord,
    pub template: usize,
    pub members: usize,
    pub warning: usize,
    pub error: usize,
    /// Members in warning or error.
    pub failed: Vec<Arc<str>>,
}

/// Number of services in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts([usize; 5]);

impl StateCounts {
    pub fn get(&self, state: State) -> usize {
        self.0[state.index()]
    }

    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }

    pub(crate) fn add(&mut self, state: State) {
        self.0[state.index()] += 1;
    }

    pub(crate) fn remove(&mut self, state: State) {
        self.0[state.index()] -= 1;
    }
}

/// An acknowledgement of a failing view (`POST /api/views/{name}/ack`):
/// its reminders stop until it changes state again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub name: Arc<str>,
    pub author: String,
    pub comment: String,
    pub at: Millis,
}

/// Why a view could not be acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckRefused {
    NotFound,
    /// Only a view in warning or error can be.
    NotFailing(State),
}

impl fmt::Display for AckRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckRefused::NotFound => f.write_str("no such view"),
            AckRefused::NotFailing(state) => write!(
                f,
                "the view is {state}: only a view in warning or error can be acknowledged"
            ),
        }
    }
}

impl std::error::Error for AckRefused {}

/// Why a view could not be deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteViewError {
    NotFound,
    HasMembers(usize),
}

impl fmt::Display for DeleteViewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeleteViewError::NotFound => f.write_str("no such view"),
            DeleteViewError::HasMembers(n) => write!(
                f,
                "the view still has {n} member service(s); delete them first"
            ),
        }
    }
}

impl std::error::Error for DeleteViewError {}
