//! Test helpers shared by the crate's unit tests.

use std::path::Path;

use lovebeat_core::{Millis, ServiceRecord, State, Timeout};

use crate::error::StoreError;
use crate::store::Store;

/// Opens a store that this process had open a moment ago: sled releases
/// its lock when its last handle is gone, which on a loaded machine can be
/// a little after the drop.
pub(crate) fn open_again(path: &Path) -> Result<Store, StoreError> {
    let start = std::time::Instant::now();
    loop {
        match Store::open(path) {
            Err(StoreError::Locked { .. })
                if start.elapsed() < std::time::Duration::from_secs(10) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// A service record with a beat at `last_beat` and a history of two intervals.
pub(crate) fn service(name: &str, last_beat: Millis) -> ServiceRecord {
    ServiceRecord {
        name: name.into(),
        created: 0,
        last_beat: Some(last_beat),
        warn_timeout: Timeout::Never,
        err_timeout: Timeout::After(60_000),
        state: State::Ok,
        muted_since: None,
        last_state_change: 0,
        history: vec![1000, 2000].into(),
        failure: None,
        beats: 3,
        auto_algorithm: None,
        rhythm: None,
        team: None,
        schedule: None,
        runs: None,
    }
}
