//! The Payment service: the `payment` table. It starts the payment saga (reservation info,
//! payment-window check, then points deducted by the Point service and the reservation
//! confirmed) and records how it ended.

use sqlx::{MySql, MySqlPool, Transaction};

use super::{Event, Service, outbox, reservation};
use crate::domain::booking::BookingError;

/// Starts paying a held reservation: a lapsed window is refused at once with nothing
/// written; otherwise a PENDING payment and its `PaymentRequested` commit together. A
/// reservation has one payment row (UNIQUE), which a failed payment may retry. The outcome
/// arrives as `PaymentCompleted` or `PaymentFailed`.
pub async fn request(pool: &MySqlPool, user: i64, reservation: i64) -> Result<i64, BookingError> {
    let held = reservation::held(pool, user, reservation).await?;
    if !held.window_open {
        return Err(BookingError::HoldExpired(reservation));
    }
    let mut tx = pool.begin().await?;
    // Insert first, look second: a locking read of an absent unique key takes gap locks
    // that deadlock concurrent payments' inserts.
    let inserted = sqlx::query(
        "INSERT INTO payment (reservation_id, user_id, amount, status, paid_at)
         VALUES (?, ?, ?, 'PENDING', NOW(3))",
    )
    .bind(reservation)
    .bind(user)
    .bind(held.price)
    .execute(&mut *tx)
    .await;
    let payment_id = match inserted {
        Ok(done) => done.last_insert_id() as i64,
        Err(e) if crate::domain::booking::is_unique_violation(&e) => {
            retry_failed(&mut tx, reservation, held.price).await?
        }
        Err(e) => return Err(e.into()),
    };
    let requested = Event::PaymentRequested {
        payment_id,
        reservation_id: reservation,
        seat_id: held.seat,
        user_id: user,
        amount: held.price,
    };
    outbox::append(&mut tx, Service::Payment, &[requested]).await?;
    tx.commit().await?;
    Ok(payment_id)
}

/// Takes up the reservation's earlier payment again if it FAILED; any other is under way or
/// done.
async fn retry_failed(
    tx: &mut Transaction<'_, MySql>,
    reservation: i64,
    price: i64,
) -> Result<i64, BookingError> {
    let retried = sqlx::query(
        "UPDATE payment SET status = 'PENDING', amount = ?, paid_at = NOW(3)
         WHERE reservation_id = ? AND status = 'FAILED'",
    )
    .bind(price)
    .bind(reservation)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if retried == 0 {
        return Err(BookingError::PaymentUnderway(reservation));
    }
    Ok(
        sqlx::query_scalar("SELECT id FROM payment WHERE reservation_id = ?")
            .bind(reservation)
            .fetch_one(&mut **tx)
            .await?,
    )
}

pub async fn handle(
    tx: &mut Transaction<'_, MySql>,
    event: &Event,
) -> Result<Vec<Event>, sqlx::Error> {
    let (payment_id, reservation_id, outcome, reason) = match *event {
        Event::ReservationConfirmed {
            payment_id,
            reservation_id,
            ..
        } => (payment_id, reservation_id, "COMPLETED", None),
        Event::PointsRejected {
            payment_id,
            reservation_id,
            balance,
            amount,
        } => (
            payment_id,
            reservation_id,
            "FAILED",
            Some(format!(
                "not enough points: the payment needs {amount}, the wallet holds {balance}; nothing was deducted"
            )),
        ),
        Event::PointsRefunded {
            payment_id,
            reservation_id,
        } => (
            payment_id,
            reservation_id,
            "FAILED",
            Some(
                "the hold expired before the reservation was confirmed; the points were refunded"
                    .into(),
            ),
        ),
        _ => return Ok(Vec::new()),
    };
    let moved = sqlx::query(
        "UPDATE payment SET status = ?, paid_at = NOW(3) WHERE id = ? AND status = 'PENDING'",
    )
    .bind(outcome)
    .bind(payment_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(Vec::new());
    }
    Ok(vec![match reason {
        None => Event::PaymentCompleted {
            payment_id,
            reservation_id,
        },
        Some(reason) => Event::PaymentFailed {
            payment_id,
            reservation_id,
            reason,
        },
    }])
}
