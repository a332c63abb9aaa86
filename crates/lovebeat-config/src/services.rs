//! `[[services]]`: services declared in the config, so that their
//! schedules live in git beside the rest: a name, a cron or systemd
//! `OnCalendar` expression, its time zone and a grace.

use std::ops::Range;
use std::sync::Arc;

use lovebeat_core::Schedule;
use lovebeat_proto::is_valid_name;
use toml::Spanned;

use crate::check::{self, Checker};
use crate::raw;

/// One `[[services]]` entry, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDef {
    /// The service; created at start if it does not exist.
    pub name: String,
    /// Its schedule, set at every start.
    pub schedule: Arc<Schedule>,
}

/// Every `[[services]]` entry; a bad one is reported and left out. A name
/// may be declared once.
pub(crate) fn apply(c: &mut Checker<'_>, entries: Vec<Spanned<raw::Service>>) -> Vec<ServiceDef> {
    let mut defs: Vec<ServiceDef> = Vec::new();
    for entry in entries {
        let span = entry.span();
        let Some(def) = service(c, entry.into_inner(), span.clone()) else {
            continue;
        };
        if defs.iter().any(|d| d.name == def.name) {
            let message = format!("the service {:?} is already declared", def.name);
            c.report(span, "[[services]] name", message);
            continue;
        }
        defs.push(def);
    }
    defs
}

fn service(c: &mut Checker<'_>, raw: raw::Service, span: Range<usize>) -> Option<ServiceDef> {
    let name = c.value("[[services]] name", Some(raw.name), None, |n| {
        if is_valid_name(&n) {
            Ok(Some(n))
        } else {
            Err(format!("invalid service name {n:?}: use a-z 0-9 . _ -"))
        }
    })?;
    let grace_s = c.value(
        "[[services]] grace",
        raw.grace,
        Some(Schedule::DEFAULT_GRACE_S),
        |g| grace(g).map(Some),
    )?;
    let Some(expression) = raw.schedule else {
        let message = "missing: give schedule = \"0 2 * * *\" (cron) or \"Mon..Fri 02:00\" \
                       (systemd OnCalendar)";
        c.report(span, "[[services]] schedule", message.into());
        return None;
    };
    let zone = raw.tz.map(Spanned::into_inner);
    c.value("[[services]] schedule", Some(expression), None, |e| {
        Schedule::new(&e, zone.as_deref(), grace_s.saturating_mul(1000))
            .map(|schedule| {
                Some(ServiceDef {
                    name,
                    schedule: Arc::new(schedule),
                })
            })
            .map_err(|e| e.to_string())
    })
}

fn grace(value: raw::Duration) -> Result<u64, String> {
    let duration = match value {
        raw::Duration::Seconds(s) => check::seconds(s)?,
        raw::Duration::Text(text) => check::duration(text)?,
    };
    Ok(duration.as_secs())
}
