//! Volume: how much each caller, token, tool, webhook source or proxy client may send.
//!
//! Threat answered: an agent in a loop, a leaked token or a flooding sender that exhausts the
//! sidecar, the approvers' attention or a provider budget, and a password-guessing client. Every
//! limit is a [`Limiter`] over keys that counts in a [`LimitStore`]: [`InProcess`] (GCRA, with
//! `governor` as the engine) by default, or a store several sidecars share (Redis, in
//! bulwark-store), which can be out of reach: then a check is [`Refused::Unavailable`]. Each limit has a name
//! that the HTTP layer sends back as `RateLimit-Policy` (`token;q=200;w=1`) with the wait in
//! `Retry-After`. The clock is a parameter ([`Clock`]) so tests move time by hand. Keyed limiters
//! forget idle keys past [`MAX_KEYS`], so memory stays bounded whoever calls.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

pub use governor::clock::{Clock, DefaultClock, FakeRelativeClock};

use crate::config::server::LimitsConfig;

/// Keys a keyed limiter keeps before it forgets the ones that are back to full allowance.
pub const MAX_KEYS: usize = 100_000;

/// A request over its limit: the limit's policy and how long until one more is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// `NAME;q=COUNT;w=SECONDS`, as the `RateLimit-Policy` header carries it.
    pub policy: String,
    /// When to retry.
    pub retry_after: Duration,
}

/// Why a limiter refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Over the limit (HTTP 429).
    Over(Denied),
    /// The shared store could not be asked and the limit fails closed (HTTP 503).
    Unavailable(Unavailable),
}

/// A shared limit store out of reach.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the `{limit}` limit cannot be checked: {reason}")]
pub struct Unavailable {
    /// The limit's name.
    pub limit: &'static str,
    /// Why (never a credential).
    pub reason: String,
}

/// A store's answer, which may need another process (a shared store) to give.
pub type Taking<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Refused>> + Send + 'a>>;

/// How often: a count per second or per minute, with an optional burst above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    count: NonZeroU32,
    window_secs: u64,
    burst: Option<NonZeroU32>,
}

impl Rate {
    /// `count` per second; `None` for 0 (no limit).
    pub fn per_second(count: u32) -> Option<Rate> {
        NonZeroU32::new(count).map(|count| Rate {
            count,
            window_secs: 1,
            burst: None,
        })
    }

    /// `count` per minute; `None` for 0 (no limit).
    pub fn per_minute(count: u32) -> Option<Rate> {
        NonZeroU32::new(count).map(|count| Rate {
            count,
            window_secs: 60,
            burst: None,
        })
    }

    /// Allow `burst` at once (0 keeps the count as the burst).
    pub fn with_burst(mut self, burst: u32) -> Rate {
        self.burst = NonZeroU32::new(burst);
        self
    }

    /// Microseconds between two requests at this rate (GCRA's emission interval).
    pub fn interval_micros(self) -> u64 {
        (self.window_secs * 1_000_000 / u64::from(self.count.get())).max(1)
    }

    /// Requests allowed at once.
    pub fn burst(self) -> u32 {
        self.burst.unwrap_or(self.count).get()
    }

    /// What tells this rate apart from another of the same limit, for a store's keys.
    pub fn id(self) -> String {
        format!("{}/{}+{}", self.count, self.window_secs, self.burst())
    }

    fn quota(self) -> Quota {
        let q = if self.window_secs == 1 {
            Quota::per_second(self.count)
        } else {
            Quota::per_minute(self.count)
        };
        match self.burst {
            Some(b) => q.allow_burst(b),
            None => q,
        }
    }

    /// `NAME;q=COUNT;w=SECONDS`, the `RateLimit-Policy` of a limit named `name` at this rate.
    pub fn policy(self, name: &str) -> String {
        format!("{name};q={};w={}", self.count, self.window_secs)
    }
}

/// One limit per key (token, tool, client address, webhook source).
pub struct KeyedLimit<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    inner: RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<C::Instant>>,
    policy: String,
    clock: C,
}

impl<C: Clock + Clone> KeyedLimit<Vec<u8>, C> {
    /// [`KeyedLimit::check`] for a key given as bytes (copied only when it is new).
    fn check_bytes(&self, key: &[u8]) -> Result<(), Denied> {
        self.check(&key.to_vec())
    }
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> KeyedLimit<K, C> {
    /// A limit named `name` at `rate` for each key, timed by `clock`.
    pub fn new(name: &str, rate: Rate, clock: C) -> KeyedLimit<K, C> {
        KeyedLimit {
            inner: RateLimiter::dashmap_with_clock(rate.quota(), clock.clone()),
            policy: rate.policy(name),
            clock,
        }
    }

    /// Take one request for `key`, or say how long to wait.
    pub fn check(&self, key: &K) -> Result<(), Denied> {
        if self.inner.len() > MAX_KEYS {
            self.inner.retain_recent();
        }
        self.inner.check_key(key).map_err(|nu| Denied {
            policy: self.policy.clone(),
            retry_after: nu.wait_time_from(self.clock.now()),
        })
    }

    /// Keys held now.
    pub fn keys(&self) -> usize {
        self.inner.len()
    }
}

/// Where limit state lives. [`InProcess`] (governor, in this process) is the default; a store
/// several sidecars share backs this trait to make a limit hold across them. A store takes one
/// request for `key` under the limit named `limit` at `rate`, or says how long to wait, or that
/// it cannot be asked.
pub trait LimitStore: Send + Sync {
    /// Take one request, or say why not.
    fn take(&self, limit: &'static str, rate: Rate, key: Vec<u8>) -> Taking<'_>;
}

/// The in-process limiters, by limit name and rate.
type Limiters<C> = HashMap<(&'static str, Rate), KeyedLimit<Vec<u8>, C>>;

/// Limit state in this process: one keyed GCRA limiter per limit and rate, created on first use.
pub struct InProcess<C: Clock = DefaultClock> {
    clock: C,
    limiters: std::sync::RwLock<Limiters<C>>,
}

impl<C: Clock + Clone> InProcess<C> {
    /// An empty store timed by `clock`.
    pub fn new(clock: C) -> InProcess<C> {
        InProcess {
            clock,
            limiters: std::sync::RwLock::new(HashMap::new()),
        }
    }
}

impl<C: Clock + Clone + Send + Sync> LimitStore for InProcess<C>
where
    C::Instant: Send + Sync,
{
    fn take(&self, limit: &'static str, rate: Rate, key: Vec<u8>) -> Taking<'_> {
        Box::pin(std::future::ready(
            self.take_now(limit, rate, &key).map_err(Refused::Over),
        ))
    }
}

impl<C: Clock + Clone + Send + Sync> InProcess<C>
where
    C::Instant: Send + Sync,
{
    /// Take one request for `key` now, or say how long to wait.
    pub fn take_now(&self, limit: &'static str, rate: Rate, key: &[u8]) -> Result<(), Denied> {
        {
            let map = self
                .limiters
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(l) = map.get(&(limit, rate)) {
                return l.check_bytes(key);
            }
        }
        let mut map = self
            .limiters
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry((limit, rate))
            .or_insert_with(|| KeyedLimit::new(limit, rate, self.clock.clone()))
            .check_bytes(key)
    }
}

/// A key a limit counts by: a token id, a tool, a route, a client address.
pub trait LimitKey {
    /// Its bytes, as the store keys them.
    fn key_bytes(&self) -> Vec<u8>;
}

impl LimitKey for String {
    fn key_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl LimitKey for str {
    fn key_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl LimitKey for IpAddr {
    fn key_bytes(&self) -> Vec<u8> {
        match self {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        }
    }
}

/// One limit, counted per key (or over everyone, with [`Limiter::check_all`]) in a [`LimitStore`].
#[derive(Clone)]
pub struct Limiter<K: ?Sized> {
    name: &'static str,
    rate: Rate,
    /// What this limiter's keys are counted under, apart from other limiters of the same name
    /// and rate (a route's path, a named token).
    scope: Vec<u8>,
    store: std::sync::Arc<dyn LimitStore>,
    _key: std::marker::PhantomData<fn(&K)>,
}

impl<K: LimitKey + ?Sized> Limiter<K> {
    /// The limit `name` at `rate`, held in `store`.
    pub fn new(name: &'static str, rate: Rate, store: std::sync::Arc<dyn LimitStore>) -> Self {
        Limiter::scoped(name, "", rate, store)
    }

    /// [`Limiter::new`] with its own allowance apart from others of the same name and rate.
    pub fn scoped(
        name: &'static str,
        scope: &str,
        rate: Rate,
        store: std::sync::Arc<dyn LimitStore>,
    ) -> Self {
        let mut scope = scope.as_bytes().to_vec();
        if !scope.is_empty() {
            scope.push(0);
        }
        Limiter {
            name,
            rate,
            scope,
            store,
            _key: std::marker::PhantomData,
        }
    }

    /// Take one request for `key`, or say why not.
    pub fn check(&self, key: &K) -> Taking<'_> {
        let mut k = self.scope.clone();
        k.extend(key.key_bytes());
        self.store.take(self.name, self.rate, k)
    }
}

impl Limiter<str> {
    /// Take one request of everyone's allowance (a limit with one key).
    pub fn check_all(&self) -> Taking<'_> {
        self.store.take(self.name, self.rate, self.scope.clone())
    }
}

/// A limit configuration that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct LimitsConfigError {
    /// The key path.
    pub key: String,
    /// What is wrong and what is expected.
    pub message: String,
}

/// Every limit the sidecar applies, compiled from the configuration, held in one [`LimitStore`].
pub struct Limits {
    /// All API callers together (`[server.limits] global_per_sec`).
    pub global: Option<Limiter<str>>,
    /// Per API token (`token_per_sec`, `token_burst`).
    pub token: Option<Limiter<String>>,
    /// Named tokens with their own rate (`[server.limits.tokens]`).
    pub token_overrides: HashMap<String, Limiter<str>>,
    /// Per route over all callers (`[server.limits.routes]`).
    pub routes: HashMap<String, Limiter<str>>,
    /// Intents per tool (`tool_per_min`).
    pub tool: Option<Limiter<String>>,
    /// Failed authentications per client address (`auth_failures_per_min`).
    pub auth_failures: Option<Limiter<IpAddr>>,
    /// Webhooks per ingress source (`[ingress] source_per_min`).
    pub source: Option<Limiter<String>>,
}

impl Limits {
    /// Compile the limits into `store`. `routes` are the API's route paths a
    /// `[server.limits.routes]` entry may name.
    pub fn new(
        cfg: &LimitsConfig,
        source_per_min: u32,
        routes: &[&str],
        store: std::sync::Arc<dyn LimitStore>,
    ) -> Result<Limits, LimitsConfigError> {
        let mut route_limits = HashMap::new();
        for (route, rate) in &cfg.routes {
            if !routes.contains(&route.as_str()) {
                return Err(LimitsConfigError {
                    key: format!("server.limits.routes.{route:?}"),
                    message: format!("not a route (routes: {})", routes.join(", ")),
                });
            }
            if let Some(r) = Rate::per_second(*rate) {
                let l = Limiter::scoped("route", route, r, store.clone());
                route_limits.insert(route.clone(), l);
            }
        }
        let mut token_overrides = HashMap::new();
        for (token, rate) in &cfg.tokens {
            if let Some(r) = Rate::per_second(*rate) {
                let l = Limiter::scoped("token", token, r, store.clone());
                token_overrides.insert(token.clone(), l);
            }
        }
        Ok(Limits {
            global: Rate::per_second(cfg.global_per_sec)
                .map(|r| Limiter::new("global", r, store.clone())),
            token: Rate::per_second(cfg.token_per_sec)
                .map(|r| Limiter::new("token", r.with_burst(cfg.token_burst), store.clone())),
            token_overrides,
            routes: route_limits,
            tool: Rate::per_minute(cfg.tool_per_min)
                .map(|r| Limiter::new("tool", r, store.clone())),
            auth_failures: Rate::per_minute(cfg.auth_failures_per_min)
                .map(|r| Limiter::new("auth-failures", r, store.clone())),
            source: Rate::per_minute(source_per_min)
                .map(|r| Limiter::new("ingress-source", r, store.clone())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer of an in-process store, which is ready at once.
    fn now(t: Taking<'_>) -> Result<(), Denied> {
        let mut t = t;
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match t.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(r) => r.map_err(|e| match e {
                Refused::Over(d) => d,
                Refused::Unavailable(u) => panic!("{u}"),
            }),
            std::task::Poll::Pending => panic!("an in-process store answers at once"),
        }
    }

    #[test]
    fn a_keyed_limit_allows_its_rate_per_key_and_says_when_to_retry() {
        let clock = FakeRelativeClock::default();
        let l: KeyedLimit<String, _> =
            KeyedLimit::new("tool", Rate::per_minute(2).expect("rate"), clock.clone());
        let k = "kubectl".to_string();
        assert!(l.check(&k).is_ok());
        assert!(l.check(&k).is_ok());
        let d = l.check(&k).unwrap_err();
        assert_eq!(d.policy, "tool;q=2;w=60");
        assert!(d.retry_after > Duration::ZERO && d.retry_after <= Duration::from_secs(30));
        // Another key has its own allowance; time restores the first.
        assert!(l.check(&"helm".to_string()).is_ok());
        clock.advance(Duration::from_secs(30));
        assert!(l.check(&k).is_ok());
    }

    #[test]
    fn bursts_and_direct_limits() {
        let clock = FakeRelativeClock::default();
        let l: KeyedLimit<u32, _> = KeyedLimit::new(
            "token",
            Rate::per_second(1).expect("rate").with_burst(3),
            clock.clone(),
        );
        for _ in 0..3 {
            assert!(l.check(&7).is_ok());
        }
        assert!(l.check(&7).is_err());
        let store = std::sync::Arc::new(InProcess::new(clock.clone()));
        let g: Limiter<str> = Limiter::new("global", Rate::per_second(1).expect("rate"), store);
        assert!(now(g.check_all()).is_ok());
        assert_eq!(now(g.check_all()).unwrap_err().policy, "global;q=1;w=1");
        clock.advance(Duration::from_secs(1));
        assert!(now(g.check_all()).is_ok());
    }

    #[test]
    fn limits_compile_from_the_configuration() {
        let mut cfg = LimitsConfig::default();
        assert!(Rate::per_second(0).is_none());
        let store = std::sync::Arc::new(InProcess::new(FakeRelativeClock::default()));
        let l = Limits::new(&cfg, 60, &["/v1/scan"], store.clone()).expect("limits");
        assert!(l.global.is_none() && l.token.is_some() && l.source.is_some());
        cfg.routes.insert("/v1/nope".into(), 5);
        let e = Limits::new(&cfg, 60, &["/v1/scan"], store)
            .err()
            .expect("an unknown route is refused");
        assert!(
            e.key.contains("/v1/nope") && e.message.contains("/v1/scan"),
            "{e}"
        );
    }

    #[test]
    fn limiters_count_in_their_store_apart_by_name_scope_and_key() {
        let clock = FakeRelativeClock::default();
        let store: std::sync::Arc<dyn LimitStore> =
            std::sync::Arc::new(InProcess::new(clock.clone()));
        let per_min = Rate::per_minute(1).expect("rate");
        let tool: Limiter<String> = Limiter::new("tool", per_min, store.clone());
        let a: Limiter<str> = Limiter::scoped("route", "/v1/scan", per_min, store.clone());
        let b: Limiter<str> = Limiter::scoped("route", "/v1/wrap", per_min, store.clone());
        assert!(now(tool.check(&"kubectl".to_string())).is_ok());
        assert!(now(tool.check(&"kubectl".to_string())).is_err());
        assert!(now(tool.check(&"helm".to_string())).is_ok());
        // Two routes at the same rate keep apart; a second limiter over the same store and scope
        // shares the allowance (what a store shared by several sidecars gives).
        assert!(now(a.check_all()).is_ok() && now(b.check_all()).is_ok());
        let a2: Limiter<str> = Limiter::scoped("route", "/v1/scan", per_min, store.clone());
        let d = now(a2.check_all()).unwrap_err();
        assert_eq!(d.policy, "route;q=1;w=60");
        clock.advance(Duration::from_secs(60));
        assert!(now(a2.check_all()).is_ok());
        let ip: Limiter<IpAddr> = Limiter::new("auth-failures", per_min, store);
        assert!(now(ip.check(&"10.0.0.1".parse().expect("ip"))).is_ok());
        assert!(now(ip.check(&"10.0.0.2".parse().expect("ip"))).is_ok());
    }

    #[test]
    fn many_keys_stay_bounded() {
        let clock = FakeRelativeClock::default();
        let l: KeyedLimit<u32, _> = KeyedLimit::new(
            "proxy-client",
            Rate::per_second(10).expect("rate"),
            clock.clone(),
        );
        for k in 0..(MAX_KEYS as u32 + 10) {
            let _ = l.check(&k);
        }
        clock.advance(Duration::from_secs(5));
        let _ = l.check(&0);
        assert!(l.keys() <= MAX_KEYS + 1, "{}", l.keys());
    }
}
