//! The immutable picture of the engine that readers use.
//!
//! The actor publishes a new [`Snapshot`] after each round of batches and
//! deadlines; HTTP handlers load the current one without a lock and without
//! asking the actor. Maps are persistent (structure-sharing), so a new
//! snapshot costs what changed, not what exists.

use std::sync::Arc;

use imbl::OrdMap;
use lovebeat_core::{Changes, Engine, Event, Millis, ServiceInfo, StateCounts, ViewInfo};

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// When this snapshot was taken.
    pub at: Millis,
    pub services: OrdMap<Arc<str>, Arc<ServiceInfo>>,
    pub views: OrdMap<Arc<str>, Arc<ViewInfo>>,
    /// Services per state.
    pub counts: StateCounts,
}

impl Snapshot {
    /// The first snapshot of an engine: everything in it.
    pub fn full(engine: &Engine, now: Millis) -> Snapshot {
        Snapshot {
            at: now,
            services: engine
                .services()
                .map(|s| (s.record.name.clone(), Arc::new(s)))
                .collect(),
            views: engine
                .views()
                .map(|v| (v.record.name.clone(), Arc::new(v)))
                .collect(),
            counts: engine.counts(),
        }
    }

    /// This snapshot with `changes` (just taken from `engine`) applied.
    pub fn updated(&self, engine: &Engine, changes: &Changes, now: Millis) -> Snapshot {
        let mut next = self.clone();
        next.at = now;
        next.counts = engine.counts();
        for event in &changes.events {
            match event {
                Event::ServiceRemoved { record } => {
                    next.services.remove(&record.name);
                }
                Event::ViewRemoved { name } => {
                    next.views.remove(name);
                }
                _ => {}
            }
        }
        for name in &changes.services {
            if let Some(info) = engine.service(name) {
                next.services.insert(name.clone(), Arc::new(info));
            }
        }
        for name in &changes.views {
            if let Some(info) = engine.view(name) {
                next.views.insert(name.clone(), Arc::new(info));
            }
        }
        next
    }

    /// The services of one view.
    pub fn members<'a>(&'a self, view: &'a str) -> impl Iterator<Item = &'a Arc<ServiceInfo>> + 'a {
        self.services
            .values()
            .filter(move |s| s.views.iter().any(|v| v.as_ref() == view))
    }
}
