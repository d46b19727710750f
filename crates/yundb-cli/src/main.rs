//! `yundb`: the command-line tool.
#![forbid(unsafe_code)]

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use yundb::Db;

/// yundb — an embedded CloudBase-compatible JSON document database.
#[derive(Parser)]
#[command(name = "yundb", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Walk through a database: collections, documents, queries, updates, a watch.
    Demo {
        /// The database file (default: a temporary directory).
        #[arg(long)]
        path: Option<PathBuf>,
    },
    /// Run CloudBase wire requests (`{"action": "database.getDocument", "params": {..}}`), one
    /// per argument or, without arguments, one JSON per line of standard input; print each
    /// response's data as one JSON line.
    Exec {
        /// The database file.
        #[arg(long)]
        path: PathBuf,
        /// Run as this client user instead of admin.
        #[arg(long)]
        as_user: Option<String>,
        /// Requests (JSON).
        requests: Vec<String>,
    },
    /// Watch a query and print each snapshot as one JSON line. Wire requests read from standard
    /// input (one JSON per line) run against the same database, so their changes appear; the
    /// command ends at the end of input. (A redb file is written by one process at a time,
    /// which is why the writes come through this process.)
    Watch {
        /// The database file.
        #[arg(long)]
        path: PathBuf,
        /// The collection.
        collection: String,
        /// The where-clause (builder form JSON).
        #[arg(long = "where")]
        filter: Option<String>,
        /// Sort keys, `field:asc` or `field:desc`, repeatable.
        #[arg(long = "order-by")]
        order_by: Vec<String>,
        /// Window size.
        #[arg(long)]
        limit: Option<u64>,
        /// Watch as this client user instead of admin.
        #[arg(long)]
        as_user: Option<String>,
    },
    /// List the collections.
    Collections {
        /// The database file.
        #[arg(long)]
        path: PathBuf,
    },
    /// Create a collection.
    CreateCollection {
        /// The database file.
        #[arg(long)]
        path: PathBuf,
        /// Its name.
        name: String,
        /// Its permission: READONLY, PRIVATE, ADMINWRITE, ADMINONLY or a rules object (JSON);
        /// default PRIVATE.
        #[arg(long)]
        permission: Option<String>,
    },
    /// Show or change a collection's permission.
    Permission {
        /// The database file.
        #[arg(long)]
        path: PathBuf,
        /// `get` or `set`.
        action: String,
        /// The collection.
        collection: String,
        /// For `set`: the mode name or a rules object (JSON).
        value: Option<String>,
    },
}

fn parse_permission(text: &str) -> yundb::Result<yundb::Permission> {
    let v = if text.trim_start().starts_with('{') {
        parse_json(text, "the permission")?
    } else {
        Value::String(text.to_owned())
    };
    yundb::Permission::from_json(&v)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result =
        match cli.command {
            Command::Demo { path } => demo(path),
            Command::Exec {
                path,
                as_user,
                requests,
            } => exec(&path, as_user, &requests),
            Command::Watch {
                path,
                collection,
                filter,
                order_by,
                limit,
                as_user,
            } => watch(
                &path,
                &collection,
                filter.as_deref(),
                &order_by,
                limit,
                as_user,
            ),
            Command::Collections { path } => Db::open(&path)
                .and_then(|db| db.list_collections())
                .map(|names| {
                    for n in names {
                        println!("{n}");
                    }
                }),
            Command::CreateCollection {
                path,
                name,
                permission,
            } => Db::open(&path).and_then(|db| match permission {
                Some(p) => db.create_collection_with(&name, parse_permission(&p)?),
                None => db.create_collection(&name),
            }),
            Command::Permission {
                path,
                action,
                collection,
                value,
            } => Db::open(&path).and_then(|db| match (action.as_str(), value) {
                ("get", None) => db
                    .permission(&collection)
                    .map(|p| println!("{}", p.to_json())),
                ("set", Some(v)) => db.set_permission(&collection, parse_permission(&v)?),
                _ => Err(yundb::Error::InvalidParam {
                    reason: "use `permission get COLLECTION` or `permission set COLLECTION VALUE`"
                        .into(),
                }),
            }),
        };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {} ({})", e, e.code());
            ExitCode::FAILURE
        }
    }
}

fn as_caller(db: &Db, user: Option<String>) -> Db {
    match user {
        Some(openid) => db.as_user(openid),
        None => db.as_admin(),
    }
}

fn parse_json(text: &str, what: &str) -> yundb::Result<Value> {
    serde_json::from_str(text).map_err(|e| yundb::Error::InvalidParam {
        reason: format!("{what} is not valid JSON: {e}"),
    })
}

/// Runs one wire request and prints `{"data": ..}` or `{"code": .., "message": ..}`.
fn run_request(db: &Db, line: &str, out: &mut impl Write) -> std::io::Result<()> {
    let response = match parse_json(line, "the request").and_then(|r| yundb::wire::execute(db, &r))
    {
        Ok(data) => json!({"data": data}),
        Err(e) => json!({"code": e.code(), "message": e.to_string()}),
    };
    writeln!(out, "{response}")
}

fn exec(path: &PathBuf, user: Option<String>, requests: &[String]) -> yundb::Result<()> {
    let db = as_caller(&Db::open(path)?, user);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let io = |e: std::io::Error| yundb::Error::InvalidParam {
        reason: format!("i/o error: {e}"),
    };
    if requests.is_empty() {
        for line in std::io::stdin().lock().lines() {
            let line = line.map_err(io)?;
            if !line.trim().is_empty() {
                run_request(&db, &line, &mut out).map_err(io)?;
            }
        }
    } else {
        for r in requests {
            run_request(&db, r, &mut out).map_err(io)?;
        }
    }
    Ok(())
}

fn watch(
    path: &PathBuf,
    collection: &str,
    filter: Option<&str>,
    order_by: &[String],
    limit: Option<u64>,
    user: Option<String>,
) -> yundb::Result<()> {
    let db = Db::open(path)?;
    let watcher = as_caller(&db, user);
    let coll = watcher.collection(collection);
    let mut query = match filter {
        Some(f) => coll.where_(parse_json(f, "--where")?),
        None => coll.query(),
    };
    for key in order_by {
        let (field, dir) = key.rsplit_once(':').unwrap_or((key.as_str(), "asc"));
        query = query.order_by(field, dir);
    }
    if let Some(n) = limit {
        query = query.limit(n);
    }
    let sub = query.watch()?;
    let io = |e: std::io::Error| yundb::Error::InvalidParam {
        reason: format!("i/o error: {e}"),
    };
    let stdout = std::io::stdout();
    let print = |sub: &yundb::Subscription| -> yundb::Result<()> {
        let mut out = stdout.lock();
        while let Some(s) = sub.try_recv()? {
            writeln!(out, "{}", s.to_json()).map_err(io)?;
        }
        out.flush().map_err(io)
    };
    print(&sub)?;
    let mut sink = std::io::sink();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        // Requests run as admin; their responses go to standard error.
        let mut response = Vec::new();
        run_request(&db, &line, &mut response).map_err(io)?;
        let _ = std::io::stderr().write_all(&response);
        let _ = sink.flush();
        db.flush_watches();
        print(&sub)?;
    }
    Ok(())
}

fn show(label: &str, value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    println!("{label}\n{}\n", indent(&text));
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn demo(path: Option<PathBuf>) -> Result<(), yundb::Error> {
    let tmp;
    let path = match path {
        Some(p) => p,
        None => {
            tmp = tempfile::tempdir().map_err(|e| yundb::Error::InvalidParam {
                reason: format!("cannot create a temporary directory: {e}"),
            })?;
            tmp.path().join("demo.redb")
        }
    };
    println!("1. Open the database file {}", path.display());
    let db = Db::open(&path)?;

    println!("2. Create the collection `books`");
    if db.list_collections()?.iter().any(|c| c == "books") {
        println!("   (it exists from an earlier run: dropping it first)");
        db.drop_collection("books")?;
    }
    db.create_collection("books")?;
    let books = db.collection("books");

    let first = json!({
        "title": "The Catcher in the Rye",
        "author": {"name": "J.D. Salinger", "nationality": "American"},
        "publishInfo": {"year": 1951, "country": "United States"},
        "tags": ["novel", "classic"]
    });
    let second = json!({
        "title": "The Three-Body Problem",
        "author": {"name": "Liu Cixin", "nationality": "Chinese"},
        "publishInfo": {"year": 2008, "country": "China"},
        "tags": ["science fiction", "hugo award"]
    });
    let ids = books.add_many([first, second])?;
    println!(
        "3. Add two books in one transaction: _ids {}",
        Value::Array(ids.clone())
    );

    let id = ids.get(1).cloned().unwrap_or(Value::Null);
    let book = books.doc(id.clone()).get()?.unwrap_or(Value::Null);
    show(&format!("4. Read the second book back by _id {id}:"), &book);

    let result = books
        .doc(id.clone())
        .update(json!({"publishInfo": {"year": 2006}, "rating": 9.3}))?;
    println!(
        "5. Update it with a plain object (deep merge): matched {}, updated {}",
        result.matched, result.updated
    );
    show(
        "   Now it reads:",
        &books.doc(id).get()?.unwrap_or(Value::Null),
    );

    let chinese: Vec<Value> = books
        .where_(json!({"publishInfo": {"country": "China"}}))
        .field(json!({"title": 1}))
        .get()?;
    show(
        "6. Query: books published in China (where publishInfo.country == \"China\"), titles only:",
        &Value::Array(chinese),
    );
    let recent = books
        .where_(json!({"publishInfo.year": {"$gte": 1990}}))
        .count()?;
    println!("   Books published since 1990: {recent}\n");

    let alice = db.as_user("o-alice").collection("books");
    let mine = alice.add(json!({"title": "Ball Lightning"}))?;
    show(
        "7. A client user adds a book; it is stamped with her _openid:",
        &alice.doc(mine).get()?.unwrap_or(Value::Null),
    );
    match alice.add(json!({"title": "forged", "_openid": "o-bob"})) {
        Err(e) => println!(
            "   Claiming someone else's _openid is refused: {} ({})\n",
            e.code(),
            e
        ),
        Ok(_) => println!("   (unexpected: a forged _openid was accepted)\n"),
    }

    println!("8. Permissions: clients only see what the collection's permission allows.");
    db.create_collection_with("diaries", yundb::Permission::Private)?;
    db.as_user("o-alice")
        .collection("diaries")
        .add(json!({"text": "alice's secret"}))?;
    db.as_user("o-bob")
        .collection("diaries")
        .add(json!({"text": "bob's secret"}))?;
    let seen: Vec<Value> = db.as_user("o-bob").collection("diaries").query().get()?;
    println!(
        "   PRIVATE: bob queries everything and sees {} record(s): {:?}",
        seen.len(),
        seen.iter()
            .map(|d| d["text"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    );
    db.set_permission(
        "diaries",
        yundb::Permission::Custom(json!({"read": "doc._openid == auth.openid", "write": false})),
    )?;
    match db.as_user("o-bob").collection("diaries").query().get() {
        Err(e) => println!(
            "   Rule `doc._openid == auth.openid`: a query without _openid is refused: {}",
            e.code()
        ),
        Ok(_) => println!("   (unexpected: the rule did not refuse)"),
    }
    let mine = db
        .as_user("o-bob")
        .collection("diaries")
        .where_(json!({"_openid": "{openid}"}))
        .count()?;
    println!("   ... and with `_openid: '{{openid}}'` it is allowed: {mine} record(s)\n");

    println!("9. Watch the books sorted by year (newest first), window of 2:");
    let watch = books
        .query()
        .order_by("publishInfo.year", "desc")
        .limit(2)
        .watch()?;
    let show_snapshot = |label: &str| -> yundb::Result<()> {
        db.flush_watches();
        let mut any = false;
        while let Some(s) = watch.try_recv()? {
            any = true;
            let changes: Vec<String> = s
                .doc_changes
                .iter()
                .map(|c| {
                    format!(
                        "{} {}/{}",
                        c.doc_id
                            .as_str()
                            .map_or_else(|| c.doc_id.to_string(), str::to_owned),
                        serde_json::to_value(c.data_type)
                            .unwrap_or_default()
                            .as_str()
                            .unwrap_or("?"),
                        serde_json::to_value(c.queue_type)
                            .unwrap_or_default()
                            .as_str()
                            .unwrap_or("?")
                    )
                })
                .collect();
            let titles: Vec<&str> = s
                .docs
                .iter()
                .filter_map(|d| d.get("title").and_then(Value::as_str))
                .collect();
            println!(
                "   {label}: snapshot {} docs {titles:?}\n      changes {changes:?}",
                s.id
            );
        }
        if !any {
            println!("   {label}: no snapshot (the watched result did not change)");
        }
        Ok(())
    };
    show_snapshot("initial")?;
    books.add(json!({"_id": "new-2015", "title": "The Wandering Earth (film tie-in)", "publishInfo": {"year": 2015}}))?;
    show_snapshot("after adding a 2015 book")?;
    books
        .doc("new-2015")
        .update(json!({"publishInfo": {"year": 1950}}))?;
    show_snapshot("after moving it to 1950")?;
    books.doc("new-2015").remove()?;
    show_snapshot("after removing it")?;
    drop(watch);

    println!(
        "\n10. {} books stored; commit sequence number {}",
        books.count()?,
        db.seq()?
    );
    Ok(())
}
