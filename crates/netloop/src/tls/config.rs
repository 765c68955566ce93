//! rustls configs from Node's options: one `Arc<ServerConfig>` per server
//! and one `Arc<ClientConfig>` per distinct set of client options, shared
//! by every connection made with them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::hooks::{ClientVerifier, KeyLogHook, ServerVerifier, SessionHook};
use super::options::{versions, SecureContext, SniCallback, TlsConnectOptions, TlsServerOptions};
use super::{cert, provider};
use crate::error::{Error, ErrorCode, Result};

/// Where Debian's `ca-certificates` puts the system's trusted roots.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn config_error(e: impl fmt::Display) -> Error {
    Error::new(ErrorCode::ERR_INVALID_ARG_VALUE, e.to_string())
}

/// Picks the server's certificate: the SNI callback, then the contexts
/// added by name (Node's `server.addContext`, wildcards included), then
/// the default.
pub(crate) struct Resolver {
    default: Arc<CertifiedKey>,
    contexts: RwLock<Vec<(String, Arc<CertifiedKey>)>>,
    sni: Option<SniCallback>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("sni_callback", &self.sni.is_some())
            .finish()
    }
}

impl Resolver {
    /// Node's `addContext(hostname, context)`: later additions win.
    pub(crate) fn add(&self, hostname: &str, ctx: SecureContext) {
        if let Ok(mut c) = self.contexts.write() {
            c.insert(0, (hostname.to_ascii_lowercase(), ctx.0));
        }
    }

    fn by_name(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let name = name.to_ascii_lowercase();
        let contexts = self.contexts.read().ok()?;
        contexts
            .iter()
            .find(|(pattern, _)| matches_name(pattern, &name))
            .map(|(_, ck)| Arc::clone(ck))
    }
}

/// `*.example.com` matches one label, as Node's `addContext` wildcards.
fn matches_name(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == name,
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            if let Some(ctx) = self.sni.as_ref().and_then(|cb| cb(name)) {
                return Some(ctx.0);
            }
            if let Some(ck) = self.by_name(name) {
                return Some(ck);
            }
        }
        Some(Arc::clone(&self.default))
    }
}

/// The roots in a PEM text.
fn roots(pem: &[u8]) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    for c in cert::certs_from_pem(pem, "ca")? {
        store
            .add(c)
            .map_err(|e| config_error(format!("The property 'options.ca' is invalid: {e}")))?;
    }
    Ok(store)
}

/// The system's roots, if the bundle is there (unreadable entries are
/// skipped, as OpenSSL skips them).
fn system_roots() -> RootCertStore {
    let mut store = RootCertStore::empty();
    if let Ok(pem) = std::fs::read(SYSTEM_BUNDLE) {
        if let Ok(certs) = cert::certs_from_pem(&pem, "ca") {
            store.add_parsable_certificates(certs);
        }
    }
    store
}

/// What a server's connections are made from: the rustls config, its
/// certificate resolver (for `add_context`), and with `request_cert` the
/// client certificate verifier (kept to check a resumed session's
/// certificate again).
pub(crate) struct ServerParts {
    pub config: Arc<ServerConfig>,
    pub resolver: Arc<Resolver>,
    pub client_verifier: Option<Arc<ClientVerifier>>,
}

/// A server's config, from Node's options.
pub(crate) fn server_config(opts: &TlsServerOptions) -> Result<ServerParts> {
    let provider = provider::provider();
    let default = SecureContext::new(&opts.key, &opts.cert)?;
    let resolver = Arc::new(Resolver {
        default: default.0,
        contexts: RwLock::new(Vec::new()),
        sni: opts.sni_callback.clone(),
    });
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions(opts.min_version, opts.max_version)?)
        .map_err(config_error)?;
    let mut client_verifier = None;
    let builder = if opts.request_cert {
        let inner = match &opts.ca {
            Some(pem) => Some(
                WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots(pem)?),
                    Arc::clone(&provider),
                )
                .allow_unauthenticated()
                .build()
                .map_err(config_error)?,
            ),
            None => None,
        };
        let verifier = Arc::new(ClientVerifier {
            inner,
            trusted: match &opts.ca {
                Some(pem) => cert::certs_from_pem(pem, "ca")?,
                None => Vec::new(),
            },
            provider: Arc::clone(&provider),
            mandatory: opts.reject_unauthorized,
        });
        client_verifier = Some(Arc::clone(&verifier));
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config =
        builder.with_cert_resolver(Arc::clone(&resolver) as Arc<dyn ResolvesServerCert>);
    config.alpn_protocols = opts
        .alpn_protocols
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
    config.key_log = KeyLogHook::new();
    if opts.session_tickets {
        config.ticketer = provider::ticketer().map_err(config_error)?;
    }
    Ok(ServerParts {
        config: Arc::new(config),
        resolver,
        client_verifier,
    })
}

/// What makes two client configs different: options of the same values
/// share one config (and its parsed roots).
#[derive(PartialEq, Eq, Hash)]
struct ClientKey {
    ca: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    cert: Option<Vec<u8>>,
    alpn: Vec<String>,
    versions: (u8, u8),
}

/// At most this many client configs are kept per thread: a program that
/// connects with ever new options rebuilds them instead of growing.
const CLIENT_CACHE: usize = 32;

thread_local! {
    static CLIENTS: RefCell<HashMap<ClientKey, Arc<ClientConfig>>> = RefCell::new(HashMap::new());
}

/// The client config for these options, built once per thread and shared
/// by every connection that uses the same ones.
pub(crate) fn client_config(opts: &TlsConnectOptions) -> Result<Arc<ClientConfig>> {
    let key = ClientKey {
        ca: opts.ca.clone(),
        key: opts.key.clone(),
        cert: opts.cert.clone(),
        alpn: opts.alpn_protocols.clone(),
        versions: (opts.min_version as u8, opts.max_version as u8),
    };
    if let Some(c) = CLIENTS.with(|m| m.borrow().get(&key).cloned()) {
        return Ok(c);
    }
    let config = build_client_config(opts)?;
    CLIENTS.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= CLIENT_CACHE {
            m.clear();
        }
        m.insert(key, Arc::clone(&config));
    });
    Ok(config)
}

fn build_client_config(opts: &TlsConnectOptions) -> Result<Arc<ClientConfig>> {
    let provider = provider::provider();
    let (store, trusted) = match &opts.ca {
        Some(pem) => (roots(pem)?, cert::certs_from_pem(pem, "ca")?),
        None => (system_roots(), Vec::new()),
    };
    let inner = if store.is_empty() {
        None
    } else {
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), Arc::clone(&provider))
                .build()
                .map_err(config_error)?,
        )
    };
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions(opts.min_version, opts.max_version)?)
        .map_err(config_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ServerVerifier {
            inner,
            trusted,
            provider: Arc::clone(&provider),
        }));
    let mut config = match (&opts.key, &opts.cert) {
        (Some(key), Some(chain)) => builder
            .with_client_auth_cert(
                cert::certs_from_pem(chain, "cert")?,
                cert::key_from_pem(key)?,
            )
            .map_err(config_error)?,
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = opts
        .alpn_protocols
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
    config.key_log = KeyLogHook::new();
    config.resumption = Resumption::store(Arc::new(SessionHook));
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::matches_name;

    #[test]
    fn wildcards_match_one_label() {
        assert!(matches_name("*.example.com", "a.example.com"));
        assert!(!matches_name("*.example.com", "a.b.example.com"));
        assert!(!matches_name("*.example.com", "example.com"));
        assert!(matches_name("example.com", "example.com"));
    }
}
