//! Compiling update documents.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::{BitOp, FieldOp, Op, PullCond, Push, PushSort, Update};
use crate::error::UpdateError;
use crate::filter::Filter;
use crate::json::{join, type_name};
use crate::path::FieldPath;
use crate::sort::{Direction, Sort};
use crate::value::{is_value_object, special, Special};

fn bad(op: &'static str, path: &str, reason: impl Into<String>) -> UpdateError {
    UpdateError::BadOperand {
        op,
        path: path.to_owned(),
        reason: reason.into(),
    }
}

impl Update {
    /// Compiles the builder form, as the CloudBase SDK serialises `update({data})`: nested plain
    /// objects deep-merge through dot paths, arrays and special values replace, `{}` values are
    /// dropped, command objects (`{"$inc": 1}`, `{"$push": [..]}`, ...) apply at their path, and
    /// top-level `$` keys are operator groups as in the wire form.
    ///
    /// # Errors
    /// [`UpdateError::Empty`] when nothing is left to do, a bad path or operand, an `_id`
    /// change, a conflict, an unknown operator.
    pub fn from_builder(data: &Value) -> Result<Update, UpdateError> {
        let map = as_object(data)?;
        let mut ops = Vec::new();
        flatten(map, "", &mut ops)?;
        Update::new(ops)
    }

    /// Compiles the wire form: every top-level key is an update operator applied to a map of
    /// paths.
    ///
    /// # Errors
    /// As [`Update::from_builder`]; a non-operator top-level key is
    /// [`UpdateError::UnknownOperator`].
    pub fn from_wire(data: &Value) -> Result<Update, UpdateError> {
        let map = as_object(data)?;
        let mut ops = Vec::new();
        for (op, fields) in map {
            if !op.starts_with('$') {
                return Err(UpdateError::UnknownOperator { op: op.clone() });
            }
            let Value::Object(fields) = fields else {
                return Err(UpdateError::BadOperand {
                    op: static_name(op),
                    path: String::new(),
                    reason: format!(
                        "modifiers need an object of paths, got {}",
                        type_name(fields)
                    ),
                });
            };
            if fields.is_empty() {
                continue;
            }
            for (path, operand) in fields {
                ops.push(FieldOp {
                    path: parse_path(path)?,
                    op: operator(op, path, operand)?,
                });
            }
        }
        Update::new(ops)
    }

    fn new(mut ops: Vec<FieldOp>) -> Result<Update, UpdateError> {
        if ops.is_empty() {
            return Err(UpdateError::Empty);
        }
        for op in &ops {
            let dest = match &op.op {
                Op::Rename(d) => Some(d),
                _ => None,
            };
            for p in std::iter::once(&op.path).chain(dest) {
                if p.segments().first().is_some_and(|s| s.name() == "_id") {
                    return Err(UpdateError::IdChange {
                        path: p.to_string(),
                    });
                }
            }
        }
        // Every written path (a rename's source and destination both) must be disjoint.
        let mut written: Vec<&FieldPath> = Vec::new();
        for op in &ops {
            written.push(&op.path);
            if let Op::Rename(dest) = &op.op {
                written.push(dest);
            }
        }
        written.sort_by(|a, b| path_order(a, b));
        for pair in written.windows(2) {
            if let [a, b] = pair {
                if a.is_prefix_of(b) {
                    return Err(UpdateError::Conflict {
                        path: b.to_string(),
                        other: a.to_string(),
                    });
                }
            }
        }
        // MongoDB 5+ applies field operations in path order: names lexicographically, numeric
        // names numerically.
        ops.sort_by(|a, b| path_order(&a.path, &b.path));
        Ok(Update { ops })
    }
}

fn path_order(a: &FieldPath, b: &FieldPath) -> Ordering {
    for (x, y) in a.segments().iter().zip(b.segments()) {
        let o = match (x.index(), y.index()) {
            (Some(i), Some(j)) => i.cmp(&j),
            _ => x.name().cmp(y.name()),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.segments().len().cmp(&b.segments().len())
}

fn as_object(data: &Value) -> Result<&Map<String, Value>, UpdateError> {
    match data {
        Value::Object(m) if m.is_empty() => Err(UpdateError::Empty),
        Value::Object(m) => Ok(m),
        other => Err(UpdateError::NotAnObject {
            got: type_name(other),
        }),
    }
}

fn parse_path(raw: &str) -> Result<FieldPath, UpdateError> {
    let path = FieldPath::parse(raw).map_err(|e| UpdateError::InvalidPath {
        path: raw.to_owned(),
        reason: e.reason(),
    })?;
    for (i, seg) in path.segments().iter().enumerate() {
        let name = seg.name();
        if name.starts_with('$') && !(i > 0 && (name == "$" || name == "$[]")) {
            return Err(UpdateError::InvalidPath {
                path: raw.to_owned(),
                reason: if name.starts_with("$[") {
                    "filtered positional $[identifier] is not supported"
                } else {
                    "a field name cannot start with `$`"
                },
            });
        }
    }
    Ok(path)
}

/// Whether an object is a command (`{"$inc": 1}`) rather than data.
fn is_command(map: &Map<String, Value>) -> bool {
    !map.is_empty() && map.keys().all(|k| k.starts_with('$')) && !is_value_object(map)
}

fn flatten(
    map: &Map<String, Value>,
    prefix: &str,
    ops: &mut Vec<FieldOp>,
) -> Result<(), UpdateError> {
    for (k, v) in map {
        if k.starts_with('$') && prefix.is_empty() {
            let Value::Object(fields) = v else {
                return Err(UpdateError::BadOperand {
                    op: static_name(k),
                    path: String::new(),
                    reason: format!("modifiers need an object of paths, got {}", type_name(v)),
                });
            };
            for (path, operand) in fields {
                ops.push(FieldOp {
                    path: parse_path(path)?,
                    op: operator(k, path, operand)?,
                });
            }
            continue;
        }
        let path = join(prefix, k);
        match v {
            Value::Object(m) if m.is_empty() => {}
            Value::Object(m) if is_command(m) => {
                if m.len() != 1 {
                    return Err(bad(
                        "command",
                        &path,
                        "a command object holds exactly one command",
                    ));
                }
                for (op, operand) in m {
                    ops.push(FieldOp {
                        path: parse_path(&path)?,
                        op: builder_command(op, &path, operand)?,
                    });
                }
            }
            Value::Object(m) if !is_value_object(m) => flatten(m, &path, ops)?,
            _ => ops.push(FieldOp {
                path: parse_path(&path)?,
                op: Op::Set(v.clone()),
            }),
        }
    }
    Ok(())
}

/// A builder-form command bound to a field, with the SDK's aliases.
fn builder_command(op: &str, path: &str, operand: &Value) -> Result<Op, UpdateError> {
    match op {
        "$remove" => Ok(Op::Unset),
        "$shift" => Ok(Op::Pop { first: true }),
        "$unshift" => {
            let each = match operand {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            Ok(Op::Push(Push {
                each,
                position: Some(0),
                sort: None,
                slice: None,
            }))
        }
        // `_.push([a, b])` pushes each element; `{"$each": ..}` takes the modifiers.
        "$push" => match operand {
            Value::Array(items) => Ok(Op::Push(Push {
                each: items.clone(),
                position: None,
                sort: None,
                slice: None,
            })),
            other => operator(op, path, other),
        },
        _ => operator(op, path, operand),
    }
}

fn static_name(op: &str) -> &'static str {
    match op {
        "$set" => "$set",
        "$unset" => "$unset",
        "$inc" => "$inc",
        "$mul" => "$mul",
        "$min" => "$min",
        "$max" => "$max",
        "$rename" => "$rename",
        "$push" => "$push",
        "$addToSet" => "$addToSet",
        "$pop" => "$pop",
        "$pull" => "$pull",
        "$pullAll" => "$pullAll",
        "$bit" => "$bit",
        "$currentDate" => "$currentDate",
        "$setOnInsert" => "$setOnInsert",
        _ => "update",
    }
}

fn number(op: &'static str, path: &str, v: &Value) -> Result<Value, UpdateError> {
    if v.is_number() {
        Ok(v.clone())
    } else {
        Err(bad(
            op,
            path,
            format!(
                "cannot {} with non-numeric argument {v}",
                if op == "$inc" {
                    "increment"
                } else {
                    "multiply"
                }
            ),
        ))
    }
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
            .map(|f| f as i64)
    })
}

/// One wire-form operator applied to one path.
fn operator(op: &str, path: &str, operand: &Value) -> Result<Op, UpdateError> {
    Ok(match op {
        "$set" => Op::Set(operand.clone()),
        "$unset" => Op::Unset,
        "$inc" => Op::Inc(number("$inc", path, operand)?),
        "$mul" => Op::Mul(number("$mul", path, operand)?),
        "$min" => Op::Min(operand.clone()),
        "$max" => Op::Max(operand.clone()),
        "$setOnInsert" => Op::SetOnInsert(operand.clone()),
        "$rename" => {
            let Value::String(dest) = operand else {
                return Err(bad(
                    "$rename",
                    path,
                    format!(
                        "the 'to' field must be a string, got {}",
                        type_name(operand)
                    ),
                ));
            };
            let dest_path = parse_path(dest)?;
            if dest == path {
                return Err(bad(
                    "$rename",
                    path,
                    "the source and target field for $rename must differ",
                ));
            }
            let from = parse_path(path)?;
            if from.is_prefix_of(&dest_path) || dest_path.is_prefix_of(&from) {
                return Err(bad(
                    "$rename",
                    path,
                    format!("the source and destination overlap: `{path}` and `{dest}`"),
                ));
            }
            for p in [&from, &dest_path] {
                if p.segments().iter().any(|s| s.name().starts_with('$')) {
                    return Err(bad(
                        "$rename",
                        path,
                        "$rename does not take positional paths",
                    ));
                }
            }
            Op::Rename(dest_path)
        }
        "$push" => Op::Push(push(path, operand)?),
        "$addToSet" => Op::AddToSet(match operand {
            Value::Object(m) if m.keys().next().is_some_and(|k| k == "$each") => {
                if m.len() != 1 {
                    return Err(bad(
                        "$addToSet",
                        path,
                        "$each is the only modifier $addToSet takes",
                    ));
                }
                match m.get("$each") {
                    Some(Value::Array(items)) => items.clone(),
                    Some(other) => {
                        return Err(bad(
                            "$addToSet",
                            path,
                            format!("$each needs an array, got {}", type_name(other)),
                        ))
                    }
                    None => Vec::new(),
                }
            }
            other => vec![other.clone()],
        }),
        "$pop" => match int(operand) {
            Some(1) => Op::Pop { first: false },
            Some(-1) => Op::Pop { first: true },
            _ => {
                return Err(bad(
                    "$pop",
                    path,
                    format!("$pop expects 1 or -1, got {operand}"),
                ))
            }
        },
        "$pull" => Op::Pull(pull(path, operand)?),
        "$pullAll" => match operand {
            Value::Array(items) => Op::PullAll(items.clone()),
            other => {
                return Err(bad(
                    "$pullAll",
                    path,
                    format!("$pullAll needs an array, got {}", type_name(other)),
                ))
            }
        },
        "$bit" => {
            let Value::Object(m) = operand else {
                return Err(bad("$bit", path, "$bit needs an object like {and: 5}"));
            };
            if m.is_empty() {
                return Err(bad("$bit", path, "$bit needs at least one of and, or, xor"));
            }
            let mut bits = Vec::new();
            for (k, v) in m {
                let kind = match k.as_str() {
                    "and" => BitOp::And,
                    "or" => BitOp::Or,
                    "xor" => BitOp::Xor,
                    other => {
                        return Err(bad(
                            "$bit",
                            path,
                            format!("unknown bitwise operation `{other}`; expected and, or, xor"),
                        ))
                    }
                };
                let Some(n) = v.as_i64() else {
                    return Err(bad(
                        "$bit",
                        path,
                        format!("the operand of {k} must be an integer, got {v}"),
                    ));
                };
                bits.push((kind, n));
            }
            Op::Bit(bits)
        }
        "$currentDate" => match operand {
            Value::Bool(true) => Op::CurrentDate,
            Value::Object(m)
                if m.len() == 1
                    && m.get("$type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t == "date" || t == "timestamp") =>
            {
                Op::CurrentDate
            }
            other => {
                return Err(bad(
                    "$currentDate",
                    path,
                    format!("expected true or {{$type: \"date\"}}, got {other}"),
                ))
            }
        },
        other => {
            return Err(UpdateError::UnknownOperator {
                op: other.to_owned(),
            })
        }
    })
}

fn push(path: &str, operand: &Value) -> Result<Push, UpdateError> {
    let Value::Object(m) = operand else {
        return Ok(Push {
            each: vec![operand.clone()],
            position: None,
            sort: None,
            slice: None,
        });
    };
    if !m.contains_key("$each") {
        if m.keys().any(|k| k.starts_with('$')) && !is_value_object(m) {
            return Err(bad(
                "$push",
                path,
                "modifiers ($position, $sort, $slice) need $each",
            ));
        }
        return Ok(Push {
            each: vec![operand.clone()],
            position: None,
            sort: None,
            slice: None,
        });
    }
    let mut out = Push {
        each: Vec::new(),
        position: None,
        sort: None,
        slice: None,
    };
    for (k, v) in m {
        match k.as_str() {
            "$each" => match v {
                Value::Array(items) => out.each.clone_from(items),
                other => {
                    return Err(bad(
                        "$push",
                        path,
                        format!("$each needs an array, got {}", type_name(other)),
                    ))
                }
            },
            "$position" => {
                out.position = Some(int(v).ok_or_else(|| {
                    bad(
                        "$push",
                        path,
                        format!("$position needs an integer, got {v}"),
                    )
                })?);
            }
            "$slice" => {
                out.slice = Some(int(v).ok_or_else(|| {
                    bad("$push", path, format!("$slice needs an integer, got {v}"))
                })?);
            }
            "$sort" => {
                out.sort = Some(match v {
                    Value::Number(_) => match int(v) {
                        Some(1) => PushSort::Value(true),
                        Some(-1) => PushSort::Value(false),
                        _ => {
                            return Err(bad(
                                "$push",
                                path,
                                format!("$sort needs 1, -1 or an object, got {v}"),
                            ))
                        }
                    },
                    Value::Object(keys) if !keys.is_empty() => {
                        let mut sort_keys = Vec::new();
                        for (field, d) in keys {
                            let dir = match int(d) {
                                Some(1) => Direction::Asc,
                                Some(-1) => Direction::Desc,
                                _ => {
                                    return Err(bad(
                                        "$push",
                                        path,
                                        format!("$sort directions must be 1 or -1, got {d}"),
                                    ))
                                }
                            };
                            sort_keys.push((field.as_str(), dir));
                        }
                        PushSort::Fields(
                            Sort::new(sort_keys).map_err(|e| bad("$push", path, e.to_string()))?,
                        )
                    }
                    other => {
                        return Err(bad(
                            "$push",
                            path,
                            format!("$sort needs 1, -1 or an object, got {other}"),
                        ))
                    }
                });
            }
            other => {
                return Err(bad(
                    "$push",
                    path,
                    format!("unknown $push modifier {other}"),
                ))
            }
        }
    }
    Ok(out)
}

fn pull(path: &str, operand: &Value) -> Result<PullCond, UpdateError> {
    let Value::Object(m) = operand else {
        return Ok(PullCond::Equal(operand.clone()));
    };
    if let Some(Special::Regex(pattern, options)) = special(m) {
        let re = crate::regex::MongoRegex::new(pattern, options).map_err(|reason| {
            bad(
                "$pull",
                path,
                format!("invalid regular expression: {reason}"),
            )
        })?;
        return Ok(PullCond::Regex(re));
    }
    if is_value_object(m) || m.is_empty() {
        return Ok(PullCond::Equal(operand.clone()));
    }
    let to_err = |e: crate::error::QueryError| bad("$pull", path, e.to_string());
    if m.keys().next().is_some_and(|k| k.starts_with('$'))
        && !matches!(
            m.keys().next().map(String::as_str),
            Some("$and" | "$or" | "$nor" | "$expr")
        )
    {
        // Operators on each element's value: wrap them on a synthetic field.
        let filter = Filter::from_wire(&Value::Object(Map::from_iter([(
            "v".to_owned(),
            operand.clone(),
        )])))
        .map_err(to_err)?;
        return Ok(PullCond::Operators(filter));
    }
    Ok(PullCond::Query(Filter::from_wire(operand).map_err(to_err)?))
}

/// Checks that a replacement document (`set`) holds no update operator anywhere.
///
/// # Errors
/// [`UpdateError::OperatorInReplacement`] naming the first operator found.
pub fn check_replacement(data: &Value) -> Result<(), UpdateError> {
    match data {
        Value::Object(m) => {
            if is_value_object(m) {
                return Ok(());
            }
            for (k, v) in m {
                if k.starts_with('$') {
                    return Err(UpdateError::OperatorInReplacement { op: k.clone() });
                }
                check_replacement(v)?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(check_replacement),
        _ => Ok(()),
    }
}
