//! The lovebeat model: services, views, timeouts and the AUTO estimators.
//!
//! Pure: no I/O, no threads, no clock. Time is a parameter of every call
//! ([`Millis`] since the epoch), so every behaviour can be tested with a
//! simulated clock. (The wall-clock reader the runtime crates share,
//! [`clock::now_ms`], lives here too; no model code calls it.) The engine's actor (`lovebeat-engine`) owns the one
//! [`Engine`].
//!
//! Of lovebeat's crates it may import only `lovebeat-proto` and
//! `lovebeat-calendar` (today it imports the calendar alone); the store, the alerter, the runtime crates and the
//! simulator (`lovebeat-sim`) import it, never the reverse.
//!
//! # Layout
//! * [`types`]: time, timeouts, states.
//! * [`Schedule`]: a service's calendar (cron or `OnCalendar`, a zone, a grace).
//! * [`runs`]: a job's runs, `start` to success or failure, and their durations.
//! * [`clock`]: the wall clock, for the runtime crates.
//! * [`duration`]: durations as people write them (`90s`, `5m`, `1h`).
//! * [`json`]: the JSON shape of services and views (API, websocket, logs).
//! * [`auto`]: the AUTO timeout estimators (`median`, `adaptive`, `rhythm`).
//! * [`pattern`]: view membership (legacy regex views, 1.0 glob alarms).
//! * [`engine`]: services and views, commands, deadlines, events.
//! * `service`, `view`: one service / one view and their rules.
//! * [`Intervals`]: a service's beat history, packed (about two bytes an
//!   interval); `names`: the engine's index from service name to slot.

pub mod auto;
pub mod clock;
pub mod duration;
pub mod engine;
mod intervals;
pub mod json;
mod names;
pub mod pattern;
mod published;
pub mod runs;
mod schedule;
mod service;
pub mod types;
mod view;

pub use engine::{
    AckRefused, Acknowledgement, Changes, DeleteViewError, Engine, EngineConfig, Event,
    ServiceInfo, StateCounts, ViewChange, ViewInfo,
};
pub use intervals::Intervals;
pub use schedule::Schedule;
pub use service::{Analysis, AutoService, HISTORY_RESOLUTION_MS, ServiceRecord, analyze};
pub use types::{Failure, Millis, Severity, State, Timeout, TimeoutKind};
pub use view::ViewRecord;
