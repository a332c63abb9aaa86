//! The line protocol as ingest meets it: any bytes, cut into TCP reads at
//! any points, through the line buffer, the parser and the engine.
//!
//! Checks (`lovebeat_fuzzing::line`): nothing panics (the parser
//! promises it for any input, and ingest turns every accepted line into an
//! engine command with `expect`s that trust the parser); every accepted
//! name is a valid service name; the buffer never holds more than a line
//! and a read; the pieces joined are the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lovebeat_fuzzing::line(data));
