//! How records are encoded: JSON bytes. One file, so that a format change touches one place.

use serde_json::Value;

/// Encodes a record or catalogue entry.
pub fn encode(value: &Value) -> Vec<u8> {
    // Serialising a `Value` to a Vec cannot fail: its map keys are strings and Vec writes are
    // infallible.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Decodes bytes written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}
