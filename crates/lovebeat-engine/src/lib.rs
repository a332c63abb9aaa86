//! The engine runtime: the one task that owns the model, and what it
//! publishes.
//!
//! A beat changes state here. Ingest, HTTP and the probes send [`Batch`]es
//! to the [`actor`] through an [`EngineHandle`]; the actor applies them to
//! the `lovebeat_core::Engine`, fires the deadlines that passed, publishes
//! an immutable [`Snapshot`] for readers and the round's changes for
//! followers, raises view changes on the alerter, and hands what changed
//! to the [`write_behind`], which saves it to the store off the actor.
//!
//! State it owns: the model (only the actor touches it), the published
//! snapshot, and the store's health ([`StoreStatus`], a `watch` the
//! write-behind sends on). It imports the model, the store, the alerter
//! and the counters; it must never import ingest, HTTP, operations or the
//! monitors.
//!
//! # Layout
//! * [`actor`]: the engine's owner and [`EngineHandle`], the way in.
//! * [`batch`]: [`Batch`], the unit of work the actor applies.
//! * [`snapshot`]: the immutable picture readers use.
//! * [`write_behind`]: saving changes to the store, and [`StoreStatus`].
//! * `grace`: holding back the restore's view changes (`startup_grace`).
//! * [`outbox`]: the store as the alerts' durable outbox.
//! * [`read_barrier`]: read-your-write for beats answered once queued,
//!   the way every API read takes.

pub mod actor;
pub mod batch;
mod grace;
pub mod outbox;
pub mod read_barrier;
pub mod snapshot;
pub mod write_behind;

pub use actor::{Actor, EngineHandle, Published, SendError};
pub use batch::{Applied, Batch, Op};
pub use read_barrier::ReadBarrier;
pub use snapshot::Snapshot;
pub use write_behind::{Flush, Flushes, Persistence, StoreFailure, StoreStatus};
