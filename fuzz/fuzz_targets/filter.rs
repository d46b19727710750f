//! Arbitrary JSON query and document → normalise → compile (wire and builder forms) → evaluate,
//! plus sort and projection: never panics, never overflows the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use yundb_query::{value, Filter, Projection, Sort};

fuzz_target!(|data: &[u8]| {
    // The input is two JSON texts separated by a NUL byte: the query, then the document.
    let mut parts = data.splitn(2, |&b| b == 0);
    let (Some(q), Some(d)) = (parts.next(), parts.next()) else { return };
    let (Ok(mut query), Ok(mut doc)) = (serde_json::from_slice::<Value>(q), serde_json::from_slice::<Value>(d)) else {
        return;
    };
    if value::normalize(&mut query, 0).is_err() || value::normalize(&mut doc, 0).is_err() {
        return;
    }
    for filter in [Filter::from_wire(&query), Filter::from_builder(&query)].into_iter().flatten() {
        let hit = filter.matches(&doc);
        // Evaluation is deterministic.
        assert_eq!(hit, filter.matches(&doc));
    }
    if let Ok(sort) = Sort::from_wire(&query) {
        let _ = sort.compare(&doc, &doc);
    }
    if let Ok(projection) = Projection::new(&query) {
        let _ = projection.apply(&doc);
    }
});
