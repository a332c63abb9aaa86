//! Entry points for the fuzz targets in `fuzz/`: it owns the code that
//! runs bytes from the network through ingest's line buffer, the parser,
//! the HTTP API's beat decoding and an engine, without sockets, and the
//! checks each target makes. It imports the protocol, the model, the
//! engine, ingest and HTTP; it must never import the daemon, the monitors
//! or operations, and no production crate may import it.
//!
//! A crate of its own, outside the daemon, so no production crate carries
//! fuzzing code; compiled and linted with the workspace, and its tests
//! replay the committed corpora, so the targets drive the very functions
//! ingest and the HTTP API call.
//!
//! # Layout
//! * this file: one entry point per target ([`line()`], [`http_beat`],
//!   [`pattern`]), each with its checks; the corpus replays in `tests`.

use lovebeat_core::pattern::{PatternErrorKind, ViewTemplate};
use lovebeat_core::{Engine, EngineConfig};
use lovebeat_proto::{MAX_LINE, is_valid_name};

use lovebeat_engine::Batch;
use lovebeat_http::{ApiError, HttpLimits, beat_batch};
use lovebeat_ingest::LineBuffer;

/// The `line` target: the first byte picks where TCP reads end, the rest
/// is the stream (see `check_line_protocol`).
pub fn line(data: &[u8]) {
    if let Some((&cuts, stream)) = data.split_first() {
        check_line_protocol(stream, usize::from(cuts) + 1);
    }
}

/// A TCP stream read in pieces of `piece` bytes and the same bytes as one
/// datagram, through the line buffer, the parser and an engine. Panics if
/// any rule of the line protocol breaks.
pub(crate) fn check_line_protocol(stream: &[u8], piece: usize) {
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

/// The `http_beat` target: `name \n query \n content-type \n body`.
pub fn http_beat(data: &[u8]) {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let name = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let query = parts.next().map(String::from_utf8_lossy);
    let content_type = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let body = parts.next().unwrap_or_default();
    let _ = check_beat_request(&name, query.as_deref(), &content_type, body);
}

/// A beat request as the HTTP API decodes it, applied to an engine.
/// Returns the one-line reason of a refused request. Panics if a refusal
/// is not one line or a decoded request does not apply.
pub(crate) fn check_beat_request(
    name: &str,
    query: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Result<(), String> {
    match beat_batch(
        name,
        query,
        content_type,
        body,
        HttpLimits::default().message,
    ) {
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

/// The `pattern` target: `\n`-separated name template, pattern, includes,
/// then excludes from the first `\t`-started field; service names after a
/// `\0`. Checks: nothing panics; a glob is refused only for a repeated
/// `$var` or the size limit, never a regex syntax error (everything is
/// escaped); a glob without `*` or `$` matches exactly itself; a static
/// template always names the same view; errors are one line.
pub fn pattern(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (config, services) = text.split_once('\0').unwrap_or((text, ""));
    let mut fields = config.split('\n');
    let name = fields.next().unwrap_or("");
    let pattern = fields.next();
    let rest: Vec<&str> = fields.collect();
    let split = rest.iter().position(|f| f.starts_with('\t'));
    let (inc, exc) = rest.split_at(split.unwrap_or(rest.len()));
    let own = |v: &[&str]| -> Vec<String> {
        v.iter()
            .map(|s| s.trim_start_matches('\t').to_owned())
            .collect()
    };
    let (includes, excludes) = (own(inc), own(exc));
    let services: Vec<&str> = services.split('\n').take(16).collect();
    match ViewTemplate::glob(name, pattern, &includes, &excludes) {
        Ok(template) => check_views(&template, &services),
        Err(err) => {
            assert!(!err.to_string().contains('\n'), "one-line errors: {err}");
            match err.kind() {
                PatternErrorKind::DuplicateVariable(_) => {}
                PatternErrorKind::Regex(regex::Error::CompiledTooBig(_)) => {}
                other => panic!("a glob became a bad regex: {:?}: {other:?}", err.pattern()),
            }
        }
    }
    for glob in includes.iter().map(String::as_str).chain(pattern) {
        if glob.contains(['*', '$']) {
            continue;
        }
        if let Ok(t) = ViewTemplate::glob("v", Some(glob), &[], &[]) {
            assert_eq!(
                t.view_for(glob).as_deref(),
                Some("v"),
                "{glob:?} matches itself"
            );
        }
    }
    // The same text as a legacy regex: may be refused, never panics.
    if let Ok(template) = ViewTemplate::regex(name, pattern.unwrap_or("")) {
        check_views(&template, &services);
    }
}

fn check_views(template: &ViewTemplate, services: &[&str]) {
    for service in services {
        let view = template.view_for(service);
        if let (Some(view), Some(fixed)) = (&view, template.static_name()) {
            assert_eq!(view, fixed, "a static template names one view");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every committed input of a target (its seed corpus, and the inputs
    /// of fixed findings, kept there as regressions) still passes.
    fn replay(target: &str, check: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus")
            .join(target);
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            check(&std::fs::read(&path).unwrap());
            count += 1;
        }
        assert!(count > 0, "no inputs in {}", dir.display());
    }

    #[test]
    fn the_line_corpus_replays() {
        replay("line", super::line);
    }

    #[test]
    fn the_http_beat_corpus_replays() {
        replay("http_beat", super::http_beat);
    }

    #[test]
    fn the_pattern_corpus_replays() {
        replay("pattern", super::pattern);
    }
}
