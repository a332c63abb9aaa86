//! `GET /ws`: the live feed of service and view changes the dashboard
//! draws from.
//!
//! On connect a client gets one `SNAPSHOT` message with every service and
//! view; after that, one JSON text message per change, shaped as Go
//! lovebeat's Redux actions (§2.4): `ADD_SERVICE`, `UPDATE_SERVICE`,
//! `REMOVE_SERVICE` with a `service`, and `ADD_VIEW`/`UPDATE_VIEW`/
//! `REMOVE_VIEW` with a `view`, each followed by the same change as
//! `…_ALARM` with an `alarm` for Go lovebeat's dashboard.
//!
//! Each connection keeps a [`Mirror`] of what it has sent. The actor's
//! broadcast only marks names dirty; at most every [`FLUSH_EVERY`] the
//! connection compares the dirty names between its mirror and the newest
//! snapshot and sends one message per service that differs. So a service
//! beating 10 000 times a second costs a browser at most four updates a
//! second, and a change that was undone in between costs nothing. A
//! connection that falls behind the broadcast (`Lagged`) compares
//! everything once instead. Writing never blocks the engine: the broadcast
//! does not wait for anyone, and a client that does not take a flush within
//! [`WRITE_TIMEOUT`] (or stops answering pings) is dropped; it reconnects
//! and starts over with a snapshot.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use imbl::OrdMap;
use lovebeat_core::{Changes, Event, ServiceInfo, ViewInfo};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, MissedTickBehavior};

use lovebeat_core::json::{ServiceJson, ViewJson};

use super::{ApiError, AppState};
use crate::access::is_cross_site;
use lovebeat_engine::Snapshot;
use lovebeat_telemetry::events::{Denied, Limited};
use lovebeat_telemetry::{Denial, Limit};

/// The shortest time between two flushes of one connection: the most
/// updates per second a busy service costs a browser is its inverse.
const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// How often the server pings.
const PING_EVERY: Duration = Duration::from_secs(30);
/// A client silent for this long (no pong, nothing) is dropped.
const SILENCE_LIMIT: Duration = Duration::from_secs(75);
/// How long one flush may take to write before the client is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Clients have nothing to say; Go lovebeat read at most 512 bytes.
const MAX_INCOMING: usize = 4096;

/// Upgrades to a websocket and serves it until either side leaves: 403
/// for a page of another origin (unless it shows the dashboard's
/// [`PageTicket`](super::PageTicket)), 503 beyond `[limits] websockets`.
pub(super) async fn upgrade(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    let metrics = &state.metrics;
    // The page's ticket stands in for a same-host origin behind a proxy that
    // rewrites `Host`; with `[http] hosts` set, only those hosts' pages
    // may open it (a DNS-rebinding page could read the ticket).
    let ticket = state.access.hosts.is_empty() && from_our_page(&uri, &state);
    if is_cross_site(&headers, &state.access) && !ticket {
        let denial = Denial::WebsocketOrigin;
        let peer = connect.map(|Extension(ConnectInfo(addr))| addr.ip());
        Denied { denial, peer }.emit(metrics);
        let reason = "this page's origin may not open the websocket ([http] allowed_origins)\n";
        return (StatusCode::FORBIDDEN, reason).into_response();
    }
    let Ok(permit) = state.websockets.clone().try_acquire_owned() else {
        let limit = Limit::Websockets;
        Limited { limit }.emit(metrics);
        return ApiError::Unavailable.into_response();
    };
    ws.max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING)
        .on_upgrade(move |socket| async move {
            let open = state.metrics.websocket_client();
            serve(socket, state).await;
            drop((open, permit));
        })
}

/// Whether the request shows the dashboard page's ticket (`?page=`).
fn from_our_page(uri: &Uri, state: &AppState) -> bool {
    let query = uri.query().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .any(|(k, v)| k == "page" && state.page_ticket.admits(&v))
}

async fn serve(mut socket: WebSocket, state: Arc<AppState>) {
    // Subscribe first: a change published after the snapshot below is
    // then marked dirty, never missed.
    let mut published = state.engine.subscribe();
    let first = state.engine.snapshot();
    let mut mirror = Mirror::new(&first);
    let hello = snapshot_message(&first, &state.version);
    drop(first);
    if let Err(why) = write(&mut socket, vec![Message::Text(hello.into())]).await {
        tracing::debug!(why, "websocket client left");
        return;
    }
    let mut last_flush = Instant::now();
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let why = loop {
        tokio::select! {
            change = published.recv() => match change {
                Ok(published) => mirror.mark(&published.changes),
                Err(RecvError::Lagged(_)) => mirror.mark_all(),
                Err(RecvError::Closed) => break "lovebeat is shutting down",
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None => break "closed by the client",
                Some(Err(_)) => break "read error",
                Some(Ok(_)) => last_heard = Instant::now(),
            },
            () = tokio::time::sleep_until(last_flush + FLUSH_EVERY), if mirror.is_dirty() => {
                let messages = mirror.flush(&state.engine.snapshot());
                last_flush = Instant::now();
                let messages = messages.into_iter().map(|m| Message::Text(m.into())).collect();
                if let Err(why) = write(&mut socket, messages).await {
                    break why;
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    break "no pong";
                }
                if let Err(why) = write(&mut socket, vec![Message::Ping(Default::default())]).await {
                    break why;
                }
            }
        }
    };
    tracing::debug!(why, "websocket client left");
}

/// Writes `messages` and flushes once, within [`WRITE_TIMEOUT`].
async fn write(socket: &mut WebSocket, messages: Vec<Message>) -> Result<(), &'static str> {
    let send = async {
        for message in messages {
            socket.feed(message).await?;
        }
        socket.flush().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, send).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err("write error"),
        Err(_) => Err("too slow to read; dropped"),
    }
}

/// The first message: everything, and the server's clock and version.
fn snapshot_message(snapshot: &Snapshot, version: &str) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        r#type: &'static str,
        now: i64,
        version: &'a str,
        services: Vec<ServiceJson<'a>>,
        views: Vec<ViewJson<'a>>,
    }
    let body = Body {
        r#type: "SNAPSHOT",
        now: lovebeat_core::clock::now_ms(),
        version,
        services: snapshot
            .services
            .values()
            .map(|s| ServiceJson::new(s))
            .collect(),
        views: snapshot.views.values().map(|v| ViewJson::new(v)).collect(),
    };
    serde_json::to_string(&body).expect("snapshots serialize")
}

/// What happened to one service or view between two flushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Update,
    Remove,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Add => "ADD_",
            Kind::Update => "UPDATE_",
            Kind::Remove => "REMOVE_",
        }
    }
}

/// What one connection has sent, and which names changed since.
///
/// The maps share their structure with the snapshots they were taken
/// from, so a mirror costs little more than the changes it tracks.
struct Mirror {
    services: OrdMap<Arc<str>, Arc<ServiceInfo>>,
    views: OrdMap<Arc<str>, Arc<ViewInfo>>,
    dirty_services: BTreeSet<Arc<str>>,
    dirty_views: BTreeSet<Arc<str>>,
    /// Changes were missed: compare everything at the next flush.
    resync: bool,
}

impl Mirror {
    /// A mirror of a client that was just sent `snapshot`.
    fn new(snapshot: &Snapshot) -> Mirror {
        Mirror {
            services: snapshot.services.clone(),
            views: snapshot.views.clone(),
            dirty_services: BTreeSet::new(),
            dirty_views: BTreeSet::new(),
            resync: false,
        }
    }

    /// Notes the names one round changed.
    fn mark(&mut self, changes: &Changes) {
        self.dirty_services.extend(changes.services.iter().cloned());
        self.dirty_views.extend(changes.views.iter().cloned());
        for event in &changes.events {
            match event {
                Event::ServiceAdded { name } => self.dirty_services.insert(name.clone()),
                Event::ServiceRemoved { record } => self.dirty_services.insert(record.name.clone()),
                Event::ViewAdded { name } | Event::ViewRemoved { name } => {
                    self.dirty_views.insert(name.clone())
                }
                _ => false,
            };
        }
    }

    /// Changes were missed: the next flush compares everything.
    fn mark_all(&mut self) {
        self.resync = true;
    }

    fn is_dirty(&self) -> bool {
        self.resync || !self.dirty_services.is_empty() || !self.dirty_views.is_empty()
    }

    /// The messages that bring the client from what it has to `latest`:
    /// views first, then services, each in name order, at most one message
    /// (two for a view) per name.
    fn flush(&mut self, latest: &Snapshot) -> Vec<String> {
        let (services, views) = if std::mem::take(&mut self.resync) {
            self.dirty_services.clear();
            self.dirty_views.clear();
            (
                all_names(&self.services, &latest.services),
                all_names(&self.views, &latest.views),
            )
        } else {
            (
                std::mem::take(&mut self.dirty_services),
                std::mem::take(&mut self.dirty_views),
            )
        };
        let mut messages = Vec::new();
        for name in &views {
            if let Some((kind, info)) = sync(&mut self.views, &latest.views, name) {
                messages.extend(view_messages(kind, &info));
            }
        }
        for name in &services {
            if let Some((kind, info)) = sync(&mut self.services, &latest.services, name) {
                messages.push(service_message(kind, &info));
            }
        }
        messages
    }
}

/// Every name in either map.
fn all_names<V>(a: &OrdMap<Arc<str>, V>, b: &OrdMap<Arc<str>, V>) -> BTreeSet<Arc<str>>
where
    V: Clone,
{
    a.keys().chain(b.keys()).cloned().collect()
}

/// Brings `sent[name]` to `latest[name]`; returns what the client must be
/// told, if anything. Snapshots replace a changed entry's `Arc`, so an
/// unchanged one is the very same pointer.
fn sync<V>(
    sent: &mut OrdMap<Arc<str>, Arc<V>>,
    latest: &OrdMap<Arc<str>, Arc<V>>,
    name: &Arc<str>,
) -> Option<(Kind, Arc<V>)> {
    match (sent.get(name), latest.get(name)) {
        (None, None) => None,
        (Some(old), Some(new)) if Arc::ptr_eq(old, new) => None,
        (old, Some(new)) => {
            let kind = if old.is_some() {
                Kind::Update
            } else {
                Kind::Add
            };
            sent.insert(name.clone(), new.clone());
            Some((kind, new.clone()))
        }
        (Some(_), None) => sent.remove(name).map(|old| (Kind::Remove, old)),
    }
}

fn service_message(kind: Kind, info: &ServiceInfo) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        r#type: String,
        service: ServiceJson<'a>,
    }
    let body = Body {
        r#type: format!("{}SERVICE", kind.prefix()),
        service: ServiceJson::new(info),
    };
    serde_json::to_string(&body).expect("services serialize")
}

/// The change as `…_VIEW`, then as Go lovebeat's `…_ALARM`.
fn view_messages(kind: Kind, info: &ViewInfo) -> [String; 2] {
    #[derive(Serialize)]
    struct View<'a> {
        r#type: String,
        view: &'a ViewJson<'a>,
    }
    #[derive(Serialize)]
    struct Alarm<'a> {
        r#type: String,
        alarm: &'a ViewJson<'a>,
    }
    let json = ViewJson::new(info);
    let view = View {
        r#type: format!("{}VIEW", kind.prefix()),
        view: &json,
    };
    let alarm = Alarm {
        r#type: format!("{}ALARM", kind.prefix()),
        alarm: &json,
    };
    [
        serde_json::to_string(&view).expect("views serialize"),
        serde_json::to_string(&alarm).expect("views serialize"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    use lovebeat_core::pattern::ViewTemplate;
    use lovebeat_core::{Engine, EngineConfig, Timeout, TimeoutKind};
    use serde_json::Value;

    use lovebeat_engine::{Batch, Op};

    /// An engine with a static view (`web`, of `web.*`), a template of
    /// views (`team-$t`, of `team.$t.*`), and a snapshot of it.
    struct World {
        engine: Engine,
        snapshot: Snapshot,
        now: i64,
    }

    impl World {
        fn new() -> World {
            let web = ViewTemplate::glob("web", Some("web.*"), &[], &[]).unwrap();
            let team = ViewTemplate::glob("team-$t", Some("team.$t.*"), &[], &[]).unwrap();
            let config = EngineConfig {
                views: vec![web, team],
                ..EngineConfig::default()
            };
            let now = 1_000_000;
            let mut engine = Engine::new(config, now);
            engine.take_changes();
            let snapshot = Snapshot::full(&engine, now);
            World {
                engine,
                snapshot,
                now,
            }
        }

        /// Applies `ops` to `name` and publishes; returns the changes.
        fn apply(&mut self, name: &str, ops: &[Op]) -> Changes {
            self.now += 10;
            let mut batch = Batch::new();
            for op in ops {
                batch.push(name, op.clone());
            }
            batch.apply(&mut self.engine, self.now);
            self.engine.tick(self.now);
            let changes = self.engine.take_changes();
            self.snapshot = self.snapshot.updated(&self.engine, &changes, self.now);
            changes
        }
    }

    fn types(messages: &[String]) -> Vec<String> {
        messages
            .iter()
            .map(|m| {
                let v: Value = serde_json::from_str(m).unwrap();
                let name = v
                    .get("service")
                    .or(v.get("view"))
                    .or(v.get("alarm"))
                    .unwrap()["name"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                format!("{} {name}", v["type"].as_str().unwrap())
            })
            .collect()
    }

    #[test]
    fn a_new_service_is_added_then_updated() {
        let mut w = World::new();
        let mut mirror = Mirror::new(&w.snapshot);
        assert!(!mirror.is_dirty());
        let changes = w.apply("db.backup", &[Op::Beat]);
        mirror.mark(&changes);
        assert_eq!(types(&mirror.flush(&w.snapshot)), ["ADD_SERVICE db.backup"]);
        assert!(!mirror.is_dirty());
        mirror.mark(&w.apply("db.backup", &[Op::Beat]));
        assert_eq!(
            types(&mirror.flush(&w.snapshot)),
            ["UPDATE_SERVICE db.backup"]
        );
    }

    #[test]
    fn a_busy_service_is_one_update_per_flush() {
        let mut w = World::new();
        w.apply("hot.path", &[Op::Beat]);
        let mut mirror = Mirror::new(&w.snapshot);
        for _ in 0..10_000 {
            let changes = w.apply("hot.path", &[Op::Beat]);
            mirror.mark(&changes);
        }
        let messages = mirror.flush(&w.snapshot);
        assert_eq!(types(&messages), ["UPDATE_SERVICE hot.path"]);
        let last: Value = serde_json::from_str(&messages[0]).unwrap();
        assert_eq!(last["service"]["beats"], 10_001, "the newest state is sent");
    }

    #[test]
    fn a_service_added_and_removed_between_flushes_costs_nothing() {
        let mut w = World::new();
        let mut mirror = Mirror::new(&w.snapshot);
        mirror.mark(&w.apply("brief", &[Op::Beat]));
        mirror.mark(&w.apply("brief", &[Op::Delete]));
        assert!(mirror.is_dirty());
        assert!(mirror.flush(&w.snapshot).is_empty());
    }

    #[test]
    fn a_removed_service_is_sent_as_it_was() {
        let mut w = World::new();
        w.apply(
            "old.job",
            &[Op::SetTimeout(TimeoutKind::Err, Timeout::After(5000))],
        );
        let mut mirror = Mirror::new(&w.snapshot);
        mirror.mark(&w.apply("old.job", &[Op::Delete]));
        let messages = mirror.flush(&w.snapshot);
        assert_eq!(types(&messages), ["REMOVE_SERVICE old.job"]);
        let removed: Value = serde_json::from_str(&messages[0]).unwrap();
        assert_eq!(removed["service"]["timeout"], 5000);
    }

    #[test]
    fn views_come_first_and_twice_as_view_and_alarm() {
        let mut w = World::new();
        let mut mirror = Mirror::new(&w.snapshot);
        mirror.mark(&w.apply("web.frontend", &[Op::Beat]));
        mirror.mark(&w.apply("team.a.job", &[Op::Beat]));
        assert_eq!(
            types(&mirror.flush(&w.snapshot)),
            [
                "ADD_VIEW team-a",
                "ADD_ALARM team-a",
                "UPDATE_VIEW web",
                "UPDATE_ALARM web",
                "ADD_SERVICE team.a.job",
                "ADD_SERVICE web.frontend"
            ]
        );
        mirror.mark(&w.apply(
            "web.frontend",
            &[Op::SetTimeout(TimeoutKind::Err, Timeout::Always)],
        ));
        assert_eq!(
            types(&mirror.flush(&w.snapshot)),
            [
                "UPDATE_VIEW web",
                "UPDATE_ALARM web",
                "UPDATE_SERVICE web.frontend"
            ]
        );
    }

    #[test]
    fn after_a_lag_everything_is_compared_once() {
        let mut w = World::new();
        w.apply("a", &[Op::Beat]);
        w.apply("b", &[Op::Beat]);
        let mut mirror = Mirror::new(&w.snapshot);
        // Changes the mirror never hears about: a lagged broadcast.
        w.apply("a", &[Op::Beat]);
        w.apply("b", &[Op::Delete]);
        w.apply("c", &[Op::Beat]);
        mirror.mark_all();
        assert_eq!(
            types(&mirror.flush(&w.snapshot)),
            ["UPDATE_SERVICE a", "REMOVE_SERVICE b", "ADD_SERVICE c"]
        );
        assert!(!mirror.is_dirty());
        mirror.mark_all();
        assert!(mirror.flush(&w.snapshot).is_empty(), "nothing changed");
    }

    #[test]
    fn the_snapshot_message_has_everything() {
        let mut w = World::new();
        w.apply("web.a", &[Op::Beat]);
        w.apply("b", &[Op::Beat]);
        let message: Value = serde_json::from_str(&snapshot_message(&w.snapshot, "9.9")).unwrap();
        assert_eq!(message["type"], "SNAPSHOT");
        assert_eq!(message["version"], "9.9");
        assert!(message["now"].as_i64().unwrap() > 0);
        assert_eq!(message["services"].as_array().unwrap().len(), 2);
        assert_eq!(message["views"][0]["name"], "web");
    }
}
