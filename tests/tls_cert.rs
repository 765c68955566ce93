//! `netloop tls-cert`: the files it writes are PEM that rustls and
//! Debian's `openssl` read, the certificate names localhost, 127.0.0.1 and
//! ::1 (and `--name`s), verifies against itself, matches its key, lasts
//! `--days`, and existing files are never overwritten without `--force`.
//!
//! These tests only spawn processes (the CLI and `openssl`), in a folder
//! of their own under the temp dir.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const BIN: &str = env!("CARGO_BIN_EXE_netloop");

/// A fresh folder under the temp dir, removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("netloop-tls-cert-{}-{tag}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `netloop tls-cert ARGS`, run in `dir`.
fn tls_cert(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("tls-cert")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run netloop tls-cert")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "netloop tls-cert failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `openssl ARGS` in `dir`: its stdout, or a failure with its stderr.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (Debian's openssl package)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Both files parse as PEM (one certificate, one PKCS#8 key) and the key
/// is the owner's alone.
fn assert_pem_pair(cert: &Path, key: &Path) {
    let certs: Vec<_> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(certs.len(), 1, "one certificate in {}", cert.display());
    match PrivateKeyDer::from_pem_file(key).unwrap() {
        PrivateKeyDer::Pkcs8(_) => {}
        other => panic!("expected a PKCS#8 key, got {other:?}"),
    }
    let mode = fs::metadata(key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "key permissions");
}

#[test]
fn writes_cert_and_key_for_localhost_that_openssl_reads() {
    let dir = Scratch::new("default");
    let stdout = ok(tls_cert(&dir.0, &[]));
    let cert = dir.0.join("cert.pem");
    let key = dir.0.join("key.pem");
    assert_pem_pair(&cert, &key);
    // It says what it wrote and how to try it.
    assert!(stdout.starts_with("wrote cert.pem: a self-signed ECDSA P-256 certificate for localhost, 127.0.0.1, ::1, valid until "), "{stdout}");
    assert!(stdout.contains("\nwrote key.pem: "), "{stdout}");
    assert!(
        stdout.contains("netloop server --tls-cert cert.pem --tls-key key.pem"),
        "{stdout}"
    );
    assert!(
        stdout.contains("openssl s_client -connect 127.0.0.1:6969 -CAfile cert.pem"),
        "{stdout}"
    );

    let text = openssl(&dir.0, &["x509", "-noout", "-text", "-in", "cert.pem"]);
    assert!(
        text.contains("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"),
        "{text}"
    );
    assert!(text.contains("NIST CURVE: P-256"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    // Self-signed: it is its own trust anchor.
    assert_eq!(
        openssl(&dir.0, &["verify", "-CAfile", "cert.pem", "cert.pem"]).trim(),
        "cert.pem: OK"
    );
    // The key is the certificate's.
    assert_eq!(
        openssl(&dir.0, &["x509", "-noout", "-pubkey", "-in", "cert.pem"]),
        openssl(&dir.0, &["pkey", "-pubout", "-in", "key.pem"])
    );
}

#[test]
fn rsa_with_extra_names_days_and_file_names() {
    let dir = Scratch::new("rsa");
    ok(tls_cert(
        &dir.0,
        &[
            "--algorithm",
            "rsa-2048",
            "--out-dir",
            "certs",
            "--cert",
            "rsa-cert.pem",
            "--key",
            "rsa-key.pem",
            "--name",
            "example.test",
            "--name",
            "10.1.2.3",
            "--days",
            "10",
        ],
    ));
    let cert = dir.0.join("certs/rsa-cert.pem");
    let key = dir.0.join("certs/rsa-key.pem");
    assert_pem_pair(&cert, &key);
    let text = openssl(
        &dir.0,
        &["x509", "-noout", "-text", "-in", "certs/rsa-cert.pem"],
    );
    assert!(
        text.contains("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:example.test, IP Address:10.1.2.3"),
        "{text}"
    );
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    assert!(text.contains("rsaEncryption"), "{text}");
    // Valid for 10 days: still valid 9 days from now, no longer in 11.
    let check = |days: u64| {
        Command::new("openssl")
            .args(["x509", "-noout", "-in", "certs/rsa-cert.pem", "-checkend"])
            .arg((days * 86_400).to_string())
            .current_dir(&dir.0)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(check(9), "expires within 9 days");
    assert!(!check(11), "still valid in 11 days");
    assert_eq!(
        openssl(
            &dir.0,
            &["x509", "-noout", "-pubkey", "-in", "certs/rsa-cert.pem"]
        ),
        openssl(&dir.0, &["pkey", "-pubout", "-in", "certs/rsa-key.pem"])
    );
}

#[test]
fn existing_files_are_kept_without_force() {
    let dir = Scratch::new("force");
    ok(tls_cert(&dir.0, &[]));
    let cert = fs::read(dir.0.join("cert.pem")).unwrap();
    let key = fs::read(dir.0.join("key.pem")).unwrap();

    let again = tls_cert(&dir.0, &[]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.starts_with("cert.pem already exists: not overwriting it (pass --force"),
        "{stderr}"
    );
    assert!(again.stdout.is_empty());
    assert_eq!(fs::read(dir.0.join("cert.pem")).unwrap(), cert);
    assert_eq!(fs::read(dir.0.join("key.pem")).unwrap(), key);

    // Only the key exists: still nothing is written, not even the
    // certificate.
    fs::remove_file(dir.0.join("cert.pem")).unwrap();
    let only_key = tls_cert(&dir.0, &[]);
    assert!(!only_key.status.success());
    assert!(String::from_utf8_lossy(&only_key.stderr).starts_with("key.pem already exists"));
    assert!(!dir.0.join("cert.pem").exists());

    // --force replaces both with a new pair, the key still private.
    fs::set_permissions(dir.0.join("key.pem"), fs::Permissions::from_mode(0o644)).unwrap();
    ok(tls_cert(&dir.0, &["--force"]));
    assert_ne!(fs::read(dir.0.join("key.pem")).unwrap(), key);
    assert_pem_pair(&dir.0.join("cert.pem"), &dir.0.join("key.pem"));
}

#[test]
fn bad_arguments_are_refused_clearly() {
    let dir = Scratch::new("bad");
    let out = tls_cert(&dir.0, &["--name", "not a name"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("--name \"not a name\": not an IP address or a DNS name"),
        "{stderr}"
    );
    let out = tls_cert(&dir.0, &["--cert", "same.pem", "--key", "same.pem"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("need a file each"));
    let out = tls_cert(&dir.0, &["--algorithm", "dsa"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let out = tls_cert(&dir.0, &["--days", "0"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    // Nothing was written by any of them.
    assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 0);
}
