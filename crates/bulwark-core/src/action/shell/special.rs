//! Programs judged by more than their options: shells, interpreters, `awk` and wrappers (which run
//! other programs), and deletes, devices and permissions (deny rules). `find`, `sed` and `ip` are in
//! [`super::tools`], the cloud CLIs in [`super::cloud`].

use super::ShellRule;
use super::rules::{self, basename, has_short, root_target};
use super::spec::ReadArgs;
use super::walk::{Feed, SHELLS, W, Walk};
use crate::action::classes::ActionClass;

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

    fn mark_network(&mut self) {
        self.saw_netcat = true;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(
            string_literals(r#"import os; os.system("rm -rf /") ; x='a\'b'"#),
            vec!["rm -rf /", "a'b"]
        );
    }
}
