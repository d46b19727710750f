//! The writer lock, with group commit.
//!
//! One write transaction runs at a time (redb's rule, and the order watches rely on). A write
//! that finds other writers queued behind it commits without waiting for the disk
//! ([`WriteTxn::commit_deferred`]) and releases the lock; the first holder that finds nobody
//! queued commits durably, which persists every commit before it, and wakes the writers waiting
//! on it. So writers arriving together share one disk flush, and a lone writer pays exactly one
//! as before. Every write call still returns only once its commit is durable.
//!
//! Invariant: whenever the lock is released with nobody queued, every commit is durable (or
//! the failure to make it so has been reported to the writers waiting on it). A queued writer
//! always gets the lock, and its release checks again.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Condvar, Mutex, MutexGuard};
use yundb_storage::{StorageError, Store, WriteTxn};

use crate::error::Result;

#[derive(Default)]
pub(crate) struct Writer {
    lock: Mutex<()>,
    /// Threads waiting for `lock`.
    queued: AtomicUsize,
    state: Mutex<Durability>,
    durable_changed: Condvar,
}

#[derive(Default)]
struct Durability {
    /// The last commit's sequence number.
    committed: u64,
    /// The last sequence number known to be on disk.
    durable: u64,
    /// The last sequence number a failed sync was meant to cover, and its error.
    failed: Option<(u64, String)>,
}

/// The held writer lock.
pub(crate) struct WriteLock<'a> {
    writer: &'a Writer,
    store: &'a Store,
    /// The last commit this holder left to a later durable commit.
    deferred: Option<u64>,
    _held: MutexGuard<'a, ()>,
}

impl Writer {
    /// Waits for the writer lock.
    pub(crate) fn lock<'a>(&'a self, store: &'a Store) -> WriteLock<'a> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let held = self.lock.lock();
        self.queued.fetch_sub(1, Ordering::SeqCst);
        WriteLock {
            writer: self,
            store,
            deferred: None,
            _held: held,
        }
    }

    /// Waits until commit `seq` is durable.
    fn wait_durable(&self, seq: u64) -> Result<()> {
        let mut state = self.state.lock();
        loop {
            if state.durable >= seq {
                return Ok(());
            }
            if let Some((upto, detail)) = &state.failed {
                if *upto >= seq {
                    return Err(StorageError::NotDurable {
                        detail: detail.clone(),
                    }
                    .into());
                }
            }
            self.durable_changed.wait(&mut state);
        }
    }
}

impl WriteLock<'_> {
    /// Commits `txn` and returns its sequence number: durably when nobody is queued for the
    /// lock, otherwise deferred to a later holder (then [`finish`](WriteLock::finish) waits for
    /// it).
    pub(crate) fn commit(&mut self, txn: WriteTxn) -> Result<u64> {
        let w = self.writer;
        if w.queued.load(Ordering::SeqCst) > 0 {
            let seq = txn.commit_deferred()?;
            w.state.lock().committed = seq;
            self.deferred = Some(seq);
            return Ok(seq);
        }
        let seq = txn.commit()?;
        let mut state = w.state.lock();
        state.committed = seq;
        state.durable = seq;
        w.durable_changed.notify_all();
        Ok(seq)
    }

    /// Releases the lock and returns once this holder's commits are durable.
    ///
    /// The holder's write transaction must be gone (committed or dropped) by then: releasing
    /// may start the durable commit, and redb runs one write transaction at a time.
    pub(crate) fn finish(mut self) -> Result<()> {
        let writer = self.writer;
        let wait = self.deferred.take();
        drop(self);
        match wait {
            Some(seq) => writer.wait_durable(seq),
            None => Ok(()),
        }
    }
}

impl Drop for WriteLock<'_> {
    fn drop(&mut self) {
        let w = self.writer;
        // A queued writer will hold the lock next and check again when it releases it.
        if w.queued.load(Ordering::SeqCst) > 0 {
            return;
        }
        let target = {
            let state = w.state.lock();
            if state.durable >= state.committed {
                return;
            }
            state.committed
        };
        let synced = self.store.sync();
        let mut state = w.state.lock();
        match synced {
            Ok(()) => state.durable = state.durable.max(target),
            Err(e) => state.failed = Some((target, e.to_string())),
        }
        w.durable_changed.notify_all();
    }
}
