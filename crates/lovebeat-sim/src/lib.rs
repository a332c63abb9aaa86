//! The AUTO estimators' scoring bench: it owns the beat traces (generated
//! and recorded), scores every estimator on them the way a user feels it
//! (false alarms, detection delay), and writes `docs/DETECTION.md`, which
//! `lovebeat simulate --markdown` prints. A tool for people choosing and
//! tuning estimators, on `lovebeat-core`'s own code. The daemon's runtime
//! crates (proto, core, store, alert, engine, ingest, http, monitors, ops,
//! daemon) must never import it: only the binary's `simulate` subcommand
//! and benches do.
//!
//! # Layout
//! * `traces`: [`Rng`], [`Trace`], [`Family`] and the standard [`families`].
//! * `score`: [`score()`] and [`run`]: false alarms and delays, [`Verdict`].
//! * `report`: [`text`] and [`markdown`] (`docs/DETECTION.md`).

mod report;
mod score;
mod traces;

pub use report::{markdown, text};
pub use score::{Delays, FALSE_ALARM_BAR, FamilyScore, Score, Verdict, run, score};
pub use traces::{Family, Rng, Trace, families};
