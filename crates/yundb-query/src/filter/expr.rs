//! `$expr`: aggregation expressions over `$field` references, evaluated per document.
//!
//! Supported: `$eq $ne $gt $gte $lt $lte $cmp`, `$and $or $not`, `$add $subtract $multiply
//! $divide $mod $abs`, `$size`, `$ifNull`, `$cond`, `$in`, `$literal`. Anything else is a typed
//! unsupported-operator error. Where MongoDB would raise a runtime error (`$divide` by zero,
//! `$size` of a non-array), the expression evaluates to missing, so the document does not match.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::MAX_NESTING;
use crate::compare::{cmp_opt, values_equal};
use crate::error::QueryError;
use crate::path::FieldPath;
use crate::value::{date_value, special, Special};

/// A compiled aggregation expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A constant.
    Lit(Value),
    /// `"$a.b"`.
    Field(FieldPath),
    /// An operator applied to arguments.
    Op(ExprOp, Box<[Expr]>),
}

/// The supported expression operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ExprOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    Cmp,
    And,
    Or,
    Not,
    Add,
    Subtract,
    Multiply,
    Divide,
    Mod,
    Abs,
    Size,
    IfNull,
    Cond,
    In,
    /// An array of expressions.
    Array,
}

fn bad(op: &str, reason: impl Into<String>) -> QueryError {
    QueryError::BadOperand {
        op: op.to_owned(),
        path: "$expr".into(),
        reason: reason.into(),
    }
}

impl Expr {
    /// Compiles an expression.
    pub fn compile(v: &Value, depth: usize) -> Result<Expr, QueryError> {
        if depth > MAX_NESTING {
            return Err(QueryError::TooDeep {
                limit: MAX_NESTING,
                path: "$expr".into(),
            });
        }
        match v {
            Value::String(s) if s.starts_with("$$") => Err(QueryError::Unsupported {
                op: s.clone(),
                path: "$expr".into(),
            }),
            Value::String(s) if s.starts_with('$') => {
                let path = s.get(1..).unwrap_or_default();
                FieldPath::parse(path)
                    .map(Expr::Field)
                    .map_err(|e| QueryError::InvalidPath {
                        path: s.clone(),
                        reason: e.reason(),
                    })
            }
            Value::Array(items) => {
                let args = items
                    .iter()
                    .map(|a| Expr::compile(a, depth + 1))
                    .collect::<Result<Box<[_]>, _>>()?;
                Ok(Expr::Op(ExprOp::Array, args))
            }
            Value::Object(m)
                if m.len() == 1
                    && m.keys().next().is_some_and(|k| k.starts_with('$'))
                    && special(m).is_none() =>
            {
                let Some((op, arg)) = m.iter().next() else {
                    return Ok(Expr::Lit(v.clone()));
                };
                if op == "$literal" {
                    return Ok(Expr::Lit(arg.clone()));
                }
                let (kind, arity) = match op.as_str() {
                    "$eq" => (ExprOp::Eq, Some(2)),
                    "$ne" => (ExprOp::Ne, Some(2)),
                    "$gt" => (ExprOp::Gt, Some(2)),
                    "$gte" => (ExprOp::Gte, Some(2)),
                    "$lt" => (ExprOp::Lt, Some(2)),
                    "$lte" => (ExprOp::Lte, Some(2)),
                    "$cmp" => (ExprOp::Cmp, Some(2)),
                    "$and" => (ExprOp::And, None),
                    "$or" => (ExprOp::Or, None),
                    "$not" => (ExprOp::Not, Some(1)),
                    "$add" => (ExprOp::Add, None),
                    "$subtract" => (ExprOp::Subtract, Some(2)),
                    "$multiply" => (ExprOp::Multiply, None),
                    "$divide" => (ExprOp::Divide, Some(2)),
                    "$mod" => (ExprOp::Mod, Some(2)),
                    "$abs" => (ExprOp::Abs, Some(1)),
                    "$size" => (ExprOp::Size, Some(1)),
                    "$ifNull" => (ExprOp::IfNull, None),
                    "$cond" => (ExprOp::Cond, Some(3)),
                    "$in" => (ExprOp::In, Some(2)),
                    other => {
                        return Err(QueryError::Unsupported {
                            op: other.to_owned(),
                            path: "$expr".into(),
                        })
                    }
                };
                let args: Vec<&Value> = match (kind, arg) {
                    (ExprOp::Cond, Value::Object(c)) => {
                        let get = |k: &str| {
                            c.get(k)
                                .ok_or_else(|| bad("$cond", format!("missing '{k}'")))
                        };
                        vec![get("if")?, get("then")?, get("else")?]
                    }
                    (_, Value::Array(items)) => items.iter().collect(),
                    (_, single) => vec![single],
                };
                if let Some(n) = arity {
                    if args.len() != n {
                        return Err(bad(
                            op,
                            format!(
                                "expression {op} takes exactly {n} arguments, {} were passed in",
                                args.len()
                            ),
                        ));
                    }
                }
                if kind == ExprOp::IfNull && args.len() < 2 {
                    return Err(bad(op, "$ifNull needs at least two arguments"));
                }
                let args = args
                    .into_iter()
                    .map(|a| Expr::compile(a, depth + 1))
                    .collect::<Result<Box<[_]>, _>>()?;
                Ok(Expr::Op(kind, args))
            }
            Value::Object(m) if m.keys().any(|k| k.starts_with('$')) && special(m).is_none() => {
                Err(bad(
                    "$expr",
                    "an expression object holds exactly one operator",
                ))
            }
            other => Ok(Expr::Lit(other.clone())),
        }
    }

    pub(crate) fn is_true(&self, doc: &Value) -> bool {
        truthy(self.eval(doc).as_ref())
    }

    /// Evaluates to a value, or `None` for missing.
    pub(crate) fn eval(&self, doc: &Value) -> Option<Value> {
        match self {
            Expr::Lit(v) => Some(v.clone()),
            Expr::Field(path) => field(doc, path),
            Expr::Op(op, args) => eval_op(*op, args, doc),
        }
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(_) => true,
    }
}

/// Aggregation field paths: objects are walked, arrays are mapped (missing entries dropped).
fn field(doc: &Value, path: &FieldPath) -> Option<Value> {
    fn walk(v: &Value, segs: &[crate::path::Segment]) -> Option<Value> {
        let Some((seg, rest)) = segs.split_first() else {
            return Some(v.clone());
        };
        match v {
            Value::Object(m) if special(m).is_none() => {
                m.get(seg.name()).and_then(|x| walk(x, rest))
            }
            Value::Array(items) => Some(Value::Array(
                items
                    .iter()
                    .filter(|i| i.is_object() || i.is_array())
                    .filter_map(|i| walk(i, segs))
                    .collect(),
            )),
            _ => None,
        }
    }
    walk(doc, path.segments())
}

enum Num {
    Int(i64),
    Float(f64),
}

fn num(v: &Value) -> Option<Num> {
    let n = v.as_number()?;
    Some(
        n.as_i64()
            .map_or_else(|| Num::Float(n.as_f64().unwrap_or(0.0)), Num::Int),
    )
}

fn to_value(n: Num) -> Option<Value> {
    match n {
        Num::Int(i) => Some(Value::from(i)),
        Num::Float(f) => Number::from_f64(f).map(Value::Number),
    }
}

fn as_f(n: &Num) -> f64 {
    match n {
        Num::Int(i) => *i as f64,
        Num::Float(f) => *f,
    }
}

fn arith(a: Num, b: Num, int: fn(i64, i64) -> Option<i64>, float: fn(f64, f64) -> f64) -> Num {
    match (&a, &b) {
        (Num::Int(x), Num::Int(y)) => {
            int(*x, *y).map_or_else(|| Num::Float(float(*x as f64, *y as f64)), Num::Int)
        }
        _ => Num::Float(float(as_f(&a), as_f(&b))),
    }
}

fn date_of(v: &Value) -> Option<i64> {
    match v {
        Value::Object(m) => match special(m) {
            Some(Special::Date(ms)) => Some(ms),
            _ => None,
        },
        _ => None,
    }
}

fn is_nullish(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

fn eval_op(op: ExprOp, args: &[Expr], doc: &Value) -> Option<Value> {
    let arg = |i: usize| args.get(i).and_then(|a| a.eval(doc));
    let compare =
        |f: fn(Ordering) -> bool| Some(Value::Bool(f(cmp_opt(arg(0).as_ref(), arg(1).as_ref()))));
    match op {
        ExprOp::Eq => compare(|o| o == Ordering::Equal),
        ExprOp::Ne => compare(|o| o != Ordering::Equal),
        ExprOp::Gt => compare(|o| o == Ordering::Greater),
        ExprOp::Gte => compare(|o| o != Ordering::Less),
        ExprOp::Lt => compare(|o| o == Ordering::Less),
        ExprOp::Lte => compare(|o| o != Ordering::Greater),
        ExprOp::Cmp => Some(Value::from(
            match cmp_opt(arg(0).as_ref(), arg(1).as_ref()) {
                Ordering::Less => -1,
                Ordering::Equal => 0,
                Ordering::Greater => 1,
            },
        )),
        ExprOp::And => Some(Value::Bool(
            args.iter().all(|a| truthy(a.eval(doc).as_ref())),
        )),
        ExprOp::Or => Some(Value::Bool(
            args.iter().any(|a| truthy(a.eval(doc).as_ref())),
        )),
        ExprOp::Not => Some(Value::Bool(!truthy(arg(0).as_ref()))),
        ExprOp::Add => {
            let mut total = Num::Int(0);
            let mut date = None;
            for a in args {
                let v = a.eval(doc);
                if is_nullish(v.as_ref()) {
                    return Some(Value::Null);
                }
                let v = v?;
                if let Some(ms) = date_of(&v) {
                    if date.replace(ms).is_some() {
                        return None;
                    }
                    continue;
                }
                total = arith(total, num(&v)?, i64::checked_add, |x, y| x + y);
            }
            match date {
                Some(ms) => Some(date_value(ms.saturating_add(as_f(&total) as i64))),
                None => to_value(total),
            }
        }
        ExprOp::Subtract => {
            let (a, b) = (arg(0), arg(1));
            if is_nullish(a.as_ref()) || is_nullish(b.as_ref()) {
                return Some(Value::Null);
            }
            let (a, b) = (a?, b?);
            match (date_of(&a), date_of(&b)) {
                (Some(x), Some(y)) => Some(Value::from(x.saturating_sub(y))),
                (Some(x), None) => Some(date_value(x.saturating_sub(as_f(&num(&b)?) as i64))),
                (None, Some(_)) => None,
                (None, None) => to_value(arith(num(&a)?, num(&b)?, i64::checked_sub, |x, y| x - y)),
            }
        }
        ExprOp::Multiply => {
            let mut total = Num::Int(1);
            for a in args {
                let v = a.eval(doc);
                if is_nullish(v.as_ref()) {
                    return Some(Value::Null);
                }
                total = arith(total, num(&v?)?, i64::checked_mul, |x, y| x * y);
            }
            to_value(total)
        }
        ExprOp::Divide | ExprOp::Mod => {
            let (a, b) = (arg(0), arg(1));
            if is_nullish(a.as_ref()) || is_nullish(b.as_ref()) {
                return Some(Value::Null);
            }
            let (x, y) = (num(&a?)?, num(&b?)?);
            if as_f(&y) == 0.0 {
                return None;
            }
            if op == ExprOp::Divide {
                to_value(Num::Float(as_f(&x) / as_f(&y)))
            } else {
                to_value(arith(x, y, i64::checked_rem, |p, q| p % q))
            }
        }
        ExprOp::Abs => {
            let a = arg(0);
            if is_nullish(a.as_ref()) {
                return Some(Value::Null);
            }
            match num(&a?)? {
                Num::Int(i) => i.checked_abs().map_or_else(
                    || to_value(Num::Float((i as f64).abs())),
                    |v| Some(Value::from(v)),
                ),
                Num::Float(f) => to_value(Num::Float(f.abs())),
            }
        }
        ExprOp::Size => match arg(0) {
            Some(Value::Array(items)) => Some(Value::from(items.len())),
            _ => None,
        },
        ExprOp::IfNull => {
            let (last, firsts) = args.split_last()?;
            firsts
                .iter()
                .find_map(|a| a.eval(doc).filter(|v| !v.is_null()))
                .or_else(|| last.eval(doc))
        }
        ExprOp::Cond => {
            if truthy(arg(0).as_ref()) {
                arg(1)
            } else {
                arg(2)
            }
        }
        ExprOp::Array => Some(Value::Array(
            args.iter()
                .map(|a| a.eval(doc).unwrap_or(Value::Null))
                .collect(),
        )),
        ExprOp::In => {
            let needle = arg(0);
            match arg(1) {
                Some(Value::Array(items)) => {
                    Some(Value::Bool(items.iter().any(|i| {
                        needle.as_ref().is_some_and(|n| values_equal(n, i))
                    })))
                }
                _ => None,
            }
        }
    }
}
