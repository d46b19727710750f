//! Model-based storage fuzzing: arbitrary sequences of document and index operations against a
//! `BTreeMap` model, with reopening and simulated crashes — a storage backend that starts failing
//! after N operations, then a reopen from the last synced image. After every step the database
//! must equal the model; after a crash it must equal the model before or after the operation in
//! flight (nothing acknowledged lost, nothing half-applied).
#![no_main]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use yundb::{BackendError, Db, Direction, Limits, Permission, StorageBackend};

/// Memory whose synced image survives a crash; fails every operation once the budget runs out.
#[derive(Debug, Clone, Default)]
struct Disk {
    live: Arc<Mutex<Vec<u8>>>,
    synced: Arc<Mutex<Vec<u8>>>,
    budget: Arc<AtomicI64>,
}

impl Disk {
    fn spend(&self) -> Result<(), BackendError> {
        if self.budget.fetch_sub(1, Ordering::SeqCst) <= 0 {
            return Err(BackendError::Io(std::io::Error::other("simulated crash")));
        }
        Ok(())
    }
    /// The machine restarts: only what was synced is on the disk.
    fn crash(&self) {
        let synced = self.synced.lock().expect("lock").clone();
        *self.live.lock().expect("lock") = synced;
        self.budget.store(i64::MAX, Ordering::SeqCst);
    }
}

impl StorageBackend for Disk {
    fn len(&self) -> Result<u64, BackendError> {
        Ok(self.live.lock().expect("lock").len() as u64)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), BackendError> {
        let live = self.live.lock().expect("lock");
        let start = offset as usize;
        let src = live.get(start..start + out.len()).ok_or_else(|| BackendError::Io(std::io::Error::other("short read")))?;
        out.copy_from_slice(src);
        Ok(())
    }
    fn set_len(&self, len: u64) -> Result<(), BackendError> {
        self.spend()?;
        self.live.lock().expect("lock").resize(len as usize, 0);
        Ok(())
    }
    fn sync_data(&self) -> Result<(), BackendError> {
        self.spend()?;
        let live = self.live.lock().expect("lock").clone();
        *self.synced.lock().expect("lock") = live;
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        self.spend()?;
        let mut live = self.live.lock().expect("lock");
        let start = offset as usize;
        if live.len() < start + data.len() {
            live.resize(start + data.len(), 0);
        }
        live[start..start + data.len()].copy_from_slice(data);
        Ok(())
    }
}

type Model = BTreeMap<i64, Value>;

fn try_open(disk: &Disk) -> Result<Db, yundb::Error> {
    Db::builder().limits(Limits::unlimited()).backend(disk.clone())
}

fn open(disk: &Disk) -> Db {
    try_open(disk).expect("open after a restart")
}

fn state(db: &Db) -> Model {
    db.collection("c").query().get().expect("read").into_iter().map(|d| (d["_id"].as_i64().expect("id"), d)).collect()
}

fuzz_target!(|data: &[u8]| {
    let disk = Disk::default();
    disk.budget.store(i64::MAX, Ordering::SeqCst);
    // Two handles on one backend would overwrite each other's pages (a file would be locked):
    // the old handle is always dropped before the next open.
    let mut db = Some(open(&disk));
    db.as_ref().expect("open").create_collection_with("c", Permission::AdminOnly).expect("create");
    let mut model = Model::new();
    let mut indexed = false;
    for op in data.chunks(3).take(150) {
        let (code, a, b) = (op[0] % 11, i64::from(*op.get(1).unwrap_or(&0) % 16), i64::from(*op.get(2).unwrap_or(&0) % 8));
        let Some(handle) = db.as_ref() else { return };
        // The model after this operation, if it succeeds.
        let mut next = model.clone();
        // `c` holds a handle on the database: it lives only inside this block, so that a crash
        // or reopen below drops the last handle before opening the next.
        let c = handle.collection("c");
        let result: Result<(), yundb::Error> = match code {
            0 | 1 => {
                let doc = json!({"_id": a, "k": b, "v": 0});
                let r = c.add(doc.clone()).map(|_| ());
                if model.contains_key(&a) {
                    match r {
                        Err(e) if e.code() == "DATABASE_DUPLICATE_WRITE" => Ok(()),
                        other => other.and(Err(yundb::Error::InvalidParam { reason: "duplicate accepted".into() })),
                    }
                } else {
                    next.insert(a, doc);
                    r
                }
            }
            2 => {
                next.remove(&a);
                c.doc(a).remove().map(|r| assert_eq!(r.removed, u64::from(model.contains_key(&a))))
            }
            3 => {
                if let Some(d) = next.get_mut(&a) {
                    d["v"] = json!(d["v"].as_i64().unwrap_or(0) + b);
                }
                c.doc(a).update(json!({"$inc": {"v": b}})).map(|r| assert_eq!(r.matched, u64::from(model.contains_key(&a))))
            }
            4 => {
                let mut n = 0;
                for d in next.values_mut() {
                    if d["k"] == json!(b) {
                        d["k"] = json!((b + a) % 8);
                        n += 1;
                    }
                }
                c.where_(json!({"k": b})).update(json!({"$set": {"k": (b + a) % 8}})).map(|r| assert_eq!(r.matched, n))
            }
            5 => c.where_(json!({"k": b})).get().map(|got| {
                let mut ids: Vec<i64> = got.iter().filter_map(|d| d["_id"].as_i64()).collect();
                ids.sort_unstable();
                let want: Vec<i64> = model.values().filter(|d| d["k"] == json!(b)).filter_map(|d| d["_id"].as_i64()).collect();
                assert_eq!(ids, want);
            }),
            6 => {
                if indexed {
                    c.drop_index("k").map(|existed| assert!(existed))
                } else {
                    c.create_index("k", &[("k", Direction::Asc)], false)
                }
            }
            7 => {
                // Arm a crash: the backend fails after `a * 4 + b` more operations.
                disk.budget.store(a * 4 + b, Ordering::SeqCst);
                Ok(())
            }
            8 => Ok(()),
            _ => c.count().map(|n| assert_eq!(n, model.len() as u64)),
        };
        drop(c);
        let result = if code == 8 && result.is_ok() {
            db = None;
            // Reopening writes too (recovery, format check), so it may crash as well.
            try_open(&disk).map(|d| db = Some(d))
        } else {
            result
        };
        match result {
            Ok(()) => {
                if code == 6 {
                    indexed = !indexed;
                }
                model = next;
            }
            Err(_) => {
                // The backend failed mid-operation: crash, restart from the synced image.
                db = None;
                disk.crash();
                let reopened = open(&disk);
                if !reopened.list_collections().expect("list").contains(&"c".to_owned()) {
                    // Crashed before the very first commit finished: start over.
                    reopened.create_collection_with("c", Permission::AdminOnly).expect("create");
                    model.clear();
                    indexed = false;
                    db = Some(reopened);
                    continue;
                }
                let now = state(&reopened);
                assert!(now == model || now == next, "after a crash the database is neither before nor after the operation in flight");
                model = now;
                indexed = !reopened.collection("c").indexes().expect("indexes").is_empty();
                db = Some(reopened);
            }
        }
        let Some(handle) = db.as_ref() else { return };
        assert_eq!(state(handle), model, "database and model differ");
    }
});
