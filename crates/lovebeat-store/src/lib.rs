//! lovebeat's durable state: services, views and the alert outbox in a sled
//! database, plus reading and writing the Go lovebeat database format.
//!
//! The engine's memory is authoritative; this crate is where it is kept
//! between runs. It knows nothing of timing: the engine's write-behind
//! thread decides when to [`Store::save`], `main` decides where the store is
//! ([`locate`]) and [`Store::load`]s it once at startup, the alerter uses
//! the outbox, and the S3 copy reads a [`Store::snapshot`]. All calls are
//! synchronous; call them off the async runtime's worker threads.
//!
//! Of lovebeat's crates it imports only `lovebeat-core` (the records it
//! stores), and it must never import the runtime crates, the alerter, the protocol
//! or the simulator, nor an async runtime: the outbox's bytes are the
//! alerter's, opaque here.
//!
//! # Layout
//! * `store`: [`Store`]: open, load, save, import, snapshot.
//! * `outbox`: the alert outbox methods of [`Store`].
//! * `extras`: push tokens and status-page messages ([`TokenRecord`],
//!   [`MessageRecord`]).
//! * `schema`: tree names, keys, encoding, format version and migrations.
//! * `record`: the binary service record.
//! * [`location`]: where the store lives beside a Go database file.
//! * [`golang`]: the Go database format (import, and the S3 snapshot).
//! * `witness`: the file that catches a store sled recovered to an older state.
//! * `image`: every service in one file, written at a clean shutdown for
//!   the next start to read.
//! * `replace`: writing such a file whole, through a temporary.
//! * `error`: [`StoreError`].
//! * `testing`: helpers for the unit tests.
//!
//! The on-disk format (format [`FORMAT_VERSION`]), its history and the
//! rules for changing it: [docs/STORE.md](../../../docs/STORE.md).

pub mod golang;
pub mod location;

mod error;
mod extras;
mod image;
mod outbox;
mod record;
mod replace;
mod schema;
mod store;
#[cfg(test)]
mod testing;
mod witness;

pub use error::StoreError;
pub use extras::{MessageRecord, TokenRecord};
pub use location::{Location, locate};
pub use schema::FORMAT_VERSION;
pub use store::{Contents, GoImport, Save, Store};
