//! The control socket: how the CLI and the native host reach a running node.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use crate::api::{self, code, ApiError};
use crate::home::Home;
use crate::node::NodeHandle;
use crate::proto::frame::MAX_FROM_CLIENT;
use crate::wire::{read_frame, write_frame, ReadError};

/// Serves control clients until the listener fails.
pub async fn serve(listener: UnixListener, node: NodeHandle) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(client(stream, node.clone()));
            }
            Err(e) => {
                tracing::warn!("control socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn client(stream: UnixStream, node: NodeHandle) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let (out_tx, mut out_rx) = mpsc::channel::<Value>(64);
    let mut events = node.subscribe();
    let writer = tokio::spawn(async move {
        loop {
            let v = tokio::select! {
                v = out_rx.recv() => match v { Some(v) => v, None => break },
                ev = events.recv() => match ev {
                    Ok(ev) => serde_json::to_value(ev).unwrap_or(Value::Null),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => json!({"event": "lagged", "missed": n}),
                    Err(_) => break,
                },
            };
            let bytes = serde_json::to_vec(&v).unwrap_or_default();
            if write_frame(&mut wr, &bytes).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    loop {
        let frame = match read_frame(&mut rd, MAX_FROM_CLIENT).await {
            Ok(Some(f)) => f,
            Ok(None) | Err(ReadError::Truncated) | Err(ReadError::Io(_)) => break,
            Err(ReadError::Frame(e)) => {
                let c = match e {
                    crate::proto::frame::FrameError::Empty => code::BAD_FRAME,
                    _ => code::FRAME_TOO_LARGE,
                };
                let _ = out_tx
                    .send(api::err_reply(
                        &Value::Null,
                        &ApiError::new(c, e.to_string()),
                    ))
                    .await;
                continue;
            }
        };
        match api::parse_request(&frame) {
            Err((id, e)) => {
                let _ = out_tx.send(api::err_reply(&id, &e)).await;
            }
            Ok(req) => {
                let node = node.clone();
                let out = out_tx.clone();
                tokio::spawn(async move {
                    let r = node.call(req.cmd).await;
                    let _ = out.send(api::reply(&req.id, r)).await;
                });
            }
        }
    }
    drop(out_tx);
    let _ = writer.await;
}

/// A connection to a running node.
pub struct Client {
    stream: BufReader<UnixStream>,
    next_id: u64,
}

/// The error for "no node runs for this home".
pub fn no_node(home: &Home) -> ApiError {
    ApiError::new(
        code::NO_NODE,
        format!(
            "no Kith node is running for {}; start one with: kith serve --home {}",
            home.dir.display(),
            home.dir.display()
        ),
    )
}

impl Client {
    /// Connects to the home's node.
    pub async fn connect(home: &Home) -> Result<Client, ApiError> {
        Self::connect_path(&home.socket_path())
            .await
            .map_err(|_| no_node(home))
    }

    /// Connects to a socket path.
    pub async fn connect_path(path: &Path) -> std::io::Result<Client> {
        let s = UnixStream::connect(path).await?;
        Ok(Client {
            stream: BufReader::new(s),
            next_id: 1,
        })
    }

    /// Sends a command (a JSON object with `cmd`) and waits for its reply, skipping events.
    pub async fn call(&mut self, cmd: Value) -> Result<Value, ApiError> {
        self.call_with_events(cmd, |_| {}).await
    }

    /// Sends a command and waits for its reply, passing every event that arrives meanwhile.
    pub async fn call_with_events(
        &mut self,
        mut cmd: Value,
        mut on_event: impl FnMut(&Value),
    ) -> Result<Value, ApiError> {
        let id = self.next_id;
        self.next_id += 1;
        cmd["id"] = json!(id);
        let lost = || ApiError::new(code::NO_NODE, "the node closed the connection");
        write_frame(
            self.stream.get_mut(),
            &serde_json::to_vec(&cmd).map_err(ApiError::internal)?,
        )
        .await
        .map_err(|_| lost())?;
        loop {
            let frame = read_frame(&mut self.stream, MAX_FROM_CLIENT)
                .await
                .map_err(|_| lost())?
                .ok_or_else(lost)?;
            let v: Value = serde_json::from_slice(&frame).map_err(ApiError::internal)?;
            if v.get("event").is_some() {
                on_event(&v);
                continue;
            }
            if v.get("id") != Some(&json!(id)) {
                continue;
            }
            return if v["ok"] == json!(true) {
                Ok(v["result"].clone())
            } else {
                Err(serde_json::from_value(v["error"].clone())
                    .unwrap_or_else(|_| ApiError::internal("bad reply")))
            };
        }
    }

    /// Gives up the stream, for relaying raw frames.
    pub fn into_inner(self) -> UnixStream {
        self.stream.into_inner()
    }
}
