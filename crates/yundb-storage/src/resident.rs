//! Resident copies of collections: all of one collection's stored records, in natural order, in
//! one contiguous buffer, kept from one full scan to the next while the collection does not
//! change.
//!
//! A scan of a resident copy is a walk over memory the compiled filter reads in place: no B-tree
//! pages, no page-cache lookups. A copy is made by the first full scan of a snapshot, shared by
//! every later snapshot until a commit touches the collection, and never larger than the
//! database's budget ([`Store::set_resident_budget`](crate::Store::set_resident_budget)): the
//! memory it takes is bounded whatever the file's size.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use yundb_query::stored::{self, Raw};

use crate::id::IdKey;

/// One collection's records at one commit.
pub(crate) struct Resident {
    /// Record numbers, ascending.
    numbers: Vec<u64>,
    /// `ends[i]` is where record `i` ends in `bytes` (it starts where the one before ends).
    ends: Vec<usize>,
    bytes: Vec<u8>,
    /// `_id` → record, made on the first lookup by `_id`.
    ids: OnceLock<IdTable>,
}

impl Resident {
    /// Starts an empty copy.
    pub(crate) fn with_capacity(records: usize) -> Resident {
        Resident {
            numbers: Vec::with_capacity(records),
            ends: Vec::with_capacity(records),
            bytes: Vec::new(),
            ids: OnceLock::new(),
        }
    }

    pub(crate) fn push(&mut self, number: u64, bytes: &[u8]) {
        self.numbers.push(number);
        self.bytes.extend_from_slice(bytes);
        self.ends.push(self.bytes.len());
    }

    /// The memory it takes, in bytes: its `_id` table (made on the first lookup by `_id`) is
    /// counted from the start, so the budget bounds it too.
    pub(crate) fn size(&self) -> usize {
        self.bytes.len() + self.numbers.len() * 16 + id_slots(self.len()) * 8
    }

    pub(crate) fn len(&self) -> usize {
        self.numbers.len()
    }

    fn record(&self, position: usize) -> Option<&[u8]> {
        let end = *self.ends.get(position)?;
        let start = match position.checked_sub(1) {
            Some(before) => *self.ends.get(before)?,
            None => 0,
        };
        self.bytes.get(start..end)
    }

    /// The first and last record numbers.
    pub(crate) fn bounds(&self) -> Option<(u64, u64)> {
        Some((*self.numbers.first()?, *self.numbers.last()?))
    }

    /// Calls `f` with the records numbered `from..to` until it returns `false`.
    pub(crate) fn scan(&self, from: u64, to: u64, f: &mut dyn FnMut(&[u8]) -> bool) {
        let start = self.numbers.partition_point(|&n| n < from);
        let end = self.numbers.partition_point(|&n| n < to);
        for position in start..end {
            match self.record(position) {
                Some(bytes) if f(bytes) => {}
                _ => break,
            }
        }
    }

    /// The record with this record number.
    pub(crate) fn by_number(&self, number: u64) -> Option<&[u8]> {
        let position = self.numbers.binary_search(&number).ok()?;
        self.record(position)
    }

    /// The record with this `_id`. `Err` when the `_id` table could not be made (a record
    /// without a valid `_id`; the caller reads the file instead).
    pub(crate) fn by_id(&self, key: &IdKey) -> Result<Option<&[u8]>, NoIdMap> {
        let table = match self.ids.get() {
            Some(table) => table,
            None => {
                let table = self.id_table().ok_or(NoIdMap)?;
                self.ids.get_or_init(|| table)
            }
        };
        let hash = table.hasher.hash_one(key.as_bytes());
        let mask = table.slots.len() - 1;
        let mut at = hash as usize & mask;
        // At most half the slots are used: the probe ends at an empty one.
        loop {
            let slot = *table.slots.get(at).ok_or(NoIdMap)?;
            if slot == 0 {
                return Ok(None);
            }
            if slot >> OFFSET_BITS == hash >> OFFSET_BITS {
                let record = self
                    .record_at((slot & OFFSET_MASK).wrapping_sub(1))
                    .ok_or(NoIdMap)?;
                if stored_id(record).is_some_and(|id| key.is_stored(&id)) {
                    return Ok(Some(record));
                }
            }
            at = (at + 1) & mask;
        }
    }

    fn id_table(&self) -> Option<IdTable> {
        if u64::try_from(self.bytes.len()).ok()? >= OFFSET_MASK {
            return None;
        }
        let slots = id_slots(self.len());
        let mask = slots - 1;
        let mut table = IdTable {
            hasher: RandomState::new(),
            slots: vec![0; slots],
        };
        let mut key = Vec::with_capacity(32);
        let mut start = 0;
        for &end in &self.ends {
            let id = stored_id(self.bytes.get(start..end)?)?;
            if !IdKey::stored_into(&id, &mut key) {
                return None;
            }
            let hash = table.hasher.hash_one(key.as_slice());
            let mut at = hash as usize & mask;
            loop {
                let slot = table.slots.get_mut(at)?;
                if *slot == 0 {
                    *slot = (hash >> OFFSET_BITS) << OFFSET_BITS | (start as u64 + 1);
                    break;
                }
                at = (at + 1) & mask;
            }
            start = end;
        }
        Some(table)
    }

    /// The record that starts at byte `offset` (records are self-delimiting).
    fn record_at(&self, offset: u64) -> Option<&[u8]> {
        let tail = self.bytes.get(usize::try_from(offset).ok()?..)?;
        let (_, rest) = stored::read(tail)?;
        tail.get(..tail.len() - rest.len())
    }
}

/// The slots of the `_id` table for `records` records: at most half are used.
fn id_slots(records: usize) -> usize {
    (records * 2).max(2).next_power_of_two()
}

/// A record's stored `_id`.
fn stored_id(record: &[u8]) -> Option<Raw<'_>> {
    stored::read(record)?.0.get("_id")
}

/// A slot holds the record's byte offset + 1 in its low bits and the top bits of the key's
/// hash above them; 0 is empty.
const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;

/// `_id` key → record, by open addressing over one array of 8-byte slots, at most half full. A
/// lookup reads one slot, then the record, whose stored `_id` confirms the match: two cache
/// misses where a map of boxed keys to positions takes five. Hashing is keyed per table
/// (`RandomState`), so chosen `_id`s cannot make probes long.
struct IdTable {
    hasher: RandomState,
    slots: Vec<u64>,
}

/// The `_id` map of a resident copy could not be made.
pub(crate) struct NoIdMap;

/// The resident copies of a database, with what decides whether one is still current.
#[derive(Default)]
pub(crate) struct Residents {
    inner: Mutex<Set>,
}

#[derive(Default)]
struct Set {
    /// The copies, each with the commit generation of the snapshot it was made from.
    copies: HashMap<String, (u64, Arc<Resident>)>,
    /// The generation of the last commit that touched each collection.
    changed_at: HashMap<String, u64>,
    /// Full scans asked for since each collection last changed, while it had no copy.
    scans: HashMap<String, u32>,
    /// The bytes the copies take.
    used: usize,
    budget: usize,
}

/// The default budget for resident copies: 256 MiB.
pub const DEFAULT_RESIDENT_BUDGET: usize = 256 << 20;

impl Residents {
    pub(crate) fn new() -> Residents {
        Residents {
            inner: Mutex::new(Set {
                budget: DEFAULT_RESIDENT_BUDGET,
                ..Set::default()
            }),
        }
    }

    pub(crate) fn set_budget(&self, bytes: usize) {
        let mut set = self.inner.lock();
        set.budget = bytes;
        if set.used > bytes {
            set.copies.clear();
            set.used = 0;
        }
    }

    pub(crate) fn budget(&self) -> usize {
        self.inner.lock().budget
    }

    /// Commit `generation` changed these collections: their copies are out of date.
    pub(crate) fn changed(&self, generation: u64, names: impl IntoIterator<Item = String>) {
        let mut set = self.inner.lock();
        for name in names {
            if let Some((_, old)) = set.copies.remove(&name) {
                set.used -= old.size();
            }
            set.scans.remove(&name);
            set.changed_at.insert(name, generation);
        }
    }

    /// Whether the collection is unchanged since generation `at`.
    fn unchanged_since(set: &Set, name: &str, at: u64) -> bool {
        set.changed_at.get(name).is_none_or(|&g| g <= at)
    }

    /// The copy of `name` that a snapshot of `generation` may use.
    pub(crate) fn get(&self, name: &str, generation: u64) -> Option<Arc<Resident>> {
        let set = self.inner.lock();
        let (made, copy) = set.copies.get(name)?;
        Self::unchanged_since(&set, name, (*made).min(generation)).then(|| Arc::clone(copy))
    }

    /// Counts a full scan of `name` that found no copy, and says whether to make one now: on
    /// the second scan since the collection last changed. A copy costs about one more scan,
    /// so a collection scanned once between writes never pays for one.
    pub(crate) fn scan_wants_copy(&self, name: &str) -> bool {
        let mut set = self.inner.lock();
        let scans = set.scans.entry(name.to_owned()).or_insert(0);
        *scans = scans.saturating_add(1);
        *scans >= 2
    }

    /// Keeps a copy made from a snapshot of `generation`, if it is current and fits.
    pub(crate) fn keep(&self, name: &str, generation: u64, copy: &Arc<Resident>) {
        let mut set = self.inner.lock();
        if !Self::unchanged_since(&set, name, generation) || set.copies.contains_key(name) {
            return;
        }
        if set.used + copy.size() > set.budget {
            return;
        }
        set.used += copy.size();
        set.copies
            .insert(name.to_owned(), (generation, Arc::clone(copy)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_made_on_the_second_scan_since_a_change() {
        let residents = Residents::new();
        assert!(!residents.scan_wants_copy("c"));
        assert!(residents.scan_wants_copy("c"));
        // Another collection's scans and changes count on their own.
        assert!(!residents.scan_wants_copy("d"));
        residents.changed(1, ["c".to_owned()]);
        assert!(!residents.scan_wants_copy("c"));
        assert!(residents.scan_wants_copy("c"));
        assert!(residents.scan_wants_copy("d"));
    }
}
