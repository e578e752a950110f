//! A workload from where a real one is recorded: a MySQL or MariaDB slow query log
//! (`--slow-log FILE`), or the server's statement digests (`--digest`,
//! `performance_schema.events_statements_summary_by_digest`). Statements are grouped by
//! fingerprint (literals as `?`, as pt-query-digest does), ranked by their total time, and the
//! top ones become the workload, each with the literals its logged executions bound as its
//! parameter values.

use std::collections::HashMap;

use anyhow::{Result, bail};
use sqlx::MySqlPool;

use super::workload::{Logged, Statement, Workload, fingerprint, without_index_hints};
use crate::storage::db::{Flavor, ServerInfo};

/// Tuples of observed values kept per statement at most.
const OBSERVED_KEPT: usize = 10_000;

/// One logged execution.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    query_time: f64,
    /// The database it ran in, where the log says (MariaDB's `Schema:`, a `use db;` line).
    schema: Option<String>,
    sql: String,
}

/// The executions a slow log holds, in either server's format: a header of `#` lines (MySQL:
/// `# Time:`, `# User@Host:`, `# Query_time:`; MariaDB adds `# Thread_id: .. Schema: ..` and
/// `# Rows_affected:`), then `use db;` and `SET timestamp=..;` lines, then the statement.
fn entries(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut schema: Option<String> = None;
    let mut query_time: Option<f64> = None;
    let mut body = String::new();
    let mut finish = |query_time: &mut Option<f64>, body: &mut String, schema: &Option<String>| {
        let sql = body.trim().trim_end_matches(';').trim().to_string();
        if let (Some(t), false) = (query_time.take(), sql.is_empty()) {
            out.push(Entry {
                query_time: t,
                schema: schema.clone(),
                sql,
            });
        }
        body.clear();
    };
    for line in text.lines() {
        if let Some(header) = line.strip_prefix('#') {
            if !body.trim().is_empty() {
                finish(&mut query_time, &mut body, &schema);
            }
            let header = header.trim();
            if let Some(rest) = header.strip_prefix("Query_time:") {
                query_time = rest.split_whitespace().next().and_then(|t| t.parse().ok());
            }
            if let Some(at) = header.find("Schema:") {
                schema = header[at + "Schema:".len()..]
                    .split_whitespace()
                    .next()
                    .map(str::to_string);
            }
            continue;
        }
        let trimmed = line.trim();
        let lower = trimmed.to_ascii_lowercase();
        if let Some(db) = lower.strip_prefix("use ") {
            schema = Some(
                trimmed[4..4 + db.len()]
                    .trim()
                    .trim_end_matches(';')
                    .trim_matches('`')
                    .to_string(),
            );
            continue;
        }
        if lower.starts_with("set timestamp=") || query_time.is_none() {
            continue; // a timestamp, or the server's banner before the first entry
        }
        body.push_str(line);
        body.push('\n');
    }
    finish(&mut query_time, &mut body, &schema);
    out
}

/// Executions grouped by fingerprint.
struct Group {
    fingerprint: String,
    executions: u64,
    total: f64,
    /// The slowest execution's SQL: the one the workload runs.
    worst: (f64, String),
    literals: Vec<Vec<String>>,
}

/// What was left out, for the report.
#[derive(Debug, Default)]
pub struct Skipped {
    pub not_select: u64,
    pub other_schema: u64,
    pub unusable: u64,
}

/// The top `top` SELECT fingerprints of a slow log, by total time, in `database` (entries
/// the log places in another database are left out).
pub fn from_slow_log(text: &str, file: &str, database: &str, top: usize) -> Result<Workload> {
    if !text.lines().any(|l| l.starts_with("# Query_time:")) {
        bail!(
            "{file} is not a MySQL or MariaDB slow query log (no `# Query_time:` line): write one with slow_query_log=1 (and long_query_time=0 to see every statement)"
        );
    }
    let mut skipped = Skipped::default();
    let mut schemas_seen: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Group> = HashMap::new();
    for entry in entries(text) {
        if !is_select(&entry.sql) {
            skipped.not_select += 1;
            continue;
        }
        if let Some(schema) = &entry.schema
            && schema != database
        {
            skipped.other_schema += 1;
            if !schemas_seen.contains(schema) {
                schemas_seen.push(schema.clone());
            }
            continue;
        }
        let Ok(sql) = without_index_hints(&entry.sql) else {
            skipped.unusable += 1;
            continue;
        };
        let Ok((print, literals)) = fingerprint(&sql) else {
            skipped.unusable += 1;
            continue;
        };
        let group = groups.entry(print.clone()).or_insert_with(|| Group {
            fingerprint: print,
            executions: 0,
            total: 0.0,
            worst: (f64::MIN, String::new()),
            literals: Vec::new(),
        });
        group.executions += 1;
        group.total += entry.query_time;
        if entry.query_time > group.worst.0 {
            group.worst = (entry.query_time, sql);
        }
        if group.literals.len() < OBSERVED_KEPT {
            group.literals.push(literals);
        }
    }
    if groups.is_empty() {
        if !schemas_seen.is_empty() {
            bail!(
                "{file} has no SELECT in database `{database}` (its SELECTs ran in {}): --database-url names the database to run them on",
                schemas_seen.join(", ")
            );
        }
        bail!("{file} has no SELECT statement to time");
    }
    let mut ranked: Vec<Group> = groups.into_values().collect();
    ranked.sort_by(|a, b| b.total.total_cmp(&a.total));
    let mut statements = Vec::new();
    for group in ranked {
        if statements.len() == top {
            break;
        }
        let name = format!("slow_{}", statements.len() + 1);
        let logged = Logged {
            fingerprint: group.fingerprint,
            executions: group.executions,
            total_seconds: group.total,
        };
        // A statement the workload cannot run (another database's table, say) is skipped,
        // and the next one ranks up.
        match Statement::from_logged(&name, &group.worst.1, group.literals, logged) {
            Ok(statement) => statements.push(statement),
            Err(_) => skipped.unusable += 1,
        }
    }
    if statements.is_empty() {
        bail!(
            "{file}: none of its SELECTs can be timed here (each reads another database's tables, or does not parse)"
        );
    }
    Ok(Workload {
        source: format!(
            "slow log {file} (top {} of its SELECT fingerprints by total time; {} other statements, {} in other databases, {} not usable left out)",
            statements.len(),
            skipped.not_select,
            skipped.other_schema,
            skipped.unusable
        ),
        statements,
    })
}

fn is_select(sql: &str) -> bool {
    let first = sql
        .trim_start_matches(|c: char| c == '(' || c.is_whitespace())
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    first.eq_ignore_ascii_case("SELECT") || first.eq_ignore_ascii_case("WITH")
}

/// The top `top` statements of the server's digest table in `database`, by total time, each
/// run as the sample the server kept (MySQL 8+'s `QUERY_SAMPLE_TEXT`).
pub async fn from_digest(
    pool: &MySqlPool,
    server: &ServerInfo,
    database: &str,
    top: usize,
) -> Result<Workload> {
    let enabled: Option<String> = sqlx::query_scalar("SELECT CAST(@@performance_schema AS CHAR)")
        .fetch_optional(pool)
        .await
        .ok()
        .flatten();
    if !matches!(enabled.as_deref(), Some("1" | "ON")) {
        bail!(
            "--digest: performance_schema is off on this {} (MariaDB starts with it off): start the server with --performance-schema=ON, or use --slow-log",
            server.flavor
        );
    }
    if server.flavor == Flavor::Mariadb {
        bail!(
            "--digest: MariaDB's digest table keeps no sample statement (QUERY_SAMPLE_TEXT), so there are no real values to run with: use --slow-log"
        );
    }
    let rows: Vec<(String, String, u64, u64)> = sqlx::query_as(
        "SELECT CAST(DIGEST_TEXT AS CHAR), CAST(QUERY_SAMPLE_TEXT AS CHAR), COUNT_STAR, SUM_TIMER_WAIT \
         FROM performance_schema.events_statements_summary_by_digest \
         WHERE SCHEMA_NAME = ? AND QUERY_SAMPLE_TEXT IS NOT NULL \
           AND (DIGEST_TEXT LIKE 'SELECT%' OR DIGEST_TEXT LIKE 'WITH%' \
                OR DIGEST_TEXT LIKE 'EXECUTE SELECT%' OR DIGEST_TEXT LIKE 'EXECUTE WITH%') \
         ORDER BY SUM_TIMER_WAIT DESC",
    )
    .bind(database)
    .fetch_all(pool)
    .await
    .map_err(|e| anyhow::anyhow!("--digest: cannot read performance_schema.events_statements_summary_by_digest ({e}): it needs SELECT on performance_schema"))?;
    let mut statements = Vec::new();
    let mut unusable = 0;
    for (digest, sample, count, picoseconds) in rows {
        if statements.len() == top {
            break;
        }
        // A prepared statement's sample keeps its `?` and not the values: nothing to run it
        // with (a slow log records the values).
        let Ok(sample) = without_index_hints(&sample) else {
            unusable += 1;
            continue;
        };
        let Ok((_, literals)) = fingerprint(&sample) else {
            unusable += 1;
            continue;
        };
        let logged = Logged {
            fingerprint: digest
                .strip_prefix("EXECUTE ")
                .unwrap_or(&digest)
                .to_string(),
            executions: count,
            total_seconds: picoseconds as f64 / 1e12,
        };
        let name = format!("digest_{}", statements.len() + 1);
        match Statement::from_logged(&name, &sample, vec![literals], logged) {
            Ok(statement) => statements.push(statement),
            Err(_) => unusable += 1,
        }
    }
    if statements.is_empty() {
        // Once the table holds performance_schema_digests_size digests, new statements are
        // only counted in one row without a digest.
        let overflow: Option<u64> = sqlx::query_scalar(
            "SELECT COUNT_STAR FROM performance_schema.events_statements_summary_by_digest WHERE DIGEST IS NULL",
        )
        .fetch_optional(pool)
        .await
        .ok()
        .flatten();
        if overflow.is_some_and(|n| n > 0) {
            bail!(
                "--digest: the digest table is full (performance_schema_digests_size), so this database's statements were not recorded: TRUNCATE performance_schema.events_statements_summary_by_digest, run the workload again, or use --slow-log"
            );
        }
        bail!(
            "--digest: performance_schema has no SELECT digest with a sample for database `{database}` (the table is empty, or was reset): run the workload first, or use --slow-log"
        );
    }
    Ok(Workload {
        source: format!(
            "digest table of {database} (top {} SELECT digests by total time, each run with the one sample the server kept; {unusable} left out: prepared statements' samples keep no values, use --slow-log for those)",
            statements.len()
        ),
        statements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MYSQL: &str = "\
/usr/sbin/mysqld, Version: 9.7.4 (MySQL Community Server - GPL). started with:
Tcp port: 3307  Unix socket: /run/mysqld/mysqld.sock
Time                 Id Command    Argument
# Time: 2026-12-05T08:00:00.000001Z
# User@Host: root[root] @ localhost [127.0.0.1]  Id:     8
# Query_time: 0.030000  Lock_time: 0.000002 Rows_sent: 2000 Rows_examined: 200000
use shop;
SET timestamp=1764921600;
SELECT c.id, s.seat_no FROM concert c JOIN seat s ON s.concert_id = c.id
WHERE c.id = 42 AND s.grade IN ('VIP', 'R');
# User@Host: root[root] @ localhost [127.0.0.1]  Id:     8
# Query_time: 0.050000  Lock_time: 0.000002 Rows_sent: 2000 Rows_examined: 200000
SET timestamp=1764921601;
select c.id, s.seat_no from concert c join seat s on s.concert_id = c.id where c.id = 7 and s.grade in ('A');
# Time: 2026-12-05T08:00:02.000001Z
# User@Host: root[root] @ localhost [127.0.0.1]  Id:     8
# Query_time: 0.001000  Lock_time: 0.000002 Rows_sent: 0 Rows_examined: 0
SET timestamp=1764921602;
INSERT INTO seat (id) VALUES (1);
# User@Host: root[root] @ localhost [127.0.0.1]  Id:     8
# Query_time: 0.002000  Lock_time: 0.000002 Rows_sent: 1 Rows_examined: 1
SET timestamp=1764921603;
SELECT name FROM member WHERE email = 'o''brien@example.com';
";

    const MARIADB: &str = "\
# Time: 261205  8:00:00
# User@Host: root[root] @ localhost [127.0.0.1]
# Thread_id: 31  Schema: shop  QC_hit: No
# Query_time: 0.002000  Lock_time: 0.000010  Rows_sent: 1  Rows_examined: 1
# Rows_affected: 0  Bytes_sent: 120
SET timestamp=1764921600;
SELECT name FROM member WHERE email = 'a@example.com';
# User@Host: root[root] @ localhost [127.0.0.1]
# Thread_id: 32  Schema: other  QC_hit: No
# Query_time: 9.000000  Lock_time: 0.000010  Rows_sent: 1  Rows_examined: 1
# Rows_affected: 0  Bytes_sent: 120
SET timestamp=1764921601;
SELECT name FROM member WHERE email = 'b@example.com';
";

    #[test]
    fn a_mysql_log_is_grouped_by_fingerprint_and_ranked_by_total_time() {
        let w = from_slow_log(MYSQL, "slow.log", "shop", 10).unwrap();
        assert_eq!(w.statements.len(), 2, "{:?}", w.statements);
        let first = &w.statements[0];
        let logged = first.logged.as_ref().unwrap();
        assert_eq!(
            logged.fingerprint,
            "select c . id , s . seat_no from concert c join seat s on s . concert_id = c . id where c . id = ? and s . grade in(?+)"
        );
        assert_eq!(logged.executions, 2);
        assert!((logged.total_seconds - 0.08).abs() < 1e-9);
        // The slowest execution is the one run, its literals its parameters; the other
        // execution's IN list is longer, so its tuple does not fit and is left out.
        assert_eq!(first.binds, ["p1", "p2"]);
        assert_eq!(first.observed, [vec!["7".to_string(), "'A'".to_string()]]);
        assert!(
            first
                .sql(|_| String::new())
                .ends_with("where c.id = ? and s.grade in (?)"),
            "{}",
            first.sql(|_| String::new())
        );
        assert_eq!(
            w.statements[1].observed,
            [vec!["'o''brien@example.com'".to_string()]]
        );
        assert!(w.source.contains("1 other statements"), "{}", w.source);
    }

    #[test]
    fn a_mariadb_log_keeps_the_entries_of_its_schema() {
        let w = from_slow_log(MARIADB, "slow.log", "shop", 10).unwrap();
        assert_eq!(w.statements.len(), 1);
        assert_eq!(
            w.statements[0].observed,
            [vec!["'a@example.com'".to_string()]]
        );
        assert!(w.source.contains("1 in other databases"), "{}", w.source);
        let err = from_slow_log(MARIADB, "slow.log", "nope", 10)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no SELECT in database `nope` (its SELECTs ran in shop, other)"),
            "{err}"
        );
    }

    #[test]
    fn not_a_slow_log_is_refused_in_one_line() {
        let err = from_slow_log("SELECT 1;\n", "notes.txt", "shop", 10)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("notes.txt is not a MySQL or MariaDB slow query log"),
            "{err}"
        );
    }
}
