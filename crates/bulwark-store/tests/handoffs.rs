//! The model gateway's judgements handed to the MCP gateway through the state database: taken
//! once (also by racing processes' connections), only for the call they cover, never after they
//! expire, and bounded in number.

use bulwark_core::action::ActionClass;
use bulwark_core::provenance::handoff::{HANDOFF_TTL_MS, Wanted, args_key};
use bulwark_core::provenance::{Handoff, HandoffStore};
use bulwark_store::state_db::StateDb;

const NOW: u64 = 1_800_000_000_000;

fn handoff(args: &str, tool: &str, now: u64) -> Handoff {
    Handoff {
        key: args_key(args).expect("json"),
        tool: tool.into(),
        token: "agent".into(),
        conversation: "c1".into(),
        untrusted: 2,
        class: ActionClass::Write,
        rule: String::new(),
        expires_ms: now + HANDOFF_TTL_MS,
    }
}

fn wanted<'a>(key: &'a str, tool: &'a str, from: &'a [String], now: u64) -> Wanted<'a> {
    Wanted {
        key,
        tool,
        server: "fs",
        from,
        class: ActionClass::Write,
        now_ms: now,
    }
}

#[test]
fn a_handoff_is_taken_once_for_the_call_it_covers_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(&dir.path().join("state.db")).unwrap();
    let from = vec!["agent".to_string()];
    let args = r#"{"path":"/w/summary.txt","content":"done"}"#;
    db.put_handoff(&handoff(args, "mcp__fs__write_file", NOW), NOW)
        .unwrap();
    let key = args_key(r#"{ "content": "done", "path": "/w/summary.txt" }"#).unwrap();
    // Another tool, other arguments, a token the server does not take, a graver class: nothing,
    // and the handoff is still there.
    assert_eq!(
        db.take_handoff(&wanted(&key, "delete_file", &from, NOW))
            .unwrap(),
        None
    );
    let other = args_key(r#"{"path":"/w/other.txt","content":"done"}"#).unwrap();
    assert_eq!(
        db.take_handoff(&wanted(&other, "write_file", &from, NOW))
            .unwrap(),
        None
    );
    let strangers = vec!["intruder".to_string()];
    assert_eq!(
        db.take_handoff(&wanted(&key, "write_file", &strangers, NOW))
            .unwrap(),
        None
    );
    let graver = Wanted {
        class: ActionClass::Destructive,
        ..wanted(&key, "write_file", &from, NOW)
    };
    assert_eq!(db.take_handoff(&graver).unwrap(), None);
    // The same call, as the MCP server names it: once.
    let h = db
        .take_handoff(&wanted(&key, "write_file", &from, NOW))
        .unwrap()
        .expect("taken");
    assert_eq!((h.conversation.as_str(), h.untrusted), ("c1", 2));
    assert_eq!(
        db.take_handoff(&wanted(&key, "write_file", &from, NOW))
            .unwrap(),
        None
    );
}

#[test]
fn an_expired_handoff_is_not_taken_and_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(&dir.path().join("state.db")).unwrap();
    let from = vec!["agent".to_string()];
    let args = r#"{"path":"a"}"#;
    db.put_handoff(&handoff(args, "write_file", NOW), NOW)
        .unwrap();
    let key = args_key(args).unwrap();
    let expired = NOW + HANDOFF_TTL_MS;
    assert_eq!(
        db.take_handoff(&wanted(&key, "write_file", &from, expired))
            .unwrap(),
        None
    );
    // A later put drops it; a fresh one is there.
    let later = NOW + 2 * HANDOFF_TTL_MS;
    db.put_handoff(&handoff(args, "write_file", later), later)
        .unwrap();
    assert!(
        db.take_handoff(&wanted(&key, "write_file", &from, later))
            .unwrap()
            .is_some()
    );
    assert_eq!(
        db.take_handoff(&wanted(&key, "write_file", &from, later))
            .unwrap(),
        None
    );
}

#[test]
fn the_store_keeps_a_bounded_number_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(&dir.path().join("state.db")).unwrap();
    let from = vec!["agent".to_string()];
    let first = r#"{"n":0}"#;
    db.put_handoff(&handoff(first, "write_file", NOW), NOW)
        .unwrap();
    for n in 1..=16_384 {
        let args = format!(r#"{{"n":{n}}}"#);
        db.put_handoff(&handoff(&args, "write_file", NOW), NOW)
            .unwrap();
    }
    let key = args_key(first).unwrap();
    assert_eq!(
        db.take_handoff(&wanted(&key, "write_file", &from, NOW))
            .unwrap(),
        None
    );
    let last = args_key(r#"{"n":16384}"#).unwrap();
    assert!(
        db.take_handoff(&wanted(&last, "write_file", &from, NOW))
            .unwrap()
            .is_some()
    );
}

#[test]
fn of_eight_connections_racing_for_one_handoff_one_takes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let args = r#"{"path":"race"}"#;
    StateDb::open(&path)
        .unwrap()
        .put_handoff(&handoff(args, "write_file", NOW), NOW)
        .unwrap();
    let key = args_key(args).unwrap();
    let taken: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (path, key) = (path.clone(), key.clone());
                s.spawn(move || {
                    let db = StateDb::open(&path).unwrap();
                    let from = vec!["agent".to_string()];
                    db.take_handoff(&wanted(&key, "write_file", &from, NOW))
                        .unwrap()
                        .is_some() as usize
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(taken, 1);
}
