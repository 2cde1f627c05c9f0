//! What `bulwark exec` runs, as the intent the policy judges: a program and its arguments, or a
//! shell line; the intent built for a command, or the command an intent names; who asks.

use super::*;

/// What is to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cmd {
    /// A program and its arguments.
    Argv(Vec<String>),
    /// A shell command line (run with `/bin/sh -c`).
    Line(String),
}

impl Cmd {
    /// The words to execute.
    pub(super) fn words(&self) -> Vec<String> {
        match self {
            Cmd::Argv(w) => w.clone(),
            Cmd::Line(l) => vec!["/bin/sh".into(), "-c".into(), l.clone()],
        }
    }

    /// The program's basename, which per-program allowances are keyed by (none for a line).
    pub(super) fn program(&self) -> Option<&str> {
        match self {
            Cmd::Argv(w) => w.first().map(|p| p.rsplit('/').next().unwrap_or(p)),
            Cmd::Line(_) => None,
        }
    }
}

/// Where the shell screen reads a command line, in the order it looks.
pub(super) const COMMAND_KEYS: &[&str] = &["command", "cmd", "script"];
/// Where an intent names its working directory, in the order the policy applies them.
pub(super) const CWD_KEYS: &[&str] = &["cwd", "working_dir", "workdir", "working_directory"];

/// The arguments of the intent `bulwark exec` builds for `cmd`: a program and its arguments as
/// `args.argv` (no shell reads them), a `-c` line as `args.command`.
pub(super) fn command_args(cmd: &Cmd) -> serde_json::Map<String, serde_json::Value> {
    let mut args = serde_json::Map::new();
    match cmd {
        Cmd::Argv(words) => {
            args.insert(
                "argv".into(),
                serde_json::Value::Array(words.iter().map(|w| w.clone().into()).collect()),
            );
        }
        Cmd::Line(line) => {
            args.insert("command".into(), line.clone().into());
        }
    }
    args
}

/// Whether `intent` describes `cmd`: the command line it has the screen read is this command's.
pub(super) fn describes(intent: &ExecutionIntent, cmd: &Cmd) -> bool {
    let line = COMMAND_KEYS.iter().find_map(|k| intent.args.str(k));
    match (line, cmd) {
        (Some(line), Cmd::Argv(words)) => line == shell_join(words),
        (Some(line), Cmd::Line(l)) => line == l,
        (None, Cmd::Argv(words)) => intent_argv(intent).is_some_and(|a| &a == words),
        (None, Cmd::Line(_)) => false,
    }
}

pub(super) fn intent_argv(intent: &ExecutionIntent) -> Option<Vec<String>> {
    match intent.args.0.get("argv")? {
        serde_json::Value::Array(items) if !items.is_empty() => {
            items.iter().map(|i| i.as_str().map(String::from)).collect()
        }
        _ => None,
    }
}

/// What an intent runs when no command is given beside it.
pub(super) fn intent_command(intent: &ExecutionIntent) -> Option<Cmd> {
    if let Some(line) = COMMAND_KEYS.iter().find_map(|k| intent.args.str(k)) {
        return Some(Cmd::Line(line.to_string()));
    }
    intent_argv(intent).map(Cmd::Argv)
}

/// Quote `word` for a POSIX shell: unchanged when it has nothing a shell would read, else in single
/// quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b'/' | b',' | b':' | b'@' | b'%' | b'+' | b'=')
        })
        // `=` in the first word would make an assignment; `~` expands only at the start.
        && !word.starts_with('=');
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The words as one shell command line.
pub fn shell_join(words: &[String]) -> String {
    words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            // A first word with `=` would be read as an assignment.
            if i == 0 && w.contains('=') {
                format!("'{}'", w.replace('\'', r"'\''"))
            } else {
                shell_quote(w)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Who runs it: the OS user (`$USER`, `$LOGNAME`, else the name of this process's user in
/// `/etc/passwd`), else `exec`.
pub(super) fn requester() -> String {
    let usable = |u: &String| !u.is_empty() && u.len() <= 256 && !u.chars().any(char::is_control);
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| env_lookup(k).filter(usable))
        .or_else(|| passwd_name().filter(usable))
        .unwrap_or_else(|| "exec".into())
}

pub(super) fn passwd_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's user.
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        (fields.next()?.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

pub(super) fn build_intent(
    cfg: &SecurityConfig,
    cmd: &Cmd,
    cwd: Option<&Path>,
) -> Result<ExecutionIntent, Fatal> {
    let tools = &cfg.action.shell_tools;
    let tool = if tools.iter().any(|t| normalize_verb(t) == "shell") {
        "shell".to_string()
    } else {
        tools.first().cloned().ok_or_else(|| {
            Fatal("[action] shell_tools is empty: bulwark exec judges commands as a shell tool's; name one (e.g. \"shell\")".into())
        })?
    };
    let mut args = command_args(cmd);
    if let Some(dir) = cwd {
        let abs =
            std::path::absolute(dir).map_err(|e| Fatal(format!("--cwd {}: {e}", dir.display())))?;
        let text = abs
            .to_str()
            .ok_or_else(|| Fatal(format!("--cwd {}: not UTF-8", abs.display())))?;
        args.insert("cwd".into(), text.into());
    }
    let v = serde_json::json!({
        "tool": tool,
        "action": "run",
        "args": args,
        "requested_by": requester(),
    });
    let bytes = serde_json::to_vec(&v)?;
    ExecutionIntent::from_json(&bytes).map_err(|e| Fatal(format!("the command's intent: {e}")))
}
