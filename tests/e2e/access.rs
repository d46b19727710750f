//! Access control, adversarially: generated reads, writes and watches by several users against
//! every permission mode and several security rules, checked against an independent model of
//! who may see and touch what.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use yundb::{Db, Permission, Subscription};

const USERS: [&str; 3] = ["u1", "u2", "u3"];

/// Collection name → permission.
fn collections() -> Vec<(&'static str, Value)> {
    vec![
        ("readonly", json!("READONLY")),
        ("private", json!("PRIVATE")),
        ("adminwrite", json!("ADMINWRITE")),
        ("adminonly", json!("ADMINONLY")),
        (
            "owner",
            json!({"read": "doc._openid == auth.openid", "write": "doc._openid == auth.openid"}),
        ),
        (
            "public",
            json!({"read": true, "write": "doc._openid == auth.openid"}),
        ),
        (
            "field",
            json!({"read": "doc.public == true || doc._openid == auth.openid", "write": "doc._openid == auth.openid && request.data.public != true"}),
        ),
        (
            "roles",
            json!({"read": "get(`database.staff.${auth.openid}`).admin == true", "write": "get(`database.staff.${auth.openid}`).admin == true"}),
        ),
    ]
}

/// The model: may `user` see `doc` in collection `coll`?
fn visible(coll: &str, user: &str, doc: &Value) -> bool {
    let own = doc.get("_openid").and_then(Value::as_str) == Some(user);
    match coll {
        "readonly" | "adminwrite" | "public" => true,
        "private" | "owner" => own,
        "adminonly" => false,
        "field" => own || doc.get("public") == Some(&json!(true)),
        "roles" => user == "u1",
        _ => unreachable!(),
    }
}

/// The model: may `user` change or remove `doc`?
fn writable(coll: &str, user: &str, doc: &Value) -> bool {
    let own = doc.get("_openid").and_then(Value::as_str) == Some(user);
    match coll {
        "readonly" | "private" | "owner" | "public" | "field" => own,
        "roles" => user == "u1",
        _ => false,
    }
}

/// Whether a write's data or update touches `_openid` in a way no user may (forging another
/// owner, or changing it at all).
fn forges(user: &str, kind: u64, update: &Value, new_doc: &Value) -> bool {
    match kind {
        3 | 4 => update
            .as_object()
            .is_some_and(|m| m.values().any(|f| f.get("_openid").is_some())),
        5 | 8 => new_doc
            .get("_openid")
            .is_some_and(|o| o != &json!(user) && o != &json!("{openid}")),
        _ => false,
    }
}

/// The model's denials that do not depend on the data: the simple modes and `_openid`.
fn must_deny(coll: &str, user: &str, kind: u64, update: &Value, new_doc: &Value) -> bool {
    let write = kind >= 3;
    match coll {
        "adminonly" => true,
        "adminwrite" => write,
        "roles" if user != "u1" => true,
        "readonly" | "private" => kind == 4 || kind == 7 || forges(user, kind, update, new_doc),
        _ => forges(user, kind, update, new_doc),
    }
}

/// A small deterministic generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize].clone()
    }
}

fn all(db: &Db, coll: &str) -> BTreeMap<String, Value> {
    db.as_admin()
        .collection(coll)
        .query()
        .limit(1000)
        .get()
        .unwrap()
        .into_iter()
        .map(|d| (d["_id"].to_string(), d))
        .collect()
}

fn wheres(user: &str) -> Vec<Value> {
    vec![
        json!({}),
        json!({"_openid": "{openid}"}),
        json!({"_openid": user}),
        json!({"_openid": "u2"}),
        json!({"public": true}),
        json!({"_openid": "{openid}", "public": true}),
        json!({"n": {"$gt": 2}}),
        json!({"$or": [{"_openid": "{openid}"}, {"public": true}]}),
        json!({"_openid": {"$in": ["{openid}", "u3"]}}),
    ]
}

struct Stats {
    allowed: usize,
    denied: usize,
    snapshots: usize,
}

fn run(seed: u64, steps: usize) -> Stats {
    let db = Db::builder()
        .limits(yundb::Limits::unlimited())
        .memory()
        .unwrap();
    db.create_collection_with("staff", Permission::AdminOnly)
        .unwrap();
    db.collection("staff")
        .add_many([
            json!({"_id": "u1", "admin": true}),
            json!({"_id": "u2", "admin": false}),
        ])
        .unwrap();
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    for (name, perm) in collections() {
        db.create_collection_with(name, Permission::from_json(&perm).unwrap())
            .unwrap();
        let docs: Vec<Value> = (0..12)
            .map(|i| {
                let mut d = json!({"_id": format!("{name}-{i}"), "n": i % 5, "public": i % 3 == 0});
                if i % 4 != 3 {
                    d["_openid"] = json!(USERS[i % 3]);
                }
                d
            })
            .collect();
        db.collection(name).add_many(docs).unwrap();
        // Owned by two users at once through MongoDB's array matching: a query on `_openid`
        // reaches it, but it is nobody's record.
        db.collection(name).add(json!({"_id": format!("{name}-shared"), "_openid": ["u1", "u2"], "n": 1, "public": false})).unwrap();
    }
    // Two watches per user per collection, half of them windows.
    let mut watches: Vec<(String, String, Value, Subscription)> = Vec::new();
    for (name, _) in collections() {
        for user in USERS {
            for (i, w) in [json!({"_openid": "{openid}"}), json!({})]
                .into_iter()
                .enumerate()
            {
                let q = db.as_user(user).collection(name).where_(w.clone());
                let q = if i == 0 {
                    q.order_by("n", "desc").limit(3)
                } else {
                    q
                };
                if let Ok(sub) = q.watch() {
                    let init = sub.recv().unwrap();
                    assert!(
                        init.docs.iter().all(|d| visible(name, user, d)),
                        "{name}/{user}: init shows a hidden record"
                    );
                    watches.push((name.to_owned(), user.to_owned(), w, sub));
                }
            }
        }
    }
    let mut stats = Stats {
        allowed: 0,
        denied: 0,
        snapshots: 0,
    };
    let names: Vec<&str> = collections().into_iter().map(|(n, _)| n).collect();
    for step in 0..steps {
        let coll = rng.pick(&names);
        let user = rng.pick(&USERS);
        let who = db.as_user(user);
        let c = who.collection(coll);
        let before = all(&db, coll);
        let ids: Vec<Value> = before
            .values()
            .map(|d| d["_id"].clone())
            .chain([json!(format!("{coll}-new{step}"))])
            .collect();
        let id = rng.pick(&ids);
        let w = rng.pick(&wheres(user));
        let field_update = rng.pick(&[
            json!({"$set": {"n": 9}}),
            json!({"$set": {"public": true}}),
            json!({"$inc": {"n": 1}}),
            json!({"$set": {"_openid": "u2"}}),
            json!({"$unset": {"_openid": ""}}),
            json!({"$rename": {"_openid": "owner"}}),
        ]);
        let new_doc = rng.pick(&[
            json!({"n": 1}),
            json!({"n": 2, "_openid": "u2"}),
            json!({"n": 3, "_openid": "{openid}"}),
            json!({"n": 4, "public": true}),
            json!({"n": 5, "_openid": ["u1"]}),
        ]);
        let kind = rng.next() % 9;
        let result: yundb::Result<Option<Vec<Value>>> = match kind {
            0 => c.where_(w.clone()).get().map(Some),
            1 => c
                .doc(id.clone())
                .get()
                .map(|d| Some(d.into_iter().collect())),
            2 => c.where_(w.clone()).count().map(|_| None),
            3 => c.doc(id.clone()).update(field_update.clone()).map(|_| None),
            4 => c
                .where_(w.clone())
                .update(field_update.clone())
                .map(|_| None),
            5 => c.doc(id.clone()).set(new_doc.clone()).map(|_| None),
            6 => c.doc(id.clone()).remove().map(|_| None),
            7 => c.where_(w.clone()).remove().map(|_| None),
            _ => c.add(new_doc.clone()).map(|_| None),
        };
        let after = all(&db, coll);
        if must_deny(coll, user, kind, &field_update, &new_doc) {
            assert!(result.is_err(), "step {step}: {coll}/{user} kind {kind} ({field_update} / {new_doc}) must be denied");
        } else if (matches!(coll, "readonly" | "private") && kind != 4 && kind != 7)
            || (coll == "public" && kind <= 2)
        {
            // The simple modes filter instead of denying doc(id) requests and reads; a read-true
            // rule allows every read.
            assert!(
                result.is_ok(),
                "step {step}: {coll}/{user} kind {kind} must be allowed: {:?}",
                result.as_ref().err()
            );
        }
        match &result {
            Err(e) => {
                assert_eq!(
                    e.code(),
                    "DATABASE_PERMISSION_DENIED",
                    "step {step}: {coll}/{user} kind {kind}: {e}"
                );
                assert_eq!(
                    before, after,
                    "step {step}: a denied request changed {coll}"
                );
                stats.denied += 1;
            }
            Ok(returned) => {
                stats.allowed += 1;
                if let Some(docs) = returned {
                    for d in docs {
                        assert!(
                            visible(coll, user, d),
                            "step {step}: {coll}/{user} kind {kind} returned hidden {d}"
                        );
                    }
                    if kind == 0 {
                        let mut w_admin = w.clone();
                        fill(&mut w_admin, user);
                        let expected: Vec<String> = db
                            .as_admin()
                            .collection(coll)
                            .where_(w_admin)
                            .limit(1000)
                            .get()
                            .unwrap()
                            .into_iter()
                            .filter(|d| visible(coll, user, d))
                            .map(|d| d["_id"].to_string())
                            .collect();
                        let got: Vec<String> = docs.iter().map(|d| d["_id"].to_string()).collect();
                        assert_eq!(got, expected, "step {step}: {coll}/{user} query {w}");
                    }
                }
            }
        }
        // Whatever happened, records the user may not write are untouched, and no owner moved.
        for (k, old) in &before {
            match after.get(k) {
                Some(new) if new == old => {}
                other => {
                    assert!(writable(coll, user, old), "step {step}: {coll}/{user} kind {kind} touched protected {old} -> {other:?}");
                    if let Some(new) = other {
                        assert_eq!(
                            new.get("_openid"),
                            old.get("_openid"),
                            "step {step}: _openid changed"
                        );
                    }
                }
            }
        }
        for (k, new) in &after {
            if !before.contains_key(k) {
                assert_eq!(
                    new.get("_openid"),
                    Some(&json!(user)),
                    "step {step}: a user's new record is not stamped with them: {new}"
                );
            }
        }
        db.flush_watches();
        for (name, wuser, wq, sub) in &watches {
            while let Some(s) = sub.try_recv().unwrap_or(None) {
                stats.snapshots += 1;
                assert!(
                    s.docs.iter().all(|d| visible(name, wuser, d)),
                    "step {step}: watch {name}/{wuser} {wq} shows a hidden record"
                );
                for ch in &s.doc_changes {
                    assert!(
                        visible(name, wuser, &ch.doc) || ch.queue_type == yundb::QueueType::Dequeue,
                        "step {step}: a change exposes {}",
                        ch.doc
                    );
                }
            }
        }
    }
    stats
}

fn fill(v: &mut Value, openid: &str) {
    match v {
        Value::String(s) if s == "{openid}" => openid.clone_into(s),
        Value::Array(items) => items.iter_mut().for_each(|i| fill(i, openid)),
        Value::Object(m) => m.values_mut().for_each(|i| fill(i, openid)),
        _ => {}
    }
}

#[test]
fn generated_operations_respect_permissions() {
    let steps: usize = std::env::var("YUNDB_ACCESS_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let seed: u64 = std::env::var("YUNDB_ACCESS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let stats = run(seed, steps);
    println!(
        "access: {steps} user operations checked ({} allowed, {} denied), {} snapshots",
        stats.allowed, stats.denied, stats.snapshots
    );
    assert!(
        stats.allowed > steps / 5 && stats.denied > steps / 5,
        "the generator must exercise both outcomes"
    );
}

#[test]
fn permissions_api() {
    let db = Db::memory().unwrap();
    db.create_collection("c").unwrap();
    assert_eq!(
        db.permission("c").unwrap(),
        Permission::Private,
        "the default"
    );
    db.set_permission("c", Permission::ReadOnly).unwrap();
    assert_eq!(db.permission("c").unwrap(), Permission::ReadOnly);
    let e = db
        .set_permission("c", Permission::Custom(json!({"read": "doc.a =="})))
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_PARAM");
    assert!(e.to_string().contains("`read` at character"), "{e}");
    assert_eq!(
        db.as_user("u")
            .set_permission("c", Permission::AdminOnly)
            .unwrap_err()
            .code(),
        "DATABASE_PERMISSION_DENIED"
    );
    // Changing the permission ends client watches; admin watches go on.
    let client = db.as_user("u").collection("c").query().watch().unwrap();
    client.recv().unwrap();
    let admin = db.collection("c").query().watch().unwrap();
    admin.recv().unwrap();
    db.set_permission("c", Permission::Private).unwrap();
    db.flush_watches();
    assert!(matches!(
        client.recv(),
        Err(yundb::WatchError::PermissionChanged)
    ));
    db.collection("c").add(json!({"x": 1})).unwrap();
    assert!(admin
        .recv_timeout(std::time::Duration::from_secs(5))
        .unwrap()
        .is_some());
}

mod rule_soundness {
    use proptest::prelude::*;
    use serde_json::{json, Value};
    use yundb::{Db, Permission};

    /// A field-equality rule, kept as a structure so the test can evaluate it independently.
    #[derive(Debug, Clone)]
    enum R {
        Eq(&'static str, i64),
        Ne(&'static str, i64),
        Owner,
        And(Box<R>, Box<R>),
        Or(Box<R>, Box<R>),
    }

    impl R {
        fn text(&self) -> String {
            match self {
                R::Eq(f, v) => format!("doc.{f} == {v}"),
                R::Ne(f, v) => format!("doc.{f} != {v}"),
                R::Owner => "doc._openid == auth.openid".into(),
                R::And(a, b) => format!("({}) && ({})", a.text(), b.text()),
                R::Or(a, b) => format!("({}) || ({})", a.text(), b.text()),
            }
        }

        /// JavaScript-like evaluation on a stored record (a missing field is undefined).
        fn holds(&self, doc: &Value, user: &str) -> bool {
            match self {
                R::Eq(f, v) => doc.get(*f) == Some(&json!(v)),
                R::Ne(f, v) => doc.get(*f) != Some(&json!(v)),
                R::Owner => doc.get("_openid") == Some(&json!(user)),
                R::And(a, b) => a.holds(doc, user) && b.holds(doc, user),
                R::Or(a, b) => a.holds(doc, user) || b.holds(doc, user),
            }
        }
    }

    fn arb_rule() -> impl Strategy<Value = R> {
        let leaf = prop_oneof![
            (prop_oneof![Just("f"), Just("g")], 0i64..3).prop_map(|(f, v)| R::Eq(f, v)),
            (prop_oneof![Just("f"), Just("g")], 0i64..3).prop_map(|(f, v)| R::Ne(f, v)),
            Just(R::Owner),
        ];
        leaf.prop_recursive(2, 6, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| R::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner).prop_map(|(a, b)| R::Or(Box::new(a), Box::new(b))),
            ]
        })
    }

    fn arb_cond() -> impl Strategy<Value = Value> {
        prop_oneof![
            (prop_oneof![Just("f"), Just("g")], 0i64..3).prop_map(|(f, v)| json!({ f: v })),
            (
                prop_oneof![Just("f"), Just("g")],
                prop::collection::vec(0i64..3, 1..3)
            )
                .prop_map(|(f, vs)| json!({ f: {"$in": vs} })),
            Just(json!({"_openid": "{openid}"})),
            Just(json!({"_openid": "u9"})),
            (0i64..3).prop_map(|v| json!({"f": {"$gt": v}})),
        ]
    }

    fn arb_query() -> impl Strategy<Value = Value> {
        prop_oneof![
            prop::collection::vec(arb_cond(), 0..3).prop_map(
                |cs| json!({"$and": cs.into_iter().chain([json!({})]).collect::<Vec<_>>()})
            ),
            prop::collection::vec(arb_cond(), 1..3).prop_map(|cs| json!({"$or": cs})),
        ]
    }

    fn arb_docs() -> impl Strategy<Value = Vec<Value>> {
        let field = prop_oneof![
            Just(None),
            (0i64..3).prop_map(|v| Some(json!(v))),
            Just(Some(json!([0, 1])))
        ];
        let owner = prop_oneof![
            Just(json!("u1")),
            Just(json!("u9")),
            Just(json!(["u1", "u9"])),
            Just(Value::Null)
        ];
        prop::collection::vec((field.clone(), field, owner), 0..8).prop_map(|rows| {
            rows.into_iter()
                .enumerate()
                .map(|(i, (f, g, o))| {
                    let mut d = json!({"_id": i});
                    if let Some(f) = f {
                        d["f"] = f;
                    }
                    if let Some(g) = g {
                        d["g"] = g;
                    }
                    if !o.is_null() {
                        d["_openid"] = o;
                    }
                    d
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn allowed_queries_return_only_permitted_records(rule in arb_rule(), query in arb_query(), docs in arb_docs()) {
            let db = Db::memory().unwrap();
            db.create_collection_with("c", Permission::Custom(json!({"read": rule.text()}))).unwrap();
            if !docs.is_empty() {
                db.collection("c").add_many(docs).unwrap();
            }
            if let Ok(found) = db.as_user("u1").collection("c").where_wire(query.clone()).get() {
                for d in &found {
                    prop_assert!(rule.holds(d, "u1"), "rule {} query {} returned {}", rule.text(), query, d);
                }
            }
        }
    }
}
