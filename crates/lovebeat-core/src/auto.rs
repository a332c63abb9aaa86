//! AUTO timeout estimators: from a service's beat history (intervals in ms,
//! oldest first) to the timeout the engine should use.
//!
//! Three algorithms: [`median`], the original 2015 "basic" estimator (§3.5,
//! no deadline until enough samples), [`adaptive`], the EWMA + 3σ
//! estimator of lovebeat 1.0.x (§3.4), reproduced bit for bit, and
//! [`Rhythm`] (`auto_rhythm.rs`), which keeps a per-service state beside
//! the history and needs the absolute time of each beat. The engine calls
//! [`Algorithm::estimate`] (or the rhythm state) after every new interval;
//! `median` and `adaptive` are pure arithmetic on fixed stack buffers.
//! Choosing the algorithm (config) and applying the deadline are not here;
//! scoring the estimators on beat traces is the `lovebeat-sim` crate's.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[path = "auto_rhythm.rs"]
mod rhythm;

pub use rhythm::Rhythm;

/// Which AUTO estimator a service with timeout AUTO uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// §3.5: ceil(1.5 × median) of the last 19 intervals; no deadline with fewer than 5.
    #[default]
    Median,
    /// §3.4: the 1.0.x EWMA mean + 3 EWMA std + 1 s, after outlier removal.
    Adaptive,
    /// [`Rhythm`]: a calibrated tail on a clock that stops in learned quiet hours.
    Rhythm,
}

impl Algorithm {
    /// Every algorithm, in the order they are documented.
    pub const ALL: [Algorithm; 3] = [Algorithm::Median, Algorithm::Adaptive, Algorithm::Rhythm];

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Median => "median",
            Algorithm::Adaptive => "adaptive",
            Algorithm::Rhythm => "rhythm",
        }
    }

    /// The engine's timeout in ms for this history of intervals (ms, oldest
    /// first), or None where it sets no deadline.
    ///
    /// `Adaptive` with no history also sets no deadline, instead of 1.0.x's
    /// 1000 ms that failed every new AUTO service a second after its first beat.
    /// `Rhythm` learns from absolute times, which intervals alone lack: here
    /// it replays them as if the last beat were at the epoch (the engine
    /// keeps a [`Rhythm`] per service instead).
    pub fn estimate(self, intervals: &[u32]) -> Option<u64> {
        match self {
            Algorithm::Median => median(intervals),
            Algorithm::Adaptive if intervals.is_empty() => None,
            Algorithm::Adaptive => Some(adaptive(intervals)),
            Algorithm::Rhythm => Rhythm::replay(intervals, 0).timeout(0),
        }
    }

    /// One line on why the timeout for these intervals is what it is, for
    /// `median` and `adaptive` (the engine asks [`Rhythm::explain`] for
    /// `rhythm`).
    pub fn explain(self, intervals: &[u32]) -> String {
        match (self, self.estimate(intervals)) {
            (Algorithm::Median, None) => format!(
                "learning: {} of {MEDIAN_MIN_SAMPLES} intervals seen, no deadline yet",
                intervals.len()
            ),
            (Algorithm::Median, Some(t)) => format!(
                "1.5 × the median of the last {} intervals; late after {}",
                intervals.len().min(MEDIAN_WINDOW),
                rhythm::human_ms(t as f64)
            ),
            (_, None) => "no interval yet, no deadline".to_owned(),
            (_, Some(t)) => format!(
                "EWMA mean + 3 × EWMA std + 1 s of the last {} intervals; late after {}",
                intervals.len().min(ADAPTIVE_WINDOW),
                rhythm::human_ms(t as f64)
            ),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An algorithm name that is not one of [`Algorithm::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAlgorithm(pub String);

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown AUTO algorithm {:?} (expected one of:", self.0)?;
        for algorithm in Algorithm::ALL {
            write!(f, " {:?}", algorithm.as_str())?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for UnknownAlgorithm {}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.as_str() == s)
            .ok_or_else(|| UnknownAlgorithm(s.to_owned()))
    }
}

/// How many intervals [`median`] looks at: the Go ring held 20 beat
/// timestamps, which give 19 differences.
const MEDIAN_WINDOW: usize = 19;

/// The fewest intervals [`median`] needs before it sets a deadline.
const MEDIAN_MIN_SAMPLES: usize = 5;

/// §3.5: `ceil(1.5 × median)` of the last 19 intervals, or None (no deadline)
/// with fewer than 5. The median of an even count is the floor of the mean
/// of the two middle values. All in integer ms.
pub fn median(intervals: &[u32]) -> Option<u64> {
    let recent = &intervals[intervals.len().saturating_sub(MEDIAN_WINDOW)..];
    if recent.len() < MEDIAN_MIN_SAMPLES {
        return None;
    }
    let mut buf = [0u32; MEDIAN_WINDOW];
    let sorted = &mut buf[..recent.len()];
    sorted.copy_from_slice(recent);
    sorted.sort_unstable();
    // ceil(m * 1.5) == ceil(3m / 2), exact in integers; 3 × u32::MAX fits in u64.
    Some((3 * middle(sorted)).div_ceil(2))
}

/// The median of a sorted, non-empty slice; an even count gives the floor of
/// the mean of the two middle values.
fn middle(sorted: &[u32]) -> u64 {
    let half = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        u64::from(sorted[half])
    } else {
        (u64::from(sorted[half - 1]) + u64::from(sorted[half])) / 2
    }
}

/// How many intervals [`adaptive`] looks at.
const ADAPTIVE_WINDOW: usize = 20;

/// Values further than this many sample standard deviations from the mean are outliers.
const OUTLIER_STDS: f64 = 3.0;

/// Centre of mass of the exponentially weighted averages (α = 1/11).
const EWM_COM: f64 = 10.0;

/// How many EWMA standard deviations are added to the EWMA mean.
const STD_FACTOR: f64 = 3.0;

/// The fixed margin added to every adaptive timeout, in ms.
const MARGIN_MS: f64 = 1000.0;

/// §3.4, exactly as lovebeat 1.0.x computes it (same float operations in the
/// same order): the last 20 intervals, outliers beyond 3 sample standard
/// deviations dropped (all kept if that would drop everything), then
/// `EWMA mean + 3 × EWMA std + 1000`, rounded half up. An empty history gives
/// 1000; a NaN result gives 0.
pub fn adaptive(intervals: &[u32]) -> u64 {
    let recent = &intervals[intervals.len().saturating_sub(ADAPTIVE_WINDOW)..];
    let mut buf = [0f64; ADAPTIVE_WINDOW];
    let n = without_outliers(recent, &mut buf);
    let series = &buf[..n];
    if series.is_empty() {
        return MARGIN_MS as u64;
    }
    let mean = ewma_last(series, |x| x);
    let std = ewm_std_last(series, mean);
    let result = mean + STD_FACTOR * std + MARGIN_MS;
    if result.is_nan() {
        return 0;
    }
    // Go's int64(result + 0.5); `as` saturates where Go would overflow.
    (result + 0.5) as u64
}

/// Copies into `out` the values strictly within mean ± 3 sample std of
/// `values` (or all of them if none are) and returns how many it copied.
/// With one value the std is NaN, no value qualifies, and all are kept.
fn without_outliers(values: &[u32], out: &mut [f64; ADAPTIVE_WINDOW]) -> usize {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let squares: f64 = values
        .iter()
        .map(|&v| (f64::from(v) - mean) * (f64::from(v) - mean))
        .sum();
    let std = (squares / (n - 1.0)).sqrt();
    let (low, high) = (mean - OUTLIER_STDS * std, mean + OUTLIER_STDS * std);
    let mut kept = 0;
    for value in values.iter().map(|&v| f64::from(v)) {
        if low < value && value < high {
            out[kept] = value;
            kept += 1;
        }
    }
    if kept == 0 {
        for (slot, &value) in out.iter_mut().zip(values) {
            *slot = f64::from(value);
        }
        kept = values.len();
    }
    kept
}

/// The last element of the bias-corrected EWMA (pandas `ewm(com, adjust=True)`)
/// of `f(x)` over a non-empty series, computed as Go's `Ewma` does: the raw
/// recursion first, then division by `1 - (com/(1+com))^n`.
fn ewma_last(series: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let old_weight = EWM_COM / (1.0 + EWM_COM);
    let mut raw = f(series[0]) / (1.0 + EWM_COM);
    let mut adjust = old_weight;
    for &x in &series[1..] {
        raw = (EWM_COM * raw + f(x)) / (1.0 + EWM_COM);
        adjust *= old_weight;
    }
    raw / (1.0 - adjust)
}

/// The last element of the EWMA standard deviation, with the old pandas
/// `ewmstd(bias=False)` factor (1+2com)/(2com); 0 when the variance estimate
/// is negative. `mean` is [`ewma_last`] of the series itself.
fn ewm_std_last(series: &[f64], mean: f64) -> f64 {
    let mean_of_squares = ewma_last(series, |x| x * x);
    let mut variance = mean_of_squares - mean * mean;
    variance *= (1.0 + 2.0 * EWM_COM) / (2.0 * EWM_COM);
    if variance < 0.0 {
        return 0.0;
    }
    variance.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The §3.5 sample rule: differences between consecutive non-zero timestamps.
    fn diffs(timestamps: &[u32]) -> Vec<u32> {
        let beats: Vec<u32> = timestamps.iter().copied().filter(|&t| t != 0).collect();
        beats.windows(2).map(|w| w[1] - w[0]).collect()
    }

    fn sorted_middle(values: &[u32]) -> u64 {
        let mut values = values.to_vec();
        values.sort_unstable();
        middle(&values)
    }

    #[test]
    fn algorithm_names_round_trip() {
        for algorithm in Algorithm::ALL {
            assert_eq!(algorithm.as_str().parse::<Algorithm>(), Ok(algorithm));
            assert_eq!(algorithm.to_string(), algorithm.as_str());
        }
        assert_eq!(Algorithm::default(), Algorithm::Median);
    }

    #[test]
    fn unknown_algorithm_names_the_valid_ones() {
        let err = "ewma".parse::<Algorithm>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown AUTO algorithm "ewma" (expected one of: "median" "adaptive" "rhythm")"#
        );
    }

    #[test]
    fn estimate_median_is_median() {
        assert_eq!(Algorithm::Median.estimate(&[10; 5]), Some(15));
        assert_eq!(Algorithm::Median.estimate(&[10; 4]), None);
    }

    #[test]
    fn estimate_adaptive_sets_no_deadline_without_history() {
        assert_eq!(Algorithm::Adaptive.estimate(&[]), None);
        assert_eq!(Algorithm::Adaptive.estimate(&[60000, 60000]), Some(61000));
    }

    #[test]
    fn algorithms_serialize_as_their_names() {
        for algorithm in Algorithm::ALL {
            let json = serde_json::to_string(&algorithm).unwrap();
            assert_eq!(json, format!("\"{algorithm}\""));
            assert_eq!(serde_json::from_str::<Algorithm>(&json).unwrap(), algorithm);
        }
    }

    #[test]
    fn estimate_rhythm_needs_three_intervals() {
        assert_eq!(Algorithm::Rhythm.estimate(&[60000; 2]), None);
        assert_eq!(Algorithm::Rhythm.estimate(&[60000; 3]), Some(120000));
    }

    #[test]
    fn explanations_say_what_the_timeout_is_made_of() {
        assert_eq!(
            Algorithm::Median.explain(&[60000; 6]),
            "1.5 × the median of the last 6 intervals; late after 90 s"
        );
        assert!(
            Algorithm::Median
                .explain(&[1])
                .starts_with("learning: 1 of 5")
        );
        assert!(
            Algorithm::Adaptive
                .explain(&[60000])
                .ends_with("late after 61 s")
        );
        assert_eq!(
            Algorithm::Adaptive.explain(&[]),
            "no interval yet, no deadline"
        );
    }

    #[test]
    fn middle_of_odd_count_is_the_middle_value() {
        assert_eq!(sorted_middle(&[1, 3, 2, 5, 4]), 3);
    }

    #[test]
    fn middle_of_even_count_is_the_floor_of_the_middle_pair() {
        assert_eq!(sorted_middle(&[7, 5, 1, 3]), 4);
        assert_eq!(sorted_middle(&[1, 2]), 1);
    }

    #[test]
    fn diffs_skip_the_zero_filled_ring() {
        assert_eq!(diffs(&[0, 0, 40, 50]), vec![10]);
        assert_eq!(diffs(&[4, 8, 15, 16]), vec![4, 7, 1]);
    }

    #[test]
    fn median_needs_five_intervals() {
        assert_eq!(median(&diffs(&[4, 8, 15, 16])), None);
        assert_eq!(median(&[1, 2, 3, 4]), None);
    }

    #[test]
    fn median_is_one_and_a_half_times_the_median_rounded_up() {
        assert_eq!(median(&diffs(&[10, 20, 30, 40, 50, 60])), Some(15));
        assert_eq!(median(&[1, 1, 1, 1, 1]), Some(2));
        assert_eq!(median(&[7, 7, 7, 7, 7]), Some(11));
    }

    #[test]
    fn median_uses_the_last_nineteen_intervals() {
        let mut intervals = vec![1_000_000; 10];
        intervals.extend([10; 19]);
        assert_eq!(median(&intervals), Some(15));
        // One more large value inside the window shifts nothing, ten do.
        intervals.extend([1_000_000; 10]);
        assert_eq!(median(&intervals), Some(1_500_000));
    }

    #[test]
    fn median_does_not_overflow() {
        assert_eq!(
            median(&[u32::MAX; 6]),
            Some((3 * u64::from(u32::MAX)).div_ceil(2))
        );
    }

    #[test]
    fn adaptive_empty_is_one_second() {
        assert_eq!(adaptive(&[]), 1000);
    }

    #[test]
    fn adaptive_single_value_keeps_it_despite_nan_std() {
        assert_eq!(adaptive(&[60000]), 61000);
    }

    #[test]
    fn adaptive_two_equal_values() {
        assert_eq!(adaptive(&[60000, 60000]), 61000);
    }

    #[test]
    fn adaptive_six_equal_values() {
        assert_eq!(adaptive(&[60000; 6]), 61000);
    }

    #[test]
    fn adaptive_validate_stream() {
        let stream = [60000, 60000, 60000, 120000, 60000];
        let outputs: Vec<u64> = (1..=stream.len()).map(|n| adaptive(&stream[..n])).collect();
        assert_eq!(outputs, [61000, 61000, 61000, 161625, 150238]);
    }

    #[test]
    fn adaptive_drops_outliers_beyond_three_sample_stds() {
        // One huge value among 19 regular ones is more than 3 std away.
        let mut intervals = vec![60000; 19];
        intervals.push(10_000_000);
        assert_eq!(adaptive(&intervals), 61000);
    }

    #[test]
    fn adaptive_uses_the_last_twenty_intervals() {
        let mut intervals = vec![5_000_000; 30];
        intervals.extend([60000; 20]);
        assert_eq!(adaptive(&intervals), 61000);
    }

    proptest! {
        #[test]
        fn estimates_never_panic(intervals in prop::collection::vec(any::<u32>(), 0..60)) {
            for algorithm in Algorithm::ALL {
                let _ = algorithm.estimate(&intervals);
            }
        }

        #[test]
        fn estimates_survive_extreme_values(
            intervals in prop::collection::vec(prop_oneof![Just(0), Just(u32::MAX), any::<u32>()], 0..45)
        ) {
            for algorithm in Algorithm::ALL {
                let _ = algorithm.estimate(&intervals);
            }
        }

        #[test]
        fn median_is_at_least_the_median_interval(intervals in prop::collection::vec(any::<u32>(), 5..60)) {
            let recent = &intervals[intervals.len().saturating_sub(MEDIAN_WINDOW)..];
            let estimate = median(&intervals).unwrap();
            prop_assert!(estimate >= sorted_middle(recent));
        }

        #[test]
        fn adaptive_is_at_least_one_second(intervals in prop::collection::vec(any::<u32>(), 0..60)) {
            prop_assert!(adaptive(&intervals) >= 1000);
        }
    }
}
