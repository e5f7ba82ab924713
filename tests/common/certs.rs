//! Test certificates made with the `openssl` command.

use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let ok = Command::new("openssl").current_dir(dir).args(args).output().unwrap();
    assert!(ok.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&ok.stderr));
}

/// A CA and a server certificate for 127.0.0.1 / localhost (`ca.crt`, `server.crt`,
/// `server.key` in `dir`).
pub fn make_certs(dir: &Path) {
    openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"]);
    openssl(
        dir,
        &["req", "-x509", "-new", "-key", "ca.key", "-days", "2", "-subj", "/CN=WoChat test CA", "-out", "ca.crt"],
    );
    openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key"]);
    openssl(dir, &["req", "-new", "-key", "server.key", "-subj", "/CN=localhost", "-out", "server.csr"]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ],
    );
}
