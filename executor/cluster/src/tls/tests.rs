use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

use super::*;

/// A fresh CA and a certificate for 127.0.0.1 signed by it, written as `<name>.*`.
fn issue(dir: &Path, name: &str) -> TlsFiles {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let files = TlsFiles {
        cert: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
        ca: dir.join(format!("{name}-ca.crt")),
    };
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    std::fs::write(&files.ca, ca.pem()).unwrap();
    files
}

#[test]
fn flags_go_together() {
    let p = Path::new("x");
    assert_eq!(TlsFiles::from_flags(None, None, None).unwrap(), None);
    assert!(
        TlsFiles::from_flags(Some(p), Some(p), Some(p))
            .unwrap()
            .is_some()
    );
    let e = TlsFiles::from_flags(None, Some(p), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "--cluster-tls-cert, --cluster-tls-key and --cluster-tls-ca go together: \
         --cluster-tls-cert, --cluster-tls-ca missing"
    );
}

#[tokio::test]
async fn rotated_files_are_reloaded_and_a_broken_update_keeps_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let live = issue(dir.path(), "live");
    let tls = ClusterTls::load(live.clone()).unwrap();
    assert!(!tls.reload_if_changed().unwrap(), "nothing changed yet");
    let before = tls.server_config();

    // cert-manager replaces all three files with a new CA and certificate.
    let next = issue(dir.path(), "next");
    for (from, to) in [
        (&next.cert, &live.cert),
        (&next.key, &live.key),
        (&next.ca, &live.ca),
    ] {
        std::fs::rename(from, to).unwrap();
    }
    assert!(tls.reload_if_changed().unwrap());
    let rotated = tls.server_config();
    assert!(!Arc::ptr_eq(&before, &rotated));

    // A key that is not PEM: the reload fails, naming the file, and nothing changes.
    std::fs::write(&live.key, "half-written").unwrap();
    let e = tls.reload_if_changed().unwrap_err().to_string();
    assert!(e.contains("--cluster-tls-key"), "{e}");
    assert!(Arc::ptr_eq(&rotated, &tls.server_config()));
    assert!(
        !tls.reload_if_changed().unwrap(),
        "the same broken file is not retried"
    );
}
