//! `/v1/audit` and `/v1/audit/verify`: the evidence.

use super::*;

/// `GET /v1/audit` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Records after this sequence number (default 0: from the start).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    after: Option<u64>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// A page of audit records: `{"records", "next_after"}`.
#[utoipa::path(get, path = "/v1/audit", params(AuditQuery),
    responses((status = 200, description = "records, next_after")), security(("bearer" = ["audit"])))]
pub(crate) async fn audit_page(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    p.require(Scope::Audit)?;
    let Query(q) = q.map_err(query_error)?;
    let after = q.after.unwrap_or(0);
    if after > i64::MAX as u64 {
        return Err(ApiError::bad_request(format!(
            "`after`: {after}: expected a sequence number from 0 to {}",
            i64::MAX
        )));
    }
    let limit = page_limit(q.limit, 100)?;
    let v = blocking(move || {
        let (records, last, _) = audit_records(&s, after, limit, None, usize::MAX)?;
        Ok(serde_json::json!({"records": records, "next_after": last}))
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

/// Up to `limit` records after sequence number `after` (of `only` that event type, if given,
/// reading at most `max_scan` records past `after`), the last sequence number read (where the
/// next page starts), and whether reading stopped before the end of the log.
pub(crate) fn audit_records(
    s: &AppState,
    after: u64,
    limit: usize,
    only: Option<bulwark_core::audit::EventType>,
    max_scan: usize,
) -> Result<(Vec<bulwark_core::audit::AuditRecord>, u64, bool), ApiError> {
    let source = audit_source(s)?;
    let mut records = Vec::new();
    let mut last = after;
    let mut scanned = 0usize;
    let mut stopped = false;
    let mut sink = |line: &[u8], _complete: bool, _where: &str, _n: u64| {
        if let Ok(r) = serde_json::from_slice::<bulwark_core::audit::AuditRecord>(line)
            && r.seq > after
        {
            last = r.seq;
            scanned += 1;
            if only.is_none_or(|t| t == r.event_type) {
                records.push(r);
            }
        }
        stopped = records.len() >= limit || scanned >= max_scan;
        !stopped
    };
    match source {
        // Sequence numbers are per instance: this sidecar's chain is the one paged through.
        bulwark_store::audit_open::LogSource::Pg(log) => log
            .for_each_line_after(&s.instance, after as i64, &mut sink)
            .map(|_| ()),
        other => other.for_each_line(&mut sink),
    }
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((records, last, stopped))
}

/// Where the audit log is read back from; 404 when it is off.
pub(crate) fn audit_source(
    s: &AppState,
) -> Result<&bulwark_store::audit_open::LogSource, ApiError> {
    s.audit_source.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the audit log is turned off ([audit] enabled = false)",
        )
    })
}

/// Verify the audit log (chain, MACs, signed checkpoints), as `bulwark audit verify --format json`.
#[utoipa::path(get, path = "/v1/audit/verify",
    responses((status = 200, description = "the verification report")), security(("bearer" = ["audit"])))]
pub(crate) async fn audit_verify(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
) -> Result<Response, ApiError> {
    p.require(Scope::Audit)?;
    let v = blocking(move || verify_report(&s)).await?;
    Ok(axum::Json(v).into_response())
}

/// Verify the whole audit log: the report `bulwark audit verify --format json` prints.
pub(crate) fn verify_report(s: &AppState) -> Result<serde_json::Value, ApiError> {
    let source = audit_source(s)?;
    let files = &s.audit_keys;
    let keys = files
        .load_hmac()
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| ApiError::internal("no audit keys"))?;
    let public = files
        .load_public()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let (report, _) = source
        .verify(&bulwark_store::audit_file::DirVerify {
            keys: &keys,
            public_key: public,
        })
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(serde_json::to_value(&report).unwrap_or_default())
}
