//! Entry points for the fuzz targets in `fuzz/`, not an API: the code that
//! takes bytes from the network, run without sockets, with the checks each
//! target makes. Kept here (and compiled and linted with the crate) so the
//! targets drive the very functions ingest and the HTTP API call.

use lovebeat_core::{Engine, EngineConfig};
use lovebeat_proto::{MAX_LINE, is_valid_name};

use crate::batch::Batch;
use crate::http::ApiError;
use crate::ingest::LineBuffer;

/// A TCP stream read in pieces of `piece` bytes and the same bytes as one
/// datagram, through the line buffer, the parser and an engine. Panics if
/// any rule of the line protocol breaks.
pub fn check_line_protocol(stream: &[u8], piece: usize) {
    let mut buffer = LineBuffer::new(MAX_LINE);
    let mut engine = Engine::new(EngineConfig::default(), 0);
    let mut complete = Vec::new();
    let mut rejected = 0usize;
    for chunk in stream.chunks(piece.max(1)) {
        if let Some(lines) = buffer.feed(chunk, |_| rejected += 1) {
            complete.extend_from_slice(&lines);
            apply(&mut engine, lines);
        }
        assert!(
            buffer.held() <= MAX_LINE + 1 + piece,
            "the line buffer holds more than a line and a read"
        );
    }
    if let Some(last) = buffer.finish() {
        complete.extend_from_slice(&last);
        apply(&mut engine, last);
    }
    if rejected == 0 {
        // Nothing was skipped as too long: the pieces joined are the stream.
        assert_eq!(complete, stream, "pieces lose or add bytes");
    }
    // The whole stream as one datagram parses and applies as well.
    apply(
        &mut Engine::new(EngineConfig::default(), 0),
        stream.to_vec(),
    );
}

fn apply(engine: &mut Engine, bytes: Vec<u8>) {
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let mut batch = Batch::parse(text, MAX_LINE, |_| {});
    for name in batch.names() {
        assert!(is_valid_name(name), "accepted the name {name:?}");
    }
    batch.apply(engine, 1_000);
    engine.tick(1_000_000);
}

/// A beat request as the HTTP API decodes it, applied to an engine.
/// Returns the one-line reason of a refused request. Panics if a refusal
/// is not one line or a decoded request does not apply.
pub fn check_beat_request(
    name: &str,
    query: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Result<(), String> {
    match crate::http::services::beat_batch(name, query, content_type, body) {
        Ok(mut batch) => {
            let mut engine = Engine::new(EngineConfig::default(), 0);
            batch.apply(&mut engine, 1_000);
            engine.tick(i64::MAX / 2);
            Ok(())
        }
        Err(error) => {
            assert!(
                matches!(error, ApiError::BadRequest(_)),
                "a bad beat request is a 400: {error:?}"
            );
            let reason = error.reason();
            assert!(
                !reason.is_empty() && !reason.contains(['\n', '\r']),
                "one-line reasons: {reason:?}"
            );
            Err(reason.to_owned())
        }
    }
}
