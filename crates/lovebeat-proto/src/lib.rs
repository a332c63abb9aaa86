//! The lovebeat line protocol: bytes in, [`Command`]s out.
//!
//! Heartbeats arrive as statsd/graphite-style lines over UDP and TCP,
//! `<name>.<action>:<value>|<type>[|@<rate>]`, or as DogStatsD service checks,
//! `_sc|<name>|<status>[|…][|m:<message>]`. This crate turns one line (or a
//! buffer of lines) into a [`Command`] or a [`Reject`] reason. It does no I/O,
//! never panics on any input and allocates nothing per line: commands borrow
//! their name and message from the input buffer.
//!
//! It also holds the two rules the HTTP API shares with the line protocol:
//! [`is_valid_name`] (with [`MAX_NAME`]) and [`parse_timeout_param`].
//!
//! It imports nothing of lovebeat's. `lovebeat-ingest` owns the sockets and
//! framing limits, `lovebeat-telemetry` the counters, and `lovebeat-core`
//! what a command *means*.
//!
//! # Layout
//!
//! - `lines`: [`parse_line`], [`lines`] and [`MAX_LINE`], the entry points
//!   and the framing rules.
//! - `grammar`: the statsd/graphite and DogStatsD service-check grammars in
//!   `nom`, the split into lines, the service-name and integer rules;
//!   `grammar::bytes`, the input type its parsers read.
//! - `command`: [`Command`], [`Action`], [`CheckStatus`].
//! - `reject`: [`Reject`], one variant per reason a line is refused.
//! - `timeout`: [`parse_timeout_param`] for the HTTP `timeout` parameter.
//!
//! # Example
//!
//! ```
//! use lovebeat_proto::{Action, Reject, lines};
//!
//! let mut it = lines(b"invoice.mailer.timeout:3600|g\r\nInvoice.beat:1|c\n");
//! let timeout = it.next().unwrap().unwrap();
//! assert_eq!((timeout.name, timeout.action), ("invoice.mailer", Action::ErrTimeout));
//! assert_eq!(timeout.value_ms(), 3_600_000);
//! assert_eq!(it.next(), Some(Err(Reject::BadName)));
//! assert_eq!(it.next(), None);
//! ```

mod command;
mod grammar;
mod lines;
mod reject;
mod timeout;

pub use command::{Action, CheckStatus, Command, value_to_ms};
pub use grammar::{MAX_NAME, is_valid_name};
pub use lines::{Lines, MAX_LINE, lines, parse_line};
pub use reject::Reject;
pub use timeout::{TimeoutParamError, parse_timeout_param};
