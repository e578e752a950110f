//! The Concert service's caches against real Redis (a prefix per test) and a real database
//! per test: what a hit returns, invalidation, single flight, TTL expiry; and `cache-bench`
//! end to end with its bad input.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use concert_bench::domain::concerts::{
    CacheLevel, CachePolicy, ConcertDetail, ConcertRepository, ConcertService, Invalidation,
};
use concert_bench::keyspace::{self, KeyPrefix};
use serde_json::Value;
use sqlx::mysql::MySqlPoolOptions;

use common::TestDb;

struct Fixture {
    db: TestDb,
    prefix: KeyPrefix,
    concert: i64,
    seat: i64,
}

impl Fixture {
    async fn new() -> Self {
        let db = TestDb::seeded_few_seats().await;
        let (concert, seat): (i64, i64) = sqlx::query_as(
            "SELECT p.concert_id, s.id FROM seat s JOIN performance p ON p.id = s.performance_id
             JOIN concert c ON c.id = p.concert_id
             WHERE c.status = 'OPEN' AND s.status = 'AVAILABLE' ORDER BY s.id LIMIT 1",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        let prefix = KeyPrefix::parse(&common::unique_name("cbt:c")).unwrap();
        Self {
            db,
            prefix,
            concert,
            seat,
        }
    }

    async fn service(
        &self,
        level: CacheLevel,
        invalidation: Invalidation,
        ttl: Duration,
    ) -> ConcertService {
        self.service_with(CachePolicy {
            level,
            invalidation,
            ttl,
            single_flight: false,
            fail_open: false,
        })
        .await
    }

    async fn service_with(&self, policy: CachePolicy) -> ConcertService {
        let pool = MySqlPoolOptions::new()
            .max_connections(8)
            .connect(&self.db.url)
            .await
            .unwrap();
        let redis = keyspace::connect(
            &concert_bench::keyspace::RedisTarget::parse(&common::redis_url()).unwrap(),
        )
        .await
        .unwrap();
        ConcertService::new(
            ConcertRepository::new(pool),
            vec![redis],
            &self.prefix,
            "t",
            policy,
        )
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let mut conn = keyspace::connect(
                    &concert_bench::keyspace::RedisTarget::parse(&common::redis_url()).unwrap(),
                )
                .await
                .unwrap();
                keyspace::clear(&mut conn, &prefix).await.unwrap();
            })
        })
        .join()
        .ok();
    }
}

fn detail(body: &[u8]) -> ConcertDetail {
    serde_json::from_slice(body).unwrap()
}

#[tokio::test]
async fn a_hit_returns_exactly_what_the_database_would() {
    let f = Fixture::new().await;
    for level in [CacheLevel::Response, CacheLevel::Repository] {
        for invalidation in [Invalidation::Ttl, Invalidation::OnWrite] {
            let service = f
                .service(level, invalidation, Duration::from_secs(60))
                .await;
            let uncached = f
                .service(CacheLevel::None, invalidation, Duration::from_secs(60))
                .await;
            let miss = service.get_concert(f.concert).await.unwrap();
            let hit = service.get_concert(f.concert).await.unwrap();
            assert!(
                !miss.cache_hit && hit.cache_hit,
                "{level:?}/{invalidation:?}"
            );
            let fresh = uncached.get_concert(f.concert).await.unwrap();
            assert_eq!(hit.body, fresh.body, "{level:?}/{invalidation:?}");
            let list_miss = service.list_concerts().await.unwrap();
            let list_hit = service.list_concerts().await.unwrap();
            assert!(list_hit.cache_hit);
            assert_eq!(list_hit.body, list_miss.body);
            assert_eq!(list_hit.body, uncached.list_concerts().await.unwrap().body);
            assert_eq!(
                service.repository.queries(),
                2,
                "{level:?}/{invalidation:?}"
            );
            // The next combination starts cold.
            let mut conn = keyspace::connect(
                &concert_bench::keyspace::RedisTarget::parse(&common::redis_url()).unwrap(),
            )
            .await
            .unwrap();
            keyspace::clear(&mut conn, &f.prefix).await.unwrap();
        }
    }
}

#[tokio::test]
async fn on_write_invalidation_leaves_no_stale_read_and_ttl_does() {
    let f = Fixture::new().await;
    let ttl = Duration::from_secs(60);
    for (invalidation, stale_expected) in
        [(Invalidation::OnWrite, false), (Invalidation::Ttl, true)]
    {
        let service = f.service(CacheLevel::Response, invalidation, ttl).await;
        let before = detail(&service.get_concert(f.concert).await.unwrap().body);
        assert!(service.get_concert(f.concert).await.unwrap().cache_hit);
        assert!(service.toggle_seat(f.seat, 0).await.unwrap());
        let after = detail(&service.get_concert(f.concert).await.unwrap().body);
        assert_eq!(
            after.version == before.version,
            stale_expected,
            "{invalidation:?}: version {} -> {}",
            before.version,
            after.version
        );
        if !stale_expected {
            let seat_status = after
                .performances
                .iter()
                .flat_map(|p| &p.seats)
                .find(|s| s.id == f.seat)
                .map(|s| s.status.clone());
            assert_eq!(seat_status.as_deref(), Some("HELD"));
        }
        // Put the seat back for the next round.
        assert!(service.toggle_seat(f.seat, 0).await.unwrap());
        let mut conn = keyspace::connect(
            &concert_bench::keyspace::RedisTarget::parse(&common::redis_url()).unwrap(),
        )
        .await
        .unwrap();
        keyspace::clear(&mut conn, &f.prefix).await.unwrap();
    }
}

// Several threads, as in the binary: readers really run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_flight_sends_one_query_for_a_stampede() {
    let f = Fixture::new().await;
    // Without protection a stampede takes about a second here (100 queries): two will do.
    for (single_flight, expected, stampedes) in [(true, Some(1), 30), (false, None, 2)] {
        let service = Arc::new(
            f.service_with(CachePolicy {
                level: CacheLevel::Response,
                invalidation: Invalidation::Ttl,
                ttl: Duration::from_secs(60),
                single_flight,
                fail_open: false,
            })
            .await,
        );
        let mut conn = keyspace::connect(
            &concert_bench::keyspace::RedisTarget::parse(&common::redis_url()).unwrap(),
        )
        .await
        .unwrap();
        // A loader can store and let go of the lock between another reader's miss and its
        // SET NX: that reader must find the value, not query again (MySQL 9.7 made 2 queries
        // in a stampede before the re-check). The race is rare: many stampedes.
        let mut per_stampede = Vec::new();
        for _ in 0..stampedes {
            let before = service.repository.queries();
            let barrier = Arc::new(tokio::sync::Barrier::new(READERS));
            let mut readers = tokio::task::JoinSet::new();
            for _ in 0..READERS {
                let (service, barrier, concert) = (service.clone(), barrier.clone(), f.concert);
                readers.spawn(async move {
                    barrier.wait().await;
                    service.get_concert(concert).await.unwrap().body
                });
            }
            let bodies = readers.join_all().await;
            assert!(bodies.windows(2).all(|w| w[0] == w[1]));
            per_stampede.push(service.repository.queries() - before);
            keyspace::clear(&mut conn, &f.prefix).await.unwrap();
        }
        match expected {
            Some(n) => assert!(
                per_stampede.iter().all(|&q| q == n),
                "database queries per stampede: {per_stampede:?}"
            ),
            None => assert!(
                per_stampede.iter().all(|&q| q > 1),
                "without protection each stampede reaches the database more than once: {per_stampede:?}"
            ),
        }
    }
}

/// Readers in each stampede.
const READERS: usize = 100;

/// The race single flight must survive, made certain: a reader misses, and before its lock
/// command arrives another loader stores the value and lets go of the lock. On a private Redis,
/// `CLIENT PAUSE WRITE` holds every write while reads go on: the test's SET of the value is
/// queued first, then the reader's GET misses and its `SET NX` lock queues behind that SET.
/// When the pause ends the value lands, then the reader wins the free lock: it must look again
/// and serve the value, not query the database (it did before the second look).
#[tokio::test]
async fn the_lock_winner_looks_again_before_loading() {
    let f = Fixture::new().await;
    let redis = common::PrivateRedis::start(common::free_port());
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let target = concert_bench::keyspace::RedisTarget::parse(&url).unwrap();
    let pool = MySqlPoolOptions::new()
        .max_connections(2)
        .connect(&f.db.url)
        .await
        .unwrap();
    let service = Arc::new(ConcertService::new(
        ConcertRepository::new(pool),
        vec![keyspace::connect(&target).await.unwrap()],
        &f.prefix,
        "race",
        CachePolicy {
            level: CacheLevel::Response,
            invalidation: Invalidation::Ttl,
            ttl: Duration::from_secs(60),
            single_flight: true,
            fail_open: false,
        },
    ));
    // One load, to learn the value's key and bytes; then the key is cold again.
    let first = service.get_concert(f.concert).await.unwrap();
    assert!(!first.cache_hit);
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut admin)
        .await
        .unwrap();
    let [value_key] = &keys[..] else {
        panic!("one cached value expected: {keys:?}");
    };
    let value: Vec<u8> = redis::cmd("GET")
        .arg(value_key)
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg(value_key)
        .query_async(&mut admin)
        .await
        .unwrap();
    let queries = service.repository.queries();

    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        // Under the clients' response timeout (redis-rs gives up after 500 ms).
        .arg(250)
        .arg("WRITE")
        .query_async(&mut admin)
        .await
        .unwrap();
    // The other loader's store, queued first (its own connection: a paused write blocks it).
    let mut other = client.get_multiplexed_async_connection().await.unwrap();
    let key = value_key.clone();
    let store = tokio::spawn(async move {
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .query_async(&mut other)
            .await
            .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let reader = service.get_concert(f.concert).await.unwrap();
    store.await.unwrap();
    assert!(
        reader.cache_hit,
        "the reader that won the lock after the value landed loaded again"
    );
    assert_eq!(service.repository.queries(), queries, "no second query");
    assert_eq!(reader.body, first.body);
    redis.stop();
}

#[tokio::test]
async fn ttl_expiry_really_expires() {
    let f = Fixture::new().await;
    let service = f
        .service(
            CacheLevel::Repository,
            Invalidation::Ttl,
            Duration::from_millis(300),
        )
        .await;
    service.get_concert(f.concert).await.unwrap();
    assert!(service.get_concert(f.concert).await.unwrap().cache_hit);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!service.get_concert(f.concert).await.unwrap().cache_hit);
    assert_eq!(service.repository.queries(), 2);
}

#[tokio::test]
async fn cache_bench_reports_every_cell_and_restores_the_seats() {
    let f = Fixture::new().await;
    let sold_before =
        f.db.count("SELECT COUNT(*) FROM seat WHERE status <> 'AVAILABLE'")
            .await;
    let out =
        f.db.run(&[
            "--key-prefix",
            f.prefix.as_str(),
            "-o",
            "json",
            "-q",
            "cache-bench",
            "--requests",
            "300",
            "-c",
            "8",
            "--warmup",
            "5",
            "--write-ratio",
            "0.2",
            "--stampede-clients",
            "20",
        ])
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&out).unwrap();
    let results = doc["results"].as_array().unwrap();
    // 3 workloads x (none + 2 levels x 2 invalidations).
    assert_eq!(results.len(), 15);
    for r in results {
        assert_eq!(r["requests"], 300, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
        // The pool is opened before the first cell: no handshake inside a timed window (the
        // first cell opened 7 of its 8 before).
        assert_eq!(r["connections_opened"], 0, "{r}");
        if r["strategy"] == "none" {
            assert_eq!(r["hit_ratio"], 0.0, "{r}");
        }
        if r["invalidation"] == "on-write" || r["strategy"] == "none" {
            assert_eq!(r["stale_reads"], 0, "{r}");
        }
    }
    let ttl_stale: u64 = results
        .iter()
        .filter(|r| r["workload"] == "mixed" && r["invalidation"] == "ttl")
        .map(|r| r["stale_reads"].as_u64().unwrap())
        .sum();
    assert!(
        ttl_stale > 0,
        "TTL-only caching served no stale read after writes"
    );
    // Each concert's keys share a hash tag: on a cluster the concerts spread over masters.
    let masters = doc["redis_masters"].as_array().unwrap();
    let cached: u64 = masters.iter().map(|m| m["count"].as_u64().unwrap()).sum();
    assert!(cached > 0, "{masters:?}");
    let expected = if common::on_cluster() { 3 } else { 1 };
    assert_eq!(masters.len(), expected, "{masters:?}");
    let stampede = doc["stampede"].as_array().unwrap();
    assert_eq!(stampede[1]["protection"], "single-flight");
    assert_eq!(stampede[1]["db_queries"], 1);
    assert_eq!(
        f.db.count("SELECT COUNT(*) FROM seat WHERE status <> 'AVAILABLE'")
            .await,
        sold_before,
        "cache-bench left seats held"
    );
}

/// `--anchor`: redis-benchmark GET of the cached list's bytes on the Redis under test (on a
/// cluster, on the master holding the value), and the value removed afterwards.
#[tokio::test]
async fn the_get_anchor_measures_the_same_redis_and_leaves_no_key() {
    let f = Fixture::new().await;
    let out =
        f.db.run(&[
            "--key-prefix",
            f.prefix.as_str(),
            "-o",
            "json",
            "-q",
            "cache-bench",
            "--workload",
            "concert_list",
            "--strategy",
            "response",
            "--invalidation",
            "ttl",
            "--requests",
            "200",
            "--stampede-clients",
            "0",
            "--anchor",
        ])
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["anchor"]["command"], "GET");
    assert!(doc["anchor"]["ops_per_second"].as_f64().unwrap() > 0.0);
    let whats: Vec<&str> = doc["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["what"].as_str().unwrap())
        .collect();
    assert!(
        whats.iter().any(|w| w.contains("redis-benchmark")),
        "{whats:?}"
    );
    assert_eq!(
        common::keys_under(f.prefix.as_str()).await,
        Vec::<String>::new()
    );
}

#[test]
fn cache_bench_refuses_nonsense_in_one_line() {
    common::assert_usage_errors(
        "cache-bench",
        &[
            (&["--ttl", "0s"], "at least 1ms"),
            (&["--ttl", "-5s"], "at least 1ms"),
            (&["-c", "0"], "0 is not in 1..=10000"),
            (&["--workload", "everything"], "invalid value 'everything'"),
            (&["--rate", "-3"], "requests per second from 0.01"),
        ],
    );
}

#[tokio::test]
async fn cache_bench_without_redis_is_a_clear_error() {
    let db = TestDb::seeded_few_seats().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = db
        .run(&[
            "--redis-url",
            &format!("redis://127.0.0.1:{port}"),
            "cache-bench",
        ])
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("cannot reach Redis"), "{err:#}");
}

/// Redis stopping in the middle of a run: failures are counted (or, with --fail-open, served
/// from the database), and the run ends on time with its report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopping_mid_run_is_counted_or_falls_back() {
    let db = TestDb::seeded_few_seats().await;
    for fail_open in [false, true] {
        let redis = common::PrivateRedis::start(common::free_port());
        let url = format!("redis://127.0.0.1:{}", redis.port);
        let mut args = vec![
            "--redis-url",
            &url,
            "-o",
            "json",
            "-q",
            "cache-bench",
            "--workload",
            "concert_detail",
            "--strategy",
            "response",
            "--invalidation",
            "ttl",
            "--duration",
            "2s",
            "-c",
            "4",
            "--stampede-clients",
            "0",
        ];
        if fail_open {
            args.push("--fail-open");
        }
        let run = db.run(&args);
        let stop = async {
            tokio::time::sleep(Duration::from_millis(700)).await;
            redis.stop();
        };
        let started = std::time::Instant::now();
        let (out, ()) = tokio::join!(run, stop);
        assert!(started.elapsed() < Duration::from_secs(30), "the run hung");
        let doc: Value = serde_json::from_str(&out.unwrap()).unwrap();
        let r = &doc["results"][0];
        if fail_open {
            assert_eq!(r["errors"], 0, "{r}");
            assert!(r["fell_back"].as_u64().unwrap() > 0, "{r}");
        } else {
            assert!(r["errors"].as_u64().unwrap() > 0, "{r}");
        }
    }
}

/// Rates and latencies are of successes, with failures beside them (both counted failures
/// before). Failures are made fast and certain: 0.7 s into a 2 s open loop of 2,000 slots,
/// the cache's Redis stops letting the tool read (ACL), so every later request fails at once.
#[tokio::test]
async fn failed_requests_are_counted_apart_from_the_rate_and_latency() {
    let db = TestDb::seeded_few_seats().await;
    let redis = common::PrivateRedis::start(common::free_port());
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let argv = [
        "--redis-url",
        &url,
        "-o",
        "json",
        "-q",
        "cache-bench",
        "--workload",
        "concert_detail",
        "--strategy",
        "response",
        "--invalidation",
        "ttl",
        "--rate",
        "1000",
        "--requests",
        "2000",
        "-c",
        "4",
        "--stampede-clients",
        "0",
    ];
    let run = db.run(&argv);
    let revoke = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg("default")
            .arg("-get")
            .arg("-set")
            .arg("-mget")
            .query_async(&mut conn)
            .await
            .unwrap();
    };
    let (out, ()) = tokio::join!(run, revoke);
    let doc: Value = serde_json::from_str(&out.unwrap()).unwrap();
    let r = &doc["results"][0];
    let (ok, failed) = (
        r["requests"].as_u64().unwrap(),
        r["errors"].as_u64().unwrap(),
    );
    assert!(ok > 0 && failed > 0, "{r}");
    assert_eq!(
        ok + failed,
        2000,
        "every slot is a success or a failure: {r}"
    );
    assert_eq!(r["latency"]["count"].as_u64().unwrap(), ok, "{r}");
    let rate = r["throughput_rps"].as_f64().unwrap();
    let seconds = r["seconds"].as_f64().unwrap();
    assert!((rate * seconds - ok as f64).abs() < 1.0, "{r}");
    redis.stop();
}

/// The open loop (`--rate`): every slot is handed out once and served (the pacer's precision
/// is proven in `measure::pace`'s tests against a known latency).
#[tokio::test]
async fn an_open_loop_serves_every_slot() {
    let f = Fixture::new().await;
    let out =
        f.db.run(&[
            "--key-prefix",
            f.prefix.as_str(),
            "-o",
            "json",
            "-q",
            "cache-bench",
            "--workload",
            "concert_list",
            "--strategy",
            "response",
            "--rate",
            "300",
            "--duration",
            "1s",
            "-c",
            "4",
            "--stampede-clients",
            "0",
        ])
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&out).unwrap();
    let results = doc["results"].as_array().unwrap();
    assert!(!results.is_empty(), "{doc}");
    for r in results {
        assert_eq!(r["requests"], 300, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
        assert_eq!(r["latency"]["count"], 300, "{r}");
        // 300 slots 1/300 s apart: the cell lasts the second they span.
        let seconds = r["seconds"].as_f64().unwrap();
        assert!((0.99..1.5).contains(&seconds), "{r}");
    }
}
