//! Scenario cases (format: SCENARIOS.md of the conformance folder): steps against a fresh
//! database, with each step's result and each open watch's snapshot checked.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use yundb::{values_equal_loose, Db, Snapshot, Subscription};

struct Watch {
    sub: Subscription,
    last_id: u64,
}

fn caller(db: &Db, step: &Value) -> Db {
    match step.get("as") {
        Some(Value::Object(u)) => {
            db.as_user(u.get("openid").and_then(Value::as_str).unwrap_or_default())
        }
        _ => db.as_admin(),
    }
}

fn order_of(step: &Value) -> Vec<(String, String)> {
    step.get("orderBy")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(|k| {
                    Some((
                        k.get(0)?.as_str()?.to_owned(),
                        k.get(1)?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn query(db: &Db, step: &Value) -> yundb::Query<Value> {
    let coll = db.collection(step["collection"].as_str().unwrap_or_default());
    let mut q = match (step.get("doc"), step.get("where")) {
        (Some(id), _) => coll.where_wire(json!({"_id": id})),
        (None, Some(w)) if step.get("form").and_then(Value::as_str) == Some("builder") => {
            coll.where_(w.clone())
        }
        (None, Some(w)) => coll.where_wire(w.clone()),
        (None, None) => coll.query(),
    };
    for (field, dir) in order_of(step) {
        q = q.order_by(&field, &dir);
    }
    if let Some(n) = step.get("skip").and_then(Value::as_u64) {
        q = q.skip(n);
    }
    if let Some(n) = step.get("limit").and_then(Value::as_u64) {
        q = q.limit(n);
    }
    if let Some(f) = step.get("field") {
        q = q.field(f.clone());
    }
    q
}

/// Runs one write or read step; returns its facts (`ids`, `docs`, `count`, `updated`, ...).
fn execute(db: &Db, step: &Value) -> yundb::Result<Value> {
    let who = caller(db, step);
    let name = step["collection"].as_str().unwrap_or_default();
    let coll = who.collection(name);
    let exec = |action: &str, params: Value| {
        yundb::wire::execute(&who, &json!({"action": action, "params": params}))
    };
    let target = |params: &mut Value| match step.get("doc") {
        Some(id) => {
            params["queryType"] = json!("DOC");
            params["query"] = json!({"_id": id});
        }
        None => {
            params["queryType"] = json!("WHERE");
            params["query"] = step.get("where").cloned().unwrap_or(json!({}));
        }
    };
    match step["op"].as_str().unwrap_or_default() {
        "add" => {
            coll.add(step["data"].clone())?;
            Ok(json!({}))
        }
        "add_many" => {
            coll.add_many(step["data"].as_array().cloned().unwrap_or_default())?;
            Ok(json!({}))
        }
        "get" => {
            let docs = query(&who, step).get()?;
            Ok(
                json!({"ids": docs.iter().map(|d| d["_id"].clone()).collect::<Vec<_>>(), "docs": docs}),
            )
        }
        "count" => Ok(json!({"count": query(&who, step).count()?})),
        "update" => {
            let mut params = json!({"collectionName": name, "data": step["data"], "merge": true, "upsert": false});
            target(&mut params);
            params["multi"] = json!(step
                .get("multi")
                .and_then(Value::as_bool)
                .unwrap_or(step.get("doc").is_none()));
            let r = exec("database.modifyDocument", params)?;
            Ok(json!({"updated": r["updated"]}))
        }
        "set" => {
            let params = json!({"collectionName": name, "queryType": "DOC", "query": {"_id": step["doc"]}, "data": step["data"], "merge": false, "upsert": true});
            let r = exec("database.modifyDocument", params)?;
            Ok(json!({"updated": r["updated"], "created": u64::from(!r["upserted_id"].is_null())}))
        }
        "remove" => {
            let mut params = json!({"collectionName": name, "multi": step.get("doc").is_none()});
            target(&mut params);
            let r = exec("database.removeDocument", params)?;
            Ok(json!({"removed": r["deleted"]}))
        }
        "create_collection" => {
            let permission = yundb::Permission::from_json(
                step.get("permission").unwrap_or(&json!("ADMINONLY")),
            )?;
            who.create_collection_with(name, permission)?;
            Ok(json!({}))
        }
        other => Err(yundb::Error::InvalidParam {
            reason: format!("unknown step op `{other}`"),
        }),
    }
}

fn check_expect(step: &Value, result: &yundb::Result<Value>) -> Result<(), String> {
    let Some(expect) = step.get("expect").and_then(Value::as_object) else {
        return Ok(());
    };
    if let Some(code) = expect.get("error").and_then(Value::as_str) {
        return match result {
            Err(e) if e.code() == code => Ok(()),
            Err(e) => Err(format!("expected error {code}, got {} ({e})", e.code())),
            Ok(r) => Err(format!("expected error {code}, got {r}")),
        };
    }
    let r = result
        .as_ref()
        .map_err(|e| format!("unexpected error {} ({e})", e.code()))?;
    for (key, want) in expect {
        match key.as_str() {
            "ok" => {}
            "ids" => {
                let got = r["ids"].as_array().cloned().unwrap_or_default();
                let want = want.as_array().cloned().unwrap_or_default();
                let ordered = step.get("orderBy").is_some();
                let same = if ordered {
                    got.len() == want.len()
                        && got.iter().zip(&want).all(|(a, b)| values_equal_loose(a, b))
                } else {
                    let key = |v: &Value| v.to_string();
                    let (mut a, mut b): (Vec<_>, Vec<_>) = (
                        got.iter().map(key).collect(),
                        want.iter().map(key).collect(),
                    );
                    a.sort();
                    b.sort();
                    a == b
                };
                if !same {
                    return Err(format!(
                        "ids: expected {}, got {}",
                        Value::Array(want),
                        Value::Array(got)
                    ));
                }
            }
            "docs" => {
                let got = r["docs"].as_array().cloned().unwrap_or_default();
                let want = want.as_array().cloned().unwrap_or_default();
                let found = |w: &Value| got.iter().any(|g| values_equal_loose(g, w));
                if got.len() != want.len() || !want.iter().all(found) {
                    return Err(format!(
                        "docs: expected {}, got {}",
                        Value::Array(want),
                        Value::Array(got)
                    ));
                }
            }
            other => {
                if !values_equal_loose(&r[other], want) {
                    return Err(format!("{other}: expected {want}, got {}", r[other]));
                }
            }
        }
    }
    Ok(())
}

fn check_snapshot(
    name: &str,
    watch: &mut Watch,
    got: Option<Snapshot>,
    want: Option<&Value>,
) -> Result<(), String> {
    let (got, want) = match (got, want.filter(|w| !w.is_null())) {
        (None, None) => return Ok(()),
        (Some(g), None) => {
            return Err(format!(
                "watch {name}: expected no snapshot, got {}",
                g.to_json()
            ))
        }
        (None, Some(w)) => return Err(format!("watch {name}: expected snapshot {w}, got none")),
        (Some(g), Some(w)) => (g, w),
    };
    if got.id != watch.last_id + 1 {
        return Err(format!(
            "watch {name}: event id {} after {} is not gap-free",
            got.id, watch.last_id
        ));
    }
    watch.last_id = got.id;
    let is_init = want.get("type").and_then(Value::as_str) == Some("init");
    if got.is_init() != is_init {
        return Err(format!(
            "watch {name}: type: expected {:?}, got {:?}",
            want.get("type"),
            got.kind
        ));
    }
    let got_ids: Vec<Value> = got.docs.iter().map(|d| d["_id"].clone()).collect();
    let want_ids = want["docs"].as_array().cloned().unwrap_or_default();
    if got_ids.len() != want_ids.len()
        || !got_ids
            .iter()
            .zip(&want_ids)
            .all(|(a, b)| values_equal_loose(a, b))
    {
        return Err(format!(
            "watch {name}: docs: expected {}, got {}",
            Value::Array(want_ids),
            Value::Array(got_ids)
        ));
    }
    let json = got.to_json();
    let got_changes: BTreeMap<String, &Value> = json["docChanges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| (c["docId"].to_string(), c))
        .collect();
    let want_changes = want["docChanges"].as_array().cloned().unwrap_or_default();
    if got_changes.len() != want_changes.len() {
        return Err(format!(
            "watch {name}: docChanges: expected {}, got {}",
            Value::Array(want_changes),
            json["docChanges"]
        ));
    }
    for w in &want_changes {
        let Some(g) = got_changes.get(&w["docId"].to_string()) else {
            return Err(format!(
                "watch {name}: no docChange for {} in {}",
                w["docId"], json["docChanges"]
            ));
        };
        for (k, v) in w.as_object().into_iter().flatten() {
            if !values_equal_loose(&g[k.as_str()], v) {
                return Err(format!(
                    "watch {name}: docChange {} field {k}: expected {v}, got {}",
                    w["docId"],
                    g[k.as_str()]
                ));
            }
        }
    }
    Ok(())
}

pub fn run(case: &Value) -> Result<(), String> {
    let db = Db::memory().map_err(|e| e.to_string())?;
    for (name, spec) in case["collections"].as_object().into_iter().flatten() {
        let permission =
            yundb::Permission::from_json(spec.get("permission").unwrap_or(&json!("ADMINONLY")))
                .map_err(|e| e.to_string())?;
        db.create_collection_with(name, permission)
            .map_err(|e| e.to_string())?;
        let docs = spec
            .get("docs")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        db.collection(name)
            .add_many(docs)
            .map_err(|e| e.to_string())?;
    }
    let mut watches: BTreeMap<String, Watch> = BTreeMap::new();
    for (i, step) in case["steps"].as_array().into_iter().flatten().enumerate() {
        let fail = |why: String| Err(format!("step {i} ({}): {why}", step["op"]));
        let name = step
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match step["op"].as_str().unwrap_or_default() {
            "watch" => {
                let who = caller(&db, step);
                let sub = match query(&who, step).watch() {
                    Ok(sub) => sub,
                    Err(e) => {
                        if let Err(why) = check_expect(step, &Err(e)) {
                            return fail(why);
                        }
                        continue;
                    }
                };
                let mut watch = Watch { sub, last_id: 0 };
                let first = watch.sub.try_recv().map_err(|e| e.to_string())?;
                if let Err(why) = check_snapshot(
                    &name,
                    &mut watch,
                    first,
                    step.get("expect").and_then(|e| e.get("snapshot")),
                ) {
                    return fail(why);
                }
                watches.insert(name.clone(), watch);
            }
            "close" => {
                watches.remove(&name);
            }
            _ => {
                let result = execute(&db, step);
                if let Err(why) = check_expect(step, &result) {
                    return fail(why);
                }
            }
        }
        db.flush_watches();
        let expected = step.get("snapshots").and_then(Value::as_object);
        for (wname, watch) in &mut watches {
            if step["op"] == "watch" && *wname == name {
                continue;
            }
            let got = watch
                .sub
                .try_recv()
                .map_err(|e| format!("watch {wname}: {e}"))?;
            if let Err(why) = check_snapshot(wname, watch, got, expected.and_then(|m| m.get(wname)))
            {
                return fail(why);
            }
        }
    }
    Ok(())
}
