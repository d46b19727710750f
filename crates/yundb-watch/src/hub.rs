//! The hub: one dispatcher thread per database that turns committed change batches into
//! snapshots for every affected watch.
//!
//! Order is structural: the writer publishes each batch, and each subscription with its initial
//! result, while it holds its writer lock, so the channel carries them in commit order, and a
//! subscription taken at sequence `S` sees exactly the batches after `S`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use serde_json::Value;
use yundb_query::{values_at, values_equal, Filter, Sort};

use crate::error::WatchError;
use crate::event::{ChangeBatch, ChangeKind, DataType, DocChange, QueueType, Snapshot};
use crate::subscription::{Slot, Subscription};

/// Hub settings.
#[derive(Debug, Clone, Copy)]
pub struct HubOptions {
    /// The most records a watch's result may hold (CloudBase: 5,000).
    pub max_records: usize,
    /// How many undelivered changes a subscriber may fall behind before its watch ends.
    pub max_lag: usize,
    /// Hidden candidates kept past an `orderBy` + `limit` window so that members leaving it can
    /// be replaced without reading storage; `None`: as many as the limit, within 8..=256.
    pub slack: Option<usize>,
    /// The most watches open at once on one database.
    pub max_watches: usize,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            max_records: 5000,
            max_lag: 10_000,
            slack: None,
            max_watches: 10_000,
        }
    }
}

/// A watch to start: its query and its initial result.
#[derive(Clone)]
pub struct WatchSpec {
    /// The collection.
    pub collection: String,
    /// The where-clause.
    pub filter: Filter,
    /// The total order of the result (a final `_id` key makes it total).
    pub sort: Sort,
    /// The window size (`None`: every match).
    pub limit: Option<usize>,
    /// The first [`Hub::capacity`] matches in order, as of `since`.
    pub initial: Vec<Value>,
    /// Whether `initial` holds every match.
    pub complete: bool,
    /// The commit the initial result reflects.
    pub since: u64,
    /// What the watcher may see beyond the filter (a permission's owner filter or read rule);
    /// `None`: everything.
    pub visible: Option<Visibility>,
    /// Whether a client user (not admin) watches: such watches end when the collection's
    /// permission changes.
    pub client: bool,
}

/// A record-level visibility check.
pub type Visibility = Arc<dyn Fn(&Value) -> bool + Send + Sync>;

pub(crate) enum Command {
    Subscribe(Box<Sub>),
    Batch(ChangeBatch),
    Unsubscribe(u64),
    Flush(Sender<()>),
    EndClientWatches(String),
    Shutdown,
}

#[derive(Default)]
struct Counts {
    watches: usize,
    windowed: usize,
}

type CountMap = Arc<Mutex<HashMap<String, Counts>>>;

/// The watch hub of one database.
pub struct Hub {
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
    next_id: Mutex<u64>,
    counts: CountMap,
    options: HubOptions,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// Starts the dispatcher thread.
    pub fn new(options: HubOptions) -> Hub {
        let (commands, rx) = crossbeam_channel::unbounded();
        let counts = CountMap::default();
        let dispatcher = Dispatcher {
            subs: HashMap::new(),
            index: HashMap::new(),
            counts: Arc::clone(&counts),
            options,
        };
        let thread = std::thread::Builder::new()
            .name("yundb-watch".into())
            .spawn(move || dispatcher.run(&rx))
            .ok();
        Hub {
            commands,
            thread,
            next_id: Mutex::new(0),
            counts,
            options,
        }
    }

    /// How many records a watch with this limit keeps (window plus hidden slack).
    pub fn capacity(&self, limit: Option<usize>) -> Option<usize> {
        limit.map(|l| l + self.options.slack.unwrap_or_else(|| l.clamp(8, 256)))
    }

    /// The most records a watch may hold.
    pub fn max_records(&self) -> usize {
        self.options.max_records
    }

    /// Whether any watch is open on the collection (writers skip recording changes otherwise).
    pub fn is_watched(&self, collection: &str) -> bool {
        self.counts
            .lock()
            .get(collection)
            .is_some_and(|c| c.watches > 0)
    }

    /// Whether a watch with a window is open on the collection (its batches then carry a
    /// [`Source`](crate::Source)).
    pub fn has_windows(&self, collection: &str) -> bool {
        self.counts
            .lock()
            .get(collection)
            .is_some_and(|c| c.windowed > 0)
    }

    /// Starts a watch: its first snapshot (`type: "init"`) is ready at once.
    ///
    /// # Errors
    /// [`WatchError::TooManyRecords`] if the result exceeds the record cap.
    pub fn subscribe(&self, spec: WatchSpec) -> Result<Subscription, WatchError> {
        let max = self.options.max_records;
        if spec.limit.unwrap_or(spec.initial.len()) > max
            || (spec.limit.is_none() && !spec.complete)
        {
            return Err(WatchError::TooManyRecords { limit: max });
        }
        let open: usize = self.counts.lock().values().map(|c| c.watches).sum();
        if open >= self.options.max_watches {
            return Err(WatchError::TooManyWatches {
                limit: self.options.max_watches,
            });
        }
        let id = {
            let mut next = self.next_id.lock();
            *next += 1;
            *next
        };
        let slot = Arc::new(Slot::default());
        let window: Vec<Arc<Value>> = spec.initial.into_iter().map(Arc::new).collect();
        let visible = spec.limit.map_or(window.len(), |l| l.min(window.len()));
        let docs: Vec<Value> = window.iter().take(visible).map(|d| (**d).clone()).collect();
        let doc_changes = docs
            .iter()
            .map(|d| DocChange {
                id: 1,
                queue_type: QueueType::Init,
                data_type: DataType::Init,
                doc_id: d.get("_id").cloned().unwrap_or(Value::Null),
                doc: d.clone(),
                updated_fields: None,
                removed_fields: None,
            })
            .collect();
        slot.push(
            Snapshot {
                id: 1,
                kind: Some("init"),
                docs,
                doc_changes,
            },
            usize::MAX,
        );
        {
            let mut counts = self.counts.lock();
            let c = counts.entry(spec.collection.clone()).or_default();
            c.watches += 1;
            if spec.limit.is_some() {
                c.windowed += 1;
            }
        }
        let sub = Sub {
            id,
            collection: spec.collection,
            filter: spec.filter,
            sort: spec.sort,
            limit: spec.limit,
            capacity: self.capacity(spec.limit),
            window,
            complete: spec.complete,
            since: spec.since,
            visible: spec.visible,
            client: spec.client,
            event: 1,
            slot: Arc::clone(&slot),
        };
        if self
            .commands
            .send(Command::Subscribe(Box::new(sub)))
            .is_err()
        {
            slot.fail(WatchError::Closed);
        }
        Ok(Subscription {
            id,
            slot,
            commands: self.commands.clone(),
        })
    }

    /// Hands a committed batch to the dispatcher. Never blocks.
    pub fn publish(&self, batch: ChangeBatch) {
        let _ = self.commands.send(Command::Batch(batch));
    }

    /// Ends every client watch on the collection with [`WatchError::PermissionChanged`].
    pub fn end_client_watches(&self, collection: &str) {
        let _ = self
            .commands
            .send(Command::EndClientWatches(collection.to_owned()));
    }

    /// Waits until every batch published so far has been turned into snapshots.
    pub fn flush(&self) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.commands.send(Command::Flush(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        // Subscriptions hold senders too, so the channel alone would not close.
        let _ = self.commands.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) struct Sub {
    id: u64,
    collection: String,
    filter: Filter,
    sort: Sort,
    limit: Option<usize>,
    capacity: Option<usize>,
    /// The first `capacity` matches in order (every match when `complete`).
    window: Vec<Arc<Value>>,
    complete: bool,
    since: u64,
    visible: Option<Visibility>,
    client: bool,
    event: u64,
    slot: Arc<Slot>,
}

/// Watches of one collection, routed by one equality predicate each.
#[derive(Default)]
struct CollIndex {
    all: HashSet<u64>,
    unrouted: HashSet<u64>,
    by_eq: HashMap<String, HashMap<String, HashSet<u64>>>,
}

struct Dispatcher {
    subs: HashMap<u64, Sub>,
    index: HashMap<String, CollIndex>,
    counts: CountMap,
    options: HubOptions,
}

/// A routing key for a scalar value: numbers by value, so `1` and `1.0` meet.
fn route_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(format!("s{s}")),
        Value::Bool(b) => Some(format!("b{b}")),
        Value::Number(n) => {
            let f = n.as_f64()?;
            Some(match n.as_i64() {
                Some(i) => format!("n{i}"),
                None if f.fract() == 0.0 && f.abs() < 9.0e18 => format!("n{}", f as i64),
                None => format!("f{}", f.to_bits()),
            })
        }
        _ => None,
    }
}

/// The routing predicate of a filter: a top-level equality with a scalar value.
fn route_of(filter: &Filter) -> Option<(String, String)> {
    filter
        .equality_fields()
        .into_iter()
        .find_map(|(path, v)| route_key(v).map(|k| (path.as_str().to_owned(), k)))
}

impl Dispatcher {
    fn run(mut self, rx: &Receiver<Command>) {
        for command in rx {
            match command {
                Command::Subscribe(sub) => self.add(*sub),
                Command::Unsubscribe(id) => self.remove(id),
                Command::Flush(done) => {
                    let _ = done.send(());
                }
                Command::Batch(batch) => self.dispatch(&batch),
                Command::EndClientWatches(collection) => {
                    let ids: Vec<u64> = self
                        .subs
                        .values()
                        .filter(|s| s.client && s.collection == collection)
                        .map(|s| s.id)
                        .collect();
                    for id in ids {
                        if let Some(sub) = self.subs.get(&id) {
                            sub.slot.fail(WatchError::PermissionChanged);
                        }
                        self.remove(id);
                    }
                }
                Command::Shutdown => break,
            }
        }
        for sub in self.subs.values() {
            sub.slot.fail(WatchError::Closed);
        }
    }

    fn add(&mut self, sub: Sub) {
        let idx = self.index.entry(sub.collection.clone()).or_default();
        idx.all.insert(sub.id);
        match route_of(&sub.filter) {
            Some((path, key)) => {
                idx.by_eq
                    .entry(path)
                    .or_default()
                    .entry(key)
                    .or_default()
                    .insert(sub.id);
            }
            None => {
                idx.unrouted.insert(sub.id);
            }
        }
        self.subs.insert(sub.id, sub);
    }

    fn remove(&mut self, id: u64) {
        let Some(sub) = self.subs.remove(&id) else {
            return;
        };
        if let Some(idx) = self.index.get_mut(&sub.collection) {
            idx.all.remove(&id);
            idx.unrouted.remove(&id);
            for keys in idx.by_eq.values_mut() {
                for ids in keys.values_mut() {
                    ids.remove(&id);
                }
                keys.retain(|_, ids| !ids.is_empty());
            }
            idx.by_eq.retain(|_, keys| !keys.is_empty());
        }
        let mut counts = self.counts.lock();
        if let Some(c) = counts.get_mut(&sub.collection) {
            c.watches = c.watches.saturating_sub(1);
            if sub.limit.is_some() {
                c.windowed = c.windowed.saturating_sub(1);
            }
        }
    }

    /// The watches a batch can affect.
    fn targets(&self, batch: &ChangeBatch) -> Vec<u64> {
        let Some(idx) = self.index.get(&batch.collection) else {
            return Vec::new();
        };
        if batch.dropped {
            return idx.all.iter().copied().collect();
        }
        let mut out: HashSet<u64> = idx.unrouted.clone();
        for (path, keys) in &idx.by_eq {
            let Ok(fp) = yundb_query::FieldPath::parse(path) else {
                continue;
            };
            for ch in &batch.changes {
                for doc in [&ch.before, &ch.after].into_iter().flatten() {
                    values_at(doc, &fp, &mut |v| {
                        if let Some(ids) = route_key(v).and_then(|k| keys.get(&k)) {
                            out.extend(ids);
                        }
                    });
                }
            }
        }
        out.into_iter().collect()
    }

    fn dispatch(&mut self, batch: &ChangeBatch) {
        let mut ended = Vec::new();
        for id in self.targets(batch) {
            let Some(sub) = self.subs.get_mut(&id) else {
                continue;
            };
            if sub.slot.is_closed() {
                ended.push(id);
                continue;
            }
            if batch.seq <= sub.since {
                continue;
            }
            if batch.dropped {
                sub.slot.fail(WatchError::CollectionDropped {
                    name: batch.collection.clone(),
                });
                ended.push(id);
                continue;
            }
            match sub.apply(batch, self.options.max_records) {
                Ok(Some(snapshot)) => {
                    if !sub.slot.push(snapshot, self.options.max_lag) {
                        ended.push(id);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    sub.slot.fail(e);
                    ended.push(id);
                }
            }
        }
        for id in ended {
            self.remove(id);
        }
    }
}

fn id_of(doc: &Value) -> &Value {
    doc.get("_id").unwrap_or(&Value::Null)
}

fn position(window: &[Arc<Value>], id: &Value) -> Option<usize> {
    window.iter().position(|d| values_equal(id_of(d), id))
}

impl Sub {
    /// Applies a batch to the window and returns the snapshot it produces, if the visible
    /// result changed.
    fn apply(
        &mut self,
        batch: &ChangeBatch,
        max_records: usize,
    ) -> Result<Option<Snapshot>, WatchError> {
        let visible =
            |w: &[Arc<Value>], limit: Option<usize>| limit.map_or(w.len(), |l| l.min(w.len()));
        let old: Vec<Arc<Value>> = self
            .window
            .get(..visible(&self.window, self.limit))
            .unwrap_or_default()
            .to_vec();
        for ch in &batch.changes {
            if let Some(pos) = position(&self.window, &ch.id) {
                self.window.remove(pos);
            }
            if let Some(after) = &ch.after {
                if self.matches(after) {
                    self.insert(Arc::clone(after));
                }
            }
        }
        if let Some(limit) = self.limit {
            if !self.complete && self.window.len() < limit {
                self.refill(batch)?;
            }
        } else if self.window.len() > max_records {
            return Err(WatchError::TooManyRecords { limit: max_records });
        }
        let new = self
            .window
            .get(..visible(&self.window, self.limit))
            .unwrap_or_default();
        let event = self.event + 1;
        let mut changes = Vec::new();
        let change = |queue_type,
                      data_type,
                      doc: &Arc<Value>,
                      fields: Option<&yundb_query::Applied>| DocChange {
            id: event,
            queue_type,
            data_type,
            doc_id: id_of(doc).clone(),
            doc: (**doc).clone(),
            updated_fields: fields.map(|a| a.updated_fields.clone()),
            removed_fields: fields.map(|a| a.removed_fields.clone()),
        };
        let touched = |id: &Value| batch.changes.iter().any(|c| values_equal(&c.id, id));
        // Members pushed out by others' changes.
        for doc in &old {
            if position(new, id_of(doc)).is_none() && !touched(id_of(doc)) {
                changes.push(change(QueueType::Dequeue, DataType::Limit, doc, None));
            }
        }
        for ch in &batch.changes {
            let was = position(&old, &ch.id);
            let is = position(new, &ch.id);
            let data_type = match &ch.kind {
                ChangeKind::Add => DataType::Add,
                ChangeKind::Update(_) => DataType::Update,
                ChangeKind::Replace => DataType::Replace,
                ChangeKind::Remove => DataType::Remove,
            };
            match (was.and_then(|i| old.get(i)), is.and_then(|j| new.get(j))) {
                (None, Some(doc)) => changes.push(change(QueueType::Enqueue, data_type, doc, None)),
                // A replacement always carries the new record (the SDK requires it); other
                // departures show the record as the watch last had it.
                (Some(doc), None) => match (&ch.kind, &ch.after) {
                    (ChangeKind::Replace, Some(after)) => {
                        changes.push(change(QueueType::Dequeue, data_type, after, None));
                    }
                    _ => changes.push(change(QueueType::Dequeue, data_type, doc, None)),
                },
                (Some(before), Some(doc)) => {
                    if before == doc {
                        continue;
                    }
                    match &ch.kind {
                        ChangeKind::Update(applied) => changes.push(change(
                            QueueType::Update,
                            DataType::Update,
                            doc,
                            Some(applied),
                        )),
                        _ => changes.push(change(QueueType::Update, data_type, doc, None)),
                    }
                }
                (None, None) => {}
            }
        }
        // Records pulled in because members left.
        for doc in new {
            if position(&old, id_of(doc)).is_none() && !touched(id_of(doc)) {
                changes.push(change(QueueType::Enqueue, DataType::Limit, doc, None));
            }
        }
        if changes.is_empty() {
            return Ok(None);
        }
        self.event = event;
        Ok(Some(Snapshot {
            id: event,
            kind: None,
            docs: new.iter().map(|d| (**d).clone()).collect(),
            doc_changes: changes,
        }))
    }

    fn matches(&self, doc: &Value) -> bool {
        self.filter.matches(doc) && self.visible.as_ref().is_none_or(|v| v(doc))
    }

    /// Inserts a matching record at its place in the order, if it belongs to the window.
    fn insert(&mut self, doc: Arc<Value>) {
        let p = self
            .window
            .partition_point(|w| self.sort.compare(w, &doc) == std::cmp::Ordering::Less);
        if p < self.window.len() || self.complete {
            self.window.insert(p, doc);
            if self.capacity.is_some_and(|c| self.window.len() > c) {
                self.window.pop();
                self.complete = false;
            }
        }
    }

    /// Reads the next candidates after the window's last record.
    fn refill(&mut self, batch: &ChangeBatch) -> Result<(), WatchError> {
        let Some(capacity) = self.capacity else {
            return Ok(());
        };
        let want = capacity.saturating_sub(self.window.len());
        let Some(source) = &batch.source else {
            return Err(WatchError::Source {
                reason: "no snapshot of the collection came with the change".into(),
            });
        };
        let after = self.window.last().map(|d| (**d).clone());
        let more = source
            .next_matches(
                &self.filter,
                &|d| self.matches(d),
                &self.sort,
                after.as_ref(),
                want,
            )
            .map_err(|reason| WatchError::Source { reason })?;
        self.complete = more.len() < want;
        self.window.extend(more.into_iter().map(Arc::new));
        Ok(())
    }
}
