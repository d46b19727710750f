//! yundb's realtime watch: CloudBase-shaped snapshots (`docChanges` with `queueType` and
//! `dataType`, `updatedFields`/`removedFields`, the current `docs`), including `orderBy` +
//! `limit` windows, maintained incrementally from committed change batches.
//!
//! This crate knows queries (it depends on `yundb-query`) but not storage: the database
//! publishes what each commit changed, and for windows that run short it hands over a
//! [`Source`] that reads the collection as of that commit.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod error;
mod event;
mod hub;
mod subscription;

pub use error::WatchError;
pub use event::{
    Change, ChangeBatch, ChangeKind, DataType, DocChange, QueueType, Snapshot, Source,
};
pub use hub::{Hub, HubOptions, Visibility, WatchSpec};
pub use subscription::{CallbackWatch, Subscription};
