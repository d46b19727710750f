//! One write transaction on one collection, recording what it changes for the watch hub.

use std::sync::Arc;

use serde_json::Value;
use yundb_query::Applied;
use yundb_storage::{CollectionWriter, IdKey, RecordRead};
use yundb_watch::{Change, ChangeKind};

use crate::collection::Prepared;
use crate::error::Result;

/// A collection inside a write transaction. Every write goes through here, so that a watched
/// collection's changes are recorded for the commit's batch.
pub(crate) struct Tx<'t> {
    coll: CollectionWriter<'t>,
    /// `None` when no watch is open on the collection: nothing is recorded.
    changes: Option<Vec<Change>>,
}

impl<'t> Tx<'t> {
    pub(crate) fn new(coll: CollectionWriter<'t>, watched: bool) -> Self {
        Tx {
            coll,
            changes: watched.then(Vec::new),
        }
    }

    pub(crate) fn into_changes(self) -> Option<Vec<Change>> {
        self.changes
    }

    /// Whether changes are recorded (callers then keep the documents' previous versions).
    pub(crate) fn watched(&self) -> bool {
        self.changes.is_some()
    }

    pub(crate) fn reader(&self) -> &dyn RecordRead {
        &self.coll
    }

    pub(crate) fn get(&self, key: &IdKey) -> Result<Option<Value>> {
        Ok(self.coll.get(key)?)
    }

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

    /// Inserts a new record.
    pub(crate) fn insert(&mut self, p: &Prepared) -> Result<()> {
        self.coll.insert(&p.key, &p.id, &p.bytes)?;
        if self.watched() {
            self.record(&p.id, ChangeKind::Add, None, Some(p.doc.clone()));
        }
        Ok(())
    }

    /// Stores an updated record.
    pub(crate) fn update(
        &mut self,
        id: &Value,
        bytes: &[u8],
        before: Option<Value>,
        after: &Value,
        applied: Applied,
    ) -> Result<()> {
        self.coll.replace(&IdKey::new(id)?, bytes)?;
        if self.watched() {
            self.record(id, ChangeKind::Update(applied), before, Some(after.clone()));
        }
        Ok(())
    }

    /// Stores a replacement (`set`) of an existing record.
    pub(crate) fn replace(&mut self, p: &Prepared, before: Value) -> Result<()> {
        self.coll.replace(&p.key, &p.bytes)?;
        if self.watched() {
            self.record(
                &p.id,
                ChangeKind::Replace,
                Some(before),
                Some(p.doc.clone()),
            );
        }
        Ok(())
    }

    /// Removes a record; `before` is its content when known. Returns whether it existed.
    pub(crate) fn remove(&mut self, id: &Value, before: Option<Value>) -> Result<bool> {
        let existed = self.coll.remove(&IdKey::new(id)?)?;
        if existed && self.watched() {
            self.record(id, ChangeKind::Remove, before, None);
        }
        Ok(existed)
    }
}
