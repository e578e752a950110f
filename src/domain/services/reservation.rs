//! The Reservation service: the `reservation` table. It starts the reservation saga (seat
//! info, check, reserve, then the seat update by the Concert service) and confirms a
//! reservation once its points are deducted, compensating where a step failed.

use std::time::Duration;

use sqlx::{MySql, MySqlPool, Transaction};

use super::{Event, Service, concert, outbox};
use crate::domain::booking::BookingError;

/// Starts a reservation: asks Concert for the seat's facts, then records a PENDING
/// reservation (whose UNIQUE `active_seat_id` turns away a second live claim of the seat at
/// once) and its `ReservationRequested`, in one transaction. The outcome arrives as
/// `ReservationHeld` or `ReservationRejected`.
pub async fn request(
    pool: &MySqlPool,
    user: i64,
    seat: i64,
    hold_for: Duration,
) -> Result<i64, BookingError> {
    let price = concert::seat_info(pool, user, seat).await?;
    let mut tx = pool.begin().await?;
    let insert = || {
        sqlx::query(
            "INSERT INTO reservation (user_id, seat_id, status, price, held_until, created_at, active_seat_id)
             VALUES (?, ?, 'PENDING', ?, NOW(3) + INTERVAL ? MICROSECOND, NOW(3), ?)",
        )
        .bind(user)
        .bind(seat)
        .bind(price)
        .bind(hold_for.as_micros() as i64)
        .bind(seat)
    };
    let mut inserted = insert().execute(&mut *tx).await;
    if matches!(&inserted, Err(e) if crate::domain::booking::is_unique_violation(e))
        && expire_lapsed_hold(&mut tx, seat).await?
    {
        inserted = insert().execute(&mut *tx).await;
    }
    let reservation_id = match inserted {
        Ok(done) => done.last_insert_id() as i64,
        Err(e) if crate::domain::booking::is_unique_violation(&e) => {
            return Err(BookingError::SeatTaken(seat));
        }
        Err(e) => return Err(e.into()),
    };
    let requested = Event::ReservationRequested {
        reservation_id,
        user_id: user,
        seat_id: seat,
        hold_ms: hold_for.as_millis() as i64,
    };
    outbox::append(&mut tx, Service::Reservation, &[requested]).await?;
    tx.commit().await?;
    Ok(reservation_id)
}

/// Expires the seat's held reservation if its hold has lapsed, so a new one may claim the seat.
/// Only asked after an insert found the seat claimed: a plain read, then an update by primary
/// key (a locking search of the unique index for an absent row takes gap locks that deadlock
/// concurrent requests' inserts).
async fn expire_lapsed_hold(
    tx: &mut Transaction<'_, MySql>,
    seat: i64,
) -> Result<bool, sqlx::Error> {
    let lapsed: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM reservation WHERE active_seat_id = ? AND status = 'HELD' AND held_until <= NOW(3)",
    )
    .bind(seat)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(lapsed) = lapsed else {
        return Ok(false);
    };
    let expired = sqlx::query(
        "UPDATE reservation SET status = 'EXPIRED', active_seat_id = NULL
         WHERE id = ? AND status = 'HELD' AND held_until <= NOW(3)",
    )
    .bind(lapsed)
    .execute(&mut **tx)
    .await?;
    Ok(expired.rows_affected() == 1)
}

/// A held reservation as the Payment service sees it: its price and whether the payment
/// window is still open.
pub struct HeldReservation {
    pub seat: i64,
    pub price: i64,
    pub window_open: bool,
}

/// The write-up's "reservation info" step of a payment. A read, never a write.
pub async fn held(
    pool: &MySqlPool,
    user: i64,
    reservation: i64,
) -> Result<HeldReservation, BookingError> {
    let found: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT seat_id, price, held_until > NOW(3) FROM reservation
         WHERE id = ? AND user_id = ? AND status = 'HELD'",
    )
    .bind(reservation)
    .bind(user)
    .fetch_optional(pool)
    .await?;
    let (seat, price, open) = found.ok_or(BookingError::UnknownReservation(reservation))?;
    Ok(HeldReservation {
        seat,
        price,
        window_open: open == 1,
    })
}

/// Cancels reservations still PENDING after `older_than` (the Concert service never
/// answered). A seat held for one afterwards is released by the compensation in [`handle`].
pub async fn cancel_stale(pool: &MySqlPool, older_than: Duration) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let stale: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM reservation WHERE status = 'PENDING'
         AND created_at <= NOW(3) - INTERVAL ? MICROSECOND FOR UPDATE",
    )
    .bind(older_than.as_micros() as i64)
    .fetch_all(&mut *tx)
    .await?;
    for &id in &stale {
        sqlx::query(
            "UPDATE reservation SET status = 'CANCELLED', active_seat_id = NULL WHERE id = ?",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let rejected = Event::ReservationRejected {
            reservation_id: id,
            reason: "the seat was not confirmed in time".into(),
        };
        outbox::append(&mut tx, Service::Reservation, &[rejected]).await?;
    }
    tx.commit().await?;
    Ok(stale.len() as u64)
}

pub async fn handle(
    tx: &mut Transaction<'_, MySql>,
    event: &Event,
) -> Result<Vec<Event>, sqlx::Error> {
    Ok(match *event {
        Event::SeatHeld {
            reservation_id,
            user_id,
            seat_id,
            price,
            held_until_ms,
        } => {
            let moved = sqlx::query(
                "UPDATE reservation SET status = 'HELD', price = ?,
                 held_until = FROM_UNIXTIME(? / 1000) WHERE id = ? AND status = 'PENDING'",
            )
            .bind(price)
            .bind(held_until_ms)
            .bind(reservation_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if moved == 1 {
                vec![Event::ReservationHeld { reservation_id }]
            } else {
                // Cancelled while Concert was holding the seat: give the seat back.
                vec![Event::SeatReleaseRequested {
                    reservation_id,
                    user_id,
                    seat_id,
                }]
            }
        }
        Event::SeatHoldFailed { reservation_id, .. } => {
            let cancelled = sqlx::query(
                "UPDATE reservation SET status = 'CANCELLED', active_seat_id = NULL
                 WHERE id = ? AND status = 'PENDING'",
            )
            .bind(reservation_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if cancelled == 1 {
                vec![Event::ReservationRejected {
                    reservation_id,
                    reason: "the seat is already held or sold".into(),
                }]
            } else {
                Vec::new()
            }
        }
        Event::PointsDeducted {
            payment_id,
            reservation_id,
            seat_id,
            user_id,
            amount,
        } => {
            let confirmed = sqlx::query(
                "UPDATE reservation SET status = 'CONFIRMED', confirmed_at = NOW(3)
                 WHERE id = ? AND status = 'HELD' AND held_until > NOW(3)",
            )
            .bind(reservation_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if confirmed == 1 {
                vec![Event::ReservationConfirmed {
                    payment_id,
                    reservation_id,
                    seat_id,
                }]
            } else {
                // The hold lapsed while the points were being deducted: they go back.
                vec![Event::ConfirmationRefused {
                    payment_id,
                    reservation_id,
                    user_id,
                    amount,
                }]
            }
        }
        _ => Vec::new(),
    })
}
