//! The crypto provider: the one place that names it.
//!
//! rustls 0.23 offers two providers, aws-lc-rs and ring. netloop uses
//! aws-lc-rs: its RSA signing (the server's half of an RSA handshake) is
//! several times faster than ring's, and since aws-lc-sys 0.2x it builds
//! with the C compiler alone (no cmake, no Go, no NASM on x86-64: the
//! assembly ships prebuilt), which keeps a fresh machine with only the Rust
//! toolchain, gcc and Debian's packages able to build netloop. To switch to
//! ring, change the functions below and the `rustls` features in
//! `crates/netloop/Cargo.toml`; nothing else names a provider.

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::server::ProducesTickets;

/// The provider every config is built with, made once per process.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider())))
}

/// A session-ticket encrypter with rotating keys (Node's servers issue
/// tickets by default, with keys it rotates); one per server.
pub(crate) fn ticketer() -> Result<Arc<dyn ProducesTickets>, rustls::Error> {
    rustls::crypto::aws_lc_rs::Ticketer::new()
}

/// SHA-256 of `data` (Node's `fingerprint256`).
pub(crate) fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// SHA-1 of `data` (Node's `fingerprint`: an identifier, not a security
/// check).
pub(crate) fn sha1(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .to_vec()
}
