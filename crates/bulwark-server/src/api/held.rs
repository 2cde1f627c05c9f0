//! `/v1/held`: alerts the ingress guard held back, for an approver to read, release (forward once)
//! or drop.

use super::*;
use crate::deliver::{Forward, Release, Settle, listed};
use bulwark_core::webhook::held::{HeldAlert, HeldState, HeldStore};

/// `GET /v1/held` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HeldQuery {
    /// `held` (default), `releasing`, `released`, `dropped` or `all`.
    #[param(pattern = "^(held|releasing|released|dropped|all)$")]
    state: Option<String>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// Held alert `id` (in any state), or 404.
fn load(s: &AppState, id: &str) -> Result<HeldAlert, ApiError> {
    s.db.held(id)
        .map_err(approval_error)?
        .ok_or_else(|| no_such(id))
}

pub(crate) fn parse_held_id(id: &str) -> Result<String, ApiError> {
    HeldAlert::parse_id(id).map_err(ApiError::bad_request)
}

fn no_such(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no held alert {id}"),
    )
}

/// Held alerts, newest first: `{"held": [...]}` (no payloads).
#[utoipa::path(get, path = "/v1/held", params(HeldQuery),
    responses((status = 200, description = "held: id, source, state, verdict, rules, received_at, decided_by, decided_at")),
    security(("bearer" = ["approve"])))]
pub(crate) async fn list_held(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    q: Result<Query<HeldQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    p.require(Scope::Approve)?;
    let Query(q) = q.map_err(query_error)?;
    let state = match q.state.as_deref() {
        None => Some(HeldState::Held),
        Some(name) => HeldState::parse_filter(name)
            .map_err(|e| ApiError::bad_request(format!("`state`: {e}")))?,
    };
    let limit = page_limit(q.limit, 100)?;
    let v = blocking(move || {
        let list = s.db.list_held(state, limit).map_err(approval_error)?;
        Ok(serde_json::json!({"held": list.iter().map(listed).collect::<Vec<_>>()}))
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

/// One held alert with its payload, secrets and personal data redacted for reading.
#[utoipa::path(get, path = "/v1/held/{id}", params(("id" = String, Path, description = "held alert id")),
    responses((status = 200, description = "the alert and its payload (redacted)"), (status = 404, description = "no such alert")),
    security(("bearer" = ["approve"])))]
pub(crate) async fn get_held(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    p.require(Scope::Approve)?;
    let id = parse_held_id(&id)?;
    let redactor = s.c().redactor.clone();
    let v = blocking(move || {
        let a = load(&s, &id)?;
        let mut v = listed(&a);
        v["payload"] = crate::deliver::readable_payload(&redactor, &a.body()).into();
        v["content_type"] = a.content_type.clone().into();
        Ok(v)
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

/// Release a held alert: forward it to its source's `forward_to`, once. Another release, or one
/// after a drop, gets 409. A failed delivery leaves it held (502).
#[utoipa::path(post, path = "/v1/held/{id}/release", params(("id" = String, Path, description = "held alert id")),
    responses((status = 200, description = "forwarded, upstream_status"), (status = 409, description = "no longer held"), (status = 502, description = "forward_to failed")),
    security(("bearer" = ["approve"])))]
pub(crate) async fn release_held(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    p.require(Scope::Approve)?;
    let id = parse_held_id(&id)?;
    let v = blocking(move || release_as(&s, &id, &p.name)).await?;
    Ok(axum::Json(v).into_response())
}

/// Drop a held alert: it is never forwarded. Once decided, it cannot be dropped again (409).
#[utoipa::path(post, path = "/v1/held/{id}/drop", params(("id" = String, Path, description = "held alert id")),
    responses((status = 200, description = "dropped"), (status = 409, description = "no longer held")),
    security(("bearer" = ["approve"])))]
pub(crate) async fn drop_held(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    p.require(Scope::Approve)?;
    let id = parse_held_id(&id)?;
    let v = blocking(move || drop_as(&s, &id, &p.name)).await?;
    Ok(axum::Json(v).into_response())
}

/// Release the held alert `id` as `approver`: forward it once to its source's `forward_to`.
pub(crate) fn release_as(
    s: &AppState,
    id: &str,
    approver: &str,
) -> Result<serde_json::Value, ApiError> {
    let c = s.c();
    let a = load(s, id)?;
    let src = c.ingress.get(&a.source).ok_or_else(|| {
        ApiError::conflict(format!(
            "the alert's source {:?} is no longer configured: drop it",
            a.source
        ))
    })?;
    if src.forward_to.is_empty() {
        return Err(ApiError::conflict(format!(
            "source {:?} has no forward_to: nothing to release to (drop it)",
            a.source
        )));
    }
    let hop = Forward {
        url: src.forward_to.clone(),
        bearer: src
            .forward_token
            .as_ref()
            .map(|t| format!("Bearer {}", t.expose_secret())),
        content_type: a.content_type.clone(),
        verdict: a.verdict.as_str().to_string(),
        source: a.source.clone(),
        rules: a.rules.join(","),
    };
    let audit = s.audit.as_ref().map(|l| l as &dyn AuditSink);
    let now = now_ms();
    match crate::deliver::release(&*s.db, audit, &a, &hop, approver, now).map_err(approval_error)? {
        Release::Forwarded(status) => Ok(serde_json::json!({"id": id, "state": "released",
            "forwarded": true, "upstream_status": status})),
        Release::NotHeld => Err(ApiError::conflict(format!(
            "held alert {id} is no longer held"
        ))),
        Release::Failed(why) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream",
            format!("{why}; the alert stays held"),
        )),
    }
}

/// Drop the held alert `id` as `approver` (it is never forwarded).
pub(crate) fn drop_as(
    s: &AppState,
    id: &str,
    approver: &str,
) -> Result<serde_json::Value, ApiError> {
    load(s, id)?;
    let audit = s.audit.as_ref().map(|l| l as &dyn AuditSink);
    if !crate::deliver::drop_held(&*s.db, audit, id, approver, now_ms()).map_err(approval_error)? {
        return Err(ApiError::conflict(format!(
            "held alert {id} is no longer held"
        )));
    }
    Ok(serde_json::json!({"id": id, "state": "dropped"}))
}

/// `POST /v1/held/{id}/settle` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleRequest {
    /// Whether the receiver got the alert (checked by the approver).
    delivered: bool,
}

/// Settle an alert a crash left `releasing` (its delivery in doubt), once the receiver was checked:
/// `delivered` marks it released, otherwise it is held again. 409 when it is not `releasing`, or
/// its release started less than a minute ago and may still be sending.
#[utoipa::path(post, path = "/v1/held/{id}/settle", params(("id" = String, Path, description = "held alert id")),
    request_body = SettleRequest,
    responses((status = 200, description = "id, state"), (status = 409, description = "no delivery in doubt, or maybe still sending")),
    security(("bearer" = ["approve"])))]
pub(crate) async fn settle_held(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(r): ApiJson<SettleRequest>,
) -> Result<Response, ApiError> {
    p.require(Scope::Approve)?;
    let id = parse_held_id(&id)?;
    let v = blocking(move || {
        let a = load(&s, &id)?;
        let audit = s.audit.as_ref().map(|l| l as &dyn AuditSink);
        match crate::deliver::settle_in_doubt(&*s.db, audit, &a, r.delivered, &p.name, now_ms())
            .map_err(approval_error)?
        {
            Settle::Settled(state) => Ok(serde_json::json!({"id": id, "state": state.as_str()})),
            Settle::NotInDoubt => Err(ApiError::conflict(format!(
                "held alert {id} is not `releasing`: there is no delivery in doubt"
            ))),
            Settle::StillSending(ms) => Err(ApiError::conflict(format!(
                "its release started {} s ago and may still be sending: settle it after a minute",
                ms / 1000
            ))),
        }
    })
    .await?;
    Ok(axum::Json(v).into_response())
}
