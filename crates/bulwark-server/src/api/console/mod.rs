//! The web console at `/console`: approvers sign in with their API token and review pending
//! approvals, held alerts, MCP pin changes and the audit log in a browser.
//!
//! Threat answered: a person approving through a page another site can drive. Sign-in exchanges an
//! API token with the `approve` scope for a session cookie (random, from the OS; stored only as its
//! SHA-256; HttpOnly, SameSite=Strict, Secure with TLS, `[console] session_minutes` long). Every
//! form carries a CSRF token (an HMAC keyed by the cookie, compared in constant time), and a
//! request whose `Origin` or `Sec-Fetch-Site` shows another site is refused. A revoked token ends
//! its sessions at once. Pages are rendered on the server (maud escapes every value) under a
//! Content-Security-Policy that allows only the console's own stylesheet and script.
//!
//! This module holds the routes, the security headers and the page handlers; `session` signing
//! in and out, cookies and the CSRF gate; `oidc` single sign-on; `pages` the templates.

mod oidc;
mod pages;
mod session;

use super::*;
use axum::response::Redirect;
use bulwark_core::approval::{ApprovalStore, rfc3339};
use bulwark_core::webhook::held::{HeldAlert, HeldState, HeldStore};
use bulwark_store::state_db::ConsoleSession;
use cookie::{Cookie, SameSite};
use session::*;

/// The console's routes (HTML; not in `/openapi.json`).
pub const CONSOLE_ROUTES: &[(&str, &str)] = &[
    ("get", "/console"),
    ("get", "/console/login"),
    ("post", "/console/login"),
    ("post", "/console/logout"),
    ("get", "/console/oidc/start"),
    ("get", "/console/oidc/callback"),
    ("get", "/console/approvals"),
    ("get", "/console/approvals/{id}"),
    ("post", "/console/approvals/{id}/approve"),
    ("post", "/console/approvals/{id}/reject"),
    ("get", "/console/held"),
    ("get", "/console/held/{id}"),
    ("post", "/console/held/{id}/release"),
    ("post", "/console/held/{id}/drop"),
    ("get", "/console/pins"),
    ("get", "/console/audit"),
    ("get", "/console/assets/{name}"),
];

/// Records one audit page reads at most (past its start) looking for the filtered event type;
/// past it, the page ends and "Next page" goes on from there.
const AUDIT_SCAN: usize = 20_000;

/// How long an audit verification is shown before it is run again.
const VERIFY_FOR: Duration = Duration::from_secs(30);

/// The console's routes, with its security headers on every response.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/console", get(home))
        .route("/console/login", get(login_form).post(login))
        .route("/console/logout", post(logout))
        .route("/console/oidc/start", get(oidc::start))
        .route("/console/oidc/callback", get(oidc::callback))
        .route("/console/approvals", get(approvals_page))
        .route("/console/approvals/{id}", get(approval_page))
        .route("/console/approvals/{id}/approve", post(approve_form))
        .route("/console/approvals/{id}/reject", post(reject_form))
        .route("/console/held", get(held_page))
        .route("/console/held/{id}", get(held_alert_page))
        .route("/console/held/{id}/release", post(release_form))
        .route("/console/held/{id}/drop", post(drop_form))
        .route("/console/pins", get(pins_page))
        .route("/console/audit", get(audit_console))
        .route("/console/assets/{name}", get(asset))
        .layer(middleware::map_response(security_headers))
}

/// What every console response carries: no framing, no sniffing, no caching, no referrer beyond its own pages (so browsers send `Origin`), and a
/// policy that runs only the console's own script and stylesheet.
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// A console page that cannot be shown: an HTML page with the status and what to do.
pub(crate) struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError {
            status,
            message: message.into(),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError::new(e.status, e.message)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        (self.status, html(pages::error(self.status, &self.message))).into_response()
    }
}

/// A handler's outcome: a page or a redirect, or an error page.
type Page = Result<Response, PageError>;

fn html(markup: maud::Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// The 404 every console route answers while `[console] enabled` is off.
fn disabled(s: &AppState) -> Option<Response> {
    (!s.c().cfg.console.enabled).then(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the web console is off: set [console] enabled = true",
        )
        .into_response()
    })
}

async fn home(State(s): State<Shared>) -> Response {
    if let Some(off) = disabled(&s) {
        return off;
    }
    Redirect::to("/console/approvals").into_response()
}

/// The console's files: its stylesheet, its one script (the countdown), and its icon (without
/// one, browsers ask for `/favicon.ico`, an API path whose 401 would count as a failed
/// authentication). Name, type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("console.js"),
    ),
    ("favicon.svg", "image/svg+xml", include_str!("favicon.svg")),
];

async fn asset(
    State(s): State<Shared>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    if let Some(off) = disabled(&s) {
        return off;
    }
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "max-age=300"),
            ],
            *body,
        )
            .into_response(),
        None => PageError::new(StatusCode::NOT_FOUND, format!("no console file {name:?}"))
            .into_response(),
    }
}

#[derive(Deserialize)]
struct ApprovalsQuery {
    state: Option<String>,
    limit: Option<usize>,
}

async fn approvals_page(
    State(s): State<Shared>,
    cx: Ctx,
    q: Result<Query<ApprovalsQuery>, axum::extract::rejection::QueryRejection>,
) -> Page {
    let v = match signed_in(&s, &cx).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let Query(q) = q.map_err(query_error)?;
    let state = match q.state.as_deref() {
        None | Some("") => Some(StateName::Pending),
        Some("all") => None,
        Some(x) => Some(StateName::parse(x).ok_or_else(|| {
            PageError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "state {x:?}: expected pending, approved, rejected, expired, executed or all"
                ),
            )
        })?),
    };
    let limit = page_limit(q.limit, 500)?;
    // Every viewer is an approver (sign-in wants the scope), and approvers may read any approval:
    // the lists show everyone's, not only the viewer's own requests.
    let s2 = s.clone();
    blocking(move || {
        let list = s2.db.list(state, limit).map_err(approval_error)?;
        Ok(html(pages::approvals(&v, &list, state, now_ms())))
    })
    .await
    .map_err(PageError::from)
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

/// One approval: its summary, the intent as approvers see it, the digest, and what changed since
/// the last approved intent for the same tool and target.
async fn approval_page(
    State(s): State<Shared>,
    cx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
    Query(q): Query<DoneQuery>,
) -> Page {
    let v = match signed_in(&s, &cx).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let id = parse_id(&id)?;
    let done = q
        .done
        .filter(|d| matches!(d.as_str(), "approved" | "rejected"));
    let s2 = s.clone();
    // Rendered off the async workers: the diff's work grows with the arguments (bounded by its
    // timeout).
    blocking(move || {
        let (rec, intent) = approvals_for(&s2)?
            .get_as(&id, &v.principal.name)
            .map_err(approval_error)?;
        let shown = fingerprinted_intent(&s2, &intent);
        let previous = last_approved(&s2, &rec)?;
        Ok(html(pages::approval(
            &v,
            &rec,
            &shown,
            previous.as_ref(),
            done.as_deref(),
            now_ms(),
        )))
    })
    .await
    .map_err(PageError::from)
}

/// How many decided approvals are searched for the last one of the same tool and target.
const PREVIOUS_SEARCH: usize = 1000;

/// The newest approved or executed approval (not `rec`) for `rec`'s tool and target, with its
/// intent as approvers see it.
fn last_approved(
    s: &AppState,
    rec: &bulwark_core::approval::ApprovalRecord,
) -> Result<Option<(bulwark_core::approval::ApprovalRecord, serde_json::Value)>, ApiError> {
    let same = |r: &bulwark_core::approval::ApprovalRecord| {
        r.id != rec.id
            && r.summary.tool == rec.summary.tool
            && r.summary.target == rec.summary.target
            && r.summary.namespace == rec.summary.namespace
            && r.summary.cluster == rec.summary.cluster
    };
    let mut best: Option<bulwark_core::approval::ApprovalRecord> = None;
    for state in [StateName::Approved, StateName::Executed] {
        let list =
            s.db.list(Some(state), PREVIOUS_SEARCH)
                .map_err(approval_error)?;
        if let Some(r) = list.into_iter().find(|r| same(r))
            && best.as_ref().is_none_or(|b| r.created_ms > b.created_ms)
        {
            best = Some(r);
        }
    }
    let Some(best) = best else { return Ok(None) };
    let Some((_, intent)) = s.db.load(&best.id).map_err(approval_error)? else {
        return Ok(None);
    };
    let intent: bulwark_core::action::ExecutionIntent =
        serde_json::from_str(&intent).map_err(|e| {
            ApiError::internal(format!(
                "approval {}: stored intent unreadable: {e}",
                best.id
            ))
        })?;
    let shown = fingerprinted_intent(s, &intent);
    Ok(Some((best, shown)))
}

#[derive(Deserialize)]
struct ApproveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    digest: String,
}

async fn approve_form(
    State(s): State<Shared>,
    cx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: Result<axum::Form<ApproveForm>, axum::extract::rejection::FormRejection>,
) -> Page {
    let (v, form) = match submitted(&s, &cx, form).await? {
        Gate::Go(v, form) => (v, form),
        Gate::Stop(r) => return Ok(r),
    };
    let id = parse_id(&id)?;
    let digest = IntentDigest::parse(&form.digest)
        .map_err(|e| PageError::new(StatusCode::BAD_REQUEST, format!("digest: {e}")))?;
    let name = v.principal.name.clone();
    let s2 = s.clone();
    let done = id.clone();
    blocking(move || {
        approvals_for(&s2)?
            .approve(&id, &digest, &name)
            .map_err(approval_error)
    })
    .await?;
    Ok(Redirect::to(&format!("/console/approvals/{done}?done=approved")).into_response())
}

#[derive(Deserialize)]
struct RejectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn reject_form(
    State(s): State<Shared>,
    cx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: Result<axum::Form<RejectForm>, axum::extract::rejection::FormRejection>,
) -> Page {
    let (v, form) = match submitted(&s, &cx, form).await? {
        Gate::Go(v, form) => (v, form),
        Gate::Stop(r) => return Ok(r),
    };
    let id = parse_id(&id)?;
    let reason = form.reason.trim().to_string();
    if reason.is_empty() {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "reason: say why you reject it (it is recorded and shown to the requester)",
        ));
    }
    let name = v.principal.name.clone();
    let s2 = s.clone();
    let done = id.clone();
    blocking(move || {
        approvals_for(&s2)?
            .reject_as(&id, &name, &reason)
            .map_err(approval_error)
    })
    .await?;
    Ok(Redirect::to(&format!("/console/approvals/{done}?done=rejected")).into_response())
}

#[derive(Deserialize)]
struct HeldDone {
    done: Option<String>,
    id: Option<String>,
}

/// The alerts held back, newest first, without their payloads (each is read on its own page).
async fn held_page(State(s): State<Shared>, cx: Ctx, Query(q): Query<HeldDone>) -> Page {
    let v = match signed_in(&s, &cx).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let s2 = s.clone();
    let held = blocking(move || {
        let list = s2
            .db
            .list_held(Some(HeldState::Held), 500)
            .map_err(approval_error)?;
        Ok(list.iter().map(crate::deliver::listed).collect::<Vec<_>>())
    })
    .await?;
    let done = match (q.done.as_deref(), q.id.as_deref()) {
        (Some(d @ ("released" | "dropped")), Some(id)) if HeldAlert::parse_id(id).is_ok() => {
            Some(format!("Held alert {id} {d}."))
        }
        _ => None,
    };
    Ok(html(pages::held(&v, &held, done.as_deref())))
}

/// One held alert with its payload, redacted (as `GET /v1/held/{id}` gives it).
async fn held_alert_page(
    State(s): State<Shared>,
    cx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Page {
    let v = match signed_in(&s, &cx).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let id = parse_held_id(&id)?;
    let redactor = s.c().redactor.clone();
    let s2 = s.clone();
    blocking(move || {
        let a = s2.db.held(&id).map_err(approval_error)?.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no held alert {id}"),
            )
        })?;
        let mut j = crate::deliver::listed(&a);
        j["payload"] = crate::deliver::readable_payload(&redactor, &a.body()).into();
        Ok(html(pages::held_alert(&v, &j)))
    })
    .await
    .map_err(PageError::from)
}

async fn release_form(
    State(s): State<Shared>,
    cx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: Result<axum::Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Page {
    held_action(s, cx, id, form, true).await
}

async fn drop_form(
    State(s): State<Shared>,
    cx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: Result<axum::Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Page {
    held_action(s, cx, id, form, false).await
}

async fn held_action(
    s: Shared,
    cx: Ctx,
    id: String,
    form: Result<axum::Form<CsrfForm>, axum::extract::rejection::FormRejection>,
    release: bool,
) -> Page {
    let (v, _) = match submitted(&s, &cx, form).await? {
        Gate::Go(v, form) => (v, form),
        Gate::Stop(r) => return Ok(r),
    };
    let id = parse_held_id(&id)?;
    let name = v.principal.name.clone();
    let s2 = s.clone();
    let done = id.clone();
    blocking(move || {
        if release {
            release_as(&s2, &id, &name)
        } else {
            drop_as(&s2, &id, &name)
        }
    })
    .await?;
    let what = if release { "released" } else { "dropped" };
    Ok(Redirect::to(&format!("/console/held?done={what}&id={done}")).into_response())
}

async fn pins_page(State(s): State<Shared>, cx: Ctx) -> Page {
    let v = match signed_in(&s, &cx).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let s2 = s.clone();
    // Rendered off the async workers: the diffs of what an MCP server sent (bounded by their
    // timeout).
    blocking(move || {
        use bulwark_core::mcp::PinStore;
        let mut pins = s2.db.list_pins().map_err(approval_error)?;
        pins.retain(|p| p.pending.is_some());
        Ok(html(pages::pins(&v, &pins)))
    })
    .await
    .map_err(PageError::from)
}

#[derive(Deserialize)]
struct AuditConsoleQuery {
    after: Option<u64>,
    event: Option<String>,
    limit: Option<usize>,
}

async fn audit_console(
    State(s): State<Shared>,
    cx: Ctx,
    q: Result<Query<AuditConsoleQuery>, axum::extract::rejection::QueryRejection>,
) -> Page {
    let v = match signed_in(&s, &cx).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    v.principal.require(Scope::Audit).map_err(|_| {
        PageError::new(
            StatusCode::FORBIDDEN,
            "reading the audit log needs the audit scope: sign in with a token that has both approve and audit",
        )
    })?;
    let Query(q) = q.map_err(query_error)?;
    let only = match q.event.as_deref() {
        None | Some("") => None,
        Some(e) => Some(
            EventType::ALL
                .into_iter()
                .find(|t| t.as_str() == e)
                .ok_or_else(|| {
                    PageError::new(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "event {e:?}: expected one of {}",
                            EventType::ALL.map(EventType::as_str).join(", ")
                        ),
                    )
                })?,
        ),
    };
    let after = q.after.unwrap_or(0).min(i64::MAX as u64);
    let limit = page_limit(q.limit, 100)?;
    let s2 = s.clone();
    blocking(move || {
        let (records, last, more) = audit_records(&s2, after, limit, only, AUDIT_SCAN)?;
        let verified = cached_verification(&s2)?;
        let page = pages::AuditPage {
            records: &records,
            after,
            last,
            more,
            limit,
            only,
        };
        Ok(html(pages::audit(&v, &page, &verified)))
    })
    .await
    .map_err(PageError::from)
}

/// The audit log's verification, run again when the last is older than [`VERIFY_FOR`].
fn cached_verification(s: &AppState) -> Result<serde_json::Value, ApiError> {
    let mut cache = s.console_verified.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, report)) = cache.as_ref()
        && at.elapsed() < VERIFY_FOR
    {
        return Ok(report.clone());
    }
    let mut report = verify_report(s)?;
    report["checked_at"] = rfc3339(now_ms()).into();
    *cache = Some((Instant::now(), report.clone()));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_the_console() {
        for ok in [
            "/console/approvals",
            "/console/approvals/0123456789abcdef0123456789abcdef",
            "/console/audit?event=approval&after=100",
        ] {
            assert_eq!(safe_next(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "/",
            "//evil.example/console/",
            "/console//evil.example",
            "https://evil.example/console/",
            "/console/../v1/audit",
            "/console/approvals\\@evil.example",
            "/console/login?next=/console/approvals",
            "/console/a b",
            "/console/\u{202e}x",
            "/consolex",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        assert_eq!(safe_next(&format!("/console/{}", "a".repeat(600))), None);
    }

    #[test]
    fn hidden_characters_are_shown() {
        assert_eq!(pages::visible("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(
            pages::visible("rm -rf /tmp/\u{202e}txt.exe\u{200b}"),
            "rm -rf /tmp/⟦U+202E⟧txt.exe⟦U+200B⟧"
        );
        assert_eq!(pages::visible("a\u{7}b\u{feff}"), "a⟦U+0007⟧b⟦U+FEFF⟧");
    }
}
