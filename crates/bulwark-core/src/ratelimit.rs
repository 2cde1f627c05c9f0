//! Volume: how much each caller, token, tool, webhook source or proxy client may send.
//!
//! Threat answered: an agent in a loop, a leaked token or a flooding sender that exhausts the
//! sidecar, the approvers' attention or a provider budget, and a password-guessing client. One
//! limiter type over keys (GCRA, with `governor` as the in-process engine) serves every limit;
//! each has a name that the HTTP layer sends back as `RateLimit-Policy` (`token;q=200;w=1`) with
//! the wait in `Retry-After`. The clock is a parameter ([`Clock`]) so tests move time by hand.
//! Keyed limiters forget idle keys past [`MAX_KEYS`], so memory stays bounded whoever calls.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
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

/// How often: a count per second or per minute, with an optional burst above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    fn policy(self, name: &str) -> String {
        format!("{name};q={};w={}", self.count, self.window_secs)
    }
}

/// One limit over all callers.
pub struct Limit<C: Clock = DefaultClock> {
    inner: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
    policy: String,
    clock: C,
}

impl<C: Clock + Clone> Limit<C> {
    /// A limit named `name` at `rate`, timed by `clock`.
    pub fn new(name: &str, rate: Rate, clock: C) -> Limit<C> {
        Limit {
            inner: RateLimiter::direct_with_clock(rate.quota(), clock.clone()),
            policy: rate.policy(name),
            clock,
        }
    }

    /// Take one request, or say how long to wait.
    pub fn check(&self) -> Result<(), Denied> {
        self.inner.check().map_err(|nu| Denied {
            policy: self.policy.clone(),
            retry_after: nu.wait_time_from(self.clock.now()),
        })
    }
}

/// One limit per key (token, tool, client address, webhook source).
pub struct KeyedLimit<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    inner: RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<C::Instant>>,
    policy: String,
    clock: C,
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

/// A limit configuration that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct LimitsConfigError {
    /// The key path.
    pub key: String,
    /// What is wrong and what is expected.
    pub message: String,
}

/// Every limit the sidecar and the egress proxy apply, compiled from the configuration.
pub struct Limits<C: Clock = DefaultClock> {
    /// All API callers together (`[server.limits] global_per_sec`).
    pub global: Option<Limit<C>>,
    /// Per API token (`token_per_sec`, `token_burst`).
    pub token: Option<KeyedLimit<String, C>>,
    /// Named tokens with their own rate (`[server.limits.tokens]`).
    pub token_overrides: HashMap<String, Limit<C>>,
    /// Per route over all callers (`[server.limits.routes]`).
    pub routes: HashMap<String, Limit<C>>,
    /// Intents per tool (`tool_per_min`).
    pub tool: Option<KeyedLimit<String, C>>,
    /// Failed authentications per client address (`auth_failures_per_min`).
    pub auth_failures: Option<KeyedLimit<IpAddr, C>>,
    /// Webhooks per ingress source (`[ingress] source_per_min`).
    pub source: Option<KeyedLimit<String, C>>,
    /// Requests per egress proxy client address (`[egress.proxy] client_per_sec`).
    pub proxy_client: Option<KeyedLimit<IpAddr, C>>,
}

impl<C: Clock + Clone> Limits<C> {
    /// Compile the limits. `routes` are the API's route paths a `[server.limits.routes]` entry
    /// may name.
    pub fn new(
        cfg: &LimitsConfig,
        source_per_min: u32,
        proxy_client_per_sec: u32,
        routes: &[&str],
        clock: C,
    ) -> Result<Limits<C>, LimitsConfigError> {
        let mut route_limits = HashMap::new();
        for (route, rate) in &cfg.routes {
            if !routes.contains(&route.as_str()) {
                return Err(LimitsConfigError {
                    key: format!("server.limits.routes.{route:?}"),
                    message: format!("not a route (routes: {})", routes.join(", ")),
                });
            }
            if let Some(r) = Rate::per_second(*rate) {
                route_limits.insert(route.clone(), Limit::new("route", r, clock.clone()));
            }
        }
        let token_overrides = cfg
            .tokens
            .iter()
            .filter_map(|(name, rate)| {
                Rate::per_second(*rate)
                    .map(|r| (name.clone(), Limit::new("token", r, clock.clone())))
            })
            .collect();
        Ok(Limits {
            global: Rate::per_second(cfg.global_per_sec)
                .map(|r| Limit::new("global", r, clock.clone())),
            token: Rate::per_second(cfg.token_per_sec)
                .map(|r| KeyedLimit::new("token", r.with_burst(cfg.token_burst), clock.clone())),
            token_overrides,
            routes: route_limits,
            tool: Rate::per_minute(cfg.tool_per_min)
                .map(|r| KeyedLimit::new("tool", r, clock.clone())),
            auth_failures: Rate::per_minute(cfg.auth_failures_per_min)
                .map(|r| KeyedLimit::new("auth-failures", r, clock.clone())),
            source: Rate::per_minute(source_per_min)
                .map(|r| KeyedLimit::new("ingress-source", r, clock.clone())),
            proxy_client: Rate::per_second(proxy_client_per_sec)
                .map(|r| KeyedLimit::new("proxy-client", r, clock.clone())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let g = Limit::new("global", Rate::per_second(1).expect("rate"), clock.clone());
        assert!(g.check().is_ok());
        assert_eq!(g.check().unwrap_err().policy, "global;q=1;w=1");
        clock.advance(Duration::from_secs(1));
        assert!(g.check().is_ok());
    }

    #[test]
    fn limits_compile_from_the_configuration() {
        let mut cfg = LimitsConfig::default();
        assert!(Rate::per_second(0).is_none());
        let l =
            Limits::new(&cfg, 60, 0, &["/v1/scan"], FakeRelativeClock::default()).expect("limits");
        assert!(l.global.is_none() && l.token.is_some() && l.proxy_client.is_none());
        cfg.routes.insert("/v1/nope".into(), 5);
        let e = Limits::new(&cfg, 60, 0, &["/v1/scan"], FakeRelativeClock::default())
            .err()
            .expect("an unknown route is refused");
        assert!(
            e.key.contains("/v1/nope") && e.message.contains("/v1/scan"),
            "{e}"
        );
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
