//! The Go lovebeat database file: reading it (import), writing it (the S3
//! snapshot), and telling it apart from other files.
//!
//! The format (reference §6): a gzip stream of lines, each a record tag, a
//! tab and a JSON object: `SERV` for a service, `ALARM` for a 1.0 alarm,
//! `VIEW` for a view of the older warn/err generation. Other lines are
//! skipped. Service fields, by generation:
//!
//! * 1.0: `name`, `last_beat` (ms, -1 never), `beat_history` (ms),
//!   `timeout` (ms; 0 always, -1 never, -2 AUTO), `state`, `muted_since`
//!   (ms, 0 not muted), `last_state_change`.
//! * legacy: `warning_timeout` and `error_timeout` instead of `timeout`
//!   (0 there meant "unset"), states `paused`/`ok`/`warning`/`error`.
//!   These keep both timeouts (Go 1.0 loaded them as `timeout = 0`,
//!   "always error").
//! * ours: the 1.0 fields plus `warn_timeout`, `created`, `beats` and
//!   `failure`, which Go ignores, so the snapshot we write stays a valid
//!   Go database.
//!
//! What Go never stored is filled in: `created` is the first beat the
//! history implies (or the import time for a service that never beat),
//! `beats` is the number of beats the history implies.

use std::io::{self, BufRead, BufReader, Read, Write};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use lovebeat_core::{Failure, Millis, ServiceRecord, State, Timeout, ViewRecord};
use serde::{Deserialize, Serialize};

use crate::store::Contents;

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `head` (a file's first bytes) starts like a Go database.
pub fn looks_like_go_database(head: &[u8]) -> bool {
    head.starts_with(&GZIP_MAGIC)
}

/// A Go database, read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct GoDatabase {
    pub contents: Contents,
    /// Lines that were not records, or records that did not decode.
    pub skipped: usize,
}

/// Why a Go database could not be read.
#[derive(Debug)]
pub struct GoReadError {
    /// 1-based line number where reading stopped (0: before the first line).
    pub line: usize,
    pub source: io::Error,
}

impl std::fmt::Display for GoReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(
                f,
                "not a Go lovebeat database (expected gzip): {}",
                self.source
            )
        } else {
            write!(
                f,
                "damaged after line {}: {}; nothing was imported",
                self.line, self.source
            )
        }
    }
}

impl std::error::Error for GoReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A service line's JSON: every generation's fields, all optional.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct GoService {
    name: String,
    last_beat: Option<i64>,
    beat_history: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<i64>,
    #[serde(skip_serializing)]
    warning_timeout: Option<i64>,
    #[serde(skip_serializing)]
    error_timeout: Option<i64>,
    state: String,
    muted_since: i64,
    last_state_change: i64,
    // Ours; Go ignores them.
    #[serde(skip_serializing_if = "Option::is_none")]
    warn_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    beats: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<Box<Failure>>,
}

/// An alarm or view line's JSON.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct GoView {
    name: String,
    state: String,
    incident_nbr: i64,
    last_state_change: i64,
}

/// Reads a Go database from `input` (the gzip file). `now` stands in for
/// the creation time of services that never beat. A damaged stream fails
/// the whole read: a partial import is worse than none.
pub fn read_go_database(input: impl Read, now: Millis) -> Result<GoDatabase, GoReadError> {
    let mut reader = BufReader::new(MultiGzDecoder::new(input));
    let mut db = GoDatabase::default();
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| GoReadError {
                line: number,
                source,
            })?;
        if read == 0 {
            return Ok(db);
        }
        number += 1;
        if !read_line(&line, now, &mut db.contents) {
            db.skipped += 1;
        }
    }
}

/// Adds one line's record; false if the line is not a record we take.
fn read_line(line: &[u8], now: Millis, contents: &mut Contents) -> bool {
    let Some(tab) = line.iter().position(|&b| b == b'\t') else {
        return line.iter().all(u8::is_ascii_whitespace) && !line.is_empty();
    };
    let (tag, json) = (&line[..tab], &line[tab + 1..]);
    match tag {
        b"SERV" => match serde_json::from_slice::<GoService>(json) {
            Ok(s) if !s.name.is_empty() => {
                contents.services.push(service_record(s, now));
                true
            }
            _ => false,
        },
        b"ALARM" | b"VIEW" => match serde_json::from_slice::<GoView>(json) {
            Ok(v) if !v.name.is_empty() => {
                contents.views.push(view_record(v));
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// A Go state name as ours: `paused` (the legacy initial state) is `new`.
fn state(name: &str) -> State {
    match name {
        "ok" => State::Ok,
        "warning" => State::Warning,
        "error" => State::Error,
        "muted" => State::Muted,
        _ => State::New,
    }
}

/// A legacy timeout: 0 meant "unset" there, not "always".
fn legacy_timeout(ms: i64) -> Timeout {
    match ms {
        0 => Timeout::Never,
        ms => Timeout::from_wire_ms(ms),
    }
}

fn service_record(s: GoService, now: Millis) -> ServiceRecord {
    let legacy = s.timeout.is_none() && (s.warning_timeout.is_some() || s.error_timeout.is_some());
    let (warn, err) = if legacy {
        (
            s.warning_timeout.map_or(Timeout::Never, legacy_timeout),
            s.error_timeout.map_or(Timeout::Never, legacy_timeout),
        )
    } else {
        (
            s.warn_timeout.map_or(Timeout::Never, Timeout::from_wire_ms),
            s.timeout.map_or(Timeout::Never, Timeout::from_wire_ms),
        )
    };
    let last_beat = s.last_beat.filter(|&t| t > 0);
    let history: Vec<u32> = s
        .beat_history
        .iter()
        .filter(|&&ms| ms > 0)
        .map(|&ms| u32::try_from(ms).unwrap_or(u32::MAX))
        .collect();
    let span: i64 = history.iter().map(|&ms| i64::from(ms)).sum();
    ServiceRecord {
        name: s.name.into(),
        created: s
            .created
            .unwrap_or_else(|| last_beat.map_or(now, |t| t.saturating_sub(span))),
        last_beat,
        warn_timeout: warn,
        err_timeout: err,
        state: state(&s.state),
        muted_since: (s.muted_since > 0).then_some(s.muted_since),
        last_state_change: s.last_state_change.max(0),
        beats: s
            .beats
            .unwrap_or_else(|| last_beat.map_or(0, |_| history.len() as u64 + 1)),
        auto_algorithm: None,
        rhythm: None,
        history: history.into(),
        failure: s.failure,
        team: None,
        schedule: None,
        runs: None,
    }
}

fn view_record(v: GoView) -> ViewRecord {
    ViewRecord {
        name: v.name.into(),
        state: state(&v.state),
        incident: u64::try_from(v.incident_nbr).unwrap_or(0),
        last_state_change: v.last_state_change.max(0),
    }
}

/// Writes `contents` as a Go database (gzip, `SERV` and `ALARM` lines),
/// with our extra fields; Go lovebeat 1.0 reads it, and so does
/// [`read_go_database`], losslessly.
pub fn write_go_database(out: impl Write, contents: &Contents) -> io::Result<()> {
    let mut gz = GzEncoder::new(out, Compression::fast());
    for r in &contents.services {
        let s = GoService {
            name: r.name.to_string(),
            last_beat: Some(r.last_beat.unwrap_or(-1)),
            beat_history: r.history.iter().map(i64::from).collect(),
            timeout: Some(r.err_timeout.to_wire_ms()),
            state: r.state.as_str().to_owned(),
            muted_since: r.muted_since.unwrap_or(0),
            last_state_change: r.last_state_change,
            warn_timeout: Some(r.warn_timeout.to_wire_ms()),
            created: Some(r.created),
            beats: Some(r.beats),
            failure: r.failure.clone(),
            ..GoService::default()
        };
        record(&mut gz, "SERV", &s)?;
    }
    for v in &contents.views {
        let view = GoView {
            name: v.name.to_string(),
            state: v.state.as_str().to_owned(),
            incident_nbr: i64::try_from(v.incident).unwrap_or(i64::MAX),
            last_state_change: v.last_state_change,
        };
        record(&mut gz, "ALARM", &view)?;
    }
    gz.finish()?.flush()
}

fn record(out: &mut impl Write, tag: &str, value: &impl Serialize) -> io::Result<()> {
    out.write_all(tag.as_bytes())?;
    out.write_all(b"\t")?;
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_core::Severity;

    fn gzip(text: &str) -> Vec<u8> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap()
    }

    fn read(text: &str) -> GoDatabase {
        read_go_database(gzip(text).as_slice(), 1_000_000).unwrap()
    }

    #[test]
    fn a_1_0_service_keeps_its_fields() {
        let db = read(concat!(
            "SERV\t{\"name\":\"backup\",\"last_beat\":500000,\"beat_history\":[60000,61000],",
            "\"timeout\":120000,\"state\":\"ok\",\"muted_since\":0,\"last_state_change\":400000}\n"
        ));
        let s = &db.contents.services[0];
        assert_eq!(&*s.name, "backup");
        assert_eq!(s.last_beat, Some(500_000));
        assert_eq!(s.err_timeout, Timeout::After(120_000));
        assert_eq!(s.warn_timeout, Timeout::Never);
        assert_eq!(s.history.to_vec(), [60_000, 61_000]);
        assert_eq!(
            (s.state, s.muted_since, s.last_state_change),
            (State::Ok, None, 400_000)
        );
        assert_eq!(s.created, 500_000 - 121_000);
        assert_eq!(s.beats, 3);
    }

    #[test]
    fn legacy_services_keep_their_warning_and_error_timeouts() {
        let db = read(concat!(
            "SERV\t{\"name\":\"old\",\"last_beat\":5,\"beat_history\":[],",
            "\"warning_timeout\":60000,\"error_timeout\":-2,\"state\":\"warning\"}\n"
        ));
        let s = &db.contents.services[0];
        assert_eq!(s.warn_timeout, Timeout::After(60_000));
        assert_eq!(s.err_timeout, Timeout::Auto);
        assert_eq!(s.state, State::Warning);
    }

    #[test]
    fn a_legacy_zero_timeout_is_unset_not_always() {
        let db = read("SERV\t{\"name\":\"old\",\"warning_timeout\":0,\"error_timeout\":-1}\n");
        let s = &db.contents.services[0];
        assert_eq!(
            (s.warn_timeout, s.err_timeout),
            (Timeout::Never, Timeout::Never)
        );
    }

    #[test]
    fn a_1_0_zero_timeout_is_always() {
        let db = read("SERV\t{\"name\":\"never\",\"timeout\":0}\n");
        assert_eq!(db.contents.services[0].err_timeout, Timeout::Always);
    }

    #[test]
    fn a_service_that_never_beat_is_created_at_the_import() {
        let db = read(
            "SERV\t{\"name\":\"quiet\",\"last_beat\":-1,\"timeout\":1000,\"state\":\"new\"}\n",
        );
        let s = &db.contents.services[0];
        assert_eq!((s.last_beat, s.created, s.beats), (None, 1_000_000, 0));
    }

    #[test]
    fn muted_services_stay_muted() {
        let db = read("SERV\t{\"name\":\"m\",\"muted_since\":42,\"state\":\"muted\"}\n");
        let s = &db.contents.services[0];
        assert_eq!((s.muted_since, s.state), (Some(42), State::Muted));
    }

    #[test]
    fn alarms_and_legacy_views_become_view_records() {
        let db = read(concat!(
            "ALARM\t{\"name\":\"db\",\"state\":\"error\",\"incident_nbr\":4,\"last_state_change\":9}\n",
            "VIEW\t{\"name\":\"web\",\"state\":\"paused\",\"regexp\":\"web\",\"incident_nbr\":2}\n"
        ));
        let views = &db.contents.views;
        assert_eq!(
            (&*views[0].name, views[0].state, views[0].incident),
            ("db", State::Error, 4)
        );
        assert_eq!(
            (&*views[1].name, views[1].state, views[1].incident),
            ("web", State::New, 2)
        );
    }

    #[test]
    fn other_lines_are_skipped_and_counted() {
        let db = read("HELLO\tworld\nSERV\t{not json\nSERV\t{\"name\":\"a\"}\n");
        assert_eq!(db.contents.services.len(), 1);
        assert_eq!(db.skipped, 2);
    }

    #[test]
    fn a_file_that_is_not_gzip_is_refused() {
        let err = read_go_database(&b"SERV\t{}\n"[..], 0).unwrap_err();
        assert_eq!(err.line, 0);
        assert!(err.to_string().contains("expected gzip"), "{err}");
    }

    #[test]
    fn a_truncated_file_is_refused_whole() {
        let mut bytes = gzip(&"SERV\t{\"name\":\"a\"}\n".repeat(1000));
        bytes.truncate(bytes.len() / 2);
        assert!(read_go_database(bytes.as_slice(), 0).is_err());
    }

    #[test]
    fn gzip_is_recognised_by_its_magic() {
        assert!(looks_like_go_database(&gzip("")));
        assert!(!looks_like_go_database(b"SERV\t"));
    }

    #[test]
    fn what_we_write_reads_back_the_same() {
        let contents = Contents {
            services: vec![ServiceRecord {
                name: "a".into(),
                created: 10,
                last_beat: Some(5000),
                warn_timeout: Timeout::After(1000),
                err_timeout: Timeout::Auto,
                state: State::Warning,
                muted_since: Some(7),
                last_state_change: 6,
                history: vec![1000, 2000].into(),
                failure: Some(Box::new(Failure {
                    at: 3,
                    severity: Severity::Error,
                    message: "disk full".into(),
                })),
                beats: 9,
                auto_algorithm: None,
                rhythm: None,
                team: None,
                schedule: None,
                runs: None,
            }],
            views: vec![ViewRecord {
                name: "v".into(),
                state: State::Error,
                incident: 3,
                last_state_change: 4,
            }],
        };
        let mut bytes = Vec::new();
        write_go_database(&mut bytes, &contents).unwrap();
        let back = read_go_database(bytes.as_slice(), 0).unwrap();
        assert_eq!(back.contents, contents);
        assert_eq!(back.skipped, 0);
    }
}
