//! A DBA's session on a schema concert-bench has never seen: a lending library with a
//! million loans, two indexes left out and a redundant one. From a slow log the test captures,
//! the advisor finds each missing index, proves it on a scratch copy (the low end of its 95%
//! interval at 2x or more) with its size and write cost, flags the redundant index, and the
//! library's own indexes are exactly as they were.

use crate::common;

use common::TestDb;
use serde_json::Value;

const LOANS: u64 = 1_000_000;

/// `fixtures/library.sql`: the schema and its rows, the same the README's session loads.
async fn library(db: &TestDb) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let sql = std::fs::read_to_string(root.join("fixtures/library.sql")).unwrap();
    common::exec(&db.pool, &sql).await;
}

/// `fixtures/library-app.sql`: the application's statements, one execution each.
fn app_statements() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join("fixtures/library-app.sql"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("--") && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

async fn statistics(db: &TestDb) -> Vec<(String, String, String, i64)> {
    sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(index_name AS CHAR), CAST(column_name AS CHAR), \
         CAST(seq_in_index AS SIGNED) FROM information_schema.statistics \
         WHERE table_schema = DATABASE() ORDER BY 1, 2, 4",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_advisor_proves_every_missing_index_of_a_foreign_schema_from_its_slow_log() {
    let db = TestDb::new().await;
    library(&db).await;
    let loans: i64 = db.count("SELECT COUNT(*) FROM loan").await;
    assert_eq!(loans as u64, LOANS);
    let log = crate::workload::capture_slow_log(&db, async |app| {
        for statement in app_statements() {
            common::exec(app, &statement).await;
        }
    })
    .await;
    let file = crate::workload::File::new(&log);
    let before = statistics(&db).await;
    let out = db
        .run(&[
            "-o",
            "json",
            "-q",
            "explain",
            "--slow-log",
            file.path(),
            "--variant",
            "none",
            "--iterations",
            "7",
            "--warmup",
            "1",
        ])
        .await
        .unwrap();
    assert_eq!(
        statistics(&db).await,
        before,
        "the library's indexes changed"
    );
    let trials_left = db
        .count(&format!(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE '{}\\_cbtrial%'",
            db.name
        ))
        .await;
    assert_eq!(trials_left, 0, "the trial database was left behind");

    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["statements"].as_array().unwrap().len(), 3, "{doc}");
    let trial = &doc["trial"];
    assert!(
        trial["tables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t[0] == "loan" && t[1] == LOANS),
        "{trial}"
    );
    let advice = doc["advice"].as_array().unwrap();
    for column in ["member_id", "book_id"] {
        let a = advice
            .iter()
            .find(|a| a["table"] == "loan" && a["columns"] == serde_json::json!([column]))
            .unwrap_or_else(|| panic!("loan({column}) not proposed: {doc}"));
        assert!(
            a["ci95"][0].as_f64().unwrap() >= 2.0,
            "loan({column}) proven at 2x or more at the low end: {a}"
        );
        assert!(
            a["ddl"].as_str().unwrap().starts_with("CREATE INDEX"),
            "{a}"
        );
        assert!(
            a["measured_on"].as_str().unwrap().contains("scratch copy"),
            "{a}"
        );
        assert!(a["index_bytes"].as_u64().unwrap() > 0, "{a}");
        let cost = &a["write_cost"];
        assert!(
            cost["ratio"].as_f64().unwrap() > 0.0 && cost["with_index"]["count"] == 100,
            "{a}"
        );
    }
    let redundant = doc["redundant_indexes"].as_array().unwrap();
    assert_eq!(redundant.len(), 1, "{redundant:?}");
    assert_eq!(redundant[0]["index"], "idx_isbn");
    assert_eq!(redundant[0]["covered_by"], "idx_isbn_title");
    assert_eq!(
        redundant[0]["ddl"],
        "ALTER TABLE `book` DROP INDEX `idx_isbn`;"
    );
}
