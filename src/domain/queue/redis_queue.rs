//! The queue in Redis. Per concert, under one hash tag so it stays in one cluster slot:
//! - `waiting`: sorted set, member = user, score = arrival number; position = rank + 1.
//! - `active`: sorted set, member = user, score = expiry time, so actives are counted with
//!   ZCARD and expired with one range removal (the original used KEYS for both).
//! - `tokens`: hash user -> token; `seq`: the arrival counter; `stats`: the rate policy's
//!   period and the observed admission rate.
//!
//! Every step that touches more than one key is a Lua script, so it is atomic without WATCH
//! (which is unsafe on a shared multiplexed connection).

use redis::{AsyncCommands, Script};

use super::{
    Admission, Admitted, Clock, Policy, Position, QueueConfig, QueueError, Ticket, WaitingQueue,
    eta, expected_rate, new_token,
};
use crate::keyspace::KeyPrefix;
use crate::keyspace::RedisConn;

/// Batch size for ZMSCORE, to keep each reply small.
const CHECK_BATCH: usize = 1_000;
/// The admission rate behind wait estimates is measured over this much queue time.
const RATE_WINDOW_MS: i64 = 10_000;

const ENTER: &str = r#"
local user, now = ARGV[1], tonumber(ARGV[3])
local expires = redis.call('ZSCORE', KEYS[2], user)
if expires and tonumber(expires) > now then
  return {'active', redis.call('HGET', KEYS[3], user) or '', '', expires}
end
if expires then redis.call('ZREM', KEYS[2], user) end
-- Numbers skipped by a repeated enter leave gaps; only the order matters.
local seq = redis.call('INCR', KEYS[4])
if seq == 1 then
  -- A new or lost counter (Redis restarted) starts above every number handed out before.
  seq = tonumber(ARGV[4])
  redis.call('SET', KEYS[4], ARGV[4])
end
if redis.call('ZADD', KEYS[1], 'NX', seq, user) == 0 then
  return {'waiting', redis.call('HGET', KEYS[3], user) or '',
          redis.call('ZSCORE', KEYS[1], user),
          string.format('%d', redis.call('ZRANK', KEYS[1], user))}
end
redis.call('HSET', KEYS[3], user, ARGV[2])
return {'waiting', ARGV[2], string.format('%d', seq),
        string.format('%d', redis.call('ZCARD', KEYS[1]) - 1)}
"#;

const ADMIT: &str = r#"
local now, ttl, kind, n = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, user in ipairs(expired) do redis.call('HDEL', KEYS[3], user) end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
local waiting = redis.call('ZCARD', KEYS[1])
local room
if kind == 'capacity' then
  room = n - redis.call('ZCARD', KEYS[2])
else
  local period = tostring(math.floor(now / tonumber(ARGV[5])))
  if redis.call('HGET', KEYS[4], 'period') ~= period then
    redis.call('HSET', KEYS[4], 'period', period, 'period_admitted', 0)
  end
  room = n - tonumber(redis.call('HGET', KEYS[4], 'period_admitted'))
end
local popped = {}
if room > 0 and waiting > 0 then
  popped = redis.call('ZPOPMIN', KEYS[1], room)
  for i = 1, #popped, 2 do redis.call('ZADD', KEYS[2], now + ttl, popped[i]) end
  if kind == 'rate' then redis.call('HINCRBY', KEYS[4], 'period_admitted', #popped / 2) end
end
-- The observed admission rate, counted only while someone was waiting.
if waiting == 0 then
  redis.call('HSET', KEYS[4], 'win_start', now, 'win_count', 0)
else
  local start = tonumber(redis.call('HGET', KEYS[4], 'win_start'))
  if not start then
    start = now
    redis.call('HSET', KEYS[4], 'win_start', now)
  end
  local count = redis.call('HINCRBY', KEYS[4], 'win_count', #popped / 2)
  if now - start >= tonumber(ARGV[6]) then
    -- The first window holds the burst that fills an empty queue's capacity: not a rate
    -- anyone will see again, so it is skipped; later windows are smoothed.
    local rate = count * 1000 / (now - start)
    local previous = redis.call('HGET', KEYS[4], 'rate')
    if redis.call('HEXISTS', KEYS[4], 'warm') == 0 then
      redis.call('HSET', KEYS[4], 'warm', 1)
    elseif previous then
      redis.call('HSET', KEYS[4], 'rate', tostring((tonumber(previous) + rate) / 2))
    else
      redis.call('HSET', KEYS[4], 'rate', tostring(rate))
    end
    redis.call('HSET', KEYS[4], 'win_start', now, 'win_count', 0)
  end
end
local reply = {string.format('%d', #expired), string.format('%d', redis.call('ZCARD', KEYS[2])),
               string.format('%d', redis.call('ZCARD', KEYS[1]))}
for i = 1, #popped do reply[#reply + 1] = popped[i] end
return reply
"#;

const COMPLETE: &str = r#"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
"#;

const LEAVE: &str = r#"
local removed = redis.call('ZREM', KEYS[1], ARGV[1]) + redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return removed
"#;

struct Keys {
    waiting: String,
    active: String,
    tokens: String,
    seq: String,
    stats: String,
}

impl Keys {
    fn new(prefix: &KeyPrefix, concert: u64) -> Self {
        let base = format!("{}q:{{c{concert}}}:", prefix.as_str());
        Self {
            waiting: format!("{base}waiting"),
            active: format!("{base}active"),
            tokens: format!("{base}tokens"),
            seq: format!("{base}seq"),
            stats: format!("{base}stats"),
        }
    }

    fn all(&self) -> [&str; 5] {
        [
            &self.waiting,
            &self.active,
            &self.tokens,
            &self.seq,
            &self.stats,
        ]
    }
}

pub struct RedisQueue {
    conn: RedisConn,
    keys: Keys,
    config: QueueConfig,
    clock: Clock,
    enter: Script,
    admit: Script,
    complete: Script,
    leave: Script,
}

impl RedisQueue {
    pub fn new(conn: RedisConn, prefix: &KeyPrefix, config: QueueConfig, clock: Clock) -> Self {
        Self {
            conn,
            keys: Keys::new(prefix, config.concert),
            config,
            clock,
            enter: Script::new(ENTER),
            admit: Script::new(ADMIT),
            complete: Script::new(COMPLETE),
            leave: Script::new(LEAVE),
        }
    }

    /// One of the queue's keys: all of them share its hash tag, so its slot is the queue's.
    pub fn slot_key(&self) -> &str {
        &self.keys.waiting
    }

    fn waiting_position(&self, rank: u64, rate: Option<f64>) -> Position {
        let position = rank + 1;
        Position::Waiting {
            position,
            eta: eta(position, expected_rate(self.config.policy, rate)),
        }
    }
}

fn number<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, QueueError> {
    // Redis prints integral scores below 10^17 as plain digits; arrival numbers stay below
    // 2^53, so a score is an exact integer.
    raw.parse::<T>()
        .map_err(|_| QueueError::Reply(format!("{field} {raw:?} is not a number")))
}

impl WaitingQueue for RedisQueue {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn enter(&self, user: u64) -> Result<Ticket, QueueError> {
        let now = self.clock.now_ms();
        let reply: Vec<String> = self
            .enter
            .key(&self.keys.waiting)
            .key(&self.keys.active)
            .key(&self.keys.tokens)
            .key(&self.keys.seq)
            .arg(user)
            .arg(new_token())
            .arg(now)
            .arg(now.max(0) as u64 * 1_000)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let [state, token, arrival, detail] = <[String; 4]>::try_from(reply)
            .map_err(|r| QueueError::Reply(format!("enter returned {r:?}")))?;
        match state.as_str() {
            "waiting" => Ok(Ticket {
                token,
                arrival: Some(number("arrival", &arrival)?),
                position: self.waiting_position(number("rank", &detail)?, None),
            }),
            "active" => Ok(Ticket {
                token,
                arrival: None,
                position: Position::Active {
                    expires_at_ms: number("expiry", &detail)?,
                },
            }),
            other => Err(QueueError::Reply(format!("enter state {other:?}"))),
        }
    }

    async fn position(&self, user: u64) -> Result<Position, QueueError> {
        let mut conn = self.conn.clone();
        let (rank, rate): (Option<u64>, Option<f64>) = redis::pipe()
            .zrank(&self.keys.waiting, user)
            .hget(&self.keys.stats, "rate")
            .query_async(&mut conn)
            .await?;
        if let Some(rank) = rank {
            return Ok(self.waiting_position(rank, rate));
        }
        let expires: Option<f64> = conn.zscore(&self.keys.active, user).await?;
        Ok(match expires {
            Some(at) if at as i64 > self.clock.now_ms() => Position::Active {
                expires_at_ms: at as i64,
            },
            _ => Position::Absent,
        })
    }

    async fn admit(&self) -> Result<Admission, QueueError> {
        let (kind, n, per_ms) = match self.config.policy {
            Policy::Capacity { active } => ("capacity", active, 1),
            Policy::Rate { admit, per } => ("rate", admit, per.as_millis().max(1) as u64),
        };
        let reply: Vec<String> = self
            .admit
            .key(&self.keys.waiting)
            .key(&self.keys.active)
            .key(&self.keys.tokens)
            .key(&self.keys.stats)
            .arg(self.clock.now_ms())
            .arg(self.config.ttl.as_millis() as u64)
            .arg(kind)
            .arg(n)
            .arg(per_ms)
            .arg(RATE_WINDOW_MS)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let (counts, popped) = reply
            .split_at_checked(3)
            .ok_or_else(|| QueueError::Reply(format!("admit returned {} fields", reply.len())))?;
        let admitted = popped
            .chunks(2)
            .map(|pair| match pair {
                [user, arrival] => Ok(Admitted {
                    user: number("user", user)?,
                    arrival: number("arrival", arrival)?,
                }),
                _ => Err(QueueError::Reply("admit returned an odd list".into())),
            })
            .collect::<Result<_, _>>()?;
        Ok(Admission {
            admitted,
            expired: number("expired", &counts[0])?,
            active: number("active", &counts[1])?,
            waiting: number("waiting", &counts[2])?,
        })
    }

    async fn is_active(&self, user: u64, token: &str) -> Result<bool, QueueError> {
        let (expires, current): (Option<f64>, Option<String>) = redis::pipe()
            .zscore(&self.keys.active, user)
            .hget(&self.keys.tokens, user)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(expires.is_some_and(|at| at as i64 > self.clock.now_ms())
            && current.as_deref() == Some(token))
    }

    async fn complete(&self, user: u64) -> Result<bool, QueueError> {
        let removed: i64 = self
            .complete
            .key(&self.keys.active)
            .key(&self.keys.tokens)
            .arg(user)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(removed == 1)
    }

    async fn leave(&self, user: u64) -> Result<bool, QueueError> {
        let removed: i64 = self
            .leave
            .key(&self.keys.waiting)
            .key(&self.keys.active)
            .key(&self.keys.tokens)
            .arg(user)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(removed > 0)
    }

    async fn count_waiting(&self, users: &[u64]) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        let mut still = 0;
        for batch in users.chunks(CHECK_BATCH) {
            let scores: Vec<Option<f64>> = redis::cmd("ZMSCORE")
                .arg(&self.keys.waiting)
                .arg(batch)
                .query_async(&mut conn)
                .await?;
            still += scores.iter().flatten().count() as u64;
        }
        Ok(still)
    }

    async fn memory_bytes(&self) -> Result<Option<u64>, QueueError> {
        let mut conn = self.conn.clone();
        let mut total = 0;
        for key in self.keys.all() {
            let bytes: Option<u64> = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(key)
                .query_async(&mut conn)
                .await?;
            total += bytes.unwrap_or(0);
        }
        Ok(Some(total))
    }

    async fn clear(&self) -> Result<(), QueueError> {
        let _: () = redis::cmd("UNLINK")
            .arg(&self.keys.all()[..])
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}
