//! `query` on a small seeded database: results for every scenario and variant, the comparison,
//! a schema left exactly as found (even when interrupted), and clear refusals.

use crate::common;

use std::time::Duration;

use common::TestDb;

const FAST: &[&str] = &["--iterations", "5", "--warmup", "1", "--server-runs", "2"];

/// Every index and column of the database, to prove an experiment changed nothing.
async fn schema_snapshot(db: &TestDb) -> Vec<(String, String, String, i64)> {
    sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(index_name AS CHAR), CAST(column_name AS CHAR), CAST(seq_in_index AS SIGNED) \
         FROM information_schema.statistics WHERE table_schema = DATABASE() ORDER BY 1, 2, 4",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn measures_every_scenario_under_none_and_week8_and_compares_them() {
    let db = TestDb::seeded_small().await;
    let before = schema_snapshot(&db).await;
    let out = db
        .run(&[&["-o", "json", "query"], FAST].concat())
        .await
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["command"], "query");
    let flavor = common::server_flavor().await;
    assert_eq!(report["server"]["flavor"], flavor);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 12, "6 scenarios x (none, week8)");
    for r in results {
        let client = &r["client"];
        assert_eq!(client["count"], 5);
        let (min, median, max) = (
            client["min_ms"].as_f64().unwrap(),
            client["p50_ms"].as_f64().unwrap(),
            client["max_ms"].as_f64().unwrap(),
        );
        assert!(0.0 < min && min <= median && median <= max, "{r}");
        // MySQL answers a const lookup while planning and times nothing: null, never 0.
        let planned_away = flavor == "mysql"
            && !["concerts_with_dates", "concert_detail"]
                .contains(&r["scenario"].as_str().unwrap());
        if planned_away {
            assert!(
                r["server"].is_null() || r["server"]["p50_ms"].as_f64() > Some(0.0),
                "{r}"
            );
        } else {
            assert!(r["server"]["p50_ms"].as_f64() > Some(0.0), "{r}");
        }
    }
    let rows = |scenario: &str| -> Vec<i64> {
        results
            .iter()
            .filter(|r| r["scenario"] == scenario)
            .map(|r| r["rows"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        rows("concert_detail"),
        vec![2_000, 2_000],
        "one concert: 20 performances x 100 seats, in both variants"
    );
    assert_eq!(rows("concerts_with_dates"), vec![160, 160]);
    assert_eq!(rows("seat_by_id"), vec![1, 1]);
    assert_eq!(rows("reservation_by_id"), vec![1, 1]);

    let comparisons = report["comparisons"].as_array().unwrap();
    assert_eq!(comparisons.len(), 6);
    for c in comparisons {
        assert_eq!(
            (c["baseline"].as_str(), c["variant"].as_str()),
            (Some("none"), Some("week8"))
        );
        let (s, lo, hi) = (
            c["speedup"].as_f64().unwrap(),
            c["ci95"][0].as_f64().unwrap(),
            c["ci95"][1].as_f64().unwrap(),
        );
        assert!(lo <= s * 1.01 && s <= hi * 1.01 && lo > 0.0, "{c}");
    }
    let detail = comparisons
        .iter()
        .find(|c| c["scenario"] == "concert_detail")
        .unwrap();
    assert_eq!(detail["writeup"]["without_index_ms"], 8.0);
    assert_eq!(
        schema_snapshot(&db).await,
        before,
        "the experiment changed the schema"
    );
}

#[tokio::test]
async fn user_variants_and_scenario_filters() {
    let db = TestDb::seeded_small().await;
    let args = [
        &[
            "-o",
            "json",
            "query",
            "--scenario",
            "concert_detail",
            "--variant",
            "seat-only=seat(performance_id)",
        ],
        FAST,
    ]
    .concat();
    let report: serde_json::Value = serde_json::from_str(&db.run(&args).await.unwrap()).unwrap();
    let variants: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["variant"].as_str().unwrap())
        .collect();
    assert_eq!(variants, vec!["none", "seat-only"]);
}

#[tokio::test]
async fn an_interrupted_experiment_leaves_the_schema_as_it_was() {
    let db = TestDb::seeded_small().await;
    let before = schema_snapshot(&db).await;
    let long = db.run(&["query", "--iterations", "100000"]);
    assert!(
        tokio::time::timeout(Duration::from_millis(700), long)
            .await
            .is_err(),
        "still running when stopped"
    );
    assert_eq!(schema_snapshot(&db).await, before);
}

#[tokio::test]
async fn refusals_are_clear_and_change_nothing() {
    let empty = TestDb::new().await;
    let err = empty.run(&["query"]).await.unwrap_err().to_string();
    assert!(err.contains("run `concert-bench seed` first"), "{err}");
    assert!(empty.tables().await.is_empty(), "query created nothing");

    let db = TestDb::seeded_small().await;
    let before = schema_snapshot(&db).await;
    for (variant, expected) in [
        ("fastest", "unknown variant `fastest`"),
        ("x=tickets(id)", "table `tickets` does not exist"),
        ("x=seat(colour)", "column `seat.colour` does not exist"),
        ("x=seat(grade)", "no index on seat(grade) exists"),
    ] {
        let err = format!(
            "{:#}",
            db.run(&["query", "--variant", variant]).await.unwrap_err()
        );
        assert!(err.contains(expected), "{variant}: {err}");
    }
    // Reads on a secondary, or a secondary's staleness, need a group.
    for (args, expected) in [
        (
            &["query", "--read-from", "replicas"][..],
            "--read-from replicas needs a group",
        ),
        (
            &["cache-bench", "--read-from", "replicas"],
            "--read-from replicas needs a group",
        ),
        (&["staleness"], "names one server"),
    ] {
        let err = format!("{:#}", db.run(args).await.unwrap_err());
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert_eq!(schema_snapshot(&db).await, before);
}

#[tokio::test]
async fn a_scale_sweep_measures_in_scratch_databases_and_drops_them() {
    let db = TestDb::seeded_small().await;
    let before = db.checksums(&["seat", "reservation"]).await;
    let out = db
        .run(&[
            "-o",
            "json",
            "-q",
            "query",
            "--scenario",
            "concert_detail",
            "--scales",
            "1",
            "--iterations",
            "3",
            "--warmup",
            "1",
            "--server-runs",
            "0",
        ])
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let at = &doc["sweep"][0];
    assert_eq!(at["scale"], 1);
    assert_eq!(at["seats"], 200_000, "scale 1 is the week-8 data set");
    assert_eq!(at["comparisons"][0]["scenario"], "concert_detail");
    assert!(at["comparisons"][0]["speedup"].as_f64().unwrap() > 1.0);
    let scratch: i64 = db
        .count(&format!(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{}_scale1'",
            db.name
        ))
        .await;
    assert_eq!(scratch, 0, "the scratch database was left behind");
    assert_eq!(db.checksums(&["seat", "reservation"]).await, before);
}

/// A user who may read some tables but not `seat` (what ANALYZE of the scenarios needs): one
/// line naming the problem, no password, and the schema untouched.
#[tokio::test]
async fn a_user_who_cannot_read_every_table_gets_one_clear_line() {
    let db = TestDb::seeded_small().await;
    let admin = common::admin_pool().await;
    let user = common::unique_name("cbt_ro");
    let password = "pw-N3verPrinted";
    for host in ["%", "localhost"] {
        common::exec(
            &admin,
            &format!("CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'"),
        )
        .await;
        for table in db.tables().await.iter().filter(|t| *t != "seat") {
            common::exec(
                &admin,
                &format!(
                    "GRANT SELECT ON `{}`.`{table}` TO '{user}'@'{host}'",
                    db.name
                ),
            )
            .await;
        }
    }
    let before = db.tables().await;
    let url = common::url_as(&user, password, &db.name);
    let result = common::run_tool(&[
        "concert-bench",
        "--database-url",
        &url,
        "query",
        "--iterations",
        "1",
        "--warmup",
        "0",
    ])
    .await;
    for host in ["%", "localhost"] {
        common::exec(&admin, &format!("DROP USER '{user}'@'{host}'")).await;
    }
    let err = format!("{:#}", result.unwrap_err());
    assert!(!err.contains('\n'), "{err}");
    assert!(err.contains("seat") && err.contains("privilege"), "{err}");
    assert!(!err.contains(password), "{err}");
    assert_eq!(db.tables().await, before);
}

#[tokio::test]
async fn the_advised_variant_is_the_advisors_own_proposals() {
    let db = TestDb::seeded_small().await;
    let out = db
        .run(&[
            "-o",
            "json",
            "-q",
            "query",
            "--variant",
            "advised",
            "--scenario",
            "concert_detail",
            "--iterations",
            "3",
            "--warmup",
            "1",
            "--server-runs",
            "0",
        ])
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let advised = doc["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "advised")
        .expect("an advised variant")
        .clone();
    let definition = advised["definition"].as_str().unwrap();
    assert!(definition.contains("seat(performance_id)"), "{definition}");
    assert_eq!(doc["comparisons"][0]["variant"], "advised");
}

async fn scratch_indexes(db: &TestDb) -> i64 {
    db.count(
        "SELECT COUNT(*) FROM information_schema.statistics
         WHERE table_schema = DATABASE() AND index_name LIKE 'cb\\_tmp\\_%'",
    )
    .await
}

#[tokio::test]
async fn create_indexes_measures_an_index_that_did_not_exist_then_drops_it() {
    let db = TestDb::seeded_small().await;
    let before = schema_snapshot(&db).await;
    let out = db
        .run(
            &[
                &["-o", "json", "query", "--create-indexes"][..],
                &["--variant", "by_perf_status=seat(performance_id,status)"],
                &["--scenario", "concert_detail"],
                FAST,
            ]
            .concat(),
        )
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["created_indexes"],
        serde_json::json!(["seat.cb_tmp_seat_performance_id_status"])
    );
    let variants: Vec<&str> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["variant"].as_str().unwrap())
        .collect();
    assert_eq!(variants, ["none", "by_perf_status"]);
    assert_eq!(schema_snapshot(&db).await, before);
}

#[tokio::test]
async fn create_indexes_restores_the_schema_when_a_later_index_fails() {
    let db = TestDb::seeded_small().await;
    let before = schema_snapshot(&db).await;
    // The first index is made; the second names one column twice, which the server refuses.
    let err = db
        .run(
            &[
                &["query", "--create-indexes", "--variant", "a=seat(grade)"][..],
                &["--variant", "b=seat(price,price)"],
                FAST,
            ]
            .concat(),
        )
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("could not create seat(price, price)"),
        "{err:#}"
    );
    assert_eq!(schema_snapshot(&db).await, before);
}

/// The binary in a `--create-indexes` run long enough to be stopped, once its index exists.
fn start_a_long_create_indexes_run(
    runtime: &tokio::runtime::Runtime,
    db: &TestDb,
) -> std::process::Child {
    let child = common::spawn_tool(
        db,
        &[
            "-q",
            "query",
            "--create-indexes",
            "--variant",
            "g=seat(grade)",
            "--iterations",
            "1000000",
        ],
    );
    common::wait_for("the index", Duration::from_secs(20), || {
        runtime.block_on(scratch_indexes(db)) > 0
    });
    child
}

/// A run killed outright (SIGKILL: no cleanup) leaves its claimed index; the next
/// `--create-indexes` run drops it, and leaves alone a look-alike `cb_tmp_*` index it never
/// claimed.
#[test]
fn create_indexes_drops_what_a_killed_run_left_behind_and_nothing_else() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDb::seeded_small());
    let before = runtime.block_on(schema_snapshot(&db));
    let mut child = start_a_long_create_indexes_run(&runtime, &db);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        runtime.block_on(scratch_indexes(&db)),
        1,
        "killed with its index in place"
    );
    runtime.block_on(common::exec(
        &db.pool,
        "CREATE INDEX cb_tmp_not_ours ON seat (price)",
    ));
    runtime
        .block_on(
            db.run(
                &[
                    &[
                        "-q",
                        "query",
                        "--create-indexes",
                        "--scenario",
                        "seat_by_id",
                    ][..],
                    FAST,
                ]
                .concat(),
            ),
        )
        .unwrap();
    let mut after = runtime.block_on(schema_snapshot(&db));
    after.retain(|(_, index, _, _)| index != "cb_tmp_not_ours");
    assert_eq!(after, before, "the killed run's index was dropped");
    assert_eq!(
        runtime.block_on(scratch_indexes(&db)),
        1,
        "the look-alike index was kept"
    );
}

#[test]
fn ctrl_c_during_a_create_indexes_run_drops_the_indexes_and_exits_130() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDb::seeded_small());
    let before = runtime.block_on(schema_snapshot(&db));
    let child = start_a_long_create_indexes_run(&runtime, &db);
    std::thread::sleep(Duration::from_millis(200));
    common::interrupt(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("indexes it created were dropped"),
        "{stderr}"
    );
    assert_eq!(runtime.block_on(schema_snapshot(&db)), before);
}

#[tokio::test]
async fn explain_create_indexes_lets_the_advisor_prove_covering_indexes() {
    let db = TestDb::seeded_small().await;
    let before = schema_snapshot(&db).await;
    let out = db
        .run(&[
            "-o",
            "json",
            "explain",
            "--create-indexes",
            "--scenario",
            "concert_detail",
            "--iterations",
            "5",
            "--warmup",
            "1",
        ])
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let advice = doc["advice"].as_array().unwrap();
    let covering = advice
        .iter()
        .find(|a| a["table"] == "seat" && !a["judged_against"].is_null())
        .expect("a covering proposal for seat");
    assert_eq!(
        covering["judged_against"],
        serde_json::json!(["performance_id"])
    );
    assert!(
        advice
            .iter()
            .all(|a| !a["verdict"].as_str().unwrap().starts_with("unproven")),
        "{advice:?}"
    );
    assert!(!doc["created_indexes"].as_array().unwrap().is_empty());
    assert_eq!(schema_snapshot(&db).await, before);
}

#[tokio::test]
async fn plot_writes_one_figure_per_scenario_with_its_command_and_refuses_nothing_to_draw() {
    let db = TestDb::seeded_small().await;
    let dir = std::env::temp_dir().join(common::unique_name("cb-plot"));
    let out = db
        .run(
            &[
                &[
                    "query",
                    "--scenario",
                    "concert_detail",
                    "--plot",
                    dir.to_str().unwrap(),
                ],
                FAST,
            ]
            .concat(),
        )
        .await
        .unwrap();
    assert!(out.contains("1 figures written to"), "{out}");
    let svg = std::fs::read_to_string(dir.join("query-concert_detail.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for text in [
        "<title>concert_detail: median time per variant</title>",
        "index variant",
        "time per execution (ms, log scale)",
        "client median (p5-p95)",
        "concert-bench query",
    ] {
        assert!(svg.contains(text), "{text} missing");
    }
    // Nothing measured, nothing to draw: an error, not an empty directory and exit 0.
    let err = db
        .run(&["reserve", "--audit", "--plot", dir.to_str().unwrap()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nothing to draw") && !err.contains('\n'),
        "{err}"
    );
    // A directory that cannot be made fails before any work.
    let file = dir.join("query-concert_detail.svg");
    let err = db
        .run(&[&["query", "--plot", file.to_str().unwrap()], FAST].concat())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("--plot: cannot create the directory"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
