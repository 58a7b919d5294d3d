//! The `settings` command's writer: one task that owns the saved settings, applies each
//! change in the order it came, creates the download folder and writes `config.json` on a
//! blocking thread, and only then hands the new settings to the actor. A change that fails
//! (a relative folder, a folder that cannot be made, a full disk) changes nothing.

use std::path::PathBuf;

use tokio::sync::mpsc;

use kith_proto::api::{ApiError, ErrorCode};

use super::{Msg, Reply};
use crate::home::{Config, Home};

/// One `settings` command's changes (None: keep).
#[derive(Debug, Default)]
pub(super) struct Change {
    pub upload_rate: Option<u64>,
    pub download_rate: Option<u64>,
    /// An absolute folder, or "" for the default.
    pub download_dir: Option<String>,
    pub help_friends: Option<bool>,
    pub relay_rate: Option<u64>,
    pub quota_albums: Option<u64>,
    pub quota_member_albums: Option<u64>,
    pub quota_thumb_bytes: Option<u64>,
}

impl Change {
    /// Applies the change to `cfg`; returns the folder to create, if one was set.
    fn apply(self, cfg: &mut Config) -> Result<Option<PathBuf>, ApiError> {
        let mut create = None;
        match self.download_dir.as_deref().map(str::trim) {
            None => {}
            Some("") => cfg.download_dir = None, // back to the default
            Some(d) => {
                let p = PathBuf::from(d);
                if !p.is_absolute() {
                    return Err(ApiError::new(
                        ErrorCode::BadRequest,
                        "the download folder must be an absolute path",
                    ));
                }
                cfg.download_dir = Some(p.clone());
                create = Some(p);
            }
        }
        if let Some(h) = self.help_friends {
            cfg.help_friends = h;
        }
        if let Some(r) = self.relay_rate {
            cfg.relay_rate = r;
        }
        if let Some(u) = self.upload_rate {
            cfg.upload_rate = u;
        }
        if let Some(d) = self.download_rate {
            cfg.download_rate = d;
        }
        if let Some(q) = self.quota_albums {
            cfg.quota_albums = q;
        }
        if let Some(q) = self.quota_member_albums {
            cfg.quota_member_albums = q;
        }
        if let Some(q) = self.quota_thumb_bytes {
            cfg.quota_thumb_bytes = q;
        }
        Ok(create)
    }

    fn is_empty(&self) -> bool {
        self.upload_rate.is_none()
            && self.download_rate.is_none()
            && self.download_dir.is_none()
            && self.help_friends.is_none()
            && self.relay_rate.is_none()
            && self.quota_albums.is_none()
            && self.quota_member_albums.is_none()
            && self.quota_thumb_bytes.is_none()
    }
}

/// Where `settings` commands go.
pub(super) type Writer = mpsc::UnboundedSender<(Change, Reply)>;

/// Starts the writer with the settings as saved now; it answers through the actor
/// (`Msg::ConfigSaved`), which then uses the new settings.
pub(super) fn start(home: Home, saved: Config, actor: mpsc::Sender<Msg>) -> Writer {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Change, Reply)>();
    tokio::spawn(async move {
        let mut saved = saved;
        while let Some((change, reply)) = rx.recv().await {
            let mut next = saved.clone();
            let written = if change.is_empty() {
                Ok(()) // a read: nothing to write
            } else {
                match change.apply(&mut next) {
                    Err(e) => Err(e),
                    Ok(create) => write(&home, &next, create).await,
                }
            };
            match written {
                Ok(()) => {
                    saved = next.clone();
                    let msg = Msg::ConfigSaved {
                        config: next,
                        reply,
                    };
                    if actor.send(msg).await.is_err() {
                        return; // the node is stopping
                    }
                }
                Err(e) => reply.send(Err(e)),
            }
        }
    });
    tx
}

/// Creates the folder (if any) and writes `config.json`, off the async threads.
async fn write(home: &Home, cfg: &Config, create: Option<PathBuf>) -> Result<(), ApiError> {
    let (home, cfg) = (home.clone(), cfg.clone());
    tokio::task::spawn_blocking(move || {
        if let Some(p) = create {
            std::fs::create_dir_all(&p)
                .map_err(|e| ApiError::new(ErrorCode::Io, format!("{}: {e}", p.display())))?;
        }
        home.save_config(&cfg)
            .map_err(|e| ApiError::new(ErrorCode::Io, format!("{e:#}")))
    })
    .await
    .map_err(ApiError::internal)?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn config() -> Config {
        serde_json::from_str(r#"{"name": "a", "port": 1}"#).unwrap()
    }

    #[test]
    fn a_relative_download_folder_is_refused_and_changes_nothing() {
        let mut cfg = config();
        let change = Change {
            upload_rate: Some(5),
            download_dir: Some("relative/dir".into()),
            ..Change::default()
        };
        let before = serde_json::to_value(&cfg).unwrap();
        let mut next = cfg.clone();
        assert!(change.apply(&mut next).is_err());
        assert_eq!(serde_json::to_value(&cfg).unwrap(), before);
        // An empty folder goes back to the default and creates nothing.
        cfg.download_dir = Some("/somewhere".into());
        let back = Change {
            download_dir: Some(" ".into()),
            ..Change::default()
        };
        assert_eq!(back.apply(&mut cfg).unwrap(), None);
        assert_eq!(cfg.download_dir, None);
    }
}
