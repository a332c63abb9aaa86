//! Signals, statuscope's push-token API on lovebeat: `POST /signal` with a
//! per-service token, `GET /checks` and `GET /checks/{application}` (the
//! paths are statuscope's); and the admin endpoint that makes and removes
//! the tokens, `POST|DELETE /api/tokens/{name}` (what `lovebeat services
//! add|token|remove` call).
//!
//! An application is a service. Its `interval` is the service's error
//! timeout in seconds (0: no deadline, "just remember the last state"),
//! its `team` the service's team label. The state follows statuscope:
//! `fail` when the last signal was a failure (or there was none yet),
//! `outdated` when the last signal is older than the interval, else `ok`.
//! A wrong or missing token is answered 403 and changes nothing; the
//! admin endpoint is as open as the rest of the API (put a proxy with
//! authentication in front of `/api` where that matters).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lovebeat_core::{Millis, ServiceInfo, Severity, Timeout, TimeoutKind};
use lovebeat_proto::MAX_NAME;
use serde::Serialize;
use serde_json::Value;

use std::sync::Arc;

use lovebeat_core::clock::now_ms;
use lovebeat_engine::{Batch, EngineHandle, Op};
use lovebeat_monitors::signals::TokenBook;
use lovebeat_telemetry::names::STATUSCOPE_CHECK_OK;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::render::{pretty, rfc3339};
use crate::services::{check_name, cut_message, form_pairs, submit};
use crate::{ApiError, AppState, is_json_mime, json};

/// One application as statuscope's `/checks` shows it.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct SignalStatus {
    pub application: String,
    pub team: Option<String>,
    /// `ok`, `outdated` or `fail`.
    pub state: &'static str,
    pub last_signal_ok: bool,
    pub last_signal_recent: bool,
    /// The last signal, RFC 3339 UTC with ms (`2018-12-05T13:27:00.980Z`).
    pub check_in: Option<String>,
    /// Seconds; 0 when there is no deadline.
    pub interval: u64,
}

/// statuscope's `/metrics` gauge of every application (service with a
/// token): `statuscope_check_ok{application,team}`, 1 ok, 2 outdated,
/// 3 failed, so statuscope's alerting rules keep working.
#[derive(Debug)]
pub struct StatuscopeMetrics {
    /// Where the applications' states are read.
    pub engine: EngineHandle,
    /// Which services are applications.
    pub tokens: Arc<TokenBook>,
}

impl Collector for StatuscopeMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let names = self.tokens.services();
        if names.is_empty() {
            return Ok(());
        }
        let snapshot = self.engine.snapshot();
        let now = now_ms();
        let mut m = encoder.encode_descriptor(
            STATUSCOPE_CHECK_OK,
            "statuscope's check state: 1 ok, 2 outdated, 3 failed.",
            None,
            MetricType::Gauge,
        )?;
        for info in names
            .iter()
            .filter_map(|n| snapshot.services.get(n.as_str()))
        {
            let check = SignalStatus::new(info, now);
            let value: i64 = match check.state {
                "ok" => 1,
                "outdated" => 2,
                _ => 3,
            };
            let team = check.team.as_deref().unwrap_or("");
            let labels = [("application", check.application.as_str()), ("team", team)];
            ConstGauge::new(value).encode(m.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

impl SignalStatus {
    pub fn new(info: &ServiceInfo, now: Millis) -> SignalStatus {
        let r = &info.record;
        let interval = match r.err_timeout {
            Timeout::After(ms) => ms / 1000,
            _ => 0,
        };
        let check_in = r.failure.as_ref().map(|f| f.at).or(r.last_beat);
        let last_signal_ok = r.failure.is_none() && r.last_beat.is_some();
        let last_signal_recent = interval == 0
            || check_in.is_some_and(|at| now - (interval as Millis).saturating_mul(1000) < at);
        let state = match (last_signal_ok, last_signal_recent) {
            (false, _) => "fail",
            (true, false) => "outdated",
            (true, true) => "ok",
        };
        SignalStatus {
            application: r.name.to_string(),
            team: r.team.clone(),
            state,
            last_signal_ok,
            last_signal_recent,
            check_in: check_in.map(rfc3339),
            interval,
        }
    }
}

/// Parameters from the query and a form or JSON body (the body wins).
pub(super) fn params(
    query: Option<String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = form_pairs(query.unwrap_or_default().as_bytes());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_json_mime(content_type) {
        pairs.extend(form_pairs(body));
        return Ok(pairs);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(pairs);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::BadRequest(
            "the JSON body must be an object".into(),
        ));
    };
    for (key, value) in fields {
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        pairs.push((key, text));
    }
    Ok(pairs)
}

/// The last value of `key`.
pub(super) fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// What a `POST /signal` says.
#[derive(Debug, PartialEq, Eq)]
struct Signal {
    application: String,
    token: String,
    /// `status=fail`: the failure message (`message`, or `status=fail`).
    failure: Option<String>,
}

impl Signal {
    fn parse(pairs: &[(String, String)]) -> Result<Signal, ApiError> {
        let required = |key: &str| {
            param(pairs, key)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ApiError::BadRequest(format!("{key} is missing")))
        };
        let status = required("status")?;
        let failure = match status.to_ascii_lowercase().as_str() {
            "ok" => None,
            "fail" => Some(param(pairs, "message").unwrap_or("status=fail").to_owned()),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "status must be \"ok\" or \"fail\", got {status:?}"
                )));
            }
        };
        Ok(Signal {
            application: required("application")?.to_owned(),
            token: required("token")?.to_owned(),
            failure,
        })
    }

    /// The batch, its failure message cut to `max_message` bytes.
    fn into_batch(self, max_message: usize) -> Batch {
        let mut batch = Batch::new();
        match &self.failure {
            Some(message) => {
                let message = cut_message(message, max_message);
                batch.push_fail(&self.application, Severity::Error, &message);
            }
            None => batch.push(&self.application, Op::Beat),
        }
        batch
    }
}

/// `POST /signal`: `application`, `token`, `status=ok|fail`, optional
/// `message`; answered 201 with the application's check, as statuscope does.
pub(super) async fn signal(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let signal = Signal::parse(&params(query, &headers, &body)?)?;
    check_name(&signal.application)?;
    if !state.tokens.verify(&signal.application, &signal.token) {
        let reason = "unknown application or wrong token".to_owned();
        return Err(ApiError::Forbidden(reason));
    }
    let application = signal.application.clone();
    submit(&state, signal.into_batch(state.limits.message)).await?;
    let body = status_of(&state, &application).await?;
    Ok((StatusCode::CREATED, json(pretty(&body))).into_response())
}

async fn status_of(state: &AppState, application: &str) -> Result<SignalStatus, ApiError> {
    let snapshot = state.read().await;
    let info = snapshot
        .services
        .get(application)
        .ok_or_else(|| ApiError::NotFound(format!("no application named {application:?}")))?;
    Ok(SignalStatus::new(info, now_ms()))
}

/// `GET /checks/{application}`.
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    Path(application): Path<String>,
) -> Response {
    match status_of(&state, &application).await {
        Ok(check) => json(pretty(&check)),
        Err(_) => {
            let error = format!("Couldn't find Heartbeat {application:?}");
            (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({ "error": error })),
            )
                .into_response()
        }
    }
}

/// `GET /checks`: every service, statuscope-style.
pub(super) async fn list(State(state): State<Arc<AppState>>) -> Response {
    let snapshot = state.read().await;
    let now = now_ms();
    let checks: Vec<SignalStatus> = snapshot
        .services
        .values()
        .map(|s| SignalStatus::new(s, now))
        .collect();
    json(pretty(&checks))
}

/// What `POST /api/tokens/{name}` answers: the token, shown this once.
#[derive(Serialize)]
struct Issued<'a> {
    service: &'a str,
    token: String,
    interval: Option<u64>,
    team: Option<&'a str>,
}

/// What a `POST /api/tokens/{name}` asks besides a new token.
#[derive(Debug, Default, PartialEq, Eq)]
struct TokenRequest {
    /// Seconds; 0: no deadline.
    interval: Option<u64>,
    /// `Some("")` clears the team.
    team: Option<String>,
    /// Refuse a service that has no token yet.
    existing: bool,
}

impl TokenRequest {
    fn parse(pairs: &[(String, String)]) -> Result<TokenRequest, ApiError> {
        let interval = match param(pairs, "interval") {
            Some(text) => Some(text.trim().parse::<u64>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "interval must be whole seconds, 0 or more, got {text:?}"
                ))
            })?),
            None => None,
        };
        let team = param(pairs, "team").map(|t| t.trim().to_owned());
        if team.as_ref().is_some_and(|t| t.len() > MAX_NAME) {
            return Err(ApiError::BadRequest(format!(
                "team is longer than {MAX_NAME} bytes"
            )));
        }
        let existing = param(pairs, "existing") == Some("true");
        Ok(TokenRequest {
            interval,
            team,
            existing,
        })
    }

    /// The service changes: the interval as the error timeout, the team.
    async fn into_batch(self, name: &str, state: &AppState) -> Batch {
        let mut batch = Batch::new();
        if let Some(seconds) = self.interval {
            let timeout = match seconds {
                0 => Timeout::Never,
                s => Timeout::After(s.saturating_mul(1000)),
            };
            batch.push(name, Op::SetTimeout(TimeoutKind::Err, timeout));
        }
        if let Some(team) = &self.team {
            batch.push_team(name, (!team.is_empty()).then_some(team.as_str()));
        }
        if batch.is_empty() {
            // Make sure the service exists, without beating it.
            let warn = current_warn(state, name).await;
            batch.push(name, Op::SetTimeout(TimeoutKind::Warn, warn));
        }
        batch
    }
}

/// `POST /api/tokens/{name}`: a new token for the service (replacing its
/// old one), and with `interval` (seconds, 0: no deadline) and `team`
/// (empty: none) its settings; `existing=true` refuses a service that has
/// no token yet (`lovebeat services token`). The service is changed first
/// and the token made only once that is done, so a refused request (429
/// beyond `[limits] services`, 503) leaves no token behind.
pub(super) async fn issue(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_name(&name)?;
    let request = TokenRequest::parse(&params(query, &headers, &body)?)?;
    let has_token = state.tokens.has(&name);
    if request.existing && !has_token {
        return Err(ApiError::NotFound(format!(
            "{name:?} has no token; add it with `lovebeat services add {name}`"
        )));
    }
    if !has_token && state.tokens.len() >= state.limits.tokens {
        return Err(ApiError::Limited(format!(
            "lovebeat holds {} push tokens, as many as it may ([limits] services); \
             remove some with `lovebeat services remove NAME`",
            state.tokens.len()
        )));
    }
    let (interval, team) = (request.interval, request.team.clone());
    submit(&state, request.into_batch(&name, &state).await).await?;
    let token = blocking({
        let (tokens, name) = (state.tokens.clone(), name.clone());
        move || tokens.issue(&name, now_ms())
    })
    .await?;
    let issued = Issued {
        service: &name,
        token,
        interval,
        team: team.as_deref().filter(|t| !t.is_empty()),
    };
    Ok(json(pretty(&issued)))
}

/// The service's warning timeout, to set it to itself (never if new).
async fn current_warn(state: &AppState, name: &str) -> Timeout {
    (state.read().await.services.get(name)).map_or(Timeout::Never, |s| s.record.warn_timeout)
}

/// `DELETE /api/tokens/{name}`: forgets the token and deletes the service.
pub(super) async fn remove(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    check_name(&name)?;
    let had_token = blocking({
        let (tokens, name) = (state.tokens.clone(), name.clone());
        move || tokens.remove(&name)
    })
    .await?;
    let existed = state.read().await.services.contains_key(name.as_str());
    if !had_token && !existed {
        return Err(ApiError::NotFound(format!("no application named {name:?}")));
    }
    let mut batch = Batch::new();
    batch.push(&name, Op::Delete);
    submit(&state, batch).await?;
    Ok(json("{}\n".into()))
}

/// Runs a token-book call (which flushes the store) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, lovebeat_monitors::signals::TokenError> + Send + 'static,
) -> Result<T, ApiError> {
    let result = tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::Unavailable)?;
    result.map_err(|e| {
        tracing::error!(error = %e, "token store failed");
        ApiError::Unavailable
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_core::{Engine, EngineConfig};

    fn info(engine: &Engine) -> ServiceInfo {
        engine.service("my_app").unwrap()
    }

    fn engine_with_interval(seconds: i64) -> Engine {
        let mut e = Engine::new(EngineConfig::default(), 0);
        let timeout = Timeout::from_seconds(seconds).unwrap();
        e.set_timeout(0, "my_app", TimeoutKind::Err, timeout);
        e
    }

    #[test]
    fn a_recent_good_signal_is_ok() {
        let mut e = engine_with_interval(16_800);
        e.beat(1_544_016_420_980, "my_app");
        e.set_team(0, "my_app", Some("puzzle"));
        let check = SignalStatus::new(&info(&e), 1_544_016_421_000);
        assert_eq!(check.state, "ok");
        assert_eq!(check.interval, 16_800);
        assert_eq!(check.check_in.as_deref(), Some("2018-12-05T13:27:00.980Z"));
        assert_eq!(check.team.as_deref(), Some("puzzle"));
    }

    #[test]
    fn an_old_good_signal_is_outdated_and_a_failure_fails() {
        let mut e = engine_with_interval(10);
        e.beat(0, "my_app");
        assert_eq!(SignalStatus::new(&info(&e), 10_000).state, "outdated");
        e.fail(20_000, "my_app", Severity::Error, "backup failed");
        let check = SignalStatus::new(&info(&e), 20_001);
        assert_eq!((check.state, check.last_signal_ok), ("fail", false));
        assert_eq!(check.check_in.as_deref(), Some("1970-01-01T00:00:20.000Z"));
    }

    #[test]
    fn interval_zero_only_remembers_the_last_state() {
        let mut e = Engine::new(EngineConfig::default(), 0);
        e.beat(0, "my_app");
        let check = SignalStatus::new(&info(&e), 1_000_000_000);
        assert_eq!((check.state, check.interval), ("ok", 0));
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_signal_needs_application_token_and_a_known_status() {
        let ok = pairs(&[("application", "a"), ("token", "t"), ("status", "OK")]);
        assert_eq!(Signal::parse(&ok).unwrap().failure, None);
        let fail = pairs(&[("application", "a"), ("token", "t"), ("status", "fail")]);
        let failure = Signal::parse(&fail).unwrap().failure;
        assert_eq!(failure.as_deref(), Some("status=fail"));
        for bad in [
            pairs(&[("application", "a"), ("token", "t")]),
            pairs(&[("application", "a"), ("status", "ok")]),
            pairs(&[("token", "t"), ("status", "ok")]),
            pairs(&[("application", "a"), ("token", "t"), ("status", "maybe")]),
        ] {
            assert!(
                matches!(Signal::parse(&bad), Err(ApiError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_token_request_takes_interval_team_and_existing() {
        let r = TokenRequest::parse(&pairs(&[("interval", "0"), ("team", " ops ")])).unwrap();
        assert_eq!(
            (r.interval, r.team.as_deref(), r.existing),
            (Some(0), Some("ops"), false)
        );
        let r = TokenRequest::parse(&pairs(&[("existing", "true")])).unwrap();
        assert_eq!(
            r,
            TokenRequest {
                existing: true,
                ..TokenRequest::default()
            }
        );
        assert!(TokenRequest::parse(&pairs(&[("interval", "-1")])).is_err());
        assert!(TokenRequest::parse(&pairs(&[("team", &"x".repeat(256))])).is_err());
    }

    #[test]
    fn never_signalled_is_fail_as_in_statuscope() {
        let e = engine_with_interval(-1);
        let check = SignalStatus::new(&info(&e), 0);
        assert_eq!((check.state, check.check_in), ("fail", None));
    }
}
