//! The console's sessions: who is signed in (a cookie whose SHA-256 the state database keeps),
//! signing in with a token and out, the CSRF check every form passes, and the cookies' names,
//! paths and attributes.

use super::*;

/// The session's cookie.
pub(super) const SESSION_COOKIE: CookieKind = CookieKind {
    base: "bulwark_session",
    path: "/console",
    same_site: SameSite::Strict,
};
/// The sign-in form's nonce.
pub(super) const LOGIN_COOKIE: CookieKind = CookieKind {
    base: "bulwark_login",
    path: "/console/login",
    same_site: SameSite::Strict,
};

/// Seconds the sign-in form stays valid.
pub(super) const LOGIN_FORM_SECS: i64 = 600;

/// Who is signed in, with the CSRF token their forms carry.
pub(crate) struct Viewer {
    pub(crate) principal: Principal,
    pub(crate) csrf: String,
    session_id: String,
}

/// What every console handler reads of its request: the headers, the client's address (for the
/// failed-authentication limit) and the path with its query (to come back to after sign-in).
pub(crate) struct Ctx {
    pub(super) headers: HeaderMap,
    pub(super) ip: std::net::IpAddr,
    pub(super) target: String,
    pub(super) get: bool,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Ctx, Self::Rejection> {
        Ok(Ctx {
            headers: parts.headers.clone(),
            ip: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip()),
            target: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            get: parts.method == axum::http::Method::GET,
        })
    }
}

/// One of the console's cookies: HttpOnly always; its name, path and SameSite policy here, and
/// `Secure` (with the `__Host-` name and `Path=/` that go with it) decided per request.
pub(super) struct CookieKind {
    pub(super) base: &'static str,
    pub(super) path: &'static str,
    pub(super) same_site: SameSite,
}

impl CookieKind {
    /// Its name: `__Host-` prefixed when it is `Secure`, so neither a plain-HTTP page nor another
    /// host (a sibling subdomain setting `Domain=`) can plant one the browser would send here.
    fn name(&self, secure: bool) -> String {
        if secure {
            format!("__Host-{}", self.base)
        } else {
            self.base.to_string()
        }
    }

    /// The cookie set to `value` for `secs` seconds (0 and an empty value: removed).
    pub(super) fn build<'a>(&self, value: String, secs: i64, secure: bool) -> Cookie<'a> {
        Cookie::build((self.name(secure), value))
            // A `__Host-` cookie must have `Path=/`.
            .path(if secure { "/" } else { self.path })
            .http_only(true)
            .same_site(self.same_site)
            .secure(secure)
            .max_age(cookie::time::Duration::seconds(secs))
            .build()
    }

    /// Its value in the request, if set and not empty.
    pub(super) fn read<'h>(&self, headers: &'h HeaderMap, secure: bool) -> Option<Cookie<'h>> {
        let name = self.name(secure);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == name && !c.value().is_empty())
    }
}

/// Whether cookies must be `Secure`: with TLS, or when the operator says a proxy terminates it.
pub(super) fn secure(c: &Compiled) -> bool {
    !c.cfg.server.tls_cert.is_empty() || c.cfg.console.secure_cookie
}

pub(super) fn set_cookie(resp: &mut Response, cookie: Cookie<'_>) {
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// `next` if it is a console page to come back to after sign-in: a path under `/console/`, of
/// plain characters (no scheme, host, `//`, `..` or backslash: never a redirect elsewhere).
pub(super) fn safe_next(next: &str) -> Option<&str> {
    (next.starts_with("/console/")
        && next.len() <= 512
        && !next.contains("//")
        && !next.contains("..")
        && !next.starts_with("/console/login")
        && next
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-.?=&%".contains(&b)))
    .then_some(next)
}

pub(super) fn query_value(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// A redirect to the sign-in form, clearing the session cookie; `why` is shown there, and the
/// browser comes back to `next` after signing in.
pub(super) fn to_login(s: &AppState, why: &str, next: &str) -> Response {
    let mut to = "/console/login".to_string();
    let mut sep = '?';
    if !why.is_empty() {
        to.push_str(&format!("?why={why}"));
        sep = '&';
    }
    if let Some(n) = safe_next(next) {
        to.push_str(&format!("{sep}next={}", query_value(n)));
    }
    let mut resp = Redirect::to(&to).into_response();
    set_cookie(
        &mut resp,
        SESSION_COOKIE.build(String::new(), 0, secure(&s.c())),
    );
    resp
}

/// The signed-in viewer, or the response that sends the browser to sign in.
pub(super) async fn signed_in(s: &Shared, cx: &Ctx) -> Result<Viewer, Response> {
    if let Some(off) = disabled(s) {
        return Err(off);
    }
    let c = s.c();
    // Where to come back to after signing in: the page asked for (a form cannot be resent).
    let next = if cx.get { cx.target.as_str() } else { "" };
    let Some(cookie) = SESSION_COOKIE.read(&cx.headers, secure(&c)) else {
        // A link followed from another site (a Slack or Discord message) carries no SameSite=Strict
        // cookie: load the page once more from here, which does, before asking to sign in.
        let from_elsewhere = cx
            .headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site");
        if from_elsewhere && let Some(next) = safe_next(next) {
            return Err(html(pages::bounce(next)));
        }
        return Err(to_login(s, "", next));
    };
    let value = cookie.value().to_string();
    let id = bulwark_core::auth::session_id(&value);
    let db = s.db.clone();
    let lookup = id.clone();
    let session = blocking(move || db.session(&lookup, now_ms()).map_err(approval_error))
        .await
        .map_err(|e| PageError::from(e).into_response())?;
    let Some(session) = session else {
        return Err(to_login(s, "expired", next));
    };
    // The token the session was made with must still be active, and still an approver's.
    let tokens = s
        .tokens_async()
        .await
        .map_err(|e| PageError::from(e).into_response())?;
    let live = tokens
        .get(&session.token_id)
        .filter(|r| r.revoked_ms.is_none() && r.scopes.contains(&Scope::Approve));
    let Some(record) = live else {
        let db = s.db.clone();
        let _ = blocking(move || db.remove_session(&id).map_err(approval_error)).await;
        return Err(to_login(s, "revoked", next));
    };
    // Console pages draw on the same allowances as the token's API calls.
    draw_limits(&c, &record.name, record.id.clone())
        .await
        .map_err(|e| PageError::from(e).into_response())?;
    Ok(Viewer {
        principal: Principal {
            name: record.name.clone(),
            scopes: record.scopes.clone(),
        },
        csrf: bulwark_core::auth::csrf_token(&value),
        session_id: id,
    })
}

/// `host[:port]` of a URL.
pub(super) fn authority(u: &url::Url) -> Option<String> {
    let host = u.host_str()?;
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// Refuse a form another site could have sent: an `Origin` that is neither the address the
/// request was sent to (`Host`) nor `[console] public_url`'s, a `Sec-Fetch-Site` of another
/// site, or a CSRF token that is not this session's. A refusal counts as a failed
/// authentication: limited per client address, and recorded once per window.
pub(super) async fn check_form(
    s: &Shared,
    cx: &Ctx,
    presented: &str,
    expected: &str,
) -> Result<(), PageError> {
    let c = s.c();
    let host = cx.headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let public = url::Url::parse(&c.cfg.console.public_url)
        .ok()
        .and_then(|u| authority(&u));
    let foreign_origin = cx
        .headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| {
            let origin = url::Url::parse(o).ok().and_then(|u| authority(&u));
            origin.is_none() || (origin.as_deref() != host && origin != public)
        });
    let cross_site = cx
        .headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site" || v == "same-site");
    let reason = if foreign_origin || cross_site {
        "console: a form sent from another site"
    } else if !bulwark_core::auth::same_secret(presented, expected) {
        "console: a form without this session's CSRF token"
    } else {
        return Ok(());
    };
    let path = cx.target.split('?').next().unwrap_or("");
    if let Some(over) = failed_authentication(s, &c, cx.ip, reason, path).await {
        return Err(over.into());
    }
    Err(PageError::new(
        StatusCode::FORBIDDEN,
        "this form was refused (CSRF check failed): it was not sent from a console page of this session. Reload the page and try again.",
    ))
}

#[derive(Deserialize)]
pub(super) struct LoginQuery {
    why: Option<String>,
    pub(super) next: Option<String>,
}

/// The hint sign-in refusals give.
pub(super) const CREATE_APPROVER: &str = "bulwark token create --name NAME --scope approve";

pub(super) async fn login_form(State(s): State<Shared>, Query(q): Query<LoginQuery>) -> Page {
    if let Some(off) = disabled(&s) {
        return Ok(off);
    }
    let (nonce, _) = bulwark_core::auth::new_session()
        .map_err(|e| PageError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let nonce = nonce.expose_secret().to_string();
    let note = match q.why.as_deref() {
        Some("expired") => Some("Your session expired: sign in again."),
        Some("revoked") => Some(
            "The token of your session was revoked or lost its approve scope: sign in with another.",
        ),
        Some("signed_out") => Some("You signed out."),
        _ => None,
    };
    let next = q.next.as_deref().and_then(safe_next).unwrap_or("");
    let sso = s.c().cfg.console.oidc.enabled;
    let mut resp = html(pages::login(&nonce, next, note, None, sso));
    set_cookie(
        &mut resp,
        LOGIN_COOKIE.build(nonce, LOGIN_FORM_SECS, secure(&s.c())),
    );
    Ok(resp)
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// Sign in: the token must be active and hold the `approve` scope. A wrong token counts as a
/// failed authentication (limited per client and recorded, as on the API). A session the browser
/// still held is ended, so one browser holds one.
pub(super) async fn login(
    State(s): State<Shared>,
    cx: Ctx,
    form: Result<axum::Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Page {
    if let Some(off) = disabled(&s) {
        return Ok(off);
    }
    let axum::Form(form) = form.map_err(|e| {
        PageError::new(
            StatusCode::BAD_REQUEST,
            format!("the sign-in form could not be read ({e}): expected the fields token and csrf"),
        )
    })?;
    let c = s.c();
    let secure = secure(&c);
    let nonce = LOGIN_COOKIE
        .read(&cx.headers, secure)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    if nonce.is_empty() {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "the sign-in form expired or was not loaded from this console: open /console/login again",
        ));
    }
    check_form(&s, &cx, &form.csrf, &nonce).await?;
    let next = safe_next(&form.next).unwrap_or("");
    let resolved = resolve_token(&s, form.token.trim()).await?;
    let sso = c.cfg.console.oidc.enabled;
    let refuse = |status: StatusCode, why: String| {
        Ok((
            status,
            html(pages::login(&nonce, next, None, Some(&why), sso)),
        )
            .into_response())
    };
    let Some((token_id, principal)) = resolved else {
        if let Some(over) = failed_authentication(
            &s,
            &c,
            cx.ip,
            "console: unknown or revoked token",
            "/console/login",
        )
        .await
        {
            return Err(over.into());
        }
        return refuse(
            StatusCode::UNAUTHORIZED,
            format!("That token is unknown or revoked. Create one with `{CREATE_APPROVER}`."),
        );
    };
    if principal.require(Scope::Approve).is_err() {
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "That token lacks the approve scope: the console is for approvers (`{CREATE_APPROVER}`)."
            ),
        );
    }
    let previous = SESSION_COOKIE
        .read(&cx.headers, secure)
        .map(|k| bulwark_core::auth::session_id(k.value()));
    let sign_in = SignIn {
        token_id,
        name: principal.name,
        next: next.to_string(),
        via: "token",
        person: None,
        previous,
    };
    start_session(&s, &cx, sign_in).await
}

/// Who signs in, and how.
pub(crate) struct SignIn {
    /// The token the session is bound to (its revocation ends the session).
    pub(crate) token_id: String,
    /// Its name: the principal.
    pub(crate) name: String,
    /// The console page to land on (checked by [`safe_next`]); empty: the pending approvals.
    pub(crate) next: String,
    /// `token` or `oidc`.
    pub(crate) via: &'static str,
    /// The person the identity provider named (for single sign-on).
    pub(crate) person: Option<String>,
    /// The session the browser held before, ended now.
    pub(crate) previous: Option<String>,
}

/// Sign in: store the session, end the one the browser held, record the sign-in, set the cookie
/// and send the browser on.
pub(crate) async fn start_session(s: &Shared, cx: &Ctx, sign_in: SignIn) -> Page {
    let c = s.c();
    let secure = secure(&c);
    let (cookie, id) = bulwark_core::auth::new_session()
        .map_err(|e| PageError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let minutes = c.cfg.console.session_minutes;
    let now = now_ms();
    let SignIn {
        token_id,
        name,
        next,
        via,
        person,
        previous,
    } = sign_in;
    let session = ConsoleSession {
        token_id,
        name: name.clone(),
        created_ms: now,
        expires_ms: now + u64::from(minutes) * 60_000,
        person: person.clone(),
    };
    let db = s.db.clone();
    blocking(move || {
        let _ = db.purge_sessions(now);
        if let Some(old) = previous {
            db.remove_session(&old).map_err(approval_error)?;
        }
        db.insert_session(&id, &session).map_err(approval_error)
    })
    .await?;
    s.audit(AuditEvent {
        event_type: EventType::Auth,
        actor: name,
        action: "console.sign_in".into(),
        resource: "console".into(),
        outcome: "ok".into(),
        details: serde_json::json!({"client": cx.ip.to_string(), "minutes": minutes, "via": via,
            "person": person}),
    });
    let to = safe_next(&next).unwrap_or("/console/approvals");
    let mut resp = Redirect::to(to).into_response();
    set_cookie(
        &mut resp,
        SESSION_COOKIE.build(
            cookie.expose_secret().to_string(),
            i64::from(minutes) * 60,
            secure,
        ),
    );
    set_cookie(&mut resp, LOGIN_COOKIE.build(String::new(), 0, secure));
    Ok(resp)
}

/// A form that carries the session's CSRF token.
pub(super) trait WithCsrf {
    fn csrf(&self) -> &str;
}

macro_rules! with_csrf {
    ($($form:ty),*) => {
        $(impl WithCsrf for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}

with_csrf!(CsrfForm, ApproveForm, RejectForm);

/// Whether a form goes on: sent by the signed-in viewer, or stopped with the response that
/// sends the browser to sign in.
pub(super) enum Gate<T> {
    Go(Viewer, T),
    Stop(Response),
}

/// The viewer and the form they sent, once it is read and its CSRF token and origin check out
/// ([`check_form`]).
pub(super) async fn submitted<T: WithCsrf>(
    s: &Shared,
    cx: &Ctx,
    form: Result<axum::Form<T>, axum::extract::rejection::FormRejection>,
) -> Result<Gate<T>, PageError> {
    let v = match signed_in(s, cx).await {
        Ok(v) => v,
        Err(r) => return Ok(Gate::Stop(r)),
    };
    let axum::Form(form) = form.map_err(form_error)?;
    check_form(s, cx, form.csrf(), &v.csrf).await?;
    Ok(Gate::Go(v, form))
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(super) fn form_error(e: axum::extract::rejection::FormRejection) -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        format!("the form could not be read: {e}"),
    )
}

pub(super) async fn logout(
    State(s): State<Shared>,
    cx: Ctx,
    form: Result<axum::Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Page {
    let (v, _) = match submitted(&s, &cx, form).await? {
        Gate::Go(v, form) => (v, form),
        Gate::Stop(r) => return Ok(r),
    };
    let db = s.db.clone();
    let id = v.session_id.clone();
    blocking(move || db.remove_session(&id).map_err(approval_error)).await?;
    s.audit(AuditEvent {
        event_type: EventType::Auth,
        actor: v.principal.name.clone(),
        action: "console.sign_out".into(),
        resource: "console".into(),
        outcome: "ok".into(),
        details: serde_json::json!({}),
    });
    Ok(to_login(&s, "signed_out", ""))
}
