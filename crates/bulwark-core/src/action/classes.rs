//! Action classes: read, write, destructive. Built-in verb tables, replaced per tool by
//! `[action.tools.NAME]`; a verb nobody classified is destructive.

use std::collections::{BTreeMap, HashMap};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cfg::ToolClassesConfig;

/// How much an action can change. Ordered: `Read < Write < Destructive`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionClass {
    /// Looks, changes nothing.
    Read,
    /// Changes something that can be changed back.
    Write,
    /// Deletes, stops, restarts, scales down, executes: may not be undone.
    Destructive,
}

impl ActionClass {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionClass::Read => "read",
            ActionClass::Write => "write",
            ActionClass::Destructive => "destructive",
        }
    }
}

const READ_VERBS: &[&str] = &[
    "get",
    "list",
    "ls",
    "describe",
    "show",
    "view",
    "read",
    "cat",
    "logs",
    "log",
    "top",
    "status",
    "watch",
    "explain",
    "diff",
    "search",
    "find",
    "fetch",
    "query",
    "inspect",
    "history",
    "version",
    "api-resources",
    "api-versions",
    "whoami",
    "head",
    "tail",
    "grep",
    "count",
    "check",
    "plan",
    "validate",
    "preview",
    "info",
    "stat",
    "lookup",
    "events",
    "get-logs",
    "can-i",
    "dry-run",
];

const WRITE_VERBS: &[&str] = &[
    "create",
    "apply",
    "update",
    "patch",
    "set",
    "edit",
    "write",
    "put",
    "post",
    "label",
    "annotate",
    "tag",
    "upload",
    "copy",
    "cp",
    "mkdir",
    "touch",
    "rename",
    "append",
    "comment",
    "cordon",
    "uncordon",
    "scale-up",
    "pause",
    "resume",
    "enable",
    "add",
    "commit",
    "push",
    "insert",
    "upsert",
    "attach",
    "assign",
    "start",
    "deploy",
    "install",
    "upgrade",
    "merge",
    "expose",
    "autoscale",
    "send",
    "reply",
    "open",
];

const DESTRUCTIVE_VERBS: &[&str] = &[
    "delete",
    "del",
    "remove",
    "rm",
    "rmdir",
    "destroy",
    "drop",
    "truncate",
    "purge",
    "wipe",
    "erase",
    "kill",
    "terminate",
    "stop",
    "shutdown",
    "reboot",
    "restart",
    "rollout-restart",
    "drain",
    "evict",
    "exec",
    "run",
    "execute",
    "eval",
    "scale",
    "scale-down",
    "rollback",
    "undo",
    "revoke",
    "disable",
    "uninstall",
    "force-push",
    "reset",
    "prune",
    "clean",
    "format",
    "overwrite",
    "replace",
    "move",
    "mv",
    "detach",
    "taint",
    "cancel",
    "abort",
];

/// A verb as classified: lowercase, `_` and spaces as `-`.
pub fn normalize_verb(verb: &str) -> String {
    verb.trim()
        .chars()
        .map(|c| match c {
            '_' | ' ' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The compiled verb tables.
#[derive(Debug, Clone)]
pub struct ActionClasses {
    builtin: HashMap<&'static str, ActionClass>,
    per_tool: HashMap<String, HashMap<String, ActionClass>>,
}

/// How a verb was classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassSource {
    /// `[action.tools.NAME]`.
    Tool,
    /// The built-in table.
    Builtin,
    /// Nobody classified it: destructive.
    Unknown,
}

impl ActionClasses {
    /// Compile the built-in tables and the per-tool configuration.
    pub fn new(tools: &BTreeMap<String, ToolClassesConfig>) -> ActionClasses {
        let mut builtin = HashMap::new();
        for (verbs, class) in [
            (READ_VERBS, ActionClass::Read),
            (WRITE_VERBS, ActionClass::Write),
            (DESTRUCTIVE_VERBS, ActionClass::Destructive),
        ] {
            for v in verbs {
                builtin.insert(*v, class);
            }
        }
        let per_tool = tools
            .iter()
            .map(|(tool, c)| {
                let mut m = HashMap::new();
                // Most restrictive last, so a verb listed twice keeps the stricter class.
                for (verbs, class) in [
                    (&c.read, ActionClass::Read),
                    (&c.write, ActionClass::Write),
                    (&c.destructive, ActionClass::Destructive),
                ] {
                    for v in verbs {
                        m.insert(normalize_verb(v), class);
                    }
                }
                (normalize_verb(tool), m)
            })
            .collect();
        ActionClasses { builtin, per_tool }
    }

    /// The class of `tool`'s `verb`.
    pub fn classify(&self, tool: &str, verb: &str) -> (ActionClass, ClassSource) {
        let verb = normalize_verb(verb);
        if let Some(c) = self
            .per_tool
            .get(&normalize_verb(tool))
            .and_then(|m| m.get(&verb))
        {
            return (*c, ClassSource::Tool);
        }
        match self.builtin.get(verb.as_str()) {
            Some(c) => (*c, ClassSource::Builtin),
            None => (ActionClass::Destructive, ClassSource::Unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_per_tool_and_unknown() {
        let mut tools = BTreeMap::new();
        tools.insert(
            "kubectl".to_string(),
            ToolClassesConfig {
                read: vec!["scale".into()],
                write: vec![],
                destructive: vec!["Get".into(), "get".into()],
            },
        );
        let c = ActionClasses::new(&tools);
        assert_eq!(
            c.classify("aws", "Describe_Instances").0,
            ActionClass::Destructive
        );
        assert_eq!(c.classify("aws", "describe").0, ActionClass::Read);
        assert_eq!(
            c.classify("kubectl", "get"),
            (ActionClass::Destructive, ClassSource::Tool)
        );
        assert_eq!(c.classify("kubectl", "scale").0, ActionClass::Read);
        assert_eq!(c.classify("helm", "scale").0, ActionClass::Destructive);
        assert_eq!(
            c.classify("x", "frobnicate"),
            (ActionClass::Destructive, ClassSource::Unknown)
        );
        assert_eq!(c.classify("x", "Scale Down").0, ActionClass::Destructive);
        assert_eq!(c.classify("x", "apply").0, ActionClass::Write);
        for list in [READ_VERBS, WRITE_VERBS, DESTRUCTIVE_VERBS] {
            for v in list {
                assert_eq!(normalize_verb(v), *v, "tables hold normalized verbs");
            }
        }
    }
}
