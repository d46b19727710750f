//! Crash recovery: a child process writes continuously and reports every acknowledged commit;
//! the parent kills it with SIGKILL at random moments, reopens the file and checks that every
//! acknowledged write is there, no batch is partly visible, indexes agree with the data, the
//! sequence number never goes back, and redb's integrity check passes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use yundb::{Db, Direction, Permission};

const COUNTERS: usize = 5;

/// The writer. Runs only inside the child process (when `YUNDB_CRASH_DB` is set).
#[test]
fn crash_child() {
    let Ok(path) = std::env::var("YUNDB_CRASH_DB") else {
        return;
    };
    let start: u64 = std::env::var("YUNDB_CRASH_START")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let db = Db::open(&path).unwrap();
    if !db.list_collections().unwrap().contains(&"c".to_owned()) {
        db.create_collection_with("c", Permission::AdminOnly)
            .unwrap();
        let c = db.collection("c");
        c.create_index("n", &[("n", Direction::Asc)], false)
            .unwrap();
        c.create_index("u", &[("u", Direction::Asc)], true).unwrap();
        c.add_many((0..COUNTERS).map(|i| json!({"_id": format!("counter-{i}"), "kind": "counter", "v": 0, "u": format!("counter-{i}")}))).unwrap();
        println!("READY {}", db.seq().unwrap());
    }
    let c = db.collection("c");
    for i in start.. {
        match i % 4 {
            0 | 1 => {
                c.add(json!({"_id": format!("a{i}"), "n": i % 97, "u": format!("u{i}")}))
                    .unwrap();
                println!("ACK add a{i} {}", db.seq().unwrap());
            }
            2 => {
                c.add_many((0..3).map(|k| json!({"_id": format!("m{i}-{k}"), "n": (i + k) % 97, "u": format!("u{i}-{k}")}))).unwrap();
                println!("ACK batch m{i} {}", db.seq().unwrap());
            }
            _ => {
                c.where_(json!({"kind": "counter"}))
                    .update(json!({"$inc": {"v": 1}}))
                    .unwrap();
                println!("ACK inc {} {}", i, db.seq().unwrap());
            }
        }
    }
}

#[test]
fn killed_writers_lose_nothing_acknowledged() {
    if std::env::var("YUNDB_CRASH_DB").is_ok() {
        return;
    }
    let kills: usize = std::env::var("YUNDB_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let exe = std::env::current_exe().unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut acked_adds: Vec<String> = Vec::new();
    let mut acked_batches: Vec<String> = Vec::new();
    let mut acked_incs = 0u64;
    let mut last_seq = 0u64;
    let mut next = 0u64;
    for round in 0..kills {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let wait_for = 1 + (rng % 40) as usize;
        let mut child = Command::new(&exe)
            .args([
                "crash::crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("YUNDB_CRASH_DB", &path)
            .env("YUNDB_CRASH_START", next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut seen = 0;
        let mut killed = false;
        // Read to the end, also after the kill: every ACK the child printed before it died is
        // still in the pipe, so the only unreported write is the one it was doing when killed.
        for line in out.lines() {
            let Ok(line) = line else { break };
            // libtest prints `test crash::crash_child ... ` before the child's first line, on the
            // same line: read from the report's first word.
            let report = ["ACK ", "READY "]
                .iter()
                .filter_map(|w| line.find(w))
                .min()
                .map_or("", |at| &line[at..]);
            let parts: Vec<&str> = report.split_whitespace().collect();
            match parts.as_slice() {
                ["ACK", "add", id, seq] => {
                    acked_adds.push((*id).to_owned());
                    last_seq = seq.parse().unwrap();
                }
                ["ACK", "batch", id, seq] => {
                    acked_batches.push((*id).to_owned());
                    last_seq = seq.parse().unwrap();
                }
                ["ACK", "inc", _, seq] => {
                    acked_incs += 1;
                    last_seq = seq.parse().unwrap();
                }
                ["READY", seq] => last_seq = seq.parse().unwrap(),
                _ => continue,
            }
            next += 1;
            seen += 1;
            if seen >= wait_for && !killed {
                // SIGKILL, in the middle of whatever the writer is doing now.
                child.kill().unwrap();
                killed = true;
            }
        }
        let _ = child.wait();
        // The write in flight when the child died may or may not have landed; skip its number.
        next += 1;

        // redb's own integrity check on the raw file.
        {
            let mut raw = redb::Database::open(&path).unwrap();
            assert!(
                raw.check_integrity().unwrap(),
                "round {round}: redb integrity check failed"
            );
        }
        let db = Db::builder()
            .limits(yundb::Limits::unlimited())
            .open(&path)
            .unwrap();
        assert!(
            db.seq().unwrap() >= last_seq,
            "round {round}: sequence went back"
        );
        let c = db.collection("c");
        for id in &acked_adds {
            assert!(
                c.doc(id.as_str()).get().unwrap().is_some(),
                "round {round}: acknowledged {id} lost"
            );
        }
        for b in &acked_batches {
            for k in 0..3 {
                assert!(
                    c.doc(format!("{b}-{k}")).get().unwrap().is_some(),
                    "round {round}: acknowledged batch {b} lost"
                );
            }
        }
        // No batch is partly visible, acknowledged or not.
        let everything: Vec<Value> = c.query().get().unwrap();
        let mut batches = std::collections::BTreeMap::<String, usize>::new();
        for d in &everything {
            if let Some(id) = d["_id"].as_str().and_then(|s| s.strip_prefix('m')) {
                *batches
                    .entry(id.split('-').next().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
        assert!(
            batches.values().all(|&n| n == 3),
            "round {round}: a partly visible batch: {batches:?}"
        );
        // Multi-document updates are atomic: every counter moved together.
        let counters: Vec<i64> = (0..COUNTERS)
            .map(|i| {
                c.doc(format!("counter-{i}")).get().unwrap().unwrap()["v"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert!(
            counters.windows(2).all(|w| w[0] == w[1]),
            "round {round}: counters diverged {counters:?}"
        );
        let v = counters[0] as u64;
        assert!(
            v >= acked_incs && v <= acked_incs + 1,
            "round {round}: counter {v} vs {acked_incs} acknowledged"
        );
        acked_incs = v;
        // Indexes agree with the data.
        for d in &everything {
            let by_u = c.where_(json!({"u": d["u"].clone()})).get().unwrap();
            assert_eq!(
                by_u.len(),
                1,
                "round {round}: unique index lookup of {}",
                d["u"]
            );
            assert_eq!(by_u[0]["_id"], d["_id"]);
        }
        let indexed = c
            .where_(json!({"n": {"$gte": 0}}))
            .limit(1_000_000)
            .count()
            .unwrap();
        let scanned = everything.iter().filter(|d| d["n"].is_number()).count() as u64;
        assert_eq!(
            indexed, scanned,
            "round {round}: index range count differs from a scan"
        );
        assert_eq!(
            c.where_(json!({"n": {"$gte": 0}})).explain().unwrap()["stage"],
            "IXSCAN"
        );
    }
    println!("crash: {kills} SIGKILLs, {} single adds, {} batches, {acked_incs} multi-document updates verified", acked_adds.len(), acked_batches.len());
}
