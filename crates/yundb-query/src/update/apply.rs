//! Applying a compiled update to a document.

use serde_json::{Map, Value};

use super::{FieldOp, Op, Update};
use crate::error::UpdateError;
use crate::path::{FieldPath, Segment};

/// What an update did to one document: the facts CloudBase's watch reports as `updatedFields`
/// and `removedFields`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// Dot path → new value, for every path written.
    pub updated_fields: Map<String, Value>,
    /// Dot paths removed.
    pub removed_fields: Vec<String>,
}

impl Applied {
    /// Whether the document changed.
    pub fn changed(&self) -> bool {
        !self.updated_fields.is_empty() || !self.removed_fields.is_empty()
    }
}

impl Update {
    /// Applies the update to `doc`. On error `doc` is left exactly as it was.
    ///
    /// # Errors
    /// A path through a scalar ([`UpdateError::PathThroughScalar`]).
    pub fn apply(&self, doc: &mut Value) -> Result<Applied, UpdateError> {
        let mut scratch = doc.clone();
        let applied = self.apply_in_place(&mut scratch)?;
        if applied.changed() {
            *doc = scratch;
        }
        Ok(applied)
    }

    fn apply_in_place(&self, doc: &mut Value) -> Result<Applied, UpdateError> {
        let mut applied = Applied::default();
        for FieldOp { path, op } in &self.ops {
            match op {
                Op::Set(value) => {
                    let mut set = |old: Option<&Value>| {
                        Ok((!old.is_some_and(|old| same_value(old, value))).then(|| value.clone()))
                    };
                    if let Some(new) = write_path(doc, path, &mut set)? {
                        applied.updated_fields.insert(path.to_string(), new);
                    }
                }
                Op::Unset => {
                    if unset(doc, path.segments()) {
                        applied.removed_fields.push(path.to_string());
                    }
                }
            }
        }
        Ok(applied)
    }
}

/// Values are the same when they would store the same bytes: `1` and `1.0` differ (as BSON
/// int and double differ in MongoDB's no-op detection), and object key order matters.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && same_value(va, vb))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        _ => a == b,
    }
}

/// The most elements a write may pad an array with, so one update cannot allocate without
/// bound (`{"$set": {"a.99999999999": 1}}`).
pub(crate) const MAX_ARRAY_PADDING: usize = 1 << 20;

/// Computes a field's new value from its current one (`None`: the field is missing). Returning
/// `Ok(None)` leaves the document as it is.
pub(crate) type Writer<'f> = dyn FnMut(Option<&Value>) -> Result<Option<Value>, UpdateError> + 'f;

/// Writes the value `f` computes at `path`. Missing objects on the way are created and arrays
/// are padded with nulls; a scalar (a stored `null` included) on the way is an error, as in
/// MongoDB. Returns the value written, if any.
pub(crate) fn write_path(
    doc: &mut Value,
    path: &FieldPath,
    f: &mut Writer<'_>,
) -> Result<Option<Value>, UpdateError> {
    let segments = path.segments();
    let mut cur = doc;
    for (depth, seg) in segments.iter().enumerate() {
        let rest = segments.get(depth + 1..).unwrap_or_default();
        cur = match cur {
            Value::Object(map) => {
                if !map.contains_key(seg.name()) {
                    let Some(new) = f(None)? else { return Ok(None) };
                    map.insert(seg.name().to_owned(), chain(rest, new.clone()));
                    return Ok(Some(new));
                }
                match map.get_mut(seg.name()) {
                    Some(v) => v,
                    None => return Ok(None),
                }
            }
            Value::Array(items) => {
                let Some(i) = seg.index() else {
                    return Err(through_scalar(
                        path,
                        depth,
                        seg,
                        &Value::Array(items.clone()),
                    ));
                };
                if i >= items.len() {
                    if i - items.len() > MAX_ARRAY_PADDING {
                        return Err(UpdateError::InvalidPath {
                            path: path.to_string(),
                            reason: "the index pads the array by more than 2^20 elements",
                        });
                    }
                    let Some(new) = f(None)? else { return Ok(None) };
                    items.resize(i, Value::Null);
                    items.push(chain(rest, new.clone()));
                    return Ok(Some(new));
                }
                match items.get_mut(i) {
                    Some(v) => v,
                    None => return Ok(None),
                }
            }
            other => return Err(through_scalar(path, depth, seg, other)),
        };
    }
    let new = f(Some(cur))?;
    if let Some(new) = &new {
        cur.clone_from(new);
    }
    Ok(new)
}

/// `{"b": {"c": leaf}}` for the segments `b.c`.
fn chain(rest: &[Segment], leaf: Value) -> Value {
    rest.iter().rev().fold(leaf, |inner, seg| {
        Value::Object(Map::from_iter([(seg.name().to_owned(), inner)]))
    })
}

fn through_scalar(path: &FieldPath, depth: usize, seg: &Segment, value: &Value) -> UpdateError {
    let parent: Vec<&str> = path
        .segments()
        .iter()
        .take(depth)
        .map(Segment::name)
        .collect();
    UpdateError::PathThroughScalar {
        path: path.to_string(),
        parent: parent.join("."),
        field: seg.name().to_owned(),
        value: value.to_string(),
    }
}

/// Removes the field at `segments`. An array element is set to `null` (MongoDB's `$unset`).
fn unset(doc: &mut Value, segments: &[Segment]) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut cur = doc;
    for seg in parents {
        cur = match cur {
            Value::Object(map) => match map.get_mut(seg.name()) {
                Some(v) => v,
                None => return false,
            },
            Value::Array(items) => match seg.index().and_then(|i| items.get_mut(i)) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match cur {
        Value::Object(map) => map.shift_remove(last.name()).is_some(),
        Value::Array(items) => match last.index().and_then(|i| items.get_mut(i)) {
            Some(v) if !v.is_null() => {
                *v = Value::Null;
                true
            }
            _ => false,
        },
        _ => false,
    }
}
