use yundb_query::{QueryError, UpdateError, ValueError};
use yundb_storage::StorageError;

/// Every error yundb returns. [`Error::code`] gives the CloudBase error code name, so code
/// ported from CloudBase can branch on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A storage failure: a missing collection, a duplicate `_id`, I/O.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A value that cannot be stored: a bad field name, a malformed extended-JSON wrapper, a
    /// document too deep or too large.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// An update that cannot be compiled or applied.
    #[error(transparent)]
    Update(#[from] UpdateError),
    /// A where-clause, sort or projection that cannot be compiled.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// An update failed on one document of a write; nothing was written.
    #[error("update of document {id} failed: {source}")]
    UpdateOf {
        /// The failing document's `_id`, as JSON.
        id: String,
        /// What went wrong.
        source: UpdateError,
    },
    /// A watch could not start or ended.
    #[error(transparent)]
    Watch(#[from] yundb_watch::WatchError),
    /// The caller may not do this.
    #[error("database permission denied: {reason}")]
    PermissionDenied {
        /// Why.
        reason: String,
    },
    /// A parameter is invalid.
    #[error("invalid parameter: {reason}")]
    InvalidParam {
        /// Which parameter and why.
        reason: String,
    },
    /// A typed document could not be converted to or from JSON.
    #[error("document conversion failed: {0}")]
    Serde(#[from] serde_json::Error),
}

impl Error {
    /// The CloudBase error code name (spec §10), e.g. `DATABASE_COLLECTION_NOT_EXIST`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Storage(e) => match e {
                StorageError::CollectionNotFound { .. } => "DATABASE_COLLECTION_NOT_EXIST",
                StorageError::DuplicateId { .. } | StorageError::DuplicateKey { .. } => {
                    "DATABASE_DUPLICATE_WRITE"
                }
                StorageError::CollectionExists { .. } => "DATABASE_REQUEST_FAILED",
                StorageError::InvalidCollectionName { .. } | StorageError::InvalidId { .. } => {
                    "INVALID_PARAM"
                }
                _ => "SYS_ERR",
            },
            Error::Value(_) | Error::InvalidParam { .. } | Error::Serde(_) => "INVALID_PARAM",
            Error::Update(e) | Error::UpdateOf { source: e, .. } => update_code(e),
            Error::Query(e) => match e {
                QueryError::UnknownOperator { .. } | QueryError::Unsupported { .. } => {
                    "DATABASE_INVALID_OPERRATOR"
                }
                _ => "INVALID_PARAM",
            },
            Error::PermissionDenied { .. } => "DATABASE_PERMISSION_DENIED",
            Error::Watch(
                yundb_watch::WatchError::TooManyRecords { .. }
                | yundb_watch::WatchError::TooManyWatches { .. },
            ) => "DATABASE_REQUEST_FAILED",
            Error::Watch(_) => "SYS_ERR",
        }
    }

    /// The numeric `errCode` the mini program and `wx-server-sdk` report for [`Error::code`].
    pub fn err_code(&self) -> i64 {
        match self.code() {
            "DATABASE_REQUEST_FAILED" => -502_001,
            "DATABASE_INVALID_OPERRATOR" => -502_002,
            "DATABASE_PERMISSION_DENIED" => -502_003,
            "DATABASE_COLLECTION_NOT_EXIST" => -502_005,
            "INVALID_PARAM" => -501_007,
            _ => -501_001,
        }
    }
}

fn update_code(e: &UpdateError) -> &'static str {
    match e {
        UpdateError::Empty
        | UpdateError::NotAnObject { .. }
        | UpdateError::IdChange { .. }
        | UpdateError::InvalidPath { .. }
        | UpdateError::Value(_) => "INVALID_PARAM",
        UpdateError::UnknownOperator { .. } => "DATABASE_INVALID_OPERRATOR",
        _ => "DATABASE_REQUEST_FAILED",
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
