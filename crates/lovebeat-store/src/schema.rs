//! The on-disk schema: tree names, keys, the format version, value
//! encoding and the migrations between formats (the binary service record
//! itself is `record`'s).
//!
//! `docs/STORE.md` describes the schema for people; this module is the one
//! place in code that knows it. [`check_format`] runs at every open.

use lovebeat_core::{ServiceRecord, ViewRecord};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StoreError;
use crate::record;

/// The format this lovebeat writes.
pub const FORMAT_VERSION: u32 = 3;

/// Key of the format version (a big-endian `u32`) in the default tree.
pub(crate) const FORMAT_KEY: &[u8] = b"format_version";

/// Key of the save generation (a big-endian `u64`, bumped by every save)
/// in the default tree; see the `witness` module.
pub(crate) const GENERATION_KEY: &[u8] = b"generation";

/// Key of the record of the last Go database import (JSON, [`GoImport`]
/// in the store module), in the default tree.
pub(crate) const GO_IMPORT_KEY: &[u8] = b"go_import";

/// Key of the status page's hourly history (`lovebeat-monitors`' bytes, opaque
/// here), in the default tree.
pub(crate) const STATUS_HISTORY_KEY: &[u8] = b"status_history";

pub(crate) const SERVICES: &str = "services";
pub(crate) const VIEWS: &str = "views";
pub(crate) const OUTBOX: &str = "outbox";
pub(crate) const TOKENS: &str = "tokens";
pub(crate) const MESSAGES: &str = "messages";

/// Upgrades a store from format `n + 1` to `n + 2`, in place. Each
/// migration rewrites what it must; the caller then records the new format
/// version and flushes, so a crash mid-migration reruns it (migrations must
/// be idempotent).
type Migration = fn(&sled::Db) -> sled::Result<()>;

/// `MIGRATIONS[i]` upgrades format `i + 1` to `i + 2`; a new format adds
/// one entry here and bumps [`FORMAT_VERSION`].
const MIGRATIONS: &[Migration] = &[services_to_binary, packed_histories];

/// Records rewritten per sled batch by a migration.
const MIGRATION_BATCH: usize = 10_000;

/// Format 1 to 2: every JSON service record becomes a binary one (see
/// `record`). Records already binary are left alone, and so is one that
/// does not decode: the load that follows names it.
fn services_to_binary(db: &sled::Db) -> sled::Result<()> {
    let services = db.open_tree(SERVICES)?;
    let mut batch = sled::Batch::default();
    let mut batched = 0;
    for entry in services.iter() {
        let (key, value) = entry?;
        if !is_json(&value) {
            continue;
        }
        let Ok(record) = decode::<ServiceRecord>(SERVICES, &key, &value) else {
            continue;
        };
        batch.insert(key, record::encode_service(&record));
        batched += 1;
        if batched == MIGRATION_BATCH {
            services.apply_batch(std::mem::take(&mut batch))?;
            batched = 0;
        }
    }
    services.apply_batch(batch)
}

/// Format 2 to 3: a service record's history is packed (see
/// `lovebeat_core::Intervals`). Nothing is rewritten: a format 2 record
/// still reads (its tag tells), and each is written anew in format 3 with
/// its service's next save. The new version keeps an older lovebeat, which
/// cannot read format 3 records, from opening the store.
fn packed_histories(_: &sled::Db) -> sled::Result<()> {
    Ok(())
}

/// Whether a stored service record is format 1's JSON.
fn is_json(bytes: &[u8]) -> bool {
    bytes.first() == Some(&b'{')
}

/// Makes `db` a store of [`FORMAT_VERSION`]: stamps a blank one (unless
/// `had_data`: the witness says it held data, so sled lost it), migrates an
/// older one, refuses a newer one or one without a version that holds data
/// (not ours).
pub(crate) fn check_format(
    db: &sled::Db,
    path: &std::path::Path,
    had_data: bool,
) -> Result<(), StoreError> {
    let stored = db
        .get(FORMAT_KEY)
        .map_err(|e| StoreError::opening(path, e))?;
    let mut version = match stored {
        Some(bytes) => decode_version(&bytes).ok_or_else(|| StoreError::Corrupt {
            path: path.to_owned(),
            detail: "unreadable format version".to_owned(),
        })?,
        None if had_data => {
            return Err(StoreError::Corrupt {
                path: path.to_owned(),
                detail: "sled recovered it empty, but lovebeat had saved data in it".to_owned(),
            });
        }
        None if is_blank(db).map_err(|e| StoreError::opening(path, e))? => {
            write_version(db, FORMAT_VERSION).map_err(|e| StoreError::opening(path, e))?;
            return Ok(());
        }
        None => {
            return Err(StoreError::NotAStore {
                path: path.to_owned(),
                why: "it holds data but no lovebeat format version".to_owned(),
            });
        }
    };
    if version > FORMAT_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            detail: "format version 0".to_owned(),
        });
    }
    while version < FORMAT_VERSION {
        tracing::info!(
            "migrating the database {} from format {version} to {}",
            path.display(),
            version + 1
        );
        let migrate = MIGRATIONS[(version - 1) as usize];
        migrate(db)
            .and_then(|()| write_version(db, version + 1))
            .map_err(|e| StoreError::opening(path, e))?;
        version += 1;
    }
    Ok(())
}

/// Whether `db` holds nothing at all: no key in any tree.
fn is_blank(db: &sled::Db) -> sled::Result<bool> {
    for name in db.tree_names() {
        if !db.open_tree(&name)?.is_empty() {
            return Ok(false);
        }
    }
    Ok(true)
}

fn write_version(db: &sled::Db, version: u32) -> sled::Result<()> {
    db.insert(FORMAT_KEY, &version.to_be_bytes())?;
    db.flush()?;
    Ok(())
}

fn decode_version(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// The save generation stored in `db` (0 before the first save).
pub(crate) fn generation(db: &sled::Db) -> sled::Result<u64> {
    let stored = db.get(GENERATION_KEY)?;
    Ok(stored
        .and_then(|b| Some(u64::from_be_bytes(b.as_ref().try_into().ok()?)))
        .unwrap_or(0))
}

/// A record's stored bytes: its JSON.
pub(crate) fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    serde_json::to_vec(record).expect("records serialize")
}

/// A stored record, or a [`StoreError::Record`] naming it.
pub(crate) fn decode<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Record {
        tree,
        key: String::from_utf8_lossy(key).into_owned(),
        detail: e.to_string(),
    })
}

/// A service record's stored bytes: binary (format 2, see `record`).
pub(crate) fn encode_service(record: &ServiceRecord) -> Vec<u8> {
    record::encode_service(record)
}

/// Decodes a service record: binary, or the JSON of [`ServiceRecord`] that
/// format 1 wrote (its migration rewrites them; this reads any it left).
pub(crate) fn decode_service(key: &[u8], bytes: &[u8]) -> Result<ServiceRecord, StoreError> {
    if is_json(bytes) {
        return decode(SERVICES, key, bytes);
    }
    record::decode_service(key, bytes).map_err(|detail| StoreError::Record {
        tree: SERVICES,
        key: String::from_utf8_lossy(key).into_owned(),
        detail,
    })
}

/// Decodes a view record (format 1: the JSON of [`ViewRecord`]).
pub(crate) fn decode_view(key: &[u8], bytes: &[u8]) -> Result<ViewRecord, StoreError> {
    decode(VIEWS, key, bytes)
}

/// An outbox key: the id, big-endian so keys sort in id order.
pub(crate) fn outbox_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

pub(crate) fn outbox_id(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_core::{State, Timeout};

    #[test]
    fn every_older_format_has_a_migration() {
        assert_eq!(MIGRATIONS.len() as u32, FORMAT_VERSION - 1);
    }

    /// A format 1 service record as written by this version: if the model
    /// changes so that this no longer reads, bump the format and migrate.
    const SERVICE_V1: &str = r#"{"name":"backup.nightly","created":1000,"last_beat":61000,
        "warn_timeout":60000,"err_timeout":-2,"state":"ok","muted_since":null,
        "last_state_change":2000,"history":[60000],"failure":null,"beats":2}"#;

    #[test]
    fn format_1_service_records_still_read() {
        let r = decode_service(b"backup.nightly", SERVICE_V1.as_bytes()).unwrap();
        assert_eq!(&*r.name, "backup.nightly");
        assert_eq!(r.last_beat, Some(61000));
        assert_eq!(r.warn_timeout, Timeout::After(60000));
        assert_eq!(r.err_timeout, Timeout::Auto);
        assert_eq!(r.history.to_vec(), [60000]);
        assert_eq!(r.beats, 2);
    }

    #[test]
    fn format_1_service_records_are_migrated_to_binary() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let services = db.open_tree(SERVICES).unwrap();
        services.insert("backup.nightly", SERVICE_V1).unwrap();
        services.insert("broken", "{").unwrap();
        services_to_binary(&db).unwrap();
        services_to_binary(&db).unwrap();
        let stored = services.get("backup.nightly").unwrap().unwrap();
        assert_eq!(stored[0], record::SERVICE_RECORD);
        let migrated = decode_service(b"backup.nightly", &stored).unwrap();
        let original = decode_service(b"backup.nightly", SERVICE_V1.as_bytes()).unwrap();
        assert_eq!(migrated, original);
        assert_eq!(&*services.get("broken").unwrap().unwrap(), b"{");
    }

    #[test]
    fn a_format_1_store_opens_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let db = sled::open(&path).unwrap();
        write_version(&db, 1).unwrap();
        let services = db.open_tree(SERVICES).unwrap();
        services.insert("backup.nightly", SERVICE_V1).unwrap();
        db.flush().unwrap();
        drop((services, db));
        let store = crate::testing::open_again(&path).unwrap();
        let version = (store.handles().unwrap().db.get(FORMAT_KEY))
            .unwrap()
            .unwrap();
        assert_eq!(decode_version(&version), Some(FORMAT_VERSION));
        let loaded = store.load().unwrap().services;
        let original = decode_service(b"backup.nightly", SERVICE_V1.as_bytes()).unwrap();
        assert_eq!(loaded, [original]);
    }

    #[test]
    fn a_binary_record_that_does_not_decode_names_its_key() {
        let err = decode_service(b"x", &[record::SERVICE_RECORD, 0, 1]).unwrap_err();
        assert!(err.to_string().contains("services record \"x\""), "{err}");
        assert!(err.to_string().contains("cut short"), "{err}");
    }

    #[test]
    fn format_1_view_records_still_read() {
        let json = r#"{"name":"backups","state":"error","incident":3,"last_state_change":5}"#;
        let v = decode_view(b"backups", json.as_bytes()).unwrap();
        assert_eq!((v.state, v.incident), (State::Error, 3));
    }

    #[test]
    fn a_bad_record_names_its_tree_and_key() {
        let err = decode_service(b"x", b"{").unwrap_err();
        assert!(err.to_string().contains("services record \"x\""), "{err}");
    }

    #[test]
    fn outbox_keys_sort_in_id_order() {
        assert!(outbox_key(255) < outbox_key(256));
        assert_eq!(outbox_id(&outbox_key(7)), Some(7));
    }
}
