//! Evaluation: MongoDB's (pre-8.0) matcher semantics over the JSON value model.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::{CmpOp, InSet, Node, Pred};
use crate::compare::{bracket, cmp_values, Bracket};
use crate::path::{FieldPath, Segment};
use crate::value::{special, Special};

/// Whether a leaf array is also expanded into its elements (every predicate but `$size` and
/// `$elemMatch`, which look at the array itself).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Leaf {
    Traverse,
    Whole,
}

/// Calls `f` with every value the path reaches in `map`, MongoDB's element iteration: arrays
/// met on the way are traversed (each object element is searched for the rest of the path, and
/// a numeric segment also selects the element at that index), a leaf array yields its elements
/// and then itself, and a path that reaches nothing yields `None`. Stops when `f` returns
/// `true`; returns whether it did.
pub(crate) fn visit(
    map: &Map<String, Value>,
    segs: &[Segment],
    leaf: Leaf,
    f: &mut dyn FnMut(Option<&Value>) -> bool,
) -> bool {
    let mut cur = map;
    let mut i = 0;
    loop {
        let Some(seg) = segs.get(i) else {
            return f(None);
        };
        let last = i + 1 == segs.len();
        match cur.get(seg.name()) {
            None => return f(None),
            Some(v @ Value::Array(_)) => {
                return visit_array(v, segs.get(i + 1..).unwrap_or_default(), leaf, f)
            }
            Some(v @ Value::Object(m)) => {
                if last {
                    return f(Some(v));
                }
                if special(m).is_some() {
                    return f(None);
                }
                cur = m;
                i += 1;
            }
            Some(v) => return f(if last { Some(v) } else { None }),
        }
    }
}

fn visit_array(
    array: &Value,
    rest: &[Segment],
    leaf: Leaf,
    f: &mut dyn FnMut(Option<&Value>) -> bool,
) -> bool {
    let Value::Array(items) = array else {
        return f(Some(array));
    };
    let Some((next, after)) = rest.split_first() else {
        if leaf == Leaf::Traverse && items.iter().any(|e| f(Some(e))) {
            return true;
        }
        return f(Some(array));
    };
    for (idx, e) in items.iter().enumerate() {
        let offset = next.index() == Some(idx);
        match e {
            Value::Object(m) if special(m).is_none() => {
                if visit(m, rest, leaf, f) {
                    return true;
                }
                if offset {
                    let hit = if after.is_empty() {
                        f(Some(e))
                    } else {
                        visit(m, after, leaf, f)
                    };
                    if hit {
                        return true;
                    }
                }
            }
            _ if offset => {
                if after.is_empty() {
                    if f(Some(e)) {
                        return true;
                    }
                } else if e.is_array() && visit_array(e, after, leaf, f) {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

impl Node {
    pub(crate) fn matches(&self, doc: &Value) -> bool {
        match self {
            Node::True => true,
            Node::False => false,
            Node::And(items) => items.iter().all(|n| n.matches(doc)),
            Node::Or(items) => items.iter().any(|n| n.matches(doc)),
            Node::Nor(items) => !items.iter().any(|n| n.matches(doc)),
            Node::Not(inner) => !inner.matches(doc),
            Node::Path(path, pred) => match doc {
                Value::Object(map) => visit(map, path.segments(), pred.leaf_mode(), &mut |v| {
                    pred.matches(v)
                }),
                _ => false,
            },
            Node::Expr(e) => e.is_true(doc),
        }
    }

    pub(crate) fn first_matching_index(
        &self,
        doc: &Value,
        array_path: &FieldPath,
    ) -> Option<usize> {
        match self {
            Node::And(items) | Node::Or(items) => items
                .iter()
                .find_map(|n| n.first_matching_index(doc, array_path)),
            Node::Path(path, pred) if array_path.is_prefix_of(path) => {
                let Some(Value::Array(items)) = get_plain(doc, array_path.segments()) else {
                    return None;
                };
                let rest = path
                    .segments()
                    .get(array_path.segments().len()..)
                    .unwrap_or_default();
                items.iter().position(|e| {
                    if rest.is_empty() {
                        return pred.matches(Some(e));
                    }
                    match e {
                        Value::Object(m) => {
                            visit(m, rest, pred.leaf_mode(), &mut |v| pred.matches(v))
                        }
                        Value::Array(_) => {
                            visit_array(e, rest, pred.leaf_mode(), &mut |v| pred.matches(v))
                        }
                        _ => false,
                    }
                })
            }
            _ => None,
        }
    }
}

/// The value at a path of object fields and array indexes, without array traversal.
pub(crate) fn get_plain<'a>(doc: &'a Value, segs: &[Segment]) -> Option<&'a Value> {
    segs.iter().try_fold(doc, |cur, seg| match cur {
        Value::Object(m) => m.get(seg.name()),
        Value::Array(items) => seg.index().and_then(|i| items.get(i)),
        _ => None,
    })
}

impl Pred {
    fn leaf_mode(&self) -> Leaf {
        match self {
            Pred::Size(_) | Pred::ElemMatchDoc(_) | Pred::ElemMatchValue(_) => Leaf::Whole,
            _ => Leaf::Traverse,
        }
    }

    pub(crate) fn matches(&self, v: Option<&Value>) -> bool {
        match self {
            Pred::Cmp(op, rhs) => compare(*op, v, rhs),
            Pred::In(set) => set.contains(v),
            Pred::Exists => v.is_some(),
            Pred::Size(n) => matches!(v, Some(Value::Array(a)) if a.len() == *n),
            Pred::Mod(d, r) => match v {
                Some(Value::Number(n)) => {
                    let x = n.as_i64().unwrap_or_else(|| {
                        let f = n.as_f64().unwrap_or(0.0);
                        if f.is_nan() {
                            0
                        } else {
                            f as i64
                        }
                    });
                    x.checked_rem(*d).unwrap_or(0) == *r
                }
                _ => false,
            },
            Pred::Regex(re) => match v {
                Some(Value::String(s)) => re.is_match(s),
                Some(Value::Object(m)) => {
                    matches!(special(m), Some(Special::Regex(p, o)) if p == re.pattern() && o == re.options())
                }
                _ => false,
            },
            Pred::ElemMatchDoc(node) => match v {
                Some(Value::Array(items)) => items.iter().any(|e| {
                    matches!(e, Value::Object(m) if special(m).is_none()) && node.matches(e)
                }),
                _ => false,
            },
            Pred::ElemMatchValue(preds) => match v {
                Some(Value::Array(items)) => items
                    .iter()
                    .any(|e| preds.iter().all(|p| p.matches(Some(e)))),
                _ => false,
            },
            Pred::Not(preds) => !preds.iter().all(|p| p.matches(v)),
        }
    }
}

fn compare(op: CmpOp, v: Option<&Value>, rhs: &Value) -> bool {
    let left = v.map_or(Bracket::Missing, bracket);
    let right = bracket(rhs);
    if left != right {
        // A missing field equals null.
        let null_pair = matches!(
            (left, right),
            (Bracket::Missing, Bracket::Null) | (Bracket::Null, Bracket::Missing)
        );
        return null_pair && matches!(op, CmpOp::Eq | CmpOp::Lte | CmpOp::Gte);
    }
    let Some(v) = v else {
        return false;
    };
    let o = cmp_values(v, rhs);
    match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Lte => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Gte => o != Ordering::Less,
    }
}

impl InSet {
    fn contains(&self, v: Option<&Value>) -> bool {
        self.values.iter().any(|x| compare(CmpOp::Eq, v, x))
            || match v {
                Some(Value::String(s)) => self.regexes.iter().any(|r| r.is_match(s)),
                Some(Value::Object(m)) => match special(m) {
                    Some(Special::Regex(p, o)) => self
                        .regexes
                        .iter()
                        .any(|r| r.pattern() == p && r.options() == o),
                    _ => false,
                },
                _ => false,
            }
    }
}
