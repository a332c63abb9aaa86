//! The witness: a small file in the store directory that remembers how far
//! the store got, outside sled.
//!
//! sled treats a damaged log as the end of the log and opens what comes
//! before it: a damaged store opens as an older one, or an empty one,
//! without an error. Every save bumps a generation number inside sled; the
//! witness records a generation that sled had durably reached (rewritten
//! atomically at open, at least every [`WITNESS_EVERY`] of saves, and at
//! shutdown). If sled opens below the witnessed generation, or blank while
//! a witness exists, the store lost saved data and is refused.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// The witness file's name inside the store directory.
pub(crate) const WITNESS_FILE: &str = "lovebeat-store.json";

/// How stale the witness may get while saves go on.
pub(crate) const WITNESS_EVERY: Duration = Duration::from_secs(60);

/// What the witness file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Witness {
    pub format: u32,
    /// A generation sled had on disk when this was written.
    pub generation: u64,
}

/// The witness of the store at `dir`, if it has one.
pub(crate) fn read(dir: &Path) -> Result<Option<Witness>, StoreError> {
    let path = dir.join(WITNESS_FILE);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                detail: format!("unreadable {WITNESS_FILE}: {e}"),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Io {
            path,
            action: "read",
            source,
        }),
    }
}

/// Replaces the witness atomically: a temporary file, synced, renamed over
/// the old one, and the directory synced.
pub(crate) fn write(dir: &Path, witness: Witness) -> Result<(), StoreError> {
    let path = dir.join(WITNESS_FILE);
    let tmp = dir.join(format!("{WITNESS_FILE}.new"));
    let io_error = |source| StoreError::Io {
        path: path.clone(),
        action: "write",
        source,
    };
    let mut file = fs::File::create(&tmp).map_err(io_error)?;
    let bytes = serde_json::to_vec(&witness).expect("the witness serializes");
    file.write_all(&bytes).map_err(io_error)?;
    file.sync_all().map_err(io_error)?;
    fs::rename(&tmp, &path).map_err(io_error)?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error)
}

/// Refuses a store whose sled generation is below its witness's.
pub(crate) fn check(
    dir: &Path,
    witness: Option<Witness>,
    generation: u64,
) -> Result<(), StoreError> {
    match witness {
        Some(w) if w.generation > generation => Err(StoreError::Corrupt {
            path: dir.to_owned(),
            detail: format!(
                "it holds save {generation} but had reached save {}: sled lost saved data",
                w.generation
            ),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_witness_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let w = Witness {
            format: 1,
            generation: 42,
        };
        write(dir.path(), w).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(w));
    }

    #[test]
    fn a_store_behind_its_witness_is_refused() {
        let w = Witness {
            format: 1,
            generation: 5,
        };
        let err = check(Path::new("x"), Some(w), 4).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(check(Path::new("x"), Some(w), 5).is_ok());
        assert!(check(Path::new("x"), None, 0).is_ok());
    }
}
