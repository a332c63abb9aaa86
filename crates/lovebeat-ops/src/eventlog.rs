//! The event log (§7.4): every service and view event as one JSON line,
//! `{"ts":<ms>,"type":"<t>","<t>":{…}}`, appended to `[eventlog] path`.
//!
//! Fed by its own subscription to the actor's published changes, so a slow
//! disk never holds up ingest. The file is reopened on SIGHUP
//! ([`crate::Ops::reopen_eventlog`]) and when it was rotated away
//! (renamed or deleted: checked at most once a second, before a write), so
//! logrotate works with or without `postrotate kill -HUP`.
//!
//! Types: Go lovebeat's `service_added`, `service_state_changed`,
//! `service_removed`, `alarm_added`, `alarm_state_changed`,
//! `alarm_removed`, plus `service_timeout_changed` and
//! `alarm_acknowledged` (`{"alarm":{…},"author":…,"comment":…}`).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lovebeat_core::{Event, Millis, ServiceInfo, State, TimeoutKind};
use serde::Serialize;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use lovebeat_core::json::{ServiceJson, ViewJson};
use lovebeat_engine::{Published, Snapshot};
use lovebeat_telemetry::events::{
    EventLogFailed, EventLogReopened, EventLogWritten, SubscriberLagged,
};
use lovebeat_telemetry::{Metrics, Subscriber};

/// How often, at most, the path is checked for rotation.
const ROTATION_CHECK: Duration = Duration::from_secs(1);

/// `[eventlog]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLogSettings {
    /// The file lines are appended to.
    pub path: PathBuf,
    /// Permission bits of a new file (before the umask).
    pub mode: u32,
}

/// The open file and what it was opened as.
struct Open {
    out: BufWriter<File>,
    /// (device, inode) of the file when opened: the path pointing anywhere
    /// else means it was rotated.
    id: (u64, u64),
}

/// The log file, reopened as needed.
pub(crate) struct EventLog {
    settings: EventLogSettings,
    open: Option<Open>,
    checked: Instant,
}

impl EventLog {
    /// Opens (creates, appends to) the file.
    pub(crate) fn open(settings: EventLogSettings) -> io::Result<EventLog> {
        let mut log = EventLog {
            settings,
            open: None,
            checked: Instant::now(),
        };
        log.reopen()?;
        Ok(log)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.settings.path
    }

    /// Closes the file (if open) and opens the path again.
    pub(crate) fn reopen(&mut self) -> io::Result<()> {
        if let Some(mut open) = self.open.take() {
            let _ = open.out.flush();
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(self.settings.mode)
            .open(&self.settings.path)?;
        let meta = file.metadata()?;
        self.open = Some(Open {
            out: BufWriter::new(file),
            id: (meta.dev(), meta.ino()),
        });
        self.checked = Instant::now();
        Ok(())
    }

    /// Whether the path no longer names the open file.
    fn is_rotated(&self) -> bool {
        let Some(open) = &self.open else {
            return true;
        };
        match std::fs::metadata(&self.settings.path) {
            Ok(meta) => (meta.dev(), meta.ino()) != open.id,
            Err(_) => true,
        }
    }

    /// Reopens if the file was rotated away (checked at most every
    /// [`ROTATION_CHECK`]) or is not open; returns whether it reopened.
    fn follow_rotation(&mut self) -> io::Result<bool> {
        if self.open.is_some() && self.checked.elapsed() < ROTATION_CHECK {
            return Ok(false);
        }
        self.checked = Instant::now();
        if self.is_rotated() {
            self.reopen()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Appends `lines` (each ending in `\n`) and flushes.
    fn append(&mut self, lines: &str) -> io::Result<()> {
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| io::Error::other("not open"))?;
        open.out.write_all(lines.as_bytes())?;
        open.out.flush()
    }

    /// Writes one round's events: follows rotation first, then appends.
    pub(crate) fn write(&mut self, lines: &str, count: usize, metrics: &Metrics) {
        match self.follow_rotation() {
            Ok(true) => EventLogReopened {
                path: self.path(),
                why: "rotated",
            }
            .emit(metrics),
            Ok(false) => {}
            Err(error) => {
                let path = &self.settings.path;
                return EventLogFailed {
                    path,
                    error: &error,
                }
                .emit(metrics);
            }
        }
        match self.append(lines) {
            Ok(()) => EventLogWritten { lines: count }.emit(metrics),
            Err(error) => {
                // Drop the handle: the next round opens the path again.
                self.open = None;
                let path = &self.settings.path;
                EventLogFailed {
                    path,
                    error: &error,
                }
                .emit(metrics);
            }
        }
    }
}

/// Follows published changes until `stop`, then writes what is left.
pub(crate) async fn run(
    mut log: EventLog,
    mut rx: broadcast::Receiver<Arc<Published>>,
    reopen: Arc<Notify>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            received = rx.recv() => match received {
                Ok(published) => write_round(&mut log, &published, &metrics),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    SubscriberLagged { subscriber: Subscriber::EventLog, missed }.emit(&metrics);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            () = reopen.notified() => match log.reopen() {
                Ok(()) => EventLogReopened { path: log.path(), why: "SIGHUP" }.emit(&metrics),
                Err(error) => EventLogFailed { path: log.path(), error: &error }.emit(&metrics),
            },
            () = stop.cancelled() => break,
        }
    }
    while let Ok(published) = rx.try_recv() {
        write_round(&mut log, &published, &metrics);
    }
}

fn write_round(log: &mut EventLog, published: &Published, metrics: &Metrics) {
    let lines = lines(published);
    if !lines.is_empty() {
        log.write(&lines, lines.matches('\n').count(), metrics);
    }
}

/// The JSON lines of one round's events, in order.
pub(crate) fn lines(published: &Published) -> String {
    let snapshot = &published.snapshot;
    let mut out = String::new();
    for event in &published.changes.events {
        let (ts, kind, body) = line_parts(event, snapshot);
        out.push_str(&format!(
            "{{\"ts\":{ts},\"type\":\"{kind}\",\"{kind}\":{body}}}\n"
        ));
    }
    out
}

#[derive(Serialize)]
struct ServiceBody<'a> {
    service: ServiceJson<'a>,
}

#[derive(Serialize)]
struct ServiceChange<'a, T: Serialize> {
    service: ServiceJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    previous: T,
    current: T,
}

#[derive(Serialize)]
struct AlarmBody<T: Serialize> {
    alarm: T,
}

#[derive(Serialize)]
struct AlarmChange<'a> {
    alarm: ViewJson<'a>,
    previous: State,
    current: State,
}

#[derive(Serialize)]
struct AlarmAck<'a, T: Serialize> {
    alarm: T,
    author: &'a str,
    comment: &'a str,
}

#[derive(Serialize)]
struct NameOnly<'a> {
    name: &'a str,
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("events serialize")
}

/// `(ts, type, body)` of one event.
fn line_parts(event: &Event, snapshot: &Snapshot) -> (Millis, &'static str, String) {
    let at = snapshot.at;
    let service = |name: &str| snapshot.services.get(name).cloned();
    match event {
        Event::ServiceAdded { name } => {
            let body = match service(name) {
                Some(s) => to_json(&ServiceBody {
                    service: ServiceJson::new(&s),
                }),
                None => format!("{{\"service\":{}}}", to_json(&NameOnly { name })),
            };
            (at, "service_added", body)
        }
        Event::ServiceStateChanged { name, from, to, at } => {
            let info = service(name).unwrap_or_else(|| Arc::new(bare(name)));
            let body = to_json(&ServiceChange {
                service: ServiceJson::new(&info),
                kind: None,
                previous: *from,
                current: *to,
            });
            (*at, "service_state_changed", body)
        }
        Event::ServiceTimeoutChanged {
            name,
            kind,
            from,
            to,
        } => {
            let info = service(name).unwrap_or_else(|| Arc::new(bare(name)));
            let kind = match kind {
                TimeoutKind::Warn => "warn",
                TimeoutKind::Err => "err",
            };
            let body = to_json(&ServiceChange {
                service: ServiceJson::new(&info),
                kind: Some(kind),
                previous: from.to_wire_ms(),
                current: to.to_wire_ms(),
            });
            (at, "service_timeout_changed", body)
        }
        Event::ServiceTeamChanged { name, from, to } => {
            let info = service(name).unwrap_or_else(|| Arc::new(bare(name)));
            let body = to_json(&ServiceChange {
                service: ServiceJson::new(&info),
                kind: Some("team"),
                previous: from,
                current: to,
            });
            (at, "service_team_changed", body)
        }
        Event::ServiceRemoved { record } => {
            let info = ServiceInfo {
                record: Arc::new(record.clone()),
                views: Vec::new(),
                auto_timeout: None,
                auto_algorithm: record.auto_algorithm.unwrap_or_default(),
                auto_reason: None,
            };
            let body = to_json(&ServiceBody {
                service: ServiceJson::new(&info),
            });
            (at, "service_removed", body)
        }
        Event::ViewAdded { name } => {
            let body = match snapshot.views.get(name) {
                Some(v) => to_json(&AlarmBody {
                    alarm: ViewJson::new(v),
                }),
                None => to_json(&AlarmBody {
                    alarm: NameOnly { name },
                }),
            };
            (at, "alarm_added", body)
        }
        Event::ViewStateChanged(change) => {
            let body = match snapshot.views.get(&change.name) {
                Some(v) => to_json(&AlarmChange {
                    alarm: ViewJson::new(v),
                    previous: change.from,
                    current: change.to,
                }),
                None => format!(
                    "{{\"alarm\":{},\"previous\":\"{}\",\"current\":\"{}\"}}",
                    to_json(&NameOnly { name: &change.name }),
                    change.from,
                    change.to
                ),
            };
            (change.at, "alarm_state_changed", body)
        }
        Event::ViewAcknowledged(ack) => {
            let (author, comment) = (ack.author.as_str(), ack.comment.as_str());
            let body = match snapshot.views.get(&ack.name) {
                Some(v) => to_json(&AlarmAck {
                    alarm: ViewJson::new(v),
                    author,
                    comment,
                }),
                None => to_json(&AlarmAck {
                    alarm: NameOnly { name: &ack.name },
                    author,
                    comment,
                }),
            };
            (ack.at, "alarm_acknowledged", body)
        }
        Event::ViewRemoved { name } => {
            let body = to_json(&AlarmBody {
                alarm: NameOnly { name },
            });
            (at, "alarm_removed", body)
        }
    }
}

/// A service known only by name (removed in the same round it changed).
fn bare(name: &str) -> ServiceInfo {
    ServiceInfo {
        record: Arc::new(lovebeat_core::ServiceRecord::new(name.into(), 0)),
        views: Vec::new(),
        auto_timeout: None,
        auto_algorithm: Default::default(),
        auto_reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_core::pattern::ViewTemplate;
    use lovebeat_core::{Engine, EngineConfig, Timeout};
    use serde_json::Value;

    fn round(engine: &mut Engine, previous: &Snapshot, now: Millis) -> Published {
        let changes = engine.take_changes();
        let snapshot = Arc::new(previous.updated(engine, &changes, now));
        Published { changes, snapshot }
    }

    fn parse(lines: &str) -> Vec<Value> {
        lines
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn every_line_is_ts_type_and_a_body_under_the_type() {
        let config = EngineConfig {
            views: vec![ViewTemplate::regex("web", "web").unwrap()],
            ..Default::default()
        };
        let mut engine = Engine::new(config, 0);
        let _ = engine.take_changes();
        engine.set_timeout(5, "web.1", TimeoutKind::Err, Timeout::Always);
        let published = round(&mut engine, &Snapshot::default(), 5);
        let text = lines(&published);
        let types: Vec<String> = parse(&text)
            .iter()
            .map(|v| v["type"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            types,
            [
                "service_added",
                "service_timeout_changed",
                "service_state_changed",
                "alarm_state_changed"
            ]
        );
        for line in text.lines() {
            assert!(line.starts_with("{\"ts\":5,\"type\":\""), "{line}");
        }
        let lines = parse(&text);
        let changed = &lines[2]["service_state_changed"];
        assert_eq!(changed["service"]["name"], "web.1");
        assert_eq!(
            (changed["previous"].as_str(), changed["current"].as_str()),
            (Some("new"), Some("error"))
        );
        assert_eq!(lines[1]["service_timeout_changed"]["current"], 0);
        let alarm = &lines[3]["alarm_state_changed"];
        assert_eq!(alarm["alarm"]["name"], "web");
        assert_eq!(alarm["current"], "error");
    }

    #[test]
    fn removal_carries_the_removed_service() {
        let mut engine = Engine::new(EngineConfig::default(), 0);
        engine.beat(0, "gone");
        let first = round(&mut engine, &Snapshot::default(), 0);
        engine.delete(1, "gone");
        let published = round(&mut engine, &first.snapshot, 1);
        let lines = parse(&lines(&published));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["type"], "service_removed");
        assert_eq!(lines[0]["service_removed"]["service"]["name"], "gone");
        assert_eq!(lines[0]["service_removed"]["service"]["state"], "ok");
    }

    #[test]
    fn a_rotated_file_is_reopened_and_a_deleted_one_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.log");
        let metrics = Metrics::new("test");
        let settings = EventLogSettings {
            path: path.clone(),
            mode: 0o600,
        };
        let mut log = EventLog::open(settings).unwrap();
        log.write("one\n", 1, &metrics);
        std::fs::rename(&path, dir.path().join("events.log.1")).unwrap();
        log.checked -= ROTATION_CHECK;
        log.write("two\n", 1, &metrics);
        std::fs::remove_file(&path).unwrap();
        log.checked -= ROTATION_CHECK;
        log.write("three\n", 1, &metrics);
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(read("events.log.1"), "one\n");
        assert_eq!(read("events.log"), "three\n");
        assert_eq!(metrics.eventlog_reopens(), 2);
        assert_eq!(metrics.eventlog_lines(), 3);
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
