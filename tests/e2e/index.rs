//! Secondary indexes: results with indexes equal results by full scan (order included), through
//! writes that maintain them; unique indexes; the planner's choices.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use yundb::{Db, Direction, Limits, Permission};

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0i64..5).prop_map(Value::from),
        1 => (0i64..5).prop_map(|i| Value::from(i as f64 + 0.5)),
        2 => prop_oneof![Just("a"), Just("b"), Just("c")].prop_map(Value::from),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        1 => prop::collection::vec((0i64..4).prop_map(Value::from), 0..3).prop_map(Value::Array),
        1 => (0i64..3).prop_map(|i| json!({"x": i})),
        1 => (0i64..3).prop_map(|ms| json!({"$date": ms})),
    ]
}

fn arb_doc() -> impl Strategy<Value = Value> {
    (
        prop::option::of(arb_value()),
        prop::option::of(arb_value()),
        prop::option::of((0i64..4, prop::collection::vec(0i64..3, 0..3))),
    )
        .prop_map(|(a, b, c)| {
            let mut d = json!({});
            if let Some(a) = a {
                d["a"] = a;
            }
            if let Some(b) = b {
                d["b"] = b;
            }
            if let Some((x, ys)) = c {
                d["c"] = json!({"x": x, "ys": ys});
            }
            d
        })
}

fn arb_filter() -> impl Strategy<Value = Value> {
    let path = prop_oneof![Just("a"), Just("b"), Just("c.x"), Just("c.ys")];
    let leaf = (
        path,
        prop_oneof![
            Just("eq"),
            Just("in"),
            Just("gt"),
            Just("lte"),
            Just("ne"),
            Just("between")
        ],
        arb_value(),
        arb_value(),
    )
        .prop_map(|(p, op, v, w)| match op {
            "eq" => json!({ p: v }),
            "in" => json!({ p: {"$in": [v, w]} }),
            "gt" => json!({ p: {"$gt": v} }),
            "lte" => json!({ p: {"$lte": v} }),
            // Both bounds: intersected on single-key indexes only.
            "between" => json!({ p: {"$gte": v, "$lt": w} }),
            _ => json!({ p: {"$ne": v} }),
        });
    prop::collection::vec(leaf, 0..3)
        .prop_map(|ls| json!({"$and": ls.into_iter().chain([json!({})]).collect::<Vec<_>>()}))
}

fn arb_order() -> impl Strategy<Value = Vec<(&'static str, &'static str)>> {
    prop_oneof![
        Just(vec![]),
        Just(vec![("a", "asc")]),
        Just(vec![("a", "desc")]),
        Just(vec![("b", "asc"), ("a", "desc")]),
        Just(vec![("c.x", "desc"), ("_id", "asc")]),
        Just(vec![("c.ys", "asc")]),
    ]
}

fn arb_indexes() -> impl Strategy<Value = Vec<(String, Vec<(&'static str, Direction)>)>> {
    let one = prop_oneof![
        Just(vec![("a", Direction::Asc)]),
        Just(vec![("a", Direction::Desc)]),
        Just(vec![("b", Direction::Asc), ("a", Direction::Desc)]),
        Just(vec![("c.x", Direction::Desc)]),
        Just(vec![("c.x", Direction::Asc)]),
        Just(vec![("c.ys", Direction::Asc)]),
        Just(vec![("a", Direction::Asc), ("c.x", Direction::Asc)]),
    ];
    prop::collection::vec(one, 0..4).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, k)| (format!("i{i}"), k))
            .collect()
    })
}

fn query(
    db: &Db,
    filter: &Value,
    order: &[(&str, &str)],
    skip: u64,
    limit: Option<u64>,
) -> yundb::Result<Vec<Value>> {
    let mut q = db.collection("c").where_wire(filter.clone());
    for (f, d) in order {
        q = q.order_by(f, d);
    }
    q = q.skip(skip);
    if let Some(l) = limit {
        q = q.limit(l);
    }
    q.get()
}

#[test]
fn indexed_results_equal_full_scans() {
    let cases: u32 = std::env::var("YUNDB_INDEX_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(arb_doc(), 0..25),
        arb_indexes(),
        prop::collection::vec(
            (
                arb_filter(),
                arb_order(),
                0u64..3,
                prop::option::of(1u64..6),
            ),
            1..6,
        ),
        prop::collection::vec((arb_filter(), arb_doc()), 0..4),
    );
    let used = std::cell::Cell::new(0u32);
    runner
        .run(&strategy, |(docs, indexes, queries, writes)| {
            let plain = Db::builder().limits(Limits::unlimited()).memory().unwrap();
            let indexed = Db::builder().limits(Limits::unlimited()).memory().unwrap();
            for db in [&plain, &indexed] {
                db.create_collection_with("c", Permission::ReadOnly)
                    .unwrap();
                let numbered: Vec<Value> = docs
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        let mut d = d.clone();
                        d["_id"] = json!(i);
                        d
                    })
                    .collect();
                if !numbered.is_empty() {
                    db.collection("c").add_many(numbered).unwrap();
                }
            }
            for (name, keys) in &indexes {
                // Parallel arrays in a compound key refuse the index, as in MongoDB.
                let _ = indexed.collection("c").create_index(name, keys, false);
            }
            // Writes through maintained indexes, then queries.
            for (filter, doc) in &writes {
                let mut set = doc.clone();
                if set.as_object().is_some_and(serde_json::Map::is_empty) {
                    set = json!({"touched": true});
                }
                let b = indexed
                    .collection("c")
                    .where_wire(filter.clone())
                    .update(json!({"$set": set.clone()}));
                match &b {
                    // A write that would give a compound index parallel arrays is refused (as
                    // in MongoDB) and changes nothing; the unindexed database never sees it.
                    Err(e) if e.to_string().contains("cannot index parallel arrays") => {
                        prop_assert_eq!(e.code(), "INVALID_PARAM");
                    }
                    _ => {
                        let a = plain
                            .collection("c")
                            .where_wire(filter.clone())
                            .update(json!({"$set": set}));
                        let counts = |r: &yundb::Result<yundb::UpdateResult>| {
                            r.as_ref().ok().map(|r| (r.matched, r.updated))
                        };
                        prop_assert_eq!(a.is_ok(), b.is_ok());
                        prop_assert_eq!(counts(&a), counts(&b), "update where {}", filter);
                    }
                }
                let _ = plain
                    .collection("c")
                    .where_wire(filter.clone())
                    .limit(2)
                    .get();
                prop_assert_eq!(
                    plain
                        .collection("c")
                        .where_wire(json!({"b": 1}))
                        .remove()
                        .map(|r| r.removed)
                        .ok(),
                    indexed
                        .collection("c")
                        .where_wire(json!({"b": 1}))
                        .remove()
                        .map(|r| r.removed)
                        .ok()
                );
            }
            for (filter, order, skip, limit) in &queries {
                let expected = query(&plain, filter, order, *skip, *limit);
                let got = query(&indexed, filter, order, *skip, *limit);
                let plan = indexed.collection("c").where_wire(filter.clone()).explain();
                if plan.as_ref().is_ok_and(|p| p["stage"] == "IXSCAN") {
                    used.set(used.get() + 1);
                }
                prop_assert_eq!(expected.is_ok(), got.is_ok());
                if let (Ok(e), Ok(g)) = (expected, got) {
                    prop_assert_eq!(
                        &e,
                        &g,
                        "filter {} order {:?} skip {} limit {:?} plan {:?}",
                        filter,
                        order,
                        skip,
                        limit,
                        plan.ok()
                    );
                }
                let e = plain
                    .collection("c")
                    .where_wire(filter.clone())
                    .count()
                    .ok();
                let g = indexed
                    .collection("c")
                    .where_wire(filter.clone())
                    .count()
                    .ok();
                prop_assert_eq!(e, g);
                // Counting decides on stored bytes: it agrees with the documents a get returns.
                let all = query(&plain, filter, &[], 0, None)
                    .ok()
                    .map(|d| d.len() as u64);
                prop_assert_eq!(e, all, "count of {}", filter);
            }
            Ok(())
        })
        .unwrap();
    println!(
        "index model: {cases} cases, {} queries ran on an index",
        used.get()
    );
    assert!(
        used.get() > cases / 4,
        "the generator rarely exercised an index"
    );
}

#[test]
fn unique_indexes_and_explain() {
    let db = Db::memory().unwrap();
    db.create_collection("u").unwrap();
    let u = db.collection("u");
    u.add_many([
        json!({"_id": 1, "email": "a@x"}),
        json!({"_id": 2, "email": "b@x"}),
        json!({"_id": 3}),
    ])
    .unwrap();
    u.create_index("email", &[("email", Direction::Asc)], true)
        .unwrap();
    assert_eq!(
        u.add(json!({"email": "a@x"})).unwrap_err().code(),
        "DATABASE_DUPLICATE_WRITE"
    );
    assert_eq!(
        u.add(json!({"other": 1})).unwrap_err().code(),
        "DATABASE_DUPLICATE_WRITE",
        "a second missing email is a second null"
    );
    assert_eq!(
        u.doc(2).update(json!({"email": "a@x"})).unwrap_err().code(),
        "DATABASE_DUPLICATE_WRITE"
    );
    assert_eq!(u.count().unwrap(), 3, "failed writes wrote nothing");
    u.doc(1).update(json!({"email": "c@x"})).unwrap();
    u.add(json!({"email": "a@x"})).unwrap();
    assert_eq!(u.where_(json!({"email": "a@x"})).count().unwrap(), 1);
    // Building a unique index over duplicates fails and leaves nothing behind.
    u.add(json!({"n": 1})).unwrap_err();
    db.collection("u")
        .add_many([
            json!({"_id": 10, "email": "z@x", "k": 1}),
            json!({"_id": 11, "email": "y@x", "k": 1}),
        ])
        .unwrap();
    assert_eq!(
        u.create_index("k", &[("k", Direction::Asc)], true)
            .unwrap_err()
            .code(),
        "DATABASE_DUPLICATE_WRITE"
    );
    assert_eq!(u.indexes().unwrap().len(), 1);
    assert_eq!(
        u.create_index("email", &[("x", Direction::Asc)], false)
            .unwrap_err()
            .code(),
        "INVALID_PARAM"
    );
    assert_eq!(
        db.as_user("o")
            .collection("u")
            .create_index("z", &[("z", Direction::Asc)], false)
            .unwrap_err()
            .code(),
        "DATABASE_PERMISSION_DENIED"
    );

    let plan = u.where_(json!({"email": "a@x"})).explain().unwrap();
    assert_eq!(plan["stage"], "IXSCAN");
    assert_eq!(plan["docsExamined"], 1);
    assert_eq!(
        u.where_(json!({"k": 1})).explain().unwrap()["stage"],
        "COLLSCAN"
    );
    assert_eq!(
        u.where_(json!({"_id": 10})).explain().unwrap()["stage"],
        "IDHACK"
    );
    // A compound key over two arrays of one document is refused, and nothing is created.
    u.add(json!({"_id": "par", "email": "p@x", "a": [1, 2], "b": [3, 4]}))
        .unwrap();
    assert_eq!(
        u.create_index("ab", &[("a", Direction::Asc), ("b", Direction::Asc)], false)
            .unwrap_err()
            .code(),
        "INVALID_PARAM"
    );
    assert_eq!(u.indexes().unwrap().len(), 1);
    assert!(u.drop_index("email").unwrap());
    assert!(!u.drop_index("email").unwrap());
    assert_eq!(
        u.where_(json!({"email": "a@x"})).explain().unwrap()["stage"],
        "COLLSCAN"
    );
}

#[test]
fn order_and_limit_stop_early() {
    let db = Db::memory().unwrap();
    db.create_collection_with("s", Permission::ReadOnly)
        .unwrap();
    let s = db.collection("s");
    s.add_many((0..1000).map(|i| json!({"_id": i, "score": (i * 7919) % 1000, "team": if i % 2 == 0 { "red" } else { "blue" }}))).unwrap();
    s.create_index(
        "team_score",
        &[("team", Direction::Asc), ("score", Direction::Desc)],
        false,
    )
    .unwrap();
    let q = s
        .where_(json!({"team": "red"}))
        .order_by("score", "desc")
        .limit(5);
    let plan = q.explain().unwrap();
    assert_eq!(
        (plan["stage"].clone(), plan["scan"]["providesOrder"].clone()),
        (json!("IXSCAN"), json!(true))
    );
    assert!(plan["docsExamined"].as_u64().unwrap() <= 6, "{plan}");
    let top: Vec<i64> = q
        .get()
        .unwrap()
        .iter()
        .map(|d| d["score"].as_i64().unwrap())
        .collect();
    let mut all: Vec<i64> = s
        .where_(json!({"team": "red"}))
        .limit(1000)
        .get()
        .unwrap()
        .iter()
        .map(|d| d["score"].as_i64().unwrap())
        .collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(top, all[..5]);
    let range = s
        .where_(json!({"team": "red", "score": {"$gte": 10, "$lt": 20}}))
        .explain()
        .unwrap();
    assert_eq!(range["scan"]["equalityKeys"], 1);
}

/// Writes plan on the indexes too: a multi-document update or remove through an index changes
/// exactly the documents a scan would, and an update of one changes the first in natural order.
#[test]
fn writes_use_indexes() {
    let db = Db::memory().unwrap();
    db.create_collection("w").unwrap();
    let w = db.collection("w");
    let docs: Vec<Value> = (0..300)
        .map(|i| json!({"_id": format!("d{:03}", 299 - i), "k": i % 3, "n": i}))
        .collect();
    w.add_many(docs).unwrap();
    w.create_index("k", &[("k", Direction::Desc)], false)
        .unwrap();
    assert_eq!(
        w.where_(json!({"k": 1})).explain().unwrap()["stage"],
        "IXSCAN"
    );
    // The first k=1 document in natural order is n=1 (`_id` d298), not the smallest `_id`.
    let one = w
        .where_(json!({"k": 1}))
        .update_one(json!({"$set": {"hit": true}}))
        .unwrap();
    assert_eq!((one.matched, one.updated), (1, 1));
    let hit = w.where_(json!({"hit": true})).get().unwrap();
    assert_eq!(hit.len(), 1);
    assert_eq!(hit[0]["n"], 1);
    let many = w
        .where_(json!({"k": 2, "n": {"$lt": 150}}))
        .update(json!({"$inc": {"n": 1000}}))
        .unwrap();
    assert_eq!((many.matched, many.updated), (50, 50));
    assert_eq!(w.where_(json!({"n": {"$gte": 1000}})).count().unwrap(), 50);
    let removed = w.where_(json!({"k": 0})).remove().unwrap();
    assert_eq!(removed.removed, 100);
    assert_eq!(w.count().unwrap(), 200);
    assert_eq!(w.where_(json!({"k": 0})).count().unwrap(), 0);
}

/// A two-sided range narrows both ends of a single-key index; once a record puts two entries in
/// the index (an array), only one bound could, so a lone two-sided range scans instead. The
/// state survives reopening and is made again by a rebuilt index.
#[test]
fn two_sided_ranges_on_single_key_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    let between = json!({"age": {"$gte": 300, "$lt": 310}});
    let explain = |db: &Db| {
        db.collection("p")
            .where_(between.clone())
            .explain()
            .unwrap()
    };
    {
        let db = Db::open(&path).unwrap();
        db.create_collection("p").unwrap();
        let docs: Vec<Value> = (0..1000).map(|i| json!({"age": i})).collect();
        db.collection("p").add_many(docs).unwrap();
        db.collection("p")
            .create_index("age", &[("age", Direction::Asc)], false)
            .unwrap();
        let plan = explain(&db);
        assert_eq!(plan["stage"], "IXSCAN", "{plan}");
        // 300..=310: bounds are inclusive, the filter re-checks.
        assert_eq!(plan["keysExamined"], 11, "{plan}");
        assert_eq!(plan["returned"], 10, "{plan}");
    }
    let db = Db::open(&path).unwrap();
    let p = db.collection("p");
    assert_eq!(explain(&db)["keysExamined"], 11, "kept across reopening");
    let multi = p.add(json!({"age": [2000, 305]})).unwrap();
    let plan = explain(&db);
    assert_eq!(plan["stage"], "COLLSCAN", "{plan}");
    assert_eq!(p.where_(between.clone()).count().unwrap(), 11);
    assert_eq!(p.where_(between.clone()).get().unwrap().len(), 11);
    // Giving the order, the index still serves (from the lower bound).
    let ordered = p.where_(between.clone()).order_by("age", "asc").limit(3);
    assert_eq!(ordered.explain().unwrap()["stage"], "IXSCAN");
    assert_eq!(ordered.get().unwrap()[0]["age"], 300);
    // Rebuilt without the array, the index is single-key again.
    p.doc(multi).remove().unwrap();
    assert!(p.drop_index("age").unwrap());
    p.create_index("age", &[("age", Direction::Asc)], false)
        .unwrap();
    assert_eq!(explain(&db)["keysExamined"], 11);
    assert_eq!(
        p.where_(json!({"age": {"$gt": 500, "$lt": 400}}))
            .get()
            .unwrap()
            .len(),
        0,
        "an inverted range holds nothing"
    );
}
