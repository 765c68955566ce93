//! TLS on the command line (`netloop::tls`, Node's `tls`):
//! `--tls-cert F --tls-key F` for `netloop server` and `netloop echo`,
//! `--tls [--ca F] [--servername N]` for `netloop client`, and ncat's
//! `--ssl` family for `netloop nc`.
//!
//! A server reads its key and certificate once, before it listens, into
//! one [`TlsServerConfig`]; with `--threads` every worker's server is made
//! from that same config, so the key is parsed once and a session ticket
//! one worker issued resumes on any other. The server's connection
//! handler runs at `secureConnection` (the handshake done), so the
//! `CONNECTED:` line and everything after it are the same as over plain
//! TCP. A failed handshake (`tlsClientError`: a client that does not speak
//! TLS, a refused certificate, a handshake timeout) is one line on stderr
//! and never stops the server. With `--proxy-protocol` the PROXY header
//! comes first, then the TLS handshake, as HAProxy's `send-proxy` in
//! front of a TLS backend sends them.

use std::path::{Path, PathBuf};

use netloop::net::{self, Server, ServerOptions, Socket};
use netloop::tls::{self, TlsConnectOptions, TlsServer, TlsServerConfig, TlsServerOptions};
use netloop::{Error, ErrorCode};

/// `--tls-cert F --tls-key F [--tls-ca F --tls-request-cert]` for
/// `netloop server` and `netloop echo`.
#[derive(clap::Args, Clone, Default)]
pub struct TlsServerArgs {
    /// Serve TLS with this certificate chain (PEM, leaf first; `netloop
    /// tls-cert` makes one). Needs --tls-key. With --proxy-protocol the
    /// PROXY header comes first, then the TLS handshake.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// With --tls-request-cert: the CAs (PEM) a client certificate must
    /// come from.
    #[arg(long, value_name = "FILE", requires = "tls_request_cert")]
    tls_ca: Option<PathBuf>,
    /// Ask each client for a certificate and refuse the connection when
    /// it sends none or one not signed by --tls-ca (Node: `requestCert`
    /// with `rejectUnauthorized`).
    #[arg(long, requires_all = ["tls_cert", "tls_ca"])]
    tls_request_cert: bool,
}

impl TlsServerArgs {
    /// The server's TLS settings, read and checked now (before anything
    /// listens); `None` without `--tls-cert`.
    ///
    /// # Errors
    ///
    /// A file that cannot be read, or a key and certificate that cannot
    /// be loaded or do not match.
    pub fn config(&self) -> netloop::Result<Option<TlsServerConfig>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let opts = TlsServerOptions {
            cert: read_pem("--tls-cert", cert)?,
            key: read_pem("--tls-key", key)?,
            ca: self
                .tls_ca
                .as_deref()
                .map(|ca| read_pem("--tls-ca", ca))
                .transpose()?,
            request_cert: self.tls_request_cert,
            ..TlsServerOptions::default()
        };
        TlsServerConfig::new(&opts)
            .map(Some)
            .map_err(|e| Error::new(e.code(), format!("--tls-cert/--tls-key: {e}")))
    }
}

/// A file's contents, or Node's `fs` error naming the flag:
/// `--tls-cert: ENOENT: no such file or directory, open 'cert.pem'`.
pub fn read_pem(flag: &str, path: &Path) -> netloop::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        let code = e
            .raw_os_error()
            .map_or(ErrorCode::EINVAL, ErrorCode::from_errno);
        // io::Error prints "No such file or directory (os error 2)"; Node
        // prints the C library's text in lower case, without the number.
        let text = e.to_string();
        let text = text.split(" (os error").next().unwrap_or(&text);
        Error::new(
            code,
            format!(
                "{flag}: {}: {}, open '{}'",
                code.as_str(),
                text.to_lowercase(),
                path.display()
            ),
        )
    })
}

/// A server whose `on_connection` runs for each connection: at
/// `connection` for plain TCP, at `secureConnection` over TLS (`tls`).
/// Over TLS, failed handshakes are reported on stderr (nowhere when
/// `quiet`) as `tlsClientError ADDR:PORT: message (CODE)`, with the
/// client a PROXY header named when there was one.
pub fn create_server(
    tls: Option<&TlsServerConfig>,
    opts: ServerOptions,
    quiet: bool,
    mut on_connection: impl FnMut(&Socket) + 'static,
) -> Server {
    let Some(config) = tls else {
        return net::create_server_with(opts, move |_, sock: &Socket| on_connection(sock));
    };
    let server = TlsServer::from_config(config, opts);
    server.on(TlsServer::SECURE_CONNECTION, move |_, sock| {
        on_connection(sock)
    });
    if quiet {
        server.on(TlsServer::TLS_CLIENT_ERROR, |_, _| {});
    } else {
        server.on(TlsServer::TLS_CLIENT_ERROR, |_, e| {
            let ip = e
                .socket
                .remote_address()
                .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
            let port = e.socket.remote_port().unwrap_or(0);
            eprintln!(
                "tlsClientError {ip}:{port}: {} ({})",
                e.error,
                e.error.code().as_str()
            );
        });
    }
    server.server().clone()
}

/// `--tls [--ca F] [--servername N]` for `netloop client`.
#[derive(clap::Args, Clone, Default)]
pub struct TlsClientArgs {
    /// Connect over TLS. The server's certificate is verified (Node's
    /// default, `rejectUnauthorized: true`): against --ca, or the
    /// system's trusted CAs without it.
    #[arg(long)]
    tls: bool,
    /// With --tls: trust the CAs in this PEM file (a self-signed
    /// server's own certificate works too).
    #[arg(long, value_name = "FILE", requires = "tls")]
    ca: Option<PathBuf>,
    /// With --tls: the name sent for SNI and checked in the certificate
    /// (default: --host; an IP address is checked, never sent).
    #[arg(long, value_name = "NAME", requires = "tls")]
    servername: Option<String>,
}

impl TlsClientArgs {
    /// The options of `tls::connect`, if `--tls` was given.
    ///
    /// # Errors
    ///
    /// `--ca` cannot be read.
    pub fn options(&self, host: &str, port: u16) -> netloop::Result<Option<TlsConnectOptions>> {
        if !self.tls {
            return Ok(None);
        }
        Ok(Some(TlsConnectOptions {
            port,
            host: Some(host.to_owned()),
            servername: self.servername.clone(),
            ca: self
                .ca
                .as_deref()
                .map(|ca| read_pem("--ca", ca))
                .transpose()?,
            ..TlsConnectOptions::default()
        }))
    }
}

/// ncat's TLS options for `netloop nc`, with ncat's meanings: each of
/// them turns `--ssl` on; a client verifies the server only with
/// `--ssl-verify` or `--ssl-trustfile` (which implies it); a listener
/// needs `--ssl-cert` and `--ssl-key` (ncat makes a throwaway
/// self-signed pair instead: `netloop tls-cert` writes one).
#[derive(clap::Args, Clone, Default)]
pub struct NcSslArgs {
    /// Connect or listen with TLS (SSL).
    #[arg(long)]
    ssl: bool,
    /// Certificate chain (PEM): the listener's, or a client certificate.
    #[arg(long, value_name = "FILE", requires = "ssl_key")]
    ssl_cert: Option<PathBuf>,
    /// Private key (PEM) of --ssl-cert.
    #[arg(long, value_name = "FILE", requires = "ssl_cert")]
    ssl_key: Option<PathBuf>,
    /// Verify the server's certificate and name (connecting only): fail
    /// the connection when it is not trusted.
    #[arg(long)]
    ssl_verify: bool,
    /// CAs to trust (PEM) instead of the system's; implies --ssl-verify.
    #[arg(long, value_name = "FILE")]
    ssl_trustfile: Option<PathBuf>,
    /// The name to send for SNI and check in the certificate (default:
    /// the host connected to).
    #[arg(long, value_name = "NAME")]
    ssl_servername: Option<String>,
    /// Protocols to offer for ALPN, comma-separated (h2,http/1.1).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    ssl_alpn: Vec<String>,
}

impl NcSslArgs {
    /// True when any of the options asks for TLS (as in ncat, each one
    /// implies `--ssl`).
    pub fn enabled(&self) -> bool {
        self.ssl
            || self.ssl_cert.is_some()
            || self.ssl_verify
            || self.ssl_trustfile.is_some()
            || self.ssl_servername.is_some()
            || !self.ssl_alpn.is_empty()
    }

    /// Why these options cannot be used to listen, if they cannot.
    pub fn listen_problem(&self) -> Option<&'static str> {
        if self.ssl_cert.is_none() {
            Some(
                "--ssl with -l needs --ssl-cert and --ssl-key \
                 (netloop nc makes no throwaway certificate; netloop tls-cert writes a pair)",
            )
        } else if self.ssl_verify || self.ssl_trustfile.is_some() {
            Some("--ssl-verify and --ssl-trustfile check a server: they do not work with -l")
        } else {
            None
        }
    }

    /// The listener's TLS settings.
    ///
    /// # Errors
    ///
    /// The files cannot be read or loaded.
    pub fn server_config(&self) -> netloop::Result<TlsServerConfig> {
        let (Some(cert), Some(key)) = (&self.ssl_cert, &self.ssl_key) else {
            return Err(Error::new(
                ErrorCode::ERR_INVALID_ARG_VALUE,
                "--ssl with -l needs --ssl-cert and --ssl-key",
            ));
        };
        let opts = TlsServerOptions {
            cert: read_pem("--ssl-cert", cert)?,
            key: read_pem("--ssl-key", key)?,
            alpn_protocols: self.ssl_alpn.clone(),
            ..TlsServerOptions::default()
        };
        TlsServerConfig::new(&opts)
            .map_err(|e| Error::new(e.code(), format!("--ssl-cert/--ssl-key: {e}")))
    }

    /// Connect with TLS to `host:port` (`net` has the connection's own
    /// options).
    ///
    /// # Errors
    ///
    /// The files cannot be read or loaded; the errors of `tls::connect`.
    pub fn connect(
        &self,
        host: &str,
        port: u16,
        net: netloop::net::ConnectOptions,
    ) -> netloop::Result<Socket> {
        let opts = TlsConnectOptions {
            port,
            host: Some(host.to_owned()),
            servername: self.ssl_servername.clone(),
            ca: self
                .ssl_trustfile
                .as_deref()
                .map(|f| read_pem("--ssl-trustfile", f))
                .transpose()?,
            key: self
                .ssl_key
                .as_deref()
                .map(|f| read_pem("--ssl-key", f))
                .transpose()?,
            cert: self
                .ssl_cert
                .as_deref()
                .map(|f| read_pem("--ssl-cert", f))
                .transpose()?,
            reject_unauthorized: self.ssl_verify || self.ssl_trustfile.is_some(),
            alpn_protocols: self.ssl_alpn.clone(),
            net,
            ..TlsConnectOptions::default()
        };
        Ok(tls::connect(opts)?.socket().clone())
    }
}

/// An error as Node prints an uncaught one's first line: its message, and
/// its code when the message does not say it (`Error
/// [DEPTH_ZERO_SELF_SIGNED_CERT]: self-signed certificate`); errors whose
/// message names the code (`connect ECONNREFUSED 127.0.0.1:6969`) are
/// left as they are.
pub fn with_code(err: &Error) -> String {
    let code = err.code();
    let text = err.to_string();
    if text.contains(code.as_str()) {
        text
    } else {
        format!("Error [{}]: {text}", code.as_str())
    }
}
