use proptest::prelude::*;
use serde_json::{json, Value};

use super::Filter;

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..3).prop_map(Value::from),
        (-3i64..3).prop_map(|i| Value::from(i as f64 + 0.5)),
        "[ab]{0,2}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec(("[ab]", inner), 0..3)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn arb_doc() -> impl Strategy<Value = Value> {
    prop::collection::vec(("[ab]", arb_value()), 0..3)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

fn arb_path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("a.b".to_owned()),
        Just("a.0".to_owned()),
        Just("b.a.1".to_owned())
    ]
}

fn arb_leaf() -> impl Strategy<Value = Value> {
    (
        arb_path(),
        prop_oneof![
            Just("$eq"),
            Just("$ne"),
            Just("$gt"),
            Just("$lte"),
            Just("$in"),
            Just("$exists"),
            Just("$size")
        ],
        arb_value(),
    )
        .prop_map(|(p, op, v)| {
            let operand = match op {
                "$in" => json!([v]),
                "$exists" => json!(v.is_null()),
                "$size" => json!(v.as_i64().map_or(0, i64::abs)),
                _ => v,
            };
            json!({ p: { op: operand } })
        })
}

fn m(q: &Value, doc: &Value) -> bool {
    Filter::from_wire(q).unwrap().matches(doc)
}

proptest! {
    #[test]
    fn nor_is_negation(f in arb_leaf(), doc in arb_doc()) {
        prop_assert_eq!(m(&json!({"$nor": [f.clone()]}), &doc), !m(&f, &doc));
    }

    #[test]
    fn and_or_are_boolean(f in arb_leaf(), g in arb_leaf(), doc in arb_doc()) {
        let (a, b) = (m(&f, &doc), m(&g, &doc));
        prop_assert_eq!(m(&json!({"$and": [f.clone(), g.clone()]}), &doc), a && b);
        prop_assert_eq!(m(&json!({"$or": [f, g]}), &doc), a || b);
    }

    #[test]
    fn in_singleton_is_eq(path in arb_path(), x in arb_value(), doc in arb_doc()) {
        prop_assume!(!x.is_object() || x.as_object().is_some_and(|o| o.keys().all(|k| !k.starts_with('$'))));
        prop_assert_eq!(m(&json!({ path.clone(): {"$in": [x.clone()]} }), &doc), m(&json!({ path: {"$eq": x} }), &doc));
    }

    #[test]
    fn ne_is_not_eq(path in arb_path(), x in arb_value(), doc in arb_doc()) {
        prop_assert_eq!(m(&json!({ path.clone(): {"$ne": x.clone()} }), &doc), !m(&json!({ path: {"$eq": x} }), &doc));
    }

    #[test]
    fn builder_flattening_is_the_dot_path_form(a in arb_value(), b in arb_value(), doc in arb_doc()) {
        prop_assume!(!a.is_object() && !b.is_object());
        let nested = Filter::from_builder(&json!({"a": {"b": a.clone(), "a": {"b": b.clone()}}})).unwrap();
        let dotted = Filter::from_wire(&json!({"a.b": a, "a.a.b": b})).unwrap();
        prop_assert_eq!(nested.matches(&doc), dotted.matches(&doc));
    }

    #[test]
    fn compile_never_panics(q in arb_doc(), ops in prop::collection::vec(("\\$[a-z]{2,6}", arb_value()), 0..3), doc in arb_doc()) {
        let with_ops = Value::Object(ops.into_iter().collect());
        for query in [q, with_ops.clone(), json!({"a": with_ops})] {
            if let Ok(f) = Filter::from_wire(&query) {
                let _ = f.matches(&doc);
            }
            if let Ok(f) = Filter::from_builder(&query) {
                let _ = f.matches(&doc);
            }
        }
    }
}

#[test]
fn nesting_past_the_limit_is_an_error() {
    let mut q = json!({"a": 1});
    for _ in 0..150 {
        q = json!({"$and": [q]});
    }
    assert!(matches!(
        Filter::from_wire(&q),
        Err(crate::QueryError::TooDeep { .. })
    ));
}
