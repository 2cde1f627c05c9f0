//! Workspace confinement: may a tool touch this path?
//!
//! Threat answered: an agent talked into reading `~/.ssh/id_ed25519` or writing outside the project
//! it works on, with `../../`, an absolute path, a symlink inside the workspace that points out of
//! it, a NUL byte that truncates the path in C, or a Windows drive or UNC form. Paths are resolved
//! against the workspace root component by component; every component that exists and is a symlink
//! is followed on the real filesystem (through [`PathProbe`]), so the verdict is about the file the
//! tool would open. The allowlists are resolved the same way.
//!
//! A symlink created after the check is not seen (time of check to time of use): confinement is a
//! policy layer, not a sandbox.

use std::path::{Component, Path, PathBuf};

/// What the guard needs from the filesystem: the target of a symlink.
pub trait PathProbe: Send + Sync {
    /// `Some(target)` if `path` exists and is a symbolic link; `None` otherwise.
    fn read_link(&self, path: &Path) -> Option<PathBuf>;
}

/// A filesystem without symlinks (for pure evaluation and tests).
pub struct NoSymlinks;

impl PathProbe for NoSymlinks {
    fn read_link(&self, _: &Path) -> Option<PathBuf> {
        None
    }
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathProblem {
    /// It contains a NUL byte.
    Nul,
    /// A Windows drive (`C:\`), UNC (`\\server\share`) or backslash form.
    WindowsForm,
    /// `~` while the home directory is unknown.
    NoHome,
    /// More than 40 symlinks, or a loop.
    SymlinkLoop,
    /// It resolves outside every allowed directory.
    Outside {
        /// Where it resolves.
        resolved: PathBuf,
        /// A symlink took it out (lexically it stayed inside).
        via_symlink: bool,
    },
}

/// Symlinks followed before a path is refused (Linux's own limit).
const MAX_LINKS: usize = 40;

/// Where `~` points and where relative paths start.
#[derive(Debug, Clone)]
pub struct PathContext {
    /// The workspace root (absolute).
    pub root: PathBuf,
    /// The user's home, for `~`.
    pub home: Option<PathBuf>,
}

fn windows_form(p: &str) -> bool {
    let b = p.as_bytes();
    p.contains('\\') || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
}

/// Turn `raw` into an absolute path without resolving anything: `~` expanded, relative paths
/// joined to `base`.
fn absolute(raw: &str, base: &Path, ctx: &PathContext) -> Result<PathBuf, PathProblem> {
    if raw.contains('\0') {
        return Err(PathProblem::Nul);
    }
    if windows_form(raw) {
        return Err(PathProblem::WindowsForm);
    }
    let expanded = if raw == "~" || raw.starts_with("~/") {
        let home = ctx.home.as_ref().ok_or(PathProblem::NoHome)?;
        home.join(raw.trim_start_matches('~').trim_start_matches('/'))
    } else if let Some(user) = raw.strip_prefix('~') {
        // `~user`: someone else's home, never inside a workspace.
        PathBuf::from("/home").join(user)
    } else {
        PathBuf::from(raw)
    };
    Ok(if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    })
}

/// Lexical normalization: `.` dropped, `..` pops (never above `/`).
pub fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Resolve an absolute path component by component, following symlinks through `probe`.
fn resolve(p: &Path, probe: &dyn PathProbe) -> Result<PathBuf, PathProblem> {
    let mut pending: Vec<std::ffi::OsString> = p
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut out = PathBuf::from("/");
    let mut links = 0;
    while let Some(c) = pending.pop() {
        if c == ".." {
            out.pop();
            continue;
        }
        if c == "." {
            continue;
        }
        out.push(&c);
        if let Some(target) = probe.read_link(&out) {
            links += 1;
            if links > MAX_LINKS {
                return Err(PathProblem::SymlinkLoop);
            }
            out.pop();
            if target.is_absolute() {
                out = PathBuf::from("/");
            }
            for tc in target.components().rev() {
                match tc {
                    Component::Normal(n) => pending.push(n.to_os_string()),
                    Component::ParentDir => pending.push("..".into()),
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

/// The compiled allowlists.
#[derive(Debug, Clone)]
pub struct Workspace {
    ctx: PathContext,
    read_allow: Vec<PathBuf>,
    write_allow: Vec<PathBuf>,
}

impl Workspace {
    /// `read_allow` and `write_allow` entries are absolute or relative to the root; empty lists
    /// mean the root.
    pub fn new(ctx: PathContext, read_allow: &[String], write_allow: &[String]) -> Workspace {
        let lists = |l: &[String]| -> Vec<PathBuf> {
            if l.is_empty() {
                vec![ctx.root.clone()]
            } else {
                l.iter()
                    .filter_map(|e| absolute(e, &ctx.root, &ctx).ok())
                    .collect()
            }
        };
        Workspace {
            read_allow: lists(read_allow),
            write_allow: lists(write_allow),
            ctx,
        }
    }

    /// The workspace root.
    pub fn root(&self) -> &Path {
        &self.ctx.root
    }

    /// Check `raw` (relative paths start at `base`, normally the root) for a read or a write.
    /// Returns the resolved path.
    pub fn check(
        &self,
        raw: &str,
        base: &Path,
        write: bool,
        probe: &dyn PathProbe,
    ) -> Result<PathBuf, PathProblem> {
        let abs = absolute(raw, base, &self.ctx)?;
        let resolved = resolve(&abs, probe)?;
        let allow = if write {
            &self.write_allow
        } else {
            &self.read_allow
        };
        let mut lexically_inside = false;
        for dir in allow {
            let lex_dir = lexical(dir);
            if lexical(&abs).starts_with(&lex_dir) {
                lexically_inside = true;
            }
            // The allowed directory is itself resolved (the root may sit behind a symlink).
            let real_dir = resolve(dir, probe)?;
            if resolved.starts_with(&real_dir) {
                return Ok(resolved);
            }
        }
        Err(PathProblem::Outside {
            resolved,
            via_symlink: lexically_inside,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Links(HashMap<PathBuf, PathBuf>);
    impl PathProbe for Links {
        fn read_link(&self, p: &Path) -> Option<PathBuf> {
            self.0.get(p).cloned()
        }
    }

    fn ws() -> Workspace {
        Workspace::new(
            PathContext {
                root: "/work/proj".into(),
                home: Some("/home/agent".into()),
            },
            &["/usr/share/doc".into()],
            &["src".into(), "target".into()],
        )
    }

    #[test]
    fn escapes_are_refused() {
        let w = ws();
        let root = Path::new("/work/proj");
        let ok = |p: &str, write| w.check(p, root, write, &NoSymlinks);
        assert!(ok("/usr/share/doc/x", false).is_ok());
        assert!(ok("/usr/share/doc/x", true).is_err());
        assert_eq!(
            ok("src/main.rs", true).unwrap(),
            Path::new("/work/proj/src/main.rs")
        );
        assert!(
            ok("README.md", true).is_err(),
            "write allowlist is src and target only"
        );
        assert!(matches!(
            ok("src/../../../etc/passwd", true),
            Err(PathProblem::Outside { .. })
        ));
        assert!(matches!(
            ok("/etc/passwd", false),
            Err(PathProblem::Outside { .. })
        ));
        assert!(matches!(
            ok("~/.ssh/id_rsa", false),
            Err(PathProblem::Outside { .. })
        ));
        assert!(matches!(
            ok("~root/x", false),
            Err(PathProblem::Outside { .. })
        ));
        assert_eq!(ok("src/a\0.rs", true), Err(PathProblem::Nul));
        assert_eq!(ok("C:\\Windows", false), Err(PathProblem::WindowsForm));
        assert_eq!(ok("c:foo", false), Err(PathProblem::WindowsForm));
        assert_eq!(
            ok("\\\\server\\share", false),
            Err(PathProblem::WindowsForm)
        );
        assert_eq!(ok("src\\..\\..\\x", true), Err(PathProblem::WindowsForm));
        // `/work/proj-evil` shares a prefix with the root but is not inside it.
        let w2 = Workspace::new(
            PathContext {
                root: "/work/proj".into(),
                home: None,
            },
            &[],
            &[],
        );
        assert!(
            w2.check("/work/proj-evil/x", root, false, &NoSymlinks)
                .is_err()
        );
        assert!(
            w2.check("/work/proj/../proj/x", root, false, &NoSymlinks)
                .is_ok()
        );
        assert_eq!(
            w2.check("~/x", root, false, &NoSymlinks),
            Err(PathProblem::NoHome)
        );
    }

    #[test]
    fn symlinks_are_followed() {
        let w = ws();
        let root = Path::new("/work/proj");
        let mut m = HashMap::new();
        m.insert(PathBuf::from("/work/proj/src/out"), PathBuf::from("/etc"));
        m.insert(
            PathBuf::from("/work/proj/src/rel"),
            PathBuf::from("../../../home/agent/.aws"),
        );
        m.insert(
            PathBuf::from("/work/proj/src/ok"),
            PathBuf::from("../target/x"),
        );
        m.insert(PathBuf::from("/work/proj/src/loop"), PathBuf::from("loop"));
        let links = Links(m);
        assert_eq!(
            w.check("src/out/shadow", root, true, &links),
            Err(PathProblem::Outside {
                resolved: "/etc/shadow".into(),
                via_symlink: true
            })
        );
        assert!(matches!(
            w.check("src/rel/credentials", root, true, &links),
            Err(PathProblem::Outside {
                via_symlink: true,
                ..
            })
        ));
        assert_eq!(
            w.check("src/ok/y", root, true, &links).unwrap(),
            Path::new("/work/proj/target/x/y")
        );
        assert_eq!(
            w.check("src/loop", root, true, &links),
            Err(PathProblem::SymlinkLoop)
        );
    }
}
