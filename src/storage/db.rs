//! Connecting to MySQL/MariaDB: URL checks, creating the named database (`seed` only), server flavor, and
//! turning driver errors into one line that says what to do.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Serialize;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use url::Url;

use super::group;

/// How long to wait for a server before giving up, so a black-holed host never hangs the tool.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    Mariadb,
    Mysql,
}

/// The names as their makers spell them.
impl std::fmt::Display for Flavor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Flavor::Mariadb => "MariaDB",
            Flavor::Mysql => "MySQL",
        })
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ServerInfo {
    pub flavor: Flavor,
    pub version: String,
}

/// A validated `--database-url`: where the server is (or the members of a replicated group,
/// listed as JDBC and MySQL Connector/J list them: `mysql://user@host1:3306,host2:3306/db`)
/// and which database to use.
#[derive(Clone)]
pub struct DatabaseUrl {
    /// The URL with the first host only: credentials, database and parameters for every host.
    url: Url,
    database: String,
    /// Every host named, in order; one for a single server.
    hosts: Vec<Host>,
    /// A member of a group, chosen by [`group::place`] from the URL that named the group: it
    /// is not asked again (it would be refused as a member named alone).
    placed: bool,
}

/// A host name and port.
type Host = (String, u16);

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self> {
        let (first_host_only, hosts) = split_hosts(raw)?;
        let url = Url::parse(&first_host_only)
            .map_err(|e| anyhow!("--database-url is not a valid URL ({e}): expected mysql://user:password@host:3306/database"))?;
        if !matches!(url.scheme(), "mysql" | "mariadb") {
            bail!(
                "--database-url must be a mysql:// URL, not {}://: concert-bench runs on MySQL or MariaDB",
                url.scheme()
            );
        }
        let encoded = url.path().trim_start_matches('/');
        if encoded.is_empty() {
            bail!(
                "--database-url names no database: add one, e.g. {}/concert_bench",
                mask(&url)
            );
        }
        // Any name MySQL accepts (a DBA's copy may be `ticket-prod-copy`), percent-decoded as
        // sqlx decodes it; it is only ever bound as a value or quoted as an identifier.
        let database = percent_decode_str(encoded)
            .decode_utf8()
            .map_err(|_| anyhow!("the database name in --database-url is not UTF-8"))?
            .to_string();
        if database.chars().count() > 64
            || database.ends_with(' ')
            || database
                .chars()
                .any(|c| c.is_control() || matches!(c, '/' | '\\' | '.'))
        {
            bail!(
                "database name {database:?} in --database-url is not one MySQL accepts: at most 64 characters, none of / \\ . or control characters, no trailing space"
            );
        }
        let hosts = match hosts {
            Some(hosts) => hosts,
            None => vec![(
                url.host_str().unwrap_or("localhost").to_string(),
                url.port().unwrap_or(3306),
            )],
        };
        Ok(Self {
            url,
            database,
            hosts,
            placed: false,
        })
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// Every host the URL names, as `host:port`.
    pub fn hosts(&self) -> Vec<String> {
        self.hosts.iter().map(|(h, p)| format!("{h}:{p}")).collect()
    }

    /// Whether the URL names several hosts: the members of a group.
    pub fn names_a_group(&self) -> bool {
        self.hosts.len() > 1
    }

    /// The same credentials and database on the `i`th host alone.
    pub fn member(&self, i: usize) -> Self {
        let (host, port) = &self.hosts[i];
        let mut url = self.url.clone();
        // Both were accepted by the URL parser when the list was split.
        url.set_host(Some(host)).expect("host checked at parse");
        url.set_port(Some(*port)).expect("port checked at parse");
        Self {
            url,
            database: self.database.clone(),
            hosts: vec![(host.clone(), *port)],
            placed: self.names_a_group(),
        }
    }

    /// Whether this is a group member [`group::place`] chose.
    pub(crate) fn placed(&self) -> bool {
        self.placed
    }

    /// The same server and credentials, another database (checked like any name).
    pub fn with_database(&self, database: &str) -> Result<Self> {
        let mut url = self.url.clone();
        url.set_path(&format!(
            "/{}",
            utf8_percent_encode(database, NON_ALPHANUMERIC)
        ));
        let mut child = Self::parse(url.as_str())?;
        child.hosts = self.hosts.clone();
        child.placed = self.placed;
        Ok(child)
    }

    /// The URL with its password replaced, safe to print anywhere.
    pub fn masked(&self) -> String {
        let single = mask(&self.url);
        if !self.names_a_group() {
            return single;
        }
        // Put the host list back where the first host is: after the userinfo, before the path.
        let start = single.find("://").map_or(0, |i| i + 3);
        let (head, rest) = single.split_at(start);
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let userinfo_end = rest[..authority_end].rfind('@').map_or(0, |i| i + 1);
        format!(
            "{head}{}{}{}",
            &rest[..userinfo_end],
            self.hosts().join(","),
            &rest[authority_end..]
        )
    }

    /// Where errors say the server is: the host, or every member of a group.
    pub(crate) fn host_port(&self) -> String {
        self.hosts().join(",")
    }

    fn user(&self) -> &str {
        match self.url.username() {
            "" => "root",
            user => user,
        }
    }

    pub(crate) fn options(&self, with_database: bool) -> Result<MySqlConnectOptions> {
        let mut url = self.url.clone();
        if !with_database {
            url.set_path("");
        }
        let options = MySqlConnectOptions::from_str(url.as_str())
            .map_err(|e| anyhow!("--database-url {} is not usable: {e}", self.masked()))?;
        // Statement logging would print every bulk INSERT; errors are reported by the caller.
        // A roomy statement cache: multi-row INSERTs come in many row counts, and when sqlx
        // evicts a statement it sends COM_STMT_CLOSE (which has no reply) right before the next
        // command; without TCP_NODELAY, Nagle's algorithm then holds that command until the
        // close is acknowledged, which a delayed ACK makes 40 ms.
        Ok(options
            .disable_statement_logging()
            .statement_cache_capacity(STATEMENT_CACHE))
    }
}

/// Splits a multi-host URL (`mysql://u@h1:p1,h2:p2/db`, which no URL parser takes) into the
/// URL with its first host alone and the list; `None` for a URL of one host.
fn split_hosts(raw: &str) -> Result<(String, Option<Vec<Host>>)> {
    let Some(scheme_end) = raw.find("://").map(|i| i + 3) else {
        return Ok((raw.to_string(), None));
    };
    let rest = &raw[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let userinfo_end = rest[..authority_end].rfind('@').map_or(0, |i| i + 1);
    let list = &rest[userinfo_end..authority_end];
    if !list.contains(',') {
        return Ok((raw.to_string(), None));
    }
    let mut hosts = Vec::new();
    for entry in list.split(',') {
        let parsed = Url::parse(&format!("mysql://{entry}/")).ok();
        let host = parsed
            .as_ref()
            .and_then(|u| u.host_str())
            .filter(|h| !h.is_empty());
        let (Some(host), false) = (host, entry.is_empty()) else {
            bail!(
                "--database-url lists a host {entry:?} that is not host or host:port: expected mysql://user@host1:3306,host2:3306/database"
            );
        };
        let port = parsed.as_ref().and_then(|u| u.port()).unwrap_or(3306);
        if hosts.iter().any(|(h, p)| h == host && *p == port) {
            bail!("--database-url lists {host}:{port} twice: name each member of the group once");
        }
        hosts.push((host.to_string(), port));
    }
    let first = list.split(',').next().unwrap_or_default();
    let single = format!(
        "{}{}{first}{}",
        &raw[..scheme_end],
        &rest[..userinfo_end],
        &rest[authority_end..]
    );
    Ok((single, Some(hosts)))
}

/// Prepared statements kept per connection (sqlx's default is 100).
const STATEMENT_CACHE: usize = 1_000;

/// Debug output is masked too: a password must never reach a log line by accident.
impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

pub(crate) fn mask(url: &Url) -> String {
    let mut masked = url.clone();
    if masked.password().is_some() {
        let _ = masked.set_password(Some("***"));
    }
    masked.to_string()
}

/// An open pool on the database the URL names: on a group, on its primary.
pub struct Database {
    pub pool: MySqlPool,
    /// The URL the pool is on: the one given, or the group's primary alone.
    pub url: DatabaseUrl,
    pub server: ServerInfo,
    /// The group's members that take writes, the pool's first (one URL for a single server).
    pub writers: Vec<DatabaseUrl>,
    /// The members `--read-from replicas` reads on (see [`group::Placement::readers`]).
    pub readers: Vec<DatabaseUrl>,
    /// The URL as given: on a group, all its members.
    pub given_url: DatabaseUrl,
    pub group: Option<group::GroupInfo>,
    /// Named members that did not answer, in words, for the command to warn of.
    pub warnings: Vec<String>,
}

impl Database {
    /// Connects to the database the URL names, which must exist: only `seed` creates one, so
    /// a mistyped name never leaves an empty database behind.
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Self> {
        Self::open(url, max_connections, Missing::Refuse).await
    }

    /// Connects, creating the named database first if it does not exist (for `seed`).
    pub async fn connect_creating(url: &DatabaseUrl, max_connections: u32) -> Result<Self> {
        Self::open(url, max_connections, Missing::Create).await
    }

    async fn open(given: &DatabaseUrl, max_connections: u32, missing: Missing) -> Result<Self> {
        let placement = group::place(given).await?;
        let url = &placement.writers[0];
        ensure_database(url, missing).await?;
        let pool = MySqlPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout(placement.group.is_some() || given.placed()))
            .connect_with(url.options(true)?)
            .await
            .map_err(|e| user_error(e, url))?;
        let version: String = sqlx::query_scalar("SELECT VERSION()")
            .fetch_one(&pool)
            .await
            .map_err(|e| user_error(e, url))?;
        let flavor = if version.to_ascii_lowercase().contains("mariadb") {
            Flavor::Mariadb
        } else {
            Flavor::Mysql
        };
        Ok(Self {
            pool,
            url: url.clone(),
            server: ServerInfo { flavor, version },
            writers: placement.writers.clone(),
            readers: placement.readers,
            given_url: given.clone(),
            group: placement.group,
            warnings: placement.warnings,
        })
    }
}

impl Database {
    /// A pool on each member that takes writes, this one's first: on a multi-primary group,
    /// the clients spread over them.
    pub async fn writer_pools(&self, max_each: u32) -> Result<Vec<MySqlPool>> {
        let mut pools = vec![self.pool.clone()];
        for url in &self.writers[1..] {
            let pool = MySqlPoolOptions::new()
                .max_connections(max_each)
                .acquire_timeout(acquire_timeout(true))
                .connect_with(url.options(true)?)
                .await
                .map_err(|e| user_error(e, url))?;
            pools.push(pool);
        }
        Ok(pools)
    }
}

/// How long a pool keeps trying to open a connection. On a group, short: the pool retries a
/// refused connection with a back-off of up to a fifth of this, and after a failover every
/// moment it sleeps on the dead member's address is added to the outage (10 s of acquire
/// time cost up to 9 s after Group Replication had elected its new primary).
fn acquire_timeout(group: bool) -> Duration {
    if group {
        Duration::from_secs(2)
    } else {
        CONNECT_TIMEOUT
    }
}

/// A connection to the server itself (no database selected), for creating and dropping the
/// databases the tool makes for itself.
pub struct ServerConnection {
    pool: MySqlPool,
    url: DatabaseUrl,
}

impl ServerConnection {
    /// On a group, to its primary: the databases the tool makes are replicated from there.
    pub async fn open(given: &DatabaseUrl) -> Result<Self> {
        let url = &group::place(given).await?.writers[0];
        let pool = MySqlPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(url.options(false)?)
            .await
            .map_err(|e| user_error(e, url))?;
        Ok(Self {
            pool,
            url: url.clone(),
        })
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    pub fn user_error(&self, err: sqlx::Error) -> anyhow::Error {
        user_error(err, &self.url)
    }

    /// A small pool on another database of the same server.
    pub async fn pool_for(&self, database: &str) -> Result<MySqlPool> {
        let url = self.url.with_database(database)?;
        MySqlPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(url.options(true)?)
            .await
            .map_err(|e| user_error(e, &url))
    }
}

/// "User has exceeded the 'max_user_connections' resource".
const ER_USER_LIMIT_REACHED: u16 = 1226;
/// "X command denied to user .. for table ..": a missing table privilege.
const ER_TABLEACCESS_DENIED: u16 = 1142;

/// MySQL's error number for "database exists" (CREATE DATABASE without IF NOT EXISTS).
pub const ER_DB_CREATE_EXISTS: u16 = 1007;
/// "Lock wait timeout exceeded", also what DDL says when `lock_wait_timeout` runs out.
pub const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;

/// DDL that gives up rather than stalls: every statement runs under a session
/// `lock_wait_timeout`, so a long transaction holding the table's metadata lock makes it fail
/// within the limit, instead of queueing every later query on that table behind the DDL.
#[derive(Clone)]
pub struct BoundedDdl {
    pool: MySqlPool,
    url: DatabaseUrl,
    lock_wait_seconds: u64,
}

impl BoundedDdl {
    /// `lock_wait` is rounded up to whole seconds (the variable's unit), at least one.
    pub fn new(pool: MySqlPool, url: DatabaseUrl, lock_wait: Duration) -> Self {
        Self {
            pool,
            url,
            lock_wait_seconds: lock_wait.as_secs_f64().ceil().max(1.0) as u64,
        }
    }

    /// Runs one DDL statement; a failure comes back as the words for the user's error line.
    pub async fn run(&self, ddl: &str) -> Result<(), String> {
        self.try_run(ddl).await.map_err(|e| self.failure(&e))
    }

    async fn try_run(&self, ddl: &str) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query(AssertSqlSafe(format!(
            "SET SESSION lock_wait_timeout = {}",
            self.lock_wait_seconds
        )))
        .execute(&mut *conn)
        .await?;
        sqlx::query(AssertSqlSafe(ddl.to_string()))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    fn failure(&self, err: &sqlx::Error) -> String {
        if error_number(err) == Some(ER_LOCK_WAIT_TIMEOUT) {
            format!(
                "gave up after waiting {} s for the table's metadata lock (a long transaction holds it): retry later, or raise --lock-wait-timeout",
                self.lock_wait_seconds
            )
        } else {
            explain(err, &self.url).to_string()
        }
    }
}

/// Whether an error means the database could not be reached or could not take the work just
/// now (connection lost or refused, pool exhausted, server shutting down, lock waits and
/// deadlocks): worth retrying later, and never proof that the work itself is broken.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Tls(_) => true,
        _ if is_connection_lost(err) => true,
        // Too many connections, shutdown in progress, lock wait timeout, deadlock, query
        // interrupted, read-only (a failover), connection killed, server gone away or lost.
        sqlx::Error::Database(_) => matches!(
            error_number(err),
            Some(1040 | 1053 | 1205 | 1213 | 1290 | 1317 | 1836 | 1927 | 2006 | 2013)
        ),
        _ => false,
    }
}

/// The connection broke, was refused, or none could be had in time.
fn is_connection_lost(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::Io(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

/// Whether the server aborted a transaction for a conflict it found, leaving nothing behind:
/// a deadlock (1213; also how Galera reports a certification failure), an error during COMMIT
/// (1180), or Group Replication's rollback at commit (3101). Worth running again.
pub fn is_aborted_commit(err: &sqlx::Error) -> bool {
    matches!(error_number(err), Some(1213 | 1180 | 3101))
}

/// Whether an error means the member a connection was on is gone or no longer takes writes:
/// the connection broke or was refused, the server shut down or killed it, it turned
/// read-only (a demoted primary), or it left its group's quorum. On a group, the work goes on
/// elsewhere ([`super::group::Writers`]).
pub fn is_member_lost(err: &sqlx::Error) -> bool {
    match err {
        _ if is_connection_lost(err) => true,
        // 1047 a Galera node outside the primary component, 1053 shutdown, 1290 and 1792
        // read-only, 1836 read-only mode, 1927 connection killed, 2006 and 2013 server gone,
        // 3100 Group Replication's commit hook failed (the member left the group).
        sqlx::Error::Database(_) => matches!(
            error_number(err),
            Some(1047 | 1053 | 1290 | 1792 | 1836 | 1927 | 2006 | 2013 | 3100)
        ),
        _ => false,
    }
}

/// The server's error number, when the error came from the server.
pub fn error_number(err: &sqlx::Error) -> Option<u16> {
    err.as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .map(|d| d.number())
}

/// What to do when the named database does not exist.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    Create,
    Refuse,
}

async fn ensure_database(url: &DatabaseUrl, missing: Missing) -> Result<()> {
    let options = url.options(false)?;
    let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
        .await
        .map_err(|_| timed_out(url))?
        .map_err(|e| user_error(e, url))?;
    // Only when it is missing: a read-only account on a DBA's copy may not CREATE at all.
    let exists: Option<String> = sqlx::query_scalar(
        "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name = ?",
    )
    .bind(url.database())
    .fetch_optional(&mut conn)
    .await
    .map_err(|e| user_error(e, url))?;
    if exists.is_some() {
        conn.close().await.ok();
        return Ok(());
    }
    if missing == Missing::Refuse {
        conn.close().await.ok();
        bail!(
            "database `{}` does not exist at {}: run `concert-bench seed` to create it, or check --database-url",
            url.database(),
            url.host_port()
        );
    }
    let ddl = format!(
        "CREATE DATABASE IF NOT EXISTS {}",
        quote_identifier(url.database())
    );
    sqlx::query(AssertSqlSafe(ddl))
        .execute(&mut conn)
        .await
        .map_err(|e| user_error(e, url))
        .with_context(|| format!("cannot create database `{}`", url.database()))?;
    conn.close().await.ok();
    Ok(())
}

fn timed_out(url: &DatabaseUrl) -> anyhow::Error {
    anyhow!(
        "cannot reach MySQL at {} (no answer within {}s): check the host, or pass --database-url",
        url.host_port(),
        CONNECT_TIMEOUT.as_secs()
    )
}

/// A name in backticks, its backticks doubled: how every identifier the tool did not write
/// itself reaches SQL.
pub fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Turns a driver error into one line that names the server and what to do about it.
pub fn user_error(err: sqlx::Error, url: &DatabaseUrl) -> anyhow::Error {
    explain(&err, url)
}

/// [`user_error`] for an error the caller keeps.
pub fn explain(err: &sqlx::Error, url: &DatabaseUrl) -> anyhow::Error {
    let at = url.host_port();
    match err {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            anyhow!(
                "cannot reach MySQL at {at} (connection refused): start it, or pass --database-url"
            )
        }
        sqlx::Error::Io(io) => {
            anyhow!("cannot reach MySQL at {at} ({io}): check the host in --database-url")
        }
        sqlx::Error::PoolTimedOut => timed_out(url),
        sqlx::Error::Tls(e) => {
            anyhow!("TLS to MySQL at {at} failed ({e}): check ssl-mode in --database-url")
        }
        sqlx::Error::Database(_) if error_number(err) == Some(ER_USER_LIMIT_REACHED) => anyhow!(
            "user '{}' may hold only so many connections at once at {at} (MAX_USER_CONNECTIONS), and this run needs more: raise the limit (ALTER USER .. WITH MAX_USER_CONNECTIONS N), or run with fewer clients (-c, --connections)",
            url.user()
        ),
        sqlx::Error::Database(db) if error_number(err) == Some(ER_TABLEACCESS_DENIED) => {
            // MariaDB: "INSERT command denied to user 'ro'@'h' for table `db`.`t`";
            // MySQL 9: "... for table 't'" (the database left out).
            let message = db.message();
            let command = message.split(" command denied").next().unwrap_or("a");
            let named = message
                .rsplit_once(" for table ")
                .map_or("", |(_, t)| t.trim_matches(|c| c == '\'' || c == '`'));
            let table = if named.contains("`.`") {
                format!("`{named}`")
            } else {
                format!("`{}`.`{named}`", url.database())
            };
            anyhow!(
                "user '{}' lacks the {command} privilege on {table} at {at}: grant it, or use a --database-url whose user has it",
                url.user()
            )
        }
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("28000") | Some("1045") => anyhow!(
                "access denied for user '{}' at {at}: check the user and password in --database-url",
                url.user()
            ),
            Some("42000") if db.message().contains("denied") => anyhow!(
                "user '{}' lacks a privilege at {at}: {} (grant it, or use another --database-url)",
                url.user(),
                db.message()
            ),
            _ => anyhow!("MySQL at {at}: {}", db.message()),
        },
        _ => anyhow!("MySQL at {at}: {err}"),
    }
}

/// Opens up to `clients` connections of `pool` (at most its size) and gives them back, so a
/// benchmark times its requests, not TCP and authentication handshakes.
pub async fn open_connections(pool: &MySqlPool, clients: u32) -> Result<(), sqlx::Error> {
    let wanted = (clients as usize).min(pool.options().get_max_connections() as usize);
    let connections = futures::future::try_join_all((0..wanted).map(|_| pool.acquire())).await?;
    drop(connections);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_password() {
        let url = DatabaseUrl::parse("mysql://app:s3cret@db.example:3307/tickets").unwrap();
        assert_eq!(url.masked(), "mysql://app:***@db.example:3307/tickets");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.database(), "tickets");
        assert_eq!(url.host_port(), "db.example:3307");
    }

    #[test]
    fn refuses_other_schemes_and_missing_or_odd_database_names() {
        let err = DatabaseUrl::parse("postgres://u:pw@h/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be a mysql:// URL"), "{err}");
        let err = DatabaseUrl::parse("mysql://u:pw@h:3306")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("names no database") && !err.contains("pw"),
            "{err}"
        );
        let err = DatabaseUrl::parse("mysql://h/bad.name")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not one MySQL accepts"), "{err}");
        let dba = DatabaseUrl::parse("mysql://h/ticket-prod-copy").unwrap();
        assert_eq!(dba.database(), "ticket-prod-copy");
        let spaced = DatabaseUrl::parse("mysql://h/my%20db").unwrap();
        assert_eq!(spaced.database(), "my db");
        let child = spaced.with_database("my db_scale10").unwrap();
        assert_eq!(child.database(), "my db_scale10");
        assert_eq!(quote_identifier("a`b"), "`a``b`");
        assert!(DatabaseUrl::parse("not a url").is_err());
    }

    #[test]
    fn a_group_is_named_by_listing_its_members() {
        let url = DatabaseUrl::parse(
            "mysql://app:s3cret@10.0.0.1:5306,10.0.0.2,db3:5308/tickets?ssl-mode=disabled",
        )
        .unwrap();
        assert!(url.names_a_group());
        assert_eq!(url.hosts(), ["10.0.0.1:5306", "10.0.0.2:3306", "db3:5308"]);
        assert_eq!(
            url.masked(),
            "mysql://app:***@10.0.0.1:5306,10.0.0.2:3306,db3:5308/tickets?ssl-mode=disabled"
        );
        let third = url.member(2);
        assert!(!third.names_a_group());
        assert_eq!(
            third.masked(),
            "mysql://app:***@db3:5308/tickets?ssl-mode=disabled"
        );
        let child = url.with_database("tickets_2").unwrap();
        assert_eq!(child.hosts(), url.hosts());
        for bad in [
            "mysql://u@h1:3306,,h3/db",
            "mysql://u@h1:3306,h2:99999/db",
            "mysql://u@h1,h1:3306/db",
        ] {
            let err = DatabaseUrl::parse(bad).unwrap_err().to_string();
            assert!(err.contains("--database-url lists"), "{bad}: {err}");
        }
        let single = DatabaseUrl::parse("mysql://u@h1:3307/db").unwrap();
        assert!(!single.names_a_group());
        assert_eq!(single.hosts(), ["h1:3307"]);
    }
}
