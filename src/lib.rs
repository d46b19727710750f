//! yundb: the Tencent CloudBase / WeChat Mini Program cloud database (云开发数据库), embedded.
//!
//! A [`Db`] holds named collections of JSON records in one redb file (or in memory). Every
//! operation runs as a [`Caller`]: `Admin` (the server side) or a client `User` identified by
//! an openid, whose records are stamped with `_openid`.
//!
//! ```
//! use serde_json::json;
//!
//! let db = yundb::Db::memory()?;
//! db.create_collection("books")?;
//! let books = db.collection("books");
//! let id = books.add(json!({"title": "The Three-Body Problem", "year": 2008}))?;
//! books.doc(id.clone()).update(json!({"meta": {"rating": 9}}))?;
//!
//! let book = books.doc(id).get()?.expect("just added");
//! assert_eq!(book["meta"]["rating"], 9);
//!
//! // A client user's writes carry their openid.
//! let alice = db.as_user("o-alice").collection("books");
//! let mine = alice.add(json!({"title": "Ball Lightning"}))?;
//! assert_eq!(alice.doc(mine).get()?.expect("added")["_openid"], "o-alice");
//! # Ok::<(), yundb::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod access;
pub mod cmd;
mod collection;
mod db;
mod error;
mod query;
mod tx;
mod watch;
pub mod wire;
mod writer;

pub use access::Permission;
pub use collection::{Collection, DocRef, RemoveResult, UpdateResult};
pub use db::{Builder, Caller, Db, Options};
pub use error::{Error, Result};
pub use query::{Limits, Query};
pub use yundb_query::index::IndexSpec;
pub use yundb_query::{Direction, QueryError, UpdateError, ValueError};
pub use yundb_storage::{generate_id, BackendError, StorageBackend, StorageError};
pub use yundb_watch::{
    CallbackWatch, DataType, DocChange, HubOptions, QueueType, Snapshot, Subscription, WatchError,
};

/// The README's example runs as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Whether two JSON values are equal with numbers compared by value (`1 == 1.0`) and object
/// keys in any order: how test expectations compare results.
pub fn values_equal_loose(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64() == y.as_f64()
                && (x.as_i64() == y.as_i64()
                    || x.as_f64().is_some_and(|f| f.fract() != 0.0)
                    || x.is_f64()
                    || y.is_f64())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal_loose(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal_loose(v, w)))
        }
        _ => a == b,
    }
}
