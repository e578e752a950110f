//! What `seed` reports: the typed document, and the table rendered from it.

use schemars::JsonSchema;
use serde::Serialize;

use super::SeedTable;
use super::Sizes;
use crate::render::output::{CommandReport, Table, thousands};
use crate::storage::db::ServerInfo;

/// `seed`'s document: a load into the database, or (with `--tsv-dir`) files for LOAD DATA.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum SeedDocument {
    Loaded(SeedReport),
    Files(TsvReport),
}

/// A data set loaded into the database.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SeedReport {
    pub database: String,
    /// The URL with its password masked.
    pub database_url: String,
    pub server: ServerInfo,
    pub rng_seed: u64,
    pub sizes: Sizes,
    pub rows: RowCounts,
    pub total_rows: u64,
    /// The load, without the schema's DDL (that is `schema_seconds`).
    pub seconds: f64,
    pub rows_per_second: f64,
    pub schema_seconds: f64,
    pub connections: u32,
    pub batch_rows: u64,
    pub tables: Vec<TableLoad>,
    /// Keys removed under the key prefix by `--reset`; null when Redis could not be reached.
    pub redis_keys_cleared: Option<u64>,
}

/// Rows per table, named as the data set counts them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RowCounts {
    pub concerts: u64,
    pub performances: u64,
    pub seats: u64,
    pub users: u64,
    pub point_wallets: u64,
    pub point_ledger: u64,
    pub reservations: u64,
    pub payments: u64,
}

impl RowCounts {
    pub fn of(counts: impl IntoIterator<Item = (SeedTable, u64)>) -> Self {
        let mut rows = Self::default();
        for (table, n) in counts {
            *match table {
                SeedTable::Concert => &mut rows.concerts,
                SeedTable::Performance => &mut rows.performances,
                SeedTable::Seat => &mut rows.seats,
                SeedTable::Users => &mut rows.users,
                SeedTable::PointWallet => &mut rows.point_wallets,
                SeedTable::PointLedger => &mut rows.point_ledger,
                SeedTable::Reservation => &mut rows.reservations,
                SeedTable::Payment => &mut rows.payments,
            } += n;
        }
        rows
    }
}

/// One table's load.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TableLoad {
    pub table: &'static str,
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
}

/// The same data set written as LOAD DATA files.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TsvReport {
    pub tsv_dir: String,
    pub rng_seed: u64,
    pub sizes: Sizes,
    pub files: Vec<TsvFile>,
    pub rows: RowCounts,
    pub total_rows: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TsvFile {
    pub table: &'static str,
    pub rows: u64,
    pub file: String,
}

impl CommandReport for SeedDocument {
    const COMMAND: &'static str = "seed";

    fn tables(&self) -> Vec<Table> {
        match self {
            SeedDocument::Loaded(r) => {
                let mut table = Table::new("", &["table", "rows", "seconds", "rows/s"]);
                for t in &r.tables {
                    table.push(vec![
                        t.table.into(),
                        thousands(t.rows as f64),
                        format!("{:.3}", t.seconds),
                        thousands(t.rows_per_second),
                    ]);
                }
                table.push(vec![
                    "total".into(),
                    thousands(r.total_rows as f64),
                    format!("{:.3}", r.seconds),
                    thousands(r.rows_per_second),
                ]);
                vec![table]
            }
            SeedDocument::Files(r) => {
                let mut table = Table::new("", &["table", "rows", "file"]);
                for f in &r.files {
                    table.push(vec![
                        f.table.into(),
                        thousands(f.rows as f64),
                        f.file.clone(),
                    ]);
                }
                vec![table]
            }
        }
    }

    fn notes(&self) -> Vec<String> {
        vec![match self {
            SeedDocument::Loaded(r) => format!(
                "Seeded {} on {} ({} {}) with rng seed {}: {} rows in {:.2} s ({} rows/s; schema {:.2} s, not counted).",
                r.database,
                r.database_url,
                r.server.flavor,
                r.server.version,
                r.rng_seed,
                thousands(r.total_rows as f64),
                r.seconds,
                thousands(r.rows_per_second),
                r.schema_seconds
            ),
            SeedDocument::Files(r) => format!(
                "Wrote {} rows to {}; load them with: mariadb --local-infile=1 DB < {}/load.sql",
                thousands(r.total_rows as f64),
                r.tsv_dir,
                r.tsv_dir
            ),
        }]
    }
}
