//! `[server]` and `[store]`: the sidecar's own settings and its rate limits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::problems::Problems;
use crate::vault::cfg::SecretRef;

/// `[server]`: the sidecar HTTP API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on (loopback by default).
    #[serde(deserialize_with = "crate::config::typed::socket_addr")]
    #[schemars(with = "String")]
    pub listen: std::net::SocketAddr,
    /// Serve plain HTTP on a non-loopback address. Off, `bulwark serve` refuses to listen beyond
    /// loopback without TLS (`tls_cert` and `tls_key`).
    pub allow_plaintext_public: bool,
    /// Largest request body in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    /// PEM certificate chain for HTTPS; with `tls_key`, the server speaks TLS (rustls) only.
    pub tls_cert: String,
    /// PEM private key for HTTPS (keep it 0600).
    pub tls_key: String,
    /// Also run the egress proxy (`[egress.proxy]`) in the same process.
    pub egress_proxy: bool,
    /// Seconds a client has to send a request's head (also while a kept-alive connection waits
    /// for its next request); past it the connection is closed.
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's body once its head arrived; past it, 408.
    pub body_timeout_secs: u64,
    /// Open connections one client address may hold; more are closed at once.
    pub connections_per_client: u32,
    /// Reverse proxies in front of the sidecar (addresses or CIDRs) whose `X-Forwarded-For` is
    /// believed: a request from one of them is taken to come from the last address in that
    /// header that is not one of them (failed sign-ins, the console, audit records). Empty: the
    /// header is ignored, every request comes from its connection's peer.
    pub trusted_proxies: Vec<crate::config::typed::Net>,
    /// Rate limits.
    pub limits: LimitsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8844)),
            allow_plaintext_public: false,
            max_body_bytes: 1024 * 1024,
            tls_cert: String::new(),
            tls_key: String::new(),
            egress_proxy: false,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            connections_per_client: 64,
            trusted_proxies: Vec::new(),
            limits: LimitsConfig::default(),
        }
    }
}

/// `[server.limits]`: GCRA rate limits (0 turns one off).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Requests per second over all callers.
    pub global_per_sec: u32,
    /// Requests per second per API token.
    pub token_per_sec: u32,
    /// Requests a token may send at once above its rate.
    pub token_burst: u32,
    /// Intents per minute per tool (`/v1/intents`).
    pub tool_per_min: u32,
    /// Failed authentications per minute per client address; past it, 429 before any check.
    pub auth_failures_per_min: u32,
    /// Requests per second per route over all callers, e.g. `"/v1/intents" = 50`.
    pub routes: BTreeMap<String, u32>,
    /// Requests per second for named tokens, replacing `token_per_sec` (and its burst) for them.
    pub tokens: BTreeMap<String, u32>,
    /// A Redis server several sidecars share (`redis://[:PASSWORD@]HOST:PORT/DB`, or
    /// `vault:NAME`, `env:NAME`, `file:PATH`): every limit above, `[ingress] source_per_min`,
    /// `[egress.proxy] client_per_sec`, the webhook replay cache and the model gateway's budgets
    /// count there, so they hold across the sidecars. Empty: in this process (the budgets in
    /// PostgreSQL when `[store] url` is set). Read at start; a reload keeps the store.
    pub redis: SecretRef,
    /// Prefix of every key Bulwark writes in Redis (several fleets can share one server).
    pub redis_prefix: String,
    /// Limits that let requests through while Redis cannot be asked (by name: `global`,
    /// `token`, `route`, `tool`, `auth-failures`, `ingress-source`, `ingress-replay`,
    /// `proxy-client`, `gateway-budget`; the budgets also while PostgreSQL cannot be asked, when
    /// they count there). The others fail closed: 503 until Redis answers again.
    pub fail_open: Vec<String>,
}

/// The names of the limits, as `RateLimit-Policy` and `[server.limits] fail_open` give them.
pub const LIMIT_NAMES: &[&str] = &[
    "global",
    "token",
    "route",
    "tool",
    "auth-failures",
    "ingress-source",
    "ingress-replay",
    "proxy-client",
    "gateway-budget",
];

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            global_per_sec: 0,
            token_per_sec: 200,
            token_burst: 400,
            tool_per_min: 120,
            auth_failures_per_min: 10,
            routes: BTreeMap::new(),
            tokens: BTreeMap::new(),
            redis: SecretRef::Unset,
            redis_prefix: "bulwark:".into(),
            fail_open: Vec::new(),
        }
    }
}

/// `[store]`: the state database: approvals, API tokens, held alerts, MCP pins and settings. A
/// SQLite file by default; the PostgreSQL database several sidecars share when `url` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The database file; empty means `$BULWARK_HOME/bulwark.db`. Unused when `url` is set.
    pub db: String,
    /// A PostgreSQL database several sidecars share (`postgres://USER:PASSWORD@HOST:PORT/DB`, or
    /// `vault:NAME`, `env:NAME`, `file:/PATH`): it then holds the state instead of `db`, and the
    /// audit log when `[audit] backend = "postgres"`. Empty: the SQLite file.
    pub url: SecretRef,
    /// This sidecar's name in the shared audit log (each writes its own hash chain); empty means
    /// the host's name (a pod's name in Kubernetes). Two running sidecars must not share one.
    pub instance: String,
}

impl StoreConfig {
    /// Check the URL (without showing it: it may hold a password) and the instance name.
    pub fn check(&self, p: &mut Problems) {
        const EXPECTED: &str = "postgres://USER[:PASSWORD]@HOST[:PORT]/DB (or postgresql://), vault:NAME, env:NAME, file:/PATH, or empty for the SQLite file";
        if let SecretRef::Literal(url) = &self.url {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "postgres" | "postgresql") => {}
                Ok(u) => p.invalid_secret(
                    "store.url",
                    format!("a URL of scheme {:?}", u.scheme()),
                    EXPECTED,
                ),
                Err(e) => p.invalid_secret(
                    "store.url",
                    format!("a value that is not a URL ({e})"),
                    EXPECTED,
                ),
            }
        }
        if self.instance.len() > 128
            || self
                .instance
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            p.invalid(
                "store.instance",
                format!("{:?}", self.instance),
                "up to 128 letters, digits, '-', '_' or '.' (or empty for the host's name)",
            );
        }
    }

    /// The database file under `home` unless `db` names one.
    pub fn db_path(&self, home: &Path) -> PathBuf {
        if self.db.is_empty() {
            home.join("bulwark.db")
        } else {
            PathBuf::from(&self.db)
        }
    }
}

impl ServerConfig {
    /// Check the listen address, TLS files and body limit: the same refusals `bulwark serve`
    /// makes, so `config check` reports them too.
    pub fn check(&self, p: &mut Problems) {
        if !self.listen.ip().is_loopback()
            && self.tls_cert.is_empty()
            && !self.allow_plaintext_public
        {
            p.invalid(
                "server.listen",
                format!("{:?}", self.listen.to_string()),
                "a loopback address (the default, 127.0.0.1:8844); beyond loopback, set [server] tls_cert and tls_key (PEM files) to serve HTTPS, or allow_plaintext_public = true (API tokens then cross the network in clear)",
            );
        }
        if self.tls_cert.is_empty() != self.tls_key.is_empty() {
            p.invalid(
                "server.tls_key",
                format!("{:?}", self.tls_key),
                "both tls_cert and tls_key (PEM files), or neither",
            );
        }
        p.range(
            "server.max_body_bytes",
            self.max_body_bytes as u64,
            1024,
            64 * 1024 * 1024,
        );
        self.limits.check(p);
    }
}

impl LimitsConfig {
    /// Check the shared store's URL (without showing it: it may hold a password) and the names
    /// in `fail_open`.
    pub fn check(&self, p: &mut Problems) {
        if let SecretRef::Literal(url) = &self.redis {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "redis" | "redis+unix" | "unix") => {
                    let db = u.path().trim_start_matches('/');
                    if u.scheme() == "redis" && !db.is_empty() && db.parse::<u32>().is_err() {
                        p.invalid_secret(
                            "server.limits.redis",
                            "a URL whose database is not a number",
                            "redis://[:PASSWORD@]HOST:PORT/DB with DB a number (0 by default)",
                        );
                    }
                }
                Ok(u) if u.scheme() == "rediss" => p.invalid_secret(
                    "server.limits.redis",
                    "a rediss:// (TLS) URL",
                    "redis:// (TLS to Redis is not supported: keep Redis on loopback or a private network, or put a TLS tunnel such as stunnel in front of it)",
                ),
                Ok(u) => p.invalid_secret(
                    "server.limits.redis",
                    format!("a URL of scheme {:?}", u.scheme()),
                    "redis://[:PASSWORD@]HOST:PORT/DB (or redis+unix:///PATH), vault:NAME, env:NAME, file:/PATH, or empty to count in this process",
                ),
                Err(e) => p.invalid_secret(
                    "server.limits.redis",
                    format!("a value that is not a URL ({e})"),
                    "redis://[:PASSWORD@]HOST:PORT/DB (or redis+unix:///PATH), vault:NAME, env:NAME, file:/PATH, or empty to count in this process",
                ),
            }
        }
        if self
            .redis_prefix
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
            || !self.redis_prefix.ends_with(':')
        {
            p.invalid(
                "server.limits.redis_prefix",
                format!("{:?}", self.redis_prefix),
                "a key prefix ending in `:`, without spaces or control characters, such as \"bulwark:\"",
            );
        }
        for (i, name) in self.fail_open.iter().enumerate() {
            if !LIMIT_NAMES.contains(&name.as_str()) {
                p.invalid(
                    format!("server.limits.fail_open[{i}]"),
                    format!("{name:?}"),
                    format!("a limit's name: {}", LIMIT_NAMES.join(", ")),
                );
            }
        }
    }
}

/// `[console]`: the web console at `/console`, where approvers sign in with their API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Serve the console (off by default: more surface is opt-in).
    pub enabled: bool,
    /// Minutes a sign-in lasts; after it, sign in again.
    pub session_minutes: u32,
    /// Mark the session cookie `Secure` although the sidecar serves plain HTTP: for a console
    /// reached through a proxy that terminates TLS. With `[server] tls_cert` it is always set.
    pub secure_cookie: bool,
    /// The console's address as approvers reach it (e.g. `https://bulwark.example/console`):
    /// Slack and Discord messages link each approval there. Empty: no link.
    pub public_url: String,
    /// Signing in through an OpenID Connect provider instead of pasting a token.
    pub oidc: OidcConfig,
}

/// `[console.oidc]`: sign-in through an OpenID Connect provider (authorization code with PKCE).
/// The person it names is mapped to a principal: the name of an active token with the `approve`
/// scope, whose revocation ends the session as for a token sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// Offer "Sign in with single sign-on" on the sign-in page.
    pub enabled: bool,
    /// The provider's issuer URL (its discovery document is `ISSUER/.well-known/openid-configuration`):
    /// https, or http to loopback only.
    pub issuer: String,
    /// This console's client id at the provider.
    pub client_id: String,
    /// The client secret (`vault:NAME`, `env:NAME` or `file:PATH`); unset for a public client
    /// (PKCE protects the code either way).
    pub client_secret: SecretRef,
    /// Where the provider sends the browser back, as registered there: a URL ending in
    /// `/console/oidc/callback`. Empty: `public_url` followed by `/oidc/callback`.
    pub redirect_url: String,
    /// The ID token claim that names the person: `email` (which must be verified) or `sub`
    /// (`preferred_username` is not offered: many providers let people change it).
    pub claim: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// The claim's value -> the principal it signs in as (`"alice@example.com" = "alice"`).
    /// Anyone else is refused.
    pub users: BTreeMap<String, String>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            enabled: false,
            issuer: String::new(),
            client_id: String::new(),
            client_secret: SecretRef::Unset,
            redirect_url: String::new(),
            claim: "email".into(),
            scopes: vec!["email".into()],
            users: BTreeMap::new(),
        }
    }
}

impl OidcConfig {
    /// Where the provider sends the browser back.
    pub fn redirect(&self, public_url: &str) -> String {
        if self.redirect_url.is_empty() && !public_url.is_empty() {
            format!("{}/oidc/callback", public_url.trim_end_matches('/'))
        } else {
            self.redirect_url.clone()
        }
    }
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: false,
            session_minutes: 15,
            secure_cookie: false,
            public_url: String::new(),
            oidc: OidcConfig::default(),
        }
    }
}

impl ConsoleConfig {
    /// Check the session length and the public address.
    pub fn check(&self, p: &mut Problems) {
        p.range(
            "console.session_minutes",
            u64::from(self.session_minutes),
            1,
            720,
        );
        if !self.public_url.is_empty() {
            match url::Url::parse(&self.public_url) {
                Ok(u)
                    if matches!(u.scheme(), "https" | "http")
                        && u.host().is_some()
                        && u.path().trim_end_matches('/').ends_with("/console") => {}
                _ => p.invalid(
                    "console.public_url",
                    format!("{:?}", self.public_url),
                    "the console's http(s) URL, ending in /console (https://bulwark.example/console), or empty",
                ),
            }
        }
        let o = &self.oidc;
        if !o.enabled {
            return;
        }
        crate::approval::cfg::check_api_url("console.oidc.issuer", &o.issuer, p);
        if o.client_id.trim().is_empty() {
            p.invalid(
                "console.oidc.client_id",
                "\"\"",
                "the console's client id at the provider",
            );
        }
        let redirect = o.redirect(&self.public_url);
        let callback =
            url::Url::parse(&redirect).is_ok_and(|u| u.path().ends_with("/console/oidc/callback"));
        if !callback {
            p.invalid(
                "console.oidc.redirect_url",
                format!("{redirect:?}"),
                "the URL of this console's /console/oidc/callback as the browser reaches it (or set [console] public_url)",
            );
        }
        if !matches!(o.claim.as_str(), "email" | "sub") {
            p.invalid(
                "console.oidc.claim",
                format!("{:?}", o.claim),
                "email (verified) or sub (not preferred_username: people can change it)",
            );
        }
        if o.claim == "email" {
            let mut seen = std::collections::BTreeSet::new();
            for who in o.users.keys() {
                if !seen.insert(who.to_ascii_lowercase()) {
                    p.invalid(
                        format!("console.oidc.users.{who:?}"),
                        format!("{who:?}"),
                        "each e-mail address once (they are compared without case)",
                    );
                }
            }
        }
        if o.users.is_empty() {
            p.invalid(
                "console.oidc.users",
                "{}",
                "at least one person: \"alice@example.com\" = \"alice\" (the name of a token with the approve scope)",
            );
        }
        for (who, principal) in &o.users {
            if !crate::auth::valid_name(principal) {
                p.invalid(
                    format!("console.oidc.users.{who:?}"),
                    format!("{principal:?}"),
                    "a principal: the name of a token with the approve scope",
                );
            }
        }
    }
}
