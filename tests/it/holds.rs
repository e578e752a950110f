//! A user's live hold is never taken away by anyone else: not by another user's hold, not by
//! cache-bench's writes, not by a compensation meant for another reservation.

use crate::common;

use concert_bench::domain::booking::{Booking, BookingError, Strategy};
use concert_bench::domain::concerts::ConcertRepository;
use concert_bench::domain::services::{Event, Service};
use sqlx::mysql::MySqlPoolOptions;

use common::TestDb;

async fn fixture() -> (TestDb, Booking, Vec<i64>) {
    let db = TestDb::seeded_small().await;
    let pool = MySqlPoolOptions::new()
        .max_connections(4)
        .connect(&db.url)
        .await
        .unwrap();
    let seats = sqlx::query_scalar(
        "SELECT s.id FROM seat s JOIN performance p ON p.id = s.performance_id
         JOIN concert c ON c.id = p.concert_id
         WHERE c.status = 'OPEN' AND s.status = 'AVAILABLE' ORDER BY s.id LIMIT 3",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    (db, Booking::new(pool, None), seats)
}

/// A live reservation whose seat row was wrongly freed (what cache-bench's writes used to do)
/// is not expired by the next user's hold: that hold is refused, and the owner still pays.
#[tokio::test]
async fn another_users_hold_never_expires_a_live_reservation() {
    let (db, booking, seats) = fixture().await;
    let seat = seats[0];
    for strategy in [
        Strategy::Conditional,
        Strategy::Pessimistic,
        Strategy::Optimistic,
    ] {
        let mine = booking.hold(strategy, 1, seat).await.unwrap();
        common::exec(
            &db.pool,
            &format!("UPDATE seat SET status = 'AVAILABLE', held_until = NULL WHERE id = {seat}"),
        )
        .await;
        let theirs = booking.hold(strategy, 2, seat).await;
        assert!(
            matches!(theirs, Err(BookingError::SeatTaken(_))),
            "{strategy:?}: {theirs:?}"
        );
        let status = db
            .count(&format!(
                "SELECT status = 'HELD' FROM reservation WHERE id = {}",
                mine.reservation_id
            ))
            .await;
        assert_eq!(status, 1, "{strategy:?}: my reservation is still held");
        // Put things back for the next strategy: release my hold properly.
        common::exec(
            &db.pool,
            &format!(
                "UPDATE reservation SET status = 'CANCELLED', active_seat_id = NULL WHERE id = {}",
                mine.reservation_id
            ),
        )
        .await;
    }
    // And a live hold, untouched, is paid.
    let mine = booking
        .hold(Strategy::Conditional, 1, seats[1])
        .await
        .unwrap();
    common::exec(
        &db.pool,
        &format!(
            "UPDATE seat SET status = 'AVAILABLE', held_until = NULL WHERE id = {}",
            seats[1]
        ),
    )
    .await;
    assert!(
        booking
            .hold(Strategy::Conditional, 2, seats[1])
            .await
            .is_err()
    );
    booking.pay(1, mine.reservation_id).await.unwrap();
}

/// cache-bench's writes hold and release seats under their own holder only.
#[tokio::test]
async fn cache_bench_writes_never_release_someone_elses_hold() {
    let (db, booking, seats) = fixture().await;
    let repository = ConcertRepository::new(db.pool.clone());
    let held = booking
        .hold(Strategy::Conditional, 1, seats[0])
        .await
        .unwrap();
    let bench_holder = -77;
    assert_eq!(
        repository
            .toggle_hold(seats[0], bench_holder)
            .await
            .unwrap(),
        None
    );
    let still = db
        .count(&format!(
            "SELECT COUNT(*) FROM seat WHERE id = {} AND status = 'HELD' AND held_by = 1",
            seats[0]
        ))
        .await;
    assert_eq!(still, 1, "the user's hold was not released");
    // Its own hold it takes and gives back; another run's hold it leaves alone.
    assert!(
        repository
            .toggle_hold(seats[1], bench_holder)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(repository.toggle_hold(seats[1], -78).await.unwrap(), None);
    assert!(
        repository
            .toggle_hold(seats[1], bench_holder)
            .await
            .unwrap()
            .is_some()
    );
    let free = db
        .count(&format!(
            "SELECT status = 'AVAILABLE' FROM seat WHERE id = {}",
            seats[1]
        ))
        .await;
    assert_eq!(free, 1);
    booking.pay(1, held.reservation_id).await.unwrap();
}

/// The Concert service applies `events` in one transaction, as its consumer would.
async fn concert_applies(db: &TestDb, events: &[Event]) {
    let mut tx = db.pool.begin().await.unwrap();
    for event in events {
        Service::Concert.handle(&mut tx, event).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// A compensation names its reservation: releasing reservation A never frees the seat that a
/// later reservation B of the same user now holds.
#[tokio::test]
async fn a_release_names_the_reservation_not_the_user() {
    let (db, _booking, seats) = fixture().await;
    let seat = seats[0];
    let hold = |reservation: i64| Event::ReservationRequested {
        reservation_id: reservation,
        user_id: 1,
        seat_id: seat,
        hold_ms: 300_000,
    };
    let release = |reservation: i64| Event::SeatReleaseRequested {
        reservation_id: reservation,
        user_id: 1,
        seat_id: seat,
    };
    concert_applies(&db, &[hold(9_001)]).await;
    // Reservation 9001's hold lapses and the same user's reservation 9002 takes the seat.
    common::exec(
        &db.pool,
        &format!("UPDATE seat SET held_until = NOW(3) - INTERVAL 1 SECOND WHERE id = {seat}"),
    )
    .await;
    concert_applies(&db, &[hold(9_002), release(9_001)]).await;
    let held_for = db
        .count(&format!(
            "SELECT COALESCE(held_for, 0) FROM seat WHERE id = {seat} AND status = 'HELD'"
        ))
        .await;
    assert_eq!(
        held_for, 9_002,
        "the late compensation for 9001 left 9002's hold alone"
    );
    concert_applies(&db, &[release(9_002)]).await;
    let free = db
        .count(&format!(
            "SELECT status = 'AVAILABLE' FROM seat WHERE id = {seat}"
        ))
        .await;
    assert_eq!(free, 1, "its own compensation releases it");
}
