//! Kernel confinement for `bulwark exec`: the hidden `bulwark __sandbox` helper applies a Landlock
//! ruleset to itself and then becomes the command.
//!
//! Landlock only adds permissions: a ruleset grants access to hierarchies and denies everything
//! else it handles. "Everything readable except `~/.ssh`" is therefore written as a read grant on
//! every sibling along the way from `/` to `~/.ssh` ([`grants_except`]): the directories on that
//! way can be traversed but not listed, and whatever is created in them later is not granted.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use bulwark_core::config::ExecNetwork;
use serde::{Deserialize, Serialize};

/// What the helper confines the command to (passed as JSON by `bulwark exec`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSpec {
    /// Hierarchies readable and executable, less `deny` and `state`.
    pub read: Vec<PathBuf>,
    /// Hierarchies readable and writable, less `deny` and `state`.
    pub write: Vec<PathBuf>,
    /// Device files and directories readable and writable (`/dev/null`, terminals).
    pub devices: Vec<PathBuf>,
    /// Credential paths: never granted, whatever hierarchy holds them.
    pub deny: Vec<PathBuf>,
    /// Bulwark's own state (its home, audit log, keys, vault): not granted, except to a hierarchy
    /// that lies inside it (the workspace under `$BULWARK_HOME`).
    pub state: Vec<PathBuf>,
    /// Files readable although under `deny`: a program's own credentials.
    pub allow_read: Vec<PathBuf>,
    /// The command's network.
    pub network: ExecNetwork,
    /// With `network = proxy`: the only TCP port the command may connect to.
    pub proxy_port: Option<u16>,
    /// Where the helper reports how the ruleset was enforced (not writable by the command).
    pub status_file: PathBuf,
}

/// How the ruleset was enforced, as the helper reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxStatus {
    /// `fully_enforced`, `partially_enforced` (the kernel lacks some of the restrictions asked
    /// for) or `not_enforced`.
    pub enforcement: String,
    /// The Landlock ABI the kernel offers (0: none).
    pub abi: u32,
    /// Whether `no_new_privs` is set (no set-uid escalation).
    pub no_new_privs: bool,
    /// Rules in the ruleset.
    pub rules: usize,
}

/// What a grant gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Read, list and execute.
    Read,
    /// Everything: read, write, create, remove.
    Write,
    /// Read and write files, no creation or removal (`/dev/null`, `/dev/pts`).
    Device,
}

/// A directory tree as [`grants_except`] sees it.
pub trait Tree {
    /// The names in directory `dir`; `None` when it cannot be listed (it does not exist).
    fn list(&mut self, dir: &Path) -> Option<Vec<OsString>>;
    /// Where `path` leads once every symlink is followed; `None` when it leads nowhere.
    fn resolve(&mut self, path: &Path) -> Option<PathBuf>;
}

/// The filesystem.
pub struct RealTree;

impl Tree for RealTree {
    fn list(&mut self, dir: &Path) -> Option<Vec<OsString>> {
        let entries = std::fs::read_dir(dir).ok()?;
        Some(
            entries
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect(),
        )
    }

    fn resolve(&mut self, path: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(path).ok()
    }
}

/// The paths to grant so that everything under `root` is reachable except `excluded` and what lies
/// beneath them. Paths are absolute and normalized (no `.` or `..`).
///
/// Landlock grants whole hierarchies, so each directory on the way from `root` to an excluded path
/// is not granted itself: its other entries are, one by one (listed through `tree`). An entry that
/// is a symlink leading to an excluded path, into one, or to a directory holding one is left out
/// (its target is reachable where it really lies). Nothing is granted when `root` is itself
/// excluded or lies under an excluded path.
pub fn grants_except(root: &Path, excluded: &[PathBuf], tree: &mut dyn Tree) -> Vec<PathBuf> {
    if excluded.iter().any(|e| root.starts_with(e)) {
        return Vec::new();
    }
    let inside: Vec<&Path> = excluded
        .iter()
        .map(PathBuf::as_path)
        .filter(|e| e.starts_with(root))
        .collect();
    if inside.is_empty() {
        return vec![root.to_path_buf()];
    }
    let mut out = Vec::new();
    walk(root, &inside, excluded, tree, &mut out);
    out
}

fn walk(
    dir: &Path,
    inside: &[&Path],
    excluded: &[PathBuf],
    tree: &mut dyn Tree,
    out: &mut Vec<PathBuf>,
) {
    let Some(mut names) = tree.list(dir) else {
        return;
    };
    names.sort();
    for name in names {
        let child = dir.join(&name);
        // A name such as `..` never comes from a listing; refuse it anyway.
        if !matches!(
            Path::new(&name).components().next(),
            Some(Component::Normal(_))
        ) || Path::new(&name).components().count() != 1
        {
            continue;
        }
        if inside.iter().any(|e| *e == child) {
            continue;
        }
        let below: Vec<&Path> = inside
            .iter()
            .copied()
            .filter(|e| e.starts_with(&child))
            .collect();
        if !below.is_empty() {
            walk(&child, &below, excluded, tree, out);
            continue;
        }
        match tree.resolve(&child) {
            Some(real)
                if !excluded
                    .iter()
                    .any(|e| real.starts_with(e) || e.starts_with(&real)) =>
            {
                out.push(child)
            }
            _ => {}
        }
    }
}

/// `path` and, when a symlink on its way leads elsewhere, where it really is: the longest
/// existing prefix resolved, the rest appended.
pub fn with_real(path: &Path, tree: &mut dyn Tree) -> Vec<PathBuf> {
    let mut out = vec![path.to_path_buf()];
    let mut prefix = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Some(real) = tree.resolve(&prefix) {
            let mut full = real;
            for part in rest.iter().rev() {
                full.push(part);
            }
            if full != path {
                out.push(full);
            }
            break;
        }
        match (prefix.file_name().map(OsString::from), prefix.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                prefix = parent.to_path_buf();
            }
            _ => break,
        }
    }
    out
}

/// Every grant the spec asks for, with the excluded paths carved out.
pub fn plan(spec: &SandboxSpec, tree: &mut dyn Tree) -> Vec<(PathBuf, Grant)> {
    let expand = |paths: &[PathBuf], tree: &mut dyn Tree| -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = paths.iter().flat_map(|p| with_real(p, tree)).collect();
        out.sort();
        out.dedup();
        out
    };
    let deny = expand(&spec.deny, tree);
    let state = expand(&spec.state, tree);
    let mut out = Vec::new();
    for (roots, grant) in [(&spec.read, Grant::Read), (&spec.write, Grant::Write)] {
        for root in roots {
            let Some(real) = tree.resolve(root) else {
                continue;
            };
            let mut excluded = deny.clone();
            excluded.extend(state.iter().filter(|s| !real.starts_with(s)).cloned());
            out.extend(
                grants_except(&real, &excluded, tree)
                    .into_iter()
                    .map(|p| (p, grant)),
            );
        }
    }
    out.extend(spec.devices.iter().map(|p| (p.clone(), Grant::Device)));
    out.extend(spec.allow_read.iter().map(|p| (p.clone(), Grant::Read)));
    out
}

/// Whether this kernel enforces Landlock; the reason when it does not.
pub fn available() -> Result<(), String> {
    kernel::available()
}

/// `bulwark __sandbox --spec JSON -- CMD ARGS...`: confine this process, report how, and become the
/// command. Returns only on failure: 125 when the confinement could not be set up, 126 when the
/// command could not be run, 127 when it was not found.
pub fn run_helper(spec: &str, argv: &[OsString]) -> u8 {
    use std::io::Write;
    use std::os::unix::process::CommandExt;

    let spec: SandboxSpec = match serde_json::from_str(spec) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bulwark: sandbox: bad --spec: {e}");
            return 125;
        }
    };
    let Some((program, args)) = argv.split_first() else {
        eprintln!("bulwark: sandbox: no command");
        return 125;
    };
    // Opened before the ruleset applies: the command cannot open it afterwards.
    let mut report = match std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&spec.status_file)
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "bulwark: sandbox: cannot open {}: {e}",
                spec.status_file.display()
            );
            return 125;
        }
    };
    let grants = plan(&spec, &mut RealTree);
    let status = match kernel::restrict(&grants, spec.network, spec.proxy_port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bulwark: sandbox: the Landlock ruleset could not be applied: {e}");
            return 125;
        }
    };
    let written = serde_json::to_vec(&status)
        .map_err(|e| e.to_string())
        .and_then(|b| report.write_all(&b).map_err(|e| e.to_string()));
    drop(report);
    if let Err(e) = written {
        eprintln!("bulwark: sandbox: cannot report the confinement: {e}");
        return 125;
    }
    match status.enforcement.as_str() {
        "not_enforced" => {
            eprintln!("bulwark: sandbox: the kernel did not enforce the Landlock ruleset");
            return 125;
        }
        "partially_enforced" => eprintln!(
            "bulwark: warning: Landlock ABI {} enforces only part of the confinement (a newer kernel adds the rest: TCP rules need ABI 4, device ioctls 5, signal and abstract-socket scoping 6)",
            status.abi
        ),
        _ => {}
    }
    let err = std::process::Command::new(program).args(args).exec();
    eprintln!(
        "bulwark: cannot run {}: {err}",
        Path::new(program).display()
    );
    if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}

#[cfg(target_os = "linux")]
mod kernel {
    use std::path::PathBuf;

    use bulwark_core::config::ExecNetwork;
    use landlock::{
        ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus,
        NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
        Scope, make_bitflags,
    };

    use super::{Grant, SandboxStatus};

    /// The Landlock ABI whose restrictions are asked for (filesystem with device ioctls, TCP,
    /// signal and abstract-socket scoping). A kernel offering less enforces part of them.
    const ABI_USED: ABI = ABI::V6;

    pub fn available() -> Result<(), String> {
        Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(ABI::V1))
            .and_then(|r| r.create())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn access(grant: Grant) -> BitFlags<AccessFs> {
        match grant {
            Grant::Read => AccessFs::from_read(ABI_USED),
            Grant::Write => AccessFs::from_all(ABI_USED),
            Grant::Device => {
                make_bitflags!(AccessFs::{ReadFile | ReadDir | WriteFile | Truncate | IoctlDev})
            }
        }
    }

    pub fn restrict(
        grants: &[(PathBuf, Grant)],
        network: ExecNetwork,
        proxy_port: Option<u16>,
    ) -> Result<SandboxStatus, String> {
        let e = |e: landlock::RulesetError| e.to_string();
        let mut ruleset = Ruleset::default()
            .handle_access(AccessFs::from_all(ABI_USED))
            .map_err(e)?;
        if network != ExecNetwork::Open {
            ruleset = ruleset
                .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
                .map_err(e)?;
        }
        let mut created = ruleset
            .scope(Scope::AbstractUnixSocket | Scope::Signal)
            .map_err(e)?
            .create()
            .map_err(e)?;
        let mut rules = 0;
        for (path, grant) in grants {
            // Directory rights are refused on a file; what a path is decides what it gets.
            let Ok(meta) = std::fs::metadata(path) else {
                continue;
            };
            let mut want = access(*grant);
            if !meta.is_dir() {
                want &= AccessFs::from_file(ABI_USED);
            }
            if want.is_empty() {
                continue;
            }
            let Ok(fd) = PathFd::new(path) else {
                continue;
            };
            created = created
                .add_rule(PathBeneath::new(fd, want))
                .map_err(|err| format!("{}: {err}", path.display()))?;
            rules += 1;
        }
        if let (ExecNetwork::Proxy, Some(port)) = (network, proxy_port) {
            created = created
                .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
                .map_err(e)?;
            rules += 1;
        }
        let status = created.restrict_self().map_err(e)?;
        Ok(SandboxStatus {
            enforcement: match status.ruleset {
                RulesetStatus::FullyEnforced => "fully_enforced",
                RulesetStatus::PartiallyEnforced => "partially_enforced",
                RulesetStatus::NotEnforced => "not_enforced",
            }
            .into(),
            abi: match status.landlock {
                LandlockStatus::Available { effective_abi, .. } => effective_abi as u32,
                _ => 0,
            },
            no_new_privs: status.no_new_privs,
            rules,
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod kernel {
    use std::path::PathBuf;

    use bulwark_core::config::ExecNetwork;

    use super::{Grant, SandboxStatus};

    const NONE: &str = "Landlock is a Linux security module; this system has none";

    pub fn available() -> Result<(), String> {
        Err(NONE.into())
    }

    pub fn restrict(
        _: &[(PathBuf, Grant)],
        _: ExecNetwork,
        _: Option<u16>,
    ) -> Result<SandboxStatus, String> {
        Err(NONE.into())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A tree of directories (name lists) and symlinks (absolute targets); anything else named in
    /// a listing is a file.
    #[derive(Default)]
    struct Fake {
        dirs: BTreeMap<PathBuf, Vec<&'static str>>,
        links: BTreeMap<PathBuf, PathBuf>,
    }

    impl Fake {
        fn dir(mut self, path: &str, names: &[&'static str]) -> Self {
            self.dirs.insert(path.into(), names.to_vec());
            self
        }
        fn link(mut self, path: &str, target: &str) -> Self {
            self.links.insert(path.into(), target.into());
            self
        }
        fn exists(&self, p: &Path) -> bool {
            if p == Path::new("/") || self.dirs.contains_key(p) || self.links.contains_key(p) {
                return true;
            }
            match (p.parent(), p.file_name()) {
                (Some(parent), Some(name)) => self
                    .dirs
                    .get(parent)
                    .is_some_and(|names| names.iter().any(|n| Path::new(n) == name)),
                _ => false,
            }
        }
    }

    impl Tree for Fake {
        fn list(&mut self, dir: &Path) -> Option<Vec<OsString>> {
            let dir = self.resolve(dir)?;
            self.dirs
                .get(&dir)
                .map(|names| names.iter().map(OsString::from).collect())
        }

        fn resolve(&mut self, path: &Path) -> Option<PathBuf> {
            let mut real = PathBuf::from("/");
            for (hops, part) in path.components().skip(1).enumerate() {
                if hops > 40 {
                    return None;
                }
                real.push(part);
                let mut seen = 0;
                while let Some(target) = self.links.get(&real) {
                    real = target.clone();
                    seen += 1;
                    if seen > 40 {
                        return None;
                    }
                }
                if !self.exists(&real) {
                    return None;
                }
            }
            Some(real)
        }
    }

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    fn home() -> Fake {
        Fake::default()
            .dir("/", &["bin", "etc", "home", "lib", "tmp"])
            .dir("/home", &["u", "v"])
            .dir("/home/u", &[".bashrc", ".kube", ".ssh", "code"])
            .dir("/home/u/.ssh", &["id_rsa"])
            .dir("/home/u/.kube", &["cache", "config"])
            .dir("/home/u/code", &["main.rs"])
            .dir("/usr", &["lib"])
            .dir("/usr/lib", &[])
            .link("/lib", "/usr/lib")
    }

    #[test]
    fn nothing_excluded_grants_the_root() {
        assert_eq!(
            grants_except(Path::new("/"), &[], &mut home()),
            paths(&["/"])
        );
        // An exclusion elsewhere does not split the root either.
        assert_eq!(
            grants_except(
                Path::new("/home/u/code"),
                &paths(&["/home/u/.ssh"]),
                &mut home()
            ),
            paths(&["/home/u/code"])
        );
    }

    #[test]
    fn an_excluded_or_enclosing_root_grants_nothing() {
        let mut t = home();
        assert!(
            grants_except(Path::new("/home/u/.ssh"), &paths(&["/home/u/.ssh"]), &mut t).is_empty()
        );
        assert!(
            grants_except(
                Path::new("/home/u/.ssh/x"),
                &paths(&["/home/u/.ssh"]),
                &mut t
            )
            .is_empty()
        );
    }

    #[test]
    fn siblings_along_the_way_are_granted_one_by_one() {
        let g = grants_except(
            Path::new("/"),
            &paths(&["/home/u/.ssh", "/home/u/.kube/config"]),
            &mut home(),
        );
        assert_eq!(
            g,
            paths(&[
                "/bin",
                "/etc",
                "/home/u/.bashrc",
                "/home/u/.kube/cache",
                "/home/u/code",
                "/home/v",
                "/lib",
                "/tmp",
            ])
        );
    }

    #[test]
    fn missing_exclusions_still_split_what_exists() {
        // ~/.aws does not exist: ~ is still listed entry by entry, so a later ~/.aws is not
        // granted; ~/.config does not exist: nothing under it is granted.
        let g = grants_except(
            Path::new("/home/u"),
            &paths(&["/home/u/.aws", "/home/u/.config/gcloud"]),
            &mut home(),
        );
        assert_eq!(
            g,
            paths(&[
                "/home/u/.bashrc",
                "/home/u/.kube",
                "/home/u/.ssh",
                "/home/u/code"
            ])
        );
    }

    #[test]
    fn symlinks_to_or_above_an_exclusion_are_left_out() {
        let mut t = home()
            .dir(
                "/home/u",
                &[".ssh", "code", "key", "loop", "dangling", "usr"],
            )
            .link("/home/u/key", "/home/u/.ssh/id_rsa")
            .link("/home/u/loop", "/home/u")
            .link("/home/u/dangling", "/nowhere")
            .link("/home/u/usr", "/usr");
        let g = grants_except(Path::new("/home/u"), &paths(&["/home/u/.ssh"]), &mut t);
        assert_eq!(g, paths(&["/home/u/code", "/home/u/usr"]));
    }

    #[test]
    fn real_locations_of_symlinked_exclusions_are_added() {
        let mut t = home()
            .dir("/home/u", &[".ssh", "dotfiles"])
            .dir("/home/u/dotfiles", &["ssh"])
            .dir("/home/u/dotfiles/ssh", &["id_rsa"])
            .link("/home/u/.ssh", "/home/u/dotfiles/ssh");
        assert_eq!(
            with_real(Path::new("/home/u/.ssh"), &mut t),
            paths(&["/home/u/.ssh", "/home/u/dotfiles/ssh"])
        );
        // A path that does not exist yet resolves through its existing prefix.
        assert_eq!(
            with_real(Path::new("/lib/x/y"), &mut t),
            paths(&["/lib/x/y", "/usr/lib/x/y"])
        );
        assert_eq!(with_real(Path::new("/etc/x"), &mut t), paths(&["/etc/x"]));
    }

    #[test]
    fn the_plan_keeps_state_out_except_around_a_root_inside_it() {
        let mut t = home()
            .dir("/home/u", &[".bulwark", ".ssh", "code"])
            .dir("/home/u/.bulwark", &["keys", "workspace"])
            .dir("/home/u/.bulwark/workspace", &["notes"]);
        let spec = SandboxSpec {
            read: paths(&["/", "/home/u/.bulwark/workspace"]),
            write: paths(&["/home/u/.bulwark/workspace"]),
            devices: paths(&["/dev/null"]),
            deny: paths(&["/home/u/.ssh"]),
            state: paths(&["/home/u/.bulwark"]),
            allow_read: paths(&["/home/u/.ssh/id_rsa"]),
            network: ExecNetwork::None,
            proxy_port: None,
            status_file: "/tmp/s".into(),
        };
        let plan = plan(&spec, &mut t);
        let read: Vec<&Path> = plan
            .iter()
            .filter(|(_, g)| *g == Grant::Read)
            .map(|(p, _)| p.as_path())
            .collect();
        assert!(read.contains(&Path::new("/home/u/code")));
        assert!(read.contains(&Path::new("/home/u/.bulwark/workspace")));
        assert!(read.contains(&Path::new("/home/u/.ssh/id_rsa")));
        assert!(!read.iter().any(|p| p.starts_with("/home/u/.bulwark/keys")));
        assert!(!read.contains(&Path::new("/home/u")));
        assert!(plan.contains(&("/home/u/.bulwark/workspace".into(), Grant::Write)));
        assert!(plan.contains(&("/dev/null".into(), Grant::Device)));
    }
}
