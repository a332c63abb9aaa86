//! Which view changes alert which back-ends of an entry (§4.4, changed).
//!
//! Every change alerts except a view's first `new → ok`. An entry without
//! `warnings` treats a view in warning as ok, so it hears only of errors
//! (and of their end); with `warnings` every change counts. `on_error`
//! runs when the view turns unhealthy, `on_ok` when it is healthy again.

use lovebeat_core::State;

use crate::alert::Target;
use crate::settings::Entry;

/// The targets of `entry` that a change `from → to` goes to.
pub fn targets(entry: &Entry, from: State, to: State) -> Vec<Target> {
    let (was, is) = (level(from, entry.warnings), level(to, entry.warnings));
    if was == is || (was == State::New && is == State::Ok) {
        return Vec::new();
    }
    let mut targets: Vec<Target> = Target::NOTIFY
        .into_iter()
        .filter(|&t| has(entry, t))
        .collect();
    let healthy = |s: State| matches!(s, State::New | State::Ok);
    if healthy(was) && !healthy(is) && entry.on_error.is_some() {
        targets.push(Target::OnError);
    }
    if !healthy(was) && is == State::Ok && entry.on_ok.is_some() {
        targets.push(Target::OnOk);
    }
    targets
}

/// Whether the entry has the target's key set.
pub fn has(entry: &Entry, target: Target) -> bool {
    match target {
        Target::Mail => entry.mail.is_some(),
        Target::Webhook => entry.webhook.is_some(),
        Target::Slack => entry.slack_channel.is_some(),
        Target::Script => entry.script.is_some(),
        Target::OnOk => entry.on_ok.is_some(),
        Target::OnError => entry.on_error.is_some(),
        Target::Channel(channel) => entry.channel(channel).is_some(),
    }
}

/// Whether the entry counts `state` as failing (warning only with
/// `warnings`): what reminders and acknowledgements go to.
pub fn failing_for(entry: &Entry, state: State) -> bool {
    level(state, entry.warnings).is_failing()
}

/// The state as the entry sees it: warning is ok unless it wants warnings.
pub(crate) fn level(state: State, warnings: bool) -> State {
    match state {
        State::Warning if !warnings => State::Ok,
        State::Muted => State::Ok,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::{Error, New, Ok, Warning};

    fn entry(warnings: bool) -> Entry {
        Entry {
            mail: Some("a@x.com".into()),
            on_ok: Some("promote".into()),
            on_error: Some("demote".into()),
            warnings,
            ..Entry::default()
        }
    }

    #[test]
    fn the_first_new_to_ok_does_not_alert() {
        assert!(targets(&entry(true), New, Ok).is_empty());
    }

    #[test]
    fn new_to_error_alerts_and_runs_on_error() {
        assert_eq!(
            targets(&entry(false), New, Error),
            [Target::Mail, Target::OnError]
        );
    }

    #[test]
    fn ok_to_error_alerts() {
        assert_eq!(
            targets(&entry(false), Ok, Error),
            [Target::Mail, Target::OnError]
        );
    }

    #[test]
    fn error_to_ok_alerts_and_runs_on_ok() {
        assert_eq!(
            targets(&entry(false), Error, Ok),
            [Target::Mail, Target::OnOk]
        );
    }

    #[test]
    fn without_warnings_a_warning_is_ok() {
        assert!(targets(&entry(false), Ok, Warning).is_empty());
        assert!(targets(&entry(false), Warning, Ok).is_empty());
        assert!(targets(&entry(false), New, Warning).is_empty());
    }

    #[test]
    fn without_warnings_error_to_warning_is_a_recovery() {
        assert_eq!(
            targets(&entry(false), Error, Warning),
            [Target::Mail, Target::OnOk]
        );
    }

    #[test]
    fn with_warnings_ok_to_warning_alerts_and_runs_on_error() {
        assert_eq!(
            targets(&entry(true), Ok, Warning),
            [Target::Mail, Target::OnError]
        );
    }

    #[test]
    fn with_warnings_warning_to_error_alerts_without_running_on_error_again() {
        assert_eq!(targets(&entry(true), Warning, Error), [Target::Mail]);
    }

    #[test]
    fn with_warnings_error_to_warning_alerts_without_on_ok() {
        assert_eq!(targets(&entry(true), Error, Warning), [Target::Mail]);
    }

    #[test]
    fn every_configured_notification_is_offered() {
        let all = Entry {
            mail: Some("a@x.com".into()),
            webhook: Some("http://h/".into()),
            slack_channel: Some("#ops".into()),
            script: Some("/bin/true".into()),
            ..Entry::default()
        };
        assert_eq!(targets(&all, Ok, Error), Target::NOTIFY[..4]);
    }
}
