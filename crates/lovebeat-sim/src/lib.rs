//! The AUTO estimators' scoring bench: generated and recorded beat
//! traces, every estimator scored on them the way a user feels it (false
//! alarms, detection delay), and `docs/DETECTION.md`, which `lovebeat
//! simulate --markdown` prints. A tool for people choosing and tuning
//! estimators, with `lovebeat-core` as its only lovebeat dependency.
//! The daemon's runtime crates (core, store, alert, server, proto) must
//! never import it: it is only for the `simulate` subcommand and benches.
//!
//! After each beat of a trace the estimator gives a timeout T from what it
//! has seen so far, exactly as the engine computes it (the engine's own
//! code through [`AutoService`], the default history of 100). If the next
//! interval is longer than T, that is a *false alarm*; T divided by the
//! trace's true period is the *detection delay* a dead job would have had
//! at that moment. Beats with no deadline yet are counted apart and have
//! no delay.
//!
//! Baselines are also scored *at the new estimator's false-alarm rate*:
//! every timeout scaled by the one factor that brings their false alarms on
//! that family down (or up) to `rhythm`'s. The factor is picked knowing the
//! whole trace, so it is an oracle no deployed constant could beat.
//!
//! [`families`] generates the standard traces from a seed with a small
//! in-code PRNG ([`Rng`]), so results are reproducible everywhere;
//! [`Family::recorded`] takes a recorded trace. [`markdown`] writes
//! `docs/DETECTION.md`, its hand-written part from `detection_notes.md`.

use std::fmt::Write as _;

use lovebeat_core::auto::Algorithm;
use lovebeat_core::{AutoService, Millis};

/// History capacity the simulated services use (the config default).
const HISTORY: usize = 100;
/// Monday 2024-01-01 00:00 UTC: generated traces start on a Monday.
const MONDAY: Millis = 1_704_067_200_000;
const SECOND: f64 = 1_000.0;
const MINUTE: f64 = 60_000.0;
const HOUR: f64 = 3_600_000.0;
const DAY: f64 = 86_400_000.0;
/// The false-alarm rate the new estimator must stay under.
pub const FALSE_ALARM_BAR: f64 = 0.001;

/// SplitMix64: tiny, fast and good enough to draw beat jitter from.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller, one of the pair).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Exponential with mean 1.
    pub fn exponential(&mut self) -> f64 {
        -self.unit().ln()
    }
}

/// Beat times of one service and the true period behind each interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub beats: Vec<Millis>,
    /// `periods[i]`: the period the interval `beats[i]..beats[i+1]` was drawn with.
    pub periods: Vec<f64>,
}

impl Trace {
    /// A recorded trace (sorted here); its period is its median interval.
    pub fn from_times(mut times: Vec<Millis>) -> Trace {
        times.sort_unstable();
        let mut intervals: Vec<Millis> = times.windows(2).map(|w| w[1] - w[0]).collect();
        intervals.sort_unstable();
        let period = intervals
            .get(intervals.len() / 2)
            .copied()
            .unwrap_or(1)
            .max(1) as f64;
        Trace {
            periods: vec![period; times.len().saturating_sub(1)],
            beats: times,
        }
    }

    fn push(&mut self, at: f64, period: f64) {
        if !self.beats.is_empty() {
            self.periods.push(period);
        }
        self.beats.push(at.round() as Millis);
    }
}

/// A named set of traces with what it stands for.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub about: String,
    pub traces: Vec<Trace>,
}

impl Family {
    /// One recorded trace (beat times in ms, any order) under `name`.
    pub fn recorded(name: String, times: Vec<Millis>) -> Family {
        Family {
            name,
            about: "a recorded trace; its period is its median interval".to_owned(),
            traces: vec![Trace::from_times(times)],
        }
    }
}

/// The standard families, each drawn from `seed`.
pub fn families(seed: u64) -> Vec<Family> {
    let make = |i: u64, name: &str, about: &str, count: usize, f: fn(&mut Rng) -> Trace| {
        let mut rng = Rng::new(seed ^ (i << 32));
        Family {
            name: name.to_owned(),
            about: about.to_owned(),
            traces: (0..count).map(|_| f(&mut rng)).collect(),
        }
    };
    vec![
        make(
            1,
            "regular 1 %",
            "every 60 s, normal jitter σ = 1 %",
            4,
            |r| regular(r, 0.01),
        ),
        make(
            2,
            "regular 10 %",
            "every 60 s, normal jitter σ = 10 %",
            4,
            |r| regular(r, 0.10),
        ),
        make(
            3,
            "cron",
            "on the minute, 0.3–1.5 s runs; 1 % run 10–50 s longer",
            4,
            cron,
        ),
        make(4, "poisson", "exponential intervals, mean 60 s", 4, poisson),
        make(
            5,
            "doubling",
            "every 60 s (2 % jitter), then every 120 s",
            4,
            doubling,
        ),
        make(
            6,
            "business hours",
            "every 5 min 09:00–17:00 on weekdays only, 26 weeks",
            4,
            business_hours,
        ),
        make(
            7,
            "nightly",
            "02:00 + ~10 min run daily, Sundays a ~3 h run, 3 years",
            8,
            nightly,
        ),
    ]
}

/// Intervals per generated trace of the minute-scale families.
const BEATS: usize = 20_000;

fn regular(rng: &mut Rng, jitter: f64) -> Trace {
    let mut trace = empty(MONDAY as f64);
    let mut t = MONDAY as f64;
    for _ in 0..BEATS {
        t += (MINUTE * (1.0 + jitter * rng.normal())).max(SECOND);
        trace.push(t, MINUTE);
    }
    trace
}

fn cron(rng: &mut Rng) -> Trace {
    let mut trace = Trace {
        beats: Vec::new(),
        periods: Vec::new(),
    };
    for i in 0..=BEATS {
        let mut run = 300.0 + 1200.0 * rng.unit();
        if rng.unit() < 0.01 {
            run += 10_000.0 + 40_000.0 * rng.unit();
        }
        trace.push(MONDAY as f64 + i as f64 * MINUTE + run, MINUTE);
    }
    trace
}

fn poisson(rng: &mut Rng) -> Trace {
    let mut trace = empty(MONDAY as f64);
    let mut t = MONDAY as f64;
    for _ in 0..BEATS {
        t += (MINUTE * rng.exponential()).max(SECOND);
        trace.push(t, MINUTE);
    }
    trace
}

fn doubling(rng: &mut Rng) -> Trace {
    let mut trace = empty(MONDAY as f64);
    let mut t = MONDAY as f64;
    for i in 0..BEATS {
        let period = if i < BEATS / 2 { MINUTE } else { 2.0 * MINUTE };
        t += period * (1.0 + 0.02 * rng.normal());
        trace.push(t, period);
    }
    trace
}

fn business_hours(rng: &mut Rng) -> Trace {
    let mut trace = Trace {
        beats: Vec::new(),
        periods: Vec::new(),
    };
    for day in 0..26 * 7 {
        if day % 7 >= 5 {
            continue;
        }
        let nine = MONDAY as f64 + day as f64 * DAY + 9.0 * HOUR;
        for k in 0..=96 {
            let at = nine + k as f64 * 5.0 * MINUTE + 2.0 * SECOND * rng.normal().abs();
            trace.push(at, 5.0 * MINUTE);
        }
    }
    trace
}

fn nightly(rng: &mut Rng) -> Trace {
    let mut trace = Trace {
        beats: Vec::new(),
        periods: Vec::new(),
    };
    for day in 0..3 * 365 {
        let run = if day % 7 == 6 {
            3.0 * HOUR + 15.0 * MINUTE * rng.normal()
        } else {
            10.0 * MINUTE + 2.0 * MINUTE * rng.normal()
        };
        let at = MONDAY as f64 + day as f64 * DAY + 2.0 * HOUR + run.max(MINUTE);
        trace.push(at, DAY);
    }
    trace
}

fn empty(start: f64) -> Trace {
    Trace {
        beats: vec![start.round() as Millis],
        periods: Vec::new(),
    }
}

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

/// A plain-text table of the results, for a terminal.
pub fn text(results: &[FamilyScore]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<15} {:<9} {:>8} {:>8} {:>8} {:>9}  {:>8}",
        "family", "estimator", "false %", "none %", "median", "p99", "matched"
    );
    for family in results {
        let verdict = family.verdict();
        for score in &family.scores {
            let d = score.delays();
            let matched = match score.algorithm {
                Algorithm::Rhythm if verdict.wins() => "wins".to_owned(),
                Algorithm::Rhythm => "LOSES".to_owned(),
                _ => format!(
                    "{:.3}",
                    score.at_rate(verdict.rhythm.false_alarm_rate).median
                ),
            };
            let _ = writeln!(
                out,
                "{:<15} {:<9} {:>8.3} {:>8.3} {:>8.3} {:>9.2}  {:>8}",
                family.name,
                score.algorithm.as_str(),
                100.0 * score.false_alarm_rate(),
                100.0 * score.unarmed as f64 / score.intervals.max(1) as f64,
                d.median,
                d.p99,
                matched
            );
        }
    }
    out
}

/// The hand-written part of `docs/DETECTION.md`, after the generated table.
const NOTES: &str = include_str!("detection_notes.md");

/// `docs/DETECTION.md`: method, table, verdict and notes.
pub fn markdown(results: &[FamilyScore], seed: u64) -> String {
    let mut out = String::new();
    let wins = results.iter().filter(|f| f.verdict().wins()).count();
    let worst = results
        .iter()
        .map(|f| f.verdict().rhythm.false_alarm_rate)
        .fold(0.0, f64::max);
    let _ = write!(
        out,
        "# AUTO detection quality\n\n\
         <!-- Generated by `cargo run --release -- simulate --markdown > docs/DETECTION.md` \
         (seed {seed}); edit `crates/lovebeat-sim/src/`, not this file. -->\n\n\
         **Headline:** `rhythm` keeps false alarms at or under {:.3} % on every family \
         (the bar is {:.1} %) and has the lowest median detection delay at matched \
         false-alarm rate on {wins} of {} families.\n\n",
        100.0 * worst,
        100.0 * FALSE_ALARM_BAR,
        results.len()
    );
    out.push_str(METHOD);
    write_table(&mut out, results);
    write_verdicts(&mut out, results);
    out.push_str(NOTES);
    out
}

const METHOD: &str = "## How it is scored\n\n\
After each beat of a trace, the estimator gives a timeout T from what it has \
seen so far, computed by the engine's own code (history of 100, beats under \
1 s apart coalesced). If the next interval is longer than T, that is a \
**false alarm** (the job was alive). **Delay** is T divided by the trace's \
true period: how many periods a job that died at that beat would go \
unnoticed. *No deadline* is the share of beats with no timeout yet (a \
fresh service); those have no delay and cannot false-alarm.\n\n\
Baselines also get a **matched** column: every timeout they gave on that \
family multiplied by the one factor (shown) that makes their false-alarm \
rate equal `rhythm`'s (or lower, by the smallest step the trace allows). \
The factor is chosen knowing the whole trace, which no real deployment \
could do, so it flatters them. `rhythm` wins a row when its false alarms \
are ≤ 0.1 % and its median delay is below the better matched baseline's.\n\n";

fn write_table(out: &mut String, results: &[FamilyScore]) {
    out.push_str(
        "## Results\n\n\
         | family | estimator | false alarms | no deadline | median delay | p99 delay | matched: median delay (p99) × factor |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    for family in results {
        let verdict = family.verdict();
        for score in &family.scores {
            let d = score.delays();
            let matched = if score.algorithm == Algorithm::Rhythm {
                "—".to_owned()
            } else {
                let m = score.at_rate(verdict.rhythm.false_alarm_rate);
                format!("{} ({}) × {:.3}", delay(m.median), delay(m.p99), m.scale)
            };
            let name = if score.algorithm == Algorithm::Rhythm {
                format!("**{}**", score.algorithm)
            } else {
                score.algorithm.to_string()
            };
            let _ = writeln!(
                out,
                "| {} | {name} | {:.3} % | {:.2} % | {} | {} | {matched} |",
                family.name,
                100.0 * score.false_alarm_rate(),
                100.0 * score.unarmed as f64 / score.intervals.max(1) as f64,
                delay(d.median),
                delay(d.p99),
            );
        }
    }
    out.push('\n');
    out.push_str("Families:\n\n");
    for family in results {
        let n: usize = family.scores[0].intervals;
        let _ = writeln!(
            out,
            "* **{}**: {} ({n} intervals).",
            family.name, family.about
        );
    }
    out.push('\n');
}

fn write_verdicts(out: &mut String, results: &[FamilyScore]) {
    out.push_str("## Verdict, family by family\n\n");
    for family in results {
        let v = family.verdict();
        let outcome = match (v.under_bar(), v.faster()) {
            (true, true) => "wins",
            (false, _) => "**does not win**: over the false-alarm bar",
            (true, false) => "**does not win**: slower than the matched baseline",
        };
        let _ = writeln!(
            out,
            "* **{}**: {outcome}. `rhythm` {:.3} % false alarms, median delay {}; \
             best matched baseline `{}` {}.",
            family.name,
            100.0 * v.rhythm.false_alarm_rate,
            delay(v.rhythm.median),
            v.baseline,
            delay(v.baseline_delays.median),
        );
    }
    out.push('\n');
}

fn delay(x: f64) -> String {
    if x.is_nan() {
        "—".to_owned()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(times: &[Millis]) -> Trace {
        Trace::from_times(times.to_vec())
    }

    #[test]
    fn the_rng_is_reproducible() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::new(8).next_u64(), xs[0]);
    }

    #[test]
    fn normal_draws_have_unit_spread() {
        let mut rng = Rng::new(1);
        let xs: Vec<f64> = (0..20_000).map(|_| rng.normal()).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / xs.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }

    #[test]
    fn a_recorded_trace_takes_its_median_interval_as_period() {
        let t = trace(&[300, 0, 100, 200, 1000]);
        assert_eq!(t.beats, [0, 100, 200, 300, 1000]);
        assert_eq!(t.periods, [100.0; 4]);
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

    #[test]
    fn families_are_reproducible_and_shaped() {
        let a = families(3);
        let b = families(3);
        assert_eq!(a.len(), 7);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.traces, y.traces, "{}", x.name);
            for t in &x.traces {
                assert_eq!(t.periods.len() + 1, t.beats.len());
                assert!(t.beats.windows(2).all(|w| w[1] > w[0]), "{}", x.name);
            }
        }
    }
}
