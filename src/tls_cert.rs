//! `netloop tls-cert`: a self-signed test certificate and its key, for
//! trying and benchmarking TLS on this machine.
//!
//! The certificate names `localhost`, `127.0.0.1` and `::1` (plus any
//! `--name`), is its own issuer, and is not a CA: it is the whole chain,
//! so a client trusts it by being given the certificate itself (`openssl
//! s_client -CAfile cert.pem`, Node's `tls.connect({ ca })`, `netloop
//! bench --tls --ca cert.pem`). rustls's verifier (webpki) refuses a CA
//! certificate presented as a server's own, and OpenSSL accepts a
//! self-signed leaf found in its trust store, so "not a CA" suits both.
//!
//! The files are PEM: the certificate, and the key as PKCS#8 (`BEGIN
//! PRIVATE KEY`), which Node, OpenSSL and rustls all read. Existing files
//! are never overwritten without `--force`, and the key is created
//! readable by its owner only.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

/// The names every certificate carries: what a client on this machine
/// connects to.
const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The port the printed examples use: `netloop server`'s default.
const EXAMPLE_PORT: u16 = 6969;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The folder to write into (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    out_dir: PathBuf,
    /// The certificate's file name, under --out-dir (an absolute path is
    /// used as it is).
    #[arg(long, value_name = "FILE", default_value = "cert.pem")]
    cert: PathBuf,
    /// The private key's file name, under --out-dir (an absolute path is
    /// used as it is).
    #[arg(long, value_name = "FILE", default_value = "key.pem")]
    key: PathBuf,
    /// The key's algorithm.
    #[arg(long, value_enum, default_value_t = Algorithm::EcdsaP256)]
    algorithm: Algorithm,
    /// Days the certificate is valid, from now.
    #[arg(long, value_name = "N", default_value_t = 365,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    days: u32,
    /// A further name for the certificate (a DNS name or an IP address),
    /// besides localhost, 127.0.0.1 and ::1; repeat for more.
    #[arg(long = "name", value_name = "NAME")]
    names: Vec<String>,
    /// Overwrite the files if they exist.
    #[arg(long)]
    force: bool,
}

/// The key algorithms offered: the two the TLS benchmarks compare.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Algorithm {
    /// ECDSA on NIST P-256 with SHA-256 (fast handshakes; the default).
    EcdsaP256,
    /// RSA, 2048-bit modulus, PKCS#1 v1.5 signature with SHA-256 on the
    /// certificate (TLS 1.3 handshakes sign with RSA-PSS).
    #[value(name = "rsa-2048")]
    Rsa2048,
}

impl Algorithm {
    fn describe(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256 => "ECDSA P-256",
            Algorithm::Rsa2048 => "RSA-2048",
        }
    }
}

pub fn run(args: Args) -> netloop::Result<()> {
    write_files(&args).map_err(netloop::Error::from)
}

fn write_files(args: &Args) -> io::Result<()> {
    // `cert.pem`, not `./cert.pem`, when writing to the current folder.
    let under_out_dir = |file: &Path| {
        if args.out_dir == Path::new(".") {
            file.to_path_buf()
        } else {
            args.out_dir.join(file)
        }
    };
    let cert_path = under_out_dir(&args.cert);
    let key_path = under_out_dir(&args.key);
    if cert_path == key_path {
        return Err(invalid(format!(
            "--cert and --key both name {}: the certificate and the key need a file each",
            cert_path.display()
        )));
    }
    // Check both before writing either, so a refusal leaves nothing half
    // written.
    if !args.force {
        for path in [&cert_path, &key_path] {
            if path.exists() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} already exists: not overwriting it (pass --force to replace it, \
                         or --out-dir, --cert and --key to write elsewhere)",
                        path.display()
                    ),
                ));
            }
        }
    }
    let names = san_list(&args.names)?;
    let (cert_pem, key_pem, not_after) = generate(args.algorithm, &names, args.days)?;

    fs::create_dir_all(&args.out_dir).map_err(|e| with_path(e, "create folder", &args.out_dir))?;
    write_file(&cert_path, cert_pem.as_bytes(), 0o644, args.force)?;
    write_file(&key_path, key_pem.as_bytes(), 0o600, args.force)?;

    let cert_shown = cert_path.display();
    let key_shown = key_path.display();
    println!(
        "wrote {cert_shown}: a self-signed {} certificate for {}, valid until {not_after} (UTC)",
        args.algorithm.describe(),
        names.join(", ")
    );
    println!("wrote {key_shown}: its private key (PKCS#8 PEM, readable by you only)");
    println!();
    println!("Try TLS with them:");
    println!(
        "  netloop server --tls-cert {} --tls-key {}",
        shell_word(&cert_shown.to_string()),
        shell_word(&key_shown.to_string())
    );
    println!(
        "  openssl s_client -connect 127.0.0.1:{EXAMPLE_PORT} -CAfile {}",
        shell_word(&cert_shown.to_string())
    );
    println!(
        "  node -e \"const s = require('tls').connect({EXAMPLE_PORT}, '127.0.0.1', \
         {{ ca: require('fs').readFileSync('{}') }}, () => {{ console.log('authorized:', \
         s.authorized, s.getProtocol()); s.end(); }})\"",
        cert_shown
            .to_string()
            .replace('\\', "\\\\")
            .replace('\'', "\\'")
    );
    Ok(())
}

/// localhost, 127.0.0.1, ::1 and the `--name`s, without repeats, each
/// checked: an IP address, or a name a certificate can carry.
fn san_list(extra: &[String]) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = LOCAL_NAMES.iter().map(|s| s.to_string()).collect();
    for name in extra {
        let name = name.trim();
        let valid = name.parse::<IpAddr>().is_ok() || is_dns_name(name);
        if !valid {
            return Err(invalid(format!(
                "--name {name:?}: not an IP address or a DNS name (letters, digits, '-', \
                 dots between labels, an optional leading '*.')"
            )));
        }
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// A host name as a certificate's dNSName carries it (RFC 5280 4.2.1.6,
/// with RFC 1123's labels: letters, digits and hyphens, 1-63 each, not
/// starting or ending with a hyphen), optionally behind a `*.` wildcard
/// label (RFC 6125 6.4.3).
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

/// The certificate and key in PEM, and the certificate's last day.
fn generate(
    algorithm: Algorithm,
    names: &[String],
    days: u32,
) -> io::Result<(String, String, String)> {
    let key = match algorithm {
        Algorithm::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        Algorithm::Rsa2048 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        }
    }
    .map_err(|e| io::Error::other(format!("generate the {} key: {e}", algorithm.describe())))?;

    let mut params = CertificateParams::default();
    params.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => n
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| invalid(format!("--name {n:?}: {e}"))),
        })
        .collect::<io::Result<_>>()?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "localhost");
    dn.push(DnType::OrganizationName, "netloop test certificate");
    params.distinguished_name = dn;
    // A leaf, said explicitly (basicConstraints CA:FALSE).
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = match algorithm {
        Algorithm::EcdsaP256 => vec![KeyUsagePurpose::DigitalSignature],
        // TLS 1.2's RSA key exchange encrypts to the key; TLS 1.3 only signs.
        Algorithm::Rsa2048 => vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ],
    };
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    // Valid from an hour ago, so a client whose clock is a little behind
    // still accepts it.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| io::Error::other("the system clock is before 1970"))?;
    let from = now.saturating_sub(Duration::from_secs(3600));
    let until = now + Duration::from_secs(u64::from(days) * 86_400);
    params.not_before = datetime(from)?;
    params.not_after = datetime(until)?;
    let not_after = params.not_after.date().to_string();

    let cert = params
        .self_signed(&key)
        .map_err(|e| io::Error::other(format!("sign the certificate: {e}")))?;
    Ok((cert.pem(), key.serialize_pem(), not_after))
}

fn datetime(since_epoch: Duration) -> io::Result<time::OffsetDateTime> {
    let secs = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| io::Error::other(format!("certificate date: {e}")))
}

/// Write `data` to a new file (or, with `force`, over an existing one)
/// with permissions `mode`. Without `force` the file is created
/// exclusively (`O_EXCL`), so a file that appeared since the check is not
/// overwritten either.
fn write_file(path: &Path, data: &[u8], mode: u32, force: bool) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).mode(mode);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            io::Error::new(
                e.kind(),
                format!(
                    "{} already exists: not overwriting it (pass --force to replace it)",
                    path.display()
                ),
            )
        } else {
            with_path(e, "create", path)
        }
    })?;
    // `mode` applies only to a file this call created; a replaced key
    // must not keep looser permissions than a new one would get.
    if force {
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| with_path(e, "set permissions of", path))?;
    }
    file.write_all(data)
        .and_then(|()| file.sync_all())
        .map_err(|e| with_path(e, "write", path))
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// `word` as one shell word for the printed commands.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_./:@%+=,".contains(&c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_not_repeated() {
        let names = san_list(&[
            "example.test".into(),
            "LOCALHOST".into(),
            "10.0.0.1".into(),
            "*.svc.test".into(),
        ])
        .unwrap();
        assert_eq!(
            names,
            [
                "localhost",
                "127.0.0.1",
                "::1",
                "example.test",
                "10.0.0.1",
                "*.svc.test"
            ]
        );
        for bad in ["a b", "", "-x.test", "x..test", "under_score.test"] {
            let e = san_list(&[bad.into()]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert!(e.to_string().starts_with("--name "), "{e}");
        }
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("certs/cert.pem"), "certs/cert.pem");
        assert_eq!(shell_word("my certs/cert.pem"), "'my certs/cert.pem'");
    }
}
