//! Arbitrary update and document → normalise → compile (wire and builder forms) → apply:
//! never panics; a failed apply leaves the document unchanged; a successful one is reported
//! exactly (replaying updatedFields/removedFields like the SDK client gives the new document)
//! and stays storable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use yundb_query::{replay::replay, value, ApplyContext, Filter, Update};

fuzz_target!(|data: &[u8]| {
    // Two JSON texts separated by a NUL byte: the update, then the document.
    let mut parts = data.splitn(2, |&b| b == 0);
    let (Some(u), Some(d)) = (parts.next(), parts.next()) else { return };
    let (Ok(mut update), Ok(mut doc)) = (serde_json::from_slice::<Value>(u), serde_json::from_slice::<Value>(d)) else {
        return;
    };
    if value::normalize(&mut update, 0).is_err() || value::normalize(&mut doc, 0).is_err() || !doc.is_object() {
        return;
    }
    // The document as it would be stored.
    if value::validate_document(&doc, 100).is_err() {
        return;
    }
    let filter = Filter::from_wire(&doc).ok();
    for compiled in [Update::from_wire(&update), Update::from_builder(&update)].into_iter().flatten() {
        let mut target = doc.clone();
        let ctx = ApplyContext { now_ms: 0, filter: filter.as_ref(), inserting: false };
        match compiled.apply_with(&mut target, &ctx) {
            Err(_) => assert_eq!(target, doc, "a failed apply changed the document"),
            Ok(applied) => {
                assert_eq!(replay(&doc, &applied.updated_fields, &applied.removed_fields), target, "reported fields do not rebuild the document");
                if !applied.changed() {
                    assert_eq!(target, doc, "an update reported as a no-op changed the document");
                }
            }
        }
    }
});
