use serde_json::json;

use super::*;

fn apply(update: &Update, mut doc: Value) -> Result<(Value, Applied), UpdateError> {
    let applied = update.apply(&mut doc)?;
    Ok((doc, applied))
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
    assert_eq!(
        applied.updated_fields,
        json!({"a.b": 1, "a.c.d": 2, "data": 1})
            .as_object()
            .unwrap()
            .clone()
    );

    let u = Update::from_builder(&json!({"a": [1, {"b": 2}], "c": {}, "d": null})).unwrap();
    let (doc, _) = apply(&u, json!({"a": {"x": 1}, "c": {"k": 1}})).unwrap();
    assert_eq!(doc, json!({"a": [1, {"b": 2}], "c": {"k": 1}, "d": null}));
}

#[test]
fn empty_and_id_updates_are_rejected() {
    assert_eq!(Update::from_builder(&json!({})), Err(UpdateError::Empty));
    assert_eq!(
        Update::from_builder(&json!({"a": {}})),
        Err(UpdateError::Empty)
    );
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
}

#[test]
fn special_values_are_leaves() {
    let u = Update::from_builder(
        &json!({"when": {"$date": 5}, "loc": {"type": "Point", "coordinates": [1, 2]}}),
    )
    .unwrap();
    let (doc, _) = apply(&u, json!({"when": {"$date": 1}})).unwrap();
    assert_eq!(
        doc,
        json!({"when": {"$date": 5}, "loc": {"type": "Point", "coordinates": [1, 2]}})
    );
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
}

#[test]
fn paths_create_objects_and_pad_arrays() {
    let u =
        Update::from_wire(&json!({"$set": {"x.y.z": 1, "arr.3": "d", "objs.1.k": true}})).unwrap();
    let (doc, _) = apply(&u, json!({"arr": ["a"], "objs": [{"k": false}]})).unwrap();
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
