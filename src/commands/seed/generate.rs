//! Row generation. Every row is a pure function of the plan and its id (random fields come from
//! an RNG keyed by seed, table and id), so chunks can be generated in any order, on any worker,
//! with any batch size, and the same `--rng-seed` still yields byte-identical tables.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use fake::Fake;
use fake::RngExt;
use fake::faker::name::raw::Name;
use fake::locales::Data;
use fake::rand::SeedableRng;
use fake::rand::rngs::ChaCha8Rng;

use super::plan::SeedPlan;

/// One column value, bound as a parameter (or written to a LOAD DATA file).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Text(String),
    Enum(&'static str),
    Time(NaiveDateTime),
    Null,
}

/// A table the seed fills, and the columns it writes (the rest take their defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedTable {
    Concert,
    Performance,
    Users,
    PointWallet,
    PointLedger,
    Reservation,
    Payment,
    Seat,
}

impl SeedTable {
    /// Load order: small tables first so their bars finish early; seats last and longest.
    pub const ALL: [SeedTable; 8] = [
        SeedTable::Concert,
        SeedTable::Performance,
        SeedTable::Users,
        SeedTable::PointWallet,
        SeedTable::PointLedger,
        SeedTable::Reservation,
        SeedTable::Payment,
        SeedTable::Seat,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SeedTable::Concert => "concert",
            SeedTable::Performance => "performance",
            SeedTable::Users => "users",
            SeedTable::PointWallet => "point_wallet",
            SeedTable::PointLedger => "point_ledger",
            SeedTable::Reservation => "reservation",
            SeedTable::Payment => "payment",
            SeedTable::Seat => "seat",
        }
    }

    pub fn columns(self) -> &'static [&'static str] {
        match self {
            SeedTable::Concert => &[
                "id",
                "title",
                "artist",
                "venue",
                "status",
                "booking_opens_at",
                "created_at",
            ],
            SeedTable::Performance => &["id", "concert_id", "starts_at"],
            SeedTable::Users => &["id", "name", "email", "created_at"],
            SeedTable::PointWallet => &["user_id", "balance", "updated_at"],
            SeedTable::PointLedger => &[
                "id",
                "user_id",
                "kind",
                "amount",
                "reservation_id",
                "created_at",
            ],
            SeedTable::Reservation => &[
                "id",
                "user_id",
                "seat_id",
                "status",
                "price",
                "held_until",
                "created_at",
                "confirmed_at",
                "active_seat_id",
            ],
            SeedTable::Payment => &[
                "id",
                "reservation_id",
                "user_id",
                "amount",
                "status",
                "paid_at",
            ],
            SeedTable::Seat => &[
                "id",
                "performance_id",
                "seat_no",
                "grade",
                "price",
                "status",
            ],
        }
    }

    pub fn rows(self, plan: &SeedPlan) -> u64 {
        let sizes = &plan.sizes;
        let bookings = plan.bookings.len() as u64;
        match self {
            SeedTable::Concert => sizes.concerts,
            SeedTable::Performance => sizes.concerts * sizes.performances_per_concert,
            SeedTable::Users | SeedTable::PointWallet => sizes.users,
            SeedTable::PointLedger => sizes.users + bookings,
            SeedTable::Reservation | SeedTable::Payment => bookings,
            SeedTable::Seat => sizes.seats(),
        }
    }
}

/// The data set's "now": fixed, so that the same seed gives the same timestamps on any day.
pub fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("valid date")
}

/// Appends rows `first..first + count` (0-based row indexes) of `table` to `out`, flat:
/// `columns().len()` values per row.
pub fn generate(plan: &SeedPlan, table: SeedTable, first: u64, count: u64, out: &mut Vec<Value>) {
    use Value::*;
    let sizes = &plan.sizes;
    let t0 = epoch();
    let users = sizes.users as i64;
    for index in first as i64..(first + count) as i64 {
        let id = index + 1;
        match table {
            SeedTable::Concert => {
                let mut rng = row_rng(plan.rng_seed, table, id);
                let artist: String = Name(KO_KR).fake_with_rng(&mut rng);
                let tour = TOURS[rng.random_range(0..TOURS.len())];
                let venue = VENUES[rng.random_range(0..VENUES.len())];
                let (status, opens) = if plan.is_open(id) {
                    ("OPEN", t0 - Duration::days(rng.random_range(1..=30)))
                } else {
                    ("SCHEDULED", t0 + Duration::days(rng.random_range(7..=180)))
                };
                out.extend([
                    Int(id),
                    Text(format!("{artist} {tour}")),
                    Text(artist),
                    Enum(venue),
                    Enum(status),
                    Time(opens),
                    Time(opens - Duration::days(30)),
                ]);
            }
            SeedTable::Performance => {
                let concert = sizes.concert_of_performance(id);
                let day = (concert % 180) + 30 + (index % sizes.performances_per_concert as i64);
                out.extend([
                    Int(id),
                    Int(concert),
                    Time(t0 + Duration::days(day) + Duration::hours(19)),
                ]);
            }
            SeedTable::Users => {
                let mut rng = row_rng(plan.rng_seed, table, id);
                let name: String = Name(KO_KR).fake_with_rng(&mut rng);
                let joined = t0 - Duration::seconds(rng.random_range(86_400..=730 * 86_400));
                out.extend([
                    Int(id),
                    Text(name),
                    Text(format!("user{id}@example.com")),
                    Time(joined),
                ]);
            }
            SeedTable::PointWallet => {
                out.extend([Int(id), Int(opening_points(plan.rng_seed, id)), Time(t0)]);
            }
            SeedTable::PointLedger if index < users => {
                let charged = opening_points(plan.rng_seed, id) + plan.spent_by(id);
                out.extend([
                    Int(id),
                    Int(id),
                    Enum("CHARGE"),
                    Int(charged),
                    Null,
                    Time(t0 - Duration::days(30)),
                ]);
            }
            SeedTable::PointLedger => {
                let r = (index - users) as usize;
                let b = &plan.bookings[r];
                let paid = hold_time(b.minutes_before_epoch) + Duration::minutes(2);
                out.extend([
                    Int(id),
                    Int(b.user_id),
                    Enum("USE"),
                    Int(-b.price),
                    Int(r as i64 + 1),
                    Time(paid),
                ]);
            }
            SeedTable::Reservation => {
                let b = &plan.bookings[index as usize];
                let held = hold_time(b.minutes_before_epoch);
                out.extend([
                    Int(id),
                    Int(b.user_id),
                    Int(b.seat_id),
                    Enum("CONFIRMED"),
                    Int(b.price),
                    Time(held + Duration::minutes(5)),
                    Time(held),
                    Time(held + Duration::minutes(2)),
                    Int(b.seat_id),
                ]);
            }
            SeedTable::Payment => {
                let b = &plan.bookings[index as usize];
                let paid = hold_time(b.minutes_before_epoch) + Duration::minutes(2);
                out.extend([
                    Int(id),
                    Int(id),
                    Int(b.user_id),
                    Int(b.price),
                    Enum("COMPLETED"),
                    Time(paid),
                ]);
            }
            SeedTable::Seat => {
                let (grade, price) = sizes.seat_grade(id);
                let status = if plan.is_sold(id) {
                    "SOLD"
                } else {
                    "AVAILABLE"
                };
                out.extend([
                    Int(id),
                    Int(sizes.performance_of_seat(id)),
                    Int(sizes.seat_no(id)),
                    Enum(grade),
                    Int(price),
                    Enum(status),
                ]);
            }
        }
    }
}

fn hold_time(minutes_before_epoch: i64) -> NaiveDateTime {
    epoch() - Duration::minutes(minutes_before_epoch)
}

/// Points a user holds after the seed (charged minus spent): 100,000 to 1,000,000 in thousands.
/// A hash of (seed, user) rather than a shared RNG, so wallet and ledger agree chunk by chunk.
pub fn opening_points(rng_seed: u64, user_id: i64) -> i64 {
    100_000
        + (splitmix64(rng_seed ^ (user_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 901) as i64
            * 1_000
}

fn row_rng(rng_seed: u64, table: SeedTable, id: i64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&rng_seed.to_le_bytes());
    key[8..16].copy_from_slice(&(table as u64).to_le_bytes());
    key[16..24].copy_from_slice(&id.to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const TOURS: &[&str] = &[
    "전국투어 콘서트",
    "단독 콘서트",
    "앙코르 콘서트",
    "월드투어 인 서울",
    "팬미팅",
    "연말 콘서트",
];
const VENUES: &[&str] = &[
    "KSPO DOME",
    "고척스카이돔",
    "잠실실내체육관",
    "올림픽홀",
    "블루스퀘어",
    "세종문화회관",
    "부산 벡스코",
    "대구 엑스코",
];

/// `fake` ships no Korean locale; names are family name + given name, without a space.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy)]
pub struct KO_KR;

impl Data for KO_KR {
    const NAME_FIRST_NAME: &'static [&'static str] = &[
        "민준", "서준", "도윤", "예준", "시우", "하준", "주원", "지호", "지후", "준우", "서연",
        "서윤", "지우", "서현", "민서", "하은", "하윤", "윤서", "지유", "채원", "지민", "수아",
        "다은", "은서", "예린", "현우", "건우", "우진", "선우", "유준",
    ];
    const NAME_LAST_NAME: &'static [&'static str] = &[
        "김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권",
        "황", "안", "송",
    ];
    const NAME_TPL: &'static str = "{LastName}{FirstName}";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(extra: &[&str]) -> SeedPlan {
        SeedPlan::new(&crate::commands::seed::tests::args(extra)).unwrap()
    }

    fn rows(plan: &SeedPlan, table: SeedTable, first: u64, count: u64) -> Vec<Value> {
        let mut out = Vec::new();
        generate(plan, table, first, count, &mut out);
        out
    }

    #[test]
    fn chunking_does_not_change_the_rows() {
        let plan = plan(&[]);
        for table in SeedTable::ALL {
            let n = table.rows(&plan).min(700);
            let whole = rows(&plan, table, 0, n);
            let mut pieces = rows(&plan, table, 0, n / 3);
            pieces.extend(rows(&plan, table, n / 3, n - n / 3));
            assert_eq!(whole, pieces, "{}", table.name());
            assert_eq!(whole.len() as u64, n * table.columns().len() as u64);
        }
    }

    #[test]
    fn names_are_korean_and_depend_on_the_seed() {
        let a = rows(&plan(&[]), SeedTable::Users, 0, 1);
        let b = rows(&plan(&["--rng-seed", "43"]), SeedTable::Users, 0, 1);
        let Value::Text(name) = &a[1] else {
            panic!("name is text")
        };
        assert!(
            name.chars().all(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c)),
            "{name}"
        );
        assert_ne!(a, b);
    }

    #[test]
    fn ledger_sums_to_the_wallet_balance() {
        let plan = plan(&[]);
        let ledger = rows(
            &plan,
            SeedTable::PointLedger,
            0,
            SeedTable::PointLedger.rows(&plan),
        );
        let mut sums = std::collections::HashMap::<i64, i64>::new();
        for row in ledger.chunks(6) {
            let (Value::Int(user), Value::Int(amount)) = (&row[1], &row[3]) else {
                panic!("ints")
            };
            *sums.entry(*user).or_default() += amount;
        }
        let wallets = rows(&plan, SeedTable::PointWallet, 0, 1000);
        for row in wallets.chunks(3) {
            let (Value::Int(user), Value::Int(balance)) = (&row[0], &row[1]) else {
                panic!("ints")
            };
            assert_eq!(sums[user], *balance);
            assert!(*balance >= 100_000);
        }
    }

    #[test]
    fn sold_seats_match_reservations() {
        let plan = plan(&[]);
        let seats = rows(&plan, SeedTable::Seat, 0, SeedTable::Seat.rows(&plan));
        let sold = seats
            .chunks(6)
            .filter(|r| r[5] == Value::Enum("SOLD"))
            .count();
        assert_eq!(sold, plan.bookings.len());
    }
}
