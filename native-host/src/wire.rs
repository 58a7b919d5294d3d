//! Async reading and writing of length-prefixed frames (see [`crate::proto::frame`]).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::proto::frame::{check_len, encode, FrameError};

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
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, ReadError> {
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
    match check_len(prefix, max) {
        Ok(len) => {
            let mut buf = vec![0u8; len];
            r.read_exact(&mut buf).await.map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => ReadError::Truncated,
                _ => ReadError::Io(e),
            })?;
            Ok(Some(buf))
        }
        Err(e @ FrameError::TooLarge { len, .. }) => {
            let skipped = tokio::io::copy(&mut r.take(len as u64), &mut tokio::io::sink()).await?;
            if skipped < len as u64 {
                return Err(ReadError::Truncated);
            }
            Err(e.into())
        }
        Err(e) => Err(e.into()),
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
    msg: &crate::proto::peer::PeerMsg,
) -> Result<(crate::proto::peer::PeerMsg, quinn::RecvStream), String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    write_frame(&mut send, &msg.to_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let _ = send.finish();
    let frame = read_frame(&mut recv, crate::proto::frame::MAX_FROM_PEER)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the peer closed the stream")?;
    let answer = crate::proto::peer::PeerMsg::from_bytes(&frame).map_err(|e| e.to_string())?;
    Ok((answer, recv))
}
