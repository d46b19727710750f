//! The stored document format: a compact binary encoding that the compiled filter reads in
//! place, so a scan decodes only the documents it returns.
//!
//! ```text
//! value  := tag payload
//! null 0x00 | false 0x01 | true 0x02 | i64 0x03 (8 LE) | u64 0x04 (8 LE) | f64 0x05 (8 LE)
//! string 0x06 varint-len bytes
//! object 0x07 u32-LE-len(body) varint-count { varint-len key  value }*
//! array  0x08 u32-LE-len(body) varint-count { value }*
//! date   0x09 (8 LE, ms)  — exactly {"$date": ms}
//! regex  0x0a string string — exactly {"$regex": p, "$options": o}
//! oid    0x0b string — exactly {"$oid": hex}
//! ```
//! Object fields keep their order; lengths make every value skippable in O(1).

use serde_json::{Map, Number, Value};

use crate::value::{special, Special};

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const UINT: u8 = 4;
const FLOAT: u8 = 5;
const STR: u8 = 6;
const OBJ: u8 = 7;
const ARR: u8 = 8;
const DATE: u8 = 9;
const REGEX: u8 = 10;
const OID: u8 = 11;

fn put_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_str(s: &str, out: &mut Vec<u8>) {
    put_varint(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

/// Reserves the 4-byte body length; returns where it is.
fn open_body(out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&[0; 4]);
    out.len()
}

/// Writes the body length reserved by [`open_body`]. Bodies over 4 GiB cannot occur: documents
/// are limited far below.
fn close_body(out: &mut [u8], at: usize) {
    let len = u32::try_from(out.len() - at).unwrap_or(u32::MAX);
    if let Some(slot) = out.get_mut(at - 4..at) {
        slot.copy_from_slice(&len.to_le_bytes());
    }
}

/// Encodes a value.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    encode_into(v, &mut out);
    out
}

/// Encodes a document as [`encode`] would encode `fields` with `_id` set to `id` and moved
/// first.
pub fn encode_document(id: &Value, fields: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let count = fields.len() - usize::from(fields.contains_key("_id")) + 1;
    let others = fields.iter().filter(|(k, _)| *k != "_id");
    let all = std::iter::once(("_id", id)).chain(others.map(|(k, v)| (k.as_str(), v)));
    encode_object(count, all, &mut out);
    out
}

/// Writes an object of `count` fields.
fn encode_object<'v>(
    count: usize,
    fields: impl Iterator<Item = (&'v str, &'v Value)>,
    out: &mut Vec<u8>,
) {
    out.push(OBJ);
    let at = open_body(out);
    put_varint(count as u64, out);
    for (k, v) in fields {
        put_str(k, out);
        encode_into(v, out);
    }
    close_body(out, at);
}

fn encode_into(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push(INT);
                out.extend_from_slice(&i.to_le_bytes());
            } else if let Some(u) = n.as_u64() {
                out.push(UINT);
                out.extend_from_slice(&u.to_le_bytes());
            } else {
                out.push(FLOAT);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
            }
        }
        Value::String(s) => {
            out.push(STR);
            put_str(s, out);
        }
        Value::Array(items) => {
            out.push(ARR);
            let at = open_body(out);
            put_varint(items.len() as u64, out);
            for i in items {
                encode_into(i, out);
            }
            close_body(out, at);
        }
        Value::Object(m) => {
            match (special(m), m.keys().next().map(String::as_str)) {
                (Some(Special::Date(ms)), _) => {
                    out.push(DATE);
                    out.extend_from_slice(&ms.to_le_bytes());
                    return;
                }
                (Some(Special::Regex(p, o)), Some("$regex")) if m.len() == 2 => {
                    out.push(REGEX);
                    put_str(p, out);
                    put_str(o, out);
                    return;
                }
                (Some(Special::ObjectId(h)), _) => {
                    out.push(OID);
                    put_str(h, out);
                    return;
                }
                _ => {}
            }
            encode_object(m.len(), m.iter().map(|(k, v)| (k.as_str(), v)), out);
        }
    }
}

/// A value read in place.
#[derive(Debug, Clone, Copy)]
pub enum Raw<'a> {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// An integer above `i64::MAX`.
    UInt(u64),
    /// A float.
    Float(f64),
    /// A string.
    Str(&'a str),
    /// An object: its body (count, then fields).
    Obj(&'a [u8]),
    /// An array: its body (count, then values).
    Arr(&'a [u8]),
    /// A date (ms).
    Date(i64),
    /// A regex.
    Regex(&'a str, &'a str),
    /// An ObjectId.
    Oid(&'a str),
}

fn varint(b: &[u8]) -> Option<(u64, &[u8])> {
    let mut n = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        n |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((n, b.get(i + 1..)?));
        }
    }
    None
}

fn take(b: &[u8], n: u64) -> Option<(&[u8], &[u8])> {
    let n = usize::try_from(n).ok()?;
    Some((b.get(..n)?, b.get(n..)?))
}

fn read_str(b: &[u8]) -> Option<(&str, &[u8])> {
    let (s, rest) = read_bytes(b)?;
    Some((std::str::from_utf8(s).ok()?, rest))
}

/// A length-prefixed string's bytes, not checked as UTF-8 (for comparing and skipping).
fn read_bytes(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = varint(b)?;
    take(rest, len)
}

/// Skips one value without decoding it; returns the bytes after it.
fn skip(b: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = b.split_first()?;
    match tag {
        NULL | FALSE | TRUE => Some(rest),
        INT | UINT | FLOAT | DATE => rest.get(8..),
        STR | OID => read_bytes(rest).map(|(_, r)| r),
        REGEX => read_bytes(rest)
            .and_then(|(_, r)| read_bytes(r))
            .map(|(_, r)| r),
        OBJ | ARR => {
            let (len, r) = take(rest, 4)?;
            let len = u32::from_le_bytes(len.try_into().ok()?);
            take(r, u64::from(len)).map(|(_, r)| r)
        }
        _ => None,
    }
}

fn fixed(b: &[u8]) -> Option<([u8; 8], &[u8])> {
    let (s, rest) = take(b, 8)?;
    Some((s.try_into().ok()?, rest))
}

/// Reads one value; returns it and the bytes after it.
pub fn read(b: &[u8]) -> Option<(Raw<'_>, &[u8])> {
    let (&tag, rest) = b.split_first()?;
    Some(match tag {
        NULL => (Raw::Null, rest),
        FALSE => (Raw::Bool(false), rest),
        TRUE => (Raw::Bool(true), rest),
        INT => fixed(rest).map(|(x, r)| (Raw::Int(i64::from_le_bytes(x)), r))?,
        UINT => fixed(rest).map(|(x, r)| (Raw::UInt(u64::from_le_bytes(x)), r))?,
        FLOAT => fixed(rest).map(|(x, r)| (Raw::Float(f64::from_le_bytes(x)), r))?,
        DATE => fixed(rest).map(|(x, r)| (Raw::Date(i64::from_le_bytes(x)), r))?,
        STR => read_str(rest).map(|(s, r)| (Raw::Str(s), r))?,
        OID => read_str(rest).map(|(s, r)| (Raw::Oid(s), r))?,
        REGEX => {
            let (p, r) = read_str(rest)?;
            let (o, r) = read_str(r)?;
            (Raw::Regex(p, o), r)
        }
        OBJ | ARR => {
            let (len, r) = take(rest, 4)?;
            let len = u32::from_le_bytes(len.try_into().ok()?);
            let (body, r) = take(r, u64::from(len))?;
            (
                if tag == OBJ {
                    Raw::Obj(body)
                } else {
                    Raw::Arr(body)
                },
                r,
            )
        }
        _ => return None,
    })
}

impl<'a> Raw<'a> {
    /// The field `key` of an object.
    pub fn get(&self, key: &str) -> Option<Raw<'a>> {
        let Raw::Obj(body) = self else { return None };
        let (count, mut rest) = varint(body)?;
        // Keys are compared as bytes and other fields skipped undecoded: a lookup validates
        // only what it returns.
        let key = key.as_bytes();
        for _ in 0..count {
            let (k, r) = read_bytes(rest)?;
            // Length and first byte first: most keys differ there, without a memcmp call. A
            // key equal to `key` is valid UTF-8 as `key` is.
            if k.len() == key.len() && k.first() == key.first() && k == key {
                return read(r).map(|(v, _)| v);
            }
            rest = skip(r)?;
        }
        None
    }

    /// Calls `f` with each field of an object, in order, until it returns `true`.
    pub fn fields(&self, f: &mut dyn FnMut(&'a str, Raw<'a>) -> bool) -> bool {
        let Raw::Obj(body) = self else { return false };
        let Some((count, mut rest)) = varint(body) else {
            return false;
        };
        for _ in 0..count {
            let Some((k, r)) = read_str(rest) else {
                return false;
            };
            let Some((v, r)) = read(r) else { return false };
            if f(k, v) {
                return true;
            }
            rest = r;
        }
        false
    }

    /// Calls `f` with each element of an array, in order, until it returns `true`.
    pub fn elements(&self, f: &mut dyn FnMut(usize, Raw<'a>) -> bool) -> bool {
        let Raw::Arr(body) = self else { return false };
        let Some((count, mut rest)) = varint(body) else {
            return false;
        };
        for i in 0..count {
            let Some((v, r)) = read(rest) else {
                return false;
            };
            if f(usize::try_from(i).unwrap_or(usize::MAX), v) {
                return true;
            }
            rest = r;
        }
        false
    }

    /// The number of elements of an array.
    pub fn len(&self) -> Option<usize> {
        match self {
            Raw::Arr(body) | Raw::Obj(body) => {
                varint(body).and_then(|(n, _)| usize::try_from(n).ok())
            }
            _ => None,
        }
    }

    /// Whether it is an array or object with no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Decodes into a `Value`.
    pub fn to_value(&self) -> Option<Value> {
        Some(match *self {
            Raw::Null => Value::Null,
            Raw::Bool(b) => Value::Bool(b),
            Raw::Int(i) => Value::from(i),
            Raw::UInt(u) => Value::from(u),
            Raw::Float(f) => Value::Number(Number::from_f64(f)?),
            Raw::Str(s) => Value::String(s.to_owned()),
            Raw::Date(ms) => crate::value::date_value(ms),
            Raw::Oid(h) => Value::Object(Map::from_iter([("$oid".to_owned(), Value::from(h))])),
            Raw::Regex(p, o) => Value::Object(Map::from_iter([
                ("$regex".to_owned(), Value::from(p)),
                ("$options".to_owned(), Value::from(o)),
            ])),
            Raw::Obj(body) => {
                let (count, mut rest) = varint(body)?;
                // Each field takes at least two bytes: a corrupt count cannot over-allocate.
                let count = usize::try_from(count).ok()?;
                let mut m = Map::with_capacity(count.min(body.len() / 2));
                for _ in 0..count {
                    let (k, r) = read_str(rest)?;
                    let (v, r) = read(r)?;
                    m.insert(k.to_owned(), v.to_value()?);
                    rest = r;
                }
                // Duplicate keys (only in a corrupt record) would shrink the map.
                if m.len() != count {
                    return None;
                }
                Value::Object(m)
            }
            Raw::Arr(body) => {
                let (count, mut rest) = varint(body)?;
                let count = usize::try_from(count).ok()?;
                let mut items = Vec::with_capacity(count.min(body.len()));
                for _ in 0..count {
                    let (v, r) = read(rest)?;
                    items.push(v.to_value()?);
                    rest = r;
                }
                Value::Array(items)
            }
        })
    }
}

/// Decodes bytes written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Value, String> {
    let (raw, rest) = read(bytes).ok_or("truncated or invalid record")?;
    if !rest.is_empty() {
        return Err("trailing bytes after the record".into());
    }
    raw.to_value()
        .ok_or_else(|| "invalid record contents".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
            any::<i64>().prop_map(|ms| json!({"$date": ms})),
            Just(json!({"$regex": "a", "$options": "i"})),
            Just(json!({"$options": "i", "$regex": "a"})),
            Just(json!({"$regex": "a"})),
            Just(json!({"$oid": "5f0000000000000000000000"})),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((".{0,6}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn round_trips(v in arb_value()) {
            let bytes = encode(&v);
            prop_assert_eq!(decode(&bytes).unwrap(), v);
        }

        #[test]
        fn documents_encode_with_their_id_first(v in arb_value(), id in arb_value(), at in 0usize..4) {
            let Value::Object(mut fields) = v else { return Ok(()) };
            // `_id` given somewhere in the fields, or not at all.
            if at < 3 {
                fields.shift_insert(at.min(fields.len()), "_id".into(), json!("given"));
            }
            let mut expected = fields.clone();
            expected.shift_remove("_id");
            expected.shift_insert(0, "_id".into(), id.clone());
            prop_assert_eq!(encode_document(&id, &fields), encode(&Value::Object(expected)));
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
