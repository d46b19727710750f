//! Queries through the facade: builder form, modifiers, limits, multi-document writes.

use serde_json::{json, Value};
use yundb::{Db, Limits};

fn people() -> Db {
    let db = Db::memory().unwrap();
    db.create_collection_with("p", yundb::Permission::ReadOnly)
        .unwrap();
    let docs: Vec<Value> = (0..30)
        .map(|i| json!({"_id": format!("p{i:02}"), "age": i, "team": if i % 3 == 0 { "dev" } else { "ops" }, "profile": {"level": i % 4, "tags": ["a", if i % 2 == 0 { "even" } else { "odd" }]}}))
        .collect();
    db.collection("p").add_many(docs).unwrap();
    db
}

fn ids(docs: &[Value]) -> Vec<&str> {
    docs.iter().map(|d| d["_id"].as_str().unwrap()).collect()
}

#[test]
fn builder_form_flattens_and_hoists() {
    let db = people();
    let p = db.collection("p");
    assert_eq!(
        p.where_(json!({"profile": {"level": 1}})).count().unwrap(),
        8,
        "nested objects are partial matches"
    );
    assert_eq!(
        p.where_(json!({"profile": {}})).count().unwrap(),
        30,
        "{{}} vanishes"
    );
    assert_eq!(
        p.where_(json!({"profile": {"$eq": {"level": 1}}}))
            .count()
            .unwrap(),
        0,
        "$eq is exact"
    );
    let both = p
        .where_(
            json!({"age": {"$or": [{"$lt": 2}, {"$gt": 27}]}, "team": {"$or": [{"$eq": "dev"}]}}),
        )
        .get()
        .unwrap();
    assert_eq!(
        ids(&both),
        ["p00"],
        "field-level $or per field, ANDed (not the SDK's concatenation)"
    );
    assert_eq!(
        p.where_(json!({"age": {"$and": [{"$gt": 1}, {"$lt": 5}]}}))
            .count()
            .unwrap(),
        3
    );
    assert_eq!(
        p.where_(json!({"profile.tags": "even"})).count().unwrap(),
        15
    );
}

#[test]
fn modifiers_and_limits() {
    let db = people();
    let p = db.collection("p");
    let top = p
        .where_(json!({"team": "dev"}))
        .order_by("age", "desc")
        .skip(1)
        .limit(3)
        .get()
        .unwrap();
    assert_eq!(ids(&top), ["p24", "p21", "p18"]);
    let projected = p
        .where_(json!({"_id": "p05"}))
        .field(json!({"profile.level": 1, "_id": 0}))
        .get()
        .unwrap();
    assert_eq!(projected, [json!({"profile": {"level": 1}})]);
    assert_eq!(p.query().get().unwrap().len(), 30, "admin default 100");
    assert_eq!(
        db.as_user("u").collection("p").query().get().unwrap().len(),
        20,
        "user default 20"
    );
    assert_eq!(
        db.as_user("u")
            .collection("p")
            .query()
            .limit(25)
            .get()
            .unwrap()
            .len(),
        20,
        "user cap 20"
    );
    let open = Db::builder().limits(Limits::unlimited()).memory().unwrap();
    open.create_collection("c").unwrap();
    open.collection("c")
        .add_many((0..1500).map(|i| json!({"i": i})))
        .unwrap();
    assert_eq!(open.collection("c").query().get().unwrap().len(), 1500);
    assert_eq!(
        p.query()
            .order_by("age", "sideways")
            .get()
            .unwrap_err()
            .code(),
        "INVALID_PARAM"
    );
}

#[test]
fn bad_queries_are_typed_errors() {
    let db = people();
    let p = db.collection("p");
    for (q, code) in [
        (json!({"age": {"$bogus": 1}}), "DATABASE_INVALID_OPERRATOR"),
        (json!({"$where": "1"}), "DATABASE_INVALID_OPERRATOR"),
        (json!({"age": {"$size": -1}}), "INVALID_PARAM"),
        (json!({"age": {"$mod": [0, 1]}}), "INVALID_PARAM"),
        (json!({"name": {"$regex": "("}}), "INVALID_PARAM"),
        (json!({"$or": []}), "INVALID_PARAM"),
    ] {
        let e = p.where_(q.clone()).get().unwrap_err();
        assert_eq!(e.code(), code, "{q}: {e}");
    }
}

#[test]
fn multi_document_writes_are_atomic() {
    let db = people();
    let p = db.collection("p");
    let r = p
        .where_(json!({"team": "dev"}))
        .update(json!({"flag": true}))
        .unwrap();
    assert_eq!((r.matched, r.updated), (10, 10));
    assert_eq!(p.where_(json!({"flag": true})).count().unwrap(), 10);
    let r = p
        .where_(json!({"team": "ops"}))
        .update_one(json!({"flag": false}))
        .unwrap();
    assert_eq!((r.matched, r.updated), (1, 1));
    // One failing document aborts the whole update, and the error names it.
    p.doc("p03")
        .update(json!({"profile": {"level": "x"}}))
        .unwrap();
    p.add(json!({"_id": "scalar", "team": "dev", "profile": 5}))
        .unwrap();
    let seq = db.seq().unwrap();
    let e = p
        .where_(json!({"team": "dev"}))
        .update(json!({"profile": {"note": 1}}))
        .unwrap_err();
    assert!(e.to_string().contains("\"scalar\""), "{e}");
    assert_eq!(db.seq().unwrap(), seq);
    assert_eq!(
        p.where_(json!({"profile.note": 1})).count().unwrap(),
        0,
        "nothing was written"
    );
    let r = p.where_(json!({"age": {"$lt": 10}})).remove().unwrap();
    assert_eq!(r.removed, 10);
    assert_eq!(p.count().unwrap(), 21);
}

#[test]
fn typed_commands_and_doc_field() {
    use yundb::cmd;
    let db = people();
    let p = db.collection("p");
    assert_eq!(
        p.where_(json!({"age": cmd::gte(10).and(cmd::lt(20))}))
            .count()
            .unwrap(),
        10
    );
    assert_eq!(
        p.where_(json!({"age": cmd::lt(2).or(cmd::gt(27))}))
            .count()
            .unwrap(),
        4
    );
    assert_eq!(
        p.where_(json!({"team": cmd::in_(["dev"]), "age": cmd::not(cmd::gt(5))}))
            .count()
            .unwrap(),
        2
    );
    assert_eq!(
        p.where_(json!({"profile": {"tags": cmd::all(["a", "odd"])}}))
            .count()
            .unwrap(),
        15
    );
    assert_eq!(
        p.where_(json!({"profile.tags": cmd::size(2), "age": cmd::mod_(10, 0)}))
            .count()
            .unwrap(),
        3
    );
    assert_eq!(
        p.where_(json!({"profile.tags": cmd::elem_match(cmd::eq("even"))}))
            .count()
            .unwrap(),
        15
    );
    assert_eq!(
        p.where_(json!({"_id": cmd::regex("^P0[12]$", "i")}))
            .count()
            .unwrap(),
        2
    );
    assert_eq!(
        p.where_(json!({"gone": cmd::exists(false), "age": cmd::neq(0)}))
            .count()
            .unwrap(),
        29
    );
    assert_eq!(
        p.where_(cmd::or_where([json!({"age": 1}), json!({"age": 2})]))
            .count()
            .unwrap(),
        2
    );
    assert_eq!(
        p.where_(cmd::expr(
            json!({"$gt": ["$age", {"$multiply": ["$profile.level", 9]}]})
        ))
        .count()
        .unwrap(),
        14
    );
    assert_eq!(
        p.doc("p05")
            .field(json!({"age": 1}))
            .get()
            .unwrap()
            .unwrap(),
        json!({"_id": "p05", "age": 5})
    );
    assert_eq!(
        p.doc("p05")
            .field(json!({"profile": 0, "team": 0, "_id": 0}))
            .get()
            .unwrap()
            .unwrap(),
        json!({"age": 5})
    );
}

#[test]
fn large_scans_split_across_threads_keep_natural_order() {
    let db = Db::builder().limits(Limits::unlimited()).memory().unwrap();
    db.create_collection("big").unwrap();
    let big = db.collection("big");
    big.add_many((0..40_000).map(
        |i| json!({"_id": format!("k{:05}", (i * 7_919) % 40_000), "n": i, "even": i % 2 == 0}),
    ))
    .unwrap();
    big.doc("k00000").remove().unwrap();
    let found = big
        .where_(json!({"even": true, "n": {"$gte": 100}}))
        .get()
        .unwrap();
    let expected: Vec<i64> = (100..40_000)
        .filter(|i| i % 2 == 0 && (i * 7_919) % 40_000 != 0)
        .collect();
    let got: Vec<i64> = found.iter().map(|d| d["n"].as_i64().unwrap()).collect();
    assert_eq!(
        got, expected,
        "natural (insertion) order across the threads' slices"
    );
    assert_eq!(big.where_(json!({"even": false})).count().unwrap(), 20_000);
}

/// `count` decides on stored bytes (on several threads for a large collection, through an index
/// where one applies): it agrees with the documents `get` returns, for admins and users.
#[test]
fn counts_agree_with_gets() {
    let db = Db::builder().limits(Limits::unlimited()).memory().unwrap();
    db.create_collection_with("big", yundb::Permission::ReadOnly)
        .unwrap();
    let big = db.collection("big");
    let docs: Vec<Value> = (0..20_000)
        .map(|i| {
            json!({"n": i, "tag": i % 7, "s": if i % 5 == 0 { "apple" } else { "pear" },
                   "arr": [i % 3, {"k": i % 11}], "_openid": format!("o{}", i % 4)})
        })
        .collect();
    big.add_many(docs).unwrap();
    let filters = [
        json!({}),
        json!({"n": {"$gte": 5000}}),
        json!({"tag": 3}),
        json!({"tag": {"$in": [1, 2, 9]}}),
        json!({"n": {"$mod": [3, 1]}}),
        json!({"s": {"$regex": "^ap"}}),
        json!({"arr": {"$elemMatch": {"k": 4}}}),
        json!({"$or": [{"tag": 1}, {"arr.1.k": 2}]}),
        json!({"missing": {"$exists": false}, "n": {"$lt": 100}}),
        json!({"n": -1}),
    ];
    let check = |db: &Db| {
        let c = db.collection("big");
        for f in &filters {
            let got = c.where_wire(f.clone()).get().unwrap().len() as u64;
            assert_eq!(c.where_wire(f.clone()).count().unwrap(), got, "{f}");
        }
        let user = db.as_user("o1");
        for f in &filters {
            let c = user.collection("big");
            let got = c.where_wire(f.clone()).get().unwrap().len() as u64;
            assert_eq!(c.where_wire(f.clone()).count().unwrap(), got, "user {f}");
        }
    };
    check(&db);
    big.create_index("tag", &[("tag", yundb::Direction::Asc)], false)
        .unwrap();
    big.create_index("k", &[("arr.k", yundb::Direction::Asc)], false)
        .unwrap();
    check(&db);
    assert_eq!(
        big.where_wire(json!({"tag": 3})).count().unwrap(),
        20_000 / 7 + u64::from(20_000 % 7 > 3)
    );
}
