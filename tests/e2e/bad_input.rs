//! The bad-input catalogue: malformed input of every kind gets a typed error with its CloudBase
//! code and leaves the database exactly as it was (an export before and after compares equal).

use serde_json::{json, Value};
use yundb::{Db, Direction, Limits, Permission};

fn export(db: &Db) -> Value {
    let mut out = serde_json::Map::new();
    for name in db.list_collections().unwrap() {
        let c = db.collection(&name);
        let indexes: Vec<Value> = c
            .indexes()
            .unwrap()
            .iter()
            .map(yundb::IndexSpec::to_json)
            .collect();
        out.insert(name.clone(), json!({"permission": db.permission(&name).unwrap().to_json(), "indexes": indexes, "docs": c.query().get().unwrap()}));
    }
    json!({"seq": db.seq().unwrap(), "collections": out})
}

fn setup() -> Db {
    let db = Db::builder()
        .limits(Limits::unlimited())
        .max_depth(100)
        .memory()
        .unwrap();
    db.create_collection_with("c", Permission::ReadOnly)
        .unwrap();
    let c = db.collection("c");
    c.add_many([
        json!({"_id": "d", "n": 1, "s": "x", "arr": [1, 2], "o": {"k": 1}, "_openid": "u1"}),
        json!({"_id": 2, "n": 2, "u": "a"}),
    ])
    .unwrap();
    c.create_index("u", &[("u", Direction::Asc)], true).unwrap();
    db
}

type Case = (
    &'static str,
    &'static str,
    Box<dyn Fn(&Db) -> yundb::Result<()>>,
);

fn case(
    name: &'static str,
    code: &'static str,
    f: impl Fn(&Db) -> yundb::Result<()> + 'static,
) -> Case {
    (name, code, Box::new(f))
}

fn deep(levels: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..levels {
        v = json!({"a": v});
    }
    v
}

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    let mut v: Vec<Case> = Vec::new();
    // Queries (wire form).
    for (name, q, code) in [
        (
            "unknown operator",
            json!({"n": {"$bogus": 1}}),
            "DATABASE_INVALID_OPERRATOR",
        ),
        (
            "$where",
            json!({"$where": "1"}),
            "DATABASE_INVALID_OPERRATOR",
        ),
        (
            "geo",
            json!({"l": {"$geoWithin": {}}}),
            "DATABASE_INVALID_OPERRATOR",
        ),
        (
            "$type",
            json!({"n": {"$type": "int"}}),
            "DATABASE_INVALID_OPERRATOR",
        ),
        (
            "negative $size",
            json!({"arr": {"$size": -1}}),
            "INVALID_PARAM",
        ),
        (
            "fractional $size",
            json!({"arr": {"$size": 1.5}}),
            "INVALID_PARAM",
        ),
        (
            "$mod by zero",
            json!({"n": {"$mod": [0, 0]}}),
            "INVALID_PARAM",
        ),
        ("$mod shape", json!({"n": {"$mod": [1]}}), "INVALID_PARAM"),
        (
            "$in not an array",
            json!({"n": {"$in": 1}}),
            "INVALID_PARAM",
        ),
        (
            "$all not an array",
            json!({"n": {"$all": {}}}),
            "INVALID_PARAM",
        ),
        (
            "$elemMatch scalar",
            json!({"arr": {"$elemMatch": 1}}),
            "INVALID_PARAM",
        ),
        ("$not scalar", json!({"n": {"$not": 1}}), "INVALID_PARAM"),
        ("$not empty", json!({"n": {"$not": {}}}), "INVALID_PARAM"),
        ("bad regex", json!({"s": {"$regex": "("}}), "INVALID_PARAM"),
        (
            "regex flag",
            json!({"s": {"$regex": "a", "$options": "g"}}),
            "INVALID_PARAM",
        ),
        (
            "regex look-around",
            json!({"s": {"$regex": "(?=a)"}}),
            "INVALID_PARAM",
        ),
        (
            "$ne regex",
            json!({"s": {"$ne": {"$regex": "a", "$options": ""}}}),
            "INVALID_PARAM",
        ),
        ("empty $or", json!({"$or": []}), "INVALID_PARAM"),
        ("$and scalar", json!({"$and": 1}), "INVALID_PARAM"),
        (
            "mixed operator and field",
            json!({"n": {"$gt": 1, "x": 2}}),
            "DATABASE_INVALID_OPERRATOR",
        ),
        ("empty path segment", json!({"a..b": 1}), "INVALID_PARAM"),
        (
            "nested too deep",
            {
                let mut q = json!({"n": 1});
                for _ in 0..150 {
                    q = json!({"$and": [q]});
                }
                q
            },
            "INVALID_PARAM",
        ),
        (
            "$expr unknown",
            json!({"$expr": {"$bogus": 1}}),
            "DATABASE_INVALID_OPERRATOR",
        ),
        (
            "$expr arity",
            json!({"$expr": {"$gt": [1]}}),
            "INVALID_PARAM",
        ),
        (
            "bad EJSON number",
            json!({"n": {"$numberInt": "x"}}),
            "INVALID_PARAM",
        ),
        (
            "bad EJSON date",
            json!({"n": {"$date": "yesterday"}}),
            "INVALID_PARAM",
        ),
        ("query not an object", json!([1]), "INVALID_PARAM"),
        (
            "path too long",
            json!({ "a".repeat(1025): 1 }),
            "INVALID_PARAM",
        ),
        (
            "path too deep",
            json!({ vec!["a"; 101].join("."): 1 }),
            "INVALID_PARAM",
        ),
        (
            "$in too large",
            json!({"n": {"$in": (0..10_001).collect::<Vec<_>>()}}),
            "INVALID_PARAM",
        ),
    ] {
        v.push(case(name, code, move |db| {
            db.collection("c").where_wire(q.clone()).get().map(|_| ())
        }));
    }
    // Sorts, projections, watches.
    v.push(case("sort direction", "INVALID_PARAM", |db| {
        db.collection("c")
            .query()
            .order_by("n", "up")
            .get()
            .map(|_| ())
    }));
    v.push(case("sort path", "INVALID_PARAM", |db| {
        db.collection("c")
            .query()
            .order_by("a..b", "asc")
            .get()
            .map(|_| ())
    }));
    v.push(case("projection mix", "INVALID_PARAM", |db| {
        db.collection("c")
            .query()
            .field(json!({"a": 1, "b": 0}))
            .get()
            .map(|_| ())
    }));
    v.push(case("projection $slice", "INVALID_PARAM", |db| {
        db.collection("c")
            .query()
            .field(json!({"a": {"$slice": "x"}}))
            .get()
            .map(|_| ())
    }));
    v.push(case("watch with skip", "INVALID_PARAM", |db| {
        db.collection("c").query().skip(1).watch().map(|_| ())
    }));
    v.push(case("watch with field", "INVALID_PARAM", |db| {
        db.collection("c")
            .query()
            .field(json!({"n": 1}))
            .watch()
            .map(|_| ())
    }));
    // Updates.
    for (name, u, code) in [
        ("empty update", json!({}), "INVALID_PARAM"),
        ("update _id", json!({"$set": {"_id": 9}}), "INVALID_PARAM"),
        (
            "unknown modifier",
            json!({"$bogus": {"n": 1}}),
            "DATABASE_INVALID_OPERRATOR",
        ),
        (
            "conflict",
            json!({"$set": {"o": 1}, "$inc": {"o.k": 1}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            "path through scalar",
            json!({"$set": {"n.x": 1}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            "path through array",
            json!({"$set": {"arr.x": 1}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            "$inc string",
            json!({"$inc": {"s": 1}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            "$inc operand",
            json!({"$inc": {"n": "1"}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            "$push to scalar",
            json!({"$push": {"n": 1}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            "$pop 2",
            json!({"$pop": {"arr": 2}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            "$pull scalar",
            json!({"$pull": {"s": 1}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            "$rename onto itself",
            json!({"$rename": {"n": "n"}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            "$bit float",
            json!({"$bit": {"n": {"and": 1.5}}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            "positional without query",
            json!({"$set": {"arr.$": 1}}),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            "array padding",
            json!({"$set": {"arr.99999999": 1}}),
            "INVALID_PARAM",
        ),
        (
            "filtered positional",
            json!({"$set": {"arr.$[x]": 1}}),
            "INVALID_PARAM",
        ),
        (
            "unique violation",
            json!({"$set": {"u": "a"}}),
            "DATABASE_DUPLICATE_WRITE",
        ),
        (
            "bad field name in value",
            json!({"$set": {"o": {"a.b": 1}}}),
            "INVALID_PARAM",
        ),
        (
            "deep value",
            json!({"$set": {"o": deep(120)}}),
            "INVALID_PARAM",
        ),
        (
            "NaN",
            json!({"$set": {"n": {"$numberDouble": "NaN"}}}),
            "INVALID_PARAM",
        ),
        (
            "infinity",
            json!({"$set": {"n": {"$numberDouble": "Infinity"}}}),
            "INVALID_PARAM",
        ),
        (
            "decimal",
            json!({"$set": {"n": {"$numberDecimal": "1"}}}),
            "INVALID_PARAM",
        ),
    ] {
        v.push(case(name, code, move |db| {
            db.collection("c").doc("d").update(u.clone()).map(|_| ())
        }));
    }
    v.push(case("set with operator", "DATABASE_REQUEST_FAILED", |db| {
        db.collection("c")
            .doc("d")
            .set(json!({"n": {"$inc": 1}}))
            .map(|_| ())
    }));
    v.push(case("set other _id", "INVALID_PARAM", |db| {
        db.collection("c")
            .doc("d")
            .set(json!({"_id": "e"}))
            .map(|_| ())
    }));
    v.push(case("set non-object", "INVALID_PARAM", |db| {
        db.collection("c").doc("d").set(json!("x")).map(|_| ())
    }));
    v.push(case(
        "multi update failing on one",
        "DATABASE_REQUEST_FAILED",
        |db| {
            db.collection("c")
                .query()
                .update(json!({"$inc": {"s": 1}}))
                .map(|_| ())
        },
    ));
    // Ids and documents.
    for (name, doc, code) in [
        (
            "duplicate _id",
            json!({"_id": "d"}),
            "DATABASE_DUPLICATE_WRITE",
        ),
        (
            "duplicate numeric _id",
            json!({"_id": 2.0}),
            "DATABASE_DUPLICATE_WRITE",
        ),
        ("bool _id", json!({"_id": true}), "INVALID_PARAM"),
        ("null _id", json!({"_id": null}), "INVALID_PARAM"),
        ("array _id", json!({"_id": [1]}), "INVALID_PARAM"),
        ("object _id", json!({"_id": {"a": 1}}), "INVALID_PARAM"),
        (
            "long _id",
            json!({"_id": "x".repeat(1025)}),
            "INVALID_PARAM",
        ),
        ("$ key", json!({"$a": 1}), "INVALID_PARAM"),
        ("dotted key", json!({"a.b": 1}), "INVALID_PARAM"),
        ("empty key", json!({"": 1}), "INVALID_PARAM"),
        ("NUL key", json!({"a\u{0}": 1}), "INVALID_PARAM"),
        ("nested $ key", json!({"o": [{"$x": 1}]}), "INVALID_PARAM"),
        ("too deep", deep(101), "INVALID_PARAM"),
        (
            "too large",
            json!({"big": "x".repeat(17 * 1024 * 1024)}),
            "INVALID_PARAM",
        ),
        ("array document", json!([1, 2]), "INVALID_PARAM"),
        ("string document", json!("doc"), "INVALID_PARAM"),
        ("number document", json!(5), "INVALID_PARAM"),
        ("null document", json!(null), "INVALID_PARAM"),
        (
            "unique key taken",
            json!({"u": "a"}),
            "DATABASE_DUPLICATE_WRITE",
        ),
        (
            "EJSON NaN",
            json!({"n": {"$numberDouble": "NaN"}}),
            "INVALID_PARAM",
        ),
        (
            "EJSON bad long",
            json!({"n": {"$numberLong": "1.5"}}),
            "INVALID_PARAM",
        ),
        (
            "EJSON bad oid",
            json!({"n": {"$oid": "xyz"}}),
            "INVALID_PARAM",
        ),
        (
            "EJSON binary",
            json!({"n": {"$binary": {}}}),
            "INVALID_PARAM",
        ),
        (
            "bad regular expression wrapper",
            json!({"r": {"$regularExpression": {"pattern": 1}}}),
            "INVALID_PARAM",
        ),
    ] {
        v.push(case(name, code, move |db| {
            db.collection("c").add(doc.clone()).map(|_| ())
        }));
    }
    v.push(case("batch with one bad", "INVALID_PARAM", |db| {
        db.collection("c")
            .add_many([json!({"_id": "ok1"}), json!({"$x": 1})])
            .map(|_| ())
    }));
    for (name, id) in [
        ("bool id", json!(true)),
        ("null id", json!(null)),
        ("object id", json!({})),
        ("array id", json!([])),
    ] {
        v.push(case(name, "INVALID_PARAM", move |db| {
            db.collection("c").doc(id.clone()).get().map(|_| ())
        }));
    }
    // Collection names.
    for name in [
        "",
        "-x",
        "a.b",
        "a/b",
        "a b",
        "名字",
        "x".repeat(65).leak() as &str,
    ] {
        v.push(case("collection name", "INVALID_PARAM", move |db| {
            db.create_collection(name)
        }));
    }
    v.push(case(
        "existing collection",
        "DATABASE_REQUEST_FAILED",
        |db| db.create_collection("c"),
    ));
    v.push(case(
        "missing collection",
        "DATABASE_COLLECTION_NOT_EXIST",
        |db| db.collection("nope").add(json!({})).map(|_| ()),
    ));
    v.push(case(
        "missing collection query",
        "DATABASE_COLLECTION_NOT_EXIST",
        |db| db.collection("nope").query().get().map(|_| ()),
    ));
    // Wrong caller.
    v.push(case(
        "user creates collection",
        "DATABASE_PERMISSION_DENIED",
        |db| db.as_user("u1").create_collection("x"),
    ));
    v.push(case(
        "user drops collection",
        "DATABASE_PERMISSION_DENIED",
        |db| db.as_user("u1").drop_collection("c").map(|_| ()),
    ));
    v.push(case(
        "user sets permission",
        "DATABASE_PERMISSION_DENIED",
        |db| db.as_user("u1").set_permission("c", Permission::AdminOnly),
    ));
    v.push(case(
        "user creates index",
        "DATABASE_PERMISSION_DENIED",
        |db| {
            db.as_user("u1")
                .collection("c")
                .create_index("n", &[("n", Direction::Asc)], false)
        },
    ));
    v.push(case(
        "user forges _openid",
        "DATABASE_PERMISSION_DENIED",
        |db| {
            db.as_user("u1")
                .collection("c")
                .add(json!({"_openid": "u2"}))
                .map(|_| ())
        },
    ));
    v.push(case(
        "user changes _openid",
        "DATABASE_PERMISSION_DENIED",
        |db| {
            db.as_user("u1")
                .collection("c")
                .doc("d")
                .update(json!({"_openid": "u2"}))
                .map(|_| ())
        },
    ));
    v.push(case(
        "user batch update",
        "DATABASE_PERMISSION_DENIED",
        |db| {
            db.as_user("u1")
                .collection("c")
                .query()
                .update(json!({"n": 5}))
                .map(|_| ())
        },
    ));
    // Permissions and indexes.
    v.push(case("bad rule", "INVALID_PARAM", |db| {
        db.set_permission("c", Permission::Custom(json!({"read": "doc.a =="})))
    }));
    v.push(case("unknown mode", "INVALID_PARAM", |_| {
        Permission::from_json(&json!("OPEN")).map(|_| ())
    }));
    v.push(case("index exists", "INVALID_PARAM", |db| {
        db.collection("c")
            .create_index("u", &[("n", Direction::Asc)], false)
    }));
    v.push(case("index name", "INVALID_PARAM", |db| {
        db.collection("c")
            .create_index("", &[("n", Direction::Asc)], false)
    }));
    v.push(case(
        "unique over duplicates",
        "DATABASE_DUPLICATE_WRITE",
        |db| {
            db.collection("c")
                .create_index("o", &[("missing", Direction::Asc)], true)
        },
    ));
    // Wire requests.
    for (name, req, code) in [
        ("no action", json!({"params": {}}), "INVALID_PARAM"),
        (
            "unknown action",
            json!({"action": "database.bogus", "params": {"collectionName": "c"}}),
            "INVALID_PARAM",
        ),
        (
            "no collection",
            json!({"action": "database.getDocument", "params": {}}),
            "INVALID_PARAM",
        ),
        (
            "query string not JSON",
            json!({"action": "database.getDocument", "params": {"collectionName": "c", "query": "{bad"}}),
            "INVALID_PARAM",
        ),
        (
            "negative limit",
            json!({"action": "database.getDocument", "params": {"collectionName": "c", "limit": -1}}),
            "INVALID_PARAM",
        ),
        (
            "fractional offset",
            json!({"action": "database.getDocument", "params": {"collectionName": "c", "offset": 1.5}}),
            "INVALID_PARAM",
        ),
        (
            "bad order",
            json!({"action": "database.getDocument", "params": {"collectionName": "c", "order": {"n": 2}}}),
            "INVALID_PARAM",
        ),
        (
            "data string not JSON",
            json!({"action": "database.insertDocument", "params": {"collectionName": "c", "data": ["{bad"]}}),
            "INVALID_PARAM",
        ),
        (
            "plain key beside a modifier",
            json!({"action": "database.modifyDocument", "params": {"collectionName": "c", "queryType": "DOC", "query": {"_id": "d"}, "data": {"$set": {"n": 1}, "x": 1}, "merge": true}}),
            "DATABASE_INVALID_OPERRATOR",
        ),
        (
            "replacement without _id",
            json!({"action": "database.modifyDocument", "params": {"collectionName": "c", "query": {"n": 1}, "data": {"a": 1}, "merge": false}}),
            "INVALID_PARAM",
        ),
    ] {
        v.push(case(name, code, move |db| {
            yundb::wire::execute(db, &req).map(|_| ())
        }));
    }
    v
}

#[test]
fn every_bad_input_is_a_typed_error_and_changes_nothing() {
    let cases = cases();
    assert!(cases.len() >= 100, "{} cases", cases.len());
    for (name, code, f) in &cases {
        let db = setup();
        let before = export(&db);
        match f(&db) {
            Ok(()) => panic!("{name}: accepted"),
            Err(e) => assert_eq!(e.code(), *code, "{name}: {e}"),
        }
        assert_eq!(export(&db), before, "{name}: the database changed");
    }
    println!("bad input: {} cases", cases.len());
}
