//! The database as a user meets it: restarts and crashes on the same
//! directory, a second instance, a damaged store, and a Go lovebeat
//! database brought along.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::util::{Daemon, LISTEN, binary, eventually};

/// The wall clock in ms, as lovebeat reads it.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn post(d: &Daemon, path: &str) {
    let (code, body) = d.request("POST", path, &[], "");
    assert_eq!(code, 200, "POST {path}: {body}");
}

fn field(service: &Value, key: &str) -> i64 {
    service[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} in {service}"))
}

/// Every change applied before this time (ms) is on disk.
fn saved_through(d: &Daemon) -> i64 {
    let seconds = d
        .metric("lovebeat_store_saved_timestamp_seconds")
        .expect("the saved timestamp metric");
    (seconds * 1000.0).round() as i64
}

/// Runs lovebeat in `dir` with its config there; waits (bounded) for it
/// to exit; returns (status, stdout, stderr).
fn run_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(binary())
        .args(["--config", "lovebeat.toml", "--config-dir", "conf.d"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = eventually("lovebeat to exit", || child.try_wait().unwrap());
    let out = child.wait_with_output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts a daemon in `dir` that must fail; returns its stderr's last line.
fn start_failing(dir: &Path, extra: &str) -> (i32, String) {
    std::fs::write(dir.join("lovebeat.toml"), format!("{LISTEN}\n{extra}")).unwrap();
    let (code, _, stderr) = run_in(dir, &[]);
    let last = stderr.lines().last().unwrap_or("").to_owned();
    (code, last)
}

fn gzip(text: &str) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

#[test]
fn acknowledged_services_timeouts_and_mutes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(dir.path(), "", &[]);
    post(&d, "/api/services/backup.nightly?timeout=3600");
    post(&d, "/api/services/backup.nightly?warn-tmo=1800");
    post(&d, "/api/services/cron.hourly?timeout=auto");
    post(&d, "/api/services/noisy/mute");
    post(&d, "/api/services/gone?timeout=60");
    let (code, _) = d.request("DELETE", "/api/services/gone", &[], "");
    assert_eq!(code, 200);
    // Answered means on disk: no waiting for the save interval.
    d.kill();

    let d = Daemon::start_in(dir.path(), "", &[]);
    let backup = d
        .service("backup.nightly")
        .expect("backup.nightly restored");
    assert_eq!(field(&backup, "timeout"), 3_600_000);
    assert_eq!(field(&backup, "warn_timeout"), 1_800_000);
    let cron = d.service("cron.hourly").expect("cron.hourly restored");
    assert_eq!(field(&cron, "timeout"), -2);
    assert_eq!(d.state("noisy").as_deref(), Some("muted"));
    assert!(
        d.service("gone").is_none(),
        "a deleted service stays deleted"
    );
}

#[test]
fn beats_history_and_auto_timeouts_carry_over_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[auto]\nalgorithm = \"adaptive\"\n";
    let d = Daemon::start_in(dir.path(), config, &[]);
    d.send_udp("queue.worker.autobeat:1|c\nqueue.worker.warn:600|g\n");
    let first = eventually("the first beat", || d.service("queue.worker"));
    let first_beat = field(&first, "last_beat");
    // An interval is at least a second long.
    eventually("a second to pass", || {
        (now_ms() > first_beat + 1100).then_some(())
    });
    d.send_udp("queue.worker.beat:1|c\n");
    let before = eventually("an interval in the history", || {
        d.service("queue.worker").filter(|s| {
            s["recent_intervals"]
                .as_array()
                .is_some_and(|h| h.len() == 1)
        })
    });
    let last_beat = field(&before, "last_beat");
    eventually("the beat to be saved", || {
        (saved_through(&d) >= last_beat).then_some(())
    });
    d.kill();

    let d = Daemon::start_in(dir.path(), config, &[]);
    let after = d.service("queue.worker").expect("restored");
    for key in [
        "last_beat",
        "timeout",
        "warn_timeout",
        "created",
        "beats",
        "auto_timeout",
    ] {
        assert_eq!(after[key], before[key], "{key}");
    }
    assert_eq!(after["recent_intervals"], before["recent_intervals"]);
}

#[test]
fn a_service_late_during_the_downtime_is_late_at_once_and_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(dir.path(), "", &[]);
    post(&d, "/api/services/quick?timeout=1");
    post(&d, "/api/services/slow?timeout=3600");
    let quick = d.service("quick").unwrap();
    d.kill();
    let deadline = field(&quick, "last_beat") + 1000;
    eventually("quick's deadline to pass", || {
        (now_ms() > deadline).then_some(())
    });

    let d = Daemon::start_in(dir.path(), "", &[]);
    assert_eq!(d.state("quick").as_deref(), Some("error"));
    assert_eq!(d.state("slow").as_deref(), Some("ok"));
}

#[test]
fn sigterm_saves_everything_and_exits_0_within_2_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(dir.path(), "[database]\ninterval = 3600\n", &[]);
    d.send_udp("a.beat:1|c\nb.beat:1|c\nc.beat:1|c\n");
    post(&d, "/api/services/a?timeout=100");
    eventually("c to beat", || d.service("c"));
    d.send_udp("b.beat:1|c\n");
    eventually("b's second beat", || {
        d.service("b").filter(|s| field(s, "beats") == 2)
    });
    let before: Vec<Value> = ["a", "b", "c"]
        .iter()
        .map(|n| d.service(n).unwrap())
        .collect();
    let start = Instant::now();
    let status = d.terminate();
    let took = start.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let image = dir.path().join("lovebeat.db/services.image");
    assert!(image.exists(), "a clean shutdown leaves the services image");

    let d = Daemon::start_in(dir.path(), "", &[]);
    for service in before {
        let name = service["name"].as_str().unwrap();
        let after = d.service(name).unwrap();
        assert_eq!(after["last_beat"], service["last_beat"], "{name}");
        assert_eq!(after["beats"], service["beats"], "{name}");
        assert_eq!(after["timeout"], service["timeout"], "{name}");
    }
    assert!(!image.exists(), "the start that read the image removed it");
}

#[test]
fn kill_9_at_random_moments_under_load_keeps_every_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged: Vec<(String, i64)> = Vec::new();
    let mut seed = now_ms() as u64;
    for round in 0..4 {
        let d = Daemon::start_in(dir.path(), "", &[]);
        for (name, timeout) in &acknowledged {
            let s = d
                .service(name)
                .unwrap_or_else(|| panic!("round {round}: {name} lost"));
            assert_eq!(
                field(&s, "timeout"),
                timeout * 1000,
                "round {round}: {name}"
            );
        }
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let kill_after = Duration::from_millis(100 + (seed >> 33) % 900);
        let start = Instant::now();
        let mut i = 0;
        // Bounded: a few hundred requests at most before the kill.
        while start.elapsed() < kill_after && i < 500 {
            let name = format!("load.r{round}.s{i}");
            d.send_udp(&format!("{name}.beat:1|c\nload.hot.beat:1|c\n"));
            let timeout = 10 + i;
            post(&d, &format!("/api/services/{name}?timeout={timeout}"));
            acknowledged.push((name, timeout));
            i += 1;
        }
        d.kill();
    }
    let d = Daemon::start_in(dir.path(), "", &[]);
    for (name, timeout) in &acknowledged {
        let s = d.service(name).unwrap_or_else(|| panic!("{name} lost"));
        assert_eq!(field(&s, "timeout"), timeout * 1000, "{name}");
    }
}

#[test]
fn a_second_lovebeat_on_the_same_database_exits_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Daemon::start_in(dir.path(), "", &[]);
    let (code, line) = start_failing(dir.path(), "");
    assert_ne!(code, 0);
    assert!(
        line.starts_with(
            "lovebeat: the database lovebeat.db is in use by another running lovebeat"
        ),
        "{line}"
    );
}

#[test]
fn a_damaged_database_is_refused_not_started_empty() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(dir.path(), "", &[]);
    post(&d, "/api/services/precious?timeout=60");
    assert_eq!(d.terminate().code(), Some(0));
    let log = dir.path().join("lovebeat.db").join("db");
    std::fs::write(&log, b"garbage".repeat(1000)).unwrap();

    let (code, line) = start_failing(dir.path(), "");
    assert_ne!(code, 0);
    assert!(line.contains("lovebeat.db is damaged"), "{line}");
}

/// A database damaged below the services image (a stored record that sled
/// reads back intact but that is no service record, as a bad write or an
/// incompatible writer leaves it): the start from the image notices it in
/// the background and reports it through `/status/store`; after a crash
/// the start reads the database and refuses with the usual message.
#[test]
fn a_damaged_record_is_noticed_beside_the_image_and_refused_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(dir.path(), "", &[]);
    post(&d, "/api/services/precious?timeout=60");
    post(&d, "/api/services/other?timeout=60");
    assert_eq!(d.terminate().code(), Some(0));
    let db = dir.path().join("lovebeat.db");
    assert!(db.join("services.image").exists());
    {
        let sled_db = sled::open(&db).unwrap();
        let services = sled_db.open_tree("services").unwrap();
        services.insert("precious", &b"not a record"[..]).unwrap();
        sled_db.flush().unwrap();
    }

    let d = Daemon::start_in(dir.path(), "", &[]);
    assert!(d.service("precious").is_some(), "the image was used");
    let damaged = "lovebeat.db is damaged (its services record \"precious\" cannot be read";
    eventually("the damage in the log", || {
        d.log_text().contains(damaged).then_some(())
    });
    assert_eq!(d.post_form("/api/services/new", "timeout=60").0, 503);
    let (code, text) = d.get("/status/store");
    assert_eq!(code, 503, "{text}");
    assert!(text.starts_with("ok false\n"), "{text}");
    assert!(
        text.contains(damaged) && text.contains("restore a backup"),
        "{text}"
    );
    assert_eq!(d.metric("lovebeat_store_up"), Some(0.0));
    d.kill();

    let (code, line) = start_failing(dir.path(), "");
    assert_eq!(code, 1, "{line}");
    assert!(line.contains(damaged), "{line}");
    assert!(line.contains("move it away and restore a backup"), "{line}");
}

/// A Go lovebeat database: a 1.0 service, a legacy warn/err one, a 1.0
/// alarm and a legacy view, and a line Go would skip.
fn go_database(last_beat: i64) -> Vec<u8> {
    gzip(&format!(
        "SERV\t{{\"name\":\"billing.export\",\"last_beat\":{last_beat},\"beat_history\":[60000,60000],\
         \"timeout\":3600000,\"state\":\"ok\",\"muted_since\":0,\"last_state_change\":{last_beat}}}\n\
         SERV\t{{\"name\":\"legacy.job\",\"last_beat\":{last_beat},\"beat_history\":[],\
         \"warning_timeout\":1800000,\"error_timeout\":7200000,\"state\":\"ok\"}}\n\
         ALARM\t{{\"name\":\"billing\",\"state\":\"ok\",\"incident_nbr\":7,\"last_state_change\":1}}\n\
         VIEW\t{{\"name\":\"legacy\",\"state\":\"ok\",\"regexp\":\"legacy\",\"incident_nbr\":3}}\n\
         JUNK\tline\n"
    ))
}

const GO_VIEWS: &str = r#"
[[alarms]]
name = "billing"
pattern = "billing.*"
[[views]]
name = "legacy"
regexp = "legacy"
"#;

#[test]
fn lovebeat_import_reads_a_go_database_keeping_legacy_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("old-lovebeat.db");
    std::fs::write(&file, go_database(now_ms() - 1000)).unwrap();
    std::fs::write(
        dir.path().join("lovebeat.toml"),
        format!("{LISTEN}\n{GO_VIEWS}"),
    )
    .unwrap();
    let (code, out, err) = run_in(dir.path(), &["import", "old-lovebeat.db"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "imported 2 services and 2 views from old-lovebeat.db into lovebeat.db\n"
    );

    let d = Daemon::start_in(dir.path(), GO_VIEWS, &[]);
    let export = d.service("billing.export").unwrap();
    assert_eq!(field(&export, "timeout"), 3_600_000);
    assert_eq!(
        export["recent_intervals"],
        serde_json::json!([60000, 60000])
    );
    let legacy = d.service("legacy.job").unwrap();
    assert_eq!(field(&legacy, "warn_timeout"), 1_800_000);
    assert_eq!(field(&legacy, "timeout"), 7_200_000);
    assert_eq!(d.state("legacy.job").as_deref(), Some("ok"));
    let billing = d.get_json("/api/alarms/billing");
    assert_eq!(billing["alarm"]["incident_nbr"], 7, "{billing}");
    let legacy_view = d.get_json("/api/views/legacy");
    assert_eq!(legacy_view["view"]["incident_nbr"], 3, "{legacy_view}");
}

#[test]
fn a_go_database_at_filename_is_imported_once_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let go_file = dir.path().join("lovebeat.db");
    let bytes = go_database(now_ms() - 1000);
    std::fs::write(&go_file, &bytes).unwrap();

    let d = Daemon::start_in(dir.path(), "", &[]);
    assert!(d.service("billing.export").is_some());
    assert!(
        d.log_text()
            .contains("imported 2 services and 2 views from the Go lovebeat database"),
        "{}",
        d.log_text()
    );
    let (code, _) = d.request("DELETE", "/api/services/legacy.job", &[], "");
    assert_eq!(code, 200);
    assert_eq!(d.terminate().code(), Some(0));
    assert_eq!(
        std::fs::read(&go_file).unwrap(),
        bytes,
        "the Go file is untouched"
    );
    assert!(dir.path().join("lovebeat.db.d").is_dir());

    let d = Daemon::start_in(dir.path(), "", &[]);
    assert!(
        d.service("legacy.job").is_none(),
        "not imported a second time"
    );
    assert!(
        d.log_text()
            .contains("is a Go lovebeat database, no longer read")
    );
}
