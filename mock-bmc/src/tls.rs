//! TLS for mock BMCs: a fresh self-signed certificate per BMC, served with rustls and ring.
//!
//! Real BMCs ship self-signed certificates, so clients must pin them or trust them as a CA
//! file. [`crate::MockBmc::certificate_pem`] returns the PEM that tests trust. TLS faults
//! replace the certificate with an expired one or limit the server to TLS 1.2.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::Error;
use crate::fault::{TlsFaults, TlsVersion};

/// A server TLS configuration and the PEM of its certificate.
pub(crate) struct ServerIdentity {
    pub config: Arc<ServerConfig>,
    pub certificate_pem: String,
}

/// Generates a self-signed certificate for `addr` (SANs: its IP and `localhost`) and builds
/// a rustls configuration with the ring provider, independent of any process-wide default.
pub(crate) fn server_identity(addr: SocketAddr, faults: &TlsFaults) -> Result<ServerIdentity, Error> {
    let names = vec![addr.ip().to_string(), "localhost".to_string()];
    let certificate_error = |source| Error::Certificate { addr, source };
    let mut params = rcgen::CertificateParams::new(names).map_err(certificate_error)?;
    if faults.expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let signing_key = rcgen::KeyPair::generate().map_err(certificate_error)?;
    let certified = params.self_signed(&signing_key).map_err(certificate_error)?;

    let certificate = CertificateDer::from(certified.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));

    let versions: &[&rustls::SupportedProtocolVersion] = match faults.max_version {
        Some(TlsVersion::Tls12) => &[&rustls::version::TLS12],
        Some(TlsVersion::Tls13) | None => rustls::DEFAULT_VERSIONS,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(vec![certificate], key))
        .map_err(|source| Error::Tls { addr, source })?;

    // Most BMCs speak only HTTP/1.1, so offering only that keeps clients on the field's protocol.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];

    Ok(ServerIdentity {
        config: Arc::new(config),
        certificate_pem: certified.pem(),
    })
}
