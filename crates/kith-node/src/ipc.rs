//! The control channel's transport, one per platform: on unix a socket whose peers are
//! checked by their credentials; on Windows a named pipe, per home, whose security
//! descriptor admits only this user. The node listens with [`Listener`]; clients (the CLI,
//! the native host, the tests) reach it with [`connect`]. What flows over it is `wire`'s.

use crate::home::Home;

/// A client's connection to a node.
#[cfg(unix)]
pub type Stream = tokio::net::UnixStream;
/// A client's connection to a node.
#[cfg(windows)]
pub type Stream = tokio::net::windows::named_pipe::NamedPipeClient;

/// The node's side of one client's connection.
#[cfg(unix)]
pub type ServerStream = tokio::net::UnixStream;
/// The node's side of one client's connection.
#[cfg(windows)]
pub type ServerStream = tokio::net::windows::named_pipe::NamedPipeServer;

#[cfg(unix)]
pub use unix::{connect, Listener};
#[cfg(windows)]
pub use windows::{connect, pipe_name, user_sid, Listener};

/// The security descriptor (SDDL) of a home's control pipe: a protected DACL (nothing
/// inherited) with one entry, all access for the user `sid`. Everyone else — other users,
/// administrators, services, anonymous — has no entry and so no access.
pub fn pipe_sddl(sid: &str) -> String {
    format!("D:P(A;;GA;;;{sid})")
}

#[cfg(unix)]
mod unix {
    use super::{Home, ServerStream, Stream};
    use anyhow::Context;
    use std::path::PathBuf;

    /// The node's control socket.
    pub struct Listener {
        inner: tokio::net::UnixListener,
        path: PathBuf,
    }

    impl Listener {
        /// Creates the home's control socket (mode 0600 from the start) in a private folder;
        /// a stale socket is replaced (the caller holds the home's lock).
        pub fn bind(home: &Home) -> anyhow::Result<Listener> {
            let path = home.socket_path();
            if let Some(parent) = path.parent() {
                crate::home::create_private_dir(parent)?;
                if parent != home.dir {
                    // A folder outside the home (the runtime or temporary folder's) must be private.
                    crate::home::check_private_dir(parent)
                        .context("refusing the control socket's folder")?;
                }
            }
            let _ = std::fs::remove_file(&path); // stale: we hold the lock, so no node uses it
                                                 // The umask makes the socket 0600 from the moment it exists.
                                                 // SAFETY: umask only changes this process's file-creation mask.
            let old = unsafe { libc::umask(0o177) };
            let l = tokio::net::UnixListener::bind(&path);
            unsafe { libc::umask(old) };
            let inner =
                l.with_context(|| format!("cannot create the control socket {}", path.display()))?;
            Ok(Listener { inner, path })
        }

        /// The next client of this user; a client of another user (by the socket's peer
        /// credentials) is dropped unanswered.
        pub async fn accept(&mut self) -> std::io::Result<ServerStream> {
            loop {
                let (stream, _) = self.inner.accept().await?;
                match stream.peer_cred() {
                    Ok(c) if c.uid() == crate::home::my_uid() => return Ok(stream),
                    Ok(c) => {
                        tracing::warn!(uid = c.uid(), "control socket: a client of another user")
                    }
                    Err(e) => tracing::warn!("control socket: no peer credentials: {e}"),
                }
            }
        }
    }

    impl Drop for Listener {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// Connects to the home's node; PermissionDenied when the socket is served by another user.
    pub async fn connect(home: &Home) -> std::io::Result<Stream> {
        let path = home.socket_path();
        let s = Stream::connect(&path).await?;
        // The node answering must be this user's own (its socket's peer credentials).
        let owner = s.peer_cred()?.uid();
        if owner != crate::home::my_uid() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "the control socket {} is served by user {owner}, not by you",
                    path.display()
                ),
            ));
        }
        Ok(s)
    }
}

#[cfg(windows)]
mod windows {
    use super::{Home, ServerStream, Stream};
    use anyhow::Context;
    use std::ffi::c_void;
    use std::io;
    use std::os::windows::io::AsRawHandle;
    use std::time::{Duration, Instant};
    use tokio::net::windows::named_pipe::{ClientOptions, ServerOptions};
    use windows_sys::Win32::Foundation::{CloseHandle, LocalFree, ERROR_PIPE_BUSY, HANDLE};
    use windows_sys::Win32::Security::Authorization::{
        ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW,
        SDDL_REVISION_1,
    };
    use windows_sys::Win32::Security::{
        GetTokenInformation, TokenUser, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES, TOKEN_QUERY,
        TOKEN_USER,
    };
    use windows_sys::Win32::System::Pipes::GetNamedPipeServerProcessId;
    use windows_sys::Win32::System::Threading::{
        GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
    };

    /// The home's pipe: `\\.\pipe\kith-` and 16 hex digits of SHA-256 of the home's path.
    pub fn pipe_name(home: &Home) -> String {
        let tag = data_encoding::HEXLOWER
            .encode(&kith_proto::hash::sha256(home.dir.as_os_str().as_encoded_bytes())[..8]);
        format!(r"\\.\pipe\kith-{tag}")
    }

    /// A security descriptor made from SDDL, freed on drop.
    struct Descriptor(PSECURITY_DESCRIPTOR);

    // SAFETY: the descriptor is memory this value alone owns; it is only read after creation.
    unsafe impl Send for Descriptor {}
    unsafe impl Sync for Descriptor {}

    impl Descriptor {
        fn from_sddl(sddl: &str) -> io::Result<Descriptor> {
            let wide: Vec<u16> = sddl.encode_utf16().chain(Some(0)).collect();
            let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
            // SAFETY: a NUL-terminated string and a valid out-pointer; a null size pointer is allowed.
            let ok = unsafe {
                ConvertStringSecurityDescriptorToSecurityDescriptorW(
                    wide.as_ptr(),
                    SDDL_REVISION_1,
                    &mut sd,
                    std::ptr::null_mut(),
                )
            };
            if ok == 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Descriptor(sd))
        }
    }

    impl Drop for Descriptor {
        fn drop(&mut self) {
            // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
            unsafe { LocalFree(self.0) };
        }
    }

    /// Whether Windows accepts an SDDL string (for tests).
    #[cfg(test)]
    pub(super) fn check_sddl(sddl: &str) -> io::Result<()> {
        Descriptor::from_sddl(sddl).map(drop)
    }

    /// Closes a handle on drop.
    struct Owned(HANDLE);

    impl Drop for Owned {
        fn drop(&mut self) {
            // SAFETY: a handle this value opened and alone closes.
            unsafe { CloseHandle(self.0) };
        }
    }

    /// The user SID (`S-1-5-…`) of a process's token.
    fn process_user(process: HANDLE) -> io::Result<String> {
        let mut token: HANDLE = std::ptr::null_mut();
        // SAFETY: a process handle with query rights and a valid out-pointer.
        if unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut token) } == 0 {
            return Err(io::Error::last_os_error());
        }
        let token = Owned(token);
        let mut buf = vec![0u64; 64]; // 512 bytes, 8-aligned: TOKEN_USER and its SID
        let mut len = 0u32;
        // SAFETY: the buffer is writable for the length given.
        let ok = unsafe {
            GetTokenInformation(
                token.0,
                TokenUser,
                buf.as_mut_ptr().cast(),
                (buf.len() * 8) as u32,
                &mut len,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: GetTokenInformation wrote a TOKEN_USER at the start of the buffer.
        let sid = unsafe { (*buf.as_ptr().cast::<TOKEN_USER>()).User.Sid };
        let mut text: *mut u16 = std::ptr::null_mut();
        // SAFETY: a SID inside the live buffer and a valid out-pointer.
        if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: ConvertSidToStringSidW gives a NUL-terminated string, freed with LocalFree.
        let s = unsafe {
            let n = (0..).take_while(|&i| *text.add(i) != 0).count();
            let s = String::from_utf16_lossy(std::slice::from_raw_parts(text, n));
            LocalFree(text.cast());
            s
        };
        Ok(s)
    }

    /// This process's user SID.
    pub fn user_sid() -> io::Result<String> {
        // SAFETY: the pseudo-handle of this process needs no closing.
        process_user(unsafe { GetCurrentProcess() })
    }

    /// The node's control pipe: one instance waits for the next client.
    pub struct Listener {
        name: String,
        descriptor: Descriptor,
        next: ServerStream,
    }

    impl Listener {
        /// Creates the home's pipe, admitting only this user; fails when the pipe exists
        /// already (another node for this home, or someone squatting the name).
        pub fn bind(home: &Home) -> anyhow::Result<Listener> {
            let name = pipe_name(home);
            let descriptor = Descriptor::from_sddl(&super::pipe_sddl(&user_sid()?))
                .context("building the control pipe's security descriptor")?;
            let next = create(&name, &descriptor, true)
                .with_context(|| format!("cannot create the control pipe {name}"))?;
            Ok(Listener {
                name,
                descriptor,
                next,
            })
        }

        /// The next client (the pipe's descriptor has already refused other users).
        pub async fn accept(&mut self) -> io::Result<ServerStream> {
            self.next.connect().await?;
            let fresh = create(&self.name, &self.descriptor, false)?;
            Ok(std::mem::replace(&mut self.next, fresh))
        }
    }

    fn create(name: &str, d: &Descriptor, first: bool) -> io::Result<ServerStream> {
        let mut attrs = SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: d.0,
            bInheritHandle: 0,
        };
        // SAFETY: attrs is a valid SECURITY_ATTRIBUTES whose descriptor outlives the call.
        unsafe {
            ServerOptions::new()
                .first_pipe_instance(first)
                .reject_remote_clients(true)
                .create_with_security_attributes_raw(
                    name,
                    (&mut attrs as *mut SECURITY_ATTRIBUTES).cast::<c_void>(),
                )
        }
    }

    /// Connects to the home's node (waiting briefly while every instance is busy);
    /// PermissionDenied when the pipe is served by a process of another user.
    pub async fn connect(home: &Home) -> io::Result<Stream> {
        let name = pipe_name(home);
        let start = Instant::now();
        let client = loop {
            match ClientOptions::new().open(&name) {
                Ok(c) => break c,
                Err(e)
                    if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32)
                        && start.elapsed() < Duration::from_secs(5) =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => return Err(e),
            }
        };
        let mut pid = 0u32;
        // SAFETY: a live pipe handle and a valid out-pointer.
        if unsafe { GetNamedPipeServerProcessId(client.as_raw_handle(), &mut pid) } == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: OpenProcess has no preconditions; a null handle is an error.
        let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
        if process.is_null() {
            return Err(io::Error::last_os_error());
        }
        let process = Owned(process);
        let owner = process_user(process.0)?;
        if owner != user_sid()? {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("the control pipe {name} is served by user {owner}, not by you"),
            ));
        }
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipe_admits_only_its_user_and_inherits_nothing() {
        let sid = "S-1-5-21-1-2-3-1001";
        let sddl = pipe_sddl(sid);
        // A DACL ("D:"), protected from inheritance ("P"), with exactly one entry: allow ("A")
        // generic all ("GA") to this user's SID, so no group, no Everyone (WD), no anonymous.
        assert_eq!(sddl, "D:P(A;;GA;;;S-1-5-21-1-2-3-1001)");
        assert_eq!(sddl.matches('(').count(), 1);
        for other in ["WD", "AN", "BA", "SY", "AU", "OW"] {
            assert!(!sddl.contains(&format!(";{other})")), "{other} is admitted");
        }
    }

    #[cfg(windows)]
    #[test]
    fn the_pipe_descriptor_of_this_user_is_accepted_by_windows() {
        let sid = user_sid().unwrap();
        assert!(sid.starts_with("S-1-"), "{sid}");
        windows::check_sddl(&pipe_sddl(&sid)).unwrap();
    }

    #[cfg(windows)]
    #[test]
    fn a_home_has_one_pipe_and_another_home_another() {
        let a = Home {
            dir: "C:\\Users\\ann\\kith".into(),
        };
        let b = Home {
            dir: "C:\\Users\\bo\\kith".into(),
        };
        assert!(pipe_name(&a).starts_with(r"\\.\pipe\kith-"));
        assert_eq!(pipe_name(&a), pipe_name(&a.clone()));
        assert_ne!(pipe_name(&a), pipe_name(&b));
    }

    #[cfg(windows)]
    #[tokio::test]
    async fn a_client_reaches_the_listener_of_its_home_and_finds_none_for_another() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let home = Home {
            dir: dir.path().to_path_buf(),
        };
        // (A second `bind` fails on Windows by FILE_FLAG_FIRST_PIPE_INSTANCE, but Wine does
        // not enforce that flag, so it is not asserted here; the home's lock file keeps a
        // second node out first, see friends.rs `one_node_per_home_and_stop_ends_it`.)
        let mut first = Listener::bind(&home).unwrap();
        let server = tokio::spawn(async move {
            let mut s = first.accept().await.unwrap();
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await.unwrap();
            s.write_all(&b).await.unwrap();
            first
        });
        let mut c = connect(&home).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut b = [0u8; 4];
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"ping");
        drop(server.await.unwrap());
        let other = Home {
            dir: dir.path().join("other"),
        };
        assert!(connect(&other).await.is_err(), "no node runs for that home");
    }
}
