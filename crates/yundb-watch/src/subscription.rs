//! Delivery: a slot per watch that never blocks the dispatcher, and the subscriber's handle.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};

use crate::error::WatchError;
use crate::event::Snapshot;
use crate::hub::Command;

/// How long a receive waits.
#[derive(Clone, Copy)]
enum Wait {
    No,
    Forever,
    Until(Instant),
}

#[derive(Default)]
struct SlotState {
    queue: VecDeque<Snapshot>,
    /// Changes waiting in `queue` (what the lag bound counts).
    pending_changes: usize,
    end: Option<WatchError>,
    closed: bool,
}

/// Where the dispatcher leaves snapshots for one subscriber.
#[derive(Default)]
pub(crate) struct Slot {
    state: Mutex<SlotState>,
    ready: Condvar,
}

impl Slot {
    /// Delivers a snapshot. An undelivered snapshot absorbs the next one (latest `docs`, every
    /// change kept with its own id); past `max_lag` waiting changes the watch ends with
    /// [`WatchError::Lagged`]. Returns `false` when the subscriber has gone.
    pub(crate) fn push(&self, snapshot: Snapshot, max_lag: usize) -> bool {
        let mut state = self.state.lock();
        if state.closed {
            return false;
        }
        if state.end.is_some() {
            return true;
        }
        state.pending_changes += snapshot.doc_changes.len();
        match state.queue.back_mut() {
            Some(last) if !last.is_init() => {
                last.id = snapshot.id;
                last.docs = snapshot.docs;
                last.doc_changes.extend(snapshot.doc_changes);
            }
            _ => state.queue.push_back(snapshot),
        }
        if state.pending_changes > max_lag {
            state.queue.clear();
            state.pending_changes = 0;
            state.end = Some(WatchError::Lagged { limit: max_lag });
        }
        drop(state);
        self.ready.notify_all();
        true
    }

    /// Ends the watch with an error (after the snapshots already waiting).
    pub(crate) fn fail(&self, error: WatchError) {
        let mut state = self.state.lock();
        if state.end.is_none() {
            state.end = Some(error);
        }
        drop(state);
        self.ready.notify_all();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    fn close(&self) {
        self.state.lock().closed = true;
        self.ready.notify_all();
    }

    fn take(&self, wait: Wait) -> Result<Option<Snapshot>, WatchError> {
        let mut state = self.state.lock();
        loop {
            if let Some(s) = state.queue.pop_front() {
                state.pending_changes = state.pending_changes.saturating_sub(s.doc_changes.len());
                return Ok(Some(s));
            }
            if let Some(e) = &state.end {
                return Err(e.clone());
            }
            if state.closed {
                return Err(WatchError::Closed);
            }
            match wait {
                Wait::No => return Ok(None),
                Wait::Forever => self.ready.wait(&mut state),
                Wait::Until(at) => {
                    if self.ready.wait_until(&mut state, at).timed_out()
                        && state.queue.is_empty()
                        && state.end.is_none()
                    {
                        return Ok(None);
                    }
                }
            }
        }
    }
}

/// A live watch. Snapshots arrive in commit order; the first is the initial result
/// (`type: "init"`). Dropping the handle (or [`close`](Subscription::close)) unsubscribes.
#[must_use = "a watch delivers nothing unless its snapshots are received; dropping it unsubscribes"]
pub struct Subscription {
    pub(crate) id: u64,
    pub(crate) slot: Arc<Slot>,
    pub(crate) commands: Sender<Command>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// Waits for the next snapshot.
    ///
    /// # Errors
    /// Why the watch ended ([`WatchError`]), once every snapshot before the end was received.
    pub fn recv(&self) -> Result<Snapshot, WatchError> {
        self.slot
            .take(Wait::Forever)
            .and_then(|s| s.ok_or(WatchError::Closed))
    }

    /// The next snapshot if one is waiting.
    pub fn try_recv(&self) -> Result<Option<Snapshot>, WatchError> {
        self.slot.take(Wait::No)
    }

    /// Waits up to `timeout` for the next snapshot.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Snapshot>, WatchError> {
        self.slot.take(Wait::Until(Instant::now() + timeout))
    }

    /// Snapshots as they arrive, ending after the first error.
    pub fn iter(&self) -> impl Iterator<Item = Result<Snapshot, WatchError>> + '_ {
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let next = self.recv();
            done = next.is_err();
            Some(next)
        })
    }

    /// Unsubscribes (as dropping does).
    pub fn close(self) {}

    /// Delivers snapshots to callbacks on a thread of their own, as the SDK's
    /// `watch({onChange, onError})` does. `on_error` runs once if the watch ends for any reason
    /// other than [`CallbackWatch::close`].
    pub fn into_callbacks<C, E>(self, mut on_change: C, on_error: E) -> CallbackWatch
    where
        C: FnMut(Snapshot) + Send + 'static,
        E: FnOnce(WatchError) + Send + 'static,
    {
        let slot = Arc::clone(&self.slot);
        let thread = std::thread::Builder::new()
            .name("yundb-watch-callback".into())
            .spawn(move || loop {
                match self.recv() {
                    Ok(snapshot) => on_change(snapshot),
                    Err(WatchError::Closed) if self.slot.is_closed() => return,
                    Err(e) => {
                        on_error(e);
                        return;
                    }
                }
            })
            .ok();
        CallbackWatch { slot, thread }
    }
}

/// A watch delivering to callbacks. Closing it (or dropping it) stops the deliveries.
#[must_use = "dropping the handle closes the watch"]
pub struct CallbackWatch {
    slot: Arc<Slot>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CallbackWatch {
    /// Stops the watch and waits for the callback thread to finish.
    pub fn close(self) {}
}

impl Drop for CallbackWatch {
    fn drop(&mut self) {
        self.slot.close();
        if let Some(t) = self.thread.take() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.slot.close();
        let _ = self.commands.send(Command::Unsubscribe(self.id));
    }
}
