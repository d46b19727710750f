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

mod collection;
mod db;
mod error;

pub use collection::{Collection, DocRef, RemoveResult, UpdateResult};
pub use db::{Builder, Caller, Db, Options};
pub use error::{Error, Result};
pub use yundb_query::{UpdateError, ValueError};
pub use yundb_storage::{generate_id, StorageError};

/// The README's example runs as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
