//! yundb's query engine: CloudBase where-clauses, updates, sort orders and projections,
//! compiled once and evaluated many times. Pure: no I/O.
//!
//! Everything fallible happens when a clause is compiled; evaluation never fails. Updates are the
//! exception, since they depend on the data (`$inc` on a string), and they leave a document
//! untouched when they fail.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod compare;
mod error;
mod filter;
pub mod index;
mod json;
mod path;
pub mod planner;
mod projection;
mod regex;
pub mod replay;
pub mod rules;
mod sort;
pub mod stored;
mod update;
pub mod value;

pub use compare::{bracket, cmp_opt, cmp_values, values_equal, Bracket};
pub use error::{QueryError, UpdateError, ValueError};
pub use filter::{values_at, Expr, Filter, MAX_IN_VALUES, MAX_NESTING};
pub use json::type_name;
pub use path::{FieldPath, PathError, Segment, MAX_PATH_BYTES, MAX_PATH_SEGMENTS};
pub use projection::Projection;
pub use regex::MongoRegex;
pub use sort::{Direction, Sort};
pub use update::{check_replacement, Applied, ApplyContext, Update};
