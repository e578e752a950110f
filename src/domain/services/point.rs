//! The Point service: wallets and their ledger. It deducts points for a payment (or says why
//! not, with nothing deducted) and refunds them when the payment saga compensates.

use sqlx::{MySql, Transaction};

use super::Event;

pub async fn handle(
    tx: &mut Transaction<'_, MySql>,
    event: &Event,
) -> Result<Vec<Event>, sqlx::Error> {
    Ok(match *event {
        Event::PaymentRequested {
            payment_id,
            reservation_id,
            seat_id,
            user_id,
            amount,
        } => {
            // The balance test and the deduction are one statement: no lost update, and the
            // wallet's CHECK (balance >= 0) is never the thing that says no.
            let deducted = sqlx::query(
                "UPDATE point_wallet SET balance = balance - ?, version = version + 1,
                 updated_at = NOW() WHERE user_id = ? AND balance >= ?",
            )
            .bind(amount)
            .bind(user_id)
            .bind(amount)
            .execute(&mut **tx)
            .await?
            .rows_affected()
                == 1;
            if deducted {
                ledger(tx, user_id, "USE", -amount, reservation_id).await?;
                vec![Event::PointsDeducted {
                    payment_id,
                    reservation_id,
                    seat_id,
                    user_id,
                    amount,
                }]
            } else {
                let balance: Option<i64> =
                    sqlx::query_scalar("SELECT balance FROM point_wallet WHERE user_id = ?")
                        .bind(user_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                vec![Event::PointsRejected {
                    payment_id,
                    reservation_id,
                    balance: balance.unwrap_or(0),
                    amount,
                }]
            }
        }
        Event::ConfirmationRefused {
            payment_id,
            reservation_id,
            user_id,
            amount,
        } => {
            sqlx::query(
                "UPDATE point_wallet SET balance = balance + ?, version = version + 1,
                 updated_at = NOW() WHERE user_id = ?",
            )
            .bind(amount)
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
            ledger(tx, user_id, "REFUND", amount, reservation_id).await?;
            vec![Event::PointsRefunded {
                payment_id,
                reservation_id,
            }]
        }
        _ => Vec::new(),
    })
}

async fn ledger(
    tx: &mut Transaction<'_, MySql>,
    user: i64,
    kind: &str,
    amount: i64,
    reservation: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO point_ledger (user_id, kind, amount, reservation_id, created_at)
         VALUES (?, ?, ?, ?, NOW())",
    )
    .bind(user)
    .bind(kind)
    .bind(amount)
    .bind(reservation)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
