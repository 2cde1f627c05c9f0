//! Programs judged by more than their options: shells, interpreters and wrappers (which run other
//! programs), deletes and devices (deny rules), `find`, `sed`, `awk`, `ip`, and the cloud CLIs
//! (classed by operation, with the account, project or region as the target).

use super::rules::{self, basename, root_target};
use super::spec::{FoundOpt, ProgramSpec, ReadArgs};
use super::walk::{Feed, SHELLS, W, Walk};
use super::{ShellRule, TargetRef};
use crate::action::classes::ActionClass;

fn has_short(args: &[W], flag: char) -> bool {
    args.iter()
        .any(|w| w.text.starts_with('-') && !w.text.starts_with("--") && w.text[1..].contains(flag))
}

fn is_option(w: &W) -> bool {
    w.text.len() > 1 && w.text.starts_with('-')
}

/// APIs that start a process, in interpreter code.
const SPAWNS: &[&str] = &[
    "system",
    "exec",
    "popen",
    "spawn",
    "subprocess",
    "execsync",
    "child_process",
    "os.system",
    "pty.",
    "qx",
    "`",
    "runtime.getruntime",
    "proc_open",
    "passthru",
    "shell_exec",
    "io.popen",
    "os.execute",
    "%x",
    "open3",
    "processbuilder",
    "deno.command",
    "bun.spawn",
    "|&",
];
/// APIs that delete a tree.
const TREE_DELETES: &[&str] = &[
    "rmtree",
    "rm_rf",
    "rm_r",
    "rmsync",
    "rmdirsync",
    "remove_tree",
    "rimraf",
    "fs.rm(",
    "fs.rmdir(",
    "removeall",
    "remove-item",
    "unlink",
    "os.remove",
];

impl Walk<'_> {
    /// `sh -c CODE`, `bash script.sh`, `sh` reading a pipe or here-document.
    pub(super) fn shell(
        &mut self,
        prog: &str,
        args: &[W],
        stdin: Feed,
        depth: usize,
    ) -> ActionClass {
        let c_at = args.iter().position(|a| {
            a.known
                && a.text.starts_with('-')
                && !a.text.starts_with("--")
                && a.text[1..].contains('c')
        });
        if let Some(i) = c_at {
            match args[i + 1..].iter().find(|a| !is_option(a)) {
                Some(code) if code.known => {
                    // A shell given known code is as much as that code.
                    return self.code_class(&code.text, depth, Feed::Nothing);
                }
                Some(code) => {
                    self.unknown_code(prog, code);
                    return ActionClass::Destructive;
                }
                None => {
                    self.hit(ShellRule::UnknownCode, format!("`{prog} -c` without code"));
                    return ActionClass::Destructive;
                }
            }
        }
        let reads_stdin = has_short(args, 's')
            || match args.iter().find(|a| !is_option(a)) {
                None => true,
                Some(a) => a.text == "-" || a.text == "/dev/stdin",
            };
        if reads_stdin {
            match &stdin {
                Feed::Text(t) => {
                    return self.code_class(t, depth, Feed::Nothing);
                }
                other => self.code_from(prog, other),
            }
        } else if let Some(script) = args.iter().find(|a| !is_option(a)) {
            if !script.known {
                self.unknown_code(prog, script);
                return ActionClass::Destructive;
            }
            self.path(script, false);
            self.raise(ActionClass::Destructive, || {
                format!("`{prog}` runs the script `{}`", script.text)
            });
        }
        ActionClass::Destructive
    }

    pub(super) fn unknown_code(&mut self, prog: &str, code: &W) {
        // Name the worst source: a download, then a decoder, then anything else.
        if let Some(d) = &code.download {
            self.hit(
                ShellRule::PipeToShell,
                format!("`{prog}` runs what `{d}` downloads"),
            );
        } else if let Some(d) = &code.decoded {
            self.hit(
                ShellRule::DecodeToShell,
                format!("`{prog}` runs what `{d}` decodes"),
            );
        }
        self.hit(
            ShellRule::UnknownCode,
            format!(
                "`{prog}` runs `{}`, code known only when it runs",
                code.text
            ),
        );
    }

    /// `python3 -c CODE`, `perl -e CODE`, `node -e CODE`, `ruby -e CODE`, `php -r CODE`.
    pub(super) fn interpreter(
        &mut self,
        prog: &str,
        args: &[W],
        stdin: Feed,
        depth: usize,
    ) -> ActionClass {
        let code_flags: &[&str] = match prog {
            "perl" | "ruby" | "lua" | "luajit" | "osascript" => &["-e", "-E"],
            "node" | "nodejs" | "deno" | "bun" => &["-e", "--eval", "-p", "--print", "eval"],
            "php" => &["-r"],
            "pwsh" | "powershell" => {
                &["-c", "-Command", "-command", "-EncodedCommand", "-e", "-ec"]
            }
            "Rscript" | "julia" => &["-e"],
            "expect" | "tclsh" => &["-c"],
            _ => &["-c"],
        };
        let mut code: Vec<&W> = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if code_flags.contains(&a.text.as_str()) {
                if let Some(c) = args.get(i + 1) {
                    code.push(c);
                }
            } else if prog.starts_with("python") && a.text.starts_with("-c") && a.text.len() > 2 {
                // `python3 -c'...'`: the code joined to the flag.
                code.push(a);
            }
        }
        if code.is_empty() {
            let script = args.iter().find(|a| !is_option(a));
            match script {
                None => self.code_from(prog, &stdin),
                Some(a) if a.text == "-" => self.code_from(prog, &stdin),
                Some(a) if !a.known => self.unknown_code(prog, a),
                Some(a) => {
                    self.path(a, false);
                    self.raise(ActionClass::Destructive, || {
                        format!("`{prog}` runs the script `{}`", a.text)
                    });
                }
            }
            return ActionClass::Destructive;
        }
        for c in code {
            if !c.known {
                self.unknown_code(prog, c);
                continue;
            }
            let text = if c.text.starts_with("-c") && prog.starts_with("python") {
                &c.text[2..]
            } else {
                c.text.as_str()
            };
            self.inline_code(prog, text, depth);
        }
        self.raise(ActionClass::Destructive, || {
            format!("`{prog}` runs code of its own")
        });
        ActionClass::Destructive
    }

    /// Deny rules over inline interpreter code: sockets tied to shells, credential paths, fork
    /// loops, and the string literals it hands to a process or a tree delete.
    fn inline_code(&mut self, prog: &str, code: &str, depth: usize) {
        let l = code.to_ascii_lowercase();
        let socket = l.contains("socket") || l.contains("fsockopen") || l.contains("/inet/tcp");
        let spawns = SPAWNS.iter().any(|k| l.contains(k));
        let runs_shell =
            spawns || l.contains("/bin/sh") || l.contains("/bin/bash") || l.contains("dup2");
        if socket && runs_shell {
            self.hit(
                ShellRule::ReverseShell,
                format!("`{prog}` code connects a socket to a shell"),
            );
        }
        if let Some(p) = rules::credential_path(code) {
            self.hit(
                ShellRule::CredentialRead,
                format!("`{prog}` code touches `{p}`"),
            );
        }
        if let Some(m) = rules::fork_bomb(code) {
            self.hit(ShellRule::ForkBomb, m);
        }
        if (l.contains("fork()") || l.contains("fork;") || l.contains("fork "))
            && (l.contains("while") || l.contains("loop") || l.contains("for(;;)"))
        {
            self.hit(
                ShellRule::ForkBomb,
                format!("`{prog}` code forks in a loop"),
            );
        }
        let literals = string_literals(code);
        if spawns {
            for lit in &literals {
                if lit.contains(' ') || self.screen_knows(lit) {
                    self.nested_source(lit, depth, Feed::Nothing);
                }
            }
        }
        if TREE_DELETES.iter().any(|k| l.contains(k)) {
            for lit in &literals {
                if let Some(what) = root_target(lit) {
                    self.hit(
                        ShellRule::RmRoot,
                        format!("`{prog}` code deletes `{lit}` ({what})"),
                    );
                }
            }
        }
    }

    fn screen_knows(&self, word: &str) -> bool {
        let name = basename(word.split_whitespace().next().unwrap_or(""));
        self.screen.programs.contains_key(name) || SHELLS.contains(&name) || name == "rm"
    }

    /// `awk PROGRAM files`: a read unless the program runs commands or writes files.
    pub(super) fn awk(&mut self, prog: &str, args: &[W], depth: usize) -> ActionClass {
        let Some(spec) = self.screen.programs.get("awk").cloned() else {
            self.unknown_program(prog, args, depth);
            return ActionClass::Destructive;
        };
        let (mut class, read) = self.apply_spec(prog, &spec, None, args, depth);
        let from_file = read
            .opts
            .iter()
            .any(|o| o.name == "-f" || o.name == "--file");
        let program = if from_file {
            None
        } else {
            read.operands.first().map(|(i, _)| &args[*i])
        };
        if from_file {
            class = ActionClass::Destructive;
            self.raise(class, || format!("`{prog} -f` runs a program file"));
        }
        if let Some(p) = program {
            if !p.known {
                self.unknown_code(prog, p);
                return ActionClass::Destructive;
            }
            let code = p.text.as_str();
            if code.contains("ARGV") || code.contains("@load") || code.contains("@include") {
                // It names its own input files, or loads code.
                self.hit(
                    ShellRule::UnknownCode,
                    format!("`{prog}` program sets its own input files or loads code (ARGV, @load, @include)"),
                );
                return ActionClass::Destructive;
            }
            if code.contains("system") || code.contains('|') || code.contains("getline") {
                class = ActionClass::Destructive;
                self.raise(class, || format!("`{prog}` program runs commands"));
                self.inline_code(prog, code, depth);
                for lit in string_literals(code) {
                    self.nested_source(&lit, depth, Feed::Nothing);
                }
                if code.contains("/inet/") {
                    self.hit(
                        ShellRule::ReverseShell,
                        format!("`{prog}` program opens a network connection"),
                    );
                }
            } else if code.contains('>') {
                class = class.max(ActionClass::Write);
                self.raise(class, || format!("`{prog}` program may write a file (`>`)"));
            }
            // File names in the program (`print > "/etc/x"`, `getline < "/etc/shadow"`).
            let writes = code.contains('>');
            for lit in string_literals(code) {
                if lit.contains('/') && !lit.contains(' ') {
                    self.path(
                        &W {
                            text: lit,
                            known: true,
                            ..W::default()
                        },
                        writes,
                    );
                }
            }
        }
        class
    }

    /// Wrappers run the command after their own options.
    pub(super) fn wrapper(
        &mut self,
        prog: &str,
        args: &[W],
        stdin: Feed,
        depth: usize,
    ) -> ActionClass {
        let privileged = super::walk::PRIVILEGED_WRAPPERS.contains(&prog);
        let floor = if privileged {
            self.raise(ActionClass::Destructive, || {
                format!("`{prog}` runs a command with another identity or on another host")
            });
            ActionClass::Destructive
        } else {
            ActionClass::Read
        };
        // Options that take a value, per wrapper; a command string for `-c`-style wrappers.
        let (with_value, positional, command_opts): (&[&str], usize, &[&str]) = match prog {
            "sudo" => (
                &[
                    "-u",
                    "-g",
                    "-h",
                    "-p",
                    "-C",
                    "-D",
                    "-r",
                    "-t",
                    "-U",
                    "-T",
                    "--user",
                    "--group",
                    "--host",
                    "--prompt",
                    "--chdir",
                    "--role",
                    "--type",
                    "--other-user",
                    "--close-from",
                    "--command-timeout",
                ],
                0,
                &[],
            ),
            "doas" => (&["-u", "-C"], 0, &[]),
            "su" | "runuser" => (
                &[
                    "-s",
                    "--shell",
                    "-g",
                    "--group",
                    "-G",
                    "--supp-group",
                    "-w",
                    "--whitelist-environment",
                    "-u",
                    "--user",
                ],
                0,
                &["-c", "--command", "--session-command"],
            ),
            "sg" => (&[], 1, &["-c"]),
            "env" => (
                &[
                    "-u",
                    "-C",
                    "--unset",
                    "--chdir",
                    "-P",
                    "--split-string",
                    "-S",
                    "-a",
                    "--argv0",
                ],
                0,
                &[],
            ),
            "nice" => (&["-n", "--adjustment"], 0, &[]),
            "ionice" => (&["-c", "-n", "-p", "--class", "--classdata"], 0, &[]),
            "timeout" => (&["-s", "-k", "--signal", "--kill-after"], 1, &[]),
            "stdbuf" => (
                &["-i", "-o", "-e", "--input", "--output", "--error"],
                0,
                &[],
            ),
            "chroot" => (&["--userspec", "--groups"], 1, &[]),
            "flock" => (
                &["-w", "-E", "--timeout", "--conflict-exit-code"],
                1,
                &["-c", "--command"],
            ),
            "taskset" => (&[], 1, &[]),
            "chrt" => (&[], 1, &[]),
            "watch" => (
                &[
                    "-n",
                    "--interval",
                    "-d",
                    "--differences",
                    "-q",
                    "--equexit",
                    "-s",
                    "--shotsfirst",
                ],
                0,
                &[],
            ),
            "script" => (
                &[
                    "-E",
                    "--echo",
                    "-I",
                    "--log-in",
                    "-O",
                    "--log-out",
                    "-B",
                    "--log-io",
                    "-T",
                    "--log-timing",
                    "-m",
                    "--logging-format",
                    "-o",
                    "--output-limit",
                ],
                0,
                &["-c", "--command"],
            ),
            // `-i`, `-l`, `-e` take a value only joined to them (`-i{}`); `--replace=` too.
            "xargs" => (
                &[
                    "-I",
                    "-n",
                    "-P",
                    "-d",
                    "-L",
                    "-s",
                    "-E",
                    "-a",
                    "--max-args",
                    "--max-procs",
                    "--delimiter",
                    "--max-lines",
                    "--max-chars",
                    "--arg-file",
                    "--process-slot-var",
                ],
                0,
                &[],
            ),
            "parallel" => (
                &[
                    "-j",
                    "--jobs",
                    "-S",
                    "--sshlogin",
                    "--delay",
                    "--timeout",
                    "-a",
                    "--arg-file",
                    "-I",
                    "--colsep",
                    "-d",
                    "--delimiter",
                    "-n",
                    "--max-args",
                    "--joblog",
                    "--results",
                ],
                0,
                &[],
            ),
            "ssh" => (
                &[
                    "-p", "-i", "-l", "-o", "-F", "-J", "-L", "-R", "-D", "-b", "-c", "-E", "-e",
                    "-I", "-m", "-O", "-Q", "-S", "-W", "-w", "-B",
                ],
                1,
                &[],
            ),
            "systemd-run" => (
                &[
                    "-u",
                    "--unit",
                    "-p",
                    "--property",
                    "--description",
                    "--slice",
                    "-E",
                    "--setenv",
                    "-M",
                    "--machine",
                    "--uid",
                    "--gid",
                    "--nice",
                    "--working-directory",
                    "--on-active",
                    "--on-calendar",
                ],
                0,
                &[],
            ),
            "nsenter" | "unshare" => (
                &[
                    "-t", "--target", "-S", "--setuid", "-G", "--setgid", "--wd", "-w", "-r",
                    "--root",
                ],
                0,
                &[],
            ),
            "busybox" => (&[], 0, &[]),
            _ => (&[], 0, &[]),
        };
        let mut i = 0;
        let mut command_string: Option<&W> = None;
        let mut replace: Option<String> = None;
        let mut split_string: Option<&W> = None;
        while i < args.len() && is_option(&args[i]) {
            let a = &args[i];
            if a.text == "--" {
                i += 1;
                break;
            }
            if !a.known {
                self.hit(
                    ShellRule::UnknownCode,
                    format!("`{prog}` is given `{}`, known only when it runs", a.text),
                );
                return ActionClass::Destructive;
            }
            let (head, joined) = match a.text.split_once('=') {
                Some((h, v)) => (h, Some(v)),
                None => (a.text.as_str(), None),
            };
            // Short clusters ending in a command flag: `script -qc CMD`, `su -lc CMD`.
            let cluster_cmd = !a.text.starts_with("--")
                && command_opts
                    .iter()
                    .any(|c| c.len() == 2 && a.text[1..].ends_with(&c[1..]));
            if command_opts.contains(&head) || cluster_cmd {
                command_string = args.get(i + 1);
                i += 2;
                continue;
            }
            if prog == "env" && matches!(head, "-S" | "--split-string") {
                split_string = if joined.is_some() {
                    Some(a)
                } else {
                    args.get(i + 1)
                };
                break;
            }
            if prog == "env" && a.text.starts_with("-S") && a.text.len() > 2 {
                split_string = Some(a);
                break;
            }
            i += 1;
            let value = match joined {
                Some(v) => Some(v),
                None if with_value.contains(&head) => {
                    i += 1;
                    args.get(i - 1).map(|w| w.text.as_str())
                }
                None => None,
            };
            if prog == "env"
                && matches!(head, "-C" | "--chdir")
                && let Some(dir) = value
            {
                // Relative paths of the command start there: it must be in the workspace too.
                self.path(
                    &W {
                        text: dir.to_string(),
                        known: true,
                        ..W::default()
                    },
                    false,
                );
            }
            if prog == "xargs" {
                if head == "-I" {
                    replace = value.map(str::to_string);
                } else if let Some(r) = head.strip_prefix("-I").filter(|r| !r.is_empty()) {
                    replace = Some(r.to_string());
                } else if head == "--replace" || head.starts_with("-i") {
                    let joined =
                        joined.or_else(|| head.strip_prefix("-i").filter(|r| !r.is_empty()));
                    replace = Some(joined.unwrap_or("{}").to_string());
                }
            }
            if let Some(v) = value.filter(|v| v.contains(' ')) {
                // `ssh -o ProxyCommand='...'`, `sudo -D ...`: it may be a command.
                let v = v.to_string();
                self.deny_rules_of(&v, depth);
                if let Some((_, after)) = v.split_once('=') {
                    self.deny_rules_of(after, depth);
                }
            }
        }
        if let Some(s) = split_string {
            // `env -S 'sh -c "..."'`: the string is split into a command line.
            let text = s
                .text
                .strip_prefix("--split-string=")
                .or_else(|| s.text.strip_prefix("-S"))
                .filter(|_| s.text.starts_with('-'))
                .unwrap_or(&s.text);
            if !s.known {
                self.unknown_code(prog, s);
                return ActionClass::Destructive;
            }
            let inner = self.code_class(text, depth, stdin);
            return inner.max(floor);
        }
        if let Some(code) = command_string {
            if !code.known {
                self.unknown_code(prog, code);
                return ActionClass::Destructive;
            }
            let inner = self.code_class(&code.text, depth, Feed::Nothing);
            let class = if prog == "script" {
                // `script` writes a typescript file unless told where.
                inner.max(ActionClass::Write)
            } else {
                inner
            };
            return class.max(floor);
        }
        if prog == "env" {
            while i < args.len() && super::walk::assignment(&args[i].text).is_some() {
                let a = &args[i];
                if let Some((name, value)) = super::walk::assignment(&a.text) {
                    self.env_assignment(name, value, a.known);
                }
                i += 1;
            }
        }
        if prog == "flock"
            && let Some(lock) = args.get(i)
        {
            // flock creates its lock file.
            self.raise(ActionClass::Write, || {
                format!("`flock` creates `{}`", lock.text)
            });
            self.path(lock, true);
        }
        let floor = if prog == "flock" {
            floor.max(ActionClass::Write)
        } else {
            floor
        };
        i += positional;
        let rest: &[W] = if i < args.len() { &args[i..] } else { &[] };
        if rest.is_empty() {
            if matches!(prog, "sudo" | "su" | "doas" | "runuser" | "ssh") {
                // An interactive shell as someone else, or a login elsewhere.
                return ActionClass::Destructive;
            }
            if prog == "env" {
                self.hit(
                    ShellRule::CredentialRead,
                    "`env` without a command prints the whole environment, which holds credentials (name the variables with `printenv NAME`)".into(),
                );
                return ActionClass::Read;
            }
            return floor;
        }
        match prog {
            "ssh" | "watch" => {
                // The rest is joined into one command line and run by a shell (remote for ssh).
                if rest.iter().any(|w| !w.known) {
                    self.hit(
                        ShellRule::UnknownCode,
                        format!("`{prog}` runs a command known only when it runs"),
                    );
                    return ActionClass::Destructive;
                }
                let line: Vec<&str> = rest.iter().map(|w| w.text.as_str()).collect();
                let inner = self.code_class(&line.join(" "), depth, Feed::Nothing);
                inner.max(floor)
            }
            "xargs" | "parallel" => {
                // The command gets operands from the input, known only when it runs; with `-I R`
                // the input replaces R inside its words.
                let mut words = rest.to_vec();
                let replace = replace.or_else(|| (prog == "parallel").then(|| "{}".to_string()));
                if let Some(r) = replace.filter(|r| !r.is_empty()) {
                    for w in &mut words {
                        if w.text.contains(r.as_str()) {
                            w.known = false;
                        }
                    }
                }
                if prog == "parallel"
                    && let Some(p) = words.iter().position(|w| w.text.starts_with(":::"))
                {
                    words.truncate(p);
                }
                words.push(W {
                    text: "$input".into(),
                    known: false,
                    ..W::default()
                });
                let inner = self.judge(&words, Feed::Nothing, depth + 1);
                inner.max(floor)
            }
            _ => {
                let inner = self.judge(rest, stdin, depth + 1);
                inner.max(floor)
            }
        }
    }

    /// `nc -e`, `socat EXEC:`, `openssl s_client` and friends.
    pub(super) fn network_tool(&mut self, prog: &str, args: &[W]) {
        self.mark_network();
        if matches!(prog, "socat") {
            if args.iter().any(|a| {
                let l = a.text.to_ascii_lowercase();
                l.contains("exec:") || l.contains("system:")
            }) {
                self.hit(
                    ShellRule::ReverseShell,
                    "`socat` connecting a socket to a program".into(),
                );
            }
        } else if prog != "telnet"
            && prog != "openssl"
            && (has_short(args, 'e')
                || has_short(args, 'c')
                || args.iter().any(|a| {
                    a.text.starts_with("--exec")
                        || a.text.starts_with("--sh-exec")
                        || a.text.starts_with("--lua-exec")
                }))
        {
            self.hit(
                ShellRule::ReverseShell,
                format!("`{prog}` with a program to run on the connection"),
            );
        }
        self.raise(ActionClass::Destructive, || {
            format!("`{prog}` opens raw network connections")
        });
    }

    /// `rm`, `unlink`, `shred`.
    pub(super) fn remove(&mut self, prog: &str, args: &[W]) -> ActionClass {
        let recursive = has_short(args, 'r')
            || has_short(args, 'R')
            || args.iter().any(|a| a.text == "--recursive");
        if args.iter().any(|a| a.text == "--no-preserve-root") {
            self.hit(ShellRule::RmRoot, "`--no-preserve-root`".into());
        }
        let mut options_done = false;
        for a in args {
            if !options_done && a.known && a.text == "--" {
                options_done = true;
                continue;
            }
            if !options_done && a.known && is_option(a) {
                continue;
            }
            if !a.known {
                if recursive || prog == "shred" {
                    self.hit(
                        ShellRule::RmRoot,
                        format!(
                            "recursive delete of `{}`, known only when it runs (it may be `/` or `~`)",
                            a.text
                        ),
                    );
                }
                self.path(a, true);
                continue;
            }
            let p = a.text.as_str();
            if prog == "shred" && p.starts_with("/dev/") {
                self.hit(
                    ShellRule::DdDevice,
                    format!("`shred` overwrites the device `{p}`"),
                );
            }
            for target in rules::brace_expand(p) {
                if recursive && let Some(what) = root_target(&target) {
                    self.hit(
                        ShellRule::RmRoot,
                        format!("recursive delete of `{p}` ({what})"),
                    );
                }
            }
            self.path(a, true);
        }
        self.raise(ActionClass::Destructive, || {
            format!("`{prog}` deletes files")
        });
        ActionClass::Destructive
    }

    /// `dd if=... of=...`.
    pub(super) fn dd(&mut self, args: &[W]) -> ActionClass {
        for a in args {
            if let Some(of) = a.text.strip_prefix("of=") {
                if of.starts_with("/dev/") && !rules::safe_device(of) {
                    self.hit(
                        ShellRule::DdDevice,
                        format!("`dd` writes to the device `{of}`"),
                    );
                }
                self.path(
                    &W {
                        text: of.to_string(),
                        known: a.known,
                        ..W::default()
                    },
                    true,
                );
            } else if let Some(f) = a.text.strip_prefix("if=") {
                self.path(
                    &W {
                        text: f.to_string(),
                        known: a.known,
                        ..W::default()
                    },
                    false,
                );
            }
        }
        self.raise(ActionClass::Destructive, || "`dd` copies raw blocks".into());
        ActionClass::Destructive
    }

    /// Deny rules of `chmod`, `chown`, `chgrp` on roots.
    pub(super) fn chmod(&mut self, prog: &str, read: &ReadArgs) {
        let recursive = read.has("-R") || read.has("--recursive");
        let mut operands = read.operands.iter().map(|(_, o)| o.as_str());
        let mode = operands.next();
        let world = prog == "chmod" && mode.is_some_and(rules::world_writable);
        for p in operands {
            if (recursive || world)
                && let Some(what) = root_target(p)
            {
                self.hit(
                    ShellRule::ChmodRoot,
                    format!(
                        "`{prog}{}` on `{p}` ({what})",
                        if recursive { " -R" } else { "" }
                    ),
                );
            }
        }
    }

    /// `find PATHS PREDICATES`: reads, unless a predicate deletes, writes or runs a program.
    pub(super) fn find(&mut self, args: &[W], depth: usize) -> ActionClass {
        const VALUED: &[&str] = &[
            "-name",
            "-iname",
            "-path",
            "-ipath",
            "-wholename",
            "-iwholename",
            "-regex",
            "-iregex",
            "-type",
            "-xtype",
            "-maxdepth",
            "-mindepth",
            "-mtime",
            "-mmin",
            "-atime",
            "-amin",
            "-ctime",
            "-cmin",
            "-size",
            "-user",
            "-group",
            "-uid",
            "-gid",
            "-perm",
            "-links",
            "-inum",
            "-printf",
            "-lname",
            "-ilname",
            "-used",
            "-fstype",
            "-regextype",
            "-context",
            "-newermt",
            "-newerct",
            "-newerat",
            "-D",
            "-O",
        ];
        const PATH_VALUED: &[&str] = &["-newer", "-anewer", "-cnewer", "-samefile"];
        const FLAGS: &[&str] = &[
            "-print",
            "-print0",
            "-prune",
            "-o",
            "-or",
            "-a",
            "-and",
            "-not",
            "!",
            "(",
            ")",
            ",",
            "-empty",
            "-nouser",
            "-nogroup",
            "-readable",
            "-writable",
            "-executable",
            "-true",
            "-false",
            "-quit",
            "-depth",
            "-d",
            "-follow",
            "-xdev",
            "-mount",
            "-ls",
            "-noleaf",
            "-daystart",
            "-ignore_readdir_race",
            "-noignore_readdir_race",
            "-warn",
            "-nowarn",
            "-L",
            "-H",
            "-P",
        ];
        let mut class = ActionClass::Read;
        let mut i = 0;
        let mut starts: Vec<&W> = Vec::new();
        while i < args.len()
            && !args[i].text.starts_with('-')
            && !matches!(args[i].text.as_str(), "(" | "!" | ")")
        {
            starts.push(&args[i]);
            i += 1;
        }
        while i < args.len() && matches!(args[i].text.as_str(), "-L" | "-H" | "-P") {
            i += 1;
            while i < args.len()
                && !args[i].text.starts_with('-')
                && !matches!(args[i].text.as_str(), "(" | "!")
            {
                starts.push(&args[i]);
                i += 1;
            }
        }
        for s in &starts {
            self.path(s, false);
        }
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if !a.known {
                class = ActionClass::Destructive;
                self.raise(class, || {
                    format!("`find` is given `{}`, known only when it runs", a.text)
                });
                continue;
            }
            let t = a.text.as_str();
            if FLAGS.contains(&t) {
                continue;
            }
            if VALUED.contains(&t) || t.starts_with("-newer") {
                i += 1;
                continue;
            }
            if PATH_VALUED.contains(&t) {
                if let Some(v) = args.get(i) {
                    self.path(v, false);
                }
                i += 1;
                continue;
            }
            match t {
                "-delete" => {
                    class = ActionClass::Destructive;
                    self.raise(class, || "`find -delete` deletes files".into());
                    for s in &starts {
                        if s.known
                            && let Some(what) = root_target(&s.text)
                        {
                            self.hit(
                                ShellRule::RmRoot,
                                format!("`find {} -delete` ({what})", s.text),
                            );
                        }
                    }
                }
                "-fprint" | "-fprint0" | "-fls" | "-fprintf" => {
                    if let Some(v) = args.get(i) {
                        class = class.max(ActionClass::Write);
                        self.raise(ActionClass::Write, || {
                            format!("`find {t}` writes `{}`", v.text)
                        });
                        self.path(v, true);
                    }
                    i += if t == "-fprintf" { 2 } else { 1 };
                }
                "-exec" | "-execdir" | "-ok" | "-okdir" => {
                    let end = args[i..]
                        .iter()
                        .position(|w| w.text == ";" || w.text == "+")
                        .map_or(args.len(), |j| i + j);
                    let mut inner: Vec<W> = args[i..end]
                        .iter()
                        .map(|w| {
                            if w.text.contains("{}") {
                                W {
                                    text: w.text.replace("{}", "$found"),
                                    known: false,
                                    ..W::default()
                                }
                            } else {
                                w.clone()
                            }
                        })
                        .collect();
                    if !inner.iter().skip(1).any(|w| !w.known) {
                        inner.push(W {
                            text: "$found".into(),
                            known: false,
                            ..W::default()
                        });
                    }
                    let c = self.judge(&inner, Feed::Nothing, depth + 1);
                    class = class.max(c);
                    i = end + 1;
                }
                _ => {
                    class = ActionClass::Destructive;
                    self.raise(class, || format!("`find {t}` is not known to be a read"));
                }
            }
        }
        class
    }

    /// `sed`: in place (`-i`) is a write; the script's `e`, `w`, `r` commands and `s///e`, `s///w`
    /// flags run a program, write or read a file.
    pub(super) fn sed(&mut self, read: &ReadArgs, args: &[W]) -> ActionClass {
        let mut class = ActionClass::Read;
        let mut scripts: Vec<&W> = read
            .opts
            .iter()
            .filter(|o| o.name == "-e" || o.name == "--expression")
            .map(|o| &args[o.word])
            .collect();
        let from_file = read
            .opts
            .iter()
            .any(|o| o.name == "-f" || o.name == "--file");
        if from_file {
            class = ActionClass::Destructive;
            self.raise(class, || "`sed -f` runs a script file".into());
        }
        if scripts.is_empty()
            && !from_file
            && let Some((i, _)) = read.operands.first()
        {
            scripts.push(&args[*i]);
        }
        for s in scripts {
            if !s.known {
                class = ActionClass::Destructive;
                self.raise(class, || "`sed` script known only when it runs".into());
                continue;
            }
            let r = sed_script(&s.text);
            if r.exec {
                class = ActionClass::Destructive;
                self.hit(
                    ShellRule::UnknownCode,
                    "`sed` runs its input as commands (`e`)".into(),
                );
            }
            if r.unknown {
                class = ActionClass::Destructive;
                self.raise(class, || "`sed` script not known to be a read".into());
            }
            for p in r.writes {
                class = class.max(ActionClass::Write);
                self.raise(ActionClass::Write, || format!("`sed` writes `{p}`"));
                self.path(
                    &W {
                        text: p,
                        known: true,
                        ..W::default()
                    },
                    true,
                );
            }
            for p in r.reads {
                self.path(
                    &W {
                        text: p,
                        known: true,
                        ..W::default()
                    },
                    false,
                );
            }
        }
        class
    }

    /// `ip OBJECT [show|list|get]` reads; any other command changes the network.
    pub(super) fn ip(&mut self, args: &[W]) -> ActionClass {
        let spec = ProgramSpec::new(
            "read",
            "plain",
            "-4 -6 -0 -br -brief -j -json -p -pretty -s -stats -d -details -c -color? -o -oneline -h -human -r -resolve -a -all -N -n= -netns= -f= -family=",
        );
        let Ok(spec) = spec else {
            return ActionClass::Destructive;
        };
        let (mut class, read) = self.apply_spec("ip", &spec, None, args, 0);
        let ops: Vec<&str> = read.operands.iter().map(|(_, o)| o.as_str()).collect();
        let object = ops.first().copied().unwrap_or("");
        let known_object = matches!(
            object,
            "a" | "addr"
                | "address"
                | "l"
                | "link"
                | "r"
                | "ro"
                | "route"
                | "n"
                | "neigh"
                | "neighbor"
                | "neighbour"
                | "rule"
                | "ru"
                | "maddr"
                | "maddress"
                | "netns"
                | "tunnel"
                | "tuntap"
                | "mroute"
                | "ntable"
                | "-"
        );
        let verb = ops.get(1).copied();
        let reads = verb.is_none_or(|v| {
            matches!(
                v,
                "show" | "sh" | "list" | "lst" | "ls" | "l" | "get" | "dev"
            )
        });
        if !known_object || !reads {
            class = ActionClass::Destructive;
            self.raise(class, || {
                format!("`ip {}` changes the network configuration", ops.join(" "))
            });
        }
        class
    }

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

    fn mark_network(&mut self) {
        self.saw_netcat = true;
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

/// The quoted string literals in a piece of code (`'...'`, `"..."`), escapes kept.
pub(super) fn string_literals(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = code.chars();
    while let Some(c) = chars.next() {
        if c == '\'' || c == '"' {
            let mut s = String::new();
            let mut closed = false;
            while let Some(d) = chars.next() {
                if d == '\\' {
                    if let Some(e) = chars.next() {
                        s.push(e);
                    }
                    continue;
                }
                if d == c {
                    closed = true;
                    break;
                }
                s.push(d);
            }
            if closed && !s.is_empty() && out.len() < 64 {
                out.push(s);
            }
        }
    }
    out
}

/// What a sed script does beyond printing.
#[derive(Debug, Default)]
pub(super) struct SedEffects {
    pub exec: bool,
    pub unknown: bool,
    pub writes: Vec<String>,
    pub reads: Vec<String>,
}

/// Read a sed script command by command (GNU syntax). A command it does not know is `unknown`.
pub(super) fn sed_script(script: &str) -> SedEffects {
    let b: Vec<char> = script.chars().collect();
    let mut fx = SedEffects::default();
    let mut i = 0;
    let rest_of_line = |i: &mut usize| -> String {
        let start = *i;
        while *i < b.len() && b[*i] != '\n' {
            *i += 1;
        }
        b[start..*i].iter().collect::<String>().trim().to_string()
    };
    let skip_delimited = |i: &mut usize, delim: char| -> bool {
        while *i < b.len() {
            if b[*i] == '\\' {
                *i += 2;
                continue;
            }
            if b[*i] == delim {
                *i += 1;
                return true;
            }
            *i += 1;
        }
        false
    };
    let mut guard = 0;
    while i < b.len() {
        guard += 1;
        if guard > 100_000 {
            fx.unknown = true;
            break;
        }
        let c = b[i];
        if c.is_whitespace() || c == ';' || c == '{' || c == '}' || c == '!' {
            i += 1;
            continue;
        }
        // Addresses.
        if c.is_ascii_digit() || matches!(c, '$' | ',' | '~' | '+') {
            i += 1;
            continue;
        }
        if c == '/' {
            i += 1;
            if !skip_delimited(&mut i, '/') {
                fx.unknown = true;
                break;
            }
            while i < b.len() && matches!(b[i], 'I' | 'M') {
                i += 1;
            }
            continue;
        }
        if c == '\\' && i + 1 < b.len() {
            let d = b[i + 1];
            i += 2;
            if !skip_delimited(&mut i, d) {
                fx.unknown = true;
                break;
            }
            continue;
        }
        i += 1;
        match c {
            's' | 'y' => {
                let Some(&d) = b.get(i) else {
                    fx.unknown = true;
                    break;
                };
                i += 1;
                if !skip_delimited(&mut i, d) || !skip_delimited(&mut i, d) {
                    fx.unknown = true;
                    break;
                }
                if c == 's' {
                    while i < b.len() && !matches!(b[i], ';' | '\n' | '}') {
                        match b[i] {
                            'e' => fx.exec = true,
                            'w' => {
                                i += 1;
                                fx.writes.push(rest_of_line(&mut i));
                                break;
                            }
                            'g' | 'p' | 'i' | 'I' | 'm' | 'M' | ' ' => {}
                            d if d.is_ascii_digit() => {}
                            _ => fx.unknown = true,
                        }
                        i += 1;
                    }
                }
            }
            'e' => {
                fx.exec = true;
                let _ = rest_of_line(&mut i);
            }
            'w' | 'W' => fx.writes.push(rest_of_line(&mut i)),
            'r' | 'R' => fx.reads.push(rest_of_line(&mut i)),
            'a' | 'i' | 'c' => {
                let _ = rest_of_line(&mut i);
            }
            ':' | 'b' | 't' | 'T' => {
                while i < b.len() && !matches!(b[i], ';' | '\n') {
                    i += 1;
                }
            }
            '#' => {
                let _ = rest_of_line(&mut i);
            }
            'q' | 'Q' | 'l' | 'L' => {
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == ' ') {
                    i += 1;
                }
            }
            '=' | 'd' | 'D' | 'g' | 'G' | 'h' | 'H' | 'n' | 'N' | 'p' | 'P' | 'x' | 'z' | 'F' => {}
            _ => fx.unknown = true,
        }
    }
    fx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sed_scripts() {
        assert!(!sed_script("s/a/b/g").exec);
        assert!(sed_script("s/a/b/e").exec);
        assert!(sed_script("1e id").exec);
        assert_eq!(sed_script("s/x/y/w /tmp/o").writes, vec!["/tmp/o"]);
        assert_eq!(sed_script("/re/w out.txt").writes, vec!["out.txt"]);
        assert_eq!(sed_script("r /etc/passwd").reads, vec!["/etc/passwd"]);
        let fx = sed_script("/^#/d;s|a/b|c|;10q");
        assert!(!fx.exec && !fx.unknown && fx.writes.is_empty());
        assert!(sed_script("s/a/b/Z").unknown);
        assert!(sed_script("s/a").unknown);
    }

    #[test]
    fn literals() {
        assert_eq!(
            string_literals(r#"import os; os.system("rm -rf /") ; x='a\'b'"#),
            vec!["rm -rf /", "a'b"]
        );
    }
}
