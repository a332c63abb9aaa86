//! Whole configurations: the defaults, lovebeat.toml, every key at
//! once, problems across sections.

use std::collections::BTreeMap;

use lovebeat_alert::{Entry, MailgunSettings, ViewPolicy};
use lovebeat_core::auto::Algorithm;
use lovebeat_core::pattern::ViewTemplate;
use lovebeat_http::Tokens;
use lovebeat_ingest::Allow;

use super::*;
use crate::testing::*;

#[test]
fn defaults() {
    let config = Config::default();
    assert_eq!(config.alert.public_url, "http://lovebeat.example.com/");
    assert_eq!(config.database.filename, PathBuf::from("lovebeat.db"));
    assert_eq!(config.database.interval, Duration::from_secs(1));
    assert_eq!(config.database.remote_s3, None);
    assert_eq!(config.udp_listen, ListenAddr::Any(8127));
    assert_eq!(config.tcp_listen, ListenAddr::Any(8127));
    assert_eq!(config.http_listen, ListenAddr::Any(8080));
    assert_eq!(config.alert.mail.server, "localhost:25");
    assert_eq!(config.alert.mail.from, "lovebeat@example.com");
    assert_eq!(config.alert.mailgun, None);
    assert_eq!(config.statsd, None);
    let statsd = parse("[metrics]\nserver = \"localhost:8125\"").statsd;
    assert_eq!(statsd.unwrap().prefix, "lovebeat");
    assert_eq!(config.eventlog, None);
    let eventlog = parse("[eventlog]\npath = \"events.json\"").eventlog;
    assert_eq!(eventlog.unwrap().mode, 0o644);
    assert!(
        config.peers.urls.is_empty()
            && config.engine.views.is_empty()
            && config.alert.entries.is_empty()
    );
    assert_eq!(config.engine.algorithm, Algorithm::Median);
    assert_eq!(config.engine.history, 100);
    assert_eq!(config.alert.mail.tls, MailTls::None);
    assert_eq!(config.alert.timeout, Duration::from_secs(10));
    assert_eq!(
        config.alert.retry.give_up_after,
        Duration::from_secs(86_400)
    );
    assert_eq!(config.peers.interval, Duration::from_secs(60));
    assert_eq!(config.peers.host, "");
    assert_eq!(config.series.max_services, 10_000);
    assert!(
        config.http_access.tokens.write.is_empty() && config.http_access.tokens.read.is_empty()
    );
    assert!(config.ingest.udp_allow.0.is_empty() && config.ingest.tcp_allow.0.is_empty());
    assert_eq!(config.engine.max_services, 100_000);
    assert_eq!(
        config.http_limits.tokens, 100_000,
        "one push token a service"
    );
    assert_eq!(config.http_limits.message, 1024);
    assert_eq!(config.ingest.tcp_idle_timeout, None);
}

#[test]
fn empty_file_is_the_defaults() {
    assert_eq!(parse(""), Config::default());
    assert_eq!(load(&[]).unwrap(), Config::default());
}

#[test]
fn lovebeat_toml_is_the_defaults() {
    let config = from_str(include_str!("../../../lovebeat.toml"), "lovebeat.toml");
    assert_eq!(config.unwrap(), Config::default());
}

/// Uncomments the `# [table]`, `# key = value` and `# # comment` lines.
fn uncomment_examples(text: &str) -> String {
    let is_code = |rest: &str| {
        rest.starts_with('[')
            || rest.starts_with('#')
            || rest
                .split_once(" = ")
                .is_some_and(|(key, _)| key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    };
    text.lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if is_code(rest) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn lovebeat_toml_examples_are_valid() {
    let text = uncomment_examples(include_str!("../../../lovebeat.toml"));
    let config = from_str(&text, "lovebeat.toml").unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(config.engine.views.len(), 2);
    assert_eq!(config.engine.views[0].name_template(), "server-$name");
    assert_eq!(config.engine.views[1].name_template(), "web");
    assert_eq!(config.alert.views[0], strings(&["mail-ops"]));
    let alert = &config.alert.entries["mail-ops"];
    assert_eq!(alert.slack_channel.as_deref(), Some("#ops"));
    assert!(alert.mail.is_some() && alert.webhook.is_some() && alert.script.is_some());
    let oncall = &config.alert.entries["oncall"];
    assert_eq!(oncall.channels.len(), lovebeat_alert::Channel::ALL.len());
    assert!(oncall.webhook_body.is_some());
    assert_eq!(config.peers.urls, strings(&["http://other-host:8080"]));
    assert_eq!(config.services[0].schedule.zone(), "Europe/Berlin");
}

#[test]
fn every_key_is_parsed() {
    let config = parse(
        r##"
        public_url = "https://beats.example.org"
        [[services]]
        name = "backup.nightly"
        schedule = "0 2 * * 1-5"
        tz = "Europe/Berlin"
        grace = "30m"
        [[services]]
        name = "report.weekly"
        schedule = "Mon 08:00"
        [database]
        filename = "/var/lib/lovebeat/state.db"
        interval = 30
        startup_grace = 120
        remote_s3_url = "s3://bucket/lovebeat.db"
        remote_s3_region = "eu-west-1"
        remote_s3_endpoint = "http://127.0.0.1:9000/"
        remote_s3_access_key_id = "AKID"
        remote_s3_secret_access_key = "secret"
        remote_s3_interval = 300
        [udp]
        listen = "127.0.0.1:9127"
        allow = ["10.0.0.0/8", "::1"]
        receive_buffer = 1048576
        [tcp]
        listen = "[::1]:9128"
        allow = ["192.0.2.7"]
        [http]
        listen = "localhost:0"
        base_path = "/monitoring/lovebeat/"
        write_tokens = ["0123456789abcdef-w"]
        read_tokens = ["0123456789abcdef-r"]
        public_status = false
        public_metrics = true
        allowed_origins = ["https://ops.example.org/"]
        hosts = ["beats.example.org"]
        [limits]
        line_length = 4096
        tcp_connections = 50
        tcp_connections_per_source = 7
        tcp_idle_timeout = 300
        http_connections = 60
        http_connections_per_source = 8
        http_body = 2048
        http_read_timeout = 5
        http_write_timeout = 6
        http_answer_memory = 2097152
        websockets = 3
        services = 0
        queue = 16
        message_length = 512
        [mail]
        server = "smtp.example.org:587"
        from = "beats@example.org"
        tls = "starttls"
        user = "beats"
        password = "secret"
        [mailgun]
        domain = "mg.example.org"
        from = "mg@example.org"
        api_key = "key-123"
        api_url = "https://api.eu.mailgun.net/v3"
        [delivery]
        timeout = 5
        retry_first = 2
        retry_max = 60
        give_up_after = 3600
        [slack]
        webhook_url = "https://hooks.slack.com/services/T/B/X"
        [metrics]
        server = "localhost:8125"
        prefix = "lb"
        [eventlog]
        path = "/var/log/lovebeat/events.json"
        mode = 600
        [auto]
        algorithm = "adaptive"
        history = 20
        [[notify]]
        lovebeat = "http://peer:8080/"
        [peers]
        interval = 15
        host = "alpha"
        [prometheus]
        max_services = 0
        [[alarms]]
        name = "server-$name"
        pattern = "app.$name.*"
        excludes = ["app.old.*"]
        alerts = ["ops"]
        for = "5m"
        repeat = "2h"
        [[views]]
        name = "web"
        regexp = "web\\."
        alerts = ["ops"]
        for = "90s"
        [alerts.ops]
        mail = "a@x.com,b@y.com"
        webhook = "http://hook.example.org/"
        slack_channel = "#ops"
        script = "/bin/true"
        webhook_headers = { Authorization = "Bearer x" }
        on_ok = "promote"
        on_error = "demote"
        warnings = true
        repeat = "1h"
        [alerts.quiet]
        mail = ""
        "##,
    );
    let expected = Config {
        database: Database {
            filename: PathBuf::from("/var/lib/lovebeat/state.db"),
            interval: Duration::from_secs(30),
            startup_grace: Duration::from_secs(120),
            remote_s3: Some(S3Settings {
                url: "s3://bucket/lovebeat.db".to_owned(),
                region: "eu-west-1".to_owned(),
                endpoint: Some("http://127.0.0.1:9000".to_owned()),
                access_key_id: Some("AKID".to_owned()),
                secret_access_key: Some("secret".to_owned()),
                interval: Duration::from_secs(300),
            }),
        },
        udp_listen: "127.0.0.1:9127".parse().unwrap(),
        tcp_listen: "[::1]:9128".parse().unwrap(),
        http_listen: "127.0.0.1:0".parse().unwrap(),
        base_path: "/monitoring/lovebeat".to_owned(),
        ingest: lovebeat_ingest::Settings {
            line_length: 4096,
            tcp_connections: 50,
            tcp_connections_per_source: 7,
            tcp_idle_timeout: Some(Duration::from_secs(300)),
            udp_receive_buffer: 1 << 20,
            udp_allow: Allow(vec![
                "10.0.0.0/8".parse().unwrap(),
                "::1/128".parse().unwrap(),
            ]),
            tcp_allow: Allow(vec!["192.0.2.7/32".parse().unwrap()]),
        },
        http_access: HttpAccess {
            tokens: Tokens {
                write: strings(&["0123456789abcdef-w"]),
                read: strings(&["0123456789abcdef-r"]),
                public_status: false,
                public_metrics: true,
            },
            allowed_origins: strings(&["https://ops.example.org"]),
            hosts: strings(&["beats.example.org"]),
        },
        http_limits: HttpLimits {
            connections: 60,
            connections_per_source: 8,
            write_timeout: Duration::from_secs(6),
            answer_memory: 2 << 20,
            body: 2048,
            read_timeout: Duration::from_secs(5),
            websockets: 3,
            message: 512,
            tokens: usize::MAX,
            ..HttpLimits::default()
        },
        queue: 16,
        engine: EngineConfig {
            algorithm: Algorithm::Adaptive,
            history: 20,
            views: vec![
                ViewTemplate::glob(
                    "server-$name",
                    Some("app.$name.*"),
                    &[],
                    &strings(&["app.old.*"]),
                )
                .unwrap(),
                ViewTemplate::regex("web", r"web\.").unwrap(),
            ],
            max_services: usize::MAX,
            utc_offset_min: 0,
        },
        alert: lovebeat_alert::Settings {
            entries: BTreeMap::from([
                (
                    "ops".to_owned(),
                    Entry {
                        mail: Some("a@x.com,b@y.com".to_owned()),
                        webhook: Some("http://hook.example.org/".to_owned()),
                        slack_channel: Some("#ops".to_owned()),
                        script: Some("/bin/true".to_owned()),
                        webhook_headers: BTreeMap::from([(
                            "Authorization".to_owned(),
                            "Bearer x".to_owned(),
                        )]),
                        on_ok: Some("promote".to_owned()),
                        on_error: Some("demote".to_owned()),
                        warnings: true,
                        repeat: Some(Duration::from_secs(3600)),
                        ..Entry::default()
                    },
                ),
                ("quiet".to_owned(), Entry::default()),
            ]),
            views: vec![strings(&["ops"]), strings(&["ops"])],
            policies: vec![
                ViewPolicy {
                    hold: Duration::from_secs(300),
                    repeat: Some(Duration::from_secs(7200)),
                },
                ViewPolicy {
                    hold: Duration::from_secs(90),
                    repeat: None,
                },
            ],
            mail: MailSettings {
                server: "smtp.example.org:587".to_owned(),
                from: "beats@example.org".to_owned(),
                tls: MailTls::StartTls,
                user: Some("beats".to_owned()),
                password: Some("secret".to_owned()),
            },
            mailgun: Some(MailgunSettings {
                domain: "mg.example.org".to_owned(),
                from: "mg@example.org".to_owned(),
                api_key: "key-123".to_owned(),
                api_url: "https://api.eu.mailgun.net/v3".to_owned(),
            }),
            slack_webhook_url: "https://hooks.slack.com/services/T/B/X".to_owned(),
            public_url: "https://beats.example.org/".to_owned(),
            view_teams: vec![None, None],
            retry: RetryPolicy {
                first: Duration::from_secs(2),
                max: Duration::from_secs(60),
                give_up_after: Duration::from_secs(3600),
            },
            timeout: Duration::from_secs(5),
        },
        statsd: Some(StatsdSettings {
            server: "localhost:8125".to_owned(),
            prefix: "lb".to_owned(),
        }),
        eventlog: Some(EventLogSettings {
            path: PathBuf::from("/var/log/lovebeat/events.json"),
            mode: 0o600,
        }),
        peers: PeerSettings {
            urls: strings(&["http://peer:8080"]),
            host: "alpha".to_owned(),
            interval: Duration::from_secs(15),
        },
        series: SeriesSettings { max_services: 0 },
        checks: Vec::new(),
        probes: Probes::default(),
        status_page: crate::status_page::default_status_page(),
        services: vec![
            ServiceDef {
                name: "backup.nightly".to_owned(),
                schedule: schedule("0 2 * * 1-5", Some("Europe/Berlin"), 1800),
            },
            ServiceDef {
                name: "report.weekly".to_owned(),
                schedule: schedule("Mon 08:00", None, lovebeat_core::Schedule::DEFAULT_GRACE_S),
            },
        ],
        warnings: Vec::new(),
    };
    // S3Settings' Debug, which the comparison uses, leaves out the keys.
    assert_eq!(config.database.remote_s3, expected.database.remote_s3);
    assert_eq!(config, expected);
}

fn schedule(
    expression: &str,
    zone: Option<&str>,
    grace_s: u64,
) -> std::sync::Arc<lovebeat_core::Schedule> {
    let schedule = lovebeat_core::Schedule::new(expression, zone, grace_s * 1000).unwrap();
    std::sync::Arc::new(schedule)
}

#[test]
fn bad_services_say_what_to_write() {
    let text = "[[services]]\nname = \"a\"\nschedule = \"0 25 * * *\"\n\
                [[services]]\nname = \"b\"\nschedule = \"daily\"\ntz = \"Mars/Base\"\n\
                [[services]]\nname = \"c\"\n\
                [[services]]\nname = \"d\"\nschedule = \"daily\"\ngrace = \"soon\"\n\
                [[services]]\nname = \"e\"\nschedule = \"daily\"\n\
                [[services]]\nname = \"e\"\nschedule = \"weekly\"\n";
    let err = from_str(text, "f").unwrap_err();
    let messages: Vec<String> = err.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(messages.len(), 5, "{messages:#?}");
    assert!(messages[0].starts_with("f:3:") && messages[0].contains("bad cron expression"));
    assert!(messages[1].contains("IANA name"));
    assert!(messages[2].contains("missing: give schedule"));
    assert!(messages[3].contains("must be a duration"));
    assert!(messages[4].contains("already declared"));
}

#[test]
fn every_bad_value_is_reported_in_line_order() {
    let text = "[udp]\nlisten = \"x\"\n[auto]\nalgorithm = \"x\"\nhistory = 0\n\
                [[alarms]]\nname = \"a\"\npattern = \"$n.$n\"\n";
    let err = from_str(text, "f").unwrap_err();
    let lines: Vec<_> = err.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [Some(2), Some(4), Some(5), Some(8)]);
    assert_eq!(err.to_string().lines().count(), 4);
    assert_eq!(err.problems[1].key.as_deref(), Some("[auto] algorithm"));
}

#[test]
fn a_bad_hold_down_or_repeat_names_its_line_and_key_and_what_to_write() {
    let text = "[alerts.ops]\nrepeat = \"soon\"\n\
                [[alarms]]\nname = \"a\"\npattern = \"a.*\"\nfor = \"0s\"\n\
                [[views]]\nname = \"w\"\nregexp = \"w\"\nrepeat = \"-1h\"\n";
    let err = from_str(text, "f").unwrap_err();
    let found: Vec<_> = (err.problems.iter())
        .map(|p| (p.line, p.key.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        found,
        [
            (Some(2), "[alerts.ops] repeat".to_owned()),
            (Some(6), "[[alarms]] for".to_owned()),
            (Some(10), "[[views]] repeat".to_owned()),
        ]
    );
    assert!(err.to_string().contains("like \"90s\", \"5m\""), "{err}");
}

#[test]
fn interval_and_history_bounds() {
    assert_eq!(
        error("[database]\ninterval = 0"),
        "/etc/lovebeat.cfg:2: [database] interval: \
         must be a whole number of seconds, at least 1 (got 0)"
    );
    assert_eq!(parse("[auto]\nhistory = 1").engine.history, 1);
    assert_eq!(parse("[auto]\nhistory = 10000").engine.history, 10_000);
    assert_eq!(
        error("[auto]\nhistory = 10001"),
        "/etc/lovebeat.cfg:2: [auto] history: must be from 1 to 10000 (got 10001)"
    );
    assert!(error("[auto]\nhistory = 0").contains("(got 0)"));
}

#[test]
fn empty_strings_turn_features_off() {
    let config = parse("[metrics]\nserver = \"\"\n[eventlog]\npath = \"\"\n");
    assert_eq!(config.statsd, None);
    assert_eq!(config.eventlog, None);
    let message = error("[metrics]\nserver = \"statsd\"");
    assert_eq!(
        message,
        "/etc/lovebeat.cfg:2: [metrics] server: invalid address \"statsd\": expected HOST:PORT"
    );
    assert!(error("[mail]\nserver = \"smtp:x\"").contains("[mail] server"));
    assert!(error("[database]\nfilename = \"\"").contains("must not be empty"));
}

#[test]
fn bad_networks_tokens_origins_and_limits_name_their_key() {
    assert_eq!(
        error("[udp]\nallow = [\"10.0.0.0/33\"]"),
        "/etc/lovebeat.cfg:2: [udp] allow: invalid network \"10.0.0.0/33\": expected an \
         address or ADDRESS/PREFIX, e.g. \"10.0.0.0/8\" or \"::1\""
    );
    let short = error("[http]\nwrite_tokens = [\"0123456789abcdef\", \"short\"]");
    assert!(short.starts_with("/etc/lovebeat.cfg:2: [http] write_tokens: token 2 must be"));
    let origin = error("[http]\nallowed_origins = [\"ops.example.org\"]");
    assert!(
        origin.contains("[http] allowed_origins: invalid origin"),
        "{origin}"
    );
    assert_eq!(
        error("[limits]\nline_length = 8"),
        "/etc/lovebeat.cfg:2: [limits] line_length: must be from 16 to 65536 (got 8)"
    );
    assert!(error("[limits]\nhttp_read_timeout = 0").contains("at least 1"));
    assert!(error("[limits]\ntcp_idle_timeout = -1").contains("0 or more"));
}

#[test]
fn s3_and_mailgun_need_their_main_keys() {
    let config = parse("[database]\nremote_s3_url = \"s3://b/p\"\n[mailgun]\napi_key = \"k\"\n");
    assert_eq!(config.database.remote_s3, None);
    assert_eq!(config.alert.mailgun, None);
    let config = parse("[database]\nremote_s3_region = \"eu-west-1\"\n[mailgun]\ndomain = \"d\"\n");
    assert_eq!(config.database.remote_s3, None);
    let mailgun = config.alert.mailgun.unwrap();
    assert_eq!((mailgun.domain.as_str(), mailgun.from.as_str()), ("d", ""));
}
