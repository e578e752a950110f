//! Nothing a user owns is ever touched: tables, databases and indexes the tool cannot prove it
//! created are refused by name, whatever the flags. Each test is a case that once lost data.

use crate::common;

use std::time::{Duration, Instant};

use common::{TestDb, admin_pool, exec};

const TINY: &[&str] = &[
    "-q",
    "seed",
    "--concerts",
    "2",
    "--open-concerts",
    "1",
    "--users",
    "5",
];
const FAST: &[&str] = &["--iterations", "3", "--warmup", "1", "--server-runs", "0"];

/// The errors of `seed` and of `seed --reset` on `db` (both must fail).
async fn seed_refusals(db: &TestDb) -> Vec<String> {
    let mut errors = Vec::new();
    for extra in [&[][..], &["--reset"]] {
        let err = db.run(&[TINY, extra].concat()).await.unwrap_err();
        errors.push(err.to_string());
    }
    errors
}

#[tokio::test]
async fn a_dbas_users_table_is_refused_by_name_and_never_dropped() {
    let db = TestDb::new().await;
    exec(
        &db.pool,
        "CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(100))",
    )
    .await;
    exec(
        &db.pool,
        "INSERT INTO users VALUES (1, 'customer@example.com')",
    )
    .await;
    for err in seed_refusals(&db).await {
        assert!(
            err.contains("table `users`") && err.contains("not created by concert-bench"),
            "{err}"
        );
        assert!(
            !err.contains("--reset"),
            "never a hint to reset someone's table: {err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
    }
    assert_eq!(
        db.tables().await,
        ["users"],
        "nothing created, nothing dropped"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM users WHERE id = 1").await, 1);
    // Commands that read a data set refuse it the same way.
    let err = db
        .run(&["reserve", "--audit"])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("table `users`"), "{err}");
}

#[tokio::test]
async fn an_applications_sqlx_migrations_table_is_not_the_tools() {
    let db = TestDb::new().await;
    // sqlx's own bookkeeping of some application, with a users table it made.
    exec(
        &db.pool,
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL,
         installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL,
         checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .await;
    exec(
        &db.pool,
        "INSERT INTO _sqlx_migrations VALUES (1, 'users', NOW(), 1, 'app', 1)",
    )
    .await;
    exec(&db.pool, "CREATE TABLE users (id INT PRIMARY KEY)").await;
    for err in seed_refusals(&db).await {
        assert!(
            err.contains("table `users`") && !err.contains("--reset"),
            "{err}"
        );
    }
    exec(&db.pool, "DROP TABLE users").await;
    let err = db
        .run(&[TINY, &["--reset"]].concat())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("did not create (_sqlx_migrations)"), "{err}");
    assert_eq!(db.tables().await, ["_sqlx_migrations"]);
    assert_eq!(db.count("SELECT COUNT(*) FROM _sqlx_migrations").await, 1);
}

/// A database seeded by the release before the ownership table (bookkeeping in
/// `_sqlx_migrations`, no marker) keeps working: it is adopted on proof of its checksums.
#[tokio::test]
async fn a_database_seeded_by_the_previous_release_is_adopted() {
    let db = TestDb::new().await;
    db.run(TINY).await.unwrap();
    // Turn it into what the previous release left: no marker, sqlx's default bookkeeping,
    // and the schema before migration 16.
    exec(&db.pool, "DROP TABLE _concert_bench_owned").await;
    exec(
        &db.pool,
        "RENAME TABLE _concert_bench_migrations TO _sqlx_migrations",
    )
    .await;
    exec(&db.pool, "DELETE FROM _sqlx_migrations WHERE version >= 16").await;
    exec(&db.pool, "ALTER TABLE seat DROP COLUMN held_for").await;
    let audit = db.run(&["-o", "json", "reserve", "--audit"]).await.unwrap();
    assert!(audit.contains("\"audit\""), "{audit}");
    let upgraded = db
        .count("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'seat' AND column_name = 'held_for'")
        .await;
    assert_eq!(
        upgraded, 1,
        "the later migration was applied to the adopted tables"
    );
    let tables = db.tables().await;
    assert!(
        tables.contains(&"_concert_bench_owned".to_string()),
        "{tables:?}"
    );
    assert!(
        !tables.contains(&"_sqlx_migrations".to_string()),
        "{tables:?}"
    );
    db.run(&[TINY, &["--reset", "--rng-seed", "7"]].concat())
        .await
        .unwrap();
    assert_eq!(
        db.count("SELECT COUNT(*) FROM seed_run WHERE rng_seed = 7")
            .await,
        1
    );
}

#[tokio::test]
async fn reset_drops_only_proven_tables_and_keeps_a_foreign_one_refused() {
    let db = TestDb::new().await;
    db.run(TINY).await.unwrap();
    exec(&db.pool, "CREATE TABLE customer_notes (id INT PRIMARY KEY)").await;
    let err = db
        .run(&[TINY, &["--reset"]].concat())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("customer_notes"), "{err}");
    assert!(db.tables().await.contains(&"customer_notes".to_string()));
    assert_eq!(
        db.count("SELECT COUNT(*) FROM users").await,
        5,
        "nothing was reset"
    );
}

async fn database_exists(name: &str) -> bool {
    let admin = admin_pool().await;
    sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
    )
    .bind(name)
    .fetch_one(&admin)
    .await
    .unwrap()
        == 1
}

#[tokio::test]
async fn scales_never_touch_a_database_the_run_did_not_create() {
    let db = TestDb::seeded_small().await;
    let theirs = format!("{}_scale1", db.name);
    let admin = admin_pool().await;
    exec(&admin, &format!("CREATE DATABASE `{theirs}`")).await;
    exec(
        &admin,
        &format!("CREATE TABLE `{theirs}`.orders (id INT PRIMARY KEY)"),
    )
    .await;
    exec(
        &admin,
        &format!("INSERT INTO `{theirs}`.orders VALUES (42)"),
    )
    .await;
    let err = db
        .run(
            &[
                &["query", "--scenario", "seat_by_id", "--scales", "1"][..],
                FAST,
            ]
            .concat(),
        )
        .await
        .unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("already exists") && err.contains(&theirs),
        "{err}"
    );
    let kept: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM `{theirs}`.orders WHERE id = 42"
    )))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(kept, 1, "their database and row are intact");
    exec(&admin, &format!("DROP DATABASE `{theirs}`")).await;
}

#[tokio::test]
async fn a_scale_that_fails_drops_the_scratch_database_it_created() {
    let db = TestDb::seeded_small().await;
    // An unknown variant fails after the scratch database was created and seeded.
    let err = db
        .run(
            &[
                &[
                    "query",
                    "--scenario",
                    "seat_by_id",
                    "--scales",
                    "1",
                    "--variant",
                    "x=nope(id)",
                ][..],
                FAST,
            ]
            .concat(),
        )
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("at scale 1"), "{err:#}");
    assert!(!database_exists(&format!("{}_scale1", db.name)).await);
}

#[test]
fn ctrl_c_during_a_scale_sweep_drops_the_scratch_database() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDb::seeded_small());
    let scratch = format!("{}_scale2", db.name);
    let child = common::spawn_tool(&db, &["-q", "query", "--scales", "2"]);
    common::wait_for("the scratch database", Duration::from_secs(30), || {
        runtime.block_on(database_exists(&scratch))
    });
    std::thread::sleep(Duration::from_millis(300));
    common::interrupt(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("scratch database"), "{stderr}");
    assert!(!runtime.block_on(database_exists(&scratch)));
}

#[tokio::test]
async fn create_indexes_works_only_on_the_tools_own_tables() {
    let db = TestDb::seeded_small().await;
    exec(
        &db.pool,
        "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT)",
    )
    .await;
    exec(
        &db.pool,
        "CREATE INDEX cb_tmp_orders_customer_id ON orders (customer_id)",
    )
    .await;
    let err = db
        .run(
            &[
                &[
                    "query",
                    "--create-indexes",
                    "--variant",
                    "x=orders(id,customer_id)",
                ][..],
                FAST,
            ]
            .concat(),
        )
        .await
        .unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("only on concert-bench's own tables") && err.contains("`orders`"),
        "{err}"
    );
    let indexes = db
        .count("SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = 'orders'")
        .await;
    assert_eq!(
        indexes, 2,
        "the primary key and their own cb_tmp_ index, untouched"
    );
}

/// A long transaction holds `seat`'s metadata lock: the DDL gives up after
/// --lock-wait-timeout with one line, instead of stalling the table for the server default.
#[tokio::test]
async fn create_indexes_gives_up_on_a_locked_table_after_lock_wait_timeout() {
    let db = TestDb::seeded_small().await;
    let mut holder = db.pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM seat LIMIT 1")
        .execute(&mut *holder)
        .await
        .unwrap();
    let started = Instant::now();
    let err = db
        .run(
            &[
                &["query", "--create-indexes", "--lock-wait-timeout", "1s"][..],
                &["--variant", "g=seat(grade)", "--scenario", "seat_by_id"],
                FAST,
            ]
            .concat(),
        )
        .await
        .unwrap_err();
    let waited = started.elapsed();
    holder.rollback().await.unwrap();
    let err = format!("{err:#}");
    assert!(err.contains("gave up after waiting 1 s"), "{err}");
    assert!(waited < Duration::from_secs(30), "waited {waited:?}");
    let left = db
        .count("SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name LIKE 'cb\\_tmp\\_%'")
        .await;
    assert_eq!(left, 0);
    let claims = db
        .count("SELECT COUNT(*) FROM _concert_bench_owned WHERE kind = 'index'")
        .await;
    assert_eq!(claims, 0, "the claim went with the index");
}

/// Only `seed` creates a database: a mistyped name given to any other command is refused and
/// leaves nothing behind.
#[tokio::test]
async fn only_seed_creates_the_database_it_is_pointed_at() {
    let name = common::unique_name("cbt_typo");
    let url = format!("{}/{name}", common::server_url());
    for args in [
        &["query"][..],
        &["explain"],
        &["reserve", "--audit"],
        &["cache-bench"],
        &["worker", "--for", "1s"],
        &["queue-sim", "--backend", "database"],
    ] {
        let argv = [&["concert-bench", "--database-url", &url][..], args].concat();
        let err = common::run_tool(&argv).await.unwrap_err().to_string();
        assert!(
            err.contains("does not exist") && err.contains(&name),
            "{args:?}: {err}"
        );
        assert!(!database_exists(&name).await, "{args:?} created {name}");
    }
}

/// An index that merely has the name a scratch index would get is someone else's: the run
/// refuses, and the index survives the restore.
#[tokio::test]
async fn create_indexes_never_drops_an_index_that_took_its_name() {
    let db = TestDb::seeded_small().await;
    exec(&db.pool, "CREATE INDEX cb_tmp_seat_grade ON seat (status)").await;
    let err = db
        .run(
            &[
                &["query", "--create-indexes", "--variant", "g=seat(grade)"][..],
                FAST,
            ]
            .concat(),
        )
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("already exists"), "{err:#}");
    let kept = db
        .count("SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name = 'cb_tmp_seat_grade'")
        .await;
    assert_eq!(kept, 1);
}
