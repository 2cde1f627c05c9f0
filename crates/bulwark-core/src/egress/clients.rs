//! Egress proxy clients: who is asking, and so which egress profile applies.
//!
//! Threat answered: a process on the host that picks a more permissive profile than its own by
//! naming it. A client proves its name with a token (the Proxy-Authorization password) whose
//! SHA-256 alone is configured; the token is random (256 bits from the OS), so a plain hash is
//! enough, and hashes are compared in constant time.

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::EgressConfigError;
use super::cfg::ProxyConfig;

/// A configured client.
#[derive(Clone)]
struct Client {
    name: String,
    token_sha256: [u8; 32],
    profile: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name)
            .field("token_sha256", &"[REDACTED]")
            .field("profile", &self.profile)
            .finish()
    }
}

/// The proxy's clients, compiled from `[egress.proxy.clients]`.
#[derive(Debug, Clone)]
pub struct ProxyClients {
    clients: Vec<Client>,
    require_auth: bool,
}

/// Why a client was refused (answered 407).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientAuthError {
    /// No Proxy-Authorization, and `require_client_auth` is on.
    #[error("proxy authentication required")]
    Missing,
    /// Not `Basic base64(name:token)`.
    #[error("Proxy-Authorization is not Basic credentials")]
    Malformed,
    /// Unknown name or wrong token (not told apart).
    #[error("unknown proxy client or wrong token")]
    Rejected,
}

/// Who a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIdentity<'a> {
    /// The client name, or `None` for an anonymous client (default profile).
    pub name: Option<&'a str>,
    /// The egress profile that applies.
    pub profile: &'a str,
}

impl ProxyClients {
    /// Compile the client list (hashes decoded; names and profiles are checked by the
    /// configuration's validation).
    pub fn from_config(cfg: &ProxyConfig) -> Result<ProxyClients, EgressConfigError> {
        let mut clients = Vec::new();
        for (name, c) in &cfg.clients {
            let err = || EgressConfigError {
                key: format!("egress.proxy.clients.{name}.token_sha256"),
                value: format!("{:?}", c.token_sha256),
                expected: "64 hex digits".into(),
            };
            let mut hash = [0u8; 32];
            hex::decode_to_slice(&c.token_sha256, &mut hash).map_err(|_| err())?;
            clients.push(Client {
                name: name.clone(),
                token_sha256: hash,
                profile: c.profile.clone(),
            });
        }
        Ok(ProxyClients {
            clients,
            require_auth: cfg.require_client_auth,
        })
    }

    /// Identify a request by its Proxy-Authorization header value (if any).
    pub fn authenticate(
        &self,
        header: Option<&[u8]>,
    ) -> Result<ClientIdentity<'_>, ClientAuthError> {
        let Some(value) = header else {
            if self.require_auth {
                return Err(ClientAuthError::Missing);
            }
            return Ok(ClientIdentity {
                name: None,
                profile: "default",
            });
        };
        let value = std::str::from_utf8(value).map_err(|_| ClientAuthError::Malformed)?;
        let (scheme, creds) = value
            .trim()
            .split_once(' ')
            .ok_or(ClientAuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(ClientAuthError::Malformed);
        }
        let decoded = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(creds.trim())
                .map_err(|_| ClientAuthError::Malformed)?,
        );
        let colon = decoded
            .iter()
            .position(|&b| b == b':')
            .ok_or(ClientAuthError::Malformed)?;
        let (name, token) = (&decoded[..colon], &decoded[colon + 1..]);
        let presented: [u8; 32] = Sha256::digest(token).into();
        let client = self.clients.iter().find(|c| c.name.as_bytes() == name);
        // Compare against a hash even for an unknown name, so timing does not tell names apart.
        let expected = client.map_or([0u8; 32], |c| c.token_sha256);
        let ok = bool::from(presented.ct_eq(&expected));
        match client {
            Some(c) if ok => Ok(ClientIdentity {
                name: Some(&c.name),
                profile: &c.profile,
            }),
            _ => Err(ClientAuthError::Rejected),
        }
    }
}

/// A new client token (256 random bits from the OS, base64url) and the hex SHA-256 to configure.
pub fn new_client_token() -> Result<(SecretString, String), getrandom::Error> {
    let mut raw = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(raw.as_mut())?;
    let token =
        SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_ref()));
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The hex SHA-256 of a token (what `token_sha256` holds).
pub fn token_hash(token: &SecretString) -> String {
    hex::encode(Sha256::digest(token.expose_secret().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::cfg::ProxyClientConfig;

    fn basic(user: &str, pw: &str) -> Vec<u8> {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
        format!("Basic {b}").into_bytes()
    }

    #[test]
    fn tokens_select_profiles() {
        let (token, hash) = new_client_token().expect("random");
        assert_eq!(token_hash(&token), hash);
        let mut cfg = ProxyConfig::default();
        cfg.clients.insert(
            "crawler".into(),
            ProxyClientConfig {
                profile: "docs".into(),
                token_sha256: hash,
            },
        );
        let clients = ProxyClients::from_config(&cfg).expect("clients");
        let id = clients
            .authenticate(Some(&basic("crawler", token.expose_secret())))
            .expect("auth");
        assert_eq!((id.name, id.profile), (Some("crawler"), "docs"));
        assert_eq!(
            clients.authenticate(Some(&basic("crawler", "wrong"))),
            Err(ClientAuthError::Rejected)
        );
        assert_eq!(
            clients.authenticate(Some(&basic("nobody", token.expose_secret()))),
            Err(ClientAuthError::Rejected)
        );
        assert_eq!(
            clients.authenticate(Some(b"Bearer xyz")),
            Err(ClientAuthError::Malformed)
        );
        assert_eq!(
            clients.authenticate(Some(b"Basic !!!")),
            Err(ClientAuthError::Malformed)
        );
        assert_eq!(clients.authenticate(None).expect("anon").profile, "default");
        cfg.require_client_auth = true;
        let strict = ProxyClients::from_config(&cfg).expect("clients");
        assert_eq!(strict.authenticate(None), Err(ClientAuthError::Missing));
        let debug = format!("{strict:?}");
        assert!(!debug.contains(&token_hash(&token)), "{debug}");
    }
}
