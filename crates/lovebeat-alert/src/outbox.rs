//! The outbox: where an alert waits until it is delivered.
//!
//! Every delivery is written to the [`Outbox`] before the first attempt,
//! updated after each failure (so its retry count survives a restart) and
//! removed once delivered or given up. The store implements the trait for
//! its sled tree; [`MemoryOutbox`] keeps entries in memory (no store, and
//! tests). Entries are opaque bytes to the outbox: a [`Delivery`] as JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use lovebeat_core::{Millis, ViewRecord};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Occasion, Target};

/// Durable storage for pending deliveries. Calls are synchronous and
/// small; `push` must be durable when it returns. Ids increase.
pub trait Outbox: Send + Sync + 'static {
    fn push(&self, entry: &[u8]) -> Result<u64, OutboxError>;
    fn replace(&self, id: u64, entry: &[u8]) -> Result<(), OutboxError>;
    fn remove(&self, id: u64) -> Result<(), OutboxError>;
    /// Every entry, in id order.
    fn entries(&self) -> Result<Vec<(u64, Vec<u8>)>, OutboxError>;
}

/// Runs an outbox call, which may wait for the disk, without holding up
/// the other tasks of a multi-threaded runtime.
pub(crate) fn blocking<T>(call: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(call)
        }
        _ => call(),
    }
}

/// An outbox that could not be read or written.
#[derive(Debug)]
pub struct OutboxError(Box<dyn std::error::Error + Send + Sync>);

impl OutboxError {
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> OutboxError {
        OutboxError(error.into())
    }
}

impl fmt::Display for OutboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "alert outbox: {}", self.0)
    }
}

impl std::error::Error for OutboxError {}

/// An outbox that forgets everything when lovebeat stops.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    state: Mutex<(u64, BTreeMap<u64, Vec<u8>>)>,
}

impl Outbox for MemoryOutbox {
    fn push(&self, entry: &[u8]) -> Result<u64, OutboxError> {
        let mut state = self.state.lock().expect("outbox lock");
        state.0 += 1;
        let id = state.0;
        state.1.insert(id, entry.to_vec());
        Ok(id)
    }

    fn replace(&self, id: u64, entry: &[u8]) -> Result<(), OutboxError> {
        let mut state = self.state.lock().expect("outbox lock");
        if let Some(old) = state.1.get_mut(&id) {
            *old = entry.to_vec();
        }
        Ok(())
    }

    fn remove(&self, id: u64) -> Result<(), OutboxError> {
        self.state.lock().expect("outbox lock").1.remove(&id);
        Ok(())
    }

    fn entries(&self) -> Result<Vec<(u64, Vec<u8>)>, OutboxError> {
        let state = self.state.lock().expect("outbox lock");
        Ok(state.1.iter().map(|(id, e)| (*id, e.clone())).collect())
    }
}

/// One alert for one target of one entry: an outbox entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The `[alerts.NAME]` entry.
    pub entry: String,
    pub target: Target,
    pub alert: Alert,
    /// When it was raised, ms since the epoch (its age counts from here).
    pub created: Millis,
    /// Failed attempts so far.
    pub failures: u32,
}

impl Delivery {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a delivery serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Delivery, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Brings stored view records up to the alerts waiting in `outbox`; returns
/// how many it changed or added.
///
/// An alert is pushed to the outbox the moment its view changes, while the
/// view's new record reaches the store with the next save. A crash between
/// the two leaves the alert with a view record older than it, and the
/// restart would see the same change again and raise it twice. A record
/// built from the alert (its state, incident and time) replaces a stored
/// record that is older, so the restart starts from the announced state.
/// Reminders and acknowledgements change no state and are skipped; so are
/// the alert policy's records. Entries that cannot be read are left to the
/// alerter, which logs and drops them.
pub fn adopt_announced_states(
    outbox: &dyn Outbox,
    views: &mut Vec<ViewRecord>,
) -> Result<usize, OutboxError> {
    let mut adopted = 0;
    for (_, bytes) in outbox.entries()? {
        let Ok(Delivery { alert, .. }) = Delivery::decode(&bytes) else {
            continue;
        };
        if alert.occasion != Occasion::Change {
            continue;
        }
        let announced = ViewRecord {
            name: alert.view.into(),
            state: alert.to,
            incident: alert.incident,
            last_state_change: alert.at,
        };
        match views.iter_mut().find(|v| v.name == announced.name) {
            Some(stored) if stored.last_state_change >= announced.last_state_change => {}
            Some(stored) => {
                *stored = announced;
                adopted += 1;
            }
            None => {
                views.push(announced);
                adopted += 1;
            }
        }
    }
    Ok(adopted)
}

#[cfg(test)]
mod tests {
    use lovebeat_core::State;

    use super::*;

    #[test]
    fn memory_ids_increase_and_entries_come_in_id_order() {
        let outbox = MemoryOutbox::default();
        let (a, b) = (outbox.push(b"a").unwrap(), outbox.push(b"b").unwrap());
        assert!(b > a);
        outbox.replace(a, b"a2").unwrap();
        assert_eq!(
            outbox.entries().unwrap(),
            [(a, b"a2".to_vec()), (b, b"b".to_vec())]
        );
        outbox.remove(a).unwrap();
        assert_eq!(outbox.entries().unwrap(), [(b, b"b".to_vec())]);
    }

    #[test]
    fn a_delivery_round_trips() {
        let delivery = Delivery {
            entry: "ops".into(),
            target: Target::OnError,
            alert: Alert::sample(5),
            created: 5,
            failures: 2,
        };
        assert_eq!(Delivery::decode(&delivery.encode()).unwrap(), delivery);
    }

    fn pushed(outbox: &MemoryOutbox, view: &str, to: State, incident: u64, at: Millis) {
        let delivery = Delivery {
            entry: "ops".into(),
            target: Target::Mail,
            alert: Alert {
                view: view.into(),
                from: State::Ok,
                to,
                incident,
                at,
                failed: Vec::new(),
                team: None,
                occasion: Occasion::Change,
            },
            created: at,
            failures: 0,
        };
        outbox.push(&delivery.encode()).unwrap();
    }

    fn record(name: &str, state: State, incident: u64, at: Millis) -> ViewRecord {
        ViewRecord {
            name: name.into(),
            state,
            incident,
            last_state_change: at,
        }
    }

    #[test]
    fn a_pending_alert_newer_than_its_view_record_replaces_it() {
        let outbox = MemoryOutbox::default();
        pushed(&outbox, "web", State::Error, 4, 2_000);
        pushed(&outbox, "db", State::Error, 7, 500);
        pushed(&outbox, "new", State::Warning, 1, 900);
        outbox.push(b"not a delivery").unwrap();
        let mut views = vec![
            record("web", State::Ok, 3, 1_000),
            record("db", State::Ok, 8, 1_000),
            record("quiet", State::Ok, 0, 0),
        ];

        let adopted = adopt_announced_states(&outbox, &mut views).unwrap();

        assert_eq!(adopted, 2);
        assert_eq!(
            views,
            [
                record("web", State::Error, 4, 2_000),
                record("db", State::Ok, 8, 1_000),
                record("quiet", State::Ok, 0, 0),
                record("new", State::Warning, 1, 900),
            ]
        );
    }

    #[test]
    fn a_pending_reminder_changes_no_view_record() {
        let outbox = MemoryOutbox::default();
        let reminder = Delivery {
            entry: "ops".into(),
            target: Target::Mail,
            alert: Alert {
                occasion: Occasion::Reminder {
                    number: 1,
                    failing_since: 0,
                },
                ..Alert::sample(5_000)
            },
            created: 5_000,
            failures: 0,
        };
        outbox.push(&reminder.encode()).unwrap();
        let mut views = vec![record("lovebeat-test-alert", State::Ok, 3, 1_000)];
        assert_eq!(adopt_announced_states(&outbox, &mut views).unwrap(), 0);
    }

    #[test]
    fn of_two_pending_alerts_of_a_view_the_later_one_wins() {
        let outbox = MemoryOutbox::default();
        pushed(&outbox, "web", State::Error, 4, 2_000);
        pushed(&outbox, "web", State::Ok, 4, 3_000);
        let mut views = vec![record("web", State::Ok, 3, 1_000)];
        adopt_announced_states(&outbox, &mut views).unwrap();
        assert_eq!(views, [record("web", State::Ok, 4, 3_000)]);
    }
}
