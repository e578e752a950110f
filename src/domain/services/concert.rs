//! The Concert service: concerts, performances and seats. It answers seat questions for the
//! Reservation service and holds, releases and sells seats when events ask.

use sqlx::{MySql, MySqlPool, Transaction};

use super::Event;
use crate::domain::booking::BookingError;

/// What the Reservation service asks before it reserves (the write-up's "seat info" step):
/// the seat's price, whether its concert is open, and whether the user exists. One read, the
/// same the direct path makes.
pub async fn seat_info(pool: &MySqlPool, user: i64, seat: i64) -> Result<i64, BookingError> {
    crate::domain::booking::bookable_seat_price(pool, user, seat).await
}

pub async fn handle(
    tx: &mut Transaction<'_, MySql>,
    event: &Event,
) -> Result<Vec<Event>, sqlx::Error> {
    Ok(match *event {
        Event::ReservationRequested {
            reservation_id,
            user_id,
            seat_id,
            hold_ms,
        } => {
            let won = sqlx::query(
                "UPDATE seat SET status = 'HELD', held_until = NOW(3) + INTERVAL ? MICROSECOND,
                 held_by = ?, held_for = ?, version = version + 1
                 WHERE id = ? AND (status = 'AVAILABLE' OR status = 'HELD' AND held_until <= NOW(3))",
            )
            .bind(hold_ms * 1_000)
            .bind(user_id)
            .bind(reservation_id)
            .bind(seat_id)
            .execute(&mut **tx)
            .await?
            .rows_affected()
                == 1;
            if won {
                let (price, held_until_ms): (i64, i64) = sqlx::query_as(
                    "SELECT price, CAST(UNIX_TIMESTAMP(held_until) * 1000 AS SIGNED) FROM seat WHERE id = ?",
                )
                .bind(seat_id)
                .fetch_one(&mut **tx)
                .await?;
                vec![Event::SeatHeld {
                    reservation_id,
                    user_id,
                    seat_id,
                    price,
                    held_until_ms,
                }]
            } else {
                vec![Event::SeatHoldFailed {
                    reservation_id,
                    seat_id,
                }]
            }
        }
        Event::SeatReleaseRequested {
            reservation_id,
            seat_id,
            ..
        } => {
            // Only this reservation's hold: the seat may have lapsed and gone to someone else
            // since, or to a later reservation of the same user.
            sqlx::query(
                "UPDATE seat SET status = 'AVAILABLE', held_until = NULL, held_by = NULL,
                 held_for = NULL, version = version + 1
                 WHERE id = ? AND status = 'HELD' AND held_for = ?",
            )
            .bind(seat_id)
            .bind(reservation_id)
            .execute(&mut **tx)
            .await?;
            Vec::new()
        }
        Event::ReservationConfirmed { seat_id, .. } => {
            sqlx::query(
                "UPDATE seat SET status = 'SOLD', held_until = NULL, version = version + 1 WHERE id = ?",
            )
            .bind(seat_id)
            .execute(&mut **tx)
            .await?;
            Vec::new()
        }
        _ => Vec::new(),
    })
}
