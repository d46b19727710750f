//! Resident copies (collections held in memory between full scans) never show stale data:
//! after every kind of write, scans, point reads and index reads agree with a model.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use yundb::{Db, Direction, Limits};

/// xorshift64*: deterministic operations.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn check(db: &Db, model: &BTreeMap<u64, Value>, rng: &mut Rng) {
    let c = db.collection("c");
    let k = rng.below(7);
    let expected: Vec<&Value> = model.values().filter(|d| d["v"] == json!(k)).collect();
    // Natural order: the model is keyed by insertion number.
    // The second full scan since a change makes the copy; the reads below use it.
    for scan in 0..2 {
        let got = c.where_(json!({"v": k, "pad": "x"})).get().unwrap();
        assert_eq!(
            got.iter().collect::<Vec<_>>(),
            expected,
            "scan {scan} for v = {k}"
        );
    }
    let indexed = c.where_(json!({"w": k})).get().unwrap();
    let want: Vec<&Value> = model.values().filter(|d| d["w"] == json!(k)).collect();
    assert_eq!(indexed.len(), want.len(), "index read for w = {k}");
    for _ in 0..5 {
        let id = rng.below(4000);
        let found = c.doc(id).get().unwrap();
        let want = model.values().find(|d| d["_id"] == json!(id));
        assert_eq!(found.as_ref(), want, "doc({id})");
    }
    assert_eq!(c.count().unwrap(), model.len() as u64);
}

fn run(db: &Db) {
    db.create_collection("c").unwrap();
    db.create_collection("other").unwrap();
    let c = db.collection("c");
    c.create_index("w", &[("w", Direction::Asc)], false)
        .unwrap();
    let mut model = BTreeMap::new();
    let mut next = 0;
    let doc = |id: u64| json!({"_id": id, "v": id % 7, "w": id % 5, "pad": "x"});
    let docs: Vec<Value> = (0..3000).map(doc).collect();
    c.add_many(&docs).unwrap();
    for d in docs {
        model.insert(next, d);
        next += 1;
    }
    let mut rng = Rng(7);
    check(db, &model, &mut rng);
    for round in 0..60 {
        match round % 6 {
            0 => {
                let k = rng.below(7);
                c.where_(json!({"v": k}))
                    .update(json!({"v": (k + 1) % 7}))
                    .unwrap();
                for d in model.values_mut().filter(|d| d["v"] == json!(k)) {
                    d["v"] = json!((k + 1) % 7);
                }
            }
            1 => {
                let id = rng.below(4000);
                c.doc(id).remove().unwrap();
                model.retain(|_, d| d["_id"] != json!(id));
            }
            2 => {
                let id = 3000 + rng.below(1000);
                if c.add(doc(id)).is_ok() {
                    model.insert(next, doc(id));
                    next += 1;
                }
            }
            3 => {
                let id = rng.below(3000);
                let new = json!({"_id": id, "v": 6, "w": 4, "pad": "x"});
                let result = c.doc(id).set(new.clone()).unwrap();
                if result.created == 1 {
                    model.insert(next, new);
                    next += 1;
                } else if let Some(d) = model.values_mut().find(|d| d["_id"] == json!(id)) {
                    *d = new;
                }
            }
            4 => {
                // A write elsewhere keeps this collection's copy; nothing to model.
                db.collection("other").add(json!({"n": round})).unwrap();
            }
            _ => {
                let k = rng.below(5);
                c.where_(json!({"w": k})).remove().unwrap();
                model.retain(|_, d| d["w"] != json!(k));
            }
        }
        check(db, &model, &mut rng);
    }
    // Dropped and re-created: the old copy is gone with it.
    db.drop_collection("c").unwrap();
    db.create_collection("c").unwrap();
    assert!(c.where_(json!({"pad": "x"})).get().unwrap().is_empty());
    assert_eq!(c.doc(1).get().unwrap(), None);
}

#[test]
fn resident_copies_follow_every_write() {
    run(&Db::builder().limits(Limits::unlimited()).memory().unwrap());
    let dir = tempfile::tempdir().unwrap();
    run(&Db::builder()
        .limits(Limits::unlimited())
        .open(dir.path().join("r.redb"))
        .unwrap());
}
