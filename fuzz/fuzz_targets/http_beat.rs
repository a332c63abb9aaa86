//! `POST /api/services/{name}` as the API decodes it: the name, the query,
//! the content type and the body (form or JSON), into the batch it applies.
//!
//! Input: `name \n query \n content-type \n body`. Checks
//! (`lovebeat_fuzzing::http_beat`): nothing panics; a refused
//! request is a 400 with a one-line reason; an accepted one applies to an
//! engine (its timeouts are ones the engine takes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lovebeat_fuzzing::http_beat(data));
