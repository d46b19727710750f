use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};
use yundb_query::{value, ApplyContext, Direction, Filter, Projection, QueryError, Sort, Update};
use yundb_storage::{IdKey, RecordRead};

use std::collections::HashSet;
use std::ops::Bound;

use yundb_query::index::IndexSpec;
use yundb_query::planner::{self, IndexScan};

use crate::access::{Gate, Mode, WriteKind};
use crate::collection::{now_ms, Collection, RemoveResult, UpdateResult};
use crate::db::Caller;
use crate::error::{Error, Result};
use crate::tx::Tx;

/// Result-size limits per caller class (spec decision 4). `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rows a user query returns without `limit`.
    pub user_default: Option<u64>,
    /// The most rows a user query returns.
    pub user_max: Option<u64>,
    /// Rows an admin query returns without `limit`.
    pub admin_default: Option<u64>,
    /// The most rows an admin query returns.
    pub admin_max: Option<u64>,
}

impl Default for Limits {
    /// CloudBase's: users 20 (and at most 20), admin 100 (and at most 1000).
    fn default() -> Self {
        Limits {
            user_default: Some(20),
            user_max: Some(20),
            admin_default: Some(100),
            admin_max: Some(1000),
        }
    }
}

impl Limits {
    /// No limits at all.
    pub fn unlimited() -> Limits {
        Limits {
            user_default: None,
            user_max: None,
            admin_default: None,
            admin_max: None,
        }
    }

    fn effective(&self, caller: &Caller, requested: Option<u64>) -> Option<u64> {
        let (default, max) = match caller {
            Caller::Admin => (self.admin_default, self.admin_max),
            Caller::User { .. } => (self.user_default, self.user_max),
        };
        let wanted = requested.filter(|&n| n > 0).or(default);
        match (wanted, max) {
            (Some(w), Some(m)) => Some(w.min(m)),
            (None, m) => m,
            (w, None) => w,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Where {
    Builder(Value),
    Wire(Value),
}

/// A query on a collection: `where`, `orderBy`, `skip`, `limit`, `field`, then `get`, `count`,
/// `update` or `remove`. Nothing runs until one of those is called.
#[must_use]
pub struct Query<T = Value> {
    coll: Collection<T>,
    filter: Option<Where>,
    order: Vec<(String, Direction)>,
    skip: u64,
    limit: Option<u64>,
    projection: Option<Value>,
    _doc: PhantomData<fn() -> T>,
}

impl<T> Clone for Query<T> {
    fn clone(&self) -> Self {
        Query {
            coll: self.coll.clone(),
            filter: self.filter.clone(),
            order: self.order.clone(),
            skip: self.skip,
            limit: self.limit,
            projection: self.projection.clone(),
            _doc: PhantomData,
        }
    }
}

/// What a query is about to do, for the access check.
#[derive(Clone, Copy)]
pub(crate) enum Intent<'a> {
    Read,
    Write {
        kind: WriteKind,
        by_doc: bool,
        data: &'a Value,
    },
}

/// The compiled parts of a query.
pub(crate) struct Plan {
    pub(crate) filter: Filter,
    pub(crate) sort: Sort,
    pub(crate) skip: u64,
    pub(crate) limit: Option<u64>,
    pub(crate) projection: Option<Projection>,
    /// What the caller may see or touch, record by record.
    pub(crate) gate: Gate,
    pub(crate) mode: Mode,
}

impl Plan {
    /// How many result documents to skip, then how many to return.
    fn window(&self) -> (usize, usize) {
        let skip = usize::try_from(self.skip).unwrap_or(usize::MAX);
        let take = self
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        (skip, take)
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Query<T> {
    pub(crate) fn new(coll: Collection<T>, filter: Option<Where>) -> Self {
        Query {
            coll,
            filter,
            order: Vec::new(),
            skip: 0,
            limit: None,
            projection: None,
            _doc: PhantomData,
        }
    }

    /// Adds a sort key; the first one given has the highest priority. `direction` is `"asc"` or
    /// `"desc"` (anything else fails when the query runs, as the SDK's `排序字符不合法`).
    pub fn order_by(mut self, path: &str, direction: &str) -> Self {
        let dir = match direction {
            "asc" => Direction::Asc,
            "desc" => Direction::Desc,
            _ => {
                self.order
                    .push((format!("\u{0}{direction}"), Direction::Asc));
                return self;
            }
        };
        self.order.push((path.to_owned(), dir));
        self
    }

    /// Skips the first `n` results.
    pub fn skip(mut self, n: u64) -> Self {
        self.skip = n;
        self
    }

    /// Returns at most `n` results (capped by the caller's limit; `0` means the default).
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// Projects the results (`{"title": 1}`, `{"secret": 0}`, `{"arr": {"$slice": 2}}`).
    pub fn field(mut self, projection: impl Serialize) -> Self {
        self.projection = Some(serde_json::to_value(projection).unwrap_or(Value::Null));
        self
    }

    fn compile_where(&self, extra: Option<Value>) -> Result<Filter> {
        let now = now_ms();
        let (builder, mut q) = match &self.filter {
            None => (false, Value::Object(Map::new())),
            Some(Where::Builder(q)) => (true, q.clone()),
            Some(Where::Wire(q)) => (false, q.clone()),
        };
        self.coll.db().fill_placeholder(&mut q);
        value::normalize(&mut q, now).map_err(QueryError::from)?;
        if let Some(cond) = extra {
            q = json!({"$and": [q, cond]});
        }
        Ok(if builder {
            Filter::from_builder(&q)?
        } else {
            Filter::from_wire(&q)?
        })
    }

    pub(crate) fn plan(&self, intent: Intent<'_>) -> Result<Plan> {
        let db = self.coll.db();
        let filter = self.compile_where(None)?;
        let mode = db.mode(self.coll.name())?;
        let gate = match intent {
            Intent::Read => db.read_gate(&mode, &filter)?,
            Intent::Write { kind, by_doc, data } => {
                db.write_gate(&mode, kind, &filter, by_doc, data)?
            }
        };
        let filter = match gate.owner_condition() {
            Some(cond) => self.compile_where(Some(cond))?,
            None => filter,
        };
        if let Some((bad, _)) = self.order.iter().find(|(p, _)| p.starts_with('\u{0}')) {
            return Err(QueryError::BadSort {
                reason: format!(
                    "direction must be \"asc\" or \"desc\", got {:?}",
                    bad.trim_start_matches('\u{0}')
                ),
            }
            .into());
        }
        let sort = Sort::new(self.order.iter().map(|(p, d)| (p.as_str(), *d)))?;
        let projection = match &self.projection {
            None => None,
            Some(p) => {
                let mut p = p.clone();
                value::normalize(&mut p, now_ms()).map_err(QueryError::from)?;
                Some(Projection::new(&p)?)
            }
        };
        let limit = db.inner.options.limits.effective(&db.caller, self.limit);
        Ok(Plan {
            filter,
            sort,
            skip: self.skip,
            limit,
            projection,
            gate,
            mode,
        })
    }

    pub(crate) fn watch_parts(&self) -> (u64, Option<u64>, bool) {
        (self.skip, self.limit, self.projection.is_some())
    }

    pub(crate) fn collection(&self) -> &Collection<T> {
        &self.coll
    }

    /// Runs the plan: the matching, visible documents in result order (sorted, or natural
    /// order), of which at least `skip + limit` when the result is limited.
    fn execute(
        &self,
        plan: &Plan,
        coll: &dyn RecordRead,
        indexes: &[IndexSpec],
        stats: &mut Stats,
    ) -> Result<Vec<Value>> {
        let db = self.coll.db();
        let lookup = |c: &str, id: &str| db.lookup(c, id);
        let visible = |d: &Value| plan.gate.allows(&lookup, d);
        let want = plan.limit.map(|l| plan.skip.saturating_add(l));
        execute(
            &plan.filter,
            &plan.sort,
            want,
            &visible,
            coll,
            indexes,
            stats,
        )
    }

    fn run(&self, plan: &Plan, stats: &mut Stats) -> Result<Vec<Value>> {
        self.on_snapshot(|coll, indexes| self.execute(plan, coll, indexes, stats))
    }

    /// Runs `f` on the collection in the current read snapshot, with its indexes.
    fn on_snapshot<R>(
        &self,
        mut f: impl FnMut(&dyn RecordRead, &[IndexSpec]) -> Result<R>,
    ) -> Result<R> {
        let db = self.coll.db();
        let read = db.inner.store.begin_read()?;
        let coll = read.collection(self.coll.name())?;
        let meta = db.meta(self.coll.name())?;
        or_scan(&meta.indexes, |indexes| f(&coll, indexes))
    }

    /// Runs the query and returns the matching documents.
    pub fn get(&self) -> Result<Vec<T>> {
        let plan = self.plan(Intent::Read)?;
        let docs = self.run(&plan, &mut Stats::default())?;
        let (skip, take) = plan.window();
        docs.into_iter()
            .skip(skip)
            .take(take)
            .map(|d| {
                let d = match &plan.projection {
                    Some(p) => p.apply(&d),
                    None => d,
                };
                crate::collection::from_doc(d)
            })
            .collect()
    }

    /// How the query runs: `{"stage": "COLLSCAN" | "IXSCAN" | "IDHACK", "scan": {index, ..},
    /// "keysExamined", "docsExamined", "returned"}`. It runs the query to count.
    pub fn explain(&self) -> Result<Value> {
        let plan = self.plan(Intent::Read)?;
        let mut stats = Stats::default();
        let docs = self.run(&plan, &mut stats)?;
        let (skip, take) = plan.window();
        let returned = docs.len().saturating_sub(skip).min(take);
        let mut out = stats.plan;
        if let Some(m) = out.as_object_mut() {
            m.insert("keysExamined".into(), json!(stats.keys_examined));
            m.insert("docsExamined".into(), json!(stats.docs_examined));
            m.insert("returned".into(), json!(returned));
        }
        Ok(out)
    }

    /// The number of matching documents (skip and limit do not apply).
    pub fn count(&self) -> Result<u64> {
        let plan = self.plan(Intent::Read)?;
        let mut unlimited = Plan {
            limit: None,
            skip: 0,
            sort: Sort::default(),
            ..plan
        };
        unlimited.projection = None;
        if matches!(unlimited.gate, Gate::Open) && unlimited.filter.id_equality().is_none() {
            // Every record is visible: count on the stored bytes, decoding only where the
            // filter needs the document.
            return self
                .on_snapshot(|coll, indexes| count_stored(coll, &unlimited.filter, indexes));
        }
        Ok(self.run(&unlimited, &mut Stats::default())?.len() as u64)
    }

    /// Updates every matching document with CloudBase's plain-object merge, in one transaction:
    /// if any document fails, none changes and the error names its `_id`.
    pub fn update(&self, patch: impl Serialize) -> Result<UpdateResult> {
        self.update_matching(patch, true)
    }

    /// Updates the first matching document only (`multi: false`).
    pub fn update_one(&self, patch: impl Serialize) -> Result<UpdateResult> {
        self.update_matching(patch, false)
    }

    fn update_matching(&self, patch: impl Serialize, multi: bool) -> Result<UpdateResult> {
        let mut patch = serde_json::to_value(patch)?;
        self.coll.db().fill_placeholder(&mut patch);
        value::normalize(&mut patch, now_ms())?;
        let update = Update::from_builder(&patch)?;
        self.modify(&update, multi, false, false)
    }

    /// Applies a compiled update to the matching documents (all of them, or the first one) in
    /// one transaction; with `upsert`, inserts a document built from the query's equality
    /// conditions when nothing matches. `by_doc`: the request names one record (`doc(id)`).
    pub(crate) fn modify(
        &self,
        update: &Update,
        multi: bool,
        upsert: bool,
        by_doc: bool,
    ) -> Result<UpdateResult> {
        self.coll.check_user_update(update)?;
        let data = update.set_fields();
        let plan = self.plan(Intent::Write {
            kind: WriteKind::Update,
            by_doc,
            data: &data,
        })?;
        let db = self.coll.db();
        let now = now_ms();
        let mut result = UpdateResult::default();
        let mut insert = None;
        self.coll.write(|tx| {
            // From scratch: a group commit may run this again.
            result = UpdateResult::default();
            insert = None;
            let targets = write_targets(
                tx,
                &plan.filter,
                &|d| plan.gate.allows(&|c, id| db.lookup(c, id), d),
                (!multi).then_some(1),
            )?;
            for mut doc in targets {
                let before = tx.needs_before().then(|| doc.clone());
                result.matched += 1;
                let id = doc.get("_id").cloned().unwrap_or(Value::Null);
                let ctx = ApplyContext {
                    now_ms: now,
                    filter: Some(&plan.filter),
                    inserting: false,
                };
                let applied =
                    update
                        .apply_with(&mut doc, &ctx)
                        .map_err(|source| Error::UpdateOf {
                            id: id.to_string(),
                            source,
                        })?;
                if applied.changed() {
                    let bytes = self.coll.check_and_encode(&doc)?;
                    tx.update(&id, &bytes, before, doc, applied)?;
                    result.updated += 1;
                }
            }
            if result.matched == 0 && upsert {
                let mut doc = Value::Object(Map::new());
                for (path, v) in plan.filter.equality_fields() {
                    if let Ok(seed) = Update::from_wire(&json!({"$set": {path.as_str(): v}})) {
                        // Overlapping equality paths keep the first; the update decides the rest.
                        let _ = seed.apply(&mut doc);
                    }
                }
                let ctx = ApplyContext {
                    now_ms: now,
                    filter: Some(&plan.filter),
                    inserting: true,
                };
                update.apply_with(&mut doc, &ctx)?;
                let id = doc.get("_id").cloned();
                let prepared = self.coll.prepare_new(doc, id.as_ref(), now)?;
                db.check_create(&plan.mode, &*prepared.doc(self.coll.name())?)?;
                tx.insert(&prepared)?;
                insert = Some(prepared.id);
            }
            Ok(result.updated > 0 || insert.is_some())
        })?;
        if let Some(id) = insert {
            result.created = 1;
            result.upserted_id = Some(id);
        }
        Ok(result)
    }

    /// Removes every matching document, in one transaction.
    pub fn remove(&self) -> Result<RemoveResult> {
        self.remove_by(false)
    }

    pub(crate) fn remove_by(&self, by_doc: bool) -> Result<RemoveResult> {
        let plan = self.plan(Intent::Write {
            kind: WriteKind::Delete,
            by_doc,
            data: &Value::Null,
        })?;
        let db = self.coll.db();
        let mut removed = 0;
        self.coll.write(|tx| {
            removed = 0;
            for doc in write_targets(
                tx,
                &plan.filter,
                &|d| plan.gate.allows(&|c, id| db.lookup(c, id), d),
                None,
            )? {
                let id = doc.get("_id").cloned().unwrap_or(Value::Null);
                if tx.remove(&id, doc)? {
                    removed += 1;
                }
            }
            Ok(removed > 0)
        })?;
        Ok(RemoveResult { removed })
    }
}

/// Runs `f` with the collection's indexes; if that fails while there are some (an index
/// dropped between the catalogue read and the snapshot), runs it again without: by scan.
pub(crate) fn or_scan<R>(
    indexes: &[IndexSpec],
    mut f: impl FnMut(&[IndexSpec]) -> Result<R>,
) -> Result<R> {
    match f(indexes) {
        Err(_) if !indexes.is_empty() => f(&[]),
        other => other,
    }
}

/// Runs a filter with a sort order on one snapshot: the matching documents `visible` lets
/// through, in result order (sorted, or natural order), at least the first `want` of them when
/// given. Uses an index when the planner finds one.
pub(crate) fn execute(
    filter: &Filter,
    sort: &Sort,
    want: Option<u64>,
    visible: &(dyn Fn(&Value) -> bool + Sync),
    coll: &dyn RecordRead,
    indexes: &[IndexSpec],
    stats: &mut Stats,
) -> Result<Vec<Value>> {
    let scan = if filter.id_equality().is_some() {
        None
    } else {
        planner::choose(filter, sort, indexes, &|index| single_key(coll, index))
    };
    let Some(scan) = scan else {
        stats.plan = if filter.id_equality().is_some() {
            json!({"stage": "IDHACK"})
        } else {
            json!({"stage": "COLLSCAN"})
        };
        let cap = sort.is_empty().then_some(want).flatten();
        let mut docs = matching(coll, filter, &visible, cap)?;
        stats.docs_examined = if filter.id_equality().is_some() {
            1
        } else {
            coll.len()?
        };
        if !sort.is_empty() {
            docs.sort_by(|a, b| sort.compare(a, b));
        }
        return Ok(docs);
    };
    stats.plan = json!({"stage": "IXSCAN", "scan": scan.describe()});
    let mut found: Vec<(u64, Value)> = Vec::new();
    index_records(coll, &scan, stats, &mut |number, bytes| {
        let Some(doc) = keep_stored(coll, filter, visible, bytes)? else {
            return Ok(true);
        };
        // In index order, stop once the limit is reached and the last key's ties are in.
        if scan.ordered {
            if let (Some(w), Some((_, last))) = (want, found.last()) {
                if found.len() as u64 >= w
                    && (scan.ties_in_order || sort.compare(last, &doc) != std::cmp::Ordering::Equal)
                {
                    return Ok(false);
                }
            }
        }
        found.push((number, doc));
        Ok(true)
    })?;
    // Natural order first (record numbers grow with inserts), then a stable sort: exactly
    // what a full scan gives.
    found.sort_by_key(|(n, _)| *n);
    let mut docs: Vec<Value> = found.into_iter().map(|(_, d)| d).collect();
    if !sort.is_empty() {
        docs.sort_by(|a, b| sort.compare(a, b));
    }
    Ok(docs)
}

/// Calls `f` with the record number and stored bytes of each record an index scan finds, once
/// each, in scan order, until it returns `false`; counts keys and records in `stats`.
fn index_records(
    coll: &dyn RecordRead,
    scan: &IndexScan,
    stats: &mut Stats,
    f: &mut dyn FnMut(u64, &[u8]) -> Result<bool>,
) -> Result<()> {
    let mut seen = HashSet::new();
    let mut failure = None;
    let ranges: Vec<_> = if scan.reverse {
        scan.ranges.iter().rev().collect()
    } else {
        scan.ranges.iter().collect()
    };
    for (lo, hi) in ranges {
        let mut go_on = true;
        coll.index_scan(
            &scan.index,
            as_ref(lo),
            as_ref(hi),
            scan.reverse,
            &mut |number| {
                stats.keys_examined += 1;
                if !seen.insert(number) {
                    return true;
                }
                stats.docs_examined += 1;
                let read = coll.raw_number(number, &mut |bytes| match f(number, bytes) {
                    Ok(more) => go_on = more,
                    Err(e) => {
                        failure = Some(e);
                        go_on = false;
                    }
                });
                if let Err(e) = read {
                    failure = Some(e.into());
                    go_on = false;
                }
                go_on
            },
        )?;
        if let Some(e) = failure {
            return Err(e);
        }
        if !go_on {
            break;
        }
    }
    Ok(())
}

/// The documents a write changes, in natural order, at most `cap` of them: planned like a
/// query, on the indexes the transaction maintains.
fn write_targets(
    tx: &Tx<'_>,
    filter: &Filter,
    visible: &(dyn Fn(&Value) -> bool + Sync),
    cap: Option<u64>,
) -> Result<Vec<Value>> {
    let sort = Sort::default();
    let mut stats = Stats::default();
    let mut docs = execute(
        filter,
        &sort,
        cap,
        visible,
        tx.reader(),
        tx.indexes(),
        &mut stats,
    )?;
    // An index scan returns every match (in natural order).
    if let Some(cap) = cap {
        docs.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
    }
    Ok(docs)
}

/// Calls `f` with each document that matches and that `visible` lets through, in natural order,
/// until it returns `false`. A filter pinned to one `_id` looks the record up instead of
/// scanning.
pub(crate) fn scan_matching(
    coll: &dyn RecordRead,
    filter: &Filter,
    visible: &(dyn Fn(&Value) -> bool + Sync),
    f: &mut dyn FnMut(Value) -> bool,
) -> Result<()> {
    if let Some(id) = filter.id_equality() {
        if let Ok(key) = IdKey::new(id) {
            if let Some(doc) = coll.get(&key)? {
                if filter.matches(&doc) && visible(&doc) {
                    f(doc);
                }
            }
            return Ok(());
        }
    }
    scan_stored(coll, None, filter, visible, f)
}

/// Scans stored records (all, or the numbers `from..to`): the filter decides on the stored
/// bytes where it can, and only the records that match are decoded and handed to `f`.
fn scan_stored(
    coll: &dyn RecordRead,
    range: Option<(u64, u64)>,
    filter: &Filter,
    visible: &(dyn Fn(&Value) -> bool + Sync),
    f: &mut dyn FnMut(Value) -> bool,
) -> Result<()> {
    let mut failure = None;
    let mut each = |bytes: &[u8]| match keep_stored(coll, filter, visible, bytes) {
        Ok(Some(doc)) => f(doc),
        Ok(None) => true,
        Err(e) => {
            failure = Some(e);
            false
        }
    };
    match range {
        None => coll.scan_raw(&mut each)?,
        Some((from, to)) => coll.scan_raw_range(from, to, &mut each)?,
    }
    failure.map_or(Ok(()), Err)
}

/// A stored record, decoded if it matches `filter` and `visible` lets it through. The filter
/// decides on the stored bytes where it can, so a record that does not match is not decoded.
fn keep_stored(
    coll: &dyn RecordRead,
    filter: &Filter,
    visible: &(dyn Fn(&Value) -> bool + Sync),
    bytes: &[u8],
) -> Result<Option<Value>> {
    let verdict = filter.matches_stored(bytes);
    if verdict == Some(false) {
        return Ok(None);
    }
    let doc = yundb_storage::decode_record(coll.name(), bytes)?;
    Ok(((verdict == Some(true) || filter.matches(&doc)) && visible(&doc)).then_some(doc))
}

/// Whether no record has put two or more entries in `index` (unknown or unreadable: no).
fn single_key(coll: &dyn RecordRead, index: &str) -> bool {
    coll.index_multikey(index).is_ok_and(|multikey| !multikey)
}

/// Whether a stored record matches, decided on its bytes where the filter can.
fn stored_matches(collection: &str, filter: &Filter, bytes: &[u8]) -> Result<bool> {
    match filter.matches_stored(bytes) {
        Some(verdict) => Ok(verdict),
        None => Ok(filter.matches(&yundb_storage::decode_record(collection, bytes)?)),
    }
}

/// How many records match `filter` (every record visible), through an index where the planner
/// picks one, else by a scan (on several threads for a large collection).
fn count_stored(coll: &dyn RecordRead, filter: &Filter, indexes: &[IndexSpec]) -> Result<u64> {
    let mut tally = Tally::new(coll.name(), filter);
    let single = |index: &str| single_key(coll, index);
    if let Some(scan) = planner::choose(filter, &Sort::default(), indexes, &single) {
        index_records(coll, &scan, &mut Stats::default(), &mut |_, bytes| {
            Ok(tally.add(bytes))
        })?;
        return tally.result();
    }
    if let Some((shared, first, last)) = parallel_span(coll)? {
        let parts = parallel_parts(first, last, &|from, to| {
            let mut tally = Tally::new(shared.name(), filter);
            shared.scan_raw_range(from, to, &mut |bytes| tally.add(bytes))?;
            tally.result()
        })?;
        return Ok(parts.into_iter().sum());
    }
    coll.scan_raw(&mut |bytes| tally.add(bytes))?;
    tally.result()
}

/// Counts the stored records that match a filter; stops at the first error.
struct Tally<'f> {
    collection: &'f str,
    filter: &'f Filter,
    count: u64,
    failure: Option<Error>,
}

impl<'f> Tally<'f> {
    fn new(collection: &'f str, filter: &'f Filter) -> Self {
        Tally {
            collection,
            filter,
            count: 0,
            failure: None,
        }
    }

    /// Counts one record; `false` once something failed.
    fn add(&mut self, bytes: &[u8]) -> bool {
        match stored_matches(self.collection, self.filter, bytes) {
            Ok(matched) => {
                self.count += u64::from(matched);
                true
            }
            Err(e) => {
                self.failure = Some(e);
                false
            }
        }
    }

    fn result(self) -> Result<u64> {
        self.failure.map_or(Ok(self.count), Err)
    }
}

/// Collections at least this large are scanned by several threads when the whole result is
/// needed.
const PARALLEL_SCAN_MIN: u64 = 16_384;

/// Scans a shared read snapshot on up to 4 threads, each over a slice of the record numbers,
/// and returns the matches in natural order.
fn parallel_matching(
    coll: &(dyn RecordRead + Sync),
    filter: &Filter,
    visible: &(dyn Fn(&Value) -> bool + Sync),
    first: u64,
    last: u64,
) -> Result<Vec<Value>> {
    let parts = parallel_parts(first, last, &|from, to| {
        let mut out = Vec::new();
        scan_stored(coll, Some((from, to)), filter, visible, &mut |doc| {
            out.push(doc);
            true
        })?;
        Ok(out)
    })?;
    Ok(parts.into_iter().flatten().collect())
}

/// The shared reader and the first and last record numbers of a collection large enough to
/// scan on several threads. Decided on the record count, so that a small collection asks for
/// one full scan only (each full scan counts toward making a resident copy).
fn parallel_span(coll: &dyn RecordRead) -> Result<Option<(&(dyn RecordRead + Sync), u64, u64)>> {
    if coll.len()? < PARALLEL_SCAN_MIN {
        return Ok(None);
    }
    let Some(shared) = coll.as_shared() else {
        return Ok(None);
    };
    Ok(coll
        .number_bounds()?
        .map(|(first, last)| (shared, first, last)))
}

/// Runs `part` over up to 4 slices `from..to` of the record numbers `first..=last`, one
/// thread each, and returns their results in order.
fn parallel_parts<R: Send>(
    first: u64,
    last: u64,
    part: &(dyn Fn(u64, u64) -> Result<R> + Sync),
) -> Result<Vec<R>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 4) as u64;
    let span = (last - first) / threads + 1;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let from = first + t * span;
                let to = if t + 1 == threads {
                    last + 1
                } else {
                    (from + span).min(last + 1)
                };
                scope.spawn(move || part(from, to))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::InvalidParam {
                        reason: "a scan thread panicked".into(),
                    })
                })
            })
            .collect()
    })
}

/// The matching, visible documents in natural order, at most `cap` of them.
pub(crate) fn matching(
    coll: &dyn RecordRead,
    filter: &Filter,
    visible: &(dyn Fn(&Value) -> bool + Sync),
    cap: Option<u64>,
) -> Result<Vec<Value>> {
    let cap = cap.unwrap_or(u64::MAX);
    let mut out = Vec::new();
    if cap == 0 {
        return Ok(out);
    }
    if cap == u64::MAX && filter.id_equality().is_none() {
        if let Some((shared, first, last)) = parallel_span(coll)? {
            return parallel_matching(shared, filter, visible, first, last);
        }
    }
    scan_matching(coll, filter, visible, &mut |doc| {
        out.push(doc);
        (out.len() as u64) < cap
    })?;
    Ok(out)
}

/// What running a plan cost.
#[derive(Default)]
pub(crate) struct Stats {
    plan: Value,
    keys_examined: u64,
    docs_examined: u64,
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}
