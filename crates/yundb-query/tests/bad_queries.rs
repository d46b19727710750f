//! Malformed where-clauses, sorts and projections: each must be a typed error that names the
//! operator (or rule) and the path, never a panic and never a silent match.

use serde_json::{json, Value};
use yundb_query::{Filter, Projection, QueryError, Sort};

/// (query, the text the error message must contain)
fn wire_cases() -> Vec<(Value, &'static str)> {
    let mut deep = json!({"a": 1});
    for _ in 0..120 {
        deep = json!({"$or": [deep]});
    }
    let mut deep_not = json!({"$eq": 1});
    for _ in 0..120 {
        deep_not = json!({"$not": deep_not});
    }
    let mut deep_elem = json!({"x": 1});
    for _ in 0..120 {
        deep_elem = json!({"arr": {"$elemMatch": deep_elem}});
    }
    vec![
        (json!([1, 2]), "must be an object"),
        (json!("a"), "must be an object"),
        (json!({"age": {"$bogus": 1}}), "`$bogus` at `age`"),
        (json!({"$bogus": [{}]}), "`$bogus`"),
        (json!({"age": {"$gt": 1, "plain": 2}}), "`plain` at `age`"),
        (json!({"$where": "this.a > 1"}), "`$where`"),
        (json!({"$text": {"$search": "x"}}), "`$text`"),
        (json!({"$jsonSchema": {}}), "`$jsonSchema`"),
        (
            json!({"loc": {"$geoWithin": {"$centerSphere": [[0, 0], 1]}}}),
            "`$geoWithin` at `loc`",
        ),
        (
            json!({"loc": {"$nearSphere": {"$geometry": {"type": "Point", "coordinates": [0, 0]}}}}),
            "`$nearSphere` at `loc`",
        ),
        (
            json!({"loc": {"$geoIntersects": {}}}),
            "`$geoIntersects` at `loc`",
        ),
        (json!({"a": {"$type": "string"}}), "`$type` at `a`"),
        (json!({"$and": []}), "`$and`"),
        (json!({"$or": {}}), "`$or`"),
        (json!({"$nor": [1]}), "`$nor`"),
        (json!({"$and": "x"}), "`$and`"),
        (json!({"tags": {"$size": -1}}), "`$size` at `tags`"),
        (json!({"tags": {"$size": 1.5}}), "`$size` at `tags`"),
        (json!({"tags": {"$size": "2"}}), "`$size` at `tags`"),
        (json!({"n": {"$mod": [0, 1]}}), "`$mod` at `n`"),
        (json!({"n": {"$mod": [2]}}), "`$mod` at `n`"),
        (json!({"n": {"$mod": [2, 1, 0]}}), "`$mod` at `n`"),
        (json!({"n": {"$mod": "2"}}), "`$mod` at `n`"),
        (json!({"n": {"$mod": ["a", 1]}}), "`$mod` at `n`"),
        (json!({"n": {"$in": 5}}), "`$in` at `n`"),
        (json!({"n": {"$nin": {"a": 1}}}), "`$nin` at `n`"),
        (json!({"n": {"$in": [{"$gt": 1}]}}), "`$in` at `n`"),
        (json!({"n": {"$all": 3}}), "`$all` at `n`"),
        (
            json!({"n": {"$all": [{"$elemMatch": {"a": 1}}, 3]}}),
            "`$all` at `n`",
        ),
        (json!({"n": {"$all": [{"$gt": 1}]}}), "`$all` at `n`"),
        (json!({"n": {"$elemMatch": 3}}), "`$elemMatch` at `n`"),
        (json!({"n": {"$elemMatch": [1]}}), "`$elemMatch` at `n`"),
        (
            json!({"n": {"$elemMatch": {"$regex": "^o"}}}),
            "`$elemMatch` at `n`",
        ),
        (
            json!({"n": {"$elemMatch": {"$gt": 1, "$bogus": 2}}}),
            "`$bogus` at `n`",
        ),
        (json!({"n": {"$not": 3}}), "`$not` at `n`"),
        (json!({"n": {"$not": {}}}), "`$not` at `n`"),
        (json!({"n": {"$not": {"plain": 1}}}), "`$not` at `n`"),
        (
            json!({"name": {"$regex": "(a"}}),
            "regular expression at `name`",
        ),
        (
            json!({"name": {"$regex": "*a"}}),
            "regular expression at `name`",
        ),
        (
            json!({"name": {"$regex": "a", "$options": "g"}}),
            "regular expression at `name`",
        ),
        (json!({"name": {"$regex": 5}}), "`$regex` at `name`"),
        (
            json!({"name": {"$regex": "a", "$options": 1}}),
            "`$options` at `name`",
        ),
        (json!({"name": {"$options": "i"}}), "`$options` at `name`"),
        (
            json!({"name": {"$regex": "(?=a)"}}),
            "regular expression at `name`",
        ),
        (
            json!({"name": {"$regex": "(.)\\1"}}),
            "regular expression at `name`",
        ),
        (
            json!({"name": {"$regex": "caf\\u00e9"}}),
            "regular expression at `name`",
        ),
        (
            json!({"name": {"$ne": {"$regex": "a", "$options": ""}}}),
            "`$ne` at `name`",
        ),
        (
            json!({"name": {"$gt": {"$regex": "a", "$options": ""}}}),
            "`$gt` at `name`",
        ),
        (json!({"a..b": 1}), "`a..b`"),
        (json!({".a": 1}), "`.a`"),
        (json!({"a": {"$and": [{"$gt": 1}]}}), "`$and` at `a`"),
        (json!({"$expr": {"$bogus": [1, 2]}}), "`$bogus`"),
        (json!({"$expr": {"$gt": [1]}}), "`$gt`"),
        (json!({"$expr": {"$cond": {"if": true}}}), "`$cond`"),
        (
            json!({"$expr": {"$gt": ["$a", 1], "$lt": ["$a", 2]}}),
            "`$expr`",
        ),
        (json!({"$expr": "$$ROOT"}), "`$$ROOT`"),
        (json!({"$expr": "$a..b"}), "`$a..b`"),
        (deep, "deeper than 100"),
        (json!({"a": deep_not}), "deeper than 100"),
        (deep_elem, "deeper than 100"),
    ]
}

#[test]
fn every_malformed_wire_query_is_a_typed_error() {
    let cases = wire_cases();
    assert!(cases.len() >= 55, "{} cases", cases.len());
    for (query, needle) in cases {
        match Filter::from_wire(&query) {
            Ok(_) => panic!("accepted {query}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(needle),
                    "{query}: message {msg:?} does not name {needle:?}"
                );
            }
        }
    }
}

#[test]
fn builder_form_errors() {
    for (query, needle) in [
        (json!({"a": {"b": {"$bogus": 1}}}), "`$bogus` at `a.b`"),
        (json!({"a": {"$or": []}}), "`$or` at `a`"),
        (json!({"a": {"$and": 5}}), "`$and` at `a`"),
        (json!({"a": {"b": {"$size": -2}}}), "`$size` at `a.b`"),
        (json!(7), "must be an object"),
    ] {
        let e = Filter::from_builder(&query).expect_err(&query.to_string());
        assert!(e.to_string().contains(needle), "{query}: {e}");
    }
}

#[test]
fn malformed_sorts_and_projections() {
    for order in [
        json!({"a": 2}),
        json!({"a": "up"}),
        json!([{"direction": "asc"}]),
        json!([{"field": "a", "direction": "sideways"}]),
        json!("a"),
        json!({"a..b": 1}),
    ] {
        assert!(
            matches!(Sort::from_wire(&order), Err(QueryError::BadSort { .. })),
            "{order}"
        );
    }
    for (proj, path) in [
        (json!({"a": 1, "b": 0}), "b"),
        (json!({"a": {"$slice": "x"}}), "a"),
        (json!({"a": {"$slice": [1, 0]}}), "a"),
        (json!({"a": {"$bogus": 1}}), "a"),
        (json!({"a.b": {"$elemMatch": {"x": 1}}}), "a.b"),
        (json!({"a": 1, "a.b": 1}), "a.b"),
        (json!({"a": "yes"}), "a"),
        (json!(3), ""),
    ] {
        match Projection::new(&proj) {
            Err(QueryError::BadProjection { path: p, .. }) => assert_eq!(p, path, "{proj}"),
            other => panic!("{proj}: {other:?}"),
        }
    }
}
