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
//! [`is_valid_name`] and [`parse_timeout_param`].
//!
//! The server crate owns sockets, framing limits and metrics; `core` owns what
//! a command *means*.
//!
//! # Layout
//!
//! - `lines`: [`parse_line`], [`lines`] and [`MAX_LINE`], the entry points.
//! - `metric`: the statsd grammar and the service-name rule (hot path, plain bytes).
//! - `check`: the DogStatsD service-check grammar (written with `nom`).
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

mod check;
mod command;
mod lines;
mod metric;
mod reject;
mod timeout;

pub use command::{Action, CheckStatus, Command, value_to_ms};
pub use lines::{Lines, MAX_LINE, lines, parse_line};
pub use metric::is_valid_name;
pub use reject::Reject;
pub use timeout::{TimeoutParamError, parse_timeout_param};
