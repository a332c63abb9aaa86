//! The tests of `store`.

use lovebeat_core::State;

use super::*;
use crate::testing::{open_again, service};

fn view(name: &str, incident: u64) -> ViewRecord {
    ViewRecord {
        name: name.into(),
        state: State::Error,
        incident,
        last_state_change: 7,
    }
}

#[test]
fn a_new_store_is_empty_and_stamped_with_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    assert!(store.is_empty());
    assert_eq!(store.load().unwrap(), Contents::default());
    let version = store
        .handles()
        .unwrap()
        .db
        .get(schema::FORMAT_KEY)
        .unwrap()
        .unwrap();
    assert_eq!(&*version, &schema::FORMAT_VERSION.to_be_bytes());
}

#[test]
fn reopen_closes_and_opens_the_database_under_every_clone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let outbox = store.clone();
    let save = Save {
        services: vec![service("a", 5)],
        ..Save::default()
    };
    store.save(&save).unwrap();
    let generation = store.generation();
    // The lock is released and taken again: no clone keeps the old one.
    store.reopen().unwrap();
    assert_eq!(store.generation(), generation);
    assert_eq!(outbox.load().unwrap().services, vec![service("a", 5)]);
    outbox.outbox_push(b"x").unwrap();
    store.save(&save).unwrap();
    assert_eq!(store.generation(), generation + 1);
}

#[test]
fn saved_records_load_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = open_again(&path).unwrap();
    let save = Save {
        services: vec![service("b", 2), service("a", 1)],
        views: vec![view("v", 4)],
        ..Save::default()
    };
    store.save(&save).unwrap();
    drop(store);
    let contents = open_again(&path).unwrap().load().unwrap();
    assert_eq!(contents.services, vec![service("a", 1), service("b", 2)]);
    assert_eq!(contents.views, vec![view("v", 4)]);
}

#[test]
fn the_next_load_reads_the_image_once_and_not_after_a_save() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = open_again(&path).unwrap();
    let save = Save {
        services: vec![service("a", 1), service("b", 1)],
        ..Save::default()
    };
    store.save(&save).unwrap();
    // An image unlike the tree shows which of the two a load read.
    let image = || vec![service("b", 1), service("a", 9)];
    store.write_image(image()).unwrap();
    drop(store);
    let store = open_again(&path).unwrap();
    let imaged = vec![service("a", 9), service("b", 1)];
    assert_eq!(store.load().unwrap().services, imaged);
    assert!(!path.join(image::FILE).exists(), "taken once");
    let tree = vec![service("a", 1), service("b", 1)];
    assert_eq!(store.load().unwrap().services, tree);

    store.write_image(image()).unwrap();
    let save = Save {
        services: vec![service("c", 1)],
        ..Save::default()
    };
    store.save(&save).unwrap();
    drop(store);
    let services = open_again(&path).unwrap().load().unwrap().services;
    let names: Vec<&str> = services.iter().map(|s| &*s.name).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(
        services[0],
        service("a", 1),
        "the tree, not the stale image"
    );
}

#[test]
fn a_save_replaces_and_removes_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let first = Save {
        services: vec![service("a", 1), service("b", 1)],
        views: vec![view("v", 1), view("w", 1)],
        ..Save::default()
    };
    store.save(&first).unwrap();
    let second = Save {
        services: vec![service("a", 9)],
        removed_services: vec!["b".into()],
        views: vec![view("v", 2)],
        removed_views: vec!["w".into()],
    };
    store.save(&second).unwrap();
    let contents = store.load().unwrap();
    assert_eq!(contents.services, vec![service("a", 9)]);
    assert_eq!(contents.views, vec![view("v", 2)]);
}

#[test]
fn a_second_open_of_the_same_store_is_refused_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let _first = open_again(&path).unwrap();
    let err = Store::open(&path).unwrap_err(); // no retry: locked for good
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("in use by another"), "{err}");
}

#[test]
fn a_store_of_a_newer_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = Store::open(&path).unwrap();
    (store.handles().unwrap().db)
        .insert(
            schema::FORMAT_KEY,
            &(schema::FORMAT_VERSION + 1).to_be_bytes(),
        )
        .unwrap();
    store.flush().unwrap();
    drop(store);
    let err = open_again(&path).unwrap_err();
    assert!(matches!(err, StoreError::TooNew { .. }), "{err:?}");
}

#[test]
fn a_sled_database_without_a_format_is_not_taken_for_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let other = sled::open(&path).unwrap();
    other.insert(b"someone-else", b"data").unwrap();
    other.flush().unwrap();
    drop(other);
    let err = open_again(&path).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
}

#[test]
fn a_damaged_record_fails_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    store
        .handles()
        .unwrap()
        .services
        .insert(b"x", b"not json")
        .unwrap();
    let err = store.load().unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("its services record \"x\" cannot be read"),
        "{err}"
    );
}

#[test]
fn the_scrub_finds_what_the_image_hid_and_saves_then_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = open_again(&path).unwrap();
    let save = Save {
        services: vec![service("a", 1), service("b", 1)],
        ..Save::default()
    };
    store.save(&save).unwrap();
    assert_eq!(
        store.scrub().unwrap(),
        None,
        "nothing to check without a load"
    );
    store.write_image(save.services.clone()).unwrap();
    drop(store);
    let store = open_again(&path).unwrap();
    assert_eq!(store.load().unwrap().services.len(), 2);
    assert_eq!(store.scrub().unwrap(), Some(2));
    assert_eq!(store.scrub().unwrap(), None, "once");
    // Damage below the image: a record that does not decode.
    store.write_image(save.services.clone()).unwrap();
    (store.handles().unwrap().services)
        .insert(b"b", b"not a record")
        .unwrap();
    store.checkpoint().unwrap();
    drop(store);
    let store = open_again(&path).unwrap();
    assert_eq!(store.load().unwrap().services.len(), 2, "from the image");
    let err = store.scrub().unwrap_err();
    let damaged = "the database ".to_owned() + &path.display().to_string() + " is damaged";
    assert!(err.to_string().starts_with(&damaged), "{err}");
    let refused = store.save(&save).unwrap_err();
    assert!(matches!(refused, StoreError::Corrupt { .. }), "{refused}");
    assert!(store.checkpoint().is_err());
    assert!(store.write_image(save.services.clone()).is_err());
    drop(store);
    let err = open_again(&path).unwrap().load().unwrap_err();
    assert!(err.to_string().starts_with(&damaged), "{err}");
}

#[test]
fn an_import_writes_records_and_remembers_itself() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    assert_eq!(store.go_import().unwrap(), None);
    let contents = Contents {
        services: vec![service("a", 1)],
        views: vec![view("v", 2)],
    };
    let import = GoImport {
        file: "lovebeat.db".into(),
        at: 5,
        services: 1,
        views: 1,
    };
    store.import(&contents, &import).unwrap();
    assert_eq!(store.load().unwrap(), contents);
    assert_eq!(store.go_import().unwrap(), Some(import));
}

/// A store with `n` services saved, closed; returns its path.
fn saved_store(dir: &tempfile::TempDir, n: usize) -> std::path::PathBuf {
    let path = dir.path().join("db");
    let store = open_again(&path).unwrap();
    let mut save = Save::default();
    for i in 0..n {
        save.services.push(service(&format!("s{i}"), i as Millis));
    }
    store.save(&save).unwrap();
    path
}

#[test]
fn a_store_whose_log_is_garbage_is_refused_not_opened_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved_store(&dir, 100);
    std::fs::write(path.join("db"), b"not sled at all".repeat(100)).unwrap();
    let err = open_again(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[test]
fn a_store_whose_log_was_cut_short_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved_store(&dir, 2000);
    let log = path.join("db");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&log, bytes).unwrap();
    let err = open_again(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("is damaged"), "{err}");
}

#[test]
fn a_snapshot_is_everything_as_of_its_generation() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let before = store.generation();
    let save = Save {
        services: vec![service("a", 1)],
        views: vec![view("v", 1)],
        ..Save::default()
    };
    store.save(&save).unwrap();
    let (generation, contents) = store.snapshot().unwrap();
    assert_eq!(generation, before + 1);
    assert_eq!(generation, store.generation());
    assert_eq!(contents, store.load().unwrap());
    assert_eq!(contents.services, vec![service("a", 1)]);
}

#[test]
fn a_checkpointed_store_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = open_again(&path).unwrap();
    for i in 0..3 {
        store
            .save(&Save {
                services: vec![service("a", i)],
                ..Save::default()
            })
            .unwrap();
    }
    store.checkpoint().unwrap();
    drop(store);
    let store = open_again(&path).unwrap();
    assert_eq!(store.load().unwrap().services, vec![service("a", 2)]);
}
