//! First use is race-free: many commands started at once on a new home create its keys, state
//! database and audit log once, and every home is valid afterwards.

mod common;
use common::{bulwark_on, text};

use std::io::Write;
use std::process::Stdio;

fn intent_check(home: &std::path::Path) -> std::process::Child {
    let mut child = bulwark_on(home)
        .args(["intent", "check", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bulwark");
    let intent =
        br#"{"tool":"shell","action":"run","args":{"command":"ls -la"},"requested_by":"agent"}"#;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(intent)
        .expect("write intent");
    child
}

#[test]
fn sixteen_commands_at_once_on_fifty_new_homes() {
    let homes: usize = std::env::var("BULWARK_RACE_HOMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    for h in 0..homes {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let children: Vec<_> = (0..16).map(|_| intent_check(&home)).collect();
        for c in children {
            let o = c.wait_with_output().expect("wait");
            assert_eq!(o.status.code(), Some(0), "home {h}: {}", text(&o));
        }
        let o = bulwark_on(&home)
            .args(["audit", "verify"])
            .output()
            .expect("audit verify");
        assert_eq!(o.status.code(), Some(0), "home {h}: {}", text(&o));
        let report = String::from_utf8_lossy(&o.stdout);
        assert!(
            report.contains("16") || report.contains("records"),
            "{report}"
        );
        // Every key file is private and none of our temporary files is left.
        for entry in std::fs::read_dir(home.join("keys")).expect("keys") {
            let entry = entry.expect("entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".tmp"), "home {h}: {name} left behind");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = entry.metadata().expect("metadata").permissions().mode();
                assert_eq!(mode & 0o077, 0, "home {h}: {name} is mode {mode:o}");
            }
        }
    }
}

#[test]
fn a_home_that_lost_its_key_says_so_instead_of_crying_forgery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let o = intent_check(&home).wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::remove_file(home.join("keys/audit-hmac.keys")).expect("remove key");
    let o = intent_check(&home).wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is missing") && err.contains("restore"),
        "{err}"
    );
    assert!(!err.contains("forged"), "{err}");
    // Nothing was created in its place.
    assert!(!home.join("keys/audit-hmac.keys").exists());
}
