//! Opening Bulwark's SQLite databases: created 0600 (with their WAL and shared-memory files),
//! WAL journal, `synchronous = FULL`, a busy timeout so concurrent processes wait rather than fail.

use std::path::{Path, PathBuf};

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};

use crate::StoreError;

/// A database error, named with the database's path.
pub(crate) fn db_error(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::io(path, std::io::Error::other(e.to_string()))
}

/// How long a connection waits for another process's lock before it gives up.
const BUSY_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether SQLite refused for a lock another connection holds (`SQLITE_BUSY`, `SQLITE_LOCKED`).
fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| {
            let primary = c.parse::<u32>().map(|n| n & 0xff);
            matches!(primary, Ok(5 | 6))
        })
}

/// The single-threaded runtime the blocking store calls run on.
pub(crate) fn runtime(path: &Path) -> Result<tokio::runtime::Runtime, StoreError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| StoreError::io(path, e))
}

/// Open (creating it 0600 in a 0700 directory if `create`) the database and run `ddl`.
pub(crate) fn connect(
    rt: &tokio::runtime::Runtime,
    path: &Path,
    create: bool,
    ddl: &[&'static str],
) -> Result<SqliteConnection, StoreError> {
    if create && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::fs::create_private_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    }
    if create && !path.exists() {
        // Create the file 0600 before SQLite opens it.
        crate::fs::private_options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::io(path, e))?;
    }
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_FOR);
    // Processes that start at once on a new home race to switch the new database to WAL and create
    // its tables; SQLite answers some of them "database is locked" at once instead of waiting for
    // the busy timeout. Those try again, a little later each time, for as long as the timeout.
    let deadline = std::time::Instant::now() + BUSY_FOR;
    let mut pause = std::time::Duration::from_millis(5);
    let conn = loop {
        let attempt = rt.block_on(async {
            let mut conn = SqliteConnection::connect_with(&opts).await?;
            for statement in ddl {
                sqlx::query(*statement).execute(&mut conn).await?;
            }
            Ok::<_, sqlx::Error>(conn)
        });
        match attempt {
            Ok(conn) => break conn,
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(200));
            }
            Err(e) => return Err(db_error(path, e)),
        }
    };
    // SQLite creates its WAL and shared-memory files with the process umask: make them as
    // private as the database.
    #[cfg(unix)]
    for suffix in ["-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        if side.exists() {
            std::fs::set_permissions(&side, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| StoreError::io(&side, e))?;
        }
    }
    Ok(conn)
}
