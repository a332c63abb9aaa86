//! What lovebeat took over from the other monitors of its kind, beside the
//! line protocol. It owns the token book, the message board, the status
//! history and the probes' latest results, each loaded from and saved to
//! the store, and the S3 copy of the database. It imports the model, the
//! store, the engine's handle and the counters; it must never import
//! ingest, HTTP or operations.
//!
//! The HTTP crate serves what it owns. Probes send their results to the
//! engine as beats through the [`EngineHandle`](lovebeat_engine::EngineHandle).
//!
//! # Layout
//! * [`signals`]: statuscope's push tokens.
//! * [`probes`]: checkup's active probes (config `[[checks]]`).
//! * [`messages`]: the status page's incident messages.
//! * [`history`]: the status page's hourly history.
//! * [`s3`]: the S3 copy of the database.

pub mod history;
pub mod messages;
pub mod probes;
pub mod s3;
pub mod signals;
