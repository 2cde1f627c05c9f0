//! Private files and directories, and atomic replacement.

use std::io::Write;
use std::path::Path;

/// Create `dir` and its missing parents, the new ones with mode 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Options that create a file readable by its owner only (0600).
pub fn private_options() -> std::fs::OpenOptions {
    let mut o = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o
}

/// A new 0600 temporary file beside `path`, with a random name no other process uses, holding
/// `bytes`, fsync'd. Created exclusively: a planted file or symlink is never opened.
fn private_temp(path: &Path, bytes: &[u8]) -> std::io::Result<std::path::PathBuf> {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id)
        .map_err(|e| std::io::Error::other(format!("no random source: {e}")))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = path.with_file_name(format!(".{name}.{hex}.tmp"));
    let mut f = private_options().write(true).create_new(true).open(&tmp)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

/// Replace `path` with `bytes` atomically: a 0600 temporary file of its own beside it (so two
/// processes writing at once never share one), fsync, rename, fsync of the directory.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = private_temp(path, bytes)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Create `path` with `bytes` unless it exists, atomically and without ever replacing it: a 0600
/// temporary file, fsync, then a hard link to `path` (which fails if `path` exists), so the file is
/// complete whenever it is visible. `Ok(true)`: created; `Ok(false)`: another process made it
/// first, and its content is the one to use.
pub fn create_private_exclusive(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    let tmp = private_temp(path, bytes)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(path.parent().unwrap_or(Path::new(".")))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// fsync a directory, so a file created or renamed in it survives a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::File::open(dir)?.sync_all()
}

/// Refuse a secret file that others can read (on Unix): it names the fix.
pub fn check_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{} is readable by other users (mode {:o}): run `chmod 600 {}`",
                    path.display(),
                    mode & 0o777,
                    path.display()
                ),
            ));
        }
    }
    Ok(())
}

/// How long a writer waits for another process's lock on the audit log.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Take the exclusive writer lock of the log at `log` (lock file `lock`, created 0600), waiting
/// up to `wait` for another process to let it go. The lock lasts as long as the file handle.
pub fn lock_writer(
    log: &Path,
    lock: &Path,
    wait: std::time::Duration,
) -> Result<std::fs::File, crate::StoreError> {
    let file = private_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock)
        .map_err(|e| crate::StoreError::io(lock, e))?;
    let deadline = std::time::Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(crate::StoreError::InUse {
                    path: log.to_path_buf(),
                    lock: lock.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(crate::StoreError::io(lock, e)),
        }
    }
}

/// The real filesystem for the action guard's workspace check: reads symlinks, nothing else.
pub struct OsPaths;

impl bulwark_core::action::PathProbe for OsPaths {
    fn read_link(&self, path: &Path) -> Option<std::path::PathBuf> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        if meta.file_type().is_symlink() {
            std::fs::read_link(path).ok()
        } else {
            None
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_writes_never_reuse_a_planted_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("vault.json");
        let tmp = dir.path().join("vault.tmp");
        // An open temporary file left behind (or planted): the result is still 0600.
        std::fs::write(&tmp, b"old").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o666)).unwrap();
        write_private_atomic(&target, b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(
            std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A symlink planted where a temporary file might be is not followed (ours have random
        // names and are created exclusively).
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, b"keep").unwrap();
        std::fs::remove_file(&tmp).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &tmp).unwrap();
        write_private_atomic(&target, b"newer").unwrap();
        assert_eq!(std::fs::read(&elsewhere).unwrap(), b"keep");
        assert_eq!(std::fs::read(&target).unwrap(), b"newer");
        // No temporary file of ours is left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("vault.tmp")]);
    }

    #[test]
    fn exclusive_creation_never_replaces_and_one_writer_wins() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("audit-hmac.keys");
        let winners: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let target = &target;
                    s.spawn(move || {
                        create_private_exclusive(target, format!("{i}\n").as_bytes()).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(winners.iter().filter(|w| **w).count(), 1);
        let text = std::fs::read_to_string(&target).unwrap();
        assert!(text.ends_with('\n') && text.trim().parse::<u32>().unwrap() < 16);
        assert_eq!(
            std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!create_private_exclusive(&target, b"other").unwrap());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), text);
    }
}
