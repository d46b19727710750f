//! Secondary indexes: specifications, and the order-preserving byte encoding of index keys.
//!
//! A key component's bytes sort exactly as [`cmp_values`](crate::cmp_values) orders the values
//! (type bracket first, numbers by exact value, strings by code point, objects field by field,
//! arrays element by element), with a missing field encoded as `null` and an empty array as
//! `undefined` (below `null`), as MongoDB indexes them. Encodings are prefix-free, so a
//! descending component is its ascending encoding with every byte inverted, and a compound key
//! is the concatenation of its components.

use serde_json::{json, Map, Number, Value};

use crate::error::QueryError;
use crate::path::FieldPath;
use crate::sort::{collect, Direction, Key};
use crate::value::{special, Special};

const UNDEFINED: u8 = 0x02;
const NULL: u8 = 0x05;
const NUMBER: u8 = 0x10;
const STRING: u8 = 0x14;
const OBJECT: u8 = 0x18;
const ARRAY: u8 = 0x1c;
const OID: u8 = 0x20;
const BOOL: u8 = 0x24;
const DATE: u8 = 0x28;
const REGEX: u8 = 0x2c;
const END: u8 = 0x00;

/// The most keys one document may put in one index (multikey fan-out).
pub const MAX_KEYS_PER_DOCUMENT: usize = 10_000;

/// An index: named, on one or more dot paths with directions, optionally unique.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexSpec {
    /// The index's name.
    pub name: String,
    /// The key paths in order, each ascending or descending.
    pub keys: Vec<(FieldPath, Direction)>,
    /// Whether a key may belong to one document only (a missing field counts as `null`).
    pub unique: bool,
}

fn bad(name: &str, reason: impl Into<String>) -> QueryError {
    QueryError::BadOperand {
        op: "createIndex".into(),
        path: name.to_owned(),
        reason: reason.into(),
    }
}

impl IndexSpec {
    /// Builds a specification.
    ///
    /// # Errors
    /// An empty or invalid name, no keys, an invalid or repeated path.
    pub fn new(
        name: &str,
        keys: &[(&str, Direction)],
        unique: bool,
    ) -> Result<IndexSpec, QueryError> {
        if name.is_empty() || name.len() > 128 || name.contains('/') {
            return Err(bad(
                name,
                "an index name is 1 to 128 characters without `/`",
            ));
        }
        if keys.is_empty() || keys.len() > 32 {
            return Err(bad(name, "an index has 1 to 32 keys"));
        }
        let mut out: Vec<(FieldPath, Direction)> = Vec::new();
        for (path, dir) in keys {
            let fp = FieldPath::parse(path).map_err(|e| QueryError::InvalidPath {
                path: (*path).to_owned(),
                reason: e.reason(),
            })?;
            if fp.segments().iter().any(|s| s.name().starts_with('$')) {
                return Err(bad(name, format!("`{path}` is not a field path")));
            }
            if out.iter().any(|(p, _)| p.as_str() == *path) {
                return Err(bad(name, format!("`{path}` appears twice")));
            }
            out.push((fp, *dir));
        }
        Ok(IndexSpec {
            name: name.to_owned(),
            keys: out,
            unique,
        })
    }

    /// As stored: `{"name", "keys": [[path, 1 | -1]], "unique"}`.
    pub fn to_json(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|(p, d)| json!([p.as_str(), if *d == Direction::Asc { 1 } else { -1 }]))
            .collect();
        json!({"name": self.name, "keys": keys, "unique": self.unique})
    }

    /// Reads [`IndexSpec::to_json`]'s form.
    pub fn from_json(v: &Value) -> Result<IndexSpec, QueryError> {
        let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
        let keys = v
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(name, "missing keys"))?;
        let mut parsed = Vec::new();
        for k in keys {
            let path = k
                .get(0)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(name, "a key is [path, direction]"))?;
            let dir = match k.get(1).and_then(Value::as_i64) {
                Some(-1) => Direction::Desc,
                _ => Direction::Asc,
            };
            parsed.push((path, dir));
        }
        IndexSpec::new(
            name,
            &parsed,
            v.get("unique").and_then(Value::as_bool).unwrap_or(false),
        )
    }

    /// The distinct keys a document puts in this index.
    ///
    /// # Errors
    /// Two key paths that both reach arrays ("cannot index parallel arrays"), or more than
    /// [`MAX_KEYS_PER_DOCUMENT`] keys.
    pub fn keys_of(&self, doc: &Value) -> Result<Vec<Vec<u8>>, QueryError> {
        let mut per_path: Vec<Vec<Vec<u8>>> = Vec::with_capacity(self.keys.len());
        for (path, dir) in &self.keys {
            let mut parts = Vec::new();
            collect(doc, path.segments(), &mut |k| {
                let mut buf = Vec::new();
                encode_key(k, &mut buf);
                if *dir == Direction::Desc {
                    for b in &mut buf {
                        *b = !*b;
                    }
                }
                parts.push(buf);
            });
            parts.sort();
            parts.dedup();
            per_path.push(parts);
        }
        if per_path.iter().filter(|p| p.len() > 1).count() > 1 {
            return Err(bad(
                &self.name,
                "cannot index parallel arrays: two key paths reach arrays in one document",
            ));
        }
        let mut out: Vec<Vec<u8>> = vec![Vec::new()];
        for parts in per_path {
            let mut next = Vec::with_capacity(out.len() * parts.len().max(1));
            for prefix in &out {
                for p in &parts {
                    let mut k = prefix.clone();
                    k.extend_from_slice(p);
                    next.push(k);
                }
            }
            out = next;
            if out.len() > MAX_KEYS_PER_DOCUMENT {
                return Err(bad(
                    &self.name,
                    format!(
                        "a document would put more than {MAX_KEYS_PER_DOCUMENT} keys in the index"
                    ),
                ));
            }
        }
        Ok(out)
    }
}

fn encode_key(k: Key<'_>, out: &mut Vec<u8>) {
    match k {
        Key::Undefined => out.push(UNDEFINED),
        Key::Null => out.push(NULL),
        Key::Value(v) => encode_value(v, out),
    }
}

/// Appends the order-preserving encoding of one value (ascending).
pub fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(b) => {
            out.push(BOOL);
            out.push(u8::from(*b));
        }
        Value::Number(n) => {
            out.push(NUMBER);
            encode_number(n, out);
        }
        Value::String(s) => {
            out.push(STRING);
            encode_bytes(s.as_bytes(), out);
        }
        Value::Array(items) => {
            out.push(ARRAY);
            for i in items {
                encode_value(i, out);
            }
            out.push(END);
        }
        Value::Object(m) => match special(m) {
            Some(Special::Date(ms)) => {
                out.push(DATE);
                out.extend_from_slice(&((ms as u64) ^ (1 << 63)).to_be_bytes());
            }
            Some(Special::ObjectId(hex)) => {
                out.push(OID);
                encode_bytes(hex.to_ascii_lowercase().as_bytes(), out);
            }
            Some(Special::Regex(p, o)) => {
                out.push(REGEX);
                encode_bytes(p.as_bytes(), out);
                encode_bytes(o.as_bytes(), out);
            }
            None => encode_object(m, out),
        },
    }
}

fn encode_object(m: &Map<String, Value>, out: &mut Vec<u8>) {
    out.push(OBJECT);
    for (k, v) in m {
        // Fields compare by the value's bracket, then the name, then the value.
        let mut value = Vec::new();
        encode_value(v, &mut value);
        out.push(value.first().copied().unwrap_or(NULL));
        encode_bytes(k.as_bytes(), out);
        out.extend_from_slice(&value);
    }
    out.push(END);
}

/// Bytes with `0x00` escaped as `0x00 0xff`, ended by `0x00 0x00`: prefix-free and
/// order-preserving.
fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

/// Numbers by exact value: the nearest `f64` in sortable form, then the integer's distance from
/// it (for integers `f64` cannot hold exactly).
fn encode_number(n: &Number, out: &mut Vec<u8>) {
    let (f, rest): (f64, i64) = if let Some(i) = n.as_i64() {
        let f = i as f64;
        (f, (i128::from(i) - f as i128) as i64)
    } else if let Some(u) = n.as_u64() {
        let f = u as f64;
        (f, (i128::from(u) - f as i128) as i64)
    } else {
        (n.as_f64().unwrap_or(0.0), 0)
    };
    let f = if f == 0.0 { 0.0 } else { f };
    let bits = f.to_bits();
    let sortable = if bits >> 63 == 1 {
        !bits
    } else {
        bits ^ (1 << 63)
    };
    out.extend_from_slice(&sortable.to_be_bytes());
    out.extend_from_slice(&((rest as u64) ^ (1 << 63)).to_be_bytes());
}

/// The encoding of a value as one key component in the given direction.
pub fn component(v: &Value, dir: Direction) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_value(v, &mut buf);
    if dir == Direction::Desc {
        for b in &mut buf {
            *b = !*b;
        }
    }
    buf
}

/// The first and last possible component byte strings of a value's type bracket (ascending):
/// the bounds of a one-sided range.
pub fn bracket_bounds(v: &Value) -> (Vec<u8>, Vec<u8>) {
    let mut buf = Vec::new();
    encode_value(v, &mut buf);
    let b = buf.first().copied().unwrap_or(NULL);
    (vec![b], vec![b + 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::cmp_values;
    use proptest::prelude::*;

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e20f64..1e20).prop_map(Value::from),
            (-3i64..3).prop_map(|i| Value::from(i as f64)),
            Just(json!(9_007_199_254_740_993_i64)),
            Just(json!(9_007_199_254_740_992.0)),
            "[a-c\\x00]{0,3}".prop_map(Value::from),
            (-3i64..3).prop_map(|ms| json!({"$date": ms})),
        ];
        leaf.prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::vec(("[ab]{1,2}", inner), 0..3)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn encoding_preserves_order(a in arb_value(), b in arb_value()) {
            let (ea, eb) = (component(&a, Direction::Asc), component(&b, Direction::Asc));
            prop_assert_eq!(ea.cmp(&eb), cmp_values(&a, &b), "{} vs {}", a, b);
            let (da, db) = (component(&a, Direction::Desc), component(&b, Direction::Desc));
            prop_assert_eq!(da.cmp(&db), cmp_values(&b, &a));
        }
    }

    #[test]
    fn multikey_and_parallel_arrays() {
        let spec = IndexSpec::new("t", &[("tags", Direction::Asc)], false).unwrap();
        assert_eq!(
            spec.keys_of(&json!({"tags": ["a", "b", "a"]}))
                .unwrap()
                .len(),
            2
        );
        assert_eq!(spec.keys_of(&json!({})).unwrap(), vec![vec![NULL]]);
        assert_eq!(
            spec.keys_of(&json!({"tags": []})).unwrap(),
            vec![vec![UNDEFINED]]
        );
        let both =
            IndexSpec::new("p", &[("a", Direction::Asc), ("b", Direction::Asc)], false).unwrap();
        assert!(both.keys_of(&json!({"a": [1, 2], "b": [3, 4]})).is_err());
        assert_eq!(
            both.keys_of(&json!({"a": [1, 2], "b": 3})).unwrap().len(),
            2
        );
        assert!(IndexSpec::new("", &[("a", Direction::Asc)], false).is_err());
        assert!(IndexSpec::new("x", &[], false).is_err());
        let round = IndexSpec::from_json(&both.to_json()).unwrap();
        assert_eq!(round, both);
    }
}
