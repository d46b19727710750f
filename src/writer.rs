//! The writer lock, with group commit.
//!
//! One write transaction runs at a time (redb's rule, and the order watches rely on). Writers
//! that arrive while others are queued share one: each runs its own work inside the open
//! transaction (holding the lock, in turn), takes its own commit sequence number, and — if
//! someone is still queued behind it — leaves the transaction open and waits. The first writer
//! that finds nobody queued commits the whole group durably and publishes each member's
//! changes, in order, under its own sequence number. A lone writer commits alone, as before.
//! Every write call returns only once its work is durable.
//!
//! A member whose work fails aborts the transaction (its partial writes with it); the other
//! members run their work again in a later group. Writes to collections with `orderBy`/`limit`
//! watches run alone (their window refills read the commit's snapshot), as do catalogue changes,
//! which first commit any open group.
//!
//! Invariant: whenever the lock is released with nobody queued, no group is left open.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Condvar, Mutex, MutexGuard};
use yundb_storage::{StorageError, Store, WriteTxn};
use yundb_watch::Change;

use crate::db::Db;
use crate::error::Result;

/// How long a writer that would commit alone waits for other active writers to queue up
/// behind it (they are usually waking from the previous group's commit).
const LINGER: std::time::Duration = std::time::Duration::from_micros(100);

/// The most writers one transaction holds (so that a steady stream of writers cannot keep a
/// group open forever).
const MAX_GROUP: usize = 64;

#[derive(Default)]
pub(crate) struct Writer {
    open: Mutex<Option<Group>>,
    /// Threads waiting for `open`'s lock.
    queued: AtomicUsize,
    /// Threads inside a group-capable write (queued, working, waiting for their group, or
    /// about to return).
    inflight: AtomicUsize,
    outcomes: Mutex<Outcomes>,
    decided: Condvar,
}

/// An open transaction and the writers whose work it holds.
pub(crate) struct Group {
    id: u64,
    txn: WriteTxn,
    members: Vec<Member>,
}

/// One writer's committed-to-be work: what to publish and what to forget once it commits.
pub(crate) struct Member {
    pub(crate) db: Db,
    pub(crate) collection: String,
    pub(crate) seq: u64,
    pub(crate) changes: Option<Vec<Change>>,
    /// The write auto-created the collection: its cached catalogue entry is stale.
    pub(crate) created: bool,
}

#[derive(Default)]
struct Outcomes {
    next_id: u64,
    /// Decided groups: the outcome, and how many waiting members have yet to read it.
    decided: HashMap<u64, (Outcome, usize)>,
}

#[derive(Clone)]
pub(crate) enum Outcome {
    Committed,
    /// A later member failed and took the transaction with it: run the work again.
    Retry,
    Failed(String),
}

/// The held writer lock.
pub(crate) struct WriteLock<'a> {
    writer: &'a Writer,
    store: &'a Store,
    open: MutexGuard<'a, Option<Group>>,
}

/// A transaction taken from the lock: a new one, or the open group's.
pub(crate) struct Taken {
    pub(crate) txn: WriteTxn,
    id: Option<u64>,
    members: Vec<Member>,
}

impl Writer {
    fn acquire<'a>(&'a self, store: &'a Store) -> WriteLock<'a> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let open = self.open.lock();
        self.queued.fetch_sub(1, Ordering::SeqCst);
        WriteLock {
            writer: self,
            store,
            open,
        }
    }

    /// The lock for work that runs alone: any open group is committed first.
    pub(crate) fn lock<'a>(&'a self, store: &'a Store) -> WriteLock<'a> {
        let mut lock = self.acquire(store);
        lock.commit_open();
        lock
    }

    /// The lock for a write that may join the open group.
    pub(crate) fn join<'a>(&'a self, store: &'a Store) -> WriteLock<'a> {
        self.acquire(store)
    }

    /// Counts a thread as an active writer while the returned guard lives.
    pub(crate) fn active(&self) -> Active<'_> {
        self.inflight.fetch_add(1, Ordering::SeqCst);
        Active(self)
    }

    fn decide(&self, id: u64, outcome: Outcome, waiting: usize) {
        if waiting > 0 {
            self.outcomes.lock().decided.insert(id, (outcome, waiting));
            self.decided.notify_all();
        }
    }

    fn wait(&self, id: u64) -> Outcome {
        let mut outcomes = self.outcomes.lock();
        loop {
            if let Some((outcome, left)) = outcomes.decided.get_mut(&id) {
                let outcome = outcome.clone();
                *left -= 1;
                if *left == 0 {
                    outcomes.decided.remove(&id);
                }
                return outcome;
            }
            self.decided.wait(&mut outcomes);
        }
    }
}

impl WriteLock<'_> {
    /// Whether another writer waits for the lock.
    fn others_queued(&self) -> bool {
        self.writer.queued.load(Ordering::SeqCst) > 0
    }

    /// The transaction to write in: the open group's, or a new one.
    pub(crate) fn take(&mut self) -> Result<Taken> {
        if let Some(group) = self.open.take() {
            return Ok(Taken {
                txn: group.txn,
                id: Some(group.id),
                members: group.members,
            });
        }
        Ok(Taken {
            txn: self.store.begin_write()?,
            id: None,
            members: Vec::new(),
        })
    }

    /// The work in `taken` failed: the transaction is dropped, and the members already in it
    /// run their work again.
    pub(crate) fn abandon(&mut self, taken: Taken) {
        let Taken { txn, id, members } = taken;
        drop(txn);
        if let Some(id) = id {
            self.writer.decide(id, Outcome::Retry, members.len());
        }
    }

    /// The work in `taken` changed nothing: the group (if any) stays open for others.
    pub(crate) fn put_back(&mut self, taken: Taken) {
        let Taken { txn, id, members } = taken;
        match id {
            Some(id) => {
                *self.open = Some(Group { id, txn, members });
            }
            None => drop(txn),
        }
    }

    /// Adds this writer's work (`member`, whose `seq` the transaction already holds) and either
    /// leaves the group open for the writers queued behind (`Ok(id)`: wait for group `id`), or
    /// hands it back to be committed now (`Err`: nobody is queued, it runs alone, or it is full).
    pub(crate) fn add(
        &mut self,
        mut taken: Taken,
        member: Member,
        alone: bool,
    ) -> Result<u64, Box<Taken>> {
        taken.members.push(member);
        if alone || taken.members.len() >= MAX_GROUP {
            return Err(Box::new(taken));
        }
        // Other active writers (beyond this group's members) are about to queue: give them a
        // moment, holding the lock, so they join this flush instead of paying the next one.
        let others = || {
            self.writer
                .inflight
                .load(Ordering::SeqCst)
                .saturating_sub(taken.members.len())
        };
        if !self.others_queued() && others() > 0 {
            let start = std::time::Instant::now();
            while !self.others_queued() && others() > 0 && start.elapsed() < LINGER {
                std::thread::yield_now();
            }
        }
        if !self.others_queued() {
            return Err(Box::new(taken));
        }
        let id = taken.id.unwrap_or_else(|| {
            let mut outcomes = self.writer.outcomes.lock();
            outcomes.next_id += 1;
            outcomes.next_id
        });
        *self.open = Some(Group {
            id,
            txn: taken.txn,
            members: taken.members,
        });
        Ok(id)
    }

    /// Commits `taken` (this writer's work last in it) and publishes every member's changes.
    /// The other members learn the outcome; this writer gets it as the result.
    pub(crate) fn commit_taken(&mut self, taken: Box<Taken>) -> Result<()> {
        let Taken { txn, id, members } = *taken;
        let waiting = members.len().saturating_sub(1);
        match txn.commit_as_is() {
            Ok(()) => {
                publish(members);
                if let Some(id) = id {
                    self.writer.decide(id, Outcome::Committed, waiting);
                }
                Ok(())
            }
            Err(e) => {
                if let Some(id) = id {
                    self.writer
                        .decide(id, Outcome::Failed(e.to_string()), waiting);
                }
                Err(e.into())
            }
        }
    }

    /// Commits a transaction of work that runs alone (catalogue changes) and returns its
    /// sequence number.
    pub(crate) fn commit(&mut self, txn: WriteTxn) -> Result<u64> {
        // Work that runs alone took the lock with `Writer::lock`, which left no group open.
        debug_assert!(self.open.is_none());
        Ok(txn.commit()?)
    }

    /// Commits the open group, if any (its members learn the outcome).
    fn commit_open(&mut self) {
        if let Some(group) = self.open.take() {
            let Group { id, txn, members } = group;
            let waiting = members.len();
            let outcome = match txn.commit_as_is() {
                Ok(()) => {
                    publish(members);
                    Outcome::Committed
                }
                Err(e) => Outcome::Failed(e.to_string()),
            };
            self.writer.decide(id, outcome, waiting);
        }
    }

    /// Releases the lock and waits for the group `id` to be decided.
    pub(crate) fn wait(self, id: u64) -> Outcome {
        let writer = self.writer;
        drop(self);
        writer.wait(id)
    }
}

impl Drop for WriteLock<'_> {
    fn drop(&mut self) {
        // A queued writer holds the lock next and decides then.
        if !self.others_queued() {
            self.commit_open();
        }
    }
}

/// An active writer (see [`Writer::active`]).
pub(crate) struct Active<'a>(&'a Writer);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Publishes committed members' changes in commit order.
fn publish(members: Vec<Member>) {
    for m in members {
        if m.created {
            m.db.forget(&m.collection);
        }
        if let Some(changes) = m.changes.filter(|c| !c.is_empty()) {
            // The commit stands whether or not its watches could be told; a failure here is a
            // read snapshot that could not be opened for a refill.
            let _ = crate::watch::publish(&m.db, &m.collection, m.seq, changes);
        }
    }
}

impl Outcome {
    /// The result for a waiting member (`None`: run again).
    pub(crate) fn into_result(self) -> Option<Result<()>> {
        match self {
            Outcome::Committed => Some(Ok(())),
            Outcome::Retry => None,
            Outcome::Failed(detail) => Some(Err(StorageError::GroupCommitFailed { detail }.into())),
        }
    }
}
