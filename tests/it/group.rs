//! A replicated group named by a multi-host `--database-url`: MariaDB Galera and MySQL Group
//! Replication, each a private group of three on free ports (scripts/galera.sh and
//! scripts/group-replication.sh), started and stopped by its test. What a group promises is
//! proven with faults: a member killed in the middle of `reserve --load` (the run goes on,
//! no error, no acknowledged reservation lost, the audit clean), a hot seat on a multi-primary
//! group (one winner per strategy, certification failures retried), and what the tool refuses
//! (a member named alone, a plain server named as a group, a donor, a lost quorum).

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use concert_bench::storage::db::{Database, DatabaseUrl};
use concert_bench::storage::group::Writers;

use serde_json::Value;

use crate::common::{self, unique_name};

#[derive(Clone, Copy)]
enum Engine {
    Galera,
    GroupReplication,
}

/// A group of three of this test's own; stopped (its data removed) when dropped.
struct PrivateGroup {
    engine: Engine,
    base: u16,
    group_base: u16,
    dir: std::path::PathBuf,
}

impl PrivateGroup {
    fn start(engine: Engine) -> Self {
        // SQL ports base..+2; group ports: Galera's g, g+10, g+20 (each with +1 and +2 for
        // state transfers), Group Replication's g..+2.
        // Below the ephemeral range and apart from the private Redis Clusters (20,000+); each
        // engine in a band of its own, so the two tests (one process) never pick alike.
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        let band = match engine {
            Engine::Galera => 10_000,
            Engine::GroupReplication => 12_500,
        };
        let (base, group_base) = (0..600)
            .map(|i| {
                let base = band + (std::process::id() as u16 % 20) * 100 + (i % 600) * 3 % 2_400;
                (base, base + 5_000)
            })
            .find(|&(base, group)| (base..base + 3).all(free) && (group..group + 33).all(free))
            .expect("free ports for a private group");
        let group = Self {
            engine,
            base,
            group_base,
            dir: std::env::temp_dir().join(unique_name("cbt-galera")),
        };
        // A starting server deletes every `#sql*` file its user owns in its tmpdir. Left at the
        // shared default, the members deleted the machine's server's live temporary tables
        // (a CI run failed on it): this file stands in for one.
        let probe = group
            .shared_tmp()
            .join(format!("#sql-{}.MAI", unique_name("cbt-probe")));
        std::fs::write(&probe, b"").expect("the probe file is written");
        let owner = match engine {
            Engine::Galera => "mysql",
            Engine::GroupReplication => "root",
        };
        let chown = Command::new("chown").arg(owner).arg(&probe).status();
        assert!(chown.is_ok_and(|s| s.success()), "chown {owner} {probe:?}");
        let out = group.script(&["start"]);
        let probe_kept = probe.exists();
        std::fs::remove_file(&probe).ok();
        assert!(
            out.status.success(),
            "the private group did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(probe_kept, "starting the group deleted {probe:?}");
        group
    }

    /// The tmpdir its members would share with other servers by default: the machine's for
    /// Galera, the MySQL chroot's for Group Replication (scripts/mysql.sh).
    fn shared_tmp(&self) -> std::path::PathBuf {
        match self.engine {
            Engine::Galera => std::env::temp_dir(),
            Engine::GroupReplication => std::path::PathBuf::from(
                std::env::var("MYSQL_CHROOT")
                    .unwrap_or_else(|_| "/var/lib/concert-bench/mysql-sid".into()),
            )
            .join("tmp"),
        }
    }

    fn script(&self, args: &[&str]) -> Output {
        let (script, port, group_port) = match self.engine {
            Engine::Galera => ("galera.sh", "GALERA_PORT", "GALERA_GROUP_PORT"),
            Engine::GroupReplication => ("group-replication.sh", "GR_PORT", "GR_GROUP_PORT"),
        };
        Command::new("bash")
            .arg(format!("{}/scripts/{script}", env!("CARGO_MANIFEST_DIR")))
            .args(args)
            .env(port, self.base.to_string())
            .env(group_port, self.group_base.to_string())
            .env("GALERA_DIR", &self.dir)
            .output()
            .expect("bash runs")
    }

    /// Every member, as a user names the group.
    fn url(&self, database: &str) -> String {
        let b = self.base;
        format!(
            "mysql://root@127.0.0.1:{b},127.0.0.1:{},127.0.0.1:{}/{database}",
            b + 1,
            b + 2
        )
    }

    fn member_url(&self, member: u16, database: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{database}", self.base + member)
    }

    /// One statement on one member, as the mariadb client runs it; its output.
    fn sql(&self, member: u16, sql: &str) -> String {
        let out = Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-u", "root", "-N", "-B", "-P"])
            .arg((self.base + member).to_string())
            .args(["-e", sql])
            .output()
            .expect("the mariadb client runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn kill(&self, member: u16) {
        let out = self.script(&["kill", &member.to_string()]);
        assert!(out.status.success(), "kill {member}: {out:?}");
    }

    fn wait_until(&self, member: u16, sql: &str, wanted: &str) {
        common::wait_for(
            &format!("member {member}: `{sql}` = {wanted}"),
            Duration::from_secs(60),
            || self.sql(member, sql) == wanted,
        );
    }
}

impl Drop for PrivateGroup {
    fn drop(&mut self) {
        self.script(&["stop"]);
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// The test's Redis key prefix, its keys removed when it drops.
struct Prefix(String);

impl Prefix {
    fn new() -> Self {
        Self(unique_name("cbtg") + ":")
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let prefix = concert_bench::keyspace::KeyPrefix::parse(&self.0).unwrap();
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                concert_bench::keyspace::clear(&mut common::redis().await, &prefix)
                    .await
                    .ok();
            })
        })
        .join()
        .ok();
    }
}

/// The binary, with the test's key prefix; stdout and stderr captured.
fn tool(prefix: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_concert-bench"))
        .args(["--key-prefix", prefix, "-q"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

/// A refusal: exit 1 and one line on stderr that says `why`.
fn assert_refused(out: &Output, why: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(why), "wanted `{why}` in: {stderr}");
}

/// `seed` of a new database on the group, which must be refused: nothing written, not even
/// the database.
fn seed_refused(group: &PrivateGroup, prefix: &str) -> Output {
    tool(
        prefix,
        &[
            "seed",
            "--database-url",
            &group.url("cb_never"),
            "--users",
            "10",
        ],
    )
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    common::assert_matches_published_schema(&doc);
    doc
}

fn seed(group: &PrivateGroup, prefix: &str, database: &str, users: &str) {
    json(&tool(
        prefix,
        &[
            "seed",
            "--database-url",
            &group.url(database),
            "--users",
            users,
            "-o",
            "json",
        ],
    ));
}

/// Every strategy on one seat, its users spread over a multi-primary group's members: one
/// winner each, every certification failure retried into a lost race, the audit clean.
fn assert_one_winner_per_strategy(url: &str, prefix: &str) -> u64 {
    let doc = json(&tool(
        prefix,
        &[
            "reserve",
            "--database-url",
            url,
            "--load",
            "--seats",
            "hot",
            "--users",
            "100",
            "-c",
            "32",
            "--strategy",
            "pessimistic",
            "--strategy",
            "optimistic",
            "--strategy",
            "conditional",
            "--strategy",
            "redis-lock",
            "--no-pay",
            "-o",
            "json",
        ],
    ));
    assert_eq!(doc["violations"], serde_json::json!([]), "{doc:#}");
    let mut certification_failures = 0;
    for r in doc["results"].as_array().unwrap() {
        assert_eq!(r["succeeded"], 1, "one winner: {r:#}");
        assert_eq!(r["errors"], 0, "{r:#}");
        assert_eq!(r["conflicts"], 99, "{r:#}");
        certification_failures += r["certification_failures"].as_u64().unwrap();
    }
    certification_failures
}

/// Reads on the secondaries: `staleness` finds none stale under `before` and every write
/// visible in the end, `query` and `cache-bench --read-from replicas` time reads on a member
/// that is not the one written to.
fn assert_replicas_read(group: &PrivateGroup, prefix: &str, database: &str) {
    let url = group.url(database);
    let doc = json(&tool(
        prefix,
        &[
            "staleness",
            "--database-url",
            &url,
            "--probes",
            "30",
            "-o",
            "json",
        ],
    ));
    let primary = doc["primary"].clone();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "2 secondaries x 2 consistencies: {doc:#}");
    for r in results {
        assert_ne!(r["member"], primary, "{doc:#}");
        assert_eq!(r["never_visible"], 0, "{r:#}");
        assert_eq!(r["visible_after"]["count"], 30, "{r:#}");
        if r["consistency"] == "before" {
            assert_eq!(r["stale_first_reads"], 0, "{r:#}");
        }
    }
    eprintln!("staleness: {results:?}");
    let query = json(&tool(
        prefix,
        &[
            "query",
            "--database-url",
            &url,
            "--read-from",
            "replicas",
            "--scenario",
            "seat_by_id",
            "--iterations",
            "3",
            "--warmup",
            "0",
            "--server-runs",
            "1",
            "-o",
            "json",
        ],
    ));
    assert_eq!(query["read_from"], "replicas", "{query:#}");
    assert_ne!(query["reads_on"], primary, "{query:#}");
    let cache = json(&tool(
        prefix,
        &[
            "cache-bench",
            "--database-url",
            &url,
            "--read-from",
            "replicas",
            "--workload",
            "concert_detail",
            "--strategy",
            "none",
            "--requests",
            "200",
            "-c",
            "4",
            "--stampede-clients",
            "0",
            "-o",
            "json",
        ],
    ));
    assert_ne!(cache["settings"]["reads_on"], primary, "{cache:#}");
    assert_eq!(cache["results"][0]["errors"], 0, "{cache:#}");
    assert_eq!(cache["results"][0]["requests"], 200, "{cache:#}");
}

/// `reserve --load` with `member` SIGKILLed 200 reservations into its measured run (a fixed
/// delay landed in the set-up or the warm-up on a loaded machine, which the run rightly rode
/// out before it began): the run ends on the others with no error, at least one step moved
/// to another member, no acknowledged reservation missing, the audit clean.
fn assert_a_lost_member_loses_nothing(
    group: &PrivateGroup,
    prefix: &str,
    database: &str,
    member: u16,
) -> Value {
    const CLIENTS: u64 = 32;
    let url = group.url(database);
    let survivor = (member + 1) % 3;
    let reservations = || {
        group
            .sql(
                survivor,
                &format!("SELECT COUNT(*) FROM `{database}`.reservation"),
            )
            .parse::<u64>()
            .unwrap_or(0)
    };
    let before = reservations();
    let mut load = Command::new(env!("CARGO_BIN_EXE_concert-bench"))
        .args([
            "--key-prefix",
            prefix,
            "-q",
            "reserve",
            "--database-url",
            &url,
            "--load",
        ])
        .args([
            "--seats",
            "spread",
            "--users",
            "3000",
            "-c",
            &CLIENTS.to_string(),
            "--strategy",
            "conditional",
        ])
        .args(["-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Past the warm-up's holds (one per client) and 200 measured ones: well inside the run
    // of about 2,300.
    common::wait_for(
        "200 reservations of the measured run",
        Duration::from_secs(120),
        // A run that ended early is judged by the assertions below, on its document.
        || reservations() >= before + CLIENTS + 200 || load.try_wait().is_ok_and(|s| s.is_some()),
    );
    group.kill(member);
    let out = load.wait_with_output().unwrap();
    let doc = json(&out);
    let r = &doc["results"][0];
    assert_eq!(doc["violations"], serde_json::json!([]), "{doc:#}");
    assert_eq!(r["errors"], 0, "{r:#}");
    assert_eq!(r["acknowledged_lost"], 0, "{r:#}");
    assert!(
        r["member_lost_retries"].as_u64().unwrap() > 0,
        "the kill came after the run: {r:#}"
    );
    assert_eq!(r["attempts"], 3000, "{r:#}");
    doc
}

/// Writers that never run a step, with one follower pool: after the primary (`killed_port`)
/// dies, [`Writers::keep_following`] alone must move the follower to the new primary (the
/// events flow's workers once waited 60 s when no user step was left to fail). Returns the
/// port the follower ends on; returns once the follower is on the primary.
fn follow_without_steps(url: String, killed_port: u16) -> std::thread::JoinHandle<i64> {
    let (ready, on_primary) = std::sync::mpsc::channel();
    let follower = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let url = DatabaseUrl::parse(&url).unwrap();
            let db = Database::connect(&url, 2).await.unwrap();
            let writers = Writers::open(&db, 2).await.unwrap();
            let follower = Database::connect(&url, 2).await.unwrap();
            writers.follow(follower.pool.clone(), &follower.url);
            let first: i64 = sqlx::query_scalar("SELECT CAST(@@port AS SIGNED)")
                .fetch_one(&follower.pool)
                .await
                .unwrap();
            assert_eq!(
                first,
                i64::from(killed_port),
                "the follower starts on the primary"
            );
            ready.send(()).unwrap();
            let moved = async {
                let deadline = Instant::now() + Duration::from_secs(90);
                loop {
                    let port = sqlx::query_scalar::<_, i64>("SELECT CAST(@@port AS SIGNED)")
                        .fetch_one(&follower.pool)
                        .await;
                    match port {
                        Ok(port) if port != i64::from(killed_port) => return port,
                        _ => assert!(Instant::now() < deadline, "the follower never moved"),
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            };
            tokio::select! {
                port = moved => port,
                never = writers.keep_following() => match never {},
            }
        })
    });
    on_primary.recv().expect("the follower started");
    follower
}

#[test]
fn a_galera_cluster_is_followed_through_a_lost_node_and_refused_when_unsafe() {
    let group = PrivateGroup::start(Engine::Galera);
    let prefix = Prefix::new();
    let prefix = &prefix.0;
    let database = "cb_group";
    seed(&group, prefix, database, "3000");

    // A member named alone, and a plain server named as a group.
    let alone = tool(
        prefix,
        &[
            "reserve",
            "--audit",
            "--database-url",
            &group.member_url(1, database),
        ],
    );
    assert_refused(
        &alone,
        "is a member of a Galera group of 3, named as a single server",
    );
    let plain_host = common::server_url()
        .trim_start_matches("mysql://")
        .rsplit('@')
        .next()
        .unwrap()
        .to_string();
    let mixed = format!(
        "mysql://root@{plain_host},127.0.0.1:{}/{database}",
        group.base
    );
    assert_refused(
        &tool(prefix, &["reserve", "--audit", "--database-url", &mixed]),
        "is a plain",
    );

    // A donor: nothing is written, not even the database `seed` would create.
    group.sql(1, "SET GLOBAL wsrep_desync = ON");
    group.wait_until(
        1,
        "SHOW STATUS LIKE 'wsrep_local_state_comment'",
        "wsrep_local_state_comment\tDonor/Desynced",
    );
    let refused = seed_refused(&group, prefix);
    assert_refused(&refused, "not Synced");
    group.sql(1, "SET GLOBAL wsrep_desync = OFF");
    group.wait_until(
        1,
        "SHOW STATUS LIKE 'wsrep_local_state_comment'",
        "wsrep_local_state_comment\tSynced",
    );

    // A node cut off from the others is a non-primary component: no quorum, refused.
    group.sql(2, "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=1'");
    group.wait_until(
        2,
        "SHOW STATUS LIKE 'wsrep_cluster_status'",
        "wsrep_cluster_status\tnon-Primary",
    );
    let refused = seed_refused(&group, prefix);
    assert_refused(&refused, "lost quorum");
    group.sql(2, "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=0'");
    group.wait_until(
        2,
        "SHOW STATUS LIKE 'wsrep_local_state_comment'",
        "wsrep_local_state_comment\tSynced",
    );
    assert_eq!(
        group.sql(0, "SHOW DATABASES LIKE 'cb_never'"),
        "",
        "a refusal wrote nothing"
    );

    // Every node takes writes: the hot seat is decided by certification.
    assert_one_winner_per_strategy(&group.url(database), prefix);
    assert_replicas_read(&group, prefix, database);

    let doc = assert_a_lost_member_loses_nothing(&group, prefix, database, 1);
    eprintln!("galera, node killed: {}", doc["results"][0]);

    // Back with three, `cache-bench --read-from replicas` reads on node 1; killed during
    // the warm-up, then again during the timed requests, the reads move to another member
    // and the run goes on.
    let b = group.base;
    let url = group.url(database);
    let rejoin_1 = || {
        let rejoined = group.script(&["rejoin", "1"]);
        assert!(
            rejoined.status.success(),
            "{}",
            String::from_utf8_lossy(&rejoined.stderr)
        );
    };
    let reads_on_node_1 = |warmup: &str, duration: &str| {
        Command::new(env!("CARGO_BIN_EXE_concert-bench"))
            .args(["--key-prefix", prefix, "-q", "--database-url", &url])
            .args([
                "cache-bench",
                "--read-from",
                "replicas",
                "--workload",
                "concert_detail",
            ])
            .args(["--strategy", "none", "-c", "4", "--duration", duration])
            .args(["--warmup", warmup, "--stampede-clients", "0", "-o", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let moved = |doc: &Value| {
        assert_eq!(
            doc["settings"]["reads_on"],
            format!("127.0.0.1:{}, then 127.0.0.1:{}", b + 1, b + 2),
            "{doc:#}"
        );
    };
    let selects = || -> u64 {
        let status = group.sql(1, "SHOW GLOBAL STATUS LIKE 'Com_select'");
        status
            .split_whitespace()
            .nth(1)
            .map_or(0, |n| n.parse().unwrap())
    };

    // The warm-up's requests are sequential (about 25 ms each here): 300 of them outlast
    // the first 20 reads.
    rejoin_1();
    let before = selects();
    let reads = reads_on_node_1("300", "2s");
    common::wait_for(
        "the warm-up reading on node 1",
        Duration::from_secs(30),
        || selects() >= before + 20,
    );
    group.kill(1);
    let doc = json(&reads.wait_with_output().unwrap());
    moved(&doc);
    let cell = &doc["results"][0];
    // The failover was waited out before the timing began.
    assert_eq!(cell["errors"], 0, "{cell:#}");
    assert!(cell["requests"].as_u64().unwrap() > 0, "{cell:#}");
    eprintln!("galera, reader killed in the warm-up: {cell}");

    rejoin_1();
    let reads = reads_on_node_1("100", "6s");
    std::thread::sleep(Duration::from_secs(3));
    group.kill(1);
    let doc = json(&reads.wait_with_output().unwrap());
    moved(&doc);
    let cell = &doc["results"][0];
    assert!(cell["requests"].as_u64().unwrap() > 0, "{cell:#}");
    eprintln!("galera, reader killed mid-run: {cell}");
}

#[test]
fn a_group_replication_primary_killed_mid_run_is_followed_and_a_lost_quorum_refused() {
    let group = PrivateGroup::start(Engine::GroupReplication);
    let prefix = Prefix::new();
    let prefix = &prefix.0;
    let database = "cb_group";
    seed(&group, prefix, database, "3000");

    let alone = tool(
        prefix,
        &[
            "reserve",
            "--audit",
            "--database-url",
            &group.member_url(0, database),
        ],
    );
    assert_refused(
        &alone,
        "is a member of a Group Replication group of 3, named as a single server",
    );
    let b = group.base;
    let secondaries = format!(
        "mysql://root@127.0.0.1:{},127.0.0.1:{}/{database}",
        b + 1,
        b + 2
    );
    assert_refused(
        &tool(
            prefix,
            &["reserve", "--audit", "--database-url", &secondaries],
        ),
        "the group's primary",
    );

    assert_replicas_read(&group, prefix, database);

    // The first member is the primary; killed mid-run, the group elects another.
    let follower = follow_without_steps(group.url(database), b);
    let doc = assert_a_lost_member_loses_nothing(&group, prefix, database, 0);
    eprintln!("group replication, primary killed: {}", doc["results"][0]);
    let moved_to = follower.join().expect("the follower moved");
    assert!(
        [b + 1, b + 2].map(i64::from).contains(&moved_to),
        "{moved_to}"
    );

    // The two left, multi-primary: the hot seat is decided by certification (the dead
    // member is named too, and left out with a warning).
    group.wait_until(
        1,
        "SELECT COUNT(*) FROM performance_schema.replication_group_members",
        "2",
    );
    group.sql(1, "SELECT group_replication_switch_to_multi_primary_mode()");
    group.wait_until(2, "SELECT COUNT(*) FROM performance_schema.replication_group_members WHERE MEMBER_ROLE = 'PRIMARY'", "2");
    assert_one_winner_per_strategy(&group.url(database), prefix);

    // One of two lost: the last member is a minority, and the tool refuses to write.
    group.kill(2);
    group.wait_until(
        1,
        "SELECT COUNT(*) FROM performance_schema.replication_group_members WHERE MEMBER_STATE = 'UNREACHABLE'",
        "1",
    );
    let refused = seed_refused(&group, prefix);
    assert_refused(&refused, "lost quorum");
    // A minority member waits to leave its group when stopped: it is killed instead.
    group.kill(1);
}
