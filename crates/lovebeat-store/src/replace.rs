//! Files the store keeps beside sled's (the services image, the status
//! history): each written whole to a temporary file, then renamed over
//! the old one, so a reader sees the old file or the new one, never half.
//! Not synced: what they hold can be lost or refused when torn, and their
//! readers check for that.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// Replaces the file at `path` with what `write` writes into a fresh
/// temporary beside it; on any failure the temporary is removed and the
/// old file stays.
pub(crate) fn replace(path: &Path, write: impl FnOnce(File) -> io::Result<()>) -> io::Result<()> {
    let temporary = temporary(path);
    let written = File::create(&temporary)
        .and_then(write)
        .and_then(|()| fs::rename(&temporary, path));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// Where [`replace`] writes `path` first: `path` with `.tmp` added.
pub(crate) fn temporary(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".tmp");
    name.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        replace(&path, |mut f| f.write_all(b"old")).unwrap();
        let failed = replace(&path, |mut f| {
            f.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert!(!temporary(&path).exists());
        replace(&path, |mut f| f.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }
}
