//! The PROXY protocol against a real HAProxy (written for 2.6), both ways:
//! HAProxy's `send-proxy` (version 1) and `send-proxy-v2` (with its
//! CRC32C and unique-id TLVs) in front of a netloop server that requires
//! a header, and netloop clients' own headers (version 1, and version 2
//! with a CRC32C) accepted by HAProxy's `accept-proxy` and passed on.
//!
//! Needs `haproxy` on PATH; without it the test fails and says to install
//! it. It spawns HAProxy and runs netloop in-process, so it holds
//! `util::serial()` for its whole run (see `util`).

#[path = "../crates/netloop/tests/util/mod.rs"]
mod util;

use std::cell::RefCell;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use netloop::net::{self, ConnectOptions, Server, ServerOptions, Socket};
use netloop::proxy::{ProxyHeader, ProxyProtocol, ProxyVersion, Tlv};
use util::{guard, serial, server_port, Log};

/// Kills HAProxy when the test ends, pass or fail.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse()
        .expect("test addresses are socket address literals")
}

/// Start HAProxy with `config`, and wait (bounded) until it listens on
/// `ready`.
fn haproxy(config: &str, ready: u16) -> Guard {
    let path = std::env::temp_dir().join(format!("netloop-haproxy-{}.cfg", std::process::id()));
    std::fs::write(&path, config).expect("write the HAProxy configuration");
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "`haproxy` could not be started ({e}): this test needs HAProxy 2.x on PATH \
                 (`apt-get install haproxy`)"
            )
        });
    let guard = Guard(child);
    // HAProxy reads its configuration when it starts; do not leave it
    // behind in the temporary directory.
    let remove = || {
        let _ = std::fs::remove_file(&path);
    };
    // HAProxy binds every frontend before it serves any; its `ready`
    // frontend accepts (and rejects) connections once it runs.
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", ready)).is_ok() {
            remove();
            return guard;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!(
        "HAProxy did not start within 5 s (check `haproxy -c -f {}`)",
        path.display()
    );
}

#[test]
fn haproxy_and_netloop_speak_both_versions_both_ways() {
    let _serial = serial();
    // Ports for HAProxy's frontends, held until it binds them.
    let (ready, v1, v2, accept) = (server_port(), server_port(), server_port(), server_port());
    let backend = TcpListener::bind("127.0.0.1:0").expect("bind the backend");
    let backend_port = backend.local_addr().expect("bound").port();
    let config = format!(
        "global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend ready
    bind 127.0.0.1:{ready}
    tcp-request connection reject
frontend v1
    bind 127.0.0.1:{v1}
    default_backend send_v1
frontend v2
    bind 127.0.0.1:{v2}
    unique-id-format %ci:%cp
    default_backend send_v2
frontend accept
    bind 127.0.0.1:{accept} accept-proxy
    default_backend send_v2
backend send_v1
    server netloop 127.0.0.1:{backend_port} send-proxy
backend send_v2
    server netloop 127.0.0.1:{backend_port} send-proxy-v2 proxy-v2-options crc32c,unique-id
",
        ready = ready.port(),
        v1 = v1.port(),
        v2 = v2.port(),
        accept = accept.port(),
    );
    let _haproxy = haproxy(&config, ready.port());

    // What the server saw, and the clients' own addresses, in order (the
    // clients go one after another).
    let (log, clients) = (Log::new(), Log::new());
    let (l, cl) = (log.clone(), clients.clone());
    let ports = (v1.port(), v2.port(), accept.port());
    netloop::run(move || {
        guard("haproxy interop");
        let required = ServerOptions {
            proxy_protocol: ProxyProtocol::Required,
            ..ServerOptions::default()
        };
        let sl = l.clone();
        let server = Server::with_options(required);
        server.on(Server::CONNECTION, move |server, sock: &Socket| {
            let h = sock.proxy_header().expect("required");
            let line = format!(
                "server: {:?} from {:?}:{:?} to {:?}, crc32c {}, unique id {:?}",
                h.version(),
                sock.remote_address(),
                sock.remote_port(),
                h.destination(),
                h.crc32c().is_some(),
                h.unique_id()
                    .map(|u| String::from_utf8_lossy(u).into_owned()),
            );
            sl.push(line);
            sock.pipe(sock);
            if sl.len() == 4 {
                server.close();
            }
        });
        server.on(Server::CLIENT_ERROR, |_, info| {
            panic!("clientError: {}", info.error)
        });
        server.listen_std(backend)?;

        // Clients, one after another: two through HAProxy's senders, two
        // that send their own header to HAProxy's `accept-proxy`.
        let header_v2 = ProxyHeader::proxy(addr("203.0.113.7:41000"), addr("198.51.100.1:443"))
            .with_tlv(Tlv::CRC32C, [0u8; 4]);
        let header_v1 = ProxyHeader::proxy(addr("203.0.113.8:42000"), addr("198.51.100.2:80"))
            .with_version(ProxyVersion::V1);
        let steps: Vec<(u16, Option<ProxyHeader>)> = vec![
            (ports.0, None),
            (ports.1, None),
            (ports.2, Some(header_v2)),
            (ports.2, Some(header_v1)),
        ];
        fn next(log: Log, mut steps: Vec<(u16, Option<ProxyHeader>)>) {
            if steps.is_empty() {
                return;
            }
            let (port, header) = steps.remove(0);
            let client = net::connect_with(ConnectOptions {
                port,
                host: Some("127.0.0.1".into()),
                proxy_protocol: header,
                ..ConnectOptions::default()
            })
            .expect("a valid port");
            let l = log.clone();
            client.once(Socket::CONNECT, move |c, _| {
                let me = c.address().expect("connected");
                l.push(format!("client: {me}"));
                c.end_with("ping");
            });
            let reply = Rc::new(RefCell::new(Vec::new()));
            let r = Rc::clone(&reply);
            client.on(Socket::DATA, move |_, d| {
                r.borrow_mut().extend_from_slice(d)
            });
            client.on(Socket::CLOSE, move |_, had_error| {
                assert!(!had_error);
                assert_eq!(*reply.borrow(), b"ping");
                next(log.clone(), steps.clone());
            });
        }
        next(cl, steps);
        Ok(())
    })
    .expect("the loop ran");

    let entries = log.entries();
    assert_eq!(entries.len(), 4, "{entries:#?}");
    // HAProxy passes the netloop client's own address on.
    let client = |i: usize| addr(clients.entries()[i].trim_start_matches("client: "));
    let (c1, c2) = (client(0), client(1));
    assert_eq!(
        entries[0],
        format!(
            "server: V1 from Some({}):Some({}) to Some(127.0.0.1:{}), crc32c false, unique id None",
            c1.ip(),
            c1.port(),
            ports.0
        )
    );
    assert_eq!(
        entries[1],
        format!(
            "server: V2 from Some({}):Some({}) to Some(127.0.0.1:{}), crc32c true, unique id Some(\"{c2}\")",
            c2.ip(),
            c2.port(),
            ports.1
        )
    );
    // HAProxy accepted netloop's headers (the v2 one with its CRC32C) and
    // passed their client on (the `accept` frontend sets no unique id
    // format: the TLV is sent empty).
    assert_eq!(
        entries[2],
        "server: V2 from Some(203.0.113.7):Some(41000) to Some(198.51.100.1:443), crc32c true, \
         unique id Some(\"\")"
    );
    assert_eq!(
        entries[3],
        "server: V2 from Some(203.0.113.8):Some(42000) to Some(198.51.100.2:80), crc32c true, \
         unique id Some(\"\")"
    );
}
