//! `field(..)` projections: MongoDB inclusion / exclusion, `_id` returned unless excluded,
//! dotted paths (through arrays of objects), `$slice` and `$elemMatch`.

use serde_json::{Map, Value};

use crate::error::QueryError;
use crate::filter::Filter;
use crate::json::type_name;
use crate::value::is_value_object;

#[derive(Debug, Clone)]
enum Node {
    Include,
    Exclude,
    Slice(i64, Option<i64>),
    ElemMatch(Filter),
    Children(Tree),
}

type Tree = Vec<(String, Node)>;

/// A compiled projection.
#[derive(Debug, Clone)]
pub struct Projection {
    tree: Tree,
    inclusion: bool,
    id: bool,
}

fn bad(path: &str, reason: impl Into<String>) -> QueryError {
    QueryError::BadProjection {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

impl Projection {
    /// Compiles a projection object (`{"a": 1, "b.c": 1, "_id": 0}`, `{"arr": {"$slice": 2}}`).
    ///
    /// # Errors
    /// [`QueryError::BadProjection`] for mixed inclusion and exclusion, unknown operators,
    /// conflicting paths.
    pub fn new(spec: &Value) -> Result<Projection, QueryError> {
        let Value::Object(map) = spec else {
            return Err(bad(
                "",
                format!("a projection must be an object, got {}", type_name(spec)),
            ));
        };
        let mut tree = Tree::new();
        let mut inclusion: Option<bool> = None;
        let mut id = true;
        for (path, v) in map {
            let node = match v {
                Value::Bool(b) => flag(*b),
                Value::Number(n) => flag(n.as_f64().is_some_and(|f| f != 0.0)),
                Value::Object(m) if m.len() == 1 && m.contains_key("$slice") => {
                    slice(path, m.get("$slice").unwrap_or(&Value::Null))?
                }
                Value::Object(m) if m.len() == 1 && m.contains_key("$elemMatch") => {
                    if path.contains('.') {
                        return Err(bad(path, "$elemMatch cannot be used on a dotted path"));
                    }
                    Node::ElemMatch(Filter::from_wire(
                        m.get("$elemMatch").unwrap_or(&Value::Null),
                    )?)
                }
                Value::Object(m)
                    if !m.is_empty()
                        && !is_value_object(m)
                        && m.keys().all(|k| !k.starts_with('$')) =>
                {
                    return Err(bad(
                        path,
                        "nested projection objects are not supported; use dot paths",
                    ));
                }
                other => return Err(bad(path, format!("unsupported projection value {other}"))),
            };
            if path == "_id" {
                match node {
                    Node::Include => continue,
                    Node::Exclude => {
                        id = false;
                        continue;
                    }
                    _ => {}
                }
            }
            let is_incl = match node {
                Node::Include | Node::ElemMatch(_) => Some(true),
                Node::Exclude => Some(false),
                _ => None,
            };
            if let Some(i) = is_incl {
                if inclusion.is_some_and(|prev| prev != i) {
                    return Err(bad(
                        path,
                        "cannot mix inclusion and exclusion in one projection",
                    ));
                }
                inclusion = Some(i);
            }
            insert(&mut tree, path, node)?;
        }
        Ok(Projection {
            tree,
            inclusion: inclusion.unwrap_or(false),
            id,
        })
    }

    /// Applies the projection to a document.
    pub fn apply(&self, doc: &Value) -> Value {
        let Value::Object(map) = doc else {
            return doc.clone();
        };
        let mut out = if self.inclusion {
            include(map, &self.tree)
        } else {
            exclude(map, &self.tree)
        };
        if self.inclusion && self.id {
            if let Some(id) = map.get("_id") {
                out.shift_insert(0, "_id".into(), id.clone());
            }
        }
        if !self.id {
            out.shift_remove("_id");
        }
        Value::Object(out)
    }
}

fn flag(on: bool) -> Node {
    if on {
        Node::Include
    } else {
        Node::Exclude
    }
}

fn slice(path: &str, v: &Value) -> Result<Node, QueryError> {
    let int = |v: &Value| {
        v.as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
    };
    match v {
        Value::Number(_) => Ok(Node::Slice(int(v).unwrap_or(0), None)),
        Value::Array(a) => match a.as_slice() {
            [skip, n] => {
                let (Some(skip), Some(n)) = (int(skip), int(n)) else {
                    return Err(bad(path, "$slice takes numbers"));
                };
                if n <= 0 {
                    return Err(bad(path, "$slice limit must be positive"));
                }
                Ok(Node::Slice(skip, Some(n)))
            }
            _ => Err(bad(path, "$slice takes a number or [skip, limit]")),
        },
        other => Err(bad(
            path,
            format!(
                "$slice takes a number or [skip, limit], got {}",
                type_name(other)
            ),
        )),
    }
}

fn insert(tree: &mut Tree, path: &str, node: Node) -> Result<(), QueryError> {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    if head.is_empty() || head.starts_with('$') {
        return Err(bad(path, "invalid field name"));
    }
    let pos = tree.iter().position(|(k, _)| k == head);
    match (rest, pos) {
        (None, None) => {
            tree.push((head.to_owned(), node));
            Ok(())
        }
        (Some(rest), None) => {
            let mut sub = Tree::new();
            insert(&mut sub, rest, node)?;
            tree.push((head.to_owned(), Node::Children(sub)));
            Ok(())
        }
        (Some(rest), Some(i)) => match tree.get_mut(i) {
            Some((_, Node::Children(sub))) => insert(sub, rest, node),
            _ => Err(bad(path, "path collision")),
        },
        (None, Some(_)) => Err(bad(path, "path collision")),
    }
}

fn get<'a>(tree: &'a Tree, key: &str) -> Option<&'a Node> {
    tree.iter().find(|(k, _)| k == key).map(|(_, n)| n)
}

fn include(map: &Map<String, Value>, tree: &Tree) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in map {
        let Some(node) = get(tree, k) else { continue };
        let projected = match node {
            Node::Include | Node::Exclude => Some(v.clone()),
            Node::Slice(skip, n) => Some(apply_slice(v, *skip, *n)),
            Node::ElemMatch(filter) => match v {
                Value::Array(items) => items
                    .iter()
                    .find(|e| e.is_object() && filter.matches(e))
                    .map(|e| Value::Array(vec![e.clone()])),
                _ => None,
            },
            Node::Children(sub) => include_value(v, sub),
        };
        if let Some(p) = projected {
            out.insert(k.clone(), p);
        }
    }
    out
}

fn include_value(v: &Value, sub: &Tree) -> Option<Value> {
    match v {
        Value::Object(m) if !is_value_object(m) => Some(Value::Object(include(m, sub))),
        Value::Array(items) => Some(Value::Array(
            items.iter().filter_map(|i| include_value(i, sub)).collect(),
        )),
        _ => None,
    }
}

fn exclude(map: &Map<String, Value>, tree: &Tree) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in map {
        match get(tree, k) {
            None | Some(Node::Include | Node::ElemMatch(_)) => {
                out.insert(k.clone(), v.clone());
            }
            Some(Node::Exclude) => {}
            Some(Node::Slice(skip, n)) => {
                out.insert(k.clone(), apply_slice(v, *skip, *n));
            }
            Some(Node::Children(sub)) => {
                out.insert(k.clone(), exclude_value(v, sub));
            }
        }
    }
    out
}

fn exclude_value(v: &Value, sub: &Tree) -> Value {
    match v {
        Value::Object(m) if !is_value_object(m) => Value::Object(exclude(m, sub)),
        Value::Array(items) => Value::Array(items.iter().map(|i| exclude_value(i, sub)).collect()),
        other => other.clone(),
    }
}

fn apply_slice(v: &Value, skip: i64, n: Option<i64>) -> Value {
    let Value::Array(items) = v else {
        return v.clone();
    };
    let len = items.len() as i64;
    let (start, end) = match n {
        None if skip >= 0 => (0, skip.min(len)),
        None => ((len + skip).max(0), len),
        Some(n) => {
            let start = if skip >= 0 {
                skip.min(len)
            } else {
                (len + skip).max(0)
            };
            (start, start.saturating_add(n).min(len))
        }
    };
    Value::Array(
        items
            .get(start as usize..end as usize)
            .unwrap_or_default()
            .to_vec(),
    )
}
