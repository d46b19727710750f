//! Updates: compiled once from the builder form (the SDK's plain-object deep merge) or the wire
//! form (`{"$set": {..}, "$unset": {..}}`), then applied to documents.

mod apply;

use serde_json::{Map, Value};

use crate::error::UpdateError;
use crate::json::{join, type_name};
use crate::path::FieldPath;
use crate::value::is_value_object;

pub use apply::Applied;

/// One field operation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    /// `$set`: replace the value at the path, creating intermediate objects.
    Set(Value),
    /// `$unset`: remove the field (an array element becomes `null`).
    Unset,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldOp {
    pub(crate) path: FieldPath,
    pub(crate) op: Op,
}

/// A compiled update: field operations on distinct, non-overlapping paths.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    ops: Vec<FieldOp>,
}

impl Update {
    /// Compiles the builder form, as the CloudBase SDK serialises `update({data})`: nested plain
    /// objects deep-merge through dot paths, arrays and special values replace, `{}` values are
    /// dropped, command objects (`{"$set": v}`, `{"$unset": ..}`/`{"$remove": ..}`) apply at their
    /// path, and top-level `$` keys are operator groups as in the wire form.
    ///
    /// # Errors
    /// [`UpdateError::Empty`] when nothing is left to do, a bad path, an `_id` change, a conflict,
    /// an unknown operator.
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
            operator_group(op, fields, &mut ops)?;
        }
        Update::new(ops)
    }

    fn new(mut ops: Vec<FieldOp>) -> Result<Update, UpdateError> {
        if ops.is_empty() {
            return Err(UpdateError::Empty);
        }
        for op in &ops {
            if op
                .path
                .segments()
                .first()
                .is_some_and(|s| s.name() == "_id")
            {
                return Err(UpdateError::IdChange {
                    path: op.path.to_string(),
                });
            }
        }
        // MongoDB 5+ applies field operations in lexicographic path order; sorting also puts
        // overlapping paths next to each other.
        ops.sort_by(|a, b| a.path.as_str().cmp(b.path.as_str()));
        for pair in ops.windows(2) {
            if let [a, b] = pair {
                if a.path.is_prefix_of(&b.path) {
                    return Err(UpdateError::Conflict {
                        path: b.path.to_string(),
                        other: a.path.to_string(),
                    });
                }
            }
        }
        Ok(Update { ops })
    }

    /// The paths this update writes, in application order.
    pub fn paths(&self) -> impl Iterator<Item = &FieldPath> {
        self.ops.iter().map(|o| &o.path)
    }
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
    FieldPath::parse(raw).map_err(|e| UpdateError::InvalidPath {
        path: raw.to_owned(),
        reason: e.reason(),
    })
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
        if k.starts_with('$') {
            if prefix.is_empty() {
                operator_group(k, v, ops)?;
                continue;
            }
            return Err(UpdateError::InvalidPath {
                path: join(prefix, k),
                reason: "a field name cannot start with `$`",
            });
        }
        let path = join(prefix, k);
        match v {
            Value::Object(m) if m.is_empty() => {}
            Value::Object(m) if is_command(m) => {
                if m.len() != 1 {
                    return Err(UpdateError::BadOperand {
                        op: "command",
                        path,
                        reason: "a command object holds exactly one command".into(),
                    });
                }
                for (op, operand) in m {
                    field_command(op, &path, operand, ops)?;
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

/// A builder-form command bound to a field: `{"a": {"$set": v}}`.
fn field_command(
    op: &str,
    path: &str,
    operand: &Value,
    ops: &mut Vec<FieldOp>,
) -> Result<(), UpdateError> {
    let op = match op {
        "$set" => Op::Set(operand.clone()),
        "$unset" | "$remove" => Op::Unset,
        other => {
            return Err(UpdateError::UnknownOperator {
                op: other.to_owned(),
            })
        }
    };
    ops.push(FieldOp {
        path: parse_path(path)?,
        op,
    });
    Ok(())
}

/// A wire-form operator group: `"$set": {"a.b": 1, ..}`.
fn operator_group(op: &str, fields: &Value, ops: &mut Vec<FieldOp>) -> Result<(), UpdateError> {
    let known: &'static str = match op {
        "$set" => "$set",
        "$unset" => "$unset",
        other => {
            return Err(UpdateError::UnknownOperator {
                op: other.to_owned(),
            })
        }
    };
    let Value::Object(fields) = fields else {
        return Err(UpdateError::BadOperand {
            op: known,
            path: String::new(),
            reason: format!("expected an object of paths, got {}", type_name(fields)),
        });
    };
    for (path, operand) in fields {
        let op = match known {
            "$set" => Op::Set(operand.clone()),
            _ => Op::Unset,
        };
        ops.push(FieldOp {
            path: parse_path(path)?,
            op,
        });
    }
    Ok(())
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

#[cfg(test)]
mod tests;
