//! `/v1/scan`, `/v1/redact`, `/v1/wrap`: the content guard.

use super::*;

/// `POST /v1/scan` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// The text to scan.
    text: String,
    /// Where it comes from (`user`, `web`, `email`, `tool_output`, `alert`, ...): how strict
    /// injection detection is. Default `other` (untrusted).
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9_.-]{1,40}$")]
    source: Option<String>,
    /// Detector families, comma-separated: secrets, pii, injection, all. Default all.
    #[serde(default)]
    #[schema(
        pattern = r"^(\s*(secrets?|pii|injection|all)?\s*,)*\s*(secrets?|pii|injection|all)\s*(,\s*(secrets?|pii|injection|all)?\s*)*$"
    )]
    detectors: Option<String>,
}

pub(crate) fn parse_source(s: Option<&str>) -> Result<Source, ApiError> {
    Source::parse(s.unwrap_or("other"))
        .map_err(|e| ApiError::bad_request(format!("`source`: expected {e}")))
}

pub(crate) fn parse_detectors(s: Option<&str>, default: Detectors) -> Result<Detectors, ApiError> {
    match s {
        None => Ok(default),
        Some(list) => {
            Detectors::parse(list).map_err(|e| ApiError::bad_request(format!("`detectors`: {e}")))
        }
    }
}

/// Scan text: the report `bulwark scan --format json` prints for standard input (`{"verdict",
/// "findings", "errors", "skipped", "stats"}`, each finding's `path` is `-`), plus
/// `injection_score`.
#[utoipa::path(post, path = "/v1/scan", request_body = ScanRequest,
    responses((status = 200, description = "verdict, findings, errors, skipped, stats, injection_score")),
    security(("bearer" = ["scan"])))]
pub(crate) async fn scan(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    ApiJson(r): ApiJson<ScanRequest>,
) -> Result<Response, ApiError> {
    p.require(Scope::Scan)?;
    let source = parse_source(r.source.as_deref())?;
    let detectors = parse_detectors(r.detectors.as_deref(), Detectors::ALL)?;
    let c = s.c();
    let v = guard_work(r.text.len(), move || {
        let a = c.scanner.assess(r.text.as_bytes(), detectors, &source);
        crate::count_decision("content", a.verdict.as_str());
        let report =
            bulwark_core::scan::report::Report::of_text("-", r.text.len(), a.verdict, a.findings);
        let mut v = serde_json::to_value(&report).unwrap_or_default();
        v["injection_score"] = serde_json::json!(a.injection_score);
        Ok(v)
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

/// `POST /v1/redact` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedactRequest {
    /// The text to redact.
    text: String,
    /// Detector families: secrets, pii (default both).
    #[serde(default)]
    #[schema(
        pattern = r"^(\s*(secrets?|pii|injection|all)?\s*,)*\s*(secrets?|pii|injection|all)\s*(,\s*(secrets?|pii|injection|all)?\s*)*$"
    )]
    detectors: Option<String>,
}

/// Redact text: `{"text", "findings"}`, as `bulwark redact --format json`.
#[utoipa::path(post, path = "/v1/redact", request_body = RedactRequest,
    responses((status = 200, description = "text, findings")), security(("bearer" = ["scan"])))]
pub(crate) async fn redact(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    ApiJson(r): ApiJson<RedactRequest>,
) -> Result<Response, ApiError> {
    p.require(Scope::Scan)?;
    let detectors = parse_detectors(r.detectors.as_deref(), Detectors::CONTENT)?;
    let redactor = s.c().redactor.clone().with_detectors(detectors);
    let v = guard_work(r.text.len(), move || {
        let out = redactor.redact(&r.text);
        Ok(serde_json::json!({"text": out.text, "findings": out.findings}))
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

/// `POST /v1/wrap` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WrapRequest {
    /// The untrusted text.
    text: String,
    /// Where it comes from (default `other`).
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9_.-]{1,40}$")]
    source: Option<String>,
    /// Datamarking: `true` puts the default mark (`ˆ`) between words, a one-character string puts
    /// that character, `false` or absent none.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    datamark: Option<serde_json::Value>,
}

/// What `datamark` asks for: `true` (the default mark), one character, or nothing.
pub(crate) fn datamark_of(v: Option<&serde_json::Value>) -> Result<Option<char>, ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!(
                "`datamark`: expected true (the default mark {}), false, or a single character",
                bulwark_core::scan::boundary::DEFAULT_DATAMARK
            ),
        )
    };
    match v {
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => Ok(None),
        Some(serde_json::Value::Bool(true)) => {
            Ok(Some(bulwark_core::scan::boundary::DEFAULT_DATAMARK))
        }
        Some(serde_json::Value::String(s)) => {
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(Some(c)),
                _ => Err(bad()),
            }
        }
        Some(_) => Err(bad()),
    }
}

/// Wrap untrusted text in delimiters with a random id, as `bulwark wrap --format json`.
#[utoipa::path(post, path = "/v1/wrap", request_body = WrapRequest,
    responses((status = 200, description = "text, id, source, ...")), security(("bearer" = ["scan"])))]
pub(crate) async fn wrap(
    Extension(p): Extension<Principal>,
    ApiJson(r): ApiJson<WrapRequest>,
) -> Result<Response, ApiError> {
    p.require(Scope::Scan)?;
    let source = parse_source(r.source.as_deref())?;
    let datamark = datamark_of(r.datamark.as_ref())?;
    let wrapped = guard_work(r.text.len(), move || {
        boundary::wrap(&r.text, &source, &WrapOptions { datamark }).map_err(|e| match e {
            boundary::BoundaryError::Datamark(_) => {
                ApiError::bad_request(format!("`datamark`: {e}"))
            }
            boundary::BoundaryError::Random(_) => ApiError::internal(e.to_string()),
        })
    })
    .await?;
    Ok(axum::Json(wrapped).into_response())
}
