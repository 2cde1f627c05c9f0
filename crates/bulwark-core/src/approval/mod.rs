//! Human approval of actions the action guard sent to review.
//!
//! Threat answered: an approval that is replayed (consumed twice), forged (granted by someone who
//! is not an approver, or by the requester itself), swapped (granted for one intent, used for
//! another) or stale (used after it expired). An approval binds the SHA-256 digest of the intent's
//! canonical JSON: approving requires the digest the approver saw, consuming requires the intent
//! itself, whose digest must match. Its life is encoded in types: only an `Approval<Pending>` can
//! be approved or rejected, only an `Approval<Approved>` consumed, and rejected, expired and
//! executed approvals have no transitions at all. A store ([`ApprovalStore`]) makes every
//! transition a compare-and-swap on a version number, so of many racing consumers exactly one wins.
//! Every transition, and every refused attempt, goes to the audit log.

pub mod cfg;
pub mod chat;
mod record;
mod service;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::action::{ActionClass, ActionDecision, ExecutionIntent, IntentDigest};
pub use cfg::ApprovalConfig;

pub use record::{AnyApproval, ApprovalRecord};
pub use service::{Approvals, Clock, Review, SystemClock};

/// A 128-bit random approval id, as 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApprovalId(String);

impl ApprovalId {
    /// A fresh id from the operating system's random source.
    pub fn generate() -> Result<ApprovalId, ApprovalError> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b)
            .map_err(|e| ApprovalError::Store(format!("no random source: {e}")))?;
        Ok(ApprovalId(hex::encode(b)))
    }

    /// Parse an id someone typed.
    pub fn parse(s: &str) -> Result<ApprovalId, ApprovalError> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApprovalError::BadId(s.chars().take(64).collect()));
        }
        Ok(ApprovalId(s.to_ascii_lowercase()))
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ApprovalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of an approval's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateName {
    /// Waiting for approvers.
    Pending,
    /// Approved, not yet executed.
    Approved,
    /// Rejected (final).
    Rejected,
    /// Expired before it was executed (final).
    Expired,
    /// Executed once (final).
    Executed,
}

impl std::fmt::Display for StateName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StateName {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            StateName::Pending => "pending",
            StateName::Approved => "approved",
            StateName::Rejected => "rejected",
            StateName::Expired => "expired",
            StateName::Executed => "executed",
        }
    }

    /// Parse a name.
    pub fn parse(s: &str) -> Option<StateName> {
        [
            StateName::Pending,
            StateName::Approved,
            StateName::Rejected,
            StateName::Expired,
            StateName::Executed,
        ]
        .into_iter()
        .find(|n| n.as_str() == s)
    }
}

/// Waiting for approvers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending;

/// Enough approvers agreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    /// When the last needed vote came (ms since the epoch).
    pub at_ms: u64,
}

/// Someone said no.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Who.
    pub by: String,
    /// When.
    pub at_ms: u64,
    /// Why (as given).
    pub reason: String,
}

/// Nobody acted in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// When the expiry was recorded.
    pub at_ms: u64,
}

/// It ran, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// Who consumed it.
    pub by: String,
    /// When.
    pub at_ms: u64,
}

/// One approver's vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// The approver.
    pub approver: String,
    /// When (ms since the epoch).
    pub at_ms: u64,
}

/// What an approval is about: the summary notifications and lists show. Never argument values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalSummary {
    /// The tool.
    pub tool: String,
    /// The verb.
    pub action: String,
    /// `kind/name` of the target.
    pub target: String,
    /// The target's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The target's cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The namespace's tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// The action's class.
    pub class: ActionClass,
    /// The rule that sent it to review.
    pub rule: String,
    /// The untrusted content the call was proposed with: which pieces, and which arguments came
    /// from them (by name; the values are the intent's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::finding::Taint>,
}

/// An approval in state `S`. Its fields can be read; only transitions change them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval<S> {
    /// The id.
    id: ApprovalId,
    /// The digest of the intent it is for.
    digest: IntentDigest,
    /// What it is about.
    summary: ApprovalSummary,
    /// Who asked (may not approve).
    requested_by: String,
    /// Created (ms since the epoch).
    created_ms: u64,
    /// Expires (ms since the epoch), approved or not.
    expires_ms: u64,
    /// Distinct approvers needed.
    needed: u32,
    /// Votes so far.
    votes: Vec<Vote>,
    /// Bumped by every transition (the store's compare-and-swap key).
    version: u64,
    /// The state and what it carries.
    state: S,
}

/// Read access: an approval is built only by this module (from an intent, or from the stored
/// record), so no crate can make an approved one by hand.
impl<S> Approval<S> {
    /// The id.
    pub fn id(&self) -> &ApprovalId {
        &self.id
    }

    /// The digest of the intent it is for.
    pub fn digest(&self) -> &IntentDigest {
        &self.digest
    }

    /// What it is about.
    pub fn summary(&self) -> &ApprovalSummary {
        &self.summary
    }

    /// Who asked (may not approve).
    pub fn requested_by(&self) -> &str {
        &self.requested_by
    }

    /// Created (ms since the epoch).
    pub fn created_ms(&self) -> u64 {
        self.created_ms
    }

    /// Expires (ms since the epoch), approved or not.
    pub fn expires_ms(&self) -> u64 {
        self.expires_ms
    }

    /// Distinct approvers needed.
    pub fn needed(&self) -> u32 {
        self.needed
    }

    /// Votes so far.
    pub fn votes(&self) -> &[Vote] {
        &self.votes
    }

    /// Bumped by every transition (the store's compare-and-swap key).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The state and what it carries.
    pub fn state(&self) -> &S {
        &self.state
    }
}

/// Why a transition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    /// No approval has this id.
    #[error("no approval {0}")]
    NotFound(String),
    /// Not 32 hex digits.
    #[error(
        "{0:?} is not an approval id: expected 32 hex digits (as `bulwark approvals list` prints)"
    )]
    BadId(String),
    /// The approval expired.
    #[error("approval {id} expired at {at}: ask for the action again")]
    Expired {
        /// Which.
        id: String,
        /// When, RFC 3339.
        at: String,
    },
    /// The digest given is not the approval's.
    #[error(
        "approval {id}: the digest does not match the intent it was created for (the intent changed after it was shown, or this is another intent)"
    )]
    DigestMismatch {
        /// Which.
        id: String,
    },
    /// The principal is not an approver.
    #[error("`{principal}` is not an approver (see [approval] approvers)")]
    NotApprover {
        /// Who tried.
        principal: String,
    },
    /// Only the requester may do this (consume an approval).
    #[error("`{principal}` did not request approval {id}: only its requester may consume it")]
    NotRequester {
        /// Who tried.
        principal: String,
        /// Which.
        id: String,
    },
    /// The requester tried to approve its own action.
    #[error("`{principal}` requested this action and may not approve it")]
    SelfApproval {
        /// Who tried.
        principal: String,
    },
    /// The approver already voted.
    #[error("`{principal}` already approved {id}: another approver is needed")]
    AlreadyVoted {
        /// Who.
        principal: String,
        /// Which.
        id: String,
    },
    /// The approval is in a state that does not allow this.
    #[error("approval {id} is {state}: it cannot be {wanted}")]
    WrongState {
        /// Which.
        id: String,
        /// Its state.
        state: StateName,
        /// What was asked (`approved`, `rejected`, `consumed`).
        wanted: &'static str,
    },
    /// The verdict was not review.
    #[error("only an intent whose verdict is review needs an approval (this one is {0})")]
    NotReview(&'static str),
    /// A stored record is inconsistent.
    #[error("approval record {id} is damaged: {problem}")]
    Damaged {
        /// Which.
        id: String,
        /// What is wrong.
        problem: String,
    },
    /// The store failed.
    #[error("approval store: {0}")]
    Store(String),
    /// The transition happened but could not be recorded in the audit log.
    #[error("audit log: {0}")]
    Audit(String),
    /// Too many concurrent writers.
    #[error("approval {0} kept changing under concurrent updates: try again")]
    Contended(String),
}

/// Who may approve: principals named directly or through roles.
#[derive(Debug, Clone, Default)]
pub struct Approvers {
    principals: BTreeSet<String>,
}

impl Approvers {
    /// From `[approval] approvers` and `[approval.roles]`.
    pub fn from_config(cfg: &ApprovalConfig) -> Approvers {
        let mut principals = BTreeSet::new();
        for a in &cfg.approvers {
            match a.strip_prefix("role:") {
                Some(role) => {
                    if let Some(members) = cfg.roles.get(role) {
                        principals.extend(members.iter().cloned());
                    }
                }
                None => {
                    principals.insert(a.clone());
                }
            }
        }
        Approvers { principals }
    }

    /// Exactly these principals (the server's: tokens with the approve scope).
    pub fn from_names(names: impl IntoIterator<Item = String>) -> Approvers {
        Approvers {
            principals: names.into_iter().collect(),
        }
    }

    /// Is `principal` an approver?
    pub fn contains(&self, principal: &str) -> bool {
        self.principals.contains(principal)
    }

    /// Are there any?
    pub fn is_empty(&self) -> bool {
        self.principals.is_empty()
    }
}

/// An instant (ms since the epoch) as RFC 3339 with milliseconds, UTC.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

impl<S> Approval<S> {
    /// The same approval in `state` at `version`.
    fn into_state<T>(self, state: T, version: u64) -> Approval<T> {
        Approval {
            id: self.id,
            digest: self.digest,
            summary: self.summary,
            requested_by: self.requested_by,
            created_ms: self.created_ms,
            expires_ms: self.expires_ms,
            needed: self.needed,
            votes: self.votes,
            version,
            state,
        }
    }

    /// The same approval in `state`, same version (rebuilding from a record).
    fn restate<T>(self, state: T) -> Approval<T> {
        let version = self.version;
        self.into_state(state, version)
    }

    /// A transition: the new state, one version up.
    fn with_state<T>(self, state: T) -> Approval<T> {
        let version = self.version + 1;
        self.into_state(state, version)
    }

    fn check_not_expired(&self, now_ms: u64) -> Result<(), ApprovalError> {
        if now_ms >= self.expires_ms {
            return Err(ApprovalError::Expired {
                id: self.id.to_string(),
                at: rfc3339(self.expires_ms),
            });
        }
        Ok(())
    }

    /// Has it passed its expiry?
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_ms
    }
}

/// A pending approval after one more vote: still pending, or approved.
#[derive(Debug)]
pub enum AfterVote {
    /// More approvers are needed.
    Pending(Approval<Pending>),
    /// Enough approvers agreed.
    Approved(Approval<Approved>),
}

impl Approval<Pending> {
    /// A new pending approval for an intent whose decision is review.
    pub fn create(
        intent: &ExecutionIntent,
        decision: &ActionDecision,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Approval<Pending>, ApprovalError> {
        if decision.verdict != crate::Verdict::Review {
            return Err(ApprovalError::NotReview(decision.verdict.as_str()));
        }
        let t = &intent.target;
        let target = match (t.kind.is_empty(), t.name.is_empty()) {
            (false, false) => format!("{}/{}", t.kind, t.name),
            (false, true) => t.kind.clone(),
            _ => t.name.clone(),
        };
        Ok(Approval {
            id: ApprovalId::generate()?,
            digest: decision.digest.clone(),
            summary: ApprovalSummary {
                tool: intent.tool.clone(),
                action: intent.action.clone(),
                target,
                namespace: t.namespace.clone(),
                cluster: t.cluster.clone(),
                tier: decision.tier.clone(),
                class: decision.class,
                rule: decision.rule.clone(),
                provenance: decision.taint.clone(),
            },
            requested_by: intent.requested_by.clone(),
            created_ms: now_ms,
            expires_ms: now_ms.saturating_add(ttl_ms),
            needed: decision.approvals_needed.max(1),
            votes: Vec::new(),
            version: 1,
            state: Pending,
        })
    }

    /// One approver's vote, given the digest the approver was shown.
    pub fn approve(
        mut self,
        digest: &IntentDigest,
        principal: &str,
        approvers: &Approvers,
        now_ms: u64,
    ) -> Result<AfterVote, ApprovalError> {
        self.check_not_expired(now_ms)?;
        if !approvers.contains(principal) {
            return Err(ApprovalError::NotApprover {
                principal: principal.to_string(),
            });
        }
        if principal == self.requested_by {
            return Err(ApprovalError::SelfApproval {
                principal: principal.to_string(),
            });
        }
        if !self.digest.ct_eq(digest) {
            return Err(ApprovalError::DigestMismatch {
                id: self.id.to_string(),
            });
        }
        if self.votes.iter().any(|v| v.approver == principal) {
            return Err(ApprovalError::AlreadyVoted {
                principal: principal.to_string(),
                id: self.id.to_string(),
            });
        }
        self.votes.push(Vote {
            approver: principal.to_string(),
            at_ms: now_ms,
        });
        if self.votes.len() as u64 >= u64::from(self.needed) {
            Ok(AfterVote::Approved(
                self.with_state(Approved { at_ms: now_ms }),
            ))
        } else {
            self.version += 1;
            Ok(AfterVote::Pending(self))
        }
    }

    /// Say no. An approver or the requester (withdrawing) may reject.
    pub fn reject(
        self,
        principal: &str,
        reason: &str,
        approvers: &Approvers,
        now_ms: u64,
    ) -> Result<Approval<Rejected>, ApprovalError> {
        if !approvers.contains(principal) && principal != self.requested_by {
            return Err(ApprovalError::NotApprover {
                principal: principal.to_string(),
            });
        }
        Ok(self.with_state(Rejected {
            by: principal.to_string(),
            at_ms: now_ms,
            reason: reason.chars().take(1024).collect(),
        }))
    }

    /// Record that it expired. Refused before its expiry.
    pub fn expire(self, now_ms: u64) -> Result<Approval<Expired>, Box<Approval<Pending>>> {
        if self.is_expired(now_ms) {
            Ok(self.with_state(Expired { at_ms: now_ms }))
        } else {
            Err(Box::new(self))
        }
    }
}

impl Approval<Approved> {
    /// Execute: the intent must be the approved one and the approval unexpired.
    pub fn consume(
        self,
        intent: &ExecutionIntent,
        by: &str,
        now_ms: u64,
    ) -> Result<Approval<Executed>, ApprovalError> {
        self.check_not_expired(now_ms)?;
        let digest = intent
            .digest()
            .map_err(|e| ApprovalError::Store(e.to_string()))?;
        if !self.digest.ct_eq(&digest) {
            return Err(ApprovalError::DigestMismatch {
                id: self.id.to_string(),
            });
        }
        Ok(self.with_state(Executed {
            by: by.to_string(),
            at_ms: now_ms,
        }))
    }

    /// Record that it expired unexecuted. Refused before its expiry.
    pub fn expire(self, now_ms: u64) -> Result<Approval<Expired>, Box<Approval<Approved>>> {
        if self.is_expired(now_ms) {
            Ok(self.with_state(Expired { at_ms: now_ms }))
        } else {
            Err(Box::new(self))
        }
    }
}

/// Where approvals live. Implementations must make [`ApprovalStore::replace`] atomic across
/// threads and processes.
pub trait ApprovalStore: Send + Sync {
    /// Store a new approval with the intent it is for (as canonical JSON).
    fn insert(&self, record: &ApprovalRecord, intent_json: &str) -> Result<(), ApprovalError>;
    /// The approval and its intent JSON.
    fn load(&self, id: &ApprovalId) -> Result<Option<(ApprovalRecord, String)>, ApprovalError>;
    /// Approvals, newest first, optionally of one state, at most `limit`.
    fn list(
        &self,
        state: Option<StateName>,
        limit: usize,
    ) -> Result<Vec<ApprovalRecord>, ApprovalError>;
    /// What [`ApprovalStore::list`] shows one principal: the approvals `requested_by` it, plus
    /// (`all_pending`, for an approver) every pending one; newest first, optionally of one state,
    /// at most `limit`.
    fn list_visible(
        &self,
        requested_by: &str,
        all_pending: bool,
        state: Option<StateName>,
        limit: usize,
    ) -> Result<Vec<ApprovalRecord>, ApprovalError>;
    /// Pending and approved approvals whose expiry is at or before `now_ms`, at most `limit`.
    fn due(&self, now_ms: u64, limit: usize) -> Result<Vec<ApprovalRecord>, ApprovalError>;
    /// Replace the stored approval if its version is still `expected_version`. `Ok(false)`: another
    /// writer changed it first (nothing was written).
    fn replace(
        &self,
        expected_version: u64,
        record: &ApprovalRecord,
    ) -> Result<bool, ApprovalError>;
    /// A stored setting (e.g. the last action mode seen).
    fn setting(&self, key: &str) -> Result<Option<String>, ApprovalError>;
    /// Store a setting.
    fn set_setting(&self, key: &str, value: &str) -> Result<(), ApprovalError>;
}

/// The webhook body for a new pending approval: Slack (`text`) and Discord (`content`, with
/// mentions disabled) read it; `bulwark` carries the same summary as data. Never argument values.
pub fn notification_body(a: &Approval<Pending>) -> serde_json::Value {
    let text = notification_text(a);
    let s = &a.summary;
    serde_json::json!({
        "text": text,
        "content": text,
        "allowed_mentions": {"parse": []},
        "bulwark": {
            "id": a.id.as_str(),
            "tool": s.tool,
            "action": s.action,
            "target": s.target,
            "namespace": s.namespace,
            "cluster": s.cluster,
            "tier": s.tier,
            "class": s.class,
            "approvals_needed": a.needed,
            "expires_at": rfc3339(a.expires_ms),
        }
    })
}

/// `s` made safe to show in Slack mrkdwn and Discord markdown: control and format characters
/// (bidi overrides, zero-width) removed, at most `max` characters (an ellipsis marks a cut), `&`,
/// `<`, `>` escaped as Slack wants, `@` broken so nobody is mentioned, and the characters either
/// platform formats with (`* _ ~ \` | [ ] ( ) #`) backslash-escaped or replaced.
pub fn chat_safe(s: &str, max: usize) -> String {
    let visible: String = s
        .chars()
        .filter(|c| !c.is_control() && !is_format_char(*c))
        .collect();
    let mut cut: String = visible.chars().take(max).collect();
    if visible.chars().count() > max {
        cut.push('…');
    }
    let mut out = String::with_capacity(cut.len() + 8);
    for c in cut.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' => out.push_str("@\u{200b}"),
            // Slack has no escape for its markers: a look-alike keeps the text readable.
            '*' => out.push('∗'),
            '_' => out.push('＿'),
            '~' => out.push('∼'),
            '`' => out.push('ˋ'),
            '|' => out.push('¦'),
            '[' => out.push('［'),
            ']' => out.push('］'),
            '#' => out.push('＃'),
            _ => out.push(c),
        }
    }
    out
}

/// Unicode format characters (category Cf) that hide or reorder text: bidi controls, zero-width
/// characters, the soft hyphen, the BOM.
fn is_format_char(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// The one-line summary of a new pending approval a chat shows: what, where, who asked, how many
/// approvals, until when, and its id. Never argument values; names from the agent cannot mention
/// anyone or format the message.
pub fn notification_text(a: &Approval<Pending>) -> String {
    // Names come from the agent: neutralize Slack control sequences, Discord mentions, markdown
    // (bold, spoilers, masked links), and invisible or reordering characters; keep each short.
    let clean = |s: &str| chat_safe(s, 128);
    let s = &a.summary;
    let mut where_ = String::new();
    if let Some(ns) = &s.namespace {
        where_.push_str(&format!(" in {}", clean(ns)));
    }
    if let Some(c) = &s.cluster {
        where_.push_str(&format!(" @ {}", clean(c)));
    }
    let tier = s
        .tier
        .as_deref()
        .map(|t| format!(" (tier {})", clean(t)))
        .unwrap_or_default();
    format!(
        "Bulwark: approval needed for {} {} {}{}{} requested by {}. {} approval(s) needed; expires {}. Id {}: `bulwark approvals show {}`",
        clean(&s.tool),
        clean(&s.action),
        clean(&s.target),
        where_,
        tier,
        clean(&a.requested_by),
        a.needed,
        rfc3339(a.expires_ms),
        a.id,
        a.id
    )
}
