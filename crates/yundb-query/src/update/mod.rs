//! Updates: compiled once from the builder form (the SDK's plain-object deep merge plus
//! commands) or the wire form (`{"$set": {..}, "$inc": {..}, ..}`), then applied to documents.
//!
//! Operators: `$set $unset $inc $mul $min $max $rename $push` (with `$each $position $sort
//! $slice`) `$pop $pull $pullAll $addToSet` (with `$each`) `$bit $currentDate $setOnInsert`.
//! Builder-form aliases follow the SDK: `$remove` = `$unset`, `$shift` = `$pop: -1`, `$unshift`
//! = `$push` at position 0, and `$push` with a plain array pushes each element.
//!
//! Paths: dot paths create intermediate objects, numeric segments index arrays (padding with
//! nulls), `arr.$` is the first element the query matched, `arr.$[]` every element.
//! Arithmetic is checked: an `i64` overflow is an error, as MongoDB's int64 overflow is.

mod apply;
mod compile;

use serde_json::Value;

use crate::filter::Filter;
use crate::path::FieldPath;

pub use apply::{Applied, ApplyContext};
pub use compile::check_replacement;

/// One field operation.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Set(Value),
    Unset,
    Inc(Value),
    Mul(Value),
    Min(Value),
    Max(Value),
    Rename(FieldPath),
    Push(Push),
    AddToSet(Vec<Value>),
    Pop { first: bool },
    Pull(PullCond),
    PullAll(Vec<Value>),
    Bit(Vec<(BitOp, i64)>),
    CurrentDate,
    SetOnInsert(Value),
}

impl Op {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Set(_) => "$set",
            Op::Unset => "$unset",
            Op::Inc(_) => "$inc",
            Op::Mul(_) => "$mul",
            Op::Min(_) => "$min",
            Op::Max(_) => "$max",
            Op::Rename(_) => "$rename",
            Op::Push(_) => "$push",
            Op::AddToSet(_) => "$addToSet",
            Op::Pop { .. } => "$pop",
            Op::Pull(_) => "$pull",
            Op::PullAll(_) => "$pullAll",
            Op::Bit(_) => "$bit",
            Op::CurrentDate => "$currentDate",
            Op::SetOnInsert(_) => "$setOnInsert",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Push {
    pub(crate) each: Vec<Value>,
    pub(crate) position: Option<i64>,
    pub(crate) sort: Option<PushSort>,
    pub(crate) slice: Option<i64>,
}

#[derive(Debug, Clone)]
pub(crate) enum PushSort {
    /// Sort elements by value: `true` ascending.
    Value(bool),
    /// Sort by fields of the elements.
    Fields(crate::sort::Sort),
}

#[derive(Debug, Clone)]
pub(crate) enum PullCond {
    /// Remove elements equal to the value.
    Equal(Value),
    /// Remove the strings a regex matches (compiled once, with the update).
    Regex(crate::regex::MongoRegex),
    /// Remove elements that match a query (an object condition).
    Query(Filter),
    /// Remove elements that satisfy operators (`{"$gte": 6}`).
    Operators(Filter),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BitOp {
    And,
    Or,
    Xor,
}

#[derive(Debug, Clone)]
pub(crate) struct FieldOp {
    pub(crate) path: FieldPath,
    pub(crate) op: Op,
}

/// A compiled update: field operations on distinct, non-overlapping paths.
#[derive(Debug, Clone)]
pub struct Update {
    ops: Vec<FieldOp>,
}

impl Update {
    /// The paths this update writes (for `$rename`, the source), in application order.
    pub fn paths(&self) -> impl Iterator<Item = &FieldPath> {
        self.ops.iter().flat_map(|o| {
            let dest = match &o.op {
                Op::Rename(dest) => Some(dest),
                _ => None,
            };
            std::iter::once(&o.path).chain(dest)
        })
    }

    /// Whether the update uses the positional `$` (it then needs the query that matched).
    pub fn is_positional(&self) -> bool {
        self.ops
            .iter()
            .any(|o| o.path.segments().iter().any(|s| s.name() == "$"))
    }
}

#[cfg(test)]
mod tests;

impl Update {
    /// What the update sets (`$set` / `$setOnInsert` values and plain-object merges), as one
    /// nested object: the `request.data` security rules see.
    pub fn set_fields(&self) -> Value {
        let mut out = Value::Object(serde_json::Map::new());
        for FieldOp { path, op } in &self.ops {
            if let Op::Set(v) | Op::SetOnInsert(v) = op {
                let mut cur = &mut out;
                for (i, seg) in path.segments().iter().enumerate() {
                    let Value::Object(m) = cur else { break };
                    let last = i + 1 == path.segments().len();
                    cur = m.entry(seg.name().to_owned()).or_insert_with(|| {
                        if last {
                            v.clone()
                        } else {
                            Value::Object(serde_json::Map::new())
                        }
                    });
                }
            }
        }
        out
    }
}
