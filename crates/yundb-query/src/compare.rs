//! One comparator for the whole engine: MongoDB's BSON order over the JSON value model.
//!
//! Type brackets come first (MinKey < missing/undefined < null < numbers < strings < objects <
//! arrays < ObjectId < booleans < dates < regexes), then values within a bracket: numbers by
//! value across integers and floats, strings by code point (UTF-8 bytes), objects field by field
//! (type, then name, then value; the shorter object first), arrays element by element.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use crate::value::{special, Special};

/// A value's type bracket, ordered as MongoDB orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bracket {
    /// A missing field (or `undefined`, e.g. the sort key of an empty array).
    Missing,
    /// `null`.
    Null,
    /// Any number.
    Number,
    /// A string.
    String,
    /// An embedded document.
    Object,
    /// An array.
    Array,
    /// `{"$oid": ..}`.
    ObjectId,
    /// `true` / `false`.
    Bool,
    /// `{"$date": ms}`.
    Date,
    /// `{"$regex": .., "$options": ..}`.
    Regex,
}

/// The bracket of a value.
pub fn bracket(v: &Value) -> Bracket {
    match v {
        Value::Null => Bracket::Null,
        Value::Bool(_) => Bracket::Bool,
        Value::Number(_) => Bracket::Number,
        Value::String(_) => Bracket::String,
        Value::Array(_) => Bracket::Array,
        Value::Object(m) => match special(m) {
            Some(Special::Date(_)) => Bracket::Date,
            Some(Special::Regex(..)) => Bracket::Regex,
            Some(Special::ObjectId(_)) => Bracket::ObjectId,
            None => Bracket::Object,
        },
    }
}

/// Compares two (possibly missing) values in MongoDB's order.
pub fn cmp_opt(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => cmp_values(a, b),
    }
}

/// Compares two values in MongoDB's order. A total order; `1` and `1.0` are equal.
pub fn cmp_values(a: &Value, b: &Value) -> Ordering {
    let (ba, bb) = (bracket(a), bracket(b));
    if ba != bb {
        return ba.cmp(&bb);
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => cmp_arrays(x, y),
        (Value::Object(x), Value::Object(y)) => match (special(x), special(y)) {
            (Some(Special::Date(p)), Some(Special::Date(q))) => p.cmp(&q),
            (Some(Special::ObjectId(p)), Some(Special::ObjectId(q))) => {
                p.to_ascii_lowercase().cmp(&q.to_ascii_lowercase())
            }
            (Some(Special::Regex(p, f)), Some(Special::Regex(q, g))) => {
                p.cmp(q).then_with(|| f.cmp(g))
            }
            _ => cmp_objects(x, y),
        },
        _ => Ordering::Equal,
    }
}

fn cmp_arrays(x: &[Value], y: &[Value]) -> Ordering {
    for (a, b) in x.iter().zip(y) {
        let o = cmp_values(a, b);
        if o != Ordering::Equal {
            return o;
        }
    }
    x.len().cmp(&y.len())
}

fn cmp_objects(x: &Map<String, Value>, y: &Map<String, Value>) -> Ordering {
    for ((ka, va), (kb, vb)) in x.iter().zip(y) {
        let o = bracket(va)
            .cmp(&bracket(vb))
            .then_with(|| ka.as_bytes().cmp(kb.as_bytes()))
            .then_with(|| cmp_values(va, vb));
        if o != Ordering::Equal {
            return o;
        }
    }
    x.len().cmp(&y.len())
}

/// Compares numbers by value, exactly, across `i64`, `u64` and `f64`.
pub fn cmp_numbers(x: &Number, y: &Number) -> Ordering {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a.cmp(&b);
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a.cmp(&b);
    }
    match (as_exact(x), as_exact(y)) {
        (Exact::Int(a), Exact::Int(b)) => a.cmp(&b),
        (Exact::Int(a), Exact::Float(b)) => cmp_int_float(a, b),
        (Exact::Float(a), Exact::Int(b)) => cmp_int_float(b, a).reverse(),
        // -0.0 equals 0.0, as in MongoDB.
        (Exact::Float(a), Exact::Float(b)) => a.partial_cmp(&b).unwrap_or_else(|| a.total_cmp(&b)),
    }
}

enum Exact {
    Int(i128),
    Float(f64),
}

fn as_exact(n: &Number) -> Exact {
    if let Some(i) = n.as_i64() {
        Exact::Int(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        Exact::Int(i128::from(u))
    } else {
        Exact::Float(n.as_f64().unwrap_or(0.0))
    }
}

/// Compares an integer with a float without losing precision.
fn cmp_int_float(i: i128, f: f64) -> Ordering {
    if f.is_nan() {
        return Ordering::Greater;
    }
    // Every i128 we hold fits in ±2^64, well inside f64's exponent range.
    if f >= 1.8e19 {
        return Ordering::Less;
    }
    if f <= -1.8e19 {
        return Ordering::Greater;
    }
    let t = f.trunc();
    let ti = t as i128;
    match i.cmp(&ti) {
        Ordering::Equal => {
            let frac = f - t;
            if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        o => o,
    }
}

/// `cmp_values(a, b) == Equal`.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    cmp_values(a, b) == Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn brackets_and_values() {
        let ordered = [
            json!(null),
            json!(-5),
            json!(1),
            json!(1.5),
            json!(u64::MAX),
            json!(""),
            json!("a"),
            json!("é"),
            json!({}),
            json!({"a": 1}),
            json!([]),
            json!([1]),
            json!({"$oid": "000000000000000000000000"}),
            json!(false),
            json!(true),
            json!({"$date": -1}),
            json!({"$date": 5}),
            json!({"$regex": "a", "$options": ""}),
        ];
        for w in ordered.windows(2) {
            assert_eq!(
                cmp_values(&w[0], &w[1]),
                Ordering::Less,
                "{} < {}",
                w[0],
                w[1]
            );
        }
        assert!(values_equal(&json!(1), &json!(1.0)));
        assert_eq!(
            cmp_values(
                &json!(9_007_199_254_740_993_i64),
                &json!(9_007_199_254_740_992.0)
            ),
            Ordering::Greater
        );
        assert!(
            !values_equal(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})),
            "key order matters"
        );
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            (-3i64..3).prop_map(|i| Value::from(i as f64)),
            "[a-c]{0,2}".prop_map(Value::from),
            (-3i64..3).prop_map(|ms| json!({"$date": ms})),
        ];
        leaf.prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::vec(("[ab]", inner), 0..3)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn total_order(a in arb_value(), b in arb_value(), c in arb_value()) {
            prop_assert_eq!(cmp_values(&a, &a), Ordering::Equal);
            prop_assert_eq!(cmp_values(&a, &b), cmp_values(&b, &a).reverse());
            if cmp_values(&a, &b) != Ordering::Greater && cmp_values(&b, &c) != Ordering::Greater {
                prop_assert_ne!(cmp_values(&a, &c), Ordering::Greater);
            }
            if a == b {
                prop_assert_eq!(cmp_values(&a, &b), Ordering::Equal, "equal JSON compares equal");
            }
        }
    }
}
