//! The waiting queue's rules, checked on both stores through the one trait: real Redis under a
//! per-test prefix, and a real database per test. Time is a manual clock, so TTLs and rate
//! periods are crossed exactly.

use crate::common;

use std::time::Duration;

use concert_bench::domain::queue::{
    Admission, Clock, DatabaseQueue, Position, QueueConfig, RedisQueue, WaitingQueue,
};
use concert_bench::keyspace::{self, KeyPrefix};
use sqlx::mysql::MySqlPoolOptions;

use common::TestDb;

/// A period start far from any boundary: rate periods are whole multiples of their length.
const T0: i64 = 1_800_000_000_000;
const TTL: Duration = Duration::from_secs(300);

/// Runs one check (a generic async fn) against a Redis queue and a database queue built from
/// the same rules.
macro_rules! on_both_backends {
    ($check:ident, $policy:expr) => {
        mod $check {
            use super::*;

            #[tokio::test]
            async fn redis() {
                let clock = Clock::manual(T0);
                let prefix = KeyPrefix::parse(&common::unique_name("cbt:q")).unwrap();
                let conn = keyspace::connect(
                    &concert_bench::keyspace::RedisTarget::parse(&common::redis_url()).unwrap(),
                )
                .await
                .unwrap();
                let queue = RedisQueue::new(conn, &prefix, config($policy), clock.clone());
                super::$check(&queue, &clock).await;
                queue.clear().await.unwrap();
            }

            #[tokio::test]
            async fn database() {
                let db = TestDb::migrated().await;
                let pool = MySqlPoolOptions::new()
                    .max_connections(4)
                    .connect(&db.url)
                    .await
                    .unwrap();
                let clock = Clock::manual(T0);
                let queue = DatabaseQueue::new(pool, config($policy), clock.clone());
                super::$check(&queue, &clock).await;
            }
        }
    };
}

fn config(policy: &str) -> QueueConfig {
    QueueConfig {
        concert: 7,
        policy: concert_bench::commands::flags::parse_policy(policy).unwrap(),
        ttl: TTL,
    }
}

fn waiting_at(position: Position) -> u64 {
    match position {
        Position::Waiting { position, .. } => position,
        other => panic!("expected a waiting position, got {other:?}"),
    }
}

async fn enter_all(queue: &impl WaitingQueue, users: impl IntoIterator<Item = u64>) {
    for user in users {
        queue.enter(user).await.unwrap();
    }
}

fn users(admission: &Admission) -> Vec<u64> {
    admission.admitted.iter().map(|a| a.user).collect()
}

on_both_backends!(positions_are_one_based_and_exact, "capacity:2");
async fn positions_are_one_based_and_exact(queue: &impl WaitingQueue, _: &Clock) {
    enter_all(queue, 11..=15).await;
    for (i, user) in (11..=15).enumerate() {
        assert_eq!(
            waiting_at(queue.position(user).await.unwrap()),
            i as u64 + 1
        );
    }
    // The first in line is at position 1, not mistaken for "not in the queue".
    assert!(matches!(
        queue.position(11).await.unwrap(),
        Position::Waiting { position: 1, .. }
    ));
    assert_eq!(queue.position(99).await.unwrap(), Position::Absent);
    assert!(queue.leave(13).await.unwrap());
    assert_eq!(waiting_at(queue.position(14).await.unwrap()), 3);
    assert_eq!(queue.position(13).await.unwrap(), Position::Absent);
}

on_both_backends!(entering_twice_keeps_one_place, "capacity:2");
async fn entering_twice_keeps_one_place(queue: &impl WaitingQueue, _: &Clock) {
    let first = queue.enter(1).await.unwrap();
    enter_all(queue, 2..=3).await;
    let again = queue.enter(1).await.unwrap();
    assert_eq!(again.token, first.token);
    assert_eq!(again.arrival, first.arrival);
    assert_eq!(waiting_at(again.position), 1);
    assert_eq!(waiting_at(queue.position(3).await.unwrap()), 3);
}

on_both_backends!(
    capacity_admits_in_order_and_never_past_the_cap,
    "capacity:3"
);
async fn capacity_admits_in_order_and_never_past_the_cap(queue: &impl WaitingQueue, _: &Clock) {
    enter_all(queue, 1..=5).await;
    let first = queue.admit().await.unwrap();
    assert_eq!(users(&first), [1, 2, 3]);
    assert_eq!((first.active, first.waiting), (3, 2));
    let arrivals: Vec<u64> = first.admitted.iter().map(|a| a.arrival).collect();
    assert!(arrivals.windows(2).all(|w| w[0] < w[1]), "{arrivals:?}");
    assert!(
        users(&queue.admit().await.unwrap()).is_empty(),
        "cap exceeded"
    );
    // No admitted user is left in the waiting set (the original's bug).
    assert_eq!(queue.count_waiting(&[1, 2, 3, 4, 5]).await.unwrap(), 2);
    assert!(matches!(
        queue.position(2).await.unwrap(),
        Position::Active { .. }
    ));
    assert!(queue.complete(2).await.unwrap());
    assert!(!queue.complete(2).await.unwrap());
    let next = queue.admit().await.unwrap();
    assert_eq!(users(&next), [4]);
    assert_eq!(next.active, 3);
}

on_both_backends!(rate_admits_exactly_n_per_period, "rate:2/1m");
async fn rate_admits_exactly_n_per_period(queue: &impl WaitingQueue, clock: &Clock) {
    enter_all(queue, 1..=7).await;
    assert_eq!(users(&queue.admit().await.unwrap()), [1, 2]);
    clock.advance(Duration::from_secs(30));
    assert!(users(&queue.admit().await.unwrap()).is_empty());
    clock.advance(Duration::from_secs(30));
    assert_eq!(users(&queue.admit().await.unwrap()), [3, 4]);
    assert!(users(&queue.admit().await.unwrap()).is_empty());
    // A rate policy promises its rate, so a wait estimate exists before anyone is admitted:
    // position 3 at 2 per minute is 90 s away.
    match queue.position(7).await.unwrap() {
        Position::Waiting { position: 3, eta } => {
            assert_eq!(eta, Some(Duration::from_secs(90)))
        }
        other => panic!("{other:?}"),
    }
}

on_both_backends!(an_expired_token_is_refused, "capacity:5");
async fn an_expired_token_is_refused(queue: &impl WaitingQueue, clock: &Clock) {
    let ticket = queue.enter(1).await.unwrap();
    assert!(
        !queue.is_active(1, &ticket.token).await.unwrap(),
        "active before admission"
    );
    queue.admit().await.unwrap();
    assert!(queue.is_active(1, &ticket.token).await.unwrap());
    assert!(!queue.is_active(1, "forged").await.unwrap());
    clock.advance(TTL);
    assert!(!queue.is_active(1, &ticket.token).await.unwrap());
    assert_eq!(queue.position(1).await.unwrap(), Position::Absent);
    assert_eq!(queue.admit().await.unwrap().expired, 1);
    // Entering again after expiry is a new arrival at the back, with a new token.
    queue.enter(2).await.unwrap();
    let again = queue.enter(1).await.unwrap();
    assert_ne!(again.token, ticket.token);
    assert_eq!(waiting_at(again.position), 2);
}

on_both_backends!(payment_ends_the_turn, "capacity:1");
async fn payment_ends_the_turn(queue: &impl WaitingQueue, _: &Clock) {
    let ticket = queue.enter(1).await.unwrap();
    queue.enter(2).await.unwrap();
    queue.admit().await.unwrap();
    assert!(queue.complete(1).await.unwrap());
    assert!(!queue.is_active(1, &ticket.token).await.unwrap());
    assert_eq!(users(&queue.admit().await.unwrap()), [2]);
}
