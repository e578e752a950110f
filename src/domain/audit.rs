//! The audit: straight from the tables, whatever any command did (or a crash left behind).
//! Each check is one query that counts offending rows; a clean audit is all zeros. It reads
//! every part of the domain (the direct booking path's tables and the services' events), so
//! it sits beside them rather than inside either.

use serde::Serialize;
use sqlx::MySqlPool;

use crate::domain::services::{Parked, unapplied_events_sql};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Audit {
    /// Seats with more than one confirmed reservation.
    pub double_sold_seats: i64,
    /// Seats with more than one live (held or confirmed) reservation.
    pub double_held_seats: i64,
    /// Seats whose status disagrees with their reservations (sold without a confirmed
    /// reservation, or a confirmed reservation on a seat that is not sold).
    pub seat_mismatches: i64,
    /// Confirmed reservations without exactly one completed payment of their price by their
    /// user, or payments for reservations that are not confirmed.
    pub payment_mismatches: i64,
    /// Wallets whose balance is not the sum of their ledger.
    pub ledger_mismatches: i64,
    pub negative_balances: i64,
    /// Seats still held past their hold's expiry (the sweeper has not released them).
    pub expired_holds_blocking: i64,
    /// Points used (ledger USE, less REFUND) differ from the prices of confirmed reservations
    /// (0 or 1).
    pub points_spent_mismatch: i64,
    /// Reservations or payments still PENDING: an event-driven saga that has not finished
    /// (zero once the workers caught up).
    pub unfinished_sagas: i64,
    /// Outbox events some consuming service has not applied (parked ones included). With
    /// `processed_event`'s key, zero means every event took effect exactly once.
    pub events_not_applied: i64,
    /// Events a consumer gave up on: money or seats are in limbo until
    /// `worker --replay-parked` drives them again.
    pub events_parked: i64,
}

const CHECKS: [(&str, &str); 10] = [
    ("double_sold_seats", "SELECT COUNT(*) FROM (SELECT seat_id FROM reservation WHERE status = 'CONFIRMED' GROUP BY seat_id HAVING COUNT(*) > 1) x"),
    ("double_held_seats", "SELECT COUNT(*) FROM (SELECT seat_id FROM reservation WHERE status IN ('HELD', 'CONFIRMED') GROUP BY seat_id HAVING COUNT(*) > 1) x"),
    ("seat_mismatches", "SELECT (SELECT COUNT(*) FROM seat s WHERE s.status = 'SOLD' AND NOT EXISTS (SELECT 1 FROM reservation r WHERE r.seat_id = s.id AND r.status = 'CONFIRMED'))
        + (SELECT COUNT(*) FROM reservation r JOIN seat s ON s.id = r.seat_id WHERE r.status = 'CONFIRMED' AND s.status <> 'SOLD')"),
    ("payment_mismatches", "SELECT (SELECT COUNT(*) FROM reservation r WHERE r.status = 'CONFIRMED' AND 1 <> (SELECT COUNT(*) FROM payment p WHERE p.reservation_id = r.id AND p.status = 'COMPLETED' AND p.amount = r.price AND p.user_id = r.user_id))
        + (SELECT COUNT(*) FROM payment p LEFT JOIN reservation r ON r.id = p.reservation_id WHERE p.status = 'COMPLETED' AND (r.id IS NULL OR r.status <> 'CONFIRMED'))"),
    ("ledger_mismatches", "SELECT COUNT(*) FROM point_wallet w WHERE w.balance <> (SELECT COALESCE(SUM(l.amount), 0) FROM point_ledger l WHERE l.user_id = w.user_id)"),
    ("negative_balances", "SELECT COUNT(*) FROM point_wallet WHERE balance < 0"),
    ("expired_holds_blocking", "SELECT COUNT(*) FROM seat WHERE status = 'HELD' AND held_until <= NOW(3)"),
    ("points_spent_mismatch", "SELECT (SELECT COALESCE(-SUM(amount), 0) FROM point_ledger WHERE kind IN ('USE', 'REFUND')) <> (SELECT COALESCE(SUM(price), 0) FROM reservation WHERE status = 'CONFIRMED')"),
    ("unfinished_sagas", "SELECT (SELECT COUNT(*) FROM reservation WHERE status = 'PENDING') + (SELECT COUNT(*) FROM payment WHERE status = 'PENDING')"),
    ("events_parked", "SELECT COUNT(*) FROM processed_event WHERE outcome = 'PARKED'"),
];

/// Every check's name and SQL: the fixed ones and the event check built from the services'
/// routes.
fn all_checks() -> Vec<(&'static str, String)> {
    CHECKS
        .iter()
        .map(|(name, sql)| (*name, sql.to_string()))
        .chain([("events_not_applied", unapplied_events_sql(Parked::Included))])
        .collect()
}

impl Audit {
    pub async fn run(pool: &MySqlPool) -> Result<Self, sqlx::Error> {
        let mut counts = [0i64; CHECKS.len() + 1];
        for (count, (_, sql)) in counts.iter_mut().zip(all_checks()) {
            *count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(({sql}) AS SIGNED)"
            )))
            .fetch_one(pool)
            .await?;
        }
        let [
            double_sold_seats,
            double_held_seats,
            seat_mismatches,
            payment_mismatches,
            ledger_mismatches,
            negative_balances,
            expired_holds_blocking,
            points_spent_mismatch,
            unfinished_sagas,
            events_parked,
            events_not_applied,
        ] = counts;
        Ok(Self {
            double_sold_seats,
            double_held_seats,
            seat_mismatches,
            payment_mismatches,
            ledger_mismatches,
            negative_balances,
            expired_holds_blocking,
            points_spent_mismatch,
            unfinished_sagas,
            events_not_applied,
            events_parked,
        })
    }

    /// Each check and its count, in order (the names are the JSON field names).
    pub fn checks(&self) -> Vec<(String, i64)> {
        let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(self) else {
            unreachable!("a struct of integers serializes to an object");
        };
        fields
            .into_iter()
            .map(|(name, n)| (name, n.as_i64().unwrap_or_default()))
            .collect()
    }

    /// One line per failed check, for the report's violations.
    pub fn findings(&self) -> Vec<String> {
        self.checks()
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|(name, n)| format!("audit: {name} = {n}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_its_field() {
        let mut fields: Vec<String> = Audit::default()
            .checks()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let mut names: Vec<String> = all_checks().iter().map(|(n, _)| n.to_string()).collect();
        fields.sort();
        names.sort();
        assert_eq!(fields, names);
    }
}
