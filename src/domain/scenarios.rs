//! The write-up's six scenario queries, as the domain runs them. Each names the tables it reads
//! (with a slot for index hints) and the columns it joins or filters on, which is what the
//! index advisor reasons about.

use anyhow::{Result, bail};
use clap::ValueEnum;
use serde::Serialize;
use sqlx::MySqlPool;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    ValueEnum,
    Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Scenario {
    /// 1. all concerts with their dates (concert JOIN performance)
    ConcertsWithDates,
    /// 2. one concert by id with its performances and seats
    ConcertDetail,
    /// 3. concert by seat id
    ConcertBySeat,
    /// 4. performance by seat id
    PerformanceBySeat,
    /// 5. seat by seat id
    SeatById,
    /// 6. reservation by id with its seat
    ReservationById,
}

/// Which id a scenario is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum Param {
    None,
    Concert,
    Seat,
    Reservation,
}

/// Ids picked from the seeded data: an open concert, a sold seat, that seat's reservation.
#[derive(Debug, Clone, Copy, Serialize, schemars::JsonSchema)]
pub struct Params {
    pub concert_id: i64,
    pub seat_id: i64,
    pub reservation_id: i64,
}

impl Params {
    pub async fn pick(pool: &MySqlPool) -> Result<Self> {
        let picked: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT p.concert_id, r.seat_id, r.id FROM reservation r \
             JOIN seat s ON s.id = r.seat_id JOIN performance p ON p.id = s.performance_id \
             JOIN concert c ON c.id = p.concert_id \
             WHERE r.status = 'CONFIRMED' AND c.status = 'OPEN' ORDER BY r.id LIMIT 1",
        )
        .fetch_optional(pool)
        .await?;
        let Some((concert_id, seat_id, reservation_id)) = picked else {
            bail!(
                "the data set has no confirmed reservation in an open concert to query: seed with --reserved-per-open-concert 1 or more"
            );
        };
        Ok(Self {
            concert_id,
            seat_id,
            reservation_id,
        })
    }

    pub fn value(&self, param: Param) -> Option<i64> {
        match param {
            Param::None => None,
            Param::Concert => Some(self.concert_id),
            Param::Seat => Some(self.seat_id),
            Param::Reservation => Some(self.reservation_id),
        }
    }
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::ConcertsWithDates,
        Scenario::ConcertDetail,
        Scenario::ConcertBySeat,
        Scenario::PerformanceBySeat,
        Scenario::SeatById,
        Scenario::ReservationById,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::ConcertsWithDates => "concerts_with_dates",
            Scenario::ConcertDetail => "concert_detail",
            Scenario::ConcertBySeat => "concert_by_seat",
            Scenario::PerformanceBySeat => "performance_by_seat",
            Scenario::SeatById => "seat_by_id",
            Scenario::ReservationById => "reservation_by_id",
        }
    }

    /// The SQL, with `{table}` where that table's index hint goes and `?` for the parameter.
    fn template(self) -> &'static str {
        match self {
            Scenario::ConcertsWithDates => {
                "SELECT c.id, c.title, c.artist, c.status, p.id, p.starts_at \
                 FROM concert c {concert} JOIN performance p {performance} ON p.concert_id = c.id \
                 ORDER BY c.id, p.starts_at"
            }
            Scenario::ConcertDetail => {
                "SELECT c.id, c.title, p.id, p.starts_at, s.id, s.seat_no, s.grade, s.price, s.status, s.version \
                 FROM concert c {concert} JOIN performance p {performance} ON p.concert_id = c.id \
                 JOIN seat s {seat} ON s.performance_id = p.id WHERE c.id = ?"
            }
            Scenario::ConcertBySeat => {
                "SELECT c.id, c.title, c.artist, c.venue, c.status FROM seat s {seat} \
                 JOIN performance p {performance} ON p.id = s.performance_id \
                 JOIN concert c {concert} ON c.id = p.concert_id WHERE s.id = ?"
            }
            Scenario::PerformanceBySeat => {
                "SELECT p.id, p.concert_id, p.starts_at FROM seat s {seat} \
                 JOIN performance p {performance} ON p.id = s.performance_id WHERE s.id = ?"
            }
            Scenario::SeatById => {
                "SELECT s.id, s.performance_id, s.seat_no, s.grade, s.price, s.status FROM seat s {seat} WHERE s.id = ?"
            }
            Scenario::ReservationById => {
                "SELECT r.id, r.user_id, r.status, r.price, r.held_until, s.id, s.seat_no, s.grade \
                 FROM reservation r {reservation} JOIN seat s {seat} ON s.id = r.seat_id WHERE r.id = ?"
            }
        }
    }

    pub fn param(self) -> Param {
        match self {
            Scenario::ConcertsWithDates => Param::None,
            Scenario::ConcertDetail => Param::Concert,
            Scenario::ConcertBySeat | Scenario::PerformanceBySeat | Scenario::SeatById => {
                Param::Seat
            }
            Scenario::ReservationById => Param::Reservation,
        }
    }

    /// Tables the query reads (each has a hint slot in the template).
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Scenario::ConcertsWithDates => &["concert", "performance"],
            Scenario::ConcertDetail | Scenario::ConcertBySeat => {
                &["concert", "performance", "seat"]
            }
            Scenario::PerformanceBySeat => &["performance", "seat"],
            Scenario::SeatById => &["seat"],
            Scenario::ReservationById => &["reservation", "seat"],
        }
    }

    /// Columns each table is joined or filtered on: where an index could help.
    pub fn access_columns(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Scenario::ConcertsWithDates => &[("concert", "id"), ("performance", "concert_id")],
            Scenario::ConcertDetail => &[
                ("concert", "id"),
                ("performance", "concert_id"),
                ("seat", "performance_id"),
            ],
            Scenario::ConcertBySeat => &[("seat", "id"), ("performance", "id"), ("concert", "id")],
            Scenario::PerformanceBySeat => &[("seat", "id"), ("performance", "id")],
            Scenario::SeatById => &[("seat", "id")],
            Scenario::ReservationById => &[("reservation", "id"), ("seat", "id")],
        }
    }

    /// Columns the query reads from each table (what a covering index would have to hold).
    pub fn read_columns(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Scenario::ConcertsWithDates => &[
                ("concert", "title"),
                ("concert", "artist"),
                ("concert", "status"),
                ("performance", "starts_at"),
            ],
            Scenario::ConcertDetail => &[
                ("concert", "title"),
                ("performance", "starts_at"),
                ("seat", "seat_no"),
                ("seat", "grade"),
                ("seat", "price"),
                ("seat", "status"),
                ("seat", "version"),
            ],
            Scenario::ConcertBySeat => &[
                ("concert", "title"),
                ("concert", "artist"),
                ("concert", "venue"),
                ("concert", "status"),
                ("seat", "performance_id"),
                ("performance", "concert_id"),
            ],
            Scenario::PerformanceBySeat => &[
                ("performance", "concert_id"),
                ("performance", "starts_at"),
                ("seat", "performance_id"),
            ],
            Scenario::SeatById => &[
                ("seat", "performance_id"),
                ("seat", "seat_no"),
                ("seat", "grade"),
                ("seat", "price"),
                ("seat", "status"),
            ],
            Scenario::ReservationById => &[
                ("reservation", "user_id"),
                ("reservation", "status"),
                ("reservation", "price"),
                ("reservation", "held_until"),
                ("reservation", "seat_id"),
                ("seat", "seat_no"),
                ("seat", "grade"),
            ],
        }
    }

    /// The SQL with each table's hint filled in by `hint(table)`.
    pub fn sql(self, hint: impl Fn(&str) -> String) -> String {
        let mut sql = self.template().to_string();
        for table in self.tables() {
            sql = sql.replace(&format!("{{{table}}}"), &hint(table));
        }
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_read_column_is_in_the_query() {
        for scenario in Scenario::ALL {
            let sql = scenario.template();
            for (table, column) in scenario.read_columns() {
                let alias = &table[..1];
                assert!(
                    sql.contains(&format!("{alias}.{column}")),
                    "{table}.{column}: {sql}"
                );
            }
        }
    }

    #[test]
    fn every_hint_slot_is_filled_and_every_table_has_one() {
        for scenario in Scenario::ALL {
            let sql = scenario.sql(|t| format!("/*{t}*/"));
            assert!(!sql.contains('{'), "{sql}");
            for table in scenario.tables() {
                assert!(sql.contains(&format!("/*{table}*/")), "{sql}");
            }
            assert_eq!(sql.contains('?'), scenario.param() != Param::None, "{sql}");
        }
    }
}
