//! The control channel's client: how the CLI, the native host and the demo reach a running
//! node (the node's side is `node/control.rs`; the transport, socket or pipe, is `ipc`).

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::io::BufReader;

use kith_node::home::Home;
use kith_node::ipc::Stream;
use kith_node::wire::{read_frame, write_frame};
use kith_proto::api::{ApiError, Command, ErrorCode};
use kith_proto::frame::MAX_FROM_CLIENT;

/// A connection to a running node.
pub struct Client {
    stream: BufReader<Stream>,
    next_id: u64,
}

/// The error for "no node runs for this home".
pub fn no_node(home: &Home) -> ApiError {
    ApiError::new(
        ErrorCode::NoNode,
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
        // The node answering must be this user's own (`ipc::connect` checks).
        let s = kith_node::ipc::connect(home)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::PermissionDenied => ApiError::new(ErrorCode::Io, e.to_string()),
                _ => no_node(home),
            })?;
        Ok(Client {
            stream: BufReader::new(s),
            next_id: 1,
        })
    }

    /// Sends a command and waits for its reply, skipping events.
    pub async fn call(&mut self, cmd: &Command) -> Result<Value, ApiError> {
        self.call_with_events(cmd, |_| {}).await
    }

    /// Sends a command and reads its reply as the typed value it is.
    pub async fn call_as<T: DeserializeOwned>(&mut self, cmd: &Command) -> Result<T, ApiError> {
        reply_as(self.call(cmd).await?)
    }

    /// Sends a command and waits for its reply, passing every event that arrives meanwhile.
    pub async fn call_with_events(
        &mut self,
        cmd: &Command,
        mut on_event: impl FnMut(&Value),
    ) -> Result<Value, ApiError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut cmd = serde_json::to_value(cmd).map_err(ApiError::internal)?;
        cmd["id"] = json!(id);
        let lost = || ApiError::new(ErrorCode::NoNode, "the node closed the connection");
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
    pub fn into_inner(self) -> Stream {
        self.stream.into_inner()
    }
}

/// A reply read as the typed value its command gives.
pub fn reply_as<T: DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    serde_json::from_value(v)
        .map_err(|e| ApiError::internal(format!("the node's reply has an unexpected shape: {e}")))
}
