//! Watch: a model test against re-running the query, and API behaviour.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};
use yundb::{Db, HubOptions, Snapshot};
use yundb_query::replay::replay;

fn arb_doc(id: String) -> impl Strategy<Value = Value> {
    (
        0i64..6,
        prop_oneof![Just("a"), Just("b"), Just("c")],
        prop::collection::vec(prop_oneof![Just("x"), Just("y"), Just("z")], 0..3),
        prop::option::of(0i64..5),
    )
        .prop_map(move |(n, g, tags, x)| {
            let mut d = json!({"_id": id.clone(), "n": n, "g": g, "tags": tags, "sub": {}});
            if let Some(x) = x {
                d["sub"]["x"] = json!(x);
            }
            d
        })
}

fn arb_where() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({})),
        Just(json!({"g": "a"})),
        Just(json!({"n": {"$gt": 2}})),
        Just(json!({"tags": "x"})),
        Just(json!({"sub.x": {"$lte": 2}})),
        Just(json!({"$or": [{"g": "b"}, {"n": {"$lt": 2}}]})),
        Just(json!({"g": {"$in": ["a", "c"]}, "n": {"$gte": 1}})),
    ]
}

fn arb_order() -> impl Strategy<Value = Vec<(&'static str, &'static str)>> {
    prop_oneof![
        Just(vec![]),
        Just(vec![("n", "asc")]),
        Just(vec![("n", "desc"), ("g", "asc")]),
        Just(vec![("sub.x", "desc")]),
        Just(vec![("tags", "asc")]),
    ]
}

#[derive(Debug, Clone)]
struct WatchDef {
    filter: Value,
    order: Vec<(&'static str, &'static str)>,
    limit: Option<u64>,
}

fn arb_watch() -> impl Strategy<Value = WatchDef> {
    (arb_where(), arb_order(), prop::option::of(1u64..5)).prop_map(|(filter, order, limit)| {
        WatchDef {
            filter,
            order,
            limit,
        }
    })
}

#[derive(Debug, Clone)]
enum Op {
    Add(Value),
    AddMany(Vec<Value>),
    Update(usize, Value),
    WhereUpdate(Value, Value),
    Set(usize, Value),
    Remove(usize),
    WhereRemove(Value),
}

fn arb_update() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-3i64..4).prop_map(|k| json!({"$inc": {"n": k}})),
        prop_oneof![Just("a"), Just("b"), Just("c")].prop_map(|g| json!({"$set": {"g": g}})),
        Just(json!({"$unset": {"sub.x": ""}})),
        (0i64..5).prop_map(|x| json!({"sub": {"x": x}})),
        Just(json!({"$push": {"tags": "x"}})),
        Just(json!({"$pull": {"tags": "x"}})),
        Just(json!({"$set": {"n": 3, "extra": {"deep": [1, 2]}}})),
    ]
}

fn arb_op(step: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => arb_doc(format!("n{step}")).prop_map(Op::Add),
        1 => (arb_doc(format!("m{step}a")), arb_doc(format!("m{step}b"))).prop_map(|(a, b)| Op::AddMany(vec![a, b])),
        4 => (0usize..16, arb_update()).prop_map(|(i, u)| Op::Update(i, u)),
        2 => (arb_where(), arb_update()).prop_map(|(w, u)| Op::WhereUpdate(w, u)),
        2 => (0usize..16, arb_doc(String::new())).prop_map(|(i, d)| Op::Set(i, d)),
        2 => (0usize..16).prop_map(Op::Remove),
        1 => arb_where().prop_map(Op::WhereRemove),
    ]
}

fn arb_case() -> impl Strategy<Value = (Vec<Value>, Vec<WatchDef>, Vec<Op>, Option<usize>)> {
    let docs = (0usize..10).prop_flat_map(|n| {
        (0..n)
            .map(|i| arb_doc(format!("d{i:02}")))
            .collect::<Vec<_>>()
    });
    let ops = (1usize..20).prop_flat_map(|n| (0..n).map(arb_op).collect::<Vec<_>>());
    (
        docs,
        prop::collection::vec(arb_watch(), 1..4),
        ops,
        prop_oneof![Just(Some(0)), Just(Some(1)), Just(None)],
    )
}

/// The watch's result by re-running the query with the watch's total order.
fn requery(db: &Db, w: &WatchDef) -> Vec<Value> {
    let mut q = db.collection("c").where_wire(w.filter.clone());
    if w.order.is_empty() {
        q = q.order_by("_id", "desc");
    } else {
        for (f, d) in &w.order {
            q = q.order_by(f, d);
        }
        q = q.order_by("_id", "asc");
    }
    if let Some(l) = w.limit {
        q = q.limit(l);
    }
    q.get().unwrap()
}

const PAIRS: [(&str, &str); 11] = [
    ("add", "enqueue"),
    ("remove", "dequeue"),
    ("update", "update"),
    ("update", "enqueue"),
    ("update", "dequeue"),
    ("replace", "update"),
    ("replace", "enqueue"),
    ("replace", "dequeue"),
    ("limit", "enqueue"),
    ("limit", "dequeue"),
    ("init", "init"),
];

/// The SDK client's handling of one snapshot's changes (spec §6.3): patch cached documents from
/// updatedFields for updates, append enqueued ones, drop dequeued ones.
fn client_apply(cache: &mut Vec<Value>, snap: &Value) -> Result<(), String> {
    for ch in snap["docChanges"].as_array().into_iter().flatten() {
        let (dt, qt) = (
            ch["dataType"].as_str().unwrap_or(""),
            ch["queueType"].as_str().unwrap_or(""),
        );
        if !PAIRS.contains(&(dt, qt)) {
            return Err(format!("invalid pair {dt}/{qt}"));
        }
        let id = &ch["docId"];
        let pos = cache.iter().position(|d| &d["_id"] == id);
        let doc = if dt == "update" && qt == "update" {
            let cached = pos
                .and_then(|p| cache.get(p))
                .ok_or("update of a document the client does not have")?;
            let updated: Map<String, Value> =
                ch["updatedFields"].as_object().cloned().unwrap_or_default();
            let removed: Vec<String> =
                serde_json::from_value(ch["removedFields"].clone()).unwrap_or_default();
            replay(cached, &updated, &removed)
        } else {
            ch["doc"].clone()
        };
        match qt {
            "init" | "enqueue" => {
                if pos.is_some() {
                    return Err(format!("enqueue of {id} already present"));
                }
                cache.push(doc);
            }
            "dequeue" => {
                let p = pos.ok_or(format!("dequeue of absent {id}"))?;
                cache.remove(p);
            }
            _ => {
                let p = pos.ok_or(format!("update of absent {id}"))?;
                cache[p] = doc;
            }
        }
    }
    Ok(())
}

fn sorted_by_id(mut docs: Vec<Value>) -> Vec<Value> {
    docs.sort_by_key(|d| d["_id"].to_string());
    docs
}

fn run_case(
    docs: &[Value],
    watches: &[WatchDef],
    ops: &[Op],
    slack: Option<usize>,
) -> Result<usize, String> {
    let db = Db::builder()
        .watch_options(HubOptions {
            slack,
            ..HubOptions::default()
        })
        .memory()
        .unwrap();
    db.create_collection("c").unwrap();
    if !docs.is_empty() {
        db.collection("c").add_many(docs).unwrap();
    }
    if slack == Some(1) {
        // Indexes on the ordered fields: window refills then read through the planner.
        let mut fields: Vec<&str> = watches
            .iter()
            .flat_map(|w| w.order.iter().map(|(f, _)| *f))
            .collect();
        fields.sort_unstable();
        fields.dedup();
        for (i, f) in fields.into_iter().enumerate() {
            db.collection("c")
                .create_index(&format!("ix{i}"), &[(f, yundb::Direction::Asc)], false)
                .unwrap();
        }
    }
    let mut subs = Vec::new();
    for w in watches {
        let mut q = db.collection("c").where_wire(w.filter.clone());
        for (f, d) in &w.order {
            q = q.order_by(f, d);
        }
        if let Some(l) = w.limit {
            q = q.limit(l);
        }
        let sub = q.watch().map_err(|e| e.to_string())?;
        let init = sub
            .try_recv()
            .map_err(|e| e.to_string())?
            .ok_or("no init snapshot")?;
        let mut cache = Vec::new();
        client_apply(&mut cache, &init.to_json())?;
        if init.docs != requery(&db, w) {
            return Err("init docs differ from the query".into());
        }
        subs.push((sub, init.id, cache));
    }
    let ids = |db: &Db| -> Vec<Value> {
        db.collection("c")
            .query()
            .limit(1000)
            .get()
            .unwrap()
            .into_iter()
            .map(|d| d["_id"].clone())
            .collect()
    };
    let mut events = 0;
    for op in ops {
        let existing = ids(&db);
        let pick = |i: &usize| {
            existing
                .get(i % existing.len().max(1))
                .cloned()
                .unwrap_or(json!("none"))
        };
        let c = db.collection("c");
        let _ = match op {
            Op::Add(d) => c.add(d.clone()).map(|_| ()),
            Op::AddMany(ds) => c.add_many(ds.clone()).map(|_| ()),
            Op::Update(i, u) => c.doc(pick(i)).update(u.clone()).map(|_| ()),
            Op::WhereUpdate(w, u) => c.where_wire(w.clone()).update(u.clone()).map(|_| ()),
            Op::Set(i, d) => {
                let mut d = d.clone();
                d.as_object_mut().map(|m| m.remove("_id"));
                c.doc(pick(i)).set(d).map(|_| ())
            }
            Op::Remove(i) => c.doc(pick(i)).remove().map(|_| ()),
            Op::WhereRemove(w) => c.where_wire(w.clone()).remove().map(|_| ()),
        };
        db.flush_watches();
        for ((sub, last, cache), w) in subs.iter_mut().zip(watches) {
            let expected = requery(&db, w);
            match sub.try_recv().map_err(|e| e.to_string())? {
                Some(snap) => {
                    events += 1;
                    if snap.id != *last + 1 {
                        return Err(format!("event id {} after {last}", snap.id));
                    }
                    *last = snap.id;
                    if snap.docs != expected {
                        return Err(format!(
                            "{op:?} on {w:?}: docs {:?} but the query gives {:?}",
                            ids_of(&snap),
                            expected
                                .iter()
                                .map(|d| d["_id"].clone())
                                .collect::<Vec<_>>()
                        ));
                    }
                    client_apply(cache, &snap.to_json())
                        .map_err(|e| format!("{op:?} on {w:?}: {e} in {}", snap.to_json()))?;
                    if sorted_by_id(cache.clone()) != sorted_by_id(expected) {
                        return Err(format!(
                            "{op:?} on {w:?}: the client's replay gives {cache:?}, snapshot {}",
                            snap.to_json()
                        ));
                    }
                }
                None => {
                    if sorted_by_id(cache.clone()) != sorted_by_id(expected.clone()) {
                        return Err(format!("{op:?} on {w:?}: no event, but the result changed to {expected:?} from {cache:?}"));
                    }
                }
            }
        }
    }
    Ok(events)
}

fn ids_of(s: &Snapshot) -> Vec<Value> {
    s.docs.iter().map(|d| d["_id"].clone()).collect()
}

#[test]
fn watches_agree_with_requerying() {
    let cases: u32 = std::env::var("YUNDB_WATCH_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let events = std::cell::Cell::new(0usize);
    let result = runner.run(&arb_case(), |(docs, watches, ops, slack)| {
        let n = run_case(&docs, &watches, &ops, slack).map_err(TestCaseError::fail)?;
        events.set(events.get() + n);
        Ok(())
    });
    println!(
        "watch model: {cases} cases, {} snapshots checked",
        events.get()
    );
    assert!(
        events.get() > cases as usize,
        "the generator produced too few events to mean anything"
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn api_behaviour() {
    let db = Db::memory().unwrap();
    db.create_collection("todos").unwrap();
    let todos = db.collection("todos");
    todos.add(json!({"_id": "a", "done": false})).unwrap();
    assert_eq!(
        todos.query().skip(1).watch().unwrap_err().code(),
        "INVALID_PARAM"
    );
    assert_eq!(
        todos
            .query()
            .field(json!({"a": 1}))
            .watch()
            .unwrap_err()
            .code(),
        "INVALID_PARAM"
    );

    let w = todos.where_(json!({"done": false})).watch().unwrap();
    let init = w.recv().unwrap();
    assert_eq!(init.to_json()["type"], "init");
    todos
        .add_many([
            json!({"_id": "b", "done": false}),
            json!({"_id": "c", "done": true}),
        ])
        .unwrap();
    let snap = w
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .expect("one event for the add_many");
    assert_eq!(snap.id, 2);
    assert_eq!(
        ids_of(&snap),
        [json!("b"), json!("a")],
        "default order is _id descending"
    );
    assert_eq!(
        snap.doc_changes.len(),
        1,
        "the non-matching add is not reported"
    );
    todos.doc("c").update(json!({"note": 1})).unwrap();
    db.flush_watches();
    assert!(
        w.try_recv().unwrap().is_none(),
        "a write outside the result produces nothing"
    );

    // Doc watch and callbacks.
    let (tx, rx) = std::sync::mpsc::channel();
    let cb = todos
        .doc("a")
        .watch()
        .unwrap()
        .into_callbacks(move |s| tx.send(s.to_json()).unwrap(), |e| panic!("{e}"));
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap()["type"],
        "init"
    );
    todos.doc("a").update(json!({"done": true})).unwrap();
    let change = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        change["docChanges"][0]["updatedFields"],
        json!({"done": true})
    );
    cb.close();

    // Record cap and dropped collections end watches with typed errors.
    let capped = Db::builder()
        .watch_options(HubOptions {
            max_records: 3,
            ..HubOptions::default()
        })
        .memory()
        .unwrap();
    capped.create_collection("c").unwrap();
    capped
        .collection("c")
        .add_many((0..3).map(|i| json!({"i": i})))
        .unwrap();
    let all = capped.collection("c").query().watch().unwrap();
    all.recv().unwrap();
    capped.collection("c").add(json!({"i": 3})).unwrap();
    assert!(matches!(
        all.recv(),
        Err(yundb::WatchError::TooManyRecords { limit: 3 })
    ));
    assert!(
        capped.collection("c").query().watch().is_err(),
        "4 records > cap 3"
    );
    let windowed = capped
        .collection("c")
        .query()
        .order_by("i", "asc")
        .limit(2)
        .watch()
        .unwrap();
    windowed.recv().unwrap();
    capped.drop_collection("c").unwrap();
    assert!(matches!(
        windowed.recv(),
        Err(yundb::WatchError::CollectionDropped { .. })
    ));

    // The number of open watches is bounded.
    let few = Db::builder()
        .watch_options(HubOptions {
            max_watches: 2,
            ..HubOptions::default()
        })
        .memory()
        .unwrap();
    few.create_collection("c").unwrap();
    let (_a, _b) = (
        few.collection("c").query().watch().unwrap(),
        few.collection("c").query().watch().unwrap(),
    );
    assert_eq!(
        few.collection("c").query().watch().unwrap_err().code(),
        "DATABASE_REQUEST_FAILED"
    );

    // A subscriber that never reads is merged, then ended, never blocking the writer.
    let lag = Db::builder()
        .watch_options(HubOptions {
            max_lag: 5,
            ..HubOptions::default()
        })
        .memory()
        .unwrap();
    lag.create_collection("c").unwrap();
    let slow = lag.collection("c").query().watch().unwrap();
    slow.recv().unwrap();
    lag.collection("c").add(json!({"_id": 1})).unwrap();
    lag.collection("c").add(json!({"_id": 2})).unwrap();
    lag.flush_watches();
    let merged = slow.try_recv().unwrap().unwrap();
    assert_eq!(
        (merged.id, merged.doc_changes.len()),
        (3, 2),
        "two events merged, each change keeps its id"
    );
    assert_eq!(
        merged.doc_changes.iter().map(|c| c.id).collect::<Vec<_>>(),
        [2, 3]
    );
    for i in 3..10 {
        lag.collection("c").add(json!({"_id": i})).unwrap();
    }
    lag.flush_watches();
    assert!(matches!(
        slow.recv(),
        Err(yundb::WatchError::Lagged { limit: 5 })
    ));
}
