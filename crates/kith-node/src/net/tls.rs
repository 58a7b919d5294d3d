//! TLS 1.3 with mutual authentication by pinned Ed25519 keys.
//!
//! The server admits a client whose key is a friend's, or whose certificate carries a valid
//! proof of a live invite's secret. The client admits only the server key it dialled.
//! Validity dates are ignored on purpose: keys are pinned, so clocks may disagree.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use kith_proto::identity::{Identity, IdentityError, PeerId, INVITE_PROOF_OID};
use kith_proto::invite::{check_proof, split_proof};
use rcgen::{CertificateParams, CustomExtension};
use rustls::pki_types::PrivatePkcs8KeyDer;

/// Certificates for an identity's key: peers are pinned by key, so a certificate only carries
/// the key (and, when accepting an invite, the invite's proof).
pub trait SelfSigned {
    /// A self-signed certificate for the key, optionally carrying an invite proof.
    fn certificate(
        &self,
        invite_proof: Option<Vec<u8>>,
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), IdentityError>;
}

impl SelfSigned for Identity {
    fn certificate(
        &self,
        invite_proof: Option<Vec<u8>>,
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), IdentityError> {
        let kp = self.rcgen_key()?;
        let mut params = CertificateParams::new(vec!["kith".to_string()])
            .map_err(|e| IdentityError::Cert(e.to_string()))?;
        // Long-lived and clock-independent: peers are pinned by key, never by validity dates.
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(9999, 12, 31);
        if let Some(proof) = invite_proof {
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(INVITE_PROOF_OID, proof));
        }
        let cert = params
            .self_signed(&kp)
            .map_err(|e| IdentityError::Cert(e.to_string()))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8().to_vec()));
        Ok((cert.der().clone(), key))
    }
}

/// The crypto provider: ring, AES-128-GCM first (fastest packet crypto), nothing removed.
pub fn provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::cipher_suite as cs;
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites = vec![
        cs::TLS13_AES_128_GCM_SHA256,
        cs::TLS13_AES_256_GCM_SHA384,
        cs::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    Arc::new(p)
}

/// What a certificate says about its holder.
#[derive(Debug, Clone, PartialEq)]
pub struct CertInfo {
    /// The Ed25519 key the certificate names.
    pub peer: PeerId,
    /// An invite proof extension, if present.
    pub invite_proof: Option<Vec<u8>>,
}

/// Reads the Ed25519 key and invite proof from a certificate.
pub fn cert_info(der: &[u8]) -> Result<CertInfo, rustls::Error> {
    use x509_parser::prelude::*;
    let bad = || rustls::Error::InvalidCertificate(CertificateError::BadEncoding);
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| bad())?;
    let spki = cert.public_key();
    if spki.algorithm.algorithm.to_id_string() != "1.3.101.112" {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
    }
    let key: [u8; 32] = spki
        .subject_public_key
        .data
        .as_ref()
        .try_into()
        .map_err(|_| bad())?;
    let oid = INVITE_PROOF_OID
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".");
    let invite_proof = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == oid)
        .map(|e| e.value.to_vec());
    Ok(CertInfo {
        peer: PeerId(key),
        invite_proof,
    })
}

/// Who the server admits; the node actor keeps it current.
#[derive(Debug, Default)]
pub struct Admission {
    /// Friends' keys.
    pub friends: HashSet<PeerId>,
    /// Invites this node made that may still be redeemed (unused): ID → secret. A used one
    /// leaves at once, so its link admits nobody at the handshake.
    pub invites: HashMap<[u8; 16], [u8; 32]>,
    /// Keys named in albums this node holds (owner or audience), admitted for those albums only.
    pub members: HashSet<PeerId>,
}

/// Shared, updatable admission list.
pub type SharedAdmission = Arc<RwLock<Admission>>;

impl Admission {
    /// Whether a certificate's holder may complete a handshake.
    pub fn admits(&self, info: &CertInfo) -> bool {
        if self.friends.contains(&info.peer) || self.members.contains(&info.peer) {
            return true;
        }
        let Some(proof) = &info.invite_proof else {
            return false;
        };
        let Some((iid, tag)) = split_proof(proof) else {
            return false;
        };
        self.invites
            .get(&iid)
            .is_some_and(|secret| check_proof(secret, &info.peer, tag))
    }
}

fn refused() -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
}

fn schemes() -> Vec<SignatureScheme> {
    vec![SignatureScheme::ED25519]
}

/// Server side: admits only keys the admission list allows.
#[derive(Debug)]
pub struct ClientVerifier {
    admission: SharedAdmission,
    algs: WebPkiSupportedAlgorithms,
}

impl ClientVerifier {
    /// A verifier over a shared admission list.
    pub fn new(admission: SharedAdmission) -> Self {
        ClientVerifier {
            admission,
            algs: provider().signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn client_auth_mandatory(&self) -> bool {
        true
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let info = cert_info(end_entity)?;
        let ok = self
            .admission
            .read()
            .map(|a| a.admits(&info))
            .unwrap_or(false);
        if ok {
            Ok(ClientCertVerified::assertion())
        } else {
            tracing::info!(peer = %info.peer.short(), "refused a connection from a stranger");
            Err(refused())
        }
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        schemes()
    }
}

/// Client side: admits only the one key it dialled.
#[derive(Debug)]
pub struct ServerVerifier {
    expected: PeerId,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerVerifier {
    /// A verifier that accepts exactly `expected`.
    pub fn new(expected: PeerId) -> Self {
        ServerVerifier {
            expected,
            algs: provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let info = cert_info(end_entity)?;
        if info.peer == self.expected {
            Ok(ServerCertVerified::assertion())
        } else {
            tracing::warn!(
                expected = %self.expected.short(),
                found = %info.peer.short(),
                "the node at this address is not the one dialled"
            );
            Err(refused())
        }
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        schemes()
    }
}

/// Errors building TLS configurations.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rustls refused the configuration.
    #[error("TLS set-up: {0}")]
    Rustls(#[from] rustls::Error),
    /// quinn refused the configuration.
    #[error("QUIC set-up: {0}")]
    Quic(String),
}

/// The server's TLS: 1.3 only, client certificates required, no 0-RTT, and no session
/// resumption (no session cache, no tickets), so every handshake goes through `verifier`.
pub fn server_tls(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    verifier: Arc<dyn ClientCertVerifier>,
) -> Result<rustls::ServerConfig, TlsError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], key)?;
    tls.alpn_protocols = vec![kith_proto::ALPN.to_vec()];
    tls.max_early_data_size = 0;
    // A resumed handshake skips the client-certificate check: an ex-friend could come back.
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    tls.send_tls13_tickets = 0;
    Ok(tls)
}

/// The quinn server configuration over [`server_tls`].
pub fn server_config(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    verifier: Arc<dyn ClientCertVerifier>,
) -> Result<quinn::ServerConfig, TlsError> {
    let tls = server_tls(cert, key, verifier)?;
    let q = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut sc = quinn::ServerConfig::with_crypto(Arc::new(q));
    sc.transport_config(super::transport());
    sc.max_incoming(super::MAX_INCOMING);
    Ok(sc)
}

/// A quinn client configuration that presents `cert` and accepts only `expected`.
pub fn client_config(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    expected: PeerId,
) -> Result<quinn::ClientConfig, TlsError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ServerVerifier::new(expected)))
        .with_client_auth_cert(vec![cert], key)?;
    tls.alpn_protocols = vec![kith_proto::ALPN.to_vec()];
    tls.enable_early_data = false;
    let q = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut cc = quinn::ClientConfig::new(Arc::new(q));
    cc.transport_config(super::transport());
    Ok(cc)
}

/// The peer's key on an established connection.
pub fn peer_of(conn: &quinn::Connection) -> Option<CertInfo> {
    let any = conn.peer_identity()?;
    let certs = any.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    cert_info(certs.first()?).ok()
}
