//! Reading plans, and the advisor's proposals from them: what `explain` reports and what
//! `query --variant advised` times. Here, beside the experiment, so both commands depend on it
//! and not on each other.

use anyhow::Result;
use serde::Serialize;
use serde_json::Value as Json;
use sqlx::mysql::MySqlRow;
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, MySql, Row};

use super::workload::Statement;
use super::{Catalog, Scenario, Variant, mysql_tree, with_literals};
use crate::storage::db::Flavor;

/// A table scanned whole inside a join is worth a finding from this many rows.
pub(crate) const LARGE_SCAN_ROWS: f64 = 1_000.0;

/// One row of a plan, the same columns on both servers.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Step {
    pub table: String,
    pub access: String,
    pub possible_keys: Option<String>,
    pub key: Option<String>,
    pub rows: Option<f64>,
    /// Rows actually read per loop (`--analyze`); null for a table read while planning.
    pub rows_read: Option<f64>,
    pub filtered: Option<f64>,
    pub extra: Option<String>,
}

/// One scenario's plan under one variant.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Plan {
    pub scenario: String,
    pub variant: String,
    pub steps: Vec<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<Json>,
}

/// The plan as a table of steps, in the same shape on both servers. The format is always
/// named: MySQL 9 answers a bare `EXPLAIN` as a tree. Rows actually read (`analyze`) come
/// from MariaDB's `ANALYZE` (`r_rows`) and from MySQL's `EXPLAIN ANALYZE` tree.
pub(crate) async fn plan_steps(
    conn: &mut PoolConnection<MySql>,
    flavor: Flavor,
    statement: &Statement,
    sql: &str,
    analyze: bool,
) -> Result<Vec<Step>, sqlx::Error> {
    let explain = match (flavor, analyze) {
        (Flavor::Mariadb, true) => format!("ANALYZE {sql}"),
        // EXTENDED: the tabular format with the `filtered` column.
        (Flavor::Mariadb, false) => format!("EXPLAIN EXTENDED {sql}"),
        (Flavor::Mysql, _) => format!("EXPLAIN FORMAT=TRADITIONAL {sql}"),
    };
    let rows = sqlx::query(AssertSqlSafe(explain))
        .fetch_all(&mut **conn)
        .await?;
    let read_on_mysql = if flavor == Flavor::Mysql && analyze {
        let tree: String =
            sqlx::query_scalar(AssertSqlSafe(format!("EXPLAIN ANALYZE FORMAT=TREE {sql}")))
                .fetch_one(&mut **conn)
                .await?;
        Some(mysql_tree::rows_read(&tree))
    } else {
        None
    };
    Ok(rows
        .iter()
        .map(|row| {
            let alias = text(row, "table").unwrap_or_default();
            let rows_read = match &read_on_mysql {
                Some(read) => read.get(&alias).copied(),
                None => number(row, "r_rows"),
            };
            Step {
                table: statement.table_of(&alias),
                access: text(row, "type").unwrap_or_default(),
                possible_keys: text(row, "possible_keys"),
                key: text(row, "key"),
                rows: number(row, "rows"),
                rows_read,
                filtered: number(row, "filtered"),
                extra: text(row, "Extra").filter(|e| !e.is_empty()),
            }
        })
        .collect())
}

/// The server's own plan document: MariaDB's `EXPLAIN`/`ANALYZE FORMAT=JSON`; MySQL's
/// `EXPLAIN [ANALYZE] FORMAT=JSON` (JSON format version 2 on 9.x, which says so in
/// `json_schema_version`; a server without `EXPLAIN ANALYZE FORMAT=JSON` gives its tree as a
/// string instead).
pub(crate) async fn raw_plan(
    conn: &mut PoolConnection<MySql>,
    flavor: Flavor,
    sql: &str,
    analyze: bool,
) -> Result<Json> {
    let statement = match (flavor, analyze) {
        (Flavor::Mariadb, true) => format!("ANALYZE FORMAT=JSON {sql}"),
        (Flavor::Mysql, true) => format!("EXPLAIN ANALYZE FORMAT=JSON {sql}"),
        (_, false) => format!("EXPLAIN FORMAT=JSON {sql}"),
    };
    let text = match sqlx::query_scalar::<_, String>(AssertSqlSafe(statement))
        .fetch_one(&mut **conn)
        .await
    {
        Ok(text) => text,
        Err(_) if flavor == Flavor::Mysql && analyze => {
            let tree: String =
                sqlx::query_scalar(AssertSqlSafe(format!("EXPLAIN ANALYZE FORMAT=TREE {sql}")))
                    .fetch_one(&mut **conn)
                    .await?;
            return Ok(Json::String(tree));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(serde_json::from_str(&text)?)
}

/// Plan columns come back as text or numbers depending on the server; read either.
fn text(row: &MySqlRow, column: &str) -> Option<String> {
    row.try_get::<Option<String>, _>(column)
        .ok()
        .flatten()
        .or_else(|| {
            row.try_get::<Option<Vec<u8>>, _>(column)
                .ok()
                .flatten()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        })
        .or_else(|| number(row, column).map(|n| n.to_string()))
}

fn number(row: &MySqlRow, column: &str) -> Option<f64> {
    if let Ok(Some(v)) = row.try_get::<Option<f64>, _>(column) {
        return Some(v);
    }
    if let Ok(Some(v)) = row.try_get::<Option<u64>, _>(column) {
        return Some(v as f64);
    }
    if let Ok(Some(v)) = row.try_get::<Option<i64>, _>(column) {
        return Some(v as f64);
    }
    row.try_get::<Option<String>, _>(column)
        .ok()
        .flatten()
        .and_then(|s| s.trim().parse().ok())
}

pub(crate) fn is_large_join_scan(plan: &Plan, step: &Step) -> bool {
    plan.steps.len() > 1 && is_large_scan(step)
}

/// A table read whole, of at least [`LARGE_SCAN_ROWS`] rows.
fn is_large_scan(step: &Step) -> bool {
    step.access == "ALL" && step.rows_read.or(step.rows).unwrap_or(0.0) >= LARGE_SCAN_ROWS
}

/// One proposed index.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    pub(crate) table: String,
    pub(crate) columns: Vec<String>,
    /// A covering proposal is judged against the plain one on the same table.
    pub(crate) over: Option<Vec<String>>,
}

impl Candidate {
    pub(crate) fn spec(&self) -> String {
        format!("{}({})", self.table, self.columns.join(","))
    }
}

/// The advisor's proposals: for each large scan under `none` (inside a join or not), the
/// columns the statement compares with a value on that table (else those it joins it on); and, where the query reads more of that table, the same
/// index covering those columns too (so the rows need not be looked up at all).
pub(crate) fn candidates(plans: &[Plan], scenarios: &[Scenario]) -> Vec<Candidate> {
    let mut candidates: Vec<Candidate> = Vec::new();
    for plan in plans.iter().filter(|p| p.variant == super::BASELINE) {
        let Some(scenario) = scenarios.iter().find(|s| s.name() == plan.scenario) else {
            continue;
        };
        for step in plan.steps.iter().filter(|s| is_large_scan(s)) {
            let of_table = |list: &[(String, String)]| -> Vec<String> {
                list.iter()
                    .filter(|(t, c)| *t == step.table && c != "id")
                    .map(|(_, c)| c.clone())
                    .collect()
            };
            // An index leads with what the statement compares with a value; a table reached
            // only through a join leads with its join columns.
            let access = of_table(&scenario.statement.access_columns);
            let filters = of_table(&scenario.statement.filter_columns);
            let columns = if filters.is_empty() {
                access.clone()
            } else {
                filters
            };
            if columns.is_empty() {
                continue;
            }
            let mut covering = columns.clone();
            for column in access
                .into_iter()
                .chain(of_table(&scenario.statement.read_columns))
            {
                if !covering.contains(&column) {
                    covering.push(column);
                }
            }
            let plain = Candidate {
                table: step.table.clone(),
                columns: columns.clone(),
                over: None,
            };
            let wide = Candidate {
                table: step.table.clone(),
                columns: covering,
                over: Some(columns),
            };
            for candidate in [plain, wide] {
                let same =
                    |c: &Candidate| c.table == candidate.table && c.columns == candidate.columns;
                if !candidates.iter().any(same)
                    && (candidate.over.is_none()
                        || candidate.over.as_ref() != Some(&candidate.columns))
                {
                    candidates.push(candidate);
                }
            }
        }
    }
    candidates
}

/// `--variant advised` for `query`: the proposals an existing index can test, as one variant
/// spec (`table(col,..)+..`), from every scenario's plan under `none`.
pub(crate) async fn advised_spec(
    conn: &mut PoolConnection<MySql>,
    flavor: Flavor,
    catalog: &Catalog,
    scenarios: &[Scenario],
) -> Result<String> {
    let none = Variant::none();
    let mut plans = Vec::new();
    for scenario in scenarios {
        let sql = with_literals(&scenario.sql(|t| none.hint(t, catalog)), scenario.values(0));
        plans.push(Plan {
            scenario: scenario.name().to_string(),
            variant: none.name.clone(),
            steps: plan_steps(conn, flavor, &scenario.statement, &sql, false).await?,
            raw: None,
        });
    }
    let provable: Vec<String> = candidates(&plans, scenarios)
        .into_iter()
        .filter(|c| c.over.is_none() && catalog.index_on(&c.table, &c.columns).is_some())
        .map(|c| c.spec())
        .collect();
    if provable.is_empty() {
        anyhow::bail!(
            "the advisor proposes no index that an existing one can stand for, so `advised` has nothing to time: see `concert-bench explain`"
        );
    }
    Ok(provable.join("+"))
}
