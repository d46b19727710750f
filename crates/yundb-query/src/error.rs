use thiserror::Error;

/// A value that cannot be stored or used: a bad extended-JSON wrapper, a bad field name, a
/// document too deep or too large.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ValueError {
    /// An extended-JSON wrapper (`$numberInt`, `$date`, ...) whose content is malformed.
    #[error("invalid {wrapper} value at `{path}`: {reason}")]
    BadWrapper {
        /// The wrapper key, e.g. `$numberLong`.
        wrapper: &'static str,
        /// Where it is, as a dot path (empty for the root).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An extended-JSON type yundb does not store (`$numberDecimal`, `$binary`, ...).
    #[error("unsupported value type {wrapper} at `{path}`")]
    UnsupportedType {
        /// The wrapper key.
        wrapper: String,
        /// Where it is.
        path: String,
    },
    /// A field name that may not be stored.
    #[error("invalid field name {name:?} at `{path}`: {reason}")]
    InvalidFieldName {
        /// The name.
        name: String,
        /// The path of the object holding it.
        path: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// Nested deeper than the limit.
    #[error("nested deeper than {limit} levels at `{path}`")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// Where the limit was crossed.
        path: String,
    },
    /// Larger than the document size limit once encoded.
    #[error("document is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A document must be a JSON object.
    #[error("a document must be an object, got {got}")]
    NotAnObject {
        /// The JSON type given.
        got: &'static str,
    },
}

/// An update that cannot be compiled or applied.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// Update data must be a non-empty object.
    #[error("update data must be a non-empty object")]
    Empty,
    /// Update data is not an object.
    #[error("update data must be an object, got {got}")]
    NotAnObject {
        /// The JSON type given.
        got: &'static str,
    },
    /// The update would change `_id`.
    #[error("cannot update _id (path `{path}`)")]
    IdChange {
        /// The offending path.
        path: String,
    },
    /// A replacement document (`set`) contains an update operator.
    #[error("update operator complicit: replacement data contains operator `{op}`")]
    OperatorInReplacement {
        /// The operator found.
        op: String,
    },
    /// An operator yundb does not know.
    #[error("unknown update operator `{op}`")]
    UnknownOperator {
        /// The operator.
        op: String,
    },
    /// An operator given operands of the wrong shape.
    #[error("invalid operand for `{op}` at `{path}`: {reason}")]
    BadOperand {
        /// The operator.
        op: &'static str,
        /// The field path.
        path: String,
        /// What was expected.
        reason: String,
    },
    /// A field path that cannot be used.
    #[error("invalid field path `{path}`: {reason}")]
    InvalidPath {
        /// The path.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// An operator applied to a value of the wrong type (`$inc` on a string, `$push` to a
    /// non-array).
    #[error("{op} at `{path}`: {reason}")]
    TypeMismatch {
        /// The operator.
        op: &'static str,
        /// The concrete path.
        path: String,
        /// What was found.
        reason: String,
    },
    /// Arithmetic overflowed a 64-bit integer or produced a non-finite number.
    #[error("{op} at `{path}` overflows: {reason}")]
    Overflow {
        /// The operator.
        op: &'static str,
        /// The concrete path.
        path: String,
        /// The operands.
        reason: String,
    },
    /// A positional update (`$`, `$[]`) that cannot be resolved against the document.
    #[error("positional update of `{path}`: {reason}")]
    Positional {
        /// The path as written.
        path: String,
        /// Why.
        reason: String,
    },
    /// Two paths of one update overlap (`a` and `a.b`).
    #[error("updating the path `{path}` would create a conflict at `{other}`")]
    Conflict {
        /// One path.
        path: String,
        /// The path it overlaps.
        other: String,
    },
    /// A path walks through a value that is not an object or array.
    #[error("cannot create field `{field}` in element {{{parent}: {value}}} (path `{path}`)")]
    PathThroughScalar {
        /// The whole path.
        path: String,
        /// The prefix that holds a scalar.
        parent: String,
        /// The field that cannot be created.
        field: String,
        /// The scalar, as JSON.
        value: String,
    },
    /// The value to write is not storable.
    #[error(transparent)]
    Value(#[from] ValueError),
}

/// A where-clause, sort order or projection that cannot be compiled. Each variant names the
/// operator and the field path it was found at (empty at the top level).
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The clause is not an object.
    #[error("a query must be an object, got {got}")]
    NotAnObject {
        /// The JSON type given.
        got: &'static str,
    },
    /// An operator yundb does not know.
    #[error("unknown operator `{op}` at `{path}`")]
    UnknownOperator {
        /// The operator.
        op: String,
        /// Where.
        path: String,
    },
    /// A known operator yundb does not support (geo, `$where`, `$text`, ...).
    #[error("unsupported operator `{op}` at `{path}`")]
    Unsupported {
        /// The operator.
        op: String,
        /// Where.
        path: String,
    },
    /// An operator given an operand of the wrong shape.
    #[error("invalid operand for `{op}` at `{path}`: {reason}")]
    BadOperand {
        /// The operator.
        op: String,
        /// Where.
        path: String,
        /// What was expected.
        reason: String,
    },
    /// An invalid regular expression.
    #[error("invalid regular expression at `{path}`: {reason}")]
    Regex {
        /// Where.
        path: String,
        /// Why.
        reason: String,
    },
    /// A field path that cannot be used.
    #[error("invalid field path `{path}`: {reason}")]
    InvalidPath {
        /// The path.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// Nested deeper than the limit.
    #[error("query nested deeper than {limit} levels at `{path}`")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// Where.
        path: String,
    },
    /// An invalid sort specification.
    #[error("invalid sort: {reason}")]
    BadSort {
        /// Why.
        reason: String,
    },
    /// An invalid projection.
    #[error("invalid projection at `{path}`: {reason}")]
    BadProjection {
        /// Where.
        path: String,
        /// Why.
        reason: String,
    },
    /// A value in the clause is malformed (an extended-JSON wrapper).
    #[error(transparent)]
    Value(#[from] ValueError),
}
