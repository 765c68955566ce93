//! Certificates made at test time with rcgen (none are committed): a CA,
//! leaves signed by it, a client certificate, an expired leaf, a
//! self-signed leaf (also as `openssl req -x509` makes one, marked as a
//! CA) and a client certificate from a CA nobody trusts.
//! `write_to` puts them in a directory as PEM files for `node` and
//! `openssl`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// A key and its certificate, PEM.
#[derive(Clone)]
pub struct Pair {
    pub key: String,
    pub cert: String,
}

/// Every certificate a TLS test needs.
#[derive(Clone)]
pub struct Certs {
    /// The trusted CA's certificate.
    pub ca: String,
    /// `localhost` and `127.0.0.1`, signed by the CA.
    pub localhost: Pair,
    /// `sni.example`, signed by the CA (picked by SNI).
    pub sni: Pair,
    /// A client certificate (`CN=netloop client`), signed by the CA.
    pub client: Pair,
    /// `localhost`, signed by the CA, expired in 2001.
    pub expired: Pair,
    /// `localhost`, self-signed.
    pub self_signed: Pair,
    /// `localhost`, self-signed with the basic constraints `CA:TRUE`, as
    /// `openssl req -x509` makes a certificate by default.
    pub self_signed_ca: Pair,
    /// A client certificate signed by a CA nobody trusts.
    pub rogue_client: Pair,
}

fn ca(cn: &str) -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "netloop tests");
    params.distinguished_name = dn;
    let cert = params.self_signed(&key).expect("a CA certificate");
    (params, key, cert.pem())
}

/// `localhost` and `127.0.0.1`, self-signed, marked as a CA.
fn self_signed_ca() -> Pair {
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "localhost");
    params.distinguished_name = dn;
    let cert = params.self_signed(&key).expect("a self-signed certificate");
    Pair {
        key: key.serialize_pem(),
        cert: cert.pem(),
    }
}

fn leaf(
    names: &[&str],
    cn: &str,
    issuer: Option<(&CertificateParams, &KeyPair)>,
    client: bool,
    expired: bool,
) -> Pair {
    let key = KeyPair::generate().expect("a key");
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let cert = match issuer {
        Some((p, k)) => params
            .signed_by(&key, &Issuer::from_params(p, k))
            .expect("a signed certificate"),
        None => params.self_signed(&key).expect("a self-signed certificate"),
    };
    Pair {
        key: key.serialize_pem(),
        cert: cert.pem(),
    }
}

impl Certs {
    pub fn new() -> Certs {
        let (ca_params, ca_key, ca_pem) = ca("netloop test CA");
        let issuer = Some((&ca_params, &ca_key));
        let (rogue_params, rogue_key, _) = ca("rogue CA");
        Certs {
            ca: ca_pem,
            localhost: leaf(
                &["localhost", "127.0.0.1"],
                "localhost",
                issuer,
                false,
                false,
            ),
            sni: leaf(&["sni.example"], "sni.example", issuer, false, false),
            client: leaf(&[], "netloop client", issuer, true, false),
            expired: leaf(
                &["localhost", "127.0.0.1"],
                "localhost",
                issuer,
                false,
                true,
            ),
            self_signed: leaf(&["localhost", "127.0.0.1"], "localhost", None, false, false),
            self_signed_ca: self_signed_ca(),
            rogue_client: leaf(
                &[],
                "rogue client",
                Some((&rogue_params, &rogue_key)),
                true,
                false,
            ),
        }
    }

    /// Write every PEM into `dir` (`ca.pem`, `localhost.key`,
    /// `localhost.pem`, ...) and return the directory.
    pub fn write_to(&self, dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).expect("a temp dir");
        let w = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write a PEM");
        w("ca.pem", &self.ca);
        for (name, p) in [
            ("localhost", &self.localhost),
            ("sni", &self.sni),
            ("client", &self.client),
            ("expired", &self.expired),
            ("self", &self.self_signed),
            ("selfca", &self.self_signed_ca),
            ("rogue", &self.rogue_client),
        ] {
            w(&format!("{name}.key"), &p.key);
            w(&format!("{name}.pem"), &p.cert);
        }
        dir.to_path_buf()
    }
}
