//! The CloudBase client's patch algorithm (spec §6.3): how the SDK rebuilds a document from a
//! watch event's `updatedFields` and `removedFields` — lodash `set` for each updated path (a
//! missing container becomes an array when the next segment is an index, an object otherwise;
//! a scalar in the way is replaced), then lodash `unset` for each removed path (an array element
//! becomes a hole, which JSON shows as `null`).

use serde_json::{Map, Value};

/// Applies reported fields to `old` as the SDK client does.
pub fn replay(old: &Value, updated: &Map<String, Value>, removed: &[String]) -> Value {
    let mut doc = old.clone();
    for (path, value) in updated {
        let segs: Vec<&str> = path.split('.').collect();
        set(&mut doc, &segs, value.clone());
    }
    for path in removed {
        let segs: Vec<&str> = path.split('.').collect();
        unset(&mut doc, &segs);
    }
    doc
}

fn index(seg: &str) -> Option<usize> {
    (seg == "0"
        || (!seg.starts_with('0') && !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit())))
    .then(|| seg.parse().ok())
    .flatten()
}

fn set(doc: &mut Value, segs: &[&str], value: Value) {
    let Some((first, rest)) = segs.split_first() else {
        *doc = value;
        return;
    };
    if !doc.is_object() && !doc.is_array() {
        *doc = Value::Object(Map::new());
    }
    let slot = match doc {
        Value::Array(items) => match index(first) {
            Some(i) => {
                if i >= items.len() {
                    items.resize(i + 1, Value::Null);
                }
                items.get_mut(i)
            }
            None => None,
        },
        Value::Object(m) => Some(m.entry((*first).to_owned()).or_insert(Value::Null)),
        _ => None,
    };
    let Some(slot) = slot else { return };
    if rest.is_empty() {
        *slot = value;
        return;
    }
    if !slot.is_object() && !slot.is_array() {
        let next_is_index = rest.first().is_some_and(|s| index(s).is_some());
        *slot = if next_is_index {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        };
    }
    set(slot, rest, value);
}

fn unset(doc: &mut Value, segs: &[&str]) {
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut cur = doc;
    for seg in parents {
        cur = match cur {
            Value::Object(m) => match m.get_mut(*seg) {
                Some(v) => v,
                None => return,
            },
            Value::Array(items) => match index(seg).and_then(|i| items.get_mut(i)) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    match cur {
        Value::Object(m) => {
            m.shift_remove(*last);
        }
        Value::Array(items) => {
            if let Some(v) = index(last).and_then(|i| items.get_mut(i)) {
                *v = Value::Null;
            }
        }
        _ => {}
    }
}
