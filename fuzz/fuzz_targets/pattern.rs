//! The `[[alarms]]` glob and `$var` compiler and the legacy `[[views]]`
//! regexes, as config entries and service names meet them.
//!
//! Input: fields separated by `\n`: the name template, the pattern, then
//! includes and excludes (split by the first `\t`), then service names
//! after a `\0`. Checks: nothing panics; a glob is refused only for a
//! repeated `$var` or a size limit (never a regex syntax error: the
//! compiler escapes everything); a glob without `*` or `$` matches exactly
//! itself; a static template always names the same view.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lovebeat_core::pattern::{PatternErrorKind, ViewTemplate};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (config, services) = text.split_once('\0').unwrap_or((text, ""));
    let mut fields = config.split('\n');
    let name = fields.next().unwrap_or("");
    let pattern = fields.next();
    let rest: Vec<&str> = fields.collect();
    let (includes, excludes) = split_lists(&rest);
    let services: Vec<&str> = services.split('\n').take(16).collect();

    match ViewTemplate::glob(name, pattern, &includes, &excludes) {
        Ok(template) => check(&template, &services),
        Err(err) => {
            assert!(!err.to_string().contains('\n'), "one-line errors: {err}");
            match err.kind() {
                PatternErrorKind::DuplicateVariable(_) => {}
                PatternErrorKind::Regex(regex::Error::CompiledTooBig(_)) => {}
                other => panic!("a glob became an invalid regex: {:?}: {other:?}", err.pattern()),
            }
        }
    }
    for glob in includes.iter().chain(pattern.map(str::to_owned).iter()) {
        let literal = !glob.contains('*') && !glob.contains('$');
        if literal {
            if let Ok(t) = ViewTemplate::glob("v", Some(glob), &[], &[]) {
                assert_eq!(t.view_for(glob).as_deref(), Some("v"), "{glob:?} matches itself");
            }
        }
    }
    // The same text as a legacy regex: may be refused, never panics.
    if let Ok(template) = ViewTemplate::regex(name, pattern.unwrap_or("")) {
        check(&template, &services);
    }
});

/// Includes before the first `\t`-started field, excludes after.
fn split_lists(fields: &[&str]) -> (Vec<String>, Vec<String>) {
    let split = fields.iter().position(|f| f.starts_with('\t'));
    let (inc, exc) = fields.split_at(split.unwrap_or(fields.len()));
    let own = |v: &[&str]| v.iter().map(|s| s.trim_start_matches('\t').to_owned()).collect();
    (own(inc), own(exc))
}

fn check(template: &ViewTemplate, services: &[&str]) {
    for service in services {
        let view = template.view_for(service);
        if let (Some(view), Some(fixed)) = (&view, template.static_name()) {
            assert_eq!(view, fixed, "a static template names one view");
        }
    }
}
