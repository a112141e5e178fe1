//! The TLS side of the legacy listener: the rustls server configuration
//! built from PEM files, swapped whole when the files change so that new
//! connections get the new certificate and open ones are left alone.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::credentials::Swappable;

/// Where the certificate chain and key live.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    /// The files' bytes, to notice a change.
    pub fn read(&self) -> Result<PemBytes, String> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        Ok((read(&self.cert)?, read(&self.key)?))
    }
}

/// The certificate chain's and the key's PEM bytes, as last read.
pub type PemBytes = (Vec<u8>, Vec<u8>);

/// The current server configuration, read per new connection.
pub type TlsConfigCell = Arc<Swappable<Arc<ServerConfig>>>;

/// Build a server configuration from PEM bytes (HTTP/1.1 only).
pub fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<ServerConfig, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    if certs.is_empty() {
        return Err("certificate: no PEM certificate found".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("private key: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Load the files once (start-up: an error stops the bridge).
pub fn load(files: &CertFiles) -> Result<(ServerConfig, PemBytes), String> {
    let bytes = files.read()?;
    let config = server_config(&bytes.0, &bytes.1)?;
    Ok((config, bytes))
}

/// Re-read the files every `interval`; on a change that parses, swap the
/// configuration; on one that does not, keep the old one and say why.
pub async fn watch(
    files: CertFiles,
    cell: TlsConfigCell,
    mut last: PemBytes,
    interval: std::time::Duration,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Ok(now) = files.read() else {
            // A mounted Secret is briefly absent while Kubernetes swaps it.
            continue;
        };
        if now == last {
            continue;
        }
        match server_config(&now.0, &now.1) {
            Ok(config) => {
                cell.store(Arc::new(config));
                tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
                crate::metrics::reload("certificate", true);
            }
            Err(e) => {
                tracing::error!(cert = %files.cert.display(), error = %e, "TLS certificate reload failed; keeping the current one");
                crate::metrics::reload("certificate", false);
            }
        }
        last = now;
    }
}
