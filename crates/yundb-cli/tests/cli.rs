//! The `yundb` binary end to end.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

fn yundb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_yundb"))
}

#[test]
fn demo_runs() {
    let out = yundb().arg("demo").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "The Three-Body Problem",
        "DATABASE_PERMISSION_DENIED",
        "limit/dequeue",
        "update/dequeue",
        "books published in China",
    ] {
        assert!(
            text.contains(needle),
            "demo output lacks {needle:?}:\n{text}"
        );
    }
}

#[test]
fn exec_and_watch() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.redb");
    let db = db.to_str().unwrap();
    assert!(yundb()
        .args(["create-collection", "--path", db, "todos"])
        .status()
        .unwrap()
        .success());
    let out = yundb()
        .args(["exec", "--path", db, r#"{"action":"database.insertDocument","params":{"collectionName":"todos","data":[{"_id":"a","done":false}]}}"#, r#"{"action":"database.getDocument","params":{"collectionName":"todos","query":{}}}"#, r#"{"action":"database.nope","params":{"collectionName":"todos"}}"#])
        .output()
        .unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[1]["data"]["list"][0]["_id"], "a");
    assert_eq!(lines[2]["code"], "INVALID_PARAM");

    let mut child = yundb()
        .args([
            "watch",
            "--path",
            db,
            "todos",
            "--where",
            r#"{"done": false}"#,
            "--order-by",
            "_id:asc",
            "--limit",
            "5",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"action\":\"database.insertDocument\",\"params\":{\"collectionName\":\"todos\",\"data\":[{\"_id\":\"b\",\"done\":false}]}}\n{\"action\":\"database.removeDocument\",\"params\":{\"collectionName\":\"todos\",\"queryType\":\"DOC\",\"query\":{\"_id\":\"a\"}}}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let snaps: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(snaps.len(), 3, "{snaps:?}");
    assert_eq!(snaps[0]["type"], "init");
    assert_eq!(snaps[1]["docChanges"][0]["dataType"], "add");
    assert_eq!(snaps[2]["docChanges"][0]["queueType"], "dequeue");
    assert_eq!(snaps[2]["docs"][0]["_id"], "b");
}

#[test]
fn permissions() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.redb");
    let db = db.to_str().unwrap();
    assert!(yundb()
        .args([
            "create-collection",
            "--path",
            db,
            "notes",
            "--permission",
            "READONLY"
        ])
        .status()
        .unwrap()
        .success());
    let get = || {
        String::from_utf8(
            yundb()
                .args(["permission", "--path", db, "get", "notes"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
    };
    assert_eq!(get().trim(), "\"READONLY\"");
    assert!(yundb()
        .args([
            "permission",
            "--path",
            db,
            "set",
            "notes",
            r#"{"read": true, "write": false}"#
        ])
        .status()
        .unwrap()
        .success());
    assert_eq!(get().trim(), r#"{"read":true,"write":false}"#);
    let bad = yundb()
        .args([
            "permission",
            "--path",
            db,
            "set",
            "notes",
            r#"{"read": "doc.a =="}"#,
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("INVALID_PARAM"));
    let denied = yundb()
        .args(["exec", "--path", db, "--as-user", "u1", r#"{"action":"database.insertDocument","params":{"collectionName":"notes","data":[{"a":1}]}}"#])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&denied.stdout).contains("DATABASE_PERMISSION_DENIED"));
}

#[test]
fn bad_input_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.redb");
    let db = db.to_str().unwrap();
    assert!(yundb()
        .args(["create-collection", "--path", db, "c"])
        .status()
        .unwrap()
        .success());
    let run = |stdin: &[u8], args: &[&str]| {
        let mut child = yundb()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    };
    // Truncated JSON and a non-object request: typed errors per line, nothing written.
    let out = run(b"{\"action\":\"database.insertDocument\",\"params\":{\"collectionName\":\"c\",\"data\":[{\"a\":1}\n[1,2]\n", &["exec", "--path", db]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.lines().all(|l| l.contains("INVALID_PARAM")), "{text}");
    // Invalid UTF-8 ends the command with an error.
    let out = run(b"\xff\xfe{}\n", &["exec", "--path", db]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID_PARAM"));
    // Unknown commands and missing arguments are usage errors.
    assert!(!yundb().args(["frobnicate"]).status().unwrap().success());
    assert!(!yundb()
        .args(["watch", "--path", db])
        .status()
        .unwrap()
        .success());
    assert!(!yundb()
        .args(["permission", "--path", db, "set", "c"])
        .output()
        .unwrap()
        .status
        .success());
    assert!(!yundb()
        .args(["watch", "--path", db, "c", "--where", "{bad"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .status
        .success());
    let count = yundb()
        .args([
            "exec",
            "--path",
            db,
            r#"{"action":"database.calculateDocument","params":{"collectionName":"c"}}"#,
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&count.stdout).contains(r#""total":0"#),
        "nothing was written"
    );
}
