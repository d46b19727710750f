//! Update commands through the facade: the bad-update catalogue (typed errors, nothing
//! written), positional updates, multi-document atomicity, upserts.

use serde_json::{json, Value};
use yundb::{cmd, Db};

fn start() -> Value {
    json!({"_id": "d", "n": 1, "big": i64::MAX, "s": "text", "arr": [1, 2, 3], "objs": [{"k": 1}, {"k": 2}], "o": {"x": 1}, "nil": null})
}

fn setup() -> Db {
    let db = Db::memory().unwrap();
    db.create_collection("c").unwrap();
    db.collection("c").add(start()).unwrap();
    db
}

fn modify(db: &Db, data: Value) -> yundb::Result<Value> {
    yundb::wire::execute(
        db,
        &json!({"action": "database.modifyDocument", "params": {"collectionName": "c", "queryType": "DOC", "query": {"_id": "d"}, "data": data, "merge": true, "multi": false, "upsert": false}}),
    )
}

#[test]
fn bad_updates_are_typed_errors_and_write_nothing() {
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "INVALID_PARAM"),
        (json!({"$set": {"_id": "e"}}), "INVALID_PARAM"),
        (json!({"$rename": {"n": "_id"}}), "INVALID_PARAM"),
        (json!({"$unset": {"_id": ""}}), "INVALID_PARAM"),
        (json!({"$bogus": {"n": 1}}), "DATABASE_INVALID_OPERRATOR"),
        (
            json!({"$set": {"n": 1}, "plain": 2}),
            "DATABASE_INVALID_OPERRATOR",
        ),
        (json!({"$set": 5}), "DATABASE_REQUEST_FAILED"),
        (
            json!({"$set": {"o": 1}, "$inc": {"o.x": 1}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            json!({"$set": {"a.b": 1, "a": 2}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            json!({"$rename": {"n": "m"}, "$set": {"m": 1}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (json!({"$rename": {"n": "n"}}), "DATABASE_REQUEST_FAILED"),
        (json!({"$rename": {"n": 5}}), "DATABASE_REQUEST_FAILED"),
        (
            json!({"$rename": {"objs.0.k": "z"}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (json!({"$set": {"n.x": 1}}), "DATABASE_REQUEST_FAILED"),
        (json!({"$set": {"nil.x": 1}}), "DATABASE_REQUEST_FAILED"),
        (json!({"$set": {"arr.x": 1}}), "DATABASE_REQUEST_FAILED"),
        (json!({"$set": {"a..b": 1}}), "INVALID_PARAM"),
        (json!({"$set": {"$x": 1}}), "INVALID_PARAM"),
        (json!({"$set": {"arr.$[i]": 1}}), "INVALID_PARAM"),
        (json!({"$set": {"arr.99999999": 1}}), "INVALID_PARAM"),
        (json!({"$set": {"arr.$": 1}}), "DATABASE_REQUEST_FAILED"),
        (json!({"$set": {"o.$[].x": 1}}), "DATABASE_REQUEST_FAILED"),
        (
            json!({"$set": {"missing.$[]": 1}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (json!({"$inc": {"n": "1"}}), "DATABASE_REQUEST_FAILED"),
        (json!({"$inc": {"s": 1}}), "DATABASE_REQUEST_FAILED"),
        (json!({"$inc": {"big": 1}}), "DATABASE_REQUEST_FAILED"),
        (json!({"$mul": {"big": 2}}), "DATABASE_REQUEST_FAILED"),
        (json!({"$mul": {"o": 2}}), "DATABASE_REQUEST_FAILED"),
        (json!({"$push": {"n": 1}}), "DATABASE_REQUEST_FAILED"),
        (
            json!({"$push": {"arr": {"$each": 1}}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            json!({"$push": {"arr": {"$each": [1], "$bogus": 1}}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            json!({"$push": {"arr": {"$each": [1], "$sort": 2}}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            json!({"$push": {"arr": {"$each": [1], "$position": "x"}}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            json!({"$push": {"arr": {"$slice": 1}}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (json!({"$addToSet": {"s": 1}}), "DATABASE_REQUEST_FAILED"),
        (
            json!({"$addToSet": {"arr": {"$each": 3}}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (json!({"$pop": {"arr": 2}}), "DATABASE_REQUEST_FAILED"),
        (json!({"$pop": {"s": 1}}), "DATABASE_REQUEST_FAILED"),
        (json!({"$pull": {"n": 1}}), "DATABASE_REQUEST_FAILED"),
        (
            json!({"$pull": {"arr": {"$bogus": 1}}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (json!({"$pullAll": {"arr": 1}}), "DATABASE_REQUEST_FAILED"),
        (json!({"$pullAll": {"s": [1]}}), "DATABASE_REQUEST_FAILED"),
        (
            json!({"$bit": {"n": {"nand": 1}}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            json!({"$bit": {"n": {"and": 1.5}}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            json!({"$bit": {"s": {"and": 1}}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            json!({"$currentDate": {"n": "yes"}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (json!({"$set": {"n": {"$numberInt": "x"}}}), "INVALID_PARAM"),
        (json!({"$set": {"o": {"bad.key": 1}}}), "INVALID_PARAM"),
    ];
    assert!(cases.len() >= 40);
    for (data, code) in cases {
        let db = setup();
        let seq = db.seq().unwrap();
        let e = modify(&db, data.clone()).expect_err(&data.to_string());
        assert_eq!(e.code(), code, "{data}: {e}");
        assert_eq!(
            db.collection("c").doc("d").get().unwrap().unwrap(),
            start(),
            "{data} changed the document"
        );
        assert_eq!(db.seq().unwrap(), seq, "{data} committed");
    }
}

#[test]
fn builder_commands() {
    let db = setup();
    let c = db.collection("c");
    c.doc("d")
        .update(json!({
            "n": cmd::inc(2),
            "arr": cmd::push([4, 5]),
            "objs": cmd::pull(json!({"k": 1})),
            "o": {"x": cmd::mul(10), "y": cmd::set(json!({"deep": true}))},
            "s": cmd::remove(),
            "tags": cmd::add_to_set("t"),
        }))
        .unwrap();
    let doc = c.doc("d").get().unwrap().unwrap();
    assert_eq!(doc["n"], 3);
    assert_eq!(doc["arr"], json!([1, 2, 3, 4, 5]));
    assert_eq!(doc["objs"], json!([{"k": 2}]));
    assert_eq!(doc["o"], json!({"x": 10, "y": {"deep": true}}));
    assert!(doc.get("s").is_none());
    assert_eq!(doc["tags"], json!(["t"]));
    c.doc("d")
        .update(json!({"arr": cmd::pop(), "tags": cmd::unshift(["a"])}))
        .unwrap();
    c.doc("d").update(json!({"arr": cmd::shift(), "n": cmd::max(10), "big": cmd::min(0), "o": cmd::rename("p")})).unwrap();
    let doc = c.doc("d").get().unwrap().unwrap();
    assert_eq!(doc["arr"], json!([2, 3, 4]));
    assert_eq!(doc["tags"], json!(["a", "t"]));
    assert_eq!(
        (doc["n"].clone(), doc["big"].clone()),
        (json!(10), json!(0))
    );
    assert_eq!(doc["p"], json!({"x": 10, "y": {"deep": true}}));
    c.doc("d")
        .update(json!({"arr": cmd::pull_all([2, 4]), "n": cmd::push_with(json!({"$each": [1]}))}))
        .unwrap_err();
    c.doc("d")
        .update(json!({"arr": cmd::push_with(json!({"$each": [9, 0], "$sort": 1, "$slice": -3}))}))
        .unwrap();
    assert_eq!(c.doc("d").get().unwrap().unwrap()["arr"], json!([3, 4, 9]));
}

#[test]
fn positional_updates_use_the_query() {
    let db = setup();
    let c = db.collection("c");
    let r = c
        .where_(json!({"objs.k": 2}))
        .update(json!({"$set": {"objs.$.k": 20}}))
        .unwrap();
    assert_eq!(r.updated, 1);
    assert_eq!(
        c.doc("d").get().unwrap().unwrap()["objs"],
        json!([{"k": 1}, {"k": 20}])
    );
    c.where_(json!({"arr": 2}))
        .update(json!({"$inc": {"arr.$": 100}}))
        .unwrap();
    assert_eq!(
        c.doc("d").get().unwrap().unwrap()["arr"],
        json!([1, 102, 3])
    );
    c.doc("d")
        .update(json!({"$inc": {"objs.$[].k": 1}}))
        .unwrap();
    assert_eq!(
        c.doc("d").get().unwrap().unwrap()["objs"],
        json!([{"k": 2}, {"k": 21}])
    );
    let e = c
        .doc("d")
        .update(json!({"$set": {"objs.$.k": 0}}))
        .unwrap_err();
    assert_eq!(
        e.code(),
        "DATABASE_REQUEST_FAILED",
        "doc(id) has no array condition for $"
    );
}

#[test]
fn upserts_and_multi() {
    let db = setup();
    let exec = |params: Value| {
        yundb::wire::execute(
            &db,
            &json!({"action": "database.modifyDocument", "params": params}),
        )
        .unwrap()
    };
    let r = exec(
        json!({"collectionName": "c", "queryType": "WHERE", "query": {"team": "x", "n": {"$gt": 5}}, "data": {"$set": {"v": 1}, "$setOnInsert": {"created": true}}, "merge": true, "upsert": true, "multi": true}),
    );
    let id = r["upserted_id"].clone();
    assert!(id.is_string(), "{r}");
    let doc = db.collection("c").doc(id).get().unwrap().unwrap();
    assert_eq!(
        (
            doc["team"].clone(),
            doc["v"].clone(),
            doc["created"].clone()
        ),
        (json!("x"), json!(1), json!(true))
    );
    assert!(doc.get("n").is_none(), "only equalities seed an upsert");
    let r = exec(
        json!({"collectionName": "c", "queryType": "WHERE", "query": {"team": "x"}, "data": {"$set": {"v": 2}, "$setOnInsert": {"created": false}}, "merge": true, "upsert": true, "multi": true}),
    );
    assert_eq!(
        (
            r["matched"].clone(),
            r["updated"].clone(),
            r["upserted_id"].clone()
        ),
        (json!(1), json!(1), Value::Null)
    );
    let r = exec(
        json!({"collectionName": "c", "queryType": "DOC", "query": {"_id": "new"}, "data": {"name": "set"}, "merge": false, "upsert": true}),
    );
    assert_eq!(r["upserted_id"], json!("new"));
    let r = yundb::wire::execute(&db, &json!({"action": "database.modifyAndReturnDoc", "params": {"collectionName": "c", "queryType": "WHERE", "query": {"_id": "new"}, "data": {"$inc": {"hits": 1}}}})).unwrap();
    assert_eq!(r["doc"], json!({"_id": "new", "name": "set", "hits": 1}));
}
