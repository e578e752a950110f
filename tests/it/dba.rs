//! A DBA's session on a schema concert-bench has never seen: a lending library with a
//! million loans, two indexes left out and a redundant one. From a slow log the test captures,
//! the advisor finds each missing index, proves it on a scratch copy (the low end of its 95%
//! interval at 2x or more) with its size and write cost, flags the redundant index, and the
//! library's own indexes are exactly as they were.

use crate::common;

use common::TestDb;
use serde_json::Value;

const LOANS: u64 = 1_000_000;

/// The library: `loan` has no index on `member_id` or `book_id` (the two the advisor must
/// find), and `book` has `idx_isbn`, which `idx_isbn_title` makes redundant.
async fn library(db: &TestDb) {
    for ddl in [
        "CREATE TABLE member (id INT PRIMARY KEY, name VARCHAR(60) NOT NULL, joined_at DATE NOT NULL)",
        "CREATE TABLE book (id INT PRIMARY KEY, isbn VARCHAR(20) NOT NULL, title VARCHAR(120) NOT NULL, \
         author VARCHAR(80) NOT NULL, KEY idx_isbn (isbn), KEY idx_isbn_title (isbn, title))",
        "CREATE TABLE loan (id INT PRIMARY KEY, book_id INT NOT NULL, member_id INT NOT NULL, \
         loaned_at DATETIME NOT NULL, returned_at DATETIME NULL)",
        "CREATE TABLE digit (d INT PRIMARY KEY)",
        "INSERT INTO digit VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)",
    ] {
        common::exec(&db.pool, ddl).await;
    }
    // Numbers 0..10^k from the digits, the same on MariaDB and MySQL.
    let numbers = |k: usize| {
        let names = ["a", "b", "c", "e", "f", "g"];
        let sum: Vec<String> = (0..k)
            .map(|i| format!("{}.d * {}", names[i], 10u64.pow(i as u32)))
            .collect();
        let from: Vec<String> = (0..k).map(|i| format!("digit {}", names[i])).collect();
        format!("SELECT {} AS n FROM {}", sum.join(" + "), from.join(", "))
    };
    common::exec(
        &db.pool,
        &format!(
            "INSERT INTO member SELECT n + 1, CONCAT('member ', n), '2020-01-01' + INTERVAL (n % 2000) DAY \
             FROM ({}) t WHERE n < 20000",
            numbers(5)
        ),
    )
    .await;
    common::exec(
        &db.pool,
        &format!(
            "INSERT INTO book SELECT n + 1, CONCAT('978-', LPAD(n, 9, '0')), CONCAT('title ', n), \
             CONCAT('author ', n % 5000) FROM ({}) t WHERE n < 50000",
            numbers(5)
        ),
    )
    .await;
    common::exec(
        &db.pool,
        &format!(
            "INSERT INTO loan SELECT n + 1, 1 + (n * 7919) % 50000, 1 + (n * 104729) % 20000, \
             '2025-01-01' + INTERVAL (n % 330) DAY, NULL FROM ({}) t",
            numbers(6)
        ),
    )
    .await;
    common::exec(&db.pool, "DROP TABLE digit").await;
    common::exec(&db.pool, "ANALYZE TABLE member, book, loan").await;
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
        for member in [11, 222, 3333, 4444, 15555] {
            common::exec(
                app,
                &format!(
                    "SELECT l.id, l.loaned_at, b.title FROM loan l JOIN book b ON b.id = l.book_id \
                     WHERE l.member_id = {member} ORDER BY l.loaned_at DESC LIMIT 20"
                ),
            )
            .await;
        }
        for book in [7, 77, 777, 7777] {
            common::exec(
                app,
                &format!("SELECT member_id, loaned_at FROM loan WHERE book_id = {book}"),
            )
            .await;
        }
        for isbn in ["978-000000042", "978-000004242"] {
            common::exec(
                app,
                &format!("SELECT title, author FROM book WHERE isbn = '{isbn}'"),
            )
            .await;
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
