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
//! ALARM 'ops', acknowledged by alice: swapping the disk
//! ```
//!
//! Fed by its own subscription to the actor's published changes.

use std::sync::Arc;

use lovebeat_core::{Event, State, TimeoutKind};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use lovebeat_engine::{Published, Snapshot};
use lovebeat_telemetry::events::SubscriberLagged;
use lovebeat_telemetry::{Metrics, Subscriber};

/// Logs every event until `stop`, then what is left.
pub(crate) async fn run(
    metrics: Arc<Metrics>,
    mut rx: broadcast::Receiver<Arc<Published>>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            received = rx.recv() => match received {
                Ok(published) => log_round(&published),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let subscriber = Subscriber::StateLog;
                    SubscriberLagged { subscriber, missed }.emit(&metrics);
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
        let l = line(event, &published.snapshot);
        let (name, what, from, to) = (l.name, l.what, l.from, l.to);
        match l.object {
            Object::Service => {
                tracing::info!(
                    service = name,
                    what,
                    from,
                    to,
                    "SERVICE '{name}', {}",
                    l.text
                )
            }
            Object::View => {
                tracing::info!(view = name, what, from, to, "ALARM '{name}', {}", l.text)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Object {
    Service,
    View,
}

/// One log line: its words after the name, and the same as fields.
#[derive(Debug, PartialEq, Eq)]
struct Line<'a> {
    object: Object,
    name: &'a str,
    /// `created`, `state`, `tmo`, `warn-tmo`, `team`, `deleted` or
    /// `acknowledged` (`from` the author, `to` the comment).
    what: &'static str,
    from: String,
    to: String,
    text: String,
}

impl<'a> Line<'a> {
    fn new(object: Object, name: &'a str, what: &'static str, from: String, to: String) -> Self {
        let text = match what {
            "created" => format!("created -> {to}"),
            "deleted" if from.is_empty() => "deleted".to_owned(),
            "deleted" => format!("{from} -> deleted"),
            "acknowledged" => format!("acknowledged by {from}: {to}"),
            _ => format!("{what} {from} -> {to}"),
        };
        Line {
            object,
            name,
            what,
            from,
            to,
            text,
        }
    }
}

fn line<'a>(event: &'a Event, snapshot: &Snapshot) -> Line<'a> {
    let s = |state: State| state.as_str().to_owned();
    match event {
        // A service is created new; what it went to is the next event.
        Event::ServiceAdded { name } => Line::new(
            Object::Service,
            name,
            "created",
            String::new(),
            s(State::New),
        ),
        Event::ServiceStateChanged { name, from, to, .. } => {
            Line::new(Object::Service, name, "state", s(*from), s(*to))
        }
        Event::ServiceTimeoutChanged {
            name,
            kind,
            from,
            to,
        } => {
            let what = match kind {
                TimeoutKind::Err => "tmo",
                TimeoutKind::Warn => "warn-tmo",
            };
            Line::new(
                Object::Service,
                name,
                what,
                from.to_string(),
                to.to_string(),
            )
        }
        Event::ServiceTeamChanged { name, from, to } => {
            let team = |t: &Option<String>| t.clone().unwrap_or_else(|| "-".to_owned());
            Line::new(Object::Service, name, "team", team(from), team(to))
        }
        Event::ServiceRemoved { record } => Line::new(
            Object::Service,
            &record.name,
            "deleted",
            s(record.state),
            "deleted".to_owned(),
        ),
        Event::ViewAdded { name } => {
            let state = snapshot
                .views
                .get(name)
                .map_or(State::New, |v| v.record.state);
            Line::new(Object::View, name, "created", String::new(), s(state))
        }
        Event::ViewStateChanged(change) => Line::new(
            Object::View,
            &change.name,
            "state",
            s(change.from),
            s(change.to),
        ),
        Event::ViewRemoved { name } => Line::new(
            Object::View,
            name,
            "deleted",
            String::new(),
            "deleted".to_owned(),
        ),
        Event::ViewAcknowledged(ack) => Line::new(
            Object::View,
            &ack.name,
            "acknowledged",
            ack.author.clone(),
            ack.comment.clone(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_core::{Engine, EngineConfig, Timeout};

    fn texts(engine: &mut Engine) -> Vec<String> {
        let changes = engine.take_changes();
        let snapshot = Snapshot::default().updated(engine, &changes, 0);
        changes
            .events
            .iter()
            .map(|e| {
                let l = line(e, &snapshot);
                let object = match l.object {
                    Object::Service => "SERVICE",
                    Object::View => "ALARM",
                };
                format!("{object} '{}', {}", l.name, l.text)
            })
            .collect()
    }

    #[test]
    fn lines_read_as_go_lovebeat_wrote_them() {
        let mut engine = Engine::new(EngineConfig::default(), 0);
        engine.set_timeout(0, "backup", TimeoutKind::Err, Timeout::After(60_000));
        engine.beat(0, "backup");
        engine.set_timeout(0, "backup", TimeoutKind::Warn, Timeout::Always);
        engine.delete(0, "backup");
        assert_eq!(
            texts(&mut engine),
            [
                "SERVICE 'backup', created -> new",
                "SERVICE 'backup', tmo never -> 60s",
                "SERVICE 'backup', state new -> ok",
                "SERVICE 'backup', warn-tmo never -> always",
                "SERVICE 'backup', state ok -> warning",
                "SERVICE 'backup', warning -> deleted",
            ]
        );
    }
}
