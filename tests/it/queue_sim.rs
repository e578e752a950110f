//! `queue-sim` end to end on real Redis (a key prefix per test) and a real database, its
//! checks, bad input, and a Redis restart in the middle of a run (on a private redis-server).

use crate::common;

use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::Value;

use common::TestDb;

/// A short simulation: 300 users, a cap of 20, a fast clock, tokens that expire in 10 s.
const SMALL: &[&str] = &[
    "--users",
    "300",
    "--policy",
    "capacity:20",
    "--speed",
    "200",
    "--service",
    "1s..5s",
    "--ttl",
    "10s",
    "--abandon",
    "0.2",
    "--probe-size",
    "200",
    "--probe-lookups",
    "500",
];

async fn queue_sim(redis_url: &str, database_url: Option<&str>, extra: &[&str]) -> Value {
    let prefix = common::unique_name("cbt:qs");
    let mut argv = vec![
        "concert-bench",
        "--redis-url",
        redis_url,
        "--key-prefix",
        &prefix,
        "-o",
        "json",
        "-q",
    ];
    if let Some(url) = database_url {
        argv.extend(["--database-url", url]);
    }
    argv.push("queue-sim");
    argv.extend(extra);
    let out = common::run_tool(&argv).await.expect("queue-sim runs");
    serde_json::from_str(&out).expect("one JSON document")
}

fn assert_invariants(result: &Value, users: u64) {
    assert_eq!(result["admitted"].as_u64(), Some(users), "{result}");
    assert_eq!(result["fifo_violations"], 0, "{result}");
    assert_eq!(result["admitted_still_waiting"], 0, "{result}");
}

#[tokio::test]
async fn redis_run_reports_and_keeps_every_promise() {
    let doc = queue_sim(&common::redis_url(), None, SMALL).await;
    assert_eq!(doc["command"], "queue-sim");
    let r = &doc["results"][0];
    assert_eq!(r["backend"], "redis");
    assert_invariants(r, 300);
    assert_eq!(r["active_cap"], 20);
    // 300 users against a cap of 20 fill it, and never pass it.
    assert_eq!(r["max_active"], 20, "{r}");
    // A fifth of the admitted never pay: their tokens expire.
    assert!(r["tokens_expired"].as_u64().unwrap() > 10, "{r}");
    assert!(r["wait"]["p50_ms"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["wait"]["p99_ms"].as_f64() >= r["wait"]["p50_ms"].as_f64());
    assert!(r["enter_per_second"].as_f64().unwrap() > 0.0);
    assert!(r["position_per_second"].as_f64().unwrap() > 0.0);
    assert!(r["memory_bytes"].as_u64().unwrap() > 0);
    assert_eq!(doc["violations"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn the_rate_policy_admits_exactly_n_per_period() {
    let doc = queue_sim(
        &common::redis_url(),
        None,
        &[
            "--users",
            "200",
            "--policy",
            "rate:25/1s",
            "--speed",
            "50",
            "--service",
            "1s..2s",
            "--abandon",
            "0",
            "--probe-size",
            "0",
        ],
    )
    .await;
    let r = &doc["results"][0];
    assert_invariants(r, 200);
    assert_eq!(r["max_admitted_per_period"], 25, "{r}");
    assert_eq!(r["throughput_source"], "simulation");
}

#[tokio::test]
async fn both_backends_run_side_by_side() {
    let db = TestDb::seeded_small().await;
    let mut args = SMALL.to_vec();
    args.extend(["--backend", "both", "--concert", "3"]);
    let doc = queue_sim(&common::redis_url(), Some(&db.url), &args).await;
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[1]["backend"], "database");
    for r in results {
        assert_invariants(r, 300);
        assert!(r["max_active"].as_u64().unwrap() <= 20, "{r}");
    }
    let whats: Vec<&str> = doc["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["what"].as_str().unwrap())
        .collect();
    assert!(whats.contains(&"position: redis / database"), "{whats:?}");
    // The simulation cleans up after itself (its queue id is its own, not 3: no row at all).
    assert_eq!(db.count("SELECT COUNT(*) FROM queue_entry").await, 0);
}

#[test]
fn nonsense_settings_are_refused_in_one_line() {
    common::assert_usage_errors(
        "queue-sim",
        &[
            (&["--users", "0"], "0 is not in 1..=10000000"),
            (&["--policy", "capacity:0"], "at least 1"),
            (&["--policy", "rate:0/1s"], "at least 1"),
            (&["--policy", "rate:10/0s"], "at least 1ms"),
            (&["--ttl", "-5s"], "at least 1ms"),
            (&["--arrival", "sometimes"], "expected all"),
            (&["-c", "0"], "0 is not in 1..=10000"),
            (&["--concerts", "0"], "0 is not in 1..=1000"),
        ],
    );
}

#[test]
fn unreachable_redis_is_a_clear_error() {
    let port = common::free_port();
    let out = cargo_bin_cmd!("concert-bench")
        .args(["--redis-url", &format!("redis://127.0.0.1:{port}")])
        .args(["queue-sim", "--users", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach Redis at 127.0.0.1:{port}")),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_run_is_survived_and_counted() {
    let port = common::free_port();
    let redis = common::PrivateRedis::start(port);
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let sim = tokio::spawn({
        let url = url.clone();
        async move {
            queue_sim(
                &url,
                None,
                &[
                    "--users",
                    "400",
                    "--policy",
                    "capacity:30",
                    "--speed",
                    "20",
                    "--service",
                    "1s..4s",
                    "--abandon",
                    "0",
                    "--probe-size",
                    "0",
                ],
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    redis.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let restarted = common::PrivateRedis::start(port);
    let doc = sim.await.unwrap();
    restarted.stop();
    let r = &doc["results"][0];
    assert!(r["errors"].as_u64().unwrap() > 0, "{r}");
    assert!(r["reentered"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["fifo_violations"], 0, "{r}");
    assert_eq!(r["admitted_still_waiting"], 0, "{r}");
    assert!(r["max_active"].as_u64().unwrap() <= 30, "{r}");
}

/// Two runs at once on one key prefix and one concert (Redis and database queues): each has
/// a queue of its own, so neither clears, admits or counts the other's users, and the prefix
/// holds none of their keys afterwards.
#[tokio::test]
async fn two_concurrent_runs_on_one_prefix_do_not_interfere() {
    let db = TestDb::seeded_small().await;
    let prefix = db.prefix.clone();
    let run = |users: &'static str| {
        let (url, prefix) = (db.url.clone(), prefix.clone());
        let redis_url = db.redis_url.clone();
        async move {
            let argv = [
                "concert-bench",
                "--database-url",
                &url,
                "--redis-url",
                &redis_url,
                "--key-prefix",
                &prefix,
                "-o",
                "json",
                "-q",
                "queue-sim",
                "--backend",
                "both",
                "--concert",
                "7",
                "--users",
                users,
                "--policy",
                "capacity:20",
                "--speed",
                "200",
                "--service",
                "1s..3s",
                "--probe-size",
                "0",
            ];
            let out = common::run_tool(&argv).await.expect("queue-sim runs");
            serde_json::from_str::<Value>(&out).unwrap()
        }
    };
    let (a, b) = tokio::join!(run("300"), run("500"));
    for (doc, users) in [(a, 300), (b, 500)] {
        for result in doc["results"].as_array().unwrap() {
            assert_invariants(result, users);
            assert_eq!(result["foreign_admissions"], 0, "{result}");
            assert!(result["max_active"].as_u64().unwrap() <= 20, "{result}");
        }
    }
    let left = common::keys_under(&prefix).await;
    assert_eq!(left, Vec::<String>::new(), "each run removed its own keys");
}

/// `--concerts 30`: thirty queues at once on both backends, every promise kept across them,
/// each backend's tables and keys cleaned, and (on a cluster) the queues' hash tags spread
/// over every master. 30 queues leave a master empty once in ~70,000 prefixes.
#[tokio::test]
async fn many_concerts_run_at_once_and_spread_over_the_masters() {
    let db = TestDb::seeded_small().await;
    let argv = [
        "concert-bench",
        "--database-url",
        &db.url,
        "--redis-url",
        &db.redis_url,
        "--key-prefix",
        &db.prefix,
        "-o",
        "json",
        "-q",
        "queue-sim",
        "--backend",
        "both",
        "--concert",
        "10",
        "--concerts",
        "30",
        "--users",
        "600",
        "--policy",
        "capacity:5",
        "--speed",
        "200",
        "--service",
        "1s..3s",
        "--probe-size",
        "300",
        "--probe-lookups",
        "300",
    ];
    let out = common::run_tool(&argv).await.expect("queue-sim runs");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["settings"]["concerts"], 30);
    for r in doc["results"].as_array().unwrap() {
        assert_invariants(r, 600);
        assert_eq!(r["probe"]["size"], 300, "the probe's users summed: {r}");
        // The cap is per queue: 20 users each against 5 places fill every queue's.
        assert_eq!(r["max_active"], 5, "{r}");
    }
    let masters = doc["redis_masters"].as_array().unwrap();
    let queues: u64 = masters.iter().map(|m| m["count"].as_u64().unwrap()).sum();
    assert_eq!(queues, 30, "{masters:?}");
    let expected = if common::on_cluster() { 3 } else { 1 };
    assert_eq!(masters.len(), expected, "{masters:?}");
    // The database queues' ids are the run's own, none of 10-39: no row of any is left.
    assert_eq!(db.count("SELECT COUNT(*) FROM queue_entry").await, 0);
    assert_eq!(common::keys_under(&db.prefix).await, Vec::<String>::new());
}

#[test]
fn more_concerts_than_users_is_refused_in_one_line() {
    let out = cargo_bin_cmd!("concert-bench")
        .args(["queue-sim", "--concerts", "6", "--users", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "error: --concerts 6 needs at least as many --users (got 5)"
    );
}

/// `--anchor` runs redis-benchmark on the Redis under test (on a cluster, `--cluster` with a
/// key on every master) and removes what it wrote.
#[tokio::test]
async fn the_anchor_measures_the_same_redis_and_leaves_no_key() {
    let prefix = common::unique_name("cbt:qa");
    let redis_url = common::redis_url();
    let argv = [
        "concert-bench",
        "--redis-url",
        &redis_url,
        "--key-prefix",
        &prefix,
        "-o",
        "json",
        "-q",
        "queue-sim",
        "--users",
        "30",
        "--concerts",
        "3",
        "--speed",
        "200",
        "--service",
        "1s..2s",
        "--probe-size",
        "3000",
        "--probe-lookups",
        "3000",
        "--anchor",
    ];
    let out = common::run_tool(&argv).await.expect("queue-sim runs");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let anchors = doc["anchors"].as_array().unwrap();
    let commands: Vec<&str> = anchors
        .iter()
        .map(|a| a["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["ZADD", "ZRANK"]);
    for a in anchors {
        assert!(a["ops_per_second"].as_f64().unwrap() > 0.0, "{a}");
    }
    let ratios = doc["comparisons"].as_array().unwrap();
    assert!(
        ratios
            .iter()
            .any(|r| r["what"] == "redis enter / redis-benchmark ZADD"
                && r["ratio"].as_f64().unwrap() > 0.0),
        "{ratios:?}"
    );
    assert_eq!(common::keys_under(&prefix).await, Vec::<String>::new());
}

/// A clock so fast that any store lags it: the lag is reported in queue time and the note
/// says how slow a clock would keep up.
#[tokio::test]
async fn a_store_slower_than_the_clock_is_reported() {
    let doc = queue_sim(
        &common::redis_url(),
        None,
        &[
            "--users",
            "200",
            "--policy",
            "capacity:20",
            "--speed",
            "100000",
            "--service",
            "10s..20s",
            "--ttl",
            "60s",
            "--probe-size",
            "0",
        ],
    )
    .await;
    let r = &doc["results"][0];
    let tick_ms = doc["settings"]["tick_ms"].as_f64().unwrap();
    // Even a 0.1 ms reply is 10 s of queue time at 100,000x.
    assert!(r["store_lag_p99_ms"].as_f64().unwrap() > tick_ms, "{r}");
    let out = common::run_tool(&[
        "concert-bench",
        "--redis-url",
        &common::redis_url(),
        "--key-prefix",
        &common::unique_name("cbt:ql"),
        "-q",
        "queue-sim",
        "--users",
        "50",
        "--speed",
        "100000",
        "--service",
        "10s..20s",
        "--probe-size",
        "0",
    ])
    .await
    .expect("queue-sim runs");
    assert!(out.contains("past the 1000 ms tick"), "{out}");
}
