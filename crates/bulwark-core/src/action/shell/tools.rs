//! Tools whose arguments are a small language of their own: `find` predicates, `sed` scripts, `ip`
//! objects and commands. Each is a read unless what it is told to do deletes, writes or runs.

use super::ShellRule;
use super::rules::root_target;
use super::spec::{ProgramSpec, ReadArgs};
use super::walk::{Feed, W, Walk};
use crate::action::classes::ActionClass;

impl Walk<'_> {
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
}
