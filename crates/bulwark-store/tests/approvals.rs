//! Approvals through the SQLite store: replay, expiry, swapped intents, forged and self
//! approvals, multi-approver tiers, and racing consumers (exactly one wins).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bulwark_core::action::{ActionEnv, ActionPolicy, ExecutionIntent, IntentDigest, NoSymlinks};
use bulwark_core::approval::{
    ApprovalError, ApprovalId, ApprovalStore, Approvals, Approvers, Clock, StateName,
};
use bulwark_core::audit::{AuditError, AuditEvent, AuditRecord, AuditSink, Chain, now_rfc3339};
use bulwark_core::config::{ActionMode, SecurityConfig};
use bulwark_store::state_db::StateDb;

#[derive(Default)]
struct MemoryAudit {
    events: Mutex<Vec<AuditEvent>>,
    chain: Mutex<Option<Chain>>,
}

impl AuditSink for MemoryAudit {
    fn append(&self, event: AuditEvent) -> Result<AuditRecord, AuditError> {
        self.events.lock().unwrap().push(event.clone());
        let key = bulwark_core::audit::AuditKey::from_bytes(zeroize::Zeroizing::new([7u8; 32]));
        let mut chain = self.chain.lock().unwrap();
        chain
            .get_or_insert_with(Chain::genesis)
            .seal(event, now_rfc3339(), &key)
    }
}

impl MemoryAudit {
    fn actions(&self) -> Vec<(String, String)> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| (e.action.clone(), e.outcome.clone()))
            .collect()
    }
}

struct TestClock(AtomicU64);

impl Clock for TestClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: PathBuf,
    store: StateDb,
    audit: MemoryAudit,
    clock: TestClock,
    cfg: SecurityConfig,
}

fn fixture(approvers: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("approvals.db");
    let store = StateDb::open(&db).unwrap();
    let mut cfg = SecurityConfig::default();
    cfg.action.mode = ActionMode::Supervised;
    cfg.approval.approvers = approvers.iter().map(|a| a.to_string()).collect();
    cfg.approval
        .roles
        .insert("sre".into(), vec!["bob".into(), "carol".into()]);
    Fixture {
        _dir: dir,
        db,
        store,
        audit: MemoryAudit::default(),
        clock: TestClock(AtomicU64::new(1_800_000_000_000)),
        cfg,
    }
}

impl Fixture {
    fn approvals(&self) -> Approvals<'_> {
        Approvals::new(
            &self.store,
            Some(&self.audit),
            Approvers::from_config(&self.cfg.approval),
            self.cfg.approval.ttl_secs,
            &self.clock,
        )
    }

    fn advance_secs(&self, s: u64) {
        self.clock.0.fetch_add(s * 1000, Ordering::SeqCst);
    }
}

fn intent(replicas: u64) -> ExecutionIntent {
    intent_by("sre-copilot", replicas)
}

fn intent_by(requested_by: &str, replicas: u64) -> ExecutionIntent {
    ExecutionIntent::from_json(
        format!(
            r#"{{"tool":"kubectl","action":"scale","target":{{"kind":"deployment","name":"api",
            "namespace":"payments-prod"}},"args":{{"replicas":{replicas}}},
            "requested_by":"{requested_by}","source":{{"alert_id":"A-7"}},"reason":"latency alert"}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

fn pending(f: &Fixture, i: &ExecutionIntent) -> (ApprovalId, IntentDigest) {
    let policy = ActionPolicy::from_config(
        &f.cfg.action,
        &ActionEnv {
            workspace_root: "/work".into(),
            home: None,
        },
    )
    .unwrap();
    let decision = policy.evaluate(i, &NoSymlinks).unwrap();
    assert_eq!(
        decision.verdict,
        bulwark_core::Verdict::Review,
        "{decision:?}"
    );
    assert_eq!(decision.tier.as_deref(), Some("production"));
    let a = f.approvals().create(i, &decision).unwrap();
    (a.id().clone(), a.digest().clone())
}

#[test]
fn approve_then_consume_once_and_replay_fails() {
    let f = fixture(&["alice"]);
    let i = intent(0);
    let (id, digest) = pending(&f, &i);
    let ap = f.approvals();
    let rec = ap.approve(&id, &digest, "alice").unwrap();
    assert_eq!(rec.state, StateName::Approved);
    let executed = ap.consume(&id, &i, "executor").unwrap();
    assert_eq!(executed.state().by, "executor");
    // Replay: a second consume and a second approval both fail.
    match ap.consume(&id, &i, "executor") {
        Err(ApprovalError::WrongState {
            state: StateName::Executed,
            ..
        }) => {}
        other => panic!("replayed consume: {other:?}"),
    }
    assert!(matches!(
        ap.approve(&id, &digest, "alice"),
        Err(ApprovalError::WrongState {
            state: StateName::Executed,
            ..
        })
    ));
    assert_eq!(
        f.audit.actions(),
        vec![
            ("approval.create".to_string(), "pending".to_string()),
            ("approval.approve".into(), "approved".into()),
            ("approval.consume".into(), "executed".into()),
            ("approval.consume".into(), "denied".into()),
            ("approval.approve".into(), "denied".into()),
        ]
    );
}

#[test]
fn consume_before_approval_and_after_expiry_fail() {
    let f = fixture(&["alice"]);
    let i = intent(0);
    let (id, digest) = pending(&f, &i);
    assert!(matches!(
        f.approvals().consume(&id, &i, "executor"),
        Err(ApprovalError::WrongState {
            state: StateName::Pending,
            ..
        })
    ));
    f.approvals().approve(&id, &digest, "alice").unwrap();
    f.advance_secs(f.cfg.approval.ttl_secs);
    assert!(matches!(
        f.approvals().consume(&id, &i, "executor"),
        Err(ApprovalError::Expired { .. })
    ));
    let (rec, _) = f.approvals().get(&id).unwrap();
    assert_eq!(rec.state, StateName::Expired);
    assert!(
        f.audit
            .actions()
            .contains(&("approval.expire".into(), "expired".into()))
    );
}

#[test]
fn approval_after_expiry_fails_and_list_settles_expiries() {
    let f = fixture(&["alice"]);
    let i = intent(0);
    let (id, digest) = pending(&f, &i);
    let (id2, _) = pending(&f, &intent(1));
    f.advance_secs(f.cfg.approval.ttl_secs - 1);
    assert_eq!(
        f.approvals()
            .list(Some(StateName::Pending), 10)
            .unwrap()
            .len(),
        2
    );
    f.advance_secs(1);
    assert!(matches!(
        f.approvals().approve(&id, &digest, "alice"),
        Err(ApprovalError::Expired { .. })
    ));
    let expired = f.approvals().list(Some(StateName::Expired), 10).unwrap();
    let ids: Vec<&str> = expired.iter().map(|r| r.id.as_str()).collect();
    assert!(
        ids.contains(&id.as_str()) && ids.contains(&id2.as_str()),
        "{ids:?}"
    );
    assert!(
        f.approvals()
            .list(Some(StateName::Pending), 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_intent_altered_after_approval_is_refused() {
    let f = fixture(&["alice"]);
    let i = intent(0);
    let (id, digest) = pending(&f, &i);
    // The approver was shown another intent's digest.
    let other = intent(3).digest().unwrap();
    assert!(matches!(
        f.approvals().approve(&id, &other, "alice"),
        Err(ApprovalError::DigestMismatch { .. })
    ));
    f.approvals().approve(&id, &digest, "alice").unwrap();
    // The executor swaps in a changed intent.
    for changed in [
        intent(3),
        {
            let mut x = i.clone();
            x.target.namespace = Some("payments-dev".into());
            x
        },
        {
            let mut x = i.clone();
            x.reason.push('!');
            x
        },
    ] {
        assert!(matches!(
            f.approvals().consume(&id, &changed, "executor"),
            Err(ApprovalError::DigestMismatch { .. })
        ));
    }
    // The approval is still usable for the approved intent.
    f.approvals().consume(&id, &i, "executor").unwrap();
}

#[test]
fn unauthorized_and_self_approvals_are_refused() {
    let f = fixture(&["alice", "sre-copilot", "role:sre"]);
    let i = intent(0);
    let (id, digest) = pending(&f, &i);
    assert!(matches!(
        f.approvals().approve(&id, &digest, "mallory"),
        Err(ApprovalError::NotApprover { .. })
    ));
    // The requester is listed as an approver, and still may not approve its own action.
    assert!(matches!(
        f.approvals().approve(&id, &digest, "sre-copilot"),
        Err(ApprovalError::SelfApproval { .. })
    ));
    // A role member may.
    assert_eq!(
        f.approvals().approve(&id, &digest, "carol").unwrap().state,
        StateName::Approved
    );
    // Nobody is an approver by default.
    let f = fixture(&[]);
    let (id, digest) = pending(&f, &i);
    assert!(matches!(
        f.approvals().approve(&id, &digest, "alice"),
        Err(ApprovalError::NotApprover { .. })
    ));
    let denied = f
        .audit
        .actions()
        .iter()
        .filter(|(_, o)| o == "denied")
        .count();
    assert_eq!(denied, 1);
}

#[test]
fn a_tier_needing_two_approvers_needs_two_distinct_ones() {
    let mut f = fixture(&["alice", "bob"]);
    f.cfg.action.tiers[0].approvals = 2;
    let i = intent(0);
    let (id, digest) = pending(&f, &i);
    let ap = f.approvals();
    assert_eq!(
        ap.approve(&id, &digest, "alice").unwrap().state,
        StateName::Pending
    );
    assert!(matches!(
        ap.approve(&id, &digest, "alice"),
        Err(ApprovalError::AlreadyVoted { .. })
    ));
    assert!(matches!(
        ap.consume(&id, &i, "executor"),
        Err(ApprovalError::WrongState {
            state: StateName::Pending,
            ..
        })
    ));
    assert_eq!(
        ap.approve(&id, &digest, "bob").unwrap().state,
        StateName::Approved
    );
    ap.consume(&id, &i, "executor").unwrap();
}

#[test]
fn rejected_is_final() {
    let f = fixture(&["alice"]);
    let i = intent(0);
    let (id, digest) = pending(&f, &i);
    assert!(matches!(
        f.approvals().reject(&id, "mallory", "no"),
        Err(ApprovalError::NotApprover { .. })
    ));
    let rec = f
        .approvals()
        .reject(&id, "alice", "not during the freeze")
        .unwrap();
    assert_eq!(rec.state, StateName::Rejected);
    assert_eq!(rec.reason.as_deref(), Some("not during the freeze"));
    assert!(f.approvals().approve(&id, &digest, "alice").is_err());
    assert!(f.approvals().consume(&id, &i, "x").is_err());
    assert!(matches!(
        f.approvals()
            .get(&ApprovalId::parse(&"0".repeat(32)).unwrap()),
        Err(ApprovalError::NotFound(_))
    ));
}

#[test]
fn a_hundred_racing_consumers_one_success() {
    let f = fixture(&["alice"]);
    let i = intent(0);
    let (id, digest) = pending(&f, &i);
    f.approvals().approve(&id, &digest, "alice").unwrap();
    let wins = Arc::new(AtomicU64::new(0));
    let refusals = Arc::new(AtomicU64::new(0));
    let approvers = Approvers::from_config(&f.cfg.approval);
    std::thread::scope(|s| {
        for t in 0..100 {
            let (db, id, i, wins, refusals, approvers) =
                (&f.db, &id, &i, &wins, &refusals, approvers.clone());
            let (audit, clock, ttl) = (&f.audit, &f.clock, f.cfg.approval.ttl_secs);
            s.spawn(move || {
                // Each consumer has its own connection, as separate processes would.
                let store = StateDb::open(db).unwrap();
                let ap = Approvals::new(&store, Some(audit), approvers, ttl, clock);
                match ap.consume(id, i, &format!("executor-{t}")) {
                    Ok(_) => wins.fetch_add(1, Ordering::SeqCst),
                    Err(ApprovalError::WrongState {
                        state: StateName::Executed,
                        ..
                    }) => refusals.fetch_add(1, Ordering::SeqCst),
                    Err(e) => panic!("unexpected: {e}"),
                };
            });
        }
    });
    assert_eq!(wins.load(Ordering::SeqCst), 1);
    assert_eq!(refusals.load(Ordering::SeqCst), 99);
    let executed = f
        .audit
        .actions()
        .iter()
        .filter(|(a, o)| a == "approval.consume" && o == "executed")
        .count();
    assert_eq!(executed, 1);
}

#[test]
fn damaged_rows_are_reported_not_trusted() {
    let f = fixture(&["alice"]);
    let i = intent(0);
    let (id, _) = pending(&f, &i);
    let (mut rec, json) = f.store.load(&id).unwrap().unwrap();
    // An "approved" row without votes (edited by hand) is refused.
    rec.state = StateName::Approved;
    rec.version += 1;
    rec.decided_ms = Some(1);
    assert!(f.store.replace(rec.version - 1, &rec).unwrap());
    assert!(matches!(
        f.approvals().consume(&id, &i, "x"),
        Err(ApprovalError::Damaged { .. })
    ));
    assert!(json.contains("payments-prod"));
    assert!(matches!(
        ApprovalId::parse("zz"),
        Err(ApprovalError::BadId(_))
    ));
}

#[test]
fn approvals_are_bound_to_their_requester() {
    let f = fixture(&["alice"]);
    let mine = intent(0);
    let theirs = intent_by("other-agent", 0);
    let (id, digest) = pending(&f, &mine);
    f.clock.0.fetch_add(1, Ordering::SeqCst);
    let (other, _) = pending(&f, &theirs);
    let ap = f.approvals();
    let ids = |list: Vec<bulwark_core::approval::ApprovalRecord>| -> Vec<ApprovalId> {
        list.into_iter().map(|r| r.id).collect()
    };
    // Reading: the requester and the approvers; anyone else is told what an unknown id is told.
    let unknown = ApprovalId::parse(&"0".repeat(32)).unwrap();
    for (who, visible) in [
        ("sre-copilot", true),
        ("alice", true),
        ("other-agent", false),
    ] {
        match ap.get_as(&id, who) {
            Ok((rec, intent)) => {
                assert!(visible, "{who} read it");
                assert_eq!(rec.id, id);
                assert_eq!(intent, mine);
            }
            Err(ApprovalError::NotFound(x)) => {
                assert!(!visible, "{who} could not read it");
                assert_eq!(x, id.to_string());
            }
            Err(e) => panic!("{who}: {e}"),
        }
    }
    assert!(matches!(
        ap.get_as(&unknown, "alice"),
        Err(ApprovalError::NotFound(_))
    ));
    // Listing: one's own, plus every pending one for an approver.
    assert_eq!(
        ids(ap.list_as("sre-copilot", None, 50).unwrap()),
        vec![id.clone()]
    );
    assert_eq!(
        ids(ap.list_as("other-agent", None, 50).unwrap()),
        vec![other.clone()]
    );
    assert_eq!(
        ids(ap.list_as("alice", None, 50).unwrap()),
        [other.clone(), id.clone()]
    );
    assert_eq!(
        ids(ap.list_as("alice", None, 1).unwrap()),
        vec![other.clone()]
    );
    assert!(ap.list_as("nobody", None, 50).unwrap().is_empty());
    // The local owner's list still shows everything.
    assert_eq!(ap.list(None, 50).unwrap().len(), 2);
    ap.approve(&id, &digest, "alice").unwrap();
    // Approved, it leaves the approver's list (not pending, not hers) but stays the requester's.
    assert_eq!(
        ids(ap.list_as("alice", None, 50).unwrap()),
        vec![other.clone()]
    );
    assert!(
        ap.list_as("alice", Some(StateName::Approved), 50)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(ap
            .list_as("sre-copilot", Some(StateName::Approved), 50)
            .unwrap()),
        vec![id.clone()]
    );
    assert!(
        ap.list_as("sre-copilot", Some(StateName::Pending), 50)
            .unwrap()
            .is_empty()
    );
    // Consuming: the requester only. Another principal learns nothing (not even the state), an
    // approver is told it is not hers.
    assert!(matches!(
        ap.consume_as(&id, &mine, "other-agent"),
        Err(ApprovalError::NotFound(_))
    ));
    assert!(matches!(
        ap.consume_as(&id, &mine, "alice"),
        Err(ApprovalError::NotRequester { .. })
    ));
    // Withdrawing: the requester (or an approver, rejecting); anyone else gets not found, before
    // the state is looked at.
    assert!(matches!(
        ap.reject_as(&id, "other-agent", "mine now"),
        Err(ApprovalError::NotFound(_))
    ));
    assert!(matches!(
        ap.reject_as(&other, "sre-copilot", "no"),
        Err(ApprovalError::NotFound(_))
    ));
    assert_eq!(
        ap.reject_as(&other, "other-agent", "not needed")
            .unwrap()
            .state,
        StateName::Rejected
    );
    let executed = ap.consume_as(&id, &mine, "sre-copilot").unwrap();
    assert_eq!(executed.state().by, "sre-copilot");
    // Every refusal is evidence, with its real reason.
    let events = f.audit.events.lock().unwrap();
    let hidden = events
        .iter()
        .filter(|e| {
            e.outcome == "denied"
                && e.details["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("answered as not found"))
        })
        .count();
    assert_eq!(hidden, 3);
}
