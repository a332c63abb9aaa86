//! The engine's index from service name to slot. It holds only slots: a
//! slot's name is its service's own, so each name is stored once (at a
//! million services, a table of slots is a fifth the size of one that
//! keeps a second pointer to every name).

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

use crate::service::Service;

/// Service name → slot in the engine's `services`. foldhash: several times
/// faster than SipHash on short names, and seeded per process against
/// collision floods.
#[derive(Debug, Default)]
pub(crate) struct NameIndex {
    slots: HashTable<u32>,
    hasher: RandomState,
}

impl NameIndex {
    pub fn with_capacity(capacity: usize) -> NameIndex {
        NameIndex {
            slots: HashTable::with_capacity(capacity),
            hasher: RandomState::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The slot of `name` among `services`.
    pub fn get(&self, name: &str, services: &[Option<Service>]) -> Option<u32> {
        let hash = self.hasher.hash_one(name);
        (self.slots)
            .find(hash, |&slot| name_of(services, slot) == name)
            .copied()
    }

    /// Indexes `slot` under `name`, which no indexed slot has.
    pub fn insert(&mut self, name: &str, slot: u32, services: &[Option<Service>]) {
        let hasher = &self.hasher;
        let hash = hasher.hash_one(name);
        (self.slots).insert_unique(hash, slot, |&s| hasher.hash_one(name_of(services, s)));
    }

    /// Takes `name` out of the index; returns its slot.
    pub fn remove(&mut self, name: &str, services: &[Option<Service>]) -> Option<u32> {
        let hash = self.hasher.hash_one(name);
        let entry = (self.slots).find_entry(hash, |&slot| name_of(services, slot) == name);
        entry.ok().map(|entry| entry.remove().0)
    }
}

fn name_of(services: &[Option<Service>], slot: u32) -> &str {
    let service = services[slot as usize].as_ref();
    &service
        .expect("an indexed slot holds a service")
        .record
        .name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_across_growth_and_removal() {
        let services: Vec<Option<Service>> = (0..1000)
            .map(|i| Some(Service::new(format!("svc.{i}").into(), 0)))
            .collect();
        let mut index = NameIndex::default();
        for slot in 0..1000u32 {
            index.insert(&format!("svc.{slot}"), slot, &services);
        }
        assert_eq!(index.len(), 1000);
        for slot in (0..1000u32).step_by(2) {
            assert_eq!(index.remove(&format!("svc.{slot}"), &services), Some(slot));
        }
        assert_eq!(index.remove("svc.0", &services), None);
        for slot in 0..1000u32 {
            let found = index.get(&format!("svc.{slot}"), &services);
            assert_eq!(found, (slot % 2 == 1).then_some(slot));
        }
        assert_eq!(index.get("svc.1000", &services), None);
        assert_eq!(index.len(), 500);
    }
}
