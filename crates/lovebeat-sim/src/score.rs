//! Scoring: after each beat of a trace the estimator gives a timeout T
//! from what it has seen so far, exactly as the engine computes it (the
//! engine's own code through [`AutoService`], the default history of 100).
//! If the next interval is longer than T, that is a *false alarm*; T
//! divided by the trace's true period is the *detection delay* a dead job
//! would have had at that moment. Beats with no deadline yet are counted
//! apart and have no delay.
//!
//! Baselines are also scored *at the new estimator's false-alarm rate*:
//! every timeout scaled by the one factor that brings their false alarms on
//! that family down (or up) to `rhythm`'s. The factor is picked knowing the
//! whole trace, so it is an oracle no deployed constant could beat.

use lovebeat_core::AutoService;
use lovebeat_core::auto::Algorithm;

use crate::traces::{Family, Trace};

/// History capacity the simulated services use (the config default).
const HISTORY: usize = 100;
/// The false-alarm rate the new estimator must stay under.
pub const FALSE_ALARM_BAR: f64 = 0.001;

/// How one estimator did on a set of traces.
#[derive(Debug, Clone)]
pub struct Score {
    pub algorithm: Algorithm,
    /// Intervals scored.
    pub intervals: usize,
    /// Intervals that began with no deadline set.
    pub unarmed: usize,
    pub false_alarms: usize,
    /// Per armed interval: (next interval / T, T / true period).
    samples: Vec<(f64, f64)>,
}

/// Delays (multiples of the period) at some false-alarm rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delays {
    pub false_alarm_rate: f64,
    pub median: f64,
    pub p99: f64,
    /// The factor every timeout was multiplied by.
    pub scale: f64,
}

impl Score {
    pub fn armed(&self) -> usize {
        self.intervals - self.unarmed
    }

    pub fn false_alarm_rate(&self) -> f64 {
        self.false_alarms as f64 / self.armed().max(1) as f64
    }

    /// The delays as scored.
    pub fn delays(&self) -> Delays {
        self.scaled(1.0)
    }

    /// The delays with every timeout multiplied by the smallest factor that
    /// keeps the false-alarm rate at or under `rate`.
    pub fn at_rate(&self, rate: f64) -> Delays {
        let mut ratios: Vec<f64> = self.samples.iter().map(|s| s.0).collect();
        ratios.sort_unstable_by(|a, b| b.total_cmp(a));
        let allowed = (rate * self.armed() as f64 + 1e-9).floor() as usize;
        let scale = ratios.get(allowed).copied().unwrap_or(0.0).max(1e-9);
        self.scaled(scale)
    }

    fn scaled(&self, scale: f64) -> Delays {
        let mut delays: Vec<f64> = self.samples.iter().map(|s| s.1 * scale).collect();
        delays.sort_unstable_by(f64::total_cmp);
        let misses = self.samples.iter().filter(|s| s.0 > scale).count();
        Delays {
            false_alarm_rate: misses as f64 / self.armed().max(1) as f64,
            median: percentile(&delays, 0.5),
            p99: percentile(&delays, 0.99),
            scale,
        }
    }
}

/// Nearest-rank percentile of sorted values (NaN when empty).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Scores `algorithm` on every trace.
pub fn score(algorithm: Algorithm, traces: &[Trace]) -> Score {
    let mut score = Score {
        algorithm,
        intervals: 0,
        unarmed: 0,
        false_alarms: 0,
        samples: Vec::new(),
    };
    for trace in traces {
        score_trace(&mut score, trace);
    }
    score
}

fn score_trace(score: &mut Score, trace: &Trace) {
    let Some(&first) = trace.beats.first() else {
        return;
    };
    let mut service = AutoService::new(score.algorithm, HISTORY, first);
    for (i, &now) in trace.beats.iter().enumerate() {
        let auto_ms = service.beat(now);
        let Some(&next) = trace.beats.get(i + 1) else {
            break;
        };
        score.intervals += 1;
        let Some(timeout) = auto_ms else {
            score.unarmed += 1;
            continue;
        };
        let (interval, timeout) = ((next - now) as f64, timeout.max(1) as f64);
        if interval > timeout {
            score.false_alarms += 1;
        }
        score
            .samples
            .push((interval / timeout, timeout / trace.periods[i]));
    }
}

/// Every estimator's score on one family.
#[derive(Debug, Clone)]
pub struct FamilyScore {
    pub name: String,
    pub about: String,
    /// In [`Algorithm::ALL`] order.
    pub scores: Vec<Score>,
}

impl FamilyScore {
    fn get(&self, algorithm: Algorithm) -> &Score {
        self.scores
            .iter()
            .find(|s| s.algorithm == algorithm)
            .expect("every algorithm is scored")
    }

    /// `rhythm`'s delays, and the better baseline's at its false-alarm rate.
    pub fn verdict(&self) -> Verdict {
        let rhythm = self.get(Algorithm::Rhythm);
        let rate = rhythm.false_alarm_rate();
        let best = [Algorithm::Median, Algorithm::Adaptive]
            .map(|a| (a, self.get(a).at_rate(rate)))
            .into_iter()
            .min_by(|a, b| a.1.median.total_cmp(&b.1.median))
            .expect("two baselines");
        Verdict {
            rhythm: rhythm.delays(),
            baseline: best.0,
            baseline_delays: best.1,
        }
    }
}

/// How `rhythm` compares with the better baseline on one family.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    pub rhythm: Delays,
    pub baseline: Algorithm,
    pub baseline_delays: Delays,
}

impl Verdict {
    pub fn under_bar(&self) -> bool {
        self.rhythm.false_alarm_rate <= FALSE_ALARM_BAR
    }

    pub fn faster(&self) -> bool {
        self.rhythm.median < self.baseline_delays.median
    }

    pub fn wins(&self) -> bool {
        self.under_bar() && self.faster()
    }
}

/// Scores every estimator on every family.
pub fn run(families: &[Family]) -> Vec<FamilyScore> {
    families
        .iter()
        .map(|f| FamilyScore {
            name: f.name.clone(),
            about: f.about.clone(),
            scores: Algorithm::ALL.map(|a| score(a, &f.traces)).to_vec(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_core::Millis;

    fn trace(times: &[Millis]) -> Trace {
        Trace::from_times(times.to_vec())
    }

    #[test]
    fn a_late_beat_is_a_false_alarm_and_delay_is_timeout_over_period() {
        // median needs 5 intervals; the 6th beat is 2 min late.
        let mut times: Vec<Millis> = (0..7).map(|i| i * 60_000).collect();
        times.push(times[6] + 180_000);
        let s = score(Algorithm::Median, &[trace(&times)]);
        assert_eq!((s.intervals, s.unarmed, s.false_alarms), (7, 5, 1));
        assert_eq!(s.delays().median, 1.5);
    }

    #[test]
    fn matching_a_rate_scales_the_timeouts() {
        let mut times: Vec<Millis> = (0..7).map(|i| i * 60_000).collect();
        times.push(times[6] + 180_000);
        let s = score(Algorithm::Median, &[trace(&times)]);
        let m = s.at_rate(0.0);
        assert_eq!(m.false_alarm_rate, 0.0);
        assert!((m.scale - 2.0).abs() < 1e-9, "{m:?}");
        assert!((m.median - 3.0).abs() < 1e-9);
        let loose = s.at_rate(1.0);
        assert!(loose.scale < 1.0 && loose.false_alarm_rate > 0.0);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
