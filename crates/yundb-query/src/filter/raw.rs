//! Evaluating a filter on a stored document in place ([`crate::stored`]), without building a
//! `Value`. Mirrors `eval.rs` exactly; a predicate it cannot decide in place (`$elemMatch`,
//! `$expr`, comparisons of whole objects or arrays) answers "unknown" and the caller decodes.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::eval::Leaf;
use super::{CmpOp, Filter, InSet, Node, Pred};
use crate::compare::{bracket, cmp_numbers, cmp_values, Bracket};
use crate::path::Segment;
use crate::stored::{read, Raw};
use crate::value::{special, Special};

/// Three-valued: `Some(answer)`, or `None` when only the decoded document can tell.
type Tri = Option<bool>;

/// Folds candidates: any `true` wins; otherwise any unknown makes the result unknown.
struct Any {
    unknown: bool,
}

impl Any {
    fn new() -> Self {
        Any { unknown: false }
    }
    /// Returns `true` when the search can stop (a candidate matched).
    fn add(&mut self, t: Tri) -> bool {
        match t {
            Some(true) => true,
            Some(false) => false,
            None => {
                self.unknown = true;
                false
            }
        }
    }
    fn result(&self, found: bool) -> Tri {
        if found {
            Some(true)
        } else if self.unknown {
            None
        } else {
            Some(false)
        }
    }
}

impl Filter {
    /// Whether a stored document matches, decided on its stored bytes; `None` when the filter
    /// needs the decoded document (then use [`Filter::matches`]).
    pub fn matches_stored(&self, bytes: &[u8]) -> Option<bool> {
        let (doc, _) = read(bytes)?;
        if !matches!(doc, Raw::Obj(_)) {
            return None;
        }
        node(&self.root, doc)
    }
}

fn node(n: &Node, doc: Raw<'_>) -> Tri {
    match n {
        Node::True => Some(true),
        Node::False => Some(false),
        Node::And(items) => {
            let mut unknown = false;
            for i in items {
                match node(i, doc) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            if unknown {
                None
            } else {
                Some(true)
            }
        }
        Node::Or(items) | Node::Nor(items) => {
            let mut any = Any::new();
            let found = items.iter().any(|i| any.add(node(i, doc)));
            let r = any.result(found);
            if matches!(n, Node::Nor(_)) {
                r.map(|b| !b)
            } else {
                r
            }
        }
        Node::Not(inner) => node(inner, doc).map(|b| !b),
        Node::Path(path, pred) => {
            let leaf = match pred {
                Pred::Size(_) | Pred::ElemMatchDoc(_) | Pred::ElemMatchValue(_) => Leaf::Whole,
                _ => Leaf::Traverse,
            };
            visit(doc, path.segments(), leaf, &mut |v| pred_raw(pred, v))
        }
        Node::Expr(_) => None,
    }
}

fn visit<'a>(
    obj: Raw<'a>,
    segs: &[Segment],
    leaf: Leaf,
    f: &mut dyn FnMut(Option<Raw<'a>>) -> Tri,
) -> Tri {
    let mut cur = obj;
    let mut i = 0;
    loop {
        let Some(seg) = segs.get(i) else {
            return f(None);
        };
        let last = i + 1 == segs.len();
        match cur.get(seg.name()) {
            None => return f(None),
            Some(v @ Raw::Arr(_)) => {
                return visit_array(v, segs.get(i + 1..).unwrap_or_default(), leaf, f)
            }
            Some(v @ Raw::Obj(_)) if !last => {
                cur = v;
                i += 1;
            }
            Some(v) => return f(if last { Some(v) } else { None }),
        }
    }
}

fn visit_array<'a>(
    array: Raw<'a>,
    rest: &[Segment],
    leaf: Leaf,
    f: &mut dyn FnMut(Option<Raw<'a>>) -> Tri,
) -> Tri {
    let mut any = Any::new();
    let Some((next, after)) = rest.split_first() else {
        let found = (leaf == Leaf::Traverse && array.elements(&mut |_, e| any.add(f(Some(e)))))
            || any.add(f(Some(array)));
        return any.result(found);
    };
    let found = array.elements(&mut |idx, e| {
        let offset = next.index() == Some(idx);
        match e {
            Raw::Obj(_) => {
                if any.add(visit(e, rest, leaf, f)) {
                    return true;
                }
                offset
                    && any.add(if after.is_empty() {
                        f(Some(e))
                    } else {
                        visit(e, after, leaf, f)
                    })
            }
            Raw::Arr(_) if offset && !after.is_empty() => any.add(visit_array(e, after, leaf, f)),
            _ if offset && after.is_empty() => any.add(f(Some(e))),
            _ => false,
        }
    });
    any.result(found)
}

fn raw_bracket(v: &Raw<'_>) -> Bracket {
    match v {
        Raw::Null => Bracket::Null,
        Raw::Bool(_) => Bracket::Bool,
        Raw::Int(_) | Raw::UInt(_) | Raw::Float(_) => Bracket::Number,
        Raw::Str(_) => Bracket::String,
        Raw::Obj(_) => Bracket::Object,
        Raw::Arr(_) => Bracket::Array,
        Raw::Date(_) => Bracket::Date,
        Raw::Regex(..) => Bracket::Regex,
        Raw::Oid(_) => Bracket::ObjectId,
    }
}

fn raw_number(v: &Raw<'_>) -> Option<Number> {
    match *v {
        Raw::Int(i) => Some(Number::from(i)),
        Raw::UInt(u) => Some(Number::from(u)),
        Raw::Float(f) => Number::from_f64(f),
        _ => None,
    }
}

/// Orders a stored value against a query value of the same bracket.
fn cmp_same(v: &Raw<'_>, rhs: &Value) -> Option<Ordering> {
    match (v, rhs) {
        (Raw::Int(_) | Raw::UInt(_) | Raw::Float(_), Value::Number(n)) => {
            Some(cmp_numbers(&raw_number(v)?, n))
        }
        (Raw::Str(s), Value::String(t)) => Some(s.as_bytes().cmp(t.as_bytes())),
        (Raw::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Raw::Null, Value::Null) => Some(Ordering::Equal),
        (_, Value::Object(m)) => match (v, special(m)) {
            (Raw::Date(a), Some(Special::Date(b))) => Some(a.cmp(&b)),
            (Raw::Oid(a), Some(Special::ObjectId(b))) => {
                Some(a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase()))
            }
            (Raw::Regex(p, o), Some(Special::Regex(q, g))) => {
                Some(p.cmp(&q).then_with(|| o.cmp(&g)))
            }
            _ => Some(cmp_values(&v.to_value()?, rhs)),
        },
        _ => Some(cmp_values(&v.to_value()?, rhs)),
    }
}

fn compare(op: CmpOp, v: Option<Raw<'_>>, rhs: &Value) -> Tri {
    let left = v.as_ref().map_or(Bracket::Missing, raw_bracket);
    let right = bracket(rhs);
    if left != right {
        let null_pair = matches!(
            (left, right),
            (Bracket::Missing, Bracket::Null) | (Bracket::Null, Bracket::Missing)
        );
        return Some(null_pair && matches!(op, CmpOp::Eq | CmpOp::Lte | CmpOp::Gte));
    }
    let v = v?;
    let o = cmp_same(&v, rhs)?;
    Some(match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Lte => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Gte => o != Ordering::Less,
    })
}

fn contains(set: &InSet, v: Option<Raw<'_>>) -> Tri {
    let mut any = Any::new();
    if set.values.iter().any(|x| any.add(compare(CmpOp::Eq, v, x))) {
        return Some(true);
    }
    let hit = match v {
        Some(Raw::Str(s)) => set.regexes.iter().any(|r| r.is_match(s)),
        Some(Raw::Regex(p, o)) => set
            .regexes
            .iter()
            .any(|r| r.pattern() == p && r.options() == o),
        _ => false,
    };
    any.result(hit)
}

fn pred_raw(p: &Pred, v: Option<Raw<'_>>) -> Tri {
    match p {
        Pred::Cmp(op, rhs) => compare(*op, v, rhs),
        Pred::In(set) => contains(set, v),
        Pred::Exists => Some(v.is_some()),
        Pred::Size(n) => Some(matches!(v, Some(a @ Raw::Arr(_)) if a.len() == Some(*n))),
        Pred::Mod(d, r) => Some(match v {
            Some(Raw::Int(i)) => i.checked_rem(*d).unwrap_or(0) == *r,
            Some(Raw::UInt(u)) => (u as i64).checked_rem(*d).unwrap_or(0) == *r,
            Some(Raw::Float(f)) => {
                (if f.is_nan() { 0 } else { f as i64 })
                    .checked_rem(*d)
                    .unwrap_or(0)
                    == *r
            }
            _ => false,
        }),
        Pred::Regex(re) => Some(match v {
            Some(Raw::Str(s)) => re.is_match(s),
            Some(Raw::Regex(q, o)) => q == re.pattern() && o == re.options(),
            _ => false,
        }),
        Pred::ElemMatchDoc(_) | Pred::ElemMatchValue(_) | Pred::Not(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use crate::stored::encode;
    use crate::Filter;

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-3i64..3).prop_map(Value::from),
            (-3i64..3).prop_map(|i| Value::from(i as f64 + 0.5)),
            "[ab]{0,2}".prop_map(Value::from),
            (0i64..3).prop_map(|ms| json!({"$date": ms})),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::vec(("[ab0]", inner), 0..3)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn arb_doc() -> impl Strategy<Value = Value> {
        prop::collection::vec(("[ab]", arb_value()), 0..3)
            .prop_map(|kv| Value::Object(kv.into_iter().collect()))
    }

    fn arb_query() -> impl Strategy<Value = Value> {
        let path = prop_oneof![
            Just("a"),
            Just("b"),
            Just("a.b"),
            Just("a.0"),
            Just("b.a.1"),
            Just("a.0.b")
        ];
        let op = prop_oneof![
            Just("$eq"),
            Just("$ne"),
            Just("$gt"),
            Just("$lte"),
            Just("$in"),
            Just("$nin"),
            Just("$exists"),
            Just("$size"),
            Just("$mod"),
            Just("$regex"),
            Just("$elemMatch")
        ];
        let leaf = (path, op, arb_value()).prop_map(|(p, op, v)| {
            let operand = match op {
                "$in" | "$nin" => json!([v, 1]),
                "$exists" => json!(v.is_null()),
                "$size" => json!(v.as_i64().map_or(1, i64::abs)),
                "$mod" => json!([2, v.as_i64().unwrap_or(0)]),
                "$regex" => json!("^a"),
                "$elemMatch" => json!({"$gt": v}),
                _ => v,
            };
            json!({ p: { op: operand } })
        });
        prop::collection::vec(leaf, 1..3).prop_flat_map(|ls| {
            prop_oneof![
                Just(json!({"$and": ls.clone()})),
                Just(json!({"$or": ls.clone()})),
                Just(json!({"$nor": ls}))
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn in_place_agrees_with_decoded(q in arb_query(), doc in arb_doc()) {
            let Ok(f) = Filter::from_wire(&q) else { return Ok(()) };
            if let Some(answer) = f.matches_stored(&encode(&doc)) {
                prop_assert_eq!(answer, f.matches(&doc), "{} on {}", q, doc);
            }
        }
    }
}
