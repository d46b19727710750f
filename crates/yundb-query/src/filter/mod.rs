//! Where-clauses: compiled once into a closed predicate tree, evaluated infallibly.

mod compile;
pub use compile::MAX_IN_VALUES;
mod eval;
mod expr;
mod raw;

use serde_json::Value;

use crate::path::FieldPath;
use crate::regex::MongoRegex;

pub(crate) use eval::get_plain;
pub use expr::Expr;

/// How deep logical operators, `$not`, `$elemMatch` and `$expr` may nest.
pub const MAX_NESTING: usize = 100;

/// A compiled where-clause.
#[derive(Debug, Clone)]
pub struct Filter {
    pub(crate) root: Node,
}

/// A predicate over a whole document.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// `{}`: everything.
    True,
    /// Nothing (`$all: []`).
    False,
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Nor(Box<[Node]>),
    /// Document-level negation: `$ne`, `$nin`, `$not`, `$exists: false`.
    Not(Box<Node>),
    /// Some value reached by the path satisfies the predicate.
    Path(FieldPath, Pred),
    /// `$expr`: the aggregation expression is truthy.
    Expr(Expr),
}

/// A predicate over one value reached by a path (`None`: the path reached nothing).
#[derive(Debug, Clone)]
pub(crate) enum Pred {
    Cmp(CmpOp, Value),
    In(InSet),
    Exists,
    Size(usize),
    Mod(i64, i64),
    Regex(MongoRegex),
    /// `$elemMatch` with a query on each element (object form).
    ElemMatchDoc(Box<Node>),
    /// `$elemMatch` with operators on each element (value form): all must hold for one element.
    ElemMatchValue(Box<[Pred]>),
    /// Element-level negation of a conjunction (inside `$elemMatch` value form).
    Not(Box<[Pred]>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

#[derive(Debug, Clone)]
pub(crate) struct InSet {
    pub(crate) values: Box<[Value]>,
    pub(crate) regexes: Box<[MongoRegex]>,
}

impl Filter {
    /// A filter that matches every document.
    pub fn all() -> Filter {
        Filter { root: Node::True }
    }

    /// Whether the document matches. Never fails.
    pub fn matches(&self, doc: &Value) -> bool {
        self.root.matches(doc)
    }

    /// If the filter requires `_id` to equal one value (`{_id: v}`, possibly with other
    /// conditions), that value: the caller can look the record up instead of scanning.
    pub fn id_equality(&self) -> Option<&Value> {
        fn find(node: &Node) -> Option<&Value> {
            match node {
                Node::Path(p, Pred::Cmp(CmpOp::Eq, v))
                    if p.as_str() == "_id" && !v.is_array() && !v.is_object() && !v.is_null() =>
                {
                    Some(v)
                }
                Node::And(items) => items.iter().find_map(find),
                _ => None,
            }
        }
        find(&self.root)
    }

    /// For each array field the filter constrains (`arr: v`, `arr.x: {$gt: ..}`,
    /// `arr: {$elemMatch: ..}`), the index of the first element that satisfies the condition in
    /// `doc`: the positional `$` of an update.
    pub fn first_matching_index(&self, doc: &Value, array_path: &FieldPath) -> Option<usize> {
        self.root.first_matching_index(doc, array_path)
    }
}

#[cfg(test)]
mod tests;

impl Filter {
    /// The `path == value` conditions the filter requires at the top level (directly or through
    /// `$and`): what an upsert seeds a new document with.
    pub fn equality_fields(&self) -> Vec<(&FieldPath, &Value)> {
        fn walk<'a>(node: &'a Node, out: &mut Vec<(&'a FieldPath, &'a Value)>) {
            match node {
                Node::Path(p, Pred::Cmp(CmpOp::Eq, v)) => out.push((p, v)),
                Node::And(items) => items.iter().for_each(|n| walk(n, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }
}

/// Calls `f` with every value the path reaches in `doc`, with MongoDB's matcher traversal
/// (array elements and the arrays themselves): the values an equality on the path compares.
pub fn values_at(doc: &Value, path: &FieldPath, f: &mut dyn FnMut(&Value)) {
    if let Value::Object(map) = doc {
        eval::visit(map, path.segments(), eval::Leaf::Traverse, &mut |v| {
            if let Some(v) = v {
                f(v);
            }
            false
        });
    }
}

impl Filter {
    /// The filter's equality conditions as a disjunction of branches (each a list of
    /// `dot path == value`), the shape the security-rule subset check substitutes for `doc`:
    /// `$and` multiplies branches, `$or` and `$in` add them. Conditions the check cannot use
    /// (ranges, negations, `null`, regexes) are left out, which only makes a proof harder.
    /// `None` when there would be more than `max` branches.
    pub fn equality_branches(&self, max: usize) -> Option<Vec<Vec<(String, Value)>>> {
        fn usable(v: &Value) -> bool {
            !v.is_null()
                && !matches!(v, Value::Object(m) if crate::value::special(m).is_some_and(|s| matches!(s, crate::value::Special::Regex(..))))
        }
        fn walk(node: &Node, max: usize) -> Option<Vec<Vec<(String, Value)>>> {
            match node {
                Node::Path(p, Pred::Cmp(CmpOp::Eq, v)) if usable(v) => {
                    Some(vec![vec![(p.as_str().to_owned(), v.clone())]])
                }
                Node::Path(p, Pred::In(set))
                    if set.regexes.is_empty()
                        && !set.values.is_empty()
                        && set.values.iter().all(usable) =>
                {
                    (set.values.len() <= max).then(|| {
                        set.values
                            .iter()
                            .map(|v| vec![(p.as_str().to_owned(), v.clone())])
                            .collect()
                    })
                }
                Node::And(items) => {
                    let mut acc: Vec<Vec<(String, Value)>> = vec![Vec::new()];
                    for item in items {
                        let branches = walk(item, max)?;
                        let mut next = Vec::new();
                        for a in &acc {
                            for b in &branches {
                                let mut merged = a.clone();
                                merged.extend(b.iter().cloned());
                                next.push(merged);
                            }
                        }
                        if next.len() > max {
                            return None;
                        }
                        acc = next;
                    }
                    Some(acc)
                }
                Node::Or(items) => {
                    let mut out = Vec::new();
                    for item in items {
                        out.extend(walk(item, max)?);
                        if out.len() > max {
                            return None;
                        }
                    }
                    Some(out)
                }
                Node::False => Some(Vec::new()),
                _ => Some(vec![Vec::new()]),
            }
        }
        walk(&self.root, max)
    }
}
