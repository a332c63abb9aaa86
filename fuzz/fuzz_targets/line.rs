//! The line protocol as ingest meets it: any bytes, cut into TCP reads at
//! any points, through the line buffer, the parser and the engine.
//!
//! Checks: nothing panics (the parser promises it for any input, and ingest
//! turns every accepted line into an engine command with `expect`s that
//! trust the parser); every accepted name is a valid service name; the
//! buffer never holds more than one line limit; the same bytes give the
//! same commands whether read whole (UDP) or in pieces (TCP).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lovebeat_server::fuzzing;

fuzz_target!(|data: &[u8]| {
    // The first byte picks where TCP reads end; the rest is the stream.
    let Some((&cuts, stream)) = data.split_first() else {
        return;
    };
    fuzzing::check_line_protocol(stream, usize::from(cuts) + 1);
});
