//! Workload files (`--workload`): a user's own statements through `query` and `explain`, their
//! parameters drawn from the data, the gate on them, and one-line refusals that name the file
//! and line.

use crate::common;

use common::TestDb;
use serde_json::Value;

const FAST: &[&str] = &["--iterations", "5", "--warmup", "1"];

/// A workload file of the test's own, removed on drop.
struct File(std::path::PathBuf);

impl File {
    fn new(text: &str) -> Self {
        let path = std::env::temp_dir().join(format!("{}.sql", common::unique_name("cbt-wl")));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for File {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

/// Two statements on the tool's own tables, written as a DBA would (no aliases on one, a
/// skewed parameter, a fixed one).
const SEATS: &str = "\
-- name: seats_of_performance
-- about: every seat of one performance, hottest performances most often
-- param: performance = zipf(1.1, performance.id)
SELECT seat_no, grade, price FROM seat WHERE performance_id = :performance ORDER BY seat_no;

-- name: dates_of_concert
-- param: concert = value(1)
SELECT p.id, p.starts_at FROM performance p WHERE p.concert_id = :concert
";

#[tokio::test]
async fn a_users_workload_runs_under_every_variant_with_drawn_parameters() {
    let db = TestDb::seeded_small().await;
    let file = File::new(SEATS);
    let out = db
        .run(
            &[
                &[
                    "-o",
                    "json",
                    "query",
                    "--workload",
                    file.path(),
                    "--server-runs",
                    "1",
                ],
                FAST,
            ]
            .concat(),
        )
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&out).unwrap();
    common::assert_matches_published_schema(&doc);
    assert_eq!(doc["workload"], file.path());
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "2 statements x (none, week8): {doc}");
    for r in results {
        assert_eq!(r["client"]["count"], 5, "{r}");
    }
    let rows = |name: &str| -> Vec<u64> {
        results
            .iter()
            .filter(|r| r["scenario"] == name)
            .map(|r| r["rows"].as_u64().unwrap())
            .collect()
    };
    // The seeded performances have 100 seats each; concert 1 has 20 performances.
    assert_eq!(rows("seats_of_performance"), [100, 100]);
    assert_eq!(rows("dates_of_concert"), [20, 20]);
    let params = doc["params"].as_array().unwrap();
    assert_eq!(params.len(), 2, "{params:?}");
    assert_eq!(params[0]["distribution"], "zipf(1.1, performance.id)");
    assert!(params[0]["pool"].as_u64().unwrap() > 100, "{params:?}");
    assert_eq!(params[1]["distribution"], "value(1)");
    assert_eq!(params[1]["pool"], 1);
}

#[tokio::test]
async fn the_advisor_proposes_from_a_users_statement_and_proves_it() {
    let db = TestDb::seeded_small().await;
    let file = File::new(SEATS);
    let out = db
        .run(&[
            "-o",
            "json",
            "explain",
            "--workload",
            file.path(),
            "--scenario",
            "seats_of_performance",
            "--variant",
            "none",
            "--iterations",
            "15",
            "--warmup",
            "2",
        ])
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&out).unwrap();
    let advice = doc["advice"].as_array().unwrap();
    let seat = advice
        .iter()
        .find(|a| a["table"] == "seat" && a["columns"] == serde_json::json!(["performance_id"]))
        .unwrap_or_else(|| panic!("seat(performance_id) not proposed: {doc}"));
    // The seeded schema has the index, so it is measured with hints, not created.
    assert!(seat["speedup"].as_f64().unwrap() > 1.0, "{seat}");
    assert_eq!(
        seat["scenarios"][0]["scenario"], "seats_of_performance",
        "{seat}"
    );
}

#[tokio::test]
async fn a_baseline_of_a_workload_gates_the_same_workload() {
    let db = TestDb::seeded_small().await;
    let file = File::new(SEATS);
    let other = File::new(&SEATS.replace("zipf(1.1,", "uniform("));
    let dir = std::env::temp_dir().join(common::unique_name("cbt-wl-gate"));
    std::fs::create_dir_all(&dir).unwrap();
    let base = dir.join("base.json");
    let base = base.to_str().unwrap();
    let query = |workload: &'static str| -> Vec<&'static str> {
        [
            &["-q", "query", "--workload", workload, "--server-runs", "0"][..],
            FAST,
        ]
        .concat()
    };
    let (path, other_path): (&'static str, &'static str) = (
        Box::leak(file.path().to_string().into_boxed_str()),
        Box::leak(other.path().to_string().into_boxed_str()),
    );
    db.run(&[&query(path)[..], &["--save-baseline", base]].concat())
        .await
        .unwrap();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(base).unwrap()).unwrap();
    assert_eq!(
        saved["fingerprint"]["settings"]["workload"]["workload"], path,
        "the workload is part of the settings: {}",
        saved["fingerprint"]["settings"]
    );
    // The same workload compares (no regression is asserted: two runs of a noisy machine).
    db.run(
        &[
            &query(path)[..],
            &["--baseline", base, "--noise-threshold", "1000"],
        ]
        .concat(),
    )
    .await
    .unwrap();
    // Another workload is another experiment: refused unless --allow-mismatch.
    let err = db
        .run(&[&query(other_path)[..], &["--baseline", base]].concat())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not comparable") && err.contains("workload"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn bad_workloads_are_refused_in_one_line_naming_the_file_and_line() {
    let db = TestDb::seeded_small().await;
    let cases = [
        (
            "-- name: a\nSELECT * FROM seat WHERE note = 'open\n",
            "2: a: a string literal is never closed",
        ),
        (
            "-- name: a\nDELETE FROM seat\n",
            "2: statement a is a DELETE, not a SELECT",
        ),
        (
            "-- name: a\nSELECT * FROM nope n WHERE n.id = 1\n",
            "1: statement a reads table `nope`, which database",
        ),
        (
            "-- name: a\n-- param: x = uniform(seat.nope)\nSELECT * FROM seat WHERE id = :x\n",
            "the database has no column seat.nope",
        ),
        (
            "-- name: a\n-- param: x = uniform(SELECT id FROM seat WHERE 1 = 0)\nSELECT * FROM seat WHERE id = :x\n",
            "no values to draw from",
        ),
    ];
    for (text, says) in cases {
        let file = File::new(text);
        let err = db
            .run(&["query", "--workload", file.path(), "--iterations", "1"])
            .await
            .unwrap_err();
        let line = format!("{err:#}");
        assert!(line.contains(says), "{text:?}: {line}");
        assert!(!line.contains('\n'), "{line}");
        if !says.starts_with("the database") && !says.starts_with("no values") {
            assert!(line.contains(file.path()), "names the file: {line}");
        }
    }
    let err = db
        .run(&["query", "--workload", "/nonexistent/w.sql"])
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot read the workload /nonexistent/w.sql"),
        "{err}"
    );
    let err = db.run(&["query", "--scenario", "nope"]).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("has no statement of that name (it has concerts_with_dates"),
        "{err}"
    );
}
