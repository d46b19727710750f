use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::error::UpdateError;
use crate::replay::replay;

fn apply(update: &Update, mut doc: Value) -> Result<(Value, Applied), UpdateError> {
    let applied = update.apply(&mut doc)?;
    Ok((doc, applied))
}

fn wire(u: Value, doc: Value) -> Result<Value, UpdateError> {
    apply(&Update::from_wire(&u)?, doc).map(|(d, _)| d)
}

#[test]
fn builder_form_deep_merges() {
    // spec §4.1 examples
    let u = Update::from_builder(&json!({"data": 1, "a": {"b": 1, "c": {"d": 2}}})).unwrap();
    let paths: Vec<_> = u.paths().map(FieldPath::as_str).collect();
    assert_eq!(paths, ["a.b", "a.c.d", "data"]);
    let (doc, applied) = apply(&u, json!({"_id": "x", "a": {"b": 0, "e": 5}})).unwrap();
    assert_eq!(
        doc,
        json!({"_id": "x", "a": {"b": 1, "e": 5, "c": {"d": 2}}, "data": 1})
    );
    // Reported at the highest point the update created: `a.c` did not exist.
    assert_eq!(
        applied.updated_fields,
        json!({"a.b": 1, "a.c": {"d": 2}, "data": 1})
            .as_object()
            .unwrap()
            .clone()
    );

    let u = Update::from_builder(&json!({"a": [1, {"b": 2}], "c": {}, "d": null})).unwrap();
    let (doc, _) = apply(&u, json!({"a": {"x": 1}, "c": {"k": 1}})).unwrap();
    assert_eq!(doc, json!({"a": [1, {"b": 2}], "c": {"k": 1}, "d": null}));
    let u = Update::from_builder(&json!({"a": {"b": {"$inc": 1}, "c": 2}, "n": {"$push": [1, 2]}, "s": {"$unshift": 0}, "t": {"$shift": true}})).unwrap();
    let (doc, _) = apply(&u, json!({"a": {"b": 1}, "n": [0], "s": [1], "t": [1, 2]})).unwrap();
    assert_eq!(
        doc,
        json!({"a": {"b": 2, "c": 2}, "n": [0, 1, 2], "s": [0, 1], "t": [2]})
    );
}

#[test]
fn empty_and_id_updates_are_rejected() {
    assert!(matches!(
        Update::from_builder(&json!({})),
        Err(UpdateError::Empty)
    ));
    assert!(matches!(
        Update::from_builder(&json!({"a": {}})),
        Err(UpdateError::Empty)
    ));
    assert!(matches!(
        Update::from_builder(&json!([1])),
        Err(UpdateError::NotAnObject { .. })
    ));
    assert!(matches!(
        Update::from_builder(&json!({"_id": 1})),
        Err(UpdateError::IdChange { .. })
    ));
    assert!(matches!(
        Update::from_wire(&json!({"$set": {"_id.x": 1}})),
        Err(UpdateError::IdChange { .. })
    ));
    assert!(matches!(
        Update::from_wire(&json!({"$rename": {"a": "_id"}})),
        Err(UpdateError::IdChange { .. })
    ));
}

#[test]
fn conflicts_are_rejected() {
    let e = Update::from_wire(&json!({"$set": {"a": 1}, "$unset": {"a.b": ""}})).unwrap_err();
    assert_eq!(
        e,
        UpdateError::Conflict {
            path: "a.b".into(),
            other: "a".into()
        }
    );
    assert!(Update::from_wire(&json!({"$set": {"a": 1, "ab": 2}})).is_ok());
    assert!(matches!(
        Update::from_wire(&json!({"$rename": {"a": "b"}, "$set": {"b.c": 1}})),
        Err(UpdateError::Conflict { .. })
    ));
}

#[test]
fn paths_create_objects_and_pad_arrays() {
    let doc = wire(
        json!({"$set": {"x.y.z": 1, "arr.3": "d", "objs.1.k": true}}),
        json!({"arr": ["a"], "objs": [{"k": false}]}),
    )
    .unwrap();
    assert_eq!(
        doc,
        json!({"arr": ["a", null, null, "d"], "objs": [{"k": false}, {"k": true}], "x": {"y": {"z": 1}}})
    );
}

#[test]
fn paths_through_scalars_fail_and_leave_the_document() {
    let u = Update::from_wire(&json!({"$set": {"a.b": 1, "c": 2}})).unwrap();
    for start in [json!({"a": 5}), json!({"a": null}), json!({"a": [1]})] {
        let mut doc = start.clone();
        assert!(
            matches!(
                u.apply(&mut doc),
                Err(UpdateError::PathThroughScalar { .. })
            ),
            "{start}"
        );
        assert_eq!(doc, start);
    }
}

#[test]
fn arithmetic() {
    assert_eq!(
        wire(
            json!({"$inc": {"a": 2, "b": 1.5, "new": 3}}),
            json!({"a": 1, "b": 1})
        )
        .unwrap(),
        json!({"a": 3, "b": 2.5, "new": 3})
    );
    assert_eq!(
        wire(json!({"$mul": {"a": 2, "b": 1.5}}), json!({"a": 3})).unwrap(),
        json!({"a": 6, "b": 0.0})
    );
    assert!(matches!(
        wire(json!({"$inc": {"a": 1}}), json!({"a": i64::MAX})),
        Err(UpdateError::Overflow { .. })
    ));
    assert!(matches!(
        wire(json!({"$inc": {"a": 1}}), json!({"a": "x"})),
        Err(UpdateError::TypeMismatch { .. })
    ));
    assert!(matches!(
        Update::from_wire(&json!({"$inc": {"a": "1"}})),
        Err(UpdateError::BadOperand { .. })
    ));
    assert_eq!(
        wire(
            json!({"$min": {"a": 1, "b": 9}, "$max": {"c": "z"}}),
            json!({"a": 5, "b": 3, "c": 10})
        )
        .unwrap(),
        json!({"a": 1, "b": 3, "c": "z"})
    );
    assert_eq!(
        wire(
            json!({"$bit": {"a": {"and": 6, "or": 1}}}),
            json!({"a": 13})
        )
        .unwrap(),
        json!({"a": 5})
    );
}

#[test]
fn arrays() {
    let start = json!({"a": [3, 1, 2], "o": [{"k": 2}, {"k": 1}]});
    assert_eq!(
        wire(
            json!({"$push": {"a": {"$each": [5, 0], "$position": 1, "$sort": 1, "$slice": 4}}}),
            start.clone()
        )
        .unwrap()["a"],
        json!([0, 1, 2, 3])
    );
    assert_eq!(
        wire(
            json!({"$push": {"o": {"$each": [{"k": 0}], "$sort": {"k": -1}}}}),
            start.clone()
        )
        .unwrap()["o"],
        json!([{"k": 2}, {"k": 1}, {"k": 0}])
    );
    assert_eq!(
        wire(json!({"$push": {"a": [9]}}), start.clone()).unwrap()["a"],
        json!([3, 1, 2, [9]])
    );
    assert_eq!(
        wire(
            json!({"$addToSet": {"a": {"$each": [1, 4, 4]}}}),
            start.clone()
        )
        .unwrap()["a"],
        json!([3, 1, 2, 4])
    );
    assert_eq!(
        wire(json!({"$pop": {"a": -1}}), start.clone()).unwrap()["a"],
        json!([1, 2])
    );
    assert_eq!(
        wire(json!({"$pull": {"a": {"$gte": 2}}}), start.clone()).unwrap()["a"],
        json!([1])
    );
    assert_eq!(
        wire(json!({"$pull": {"o": {"k": 1}}}), start.clone()).unwrap()["o"],
        json!([{"k": 2}])
    );
    assert_eq!(
        wire(json!({"$pullAll": {"a": [1, 3]}}), start.clone()).unwrap()["a"],
        json!([2])
    );
    assert!(matches!(
        wire(json!({"$push": {"n": 1}}), json!({"n": 5})),
        Err(UpdateError::TypeMismatch { .. })
    ));
    assert!(matches!(
        wire(json!({"$pull": {"n": 1}}), json!({"n": 5})),
        Err(UpdateError::TypeMismatch { .. })
    ));
    assert!(matches!(
        Update::from_wire(&json!({"$pop": {"a": 2}})),
        Err(UpdateError::BadOperand { .. })
    ));
    let words = json!({"w": ["apple", "Avocado", "pear", {"$regex": "^a", "$options": "i"}]});
    assert_eq!(
        wire(
            json!({"$pull": {"w": {"$regex": "^a", "$options": "i"}}}),
            words
        )
        .unwrap()["w"],
        json!(["pear"])
    );
    assert!(
        matches!(
            Update::from_wire(&json!({"$pull": {"w": {"$regex": "("}}})),
            Err(UpdateError::BadOperand { .. })
        ),
        "a bad regex fails when the update compiles"
    );
}

#[test]
fn rename_and_positional() {
    assert_eq!(
        wire(
            json!({"$rename": {"a.b": "c"}}),
            json!({"a": {"b": 1, "x": 2}})
        )
        .unwrap(),
        json!({"a": {"x": 2}, "c": 1})
    );
    assert_eq!(
        wire(json!({"$rename": {"missing": "c"}}), json!({"a": 1})).unwrap(),
        json!({"a": 1})
    );
    assert_eq!(
        wire(
            json!({"$inc": {"a.$[].n": 1}}),
            json!({"a": [{"n": 1}, {"n": 2}]})
        )
        .unwrap(),
        json!({"a": [{"n": 2}, {"n": 3}]})
    );
    let filter = Filter::from_wire(&json!({"a.n": 2})).unwrap();
    let u = Update::from_wire(&json!({"$set": {"a.$.n": 20}})).unwrap();
    let mut doc = json!({"a": [{"n": 1}, {"n": 2}, {"n": 2}]});
    u.apply_with(
        &mut doc,
        &ApplyContext {
            filter: Some(&filter),
            ..ApplyContext::default()
        },
    )
    .unwrap();
    assert_eq!(doc, json!({"a": [{"n": 1}, {"n": 20}, {"n": 2}]}));
    assert!(matches!(
        u.apply(&mut doc),
        Err(UpdateError::Positional { .. })
    ));
}

#[test]
fn unset_and_noops() {
    let u = Update::from_wire(&json!({"$unset": {"a": "", "arr.1": "", "missing.x": ""}})).unwrap();
    let (doc, applied) = apply(&u, json!({"a": 1, "arr": [1, 2, 3]})).unwrap();
    assert_eq!(doc, json!({"arr": [1, null, 3]}));
    assert_eq!(applied.removed_fields, ["a", "arr.1"]);
    let u = Update::from_wire(&json!({"$set": {"a": 1}})).unwrap();
    let (_, applied) = apply(&u, json!({"a": 1})).unwrap();
    assert!(!applied.changed());
    let (_, applied) = apply(&u, json!({"a": 1.0})).unwrap();
    assert!(
        applied.changed(),
        "int and double are different stored values"
    );
}

#[test]
fn replacement_rejects_operators() {
    assert!(check_replacement(&json!({"a": {"b": [1, {"c": {"$date": 1}}]}})).is_ok());
    assert_eq!(
        check_replacement(&json!({"a": {"$inc": 1}})),
        Err(UpdateError::OperatorInReplacement { op: "$inc".into() })
    );
    assert!(check_replacement(&json!({"$set": {"a": 1}})).is_err());
}

fn small_doc() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        (-5i64..5).prop_map(Value::from),
        "[ab]".prop_map(Value::from)
    ];
    let inner = leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec(("[abc]", inner), 0..3)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    });
    prop::collection::vec(("[abc]", inner), 0..4)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

fn arb_update() -> impl Strategy<Value = Value> {
    let path = prop_oneof![
        Just("a"),
        Just("b"),
        Just("a.b"),
        Just("c.0"),
        Just("b.1.a"),
        Just("c")
    ];
    let value = prop_oneof![
        (-5i64..5).prop_map(Value::from),
        "[ab]".prop_map(Value::from),
        Just(json!([1, 2])),
        Just(json!({"x": 1}))
    ];
    let op = prop_oneof![
        Just("$set"),
        Just("$unset"),
        Just("$inc"),
        Just("$mul"),
        Just("$min"),
        Just("$max"),
        Just("$push"),
        Just("$addToSet"),
        Just("$pop"),
        Just("$pull"),
        Just("$pullAll"),
        Just("$rename")
    ];
    prop::collection::vec((op, path, value), 1..3).prop_map(|ops| {
        let mut out = serde_json::Map::new();
        for (op, path, v) in ops {
            let operand = match op {
                "$inc" | "$mul" => json!(v.as_i64().unwrap_or(2)),
                "$pop" => json!(if v.as_i64().unwrap_or(1) >= 0 { 1 } else { -1 }),
                "$pullAll" => json!([v]),
                "$rename" => json!("z"),
                _ => v,
            };
            out.entry(op)
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .map(|m| m.insert(path.to_owned(), operand));
        }
        Value::Object(out)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn inc_then_dec_is_identity(start in -1_000_000i64..1_000_000, n in -1_000_000i64..1_000_000) {
        let doc = json!({"a": start});
        let up = wire(json!({"$inc": {"a": n}}), doc.clone()).unwrap();
        prop_assert_eq!(wire(json!({"$inc": {"a": -n}}), up).unwrap(), doc);
    }

    #[test]
    fn add_to_set_is_idempotent(items in prop::collection::vec(-3i64..3, 0..5), v in -3i64..3) {
        let once = wire(json!({"$addToSet": {"a": v}}), json!({"a": items})).unwrap();
        prop_assert_eq!(wire(json!({"$addToSet": {"a": v}}), once.clone()).unwrap(), once);
    }

    #[test]
    fn push_then_pop_restores(items in prop::collection::vec(-3i64..3, 0..5), v in -3i64..3) {
        let doc = json!({"a": items});
        let pushed = wire(json!({"$push": {"a": v}}), doc.clone()).unwrap();
        prop_assert_eq!(wire(json!({"$pop": {"a": 1}}), pushed).unwrap(), doc);
    }

    #[test]
    fn builder_merge_is_the_set_form(a in -5i64..5, b in "[ab]", doc in small_doc()) {
        let builder = Update::from_builder(&json!({"a": {"b": a, "c": {"d": b.clone()}}, "e": [a]})).unwrap();
        let dotted = Update::from_wire(&json!({"$set": {"a.b": a, "a.c.d": b, "e": [a]}})).unwrap();
        let left = apply(&builder, doc.clone()).map(|(d, _)| d).ok();
        let right = apply(&dotted, doc).map(|(d, _)| d).ok();
        prop_assert_eq!(left, right);
    }

    #[test]
    fn reported_fields_replay_to_the_new_document(update in arb_update(), doc in small_doc()) {
        let Ok(u) = Update::from_wire(&update) else { return Ok(()) };
        let mut new = doc.clone();
        match u.apply(&mut new) {
            Ok(applied) => prop_assert_eq!(replay(&doc, &applied.updated_fields, &applied.removed_fields), new),
            Err(_) => prop_assert_eq!(new, doc, "a failed apply leaves the document"),
        }
    }
}
