//! Programs judged by more than their options: shells, interpreters and `awk` (here), wrappers
//! (`wrapper`: programs that run the command after their own options), and deletes, devices,
//! permissions and network tools (`deny`: the deny rules). `find`, `sed` and `ip` are in
//! [`super::tools`], the cloud CLIs in [`super::cloud`].

use super::ShellRule;
use super::rules::{self, basename, has_short, root_target};
use super::spec::ReadArgs;
use super::walk::{Feed, SHELLS, W, Walk};
use crate::action::classes::ActionClass;

mod deny;
mod wrapper;

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
