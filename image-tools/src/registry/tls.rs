//! TLS settings for one registry: the system CA roots plus, as docker does, the
//! certificates in a cert directory (`--cert-dir`, else `/etc/docker/certs.d/<host>` and
//! `/etc/containers/certs.d/<host>`): `*.crt` are CAs, a `*.cert`/`*.key` pair is a
//! client certificate.

use super::RegistryError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const CERT_ROOTS: [&str; 2] = ["/etc/docker/certs.d", "/etc/containers/certs.d"];

/// The cert directories that apply to `host` (`host:port` as the reference names it).
pub fn cert_dirs(cert_dir: Option<&Path>, host: &str) -> Vec<PathBuf> {
    match cert_dir {
        Some(d) => vec![d.to_path_buf()],
        None => CERT_ROOTS
            .iter()
            .map(|r| Path::new(r).join(host))
            .filter(|d| d.is_dir())
            .collect(),
    }
}

pub fn client_config(
    registry: &str,
    cert_dir: Option<&Path>,
) -> Result<Arc<ClientConfig>, RegistryError> {
    let err = |message: String| RegistryError::Tls {
        registry: registry.to_string(),
        message,
    };
    let mut roots = RootCertStore::empty();
    // Unreadable system roots leave only the cert directory's: a registry signed by a
    // public CA then fails verification with an error naming it.
    if let Ok(native) = rustls_native_certs::load_native_certs() {
        for cert in native {
            let _ = roots.add(cert);
        }
    }
    let mut client_pair: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> = None;
    for dir in cert_dirs(cert_dir, registry) {
        let entries = fs::read_dir(&dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for path in files {
            let name = path.to_string_lossy().to_string();
            if name.ends_with(".crt") {
                for cert in
                    CertificateDer::pem_file_iter(&path).map_err(|e| err(format!("{name}: {e}")))?
                {
                    let cert = cert.map_err(|e| err(format!("{name}: {e}")))?;
                    roots.add(cert).map_err(|e| err(format!("{name}: {e}")))?;
                }
            } else if let Some(stem) = name.strip_suffix(".cert") {
                let key_path = PathBuf::from(format!("{stem}.key"));
                let certs = CertificateDer::pem_file_iter(&path)
                    .map_err(|e| err(format!("{name}: {e}")))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| err(format!("{name}: {e}")))?;
                let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
                    err(format!(
                        "client certificate {name} needs its key {}: {e}",
                        key_path.display()
                    ))
                })?;
                client_pair = Some((certs, key));
            }
        }
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| err(e.to_string()))?
            .with_root_certificates(roots);
    let config = match client_pair {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| err(e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
