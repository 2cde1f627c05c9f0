//! Known programs judged by their table entry: options and operands read against the spec
//! ([`super::spec`]), what their values are (paths confined, programs screened), subcommands
//! (`git log`, `kubectl get`), the namespaces they name, and the few checks a spec cannot say
//! (`date` setting the clock, `less +cmd`, `tar` listing, `curl` and `wget` URLs).

use super::spec::{Operands, ProgramSpec, ReadArgs, ValueKind};
use super::walk::{Feed, W, Walk, assignment};
use super::{ShellRule, TargetRef};
use crate::action::classes::ActionClass;

/// Whether a kubectl command's operands name exactly one resource: `TYPE/NAME`, or `TYPE NAME`,
/// each of the characters of Kubernetes names (no list: `deploy/a,deploy/b` and `deploy,sts`
/// name several; no glob the shell expands, `deploy *`; no word known only when it runs).
fn one_resource(operands: &[(usize, String)]) -> bool {
    let plain = |o: &str| {
        !o.is_empty()
            && !o.starts_with(['-', '.'])
            && o.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'/'))
    };
    match operands {
        [(_, o)] => {
            plain(o)
                && o.split_once('/')
                    .is_some_and(|(t, n)| !t.is_empty() && !n.is_empty() && !n.contains('/'))
        }
        [(_, t), (_, n)] => plain(t) && plain(n) && !t.contains('/') && !n.contains('/'),
        _ => false,
    }
}

impl Walk<'_> {
    /// Checks of a few programs beyond their options.
    pub(super) fn after_spec(
        &mut self,
        prog: &str,
        read: &ReadArgs,
        args: &[W],
        class: ActionClass,
    ) -> ActionClass {
        let mut class = class;
        match prog {
            "chmod" | "chown" | "chgrp" => self.chmod(prog, read),
            "sed" => class = class.max(self.sed(read, args)),
            "date" if read.operands.iter().any(|(_, o)| !o.starts_with('+')) => {
                class = ActionClass::Destructive;
                self.raise(class, || "`date` given a time sets the clock".into());
            }
            "less" | "more" if read.operands.iter().any(|(_, o)| o.starts_with('+')) => {
                class = ActionClass::Destructive;
                self.raise(class, || {
                    format!("`{prog} +...` runs a {prog} command at start")
                });
            }
            "tar" => {
                let creates_or_extracts = [
                    "-c",
                    "-x",
                    "-r",
                    "-u",
                    "--create",
                    "--extract",
                    "--get",
                    "--append",
                    "--update",
                ]
                .iter()
                .any(|o| read.has(o));
                if !creates_or_extracts && (read.has("-t") || read.has("--list")) {
                    class = ActionClass::Read;
                }
            }
            "curl" | "wget" => class = class.max(self.url_tool(prog, read, args)),
            "yq" if read
                .operands
                .first()
                .is_some_and(|(_, e)| e.contains("load") || e.contains("system")) =>
            {
                class = ActionClass::Destructive;
                self.raise(class, || {
                    "`yq` expression loads files or runs commands (`load`, `system`)".into()
                });
            }
            "export" => {
                for (i, op) in &read.operands {
                    if let Some((name, value)) = assignment(op) {
                        self.env_assignment(name, value, args[*i].known);
                    }
                }
            }
            "man" => {
                // man-db formats any operand with a `/` as a file.
                for (i, o) in &read.operands {
                    if o.contains('/') {
                        self.path(&args[*i], false);
                    }
                }
            }
            "crontab" if !read.has("-l") => {
                // Without `-l` it installs what arrives on its input.
                class = ActionClass::Destructive;
                self.raise(class, || "`crontab` installs a crontab".into());
            }
            "ps" if read
                .operands
                .iter()
                .any(|(_, o)| !o.starts_with('-') && o.contains('e')) =>
            {
                self.hit(
                    ShellRule::CredentialRead,
                    "`ps e` prints other processes' environments, which hold credentials".into(),
                );
            }
            "printenv" if read.operands.is_empty() => {
                self.hit(
                    ShellRule::CredentialRead,
                    "`printenv` prints the whole environment, which holds credentials (name the variables)"
                        .into(),
                );
            }
            "jq" if read
                .operands
                .first()
                .is_some_and(|(_, f)| f.contains("env") || f.contains("$ENV")) =>
            {
                self.hit(
                    ShellRule::CredentialRead,
                    "`jq` filter reads the environment, which holds credentials".into(),
                );
            }
            "cd" | "pushd" if read.operands.is_empty() => {
                // `cd` alone goes home.
                self.path(
                    &W {
                        text: "~".into(),
                        known: true,
                        ..W::default()
                    },
                    false,
                );
            }
            _ => {}
        }
        class
    }

    /// Read `args` against a spec (and `other`, the program's global options); record paths,
    /// programs run and reasons; return the class and what was read.
    pub fn apply_spec(
        &mut self,
        label: &str,
        spec: &ProgramSpec,
        other: Option<&ProgramSpec>,
        args: &[W],
        depth: usize,
    ) -> (ActionClass, ReadArgs) {
        let mut class = spec.class;
        let no_exec = matches!(
            label,
            "echo"
                | "printf"
                | "test"
                | "["
                | "[["
                | "true"
                | "false"
                | ":"
                | "sleep"
                | "seq"
                | "expr"
        );
        // A word known only when it runs may be any option; past `--` or with a static first
        // character other than `-` it is an operand.
        let mut texts: Vec<&str> = Vec::with_capacity(args.len());
        let mut after_dashes = false;
        for a in args {
            if a.known {
                if a.text == "--" {
                    after_dashes = true;
                }
                texts.push(a.text.as_str());
            } else {
                let may_be_option = !after_dashes && !a.text.starts_with('~') && {
                    let c = a.text.chars().next();
                    matches!(c, Some('$') | Some('`') | Some('-') | None)
                };
                if !after_dashes
                    && a.text.starts_with('-')
                    && !self.report.unresolved.contains(&a.text)
                {
                    // `-o$X`: an option whose value is known only when it runs.
                    self.report.unresolved.push(a.text.clone());
                }
                if may_be_option && !no_exec {
                    class = ActionClass::Destructive;
                    self.raise(class, || {
                        format!(
                            "`{}` is known only when it runs: it could be any option of `{label}`",
                            a.text
                        )
                    });
                } else {
                    class = class.max(ActionClass::Write);
                    self.raise(ActionClass::Write, || {
                        format!("`{}` is known only when it runs", a.text)
                    });
                }
                texts.push("\u{0}");
            }
        }
        let read = spec.read_args(&texts, other);
        for u in &read.unknown {
            class = ActionClass::Destructive;
            self.raise(class, || {
                format!("option `{u}` of `{label}` is not known to be safe")
            });
        }
        for v in &read.unknown_values {
            if v.contains(' ') {
                // It may be a command the option runs (`--upload-pack="rm -rf ~"`,
                // `-c core.sshCommand='rm -rf ~'`).
                self.deny_rules_of(v, depth);
                if let Some((_, after)) = v.split_once('=') {
                    self.deny_rules_of(after, depth);
                }
            }
            // A joined value that looks like a path is still confined: `-t/etc/cron.d`.
            let v = v.strip_prefix('=').unwrap_or(v);
            if v.starts_with('/') || v.starts_with('~') || v.contains('/') {
                self.path(
                    &W {
                        text: v.to_string(),
                        known: true,
                        ..W::default()
                    },
                    true,
                );
            }
        }
        let mut wpath_given = false;
        for o in &read.opts {
            let Some(v) = o.value.as_deref() else {
                continue;
            };
            let w = W {
                text: v.to_string(),
                known: v != "\u{0}",
                ..W::default()
            };
            let w = if w.known { w } else { args[o.word].clone() };
            match o.kind {
                Some(ValueKind::Path | ValueKind::PatternFile)
                    if w.text == "-" && o.name.ends_with("files0-from") =>
                {
                    // File names arrive on standard input: known only when it runs.
                    self.path(
                        &W {
                            text: format!("{}=- (file names from the input)", o.name),
                            known: false,
                            ..W::default()
                        },
                        false,
                    );
                }
                Some(ValueKind::Path | ValueKind::PatternFile) => self.path(&w, false),
                Some(ValueKind::TwoPath) => {
                    let file = w.text.rsplit_once(' ').map_or(w.text.as_str(), |(_, f)| f);
                    self.path(
                        &W {
                            text: file.to_string(),
                            known: w.known,
                            ..W::default()
                        },
                        false,
                    );
                }
                Some(ValueKind::WritePath) if w.text != "-" => {
                    wpath_given = true;
                    class = class.max(ActionClass::Write);
                    self.raise(ActionClass::Write, || {
                        format!("`{label} {}` writes `{}`", o.name, w.text)
                    });
                    self.path(&w, true);
                }
                Some(ValueKind::Program) => {
                    class = ActionClass::Destructive;
                    self.raise(class, || {
                        format!("`{label} {}` runs the program `{}`", o.name, w.text)
                    });
                    if w.known {
                        self.nested_source(&w.text, depth, Feed::Nothing);
                    } else {
                        self.hit(
                            ShellRule::UnknownCode,
                            format!(
                                "`{label} {}` runs a program known only when it runs",
                                o.name
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        let operand = |i: usize| -> W {
            let w = &args[i];
            w.clone()
        };
        let pattern_given = read
            .opts
            .iter()
            .any(|o| matches!(o.kind, Some(ValueKind::Pattern | ValueKind::PatternFile)))
            || (label == "rg" && (read.has("--files") || read.has("--type-list")));
        let n = read.operands.len();
        for (k, (i, _)) in read.operands.iter().enumerate() {
            let w = operand(*i);
            match spec.operands {
                Operands::Paths => self.path(&w, false),
                Operands::WritePaths => self.path(&w, true),
                Operands::Copy => {
                    let last = k + 1 == n && n > 1 && !wpath_given;
                    self.path(&w, last);
                }
                Operands::InOut => {
                    if k == 1 {
                        class = class.max(ActionClass::Write);
                        self.raise(ActionClass::Write, || {
                            format!("`{label}` writes its output to `{}`", w.text)
                        });
                    }
                    self.path(&w, k == 1);
                    if k > 1 {
                        class = ActionClass::Destructive;
                    }
                }
                Operands::Plain => {}
                Operands::Pattern => {
                    if k > 0 || pattern_given {
                        self.path(&w, false);
                    }
                }
                Operands::ListOnly => {
                    if !spec.lists(&read) {
                        class = class.max(ActionClass::Write);
                        self.raise(ActionClass::Write, || {
                            format!("`{label} {}` changes something (it does not list)", w.text)
                        });
                    }
                }
                Operands::None => {
                    class = ActionClass::Destructive;
                    self.raise(class, || {
                        format!("`{label}` given `{}` is not known to be a read", w.text)
                    });
                }
            }
        }
        (class, read)
    }

    /// A program with subcommands: global options, the longest known subcommand, its options.
    pub(super) fn subcommand(&mut self, prog: &str, args: &[W], depth: usize) -> ActionClass {
        let screen = self.screen;
        let Some(head) = screen.programs.get(prog) else {
            self.unknown_program(prog, args, depth);
            return ActionClass::Destructive;
        };
        // Global options run to the first operand.
        let texts: Vec<&str> = args
            .iter()
            .map(|a| if a.known { a.text.as_str() } else { "\u{0}" })
            .collect();
        let probe = head.read_args(&texts, None);
        let k = probe.operands.first().map_or(args.len(), |(i, _)| *i);
        let (mut class, globals) = self.apply_spec(prog, head, None, &args[..k], depth);
        let rest = &args[k..];
        let mut found = None;
        for n in (1..=3).rev() {
            if rest.len() < n
                || rest[..n]
                    .iter()
                    .any(|w| !w.known || w.text.starts_with('-'))
            {
                continue;
            }
            let key = std::iter::once(prog)
                .chain(rest[..n].iter().map(|w| w.text.as_str()))
                .collect::<Vec<_>>()
                .join(" ");
            if let Some(spec) = screen.programs.get(&key) {
                found = Some((key, spec, n));
                break;
            }
        }
        let mut opts = globals.opts;
        if let Some((key, spec, n)) = found {
            let (c, read) = self.apply_spec(&key, spec, Some(head), &rest[n..], depth);
            class = class.max(c);
            opts.extend(read.opts.iter().cloned());
            if prog == "git" {
                // A path outside the work tree turns `git diff` into `--no-index`; any path-like
                // operand (absolute, `~`, a `..` component) is confined.
                for (i, o) in &read.operands {
                    if o.starts_with('/') || o.starts_with('~') || o.split('/').any(|c| c == "..") {
                        self.path(&rest[n + i], false);
                    }
                }
            }
            if key == "git config" && !spec.lists(&read) && !read.operands.is_empty() {
                // Configuration can name programs git runs later (`core.fsmonitor`, `core.pager`,
                // `core.sshCommand`, aliases with `!`).
                class = ActionClass::Destructive;
                self.raise(class, || "`git config` setting a value".into());
                for (_, v) in &read.operands {
                    if v.contains(' ') {
                        self.deny_rules_of(v.trim_start_matches('!'), depth);
                    }
                }
            }
            if key == "git push" {
                // A refspec with `+` forces the update, one with an empty source (`:main`)
                // deletes the remote branch.
                if read
                    .operands
                    .iter()
                    .skip(1)
                    .any(|(_, o)| o.starts_with('+') || o.starts_with(':'))
                {
                    class = ActionClass::Destructive;
                    self.raise(class, || "`git push` forcing or deleting a ref".into());
                }
            }
            if matches!(
                key.as_str(),
                "kubectl scale"
                    | "oc scale"
                    | "kubectl rollout restart"
                    | "oc rollout restart"
                    | "kubectl rollout undo"
                    | "oc rollout undo"
            ) && !one_resource(&read.operands)
            {
                // A type alone (`rollout restart deployment`) acts on every resource of it in the
                // namespace, and several names on several (selectors and files are not in the
                // spec: unknown options, destructive).
                class = ActionClass::Destructive;
                self.raise(class, || {
                    format!("`{key}` not of exactly one resource (`TYPE/NAME` or `TYPE NAME`)")
                });
            }
            if key == "kubectl scale" || key == "oc scale" {
                // Scaling to zero stops every pod: a count that is not a literal positive
                // number is read as zero.
                let positive = read
                    .value(&["--replicas"])
                    .and_then(|r| r.parse::<u32>().ok())
                    .is_some_and(|r| r > 0);
                if !positive {
                    class = ActionClass::Destructive;
                    self.raise(class, || {
                        format!("`{key}` to zero replicas or an unknown count")
                    });
                }
            }
            if key == "git checkout" || key == "git restore" {
                // Checking out paths discards their changes.
                if rest[n..].iter().any(|w| w.text == "--" || w.text == ".") {
                    class = ActionClass::Destructive;
                    self.raise(class, || format!("`{key} -- paths` discards changes"));
                }
            }
        } else if !rest.is_empty() {
            class = ActionClass::Destructive;
            // What it does is not known: any word may be a command it runs (`git -c
            // core.sshCommand='...' fetch`).
            for w in rest.iter().filter(|w| w.known && w.text.contains(' ')) {
                self.deny_rules_of(&w.text, depth);
                if let Some((_, after)) = w.text.split_once('=') {
                    self.deny_rules_of(after, depth);
                }
            }
            let sub = rest[0].text.clone();
            self.raise(class, || {
                format!("`{prog} {sub}` is not a known read or write")
            });
        }
        if matches!(prog, "kubectl" | "oc" | "helm") {
            self.namespace_targets(prog, &opts);
            // `-o jsonpath-file=PATH`, `go-template-file=PATH`: a file it reads.
            for o in &opts {
                if matches!(o.name.as_str(), "-o" | "--output")
                    && let Some((_, file)) = o.value.as_deref().and_then(|v| v.split_once("-file="))
                {
                    self.path(
                        &W {
                            text: file.to_string(),
                            known: true,
                            ..W::default()
                        },
                        false,
                    );
                }
            }
        }
        class
    }

    fn namespace_targets(&mut self, prog: &str, opts: &[super::spec::FoundOpt]) {
        let mut named = false;
        for o in opts {
            match o.name.as_str() {
                "-n" | "--namespace" => {
                    if let Some(v) = &o.value {
                        named = true;
                        self.report.targets.push(TargetRef::Named {
                            program: prog.into(),
                            option: o.name.clone(),
                            value: v.clone(),
                        });
                    }
                }
                "-A" | "--all-namespaces" => {
                    named = true;
                    self.report.targets.push(TargetRef::All {
                        program: prog.into(),
                    });
                }
                _ => {}
            }
        }
        if !named {
            self.report.targets.push(TargetRef::Default {
                program: prog.into(),
            });
        }
    }

    /// `curl` and `wget`: `@file` values are files they read (and send); `file:` URLs read
    /// local files; schemes other than http, https and ftp are not known to be reads.
    fn url_tool(&mut self, prog: &str, read: &ReadArgs, args: &[W]) -> ActionClass {
        let mut class = ActionClass::Read;
        for o in &read.opts {
            if let Some(v) = o.value.as_deref()
                && let Some(file) = v.strip_prefix('@')
            {
                self.path(
                    &W {
                        text: file.to_string(),
                        known: args.get(o.word).is_none_or(|w| w.known),
                        ..W::default()
                    },
                    false,
                );
            }
        }
        if prog == "curl"
            && [
                "-O",
                "--remote-name",
                "--remote-name-all",
                "-J",
                "--remote-header-name",
            ]
            .iter()
            .any(|o| read.has(o))
        {
            class = ActionClass::Write;
            self.raise(class, || "`curl -O` saves the download in a file".into());
        }
        if prog == "wget"
            && !read.has("--spider")
            && read.value(&["-O", "--output-document"]) != Some("-")
        {
            // wget saves what it downloads unless told to print it.
            class = ActionClass::Write;
            self.raise(class, || "`wget` saves the download in a file".into());
        }
        let mut urls: Vec<(Option<usize>, String)> = read
            .operands
            .iter()
            .map(|(i, u)| (Some(*i), u.clone()))
            .collect();
        for o in &read.opts {
            if o.name == "--url"
                && let Some(v) = &o.value
            {
                urls.push((None, v.clone()));
            }
        }
        for (i, url) in &urls {
            let known = i.is_none_or(|i| args[i].known);
            let lower = url.to_ascii_lowercase();
            if let Some(rest) = lower.strip_prefix("file:") {
                let path = rest.trim_start_matches("//");
                let path = if path.starts_with('/') { path } else { rest };
                self.path(
                    &W {
                        text: url[url.len() - path.len()..].to_string(),
                        known,
                        ..W::default()
                    },
                    false,
                );
            } else if let Some((scheme, _)) = lower.split_once("://")
                && !matches!(scheme, "http" | "https" | "ftp" | "ftps")
            {
                class = ActionClass::Destructive;
                self.raise(class, || format!("`{prog}` with a `{scheme}://` URL"));
            }
        }
        class
    }
}
