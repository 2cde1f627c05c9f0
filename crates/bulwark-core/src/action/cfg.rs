//! `[action]`: the action guard's settings and vocabulary (modes, tier effects, shell, exec).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    /// Decide the calls a model proposes by where its context came from
    /// ([`crate::provenance`]).
    pub provenance: crate::provenance::cfg::ProvenanceConfig,
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
            provenance: Default::default(),
        }
    }
}
