//! The node's side of the control socket: each client's requests go to the actor, and its
//! replies and the node's events go back (the client is `control.rs`).

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::ipc::{Listener, ServerStream};
use crate::node::NodeHandle;
use crate::wire::{read_frame, write_frame, ReadError};
use kith_proto::api::{self, ApiError, ErrorCode};
use kith_proto::frame::MAX_FROM_CLIENT;

/// Serves control clients until the task ends; only this user's clients get through
/// (`ipc::Listener` drops or refuses the others).
pub async fn serve(mut listener: Listener, node: NodeHandle) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                tokio::spawn(client(stream, node.clone()));
            }
            Err(e) => {
                tracing::warn!("control socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn client(stream: ServerStream, node: NodeHandle) {
    let (rd, mut wr) = tokio::io::split(stream);
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
                    kith_proto::frame::FrameError::Empty => ErrorCode::BadFrame,
                    _ => ErrorCode::FrameTooLarge,
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
