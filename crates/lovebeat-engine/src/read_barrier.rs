//! The read barrier: read-your-write for beats answered once queued.
//!
//! Why it exists: HTTP answers a plain beat of an `ok` service as soon as
//! it is queued ([`EngineHandle::beat_at_once`]), not once the actor has
//! applied it and published a snapshot that shows it: the wait for the
//! actor's round was the larger part of a request's cost (BENCHMARKS.md).
//! The actor publishes beats alone at most every 50 ms, so without a
//! barrier a client that got its answer and then read (`GET
//! /api/services/{name}`) could find the snapshot from before its beat.
//! The [`ReadBarrier`] counts such beats from just before they are queued
//! until a published snapshot shows them, and a read that finds any
//! pending sends an empty batch behind them through the queue and waits
//! for the publication after it ([`EngineHandle::read`]), about a
//! millisecond. Every API read answers from [`EngineHandle::read`]; only
//! followers of the published changes (the websocket, the history) and
//! the periodic exporters take [`EngineHandle::snapshot`], which no
//! barrier guards.

//!
//! [`EngineHandle::beat_at_once`]: crate::EngineHandle::beat_at_once
//! [`EngineHandle::read`]: crate::EngineHandle::read
//! [`EngineHandle::snapshot`]: crate::EngineHandle::snapshot

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lovebeat_core::{Millis, State};

use crate::snapshot::Snapshot;

/// How far off a service's next deadline must be for its beat to be
/// answered once queued, in ms: far longer than a beat waits in the queue.
const CLEAR_AHEAD: Millis = 1000;

/// Beats answered once queued that no published snapshot shows yet: what
/// an API read must wait for (see the module's doc). Shared by every
/// clone of the handle and by the actor, which counts them out when it
/// publishes the snapshot that shows them.
#[derive(Debug, Clone, Default)]
pub struct ReadBarrier {
    unshown: Arc<AtomicUsize>,
}

impl ReadBarrier {
    /// Beats answered once queued that readers cannot see yet.
    pub fn pending(&self) -> usize {
        self.unshown.load(Ordering::Acquire)
    }

    /// Counts a beat in while `queue` queues it; counts it out again when
    /// `queue` says it was not queued. Returns what `queue` said.
    pub(crate) fn count_in(&self, queue: impl FnOnce() -> bool) -> bool {
        self.unshown.fetch_add(1, Ordering::AcqRel);
        let queued = queue();
        if !queued {
            self.unshown.fetch_sub(1, Ordering::AcqRel);
        }
        queued
    }

    /// Counts out `shown` beats: called just after the snapshot that
    /// shows them is stored, so a reader that sees the count fall finds
    /// that snapshot.
    pub(crate) fn shown(&self, shown: usize) {
        if shown > 0 {
            self.unshown.fetch_sub(shown, Ordering::AcqRel);
        }
    }
}

/// Whether a beat of `name` may be answered once queued: the service is
/// `ok` in `snapshot` and its next deadline is more than [`CLEAR_AHEAD`]
/// after `now`, so the beat changes no state.
pub(crate) fn stays_ok(snapshot: &Snapshot, name: &str, now: Millis) -> bool {
    let clear = |at: Millis| at > now.saturating_add(CLEAR_AHEAD);
    (snapshot.services.get(name))
        .is_some_and(|s| s.record.state == State::Ok && s.next_deadline(now).is_none_or(clear))
}
