//! Async reading and writing of length-prefixed frames (see [`kith_proto::frame`]).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use kith_proto::frame::{encode, Decoder, FrameError};

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The frame was refused; the stream is still in step (its body was skipped).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame")]
    Truncated,
    /// I/O failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads one frame; `Ok(None)` at a clean end of stream. Oversized bodies are skipped unread.
/// Driven by the sans-IO [`Decoder`] (the one frame parser), reading only what it wants, so
/// the bytes after the frame stay on the stream.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, ReadError> {
    /// Bytes read at a time for a large body.
    const READ_AT_ONCE: usize = 64 * 1024;
    let mut d = Decoder::new(max);
    let mut chunk = vec![0u8; 4];
    let mut refused = None;
    loop {
        if refused.is_none() {
            match d.next_frame() {
                Some(Ok(frame)) => return Ok(Some(frame)),
                Some(Err(e)) => refused = Some(e),
                None => {}
            }
        }
        if let Some(e) = refused.take_if(|_| !d.skipping()) {
            // A refused frame's body is skipped: the stream is in step again.
            return Err(e.into());
        }
        let want = d.wants().min(READ_AT_ONCE);
        if chunk.len() < want {
            chunk.resize(want, 0);
        }
        let n = r.read(&mut chunk[..want]).await?;
        if n == 0 {
            return if d.has_partial() {
                Err(ReadError::Truncated)
            } else {
                Ok(None)
            };
        }
        d.feed(&chunk[..n]);
    }
}

/// Reads a peer's request: the one frame on a request stream (`Ok(None)` for a stream that
/// ends before it). A frame of at most `small` bytes is read at once; a longer one, up to
/// `large`, only once `wait_large` gives a permit, which comes back with the frame (the
/// caller holds it until the request is handled). The body is taken as it arrives, so a
/// frame that trickles in holds only what came.
pub async fn read_request<R, P>(
    r: &mut R,
    small: usize,
    large: usize,
    wait_large: impl std::future::Future<Output = Option<P>>,
) -> Result<Option<(Vec<u8>, Option<P>)>, ReadError>
where
    R: AsyncRead + Unpin,
{
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut prefix[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(ReadError::Truncated)
            };
        }
        got += n;
    }
    let len = kith_proto::frame::check_len(prefix, large)?;
    let permit = if len > small {
        match wait_large.await {
            Some(p) => Some(p),
            None => return Ok(None),
        }
    } else {
        None
    };
    let mut body = Vec::new();
    r.take(len as u64).read_to_end(&mut body).await?;
    if body.len() < len {
        return Err(ReadError::Truncated);
    }
    Ok(Some((body, permit)))
}

/// Writes one frame and flushes.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, json: &[u8]) -> std::io::Result<()> {
    w.write_all(&encode(json)).await?;
    w.flush().await
}

/// Opens a stream on a peer connection, sends one message and reads the one-frame answer;
/// the stream stays open for any bytes that follow the answer.
pub async fn ask(
    conn: &quinn::Connection,
    msg: &kith_proto::peer::PeerMsg,
) -> Result<(kith_proto::peer::PeerMsg, quinn::RecvStream), String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    write_frame(&mut send, &msg.to_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let _ = send.finish();
    let frame = read_frame(&mut recv, kith_proto::frame::MAX_FROM_PEER)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the peer closed the stream")?;
    let answer = kith_proto::peer::PeerMsg::from_bytes(&frame).map_err(|e| e.to_string())?;
    Ok((answer, recv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_small_request_is_read_at_once_a_large_one_only_with_a_permit_and_one_over_the_limit_not(
    ) {
        let small = encode(&[b'a'; 10]);
        let got = read_request(&mut &small[..], 16, 64, async {
            panic!("no permit needed for a small frame")
        })
        .await;
        assert_eq!(got.unwrap(), Some((vec![b'a'; 10], None::<u8>)));

        let large = encode(&[b'b'; 40]);
        let got = read_request(&mut &large[..], 16, 64, async { Some(7u8) }).await;
        assert_eq!(got.unwrap(), Some((vec![b'b'; 40], Some(7))));
        // No permit (the connection is closing): nothing is read.
        let got = read_request(&mut &large[..], 16, 64, async { None::<u8> }).await;
        assert_eq!(got.unwrap(), None);

        let over = encode(&[b'c'; 65]);
        let got = read_request(&mut &over[..], 16, 64, async { Some(1u8) }).await;
        assert!(matches!(
            got,
            Err(ReadError::Frame(FrameError::TooLarge { len: 65, max: 64 }))
        ));
        let cut = &large[..20];
        let got = read_request(&mut &cut[..], 16, 64, async { Some(1u8) }).await;
        assert!(matches!(got, Err(ReadError::Truncated)));
        let got = read_request(&mut &[][..], 16, 64, async { Some(1u8) }).await;
        assert!(matches!(got, Ok(None)));
    }
}
