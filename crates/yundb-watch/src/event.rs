//! What flows through the hub: committed changes in, CloudBase snapshots out.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};
use yundb_query::{Applied, Filter, Sort};

/// How a record changed.
#[derive(Debug, Clone)]
pub enum ChangeKind {
    /// Inserted (`add`, `add_many`, an upsert).
    Add,
    /// Updated with update operators; the applier's report becomes `updatedFields` /
    /// `removedFields`.
    Update(Applied),
    /// Replaced as a whole (`set`).
    Replace,
    /// Removed.
    Remove,
}

/// One record's change in a commit.
#[derive(Debug, Clone)]
pub struct Change {
    /// The record's `_id`.
    pub id: Value,
    /// What happened.
    pub kind: ChangeKind,
    /// The record before (absent for an insert).
    pub before: Option<Arc<Value>>,
    /// The record after (absent for a remove).
    pub after: Option<Arc<Value>>,
}

/// Reads the collection as of the batch's commit, for windows that run short.
pub trait Source: Send + Sync {
    /// Up to `n` documents for which `matches` holds, in `sort` order, strictly after `after`
    /// in that order (from the start when `None`). `matches` is `filter` and the watcher's
    /// visibility: a source may use `filter` to plan the read (an index), and must check
    /// `matches`.
    fn next_matches(
        &self,
        filter: &Filter,
        matches: &(dyn Fn(&Value) -> bool + Sync),
        sort: &Sort,
        after: Option<&Value>,
        n: usize,
    ) -> Result<Vec<Value>, String>;
}

/// Everything one commit did to one collection.
pub struct ChangeBatch {
    /// The collection.
    pub collection: String,
    /// The commit's sequence number.
    pub seq: u64,
    /// The changes, in the order the write made them.
    pub changes: Vec<Change>,
    /// The collection as of this commit (given when some watch on it has a window).
    pub source: Option<Arc<dyn Source>>,
    /// The collection was dropped.
    pub dropped: bool,
}

impl std::fmt::Debug for ChangeBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeBatch")
            .field("collection", &self.collection)
            .field("seq", &self.seq)
            .field("changes", &self.changes.len())
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

/// `queueType`: what happened to the result list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// The list was initialised.
    Init,
    /// A member changed; membership did not.
    Update,
    /// A record entered the list.
    Enqueue,
    /// A record left the list.
    Dequeue,
}

/// `dataType`: what happened to the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// Part of the initial result.
    Init,
    /// Updated with operators.
    Update,
    /// Replaced (`set`).
    Replace,
    /// Inserted.
    Add,
    /// Removed.
    Remove,
    /// Moved in or out of an `orderBy` + `limit` window by another record's change.
    Limit,
}

/// One entry of `docChanges`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocChange {
    /// The event id this change belongs to.
    pub id: u64,
    /// What happened to the list.
    #[serde(rename = "queueType")]
    pub queue_type: QueueType,
    /// What happened to the record.
    #[serde(rename = "dataType")]
    pub data_type: DataType,
    /// The record's `_id`.
    #[serde(rename = "docId")]
    pub doc_id: Value,
    /// The record (after the change; for a dequeue, as the watch last showed it).
    pub doc: Value,
    /// For `update`: dot path → new value.
    #[serde(rename = "updatedFields", skip_serializing_if = "Option::is_none")]
    pub updated_fields: Option<Map<String, Value>>,
    /// For `update`: removed dot paths.
    #[serde(rename = "removedFields", skip_serializing_if = "Option::is_none")]
    pub removed_fields: Option<Vec<String>>,
}

/// A CloudBase snapshot: the result after an event and the changes that made it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// The event id (gap-free per watch; the first snapshot's is 1).
    pub id: u64,
    /// `"init"` on the first snapshot only.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// The full result after the event, in true sort order.
    pub docs: Vec<Value>,
    /// The changes, each with its event id (several ids when a slow subscriber's snapshots were
    /// merged).
    #[serde(rename = "docChanges")]
    pub doc_changes: Vec<DocChange>,
}

impl Snapshot {
    /// Whether this is the initial snapshot.
    pub fn is_init(&self) -> bool {
        self.kind == Some("init")
    }

    /// The snapshot as CloudBase JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
