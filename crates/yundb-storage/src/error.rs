use thiserror::Error;

/// Everything that can go wrong in the storage layer.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The collection does not exist.
    #[error("collection `{name}` does not exist")]
    CollectionNotFound {
        /// The collection's name.
        name: String,
    },
    /// `create_collection` was called for a name that is taken.
    #[error("collection `{name}` already exists")]
    CollectionExists {
        /// The collection's name.
        name: String,
    },
    /// The collection name breaks the naming rules (see [`validate_collection_name`](crate::validate_collection_name)).
    #[error("invalid collection name `{name}`: {reason}")]
    InvalidCollectionName {
        /// The rejected name.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A record with this `_id` is already in the collection.
    #[error("duplicate _id {id} in collection `{collection}`")]
    DuplicateId {
        /// The collection's name.
        collection: String,
        /// The `_id`, as JSON.
        id: String,
    },
    /// A unique index already holds this key for another record.
    #[error("duplicate key in unique index `{index}` of collection `{collection}`")]
    DuplicateKey {
        /// The collection's name.
        collection: String,
        /// The index.
        index: String,
    },
    /// An `_id` that is neither a string nor a finite number, or too long.
    #[error("invalid _id: {reason}")]
    InvalidId {
        /// What is wrong with it.
        reason: String,
    },
    /// The file was written by an incompatible version of yundb.
    #[error("unsupported storage format {found} (this build reads format {expected})")]
    UnsupportedFormat {
        /// The format stored in the file.
        found: u64,
        /// The format this build understands.
        expected: u64,
    },
    /// Stored bytes could not be decoded.
    #[error("corrupted record in collection `{collection}`: {detail}")]
    Corrupted {
        /// The collection's name.
        collection: String,
        /// What failed to decode.
        detail: String,
    },
    /// The shared commit of a group of writes failed (another writer of the group ran it):
    /// nothing of the group was written.
    #[error("the group commit failed: {detail}")]
    GroupCommitFailed {
        /// The commit's error.
        detail: String,
    },
    /// An error from redb (I/O, a locked file, a corrupted file, ...).
    #[error(transparent)]
    Redb(#[from] redb::Error),
}

macro_rules! via_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> Self {
                StorageError::Redb(e.into())
            }
        }
    )*};
}
via_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// `Result` with [`StorageError`].
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
