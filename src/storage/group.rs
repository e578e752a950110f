//! Replicated groups: MySQL Group Replication and MariaDB Galera, named by a `--database-url`
//! that lists their members (`mysql://user@host1:3306,host2:3306,host3:3306/db`).
//!
//! Before any work, every named member is asked what it is ([`place`]), and the answers decide
//! where the work goes: writes to the primary of a single-primary group (found from
//! `performance_schema.replication_group_members`, matched to a named host by server UUID, so
//! no host name has to match what the member reports), and to every member of a multi-primary
//! group or a Galera cluster. A group the tool cannot trust is refused in one line before
//! anything is written: a member named as a single server (its writes would not follow a
//! failover), a plain server named as a group, a group that lost quorum, a Galera node that is
//! not Synced (a donor serves stale reads and stalls its writes), or hosts of two groups.
//! A named member that does not answer is left out with a warning; the others go on.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Serialize;
use sqlx::mysql::{MySql, MySqlConnection, MySqlPool, MySqlPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{ConnectOptions, Connection};

use super::db::{Database, DatabaseUrl, Flavor, user_error};

/// How long a member may take to answer before it counts as down: short, because the others
/// are waiting and a group is expected to lose a member now and then.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether the member `pool` is on is gone: it fails a trivial query as a lost member does,
/// or does not answer within [`MEMBER_TIMEOUT`].
async fn member_lost(pool: &MySqlPool) -> bool {
    match tokio::time::timeout(MEMBER_TIMEOUT, sqlx::query("SELECT 1").execute(pool)).await {
        Ok(Ok(_)) => false,
        Ok(Err(e)) => super::db::is_member_lost(&e),
        Err(_) => true,
    }
}

/// How often [`Writers::keep_following`] and [`Reader::keep_following`] check the members.
const WATCH_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    GroupReplication,
    Galera,
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Engine::GroupReplication => "Group Replication",
            Engine::Galera => "Galera",
        })
    }
}

/// The group a run worked on, for its report.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct GroupInfo {
    pub engine: Engine,
    /// Whether every member takes writes (Galera always; Group Replication when multi-primary).
    pub multi_primary: bool,
    /// The members that take this run's writes, `host:port`, the primary first.
    pub writers: Vec<String>,
    /// Named members that did not answer when the run began.
    pub down: Vec<String>,
}

/// Where a run's work goes.
pub struct Placement {
    /// The members that take writes, each as a single-host URL; the first is the primary.
    pub writers: Vec<DatabaseUrl>,
    /// The members `--read-from replicas` reads on, each as a single-host URL: a
    /// single-primary group's ONLINE secondaries, or every member but the first writer of a
    /// multi-primary group or Galera cluster. Empty for a single server.
    pub readers: Vec<DatabaseUrl>,
    /// `None` for a single server.
    pub group: Option<GroupInfo>,
    /// Members left out, in words, for a warning.
    pub warnings: Vec<String>,
}

/// What one member said of itself.
enum Membership {
    Plain(Flavor),
    Galera {
        cluster: String,
        /// `wsrep_cluster_status`: `Primary` while the node is in the quorum.
        status: String,
        /// `wsrep_local_state_comment`: `Synced` when it serves reads and writes.
        state: String,
        size: u32,
    },
    GroupReplication {
        server_uuid: String,
        group: String,
        single_primary: bool,
        /// `(member id, state, role)` as this member sees the group.
        view: Vec<(String, String, String)>,
    },
}

/// Asks every host the URL names what it is, and decides where the work goes (see the module
/// doc for what is refused).
pub async fn place(url: &DatabaseUrl) -> Result<Placement> {
    if !url.names_a_group() {
        // A server that cannot be asked is reported by the connect that follows.
        if !url.placed()
            && let Ok(membership) = probe(url).await
        {
            refuse_a_lone_member(url, &membership)?;
        }
        return Ok(Placement {
            writers: vec![url.clone()],
            readers: Vec::new(),
            group: None,
            warnings: Vec::new(),
        });
    }
    let hosts = url.hosts();
    let mut answered = Vec::new();
    let mut down = Vec::new();
    let probes = futures::future::join_all(
        (0..hosts.len()).map(|i| async move { probe(&url.member(i)).await }),
    )
    .await;
    for (i, probe) in probes.into_iter().enumerate() {
        match probe {
            Ok(membership) => answered.push((i, membership)),
            Err(why) => down.push((hosts[i].clone(), why)),
        }
    }
    if answered.is_empty() {
        let why: Vec<String> = down.iter().map(|(h, e)| format!("{h} ({e})")).collect();
        bail!(
            "no member of the group in --database-url answers: {}",
            why.join("; ")
        );
    }
    let warnings = down
        .iter()
        .map(|(h, e)| format!("group member {h} does not answer ({e}): going on with the others"))
        .collect();
    let down: Vec<String> = down.into_iter().map(|(h, _)| h).collect();
    let (engine, multi_primary, writers, readers) = roles_of(&hosts, &answered)?;
    Ok(Placement {
        group: Some(GroupInfo {
            engine,
            multi_primary,
            writers: writers.iter().map(|&i| hosts[i].clone()).collect(),
            down,
        }),
        writers: writers.into_iter().map(|i| url.member(i)).collect(),
        readers: readers.into_iter().map(|i| url.member(i)).collect(),
        warnings,
    })
}

fn refuse_a_lone_member(url: &DatabaseUrl, membership: &Membership) -> Result<()> {
    let (engine, size) = match membership {
        Membership::Plain(_) => return Ok(()),
        Membership::Galera { size, .. } => (Engine::Galera, *size as usize),
        Membership::GroupReplication { view, .. } => (Engine::GroupReplication, view.len()),
    };
    bail!(
        "{} is a member of a {engine} group of {size}, named as a single server: list every member in --database-url (mysql://user@host1:port1,host2:port2,host3:port3/{}) so writes follow the group's primary and a lost member is left out",
        url.host_port(),
        url.database()
    )
}

/// The engine, whether all members write, which of the answering hosts (by index) take the
/// writes, primary first, and which serve `--read-from replicas`; or the one-line reason the
/// group cannot be trusted.
fn roles_of(
    hosts: &[String],
    answered: &[(usize, Membership)],
) -> Result<(Engine, bool, Vec<usize>, Vec<usize>)> {
    let named = hosts.len();
    for (i, membership) in answered {
        if let Membership::Plain(flavor) = membership {
            bail!(
                "--database-url names {named} servers as a group, but {} is a plain {flavor} server in no Group Replication group or Galera cluster: name it alone (mysql://user@{}/db), or list the members of a group",
                hosts[*i],
                hosts[*i]
            );
        }
    }
    match &answered[0].1 {
        Membership::Galera { .. } => {
            let writers = galera_writers(hosts, answered)?;
            let readers = writers[1..].to_vec();
            Ok((Engine::Galera, true, writers, readers))
        }
        Membership::GroupReplication { single_primary, .. } => {
            let (writers, secondaries) = group_replication_roles(hosts, answered)?;
            let readers = if *single_primary {
                secondaries
            } else {
                writers[1..].to_vec()
            };
            Ok((Engine::GroupReplication, !single_primary, writers, readers))
        }
        Membership::Plain(_) => unreachable!("refused above"),
    }
}

fn galera_writers(hosts: &[String], answered: &[(usize, Membership)]) -> Result<Vec<usize>> {
    let mut clusters = HashMap::new();
    let mut writers = Vec::new();
    for (i, membership) in answered {
        let Membership::Galera {
            cluster,
            status,
            state,
            size,
        } = membership
        else {
            return Err(other_engine(hosts, answered, *i, Engine::Galera));
        };
        clusters.entry(cluster.clone()).or_insert(*i);
        if status != "Primary" {
            bail!(
                "{} is in a non-primary Galera component (wsrep_cluster_status = {status}, {size} node(s) in view): the cluster has lost quorum and takes no writes; restore quorum (or bootstrap a component with pc.bootstrap) first",
                hosts[*i]
            );
        }
        if state != "Synced" {
            bail!(
                "{} is a Galera node in state {state} (wsrep_local_state_comment), not Synced: a donor or joiner serves stale reads and stalls writes; wait until it is Synced, or leave it out of --database-url",
                hosts[*i]
            );
        }
        writers.push(*i);
    }
    one_group(hosts, &clusters, Engine::Galera)?;
    Ok(writers)
}

/// Refuses hosts of several groups: `groups` maps each group's id to one host of it.
fn one_group(hosts: &[String], groups: &HashMap<String, usize>, engine: Engine) -> Result<()> {
    if groups.len() > 1 {
        let hosts_of: Vec<&str> = groups.values().map(|&i| hosts[i].as_str()).collect();
        bail!(
            "--database-url names members of {} different {engine} groups ({}): list the members of one",
            groups.len(),
            hosts_of.join(" and ")
        );
    }
    Ok(())
}

/// The refusal of a host of another engine than the first that answered.
fn other_engine(
    hosts: &[String],
    answered: &[(usize, Membership)],
    i: usize,
    engine: Engine,
) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is not a {engine} member, but {} is: --database-url must name the members of one group",
        hosts[i],
        hosts[answered[0].0]
    )
}

/// The named ONLINE primaries (the writers) and secondaries of a Group Replication group.
fn group_replication_roles(
    hosts: &[String],
    answered: &[(usize, Membership)],
) -> Result<(Vec<usize>, Vec<usize>)> {
    let mut groups = HashMap::new();
    // Which named host each server UUID is.
    let mut host_of = HashMap::new();
    let mut view_of_first = None;
    for (i, membership) in answered {
        let Membership::GroupReplication {
            server_uuid,
            group,
            view,
            single_primary,
        } = membership
        else {
            return Err(other_engine(hosts, answered, *i, Engine::GroupReplication));
        };
        groups.entry(group.clone()).or_insert(*i);
        host_of.insert(server_uuid.clone(), *i);
        let own_state = view
            .iter()
            .find(|(id, ..)| id == server_uuid)
            .map_or("OFFLINE", |(_, state, _)| state.as_str());
        if own_state != "ONLINE" {
            bail!(
                "{} is a Group Replication member in state {own_state}, not ONLINE: wait until it is ONLINE, or leave it out of --database-url",
                hosts[*i]
            );
        }
        let online = view
            .iter()
            .filter(|(_, state, _)| state == "ONLINE")
            .count();
        if online * 2 <= view.len() {
            bail!(
                "{} sees only {online} of the group's {} members ONLINE: the group has lost quorum and takes no writes; bring members back (or force a new membership with group_replication_force_members) first",
                hosts[*i],
                view.len()
            );
        }
        view_of_first.get_or_insert((view, *single_primary));
    }
    one_group(hosts, &groups, Engine::GroupReplication)?;
    let (view, single_primary) = view_of_first.expect("at least one member answered");
    let mut writers = Vec::new();
    for (id, ..) in view
        .iter()
        .filter(|(_, state, role)| state == "ONLINE" && role == "PRIMARY")
    {
        match host_of.get(id) {
            Some(&i) => writers.push(i),
            None if single_primary => bail!(
                "the group's primary (server UUID {id}) is not among the hosts --database-url names ({}): add it",
                hosts.join(",")
            ),
            // Multi-primary: a member not named is simply not used.
            None => {}
        }
    }
    if writers.is_empty() {
        bail!(
            "the group has no ONLINE primary among {}: wait for the election to finish",
            hosts.join(",")
        );
    }
    writers.sort_unstable();
    let mut secondaries: Vec<usize> = view
        .iter()
        .filter(|(_, state, role)| state == "ONLINE" && role == "SECONDARY")
        .filter_map(|(id, ..)| host_of.get(id).copied())
        .collect();
    secondaries.sort_unstable();
    Ok((writers, secondaries))
}

/// Asks one server what it is, on a connection of its own (no database selected: `seed` may
/// not have created it yet).
async fn probe(url: &DatabaseUrl) -> Result<Membership, String> {
    let options = url.options(false).map_err(|e| e.to_string())?;
    let mut conn = tokio::time::timeout(MEMBER_TIMEOUT, options.connect())
        .await
        .map_err(|_| format!("no answer within {} s", MEMBER_TIMEOUT.as_secs()))?
        .map_err(|e| super::db::explain(&e, url).to_string())?;
    let membership = membership(&mut conn)
        .await
        .map_err(|e| super::db::explain(&e, url).to_string());
    conn.close().await.ok();
    membership
}

async fn membership(conn: &mut MySqlConnection) -> Result<Membership, sqlx::Error> {
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut *conn)
        .await?;
    if version.to_ascii_lowercase().contains("mariadb") {
        let status: HashMap<String, String> = sqlx::query_as(
            "SHOW GLOBAL STATUS WHERE Variable_name IN
             ('wsrep_cluster_status', 'wsrep_local_state_comment', 'wsrep_cluster_size',
              'wsrep_cluster_state_uuid')",
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
        let get = |name: &str| status.get(name).cloned().unwrap_or_default();
        let size: u32 = get("wsrep_cluster_size").parse().unwrap_or(0);
        // A server without a Galera provider reports size 0, status Disconnected.
        if size == 0 {
            return Ok(Membership::Plain(Flavor::Mariadb));
        }
        return Ok(Membership::Galera {
            cluster: get("wsrep_cluster_state_uuid"),
            status: get("wsrep_cluster_status"),
            state: get("wsrep_local_state_comment"),
            size,
        });
    }
    // A least-privilege login may not read performance_schema: then it is treated as plain,
    // as it was before groups were known (a group named by such a login fails on `view`).
    let view: Vec<(String, String, String)> = match sqlx::query_as(
        "SELECT CAST(MEMBER_ID AS CHAR), CAST(MEMBER_STATE AS CHAR), CAST(MEMBER_ROLE AS CHAR)
         FROM performance_schema.replication_group_members
         WHERE MEMBER_ID <> '' AND MEMBER_STATE <> 'OFFLINE'",
    )
    .fetch_all(&mut *conn)
    .await
    {
        Ok(view) => view,
        Err(sqlx::Error::Database(_)) => Vec::new(),
        Err(e) => return Err(e),
    };
    if view.is_empty() {
        return Ok(Membership::Plain(Flavor::Mysql));
    }
    let server_uuid: String = sqlx::query_scalar("SELECT CAST(@@server_uuid AS CHAR)")
        .fetch_one(&mut *conn)
        .await?;
    let variables: HashMap<String, String> = sqlx::query_as(
        "SELECT CAST(VARIABLE_NAME AS CHAR), CAST(VARIABLE_VALUE AS CHAR)
         FROM performance_schema.global_variables
         WHERE VARIABLE_NAME IN ('group_replication_group_name', 'group_replication_single_primary_mode')",
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    Ok(Membership::GroupReplication {
        server_uuid,
        group: variables
            .get("group_replication_group_name")
            .cloned()
            .unwrap_or_default(),
        single_primary: variables
            .get("group_replication_single_primary_mode")
            .is_none_or(|v| v == "ON" || v == "1"),
        view,
    })
}

/// The pools a run writes through, following the group when a member is lost: the group is
/// asked again ([`place`]), and each pool whose member no longer takes writes is pointed at
/// one that does (on a single-primary group, the newly elected primary). Existing connections
/// to a dead member fail their next use and are replaced by the pool from the new address.
pub struct Writers {
    /// The URL as given, naming the whole group; `None` for a single server (never followed).
    group_url: Option<DatabaseUrl>,
    engine: Option<Engine>,
    pools: Vec<MySqlPool>,
    /// The member each pool is on, `host:port`; `None` once it has none left to go to.
    members: std::sync::Mutex<Vec<Option<String>>>,
    /// Other pools of the run (the events flow's workers') and the member each is on: they
    /// go where the first writer goes.
    followers: std::sync::Mutex<Vec<(MySqlPool, String)>>,
    /// One re-placement at a time; when the last one finished.
    replaced: tokio::sync::Mutex<Instant>,
}

impl Writers {
    /// A pool on each member that takes writes (see [`Database::writer_pools`]).
    pub async fn open(db: &Database, max_each: u32) -> Result<Self> {
        let pools = db.writer_pools(max_each).await?;
        if let (Some(group), true) = (&db.group, pools.len() > 1) {
            // Users spread over the members: one still applying a seed that just finished
            // would not know some of them (refused as unknown users).
            for pool in &pools {
                catch_up(pool, group.engine).await?;
            }
        }
        let members = db.writers.iter().map(|url| Some(url.host_port())).collect();
        Ok(Self {
            group_url: db.group.as_ref().map(|_| db.given_url.clone()),
            engine: db.group.as_ref().map(|g| g.engine),
            pools,
            members: std::sync::Mutex::new(members),
            followers: std::sync::Mutex::default(),
            replaced: tokio::sync::Mutex::new(Instant::now()),
        })
    }

    pub fn pools(&self) -> &[MySqlPool] {
        &self.pools
    }

    /// The pool for `key` (a user: the same user stays on one member while it lives), among
    /// those that still have a member (any, when none has: its failure is then reported).
    pub fn pick(&self, key: u64) -> usize {
        // On every step of every attempt: counted, not collected.
        let members = self.members.lock().expect("writers");
        let live = members.iter().filter(|m| m.is_some()).count();
        if live == 0 {
            return key as usize % members.len();
        }
        (0..members.len())
            .filter(|&i| members[i].is_some())
            .nth(key as usize % live)
            .expect("nth < live")
    }

    /// A connection that sees every write the group acknowledged, on a member that answers:
    /// Galera waits for its apply queue (`wsrep_sync_wait`), Group Replication for the
    /// transactions before it (`group_replication_consistency = BEFORE`).
    pub async fn reading_every_write(&self) -> Result<PoolConnection<MySql>> {
        let mut conn = self.pools[self.pick(0)].acquire().await?;
        let Some(engine) = self.engine else {
            return Ok(conn);
        };
        sqlx::query(Consistency::Before.setting(engine))
            .execute(&mut *conn)
            .await?;
        // Returned to the pool afterwards: the setting must not outlive this read.
        conn.close_on_drop();
        Ok(conn)
    }

    /// Moves `pool` (on `url`'s member) with the writers when that member is lost.
    pub fn follow(&self, pool: MySqlPool, url: &DatabaseUrl) {
        self.followers
            .lock()
            .expect("followers")
            .push((pool, url.host_port()));
    }

    /// Whether a lost member is worth following: only on a group.
    pub fn follows_a_group(&self) -> bool {
        self.group_url.is_some()
    }

    /// Checks every pool's member every [`WATCH_EVERY`] and follows the group when one is
    /// lost, until dropped. For work that does not fail a step of its own when its member
    /// dies: the events flow's workers wait for their database to come back, and with no user
    /// step left to fail, nothing else would point them at the new primary.
    pub async fn keep_following(&self) -> std::convert::Infallible {
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            if self.group_url.is_none() {
                continue;
            }
            for pool in &self.pools {
                let checked = Instant::now();
                if member_lost(pool).await {
                    // No writer offered yet (an election): checked again next round.
                    let _ = self.lost(checked).await;
                    break;
                }
            }
        }
    }

    /// After pool `slot` failed at `failed_at` with a lost member: asks the group again
    /// (unless someone did since the failure) and repoints the pools. An error means the
    /// group has no writer to offer yet (an election under way): the caller waits and retries.
    pub async fn lost(&self, failed_at: Instant) -> Result<()> {
        let Some(group_url) = &self.group_url else {
            bail!("a single server is not followed");
        };
        let mut replaced = self.replaced.lock().await;
        if *replaced > failed_at {
            return Ok(());
        }
        let placement = place(group_url).await?;
        let writers: Vec<String> = placement.writers.iter().map(|u| u.host_port()).collect();
        let mut members = self.members.lock().expect("writers");
        let mut unused: Vec<&DatabaseUrl> = placement
            .writers
            .iter()
            .filter(|w| !members.iter().flatten().any(|m| *m == w.host_port()))
            .collect();
        for (slot, member) in members.iter_mut().enumerate() {
            if member.as_ref().is_some_and(|m| writers.contains(m)) {
                continue;
            }
            *member = match unused.pop() {
                Some(url) => {
                    self.pools[slot].set_connect_options(url.options(true)?);
                    Some(url.host_port())
                }
                None => None,
            };
        }
        if let Some(first) = placement.writers.first() {
            for (pool, member) in self.followers.lock().expect("followers").iter_mut() {
                if !writers.contains(member) {
                    pool.set_connect_options(first.options(true)?);
                    *member = first.host_port();
                }
            }
        }
        *replaced = Instant::now();
        Ok(())
    }
}

/// Where `query` and `cache-bench` send their database reads (`--read-from`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    /// The server, or the group member that takes the writes.
    #[default]
    Primary,
    /// A secondary of the group --database-url names (on Galera or a multi-primary group, a
    /// member other than the one written to); its reads see a write once it has applied it.
    Replicas,
}

impl ReadFrom {
    /// Refuses `replicas` on a URL that names one server, before anything connects.
    pub fn check(self, url: &DatabaseUrl) -> Result<()> {
        if self == ReadFrom::Replicas && !url.names_a_group() {
            bail!(
                "--read-from replicas needs a group, and --database-url names one server: list the group's members (mysql://user@host1:port1,host2:port2,host3:port3/{})",
                url.database()
            );
        }
        Ok(())
    }
}

/// How a read on a group member waits for the writes committed elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    /// Answers from what the member has applied so far (Group Replication's `EVENTUAL`,
    /// Galera's `wsrep_sync_wait = 0`): no wait, possibly stale.
    Eventual,
    /// First applies every transaction the group committed before the read began (Group
    /// Replication's `BEFORE`, Galera's `wsrep_sync_wait = 1`): never stale, slower.
    Before,
}

impl Consistency {
    /// The session setting that asks `engine` for this consistency.
    pub fn setting(self, engine: Engine) -> &'static str {
        match (engine, self) {
            (Engine::Galera, Consistency::Eventual) => "SET SESSION wsrep_sync_wait = 0",
            (Engine::Galera, Consistency::Before) => "SET SESSION wsrep_sync_wait = 1",
            (Engine::GroupReplication, Consistency::Eventual) => {
                "SET SESSION group_replication_consistency = 'EVENTUAL'"
            }
            (Engine::GroupReplication, Consistency::Before) => {
                "SET SESSION group_replication_consistency = 'BEFORE'"
            }
        }
    }

    /// What the engine calls it, for a report.
    pub fn engine_name(self, engine: Engine) -> &'static str {
        match (engine, self) {
            (Engine::Galera, Consistency::Eventual) => "wsrep_sync_wait=0",
            (Engine::Galera, Consistency::Before) => "wsrep_sync_wait=1",
            (Engine::GroupReplication, Consistency::Eventual) => "EVENTUAL",
            (Engine::GroupReplication, Consistency::Before) => "BEFORE",
        }
    }
}

/// The pool a command's reads go through: the primary's own, or one on a secondary.
pub struct Reader {
    pub pool: MySqlPool,
    /// The member it reads on first.
    pub url: DatabaseUrl,
    /// The group's engine when the pool is on a secondary.
    engine: Option<Engine>,
    /// The URL naming the whole group, when a lost secondary is to be replaced.
    group_url: Option<DatabaseUrl>,
    /// Every member read on, `host:port`, in order.
    read: std::sync::Mutex<Vec<String>>,
}

impl Reader {
    /// The reads' pool for `--read-from`: on a secondary, `max` connections of its own
    /// reading with [`Consistency::Eventual`], as an application reading from replicas does.
    pub async fn open(db: &Database, read_from: ReadFrom, max: u32) -> Result<Self> {
        if read_from == ReadFrom::Primary {
            return Ok(Self {
                pool: db.pool.clone(),
                url: db.url.clone(),
                engine: None,
                group_url: None,
                read: std::sync::Mutex::new(vec![db.url.host_port()]),
            });
        }
        read_from.check(&db.given_url)?;
        let Some(group) = &db.group else {
            bail!(
                "--read-from replicas: {} is not a group",
                db.url.host_port()
            );
        };
        let Some(url) = db.readers.first() else {
            bail!(
                "--read-from replicas: no member of the {} group but the one written to answers ONLINE/Synced among {}: read from the primary, or bring a member back",
                group.engine,
                db.given_url.host_port()
            );
        };
        let mut reader = Self::on_member(url, group.engine, Consistency::Eventual, max).await?;
        reader.group_url = Some(db.given_url.clone());
        Ok(reader)
    }

    /// A pool of `max` connections on one member, every session reading with `consistency`.
    pub async fn on_member(
        url: &DatabaseUrl,
        engine: Engine,
        consistency: Consistency,
        max: u32,
    ) -> Result<Self> {
        let setting = consistency.setting(engine);
        let pool = MySqlPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(MEMBER_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move { sqlx::query(setting).execute(conn).await.map(|_| ()) })
            })
            .connect_with(url.options(true)?)
            .await
            .map_err(|e| user_error(e, url))?;
        Ok(Self {
            pool,
            url: url.clone(),
            engine: Some(engine),
            group_url: None,
            read: std::sync::Mutex::new(vec![url.host_port()]),
        })
    }

    /// The member it reads on, `host:port`.
    pub fn member(&self) -> String {
        self.url.host_port()
    }

    /// Every member read on, in order: more than one when a secondary was lost mid-run.
    pub fn members_read(&self) -> Vec<String> {
        self.read.lock().expect("members read").clone()
    }

    /// Checks the member every [`WATCH_EVERY`] and, once it is lost, points the pool at
    /// another secondary the group offers (the primary when none answers), until dropped.
    /// Reads that fail meanwhile are the caller's to count; the pool's connections to the lost
    /// member fail their next check and are opened again on the new one.
    pub async fn keep_following(&self) -> std::convert::Infallible {
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            let Some(group_url) = &self.group_url else {
                continue;
            };
            if !member_lost(&self.pool).await {
                continue;
            }
            // A group that offers no member yet (an election, a lost quorum) is asked again.
            let Ok(placement) = place(group_url).await else {
                continue;
            };
            let Some(next) = placement.readers.first().or(placement.writers.first()) else {
                continue;
            };
            let Ok(options) = next.options(true) else {
                continue;
            };
            let mut read = self.read.lock().expect("members read");
            if read.last() != Some(&next.host_port()) {
                self.pool.set_connect_options(options);
                read.push(next.host_port());
            }
        }
    }

    /// Whether the reads go to a secondary (`--read-from replicas`), not the primary.
    pub fn on_secondary(&self) -> bool {
        self.engine.is_some()
    }

    /// Waits until the member has applied every write the group committed so far (the
    /// indexes a run just created, the rows a seed loaded): reads timed on a member still
    /// applying them would time another database.
    pub async fn catch_up(&self) -> Result<(), sqlx::Error> {
        match self.engine {
            Some(engine) => catch_up(&self.pool, engine).await,
            None => Ok(()),
        }
    }
}

/// Waits until the pool's member has applied every write the group committed so far: one
/// read under `BEFORE` / `wsrep_sync_wait=1`.
async fn catch_up(pool: &MySqlPool, engine: Engine) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    // The setting must not outlive this read.
    conn.close_on_drop();
    sqlx::query(Consistency::Before.setting(engine))
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT 1").execute(&mut *conn).await?;
    Ok(())
}
