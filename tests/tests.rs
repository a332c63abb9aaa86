//! End-to-end tests: each module starts the real `lovebeat` binary on free
//! loopback ports and checks it over real sockets.
//!
//! * `daemon`: beats over UDP, TCP and HTTP, states, `/status`, bad input,
//!   configuration and the command line.
//! * `alert`: mail, webhook, Slack and script alerts against real
//!   receivers; retries, giving up, `test-alert`.

mod util;

mod alert;
mod daemon;
