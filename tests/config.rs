//! Configuration files as operators have them: `--config-dir` entries
//! that cannot be read, a main file that never ends, and Go lovebeat's
//! own config forms (reference §4.1, §5.3, §11 and the seed documents)
//! starting the real binary.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::*;

/// Runs the binary in `dir` with `args` as `user` (None: as the test
/// runs) and returns its exit status and stderr; it must exit by itself within the
/// deadline (a daemon that starts instead is killed and reported).
fn run_to_exit(user: Option<u32>, dir: &Path, args: &[&str]) -> (i32, String) {
    let mut command = match user {
        Some(uid) => {
            let mut c = Command::new("setpriv");
            let id = uid.to_string();
            c.args(["--reuid", &id, "--regid", &id, "--clear-groups", "--"]);
            c.arg(binary());
            c
        }
        None => Command::new(binary()),
    };
    let mut child = command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lovebeat runs");
    let status = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually("lovebeat to exit", || child.try_wait().unwrap())
    }));
    let Ok(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("lovebeat did not exit");
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code().unwrap_or(-1), err)
}

/// The arguments for a main file and a config directory.
fn config_args<'a>(main: &'a Path, dir: &'a Path) -> [&'a str; 4] {
    [
        "--config",
        main.to_str().unwrap(),
        "--config-dir",
        dir.to_str().unwrap(),
    ]
}

#[test]
fn a_dangling_symlink_in_the_config_dir_stops_the_start_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let main = tmp.path().join("lovebeat.toml");
    std::fs::write(&main, LISTEN).unwrap();
    let conf_d = tmp.path().join("conf.d");
    std::fs::create_dir(&conf_d).unwrap();
    std::fs::write(conf_d.join("10-views.toml"), "").unwrap();
    let link = conf_d.join("20-tokens.toml");
    symlink(tmp.path().join("moved-away.toml"), &link).unwrap();
    let (code, err) = run_to_exit(None, tmp.path(), &config_args(&main, &conf_d));
    assert_eq!(code, 2, "{err}");
    let expected = format!(
        "{}: cannot read config file: a symlink to a file that does not exist",
        link.display()
    );
    assert!(err.contains(&expected), "{err}");
}

#[test]
fn a_symlink_into_a_directory_lovebeat_may_not_read_stops_the_start_naming_it() {
    if !have("setpriv") {
        eprintln!("skipped: no setpriv to run lovebeat as another user");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), PermissionsExt::from_mode(0o755)).unwrap();
    let main = tmp.path().join("lovebeat.toml");
    std::fs::write(&main, LISTEN).unwrap();
    let secret = tmp.path().join("secret");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("tokens.toml"), "[http]\nwrite_tokens = []\n").unwrap();
    std::fs::set_permissions(&secret, PermissionsExt::from_mode(0o700)).unwrap();
    let conf_d = tmp.path().join("conf.d");
    std::fs::create_dir(&conf_d).unwrap();
    let link = conf_d.join("tokens.toml");
    symlink(secret.join("tokens.toml"), &link).unwrap();
    let nobody = 65534;
    let (code, err) = run_to_exit(Some(nobody), tmp.path(), &config_args(&main, &conf_d));
    assert_eq!(code, 2, "{err}");
    let expected = format!("{}: cannot read config file: ", link.display());
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains("Permission denied"), "{err}");
}

#[test]
fn a_config_file_that_never_ends_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, err) = run_to_exit(
        None,
        tmp.path(),
        &config_args(Path::new("/dev/zero"), tmp.path()),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("/dev/zero: larger than 4 MiB, the most a config file may be"),
        "{err}"
    );
}

/// A Go lovebeat 1.0 config file, put together from its documents: the
/// sample file's `[[views]] name / pattern` (§4.1, which Go ignored), the
/// §4.1 alarm with an alert that has no table, `[general] public_url`,
/// `[database]`, `[slack]` and `[eventlog]` (§5.3, the sample's values),
/// and the seed's `[metrics]` and `[[notify]]` (seeds/003, with local
/// addresses).
fn go_1_0_config(smtp: std::net::SocketAddr, statsd: u16, peer: u16) -> String {
    format!(
        r#"[general]
public_url = "http://lovebeat.example.com/"

[database]
filename = "lovebeat.db"
interval = 60

[mail]
server = "{smtp}"
from = "lovebeat@example.com"

[metrics]
server = "127.0.0.1:{statsd}"
prefix = "lovebeat"

[[notify]]
lovebeat = "http://127.0.0.1:{peer}"

[[views]]
name = "web"
pattern = "web.*"

[[alarms]]
name = "server-$name"              # may use $vars captured by the pattern
pattern = "application-name.$name.*"
includes = ["source.$name.*", "old-source.$name.*"]
excludes = ["source.deprecated.*"]
alerts = ["mail-alert", "to-requestbin"]

[alerts.mail-alert]
mail = "ops@example.com"

[slack]
webhook_url = "https://hooks.slack.com/services/TXXXXXXXX/BXXXXXXXX/XXXXXXXXXXXXXXXXX"

[eventlog]
path = "events.json"
mode = 644
"#
    )
}

/// A daemon whose config directory holds `files` (name, text).
fn daemon_with_files(files: &[(&str, &str)]) -> (Daemon, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let conf_d = tmp.path().join("conf.d");
    std::fs::create_dir(&conf_d).unwrap();
    for (name, text) in files {
        std::fs::write(conf_d.join(name), text).unwrap();
    }
    (Daemon::start_in(tmp.path(), "", &[]), tmp)
}

#[test]
fn a_go_lovebeat_1_0_config_starts_with_warnings_and_its_alarms_alert() {
    let smtp = receivers::SmtpServer::start();
    let config = go_1_0_config(smtp.addr, free_port(), free_port());
    let (d, _tmp) = daemon_with_files(&[("lovebeat.cfg", &config)]);
    let file = d.dir.join("conf.d/lovebeat.cfg");
    let log = d.log_text();
    let warned = |line: usize, key: &str, says: &str| {
        let expected = format!("{}:{line}: {key}: {says}", file.display());
        assert!(
            log.contains(&expected),
            "no warning {expected:?} in:\n{log}"
        );
    };
    warned(21, "[[views]] pattern", "Go lovebeat 1.0 ignored [[views]]");
    warned(
        28,
        "[[alarms]] alerts",
        "unknown alert \"to-requestbin\": there is no [alerts.to-requestbin] table",
    );

    d.send_udp("web.frontend.beat:1|c\napplication-name.db.health.beat:1|c\n");
    d.wait_state("application-name.db.health", "ok");
    let web = d.get_json("/api/views/web");
    assert_eq!(web["services"][0]["name"], "web.frontend", "{web}");
    d.send_udp("application-name.db.health.err:0|g\n");
    let mail = eventually("the alarm's mail", || smtp.mails().pop());
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("[LOVEBEAT] server-db-1")
    );
    let events = d.dir.join("events.json");
    eventually("the alarm's change in the event log", || {
        let text = std::fs::read_to_string(&events).unwrap_or_default();
        text.contains("\"alarm_state_changed\"").then_some(())
    });
    eventually("the missing alert logged as Go logged it", || {
        d.log_text()
            .contains("Alarm server-db references alert to-requestbin which can't be found")
            .then_some(())
    });
}

/// Go lovebeat's legacy views (§11): `[views.NAME]` tables with an
/// unanchored `regexp` and `alerts`.
const GO_LEGACY_CONFIG: &str = r#"[views.web]
regexp = "web"
alerts = ["ops"]

[views.backups]
regexp = "backup$"

[alerts.ops]
script = "/bin/true"
"#;

#[test]
fn go_lovebeat_legacy_views_tables_start_as_regex_views() {
    let (d, _tmp) = daemon_with_files(&[("legacy.cfg", GO_LEGACY_CONFIG)]);
    let file = d.dir.join("conf.d/legacy.cfg");
    let log = d.log_text();
    for (line, view) in [(1, "web"), (5, "backups")] {
        let expected = format!(
            "{}:{line}: [views.{view}]: Go lovebeat's legacy form (1.0 ignored it)",
            file.display()
        );
        assert!(
            log.contains(&expected),
            "no warning {expected:?} in:\n{log}"
        );
    }
    d.send_udp("prod.web.1.beat:1|c\nnightly.backup.beat:1|c\nbackup.nightly.beat:1|c\n");
    d.wait_state("backup.nightly", "ok");
    d.wait_state("nightly.backup", "ok");
    let web = d.get_json("/api/views/web");
    assert_eq!(web["services"][0]["name"], "prod.web.1", "{web}");
    let backups = d.get_json("/api/views/backups");
    let members: Vec<_> = backups["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(members, ["nightly.backup"], "{backups}");
}

#[test]
fn a_table_of_alarms_says_what_to_write_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let main = tmp.path().join("lovebeat.cfg");
    std::fs::write(&main, "[alarms.web]\npattern = \"web.*\"\n").unwrap();
    let (code, err) = run_to_exit(None, tmp.path(), &config_args(&main, tmp.path()));
    assert_eq!(code, 2, "{err}");
    let expected = format!(
        "{}:1: [alarms.web]: write each entry as its own [[alarms]] table with name = ",
        main.display()
    );
    assert!(err.contains(&expected), "{err}");
}
