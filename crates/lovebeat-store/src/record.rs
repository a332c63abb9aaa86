//! The binary service record of formats 2 and 3: what a restart decodes a
//! million times, so it is read field by field with no parsing.
//!
//! `schema` decides which records are binary (those that do not start with
//! `{`, the JSON of format 1) and names the record in errors; this module
//! only turns a [`ServiceRecord`] into bytes and back. The name is not in
//! the bytes: it is the record's key.
//!
//! Layout, integers little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | the tag: [`SERVICE_RECORD`] (format 3), or 2 (format 2) |
//! | 1 | which optional fields follow (`HAS_*` bits) |
//! | 8 | `created`, ms since the epoch (`i64`) |
//! | 8 | `last_beat` (`i64`), if `HAS_LAST_BEAT` |
//! | 1 + 8 | `warn_timeout`: kind (0 never, 1 always, 2 after, 3 AUTO), then ms (`u64`) |
//! | 1 + 8 | `err_timeout`, the same way |
//! | 1 | `state`: 0 new, 1 ok, 2 muted, 3 warning, 4 error |
//! | 8 | `muted_since` (`i64`), if `HAS_MUTED_SINCE` |
//! | 8 | `last_state_change` (`i64`) |
//! | 8 | `beats` (`u64`) |
//! | 4 + n | `history`: n (`u32`), then n bytes of [`Intervals::packed`] (format 2: a count n, then n intervals in ms, `u32` each) |
//! | 8 + 1 + text | `failure`, if `HAS_FAILURE`: `at` (`i64`), severity (0 warning, 1 error), message |
//! | 1 | `auto_algorithm`, if `HAS_ALGORITHM`: 0 median, 1 adaptive, 2 rhythm |
//! | text | `rhythm` as JSON, if `HAS_RHYTHM` (rare, and it changes shape more often) |
//! | text | `team`, if `HAS_TEAM` |
//! | text + text + 8 | `schedule`, if `HAS_SCHEDULE`: the expression, the time zone, the grace in ms (`u64`) |
//! | text | `runs` as JSON, if `HAS_RUNS` (rare) |
//!
//! A text is its length in bytes (`u32`), then UTF-8.

use std::sync::Arc;

use lovebeat_core::auto::{Algorithm, Rhythm};
use lovebeat_core::runs::Runs;
use lovebeat_core::{
    Failure, Intervals, Millis, Schedule, ServiceRecord, Severity, State, Timeout,
};

/// The first byte of a binary service record (never `{`): its history is
/// packed as the engine holds it, so a load copies it as it is.
pub(crate) const SERVICE_RECORD: u8 = 3;

/// The first byte of a format 2 record, whose history is a plain list of
/// `u32`s; still read, never written.
const SERVICE_RECORD_2: u8 = 2;

const HAS_LAST_BEAT: u8 = 1;
const HAS_MUTED_SINCE: u8 = 1 << 1;
const HAS_FAILURE: u8 = 1 << 2;
const HAS_ALGORITHM: u8 = 1 << 3;
const HAS_RHYTHM: u8 = 1 << 4;
const HAS_TEAM: u8 = 1 << 5;
const HAS_SCHEDULE: u8 = 1 << 6;
const HAS_RUNS: u8 = 1 << 7;

/// The bytes of `record` (its name aside).
pub(crate) fn encode_service(r: &ServiceRecord) -> Vec<u8> {
    let flags = [
        (r.last_beat.is_some(), HAS_LAST_BEAT),
        (r.muted_since.is_some(), HAS_MUTED_SINCE),
        (r.failure.is_some(), HAS_FAILURE),
        (r.auto_algorithm.is_some(), HAS_ALGORITHM),
        (r.rhythm.is_some(), HAS_RHYTHM),
        (r.team.is_some(), HAS_TEAM),
        (r.schedule.is_some(), HAS_SCHEDULE),
        (r.runs.is_some(), HAS_RUNS),
    ]
    .iter()
    .filter(|(present, _)| *present)
    .fold(0, |flags, (_, bit)| flags | bit);
    let mut out = Vec::with_capacity(64 + r.history.packed().len());
    out.extend([SERVICE_RECORD, flags]);
    out.extend(r.created.to_le_bytes());
    if let Some(at) = r.last_beat {
        out.extend(at.to_le_bytes());
    }
    put_timeout(&mut out, r.warn_timeout);
    put_timeout(&mut out, r.err_timeout);
    out.push(state_code(r.state));
    if let Some(at) = r.muted_since {
        out.extend(at.to_le_bytes());
    }
    out.extend(r.last_state_change.to_le_bytes());
    out.extend(r.beats.to_le_bytes());
    put_text(&mut out, r.history.packed());
    if let Some(f) = &r.failure {
        out.extend(f.at.to_le_bytes());
        out.push(match f.severity {
            Severity::Warning => 0,
            Severity::Error => 1,
        });
        put_text(&mut out, f.message.as_bytes());
    }
    if let Some(algorithm) = r.auto_algorithm {
        out.push(match algorithm {
            Algorithm::Median => 0,
            Algorithm::Adaptive => 1,
            Algorithm::Rhythm => 2,
        });
    }
    if let Some(rhythm) = &r.rhythm {
        put_text(
            &mut out,
            &serde_json::to_vec(rhythm).expect("rhythm serializes"),
        );
    }
    if let Some(team) = &r.team {
        put_text(&mut out, team.as_bytes());
    }
    if let Some(schedule) = &r.schedule {
        put_text(&mut out, schedule.expression().as_bytes());
        put_text(&mut out, schedule.zone().as_bytes());
        out.extend(schedule.grace_ms().to_le_bytes());
    }
    if let Some(runs) = &r.runs {
        put_text(&mut out, &serde_json::to_vec(runs).expect("runs serialize"));
    }
    out
}

/// The record stored under `name` as `bytes`; the error says what is wrong
/// with them.
pub(crate) fn decode_service(name: &[u8], bytes: &[u8]) -> Result<ServiceRecord, String> {
    let name = std::str::from_utf8(name).map_err(|_| "the name is not UTF-8".to_owned())?;
    let mut r = Reader { bytes, at: 0 };
    let tag = r.u8()?;
    if tag != SERVICE_RECORD && tag != SERVICE_RECORD_2 {
        return Err(format!("unknown record tag {tag}"));
    }
    let flags = r.u8()?;
    let has = |bit: u8| flags & bit != 0;
    let record = ServiceRecord {
        name: Arc::from(name),
        created: r.i64()?,
        last_beat: r.i64_if(has(HAS_LAST_BEAT))?,
        warn_timeout: r.timeout()?,
        err_timeout: r.timeout()?,
        state: r.state()?,
        muted_since: r.i64_if(has(HAS_MUTED_SINCE))?,
        last_state_change: r.i64()?,
        beats: r.u64()?,
        history: match tag {
            SERVICE_RECORD => Intervals::from_packed(r.bytes()?)?,
            _ => r.history_2()?,
        },
        failure: has(HAS_FAILURE)
            .then(|| r.failure().map(Box::new))
            .transpose()?,
        auto_algorithm: has(HAS_ALGORITHM).then(|| r.algorithm()).transpose()?,
        rhythm: has(HAS_RHYTHM).then(|| r.rhythm()).transpose()?,
        team: has(HAS_TEAM).then(|| r.text()).transpose()?,
        schedule: has(HAS_SCHEDULE)
            .then(|| r.schedule().map(Arc::new))
            .transpose()?,
        runs: has(HAS_RUNS).then(|| r.runs()).transpose()?,
    };
    match bytes.len() - r.at {
        0 => Ok(record),
        extra => Err(format!("{extra} bytes after the record")),
    }
}

fn put_timeout(out: &mut Vec<u8>, timeout: Timeout) {
    let (kind, ms) = match timeout {
        Timeout::Never => (0, 0),
        Timeout::Always => (1, 0),
        Timeout::After(ms) => (2, ms),
        Timeout::Auto => (3, 0),
    };
    out.push(kind);
    out.extend(ms.to_le_bytes());
}

fn put_text(out: &mut Vec<u8>, text: &[u8]) {
    out.extend(len_u32(text.len()).to_le_bytes());
    out.extend(text);
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("record parts are far below 4 GiB")
}

fn state_code(state: State) -> u8 {
    match state {
        State::New => 0,
        State::Ok => 1,
        State::Muted => 2,
        State::Warning => 3,
        State::Error => 4,
    }
}

/// A cursor over a record's bytes; every read fails cleanly past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "cut short: {n} bytes wanted at byte {} of {}",
                self.at,
                self.bytes.len()
            ));
        };
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.array().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Result<Millis, String> {
        self.array().map(i64::from_le_bytes)
    }

    fn i64_if(&mut self, present: bool) -> Result<Option<Millis>, String> {
        present.then(|| self.i64()).transpose()
    }

    fn timeout(&mut self) -> Result<Timeout, String> {
        let kind = self.u8()?;
        let ms = self.u64()?;
        match kind {
            0 => Ok(Timeout::Never),
            1 => Ok(Timeout::Always),
            2 => Ok(Timeout::After(ms)),
            3 => Ok(Timeout::Auto),
            other => Err(format!("unknown timeout kind {other}")),
        }
    }

    fn state(&mut self) -> Result<State, String> {
        match self.u8()? {
            0 => Ok(State::New),
            1 => Ok(State::Ok),
            2 => Ok(State::Muted),
            3 => Ok(State::Warning),
            4 => Ok(State::Error),
            other => Err(format!("unknown state {other}")),
        }
    }

    /// A format 2 history: a count, then that many `u32`s.
    fn history_2(&mut self) -> Result<Intervals, String> {
        let n = self.u32()? as usize;
        let bytes = self.take(n.saturating_mul(4))?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("chunks of 4")))
            .collect())
    }

    fn failure(&mut self) -> Result<Failure, String> {
        let at = self.i64()?;
        let severity = match self.u8()? {
            0 => Severity::Warning,
            1 => Severity::Error,
            other => return Err(format!("unknown failure severity {other}")),
        };
        let message = self.text()?;
        Ok(Failure {
            at,
            severity,
            message,
        })
    }

    fn algorithm(&mut self) -> Result<Algorithm, String> {
        match self.u8()? {
            0 => Ok(Algorithm::Median),
            1 => Ok(Algorithm::Adaptive),
            2 => Ok(Algorithm::Rhythm),
            other => Err(format!("unknown AUTO algorithm {other}")),
        }
    }

    fn rhythm(&mut self) -> Result<Box<Rhythm>, String> {
        let n = self.u32()? as usize;
        serde_json::from_slice(self.take(n)?).map_err(|e| format!("rhythm: {e}"))
    }

    /// A length (`u32`) and that many bytes.
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn text(&mut self) -> Result<String, String> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "a text is not UTF-8".to_owned())
    }

    fn runs(&mut self) -> Result<Box<Runs>, String> {
        let n = self.u32()? as usize;
        serde_json::from_slice(self.take(n)?).map_err(|e| format!("runs: {e}"))
    }

    fn schedule(&mut self) -> Result<Schedule, String> {
        let expression = self.text()?;
        let zone = self.text()?;
        let grace = self.u64()?;
        Schedule::new(&expression, Some(&zone), grace).map_err(|e| format!("schedule: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_core::runs::OpenRun;

    /// A record with every optional field set.
    fn full() -> ServiceRecord {
        let mut rhythm_source = ServiceRecord {
            auto_algorithm: Some(Algorithm::Rhythm),
            ..bare()
        };
        rhythm_source.rhythm = Some(Box::new(Rhythm::replay(&[60_000; 12], 720_000)));
        ServiceRecord {
            last_beat: Some(1_700_000_000_123),
            warn_timeout: Timeout::After(90_000),
            err_timeout: Timeout::Auto,
            state: State::Warning,
            muted_since: Some(-5),
            failure: Some(Box::new(Failure {
                at: 42,
                severity: Severity::Error,
                message: "backup failed: disk full ✗".to_owned(),
            })),
            team: Some("ops".to_owned()),
            schedule: Some(Arc::new(
                Schedule::new("0 2 * * 1-5", Some("Europe/Berlin"), 1_800_000).unwrap(),
            )),
            runs: Some(Box::new(Runs {
                open: vec![OpenRun {
                    id: Some("r-1".into()),
                    started: 1_700_000_000_000,
                }],
                last_duration: Some(61_000),
                max_duration: Some(1_800_000),
            })),
            ..rhythm_source
        }
    }

    /// A record with none of them.
    fn bare() -> ServiceRecord {
        ServiceRecord {
            name: "backup.nightly".into(),
            created: 1000,
            last_beat: None,
            warn_timeout: Timeout::Never,
            err_timeout: Timeout::Always,
            state: State::New,
            muted_since: None,
            last_state_change: 0,
            history: (0..100).map(|i| 59_000 + i * 37).collect(),
            failure: None,
            beats: u64::MAX,
            auto_algorithm: None,
            rhythm: None,
            team: None,
            schedule: None,
            runs: None,
        }
    }

    #[test]
    fn records_round_trip() {
        for record in [bare(), full()] {
            let bytes = encode_service(&record);
            assert_eq!(bytes[0], SERVICE_RECORD);
            let mut back = decode_service(record.name.as_bytes(), &bytes).unwrap();
            // `rhythm` goes through JSON, as in format 1: as exact as that.
            let json = serde_json::to_vec(&record.rhythm).unwrap();
            let through_json: Option<Box<Rhythm>> = serde_json::from_slice(&json).unwrap();
            assert_eq!(back.rhythm, through_json);
            back.rhythm.clone_from(&record.rhythm);
            assert_eq!(back, record);
        }
    }

    #[test]
    fn a_record_is_a_little_more_than_its_packed_history() {
        let record = bare();
        let history = record.history.packed().len();
        // 100 intervals 37 ms apart: the first in 3 bytes, each next in 1.
        assert_eq!(history, 1 + 3 + 99);
        let bytes = encode_service(&record);
        assert_eq!(bytes.len(), 2 + 8 + 9 + 9 + 1 + 8 + 8 + 4 + history);
    }

    #[test]
    fn a_format_2_record_still_reads() {
        let mut bytes = vec![SERVICE_RECORD_2, 0];
        bytes.extend(1000i64.to_le_bytes());
        put_timeout(&mut bytes, Timeout::Never);
        put_timeout(&mut bytes, Timeout::After(90_000));
        bytes.push(state_code(State::Ok));
        bytes.extend(5000i64.to_le_bytes());
        bytes.extend(7u64.to_le_bytes());
        bytes.extend(2u32.to_le_bytes());
        bytes.extend(60_000u32.to_le_bytes());
        bytes.extend(61_000u32.to_le_bytes());
        let r = decode_service(b"backup.nightly", &bytes).unwrap();
        assert_eq!(r.history.to_vec(), [60_000, 61_000]);
        assert_eq!((r.created, r.last_state_change, r.beats), (1000, 5000, 7));
        assert_eq!(r.err_timeout, Timeout::After(90_000));
        assert_eq!(
            encode_service(&r)[0],
            SERVICE_RECORD,
            "written anew as format 3"
        );
    }

    #[test]
    fn every_cut_of_a_record_is_an_error_not_a_panic() {
        let record = full();
        let bytes = encode_service(&record);
        for len in 0..bytes.len() {
            let err = decode_service(b"backup.nightly", &bytes[..len]).unwrap_err();
            assert!(err.contains("cut short"), "at {len}: {err}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut bytes = encode_service(&full());
        let err = decode_service(b"x", b"\x07garbage").unwrap_err();
        assert_eq!(err, "unknown record tag 7");
        bytes.push(0);
        let err = decode_service(b"x", &bytes).unwrap_err();
        assert_eq!(err, "1 bytes after the record");
        let mut huge_history = encode_service(&bare());
        huge_history[45..49].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = decode_service(b"x", &huge_history).unwrap_err();
        assert!(err.contains("cut short"), "{err}");
        let mut bad_state = encode_service(&bare());
        bad_state[28] = 9;
        assert_eq!(
            decode_service(b"x", &bad_state).unwrap_err(),
            "unknown state 9"
        );
        assert!(decode_service(b"\xff", &encode_service(&bare())).is_err());
        for seed in 0..2000u32 {
            let noise: Vec<u8> = (0..seed % 97)
                .map(|i| (seed.wrapping_mul(2_654_435_761).rotate_left(i) >> 7) as u8)
                .chain([SERVICE_RECORD])
                .collect();
            let _ = decode_service(b"x", &noise);
            let tagged: Vec<u8> = [SERVICE_RECORD].iter().chain(&noise).copied().collect();
            let _ = decode_service(b"x", &tagged);
        }
    }
}
