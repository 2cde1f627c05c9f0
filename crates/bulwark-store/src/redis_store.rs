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
//! - **Out of reach** (no connection, a timeout, an error): a limit named in `fail_open` lets the
//!   request through; the others refuse it ([`Refused::Unavailable`], HTTP 503). Each command
//!   waits at most [`RESPONSE_TIMEOUT`]; the connection is remade in the background.
//!
//! The URL may hold a password: it is kept as a secret and never shown in an error.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

use bulwark_core::ratelimit::{Denied, LimitStore, Rate, Refused, Taking, Unavailable};
use bulwark_core::webhook::{Checking, ReplayStore, WebhookError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};

/// How long one command may take before the check counts as out of reach.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// GCRA over Redis's clock. KEYS[1]: the limiter's key. ARGV[1]: the emission interval in µs;
/// ARGV[2]: the burst tolerance in µs (interval × (burst − 1)). Returns -1 when the request is
/// taken, else the µs to wait.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = now
local v = redis.call('GET', KEYS[1])
if v then
  local stored = tonumber(v)
  if stored and stored > now then tat = stored end
end
local allow_at = tat - tolerance
if now < allow_at then
  return allow_at - now
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return -1
";

/// The shared store: limits and replay protection in one Redis.
pub struct RedisStore {
    client: redis::Client,
    /// Made on first use, inside the runtime; it reconnects by itself afterwards.
    manager: OnceLock<Result<ConnectionManager, String>>,
    prefix: Vec<u8>,
    fail_open: HashSet<String>,
    gcra: redis::Script,
    replay_window_ms: u64,
}

/// Why a Redis URL was refused. It never holds the URL.
#[derive(Debug, thiserror::Error)]
#[error(
    "server.limits.redis: not a Redis URL (expected redis://[:PASSWORD@]HOST:PORT/DB or redis+unix:///PATH)"
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
    ) -> Result<RedisStore, BadUrl> {
        let client = redis::Client::open(url.expose_secret()).map_err(|_| BadUrl)?;
        Ok(RedisStore {
            client,
            manager: OnceLock::new(),
            prefix: prefix.as_bytes().to_vec(),
            fail_open: fail_open.iter().cloned().collect(),
            gcra: redis::Script::new(GCRA),
            replay_window_ms: replay_window_secs.saturating_mul(2000).max(1000),
        })
    }

    fn connection(&self) -> Result<ConnectionManager, String> {
        self.manager
            .get_or_init(|| {
                let cfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_secs(1));
                ConnectionManager::new_lazy_with_config(self.client.clone(), cfg)
                    .map_err(|e| reason(&e))
            })
            .clone()
    }

    /// Whether Redis answers a PING now (for `/readyz`).
    pub async fn ping(&self) -> Result<(), String> {
        let mut con = self.connection()?;
        bounded(redis::cmd("PING").query_async::<String>(&mut con)).await?;
        Ok(())
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
        let interval = rate.interval_micros();
        let tolerance = interval.saturating_mul(u64::from(rate.burst().saturating_sub(1)));
        let answer = match self.connection() {
            Ok(mut con) => {
                bounded(
                    self.gcra
                        .key(k)
                        .arg(interval)
                        .arg(tolerance)
                        .invoke_async::<i64>(&mut con),
                )
                .await
            }
            Err(e) => Err(e),
        };
        match answer {
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

/// A command bounded by [`RESPONSE_TIMEOUT`] (beside the connection's own), its error made text.
async fn bounded<T>(
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(RESPONSE_TIMEOUT + CONNECT_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(reason(&e)),
        Err(_) => Err(format!(
            "Redis did not answer within {} ms",
            (RESPONSE_TIMEOUT + CONNECT_TIMEOUT).as_millis()
        )),
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

impl LimitStore for RedisStore {
    fn take(&self, limit: &'static str, rate: Rate, key: Vec<u8>) -> Taking<'_> {
        Box::pin(self.take_shared(limit, rate, key))
    }
}

impl ReplayStore for RedisStore {
    fn first_time<'a>(&'a self, source: &'a str, id: &'a str, _now_secs: u64) -> Checking<'a> {
        Box::pin(async move {
            let k = self.replay_key(source, id);
            let answer = match self.connection() {
                Ok(mut con) => {
                    bounded(
                        redis::cmd("SET")
                            .arg(k)
                            .arg(1)
                            .arg("NX")
                            .arg("PX")
                            .arg(self.replay_window_ms)
                            .query_async::<Option<String>>(&mut con),
                    )
                    .await
                }
                Err(e) => Err(e),
            };
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
            let mut con = self.connection().map_err(WebhookError::Unavailable)?;
            bounded(redis::cmd("DEL").arg(k).query_async::<i64>(&mut con))
                .await
                .map(|_| ())
                .map_err(WebhookError::Unavailable)
        })
    }
}
