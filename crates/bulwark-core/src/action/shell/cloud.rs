//! Cloud CLIs, classed by operation: `aws`, `gcloud`, `az`. The account, profile, project,
//! subscription or region a command names is a target, so namespace tiers apply to it.

use super::TargetRef;
use super::spec::FoundOpt;
use super::walk::{W, Walk};
use crate::action::classes::ActionClass;

impl Walk<'_> {
    /// `aws [options] SERVICE OPERATION [options]`: `describe-*`, `get-*`, `list-*`, `lookup-*`
    /// and `s3 ls` read; others are destructive unless `[action.shell.programs."aws SERVICE
    /// OPERATION"]` classes them.
    pub(super) fn aws(&mut self, args: &[W]) -> ActionClass {
        let (positional, opts) = self.cloud_words("aws", args);
        let service = positional.first().map(|w| w.text.as_str()).unwrap_or("");
        let op = positional.get(1).map(|w| w.text.as_str()).unwrap_or("");
        self.cloud_targets("aws", &opts, &["--profile", "--region"]);
        let key = format!("aws {service} {op}");
        if let Some(spec) = self.screen.programs.get(&key) {
            return spec.class;
        }
        let reads = ["describe-", "get-", "list-", "lookup-"]
            .iter()
            .any(|p| op.starts_with(p))
            || (service == "s3" && op == "ls")
            || (service == "configure" && matches!(op, "list" | "get" | "list-profiles"))
            || (positional.len() == 1 && matches!(service, "help" | "--version"));
        if service == "s3api" && matches!(op, "get-object" | "get-object-torrent") {
            // The last operand is the file it writes.
            if let Some(out) = positional.get(2) {
                self.path(out, true);
            }
            return ActionClass::Write;
        }
        if reads && positional.iter().take(2).all(|w| w.known) {
            ActionClass::Read
        } else {
            self.raise(ActionClass::Destructive, || {
                format!("`aws {service} {op}` is not a describe, get, list or lookup operation")
            });
            ActionClass::Destructive
        }
    }

    /// `gcloud GROUP... VERB [RESOURCE] [options]`: `list`, `describe`, `get-iam-policy`,
    /// `get-value`, `read`, `info`, `version` read when every word before them is a known group.
    pub(super) fn gcloud(&mut self, args: &[W]) -> ActionClass {
        const READS: &[&str] = &[
            "list",
            "describe",
            "get-iam-policy",
            "get-value",
            "read",
            "info",
            "version",
            "help",
        ];
        const GROUPS: &[&str] = &[
            "alpha",
            "beta",
            "compute",
            "instances",
            "container",
            "clusters",
            "node-pools",
            "projects",
            "iam",
            "service-accounts",
            "roles",
            "storage",
            "buckets",
            "objects",
            "sql",
            "databases",
            "logging",
            "logs",
            "config",
            "configurations",
            "auth",
            "billing",
            "accounts",
            "monitoring",
            "run",
            "services",
            "revisions",
            "jobs",
            "functions",
            "pubsub",
            "topics",
            "subscriptions",
            "dns",
            "managed-zones",
            "record-sets",
            "networks",
            "subnets",
            "firewall-rules",
            "disks",
            "images",
            "zones",
            "regions",
            "kms",
            "keys",
            "keyrings",
            "secrets",
            "versions",
            "artifacts",
            "repositories",
            "docker",
            "organizations",
            "folders",
            "resource-manager",
            "app",
            "operations",
            "addresses",
            "routers",
            "backend-services",
            "forwarding-rules",
            "target-pools",
            "snapshots",
            "machine-types",
            "instance-groups",
            "managed",
            "instance-templates",
            "scheduler",
            "tasks",
            "queues",
            "bigquery",
            "datasets",
            "tables",
            "spanner",
            "redis",
            "memcache",
            "filestore",
            "builds",
            "triggers",
            "deploy",
            "workflows",
            "asset",
            "recommender",
            "recommendations",
            "budgets",
            "services",
            "endpoints",
            "api-keys",
            "domains",
        ];
        let (positional, opts) = self.cloud_words("gcloud", args);
        self.cloud_targets(
            "gcloud",
            &opts,
            &["--project", "--account", "--region", "--zone"],
        );
        let words: Vec<&str> = positional.iter().map(|w| w.text.as_str()).collect();
        let key = format!("gcloud {}", words.join(" "));
        if let Some(spec) = self
            .screen
            .programs
            .iter()
            .filter(|(k, _)| {
                k.starts_with("gcloud ") && (key == **k || key.starts_with(&format!("{k} ")))
            })
            .max_by_key(|(k, _)| k.len())
            .map(|(_, s)| s)
        {
            return spec.class;
        }
        let reads = positional.iter().all(|w| w.known)
            && words
                .iter()
                .position(|w| READS.contains(w))
                .is_some_and(|i| {
                    words[..i].iter().all(|g| GROUPS.contains(g)) && words.len() <= i + 2
                });
        if reads {
            ActionClass::Read
        } else {
            self.raise(ActionClass::Destructive, || {
                format!("`gcloud {}` is not a known read", words.join(" "))
            });
            ActionClass::Destructive
        }
    }

    /// `az GROUP... VERB [options]`: `list`, `show`, `list-*`, `show-*` and `get-*` (but not
    /// `get-credentials`, which writes a kubeconfig) read.
    pub(super) fn az(&mut self, args: &[W]) -> ActionClass {
        let (positional, opts) = self.cloud_words("az", args);
        self.cloud_targets("az", &opts, &["--subscription", "--resource-group", "-g"]);
        let words: Vec<&str> = positional.iter().map(|w| w.text.as_str()).collect();
        let key = format!("az {}", words.join(" "));
        if let Some(spec) = self.screen.programs.get(&key) {
            return spec.class;
        }
        let verb = words.last().copied().unwrap_or("");
        let reads = positional.iter().all(|w| w.known)
            && words.len() >= 2
            && (matches!(verb, "list" | "show" | "version")
                || verb.starts_with("list-")
                || verb.starts_with("show-")
                || (verb.starts_with("get-") && verb != "get-credentials"));
        if reads || words == ["version"] || words == ["account", "show"] {
            ActionClass::Read
        } else {
            self.raise(ActionClass::Destructive, || {
                format!("`az {}` is not a known read", words.join(" "))
            });
            ActionClass::Destructive
        }
    }

    /// A cloud CLI's words: positional words, and options with their values (`--opt value...`,
    /// `--opt=value`). `file://` and `@file` values are read paths.
    fn cloud_words<'w>(&mut self, prog: &str, args: &'w [W]) -> (Vec<&'w W>, Vec<FoundOpt>) {
        let mut positional = Vec::new();
        let mut opts = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if !a.known {
                self.raise(ActionClass::Write, || {
                    format!("`{}` is known only when it runs", a.text)
                });
                if positional.len() < 2 {
                    positional.push(a);
                }
                continue;
            }
            if a.text.starts_with('-') && a.text.len() > 1 {
                let (name, mut value) = match a.text.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (a.text.clone(), None),
                };
                // Values run to the next option after an `aws` operation (`--instance-ids i-1
                // i-2`); one word elsewhere, since positional words may follow.
                let max = if flag_like(&name) {
                    0
                } else if prog == "aws" && positional.len() >= 2 {
                    usize::MAX
                } else {
                    1
                };
                if let Some(v) = &value {
                    self.cloud_value(&W {
                        text: v.clone(),
                        known: true,
                        ..W::default()
                    });
                } else {
                    let mut vals: Vec<String> = Vec::new();
                    while vals.len() < max {
                        let Some(v) = args.get(i) else { break };
                        if v.text.starts_with('-') && v.text.len() > 1 {
                            break;
                        }
                        self.cloud_value(v);
                        vals.push(v.text.clone());
                        i += 1;
                    }
                    if !vals.is_empty() {
                        value = Some(vals.join(" "));
                    }
                }
                opts.push(FoundOpt {
                    name,
                    value,
                    kind: None,
                    word: i.saturating_sub(1),
                });
            } else {
                positional.push(a);
            }
        }
        (positional, opts)
    }

    fn cloud_value(&mut self, v: &W) {
        for prefix in ["file://", "fileb://", "@"] {
            if let Some(p) = v.text.strip_prefix(prefix) {
                self.path(
                    &W {
                        text: p.to_string(),
                        known: v.known,
                        ..W::default()
                    },
                    false,
                );
            }
        }
    }

    fn cloud_targets(&mut self, prog: &str, opts: &[FoundOpt], names: &[&str]) {
        for o in opts {
            if names.contains(&o.name.as_str())
                && let Some(v) = &o.value
            {
                self.report.targets.push(TargetRef::Named {
                    program: prog.into(),
                    option: o.name.clone(),
                    value: v.clone(),
                });
            }
        }
    }
}

/// Global `aws` flags that take no value: the next word is the service.
fn flag_like(name: &str) -> bool {
    matches!(
        name,
        "--debug"
            | "--no-verify-ssl"
            | "--no-paginate"
            | "--no-sign-request"
            | "--no-cli-pager"
            | "--no-cli-auto-prompt"
            | "--cli-auto-prompt"
            | "--version"
            | "--dryrun"
            | "--dry-run"
            | "--no-dry-run"
            | "--recursive"
            | "--human-readable"
            | "--summarize"
    )
}
