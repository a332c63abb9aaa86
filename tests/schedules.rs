//! Services on a calendar (issue 18's schedules), end to end: declared in
//! `[[services]]`, set over HTTP and the command line, late `grace` after
//! the expected run, kept across `kill -9`. The model's behaviour in time,
//! daylight saving time included, is tested with a simulated clock in
//! `lovebeat-core` (`engine::tests`) and `lovebeat-calendar`.

use crate::util::*;

fn post(d: &Daemon, path: &str, body: &str) -> (u16, String) {
    d.request(
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body,
    )
}

#[test]
fn a_service_declared_on_a_schedule_goes_late_grace_after_its_expected_run() {
    // Every fifth second, one second of grace: late within six seconds of
    // any beat, ok again at the next one.
    let d = Daemon::with_config(
        "[[services]]\nname = \"tick\"\nschedule = \"*:*:0/5\"\ngrace = \"1s\"\n",
    );
    let tick = d
        .service("tick")
        .expect("a declared service exists at start");
    assert_eq!(tick["schedule"]["expression"], "*:*:0/5");
    assert_eq!(tick["schedule"]["tz"], "UTC");
    assert_eq!(tick["schedule"]["grace"], 1000);
    let expected = tick["schedule"]["expected"].as_i64().unwrap();
    assert_eq!(expected % 5000, 0, "expected on a fifth second: {expected}");
    d.wait_state("tick", "error");
    d.send_udp("tick.beat:1|c\n");
    d.wait_state("tick", "ok");
    d.wait_state("tick", "error");
}

#[test]
fn a_schedule_set_over_http_or_the_cli_survives_kill_9_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(dir.path(), "", &[]);
    let form = "schedule=0+2+*+*+1-5&tz=Europe%2FBerlin&grace=30m&beat=false";
    let (code, body) = post(&d, "/api/services/backup", form);
    assert_eq!((code, body.as_str()), (200, "{}\n"));
    for (bad, why) in [
        ("schedule=0+25+*+*+*", "bad cron expression"),
        ("schedule=daily&tz=Mars%2FBase", "IANA name"),
        ("tz=UTC", "go with schedule"),
        ("schedule=Mon..Fri+24%3A00", "hour 24"),
    ] {
        let (code, body) = post(&d, "/api/services/backup", bad);
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body.contains(why), "{bad}: {body}");
    }
    let url = format!("http://{}", d.http);
    let (code, _, err) = run(
        &[
            "services",
            "--url",
            &url,
            "set",
            "report",
            "--schedule",
            "Mon 08:00",
            "--tz",
            "Asia/Tokyo",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    d.kill();

    let d = Daemon::start_in(dir.path(), "", &[]);
    let backup = d.service("backup").expect("backup restored");
    assert_eq!(backup["schedule"]["expression"], "0 2 * * 1-5");
    assert_eq!(backup["schedule"]["tz"], "Europe/Berlin");
    assert_eq!(backup["schedule"]["grace"], 1_800_000);
    assert_eq!(
        backup["state"], "new",
        "nothing expected yet, or refused: {backup}"
    );
    let report = d.service("report").expect("report restored");
    assert_eq!(report["schedule"]["tz"], "Asia/Tokyo");
    assert_eq!(report["schedule"]["grace"], 3_600_000);
    // Taken off the schedule: no schedule in the API any more.
    let (code, _) = post(&d, "/api/services/backup", "schedule=&beat=false");
    assert_eq!(code, 200);
    assert!(d.service("backup").unwrap().get("schedule").is_none());
}

#[test]
fn a_run_that_started_and_never_finished_goes_late_and_exit_statuses_are_reported() {
    let d = Daemon::start();
    // Runs of `job` may take 2 s.
    let (code, body) = post(&d, "/api/services/job", "max_duration=2s&beat=false");
    assert_eq!(code, 200, "{body}");
    d.send_udp("job.start:1|c\n");
    let job = eventually("the run to open", || {
        d.service("job")
            .filter(|s| s["runs"]["open"].as_array().is_some_and(|o| o.len() == 1))
    });
    assert_eq!(job["runs"]["max_duration"], 2000);
    d.wait_state("job", "error");
    d.send_udp("job.exit:0|g\n");
    d.wait_state("job", "ok");
    let job = d.service("job").unwrap();
    assert!(
        job["runs"]["last_duration"].as_u64().unwrap() >= 2000,
        "{job}"
    );
    assert!(job["runs"].get("open").is_none(), "{job}");
    d.send_udp("job.exit:3|g\n");
    d.wait_state("job", "error");
    assert_eq!(
        d.service("job").unwrap()["failure"]["message"],
        "exit status 3"
    );
    // Over HTTP, run ids pair overlapping runs: ending `a` leaves `b` open.
    for form in ["status=start&rid=a", "status=start&rid=b", "rid=a"] {
        assert_eq!(post(&d, "/api/services/job", form).0, 200, "{form}");
    }
    let open = d.service("job").unwrap()["runs"]["open"].clone();
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    assert_eq!(open[0]["id"], "b");
    let metrics = eventually("the run duration series", || {
        let (_, text) = d.get("/metrics");
        text.contains("lovebeat_service_last_run_duration_seconds{service=\"job\"}")
            .then_some(text)
    });
    assert!(metrics.contains("# TYPE lovebeat_service_last_run_duration_seconds gauge"));
}
