//! Arbitrary bytes into the server side of the TLS layer, cut into reads
//! where the input says: every connection must end in an error (or, for
//! a valid exchange, cleanly), never in a panic or a hang.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use netloop::tls::fuzzing::ServerFeeder;
use netloop::tls::TlsServerOptions;

fn feeder() -> &'static ServerFeeder {
    static FEEDER: OnceLock<ServerFeeder> = OnceLock::new();
    FEEDER.get_or_init(|| {
        let key = rcgen::KeyPair::generate().expect("a key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("a certificate");
        ServerFeeder::new(&TlsServerOptions {
            key: key.serialize_pem().into_bytes(),
            cert: cert.pem().into_bytes(),
            ..TlsServerOptions::default()
        })
        .expect("a server config")
    })
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the read size (1..=256 bytes), as a stream
    // delivers records cut anywhere.
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let size = usize::from(cut) + 1;
    let res = feeder().feed(rest.chunks(size));
    // Bytes that complete a handshake would need the server's keys: the
    // connection always ends in an error.
    assert!(res.is_err(), "{res:?}");
});
