//! Where the store lives, given `[database] filename`, and the Go file that
//! may already sit there.
//!
//! Go lovebeat's database is a *file* named `lovebeat.db` by default, which
//! is also our default `filename`; our store is a sled *directory*. So:
//!
//! 1. `filename` is a directory: that is the store.
//! 2. `filename` is a Go database file: the store is the directory
//!    `filename.d` beside it, and the Go file is left untouched (so the Go
//!    binary can still be swapped back in). `main` imports it once.
//! 3. `filename` does not exist, but `filename.d` does: the store is
//!    `filename.d` (the Go file was removed after its import).
//! 4. Neither exists: the store is created at `filename`.
//!
//! Any other file at `filename` is refused: lovebeat never starts empty
//! beside data it does not understand.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::golang::looks_like_go_database;

/// Where the store is, and the Go database found at `filename`, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The sled directory.
    pub store: PathBuf,
    /// A Go lovebeat database at `filename`, left as it is.
    pub go_file: Option<PathBuf>,
}

/// The store directory for a Go database file at `file`: `file` + `.d`.
pub fn beside(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".d");
    PathBuf::from(name)
}

/// Applies the rules above to `filename`. Reads only the first bytes of a
/// file; creates nothing.
pub fn locate(filename: &Path) -> Result<Location, StoreError> {
    let io_error = |source: io::Error| StoreError::Io {
        path: filename.to_owned(),
        action: "read",
        source,
    };
    match fs::metadata(filename) {
        Ok(meta) if meta.is_dir() => Ok(Location {
            store: filename.to_owned(),
            go_file: None,
        }),
        Ok(_) => {
            let mut head = [0u8; 2];
            let mut file = fs::File::open(filename).map_err(io_error)?;
            let n = read_up_to(&mut file, &mut head).map_err(io_error)?;
            if !looks_like_go_database(&head[..n]) {
                return Err(StoreError::NotAStore {
                    path: filename.to_owned(),
                    why: "a file, but not a Go lovebeat database; lovebeat keeps its data \
                          in a directory"
                        .to_owned(),
                });
            }
            Ok(Location {
                store: beside(filename),
                go_file: Some(filename.to_owned()),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let moved = beside(filename);
            let store = if moved.is_dir() {
                moved
            } else {
                filename.to_owned()
            };
            Ok(Location {
                store,
                go_file: None,
            })
        }
        Err(e) => Err(io_error(e)),
    }
}

fn read_up_to(file: &mut fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lovebeat.db");
        fs::create_dir(&path).unwrap();
        assert_eq!(
            locate(&path).unwrap(),
            Location {
                store: path,
                go_file: None
            }
        );
    }

    #[test]
    fn a_go_file_gets_a_store_directory_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lovebeat.db");
        fs::write(&path, [0x1f, 0x8b, 8, 0]).unwrap();
        let location = locate(&path).unwrap();
        assert_eq!(location.store, dir.path().join("lovebeat.db.d"));
        assert_eq!(location.go_file, Some(path));
    }

    #[test]
    fn without_the_go_file_its_store_directory_is_still_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lovebeat.db");
        fs::create_dir(dir.path().join("lovebeat.db.d")).unwrap();
        assert_eq!(
            locate(&path).unwrap().store,
            dir.path().join("lovebeat.db.d")
        );
    }

    #[test]
    fn nothing_there_means_a_new_store_at_filename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lovebeat.db");
        assert_eq!(locate(&path).unwrap().store, path);
    }

    #[test]
    fn another_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lovebeat.db");
        fs::write(&path, "hello").unwrap();
        let err = locate(&path).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
        assert!(
            err.to_string().contains("not a Go lovebeat database"),
            "{err}"
        );
    }
}
