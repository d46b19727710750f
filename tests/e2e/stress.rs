//! Concurrency stress: writers, readers and watchers on several threads for a bounded time, on
//! memory and file databases. No deadlock (a watchdog aborts), no panic, each watch's final
//! `docs` equals a fresh query, counters and indexes consistent.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use yundb::{Db, Direction, Limits, Permission};

fn run(db: &Db, seconds: f64) -> (u64, u64, usize) {
    db.create_collection_with("s", Permission::ReadOnly)
        .unwrap();
    let s = db.collection("s");
    s.create_index("k", &[("k", Direction::Asc)], false)
        .unwrap();
    s.add(json!({"_id": "ctr", "n": 0})).unwrap();
    let watches = [
        s.where_(json!({"k": 3})).watch().unwrap(),
        s.query().order_by("v", "desc").limit(5).watch().unwrap(),
        s.doc("ctr").watch().unwrap(),
    ];
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let latest: Vec<std::sync::Mutex<Option<Vec<Value>>>> = (0..watches.len())
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    let incs = Arc::new(AtomicU64::new(0));
    let ops = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // Watchdog: a deadlock must fail the run, not hang it.
    {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let limit = Instant::now() + Duration::from_secs_f64(seconds + 60.0);
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() > limit {
                    eprintln!("stress: no progress for 60 s past the deadline: deadlock");
                    std::process::abort();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    }
    std::thread::scope(|scope| {
        for t in 0..3u64 {
            let (db, incs, ops) = (db.clone(), Arc::clone(&incs), Arc::clone(&ops));
            scope.spawn(move || {
                let s = db.collection("s");
                let mut i = 0u64;
                while Instant::now() < deadline {
                    i += 1;
                    match i % 5 {
                        0 => {
                            s.doc("ctr").update(json!({"$inc": {"n": 1}})).unwrap();
                            incs.fetch_add(1, Ordering::Relaxed);
                        }
                        1 | 2 => {
                            s.add(json!({"_id": format!("w{t}-{i}"), "k": i % 10, "v": i}))
                                .unwrap();
                        }
                        3 => {
                            s.where_(json!({"k": i % 10}))
                                .update(json!({"$inc": {"v": 1}}))
                                .unwrap();
                        }
                        _ => {
                            s.doc(format!("w{t}-{}", i.saturating_sub(3)))
                                .remove()
                                .unwrap();
                        }
                    }
                    ops.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for _ in 0..2 {
            let db = db.clone();
            scope.spawn(move || {
                let s = db.collection("s");
                let mut x = 0u64;
                while Instant::now() < deadline {
                    x = (x + 1) % 10;
                    let found = s.where_(json!({"k": x})).limit(1000).get().unwrap();
                    assert!(
                        found.iter().all(|d| d["k"] == json!(x)),
                        "an index read returned a wrong record"
                    );
                    let _ = s.where_(json!({"v": {"$gt": 100}})).count().unwrap();
                }
            });
        }
        scope.spawn(|| {
            while Instant::now() < deadline {
                for (w, slot) in watches.iter().zip(latest.iter()) {
                    while let Some(snap) = w.try_recv().unwrap() {
                        *slot.lock().unwrap() = Some(snap.docs);
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
    });
    db.flush_watches();
    let fresh = |q: yundb::Query<Value>| q.get().unwrap();
    let mut last: Vec<Vec<Value>> = Vec::new();
    for (w, slot) in watches.iter().zip(latest.iter()) {
        let mut docs = slot.lock().unwrap().take();
        while let Some(snap) = w.try_recv().unwrap() {
            docs = Some(snap.docs);
        }
        last.push(docs.expect("every watch has at least its initial snapshot"));
    }
    let s = db.collection("s");
    assert_eq!(
        last[0],
        fresh(s.where_(json!({"k": 3})).order_by("_id", "desc")),
        "watch 1 final docs"
    );
    assert_eq!(
        last[1],
        fresh(
            s.query()
                .order_by("v", "desc")
                .order_by("_id", "asc")
                .limit(5)
        ),
        "watch 2 final docs"
    );
    let ctr = s.doc("ctr").get().unwrap().unwrap();
    assert_eq!(
        ctr["n"].as_u64().unwrap(),
        incs.load(Ordering::Relaxed),
        "counter increments"
    );
    if let Some(doc) = last[2].first() {
        assert_eq!(doc, &ctr, "the doc watch shows the final counter");
    }
    let by_index: usize = (0..10)
        .map(|x| s.where_(json!({"k": x})).count().unwrap() as usize)
        .sum();
    let scanned = s
        .query()
        .get()
        .unwrap()
        .iter()
        .filter(|d| d["k"].is_number())
        .count();
    assert_eq!(by_index, scanned, "index counts agree with a scan");
    stop.store(true, Ordering::Relaxed);
    (
        ops.load(Ordering::Relaxed),
        incs.load(Ordering::Relaxed),
        scanned,
    )
}

#[test]
fn writers_readers_and_watchers_together() {
    let seconds: f64 = std::env::var("YUNDB_STRESS_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.5);
    let memory = Db::builder().limits(Limits::unlimited()).memory().unwrap();
    let (ops, incs, docs) = run(&memory, seconds);
    println!("stress (memory, {seconds} s): {ops} writes, {incs} counter increments, {docs} documents at the end");
    let dir = tempfile::tempdir().unwrap();
    let file = Db::builder()
        .limits(Limits::unlimited())
        .open(dir.path().join("s.redb"))
        .unwrap();
    let (ops, incs, docs) = run(&file, seconds);
    println!("stress (file, {seconds} s): {ops} writes, {incs} counter increments, {docs} documents at the end");
}
