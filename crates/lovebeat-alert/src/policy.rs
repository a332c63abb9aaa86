//! The alert policy of each view: hold-downs (`for`), reminders (`repeat`)
//! and acknowledgements, as a pure state machine: time is a parameter.
//!
//! The router feeds it the engine's view changes ([`Policies::observe`]),
//! asks what is due ([`Policies::due`]) at [`Policies::next_due`], and
//! passes acknowledgements ([`Policies::acknowledge`]); each answers a
//! [`Step`]: deliveries to send and [`Record`]s to save. A view whose
//! template has no `for` and no `repeat` (its own, or of an entry it
//! lists) is not tracked: each change goes out at once, as it always did.
//! A tracked view has a [`Record`] of what its receivers were last told,
//! saved whenever it changes, so a restart neither repeats nor loses an
//! announcement or a reminder; a change still held when lovebeat stopped
//! is held again at start from the view's current state
//! ([`Policies::resume`]), counting from when the view really changed.
//!
//! * **Hold-down**: a change is announced once the view stayed on its new
//!   side (healthy: new, ok, muted; unhealthy: warning, error) for `for`
//!   since it crossed, as one change from the announced state to the
//!   current one. Back to the announced state before then, nothing is
//!   sent: a flap alerts nothing.
//! * **Reminders**: while the announced state is failing (as the entry
//!   counts failing: warnings only with `warnings = true`), no one
//!   acknowledged it and no recovery is held, each entry is reminded
//!   every `repeat` (the view's, else the entry's) after the announcement.
//!   A restart that missed several sends one.
//! * **Acknowledgement**: of a failing view; sent once to the entries'
//!   notifications, and stops the reminders until the next announced
//!   change.

use std::collections::BTreeMap;
use std::time::Duration;

use lovebeat_core::{Millis, State, ViewChange, ViewInfo};
use serde::{Deserialize, Serialize};

use crate::alert::{Ack, Alert, Occasion, Target};
use crate::rules;
use crate::settings::{Entry, Settings, ViewPolicy};

/// What a tracked view's receivers were last told: saved in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub view: String,
    /// The view's template (config entry) index.
    pub template: usize,
    /// The announced change: `from → state`.
    pub from: State,
    pub state: State,
    pub incident: u64,
    pub failed: Vec<String>,
    /// When the view turned unhealthy (for a failing `state`).
    pub failing_since: Millis,
    /// When the announcement went out; reminders count from here.
    pub told_at: Millis,
    pub ack: Option<Ack>,
    /// Reminders sent since the announcement, by entry.
    pub reminders: BTreeMap<String, u32>,
}

/// How a record is kept in the outbox, told apart from a delivery.
#[derive(Serialize, Deserialize)]
struct Saved {
    policy: Record,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&Saved {
            policy: self.clone(),
        })
        .expect("a record serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Record, serde_json::Error> {
        serde_json::from_slice::<Saved>(bytes).map(|s| s.policy)
    }

    /// A view's record before its first tracked change: its receivers
    /// know it as it was.
    fn before(change: &ViewChange) -> Record {
        Record {
            view: change.name.to_string(),
            template: change.template,
            from: change.from,
            state: change.from,
            incident: change.incident,
            failed: Vec::new(),
            failing_since: change.at,
            told_at: change.at,
            ack: None,
            reminders: BTreeMap::new(),
        }
    }

    /// Counts a delivery still in the outbox, in id order. Deliveries are
    /// written before the record that counts them, so after a crash
    /// between the two the record learns of them here: a change from its
    /// announced state, and the number of a reminder.
    pub fn adopt(&mut self, entry: &str, alert: &Alert) {
        if alert.view != self.view {
            return;
        }
        match &alert.occasion {
            Occasion::Change if alert.from == self.state && alert.to != self.state => {
                self.from = alert.from;
                self.state = alert.to;
                self.incident = alert.incident;
                self.failed = alert.failed.clone();
                self.told_at = self.told_at.max(alert.at);
                self.ack = None;
                self.reminders.clear();
            }
            Occasion::Reminder { number, .. } => {
                let sent = self.reminders.entry(entry.to_owned()).or_default();
                *sent = (*sent).max(*number);
            }
            _ => {}
        }
    }
}

/// A change waiting out its hold-down.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    to: State,
    incident: u64,
    at: Millis,
    failed: Vec<String>,
    /// When the view crossed to `to`'s side.
    since: Millis,
}

#[derive(Debug)]
struct Tracked {
    record: Record,
    held: Option<Held>,
}

/// What a view is now, for [`Policies::resume`] and acknowledgements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewNow {
    pub name: String,
    pub template: usize,
    pub state: State,
    pub incident: u64,
    /// When it entered `state`.
    pub since: Millis,
    pub failed: Vec<String>,
}

impl ViewNow {
    pub fn of(view: &ViewInfo) -> ViewNow {
        ViewNow {
            name: view.record.name.to_string(),
            template: view.template,
            state: view.record.state,
            incident: view.record.incident,
            since: view.record.last_state_change,
            failed: view.failed.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// What to do after a call: deliveries to send, records to save (before
/// the deliveries are handed to workers).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    pub sends: Vec<(String, Target, Alert)>,
    pub saves: Vec<Record>,
}

/// Why an acknowledgement is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckError {
    /// The view is healthy: there is nothing to acknowledge.
    NotFailing(State),
}

impl std::fmt::Display for AckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AckError::NotFailing(state) => write!(
                f,
                "the view is {state}: only a view in warning or error can be acknowledged"
            ),
        }
    }
}

/// Every tracked view's policy state.
#[derive(Debug)]
pub struct Policies {
    settings: Settings,
    views: BTreeMap<String, Tracked>,
}

impl Policies {
    pub fn new(settings: Settings) -> Policies {
        Policies {
            settings,
            views: BTreeMap::new(),
        }
    }

    /// Takes back the saved records and holds again what differs from the
    /// views' current states. Returns the names of the records it dropped:
    /// of views no longer there, or no longer with a `for` or `repeat`.
    pub fn resume(&mut self, records: Vec<Record>, current: &[ViewNow]) -> Vec<String> {
        let mut dropped = Vec::new();
        for mut record in records {
            let now = current.iter().find(|v| v.name == record.view);
            let Some(now) = now.filter(|now| self.tracked(now.template)) else {
                dropped.push(record.view);
                continue;
            };
            record.template = now.template;
            let held = (now.state != record.state).then(|| Held {
                to: now.state,
                incident: now.incident,
                at: now.since,
                failed: now.failed.clone(),
                since: now.since,
            });
            self.views
                .insert(record.view.clone(), Tracked { record, held });
        }
        dropped
    }

    /// A view changed state at `change.at`; `now` is the clock.
    pub fn observe(&mut self, change: &ViewChange, now: Millis) -> Step {
        let mut step = Step::default();
        if !self.tracked(change.template) {
            let mut alert = Alert::from_change(change);
            alert.team = team(&self.settings, change.template);
            self.change_sends(change.template, &alert, &mut step);
            return step;
        }
        let name = change.name.to_string();
        let tracked = self.views.entry(name.clone()).or_insert_with(|| {
            let record = Record::before(change);
            step.saves.push(record.clone());
            Tracked { record, held: None }
        });
        if change.to == tracked.record.state {
            tracked.held = None;
            return step;
        }
        let since = match &tracked.held {
            Some(h) if healthy(h.to) == healthy(change.to) => h.since,
            _ => change.at,
        };
        tracked.held = Some(Held {
            to: change.to,
            incident: change.incident,
            at: change.at,
            failed: change.failed.iter().map(|s| s.to_string()).collect(),
            since,
        });
        self.step_view(&name, now, &mut step);
        step
    }

    /// What is due at `now`: held changes whose time came, reminders.
    pub fn due(&mut self, now: Millis) -> Step {
        let mut step = Step::default();
        let names: Vec<String> = self.views.keys().cloned().collect();
        for name in names {
            self.step_view(&name, now, &mut step);
        }
        step
    }

    /// When [`Policies::due`] next has something to do.
    pub fn next_due(&self) -> Option<Millis> {
        self.views
            .values()
            .filter_map(|t| match &t.held {
                Some(held) => Some(held.since.saturating_add(self.hold(t.record.template))),
                None => self.reminders_due(&t.record).map(|(_, at)| at).min(),
            })
            .min()
    }

    /// Someone acknowledged `view`, which is now as `current` says.
    pub fn acknowledge(&mut self, current: &ViewNow, ack: Ack) -> Result<Step, AckError> {
        if !current.state.is_failing() {
            return Err(AckError::NotFailing(current.state));
        }
        let mut step = Step::default();
        if let Some(tracked) = self.views.get_mut(&current.name) {
            tracked.record.ack = Some(ack.clone());
            step.saves.push(tracked.record.clone());
        }
        let alert = Alert {
            view: current.name.clone(),
            from: current.state,
            to: current.state,
            incident: current.incident,
            at: ack.at,
            failed: current.failed.clone(),
            team: team(&self.settings, current.template),
            occasion: Occasion::Acknowledged(ack),
        };
        for (name, entry) in self.entries(current.template) {
            if rules::failing_for(entry, current.state) {
                notify(name, entry, &alert, &mut step);
            }
        }
        Ok(step)
    }

    /// Releases the view's held change if its time came, else sends the
    /// reminders that are due.
    fn step_view(&mut self, name: &str, now: Millis, step: &mut Step) {
        let Some(tracked) = self.views.get(name) else {
            return;
        };
        let template = tracked.record.template;
        match &tracked.held {
            Some(held) if now >= held.since.saturating_add(self.hold(template)) => {
                let held = held.clone();
                self.release(name, held, now, step);
            }
            Some(_) => {}
            None => self.remind(name, now, step),
        }
    }

    fn release(&mut self, name: &str, held: Held, now: Millis, step: &mut Step) {
        let tracked = self.views.get_mut(name).expect("a tracked view");
        let record = &mut tracked.record;
        let alert = Alert {
            view: record.view.clone(),
            from: record.state,
            to: held.to,
            incident: held.incident,
            at: held.at,
            failed: held.failed.clone(),
            team: team(&self.settings, record.template),
            occasion: Occasion::Change,
        };
        if !record.state.is_failing() || !held.to.is_failing() {
            record.failing_since = held.since;
        }
        record.from = record.state;
        record.state = held.to;
        record.incident = held.incident;
        record.failed = held.failed;
        record.told_at = now;
        record.ack = None;
        record.reminders.clear();
        tracked.held = None;
        step.saves.push(record.clone());
        let template = record.template;
        self.change_sends(template, &alert, step);
    }

    fn remind(&mut self, name: &str, now: Millis, step: &mut Step) {
        let record = &self.views[name].record;
        let due: Vec<(String, Millis)> = self
            .reminders_due(record)
            .filter(|&(_, at)| now >= at)
            .map(|(entry, _)| (entry.to_owned(), self.repeat(record.template, entry)))
            .collect();
        if due.is_empty() {
            return;
        }
        let record = &mut self.views.get_mut(name).expect("a tracked view").record;
        for (entry, repeat) in &due {
            let number = u32::try_from((now - record.told_at) / repeat).unwrap_or(u32::MAX);
            record.reminders.insert(entry.clone(), number);
        }
        let record = record.clone();
        for (entry_name, _) in due {
            let alert = Alert {
                view: record.view.clone(),
                from: record.from,
                to: record.state,
                incident: record.incident,
                at: now,
                failed: record.failed.clone(),
                team: team(&self.settings, record.template),
                occasion: Occasion::Reminder {
                    number: record.reminders[&entry_name],
                    failing_since: record.failing_since,
                },
            };
            if let Some(entry) = self.settings.entries.get(&entry_name) {
                notify(&entry_name, entry, &alert, step);
            }
        }
        step.saves.push(record);
    }

    /// Each entry of the record's view due a reminder, and when, while the
    /// view is failing and unacknowledged.
    fn reminders_due<'a>(&'a self, record: &'a Record) -> impl Iterator<Item = (&'a str, Millis)> {
        let quiet = record.ack.is_some() || !record.state.is_failing();
        self.entries(record.template)
            .filter(move |(_, entry)| !quiet && rules::failing_for(entry, record.state))
            .filter_map(move |(name, _)| {
                let repeat = self.repeat(record.template, name);
                (repeat > 0).then(|| {
                    let sent = Millis::from(record.reminders.get(name).copied().unwrap_or(0));
                    let at = record
                        .told_at
                        .saturating_add((sent + 1).saturating_mul(repeat));
                    (name, at)
                })
            })
    }

    /// The notifications of every entry of `template` that the change
    /// alerts, and its `on_ok`/`on_error` commands.
    fn change_sends(&self, template: usize, alert: &Alert, step: &mut Step) {
        for name in self.settings.views.get(template).into_iter().flatten() {
            let Some(entry) = self.settings.entries.get(name) else {
                tracing::warn!(
                    "Alarm {} references alert {name} which can't be found",
                    alert.view
                );
                continue;
            };
            for target in rules::targets(entry, alert.from, alert.to) {
                step.sends.push((name.clone(), target, alert.clone()));
            }
        }
    }

    fn entries(&self, template: usize) -> impl Iterator<Item = (&str, &Entry)> {
        let names = self.settings.views.get(template).into_iter().flatten();
        names.filter_map(|n| Some((n.as_str(), self.settings.entries.get(n)?)))
    }

    fn policy(&self, template: usize) -> ViewPolicy {
        self.settings
            .policies
            .get(template)
            .copied()
            .unwrap_or_default()
    }

    fn hold(&self, template: usize) -> Millis {
        millis(self.policy(template).hold)
    }

    /// The reminder period of `entry` in `template`'s view, 0 for none.
    fn repeat(&self, template: usize, entry: &str) -> Millis {
        let own = self.settings.entries.get(entry).and_then(|e| e.repeat);
        self.policy(template).repeat.or(own).map_or(0, millis)
    }

    fn tracked(&self, template: usize) -> bool {
        let policy = self.policy(template);
        !policy.hold.is_zero()
            || policy.repeat.is_some()
            || self.entries(template).any(|(_, e)| e.repeat.is_some())
    }
}

/// The entry's notifications (not its commands) for `alert`.
fn notify(name: &str, entry: &Entry, alert: &Alert, step: &mut Step) {
    for target in Target::NOTIFY {
        if rules::has(entry, target) {
            step.sends.push((name.to_owned(), target, alert.clone()));
        }
    }
}

fn healthy(state: State) -> bool {
    !state.is_failing()
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;

/// The `[[alarms]] team` of the view made from `template`, if it has one.
fn team(settings: &Settings, template: usize) -> Option<String> {
    settings.view_teams.get(template).cloned().flatten()
}
