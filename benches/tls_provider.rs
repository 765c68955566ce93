//! rustls's two crypto providers, aws-lc-rs and ring, measured as a TLS
//! server on this machine uses them: the CPU a server spends on a full TLS
//! 1.3 handshake (ECDSA P-256 and RSA-2048 certificates), on a resumed
//! one (stateless session tickets, as Node's server issues them), and per
//! megabyte of bulk data encrypted and decrypted (TLS_AES_256_GCM_SHA384,
//! Node's default, and TLS_AES_128_GCM_SHA256).
//!
//! A client and a server rustls connection pump records to each other in
//! memory, on one thread: no sockets, so the figures are rustls and its
//! provider alone. Each side's calls (`ServerConnection::new`,
//! `read_tls`, `process_new_packets`, `write_tls`, the plaintext reader
//! and writer) are timed separately, so "server µs" is the server's share
//! only, which is what the "server CPU per handshake" compares
//! (the client's verification of the certificate is on the client side).
//! Key exchange is X25519 for both providers (what Node 20 and OpenSSL
//! negotiate); aws-lc-rs's hybrid X25519MLKEM768 is measured as well,
//! since it is that provider's default first choice. Handshakes use
//! TLS_AES_256_GCM_SHA384 (its key schedule is SHA-384) unless named;
//! two use TLS_AES_128_GCM_SHA256 (SHA-256) for comparison.
//!
//! `cargo bench --bench tls_provider` prints a Markdown table of medians
//! over rounds (`TLS_BENCH_ROUNDS`, default 5) of `TLS_BENCH_SECS`
//! (default 0.5) per case, the providers interleaved within each round so
//! drift on a shared machine hits both alike. bench/analysis.md ("TLS
//! crypto provider") has the figures and the choice made from them.
//! `TLS_BENCH_ONLY=WORD` keeps the cases whose "case, provider" contains
//! WORD (for a profiler).

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, KeyPair};
use rustls::crypto::{self, CryptoProvider, SupportedKxGroup};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Provider {
    AwsLcRs,
    Ring,
}

impl Provider {
    fn name(self) -> &'static str {
        match self {
            Provider::AwsLcRs => "aws-lc-rs",
            Provider::Ring => "ring",
        }
    }

    fn base(self) -> CryptoProvider {
        match self {
            Provider::AwsLcRs => crypto::aws_lc_rs::default_provider(),
            Provider::Ring => crypto::ring::default_provider(),
        }
    }

    fn x25519(self) -> &'static dyn SupportedKxGroup {
        match self {
            Provider::AwsLcRs => crypto::aws_lc_rs::kx_group::X25519,
            Provider::Ring => crypto::ring::kx_group::X25519,
        }
    }

    fn ticketer(self) -> Arc<dyn rustls::server::ProducesTickets> {
        match self {
            Provider::AwsLcRs => crypto::aws_lc_rs::Ticketer::new(),
            Provider::Ring => crypto::ring::Ticketer::new(),
        }
        .expect("a ticketer")
    }

    fn suite(self, aes256: bool) -> rustls::SupportedCipherSuite {
        match (self, aes256) {
            (Provider::AwsLcRs, true) => crypto::aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384,
            (Provider::AwsLcRs, false) => crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256,
            (Provider::Ring, true) => crypto::ring::cipher_suite::TLS13_AES_256_GCM_SHA384,
            (Provider::Ring, false) => crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
        }
    }
}

/// A certificate and key made by rcgen, as `netloop tls-cert` makes them.
struct Identity {
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

impl Identity {
    fn new(rsa: bool) -> Identity {
        let key = if rsa {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        } else {
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        }
        .expect("key");
        let params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("certificate");
        Identity {
            cert: cert.der().clone(),
            key: key.serialize_der(),
        }
    }
}

/// One side of a case: the configs both connections are made from.
struct Setup {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
}

/// Configs for one case; without `resume` the client keeps no tickets, so
/// every handshake is a full one.
fn setup(
    p: Provider,
    id: &Identity,
    kx: &'static dyn SupportedKxGroup,
    aes256: bool,
    resume: bool,
) -> Setup {
    let provider = Arc::new(CryptoProvider {
        cipher_suites: vec![p.suite(aes256)],
        kx_groups: vec![kx],
        ..p.base()
    });
    let mut server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(
            vec![id.cert.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key.clone())),
        )
        .expect("server config");
    // Stateless tickets, as Node's (OpenSSL's) server issues them.
    server.ticketer = p.ticketer();
    let mut roots = RootCertStore::empty();
    roots.add(id.cert.clone()).expect("root");
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !resume {
        client.resumption = rustls::client::Resumption::disabled();
    }
    Setup {
        client: Arc::new(client),
        server: Arc::new(server),
    }
}

/// Nanoseconds spent by each side.
#[derive(Default, Clone, Copy)]
struct Split {
    server: u128,
    client: u128,
}

fn timed<T>(acc: &mut u128, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    *acc += t.elapsed().as_nanos();
    r
}

/// Move everything one side has to send to the other and let it process
/// it. Returns whether anything moved.
fn pump_to_server(
    c: &mut ClientConnection,
    s: &mut ServerConnection,
    buf: &mut Vec<u8>,
    t: &mut Split,
) -> bool {
    buf.clear();
    timed(&mut t.client, || {
        while c.wants_write() {
            c.write_tls(buf).expect("client write_tls");
        }
    });
    if buf.is_empty() {
        return false;
    }
    timed(&mut t.server, || {
        let mut rd = &buf[..];
        while !rd.is_empty() {
            s.read_tls(&mut rd).expect("server read_tls");
            s.process_new_packets().expect("server process");
        }
    });
    true
}

fn pump_to_client(
    s: &mut ServerConnection,
    c: &mut ClientConnection,
    buf: &mut Vec<u8>,
    t: &mut Split,
) -> bool {
    buf.clear();
    timed(&mut t.server, || {
        while s.wants_write() {
            s.write_tls(buf).expect("server write_tls");
        }
    });
    if buf.is_empty() {
        return false;
    }
    timed(&mut t.client, || {
        let mut rd = &buf[..];
        while !rd.is_empty() {
            c.read_tls(&mut rd).expect("client read_tls");
            c.process_new_packets().expect("client process");
        }
    });
    true
}

/// One handshake, both sides, until neither has anything to send (the
/// server's session tickets included, so the client can resume next time).
fn handshake(st: &Setup, t: &mut Split, buf: &mut Vec<u8>) -> (ClientConnection, ServerConnection) {
    let name = ServerName::try_from("localhost").expect("name");
    let mut c = timed(&mut t.client, || {
        ClientConnection::new(st.client.clone(), name).expect("client")
    });
    let mut s = timed(&mut t.server, || {
        ServerConnection::new(st.server.clone()).expect("server")
    });
    loop {
        let a = pump_to_server(&mut c, &mut s, buf, t);
        let b = pump_to_client(&mut s, &mut c, buf, t);
        if !a && !b {
            break;
        }
    }
    assert!(!c.is_handshaking() && !s.is_handshaking());
    (c, s)
}

/// Per-handshake microseconds of each side over `secs`; `resumed` checks
/// every handshake was of the kind asked.
fn handshakes(st: &Setup, secs: Duration, resumed: bool) -> (f64, f64) {
    let mut buf = Vec::with_capacity(1 << 16);
    if resumed {
        // A first, full handshake leaves tickets in the client's store.
        handshake(st, &mut Split::default(), &mut buf);
    }
    let mut t = Split::default();
    let mut n = 0u64;
    let start = Instant::now();
    while start.elapsed() < secs || n < 20 {
        let (c, s) = handshake(st, &mut t, &mut buf);
        let kind = c.handshake_kind().expect("handshake kind");
        let expected = if resumed {
            rustls::HandshakeKind::Resumed
        } else {
            rustls::HandshakeKind::Full
        };
        assert_eq!(kind, expected);
        black_box((c, s));
        n += 1;
    }
    (
        t.server as f64 / 1e3 / n as f64,
        t.client as f64 / 1e3 / n as f64,
    )
}

/// Server encrypt and decrypt MB/s, and server µs per MB echoed (one MB
/// decrypted and one encrypted, as an echo server does), with 64 KiB
/// writes (four full records each).
fn bulk(st: &Setup, secs: Duration) -> (f64, f64, f64) {
    let mut buf = Vec::with_capacity(1 << 17);
    let (mut c, mut s) = handshake(st, &mut Split::default(), &mut buf);
    let chunk = vec![0x5au8; 64 * 1024];
    let mut sink = vec![0u8; 64 * 1024];
    let mut enc = 0u128; // server: plaintext in, records out
    let mut dec = 0u128; // server: records in, plaintext out
    let mut other = 0u128;
    let mut bytes = 0u64;
    let start = Instant::now();
    while start.elapsed() < secs || bytes < 16 << 20 {
        // Client to server: the server decrypts.
        buf.clear();
        timed(&mut other, || {
            c.writer().write_all(&chunk).expect("client write");
            while c.wants_write() {
                c.write_tls(&mut buf).expect("client write_tls");
            }
        });
        timed(&mut dec, || {
            let mut rd = &buf[..];
            let mut got = 0;
            while got < chunk.len() {
                if !rd.is_empty() {
                    s.read_tls(&mut rd).expect("server read_tls");
                    s.process_new_packets().expect("server process");
                }
                loop {
                    match s.reader().read(&mut sink) {
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => panic!("server read: {e}"),
                    }
                }
            }
        });
        // Server to client: the server encrypts.
        buf.clear();
        timed(&mut enc, || {
            s.writer().write_all(&chunk).expect("server write");
            while s.wants_write() {
                s.write_tls(&mut buf).expect("server write_tls");
            }
        });
        timed(&mut other, || {
            let mut rd = &buf[..];
            let mut got = 0;
            while got < chunk.len() {
                if !rd.is_empty() {
                    c.read_tls(&mut rd).expect("client read_tls");
                    c.process_new_packets().expect("client process");
                }
                loop {
                    match c.reader().read(&mut sink) {
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => panic!("client read: {e}"),
                    }
                }
            }
        });
        bytes += chunk.len() as u64;
    }
    black_box(other);
    let mb = bytes as f64 / 1e6;
    (
        mb / (enc as f64 / 1e9),
        mb / (dec as f64 / 1e9),
        (enc + dec) as f64 / 1e3 / mb,
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then this runs one quick round as a smoke test.
    let benching = std::env::args().any(|a| a == "--bench");
    let rounds: usize = if benching {
        env_or("TLS_BENCH_ROUNDS", 5)
    } else {
        1
    };
    let secs = Duration::from_secs_f64(if benching {
        env_or("TLS_BENCH_SECS", 0.5)
    } else {
        0.01
    });
    let ecdsa = Identity::new(false);
    let rsa = Identity::new(true);
    let providers = [Provider::AwsLcRs, Provider::Ring];

    // (case, provider) -> values per round.
    type Row = (String, Provider, Vec<Vec<f64>>);
    let mut rows: Vec<Row> = Vec::new();
    // TLS_BENCH_ONLY=WORD runs only the cases whose "case, provider" name
    // contains WORD (for a profiler).
    let only = std::env::var("TLS_BENCH_ONLY").unwrap_or_default();
    let wanted = |case: &str, p: Provider| format!("{case}, {}", p.name()).contains(&only);
    let mut record = |case: &str, p: Provider, values: Vec<f64>| match rows
        .iter_mut()
        .find(|r| r.0 == case && r.1 == p)
    {
        Some(r) => r.2.push(values),
        None => rows.push((case.to_owned(), p, vec![values])),
    };
    for round in 0..rounds {
        eprintln!("round {} of {rounds}", round + 1);
        for &p in &providers {
            let case = "full handshake, ECDSA P-256";
            if wanted(case, p) {
                let st = setup(p, &ecdsa, p.x25519(), true, false);
                let (s, c) = handshakes(&st, secs, false);
                record(case, p, vec![s, c]);
            }
            let case = "full handshake, RSA-2048";
            if wanted(case, p) {
                let st = setup(p, &rsa, p.x25519(), true, false);
                let (s, c) = handshakes(&st, secs, false);
                record(case, p, vec![s, c]);
            }
            let case = "resumed handshake (ticket)";
            if wanted(case, p) {
                let st = setup(p, &ecdsa, p.x25519(), true, true);
                let (s, c) = handshakes(&st, secs, true);
                record(case, p, vec![s, c]);
            }
            // SHA-256 handshakes: the other suite's key schedule.
            let case = "full handshake, ECDSA P-256, TLS_AES_128_GCM_SHA256";
            if wanted(case, p) {
                let st = setup(p, &ecdsa, p.x25519(), false, false);
                let (s, c) = handshakes(&st, secs, false);
                record(case, p, vec![s, c]);
            }
            let case = "resumed handshake (ticket), TLS_AES_128_GCM_SHA256";
            if wanted(case, p) {
                let st = setup(p, &ecdsa, p.x25519(), false, true);
                let (s, c) = handshakes(&st, secs, true);
                record(case, p, vec![s, c]);
            }
            let case = "full handshake, ECDSA P-256, X25519MLKEM768";
            if p == Provider::AwsLcRs && wanted(case, p) {
                let mlkem = crypto::aws_lc_rs::kx_group::X25519MLKEM768;
                let st = setup(p, &ecdsa, mlkem, true, false);
                let (s, c) = handshakes(&st, secs, false);
                record(case, p, vec![s, c]);
            }
            for (case, aes256) in [
                ("bulk, TLS_AES_256_GCM_SHA384", true),
                ("bulk, TLS_AES_128_GCM_SHA256", false),
            ] {
                if wanted(case, p) {
                    let st = setup(p, &ecdsa, p.x25519(), aes256, false);
                    let (e, d, us) = bulk(&st, secs);
                    record(case, p, vec![e, d, us]);
                }
            }
        }
    }
    let med = |per_round: &[Vec<f64>], i: usize| median(per_round.iter().map(|v| v[i]).collect());
    // The best round: on a shared machine the least disturbed one, so the
    // closest to the work's own cost (for rates the highest, for times the
    // lowest).
    let best = |per_round: &[Vec<f64>], i: usize, higher: bool| {
        let it = per_round.iter().map(|v| v[i]);
        if higher {
            it.fold(f64::MIN, f64::max)
        } else {
            it.fold(f64::MAX, f64::min)
        }
    };
    println!(
        "Handshakes (X25519 unless named), CPU µs per handshake: median of {rounds} rounds of {secs:?} (best round):\n"
    );
    println!("| case | provider | server µs | client µs |");
    println!("| --- | --- | ---: | ---: |");
    for (case, p, v) in rows.iter().filter(|r| r.0.contains("handshake")) {
        println!(
            "| {case} | {} | {:.1} ({:.1}) | {:.1} ({:.1}) |",
            p.name(),
            med(v, 0),
            best(v, 0, false),
            med(v, 1),
            best(v, 1, false)
        );
    }
    println!("\nBulk, 64 KiB writes, the server's side: median (best round):\n");
    println!("| case | provider | encrypt MB/s | decrypt MB/s | µs per MB echoed |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for (case, p, v) in rows.iter().filter(|r| r.0.starts_with("bulk")) {
        println!(
            "| {case} | {} | {:.0} ({:.0}) | {:.0} ({:.0}) | {:.0} ({:.0}) |",
            p.name(),
            med(v, 0),
            best(v, 0, true),
            med(v, 1),
            best(v, 1, true),
            med(v, 2),
            best(v, 2, false)
        );
    }
}
