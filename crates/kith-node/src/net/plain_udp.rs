//! A UDP socket for quinn without the optional socket options (ECN, packet info, segment
//! offload): Windows only, for a network stack that refuses those options — Wine does
//! (WSAEOPNOTSUPP for IP_RECVECN), which quinn-udp 0.5 treats as fatal. One datagram per
//! call, no ECN marks; QUIC works the same, a little slower. Real Windows keeps quinn's own
//! socket (see `net::endpoint`).

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};

/// A plain non-blocking UDP socket.
#[derive(Debug)]
pub struct PlainUdp {
    io: Arc<tokio::net::UdpSocket>,
}

impl PlainUdp {
    /// Wraps a bound socket (made non-blocking here).
    pub fn new(socket: std::net::UdpSocket) -> io::Result<Arc<PlainUdp>> {
        socket.set_nonblocking(true)?;
        Ok(Arc::new(PlainUdp {
            io: Arc::new(tokio::net::UdpSocket::from_std(socket)?),
        }))
    }
}

type WritableFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send + Sync>>;

/// Waits until the socket may be written.
struct Writable {
    io: Arc<tokio::net::UdpSocket>,
    waiting: Option<WritableFuture>,
}

impl std::fmt::Debug for Writable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writable")
    }
}

impl UdpPoller for Writable {
    fn poll_writable(mut self: Pin<&mut Self>, cx: &mut Context) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let io = this.io.clone();
        let waiting = this
            .waiting
            .get_or_insert_with(|| Box::pin(async move { io.writable().await }));
        let r = waiting.as_mut().poll(cx);
        if r.is_ready() {
            this.waiting = None;
        }
        r
    }
}

impl AsyncUdpSocket for PlainUdp {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(Writable {
            io: self.io.clone(),
            waiting: None,
        })
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        self.io
            .try_send_to(transmit.contents, transmit.destination)
            .map(|_| ())
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let (Some(buf), Some(m)) = (bufs.first_mut(), meta.first_mut()) else {
            return Poll::Ready(Ok(0));
        };
        loop {
            match self.io.poll_recv_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            match self.io.try_recv_from(buf) {
                Ok((len, addr)) => {
                    *m = RecvMeta {
                        addr,
                        len,
                        stride: len,
                        ecn: None,
                        dst_ip: None,
                    };
                    return Poll::Ready(Ok(1));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }
}
