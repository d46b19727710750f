//! The redb-backed store: a catalogue of collections, and per collection a record table in
//! insertion order plus an `_id` index.
//!
//! Layout (format 1):
//! - `yundb_meta` (`&str → u64`): `format`, and `seq`, the commit sequence number.
//! - `yundb_catalog` (`&str → &[u8]`): collection name → its options, as JSON.
//! - `r/<name>` (`u64 → &[u8]`): record number → the record as JSON. Record numbers grow with
//!   every insert, so a scan of this table is insertion order ("natural order").
//! - `i/<name>` (`&[u8] → u64`): encoded `_id` ([`IdKey`]) → record number.

use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, Table,
    TableDefinition, WriteTransaction,
};
use serde_json::Value;

use crate::codec;
use crate::error::{Result, StorageError};
use crate::id::IdKey;
use crate::resident::{Resident, Residents};

const META: TableDefinition<&str, u64> = TableDefinition::new("yundb_meta");
const CATALOG: TableDefinition<&str, &[u8]> = TableDefinition::new("yundb_catalog");
/// Per index (`collection/index`): 1 once a record has put two or more entries in it
/// (multikey), 0 while none has. An index without an entry here (one made before this table
/// existed) counts as multikey.
const MULTIKEY: TableDefinition<&str, u64> = TableDefinition::new("yundb_multikey");
const FORMAT: u64 = 2;

/// The longest collection name accepted.
pub const MAX_COLLECTION_NAME: usize = 64;

/// Checks a collection name: 1 to 64 characters from `A-Z a-z 0-9 _ -`, not starting with `-`.
///
/// This accepts every name CloudBase's own (unenforced) rule `^[a-zA-Z0-9][a-zA-Z0-9-_]{1,32}$`
/// accepts, plus one-character names, longer names and a leading `_`.
pub fn validate_collection_name(name: &str) -> Result<()> {
    let fail = |reason| {
        Err(StorageError::InvalidCollectionName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return fail("it is empty");
    }
    if name.len() > MAX_COLLECTION_NAME {
        return fail("it is longer than 64 characters");
    }
    if name.starts_with('-') {
        return fail("it starts with `-`");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return fail("only A-Z, a-z, 0-9, `_` and `-` are allowed");
    }
    Ok(())
}

fn records_table(name: &str) -> String {
    format!("r/{name}")
}

fn ids_table(name: &str) -> String {
    format!("i/{name}")
}

fn index_table(collection: &str, index: &str) -> String {
    format!("x/{collection}/{index}")
}

type IndexDef<'n> = TableDefinition<'n, &'static [u8], u64>;

fn multikey_key(collection: &str, index: &str) -> String {
    // Collection names hold no `/`: the first one separates the two.
    format!("{collection}/{index}")
}

/// Whether `table` says the index may be multikey (unknown: yes).
fn read_multikey(table: &impl ReadableTable<&'static str, u64>, key: &str) -> Result<bool> {
    Ok(table.get(key)?.is_none_or(|g| g.value() != 0))
}

/// The stored key of a non-unique index entry: the index key, then the record number.
fn entry_key(key: &[u8], unique: bool, record: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 8);
    k.extend_from_slice(key);
    if !unique {
        k.extend_from_slice(&record.to_be_bytes());
    }
    k
}

fn scan_index(
    table: &impl ReadableTable<&'static [u8], u64>,
    lower: Bound<&[u8]>,
    upper: Bound<&[u8]>,
    reverse: bool,
    f: &mut dyn FnMut(u64) -> bool,
) -> Result<()> {
    // An empty or inverted range (`{$gte: 5, $lt: 3}`) yields nothing: redb checks.
    let range = table.range((lower, upper))?;
    if reverse {
        for entry in range.rev() {
            if !f(entry?.1.value()) {
                break;
            }
        }
    } else {
        for entry in range {
            if !f(entry?.1.value()) {
                break;
            }
        }
    }
    Ok(())
}

/// A database file (or memory region) holding collections of JSON records.
pub struct Store {
    db: Database,
    snapshots: Arc<Snapshots>,
}

impl Drop for Store {
    fn drop(&mut self) {
        // The cached snapshot goes before the database it reads.
        self.snapshots.state.lock().1 = None;
    }
}

/// The shared read snapshot of the last commit. Reads reuse it (with its opened tables) until
/// the next commit, instead of starting a redb read transaction and opening tables per call.
struct Snapshots {
    /// (commits seen, the snapshot taken after the last of them)
    state: Mutex<(u64, Option<Arc<ReadTxn>>)>,
    /// Shared with the snapshots (which must not hold `Snapshots` itself: that would be a
    /// cycle through the cached snapshot).
    residents: Arc<Residents>,
}

impl Snapshots {
    /// Called before a commit that touches `names`: returns the commit's generation, and their
    /// resident copies stop being current (before the commit, so that no reader of an older
    /// snapshot ever pairs it with a copy of the newer one).
    fn committing(&self, names: Vec<String>) -> u64 {
        let generation = self.state.lock().0 + 1;
        self.residents.changed(generation, names);
        generation
    }

    /// Called after every commit: the cached snapshot is out of date.
    fn committed(&self, generation: u64) {
        let mut state = self.state.lock();
        state.0 = state.0.max(generation);
        state.1 = None;
    }
}

impl Store {
    /// Opens the database at `path`, creating the file if it is missing.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::init(Database::create(path)?)
    }

    /// Opens (or creates) a database on any redb storage backend (fault injection, custom
    /// media).
    pub fn with_backend(backend: impl redb::StorageBackend) -> Result<Store> {
        Store::init(Database::builder().create_with_backend(backend)?)
    }

    /// Creates a database held in memory, on redb's in-memory backend (same code path as a file).
    pub fn memory() -> Result<Store> {
        Store::init(
            Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?,
        )
    }

    fn init(db: Database) -> Result<Store> {
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta.get("format")?.map(|g| g.value());
            match found {
                None => {
                    meta.insert("format", FORMAT)?;
                    meta.insert("seq", 0)?;
                }
                Some(FORMAT) => {}
                Some(found) => {
                    return Err(StorageError::UnsupportedFormat {
                        found,
                        expected: FORMAT,
                    })
                }
            }
            txn.open_table(CATALOG)?;
        }
        txn.commit()?;
        Ok(Store {
            db,
            snapshots: Arc::new(Snapshots {
                state: Mutex::default(),
                residents: Arc::new(Residents::new()),
            }),
        })
    }

    /// Starts a write transaction. Only one runs at a time: this waits for the current one.
    pub fn begin_write(&self) -> Result<WriteTxn> {
        Ok(WriteTxn {
            txn: self.db.begin_write()?,
            snapshots: Arc::clone(&self.snapshots),
            touched: Mutex::default(),
        })
    }

    /// Sets how many bytes the resident copies of collections may take together (default
    /// 256 MiB; 0 turns them off). Collections that do not fit are scanned from the file.
    pub fn set_resident_budget(&self, bytes: usize) {
        self.snapshots.residents.set_budget(bytes);
    }

    /// A consistent read snapshot of the last commit. Snapshots are shared: every read between
    /// two commits gets the same one (the cache is dropped by each commit, so it never pins
    /// more than one old version of the pages).
    pub fn begin_read(&self) -> Result<Arc<ReadTxn>> {
        let generation = {
            let state = self.snapshots.state.lock();
            if let Some(snapshot) = &state.1 {
                return Ok(Arc::clone(snapshot));
            }
            state.0
        };
        let snapshot = Arc::new(ReadTxn {
            txn: self.db.begin_read()?,
            tables: Mutex::default(),
            generation,
            residents: Arc::clone(&self.snapshots.residents),
        });
        let mut state = self.snapshots.state.lock();
        // Keep it only if no commit happened since `generation` was read: otherwise it may show
        // the commit before that one.
        if state.0 == generation && state.1.is_none() {
            state.1 = Some(Arc::clone(&snapshot));
        }
        Ok(snapshot)
    }
}

/// A read-only snapshot.
pub struct ReadTxn {
    txn: ReadTransaction,
    /// Collections opened in this snapshot.
    tables: Mutex<HashMap<String, Arc<Tables>>>,
    /// The commits counted when it was taken (it may show a later one, never an earlier one).
    generation: u64,
    residents: Arc<Residents>,
}

/// One collection's record table and `_id` index, opened in a read snapshot.
struct Tables {
    name: String,
    records: ReadOnlyTable<u64, &'static [u8]>,
    ids: ReadOnlyTable<&'static [u8], u64>,
    /// The resident copy this snapshot uses, once known (a copy that matches the snapshot
    /// keeps matching it).
    resident: std::sync::OnceLock<Arc<Resident>>,
}

impl ReadTxn {
    /// The sequence number of the commit this snapshot shows.
    pub fn seq(&self) -> Result<u64> {
        let meta = self.txn.open_table(META)?;
        let seq = meta.get("seq")?.map_or(0, |g| g.value());
        Ok(seq)
    }

    /// The options stored with a collection, or `None` if it does not exist.
    pub fn collection_options(&self, name: &str) -> Result<Option<Value>> {
        let catalog = self.txn.open_table(CATALOG)?;
        read_options(&catalog, name)
    }

    /// The names of all collections, sorted.
    pub fn list_collections(&self) -> Result<Vec<String>> {
        let catalog = self.txn.open_table(CATALOG)?;
        list(&catalog)
    }

    /// Opens a collection for reading.
    ///
    /// # Errors
    /// [`StorageError::CollectionNotFound`] if it does not exist.
    pub fn collection(&self, name: &str) -> Result<CollectionReader<'_>> {
        let cached = self.tables.lock().get(name).map(Arc::clone);
        let tables = match cached {
            Some(tables) => tables,
            None => {
                let exists = self.txn.open_table(CATALOG)?.get(name)?.is_some();
                if !exists {
                    return Err(StorageError::CollectionNotFound {
                        name: name.to_owned(),
                    });
                }
                let tables = Arc::new(Tables {
                    name: name.to_owned(),
                    resident: std::sync::OnceLock::new(),
                    records: self
                        .txn
                        .open_table(TableDefinition::new(&records_table(name)))?,
                    ids: self
                        .txn
                        .open_table(TableDefinition::new(&ids_table(name)))?,
                });
                self.tables
                    .lock()
                    .insert(name.to_owned(), Arc::clone(&tables));
                tables
            }
        };
        Ok(CollectionReader { read: self, tables })
    }
}

fn read_options(
    catalog: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
) -> Result<Option<Value>> {
    match catalog.get(name)? {
        None => Ok(None),
        Some(bytes) => codec::decode_json(bytes.value())
            .map(Some)
            .map_err(|detail| StorageError::Corrupted {
                collection: name.to_owned(),
                detail,
            }),
    }
}

fn list(catalog: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in catalog.iter()? {
        names.push(entry?.0.value().to_owned());
    }
    Ok(names)
}

/// A write transaction. Nothing it does is visible until [`commit`](WriteTxn::commit); dropping
/// it without committing discards everything.
pub struct WriteTxn {
    txn: WriteTransaction,
    snapshots: Arc<Snapshots>,
    /// Collections whose records this transaction changes (their resident copies end with
    /// its commit).
    touched: Mutex<Vec<String>>,
}

impl WriteTxn {
    /// Creates a collection with the given options.
    ///
    /// # Errors
    /// [`StorageError::InvalidCollectionName`], [`StorageError::CollectionExists`].
    pub fn create_collection(&self, name: &str, options: &Value) -> Result<()> {
        validate_collection_name(name)?;
        let mut catalog = self.txn.open_table(CATALOG)?;
        if catalog.get(name)?.is_some() {
            return Err(StorageError::CollectionExists {
                name: name.to_owned(),
            });
        }
        catalog.insert(name, codec::encode_json(options).as_slice())?;
        drop(catalog);
        self.touched.lock().push(name.to_owned());
        self.txn
            .open_table(TableDefinition::<u64, &[u8]>::new(&records_table(name)))?;
        self.txn
            .open_table(TableDefinition::<&[u8], u64>::new(&ids_table(name)))?;
        Ok(())
    }

    /// Replaces a collection's options.
    pub fn set_collection_options(&self, name: &str, options: &Value) -> Result<()> {
        let mut catalog = self.txn.open_table(CATALOG)?;
        if catalog.get(name)?.is_none() {
            return Err(StorageError::CollectionNotFound {
                name: name.to_owned(),
            });
        }
        catalog.insert(name, codec::encode_json(options).as_slice())?;
        Ok(())
    }

    /// Drops a collection and all its records. Returns whether it existed.
    pub fn drop_collection(&self, name: &str) -> Result<bool> {
        let mut catalog = self.txn.open_table(CATALOG)?;
        if catalog.remove(name)?.is_none() {
            return Ok(false);
        }
        drop(catalog);
        self.touched.lock().push(name.to_owned());
        self.txn
            .delete_table(TableDefinition::<u64, &[u8]>::new(&records_table(name)))?;
        self.txn
            .delete_table(TableDefinition::<&[u8], u64>::new(&ids_table(name)))?;
        let prefix = format!("x/{name}/");
        let indexes: Vec<String> = self
            .txn
            .list_tables()?
            .map(|t| redb::TableHandle::name(&t).to_owned())
            .filter(|n| n.starts_with(&prefix))
            .collect();
        for table in indexes {
            self.txn.delete_table(IndexDef::new(&table))?;
        }
        let mut multikey = self.txn.open_table(MULTIKEY)?;
        let start = format!("{name}/");
        let end = format!("{name}0"); // `0` follows `/`
        multikey.retain_in(start.as_str()..end.as_str(), |_, _| false)?;
        Ok(true)
    }

    /// Creates an empty index table for a collection (the caller fills it and records the
    /// index's definition in the collection's options).
    pub fn create_index_table(&self, collection: &str, index: &str) -> Result<()> {
        self.txn
            .open_table(IndexDef::new(&index_table(collection, index)))?;
        Ok(())
    }

    /// Deletes an index table.
    pub fn drop_index_table(&self, collection: &str, index: &str) -> Result<()> {
        self.txn
            .delete_table(IndexDef::new(&index_table(collection, index)))?;
        self.txn
            .open_table(MULTIKEY)?
            .remove(multikey_key(collection, index).as_str())?;
        Ok(())
    }

    /// Records whether some record has put two or more entries in an index (see
    /// [`RecordRead::index_multikey`]).
    pub fn set_index_multikey(&self, collection: &str, index: &str, multikey: bool) -> Result<()> {
        self.txn.open_table(MULTIKEY)?.insert(
            multikey_key(collection, index).as_str(),
            u64::from(multikey),
        )?;
        Ok(())
    }

    /// The options stored with a collection, or `None` if it does not exist.
    pub fn collection_options(&self, name: &str) -> Result<Option<Value>> {
        let catalog = self.txn.open_table(CATALOG)?;
        read_options(&catalog, name)
    }

    /// The names of all collections, sorted.
    pub fn list_collections(&self) -> Result<Vec<String>> {
        let catalog = self.txn.open_table(CATALOG)?;
        list(&catalog)
    }

    /// Opens a collection for reading and writing. Only one writer per collection may be open at
    /// a time within a transaction.
    ///
    /// # Errors
    /// [`StorageError::CollectionNotFound`] if it does not exist.
    pub fn collection(&self, name: &str) -> Result<CollectionWriter<'_>> {
        if self.txn.open_table(CATALOG)?.get(name)?.is_none() {
            return Err(StorageError::CollectionNotFound {
                name: name.to_owned(),
            });
        }
        let records = self
            .txn
            .open_table(TableDefinition::new(&records_table(name)))?;
        let next = records.last()?.map_or(0, |(k, _)| k.value() + 1);
        Ok(CollectionWriter {
            txn: &self.txn,
            touched: &self.touched,
            changes_records: false,
            multikey: HashSet::new(),
            indexes: HashMap::new(),
            name: name.to_owned(),
            records,
            ids: self
                .txn
                .open_table(TableDefinition::new(&ids_table(name)))?,
            next,
        })
    }

    /// Commits durably (redb's immediate durability: on disk when this returns) and returns the
    /// new commit sequence number, which is one more than the last.
    pub fn commit(self) -> Result<u64> {
        let seq = self.next_seq()?;
        self.commit_as_is()?;
        Ok(seq)
    }

    /// Takes the next commit sequence number inside this transaction (one per write: a
    /// transaction that carries several writers' work takes one for each).
    pub fn next_seq(&self) -> Result<u64> {
        let mut meta = self.txn.open_table(META)?;
        let seq = meta.get("seq")?.map_or(0, |g| g.value()) + 1;
        meta.insert("seq", seq)?;
        Ok(seq)
    }

    /// Commits durably as it is (the sequence numbers it took with [`WriteTxn::next_seq`]).
    pub fn commit_as_is(self) -> Result<()> {
        let generation = self
            .snapshots
            .committing(std::mem::take(&mut *self.touched.lock()));
        self.txn.commit()?;
        self.snapshots.committed(generation);
        Ok(())
    }
}

/// Read access to one collection's records.
pub trait RecordRead {
    /// The record with this `_id`.
    fn get(&self, id: &IdKey) -> Result<Option<Value>>;
    /// Calls `f` with every record's stored bytes (see [`crate::decode`]) in insertion order
    /// until it returns `false`.
    fn scan_raw(&self, f: &mut dyn FnMut(&[u8]) -> bool) -> Result<()>;
    /// As [`RecordRead::scan_raw`], for the records numbered `from..to`.
    fn scan_raw_range(&self, from: u64, to: u64, f: &mut dyn FnMut(&[u8]) -> bool) -> Result<()>;
    /// The first and last record numbers, if any record exists.
    fn number_bounds(&self) -> Result<Option<(u64, u64)>>;
    /// The collection's name.
    fn name(&self) -> &str;
    /// This reader as one that threads may share (a read snapshot is; a writer is not).
    fn as_shared(&self) -> Option<&(dyn RecordRead + Sync)> {
        None
    }
    /// Calls `f` with the stored bytes (see [`crate::decode`]) of the record with this record
    /// number (see [`CollectionWriter::insert`]); returns whether there is one.
    fn raw_number(&self, number: u64, f: &mut dyn FnMut(&[u8])) -> Result<bool>;
    /// Calls `f` with the record number of every entry of `index` whose key lies in the bounds
    /// (the index key without the record-number suffix of non-unique entries: a prefix bound
    /// covers them), in key order or reversed, until it returns `false`.
    fn index_scan(
        &self,
        index: &str,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        f: &mut dyn FnMut(u64) -> bool,
    ) -> Result<()>;
    /// Whether some record may have put two or more entries in `index` (an array on an indexed
    /// path): only a single-key index lets both bounds of a range narrow a scan.
    fn index_multikey(&self, index: &str) -> Result<bool>;
    /// The number of records.
    fn len(&self) -> Result<u64>;
    /// Whether the collection holds no records.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

fn get_record(
    name: &str,
    records: &impl ReadableTable<u64, &'static [u8]>,
    ids: &impl ReadableTable<&'static [u8], u64>,
    id: &IdKey,
) -> Result<Option<Value>> {
    let Some(number) = ids.get(id.as_bytes())?.map(|g| g.value()) else {
        return Ok(None);
    };
    match records.get(number)? {
        Some(bytes) => decode_record(name, bytes.value()).map(Some),
        None => Err(StorageError::Corrupted {
            collection: name.to_owned(),
            detail: format!("the _id index points at missing record {number}"),
        }),
    }
}

/// Decodes a record of `collection` (see [`crate::decode`]); a failure is
/// [`StorageError::Corrupted`] naming the collection.
pub fn decode_record(name: &str, bytes: &[u8]) -> Result<Value> {
    codec::decode(bytes).map_err(|detail| StorageError::Corrupted {
        collection: name.to_owned(),
        detail,
    })
}

fn table_raw_number(
    records: &impl ReadableTable<u64, &'static [u8]>,
    number: u64,
    f: &mut dyn FnMut(&[u8]),
) -> Result<bool> {
    let found = records.get(number)?;
    if let Some(bytes) = &found {
        f(bytes.value());
    }
    Ok(found.is_some())
}

fn table_scan_raw(
    records: &impl ReadableTable<u64, &'static [u8]>,
    range: Option<(u64, u64)>,
    f: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<()> {
    let entries = match range {
        Some((from, to)) => records.range(from..to)?,
        None => records.range(..)?,
    };
    for entry in entries {
        if !f(entry?.1.value()) {
            break;
        }
    }
    Ok(())
}

fn table_bounds(records: &impl ReadableTable<u64, &'static [u8]>) -> Result<Option<(u64, u64)>> {
    let first = records.first()?.map(|(k, _)| k.value());
    let last = records.last()?.map(|(k, _)| k.value());
    Ok(first.zip(last))
}

/// One collection in a read snapshot.
pub struct CollectionReader<'r> {
    read: &'r ReadTxn,
    tables: Arc<Tables>,
}

impl CollectionReader<'_> {
    /// The collection's resident copy, if one is current for this snapshot.
    fn resident(&self) -> Option<Arc<Resident>> {
        if let Some(copy) = self.tables.resident.get() {
            return Some(Arc::clone(copy));
        }
        let copy = self
            .read
            .residents
            .get(&self.tables.name, self.read.generation)?;
        Some(Arc::clone(self.tables.resident.get_or_init(|| copy)))
    }

    /// The resident copy, made now from this snapshot if there is none and it fits the budget.
    fn resident_or_copy(&self) -> Result<Option<Arc<Resident>>> {
        if let Some(copy) = self.resident() {
            return Ok(Some(copy));
        }
        let residents = &self.read.residents;
        let budget = residents.budget();
        let records = &self.tables.records;
        let count = redb::ReadableTableMetadata::len(records)?;
        // Small collections gain nothing; a copy that cannot fit is not started; the first
        // scan since a change reads the file.
        if count < RESIDENT_MIN_RECORDS
            || count.saturating_mul(16) > budget as u64
            || !residents.scan_wants_copy(&self.tables.name)
        {
            return Ok(None);
        }
        let mut copy = Resident::with_capacity(count as usize);
        for entry in records.iter()? {
            let (number, bytes) = entry?;
            copy.push(number.value(), bytes.value());
            if copy.size() > budget {
                return Ok(None);
            }
        }
        let copy = Arc::new(copy);
        residents.keep(&self.tables.name, self.read.generation, &copy);
        Ok(Some(Arc::clone(self.tables.resident.get_or_init(|| copy))))
    }
}

/// Collections with fewer records are always read from the file.
const RESIDENT_MIN_RECORDS: u64 = 1024;

impl RecordRead for CollectionReader<'_> {
    fn name(&self) -> &str {
        &self.tables.name
    }
    fn as_shared(&self) -> Option<&(dyn RecordRead + Sync)> {
        Some(self)
    }
    fn get(&self, id: &IdKey) -> Result<Option<Value>> {
        if let Some(copy) = self.resident() {
            if let Ok(found) = copy.by_id(id) {
                return found
                    .map(|b| decode_record(&self.tables.name, b))
                    .transpose();
            }
        }
        get_record(
            &self.tables.name,
            &self.tables.records,
            &self.tables.ids,
            id,
        )
    }
    fn raw_number(&self, number: u64, f: &mut dyn FnMut(&[u8])) -> Result<bool> {
        if let Some(copy) = self.resident() {
            let found = copy.by_number(number);
            if let Some(bytes) = found {
                f(bytes);
            }
            return Ok(found.is_some());
        }
        table_raw_number(&self.tables.records, number, f)
    }
    fn scan_raw(&self, f: &mut dyn FnMut(&[u8]) -> bool) -> Result<()> {
        if let Some(copy) = self.resident_or_copy()? {
            copy.scan(0, u64::MAX, f);
            return Ok(());
        }
        table_scan_raw(&self.tables.records, None, f)
    }
    fn scan_raw_range(&self, from: u64, to: u64, f: &mut dyn FnMut(&[u8]) -> bool) -> Result<()> {
        if let Some(copy) = self.resident() {
            copy.scan(from, to, f);
            return Ok(());
        }
        table_scan_raw(&self.tables.records, Some((from, to)), f)
    }
    fn number_bounds(&self) -> Result<Option<(u64, u64)>> {
        // Asked before a parallel scan of the whole collection: make the copy it will read.
        if let Some(copy) = self.resident_or_copy()? {
            return Ok(copy.bounds());
        }
        table_bounds(&self.tables.records)
    }
    fn len(&self) -> Result<u64> {
        Ok(redb::ReadableTableMetadata::len(&self.tables.records)?)
    }
    fn index_scan(
        &self,
        index: &str,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        f: &mut dyn FnMut(u64) -> bool,
    ) -> Result<()> {
        let table = self
            .read
            .txn
            .open_table(IndexDef::new(&index_table(&self.tables.name, index)))?;
        scan_index(&table, lower, upper, reverse, f)
    }
    fn index_multikey(&self, index: &str) -> Result<bool> {
        match self.read.txn.open_table(MULTIKEY) {
            Ok(table) => read_multikey(&table, &multikey_key(&self.tables.name, index)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }
}

/// One collection inside a write transaction.
pub struct CollectionWriter<'t> {
    txn: &'t WriteTransaction,
    /// The transaction's collections whose records change (their resident copies stop being
    /// current); this one is added on its first record change. Index-only changes keep them.
    touched: &'t Mutex<Vec<String>>,
    changes_records: bool,
    /// Indexes this writer has seen marked multikey (no need to look again).
    multikey: HashSet<String>,
    indexes: HashMap<String, Table<'t, &'static [u8], u64>>,
    name: String,
    records: Table<'t, u64, &'static [u8]>,
    ids: Table<'t, &'static [u8], u64>,
    next: u64,
}

impl RecordRead for CollectionWriter<'_> {
    fn name(&self) -> &str {
        &self.name
    }
    fn get(&self, id: &IdKey) -> Result<Option<Value>> {
        get_record(&self.name, &self.records, &self.ids, id)
    }
    fn raw_number(&self, number: u64, f: &mut dyn FnMut(&[u8])) -> Result<bool> {
        table_raw_number(&self.records, number, f)
    }
    fn scan_raw(&self, f: &mut dyn FnMut(&[u8]) -> bool) -> Result<()> {
        table_scan_raw(&self.records, None, f)
    }
    fn scan_raw_range(&self, from: u64, to: u64, f: &mut dyn FnMut(&[u8]) -> bool) -> Result<()> {
        table_scan_raw(&self.records, Some((from, to)), f)
    }
    fn number_bounds(&self) -> Result<Option<(u64, u64)>> {
        table_bounds(&self.records)
    }
    fn len(&self) -> Result<u64> {
        Ok(redb::ReadableTableMetadata::len(&self.records)?)
    }
    fn index_scan(
        &self,
        index: &str,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        f: &mut dyn FnMut(u64) -> bool,
    ) -> Result<()> {
        if let Some(table) = self.indexes.get(index) {
            return scan_index(table, lower, upper, reverse, f);
        }
        let table = self
            .txn
            .open_table(IndexDef::new(&index_table(&self.name, index)))?;
        scan_index(&table, lower, upper, reverse, f)
    }
    fn index_multikey(&self, index: &str) -> Result<bool> {
        let table = self.txn.open_table(MULTIKEY)?;
        read_multikey(&table, &multikey_key(&self.name, index))
    }
}

impl<'t> CollectionWriter<'t> {
    fn records_change(&mut self) {
        if !self.changes_records {
            self.changes_records = true;
            self.touched.lock().push(self.name.clone());
        }
    }

    /// Inserts a new record.
    ///
    /// # Errors
    /// [`StorageError::DuplicateId`] if a record with this `_id` exists.
    pub fn insert(&mut self, id: &IdKey, id_value: &Value, encoded: &[u8]) -> Result<u64> {
        self.records_change();
        let number = self.next;
        // One descent of the `_id` index: insert, and put the entry back on a duplicate.
        let existing = self.ids.insert(id.as_bytes(), number)?.map(|g| g.value());
        if let Some(existing) = existing {
            self.ids.insert(id.as_bytes(), existing)?;
            return Err(StorageError::DuplicateId {
                collection: self.name.clone(),
                id: id_value.to_string(),
            });
        }
        self.next += 1;
        self.records.insert(number, encoded)?;
        Ok(number)
    }

    /// Replaces an existing record in place (it keeps its position in natural order). Returns
    /// its record number, or `None` if there is no record with this `_id`.
    pub fn replace(&mut self, id: &IdKey, encoded: &[u8]) -> Result<Option<u64>> {
        self.records_change();
        let Some(number) = self.ids.get(id.as_bytes())?.map(|g| g.value()) else {
            return Ok(None);
        };
        self.records.insert(number, encoded)?;
        Ok(Some(number))
    }

    /// Removes a record. Returns its record number, or `None` if it did not exist.
    pub fn remove(&mut self, id: &IdKey) -> Result<Option<u64>> {
        self.records_change();
        let Some(number) = self.ids.remove(id.as_bytes())?.map(|g| g.value()) else {
            return Ok(None);
        };
        self.records.remove(number)?;
        Ok(Some(number))
    }

    /// The record number of the record with this `_id`.
    pub fn number_of(&self, id: &IdKey) -> Result<Option<u64>> {
        Ok(self.ids.get(id.as_bytes())?.map(|g| g.value()))
    }

    fn index(&mut self, index: &str) -> Result<&mut Table<'t, &'static [u8], u64>> {
        if !self.indexes.contains_key(index) {
            let table = self
                .txn
                .open_table(IndexDef::new(&index_table(&self.name, index)))?;
            self.indexes.insert(index.to_owned(), table);
        }
        self.indexes
            .get_mut(index)
            .ok_or_else(|| StorageError::Corrupted {
                collection: self.name.clone(),
                detail: format!("index {index} could not be opened"),
            })
    }

    /// Adds an index entry for a record.
    ///
    /// # Errors
    /// [`StorageError::DuplicateKey`] when a unique index already holds the key for another
    /// record.
    pub fn index_put(&mut self, index: &str, key: &[u8], unique: bool, record: u64) -> Result<()> {
        let table = self.index(index)?;
        let k = entry_key(key, unique, record);
        let clash = unique
            && table
                .get(k.as_slice())?
                .is_some_and(|existing| existing.value() != record);
        if clash {
            return Err(StorageError::DuplicateKey {
                collection: self.name.clone(),
                index: index.to_owned(),
            });
        }
        table.insert(k.as_slice(), record)?;
        Ok(())
    }

    /// Records that a record put two or more entries in `index` (once; it stays multikey).
    pub fn mark_multikey(&mut self, index: &str) -> Result<()> {
        if self.multikey.contains(index) {
            return Ok(());
        }
        let key = multikey_key(&self.name, index);
        let mut table = self.txn.open_table(MULTIKEY)?;
        if !read_multikey(&table, &key)? {
            table.insert(key.as_str(), 1)?;
        }
        self.multikey.insert(index.to_owned());
        Ok(())
    }

    /// Removes a record's index entry.
    pub fn index_delete(
        &mut self,
        index: &str,
        key: &[u8],
        unique: bool,
        record: u64,
    ) -> Result<()> {
        let table = self.index(index)?;
        let k = entry_key(key, unique, record);
        if unique && table.get(k.as_slice())?.map(|g| g.value()) != Some(record) {
            return Ok(());
        }
        table.remove(k.as_slice())?;
        Ok(())
    }

    /// Calls `f` with every record and its record number, in insertion order.
    pub fn scan_numbered(&self, f: &mut dyn FnMut(u64, Value) -> Result<()>) -> Result<()> {
        for entry in self.records.iter()? {
            let (k, bytes) = entry?;
            f(k.value(), decode_record(&self.name, bytes.value())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resident copies hold records only: a commit that changes only an index keeps them; one
    /// that changes a record (even one it then restores) ends them.
    #[test]
    fn index_only_commits_keep_resident_copies() -> Result<()> {
        use serde_json::json;
        let store = Store::memory()?;
        let txn = store.begin_write()?;
        txn.create_collection("c", &json!({}))?;
        {
            let mut c = txn.collection("c")?;
            for i in 0..2000u64 {
                let id = json!(i);
                c.insert(&IdKey::new(&id)?, &id, &codec::encode(&json!({"_id": i})))?;
            }
        }
        txn.commit()?;
        let resident = |store: &Store| -> Result<bool> {
            Ok(store.begin_read()?.collection("c")?.resident().is_some())
        };
        for _ in 0..2 {
            store
                .begin_read()?
                .collection("c")?
                .scan_raw(&mut |_| true)?;
        }
        assert!(resident(&store)?, "the second scan makes a copy");
        let txn = store.begin_write()?;
        txn.create_index_table("c", "k")?;
        txn.collection("c")?.index_put("k", b"key", false, 0)?;
        txn.set_index_multikey("c", "k", false)?;
        txn.commit()?;
        assert!(resident(&store)?, "an index-only commit keeps it");
        let txn = store.begin_write()?;
        txn.collection("c")?.remove(&IdKey::new(&json!(0))?)?;
        txn.commit()?;
        assert!(!resident(&store)?, "a record change ends it");
        Ok(())
    }

    /// The shared snapshot must not keep the store's state alive: a snapshot once held the
    /// state that caches it (a reference cycle, found by the storage_model fuzzer's leak
    /// check), so dropping a database leaked its last snapshot and everything behind it.
    #[test]
    fn dropping_the_store_frees_its_snapshots() -> Result<()> {
        let store = Store::memory()?;
        let txn = store.begin_write()?;
        txn.create_collection("c", &serde_json::json!({}))?;
        txn.commit()?;
        let read = store.begin_read()?;
        read.collection("c")?.len()?;
        drop(read);
        let state = Arc::downgrade(&store.snapshots);
        let snapshot = Arc::downgrade(&store.begin_read()?);
        drop(store);
        assert!(
            state.upgrade().is_none(),
            "the store's snapshot state outlived it"
        );
        assert!(
            snapshot.upgrade().is_none(),
            "the cached snapshot outlived the store"
        );
        Ok(())
    }
}
