//! NATS targets: each event is published to the target's subject with
//! NATS's own client (`async-nats`), driven by a current-thread tokio
//! runtime inside the sending thread that owns it (the executors never
//! see it). An event counts as sent once the server has it (a flush came
//! back) or, for a JetStream target, once a stream stored it (its
//! acknowledgement came back): until then it stays in the outbox and is
//! sent again, so delivery is at least once as for webhooks. Each message
//! carries `Nats-Msg-Id`, the change's identity, so a JetStream stream
//! drops a repeat within its duplicate window.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::{Client, ConnectOptions, HeaderMap};
use bytes::Bytes;

use super::event::EventRow;
use super::targets::Target;

/// One sending thread's connection to a NATS target, made on first use
/// and again after a failure.
pub struct NatsSender {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    timeout: Duration,
}

impl NatsSender {
    /// `timeout` bounds each connect and each delivery (the node's
    /// shutdown waits for one).
    pub fn new(timeout: Duration) -> Result<NatsSender, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the NATS client's runtime: {e}"))?;
        Ok(NatsSender {
            rt,
            client: None,
            timeout,
        })
    }

    /// Publishes one event; Err says why the target did not take it (the
    /// connection is then made again for the next try).
    pub fn send(&mut self, target: &Target, row: &EventRow, body: &[u8]) -> Result<(), String> {
        let subject = target.subject.clone().ok_or("no subject")?;
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", message_id(&target.name, row).as_str());
        let payload = Bytes::copy_from_slice(body);
        let timeout = self.timeout;
        let client = self.client.take();
        let outcome = self.rt.block_on(async move {
            tokio::time::timeout(timeout, async move {
                let client = match client {
                    Some(c) => c,
                    None => connect(target, timeout).await?,
                };
                if target.jetstream {
                    jetstream::new(client.clone())
                        .publish_with_headers(subject, headers, payload)
                        .await
                        .map_err(|e| format!("publish: {e}"))?
                        .await
                        .map_err(|e| format!("no JetStream acknowledgement: {e}"))?;
                } else {
                    client
                        .publish_with_headers(subject, headers, payload)
                        .await
                        .map_err(|e| format!("publish: {e}"))?;
                    client.flush().await.map_err(|e| format!("flush: {e}"))?;
                }
                Ok::<Client, String>(client)
            })
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
        });
        self.client = Some(outcome?);
        Ok(())
    }
}

async fn connect(target: &Target, timeout: Duration) -> Result<Client, String> {
    let mut options = ConnectOptions::new()
        .name("cairn")
        .connection_timeout(timeout)
        // A lost connection is made again by the next delivery's connect,
        // not by the client in the background (whose buffered messages a
        // retry would send a second time).
        .max_reconnects(1);
    if let Some(t) = &target.auth_token {
        options = options.token(t.clone());
    }
    if let Some(pem) = &target.ca_cert {
        options = options
            .require_tls(true)
            .tls_client_config(tls_config(pem)?);
    }
    options
        .connect(target.endpoint.as_str())
        .await
        .map_err(|e| format!("connect: {e}"))
}

/// A TLS client trusting only the target's certificates.
fn tls_config(pem: &str) -> Result<rustls::ClientConfig, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("caCert: {e}"))?;
        roots.add(cert).map_err(|e| format!("caCert: {e}"))?;
    }
    if roots.is_empty() {
        return Err("caCert holds no certificate".into());
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

/// The change's identity: the same event sent twice has the same id
/// (the sequence number is the change's in its partition; bucket and key
/// name the partition).
pub fn message_id(target: &str, row: &EventRow) -> String {
    let named = format!("{}\n{}\n{}", row.bucket, row.key, row.config_id);
    let digest = xxhash_rust::xxh3::xxh3_128(named.as_bytes());
    format!("{target}-{:016x}-{digest:032x}-{}", row.seq, row.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, seq: u64) -> EventRow {
        EventRow {
            name: "ObjectCreated:Put".into(),
            time_ms: 1,
            bucket: "b".into(),
            key: key.into(),
            version_id: None,
            size: Some(1),
            etag: None,
            seq,
            config_id: "all".into(),
            principal: "p".into(),
            source_ip: String::new(),
            request_id: "r".into(),
        }
    }

    #[test]
    fn a_message_id_names_one_change_of_one_key_for_one_target() {
        let a = message_id("bus", &row("k", 7));
        assert_eq!(a, message_id("bus", &row("k", 7)), "a repeat keeps its id");
        assert_ne!(a, message_id("bus", &row("k", 8)));
        assert_ne!(a, message_id("bus", &row("j", 7)));
        assert_ne!(a, message_id("other", &row("k", 7)));
        assert!(a.is_ascii() && !a.contains(' '), "{a}");
    }

    #[test]
    fn a_ca_without_certificates_is_refused() {
        assert!(tls_config("nothing").is_err());
    }
}
