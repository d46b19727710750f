//! Runs every case file of the shared conformance suite (`../shared/conformance`, or the folder
//! named by `YUNDB_CONFORMANCE_DIR`) through the wire entry point and prints
//! `conformance: N passed, N failed`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use yundb::{values_equal_loose, Db};

fn folder() -> PathBuf {
    match std::env::var_os("YUNDB_CONFORMANCE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance"),
    }
}

/// One database per dataset, loaded once: query cases only read.
/// Every dot path the documents hold (objects and arrays of objects walked, two levels deep).
fn field_paths(docs: &[Value]) -> Vec<String> {
    fn walk(v: &Value, prefix: &str, depth: usize, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(m) if !m.keys().any(|k| k.starts_with('$')) => {
                for (k, child) in m {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    out.insert(path.clone());
                    if depth < 2 {
                        walk(child, &path, depth + 1, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, prefix, depth, out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    for d in docs {
        walk(d, "", 0, &mut out);
    }
    out.into_iter().filter(|p| p != "_id").collect()
}

/// The same datasets with a secondary index on every field (the run with indexes).
fn indexed(sets: &HashMap<String, Db>) -> HashMap<String, Db> {
    sets.iter()
        .map(|(name, db)| {
            let copy = Db::builder()
                .limits(yundb::Limits::unlimited())
                .memory()
                .unwrap();
            copy.create_collection(name).unwrap();
            let docs = db.collection(name).query().get().unwrap();
            copy.collection(name).add_many(&docs).unwrap();
            for (i, path) in field_paths(&docs).iter().enumerate() {
                // A path that reaches parallel arrays in some document cannot be indexed.
                let _ = copy.collection(name).create_index(
                    &format!("f{i}"),
                    &[(path, yundb::Direction::Asc)],
                    false,
                );
                let _ = copy.collection(name).create_index(
                    &format!("d{i}"),
                    &[
                        (path, yundb::Direction::Desc),
                        ("_id", yundb::Direction::Asc),
                    ],
                    false,
                );
            }
            (name.clone(), copy)
        })
        .collect()
}

fn datasets(dir: &Path) -> HashMap<String, Db> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir.join("datasets")) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let data: Value = serde_json::from_str(&text).unwrap();
        let name = data.get("name").and_then(Value::as_str).map_or_else(
            || path.file_stem().unwrap().to_string_lossy().into_owned(),
            str::to_owned,
        );
        let db = Db::builder()
            .limits(yundb::Limits::unlimited())
            .memory()
            .unwrap();
        db.create_collection(&name).unwrap();
        let docs = data
            .get("documents")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        db.collection(&name).add_many(docs).unwrap();
        out.insert(name, db);
    }
    out
}

/// What one query case produced.
struct Outcome {
    total: Option<u64>,
    ids: Option<Vec<Value>>,
    list: Option<Vec<Value>>,
    plan_used: bool,
    error: Option<String>,
}

fn run_query(db: &Db, wire: &Value) -> Outcome {
    let admin = Db::as_admin(db);
    let find = yundb::wire::execute(&admin, wire);
    // The ids come from the same request without its projection (which may drop `_id`).
    let mut unprojected = wire.clone();
    if let Some(params) = unprojected.get_mut("params").and_then(Value::as_object_mut) {
        params.remove("projection");
    }
    let ids = yundb::wire::execute(&admin, &unprojected);
    let mut count_req = wire.clone();
    count_req["action"] = json!("database.calculateDocument");
    let count = yundb::wire::execute(&admin, &count_req);
    match (find, ids, count) {
        (Ok(f), Ok(i), Ok(c)) => Outcome {
            total: c["total"].as_u64(),
            ids: i["list"].as_array().map(|l| {
                l.iter()
                    .map(|d| d.get("_id").cloned().unwrap_or(Value::Null))
                    .collect()
            }),
            list: f["list"].as_array().cloned(),
            error: None,
            plan_used: {
                let mut explain = wire.clone();
                explain["params"]["explain"] = json!(true);
                yundb::wire::execute(&admin, &explain).is_ok_and(|r| r["plan"]["stage"] == "IXSCAN")
            },
        },
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Outcome {
            total: None,
            ids: None,
            list: None,
            error: Some(format!("{} ({})", e.code(), e)),
            plan_used: false,
        },
    }
}

/// Compares an outcome with one expectation; `None` when it agrees.
fn check_query(outcome: &Outcome, expect: &Value) -> Option<String> {
    if expect.get("error").is_some_and(|e| !e.is_null()) {
        return match &outcome.error {
            Some(_) => None,
            None => Some(format!(
                "expected an error {}, got total {:?}",
                expect["error"], outcome.total
            )),
        };
    }
    if let Some(e) = &outcome.error {
        return Some(format!("unexpected error {e}"));
    }
    let list = outcome.list.clone().unwrap_or_default();
    if let Some(total) = expect.get("total").and_then(Value::as_u64) {
        if outcome.total != Some(total) {
            return Some(format!("total: expected {total}, got {:?}", outcome.total));
        }
    }
    if let Some(ids) = expect.get("ids").and_then(Value::as_array) {
        let got: Vec<Value> = outcome.ids.clone().unwrap_or_default();
        let ordered = expect
            .get("ordered")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let same = if ordered {
            got.len() == ids.len() && got.iter().zip(ids).all(|(a, b)| values_equal_loose(a, b))
        } else {
            let key = |v: &Value| v.to_string();
            let mut a: Vec<String> = got.iter().map(key).collect();
            let mut b: Vec<String> = ids.iter().map(key).collect();
            a.sort();
            b.sort();
            a == b
        };
        if !same {
            return Some(format!(
                "ids: expected {} {}, got {}",
                if ordered { "in order" } else { "as a set" },
                Value::Array(ids.clone()),
                Value::Array(got)
            ));
        }
    }
    if let Some(docs) = expect.get("docs").and_then(Value::as_array) {
        // Projected documents line up with the ids (the same query, the same order).
        let ids = outcome.ids.clone().unwrap_or_default();
        let by_id: BTreeMap<String, &Value> =
            ids.iter().map(Value::to_string).zip(list.iter()).collect();
        if docs.len() != list.len() {
            return Some(format!(
                "docs: expected {} documents, got {}",
                docs.len(),
                list.len()
            ));
        }
        for (i, want) in docs.iter().enumerate() {
            let got = match want.get("_id") {
                Some(id) => by_id.get(&id.to_string()).copied(),
                None => list.get(i),
            };
            match got {
                Some(got) if values_equal_loose(got, want) => {}
                Some(got) => return Some(format!("doc {i}: expected {want}, got {got}")),
                None => return Some(format!("doc {want} missing from the result")),
            }
        }
    }
    None
}

/// What one update or set case produced.
struct UpdateOutcome {
    matched: u64,
    modified: bool,
    upserted: bool,
    doc: Option<Value>,
    error: Option<String>,
}

fn run_update(case: &Value) -> UpdateOutcome {
    let params = &case["wire"]["params"];
    let name = params["collectionName"].as_str().unwrap_or("scratch");
    let db = Db::memory().unwrap();
    db.create_collection(name).unwrap();
    if let Some(start) = case.get("start").filter(|s| !s.is_null()) {
        db.collection(name).add(start.clone()).unwrap();
    }
    let id = params["query"]["_id"].clone();
    let seq = db.seq().unwrap();
    let result = yundb::wire::execute(&db, &case["wire"]);
    let doc = db.collection(name).doc(id).get().unwrap();
    match result {
        Ok(r) => UpdateOutcome {
            matched: r["matched"].as_u64().unwrap_or(0),
            modified: r["updated"].as_u64().unwrap_or(0) > 0 || !r["upserted_id"].is_null(),
            upserted: !r["upserted_id"].is_null(),
            doc,
            error: None,
        },
        Err(e) => {
            // A failed request must leave the database as it was.
            let unchanged = db.seq().unwrap() == seq;
            UpdateOutcome {
                matched: 0,
                modified: !unchanged,
                upserted: false,
                doc,
                error: Some(format!("{} ({})", e.code(), e)),
            }
        }
    }
}

fn check_update(outcome: &UpdateOutcome, expect: &Value) -> Option<String> {
    let want_doc = expect.get("doc").filter(|d| !d.is_null());
    let doc_ok = match (want_doc, &outcome.doc) {
        (None, None) => true,
        (Some(w), Some(g)) => values_equal_loose(w, g),
        _ => false,
    };
    if expect.get("error").is_some_and(|e| !e.is_null()) {
        return match &outcome.error {
            None => Some(format!(
                "expected an error {}, got doc {:?}",
                expect["error"], outcome.doc
            )),
            Some(_) if outcome.modified => Some("the failed request changed the database".into()),
            Some(_) if !doc_ok => Some(format!(
                "the failed request changed the document: {:?}",
                outcome.doc
            )),
            Some(_) => None,
        };
    }
    if let Some(e) = &outcome.error {
        return Some(format!("unexpected error {e}"));
    }
    if !doc_ok {
        return Some(format!(
            "doc: expected {}, got {:?}",
            expect.get("doc").unwrap_or(&Value::Null),
            outcome.doc
        ));
    }
    if let Some(m) = expect.get("matched").and_then(Value::as_u64) {
        if m != outcome.matched {
            return Some(format!("matched: expected {m}, got {}", outcome.matched));
        }
    }
    if let Some(m) = expect.get("modified").and_then(Value::as_bool) {
        if m != outcome.modified {
            return Some(format!("modified: expected {m}, got {}", outcome.modified));
        }
    }
    if let Some(u) = expect.get("upserted").and_then(Value::as_bool) {
        if u != outcome.upserted {
            return Some(format!("upserted: expected {u}, got {}", outcome.upserted));
        }
    }
    None
}

/// A case passes when it meets `expect` or one of its `alt_expect` outcomes (recorded).
fn with_alternatives(
    verdict: Option<String>,
    case: &Value,
    alternatives: &mut Vec<String>,
    check: impl Fn(&Value) -> Option<String>,
) -> Option<String> {
    let why = verdict?;
    let Some(alts) = case.get("alt_expect").and_then(Value::as_object) else {
        return Some(why);
    };
    match alts.iter().find(|(_, alt)| check(alt).is_none()) {
        Some((name, _)) => {
            alternatives.push(format!("{}: {name}", case["id"].as_str().unwrap_or("?")));
            None
        }
        None => Some(why),
    }
}

mod scenario;

#[test]
fn conformance() {
    let dir = folder();
    let sets = datasets(&dir);
    let with_indexes = indexed(&sets);
    let (mut indexed_checked, mut indexed_used) = (0usize, 0usize);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read conformance folder {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("jsonl"))
        .collect();
    files.sort();
    let (mut passed, mut failed) = (0usize, 0usize);
    let skipped: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut alternatives = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (lineno, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let case: Value = match serde_json::from_str(line) {
                Ok(c) => c,
                Err(e) => {
                    failed += 1;
                    failures.push(format!(
                        "{}:{}: unreadable case: {e}",
                        file.display(),
                        lineno + 1
                    ));
                    continue;
                }
            };
            let id = case
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            let kind = case.get("kind").and_then(Value::as_str).unwrap_or("query");
            match kind {
                "query" => {
                    let dataset = case
                        .get("dataset")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let Some(db) = sets.get(dataset) else {
                        failed += 1;
                        failures.push(format!("{id}: dataset `{dataset}` not found"));
                        continue;
                    };
                    let outcome = run_query(db, &case["wire"]);
                    let verdict = check_query(&outcome, &case["expect"]);
                    // The same case on the indexed copy must come out the same.
                    if let Some(idb) = with_indexes.get(dataset) {
                        let indexed_outcome = run_query(idb, &case["wire"]);
                        if indexed_outcome.ids != outcome.ids
                            || indexed_outcome.total != outcome.total
                            || indexed_outcome.list != outcome.list
                            || indexed_outcome.error.is_some() != outcome.error.is_some()
                        {
                            failed += 1;
                            failures.push(format!(
                                "{id}: with indexes: ids {:?} vs {:?} without",
                                indexed_outcome.ids, outcome.ids
                            ));
                            continue;
                        }
                        indexed_checked += 1;
                        if indexed_outcome.plan_used {
                            indexed_used += 1;
                        }
                    }
                    match with_alternatives(verdict, &case, &mut alternatives, |alt| {
                        check_query(&outcome, alt)
                    }) {
                        None => passed += 1,
                        Some(why) => {
                            failed += 1;
                            failures.push(format!(
                                "{id}: {why}\n    request: {}",
                                case["wire"]["params"]
                            ));
                        }
                    }
                }
                "update" | "set" => {
                    let outcome = run_update(&case);
                    let verdict = check_update(&outcome, &case["expect"]);
                    match with_alternatives(verdict, &case, &mut alternatives, |alt| {
                        check_update(&outcome, alt)
                    }) {
                        None => passed += 1,
                        Some(why) => {
                            failed += 1;
                            failures.push(format!(
                                "{id}: {why}\n    request: {}",
                                case["wire"]["params"]
                            ));
                        }
                    }
                }
                "scenario" => match scenario::run(&case) {
                    Ok(()) => passed += 1,
                    Err(why) => {
                        failed += 1;
                        failures.push(format!("{id}: {why}"));
                    }
                },
                _ => {
                    failed += 1;
                    failures.push(format!("{id}: unknown case kind `{kind}`"));
                }
            }
        }
    }
    for f in &failures {
        println!("FAIL {f}");
    }
    for a in &alternatives {
        println!("passed through a documented alternative outcome: {a}");
    }
    for (reason, n) in &skipped {
        println!("skipped {n}: {reason}");
    }
    println!("query cases re-run with an index on every field: {indexed_checked} identical ({indexed_used} planned on an index)");
    println!("conformance: {passed} passed, {failed} failed");
    assert_eq!(failed, 0, "{failed} conformance cases failed");
}
