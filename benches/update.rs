//! Update speed: a multi-document `$inc` over the query bench's matches in 100k documents, and
//! 1,000 durable `doc(id).update` calls with a nested `$set`.
//!
//! `cargo bench --bench update`
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use serde_json::json;
use yundb::Db;

mod common;
use common::{docs, Rng};

fn bench(c: &mut Criterion) {
    let docs = docs(100_000);
    let q = json!({"age": {"$gte": 30, "$lt": 50}, "profile.level": {"$in": [1, 2]}, "tags": "alpha", "done": false});
    let mut g = c.benchmark_group("update");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for file in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = if file {
            Db::open(dir.path().join("u.redb")).unwrap()
        } else {
            Db::memory().unwrap()
        };
        db.create_collection("people").unwrap();
        db.collection("people").add_many(&docs).unwrap();
        let people = db.collection("people");
        let matched = people
            .where_(q.clone())
            .update(json!({"$inc": {"profile.score": 1}}))
            .unwrap()
            .matched;
        println!("where(q).update matches {matched} documents");
        let name = if file {
            "where_inc_file_db"
        } else {
            "where_inc_memory_db"
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                people
                    .where_(q.clone())
                    .update(json!({"$inc": {"profile.score": 1}}))
                    .unwrap()
            });
        });
    }
    g.bench_function("doc_update_nested_set_x1000_file_db", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let db = Db::open(dir.path().join("u.redb")).unwrap();
                db.create_collection("people").unwrap();
                db.collection("people").add_many(&docs[..10_000]).unwrap();
                (dir, db)
            },
            |(_dir, db)| {
                let people = db.collection("people");
                let mut rng = Rng(7);
                for i in 0..1000 {
                    let id = format!("doc-{:06}", rng.below(10_000));
                    people
                        .doc(id)
                        .update(json!({"profile": {"stats": {"visits": i}}}))
                        .unwrap();
                }
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
