//! TLS admission: strangers, stolen certificates, wrong servers and clock skew.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use kith_node::net::tls::SelfSigned as _;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kith_node::net::tls::{self, Admission, ClientVerifier};
use kith_proto::identity::Identity;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::CertifiedKey;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A server that admits the keys in `admission`.
fn server(id: &Identity, admission: Admission) -> quinn::Endpoint {
    let (cert, key) = id.certificate(None).unwrap();
    let v = Arc::new(ClientVerifier::new(Arc::new(RwLock::new(admission))));
    kith_node::net::endpoint(loopback(), tls::server_config(cert, key, v).unwrap()).unwrap()
}

/// A client that pins the server's key like Kith's but offers no certificate of its own.
fn client_without_certificate(server: kith_proto::identity::PeerId) -> quinn::ClientConfig {
    let mut c = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(tls::ServerVerifier::new(server)))
        .with_no_client_auth();
    c.alpn_protocols = vec![kith_proto::ALPN.to_vec()];
    quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(c).unwrap(),
    ))
}

fn client_endpoint() -> quinn::Endpoint {
    quinn::Endpoint::client(loopback()).unwrap()
}

/// Connects and holds the connection for a second: in TLS 1.3 the client finishes its side of
/// the handshake before the server has checked the client's certificate, so a refusal arrives
/// just after `connect` returns.
async fn connect(
    ep: &quinn::Endpoint,
    cfg: quinn::ClientConfig,
    to: SocketAddr,
) -> Result<quinn::Connection, String> {
    let c = ep
        .connect_with(cfg, to, "kith")
        .map_err(|e| e.to_string())?;
    let conn = match tokio::time::timeout(Duration::from_secs(5), c).await {
        Ok(r) => r.map_err(|e| e.to_string())?,
        Err(_) => return Err("timeout".into()),
    };
    match tokio::time::timeout(Duration::from_secs(1), conn.closed()).await {
        Ok(reason) => Err(reason.to_string()),
        Err(_) => Ok(conn),
    }
}

/// Presents any certificate with any key, unchecked: what a thief would do.
#[derive(Debug)]
struct Presents(Arc<CertifiedKey>);

impl ResolvesClientCert for Presents {
    fn resolve(&self, _: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}

fn thief_config(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    server: kith_proto::identity::PeerId,
) -> quinn::ClientConfig {
    let provider = tls::provider();
    let signing = provider.key_provider.load_private_key(key).unwrap();
    let ck = Arc::new(CertifiedKey::new(vec![cert], signing));
    let mut c = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(tls::ServerVerifier::new(server)))
        .with_client_cert_resolver(Arc::new(Presents(ck)));
    c.alpn_protocols = vec![kith_proto::ALPN.to_vec()];
    quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(c).unwrap(),
    ))
}

#[test]
fn a_friend_connects_and_a_stolen_certificate_with_another_key_is_refused() {
    rt().block_on(async {
        let srv_id = Identity::generate().unwrap();
        let victim = Identity::generate().unwrap();
        let thief = Identity::generate().unwrap();
        let mut adm = Admission::default();
        adm.friends.insert(victim.peer_id());
        let srv = server(&srv_id, adm);
        let addr = srv.local_addr().unwrap();
        tokio::spawn({
            let srv = srv.clone();
            async move {
                while let Some(inc) = srv.accept().await {
                    tokio::spawn(async move {
                        if let Ok(c) = inc.await {
                            c.closed().await;
                        }
                    });
                }
            }
        });
        let ep = client_endpoint();
        // The real friend, with its own key: admitted.
        let (vc, vk) = victim.certificate(None).unwrap();
        let ok = connect(
            &ep,
            tls::client_config(vc.clone(), vk, srv_id.peer_id()).unwrap(),
            addr,
        )
        .await;
        assert!(ok.is_ok(), "friend refused: {:?}", ok.err());
        assert_eq!(tls::peer_of(&ok.unwrap()).unwrap().peer, srv_id.peer_id());
        // The same unchecked presenter with the right key works, so the refusal below is the key's.
        let (vc2, vk2) = victim.certificate(None).unwrap();
        assert!(connect(&ep, thief_config(vc2, vk2, srv_id.peer_id()), addr)
            .await
            .is_ok());
        // The victim's certificate with the thief's key: refused at the handshake.
        let (_, tk) = thief.certificate(None).unwrap();
        let stolen = connect(&ep, thief_config(vc, tk, srv_id.peer_id()), addr).await;
        assert!(stolen.is_err(), "stolen certificate admitted");
        // The thief's own certificate: a stranger, refused.
        let (tc, tk) = thief.certificate(None).unwrap();
        assert!(connect(
            &ep,
            tls::client_config(tc, tk, srv_id.peer_id()).unwrap(),
            addr
        )
        .await
        .is_err());
    });
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    rt().block_on(async {
        let srv_id = Identity::generate().unwrap();
        let srv = server(&srv_id, Admission::default());
        let addr = srv.local_addr().unwrap();
        tokio::spawn(async move {
            while let Some(inc) = srv.accept().await {
                let _ = inc.await;
            }
        });
        let cfg = client_without_certificate(srv_id.peer_id());
        let r = connect(&client_endpoint(), cfg, addr).await;
        assert!(r.is_err(), "client without certificate kept its connection");
    });
}

#[test]
fn a_stranger_is_refused_by_a_running_node() {
    let a = common::Node::started("Ann");
    let addr: SocketAddr = a.json(&["status", "--json"])["listen_addr"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let a_id: kith_proto::identity::PeerId = a.id().parse().unwrap();
    rt().block_on(async {
        let stranger = Identity::generate().unwrap();
        let (c, k) = stranger.certificate(None).unwrap();
        let r = connect(
            &client_endpoint(),
            tls::client_config(c, k, a_id).unwrap(),
            addr,
        )
        .await;
        assert!(r.is_err(), "the node admitted a stranger");
    });
    assert!(common::wait_until(Duration::from_secs(5), || a
        .log()
        .contains("refused a connection from a stranger")));
}

/// Admits any client key: an impostor that wants to be dialled.
#[derive(Debug)]
struct AdmitsAnyone(ClientVerifier);

impl ClientCertVerifier for AdmitsAnyone {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[test]
fn a_node_refuses_a_server_that_is_not_the_friend_it_dialled() {
    let a = common::Node::started("Ann");
    let mut c = common::Node::started("Cy");
    c.befriend(&a);
    let (ci, ai) = (c.id(), a.id());
    assert!(common::wait_until(Duration::from_secs(10), || a.online_with(&ci)));
    let c_addr: SocketAddr = c.json(&["status", "--json"])["listen_addr"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    c.stop();
    rt().block_on(async {
        // An impostor takes over C's address and lets anyone in.
        let impostor = Identity::generate().unwrap();
        let (cert, key) = impostor.certificate(None).unwrap();
        let v = Arc::new(AdmitsAnyone(ClientVerifier::new(Default::default())));
        let ep =
            kith_node::net::endpoint(c_addr, tls::server_config(cert, key, v).unwrap()).unwrap();
        let (mut attempts, mut completed) = (0, 0);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        while attempts < 2 && tokio::time::Instant::now() < deadline {
            if let Ok(Some(inc)) = tokio::time::timeout(Duration::from_secs(1), ep.accept()).await {
                attempts += 1;
                if let Ok(conn) = inc.await {
                    // The handshake may finish on this side; A must refuse it straight away.
                    if tokio::time::timeout(Duration::from_secs(2), conn.closed())
                        .await
                        .is_err()
                    {
                        completed += 1;
                    }
                }
            }
        }
        assert!(attempts >= 1, "A never dialled C's old address");
        assert_eq!(completed, 0, "A kept a connection to an impostor");
    });
    assert!(!a.online_with(&ci));
    let f = a.friend(&ci).unwrap();
    assert!(f["last_error"].is_string(), "no reason recorded: {f}");
    assert!(
        a.log().contains("not the one dialled"),
        "A did not log the impostor"
    );
    let _ = ai;
}

#[test]
fn certificates_are_accepted_across_a_day_of_clock_skew_either_way() {
    let srv_id = Identity::generate().unwrap();
    let friend = Identity::generate().unwrap();
    let mut adm = Admission::default();
    adm.friends.insert(friend.peer_id());
    let v = ClientVerifier::new(Arc::new(RwLock::new(adm)));
    let (cert, _) = friend.certificate(None).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for skew in [-86_400i64, 0, 86_400, -3 * 86_400, 3 * 86_400] {
        let t = UnixTime::since_unix_epoch(Duration::from_secs((now as i64 + skew) as u64));
        assert!(
            v.verify_client_cert(&cert, &[], t).is_ok(),
            "refused at skew {skew}"
        );
    }
    // A certificate whose validity starts tomorrow (made by a peer whose clock runs a day ahead).
    let kp = rcgen::KeyPair::try_from(friend.pkcs8()).unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["kith".into()]).unwrap();
    let tomorrow = time_from_unix(now + 86_400);
    p.not_before = tomorrow;
    p.not_after = time_from_unix(now + 2 * 86_400);
    let ahead = p.self_signed(&kp).unwrap();
    let t = UnixTime::since_unix_epoch(Duration::from_secs(now));
    assert!(v.verify_client_cert(ahead.der(), &[], t).is_ok());
    let sv = tls::ServerVerifier::new(friend.peer_id());
    use rustls::client::danger::ServerCertVerifier;
    let name = rustls::pki_types::ServerName::try_from("kith").unwrap();
    assert!(sv
        .verify_server_cert(ahead.der(), &[], &name, &[], t)
        .is_ok());
    let _ = srv_id;
}

fn time_from_unix(secs: u64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(secs as i64).unwrap()
}

/// A friend's client that asks for 0-RTT when it resumes (Kith's own never does).
fn early_data_client(id: &Identity, server: kith_proto::identity::PeerId) -> quinn::ClientConfig {
    let (cert, key) = id.certificate(None).unwrap();
    let mut c = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(tls::ServerVerifier::new(server)))
        .with_client_auth_cert(vec![cert], key)
        .unwrap();
    c.alpn_protocols = vec![kith_proto::ALPN.to_vec()];
    c.enable_early_data = true;
    quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(c).unwrap(),
    ))
}

/// Connects fully, holds the connection a moment (the session tickets come after the
/// handshake), then tries to resume with 0-RTT: whether the client could send 0-RTT data.
async fn resumes_with_0rtt(cfg: &quinn::ClientConfig, addr: SocketAddr) -> bool {
    let ep = client_endpoint();
    let first = connect(&ep, cfg.clone(), addr)
        .await
        .expect("friend admitted");
    first.close(0u32.into(), b"");
    let second = ep.connect_with(cfg.clone(), addr, "kith").unwrap();
    match second.into_0rtt() {
        Ok((conn, _accepted)) => {
            conn.close(0u32.into(), b"");
            true
        }
        Err(connecting) => {
            // No 0-RTT, but the ordinary handshake still admits the friend.
            let conn = connecting.await.expect("resumed without 0-RTT");
            conn.close(0u32.into(), b"");
            false
        }
    }
}

#[test]
fn a_friend_resuming_a_session_cannot_send_0rtt_data() {
    rt().block_on(async {
        let srv_id = Identity::generate().unwrap();
        let friend = Identity::generate().unwrap();
        let admit = || {
            let mut adm = Admission::default();
            adm.friends.insert(friend.peer_id());
            adm
        };
        let serve = |srv: quinn::Endpoint| {
            tokio::spawn(async move {
                while let Some(inc) = srv.accept().await {
                    tokio::spawn(async move {
                        if let Ok(c) = inc.await {
                            c.closed().await;
                        }
                    });
                }
            })
        };

        // Kith's server: tickets carry no early-data allowance, so no 0-RTT.
        let srv = server(&srv_id, admit());
        let addr = srv.local_addr().unwrap();
        serve(srv);
        let cfg = early_data_client(&friend, srv_id.peer_id());
        assert!(
            !resumes_with_0rtt(&cfg, addr).await,
            "Kith's server took 0-RTT"
        );

        // The same client against the same configuration with early data allowed does send
        // 0-RTT: the probe above can see it.
        let (cert, key) = srv_id.certificate(None).unwrap();
        let v = Arc::new(ClientVerifier::new(Arc::new(RwLock::new(admit()))));
        let mut open = rustls::ServerConfig::builder_with_provider(tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_client_cert_verifier(v)
            .with_single_cert(vec![cert], key)
            .unwrap();
        open.alpn_protocols = vec![kith_proto::ALPN.to_vec()];
        open.max_early_data_size = u32::MAX;
        let q = quinn::crypto::rustls::QuicServerConfig::try_from(open).unwrap();
        let open =
            kith_node::net::endpoint(loopback(), quinn::ServerConfig::with_crypto(Arc::new(q)))
                .unwrap();
        let open_addr = open.local_addr().unwrap();
        serve(open);
        let cfg = early_data_client(&friend, srv_id.peer_id());
        assert!(resumes_with_0rtt(&cfg, open_addr).await);
    });
}

/// How a handshake that `cfg` starts towards `to` is refused: the TLS alert, taken from the QUIC
/// close (a CRYPTO_ERROR is 0x100 + the alert), whichever side sent it.
async fn alert(ep: &quinn::Endpoint, cfg: quinn::ClientConfig, to: SocketAddr) -> Option<u64> {
    let c = ep.connect_with(cfg, to, "kith").unwrap();
    let err = match tokio::time::timeout(Duration::from_secs(5), c).await {
        Ok(Err(e)) => e,
        Ok(Ok(conn)) => tokio::time::timeout(Duration::from_secs(5), conn.closed())
            .await
            .ok()?,
        Err(_) => return None,
    };
    let code = match err {
        quinn::ConnectionError::ConnectionClosed(c) => c.error_code,
        quinn::ConnectionError::TransportError(e) => e.code,
        _ => return None,
    };
    u64::from(code)
        .checked_sub(0x100)
        .filter(|alert| *alert < 0x100)
}

#[test]
fn each_refusal_ends_the_handshake_with_the_documented_tls_alert() {
    const ACCESS_DENIED: u64 = 49;
    const DECRYPT_ERROR: u64 = 51;
    const CERTIFICATE_REQUIRED: u64 = 116;
    const NO_APPLICATION_PROTOCOL: u64 = 120;
    rt().block_on(async {
        let srv_id = Identity::generate().unwrap();
        let friend = Identity::generate().unwrap();
        let mut adm = Admission::default();
        adm.friends.insert(friend.peer_id());
        adm.invites.insert([7; 16], [8; 32]);
        let srv = server(&srv_id, adm);
        let addr = srv.local_addr().unwrap();
        tokio::spawn(async move {
            while let Some(inc) = srv.accept().await {
                tokio::spawn(async move {
                    if let Ok(c) = inc.await {
                        c.closed().await;
                    }
                });
            }
        });
        let ep = client_endpoint();
        let cfg = |id: &Identity, proof: Option<Vec<u8>>, expected| {
            let (c, k) = id.certificate(proof).unwrap();
            tls::client_config(c, k, expected).unwrap()
        };
        // The friend is let in, so each refusal below is for the reason it names.
        let ok = connect(&ep, cfg(&friend, None, srv_id.peer_id()), addr).await;
        assert!(ok.is_ok(), "friend refused: {:?}", ok.err());
        let stranger = Identity::generate().unwrap();
        let s = stranger.peer_id();
        assert_eq!(
            alert(&ep, cfg(&stranger, None, srv_id.peer_id()), addr).await,
            Some(ACCESS_DENIED),
            "a key that is neither a friend's nor a member's"
        );
        let forged = kith_proto::invite::make_proof(&[7; 16], &[9; 32], &s);
        assert_eq!(
            alert(&ep, cfg(&stranger, Some(forged), srv_id.peer_id()), addr).await,
            Some(ACCESS_DENIED),
            "an invite proof made without the invite's secret"
        );
        let unknown = kith_proto::invite::make_proof(&[6; 16], &[8; 32], &s);
        assert_eq!(
            alert(&ep, cfg(&stranger, Some(unknown), srv_id.peer_id()), addr).await,
            Some(ACCESS_DENIED),
            "a proof for an invite the server never made"
        );
        assert_eq!(
            alert(&ep, cfg(&friend, None, s), addr).await,
            Some(ACCESS_DENIED),
            "the dialer refuses a server key it did not dial"
        );
        let (friends_cert, _) = friend.certificate(None).unwrap();
        let (_, strangers_key) = stranger.certificate(None).unwrap();
        assert_eq!(
            alert(
                &ep,
                thief_config(friends_cert, strangers_key, srv_id.peer_id()),
                addr
            )
            .await,
            Some(DECRYPT_ERROR),
            "a friend's certificate with another key: the handshake signature does not verify"
        );
        let no_cert = client_without_certificate(srv_id.peer_id());
        assert_eq!(alert(&ep, no_cert, addr).await, Some(CERTIFICATE_REQUIRED));
        let (c, k) = friend.certificate(None).unwrap();
        let signing = tls::provider().key_provider.load_private_key(k).unwrap();
        let mut other = rustls::ClientConfig::builder_with_provider(tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(tls::ServerVerifier::new(srv_id.peer_id())))
            .with_client_cert_resolver(Arc::new(Presents(Arc::new(CertifiedKey::new(
                vec![c],
                signing,
            )))));
        other.alpn_protocols = vec![b"kith/0".to_vec()];
        let other = quinn::ClientConfig::new(Arc::new(
            quinn::crypto::rustls::QuicClientConfig::try_from(other).unwrap(),
        ));
        assert_eq!(
            alert(&ep, other, addr).await,
            Some(NO_APPLICATION_PROTOCOL),
            "a friend's key with another ALPN"
        );
    });
}
/// Accepts connections and holds each until the peer closes it.
fn hold_connections(srv: quinn::Endpoint) {
    tokio::spawn(async move {
        while let Some(inc) = srv.accept().await {
            tokio::spawn(async move {
                if let Ok(c) = inc.await {
                    c.closed().await;
                }
            });
        }
    });
}

/// Connects as a friend, gets what the server hands out for resuming (tickets come after the
/// handshake), takes the friend off the admission list, then connects again with the same
/// client configuration, which offers the saved session: the second handshake's result.
async fn reconnect_after_unfriend(
    tls: rustls::ServerConfig,
    srv_id: &Identity,
    friend: &Identity,
    admission: &tls::SharedAdmission,
) -> Result<quinn::Connection, String> {
    let q = quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap();
    let srv = kith_node::net::endpoint(loopback(), quinn::ServerConfig::with_crypto(Arc::new(q)))
        .unwrap();
    let addr = srv.local_addr().unwrap();
    hold_connections(srv);
    let (cert, key) = friend.certificate(None).unwrap();
    let cfg = tls::client_config(cert, key, srv_id.peer_id()).unwrap();
    let ep = client_endpoint();
    let first = connect(&ep, cfg.clone(), addr)
        .await
        .expect("friend admitted");
    first.close(0u32.into(), b"");
    admission.write().unwrap().friends.remove(&friend.peer_id());
    connect(&ep, cfg, addr).await
}

#[test]
fn an_unfriended_peer_with_a_saved_session_cannot_complete_a_handshake() {
    rt().block_on(async {
        let srv_id = Identity::generate().unwrap();
        let friend = Identity::generate().unwrap();
        let admit = || {
            let mut a = Admission::default();
            a.friends.insert(friend.peer_id());
            Arc::new(RwLock::new(a))
        };
        let (cert, key) = srv_id.certificate(None).unwrap();

        // Kith's server keeps no sessions and sends no tickets: the old friend's client has
        // nothing to resume, so its certificate is checked, and refused.
        let adm = admit();
        let v = Arc::new(ClientVerifier::new(adm.clone()));
        let kith_tls = tls::server_tls(cert.clone(), key.clone_key(), v).unwrap();
        let tickets = kith_tls.send_tls13_tickets;
        let r = reconnect_after_unfriend(kith_tls, &srv_id, &friend, &adm).await;
        assert!(
            r.is_err(),
            "an unfriended peer got in with its saved session"
        );
        assert_eq!(tickets, 0);

        // The probe sees resumption: a server with rustls's default session cache admits the
        // same client again without checking its certificate.
        let adm = admit();
        let v = Arc::new(ClientVerifier::new(adm.clone()));
        let mut resuming = rustls::ServerConfig::builder_with_provider(tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_client_cert_verifier(v)
            .with_single_cert(vec![cert], key)
            .unwrap();
        resuming.alpn_protocols = vec![kith_proto::ALPN.to_vec()];
        resuming.max_early_data_size = 0;
        let r = reconnect_after_unfriend(resuming, &srv_id, &friend, &adm).await;
        assert!(
            r.is_ok(),
            "resumption was not tried: the check above proves nothing"
        );
    });
}

/// Dials a node presenting an invite proof for `who`'s key; whether the handshake completes.
fn handshake_with_invite(who: &Identity, to: &common::Node, link: &str) -> bool {
    let body = kith_proto::invite::parse(link, 0).unwrap();
    let proof = kith_proto::invite::make_proof(&body.invite_id, &body.secret, &who.peer_id());
    let (cert, key) = who.certificate(Some(proof)).unwrap();
    let cfg = tls::client_config(cert, key, body.peer).unwrap();
    let addr: SocketAddr = to.listen_addr().parse().unwrap();
    rt().block_on(async { connect(&client_endpoint(), cfg, addr).await.is_ok() })
}

#[test]
fn an_invite_once_used_admits_nobody_at_the_handshake_also_after_a_restart() {
    let mut a = common::Node::started("Ann");
    let b = common::Node::started("Bo");
    let stranger = Identity::generate().unwrap();
    let link = a.invite();
    let unused = a.invite();
    assert!(
        handshake_with_invite(&stranger, &a, &link),
        "a live invite lets its holder reach the hello"
    );
    assert!(b.cli(&["accept", &link]).status.success());
    assert!(
        !handshake_with_invite(&stranger, &a, &link),
        "a used invite still admits"
    );
    let addr = a.listen_addr();
    a.stop();
    a.start_at(&addr);
    assert!(
        !handshake_with_invite(&stranger, &a, &link),
        "admitted again after a restart"
    );
    assert!(
        handshake_with_invite(&stranger, &a, &unused),
        "the unused invite was lost"
    );
}
