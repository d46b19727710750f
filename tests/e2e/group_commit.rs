//! Group commit: writers that arrive together share durable commits, and every write call
//! returns only once its commit is on disk — a simulated power cut right after the writers
//! return loses nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use yundb::{BackendError, Db, StorageBackend};

/// Memory with a slow `sync_data` (so that writers queue up behind a flush) that keeps the
/// last synced image: `power_cut` throws away everything written since.
#[derive(Debug, Clone, Default)]
struct SlowDisk {
    live: Arc<Mutex<Vec<u8>>>,
    synced: Arc<Mutex<Vec<u8>>>,
    syncs: Arc<AtomicU64>,
}

impl SlowDisk {
    fn power_cut(&self) {
        let synced = self.synced.lock().unwrap().clone();
        *self.live.lock().unwrap() = synced;
    }

    /// A separate disk holding what a power cut now would leave.
    fn after_power_cut(&self) -> SlowDisk {
        let synced = self.synced.lock().unwrap().clone();
        SlowDisk {
            live: Arc::new(Mutex::new(synced.clone())),
            synced: Arc::new(Mutex::new(synced)),
            syncs: Arc::default(),
        }
    }
}

impl StorageBackend for SlowDisk {
    fn len(&self) -> Result<u64, BackendError> {
        Ok(self.live.lock().unwrap().len() as u64)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), BackendError> {
        let live = self.live.lock().unwrap();
        let start = offset as usize;
        out.copy_from_slice(&live[start..start + out.len()]);
        Ok(())
    }
    fn set_len(&self, len: u64) -> Result<(), BackendError> {
        self.live.lock().unwrap().resize(len as usize, 0);
        Ok(())
    }
    fn sync_data(&self) -> Result<(), BackendError> {
        std::thread::sleep(Duration::from_millis(2));
        let live = self.live.lock().unwrap().clone();
        *self.synced.lock().unwrap() = live;
        self.syncs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        let mut live = self.live.lock().unwrap();
        let start = offset as usize;
        if live.len() < start + data.len() {
            live.resize(start + data.len(), 0);
        }
        live[start..start + data.len()].copy_from_slice(data);
        Ok(())
    }
}

/// A database on a fresh slow disk, with an empty collection `c`.
fn slow_db() -> (SlowDisk, Db) {
    let disk = SlowDisk::default();
    let db = Db::builder().backend(disk.clone()).unwrap();
    db.create_collection("c").unwrap();
    (disk, db)
}

const PER_WRITER: usize = 60;

#[test]
fn concurrent_writers_share_durable_commits() {
    let (disk, db) = slow_db();
    let c = db.collection("c");

    // One writer: every add is its own durable commit.
    let before = disk.syncs.load(Ordering::SeqCst);
    for i in 0..PER_WRITER {
        c.add(json!({"_id": format!("solo-{i}"), "n": i})).unwrap();
    }
    let solo = disk.syncs.load(Ordering::SeqCst) - before;
    assert!(
        solo >= PER_WRITER as u64,
        "{solo} syncs for {PER_WRITER} adds"
    );

    // Four writers at once.
    let seq_before = db.seq().unwrap();
    let before = disk.syncs.load(Ordering::SeqCst);
    std::thread::scope(|s| {
        for t in 0..4 {
            let c = c.clone();
            let disk = disk.clone();
            s.spawn(move || {
                for i in 0..PER_WRITER {
                    let id = format!("w{t}-{i}");
                    c.add(json!({"_id": id, "n": i})).unwrap();
                    if i % 10 == 9 {
                        // Acknowledged means on disk now, not after the other writers finish.
                        let image = Db::builder().backend(disk.after_power_cut()).unwrap();
                        let doc = image.collection("c").doc(id.as_str()).get().unwrap();
                        assert!(doc.is_some(), "{id} was acknowledged but is not on disk");
                    }
                }
            });
        }
    });
    let grouped = disk.syncs.load(Ordering::SeqCst) - before;
    // One commit per add, as always…
    assert_eq!(db.seq().unwrap(), seq_before + 4 * PER_WRITER as u64);
    // …but far fewer flushes than four single writers would make.
    assert!(
        grouped * 2 <= 4 * solo,
        "4 writers made {grouped} syncs for {} adds (one writer: {solo} for {PER_WRITER})",
        4 * PER_WRITER
    );

    // Power cut right after the writers returned: every acknowledged add is on disk.
    drop(c);
    drop(db);
    disk.power_cut();
    let db = Db::builder().backend(disk).unwrap();
    let c = db.collection("c");
    assert_eq!(c.count().unwrap(), 5 * PER_WRITER as u64);
    for t in 0..4 {
        for i in 0..PER_WRITER {
            let doc = c.doc(format!("w{t}-{i}")).get().unwrap();
            assert_eq!(doc.unwrap()["n"], json!(i));
        }
    }
}

#[test]
fn a_lone_writer_is_durable_when_it_returns() {
    let (disk, db) = slow_db();
    let c = db.collection("c");
    for i in 0..20 {
        c.add(json!({"_id": i})).unwrap();
        // Interleave writes that change nothing: they must not leave a commit behind.
        assert_eq!(c.doc(1000 + i).update(json!({"a": 1})).unwrap().updated, 0);
    }
    c.create_index("by_id", &[("_id", yundb::Direction::Asc)], false)
        .unwrap();
    drop(c);
    drop(db);
    disk.power_cut();
    let db = Db::builder().backend(disk).unwrap();
    assert_eq!(db.collection("c").count().unwrap(), 20);
    assert_eq!(db.collection("c").indexes().unwrap().len(), 1);
}

/// Failing writes inside groups: a member that fails aborts the shared transaction and the
/// others run their work again — no write is lost, none is applied twice, and each caller gets
/// its own result.
#[test]
fn failures_inside_groups_leave_the_others_whole() {
    let (disk, db) = slow_db();
    let c = db.collection("c");
    c.add(json!({"_id": "taken"})).unwrap();
    c.add(json!({"_id": "counter", "v": 0})).unwrap();
    let seq_before = db.seq().unwrap();
    let results: Vec<(usize, usize, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let c = c.clone();
                s.spawn(move || {
                    let (mut added, mut refused, mut incs) = (0, 0, 0);
                    for i in 0..30 {
                        match i % 3 {
                            0 => {
                                c.add(json!({"_id": format!("t{t}-{i}")})).unwrap();
                                added += 1;
                            }
                            1 => {
                                // Fails half-way: the first document is new, the second is not.
                                let batch =
                                    [json!({"_id": format!("x{t}-{i}")}), json!({"_id": "taken"})];
                                let e = c.add_many(&batch).unwrap_err();
                                assert_eq!(e.code(), "DATABASE_DUPLICATE_WRITE");
                                refused += 1;
                            }
                            _ => {
                                let r = c
                                    .where_(json!({"_id": "counter"}))
                                    .update(json!({"$inc": {"v": 1}}))
                                    .unwrap();
                                assert_eq!(r.updated, 1);
                                incs += 1;
                            }
                        }
                    }
                    (added, refused, incs)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let added: usize = results.iter().map(|r| r.0).sum();
    let incs: usize = results.iter().map(|r| r.2).sum();
    assert_eq!(c.count().unwrap(), 2 + added as u64);
    assert_eq!(c.doc("counter").get().unwrap().unwrap()["v"], json!(incs));
    // Nothing of a refused batch is there.
    assert!(c
        .where_(json!({"_id": {"$regex": "^x"}}))
        .get()
        .unwrap()
        .is_empty());
    // One sequence number per successful write, none for the refused ones.
    assert_eq!(db.seq().unwrap(), seq_before + (added + incs) as u64);
    // And all of it survives a power cut.
    drop(c);
    drop(db);
    disk.power_cut();
    let db = Db::builder().backend(disk).unwrap();
    let c = db.collection("c");
    assert_eq!(c.count().unwrap(), 2 + added as u64);
    assert_eq!(c.doc("counter").get().unwrap().unwrap()["v"], json!(incs));
}
