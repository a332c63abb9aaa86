//! `/metrics` as Prometheus reads it: strict parsing in both formats,
//! promtool, the series cap, a scrape of 100 000 services beside ingest.

use super::*;

#[test]
fn metrics_parse_strictly_in_both_formats_and_show_every_service() {
    let d = Daemon::start();
    d.send_udp("m.ok.beat:1|c\nm.warn.warn:0|g\nm.err.err:0|g\nm.auto.autobeat:1|c\n");
    d.send_tcp(b"m.tcp.beat:1|c\n");
    let (code, _) = d.request("POST", "/api/services/m.http?timeout=90", &[], "");
    assert_eq!(code, 200);
    wait_services(&d, 6);

    let (_, text) = d.get("/metrics");
    let e = prom::parse(&text, Format::Text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    let (_, om) = d.request("GET", "/metrics", &[("Accept", PROMETHEUS_ACCEPT)], "");
    let o = prom::parse(&om, Format::OpenMetrics).unwrap_or_else(|err| panic!("{err}\n{om}"));
    for family in [
        "lovebeat_beats",
        "lovebeat_lines_rejected",
        "lovebeat_ingest_lines",
    ] {
        assert_eq!(o.families[family].kind, "counter", "{family}");
        assert_eq!(e.families[&format!("{family}_total")].kind, "counter");
    }

    // Every service, one-hot, matching the API.
    for service in services(&d) {
        let name = service["name"].as_str().unwrap();
        let state = service["state"].as_str().unwrap();
        let hot: BTreeMap<String, f64> = e
            .samples("lovebeat_service_state")
            .filter(|s| s.labels["service"] == name)
            .map(|s| (s.labels["state"].clone(), s.value))
            .collect();
        assert_eq!(hot.len(), 5, "{name}: {hot:?}");
        assert_eq!(hot.values().sum::<f64>(), 1.0, "{name}: {hot:?}");
        assert_eq!(hot[state], 1.0, "{name} is {state}: {hot:?}");
    }
    let beat = e
        .value(
            "lovebeat_service_last_beat_timestamp_seconds",
            &[("service", "m.ok")],
        )
        .unwrap();
    assert!((beat - now_seconds()).abs() < 60.0, "{beat}");
    assert_eq!(
        e.value(
            "lovebeat_service_last_beat_timestamp_seconds",
            &[("service", "m.err")]
        ),
        None,
        "m.err never beat"
    );
    let timeout = |service, kind| {
        e.value(
            "lovebeat_service_timeout_seconds",
            &[("service", service), ("kind", kind)],
        )
    };
    assert_eq!(timeout("m.http", "err"), Some(90.0));
    assert_eq!(timeout("m.err", "err"), Some(0.0));
    assert_eq!(timeout("m.warn", "warn"), Some(0.0));
    assert_eq!(timeout("m.auto", "err"), None, "AUTO with no history yet");
    assert_eq!(timeout("m.ok", "err"), None, "never");

    // Counts, ingest per protocol, queue, process.
    assert_eq!(
        e.value("lovebeat_services", &[("state", "error")]),
        Some(1.0)
    );
    assert_eq!(
        e.value("lovebeat_services", &[("state", "warning")]),
        Some(1.0)
    );
    let ingest = |p| {
        e.value("lovebeat_ingest_lines_total", &[("protocol", p)])
            .unwrap()
    };
    // The HTTP beat set a timeout too: two commands.
    assert_eq!(
        (ingest("udp"), ingest("tcp"), ingest("http")),
        (4.0, 1.0, 2.0)
    );
    assert_eq!(e.value("lovebeat_beats_total", &[]), Some(4.0));
    assert_eq!(e.value("lovebeat_queue_capacity", &[]), Some(4096.0));
    assert!(e.value("lovebeat_queue_depth", &[]).is_some());
    assert!(e.value("process_resident_memory_bytes", &[]).unwrap() > 0.0);
    assert!(e.value("process_cpu_seconds_total", &[]).is_some());
    let start = e.value("process_start_time_seconds", &[]).unwrap();
    assert!((now_seconds() - start).abs() < 3600.0, "{start}");
    assert!(e.value("process_open_fds", &[]).unwrap() > 0.0);
    assert_eq!(
        e.families["lovebeat_store_flush_duration_seconds"].kind,
        "histogram"
    );
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        e.value("lovebeat_build_info", &[("version", version)]),
        Some(1.0)
    );
}

#[test]
fn promtool_check_metrics_accepts_the_scrape() {
    require("promtool", "the Debian package prometheus");
    let d = Daemon::with_config("[[alarms]]\nname = \"all-m\"\npattern = \"m.*\"\n");
    d.send_udp("m.a.beat:1|c\nm.b.err:0|g\nm.c.warn:0|g\nm.d.autobeat:1|c\nx.beat:1|c\n");
    wait_services(&d, 5);
    let (_, text) = d.get("/metrics");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );
    assert!(text.contains("lovebeat_view_state{view=\"all-m\",state=\"error\"} 1\n"));
}

#[test]
fn the_series_cap_keeps_the_first_services_and_counts_the_rest() {
    let d = Daemon::with_config("[prometheus]\nmax_services = 2\n");
    d.send_udp("e.beat:1|c\nd.beat:1|c\nc.beat:1|c\nb.beat:1|c\na.beat:1|c\n");
    wait_services(&d, 5);
    let (_, text) = d.get("/metrics");
    let e = prom::parse(&text, Format::Text).unwrap();
    let shown: Vec<&str> = e
        .samples("lovebeat_service_last_beat_timestamp_seconds")
        .map(|s| s.labels["service"].as_str())
        .collect();
    assert_eq!(shown, ["a", "b"]);
    assert_eq!(
        e.value("lovebeat_series_omitted", &[("kind", "service")]),
        Some(3.0)
    );
    assert_eq!(e.value("lovebeat_services", &[("state", "ok")]), Some(5.0));
}

#[test]
fn a_scrape_of_100000_services_is_capped_and_does_not_stall_ingest() {
    // More than the default `[limits] services` (100 000): the probe too.
    let d = Daemon::with_config("[limits]\nservices = 200000\n");
    let lines: String = (0..100_000)
        .map(|i| format!("bulk.{i:06}.beat:1|c\n"))
        .collect();
    d.send_tcp(lines.as_bytes());
    eventually("100000 services", || {
        d.get("/status")
            .1
            .starts_with("num_ok 100000\n")
            .then_some(())
    });
    // Created (and so saved) before the scrapes: its beats then never wait
    // on the disk, only on the actor.
    assert_eq!(
        d.request("POST", "/api/services/bulk.probe", &[], "").0,
        200
    );
    let url = d.url("/metrics");
    let scraper = std::thread::spawn(move || {
        (0..2)
            .map(|_| http("GET", &url, &[], "").1)
            .collect::<Vec<String>>()
    });
    let mut slowest = Duration::ZERO;
    let mut beats = 0;
    while !scraper.is_finished() || beats == 0 {
        let start = Instant::now();
        let (code, _) = d.request("POST", "/api/services/bulk.probe", &[], "");
        assert_eq!(code, 200);
        slowest = slowest.max(start.elapsed());
        beats += 1;
        assert!(beats < 100_000, "the scrapes never finished");
    }
    let scrapes = scraper.join().unwrap();
    let e = prom::parse(&scrapes[1], Format::Text).unwrap();
    let shown = e.samples("lovebeat_service_last_beat_timestamp_seconds");
    assert_eq!(shown.count(), 10_000);
    let omitted = e.value("lovebeat_series_omitted", &[("kind", "service")]);
    assert_eq!(omitted, Some(90_001.0), "100000 and bulk.probe");
    // A stalled actor would have failed a beat above: every request of the
    // harness gives up after 10 s. No tighter bound: timings on a loaded
    // 2-core CI machine say nothing.
    eprintln!("slowest beat during the scrapes: {slowest:?}");
}

// ---------------------------------------------------------------- Nagios
