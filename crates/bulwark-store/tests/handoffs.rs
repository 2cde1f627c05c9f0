//! The model gateway's judgements handed to the MCP gateway through the state database: taken
//! once (also by racing processes' connections), only for the same tool and arguments, never
//! after they expire.

use bulwark_core::provenance::handoff::{HANDOFF_TTL_MS, args_key};
use bulwark_core::provenance::{Handoff, HandoffStore};
use bulwark_store::state_db::StateDb;

fn handoff(args: &str, tool: &str, now: u64) -> Handoff {
    Handoff {
        key: args_key(args).expect("json"),
        tool: tool.into(),
        conversation: "c1".into(),
        untrusted: 2,
        class: bulwark_core::action::ActionClass::Write,
        rule: String::new(),
        expires_ms: now + HANDOFF_TTL_MS,
    }
}

#[test]
fn a_handoff_is_taken_once_for_its_tool_and_arguments_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(&dir.path().join("state.db")).unwrap();
    let now = 1_800_000_000_000;
    let args = r#"{"path":"/w/summary.txt","content":"done"}"#;
    db.put_handoff(&handoff(args, "mcp__fs__write_file", now))
        .unwrap();
    let key = args_key(r#"{ "content": "done", "path": "/w/summary.txt" }"#).unwrap();
    // Another tool, other arguments: nothing.
    assert_eq!(db.take_handoff(&key, "delete_file", now).unwrap(), None);
    let other = args_key(r#"{"path":"/w/other.txt","content":"done"}"#).unwrap();
    assert_eq!(db.take_handoff(&other, "write_file", now).unwrap(), None);
    // The same call, as the MCP server names it: once.
    let h = db
        .take_handoff(&key, "write_file", now)
        .unwrap()
        .expect("taken");
    assert_eq!((h.conversation.as_str(), h.untrusted), ("c1", 2));
    assert_eq!(db.take_handoff(&key, "write_file", now).unwrap(), None);
}

#[test]
fn an_expired_handoff_is_not_taken_and_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(&dir.path().join("state.db")).unwrap();
    let now = 1_800_000_000_000;
    let args = r#"{"path":"a"}"#;
    db.put_handoff(&handoff(args, "write_file", now)).unwrap();
    let key = args_key(args).unwrap();
    assert_eq!(
        db.take_handoff(&key, "write_file", now + HANDOFF_TTL_MS)
            .unwrap(),
        None
    );
    // A later put drops it; a fresh one is there.
    let later = now + 2 * HANDOFF_TTL_MS;
    db.put_handoff(&handoff(args, "write_file", later)).unwrap();
    assert!(
        db.take_handoff(&key, "write_file", later)
            .unwrap()
            .is_some()
    );
    assert_eq!(db.take_handoff(&key, "write_file", later).unwrap(), None);
}

#[test]
fn of_two_connections_racing_for_one_handoff_one_takes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let now = 1_800_000_000_000;
    let args = r#"{"path":"race"}"#;
    StateDb::open(&path)
        .unwrap()
        .put_handoff(&handoff(args, "write_file", now))
        .unwrap();
    let key = args_key(args).unwrap();
    let taken: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (path, key) = (path.clone(), key.clone());
                s.spawn(move || {
                    let db = StateDb::open(&path).unwrap();
                    db.take_handoff(&key, "write_file", now).unwrap().is_some() as usize
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(taken, 1);
}
