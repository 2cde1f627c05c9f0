//! `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.

use super::*;

/// Liveness: the process answers, and its audit writer has not stopped for good (a write to the
/// log failed and could not be retried: only a restart recovers, so a supervisor that restarts on
/// a failed liveness check should).
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "ok"), (status = 503, description = "the audit writer stopped: restart")))]
pub(crate) async fn healthz(State(s): State<Shared>) -> Response {
    match s.audit.as_ref().and_then(|a| a.failure()) {
        None => axum::Json(serde_json::json!({"status": "ok"})).into_response(),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "failed", "audit_error": why})),
        )
            .into_response(),
    }
}

/// Readiness: the state database answers, and so does Redis when the limits count there.
#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
pub(crate) async fn readyz(State(s): State<Shared>) -> Response {
    let st = s.clone();
    let db_ok = blocking(move || {
        st.db
            .tokens()
            .map(|_| ())
            .map_err(|e| ApiError::internal(e.to_string()))
    })
    .await
    .is_ok();
    let audit_error = s.audit.as_ref().and_then(|a| a.failure());
    let mut body =
        serde_json::json!({"database": db_ok, "audit": s.audit.is_some() && audit_error.is_none()});
    if let Some(why) = &audit_error {
        body["audit_error"] = serde_json::json!(why);
    }
    let mut ready = db_ok && audit_error.is_none();
    if let Some(r) = &s.redis {
        let answer = r.ready().await;
        // Out of reach, Redis makes the sidecar unready only if some limit then fails closed.
        ready &= answer.is_ok() || !r.fails_closed(bulwark_core::config::server::LIMIT_NAMES);
        body["redis"] = match answer {
            Ok(()) => serde_json::json!({"ok": true}),
            Err(e) => serde_json::json!({"ok": false, "error": e}),
        };
    }
    body["status"] = serde_json::json!(if ready { "ready" } else { "not ready" });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// Prometheus metrics (text format).
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format")))]
pub(crate) async fn metrics_text(State(s): State<Shared>) -> Response {
    // Pending approvals are counted when scraped (expired ones left out), at most 10,000.
    let st = s.clone();
    if let Ok(pending) = blocking(move || {
        let now = now_ms();
        bulwark_core::approval::ApprovalStore::list(
            &*st.db,
            Some(bulwark_core::approval::StateName::Pending),
            10_000,
        )
        .map(|v| v.iter().filter(|r| r.expires_ms > now).count())
        .map_err(approval_error)
    })
    .await
    {
        metrics::gauge!("bulwark_approvals_pending").set(pending as f64);
    }
    let st = s.clone();
    if let Ok(held) = blocking(move || {
        bulwark_core::webhook::held::HeldStore::list_held(
            &*st.db,
            Some(bulwark_core::webhook::held::HeldState::Held),
            10_000,
        )
        .map(|v| v.len())
        .map_err(approval_error)
    })
    .await
    {
        metrics::gauge!("bulwark_alerts_held").set(held as f64);
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    (headers, s.metrics.render()).into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "OpenAPI 3.1")))]
pub(crate) async fn openapi(State(s): State<Shared>) -> Response {
    axum::Json(super::doc::document(&s.c().egress)).into_response()
}
