//! The wall clock, in the model's milliseconds since the epoch: the one
//! place the runtime crates read it. The model itself never calls it; its
//! functions take `now` as a parameter.

use crate::Millis;

/// The wall clock in ms since the epoch.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}
