//! A service's beat history: the intervals between its beats, in ms,
//! oldest first, packed.
//!
//! The bytes are the number of intervals, then the first interval, each
//! as a LEB128 varint, then each next interval as the zigzag varint of its
//! difference to the one before. A service that beats regularly has
//! intervals that differ by little, so most take one or two bytes instead
//! of four: a full history of 100 minutely intervals is about 200 bytes
//! instead of 400, at a million services 200 MB. Reading decodes (about a
//! nanosecond an interval); the AUTO estimators and the API read a
//! history far less often than a million of them sit in memory.
//!
//! Shared and never changed in place: the engine, the readers' snapshot
//! and the store hold one copy between them.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Intervals between beats in ms, oldest first (see the module).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Intervals(Arc<[u8]>);

impl Intervals {
    /// How many intervals there are.
    pub fn len(&self) -> usize {
        let mut bytes = &self.0[..];
        varint(&mut bytes) as usize
    }

    /// No intervals: no bytes (a count of 0 is never kept).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The intervals, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let mut bytes = &self.0[..];
        let count = varint(&mut bytes);
        let mut previous = 0i64;
        (0..count).map(move |i| {
            let value = varint(&mut bytes);
            previous = if i == 0 {
                value as i64
            } else {
                previous.wrapping_add(unzigzag(value))
            };
            previous as u32
        })
    }

    pub fn to_vec(&self) -> Vec<u32> {
        self.iter().collect()
    }

    /// `f` of the intervals unpacked, oldest first; without allocating
    /// (a scratch buffer per thread) unless `f` itself unpacks.
    pub fn with_slice<R>(&self, f: impl FnOnce(&[u32]) -> R) -> R {
        UNPACKED.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => {
                scratch.clear();
                scratch.extend(self.iter());
                f(&scratch)
            }
            Err(_) => f(&self.to_vec()),
        })
    }

    /// The packed bytes (see the module), for a store to keep as they are.
    pub fn packed(&self) -> &[u8] {
        &self.0
    }

    /// Intervals from bytes [`Intervals::packed`] gave; checks their
    /// framing (as many varints as their count says), which a scan of the
    /// bytes does without decoding them.
    pub fn from_packed(bytes: &[u8]) -> Result<Intervals, String> {
        if bytes.is_empty() {
            return Ok(Intervals::default());
        }
        let count = varint(&mut &bytes[..]);
        let varints = bytes.iter().filter(|&&b| b < 0x80).count() as u64;
        if bytes.last().is_some_and(|&b| b >= 0x80) || varints != count + 1 {
            return Err(format!(
                "{} bytes do not hold {count} intervals",
                bytes.len()
            ));
        }
        if count == 0 {
            return Ok(Intervals::default());
        }
        Ok(Intervals(Arc::from(bytes)))
    }

    /// The newest interval.
    pub fn last(&self) -> Option<u32> {
        self.iter().last()
    }

    /// These intervals and then `interval`, keeping the newest `capacity`.
    pub fn pushed(&self, interval: u32, capacity: usize) -> Intervals {
        let len = self.len();
        let skipped = len - len.min(capacity.saturating_sub(1));
        self.iter().skip(skipped).chain([interval]).collect()
    }

    /// The newest `capacity` of these intervals.
    pub fn newest(self, capacity: usize) -> Intervals {
        match self.len().checked_sub(capacity) {
            Some(excess) if excess > 0 => self.iter().skip(excess).collect(),
            _ => self,
        }
    }
}

impl FromIterator<u32> for Intervals {
    fn from_iter<I: IntoIterator<Item = u32>>(intervals: I) -> Intervals {
        PACKING.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => pack(intervals, &mut scratch),
            Err(_) => pack(intervals, &mut Vec::new()),
        })
    }
}

thread_local! {
    /// Where intervals are packed before they get an allocation of their
    /// exact size, and unpacked for [`Intervals::with_slice`].
    static PACKING: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static UNPACKED: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// The longest varint of a `u64`.
const MAX_VARINT: usize = 10;

/// Packs `intervals` in `scratch` (the count goes in front once known),
/// then copies them into one allocation of their size.
fn pack(intervals: impl IntoIterator<Item = u32>, scratch: &mut Vec<u8>) -> Intervals {
    scratch.clear();
    scratch.resize(MAX_VARINT, 0);
    let mut count = 0u64;
    let mut previous = None;
    for interval in intervals {
        match previous {
            None => put_varint(scratch, u64::from(interval)),
            Some(p) => put_varint(scratch, zigzag(i64::from(interval) - i64::from(p))),
        }
        previous = Some(interval);
        count += 1;
    }
    if count == 0 {
        return Intervals::default();
    }
    let mut prefix = Vec::with_capacity(MAX_VARINT);
    put_varint(&mut prefix, count);
    let start = MAX_VARINT - prefix.len();
    scratch[start..MAX_VARINT].copy_from_slice(&prefix);
    Intervals(Arc::from(&scratch[start..]))
}

impl<const N: usize> From<[u32; N]> for Intervals {
    fn from(intervals: [u32; N]) -> Intervals {
        intervals.into_iter().collect()
    }
}

impl From<Vec<u32>> for Intervals {
    fn from(intervals: Vec<u32>) -> Intervals {
        intervals.into_iter().collect()
    }
}

impl fmt::Debug for Intervals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// As a list of numbers, as when it was a plain list.
impl Serialize for Intervals {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Intervals {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Intervals, D::Error> {
        Vec::<u32>::deserialize(deserializer).map(Intervals::from)
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The varint at the front of `bytes`, which it consumes (bits beyond 64
/// are dropped: any bytes read as some number, never a panic).
fn varint(bytes: &mut &[u8]) -> u64 {
    let mut value = 0u64;
    let mut shift = 0;
    while let Some((&byte, rest)) = bytes.split_first() {
        *bytes = rest;
        if shift < 64 {
            value |= u64::from(byte & 0x7f) << shift;
        }
        if byte < 0x80 {
            break;
        }
        shift += 7;
    }
    value
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    (value >> 1) as i64 ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn regular_intervals_take_about_two_bytes_each() {
        let minutely: Intervals = (0..100).map(|i| 59_000 + (i * 37 % 2000)).collect();
        assert_eq!(minutely.len(), 100);
        assert!(
            minutely.0.len() <= 2 + 3 + 99 * 2,
            "{} bytes",
            minutely.0.len()
        );
    }

    #[test]
    fn pushing_keeps_the_newest_up_to_the_capacity() {
        let h = Intervals::from([1000, 2000, 3000]);
        assert_eq!(h.pushed(4000, 3).to_vec(), [2000, 3000, 4000]);
        assert_eq!(h.pushed(4000, 5).to_vec(), [1000, 2000, 3000, 4000]);
        assert_eq!(h.pushed(4000, 1).to_vec(), [4000]);
        assert_eq!(Intervals::default().pushed(7, 3).to_vec(), [7]);
        assert_eq!(h.clone().newest(2).to_vec(), [2000, 3000]);
        assert_eq!(h.clone().newest(9), h);
        assert_eq!(h.last(), Some(3000));
    }

    #[test]
    fn with_slice_unpacks_also_when_nested() {
        let a = Intervals::from([1, 2, 3]);
        let b = Intervals::from([4, 5]);
        let sums = a.with_slice(|a| (a.iter().sum::<u32>(), b.with_slice(|b| b.iter().sum())));
        assert_eq!(sums, (6, 9));
        let packed_inside: Intervals = a.with_slice(|a| a.iter().map(|i| i * 2).collect());
        assert_eq!(packed_inside.to_vec(), [2, 4, 6]);
    }

    #[test]
    fn the_empty_history_is_empty() {
        let empty = Intervals::default();
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        assert_eq!(empty.to_vec(), Vec::<u32>::new());
        assert_eq!(Intervals::from(Vec::new()), empty);
        assert_eq!(empty.last(), None);
    }

    #[test]
    fn it_serializes_as_a_list_of_numbers() {
        let h = Intervals::from([60_000, 1, u32::MAX]);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, "[60000,1,4294967295]");
        assert_eq!(serde_json::from_str::<Intervals>(&json).unwrap(), h);
    }

    #[test]
    fn packed_bytes_round_trip_and_bad_framing_is_refused() {
        let h = Intervals::from([60_000, 59_000, 61_234]);
        assert_eq!(Intervals::from_packed(h.packed()).unwrap(), h);
        assert_eq!(Intervals::from_packed(&[]).unwrap(), Intervals::default());
        let cut = &h.packed()[..h.packed().len() - 1];
        assert!(Intervals::from_packed(cut).is_err());
        assert!(
            Intervals::from_packed(&[3, 1]).is_err(),
            "fewer than the count"
        );
        assert!(
            Intervals::from_packed(&[1, 1, 1]).is_err(),
            "more than the count"
        );
    }

    proptest! {
        #[test]
        fn any_intervals_read_back_as_written(intervals in proptest::collection::vec(any::<u32>(), 0..300)) {
            let packed = Intervals::from(intervals.clone());
            prop_assert_eq!(packed.len(), intervals.len());
            prop_assert_eq!(packed.is_empty(), intervals.is_empty());
            prop_assert_eq!(Intervals::from_packed(packed.packed()).unwrap(), packed.clone());
            prop_assert_eq!(packed.to_vec(), intervals);
        }

        #[test]
        fn any_bytes_read_as_some_intervals_without_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(h) = Intervals::from_packed(&bytes) {
                prop_assert_eq!(h.iter().count(), h.len());
            }
        }
    }
}
