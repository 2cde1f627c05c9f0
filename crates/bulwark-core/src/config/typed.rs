//! Typed settings read from their text with an error that says what was expected: addresses and
//! ports, address blocks, URLs. (Secrets are [`crate::vault::cfg::SecretRef`].)

use std::net::{IpAddr, SocketAddr};

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// An address and port (`127.0.0.1:8844`, `[::1]:3128`), for `#[serde(deserialize_with)]`.
pub fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "{text:?}: expected an address and port, e.g. \"127.0.0.1:8844\" or \"[::1]:8844\""
        ))
    })
}

/// An address or a block (`10.0.0.0/8`, `::1`): the one parser for every address list in the
/// configuration (egress CIDR rules, ingress `allow_cidrs` and `trusted_proxies`).
pub fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

/// An address or block of an address list, read by [`parse_net`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net(pub ipnet::IpNet);

impl Serialize for Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Net {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_net(&text).map(Net).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?}: expected an address or block such as \"10.0.0.0/8\" or \"::1\""
            ))
        })
    }
}

impl JsonSchema for Net {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Net".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An IPv4 or IPv6 address, or a block in CIDR notation: \"10.0.0.0/8\", \"::1\"."
        })
    }
}

/// An http(s) URL, or nothing (empty in the file), for `#[serde(with = "http_url")]`.
pub mod http_url {
    use super::*;

    /// Read `""` as none, anything else as an http(s) URL with a host.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<url::Url>, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        match url::Url::parse(&text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                Ok(Some(u))
            }
            _ => Err(serde::de::Error::custom(format!(
                "{text:?}: expected an http(s) URL such as \"https://agent.internal/hooks\", or empty"
            ))),
        }
    }

    /// Write none as `""`.
    pub fn serialize<S: serde::Serializer>(v: &Option<url::Url>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_ref().map_or("", url::Url::as_str))
    }
}

/// A provider's base URL: http(s), with a host, without query, fragment or credentials, for
/// `#[serde(deserialize_with = "base_url")]`.
pub fn base_url<'de, D: Deserializer<'de>>(d: D) -> Result<url::Url, D::Error> {
    let text = String::deserialize(d)?;
    match url::Url::parse(&text) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.query().is_none()
                && u.fragment().is_none()
                && u.username().is_empty()
                && u.password().is_none() =>
        {
            Ok(u)
        }
        _ => Err(serde::de::Error::custom(format!(
            "{text:?}: expected the provider's base URL, http(s) without query or credentials, e.g. \"https://api.openai.com/v1\""
        ))),
    }
}

/// Write a URL as its text, for `#[serde(serialize_with = "url_text")]`.
pub fn url_text<S: serde::Serializer>(u: &url::Url, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(u.as_str())
}
