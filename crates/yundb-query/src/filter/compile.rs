//! Compiling the wire form (MongoDB syntax, as a CloudBase server receives it) and the builder
//! form (the SDK's input: nested plain objects are partial matches, field-level logic).

use serde_json::{Map, Value};

use super::expr::Expr;
use super::{CmpOp, Filter, InSet, Node, Pred, MAX_NESTING};
use crate::error::QueryError;
use crate::json::{join, type_name};
use crate::path::FieldPath;
use crate::regex::MongoRegex;
use crate::value::{is_value_object, special, Special};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Wire,
    Builder,
}

impl Filter {
    /// Compiles a where-clause in the wire form: MongoDB query syntax, exactly as sent
    /// (normalise extended JSON first with [`crate::value::normalize`]).
    ///
    /// # Errors
    /// A typed [`QueryError`] naming the operator and path.
    pub fn from_wire(query: &Value) -> Result<Filter, QueryError> {
        Ok(Filter {
            root: compile_doc(query, Form::Wire, 0)?,
        })
    }

    /// Compiles a where-clause in the builder form, as an app writes it with the SDK: nested
    /// plain objects are flattened into dot paths (a partial match; use `{"$eq": {..}}` for an
    /// exact one), `{}` values vanish, and field-level `$and`/`$or`/`$nor` apply to that field.
    ///
    /// # Errors
    /// A typed [`QueryError`] naming the operator and path.
    pub fn from_builder(query: &Value) -> Result<Filter, QueryError> {
        Ok(Filter {
            root: compile_doc(query, Form::Builder, 0)?,
        })
    }
}

fn bad(op: &str, path: &str, reason: impl Into<String>) -> QueryError {
    QueryError::BadOperand {
        op: op.to_owned(),
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn too_deep(depth: usize, path: &str) -> Result<(), QueryError> {
    if depth > MAX_NESTING {
        return Err(QueryError::TooDeep {
            limit: MAX_NESTING,
            path: path.to_owned(),
        });
    }
    Ok(())
}

fn and(mut nodes: Vec<Node>) -> Node {
    match nodes.len() {
        0 => Node::True,
        1 => nodes.pop().unwrap_or(Node::True),
        _ => Node::And(nodes.into()),
    }
}

fn compile_doc(query: &Value, form: Form, depth: usize) -> Result<Node, QueryError> {
    too_deep(depth, "")?;
    let Value::Object(map) = query else {
        return Err(QueryError::NotAnObject {
            got: type_name(query),
        });
    };
    let mut nodes = Vec::with_capacity(map.len());
    for (k, v) in map {
        if k.starts_with('$') {
            nodes.push(top_operator(k, v, form, depth)?);
        } else if form == Form::Builder {
            flatten(k, v, depth, &mut nodes)?;
        } else {
            nodes.push(field(k, v, form, depth)?);
        }
    }
    Ok(and(nodes))
}

fn top_operator(op: &str, v: &Value, form: Form, depth: usize) -> Result<Node, QueryError> {
    match op {
        "$and" | "$or" | "$nor" => {
            let Value::Array(items) = v else {
                return Err(bad(op, "", "must be an array"));
            };
            if items.is_empty() {
                return Err(bad(op, "", "must be a nonempty array"));
            }
            let nodes = items
                .iter()
                .map(|item| match item {
                    Value::Object(_) => compile_doc(item, form, depth + 1),
                    other => Err(bad(
                        op,
                        "",
                        format!("entries must be objects, got {}", type_name(other)),
                    )),
                })
                .collect::<Result<Box<[_]>, _>>()?;
            Ok(match op {
                "$and" => Node::And(nodes),
                "$or" => Node::Or(nodes),
                _ => Node::Nor(nodes),
            })
        }
        "$expr" => Ok(Node::Expr(Expr::compile(v, depth + 1)?)),
        "$comment" => Ok(Node::True),
        "$where" | "$text" | "$jsonSchema" | "$sampleRate" => Err(QueryError::Unsupported {
            op: op.to_owned(),
            path: String::new(),
        }),
        _ => Err(QueryError::UnknownOperator {
            op: op.to_owned(),
            path: String::new(),
        }),
    }
}

/// The SDK's flattening: nested plain objects become dot paths.
fn flatten(path: &str, v: &Value, depth: usize, out: &mut Vec<Node>) -> Result<(), QueryError> {
    too_deep(depth, path)?;
    match v {
        Value::Object(m) if m.is_empty() => Ok(()),
        Value::Object(m) if !is_operator_object(m) && !is_value_object(m) => {
            for (k, child) in m {
                if k.starts_with('$') {
                    return Err(QueryError::UnknownOperator {
                        op: k.clone(),
                        path: path.to_owned(),
                    });
                }
                flatten(&join(path, k), child, depth + 1, out)?;
            }
            Ok(())
        }
        _ => {
            out.push(field(path, v, Form::Builder, depth)?);
            Ok(())
        }
    }
}

/// An object whose first key is an operator (MongoDB's "expression document").
fn is_operator_object(m: &Map<String, Value>) -> bool {
    m.keys().next().is_some_and(|k| k.starts_with('$')) && special(m).is_none()
}

fn parse_path(path: &str) -> Result<FieldPath, QueryError> {
    FieldPath::parse(path).map_err(|e| QueryError::InvalidPath {
        path: path.to_owned(),
        reason: e.reason(),
    })
}

/// `path: value`, where value is an operator object, a regex, or a value to equal.
fn field(path: &str, v: &Value, form: Form, depth: usize) -> Result<Node, QueryError> {
    let fp = parse_path(path)?;
    match v {
        Value::Object(m) if is_operator_object(m) => Ok(and(field_ops(&fp, m, form, depth)?)),
        Value::Object(m) => match special(m) {
            Some(Special::Regex(p, o)) => Ok(Node::Path(fp, Pred::Regex(regex(p, o, path)?))),
            _ => Ok(Node::Path(fp, Pred::Cmp(CmpOp::Eq, v.clone()))),
        },
        _ => Ok(Node::Path(fp, Pred::Cmp(CmpOp::Eq, v.clone()))),
    }
}

fn regex(pattern: &str, options: &str, path: &str) -> Result<MongoRegex, QueryError> {
    MongoRegex::new(pattern, options).map_err(|reason| QueryError::Regex {
        path: path.to_owned(),
        reason,
    })
}

/// One operator's compiled predicate, and whether it is negated (`$ne`, `$nin`,
/// `$exists: false`).
struct Leaf {
    pred: Pred,
    negated: bool,
}

/// The operators of one operator object at document level.
fn field_ops(
    fp: &FieldPath,
    ops: &Map<String, Value>,
    form: Form,
    depth: usize,
) -> Result<Vec<Node>, QueryError> {
    too_deep(depth, fp.as_str())?;
    let path = fp.as_str();
    let mut nodes = Vec::with_capacity(ops.len());
    for (op, operand) in ops {
        match op.as_str() {
            "$not" => nodes.push(Node::Not(Box::new(not_operand(
                operand,
                path,
                |m| Ok(and(field_ops(fp, m, form, depth + 1)?)),
                |r| Node::Path(fp.clone(), Pred::Regex(r)),
            )?))),
            "$all" => nodes.push(all(fp, operand, depth)?),
            "$and" | "$or" | "$nor" if form == Form::Builder => {
                // Field-level logic (`_.gt(1).and(_.lt(5))`): each operand applies to this field.
                let Value::Array(items) = operand else {
                    return Err(bad(op, path, "must be an array"));
                };
                if items.is_empty() {
                    return Err(bad(op, path, "must be a nonempty array"));
                }
                let children = items
                    .iter()
                    .map(|item| match item {
                        Value::Object(m) if is_operator_object(m) => {
                            Ok(and(field_ops(fp, m, form, depth + 1)?))
                        }
                        other => field(path, other, form, depth + 1),
                    })
                    .collect::<Result<Box<[_]>, _>>()?;
                nodes.push(match op.as_str() {
                    "$and" => Node::And(children),
                    "$or" => Node::Or(children),
                    _ => Node::Nor(children),
                });
            }
            "$regex" => {
                let options = match ops.get("$options") {
                    None => "",
                    Some(Value::String(o)) => o,
                    Some(other) => {
                        return Err(bad(
                            "$options",
                            path,
                            format!("must be a string, got {}", type_name(other)),
                        ))
                    }
                };
                let pattern = match operand {
                    Value::String(p) => p.as_str(),
                    Value::Object(m) => match special(m) {
                        Some(Special::Regex(p, o)) if options.is_empty() || o.is_empty() => {
                            nodes.push(Node::Path(
                                fp.clone(),
                                Pred::Regex(regex(
                                    p,
                                    if o.is_empty() { options } else { o },
                                    path,
                                )?),
                            ));
                            continue;
                        }
                        _ => return Err(bad("$regex", path, "must be a string or a regex")),
                    },
                    other => {
                        return Err(bad(
                            "$regex",
                            path,
                            format!("must be a string or a regex, got {}", type_name(other)),
                        ))
                    }
                };
                nodes.push(Node::Path(
                    fp.clone(),
                    Pred::Regex(regex(pattern, options, path)?),
                ));
            }
            "$options" => {
                if !ops.contains_key("$regex") {
                    return Err(bad("$options", path, "$options needs a $regex"));
                }
            }
            _ => {
                let leaf = leaf(op, operand, path, form, depth)?;
                let node = Node::Path(fp.clone(), leaf.pred);
                nodes.push(if leaf.negated {
                    Node::Not(Box::new(node))
                } else {
                    node
                });
            }
        }
    }
    Ok(nodes)
}

/// `$not`'s operand: an operator object or a regex.
fn not_operand<T>(
    operand: &Value,
    path: &str,
    object: impl FnOnce(&Map<String, Value>) -> Result<T, QueryError>,
    regex_pred: impl FnOnce(MongoRegex) -> T,
) -> Result<T, QueryError> {
    match operand {
        Value::Object(m) if m.is_empty() => Err(bad("$not", path, "$not cannot be empty")),
        Value::Object(m) => match special(m) {
            Some(Special::Regex(p, o)) => Ok(regex_pred(regex(p, o, path)?)),
            _ if is_operator_object(m) => object(m),
            _ => Err(bad(
                "$not",
                path,
                "$not needs a regex or a document of operators",
            )),
        },
        other => Err(bad(
            "$not",
            path,
            format!("$not needs a regex or a document, got {}", type_name(other)),
        )),
    }
}

/// `$all`: every listed value (or every `$elemMatch`) must match.
fn all(fp: &FieldPath, operand: &Value, depth: usize) -> Result<Node, QueryError> {
    let path = fp.as_str();
    let Value::Array(items) = operand else {
        return Err(bad(
            "$all",
            path,
            format!("needs an array, got {}", type_name(operand)),
        ));
    };
    if items.is_empty() {
        return Ok(Node::False);
    }
    let is_elem_match = |v: &Value| {
        v.as_object()
            .is_some_and(|m| m.keys().next().is_some_and(|k| k == "$elemMatch"))
    };
    let elem_matches = items.iter().filter(|v| is_elem_match(v)).count();
    if elem_matches != 0 && elem_matches != items.len() {
        return Err(bad("$all", path, "$all/$elemMatch has to be consistent"));
    }
    let mut nodes = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::Object(m) if elem_matches != 0 => {
                if m.len() != 1 {
                    return Err(bad(
                        "$all",
                        path,
                        "an $elemMatch entry holds only $elemMatch",
                    ));
                }
                let inner = m.get("$elemMatch").unwrap_or(&Value::Null);
                nodes.push(Node::Path(fp.clone(), elem_match(inner, path, depth + 1)?));
            }
            Value::Object(m) if is_operator_object(m) => {
                return Err(bad("$all", path, "no $ expressions in $all"))
            }
            Value::Object(m) => match special(m) {
                Some(Special::Regex(p, o)) => {
                    nodes.push(Node::Path(fp.clone(), Pred::Regex(regex(p, o, path)?)));
                }
                _ => nodes.push(Node::Path(fp.clone(), Pred::Cmp(CmpOp::Eq, item.clone()))),
            },
            _ => nodes.push(Node::Path(fp.clone(), Pred::Cmp(CmpOp::Eq, item.clone()))),
        }
    }
    Ok(Node::And(nodes.into()))
}

fn elem_match(operand: &Value, path: &str, depth: usize) -> Result<Pred, QueryError> {
    too_deep(depth, path)?;
    let Value::Object(m) = operand else {
        return Err(bad("$elemMatch", path, "$elemMatch needs an Object"));
    };
    let value_form = m.keys().next().is_some_and(|k| {
        k.starts_with('$')
            && !matches!(
                k.as_str(),
                "$and" | "$or" | "$nor" | "$expr" | "$where" | "$text" | "$comment"
            )
    });
    if value_form && special(m).is_none() {
        Ok(Pred::ElemMatchValue(value_ops(m, path, depth + 1)?.into()))
    } else if special(m).is_some() {
        Err(bad("$elemMatch", path, "$elemMatch needs an Object"))
    } else {
        Ok(Pred::ElemMatchDoc(Box::new(compile_doc(
            operand,
            Form::Wire,
            depth + 1,
        )?)))
    }
}

/// The operators of one operator object applied to a single value (`$elemMatch` value form).
fn value_ops(ops: &Map<String, Value>, path: &str, depth: usize) -> Result<Vec<Pred>, QueryError> {
    too_deep(depth, path)?;
    let mut preds = Vec::with_capacity(ops.len());
    for (op, operand) in ops {
        match op.as_str() {
            "$not" => preds.push(not_operand(
                operand,
                path,
                |m| Ok(Pred::Not(value_ops(m, path, depth + 1)?.into())),
                |r| Pred::Not(Box::new([Pred::Regex(r)])),
            )?),
            "$all" => {
                let Value::Array(items) = operand else {
                    return Err(bad("$all", path, "needs an array"));
                };
                if items.is_empty() {
                    preds.push(Pred::In(InSet {
                        values: Box::new([]),
                        regexes: Box::new([]),
                    }));
                }
                for item in items {
                    preds.push(Pred::Cmp(CmpOp::Eq, item.clone()));
                }
            }
            "$regex" => {
                let options = ops.get("$options").and_then(Value::as_str).unwrap_or("");
                let Value::String(p) = operand else {
                    return Err(bad("$regex", path, "must be a string"));
                };
                preds.push(Pred::Regex(regex(p, options, path)?));
            }
            "$options" => {}
            _ => {
                let leaf = leaf(op, operand, path, Form::Wire, depth)?;
                preds.push(if leaf.negated {
                    Pred::Not(Box::new([leaf.pred]))
                } else {
                    leaf.pred
                });
            }
        }
    }
    Ok(preds)
}

fn is_regex_value(v: &Value) -> bool {
    matches!(v, Value::Object(m) if matches!(special(m), Some(Special::Regex(..))))
}

/// A single comparison-style operator.
fn leaf(
    op: &str,
    operand: &Value,
    path: &str,
    form: Form,
    depth: usize,
) -> Result<Leaf, QueryError> {
    let plain = |pred| {
        Ok(Leaf {
            pred,
            negated: false,
        })
    };
    let cmp = |c: CmpOp| {
        if is_regex_value(operand) && c != CmpOp::Eq {
            return Err(bad(
                op,
                path,
                format!("can't have a regex as the argument to {op}"),
            ));
        }
        Ok(Leaf {
            pred: Pred::Cmp(c, operand.clone()),
            negated: false,
        })
    };
    match op {
        "$eq" => cmp(CmpOp::Eq),
        "$lt" => cmp(CmpOp::Lt),
        "$lte" => cmp(CmpOp::Lte),
        "$gt" => cmp(CmpOp::Gt),
        "$gte" => cmp(CmpOp::Gte),
        "$ne" | "$neq" => {
            if is_regex_value(operand) {
                return Err(bad(op, path, "can't have a regex as the argument to $ne"));
            }
            Ok(Leaf {
                pred: Pred::Cmp(CmpOp::Eq, operand.clone()),
                negated: true,
            })
        }
        "$in" | "$nin" => Ok(Leaf {
            pred: Pred::In(in_set(op, operand, path)?),
            negated: op == "$nin",
        }),
        "$exists" => Ok(Leaf {
            pred: Pred::Exists,
            negated: !truthy(operand),
        }),
        "$size" => {
            let n = operand.as_i64().or_else(|| {
                operand
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e18)
                    .map(|f| f as i64)
            });
            match (n, operand) {
                (_, Value::Number(_)) if n.is_none() => {
                    Err(bad("$size", path, "$size must be a whole number"))
                }
                (Some(n), _) if n < 0 => Err(bad("$size", path, "$size may not be negative")),
                (Some(n), _) => plain(Pred::Size(usize::try_from(n).unwrap_or(usize::MAX))),
                _ => Err(bad(
                    "$size",
                    path,
                    format!("$size needs a number, got {}", type_name(operand)),
                )),
            }
        }
        "$mod" => {
            let Value::Array(args) = operand else {
                return Err(bad("$mod", path, "malformed mod, needs to be an array"));
            };
            let [d, r] = args.as_slice() else {
                return Err(bad(
                    "$mod",
                    path,
                    "malformed mod, needs [divisor, remainder]",
                ));
            };
            let (Some(d), Some(r)) = (truncate(d), truncate(r)) else {
                return Err(bad(
                    "$mod",
                    path,
                    "malformed mod, divisor and remainder must be finite numbers",
                ));
            };
            if d == 0 {
                return Err(bad("$mod", path, "divisor cannot be 0"));
            }
            plain(Pred::Mod(d, r))
        }
        "$elemMatch" => plain(elem_match(operand, path, depth + 1)?),
        "$type" => Err(QueryError::Unsupported {
            op: op.to_owned(),
            path: path.to_owned(),
        }),
        "$geoWithin" | "$geoIntersects" | "$near" | "$nearSphere" | "$maxDistance"
        | "$minDistance" | "$within" | "$box" | "$center" | "$centerSphere" | "$geometry" => {
            Err(QueryError::Unsupported {
                op: op.to_owned(),
                path: path.to_owned(),
            })
        }
        "$and" | "$or" | "$nor" if form == Form::Wire => Err(QueryError::UnknownOperator {
            op: op.to_owned(),
            path: path.to_owned(),
        }),
        _ => Err(QueryError::UnknownOperator {
            op: op.to_owned(),
            path: path.to_owned(),
        }),
    }
}

/// The most values an `$in` / `$nin` list may hold.
pub const MAX_IN_VALUES: usize = 10_000;

fn in_set(op: &str, operand: &Value, path: &str) -> Result<InSet, QueryError> {
    let Value::Array(items) = operand else {
        return Err(bad(
            op,
            path,
            format!("needs an array, got {}", type_name(operand)),
        ));
    };
    if items.len() > MAX_IN_VALUES {
        return Err(bad(op, path, format!("at most {MAX_IN_VALUES} values")));
    }
    let mut values = Vec::new();
    let mut regexes = Vec::new();
    for item in items {
        match item {
            Value::Object(m) => match special(m) {
                Some(Special::Regex(p, o)) => regexes.push(regex(p, o, path)?),
                _ if is_operator_object(m) => {
                    return Err(bad(op, path, format!("cannot nest $ under {op}")))
                }
                _ => values.push(item.clone()),
            },
            _ => values.push(item.clone()),
        }
    }
    Ok(InSet {
        values: values.into(),
        regexes: regexes.into(),
    })
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => true,
    }
}

/// A `$mod` argument truncated toward zero, as MongoDB does.
fn truncate(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite() && f.abs() < 9.2e18)
            .map(|f| f.trunc() as i64)
    })
}
