//! The `[[alarms]]` glob and `$var` compiler and the legacy `[[views]]`
//! regexes, as config entries and service names meet them.
//!
//! Input and checks: `lovebeat_fuzzing::pattern`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lovebeat_fuzzing::pattern(data));
