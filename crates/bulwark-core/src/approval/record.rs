//! An approval in any state, and the record a store keeps of it: what is loaded back is checked
//! before it becomes a typed approval again.

use super::*;

/// An approval in any state (what a store loads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyApproval {
    /// Waiting.
    Pending(Approval<Pending>),
    /// Approved.
    Approved(Approval<Approved>),
    /// Rejected.
    Rejected(Approval<Rejected>),
    /// Expired.
    Expired(Approval<Expired>),
    /// Executed.
    Executed(Approval<Executed>),
}

/// The stored form of an approval: flat, versioned JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRecord {
    /// Id.
    pub id: ApprovalId,
    /// State.
    pub state: StateName,
    /// Version (compare-and-swap key).
    pub version: u64,
    /// Intent digest.
    pub digest: IntentDigest,
    /// Summary.
    pub summary: ApprovalSummary,
    /// Requester.
    pub requested_by: String,
    /// Created (ms).
    pub created_ms: u64,
    /// Expires (ms).
    pub expires_ms: u64,
    /// Approvers needed.
    pub needed: u32,
    /// Votes.
    pub votes: Vec<Vote>,
    /// When it reached its current state, if it left pending (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_ms: Option<u64>,
    /// Who rejected or consumed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Why it was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ApprovalRecord {
    /// RFC 3339 of `created_ms`.
    pub fn created(&self) -> String {
        rfc3339(self.created_ms)
    }
    /// RFC 3339 of `expires_ms`.
    pub fn expires(&self) -> String {
        rfc3339(self.expires_ms)
    }
}

macro_rules! record_of {
    ($a:expr, $state:expr, $ms:expr, $by:expr, $reason:expr) => {{
        let a = $a;
        ApprovalRecord {
            id: a.id.clone(),
            state: $state,
            version: a.version,
            digest: a.digest.clone(),
            summary: a.summary.clone(),
            requested_by: a.requested_by.clone(),
            created_ms: a.created_ms,
            expires_ms: a.expires_ms,
            needed: a.needed,
            votes: a.votes.clone(),
            decided_ms: $ms,
            decided_by: $by,
            reason: $reason,
        }
    }};
}

impl AnyApproval {
    /// The stored form.
    pub fn to_record(&self) -> ApprovalRecord {
        match self {
            AnyApproval::Pending(a) => record_of!(a, StateName::Pending, None, None, None),
            AnyApproval::Approved(a) => {
                record_of!(a, StateName::Approved, Some(a.state.at_ms), None, None)
            }
            AnyApproval::Rejected(a) => record_of!(
                a,
                StateName::Rejected,
                Some(a.state.at_ms),
                Some(a.state.by.clone()),
                Some(a.state.reason.clone())
            ),
            AnyApproval::Expired(a) => {
                record_of!(a, StateName::Expired, Some(a.state.at_ms), None, None)
            }
            AnyApproval::Executed(a) => record_of!(
                a,
                StateName::Executed,
                Some(a.state.at_ms),
                Some(a.state.by.clone()),
                None
            ),
        }
    }

    /// Rebuild the typed approval from its stored form, checking that it is consistent.
    pub fn from_record(r: ApprovalRecord) -> Result<AnyApproval, ApprovalError> {
        let damaged = |problem: &str| ApprovalError::Damaged {
            id: r.id.to_string(),
            problem: problem.to_string(),
        };
        let decided_ms = r.decided_ms;
        let decided_by = r.decided_by.clone();
        let reason = r.reason.clone();
        let votes_enough = r.votes.len() as u64 >= u64::from(r.needed);
        let base = Approval {
            id: r.id.clone(),
            digest: r.digest.clone(),
            summary: r.summary.clone(),
            requested_by: r.requested_by.clone(),
            created_ms: r.created_ms,
            expires_ms: r.expires_ms,
            needed: r.needed,
            votes: r.votes.clone(),
            version: r.version,
            state: (),
        };
        if r.needed == 0 {
            return Err(damaged("needs 0 approvers"));
        }
        Ok(match r.state {
            StateName::Pending => {
                if votes_enough {
                    return Err(damaged("pending with enough votes"));
                }
                AnyApproval::Pending(base.restate(Pending))
            }
            StateName::Approved => {
                if !votes_enough {
                    return Err(damaged("approved without enough votes"));
                }
                let at_ms = decided_ms.ok_or_else(|| damaged("approved without a time"))?;
                AnyApproval::Approved(base.restate(Approved { at_ms }))
            }
            StateName::Rejected => AnyApproval::Rejected(base.restate(Rejected {
                by: decided_by.ok_or_else(|| damaged("rejected by nobody"))?,
                at_ms: decided_ms.ok_or_else(|| damaged("rejected without a time"))?,
                reason: reason.unwrap_or_default(),
            })),
            StateName::Expired => AnyApproval::Expired(base.restate(Expired {
                at_ms: decided_ms.ok_or_else(|| damaged("expired without a time"))?,
            })),
            StateName::Executed => {
                if !votes_enough {
                    return Err(damaged("executed without enough votes"));
                }
                AnyApproval::Executed(base.restate(Executed {
                    by: decided_by.ok_or_else(|| damaged("executed by nobody"))?,
                    at_ms: decided_ms.ok_or_else(|| damaged("executed without a time"))?,
                }))
            }
        })
    }

    /// The state's name.
    pub fn state(&self) -> StateName {
        match self {
            AnyApproval::Pending(_) => StateName::Pending,
            AnyApproval::Approved(_) => StateName::Approved,
            AnyApproval::Rejected(_) => StateName::Rejected,
            AnyApproval::Expired(_) => StateName::Expired,
            AnyApproval::Executed(_) => StateName::Executed,
        }
    }
}
