//! The database at startup: where it is, the Go lovebeat file that may sit
//! at `[database] filename`, the S3 copy, loading it; and `lovebeat import
//! FILE`.
//!
//! Go lovebeat kept a gzip *file* at `filename` (default `lovebeat.db`);
//! our store is a *directory*. When `filename` is such a file, the store is
//! the directory `FILENAME.d` beside it (`lovebeat_store::locate`), the Go
//! file is imported into it on the first start and never touched, and
//! every start says so in one line, with how to import it again.
//!
//! With an S3 copy (`[database] remote_s3_url`), an empty store is first
//! restored from it (before any Go file: the copy is what the last run
//! uploaded). No copy yet ("no such key") starts empty; a copy that cannot
//! be read, after the retries of `S3Copy::download_at_startup`, or that is
//! damaged, stops lovebeat with one line: starting empty would overwrite
//! the copy with an empty snapshot at the first upload. A store that is not
//! empty is used as it is, and the copy is not read.
//!
//! When the services came from the image a clean shutdown left, the
//! database's services were not read: [`scrub_in_background`] reads them
//! beside the running daemon, and damage it finds is logged and shows in
//! `/status/store` (saves fail with it from then on).

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use lovebeat_core::Millis;
use lovebeat_monitors::s3::{S3Copy, S3Error, STARTUP_ATTEMPTS};
use lovebeat_store::golang::{GoReadError, read_go_database};
use lovebeat_store::{Contents, GoImport, Store, StoreError, locate};

/// The opened store and everything in it.
pub struct Opened {
    pub store: Store,
    pub contents: Contents,
}

/// Why the database could not be used; one line for stderr.
#[derive(Debug)]
pub enum DatabaseError {
    Store(StoreError),
    /// A Go database that could not be read.
    GoFile {
        file: PathBuf,
        why: String,
    },
    /// The S3 copy could not be read at startup, after retries.
    S3(S3Error),
    /// The S3 copy was read but is not a database.
    S3Damaged {
        url: String,
        why: String,
    },
}

impl From<StoreError> for DatabaseError {
    fn from(e: StoreError) -> DatabaseError {
        DatabaseError::Store(e)
    }
}

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseError::Store(e) => e.fmt(f),
            DatabaseError::GoFile { file, why } => {
                write!(
                    f,
                    "cannot import the Go lovebeat database {}: {why}",
                    file.display()
                )
            }
            DatabaseError::S3(e) => write!(
                f,
                "{e} ({STARTUP_ATTEMPTS} attempts); the local database is empty and lovebeat \
                 will not start empty over the S3 copy: fix access to S3, or unset [database] \
                 remote_s3_url to start without it"
            ),
            DatabaseError::S3Damaged { url, why } => write!(
                f,
                "the S3 copy {url} is not a lovebeat database ({why}); lovebeat will not \
                 overwrite it: move it away in S3, or unset [database] remote_s3_url"
            ),
        }
    }
}

impl std::error::Error for DatabaseError {}

/// Opens the store for `filename`, restores an empty one from the S3 copy
/// `s3`, imports a Go file found there the first time, and loads
/// everything.
pub async fn open(
    filename: &Path,
    s3: Option<&S3Copy>,
    now: Millis,
) -> Result<Opened, DatabaseError> {
    let location = locate(filename)?;
    let started = std::time::Instant::now();
    let store = Store::open(&location.store)?;
    let opened = started.elapsed();
    if let Some(s3) = s3.filter(|_| store.is_empty()) {
        restore_from_s3(&store, s3, now).await?;
    }
    if let Some(go_file) = &location.go_file {
        adopt_go_file(&store, go_file, now)?;
    }
    let loading = std::time::Instant::now();
    let contents = store.load()?;
    tracing::info!(
        "database {}: {} services, {} views (opened in {} ms, read in {} ms)",
        store.path().display(),
        contents.services.len(),
        contents.views.len(),
        opened.as_millis(),
        loading.elapsed().as_millis()
    );
    Ok(Opened { store, contents })
}

/// Checks, on a thread of its own, the services a load from the image did
/// not read (see [`Store::scrub`]); logs what it found.
pub fn scrub_in_background(store: Store) {
    let scrub = move || match store.scrub() {
        Ok(None) => {}
        Ok(Some(n)) => tracing::info!(
            "database {}: {n} services verified (the start read them from the image)",
            store.path().display()
        ),
        Err(e) => tracing::error!("{e}; saves stop until it is replaced"),
    };
    let spawned = std::thread::Builder::new()
        .name("store-scrub".to_owned())
        .spawn(scrub);
    if let Err(e) = spawned {
        tracing::warn!("cannot start the database check: {e}");
    }
}

/// Fills the empty `store` with the S3 copy, if there is one.
async fn restore_from_s3(store: &Store, s3: &S3Copy, now: Millis) -> Result<(), DatabaseError> {
    let url = s3.url();
    let Some(bytes) = s3.download_at_startup().await.map_err(DatabaseError::S3)? else {
        tracing::warn!(
            "no S3 copy at {url} yet (no such key); starting with an empty database, the first \
             upload creates it"
        );
        return Ok(());
    };
    let db = read_go_database(bytes.as_slice(), now).map_err(|e| DatabaseError::S3Damaged {
        url: url.to_owned(),
        why: e.to_string(),
    })?;
    if db.skipped > 0 {
        tracing::warn!(
            "{url}: skipped {} lines that are not service, alarm or view records",
            db.skipped
        );
    }
    let import = GoImport {
        file: url.to_owned(),
        at: now,
        services: db.contents.services.len(),
        views: db.contents.views.len(),
    };
    store.import(&db.contents, &import)?;
    tracing::info!(
        "restored {} services and {} views from the S3 copy {url} ({} bytes)",
        import.services,
        import.views,
        bytes.len()
    );
    Ok(())
}

/// The first time: imports the Go file. Every time after: one line saying
/// where the data is and how to import the file again.
fn adopt_go_file(store: &Store, go_file: &Path, now: Millis) -> Result<(), DatabaseError> {
    let dir = store.path().display();
    let file = go_file.display();
    match store.go_import()? {
        None if store.is_empty() => {
            let import = import(store, go_file, now)?;
            tracing::info!(
                "imported {} services and {} views from the Go lovebeat database {file} into \
                 {dir}; {file} is left as it is",
                import.services,
                import.views
            );
        }
        _ => tracing::info!(
            "{file} is a Go lovebeat database, no longer read: lovebeat keeps its data in {dir}; \
             to import {file} again (replacing the services it names), stop lovebeat and run \
             `lovebeat import {file}`"
        ),
    }
    Ok(())
}

/// Reads the Go database `file` and writes its records into `store`.
pub fn import(store: &Store, file: &Path, now: Millis) -> Result<GoImport, DatabaseError> {
    let go_error = |why: String| DatabaseError::GoFile {
        file: file.to_owned(),
        why,
    };
    let input = File::open(file).map_err(|e| go_error(e.to_string()))?;
    let db = read_go_database(BufReader::new(input), now)
        .map_err(|e: GoReadError| go_error(e.to_string()))?;
    if db.skipped > 0 {
        tracing::warn!(
            "{}: skipped {} lines that are not service, alarm or view records",
            file.display(),
            db.skipped
        );
    }
    let import = GoImport {
        file: file.display().to_string(),
        at: now,
        services: db.contents.services.len(),
        views: db.contents.views.len(),
    };
    store.import(&db.contents, &import)?;
    Ok(import)
}

/// `lovebeat import FILE`: into the store of `[database] filename`.
pub fn import_command(filename: &Path, file: &Path, now: Millis) -> Result<String, DatabaseError> {
    let location = locate(filename)?;
    let store = Store::open(&location.store)?;
    let import = import(&store, file, now)?;
    store.checkpoint()?;
    Ok(format!(
        "imported {} services and {} views from {} into {}",
        import.services,
        import.views,
        file.display(),
        store.path().display()
    ))
}
