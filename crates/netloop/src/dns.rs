//! Name lookup: Node's `dns.lookup`, which is `getaddrinfo` run on the
//! thread pool so the loop never blocks.
//!
//! IP literals are answered without the pool (on the next tick, so the
//! callback is never called from inside `lookup`). Results keep the order
//! the resolver gives (Node 20's default `verbatim` order). A pending
//! lookup keeps [`run`](crate::run) going, as Node's request does.
//!
//! | Node | netloop |
//! | --- | --- |
//! | `dns.lookup(host, { family }, cb)` | [`lookup`]`(host, family, f)`, `family` an `Option<`[`Family`]`>` (`None` for Node's 0) |
//! | `dns.lookup(host, { family, all: true }, cb)` | [`lookup_all`]`(host, family, f)` |
//!
//! ```
//! use netloop::dns;
//! use netloop::Slot;
//!
//! let log = netloop::run_returning(|| {
//!     let log = Slot::new(Vec::new());
//!     let (one, all) = (log.clone(), log.clone());
//!     dns::lookup("127.0.0.1", None, move |res| {
//!         let ip = res.expect("an IP literal resolves to itself");
//!         one.update(|l| l.push(format!("lookup: {ip}")));
//!     });
//!     dns::lookup_all("::1", None, move |res| {
//!         let ips = res.expect("an IP literal resolves to itself");
//!         all.update(|l| l.push(format!("lookup_all: {ips:?}")));
//!     });
//!     log.update(|l| l.push("lookups started".to_string())); // answers come later
//!     Ok(log)
//! })
//! .expect("the loop ran");
//! assert_eq!(log, ["lookups started", "lookup: 127.0.0.1", "lookup_all: [::1]"]);
//! ```

use std::net::{IpAddr, ToSocketAddrs};

use crate::error::{Error, ErrorCode, Result};
use crate::event_loop;
use crate::ip::{is_ip, Family};

/// Look up `host` and call `f` with the first address of the wanted
/// `family`, `None` for either (Node: `dns.lookup(host, { family }, cb)`,
/// with 4, 6, or 0 for either). `f` runs on a later tick or loop iteration, never inside this
/// call. An IP literal answers with itself whatever `family` asks, as in
/// Node. See the [module](self) documentation for an example.
///
/// # Errors
///
/// Passed to `f`, as for [`lookup_all`].
///
/// # Panics
///
/// Outside `netloop::run`.
pub fn lookup(host: &str, family: Option<Family>, f: impl FnOnce(Result<IpAddr>) + 'static) {
    let host_owned = host.to_owned();
    lookup_all(host, family, move |res| {
        f(res.and_then(|addrs| {
            addrs
                .into_iter()
                .next()
                .ok_or_else(|| Error::lookup_failed(ErrorCode::ENOTFOUND, &host_owned))
        }))
    });
}

/// Look up every address of `host` of the wanted `family`, in the
/// resolver's order (Node: `dns.lookup(host, { family, all: true }, cb)`).
/// See the [module](self) documentation for an example.
///
/// # Errors
///
/// Passed to `f`: `ENOTFOUND` (syscall `getaddrinfo`, with the hostname)
/// when the name does not resolve, `EAI_AGAIN` when the resolver could not
/// be reached.
///
/// # Panics
///
/// Outside `netloop::run`.
pub fn lookup_all(
    host: &str,
    family: Option<Family>,
    f: impl FnOnce(Result<Vec<IpAddr>>) + 'static,
) {
    let lp = event_loop::current();
    if is_ip(host) != 0 {
        // Node answers a literal with itself whatever `family` asks for
        // (`dns.lookup('127.0.0.1', { family: 6 })` gives 127.0.0.1, 4).
        let res = match host.parse::<IpAddr>() {
            Ok(ip) => Ok(vec![ip]),
            Err(_) => Err(Error::lookup_failed(ErrorCode::ENOTFOUND, host)),
        };
        lp.next_tick(move || f(res));
        return;
    }
    let host = host.to_owned();
    tracing::debug!(target: "netloop::dns", %host, ?family, "lookup");
    let query = host.clone();
    lp.queue_work(
        move || resolve(&query),
        move |res: std::result::Result<Vec<IpAddr>, ErrorCode>| {
            let res = match res {
                Ok(addrs) => {
                    let addrs: Vec<IpAddr> = addrs
                        .into_iter()
                        .filter(|ip| Family::matches(family, ip))
                        .collect();
                    if addrs.is_empty() {
                        Err(Error::lookup_failed(ErrorCode::ENOTFOUND, &host))
                    } else {
                        Ok(addrs)
                    }
                }
                Err(code) => Err(Error::lookup_failed(code, &host)),
            };
            tracing::debug!(target: "netloop::dns", %host, ok = res.is_ok(), "lookup done");
            f(res)
        },
    );
}

/// The blocking part, run on a pool thread: std's resolver is
/// `getaddrinfo`. Duplicates (one per socket type) are removed, order kept.
fn resolve(host: &str) -> std::result::Result<Vec<IpAddr>, ErrorCode> {
    match (host, 0u16).to_socket_addrs() {
        Ok(iter) => {
            let mut out: Vec<IpAddr> = Vec::new();
            for sa in iter {
                if !out.contains(&sa.ip()) {
                    out.push(sa.ip());
                }
            }
            Ok(out)
        }
        Err(e) => {
            // std folds getaddrinfo's EAI_* codes into the message; Node maps
            // EAI_AGAIN to its own code and the "no such name" family to
            // ENOTFOUND.
            let text = e.to_string();
            if text.contains("Temporary failure") {
                Err(ErrorCode::EAI_AGAIN)
            } else {
                Err(ErrorCode::ENOTFOUND)
            }
        }
    }
}
