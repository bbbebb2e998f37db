//! HTTPS: a rustls server configuration from PEM files given at startup.
//! The handshake runs on the accepting core like the rest of the request;
//! then the session stays in rustls, or goes to the kernel (`ktls`) where
//! the kernel takes it.

use std::fmt::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls_pki_types::pem::PemObject;

/// Loads the certificate chain and private key, refusing anything rustls
/// would only reject on the first handshake (a key that does not match the
/// certificate, an empty chain).
pub fn load(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
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
    Ok(config)
}

/// HTTPS for the whole node, built once at start-up: the acceptor, which
/// suites the kernel takes over (none: kTLS off or unavailable), and how
/// many sessions each side has served.
pub struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub kernel: Option<super::ktls::Suites>,
    /// Why the kernel serves no session (`--no-ktls`, no module, ...).
    pub why_user: Option<String>,
    kernel_sessions: AtomicU64,
    user_sessions: AtomicU64,
}

impl Tls {
    /// Loads the certificate and, unless `ktls` is false, probes the
    /// kernel; says once in the log which side will encrypt.
    pub fn new(cert: &Path, key: &Path, ktls: bool) -> Result<Tls, String> {
        let mut config = load(cert, key)?;
        let (kernel, why_user) = if ktls {
            match super::ktls::probe() {
                Ok(suites) => {
                    tracing::info!(suites = %suites.describe(), "kTLS: the kernel encrypts TLS sessions");
                    (Some(suites), None)
                }
                Err(why) => {
                    tracing::info!(reason = %why, "kTLS unavailable: TLS stays in user space (rustls)");
                    (None, Some(why))
                }
            }
        } else {
            tracing::info!("kTLS off (--no-ktls): TLS stays in user space (rustls)");
            (None, Some("turned off (--no-ktls)".to_owned()))
        };
        config.enable_secret_extraction = kernel.is_some();
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            kernel,
            why_user,
            kernel_sessions: AtomicU64::new(0),
            user_sessions: AtomicU64::new(0),
        })
    }

    /// Counts a finished handshake by who encrypts it from now on.
    pub fn served(&self, kernel: bool) {
        let n = if kernel {
            &self.kernel_sessions
        } else {
            &self.user_sessions
        };
        n.fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text: sessions by side, and whether kTLS is in use.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP cairn_tls_sessions_total TLS sessions after their handshake, by who encrypts them (kernel: kTLS; user: rustls)."
        );
        let _ = writeln!(out, "# TYPE cairn_tls_sessions_total counter");
        for (path, n) in [
            ("kernel", &self.kernel_sessions),
            ("user", &self.user_sessions),
        ] {
            let _ = writeln!(
                out,
                "cairn_tls_sessions_total{{path=\"{path}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP cairn_ktls_enabled 1 when sessions are handed to kernel TLS, 0 when they stay in rustls."
        );
        let _ = writeln!(out, "# TYPE cairn_ktls_enabled gauge");
        let _ = writeln!(
            out,
            "cairn_ktls_enabled {}",
            u8::from(self.kernel.is_some())
        );
    }
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

    #[test]
    fn sessions_are_counted_by_side_and_ktls_off_says_so() {
        let t = tempfile::tempdir().unwrap();
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert, key) = (t.path().join("cert.pem"), t.path().join("key.pem"));
        std::fs::write(&cert, c.cert.pem()).unwrap();
        std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
        let tls = Tls::new(&cert, &key, false).unwrap();
        assert!(tls.kernel.is_none());
        assert!(tls.why_user.as_deref().unwrap().contains("--no-ktls"));
        tls.served(false);
        tls.served(false);
        tls.served(true);
        let mut out = String::new();
        tls.render(&mut out);
        assert!(
            out.contains("cairn_tls_sessions_total{path=\"user\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("cairn_tls_sessions_total{path=\"kernel\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("cairn_ktls_enabled 0\n"), "{out}");
    }
}
