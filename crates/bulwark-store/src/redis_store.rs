//! Redis as the store several sidecars share for volume and replay protection
//! (`[server.limits] redis`): the rate limits of core's `ratelimit` ([`LimitStore`]) and the
//! webhook replay cache ([`ReplayStore`]), so a limit holds across replicas and a message replayed
//! to another replica is refused.
//!
//! - **Limits** are GCRA, as in the process: one key per limiter and key holding the theoretical
//!   arrival time in microseconds, decided by one Lua script (called with EVALSHA, loaded on the
//!   first NOSCRIPT) that reads Redis's own clock, so replicas whose clocks differ agree. A key
//!   expires when its allowance is full again.
//! - **Replay**: `SET key 1 NX PX window`: the first replica to record a message id wins.
//! - **Gateway budgets** ([`BudgetStore`]): one hash per window (a token, a rule's model glob, a
//!   UTC minute or day) with its requests, tokens and cost; one script checks every limit and
//!   adds, another settles a reservation to what the reply used. A window expires after it ends.
//! - **Out of reach** (no connection, a timeout, an error): a limit named in `fail_open` lets the
//!   request through; the others refuse it ([`Refused::Unavailable`], HTTP 503). A command waits
//!   at most [`RESPONSE_TIMEOUT`] (plus [`CONNECT_TIMEOUT`] to connect). After a failure, Redis
//!   counts as down for [`DOWN_FOR`]: checks answer at once without asking, then one asks again.
//!   After [`REBUILD_AFTER`] failures in a row the connection is dropped and a new one made (a
//!   dead TCP peer, a refused login, or a full server never recover on the same connection).
//!
//! The URL may hold a password: it is kept as a secret and never shown in an error.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bulwark_core::gateway::budget::{Adjustment, BudgetStore, Charge, Charged, Charging, Settling};
use bulwark_core::ratelimit::{Denied, LimitStore, Rate, Refused, Taking, Unavailable};
use bulwark_core::webhook::{Checking, ReplayStore, WebhookError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};

/// How long one command may take before the check counts as out of reach.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long Redis counts as down after a failure, during which checks do not wait for it.
pub const DOWN_FOR: Duration = Duration::from_secs(1);
/// Failures in a row after which the connection is made anew.
pub const REBUILD_AFTER: u32 = 3;

/// The limiter's script (public for operators who audit it, and for tests).
///
/// GCRA over Redis's clock, for `n` requests at once (the checks of one key that arrived while the
/// previous were in flight): exactly what `n` single checks in a row would decide. KEYS[1]: the
/// limiter's key. ARGV[1]: the emission interval in µs; ARGV[2]: the burst tolerance in µs
/// (interval × (burst − 1)); ARGV[3]: `n`; ARGV[4]: how many more to lease ahead. Returns
/// `{taken, wait, leased}`: how many of the `n` are taken (the first ones), for the rest the µs to
/// wait, and how many more were leased: only when all `n` are taken, and only while at least half
/// of the burst (rounded up) stays after them.
pub const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local extra = tonumber(ARGV[4])
local tat = now
local v = redis.call('GET', KEYS[1])
local stored = v and tonumber(v)
if stored and stored > now then tat = stored end
local taken = 0
local avail = 0
if now >= tat - tolerance then
  avail = math.floor((now + tolerance - tat) / interval) + 1
  taken = avail
  if taken > n then taken = n end
end
local leased = 0
if taken == n and extra > 0 then
  local burst = math.floor(tolerance / interval) + 1
  local spare = avail - n - math.floor((burst + 1) / 2)
  if spare > 0 then
    leased = extra
    if leased > spare then leased = spare end
  end
end
if taken + leased > 0 then
  tat = tat + (taken + leased) * interval
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
end
local wait = 0
if taken < n then
  wait = tat - tolerance - now
  if wait < 0 then wait = 0 end
end
return {taken, wait, leased}
";

/// Budget windows: check every limit, then add, at once. KEYS: the checked windows, then the
/// windows added to. ARGV: their counts; then per check its field, amount and limit; then per add
/// its field, amount and seconds to keep the window. Returns 0 when taken, else the 1-based
/// check that would be passed.
const CHARGE: &str = r"
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[2])
for i = 1, n do
  local a = 2 + (i - 1) * 3
  local used = tonumber(redis.call('HGET', KEYS[i], ARGV[a + 1]) or '0')
  local add = tonumber(ARGV[a + 2])
  local limit = tonumber(ARGV[a + 3])
  if limit > 0 and used + add > limit then
    return i
  end
end
for j = 1, m do
  local a = 2 + n * 3 + (j - 1) * 3
  local k = KEYS[n + j]
  redis.call('HINCRBY', k, ARGV[a + 1], ARGV[a + 2])
  redis.call('EXPIRE', k, ARGV[a + 3])
end
return 0
";

/// A settlement: KEYS the windows; ARGV per window its field and the change. A window that
/// expired is left alone; no count goes below 0.
const ADJUST: &str = r"
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local v = redis.call('HINCRBY', KEYS[i], ARGV[2 * i - 1], ARGV[2 * i])
    if v < 0 then
      redis.call('HSET', KEYS[i], ARGV[2 * i - 1], 0)
    end
  end
end
return 0
";

#[derive(Default)]
struct Link {
    manager: Option<ConnectionManager>,
    failures: u32,
    down_until: Option<Instant>,
    last_error: String,
    /// Since the last outage, nothing has answered yet (logged once each way).
    down: bool,
}

/// The longest a lease may be used: its permits are used at most this long after Redis counted
/// them (less for a rate whose allowance refills 1% of its burst sooner, [`lease_time`]).
pub const LEASE_FOR: Duration = Duration::from_millis(50);
/// The most permits one lease holds.
pub const LEASE_MAX: u64 = 4096;
/// A lease shorter than this would end before its round trip does: such a key leases nothing.
pub const LEASE_MIN: Duration = Duration::from_millis(1);

/// How long a lease of `rate` may be used: [`LEASE_FOR`], or the time the allowance takes to
/// refill 1% of its burst when that is shorter; zero (no lease) below [`LEASE_MIN`]. A permit used
/// that much later than Redis counted it lets the fleet take, in any stretch of time, at most 1% of
/// the burst, rounded up to a permit, more than the limit. (Measured on the monotonic clock, which
/// stands still while the host is suspended: a lease held across a suspension can be used that
/// long after it.)
pub fn lease_time(rate: Rate) -> Duration {
    let one_percent = rate
        .interval_micros()
        .saturating_mul(u64::from(rate.burst()))
        / 100;
    let t = LEASE_FOR.min(Duration::from_micros(one_percent));
    if t < LEASE_MIN { Duration::ZERO } else { t }
}

/// The most permits one lease of `rate` may hold: what the allowance refills in a lease's time
/// (at most [`LEASE_MAX`]), so the permits a lease leaves unused come back within that time. A
/// slow rate (fewer than one permit refilled in a lease's time) leases nothing.
pub fn lease_size(rate: Rate) -> u64 {
    let refilled = lease_time(rate).as_micros() / u128::from(rate.interval_micros());
    u64::try_from(refilled).unwrap_or(u64::MAX).min(LEASE_MAX)
}

/// Permits of one key leased from Redis and not yet used. Those a lease's time leaves unused are
/// not given back: they return as the allowance refills (a give-back cannot tell which of its slots
/// already went back on their own, so it could credit one twice).
struct Lease {
    left: u64,
    /// Until when they may be used here.
    until: Instant,
}

/// One limiter key's state here: the checks waiting for the call in flight, and its leases.
struct Queue {
    flying: bool,
    waiting: Vec<tokio::sync::oneshot::Sender<Result<i64, String>>>,
    /// Oldest first.
    leases: std::collections::VecDeque<Lease>,
    /// How many the last lease brought (more are asked for when a quarter is left); 0 after a
    /// call that asked for a lease and got none or failed, or a refill that wanted none: no
    /// refill until a lease brings some.
    size: u64,
    /// A lease arrived with less than half its time left: the round trip is too long for leases
    /// to pay, so this key asks for none while its entry lives.
    late: bool,
    /// A check found the leases running low: the next call leases more.
    refill: bool,
    /// Checks of the key since the last call that asked for checks or a lease, and when it began:
    /// the key's rate here, which sizes the next lease.
    count: u64,
    since: Instant,
}

impl Queue {
    fn new(now: Instant) -> Queue {
        Queue {
            flying: false,
            waiting: Vec::new(),
            leases: std::collections::VecDeque::new(),
            size: 0,
            late: false,
            refill: false,
            count: 0,
            since: now,
        }
    }

    /// Take a leased permit, from the oldest lease still running.
    fn take_leased(&mut self, now: Instant) -> bool {
        match self.leases.iter_mut().find(|l| l.left > 0 && now < l.until) {
            Some(l) => {
                l.left -= 1;
                true
            }
            None => false,
        }
    }

    /// Permits leased and usable now.
    fn leased_left(&self, now: Instant) -> u64 {
        self.leases
            .iter()
            .filter(|l| now < l.until)
            .map(|l| l.left)
            .sum()
    }

    /// Forget leases spent or whose time is over.
    fn prune(&mut self, now: Instant) {
        self.leases.retain(|l| l.left > 0 && now < l.until);
    }

    /// How many permits to lease ahead beside `n` checks: what the key's rate here uses in a
    /// lease's time `for_` (at most `most`, [`lease_size`]), less what is still leased. The rate
    /// is the checks since the last call over the time since, counted as at least a quarter of
    /// `for_` (a few checks queued behind one round trip are not a rate). None for a key checked
    /// once since the last call: a quiet key is decided in Redis check by check.
    fn lease_wanted(&self, now: Instant, n: u64, for_: Duration, most: u64) -> u64 {
        if self.count < 2 || most == 0 || self.late {
            return 0;
        }
        let elapsed = now.duration_since(self.since).max(for_ / 4);
        let want = u128::from(self.count) * for_.as_micros() / elapsed.as_micros().max(1);
        u64::try_from(want)
            .unwrap_or(u64::MAX)
            .min(most)
            .saturating_sub(n + self.leased_left(now))
    }
}

/// The shared store: limits, replay protection and budgets in one Redis.
///
/// Checks of one limiter key are coalesced: while one script call for a key is in flight, the
/// checks arriving for it wait and go together in the next call, which decides them as the same
/// number of single checks in a row would. Under load a round trip decides many requests; alone,
/// a check is one round trip as before.
///
/// A busy key leases permits ahead: a call for a key checked here more than once since the last
/// one also asks for what the key's rate here uses in a lease's time ([`lease_time`]: at most
/// [`LEASE_FOR`]; at most what the allowance refills in that time, [`lease_size`]), and the checks
/// that follow take them without a round trip; a quarter left, the next lease is asked for in the
/// background. Redis grants a lease only while at least half of the burst stays after it. A
/// leased permit is used at most a lease's time after Redis counted it, so the fleet takes at most
/// 1% of the burst, rounded up to a permit, more than the limit in any stretch of time; what a
/// lease leaves unused returns as the allowance refills, within a lease's time (a lease holds at
/// most what refills in that time).
/// A key whose lease arrives with less than half its time left (Redis far away) leases no more
/// while it stays busy.
pub struct RedisStore {
    /// Itself, to fly a key's queue from a task of its own.
    me: std::sync::Weak<RedisStore>,
    queues: Mutex<std::collections::HashMap<Vec<u8>, Queue>>,
    client: redis::Client,
    /// The connection: made on first use (inside the runtime), made anew after
    /// [`REBUILD_AFTER`] failures in a row; with the failures so far and until when Redis counts
    /// as down.
    link: Mutex<Link>,
    prefix: Vec<u8>,
    fail_open: HashSet<String>,
    gcra: redis::Script,
    charge: redis::Script,
    adjust: redis::Script,
    replay_window_ms: u64,
}

/// Why a Redis URL was refused. It never holds the URL.
#[derive(Debug, thiserror::Error)]
#[error(
    "server.limits.redis: not a Redis URL the client takes (expected redis://[:PASSWORD@]HOST:PORT/DB with DB a number, or redis+unix:///PATH; TLS, rediss://, is not supported)"
)]
pub struct BadUrl;

impl RedisStore {
    /// A store at `url` whose keys begin with `prefix`; limits named in `fail_open` let requests
    /// through while Redis is out of reach; message ids are remembered for `replay_window_secs`.
    /// Nothing is connected yet: a sidecar starts while Redis is down, and fails closed.
    pub fn new(
        url: &SecretString,
        prefix: &str,
        fail_open: &[String],
        replay_window_secs: u64,
    ) -> Result<std::sync::Arc<RedisStore>, BadUrl> {
        let client = redis::Client::open(url.expose_secret()).map_err(|_| BadUrl)?;
        Ok(std::sync::Arc::new_cyclic(|me| RedisStore {
            me: me.clone(),
            queues: Mutex::default(),
            client,
            link: Mutex::new(Link::default()),
            prefix: prefix.as_bytes().to_vec(),
            fail_open: fail_open.iter().cloned().collect(),
            gcra: redis::Script::new(GCRA_SCRIPT),
            charge: redis::Script::new(CHARGE),
            adjust: redis::Script::new(ADJUST),
            replay_window_ms: replay_window_secs.saturating_mul(2000).max(1000),
        }))
    }

    fn link(&self) -> std::sync::MutexGuard<'_, Link> {
        self.link.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connection to send a command on, or why not now (Redis is down since a failure less
    /// than [`DOWN_FOR`] ago).
    fn connection(&self) -> Result<ConnectionManager, String> {
        let mut link = self.link();
        if let Some(t) = link.down_until {
            if Instant::now() < t {
                return Err(link.last_error.clone());
            }
            link.down_until = None;
        }
        if let Some(m) = &link.manager {
            return Ok(m.clone());
        }
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let m = ConnectionManager::new_lazy_with_config(self.client.clone(), cfg)
            .map_err(|e| reason(&e))?;
        link.manager = Some(m.clone());
        Ok(m)
    }

    /// Note how a command went: a failure marks Redis down for [`DOWN_FOR`] and, the
    /// [`REBUILD_AFTER`]th in a row, drops the connection.
    fn note<T>(&self, r: Result<T, Failure>) -> Result<T, String> {
        let mut link = self.link();
        match r {
            Ok(v) => {
                link.failures = 0;
                if std::mem::take(&mut link.down) {
                    tracing::warn!("Redis answers again: the shared limits count there");
                }
                Ok(v)
            }
            // A command Redis refused: Redis is up.
            Err(Failure {
                reason,
                outage: false,
            }) => Err(reason),
            Err(Failure { reason, .. }) => {
                if !std::mem::replace(&mut link.down, true) {
                    tracing::warn!(error = %reason, "Redis is out of reach: the shared limits fail closed (503) except those in [server.limits] fail_open");
                }
                link.failures += 1;
                link.down_until = Some(Instant::now() + DOWN_FOR);
                link.last_error = reason.clone();
                if link.failures >= REBUILD_AFTER {
                    link.manager = None;
                    link.failures = 0;
                }
                Err(reason)
            }
        }
    }

    /// Run `cmd` on the connection, bounded, its failure noted.
    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, String> {
        let mut con = self.connection()?;
        let r = bounded(cmd.query_async::<T>(&mut con)).await;
        self.note(r)
    }

    /// Run a script on the connection (by EVALSHA), bounded, its failure noted.
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        inv: &redis::ScriptInvocation<'_>,
    ) -> Result<T, String> {
        let mut con = self.connection()?;
        let r = bounded(inv.invoke_async::<T>(&mut con)).await;
        self.note(r)
    }

    /// Whether some limit refuses requests while Redis is out of reach (one of `names` is not
    /// listed in `fail_open`).
    pub fn fails_closed(&self, names: &[&str]) -> bool {
        names.iter().any(|n| !self.fail_open.contains(*n))
    }

    /// Whether Redis takes a limiter check now (for `/readyz`): the GCRA script on a key of its
    /// own at a rate no probe reaches, so a server that answers PING but refuses scripts (an
    /// ACL, a version without `TIME` in scripts) is not ready either.
    pub async fn ready(&self) -> Result<(), String> {
        let rate = Rate::per_second(1_000_000).ok_or("rate")?;
        let inv = self.gcra(self.key(&[b"readyz"]), rate, 1, 0);
        self.invoke::<(i64, i64, i64)>(&inv).await.map(|_| ())
    }

    /// The GCRA script for `n` checks of `key` at `rate`, and `lease` more asked for ahead.
    fn gcra(&self, key: Vec<u8>, rate: Rate, n: usize, lease: u64) -> redis::ScriptInvocation<'_> {
        let interval = rate.interval_micros();
        let tolerance = interval.saturating_mul(u64::from(rate.burst().saturating_sub(1)));
        let mut inv = self.gcra.prepare_invoke();
        inv.key(key).arg(interval).arg(tolerance).arg(n).arg(lease);
        inv
    }

    fn queues(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Vec<u8>, Queue>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decide `key`'s waiting checks, one script call for all those waiting at a time, leasing
    /// ahead for a busy key, until none waits and no refill is asked for.
    /// `flight` is made before the task is spawned, so a task dropped before it ever ran (the
    /// runtime shutting down) still lets the key go.
    async fn fly(mut flight: Flight, rate: Rate) {
        let me = &*flight.store;
        let (for_, most) = (lease_time(rate), lease_size(rate));
        loop {
            let (batch, extra, asked) = {
                let mut queues = me.queues();
                let Some(q) = queues.get_mut(&flight.key) else {
                    flight.done = true;
                    return;
                };
                let now = Instant::now();
                q.prune(now);
                let refill = std::mem::take(&mut q.refill);
                let n = q.waiting.len() as u64;
                let extra = if n > 0 || refill {
                    q.lease_wanted(now, n, for_, most)
                } else {
                    0
                };
                if n == 0 && extra == 0 {
                    q.flying = false;
                    if refill {
                        // Nothing more wanted: no refill until a lease brings some.
                        q.size = 0;
                    }
                    if q.leases.is_empty() {
                        queues.remove(&flight.key);
                    }
                    flight.done = true;
                    return;
                }
                q.count = 0;
                q.since = now;
                (std::mem::take(&mut q.waiting), extra, now)
            };
            let inv = me.gcra(flight.key.clone(), rate, batch.len(), extra);
            match me.invoke::<(i64, i64, i64)>(&inv).await {
                Ok((taken, wait, leased)) => {
                    for (i, tx) in batch.into_iter().enumerate() {
                        let _ = tx.send(Ok(if (i as i64) < taken { -1 } else { wait.max(0) }));
                    }
                    if extra > 0 {
                        let leased = u64::try_from(leased).unwrap_or(0).min(extra);
                        me.lease(&flight.key, leased, asked + for_, for_);
                    }
                }
                Err(e) => {
                    for tx in batch {
                        let _ = tx.send(Err(e.clone()));
                    }
                    if extra > 0 {
                        // No refill asked for again until a lease comes: while Redis counts as
                        // down every call fails at once.
                        me.lease(&flight.key, 0, asked, for_);
                    }
                }
            }
        }
    }

    /// Keep `leased` permits of `key` until `until` (counted from before the call, so a permit is
    /// never used later than a lease's time after Redis counted it): first for the checks that
    /// queued meanwhile, then for those to come; forget the key when its time is over and nothing
    /// else is pending. None leased (near the limit, or the call failed): no refill is asked for
    /// until a lease brings some. A lease that arrives with less than half of `for_` left is
    /// kept, and the key asks for no more.
    fn lease(&self, key: &[u8], leased: u64, until: Instant, for_: Duration) {
        {
            let mut queues = self.queues();
            let Some(q) = queues.get_mut(key) else {
                return;
            };
            q.size = leased;
            if leased == 0 {
                return;
            }
            let now = Instant::now();
            if until.saturating_duration_since(now) < for_ / 2 {
                q.late = true;
            }
            let mut left = leased;
            if now < until {
                let k = q
                    .waiting
                    .len()
                    .min(usize::try_from(left).unwrap_or(usize::MAX));
                for tx in q.waiting.drain(..k) {
                    let _ = tx.send(Ok(-1));
                }
                left -= k as u64;
            }
            q.leases.push_back(Lease { left, until });
        }
        let (Some(me), Ok(rt)) = (self.me.upgrade(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        let key = key.to_vec();
        rt.spawn(async move {
            tokio::time::sleep_until(until.into()).await;
            me.lease_over(&key);
        });
    }

    /// A lease's time is over: forget the key if nothing else is pending for it.
    fn lease_over(&self, key: &[u8]) {
        let mut queues = self.queues();
        let Some(q) = queues.get_mut(key) else {
            return;
        };
        q.prune(Instant::now());
        if !q.flying && q.leases.is_empty() && q.waiting.is_empty() {
            queues.remove(key);
        }
    }

    /// One check of `key`: a leased permit when one is left, else queued behind the call in flight
    /// for the key, if any (see [`RedisStore`]); -1 when taken, else the µs to wait.
    async fn check(&self, key: Vec<u8>, rate: Rate) -> Result<i64, String> {
        let (Some(me), Ok(rt)) = (self.me.upgrade(), tokio::runtime::Handle::try_current()) else {
            // Outside a runtime's task set: alone.
            let inv = self.gcra(key, rate, 1, 0);
            let (taken, wait, _) = self.invoke::<(i64, i64, i64)>(&inv).await?;
            return Ok(if taken > 0 { -1 } else { wait });
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Leased: no wait, and a refill to start when the leases run low. Else: wait, and a
        // flight to start when none is out.
        let (leased, start) = {
            let mut queues = self.queues();
            let now = Instant::now();
            let q = queues.entry(key.clone()).or_insert_with(|| Queue::new(now));
            q.count += 1;
            if q.take_leased(now) {
                let refill = !q.flying && q.size > 0 && q.leased_left(now) <= q.size / 4;
                if refill {
                    q.refill = true;
                    q.flying = true;
                }
                (true, refill)
            } else {
                q.waiting.push(tx);
                (false, !std::mem::replace(&mut q.flying, true))
            }
        };
        if start {
            rt.spawn(RedisStore::fly(Flight::new(me, key), rate));
        }
        if leased {
            return Ok(-1);
        }
        rx.await.unwrap_or_else(|_| Err(STOPPED.into()))
    }

    fn key(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut k = self.prefix.clone();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                k.push(b':');
            }
            k.extend_from_slice(p);
        }
        k
    }

    /// A message id's key: the source and the id apart by a NUL, which neither holds.
    fn replay_key(&self, source: &str, id: &str) -> Vec<u8> {
        self.key(&[b"replay", format!("{source}\u{0}{id}").as_bytes()])
    }

    async fn take_shared(
        &self,
        limit: &'static str,
        rate: Rate,
        key: Vec<u8>,
    ) -> Result<(), Refused> {
        let k = self.key(&[b"rl", limit.as_bytes(), rate.id().as_bytes(), &key]);
        match self.check(k, rate).await {
            Ok(wait) if wait < 0 => Ok(()),
            Ok(wait) => Err(Refused::Over(Denied {
                policy: rate.policy(limit),
                retry_after: Duration::from_micros(wait.unsigned_abs()),
            })),
            Err(_) if self.fail_open.contains(limit) => Ok(()),
            Err(reason) => Err(Refused::Unavailable(Unavailable { limit, reason })),
        }
    }
}

/// Why a command failed, and whether Redis itself is out of reach (a timeout, no connection, a
/// refused login, a full or loading server), or only refused this command (`ERR`, `WRONGTYPE`:
/// a value out of range), which says nothing about the next.
struct Failure {
    reason: String,
    outage: bool,
}

/// A command bounded by [`RESPONSE_TIMEOUT`] (beside the connection's own).
async fn bounded<T>(
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(RESPONSE_TIMEOUT + CONNECT_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure {
            reason: reason(&e),
            outage: !matches!(e.code(), Some("ERR" | "WRONGTYPE")),
        }),
        Err(_) => Err(Failure {
            reason: format!(
                "Redis did not answer within {} ms",
                (RESPONSE_TIMEOUT + CONNECT_TIMEOUT).as_millis()
            ),
            outage: true,
        }),
    }
}

/// Redis's error as text, by kind (its detail can name the server, never the password).
fn reason(e: &redis::RedisError) -> String {
    if e.is_timeout() {
        "Redis did not answer in time".into()
    } else if e.is_connection_refusal() || e.is_io_error() || e.is_connection_dropped() {
        format!("Redis is out of reach ({e})")
    } else {
        format!("Redis refused the command ({e})")
    }
}

/// Why a check got no answer: the task deciding it was dropped.
const STOPPED: &str = "the limiter's task stopped before answering";

/// A key's flight, made when it is spawned: however the flight ends, even dropped before it ran
/// or while its call was out (the runtime shutting down), no key stays marked in flight with
/// checks waiting for good; those are answered with an error.
struct Flight {
    store: std::sync::Arc<RedisStore>,
    key: Vec<u8>,
    /// The flight ended by itself, under the lock (a later flight may own the key by now).
    done: bool,
}

impl Flight {
    fn new(store: std::sync::Arc<RedisStore>, key: Vec<u8>) -> Flight {
        Flight {
            store,
            key,
            done: false,
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut queues = self.store.queues();
        if let Some(q) = queues.get_mut(&self.key)
            && q.flying
        {
            q.flying = false;
            for tx in q.waiting.drain(..) {
                let _ = tx.send(Err(STOPPED.into()));
            }
        }
    }
}

impl LimitStore for RedisStore {
    fn take(&self, limit: &'static str, rate: Rate, key: Vec<u8>) -> Taking<'_> {
        Box::pin(self.take_shared(limit, rate, key))
    }
}

impl BudgetStore for RedisStore {
    fn charge(&self, charge: Charge, now_secs: u64) -> Charging<'_> {
        Box::pin(async move {
            // No rule applies: nothing to ask.
            if charge.checks.is_empty() && charge.adds.is_empty() {
                return Ok(Charged::Taken);
            }
            let mut inv = self.charge.prepare_invoke();
            inv.arg(charge.checks.len()).arg(charge.adds.len());
            for c in &charge.checks {
                inv.key(self.key(&[b"budget", c.key.as_bytes()]));
            }
            for (key, ..) in &charge.adds {
                inv.key(self.key(&[b"budget", key.as_bytes()]));
            }
            for c in &charge.checks {
                inv.arg(c.field.name()).arg(c.add).arg(c.limit);
            }
            for (_, field, add, ends) in &charge.adds {
                inv.arg(field.name())
                    .arg(*add)
                    .arg(ends.saturating_sub(now_secs) + 60);
            }
            match self.invoke::<i64>(&inv).await {
                Ok(0) => Ok(Charged::Taken),
                Ok(i) => Ok(Charged::Over(usize::try_from(i - 1).unwrap_or(0))),
                Err(_) if self.fail_open.contains("gateway-budget") => Ok(Charged::NotCounted),
                Err(reason) => Err(reason),
            }
        })
    }

    fn adjust(&self, adjustment: Adjustment) -> Settling<'_> {
        Box::pin(async move {
            if adjustment.is_empty() {
                return;
            }
            let mut inv = self.adjust.prepare_invoke();
            for (key, field, delta) in &adjustment {
                inv.key(self.key(&[b"budget", key.as_bytes()]));
                inv.arg(field.name()).arg(*delta);
            }
            // A settlement that cannot be made leaves the reservation counted (the safe side).
            let _ = self.invoke::<i64>(&inv).await;
        })
    }
}

impl ReplayStore for RedisStore {
    fn first_time<'a>(&'a self, source: &'a str, id: &'a str, _now_secs: u64) -> Checking<'a> {
        Box::pin(async move {
            let k = self.replay_key(source, id);
            let mut set = redis::cmd("SET");
            set.arg(k)
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(self.replay_window_ms);
            let answer = self.run::<Option<String>>(&set).await;
            match answer {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(WebhookError::Replay(id.chars().take(80).collect())),
                Err(_) if self.fail_open.contains("ingress-replay") => Ok(()),
                Err(reason) => Err(WebhookError::Unavailable(reason)),
            }
        })
    }

    fn forget<'a>(&'a self, source: &'a str, id: &'a str) -> Checking<'a> {
        Box::pin(async move {
            let k = self.replay_key(source, id);
            self.run::<i64>(redis::cmd("DEL").arg(k))
                .await
                .map(|_| ())
                .map_err(WebhookError::Unavailable)
        })
    }
}
