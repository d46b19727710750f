//! Ownership and access control (spec §1 `_openid`, §7): collection permission modes and
//! security rules, enforced for client users in one place that every record operation takes.
//! Admin callers bypass all of it.

use std::sync::Arc;

use serde_json::{json, Value};
use yundb_query::rules::{DocView, Env, RuleOp, Rules};
use yundb_query::Filter;
use yundb_storage::{IdKey, RecordRead};

use crate::db::{Caller, Db};
use crate::error::{Error, Result};

/// A collection's permission (spec §7.1): one of the four simple modes, or security rules.
#[derive(Debug, Clone, PartialEq)]
pub enum Permission {
    /// 所有用户可读，仅创建者可写: everyone reads, owners write.
    ReadOnly,
    /// 仅创建者可读写: owners read and write their own records only.
    Private,
    /// 所有用户可读 (仅管理端可写): everyone reads, only admin writes.
    AdminWrite,
    /// 所有用户不可读写: only admin reads and writes.
    AdminOnly,
    /// Security rules (`{"read": .., "write": .., ..}`), validated when set.
    Custom(Value),
}

impl Permission {
    /// The permission as stored and shown: the mode name, or the rules object.
    pub fn to_json(&self) -> Value {
        match self {
            Permission::ReadOnly => json!("READONLY"),
            Permission::Private => json!("PRIVATE"),
            Permission::AdminWrite => json!("ADMINWRITE"),
            Permission::AdminOnly => json!("ADMINONLY"),
            Permission::Custom(rules) => rules.clone(),
        }
    }

    /// Reads a mode name or a rules object.
    ///
    /// # Errors
    /// `INVALID_PARAM` for an unknown mode or invalid rules (naming the key and position).
    pub fn from_json(v: &Value) -> Result<Permission> {
        Permission::compile(v).map(|(permission, _)| permission)
    }

    /// [`Permission::from_json`], also giving the compiled rules of a rules object.
    pub(crate) fn compile(v: &Value) -> Result<(Permission, Option<Arc<Rules>>)> {
        match v {
            Value::String(s) => match s.as_str() {
                "READONLY" => Ok((Permission::ReadOnly, None)),
                "PRIVATE" => Ok((Permission::Private, None)),
                "ADMINWRITE" => Ok((Permission::AdminWrite, None)),
                "ADMINONLY" => Ok((Permission::AdminOnly, None)),
                other => Err(Error::InvalidParam { reason: format!("unknown permission `{other}`; expected READONLY, PRIVATE, ADMINWRITE, ADMINONLY or a rules object") }),
            },
            Value::Object(_) => {
                let rules = Rules::parse(v).map_err(|e| Error::InvalidParam { reason: e.to_string() })?;
                Ok((Permission::Custom(v.clone()), Some(Arc::new(rules))))
            }
            other => Err(Error::InvalidParam { reason: format!("a permission is a mode name or a rules object, got {other}") }),
        }
    }
}

/// The permission in force for one operation.
pub(crate) enum Mode {
    Admin,
    Simple(Permission, String),
    Rules(Arc<Rules>, Value),
}

/// What a caller may see or touch, decided once per operation and applied to every record.
#[derive(Clone)]
pub(crate) enum Gate {
    Open,
    /// Only records whose `_openid` is exactly this.
    Owner(String),
    /// Only records the rule allows.
    Rule(Arc<Rules>, RuleOp, Value),
}

fn denied(reason: impl Into<String>) -> Error {
    Error::PermissionDenied {
        reason: reason.into(),
    }
}

impl Gate {
    /// Whether the record passes. `lookup` serves the rule's `get()`.
    pub(crate) fn allows(&self, lookup: &dyn Fn(&str, &str) -> Option<Value>, doc: &Value) -> bool {
        match self {
            Gate::Open => true,
            Gate::Owner(openid) => {
                doc.get("_openid").and_then(Value::as_str) == Some(openid.as_str())
            }
            Gate::Rule(rules, op, auth) => rules.rule(*op).allows(&Env {
                auth,
                doc: DocView::Record(doc),
                request_data: &Value::Null,
                now: crate::collection::now_ms(),
                get: lookup,
            }),
        }
    }

    /// The condition to add to the query (the simple modes' implicit `_openid` filter).
    pub(crate) fn owner_condition(&self) -> Option<Value> {
        match self {
            Gate::Owner(openid) => Some(json!({"_openid": openid})),
            _ => None,
        }
    }
}

/// Replaces the `'{openid}'` placeholder in query values and write data.
pub(crate) fn fill_openid(v: &mut Value, openid: &str) {
    match v {
        Value::String(s) if s == "{openid}" => openid.clone_into(s),
        Value::Array(items) => items.iter_mut().for_each(|i| fill_openid(i, openid)),
        Value::Object(m) => m.values_mut().for_each(|i| fill_openid(i, openid)),
        _ => {}
    }
}

/// The kind of write being checked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteKind {
    Update,
    Delete,
}

impl Db {
    /// Fills the `'{openid}'` placeholder for user callers.
    pub(crate) fn fill_placeholder(&self, v: &mut Value) {
        if let Caller::User { openid } = &self.caller {
            fill_openid(v, openid);
        }
    }

    /// The permission mode for this handle's caller on a collection.
    pub(crate) fn mode(&self, collection: &str) -> Result<Mode> {
        let Caller::User { openid } = &self.caller else {
            return Ok(Mode::Admin);
        };
        // One catalogue entry for both, so a concurrent permission change cannot mix them.
        let meta = self.meta(collection)?;
        // Checked first: it fails for a missing collection unless auto-create is on.
        let permission = self.permission_in(collection, &meta)?;
        if let Some(rules) = &meta.rules {
            return Ok(Mode::Rules(
                Arc::clone(rules),
                json!({"openid": openid, "uid": openid}),
            ));
        }
        Ok(Mode::Simple(permission, openid.clone()))
    }

    /// A record for a rule's `get('database.<collection>.<id>')`.
    pub(crate) fn lookup(&self, collection: &str, id: &str) -> Option<Value> {
        let read = self.inner.store.begin_read().ok()?;
        let coll = read.collection(collection).ok()?;
        coll.get(&IdKey::new(&Value::String(id.to_owned())).ok()?)
            .ok()
            .flatten()
    }

    fn proves(
        &self,
        rules: &Rules,
        op: RuleOp,
        auth: &Value,
        filter: &Filter,
        data: &Value,
    ) -> bool {
        let Some(branches) = filter.equality_branches(64) else {
            return false;
        };
        let now = crate::collection::now_ms();
        branches.iter().all(|conds| {
            rules.rule(op).allows(&Env {
                auth,
                doc: DocView::Conditions(conds),
                request_data: data,
                now,
                get: &|c, id| self.lookup(c, id),
            })
        })
    }

    /// Decides a read (query, count, watch, `doc(id).get`).
    pub(crate) fn read_gate(&self, mode: &Mode, filter: &Filter) -> Result<Gate> {
        match mode {
            Mode::Admin => Ok(Gate::Open),
            Mode::Simple(Permission::AdminOnly, _) => Err(denied(
                "this collection is readable by admin only (ADMINONLY)",
            )),
            Mode::Simple(Permission::Private, openid) => Ok(Gate::Owner(openid.clone())),
            Mode::Simple(..) => Ok(Gate::Open),
            Mode::Rules(rules, auth) => {
                if !self.proves(rules, RuleOp::Read, auth, filter, &Value::Null) {
                    return Err(denied("the query does not satisfy the read rule (security rules do not filter: the query must imply the rule)"));
                }
                Ok(Gate::Rule(Arc::clone(rules), RuleOp::Read, auth.clone()))
            }
        }
    }

    /// Decides an update or remove.
    pub(crate) fn write_gate(
        &self,
        mode: &Mode,
        kind: WriteKind,
        filter: &Filter,
        by_doc: bool,
        data: &Value,
    ) -> Result<Gate> {
        match mode {
            Mode::Admin => Ok(Gate::Open),
            Mode::Simple(Permission::AdminOnly | Permission::AdminWrite, _) => {
                Err(denied("this collection is writable by admin only"))
            }
            Mode::Simple(_, openid) => {
                if !by_doc {
                    return Err(denied("batch updates and removes by clients need security rules; the simple permission modes allow doc(id) writes only"));
                }
                Ok(Gate::Owner(openid.clone()))
            }
            Mode::Rules(rules, auth) => {
                let op = if kind == WriteKind::Update {
                    RuleOp::Update
                } else {
                    RuleOp::Delete
                };
                if !self.proves(rules, op, auth, filter, data) {
                    return Err(denied(format!(
                        "the query does not satisfy the {} rule",
                        if kind == WriteKind::Update {
                            "update"
                        } else {
                            "delete"
                        }
                    )));
                }
                Ok(Gate::Rule(Arc::clone(rules), op, auth.clone()))
            }
        }
    }

    /// Decides a create of `record` (already stamped with `_openid`).
    pub(crate) fn check_create(&self, mode: &Mode, record: &Value) -> Result<()> {
        match mode {
            Mode::Admin | Mode::Simple(Permission::ReadOnly | Permission::Private, _) => Ok(()),
            Mode::Simple(..) => Err(denied("this collection is writable by admin only")),
            Mode::Rules(rules, auth) => {
                let env = Env {
                    auth,
                    doc: DocView::Record(record),
                    request_data: record,
                    now: crate::collection::now_ms(),
                    get: &|c, id| self.lookup(c, id),
                };
                if rules.rule(RuleOp::Create).allows(&env) {
                    Ok(())
                } else {
                    Err(denied("the new record does not satisfy the create rule"))
                }
            }
        }
    }
}
