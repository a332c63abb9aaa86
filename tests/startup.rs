//! The start: what the daemon does in its first milliseconds. The state
//! log and the event log must see every event from the first one on, even
//! those of `[[checks]]` services, which are created and fail within a
//! millisecond of the start (issue 16, point 10: a start once lost them).

use serde_json::Value;

use crate::util::*;

/// Checks per start: each creates its service as soon as its task runs.
const CHECKS: usize = 16;
/// Starts tried: the race lost events in about one start of five.
const STARTS: usize = 6;

/// A config with [`CHECKS`] TCP checks of a closed port, and the event log.
fn probes_config(closed_port: u16) -> String {
    let mut config = "[eventlog]\npath = \"events.log\"\n".to_owned();
    for i in 0..CHECKS {
        config.push_str(&format!(
            "[[checks]]\nname = \"probe.c{i}\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\n\
             port = {closed_port}\ninterval = 3600\ntimeout = 5\nattempts = 1\n"
        ));
    }
    config
}

/// The services the event log says were added, and those it says went
/// from new to error.
fn logged_events(events: &str) -> (Vec<String>, Vec<String>) {
    let (mut added, mut failed) = (Vec::new(), Vec::new());
    for line in events.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        let name = |body: &Value| body["service"]["name"].as_str().unwrap_or("").to_owned();
        match event["type"].as_str() {
            Some("service_added") => added.push(name(&event["service_added"])),
            Some("service_state_changed") => {
                let body = &event["service_state_changed"];
                if (body["previous"].as_str(), body["current"].as_str())
                    == (Some("new"), Some("error"))
                {
                    failed.push(name(body));
                }
            }
            _ => {}
        }
    }
    added.sort();
    failed.sort();
    (added, failed)
}

#[test]
fn the_event_and_state_logs_have_every_check_service_from_the_first_event() {
    let closed_port = free_port();
    let mut names: Vec<String> = (0..CHECKS).map(|i| format!("probe.c{i}")).collect();
    names.sort();
    for start in 0..STARTS {
        let d = Daemon::with_config(&probes_config(closed_port));
        for name in &names {
            d.wait_state(name, "error");
        }
        let events = d.dir.join("events.log");
        let logged = eventually("every check's events in the event log", || {
            let logged = logged_events(&std::fs::read_to_string(&events).unwrap_or_default());
            (logged.0.len() == CHECKS && logged.1.len() == CHECKS).then_some(logged)
        });
        assert_eq!(logged, (names.clone(), names.clone()), "start {start}");
        eventually("every check's lines in the state log", || {
            let log = d.log_text();
            names
                .iter()
                .all(|name| {
                    log.contains(&format!("SERVICE '{name}', created -> new"))
                        && log.contains(&format!("SERVICE '{name}', state new -> error"))
                })
                .then_some(())
        });
    }
}
