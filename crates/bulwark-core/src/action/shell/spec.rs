//! What a known program may be given and still be what its table says it is.
//!
//! A [`ProgramSpec`] lists, for one program (or one subcommand, `git log`), every option it may
//! take, which options take values and what each value is: a plain value, a path to confine, a
//! path the program writes, or a program it runs. [`ProgramSpec::read_args`] reads a command's
//! arguments against it the way getopt does (short clusters `-la`, joined values `-n5`, `-t/dir`,
//! `--opt=value`, `--` ends options) and reports what it could not place: an option the spec does
//! not list is never assumed harmless.
//!
//! Specs are written in a small language, the same in the built-in table and in
//! `[action.shell.programs]`:
//!
//! | token | meaning |
//! |---|---|
//! | `-a`, `--all` | a flag |
//! | `-n=`, `--lines=` | takes a plain value (`-n 5`, `-n5`, `--lines=5`) |
//! | `-f=path`, `--file=path` | takes a path that is read |
//! | `-o=wpath` | takes a path that is written (the command is at least `write`) |
//! | `-P=prog` | takes a program that it runs (the command is `destructive`) |
//! | `-e=pat` | takes the pattern (so every operand is a file) |
//! | `-f=pfile` | takes a file holding the pattern (a path it reads; every operand is a file) |
//! | `--color?` | takes a value only when joined with `=` |
//! | `--arg=2` | takes two plain values |
//! | `--rawfile=2path` | takes a name and a path it reads |
//! | `-#` | numeric options (`-20`) |

use std::collections::HashMap;

use super::super::classes::ActionClass;

/// What an option's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A plain value: nothing to confine.
    Plain,
    /// The pattern of a search program: its operands are then all files.
    Pattern,
    /// A file holding the pattern (`grep -f FILE`): a path it reads, and its operands are files.
    PatternFile,
    /// A path the program reads.
    Path,
    /// A path the program writes.
    WritePath,
    /// A program the program runs.
    Program,
    /// Two plain values (`jq --arg name value`).
    Two,
    /// A name and a path it reads (`jq --rawfile name FILE`).
    TwoPath,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OptSpec {
    value: Option<ValueKind>,
    /// The value may only be joined (`--color=auto`), never the next word.
    optional: bool,
}

/// What a command's operands (non-option words) are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operands {
    /// Files it reads.
    Paths,
    /// Files it writes.
    WritePaths,
    /// Files it reads, and the last one it writes (`cp a b`, unless a `=wpath` option names it).
    Copy,
    /// An input file it reads, then an output file it writes (`uniq in out`).
    InOut,
    /// Plain values (names, revisions, expressions).
    Plain,
    /// A pattern, then files (unless a `=pat` option gave the pattern).
    Pattern,
    /// Plain values only with a listing option (`git branch --list x`); otherwise they make the
    /// command a `write` (`git branch x` creates a branch).
    ListOnly,
    /// None: an operand makes the command `destructive` (`hostname x` sets the host name).
    None,
}

/// A program's (or subcommand's) options and operands in the mode its class names.
#[derive(Debug, Clone)]
pub struct ProgramSpec {
    /// The class of a command that uses only what the spec lists.
    pub class: ActionClass,
    /// What the operands are.
    pub operands: Operands,
    short: HashMap<char, OptSpec>,
    long: HashMap<String, OptSpec>,
    numeric: bool,
    /// Options written with one dash and a long name (`-out=`, `-maxdepth`).
    single_dash_long: bool,
    /// Options that list (for [`Operands::ListOnly`]).
    list_opts: Vec<String>,
}

/// A spec that does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{token}`: {message}")]
pub struct SpecError {
    /// The token at fault.
    pub token: String,
    /// What is expected.
    pub message: String,
}

/// One option found in a command, with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundOpt {
    /// As the spec names it (`-n`, `--namespace`).
    pub name: String,
    /// Its value, if it takes one.
    pub value: Option<String>,
    /// What the value is.
    pub kind: Option<ValueKind>,
    /// Index of the word the value came from.
    pub word: usize,
}

/// A command's arguments read against a spec.
#[derive(Debug, Clone, Default)]
pub struct ReadArgs {
    /// Options the spec lists.
    pub opts: Vec<FoundOpt>,
    /// Operands, with the index of their word.
    pub operands: Vec<(usize, String)>,
    /// Options the spec does not list (as written).
    pub unknown: Vec<String>,
    /// What follows an unknown option in its word (`-t/etc/cron.d`, `--pre=./x`): it may be a
    /// value the option takes, so it is still confined and screened.
    pub unknown_values: Vec<String>,
    /// An option that needs a value came last.
    pub missing_value: Vec<String>,
}

impl ReadArgs {
    /// Was this option (spec name) given?
    pub fn has(&self, name: &str) -> bool {
        self.opts.iter().any(|o| o.name == name)
    }

    /// The value of the last use of an option.
    pub fn value(&self, names: &[&str]) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|o| names.contains(&o.name.as_str()))
            .and_then(|o| o.value.as_deref())
    }
}

fn parse_class(s: &str) -> Result<ActionClass, SpecError> {
    match s {
        "read" => Ok(ActionClass::Read),
        "write" => Ok(ActionClass::Write),
        _ => Err(SpecError {
            token: s.into(),
            message: "expected `read` or `write` (a program that is destructive needs no spec)"
                .into(),
        }),
    }
}

/// Read `operands` names.
pub fn parse_operands(s: &str) -> Result<Operands, SpecError> {
    Ok(match s {
        "paths" => Operands::Paths,
        "wpaths" => Operands::WritePaths,
        "copy" => Operands::Copy,
        "inout" => Operands::InOut,
        "plain" => Operands::Plain,
        "pattern" => Operands::Pattern,
        "list" => Operands::ListOnly,
        "none" => Operands::None,
        _ => {
            return Err(SpecError {
                token: s.into(),
                message: "expected one of paths, wpaths, copy, inout, plain, pattern, list, none"
                    .into(),
            });
        }
    })
}

impl ProgramSpec {
    /// Build a spec from its class, operands and option tokens (see the module documentation).
    pub fn new(class: &str, operands: &str, options: &str) -> Result<ProgramSpec, SpecError> {
        let mut spec = ProgramSpec {
            class: parse_class(class)?,
            operands: parse_operands(operands)?,
            short: HashMap::new(),
            long: HashMap::new(),
            numeric: false,
            single_dash_long: false,
            list_opts: Vec::new(),
        };
        for token in options.split_whitespace() {
            spec.add(token)?;
        }
        Ok(spec)
    }

    /// Add one option token.
    pub fn add(&mut self, token: &str) -> Result<(), SpecError> {
        let err = |m: &str| SpecError {
            token: token.into(),
            message: m.into(),
        };
        if token == "-#" {
            self.numeric = true;
            return Ok(());
        }
        let (name, value, optional, list) = if let Some(n) = token.strip_suffix('?') {
            (n, Some(ValueKind::Plain), true, false)
        } else if let Some(n) = token.strip_suffix('!') {
            (n, None, false, true)
        } else if let Some((n, kind)) = token.split_once('=') {
            let kind = match kind {
                "" => ValueKind::Plain,
                "path" => ValueKind::Path,
                "wpath" => ValueKind::WritePath,
                "prog" => ValueKind::Program,
                "pat" => ValueKind::Pattern,
                "pfile" => ValueKind::PatternFile,
                "2" => ValueKind::Two,
                "2path" => ValueKind::TwoPath,
                _ => {
                    return Err(err(
                        "a value kind is one of ``, path, wpath, prog, pat, pfile, 2, 2path",
                    ));
                }
            };
            (n, Some(kind), false, false)
        } else {
            (token, None, false, false)
        };
        if list {
            self.list_opts.push(name.to_string());
        }
        let opt = OptSpec { value, optional };
        let valid = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        if let Some(long) = name.strip_prefix("--") {
            if !valid(long) {
                return Err(err("an option name is letters, digits, `-`, `_` or `.`"));
            }
            self.long.insert(name.to_string(), opt);
        } else if let Some(short) = name.strip_prefix('-') {
            let mut chars = short.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_graphic() => {
                    self.short.insert(c, opt);
                }
                (Some(_), Some(_)) if valid(short) => {
                    self.single_dash_long = true;
                    self.long.insert(name.to_string(), opt);
                }
                _ => return Err(err("expected `-x`, `--name` or `-name`")),
            }
        } else if let Some(plus) = name.strip_prefix('+') {
            if !valid(plus) {
                return Err(err("expected `+x`"));
            }
            self.long.insert(name.to_string(), opt);
        } else {
            return Err(err("an option starts with `-`, `--` or `+`"));
        }
        Ok(())
    }

    /// Does the spec know this option (as the spec names it)?
    pub fn knows(&self, name: &str) -> bool {
        if let Some(c) = name.strip_prefix('-').filter(|s| s.len() == 1) {
            return c
                .chars()
                .next()
                .is_some_and(|c| self.short.contains_key(&c));
        }
        self.long.contains_key(name)
    }

    /// Is one of the listing options among these?
    pub fn lists(&self, args: &ReadArgs) -> bool {
        self.list_opts.iter().any(|o| args.has(o))
    }

    /// Read `words` (the arguments, without the program) against the spec. `other` is a second
    /// spec consulted for options this one does not list (a program's global options after its
    /// subcommand).
    pub fn read_args(&self, words: &[&str], other: Option<&ProgramSpec>) -> ReadArgs {
        let specs: Vec<&ProgramSpec> = std::iter::once(self).chain(other).collect();
        let mut out = ReadArgs::default();
        let mut i = 0;
        let mut options_done = false;
        while i < words.len() {
            let w = words[i];
            let idx = i;
            i += 1;
            if options_done
                || w == "-"
                || !(w.starts_with('-')
                    || w.starts_with('+')
                        && specs
                            .iter()
                            .any(|s| s.long.contains_key(w.split('=').next().unwrap_or(w))))
            {
                out.operands.push((idx, w.to_string()));
                continue;
            }
            if w == "--" {
                options_done = true;
                continue;
            }
            // Long forms: `--name`, `--name=value`, and `-name` where a spec has them.
            let (head, joined) = match w.split_once('=') {
                Some((h, v)) => (h, Some(v)),
                None => (w, None),
            };
            let long_hit = specs
                .iter()
                .find_map(|s| s.long.get(head).map(|o| (*o, *s)));
            if w.starts_with("--") || w.starts_with('+') || long_hit.is_some() {
                let Some((opt, _)) = long_hit else {
                    out.unknown.push(w.to_string());
                    match joined {
                        Some(v) => out.unknown_values.push(v.to_string()),
                        None => {
                            // The next word may be its value (`git -c k=v`, `ssh -o K=V`).
                            if let Some(next) = words.get(i).filter(|n| !n.starts_with('-')) {
                                out.unknown_values.push((*next).to_string());
                            }
                        }
                    }
                    continue;
                };
                match (opt.value, joined) {
                    (None, Some(_)) => out.unknown.push(w.to_string()),
                    (None, None) => out.opts.push(FoundOpt {
                        name: head.to_string(),
                        value: None,
                        kind: None,
                        word: idx,
                    }),
                    (Some(kind), Some(v)) => out.opts.push(FoundOpt {
                        name: head.to_string(),
                        value: Some(v.to_string()),
                        kind: Some(kind),
                        word: idx,
                    }),
                    (Some(_), None) if opt.optional => out.opts.push(FoundOpt {
                        name: head.to_string(),
                        value: None,
                        kind: None,
                        word: idx,
                    }),
                    (Some(kind), None) => {
                        let take = if matches!(kind, ValueKind::Two | ValueKind::TwoPath) {
                            2
                        } else {
                            1
                        };
                        if i + take > words.len() {
                            out.missing_value.push(w.to_string());
                            i = words.len();
                            continue;
                        }
                        let v = words[i..i + take].join(" ");
                        out.opts.push(FoundOpt {
                            name: head.to_string(),
                            value: Some(v),
                            kind: Some(kind),
                            word: i + take - 1,
                        });
                        i += take;
                    }
                }
                continue;
            }
            // Numeric options: `-20` (unless the spec has the digit as a flag: `ls -1`).
            let body = &w[1..];
            let digit_flag = body.len() == 1
                && body
                    .chars()
                    .next()
                    .is_some_and(|c| specs.iter().any(|s| s.short.contains_key(&c)));
            if body.bytes().all(|b| b.is_ascii_digit()) && !digit_flag {
                if specs.iter().any(|s| s.numeric) {
                    out.opts.push(FoundOpt {
                        name: "-#".into(),
                        value: Some(body.to_string()),
                        kind: Some(ValueKind::Plain),
                        word: idx,
                    });
                } else {
                    out.unknown.push(w.to_string());
                }
                continue;
            }
            // A short cluster: `-la`, `-n5`, `-t/dir`.
            for (at, c) in body.char_indices() {
                let Some(opt) = specs.iter().find_map(|s| s.short.get(&c).copied()) else {
                    out.unknown.push(format!("-{c} (in `{w}`)"));
                    let rest = &body[at + c.len_utf8()..];
                    if !rest.is_empty() {
                        out.unknown_values.push(rest.to_string());
                    } else if let Some(next) = words.get(i).filter(|n| !n.starts_with('-')) {
                        out.unknown_values.push((*next).to_string());
                    }
                    break;
                };
                let name = format!("-{c}");
                match opt.value {
                    None => out.opts.push(FoundOpt {
                        name,
                        value: None,
                        kind: None,
                        word: idx,
                    }),
                    Some(kind) => {
                        let rest = &body[at + c.len_utf8()..];
                        let rest = if opt.optional {
                            rest
                        } else {
                            rest.strip_prefix('=').unwrap_or(rest)
                        };
                        if !rest.is_empty() {
                            out.opts.push(FoundOpt {
                                name,
                                value: Some(rest.to_string()),
                                kind: Some(kind),
                                word: idx,
                            });
                        } else if opt.optional {
                            out.opts.push(FoundOpt {
                                name,
                                value: None,
                                kind: None,
                                word: idx,
                            });
                        } else if i < words.len() {
                            let take = if matches!(kind, ValueKind::Two | ValueKind::TwoPath) {
                                2
                            } else {
                                1
                            };
                            let end = (i + take).min(words.len());
                            out.opts.push(FoundOpt {
                                name,
                                value: Some(words[i..end].join(" ")),
                                kind: Some(kind),
                                word: end - 1,
                            });
                            i = end;
                        } else {
                            out.missing_value.push(w.to_string());
                        }
                        break;
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_getopt_shapes() {
        let s =
            ProgramSpec::new("read", "paths", "-l -a -n= -t=wpath --color? --lines= -#").unwrap();
        let r = s.read_args(
            &[
                "-la",
                "-n5",
                "-t/etc/cron.d",
                "--color=auto",
                "--lines",
                "3",
                "-20",
                "f",
                "--",
                "-x",
            ],
            None,
        );
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        assert_eq!(r.value(&["-n"]), Some("5"));
        assert_eq!(r.value(&["-t"]), Some("/etc/cron.d"));
        assert_eq!(r.value(&["--lines"]), Some("3"));
        assert_eq!(
            r.operands
                .iter()
                .map(|(_, o)| o.as_str())
                .collect::<Vec<_>>(),
            vec!["f", "-x"]
        );
        let r = s.read_args(&["-lz", "--upload-pack=x", "--colo"], None);
        assert_eq!(r.unknown.len(), 3, "{:?}", r.unknown);
    }

    #[test]
    fn bad_specs_are_refused() {
        for bad in ["x", "-", "--", "-n=exe", "--a b"] {
            assert!(ProgramSpec::new("read", "paths", bad).is_err(), "{bad}");
        }
        assert!(ProgramSpec::new("destructive", "paths", "").is_err());
        assert!(ProgramSpec::new("read", "files", "").is_err());
    }
}
