//! CloudBase security rules (spec §7.2): `{"read": .., "write": .., "create": .., "update": ..,
//! "delete": ..}`, each `true`, `false` or an expression string of at most 1,024 characters.
//! `create`/`update`/`delete` fall back to `write`; a missing key is `false`.
//!
//! The expression language: literals (numbers, strings, template strings, `true`, `false`,
//! `null`, arrays), the variables `auth` (`openid`, `uid`, `loginType`), `doc` (the record, or
//! the query's conditions), `request.data` and `now`, member and index access, `== != === !== <
//! <= > >= in && || ! + -`, and `get('database.<collection>.<id>')` (at most 3 calls, nested at
//! most 2 deep, 10 distinct documents per evaluation). Comparisons compare JSON values without
//! JavaScript's string/number coercion.
//!
//! Evaluation is three-valued: a `doc` field the query does not pin is unknown, and a rule is
//! satisfied only when it is known to be true — the subset rule ("the query must imply the
//! rule").

use std::cell::Cell;

use serde_json::{Map, Value};

use crate::compare::values_equal;
use crate::json::type_name;

/// A rule that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid security rule `{key}` at character {position}: {reason}")]
pub struct RuleError {
    /// The rule key (`read`, `write`, ...).
    pub key: String,
    /// Character offset in the expression (0 for a structural problem).
    pub position: usize,
    /// What is wrong.
    pub reason: String,
}

/// The operations a rule governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleOp {
    /// Queries, counts, watches.
    Read,
    /// Inserts.
    Create,
    /// Updates and replacements.
    Update,
    /// Removes.
    Delete,
}

/// One compiled rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// `true` / `false`.
    Const(bool),
    /// An expression.
    Expr(Box<Ast>),
}

/// A compiled rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    read: Rule,
    create: Rule,
    update: Rule,
    delete: Rule,
    source: Value,
}

/// The expression tree.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Ast {
    Lit(Value),
    Var(VarKind),
    Member(Box<Ast>, String),
    Index(Box<Ast>, Box<Ast>),
    Array(Vec<Ast>),
    Template(Vec<Ast>),
    Not(Box<Ast>),
    Neg(Box<Ast>),
    Bin(BinOp, Box<Ast>, Box<Ast>),
    Get(Box<Ast>),
}

/// Variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum VarKind {
    Auth,
    Doc,
    Request,
    Now,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum BinOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    And,
    Or,
    Add,
    Sub,
}

/// The longest rule expression.
pub const MAX_RULE_CHARS: usize = 1024;

impl Rules {
    /// Compiles a rule object.
    ///
    /// # Errors
    /// [`RuleError`] naming the key and the position.
    pub fn parse(rules: &Value) -> Result<Rules, RuleError> {
        let Value::Object(map) = rules else {
            return Err(RuleError {
                key: String::new(),
                position: 0,
                reason: format!("security rules must be an object, got {}", type_name(rules)),
            });
        };
        for key in map.keys() {
            if !matches!(
                key.as_str(),
                "read" | "write" | "create" | "update" | "delete"
            ) {
                return Err(RuleError {
                    key: key.clone(),
                    position: 0,
                    reason: "unknown rule key; expected read, write, create, update or delete"
                        .into(),
                });
            }
        }
        let rule = |key: &str| -> Result<Option<Rule>, RuleError> {
            match map.get(key) {
                None => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(Rule::Const(*b))),
                Some(Value::String(s)) => {
                    if s.chars().count() > MAX_RULE_CHARS {
                        return Err(RuleError {
                            key: key.into(),
                            position: MAX_RULE_CHARS,
                            reason: format!("longer than {MAX_RULE_CHARS} characters"),
                        });
                    }
                    Parser::new(s, key)
                        .parse()
                        .map(|ast| Some(Rule::Expr(Box::new(ast))))
                }
                Some(other) => Err(RuleError {
                    key: key.into(),
                    position: 0,
                    reason: format!(
                        "a rule is true, false or an expression string, got {}",
                        type_name(other)
                    ),
                }),
            }
        };
        let write = rule("write")?.unwrap_or(Rule::Const(false));
        Ok(Rules {
            read: rule("read")?.unwrap_or(Rule::Const(false)),
            create: rule("create")?.unwrap_or_else(|| write.clone()),
            update: rule("update")?.unwrap_or_else(|| write.clone()),
            delete: rule("delete")?.unwrap_or_else(|| write.clone()),
            source: rules.clone(),
        })
    }

    /// The rule for an operation.
    pub fn rule(&self, op: RuleOp) -> &Rule {
        match op {
            RuleOp::Read => &self.read,
            RuleOp::Create => &self.create,
            RuleOp::Update => &self.update,
            RuleOp::Delete => &self.delete,
        }
    }

    /// The rules as given.
    pub fn source(&self) -> &Value {
        &self.source
    }
}

/// What `doc` stands for during an evaluation.
#[derive(Clone, Copy)]
pub enum DocView<'a> {
    /// A concrete record.
    Record(&'a Value),
    /// A query's equality conditions (dot path → value); other fields are unknown.
    Conditions(&'a [(String, Value)]),
}

/// Everything a rule may look at.
pub struct Env<'a> {
    /// `auth` (`null` when not logged in).
    pub auth: &'a Value,
    /// `doc`.
    pub doc: DocView<'a>,
    /// `request.data` (`null` when the operation has none).
    pub request_data: &'a Value,
    /// `now`, in ms.
    pub now: i64,
    /// Reads `database.<collection>.<id>` for `get()`.
    pub get: &'a dyn Fn(&str, &str) -> Option<Value>,
}

/// A value under three-valued evaluation.
#[derive(Debug, Clone, PartialEq)]
enum RVal {
    Known(Value),
    /// A path into `doc` not yet resolved.
    Doc(Vec<String>),
    Unknown,
}

impl Rule {
    /// Whether the rule is known to hold.
    pub fn allows(&self, env: &Env<'_>) -> bool {
        match self {
            Rule::Const(b) => *b,
            Rule::Expr(ast) => {
                let gets = Cell::new(0);
                matches!(truth(&resolve(eval(ast, env, &gets), env)), Some(true))
            }
        }
    }

    /// Whether the rule mentions `doc` (a rule that does not can be decided without records).
    pub fn uses_doc(&self) -> bool {
        fn walk(a: &Ast) -> bool {
            match a {
                Ast::Var(VarKind::Doc) => true,
                Ast::Lit(_) | Ast::Var(_) => false,
                Ast::Member(x, _) | Ast::Not(x) | Ast::Neg(x) | Ast::Get(x) => walk(x),
                Ast::Index(x, y) | Ast::Bin(_, x, y) => walk(x) || walk(y),
                Ast::Array(items) | Ast::Template(items) => items.iter().any(walk),
            }
        }
        match self {
            Rule::Const(_) => false,
            Rule::Expr(a) => walk(a),
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

fn truth(v: &RVal) -> Option<bool> {
    match v {
        RVal::Known(v) => Some(truthy(v)),
        _ => None,
    }
}

fn member(v: &Value, name: &str) -> Value {
    match v {
        Value::Object(m) => m.get(name).cloned().unwrap_or(Value::Null),
        Value::Array(items) => match name {
            "length" => Value::from(items.len()),
            _ => name
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i).cloned())
                .unwrap_or(Value::Null),
        },
        Value::String(s) if name == "length" => Value::from(s.chars().count()),
        _ => Value::Null,
    }
}

/// Resolves a pending `doc` path against the view.
fn resolve(v: RVal, env: &Env<'_>) -> RVal {
    let RVal::Doc(path) = v else { return v };
    match env.doc {
        DocView::Record(doc) => {
            RVal::Known(path.iter().fold(doc.clone(), |cur, seg| member(&cur, seg)))
        }
        DocView::Conditions(conds) => {
            let joined = path.join(".");
            if let Some((_, v)) = conds.iter().find(|(p, _)| *p == joined) {
                return RVal::Known(v.clone());
            }
            // A condition on a prefix pins the whole sub-document.
            for (p, v) in conds {
                if let Some(rest) = joined
                    .strip_prefix(p.as_str())
                    .and_then(|r| r.strip_prefix('.'))
                {
                    if v.is_object() {
                        return RVal::Known(
                            rest.split('.')
                                .fold(v.clone(), |cur, seg| member(&cur, seg)),
                        );
                    }
                }
            }
            RVal::Unknown
        }
    }
}

fn eval(ast: &Ast, env: &Env<'_>, gets: &Cell<usize>) -> RVal {
    match ast {
        Ast::Lit(v) => RVal::Known(v.clone()),
        Ast::Var(VarKind::Auth) => RVal::Known(env.auth.clone()),
        Ast::Var(VarKind::Now) => RVal::Known(Value::from(env.now)),
        Ast::Var(VarKind::Request) => RVal::Known(Value::Object(Map::from_iter([(
            "data".to_owned(),
            env.request_data.clone(),
        )]))),
        Ast::Var(VarKind::Doc) => RVal::Doc(Vec::new()),
        Ast::Member(obj, name) => match eval(obj, env, gets) {
            RVal::Doc(mut path) => {
                path.push(name.clone());
                RVal::Doc(path)
            }
            RVal::Known(v) => RVal::Known(member(&v, name)),
            RVal::Unknown => RVal::Unknown,
        },
        Ast::Index(obj, idx) => {
            let key = match resolve(eval(idx, env, gets), env) {
                RVal::Known(Value::String(s)) => s,
                RVal::Known(Value::Number(n)) => n.to_string(),
                RVal::Known(_) => return RVal::Known(Value::Null),
                _ => return RVal::Unknown,
            };
            match eval(obj, env, gets) {
                RVal::Doc(mut path) => {
                    path.push(key);
                    RVal::Doc(path)
                }
                RVal::Known(v) => RVal::Known(member(&v, &key)),
                RVal::Unknown => RVal::Unknown,
            }
        }
        Ast::Array(items) => {
            let mut out = Vec::new();
            for i in items {
                match resolve(eval(i, env, gets), env) {
                    RVal::Known(v) => out.push(v),
                    _ => return RVal::Unknown,
                }
            }
            RVal::Known(Value::Array(out))
        }
        Ast::Template(parts) => {
            let mut out = String::new();
            for p in parts {
                match resolve(eval(p, env, gets), env) {
                    RVal::Known(Value::String(s)) => out.push_str(&s),
                    RVal::Known(Value::Null) => out.push_str("undefined"),
                    RVal::Known(v) => out.push_str(&v.to_string()),
                    _ => return RVal::Unknown,
                }
            }
            RVal::Known(Value::String(out))
        }
        Ast::Not(x) => match truth(&resolve(eval(x, env, gets), env)) {
            Some(b) => RVal::Known(Value::Bool(!b)),
            None => RVal::Unknown,
        },
        Ast::Neg(x) => match resolve(eval(x, env, gets), env) {
            RVal::Known(Value::Number(n)) => n
                .as_i64()
                .map(|i| Value::from(-i))
                .or_else(|| {
                    n.as_f64()
                        .and_then(|f| serde_json::Number::from_f64(-f))
                        .map(Value::Number)
                })
                .map_or(RVal::Unknown, RVal::Known),
            RVal::Known(_) => RVal::Known(Value::Null),
            _ => RVal::Unknown,
        },
        Ast::Get(arg) => {
            let RVal::Known(Value::String(path)) = resolve(eval(arg, env, gets), env) else {
                return RVal::Unknown;
            };
            let Some(rest) = path.strip_prefix("database.") else {
                return RVal::Known(Value::Null);
            };
            let Some((coll, id)) = rest.split_once('.') else {
                return RVal::Known(Value::Null);
            };
            gets.set(gets.get() + 1);
            if gets.get() > 10 {
                return RVal::Unknown;
            }
            RVal::Known((env.get)(coll, id).unwrap_or(Value::Null))
        }
        Ast::Bin(op, l, r) => {
            let left = resolve(eval(l, env, gets), env);
            match op {
                BinOp::And => match truth(&left) {
                    Some(false) => RVal::Known(Value::Bool(false)),
                    lt => match (lt, truth(&resolve(eval(r, env, gets), env))) {
                        (_, Some(false)) => RVal::Known(Value::Bool(false)),
                        (Some(true), Some(true)) => RVal::Known(Value::Bool(true)),
                        _ => RVal::Unknown,
                    },
                },
                BinOp::Or => match truth(&left) {
                    Some(true) => RVal::Known(Value::Bool(true)),
                    lt => match (lt, truth(&resolve(eval(r, env, gets), env))) {
                        (_, Some(true)) => RVal::Known(Value::Bool(true)),
                        (Some(false), Some(false)) => RVal::Known(Value::Bool(false)),
                        _ => RVal::Unknown,
                    },
                },
                _ => {
                    let right = resolve(eval(r, env, gets), env);
                    let (RVal::Known(a), RVal::Known(b)) = (left, right) else {
                        return RVal::Unknown;
                    };
                    RVal::Known(binary(*op, &a, &b))
                }
            }
        }
    }
}

fn binary(op: BinOp, a: &Value, b: &Value) -> Value {
    let eq = || match (a, b) {
        (Value::Number(_), Value::Number(_)) => values_equal(a, b),
        _ => a == b,
    };
    let ord = || match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .zip(y.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y)),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    };
    match op {
        BinOp::Eq => Value::Bool(eq()),
        BinOp::Ne => Value::Bool(!eq()),
        BinOp::Lt => Value::Bool(ord().is_some_and(std::cmp::Ordering::is_lt)),
        BinOp::Le => Value::Bool(ord().is_some_and(std::cmp::Ordering::is_le)),
        BinOp::Gt => Value::Bool(ord().is_some_and(std::cmp::Ordering::is_gt)),
        BinOp::Ge => Value::Bool(ord().is_some_and(std::cmp::Ordering::is_ge)),
        BinOp::In => Value::Bool(match b {
            Value::Array(items) => items
                .iter()
                .any(|i| binary(BinOp::Eq, a, i) == Value::Bool(true)),
            Value::Object(m) => a.as_str().is_some_and(|k| m.contains_key(k)),
            _ => false,
        }),
        BinOp::Add => match (a, b) {
            (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
                (Some(p), Some(q)) => p.checked_add(q).map_or(Value::Null, Value::from),
                _ => x
                    .as_f64()
                    .zip(y.as_f64())
                    .and_then(|(p, q)| serde_json::Number::from_f64(p + q))
                    .map_or(Value::Null, Value::Number),
            },
            (Value::String(x), Value::String(y)) => Value::String(format!("{x}{y}")),
            (Value::String(x), other) => Value::String(format!("{x}{other}")),
            (other, Value::String(y)) => Value::String(format!("{other}{y}")),
            _ => Value::Null,
        },
        BinOp::Sub => match (a, b) {
            (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
                (Some(p), Some(q)) => p.checked_sub(q).map_or(Value::Null, Value::from),
                _ => x
                    .as_f64()
                    .zip(y.as_f64())
                    .and_then(|(p, q)| serde_json::Number::from_f64(p - q))
                    .map_or(Value::Null, Value::Number),
            },
            _ => Value::Null,
        },
        BinOp::And | BinOp::Or => Value::Null,
    }
}

// ---- parsing ----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(Value),
    Str(String),
    Template(Vec<(bool, String)>),
    Ident(String),
    Op(&'static str),
}

struct Parser<'s> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    key: &'s str,
    len: usize,
    gets: usize,
}

fn err(key: &str, position: usize, reason: impl Into<String>) -> RuleError {
    RuleError {
        key: key.to_owned(),
        position,
        reason: reason.into(),
    }
}

fn lex(src: &str, key: &str) -> Result<Vec<(usize, Tok)>, RuleError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    const OPS: [&str; 22] = [
        "===", "!==", "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", ".", "[", "]",
        "(", ")", ",", "*", "/", "%",
    ];
    while let Some(&c) = chars.get(i) {
        let start = i;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_digit() || *c == '.')
            {
                i += 1;
            }
            let text: String = chars.get(start..i).unwrap_or_default().iter().collect();
            let v = text
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| {
                    text.parse::<f64>()
                        .map_err(|_| ())
                        .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number).ok_or(()))
                })
                .map_err(|()| err(key, start, format!("bad number {text}")))?;
            out.push((start, Tok::Num(v)));
        } else if c == '\'' || c == '"' {
            i += 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(err(key, start, "unterminated string")),
                    Some('\\') => {
                        if let Some(&e) = chars.get(i + 1) {
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                        i += 2;
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push((start, Tok::Str(s)));
        } else if c == '`' {
            i += 1;
            let mut parts = Vec::new();
            let mut lit = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(err(key, start, "unterminated template string")),
                    Some('`') => {
                        i += 1;
                        break;
                    }
                    Some('$') if chars.get(i + 1) == Some(&'{') => {
                        parts.push((false, std::mem::take(&mut lit)));
                        i += 2;
                        let mut depth = 1;
                        let mut inner = String::new();
                        while let Some(&ch) = chars.get(i) {
                            i += 1;
                            match ch {
                                '{' => depth += 1,
                                '}' => {
                                    depth -= 1;
                                    if depth == 0 {
                                        break;
                                    }
                                }
                                _ => {}
                            }
                            inner.push(ch);
                        }
                        if depth != 0 {
                            return Err(err(key, start, "unterminated ${ in template string"));
                        }
                        parts.push((true, inner));
                    }
                    Some(&ch) => {
                        lit.push(ch);
                        i += 1;
                    }
                }
            }
            parts.push((false, lit));
            out.push((start, Tok::Template(parts)));
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            while chars
                .get(i)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
            {
                i += 1;
            }
            out.push((
                start,
                Tok::Ident(chars.get(start..i).unwrap_or_default().iter().collect()),
            ));
        } else {
            let rest: String = chars
                .get(i..(i + 3).min(chars.len()))
                .unwrap_or_default()
                .iter()
                .collect();
            let Some(op) = OPS.iter().find(|op| rest.starts_with(**op)) else {
                return Err(err(key, start, format!("unexpected character {c:?}")));
            };
            i += op.chars().count();
            out.push((start, Tok::Op(op)));
        }
    }
    Ok(out)
}

impl<'s> Parser<'s> {
    fn new(src: &'s str, key: &'s str) -> Parser<'s> {
        Parser {
            toks: Vec::new(),
            pos: 0,
            key,
            len: src.chars().count(),
            gets: 0,
        }
        .with_source(src)
    }

    fn with_source(mut self, src: &str) -> Self {
        match lex(src, self.key) {
            Ok(t) => self.toks = t,
            Err(e) => self.toks = vec![(e.position, Tok::Ident(format!("\u{0}{}", e.reason)))],
        }
        self
    }

    fn parse(mut self) -> Result<Ast, RuleError> {
        if let Some((p, Tok::Ident(s))) = self.toks.first() {
            if let Some(reason) = s.strip_prefix('\u{0}') {
                return Err(err(self.key, *p, reason));
            }
        }
        if self.toks.is_empty() {
            return Err(err(self.key, 0, "empty expression"));
        }
        let ast = self.expr(0)?;
        if let Some((p, t)) = self.toks.get(self.pos) {
            return Err(err(self.key, *p, format!("unexpected {t:?}")));
        }
        Ok(ast)
    }

    fn here(&self) -> usize {
        self.toks.get(self.pos).map_or(self.len, |(p, _)| *p)
    }

    fn peek_op(&self) -> Option<&'static str> {
        match self.toks.get(self.pos) {
            Some((_, Tok::Op(o))) => Some(o),
            Some((_, Tok::Ident(i))) if i == "in" => Some("in"),
            _ => None,
        }
    }

    fn expect(&mut self, op: &'static str) -> Result<(), RuleError> {
        if self.peek_op() == Some(op) {
            self.pos += 1;
            Ok(())
        } else {
            Err(err(self.key, self.here(), format!("expected `{op}`")))
        }
    }

    /// Precedence climbing: `||` < `&&` < equality < relational < additive.
    fn expr(&mut self, min: u8) -> Result<Ast, RuleError> {
        let mut left = self.unary()?;
        while let Some(op) = self.peek_op() {
            let (prec, bin) = match op {
                "||" => (1, BinOp::Or),
                "&&" => (2, BinOp::And),
                "==" | "===" => (3, BinOp::Eq),
                "!=" | "!==" => (3, BinOp::Ne),
                "<" => (4, BinOp::Lt),
                "<=" => (4, BinOp::Le),
                ">" => (4, BinOp::Gt),
                ">=" => (4, BinOp::Ge),
                "in" => (4, BinOp::In),
                "+" => (5, BinOp::Add),
                "-" => (5, BinOp::Sub),
                "*" | "/" | "%" => {
                    return Err(err(
                        self.key,
                        self.here(),
                        format!("operator `{op}` is not supported"),
                    ))
                }
                _ => break,
            };
            if prec < min {
                break;
            }
            self.pos += 1;
            let right = self.expr(prec + 1)?;
            left = Ast::Bin(bin, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Ast, RuleError> {
        match self.peek_op() {
            Some("!") => {
                self.pos += 1;
                Ok(Ast::Not(Box::new(self.unary()?)))
            }
            Some("-") => {
                self.pos += 1;
                Ok(Ast::Neg(Box::new(self.unary()?)))
            }
            _ => self.postfix(),
        }
    }

    fn postfix(&mut self) -> Result<Ast, RuleError> {
        let mut node = self.primary()?;
        loop {
            match self.peek_op() {
                Some(".") => {
                    self.pos += 1;
                    match self.toks.get(self.pos) {
                        Some((_, Tok::Ident(name))) => {
                            node = Ast::Member(Box::new(node), name.clone());
                            self.pos += 1;
                        }
                        _ => {
                            return Err(err(
                                self.key,
                                self.here(),
                                "expected a field name after `.`",
                            ))
                        }
                    }
                }
                Some("[") => {
                    self.pos += 1;
                    let idx = self.expr(0)?;
                    self.expect("]")?;
                    node = Ast::Index(Box::new(node), Box::new(idx));
                }
                _ => return Ok(node),
            }
        }
    }

    fn primary(&mut self) -> Result<Ast, RuleError> {
        let at = self.here();
        let Some((_, tok)) = self.toks.get(self.pos).cloned() else {
            return Err(err(self.key, at, "unexpected end of expression"));
        };
        self.pos += 1;
        match tok {
            Tok::Num(v) => Ok(Ast::Lit(v)),
            Tok::Str(s) => Ok(Ast::Lit(Value::String(s))),
            Tok::Template(parts) => {
                let mut out = Vec::new();
                for (is_expr, text) in parts {
                    if is_expr {
                        let sub = Parser::new(&text, self.key)
                            .parse()
                            .map_err(|e| err(self.key, at + e.position, e.reason))?;
                        out.push(sub);
                    } else if !text.is_empty() {
                        out.push(Ast::Lit(Value::String(text)));
                    }
                }
                Ok(Ast::Template(out))
            }
            Tok::Ident(id) => match id.as_str() {
                "true" => Ok(Ast::Lit(Value::Bool(true))),
                "false" => Ok(Ast::Lit(Value::Bool(false))),
                "null" | "undefined" => Ok(Ast::Lit(Value::Null)),
                "auth" => Ok(Ast::Var(VarKind::Auth)),
                "doc" => Ok(Ast::Var(VarKind::Doc)),
                "request" => Ok(Ast::Var(VarKind::Request)),
                "now" => Ok(Ast::Var(VarKind::Now)),
                "get" => {
                    self.gets += 1;
                    if self.gets > 3 {
                        return Err(err(self.key, at, "at most 3 get() calls per expression"));
                    }
                    self.expect("(")?;
                    let arg = self.expr(0)?;
                    self.expect(")")?;
                    if nesting(&arg) >= 2 {
                        return Err(err(self.key, at, "get() may be nested at most 2 deep"));
                    }
                    Ok(Ast::Get(Box::new(arg)))
                }
                other => Err(err(self.key, at, format!("unknown variable `{other}`"))),
            },
            Tok::Op("(") => {
                let e = self.expr(0)?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Op("[") => {
                let mut items = Vec::new();
                if self.peek_op() != Some("]") {
                    loop {
                        items.push(self.expr(0)?);
                        if self.peek_op() == Some(",") {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.expect("]")?;
                Ok(Ast::Array(items))
            }
            Tok::Op(o) => Err(err(self.key, at, format!("unexpected `{o}`"))),
        }
    }
}

fn nesting(a: &Ast) -> usize {
    match a {
        Ast::Get(x) => 1 + nesting(x),
        Ast::Lit(_) | Ast::Var(_) => 0,
        Ast::Member(x, _) | Ast::Not(x) | Ast::Neg(x) => nesting(x),
        Ast::Index(x, y) | Ast::Bin(_, x, y) => nesting(x).max(nesting(y)),
        Ast::Array(items) | Ast::Template(items) => items.iter().map(nesting).max().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env<'a>(auth: &'a Value, doc: DocView<'a>, data: &'a Value) -> Env<'a> {
        Env {
            auth,
            doc,
            request_data: data,
            now: 1000,
            get: &|_, id| (id == "u1").then(|| json!({"role": "admin"})),
        }
    }

    #[test]
    fn parses_and_falls_back_to_write() {
        let r =
            Rules::parse(&json!({"read": true, "write": "doc._openid == auth.openid"})).unwrap();
        assert_eq!(r.rule(RuleOp::Read), &Rule::Const(true));
        assert_eq!(r.rule(RuleOp::Delete), r.rule(RuleOp::Update));
        let none = Rules::parse(&json!({})).unwrap();
        assert_eq!(none.rule(RuleOp::Read), &Rule::Const(false));
        for (bad, pos) in [
            (json!({"read": "doc.a =="}), 8),
            (json!({"read": "foo.a"}), 0),
            (json!({"read": "doc.a * 2"}), 6),
            (json!({"read": "'open"}), 0),
            (json!({"read": 5}), 0),
            (json!({"reed": true}), 0),
        ] {
            let e = Rules::parse(&bad).unwrap_err();
            assert_eq!(e.position, pos, "{bad}: {e}");
        }
        let many = json!({"read": "get('a') && get('b') && get('c') && get('d')"});
        assert!(Rules::parse(&many).is_err());
        assert!(Rules::parse(&json!({"read": "get(get(get('x')))"})).is_err());
        assert!(Rules::parse(&json!({"read": "x".repeat(1025)})).is_err());
    }

    #[test]
    fn three_valued_proofs() {
        let rules =
            Rules::parse(&json!({"read": "doc._openid == auth.openid || doc.public == true"}))
                .unwrap();
        let read = rules.rule(RuleOp::Read);
        let auth = json!({"openid": "u1"});
        let own = [("_openid".to_owned(), json!("u1"))];
        let public = [("public".to_owned(), json!(true))];
        let other = [("_openid".to_owned(), json!("u2"))];
        let none: [(String, Value); 0] = [];
        assert!(read.allows(&env(&auth, DocView::Conditions(&own), &Value::Null)));
        assert!(read.allows(&env(&auth, DocView::Conditions(&public), &Value::Null)));
        assert!(
            !read.allows(&env(&auth, DocView::Conditions(&other), &Value::Null)),
            "unknown public"
        );
        assert!(!read.allows(&env(&auth, DocView::Conditions(&none), &Value::Null)));
        assert!(read.allows(&env(
            &auth,
            DocView::Record(&json!({"_openid": "u2", "public": true})),
            &Value::Null
        )));
    }

    #[test]
    fn expressions() {
        let check = |expr: &str, doc: Value| {
            Rules::parse(&json!({"read": expr}))
                .unwrap()
                .rule(RuleOp::Read)
                .allows(&env(
                    &json!({"openid": "u1"}),
                    DocView::Record(&doc),
                    &json!({"n": 2}),
                ))
        };
        assert!(check(
            "auth.openid in doc.members",
            json!({"members": ["u0", "u1"]})
        ));
        assert!(check("!(auth.openid in ['x', 'y'])", json!({})));
        assert!(check("doc.n + 1 >= 3 && doc['n'] < 5", json!({"n": 2})));
        assert!(check("request.data.n == 2 && now > 0", json!({})));
        assert!(check(
            "get(`database.users.${auth.openid}`).role == 'admin'",
            json!({})
        ));
        assert!(!check(
            "get('database.users.u2').role == 'admin'",
            json!({})
        ));
        assert!(check(
            "doc.missing == null && doc.s.length == 3",
            json!({"s": "abc"})
        ));
        assert!(
            !check("doc.n == '2'", json!({"n": 2})),
            "no string/number coercion"
        );
    }
}
