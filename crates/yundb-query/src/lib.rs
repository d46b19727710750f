//! yundb's query engine: CloudBase where-clauses, updates, sort orders and projections,
//! compiled once and evaluated many times. Pure: no I/O.
//!
//! Everything fallible happens when a clause is compiled; evaluation never fails. Updates are the
//! exception, since they depend on the data (`$inc` on a string), and they leave a document
//! untouched when they fail.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod error;
mod json;
mod path;
mod update;
pub mod value;

pub use error::{UpdateError, ValueError};
pub use json::type_name;
pub use path::{FieldPath, PathError, Segment};
pub use update::{check_replacement, Applied, Update};
