//! Serving certificates. kubectl sends bearer tokens only over TLS, so the server speaks HTTPS
//! with a throwaway CA (generated once per process) whose certificate goes into kubeconfigs.

use std::sync::{Arc, OnceLock};

use anyhow::{Result, anyhow};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The CA certificate (PEM) and the server's certificate chain and key.
pub struct Certs {
    pub ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

fn generate() -> Result<Certs> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "sluice-testcluster-ca");
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate()?;
    let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Certs {
        ca_pem: ca_cert.pem(),
        chain: vec![cert.der().clone(), ca_cert.der().clone()],
        key: key.serialize_der(),
    })
}

/// The process-wide certificates (key generation is the slow part of startup).
pub fn certs() -> Result<&'static Certs> {
    static CERTS: OnceLock<Result<Certs, String>> = OnceLock::new();
    CERTS
        .get_or_init(|| generate().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| anyhow!(e.clone()))
}

/// The CA certificate, DER-encoded.
pub fn ca_der() -> Result<Vec<u8>> {
    Ok(certs()?.chain[1].to_vec())
}

/// A TLS acceptor offering HTTP/1.1 only (watch streams are chunked HTTP/1.1 responses).
pub fn acceptor() -> Result<tokio_rustls::TlsAcceptor> {
    let certs = certs()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certs.key.clone()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs.chain.clone(), key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
