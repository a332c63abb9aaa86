//! `[[alarms]]` (glob templates) and legacy `[[views]]` (regexes): the
//! engine's view templates, in that order, and the alerts each names.

use lovebeat_alert::{Entry, ViewPolicy};
use lovebeat_core::pattern::ViewTemplate;
use std::collections::BTreeMap;
use toml::Spanned;

use crate::check::{Checker, duration, non_empty, off_if_empty};
use crate::{Config, locate, raw};

/// One view template, the names of its `[alerts.NAME]` tables and its
/// `for` and `repeat`.
type ViewDef = (ViewTemplate, (Vec<String>, ViewPolicy));

/// Every `[[alarms]]` entry in file order, then every `[[views]]` entry:
/// their templates into the engine's config, their alert names into the
/// alerter's settings (after `[alerts.NAME]`, which they must name).
pub(crate) fn apply(
    c: &mut Checker<'_>,
    config: &mut Config,
    alarms: Vec<Spanned<raw::Alarm>>,
    views: Vec<Spanned<raw::View>>,
) {
    let entries = &config.alert.entries;
    let mut defs = Vec::new();
    for alarm in alarms {
        defs.extend(alarm_def(c, alarm.into_inner(), entries));
    }
    for view in views {
        defs.extend(view_def(c, view.into_inner(), entries));
    }
    let alerting: Vec<(Vec<String>, ViewPolicy)>;
    (config.engine.views, alerting) = defs.into_iter().unzip();
    (config.alert.views, config.alert.policies) = alerting.into_iter().unzip();
}

/// A view's `for` and `repeat` (`table` is `[[alarms]]` or `[[views]]`).
fn policy(
    c: &mut Checker<'_>,
    table: &str,
    hold: Option<Spanned<String>>,
    repeat: Option<Spanned<String>>,
) -> ViewPolicy {
    ViewPolicy {
        hold: c.value(&format!("{table} for"), hold, Default::default(), duration),
        repeat: c.value(&format!("{table} repeat"), repeat, None, |d| {
            duration(d).map(Some)
        }),
    }
}

/// The referenced alert names, each reported unless `alerts` has it.
fn alert_refs(
    c: &mut Checker<'_>,
    key: &str,
    refs: Vec<Spanned<String>>,
    alerts: &BTreeMap<String, Entry>,
) -> Vec<String> {
    let mut names = Vec::with_capacity(refs.len());
    for name in refs {
        if !alerts.contains_key(name.get_ref()) {
            let message = format!(
                "unknown alert {:?}: there is no [alerts.{}] table",
                name.get_ref(),
                locate::quote(name.get_ref())
            );
            c.report(name.span(), key, message);
        }
        names.push(name.into_inner());
    }
    names
}

/// An `[[alarms]]` entry: a §4.2 glob template.
fn alarm_def(
    c: &mut Checker<'_>,
    alarm: raw::Alarm,
    alerts: &BTreeMap<String, Entry>,
) -> Option<ViewDef> {
    let name_span = alarm.name.span();
    let name = c.value("[[alarms]] name", Some(alarm.name), None, |n| {
        non_empty(n).map(Some)
    })?;
    let alert_names = alert_refs(c, "[[alarms]] alerts", alarm.alerts, alerts);
    let policy = policy(c, "[[alarms]]", alarm.hold, alarm.repeat);
    let strings =
        |list: &[Spanned<String>]| list.iter().map(|s| s.get_ref().clone()).collect::<Vec<_>>();
    let (includes, excludes) = (strings(&alarm.includes), strings(&alarm.excludes));
    let team = alarm.team.map(Spanned::into_inner).and_then(off_if_empty);
    // A team alone selects every service of the team.
    let everything = team.is_some() && alarm.pattern.is_none() && includes.is_empty();
    let pattern = match &alarm.pattern {
        Some(p) => Some(p.get_ref().as_str()),
        None if everything => Some("*"),
        None => None,
    };
    match ViewTemplate::glob(&name, pattern, &includes, &excludes) {
        Ok(template) => Some((template.with_team(team), (alert_names, policy))),
        Err(err) => {
            // Point at the glob that failed (the name template cannot fail).
            let culprit = alarm
                .pattern
                .iter()
                .map(|p| ("[[alarms]] pattern", p))
                .chain(alarm.includes.iter().map(|p| ("[[alarms]] includes", p)))
                .chain(alarm.excludes.iter().map(|p| ("[[alarms]] excludes", p)))
                .find(|(_, p)| p.get_ref() == err.pattern());
            let (key, span) =
                culprit.map_or(("[[alarms]] name", name_span), |(key, p)| (key, p.span()));
            c.report(span, key, err.to_string());
            None
        }
    }
}

/// A legacy `[[views]]` entry: an unanchored regex under a fixed name.
fn view_def(
    c: &mut Checker<'_>,
    view: raw::View,
    alerts: &BTreeMap<String, Entry>,
) -> Option<ViewDef> {
    let name = c.value("[[views]] name", Some(view.name), None, |n| {
        non_empty(n).map(Some)
    })?;
    let alert_names = alert_refs(c, "[[views]] alerts", view.alerts, alerts);
    let policy = policy(c, "[[views]]", view.hold, view.repeat);
    let template = c.value("[[views]] regexp", Some(view.regexp), None, |regexp| {
        ViewTemplate::regex(&name, &regexp)
            .map(Some)
            .map_err(|err| err.to_string())
    })?;
    Some((template, (alert_names, policy)))
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn views_match_services() {
        let config = parse(
            r#"
            [[alarms]]
            name = "server-$name"
            includes = ["app.$name.*"]
            excludes = ["app.old.*"]
            [[views]]
            name = "web"
            regexp = "web"
            "#,
        );
        let alarm = &config.engine.views[0];
        assert_eq!(alarm.view_for("app.db.1").as_deref(), Some("server-db"));
        assert_eq!(alarm.view_for("app.old.1"), None);
        let view = &config.engine.views[1];
        assert_eq!(view.view_for("prod.web.1").as_deref(), Some("web"));
    }

    #[test]
    fn unknown_alert_is_an_error() {
        let text = "[alerts.ops]\nmail = \"a@b\"\n\n\
                    [[alarms]]\nname = \"x\"\npattern = \"*\"\nalerts = [\"ops\", \"pager\"]\n";
        assert_eq!(
            error(text),
            "/etc/lovebeat.cfg:7: [[alarms]] alerts: \
             unknown alert \"pager\": there is no [alerts.pager] table"
        );
        let text = "[[views]]\nname = \"x\"\nregexp = \"\"\nalerts = [\"my pager\"]\n";
        assert_eq!(
            error(text),
            "/etc/lovebeat.cfg:4: [[views]] alerts: \
             unknown alert \"my pager\": there is no [alerts.\"my pager\"] table"
        );
    }

    #[test]
    fn bad_regex_in_views_names_file_line_and_key() {
        let message = error("[[views]]\nname = \"v\"\n\nregexp = \"a(b\"\n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:4: [[views]] regexp: invalid pattern \"a(b\": "),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn bad_glob_in_alarms_names_the_key_it_is_in() {
        let text =
            "[[alarms]]\nname = \"a\"\npattern = \"ok.*\"\nincludes = [\"x\",\n  \"$n.$n\"]\n";
        assert_eq!(
            error(text),
            "/etc/lovebeat.cfg:5: [[alarms]] includes: \
             invalid pattern \"$n.$n\": variable $n is used more than once"
        );
        assert_eq!(
            error("[[alarms]]\nname = \"\"\n"),
            "/etc/lovebeat.cfg:2: [[alarms]] name: must not be empty"
        );
    }

    #[test]
    fn an_alarm_with_only_a_team_takes_every_service_of_the_team() {
        let config = parse("[[alarms]]\nname = \"ops\"\nteam = \"ops\"\n");
        let template = &config.engine.views[0];
        assert_eq!(template.team(), Some("ops"));
        assert_eq!(
            template
                .view_for_member("any.thing", Some("ops"))
                .as_deref(),
            Some("ops")
        );
        assert_eq!(template.view_for_member("any.thing", None), None);
    }
}
