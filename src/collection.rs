use std::any::Any;
use std::borrow::{Borrow, Cow};
use std::marker::PhantomData;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use yundb_query::index::IndexSpec;
use yundb_query::{check_replacement, type_name, value, Direction, Update, UpdateError};
use yundb_storage::{generate_id, CollectionWriter, IdKey, RecordRead, StorageError, WriteTxn};

use crate::access::{Mode, WriteKind};
use crate::db::{Caller, Db};
use crate::error::{Error, Result};
use crate::query::{Query, Where};
use crate::tx::Tx;
use crate::writer::Member;

/// The result of an update or a `set`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateResult {
    /// Documents the query matched.
    pub matched: u64,
    /// Documents whose content changed (CloudBase's `updated`).
    pub updated: u64,
    /// Documents created (`set` on a missing id, or an upsert; CloudBase's `created`).
    pub created: u64,
    /// The `_id` of the document an upsert created (CloudBase's `upserted_id`).
    pub upserted_id: Option<Value>,
}

/// The result of a remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemoveResult {
    /// Documents removed (CloudBase's `removed` / `deleted`).
    pub removed: u64,
}

/// A named collection, seen through one [`Db`] handle (and so one [`Caller`]).
///
/// `T` is the document type: `serde_json::Value` from [`Db::collection`], or any serde type from
/// [`Db::typed_collection`].
pub struct Collection<T = Value> {
    db: Db,
    name: std::sync::Arc<str>,
    _doc: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        Collection {
            db: self.db.clone(),
            name: std::sync::Arc::clone(&self.name),
            _doc: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Collection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.name)
            .field("caller", &self.db.caller)
            .finish()
    }
}

/// The secondary indexes recorded in a collection's options.
pub(crate) fn indexes_of(options: Option<&Value>) -> Result<Vec<yundb_query::index::IndexSpec>> {
    let Some(list) = options
        .and_then(|o| o.get("indexes"))
        .and_then(Value::as_array)
    else {
        return Ok(Vec::new());
    };
    Ok(list
        .iter()
        .map(yundb_query::index::IndexSpec::from_json)
        .collect::<std::result::Result<_, _>>()?)
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl<T: Serialize + DeserializeOwned + 'static> Collection<T> {
    pub(crate) fn new(db: Db, name: &str) -> Self {
        Collection {
            db,
            name: name.into(),
            _doc: PhantomData,
        }
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds a document and returns its `_id`: the one it carries (a string or a number), or a
    /// new 32-hex id. A user caller's document is stamped with `_openid`.
    ///
    /// # Errors
    /// `DATABASE_DUPLICATE_WRITE` if the `_id` exists, `DATABASE_COLLECTION_NOT_EXIST`,
    /// `DATABASE_PERMISSION_DENIED` if a user supplies someone else's `_openid`, `INVALID_PARAM`
    /// for documents that break the value rules.
    pub fn add(&self, doc: impl Borrow<T>) -> Result<Value> {
        let mut ids = self.add_many([doc])?;
        ids.pop().ok_or_else(|| Error::InvalidParam {
            reason: "nothing was added".into(),
        })
    }

    /// Adds several documents in one transaction: all of them, or (on any error) none.
    /// Returns their `_id`s in order.
    pub fn add_many<I>(&self, docs: I) -> Result<Vec<Value>>
    where
        I: IntoIterator,
        I::Item: Borrow<T>,
    {
        let now = now_ms();
        let admin = self.db.caller == Caller::Admin;
        let mut prepared = Vec::new();
        for doc in docs {
            let doc = doc.borrow();
            prepared.push(match (doc as &dyn Any).downcast_ref::<Value>() {
                // The common case, without a copy: an admin adding a `Value` that needs no
                // normalising.
                Some(v) if admin && value::is_normal(v) => self.prepare_plain(v)?,
                _ => self.prepare_new(to_doc(doc)?, None, now)?,
            });
        }
        if prepared.is_empty() {
            return Ok(Vec::new());
        }
        let mode = self.db.mode(&self.name)?;
        if !matches!(mode, Mode::Admin) {
            for p in &prepared {
                self.db.check_create(&mode, &*p.doc(&self.name)?)?;
            }
        }
        self.write(|tx| {
            for p in &prepared {
                tx.insert(p)?;
            }
            Ok(true)
        })?;
        Ok(prepared.into_iter().map(|p| p.id).collect())
    }

    /// The number of documents.
    pub fn count(&self) -> Result<u64> {
        if let Caller::User { .. } = &self.db.caller {
            return self.query().count();
        }
        let read = self.db.inner.store.begin_read()?;
        Ok(read.collection(&self.name)?.len()?)
    }

    /// A query with a where-clause in the builder form (what an app writes with the SDK: nested
    /// objects are partial matches, commands are `{"$gt": 1}` objects).
    pub fn where_(&self, query: impl Serialize) -> Query<T> {
        Query::new(
            self.clone(),
            Some(Where::Builder(
                serde_json::to_value(query).unwrap_or(Value::Null),
            )),
        )
    }

    /// A query with a where-clause in the wire form (MongoDB syntax as a CloudBase server
    /// receives it, legacy JSON or EJSON), evaluated exactly as sent.
    pub fn where_wire(&self, query: Value) -> Query<T> {
        Query::new(self.clone(), Some(Where::Wire(query)))
    }

    /// A query over the whole collection (then `order_by`, `skip`, `limit`, `field`, `get`).
    pub fn query(&self) -> Query<T> {
        Query::new(self.clone(), None)
    }

    /// The document with this `_id` (a string or a number).
    pub fn doc(&self, id: impl Into<Value>) -> DocRef<T> {
        DocRef {
            coll: self.clone(),
            id: id.into(),
            projection: None,
        }
    }

    /// Creates a secondary index on one or more dot paths (compound, multikey over arrays;
    /// `unique` rejects a second record with the same key, a missing field counting as `null`).
    /// The index is built from the existing records in the same transaction that records it;
    /// from then on every write maintains it. Admin only.
    ///
    /// # Errors
    /// `INVALID_PARAM` for a bad name or path, an existing name, or parallel arrays in a
    /// compound key; `DATABASE_DUPLICATE_WRITE` if existing records break `unique`.
    pub fn create_index(&self, name: &str, keys: &[(&str, Direction)], unique: bool) -> Result<()> {
        self.db.require_admin("manage indexes")?;
        let spec = IndexSpec::new(name, keys, unique)?;
        self.change_catalog(|txn, options| {
            if indexes_of(Some(options))?.iter().any(|i| i.name == name) {
                return Err(Error::InvalidParam {
                    reason: format!("index `{name}` already exists on `{}`", self.name),
                });
            }
            txn.create_index_table(&self.name, name)?;
            let mut coll = txn.collection(&self.name)?;
            let mut entries = Vec::new();
            let mut refused = None;
            let mut multikey = false;
            coll.scan_numbered(&mut |number, doc| {
                match spec.keys_of(&doc) {
                    Ok(keys) => {
                        multikey |= keys.len() > 1;
                        entries.extend(keys.into_iter().map(|k| (number, k)));
                    }
                    Err(e) => refused = refused.take().or(Some(e)),
                }
                Ok(())
            })?;
            if let Some(e) = refused {
                return Err(e.into());
            }
            for (number, key) in entries {
                coll.index_put(name, &key, unique, number)?;
            }
            txn.set_index_multikey(&self.name, name, multikey)?;
            if let Some(m) = options.as_object_mut() {
                if let Value::Array(items) = m
                    .entry("indexes")
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    items.push(spec.to_json());
                }
            }
            Ok(((), true))
        })
    }

    /// Drops a secondary index. Returns whether it existed. Admin only.
    pub fn drop_index(&self, name: &str) -> Result<bool> {
        self.db.require_admin("manage indexes")?;
        self.change_catalog(|txn, options| {
            let Some(Value::Array(items)) = options.get_mut("indexes") else {
                return Ok((false, false));
            };
            let before = items.len();
            items.retain(|i| i.get("name").and_then(Value::as_str) != Some(name));
            if items.len() == before {
                return Ok((false, false));
            }
            txn.drop_index_table(&self.name, name)?;
            Ok((true, true))
        })
    }

    /// Changes this collection's catalogue entry in one write transaction under the writer
    /// lock: `f` edits the options and says whether to store and commit them; the cached entry
    /// is forgotten after the commit.
    fn change_catalog<R>(
        &self,
        f: impl FnOnce(&WriteTxn, &mut Value) -> Result<(R, bool)>,
    ) -> Result<R> {
        let inner = &self.db.inner;
        let mut writer = inner.write_lock();
        let txn = inner.store.begin_write()?;
        let mut options = txn.collection_options(&self.name)?.ok_or_else(|| {
            StorageError::CollectionNotFound {
                name: self.name.to_string(),
            }
        })?;
        let (out, commit) = f(&txn, &mut options)?;
        if commit {
            txn.set_collection_options(&self.name, &options)?;
            writer.commit(txn)?;
            self.db.forget(&self.name);
        }
        Ok(out)
    }

    /// The collection's secondary indexes (`_id` is always indexed and not listed).
    pub fn indexes(&self) -> Result<Vec<IndexSpec>> {
        let meta = self.db.meta(&self.name)?;
        if meta.permission.is_none() {
            return Err(StorageError::CollectionNotFound {
                name: self.name.to_string(),
            }
            .into());
        }
        Ok(meta.indexes.clone())
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// Refuses updates that touch `_openid` from user callers.
    pub(crate) fn check_user_update(&self, update: &Update) -> Result<()> {
        if let Caller::User { .. } = &self.db.caller {
            if update
                .paths()
                .any(|p| p.segments().first().is_some_and(|s| s.name() == "_openid"))
            {
                return Err(Error::PermissionDenied {
                    reason: "a user cannot change _openid".into(),
                });
            }
        }
        Ok(())
    }

    /// Runs `f` on the collection in one write transaction and commits if it reports a change.
    /// Writers arriving together share a transaction (group commit, `src/writer.rs`), so `f`
    /// may run more than once: when a later writer of its group fails, it runs again in a
    /// new transaction. It must start from scratch each time.
    pub(crate) fn write(&self, mut f: impl FnMut(&mut Tx<'_>) -> Result<bool>) -> Result<()> {
        let inner = &self.db.inner;
        let _active = inner.writer.active();
        loop {
            // Window refills read the commit's snapshot: such writes commit alone.
            let alone = inner.hub.has_windows(&self.name);
            let mut lock = if alone {
                inner.writer.lock(&inner.store)
            } else {
                inner.writer.join(&inner.store)
            };
            let taken = lock.take()?;
            let done = (|| {
                let watched = inner.hub.is_watched(&self.name);
                let meta = self.db.meta(&self.name)?;
                // A write to a missing collection auto-creates it (when allowed): the cache
                // forgets it.
                let created = meta.permission.is_none();
                let mut tx = Tx::new(self.open_for_write(&taken.txn)?, meta, watched);
                if !f(&mut tx)? {
                    return Ok(None);
                }
                let changes = tx.into_changes();
                let seq = taken.txn.next_seq()?;
                Ok(Some(Member {
                    db: self.db.clone(),
                    collection: self.name.to_string(),
                    seq,
                    changes,
                    created,
                }))
            })();
            let member = match done {
                Err(e) => {
                    lock.abandon(taken);
                    return Err(e);
                }
                Ok(None) => {
                    lock.put_back(taken);
                    return Ok(());
                }
                Ok(Some(member)) => member,
            };
            match lock.add(taken, member, alone) {
                Ok(group) => {
                    if let Some(result) = lock.wait(group).into_result() {
                        return result;
                    }
                }
                Err(taken) => return lock.commit_taken(taken),
            }
        }
    }

    fn open_for_write<'t>(&self, txn: &'t WriteTxn) -> Result<CollectionWriter<'t>> {
        match txn.collection(&self.name) {
            Err(StorageError::CollectionNotFound { .. }) if self.db.inner.options.auto_create => {
                txn.create_collection(&self.name, &Value::Object(Map::new()))?;
                Ok(txn.collection(&self.name)?)
            }
            other => Ok(other?),
        }
    }

    /// Normalises and checks a new document, assigns its `_id` and stamps `_openid`.
    pub(crate) fn prepare_new(&self, doc: Value, id: Option<&Value>, now: i64) -> Result<Prepared> {
        let mut doc = doc;
        self.db.fill_placeholder(&mut doc);
        value::normalize(&mut doc, now)?;
        let Value::Object(mut map) = doc else {
            return Err(not_an_object(&doc));
        };
        let id = match (id, map.shift_remove("_id")) {
            (Some(id), Some(given)) if IdKey::new(&given)? != IdKey::new(id)? => {
                return Err(UpdateError::IdChange { path: "_id".into() }.into())
            }
            (Some(id), _) => id.clone(),
            (None, Some(given)) => given,
            (None, None) => Value::String(generate_id()),
        };
        let key = IdKey::new(&id)?;
        if let Caller::User { openid } = &self.db.caller {
            match map.get("_openid") {
                Some(Value::String(given)) if given == openid => {}
                None => {}
                Some(other) => {
                    return Err(Error::PermissionDenied {
                        reason: format!("a user cannot set _openid to {other}"),
                    })
                }
            }
            map.insert("_openid".into(), Value::String(openid.clone()));
        }
        map.shift_insert(0, "_id".into(), id.clone());
        let openid = map.get("_openid").cloned();
        let doc = Value::Object(map);
        let bytes = self.check_and_encode(&doc)?;
        Ok(Prepared {
            key,
            id,
            openid,
            bytes,
            doc: Some(doc),
        })
    }

    /// [`Collection::prepare_new`] for an admin's document that [`value::is_normal`]: encoded
    /// from the borrowed value, without a copy.
    fn prepare_plain(&self, doc: &Value) -> Result<Prepared> {
        let Value::Object(map) = doc else {
            return Err(not_an_object(doc));
        };
        let id = match map.get("_id") {
            Some(id) => id.clone(),
            None => Value::String(generate_id()),
        };
        let key = IdKey::new(&id)?;
        let options = &self.db.inner.options;
        value::validate_document(doc, options.max_depth)?;
        let bytes = yundb_query::stored::encode_document(&id, map);
        self.check_size(&bytes)?;
        Ok(Prepared {
            key,
            id,
            openid: map.get("_openid").cloned(),
            bytes,
            doc: None,
        })
    }

    pub(crate) fn check_and_encode(&self, doc: &Value) -> Result<Vec<u8>> {
        let options = &self.db.inner.options;
        value::validate_document(doc, options.max_depth)?;
        let bytes = yundb_storage::encode(doc);
        self.check_size(&bytes)?;
        Ok(bytes)
    }

    fn check_size(&self, bytes: &[u8]) -> Result<()> {
        let limit = self.db.inner.options.max_document_bytes;
        if bytes.len() > limit {
            return Err(yundb_query::ValueError::TooLarge {
                size: bytes.len(),
                limit,
            }
            .into());
        }
        Ok(())
    }
}

pub(crate) struct Prepared {
    pub(crate) key: IdKey,
    pub(crate) id: Value,
    openid: Option<Value>,
    pub(crate) bytes: Vec<u8>,
    /// The document as stored, unless it was encoded from a borrowed one.
    doc: Option<Value>,
}

impl Prepared {
    /// The document as stored (decoded from its bytes when it was encoded from a borrowed one).
    pub(crate) fn doc(&self, collection: &str) -> Result<Cow<'_, Value>> {
        Ok(match &self.doc {
            Some(doc) => Cow::Borrowed(doc),
            None => Cow::Owned(yundb_storage::decode_record(collection, &self.bytes)?),
        })
    }
}

/// One document of a collection, by `_id`.
pub struct DocRef<T = Value> {
    coll: Collection<T>,
    id: Value,
    projection: Option<Value>,
}

impl<T: Serialize + DeserializeOwned + 'static> DocRef<T> {
    /// The `_id` this refers to.
    pub fn id(&self) -> &Value {
        &self.id
    }

    pub(crate) fn collection(&self) -> &Collection<T> {
        &self.coll
    }

    /// Projects what [`get`](DocRef::get) returns (`doc(id).field({..})`), as
    /// [`Query::field`].
    #[must_use]
    pub fn field(mut self, projection: impl Serialize) -> Self {
        self.projection = Some(serde_json::to_value(projection).unwrap_or(Value::Null));
        self
    }

    /// Reads the document, or `None` if there is none with this `_id`.
    pub fn get(&self) -> Result<Option<T>> {
        let key = IdKey::new(&self.id)?;
        if self.projection.is_none() && self.coll.db.caller == Caller::Admin {
            // Admin reads need no permission check: look the record up directly.
            let read = self.coll.db.inner.store.begin_read()?;
            return match read.collection(&self.coll.name)?.get(&key)? {
                Some(doc) => Ok(Some(from_doc(doc)?)),
                None => Ok(None),
            };
        }
        let mut query = self
            .coll
            .where_wire(serde_json::json!({"_id": self.id.clone()}))
            .limit(1);
        if let Some(p) = &self.projection {
            query = query.field(p.clone());
        }
        Ok(query.get()?.into_iter().next())
    }

    /// Replaces the document with `doc` (keeping `_id`), creating it if it does not exist.
    ///
    /// # Errors
    /// `DATABASE_REQUEST_FAILED` ("update operator complicit") if `doc` holds update operators;
    /// `INVALID_PARAM` if it carries a different `_id`; `DATABASE_PERMISSION_DENIED` if a user
    /// tries to change `_openid`.
    pub fn set(&self, doc: impl Borrow<T>) -> Result<UpdateResult> {
        self.replace(to_doc(doc.borrow())?, true)
    }

    /// Replaces the document with `data`; creates it when missing only if `upsert`.
    pub(crate) fn replace(&self, data: Value, upsert: bool) -> Result<UpdateResult> {
        check_replacement(&data)?;
        let db = &self.coll.db;
        let key = IdKey::new(&self.id)?;
        let prepared = self.coll.prepare_new(data, Some(&self.id), now_ms())?;
        let mode = db.mode(&self.coll.name)?;
        let filter = yundb_query::Filter::from_wire(&serde_json::json!({"_id": self.id.clone()}))?;
        let gate = db.write_gate(
            &mode,
            WriteKind::Update,
            &filter,
            true,
            &*prepared.doc(&self.coll.name)?,
        )?;
        let mut result = UpdateResult::default();
        self.coll.write(|tx| {
            result = UpdateResult::default();
            match tx.get(&key)? {
                None if !upsert => Ok(false),
                None => {
                    db.check_create(&mode, &*prepared.doc(&self.coll.name)?)?;
                    tx.insert(&prepared)?;
                    result.created = 1;
                    result.upserted_id = Some(prepared.id.clone());
                    Ok(true)
                }
                // Someone else's record: the implicit owner filter (or the rule) leaves it out, so
                // nothing matches and, as the record exists, nothing is created either.
                Some(old) if !gate.allows(&|c, id| db.lookup(c, id), &old) => Ok(false),
                Some(old) => {
                    result.matched = 1;
                    if let Caller::User { .. } = &db.caller {
                        // The stamped `_openid` must be the record's: a user never takes over
                        // someone else's record, nor strips its owner.
                        if old.get("_openid") != prepared.openid.as_ref() {
                            return Err(Error::PermissionDenied {
                                reason: "a user cannot change _openid".into(),
                            });
                        }
                    }
                    if yundb_storage::encode(&old) == prepared.bytes {
                        return Ok(false);
                    }
                    tx.replace(&prepared, old)?;
                    result.updated = 1;
                    Ok(true)
                }
            }
        })?;
        Ok(result)
    }

    /// Updates the document with CloudBase's plain-object merge (spec §4.1): nested objects
    /// deep-merge through dot paths, arrays replace, `{}` values are dropped. A missing document
    /// is not an error: the result reports `updated: 0`.
    ///
    /// # Errors
    /// `INVALID_PARAM` for empty data or an `_id` change; `DATABASE_PERMISSION_DENIED` if a user
    /// touches `_openid`; `DATABASE_REQUEST_FAILED` for paths that cannot be applied.
    pub fn update(&self, patch: impl Serialize) -> Result<UpdateResult> {
        let mut patch = serde_json::to_value(patch)?;
        self.coll.db.fill_placeholder(&mut patch);
        value::normalize(&mut patch, now_ms())?;
        let update = Update::from_builder(&patch)?;
        self.modify(&update)
    }

    pub(crate) fn modify(&self, update: &Update) -> Result<UpdateResult> {
        IdKey::new(&self.id)?;
        self.coll
            .where_wire(serde_json::json!({"_id": self.id.clone()}))
            .modify(update, false, false, true)
    }

    /// Removes the document. A missing document is not an error: the result reports
    /// `removed: 0`.
    pub fn remove(&self) -> Result<RemoveResult> {
        IdKey::new(&self.id)?;
        self.coll
            .where_wire(serde_json::json!({"_id": self.id.clone()}))
            .remove_by(true)
    }
}

fn not_an_object(doc: &Value) -> Error {
    Error::InvalidParam {
        reason: format!("a document must be an object, got {}", type_name(doc)),
    }
}

/// Converts a stored document into the collection's document type; a `Value` passes through
/// untouched (no serde round trip).
pub(crate) fn from_doc<T: DeserializeOwned + 'static>(doc: Value) -> Result<T> {
    let mut slot = Some(doc);
    if let Some(same) = (&mut slot as &mut dyn Any).downcast_mut::<Option<T>>() {
        if let Some(doc) = same.take() {
            return Ok(doc);
        }
    }
    Ok(serde_json::from_value(slot.unwrap_or(Value::Null))?)
}

/// Converts a document of the collection's type into a `Value`; a `Value` is cloned (no serde
/// round trip).
pub(crate) fn to_doc<T: Serialize + 'static>(doc: &T) -> Result<Value> {
    if let Some(value) = (doc as &dyn Any).downcast_ref::<Value>() {
        return Ok(value.clone());
    }
    Ok(serde_json::to_value(doc)?)
}
