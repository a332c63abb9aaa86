//! End-to-end tests: each module starts the real `lovebeat` binary on free
//! loopback ports and checks it over real sockets.
//!
//! * `daemon`: beats over UDP, TCP and HTTP, states, `/status`, bad input,
//!   configuration and the command line.
//! * `config`: config files that cannot be read or never end, and Go
//!   lovebeat's config forms.
//! * `startup`: the first events of a start reach the event and state logs.
//! * `alert`: mail, webhook, Slack and script alerts against real
//!   receivers; retries, giving up, `test-alert`.
//! * `channels`: PagerDuty, Opsgenie, Teams, Discord, Telegram, ntfy,
//!   Gotify, Matrix, Pushover and the templated webhook against a receiver
//!   that judges each request by the service's API; Alertmanager against
//!   real `alertmanager` processes.
//! * `ops`: operating it: `/metrics` (strict parse, promtool), the Nagios
//!   plugin and check_http, the example clients, statsd out, the event log,
//!   two peered daemons, `lovebeat services …`, the systemd unit.
//! * `hostile`: floods, endless lines, idle connections, slow and large
//!   HTTP requests, limits, tokens, origins, allow lists, a full or
//!   read-only disk under the store (docs/RELIABILITY.md).
//! * `store`: the database across restarts and `kill -9`, a second
//!   instance, a damaged store, Go database import.
//! * `s3`: the S3 copy against moto's S3 server: uploads, a restore into
//!   an empty lovebeat, an outage, an unreachable or damaged copy.
//! * `policy`: alert hold-downs, reminders and acknowledgements against a
//!   real webhook receiver, across `kill -9`.
//! * `ui`: the dashboard in a real headless Chromium (needs `chromium` and
//!   `chromium-driver`), and the `/ws` websocket.
//! * `schedules`: services on a cron or `OnCalendar` schedule, declared,
//!   set over HTTP and the CLI, late after their grace, kept over a crash.
//! * `seeds`: what came from the other seed monitors: explicit failure,
//!   statuscope's README with real curl, active HTTP/HTTPS/TCP checks
//!   against local servers, the status page (also in Chromium).

mod browser;
mod util;

mod alert;
mod channels;
mod config;
mod daemon;
mod hostile;
mod ops;
mod policy;
mod s3;
mod schedules;
mod seeds;
mod startup;
mod store;
mod ui;
