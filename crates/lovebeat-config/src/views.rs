//! `[[alarms]]` (glob templates) and legacy `[[views]]` (regexes, also as
//! Go lovebeat's `[views.NAME]` tables, or globs as its 1.0 sample wrote
//! them): the engine's view templates, in that order, and the alerts each
//! names. What Go lovebeat read differently (or ignored) is a warning.

use lovebeat_alert::{Entry, ViewPolicy};
use lovebeat_core::pattern::ViewTemplate;
use std::collections::BTreeMap;
use toml::Spanned;

use crate::check::{Checker, duration, non_empty, off_if_empty};
use crate::raw::entries::ViewForm;
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
        defs.extend(view_def(c, view, entries));
    }
    let alerting: Vec<(Vec<String>, ViewPolicy)>;
    (config.engine.views, alerting) = defs.into_iter().unzip();
    (config.alert.views, config.alert.policies) = alerting.into_iter().unzip();
    let teams = config
        .engine
        .views
        .iter()
        .map(|v| v.team().map(str::to_owned));
    config.alert.view_teams = teams.collect();
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

/// The referenced alert names. One with no `[alerts.NAME]` table is
/// kept and warned about: Go lovebeat started with it and sent nothing
/// for it, and so does lovebeat (the alerter logs it at each change).
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
                "unknown alert {name:?}: there is no [alerts.{table}] table, so nothing is \
                 sent for it (Go lovebeat did the same); add an [alerts.{table}] table or \
                 remove {name:?}",
                name = name.get_ref(),
                table = locate::quote(name.get_ref())
            );
            c.warn(name.span(), key, message);
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

/// A `[[views]]` entry, or Go lovebeat's legacy `[views.NAME]` table: an
/// unanchored regex under a fixed name; or, as Go lovebeat 1.0's sample
/// file wrote it, a glob `pattern` (read as an `[[alarms]]` entry).
fn view_def(
    c: &mut Checker<'_>,
    view: Spanned<raw::View>,
    alerts: &BTreeMap<String, Entry>,
) -> Option<ViewDef> {
    let span = view.span();
    let mut view = view.into_inner();
    let table = match view.form {
        ViewForm::Listed => "[[views]]".to_owned(),
        ViewForm::Table => format!("[views.{}]", locate::quote(view.name.get_ref())),
    };
    let name = c.value(
        &format!("{table} name"),
        Some(view.name.clone()),
        None,
        |n| non_empty(n).map(Some),
    )?;
    let refs = std::mem::take(&mut view.alerts);
    let alert_names = alert_refs(c, &format!("{table} alerts"), refs, alerts);
    let policy = policy(c, &table, view.hold.take(), view.repeat.take());
    let template = view_template(c, &table, &name, span, view)?;
    Some((template, (alert_names, policy)))
}

/// The template of a view named `name`, whose table (as the messages
/// name it) is `table` and starts at `span`: from its `regexp` or, warned
/// about, its `pattern`.
fn view_template(
    c: &mut Checker<'_>,
    table: &str,
    name: &str,
    span: std::ops::Range<usize>,
    view: raw::View,
) -> Option<ViewTemplate> {
    let key = |k: &str| format!("{table} {k}");
    match (view.regexp, view.pattern) {
        (Some(regexp), None) => {
            if view.form == ViewForm::Table {
                c.warn(span, table, legacy_table_warning(name, regexp.get_ref()));
            }
            c.value(&key("regexp"), Some(regexp), None, |regexp| {
                ViewTemplate::regex(name, &regexp)
                    .map(Some)
                    .map_err(|err| err.to_string())
            })
        }
        (None, Some(pattern)) => {
            c.warn(pattern.span(), &key("pattern"), views_pattern_warning(name));
            c.value(&key("pattern"), Some(pattern), None, |pattern| {
                ViewTemplate::glob(name, Some(&pattern), &[], &[])
                    .map(Some)
                    .map_err(|err| err.to_string())
            })
        }
        (Some(_), Some(pattern)) => {
            let message = "give regexp (a regex) or pattern (a glob), not both".to_owned();
            c.report(pattern.span(), &key("pattern"), message);
            None
        }
        (None, None) => {
            let regexp = "needs regexp = \"…\" (a regex found anywhere in a service's name)";
            let message = match view.form {
                ViewForm::Listed => {
                    format!("{regexp} or pattern = \"…\" (a glob, as in [[alarms]])")
                }
                ViewForm::Table => regexp.to_owned(),
            };
            c.report(span, table, message);
            None
        }
    }
}

/// Go lovebeat before 1.0 read `[views.NAME]`; 1.0 ignored it.
fn legacy_table_warning(name: &str, regexp: &str) -> String {
    format!(
        "Go lovebeat's legacy form (1.0 ignored it): read as the view {name:?} of the services \
         whose name contains a match of {regexp:?}; write it as [[views]] with \
         name = {name:?} and regexp = {regexp:?}"
    )
}

/// Go lovebeat 1.0's sample file showed `[[views]] name / pattern`, which
/// Go ignored.
fn views_pattern_warning(name: &str) -> String {
    format!(
        "Go lovebeat 1.0 ignored [[views]] (its sample file showed this form); lovebeat reads \
         it as the alarm {name:?} of this glob: write it as [[alarms]] with the same keys to \
         say so, or remove it"
    )
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
    fn an_unknown_alert_is_a_warning_and_the_view_keeps_the_name() {
        let text = "[alerts.ops]\nmail = \"a@b\"\n\n\
                    [[alarms]]\nname = \"x\"\npattern = \"*\"\nalerts = [\"ops\", \"pager\"]\n";
        assert_eq!(
            warnings(text),
            [
                "/etc/lovebeat.cfg:7: [[alarms]] alerts: unknown alert \"pager\": there is no \
              [alerts.pager] table, so nothing is sent for it (Go lovebeat did the same); \
              add an [alerts.pager] table or remove \"pager\""
            ]
        );
        assert_eq!(parse(text).alert.views[0], strings(&["ops", "pager"]));
        let text = "[[views]]\nname = \"x\"\nregexp = \"\"\nalerts = [\"my pager\"]\n";
        let warnings = warnings(text);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with(
                "/etc/lovebeat.cfg:4: [[views]] alerts: unknown alert \"my pager\": \
                 there is no [alerts.\"my pager\"] table"
            ),
            "{warnings:?}"
        );
    }

    #[test]
    fn legacy_views_tables_are_regex_views_with_a_warning() {
        let text = "[alerts.ops]\nmail = \"a@b\"\n\
                    [views.web]\nregexp = \"web\"\nalerts = [\"ops\"]\n\
                    [views.\"db 1\"]\nregexp = \"^db\\\\.\"\n";
        let config = parse(text);
        let names: Vec<_> = config
            .engine
            .views
            .iter()
            .map(|v| v.name_template())
            .collect();
        assert_eq!(names, ["db 1", "web"]);
        let web = &config.engine.views[1];
        assert_eq!(web.view_for("prod.web.1").as_deref(), Some("web"));
        assert_eq!(web.view_for("prod.db.1"), None);
        assert_eq!(
            config.engine.views[0].view_for("db.1").as_deref(),
            Some("db 1")
        );
        assert_eq!(config.alert.views, [vec![], strings(&["ops"])]);
        let warnings = warnings(text);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("/etc/lovebeat.cfg:3: [views.web]: Go lovebeat's legacy form"),
            "{warnings:?}"
        );
        assert!(
            warnings[0].ends_with("write it as [[views]] with name = \"web\" and regexp = \"web\""),
            "{warnings:?}"
        );
        assert!(
            warnings[1].starts_with("/etc/lovebeat.cfg:6: [views.\"db 1\"]: "),
            "{warnings:?}"
        );
        assert!(
            error("[views.web]\nregexp = \"web\"\npattern = \"web.*\"\n")
                .starts_with("/etc/lovebeat.cfg:3: [views.web] pattern: unknown field `pattern`")
        );
    }

    #[test]
    fn views_with_a_pattern_are_globs_with_a_warning() {
        let text = "[[views]]\nname = \"web\"\npattern = \"web.*\"\n";
        let config = parse(text);
        let view = &config.engine.views[0];
        assert_eq!(view.view_for("web.frontend").as_deref(), Some("web"));
        assert_eq!(
            view.view_for("prod.web.frontend"),
            None,
            "a glob is anchored"
        );
        assert_eq!(
            warnings(text),
            [
                "/etc/lovebeat.cfg:3: [[views]] pattern: Go lovebeat 1.0 ignored [[views]] \
              (its sample file showed this form); lovebeat reads it as the alarm \"web\" of \
              this glob: write it as [[alarms]] with the same keys to say so, or remove it"
            ]
        );
    }

    #[test]
    fn a_view_needs_one_of_regexp_and_pattern() {
        assert_eq!(
            error("[[views]]\nname = \"v\"\nregexp = \"a\"\npattern = \"a\"\n"),
            "/etc/lovebeat.cfg:4: [[views]] pattern: \
             give regexp (a regex) or pattern (a glob), not both"
        );
        assert_eq!(
            error("\n[[views]]\nname = \"v\"\n"),
            "/etc/lovebeat.cfg:2: [[views]]: needs regexp = \"…\" (a regex found anywhere \
             in a service's name) or pattern = \"…\" (a glob, as in [[alarms]])"
        );
        assert_eq!(
            error("[views.v]\nalerts = []\n"),
            "/etc/lovebeat.cfg:1: [views.v]: needs regexp = \"…\" (a regex found anywhere \
             in a service's name)"
        );
    }

    #[test]
    fn arrays_written_as_tables_say_what_to_write() {
        assert_eq!(
            error("[alarms.web]\npattern = \"web.*\"\n"),
            "/etc/lovebeat.cfg:1: [alarms.web]: write each entry as its own [[alarms]] table \
             with name = \"…\", not as [alarms.NAME] or alarms = { … }"
        );
        let message = error("notify = { lovebeat = \"http://x\" }\n");
        assert!(
            message.contains("write each entry as its own [[notify]] table with lovebeat"),
            "{message}"
        );
        assert!(!message.contains("invalid type"), "{message}");
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
