//! Query planning: choosing a secondary index for a filter and a sort order.
//!
//! An index is usable for equalities and `$in` on a prefix of its keys (scalar, non-null values:
//! `null`, arrays, objects and regexes keep MongoDB semantics an index entry cannot express),
//! then a range on the next key, and for an `order_by` that equals the keys after the equality
//! prefix, in the index's directions or all reversed. The plan yields candidate records; the
//! executor always re-checks the whole filter, so a plan only has to find a superset.

use std::ops::Bound;

use serde_json::{json, Value};

use crate::filter::{CmpOp, Filter, Node, Pred};
use crate::index::{bracket_bounds, component, IndexSpec};
use crate::sort::{Direction, Sort};
use crate::value::{special, Special};

/// The most key ranges one plan may scan (`$in` lists multiply).
pub const MAX_RANGES: usize = 1000;

/// A range of index keys: lower and upper bound.
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// An index scan.
#[derive(Debug, Clone)]
pub struct IndexScan {
    /// The index.
    pub index: String,
    /// Key ranges, in scan order.
    pub ranges: Vec<KeyRange>,
    /// Scan the index backwards.
    pub reverse: bool,
    /// The scan yields records in the sort order (so `limit` can stop it early).
    pub ordered: bool,
    /// Records with equal sort keys also come in natural order (a forward scan whose sort
    /// covers every key after the equalities: ties fall back to the record number), so the
    /// scan may stop exactly at the limit.
    pub ties_in_order: bool,
    /// Keys fixed by equality, whether a range applies.
    pub equalities: usize,
    /// Whether a range narrows the next key.
    pub range: bool,
}

impl IndexScan {
    /// A description for `explain()`.
    pub fn describe(&self) -> Value {
        json!({"index": self.index, "equalityKeys": self.equalities, "range": self.range, "ranges": self.ranges.len(), "reverse": self.reverse, "providesOrder": self.ordered})
    }
}

fn indexable(v: &Value) -> bool {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
        Value::Object(m) => matches!(special(m), Some(Special::Date(_) | Special::ObjectId(_))),
        _ => false,
    }
}

#[derive(Default)]
struct Conditions<'a> {
    eq: Vec<(&'a str, Vec<&'a Value>)>,
    lower: Vec<(&'a str, &'a Value)>,
    upper: Vec<(&'a str, &'a Value)>,
}

fn conditions(node: &Node) -> Conditions<'_> {
    let mut out = Conditions::default();
    // The conjuncts, with nested `And`s opened (`{a: {$gte: 1, $lt: 5}, b: 1}` compiles to
    // `And[And[a ≥ 1, a < 5], b = 1]`).
    let mut items: Vec<&Node> = Vec::new();
    let mut open = vec![node];
    while let Some(n) = open.pop() {
        match n {
            Node::And(children) => open.extend(children.iter().rev()),
            other => items.push(other),
        }
    }
    for n in items {
        let Node::Path(path, pred) = n else { continue };
        if path.segments().iter().any(|s| s.index().is_some()) {
            continue;
        }
        let p = path.as_str();
        match pred {
            Pred::Cmp(CmpOp::Eq, v) if indexable(v) => out.eq.push((p, vec![v])),
            Pred::In(set)
                if set.regexes.is_empty()
                    && !set.values.is_empty()
                    && set.values.iter().all(indexable) =>
            {
                out.eq.push((p, set.values.iter().collect()));
            }
            Pred::Cmp(CmpOp::Gt | CmpOp::Gte, v) if indexable(v) => out.lower.push((p, v)),
            Pred::Cmp(CmpOp::Lt | CmpOp::Lte, v) if indexable(v) => out.upper.push((p, v)),
            _ => {}
        }
    }
    out
}

/// The first of `bounds` on `path`.
fn bound_on<'a>(bounds: &[(&str, &'a Value)], path: Option<&str>) -> Option<&'a Value> {
    let path = path?;
    bounds.iter().find(|(q, _)| *q == path).map(|(_, v)| *v)
}

/// Chooses the best usable index, if any. `single_key` says which indexes no record has put
/// two or more entries in: only there do both bounds of a range narrow the scan.
pub fn choose(
    filter: &Filter,
    sort: &Sort,
    indexes: &[IndexSpec],
    single_key: &dyn Fn(&str) -> bool,
) -> Option<IndexScan> {
    let conds = conditions(&filter.root);
    let mut best: Option<(usize, IndexScan)> = None;
    for spec in indexes {
        let mut values: Vec<Vec<&Value>> = Vec::new();
        for (path, _) in &spec.keys {
            match conds.eq.iter().find(|(p, _)| *p == path.as_str()) {
                Some((_, vs)) => values.push(vs.clone()),
                None => break,
            }
        }
        let equalities = values.len();
        let next = spec.keys.get(equalities);
        let next_path = next.map(|(p, _)| p.as_str());
        let lower = bound_on(&conds.lower, next_path);
        let upper = bound_on(&conds.upper, next_path);
        let both_bounds = lower.is_some() && upper.is_some();
        // Asked only when it matters (it may read storage).
        let single = both_bounds && single_key(&spec.name);
        // On a multikey index only one side: over an array field `$gt` and `$lt` may hold for
        // different elements, so intersecting them would miss documents (MongoDB does not
        // intersect multikey bounds either).
        let upper = if both_bounds && !single { None } else { upper };
        let range =
            next.is_some_and(|(_, d)| *d == Direction::Asc) && (lower.is_some() || upper.is_some());
        // The sort must be the keys after the equality prefix, all as indexed or all reversed.
        let tail = spec.keys.get(equalities..).unwrap_or_default();
        let sort_keys = sort.keys();
        let same = !sort_keys.is_empty()
            && sort_keys.len() <= tail.len()
            && sort_keys
                .iter()
                .zip(tail)
                .all(|((p, d), (q, e))| p == q && d == e);
        let reversed = !sort_keys.is_empty()
            && sort_keys.len() <= tail.len()
            && sort_keys
                .iter()
                .zip(tail)
                .all(|((p, d), (q, e))| p == q && d != e);
        let combos: usize = values.iter().map(Vec::len).product();
        if combos > MAX_RANGES || (equalities == 0 && !range && !same && !reversed) {
            continue;
        }
        // Bounded on both sides, a multikey index narrows only one: from the lower bound to the
        // end of the key space is often most of the collection, read record by record, slower
        // than a scan. Used then only when it also gives the order.
        if equalities == 0 && both_bounds && !single && !same && !reversed {
            continue;
        }
        let mut prefixes: Vec<Vec<u8>> = vec![Vec::new()];
        for (vs, (_, dir)) in values.iter().zip(&spec.keys) {
            let mut next_prefixes = Vec::with_capacity(prefixes.len() * vs.len());
            for p in &prefixes {
                for v in vs {
                    let mut k = p.clone();
                    k.extend_from_slice(&component(v, *dir));
                    next_prefixes.push(k);
                }
            }
            prefixes = next_prefixes;
        }
        prefixes.sort();
        prefixes.dedup();
        let ranges: Vec<KeyRange> = prefixes
            .into_iter()
            .map(|prefix| {
                if range {
                    let (lo_bracket, hi_bracket) =
                        bracket_bounds(lower.or(upper).unwrap_or(&Value::Null));
                    let lo = lower.map_or(lo_bracket, |v| component(v, Direction::Asc));
                    let hi = upper.map_or(hi_bracket, |v| {
                        let mut c = component(v, Direction::Asc);
                        c.push(0xff);
                        c
                    });
                    (
                        Bound::Included([prefix.as_slice(), &lo].concat()),
                        Bound::Excluded([prefix.as_slice(), &hi].concat()),
                    )
                } else if prefix.is_empty() {
                    (Bound::Unbounded, Bound::Unbounded)
                } else {
                    let mut hi = prefix.clone();
                    hi.push(0xff);
                    (Bound::Included(prefix), Bound::Excluded(hi))
                }
            })
            .collect();
        let ordered = (same || reversed) && ranges.len() == 1;
        let ties_in_order = ordered && same && sort_keys.len() == tail.len();
        let reverse = reversed && !same;
        let score = equalities * 4 + usize::from(range) * 2 + usize::from(ordered);
        let scan = IndexScan {
            index: spec.name.clone(),
            ranges,
            reverse,
            ordered,
            ties_in_order,
            equalities,
            range,
        };
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, scan));
        }
    }
    best.map(|(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(filter: Value, indexes: &[(&str, &[(&str, Direction)])]) -> Option<IndexScan> {
        let specs: Vec<IndexSpec> = indexes
            .iter()
            .map(|(name, keys)| IndexSpec::new(name, keys, false).unwrap())
            .collect();
        choose(
            &Filter::from_builder(&filter).unwrap(),
            &Sort::default(),
            &specs,
            &|_| false,
        )
    }

    #[test]
    fn nested_conjunctions_are_planned() {
        let age: &[(&str, &[(&str, Direction)])] = &[("age", &[("age", Direction::Asc)])];
        // Two bounds on the indexed field (one is used: see `choose`) beside another field.
        let scan =
            plan(json!({"age": {"$gte": 30}, "l": {"$in": [1, 2]}}), age).expect("the age index");
        assert_eq!((scan.index.as_str(), scan.range), ("age", true));
        // Two bounds narrow only one side (multikey entries): a scan instead, unless the index
        // gives the order or an equality prefix narrows it.
        let both = json!({"age": {"$gte": 30, "$lt": 37}, "l": {"$in": [1, 2]}});
        assert!(plan(both.clone(), age).is_none());
        let sorted = choose(
            &Filter::from_builder(&both).unwrap(),
            &Sort::new([("age", Direction::Asc)]).unwrap(),
            &[IndexSpec::new("age", &[("age", Direction::Asc)], false).unwrap()],
            &|_| false,
        )
        .expect("the index gives the order");
        assert!(sorted.ordered);
        let compound: &[(&str, &[(&str, Direction)])] =
            &[("l_age", &[("l", Direction::Asc), ("age", Direction::Asc)])];
        let scan = plan(both, compound).expect("equality prefix, then a range");
        assert_eq!((scan.equalities, scan.range), (1, true));
        let scan = plan(
            json!({"$and": [{"l": 1}, {"$and": [{"age": 3}, {"x": {"$gt": 1, "$lt": 2}}]}]}),
            age,
        )
        .expect("the age index");
        assert_eq!((scan.equalities, scan.range), (1, false));
        // A single-key index takes both bounds.
        let scan = choose(
            &Filter::from_builder(&json!({"age": {"$gt": 30, "$lte": 37}, "l": 1})).unwrap(),
            &Sort::default(),
            &[IndexSpec::new("age", &[("age", Direction::Asc)], false).unwrap()],
            &|name| name == "age",
        )
        .expect("both bounds");
        let [(Bound::Included(lo), Bound::Excluded(hi))] = scan.ranges.as_slice() else {
            panic!("one bounded range: {scan:?}");
        };
        assert!(lo.as_slice() < hi.as_slice());
        assert_eq!(
            lo.as_slice(),
            component(&json!(30), Direction::Asc).as_slice()
        );
        // Alternatives are not conjunctions.
        assert!(plan(json!({"$or": [{"age": 3}, {"l": 1}]}), age).is_none());
    }
}
