//! `/v1/intents` and `/v1/approvals`: the action guard and human approvals.

use super::*;

/// Judge an intent, as `bulwark intent check --format json`; a review creates a pending approval.
/// `requested_by` must be the caller's token name.
#[utoipa::path(post, path = "/v1/intents", request_body(content = Object, description = "an ExecutionIntent"),
    responses((status = 200, description = "verdict, rule, class, mode, tier, digest, findings, approval")),
    security(("bearer" = ["intents"])))]
pub(crate) async fn intents(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    IntentBody(intent): IntentBody,
) -> Result<Response, ApiError> {
    p.require(Scope::Intents)?;
    if intent.requested_by != p.name {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "`requested_by` is {:?} but the token belongs to {:?}: an agent requests in its own name",
                intent.requested_by, p.name
            ),
        ));
    }
    // One policy for the whole request, even when a reload lands in the middle of it.
    let c = s.c();
    if let Some(l) = &c.limits.tool {
        l.check(&intent.tool).await?;
    }
    let st = s.clone();
    let v = blocking(move || {
        let j = decide(&st, &c, &intent, false, None)?;
        let mut v = serde_json::to_value(&j.decision).unwrap_or_default();
        v["approval"] = j
            .approval
            .as_ref()
            .map(record_json)
            .unwrap_or(serde_json::Value::Null);
        Ok(v)
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

/// An intent judged, with the approval its review created (or found).
pub(crate) struct Judged {
    pub(crate) decision: ActionDecision,
    /// The pending approval a review created or found, or the approval a resumed call consumed.
    pub(crate) approval: Option<bulwark_core::approval::ApprovalRecord>,
    /// A review that an earlier approval settled: the approval was consumed, the action may run.
    pub(crate) resumed: bool,
}

/// Judge `intent` with the action policy in force, record the decision, and for a review create
/// a pending approval (notifying the webhook). With `resume` (the model gateway), a review first
/// looks for what the requester already has for the same digest: an approved approval is
/// consumed (the action runs, once), a pending one is named again instead of a second one made.
pub(crate) fn decide(
    st: &AppState,
    c: &Compiled,
    intent: &bulwark_core::action::ExecutionIntent,
    resume: bool,
    context: Option<&bulwark_core::provenance::Provenance>,
) -> Result<Judged, ApiError> {
    let mut d: ActionDecision = c
        .action
        .evaluate(intent, &bulwark_store::fs::OsPaths)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // The provenance rules, where the context the call was proposed in is known.
    if let Some(j) = context.and_then(|ctx| c.provenance.judge(intent, &d, ctx)) {
        bulwark_core::provenance::apply(&mut d, j);
    }
    let ap = Approvals::new(
        &*st.db,
        st.audit.as_ref().map(|a| a as &dyn AuditSink),
        st.approvers()?,
        c.cfg.approval.ttl_secs,
        &SystemClock,
    );
    ap.note_mode(d.mode, &st.origin).map_err(approval_error)?;
    crate::count_decision("action", d.verdict.as_str());
    if let Some(a) = &st.audit {
        let started = Instant::now();
        a.append(AuditEvent::from((intent, &d)))
            .map_err(|e| ApiError::internal(format!("the decision could not be recorded: {e}")))?;
        crate::observe_audit_append(started);
    }
    let mut j = Judged {
        decision: d,
        approval: None,
        resumed: false,
    };
    if j.decision.verdict != bulwark_core::Verdict::Review {
        return Ok(j);
    }
    use bulwark_core::approval::{AnyApproval, Review};
    let a = if resume {
        match ap.review(intent, &j.decision).map_err(approval_error)? {
            Review::Resumed(rec) => {
                j.approval = Some(rec);
                j.resumed = true;
                return Ok(j);
            }
            Review::Pending(rec) => {
                j.approval = Some(rec);
                return Ok(j);
            }
            Review::Created(a) => a,
        }
    } else {
        ap.create(intent, &j.decision).map_err(approval_error)?
    };
    if let Some(url) = c.notify_url.clone() {
        // In the background: the webhook's answer does not hold up the agent.
        let (pending, audit) = (a.clone(), st.audit.clone());
        std::thread::spawn(move || {
            if let Err(e) = crate::notify::pending(url.expose_secret(), &pending, audit.as_ref()) {
                tracing::warn!("approval notification failed: {e}");
            }
        });
    }
    c.chats.post_pending(&a, st.audit.as_ref());
    j.approval = Some(AnyApproval::Pending(a).to_record());
    Ok(j)
}

/// An intent as approvers are shown it: secrets in its arguments redacted (the digest covers the
/// real values).
pub(crate) fn shown_intent(
    s: &AppState,
    intent: &bulwark_core::action::ExecutionIntent,
) -> serde_json::Value {
    intent_view(&s.c().redactor, intent)
}

/// [`shown_intent`] with a fingerprint on each hidden secret (the console's view, whose diff
/// against the last approved intent then shows a secret that changed).
pub(crate) fn fingerprinted_intent(
    s: &AppState,
    intent: &bulwark_core::action::ExecutionIntent,
) -> serde_json::Value {
    intent_view(&s.c().redactor.fingerprinting(), intent)
}

/// `intent` with its secrets hidden by `redactor`.
fn intent_view(
    redactor: &bulwark_core::Redactor,
    intent: &bulwark_core::action::ExecutionIntent,
) -> serde_json::Value {
    let redactor = redactor.clone().with_detectors(Detectors {
        secrets: true,
        pii: false,
        injection: false,
    });
    bulwark_core::audit::redact_details(serde_json::to_value(intent).unwrap_or_default(), &redactor)
}

pub(crate) fn record_json(r: &bulwark_core::approval::ApprovalRecord) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["created_at"] = r.created().into();
    v["expires_at"] = r.expires().into();
    v
}

pub(crate) fn approvals_for(s: &AppState) -> Result<Approvals<'_>, ApiError> {
    Ok(Approvals::new(
        &*s.db,
        s.audit.as_ref().map(|a| a as &dyn AuditSink),
        s.approvers()?,
        s.c().cfg.approval.ttl_secs,
        &SystemClock,
    ))
}

/// `GET /v1/approvals` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// pending, approved, rejected, expired or executed.
    #[param(pattern = "^(pending|approved|rejected|expired|executed)$")]
    state: Option<String>,
    /// At most this many (default 50, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// List approvals, newest first: those the caller requested, plus every pending one if the caller
/// is an approver (holds the `approve` scope).
#[utoipa::path(get, path = "/v1/approvals", params(ListQuery),
    responses((status = 200, description = "approval records")), security(("bearer" = ["approve", "intents"])))]
pub(crate) async fn list_approvals(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    if p.require(Scope::Approve).is_err() {
        p.require(Scope::Intents)?;
    }
    let Query(q) = q.map_err(query_error)?;
    let state = match q.state.as_deref() {
        None => None,
        Some(x) => Some(StateName::parse(x).ok_or_else(|| {
            ApiError::bad_request(format!(
                "`state` {x:?}: expected pending, approved, rejected, expired or executed"
            ))
        })?),
    };
    let limit = page_limit(q.limit, 50)?;
    let v = blocking(move || {
        let list = approvals_for(&s)?
            .list_as(&p.name, state, limit)
            .map_err(approval_error)?;
        Ok(serde_json::Value::Array(
            list.iter().map(record_json).collect(),
        ))
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

pub(crate) fn parse_id(id: &str) -> Result<ApprovalId, ApiError> {
    ApprovalId::parse(id).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// One approval and its intent (secrets in the arguments redacted), to its requester and the
/// approvers; 404 for anyone else.
#[utoipa::path(get, path = "/v1/approvals/{id}", params(("id" = String, Path, description = "approval id")),
    responses((status = 200, description = "approval, intent"), (status = 404, description = "no such approval, or not the caller's to see")),
    security(("bearer" = ["approve", "intents"])))]
pub(crate) async fn get_approval(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    if p.require(Scope::Approve).is_err() {
        p.require(Scope::Intents)?;
    }
    let id = parse_id(&id)?;
    let v = blocking(move || {
        let (rec, intent) = approvals_for(&s)?
            .get_as(&id, &p.name)
            .map_err(approval_error)?;
        Ok(serde_json::json!({"approval": record_json(&rec), "intent": shown_intent(&s, &intent)}))
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

/// `POST /v1/approvals/{id}/approve` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The intent digest the approver reviewed (`sha256:` and 64 hex digits).
    #[schema(pattern = "^(sha256:)?[0-9a-fA-F]{64}$")]
    digest: String,
}

/// Approve as the token's principal (needs the `approve` scope; not the requester).
#[utoipa::path(post, path = "/v1/approvals/{id}/approve", request_body = ApproveRequest,
    params(("id" = String, Path, description = "approval id")),
    responses((status = 200, description = "the approval"), (status = 409, description = "digest mismatch or wrong state")),
    security(("bearer" = ["approve"])))]
pub(crate) async fn approve(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(r): ApiJson<ApproveRequest>,
) -> Result<Response, ApiError> {
    p.require(Scope::Approve)?;
    let id = parse_id(&id)?;
    let digest =
        IntentDigest::parse(&r.digest).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let v = blocking(move || {
        let rec = approvals_for(&s)?
            .approve(&id, &digest, &p.name)
            .map_err(approval_error)?;
        Ok(record_json(&rec))
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

/// `POST /v1/approvals/{id}/reject` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Why (recorded).
    #[serde(default)]
    reason: String,
}

/// Reject as the token's principal (an approver, or the requester withdrawing); 404 for anyone else.
#[utoipa::path(post, path = "/v1/approvals/{id}/reject", request_body = RejectRequest,
    params(("id" = String, Path, description = "approval id")),
    responses((status = 200, description = "the approval"), (status = 404, description = "no such approval, or not the caller's")),
    security(("bearer" = ["approve", "intents"])))]
pub(crate) async fn reject(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(r): ApiJson<RejectRequest>,
) -> Result<Response, ApiError> {
    if p.require(Scope::Approve).is_err() {
        p.require(Scope::Intents)?;
    }
    let id = parse_id(&id)?;
    let v = blocking(move || {
        let rec = approvals_for(&s)?
            .reject_as(&id, &p.name, &r.reason)
            .map_err(approval_error)?;
        Ok(record_json(&rec))
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

/// Consume an approval with the intent about to run: 200 means run it now (once). Only the
/// approval's requester may; an approver gets 403, anyone else 404.
#[utoipa::path(post, path = "/v1/approvals/{id}/consume", request_body(content = Object, description = "the ExecutionIntent"),
    params(("id" = String, Path, description = "approval id")),
    responses((status = 200, description = "executed"), (status = 403, description = "an approver, not the requester"),
        (status = 404, description = "no such approval, or not the caller's"),
        (status = 409, description = "not approved, already executed or another intent"),
        (status = 410, description = "expired")),
    security(("bearer" = ["intents"])))]
pub(crate) async fn consume(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
    IntentBody(intent): IntentBody,
) -> Result<Response, ApiError> {
    p.require(Scope::Intents)?;
    let id = parse_id(&id)?;
    let v = blocking(move || {
        let ex = approvals_for(&s)?
            .consume_as(&id, &intent, &p.name)
            .map_err(approval_error)?;
        Ok(record_json(
            &bulwark_core::approval::AnyApproval::Executed(ex).to_record(),
        ))
    })
    .await?;
    Ok(axum::Json(v).into_response())
}
