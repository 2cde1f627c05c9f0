//! Typed settings read from their text with an error that says what was expected: addresses and
//! ports. (Address lists are read by `egress::address::parse_net`; secrets are
//! [`crate::vault::cfg::SecretRef`].)

use std::net::SocketAddr;

use serde::{Deserialize, Deserializer};

/// An address and port (`127.0.0.1:8844`, `[::1]:3128`), for `#[serde(deserialize_with)]`.
pub fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "{text:?}: expected an address and port, e.g. \"127.0.0.1:8844\" or \"[::1]:8844\""
        ))
    })
}
