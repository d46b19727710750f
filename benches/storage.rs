//! Storage throughput: bulk add, durable single adds, point reads — each beside a raw-redb
//! baseline writing the same bytes with the same durability.
//!
//! `cargo bench --bench storage`
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::{json, Value};
use yundb::Db;

const N: usize = 100_000;
const RAW: TableDefinition<&str, &[u8]> = TableDefinition::new("raw");

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn docs(n: usize) -> Vec<Value> {
    const CITIES: [&str; 5] = ["Shenzhen", "Beijing", "Shanghai", "Guangzhou", "Hangzhou"];
    const TAGS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|i| {
            json!({
                "_id": format!("doc-{i:06}"),
                "_openid": format!("o-{}", rng.below(1000)),
                "age": rng.below(80) + 10,
                "city": CITIES[rng.below(5) as usize],
                "tags": [TAGS[rng.below(6) as usize], TAGS[rng.below(6) as usize]],
                "profile": {"score": rng.below(10_000) as f64 / 100.0, "level": rng.below(10)},
                "done": rng.below(2) == 0,
            })
        })
        .collect()
}

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
