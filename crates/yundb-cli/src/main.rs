//! `yundb`: the command-line tool.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{json, Value};
use yundb::Db;

const USAGE: &str = "\
yundb — an embedded CloudBase-compatible JSON document database

Usage:
  yundb demo [--path FILE]   Walk through creating a database, adding and reading books.
                             Without --path the database lives in a temporary directory.
  yundb help                 Show this text.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => parse_path(args.get(1..).unwrap_or_default())
            .and_then(|p| demo(p).map_err(|e| e.to_string())),
        Some("help" | "--help" | "-h") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_path(args: &[String]) -> Result<Option<PathBuf>, String> {
    match args {
        [] => Ok(None),
        [flag, path] if flag == "--path" => Ok(Some(PathBuf::from(path))),
        _ => Err(format!("expected `--path FILE`, got `{}`", args.join(" "))),
    }
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

    println!(
        "7. {} books stored; commit sequence number {}",
        books.count()?,
        db.seq()?
    );
    Ok(())
}
