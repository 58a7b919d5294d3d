//! Dialling a peer: connect to whichever of its addresses answers first, then exchange hellos.
//! Every way a dial fails is a [`DialError`] value; the API code is chosen from it in one place
//! ([`DialError::api_error`]).

use std::net::SocketAddr;
use std::time::Duration;

use kith_proto::api::{ApiError, ErrorCode};
use kith_proto::identity::PeerId;
use kith_proto::peer::{close, Hello, PeerCode, PeerMsg};

/// A dial to one more of a peer's addresses starts this long after the previous one: the
/// first address usually answers within a round trip, and the others are not flooded.
const DIAL_STAGGER: Duration = Duration::from_millis(250);

/// Why one address of a dial failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Attempt {
    /// The connection could not be made (or closed before the hello was answered).
    #[error("{0}")]
    Connection(String),
    /// The TLS handshake ended with an alert (our certificate or the peer's refused).
    #[error("certificate refused: {0}")]
    Tls(String),
    /// Nothing answered in time.
    #[error("no answer within {0}s")]
    NoAnswer(u64),
    /// The connection came up but no hello arrived in time.
    #[error("no hello within {0}s")]
    NoHello(u64),
    /// The peer answered the hello with a refusal.
    #[error("{code}: {message}")]
    Refused {
        /// The peer's refusal code.
        code: PeerCode,
        /// The peer's text.
        message: String,
    },
    /// The peer answered the hello with something else.
    #[error("unexpected answer to hello")]
    Unexpected,
}

/// Why a dial failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// No address is known for the peer.
    #[error("no address is known for this friend")]
    NoAddress,
    /// Every address failed; why, address by address.
    #[error("{}", describe(.0))]
    Failed(Vec<(SocketAddr, Attempt)>),
}

fn describe(attempts: &[(SocketAddr, Attempt)]) -> String {
    attempts
        .iter()
        .map(|(a, e)| format!("{a}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl DialError {
    fn attempts(&self) -> &[(SocketAddr, Attempt)] {
        match self {
            DialError::NoAddress => &[],
            DialError::Failed(a) => a,
        }
    }

    /// The invite refusal a peer named (its API code and message), if one did.
    fn invite_refusal(&self) -> Option<(ErrorCode, &str)> {
        self.attempts().iter().find_map(|(_, a)| match a {
            Attempt::Refused { code: c, message } => match c {
                PeerCode::InviteUsed => Some((ErrorCode::InviteUsed, message.as_str())),
                PeerCode::InviteExpired => Some((ErrorCode::InviteExpired, message.as_str())),
                PeerCode::InviteInvalid => Some((ErrorCode::InviteInvalid, message.as_str())),
                _ => None,
            },
            _ => None,
        })
    }

    /// Whether a TLS handshake ended with an alert: we (or the peer's key) were refused.
    fn refused_at_handshake(&self) -> bool {
        self.attempts()
            .iter()
            .any(|(_, a)| matches!(a, Attempt::Tls(_)))
    }

    /// Whether nothing refused us: the peer simply could not be reached (other addresses, for
    /// example from the DHT, may do better).
    pub fn is_unreachable(&self) -> bool {
        self.invite_refusal().is_none() && !self.refused_at_handshake()
    }

    /// The API error a user sees: an invite refusal the peer named, a refusal at the TLS
    /// handshake (`invite_refused`), or `peer_unreachable`.
    pub fn api_error(&self, peer: &PeerId) -> ApiError {
        if let DialError::NoAddress = self {
            return ApiError::new(ErrorCode::PeerUnreachable, self.to_string());
        }
        if let Some((c, message)) = self.invite_refusal() {
            return ApiError::new(c, message);
        }
        if self.refused_at_handshake() {
            return ApiError::new(
                ErrorCode::InviteRefused,
                format!("the node refused us at the handshake ({self})"),
            );
        }
        ApiError::new(
            ErrorCode::PeerUnreachable,
            format!("could not reach {}: {self}", peer.short()),
        )
    }
}

/// Whether a QUIC error code carries a TLS alert (QUIC's CRYPTO_ERROR range, 0x100–0x1ff).
fn tls_alert(c: quinn::TransportErrorCode) -> bool {
    u64::from(c) & !0xff == 0x100
}

/// Classifies a connection error: a TLS alert, or anything else.
fn attempt_of(e: &quinn::ConnectionError) -> Attempt {
    match e {
        quinn::ConnectionError::ConnectionClosed(c) if tls_alert(c.error_code) => {
            Attempt::Tls(c.to_string())
        }
        quinn::ConnectionError::TransportError(t) if tls_alert(t.code) => {
            Attempt::Tls(t.to_string())
        }
        e => Attempt::Connection(e.to_string()),
    }
}

/// Connects to whichever of `addrs` answers first (a new attempt starts every `DIAL_STAGGER`,
/// each limited to `per_addr`); the losing attempts are dropped before any hello.
async fn connect_first(
    endpoint: &quinn::Endpoint,
    client: &quinn::ClientConfig,
    addrs: &[SocketAddr],
    per_addr: Duration,
) -> Result<(quinn::Connection, SocketAddr), Vec<(SocketAddr, Attempt)>> {
    let mut attempts = tokio::task::JoinSet::new();
    for (i, &addr) in addrs.iter().enumerate() {
        let (endpoint, client) = (endpoint.clone(), client.clone());
        attempts.spawn(async move {
            tokio::time::sleep(DIAL_STAGGER * i as u32).await;
            let attempt = async {
                endpoint
                    .connect_with(client, addr, "kith")
                    .map_err(|e| Attempt::Connection(e.to_string()))?
                    .await
                    .map_err(|e| attempt_of(&e))
            };
            match tokio::time::timeout(per_addr, attempt).await {
                Ok(Ok(conn)) => Ok((conn, addr)),
                Ok(Err(e)) => Err((addr, e)),
                Err(_) => Err((addr, Attempt::NoAnswer(per_addr.as_secs()))),
            }
        });
    }
    let mut errors = Vec::new();
    while let Some(done) = attempts.join_next().await {
        match done {
            Ok(Ok(won)) => return Ok(won), // dropping the set aborts the others
            Ok(Err(e)) => errors.push(e),
            Err(e) => tracing::debug!("a dial attempt ended: {e}"),
        }
    }
    Err(errors)
}

/// Sends my hello on a new connection and reads the peer's.
async fn exchange_hellos(conn: &quinn::Connection, mine: Hello) -> Result<Hello, Attempt> {
    let answer = match crate::wire::ask(conn, &PeerMsg::Hello(mine)).await {
        Ok((answer, _)) => answer,
        // In TLS 1.3 a server checks the client's certificate after the client has finished:
        // a refusal closes the connection with a TLS alert just after.
        Err(e) => {
            return Err(match conn.close_reason() {
                Some(reason) => match attempt_of(&reason) {
                    t @ Attempt::Tls(_) => t,
                    _ => Attempt::Connection(e.to_string()),
                },
                None => Attempt::Connection(e.to_string()),
            })
        }
    };
    match answer {
        PeerMsg::Hello(h) => Ok(h),
        PeerMsg::Error { code, message } => {
            conn.close(close::REFUSED.into(), b"refused");
            Err(Attempt::Refused { code, message })
        }
        _ => Err(Attempt::Unexpected),
    }
}

/// Dials `peer` at its addresses (the first to answer wins) and exchanges hellos; `my_hello`
/// makes my hello for the address that answered.
pub async fn dial(
    endpoint: quinn::Endpoint,
    client: quinn::ClientConfig,
    addrs: Vec<SocketAddr>,
    my_hello: impl Fn(SocketAddr) -> Hello,
    per_addr: Duration,
) -> Result<(quinn::Connection, Hello), DialError> {
    if addrs.is_empty() {
        return Err(DialError::NoAddress);
    }
    let (conn, addr) = connect_first(&endpoint, &client, &addrs, per_addr)
        .await
        .map_err(DialError::Failed)?;
    match tokio::time::timeout(per_addr, exchange_hellos(&conn, my_hello(addr))).await {
        Ok(Ok(h)) => Ok((conn, h)),
        Ok(Err(e)) => Err(DialError::Failed(vec![(addr, e)])),
        Err(_) => Err(DialError::Failed(vec![(
            addr,
            Attempt::NoHello(per_addr.as_secs()),
        )])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_proto::identity::Identity;

    fn peer() -> PeerId {
        Identity::generate().expect("a fresh key").peer_id()
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn an_invite_refusal_named_by_the_peer_becomes_its_own_api_code() {
        let e = DialError::Failed(vec![
            (addr(1), Attempt::NoAnswer(5)),
            (
                addr(2),
                Attempt::Refused {
                    code: PeerCode::InviteUsed,
                    message: "this invite was already used".into(),
                },
            ),
        ]);
        let api = e.api_error(&peer());
        assert_eq!(api.code, ErrorCode::InviteUsed);
        assert_eq!(api.message, "this invite was already used");
    }

    #[test]
    fn a_tls_alert_is_a_refusal_at_the_handshake_and_anything_else_is_unreachable() {
        let p = peer();
        let tls = DialError::Failed(vec![(addr(1), Attempt::Tls("error 49".into()))]);
        assert_eq!(tls.api_error(&p).code, ErrorCode::InviteRefused);
        let other = DialError::Failed(vec![(
            addr(1),
            Attempt::Refused {
                code: PeerCode::NotFriend,
                message: "not a friend".into(),
            },
        )]);
        let api = other.api_error(&p);
        assert_eq!(api.code, ErrorCode::PeerUnreachable);
        assert!(
            api.message.contains("not_friend: not a friend"),
            "{}",
            api.message
        );
        assert!(
            !tls.is_unreachable(),
            "a refusal is no reason to try other addresses"
        );
        assert!(other.is_unreachable());
        assert_eq!(
            DialError::NoAddress.api_error(&p).code,
            ErrorCode::PeerUnreachable
        );
    }

    #[test]
    fn the_message_names_each_address_and_why_it_failed() {
        let e = DialError::Failed(vec![
            (addr(1), Attempt::NoAnswer(5)),
            (addr(2), Attempt::NoHello(5)),
        ]);
        assert_eq!(
            e.to_string(),
            "192.0.2.1:1: no answer within 5s; 192.0.2.1:2: no hello within 5s"
        );
    }
}
