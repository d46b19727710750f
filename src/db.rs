use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use yundb_storage::Store;
use yundb_watch::{Hub, HubOptions};

use crate::access::Permission;
use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::query::Limits;
use yundb_query::index::IndexSpec;

/// Who performs an operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// The server side (a cloud function, the console): full access; writes are not stamped
    /// with `_openid`.
    Admin,
    /// A client (mini program, web) acting for the user with this openid.
    User {
        /// The user's openid (on web, the CloudBase uid).
        openid: String,
    },
}

/// Database-wide settings, chosen with [`Db::builder`].
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) auto_create: bool,
    pub(crate) max_document_bytes: usize,
    pub(crate) max_depth: usize,
    pub(crate) limits: Limits,
    pub(crate) watch: HubOptions,
    pub(crate) default_permission: Permission,
    pub(crate) resident_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            auto_create: false,
            max_document_bytes: 16 * 1024 * 1024,
            max_depth: 100,
            limits: Limits::default(),
            watch: HubOptions::default(),
            default_permission: Permission::Private,
            resident_bytes: yundb_storage::DEFAULT_RESIDENT_BUDGET,
        }
    }
}

/// Opens a [`Db`] with non-default settings.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Builder {
    options: Options,
}

impl Builder {
    /// Create a collection on first write instead of failing with
    /// `DATABASE_COLLECTION_NOT_EXIST` (CloudBase never auto-creates; default off).
    pub fn auto_create(mut self, on: bool) -> Self {
        self.options.auto_create = on;
        self
    }

    /// The largest stored document, in encoded bytes (default 16 MiB, MongoDB's limit).
    pub fn max_document_bytes(mut self, bytes: usize) -> Self {
        self.options.max_document_bytes = bytes;
        self
    }

    /// The deepest nesting of objects and arrays in a stored document (default 100, MongoDB's).
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.options.max_depth = depth;
        self
    }

    /// Result-size limits per caller class (default: CloudBase's 20/20 for users, 100/1000 for
    /// admin).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.options.limits = limits;
        self
    }

    /// Watch settings: the record cap (default 5,000), how far a subscriber may fall behind
    /// (default 10,000 changes), the hidden slack of `orderBy` + `limit` windows.
    pub fn watch_options(mut self, options: HubOptions) -> Self {
        self.options.watch = options;
        self
    }

    /// The permission of collections created without one (default: PRIVATE, CloudBase's
    /// "仅创建者可读写", the strictest mode in which clients still use their own records).
    pub fn default_permission(mut self, permission: Permission) -> Self {
        self.options.default_permission = permission;
        self
    }

    /// How much memory resident copies of collections may take together (default 256 MiB; 0
    /// turns them off). The second full scan of a collection of at least 1,024 records since
    /// it last changed keeps a copy of its stored records in memory, which later scans, point
    /// reads and index reads use until a write touches the collection; collections that do not
    /// fit are read from the file.
    pub fn resident_bytes(mut self, bytes: usize) -> Self {
        self.options.resident_bytes = bytes;
        self
    }

    /// Opens (or creates) the database file at `path`.
    pub fn open(self, path: impl AsRef<Path>) -> Result<Db> {
        Ok(Db::with_store(Store::open(path)?, self.options))
    }

    /// Opens (or creates) a database on a redb storage backend — for fault injection in tests
    /// and for custom media.
    pub fn backend(self, backend: impl yundb_storage::StorageBackend) -> Result<Db> {
        Ok(Db::with_store(Store::with_backend(backend)?, self.options))
    }

    /// Creates a database in memory.
    pub fn memory(self) -> Result<Db> {
        Ok(Db::with_store(Store::memory()?, self.options))
    }
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) options: Options,
    /// Held across every write transaction and its publication, and while a watch takes its
    /// initial result, so that watches see commits in order with no gap. Groups commits.
    pub(crate) writer: crate::writer::Writer,
    pub(crate) hub: Hub,
    /// Each collection's permission and indexes, read from the catalogue once; every catalogue
    /// change (made under the writer lock) forgets the entry.
    pub(crate) catalog: parking_lot::RwLock<HashMap<String, Arc<Meta>>>,
}

/// What the catalogue says about one collection.
pub(crate) struct Meta {
    /// `None`: the collection does not exist.
    pub(crate) permission: Option<Permission>,
    pub(crate) indexes: Vec<IndexSpec>,
    /// The compiled rules when the permission in force (the stored one, or the default for a
    /// collection yet to be created) is a rules object; compiled once per catalogue load.
    pub(crate) rules: Option<Arc<yundb_query::rules::Rules>>,
}

/// A yundb database: named collections of JSON records in one redb file, or in memory.
///
/// `Db` is a cheap handle (clone it freely) that also carries the [`Caller`] its operations run
/// as: [`Db::as_user`] gives a handle acting for a client user.
#[derive(Clone)]
pub struct Db {
    pub(crate) inner: Arc<Inner>,
    pub(crate) caller: Caller,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("caller", &self.caller)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// Waits for the writer lock.
    pub(crate) fn write_lock(&self) -> crate::writer::WriteLock<'_> {
        self.writer.lock(&self.store)
    }
}

impl Db {
    /// Opens the database file at `path`, creating it if missing.
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        Db::builder().open(path)
    }

    /// Creates an empty database in memory.
    pub fn memory() -> Result<Db> {
        Db::builder().memory()
    }

    /// Settings for opening a database.
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn with_store(store: Store, options: Options) -> Db {
        store.set_resident_budget(options.resident_bytes);
        let hub = Hub::new(options.watch);
        Db {
            inner: Arc::new(Inner {
                store,
                options,
                writer: crate::writer::Writer::default(),
                hub,
                catalog: parking_lot::RwLock::default(),
            }),
            caller: Caller::Admin,
        }
    }

    /// A handle on the same database acting for the client user `openid`.
    pub fn as_user(&self, openid: impl Into<String>) -> Db {
        Db {
            inner: Arc::clone(&self.inner),
            caller: Caller::User {
                openid: openid.into(),
            },
        }
    }

    /// A handle on the same database acting as admin (the server side).
    pub fn as_admin(&self) -> Db {
        Db {
            inner: Arc::clone(&self.inner),
            caller: Caller::Admin,
        }
    }

    /// Who this handle's operations run as.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The sequence number of the last commit. Every write call that changes something commits
    /// once and increases it by one; it survives reopening.
    pub fn seq(&self) -> Result<u64> {
        Ok(self.inner.store.begin_read()?.seq()?)
    }

    pub(crate) fn require_admin(&self, what: &str) -> Result<()> {
        match &self.caller {
            Caller::Admin => Ok(()),
            Caller::User { .. } => Err(Error::PermissionDenied {
                reason: format!("only admin callers may {what}"),
            }),
        }
    }

    /// Creates a collection.
    ///
    /// Names are 1–64 characters of `A-Z a-z 0-9 _ -` not starting with `-`.
    ///
    /// # Errors
    /// `INVALID_PARAM` for a bad name, `DATABASE_REQUEST_FAILED` if it exists,
    /// `DATABASE_PERMISSION_DENIED` for user callers.
    pub fn create_collection(&self, name: &str) -> Result<()> {
        self.create_collection_with(name, self.inner.options.default_permission.clone())
    }

    /// Creates a collection with a permission.
    pub fn create_collection_with(&self, name: &str, permission: Permission) -> Result<()> {
        self.require_admin("create collections")?;
        let permission = Permission::from_json(&permission.to_json())?;
        let mut writer = self.inner.write_lock();
        let txn = self.inner.store.begin_write()?;
        txn.create_collection(name, &json!({"permission": permission.to_json()}))?;
        writer.commit(txn)?;
        self.forget(name);
        Ok(())
    }

    /// A collection's permission.
    ///
    /// # Errors
    /// `DATABASE_COLLECTION_NOT_EXIST`.
    pub fn permission(&self, name: &str) -> Result<Permission> {
        self.permission_in(name, &*self.meta(name)?)
    }

    /// The permission in force according to one catalogue entry.
    pub(crate) fn permission_in(&self, name: &str, meta: &Meta) -> Result<Permission> {
        let Some(permission) = &meta.permission else {
            if self.inner.options.auto_create {
                // Created on first write, with the default permission.
                return Ok(self.inner.options.default_permission.clone());
            }
            return Err(yundb_storage::StorageError::CollectionNotFound {
                name: name.to_owned(),
            }
            .into());
        };
        Ok(permission.clone())
    }

    /// The catalogue's entry for a collection (cached).
    pub(crate) fn meta(&self, name: &str) -> Result<Arc<Meta>> {
        if let Some(m) = self.inner.catalog.read().get(name) {
            return Ok(Arc::clone(m));
        }
        let options = self.inner.store.begin_read()?.collection_options(name)?;
        let (permission, rules) = match options.as_ref().map(|o| o.get("permission")) {
            Some(Some(p)) => {
                let (permission, rules) = Permission::compile(p)?;
                (Some(permission), rules)
            }
            stored => {
                let default = &self.inner.options.default_permission;
                let (_, rules) = Permission::compile(&default.to_json())?;
                (stored.map(|_| default.clone()), rules)
            }
        };
        let meta = Arc::new(Meta {
            permission,
            indexes: crate::collection::indexes_of(options.as_ref())?,
            rules,
        });
        self.inner
            .catalog
            .write()
            .insert(name.to_owned(), Arc::clone(&meta));
        Ok(meta)
    }

    /// Forgets a collection's cached catalogue entry (after a catalogue change).
    pub(crate) fn forget(&self, name: &str) {
        self.inner.catalog.write().remove(name);
    }

    /// Changes a collection's permission (admin only). Client watches on it end with
    /// `WatchError::PermissionChanged`; admin watches go on.
    pub fn set_permission(&self, name: &str, permission: Permission) -> Result<()> {
        self.require_admin("change permissions")?;
        let permission = Permission::from_json(&permission.to_json())?;
        let mut writer = self.inner.write_lock();
        let txn = self.inner.store.begin_write()?;
        let mut options = txn.collection_options(name)?.ok_or_else(|| {
            yundb_storage::StorageError::CollectionNotFound {
                name: name.to_owned(),
            }
        })?;
        if let Some(m) = options.as_object_mut() {
            m.insert("permission".into(), permission.to_json());
        }
        txn.set_collection_options(name, &options)?;
        writer.commit(txn)?;
        self.forget(name);
        self.inner.hub.end_client_watches(name);
        Ok(())
    }

    /// Drops a collection and its records. Returns whether it existed.
    pub fn drop_collection(&self, name: &str) -> Result<bool> {
        self.require_admin("drop collections")?;
        let mut writer = self.inner.write_lock();
        let txn = self.inner.store.begin_write()?;
        let existed = txn.drop_collection(name)?;
        if existed {
            let seq = writer.commit(txn)?;
            self.forget(name);
            crate::watch::publish_drop(self, name, seq);
        }
        Ok(existed)
    }

    /// Waits until every committed change has reached the watches (their snapshots are then
    /// waiting in each subscription). Useful in tests.
    pub fn flush_watches(&self) {
        self.inner.hub.flush();
    }

    /// The names of all collections, sorted.
    pub fn list_collections(&self) -> Result<Vec<String>> {
        Ok(self.inner.store.begin_read()?.list_collections()?)
    }

    /// A collection of JSON documents (`serde_json::Value`).
    pub fn collection(&self, name: &str) -> Collection<Value> {
        Collection::new(self.clone(), name)
    }

    /// A collection whose documents are `T`, converted with serde.
    pub fn typed_collection<T: Serialize + DeserializeOwned + 'static>(
        &self,
        name: &str,
    ) -> Collection<T> {
        Collection::new(self.clone(), name)
    }
}
