//! `/api/services…`: beat, set timeouts, mute, delete, list and show.
//!
//! Parameters of a beat come from the query, a form body or a JSON body
//! (any `application/json` content type, charset or not); the body wins
//! over the query. Names: `timeout`, `err-tmo` and `err_timeout` for the
//! error timeout, `warn-tmo` and `warn_timeout` for the warning timeout,
//! `beat=false` (JSON) to change a timeout without beating, `status=fail`
//! with an optional `message` to report a failure (cut at `[limits]
//! message_length`, see [`cut_message`]), `auto_algorithm` to give
//! the service its own AUTO estimator (`default` for the configured one),
//! `status=start` (with an optional `rid`) when a run starts, `rid` on the
//! success or failure that ends it, `exit` for the job's exit status (0 is
//! success), `max_duration` for how long a run may take,
//! `team` to set the team label (empty: none), `schedule` (a cron or
//! `OnCalendar` expression; empty: none) with `tz` and `grace` to put the
//! service on a calendar.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use lovebeat_core::auto::Algorithm;
use lovebeat_core::duration::parse_seconds;
use lovebeat_core::{Schedule, Severity, Timeout, TimeoutKind};
use lovebeat_proto::{MAX_NAME, is_valid_name, parse_timeout_param};
use serde::Serialize;
use serde_json::Value;

use lovebeat_core::json::ServiceJson;

use super::{ApiError, AppState, is_json_mime, json, listing, pretty};
use lovebeat_engine::SendError;
use lovebeat_engine::{Batch, Op};
use lovebeat_telemetry::events::{Limited, LinesAccepted};
use lovebeat_telemetry::{Limit, Protocol};

/// The body of every successful change, as Go lovebeat answered.
pub(super) const EMPTY: &str = "{}\n";

/// What a POST to a service asks for.
#[derive(Debug, Default, PartialEq)]
struct BeatRequest {
    err: Option<Timeout>,
    warn: Option<Timeout>,
    /// `false` to change timeouts only.
    beat: Option<bool>,
    /// A good beat, a failure report, or the start of a run.
    status: Status,
    /// The run a start, success or failure is of (healthchecks' `rid`).
    rid: Option<String>,
    /// The job's exit status: 0 a good beat, anything else a failure.
    exit: Option<u8>,
    /// How long a run may take, in seconds; `Some(None)`: the default.
    max_duration: Option<Option<u64>>,
    /// What failed, for a failure report.
    message: String,
    /// A new per-service AUTO estimator; `Some(None)`: the configured one.
    algorithm: Option<Option<Algorithm>>,
    /// The team label to set; `Some("")` clears it.
    team: Option<String>,
    /// The schedule expression to set; `Some("")` takes the service off it.
    schedule: Option<String>,
    /// The schedule's time zone (UTC if not given).
    tz: Option<String>,
    /// The schedule's grace in seconds ([`Schedule::DEFAULT_GRACE_S`] if
    /// not given).
    grace: Option<u64>,
}

impl BeatRequest {
    /// Takes one parameter; unknown names are ignored.
    fn set(&mut self, key: &str, value: &str) -> Result<(), ApiError> {
        match key {
            "timeout" | "err-tmo" | "err_timeout" => self.err = timeout_param(key, value)?,
            "warn-tmo" | "warn_timeout" => self.warn = timeout_param(key, value)?,
            "beat" => self.beat = Some(bool_param(key, value)?),
            "status" => {
                self.status = match value {
                    "ok" => Status::Ok,
                    "fail" | "error" => Status::Fail,
                    "start" => Status::Start,
                    _ => {
                        return Err(ApiError::BadRequest(format!(
                            "status must be \"ok\", \"fail\" or \"start\", got {value:?}"
                        )));
                    }
                }
            }
            "rid" if value.len() > MAX_NAME => {
                return Err(ApiError::BadRequest(format!(
                    "rid is longer than {MAX_NAME} bytes"
                )));
            }
            "rid" => self.rid = Some(value.to_owned()).filter(|r| !r.is_empty()),
            "exit" => {
                self.exit = Some(value.trim().parse().map_err(|_| {
                    ApiError::BadRequest(format!("exit must be 0 to 255, got {value:?}"))
                })?);
            }
            "max_duration" => {
                self.max_duration = Some(match value.trim() {
                    "" | "default" => None,
                    text => Some(parse_seconds(text).ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "max_duration must be seconds or a duration (90s, 5m, 2h, 1d), \
                             got {value:?}"
                        ))
                    })?),
                });
            }
            "message" => self.message = value.to_owned(),
            "auto_algorithm" | "auto-algorithm" => self.algorithm = algorithm_param(value)?,
            "team" if value.len() > MAX_NAME => {
                return Err(ApiError::BadRequest(format!(
                    "team is longer than {MAX_NAME} bytes"
                )));
            }
            "team" => self.team = Some(value.trim().to_owned()),
            "schedule" => self.schedule = Some(value.trim().to_owned()),
            "tz" => self.tz = Some(value.trim().to_owned()),
            "grace" => {
                self.grace = Some(parse_seconds(value).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "grace must be seconds or a duration (90s, 5m, 2h, 1d), got {value:?}"
                    ))
                })?);
            }
            _ => {}
        }
        Ok(())
    }

    fn read_pairs<'a>(
        &mut self,
        mut pairs: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), ApiError> {
        pairs.try_for_each(|(k, v)| self.set(k, v))
    }

    fn read_json(&mut self, body: &[u8]) -> Result<(), ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
        let Value::Object(fields) = value else {
            return Err(ApiError::BadRequest(
                "the JSON body must be an object".into(),
            ));
        };
        let mut pairs = Vec::with_capacity(fields.len());
        for (key, value) in &fields {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => continue,
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "{key} must be a number, a string or a boolean, got {other}"
                    )));
                }
            };
            pairs.push((key.as_str(), text));
        }
        self.read_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
    }

    /// The schedule to set, if the request sets or clears one.
    fn schedule(&self) -> Result<Option<Option<Arc<Schedule>>>, ApiError> {
        let Some(expression) = &self.schedule else {
            if self.tz.is_some() || self.grace.is_some() {
                return Err(ApiError::BadRequest(
                    "tz and grace go with schedule: give the schedule too".into(),
                ));
            }
            return Ok(None);
        };
        if expression.is_empty() {
            return Ok(Some(None));
        }
        let grace_ms = self
            .grace
            .unwrap_or(Schedule::DEFAULT_GRACE_S)
            .saturating_mul(1000);
        let schedule = Schedule::new(expression, self.tz.as_deref(), grace_ms)
            .map_err(|e| ApiError::BadRequest(format!("schedule: {e}")))?;
        Ok(Some(Some(Arc::new(schedule))))
    }

    /// The batch, its failure message cut to `max_message` bytes.
    fn into_batch(self, name: &str, max_message: usize) -> Result<Batch, ApiError> {
        let schedule = self.schedule()?;
        let mut batch = Batch::new();
        if let Some(schedule) = schedule {
            batch.push(name, Op::SetSchedule(schedule));
        }
        if let Some(t) = self.err {
            batch.push(name, Op::SetTimeout(TimeoutKind::Err, t));
        }
        if let Some(t) = self.warn {
            batch.push(name, Op::SetTimeout(TimeoutKind::Warn, t));
        }
        if let Some(algorithm) = self.algorithm {
            batch.push(name, Op::SetAlgorithm(algorithm));
        }
        if let Some(team) = &self.team {
            batch.push_team(name, (!team.is_empty()).then_some(team.as_str()));
        }
        if let Some(max) = self.max_duration {
            batch.push(
                name,
                Op::SetMaxDuration(max.map(|s| s.saturating_mul(1000))),
            );
        }
        let failure = match (self.status, self.exit) {
            (Status::Start, _) => {
                batch.push_start(name, self.rid.as_deref());
                return Ok(batch);
            }
            (Status::Fail, exit) => Some(exit_message(exit.filter(|&c| c != 0), &self.message)),
            (Status::Ok, Some(exit)) if exit != 0 => Some(exit_message(Some(exit), &self.message)),
            (Status::Ok, _) => None,
        };
        match (&self.rid, failure) {
            (Some(rid), failure) => {
                let failure = failure.as_deref().map(|m| cut_message(m, max_message));
                batch.push_finish(name, rid, failure.as_deref());
            }
            (None, Some(message)) => {
                let message = cut_message(&message, max_message);
                batch.push_fail(name, Severity::Error, &message);
            }
            (None, None) if self.beat != Some(false) => batch.push(name, Op::Beat),
            (None, None) => {}
        }
        Ok(batch)
    }
}

/// What a request reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// A good beat (`status=ok`, or no status).
    #[default]
    Ok,
    /// A failure (`status=fail`).
    Fail,
    /// A run starts (`status=start`).
    Start,
}

/// A failure's message: the exit status, if not 0, before the text sent.
fn exit_message(exit: Option<u8>, message: &str) -> String {
    match (exit, message.is_empty()) {
        (Some(code), true) => format!("exit status {code}"),
        (Some(code), false) => format!("exit status {code}: {message}"),
        (None, _) => message.to_owned(),
    }
}

/// What marks a failure message that was cut.
const CUT_MARK: &str = "…";

/// A failure message of at most `max` bytes: whole if it fits, else as
/// much of it as fits (on a character boundary) before [`CUT_MARK`]. A
/// report of a failure is kept, never refused for its length; its first
/// kilobyte says what failed.
pub(super) fn cut_message(message: &str, max: usize) -> Cow<'_, str> {
    if message.len() <= max {
        return Cow::Borrowed(message);
    }
    let mut end = max.saturating_sub(CUT_MARK.len());
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{CUT_MARK}", &message[..end]))
}

/// An empty value leaves the timeout unchanged (as lovebeat's legacy
/// `warn-tmo`/`err-tmo` did); anything else must be a valid timeout.
fn timeout_param(key: &str, value: &str) -> Result<Option<Timeout>, ApiError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let seconds =
        parse_timeout_param(value).map_err(|e| ApiError::BadRequest(format!("{key}: {e}")))?;
    Ok(Timeout::from_seconds(seconds))
}

/// An estimator name, or `default` for the configured one; empty changes nothing.
fn algorithm_param(value: &str) -> Result<Option<Option<Algorithm>>, ApiError> {
    match value.trim() {
        "" => Ok(None),
        "default" => Ok(Some(None)),
        name => name
            .parse()
            .map(|a| Some(Some(a)))
            .map_err(|e| ApiError::BadRequest(format!("auto_algorithm: {e} or \"default\""))),
    }
}

fn bool_param(key: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ApiError::BadRequest(format!(
            "{key} must be true or false, got {value:?}"
        ))),
    }
}

/// A service name as every protocol takes it ([`is_valid_name`]).
pub(super) fn check_name(name: &str) -> Result<(), ApiError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "invalid service name {name:?}: use 1 to {MAX_NAME} of a-z 0-9 . _ -, \
             and not . or .."
        )))
    }
}

pub(super) fn form_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).into_owned().collect()
}

pub(super) async fn beat(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let max_message = state.limits.message;
    let batch = beat_batch(&name, query.as_deref(), content_type, &body, max_message)?;
    apply(&state, batch).await
}

/// A beat request as the API decodes it: the name, the query, then the
/// body (form or JSON by `content_type`), into the batch it applies (a
/// failure message cut to `max_message` bytes).
pub fn beat_batch(
    name: &str,
    query: Option<&str>,
    content_type: &str,
    body: &[u8],
    max_message: usize,
) -> Result<Batch, ApiError> {
    check_name(name)?;
    let mut request = BeatRequest::default();
    let query = form_pairs(query.unwrap_or_default().as_bytes());
    request.read_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    if is_json_mime(content_type) {
        request.read_json(body)?;
    } else {
        let form = form_pairs(body);
        request.read_pairs(form.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    }
    request.into_batch(name, max_message)
}

async fn change(state: &AppState, name: &str, op: Op) -> Result<Response, ApiError> {
    check_name(name)?;
    let mut batch = Batch::new();
    batch.push(name, op);
    apply(state, batch).await
}

/// Applies a request's batch and answers `{}`.
async fn apply(state: &AppState, batch: Batch) -> Result<Response, ApiError> {
    submit(state, batch).await?;
    Ok(json(EMPTY.into()))
}

/// Applies a request's batch, counting its commands as HTTP ingest: 503
/// with Retry-After when the engine queue stays full for `queue_wait`, 429
/// when the batch names a new service and the engine is full.
pub(super) async fn submit(state: &AppState, batch: Batch) -> Result<(), ApiError> {
    let lines = batch.len();
    let metrics = &state.metrics;
    let applied = match state.engine.apply(batch, state.limits.queue_wait).await {
        Ok(applied) => applied,
        Err(SendError::Full) => {
            let limit = Limit::Queue;
            Limited { limit }.emit(metrics);
            return Err(ApiError::Unavailable);
        }
        Err(e) => return Err(e.into()),
    };
    let protocol = Protocol::Http;
    LinesAccepted { protocol, lines }.emit(metrics);
    if applied.refused > 0 {
        return Err(ApiError::Limited(
            "lovebeat holds as many services as it may ([limits] services); \
             delete some or raise the limit"
                .into(),
        ));
    }
    Ok(())
}

pub(super) async fn mute(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    change(&state, &name, Op::Mute).await
}

pub(super) async fn unmute(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    change(&state, &name, Op::Unmute).await
}

/// `DELETE`: also of a service whose name the rule refuses now (`.`,
/// `..`, longer than [`MAX_NAME`]) but took before it did, so none is
/// left that cannot be removed.
pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let is_legacy = !is_valid_name(&name) && state.read().await.services.contains_key(&*name);
    if !is_legacy {
        return change(&state, &name, Op::Delete).await;
    }
    let mut batch = Batch::new();
    batch.push(&name, Op::Delete);
    apply(&state, batch).await
}

/// Every service, streamed (`listing`).
pub(super) async fn list(State(state): State<Arc<AppState>>) -> Response {
    let snapshot = state.read().await;
    let body = listing::body(snapshot, lovebeat_core::clock::now_ms());
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    struct Body<'a> {
        service: ServiceJson<'a>,
        now: i64,
    }
    check_name(&name)?;
    let snapshot = state.read().await;
    let service = snapshot
        .services
        .get(name.as_str())
        .ok_or_else(|| ApiError::NotFound(format!("no service named {name:?}")))?;
    let body = Body {
        service: ServiceJson::new(service),
        now: lovebeat_core::clock::now_ms(),
    };
    Ok(json(pretty(&body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<BeatRequest, ApiError> {
        let mut r = BeatRequest::default();
        r.read_pairs(pairs.iter().copied())?;
        Ok(r)
    }

    #[test]
    fn timeouts_in_seconds_or_auto() {
        let r = parse(&[("timeout", "3600"), ("warn-tmo", "auto")]).unwrap();
        assert_eq!(r.err, Some(Timeout::After(3_600_000)));
        assert_eq!(r.warn, Some(Timeout::Auto));
        let r = parse(&[("err-tmo", "-1"), ("warn_timeout", "0")]).unwrap();
        assert_eq!(
            (r.err, r.warn),
            (Some(Timeout::Never), Some(Timeout::Always))
        );
    }

    #[test]
    fn a_bad_timeout_is_refused_not_turned_into_always_error() {
        for bad in ["abc", "1.5", "-3", "10s"] {
            assert!(
                matches!(parse(&[("timeout", bad)]), Err(ApiError::BadRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_empty_timeout_changes_nothing() {
        assert_eq!(parse(&[("timeout", "")]).unwrap(), BeatRequest::default());
    }

    #[test]
    fn json_bodies_take_numbers_strings_and_beat_false() {
        let mut r = BeatRequest::default();
        r.read_json(br#"{"timeout": 10, "warn_timeout": "auto", "beat": false}"#)
            .unwrap();
        assert_eq!(r.err, Some(Timeout::After(10_000)));
        assert_eq!(r.warn, Some(Timeout::Auto));
        assert_eq!(r.beat, Some(false));
        assert!(r.into_batch("a", 1024).unwrap().len() == 2);
    }

    #[test]
    fn bad_json_is_refused() {
        let mut r = BeatRequest::default();
        assert!(r.read_json(b"{nope").is_err());
        assert!(r.read_json(b"[1]").is_err());
        assert!(r.read_json(br#"{"timeout": 1.5}"#).is_err());
        assert!(r.read_json(b"").is_ok());
    }

    #[test]
    fn a_failure_keeps_its_message_whatever_the_order() {
        let r = parse(&[("message", "disk full"), ("status", "fail")]).unwrap();
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.message, "disk full");
    }

    #[test]
    fn auto_algorithm_picks_an_estimator_or_the_default() {
        let r = parse(&[("auto_algorithm", "rhythm")]).unwrap();
        assert_eq!(r.algorithm, Some(Some(Algorithm::Rhythm)));
        let r = parse(&[("auto-algorithm", "default")]).unwrap();
        assert_eq!(r.algorithm, Some(None));
        assert_eq!(parse(&[("auto_algorithm", "")]).unwrap().algorithm, None);
        let err = parse(&[("auto_algorithm", "ewma")]).unwrap_err();
        assert!(matches!(err, ApiError::BadRequest(m) if m.contains("\"rhythm\"")));
        let batch = parse(&[("auto_algorithm", "rhythm"), ("timeout", "auto")])
            .unwrap()
            .into_batch("a", 1024)
            .unwrap();
        assert_eq!(batch.len(), 3);
    }

    #[test]
    fn runs_start_end_by_id_and_exit_statuses_fail() {
        let ops = |pairs: &[(&str, &str)]| {
            let batch = parse(pairs).and_then(|r| r.into_batch("a", 1024)).unwrap();
            format!("{batch:?}")
        };
        assert!(ops(&[("status", "start"), ("rid", "r1")]).contains("Start(Some("));
        assert!(ops(&[("rid", "r1")]).contains("Finish("));
        assert!(ops(&[("exit", "0")]).contains("Beat"));
        let failed = ops(&[("exit", "3"), ("message", "no space")]);
        assert!(failed.contains("exit status 3: no space"), "{failed}");
        assert!(
            ops(&[("max_duration", "30m"), ("beat", "false")])
                .contains("SetMaxDuration(Some(1800000))")
        );
        for bad in [
            ("exit", "256"),
            ("exit", "x"),
            ("status", "begin"),
            ("max_duration", "soon"),
        ] {
            assert!(parse(&[bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_schedule_is_checked_and_set_with_its_zone_and_grace() {
        let batch = parse(&[
            ("schedule", "0 2 * * 1-5"),
            ("tz", "Europe/Berlin"),
            ("grace", "30m"),
        ])
        .unwrap()
        .into_batch("a", 1024)
        .unwrap();
        assert_eq!(batch.len(), 2, "the schedule and the beat");
        let cleared = parse(&[("schedule", ""), ("beat", "false")])
            .unwrap()
            .into_batch("a", 1024);
        assert_eq!(cleared.unwrap().len(), 1);
        let refused = |pairs: &[(&str, &str)], needle: &str| {
            let err = parse(pairs)
                .and_then(|r| r.into_batch("a", 1024))
                .unwrap_err();
            assert!(
                matches!(&err, ApiError::BadRequest(m) if m.contains(needle)),
                "{err:?}"
            );
        };
        refused(&[("schedule", "0 25 * * *")], "bad cron expression");
        refused(&[("schedule", "daily"), ("tz", "Moon/Base")], "IANA");
        refused(&[("tz", "UTC")], "go with schedule");
        refused(&[("schedule", "daily"), ("grace", "soon")], "grace must be");
    }

    #[test]
    fn a_team_is_set_or_cleared_with_the_beat() {
        let r = parse(&[("team", " ops ")]).unwrap();
        assert_eq!(r.team.as_deref(), Some("ops"));
        assert_eq!(
            r.into_batch("a", 1024).unwrap().len(),
            2,
            "the team and the beat"
        );
        assert_eq!(parse(&[("team", "")]).unwrap().team.as_deref(), Some(""));
        assert!(parse(&[("team", &"x".repeat(MAX_NAME + 1))]).is_err());
    }

    #[test]
    fn a_long_failure_message_is_cut_on_a_character_boundary_and_marked() {
        assert_eq!(cut_message("disk full", 9), "disk full");
        let long = "x".repeat(5000);
        let cut = cut_message(&long, 1024);
        assert_eq!(cut.len(), 1024);
        assert!(cut.ends_with(CUT_MARK) && cut.starts_with("xxx"));
        // "é" is two bytes: the cut must not split one.
        let accented = "é".repeat(600);
        let cut = cut_message(&accented, 1024);
        assert!(
            cut.len() <= 1024 && cut.ends_with(CUT_MARK),
            "{}",
            cut.len()
        );
        assert_eq!(cut.trim_end_matches(CUT_MARK).chars().count(), 510);
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("invoice.mailer").is_ok());
        assert!(check_name("Invoice").is_err());
        assert!(check_name(&"a".repeat(MAX_NAME + 1)).is_err());
        assert!(check_name(".").is_err() && check_name("..").is_err());
    }
}
