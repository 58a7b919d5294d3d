//! The loopback gateway: thumbnails, photos and videos for the add-on's pages over HTTP on
//! 127.0.0.1, behind a random token per start, with `Range` requests. Only verified bytes
//! leave it: a complete file is re-hashed chunk by chunk as it is read, and a file still
//! arriving is served from the chunks already verified (the fetcher is asked for the others
//! first). A request without the token or with a foreign `Host` header is refused.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Frame;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::store::LocalItem;
use crate::transfer::live::LivePart;
use crate::transfer::manifest::{chunk_count, chunk_len, Hash, CHUNK_SIZE};
use crate::transfer::overlay::Patch;
use kith_proto::hash::sha256;

/// What a gateway request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// A thumbnail by its hash (hex).
    Thumb(String),
    /// An item's full content by its ID (hex).
    Item(kith_proto::ids::ItemId),
}

/// What the node answers.
pub enum Answer {
    /// The thumbnail (already checked against its hash).
    Thumb(Vec<u8>),
    /// A complete file here, with its chunk hashes.
    File {
        /// The file.
        item: LocalItem,
        /// Its chunk hashes.
        hashes: Vec<Hash>,
        /// Its name in the album.
        name: String,
    },
    /// A file still arriving.
    Live {
        /// What is verified of it so far.
        part: Arc<LivePart>,
        /// Its name in the album.
        name: String,
    },
    /// Being got: ask again shortly.
    Wait,
    /// Not here and not to be had.
    Missing(String),
}

/// Asks the node about a request.
pub type Ask = Arc<dyn Fn(Want) -> oneshot::Receiver<Answer> + Send + Sync>;

/// Most connections served at once.
const MAX_CONNECTIONS: usize = 128;
/// How long a request waits for content being got.
const WAIT: Duration = Duration::from_secs(30);
/// Most ranges in one request (more are answered with the whole content).
const MAX_RANGES: usize = 16;

/// Most add-on origins remembered (the newest are kept).
const MAX_ORIGINS: usize = 4;

/// A running gateway.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The secret path prefix of this start.
    pub token: String,
    /// The add-on origins told by `addon_origin` (shared with the serving task).
    origins: Arc<std::sync::RwLock<Vec<String>>>,
}

impl Gateway {
    /// The base URL the add-on puts in front of `thumb/HASH` and `item/ID`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/{}/", self.port, self.token)
    }

    /// Admits an add-on origin (checked for form by the caller); the newest few are kept.
    pub fn allow_origin(&self, origin: &str) {
        let mut o = self.origins.write().unwrap_or_else(|p| p.into_inner());
        o.retain(|x| x != origin);
        o.push(origin.to_string());
        let extra = o.len().saturating_sub(MAX_ORIGINS);
        o.drain(..extra);
    }

    /// Whether pages of `origin` may load from the gateway: an origin the add-on told, or
    /// the Chromium build's pinned one.
    fn admits(&self, origin: &[u8]) -> bool {
        let pinned = format!(
            "chrome-extension://{}",
            kith_proto::api::CHROMIUM_EXTENSION_ID
        );
        origin == pinned.as_bytes()
            || self
                .origins
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .any(|o| o.as_bytes() == origin)
    }
}

/// Starts the gateway on a free port of 127.0.0.1.
pub async fn start(ask: Ask) -> std::io::Result<(Gateway, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let gw = Gateway {
        port: listener.local_addr()?.port(),
        token: kith_proto::album::hex(&rand::random::<[u8; 16]>()),
        origins: Arc::default(),
    };
    let ctx = Arc::new(Ctx {
        gw: gw.clone(),
        ask,
    });
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                continue; // too many: drop the connection
            };
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let ctx = ctx.clone();
                    async move { Ok::<_, Infallible>(ctx.handle(req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
                let _ = conn.await;
                drop(slot);
            });
        }
    });
    Ok((gw, task))
}

/// Ranges asked for, resolved against the content's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// No (usable) `Range` header: the whole content.
    Whole,
    /// These inclusive byte ranges.
    Parts(Vec<(u64, u64)>),
    /// None of them overlaps the content.
    Unsatisfiable,
}

/// Resolves a `Range` header against a size (RFC 9110 §14): a malformed header is ignored,
/// ranges past the end are dropped, and when none is left the request cannot be satisfied.
pub fn parse_range(header: Option<&str>, size: u64) -> Ranges {
    let Some(h) = header else {
        return Ranges::Whole;
    };
    let Some(spec) = h
        .trim()
        .get(..6)
        .filter(|u| u.eq_ignore_ascii_case("bytes="))
        .map(|_| &h.trim()[6..])
    else {
        return Ranges::Whole;
    };
    let mut parts = Vec::new();
    let mut asked = 0;
    for r in spec.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        asked += 1;
        if asked > MAX_RANGES {
            return Ranges::Whole;
        }
        let Some((a, b)) = r.split_once('-') else {
            return Ranges::Whole;
        };
        let num = |s: &str| -> Option<u64> {
            (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        if a.is_empty() {
            let Some(n) = num(b) else {
                return Ranges::Whole;
            };
            if n > 0 && size > 0 {
                parts.push((size.saturating_sub(n), size - 1));
            }
            continue;
        }
        let Some(start) = num(a) else {
            return Ranges::Whole;
        };
        let end = if b.is_empty() {
            u64::MAX
        } else {
            match num(b) {
                Some(e) if e >= start => e,
                _ => return Ranges::Whole,
            }
        };
        if start < size {
            parts.push((start, end.min(size - 1)));
        }
    }
    if asked == 0 {
        Ranges::Whole
    } else if parts.is_empty() {
        Ranges::Unsatisfiable
    } else {
        Ranges::Parts(parts)
    }
}

/// Where verified bytes come from.
#[derive(Clone)]
enum Source {
    Memory(Bytes),
    File {
        file: Arc<std::fs::File>,
        hashes: Arc<Vec<Hash>>,
        size: u64,
        /// Laid over the bytes read (see `transfer::overlay`).
        patches: Arc<Vec<Patch>>,
    },
    Live {
        file: Arc<std::fs::File>,
        part: Arc<LivePart>,
    },
}

impl Source {
    fn size(&self) -> u64 {
        match self {
            Source::Memory(b) => b.len() as u64,
            Source::File { size, .. } => *size,
            Source::Live { part, .. } => part.size,
        }
    }

    /// Chunk `i`, verified.
    async fn chunk(&self, i: u64) -> Result<Bytes, String> {
        let size = self.size();
        match self {
            Source::Memory(b) => {
                let from = (i * CHUNK_SIZE) as usize;
                Ok(b.slice(from..(from + chunk_len(size, i) as usize).min(b.len())))
            }
            Source::File {
                file,
                hashes,
                patches,
                ..
            } => {
                let want = hashes.get(i as usize).copied();
                let buf = read_chunk(file, size, i, patches.clone()).await?;
                if Some(sha256(&buf)) != want {
                    return Err(format!("chunk {i} changed on disk"));
                }
                Ok(buf)
            }
            Source::Live { file, part } => {
                let mut changes = part.watch();
                let deadline = Instant::now() + WAIT * 2;
                while !part.has(i) {
                    if part.ended() {
                        return Err("the download stopped".into());
                    }
                    part.want(i);
                    let left = deadline.saturating_duration_since(Instant::now());
                    match tokio::time::timeout(left, changes.changed()).await {
                        Ok(Ok(())) => {}
                        _ => return Err("timed out waiting for the download".into()),
                    }
                }
                read_chunk(file, size, i, Arc::new(Vec::new())).await
            }
        }
    }
}

/// Reads chunk `i` of a file of `size` bytes on a blocking thread, `patches` laid over it.
async fn read_chunk(
    file: &Arc<std::fs::File>,
    size: u64,
    i: u64,
    patches: Arc<Vec<Patch>>,
) -> Result<Bytes, String> {
    let file = file.clone();
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; chunk_len(size, i) as usize];
        crate::platform::read_exact_at(&file, &mut buf, i * CHUNK_SIZE)
            .map_err(|e| e.to_string())?;
        crate::transfer::overlay::apply(&mut buf, i * CHUNK_SIZE, &patches);
        Ok(Bytes::from(buf))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// A response body: all at once, or streamed from a task.
pub enum Body {
    /// Bytes in hand.
    Full(Option<Bytes>),
    /// Bytes as a task produces them.
    Stream(mpsc::Receiver<Result<Bytes, std::io::Error>>),
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data))),
        }
    }
}

struct Ctx {
    gw: Gateway,
    ask: Ask,
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Body::Full(Some(Bytes::from(format!("{text}\n")))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Compares two strings in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

impl Ctx {
    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Body> {
        // A page that names its origin is one of the add-on's, or it gets nothing.
        let origin = req.headers().get(header::ORIGIN).cloned();
        let admitted = origin.as_ref().is_none_or(|o| self.gw.admits(o.as_bytes()));
        let mut r = if admitted {
            self.route(&req).await
        } else {
            plain(StatusCode::FORBIDDEN, "origin not allowed")
        };
        let h = r.headers_mut();
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        // Never a document that runs anything, even if opened directly.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox; default-src 'none'"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        // The add-on's pages may read what they load (a video frame drawn on a canvas).
        if let Some(o) = origin.filter(|_| admitted) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        }
        r
    }

    async fn route(&self, req: &Request<hyper::body::Incoming>) -> Response<Body> {
        let host_ok = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| {
                h == format!("127.0.0.1:{}", self.gw.port)
                    || h == format!("localhost:{}", self.gw.port)
            });
        if !host_ok {
            return plain(StatusCode::FORBIDDEN, "wrong host");
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
        }
        let mut seg = req.uri().path().split('/').skip(1);
        let (Some(token), Some(kind), Some(id), None) =
            (seg.next(), seg.next(), seg.next(), seg.next())
        else {
            return plain(StatusCode::NOT_FOUND, "no such path");
        };
        if !same_secret(token, &self.gw.token) {
            return plain(StatusCode::FORBIDDEN, "wrong token");
        }
        let id = id.to_ascii_lowercase();
        if kith_proto::album::unhex32(&id).is_none() {
            return plain(StatusCode::NOT_FOUND, "no such item");
        }
        let want = match kind {
            "thumb" => Want::Thumb(id.clone()),
            "item" => Want::Item(id.as_str().into()),
            _ => return plain(StatusCode::NOT_FOUND, "no such path"),
        };
        let deadline = Instant::now() + WAIT;
        let (source, name) = loop {
            let Ok(answer) = (self.ask)(want.clone()).await else {
                return plain(StatusCode::SERVICE_UNAVAILABLE, "the node is stopping");
            };
            match answer {
                Answer::Thumb(b) => {
                    break (Source::Memory(Bytes::from(b)), "thumb.jpg".to_string())
                }
                Answer::File { item, hashes, name } => {
                    let size = item.size;
                    match std::fs::File::open(&item.path) {
                        Ok(f) if chunk_count(size) as usize == hashes.len() => {
                            let hashes = Arc::new(hashes);
                            break (
                                Source::File {
                                    file: Arc::new(f),
                                    hashes,
                                    size,
                                    patches: Arc::new(item.patches),
                                },
                                name,
                            );
                        }
                        _ => return plain(StatusCode::GONE, "the file is gone"),
                    }
                }
                Answer::Live { part, name } => match std::fs::File::open(&part.path) {
                    Ok(f) => {
                        break (
                            Source::Live {
                                file: Arc::new(f),
                                part,
                            },
                            name,
                        )
                    }
                    // Just renamed into place: the next answer is the complete file.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                },
                Answer::Wait if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Answer::Wait => return plain(StatusCode::GATEWAY_TIMEOUT, "not available yet"),
                Answer::Missing(why) => return plain(StatusCode::NOT_FOUND, &why),
            }
        };
        respond(req, source, &id, &name)
    }
}

/// Builds the response for the ranges asked of a source.
fn respond(
    req: &Request<hyper::body::Incoming>,
    source: Source,
    id: &str,
    name: &str,
) -> Response<Body> {
    let size = source.size();
    let ctype = crate::media::content_type(name);
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok());
    let mut resp = Response::new(Body::Full(None));
    let h = resp.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // Content-addressed: a URL's bytes never change.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{id}\"")) {
        h.insert(header::ETAG, v);
    }
    if ctype == "application/octet-stream" {
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment"),
        );
    }
    let (parts, partial): (Vec<(u64, u64)>, bool) = match parse_range(range, size) {
        Ranges::Unsatisfiable => {
            let mut r = plain(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
        Ranges::Whole => {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
            h.insert(header::CONTENT_LENGTH, size.into());
            if size == 0 {
                return resp;
            }
            (vec![(0, size - 1)], false)
        }
        Ranges::Parts(p) => {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            (p, true)
        }
    };
    // One range: its bytes. Several: multipart/byteranges with a header before each.
    let mut pieces: Vec<(Option<Bytes>, (u64, u64))> = Vec::new();
    let mut tail = None;
    let h = resp.headers_mut();
    if !partial {
        pieces.push((None, parts[0]));
    } else if parts.len() == 1 {
        let (a, b) = parts[0];
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{size}")) {
            h.insert(header::CONTENT_RANGE, v);
        }
        h.insert(header::CONTENT_LENGTH, (b - a + 1).into());
        pieces.push((None, (a, b)));
    } else {
        let boundary = kith_proto::album::hex(&rand::random::<[u8; 12]>());
        if let Ok(v) = HeaderValue::from_str(&format!("multipart/byteranges; boundary={boundary}"))
        {
            h.insert(header::CONTENT_TYPE, v);
        }
        let mut total = 0u64;
        for (k, &(a, b)) in parts.iter().enumerate() {
            let lead = if k == 0 { "" } else { "\r\n" };
            let head = format!(
                "{lead}--{boundary}\r\nContent-Type: {ctype}\r\nContent-Range: bytes {a}-{b}/{size}\r\n\r\n"
            );
            total += head.len() as u64 + (b - a + 1);
            pieces.push((Some(Bytes::from(head)), (a, b)));
        }
        let end = format!("\r\n--{boundary}--\r\n");
        total += end.len() as u64;
        tail = Some(Bytes::from(end));
        h.insert(header::CONTENT_LENGTH, total.into());
    }
    if req.method() == Method::HEAD {
        return resp;
    }
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        for (head, (a, b)) in pieces {
            if let Some(head) = head {
                if tx.send(Ok(head)).await.is_err() {
                    return;
                }
            }
            for c in a / CHUNK_SIZE..=b / CHUNK_SIZE {
                let bytes = match source.chunk(c).await {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!("gateway stopped a response: {e}");
                        let _ = tx.send(Err(std::io::Error::other(e))).await;
                        return;
                    }
                };
                let base = c * CHUNK_SIZE;
                let from = (a.max(base) - base) as usize;
                let to = ((b + 1).min(base + bytes.len() as u64) - base) as usize;
                if tx.send(Ok(bytes.slice(from..to))).await.is_err() {
                    return; // the browser went away (a seek, a closed tab)
                }
            }
        }
        if let Some(t) = tail {
            let _ = tx.send(Ok(t)).await;
        }
    });
    *resp.body_mut() = Body::Stream(rx);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_like_rfc_9110() {
        use Ranges::*;
        assert_eq!(parse_range(None, 100), Whole);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Parts(vec![(0, 9)]));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Parts(vec![(90, 99)]));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Parts(vec![(90, 99)]));
        assert_eq!(parse_range(Some("bytes=-500"), 100), Parts(vec![(0, 99)]));
        assert_eq!(
            parse_range(Some("bytes=50-5000"), 100),
            Parts(vec![(50, 99)])
        );
        assert_eq!(
            parse_range(Some("bytes=0-0, -1"), 100),
            Parts(vec![(0, 0), (99, 99)])
        );
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(
            parse_range(Some("bytes=200-300, 5-6"), 100),
            Parts(vec![(5, 6)])
        );
        // Malformed: ignored, the whole content is sent.
        for bad in [
            "bytes=9-1",
            "items=0-1",
            "bytes=a-b",
            "bytes=1",
            "bytes=--1",
            "bytes=+1-2",
        ] {
            assert_eq!(parse_range(Some(bad), 100), Whole, "{bad}");
        }
        let many = format!("bytes={}", vec!["0-0"; MAX_RANGES + 1].join(","));
        assert_eq!(parse_range(Some(&many), 100), Whole);
    }
}
