//! Signing in to the console through an OpenID Connect provider (`[console.oidc]`): the
//! authorization code flow with PKCE, by the openidconnect crate.
//!
//! `/console/oidc/start` sends the browser to the provider with a fresh state, nonce and PKCE
//! challenge, kept in a short-lived HttpOnly cookie bound to `/console/oidc` (SameSite=Lax: the
//! provider's redirect back is a navigation from another site). `/console/oidc/callback` checks
//! the state in constant time, exchanges the code with the PKCE verifier, verifies the ID token
//! (signature against the provider's published keys, issuer, audience, expiry, nonce), reads the
//! configured claim (`email` only when verified), and maps it through `[console.oidc] users` to a
//! principal: the name of an active token with the `approve` scope, which the session is bound to.
//! Every refusal counts as a failed authentication.

use super::*;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, TokenResponse,
};
use serde::Serialize;

const OIDC_COOKIE: &str = "bulwark_oidc";

/// Seconds a sign-in at the provider may take.
const FLOW_SECS: i64 = 600;

/// How long the provider's metadata and keys are used before they are fetched again (a failed
/// verification fetches them again at once, for a provider that rotated its keys).
const DISCOVERY_FOR: Duration = Duration::from_secs(3600);

/// Largest answer read from the provider.
const BODY_LIMIT: u64 = 1 << 20;

/// What the flow remembers between start and callback (in the cookie).
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    verifier: String,
    nonce: String,
    next: String,
}

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
    move |req| {
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

/// The provider's metadata and keys, discovered at most every [`DISCOVERY_FOR`].
fn provider(s: &AppState, issuer: &str) -> Result<CoreProviderMetadata, ApiError> {
    let mut cache = s.oidc_provider.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, for_issuer, meta)) = cache.as_ref()
        && for_issuer == issuer
        && at.elapsed() < DISCOVERY_FOR
    {
        return Ok(meta.clone());
    }
    let url = IssuerUrl::new(issuer.to_string()).map_err(|e| provider_error("issuer", e))?;
    let meta = CoreProviderMetadata::discover(&url, &http())
        .map_err(|e| provider_error("discovery", e))?;
    *cache = Some((Instant::now(), issuer.to_string(), meta.clone()));
    Ok(meta)
}

fn flow_cookie<'a>(value: String, secs: i64, secure: bool) -> Cookie<'a> {
    Cookie::build((cookie_name(OIDC_COOKIE, secure), value))
        .path("/console/oidc")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(secs))
        .build()
}

/// Send the browser to the provider.
pub(super) async fn start(State(s): State<Shared>, Query(q): Query<LoginQuery>) -> Page {
    if let Some(off) = disabled(&s) {
        return Ok(off);
    }
    let c = s.c();
    if let Some(off) = oidc_off(&c) {
        return Err(off);
    }
    let o = c.cfg.console.oidc.clone();
    let redirect = o.redirect(&c.cfg.console.public_url);
    let secret = c
        .oidc_secret
        .as_ref()
        .map(|x| x.expose_secret().to_string());
    let next = q
        .next
        .as_deref()
        .and_then(safe_next)
        .unwrap_or("")
        .to_string();
    let s2 = s.clone();
    let (url, flow) = blocking(move || {
        let meta = provider(&s2, &o.issuer)?;
        let client = CoreClient::from_provider_metadata(
            meta,
            ClientId::new(o.client_id.clone()),
            secret.map(ClientSecret::new),
        )
        .set_redirect_uri(
            RedirectUrl::new(redirect)
                .map_err(|e| ApiError::internal(format!("redirect_url: {e}")))?,
        );
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut ask = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in o.scopes.iter().filter(|x| x.as_str() != "openid") {
            ask = ask.add_scope(openidconnect::Scope::new(scope.clone()));
        }
        let (url, state, nonce) = ask.set_pkce_challenge(challenge).url();
        Ok((
            url,
            Flow {
                state: state.secret().clone(),
                verifier: verifier.secret().clone(),
                nonce: nonce.secret().clone(),
                next,
            },
        ))
    })
    .await?;
    let value = base64_url(&serde_json::to_vec(&flow).unwrap_or_default());
    let mut resp = Redirect::to(url.as_str()).into_response();
    set_cookie(&mut resp, flow_cookie(value, FLOW_SECS, secure(&c)));
    Ok(resp)
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn from_base64_url(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

#[derive(Deserialize)]
pub(super) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
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
    set_cookie(&mut resp, flow_cookie(String::new(), 0, secure(&c)));
    Ok(resp)
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
    let flow: Option<Flow> = cookie_value(&cx.headers, &cookie_name(OIDC_COOKIE, secure(&c)))
        .and_then(|k| from_base64_url(k.value()))
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(flow) = flow else {
        return refused(
            &s,
            &cx,
            StatusCode::FORBIDDEN,
            "console: single sign-on answer without its flow",
            "This sign-in did not start here, or took longer than ten minutes: start again.".into(),
        )
        .await;
    };
    if let Some(e) = &q.error {
        let why = q.error_description.as_deref().unwrap_or("");
        return refused(
            &s,
            &cx,
            StatusCode::UNAUTHORIZED,
            "console: the identity provider refused",
            format!("The identity provider refused the sign-in: {e} {why}"),
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
    let o = c.cfg.console.oidc.clone();
    let redirect = o.redirect(&c.cfg.console.public_url);
    let secret = c
        .oidc_secret
        .as_ref()
        .map(|x| x.expose_secret().to_string());
    let s2 = s.clone();
    let who = blocking(move || {
        let verify = |meta: CoreProviderMetadata| -> Result<String, String> {
            let client = CoreClient::from_provider_metadata(
                meta,
                ClientId::new(o.client_id.clone()),
                secret.clone().map(ClientSecret::new),
            )
            .set_redirect_uri(RedirectUrl::new(redirect.clone()).map_err(|e| e.to_string())?);
            let token = client
                .exchange_code(AuthorizationCode::new(code.clone()))
                .map_err(|e| format!("no token endpoint: {e}"))?
                .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
                .request(&http())
                .map_err(|e| format!("the code was not exchanged: {e}"))?;
            let id_token = token.id_token().ok_or("the answer carried no ID token")?;
            let claims = id_token
                .claims(&client.id_token_verifier(), &Nonce::new(flow.nonce.clone()))
                .map_err(|e| format!("the ID token was refused: {e}"))?;
            let value = match o.claim.as_str() {
                "sub" => Some(claims.subject().as_str().to_string()),
                "preferred_username" => claims.preferred_username().map(|u| u.as_str().to_string()),
                _ => {
                    if claims.email_verified() != Some(true) {
                        return Err("its e-mail address is not verified".into());
                    }
                    claims.email().map(|e| e.as_str().to_string())
                }
            };
            value.ok_or_else(|| format!("the ID token has no {} claim", o.claim))
        };
        let result = verify(provider(&s2, &o.issuer)?);
        if let Err(e) = &result
            && e.starts_with("the ID token was refused")
        {
            // Perhaps signed with a key the provider rotated in since its keys were fetched:
            // the next sign-in fetches them again (this code cannot be exchanged twice).
            *s2.oidc_provider.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        result
            .map(|who| (who, o.users.clone(), o.claim.clone()))
            .map_err(|e| provider_error("sign-in", e))
    })
    .await;
    let (who, users, claim) = match who {
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
    let principal = users
        .iter()
        .find(|(k, _)| {
            if claim == "email" {
                k.eq_ignore_ascii_case(&who)
            } else {
                *k == &who
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
    let mut resp = start_session(&s, &cx, token.id.clone(), principal, &flow.next, "oidc").await?;
    set_cookie(&mut resp, flow_cookie(String::new(), 0, secure(&c)));
    Ok(resp)
}
