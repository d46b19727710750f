//! yundb's storage layer: named collections of JSON records in one redb database (a file, or
//! memory).
//!
//! This crate knows records, `_id`s, collections and commits; it knows nothing of queries or
//! subscribers. Every [`WriteTxn::commit`] is durable when it returns and bumps a commit
//! sequence number stored in the same transaction, so a read snapshot always knows which commit
//! it shows ([`ReadTxn::seq`]).
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod codec;
mod error;
mod id;
mod resident;
mod store;

pub use codec::{decode, encode};
pub use error::{Result, StorageError};
pub use id::{generate_id, IdKey, MAX_ID_BYTES};
pub use redb::{BackendError, StorageBackend};
pub use resident::DEFAULT_RESIDENT_BUDGET;
pub use store::{
    decode_record, validate_collection_name, CollectionReader, CollectionWriter, ReadTxn,
    RecordRead, Store, WriteTxn, MAX_COLLECTION_NAME,
};
