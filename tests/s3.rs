//! The S3 copy of the database against a real S3-compatible server: moto's
//! server mode (PyPI `moto[server]`, which scripts/test installs), started
//! on a free loopback port for each test and killed when it is dropped.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{DEADLINE, Daemon, LISTEN, binary, eventually, free_port, try_http};

const BUCKET: &str = "lovebeat-test";
const KEY: &str = "backups/lovebeat.db";

/// A moto S3 server on loopback; killed when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        Moto::on(free_port())
    }

    /// A fresh server (no buckets) on `port`.
    fn on(port: u16) -> Moto {
        let mut child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let url = format!("http://127.0.0.1:{port}/");
        eventually("moto to answer", || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "moto exited with {status}: is it installed? \
                     `pip install 'moto[server]'` (scripts/test does)"
                );
            }
            request("GET", &url, Vec::new())
                .ok()
                .filter(|(code, _)| *code == 200)
        });
        Moto { child, port }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn object_url(&self) -> String {
        format!("{}/{BUCKET}/{KEY}", self.endpoint())
    }

    fn create_bucket(&self) {
        let (code, _) = request("PUT", &format!("{}/{BUCKET}", self.endpoint()), Vec::new())
            .expect("moto answers");
        assert_eq!(code, 200, "create the bucket");
    }

    /// The copy's bytes, None when there is none.
    fn object(&self) -> Option<Vec<u8>> {
        let (code, body) = request("GET", &self.object_url(), Vec::new()).expect("moto answers");
        (code == 200).then_some(body)
    }

    fn put_object(&self, bytes: Vec<u8>) {
        let (code, _) = request("PUT", &self.object_url(), bytes).expect("moto answers");
        assert_eq!(code, 200, "put the object");
    }

    /// The copy's `SERV` records by name, as JSON.
    fn services(&self) -> Vec<Value> {
        let Some(bytes) = self.object() else {
            return Vec::new();
        };
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .expect("the copy is gzip");
        text.lines()
            .filter_map(|line| line.strip_prefix("SERV\t"))
            .map(|json| serde_json::from_str(json).unwrap())
            .collect()
    }

    /// The copy's record of `name`, when it has one.
    fn service(&self, name: &str) -> Option<Value> {
        self.services().into_iter().find(|s| s["name"] == name)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One plain-HTTP request to moto; (status, body), or Err when nothing
/// answers. moto refuses unsigned reads of private objects but checks no
/// signature, so any `Authorization` header does.
fn request(method: &str, url: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), reqwest::Error> {
    try_http(
        method,
        url,
        &[("Authorization", "AWS testing:unsigned")],
        body,
    )
}

/// The `[database]` table of a lovebeat that keeps its copy in `endpoint`.
fn s3_config(endpoint: &str, upload_every: u64) -> String {
    format!(
        r#"
[database]
interval = 1
remote_s3_url = "s3://{BUCKET}/{KEY}"
remote_s3_region = "us-east-1"
remote_s3_endpoint = "{endpoint}"
remote_s3_access_key_id = "testing"
remote_s3_secret_access_key = "testing"
remote_s3_interval = {upload_every}
"#
    )
}

fn post(d: &Daemon, path: &str) {
    let (code, body) = d.request("POST", path, &[], "");
    assert_eq!(code, 200, "POST {path}: {body}");
}

fn metric(d: &Daemon, series: &str) -> f64 {
    d.metric(series)
        .unwrap_or_else(|| panic!("{series} on /metrics"))
}

/// Starts lovebeat in the empty `dir` with `extra` config, expecting it to
/// fail; waits (bounded) for it to exit; returns (status, stderr).
fn start_failing(dir: &Path, extra: &str) -> (i32, String) {
    std::fs::write(dir.join("lovebeat.toml"), format!("{LISTEN}\n{extra}")).unwrap();
    let mut child = Command::new(binary())
        .args(["--config", "lovebeat.toml", "--config-dir", "conf.d"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = eventually("lovebeat to exit", || child.try_wait().unwrap());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code().unwrap_or(-1), stderr)
}

#[test]
fn beats_reach_the_copy_while_running_and_restore_a_lovebeat_that_lost_its_disk() {
    let moto = Moto::start();
    moto.create_bucket();
    let config = s3_config(&moto.endpoint(), 1);
    let a = Daemon::with_config(&config);
    assert!(a.log_text().contains("no S3 copy at"), "{}", a.log_text());
    post(
        &a,
        "/api/services/backup.nightly?timeout=3600&warn-tmo=1800",
    );
    post(&a, "/api/services/noisy/mute");
    a.send_udp("cron.hourly.beat:1|c\n");
    eventually("cron.hourly to beat", || a.service("cron.hourly"));
    let before: Vec<Value> = ["backup.nightly", "noisy", "cron.hourly"]
        .iter()
        .map(|name| a.service(name).unwrap())
        .collect();
    eventually("the services in the copy", || {
        let names: Vec<Value> = moto.services().iter().map(|s| s["name"].clone()).collect();
        (names.len() == 3).then_some(())
    });
    // S3 has the copy before lovebeat reads its answer and counts it.
    eventually("the upload counted", || {
        (metric(&a, "lovebeat_s3_uploads_total") >= 1.0
            && metric(&a, "lovebeat_s3_uploaded_timestamp_seconds") > 0.0)
            .then_some(())
    });
    assert_eq!(metric(&a, "lovebeat_s3_upload_errors_total"), 0.0);
    // The copy is a Go lovebeat database: Go's fields are there.
    let backup = moto.service("backup.nightly").unwrap();
    assert_eq!(backup["timeout"], 3_600_000);
    assert_eq!(backup["state"], "ok");
    // The disk is lost: a crash, and a new lovebeat in an empty directory.
    a.kill();

    let b = Daemon::with_config(&config);
    assert!(
        b.log_text().contains("restored 3 services"),
        "{}",
        b.log_text()
    );
    for service in before {
        let name = service["name"].as_str().unwrap();
        let after = b.service(name).unwrap_or_else(|| panic!("{name} restored"));
        for key in [
            "timeout",
            "warn_timeout",
            "last_beat",
            "beats",
            "created",
            "state",
        ] {
            assert_eq!(after[key], service[key], "{name} {key}");
        }
    }
}

#[test]
fn a_clean_shutdown_uploads_the_last_changes() {
    let moto = Moto::start();
    moto.create_bucket();
    // No periodic upload during the test: only the one at shutdown.
    let config = s3_config(&moto.endpoint(), 3600);
    let a = Daemon::with_config(&config);
    post(&a, "/api/services/last.words?timeout=60");
    assert_eq!(moto.object(), None, "nothing uploaded before the interval");
    let before = a.service("last.words").unwrap();
    let started = Instant::now();
    let status = a.terminate();
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let copied = moto.service("last.words").expect("uploaded at shutdown");
    assert_eq!(copied["last_beat"], before["last_beat"]);

    let b = Daemon::with_config(&config);
    let after = b.service("last.words").expect("restored");
    assert_eq!(after["timeout"], 60_000);
    assert_eq!(after["last_beat"], before["last_beat"]);
}

#[test]
fn an_s3_outage_after_startup_is_retried_and_lovebeat_keeps_working() {
    let moto = Moto::start();
    moto.create_bucket();
    let port = moto.port;
    let config = s3_config(&moto.endpoint(), 1);
    let a = Daemon::with_config(&config);
    post(&a, "/api/services/before.outage?timeout=60");
    eventually("the first upload", || moto.service("before.outage"));
    drop(moto);

    post(&a, "/api/services/during.outage?timeout=60");
    eventually("failed uploads to be retried", || {
        (metric(&a, "lovebeat_s3_upload_errors_total") >= 2.0).then_some(())
    });
    // Ingest, the API and saves go on.
    a.send_udp("udp.during.outage.beat:1|c\n");
    eventually("a UDP beat during the outage", || {
        a.service("udp.during.outage")
    });
    assert!(
        a.log_text()
            .contains("cannot upload the database to S3; retrying in")
    );

    // S3 is back (empty: moto keeps nothing): the next retry goes through.
    let moto = Moto::on(port);
    moto.create_bucket();
    eventually("the copy after the outage", || {
        moto.service("during.outage")
            .and(moto.service("udp.during.outage"))
    });
    eventually("the recovery to be logged", || {
        a.log_text()
            .contains("uploaded the database to S3 again")
            .then_some(())
    });
}

#[test]
fn an_unreachable_s3_stops_an_empty_lovebeat_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there.
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let (code, stderr) = start_failing(dir.path(), &s3_config(&endpoint, 1));
    assert_ne!(code, 0, "{stderr}");
    assert!(started.elapsed() < DEADLINE);
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with(
            "lovebeat: cannot download the S3 copy s3://lovebeat-test/backups/lovebeat.db"
        ),
        "{stderr}"
    );
    assert!(last.contains("will not start empty"), "{last}");
    assert!(
        stderr.contains("attempt 1 of 5") && stderr.contains("attempt 4 of 5"),
        "{stderr}"
    );
}

#[test]
fn a_damaged_copy_stops_an_empty_lovebeat_and_is_left_alone() {
    let moto = Moto::start();
    moto.create_bucket();
    moto.put_object(b"not a database".to_vec());
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = start_failing(dir.path(), &s3_config(&moto.endpoint(), 1));
    assert_ne!(code, 0, "{stderr}");
    let last = stderr.lines().last().unwrap_or("");
    assert!(last.contains("is not a lovebeat database"), "{stderr}");
    assert_eq!(moto.object().as_deref(), Some(&b"not a database"[..]));
}

#[test]
fn a_go_lovebeat_copy_restores_and_a_local_database_wins_over_the_copy() {
    let moto = Moto::start();
    moto.create_bucket();
    // What Go lovebeat 1.0 uploads: its database file as it is.
    let go = concat!(
        "SERV\t{\"name\":\"go.service\",\"last_beat\":1500000000000,",
        "\"beat_history\":[60000],\"timeout\":120000,\"state\":\"ok\",",
        "\"muted_since\":0,\"last_state_change\":1500000000000}\n",
        "ALARM\t{\"name\":\"go.alarm\",\"state\":\"ok\",\"incident_nbr\":3,",
        "\"last_state_change\":1500000000000}\n"
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, go.as_bytes()).unwrap();
    moto.put_object(gz.finish().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let config = s3_config(&moto.endpoint(), 3600);
    let d = Daemon::start_in(dir.path(), &config, &[]);
    let service = d.service("go.service").expect("restored from Go's copy");
    assert_eq!(service["timeout"], 120_000);
    assert_eq!(service["last_beat"], 1_500_000_000_000_i64);
    post(&d, "/api/services/local.only?timeout=60");
    d.kill();

    // The copy changes under a lovebeat whose store is not empty: the
    // store is used, the copy is not read.
    moto.put_object(b"not read".to_vec());
    let d = Daemon::start_in(dir.path(), &config, &[]);
    assert!(d.service("local.only").is_some() && d.service("go.service").is_some());
}
