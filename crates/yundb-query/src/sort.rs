//! `orderBy`: MongoDB's sort order, including arrays (ascending sorts by the smallest element,
//! descending by the largest; an empty array sorts below `null`) and missing fields (as `null`).

use std::cmp::Ordering;

use serde_json::Value;

use crate::compare::cmp_values;
use crate::error::QueryError;
use crate::json::type_name;
use crate::path::{FieldPath, Segment};
use crate::value::special;

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

/// A compiled sort order: keys in priority order.
#[derive(Debug, Clone, Default)]
pub struct Sort {
    keys: Vec<(FieldPath, Direction)>,
}

impl Sort {
    /// Builds a sort from `(path, direction)` pairs, first has priority.
    ///
    /// # Errors
    /// [`QueryError::BadSort`] for an invalid path.
    pub fn new<'a>(
        keys: impl IntoIterator<Item = (&'a str, Direction)>,
    ) -> Result<Sort, QueryError> {
        let mut out: Vec<(FieldPath, Direction)> = Vec::new();
        for (path, dir) in keys {
            let fp = FieldPath::parse(path).map_err(|e| QueryError::BadSort {
                reason: format!("`{path}`: {}", e.reason()),
            })?;
            match out.iter_mut().find(|(p, _)| p.as_str() == path) {
                Some(existing) => existing.1 = dir,
                None => out.push((fp, dir)),
            }
        }
        Ok(Sort { keys: out })
    }

    /// Parses a wire `order`: the legacy list `[{"field": "a", "direction": "desc"}]` or the
    /// EJSON object `{"a": -1, "b": 1}`.
    ///
    /// # Errors
    /// [`QueryError::BadSort`] for any other shape or direction.
    pub fn from_wire(order: &Value) -> Result<Sort, QueryError> {
        let bad = |reason: String| QueryError::BadSort { reason };
        let mut keys = Vec::new();
        match order {
            Value::Null => {}
            Value::Array(items) => {
                for item in items {
                    let field = item
                        .get("field")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad(format!("entries need a string `field`, got {item}")))?;
                    let dir = match item.get("direction") {
                        Some(Value::String(d)) if d == "asc" => Direction::Asc,
                        Some(Value::String(d)) if d == "desc" => Direction::Desc,
                        Some(other) => {
                            return Err(bad(format!(
                                "direction must be \"asc\" or \"desc\", got {other}"
                            )))
                        }
                        None => Direction::Asc,
                    };
                    keys.push((field, dir));
                }
            }
            Value::Object(m) => {
                for (field, d) in m {
                    let dir = match d.as_f64() {
                        Some(1.0) => Direction::Asc,
                        Some(-1.0) => Direction::Desc,
                        _ => match d.as_str() {
                            Some("asc") => Direction::Asc,
                            Some("desc") => Direction::Desc,
                            _ => {
                                return Err(bad(format!(
                                    "direction for `{field}` must be 1 or -1, got {d}"
                                )))
                            }
                        },
                    };
                    keys.push((field.as_str(), dir));
                }
            }
            other => {
                return Err(bad(format!(
                    "order must be a list or an object, got {}",
                    type_name(other)
                )))
            }
        }
        Sort::new(keys)
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys.
    pub fn keys(&self) -> &[(FieldPath, Direction)] {
        &self.keys
    }

    /// Compares two documents.
    pub fn compare(&self, a: &Value, b: &Value) -> Ordering {
        for (path, dir) in &self.keys {
            let (ka, kb) = (sort_key(a, path, *dir), sort_key(b, path, *dir));
            let o = cmp_key(&ka, &kb);
            let o = if *dir == Direction::Desc {
                o.reverse()
            } else {
                o
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

/// A document's sort key for one path.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key<'a> {
    /// An empty array.
    Undefined,
    /// Missing or null.
    Null,
    Value(&'a Value),
}

fn cmp_key(a: &Key<'_>, b: &Key<'_>) -> Ordering {
    let rank = |k: &Key<'_>| match k {
        Key::Undefined => 0,
        Key::Null => 1,
        Key::Value(Value::Null) => 1,
        Key::Value(_) => 2,
    };
    match (a, b) {
        (Key::Value(x), Key::Value(y)) if rank(a) == 2 && rank(b) == 2 => cmp_values(x, y),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn sort_key<'a>(doc: &'a Value, path: &FieldPath, dir: Direction) -> Key<'a> {
    let mut best: Option<Key<'a>> = None;
    collect(doc, path.segments(), &mut |k| {
        best = Some(match best {
            None => k,
            Some(b) => {
                let o = cmp_key(&k, &b);
                let better = if dir == Direction::Asc {
                    o == Ordering::Less
                } else {
                    o == Ordering::Greater
                };
                if better {
                    k
                } else {
                    b
                }
            }
        });
    });
    best.unwrap_or(Key::Null)
}

/// The index keys a document has for a path (MongoDB's multikey expansion).
pub(crate) fn collect<'a>(v: &'a Value, segs: &[Segment], out: &mut dyn FnMut(Key<'a>)) {
    let Some((seg, rest)) = segs.split_first() else {
        match v {
            Value::Array(items) if items.is_empty() => out(Key::Undefined),
            Value::Array(items) => items.iter().for_each(|i| out(Key::Value(i))),
            other => out(Key::Value(other)),
        }
        return;
    };
    match v {
        Value::Object(m) if special(m).is_none() => match m.get(seg.name()) {
            Some(child) => collect(child, rest, out),
            None => out(Key::Null),
        },
        Value::Array(items) => {
            if let Some(i) = seg.index() {
                if let Some(e) = items.get(i) {
                    return collect(e, rest, out);
                }
            }
            if items.is_empty() {
                out(Key::Null);
            }
            for item in items {
                match item {
                    Value::Object(_) => collect(item, segs, out),
                    _ => out(Key::Null),
                }
            }
        }
        _ => out(Key::Null),
    }
}
