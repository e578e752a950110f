//! On a Redis Cluster of each test's own: every multi-key command the tool sends stays in one
//! slot, and the queue, the cache and the events flow survive a master being killed.

mod common;

use std::time::Duration;

use common::{PrivateCluster, TestDb};
use serde_json::Value;

fn json(out: &str) -> Value {
    serde_json::from_str(out).expect("one JSON document")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_sim_survives_its_master_being_killed() {
    let cluster = PrivateCluster::start();
    let url = cluster.url();
    let prefix = common::unique_name("cbt:qsf");
    let sim = tokio::spawn({
        let (url, prefix) = (url.clone(), prefix.clone());
        async move {
            common::run_tool(&[
                "concert-bench", "--redis-url", &url, "--key-prefix", &prefix, "-o", "json", "-q",
                "queue-sim", "--users", "400", "--policy", "capacity:30", "--speed", "20",
                "--service", "1s..4s", "--abandon", "0", "--probe-size", "0",
            ])
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let victim = cluster.master_of("{c0}").unwrap();
    cluster.kill(victim);
    let took = tokio::task::block_in_place(|| cluster.wait_for_failover("{c0}", victim));
    let doc = json(&sim.await.unwrap().expect("queue-sim runs through the failover"));
    eprintln!("failover took {took:?}");
    eprintln!("{}", serde_json::to_string_pretty(&doc["results"][0]).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch_failover_probe() {
    let cluster = PrivateCluster::start();
    let mut conn = concert_bench::keyspace::connect(&cluster.url()).await.unwrap();
    let victim = cluster.master_of("{c0}").unwrap();
    let started = std::time::Instant::now();
    let mut killed = false;
    while started.elapsed() < Duration::from_secs(15) {
        if !killed && started.elapsed() > Duration::from_secs(1) {
            cluster.kill(victim);
            killed = true;
            eprintln!("{:?} killed {victim}", started.elapsed());
        }
        let t = std::time::Instant::now();
        let r: redis::RedisResult<(i64, i64)> = if std::env::var("PROBE").as_deref() == Ok("pipe") {
            redis::pipe().cmd("INCR").arg("x:{c0}").cmd("INCR").arg("y:{c0}").query_async(&mut conn).await
        } else {
            let a: redis::RedisResult<i64> = redis::Script::new("return redis.call('INCR', KEYS[1])").key("x:{c0}").invoke_async(&mut conn).await;
            a.map(|a| (a, a))
        };
        if r.is_err() || t.elapsed() > Duration::from_millis(200) {
            eprintln!("{:?} took {:?}: {r:?} master now {:?}", started.elapsed(), t.elapsed(), cluster.master_of("{c0}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
