//! Wrappers: `sudo`, `env`, `timeout`, `xargs`, `ssh`, `busybox` and the other programs that run
//! a command after their own options. The wrapped command is judged as if it ran by itself, at no
//! lower a class than the wrapper gives it.

use super::*;

impl Walk<'_> {
    /// Wrappers run the command after their own options.
    pub(in crate::action::shell) fn wrapper(
        &mut self,
        prog: &str,
        args: &[W],
        stdin: Feed,
        depth: usize,
    ) -> ActionClass {
        let privileged = crate::action::shell::walk::PRIVILEGED_WRAPPERS.contains(&prog);
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
            while i < args.len() && crate::action::shell::walk::assignment(&args[i].text).is_some()
            {
                let a = &args[i];
                if let Some((name, value)) = crate::action::shell::walk::assignment(&a.text) {
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
}
