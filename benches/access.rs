//! The cost of access control: a rule-checked query against the same query as admin.
//!
//! `cargo bench --bench access`
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use yundb::{Db, Limits, Permission};

mod common;
use common::docs;

fn bench(c: &mut Criterion) {
    let db = Db::builder().limits(Limits::unlimited()).memory().unwrap();
    let owner_rule =
        json!({"read": "doc._openid == auth.openid", "write": "doc._openid == auth.openid"});
    db.create_collection_with("rules", Permission::Custom(owner_rule))
        .unwrap();
    db.create_collection_with("private", Permission::Private)
        .unwrap();
    let data = docs(100_000);
    db.collection("rules").add_many(&data).unwrap();
    db.collection("private").add_many(&data).unwrap();
    let q = json!({"_openid": "o-7", "done": false});
    let user = db.as_user("o-7");
    let n = user
        .collection("rules")
        .where_(q.clone())
        .get()
        .unwrap()
        .len();
    assert_eq!(
        n,
        db.collection("rules")
            .where_(q.clone())
            .get()
            .unwrap()
            .len()
    );
    println!("the owner query returns {n} records");

    let mut g = c.benchmark_group("access");
    g.sample_size(20);
    g.bench_function("owner_query_as_admin", |b| {
        b.iter(|| {
            db.collection("rules")
                .where_(q.clone())
                .get()
                .unwrap()
                .len()
        });
    });
    g.bench_function("owner_query_as_user_rule_checked", |b| {
        b.iter(|| {
            user.collection("rules")
                .where_(q.clone())
                .get()
                .unwrap()
                .len()
        });
    });
    g.bench_function("private_query_as_user_implicit_filter", |b| {
        b.iter(|| {
            user.collection("private")
                .where_(json!({"done": false}))
                .get()
                .unwrap()
                .len()
        });
    });
    g.bench_function("doc_get_as_admin", |b| {
        b.iter(|| db.collection("private").doc("doc-000042").get().unwrap());
    });
    let owner_of_42 = data[42]["_openid"].as_str().unwrap().to_owned();
    let owner = db.as_user(owner_of_42);
    g.bench_function("doc_get_as_owner_private", |b| {
        b.iter(|| owner.collection("private").doc("doc-000042").get().unwrap());
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
