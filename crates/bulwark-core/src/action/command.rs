//! The command fields of a shell tool's intent, screened word by word: the class they come to,
//! the paths they write, the targets they name, and what could not be resolved.

use super::*;

impl ActionPolicy {
    /// Screen the command fields of a shell tool's intent; returns the class.
    pub(super) fn shell_intent(
        &self,
        intent: &ExecutionIntent,
        findings: &mut Vec<Finding>,
        paths: &mut Vec<(String, String, bool)>,
        targets: &mut Vec<TargetRef>,
        unresolved: &mut Vec<(String, String)>,
    ) -> ActionClass {
        let args = &intent.args.0;
        let unknown: Vec<&str> = args
            .keys()
            .map(String::as_str)
            .filter(|k| {
                !COMMAND_KEYS.contains(k) && !SHELL_META_KEYS.contains(k) && !is_path_key(k)
            })
            .collect();
        if !unknown.is_empty() {
            findings.push(finding(
                "shell-unknown-field",
                Severity::High,
                &format!("args.{}", unknown[0]),
                format!(
                    "`{}` is a shell tool and args carries {}, which the screen does not know: what the executor would do with it cannot be judged (known fields: {})",
                    intent.tool,
                    unknown.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "),
                    COMMAND_KEYS.iter().chain(SHELL_META_KEYS).copied().collect::<Vec<_>>().join(", ")
                ),
            ));
            return ActionClass::Destructive;
        }
        // `shell` naming the interpreter of `command` is not a command of its own.
        let mut fields: Vec<&str> = args
            .keys()
            .map(String::as_str)
            .filter(|k| COMMAND_KEYS.contains(k))
            .filter(|k| {
                !(*k == "shell"
                    && args.contains_key("command")
                    && intent
                        .args
                        .str("shell")
                        .is_some_and(|s| SHELL_NAMES.contains(&s)))
            })
            .collect();
        // `command` (a program) with an `args` array is one argv.
        let argv_pair = fields.len() == 2
            && fields.contains(&"command")
            && fields.contains(&"args")
            && args.get("command").is_some_and(|v| v.is_string())
            && args.get("args").is_some_and(|v| v.is_array());
        if argv_pair {
            fields.retain(|k| *k != "args");
        }
        if fields.len() > 1 {
            findings.push(finding(
                "shell-ambiguous-command",
                Severity::High,
                &format!("args.{}", fields[1]),
                format!(
                    "`{}` is a shell tool and args carries {}: an executor may run any of them, so each must be alone",
                    intent.tool,
                    fields.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" and ")
                ),
            ));
            return ActionClass::Destructive;
        }
        let Some(key) = fields.first().copied() else {
            findings.push(finding(
                "shell-command-missing",
                Severity::High,
                "args.command",
                format!(
                    "`{}` is a shell tool but args has no command (`command`, `cmd`, `script`, `argv`, ...): what it would run cannot be screened",
                    intent.tool
                ),
            ));
            return ActionClass::Destructive;
        };
        let field = format!("args.{key}");
        let env = match args.get("env") {
            None => BTreeMap::new(),
            Some(serde_json::Value::Object(m)) => {
                let mut env = BTreeMap::new();
                for (k, v) in m {
                    let Some(v) = v.as_str() else {
                        findings.push(finding(
                            "shell-bad-field",
                            Severity::High,
                            &format!("args.env.{k}"),
                            "an environment value must be a string".into(),
                        ));
                        return ActionClass::Destructive;
                    };
                    env.insert(k.clone(), v.to_string());
                }
                env
            }
            Some(_) => {
                findings.push(finding(
                    "shell-bad-field",
                    Severity::High,
                    "args.env",
                    "expected an object of environment variables (name -> string)".into(),
                ));
                return ActionClass::Destructive;
            }
        };
        let value = &args[key];
        let report = match value {
            serde_json::Value::String(command) if argv_pair => {
                let mut argv = vec![command.clone()];
                argv.extend(args["args"].as_array().into_iter().flatten().map(|v| {
                    v.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| v.to_string())
                }));
                self.shell.screen_argv(&argv, &env)
            }
            serde_json::Value::String(command) => {
                if env.is_empty() {
                    self.shell.screen(command)
                } else {
                    let prefix: Vec<String> = env
                        .iter()
                        .map(|(k, v)| format!("{k}='{}'", v.replace('\'', "'\\''")))
                        .collect();
                    self.shell
                        .screen(&format!("{} {command}", prefix.join(" ")))
                }
            }
            serde_json::Value::Array(items)
                if items.iter().all(|i| i.is_string()) && !items.is_empty() =>
            {
                let argv: Vec<String> = items
                    .iter()
                    .filter_map(|i| i.as_str().map(String::from))
                    .collect();
                self.shell.screen_argv(&argv, &env)
            }
            _ => {
                findings.push(finding(
                    "shell-bad-field",
                    Severity::High,
                    &field,
                    "expected a command line (a string) or a program and its arguments (an array of strings)".into(),
                ));
                return ActionClass::Destructive;
            }
        };
        for hit in &report.hits {
            findings.push(finding(
                hit.rule.id(),
                Severity::Critical,
                &field,
                hit.message.clone(),
            ));
        }
        if !report.unknown_programs.is_empty() {
            findings.push(finding(
                "shell-unknown-program",
                Severity::Medium,
                &field,
                format!(
                    "{} not known to the screen: counted as destructive",
                    report
                        .unknown_programs
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if report.class > ActionClass::Read && !report.reasons.is_empty() {
            findings.push(finding(
                "shell-class",
                Severity::Low,
                &field,
                format!("{}: {}", report.class.as_str(), report.reasons.join("; ")),
            ));
        }
        paths.extend(report.paths.into_iter().map(|(p, w)| (field.clone(), p, w)));
        unresolved.extend(report.unresolved.into_iter().map(|w| (field.clone(), w)));
        targets.extend(report.targets);
        report.class
    }
}
