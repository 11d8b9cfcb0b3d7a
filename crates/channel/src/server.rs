//! The named server rendezvous (Unix): a [`Listener`] on a Unix-domain socket path gives every
//! client that calls [`Channel::connect`] a channel of its own. Many clients → one server is
//! how shmring serves many producers without a shared multi-producer ring (DESIGN §5).
//!
//! The socket carries only the handshake (docs/LAYOUT.md §14): for each connection the server
//! checks that the client runs as our user, creates a sealed anonymous channel, and sends one
//! 16-byte message, `SHMRSRV\x01` + the channel id, with the segment fd attached
//! (`SCM_RIGHTS`). The client checks that the server runs as our user, verifies the fd exactly
//! as an inherited one ([`Channel::from_fd`]: seals, size, header), checks the channel id
//! (before claiming anything) and attaches as side B. Then the connection closes: liveness comes from the pids (the server watches the
//! client's pid from the socket's credentials where the OS reports it), as for every channel.
//!
//! Everything read from the socket is checked: a message of another length or magic, no fd or
//! more than one, a truncated control message, or a channel whose id differs is refused with
//! [`OpenError::Incompatible`], and any fd that came with it is closed.
//!
//! Windows has no `SCM_RIGHTS`; a named-pipe server with handle duplication is not written yet
//! (this module is Unix only).

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

use shmring_segment::Segment;

use crate::shared::{Shared, CHANNEL_KIND};
use crate::{Channel, ChannelOptions, CreateError, OpenError};

/// The first 8 bytes of the server's handshake message (then the channel id, little-endian).
pub const HANDSHAKE_MAGIC: [u8; 8] = *b"SHMRSRV\x01";
/// Length of the handshake message.
pub const HANDSHAKE_LEN: usize = 16;

/// Why [`Listener::accept`] did not produce a channel.
#[derive(Debug)]
pub enum AcceptError {
    /// The listening socket failed (or, when non-blocking, has no client waiting:
    /// `ErrorKind::WouldBlock`). Other kinds mean the listener is unusable.
    Listener(io::Error),
    /// One client was refused (another user: `PermissionDenied`) or went away during the
    /// handshake; the listener is fine, keep accepting.
    Client(io::Error),
    /// The channel for a client could not be created (e.g. memory limits); the client's
    /// connection was closed.
    Create(CreateError),
}

impl std::fmt::Display for AcceptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AcceptError::Listener(e) => write!(f, "the listening socket failed: {e}"),
            AcceptError::Client(e) => write!(f, "a client was not served: {e}"),
            AcceptError::Create(e) => write!(f, "cannot create a channel for a client: {e}"),
        }
    }
}

impl std::error::Error for AcceptError {}

/// A server that hands each connecting client a channel of its own. Dropping it removes the
/// socket file (if it is still the one we bound).
pub struct Listener {
    socket: UnixListener,
    path: PathBuf,
    /// (device, inode) of the socket file we bound, so we never remove someone else's.
    identity: (u64, u64),
    options: ChannelOptions,
    /// Linux: an abstract socket named after `path`, held for the listener's life: only one
    /// server of our user at a time may prepare or hold `path` (see `path_lock`). Dropped after
    /// `Drop` removed the socket file.
    #[cfg(target_os = "linux")]
    _lock: Option<UnixListener>,
}

impl Listener {
    /// Listens on the Unix-domain socket `path` (mode 0600); each accepted client gets a
    /// channel with `options`. A socket file left by a server that is gone (nobody accepts on
    /// it) is replaced; a live one is `AddrInUse`.
    ///
    /// # Errors
    /// `AddrInUse` when another server listens at `path` or `path` is not a socket of ours;
    /// `InvalidInput` for a path too long for a socket address (about 100 bytes); OS errors.
    pub fn bind(path: impl AsRef<Path>, options: &ChannelOptions) -> io::Result<Listener> {
        let path = path.as_ref().to_path_buf();
        // Taken before the stale check: two servers starting on one stale path cannot both
        // decide it is stale and remove each other's new socket.
        #[cfg(target_os = "linux")]
        let lock = path_lock(&path)?;
        let socket = match UnixListener::bind(&path) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                remove_stale_socket(&path)?;
                UnixListener::bind(&path)?
            }
            result => result?,
        };
        // Connecting needs write permission on the socket file: owner only. A client that
        // connects before this is still refused at accept (its uid is checked).
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let meta = std::fs::symlink_metadata(&path)?;
        Ok(Listener {
            socket,
            path,
            identity: (meta.dev(), meta.ino()),
            options: *options,
            #[cfg(target_os = "linux")]
            _lock: lock,
        })
    }

    /// The socket path clients connect to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes [`accept`](Self::accept) return `AcceptError::Listener(WouldBlock)` instead of
    /// waiting when no client is waiting (for event loops that poll [`AsFd`]).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.socket.set_nonblocking(nonblocking)
    }

    /// Waits for a client and hands it a new channel; returns this side (A) of it. The
    /// client's pid, where the OS reports it, is watched as the peer.
    pub fn accept(&self) -> Result<Channel, AcceptError> {
        let (stream, _) = self.socket.accept().map_err(|e| match e.raw_os_error() {
            // The connection died in the queue: that client's problem, not the listener's.
            Some(libc::ECONNABORTED | libc::EPROTO) => AcceptError::Client(e),
            _ => AcceptError::Listener(e),
        })?;
        // Accepted sockets may inherit non-blocking mode on some systems; the handshake is one
        // small send on a fresh connection.
        stream.set_nonblocking(false).map_err(AcceptError::Client)?;
        // A client that already hung up (it gave up while waiting in the queue) costs no
        // channel: checked without waiting before one is created.
        if hung_up(stream.as_fd()) {
            return Err(AcceptError::Client(io::Error::new(io::ErrorKind::ConnectionAborted, "the client hung up")));
        }
        let peer = peer_credentials(&stream).map_err(AcceptError::Client)?;
        if peer.uid != nix::unistd::geteuid().as_raw() {
            return Err(AcceptError::Client(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("refused a client running as uid {} (only our own user is served)", peer.uid),
            )));
        }
        let channel = Channel::create_with(&self.options).map_err(AcceptError::Create)?;
        if let Some(pid) = peer.pid {
            channel.watch_peer(pid);
        }
        let fd = channel.share_fd().map_err(|e| AcceptError::Create(CreateError::Os(e)))?;
        let mut message = [0u8; HANDSHAKE_LEN];
        message[..8].copy_from_slice(&HANDSHAKE_MAGIC);
        message[8..].copy_from_slice(&channel.id().to_le_bytes());
        send_with_fd(&stream, &message, &fd).map_err(AcceptError::Client)?;
        // Until the client attaches: its hang-up before then (a timeout, an abort, a crash of
        // its handshake) ends this channel as a dead peer instead of leaving it waiting.
        channel.sender_shared().hold_handshake(stream.into());
        Ok(channel)
    }
}

impl AsFd for Listener {
    /// The listening socket: readable when a client is waiting.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Only our own socket file: another server may have replaced it since.
        if std::fs::symlink_metadata(&self.path).is_ok_and(|meta| (meta.dev(), meta.ino()) == self.identity) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").field("path", &self.path).finish_non_exhaustive()
    }
}

/// A connection to a [`Listener`] whose channel has not arrived yet: for callers that wait for
/// the server's answer themselves (an event loop polls [`AsFd`] and calls
/// [`finish`](Self::finish)). [`Channel::connect`] does both steps, blocking.
pub struct Connection {
    stream: UnixStream,
    path: PathBuf,
}

impl Connection {
    /// Connects to the socket at `path` and checks that the server runs as our user. Never
    /// waits: not for the server's answer, and not when its queue of waiting clients is full
    /// (then `WouldBlock`: retry). The connection is left non-blocking.
    ///
    /// # Errors
    /// As [`Channel::connect`], with `WouldBlock` instead of `TimedOut`, without the
    /// handshake's errors.
    pub fn start(path: impl AsRef<Path>) -> Result<Connection, OpenError> {
        let path = path.as_ref().to_path_buf();
        let stream = connect_nonblocking(&path).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock => OpenError::Os(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("the server at {} is not accepting connections (its queue is full); retry", path.display()),
            )),
            _ => OpenError::Os(e),
        })?;
        let server = peer_credentials(&stream).map_err(OpenError::Os)?;
        if server.uid != nix::unistd::geteuid().as_raw() {
            return Err(OpenError::Os(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("the server at {} runs as uid {}, not as our user", path.display(), server.uid),
            )));
        }
        Ok(Connection { stream, path })
    }

    /// Makes [`finish`](Self::finish) return `Ok(None)` instead of waiting while the answer has
    /// not arrived.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.stream.set_nonblocking(nonblocking)
    }

    /// Waits at most `timeout` in [`finish`](Self::finish) (blocking mode).
    pub fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
    }

    /// Receives the server's answer and attaches (as side B) to the channel it carries.
    /// `Ok(None)`: not arrived yet (non-blocking mode) — call again when readable. Once it
    /// returned a channel or an error, the connection is spent.
    ///
    /// # Errors
    /// `OpenError::Os` with `TimedOut` (blocking mode, after the timeout);
    /// [`OpenError::Incompatible`] when the answer is not a shmring handshake; every error of
    /// [`Channel::from_fd`].
    pub fn finish(&self) -> Result<Option<Channel>, OpenError> {
        let Some((message, fd)) = receive_with_fd(&self.stream, &self.path)? else { return Ok(None) };
        if message[..8] != HANDSHAKE_MAGIC {
            return Err(incompatible(&self.path, "its answer is not a shmring server handshake"));
        }
        let id = u64::from_le_bytes(message[8..].try_into().unwrap_or_default());
        // The id is checked before side B is claimed: a wrong channel is left untouched.
        let segment = Segment::from_fd(fd, CHANNEL_KIND)?;
        let (shared, ends) = Shared::attach(segment, Some(id))?;
        Ok(Some(Channel::assemble(shared, ends)))
    }
}

impl AsFd for Connection {
    /// The connection: readable when the server's answer arrived.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Channel {
    /// Connects to the [`Listener`] at `path` and attaches (as side B) to the channel it
    /// creates for us. Waits at most `timeout` for the server's answer.
    ///
    /// # Errors
    /// `OpenError::Os` with `NotFound` (no socket at `path`), `ConnectionRefused` (nobody
    /// listens there), `TimedOut`, `PermissionDenied` (the socket or its server belongs to
    /// another user); [`OpenError::Incompatible`] when the server's answer is not a shmring
    /// handshake; every error of [`Channel::from_fd`].
    pub fn connect(path: impl AsRef<Path>, timeout: Duration) -> Result<Channel, OpenError> {
        let deadline = std::time::Instant::now() + timeout;
        let connection = loop {
            match Connection::start(path.as_ref()) {
                Err(OpenError::Os(e))
                    if e.kind() == io::ErrorKind::WouldBlock && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(OpenError::Os(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(OpenError::Os(io::Error::new(io::ErrorKind::TimedOut, e.to_string())));
                }
                result => break result?,
            }
        };
        connection.set_nonblocking(false).map_err(OpenError::Os)?;
        connection.set_timeout(deadline.saturating_duration_since(std::time::Instant::now())).map_err(OpenError::Os)?;
        match connection.finish()? {
            Some(channel) => Ok(channel),
            None => Err(OpenError::Os(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the server at {} did not answer in time", connection.path.display()),
            ))),
        }
    }
}

fn incompatible(path: &Path, why: &str) -> OpenError {
    OpenError::Incompatible(format!("the server at {}: {why}", path.display()))
}

/// Linux: binds (and listens on) the abstract socket `shmring-listen:<FNV-1a of the absolute
/// path>`, which exists only while its process holds it (no file, gone with the process): a
/// second server of our user for the same path gets `AddrInUse`. The name hash is fixed, so
/// every shmring build agrees. Abstract names have no permissions: a name held by another user
/// (or by something that does not answer) is a squatter, not a server of ours, and is ignored
/// (`None`: no lock, as on other systems) rather than letting it block us.
#[cfg(target_os = "linux")]
fn path_lock(path: &Path) -> io::Result<Option<UnixListener>> {
    use std::os::linux::net::SocketAddrExt;
    let file =
        path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the socket path names no file"))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.canonicalize()?,
        _ => std::env::current_dir()?,
    };
    let absolute = dir.join(file);
    let hash = std::os::unix::ffi::OsStrExt::as_bytes(absolute.as_os_str())
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let address = std::os::unix::net::SocketAddr::from_abstract_name(format!("shmring-listen:{hash:016x}"))?;
    match UnixListener::bind_addr(&address) {
        Ok(lock) => Ok(Some(lock)),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            let ours = UnixStream::connect_addr(&address)
                .and_then(|holder| peer_credentials(&holder))
                .is_ok_and(|holder| holder.uid == nix::unistd::geteuid().as_raw());
            if ours {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another shmring server listens (or is starting) on {}", path.display()),
                ));
            }
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A socket file at `path` that nobody accepts on is removed, if it is a socket of ours.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let in_use = |why: &str| io::Error::new(io::ErrorKind::AddrInUse, format!("{} {why}", path.display()));
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_socket() || meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(in_use("exists and is not a socket of ours"));
    }
    // Non-blocking: a live server with a full queue answers `WouldBlock` (Linux) instead of
    // making us wait. (macOS refuses such a connection outright, so there a live server whose
    // queue is full looks stale: docs/DECISIONS.md §23.)
    match connect_nonblocking(path) {
        Ok(_) => Err(in_use("has a server listening")),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(in_use("has a server listening")),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path),
        Err(e) => Err(e),
    }
}

/// A connection to the socket at `path` made without waiting: `WouldBlock` when the server's
/// queue of waiting clients is full. The stream is non-blocking and close-on-exec.
fn connect_nonblocking(path: &Path) -> io::Result<UnixStream> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    // Close-on-exec from the start where the OS can (a concurrent fork + exec elsewhere in the
    // process must not inherit it, or the server would never see us hang up).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let fd = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)?;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let fd = {
        use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
        let fd = socket(AddressFamily::Unix, SockType::Stream, SockFlag::empty(), None)?;
        fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
        fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        fd
    };
    let address = UnixAddr::new(path)?;
    loop {
        match connect(fd.as_raw_fd(), &address) {
            Err(nix::errno::Errno::EINTR) => continue,
            // A Unix-domain connect completes at once or not at all; EINPROGRESS would be a
            // queue-full wait on systems that report it so.
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINPROGRESS) => {
                return Err(io::Error::from(io::ErrorKind::WouldBlock))
            }
            result => result?,
        }
        return Ok(UnixStream::from(fd));
    }
}

/// Whether the other end of the connection `socket` closed (readable at EOF, or an error),
/// without waiting. Used where the peer never sends anything: the server's look at a client
/// before it creates a channel, and `Shared::handshake_abandoned`.
pub(crate) fn hung_up(socket: BorrowedFd<'_>) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(socket, PollFlags::POLLIN)];
    if !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0) {
        return false;
    }
    let mut byte = [0u8; 1];
    match nix::sys::socket::recv(socket.as_raw_fd(), &mut byte, MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT) {
        Ok(0) => true,
        Ok(_) | Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => false,
        Err(_) => true,
    }
}

/// Who is at the other end of a connected Unix socket.
struct PeerCredentials {
    uid: u32,
    /// Where the OS reports it (Linux, macOS); untrusted beyond being a pid to watch.
    pid: Option<u32>,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn peer_credentials(stream: &UnixStream) -> io::Result<PeerCredentials> {
    let credentials = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)?;
    Ok(PeerCredentials { uid: credentials.uid(), pid: u32::try_from(credentials.pid()).ok().filter(|&pid| pid > 0) })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn peer_credentials(stream: &UnixStream) -> io::Result<PeerCredentials> {
    let (uid, _gid) = nix::unistd::getpeereid(stream)?;
    #[cfg(target_vendor = "apple")]
    let pid = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::LocalPeerPid)
        .ok()
        .and_then(|pid| u32::try_from(pid).ok())
        .filter(|&pid| pid > 0);
    #[cfg(not(target_vendor = "apple"))]
    let pid = None;
    Ok(PeerCredentials { uid: uid.as_raw(), pid })
}

fn send_with_fd(stream: &UnixStream, message: &[u8], fd: &OwnedFd) -> io::Result<()> {
    let fds = [fd.as_raw_fd()];
    // A client that went away must not kill us with SIGPIPE (Linux; elsewhere Rust and Node
    // ignore SIGPIPE).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = MsgFlags::MSG_NOSIGNAL;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let flags = MsgFlags::empty();
    let sent =
        sendmsg::<()>(stream.as_raw_fd(), &[IoSlice::new(message)], &[ControlMessage::ScmRights(&fds)], flags, None)?;
    if sent != message.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "the handshake was cut short"));
    }
    Ok(())
}

/// Receives the handshake: exactly `HANDSHAKE_LEN` bytes and exactly one fd; `Ok(None)` when
/// nothing arrived yet (non-blocking mode, or the blocking timeout passed). Every fd that
/// arrives is owned (and so closed) before anything is checked.
fn receive_with_fd(stream: &UnixStream, path: &Path) -> Result<Option<([u8; HANDSHAKE_LEN], OwnedFd)>, OpenError> {
    // One byte more than the message, to notice a longer one.
    let mut message = [0u8; HANDSHAKE_LEN + 1];
    // Room for as many fds as one message can carry on Linux (SCM_MAX_FD = 253), so a hostile
    // server cannot truncate the control data there and leave fds we never saw open. (Where a
    // message may carry more, fds beyond 253 in a truncated message are not closed: nix cannot
    // walk truncated control data.)
    let mut control = nix::cmsg_space!([RawFd; 253]);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = MsgFlags::MSG_CMSG_CLOEXEC;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let flags = MsgFlags::empty();
    let mut iov = [IoSliceMut::new(&mut message)];
    let received = loop {
        match recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut control), flags) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(nix::errno::Errno::EAGAIN) => return Ok(None),
            result => break result.map_err(|e| OpenError::Os(e.into()))?,
        }
    };
    let mut fds = Vec::new();
    for cmsg in received.cmsgs().map_err(|e| OpenError::Os(e.into()))? {
        if let ControlMessageOwned::ScmRights(raw) = cmsg {
            // SAFETY: the kernel just installed these fds in this process for us; nothing else
            // owns them, so each is wrapped (and thereby closed on every path) exactly once.
            fds.extend(raw.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    let (bytes, truncated) = (received.bytes, received.flags.contains(MsgFlags::MSG_CTRUNC));
    if bytes == 0 && fds.is_empty() {
        return Err(incompatible(path, "it closed the connection without a channel"));
    }
    if bytes != HANDSHAKE_LEN || truncated || fds.len() != 1 {
        return Err(incompatible(path, &format!("its answer has {bytes} bytes and {} fds", fds.len())));
    }
    let fd = fds.pop().ok_or_else(|| incompatible(path, "no fd"))?;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))
        .map_err(|e| OpenError::Os(e.into()))?;
    let mut out = [0u8; HANDSHAKE_LEN];
    out.copy_from_slice(&message[..HANDSHAKE_LEN]);
    Ok(Some((out, fd)))
}
