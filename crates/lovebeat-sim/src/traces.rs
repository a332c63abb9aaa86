//! The beat traces: the standard generated families, drawn from a seed with
//! a small in-code PRNG ([`Rng`]) so they are the same everywhere, and
//! recorded traces ([`Trace::from_times`], [`Family::recorded`]).

use lovebeat_core::Millis;

/// Monday 2024-01-01 00:00 UTC: generated traces start on a Monday.
const MONDAY: Millis = 1_704_067_200_000;
const SECOND: f64 = 1_000.0;
const MINUTE: f64 = 60_000.0;
const HOUR: f64 = 3_600_000.0;
const DAY: f64 = 86_400_000.0;

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

#[cfg(test)]
mod tests {
    use super::*;

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
        let t = Trace::from_times(vec![300, 0, 100, 200, 1000]);
        assert_eq!(t.beats, [0, 100, 200, 300, 1000]);
        assert_eq!(t.periods, [100.0; 4]);
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
