//! Deny rules on programs that reach the network, delete trees, write devices or change
//! permissions.

use super::*;

impl Walk<'_> {
    /// `nc -e`, `socat EXEC:`, `openssl s_client` and friends.
    pub(in crate::action::shell) fn network_tool(&mut self, prog: &str, args: &[W]) {
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
    pub(in crate::action::shell) fn remove(&mut self, prog: &str, args: &[W]) -> ActionClass {
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
    pub(in crate::action::shell) fn dd(&mut self, args: &[W]) -> ActionClass {
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
    pub(in crate::action::shell) fn chmod(&mut self, prog: &str, read: &ReadArgs) {
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
