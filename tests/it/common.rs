//! Test fixtures: a throwaway database per test (dropped afterwards, even when the test fails)
//! on the real server, and the library's `run` called in-process.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use sqlx::mysql::MySqlPoolOptions;
use sqlx::{AssertSqlSafe, MySqlPool};

/// Server the tests use, without a database; override with TEST_MYSQL_URL.
pub fn server_url() -> String {
    std::env::var("TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// The URL of `database` on the test server as another user.
pub fn url_as(user: &str, password: &str, database: &str) -> String {
    let server = server_url();
    let host = server.trim_start_matches("mysql://");
    let host = host.rsplit('@').next().unwrap_or(host);
    format!("mysql://{user}:{password}@{host}/{database}")
}

/// `mariadb` or `mysql`: the flavor of the test server, as reports name it.
pub async fn server_flavor() -> &'static str {
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&admin_pool().await)
        .await
        .unwrap();
    if version.contains("MariaDB") {
        "mariadb"
    } else {
        "mysql"
    }
}

/// A name no other test (or test run) uses: pid, time and a counter.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A test's own database and Redis key prefix, both removed when it drops: tests run in
/// parallel and never share a namespace (nor use the tool's default `cb:`).
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: MySqlPool,
    pub prefix: String,
    /// The test Redis or Redis Cluster (TEST_REDIS_URL).
    pub redis_url: String,
}

impl TestDb {
    /// A fresh, empty database.
    pub async fn new() -> Self {
        let name = unique_name("cbt");
        let admin = admin_pool().await;
        exec(&admin, &format!("CREATE DATABASE `{name}`")).await;
        let url = format!("{}/{name}", server_url());
        let pool = MySqlPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("connect test db");
        let prefix = format!("{name}:");
        Self {
            name,
            url,
            pool,
            prefix,
            redis_url: redis_url(),
        }
    }

    /// The global options that point the binary at this test's database, Redis and prefix.
    pub fn cli(&self) -> [&str; 6] {
        [
            "--database-url",
            &self.url,
            "--redis-url",
            &self.redis_url,
            "--key-prefix",
            &self.prefix,
        ]
    }

    /// A fresh database with the tool's schema and no data.
    pub async fn migrated() -> Self {
        let db = Self::new().await;
        concert_bench::storage::schema::install(&db.pool)
            .await
            .expect("apply the migrations");
        db
    }

    /// A database holding a small data set: 8 concerts (16,000 seats), 2 open with 5 sold each.
    pub async fn seeded_small() -> Self {
        Self::seeded_with(&["--concerts", "8"]).await
    }

    /// `seeded_small` with 20 seats per performance (3,200 seats), for tests whose responses
    /// carry every seat of a concert (`concert_detail`): coding those in JSON in the test
    /// build, which is not optimized, took most of cache-bench's time (28 s against 8 s).
    pub async fn seeded_few_seats() -> Self {
        Self::seeded_with(&["--concerts", "8", "--seats-per-performance", "20"]).await
    }

    /// A database seeded with `sizes` (seed's flags), 2 concerts open with 5 sold each and 20
    /// users unless `sizes` says otherwise.
    pub async fn seeded_with(sizes: &[&str]) -> Self {
        let db = Self::new().await;
        let small = [
            ("--open-concerts", "2"),
            ("--reserved-per-open-concert", "5"),
            ("--users", "20"),
        ];
        let defaults: Vec<&str> = small
            .iter()
            .filter(|(flag, _)| !sizes.contains(flag))
            .flat_map(|&(flag, value)| [flag, value])
            .collect();
        db.run(&[&["-q", "seed"], &defaults[..], sizes].concat())
            .await
            .expect("seed the test data set");
        db
    }

    /// Runs the tool against this database (and this test's Redis and key prefix, unless
    /// `args` names them) and returns its stdout.
    pub async fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let own_prefix: &[&str] = if args.contains(&"--key-prefix") {
            &[]
        } else {
            &["--key-prefix", &self.prefix]
        };
        let own_redis: &[&str] = if args.contains(&"--redis-url") {
            &[]
        } else {
            &["--redis-url", &self.redis_url]
        };
        run_tool(
            &[
                &["concert-bench", "--database-url", &self.url],
                own_redis,
                own_prefix,
                args,
            ]
            .concat(),
        )
        .await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub async fn tables(&self) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    /// CHECKSUM TABLE of each named table, in order.
    pub async fn checksums(&self, tables: &[&str]) -> Vec<i64> {
        let mut sums = Vec::new();
        for table in tables {
            let (_, sum): (String, i64) =
                sqlx::query_as(AssertSqlSafe(format!("CHECKSUM TABLE `{table}`")))
                    .fetch_one(&self.pool)
                    .await
                    .unwrap();
            sums.push(sum);
        }
        sums
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (name, prefix) = (self.name.clone(), self.prefix.clone());
        // Drop runs outside any async context guarantee: use a private runtime on a thread.
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let admin = admin_pool().await;
                // The test's own pools may still hold connections (the test's runtime is
                // blocked here, so they cannot close), one of them perhaps in a transaction
                // whose locks DROP DATABASE would wait on for as long as lock_wait_timeout:
                // this fixture owns them, so it ends them first.
                let leftover: Vec<u64> = sqlx::query_scalar(
                    "SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()",
                )
                .bind(&name)
                .fetch_all(&admin)
                .await
                .unwrap_or_default();
                for id in leftover {
                    sqlx::query(AssertSqlSafe(format!("KILL {id}")))
                        .execute(&admin)
                        .await
                        .ok();
                }
                exec(&admin, &format!("DROP DATABASE IF EXISTS `{name}`")).await;
                let prefix = concert_bench::keyspace::KeyPrefix::parse(&prefix).unwrap();
                concert_bench::keyspace::clear(&mut redis().await, &prefix)
                    .await
                    .ok();
            })
        })
        .join()
        .ok();
    }
}

pub async fn admin_pool() -> MySqlPool {
    MySqlPoolOptions::new()
        .max_connections(1)
        .connect(&server_url())
        .await
        .expect("the test MySQL server answers")
}

/// Runs one statement over the text protocol (MySQL refuses some DDL, CREATE TRIGGER for
/// one, as a prepared statement).
pub async fn exec(pool: &MySqlPool, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Runs the tool in-process. Every JSON document it prints (a report, or the report of a run
/// that failed on violations) is checked against the schema published for its command in
/// `schemas/`, so the published schemas cannot drift from what the commands print.
pub async fn run_tool(argv: &[&str]) -> anyhow::Result<String> {
    let out = concert_bench::run(concert_bench::cli::Cli::try_parse_from(argv)?).await;
    let printed = match &out {
        Ok(text) => Some(text.as_str()),
        Err(err) => concert_bench::failed_output(err),
    };
    let doc = printed.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
    // A schema (from `concert-bench schema`) is not a report.
    if let Some(doc) = doc.filter(|d| d.get("$schema").is_none()) {
        assert_matches_published_schema(&doc);
    }
    out
}

/// Panics with every mismatch when `doc` does not validate against its command's schema.
pub fn assert_matches_published_schema(doc: &serde_json::Value) {
    let command = doc["command"]
        .as_str()
        .expect("a document names its command");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(format!("{command}.schema.json"));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the {command} document does not match {}: {errors:#?}",
        path.display()
    );
}

/// Redis the tests use; override with TEST_REDIS_URL (a `redis+cluster://` URL runs them on a
/// Redis Cluster: scripts/redis-cluster.sh starts one).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Whether the tests run on a Redis Cluster.
pub fn on_cluster() -> bool {
    redis_url().contains("+cluster://")
}

/// A connection to the test Redis, through the tool's own `connect`.
pub async fn redis() -> concert_bench::keyspace::RedisConn {
    concert_bench::keyspace::connect(
        &concert_bench::keyspace::RedisTarget::parse(&redis_url()).unwrap(),
    )
    .await
    .expect("the test Redis answers")
}

/// Every key under `prefix` on the test Redis, on every master of a cluster.
pub async fn keys_under(prefix: &str) -> Vec<String> {
    let prefix = concert_bench::keyspace::KeyPrefix::parse(prefix).unwrap();
    let per_master = concert_bench::keyspace::keys_by_master(&mut redis().await, &prefix)
        .await
        .unwrap();
    per_master
        .into_iter()
        .flat_map(|(_, keys)| keys)
        .map(|key| String::from_utf8_lossy(&key).into_owned())
        .collect()
}

/// A port nothing listens on (free when asked).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A redis-server of this test's own, so restarting it disturbs no other test.
pub struct PrivateRedis {
    pub port: u16,
    child: Child,
}

impl PrivateRedis {
    pub fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let server = Self { port, child };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("private redis-server did not start");
    }

    pub fn stop(mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Runs the binary's `command` with each case's arguments: every one must be a usage error
/// (exit 2) whose message contains the expected text, and none may panic.
pub fn assert_usage_errors(command: &str, cases: &[(&[&str], &str)]) {
    for (args, expected) in cases {
        let out = assert_cmd::cargo::cargo_bin_cmd!("concert-bench")
            .arg(command)
            .args(*args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{command} {args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{command} {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// A TCP proxy in front of the test MySQL server, so a test can take the database away from
/// the code under test (every connection cut, new ones refused) without stopping the server
/// every other test shares.
pub struct DbProxy {
    pub port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    live: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl DbProxy {
    pub async fn start() -> Self {
        let upstream = url::Url::parse(&server_url()).unwrap();
        let upstream = format!(
            "{}:{}",
            upstream.host_str().unwrap(),
            upstream.port().unwrap_or(3306)
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let live = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c, l) = (cut.clone(), live.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if c.load(Ordering::SeqCst) {
                    continue; // dropped at once: the connection is refused in effect
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                l.lock().unwrap().push(task.abort_handle());
            }
        });
        Self {
            port,
            cut,
            live,
            accept,
        }
    }

    /// The database URL through the proxy.
    pub fn url(&self, database: &str) -> String {
        let mut url = url::Url::parse(&server_url()).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.set_path(&format!("/{database}"));
        url.to_string()
    }

    /// Every connection through the proxy is cut, and new ones are closed on arrival.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for task in self.live.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// The binary against `db` (its database and key prefix) with `args`; stdout discarded,
/// stderr piped for the test to read.
pub fn spawn_tool(db: &TestDb, args: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin!("concert-bench"))
        .args(db.cli())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Polls `ready` every 20 ms until it holds; fails the test after `within`.
pub fn wait_for(what: &str, within: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} never happened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ctrl-C, as a terminal sends it: SIGINT to the child.
pub fn interrupt(child: &Child) {
    let signalled = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
}

/// A Redis Cluster of this test's own (scripts/redis-cluster.sh on six free ports), so a test
/// can kill its masters without disturbing any other test; stopped when dropped.
pub struct PrivateCluster {
    pub base: u16,
    dir: std::path::PathBuf,
}

impl PrivateCluster {
    pub fn start() -> Self {
        // Six node ports and their bus ports (+10000) must all be free.
        let base = (0..200)
            .map(|_| 20_000 + (fastrand_u16() % 9_000))
            .find(|&base| {
                (base..base + 6).all(|p| {
                    std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
                        && std::net::TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok()
                })
            })
            .expect("six free ports");
        let dir = std::env::temp_dir().join(unique_name("cbt-cluster"));
        let cluster = Self { base, dir };
        let out = cluster.script("start");
        assert!(
            out.status.success(),
            "the private cluster did not start: {out:?}"
        );
        cluster
    }

    fn script(&self, verb: &str) -> std::process::Output {
        Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/redis-cluster.sh"
            ))
            .arg(verb)
            .env("CLUSTER_PORT", self.base.to_string())
            .env("CLUSTER_DIR", &self.dir)
            .output()
            .expect("bash runs")
    }

    /// The tool's URL for it (three of the six nodes as seeds, as a user would give).
    pub fn url(&self) -> String {
        let b = self.base;
        format!(
            "redis+cluster://127.0.0.1:{b},127.0.0.1:{},127.0.0.1:{}",
            b + 1,
            b + 2
        )
    }

    fn cli(&self, port: u16, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Any node that still answers.
    fn live_node(&self) -> u16 {
        (self.base..self.base + 6)
            .find(|&p| self.cli(p, &["ping"]).trim() == "PONG")
            .expect("a node answers")
    }

    /// The port of the master serving `key`'s slot now (none while a failover is under way).
    pub fn master_of(&self, key: &str) -> Option<u16> {
        let node = self.live_node();
        let slot: u16 = self
            .cli(node, &["cluster", "keyslot", key])
            .trim()
            .parse()
            .unwrap();
        let nodes = self.cli(node, &["cluster", "nodes"]);
        nodes
            .lines()
            .filter(|l| l.contains("master") && !l.contains("fail"))
            .find(|l| {
                l.split_whitespace().skip(8).any(|range| {
                    let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                    matches!((lo.parse::<u16>(), hi.parse::<u16>()), (Ok(lo), Ok(hi)) if (lo..=hi).contains(&slot))
                })
            })
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|addr| addr.split('@').next())
            .and_then(|addr| addr.rsplit_once(':'))
            .map(|(_, port)| port.parse().unwrap())
    }

    /// The ports of the current masters.
    pub fn masters(&self) -> Vec<u16> {
        let nodes = self.cli(self.live_node(), &["cluster", "nodes"]);
        let mut ports: Vec<u16> = nodes
            .lines()
            .filter(|l| l.contains("master") && !l.contains("fail"))
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter_map(|addr| addr.split('@').next()?.rsplit_once(':')?.1.parse().ok())
            .collect();
        ports.sort();
        ports
    }

    /// The port of the replica of the master on `port`.
    pub fn replica_of(&self, port: u16) -> u16 {
        let nodes = self.cli(self.live_node(), &["cluster", "nodes"]);
        let master_id = nodes
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|a| a.starts_with(&format!("127.0.0.1:{port}@")))
            })
            .and_then(|l| l.split_whitespace().next())
            .expect("the master is listed");
        nodes
            .lines()
            .filter(|l| l.split_whitespace().nth(3) == Some(master_id))
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter_map(|addr| addr.split('@').next()?.rsplit_once(':')?.1.parse().ok())
            .next()
            .expect("the master has a replica")
    }

    /// Waits until the replica of the master on `port` has acknowledged everything the master
    /// has written (its offset in `INFO replication` equals the master's).
    pub fn wait_for_sync(&self, port: u16) {
        let replica = self.replica_of(port);
        wait_for("the replica to catch up", Duration::from_secs(10), || {
            let info = self.cli(port, &["info", "replication"]);
            let master_offset = info
                .lines()
                .find_map(|l| l.trim().strip_prefix("master_repl_offset:"));
            let replica_offset = info
                .lines()
                .filter(|l| l.contains(&format!("port={replica},")))
                .find_map(|l| l.split(',').find_map(|f| f.strip_prefix("offset=")));
            master_offset.is_some() && master_offset == replica_offset
        });
    }

    /// Sends `signal` (KILL, STOP, CONT) to the node on `port`.
    fn signal(&self, port: u16, signal: &str) {
        let pid = std::fs::read_to_string(self.dir.join(port.to_string()).join("redis.pid"))
            .expect("the node's pid file");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), pid.trim()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Kills the node on `port` at once (SIGKILL: no goodbye to its replica).
    pub fn kill(&self, port: u16) {
        self.signal(port, "KILL");
    }

    /// Freezes the node on `port` (SIGSTOP): it reads nothing, so a replica falls behind.
    pub fn pause(&self, port: u16) {
        self.signal(port, "STOP");
    }

    pub fn resume(&self, port: u16) {
        self.signal(port, "CONT");
    }

    /// Waits until another node serves `key`'s slot (the replica was promoted); how long it took.
    pub fn wait_for_failover(&self, key: &str, dead: u16) -> Duration {
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if self.master_of(key).is_some_and(|port| port != dead) {
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no replica took over from {dead} within 30 s");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.script("stop");
    }
}

/// A pseudo-random number from the clock and a counter: enough to spread parallel tests'
/// port choices.
fn fastrand_u16() -> u16 {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let n = nanos
        ^ CALLS
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(2_654_435_761)
        ^ std::process::id();
    (n ^ (n >> 16)) as u16
}
