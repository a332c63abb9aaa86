//! The process log's lines for the model's events (§7.5), in Go lovebeat's
//! wording so that existing log searches keep working, with the same facts
//! as structured fields (`service`, `view`, `from`, `to`):
//!
//! ```text
//! SERVICE 'backup', created -> new
//! SERVICE 'backup', state ok -> error
//! SERVICE 'backup', tmo never -> 60s        (warn-tmo for the warning timeout)
//! SERVICE 'backup', error -> deleted
//! ALARM 'ops', created -> new
//! ALARM 'ops', state ok -> error
//! ALARM 'ops', deleted
//! ```
//!
//! Fed by its own subscription to the actor's published changes.

use std::sync::Arc;

use lovebeat_core::{Event, TimeoutKind};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::actor::{EngineHandle, Published};
use crate::internal_events::SubscriberLagged;
use crate::metrics::Subscriber;

/// Logs every event until `stop`, then what is left.
pub(crate) async fn run(
    handle: EngineHandle,
    mut rx: broadcast::Receiver<Arc<Published>>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            received = rx.recv() => match received {
                Ok(published) => log_round(&published),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let subscriber = Subscriber::StateLog;
                    SubscriberLagged { subscriber, missed }.emit(handle.metrics());
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            () = stop.cancelled() => break,
        }
    }
    while let Ok(published) = rx.try_recv() {
        log_round(&published);
    }
}

fn log_round(published: &Published) {
    for event in &published.changes.events {
        log_event(event, published);
    }
}

fn log_event(event: &Event, published: &Published) {
    let snapshot = &published.snapshot;
    match event {
        // A service is created new; what it went to is the next event.
        Event::ServiceAdded { name } => {
            tracing::info!(service = %name, to = "new", "SERVICE '{name}', created -> new");
        }
        Event::ServiceStateChanged { name, from, to, .. } => {
            let (from, to) = (from.as_str(), to.as_str());
            tracing::info!(service = %name, from, to, "SERVICE '{name}', state {from} -> {to}");
        }
        Event::ServiceTimeoutChanged {
            name,
            kind,
            from,
            to,
        } => {
            let which = match kind {
                TimeoutKind::Err => "tmo",
                TimeoutKind::Warn => "warn-tmo",
            };
            let (from, to) = (from.to_string(), to.to_string());
            tracing::info!(service = %name, timeout = which, from, to, "SERVICE '{name}', {which} {from} -> {to}");
        }
        Event::ServiceRemoved { record } => {
            let (name, from) = (&record.name, record.state.as_str());
            tracing::info!(service = %name, from, to = "deleted", "SERVICE '{name}', {from} -> deleted");
        }
        Event::ViewAdded { name } => {
            let state = snapshot
                .views
                .get(name)
                .map_or("new", |v| v.record.state.as_str());
            tracing::info!(view = %name, to = state, "ALARM '{name}', created -> {state}");
        }
        Event::ViewStateChanged(change) => {
            let (name, from, to) = (&change.name, change.from.as_str(), change.to.as_str());
            tracing::info!(view = %name, from, to, "ALARM '{name}', state {from} -> {to}");
        }
        Event::ViewRemoved { name } => {
            tracing::info!(view = %name, to = "deleted", "ALARM '{name}', deleted");
        }
    }
}
