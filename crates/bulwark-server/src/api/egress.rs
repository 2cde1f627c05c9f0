//! `/v1/egress/check`: the egress guard.

use super::*;

/// `POST /v1/egress/check` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressRequest {
    /// The URL, as the agent would request it.
    url: String,
    /// The egress profile (default: the top-level lists).
    #[serde(default)]
    profile: Option<String>,
}

/// Decide whether an agent may fetch a URL, as `bulwark egress check --format json`.
#[utoipa::path(post, path = "/v1/egress/check", request_body = EgressRequest,
    responses((status = 200, description = "decision, reason, message, url, host, port, addresses, profile")),
    security(("bearer" = ["egress"])))]
pub(crate) async fn egress_check(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    ApiJson(r): ApiJson<EgressRequest>,
) -> Result<Response, ApiError> {
    p.require(Scope::Egress)?;
    let st = s.clone();
    let decision = blocking(move || {
        let c = st.c();
        let policy = c.egress.policy(r.profile.as_deref()).ok_or_else(|| {
            ApiError::bad_request(format!(
                "`profile`: no such egress profile (profiles: {})",
                c.egress.profile_names().join(", ")
            ))
        })?;
        let d = policy.check_url(&r.url, &crate::SystemResolver);
        crate::count_decision("egress", d.decision().as_str());
        Ok(d)
    })
    .await?;
    if let Some(a) = &s.audit {
        let _ = a.submit(AuditEvent::egress(
            bulwark_core::audit::events::EgressAsk::Check,
            p.name.clone(),
            &decision,
        ));
    }
    Ok(axum::Json(decision).into_response())
}
