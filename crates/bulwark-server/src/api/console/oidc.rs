//! Signing in to the console through an OpenID Connect provider (`[console.oidc]`): the
//! authorization code flow with PKCE, by the openidconnect crate.
//!
//! `/console/oidc/start` sends the browser to the provider with a fresh state, nonce and PKCE
//! challenge. They are kept in the state database for ten minutes under the SHA-256 of a random
//! cookie (HttpOnly, SameSite=Lax: the provider's redirect back is a navigation from another site;
//! `__Host-` named with TLS, so no other host can plant one), and taken once. `/console/oidc/callback`
//! checks the state in constant time, exchanges the code with the PKCE verifier, verifies the ID
//! token (signature against the provider's published keys, issuer, audience, expiry, nonce),
//! reads the configured claim (`email` only when verified, or `sub`), and maps it through
//! `[console.oidc] users` to a principal: the name of an active token with the `approve` scope,
//! which the session is bound to. Starts and answers draw on the client's failed-authentication
//! allowance; every refusal counts as a failed authentication.

use super::*;
use openidconnect::ClaimsVerificationError;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, TokenResponse,
};
use serde::Serialize;

/// The flow's cookie: Lax, since the provider's redirect back is a navigation from another site.
const OIDC_COOKIE: CookieKind = CookieKind {
    base: "bulwark_oidc",
    path: "/console/oidc",
    same_site: SameSite::Lax,
};

/// Seconds a sign-in at the provider may take.
const FLOW_SECS: i64 = 600;

/// How long the provider's metadata and keys are used before they are fetched again (a failed
/// verification fetches them again at once, for a provider that rotated its keys).
const DISCOVERY_FOR: Duration = Duration::from_secs(3600);

/// Largest answer read from the provider.
const BODY_LIMIT: u64 = 1 << 20;

/// What a flow remembers between start and callback (in the state database).
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    verifier: String,
    nonce: String,
    next: String,
    /// The session the browser held when it started (ended once the new one begins: the
    /// SameSite=Strict session cookie does not come with the provider's redirect).
    previous: Option<String>,
}

/// How long a failed discovery is remembered (a provider that is down is not asked again by
/// every request).
const FAILED_FOR: Duration = Duration::from_secs(30);

/// 404 unless `[console.oidc] enabled`.
fn oidc_off(c: &Compiled) -> Option<PageError> {
    (!c.cfg.console.oidc.enabled).then(|| {
        PageError::new(
            StatusCode::NOT_FOUND,
            "single sign-on is off: set [console.oidc] enabled = true",
        )
    })
}

/// The HTTP client the provider is called with: no redirects (they would open a way to
/// reach other hosts), bounded time and size.
fn http() -> impl Fn(openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, ureq::Error>
{
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    move |req: openidconnect::HttpRequest| {
        // The discovery document names the token and key URLs: https, or http to loopback only
        // (the client secret and the code go to the token URL).
        let uri = req.uri();
        let loopback = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .is_some_and(|h| {
                h == "localhost"
                    || h.parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            });
        if uri.scheme_str() != Some("https") && !(uri.scheme_str() == Some("http") && loopback) {
            return Err(ureq::Error::BadUri(format!(
                "{uri}: the provider's URLs must be https (http only to loopback)"
            )));
        }
        let (parts, mut body) = agent.run(req)?.into_parts();
        let bytes = body.with_config().limit(BODY_LIMIT).read_to_vec()?;
        Ok(axum::http::Response::from_parts(parts, bytes))
    }
}

fn provider_error(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "upstream",
        format!("the identity provider: {what}: {e}"),
    )
}

/// The provider's metadata and keys, discovered at most every [`DISCOVERY_FOR`]; a failure is
/// answered again for [`FAILED_FOR`] without asking the provider. One request discovers at a
/// time.
fn provider(s: &AppState, issuer: &str) -> Result<CoreProviderMetadata, ApiError> {
    let mut cache = s.oidc_provider.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, for_issuer, found)) = cache.as_ref()
        && for_issuer == issuer
    {
        match found {
            Ok(meta) if at.elapsed() < DISCOVERY_FOR => return Ok(meta.clone()),
            Err(e) if at.elapsed() < FAILED_FOR => return Err(provider_error("discovery", e)),
            _ => {}
        }
    }
    let found = IssuerUrl::new(issuer.to_string())
        .map_err(|e| e.to_string())
        .and_then(|url| CoreProviderMetadata::discover(&url, &http()).map_err(|e| e.to_string()));
    *cache = Some((Instant::now(), issuer.to_string(), found.clone()));
    found.map_err(|e| provider_error("discovery", e))
}

/// What the flow needs of the compiled configuration.
struct Settings {
    oidc: bulwark_core::config::OidcConfig,
    redirect: String,
    secret: Option<String>,
}

impl Settings {
    fn of(c: &Compiled) -> Settings {
        let oidc = c.cfg.console.oidc.clone();
        Settings {
            redirect: oidc.redirect(&c.cfg.console.public_url),
            secret: c
                .oidc_secret
                .as_ref()
                .map(|x| x.expose_secret().to_string()),
            oidc,
        }
    }

    /// The client for the provider described by `meta`.
    fn client(
        &self,
        meta: CoreProviderMetadata,
    ) -> Result<
        CoreClient<
            EndpointSet,
            EndpointNotSet,
            EndpointNotSet,
            EndpointNotSet,
            EndpointMaybeSet,
            EndpointMaybeSet,
        >,
        String,
    > {
        Ok(CoreClient::from_provider_metadata(
            meta,
            ClientId::new(self.oidc.client_id.clone()),
            self.secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(
            RedirectUrl::new(self.redirect.clone()).map_err(|e| format!("redirect_url: {e}"))?,
        ))
    }
}

/// Draw on the client's failed-authentication allowance: a flow costs the provider (and this
/// server) work before anyone is known, so a client cannot start or answer flows without bound.
async fn allowance(c: &Compiled, cx: &Ctx) -> Result<(), PageError> {
    if let Some(l) = &c.limits.auth_failures {
        l.check(&cx.ip).await.map_err(ApiError::from)?;
    }
    Ok(())
}

/// Send the browser to the provider.
pub(super) async fn start(State(s): State<Shared>, cx: Ctx, Query(q): Query<LoginQuery>) -> Page {
    if let Some(off) = disabled(&s) {
        return Ok(off);
    }
    let c = s.c();
    if let Some(off) = oidc_off(&c) {
        return Err(off);
    }
    allowance(&c, &cx).await?;
    let set = Settings::of(&c);
    let next = q
        .next
        .as_deref()
        .and_then(safe_next)
        .unwrap_or("")
        .to_string();
    let previous = SESSION_COOKIE
        .read(&cx.headers, secure(&c))
        .map(|k| bulwark_core::auth::session_id(k.value()));
    let (cookie, id) = bulwark_core::auth::new_session()
        .map_err(|e| PageError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let s2 = s.clone();
    let url = blocking(move || {
        let meta = provider(&s2, &set.oidc.issuer)?;
        let client = set.client(meta).map_err(ApiError::internal)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut ask = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in set.oidc.scopes.iter().filter(|x| x.as_str() != "openid") {
            ask = ask.add_scope(openidconnect::Scope::new(scope.clone()));
        }
        let (url, state, nonce) = ask.set_pkce_challenge(challenge).url();
        let flow = Flow {
            state: state.secret().clone(),
            verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
            next,
            previous,
        };
        let now = now_ms();
        let record = serde_json::to_string(&flow).map_err(|e| ApiError::internal(e.to_string()))?;
        s2.db
            .insert_flow(&id, &record, now, now + FLOW_SECS as u64 * 1000)
            .map_err(approval_error)?;
        Ok(url)
    })
    .await?;
    let mut resp = Redirect::to(url.as_str()).into_response();
    set_cookie(
        &mut resp,
        OIDC_COOKIE.build(cookie.expose_secret().to_string(), FLOW_SECS, secure(&c)),
    );
    Ok(resp)
}

/// The error codes of OpenID Connect Core and OAuth 2.0 a provider may send back, shown as they
/// are; anything else (and every description, which the sender of the link chose) is not shown.
const PROVIDER_ERRORS: &[&str] = &[
    "access_denied",
    "account_selection_required",
    "consent_required",
    "interaction_required",
    "invalid_request",
    "invalid_scope",
    "login_required",
    "server_error",
    "temporarily_unavailable",
    "unauthorized_client",
    "unsupported_response_type",
];

#[derive(Deserialize)]
pub(super) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Why single sign-on failed, counted as a failed authentication; the flow's cookie is cleared.
async fn refused(
    s: &Shared,
    cx: &Ctx,
    status: StatusCode,
    reason: &'static str,
    shown: String,
) -> Page {
    let c = s.c();
    if let Some(over) = failed_authentication(s, &c, cx.ip, reason, "/console/oidc/callback").await
    {
        return Err(over.into());
    }
    let mut resp = PageError::new(status, shown).into_response();
    set_cookie(&mut resp, OIDC_COOKIE.build(String::new(), 0, secure(&c)));
    Ok(resp)
}

/// What the provider's ID token said of the person.
struct Person {
    /// The configured claim's value.
    who: String,
    /// The provider's subject identifier.
    sub: String,
}

/// The provider sent the browser back: check, exchange, verify, map, sign in.
pub(super) async fn callback(State(s): State<Shared>, cx: Ctx, Query(q): Query<Callback>) -> Page {
    if let Some(off) = disabled(&s) {
        return Ok(off);
    }
    let c = s.c();
    if let Some(off) = oidc_off(&c) {
        return Err(off);
    }
    allowance(&c, &cx).await?;
    // The flow is taken once: a second answer for it (a replay) finds nothing.
    let id = OIDC_COOKIE
        .read(&cx.headers, secure(&c))
        .map(|k| bulwark_core::auth::session_id(k.value()));
    let db = s.db.clone();
    let flow = match id {
        Some(id) => blocking(move || db.take_flow(&id, now_ms()).map_err(approval_error)).await?,
        None => None,
    };
    let Some(flow) = flow.and_then(|f| serde_json::from_str::<Flow>(&f).ok()) else {
        return refused(
            &s,
            &cx,
            StatusCode::FORBIDDEN,
            "console: single sign-on answer without its flow",
            "This sign-in did not start here, was already answered, or took longer than ten minutes: start again.".into(),
        )
        .await;
    };
    if let Some(e) = &q.error {
        let code = PROVIDER_ERRORS
            .iter()
            .find(|k| **k == e.as_str())
            .unwrap_or(&"an error");
        return refused(
            &s,
            &cx,
            StatusCode::UNAUTHORIZED,
            "console: the identity provider refused",
            format!("The identity provider did not sign you in ({code}): start again."),
        )
        .await;
    }
    let state_ok = q
        .state
        .as_deref()
        .is_some_and(|st| bulwark_core::auth::same_secret(st, &flow.state));
    let Some(code) = q.code.filter(|_| state_ok) else {
        return refused(
            &s,
            &cx,
            StatusCode::FORBIDDEN,
            "console: single sign-on answer for another flow",
            "This answer from the identity provider is not for the sign-in this browser started: start again.".into(),
        )
        .await;
    };
    let set = Settings::of(&c);
    let (verifier, nonce) = (flow.verifier.clone(), flow.nonce.clone());
    let s2 = s.clone();
    let who = blocking(move || {
        let o = &set.oidc;
        let client = set
            .client(provider(&s2, &o.issuer)?)
            .map_err(ApiError::internal)?;
        let refused = |e: String| provider_error("sign-in", e);
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| refused(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request(&http())
            .map_err(|e| refused(format!("the code was not exchanged: {e}")))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| refused("the answer carried no ID token".into()))?;
        let claims = match id_token.claims(&client.id_token_verifier(), &Nonce::new(nonce)) {
            Ok(claims) => claims,
            Err(e) => {
                if matches!(e, ClaimsVerificationError::SignatureVerification(_)) {
                    // Perhaps signed with a key the provider rotated in since its keys were
                    // fetched: the next sign-in fetches them again (a code is exchanged once).
                    *s2.oidc_provider.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                return Err(refused(format!("the ID token was refused: {e}")));
            }
        };
        let sub = claims.subject().as_str().to_string();
        let who = if o.claim == "sub" {
            Some(sub.clone())
        } else {
            if claims.email_verified() != Some(true) {
                return Err(refused("its e-mail address is not verified".into()));
            }
            claims.email().map(|e| e.as_str().to_string())
        };
        let who = who.ok_or_else(|| refused(format!("the ID token has no {} claim", o.claim)))?;
        Ok((Person { who, sub }, o.users.clone(), o.claim.clone()))
    })
    .await;
    let (person, users, claim) = match who {
        Ok(w) => w,
        Err(e) => {
            return refused(
                &s,
                &cx,
                StatusCode::UNAUTHORIZED,
                "console: single sign-on refused",
                e.message,
            )
            .await;
        }
    };
    let who = person.who.as_str();
    let principal = users
        .iter()
        .find(|(k, _)| {
            if claim == "email" {
                k.eq_ignore_ascii_case(who)
            } else {
                k.as_str() == who
            }
        })
        .map(|(_, p)| p.clone());
    let Some(principal) = principal else {
        return refused(
            &s,
            &cx,
            StatusCode::FORBIDDEN,
            "console: single sign-on by someone not listed",
            format!("{who} is not an approver here ([console.oidc] users)."),
        )
        .await;
    };
    let tokens = s.tokens_async().await?;
    let token = tokens.values().find(|r| {
        r.name == principal && r.revoked_ms.is_none() && r.scopes.contains(&Scope::Approve)
    });
    let Some(token) = token else {
        return refused(
            &s,
            &cx,
            StatusCode::FORBIDDEN,
            "console: single sign-on for a principal without an approver token",
            format!(
                "{who} signs in as {principal}, who has no active token with the approve scope (`bulwark token create --name {principal} --scope approve`)."
            ),
        )
        .await;
    };
    let sign_in = SignIn {
        token_id: token.id.clone(),
        name: principal,
        // Checked again: the flow was stored by this server, but a path is checked where it is used.
        next: safe_next(&flow.next).unwrap_or("").to_string(),
        via: "oidc",
        person: Some(format!("{} (sub {})", person.who, person.sub)),
        previous: flow.previous,
    };
    let mut resp = start_session(&s, &cx, sign_in).await?;
    set_cookie(&mut resp, OIDC_COOKIE.build(String::new(), 0, secure(&c)));
    Ok(resp)
}
