//! On a Redis Cluster of each test's own: every multi-key command the tool sends stays in one
//! slot, and the queue, the cache and the events flow run on through a master being killed.
//!
//! Redis Cluster replicates asynchronously, so a write a master acknowledged just before it
//! died can be missing on the promoted replica. The failover tests count such losses where
//! they show (a queue entry gone, a stale read, an event never applied) and a side counter
//! measures them directly.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{PrivateCluster, TestDb};
use serde_json::Value;

fn json(out: &str) -> Value {
    serde_json::from_str(out).expect("one JSON document")
}

/// INCRs one key as fast as it is answered, counting the acknowledged increments, until
/// stopped: afterwards `acknowledged - value` is how many acknowledged writes a failover lost.
struct AckedCounter {
    key: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
}

impl AckedCounter {
    async fn start(cluster: &PrivateCluster, key: String) -> Self {
        let mut conn = concert_bench::keyspace::connect(
            &concert_bench::keyspace::RedisTarget::parse(&cluster.url()).unwrap(),
        )
        .await
        .unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = tokio::spawn({
            let (key, stop) = (key.clone(), stop.clone());
            async move {
                let mut acknowledged = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let incr = redis::cmd("INCR")
                        .arg(&key)
                        .query_async::<i64>(&mut conn)
                        .await;
                    match incr {
                        Ok(_) => acknowledged += 1,
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
                acknowledged
            }
        });
        Self { key, stop, task }
    }

    /// (acknowledged increments, increments lost).
    async fn finish(self, cluster: &PrivateCluster) -> (u64, u64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let acknowledged = self.task.await.unwrap();
        let mut conn = concert_bench::keyspace::connect(
            &concert_bench::keyspace::RedisTarget::parse(&cluster.url()).unwrap(),
        )
        .await
        .unwrap();
        let value: u64 = redis::cmd("GET")
            .arg(&self.key)
            .query_async(&mut conn)
            .await
            .unwrap();
        // A write applied whose reply was lost makes the value larger: that is no loss.
        (acknowledged, acknowledged.saturating_sub(value))
    }
}

/// queue-sim on the cluster in the background (cap 30 at 20x speed, nobody abandons, no probe),
/// plus `extra` flags. A run that ends on broken invariants (exit 3) returns its report too.
fn spawn_queue_sim(
    url: &str,
    prefix: &str,
    extra: &[&str],
) -> tokio::task::JoinHandle<anyhow::Result<String>> {
    let argv: Vec<String> = [
        "concert-bench",
        "--redis-url",
        url,
        "--key-prefix",
        prefix,
        "-o",
        "json",
        "-q",
        "queue-sim",
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
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .map(String::from)
    .collect();
    tokio::spawn(async move {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        common::run_tool(&argv).await.or_else(|e| {
            concert_bench::failed_output(&e)
                .map(str::to_string)
                .ok_or(e)
        })
    })
}

/// The queue's master is killed mid-simulation: its replica takes over, the run goes on,
/// and FIFO, the cap and "no admitted user left waiting" hold. A lost entry shows as a user
/// re-entering (the simulated client enters again when the queue no longer knows it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_sim_survives_its_master_being_killed() {
    let cluster = PrivateCluster::start();
    let url = cluster.url();
    let prefix = format!("{}:", common::unique_name("cbt:qsf"));
    let sim = spawn_queue_sim(&url, &prefix, &["--users", "400"]);
    // The side counter shares the queue's slot, so the kill takes both down at once.
    let counter = AckedCounter::start(&cluster, format!("{prefix}acked:{{c0}}")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let victim = cluster.master_of("{c0}").unwrap();
    cluster.kill(victim);
    let took = tokio::task::block_in_place(|| cluster.wait_for_failover("{c0}", victim));
    let doc = json(
        &sim.await
            .unwrap()
            .expect("queue-sim runs through the failover"),
    );
    let (acknowledged, lost) = counter.finish(&cluster).await;
    let r = &doc["results"][0];
    eprintln!(
        "queue-sim failover: {took:?}; errors {}, re-entered {}, enter p99 {} ms; side counter: {lost} of {acknowledged} acknowledged writes lost",
        r["errors"], r["reentered"], r["simulation"]["enter"]["p99_ms"]
    );
    assert_eq!(r["admitted"], 400, "{r}");
    assert_eq!(r["fifo_violations"], 0, "{r}");
    assert_eq!(r["admitted_still_waiting"], 0, "{r}");
    assert!(r["max_active"].as_u64().unwrap() <= 30, "{r}");
    assert!(r["errors"].is_u64() && r["reentered"].is_u64(), "{r}");
    assert!(
        r["simulation"]["wall_seconds"].as_f64().unwrap() > 1.5 + took.as_secs_f64(),
        "the kill landed after the run: {r}"
    );
    assert!(acknowledged > 0);
}

/// The master holding most of the keys under `prefix` now: the one whose death hurts most.
async fn busiest_master(cluster: &PrivateCluster, prefix: &str) -> u16 {
    let mut conn = concert_bench::keyspace::connect(
        &concert_bench::keyspace::RedisTarget::parse(&cluster.url()).unwrap(),
    )
    .await
    .unwrap();
    let prefix = concert_bench::keyspace::KeyPrefix::parse(prefix).unwrap();
    let per_master = concert_bench::keyspace::keys_by_master(&mut conn, &prefix)
        .await
        .unwrap();
    let ((_, port), keys) = per_master
        .into_iter()
        .max_by_key(|(_, keys)| keys.len())
        .unwrap();
    assert!(!keys.is_empty(), "nothing under {prefix:?} yet");
    port
}

/// Kills the busiest master under `prefix` after `after`, waits for its replica to take over
/// and returns (killed port, how long the failover took).
async fn kill_busiest_after(
    cluster: &PrivateCluster,
    prefix: &str,
    after: Duration,
) -> (u16, Duration) {
    tokio::time::sleep(after).await;
    let victim = busiest_master(cluster, prefix).await;
    cluster.kill(victim);
    let started = std::time::Instant::now();
    tokio::task::block_in_place(|| {
        loop {
            if !cluster.masters().contains(&victim) && cluster.masters().len() == 3 {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no failover from {victim}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    (victim, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_bench_survives_a_master_being_killed() {
    let db = TestDb::seeded_few_seats().await;
    let cluster = PrivateCluster::start();
    let url = cluster.url();
    let prefix = format!("{}:", common::unique_name("cbt:cbf"));
    let args = [
        "--redis-url",
        &url,
        "--key-prefix",
        &prefix,
        "-o",
        "json",
        "-q",
        "cache-bench",
        "--workload",
        "mixed",
        "--strategy",
        "response",
        "--invalidation",
        "on-write",
        "--write-ratio",
        "0.2",
        "--duration",
        "6s",
        "--warmup",
        "20",
        "-c",
        "4",
        "--stampede-clients",
        "0",
    ];
    let run = db.run(&args);
    let kill = kill_busiest_after(&cluster, &prefix, Duration::from_millis(1500));
    let (out, (victim, took)) = tokio::join!(run, kill);
    let doc = json(&out.expect("cache-bench runs through the failover"));
    let r = &doc["results"][0];
    eprintln!(
        "cache-bench failover ({victim}): {took:?}; errors {} of {} requests, stale reads {}, p99 {} ms",
        r["errors"], r["requests"], r["stale_reads"], r["latency"]["p99_ms"]
    );
    assert!(
        r["requests"].as_u64().unwrap() > r["errors"].as_u64().unwrap(),
        "{r}"
    );
    assert!(r["writes"].as_u64().unwrap() > 0, "{r}");
    // A stale read needs a version bump acknowledged and then lost with the master: the
    // asynchronous replication window, milliseconds on loopback.
    assert_eq!(r["stale_reads"], 0, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_flow_survives_a_master_being_killed() {
    let db = TestDb::seeded_with(&["--concerts", "8", "--users", "400"]).await;
    let cluster = PrivateCluster::start();
    let url = cluster.url();
    let prefix = format!("{}:", common::unique_name("cbt:evf"));
    let args = [
        "--redis-url",
        &url,
        "--key-prefix",
        &prefix,
        "-o",
        "json",
        "-q",
        "reserve",
        "--load",
        "--seats",
        "spread",
        "--users",
        "400",
        "-c",
        "8",
        "--flow",
        "events",
        "--no-pay",
    ];
    let run = db.run(&args);
    let kill = kill_busiest_after(&cluster, &prefix, Duration::from_millis(800));
    let (out, (victim, took)) = tokio::join!(run, kill);
    let doc = json(&out.expect("reserve runs through the failover"));
    let (r, events) = (&doc["results"][0], &doc["events"]);
    eprintln!(
        "events failover ({victim}): {took:?}; {} succeeded, errors {}, publish errors {}, redelivered {}, e2e p99 {} ms",
        r["succeeded"],
        r["errors"],
        events["publish_errors"],
        events["redelivered"],
        r["e2e"]["p99_ms"]
    );
    assert!(r["succeeded"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(events["parked"], 0, "{events}");
    // No seat sold twice, points conserved, every saga finished, every event applied once.
    let audit = doc["audit"].as_object().unwrap();
    assert!(audit.values().all(|v| v == 0), "{audit:?}");
}

/// One line of `redis-cli monitor`: `<time> [<db> <client>] "CMD" "arg" ...`, its arguments
/// unescaped to bytes; None for lines that are not commands (the "OK" banner).
fn monitored_command(line: &str) -> Option<(String, Vec<Vec<u8>>)> {
    let (_, rest) = line.split_once("] ")?;
    let client = line.split_once('[')?.1.split_once(']')?.0.to_string();
    let mut args = Vec::new();
    let mut bytes = rest.bytes().peekable();
    while let Some(b) = bytes.next() {
        if b != b'"' {
            continue;
        }
        let mut arg = Vec::new();
        while let Some(c) = bytes.next() {
            match c {
                b'"' => break,
                b'\\' => match bytes.next()? {
                    b'n' => arg.push(b'\n'),
                    b'r' => arg.push(b'\r'),
                    b't' => arg.push(b'\t'),
                    b'a' => arg.push(7),
                    b'b' => arg.push(8),
                    b'x' => {
                        let hex = [bytes.next()?, bytes.next()?];
                        arg.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
                    }
                    other => arg.push(other),
                },
                other => arg.push(other),
            }
        }
        args.push(arg);
    }
    (!args.is_empty()).then_some((client, args))
}

/// Commands in `log` (redis-cli monitor output) whose keys are in more than one slot, and how
/// many commands with two keys or more were checked, by command name.
async fn cross_slot_commands(
    node: &mut redis::aio::MultiplexedConnection,
    log: &str,
) -> (Vec<String>, std::collections::BTreeMap<String, u64>) {
    let mut crossing = Vec::new();
    let mut multi_key = std::collections::BTreeMap::new();
    for line in log.lines() {
        // Commands inside a script: the server already refuses a script's cross-slot keys.
        let Some((client, args)) = monitored_command(line) else {
            continue;
        };
        if client.ends_with("lua") {
            continue;
        }
        let mut getkeys = redis::cmd("COMMAND");
        getkeys.arg("GETKEYS").arg(&args);
        // Commands without keys (PING, INFO, CLUSTER ...) are refused by GETKEYS.
        let Ok(keys) = getkeys.query_async::<Vec<Vec<u8>>>(node).await else {
            continue;
        };
        if keys.len() < 2 {
            continue;
        }
        let mut slots = std::collections::BTreeSet::new();
        for key in &keys {
            let slot: u16 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(key)
                .query_async(node)
                .await
                .unwrap();
            slots.insert(slot);
        }
        let name = String::from_utf8_lossy(&args[0]).to_uppercase();
        *multi_key
            .entry(format!("{name} with {} keys", keys.len()))
            .or_insert(0) += 1;
        if slots.len() > 1 {
            crossing.push(line.chars().take(300).collect());
        }
    }
    (crossing, multi_key)
}

/// `redis-cli monitor` on each master, killed when dropped.
struct Monitors(Vec<(Child, std::path::PathBuf)>);

impl Monitors {
    fn start(cluster: &PrivateCluster, dir: &std::path::Path) -> Self {
        let monitors = cluster
            .masters()
            .into_iter()
            .map(|port| {
                let path = dir.join(format!("monitor-{port}.log"));
                let child = Command::new("redis-cli")
                    .args(["-h", "127.0.0.1", "-p", &port.to_string(), "monitor"])
                    .stdout(std::fs::File::create(&path).unwrap())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("redis-cli runs");
                (child, path)
            })
            .collect();
        // MONITOR starts logging once redis-cli has connected.
        std::thread::sleep(Duration::from_millis(300));
        Self(monitors)
    }

    fn stop(mut self) -> String {
        std::thread::sleep(Duration::from_millis(300));
        let mut all = String::new();
        for (child, path) in &mut self.0 {
            child.kill().ok();
            child.wait().ok();
            all.push_str(&std::fs::read_to_string(path).unwrap());
        }
        all
    }
}

impl Drop for Monitors {
    fn drop(&mut self) {
        for (child, _) in &mut self.0 {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// Every command the tool sends to the cluster while it runs the queue, both cache levels
/// with single flight, every seat strategy (the Redis lock included), the events flow and
/// seed's reset, as the masters saw it: none with keys in two slots. The check itself is
/// shown to fail on a cross-slot MGET, and the cluster refuses a cross-slot script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_the_tool_sends_crosses_slots() {
    let db = TestDb::seeded_with(&["--concerts", "8", "--users", "60"]).await;
    let cluster = PrivateCluster::start();
    let url = cluster.url();
    let prefix = format!("{}:", common::unique_name("cbt:slots"));
    let dir = std::env::temp_dir().join(common::unique_name("cbt-monitor"));
    std::fs::create_dir_all(&dir).unwrap();
    let monitors = Monitors::start(&cluster, &dir);
    let with = |args: &[&str]| {
        let mut all = vec![
            "--redis-url",
            url.as_str(),
            "--key-prefix",
            prefix.as_str(),
            "-q",
        ];
        all.extend_from_slice(args);
        all.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let runs = [
        with(&[
            "queue-sim",
            "--users",
            "200",
            "--policy",
            "capacity:20",
            "--speed",
            "200",
            "--service",
            "1s..3s",
            "--probe-size",
            "200",
            "--probe-lookups",
            "500",
        ]),
        with(&[
            "cache-bench",
            "--requests",
            "60",
            "-c",
            "4",
            "--warmup",
            "5",
            "--stampede-clients",
            "10",
            "--single-flight",
        ]),
        with(&[
            "reserve", "--load", "--seats", "few:5", "--users", "60", "-c", "8", "--flow", "both",
            "--no-pay",
        ]),
        with(&[
            "reserve",
            "--load",
            "--seats",
            "hot",
            "--users",
            "20",
            "-c",
            "4",
            "--strategy",
            "redis-lock",
            "--pay",
        ]),
        with(&[
            "seed",
            "--concerts",
            "8",
            "--open-concerts",
            "2",
            "--users",
            "60",
            "--reserved-per-open-concert",
            "5",
            "--reset",
        ]),
    ];
    for args in &runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        db.run(&args)
            .await
            .unwrap_or_else(|e| panic!("{args:?}: {e:#}"));
    }
    let log = tokio::task::block_in_place(|| monitors.stop());
    std::fs::remove_dir_all(&dir).ok();

    let node = redis::Client::open(format!("redis://127.0.0.1:{}", cluster.base)).unwrap();
    let mut node = node.get_multiplexed_async_connection().await.unwrap();
    let (crossing, multi_key) = cross_slot_commands(&mut node, &log).await;
    eprintln!("multi-key commands checked: {multi_key:?}");
    assert_eq!(crossing, Vec::<String>::new(), "cross-slot commands");
    // Each family of multi-key commands was exercised: the queue's scripts (enter and admit
    // with 4 keys, complete with 2) and the cache's MGET of version and value (a cross-slot MGET would have been split
    // by the client into one-key MGETs, so seeing two keys in one is the proof).
    for expected in [
        "EVALSHA with 4 keys",
        "EVALSHA with 2 keys",
        "MGET with 2 keys",
    ] {
        assert!(
            multi_key.contains_key(expected),
            "no {expected} seen: {multi_key:?}"
        );
    }

    // The check can fail: a cross-slot MGET as MONITOR prints it is caught ...
    let forged = r#"1.0 [0 127.0.0.1:1] "MGET" "{a}version" "{b}value""#;
    let (caught, _) = cross_slot_commands(&mut node, forged).await;
    assert_eq!(caught.len(), 1);
    // ... and the cluster itself refuses a script whose keys are in two slots.
    let mut conn = concert_bench::keyspace::connect(
        &concert_bench::keyspace::RedisTarget::parse(&url).unwrap(),
    )
    .await
    .unwrap();
    let refused = redis::cmd("EVAL")
        .arg("return 1")
        .arg(2)
        .arg("{a}x")
        .arg("{b}y")
        .query_async::<i64>(&mut conn)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().to_lowercase().contains("crossslot"),
        "{refused}"
    );
}

/// A plain `redis://` URL at one node of a cluster would serve only that node's slots and fail
/// mid-run on "MOVED": it is refused before any work, naming the URL to use, and nothing is
/// written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_url_at_a_cluster_node_is_refused_before_any_work() {
    let cluster = PrivateCluster::start();
    let node = format!("127.0.0.1:{}", cluster.base);
    let prefix = format!("{}:", common::unique_name("cbt:plain"));
    let out = Command::new(env!("CARGO_BIN_EXE_concert-bench"))
        .args(["--redis-url", &format!("redis://{node}")])
        .args(["--key-prefix", &prefix, "queue-sim", "--backend", "redis"])
        .args([
            "--users",
            "10",
            "--probe-size",
            "10",
            "--probe-lookups",
            "10",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "error: Redis at {node} is a Redis Cluster node: name the cluster as --redis-url redis+cluster://{node}"
        )
    );
    let keys = concert_bench::keyspace::keys_by_master(
        &mut concert_bench::keyspace::connect(
            &concert_bench::keyspace::RedisTarget::parse(&cluster.url()).unwrap(),
        )
        .await
        .unwrap(),
        &concert_bench::keyspace::KeyPrefix::parse(&prefix).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(keys.len(), 3, "every master scanned");
    assert!(keys.iter().all(|(_, keys)| keys.is_empty()), "{keys:?}");
}

/// Writes filler under `tag`'s slot until what its master sends a frozen replica is more than
/// the replica's socket can buffer (its receive buffer and the master's send buffer at their
/// largest): every write after this waits in the master's memory, and dies with it. The server
/// makes the filler itself (a client sending it would take seconds); a script's SET is
/// replicated as its effect, the whole value.
async fn outrun_frozen_replica(url: &str, prefix: &str, tag: &str) {
    let most = |path: &str| -> u64 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .unwrap_or(8 << 20)
    };
    const PART: u64 = 16 << 20;
    let buffered = most("/proc/sys/net/ipv4/tcp_rmem") + most("/proc/sys/net/ipv4/tcp_wmem");
    let mut conn = concert_bench::keyspace::connect(
        &concert_bench::keyspace::RedisTarget::parse(url).unwrap(),
    )
    .await
    .unwrap();
    for part in 0..buffered.div_ceil(PART) + 1 {
        redis::cmd("EVAL")
            .arg("redis.call('SET', KEYS[1], string.rep('x', tonumber(ARGV[1])))")
            .arg(1)
            .arg(format!("{prefix}filler:{tag}:{part}"))
            .arg(PART)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
}

/// Asynchronous replication made visible. The queue's replica is frozen while its master
/// takes more filler than loopback's socket buffers hold, and then goes on
/// acknowledging the run's writes, which now wait in the master's memory for a replica that
/// reads nothing. The master is killed and the stale replica promoted: those acknowledged
/// writes are gone. The side counter counts them, and queue-sim says what the lost entries did
/// to the queue instead of hiding it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_a_lagging_replica_never_had_are_lost_and_counted() {
    let cluster = PrivateCluster::start();
    let url = cluster.url();
    let prefix = format!("{}:", common::unique_name("cbt:lag"));
    // Tokens the store lost hold their places until they expire: a short TTL keeps the run
    // short (30 s of queue time is 1.5 s here).
    let sim = spawn_queue_sim(&url, &prefix, &["--users", "1000", "--ttl", "30s"]);
    let counter = AckedCounter::start(&cluster, format!("{prefix}acked:{{c0}}")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let victim = cluster.master_of("{c0}").unwrap();
    let replica = cluster.replica_of(victim);
    cluster.pause(replica);
    outrun_frozen_replica(&url, &prefix, "{c0}").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    cluster.kill(victim);
    cluster.resume(replica);
    let took = tokio::task::block_in_place(|| cluster.wait_for_failover("{c0}", victim));
    let doc = json(&sim.await.unwrap().expect("queue-sim runs to its end"));
    let (acknowledged, lost) = counter.finish(&cluster).await;
    let r = &doc["results"][0];
    eprintln!(
        "lagging replica promoted after {took:?}: side counter {lost} of {acknowledged} acknowledged writes lost; queue-sim: {} admissions lost and made again, re-entered {}, tokens expired {}, FIFO violations {}, max active {}, errors {}",
        r["lost_admissions"],
        r["reentered"],
        r["tokens_expired"],
        r["fifo_violations"],
        r["max_active"],
        r["errors"],
    );
    // The loss is real and measured, on the side counter and in the queue.
    assert!(
        lost > 0,
        "no acknowledged write was lost: {lost} of {acknowledged}"
    );
    let lost_admissions = r["lost_admissions"].as_u64().unwrap();
    assert!(lost_admissions > 0, "{r}");
    let violations = doc["violations"].to_string();
    assert!(
        violations.contains(&format!("{lost_admissions} admissions lost by the store")),
        "{violations}"
    );
    // What still holds: everyone got in, in arrival order, never more than the cap at once
    // as the store counts, and nobody admitted is left waiting.
    assert_eq!(r["admitted"], 1000, "{r}");
    assert_eq!(r["fifo_violations"], 0, "{r}");
    assert!(r["max_active"].as_u64().unwrap() <= 30, "{r}");
    assert_eq!(r["admitted_still_waiting"], 0, "{r}");
}

/// On-write invalidation when a master dies with a version bump its replica never had: the
/// promoted replica still holds the old version and the value stamped with it, so readers get
/// the concert from before the write (the stale read cache-bench reports as a violation) until
/// the next write moves the version on. The replica is frozen first, so the loss is certain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_bump_lost_with_its_master_serves_the_old_value_until_the_next_write() {
    use concert_bench::domain::concerts::{
        CacheLevel, CachePolicy, ConcertDetail, ConcertRepository, ConcertService, Invalidation,
    };
    let db = TestDb::seeded_few_seats().await;
    let cluster = PrivateCluster::start();
    let url = cluster.url();
    let (concert, seat): (i64, i64) = sqlx::query_as(
        "SELECT p.concert_id, s.id FROM seat s JOIN performance p ON p.id = s.performance_id
         JOIN concert c ON c.id = p.concert_id
         WHERE c.status = 'OPEN' AND s.status = 'AVAILABLE' ORDER BY s.id LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let prefix =
        concert_bench::keyspace::KeyPrefix::parse(&common::unique_name("cbt:bump")).unwrap();
    let service = ConcertService::new(
        ConcertRepository::new(db.pool.clone()),
        vec![
            concert_bench::keyspace::connect(
                &concert_bench::keyspace::RedisTarget::parse(&url).unwrap(),
            )
            .await
            .unwrap(),
        ],
        &prefix,
        "t",
        CachePolicy {
            level: CacheLevel::Response,
            invalidation: Invalidation::OnWrite,
            ttl: Duration::from_secs(600),
            single_flight: false,
            fail_open: false,
        },
    );
    let version = |body: &[u8]| {
        serde_json::from_slice::<ConcertDetail>(body)
            .unwrap()
            .version
    };
    let before = version(&service.get_concert(concert).await.unwrap().body);
    assert!(service.get_concert(concert).await.unwrap().cache_hit);

    let tag = format!("{{concert:{concert}}}");
    let victim = cluster.master_of(&tag).unwrap();
    let replica = cluster.replica_of(victim);
    tokio::task::block_in_place(|| cluster.wait_for_sync(victim));
    cluster.pause(replica);
    outrun_frozen_replica(&url, prefix.as_str(), &tag).await;
    // Acknowledged by the master alone: the write's version bump, and the fresh value a
    // reader stores after it.
    assert!(service.toggle_seat(seat, 0).await.unwrap());
    let fresh = service.get_concert(concert).await.unwrap();
    let written = version(&fresh.body);
    assert!(
        !fresh.cache_hit && written > before,
        "{before} -> {written}"
    );
    cluster.kill(victim);
    cluster.resume(replica);
    let took = tokio::task::block_in_place(|| cluster.wait_for_failover(&tag, victim));

    let served = service
        .get_concert(concert)
        .await
        .expect("served after the failover");
    let served_version = version(&served.body);
    eprintln!(
        "lost version bump: promoted after {took:?}; served version {served_version} (hit: {}), database at {written}, before the write {before}",
        served.cache_hit
    );
    assert!(
        served.cache_hit && served_version == before,
        "expected the value from before the write ({before}) as a hit; served {served_version} (hit: {}), the write made {written}",
        served.cache_hit
    );
    // The next write moves the version past everything the promoted replica holds.
    assert!(service.toggle_seat(seat, 0).await.unwrap());
    let after = service.get_concert(concert).await.unwrap();
    assert!(
        !after.cache_hit && version(&after.body) > written,
        "after the next write: hit {}, version {}",
        after.cache_hit,
        version(&after.body)
    );
}

/// The same loss under load: cache-bench's mixed workload (on-write invalidation, 2% writes)
/// while the replica of the concert's master is frozen, the master outrun and killed. The side
/// counter on the concert's slot proves writes were lost; whatever stale reads follow (until
/// the next write moves the version on) are counted, and the run ends as a violation (exit 3)
/// exactly when there were any.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_bench_behind_a_lagging_replica_reports_its_stale_reads() {
    let db = TestDb::seeded_few_seats().await;
    let cluster = PrivateCluster::start();
    let url = cluster.url();
    let prefix = format!("{}:", common::unique_name("cbt:cbl"));
    let args = [
        "--redis-url",
        &url,
        "--key-prefix",
        &prefix,
        "-o",
        "json",
        "-q",
        "cache-bench",
        "--workload",
        "mixed",
        "--strategy",
        "response",
        "--invalidation",
        "on-write",
        "--write-ratio",
        "0.02",
        "--duration",
        "8s",
        "--warmup",
        "20",
        "-c",
        "4",
        "--stampede-clients",
        "0",
    ];
    let run = db.run(&args);
    let fault = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let victim = busiest_master(&cluster, &prefix).await;
        let tag = {
            let mut conn = concert_bench::keyspace::connect(
                &concert_bench::keyspace::RedisTarget::parse(&url).unwrap(),
            )
            .await
            .unwrap();
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query_async(&mut conn)
                .await
                .unwrap();
            let key = keys
                .iter()
                .find(|k| k.contains("{concert:"))
                .unwrap()
                .clone();
            key[key.find('{').unwrap()..=key.find('}').unwrap()].to_string()
        };
        let counter = AckedCounter::start(&cluster, format!("{prefix}acked:{tag}")).await;
        let replica = cluster.replica_of(victim);
        cluster.pause(replica);
        outrun_frozen_replica(&url, &prefix, &tag).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        cluster.kill(victim);
        cluster.resume(replica);
        let took = tokio::task::block_in_place(|| cluster.wait_for_failover(&tag, victim));
        (took, counter)
    };
    let (out, (took, counter)) = tokio::join!(run, fault);
    let (acknowledged, lost) = counter.finish(&cluster).await;
    let violation = out.as_ref().err().map(|e| format!("{e:#}"));
    let doc = json(match &out {
        Ok(out) => out,
        Err(e) => concert_bench::failed_output(e).expect("a report, with its violations"),
    });
    let r = &doc["results"][0];
    let stale = r["stale_reads"].as_u64().unwrap();
    eprintln!(
        "cache-bench behind a lagging replica: promoted after {took:?}; side counter {lost} of {acknowledged} acknowledged writes lost; {} writes, stale reads {stale} (up to {} ms behind), errors {} of {} requests",
        r["writes"], r["max_stale_ms"], r["errors"], r["requests"]
    );
    assert!(lost > 0, "no write was lost: {lost} of {acknowledged}");
    assert!(r["writes"].as_u64().unwrap() > 0, "{r}");
    match violation {
        Some(v) => assert!(stale > 0 && v.contains("stale reads"), "{v}"),
        None => assert_eq!(stale, 0, "stale reads without a violation: {r}"),
    }
}
