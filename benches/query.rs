//! Query speed on 100k documents: compile, per-document matching, and a full `where(..).get()`
//! on memory and file databases, beside a hand-written Rust loop over the same parsed values
//! (the floor).
//!
//! `cargo bench --bench query`
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use yundb::Db;
use yundb_query::Filter;

mod common;
use common::docs;

const N: usize = 100_000;

fn filter_json() -> Value {
    json!({"age": {"$gte": 30, "$lt": 50}, "profile.level": {"$in": [1, 2]}, "tags": "alpha", "done": false})
}

/// What a programmer would write by hand for the same filter.
fn hand_written(d: &Value) -> bool {
    let Some(m) = d.as_object() else { return false };
    let age_ok = m
        .get("age")
        .and_then(Value::as_f64)
        .is_some_and(|a| (30.0..50.0).contains(&a));
    let level_ok = m
        .get("profile")
        .and_then(|p| p.get("level"))
        .and_then(Value::as_f64)
        .is_some_and(|l| l == 1.0 || l == 2.0);
    let tags_ok = match m.get("tags") {
        Some(Value::Array(t)) => t.iter().any(|x| x == "alpha"),
        Some(v) => v == "alpha",
        None => false,
    };
    let done_ok = m.get("done") == Some(&Value::Bool(false));
    age_ok && level_ok && tags_ok && done_ok
}

fn bench(c: &mut Criterion) {
    let docs = docs(N);
    let q = filter_json();
    let filter = Filter::from_builder(&q).unwrap();
    let expected = docs.iter().filter(|d| hand_written(d)).count();
    assert_eq!(docs.iter().filter(|d| filter.matches(d)).count(), expected);
    println!("filter matches {expected} of {N} documents");

    let mut g = c.benchmark_group("query");
    g.bench_function("compile", |b| {
        b.iter(|| Filter::from_builder(black_box(&q)).unwrap());
    });
    g.sample_size(20);
    g.bench_function("match_100k_parsed", |b| {
        b.iter(|| docs.iter().filter(|d| filter.matches(d)).count());
    });
    g.bench_function("hand_written_100k_parsed", |b| {
        b.iter(|| docs.iter().filter(|d| hand_written(d)).count());
    });

    let memory = Db::builder()
        .limits(yundb::Limits::unlimited())
        .memory()
        .unwrap();
    memory.create_collection("people").unwrap();
    memory.collection("people").add_many(&docs).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = Db::builder()
        .limits(yundb::Limits::unlimited())
        .open(dir.path().join("q.redb"))
        .unwrap();
    file.create_collection("people").unwrap();
    file.collection("people").add_many(&docs).unwrap();
    for (name, db) in [("get_memory_db", &memory), ("get_file_db", &file)] {
        let people = db.collection("people");
        assert_eq!(people.where_(q.clone()).get().unwrap().len(), expected);
        g.bench_function(name, |b| {
            b.iter(|| people.where_(q.clone()).get().unwrap().len());
        });
    }
    let people = file.collection("people");
    g.bench_function("count_file_db", |b| {
        b.iter(|| people.where_(q.clone()).count().unwrap());
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
