//! The one configuration schema, `bulwark.toml`.
//!
//! Threat answered: a guard that is misconfigured silently is worse than none. Every field has a safe
//! default, unknown keys are errors (a typo must not turn a guard off), and every error names the key
//! path, the bad value and what was expected, with the line and column in the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::finding::Severity;

/// How a setting refers to a vault entry: `vault:NAME`.
pub const VAULT_PREFIX: &str = "vault:";

/// The whole configuration. Each guard has its own section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Content guard: secret and personal-data detection.
    pub scan: ScanConfig,
    /// Redaction of what the content guard finds.
    pub redact: RedactConfig,
    /// Egress guard: which URLs agents may fetch, and the egress proxy.
    pub egress: EgressConfig,
    /// The tamper-evident audit log.
    pub audit: AuditConfig,
    /// Action guard: which tool calls run, wait for a human, or never run.
    pub action: ActionConfig,
    /// Human approvals of actions the action guard sends to review.
    pub approval: ApprovalConfig,
    /// Bulwark's own state database.
    pub store: StoreConfig,
    /// The sidecar HTTP API (`bulwark serve`).
    pub server: ServerConfig,
    /// Webhook ingress (`POST /v1/ingress/{source}`).
    pub ingress: IngressConfig,
    /// The credential vault.
    pub vault: VaultConfig,
}

/// `[vault]`: the credential vault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// The vault file; empty means `$BULWARK_HOME/vault.json`.
    pub path: String,
    /// Cipher of a new vault: `xchacha20poly1305` or `aes256gcm`.
    pub cipher: crate::vault::Cipher,
    /// Argon2id memory (KiB) for a new passphrase.
    pub argon2_memory_kib: u32,
    /// Argon2id iterations for a new passphrase.
    pub argon2_iterations: u32,
    /// Argon2id lanes for a new passphrase.
    pub argon2_parallelism: u32,
}

impl Default for VaultConfig {
    fn default() -> Self {
        VaultConfig {
            path: String::new(),
            cipher: crate::vault::Cipher::Xchacha20poly1305,
            argon2_memory_kib: 65536,
            argon2_iterations: 3,
            argon2_parallelism: 1,
        }
    }
}

impl VaultConfig {
    /// The vault file under `home` unless `path` names one.
    pub fn file(&self, home: &Path) -> PathBuf {
        if self.path.is_empty() {
            home.join("vault.json")
        } else {
            PathBuf::from(&self.path)
        }
    }
}

/// `[ingress]`: verified webhooks forwarded to the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IngressConfig {
    /// Seconds a signed timestamp may be from now; message ids are remembered twice as long.
    pub tolerance_secs: u64,
    /// Most message ids remembered for replay detection.
    pub replay_capacity: usize,
    /// Requests per minute per source (0: no limit).
    pub source_per_min: u32,
    /// The sources, by the name in the URL: `/v1/ingress/NAME`.
    pub sources: BTreeMap<String, IngressSourceConfig>,
}

impl Default for IngressConfig {
    fn default() -> Self {
        IngressConfig {
            tolerance_secs: 300,
            replay_capacity: 100_000,
            source_per_min: 600,
            sources: BTreeMap::new(),
        }
    }
}

/// `[ingress.sources.NAME]`: one webhook sender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngressSourceConfig {
    /// `standard_webhooks`, `github`, `slack`, `hmac_sha256` or `bearer`.
    pub scheme: crate::webhook::Scheme,
    /// The environment variable holding the secret (preferred: nothing secret in the file).
    #[serde(default)]
    pub secret_env: String,
    /// The secret itself (when `secret_env` is empty; `bulwark config check` warns).
    #[serde(default)]
    pub secret: String,
    /// `hmac_sha256`: the header carrying the hex signature (`sha256=` prefix optional).
    #[serde(default)]
    pub header: String,
    /// `hmac_sha256`: a header whose timestamp is signed as `<timestamp>.<body>` (optional).
    #[serde(default)]
    pub timestamp_header: String,
    /// Client addresses allowed to send (`ADDR[/LEN]`); empty: any.
    #[serde(default)]
    pub allow_cidrs: Vec<String>,
    /// Proxies in front of Bulwark whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Where verified payloads go (the agent's own endpoint); empty: judged, not forwarded.
    #[serde(default)]
    pub forward_to: String,
    /// `vault:NAME`: a token sent to `forward_to` as `Authorization: Bearer` (the agent's own
    /// credential, kept in the vault). Empty: none.
    #[serde(default)]
    pub forward_token: String,
    /// Hold payloads back from at this verdict: `block` (default) or `review`.
    #[serde(default = "default_hold")]
    pub hold_at: crate::finding::Verdict,
    /// Allowed label values: `alertname = ["HighLatency*"]`; every `labels` object in the payload
    /// must carry each label named here with a matching value.
    #[serde(default)]
    pub labels: BTreeMap<String, Vec<String>>,
}

fn default_hold() -> crate::finding::Verdict {
    crate::finding::Verdict::Block
}

/// `[server]`: the sidecar HTTP API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on (loopback by default).
    pub listen: String,
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
    /// Rate limits.
    pub limits: LimitsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8844".into(),
            allow_plaintext_public: false,
            max_body_bytes: 1024 * 1024,
            tls_cert: String::new(),
            tls_key: String::new(),
            egress_proxy: false,
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
}

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
        }
    }
}

/// `[store]`: the state database (SQLite): approvals and settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The database file; empty means `$BULWARK_HOME/bulwark.db`.
    pub db: String,
}

impl StoreConfig {
    /// The database file under `home` unless `db` names one.
    pub fn db_path(&self, home: &Path) -> PathBuf {
        if self.db.is_empty() {
            home.join("bulwark.db")
        } else {
            PathBuf::from(&self.db)
        }
    }
}

/// `[action]`: the action guard (tool calls).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ActionConfig {
    /// `read_only` (anything but a read is blocked), `supervised` (writes run, destructive actions
    /// wait for approval) or `autonomous` (approval only where a tier demands it).
    pub mode: ActionMode,
    /// Tools whose `args.command` is a shell command line, screened word by word.
    pub shell_tools: Vec<String>,
    /// Namespace label (set by a cluster admin) that names a namespace's tier; it wins over the
    /// name. Empty: labels are not used.
    pub tier_label: String,
    /// The tier of a namespace no pattern matches (and of an empty or malformed one). Empty: the
    /// most restrictive tier.
    pub unknown_tier: String,
    /// The namespace a Kubernetes command acts on when it names none (`kubectl get pods`), for its
    /// tier. Empty: such a command takes the unknown tier (`unknown_tier`, else the most restrictive).
    pub default_namespace: String,
    /// Namespace labels as the cluster admin set them (`namespace -> {label -> value}`): with
    /// `namespace_labels_file`, the only source of `tier_label`. Labels an intent carries in
    /// `target.labels` never change a tier.
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// A file the cluster admin keeps with namespace labels: the output of `kubectl get
    /// namespaces -o json`, or a JSON object `namespace -> {label -> value}`. Read when the
    /// configuration loads (and on every reload); relative to the configuration file's directory.
    /// Entries in `namespace_labels` win over it. Empty: none.
    pub namespace_labels_file: String,
    /// Namespace tiers, in order: the first tier with a matching pattern classifies a namespace.
    pub tiers: Vec<TierConfig>,
    /// Action classes per tool, replacing the built-in classes for the verbs they list.
    pub tools: BTreeMap<String, ToolClassesConfig>,
    /// Workspace confinement of path arguments and shell command paths.
    pub workspace: WorkspaceConfig,
    /// Shell command screening.
    pub shell: ShellConfig,
    /// Kernel confinement of the commands `bulwark exec` runs.
    pub exec: ExecConfig,
}

/// How much an agent may do on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionMode {
    /// Only reads run; everything else is blocked.
    ReadOnly,
    /// Reads and writes run; destructive actions wait for approval.
    Supervised,
    /// Everything runs, except where a tier demands approval or blocks.
    Autonomous,
}

impl ActionMode {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionMode::ReadOnly => "read_only",
            ActionMode::Supervised => "supervised",
            ActionMode::Autonomous => "autonomous",
        }
    }
}

/// What a tier does to the actions in its namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TierEffect {
    /// The mode decides.
    Mode,
    /// Every action but a read needs approval, whatever the mode.
    Approval,
    /// Every action, reads included, is blocked.
    Block,
}

/// `[[action.tiers]]`: one namespace tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    /// The tier's name (what `tier_label` values and `unknown_tier` refer to).
    pub name: String,
    /// Globs matched against the whole namespace name (`*` any run of characters, `?` one):
    /// `prod` matches only `prod`; `prod-*` matches `prod-eu`.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// `mode`, `approval` or `block`.
    pub effect: TierEffect,
    /// Distinct approvers needed for an action in this tier.
    #[serde(default = "one")]
    pub approvals: u32,
}

fn one() -> u32 {
    1
}

/// `[action.tools.NAME]`: the class of each verb of one tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ToolClassesConfig {
    /// Verbs that only read.
    pub read: Vec<String>,
    /// Verbs that change something that can be changed back.
    pub write: Vec<String>,
    /// Verbs that delete, stop, restart, scale down or execute.
    pub destructive: Vec<String>,
}

/// `[action.workspace]`: confinement of paths (like PicoClaw's restrict_to_workspace).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WorkspaceConfig {
    /// Confine path arguments (`args.path`, `args.file`, ...) and paths in shell commands.
    pub restrict: bool,
    /// The workspace root; empty means `$BULWARK_HOME/workspace`. Relative paths resolve here.
    pub root: String,
    /// Directories reads may touch; relative entries are under the root. Empty: the root.
    pub read_allow: Vec<String>,
    /// Directories writes may touch; relative entries are under the root. Empty: the root.
    pub write_allow: Vec<String>,
}

/// `[action.shell]`: shell command screening.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ShellConfig {
    /// Globs over a simple command's words joined by single spaces (`make test`, `cargo *`): a
    /// matching command counts as a read. Never overrides a deny rule.
    pub allow: Vec<String>,
    /// Programs (or `program subcommand` words) the screen knows beyond its built-in table, or
    /// known differently: the options they may take while they stay in their class.
    pub programs: BTreeMap<String, ShellProgramConfig>,
    /// Credential paths commands may name, exactly as they name them (`~/.kube/config`). Every
    /// other credential path is refused in every mode.
    pub credentials_allow: Vec<String>,
}

/// `[action.shell.programs.NAME]`: one known program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellProgramConfig {
    /// `read` or `write`: the class of a command that uses only the options listed.
    pub class: String,
    /// What its operands are: `paths` (read), `wpaths` (written), `copy`, `inout`, `plain`,
    /// `pattern` (a pattern then paths), `list`, `none`.
    #[serde(default = "paths")]
    pub operands: String,
    /// Its options: `-a` (flag), `-n=` (plain value), `-f=path`, `-o=wpath`, `-P=prog`, `-e=pat`,
    /// `--color?` (value only with `=`), `--arg=2` (two values), `-#` (numbers like `-20`).
    #[serde(default)]
    pub options: Vec<String>,
}

fn paths() -> String {
    "paths".into()
}

/// `[action.exec]`: kernel confinement (Linux Landlock) of the commands `bulwark exec` runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ExecConfig {
    /// The command's network: `none` (no TCP connection or listening socket), `proxy` (TCP only
    /// to the egress proxy's port, with `HTTP_PROXY` and `HTTPS_PROXY` set) or `open`.
    pub network: ExecNetwork,
    /// Per program (the basename of the command's first word): the credential paths it may read,
    /// and its network.
    pub programs: BTreeMap<String, ExecProgramConfig>,
}

/// The network a confined command gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ExecNetwork {
    /// No TCP: connecting and listening are refused by the kernel.
    #[default]
    None,
    /// TCP connections only to the egress proxy's port.
    Proxy,
    /// The network is not confined.
    Open,
}

impl ExecNetwork {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecNetwork::None => "none",
            ExecNetwork::Proxy => "proxy",
            ExecNetwork::Open => "open",
        }
    }
}

/// `[action.exec.programs.NAME]`: what one program gets beyond the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ExecProgramConfig {
    /// Credential paths (`~/...` or absolute) this program may read, e.g. `["~/.kube/config"]`.
    pub read: Vec<String>,
    /// The program's network, replacing `action.exec.network`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<ExecNetwork>,
}

/// `[approval]`: who approves, for how long an approval stands, where it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalConfig {
    /// Who may approve: principals (`alice`) or roles (`role:sre`). Nobody by default.
    pub approvers: Vec<String>,
    /// Roles: name -> principals.
    pub roles: BTreeMap<String, Vec<String>>,
    /// Seconds a pending approval stands before it expires (approved or not).
    pub ttl_secs: u64,
    /// Webhook told of each new pending approval (a Slack- and Discord-compatible JSON body with
    /// the summary only, never argument values). Empty: none. A chat webhook URL is a credential:
    /// `vault:NAME` reads it from the vault.
    pub notify_url: String,
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        ApprovalConfig {
            approvers: Vec::new(),
            roles: BTreeMap::new(),
            ttl_secs: 900,
            notify_url: String::new(),
        }
    }
}

impl Default for WorkspaceConfig {
    fn default() -> Self {
        WorkspaceConfig {
            restrict: true,
            root: String::new(),
            read_allow: Vec::new(),
            write_allow: Vec::new(),
        }
    }
}

impl Default for ActionConfig {
    fn default() -> Self {
        let tier = |name: &str, patterns: &[&str], effect| TierConfig {
            name: name.into(),
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            effect,
            approvals: 1,
        };
        ActionConfig {
            mode: ActionMode::ReadOnly,
            shell_tools: ["shell", "exec", "bash", "sh", "run_command", "terminal"]
                .map(String::from)
                .to_vec(),
            tier_label: "bulwark.io/tier".into(),
            unknown_tier: String::new(),
            default_namespace: String::new(),
            namespace_labels: BTreeMap::new(),
            namespace_labels_file: String::new(),
            tiers: vec![
                tier(
                    "production",
                    &[
                        "prod",
                        "production",
                        "prod-*",
                        "*-prod",
                        "production-*",
                        "*-production",
                    ],
                    TierEffect::Approval,
                ),
                tier(
                    "staging",
                    &[
                        "staging",
                        "stage",
                        "staging-*",
                        "*-staging",
                        "stage-*",
                        "*-stage",
                    ],
                    TierEffect::Mode,
                ),
                tier(
                    "dev",
                    &[
                        "dev",
                        "development",
                        "default",
                        "dev-*",
                        "*-dev",
                        "test",
                        "*-test",
                    ],
                    TierEffect::Mode,
                ),
            ],
            tools: BTreeMap::new(),
            workspace: WorkspaceConfig::default(),
            shell: ShellConfig::default(),
            exec: ExecConfig::default(),
        }
    }
}

/// `[audit]`: the tamper-evident audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Record decisions in the audit log. Off, nothing Bulwark decides leaves evidence.
    pub enabled: bool,
    /// Where records go: `file` (JSON Lines segments in `dir`) or `sqlite` (one database, `db`).
    pub backend: AuditBackend,
    /// Directory of the file backend (segments and checkpoints); empty means `$BULWARK_HOME/audit`.
    pub dir: String,
    /// Database of the SQLite backend; empty means `$BULWARK_HOME/audit.db`.
    pub db: String,
    /// A segment file is closed and a new one started past this many bytes.
    pub segment_max_bytes: u64,
    /// Also start a new segment when the UTC day changes.
    pub rotate_daily: bool,
    /// Sign a checkpoint after this many records...
    pub checkpoint_every: u64,
    /// ...or this many seconds after the last one, whichever comes first (and on close).
    pub checkpoint_secs: u64,
    /// Batch appends: one fsync for up to `group_max` records arriving within
    /// `group_window_micros`; each append is acknowledged only once its batch is durable. Off,
    /// every append is fsync'd alone.
    pub group_commit: bool,
    /// Most records in one batch.
    pub group_max: usize,
    /// How long a batch waits for more records after its first, in microseconds. 0 (the default)
    /// takes whatever is queued: records that arrive during one batch's fsync form the next.
    pub group_window_micros: u64,
    /// File backend: prune whole segments older than this many days (0 keeps everything).
    pub retention_days: u64,
    /// Secrets are always redacted from records (details and resource). Personal data is kept
    /// unless this is on: IP addresses and e-mail addresses are often the evidence itself.
    pub redact_pii: bool,
    /// `vault:NAME`: the HMAC keys (hex, one per line, oldest first) come from the vault instead
    /// of `$BULWARK_HOME/keys/audit-hmac.keys`. Empty: the key file (created on first use).
    pub hmac_keys: String,
    /// `vault:NAME`: the Ed25519 checkpoint signing key (hex) comes from the vault instead of
    /// `$BULWARK_HOME/keys/audit-signing.key`. Empty: the key file.
    pub signing_key: String,
    /// What a writer verifies before it appends: `full` (every record: a log damaged anywhere is
    /// not appended to) or `since_checkpoint` (the last signed checkpoint, the record it names,
    /// and every record after it: open time stays flat as the log grows; older damage is left to
    /// `bulwark audit verify`).
    pub open_verify: OpenVerify,
}

/// How much of the audit log a writer checks when it opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpenVerify {
    /// Every record, link, MAC and checkpoint.
    Full,
    /// From the last signed checkpoint on.
    SinceCheckpoint,
}

/// The audit log's storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditBackend {
    /// Append-only JSON Lines segments in a directory.
    File,
    /// One SQLite database (WAL, synchronous = FULL).
    Sqlite,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            backend: AuditBackend::File,
            dir: String::new(),
            db: String::new(),
            segment_max_bytes: 64 * 1024 * 1024,
            rotate_daily: true,
            checkpoint_every: 1000,
            checkpoint_secs: 60,
            group_commit: true,
            group_max: 256,
            group_window_micros: 0,
            retention_days: 0,
            redact_pii: false,
            hmac_keys: String::new(),
            signing_key: String::new(),
            open_verify: OpenVerify::Full,
        }
    }
}

/// `[egress]`: the egress guard (SSRF). The top-level lists are the `default` profile; named
/// profiles under `[egress.profiles.NAME]` give each agent or tool its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EgressConfig {
    /// Turn the egress guard on or off. Off allows every URL that parses (and the proxy forwards
    /// everything): `bulwark config check` warns.
    pub enabled: bool,
    /// URL schemes allowed (`http`, `https`, `ws`, `wss`, `ftp`); every other scheme is denied.
    pub schemes: Vec<String>,
    /// Ports allowed: numbers, ranges such as `"8000-8100"`, or `"*"` for any port.
    pub ports: Vec<PortRule>,
    /// If not empty, only these host names may be fetched: exact names and `*.suffix` globs
    /// (`*.example.com` matches subdomains, not `example.com` itself). Address literals are then
    /// denied (`not_allowlisted`): give an internal service a name.
    pub allow_domains: Vec<String>,
    /// Host names never fetched, whatever they resolve to: exact names and `*.suffix` globs.
    pub deny_domains: Vec<String>,
    /// Address blocks deliberately opened although not public (an internal service you trust),
    /// optionally for one port: `"10.0.1.0/24"`, `"fd00:1::/64"`, `"10.0.0.5/32:8200"`. Cloud
    /// metadata endpoints are never opened. Where an allow and a deny entry both match, the more
    /// specific one wins; on a tie, deny.
    pub allow_cidrs: Vec<String>,
    /// Address blocks denied although public, same syntax as `allow_cidrs`.
    pub deny_cidrs: Vec<String>,
    /// Named profiles: each list a profile sets replaces the top-level one; lists it omits are
    /// inherited. The proxy picks a profile from the client's Proxy-Authorization.
    pub profiles: BTreeMap<String, EgressProfileConfig>,
    /// The egress proxy (`bulwark egress proxy`).
    pub proxy: ProxyConfig,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            enabled: true,
            schemes: vec!["http".into(), "https".into()],
            ports: vec![
                PortRule::Number(80),
                PortRule::Number(443),
                PortRule::Number(8080),
                PortRule::Number(8443),
            ],
            allow_domains: Vec::new(),
            deny_domains: Vec::new(),
            allow_cidrs: Vec::new(),
            deny_cidrs: Vec::new(),
            profiles: BTreeMap::new(),
            proxy: ProxyConfig::default(),
        }
    }
}

/// A port, a range, or any port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PortRule {
    /// One port, e.g. `443`.
    Number(u16),
    /// `"8000-8100"`, or `"*"` for any port.
    Text(String),
}

/// `[egress.profiles.NAME]`: the lists of one profile; an omitted list is inherited from `[egress]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EgressProfileConfig {
    /// Replaces `egress.schemes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schemes: Option<Vec<String>>,
    /// Replaces `egress.ports`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<PortRule>>,
    /// Replaces `egress.allow_domains`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_domains: Option<Vec<String>>,
    /// Replaces `egress.deny_domains`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny_domains: Option<Vec<String>>,
    /// Replaces `egress.allow_cidrs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_cidrs: Option<Vec<String>>,
    /// Replaces `egress.deny_cidrs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny_cidrs: Option<Vec<String>>,
}

/// What the proxy does with plain-HTTP response bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseScan {
    /// Pass bodies through untouched.
    Off,
    /// Scan textual bodies with the content guard and add `X-Bulwark-Verdict` and
    /// `X-Bulwark-Findings` headers.
    Header,
    /// As `header`, and answer 403 instead of a body whose verdict is `block`.
    Block,
}

/// `[egress.proxy]`: the forward proxy for agent tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Address and port to listen on (loopback by default).
    pub listen: String,
    /// Most CONNECT tunnels open at once; more are answered 503.
    pub max_tunnels: usize,
    /// Largest request head (request line and headers) in bytes; larger requests are refused.
    pub max_header_bytes: usize,
    /// Seconds a client may take to send a request head, and a tunnel or connection may stay idle.
    pub idle_timeout_secs: u64,
    /// Seconds to wait for an upstream connection.
    pub connect_timeout_secs: u64,
    /// Scan plain-HTTP response bodies: `off`, `header` or `block`.
    pub scan_responses: ResponseScan,
    /// Largest body scanned; a larger body is passed with `X-Bulwark-Verdict: unscanned`
    /// (or refused under `block`).
    pub scan_max_bytes: usize,
    /// Refuse clients without valid Proxy-Authorization (407) instead of giving them the default
    /// profile.
    pub require_client_auth: bool,
    /// Wait until each decision is durable in the audit log before acting on it (a request whose
    /// decision cannot be recorded is refused). Off, decisions are recorded in the background:
    /// faster, but a crash can lose the last ones. Needs `[audit] enabled`.
    pub audit_wait: bool,
    /// Requests (and tunnels) per second per client address; past it, 429 with `Retry-After`.
    /// 0: no limit.
    pub client_per_sec: u32,
    /// Clients, by the user name they send in Proxy-Authorization (Basic): each gets a profile.
    pub clients: BTreeMap<String, ProxyClientConfig>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: "127.0.0.1:3128".into(),
            max_tunnels: 256,
            max_header_bytes: 16 * 1024,
            idle_timeout_secs: 60,
            connect_timeout_secs: 10,
            scan_responses: ResponseScan::Off,
            scan_max_bytes: 1024 * 1024,
            require_client_auth: false,
            audit_wait: true,
            client_per_sec: 0,
            clients: BTreeMap::new(),
        }
    }
}

/// `[egress.proxy.clients.NAME]`: one proxy client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyClientConfig {
    /// The egress profile this client gets (`default` or a name under `[egress.profiles]`).
    pub profile: String,
    /// SHA-256 (hex) of the client's token, its Proxy-Authorization password. Create one with
    /// `bulwark egress client-token`; the token itself is never stored.
    pub token_sha256: String,
}

/// `[scan]`: the content guard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// Turn the content guard on or off. Off means nothing is detected and nothing is redacted.
    pub enabled: bool,
    /// Files larger than this many bytes are skipped by `bulwark scan` (and reported as skipped).
    pub max_file_bytes: u64,
    /// The lowest severity that makes the verdict `review`.
    pub review_at: Severity,
    /// The lowest severity that makes the verdict `block`.
    pub block_at: Severity,
    /// Secret detectors.
    pub secrets: SecretsConfig,
    /// Personal-data detectors.
    pub pii: PiiConfig,
    /// Prompt-injection detection.
    pub injection: InjectionConfig,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            enabled: true,
            max_file_bytes: 10 * 1024 * 1024,
            review_at: Severity::Low,
            block_at: Severity::High,
            secrets: SecretsConfig::default(),
            pii: PiiConfig::default(),
            injection: InjectionConfig::default(),
        }
    }
}

/// `[scan.injection]`: prompt-injection detection. A text gets a score from 0 to 1 (patterns and a
/// statistical model); thresholds turn the score into `review` or `block`, stricter for text from
/// untrusted sources (web pages, e-mail, tool output, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct InjectionConfig {
    /// Turn prompt-injection detection on or off.
    pub enabled: bool,
    /// Score (0 to 1) at which text from a trusted source needs review.
    pub review_score: f32,
    /// Score at which text from a trusted source is blocked.
    pub block_score: f32,
    /// Score at which text from any other source needs review.
    pub untrusted_review_score: f32,
    /// Score at which text from any other source is blocked.
    pub untrusted_block_score: f32,
    /// Sources whose text is held to the trusted thresholds. Every other source (`web`, `email`,
    /// `tool_output`, `alert`, `mcp_tool_description`, `document`, unknown names) is untrusted.
    pub trusted_sources: Vec<String>,
    /// Use the statistical model as well as the patterns (it finds paraphrases patterns miss).
    pub model: bool,
    /// Model probability at which the model alone is evidence; below it, the model only
    /// strengthens pattern evidence (at half weight). Lower finds more paraphrased attacks and flags
    /// more benign instruction-heavy text (role-play prompts, system prompts).
    pub model_threshold: f32,
    /// How many encoding layers (base64 in hex in ...) are decoded and scanned, 0 to 4.
    pub decode_depth: u8,
    /// At most this many decoded bytes are scanned per text.
    pub max_decoded_bytes: usize,
}

impl Default for InjectionConfig {
    fn default() -> Self {
        InjectionConfig {
            enabled: true,
            review_score: 0.5,
            block_score: 0.85,
            untrusted_review_score: 0.35,
            untrusted_block_score: 0.6,
            trusted_sources: vec!["user".into()],
            model: true,
            model_threshold: 0.94,
            decode_depth: 2,
            max_decoded_bytes: 1024 * 1024,
        }
    }
}

/// `[scan.secrets]`: credential detectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// Turn every secret detector on or off.
    pub enabled: bool,
    /// Rule ids to turn off (see `bulwark scan --list-rules`), e.g. `["generic-secret"]`.
    pub disabled_rules: Vec<String>,
    /// Minimum Shannon entropy (bits per character) of a value assigned to a secret-looking name for
    /// the generic rule to report it. Lower finds more and reports more noise.
    pub generic_min_entropy: f64,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        SecretsConfig {
            enabled: true,
            disabled_rules: Vec::new(),
            generic_min_entropy: 3.0,
        }
    }
}

/// `[scan.pii]`: personal-data detectors, each one switchable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PiiConfig {
    /// Turn every personal-data detector on or off.
    pub enabled: bool,
    /// E-mail addresses.
    pub email: bool,
    /// Phone numbers in E.164 (`+14155550132`) and common national forms.
    pub phone: bool,
    /// Payment card numbers (Luhn checksum and issuer ranges).
    pub credit_card: bool,
    /// International bank account numbers (mod-97 checksum, country lengths).
    pub iban: bool,
    /// IPv4 and IPv6 addresses.
    pub ip_address: bool,
    /// US social security numbers (invalid ranges excluded).
    pub us_ssn: bool,
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            enabled: true,
            email: true,
            phone: true,
            credit_card: true,
            iban: true,
            ip_address: true,
            us_ssn: true,
        }
    }
}

/// How a found value is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// `[REDACTED:rule-id]`.
    Placeholder,
    /// Asterisks, keeping the last `mask_keep` characters.
    Mask,
    /// `[rule-id:0123abcd…]`: a keyed HMAC-SHA256 of the value, so the same value maps to the same token
    /// under one key, and different keys do not link. Needs a key (see `pseudonym_key_env`).
    Pseudonym,
}

/// `[redact]`: what replaces a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RedactConfig {
    /// Operator for secrets.
    pub secret: Operator,
    /// Operator for personal data.
    pub pii: Operator,
    /// Per-rule operators that win over the per-kind ones, e.g. `{ email = "pseudonym" }`.
    pub rules: BTreeMap<String, Operator>,
    /// How many trailing characters `mask` keeps (0 to 8).
    pub mask_keep: usize,
    /// Name of the environment variable holding the pseudonym key (at least 16 bytes). The key is never
    /// written in this file.
    pub pseudonym_key_env: String,
    /// `vault:NAME`: read the pseudonym key from the vault instead of `pseudonym_key_env`.
    pub pseudonym_key: String,
}

impl Default for RedactConfig {
    fn default() -> Self {
        RedactConfig {
            secret: Operator::Placeholder,
            pii: Operator::Placeholder,
            rules: BTreeMap::new(),
            mask_keep: 4,
            pseudonym_key_env: "BULWARK_PSEUDONYM_KEY".to_string(),
            pseudonym_key: String::new(),
        }
    }
}

/// What went wrong loading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or a value has the wrong type or an unknown key.
    #[error("{}: at `{key}`: {message}", location(.origin, *.line, *.column))]
    Parse {
        /// The file name, or the environment variable, the error is in.
        origin: String,
        /// Dotted key path, e.g. `scan.pii.email`.
        key: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A value parses but is out of range or inconsistent.
    #[error("{origin}: `{key}` = {value}: expected {expected}")]
    Invalid {
        /// Where the configuration came from.
        origin: String,
        /// Dotted key path.
        key: String,
        /// The offending value, rendered.
        value: String,
        /// What would be accepted.
        expected: String,
    },
}

/// Where a configuration was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A file, named by `--config`, `$BULWARK_CONFIG` or `$BULWARK_HOME/bulwark.toml`.
    File(PathBuf),
    /// No file: built-in defaults.
    Defaults,
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::Defaults => f.write_str("built-in defaults"),
        }
    }
}

/// `$BULWARK_HOME`, else `~/.bulwark`.
pub fn bulwark_home(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(h) = env("BULWARK_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(h));
    }
    env("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".bulwark"))
}

/// Find the configuration file: `explicit` (from `--config`), else `$BULWARK_CONFIG`, else
/// `$BULWARK_HOME/bulwark.toml` if it exists, else built-in defaults.
pub fn locate(explicit: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> ConfigSource {
    if let Some(p) = explicit {
        return ConfigSource::File(p.to_path_buf());
    }
    if let Some(p) = env("BULWARK_CONFIG").filter(|p| !p.is_empty()) {
        return ConfigSource::File(PathBuf::from(p));
    }
    if let Some(home) = bulwark_home(env) {
        let p = home.join("bulwark.toml");
        if p.is_file() {
            return ConfigSource::File(p);
        }
    }
    ConfigSource::Defaults
}

impl SecurityConfig {
    /// Load from a located source, then apply `BULWARK_<KEY_PATH>` environment overrides, then validate.
    pub fn load(
        source: &ConfigSource,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let (origin, text) = match source {
            ConfigSource::File(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError::Read {
                    path: p.clone(),
                    source: e,
                })?;
                (p.display().to_string(), text)
            }
            ConfigSource::Defaults => ("built-in defaults".to_string(), String::new()),
        };
        let mut cfg = Self::parse_toml(&text, &origin)?;
        let names: Vec<String> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| k.starts_with("BULWARK_"))
            .collect();
        Self::check_override_names(&names, &text)?;
        cfg.apply_env(env)?;
        cfg.validate(&origin)?;
        let base = match source {
            ConfigSource::File(p) => p.parent().map(Path::to_path_buf),
            ConfigSource::Defaults => None,
        };
        cfg.read_namespace_labels(base.as_deref())?;
        Ok(cfg)
    }

    /// Merge `[action] namespace_labels_file` into `namespace_labels` (the inline entries win).
    fn read_namespace_labels(&mut self, base: Option<&Path>) -> Result<(), ConfigError> {
        /// Largest labels file read.
        const MAX_BYTES: u64 = 16 * 1024 * 1024;
        let name = &self.action.namespace_labels_file;
        if name.is_empty() {
            return Ok(());
        }
        let path = match base {
            Some(b) if Path::new(name).is_relative() => b.join(name),
            _ => PathBuf::from(name),
        };
        let invalid = |expected: String| ConfigError::Invalid {
            origin: path.display().to_string(),
            key: "action.namespace_labels_file".into(),
            value: format!("{name:?}"),
            expected,
        };
        let read = || -> std::io::Result<Vec<u8>> {
            use std::io::Read;
            let mut bytes = Vec::new();
            std::fs::File::open(&path)?
                .take(MAX_BYTES + 1)
                .read_to_end(&mut bytes)?;
            Ok(bytes)
        };
        let bytes = read().map_err(|e| ConfigError::Read {
            path: path.clone(),
            source: e,
        })?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(invalid(format!("a file of at most {MAX_BYTES} bytes")));
        }
        let labels = crate::action::tiers::parse_namespace_labels(&bytes).map_err(invalid)?;
        for (ns, l) in labels {
            self.action.namespace_labels.entry(ns).or_insert(l);
        }
        Ok(())
    }

    /// Parse and validate a TOML document. `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg = Self::parse_toml(text, origin)?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    fn parse_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| parse_error(origin, text, "", &e))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            parse_error(origin, text, &key, e.inner())
        })
    }

    /// Refuse an environment variable that looks like an override (`BULWARK_` and a section name,
    /// `BULWARK_SCAN_PII_EMIAL`) but names no key: a misspelt override would otherwise be ignored
    /// without a word. Variables Bulwark reads for itself (`BULWARK_HOME`, `BULWARK_CONFIG`,
    /// `BULWARK_LOG`, the vault passphrases) and those the configuration names as `env:NAME`
    /// secrets are not overrides.
    pub fn check_override_names(names: &[String], config_text: &str) -> Result<(), ConfigError> {
        const NOT_OVERRIDES: &[&str] = &[
            "BULWARK_HOME",
            "BULWARK_CONFIG",
            "BULWARK_LOG",
            "BULWARK_VAULT_PASSPHRASE",
            "BULWARK_VAULT_NEW_PASSPHRASE",
        ];
        let vars = override_vars();
        let known: Vec<&String> = vars.iter().map(|(v, _)| v).collect();
        let sections: Vec<String> = vars
            .iter()
            .filter_map(|(_, p)| p.first())
            .map(|k| format!("BULWARK_{}_", k.to_ascii_uppercase()))
            .collect();
        for name in names {
            if NOT_OVERRIDES.contains(&name.as_str())
                || known.contains(&name)
                || !sections.iter().any(|s| name.starts_with(s.as_str()))
                || config_text.contains(&format!("env:{name}"))
            {
                continue;
            }
            let closest = known
                .iter()
                .min_by_key(|k| edit_distance(k, name))
                .filter(|k| edit_distance(k, name) <= 3);
            return Err(ConfigError::Invalid {
                origin: "environment".into(),
                key: name.clone(),
                value: "(set)".into(),
                expected: match closest {
                    Some(k) => format!(
                        "the name of a configuration key (BULWARK_ and its path, `_` for `.`): did you mean {k}? Unset {name} otherwise"
                    ),
                    None => format!(
                        "the name of a configuration key (BULWARK_ and its path, `_` for `.`, as `bulwark config schema` lists them); unset {name} otherwise"
                    ),
                },
            });
        }
        Ok(())
    }

    /// Apply `BULWARK_` + key path overrides (`BULWARK_SCAN_PII_EMAIL=false`). Values are read as TOML
    /// values, or as a string when they do not parse as one.
    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let mut table = toml::Table::try_from(&*self).map_err(|e| ConfigError::Invalid {
            origin: "environment".into(),
            key: String::new(),
            value: String::new(),
            expected: e.to_string(),
        })?;
        let mut changed = false;
        for (var, path) in override_vars() {
            let Some(raw) = env(var) else { continue };
            let value = parse_env_value(&raw);
            set_path(&mut table, path, value);
            changed = true;
            // Check this one variable at once, so the error names it.
            let text = toml::to_string(&table).unwrap_or_default();
            Self::parse_toml(&text, var).map_err(|e| match e {
                ConfigError::Parse {
                    key,
                    message,
                    origin,
                    ..
                } => ConfigError::Parse {
                    origin,
                    key,
                    line: 0,
                    column: 0,
                    message,
                },
                other => other,
            })?;
        }
        if changed {
            let text = toml::to_string(&table).unwrap_or_default();
            *self = Self::parse_toml(&text, "environment")?;
        }
        Ok(())
    }

    /// Every setting that holds a secret or may refer to one: (key path, value, whether it must be
    /// a `vault:NAME` reference when set). Non-empty values only. Callers resolve the references
    /// with one vault unlock; `validate` checks their names.
    pub fn vault_refs(&self) -> Vec<(String, &str, bool)> {
        let mut out = vec![
            (
                "redact.pseudonym_key".to_string(),
                self.redact.pseudonym_key.as_str(),
                true,
            ),
            (
                "audit.hmac_keys".to_string(),
                self.audit.hmac_keys.as_str(),
                true,
            ),
            (
                "audit.signing_key".to_string(),
                self.audit.signing_key.as_str(),
                true,
            ),
            (
                "approval.notify_url".to_string(),
                self.approval.notify_url.as_str(),
                false,
            ),
        ];
        for (name, src) in &self.ingress.sources {
            out.push((
                format!("ingress.sources.{name}.secret"),
                src.secret.as_str(),
                false,
            ));
            out.push((
                format!("ingress.sources.{name}.forward_token"),
                src.forward_token.as_str(),
                true,
            ));
        }
        out.retain(|(_, v, must)| !v.is_empty() && (*must || v.starts_with(VAULT_PREFIX)));
        out
    }

    /// The settings that are `vault:NAME` references: (key path, reference). Empty when nothing
    /// needs the vault.
    pub fn vault_references(&self) -> Vec<(String, &str)> {
        self.vault_refs()
            .into_iter()
            .filter(|(_, v, _)| v.starts_with(VAULT_PREFIX))
            .map(|(k, v, _)| (k, v))
            .collect()
    }

    /// Range and consistency checks that types alone cannot express.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: String, expected: &str| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            value,
            expected: expected.to_string(),
        };
        if self.scan.max_file_bytes == 0 {
            return Err(invalid(
                "scan.max_file_bytes",
                "0".into(),
                "a positive number of bytes, e.g. 10485760",
            ));
        }
        if self.scan.block_at < self.scan.review_at {
            return Err(invalid(
                "scan.block_at",
                format!("\"{}\"", self.scan.block_at.as_str()),
                &format!(
                    "a severity at or above scan.review_at (\"{}\")",
                    self.scan.review_at.as_str()
                ),
            ));
        }
        let e = self.scan.secrets.generic_min_entropy;
        if !(0.0..=8.0).contains(&e) || e.is_nan() {
            return Err(invalid(
                "scan.secrets.generic_min_entropy",
                e.to_string(),
                "a number of bits per character from 0.0 to 8.0 (default 3.0)",
            ));
        }
        let inj = &self.scan.injection;
        for (key, v) in [
            ("scan.injection.review_score", inj.review_score),
            ("scan.injection.block_score", inj.block_score),
            (
                "scan.injection.untrusted_review_score",
                inj.untrusted_review_score,
            ),
            (
                "scan.injection.untrusted_block_score",
                inj.untrusted_block_score,
            ),
            ("scan.injection.model_threshold", inj.model_threshold),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid(key, v.to_string(), "a score from 0.0 to 1.0"));
            }
        }
        if inj.block_score < inj.review_score {
            return Err(invalid(
                "scan.injection.block_score",
                inj.block_score.to_string(),
                &format!(
                    "a score at or above scan.injection.review_score ({})",
                    inj.review_score
                ),
            ));
        }
        if inj.untrusted_block_score < inj.untrusted_review_score {
            return Err(invalid(
                "scan.injection.untrusted_block_score",
                inj.untrusted_block_score.to_string(),
                &format!(
                    "a score at or above scan.injection.untrusted_review_score ({})",
                    inj.untrusted_review_score
                ),
            ));
        }
        if inj.decode_depth > 4 {
            return Err(invalid(
                "scan.injection.decode_depth",
                inj.decode_depth.to_string(),
                "a depth from 0 to 4 (default 2)",
            ));
        }
        for s in &inj.trusted_sources {
            if let Err(e) = crate::scan::injection::Source::parse(s) {
                return Err(invalid(
                    "scan.injection.trusted_sources",
                    format!("{s:?}"),
                    &e,
                ));
            }
        }
        if self.redact.mask_keep > 8 {
            return Err(invalid(
                "redact.mask_keep",
                self.redact.mask_keep.to_string(),
                "a number of characters from 0 to 8",
            ));
        }
        if self.redact.pseudonym_key_env.is_empty()
            || !self
                .redact
                .pseudonym_key_env
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(invalid(
                "redact.pseudonym_key_env",
                format!("{:?}", self.redact.pseudonym_key_env),
                "an environment variable name (letters, digits, underscores)",
            ));
        }
        for (key, value, must) in self.vault_refs() {
            let name = value.strip_prefix(VAULT_PREFIX);
            let ok = match name {
                Some(n) => crate::vault::check_name(n).is_ok(),
                None => !must,
            };
            if !ok {
                return Err(invalid(
                    &key,
                    format!("{value:?}"),
                    if must {
                        "empty, or vault:NAME (a vault entry name: letters, digits, `-`, `_`, `.`, `/`)"
                    } else {
                        "a value, or vault:NAME (a vault entry name: letters, digits, `-`, `_`, `.`, `/`)"
                    },
                ));
            }
        }
        self.validate_egress(origin)?;
        let a = &self.audit;
        for (key, v, lo, hi) in [
            (
                "audit.segment_max_bytes",
                a.segment_max_bytes,
                4096,
                1 << 40,
            ),
            ("audit.checkpoint_every", a.checkpoint_every, 1, 1 << 32),
            ("audit.checkpoint_secs", a.checkpoint_secs, 1, 86_400),
            ("audit.group_max", a.group_max as u64, 1, 65_536),
            (
                "audit.group_window_micros",
                a.group_window_micros,
                0,
                1_000_000,
            ),
            ("audit.retention_days", a.retention_days, 0, 36_500),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(invalid(
                    key,
                    v.to_string(),
                    &format!("a number from {lo} to {hi}"),
                ));
            }
        }
        self.validate_action(origin)?;
        match self.server.listen.parse::<std::net::SocketAddr>() {
            Err(_) => {
                return Err(invalid(
                    "server.listen",
                    format!("{:?}", self.server.listen),
                    "an address and port, e.g. \"127.0.0.1:8844\"",
                ));
            }
            // The same refusal `bulwark serve` makes, so `config check` reports it too.
            Ok(addr)
                if !addr.ip().is_loopback()
                    && self.server.tls_cert.is_empty()
                    && !self.server.allow_plaintext_public =>
            {
                return Err(invalid(
                    "server.listen",
                    format!("{:?}", self.server.listen),
                    "a loopback address (the default, 127.0.0.1:8844); beyond loopback, set [server] tls_cert and tls_key (PEM files) to serve HTTPS, or allow_plaintext_public = true (API tokens then cross the network in clear)",
                ));
            }
            Ok(_) => {}
        }
        for (name, src) in &self.ingress.sources {
            let key = |k: &str| format!("ingress.sources.{name}.{k}");
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(invalid(
                    &format!("ingress.sources.{name}"),
                    format!("{name:?}"),
                    "a source name of letters, digits, `-` and `_` (it is the URL path segment)",
                ));
            }
            if src.secret_env.is_empty() == src.secret.is_empty() {
                return Err(invalid(
                    &key("secret_env"),
                    format!("{:?}", src.secret_env),
                    "exactly one of secret_env (an environment variable name, preferred) or secret",
                ));
            }
            if src.scheme == crate::webhook::Scheme::HmacSha256 && src.header.is_empty() {
                return Err(invalid(
                    &key("header"),
                    "\"\"".into(),
                    "the header carrying the signature, e.g. \"X-Signature\" (scheme hmac_sha256)",
                ));
            }
            for (k, list) in [
                ("allow_cidrs", &src.allow_cidrs),
                ("trusted_proxies", &src.trusted_proxies),
            ] {
                for (i, c) in list.iter().enumerate() {
                    let ok =
                        c.parse::<ipnet::IpNet>().is_ok() || c.parse::<std::net::IpAddr>().is_ok();
                    if !ok {
                        return Err(invalid(
                            &format!("{}[{i}]", key(k)),
                            format!("{c:?}"),
                            "an address or block such as \"10.0.0.0/8\" or \"::1\"",
                        ));
                    }
                }
            }
            if !src.forward_to.is_empty()
                && !url::Url::parse(&src.forward_to)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
            {
                return Err(invalid(
                    &key("forward_to"),
                    format!("{:?}", src.forward_to),
                    "an http(s) URL of the agent's endpoint, or empty",
                ));
            }
            if src.hold_at == crate::finding::Verdict::Allow {
                return Err(invalid(
                    &key("hold_at"),
                    "\"allow\"".into(),
                    "\"block\" or \"review\"",
                ));
            }
            if let Err(e) = crate::webhook::LabelPolicy::new(&src.labels) {
                return Err(invalid(&key("labels"), e, "globs such as \"HighLatency*\""));
            }
        }
        let v = &self.vault;
        for (key, val, lo, hi) in [
            (
                "vault.argon2_memory_kib",
                v.argon2_memory_kib,
                8 * v.argon2_parallelism.max(1),
                4 * 1024 * 1024,
            ),
            ("vault.argon2_iterations", v.argon2_iterations, 1, 100),
            ("vault.argon2_parallelism", v.argon2_parallelism, 1, 16),
        ] {
            if !(lo..=hi).contains(&val) {
                return Err(invalid(
                    key,
                    val.to_string(),
                    &format!("a number from {lo} to {hi}"),
                ));
            }
        }
        if self.server.tls_cert.is_empty() != self.server.tls_key.is_empty() {
            return Err(invalid(
                "server.tls_key",
                format!("{:?}", self.server.tls_key),
                "both tls_cert and tls_key (PEM files), or neither",
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.server.max_body_bytes) {
            return Err(invalid(
                "server.max_body_bytes",
                self.server.max_body_bytes.to_string(),
                "a number of bytes from 1024 to 67108864",
            ));
        }
        let known = crate::scan::rule_ids();
        for (i, r) in self.scan.secrets.disabled_rules.iter().enumerate() {
            if !known.contains(&r.as_str()) {
                return Err(invalid(
                    &format!("scan.secrets.disabled_rules[{i}]"),
                    format!("{r:?}"),
                    "a rule id listed by `bulwark scan --list-rules`",
                ));
            }
        }
        for r in self.redact.rules.keys() {
            if !known.contains(&r.as_str()) {
                return Err(invalid(
                    &format!("redact.rules.{r}"),
                    format!("{r:?}"),
                    "a rule id listed by `bulwark scan --list-rules`",
                ));
            }
        }
        Ok(())
    }

    fn validate_action(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: String, expected: &str| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            value,
            expected: expected.to_string(),
        };
        let root = &self.action.workspace.root;
        if !root.is_empty() && !Path::new(root).is_absolute() {
            return Err(invalid(
                "action.workspace.root",
                format!("{root:?}"),
                "an absolute directory, or empty for $BULWARK_HOME/workspace",
            ));
        }
        let env = crate::action::ActionEnv {
            workspace_root: PathBuf::from("/"),
            home: None,
        };
        crate::action::ActionPolicy::from_config(&self.action, &env)
            .map_err(|e| invalid(&e.key, e.value, &e.expected))?;
        for (name, program) in &self.action.exec.programs {
            if name.is_empty() || name.contains('/') || name.chars().any(char::is_control) {
                return Err(invalid(
                    "action.exec.programs",
                    format!("{name:?}"),
                    "a program name (the basename of a command, e.g. kubectl), without `/`",
                ));
            }
            for (i, p) in program.read.iter().enumerate() {
                if !(p.starts_with("~/") || Path::new(p).is_absolute()) || p.contains('\0') {
                    return Err(invalid(
                        &format!("action.exec.programs.{name}.read[{i}]"),
                        format!("{p:?}"),
                        "an absolute path or one under the home directory (`~/.kube/config`)",
                    ));
                }
            }
        }
        let a = &self.approval;
        if !(60..=7 * 86_400).contains(&a.ttl_secs) {
            return Err(invalid(
                "approval.ttl_secs",
                a.ttl_secs.to_string(),
                "a number of seconds from 60 to 604800 (default 900)",
            ));
        }
        for (i, who) in a.approvers.iter().enumerate() {
            let key = format!("approval.approvers[{i}]");
            match who.strip_prefix("role:") {
                Some(role) if !a.roles.contains_key(role) => {
                    return Err(invalid(
                        &key,
                        format!("{who:?}"),
                        &format!("a role defined under [approval.roles] (defined: {})", {
                            let names: Vec<&str> = a.roles.keys().map(String::as_str).collect();
                            if names.is_empty() {
                                "none".to_string()
                            } else {
                                names.join(", ")
                            }
                        }),
                    ));
                }
                _ if who.trim().is_empty() || who.chars().any(char::is_whitespace) => {
                    return Err(invalid(
                        &key,
                        format!("{who:?}"),
                        "a principal name without spaces, or role:NAME",
                    ));
                }
                _ => {}
            }
        }
        if !a.notify_url.is_empty() && !a.notify_url.starts_with(VAULT_PREFIX) {
            match url::Url::parse(&a.notify_url) {
                Ok(u) if matches!(u.scheme(), "https" | "http") => {}
                _ => {
                    return Err(invalid(
                        "approval.notify_url",
                        format!("{:?}", a.notify_url),
                        "an http(s) webhook URL, vault:NAME, or empty for no notifications",
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_egress(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: String, expected: &str| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            value,
            expected: expected.to_string(),
        };
        let guard = crate::egress::EgressGuard::from_config(&self.egress)
            .map_err(|e| invalid(&e.key, e.value, &e.expected))?;
        let proxy = &self.egress.proxy;
        if proxy.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "egress.proxy.listen",
                format!("{:?}", proxy.listen),
                "an address and port, e.g. \"127.0.0.1:3128\" or \"[::1]:3128\"",
            ));
        }
        for (key, v, lo, hi) in [
            (
                "egress.proxy.max_tunnels",
                proxy.max_tunnels as u64,
                1,
                1_000_000,
            ),
            (
                "egress.proxy.max_header_bytes",
                proxy.max_header_bytes as u64,
                8192,
                1024 * 1024,
            ),
            (
                "egress.proxy.idle_timeout_secs",
                proxy.idle_timeout_secs,
                1,
                86_400,
            ),
            (
                "egress.proxy.connect_timeout_secs",
                proxy.connect_timeout_secs,
                1,
                600,
            ),
            (
                "egress.proxy.scan_max_bytes",
                proxy.scan_max_bytes as u64,
                1,
                64 * 1024 * 1024,
            ),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(invalid(
                    key,
                    v.to_string(),
                    &format!("a number from {lo} to {hi}"),
                ));
            }
        }
        for (name, client) in &proxy.clients {
            if guard.policy(Some(&client.profile)).is_none() {
                return Err(invalid(
                    &format!("egress.proxy.clients.{name}.profile"),
                    format!("{:?}", client.profile),
                    &format!("one of the profiles: {}", guard.profile_names().join(", ")),
                ));
            }
            let h = &client.token_sha256;
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(
                    &format!("egress.proxy.clients.{name}.token_sha256"),
                    format!("{h:?}"),
                    "64 hex digits (the SHA-256 of the token; `bulwark egress client-token` makes one)",
                ));
            }
            if name.is_empty() || name.contains(':') {
                return Err(invalid(
                    &format!("egress.proxy.clients.{name}"),
                    format!("{name:?}"),
                    "a client name without `:` (it is the Proxy-Authorization user name)",
                ));
            }
        }
        Ok(())
    }

    /// The JSON Schema of the whole file.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(SecurityConfig)).unwrap_or_default()
    }
}

/// `file:line:column`, or just the origin when the position is unknown (an environment variable).
fn location(origin: &str, line: usize, column: usize) -> String {
    if line == 0 {
        origin.to_string()
    } else {
        format!("{origin}:{line}:{column}")
    }
}

fn parse_error(origin: &str, text: &str, key: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = match e.span() {
        Some(span) => line_col(text, span.start),
        None => (0, 0),
    };
    ConfigError::Parse {
        origin: origin.to_string(),
        key: if key.is_empty() || key == "." {
            "(document)".into()
        } else {
            key.to_string()
        },
        line,
        column,
        message: e.message().to_string(),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, col)
}

/// Every override variable (`BULWARK_SCAN_PII_EMAIL`) with the key path it sets, from the
/// defaults; computed once.
fn override_vars() -> &'static [(String, Vec<String>)] {
    static VARS: std::sync::OnceLock<Vec<(String, Vec<String>)>> = std::sync::OnceLock::new();
    VARS.get_or_init(|| {
        let defaults = toml::Table::try_from(SecurityConfig::default()).unwrap_or_default();
        let mut paths = Vec::new();
        leaf_paths(&defaults, &mut Vec::new(), &mut paths);
        paths
            .into_iter()
            .map(|p| (format!("BULWARK_{}", p.join("_").to_ascii_uppercase()), p))
            .collect()
    })
}

fn leaf_paths(t: &toml::Table, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (k, v) in t {
        prefix.push(k.clone());
        match v {
            toml::Value::Table(inner) if !inner.is_empty() => leaf_paths(inner, prefix, out),
            _ => out.push(prefix.clone()),
        }
        prefix.pop();
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn parse_env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn set_path(t: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = t;
    for p in parents {
        let entry = cur
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else {
            return;
        };
        cur = next;
    }
    cur.insert(last.clone(), value);
}

/// The commented default file that `bulwark config init` writes.
pub const DEFAULT_TOML: &str = r#"# Bulwark configuration. Every key is optional; the values below are the defaults.
# Validate with `bulwark config check`; print the JSON Schema with `bulwark config schema`.
# Any key can be overridden from the environment: BULWARK_ + the key path in capitals,
# e.g. BULWARK_SCAN_PII_EMAIL=false.

[scan]
# The content guard: secrets and personal data in prompts, logs, tool output and files.
enabled = true
# `bulwark scan` skips files larger than this (bytes) and reports them as skipped.
max_file_bytes = 10485760
# Lowest severity (info, low, medium, high, critical) that asks for review, and that blocks.
review_at = "low"
block_at = "high"

[scan.secrets]
enabled = true
# Rule ids to turn off; `bulwark scan --list-rules` lists them.
disabled_rules = []
# Minimum entropy (bits per character) for the generic `password = ...` / `token: ...` rule.
generic_min_entropy = 3.0

[scan.pii]
enabled = true
email = true
phone = true
credit_card = true
iban = true
ip_address = true
us_ssn = true

[scan.injection]
# Prompt-injection detection: patterns over a normalized view (invisible characters, homoglyphs,
# leetspeak and spaced letters undone; base64, hex, URL-encoding and ROT13 decoded; hidden HTML
# flagged) plus a small statistical model. Each text gets a score from 0 to 1.
enabled = true
# Thresholds for text from trusted sources (the agent's own user)...
review_score = 0.5
block_score = 0.85
# ...and for everything else: web pages, e-mail, tool output, alerts, MCP tool descriptions.
untrusted_review_score = 0.35
untrusted_block_score = 0.6
trusted_sources = ["user"]
# The statistical model finds paraphrases the patterns miss.
model = true
# Model probability at which the model alone counts; below it, it only strengthens pattern evidence.
model_threshold = 0.94
# Encoding layers decoded and scanned (0 to 4), and the decoded bytes scanned per text.
decode_depth = 2
max_decoded_bytes = 1048576

[redact]
# Operators: "placeholder" ([REDACTED:rule]), "mask" (keep the last mask_keep characters),
# "pseudonym" (keyed HMAC-SHA256: same value, same token; needs the key below).
secret = "placeholder"
pii = "placeholder"
mask_keep = 4
# The pseudonym key is read from this environment variable (at least 16 bytes), never from this file,
# or from the vault when pseudonym_key = "vault:NAME".
pseudonym_key_env = "BULWARK_PSEUDONYM_KEY"
pseudonym_key = ""

# Per-rule operators win over the per-kind ones:
[redact.rules]
# email = "pseudonym"

[egress]
# The egress guard: which URLs an agent may fetch (`bulwark egress check`, `bulwark egress proxy`).
# Loopback, private, link-local, reserved and other non-public addresses and cloud metadata
# endpoints are always denied, in every textual form and inside IPv6.
enabled = true
schemes = ["http", "https"]
# Port numbers, ranges ("8000-8100") or "*".
ports = [80, 443, 8080, 8443]
# If not empty, only these names: exact ("api.example.com") or "*.example.com" (subdomains).
allow_domains = []
deny_domains = []
# Non-public blocks deliberately opened (optionally one port: "10.0.0.5/32:8200"), and public
# blocks denied. The more specific entry wins; metadata endpoints are never opened.
allow_cidrs = []
deny_cidrs = []

# A profile per agent or tool: the lists it sets replace the ones above.
# [egress.profiles.docs-reader]
# allow_domains = ["docs.rs", "*.python.org"]

[egress.proxy]
listen = "127.0.0.1:3128"
max_tunnels = 256
max_header_bytes = 16384
idle_timeout_secs = 60
connect_timeout_secs = 10
# Scan plain-HTTP response bodies with the content guard: "off", "header" (add X-Bulwark-Verdict)
# or "block" (403 instead of a body whose verdict is block).
scan_responses = "off"
scan_max_bytes = 1048576
# Clients pick their profile with Proxy-Authorization (Basic, user = client name, password = token).
require_client_auth = false
# Every decision goes to the audit log; wait until it is durable before acting on it.
audit_wait = true
# Requests and tunnels per second per client address (429 past it); 0 = no limit.
client_per_sec = 0

# [egress.proxy.clients.crawler]
# profile = "docs-reader"
# token_sha256 = "..."   # from `bulwark egress client-token`

[audit]
# The tamper-evident audit log (`bulwark audit verify|tail|export|append|recover`).
enabled = true
# "file" (JSON Lines segments in dir) or "sqlite" (one database, db).
backend = "file"
# Empty: $BULWARK_HOME/audit and $BULWARK_HOME/audit.db. Keys live in $BULWARK_HOME/keys (0600).
dir = ""
db = ""
segment_max_bytes = 67108864
rotate_daily = true
# Signed checkpoints: every N records or T seconds, and on close.
checkpoint_every = 1000
checkpoint_secs = 60
# Group commit: one fsync for a batch; each append is acknowledged once its batch is durable.
# A window of 0 batches whatever arrived during the previous fsync; more waits that long for more.
group_commit = true
group_max = 256
group_window_micros = 0
# File backend: prune whole segments older than this (0 keeps everything); a signed anchor keeps
# the rest verifiable.
retention_days = 0
# Secrets are always redacted from records; personal data (IP and e-mail addresses, ...) only if on.
redact_pii = false
# "vault:NAME" keeps the HMAC keys (hex lines) or the checkpoint signing key (hex) in the vault
# instead of $BULWARK_HOME/keys. Empty: the key files.
hmac_keys = ""
signing_key = ""
# What a writer verifies before appending: "full" (every record; a log damaged anywhere is not
# appended to) or "since_checkpoint" (from the last signed checkpoint on: every command stays fast
# on a large log; `bulwark audit verify` still checks everything).
open_verify = "full"

[action]
# What agents may do on their own (`bulwark intent check`). Also BULWARK_ACTION_MODE.
#   "read_only"  : only reads run; everything else is blocked (a new installation can do no harm)
#   "supervised" : reads and writes run; destructive actions wait for a human approval
#   "autonomous" : everything runs, except where a tier demands approval or blocks
# Unknown actions count as destructive. Switching mode is recorded in the audit log.
mode = "read_only"
# Tools whose args.command is a shell command line, screened word by word.
shell_tools = ["shell", "exec", "bash", "sh", "run_command", "terminal"]
# A namespace label set by a cluster admin that names the tier; it wins over the name.
tier_label = "bulwark.io/tier"
# Tier of a namespace no pattern matches (and of an empty one); empty = the most restrictive tier.
unknown_tier = ""
# The namespace a Kubernetes command acts on when it names none (`kubectl get pods`); empty = such
# a command takes the unknown tier (unknown_tier, else the most restrictive).
default_namespace = ""

# Namespace labels as the cluster admin set them: the only source of tier_label (labels sent in an
# intent's target.labels never change a tier).
# [action.namespace_labels]
# payments-prod = { "bulwark.io/tier" = "production" }
# Or a file the cluster admin keeps: `kubectl get namespaces -o json > namespaces.json` (relative to
# this file's directory; re-read on reload; entries above win).
namespace_labels_file = ""

# Tiers, in order: the first tier with a pattern matching the whole namespace name wins.
# effect: "mode" (the mode decides), "approval" (every non-read waits for approval, even in
# autonomous mode), "block" (nothing runs, reads included). approvals: distinct approvers needed.
[[action.tiers]]
name = "production"
patterns = ["prod", "production", "prod-*", "*-prod", "production-*", "*-production"]
effect = "approval"
approvals = 1

[[action.tiers]]
name = "staging"
patterns = ["staging", "stage", "staging-*", "*-staging", "stage-*", "*-stage"]
effect = "mode"
approvals = 1

[[action.tiers]]
name = "dev"
patterns = ["dev", "development", "default", "dev-*", "*-dev", "test", "*-test"]
effect = "mode"
approvals = 1

# [[action.tiers]]
# name = "forbidden"
# patterns = ["kube-system", "vault", "cert-manager"]
# effect = "block"

# Classes of a tool's verbs, replacing the built-in ones for the verbs listed.
# [action.tools.kubectl]
# read = ["get", "describe", "logs"]
# write = ["apply", "annotate"]
# destructive = ["delete", "drain", "scale"]

[action.workspace]
# Confine path arguments (args.path, args.file, ...) and paths in shell commands to the workspace.
restrict = true
# Empty: $BULWARK_HOME/workspace.
root = ""
# Directories reads and writes may touch (relative ones are under the root); empty = the root.
read_allow = []
write_allow = []

[action.shell]
# Commands that count as reads (globs over the words): they never override a deny rule.
allow = []
# Credential paths commands may name (every other one is refused in every mode).
credentials_allow = []

# Programs the screen knows beyond its table (docs/action-guard.md lists the table and notation).
# [action.shell.programs.mytool]
# class = "read"
# operands = "paths"
# options = ["-v", "--format=", "-o=wpath"]
# [action.shell.programs."aws ce get-cost-forecast"]
# class = "read"

[action.exec]
# `bulwark exec -- CMD ...` runs what the policy allows under kernel confinement (Linux Landlock):
# credential paths (~/.ssh, ~/.aws, ~/.kube/config, ...) unreadable, writes only to the workspace
# (none in read_only mode) and a private temporary directory.
# The command's network: "none" (no TCP), "proxy" (only the egress proxy's port; HTTP_PROXY and
# HTTPS_PROXY set) or "open".
network = "none"
# A program (the basename of the command's first word) may read its own credentials, and may get
# its own network:
# [action.exec.programs.kubectl]
# read = ["~/.kube/config"]
# network = "open"
# [action.exec.programs.aws]
# read = ["~/.aws/config", "~/.aws/credentials"]
# network = "proxy"

[approval]
# Who may approve: principals ("alice") or roles ("role:sre"). Nobody by default, for example:
# approvers = ["alice", "role:sre"]
approvers = []
# [approval.roles]
# sre = ["bob", "carol"]
# Seconds an approval stands before it expires.
ttl_secs = 900
# Webhook told of each new pending approval (Slack- and Discord-compatible; summary only).
# A chat webhook URL is a credential: "vault:NAME" reads it from the vault.
notify_url = ""

[server]
# The sidecar HTTP API (`bulwark serve`). Every route but /healthz, /readyz and /metrics needs an API
# token (`bulwark token create`). Beyond loopback it refuses plain HTTP unless allowed here.
listen = "127.0.0.1:8844"
allow_plaintext_public = false
max_body_bytes = 1048576
# HTTPS (rustls): PEM certificate chain and key. Required to listen beyond loopback, unless
# allow_plaintext_public = true.
tls_cert = ""
tls_key = ""
# Also run the egress proxy ([egress.proxy] listen) in the same process.
egress_proxy = false

[server.limits]
# GCRA rate limits; 0 turns one off. Over a limit: 429 with Retry-After and RateLimit headers.
global_per_sec = 0
token_per_sec = 200
token_burst = 400
tool_per_min = 120
auth_failures_per_min = 10
# Per route over all callers, and per named token (replacing token_per_sec), requests per second.
# [server.limits.routes]
# "/v1/intents" = 50
# [server.limits.tokens]
# batch-scanner = 2000

[ingress]
# Verified webhooks (`POST /v1/ingress/NAME`), forwarded to the agent with the content guard's
# verdict, or held back. Timestamps within tolerance_secs; message ids remembered against replay.
tolerance_secs = 300
replay_capacity = 100000
source_per_min = 600

# [ingress.sources.alertmanager]
# scheme = "bearer"                 # standard_webhooks, github, slack, hmac_sha256 or bearer
# secret_env = "ALERTMANAGER_TOKEN" # the secret comes from the environment
# forward_to = "http://127.0.0.1:9000/alerts"
# forward_token = "vault:agent-token"  # sent to forward_to as Authorization: Bearer
# allow_cidrs = ["127.0.0.1/32"]
# hold_at = "block"
# labels = { alertname = ["HighLatency*", "PodCrashLooping"], namespace = ["payments-*"] }

[vault]
# The credential vault (`bulwark vault ...`). Empty path: $BULWARK_HOME/vault.json (0600).
path = ""
# Entries: "xchacha20poly1305" or "aes256gcm". The passphrase (BULWARK_VAULT_PASSPHRASE) is
# stretched with Argon2id with these parameters (stored in the vault; change them with rotate-key).
cipher = "xchacha20poly1305"
argon2_memory_kib = 65536
argon2_iterations = 3
argon2_parallelism = 1

[store]
# Bulwark's state (approvals, settings), SQLite, 0600. Empty: $BULWARK_HOME/bulwark.db.
db = ""
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn namespace_labels_file_is_read_relative_to_the_config() {
        let dir = std::env::temp_dir().join(format!(
            "bulwark-ns-labels-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("namespaces.json"),
            r#"{"items":[{"metadata":{"name":"payments-prod","labels":{"bulwark.io/tier":"production"}}},{"metadata":{"name":"sandbox","labels":{"bulwark.io/tier":"dev"}}}]}"#,
        )
        .unwrap();
        let cfg_path = dir.join("bulwark.toml");
        std::fs::write(
            &cfg_path,
            "[action]\nnamespace_labels_file = \"namespaces.json\"\n[action.namespace_labels]\nsandbox = { \"bulwark.io/tier\" = \"staging\" }\n",
        )
        .unwrap();
        let cfg = SecurityConfig::load(&ConfigSource::File(cfg_path.clone()), &no_env).unwrap();
        let l = &cfg.action.namespace_labels;
        assert_eq!(l["payments-prod"]["bulwark.io/tier"], "production");
        // The inline entry wins over the file.
        assert_eq!(l["sandbox"]["bulwark.io/tier"], "staging");
        std::fs::write(dir.join("namespaces.json"), "{\"x\": 1}").unwrap();
        let err = SecurityConfig::load(&ConfigSource::File(cfg_path.clone()), &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("action.namespace_labels_file"), "{err}");
        std::fs::remove_file(dir.join("namespaces.json")).unwrap();
        let err = SecurityConfig::load(&ConfigSource::File(cfg_path), &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("namespaces.json"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_misspelt_override_is_an_error_with_a_suggestion() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let err = SecurityConfig::check_override_names(&names(&["BULWARK_SCAN_PII_EMIAL"]), "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("BULWARK_SCAN_PII_EMIAL"), "{err}");
        assert!(err.contains("did you mean BULWARK_SCAN_PII_EMAIL"), "{err}");
        // Known keys, Bulwark's own variables, other prefixes and env: secrets pass.
        SecurityConfig::check_override_names(
            &names(&[
                "BULWARK_SCAN_PII_EMAIL",
                "BULWARK_ACTION_MODE",
                "BULWARK_HOME",
                "BULWARK_VAULT_PASSPHRASE",
                "BULWARK_CORPORA",
                "BULWARK_REQUIRE_CURL",
                "BULWARK_AUDIT_HMAC_SECRET",
            ]),
            "[redact]\npseudonym_key = \"env:BULWARK_AUDIT_HMAC_SECRET\"\n",
        )
        .unwrap();
        let err =
            SecurityConfig::check_override_names(&names(&["BULWARK_EGRESS_NOTHING_LIKE_IT"]), "")
                .unwrap_err()
                .to_string();
        assert!(err.contains("config schema"), "{err}");
    }

    #[test]
    fn public_plain_http_is_refused_by_the_checks_every_command_runs() {
        let err = SecurityConfig::from_toml("[server]\nlisten = \"0.0.0.0:8844\"\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("server.listen") && err.contains("tls_cert"),
            "{err}"
        );
        SecurityConfig::from_toml(
            "[server]\nlisten = \"0.0.0.0:8844\"\nallow_plaintext_public = true\n",
            "f.toml",
        )
        .unwrap();
    }

    #[test]
    fn default_file_parses_to_defaults() {
        let cfg = SecurityConfig::from_toml(DEFAULT_TOML, "default").expect("default file");
        assert_eq!(cfg, SecurityConfig::default());
    }

    #[test]
    fn unknown_key_is_an_error_with_its_path() {
        let err = SecurityConfig::from_toml("[scan.pii]\nemial = true\n", "f.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("scan.pii"), "{msg}");
        assert!(msg.contains("emial"), "{msg}");
        assert!(msg.contains(":2:"), "{msg}");
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let err =
            SecurityConfig::from_toml("[scan]\nenabled = true\nmax_file_bytes = \"big\"\n", "f")
                .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("scan.max_file_bytes"), "{msg}");
        assert!(msg.contains(":3:"), "{msg}");
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let err = SecurityConfig::from_toml("[redact]\nmask_keep = 30\n", "f").unwrap_err();
        assert!(err.to_string().contains("redact.mask_keep"));
        let err =
            SecurityConfig::from_toml("[scan]\nreview_at = \"high\"\nblock_at = \"low\"\n", "f")
                .unwrap_err();
        assert!(err.to_string().contains("scan.block_at"));
        let err =
            SecurityConfig::from_toml("[scan.secrets]\ndisabled_rules = [\"no-such-rule\"]\n", "f")
                .unwrap_err();
        assert!(err.to_string().contains("disabled_rules[0]"));
    }

    #[test]
    fn environment_overrides_by_key_path() {
        let env = |k: &str| match k {
            "BULWARK_SCAN_PII_EMAIL" => Some("false".to_string()),
            "BULWARK_REDACT_SECRET" => Some("mask".to_string()),
            _ => None,
        };
        let cfg = SecurityConfig::load(&ConfigSource::Defaults, &env).expect("load");
        assert!(!cfg.scan.pii.email);
        assert_eq!(cfg.redact.secret, Operator::Mask);
        let bad = |k: &str| (k == "BULWARK_SCAN_MAX_FILE_BYTES").then(|| "lots".to_string());
        let err = SecurityConfig::load(&ConfigSource::Defaults, &bad).unwrap_err();
        assert!(
            err.to_string().contains("BULWARK_SCAN_MAX_FILE_BYTES"),
            "{err}"
        );
        assert!(SecurityConfig::load(&ConfigSource::Defaults, &no_env).is_ok());
    }

    #[test]
    fn schema_lists_sections() {
        let s = SecurityConfig::json_schema().to_string();
        assert!(s.contains("max_file_bytes") && s.contains("pseudonym_key_env"));
    }
}
