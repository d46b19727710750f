//! Dot paths (`a.b.0.c`), split once.

use std::fmt;

/// One segment of a dot path. A numeric segment is both an array index and a field name, as in
/// MongoDB: `a.0` is element 0 of an array `a`, or the field `"0"` of an object `a`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    name: Box<str>,
    index: Option<usize>,
}

impl Segment {
    /// The segment as a field name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The segment as an array index, if it is a canonical decimal number (no sign, no leading
    /// zero).
    pub fn index(&self) -> Option<usize> {
        self.index
    }
}

/// A field path split at dots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    raw: Box<str>,
    segments: Box<[Segment]>,
}

/// Why a string is not a field path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path is empty.
    Empty,
    /// A segment is empty (`a..b`, `.a`, `a.`).
    EmptySegment,
    /// Longer than [`MAX_PATH_BYTES`] or deeper than [`MAX_PATH_SEGMENTS`].
    TooLong,
}

/// The longest dot path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// The most segments a dot path may have.
pub const MAX_PATH_SEGMENTS: usize = 100;

impl PathError {
    /// A short description.
    pub fn reason(self) -> &'static str {
        match self {
            PathError::Empty => "the path is empty",
            PathError::EmptySegment => "the path has an empty segment",
            PathError::TooLong => "the path is longer than 1024 bytes or 100 segments",
        }
    }
}

impl FieldPath {
    /// Splits a dot path.
    pub fn parse(raw: &str) -> Result<FieldPath, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.len() > MAX_PATH_BYTES
            || raw.bytes().filter(|b| *b == b'.').count() >= MAX_PATH_SEGMENTS
        {
            return Err(PathError::TooLong);
        }
        let segments = raw
            .split('.')
            .map(|s| {
                if s.is_empty() {
                    return Err(PathError::EmptySegment);
                }
                let index = (s == "0"
                    || (!s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())))
                .then(|| s.parse().ok())
                .flatten();
                Ok(Segment {
                    name: s.into(),
                    index,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(FieldPath {
            raw: raw.into(),
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether `self` is `other` or a prefix of it at a segment boundary (`a` of `a.b`).
    pub fn is_prefix_of(&self, other: &FieldPath) -> bool {
        self.segments.len() <= other.segments.len()
            && self
                .segments
                .iter()
                .zip(other.segments.iter())
                .all(|(a, b)| a.name == b.name)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_segments_and_indexes() {
        let p = FieldPath::parse("a.0.b.01.10").unwrap();
        let idx: Vec<_> = p.segments().iter().map(Segment::index).collect();
        assert_eq!(idx, [None, Some(0), None, None, Some(10)]);
        assert_eq!(p.to_string(), "a.0.b.01.10");
        assert_eq!(FieldPath::parse(""), Err(PathError::Empty));
        for bad in ["a..b", ".a", "a."] {
            assert_eq!(FieldPath::parse(bad), Err(PathError::EmptySegment), "{bad}");
        }
    }

    #[test]
    fn prefixes() {
        let a = FieldPath::parse("a").unwrap();
        let ab = FieldPath::parse("a.b").unwrap();
        let ac = FieldPath::parse("ab").unwrap();
        assert!(a.is_prefix_of(&ab));
        assert!(!ab.is_prefix_of(&a));
        assert!(!a.is_prefix_of(&ac));
    }
}
