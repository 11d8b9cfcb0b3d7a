//! A duplex shared-memory channel between two processes: one segment, a lock-free ring per
//! priority lane and direction, and a control block for wake-ups, closing and liveness.
//!
//! ```
//! use shmring_channel::{Channel, Priority};
//!
//! // Side A creates the channel; side B attaches to it (normally in another process, from an
//! // inherited fd or a name; here from a duplicate of the fd, in the same process).
//! let mut a = Channel::create()?;
//! # #[cfg(unix)] {
//! let mut b = Channel::from_fd(a.share_fd()?)?;
//! a.send(b"ping", None)?;
//! assert_eq!(b.recv()?, b"ping");
//! b.try_send_with(b"urgent", Priority::Critical)?;
//! assert_eq!(a.recv()?, b"urgent");
//! a.close();
//! assert!(matches!(b.recv(), Err(shmring_channel::ChannelError::PeerClosed)));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Guarantees
//! * **Zero system calls on the fast path**: `try_send`/`try_recv` touch only shared memory;
//!   a wake system call is made only when the other side is asleep.
//! * **Idle costs nothing**: a blocked `recv` spins briefly (adaptive, ≤ 20 µs) and then
//!   sleeps on a futex-like word. On Linux the peer's exit is signalled by a process-wide
//!   watcher thread (pidfds in one `epoll`), so a sleeper wakes only for data, room, close,
//!   death, its deadline or a 5 s backstop; elsewhere (or before the peer's pid is known) it wakes every
//!   [`LIVENESS_SLICE`] to check that the peer process is alive.
//! * **Ordered, complete end of stream**: after the peer closes (or dies), every message it
//!   published is delivered, then `PeerClosed` (`PeerDead`). A half-written message is never
//!   delivered.
//! * **Hostile peers**: anything the peer writes into the shared memory yields data or
//!   [`ChannelError::Corrupt`] (which closes the channel), never a panic or undefined behaviour.
//!
//! # API map
//! * Set-up: [`Channel::create`], [`Channel::create_with`], [`Channel::create_named`],
//!   [`Channel::open_named`], `Channel::from_fd` / `Channel::from_parent` /
//!   `Channel::pass_to_child` (Unix: an inherited fd), `Channel::from_handle` /
//!   `Channel::share_handle` and the same `from_parent` / `pass_to_child` (Windows: the child
//!   duplicates the parent's section handle, see `rendezvous.rs`), [`ChannelOptions`].
//! * A server for many clients (Unix): `Listener::bind` / `Listener::accept` and
//!   `Channel::connect`, each client with a channel of its own (`server.rs`).
//! * Sending: `try_send`, `try_send_with` ([`Priority`]), `try_send_batch`, `send`, `send_with`.
//! * Receiving: `try_recv`, `try_recv_into`, `try_recv_with` (zero-copy visit), `recv_batch`,
//!   `recv`, `recv_timeout`, `recv_deadline`, `wait_readable`.
//! * Halves for two threads: [`Channel::split`] → [`Sender`] + [`Receiver`].
//! * Errors: [`ChannelError`], [`CreateError`], [`OpenError`].
//!
//! The byte layout (segment header, control block, rings, records) is specified in
//! docs/LAYOUT.md.

mod control;
mod error;
pub mod layout;
mod liveness;
mod receiver;
// Used on Windows only; compiled everywhere so that its parsing is tested everywhere.
#[cfg_attr(not(windows), allow(dead_code))]
mod rendezvous;
mod sender;
#[cfg(unix)]
mod server;
mod shared;
mod watch;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use control::Side;
pub use error::{ChannelError, CreateError, OpenError};
pub use receiver::{Receiver, FAIRNESS_PERIOD};
pub use sender::Sender;
#[cfg(unix)]
pub use server::{AcceptError, Connection, Listener, HANDSHAKE_LEN, HANDSHAKE_MAGIC};
pub use shared::CHANNEL_KIND;
pub use shmring_ring::Record;
pub use shmring_wait::{ParkResult, Spinner};
pub use watch::{DataWatch, Readiness, RoomWatch};

use layout::Capacities;
use shared::Shared;
use shmring_segment::{Segment, SegmentName};

/// How often a blocked call checks that the peer process is alive.
pub const LIVENESS_SLICE: Duration = shared::LIVENESS_SLICE;

/// Environment variable through which a parent tells a child which inherited fd holds its
/// channel (see `Channel::pass_to_child` and `Channel::from_parent`; Unix).
pub const FD_ENV: &str = "SHMRING_CHANNEL_FD";

/// Environment variable through which a parent tells a child where to duplicate its
/// channel's section handle from: `<parent pid>:<handle value>:<channel id>` (see
/// `Channel::pass_to_child` and `Channel::from_parent`; Windows, where Node's `spawn` cannot
/// pass a handle, so the child pulls it with `DuplicateHandle`).
pub const HANDLE_ENV: &str = "SHMRING_CHANNEL_HANDLE";

/// Makes `command`'s child inherit `fd` as fd number `child_fd` (≥ 3) and names that number in
/// the environment variable `env` (e.g. [`FD_ENV`]). `fd` stays open as long as `command`.
#[cfg(unix)]
pub fn inherit_fd(
    command: &mut std::process::Command,
    fd: std::os::fd::OwnedFd,
    child_fd: i32,
    env: &str,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    if child_fd < 3 {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "child_fd must be 3 or more"));
    }
    command.env(env, child_fd.to_string());
    // SAFETY: the closure runs in the forked child before exec and calls only dup2 and fcntl,
    // which are async-signal-safe; it allocates nothing. `fd` is moved into the closure, so it
    // stays open as long as `command` does.
    unsafe {
        command.pre_exec(move || {
            let source = fd.as_raw_fd();
            if source == child_fd {
                let flags = libc::fcntl(source, libc::F_GETFD);
                if flags == -1 || libc::fcntl(source, libc::F_SETFD, flags & !libc::FD_CLOEXEC) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(source, child_fd) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    Ok(())
}

/// The lane a message travels on. Each has its own ring, so a flood on one lane never
/// blocks another; receivers serve higher lanes first (see [`FAIRNESS_PERIOD`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// Control messages that must overtake everything else.
    Critical = 0,
    /// Latency-sensitive traffic.
    High = 1,
    /// Bulk traffic; the default.
    Normal = 2,
}

impl Priority {
    /// Every lane, highest first.
    pub const ALL: [Priority; 3] = [Priority::Critical, Priority::High, Priority::Normal];
}

/// Sizes of a new channel's rings (each direction gets the same). Each lane accepts messages
/// up to half its capacity minus 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelOptions {
    /// Bytes of the normal lane, a power of two in 4 KiB..=1 GiB. Default 4 MiB (messages up to 2 MiB - 8).
    pub capacity: usize,
    /// Bytes of the high lane. Default 256 KiB.
    pub high_capacity: usize,
    /// Bytes of the critical lane. Default 64 KiB.
    pub critical_capacity: usize,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        ChannelOptions { capacity: 4 << 20, high_capacity: 256 << 10, critical_capacity: 64 << 10 }
    }
}

impl ChannelOptions {
    fn capacities(&self) -> Capacities {
        Capacities { lanes: [self.critical_capacity, self.high_capacity, self.capacity] }
    }
}

/// One side of a duplex channel: a [`Sender`] and a [`Receiver`] sharing one mapping.
#[derive(Debug)]
pub struct Channel {
    sender: Sender,
    receiver: Receiver,
}

impl Channel {
    /// Creates an anonymous channel with default sizes; this process is side A. Share it with
    /// `share_fd`/`pass_to_child` (Unix).
    pub fn create() -> Result<Channel, CreateError> {
        Channel::create_with(&ChannelOptions::default())
    }

    /// Creates an anonymous channel with the given sizes.
    pub fn create_with(options: &ChannelOptions) -> Result<Channel, CreateError> {
        let (shared, ends) = Shared::create(options.capacities(), |len| Segment::create(CHANNEL_KIND, len))?;
        Ok(Channel::assemble(shared, ends))
    }

    /// Creates a channel under `name` (owner-only, never opening an existing one) for a peer
    /// that finds it with [`open_named`](Self::open_named). The name is removed when this
    /// side is dropped. Named segments are the last-resort rendezvous: see docs/DECISIONS.md.
    pub fn create_named(name: &str, options: &ChannelOptions) -> Result<Channel, CreateError> {
        let name = SegmentName::new(name).map_err(CreateError::InvalidName)?;
        let (shared, ends) =
            Shared::create(options.capacities(), |len| Segment::create_named(&name, CHANNEL_KIND, len))?;
        Ok(Channel::assemble(shared, ends))
    }

    /// Attaches as side B to the channel created under `name`.
    pub fn open_named(name: &str) -> Result<Channel, OpenError> {
        let name = SegmentName::new(name).map_err(OpenError::InvalidName)?;
        let segment = Segment::open_named(&name, CHANNEL_KIND)?;
        let (shared, ends) = Shared::attach(segment, None)?;
        Ok(Channel::assemble(shared, ends))
    }

    /// Attaches as side B to the channel whose segment fd was received from the creator
    /// (inherited or passed over a Unix socket). The fd's seals and size are verified before
    /// it is mapped.
    #[cfg(unix)]
    pub fn from_fd(fd: std::os::fd::OwnedFd) -> Result<Channel, OpenError> {
        let segment = Segment::from_fd(fd, CHANNEL_KIND)?;
        let (shared, ends) = Shared::attach(segment, None)?;
        Ok(Channel::assemble(shared, ends))
    }

    /// Attaches as side B to the channel whose segment handle was received from the creator
    /// (duplicated into this process with `DuplicateHandle`, or inherited). The whole section
    /// is mapped and its committed length and header are verified; the wake objects are opened
    /// by the names the creator derived from the channel's id (Windows).
    #[cfg(windows)]
    pub fn from_handle(handle: std::os::windows::io::OwnedHandle) -> Result<Channel, OpenError> {
        let segment = Segment::from_handle(handle, CHANNEL_KIND)?;
        let (shared, ends) = Shared::attach(segment, None)?;
        Ok(Channel::assemble(shared, ends))
    }

    /// Attaches to the channel a parent passed with `pass_to_child` (or Node's `spawn`
    /// helper): the fd number is in the [`FD_ENV`] environment variable. The parent process
    /// (`getppid()`) is watched as the peer. On success the inherited fd is closed (the
    /// channel keeps its own duplicate); on failure it is left alone, since a stale variable
    /// may name an fd that belongs to something else.
    #[cfg(unix)]
    pub fn from_parent() -> Result<Channel, OpenError> {
        let invalid = |why: String| OpenError::Os(std::io::Error::new(std::io::ErrorKind::InvalidInput, why));
        let value = std::env::var(FD_ENV)
            .map_err(|_| invalid(format!("{FD_ENV} is not set: was this process started with a channel?")))?;
        let fd: i32 = value.trim().parse().map_err(|_| invalid(format!("{FD_ENV}={value:?} is not an fd number")))?;
        let channel = Channel::from_borrowed_fd(fd)?;
        // SAFETY: getppid has no preconditions.
        channel.watch_peer(unsafe { libc::getppid() } as u32);
        // SAFETY: the fd was inherited for the channel alone and is now duplicated inside it;
        // closing our copy keeps later children from inheriting it.
        unsafe { libc::close(fd) };
        Ok(channel)
    }

    /// Attaches to the channel a parent passed with `pass_to_child` (or Node's `spawn`
    /// helper): [`HANDLE_ENV`] names the parent and its section handle, which is duplicated
    /// into this process; the parent (whose pid the variable gives, and which started us) is
    /// watched as the peer (Windows).
    #[cfg(windows)]
    pub fn from_parent() -> Result<Channel, OpenError> {
        let value = std::env::var(HANDLE_ENV).map_err(|_| {
            OpenError::Os(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{HANDLE_ENV} is not set: was this process started with a channel?"),
            ))
        })?;
        Channel::from_parent_handle(&value)
    }

    /// [`from_parent`](Self::from_parent) with the value of [`HANDLE_ENV`] given (for
    /// runtimes that keep their own copy of the environment, like Node) (Windows).
    #[cfg(windows)]
    pub fn from_parent_handle(value: &str) -> Result<Channel, OpenError> {
        let parent = rendezvous::ParentHandle::parse(value).map_err(OpenError::Os)?;
        let handle = rendezvous::duplicate_from(&parent).map_err(OpenError::Os)?;
        let segment = Segment::from_handle(handle, CHANNEL_KIND)?;
        let (shared, ends) = Shared::attach(segment, Some(parent.channel_id))?;
        let channel = Channel::assemble(shared, ends);
        channel.watch_peer(parent.pid);
        Ok(channel)
    }

    /// Attaches as side B to the channel whose segment is the open fd `fd`, which the caller
    /// keeps (and closes): the channel duplicates it. Fds 0–2 are refused.
    #[cfg(unix)]
    pub fn from_borrowed_fd(fd: i32) -> Result<Channel, OpenError> {
        use std::os::fd::BorrowedFd;
        let invalid = |why: String| OpenError::Os(std::io::Error::new(std::io::ErrorKind::InvalidInput, why));
        if fd <= 2 {
            return Err(invalid(format!("fd {fd} is standard input, output or error, not a channel")));
        }
        // SAFETY: F_GETFD only inspects the descriptor table entry.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            return Err(invalid(format!("fd {fd} is not an open file descriptor in this process")));
        }
        // SAFETY: `fd` is open (checked just above) and only borrowed for the duplication.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let owned = borrowed.try_clone_to_owned().map_err(OpenError::Os)?;
        Channel::from_fd(owned)
    }

    /// Watches process `pid` as the peer (e.g. the child's pid from `spawn`), instead of the
    /// pid the peer writes into shared memory, which is untrusted and unknown until it
    /// attaches: with it, a peer that dies before attaching is noticed too. No effect once a
    /// peer process is being watched.
    pub fn watch_peer(&self, pid: u32) {
        self.sender_shared().watch_peer(pid);
    }

    /// A new fd for the channel's segment (close-on-exec), to pass to the peer over a Unix
    /// socket or to [`from_fd`](Self::from_fd).
    #[cfg(unix)]
    pub fn share_fd(&self) -> std::io::Result<std::os::fd::OwnedFd> {
        use std::os::fd::AsFd;
        self.sender_shared().segment.as_fd().try_clone_to_owned()
    }

    /// A new handle to the channel's segment (not inheritable), to duplicate into the peer
    /// process or to pass to [`from_handle`](Self::from_handle) (Windows).
    #[cfg(windows)]
    pub fn share_handle(&self) -> std::io::Result<std::os::windows::io::OwnedHandle> {
        use std::os::windows::io::AsHandle;
        self.sender_shared().segment.as_handle().try_clone_to_owned()
    }

    /// The value of [`HANDLE_ENV`] for a child of this process: where it duplicates the
    /// channel's section handle from. Valid while this channel is open (Windows).
    #[cfg(windows)]
    pub fn handle_for_child(&self) -> String {
        use std::os::windows::io::{AsHandle, AsRawHandle};
        let shared = self.sender_shared();
        let handle = shared.segment.as_handle().as_raw_handle() as usize;
        rendezvous::ParentHandle { pid: std::process::id(), handle, channel_id: shared.channel_id }.encode()
    }

    /// Sets [`HANDLE_ENV`] for `command`'s child, so that it attaches with
    /// [`from_parent`](Self::from_parent) while this channel is open (Windows; there is no
    /// fd number to choose, unlike the Unix form). Call `watch_peer(child.id())` after spawning.
    #[cfg(windows)]
    pub fn pass_to_child(&self, command: &mut std::process::Command) -> std::io::Result<()> {
        command.env(HANDLE_ENV, self.handle_for_child());
        Ok(())
    }

    /// Makes `command`'s child inherit the segment as fd `child_fd` (≥ 3) and sets
    /// [`FD_ENV`], so that the child attaches with [`from_parent`](Self::from_parent).
    #[cfg(unix)]
    pub fn pass_to_child(&self, command: &mut std::process::Command, child_fd: i32) -> std::io::Result<()> {
        // Note: the caller should `watch_peer(child.id())` after spawning, so that a child that
        // dies before attaching is noticed.
        inherit_fd(command, self.share_fd()?, child_fd, FD_ENV)
    }

    fn assemble(shared: Shared, ends: shared::Ends) -> Channel {
        let shared = Arc::new(shared);
        Channel {
            sender: Sender::new(ends.producers, Arc::clone(&shared)),
            receiver: Receiver::new(ends.consumers, shared),
        }
    }

    pub(crate) fn sender_shared(&self) -> &std::sync::Arc<Shared> {
        self.sender.shared()
    }

    /// Splits the channel into halves that can live on different threads.
    pub fn split(self) -> (Sender, Receiver) {
        (self.sender, self.receiver)
    }

    /// The random id the creator gave this channel: the same on both sides (for logs; on
    /// Windows it also names the wake objects and checks the spawn rendezvous).
    pub fn id(&self) -> u64 {
        self.sender_shared().channel_id
    }

    /// Which side this process is.
    pub fn side(&self) -> Side {
        self.sender_shared().side
    }

    /// Whether the peer has attached (side B calls `from_fd`/`open_named`).
    pub fn is_peer_attached(&self) -> bool {
        self.sender_shared().peer_state() != control::NOT_ATTACHED
    }

    /// Waits up to `timeout` for the peer to attach (polling every millisecond: this happens
    /// once per channel). Returns whether it did.
    pub fn wait_for_peer(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.is_peer_attached() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// A watch another thread can sleep on until data probably waits (see [`DataWatch`]).
    pub fn data_watch(&self) -> DataWatch {
        DataWatch::new(Arc::clone(self.sender.shared_arc()))
    }

    /// A watch another thread can sleep on until room probably returns (see [`RoomWatch`]).
    pub fn room_watch(&self) -> RoomWatch {
        RoomWatch::new(Arc::clone(self.sender.shared_arc()))
    }

    /// Largest message the lane of `priority` accepts.
    pub fn max_message_len(&self, priority: Priority) -> usize {
        self.sender.max_message_len(priority)
    }

    /// The sending half.
    pub fn sender(&mut self) -> &mut Sender {
        &mut self.sender
    }

    /// The receiving half.
    pub fn receiver(&mut self) -> &mut Receiver {
        &mut self.receiver
    }

    /// See [`Sender::try_send`].
    #[inline]
    pub fn try_send(&mut self, data: &[u8]) -> Result<bool, ChannelError> {
        self.sender.try_send(data)
    }

    /// See [`Sender::try_send_with`].
    #[inline]
    pub fn try_send_with(&mut self, data: &[u8], priority: Priority) -> Result<bool, ChannelError> {
        self.sender.try_send_with(data, priority)
    }

    /// See [`Sender::try_send_batch`].
    pub fn try_send_batch<T: AsRef<[u8]>>(
        &mut self,
        messages: &[T],
        priority: Priority,
    ) -> Result<usize, ChannelError> {
        self.sender.try_send_batch(messages, priority)
    }

    /// See [`Sender::send`].
    pub fn send(&mut self, data: &[u8], timeout: Option<Duration>) -> Result<(), ChannelError> {
        self.sender.send(data, timeout)
    }

    /// See [`Sender::send_with`].
    pub fn send_with(
        &mut self,
        data: &[u8],
        priority: Priority,
        timeout: Option<Duration>,
    ) -> Result<(), ChannelError> {
        self.sender.send_with(data, priority, timeout)
    }

    /// See [`Receiver::try_recv`].
    #[inline]
    pub fn try_recv(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
        self.receiver.try_recv()
    }

    /// See [`Receiver::try_recv_into`].
    #[inline]
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ChannelError> {
        self.receiver.try_recv_into(buf)
    }

    /// See [`Receiver::try_recv_within`].
    #[inline]
    pub fn try_recv_within<R>(
        &mut self,
        max_len: usize,
        read: impl FnOnce(Record<'_>) -> R,
    ) -> Result<Option<R>, ChannelError> {
        self.receiver.try_recv_within(max_len, read)
    }

    /// See [`Receiver::try_recv_with`].
    #[inline]
    pub fn try_recv_with<R>(&mut self, read: impl FnOnce(Record<'_>) -> R) -> Result<Option<R>, ChannelError> {
        self.receiver.try_recv_with(read)
    }

    /// See [`Receiver::recv_batch`].
    pub fn recv_batch(&mut self, max: usize, visit: impl FnMut(Record<'_>)) -> Result<usize, ChannelError> {
        self.receiver.recv_batch(max, visit)
    }

    /// See [`Receiver::recv_batch_while`].
    pub fn recv_batch_while(
        &mut self,
        max: usize,
        take: impl FnMut(Record<'_>) -> bool,
    ) -> Result<usize, ChannelError> {
        self.receiver.recv_batch_while(max, take)
    }

    /// See [`Receiver::recv`].
    pub fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.receiver.recv()
    }

    /// See [`Receiver::recv_timeout`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>, ChannelError> {
        self.receiver.recv_timeout(timeout)
    }

    /// See [`Receiver::recv_deadline`].
    pub fn recv_deadline(&mut self, deadline: Option<Instant>) -> Result<Vec<u8>, ChannelError> {
        self.receiver.recv_deadline(deadline)
    }

    /// See [`Receiver::wait_readable`].
    pub fn wait_readable(&mut self, deadline: Option<Instant>) -> Result<ParkResult, ChannelError> {
        self.receiver.wait_readable(deadline)
    }

    /// Closes this side: the peer receives everything sent so far, then `PeerClosed`; calls
    /// on this side return `Closed`. Idempotent; also done on drop.
    pub fn close(&self) {
        self.sender.close();
    }
}
