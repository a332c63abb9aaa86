//! The `rhythm` AUTO estimator: a timeout calibrated to ≤ 0.05 % misses,
//! on a clock that stops in the quiet hours the service has shown.
//!
//! Per service it keeps (about 1.6 KB, whatever the history length):
//! * the last [`RING`] *effective* intervals (wall time minus learned quiet
//!   time); their mean without the lowest and highest eighth is the
//!   period estimate P;
//! * a long-memory histogram of `next interval / P`, the ratio a timeout
//!   `x × P` has to cover. Its upper quantile, calibrated to [`TARGET`]
//!   misses and extrapolated from its 90th and 99th percentiles while it
//!   is thin, gives x. Single outliers never move it (the largest sample is
//!   always ignored), and ratios over [`MAX_RATIO`] are gaps, not jitter;
//! * two maps of 5-minute slots, one of the week and one of the day, of
//!   where the service has stayed silent well past its due time. A slot
//!   silent twice (two weeks, or two days where the week says nothing) is
//!   *quiet*: the deadline clock stops there, so a business-hours job is
//!   due shortly after 09:00 on Monday, not at 17:05 on Friday.
//!
//! A run of [`CHANGE_RUN`] intervals past the timeout (or far below P)
//! is a new period: the ring restarts from those intervals.
//!
//! Pure and time-free like the rest of the core: times are passed in. The
//! engine (`service.rs`) feeds it each new interval and asks for the
//! timeout; the simulator (`lovebeat-sim`) and `validate-auto` do the same.

use std::collections::VecDeque;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::types::Millis;

/// Width of one time-of-week slot.
const SLOT_MS: Millis = 5 * 60 * 1000;
/// Slots in a day and in a week.
const DAY_SLOTS: usize = 288;
const WEEK_SLOTS: usize = 7 * DAY_SLOTS;
const WEEK_WORDS: usize = WEEK_SLOTS.div_ceil(64);
/// 1970-01-01 was a Thursday: slots from epoch day 0 plus this are Monday-based.
const EPOCH_WEEKDAY_SLOTS: i64 = 3 * DAY_SLOTS as i64;

/// Effective intervals kept for the period estimate.
pub(crate) const RING: usize = 64;
/// Histogram bins: bin 0 holds ratios up to 1 + [`MIN_EXCESS`], bin b > 0
/// an eighth of a doubling of the excess `ratio - 1`.
const BINS: usize = 128;
const MIN_EXCESS: f64 = 0.001;
const BINS_PER_DOUBLING: f64 = 8.0;
/// Histogram weight halves every this many intervals.
const HALF_LIFE: f64 = 8192.0;
/// The share of intervals the timeout may miss.
pub const TARGET: f64 = 0.0003;
/// Weight of the tail's single largest sample, which the quantile ignores.
const IGNORED_WEIGHT: f64 = 1.5;
/// How far past the 99th percentile the tail is extrapolated, in units of
/// (p99 - p90). 1.0 lands on an exponential tail's 99.9th percentile.
const EXTRAPOLATION: f64 = 1.0;
/// While the histogram is thin, the excess it gives is stretched by
/// `1 + THIN / weight`.
const THIN: f64 = 30.0;
/// Ratios above this are gaps (an outage, a quiet night), not jitter.
const MAX_RATIO: f64 = 16.0;
/// Fewest intervals for a deadline.
const MIN_INTERVALS: usize = 3;
/// While fewer intervals than this were seen, the timeout is at least
/// [`WARMUP_FACTOR`] × P: the tail is unknown and rhythm unlearned.
const WARMUP: u32 = 32;
const WARMUP_FACTOR: f64 = 2.0;
/// Intervals in a row past the timeout that mean the period changed.
const CHANGE_RUN: u8 = 3;
/// Intervals in a row under [`SHRINK_RATIO`] × P that mean it shrank.
const SHRINK_RUN: u8 = 6;
const SHRINK_RATIO: f64 = 0.3;
/// A silent stretch past due must cover this many whole slots to count.
const MIN_STRETCH_SLOTS: usize = 2;
/// After a quiet stretch, the deadline gets this share of its length (at
/// most [`RESUME_CAP_MS`]) for the service to come back.
const RESUME_SHARE: f64 = 0.25;
const RESUME_CAP_MS: f64 = 3_600_000.0;
/// Periods longer than this ignore the slot maps.
const MAX_RHYTHM_PERIOD_MS: f64 = 2.0 * 86_400_000.0;
/// Intervals with a long silent stretch wait this long before entering the
/// histogram: by then a weekly rhythm has shown itself and is subtracted.
const PENDING_MS: Millis = 8 * 86_400_000;
const PENDING_MAX: usize = 8;
/// The walk of the deadline clock gives up after this many slots.
const WALK_LIMIT: usize = 2 * WEEK_SLOTS;

/// Slot states, two bits each.
const UNKNOWN: u8 = 0;
const NORMAL: u8 = 1;
const CANDIDATE: u8 = 2;
const QUIET: u8 = 3;

/// A map of 2-bit slot states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Slots {
    lo: Vec<u64>,
    hi: Vec<u64>,
}

impl Slots {
    fn new(slots: usize) -> Slots {
        let words = slots.div_ceil(64);
        Slots {
            lo: vec![0; words],
            hi: vec![0; words],
        }
    }

    fn get(&self, i: usize) -> u8 {
        let (w, b) = (i / 64, i % 64);
        (((self.hi[w] >> b) & 1) << 1 | ((self.lo[w] >> b) & 1)) as u8
    }

    /// Sets slot `i`; returns whether it changed.
    fn set(&mut self, i: usize, state: u8) -> bool {
        if self.get(i) == state {
            return false;
        }
        let (w, b) = (i / 64, i % 64);
        let mask = 1u64 << b;
        self.lo[w] = (self.lo[w] & !mask) | (u64::from(state & 1) << b);
        self.hi[w] = (self.hi[w] & !mask) | (u64::from(state >> 1) << b);
        true
    }

    fn has_words(&self, slots: usize) -> bool {
        self.lo.len() == slots.div_ceil(64) && self.hi.len() == self.lo.len()
    }
}

/// The state of a slot after one more silent stretch over it.
fn bumped(state: u8) -> u8 {
    match state {
        UNKNOWN | NORMAL => CANDIDATE,
        _ => QUIET,
    }
}

/// An interval with a long silent stretch, waiting to enter the histogram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Pending {
    start: Millis,
    end: Millis,
    /// The period estimate when the interval began.
    period: f64,
}

/// One service's `rhythm` state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rhythm {
    /// The closing beat of the last interval observed.
    last: Millis,
    /// Intervals observed.
    seen: u32,
    /// Effective intervals in ms, oldest first, at most [`RING`].
    ring: VecDeque<u32>,
    /// Decayed weights of `interval / period` ratios, see [`BINS`].
    tail: Vec<f32>,
    /// Their total.
    weight: f64,
    /// Bins of the last [`CHANGE_RUN`] samples, newest first, to take back.
    recent_bins: Vec<u8>,
    /// Current run of intervals past the timeout / far below the period.
    over: u8,
    under: u8,
    week: Slots,
    day: Slots,
    pending: Vec<Pending>,
    /// Cached: the period estimate (ms), the timeout factor and the quiet
    /// slots of the week; not stored, [`Rhythm::restored`] recomputes them.
    #[serde(skip)]
    period: f64,
    #[serde(skip)]
    factor: f64,
    #[serde(skip)]
    quiet: usize,
    /// Cached: bit s set where the clock stops in week slot s.
    #[serde(skip)]
    quiet_map: [u64; WEEK_WORDS],
}

impl Default for Rhythm {
    fn default() -> Self {
        Rhythm::new()
    }
}

impl Rhythm {
    pub fn new() -> Rhythm {
        Rhythm {
            last: Millis::MIN,
            seen: 0,
            ring: VecDeque::with_capacity(RING),
            tail: vec![0.0; BINS],
            weight: 0.0,
            recent_bins: Vec::new(),
            over: 0,
            under: 0,
            week: Slots::new(WEEK_SLOTS),
            day: Slots::new(DAY_SLOTS),
            pending: Vec::new(),
            period: 0.0,
            factor: 1.0,
            quiet: 0,
            quiet_map: [0; WEEK_WORDS],
        }
    }

    /// The state learned from a history of intervals (oldest first) whose
    /// last one closed at `last`: beats are assumed back to back.
    pub fn replay(intervals: &[u32], last: Millis) -> Rhythm {
        let total: i64 = intervals.iter().map(|&i| i64::from(i)).sum();
        let mut at = last - total;
        let mut rhythm = Rhythm::new();
        for &interval in intervals {
            at += i64::from(interval);
            rhythm.observe(interval, at);
        }
        rhythm
    }

    /// A stored state made ready for use, or None if it has not the shape
    /// this version expects (the caller then replays the history).
    pub fn restored(mut self) -> Option<Rhythm> {
        if !self.is_well_formed() {
            return None;
        }
        self.refresh();
        self.rebuild_quiet_map();
        self.quiet = self.count_quiet();
        Some(self)
    }

    fn is_well_formed(&self) -> bool {
        self.tail.len() == BINS
            && self.ring.len() <= RING
            && self.week.has_words(WEEK_SLOTS)
            && self.day.has_words(DAY_SLOTS)
            && self.pending.len() <= PENDING_MAX
            && self.recent_bins.len() <= usize::from(CHANGE_RUN)
    }

    /// The closing beat of the last interval observed.
    pub fn last(&self) -> Millis {
        self.last
    }

    /// Learns from one interval of `interval` ms that closed at `at`.
    pub fn observe(&mut self, interval: u32, at: Millis) {
        let start = at - i64::from(interval);
        let due = self.due_ms();
        let (stretch, changed) = self.mark(start, at, due);
        if changed {
            self.quiet = self.count_quiet();
        }
        let effective = self.effective(start, at);
        if stretch >= MIN_STRETCH_SLOTS && self.period > 0.0 {
            self.defer(start, at);
        } else if self.period > 0.0 {
            self.learn_ratio(effective / self.period);
        }
        self.push(effective);
        self.flush_pending(at);
        self.seen = self.seen.saturating_add(1);
        self.last = self.last.max(at);
        self.refresh();
    }

    /// The timeout after the beat at `at`, or None while too few intervals
    /// were seen.
    pub fn timeout(&self, at: Millis) -> Option<u64> {
        if self.ring.len() < MIN_INTERVALS {
            return None;
        }
        let need = self.period * self.reported_factor();
        if self.period > MAX_RHYTHM_PERIOD_MS {
            return Some(need.ceil() as u64);
        }
        let (deadline, _) = self.walk(at, need);
        Some(deadline.saturating_sub(at).max(0) as u64)
    }

    /// The period estimate in ms (0 before the first interval).
    pub fn period(&self) -> f64 {
        self.period
    }

    /// The timeout factor on the effective clock, warm-up included.
    pub fn reported_factor(&self) -> f64 {
        let mut factor = self.factor;
        if self.seen < WARMUP {
            factor = factor.max(WARMUP_FACTOR);
        }
        factor
    }

    /// One line on the current timeout after the beat at `at`; clock times
    /// in UTC shifted by `utc_offset_min`.
    pub fn explain(&self, at: Millis, utc_offset_min: i32) -> String {
        let Some(timeout) = self.timeout(at) else {
            return Rhythm::learning(self.ring.len());
        };
        let mut line = format!(
            "every ~{} ± {}; late after {}",
            human_ms(self.period),
            human_ms(self.spread()),
            human_ms(timeout as f64)
        );
        if self.period <= MAX_RHYTHM_PERIOD_MS {
            let need = self.period * self.reported_factor();
            if let (_, Some((from, to))) = self.walk(at, need) {
                let _ = write!(
                    line,
                    "; quiet {} – {} learned",
                    clock(from, utc_offset_min),
                    clock(to, utc_offset_min)
                );
            } else if self.quiet > 0 {
                let hours = self.quiet as f64 * SLOT_MS as f64 / 3_600_000.0;
                let _ = write!(line, "; {hours:.0} quiet hours a week learned");
            }
        }
        if self.seen < WARMUP {
            let _ = write!(line, " (warming up: {} of {WARMUP} intervals)", self.seen);
        }
        line
    }

    /// The reason while there is no deadline yet, after `seen` intervals.
    pub fn learning(seen: usize) -> String {
        format!("learning: {seen} of {MIN_INTERVALS} intervals seen, no deadline yet")
    }

    /// Slots of the week the deadline clock stops in.
    fn count_quiet(&self) -> usize {
        self.quiet_map.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Rebuilds the quiet bitmap from the slot maps.
    fn rebuild_quiet_map(&mut self) {
        self.quiet_map = [0; WEEK_WORDS];
        for s in 0..WEEK_SLOTS {
            if self.is_quiet(s) {
                self.quiet_map[s / 64] |= 1 << (s % 64);
            }
        }
    }

    /// Half the 10th-to-90th percentile range of the ring, in ms.
    fn spread(&self) -> f64 {
        let mut sorted: Vec<u32> = self.ring.iter().copied().collect();
        sorted.sort_unstable();
        let n = sorted.len();
        if n == 0 {
            return 0.0;
        }
        let at = |q: f64| f64::from(sorted[((n - 1) as f64 * q).round() as usize]);
        (at(0.9) - at(0.1)) / 2.0
    }

    /// The due time in effective ms that the last timeout used (unwarmed),
    /// or infinity before there is one.
    fn due_ms(&self) -> f64 {
        if self.ring.len() < MIN_INTERVALS {
            return f64::INFINITY;
        }
        self.period * self.factor
    }

    /// Whether the deadline clock stops in week slot `s`, from the maps.
    fn is_quiet(&self, s: usize) -> bool {
        match self.week.get(s) {
            QUIET => true,
            NORMAL => false,
            _ => self.day.get(s % DAY_SLOTS) == QUIET,
        }
    }

    fn uses_slots(&self) -> bool {
        self.period > 0.0 && self.period <= MAX_RHYTHM_PERIOD_MS
    }

    /// Whether the clock stops in absolute slot `n`, from the bitmap.
    fn quiet_at(&self, n: i64) -> bool {
        let s = week_pos(n);
        self.quiet_map[s / 64] & (1 << (s % 64)) != 0
    }

    /// The first absolute slot from `n` (before `limit`) whose quietness is
    /// not `quiet`: the end of the run `n` is in. `limit` if none.
    fn run_end(&self, n: i64, quiet: bool, limit: i64) -> i64 {
        let mut m = n;
        while m < limit {
            let s = week_pos(m);
            let (w, b) = (s / 64, s % 64);
            let slots = if w == WEEK_WORDS - 1 {
                WEEK_SLOTS - w * 64
            } else {
                64
            };
            let word = if quiet {
                !self.quiet_map[w]
            } else {
                self.quiet_map[w]
            };
            let span = slots - b;
            let mut bits = word >> b;
            if span < 64 {
                bits &= (1 << span) - 1;
            }
            if bits != 0 {
                return (m + i64::from(bits.trailing_zeros())).min(limit);
            }
            m += span as i64;
        }
        limit
    }

    /// Marks the interval from `start` to `end`: whole slots silent within
    /// `due` (effective ms) become normal where unknown; a silent stretch
    /// past it of at least [`MIN_STRETCH_SLOTS`] whole slots gets one step
    /// quieter; the slot of the closing beat becomes normal. Returns the
    /// length of the stretch in slots and whether a slot changed.
    fn mark(&mut self, start: Millis, end: Millis, due: f64) -> (usize, bool) {
        if !self.uses_slots() && self.period > 0.0 {
            return (0, false);
        }
        let first = (start + SLOT_MS - 1).div_euclid(SLOT_MS);
        let last = end.div_euclid(SLOT_MS).min(first + WALK_LIMIT as i64);
        let due_slot = if due.is_finite() {
            // A slot is late when the time needed ran out before its end.
            // `clock_at` rounds the moment up to a whole ms; step back to
            // the last whole ms before it when `due` has a fraction, so a
            // slot ending in between still counts as late.
            let at = self.clock_at(start, due, false).0;
            let at = if due.fract() == 0.0 { at } else { at - 1 };
            at.div_euclid(SLOT_MS)
        } else {
            i64::MAX
        };
        let late = last.saturating_sub(due_slot.max(first)).max(0) as usize;
        let mut changed = self.mark_normal(first, due_slot.min(last));
        if late >= MIN_STRETCH_SLOTS {
            changed |= self.bump_stretch(due_slot.max(first), last);
        }
        let n = end.div_euclid(SLOT_MS);
        changed |= self.set_week(week_pos(n), NORMAL);
        changed |= self.set_day(week_pos(n) % DAY_SLOTS, NORMAL);
        (late, changed)
    }

    /// Unknown, non-quiet week slots among absolute slots `from..to` become normal.
    fn mark_normal(&mut self, from: i64, to: i64) -> bool {
        let mut changed = false;
        let mut m = from;
        while m < to {
            let s = week_pos(m);
            let (w, b) = (s / 64, s % 64);
            let slots = if w == WEEK_WORDS - 1 {
                WEEK_SLOTS - w * 64
            } else {
                64
            };
            let span = ((slots - b) as i64).min(to - m) as usize;
            let range = if span == 64 {
                u64::MAX
            } else {
                ((1 << span) - 1) << b
            };
            let unknown = !self.week.lo[w] & !self.week.hi[w];
            let set = range & unknown & !self.quiet_map[w];
            if set != 0 {
                self.week.lo[w] |= set;
                changed = true;
            }
            m += span as i64;
        }
        changed
    }

    /// One more silent stretch over absolute slots `from..to` of the week,
    /// and over each day slot they cover (once, however many days).
    fn bump_stretch(&mut self, from: i64, to: i64) -> bool {
        let mut changed = false;
        let mut days = [0u64; DAY_SLOTS.div_ceil(64)];
        for n in from..to.min(from + WEEK_SLOTS as i64) {
            let s = week_pos(n);
            let state = bumped(self.week.get(s));
            changed |= self.set_week(s, state);
            let d = s % DAY_SLOTS;
            if days[d / 64] & (1 << (d % 64)) == 0 {
                days[d / 64] |= 1 << (d % 64);
                changed |= self.set_day(d, bumped(self.day.get(d)));
            }
        }
        changed
    }

    /// Sets a week slot and its quiet bit.
    fn set_week(&mut self, s: usize, state: u8) -> bool {
        if !self.week.set(s, state) {
            return false;
        }
        self.refresh_bit(s);
        true
    }

    /// Sets a day slot and the quiet bits of its seven week slots.
    fn set_day(&mut self, d: usize, state: u8) -> bool {
        if !self.day.set(d, state) {
            return false;
        }
        for s in (d..WEEK_SLOTS).step_by(DAY_SLOTS) {
            self.refresh_bit(s);
        }
        true
    }

    fn refresh_bit(&mut self, s: usize) {
        let mask = 1 << (s % 64);
        if self.is_quiet(s) {
            self.quiet_map[s / 64] |= mask;
        } else {
            self.quiet_map[s / 64] &= !mask;
        }
    }

    /// Wall ms from `start` to `end` minus the quiet slots in between.
    fn effective(&self, start: Millis, end: Millis) -> f64 {
        let wall = (end - start) as f64;
        if !self.uses_slots() || end <= start {
            return wall;
        }
        let limit = end.div_euclid(SLOT_MS) + 1;
        let mut quiet = 0;
        let mut t = start;
        while t < end {
            let n = t.div_euclid(SLOT_MS);
            let is_quiet = self.quiet_at(n);
            let next = (self.run_end(n, is_quiet, limit) * SLOT_MS).min(end);
            if is_quiet {
                quiet += next - t;
            }
            t = next;
        }
        wall - quiet as f64
    }

    /// The deadline for `need` effective ms after `from`, and the longest
    /// quiet stretch the clock stopped in on the way.
    fn walk(&self, from: Millis, need: f64) -> (Millis, Option<(Millis, Millis)>) {
        self.clock_at(from, need, true)
    }

    /// When `need` effective ms have passed after `from`, plus (with
    /// `resume`) the comeback margin after each quiet stretch; and the
    /// longest quiet stretch on the way.
    fn clock_at(
        &self,
        from: Millis,
        need: f64,
        resume: bool,
    ) -> (Millis, Option<(Millis, Millis)>) {
        let limit = from.div_euclid(SLOT_MS) + WALK_LIMIT as i64;
        let (mut t, mut left, mut extra) = (from, need, 0.0);
        let mut longest: Option<(Millis, Millis)> = None;
        loop {
            let n = t.div_euclid(SLOT_MS);
            if n >= limit {
                break;
            }
            if self.quiet_at(n) {
                let quiet_from = t;
                t = self.run_end(n, true, limit) * SLOT_MS;
                let len = t - quiet_from;
                if resume && len >= MIN_STRETCH_SLOTS as i64 * SLOT_MS {
                    extra += (len as f64 * RESUME_SHARE).min(RESUME_CAP_MS);
                }
                if longest.is_none_or(|(a, b)| b - a < len) {
                    longest = Some((quiet_from, t));
                }
                continue;
            }
            let next = self.run_end(n, false, limit) * SLOT_MS;
            let room = (next - t) as f64;
            if left <= room {
                break;
            }
            left -= room;
            t = next;
        }
        (t.saturating_add((left + extra).ceil() as Millis), longest)
    }

    /// Holds an interval with a long silent stretch until its rhythm shows.
    fn defer(&mut self, start: Millis, end: Millis) {
        if self.pending.len() >= PENDING_MAX {
            let oldest = self.pending.remove(0);
            self.learn_pending(oldest);
        }
        self.pending.push(Pending {
            start,
            end,
            period: self.period,
        });
    }

    fn flush_pending(&mut self, now: Millis) {
        while let Some(&first) = self.pending.first() {
            if now - first.start < PENDING_MS {
                break;
            }
            self.pending.remove(0);
            self.learn_pending(first);
        }
    }

    fn learn_pending(&mut self, p: Pending) {
        let ratio = self.effective(p.start, p.end) / p.period;
        if ratio <= MAX_RATIO {
            self.add_sample(ratio);
        }
    }

    /// Learns the ratio of a regular interval to the period it was due by,
    /// and watches for a changed period.
    fn learn_ratio(&mut self, ratio: f64) {
        if ratio <= MAX_RATIO {
            self.add_sample(ratio);
            self.recent_bins.insert(0, bin_of(ratio) as u8);
            self.recent_bins.truncate(usize::from(CHANGE_RUN));
        }
        let missed = self.ring.len() >= MIN_INTERVALS && ratio > self.factor;
        self.over = if missed { self.over + 1 } else { 0 };
        self.under = if ratio < SHRINK_RATIO {
            self.under + 1
        } else {
            0
        };
        if self.over >= CHANGE_RUN {
            self.restart(usize::from(CHANGE_RUN) - 1);
            self.forget_recent();
        } else if self.under >= SHRINK_RUN {
            self.restart(usize::from(SHRINK_RUN) - 1);
        }
    }

    /// Keeps only the newest `keep` ring entries (the interval being
    /// observed is pushed next).
    fn restart(&mut self, keep: usize) {
        while self.ring.len() > keep {
            self.ring.pop_front();
        }
        self.over = 0;
        self.under = 0;
    }

    /// Takes the samples of a period change back out of the histogram:
    /// they measured the old period, not the tail.
    fn forget_recent(&mut self) {
        let decay = decay();
        let mut weight = 1.0;
        for &b in &self.recent_bins {
            let bin = &mut self.tail[usize::from(b)];
            let taken = f64::from(*bin).min(weight);
            *bin -= taken as f32;
            self.weight -= taken;
            weight *= decay;
        }
        self.recent_bins.clear();
    }

    fn add_sample(&mut self, ratio: f64) {
        let decay = decay();
        for w in &mut self.tail {
            *w *= decay as f32;
        }
        self.tail[bin_of(ratio)] += 1.0;
        self.weight = self.weight * decay + 1.0;
    }

    fn push(&mut self, effective: f64) {
        if self.ring.len() >= RING {
            self.ring.pop_front();
        }
        self.ring
            .push_back(effective.round().clamp(0.0, f64::from(u32::MAX)) as u32);
    }

    /// Recomputes the period estimate and the timeout factor.
    fn refresh(&mut self) {
        self.period = trimmed_mean(&self.ring);
        let mut factor = self.tail_factor();
        // A short ring (after a restart) knows its period less well.
        let n = self.ring.len().max(1) as f64;
        factor = 1.0 + (factor - 1.0) * (1.0 + 2.0 / n - 2.0 / RING as f64);
        self.factor = factor;
    }

    /// The ratio the timeout must cover: the calibrated quantile, or the
    /// extrapolated tail, whichever is larger.
    fn tail_factor(&self) -> f64 {
        let above = [TARGET, 0.01, 0.10].map(|share| (share * self.weight).max(IGNORED_WEIGHT));
        let [target, p99, p90] = self.quantiles(above);
        let extrapolated = p99 + EXTRAPOLATION * (p99 - p90);
        let factor = target.max(extrapolated).max(1.0 + MIN_EXCESS);
        1.0 + (factor - 1.0) * (1.0 + THIN / self.weight.max(1.0))
    }

    /// The ratios with these histogram weights above them (ascending
    /// weights), in one pass down from the top bin.
    fn quantiles(&self, above: [f64; 3]) -> [f64; 3] {
        let mut out = [1.0 + MIN_EXCESS; 3];
        let (mut acc, mut next) = (0.0, 0);
        for b in (1..BINS).rev() {
            let w = f64::from(self.tail[b]);
            if w <= 0.0 {
                continue;
            }
            while next < above.len() && acc + w >= above[next] {
                let inside = ((above[next] - acc) / w).clamp(0.0, 1.0);
                out[next] = 1.0 + excess_at(b as f64 - inside);
                next += 1;
            }
            if next == above.len() {
                break;
            }
            acc += w;
        }
        out
    }
}

fn decay() -> f64 {
    0.5f64.powf(1.0 / HALF_LIFE)
}

/// The histogram bin of a ratio.
fn bin_of(ratio: f64) -> usize {
    let excess = ratio - 1.0;
    if excess <= MIN_EXCESS || excess.is_nan() {
        return 0;
    }
    let b = 1.0 + (BINS_PER_DOUBLING * (excess / MIN_EXCESS).log2()).floor();
    (b as usize).min(BINS - 1)
}

/// The excess at a (fractional) upper bin edge: bin b spans edges b-1..b.
fn excess_at(edge: f64) -> f64 {
    MIN_EXCESS * (edge / BINS_PER_DOUBLING).exp2()
}

/// The week slot (Monday 00:00 UTC based) of a moment.
#[cfg(test)]
fn week_slot(t: Millis) -> usize {
    week_pos(t.div_euclid(SLOT_MS))
}

/// The week slot of absolute slot `n` (slots since the epoch).
fn week_pos(n: i64) -> usize {
    (n + EPOCH_WEEKDAY_SLOTS).rem_euclid(WEEK_SLOTS as i64) as usize
}

/// The mean of the ring without its lowest and highest eighth, in ms:
/// nearly as steady as the mean on clean beats, as robust as the median to
/// a few outliers.
fn trimmed_mean(ring: &VecDeque<u32>) -> f64 {
    if ring.is_empty() {
        return 0.0;
    }
    let mut buf = [0u32; RING];
    let values = &mut buf[..ring.len()];
    for (slot, &v) in values.iter_mut().zip(ring) {
        *slot = v;
    }
    let n = values.len();
    let cut = n / 8;
    if cut > 0 {
        values.select_nth_unstable(cut - 1);
        values[cut..].select_nth_unstable(n - 2 * cut);
    }
    let kept = &values[cut..n - cut];
    kept.iter().map(|&v| f64::from(v)).sum::<f64>() / kept.len() as f64
}

/// "Mon 09:00" for a moment, shifted by `utc_offset_min`, with the zone.
fn clock(t: Millis, utc_offset_min: i32) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let local = t.div_euclid(60_000) + i64::from(utc_offset_min);
    let minute_of_week = (local + 3 * 1440).rem_euclid(7 * 1440);
    let day = DAYS[(minute_of_week / 1440) as usize];
    let (h, m) = ((minute_of_week % 1440) / 60, minute_of_week % 60);
    format!("{day} {h:02}:{m:02} {}", zone(utc_offset_min))
}

fn zone(utc_offset_min: i32) -> String {
    if utc_offset_min == 0 {
        return "UTC".to_owned();
    }
    let sign = if utc_offset_min < 0 { '-' } else { '+' };
    let abs = utc_offset_min.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", abs / 60, abs % 60)
}

/// "60 s", "5 min", "24 h" for a duration in ms, two significant figures.
pub(crate) fn human_ms(ms: f64) -> String {
    let (value, unit) = if ms < 1_000.0 {
        (ms, "ms")
    } else if ms < 120_000.0 {
        (ms / 1_000.0, "s")
    } else if ms < 7_200_000.0 {
        (ms / 60_000.0, "min")
    } else {
        (ms / 3_600_000.0, "h")
    };
    if value < 10.0 && value.fract() != 0.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.0} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Millis = 60_000;
    /// Monday 2024-01-01 00:00 UTC.
    const MONDAY: Millis = 1_704_067_200_000;

    fn feed(rhythm: &mut Rhythm, times: &[Millis]) {
        for w in times.windows(2) {
            rhythm.observe((w[1] - w[0]) as u32, w[1]);
        }
    }

    fn regular(start: Millis, period: Millis, n: usize) -> Vec<Millis> {
        (0..n as i64).map(|i| start + i * period).collect()
    }

    #[test]
    fn monday_is_week_slot_zero() {
        assert_eq!(week_slot(MONDAY), 0);
        assert_eq!(week_slot(MONDAY + 86_400_000 - 1), DAY_SLOTS - 1);
        assert_eq!(week_slot(MONDAY - 1), WEEK_SLOTS - 1);
    }

    #[test]
    fn bins_round_trip_to_their_edges() {
        assert_eq!(bin_of(1.0), 0);
        assert_eq!(bin_of(f64::NAN), 0);
        for b in 1..BINS - 1 {
            let inside = 1.0 + excess_at(b as f64 - 0.5);
            assert_eq!(bin_of(inside), b);
        }
        assert_eq!(bin_of(1e9), BINS - 1);
    }

    #[test]
    fn no_deadline_before_three_intervals() {
        let mut r = Rhythm::new();
        feed(&mut r, &regular(MONDAY, MIN, 3));
        assert_eq!(r.timeout(MONDAY + 2 * MIN), None);
        r.observe(MIN as u32, MONDAY + 3 * MIN);
        assert!(r.timeout(MONDAY + 3 * MIN).is_some());
    }

    #[test]
    fn warm_up_is_twice_the_period() {
        let mut r = Rhythm::new();
        feed(&mut r, &regular(MONDAY, MIN, 6));
        assert_eq!(r.timeout(MONDAY + 5 * MIN), Some(2 * MIN as u64));
    }

    #[test]
    fn a_regular_beat_gets_a_tight_timeout() {
        let mut r = Rhythm::new();
        let times: Vec<Millis> = (0..2000i64)
            .map(|i| MONDAY + i * MIN + (i * 7919 % 11) * 60)
            .collect();
        feed(&mut r, &times);
        let t = r.timeout(*times.last().unwrap()).unwrap() as f64;
        assert!(t > 60_000.0 && t < 63_000.0, "{t}");
    }

    #[test]
    fn one_outlier_does_not_widen_the_timeout() {
        let mut r = Rhythm::new();
        let mut times = regular(MONDAY, MIN, 500);
        let before = {
            feed(&mut r, &times);
            r.timeout(*times.last().unwrap()).unwrap()
        };
        let outage = times.last().unwrap() + 9 * MIN;
        times = regular(outage, MIN, 50);
        r.observe(9 * MIN as u32, outage);
        feed(&mut r, &times);
        assert_eq!(r.timeout(*times.last().unwrap()), Some(before));
    }

    #[test]
    fn a_doubled_period_is_adopted_within_a_few_beats() {
        let mut r = Rhythm::new();
        let times = regular(MONDAY, MIN, 300);
        feed(&mut r, &times);
        let after = regular(*times.last().unwrap(), 2 * MIN, 6);
        feed(&mut r, &after);
        let t = r.timeout(*after.last().unwrap()).unwrap();
        assert!((120_000..=200_000).contains(&t), "{t}");
    }

    #[test]
    fn business_hours_learn_quiet_nights_and_weekends() {
        let mut r = Rhythm::new();
        let mut times = Vec::new();
        for day in 0..28 {
            if day % 7 >= 5 {
                continue;
            }
            let nine = MONDAY + day * 86_400_000 + 9 * 3_600_000;
            times.extend((0..=96).map(|i| nine + i * 5 * MIN));
        }
        feed(&mut r, &times);
        // Friday 17:00 of week 4: due after the weekend, not at 17:05.
        let last = *times.last().unwrap();
        let timeout = r.timeout(last).unwrap() as i64;
        assert!(timeout > 64 * 3_600_000, "{timeout}");
        assert!(timeout < 66 * 3_600_000, "{timeout}");
        // Wednesday 12:00: five minutes and a bit.
        let noon = MONDAY + 23 * 86_400_000 + 12 * 3_600_000;
        assert!(r.timeout(noon).unwrap() < 6 * MIN as u64);
        assert!(
            r.explain(last, 0).contains("quiet Fri 17:"),
            "{}",
            r.explain(last, 0)
        );
    }

    #[test]
    fn a_stretch_must_recur_to_be_quiet() {
        let mut r = Rhythm::new();
        let monday = MONDAY / SLOT_MS;
        r.bump_stretch(monday + 10, monday + 12);
        assert!(!r.is_quiet(10) && !r.quiet_at(monday + 10));
        r.bump_stretch(monday + 10, monday + 12);
        assert!(r.is_quiet(10) && r.quiet_at(monday + 10));
        assert!(r.is_quiet(10 + DAY_SLOTS) && r.quiet_at(monday + 10 + DAY_SLOTS as i64));
    }

    #[test]
    fn a_day_slot_speaks_only_where_the_week_does_not() {
        let mut r = Rhythm::new();
        r.day.set(5, QUIET);
        assert!(r.is_quiet(5 + DAY_SLOTS));
        r.week.set(5 + DAY_SLOTS, NORMAL);
        assert!(!r.is_quiet(5 + DAY_SLOTS));
    }

    #[test]
    fn replay_matches_observing() {
        let times = regular(MONDAY, MIN, 50);
        let mut r = Rhythm::new();
        feed(&mut r, &times);
        let intervals = vec![MIN as u32; 49];
        assert_eq!(Rhythm::replay(&intervals, *times.last().unwrap()), r);
    }

    #[test]
    fn stored_state_round_trips_and_is_checked() {
        let mut r = Rhythm::new();
        feed(&mut r, &regular(MONDAY, MIN, 40));
        let text = serde_json::to_string(&r).unwrap();
        let back: Rhythm = serde_json::from_str(&text).unwrap();
        let mut broken = back.clone();
        let back = back.restored().unwrap();
        let at = MONDAY + 39 * MIN;
        assert_eq!(
            (back.ring.clone(), back.timeout(at)),
            (r.ring.clone(), r.timeout(at))
        );
        broken.tail.pop();
        assert_eq!(broken.restored(), None);
    }

    /// A state with random slot maps and a 5-minute period.
    fn random_maps(seed: u64) -> Rhythm {
        // SplitMix64, as lovebeat-sim's `Rng` (the same maps as when the
        // simulator lived in this crate).
        let mut state = seed;
        let mut next_u64 = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let z = (state ^ (state >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut r = Rhythm::new();
        for w in 0..WEEK_WORDS {
            // Runs of equal states, a quarter of them quiet or candidate.
            let runs = next_u64() & next_u64();
            r.week.lo[w] = next_u64() ^ (runs << 1);
            r.week.hi[w] = runs & (runs >> 1);
        }
        for w in 0..r.day.lo.len() {
            r.day.lo[w] = next_u64();
            r.day.hi[w] = next_u64();
        }
        r.rebuild_quiet_map();
        r.period = 300_000.0;
        r
    }

    /// The slot-by-slot version of [`Rhythm::effective`].
    fn slow_effective(r: &Rhythm, start: Millis, end: Millis) -> f64 {
        let mut quiet = 0;
        let mut slot_start = start.div_euclid(SLOT_MS) * SLOT_MS;
        while slot_start < end {
            let slot_end = slot_start + SLOT_MS;
            if r.is_quiet(week_slot(slot_start)) {
                quiet += slot_end.min(end) - slot_start.max(start);
            }
            slot_start = slot_end;
        }
        (end - start - quiet) as f64
    }

    /// The slot-by-slot version of [`Rhythm::walk`].
    fn slow_walk(r: &Rhythm, from: Millis, need: f64) -> (Millis, Option<(Millis, Millis)>) {
        let (mut left, mut extra, mut t) = (need, 0.0, from);
        let mut run: Option<Millis> = None;
        let mut longest: Option<(Millis, Millis)> = None;
        loop {
            let slot_end = (t.div_euclid(SLOT_MS) + 1) * SLOT_MS;
            if r.is_quiet(week_slot(t)) {
                run.get_or_insert(t);
                t = slot_end;
                continue;
            }
            if let Some(quiet_from) = run.take() {
                let len = t - quiet_from;
                if len >= MIN_STRETCH_SLOTS as i64 * SLOT_MS {
                    extra += (len as f64 * RESUME_SHARE).min(RESUME_CAP_MS);
                }
                if longest.is_none_or(|(a, b)| b - a < len) {
                    longest = Some((quiet_from, t));
                }
            }
            let room = (slot_end - t) as f64;
            if left <= room {
                return (t + (left + extra).ceil() as Millis, longest);
            }
            left -= room;
            t = slot_end;
        }
    }

    /// The slot-by-slot version of [`Rhythm::mark`] (unknown-to-normal,
    /// stretch bumps, the closing slot), on the maps only.
    fn slow_mark(r: &mut Rhythm, start: Millis, end: Millis, due: f64) -> usize {
        let mut elapsed = 0.0;
        let mut late = Vec::new();
        let mut slot_start = start.div_euclid(SLOT_MS) * SLOT_MS;
        while slot_start + SLOT_MS <= end {
            let (slot_end, s) = (slot_start + SLOT_MS, week_slot(slot_start));
            let quiet = r.is_quiet(s);
            if !quiet {
                elapsed += (slot_end - slot_start.max(start)) as f64;
            }
            if slot_start >= start {
                if elapsed > due {
                    late.push(s);
                } else if !quiet && r.week.get(s) == UNKNOWN {
                    r.week.set(s, NORMAL);
                }
            }
            slot_start = slot_end;
        }
        if late.len() >= MIN_STRETCH_SLOTS {
            let mut days = std::collections::HashSet::new();
            for &s in &late {
                r.week.set(s, bumped(r.week.get(s)));
                if days.insert(s % DAY_SLOTS) {
                    r.day.set(s % DAY_SLOTS, bumped(r.day.get(s % DAY_SLOTS)));
                }
            }
        }
        let s = week_slot(end);
        r.week.set(s, NORMAL);
        r.day.set(s % DAY_SLOTS, NORMAL);
        late.len()
    }

    proptest::proptest! {
        #[test]
        fn bitmap_walks_match_slot_by_slot_walks(
            seed in 0u64..1000,
            start in 0i64..2 * 7 * 86_400_000,
            len in 0i64..3 * 86_400_000,
            need in 0.0f64..2.0 * 86_400_000.0,
        ) {
            let r = random_maps(seed);
            let start = MONDAY + start;
            proptest::prop_assert_eq!(r.effective(start, start + len), slow_effective(&r, start, start + len));
            proptest::prop_assert_eq!(r.walk(start, need), slow_walk(&r, start, need));
        }

        #[test]
        fn bitmap_marking_matches_slot_by_slot_marking(
            seed in 0u64..1000,
            start in 0i64..7 * 86_400_000,
            len in 1_000i64..2 * 86_400_000,
            due in 0.0f64..86_400_000.0,
        ) {
            let mut fast = random_maps(seed);
            let mut slow = fast.clone();
            let start = MONDAY + start;
            let (late, _) = fast.mark(start, start + len, due);
            let slow_late = slow_mark(&mut slow, start, start + len, due);
            proptest::prop_assert_eq!(late, slow_late);
            proptest::prop_assert_eq!(&fast.week, &slow.week);
            proptest::prop_assert_eq!(&fast.day, &slow.day);
            slow.rebuild_quiet_map();
            proptest::prop_assert_eq!(fast.quiet_map, slow.quiet_map);
        }
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_ms(60_000.0), "60 s");
        assert_eq!(human_ms(1_500.0), "1.5 s");
        assert_eq!(human_ms(300_000.0), "5 min");
        assert_eq!(human_ms(86_400_000.0), "24 h");
    }

    #[test]
    fn clock_times_name_the_zone() {
        assert_eq!(clock(MONDAY + 9 * 3_600_000, 0), "Mon 09:00 UTC");
        assert_eq!(clock(MONDAY, -60), "Sun 23:00 UTC-01:00");
        assert_eq!(clock(MONDAY, 330), "Mon 05:30 UTC+05:30");
    }
}
