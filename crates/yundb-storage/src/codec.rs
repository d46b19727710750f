//! How records and catalogue entries are encoded. One file, so that a format change touches
//! one place.
//!
//! Records use [`yundb_query::stored`], the binary format the compiled filter reads in place;
//! catalogue entries (collection options) are JSON.

use serde_json::Value;

/// Encodes a record.
pub fn encode(value: &Value) -> Vec<u8> {
    yundb_query::stored::encode(value)
}

/// Decodes a record written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Value, String> {
    yundb_query::stored::decode(bytes)
}

/// Encodes a catalogue entry.
pub(crate) fn encode_json(value: &Value) -> Vec<u8> {
    // Serialising a `Value` to a Vec cannot fail: its map keys are strings and Vec writes are
    // infallible.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Decodes a catalogue entry.
pub(crate) fn decode_json(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}
