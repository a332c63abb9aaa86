//! One worker per entry and back-end kind: takes its deliveries in order
//! and tries each until it is delivered or too old.
//!
//! Workers run side by side, so a receiver that hangs holds up only its
//! own queue (and for at most the attempt timeout per try). Within a queue
//! order is kept: an entry's recovery never overtakes its failure.

use std::sync::Arc;
use std::time::Duration;

use lovebeat_core::Millis;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::alert::{Kind, Target};
use crate::backend::{Backend, DeliveryError};
use crate::outbox::{Delivery, Outbox, blocking};
use crate::retry::RetryPolicy;
use crate::stats::Stats;

/// The wall clock, ms since the epoch (a paused tokio clock in tests).
pub(crate) type Clock = Arc<dyn Fn() -> Millis + Send + Sync>;

/// What every worker shares.
pub(crate) struct Context {
    pub outbox: Arc<dyn Outbox>,
    pub stats: Arc<Stats>,
    pub retry: RetryPolicy,
    /// Longest an attempt may take.
    pub timeout: Duration,
    pub clock: Clock,
}

/// A delivery and its outbox id (None if the outbox could not take it).
#[derive(Debug)]
pub(crate) struct Queued {
    pub id: Option<u64>,
    pub delivery: Delivery,
}

/// The deliveries of one entry's back-ends of one kind.
pub(crate) struct Worker {
    pub entry: String,
    pub kind: Kind,
    pub backends: Vec<(Target, Arc<dyn Backend>)>,
    pub ctx: Arc<Context>,
}

impl Worker {
    /// Delivers what arrives on `rx`, one at a time, until it closes.
    pub async fn run(self, mut rx: UnboundedReceiver<Queued>) {
        while let Some(queued) = rx.recv().await {
            self.deliver(queued).await;
        }
    }

    /// Attempts until delivered or given up.
    async fn deliver(&self, mut queued: Queued) {
        loop {
            let result = self.attempt(&queued.delivery).await;
            let now = (self.ctx.clock)();
            let error = match result {
                Ok(()) => return self.sent(&queued, now),
                Err(error) => error,
            };
            let delivery = &mut queued.delivery;
            delivery.failures += 1;
            let next = self
                .ctx
                .retry
                .next_attempt(delivery.created, delivery.failures, now);
            self.failed(delivery, now, &error, next);
            let Some(next) = next else {
                return self.give_up(&queued);
            };
            self.persist(&queued);
            let wait = u64::try_from(next - now).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            self.ctx.stats.retried(self.kind);
        }
    }

    async fn attempt(&self, delivery: &Delivery) -> Result<(), DeliveryError> {
        let backend = self
            .backends
            .iter()
            .find(|(t, _)| *t == delivery.target)
            .map(|(_, b)| b)
            .ok_or(DeliveryError::NotConfigured)?;
        let timeout = self.ctx.timeout;
        tokio::time::timeout(timeout, backend.deliver(&delivery.alert))
            .await
            .unwrap_or(Err(DeliveryError::TimedOut(timeout)))
    }

    fn sent(&self, queued: &Queued, now: Millis) {
        let d = &queued.delivery;
        tracing::info!(
            entry = %d.entry, kind = %self.kind, view = %d.alert.view,
            "alert sent: {} {} -> {}", d.alert.view, d.alert.from, d.alert.to
        );
        self.remove(queued);
        self.ctx.stats.sent(&self.entry, self.kind, now);
    }

    fn failed(&self, d: &Delivery, now: Millis, error: &DeliveryError, next: Option<Millis>) {
        let retry = next.map_or(0.0, |n| (n - now) as f64 / 1000.0);
        tracing::warn!(
            entry = %d.entry, kind = %self.kind, view = %d.alert.view, attempt = d.failures,
            "alert delivery failed: {error}; retrying in {retry}s"
        );
        let message = error.to_string();
        self.ctx.stats.failed(&self.entry, self.kind, now, message);
    }

    fn give_up(&self, queued: &Queued) {
        let d = &queued.delivery;
        tracing::error!(
            entry = %d.entry, kind = %self.kind, view = %d.alert.view, attempts = d.failures,
            "giving up on alert: {} {} -> {}, still undelivered", d.alert.view, d.alert.from, d.alert.to
        );
        self.remove(queued);
        self.ctx.stats.dropped(&self.entry, self.kind, true);
    }

    /// Records the failure count, so a restart keeps the backoff going.
    fn persist(&self, queued: &Queued) {
        if let Some(id) = queued.id
            && let Err(e) = blocking(|| self.ctx.outbox.replace(id, &queued.delivery.encode()))
        {
            tracing::error!(error = %e, "cannot update alert in the outbox");
        }
    }

    fn remove(&self, queued: &Queued) {
        if let Some(id) = queued.id
            && let Err(e) = blocking(|| self.ctx.outbox.remove(id))
        {
            tracing::error!(error = %e, "cannot remove alert from the outbox");
        }
    }
}
