//! Watch costs: (a) an `orderBy` + `limit` window through 2,000 random updates over 100k
//! documents; (b) commit-to-snapshot latency with 1, 100 and 1,000 watches; (c) one write's
//! dispatch cost with 10 vs 1,000 watches on distinct equality filters.
//!
//! `cargo bench --bench watch`
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use yundb::Db;

mod common;
use common::{docs, Rng};

const N: usize = 100_000;

fn loaded() -> Db {
    let db = Db::memory().unwrap();
    db.create_collection("people").unwrap();
    db.collection("people").add_many(docs(N)).unwrap();
    db
}

fn updates(db: &Db, count: usize, seed: u64) {
    let people = db.collection("people");
    let mut rng = Rng(seed);
    for _ in 0..count {
        let id = format!("doc-{:06}", rng.below(N as u64));
        let score = rng.below(10_000) as f64 / 100.0;
        people
            .doc(id)
            .update(json!({"profile": {"score": score}}))
            .unwrap();
    }
}

fn window(c: &mut Criterion) {
    let db = loaded();
    let mut g = c.benchmark_group("watch_window");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.bench_function("2000_updates_no_watch", |b| {
        b.iter(|| updates(&db, 2000, 11));
    });
    let watch = db
        .collection("people")
        .where_(json!({"done": false}))
        .order_by("profile.score", "desc")
        .limit(20)
        .watch()
        .unwrap();
    watch.recv().unwrap();
    g.bench_function("2000_updates_with_window_watch", |b| {
        b.iter(|| {
            updates(&db, 2000, 11);
            db.flush_watches();
            while watch.try_recv().unwrap().is_some() {}
        });
    });
    g.finish();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

/// Commit-to-snapshot latency: from the start of a write that changes every watch's result to
/// the moment the last watch has its snapshot.
fn latency(_: &mut Criterion) {
    for watches in [1usize, 100, 1000] {
        let db = Db::memory().unwrap();
        db.create_collection("c").unwrap();
        db.collection("c")
            .add_many((0..100).map(|i| json!({"_id": i, "v": 0})))
            .unwrap();
        let subs: Vec<_> = (0..watches)
            .map(|_| {
                let s = db
                    .collection("c")
                    .where_(json!({"_id": 7}))
                    .watch()
                    .unwrap();
                s.recv().unwrap();
                s
            })
            .collect();
        let mut samples = Vec::new();
        for i in 0..300 {
            let start = Instant::now();
            db.collection("c")
                .doc(7)
                .update(json!({"v": i + 1}))
                .unwrap();
            for s in &subs {
                s.recv().unwrap();
            }
            samples.push(start.elapsed());
        }
        samples.sort();
        println!(
            "watch_latency/{watches}_watches: p50 {:?} p99 {:?} (300 writes, each changing every watch)",
            percentile(&samples, 0.5),
            percentile(&samples, 0.99)
        );
    }
}

/// One write's cost with many watches that it cannot affect (routed by equality).
fn routing(c: &mut Criterion) {
    let mut g = c.benchmark_group("watch_routing");
    for watches in [10usize, 1000] {
        let db = Db::memory().unwrap();
        db.create_collection("c").unwrap();
        db.collection("c")
            .add_many((0..1000).map(|i| json!({"_id": i, "team": format!("t{i}"), "v": 0})))
            .unwrap();
        let subs: Vec<_> = (0..watches)
            .map(|i| {
                let s = db
                    .collection("c")
                    .where_(json!({"team": format!("t{}", i + 1)}))
                    .watch()
                    .unwrap();
                s.recv().unwrap();
                s
            })
            .collect();
        let mut v = 0;
        g.bench_function(format!("write_and_dispatch_{watches}_watches"), |b| {
            b.iter(|| {
                v += 1;
                db.collection("c").doc(0).update(json!({"v": v})).unwrap();
                db.flush_watches();
            });
        });
        drop(subs);
    }
    g.finish();
}

criterion_group!(benches, window, latency, routing);
criterion_main!(benches);
