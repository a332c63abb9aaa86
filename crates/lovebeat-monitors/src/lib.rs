//! What lovebeat took over from the other monitors of its kind, beside the
//! line protocol: statuscope's push tokens ([`signals`]), checkup's active
//! probes ([`probes`]), the status page's incident [`messages`] and hourly
//! [`history`], and the [`s3`] copy of the database.
//!
//! State it owns: the token book, the message board, the status history
//! and the probes' latest results, each loaded from and saved to the store;
//! the HTTP crate serves them. Probes send their results to the engine as
//! beats through the [`EngineHandle`](lovebeat_engine::EngineHandle). It
//! imports the model, the store, the engine's handle and the counters; it
//! must never import ingest, HTTP or operations.

pub mod history;
pub mod messages;
pub mod probes;
pub mod s3;
pub mod signals;
