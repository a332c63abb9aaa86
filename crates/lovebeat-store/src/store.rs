//! [`Store`]: opening the sled database, loading it whole, saving batches of
//! changed records, and importing a Go database's records.
//!
//! Writers: the engine's write-behind thread calls [`Store::save`]; alert
//! workers use the outbox (`outbox` module); `main` calls [`Store::load`]
//! once at startup, [`Store::scrub`] beside the running daemon when the
//! services came from the image, and [`Store::import`] for a Go database.
//!
//! Whatever a read at startup finds wrong (a sled error, a record that
//! does not decode) is a damaged database (`StoreError::Corrupt`, "restore
//! a backup"); damage the scrub finds makes every later save, checkpoint
//! and image fail with it, so `/status/store` reports it and nothing is
//! written over it.

use std::fmt;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard};
use std::time::Instant;

use lovebeat_core::{Millis, ServiceRecord, ViewRecord};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::image;
use crate::schema::{
    self, GENERATION_KEY, GO_IMPORT_KEY, MESSAGES, OUTBOX, SERVICES, TOKENS, VIEWS,
};
use crate::witness::{self, WITNESS_EVERY, Witness};

/// How much of the database sled keeps in memory.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// lovebeat's database: a handle that is cheap to clone and to share
/// between threads (sled is internally synchronised).
///
/// Every clone shares one open database, which [`Store::reopen`] can close
/// and open again under all of them. Lock order: `saves`, then `open`.
#[derive(Clone)]
pub struct Store {
    /// The open database; None after a reopen that failed (the disk still
    /// fails), until one succeeds.
    open: Arc<RwLock<Option<Handles>>>,
    /// Saves so far, and when the witness was last written.
    saves: Arc<Mutex<Saves>>,
    /// Whether the services still need the check the image skipped, and
    /// the damage it found.
    scrub: Arc<Scrub>,
    path: Arc<Path>,
}

#[derive(Default)]
struct Scrub {
    /// Set when [`Store::load`] took the services from the image.
    needed: AtomicBool,
    /// What [`Store::scrub`] found damaged; saves refuse from then on.
    damage: OnceLock<String>,
}

/// The sled handles of an open store.
pub(crate) struct Handles {
    pub(crate) db: sled::Db,
    pub(crate) services: sled::Tree,
    pub(crate) views: sled::Tree,
    pub(crate) outbox: sled::Tree,
    pub(crate) tokens: sled::Tree,
    pub(crate) messages: sled::Tree,
}

/// The open handles, read-locked for the length of one operation, so a
/// reopen never closes the database under it.
pub(crate) struct Open<'a>(RwLockReadGuard<'a, Option<Handles>>);

impl Deref for Open<'_> {
    type Target = Handles;

    fn deref(&self) -> &Handles {
        self.0.as_ref().expect("checked when locked")
    }
}

struct Saves {
    generation: u64,
    witnessed: Instant,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Everything the store holds about services and views.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Contents {
    pub services: Vec<ServiceRecord>,
    pub views: Vec<ViewRecord>,
}

/// Records to write in one go: upserts, and names to delete.
#[derive(Debug, Default, Clone)]
pub struct Save {
    pub services: Vec<ServiceRecord>,
    pub removed_services: Vec<Arc<str>>,
    pub views: Vec<ViewRecord>,
    pub removed_views: Vec<Arc<str>>,
}

impl Save {
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
            && self.removed_services.is_empty()
            && self.views.is_empty()
            && self.removed_views.is_empty()
    }
}

/// What the store remembers of the last Go database import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoImport {
    /// The file imported, as given.
    pub file: String,
    /// When, in ms since the epoch.
    pub at: Millis,
    pub services: usize,
    pub views: usize,
}

impl Store {
    /// Opens (or creates) the store directory at `path`. Fails, and never
    /// starts empty over existing data, when the directory is locked by
    /// another lovebeat, damaged, unreadable, or of a newer format.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(None);
        // sled 0.34 may panic on some damaged files instead of failing.
        let opened = catch_unwind(AssertUnwindSafe(|| config.open())).map_err(|panic| {
            StoreError::Corrupt {
                path: path.to_owned(),
                detail: panic_message(&panic),
            }
        })?;
        let db = opened.map_err(|e| StoreError::opening(path, e))?;
        let (handles, generation) = Store::checked(path, db)?;
        Ok(Store {
            open: Arc::new(RwLock::new(Some(handles))),
            saves: Arc::new(Mutex::new(Saves {
                generation,
                witnessed: Instant::now(),
            })),
            scrub: Arc::default(),
            path: path.into(),
        })
    }

    /// Checks a freshly opened database against its format and witness,
    /// and opens its trees; returns them and the generation.
    fn checked(path: &Path, db: sled::Db) -> Result<(Handles, u64), StoreError> {
        let witness = witness::read(path)?;
        schema::check_format(&db, path, witness.is_some_and(|w| w.generation > 0))?;
        let generation = schema::generation(&db).map_err(|e| StoreError::opening(path, e))?;
        witness::check(path, witness, generation)?;
        witness::write(
            path,
            Witness {
                format: schema::FORMAT_VERSION,
                generation,
            },
        )?;
        let tree = |name: &str| db.open_tree(name).map_err(|e| StoreError::opening(path, e));
        let (services, views, outbox) = (tree(SERVICES)?, tree(VIEWS)?, tree(OUTBOX)?);
        let (tokens, messages) = (tree(TOKENS)?, tree(MESSAGES)?);
        let handles = Handles {
            db,
            services,
            views,
            outbox,
            tokens,
            messages,
        };
        Ok((handles, generation))
    }

    /// Closes the database and opens it again, under every clone. After an
    /// I/O error (a full or read-only disk) sled refuses every later write
    /// until it is reopened, so this is how writes resume once the disk is
    /// back; what sled had not made durable is gone, and the caller writes
    /// it again. While the database cannot be opened, the store stays
    /// closed (every operation fails) until a later reopen succeeds.
    pub fn reopen(&self) -> Result<(), StoreError> {
        let mut saves = self.saves.lock().expect("saves are not poisoned");
        let mut open = self.open.write().expect("the store lock is not poisoned");
        // Dropping the handles closes the database and releases its lock.
        *open = None;
        let path = &*self.path;
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(None);
        let opened = catch_unwind(AssertUnwindSafe(|| config.open())).map_err(|panic| {
            StoreError::Corrupt {
                path: path.to_owned(),
                detail: panic_message(&panic),
            }
        })?;
        let db = opened.map_err(|e| StoreError::opening(path, e))?;
        let (handles, generation) = Store::checked(path, db)?;
        *open = Some(handles);
        saves.generation = generation;
        Ok(())
    }

    /// The open database for one operation, or an error while it is
    /// closed (a reopen failed).
    pub(crate) fn handles(&self) -> Result<Open<'_>, StoreError> {
        let open = self.open.read().expect("the store lock is not poisoned");
        if open.is_none() {
            return Err(StoreError::Database {
                action: "use",
                detail: "the database is closed after a failed write, until it reopens".into(),
            });
        }
        Ok(Open(open))
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the store holds no service and no view.
    pub fn is_empty(&self) -> bool {
        (self.handles()).is_ok_and(|h| h.services.is_empty() && h.views.is_empty())
    }

    /// Every stored service and view, services in name order: at the
    /// first start after a clean shutdown from the services image (see the
    /// `image` module), else from the database. One record that does not
    /// decode fails the whole load: lovebeat never starts with part of its
    /// state silently missing.
    /// Whatever goes wrong reading is reported as damage.
    pub fn load(&self) -> Result<Contents, StoreError> {
        let saves = self.saves.lock().expect("saves are not poisoned");
        let imaged = image::take(&self.path, saves.generation);
        self.scrub.needed.store(imaged.is_some(), Ordering::Relaxed);
        self.read(imaged).map_err(|e| e.into_damage(&self.path))
    }

    /// After a [`Store::load`] that took the services from the image:
    /// reads and decodes every stored service, the check that load
    /// skipped, and returns how many there are (None when the load read
    /// them already). Damage found is returned as `StoreError::Corrupt`
    /// and kept: every later save, checkpoint and image fails with it.
    /// It holds no lock that saves need; at a million services it takes a
    /// few seconds of one core.
    pub fn scrub(&self) -> Result<Option<usize>, StoreError> {
        if !self.scrub.needed.swap(false, Ordering::Relaxed) {
            return Ok(None);
        }
        let h = self.handles()?;
        let mut count = 0;
        for entry in h.services.iter() {
            let checked = (entry.map_err(|e| StoreError::database("read", e)))
                .and_then(|(k, v)| schema::decode_service(&k, &v).map(drop));
            if let Err(e) = checked {
                let damage = e.into_damage(&self.path);
                if let StoreError::Corrupt { detail, .. } = &damage {
                    let _ = self.scrub.damage.set(detail.clone());
                }
                return Err(damage);
            }
            count += 1;
        }
        Ok(Some(count))
    }

    /// The damage [`Store::scrub`] found, as the error that refuses writes.
    fn refuse_if_damaged(&self) -> Result<(), StoreError> {
        match self.scrub.damage.get() {
            Some(detail) => Err(StoreError::Corrupt {
                path: self.path.to_path_buf(),
                detail: detail.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Every stored service and view as of one moment between two saves
    /// (no save or import runs while it is read), and the generation they
    /// belong to: what the S3 copy uploads.
    pub fn snapshot(&self) -> Result<(u64, Contents), StoreError> {
        let saves = self.saves.lock().expect("saves are not poisoned");
        let contents = self.read(None)?;
        Ok((saves.generation, contents))
    }

    /// The views, and the services unless the image gave them.
    fn read(&self, services: Option<Vec<ServiceRecord>>) -> Result<Contents, StoreError> {
        let h = self.handles()?;
        let read = |entry: sled::Result<(sled::IVec, sled::IVec)>| {
            entry.map_err(|e| StoreError::database("read", e))
        };
        let services = match services {
            Some(services) => services,
            None => (h.services.iter())
                .map(|entry| read(entry).and_then(|(k, v)| schema::decode_service(&k, &v)))
                .collect::<Result<_, _>>()?,
        };
        let views = (h.views.iter())
            .map(|entry| read(entry).and_then(|(k, v)| schema::decode_view(&k, &v)))
            .collect::<Result<_, _>>()?;
        Ok(Contents { services, views })
    }

    /// Writes `services`, every service as it is now, as the image the
    /// next [`Store::load`] reads instead of the database. Call it only
    /// when the database holds exactly these services (at shutdown, after
    /// the last save succeeded); until the next load, nothing may save.
    pub fn write_image(&self, services: Vec<ServiceRecord>) -> Result<(), StoreError> {
        self.refuse_if_damaged()?;
        let saves = self.saves.lock().expect("saves are not poisoned");
        image::write(&self.path, saves.generation, services).map_err(|source| StoreError::Io {
            path: self.path.join(image::FILE),
            action: "write",
            source,
        })
    }

    /// How many saves (and imports) the store has had: it changes
    /// whenever anything may have been written.
    pub fn generation(&self) -> u64 {
        self.saves
            .lock()
            .expect("saves are not poisoned")
            .generation
    }

    /// Writes `save` (one sled batch per tree) and flushes: when this
    /// returns `Ok`, every record of `save` is on disk.
    pub fn save(&self, save: &Save) -> Result<(), StoreError> {
        let mut services = sled::Batch::default();
        for record in &save.services {
            services.insert(record.name.as_bytes(), schema::encode_service(record));
        }
        for name in &save.removed_services {
            services.remove(name.as_bytes());
        }
        let mut views = sled::Batch::default();
        for record in &save.views {
            views.insert(record.name.as_bytes(), schema::encode(record));
        }
        for name in &save.removed_views {
            views.remove(name.as_bytes());
        }
        self.refuse_if_damaged()?;
        let write = |e| StoreError::database("write", e);
        let mut saves = self.saves.lock().expect("saves are not poisoned");
        let h = self.handles()?;
        h.services.apply_batch(services).map_err(write)?;
        h.views.apply_batch(views).map_err(write)?;
        saves.generation += 1;
        h.db.insert(GENERATION_KEY, &saves.generation.to_be_bytes())
            .map_err(write)?;
        flush(&h)?;
        drop(h);
        if saves.generation == 1 || saves.witnessed.elapsed() >= WITNESS_EVERY {
            self.witness(&mut saves)?;
        }
        Ok(())
    }

    /// Records in the witness file how far the store got (at shutdown;
    /// saves do it on their own now and then).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.refuse_if_damaged()?;
        let mut saves = self.saves.lock().expect("saves are not poisoned");
        flush(&*self.handles()?)?;
        self.witness(&mut saves)
    }

    fn witness(&self, saves: &mut Saves) -> Result<(), StoreError> {
        let w = Witness {
            format: schema::FORMAT_VERSION,
            generation: saves.generation,
        };
        witness::write(&self.path, w)?;
        saves.witnessed = Instant::now();
        Ok(())
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        flush(&*self.handles()?)
    }

    /// Writes imported records over any of the same name, and remembers
    /// the import, in one transaction: after a crash either all of it is
    /// there, or none.
    pub fn import(&self, contents: &Contents, import: &GoImport) -> Result<(), StoreError> {
        use sled::Transactional;
        let marker = schema::encode(import);
        let mut saves = self.saves.lock().expect("saves are not poisoned");
        let generation = (saves.generation + 1).to_be_bytes();
        let h = self.handles()?;
        let db: &sled::Tree = &h.db;
        let result = (&h.services, &h.views, db).transaction(|(services, views, meta)| {
            for record in &contents.services {
                services.insert(record.name.as_bytes(), schema::encode_service(record))?;
            }
            for record in &contents.views {
                views.insert(record.name.as_bytes(), schema::encode(record))?;
            }
            meta.insert(GO_IMPORT_KEY, marker.as_slice())?;
            meta.insert(GENERATION_KEY, &generation)?;
            Ok(())
        });
        result.map_err(|e: sled::transaction::TransactionError<()>| match e {
            sled::transaction::TransactionError::Storage(e) => StoreError::database("import", e),
            sled::transaction::TransactionError::Abort(()) => StoreError::Database {
                action: "import",
                detail: "aborted".to_owned(),
            },
        })?;
        saves.generation += 1;
        flush(&h)?;
        drop(h);
        self.witness(&mut saves)
    }

    /// The last Go database import, if there was one.
    pub fn go_import(&self) -> Result<Option<GoImport>, StoreError> {
        let stored = (self.handles()?.db)
            .get(GO_IMPORT_KEY)
            .map_err(|e| StoreError::database("read", e).into_damage(&self.path))?;
        stored
            .map(|bytes| schema::decode("meta", GO_IMPORT_KEY, &bytes))
            .transpose()
            .map_err(|e| e.into_damage(&self.path))
    }
}

/// Makes everything written so far durable.
fn flush(h: &Handles) -> Result<(), StoreError> {
    h.db.flush()
        .map(drop)
        .map_err(|e| StoreError::database("flush", e))
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "sled panicked while reading it".to_owned())
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
