//! The Alertmanager back-end: `POST /api/v2/alerts` to every listed
//! Alertmanager, as Prometheus sends (to all of them, not one: they do
//! not share alerts, only silences and what they notified).
//!
//! A view that turns failing (as the entry sees it) is sent as a firing
//! alert whose labels are `alertname="LovebeatView"`, `view`, `severity`
//! (`critical` for error, `warning`), `incident` and, when the view has
//! one, `team`; a view that recovers is sent again with `endsAt`, which
//! resolves it. A warning that becomes an error (with `warnings`) resolves
//! the `warning` alert and fires the `critical` one.
//!
//! Alertmanager resolves an alert by itself at its `endsAt`, so a firing
//! alert carries `endsAt` four re-send intervals ahead (as Prometheus
//! does) and a background task sends every firing alert again each
//! `alertmanager_resend` (default 60 s) until it resolves. The change
//! itself goes through the outbox like every delivery; it counts as
//! delivered once one Alertmanager took it (the ones that failed are
//! logged, and get a firing alert again at the next re-send). What is
//! firing is kept in memory: after a restart, a view that is still
//! failing is sent again only at its next change, so Alertmanager
//! resolves it four intervals after the last re-send.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use lovebeat_core::clock::now_ms;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::channels::is_firing;
use super::delivery::{Backend, BoxFuture, DeliveryError};
use super::http::Outgoing;
use crate::alert::Alert;
use crate::format;
use crate::rules;

/// How many re-send intervals ahead a firing alert's `endsAt` is.
const ENDS_AFTER_RESENDS: u32 = 4;

/// One entry's `alertmanager`.
pub(crate) struct Alertmanager {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    /// Base URLs, without a trailing `/`.
    urls: Vec<String>,
    resend: Duration,
    public_url: String,
    warnings: bool,
    /// What is firing, by view: the alert as posted, without `endsAt`.
    firing: Mutex<BTreeMap<String, Value>>,
}

impl Alertmanager {
    /// The back-end, and its re-send task (inside a tokio runtime), which
    /// ends when the back-end is dropped.
    pub fn start(
        client: reqwest::Client,
        urls: Vec<String>,
        resend: Duration,
        public_url: String,
        warnings: bool,
    ) -> Alertmanager {
        let inner = Arc::new(Inner {
            client,
            urls,
            resend,
            public_url,
            warnings,
            firing: Mutex::default(),
        });
        tokio::spawn(resend_while_firing(Arc::downgrade(&inner)));
        Alertmanager { inner }
    }
}

impl Backend for Alertmanager {
    fn deliver<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.inner.deliver(alert))
    }
}

impl Inner {
    async fn deliver(&self, alert: &Alert) -> Result<(), DeliveryError> {
        let (firing, resolved) = self.postable(alert);
        let mut batch: Vec<Value> = resolved.into_iter().collect();
        if let Some(firing) = &firing {
            batch.push(self.with_end(firing.clone(), now_ms()));
        }
        self.post_to_all(Value::Array(batch)).await?;
        let mut map = self.firing.lock().expect("firing lock");
        match firing {
            Some(firing) => map.insert(alert.view.clone(), firing),
            None => map.remove(&alert.view),
        };
        Ok(())
    }

    /// The alert to fire now (without `endsAt`), if the view is failing,
    /// and the one to resolve, if it was failing under other labels.
    fn postable(&self, alert: &Alert) -> (Option<Value>, Option<Value>) {
        let link = format::view_link(&self.public_url, &alert.view);
        let annotations = json!({
            "summary": format::headline(alert),
            "description": format::summary(alert, &self.public_url),
            "failed_services": alert.failed.join(", "),
            "link": link,
        });
        let at = format::rfc3339(alert.at);
        let firing = is_firing(alert, self.warnings).then(|| {
            json!({
                "labels": labels(alert, alert.to),
                "annotations": annotations,
                "startsAt": at,
                "generatorURL": link,
            })
        });
        let was_firing = rules::level(alert.from, self.warnings).is_failing();
        let old_labels = labels(alert, alert.from);
        let changed = firing.as_ref().is_none_or(|f| f["labels"] != old_labels);
        let resolved = (was_firing && changed).then(|| {
            json!({
                "labels": old_labels,
                "annotations": annotations,
                "startsAt": at,
                "endsAt": at,
                "generatorURL": link,
            })
        });
        (firing, resolved)
    }

    /// A firing alert with `endsAt` a few re-sends after `now`.
    fn with_end(&self, mut alert: Value, now: lovebeat_core::Millis) -> Value {
        let ahead = self.resend * ENDS_AFTER_RESENDS;
        let ends = now + i64::try_from(ahead.as_millis()).unwrap_or(i64::MAX / 2);
        alert["endsAt"] = json!(format::rfc3339(ends));
        alert
    }

    /// Posts `alerts` to every Alertmanager at once; Ok once one took them.
    async fn post_to_all(&self, alerts: Value) -> Result<(), DeliveryError> {
        let mut posts = JoinSet::new();
        for url in &self.urls {
            let request = Outgoing::json(format!("{url}/api/v2/alerts"), alerts.clone());
            let (client, url) = (self.client.clone(), url.clone());
            posts.spawn(async move { (url, request.send(&client).await) });
        }
        let mut delivered = false;
        let mut first_error = None;
        while let Some(joined) = posts.join_next().await {
            let (url, result) = joined.expect("a post does not panic");
            match result {
                Ok(()) => delivered = true,
                Err(error) => {
                    tracing::warn!(url = %url, "alertmanager did not take the alert: {error}");
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) if !delivered => Err(error),
            _ => Ok(()),
        }
    }
}

/// The labels of the view's alert in `state`.
fn labels(alert: &Alert, state: lovebeat_core::State) -> Value {
    let severity = match state {
        lovebeat_core::State::Error => "critical",
        _ => "warning",
    };
    let mut labels = json!({
        "alertname": "LovebeatView",
        "view": alert.view,
        "severity": severity,
        "incident": alert.incident.to_string(),
    });
    if let Some(team) = &alert.team {
        labels["team"] = json!(team);
    }
    labels
}

/// Every `resend`, sends what is firing again with a later `endsAt`.
async fn resend_while_firing(inner: Weak<Inner>) {
    let Some(resend) = inner.upgrade().map(|i| i.resend) else {
        return;
    };
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + resend, resend);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let now = now_ms();
        let firing: Vec<Value> = (inner.firing.lock().expect("firing lock").values())
            .map(|alert| inner.with_end(alert.clone(), now))
            .collect();
        if !firing.is_empty() {
            let _ = tokio::time::timeout(resend, inner.post_to_all(Value::Array(firing))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use lovebeat_core::State;

    use super::*;

    fn inner(warnings: bool) -> Inner {
        Inner {
            client: super::super::http::client(Duration::from_secs(1)).unwrap(),
            urls: Vec::new(),
            resend: Duration::from_secs(60),
            public_url: "http://lb/".to_owned(),
            warnings,
            firing: Mutex::default(),
        }
    }

    fn alert(from: State, to: State) -> Alert {
        Alert {
            view: "web".to_owned(),
            from,
            to,
            incident: 2,
            at: 1_714_564_800_000,
            failed: vec!["web.a".to_owned()],
            team: Some("ops".to_owned()),
            occasion: crate::alert::Occasion::Change,
        }
    }

    #[test]
    fn a_failing_view_fires_with_its_labels() {
        let (firing, resolved) = inner(false).postable(&alert(State::Ok, State::Error));
        let firing = firing.unwrap();
        assert_eq!(
            firing["labels"],
            json!({"alertname": "LovebeatView", "view": "web", "severity": "critical", "incident": "2", "team": "ops"})
        );
        assert_eq!(firing["annotations"]["failed_services"], "web.a");
        assert_eq!(firing["startsAt"], "2024-05-01T12:00:00.000Z");
        assert!(resolved.is_none());
    }

    #[test]
    fn a_recovery_resolves_the_same_labels() {
        let (firing, resolved) = inner(false).postable(&alert(State::Error, State::Ok));
        assert!(firing.is_none());
        let resolved = resolved.unwrap();
        assert_eq!(resolved["labels"]["severity"], "critical");
        assert_eq!(resolved["endsAt"], "2024-05-01T12:00:00.000Z");
    }

    #[test]
    fn a_warning_turning_error_resolves_the_warning_and_fires_the_error() {
        let (firing, resolved) = inner(true).postable(&alert(State::Warning, State::Error));
        assert_eq!(firing.unwrap()["labels"]["severity"], "critical");
        assert_eq!(resolved.unwrap()["labels"]["severity"], "warning");
    }

    #[test]
    fn firing_alerts_end_four_resends_ahead() {
        let alert = inner(false).with_end(json!({}), 1_714_564_800_000);
        assert_eq!(alert["endsAt"], "2024-05-01T12:04:00.000Z");
    }
}
