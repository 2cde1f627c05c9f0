//! The commented default file `bulwark config init` writes.

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
