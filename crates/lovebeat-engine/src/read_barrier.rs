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

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lovebeat_core::clock::now_ms;
use lovebeat_core::{Millis, State};

use crate::actor::{EngineHandle, Msg};
use crate::batch::{Batch, Op};
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

    /// Counts out `shown` beats: called just after the snapshot that
    /// shows them is stored, so a reader that sees the count fall finds
    /// that snapshot.
    pub(crate) fn shown(&self, shown: usize) {
        if shown > 0 {
            self.unshown.fetch_sub(shown, Ordering::AcqRel);
        }
    }
}

impl EngineHandle {
    /// Queues a beat of `name` that its caller may answer at once, if it
    /// is one: of a service readers see `ok` whose next deadline is more
    /// than a second away (`CLEAR_AHEAD`). Such a beat cannot be refused (the
    /// service exists) and needs no save before its answer, since it
    /// changes no state. False, having queued nothing, for any other beat
    /// and when the queue is full: apply it the usual way.
    pub fn beat_at_once(&self, name: &str) -> bool {
        let stays_ok = {
            let snapshot = self.snapshot.load();
            let now = now_ms();
            let clear = |at: Millis| at > now.saturating_add(CLEAR_AHEAD);
            (snapshot.services.get(name)).is_some_and(|s| {
                s.record.state == State::Ok && s.next_deadline(now).is_none_or(clear)
            })
        };
        if !stays_ok {
            return false;
        }
        let mut batch = Batch::new();
        batch.push(name, Op::Beat);
        let unshown = &self.barrier.unshown;
        unshown.fetch_add(1, Ordering::AcqRel);
        let queued = self.tx.try_send(Msg::Answered(batch));
        if queued.is_err() {
            unshown.fetch_sub(1, Ordering::AcqRel);
        }
        queued.is_ok()
    }

    /// The snapshot an API read answers from: the latest once it shows
    /// every beat answered before this call, at once when none is pending,
    /// else after the actor's next publication (see the module's doc).
    /// When the queue stays full for `queue_wait`, the latest as it is.
    pub async fn read(&self, queue_wait: Duration) -> Arc<Snapshot> {
        if self.barrier.pending() > 0 {
            let _ = self.apply(Batch::new(), queue_wait).await;
        }
        self.snapshot()
    }

    /// The barrier API reads pass ([`EngineHandle::read`]).
    pub fn barrier(&self) -> &ReadBarrier {
        &self.barrier
    }
}
