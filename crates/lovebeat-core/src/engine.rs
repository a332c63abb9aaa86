//! The engine: every service and view, and the rules that move their states.
//!
//! Pure and single-threaded: the caller passes the time into every call and
//! owns the only `Engine` (the actor of `lovebeat-engine`). Commands apply at once;
//! deadlines are kept in a timer queue, so [`Engine::tick`] touches only the
//! services whose deadline passed and the caller can sleep until
//! [`Engine::next_deadline`]. What changed is collected for
//! [`Engine::take_changes`]: state-change events, and the names of services
//! and views whose details changed, for readers and the store.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use crate::auto::Algorithm;
use crate::names::NameIndex;
use crate::pattern::ViewTemplate;
use crate::runs::RunEnd;
use crate::schedule::Schedule;
use crate::service::{Service, ServiceRecord};
use crate::types::{Failure, Millis, Severity, Timeout, TimeoutKind};
use crate::view::{View, ViewRecord};

pub use crate::published::{
    AckRefused, Acknowledgement, Changes, DeleteViewError, Event, ServiceInfo, StateCounts,
    ViewChange, ViewInfo,
};

/// How the engine is set up; built once from the configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The AUTO estimator.
    pub algorithm: Algorithm,
    /// How many beat intervals each service keeps.
    pub history: usize,
    /// View templates, in config order; events name them by index.
    pub views: Vec<ViewTemplate>,
    /// The most services: a command naming a new service beyond it changes
    /// nothing and is counted ([`Engine::refused`]); existing services keep
    /// working. A restore keeps every stored service even beyond it.
    pub max_services: usize,
    /// Minutes east of UTC for the clock times in AUTO reasons.
    pub utc_offset_min: i32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            algorithm: Algorithm::default(),
            history: 100,
            views: Vec::new(),
            max_services: usize::MAX,
            utc_offset_min: 0,
        }
    }
}

pub struct Engine {
    config: EngineConfig,
    /// Service name → index into `services`.
    names: NameIndex,
    services: Vec<Option<Service>>,
    free_services: Vec<u32>,
    view_names: HashMap<Arc<str>, u32>,
    views: Vec<Option<View>>,
    free_views: Vec<u32>,
    /// Stored view records, used when a templated view is created again.
    restored_views: HashMap<Arc<str>, ViewRecord>,
    /// (deadline, service index); an entry is live only while it matches
    /// the service's `scheduled`, stale entries are skipped when popped.
    timers: BinaryHeap<Reverse<(Millis, u32)>>,
    counts: StateCounts,
    events: Vec<Event>,
    dirty_services: Vec<u32>,
    dirty_views: Vec<u32>,
    /// Commands refused because they named a new service at the cap.
    refused: u64,
}

impl Engine {
    /// An empty engine, with its static views in place.
    pub fn new(config: EngineConfig, now: Millis) -> Engine {
        Engine::restore(config, now, Vec::new(), Vec::new())
    }

    /// An engine holding stored services and views, their states brought up
    /// to `now`: a service whose deadline passed meanwhile is late at once.
    /// The returned engine's pending events are only the state changes this
    /// caused (nothing is reported as newly added), and its changed services
    /// only those whose stored record this changed.
    pub fn restore(
        config: EngineConfig,
        now: Millis,
        services: Vec<ServiceRecord>,
        views: Vec<ViewRecord>,
    ) -> Engine {
        let mut engine = Engine {
            config,
            names: NameIndex::with_capacity(services.len()),
            services: Vec::with_capacity(services.len()),
            free_services: Vec::new(),
            view_names: HashMap::new(),
            views: Vec::new(),
            free_views: Vec::new(),
            restored_views: views.into_iter().map(|v| (v.name.clone(), v)).collect(),
            timers: BinaryHeap::new(),
            counts: StateCounts::default(),
            events: Vec::new(),
            dirty_services: Vec::new(),
            dirty_views: Vec::new(),
            refused: 0,
        };
        let statics: Vec<(usize, Arc<str>)> = engine
            .config
            .views
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.static_name().map(|n| (i, n.into())))
            .collect();
        for (template, name) in statics {
            engine.view_or_create(name, template);
        }
        for record in services {
            let stored = (record.state, record.history.len());
            let service =
                Service::from_record(record, engine.config.algorithm, engine.config.history);
            let id = engine.insert(service, now);
            // Readers and the store already have a service the restore
            // left as it was stored.
            let s = engine.service_mut(id);
            s.dirty = (s.record.state, s.record.history.len()) != stored;
        }
        let services = &engine.services;
        engine
            .dirty_services
            .retain(|&id| services[id as usize].as_ref().is_some_and(|s| s.dirty));
        let live: Vec<u32> = engine.live_views().collect();
        for id in live {
            engine.settle_view(id, now);
        }
        engine
            .events
            .retain(|e| !matches!(e, Event::ServiceAdded { .. } | Event::ViewAdded { .. }));
        engine
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Number of services.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn counts(&self) -> StateCounts {
        self.counts
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.get(name, &self.services).is_some()
    }

    /// Commands refused so far because they named a new service while
    /// the engine held `max_services`.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// A heartbeat: moves the last beat, clears a failure report, closes
    /// every open run.
    pub fn beat(&mut self, now: Millis, name: &str) {
        if let Some(id) = self.id_or_create(now, name) {
            self.beat_id(id, now, RunEnd::All);
        }
    }

    fn beat_id(&mut self, id: u32, now: Millis, end: RunEnd<'_>) {
        let capacity = self.config.history;
        let algorithm = self.config.algorithm;
        let s = self.service_mut(id);
        if s.beat(now, capacity, end) && s.uses_auto() {
            s.recompute_auto(algorithm);
        }
        self.refresh(id, now);
    }

    /// A run starts (`start`), with the run id it gave, if any.
    pub fn start_run(&mut self, now: Millis, name: &str, run: Option<&str>) {
        let Some(id) = self.id_or_create(now, name) else {
            return;
        };
        let record = self.service_mut(id).edit();
        record.runs.get_or_insert_default().start(now, run);
        self.refresh(id, now);
    }

    /// The run started with id `run` ends: a beat, or with `failure` a
    /// failure report; other open runs stay open.
    pub fn finish_run(
        &mut self,
        now: Millis,
        name: &str,
        run: &str,
        failure: Option<(Severity, &str)>,
    ) {
        let Some(id) = self.id_or_create(now, name) else {
            return;
        };
        match failure {
            None => self.beat_id(id, now, RunEnd::Id(run)),
            Some((severity, message)) => self.fail_id(id, now, severity, message, RunEnd::Id(run)),
        }
    }

    /// How long a run may take before the service is late (`None`: the
    /// schedule's grace, else the error timeout).
    pub fn set_max_duration(&mut self, now: Millis, name: &str, max: Option<u64>) {
        let Some(id) = self.id_or_create(now, name) else {
            return;
        };
        let s = self.service_mut(id);
        if s.record.runs.as_ref().and_then(|r| r.max_duration) == max {
            return;
        }
        s.edit().runs.get_or_insert_default().max_duration = max;
        self.refresh(id, now);
    }

    /// `autobeat`: sets the error timeout to AUTO, and beats.
    pub fn autobeat(&mut self, now: Millis, name: &str) {
        if self.id_or_create(now, name).is_some() {
            self.set_timeout(now, name, TimeoutKind::Err, Timeout::Auto);
            self.beat(now, name);
        }
    }

    pub fn set_timeout(&mut self, now: Millis, name: &str, kind: TimeoutKind, timeout: Timeout) {
        let Some(id) = self.id_or_create(now, name) else {
            return;
        };
        let algorithm = self.config.algorithm;
        let s = self.service_mut(id);
        let from = s.timeout(kind);
        if from == timeout {
            return;
        }
        s.set_timeout(kind, timeout);
        if timeout == Timeout::Auto {
            s.recompute_auto(algorithm);
        } else if !s.uses_auto() {
            // Rebuilt from the history if AUTO comes back.
            s.rhythm = None;
        }
        let name = s.record.name.clone();
        self.events.push(Event::ServiceTimeoutChanged {
            name,
            kind,
            from,
            to: timeout,
        });
        self.refresh(id, now);
    }

    /// Gives a service its own AUTO estimator (None: the configured one).
    pub fn set_algorithm(&mut self, now: Millis, name: &str, algorithm: Option<Algorithm>) {
        let Some(id) = self.id_or_create(now, name) else {
            return;
        };
        let default = self.config.algorithm;
        let s = self.service_mut(id);
        if s.record.auto_algorithm == algorithm {
            return;
        }
        s.edit().auto_algorithm = algorithm;
        if s.uses_auto() {
            s.recompute_auto(default);
        }
        self.refresh(id, now);
    }

    /// Puts a service on a calendar schedule, or takes it off (`None`): its
    /// deadlines are then its timeouts' alone.
    pub fn set_schedule(&mut self, now: Millis, name: &str, schedule: Option<Arc<Schedule>>) {
        let Some(id) = self.id_or_create(now, name) else {
            return;
        };
        let s = self.service_mut(id);
        if s.record.schedule == schedule {
            return;
        }
        s.edit().schedule = schedule;
        self.refresh(id, now);
    }

    /// An explicit failure report: the service is in `severity`'s state
    /// until its next good beat. Closes every open run.
    pub fn fail(&mut self, now: Millis, name: &str, severity: Severity, message: &str) {
        if let Some(id) = self.id_or_create(now, name) {
            self.fail_id(id, now, severity, message, RunEnd::All);
        }
    }

    fn fail_id(
        &mut self,
        id: u32,
        now: Millis,
        severity: Severity,
        message: &str,
        end: RunEnd<'_>,
    ) {
        let record = self.service_mut(id).edit();
        record.failure = Some(Box::new(Failure {
            at: now,
            severity,
            message: message.to_owned(),
        }));
        if let Some(runs) = &mut record.runs {
            runs.end(now, end);
        }
        self.refresh(id, now);
    }

    /// Sets or clears the service's team label; the service leaves the
    /// views whose team no longer matches and joins those that now do.
    pub fn set_team(&mut self, now: Millis, name: &str, team: Option<&str>) {
        let Some(id) = self.id_or_create(now, name) else {
            return;
        };
        let s = self.service_mut(id);
        if s.record.team.as_deref() == team {
            return;
        }
        let record = s.edit();
        let from = std::mem::replace(&mut record.team, team.map(str::to_owned));
        let name = record.name.clone();
        self.events.push(Event::ServiceTeamChanged {
            name,
            from,
            to: team.map(str::to_owned),
        });
        self.rejoin_views(id, now);
        self.refresh(id, now);
    }

    pub fn mute(&mut self, now: Millis, name: &str) {
        let Some(id) = self.id_or_create(now, name) else {
            return;
        };
        let s = self.service_mut(id);
        if s.record.muted_since.is_none() {
            s.edit().muted_since = Some(now);
            self.refresh(id, now);
        }
    }

    pub fn unmute(&mut self, now: Millis, name: &str) {
        let Some(id) = self.id_or_create(now, name) else {
            return;
        };
        let s = self.service_mut(id);
        if s.record.muted_since.is_some() {
            s.edit().muted_since = None;
            self.refresh(id, now);
        }
    }

    /// Removes a service; returns whether it existed.
    pub fn delete(&mut self, now: Millis, name: &str) -> bool {
        let Some(id) = self.names.remove(name, &self.services) else {
            return false;
        };
        let service = self.services[id as usize]
            .take()
            .expect("named services exist");
        self.free_services.push(id);
        self.counts.remove(service.record.state);
        self.events.push(Event::ServiceRemoved {
            record: service.to_record(),
        });
        for &vid in &service.views {
            let view = self.view_mut(vid);
            view.members.remove(&id);
            view.count(Some(service.record.state), None);
            view.dirty = true;
            self.dirty_views.push(vid);
            self.settle_view(vid, now);
        }
        true
    }

    /// Acknowledges a failing view: an event for the logs and the alerter,
    /// which stops its reminders.
    pub fn acknowledge(&mut self, ack: Acknowledgement) -> Result<(), AckRefused> {
        let state = (self.view(&ack.name).map(|v| v.record.state)).ok_or(AckRefused::NotFound)?;
        if !state.is_failing() {
            return Err(AckRefused::NotFailing(state));
        }
        self.events.push(Event::ViewAcknowledged(ack));
        Ok(())
    }

    /// Removes a view that has no members (a view with members would only
    /// come back with its next member).
    pub fn delete_view(&mut self, name: &str) -> Result<(), DeleteViewError> {
        let &id = self.view_names.get(name).ok_or(DeleteViewError::NotFound)?;
        let members = self.view_mut(id).members.len();
        if members > 0 {
            return Err(DeleteViewError::HasMembers(members));
        }
        let view = self.views[id as usize].take().expect("named views exist");
        self.view_names.remove(name);
        self.restored_views.remove(name);
        self.free_views.push(id);
        self.events.push(Event::ViewRemoved { name: view.name });
        Ok(())
    }

    /// Applies every deadline up to `now`.
    pub fn tick(&mut self, now: Millis) {
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let live = self.services[id as usize]
                .as_ref()
                .is_some_and(|s| s.scheduled == Some(at));
            if live {
                self.service_mut(id).scheduled = None;
                self.refresh(id, now);
            }
        }
    }

    /// When [`Engine::tick`] next has something to do. May be early (a
    /// deadline that moved later), never late.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Whether events wait for [`Engine::take_changes`] (beats alone make
    /// no event).
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Drains what changed since the last call.
    pub fn take_changes(&mut self) -> Changes {
        let mut services = Vec::with_capacity(self.dirty_services.len());
        for id in std::mem::take(&mut self.dirty_services) {
            if let Some(s) = self.services[id as usize].as_mut()
                && s.dirty
            {
                s.dirty = false;
                services.push(s.record.name.clone());
            }
        }
        let mut views = Vec::with_capacity(self.dirty_views.len());
        for id in std::mem::take(&mut self.dirty_views) {
            if let Some(v) = self.views[id as usize].as_mut()
                && v.dirty
            {
                v.dirty = false;
                views.push(v.name.clone());
            }
        }
        Changes {
            events: std::mem::take(&mut self.events),
            services,
            views,
        }
    }

    pub fn service(&self, name: &str) -> Option<ServiceInfo> {
        let id = self.names.get(name, &self.services)?;
        Some(self.service_info(id))
    }

    /// Every service, in the order of their slots (a restore fills them in
    /// the store's order: by name).
    pub fn services(&self) -> impl Iterator<Item = ServiceInfo> + '_ {
        (self.services.iter().enumerate())
            .filter(|(_, s)| s.is_some())
            .map(|(id, _)| self.service_info(id as u32))
    }

    /// Stored form of every service, for the store's image at shutdown.
    pub fn service_records(&self) -> impl Iterator<Item = ServiceRecord> + '_ {
        self.services.iter().flatten().map(Service::to_record)
    }

    /// Stored form of one service, for the store.
    pub fn service_record(&self, name: &str) -> Option<ServiceRecord> {
        let id = self.names.get(name, &self.services)?;
        self.services[id as usize].as_ref().map(Service::to_record)
    }

    pub fn view(&self, name: &str) -> Option<ViewInfo> {
        let &id = self.view_names.get(name)?;
        Some(self.view_info(id))
    }

    pub fn views(&self) -> impl Iterator<Item = ViewInfo> + '_ {
        self.live_views().map(|id| self.view_info(id))
    }

    fn service_info(&self, id: u32) -> ServiceInfo {
        let s = self.services[id as usize]
            .as_ref()
            .expect("named services exist");
        ServiceInfo {
            record: s.record.clone(),
            views: s
                .views
                .iter()
                .map(|&v| self.view_ref(v).name.clone())
                .collect(),
            auto_timeout: s.auto_ms,
            auto_algorithm: s.record.auto_algorithm.unwrap_or(self.config.algorithm),
            auto_reason: s.uses_auto().then(|| {
                s.auto_reason(self.config.algorithm, self.config.utc_offset_min)
                    .into()
            }),
        }
    }

    fn view_info(&self, id: u32) -> ViewInfo {
        let v = self.view_ref(id);
        ViewInfo {
            record: v.to_record(),
            template: v.template,
            members: v.members.len(),
            warning: v.warning as usize,
            error: v.error as usize,
            failed: self.failed_members(v),
        }
    }

    fn failed_members(&self, view: &View) -> Vec<Arc<str>> {
        if view.warning == 0 && view.error == 0 {
            return Vec::new();
        }
        view.members
            .iter()
            .filter_map(|&m| self.services[m as usize].as_ref())
            .filter(|s| s.record.state.is_failing())
            .map(|s| s.record.name.clone())
            .collect()
    }

    fn live_views(&self) -> impl Iterator<Item = u32> + '_ {
        self.views
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_some())
            .map(|(i, _)| i as u32)
    }

    fn service_mut(&mut self, id: u32) -> &mut Service {
        self.services[id as usize]
            .as_mut()
            .expect("service ids point at services")
    }

    fn view_ref(&self, id: u32) -> &View {
        self.views[id as usize]
            .as_ref()
            .expect("view ids point at views")
    }

    fn view_mut(&mut self, id: u32) -> &mut View {
        self.views[id as usize]
            .as_mut()
            .expect("view ids point at views")
    }

    /// The service's id, creating it unless the engine is full (then
    /// None, counted in `refused`).
    fn id_or_create(&mut self, now: Millis, name: &str) -> Option<u32> {
        match self.names.get(name, &self.services) {
            Some(id) => Some(id),
            None if self.names.len() >= self.config.max_services => {
                self.refused += 1;
                None
            }
            None => Some(self.insert(Service::new(name.into(), now), now)),
        }
    }

    /// Adds a service (new or restored), joins it to its views, and brings
    /// everything up to `now`. Events come in the Go order: views added,
    /// then the service added, then state changes.
    fn insert(&mut self, mut service: Service, now: Millis) -> u32 {
        let id = match self.free_services.pop() {
            Some(id) => id,
            None => {
                self.services.push(None);
                (self.services.len() - 1) as u32
            }
        };
        for (t, view) in self.memberships(&service) {
            service.views.push(self.view_or_create(view.into(), t));
        }
        let name = service.record.name.clone();
        let state = service.record.state;
        let views = service.views.clone();
        self.counts.add(state);
        self.services[id as usize] = Some(service);
        self.names.insert(&name, id, &self.services);
        self.events.push(Event::ServiceAdded { name });
        for &vid in &views {
            let view = self.view_mut(vid);
            view.members.insert(id);
            view.count(None, Some(state));
            self.touch_view(vid);
        }
        self.refresh(id, now);
        for &vid in &views {
            self.settle_view(vid, now);
        }
        id
    }

    /// The (template, view name) pairs a service belongs to, by config.
    fn memberships(&self, service: &Service) -> Vec<(usize, String)> {
        let team = service.record.team.as_deref();
        (self.config.views.iter().enumerate())
            .filter_map(|(t, template)| {
                template
                    .view_for_member(&service.record.name, team)
                    .map(|v| (t, v))
            })
            .collect()
    }

    /// Moves a service whose label changed into the views it now belongs
    /// to, out of the others, settling every view touched.
    fn rejoin_views(&mut self, id: u32, now: Millis) {
        let wanted: Vec<u32> = {
            let pairs = self.memberships(self.services[id as usize].as_ref().expect("live"));
            pairs
                .into_iter()
                .map(|(t, view)| self.view_or_create(view.into(), t))
                .collect()
        };
        let s = self.service_mut(id);
        let state = s.record.state;
        let old = std::mem::replace(&mut s.views, wanted.clone());
        for &vid in old.iter().filter(|v| !wanted.contains(v)) {
            let view = self.view_mut(vid);
            view.members.remove(&id);
            view.count(Some(state), None);
            self.touch_view(vid);
            self.settle_view(vid, now);
        }
        for &vid in wanted.iter().filter(|v| !old.contains(v)) {
            let view = self.view_mut(vid);
            view.members.insert(id);
            view.count(None, Some(state));
            self.touch_view(vid);
            self.settle_view(vid, now);
        }
    }

    fn view_or_create(&mut self, name: Arc<str>, template: usize) -> u32 {
        if let Some(&id) = self.view_names.get(&name) {
            return id;
        }
        let restored = self.restored_views.get(&name).cloned();
        let view = View::new(name.clone(), template, restored);
        let id = match self.free_views.pop() {
            Some(id) => {
                self.views[id as usize] = Some(view);
                id
            }
            None => {
                self.views.push(Some(view));
                (self.views.len() - 1) as u32
            }
        };
        self.view_names.insert(name.clone(), id);
        self.dirty_views.push(id);
        self.events.push(Event::ViewAdded { name });
        id
    }

    /// Brings a service's state to `now`, carries a change into its views,
    /// schedules its next deadline and marks it for readers.
    fn refresh(&mut self, id: u32, now: Millis) {
        let s = self.service_mut(id);
        let from = s.record.state;
        let to = s.state_at(now);
        let next = s.next_deadline(now);
        if !s.dirty {
            s.dirty = true;
            self.dirty_services.push(id);
        }
        let s = self.services[id as usize]
            .as_mut()
            .expect("service ids point at services");
        match (next, s.scheduled) {
            (Some(at), Some(current)) if current <= at => {}
            (Some(at), _) => {
                s.scheduled = Some(at);
                self.timers.push(Reverse((at, id)));
            }
            (None, _) => {}
        }
        if from == to {
            return;
        }
        let record = s.edit();
        record.state = to;
        record.last_state_change = now;
        let name = record.name.clone();
        let views = s.views.clone();
        self.counts.remove(from);
        self.counts.add(to);
        self.events.push(Event::ServiceStateChanged {
            name,
            from,
            to,
            at: now,
        });
        for vid in views {
            let view = self.view_mut(vid);
            view.count(Some(from), Some(to));
            self.touch_view(vid);
            self.settle_view(vid, now);
        }
    }

    /// Marks a view for readers: its members or their states changed, so
    /// its counts and failed members did, even when its state did not.
    fn touch_view(&mut self, id: u32) {
        let view = self.view_mut(id);
        if !view.dirty {
            view.dirty = true;
            self.dirty_views.push(id);
        }
    }

    fn settle_view(&mut self, id: u32, now: Millis) {
        let view = self.view_mut(id);
        let Some(from) = view.settle(now) else {
            return;
        };
        self.dirty_views.push(id);
        let view = self.view_ref(id);
        let change = ViewChange {
            name: view.name.clone(),
            template: view.template,
            from,
            to: view.state,
            incident: view.incident,
            at: now,
            failed: self.failed_members(view),
        };
        self.events.push(Event::ViewStateChanged(change));
    }
}

#[cfg(test)]
#[path = "engine_calendar_tests.rs"]
mod calendar_tests;
#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
