//! When a failed delivery is tried again, and when it is given up.
//!
//! Exponential backoff from [`RetryPolicy::first`], doubling up to
//! [`RetryPolicy::max`]; a delivery older than
//! [`RetryPolicy::give_up_after`] gets no further attempt. The last attempt
//! is made at that age exactly, so a receiver that comes back just before
//! the deadline still gets the alert. Pure: times are parameters.

use std::time::Duration;

use lovebeat_core::Millis;

/// Backoff and give-up times, from `[delivery]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failure.
    pub first: Duration,
    /// Longest wait between two attempts.
    pub max: Duration,
    /// Age (from when the alert was raised) after which it is dropped.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
            give_up_after: Duration::from_secs(86_400),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failures` failed attempts (at least 1).
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.first
            .checked_mul(1 << doublings)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// When to try a delivery raised at `created` again, after its
    /// `failures`-th failure at `now`; None when it is time to give up.
    pub fn next_attempt(&self, created: Millis, failures: u32, now: Millis) -> Option<Millis> {
        let deadline = created.saturating_add(millis(self.give_up_after));
        if now >= deadline {
            return None;
        }
        let next = now.saturating_add(millis(self.backoff(failures)));
        Some(next.min(deadline))
    }
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            first: Duration::from_secs(1),
            max: Duration::from_secs(10),
            give_up_after: Duration::from_secs(60),
        }
    }

    #[test]
    fn backoff_doubles_from_the_first_wait() {
        let waits: Vec<u64> = (1..=4).map(|n| policy().backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8]);
    }

    #[test]
    fn backoff_is_capped() {
        assert_eq!(policy().backoff(5), Duration::from_secs(10));
        assert_eq!(policy().backoff(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn next_attempt_is_now_plus_backoff() {
        assert_eq!(policy().next_attempt(0, 3, 5_000), Some(9_000));
    }

    #[test]
    fn the_last_attempt_is_at_the_give_up_age() {
        assert_eq!(policy().next_attempt(0, 9, 55_000), Some(60_000));
    }

    #[test]
    fn a_delivery_past_its_age_is_given_up() {
        assert_eq!(policy().next_attempt(0, 1, 60_000), None);
        assert_eq!(policy().next_attempt(0, 1, 90_000), None);
    }
}
