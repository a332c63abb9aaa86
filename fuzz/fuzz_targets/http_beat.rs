//! `POST /api/services/{name}` as the API decodes it: the name, the query,
//! the content type and the body (form or JSON), into the batch it applies.
//!
//! Input: `name \n query \n content-type \n body`. Checks (in
//! `lovebeat_server::fuzzing::check_beat_request`): nothing panics; a
//! refused request is a 400 with a one-line reason; an accepted one applies
//! to an engine (its timeouts are ones the engine takes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lovebeat_server::fuzzing;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let name = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let query = parts.next().map(String::from_utf8_lossy);
    let content_type = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let body = parts.next().unwrap_or_default();
    let _ = fuzzing::check_beat_request(&name, query.as_deref(), &content_type, body);
});
