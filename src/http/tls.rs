//! HTTPS: a rustls server configuration from PEM files given at startup.
//! The handshake runs on the accepting core like the rest of the request.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls_pki_types::pem::PemObject;

/// Loads the certificate chain and private key, refusing anything rustls
/// would only reject on the first handshake (a key that does not match the
/// certificate, an empty chain).
pub fn load(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{}: no PEM certificate in the file",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("TLS certificate or key rejected: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cp, kp) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cp, c.cert.pem()).unwrap();
        std::fs::write(&kp, c.signing_key.serialize_pem()).unwrap();
        (cp, kp)
    }

    #[test]
    fn loads_a_pair_and_rejects_bad_files() {
        let t = tempfile::tempdir().unwrap();
        let (cert, key) = write_pair(t.path());
        let cfg = load(&cert, &key).unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);

        let missing = t.path().join("nope.pem");
        assert!(load(&missing, &key).unwrap_err().contains("nope.pem"));
        let junk = t.path().join("junk.pem");
        std::fs::write(&junk, "not pem").unwrap();
        assert!(load(&junk, &key).is_err(), "no certificate");
        assert!(load(&cert, &junk).is_err(), "no key");
        // A key of another certificate.
        let other = tempfile::tempdir().unwrap();
        let (_, other_key) = write_pair(other.path());
        assert!(load(&cert, &other_key).is_err(), "mismatched key");
    }
}
