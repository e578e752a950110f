//! `seed` against the real server: counts checked with SQL (not the tool's report), cross-table
//! consistency, reproducibility by CHECKSUM TABLE, and the safety rules.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestDb, admin_pool, exec, unique_name};

const TINY: &[&str] = &[
    "seed",
    "--concerts",
    "6",
    "--open-concerts",
    "2",
    "--reserved-per-open-concert",
    "15",
];

/// Every table `seed` fills, as the library names them.
fn data_tables() -> Vec<&'static str> {
    concert_bench::commands::seed::SeedTable::ALL
        .iter()
        .map(|t| t.name())
        .collect()
}

/// Cross-table rules every complete data set keeps, checked straight from the tables.
async fn assert_consistent(db: &TestDb) {
    let sold = db
        .count("SELECT COUNT(*) FROM seat WHERE status = 'SOLD'")
        .await;
    let confirmed = db
        .count("SELECT COUNT(*) FROM reservation WHERE status = 'CONFIRMED'")
        .await;
    assert_eq!(
        sold, confirmed,
        "every sold seat has one confirmed reservation"
    );
    let unmatched = db
        .count(
            "SELECT COUNT(*) FROM reservation r LEFT JOIN seat s ON s.id = r.seat_id \
             WHERE s.status IS NULL OR s.status <> 'SOLD' OR s.price <> r.price",
        )
        .await;
    assert_eq!(
        unmatched, 0,
        "reservations point at sold seats of their price"
    );
    let bad_payments = db
        .count(
            "SELECT COUNT(*) FROM reservation r LEFT JOIN payment p ON p.reservation_id = r.id \
             WHERE p.id IS NULL OR p.amount <> r.price OR p.user_id <> r.user_id",
        )
        .await;
    assert_eq!(
        bad_payments, 0,
        "every confirmed reservation has exactly one matching payment"
    );
    let ledger_mismatch = db
        .count(
            "SELECT COUNT(*) FROM point_wallet w LEFT JOIN \
             (SELECT user_id, SUM(amount) total FROM point_ledger GROUP BY user_id) l ON l.user_id = w.user_id \
             WHERE l.total IS NULL OR l.total <> w.balance OR w.balance < 0",
        )
        .await;
    assert_eq!(
        ledger_mismatch, 0,
        "every wallet balance is the sum of its ledger"
    );
    let uses = db
        .count(
            "SELECT CAST(COALESCE(-SUM(amount), 0) AS SIGNED) FROM point_ledger WHERE kind = 'USE'",
        )
        .await;
    let paid = db
        .count("SELECT CAST(COALESCE(SUM(amount), 0) AS SIGNED) FROM payment")
        .await;
    assert_eq!(uses, paid, "points spent equal the payments");
    let sold_outside_open = db
        .count(
            "SELECT COUNT(*) FROM seat s JOIN performance p ON p.id = s.performance_id \
             JOIN concert c ON c.id = p.concert_id WHERE s.status = 'SOLD' AND c.status <> 'OPEN'",
        )
        .await;
    assert_eq!(sold_outside_open, 0, "only open concerts have sales");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM seed_run").await,
        1,
        "a finished seed records itself"
    );
}

#[tokio::test]
async fn week8_defaults_give_the_write_ups_counts() {
    let db = TestDb::new().await;
    let json = db.run(&["-o", "json", "seed"]).await.unwrap();
    for (sql, expected) in [
        ("SELECT COUNT(*) FROM users", 1_000),
        ("SELECT COUNT(*) FROM point_wallet", 1_000),
        ("SELECT COUNT(*) FROM concert", 100),
        ("SELECT COUNT(*) FROM performance", 2_000),
        ("SELECT COUNT(*) FROM seat", 200_000),
        ("SELECT COUNT(*) FROM reservation", 180),
        ("SELECT COUNT(*) FROM payment", 180),
        ("SELECT COUNT(*) FROM concert WHERE status = 'OPEN'", 3),
        (
            "SELECT COUNT(*) FROM concert WHERE status = 'SCHEDULED'",
            97,
        ),
        (
            "SELECT MAX(n) FROM (SELECT COUNT(*) n FROM performance GROUP BY concert_id) t",
            20,
        ),
        (
            "SELECT MIN(n) FROM (SELECT COUNT(*) n FROM performance GROUP BY concert_id) t",
            20,
        ),
        (
            "SELECT MIN(n) FROM (SELECT COUNT(*) n FROM seat GROUP BY performance_id) t",
            100,
        ),
        (
            "SELECT MAX(n) FROM (SELECT COUNT(*) n FROM seat GROUP BY performance_id) t",
            100,
        ),
    ] {
        assert_eq!(db.count(sql).await, expected, "{sql}");
    }
    let per_open: Vec<i64> = sqlx::query_scalar(
        "SELECT COUNT(*) FROM seat s JOIN performance p ON p.id = s.performance_id \
         WHERE s.status = 'SOLD' GROUP BY p.concert_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(per_open, vec![60, 60, 60]);
    assert_consistent(&db).await;

    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["command"], "seed");
    assert_eq!(report["database"], db.name.as_str());
    assert_eq!(report["rng_seed"], 42);
    assert_eq!(report["rows"]["seats"], 200_000);
    assert_eq!(report["rows"]["users"], 1_000);
    assert_eq!(report["rows"]["payments"], 180);
    assert_eq!(report["total_rows"], 205_640);
    assert!(report["seconds"].as_f64().unwrap() > 0.0);
    assert!(report["rows_per_second"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn the_same_rng_seed_gives_identical_checksums() {
    let (a, b, c) = (
        TestDb::new().await,
        TestDb::new().await,
        TestDb::new().await,
    );
    let seeded = |seed: &'static str, connections: &'static str, batch: &'static str| {
        [
            TINY,
            &[
                "--users",
                "40",
                "--rng-seed",
                seed,
                "--connections",
                connections,
                "--batch-rows",
                batch,
            ],
        ]
        .concat()
    };
    a.run(&seeded("7", "3", "7")).await.unwrap();
    b.run(&seeded("7", "1", "1000")).await.unwrap();
    c.run(&seeded("8", "3", "7")).await.unwrap();
    let (sa, sb, sc) = (
        a.checksums(&data_tables()).await,
        b.checksums(&data_tables()).await,
        c.checksums(&data_tables()).await,
    );
    assert_eq!(
        sa, sb,
        "same seed, different batching and parallelism: same tables"
    );
    assert_ne!(sa, sc, "another seed gives other data");
}

#[tokio::test]
async fn a_seeded_database_is_refused_without_reset_and_replaced_with_it() {
    let db = TestDb::new().await;
    db.run(&[TINY, &["--users", "40"]].concat()).await.unwrap();
    let err = db.run(TINY).await.unwrap_err().to_string();
    assert!(
        err.contains("already holds concert-bench data") && err.contains("--reset"),
        "{err}"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM users").await,
        40,
        "the refusal changed nothing"
    );

    db.run(&[TINY, &["--reset", "--users", "30"]].concat())
        .await
        .unwrap();
    assert_eq!(db.count("SELECT COUNT(*) FROM users").await, 30);
    assert_consistent(&db).await;
}

#[tokio::test]
async fn foreign_tables_are_never_touched() {
    let db = TestDb::new().await;
    exec(
        &db.pool,
        "CREATE TABLE customer_orders (id INT PRIMARY KEY)",
    )
    .await;
    exec(&db.pool, "INSERT INTO customer_orders VALUES (1), (2)").await;
    for args in [TINY.to_vec(), [TINY, &["--reset"]].concat()] {
        let err = db.run(&args).await.unwrap_err().to_string();
        assert!(err.contains("did not create (customer_orders)"), "{err}");
    }
    assert_eq!(
        db.tables().await,
        vec!["customer_orders"],
        "nothing was created or dropped"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM customer_orders").await, 2);
}

#[tokio::test]
async fn the_named_database_is_created_when_missing() {
    let name = unique_name("cbt_new");
    let url = format!("{}/{name}", common::server_url());
    common::run_tool(&[
        "concert-bench",
        "--database-url",
        &url,
        "-q",
        "seed",
        "--users",
        "3",
        "--concerts",
        "1",
        "--open-concerts",
        "0",
    ])
    .await
    .unwrap();
    let admin = admin_pool().await;
    let users: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM `{name}`.users"
    )))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(users, 3);
    exec(&admin, &format!("DROP DATABASE `{name}`")).await;
}

#[tokio::test]
async fn a_user_without_create_privilege_gets_a_clear_error_and_passwords_stay_hidden() {
    let admin = admin_pool().await;
    let user = unique_name("cbt_u");
    let password = "pw-Sh0uldNeverPrint";
    exec(
        &admin,
        &format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"),
    )
    .await;
    exec(
        &admin,
        &format!("CREATE USER '{user}'@'localhost' IDENTIFIED BY '{password}'"),
    )
    .await;
    let database = unique_name("cbt_denied");
    let url = common::url_as(&user, password, &database);
    let result = common::run_tool(&["concert-bench", "--database-url", &url, "seed"]).await;
    exec(&admin, &format!("DROP USER '{user}'@'%'")).await;
    exec(&admin, &format!("DROP USER '{user}'@'localhost'")).await;
    let err = format!("{:#}", result.unwrap_err());
    assert!(
        err.contains("lacks a privilege") && err.contains(&database),
        "{err}"
    );
    assert!(!err.contains(password), "{err}");
}

#[tokio::test]
async fn reset_recovers_from_a_seed_killed_half_way() {
    let db = TestDb::new().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_concert-bench"))
        .args([
            "--database-url",
            &db.url,
            "-q",
            "seed",
            "--scale",
            "3",
            "--connections",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let tables = db.tables().await;
        if tables.iter().any(|t| t == "seat") && db.count("SELECT COUNT(*) FROM seat").await > 0 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "seed finished before it could be killed"
        );
        assert!(
            Instant::now() < deadline,
            "seed never started loading seats"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL: no cleanup runs
    child.wait().unwrap();
    assert!(
        db.count("SELECT COUNT(*) FROM seat").await < 600_000,
        "killed part-way"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM seed_run").await,
        0,
        "an unfinished seed is not recorded"
    );

    let err = db.run(TINY).await.unwrap_err().to_string();
    assert!(err.contains("--reset"), "{err}");
    db.run(&[TINY, &["--reset"]].concat()).await.unwrap();
    assert_eq!(db.count("SELECT COUNT(*) FROM seat").await, 6 * 20 * 100);
    assert_consistent(&db).await;
}

#[tokio::test]
async fn tsv_files_hold_the_same_rows_and_touch_no_database() {
    let dir = std::env::temp_dir().join(unique_name("cbt_tsv"));
    let json = common::run_tool(
        &[
            &[
                "concert-bench",
                "-o",
                "json",
                "--database-url",
                "mysql://nobody@127.0.0.1:1/none",
            ],
            TINY,
            &["--tsv-dir", dir.to_str().unwrap()],
        ]
        .concat(),
    )
    .await
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let seats = std::fs::read_to_string(dir.join("seat.tsv")).unwrap();
    assert_eq!(
        seats.lines().count() as u64,
        report["rows"]["seats"].as_u64().unwrap()
    );
    assert_eq!(seats.lines().count(), 6 * 20 * 100);
    let load = std::fs::read_to_string(dir.join("load.sql")).unwrap();
    assert_eq!(load.matches("LOAD DATA LOCAL INFILE").count(), 8);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn reset_clears_cached_data_under_its_own_key_prefix_only() {
    use redis::AsyncCommands;
    let db = TestDb::new().await;
    let prefix = format!("{}:", unique_name("cbt"));
    let neighbour = format!("{}_other:k", prefix.trim_end_matches(':'));
    let mut redis = common::redis().await;
    for i in 0..2_500 {
        let _: () = redis
            .set(format!("{prefix}cache:concert:{i}"), "stale")
            .await
            .unwrap();
    }
    let _: () = redis.set(&neighbour, "keep").await.unwrap();

    let args = |reset: bool| {
        let mut a = vec![
            "--key-prefix",
            prefix.as_str(),
            "--redis-url",
            db.redis_url.as_str(),
            "-o",
            "json",
        ];
        a.extend_from_slice(TINY);
        if reset {
            a.push("--reset");
        }
        a
    };
    let first: serde_json::Value =
        serde_json::from_str(&db.run(&args(false)).await.unwrap()).unwrap();
    assert_eq!(
        first["redis_keys_cleared"],
        serde_json::Value::Null,
        "no reset, no clearing"
    );
    let exists: bool = redis
        .exists(format!("{prefix}cache:concert:0"))
        .await
        .unwrap();
    assert!(exists);

    let second: serde_json::Value =
        serde_json::from_str(&db.run(&args(true)).await.unwrap()).unwrap();
    assert_eq!(second["redis_keys_cleared"], 2_500);
    let exists: bool = redis
        .exists(format!("{prefix}cache:concert:0"))
        .await
        .unwrap();
    assert!(!exists);
    let kept: String = redis.get(&neighbour).await.unwrap();
    assert_eq!(kept, "keep");
    let _: () = redis.del(&neighbour).await.unwrap();
}

#[tokio::test]
async fn reset_with_redis_down_still_seeds_and_reports_nothing_cleared() {
    let db = TestDb::new().await;
    let args = [
        &["-q", "-o", "json", "--redis-url", "redis://127.0.0.1:1"],
        TINY,
        &["--reset"],
    ]
    .concat();
    let report: serde_json::Value = serde_json::from_str(&db.run(&args).await.unwrap()).unwrap();
    assert_eq!(report["redis_keys_cleared"], serde_json::Value::Null);
    assert_consistent(&db).await;
}
