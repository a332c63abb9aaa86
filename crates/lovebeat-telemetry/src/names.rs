//! Every metric name lovebeat exposes on `/metrics`, in one place: code
//! names metrics by these consts, never by string literals (STYLE item 9).
//!
//! Counter families are named without `_total`, as OpenMetrics names them;
//! their samples (and their family in the Prometheus text format, see
//! `text::downgrade`) carry the suffix: `BEATS` is scraped as
//! `lovebeat_beats_total`.

// Ingest.

/// Counter: accepted beats, all protocols.
pub(crate) const BEATS: &str = "lovebeat_beats";
/// Counter `{reason}`: protocol lines rejected, by reason.
pub(crate) const LINES_REJECTED: &str = "lovebeat_lines_rejected";
/// Counter `{protocol}`: commands ingest handed to the engine.
pub(crate) const INGEST_LINES: &str = "lovebeat_ingest_lines";
/// Counter `{protocol}`: commands dropped because the engine queue was full.
pub(crate) const INGEST_DROPPED: &str = "lovebeat_ingest_dropped";
/// Counter `{protocol="udp"}`: datagrams the kernel dropped before
/// lovebeat read them (its receive buffer was full).
pub(crate) const INGEST_KERNEL_DROPPED: &str = "lovebeat_ingest_kernel_dropped";
/// Gauge: batches waiting in the engine queue.
pub const QUEUE_DEPTH: &str = "lovebeat_queue_depth";
/// Gauge: batches the engine queue holds.
pub const QUEUE_CAPACITY: &str = "lovebeat_queue_capacity";

// Limits and access control.

/// Counter `{limit}`: connections, requests and new services refused, and
/// connections closed, by the `[limits]` key that did it.
pub(crate) const LIMITED: &str = "lovebeat_limited";
/// Counter `{protocol,reason}`: datagrams, connections and requests refused
/// by `[udp] allow`, `[tcp] allow`, `[http]` tokens or the websocket
/// origin check.
pub(crate) const DENIED: &str = "lovebeat_denied";
/// Counter: HTTP requests answered 400 Bad Request (a malformed request
/// head, a bad parameter or body).
pub(crate) const HTTP_BAD_REQUESTS: &str = "lovebeat_http_bad_requests";
/// Gauge: open line-protocol TCP connections.
pub(crate) const TCP_CONNECTIONS: &str = "lovebeat_tcp_connections";
/// Gauge: open websocket clients.
pub(crate) const WEBSOCKET_CLIENTS: &str = "lovebeat_websocket_clients";

// The model, from the published snapshot.

/// Gauge `{state}`: services by state.
pub const SERVICES: &str = "lovebeat_services";
/// Gauge `{state}`: views by state.
pub const VIEWS: &str = "lovebeat_views";
/// Gauge `{service,state}`: 1 for the service's state, 0 for the others.
pub const SERVICE_STATE: &str = "lovebeat_service_state";
/// Gauge `{service}`: the last beat, in seconds since the epoch.
pub const SERVICE_LAST_BEAT: &str = "lovebeat_service_last_beat_timestamp_seconds";
/// Gauge `{service}`: how long the service's last finished run took.
pub const SERVICE_LAST_RUN_DURATION: &str = "lovebeat_service_last_run_duration_seconds";
/// Gauge `{service,kind}`: the warn/err timeout in seconds, AUTO resolved.
pub const SERVICE_TIMEOUT: &str = "lovebeat_service_timeout_seconds";
/// Gauge `{view,state}`: 1 for the view's state, 0 for the others.
pub const VIEW_STATE: &str = "lovebeat_view_state";
/// Gauge `{kind}`: services or views left out of the per-service and
/// per-view series by `[prometheus] max_services`.
pub const SERIES_OMITTED: &str = "lovebeat_series_omitted";

// Active checks (`[[checks]]`), encoded by the check board's collector.

/// Gauge `{check}`: 1 if the check's last run passed, 0 if it failed.
pub const CHECK_UP: &str = "lovebeat_check_up";
/// Gauge `{check}`: how long the check's last run took, in seconds.
pub const CHECK_LATENCY: &str = "lovebeat_check_latency_seconds";
/// Counter `{check,result}`: runs of each check, `pass` or `fail`.
pub const CHECK_RUNS: &str = "lovebeat_check_runs";

/// Gauge `{application,team}`: statuscope's check state of each service
/// with a push token, 1 ok, 2 outdated, 3 failed (its alerting rules use it).
pub const STATUSCOPE_CHECK_OK: &str = "statuscope_check_ok";

// Self-monitoring outputs.

/// Counter `{subscriber}`: rounds of changes a subscriber fell behind on
/// and never saw.
pub(crate) const EVENTS_LAGGED: &str = "lovebeat_events_lagged";
/// Counter: lines appended to the event log.
pub(crate) const EVENTLOG_LINES: &str = "lovebeat_eventlog_lines";
/// Counter: failures to open or write the event log.
pub(crate) const EVENTLOG_ERRORS: &str = "lovebeat_eventlog_errors";
/// Counter: times the event log was reopened (SIGHUP or rotation).
pub(crate) const EVENTLOG_REOPENS: &str = "lovebeat_eventlog_reopens";
/// Counter: datagrams sent to the statsd server.
pub(crate) const STATSD_DATAGRAMS: &str = "lovebeat_statsd_datagrams";
/// Counter: datagrams that could not be sent to the statsd server.
pub(crate) const STATSD_ERRORS: &str = "lovebeat_statsd_errors";
/// Counter `{metric,result}`: autobeats to `[[notify]]` peers.
pub(crate) const PEER_BEATS: &str = "lovebeat_peer_beats";

// Persistence and alerts.

/// Histogram: how long each periodic store flush took, in seconds.
pub(crate) const STORE_FLUSH_DURATION: &str = "lovebeat_store_flush_duration_seconds";
/// Counter: successful database saves.
pub(crate) const STORE_SAVES: &str = "lovebeat_store_saves";
/// Counter: failed database saves (each is retried).
pub(crate) const STORE_SAVE_ERRORS: &str = "lovebeat_store_save_errors";
/// Gauge: 1 while the store saves, 0 from a failed save until the next
/// one that succeeds (lovebeat keeps running from memory meanwhile).
pub(crate) const STORE_UP: &str = "lovebeat_store_up";
/// Gauge: every change applied before this time is on disk.
pub(crate) const STORE_SAVED_TIMESTAMP: &str = "lovebeat_store_saved_timestamp_seconds";
/// Counter: snapshots of the database uploaded to the S3 copy.
pub(crate) const S3_UPLOADS: &str = "lovebeat_s3_uploads";
/// Counter: failed uploads to the S3 copy (each is retried).
pub(crate) const S3_UPLOAD_ERRORS: &str = "lovebeat_s3_upload_errors";
/// Gauge: the S3 copy holds every change saved before this time.
pub(crate) const S3_UPLOADED_TIMESTAMP: &str = "lovebeat_s3_uploaded_timestamp_seconds";
/// Counter `{kind,result}`: alert deliveries by back-end kind and result,
/// encoded by the alert outbox's collector (`Metrics::add_collector`).
pub const ALERTS: &str = "lovebeat_alerts";
/// Gauge `{kind}`: alert deliveries waiting or being attempted.
pub const ALERTS_PENDING: &str = "lovebeat_alerts_pending";

// The process.

/// Gauge `{version}`: always 1.
pub(crate) const BUILD_INFO: &str = "lovebeat_build_info";
/// Counter: user and system CPU time, in seconds.
pub(crate) const PROCESS_CPU: &str = "process_cpu_seconds";
/// Gauge: resident memory in bytes.
pub(crate) const PROCESS_RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
/// Gauge: virtual memory in bytes.
pub(crate) const PROCESS_VIRTUAL_MEMORY: &str = "process_virtual_memory_bytes";
/// Gauge: open file descriptors.
pub(crate) const PROCESS_OPEN_FDS: &str = "process_open_fds";
/// Gauge: the file descriptor limit.
pub(crate) const PROCESS_MAX_FDS: &str = "process_max_fds";
/// Gauge: process start, in seconds since the epoch.
pub(crate) const PROCESS_START_TIME: &str = "process_start_time_seconds";
/// Gauge: OS threads.
pub(crate) const PROCESS_THREADS: &str = "process_threads";
