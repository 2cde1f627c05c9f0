//! Walking a parsed command line: each simple command is judged by its program, with what feeds
//! its standard input.

use super::parse::{self, Command, Script, Simple, Word};
use super::rules::{self, basename, credential_path, home_form};
use super::{MAX_REASONS, ShellHit, ShellReport, ShellRule, ShellScreen, table};
use crate::action::classes::ActionClass;

pub(super) const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "rbash", "yash",
];
pub(super) const INTERPRETERS: &[&str] = &[
    "python",
    "python2",
    "python3",
    "pypy",
    "pypy3",
    "perl",
    "ruby",
    "node",
    "nodejs",
    "deno",
    "bun",
    "php",
    "lua",
    "luajit",
    "pwsh",
    "powershell",
    "osascript",
    "tclsh",
    "wish",
    "expect",
    "Rscript",
    "julia",
    "groovy",
    "jshell",
    "irb",
    "erl",
    "escript",
    "guile",
    "racket",
];
const DOWNLOADERS: &[&str] = &[
    "curl",
    "wget",
    "fetch",
    "aria2c",
    "http",
    "https",
    "xh",
    "lwp-request",
    "GET",
    "nc",
    "ncat",
    "netcat",
    "nc.traditional",
    "nc.openbsd",
    "telnet",
    "socat",
    "ftp",
    "tftp",
    "openssl",
    "ssh",
    "scp",
    "rsync",
    "s_client",
];
const NETCATS: &[&str] = &["nc", "ncat", "netcat", "nc.traditional", "nc.openbsd"];
/// Directories whose programs are the system's: `/usr/bin/ls` is `ls`, `./ls` is not.
const SYSTEM_DIRS: &[&str] = &[
    "/bin/",
    "/usr/bin/",
    "/usr/local/bin/",
    "/sbin/",
    "/usr/sbin/",
    "/usr/local/sbin/",
];
/// Programs that run their arguments as a command line with another identity or elsewhere.
pub(super) const PRIVILEGED_WRAPPERS: &[&str] = &[
    "sudo",
    "doas",
    "su",
    "runuser",
    "pkexec",
    "chroot",
    "nsenter",
    "unshare",
    "ssh",
    "systemd-run",
    "sg",
    "setpriv",
    "capsh",
    "firejail",
    "bwrap",
];
/// Programs that only run one command given them, changing nothing it can do.
const TRANSPARENT_WRAPPERS: &[&str] = &[
    "nice",
    "timeout",
    "time",
    "nohup",
    "setsid",
    "stdbuf",
    "ionice",
    "command",
    "builtin",
    "exec",
    "env",
    "busybox",
    "flock",
    "taskset",
    "chrt",
    "unbuffer",
    "caffeinate",
    "torsocks",
    "proxychains",
    "proxychains4",
    "watch",
    "script",
    "xargs",
    "parallel",
    "then",
    "do",
    "else",
    "!",
    "{",
    "if",
    "while",
    "until",
];

/// What feeds a command's standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Feed {
    /// Nothing known to the screen (the tool's own input).
    Nothing,
    /// Text known before it runs (`echo`, here-strings, here-documents).
    Text(String),
    /// What a network program downloads.
    Download(String),
    /// What a decoder decodes.
    Decoded(String),
    /// A file's content.
    File(String),
    /// Output known only when it runs.
    Unknown,
}

/// A word as the screen sees it: its text, with `$HOME` resolved, and whether it is known.
#[derive(Debug, Clone, Default)]
pub(super) struct W {
    pub text: String,
    pub known: bool,
    /// A network program whose output makes the word (`<(curl ...)`, `"$(wget ...)"`).
    pub download: Option<String>,
    /// A decoder whose output makes the word (`"$(echo ... | base64 -d)"`).
    pub decoded: Option<String>,
}

impl AsRef<str> for W {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

/// A word's value before it runs, when it can be known: static text, or `$HOME`/`${HOME}`
/// followed by static text (`~` then).
pub(super) fn resolve(w: &Word) -> W {
    if !w.dynamic {
        return W {
            text: w.text.clone(),
            known: true,
            ..W::default()
        };
    }
    let t = home_anywhere(&w.text);
    let known = w.nested.is_empty() && !t.contains('$') && !t.contains('`') && t != w.text;
    W {
        text: t,
        known,
        download: w.nested.iter().find_map(first_downloader),
        decoded: w.nested.iter().find_map(first_decoder),
    }
}

/// `$HOME` and `${HOME}` anywhere in a word (`-o$HOME/.bashrc`) as `~`.
fn home_anywhere(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("${HOME}") {
            out.push('~');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("$HOME")
            && !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            out.push('~');
            rest = after;
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

pub(super) struct Walk<'a> {
    pub screen: &'a ShellScreen,
    pub report: ShellReport,
    saw_mkfifo: bool,
    pub saw_netcat: bool,
}

impl<'a> Walk<'a> {
    pub fn new(screen: &'a ShellScreen) -> Walk<'a> {
        Walk {
            screen,
            report: ShellScreen::empty_report(),
            saw_mkfifo: false,
            saw_netcat: false,
        }
    }

    pub fn finish(mut self) -> ShellReport {
        if self.saw_mkfifo && self.saw_netcat {
            self.hit(
                ShellRule::ReverseShell,
                "a named pipe (mkfifo) together with a network tool: the shape of a reverse shell"
                    .into(),
            );
        }
        if self
            .report
            .hits
            .iter()
            .any(|h| h.rule == ShellRule::Unparsable)
        {
            self.report.class = ActionClass::Destructive;
        }
        self.report
    }

    pub fn hit(&mut self, rule: ShellRule, message: String) {
        if !self
            .report
            .hits
            .iter()
            .any(|h| h.rule == rule && h.message == message)
        {
            self.report.hits.push(ShellHit { rule, message });
        }
    }

    /// Raise the class, with the reason.
    pub fn raise(&mut self, c: ActionClass, why: impl FnOnce() -> String) {
        if c > ActionClass::Read && self.report.reasons.len() < MAX_REASONS {
            let why = why();
            if !self.report.reasons.contains(&why) {
                self.report.reasons.push(why);
            }
        }
        self.report.class = self.report.class.max(c);
    }

    pub fn path(&mut self, w: &W, write: bool) {
        if !w.known {
            if !self.report.unresolved.contains(&w.text) {
                self.report.unresolved.push(w.text.clone());
            }
            return;
        }
        let t = w.text.as_str();
        if t.is_empty() || t == "-" || t.contains("://") || rules::safe_device(t) {
            return;
        }
        if let Some(p) = rules::credential_glob(t)
            && !self.credential_allowed(t)
        {
            self.hit(
                ShellRule::CredentialRead,
                format!("`{t}` can match `{p}`, which holds credentials"),
            );
        }
        if write
            && (t.contains(".git/hooks")
                || t.ends_with(".git/config")
                || t.contains(".git/config "))
        {
            self.raise(ActionClass::Destructive, || {
                format!("writing `{t}` makes git run programs")
            });
        }
        for p in rules::brace_expand(t) {
            if p != t
                && let Some(c) = credential_path(&p)
                && !self.credential_allowed(&p)
            {
                self.hit(
                    ShellRule::CredentialRead,
                    format!("`{t}` expands to `{c}`, which holds credentials"),
                );
            }
            self.report.paths.push((rules::glob_as_path(&p), write));
        }
    }

    fn credential_allowed(&self, text: &str) -> bool {
        let t = home_form(text);
        let value = t.rsplit('=').next().unwrap_or(&t);
        self.screen
            .credentials_allow
            .iter()
            .any(|a| a == value || home_form(a) == value)
    }

    pub fn script(&mut self, s: &Script, depth: usize, feed: Feed) {
        for p in &s.pipelines {
            let mut input = feed.clone();
            for c in &p.commands {
                input = match c {
                    Command::Subshell(inner) => {
                        self.script(inner, depth + 1, input);
                        Feed::Unknown
                    }
                    Command::Simple(simple) => self.simple(simple, depth, input),
                };
            }
        }
    }

    /// Screen code a shell runs, and return its class alone (the report keeps the maximum).
    pub fn code_class(&mut self, source: &str, depth: usize, feed: Feed) -> ActionClass {
        let before = self.report.class;
        self.report.class = ActionClass::Read;
        self.nested_source(source, depth, feed);
        let inner = self.report.class;
        self.report.class = before.max(inner);
        inner
    }

    /// Screen code given as text (an `sh -c` string, a here-document, `eval`'s words).
    pub fn nested_source(&mut self, source: &str, depth: usize, feed: Feed) {
        match parse::parse_at_depth(source, depth + 1) {
            Ok(s) => self.script(&s, depth + 1, feed),
            Err(e) => self.hit(ShellRule::Unparsable, e.to_string()),
        }
        if let Some(m) = rules::fork_bomb(source) {
            self.hit(ShellRule::ForkBomb, m);
        }
    }

    /// Judge one simple command; returns what its output feeds the next stage.
    pub fn simple(&mut self, simple: &Simple, depth: usize, stdin: Feed) -> Feed {
        // What runs to build the words runs first.
        for w in simple
            .words
            .iter()
            .chain(simple.redirects.iter().map(|r| &r.target))
        {
            let feed = if w.text.starts_with(">(") {
                Feed::Unknown
            } else {
                Feed::Nothing
            };
            for n in &w.nested {
                self.script(n, depth + 1, feed.clone());
            }
        }
        for w in &simple.words {
            let r = resolve(w);
            if r.text.contains("/dev/tcp/") || r.text.contains("/dev/udp/") {
                self.hit(
                    ShellRule::ReverseShell,
                    format!("`{}` opens a network socket as a file", r.text),
                );
            }
            self.credential_word(&r.text);
        }
        let mut stdin = stdin;
        for r in &simple.redirects {
            let target = resolve(&r.target);
            let t = target.text.as_str();
            if t.contains("/dev/tcp/") || t.contains("/dev/udp/") {
                self.hit(
                    ShellRule::ReverseShell,
                    format!("redirection to `{t}`, a network socket"),
                );
            }
            self.credential_word(t);
            match r.op.as_str() {
                "<<" | "<<-" => continue,
                "<<<" => {
                    stdin = if target.known {
                        Feed::Text(target.text.clone())
                    } else if let Some(d) = r.target.nested.iter().find_map(first_downloader) {
                        Feed::Download(d)
                    } else {
                        Feed::Unknown
                    };
                    continue;
                }
                // `>&2`, `<&0`, `>&-`: descriptors. `>& FILE` (bash) writes FILE.
                op if op.ends_with('&')
                    && (t.bytes().all(|b| b.is_ascii_digit() || b == b'-') || op != ">&") =>
                {
                    continue;
                }
                _ => {}
            }
            let writes = r.op.contains('>');
            if t.starts_with("/dev/") && target.known {
                if writes && rules::block_device(t) {
                    self.hit(
                        ShellRule::DdDevice,
                        format!("output redirected to the device `{t}`"),
                    );
                }
                if rules::safe_device(t) {
                    continue;
                }
            }
            if writes {
                self.raise(ActionClass::Write, || {
                    format!("output redirected to the file `{t}`")
                });
            } else {
                stdin = Feed::File(t.to_string());
            }
            self.path(&target, writes);
        }
        for body in &simple.heredocs {
            if body.contains('$') || body.contains('`') {
                // An unquoted delimiter expands the body as a double-quoted string does.
                self.raise(ActionClass::Write, || {
                    "a here-document with expansions".into()
                });
                let quoted = format!(": \"{}\"", body.replace('"', "\\\""));
                self.deny_rules_of(&quoted, depth);
            }
        }
        if let Some(body) = simple.heredocs.last() {
            stdin = Feed::Text(body.clone());
        }
        // Leading assignments.
        let mut words: Vec<(W, &Word)> = simple.words.iter().map(|w| (resolve(w), w)).collect();
        let mut assigned = 0;
        while let Some((w, raw)) = words.get(assigned) {
            let Some((name, value)) = assignment(&raw.text) else {
                break;
            };
            self.env_assignment(name, value, w.known);
            assigned += 1;
        }
        words.drain(..assigned);
        if words.is_empty() {
            if assigned > 0 {
                self.raise(ActionClass::Write, || "sets a shell variable".into());
            }
            return Feed::Nothing;
        }
        let ws: Vec<W> = words.iter().map(|(w, _)| w.clone()).collect();
        let first = &ws[0];
        let out = output_of(&ws, &stdin);
        let before = self.report.hits.len();
        let saved_class = self.report.class;
        let saved_reasons = self.report.reasons.len();
        let saved_unknown = self.report.unknown_programs.len();
        self.report.class = ActionClass::Read;
        let class = self.judge(&ws, stdin, depth);
        let inner = self.report.class.max(class);
        let joined: Vec<&str> = ws.iter().map(|w| w.text.as_str()).collect();
        let allowed_by_config = ws.iter().all(|w| w.known)
            && self.screen.allow.is_match(joined.join(" "))
            && self.report.hits.len() == before;
        if allowed_by_config {
            // `[action.shell] allow` names this command a read; its paths are still checked.
            self.report.class = saved_class;
            self.report.reasons.truncate(saved_reasons);
            self.report.unknown_programs.truncate(saved_unknown);
        } else {
            self.report.class = saved_class.max(inner);
            self.raise(class, || {
                format!("`{}` is {}", basename(&first.text), class.as_str())
            });
        }
        out
    }

    fn credential_word(&mut self, text: &str) {
        if let Some(p) = credential_path(text)
            && !self.credential_allowed(text)
        {
            self.hit(
                ShellRule::CredentialRead,
                format!("`{p}` holds credentials"),
            );
        }
    }

    /// `NAME=value` before a command, as `export NAME=value`, or in an argv tool's `env`.
    pub fn env_assignment(&mut self, name: &str, value: &str, known: bool) {
        let pager = matches!(
            name,
            "PAGER" | "GIT_PAGER" | "MANPAGER" | "AWS_PAGER" | "SYSTEMD_PAGER" | "BAT_PAGER"
        );
        if table::SAFE_ENV.contains(&name) && known || pager && known && matches!(value, "" | "cat")
        {
            return;
        }
        if !known {
            self.raise(ActionClass::Write, || {
                format!("`{name}` is set to a value known only when it runs")
            });
        } else if value.contains(' ') {
            // It may be a command the program runs (`GIT_SSH_COMMAND='rm -rf ~'`).
            self.deny_rules_of(value, 0);
        }
        self.raise(ActionClass::Destructive, || {
            format!("the environment variable `{name}` may change what a program runs (only locale, time zone and terminal settings are known to be safe)")
        });
    }

    /// Judge a command's words (assignments removed); returns its class.
    pub fn judge(&mut self, ws: &[W], stdin: Feed, depth: usize) -> ActionClass {
        let Some(first) = ws.first() else {
            return ActionClass::Read;
        };
        if !first.known {
            self.hit(
                ShellRule::UnknownCode,
                format!("the program `{}` is known only when it runs", first.text),
            );
            return ActionClass::Destructive;
        }
        if depth > 4 * parse::MAX_DEPTH {
            self.hit(
                ShellRule::Unparsable,
                format!(
                    "commands wrapped more than {} levels deep",
                    4 * parse::MAX_DEPTH
                ),
            );
            return ActionClass::Destructive;
        }
        if !matches!(first.text.as_str(), "[" | "[[")
            && (first.text.contains(['*', '?', '[']) || rules::brace_expand(&first.text).len() > 1)
        {
            self.hit(
                ShellRule::UnknownCode,
                format!(
                    "the program `{}` is a pattern: what runs is known only when it is expanded",
                    first.text
                ),
            );
            return ActionClass::Destructive;
        }
        let prog = basename(&first.text);
        let args = &ws[1..];
        if first.text.contains('/') && !SYSTEM_DIRS.iter().any(|d| first.text.starts_with(d)) {
            self.unknown_program(&first.text, args, depth);
            return ActionClass::Destructive;
        }
        if matches!(
            prog,
            "}" | "fi" | "done" | "esac" | "{" | "then" | "do" | "else"
        ) && args.is_empty()
        {
            return ActionClass::Read;
        }
        if SHELLS.contains(&prog) {
            return self.shell(prog, args, stdin, depth);
        }
        if INTERPRETERS.contains(&prog) {
            return self.interpreter(prog, args, stdin, depth);
        }
        if matches!(prog, "awk" | "gawk" | "mawk" | "nawk") {
            return self.awk(prog, args, depth);
        }
        match prog {
            "eval" => {
                if args.iter().all(|a| a.known) {
                    let code: Vec<&str> = args.iter().map(|a| a.text.as_str()).collect();
                    self.nested_source(&code.join(" "), depth, Feed::Nothing);
                    return ActionClass::Destructive;
                }
                if let Some(code) = args.iter().find(|a| !a.known) {
                    self.unknown_code(prog, code);
                }
                return ActionClass::Destructive;
            }
            "source" | "." => {
                match args.first() {
                    Some(a) if a.text == "/dev/stdin" || a.text == "-" => {
                        self.code_from(prog, &stdin);
                    }
                    Some(a) if !a.known => self.unknown_code(prog, a),
                    Some(a) => self.path(a, false),
                    None => {}
                }
                return ActionClass::Destructive;
            }
            "command"
                if args
                    .first()
                    .is_some_and(|a| a.text == "-v" || a.text == "-V") => {}
            "exec" if args.is_empty() => return ActionClass::Read,
            _ => {}
        }
        if PRIVILEGED_WRAPPERS.contains(&prog) || TRANSPARENT_WRAPPERS.contains(&prog) {
            return self.wrapper(prog, args, stdin, depth);
        }
        if prog.starts_with("mkfs")
            || matches!(
                prog,
                "mke2fs"
                    | "mkswap"
                    | "wipefs"
                    | "mkdosfs"
                    | "mkntfs"
                    | "newfs"
                    | "fdisk"
                    | "sfdisk"
                    | "parted"
                    | "sgdisk"
            )
        {
            self.hit(
                ShellRule::Mkfs,
                format!("`{prog}` makes or wipes a filesystem"),
            );
            return ActionClass::Destructive;
        }
        if NETCATS.contains(&prog) || matches!(prog, "socat" | "telnet" | "openssl") {
            self.network_tool(prog, args);
            return ActionClass::Destructive;
        }
        match prog {
            "rm" | "unlink" | "shred" | "srm" => return self.remove(prog, args),
            "dd" => return self.dd(args),
            "mkfifo" => {
                self.saw_mkfifo = true;
                return ActionClass::Write;
            }
            "mknod" => {
                if args.iter().any(|a| a.text == "p") {
                    self.saw_mkfifo = true;
                }
                return ActionClass::Destructive;
            }
            "find" => return self.find(args, depth),
            "aws" => return self.aws(args),
            "gcloud" => return self.gcloud(args),
            "az" => return self.az(args),
            "ip" => return self.ip(args),
            "service" => {
                let verb = args.get(1).map(|a| a.text.as_str());
                if args.len() == 2 && args.iter().all(|a| a.known) && verb == Some("status") {
                    return ActionClass::Read;
                }
                return ActionClass::Destructive;
            }
            _ => {}
        }
        if self.screen.heads.contains(prog) {
            return self.subcommand(prog, args, depth);
        }
        let Some(spec) = self.screen.programs.get(prog) else {
            self.unknown_program(prog, args, depth);
            return ActionClass::Destructive;
        };
        let (class, read) = self.apply_spec(prog, spec, None, args, depth);
        self.after_spec(prog, &read, args, class)
    }

    /// Apply the deny rules to text that may be a command line, without letting it change the
    /// class (the caller has already counted it destructive).
    pub fn deny_rules_of(&mut self, text: &str, depth: usize) {
        if depth >= parse::MAX_DEPTH {
            return;
        }
        let text = text.trim_start_matches('|');
        if let Ok(script) = parse::parse_at_depth(text, depth + 1) {
            let class = self.report.class;
            let reasons = self.report.reasons.len();
            let paths = self.report.paths.len();
            let unresolved = self.report.unresolved.len();
            self.script(&script, depth + 1, Feed::Nothing);
            self.report.class = class.max(ActionClass::Destructive);
            self.report.reasons.truncate(reasons.max(1));
            self.report.paths.truncate(paths);
            self.report.unresolved.truncate(unresolved);
        }
    }

    /// Code that reaches a shell or interpreter on its standard input.
    pub fn code_from(&mut self, prog: &str, feed: &Feed) {
        match feed {
            Feed::Text(t) => self.nested_source(t, 0, Feed::Nothing),
            Feed::Download(d) => self.hit(
                ShellRule::PipeToShell,
                format!("`{d}` output is downloaded and run by `{prog}`"),
            ),
            Feed::Decoded(d) => self.hit(
                ShellRule::DecodeToShell,
                format!("`{d}` output is decoded and run by `{prog}`"),
            ),
            Feed::File(_) => {}
            Feed::Unknown | Feed::Nothing => self.hit(
                ShellRule::UnknownCode,
                format!("`{prog}` runs code from its input, known only when it runs"),
            ),
        }
    }

    /// A program the table does not know: destructive; its arguments are still searched for a
    /// command it may run (`pkexec rm -rf /`).
    pub fn unknown_program(&mut self, prog: &str, args: &[W], depth: usize) {
        if !self.report.unknown_programs.iter().any(|u| u == prog) {
            self.report.unknown_programs.push(prog.to_string());
        }
        self.raise(ActionClass::Destructive, || {
            format!("`{prog}` is not a known program")
        });
        if depth > parse::MAX_DEPTH {
            return;
        }
        for (i, a) in args.iter().enumerate() {
            if !a.known {
                continue;
            }
            let name = basename(&a.text);
            let known = self.screen.programs.contains_key(name)
                || SHELLS.contains(&name)
                || INTERPRETERS.contains(&name)
                || matches!(name, "rm" | "dd" | "shred" | "eval" | "nc" | "socat")
                || name.starts_with("mkfs");
            if known && !a.text.starts_with('-') {
                let before = self.report.class;
                let reasons = self.report.reasons.len();
                self.judge(&args[i..], Feed::Nothing, depth + 1);
                self.report.class = before.max(ActionClass::Destructive);
                self.report.reasons.truncate(reasons.max(1));
                break;
            }
            if a.text.contains(' ') {
                // It may be a command (`trap 'rm -rf /' EXIT`, `alias ls='rm -rf /'`).
                self.deny_rules_of(&a.text, depth);
                if let Some((_, after)) = a.text.split_once('=') {
                    self.deny_rules_of(after, depth);
                }
            }
        }
    }
}

/// `NAME=value` (a valid shell name before `=`).
pub(super) fn assignment(text: &str) -> Option<(&str, &str)> {
    let (name, value) = text.split_once('=')?;
    (!name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit())
    .then_some((name, value))
}

/// What a command's output is, for the next stage of a pipeline.
fn output_of(ws: &[W], input: &Feed) -> Feed {
    let Some(first) = ws.first() else {
        return Feed::Nothing;
    };
    let prog = basename(&first.text);
    let args = &ws[1..];
    let texts: Vec<&str> = ws.iter().map(|w| w.text.as_str()).collect();
    if matches!(prog, "echo" | "printf") && ws.iter().all(|w| w.known) {
        let body: Vec<&str> = args
            .iter()
            .map(|a| a.text.as_str())
            .skip_while(|a| prog == "echo" && matches!(*a, "-n" | "-e" | "-E"))
            .collect();
        return Feed::Text(body.join(" "));
    }
    if DOWNLOADERS.contains(&prog) {
        return Feed::Download(prog.to_string());
    }
    // Programs that pass their input through: `tee`, `cat` without files, `stdbuf`, `pv`.
    let operands = args.iter().filter(|a| !a.text.starts_with('-')).count();
    if prog == "tee" || (matches!(prog, "cat" | "pv" | "buffer") && operands == 0) {
        return input.clone();
    }
    if rules::decodes(&texts) {
        return Feed::Decoded(prog.to_string());
    }
    Feed::Unknown
}

/// The first network program in a script (for `bash <<< "$(curl ...)"`).
pub(super) fn first_downloader(s: &Script) -> Option<String> {
    for p in &s.pipelines {
        for c in &p.commands {
            match c {
                Command::Simple(simple) => {
                    let prog = simple
                        .words
                        .iter()
                        .map(|w| w.text.as_str())
                        .find(|w| assignment(w).is_none())
                        .map(basename);
                    if let Some(prog) = prog
                        && DOWNLOADERS.contains(&prog)
                    {
                        return Some(prog.to_string());
                    }
                    for w in &simple.words {
                        for n in &w.nested {
                            if let Some(d) = first_downloader(n) {
                                return Some(d);
                            }
                        }
                    }
                }
                Command::Subshell(inner) => {
                    if let Some(d) = first_downloader(inner) {
                        return Some(d);
                    }
                }
            }
        }
    }
    None
}

/// The first decoder in a script (for `bash -c "$(echo ... | base64 -d)"`).
pub(super) fn first_decoder(s: &Script) -> Option<String> {
    for p in &s.pipelines {
        for c in &p.commands {
            if let Command::Simple(simple) = c {
                let words: Vec<&str> = simple.words.iter().map(|w| w.text.as_str()).collect();
                if rules::decodes(&words) {
                    return words.first().map(|w| basename(w).to_string());
                }
            }
        }
    }
    None
}
