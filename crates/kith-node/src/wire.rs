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
