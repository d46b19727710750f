//! One write transaction on one collection: every write goes through here, so that secondary
//! indexes are maintained in the same transaction and a watched collection's changes are
//! recorded for the commit's batch.

use std::sync::Arc;

use serde_json::Value;
use yundb_query::index::IndexSpec;
use yundb_query::Applied;
use yundb_storage::{CollectionWriter, IdKey, RecordRead};
use yundb_watch::{Change, ChangeKind};

use crate::collection::Prepared;
use crate::db::Meta;
use crate::error::{Error, Result};

pub(crate) struct Tx<'t> {
    coll: CollectionWriter<'t>,
    meta: Arc<Meta>,
    /// `None` when no watch is open on the collection: nothing is recorded.
    changes: Option<Vec<Change>>,
}

impl<'t> Tx<'t> {
    pub(crate) fn new(coll: CollectionWriter<'t>, meta: Arc<Meta>, watched: bool) -> Self {
        Tx {
            coll,
            meta,
            changes: watched.then(Vec::new),
        }
    }

    pub(crate) fn into_changes(self) -> Option<Vec<Change>> {
        self.changes
    }

    /// Whether updates must hand over the documents' previous versions (to record the change
    /// or to move index entries).
    pub(crate) fn needs_before(&self) -> bool {
        self.changes.is_some() || !self.meta.indexes.is_empty()
    }

    pub(crate) fn reader(&self) -> &dyn RecordRead {
        &self.coll
    }

    /// The collection's indexes (maintained in this transaction, so a write can plan on them).
    pub(crate) fn indexes(&self) -> &[IndexSpec] {
        &self.meta.indexes
    }

    pub(crate) fn get(&self, key: &IdKey) -> Result<Option<Value>> {
        Ok(self.coll.get(key)?)
    }

    /// Records a change for the watches (the documents are moved in, not copied).
    fn record(
        &mut self,
        id: &Value,
        kind: ChangeKind,
        before: Option<Value>,
        after: Option<Value>,
    ) {
        if let Some(changes) = &mut self.changes {
            changes.push(Change {
                id: id.clone(),
                kind,
                before: before.map(Arc::new),
                after: after.map(Arc::new),
            });
        }
    }

    /// A copy of a borrowed document, only when changes are recorded.
    fn copy_if_watched(&self, doc: &Value) -> Option<Value> {
        self.changes.is_some().then(|| doc.clone())
    }

    /// Moves a record's index entries from `old` to `new` (either may be absent).
    fn reindex(&mut self, number: u64, old: Option<&Value>, new: Option<&Value>) -> Result<()> {
        let meta = Arc::clone(&self.meta);
        for spec in &meta.indexes {
            let old_keys = old
                .map(|d| spec.keys_of(d))
                .transpose()?
                .unwrap_or_default();
            let new_keys = new
                .map(|d| spec.keys_of(d))
                .transpose()?
                .unwrap_or_default();
            for k in old_keys.iter().filter(|k| !new_keys.contains(k)) {
                self.coll.index_delete(&spec.name, k, spec.unique, number)?;
            }
            for k in new_keys.iter().filter(|k| !old_keys.contains(k)) {
                self.coll.index_put(&spec.name, k, spec.unique, number)?;
            }
            if new_keys.len() > 1 {
                self.coll.mark_multikey(&spec.name)?;
            }
        }
        Ok(())
    }

    /// Inserts a new record.
    pub(crate) fn insert(&mut self, p: &Prepared) -> Result<()> {
        let number = self.coll.insert(&p.key, &p.id, &p.bytes)?;
        if self.meta.indexes.is_empty() && self.changes.is_none() {
            return Ok(());
        }
        let doc = p.doc(self.coll.name())?;
        self.reindex(number, None, Some(&doc))?;
        let after = self.changes.is_some().then(|| doc.into_owned());
        self.record(&p.id, ChangeKind::Add, None, after);
        Ok(())
    }

    /// Stores an updated record.
    pub(crate) fn update(
        &mut self,
        id: &Value,
        bytes: &[u8],
        before: Option<Value>,
        after: Value,
        applied: Applied,
    ) -> Result<()> {
        let number = self
            .coll
            .replace(&IdKey::new(id)?, bytes)?
            .ok_or_else(|| missing(id))?;
        if !self.meta.indexes.is_empty() {
            self.reindex(
                number,
                Some(before.as_ref().ok_or_else(|| missing(id))?),
                Some(&after),
            )?;
        }
        self.record(id, ChangeKind::Update(applied), before, Some(after));
        Ok(())
    }

    /// Stores a replacement (`set`) of an existing record.
    pub(crate) fn replace(&mut self, p: &Prepared, before: Value) -> Result<()> {
        let number = self
            .coll
            .replace(&p.key, &p.bytes)?
            .ok_or_else(|| missing(&p.id))?;
        let doc = p.doc(self.coll.name())?;
        self.reindex(number, Some(&before), Some(&doc))?;
        let after = self.copy_if_watched(&doc);
        self.record(&p.id, ChangeKind::Replace, Some(before), after);
        Ok(())
    }

    /// Removes a record whose content is `before`. Returns whether it existed.
    pub(crate) fn remove(&mut self, id: &Value, before: Value) -> Result<bool> {
        let Some(number) = self.coll.remove(&IdKey::new(id)?)? else {
            return Ok(false);
        };
        self.reindex(number, Some(&before), None)?;
        self.record(id, ChangeKind::Remove, Some(before), None);
        Ok(true)
    }
}

fn missing(id: &Value) -> Error {
    Error::Storage(yundb_storage::StorageError::Corrupted {
        collection: String::new(),
        detail: format!("record {id} vanished inside its own transaction"),
    })
}
