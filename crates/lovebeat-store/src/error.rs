//! The store's one error type: what went wrong, with the path, and what the
//! operator can do about it.
//!
//! Every variant's `Display` is one line meant for a person reading
//! lovebeat's stderr; `main` prints it as is and exits non-zero.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why the store could not be opened, read or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process (a second lovebeat) holds the store's lock.
    Locked { path: PathBuf },
    /// The store's files are damaged beyond what sled recovers.
    Corrupt { path: PathBuf, detail: String },
    /// The file system refused (permission denied, disk full, ...).
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    /// Written by a newer lovebeat, in a format this one does not know.
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The path holds something that is not a lovebeat store.
    NotAStore { path: PathBuf, why: String },
    /// One stored record does not decode.
    Record {
        tree: &'static str,
        key: String,
        detail: String,
    },
    /// `outbox_replace` of an entry that is not (or no longer) there.
    NoSuchOutboxEntry(u64),
    /// A read or write failed after the store was opened.
    Database {
        action: &'static str,
        detail: String,
    },
}

impl StoreError {
    /// A sled error while opening `path`, sorted into what it means.
    pub(crate) fn opening(path: &std::path::Path, err: sled::Error) -> StoreError {
        let path = path.to_owned();
        match err {
            sled::Error::Io(e) if e.to_string().contains("could not acquire lock") => {
                StoreError::Locked { path }
            }
            // What the file system refused is the operator's to fix; any
            // other I/O error (a length read past the end of a file, bytes
            // that do not decode, a failing disk) means damaged files.
            sled::Error::Io(source) if is_refusal(&source) => StoreError::Io {
                path,
                action: "open",
                source,
            },
            sled::Error::Io(source) => StoreError::Corrupt {
                path,
                detail: source.to_string(),
            },
            sled::Error::Corruption { at, .. } => StoreError::Corrupt {
                path,
                detail: match at {
                    Some(at) => format!("bad data at {at}"),
                    None => "bad data".to_owned(),
                },
            },
            other => StoreError::Corrupt {
                path,
                detail: other.to_string(),
            },
        }
    }

    /// What a read at startup found, as the damage it means: a sled error
    /// or a record that does not decode is a damaged database, and says
    /// so in the usual words (restore a backup); other errors stay as
    /// they are.
    pub(crate) fn into_damage(self, path: &std::path::Path) -> StoreError {
        let detail = match self {
            StoreError::Record { tree, key, detail } => {
                format!("its {tree} record {key:?} cannot be read: {detail}")
            }
            StoreError::Database { action, detail } => format!("{action}: {detail}"),
            other => return other,
        };
        StoreError::Corrupt {
            path: path.to_owned(),
            detail,
        }
    }

    /// A sled error after opening, while doing `action`.
    pub(crate) fn database(action: &'static str, err: sled::Error) -> StoreError {
        StoreError::Database {
            action,
            detail: err.to_string(),
        }
    }
}

/// Whether the file system refused an operation (rights, space, a
/// read-only mount), rather than returned bad data.
fn is_refusal(err: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        err.kind(),
        PermissionDenied
            | NotFound
            | StorageFull
            | ReadOnlyFilesystem
            | QuotaExceeded
            | OutOfMemory
            | ResourceBusy
            | WouldBlock
            | Interrupted
    )
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Locked { path } => write!(
                f,
                "the database {} is in use by another running lovebeat; stop that one first, \
                 or give this one another [database] filename",
                path.display()
            ),
            StoreError::Corrupt { path, detail } => write!(
                f,
                "the database {} is damaged ({detail}); move it away and restore a backup \
                 (or start empty), lovebeat will not overwrite it",
                path.display()
            ),
            StoreError::Io {
                path,
                action,
                source,
            } => {
                write!(
                    f,
                    "cannot {action} the database {}: {source}",
                    path.display()
                )?;
                if source.kind() == io::ErrorKind::PermissionDenied {
                    f.write_str("; check that lovebeat's user may read and write it")?;
                }
                Ok(())
            }
            StoreError::TooNew {
                path,
                found,
                supported,
            } => write!(
                f,
                "the database {} has format {found}, written by a newer lovebeat; this one \
                 reads formats up to {supported}: upgrade lovebeat",
                path.display()
            ),
            StoreError::NotAStore { path, why } => write!(
                f,
                "{} is not a lovebeat database ({why}); move it away or set [database] filename \
                 to another path",
                path.display()
            ),
            StoreError::Record { tree, key, detail } => write!(
                f,
                "the stored {tree} record {key:?} cannot be read ({detail}); the database is \
                 damaged or was written by an incompatible lovebeat"
            ),
            StoreError::NoSuchOutboxEntry(id) => {
                write!(
                    f,
                    "alert outbox entry {id} does not exist (already removed?)"
                )
            }
            StoreError::Database { action, detail } => {
                write!(f, "database {action} failed: {detail}")
            }
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_reading_bad_data_at_open_is_damage_and_a_refusal_is_not() {
        let path = std::path::Path::new("lovebeat.db");
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "failed to fill whole buffer");
        let message = StoreError::opening(path, sled::Error::Io(eof)).to_string();
        assert_eq!(
            message,
            "the database lovebeat.db is damaged (failed to fill whole buffer); move it away \
             and restore a backup (or start empty), lovebeat will not overwrite it"
        );
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        let error = StoreError::opening(path, sled::Error::Io(denied));
        assert!(matches!(error, StoreError::Io { .. }), "{error}");
    }

    #[test]
    fn read_errors_at_startup_read_into_damage() {
        let path = std::path::Path::new("lovebeat.db");
        let record = StoreError::Record {
            tree: "services",
            key: "web".to_owned(),
            detail: "ends early".to_owned(),
        };
        assert_eq!(
            record.into_damage(path).to_string(),
            "the database lovebeat.db is damaged (its services record \"web\" cannot be read: \
             ends early); move it away and restore a backup (or start empty), lovebeat will \
             not overwrite it"
        );
        let read = StoreError::database("read", sled::Error::Unsupported("x".to_owned()));
        assert!(
            read.into_damage(path)
                .to_string()
                .starts_with("the database lovebeat.db is damaged (read: ")
        );
        let locked = StoreError::Locked {
            path: path.to_owned(),
        };
        assert!(matches!(
            locked.into_damage(path),
            StoreError::Locked { .. }
        ));
    }
}
