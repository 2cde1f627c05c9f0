//! Error answers in one JSON shape, and the extractors that produce them (JSON bodies, intents).

use super::*;

/// An error answer: status, stable code, message.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) retry_after: Option<u64>,
    pub(crate) policy: Option<String>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            policy: None,
        }
    }
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
    pub(crate) fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    pub(crate) fn limited(policy: String, retry_after: Duration) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("rate limit {policy} reached: retry later"),
        );
        e.retry_after = Some(retry_after.as_secs_f64().ceil().max(1.0) as u64);
        e.policy = Some(policy);
        e
    }
}

impl From<bulwark_core::ratelimit::Refused> for ApiError {
    /// Over a limit: 429 with its policy; the shared store out of reach: 503, retry in a second.
    fn from(r: bulwark_core::ratelimit::Refused) -> ApiError {
        match r {
            bulwark_core::ratelimit::Refused::Over(d) => ApiError::limited(d.policy, d.retry_after),
            bulwark_core::ratelimit::Refused::Unavailable(u) => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    fails_closed(u.limit, &u),
                );
                e.retry_after = Some(1);
                e
            }
        }
    }
}

/// A signed request whose id the replay store refused: 409 with `replayed` when it was seen
/// before, 503 (retry in a second) when the shared store could not say.
pub(crate) fn replay_refused(e: &bulwark_core::webhook::WebhookError, replayed: &str) -> ApiError {
    match e {
        bulwark_core::webhook::WebhookError::Unavailable(_) => {
            let mut err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                fails_closed("ingress-replay", e),
            );
            err.retry_after = Some(1);
            err
        }
        _ => ApiError::new(StatusCode::CONFLICT, "replay", replayed),
    }
}

/// A check whose shared store is out of reach fails closed: it is counted in
/// `bulwark_limit_store_unavailable_total{limit}`, and the caller is told `why` and how to let
/// requests through meanwhile. Every such 503 (API limits, webhook replay, the proxy's limit,
/// the gateway's budgets) says it this way.
pub(crate) fn fails_closed(limit: &'static str, why: &dyn std::fmt::Display) -> String {
    metrics::counter!("bulwark_limit_store_unavailable_total", "limit" => limit).increment(1);
    format!(
        "{why}; it fails closed (list {limit} in [server.limits] fail_open to let requests through while the shared store is out of reach)"
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            let h = resp.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
            // IETF RateLimit headers: the policy (`"name";q=quota;w=window`) and what is left.
            if let Some(p) = &self.policy {
                let (name, params) = p.split_once(';').unwrap_or((p.as_str(), ""));
                if let Ok(v) = HeaderValue::from_str(&format!("\"{name}\";{params}")) {
                    h.insert("ratelimit-policy", v);
                }
                if let Ok(v) = HeaderValue::from_str(&format!("\"{name}\";r=0;t={s}")) {
                    h.insert("ratelimit", v);
                }
            }
        }
        resp
    }
}

/// A list's `limit` query parameter: `default` when absent, else 1 to 1000.
pub(crate) fn page_limit(limit: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match limit.unwrap_or(default) {
        n @ 1..=1000 => Ok(n),
        n => Err(ApiError::bad_request(format!(
            "`limit`: {n}: expected 1 to 1000"
        ))),
    }
}

pub(crate) fn approval_error(e: ApprovalError) -> ApiError {
    use ApprovalError as E;
    let (status, code) = match &e {
        E::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        E::BadId(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        E::Expired { .. } => (StatusCode::GONE, "expired"),
        E::DigestMismatch { .. } => (StatusCode::CONFLICT, "digest_mismatch"),
        E::NotApprover { .. } | E::SelfApproval { .. } | E::NotRequester { .. } => {
            (StatusCode::FORBIDDEN, "forbidden")
        }
        E::AlreadyVoted { .. } | E::WrongState { .. } | E::Contended(_) => {
            (StatusCode::CONFLICT, "conflict")
        }
        E::NotReview(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        E::Damaged { .. } | E::Store(_) | E::Audit(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
    };
    ApiError::new(status, code, e.to_string())
}

/// JSON bodies: `application/json` only (415 otherwise), each key once, field-naming errors (400).
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_body(req, state).await?;
        bulwark_core::json::check_unique_keys(&bytes)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if !bulwark_core::json::opens_object(&bytes) {
            return Err(ApiError::bad_request("`.`: expected a JSON object"));
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let v = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            ApiError::bad_request(format!("`{path}`: {}", e.inner()))
        })?;
        de.end().map_err(|e| {
            ApiError::bad_request(format!("trailing data after the JSON body: {e}"))
        })?;
        Ok(ApiJson(v))
    }
}

/// A `Content-Type`'s media type, lowercase, without parameters.
pub(crate) fn mime(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

pub(crate) async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if mime(ct) != "application/json" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("expected Content-Type: application/json, got {ct:?}"),
        ));
    }
    Bytes::from_request(req, state).await.map_err(body_error)
}

/// Why a body could not be read, as an answer: too large (413), too slow (408), or broken (400).
pub(crate) fn body_error(e: axum::extract::rejection::BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the body is larger than [server] max_body_bytes",
        );
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if err.is::<BodyTimedOut>() {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the body did not arrive within [server] body_timeout_secs",
            );
        }
        source = err.source();
    }
    ApiError::bad_request(format!("cannot read the body: {e}"))
}

/// An intent body: parsed by the intent's own strict parser.
pub struct IntentBody(pub ExecutionIntent);

impl<S: Send + Sync> FromRequest<S> for IntentBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_body(req, state).await?;
        ExecutionIntent::from_json(&bytes)
            .map(IntentBody)
            .map_err(|e| ApiError::bad_request(format!("`{}`: {}", e.field, e.message)))
    }
}

/// A query string that does not parse, with its place written as body errors write theirs.
pub(crate) fn query_error(e: axum::extract::rejection::QueryRejection) -> ApiError {
    let text = e.body_text();
    let rest = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&text);
    ApiError::bad_request(match rest.split_once(": ") {
        Some((field, m))
            if !field.is_empty()
                && field
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            format!("`{field}`: {m}")
        }
        _ => format!("`.`: {rest}"),
    })
}

pub(crate) async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not a method of {}: see /openapi.json",
            req.method(),
            req.uri().path()
        ),
    )
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route: see /openapi.json",
    )
}
