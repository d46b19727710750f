//! Record ids: the `_id` key encoding and generated ids.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use yundb_query::stored::Raw;

use crate::error::{Result, StorageError};

/// The longest `_id` accepted, in bytes (CloudBase's index key limit).
pub const MAX_ID_BYTES: usize = 1024;

/// The byte key under which a record's `_id` is indexed.
///
/// `_id`s are strings or numbers. Numbers compare by value, as MongoDB's `_id` index does, so `1`
/// and `1.0` are the same key and `"1"` is a different one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdKey(Vec<u8>);

impl IdKey {
    /// Encodes an `_id` value.
    ///
    /// # Errors
    /// [`StorageError::InvalidId`] unless the value is a string of at most [`MAX_ID_BYTES`] bytes
    /// or a finite number.
    pub fn new(id: &Value) -> Result<IdKey> {
        let mut key = Vec::with_capacity(16);
        match id {
            Value::String(s) => {
                if s.len() > MAX_ID_BYTES {
                    return Err(StorageError::InvalidId {
                        reason: format!("longer than {MAX_ID_BYTES} bytes ({} bytes)", s.len()),
                    });
                }
                key.push(b's');
                key.extend_from_slice(s.as_bytes());
            }
            Value::Number(n) => {
                let number = if let Some(i) = n.as_i64() {
                    int_key(i)
                } else if let Some(u) = n.as_u64() {
                    uint_key(u)
                } else {
                    float_key(n.as_f64().unwrap_or(f64::NAN))
                };
                key.extend_from_slice(&number);
            }
            other => {
                return Err(StorageError::InvalidId {
                    reason: format!("must be a string or a number, got {}", type_name(other)),
                })
            }
        }
        Ok(IdKey(key))
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key of a stored `_id` (see [`yundb_query::stored`]) written into `out` (cleared
    /// first); `false` when the value is not a string or number.
    pub(crate) fn stored_into(id: &Raw<'_>, out: &mut Vec<u8>) -> bool {
        out.clear();
        match stored_key(id) {
            Some(StoredKey::Str(s)) => {
                out.push(b's');
                out.extend_from_slice(s);
            }
            Some(StoredKey::Number(n)) => out.extend_from_slice(&n),
            None => return false,
        }
        true
    }

    /// Whether a stored `_id` has this key, without allocating.
    pub(crate) fn is_stored(&self, id: &Raw<'_>) -> bool {
        match stored_key(id) {
            Some(StoredKey::Str(s)) => self.0.first() == Some(&b's') && self.0.get(1..) == Some(s),
            Some(StoredKey::Number(n)) => self.0 == n,
            None => false,
        }
    }
}

/// A stored `_id`'s key: a string's bytes (after the `s` tag) or a number's whole key.
enum StoredKey<'a> {
    Str(&'a [u8]),
    Number([u8; 9]),
}

fn stored_key<'a>(id: &Raw<'a>) -> Option<StoredKey<'a>> {
    Some(match *id {
        Raw::Str(s) => StoredKey::Str(s.as_bytes()),
        Raw::Int(i) => StoredKey::Number(int_key(i)),
        Raw::UInt(u) => StoredKey::Number(uint_key(u)),
        Raw::Float(f) => StoredKey::Number(float_key(f)),
        _ => return None,
    })
}

fn tagged(tag: u8, bytes: [u8; 8]) -> [u8; 9] {
    let mut key = [tag; 9];
    for (k, b) in key.iter_mut().skip(1).zip(bytes) {
        *k = b;
    }
    key
}

fn int_key(i: i64) -> [u8; 9] {
    tagged(b'i', i.to_be_bytes())
}

/// Only for numbers above `i64::MAX`: smaller ones are ints.
fn uint_key(u: u64) -> [u8; 9] {
    match i64::try_from(u) {
        Ok(i) => int_key(i),
        Err(_) => tagged(b'u', u.to_be_bytes()),
    }
}

/// Integral floats are the int of the same value.
fn float_key(f: f64) -> [u8; 9] {
    // `as` saturates; i64::MAX has no exact f64, so hitting it means overflow.
    let i = f as i64;
    if i as f64 == f && i != i64::MAX {
        int_key(i)
    } else {
        tagged(b'f', f.to_bits().to_be_bytes())
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

struct ProcessIdentity {
    random: [u8; 5],
    counter: AtomicU32,
}

fn identity() -> &'static ProcessIdentity {
    static IDENTITY: OnceLock<ProcessIdentity> = OnceLock::new();
    IDENTITY.get_or_init(|| {
        let mut seed = [0u8; 9];
        fill_random(&mut seed);
        let [a, b, c, d, e, f, g, h, _] = seed;
        ProcessIdentity {
            random: [a, b, c, d, e],
            counter: AtomicU32::new(u32::from_be_bytes([0, f, g, h])),
        }
    })
}

fn fill_random(buf: &mut [u8]) {
    if getrandom::fill(buf).is_err() {
        // No OS randomness: fall back to time and address entropy. The ObjectId counter still
        // makes ids unique within this process.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mixed =
            nanos ^ (u128::from(std::process::id()) << 64) ^ (buf.as_ptr() as usize as u128);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (mixed >> ((i % 16) * 8)) as u8;
        }
    }
}

/// Generates a CloudBase-style `_id`: 32 lowercase hex characters, 8 random ones followed by a
/// MongoDB ObjectId (4-byte Unix seconds, 5 bytes random per process, 3-byte counter).
///
/// Ids are unique across the threads of a process (the counter) and across processes (the
/// per-process random bytes), and sort by creation second within the ObjectId part.
pub fn generate_id() -> String {
    let identity = identity();
    let count = identity.counter.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as u32;
    let mut prefix = [0u8; 4];
    fill_random(&mut prefix);
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&prefix);
    bytes[4..8].copy_from_slice(&secs.to_be_bytes());
    bytes[8..13].copy_from_slice(&identity.random);
    bytes[13..16].copy_from_slice(&count.to_be_bytes()[1..]);
    let mut out = String::with_capacity(32);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(
            IdKey::new(&json!(1)).unwrap(),
            IdKey::new(&json!(1.0)).unwrap()
        );
        assert_ne!(
            IdKey::new(&json!(1)).unwrap(),
            IdKey::new(&json!("1")).unwrap()
        );
        assert_ne!(
            IdKey::new(&json!(1.5)).unwrap(),
            IdKey::new(&json!(1)).unwrap()
        );
        assert_eq!(
            IdKey::new(&json!(u64::MAX)).unwrap(),
            IdKey::new(&json!(u64::MAX)).unwrap()
        );
    }

    #[test]
    fn stored_ids_have_the_same_keys() {
        let ids = [
            json!("doc-1"),
            json!(""),
            json!("1"),
            json!(1),
            json!(1.0),
            json!(-7),
            json!(1.5),
            json!(-0.0),
            json!(i64::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(9.3e18),
            json!(1e300),
        ];
        let mut buf = Vec::new();
        for id in &ids {
            let stored = yundb_query::stored::encode(id);
            let (raw, _) = yundb_query::stored::read(&stored).unwrap();
            let key = IdKey::new(id).unwrap();
            assert!(IdKey::stored_into(&raw, &mut buf), "{id}");
            assert_eq!(buf, key.as_bytes(), "{id}");
            for other in &ids {
                let same = IdKey::new(other).unwrap() == key;
                assert_eq!(
                    IdKey::new(other).unwrap().is_stored(&raw),
                    same,
                    "{id} {other}"
                );
            }
        }
        let (raw, _) = yundb_query::stored::read(&[0]).unwrap();
        assert!(!IdKey::stored_into(&raw, &mut buf));
        assert!(!IdKey::new(&json!("x")).unwrap().is_stored(&raw));
    }

    #[test]
    fn rejects_other_types_and_long_ids() {
        for bad in [json!(null), json!(true), json!([1]), json!({"a": 1})] {
            assert!(
                matches!(IdKey::new(&bad), Err(StorageError::InvalidId { .. })),
                "{bad}"
            );
        }
        assert!(IdKey::new(&json!("x".repeat(MAX_ID_BYTES))).is_ok());
        assert!(IdKey::new(&json!("x".repeat(MAX_ID_BYTES + 1))).is_err());
    }

    #[test]
    fn generated_ids_have_the_cloudbase_shape() {
        let id = generate_id();
        assert_eq!(id.len(), 32);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        let secs = u32::from_str_radix(&id[8..16], 16).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32;
        assert!(now - secs <= 2, "timestamp {secs} vs now {now}");
        let other = generate_id();
        assert_eq!(id[16..26], other[16..26], "same process, same random part");
        assert_ne!(id[26..], other[26..], "counter advances");
    }
}
