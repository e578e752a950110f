//! The reservation domain on a real database per test: each rule and refusal, each strategy
//! under contention, the sweeper, the charge race, and the audit catching corruption.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use concert_bench::domain::audit::Audit;
use concert_bench::domain::booking::{Booking, BookingError, Strategy};
use concert_bench::keyspace::{self, KeyPrefix};
use serde_json::Value;
use sqlx::mysql::MySqlPoolOptions;

use common::TestDb;

struct Fixture {
    db: TestDb,
    booking: Arc<Booking>,
}

impl Fixture {
    async fn new() -> Self {
        Self::on(TestDb::seeded_small().await).await
    }

    async fn on(db: TestDb) -> Self {
        let pool = MySqlPoolOptions::new()
            .max_connections(32)
            .connect(&db.url)
            .await
            .unwrap();
        let redis = keyspace::connect(
            &concert_bench::keyspace::RedisTarget::parse(&common::redis_url()).unwrap(),
        )
        .await
        .unwrap();
        let prefix = KeyPrefix::parse(&common::unique_name("cbt:r")).unwrap();
        let booking = Arc::new(Booking::new(pool, Some((redis, &prefix))));
        Self { db, booking }
    }

    /// Available seats of an open concert, in id order.
    async fn free_seats(&self, n: i64) -> Vec<i64> {
        sqlx::query_scalar(
            "SELECT s.id FROM seat s JOIN performance p ON p.id = s.performance_id
             JOIN concert c ON c.id = p.concert_id
             WHERE c.status = 'OPEN' AND s.status = 'AVAILABLE' ORDER BY s.id LIMIT ?",
        )
        .bind(n)
        .fetch_all(&self.db.pool)
        .await
        .unwrap()
    }

    async fn audit(&self) -> Audit {
        Audit::run(&self.db.pool).await.unwrap()
    }

    async fn balance(&self, user: i64) -> i64 {
        self.db
            .count(&format!(
                "SELECT balance FROM point_wallet WHERE user_id = {user}"
            ))
            .await
    }
}

#[tokio::test]
async fn hold_and_pay_confirm_the_seat_and_move_the_points() {
    let f = Fixture::new().await;
    let seat = f.free_seats(1).await[0];
    let before = f.balance(3).await;
    let hold = f
        .booking
        .hold(Strategy::Conditional, 3, seat)
        .await
        .unwrap();
    let paid = f.booking.pay(3, hold.reservation_id).await.unwrap();
    assert_eq!(paid.balance_after, before - hold.price);
    assert_eq!(f.balance(3).await, before - hold.price);
    assert_eq!(
        f.db.count(&format!(
            "SELECT COUNT(*) FROM seat WHERE id = {seat} AND status = 'SOLD'"
        ))
        .await,
        1
    );
    assert_eq!(f.audit().await, Audit::default());
}

#[tokio::test]
async fn refusals_change_nothing() {
    let f = Fixture::new().await;
    let seats = f.free_seats(2).await;
    let b = &f.booking;
    // Held or sold.
    let hold = b.hold(Strategy::Conditional, 1, seats[0]).await.unwrap();
    for strategy in Strategy::ALL {
        assert!(matches!(
            b.hold(strategy, 2, seats[0]).await,
            Err(BookingError::SeatTaken(_))
        ));
    }
    // Unknown user or seat; a concert that is not open.
    assert!(matches!(
        b.hold(Strategy::Conditional, 999_999, seats[1]).await,
        Err(BookingError::UnknownUser(_))
    ));
    assert!(matches!(
        b.hold(Strategy::Conditional, 1, 999_999_999).await,
        Err(BookingError::UnknownSeat(_))
    ));
    let closed: i64 = f
        .db
        .count(
            "SELECT s.id FROM seat s JOIN performance p ON p.id = s.performance_id
             JOIN concert c ON c.id = p.concert_id WHERE c.status = 'SCHEDULED' ORDER BY s.id LIMIT 1",
        )
        .await;
    assert!(matches!(
        b.hold(Strategy::Conditional, 1, closed).await,
        Err(BookingError::ConcertNotOpen(_))
    ));
    // Not enough points: the wallet, the ledger and the reservation are untouched.
    sqlx::query("UPDATE point_wallet SET balance = 10 WHERE user_id = 1")
        .execute(&f.db.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO point_ledger (user_id, kind, amount, created_at) SELECT 1, 'USE', 10 - SUM(amount), NOW() FROM point_ledger WHERE user_id = 1")
        .execute(&f.db.pool)
        .await
        .unwrap();
    let ledger_rows = f.db.count("SELECT COUNT(*) FROM point_ledger").await;
    assert!(matches!(
        b.pay(1, hold.reservation_id).await,
        Err(BookingError::InsufficientPoints { balance: 10, .. })
    ));
    assert_eq!(f.balance(1).await, 10);
    assert_eq!(
        f.db.count("SELECT COUNT(*) FROM point_ledger").await,
        ledger_rows
    );
    assert_eq!(
        f.db.count(&format!(
            "SELECT COUNT(*) FROM reservation WHERE id = {} AND status = 'HELD'",
            hold.reservation_id
        ))
        .await,
        1
    );
}

#[tokio::test]
async fn paying_after_the_hold_expired_fails_and_the_sweeper_frees_the_seat() {
    let f = Fixture::new().await;
    let seat = f.free_seats(1).await[0];
    let mut short = Booking::new(f.booking.pool.clone(), None);
    short.hold_for = Duration::from_millis(200);
    let hold = short.hold(Strategy::Pessimistic, 4, seat).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = f.balance(4).await;
    assert!(matches!(
        short.pay(4, hold.reservation_id).await,
        Err(BookingError::HoldExpired(_))
    ));
    assert_eq!(f.balance(4).await, before);
    assert_eq!(f.audit().await.expired_holds_blocking, 1);
    assert_eq!(short.sweep().await.unwrap(), 1);
    assert_eq!(f.audit().await, Audit::default());
    // The seat can be held again, by someone else.
    f.booking.hold(Strategy::Optimistic, 5, seat).await.unwrap();
}

#[tokio::test]
async fn every_strategy_has_exactly_one_winner_under_contention() {
    let f = Fixture::new().await;
    let seats = f.free_seats(4).await;
    for (strategy, seat) in Strategy::ALL.into_iter().zip(seats) {
        let mut racers = tokio::task::JoinSet::new();
        for user in 1..=20 {
            let booking = f.booking.clone();
            racers.spawn(async move { booking.hold(strategy, user, seat).await });
        }
        let outcomes = racers.join_all().await;
        let won = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(won, 1, "{strategy:?}: {won} winners");
        for lost in outcomes.iter().filter_map(|o| o.as_ref().err()) {
            assert!(lost.is_conflict(), "{strategy:?}: {lost}");
        }
    }
    assert_eq!(f.audit().await, Audit::default());
}

#[tokio::test]
async fn concurrent_charges_lose_no_update() {
    let f = Fixture::new().await;
    let before = f.balance(2).await;
    let mut charges = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let booking = f.booking.clone();
        charges.spawn(async move { booking.charge(2, 100).await.unwrap() });
    }
    charges.join_all().await;
    assert_eq!(f.balance(2).await, before + 200 * 100);
    assert_eq!(f.audit().await, Audit::default());
}

#[tokio::test]
async fn the_audit_catches_a_corrupted_row() {
    let f = Fixture::new().await;
    assert_eq!(f.audit().await, Audit::default());
    sqlx::query("UPDATE point_wallet SET balance = balance + 1 WHERE user_id = 1")
        .execute(&f.db.pool)
        .await
        .unwrap();
    let audit = f.audit().await;
    assert_eq!(audit.ledger_mismatches, 1);
    // Through the command: the report is printed and the run exits with code 3.
    let out = cargo_bin_cmd!("concert-bench")
        .args(f.db.cli())
        .args(["-o", "json", "reserve", "--audit"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["audit"]["ledger_mismatches"], 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ledger_mismatches = 1"));
}

#[tokio::test]
async fn load_gives_the_hot_seat_to_exactly_one_user_per_strategy() {
    let db = TestDb::seeded_small().await;
    let out = db
        .run(&[
            "-o", "json", "-q", "reserve", "--load", "--seats", "hot", "--users", "20", "-c", "10",
            // Holds only: a winner short of points would otherwise count as refused.
            "--no-pay",
        ])
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&out).unwrap();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in results {
        assert_eq!(r["succeeded"], 1, "{r}");
        assert_eq!(r["conflicts"], 19, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
    }
    assert!(
        doc["audit"].as_object().unwrap().values().all(|v| v == 0),
        "{}",
        doc["audit"]
    );
}

/// `--seats spread` with all four strategies: each draws from seats of its own, so the later
/// strategies do not lose races to seats the earlier ones sold (before, the fourth found
/// about 42% of its picks sold already). With the same number of seats each, their conflict
/// rates are alike; the steady window and the drain are reported; the table's title follows
/// --no-pay.
#[tokio::test]
async fn spread_strategies_draw_from_disjoint_seats() {
    // One open performance of 100 seats: few enough that sharing them shows.
    let db = TestDb::seeded_with(&[
        "--concerts",
        "4",
        "--open-concerts",
        "1",
        "--performances-per-concert",
        "1",
    ])
    .await;
    let available = db
        .count(
            "SELECT COUNT(*) FROM seat s JOIN performance p ON p.id = s.performance_id \
             JOIN concert c ON c.id = p.concert_id \
             WHERE c.status = 'OPEN' AND c.booking_opens_at <= NOW() AND s.status = 'AVAILABLE'",
        )
        .await;
    // Each strategy's share, less its warm-up's 2 x clients seats (about 15 seats), picked
    // by 20 users: the same crowding for each. Before, the first strategy had all 95 to pick
    // from and the fourth the ones the first three had not sold.
    let clients = 4;
    let users = 20;
    let out = db
        .run(&[
            "-o", "json", "-q", "reserve", "--load", "--seats", "spread", "--users", "20", "-c",
            "4", "--no-pay",
        ])
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&out).unwrap();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    let share = (available as u64 / 4) - 2 * clients;
    let mut conflicts = Vec::new();
    for r in results {
        assert_eq!(r["seats"], share, "{r}");
        assert_eq!(r["attempts"], users, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
        let (seconds, drain) = (
            r["seconds"].as_f64().unwrap(),
            r["drain_seconds"].as_f64().unwrap(),
        );
        assert!(drain >= 0.0 && drain <= seconds, "{r}");
        conflicts.push(r["conflicts"].as_u64().unwrap());
    }
    // Seats of one strategy are never another's: every hold is on a seat no earlier
    // strategy held, so the holds (succeeded, plus the warm-ups') are all distinct seats.
    let held = db
        .count("SELECT COUNT(*) FROM seat WHERE status = 'HELD'")
        .await;
    let succeeded: u64 = results
        .iter()
        .map(|r| r["succeeded"].as_u64().unwrap())
        .sum();
    assert!(
        held as u64 >= succeeded,
        "{held} held seats, {succeeded} holds"
    );
    let spread = conflicts.iter().max().unwrap() - conflicts.iter().min().unwrap();
    assert!(spread <= 7, "conflicts per strategy: {conflicts:?}");
    // The table's title and the throughput figure say what a completion is; the figure
    // plots completions, not attempts (it said "attempts per second (won or lost)" before).
    let dir = std::env::temp_dir().join(common::unique_name("cb-reserve-plot"));
    let table = db
        .run(&[
            "reserve",
            "--load",
            "--seats",
            "hot",
            "--users",
            "20",
            "-c",
            "4",
            "--no-pay",
            "--strategy",
            "conditional",
            "--plot",
            dir.to_str().unwrap(),
        ])
        .await
        .unwrap();
    assert!(table.contains("completed = held; --no-pay"), "{table}");
    let svg = std::fs::read_to_string(dir.join("reserve-throughput.svg")).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    for text in [
        "Completed reservations per second",
        "completed per second (steady window)",
        "held (--no-pay)",
    ] {
        assert!(
            svg.contains(text),
            "{text} missing from the throughput figure"
        );
    }
    assert!(!svg.contains("attempts per second"), "{svg}");
}

#[tokio::test]
async fn refusals_by_hand_exit_with_their_own_codes() {
    let db = TestDb::seeded_small().await;
    let seat: i64 = db
        .count(
            "SELECT s.id FROM seat s JOIN performance p ON p.id = s.performance_id
             JOIN concert c ON c.id = p.concert_id
             WHERE c.status = 'OPEN' AND s.status = 'AVAILABLE' ORDER BY s.id LIMIT 1",
        )
        .await;
    let prefix = common::unique_name("cbt:rh");
    let reserve = |user: &str, seat: String| {
        cargo_bin_cmd!("concert-bench")
            .args([
                "--database-url",
                &db.url,
                "--redis-url",
                &db.redis_url,
                "--key-prefix",
                &prefix,
                "reserve",
            ])
            .args(["--user", user, "--seat", &seat, "--pay"])
            .output()
            .unwrap()
    };
    let first = reserve("1", seat.to_string());
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let again = reserve("2", seat.to_string());
    assert_eq!(again.status.code(), Some(10));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already held or sold"));
    assert_eq!(reserve("2", "999999999".into()).status.code(), Some(14));
    assert_eq!(
        reserve("999999", (seat + 1).to_string()).status.code(),
        Some(14)
    );
    // The queue turns those reservations took live under the prefix: remove them.
    let mut conn = common::redis().await;
    keyspace::clear(&mut conn, &KeyPrefix::parse(&prefix).unwrap())
        .await
        .unwrap();
}

/// Faults: connections killed mid-transaction from another session, and the process killed
/// mid-run. Afterwards nothing is double-sold or half-paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_leave_a_clean_audit() {
    // 200 users rather than the usual 20: a run of 20 reservations is over in a few
    // transactions, too few for the killer to find one in flight every time.
    let f = Fixture::on(TestDb::seeded_with(&["--concerts", "8", "--users", "200"]).await).await;
    // The killer keeps at it until the run ends, not for a fixed number of rounds: the run's
    // setup (a cluster's slot map, say) can outlast any fixed window, and then nothing is killed.
    let load_done = AtomicBool::new(false);
    let load = async {
        let out =
            f.db.run(&[
                "-o",
                "json",
                "-q",
                "reserve",
                "--load",
                "--seats",
                "spread",
                "--users",
                "200",
                "-c",
                "8",
                "--strategy",
                "pessimistic",
            ])
            .await;
        load_done.store(true, Ordering::SeqCst);
        out
    };
    let killer = async {
        let admin = common::admin_pool().await;
        let mut killed = 0;
        while !load_done.load(Ordering::SeqCst) && killed < 40 {
            // MySQL builds its processlist by converting every running statement's text to
            // utf8mb3, and fails the whole query when one holds binary parameters: skip a round.
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT CAST(id AS SIGNED) FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID() AND command <> 'Sleep'",
            )
            .bind(&f.db.name)
            .fetch_all(&admin)
            .await
            .unwrap_or_default();
            for id in ids.into_iter().take(1) {
                if sqlx::query(sqlx::AssertSqlSafe(format!("KILL {id}")))
                    .execute(&admin)
                    .await
                    .is_ok()
                {
                    killed += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        killed
    };
    let (out, killed) = tokio::join!(load, killer);
    // The run may fail outright if a kill hit its setup; either way the tables must be sound.
    if let Ok(out) = out {
        let doc: Value = serde_json::from_str(&out).unwrap();
        assert!(doc["results"][0]["attempts"].as_u64().unwrap() > 0);
    }
    assert!(
        killed > 0,
        "no connection was killed: the test proved nothing"
    );
    let audit = f.audit().await;
    assert_eq!(
        audit,
        Audit {
            expired_holds_blocking: 0,
            ..Audit::default()
        },
        "after {killed} kills"
    );
}

#[test]
fn a_process_killed_mid_run_leaves_a_clean_audit() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDb::seeded_small());
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("concert-bench"))
        .args(db.cli())
        .args(["-q", "reserve", "--load", "--seats", "spread"])
        .args(["--users", "20", "-c", "8", "--strategy", "optimistic"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap();
    child.wait().unwrap();
    let audit = runtime.block_on(Audit::run(&db.pool)).unwrap();
    assert_eq!(audit, Audit::default());
}

#[tokio::test]
async fn redis_down_during_the_redis_lock_strategy_changes_nothing() {
    let f = Fixture::new().await;
    let seat = f.free_seats(1).await[0];
    let redis = common::PrivateRedis::start(common::free_port());
    let conn = keyspace::connect(
        &concert_bench::keyspace::RedisTarget::parse(&format!("redis://127.0.0.1:{}", redis.port))
            .unwrap(),
    )
    .await
    .unwrap();
    let prefix = KeyPrefix::parse("cbt:rl:").unwrap();
    let booking = Booking::new(f.booking.pool.clone(), Some((conn, &prefix)));
    redis.stop();
    let held = booking.hold(Strategy::RedisLock, 1, seat).await;
    assert!(matches!(held, Err(BookingError::Redis(_))), "{held:?}");
    assert_eq!(
        f.db.count(&format!(
            "SELECT COUNT(*) FROM reservation WHERE seat_id = {seat}"
        ))
        .await,
        0
    );
    assert_eq!(f.audit().await, Audit::default());
}
