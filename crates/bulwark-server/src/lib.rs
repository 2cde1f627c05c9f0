//! Bulwark's network edge. The guards in `bulwark-core` decide; this crate acts on sockets.
//!
//! Today it holds the egress proxy ([`proxy`]); the sidecar HTTP API joins it later.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod proxy;
