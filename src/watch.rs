//! The facade's side of realtime watch: starting watches consistently with commits, and
//! publishing each commit's changes.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use yundb_query::{Direction, Filter, Sort};
use yundb_storage::ReadTxn;
use yundb_watch::{Change, ChangeBatch, Source, Subscription, Visibility, WatchSpec};

use crate::access::Gate;

use crate::collection::DocRef;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::query::Query;

/// The collection as of one commit, for windows that run short.
struct SnapshotSource {
    read: std::sync::Arc<ReadTxn>,
    collection: String,
    /// The collection's catalogue entry as of that commit (its indexes).
    meta: Arc<crate::db::Meta>,
}

impl Source for SnapshotSource {
    fn next_matches(
        &self,
        filter: &Filter,
        matches: &(dyn Fn(&Value) -> bool + Sync),
        sort: &Sort,
        after: Option<&Value>,
        n: usize,
    ) -> std::result::Result<Vec<Value>, String> {
        let coll = self
            .read
            .collection(&self.collection)
            .map_err(|e| e.to_string())?;
        // The planner answers "the first `want` in order" (an ordered index scan stops
        // there); the window's documents come first, so ask for more until `n` lie past
        // `after` or the matches run out.
        let mut want = n.saturating_mul(2).max(16);
        loop {
            let mut stats = crate::query::Stats::default();
            let docs = crate::query::or_scan(&self.meta.indexes, |indexes| {
                crate::query::execute(
                    filter,
                    sort,
                    Some(want as u64),
                    matches,
                    &coll,
                    indexes,
                    &mut stats,
                )
            })
            .map_err(|e| e.to_string())?;
            let exhausted = docs.len() < want;
            let past: Vec<Value> = docs
                .into_iter()
                .filter(|d| after.is_none_or(|a| sort.compare(d, a) == std::cmp::Ordering::Greater))
                .take(n)
                .collect();
            if past.len() == n || exhausted {
                return Ok(past);
            }
            want = want.saturating_mul(4);
        }
    }
}

/// Publishes one commit's changes. Called with the writer lock held, right after the commit,
/// so batches reach the hub in commit order and a window refill reads exactly this commit.
pub(crate) fn publish(db: &Db, collection: &str, seq: u64, changes: Vec<Change>) -> Result<()> {
    let inner = &db.inner;
    let source: Option<Arc<dyn Source>> = if inner.hub.has_windows(collection) {
        Some(Arc::new(SnapshotSource {
            read: inner.store.begin_read()?,
            collection: collection.to_owned(),
            meta: db.meta(collection)?,
        }))
    } else {
        None
    };
    inner.hub.publish(ChangeBatch {
        collection: collection.to_owned(),
        seq,
        changes,
        source,
        dropped: false,
    });
    Ok(())
}

/// Tells the watches of a dropped collection that it is gone.
pub(crate) fn publish_drop(db: &Db, collection: &str, seq: u64) {
    db.inner.hub.publish(ChangeBatch {
        collection: collection.to_owned(),
        seq,
        changes: Vec::new(),
        source: None,
        dropped: true,
    });
}

/// The watch's total order: the query's keys then `_id` ascending; `_id` descending without
/// `orderBy` (CloudBase's default).
fn watch_sort(sort: &Sort) -> Result<Sort> {
    if sort.is_empty() {
        return Ok(Sort::new([("_id", Direction::Desc)])?);
    }
    let mut keys: Vec<(&str, Direction)> =
        sort.keys().iter().map(|(p, d)| (p.as_str(), *d)).collect();
    if !keys.iter().any(|(p, _)| *p == "_id") {
        keys.push(("_id", Direction::Asc));
    }
    Ok(Sort::new(keys)?)
}

impl<T: Serialize + DeserializeOwned + 'static> Query<T> {
    /// Watches the query's result: the first snapshot is the current result (`type: "init"`),
    /// then one snapshot per commit that changes it. Supports `where`, `order_by` and `limit`;
    /// `skip` and `field` are rejected, as in CloudBase. Without `order_by` the order is `_id`
    /// descending; without `limit` every match is watched (at most 5,000 by default).
    ///
    /// # Errors
    /// `INVALID_PARAM` for `skip`/`field`, a bad query, or a result past the record cap.
    pub fn watch(&self) -> Result<Subscription> {
        let (skip, limit, projection) = self.watch_parts();
        if skip != 0 || projection {
            return Err(Error::InvalidParam {
                reason: "watch does not support skip or field".into(),
            });
        }
        let plan = self.plan(crate::query::Intent::Read)?;
        let sort = watch_sort(&plan.sort)?;
        let limit = limit
            .filter(|&l| l > 0)
            .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
        let db = self.collection().db();
        let inner = &db.inner;
        let hub = &inner.hub;
        let capacity = hub.capacity(limit);
        let _writer = inner.write_lock();
        let read = inner.store.begin_read()?;
        let since = read.seq()?;
        let coll = read.collection(self.collection().name())?;
        let mut matches = Vec::new();
        let cap = hub.max_records();
        let mut too_many = false;
        crate::query::scan_matching(
            &coll,
            &plan.filter,
            &|d| plan.gate.allows(&|c, id| db.lookup(c, id), d),
            &mut |doc| {
                matches.push(doc);
                // Unlimited watches hold every match: stop once the cap is passed.
                too_many = limit.is_none() && matches.len() > cap;
                !too_many
            },
        )?;
        if too_many {
            return Err(yundb_watch::WatchError::TooManyRecords { limit: cap }.into());
        }
        matches.sort_by(|a, b| sort.compare(a, b));
        let complete = capacity.is_none_or(|c| matches.len() <= c);
        if let Some(c) = capacity {
            matches.truncate(c);
        }
        let visible: Option<Visibility> = match &plan.gate {
            Gate::Open => None,
            gate => {
                let gate = gate.clone();
                let weak = Arc::downgrade(&db.inner);
                let caller = db.caller().clone();
                Some(Arc::new(move |doc: &Value| {
                    let lookup = |c: &str, id: &str| {
                        weak.upgrade().and_then(|inner| {
                            Db {
                                inner,
                                caller: caller.clone(),
                            }
                            .lookup(c, id)
                        })
                    };
                    gate.allows(&lookup, doc)
                }))
            }
        };
        let spec = WatchSpec {
            collection: self.collection().name().to_owned(),
            filter: plan.filter,
            sort,
            limit,
            initial: matches,
            complete,
            since,
            visible,
            client: matches!(db.caller(), crate::db::Caller::User { .. }),
        };
        Ok(hub.subscribe(spec)?)
    }
}

impl<T: Serialize + DeserializeOwned + 'static> DocRef<T> {
    /// Watches this one document (`doc(id).watch()`).
    pub fn watch(&self) -> Result<Subscription> {
        self.collection()
            .where_wire(serde_json::json!({"_id": self.id().clone()}))
            .watch()
    }
}
