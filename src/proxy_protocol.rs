//! `--proxy-protocol off|required|optional` for `netloop server` and
//! `netloop echo`: read a PROXY protocol header (HAProxy's, version 1 or
//! 2) from each connection, so the server sees the clients of the load
//! balancer in front of it (`netloop::proxy`).
//!
//! A connection whose header is missing, malformed or late is closed and
//! reported on stderr (`clientError 127.0.0.1:PORT: PROXY protocol: ...`);
//! it never stops the server.

use netloop::net::{Server, ServerOptions};
use netloop::proxy::ProxyProtocol;

#[derive(clap::Args, Clone, Copy)]
pub struct ProxyArgs {
    /// Read a PROXY protocol header (v1 or v2) from each connection before
    /// anything else: `required` closes connections without one,
    /// `optional` also takes connections that start without one.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = Mode::Off)]
    proxy_protocol: Mode,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Off,
    Required,
    Optional,
}

impl ProxyArgs {
    /// `opts` with the mode set.
    pub fn apply(&self, opts: ServerOptions) -> ServerOptions {
        ServerOptions {
            proxy_protocol: match self.proxy_protocol {
                Mode::Off => ProxyProtocol::Off,
                Mode::Required => ProxyProtocol::Required,
                Mode::Optional => ProxyProtocol::Optional,
            },
            ..opts
        }
    }

    /// Report `server`'s client errors on stderr (or nowhere when
    /// `quiet`); a listener keeps them from being logged as warnings.
    pub fn report_client_errors(&self, server: &Server, quiet: bool) {
        if self.proxy_protocol == Mode::Off {
            return;
        }
        if quiet {
            server.on(Server::CLIENT_ERROR, |_, _| {});
        } else {
            server.on(Server::CLIENT_ERROR, |_, info| {
                let ip = info
                    .remote_address
                    .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
                let port = info.remote_port.unwrap_or(0);
                eprintln!("clientError {ip}:{port}: {}", info.error);
            });
        }
    }
}
