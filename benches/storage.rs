//! Storage throughput: bulk add, durable single adds, point reads — each beside a raw-redb
//! baseline writing the same bytes with the same durability.
//!
//! `cargo bench --bench storage`
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;
use yundb::Db;

mod common;
use common::{docs, Rng};

const N: usize = 100_000;
const RAW: TableDefinition<&str, &[u8]> = TableDefinition::new("raw");

fn fresh_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("bench.redb")).unwrap();
    db.create_collection("people").unwrap();
    (dir, db)
}

fn fresh_raw() -> (tempfile::TempDir, redb::Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = redb::Database::create(dir.path().join("raw.redb")).unwrap();
    (dir, db)
}

fn encoded(docs: &[Value]) -> Vec<(String, Vec<u8>)> {
    docs.iter()
        .map(|d| {
            (
                d["_id"].as_str().unwrap().to_owned(),
                serde_json::to_vec(d).unwrap(),
            )
        })
        .collect()
}

fn bulk(c: &mut Criterion) {
    let docs = docs(N);
    let bytes = encoded(&docs);
    let mut g = c.benchmark_group("add_many_100k");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("yundb", |b| {
        b.iter_batched(
            fresh_db,
            |(_dir, db)| db.collection("people").add_many(&docs).unwrap(),
            BatchSize::PerIteration,
        );
    });
    g.bench_function("raw_redb", |b| {
        b.iter_batched(
            fresh_raw,
            |(_dir, db)| {
                let txn = db.begin_write().unwrap();
                {
                    let mut t = txn.open_table(RAW).unwrap();
                    for (id, doc) in &bytes {
                        t.insert(id.as_str(), doc.as_slice()).unwrap();
                    }
                }
                txn.commit().unwrap();
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn single_adds(c: &mut Criterion) {
    let docs = docs(1000);
    let bytes = encoded(&docs);
    let mut g = c.benchmark_group("durable_add_x1000");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("yundb", |b| {
        b.iter_batched(
            fresh_db,
            |(_dir, db)| {
                let people = db.collection("people");
                for d in &docs {
                    people.add(d).unwrap();
                }
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("raw_redb", |b| {
        b.iter_batched(
            fresh_raw,
            |(_dir, db)| {
                for (id, doc) in &bytes {
                    let txn = db.begin_write().unwrap();
                    txn.open_table(RAW)
                        .unwrap()
                        .insert(id.as_str(), doc.as_slice())
                        .unwrap();
                    txn.commit().unwrap();
                }
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn point_get(c: &mut Criterion) {
    let docs = docs(N);
    let (_dir, db) = fresh_db();
    db.collection("people").add_many(&docs).unwrap();
    let (_raw_dir, raw) = fresh_raw();
    {
        let txn = raw.begin_write().unwrap();
        {
            let mut t = txn.open_table(RAW).unwrap();
            for (id, doc) in encoded(&docs) {
                t.insert(id.as_str(), doc.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let mut g = c.benchmark_group("get_by_id");
    let people = db.collection("people");
    let mut rng = Rng(42);
    g.bench_function("yundb", |b| {
        b.iter(|| {
            let id = format!("doc-{:06}", rng.below(N as u64));
            black_box(people.doc(id).get().unwrap().unwrap())
        });
    });
    g.bench_function("raw_redb_get_and_parse", |b| {
        b.iter(|| {
            let id = format!("doc-{:06}", rng.below(N as u64));
            let txn = raw.begin_read().unwrap();
            let t = txn.open_table(RAW).unwrap();
            let bytes = t.get(id.as_str()).unwrap().unwrap();
            black_box(serde_json::from_slice::<Value>(bytes.value()).unwrap())
        });
    });
    g.finish();
}

criterion_group!(benches, bulk, single_adds, point_get);
criterion_main!(benches);
