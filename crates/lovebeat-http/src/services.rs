//! `/api/services…`: beat, set timeouts, mute, delete, list and show.
//!
//! Parameters of a beat come from the query, a form body or a JSON body
//! (any `application/json` content type, charset or not); the body wins
//! over the query. Names: `timeout`, `err-tmo` and `err_timeout` for the
//! error timeout, `warn-tmo` and `warn_timeout` for the warning timeout,
//! `beat=false` (JSON) to change a timeout without beating, `status=fail`
//! with an optional `message` to report a failure, `auto_algorithm` to give
//! the service its own AUTO estimator (`default` for the configured one),
//! `team` to set the team label (empty: none).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use lovebeat_core::auto::Algorithm;
use lovebeat_core::{Severity, Timeout, TimeoutKind};
use lovebeat_proto::{is_valid_name, parse_timeout_param};
use serde::Serialize;
use serde_json::Value;

use lovebeat_core::json::ServiceJson;

use super::{ApiError, AppState, is_json_mime, json, listing, pretty};
use lovebeat_engine::SendError;
use lovebeat_engine::{Batch, Op};
use lovebeat_telemetry::events::{Limited, LinesAccepted};
use lovebeat_telemetry::{Limit, Protocol};

/// Longest service name the API takes.
const MAX_NAME: usize = 255;

/// The body of every successful change, as Go lovebeat answered.
pub(super) const EMPTY: &str = "{}\n";

/// What a POST to a service asks for.
#[derive(Debug, Default, PartialEq)]
struct BeatRequest {
    err: Option<Timeout>,
    warn: Option<Timeout>,
    /// `false` to change timeouts only.
    beat: Option<bool>,
    /// A failure report instead of a good beat.
    failed: bool,
    /// What failed, for a failure report.
    message: String,
    /// A new per-service AUTO estimator; `Some(None)`: the configured one.
    algorithm: Option<Option<Algorithm>>,
    /// The team label to set; `Some("")` clears it.
    team: Option<String>,
}

impl BeatRequest {
    /// Takes one parameter; unknown names are ignored.
    fn set(&mut self, key: &str, value: &str) -> Result<(), ApiError> {
        match key {
            "timeout" | "err-tmo" | "err_timeout" => self.err = timeout_param(key, value)?,
            "warn-tmo" | "warn_timeout" => self.warn = timeout_param(key, value)?,
            "beat" => self.beat = Some(bool_param(key, value)?),
            "status" => {
                self.failed = match value {
                    "ok" => false,
                    "fail" | "error" => true,
                    _ => {
                        return Err(ApiError::BadRequest(format!(
                            "status must be \"ok\" or \"fail\", got {value:?}"
                        )));
                    }
                }
            }
            "message" => self.message = value.to_owned(),
            "auto_algorithm" | "auto-algorithm" => self.algorithm = algorithm_param(value)?,
            "team" if value.len() > MAX_NAME => {
                return Err(ApiError::BadRequest(format!(
                    "team is longer than {MAX_NAME} bytes"
                )));
            }
            "team" => self.team = Some(value.trim().to_owned()),
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

    fn into_batch(self, name: &str) -> Batch {
        let mut batch = Batch::new();
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
        if self.failed {
            batch.push_fail(name, Severity::Error, &self.message);
        } else if self.beat != Some(false) {
            batch.push(name, Op::Beat);
        }
        batch
    }
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

pub(super) fn check_name(name: &str) -> Result<(), ApiError> {
    if name.len() <= MAX_NAME && is_valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "invalid service name {name:?}: use 1 to {MAX_NAME} of a-z 0-9 . _ -"
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
    let batch = beat_batch(&name, query.as_deref(), content_type, &body)?;
    apply(&state, batch).await
}

/// A beat request as the API decodes it: the name, the query, then the
/// body (form or JSON by `content_type`), into the batch it applies.
pub fn beat_batch(
    name: &str,
    query: Option<&str>,
    content_type: &str,
    body: &[u8],
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
    Ok(request.into_batch(name))
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

pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    change(&state, &name, Op::Delete).await
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
        assert!(r.into_batch("a").len() == 2);
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
        assert!(r.failed);
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
            .into_batch("a");
        assert_eq!(batch.len(), 3);
    }

    #[test]
    fn a_team_is_set_or_cleared_with_the_beat() {
        let r = parse(&[("team", " ops ")]).unwrap();
        assert_eq!(r.team.as_deref(), Some("ops"));
        assert_eq!(r.into_batch("a").len(), 2, "the team and the beat");
        assert_eq!(parse(&[("team", "")]).unwrap().team.as_deref(), Some(""));
        assert!(parse(&[("team", &"x".repeat(MAX_NAME + 1))]).is_err());
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("invoice.mailer").is_ok());
        assert!(check_name("Invoice").is_err());
        assert!(check_name(&"a".repeat(MAX_NAME + 1)).is_err());
    }
}
