//! The deny rules' building blocks: credential paths, roots a recursive delete must not touch,
//! fork bombs, devices, world-writable modes, decoders.

/// Files whose name says they hold credentials.
const CREDENTIAL_BASENAMES: &[&str] = &[
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".vault-token",
    ".env",
    ".envrc",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "id_ecdsa_sk",
    "id_ed25519_sk",
    ".my.cnf",
    ".boto",
    ".s3cfg",
    "credentials.db",
    "access_tokens.db",
];
/// Path fragments of credential stores.
const CREDENTIAL_FRAGMENTS: &[&str] = &[
    ".ssh/",
    ".aws/credentials",
    ".aws/config",
    ".aws/sso/cache",
    ".kube/config",
    ".docker/config.json",
    ".config/gcloud",
    ".azure/",
    ".aws/",
    ".netrc",
    ".gnupg",
    ".password-store",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/master.passwd",
    "/etc/sudoers",
    ".picoclaw/.security.yml",
];

pub(super) fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// `$HOME/x`, `${HOME}/x` -> `~/x`.
pub(super) fn home_form(s: &str) -> String {
    for v in ["${HOME}", "$HOME"] {
        if let Some(rest) = s.strip_prefix(v) {
            return format!("~{rest}");
        }
    }
    s.to_string()
}

/// Does this text name a credential file?
pub(super) fn credential_path(text: &str) -> Option<String> {
    let t = home_form(text);
    let value = t.rsplit('=').next().unwrap_or(&t);
    let base = basename(value.trim_end_matches('/'));
    let env_file = base.starts_with(".env.")
        && !matches!(
            base,
            ".env.example" | ".env.sample" | ".env.template" | ".env.dist"
        );
    if CREDENTIAL_BASENAMES.contains(&base) || env_file {
        return Some(value.to_string());
    }
    if base == ".ssh" {
        return Some(value.to_string());
    }
    // Another process's environment: `/proc/<pid>/environ`, `/proc/self/task/1/environ`.
    if (value.starts_with("/proc/") || value.contains("/proc/")) && base == "environ" {
        return Some(value.to_string());
    }
    CREDENTIAL_FRAGMENTS
        .iter()
        .find(|f| t.contains(**f))
        .map(|_| value.to_string())
}

/// Is this word a root a recursive delete or chmod must not touch?
pub(super) fn root_target(text: &str) -> Option<&'static str> {
    let t = home_form(text);
    let mut t = t.as_str();
    loop {
        let before = t;
        t = t.strip_suffix("/*").unwrap_or(t);
        t = t.strip_suffix("/.*").unwrap_or(t);
        if t.len() > 1 {
            t = t.strip_suffix('/').unwrap_or(t);
        }
        if t != "*" {
            t = t.strip_suffix('*').unwrap_or(t);
        }
        if t == before {
            break;
        }
    }
    match t {
        "" | "/" => return Some("the filesystem root"),
        "~" | "~/" => return Some("the home directory"),
        "." | "./" | ".." | "../" | "*" => return Some("the whole current directory"),
        _ => {}
    }
    // A variable alone (`$DIR/`, `"${X}"/*`) is `/` when the variable is empty.
    let var = t
        .strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .or_else(|| t.strip_prefix('$'));
    let bare_var = var.is_some_and(|v| {
        !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if bare_var && (text.ends_with('/') || text.ends_with("/*")) {
        return Some("`/` if the variable is empty");
    }
    if let Some(rest) = t.strip_prefix('/')
        && !rest.contains('/')
        && !rest.contains('$')
    {
        return Some("a top-level directory");
    }
    None
}

/// `:(){ :|:& };:` and its renamed forms; `fork while fork`.
pub(super) fn fork_bomb(command: &str) -> Option<String> {
    let stripped: String = command.chars().filter(|c| !c.is_whitespace()).collect();
    let mut names = Vec::new();
    for (i, _) in stripped.match_indices("(){") {
        let head = &stripped[..i];
        let name_start = head
            .rfind(|c: char| ";&|{}()\n".contains(c))
            .map_or(0, |j| j + 1);
        names.push(head[name_start..].to_string());
    }
    for (i, _) in command.match_indices("function") {
        let rest = command[i + "function".len()..].trim_start();
        let name: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '{' && *c != '(')
            .collect();
        names.push(name);
    }
    for n in names.into_iter().filter(|n| !n.is_empty()) {
        if stripped.contains(&format!("{n}|{n}&")) || stripped.contains(&format!("{n}&{n}&")) {
            return Some(format!(
                "function `{n}` calls itself twice in the background"
            ));
        }
    }
    let lower = command.to_ascii_lowercase();
    if lower.contains("fork while fork")
        || lower.contains("while(1)fork")
        || stripped.contains("while(1){fork")
    {
        return Some("a loop of fork calls".into());
    }
    None
}

/// `base64 -d`, `xxd -r`, `openssl enc -d`, `gunzip -c`-style decoders.
/// A short-option cluster among `words` holds `flag` (`-rf` holds `r`).
pub(super) fn has_short<S: AsRef<str>>(words: &[S], flag: char) -> bool {
    words
        .iter()
        .map(AsRef::as_ref)
        .any(|w| w.starts_with('-') && !w.starts_with("--") && w[1..].contains(flag))
}

pub(super) fn decodes(core: &[&str]) -> bool {
    let Some(first) = core.first() else {
        return false;
    };
    let args = &core[1..];
    match basename(first) {
        "base64" | "base32" | "basenc" => has_short(args, 'd') || args.contains(&"--decode"),
        "xxd" => has_short(args, 'r'),
        "openssl" => args.contains(&"-d") || args.contains(&"base64"),
        "rev" | "tac" => false,
        "uudecode" => true,
        _ => false,
    }
}

pub(super) fn safe_device(p: &str) -> bool {
    matches!(
        p,
        "/dev/null"
            | "/dev/zero"
            | "/dev/stdout"
            | "/dev/stderr"
            | "/dev/stdin"
            | "/dev/tty"
            | "/dev/random"
            | "/dev/urandom"
    ) || p.starts_with("/dev/fd/")
        || p.starts_with("/dev/pts/")
}

pub(super) fn block_device(p: &str) -> bool {
    let name = p.trim_start_matches("/dev/");
    [
        "sd", "hd", "vd", "xvd", "nvme", "mmcblk", "disk", "mapper/", "md", "loop", "dm-", "sr",
        "nbd", "rbd",
    ]
    .iter()
    .any(|d| name.starts_with(d))
}

/// A chmod mode that lets everyone write: `777`, `o+w`, `a=rwx`, ...
pub(super) fn world_writable(mode: &str) -> bool {
    if mode.bytes().all(|b| b.is_ascii_digit()) && !mode.is_empty() {
        let last = mode.as_bytes()[mode.len() - 1] - b'0';
        return last & 2 != 0;
    }
    mode.split(',').any(|clause| {
        let (who, perm) = match clause.find(['+', '=']) {
            Some(i) => (&clause[..i], &clause[i + 1..]),
            None => return false,
        };
        (who.contains('o') || who.contains('a')) && perm.contains('w')
    })
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Concrete credential files a glob is tried against (`~/.ss?/id_rs?`).
const CREDENTIAL_EXAMPLES: &[&str] = &[
    "~/.ssh/id_rsa",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ecdsa",
    "~/.ssh/config",
    "~/.ssh/authorized_keys",
    "~/.aws/credentials",
    "~/.aws/config",
    "~/.netrc",
    "~/.git-credentials",
    "~/.kube/config",
    "~/.docker/config.json",
    "~/.config/gcloud/credentials.db",
    "~/.config/gcloud/application_default_credentials.json",
    "~/.azure/accessTokens.json",
    "~/.gnupg/private-keys-v1.d",
    "~/.env",
    "/root/.ssh/id_rsa",
    "/root/.aws/credentials",
    "/home/user/.ssh/id_rsa",
    "/home/user/.aws/credentials",
    "/etc/shadow",
    "/proc/self/environ",
    "/proc/1/environ",
    ".env",
];

/// A glob that can match a credential file: the file it can match.
pub(super) fn credential_glob(text: &str) -> Option<&'static str> {
    let t = home_form(text);
    if !has_glob(&t) {
        return None;
    }
    let m = globset::GlobBuilder::new(&t)
        .literal_separator(true)
        .build()
        .ok()?
        .compile_matcher();
    CREDENTIAL_EXAMPLES.iter().copied().find(|c| m.is_match(c))
}

/// A path with glob components, as the workspace check should see it: a component that can match
/// `..` (`.?`, `.*`, `.[.]`) is `..`; shells never let `*`, `?` or `[` match a leading dot, so no
/// other component can.
pub(super) fn glob_as_path(text: &str) -> String {
    if !has_glob(text) {
        return text.to_string();
    }
    text.split('/')
        .map(|c| {
            let dotdot = c.starts_with('.')
                && has_glob(c)
                && globset::Glob::new(c).is_ok_and(|g| g.compile_matcher().is_match(".."));
            if dotdot { ".." } else { c }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Brace expansion as a shell does it before anything else (`/etc/{shad,pass}wd`,
/// `~/.{ssh,aws}/x`), bounded: at most 64 results; text without a `{...,...}` is itself.
pub(super) fn brace_expand(text: &str) -> Vec<String> {
    const MAX: usize = 64;
    let mut out = vec![text.to_string()];
    for _ in 0..8 {
        let mut next = Vec::new();
        let mut changed = false;
        for t in &out {
            match one_brace(t) {
                Some(parts) => {
                    changed = true;
                    next.extend(parts);
                }
                None => next.push(t.clone()),
            }
            if next.len() > MAX {
                next.truncate(MAX);
                break;
            }
        }
        out = next;
        if !changed {
            break;
        }
    }
    out
}

/// Expand the first `{a,b}` group of `t` (innermost groups first), if any.
fn one_brace(t: &str) -> Option<Vec<String>> {
    let b = t.as_bytes();
    let mut open = None;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'{' => open = Some(i),
            b'}' => {
                let o = open?;
                let inner = &t[o + 1..i];
                if !inner.contains(',') {
                    open = None;
                    continue;
                }
                let (pre, post) = (&t[..o], &t[i + 1..]);
                return Some(
                    inner
                        .split(',')
                        .map(|alt| format!("{pre}{alt}{post}"))
                        .collect(),
                );
            }
            _ => {}
        }
    }
    None
}
