//! Typed command builders, the Rust counterpart of the SDK's `db.command` (`const _ =
//! db.command`). Each builds the JSON object the builder form understands, so
//! `json!({"age": cmd::gt(18).and(cmd::lt(65))})` means `_.gt(18).and(_.lt(65))`.
//!
//! ```
//! use serde_json::json;
//! use yundb::cmd;
//!
//! let db = yundb::Db::memory()?;
//! db.create_collection("people")?;
//! let people = db.collection("people");
//! people.add_many([json!({"age": 17}), json!({"age": 30}), json!({"age": 70})])?;
//! let adults = people.where_(json!({"age": cmd::gte(18).and(cmd::lt(65))})).count()?;
//! assert_eq!(adults, 1);
//! let ends = people.where_(json!({"age": cmd::lt(18).or(cmd::gt(65))})).count()?;
//! assert_eq!(ends, 2);
//! # Ok::<(), yundb::Error>(())
//! ```

use serde::{Serialize, Serializer};
use serde_json::{json, Value};

/// A command: serialises to `{"$op": operand}`.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Cmd(Value);

impl Serialize for Cmd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl From<Cmd> for Value {
    fn from(c: Cmd) -> Value {
        c.0
    }
}

/// A value as JSON. Values that serde cannot represent (a map with non-string keys) become
/// `null`, which the query then compares against.
fn value(v: impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn op(name: &str, operand: Value) -> Cmd {
    Cmd(Value::Object(serde_json::Map::from_iter([(
        name.to_owned(),
        operand,
    )])))
}

impl Cmd {
    /// Both this and `other` (`_.gt(1).and(_.lt(5))`).
    pub fn and(self, other: Cmd) -> Cmd {
        op("$and", json!([self.0, other.0]))
    }

    /// This or `other` (`_.lt(1).or(_.gt(5))`).
    pub fn or(self, other: Cmd) -> Cmd {
        op("$or", json!([self.0, other.0]))
    }

    /// The JSON this command stands for.
    pub fn into_value(self) -> Value {
        self.0
    }
}

/// Equal to `v` (an object or array must match exactly).
pub fn eq(v: impl Serialize) -> Cmd {
    op("$eq", value(v))
}
/// Not equal to `v`.
pub fn neq(v: impl Serialize) -> Cmd {
    op("$ne", value(v))
}
/// Less than `v`.
pub fn lt(v: impl Serialize) -> Cmd {
    op("$lt", value(v))
}
/// Less than or equal to `v`.
pub fn lte(v: impl Serialize) -> Cmd {
    op("$lte", value(v))
}
/// Greater than `v`.
pub fn gt(v: impl Serialize) -> Cmd {
    op("$gt", value(v))
}
/// Greater than or equal to `v`.
pub fn gte(v: impl Serialize) -> Cmd {
    op("$gte", value(v))
}
/// Equal to one of `values`.
pub fn in_<T: Serialize>(values: impl IntoIterator<Item = T>) -> Cmd {
    op("$in", Value::Array(values.into_iter().map(value).collect()))
}
/// Equal to none of `values`.
pub fn nin<T: Serialize>(values: impl IntoIterator<Item = T>) -> Cmd {
    op(
        "$nin",
        Value::Array(values.into_iter().map(value).collect()),
    )
}
/// An array holding every one of `values`.
pub fn all<T: Serialize>(values: impl IntoIterator<Item = T>) -> Cmd {
    op(
        "$all",
        Value::Array(values.into_iter().map(value).collect()),
    )
}
/// The field exists (`true`) or does not (`false`).
pub fn exists(present: bool) -> Cmd {
    op("$exists", Value::Bool(present))
}
/// An array of exactly `n` elements.
pub fn size(n: u64) -> Cmd {
    op("$size", Value::from(n))
}
/// A number whose remainder by `divisor` is `remainder`.
pub fn mod_(divisor: i64, remainder: i64) -> Cmd {
    op("$mod", json!([divisor, remainder]))
}
/// An array with an element matching `query` (an object query on elements, or a command on
/// element values such as `cmd::gt(5)`).
pub fn elem_match(query: impl Serialize) -> Cmd {
    op("$elemMatch", value(query))
}
/// Not matching `command` (field level: `_.not(_.gt(3))`).
pub fn not(command: Cmd) -> Cmd {
    op("$not", command.0)
}
/// A string matching the regex `pattern` with `options` (`i`, `m`, `s`, `x`), like
/// `db.RegExp({regexp, options})`.
pub fn regex(pattern: &str, options: &str) -> Cmd {
    Cmd(json!({"$regex": pattern, "$options": options}))
}
/// The aggregation expression is true (`_.expr(..)`: use it as the whole where-clause).
pub fn expr(expression: impl Serialize) -> Value {
    json!({"$expr": value(expression)})
}
/// Any of the queries matches (top-level `_.or([..])`).
pub fn or_where<T: Serialize>(queries: impl IntoIterator<Item = T>) -> Value {
    json!({"$or": queries.into_iter().map(value).collect::<Vec<_>>()})
}
/// Every query matches (top-level `_.and([..])`).
pub fn and_where<T: Serialize>(queries: impl IntoIterator<Item = T>) -> Value {
    json!({"$and": queries.into_iter().map(value).collect::<Vec<_>>()})
}
/// No query matches (top-level `_.nor([..])`).
pub fn nor_where<T: Serialize>(queries: impl IntoIterator<Item = T>) -> Value {
    json!({"$nor": queries.into_iter().map(value).collect::<Vec<_>>()})
}

/// Update commands (`_.inc(1)`, `_.push(..)`, ...): use them as values in `update` data, e.g.
/// `json!({"count": cmd::inc(1), "tags": cmd::push(["new"])})`.
mod update {
    use serde::Serialize;
    use serde_json::{json, Value};

    use super::{op, value, Cmd};

    /// Set the field to `v` as a whole (an object replaces, not merges).
    pub fn set(v: impl Serialize) -> Cmd {
        op("$set", value(v))
    }
    /// Remove the field.
    pub fn remove() -> Cmd {
        op("$unset", json!(""))
    }
    /// Add `n` (a missing field starts at `n`).
    pub fn inc(n: impl Serialize) -> Cmd {
        op("$inc", value(n))
    }
    /// Multiply by `n` (a missing field becomes 0).
    pub fn mul(n: impl Serialize) -> Cmd {
        op("$mul", value(n))
    }
    /// Set to `v` if `v` is smaller.
    pub fn min(v: impl Serialize) -> Cmd {
        op("$min", value(v))
    }
    /// Set to `v` if `v` is larger.
    pub fn max(v: impl Serialize) -> Cmd {
        op("$max", value(v))
    }
    /// Rename the field to the dot path `to`.
    pub fn rename(to: &str) -> Cmd {
        op("$rename", json!(to))
    }
    /// Append each of `values`.
    pub fn push<T: Serialize>(values: impl IntoIterator<Item = T>) -> Cmd {
        op(
            "$push",
            json!({"$each": values.into_iter().map(value).collect::<Vec<_>>()}),
        )
    }
    /// Push with modifiers: `{"$each": [..], "$position": n, "$sort": 1 | {..}, "$slice": n}`.
    pub fn push_with(spec: Value) -> Cmd {
        op("$push", spec)
    }
    /// Remove the last element.
    pub fn pop() -> Cmd {
        op("$pop", json!(1))
    }
    /// Remove the first element.
    pub fn shift() -> Cmd {
        op("$pop", json!(-1))
    }
    /// Insert each of `values` at the front.
    pub fn unshift<T: Serialize>(values: impl IntoIterator<Item = T>) -> Cmd {
        op(
            "$push",
            json!({"$each": values.into_iter().map(value).collect::<Vec<_>>(), "$position": 0}),
        )
    }
    /// Remove every element equal to `v`, or matching it when `v` is a condition
    /// (`cmd::gt(3)`, `{"k": 1}`).
    pub fn pull(v: impl Serialize) -> Cmd {
        op("$pull", value(v))
    }
    /// Remove every element equal to one of `values`.
    pub fn pull_all<T: Serialize>(values: impl IntoIterator<Item = T>) -> Cmd {
        op(
            "$pullAll",
            Value::Array(values.into_iter().map(value).collect()),
        )
    }
    /// Append `v` unless an equal element is present.
    pub fn add_to_set(v: impl Serialize) -> Cmd {
        op("$addToSet", value(v))
    }
    /// Append each of `values` that is not present.
    pub fn add_each_to_set<T: Serialize>(values: impl IntoIterator<Item = T>) -> Cmd {
        op(
            "$addToSet",
            json!({"$each": values.into_iter().map(value).collect::<Vec<_>>()}),
        )
    }
}

pub use update::{
    add_each_to_set, add_to_set, inc, max, min, mul, pop, pull, pull_all, push, push_with, remove,
    rename, set, shift, unshift,
};
