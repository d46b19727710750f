//! Applying a compiled update to a document.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use super::{BitOp, FieldOp, Op, PullCond, Push, PushSort, Update};
use crate::compare::{cmp_values, values_equal};
use crate::error::UpdateError;
use crate::filter::{get_plain, Filter};
use crate::json::type_name;
use crate::path::{FieldPath, Segment};
use crate::value::{date_value, special, Special};

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

/// What an update needs besides the document.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyContext<'a> {
    /// The time `$currentDate` writes, in ms since the epoch.
    pub now_ms: i64,
    /// The query that selected the document: resolves the positional `$`.
    pub filter: Option<&'a Filter>,
    /// Whether the document is being inserted by an upsert (`$setOnInsert` applies).
    pub inserting: bool,
}

impl Update {
    /// Applies the update to `doc` without a query context (no positional `$`, no
    /// `$setOnInsert`, `$currentDate` at time 0). See [`Update::apply_with`].
    pub fn apply(&self, doc: &mut Value) -> Result<Applied, UpdateError> {
        self.apply_with(doc, &ApplyContext::default())
    }

    /// Applies the update to `doc`. On error `doc` is left exactly as it was.
    ///
    /// # Errors
    /// A path through a scalar, an operator on the wrong type, an overflow, a positional `$`
    /// the query did not resolve.
    pub fn apply_with(
        &self,
        doc: &mut Value,
        ctx: &ApplyContext<'_>,
    ) -> Result<Applied, UpdateError> {
        // Resolve positional paths against the document as it was.
        let mut concrete = Vec::with_capacity(self.ops.len());
        for FieldOp { path, op } in &self.ops {
            for p in resolve(doc, path, ctx.filter)? {
                concrete.push((p, op));
            }
        }
        let mut scratch = doc.clone();
        let mut applied = Applied::default();
        for (path, op) in concrete {
            apply_op(&mut scratch, &path, op, ctx, &mut applied)?;
        }
        if applied.changed() {
            *doc = scratch;
        }
        Ok(applied)
    }
}

/// Expands `$` and `$[]` segments into concrete paths.
fn resolve(
    doc: &Value,
    path: &FieldPath,
    filter: Option<&Filter>,
) -> Result<Vec<FieldPath>, UpdateError> {
    let segs = path.segments();
    let Some(pos) = segs
        .iter()
        .position(|s| s.name() == "$" || s.name() == "$[]")
    else {
        return Ok(vec![path.clone()]);
    };
    let positional_err = |reason: &str| UpdateError::Positional {
        path: path.to_string(),
        reason: reason.to_owned(),
    };
    let prefix = segs.get(..pos).unwrap_or_default();
    let rest = segs.get(pos + 1..).unwrap_or_default();
    let prefix_str = names(prefix);
    let prefix_path = FieldPath::parse(&prefix_str)
        .map_err(|_| positional_err("a positional operator needs a field before it"))?;
    let indexes: Vec<usize> = if segs.get(pos).is_some_and(|s| s.name() == "$") {
        if rest.iter().any(|s| s.name() == "$") {
            return Err(positional_err(
                "too many positional (i.e. '$') elements found in path",
            ));
        }
        let index = filter
            .and_then(|f| f.first_matching_index(doc, &prefix_path))
            .ok_or_else(|| {
                positional_err(
                    "the positional operator did not find the match needed from the query",
                )
            })?;
        vec![index]
    } else {
        match get_plain(doc, prefix) {
            Some(Value::Array(items)) => (0..items.len()).collect(),
            Some(other) => return Err(positional_err(&format!("cannot apply array updates to non-array element {other}"))),
            None => return Err(positional_err(&format!("the path '{prefix_str}' must exist in the document in order to apply array updates"))),
        }
    };
    let mut out = Vec::new();
    for i in indexes {
        let mut raw = format!("{prefix_str}.{i}");
        if !rest.is_empty() {
            raw.push('.');
            raw.push_str(&names(rest));
        }
        let p = FieldPath::parse(&raw).map_err(|e| UpdateError::InvalidPath {
            path: raw.clone(),
            reason: e.reason(),
        })?;
        out.extend(resolve(doc, &p, filter)?);
    }
    Ok(out)
}

/// The first `depth` segments of a path, as a dot path.
fn prefix(path: &FieldPath, depth: usize) -> String {
    names(path.segments().get(..depth).unwrap_or(path.segments()))
}

fn names(segs: &[Segment]) -> String {
    segs.iter().map(Segment::name).collect::<Vec<_>>().join(".")
}

fn mismatch(op: &'static str, path: &FieldPath, reason: String) -> UpdateError {
    UpdateError::TypeMismatch {
        op,
        path: path.to_string(),
        reason,
    }
}

fn must_be_array<'v>(
    op: &'static str,
    path: &FieldPath,
    v: &'v Value,
) -> Result<&'v Vec<Value>, UpdateError> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(mismatch(
            op,
            path,
            format!(
                "the field must be an array but is of type {}",
                type_name(other)
            ),
        )),
    }
}

fn apply_op(
    doc: &mut Value,
    path: &FieldPath,
    op: &Op,
    ctx: &ApplyContext<'_>,
    applied: &mut Applied,
) -> Result<(), UpdateError> {
    let name = op.name();
    match op {
        Op::Unset => {
            if unset(doc, path.segments()) {
                applied.removed_fields.push(path.to_string());
            }
            return Ok(());
        }
        Op::Rename(dest) => return rename(doc, path, dest, applied),
        Op::SetOnInsert(_) if !ctx.inserting => return Ok(()),
        _ => {}
    }
    let mut compute = |old: Option<&Value>| -> Result<Option<Value>, UpdateError> {
        let new = match op {
            Op::Set(v) | Op::SetOnInsert(v) => v.clone(),
            Op::CurrentDate => date_value(ctx.now_ms),
            Op::Inc(n) => match old {
                None => n.clone(),
                Some(Value::Number(o)) => arith(name, path, o, n, i64::checked_add, |a, b| a + b)?,
                Some(other) => {
                    return Err(mismatch(
                        name,
                        path,
                        format!(
                            "cannot apply $inc to a value of non-numeric type {}",
                            type_name(other)
                        ),
                    ))
                }
            },
            Op::Mul(n) => match old {
                None => {
                    if n.is_f64() {
                        Value::from(0.0)
                    } else {
                        Value::from(0)
                    }
                }
                Some(Value::Number(o)) => arith(name, path, o, n, i64::checked_mul, |a, b| a * b)?,
                Some(other) => {
                    return Err(mismatch(
                        name,
                        path,
                        format!(
                            "cannot apply $mul to a value of non-numeric type {}",
                            type_name(other)
                        ),
                    ))
                }
            },
            Op::Min(v) | Op::Max(v) => {
                let want = if matches!(op, Op::Min(_)) {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
                match old {
                    Some(o) if cmp_values(v, o) != want => return Ok(None),
                    _ => v.clone(),
                }
            }
            Op::Push(push) => {
                let mut items = match old {
                    None => Vec::new(),
                    Some(o) => must_be_array(name, path, o)?.clone(),
                };
                do_push(&mut items, push);
                Value::Array(items)
            }
            Op::AddToSet(each) => {
                let mut items = match old {
                    None => Vec::new(),
                    Some(o) => must_be_array(name, path, o)?.clone(),
                };
                for v in each {
                    if !items.iter().any(|x| values_equal(x, v)) {
                        items.push(v.clone());
                    }
                }
                Value::Array(items)
            }
            Op::Pop { first } => {
                let Some(o) = old else { return Ok(None) };
                let mut items = must_be_array(name, path, o)?.clone();
                if items.is_empty() {
                    return Ok(None);
                }
                if *first {
                    items.remove(0);
                } else {
                    items.pop();
                }
                Value::Array(items)
            }
            Op::Pull(cond) => {
                let Some(o) = old else { return Ok(None) };
                let items = must_be_array(name, path, o)?;
                Value::Array(items.iter().filter(|e| !pulls(cond, e)).cloned().collect())
            }
            Op::PullAll(values) => {
                let Some(o) = old else { return Ok(None) };
                let items = must_be_array(name, path, o)?;
                Value::Array(
                    items
                        .iter()
                        .filter(|e| !values.iter().any(|v| values_equal(v, e)))
                        .cloned()
                        .collect(),
                )
            }
            Op::Bit(bits) => {
                let start = match old {
                    None => 0,
                    Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64().unwrap_or(0),
                    Some(other) => {
                        return Err(mismatch(
                            name,
                            path,
                            format!("cannot apply $bit to a value of non-integral type {other}"),
                        ))
                    }
                };
                Value::from(bits.iter().fold(start, |acc, (kind, n)| match kind {
                    BitOp::And => acc & n,
                    BitOp::Or => acc | n,
                    BitOp::Xor => acc ^ n,
                }))
            }
            Op::Unset | Op::Rename(_) => return Ok(None),
        };
        Ok((!old.is_some_and(|o| same_value(o, &new))).then_some(new))
    };
    if let Some((depth, value)) = write_path(doc, path, &mut compute)? {
        applied.updated_fields.insert(prefix(path, depth), value);
    }
    Ok(())
}

fn arith(
    op: &'static str,
    path: &FieldPath,
    a: &Number,
    b: &Value,
    int: fn(i64, i64) -> Option<i64>,
    float: fn(f64, f64) -> f64,
) -> Result<Value, UpdateError> {
    let Some(b) = b.as_number() else {
        return Err(mismatch(op, path, "non-numeric operand".into()));
    };
    let overflow = || UpdateError::Overflow {
        op,
        path: path.to_string(),
        reason: format!("{a} and {b}"),
    };
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return int(x, y).map(Value::from).ok_or_else(overflow);
    }
    let r = float(a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
    Number::from_f64(r).map(Value::Number).ok_or_else(overflow)
}

fn pulls(cond: &PullCond, e: &Value) -> bool {
    match cond {
        PullCond::Equal(v) => values_equal(v, e),
        // A regex removes the strings it matches, and stored regexes equal to it.
        PullCond::Regex(re) => match e {
            Value::String(s) => re.is_match(s),
            Value::Object(m) => {
                matches!(special(m), Some(Special::Regex(p, o)) if p == re.pattern() && o == re.options())
            }
            _ => false,
        },
        PullCond::Query(filter) => {
            matches!(e, Value::Object(m) if special(m).is_none()) && filter.matches(e)
        }
        // MongoDB evaluates operator conditions on `{"": element}`: the wrapper keeps its array
        // traversal.
        PullCond::Operators(filter) => filter.matches(&Value::Object(Map::from_iter([(
            "v".to_owned(),
            e.clone(),
        )]))),
    }
}

fn do_push(items: &mut Vec<Value>, push: &Push) {
    let len = items.len() as i64;
    let at = match push.position {
        None => len,
        Some(p) if p < 0 => (len + p).max(0),
        Some(p) => p.min(len),
    } as usize;
    let tail = items.split_off(at.min(items.len()));
    items.extend(push.each.iter().cloned());
    items.extend(tail);
    match &push.sort {
        Some(PushSort::Value(asc)) => items.sort_by(|a, b| {
            if *asc {
                cmp_values(a, b)
            } else {
                cmp_values(b, a)
            }
        }),
        Some(PushSort::Fields(sort)) => items.sort_by(|a, b| sort.compare(a, b)),
        None => {}
    }
    if let Some(slice) = push.slice {
        let len = items.len() as i64;
        if slice >= 0 {
            items.truncate(slice.min(len) as usize);
        } else {
            let keep = (-slice).min(len) as usize;
            let drop = items.len() - keep;
            items.drain(..drop);
        }
    }
}

fn rename(
    doc: &mut Value,
    from: &FieldPath,
    to: &FieldPath,
    applied: &mut Applied,
) -> Result<(), UpdateError> {
    // The source must be reached through objects only.
    let mut cur = &*doc;
    for seg in from.segments() {
        cur = match cur {
            Value::Object(m) => match m.get(seg.name()) {
                Some(v) => v,
                None => return Ok(()),
            },
            Value::Array(_) => {
                return Err(mismatch(
                    "$rename",
                    from,
                    "the source field cannot be an array element".into(),
                ))
            }
            _ => return Ok(()),
        };
    }
    let value = cur.clone();
    let mut probe = &*doc;
    for seg in to.segments() {
        match probe {
            Value::Object(m) => match m.get(seg.name()) {
                Some(v) => probe = v,
                None => break,
            },
            Value::Array(_) => {
                return Err(mismatch(
                    "$rename",
                    to,
                    "the destination field cannot be an array element".into(),
                ))
            }
            _ => break,
        }
    }
    unset(doc, from.segments());
    applied.removed_fields.push(from.to_string());
    let mut set = |_: Option<&Value>| Ok(Some(value.clone()));
    if let Some((depth, v)) = write_path(doc, to, &mut set)? {
        applied.updated_fields.insert(prefix(to, depth), v);
    }
    Ok(())
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
/// MongoDB. Returns what to report, if anything was written: the number of leading segments of
/// the highest point the write created or replaced, and the value now there.
pub(crate) fn write_path(
    doc: &mut Value,
    path: &FieldPath,
    f: &mut Writer<'_>,
) -> Result<Option<(usize, Value)>, UpdateError> {
    let segments = path.segments();
    let mut cur = doc;
    for (depth, seg) in segments.iter().enumerate() {
        let rest = segments.get(depth + 1..).unwrap_or_default();
        let plain_object = matches!(&*cur, Value::Object(m) if special(m).is_none());
        if !plain_object && !cur.is_array() {
            return Err(through_scalar(path, depth, seg, cur));
        }
        cur = match cur {
            Value::Object(map) => {
                if !map.contains_key(seg.name()) {
                    let Some(new) = f(None)? else { return Ok(None) };
                    let created = chain(rest, new);
                    map.insert(seg.name().to_owned(), created.clone());
                    return Ok(Some((depth + 1, created)));
                }
                match map.get_mut(seg.name()) {
                    Some(v) => v,
                    None => return Ok(None),
                }
            }
            Value::Array(items) => {
                let Some(i) = seg.index() else {
                    return Err(through_scalar(path, depth, seg, &Value::Array(Vec::new())));
                };
                if i >= items.len() {
                    if i - items.len() > MAX_ARRAY_PADDING {
                        return Err(UpdateError::InvalidPath {
                            path: path.to_string(),
                            reason: "the index pads the array by more than 2^20 elements",
                        });
                    }
                    let Some(new) = f(None)? else { return Ok(None) };
                    let created = chain(rest, new);
                    items.resize(i, Value::Null);
                    items.push(created.clone());
                    return Ok(Some((depth + 1, created)));
                }
                match items.get_mut(i) {
                    Some(v) => v,
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
    }
    let new = f(Some(cur))?;
    if let Some(new) = &new {
        cur.clone_from(new);
    }
    Ok(new.map(|v| (segments.len(), v)))
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
        Value::Object(map) if special(map).is_none() => map.shift_remove(last.name()).is_some(),
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
