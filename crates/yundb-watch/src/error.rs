use thiserror::Error;

/// Why a watch ended (or could not start).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The result set grew past the record cap (CloudBase: 5,000).
    #[error("the watch's result set exceeds {limit} records")]
    TooManyRecords {
        /// The cap.
        limit: usize,
    },
    /// Too many watches are open on the database.
    #[error("at most {limit} watches may be open at once")]
    TooManyWatches {
        /// The limit.
        limit: usize,
    },
    /// The subscriber fell behind by more than the configured number of changes.
    #[error("the subscriber fell behind by more than {limit} changes")]
    Lagged {
        /// The bound.
        limit: usize,
    },
    /// The collection was dropped.
    #[error("collection `{name}` was dropped")]
    CollectionDropped {
        /// The collection.
        name: String,
    },
    /// Reading the collection to refill a window failed.
    #[error("reading the collection failed: {reason}")]
    Source {
        /// Why.
        reason: String,
    },
    /// The database was closed.
    #[error("the database was closed")]
    Closed,
    /// The collection's permission changed and this client watch may no longer see the same
    /// records.
    #[error("the collection's permission changed")]
    PermissionChanged,
}
