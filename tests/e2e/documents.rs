//! Collections, documents, the caller context, values and limits.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use yundb::{Db, Error};

fn memory_with(name: &str) -> Db {
    let db = Db::memory().unwrap();
    db.create_collection(name).unwrap();
    db
}

fn code(e: &Error) -> &'static str {
    e.code()
}

fn crud_round_trip(db: &Db) {
    db.create_collection("books").unwrap();
    let books = db.collection("books");
    let id = books
        .add(json!({"title": "三体", "year": 2008, "tags": ["sf"]}))
        .unwrap();
    let given = books
        .add(json!({"_id": "b2", "title": "Ball Lightning"}))
        .unwrap();
    assert_eq!(given, json!("b2"));
    let numeric = books.add(json!({"_id": 7, "title": "Numbers"})).unwrap();
    assert_eq!(numeric, json!(7));
    assert_eq!(books.count().unwrap(), 3);

    let doc = books.doc(id.clone()).get().unwrap().unwrap();
    assert_eq!(
        doc,
        json!({"_id": id, "title": "三体", "year": 2008, "tags": ["sf"]})
    );
    assert_eq!(
        books.doc(7.0).get().unwrap().unwrap()["title"],
        "Numbers",
        "numeric ids match by value"
    );
    assert!(books.doc("7").get().unwrap().is_none(), "\"7\" is not 7");

    let r = books
        .doc(id.clone())
        .update(json!({"year": 2006, "meta": {"lang": "zh"}}))
        .unwrap();
    assert_eq!((r.matched, r.updated), (1, 1));
    let r = books.doc(id.clone()).update(json!({"year": 2006})).unwrap();
    assert_eq!(
        (r.matched, r.updated),
        (1, 0),
        "a no-op update changes nothing"
    );
    let r = books.doc("missing").update(json!({"year": 1})).unwrap();
    assert_eq!((r.matched, r.updated), (0, 0));

    let r = books.doc("b2").set(json!({"title": "球状闪电"})).unwrap();
    assert_eq!((r.matched, r.updated, r.created), (1, 1, 0));
    assert_eq!(
        books.doc("b2").get().unwrap().unwrap(),
        json!({"_id": "b2", "title": "球状闪电"})
    );
    let r = books.doc("b3").set(json!({"title": "new"})).unwrap();
    assert_eq!((r.matched, r.updated, r.created), (0, 0, 1));
    assert_eq!(
        books.doc("b3").get().unwrap().unwrap(),
        json!({"_id": "b3", "title": "new"})
    );

    assert_eq!(books.doc("b3").remove().unwrap().removed, 1);
    assert_eq!(books.doc("b3").remove().unwrap().removed, 0);
    assert!(books.doc("b3").get().unwrap().is_none());
    assert_eq!(books.count().unwrap(), 3);
    assert_eq!(db.list_collections().unwrap(), ["books"]);
}

#[test]
fn crud_round_trip_in_memory() {
    crud_round_trip(&Db::memory().unwrap());
}

#[test]
fn crud_round_trip_on_file() {
    let dir = tempfile::tempdir().unwrap();
    crud_round_trip(&Db::open(dir.path().join("db.redb")).unwrap());
}

#[test]
fn data_and_sequence_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    let seq = {
        let db = Db::open(&path).unwrap();
        db.create_collection("c").unwrap();
        db.collection("c").add(json!({"_id": "a", "n": 1})).unwrap();
        db.collection("c").doc("a").update(json!({"n": 2})).unwrap();
        let seq = db.seq().unwrap();
        assert_eq!(seq, 3, "create, add, update: one commit each");
        seq
    };
    let db = Db::open(&path).unwrap();
    assert_eq!(db.seq().unwrap(), seq);
    assert_eq!(
        db.collection("c").doc("a").get().unwrap().unwrap(),
        json!({"_id": "a", "n": 2})
    );
    db.collection("c").doc("a").remove().unwrap();
    assert_eq!(db.seq().unwrap(), seq + 1);
    db.collection("c").doc("a").remove().unwrap();
    assert_eq!(
        db.seq().unwrap(),
        seq + 1,
        "a write that changes nothing does not commit"
    );
}

#[test]
fn generated_ids_are_unique_across_threads() {
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                (0..25_000)
                    .map(|_| yundb::generate_id())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = HashSet::new();
    for t in threads {
        for id in t.join().unwrap() {
            assert_eq!(id.len(), 32);
            assert!(
                id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "{id}"
            );
            assert!(all.insert(id), "duplicate id");
        }
    }
    assert_eq!(all.len(), 100_000);
}

#[test]
fn added_ids_are_32_hex_and_distinct() {
    let db = memory_with("c");
    let c = db.collection("c");
    let ids = c.add_many((0..1000).map(|i| json!({"i": i}))).unwrap();
    let set: HashSet<_> = ids.iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(set.len(), 1000);
    assert!(set.iter().all(|id| id.len() == 32));
}

#[test]
fn duplicate_id_writes_nothing() {
    let db = memory_with("c");
    let c = db.collection("c");
    c.add(json!({"_id": "x", "v": 1})).unwrap();
    let seq = db.seq().unwrap();
    let e = c.add(json!({"_id": "x", "v": 2})).unwrap_err();
    assert_eq!(code(&e), "DATABASE_DUPLICATE_WRITE");
    let e = c
        .add(json!({"_id": 1}))
        .and_then(|_| c.add(json!({"_id": 1.0})))
        .unwrap_err();
    assert_eq!(
        code(&e),
        "DATABASE_DUPLICATE_WRITE",
        "1 and 1.0 are one _id"
    );
    assert_eq!(
        c.doc("x").get().unwrap().unwrap(),
        json!({"_id": "x", "v": 1})
    );
    assert_eq!(db.seq().unwrap(), seq + 1);
}

#[test]
fn add_many_is_all_or_nothing() {
    let db = memory_with("c");
    let c = db.collection("c");
    c.add(json!({"_id": "taken"})).unwrap();
    let bad_batches = [
        (json!({"_id": "taken"}), "DATABASE_DUPLICATE_WRITE"),
        (json!({"_id": "dup-in-batch"}), "DATABASE_DUPLICATE_WRITE"),
        (json!({"$bad": 1}), "INVALID_PARAM"),
        (json!({"_id": true}), "INVALID_PARAM"),
        (json!([1, 2]), "INVALID_PARAM"),
        (json!({"n": {"$numberInt": "x"}}), "INVALID_PARAM"),
    ];
    for (bad, expected) in bad_batches {
        let batch = vec![
            json!({"_id": "dup-in-batch", "n": 1}),
            json!({"n": 2}),
            bad.clone(),
            json!({"n": 3}),
        ];
        let e = c.add_many(batch).unwrap_err();
        assert_eq!(code(&e), expected, "{bad}");
        assert_eq!(
            c.count().unwrap(),
            1,
            "nothing of the batch with {bad} was written"
        );
    }
    assert_eq!(
        c.add_many(Vec::<Value>::new()).unwrap(),
        Vec::<Value>::new()
    );
}

#[test]
fn missing_collections() {
    let db = Db::memory().unwrap();
    let c = db.collection("nope");
    for e in [
        c.add(json!({})).unwrap_err(),
        c.doc("a").get().unwrap_err(),
        c.doc("a").update(json!({"a": 1})).unwrap_err(),
        c.doc("a").set(json!({"a": 1})).unwrap_err(),
        c.doc("a").remove().unwrap_err(),
        c.count().unwrap_err(),
    ] {
        assert_eq!(code(&e), "DATABASE_COLLECTION_NOT_EXIST");
        assert_eq!(e.err_code(), -502_005);
    }
    db.create_collection("yes").unwrap();
    assert_eq!(
        code(&db.create_collection("yes").unwrap_err()),
        "DATABASE_REQUEST_FAILED"
    );
    assert!(db.drop_collection("yes").unwrap());
    assert!(!db.drop_collection("yes").unwrap());
    for bad in ["", "-x", "a.b", "a b", &"x".repeat(65), "名字"] {
        assert_eq!(
            code(&db.create_collection(bad).unwrap_err()),
            "INVALID_PARAM",
            "{bad:?}"
        );
    }
    let auto = Db::builder().auto_create(true).memory().unwrap();
    auto.collection("fresh").add(json!({"_id": 1})).unwrap();
    assert_eq!(auto.list_collections().unwrap(), ["fresh"]);
}

#[test]
fn openid_is_stamped_and_immutable() {
    let db = memory_with("todos");
    let alice = db.as_user("o-alice").collection("todos");
    let id = alice.add(json!({"title": "mine"})).unwrap();
    assert_eq!(
        alice.doc(id.clone()).get().unwrap().unwrap()["_openid"],
        "o-alice"
    );
    alice
        .add(json!({"_id": "same", "_openid": "o-alice"}))
        .unwrap();

    let denied = [
        alice.add(json!({"_openid": "o-bob"})).unwrap_err(),
        alice.add(json!({"_openid": 5})).unwrap_err(),
        alice
            .doc(id.clone())
            .update(json!({"_openid": "o-bob"}))
            .unwrap_err(),
        alice
            .doc(id.clone())
            .update(json!({"$set": {"_openid.x": 1}}))
            .unwrap_err(),
        alice
            .doc(id.clone())
            .update(json!({"$unset": {"_openid": ""}}))
            .unwrap_err(),
        alice
            .doc(id.clone())
            .set(json!({"_openid": "o-bob"}))
            .unwrap_err(),
        db.as_user("o-alice").create_collection("x").unwrap_err(),
    ];
    for e in denied {
        assert_eq!(code(&e), "DATABASE_PERMISSION_DENIED", "{e}");
    }
    // set keeps the owner; another user cannot take the record over with set.
    alice
        .doc(id.clone())
        .set(json!({"title": "replaced"}))
        .unwrap();
    assert_eq!(
        alice.doc(id.clone()).get().unwrap().unwrap(),
        json!({"_id": id, "title": "replaced", "_openid": "o-alice"})
    );
    // Under the default PRIVATE permission bob's set is filtered to his own records: it
    // matches nothing and, as the record exists, creates nothing.
    let bob = db.as_user("o-bob").collection("todos");
    let r = bob.doc(id.clone()).set(json!({"title": "bob's"})).unwrap();
    assert_eq!((r.matched, r.updated, r.created), (0, 0, 0));
    assert_eq!(
        alice.doc(id.clone()).get().unwrap().unwrap()["title"],
        "replaced"
    );

    // Admin writes are not stamped, and admin may set `_openid`.
    let admin = db.collection("todos");
    let plain = admin.add(json!({"seed": 1})).unwrap();
    assert!(admin
        .doc(plain)
        .get()
        .unwrap()
        .unwrap()
        .get("_openid")
        .is_none());
    let owned = admin.add(json!({"_openid": "o-carol"})).unwrap();
    admin
        .doc(owned.clone())
        .update(json!({"_openid": "o-dave"}))
        .unwrap();
    assert_eq!(
        admin.doc(owned).get().unwrap().unwrap()["_openid"],
        "o-dave"
    );
}

#[test]
fn values_are_normalised_at_the_boundary() {
    let db = memory_with("c");
    let c = db.collection("c");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    c.add(json!({
        "_id": "v",
        "i": {"$numberInt": "5"}, "l": {"$numberLong": "9007199254740993"}, "d": {"$numberDouble": "2.5"},
        "when": {"$date": {"$numberLong": "1600000000000"}}, "iso": {"$date": "2021-11-01T02:05:35.934Z"},
        "server": {"$tcb_server_date": {"offset": {"$numberInt": "1000"}}}, "legacy": {"$date": {"offset": 0}},
        "re": {"$regularExpression": {"pattern": "^a", "options": "i"}},
        "nested": [{"n": {"$numberInt": "1"}}]
    }))
    .unwrap();
    let doc = c.doc("v").get().unwrap().unwrap();
    assert_eq!(doc["i"], 5);
    assert_eq!(doc["l"], 9_007_199_254_740_993_i64);
    assert_eq!(doc["d"], 2.5);
    assert_eq!(doc["when"], json!({"$date": 1_600_000_000_000_i64}));
    assert_eq!(doc["iso"], json!({"$date": 1_635_732_335_934_i64}));
    let server = doc["server"]["$date"].as_i64().unwrap();
    let legacy = doc["legacy"]["$date"].as_i64().unwrap();
    assert!(
        legacy >= before && server == legacy + 1000,
        "{server} {legacy} {before}"
    );
    assert_eq!(doc["re"], json!({"$regex": "^a", "$options": "i"}));
    assert_eq!(doc["nested"], json!([{"n": 1}]));
    c.doc("v")
        .update(json!({"i": {"$numberLong": "6"}}))
        .unwrap();
    assert_eq!(c.doc("v").get().unwrap().unwrap()["i"], 6);
}

#[test]
fn limits_are_enforced() {
    let db = Db::builder()
        .max_document_bytes(1000)
        .max_depth(4)
        .memory()
        .unwrap();
    db.create_collection("c").unwrap();
    let c = db.collection("c");
    let cases = [
        json!({"big": "x".repeat(1000)}),
        json!({"a": {"b": {"c": {"d": {"e": 1}}}}}),
        json!({"a": [[[[1]]]]}),
        json!({"$set": 1}),
        json!({"a.b": 1}),
        json!({"": 1}),
        json!({"nul\u{0}": 1}),
        json!({"_id": "x".repeat(1025)}),
        json!({"_id": null}),
        json!({"_id": {"a": 1}}),
        json!({"n": {"$numberDouble": "Infinity"}}),
        json!({"n": {"$numberDecimal": "1.0"}}),
    ];
    for doc in cases {
        let e = c.add(doc.clone()).unwrap_err();
        assert_eq!(code(&e), "INVALID_PARAM", "{doc}: {e}");
    }
    assert_eq!(c.count().unwrap(), 0);
    c.add(json!({"_id": "ok", "a": {"b": {"c": {"x": 1}}}}))
        .unwrap();
    let e = c
        .doc("ok")
        .update(json!({"a": {"b": {"c": {"d": {"e": 1}}}}}))
        .unwrap_err();
    assert_eq!(code(&e), "INVALID_PARAM");
    let e = c
        .doc("ok")
        .update(json!({"pad": "y".repeat(990)}))
        .unwrap_err();
    assert_eq!(code(&e), "INVALID_PARAM");
    assert_eq!(
        c.doc("ok").get().unwrap().unwrap(),
        json!({"_id": "ok", "a": {"b": {"c": {"x": 1}}}}),
        "failed updates change nothing"
    );
}

#[test]
fn update_and_set_errors() {
    let db = memory_with("c");
    let c = db.collection("c");
    c.add(json!({"_id": "d", "s": 1, "arr": [1]})).unwrap();
    let seq = db.seq().unwrap();
    let cases = [
        (c.doc("d").update(json!({})), "INVALID_PARAM"),
        (c.doc("d").update(json!({"a": {}})), "INVALID_PARAM"),
        (c.doc("d").update(json!(5)), "INVALID_PARAM"),
        (c.doc("d").update(json!({"_id": "e"})), "INVALID_PARAM"),
        (
            c.doc("d").update(json!({"s": {"t": 1}, "s.u": 2})),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            c.doc("d").update(json!({"s.t": 1})),
            "DATABASE_REQUEST_FAILED",
        ),
        (
            c.doc("d").update(json!({"arr.x": 1})),
            "DATABASE_REQUEST_FAILED",
        ),
        (c.doc("d").update(json!({"a..b": 1})), "INVALID_PARAM"),
        (
            c.doc("d").update(json!({"$frobnicate": {"a": 1}})),
            "DATABASE_INVALID_OPERRATOR",
        ),
        (
            c.doc("d").set(json!({"a": {"$inc": 1}})),
            "DATABASE_REQUEST_FAILED",
        ),
        (c.doc("d").set(json!({"_id": "other"})), "INVALID_PARAM"),
        (c.doc("d").set(json!([1])), "INVALID_PARAM"),
        (
            c.doc(json!(true))
                .get()
                .map(|_| yundb::UpdateResult::default()),
            "INVALID_PARAM",
        ),
    ];
    for (i, (result, expected)) in cases.into_iter().enumerate() {
        let e = result.unwrap_err();
        assert_eq!(code(&e), expected, "case {i}: {e}");
    }
    assert_eq!(
        c.doc("d").get().unwrap().unwrap(),
        json!({"_id": "d", "s": 1, "arr": [1]})
    );
    assert_eq!(db.seq().unwrap(), seq, "no failed call committed");
    c.doc("d").set(json!({"_id": "d", "fine": true})).unwrap();
}

#[test]
fn error_codes_map_to_cloudbase() {
    let db = memory_with("c");
    let user = db.as_user("u");
    let examples: Vec<(Error, &str, i64)> = vec![
        (
            db.collection("x").count().unwrap_err(),
            "DATABASE_COLLECTION_NOT_EXIST",
            -502_005,
        ),
        (
            db.create_collection("c").unwrap_err(),
            "DATABASE_REQUEST_FAILED",
            -502_001,
        ),
        (
            db.collection("c")
                .add(json!({"_id": 1}))
                .and_then(|_| db.collection("c").add(json!({"_id": 1})))
                .unwrap_err(),
            "DATABASE_DUPLICATE_WRITE",
            -501_001,
        ),
        (
            user.collection("c")
                .add(json!({"_openid": "v"}))
                .unwrap_err(),
            "DATABASE_PERMISSION_DENIED",
            -502_003,
        ),
        (
            db.collection("c").add(json!({"$x": 1})).unwrap_err(),
            "INVALID_PARAM",
            -501_007,
        ),
        (
            db.collection("c")
                .doc(1)
                .update(json!({"$nope": {"a": 1}}))
                .unwrap_err(),
            "DATABASE_INVALID_OPERRATOR",
            -502_002,
        ),
    ];
    for (e, name, num) in examples {
        assert_eq!((e.code(), e.err_code()), (name, num), "{e}");
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Book {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    title: String,
    year: i32,
    #[serde(default)]
    tags: Vec<String>,
}

#[test]
fn typed_documents() {
    let db = memory_with("books");
    let books = db.typed_collection::<Book>("books");
    let book = Book {
        id: None,
        title: "三体".into(),
        year: 2008,
        tags: vec!["sf".into()],
    };
    let id = books.add(&book).unwrap();
    let back = books.doc(id.clone()).get().unwrap().unwrap();
    assert_eq!(
        back,
        Book {
            id: id.as_str().map(str::to_owned),
            ..book.clone()
        }
    );
    books.doc(id.clone()).update(json!({"year": 2006})).unwrap();
    assert_eq!(books.doc(id.clone()).get().unwrap().unwrap().year, 2006);
    books
        .doc("fixed")
        .set(Book {
            id: None,
            title: "x".into(),
            year: 1,
            tags: vec![],
        })
        .unwrap();
    assert_eq!(
        books.doc("fixed").get().unwrap().unwrap().id.as_deref(),
        Some("fixed")
    );
    // A stored document that does not fit the type is a conversion error, not a panic.
    db.collection("books")
        .add(json!({"_id": "odd", "title": 5}))
        .unwrap();
    assert_eq!(books.doc("odd").get().unwrap_err().code(), "INVALID_PARAM");
}

/// Added documents are stored with `_id` first and their other fields in the given order, on
/// every path: admin `Value`s (encoded without a copy), extended JSON (normalised first), users
/// (`_openid` stamped), indexed and watched collections (the stored form is decoded for them).
#[test]
fn added_documents_keep_their_field_order() {
    let db = memory_with("c");
    let c = db.collection("c");
    c.create_index("n", &[("n", yundb::Direction::Asc)], false)
        .unwrap();
    let sub = c.query().watch().unwrap();
    sub.recv().unwrap();
    let ids = c
        .add_many([
            json!({"n": 1, "_id": "a", "m": {"y": 1, "x": 2}}),
            json!({"n": 2, "m": [3, {"b": 1, "a": 2}]}),
            json!({"n": 3, "when": {"$date": 5}, "_id": "c"}),
        ])
        .unwrap();
    let text = |doc: &Value| serde_json::to_string(doc).unwrap();
    let a = c.doc("a").get().unwrap().unwrap();
    assert_eq!(text(&a), r#"{"_id":"a","n":1,"m":{"y":1,"x":2}}"#);
    let b = c.doc(ids[1].clone()).get().unwrap().unwrap();
    let b_id = ids[1].as_str().unwrap();
    assert_eq!(
        text(&b),
        format!(r#"{{"_id":"{b_id}","n":2,"m":[3,{{"b":1,"a":2}}]}}"#)
    );
    let cc = c.doc("c").get().unwrap().unwrap();
    assert_eq!(text(&cc), r#"{"_id":"c","n":3,"when":{"$date":5}}"#);
    // The index holds every added document, the generated `_id` included.
    let by_index = c.where_(json!({"n": 2})).get().unwrap();
    assert_eq!(by_index, vec![b.clone()]);
    // The watch saw the stored forms.
    let snap = sub
        .recv_timeout(std::time::Duration::from_secs(5))
        .unwrap()
        .expect("one event for the add_many");
    let changed: Vec<String> = snap.to_json()["docChanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| text(&change["doc"]))
        .collect();
    assert_eq!(changed, vec![text(&a), text(&b), text(&cc)]);
    // A user's document gets `_openid` last.
    db.as_user("o-1")
        .collection("c")
        .add(json!({"z": 1, "_id": "u"}))
        .unwrap();
    let u = c.doc("u").get().unwrap().unwrap();
    assert_eq!(text(&u), r#"{"_id":"u","z":1,"_openid":"o-1"}"#);
}
