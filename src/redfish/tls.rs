//! The rustls configuration of the Redfish client: which BMC certificates are trusted.
//!
//! By default a BMC's certificate must chain to a root in the operating system's store or in
//! the `--ca-file`. The system store comes from rustls-native-certs rather than a compiled-in
//! Mozilla list because BMC certificates are signed by a site's internal CA, which
//! configuration management installs into the system store and which no public list contains.
//! `--insecure` swaps in [`AcceptAnyCertificate`]. With a known-BMCs file, each BMC gets a
//! [`PinningVerifier`] that checks pinned BMCs by fingerprint and the others as above.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::known_bmcs::{self, KnownBmcs, PinCheck};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};

/// A TLS setting that cannot be used; every variant names the file or the reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    #[error("failed to read CA file `{}`: {cause}", path.display())]
    CaFileRead { path: PathBuf, cause: String },

    #[error("CA file `{}` contains no PEM certificate\n  hint: pass a file with `-----BEGIN CERTIFICATE-----` blocks", path.display())]
    CaFileEmpty { path: PathBuf },

    #[error("CA file `{}` contains an invalid certificate: {cause}", path.display())]
    CaFileInvalid { path: PathBuf, cause: String },

    #[error(
        "no trusted CA certificates: the system store is empty and no CA file was given\n  hint: install the system CA bundle, pass `--ca-file`, or pass `--insecure` for self-signed BMCs"
    )]
    NoRoots,

    #[error("invalid TLS settings: {cause}")]
    Rustls { cause: String },
}

/// Builds the verifier of BMCs without a pin: any certificate with `insecure`, else a
/// certificate that chains to the system roots or the CA file.
pub(crate) fn base_verifier(
    insecure: bool,
    ca_file: Option<&Path>,
) -> Result<Arc<dyn ServerCertVerifier>, TlsConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    if insecure {
        return Ok(Arc::new(AcceptAnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        }));
    }
    let roots = Arc::new(root_store(ca_file)?);
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider)
        .build()
        .map_err(|err| TlsConfigError::Rustls { cause: err.to_string() })?;
    Ok(verifier)
}

/// Builds the client TLS configuration: ring, TLS 1.2 and 1.3, and `verifier`.
pub(crate) fn client_config(verifier: Arc<dyn ServerCertVerifier>) -> Result<ClientConfig, TlsConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());

    // Some older BMC firmware supports only TLS 1.2, so both versions stay enabled.
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|err| TlsConfigError::Rustls { cause: err.to_string() })?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();

    // The Redfish specification requires HTTP/1.1, and a limit of a few requests in flight
    // gains nothing from HTTP/2 multiplexing. reqwest 0.13 keeps this ALPN list as it is.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Collects the system roots and the CA file's certificates.
fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, TlsConfigError> {
    let mut roots = RootCertStore::empty();

    let system = rustls_native_certs::load_native_certs();
    for err in &system.errors {
        tracing::warn!(cause = %err, "failed to load some system CA certificates");
    }
    let (added, ignored) = roots.add_parsable_certificates(system.certs);
    tracing::debug!(added, ignored, "loaded system CA certificates");

    if let Some(path) = ca_file {
        for certificate in read_ca_file(path)? {
            roots.add(certificate).map_err(|err| TlsConfigError::CaFileInvalid {
                path: path.to_path_buf(),
                cause: err.to_string(),
            })?;
        }
    }

    if roots.is_empty() {
        return Err(TlsConfigError::NoRoots);
    }
    Ok(roots)
}

/// Reads every certificate of a PEM file, rejecting a file without any.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let to_error = |err: rustls::pki_types::pem::Error| match err {
        rustls::pki_types::pem::Error::Io(io) => TlsConfigError::CaFileRead {
            path: path.to_path_buf(),
            cause: io.to_string(),
        },
        other => TlsConfigError::CaFileInvalid {
            path: path.to_path_buf(),
            cause: other.to_string(),
        },
    };

    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(to_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(to_error)?;
    if certificates.is_empty() {
        return Err(TlsConfigError::CaFileEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(certificates)
}

/// Accepts any server certificate, for `--insecure` against BMCs with self-signed certificates.
///
/// Handshake signatures are still verified, so the peer must hold the private key of the
/// certificate it presents. Only the check that a trusted CA signed that certificate is skipped.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The certificate of a pinned BMC differs from its pin. Carried to the client inside
/// `rustls::CertificateError::Other`, which becomes [`super::RedfishError::PinMismatch`].
#[derive(Debug, thiserror::Error)]
#[error("certificate fingerprint {actual} differs from the pinned {expected}")]
pub(crate) struct PinMismatchCause {
    pub(crate) file: PathBuf,
    pub(crate) expected: String,
    pub(crate) actual: String,
}

/// Verifies one BMC against the known-BMCs file.
///
/// A pinned BMC must present exactly the pinned certificate, and then neither its issuer,
/// its validity dates nor its names are checked, because pinning exists for self-signed
/// and expired factory certificates. An unknown BMC is recorded when recording is on, and
/// otherwise checked by the base verifier. Handshake signatures are always verified.
///
/// rustls passes the server name but not the port, so the verifier is built per BMC with
/// its `host:port` key, and the client builds one HTTP client per BMC when pinning is on.
#[derive(Debug)]
pub(crate) struct PinningVerifier {
    key: String,
    known: Arc<KnownBmcs>,
    fallback: Arc<dyn ServerCertVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinningVerifier {
    pub(crate) fn new(
        bmc: &crate::inventory::BmcAddress,
        known: Arc<KnownBmcs>,
        fallback: Arc<dyn ServerCertVerifier>,
    ) -> PinningVerifier {
        PinningVerifier {
            key: known_bmcs::key(bmc),
            known,
            fallback,
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual = known_bmcs::fingerprint(end_entity.as_ref());
        match self.known.check(&self.key, &actual) {
            PinCheck::Match | PinCheck::Recorded => Ok(ServerCertVerified::assertion()),
            PinCheck::Mismatch { expected } => {
                let cause = PinMismatchCause {
                    file: self.known.path().to_path_buf(),
                    expected,
                    actual,
                };
                Err(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(
                    Arc::new(cause),
                ))))
            }
            PinCheck::Unknown => {
                self.fallback
                    .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            PinCheck::RecordFailed { cause } => Err(rustls::Error::General(cause)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
