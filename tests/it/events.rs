//! The services split and their events, against the real MariaDB and Redis: both sagas and
//! every compensation, then the faults (relay killed between publishing and marking, a
//! consumer dying mid-handler, Redis down for a while, a poison event). After each, the audit
//! is clean and every outbox event took effect exactly once.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{PrivateRedis, TestDb, free_port, redis_url, unique_name};
use concert_bench::domain::audit::Audit;
use concert_bench::domain::booking::{Booking, BookingError};
use concert_bench::domain::services::worker::{
    Backlog, WorkerConfig, Workers, parked_key, stream_key,
};
use concert_bench::domain::services::{Service, payment, reservation};
use concert_bench::keyspace::KeyPrefix;
use sqlx::MySqlPool;
use sqlx::mysql::MySqlPoolOptions;

const HOLD: Duration = Duration::from_secs(300);
const SETTLE: Duration = Duration::from_secs(30);

struct Rig {
    db: TestDb,
    pool: MySqlPool,
    prefix: KeyPrefix,
}

impl Rig {
    async fn new() -> Self {
        let db = TestDb::seeded_small().await;
        let pool = MySqlPoolOptions::new()
            .max_connections(16)
            .connect(&db.url)
            .await
            .unwrap();
        // The database's own prefix: its keys go with it, even when the test fails.
        let prefix = KeyPrefix::parse(&db.prefix).unwrap();
        Self { db, pool, prefix }
    }

    async fn workers(&self, config: WorkerConfig) -> Workers {
        self.workers_on(&redis_url(), config).await
    }

    async fn workers_on(&self, redis: &str, config: WorkerConfig) -> Workers {
        Workers::start(
            &self.pool,
            &concert_bench::keyspace::RedisTarget::parse(redis).unwrap(),
            &self.prefix,
            &config,
        )
        .await
        .unwrap()
    }

    /// Available seats in concerts open for booking.
    async fn seats(&self, n: usize) -> Vec<i64> {
        let seats: Vec<i64> = sqlx::query_scalar(
            "SELECT s.id FROM seat s JOIN performance p ON p.id = s.performance_id
             JOIN concert c ON c.id = p.concert_id
             WHERE c.status = 'OPEN' AND c.booking_opens_at <= NOW() AND s.status = 'AVAILABLE'
             ORDER BY s.id LIMIT ?",
        )
        .bind(n as i64)
        .fetch_all(&self.pool)
        .await
        .unwrap();
        assert_eq!(seats.len(), n);
        seats
    }

    /// Starts a reservation per seat, for users `first_user`, `first_user + 1`, ...
    async fn request(&self, first_user: i64, seats: &[i64]) -> Vec<i64> {
        let mut ids = Vec::new();
        for (user, &seat) in (first_user..).zip(seats) {
            ids.push(
                reservation::request(&self.pool, user, seat, HOLD)
                    .await
                    .unwrap(),
            );
        }
        ids
    }

    async fn settle(&self) {
        Backlog::wait_clear(&self.pool, 0, SETTLE).await.unwrap();
    }

    async fn status(&self, table: &str, id: i64) -> String {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(status AS CHAR) FROM {table} WHERE id = ?"
        )))
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// Enough points for any seat, charged the way the tool charges (wallet and ledger).
    async fn top_up(&self, user: i64) {
        Booking::new(self.pool.clone(), None)
            .charge(user, 10_000_000)
            .await
            .unwrap();
    }

    async fn balance(&self, user: i64) -> i64 {
        self.db
            .count(&format!(
                "SELECT balance FROM point_wallet WHERE user_id = {user}"
            ))
            .await
    }

    /// The audit is clean: no seat sold twice, points conserved, every saga finished and every
    /// event applied exactly once (processed_event's key makes "more than once" impossible).
    /// Then the test's streams go.
    async fn assert_clean(&self) {
        let audit = Audit::run(&self.pool).await.unwrap();
        assert_eq!(audit.findings(), Vec::<String>::new());
        let mut conn = common::redis().await;
        let mut keys: Vec<String> = Service::ALL
            .iter()
            .map(|s| stream_key(&self.prefix, s.name()))
            .collect();
        keys.push(stream_key(
            &self.prefix,
            concert_bench::domain::services::OUTCOMES,
        ));
        keys.push(parked_key(&self.prefix));
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

fn config(services: &[Service]) -> WorkerConfig {
    WorkerConfig {
        services: services.to_vec(),
        claim_after: Duration::from_millis(300),
        max_deliveries: 3,
        republish_after: Duration::from_secs(1),
        ..WorkerConfig::default()
    }
}

async fn held(rig: &Rig, user: i64, seat: i64, hold: Duration) -> i64 {
    let id = reservation::request(&rig.pool, user, seat, hold)
        .await
        .unwrap();
    rig.settle().await;
    assert_eq!(rig.status("reservation", id).await, "HELD");
    id
}

#[tokio::test]
async fn a_reservation_and_its_payment_complete_through_the_services() {
    let rig = Rig::new().await;
    let workers = rig.workers(config(&Service::ALL)).await;
    let seat = rig.seats(1).await[0];
    rig.top_up(1).await;
    let before = rig.balance(1).await;

    let reservation = held(&rig, 1, seat, HOLD).await;
    let payment = payment::request(&rig.pool, 1, reservation).await.unwrap();
    rig.settle().await;

    assert_eq!(rig.status("reservation", reservation).await, "CONFIRMED");
    assert_eq!(rig.status("seat", seat).await, "SOLD");
    assert_eq!(rig.status("payment", payment).await, "COMPLETED");
    let price = rig
        .db
        .count(&format!("SELECT price FROM seat WHERE id = {seat}"))
        .await;
    assert_eq!(rig.balance(1).await, before - price);
    // A second payment of the same reservation is refused, not charged twice.
    assert!(matches!(
        payment::request(&rig.pool, 1, reservation).await,
        Err(BookingError::UnknownReservation(_))
    ));
    // Seven events; the five a service consumes applied once each (ReservationConfirmed by
    // Payment and Concert), the two outcomes read only by the client.
    assert_eq!(rig.db.count("SELECT COUNT(*) FROM outbox").await, 7);
    assert_eq!(
        rig.db.count("SELECT COUNT(*) FROM processed_event").await,
        6
    );
    workers.stop().await;
    rig.assert_clean().await;
}

#[tokio::test]
async fn a_second_live_claim_of_a_seat_is_refused_at_once() {
    let rig = Rig::new().await;
    let workers = rig.workers(config(&Service::ALL)).await;
    let seat = rig.seats(1).await[0];
    held(&rig, 1, seat, HOLD).await;
    assert!(matches!(
        reservation::request(&rig.pool, 2, seat, HOLD).await,
        Err(BookingError::SeatTaken(s)) if s == seat
    ));
    assert!(matches!(
        reservation::request(&rig.pool, 999_999, seat, HOLD).await,
        Err(BookingError::UnknownUser(_))
    ));
    workers.stop().await;
    rig.assert_clean().await;
}

#[tokio::test]
async fn a_seat_the_concert_service_cannot_hold_cancels_the_reservation() {
    let rig = Rig::new().await;
    let workers = rig.workers(config(&Service::ALL)).await;
    let seat = rig.seats(1).await[0];
    // Held at the Concert service (a box-office hold) without a reservation here.
    common::exec(
        &rig.pool,
        &format!(
            "UPDATE seat SET status = 'HELD', held_by = 2, held_until = NOW(3) + INTERVAL 1 HOUR WHERE id = {seat}"
        ),
    )
    .await;
    let id = reservation::request(&rig.pool, 1, seat, HOLD)
        .await
        .unwrap();
    rig.settle().await;
    assert_eq!(rig.status("reservation", id).await, "CANCELLED");
    assert_eq!(
        rig.db
            .count(&format!("SELECT held_by FROM seat WHERE id = {seat}"))
            .await,
        2
    );
    workers.stop().await;
    rig.assert_clean().await;
}

#[tokio::test]
async fn a_reservation_cancelled_before_its_seat_was_held_gives_the_seat_back() {
    let rig = Rig::new().await;
    let others = rig
        .workers(config(&[
            Service::Reservation,
            Service::Payment,
            Service::Point,
        ]))
        .await;
    let seat = rig.seats(1).await[0];
    let id = reservation::request(&rig.pool, 1, seat, HOLD)
        .await
        .unwrap();
    // No Concert service yet: the reservation times out and is cancelled...
    assert_eq!(
        reservation::cancel_stale(&rig.pool, Duration::ZERO)
            .await
            .unwrap(),
        1
    );
    // ...then the Concert service holds the seat anyway, and the compensation releases it.
    let concert = rig.workers(config(&[Service::Concert])).await;
    rig.settle().await;
    assert_eq!(rig.status("reservation", id).await, "CANCELLED");
    assert_eq!(rig.status("seat", seat).await, "AVAILABLE");
    assert_eq!(
        rig.db
            .count("SELECT COUNT(*) FROM outbox WHERE event_type = 'SeatReleaseRequested'")
            .await,
        1
    );
    others.stop().await;
    concert.stop().await;
    rig.assert_clean().await;
}

#[tokio::test]
async fn a_payment_without_enough_points_fails_with_nothing_deducted() {
    let rig = Rig::new().await;
    let workers = rig.workers(config(&Service::ALL)).await;
    let seat = rig.seats(1).await[0];
    common::exec(
        &rig.pool,
        &format!("UPDATE seat SET price = 1000000000000 WHERE id = {seat}"),
    )
    .await;
    let before = rig.balance(3).await;
    let reservation = held(&rig, 3, seat, HOLD).await;
    let payment = payment::request(&rig.pool, 3, reservation).await.unwrap();
    rig.settle().await;
    assert_eq!(rig.status("payment", payment).await, "FAILED");
    assert_eq!(rig.status("reservation", reservation).await, "HELD");
    assert_eq!(rig.balance(3).await, before);
    assert_eq!(
        rig.db
            .count("SELECT COUNT(*) FROM point_ledger WHERE kind = 'USE' AND user_id = 3")
            .await,
        0
    );
    workers.stop().await;
    rig.assert_clean().await;
}

#[tokio::test]
async fn a_payment_after_the_window_closed_is_an_error_and_writes_nothing() {
    let rig = Rig::new().await;
    let workers = rig.workers(config(&Service::ALL)).await;
    let seat = rig.seats(1).await[0];
    let reservation = held(&rig, 4, seat, Duration::from_millis(300)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(matches!(
        payment::request(&rig.pool, 4, reservation).await,
        Err(BookingError::HoldExpired(r)) if r == reservation
    ));
    assert_eq!(
        rig.db
            .count(&format!(
                "SELECT COUNT(*) FROM payment WHERE reservation_id = {reservation}"
            ))
            .await,
        0
    );
    workers.stop().await;
    // The lapsed hold is the sweeper's to release.
    Booking::new(rig.pool.clone(), None).sweep().await.unwrap();
    rig.assert_clean().await;
}

#[tokio::test]
async fn points_deducted_for_a_hold_that_lapsed_meanwhile_are_refunded() {
    let rig = Rig::new().await;
    let others = rig
        .workers(config(&[
            Service::Concert,
            Service::Reservation,
            Service::Payment,
        ]))
        .await;
    let seat = rig.seats(1).await[0];
    rig.top_up(5).await;
    let before = rig.balance(5).await;
    let reservation = held(&rig, 5, seat, Duration::from_millis(800)).await;
    let payment = payment::request(&rig.pool, 5, reservation).await.unwrap();
    // The Point service only gets to the payment after the hold has lapsed.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let point = rig.workers(config(&[Service::Point])).await;
    rig.settle().await;
    assert_eq!(rig.status("payment", payment).await, "FAILED");
    assert_eq!(rig.balance(5).await, before);
    assert_eq!(
        rig.db
            .count(
                "SELECT COUNT(*) FROM point_ledger WHERE user_id = 5 AND kind IN ('USE', 'REFUND')"
            )
            .await,
        2
    );
    others.stop().await;
    point.stop().await;
    Booking::new(rig.pool.clone(), None).sweep().await.unwrap();
    assert_eq!(rig.status("reservation", reservation).await, "EXPIRED");
    rig.assert_clean().await;
}

#[tokio::test]
async fn a_relay_killed_between_publishing_and_marking_causes_duplicates_applied_once() {
    let rig = Rig::new().await;
    let seats = rig.seats(3).await;
    let ids = rig.request(1, &seats).await;
    // Publishes the three requests, then dies before marking them published.
    let dying = rig
        .workers(WorkerConfig {
            relay_dies_after_publishing: true,
            ..config(&[])
        })
        .await;
    while dying.stats.published.load(Ordering::Relaxed) < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let workers = rig.workers(config(&Service::ALL)).await;
    rig.settle().await;
    // The copies the new relay sends can arrive after the consumers applied the first ones:
    // then nothing is unpublished or unapplied (settled) before a consumer has read a copy.
    let deadline = tokio::time::Instant::now() + SETTLE;
    while workers.stats.duplicates.load(Ordering::Relaxed) < 3
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dying.stop().await;
    let duplicates = workers.stats.duplicates.load(Ordering::Relaxed);
    workers.stop().await;
    for id in ids {
        assert_eq!(rig.status("reservation", id).await, "HELD");
    }
    assert!(duplicates >= 3, "{duplicates} duplicates skipped");
    rig.assert_clean().await;
}

#[tokio::test]
async fn a_consumer_that_dies_mid_handler_has_its_events_taken_over() {
    let rig = Rig::new().await;
    let seats = rig.seats(3).await;
    let crashing = rig
        .workers(WorkerConfig {
            consumers_crash_after: Some(0),
            ..config(&[Service::Concert])
        })
        .await;
    let ids = rig.request(1, &seats).await;
    // That worker's Concert consumer reads, runs the handlers and dies uncommitted.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let taken = crashing.stats.delivered.load(Ordering::Relaxed);
    assert!(taken >= 1, "the crashing consumer read nothing");
    let workers = rig.workers(config(&Service::ALL)).await;
    rig.settle().await;
    let redelivered = workers.stats.redelivered.load(Ordering::Relaxed);
    crashing.stop().await;
    workers.stop().await;
    for id in ids {
        assert_eq!(rig.status("reservation", id).await, "HELD");
    }
    // Everything the dead consumer had taken was taken over, not read afresh.
    assert!(
        redelivered >= taken,
        "{redelivered} redelivered of {taken} taken"
    );
    rig.assert_clean().await;
}

#[tokio::test]
async fn redis_down_for_a_while_loses_no_event() {
    let rig = Rig::new().await;
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let redis = PrivateRedis::start(port);
    let workers = rig.workers_on(&url, config(&Service::ALL)).await;
    let seats = rig.seats(5).await;
    let first = held(&rig, 1, seats[0], HOLD).await;
    redis.stop();
    // The services keep accepting work: it waits in the outbox.
    let mut ids = vec![first];
    ids.extend(rig.request(2, &seats[1..]).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        rig.db
            .count("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
            .await
            >= 4
    );
    // Back, empty (no persistence): groups are created again and the outbox drains.
    let redis = PrivateRedis::start(port);
    rig.settle().await;
    let errors = workers.stats.publish_errors.load(Ordering::Relaxed);
    workers.stop().await;
    redis.stop();
    for id in ids {
        assert_eq!(rig.status("reservation", id).await, "HELD");
    }
    assert!(errors > 0, "the relay never noticed Redis was down");
    rig.assert_clean().await;
}

#[tokio::test]
async fn a_poison_event_is_parked_and_the_rest_keep_flowing() {
    let rig = Rig::new().await;
    let workers = rig.workers(config(&Service::ALL)).await;
    common::exec(
        &rig.pool,
        "INSERT INTO outbox (aggregate, event_type, payload, created_at)
         VALUES ('payment', 'PaymentRequested', '{\"type\":\"PaymentRequested\",\"payment_id\":\"oops\"}', NOW(3))",
    )
    .await;
    let seat = rig.seats(1).await[0];
    rig.top_up(6).await;
    let reservation = held(&rig, 6, seat, HOLD).await;
    let payment = payment::request(&rig.pool, 6, reservation).await.unwrap();
    rig.settle().await;
    assert_eq!(rig.status("payment", payment).await, "COMPLETED");
    let parked = workers.stats.parked.load(Ordering::Relaxed);
    workers.stop().await;
    assert_eq!(parked, 1);
    assert_eq!(
        rig.db
            .count("SELECT COUNT(*) FROM processed_event WHERE outcome = 'PARKED' AND consumer = 'point' AND error LIKE '%does not parse%'")
            .await,
        1
    );
    let mut conn = common::redis().await;
    let parked_entries: usize = redis::cmd("XLEN")
        .arg(parked_key(&rig.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(parked_entries, 1);
    // A parked event is not applied, and the audit says so until it is replayed.
    let audit = Audit::run(&rig.pool).await.unwrap();
    assert_eq!(
        audit.findings(),
        ["audit: events_not_applied = 1", "audit: events_parked = 1"]
    );
    common::exec(
        &rig.pool,
        "DELETE FROM processed_event WHERE outcome = 'PARKED'",
    )
    .await;
    common::exec(&rig.pool, "DELETE FROM outbox WHERE payload LIKE '%oops%'").await;
    rig.assert_clean().await;
}

/// A payment whose points could not be taken (the ledger refused every insert) is parked,
/// shows in the audit with its payment still PENDING, and `worker --replay-parked` completes
/// it once the cause is fixed: no points lost, audit clean.
#[tokio::test]
async fn a_parked_event_is_in_the_audit_and_replayed_once_the_cause_is_fixed() {
    let rig = Rig::new().await;
    let workers = rig.workers(config(&Service::ALL)).await;
    let seat = rig.seats(1).await[0];
    rig.top_up(7).await;
    let before = rig.balance(7).await;
    let reservation = held(&rig, 7, seat, HOLD).await;
    common::exec(
        &rig.pool,
        "CREATE TRIGGER ledger_closed BEFORE INSERT ON point_ledger FOR EACH ROW
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ledger closed for maintenance'",
    )
    .await;
    let payment = payment::request(&rig.pool, 7, reservation).await.unwrap();
    let deadline = std::time::Instant::now() + SETTLE;
    while workers.stats.parked.load(Ordering::Relaxed) == 0 {
        assert!(std::time::Instant::now() < deadline, "never parked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    workers.stop().await;
    assert_eq!(rig.status("payment", payment).await, "PENDING");
    let findings = Audit::run(&rig.pool).await.unwrap().findings();
    assert!(
        findings.contains(&"audit: events_parked = 1".to_string()),
        "{findings:?}"
    );
    assert!(
        findings.contains(&"audit: unfinished_sagas = 1".to_string()),
        "{findings:?}"
    );

    common::exec(&rig.pool, "DROP TRIGGER ledger_closed").await;
    let out = rig
        .db
        .run(&[
            "--key-prefix",
            rig.prefix.as_str(),
            "-o",
            "json",
            "worker",
            "--replay-parked",
            "--for",
            "3s",
        ])
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["replayed_parked"], 1, "{doc}");
    rig.settle().await;
    assert_eq!(rig.status("payment", payment).await, "COMPLETED");
    assert_eq!(rig.status("reservation", reservation).await, "CONFIRMED");
    let price = rig
        .db
        .count(&format!(
            "SELECT price FROM reservation WHERE id = {reservation}"
        ))
        .await;
    assert_eq!(rig.balance(7).await, before - price, "charged exactly once");
    rig.assert_clean().await;
}

/// The database goes away for 30 s (every connection of the workers cut, new ones refused)
/// with reservations in flight: nothing is parked, everything is applied when it returns, and
/// the audit is clean.
#[tokio::test]
async fn thirty_seconds_without_the_database_parks_nothing() {
    let rig = Rig::new().await;
    let proxy = common::DbProxy::start().await;
    let through_proxy = MySqlPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&proxy.url(&rig.db.name))
        .await
        .unwrap();
    // Stale PENDING reservations are cancelled after pending_timeout (a compensation); here
    // every saga must finish, so that timeout is past the outage.
    let patient = WorkerConfig {
        pending_timeout: Duration::from_secs(120),
        ..config(&Service::ALL)
    };
    let workers = Workers::start(
        &through_proxy,
        &concert_bench::keyspace::RedisTarget::parse(&redis_url()).unwrap(),
        &rig.prefix,
        &patient,
    )
    .await
    .unwrap();
    let seats = rig.seats(30).await;
    let mut reservations = rig.request(1, &seats[..10]).await;
    proxy.cut();
    // More sagas start while the workers cannot reach the database.
    reservations.extend(rig.request(11, &seats[10..20]).await);
    tokio::time::sleep(Duration::from_secs(30)).await;
    reservations.extend(rig.request(1, &seats[20..]).await);
    proxy.restore();
    Backlog::wait_clear(&rig.pool, 0, Duration::from_secs(90))
        .await
        .unwrap();
    let parked = workers.stats.parked.load(Ordering::Relaxed);
    let handler_errors = workers.stats.handler_errors.load(Ordering::Relaxed);
    workers.stop().await;
    assert_eq!(parked, 0, "nothing parked for an outage");
    assert_eq!(handler_errors, 0, "an outage is not a handler failure");
    for id in reservations {
        assert_eq!(
            rig.status("reservation", id).await,
            "HELD",
            "reservation {id}"
        );
    }
    rig.assert_clean().await;
}

fn flat_audit_is_clean(doc: &serde_json::Value) -> bool {
    doc["audit"].as_object().unwrap().values().all(|v| v == 0)
}

/// Removes every key a command-line test wrote under its prefix.
async fn clear_prefix(prefix: &str) {
    let mut conn = common::redis().await;
    concert_bench::keyspace::clear(&mut conn, &KeyPrefix::parse(prefix).unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn reserve_runs_the_direct_and_the_events_flow_side_by_side() {
    let db = TestDb::seeded_small().await;
    let prefix = format!("{}:", unique_name("evcli"));
    let out = db
        .run(&[
            "-o",
            "json",
            "-q",
            "--key-prefix",
            &prefix,
            "reserve",
            "--load",
            "--seats",
            "few:5",
            "--users",
            "20",
            "-c",
            "8",
            "--flow",
            "both",
            "--strategy",
            "conditional",
            "--no-pay",
        ])
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = doc["results"].as_array().unwrap();
    let flows: Vec<&str> = results
        .iter()
        .map(|r| r["flow"].as_str().unwrap())
        .collect();
    assert_eq!(flows, ["direct", "events"]);
    for r in results {
        let succeeded = r["succeeded"].as_u64().unwrap();
        assert!((1..=5).contains(&succeeded), "{r}");
        assert_eq!(succeeded + r["conflicts"].as_u64().unwrap(), 20, "{r}");
        assert!(r["e2e"]["p99_ms"].as_f64().unwrap() > 0.0, "{r}");
    }
    let events = &doc["events"];
    assert_eq!(events["workers"], "in-process");
    // Requested, held, and the outcome, per seat the events flow got (its warm-up's too); a
    // second claim of a seat is refused before any event.
    let held =
        results[1]["succeeded"].as_u64().unwrap() + results[1]["warmup_holds"].as_u64().unwrap();
    assert!(
        results[1]["warmup_holds"].as_u64().unwrap() > 0,
        "{}",
        results[1]
    );
    assert_eq!(events["published"].as_u64().unwrap(), 3 * held, "{events}");
    assert_eq!(events["parked"], 0);
    for field in ["delivered", "redelivered"] {
        assert!(events[field].is_number(), "{field}: {events}");
    }
    assert!(events["lag"]["p99_ms"].as_f64().unwrap() >= events["lag"]["p50_ms"].as_f64().unwrap());
    assert!(flat_audit_is_clean(&doc), "{}", doc["audit"]);
    clear_prefix(&prefix).await;
}

/// A worker process, killed when the test ends whatever happens.
struct WorkerProcess(std::process::Child);

impl WorkerProcess {
    fn start(db: &TestDb, prefix: &str) -> Self {
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("concert-bench"))
            .args(["--database-url", &db.url, "--redis-url", &db.redis_url])
            .args(["--key-prefix", prefix, "-q", "worker", "--for", "120s"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Self(child)
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

#[tokio::test]
async fn worker_processes_carry_the_events_flow_between_them() {
    let db = TestDb::seeded_small().await;
    let prefix = format!("{}:", unique_name("evproc"));
    let workers = [
        WorkerProcess::start(&db, &prefix),
        WorkerProcess::start(&db, &prefix),
    ];
    let out = db
        .run(&[
            "-o",
            "json",
            "-q",
            "--key-prefix",
            &prefix,
            "reserve",
            "--load",
            "--seats",
            "few:5",
            "--users",
            "20",
            "-c",
            "8",
            "--flow",
            "events",
            "--external-workers",
            "--no-pay",
        ])
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let result = &doc["results"][0];
    assert_eq!(result["flow"], "events");
    assert_eq!(result["errors"], 0, "{result}");
    assert!(result["succeeded"].as_u64().unwrap() >= 1, "{result}");
    assert_eq!(doc["events"]["workers"], "external");
    assert!(flat_audit_is_clean(&doc), "{}", doc["audit"]);
    drop(workers); // killed first, so nothing writes behind the cleanup
    clear_prefix(&prefix).await;
}

#[tokio::test]
async fn a_worker_run_for_a_while_reports_what_it_did() {
    let db = TestDb::seeded_small().await;
    let prefix = format!("{}:", unique_name("evw"));
    let out = db
        .run(&[
            "-o",
            "json",
            "-q",
            "--key-prefix",
            &prefix,
            "worker",
            "--for",
            "300ms",
        ])
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["command"], "worker");
    assert_eq!(doc["events"]["published"], 0);
    assert_eq!(doc["backlog"]["unapplied"], 0);
    assert_eq!(doc["services"].as_array().unwrap().len(), 4);
    clear_prefix(&prefix).await;
}

#[test]
fn worker_and_flow_flags_refuse_nonsense() {
    common::assert_usage_errors(
        "worker",
        &[
            (&["--for", "soon"], "--for"),
            (&["--max-deliveries", "0"], "--max-deliveries"),
            (&["--service", "billing"], "--service"),
        ],
    );
    common::assert_usage_errors("reserve", &[(&["--load", "--flow", "sideways"], "--flow")]);
}
