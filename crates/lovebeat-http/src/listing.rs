//! `GET /api/services` as a stream: the same bytes [`pretty`] writes for
//! `{"services": [...], "now": ...}`, made a chunk of about [`CHUNK`] bytes
//! at a time as the client reads them.
//!
//! With 20 000 services the list is about 10 MB. Made whole, each client
//! that reads it slowly held its own copy until done; streamed, a client
//! holds the snapshot (shared with every other reader) and one chunk, and
//! the next chunk is made only once hyper has written the last one.
//! `services::list` answers with it.

use std::convert::Infallible;
use std::ops::Bound;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use lovebeat_core::json::ServiceJson;
use lovebeat_engine::Snapshot;
use serde::Serialize;

#[cfg(doc)]
use crate::render::pretty;

/// About how many bytes a chunk holds (a service's JSON may overrun it).
const CHUNK: usize = 64 * 1024;

/// The body of `GET /api/services` for `snapshot`, with `now` as its `now`.
pub(crate) fn body(snapshot: Arc<Snapshot>, now: i64) -> Body {
    Body::from_stream(futures_util::stream::iter(Chunks::new(snapshot, now)))
}

/// The list's chunks, in order; the last one closes the document.
struct Chunks {
    snapshot: Arc<Snapshot>,
    now: i64,
    /// The last service written; None before the first.
    after: Option<Arc<str>>,
    done: bool,
}

impl Chunks {
    fn new(snapshot: Arc<Snapshot>, now: i64) -> Chunks {
        Chunks {
            snapshot,
            now,
            after: None,
            done: false,
        }
    }

    /// Services after the last one written, until the chunk is full;
    /// whether the list ended.
    fn fill(&mut self, out: &mut Vec<u8>) -> bool {
        let snapshot = self.snapshot.clone();
        let rest = match self.after.as_deref() {
            None => snapshot.services.range::<_, str>(..),
            Some(last) => snapshot
                .services
                .range::<_, str>((Bound::Excluded(last), Bound::Unbounded)),
        };
        for (name, service) in rest {
            let first = self.after.is_none();
            out.extend_from_slice(if first { b"\n    " } else { b",\n    " });
            write_indented(out, &ServiceJson::new(service));
            self.after = Some(name.clone());
            if out.len() >= CHUNK {
                return false;
            }
        }
        true
    }
}

impl Iterator for Chunks {
    type Item = Result<Bytes, Infallible>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut out = Vec::with_capacity(CHUNK + 4096);
        if self.after.is_none() {
            out.extend_from_slice(b"{\n  \"services\": [");
        }
        if self.fill(&mut out) {
            let close = if self.after.is_none() { "]" } else { "\n  ]" };
            let end = format!("{close},\n  \"now\": {}\n}}\n", self.now);
            out.extend_from_slice(end.as_bytes());
            self.done = true;
        }
        Some(Ok(out.into()))
    }
}

/// Pretty JSON of `value` as an element of the list: every line after its
/// first indented by four spaces, as `serde_json`'s pretty printer indents
/// the elements of an array in an object. (JSON strings never hold a raw
/// newline, so every newline is the printer's.)
fn write_indented(out: &mut Vec<u8>, value: &impl Serialize) {
    let text = serde_json::to_vec_pretty(value).expect("API values serialize");
    let mut lines = text.split(|&b| b == b'\n');
    out.extend_from_slice(lines.next().unwrap_or_default());
    for line in lines {
        out.extend_from_slice(b"\n    ");
        out.extend_from_slice(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::pretty;
    use lovebeat_core::{Engine, EngineConfig, Severity, Timeout, TimeoutKind};

    /// The list as it was made whole before it was streamed.
    fn whole(snapshot: &Snapshot, now: i64) -> String {
        #[derive(Serialize)]
        struct Body<'a> {
            services: Vec<ServiceJson<'a>>,
            now: i64,
        }
        let services = snapshot.services.values().map(|s| ServiceJson::new(s));
        pretty(&Body {
            services: services.collect(),
            now,
        })
    }

    fn streamed(snapshot: Snapshot, now: i64) -> (String, usize) {
        let chunks: Vec<_> = Chunks::new(Arc::new(snapshot), now)
            .map(|c| c.unwrap())
            .collect();
        let text = chunks.concat();
        (String::from_utf8(text).unwrap(), chunks.len())
    }

    #[test]
    fn the_streamed_list_is_byte_for_byte_the_whole_one() {
        let mut engine = Engine::new(EngineConfig::default(), 1_000);
        let empty = Snapshot::full(&engine, 1_000);
        assert_eq!(
            streamed(empty, 7).0,
            whole(&Snapshot::full(&engine, 1_000), 7)
        );
        for i in 0..400 {
            let name = &format!("svc-{i:04}");
            engine.set_timeout(2_000, name, TimeoutKind::Err, Timeout::Auto);
            engine.beat(2_000 + i, name);
            engine.beat(9_000 + i, name);
        }
        engine.fail(10_000, "svc-0001", Severity::Error, "disk \"full\"\nreally");
        let (text, chunks) = streamed(Snapshot::full(&engine, 20_000), 42);
        assert_eq!(text, whole(&Snapshot::full(&engine, 20_000), 42));
        assert!(chunks > 1, "{} bytes in one chunk", text.len());
        let one = {
            let mut engine = Engine::new(EngineConfig::default(), 1_000);
            engine.beat(1_000, "only");
            Snapshot::full(&engine, 1_000)
        };
        let expected = whole(&one, 3);
        assert_eq!(streamed(one, 3), (expected, 1));
    }
}
