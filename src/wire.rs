//! The wire entry point: one CloudBase database request (an action and its params, spec §0),
//! in the legacy JSON or the EJSON dialect, executed as a caller. Returns the response's `data`
//! (`{"list": [..]}`, `{"total": n}`, `{"updated": n}`, ...) or a typed error.
//!
//! Supported actions: find (`database.queryDocument`, `database.getDocument`), count
//! (`database.countDocument`, `database.calculateDocument`), insert (`database.addDocument`,
//! `database.insertDocument`), update and set (`database.updateDocument`,
//! `database.modifyDocument` with `merge`, `upsert`, `multi`; `database.modifyAndReturnDoc`),
//! remove (`database.deleteDocument`, `database.removeDocument`), and `database.addCollection`.

use serde_json::{json, Map, Value};
use yundb_query::{Projection, Sort, Update};

use crate::db::Db;
use crate::error::{Error, Result};
use crate::query::Query;

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidParam {
        reason: reason.into(),
    }
}

/// A parameter that may arrive as JSON or as a string holding (E)JSON.
fn param(params: &Map<String, Value>, key: &str) -> Result<Option<Value>> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if key != "collectionName" && key != "queryType" => {
            serde_json::from_str(s)
                .map(Some)
                .map_err(|e| invalid(format!("`{key}` is not valid JSON: {e}")))
        }
        Some(v) => Ok(Some(v.clone())),
    }
}

fn number(v: Option<Value>, key: &str) -> Result<Option<u64>> {
    match v {
        None => Ok(None),
        Some(v) => {
            let mut v = v;
            yundb_query::value::normalize(&mut v, 0)?;
            match v.as_u64().or_else(|| {
                v.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f as u64)
            }) {
                Some(n) => Ok(Some(n)),
                None => Err(invalid(format!(
                    "`{key}` must be a non-negative integer, got {v}"
                ))),
            }
        }
    }
}

/// Executes one request: `{"action": "database.getDocument", "params": {..}}`, or the params
/// object itself with an `action` key.
///
/// # Errors
/// Whatever the operation returns; `INVALID_PARAM` for an unknown action or malformed params.
pub fn execute(db: &Db, request: &Value) -> Result<Value> {
    let action = request
        .get("action")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("missing `action`"))?;
    let params = match request.get("params") {
        Some(Value::Object(p)) => p.clone(),
        _ => request.as_object().cloned().unwrap_or_default(),
    };
    let name = params
        .get("collectionName")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("missing `collectionName`"))?;
    let coll = db.collection(name);
    match action.trim_start_matches("database.") {
        "queryDocument" | "getDocument" => {
            let query = find_query(db, &params)?;
            // `explain: true` (a yundb extension) adds the plan the query ran with.
            if params.get("explain").and_then(Value::as_bool) == Some(true) {
                return Ok(json!({"list": query.get()?, "plan": query.explain()?}));
            }
            Ok(json!({"list": query.get()?}))
        }
        "countDocument" | "calculateDocument" => {
            let query = where_query(db, &params)?;
            Ok(json!({"total": query.count()?}))
        }
        "addDocument" | "insertDocument" => {
            let data = params.get("data").cloned().unwrap_or(Value::Null);
            let docs = match data {
                Value::Array(items) => items
                    .into_iter()
                    .map(|i| match i {
                        Value::String(s) => serde_json::from_str(&s)
                            .map_err(|e| invalid(format!("`data` entry is not valid JSON: {e}"))),
                        other => Ok(other),
                    })
                    .collect::<Result<Vec<_>>>()?,
                Value::String(s) => vec![serde_json::from_str(&s)
                    .map_err(|e| invalid(format!("`data` is not valid JSON: {e}")))?],
                other => vec![other],
            };
            let ids = coll.add_many(docs)?;
            Ok(match ids.as_slice() {
                [one] if action.ends_with("addDocument") => json!({"_id": one}),
                _ => json!({"insertedIds": ids}),
            })
        }
        "updateDocument" | "modifyDocument" | "modifyAndReturnDoc" => {
            let returning = action.ends_with("modifyAndReturnDoc");
            let mut data = param(&params, "data")?.unwrap_or(Value::Null);
            db.fill_placeholder(&mut data);
            yundb_query::value::normalize(&mut data, crate::collection::now_ms())?;
            let flag =
                |k: &str, default: bool| params.get(k).and_then(Value::as_bool).unwrap_or(default);
            let doc_query = params.get("queryType").and_then(Value::as_str) == Some("DOC");
            let merge = flag("merge", true);
            let upsert = flag("upsert", false);
            let multi = flag("multi", false) && !doc_query && !returning;
            let query = where_query(db, &params)?;
            let result = if merge {
                // Operators are evaluated as sent (a plain key beside them is an unknown
                // modifier); data with no operator at all is a plain-object merge.
                let operators = data
                    .as_object()
                    .is_some_and(|m| m.keys().any(|k| k.starts_with('$')));
                let update = if operators || data.as_object().is_some_and(serde_json::Map::is_empty)
                {
                    Update::from_wire(&data)?
                } else {
                    Update::from_builder(&data)?
                };
                query.modify(&update, multi, upsert, doc_query)?
            } else {
                let query_value = param(&params, "query")?.unwrap_or(Value::Null);
                let id = query_value
                    .get("_id")
                    .cloned()
                    .ok_or_else(|| invalid("a replacement (merge: false) needs a query on _id"))?;
                let mut data = data;
                if let Some(m) = data.as_object_mut() {
                    if m.get("_id")
                        .is_some_and(|given| yundb_query::values_equal(given, &id))
                    {
                        m.remove("_id");
                    }
                }
                coll.doc(id).replace(data, upsert)?
            };
            let mut out = json!({"updated": result.updated, "matched": result.matched, "upserted_id": result.upserted_id});
            if returning {
                let doc = match (&result.upserted_id, result.matched) {
                    (Some(id), _) => coll.doc(id.clone()).get()?,
                    (None, 0) => None,
                    (None, _) => where_query(db, &params)?.limit(1).get()?.into_iter().next(),
                };
                if let Some(m) = out.as_object_mut() {
                    m.insert("doc".into(), doc.unwrap_or(Value::Null));
                }
            }
            Ok(out)
        }
        "deleteDocument" | "removeDocument" => {
            let query = where_query(db, &params)?;
            let doc_query = params.get("queryType").and_then(Value::as_str) == Some("DOC");
            Ok(json!({"deleted": query.remove_by(doc_query)?.removed}))
        }
        "addCollection" => {
            db.create_collection(name)?;
            Ok(json!({}))
        }
        other => Err(invalid(format!("unsupported action `database.{other}`"))),
    }
}

fn where_query(db: &Db, params: &Map<String, Value>) -> Result<Query<Value>> {
    let name = params
        .get("collectionName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let coll = db.collection(name);
    Ok(match param(params, "query")? {
        None => coll.query(),
        Some(q) => coll.where_wire(q),
    })
}

fn find_query(db: &Db, params: &Map<String, Value>) -> Result<Query<Value>> {
    let mut query = where_query(db, params)?;
    if let Some(order) = param(params, "order")? {
        let mut order = order;
        yundb_query::value::normalize(&mut order, 0)?;
        let sort = Sort::from_wire(&order)?;
        for (path, dir) in sort.keys() {
            query = query.order_by(
                path.as_str(),
                if *dir == yundb_query::Direction::Asc {
                    "asc"
                } else {
                    "desc"
                },
            );
        }
    }
    if let Some(skip) = number(param(params, "offset")?, "offset")? {
        query = query.skip(skip);
    }
    if let Some(limit) = number(param(params, "limit")?, "limit")? {
        query = query.limit(limit);
    }
    if let Some(projection) = param(params, "projection")? {
        if projection.as_object().is_some_and(|m| !m.is_empty()) {
            let mut p = projection.clone();
            yundb_query::value::normalize(&mut p, 0)?;
            Projection::new(&p)?;
            query = query.field(p);
        }
    }
    Ok(query)
}
