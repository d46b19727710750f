//! yundb beside SQLite (JSONB) and raw redb: same documents, same workloads, one table.
//! Run with `cargo run --release --manifest-path benches/compare/Cargo.toml`.

use std::time::{Duration, Instant};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use rusqlite::{params, Connection};
use serde_json::{json, Value};
use yundb::{Db, Direction, Limits};

const N: usize = 100_000;
const RAW: TableDefinition<&str, &[u8]> = TableDefinition::new("raw");

// The same generator as the workspace benches (same seed, same documents).
#[path = "../../common/mod.rs"]
mod common;
use common::{docs as generate, Rng};

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        times.push(start.elapsed());
        last = Some(out);
    }
    (median(times), last.unwrap())
}

const FILTER_SQL: &str = "(doc->>'$.age') >= 30 AND (doc->>'$.age') < 50 AND (doc->>'$.profile.level') IN (1, 2) \
     AND EXISTS (SELECT 1 FROM json_each(doc, '$.tags') WHERE value = 'alpha') AND (doc->>'$.done') = 0";

fn filter_json() -> Value {
    json!({"age": {"$gte": 30, "$lt": 50}, "profile.level": {"$in": [1, 2]}, "tags": "alpha", "done": false})
}

fn hand_filter(d: &Value) -> bool {
    let age = d["age"].as_f64().unwrap_or(-1.0);
    let level = d["profile"]["level"].as_f64().unwrap_or(-1.0);
    let tags = d["tags"]
        .as_array()
        .is_some_and(|t| t.iter().any(|x| x == "alpha"));
    (30.0..50.0).contains(&age)
        && (level == 1.0 || level == 2.0)
        && tags
        && d["done"] == json!(false)
}

struct Row {
    name: &'static str,
    yundb: Duration,
    sqlite: Option<Duration>,
    redb: Option<Duration>,
    note: String,
}

fn sqlite(dir: &std::path::Path) -> Connection {
    let c = Connection::open(dir.join("s.sqlite")).unwrap();
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, doc BLOB NOT NULL);").unwrap();
    c
}

fn main() {
    let docs = generate(N);
    let texts: Vec<(String, String)> = docs
        .iter()
        .map(|d| (d["_id"].as_str().unwrap().to_owned(), d.to_string()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();

    // Bulk load.
    let (y_load, _) = time(3, || {
        let d = tempfile::tempdir_in(dir.path()).unwrap();
        let db = Db::open(d.path().join("y.redb")).unwrap();
        db.create_collection("people").unwrap();
        db.collection("people").add_many(&docs).unwrap();
    });
    let (s_load, _) = time(3, || {
        let d = tempfile::tempdir_in(dir.path()).unwrap();
        let mut c = sqlite(d.path());
        let t = c.transaction().unwrap();
        {
            let mut st = t
                .prepare("INSERT INTO docs (id, doc) VALUES (?1, jsonb(?2))")
                .unwrap();
            for (id, text) in &texts {
                st.execute(params![id, text]).unwrap();
            }
        }
        t.commit().unwrap();
    });
    let (r_load, _) = time(3, || {
        let d = tempfile::tempdir_in(dir.path()).unwrap();
        let db = redb::Database::create(d.path().join("r.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(RAW).unwrap();
            for (id, text) in &texts {
                t.insert(id.as_str(), text.as_bytes()).unwrap();
            }
        }
        txn.commit().unwrap();
    });
    rows.push(Row {
        name: "bulk load 100k (one durable transaction)",
        yundb: y_load,
        sqlite: Some(s_load),
        redb: Some(r_load),
        note: String::new(),
    });

    // The databases the remaining workloads share.
    let y = Db::builder()
        .limits(Limits::unlimited())
        .open(dir.path().join("y.redb"))
        .unwrap();
    y.create_collection("people").unwrap();
    let people = y.collection("people");
    people.add_many(&docs).unwrap();
    let c = sqlite(dir.path());
    {
        let mut st = c
            .prepare("INSERT INTO docs (id, doc) VALUES (?1, jsonb(?2))")
            .unwrap();
        c.execute_batch("BEGIN").unwrap();
        for (id, text) in &texts {
            st.execute(params![id, text]).unwrap();
        }
        c.execute_batch("COMMIT").unwrap();
    }
    let r = redb::Database::create(dir.path().join("r.redb")).unwrap();
    {
        let txn = r.begin_write().unwrap();
        {
            let mut t = txn.open_table(RAW).unwrap();
            for (id, text) in &texts {
                t.insert(id.as_str(), text.as_bytes()).unwrap();
            }
        }
        txn.commit().unwrap();
    }

    // Unindexed filter, returning the documents.
    let (y_scan, n_y) = time(15, || people.where_(filter_json()).get().unwrap().len());
    let sql = format!("SELECT json(doc) FROM docs WHERE {FILTER_SQL}");
    let (s_scan, n_s) = time(15, || {
        let mut st = c.prepare_cached(&sql).unwrap();
        let rows = st.query_map([], |row| row.get::<_, String>(0)).unwrap();
        rows.map(|t| serde_json::from_str::<Value>(&t.unwrap()).unwrap())
            .count()
    });
    let (r_scan, n_r) = time(15, || {
        let txn = r.begin_read().unwrap();
        let t = txn.open_table(RAW).unwrap();
        t.iter()
            .unwrap()
            .filter_map(|e| {
                let v: Value = serde_json::from_slice(e.unwrap().1.value()).unwrap();
                hand_filter(&v).then_some(v)
            })
            .count()
    });
    assert_eq!(
        (n_y, n_y),
        (n_s, n_r),
        "every engine finds the same documents"
    );
    rows.push(Row {
        name: "unindexed filter (734 of 100k returned)",
        yundb: y_scan,
        sqlite: Some(s_scan),
        redb: Some(r_scan),
        note: "raw redb: from_slice + hand-written predicate".into(),
    });

    // Indexes for the indexed workloads.
    people
        .create_index("openid", &[("_openid", Direction::Asc)], false)
        .unwrap();
    people
        .create_index("age", &[("age", Direction::Asc)], false)
        .unwrap();
    c.execute_batch("CREATE INDEX docs_openid ON docs (doc->>'$._openid'); CREATE INDEX docs_age ON docs (doc->>'$.age');").unwrap();

    let (y_eq, n_y) = time(200, || {
        people
            .where_(json!({"_openid": "o-7"}))
            .get()
            .unwrap()
            .len()
    });
    let (s_eq, n_s) = time(200, || {
        let mut st = c
            .prepare_cached("SELECT json(doc) FROM docs WHERE doc->>'$._openid' = 'o-7'")
            .unwrap();
        let rows = st.query_map([], |row| row.get::<_, String>(0)).unwrap();
        rows.map(|t| serde_json::from_str::<Value>(&t.unwrap()).unwrap())
            .count()
    });
    assert_eq!(n_y, n_s);
    rows.push(Row {
        name: "indexed equality (_openid, ~100 returned)",
        yundb: y_eq,
        sqlite: Some(s_eq),
        redb: None,
        note: String::new(),
    });

    let (y_rng, top_y) = time(200, || {
        people
            .where_(json!({"age": {"$gte": 30}}))
            .order_by("age", "asc")
            .limit(20)
            .get()
            .unwrap()
            .len()
    });
    let (s_rng, top_s) = time(200, || {
        let mut st = c.prepare_cached("SELECT json(doc) FROM docs WHERE doc->>'$.age' >= 30 ORDER BY doc->>'$.age' ASC LIMIT 20").unwrap();
        let rows = st.query_map([], |row| row.get::<_, String>(0)).unwrap();
        rows.map(|t| serde_json::from_str::<Value>(&t.unwrap()).unwrap())
            .count()
    });
    assert_eq!(top_y, top_s);
    rows.push(Row {
        name: "indexed range + order_by + limit 20",
        yundb: y_rng,
        sqlite: Some(s_rng),
        redb: None,
        note: String::new(),
    });

    // Point reads by _id.
    let ids: Vec<String> = {
        let mut rng = Rng(42);
        (0..10_000)
            .map(|_| format!("doc-{:06}", rng.below(N as u64)))
            .collect()
    };
    let (y_get, _) = time(5, || {
        ids.iter()
            .map(|id| people.doc(id.as_str()).get().unwrap().is_some() as usize)
            .sum::<usize>()
    });
    let (s_get, _) = time(5, || {
        let mut st = c
            .prepare_cached("SELECT json(doc) FROM docs WHERE id = ?1")
            .unwrap();
        ids.iter()
            .map(|id| {
                st.query_row(params![id], |row| row.get::<_, String>(0))
                    .map(|t| serde_json::from_str::<Value>(&t).is_ok() as usize)
                    .unwrap()
            })
            .sum::<usize>()
    });
    let (r_get, _) = time(5, || {
        ids.iter()
            .map(|id| {
                let txn = r.begin_read().unwrap();
                let t = txn.open_table(RAW).unwrap();
                let g = t.get(id.as_str()).unwrap().unwrap();
                serde_json::from_slice::<Value>(g.value()).is_ok() as usize
            })
            .sum::<usize>()
    });
    let per = |d: Duration| d / 10_000;
    rows.push(Row {
        name: "point get by _id (per read)",
        yundb: per(y_get),
        sqlite: Some(per(s_get)),
        redb: Some(per(r_get)),
        note: String::new(),
    });

    // Durable single inserts.
    let extra = generate(1000);
    let extra_texts: Vec<(String, String)> = extra
        .iter()
        .enumerate()
        .map(|(i, d)| (format!("new-{i}"), d.to_string()))
        .collect();
    let (y_ins, _) = time(1, || {
        for (i, d) in extra.iter().enumerate() {
            let mut d = d.clone();
            d["_id"] = json!(format!("new-{i}"));
            people.add(d).unwrap();
        }
    });
    let (s_ins, _) = time(1, || {
        let mut st = c
            .prepare_cached("INSERT INTO docs (id, doc) VALUES (?1, jsonb(?2))")
            .unwrap();
        for (id, text) in &extra_texts {
            st.execute(params![id, text]).unwrap();
        }
    });
    let (r_ins, _) = time(1, || {
        for (id, text) in &extra_texts {
            let txn = r.begin_write().unwrap();
            txn.open_table(RAW)
                .unwrap()
                .insert(id.as_str(), text.as_bytes())
                .unwrap();
            txn.commit().unwrap();
        }
    });
    rows.push(Row {
        name: "durable single insert (per insert)",
        yundb: y_ins / 1000,
        sqlite: Some(s_ins / 1000),
        redb: Some(r_ins / 1000),
        note: "yundb maintains 2 indexes here".into(),
    });

    // Multi-document update.
    let (y_upd, n) = time(5, || {
        people
            .where_(filter_json())
            .update(json!({"$inc": {"profile.score": 1}}))
            .unwrap()
            .updated
    });
    let (s_upd, _) = time(5, || {
        c.execute(&format!("UPDATE docs SET doc = jsonb_set(doc, '$.profile.score', (doc->>'$.profile.score') + 1) WHERE {FILTER_SQL}"), []).unwrap()
    });
    rows.push(Row {
        name: "where().update $inc",
        yundb: y_upd,
        sqlite: Some(s_upd),
        redb: None,
        note: format!("{n} documents"),
    });

    println!(
        "{:<44} {:>12} {:>12} {:>8} {:>12} {:>8}  note",
        "workload", "yundb", "sqlite", "÷yundb", "raw redb", "÷yundb"
    );
    for row in &rows {
        let cell = |d: Option<Duration>| {
            d.map_or(("-".to_owned(), "-".to_owned()), |d| {
                (
                    format!("{d:.2?}"),
                    format!("{:.2}", d.as_secs_f64() / row.yundb.as_secs_f64()),
                )
            })
        };
        let (s, sr) = cell(row.sqlite);
        let (r, rr) = cell(row.redb);
        println!(
            "{:<44} {:>12} {:>12} {:>8} {:>12} {:>8}  {}",
            row.name,
            format!("{:.2?}", row.yundb),
            s,
            sr,
            r,
            rr,
            row.note
        );
    }
    #[cfg(feature = "polodb")]
    println!("(PoloDB: built with --features polodb; workloads to be added beside the others)");
}
