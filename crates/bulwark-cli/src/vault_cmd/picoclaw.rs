//! `bulwark vault import-picoclaw`: a PicoClaw installation's credentials into the vault.
//!
//! Read: `.security.yml` (plaintext, `file://` and `enc://` values, all imported, the file left as
//! it is) and `config.json` (the plaintext values in the fields PicoClaw reads as secure strings,
//! see `picoclaw::config_secrets`, each replaced by a reference PicoClaw resolves).
//!
//! Nothing is written until every value is read and every replacement made: one failure and
//! nothing changes. Then, in order: the vault gets the values; config.json is copied to a backup
//! (mode 0600: it holds the plaintext) that never replaces a file; `file` references are written
//! (0600, never over an existing file); config.json is replaced atomically, keeping its mode and
//! every byte but the replaced values.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bulwark_core::SecurityConfig;
use bulwark_core::vault::picoclaw::{self, Stated};
use bulwark_store::vault_file::VaultStore;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::open::{audit, now, provider_of, vault_err, vault_name};
use crate::{Fatal, PlainFormat, env_lookup};

/// What replaces a credential in config.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reference {
    /// An `enc://` value: PicoClaw's encryption, with its passphrase and SSH key.
    Enc,
    /// A `file://` reference to a file of mode 0600 under the config directory.
    File,
}

/// One import, as the command line asks for it.
pub struct Import {
    pub dir: PathBuf,
    pub prefix: String,
    pub reference: Reference,
    pub dry_run: bool,
    pub format: PlainFormat,
}

/// Credentials files are small: a larger file is not one.
const MAX_FILE: u64 = 1024 * 1024;

/// Where `file` references are written, under the config directory.
const SECRETS_DIR: &str = "bulwark-secrets";

/// A credential found, and where it goes.
struct Found {
    key: String,
    file: &'static str,
    line: Option<usize>,
    kind: &'static str,
    value: SecretString,
    vault: String,
    replaced_by: Option<&'static str>,
}

/// PicoClaw's key material for `enc://` values (SSH key file and passphrase), read when first
/// needed.
#[derive(Default)]
struct PicoKey(Option<(Zeroizing<Vec<u8>>, SecretString)>);

impl PicoKey {
    fn get(&mut self, key: &str) -> Result<(&[u8], &SecretString), Fatal> {
        if self.0.is_none() {
            let pass = env_lookup("PICOCLAW_KEY_PASSPHRASE")
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    Fatal(format!(
                        "{key}: an enc:// value needs PICOCLAW_KEY_PASSPHRASE (the passphrase PicoClaw runs with) and its SSH key; or pass --reference file to write config.json references to 0600 files"
                    ))
                })?;
            let key_path = env_lookup("PICOCLAW_SSH_KEY_PATH")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .or_else(|| {
                    env_lookup("HOME").map(|h| Path::new(&h).join(".ssh/picoclaw_ed25519.key"))
                })
                .ok_or_else(|| {
                    Fatal("set PICOCLAW_SSH_KEY_PATH (or HOME) to find PicoClaw's SSH key".into())
                })?;
            let bytes = Zeroizing::new(std::fs::read(&key_path).map_err(|e| {
                Fatal(format!(
                    "cannot read PicoClaw's SSH key {}: {e}",
                    key_path.display()
                ))
            })?);
            self.0 = Some((bytes, SecretString::from(pass)));
        }
        let (bytes, pass) = self
            .0
            .as_ref()
            .ok_or_else(|| Fatal("PicoClaw's key was not read".into()))?;
        Ok((bytes.as_slice(), pass))
    }
}

/// A small file's text, or None when there is no file.
fn read_small(path: &Path) -> Result<Option<Zeroizing<String>>, Fatal> {
    let meta = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Fatal(format!("{}: {e}", path.display()))),
        Ok(m) => m,
    };
    if meta.len() > MAX_FILE {
        return Err(Fatal(format!(
            "{} is over 1 MiB: not a PicoClaw credentials file",
            path.display()
        )));
    }
    let mut text = Zeroizing::new(String::new());
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE).read_to_string(&mut text))
        .map_err(|e| Fatal(format!("{}: {e}", path.display())))?;
    Ok(Some(text))
}

/// `.security.yml`'s credentials, decoded.
fn security_yml(
    dir: &Path,
    text: &str,
    key: &mut PicoKey,
    prefix: &str,
    out: &mut Vec<Found>,
) -> Result<(), Fatal> {
    for f in picoclaw::credentials(text).map_err(vault_err)? {
        let (kind, value) = match f.value {
            Stated::Plain(v) => ("plaintext", v),
            Stated::File(rel) => {
                let real = std::fs::canonicalize(dir.join(&rel))
                    .map_err(|e| Fatal(format!("{}: file://{rel}: {e}", f.key)))?;
                if !real.starts_with(dir) {
                    return Err(Fatal(format!(
                        "{}: file://{rel} resolves to {}, outside the config directory {}: refused, nothing was imported",
                        f.key,
                        real.display(),
                        dir.display()
                    )));
                }
                let mut content = Zeroizing::new(String::new());
                std::fs::File::open(&real)
                    .and_then(|fh| {
                        fh.take(bulwark_core::vault::MAX_VALUE as u64 + 1)
                            .read_to_string(&mut content)
                    })
                    .map_err(|e| Fatal(format!("{}: file://{rel}: {e}", f.key)))?;
                let v = content.trim_end_matches(['\n', '\r']).to_string();
                ("file", SecretString::from(v))
            }
            Stated::Encrypted(b64) => {
                let (bytes, pass) = key.get(&f.key)?;
                let v = picoclaw::decrypt(&b64, bytes, pass)
                    .map_err(|e| Fatal(format!("{}: {e}", f.key)))?;
                ("enc", v)
            }
        };
        out.push(Found {
            vault: vault_name(prefix, &f.key),
            key: f.key,
            file: ".security.yml",
            line: None,
            kind,
            value,
            replaced_by: None,
        });
    }
    Ok(())
}

/// config.json with each plaintext credential replaced by a reference, and the `file`
/// references' files to write. None when it holds no plaintext credential.
type Rewritten = (Zeroizing<String>, Vec<(PathBuf, SecretString)>);

fn config_json(
    dir: &Path,
    text: &str,
    job: &Import,
    key: &mut PicoKey,
    out: &mut Vec<Found>,
) -> Result<Option<Rewritten>, Fatal> {
    let secrets = picoclaw::config_secrets(text).map_err(vault_err)?;
    if secrets.is_empty() {
        return Ok(None);
    }
    let mut new = Zeroizing::new(String::with_capacity(text.len() + secrets.len() * 80));
    let mut files = Vec::new();
    let mut at = 0;
    for s in secrets {
        let reference = match job.reference {
            Reference::Enc => {
                let (bytes, pass) = key.get(&s.key)?;
                picoclaw::encrypt(&s.value, bytes, pass)
                    .map_err(|e| Fatal(format!("{}: {e}", s.key)))?
            }
            Reference::File => {
                let rel = format!("{SECRETS_DIR}/{}", file_name(&s.key));
                let path = dir.join(&rel);
                match std::fs::symlink_metadata(&path) {
                    Err(_) => files.push((path, s.value.clone())),
                    // A file an earlier, interrupted import wrote with this very value is kept.
                    Ok(m)
                        if m.is_file()
                            && std::fs::read(&path)
                                .is_ok_and(|b| b == s.value.expose_secret().as_bytes()) => {}
                    Ok(_) => {
                        return Err(Fatal(format!(
                            "{}: {} already exists with other content: nothing was changed (move it away, or use --reference enc)",
                            s.key,
                            path.display()
                        )));
                    }
                }
                format!("file://{rel}")
            }
        };
        new.push_str(&text[at..s.span.start]);
        new.push_str(&serde_json::to_string(&reference)?);
        at = s.span.end;
        out.push(Found {
            vault: vault_name(&job.prefix, &s.key),
            key: s.key,
            file: "config.json",
            line: Some(s.line),
            kind: "plaintext",
            value: s.value,
            replaced_by: Some(match job.reference {
                Reference::Enc => "enc",
                Reference::File => "file",
            }),
        });
    }
    new.push_str(&text[at..]);
    // The same document, with no plaintext credential left.
    if !picoclaw::config_secrets(&new)
        .map_err(vault_err)?
        .is_empty()
    {
        return Err(Fatal(
            "config.json still held a credential after its replacement: nothing was changed".into(),
        ));
    }
    Ok(Some((new, files)))
}

/// A key path as one file name under `bulwark-secrets/`: letters, digits, `-`, `_` and `.` only
/// (so no `/` or `..` leaves the directory), never starting with a dot.
fn file_name(key: &str) -> String {
    let mut out = vault_name("", key).replace('/', "_").replace("..", "._");
    if out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

/// Back config.json up, write the `file` references, and replace config.json atomically.
/// Returns the backup's path.
fn rewrite(
    dir: &Path,
    old: &str,
    new: &str,
    files: &[(PathBuf, SecretString)],
) -> Result<PathBuf, Fatal> {
    use bulwark_store::fs::{create_private_dir, create_private_exclusive, write_private_atomic};
    fn io(p: &Path) -> impl FnOnce(std::io::Error) -> Fatal + '_ {
        move |e| Fatal(format!("{}: {e}", p.display()))
    }
    let path = dir.join("config.json");
    let mode = std::fs::metadata(&path)
        .map_err(io(&path))?
        .permissions()
        .mode()
        & 0o777;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // The first free name: a backup never replaces a file.
    let mut n = 0;
    let backup = loop {
        let name = match n {
            0 => format!("config.json.bak-{stamp}"),
            n => format!("config.json.bak-{stamp}-{n}"),
        };
        let candidate = dir.join(name);
        if create_private_exclusive(&candidate, old.as_bytes()).map_err(io(&candidate))? {
            break candidate;
        }
        n += 1;
    };
    if !files.is_empty() {
        let secrets = dir.join(SECRETS_DIR);
        create_private_dir(&secrets)
            .and_then(|()| {
                std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700))
            })
            .map_err(io(&secrets))?;
        for (p, v) in files {
            if !create_private_exclusive(p, v.expose_secret().as_bytes()).map_err(io(p))? {
                return Err(Fatal(format!(
                    "{} appeared while the import ran: config.json was not changed (the backup {} is the file as it was)",
                    p.display(),
                    backup.display()
                )));
            }
        }
    }
    write_private_atomic(&path, new.as_bytes()).map_err(|e| {
        Fatal(format!(
            "{}: {e} (the backup {} is the file as it was)",
            path.display(),
            backup.display()
        ))
    })?;
    // Written 0600; config.json keeps the mode it had.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(io(&path))?;
    Ok(backup)
}

pub fn import(
    cfg: &SecurityConfig,
    home: &Path,
    store: &VaultStore,
    job: &Import,
) -> Result<u8, Fatal> {
    let dir = std::fs::canonicalize(&job.dir)
        .map_err(|e| Fatal(format!("--picoclaw-config {}: {e}", job.dir.display())))?;
    // Replacing a link would leave the plaintext in its target; a linked secrets directory would
    // put the files elsewhere.
    for name in ["config.json", SECRETS_DIR] {
        let p = dir.join(name);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Fatal(format!(
                "{} is a symbolic link: refused, nothing was changed (run the import on the directory of the file it points to, or replace the link)",
                p.display()
            )));
        }
    }
    let security = read_small(&dir.join(".security.yml"))?;
    let config = read_small(&dir.join("config.json"))?;
    if security.is_none() && config.is_none() {
        return Err(Fatal(format!(
            "{}: neither config.json nor .security.yml is there: expected PicoClaw's config directory (~/.picoclaw)",
            dir.display()
        )));
    }
    let mut key = PicoKey::default();
    let mut found = Vec::new();
    if let Some(text) = &security {
        security_yml(&dir, text, &mut key, &job.prefix, &mut found)?;
    }
    let rewritten = match &config {
        Some(text) => config_json(&dir, text, job, &mut key, &mut found)?,
        None => None,
    };
    if found.is_empty() {
        println!("no credentials in {}", dir.display());
        return Ok(0);
    }
    // Everything the vault will check, checked before anything is written.
    let mut names: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for f in &found {
        bulwark_core::vault::check_name(&f.vault).map_err(|e| {
            Fatal(format!(
                "{} ({}): {e}; nothing was changed (try a shorter --prefix)",
                f.key, f.file
            ))
        })?;
        if f.value.expose_secret().len() > bulwark_core::vault::MAX_VALUE {
            return Err(Fatal(format!(
                "{} ({}): the value is {} bytes, more than a vault entry holds ({}): nothing was changed",
                f.key,
                f.file,
                f.value.expose_secret().len(),
                bulwark_core::vault::MAX_VALUE
            )));
        }
        match names.insert(&f.vault, &f.key) {
            Some(other) if other != f.key => {
                return Err(Fatal(format!(
                    "{other:?} and {:?} would both be vault entry {}: nothing was changed (rename one in PicoClaw's configuration)",
                    f.key, f.vault
                )));
            }
            _ => {}
        }
    }
    let mut backup = None;
    if !job.dry_run {
        let when = now();
        let provider = provider_of(store)?;
        store
            .update(|vf| {
                let u = vf.unlock(provider.as_ref())?;
                // A key in both files: PicoClaw reads the .security.yml value, which comes first.
                let mut seen = std::collections::BTreeSet::new();
                for f in &found {
                    if seen.insert(f.vault.as_str()) {
                        u.set(vf, &f.vault, &f.value, &when)?;
                    }
                }
                Ok(())
            })
            .map_err(vault_err)?;
        if let (Some((new, files)), Some(old)) = (&rewritten, &config) {
            backup = Some(rewrite(&dir, old, new, files)?);
        }
        audit(
            cfg,
            home,
            "vault.import_picoclaw",
            &dir.display().to_string(),
            "ok",
        )?;
    }
    report(&dir, &found, backup.as_deref(), job)
}

fn report(dir: &Path, found: &[Found], backup: Option<&Path>, job: &Import) -> Result<u8, Fatal> {
    let mut out = std::io::stdout().lock();
    match job.format {
        PlainFormat::Json => {
            let v: Vec<_> = found
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "key": f.key, "file": f.file, "line": f.line, "vault_name": f.vault,
                        "source": f.kind, "reference": format!("vault:{}", f.vault),
                        "replaced_by": f.replaced_by, "dry_run": job.dry_run,
                        "backup": if f.replaced_by.is_some() { backup.map(|b| b.display().to_string()) } else { None },
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        PlainFormat::Text => {
            let verb = if job.dry_run { "would be" } else { "was" };
            for f in found {
                let place = match f.line {
                    Some(l) => format!("{}:{l}", f.file),
                    None => f.file.to_string(),
                };
                let replaced = match f.replaced_by {
                    Some("enc") => format!("; {verb} replaced by an enc:// value"),
                    Some(_) => format!("; {verb} replaced by a file:// reference ({SECRETS_DIR}/)"),
                    None => String::new(),
                };
                writeln!(
                    out,
                    "{place}: {} ({}) -> vault:{}{replaced}",
                    f.key, f.kind, f.vault
                )?;
            }
            let n = found.len();
            if job.dry_run {
                writeln!(
                    out,
                    "{n} credential(s) found in {}: nothing was changed (dry run).",
                    dir.display()
                )?;
                return Ok(0);
            }
            writeln!(out, "{n} credential(s) imported into the vault.")?;
            if let Some(b) = backup {
                writeln!(
                    out,
                    "config.json now holds references, and PicoClaw reads them as before{}. Its old text, with the plaintext, is in {} (mode 0600): delete it once PicoClaw starts.",
                    if job.reference == Reference::Enc {
                        " (with PICOCLAW_KEY_PASSPHRASE set, as for any enc:// value)"
                    } else {
                        ""
                    },
                    b.display()
                )?;
            }
            if found.iter().any(|f| f.file == ".security.yml") {
                writeln!(
                    out,
                    "The values in .security.yml are unchanged: remove them once PicoClaw reads them another way (e.g. `bulwark vault run`)."
                )?;
            }
        }
    }
    Ok(0)
}
