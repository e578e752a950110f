//! Index variants as per-query hints: a variant names the secondary indexes the optimizer may
//! use; every other secondary index of a table is hidden with `IGNORE INDEX`. The hints never
//! change the schema; an index no variant can stand for without one is created only with
//! `--create-indexes` (see [`super::scratch`]), and dropped again.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use serde::Serialize;
use sqlx::{AssertSqlSafe, MySqlPool};

/// A secondary index as the server describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct IndexDef {
    pub name: String,
    pub columns: Vec<String>,
}

/// The secondary indexes and the columns of the tables the scenarios read, read from the server.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    indexes: BTreeMap<String, Vec<IndexDef>>,
    columns: BTreeMap<String, Vec<String>>,
    /// (table, index) of the UNIQUE secondary indexes: a constraint, never redundant.
    unique: Vec<(String, String)>,
}

/// An index whose columns lead another index of the same table, so every lookup it serves
/// the other serves too (pt-duplicate-key-checker's rule; a UNIQUE index is a constraint and
/// never counted): dropping it saves its writes and space.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Redundant {
    pub table: String,
    pub index: String,
    pub columns: Vec<String>,
    pub covered_by: String,
    pub covered_by_columns: Vec<String>,
    /// What a DBA would run (after checking no query names the index in a hint).
    pub ddl: String,
}

impl Catalog {
    /// The database's columns and the indexes a plan may use: MySQL's INVISIBLE and MariaDB's
    /// IGNORED indexes are left out, since a hint that names one is an error.
    pub async fn load(pool: &MySqlPool) -> Result<Self, sqlx::Error> {
        Self::load_seeing(pool, false).await
    }

    /// As [`Catalog::load`], with the invisible indexes of a `--trials invisible` run, which
    /// its measuring session (and only it) may use.
    pub async fn load_with_trials(pool: &MySqlPool) -> Result<Self, sqlx::Error> {
        Self::load_seeing(pool, true).await
    }

    async fn load_seeing(pool: &MySqlPool, trials: bool) -> Result<Self, sqlx::Error> {
        let version: String = sqlx::query_scalar("SELECT VERSION()")
            .fetch_one(pool)
            .await?;
        let usable = if version.to_ascii_lowercase().contains("mariadb") {
            "ignored = 'NO'"
        } else if trials {
            "(is_visible = 'YES' OR index_name LIKE 'cb\\_trial\\_%')"
        } else {
            "is_visible = 'YES'"
        };
        let mut catalog = Catalog::default();
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position",
        )
        .fetch_all(pool)
        .await?;
        for (table, column) in columns {
            catalog.columns.entry(table).or_default().push(column);
        }
        let parts: Vec<(String, String, String, i64)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT CAST(table_name AS CHAR), CAST(index_name AS CHAR), CAST(column_name AS CHAR), \
                    CAST(non_unique AS SIGNED) \
             FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND index_name <> 'PRIMARY' AND {usable} \
             ORDER BY table_name, index_name, seq_in_index"
        )))
        .fetch_all(pool)
        .await?;
        for (table, index, column, non_unique) in parts {
            if non_unique == 0 && !catalog.unique.contains(&(table.clone(), index.clone())) {
                catalog.unique.push((table.clone(), index.clone()));
            }
            let indexes = catalog.indexes.entry(table).or_default();
            match indexes.last_mut() {
                Some(last) if last.name == index => last.columns.push(column),
                _ => indexes.push(IndexDef {
                    name: index,
                    columns: vec![column],
                }),
            }
        }
        Ok(catalog)
    }

    pub fn secondary_indexes(&self, table: &str) -> &[IndexDef] {
        self.indexes.get(table).map_or(&[], Vec::as_slice)
    }

    /// An existing index whose leading columns are exactly `columns`: the one with no other
    /// columns if there is one, else the shortest (a covering index must not stand in for
    /// the plain one it is judged against).
    pub fn index_on(&self, table: &str, columns: &[String]) -> Option<&IndexDef> {
        self.secondary_indexes(table)
            .iter()
            .filter(|i| i.columns.starts_with(columns))
            .min_by_key(|i| i.columns.len())
    }

    /// The index on exactly `columns`, in that order.
    pub fn exact_index(&self, table: &str, columns: &[String]) -> Option<&IndexDef> {
        self.secondary_indexes(table)
            .iter()
            .find(|i| i.columns == columns)
    }

    /// The redundant indexes of every table (see [`Redundant`]).
    pub fn redundant(&self) -> Vec<Redundant> {
        let mut found = Vec::new();
        for (table, indexes) in &self.indexes {
            let unique = |i: &IndexDef| self.unique.contains(&(table.clone(), i.name.clone()));
            for index in indexes.iter().filter(|i| !unique(i)) {
                // Another index it leads; of two with the same columns, the one that is
                // UNIQUE, or else the first by name, stays.
                let cover = indexes.iter().find(|other| {
                    other.name != index.name
                        && other.columns.starts_with(&index.columns)
                        && (other.columns.len() > index.columns.len()
                            || unique(other)
                            || other.name < index.name)
                });
                if let Some(cover) = cover {
                    found.push(Redundant {
                        table: table.clone(),
                        index: index.name.clone(),
                        columns: index.columns.clone(),
                        covered_by: cover.name.clone(),
                        covered_by_columns: cover.columns.clone(),
                        ddl: format!(
                            "ALTER TABLE {} DROP INDEX {};",
                            crate::storage::db::quote_identifier(table),
                            crate::storage::db::quote_identifier(&index.name)
                        ),
                    });
                }
            }
        }
        found
    }

    /// The columns of `table`, in table order (none for a table that does not exist).
    pub fn columns_of(&self, table: &str) -> &[String] {
        self.columns.get(table).map_or(&[], Vec::as_slice)
    }

    pub fn has_column(&self, table: &str, column: &str) -> bool {
        self.columns_of(table).iter().any(|c| c == column)
    }

    fn check_columns(&self, table: &str, columns: &[String]) -> Result<()> {
        let known = self
            .columns
            .get(table)
            .ok_or_else(|| anyhow!("table `{table}` does not exist"))?;
        if let Some(missing) = columns.iter().find(|c| !known.contains(c)) {
            bail!("column `{table}.{missing}` does not exist");
        }
        Ok(())
    }
}

/// A named set of allowed secondary indexes, as `(table, index name)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Variant {
    pub name: String,
    /// `table(columns)` as the user or advisor wrote it, for reports.
    pub definition: String,
    #[serde(skip)]
    allowed: Vec<(String, String)>,
}

pub const BASELINE: &str = "none";
const WEEK8: &str = "performance(concert_id)+seat(performance_id)";

/// `table(col,..)+table(col,..)`, every table and column checked against the catalog.
fn parse_spec(spec: &str, catalog: &Catalog) -> Result<Vec<(String, Vec<String>)>> {
    let mut parts = Vec::new();
    for part in spec.split('+').map(str::trim) {
        let (table, columns) = part
            .strip_suffix(')')
            .and_then(|p| p.split_once('('))
            .ok_or_else(|| anyhow!("`{part}` is not table(col,..)"))?;
        let table = table.trim();
        let columns: Vec<String> = columns.split(',').map(|c| c.trim().to_string()).collect();
        if columns.iter().any(String::is_empty) {
            bail!("`{part}` names an empty column");
        }
        catalog.check_columns(table, &columns)?;
        parts.push((table.to_string(), columns));
    }
    Ok(parts)
}

impl Variant {
    /// No secondary index at all: the write-up's AS-IS.
    pub fn none() -> Self {
        Self {
            name: BASELINE.into(),
            definition: "no secondary index".into(),
            allowed: Vec::new(),
        }
    }

    /// The write-up's TO-BE: performance(concert_id) and seat(performance_id).
    pub fn week8(catalog: &Catalog) -> Result<Self> {
        Self::from_spec("week8", WEEK8, catalog)
    }

    /// Parses `--variant`: `none`, `week8`, or `NAME=table(col,..)+table(col,..)`.
    pub fn parse(arg: &str, catalog: &Catalog) -> Result<Self> {
        match arg.split_once('=') {
            None if arg == BASELINE => Ok(Self::none()),
            None if arg == "week8" => Self::week8(catalog),
            None => bail!(
                "unknown variant `{arg}`: use none, week8, advised or NAME=table(col,..)+table(col,..)"
            ),
            Some((name, spec)) => {
                let name = name.trim();
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    bail!("variant name `{name}` must be letters, digits, '_' or '-'");
                }
                Self::from_spec(name, spec, catalog).map_err(|e| anyhow!("variant `{name}`: {e}"))
            }
        }
    }

    pub fn from_spec(name: &str, spec: &str, catalog: &Catalog) -> Result<Self> {
        let mut allowed = Vec::new();
        for (table, columns) in parse_spec(spec, catalog)? {
            let index = catalog.index_on(&table, &columns).ok_or_else(|| {
                anyhow!(
                    "no index on {table}({}) exists: pass --create-indexes to have the experiment create it and drop it afterwards, or create it on a copy first",
                    columns.join(", ")
                )
            })?;
            allowed.push((table, index.name.clone()));
        }
        Ok(Self {
            name: name.to_string(),
            definition: spec.to_string(),
            allowed,
        })
    }

    /// The indexes a `--variant` argument names that do not exist yet, as `(table, columns)`.
    pub fn missing_indexes(arg: &str, catalog: &Catalog) -> Result<Vec<(String, Vec<String>)>> {
        let spec = match arg.split_once('=') {
            Some((_, spec)) => spec,
            None if arg == "week8" => WEEK8,
            None => return Ok(Vec::new()),
        };
        Ok(parse_spec(spec, catalog)?
            .into_iter()
            .filter(|(table, columns)| catalog.index_on(table, columns).is_none())
            .collect())
    }

    /// The hint for `table`: `IGNORE INDEX (..)` over every secondary index not allowed here.
    pub fn hint(&self, table: &str, catalog: &Catalog) -> String {
        let hidden: Vec<String> = catalog
            .secondary_indexes(table)
            .iter()
            .filter(|i| !self.allowed.iter().any(|(t, n)| t == table && *n == i.name))
            .map(|i| format!("`{}`", i.name.replace('`', "``")))
            .collect();
        if hidden.is_empty() {
            String::new()
        } else {
            format!("IGNORE INDEX ({})", hidden.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        c.columns.insert(
            "seat".into(),
            vec!["id".into(), "performance_id".into(), "grade".into()],
        );
        c.columns
            .insert("performance".into(), vec!["id".into(), "concert_id".into()]);
        c.indexes.insert(
            "seat".into(),
            vec![
                IndexDef {
                    name: "idx_seat_performance".into(),
                    columns: vec!["performance_id".into()],
                },
                IndexDef {
                    name: "idx_other".into(),
                    columns: vec!["grade".into(), "id".into()],
                },
            ],
        );
        c.indexes.insert(
            "performance".into(),
            vec![IndexDef {
                name: "idx_performance_concert".into(),
                columns: vec!["concert_id".into()],
            }],
        );
        c
    }

    #[test]
    fn an_index_leading_another_is_redundant_unless_unique() {
        let mut c = catalog();
        let seat = c.indexes.get_mut("seat").unwrap();
        seat.push(IndexDef {
            name: "idx_seat_perf_grade".into(),
            columns: vec!["performance_id".into(), "grade".into()],
        });
        seat.push(IndexDef {
            name: "uq_grade_id".into(),
            columns: vec!["grade".into(), "id".into()],
        });
        c.unique.push(("seat".into(), "uq_grade_id".into()));
        let found: Vec<(String, String)> = c
            .redundant()
            .into_iter()
            .map(|r| (r.index, r.covered_by))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "idx_seat_performance".to_string(),
                    "idx_seat_perf_grade".to_string()
                ),
                ("idx_other".to_string(), "uq_grade_id".to_string())
            ]
        );
        assert_eq!(
            c.redundant()[0].ddl,
            "ALTER TABLE `seat` DROP INDEX `idx_seat_performance`;"
        );
    }

    #[test]
    fn none_hides_every_secondary_index_and_week8_keeps_its_two() {
        let c = catalog();
        assert_eq!(
            Variant::none().hint("seat", &c),
            "IGNORE INDEX (`idx_seat_performance`, `idx_other`)"
        );
        let week8 = Variant::week8(&c).unwrap();
        assert_eq!(week8.hint("seat", &c), "IGNORE INDEX (`idx_other`)");
        assert_eq!(week8.hint("performance", &c), "");
        assert_eq!(week8.hint("concert", &c), "");
    }

    #[test]
    fn user_variants_resolve_to_existing_indexes_by_leading_columns() {
        let c = catalog();
        let v = Variant::parse("by-grade=seat(grade)", &c).unwrap();
        assert_eq!(v.hint("seat", &c), "IGNORE INDEX (`idx_seat_performance`)");
    }

    #[test]
    fn bad_variants_say_what_is_wrong() {
        let c = catalog();
        let err = |arg: &str| Variant::parse(arg, &c).unwrap_err().to_string();
        assert!(err("fast").contains("unknown variant `fast`"));
        assert!(err("x=nosuch(id)").contains("table `nosuch` does not exist"));
        assert!(err("x=seat(nosuch)").contains("column `seat.nosuch` does not exist"));
        assert!(err("x=seat(seat_no)").contains("column `seat.seat_no` does not exist"));
        assert!(err("x=seat(id)").contains("no index on seat(id)"));
        assert!(err("x=seat").contains("is not table(col,..)"));
        assert!(err("bad name=seat(grade)").contains("letters, digits"));
    }
}
