//! lovebeat's durable state: services, views and the alert outbox in a sled
//! database, plus reading and writing the Go lovebeat database format.
//!
//! The engine's memory is authoritative; this crate is where it is kept
//! between runs. It knows nothing of timing: the server's write-behind
//! thread decides when to [`Store::save`], `main` decides where the store is
//! ([`locate`]) and [`Store::load`]s it once at startup, the alerter
//! uses the outbox, and the S3 copy reads a [`Store::snapshot`]. All calls are synchronous; call them off the async
//! runtime's worker threads.
//!
//! # Layout
//! * `store`: [`Store`]: open, load, save, import, snapshot.
//! * `outbox`: the alert outbox methods of [`Store`].
//! * `extras`: push tokens and status-page messages ([`TokenRecord`],
//!   [`MessageRecord`]).
//! * `schema`: tree names, keys, encoding, format version and migrations.
//! * [`location`]: where the store lives beside a Go database file.
//! * [`golang`]: the Go database format (import, and the S3 snapshot).
//! * `witness`: the file that catches a store sled recovered to an older state.
//! * `image`: every service in one file, written at a clean shutdown for
//!   the next start to read.
//! * `replace`: writing such a file whole, through a temporary.
//! * `error`: [`StoreError`].
//!
//! # On-disk schema (format 3)
//! A sled 0.34 database (a directory). Trees and keys:
//!
//! | tree | key | value |
//! |---|---|---|
//! | default | `format_version` | `u32`, big-endian: the format of everything below |
//! | default | `generation` | `u64`, big-endian: bumped by every [`Store::save`] |
//! | default | `go_import` | JSON `{file, at, services, views}`: the last Go import |
//! | default | `status_history` | lovebeat 1.1.0's place for the status page history (now a file, below), read if the file is missing and removed by the next save |
//! | `services` | service name (UTF-8) | the binary record of `lovebeat_core::ServiceRecord` (`record` module) |
//! | `views` | view name (UTF-8) | JSON of `lovebeat_core::ViewRecord` |
//! | `outbox` | id, `u64` big-endian (so keys sort by id) | the alerter's bytes, opaque here |
//! | `tokens` | service name (UTF-8) | JSON of [`TokenRecord`]: `service`, `sha256` (hex), `created` |
//! | `messages` | id, `u64` big-endian | JSON of [`MessageRecord`]: `id`, `text`, `created`, `resolved` (ms or `null`) |
//!
//! A service record holds `created` (ms since the epoch), `last_beat`,
//! `warn_timeout` and `err_timeout` (never, always, after ms, or AUTO),
//! `state` (`new`, `ok`, `muted`, `warning`, `error`), `muted_since`,
//! `last_state_change`, `history` (beat intervals in ms, oldest first),
//! `failure` (`{at, severity, message}`), `beats`, and the optional
//! `auto_algorithm`, `rhythm` and (from lovebeat 1.1) `team`; its name is
//! its key. Format 1 stored it as JSON (with `name`, `null` for an absent
//! time, timeouts in ms: `0` always, `-1` never, `-2` AUTO), and a restart
//! with a million services spent most of its time decoding that; format 2's
//! binary record is laid out in the `record` module. Format 3 packs the
//! history as the engine holds it (`lovebeat_core::Intervals`: about two
//! bytes an interval instead of four, copied as it is by a load); a format
//! 2 record still reads and is written as format 3 at its next save, so
//! the step from 2 to 3 rewrites nothing. A view record is JSON:
//! `name`, `state`, `incident`, `last_state_change`.
//!
//! Beside sled's files, `lovebeat-store.json` (the witness) holds
//! `{"format":1,"generation":N}`: a generation sled had on disk. sled opens
//! a damaged log as its undamaged prefix, silently; a store that opens
//! below its witnessed generation (or blank with a witness) is refused as
//! damaged instead of being used, or overwritten.
//!
//! The status page's hourly history is the server's bytes, opaque here, in
//! the file `status-history` there, rewritten at shutdown. (lovebeat 1.1.0
//! kept it in the database, where sled read it back whole at every open.)
//!
//! At a clean shutdown the server also writes `services.image` there
//! ([`Store::write_image`]): every service record in one checksummed
//! sequential file, stamped with the generation. The next [`Store::load`]
//! reads it instead of walking the `services` tree, which at a million
//! services is most of a restart, when its generation is the store's; it
//! removes it either way. The tree stays the truth: after a crash, or any
//! save since the image, the load reads the tree.
//!
//! # Versions and migrations
//! [`Store::open`] reads `format_version`. A blank database is stamped with
//! [`FORMAT_VERSION`]. An older format is migrated in place, one version at
//! a time, by the functions listed in `schema::MIGRATIONS`; each step
//! records its new version and flushes, so an interrupted migration resumes
//! where it stopped. A newer format, or a database with data but no
//! version, is refused with an error and never written to. Adding an
//! optional field to a JSON record (with `#[serde(default)]`) needs no new
//! format; renaming, removing or changing the meaning of one does, and so
//! does any change to the binary service record: bump [`FORMAT_VERSION`]
//! and append a migration that rewrites the records (or, when old records
//! still decode, one that rewrites nothing and only keeps older lovebeats
//! out, as from 2 to 3). Unit tests keep a
//! format 1 record that must always decode and migrate.
//!
//! Adding a tree is like adding an optional field: the `tokens` and
//! `messages` trees, the `status_history` key and the service's `team`
//! came in lovebeat 1.1 within format 1. An older lovebeat opening such a store ignores the new trees
//! and drops `team` when it rewrites a service; nothing else is lost.
//!
//! # Durability
//! [`Store::save`] applies one sled batch per tree and flushes: when it
//! returns, the records are on disk. The outbox methods flush before they
//! return. sled's log recovers after a crash to a state that holds every
//! flushed write; records are whole or absent, never torn.

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
mod witness;

pub use error::StoreError;
pub use extras::{MessageRecord, TokenRecord};
pub use location::{Location, locate};
pub use schema::FORMAT_VERSION;
pub use store::{Contents, GoImport, Save, Store};
