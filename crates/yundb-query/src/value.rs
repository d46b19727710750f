//! The value model (spec decision 2): documents are `serde_json::Value`; special types live in
//! canonical extended-JSON form.
//!
//! | type | canonical form |
//! |---|---|
//! | date | `{"$date": <i64 ms since epoch>}` |
//! | regex | `{"$regex": "<pattern>", "$options": "<flags>"}` |
//! | ObjectId | `{"$oid": "<24 hex>"}` |
//!
//! [`normalize`] rewrites every other accepted spelling into these, at the boundary: EJSON number
//! wrappers become JSON numbers, every `$date` form becomes milliseconds, serverDate
//! placeholders become the commit time plus their offset, `$regularExpression` becomes
//! `$regex`/`$options`.

use serde_json::{Map, Number, Value};

use crate::error::ValueError;

/// How deep [`normalize`] recurses before it gives up with [`ValueError::TooDeep`]. Stored
/// documents have a lower, configurable limit; this one only protects the stack.
pub const NORMALIZE_DEPTH_LIMIT: usize = 256;

/// A special value recognised by its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special<'a> {
    /// `{"$date": ms}`.
    Date(i64),
    /// `{"$regex": pattern, "$options": flags}` (`$options` may be absent).
    Regex(&'a str, &'a str),
    /// `{"$oid": hex}`.
    ObjectId(&'a str),
}

/// Recognises a canonical special value.
pub fn special(map: &Map<String, Value>) -> Option<Special<'_>> {
    let mut it = map.iter();
    let (k, v) = it.next()?;
    match (k.as_str(), map.len()) {
        ("$date", 1) => v.as_i64().map(Special::Date),
        ("$oid", 1) => v.as_str().map(Special::ObjectId),
        ("$regex", 1) => v.as_str().map(|p| Special::Regex(p, "")),
        ("$regex", 2) => {
            let (k2, o) = it.next()?;
            (k2 == "$options").then_some(())?;
            Some(Special::Regex(v.as_str()?, o.as_str()?))
        }
        ("$options", 2) => {
            let (k2, p) = it.next()?;
            (k2 == "$regex").then_some(())?;
            Some(Special::Regex(p.as_str()?, v.as_str()?))
        }
        _ => None,
    }
}

/// Whether an object is a value (a special value, a GeoJSON shape, or an extended-JSON wrapper
/// still to normalise) rather than a plain sub-document. The SDK never flattens these.
pub fn is_value_object(map: &Map<String, Value>) -> bool {
    if special(map).is_some() || is_geojson(map) {
        return true;
    }
    map.len() == 1
        && map.keys().next().is_some_and(|k| {
            matches!(
                k.as_str(),
                "$numberInt"
                    | "$numberLong"
                    | "$numberDouble"
                    | "$numberDecimal"
                    | "$date"
                    | "$tcb_server_date"
                    | "$regularExpression"
                    | "$oid"
            )
        })
}

/// Whether an object has the shape of a GeoJSON geometry (`type` + `coordinates`, or a
/// `GeometryCollection`).
pub fn is_geojson(map: &Map<String, Value>) -> bool {
    let Some(Value::String(t)) = map.get("type") else {
        return false;
    };
    match t.as_str() {
        "Point" | "LineString" | "Polygon" | "MultiPoint" | "MultiLineString" | "MultiPolygon" => {
            map.len() == 2 && matches!(map.get("coordinates"), Some(Value::Array(_)))
        }
        "GeometryCollection" => {
            map.len() == 2 && matches!(map.get("geometries"), Some(Value::Array(_)))
        }
        _ => false,
    }
}

/// Whether [`normalize`] certainly leaves `value` as it is: no object in it is a one-key
/// `$` wrapper (every extended-JSON spelling is one) and it is not nested past
/// [`NORMALIZE_DEPTH_LIMIT`]. `false` does not mean it would change.
pub fn is_normal(value: &Value) -> bool {
    is_normal_at(value, 0)
}

fn is_normal_at(value: &Value, depth: usize) -> bool {
    if depth > NORMALIZE_DEPTH_LIMIT {
        return false;
    }
    match value {
        Value::Array(items) => items.iter().all(|v| is_normal_at(v, depth + 1)),
        Value::Object(map) => {
            let wrapper = map.len() == 1 && map.keys().all(|k| k.starts_with('$'));
            !wrapper && map.values().all(|v| is_normal_at(v, depth + 1))
        }
        _ => true,
    }
}

/// Rewrites extended-JSON spellings into the canonical value model, in place.
///
/// `now_ms` is the time serverDate placeholders are relative to (the commit time).
///
/// # Errors
/// A malformed wrapper ([`ValueError::BadWrapper`]), an unsupported type
/// ([`ValueError::UnsupportedType`]), or nesting past [`NORMALIZE_DEPTH_LIMIT`].
pub fn normalize(value: &mut Value, now_ms: i64) -> Result<(), ValueError> {
    let mut path = String::new();
    normalize_at(value, now_ms, &mut path, 0)
}

fn normalize_at(
    value: &mut Value,
    now_ms: i64,
    path: &mut String,
    depth: usize,
) -> Result<(), ValueError> {
    if depth > NORMALIZE_DEPTH_LIMIT {
        return Err(ValueError::TooDeep {
            limit: NORMALIZE_DEPTH_LIMIT,
            path: path.clone(),
        });
    }
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                // Only objects can be wrappers; scalars need no visit.
                if !matches!(item, Value::Object(_) | Value::Array(_)) {
                    continue;
                }
                let len = path.len();
                push_segment(path, &i.to_string());
                normalize_at(item, now_ms, path, depth + 1)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            if let Some(replacement) = rewrite_wrapper(map, now_ms, path)? {
                *value = replacement;
                return Ok(());
            }
            for (k, v) in map.iter_mut() {
                if !matches!(v, Value::Object(_) | Value::Array(_)) {
                    continue;
                }
                let len = path.len();
                push_segment(path, k);
                normalize_at(v, now_ms, path, depth + 1)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn push_segment(path: &mut String, seg: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(seg);
}

fn bad(wrapper: &'static str, path: &str, reason: impl Into<String>) -> ValueError {
    ValueError::BadWrapper {
        wrapper,
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// The replacement for an extended-JSON wrapper object, or `None` if `map` is not one.
fn rewrite_wrapper(
    map: &Map<String, Value>,
    now_ms: i64,
    path: &str,
) -> Result<Option<Value>, ValueError> {
    if map.len() == 2 && map.contains_key("$regex") && map.contains_key("$options") {
        return Ok(None);
    }
    if map.len() != 1 {
        return Ok(None);
    }
    let Some((key, inner)) = map.iter().next() else {
        return Ok(None);
    };
    let out = match key.as_str() {
        "$numberInt" => {
            let s = inner
                .as_str()
                .ok_or_else(|| bad("$numberInt", path, "expected a string"))?;
            let n: i32 = s
                .trim()
                .parse()
                .map_err(|_| bad("$numberInt", path, format!("{s:?} is not a 32-bit integer")))?;
            Value::from(n)
        }
        "$numberLong" => Value::from(parse_long(inner, "$numberLong", path)?),
        "$numberDouble" => {
            let s = inner
                .as_str()
                .ok_or_else(|| bad("$numberDouble", path, "expected a string"))?;
            let f: f64 = s
                .trim()
                .parse()
                .map_err(|_| bad("$numberDouble", path, format!("{s:?} is not a number")))?;
            let n = Number::from_f64(f).ok_or_else(|| {
                bad(
                    "$numberDouble",
                    path,
                    format!("{s} is not finite: JSON cannot hold it"),
                )
            })?;
            Value::Number(n)
        }
        "$date" => date_value(parse_date(inner, now_ms, path)?),
        "$tcb_server_date" => {
            let mut inner = inner.clone();
            normalize_at(&mut inner, now_ms, &mut path.to_owned(), 0)?;
            let offset = server_date_offset(&inner)
                .ok_or_else(|| bad("$tcb_server_date", path, "expected {\"offset\": <ms>}"))?;
            date_value(now_ms.saturating_add(offset))
        }
        "$regularExpression" => {
            let (Some(p), o) = (
                inner.get("pattern").and_then(Value::as_str),
                inner.get("options"),
            ) else {
                return Err(bad(
                    "$regularExpression",
                    path,
                    "expected {\"pattern\": <string>, \"options\": <string>}",
                ));
            };
            let o = match o {
                None => "",
                Some(Value::String(o)) => o.as_str(),
                Some(_) => return Err(bad("$regularExpression", path, "options must be a string")),
            };
            let mut m = Map::new();
            m.insert("$regex".into(), Value::from(p));
            m.insert("$options".into(), Value::from(o));
            Value::Object(m)
        }
        "$oid" => {
            let s = inner
                .as_str()
                .ok_or_else(|| bad("$oid", path, "expected a string"))?;
            if s.len() != 24 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad("$oid", path, format!("{s:?} is not 24 hex digits")));
            }
            Value::Object(Map::from_iter([(
                "$oid".to_owned(),
                Value::from(s.to_ascii_lowercase()),
            )]))
        }
        "$numberDecimal" | "$binary" | "$symbol" | "$code" | "$dbPointer" | "$minKey"
        | "$maxKey" | "$undefined" | "$timestamp" => {
            return Err(ValueError::UnsupportedType {
                wrapper: key.clone(),
                path: path.to_owned(),
            })
        }
        _ => return Ok(None),
    };
    Ok(Some(out))
}

fn parse_long(v: &Value, wrapper: &'static str, path: &str) -> Result<i64, ValueError> {
    let s = v
        .as_str()
        .ok_or_else(|| bad(wrapper, path, "expected a string"))?;
    s.trim()
        .parse()
        .map_err(|_| bad(wrapper, path, format!("{s:?} is not a 64-bit integer")))
}

fn server_date_offset(inner: &Value) -> Option<i64> {
    let map = inner.as_object()?;
    match map.get("offset") {
        None if map.is_empty() => Some(0),
        Some(n) if map.len() == 1 => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        _ => None,
    }
}

/// Builds the canonical date value.
pub fn date_value(ms: i64) -> Value {
    Value::Object(Map::from_iter([("$date".to_owned(), Value::from(ms))]))
}

fn parse_date(inner: &Value, now_ms: i64, path: &str) -> Result<i64, ValueError> {
    match inner {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 9.0e18)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| bad("$date", path, format!("{n} is out of range"))),
        Value::String(s) => parse_iso8601(s)
            .ok_or_else(|| bad("$date", path, format!("{s:?} is not an ISO-8601 date"))),
        Value::Object(m) if m.len() == 1 && m.contains_key("$numberLong") => {
            parse_long(m.get("$numberLong").unwrap_or(&Value::Null), "$date", path)
        }
        Value::Object(m) if m.contains_key("offset") || m.is_empty() => {
            let mut inner = inner.clone();
            normalize_at(&mut inner, now_ms, &mut path.to_owned(), 0)?;
            let offset = server_date_offset(&inner)
                .ok_or_else(|| bad("$date", path, "expected {\"offset\": <ms>}"))?;
            Ok(now_ms.saturating_add(offset))
        }
        _ => Err(bad(
            "$date",
            path,
            "expected milliseconds, an ISO-8601 string, {\"$numberLong\": ..} or {\"offset\": ..}",
        )),
    }
}

/// Parses `YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|±HH:MM]` into milliseconds since the epoch (UTC when no
/// zone is given). Returns `None` for anything else.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().all(u8::is_ascii_digit).then(|| {
            part.iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
        })
    };
    let year = num(0, 4)?;
    (b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-')).then_some(())?;
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    let mut i = 10;
    if matches!(b.get(i), Some(b'T' | b't' | b' ')) {
        let hour = num(i + 1, 2)?;
        (b.get(i + 3) == Some(&b':')).then_some(())?;
        let minute = num(i + 4, 2)?;
        i += 6;
        let mut second = 0;
        if b.get(i) == Some(&b':') {
            second = num(i + 1, 2)?;
            i += 3;
        }
        let mut frac_ms = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            let digits = b.get(start..i)?;
            if digits.is_empty() {
                return None;
            }
            for (k, d) in digits.iter().take(3).enumerate() {
                frac_ms += i64::from(d - b'0') * [100, 10, 1].get(k).copied().unwrap_or(0);
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        ms += ((hour * 60 + minute) * 60 + second) * 1000 + frac_ms;
        match b.get(i) {
            None => {}
            Some(b'Z' | b'z') => i += 1,
            Some(&sign @ (b'+' | b'-')) => {
                let oh = num(i + 1, 2)?;
                let colon = usize::from(b.get(i + 3) == Some(&b':'));
                let om = num(i + 3 + colon, 2)?;
                let offset = (oh * 60 + om) * 60_000;
                ms += if sign == b'+' { -offset } else { offset };
                i += 5 + colon;
            }
            Some(_) => return None,
        }
    }
    (i == b.len()).then_some(ms)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.fffZ`.
pub fn format_iso8601(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Checks that a stored document obeys the key rules and the depth limit: every key non-empty,
/// without `.` or NUL, not starting with `$` (except inside canonical special values).
pub fn validate_document(doc: &Value, max_depth: usize) -> Result<(), ValueError> {
    let Value::Object(map) = doc else {
        return Err(ValueError::NotAnObject {
            got: crate::json::type_name(doc),
        });
    };
    let mut path: Vec<std::borrow::Cow<'_, str>> = Vec::new();
    validate_map(map, &mut path, 1, max_depth)
}

fn path_string(path: &[std::borrow::Cow<'_, str>]) -> String {
    path.join(".")
}

fn validate_map<'a>(
    map: &'a Map<String, Value>,
    path: &mut Vec<std::borrow::Cow<'a, str>>,
    depth: usize,
    max_depth: usize,
) -> Result<(), ValueError> {
    if depth > max_depth {
        return Err(ValueError::TooDeep {
            limit: max_depth,
            path: path_string(path),
        });
    }
    if special(map).is_some() {
        return Ok(());
    }
    for (k, v) in map {
        let reason = if k.is_empty() {
            Some("field names cannot be empty")
        } else if k.starts_with('$') {
            Some("field names cannot start with `$`")
        } else if k.contains('.') {
            Some("field names cannot contain `.`")
        } else if k.contains('\0') {
            Some("field names cannot contain NUL")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(ValueError::InvalidFieldName {
                name: k.clone(),
                path: path_string(path),
                reason,
            });
        }
        path.push(std::borrow::Cow::Borrowed(k.as_str()));
        validate_value(v, path, depth + 1, max_depth)?;
        path.pop();
    }
    Ok(())
}

fn validate_value<'a>(
    v: &'a Value,
    path: &mut Vec<std::borrow::Cow<'a, str>>,
    depth: usize,
    max_depth: usize,
) -> Result<(), ValueError> {
    match v {
        Value::Object(m) => validate_map(m, path, depth, max_depth),
        Value::Array(items) => {
            if depth > max_depth {
                return Err(ValueError::TooDeep {
                    limit: max_depth,
                    path: path_string(path),
                });
            }
            for (i, item) in items.iter().enumerate() {
                if matches!(item, Value::Object(_) | Value::Array(_)) {
                    path.push(std::borrow::Cow::Owned(i.to_string()));
                    validate_value(item, path, depth + 1, max_depth)?;
                    path.pop();
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn norm(mut v: Value) -> Result<Value, ValueError> {
        normalize(&mut v, 1_000).map(|()| v)
    }

    #[test]
    fn number_wrappers() {
        let v = norm(json!({"a": {"$numberInt": "5"}, "b": {"$numberLong": "2147483648"}, "c": {"$numberDouble": "1.5"}, "d": [{"$numberInt": "-1"}]})).unwrap();
        assert_eq!(
            v,
            json!({"a": 5, "b": 2_147_483_648_i64, "c": 1.5, "d": [-1]})
        );
        assert!(norm(json!({"$numberDouble": "NaN"})).is_err());
        assert!(norm(json!({"$numberInt": "2147483648"})).is_err());
        assert!(matches!(
            norm(json!({"x": {"$numberDecimal": "1"}})),
            Err(ValueError::UnsupportedType { .. })
        ));
    }

    #[test]
    fn dates_and_server_dates() {
        assert_eq!(
            norm(json!({"$date": {"$numberLong": "1600000000000"}})).unwrap(),
            json!({"$date": 1_600_000_000_000_i64})
        );
        assert_eq!(
            norm(json!({"$date": "2021-11-01T02:05:35.934Z"})).unwrap(),
            json!({"$date": 1_635_732_335_934_i64})
        );
        assert_eq!(
            norm(json!({"$date": "2021-11-01T10:05:35.934+08:00"})).unwrap(),
            json!({"$date": 1_635_732_335_934_i64})
        );
        assert_eq!(
            norm(json!({"$date": {"offset": 5}})).unwrap(),
            json!({"$date": 1_005})
        );
        assert_eq!(
            norm(json!({"$tcb_server_date": {"offset": {"$numberInt": "-5"}}})).unwrap(),
            json!({"$date": 995})
        );
        assert!(norm(json!({"$date": "yesterday"})).is_err());
        assert!(norm(json!({"$date": "2021-02-30"})).is_err());
    }

    #[test]
    fn iso_round_trip() {
        for ms in [0, 1_635_732_335_934, -86_400_001, 951_782_400_000] {
            assert_eq!(
                parse_iso8601(&format_iso8601(ms)),
                Some(ms),
                "{}",
                format_iso8601(ms)
            );
        }
    }

    #[test]
    fn regex_and_oid() {
        assert_eq!(
            norm(json!({"$regularExpression": {"pattern": "^a", "options": "i"}})).unwrap(),
            json!({"$regex": "^a", "$options": "i"})
        );
        assert_eq!(
            norm(json!({"$oid": "5F00000000000000000000AA"})).unwrap(),
            json!({"$oid": "5f00000000000000000000aa"})
        );
        assert!(norm(json!({"$oid": "zz"})).is_err());
    }

    #[test]
    fn key_rules() {
        assert!(validate_document(&json!({"a": {"b": [1, {"c": 2}]}, "d": {"$date": 5}, "r": {"$regex": "x", "$options": ""}}), 100).is_ok());
        for bad in [
            json!({"$a": 1}),
            json!({"a": {"b.c": 1}}),
            json!({"": 1}),
            json!({"a": [{"$x": 1}]}),
            json!({"a\u{0}": 1}),
        ] {
            assert!(
                matches!(
                    validate_document(&bad, 100),
                    Err(ValueError::InvalidFieldName { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            validate_document(&json!([1]), 100),
            Err(ValueError::NotAnObject { .. })
        ));
        let mut deep = json!(1);
        for _ in 0..5 {
            deep = json!({"a": deep});
        }
        assert!(validate_document(&deep, 5).is_ok());
        assert!(matches!(
            validate_document(&deep, 4),
            Err(ValueError::TooDeep { .. })
        ));
    }
}
