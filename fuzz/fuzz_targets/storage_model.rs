//! Model-based storage fuzzing: arbitrary sequences of document and index operations, with
//! reopening the file, against a `BTreeMap` model; results must be identical after every step.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use yundb::{Db, Direction, Limits, Permission};

fn open(path: &std::path::Path) -> Db {
    Db::builder().limits(Limits::unlimited()).open(path).expect("open")
}

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.redb");
    let mut db = open(&path);
    db.create_collection_with("c", Permission::AdminOnly).expect("create");
    let mut model: BTreeMap<i64, Value> = BTreeMap::new();
    let mut indexed = false;
    for op in data.chunks(3).take(200) {
        let (code, a, b) = (op[0] % 10, i64::from(*op.get(1).unwrap_or(&0) % 16), i64::from(*op.get(2).unwrap_or(&0) % 8));
        let c = db.collection("c");
        match code {
            0 | 1 => {
                let doc = json!({"_id": a, "k": b, "v": 0});
                let result = c.add(doc.clone());
                if model.contains_key(&a) {
                    assert_eq!(result.expect_err("duplicate accepted").code(), "DATABASE_DUPLICATE_WRITE");
                } else {
                    result.expect("add");
                    model.insert(a, doc);
                }
            }
            2 => {
                let removed = c.doc(a).remove().expect("remove").removed;
                assert_eq!(removed, u64::from(model.remove(&a).is_some()));
            }
            3 => {
                let r = c.doc(a).update(json!({"$inc": {"v": b}})).expect("update");
                if let Some(d) = model.get_mut(&a) {
                    let v = d["v"].as_i64().unwrap_or(0) + b;
                    d["v"] = json!(v);
                    assert_eq!(r.matched, 1);
                } else {
                    assert_eq!(r.matched, 0);
                }
            }
            4 => {
                let r = c.where_(json!({"k": b})).update(json!({"$set": {"k": (b + a) % 8}})).expect("where update");
                let mut n = 0;
                for d in model.values_mut() {
                    if d["k"] == json!(b) {
                        d["k"] = json!((b + a) % 8);
                        n += 1;
                    }
                }
                assert_eq!(r.matched, n);
            }
            5 => {
                let got: Vec<Value> = c.where_(json!({"k": b})).get().expect("query");
                let want: Vec<&Value> = model.values().filter(|d| d["k"] == json!(b)).collect();
                let mut got_ids: Vec<i64> = got.iter().filter_map(|d| d["_id"].as_i64()).collect();
                got_ids.sort_unstable();
                let want_ids: Vec<i64> = want.iter().filter_map(|d| d["_id"].as_i64()).collect();
                assert_eq!(got_ids, want_ids);
            }
            6 => {
                let got = c.where_(json!({"v": {"$gte": b}})).order_by("v", "desc").order_by("_id", "asc").limit(3).get().expect("sorted");
                let mut want: Vec<&Value> = model.values().filter(|d| d["v"].as_i64().unwrap_or(0) >= b).collect();
                want.sort_by(|x, y| y["v"].as_i64().cmp(&x["v"].as_i64()).then(x["_id"].as_i64().cmp(&y["_id"].as_i64())));
                let want: Vec<Value> = want.into_iter().take(3).cloned().collect();
                assert_eq!(got, want);
            }
            7 => {
                if indexed {
                    assert!(c.drop_index("k").expect("drop index"));
                } else {
                    c.create_index("k", &[("k", Direction::Asc)], false).expect("create index");
                }
                indexed = !indexed;
            }
            8 => {
                drop(c);
                drop(db);
                db = open(&path);
            }
            _ => {
                assert_eq!(c.count().expect("count"), model.len() as u64);
                for (id, d) in &model {
                    assert_eq!(c.doc(*id).get().expect("get").as_ref(), Some(d));
                }
            }
        }
    }
});
