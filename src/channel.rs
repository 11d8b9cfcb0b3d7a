//! `NativeChannel`: one side of a shmring channel, as the TypeScript layer (`lib/`) sees it.
//! Holds the core `Channel` and its doorbells; converts values; maps errors.

use napi::bindgen_prelude::{Env, Function};
use napi_derive::napi;
use shmring_channel::{Channel, ChannelError, ChannelOptions, Priority};

use crate::doorbell::{doorbell_spinner, Doorbell};
use crate::error::{error, from_channel, from_create, from_open, Code, Result};
#[cfg(target_os = "linux")]
use crate::loop_bell::{LoopBell, Watched};
use crate::table::{self, ChannelRef};

/// Sizes of a new channel's rings, in bytes (powers of two, 4 KiB to 1 GiB). A message may
/// use up to half of its lane.
#[napi(object)]
pub struct NativeChannelOptions {
    /// Normal lane (default 4 MiB).
    pub capacity: Option<u32>,
    /// High lane (default 256 KiB).
    pub high_capacity: Option<u32>,
    /// Critical lane (default 64 KiB).
    pub critical_capacity: Option<u32>,
}

/// What rings JavaScript when data (or room) appears: on Linux the event loop itself where it
/// can wait on futexes (`loop_bell.rs`, one wake-up), else a doorbell thread (`doorbell.rs`).
enum Waker {
    Thread(Doorbell),
    #[cfg(target_os = "linux")]
    Loop(crate::loop_bell::LoopBell),
}

impl Waker {
    fn arm(&self, token: [u64; 3]) {
        match self {
            Waker::Thread(bell) => bell.arm(token),
            #[cfg(target_os = "linux")]
            Waker::Loop(bell) => bell.arm(token),
        }
    }

    fn set_ref(&self, keep_alive: bool) {
        match self {
            Waker::Thread(bell) => bell.set_ref(keep_alive),
            #[cfg(target_os = "linux")]
            Waker::Loop(bell) => bell.set_ref(keep_alive),
        }
    }
}

/// One side of a channel. Methods throw errors with a `code` (`ERR_SHMRING_*`).
#[napi]
pub struct NativeChannel {
    // The doorbells wait on watches that hold their own reference to the shared memory, so
    // the order of teardown (`close_side`: channel, then doorbells) is free.
    data_bell: Option<Waker>,
    room_bell: Option<Waker>,
    room_watch: Option<std::sync::Arc<shmring_channel::RoomWatch>>,
    /// The handle the data-path functions use, and the channel itself.
    inner: Option<(u32, ChannelRef)>,
}

#[napi]
impl NativeChannel {
    /// Creates an anonymous channel; this process is side A.
    #[napi(factory)]
    pub fn create(options: Option<NativeChannelOptions>) -> Result<NativeChannel> {
        let channel = Channel::create_with(&core_options(options)).map_err(from_create)?;
        NativeChannel::wrap(channel)
    }

    /// Creates a channel under `name` (owner-only; fails with ERR_SHMRING_EXISTS if taken).
    #[napi(factory)]
    pub fn create_named(name: String, options: Option<NativeChannelOptions>) -> Result<NativeChannel> {
        let channel = Channel::create_named(&name, &core_options(options)).map_err(from_create)?;
        NativeChannel::wrap(channel)
    }

    /// Attaches as side B to the channel created under `name`.
    #[napi(factory)]
    pub fn open_named(name: String) -> Result<NativeChannel> {
        NativeChannel::wrap(Channel::open_named(&name).map_err(from_open)?)
    }

    /// Attaches as side B to the channel whose segment is the inherited or received `fd`.
    /// The channel keeps its own duplicate: the caller still owns `fd` and should close it.
    #[napi(factory)]
    pub fn from_fd(fd: i32) -> Result<NativeChannel> {
        NativeChannel::wrap(channel_from_fd(fd)?)
    }

    /// Windows: attaches as side B to the channel a parent named in `SHMRING_CHANNEL_HANDLE`
    /// (`value` is that variable): the parent's section handle is duplicated into this process
    /// and the parent is watched as the peer.
    #[napi(factory)]
    pub fn from_parent_handle(value: String) -> Result<NativeChannel> {
        NativeChannel::wrap(channel_from_parent_handle(&value)?)
    }

    /// Windows: the value of `SHMRING_CHANNEL_HANDLE` for a child process, which duplicates the
    /// segment's handle from this process while the channel is open.
    #[napi]
    pub fn handle_for_child(&self) -> Result<String> {
        self.with(|channel| handle_for_child(channel))
    }

    /// A new file descriptor for the segment, to hand to a child process (e.g. in `spawn`'s
    /// `stdio` array); close it in this process after spawning.
    #[napi]
    pub fn share_fd(&self) -> Result<i32> {
        self.with(|channel| share_fd(channel))
    }

    /// The handle to pass to the data-path functions (`channelTrySend`, `channelTryRecv`, …),
    /// which are much cheaper to call than methods. Any other number is refused.
    #[napi(getter)]
    pub fn handle(&self) -> Result<u32> {
        self.inner.as_ref().map(|(handle, _)| *handle).ok_or_else(closed)
    }

    /// Fill ratio of this side's outbound lane of `priority`, 0 to 1.
    #[napi]
    pub fn fill(&self, priority: u32) -> Result<f64> {
        let priority = to_priority(priority)?;
        self.with(|channel| channel.sender().fill(priority).map_err(from_channel))
    }

    /// Largest message the lane of `priority` accepts, in bytes.
    #[napi]
    pub fn max_message_len(&self, priority: u32) -> Result<u32> {
        let priority = to_priority(priority)?;
        self.with(|channel| Ok(channel.max_message_len(priority) as u32))
    }

    /// Whether a message is waiting, without taking it.
    #[napi]
    pub fn has_inbound(&self) -> Result<bool> {
        self.with(|channel| channel.receiver().has_message().map_err(from_channel))
    }

    /// Watches process `pid` (e.g. a spawned child's) as the peer, so that its death is noticed
    /// even before it attaches, and without trusting the pid it writes into shared memory.
    #[napi]
    pub fn watch_peer(&self, pid: u32) -> Result<()> {
        self.with(|channel| {
            channel.watch_peer(pid);
            Ok(())
        })
    }

    /// `"A"` for the creator, `"B"` for the side that attached.
    #[napi(getter)]
    pub fn side(&self) -> Result<String> {
        self.with(|channel| Ok(format!("{:?}", channel.side())))
    }

    /// Whether the peer has attached.
    #[napi(getter)]
    pub fn peer_attached(&self) -> bool {
        self.with(|channel| Ok(channel.is_peer_attached())).unwrap_or(false)
    }

    /// Whether `close()` was called.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_none()
    }

    /// Starts the data doorbell: after each `armData()`, `onReadable` is called once when a
    /// message is probably waiting or the channel ended.
    #[napi]
    pub fn watch_data(&mut self, env: &Env, on_readable: Function<'_, (), ()>) -> Result<()> {
        if self.data_bell.is_some() {
            return Ok(());
        }
        let watch = std::sync::Arc::new(self.with(|channel| Ok(channel.data_watch()))?);
        #[cfg(target_os = "linux")]
        if let Some(bell) = LoopBell::start(env, on_readable, Watched::Data(std::sync::Arc::clone(&watch))) {
            self.data_bell = Some(Waker::Loop(bell));
            return Ok(());
        }
        let cancel_watch = std::sync::Arc::clone(&watch);
        let mut spinner = doorbell_spinner();
        let wait = Box::new(move |_| watch.wait(&mut spinner, None).unwrap_or(shmring_channel::Readiness::Ended));
        self.data_bell =
            Some(Waker::Thread(Doorbell::start(env, on_readable, wait, Box::new(move || cancel_watch.cancel()))?));
        Ok(())
    }

    /// Re-arms the data doorbell (call after draining every waiting message).
    #[napi]
    pub fn arm_data(&self) {
        if let Some(bell) = &self.data_bell {
            bell.arm([0; 3]);
        }
    }

    /// Starts the room doorbell: after each `armRoom()`, `onWritable` is called once when the
    /// peer released space (or the channel ended).
    #[napi]
    pub fn watch_room(&mut self, env: &Env, on_writable: Function<'_, (), ()>) -> Result<()> {
        if self.room_bell.is_some() {
            return Ok(());
        }
        let watch = std::sync::Arc::new(self.with(|channel| Ok(channel.room_watch()))?);
        self.room_watch = Some(std::sync::Arc::clone(&watch));
        #[cfg(target_os = "linux")]
        if let Some(bell) = LoopBell::start(env, on_writable, Watched::Room(std::sync::Arc::clone(&watch))) {
            self.room_bell = Some(Waker::Loop(bell));
            return Ok(());
        }
        let (wait_watch, cancel_watch) = (std::sync::Arc::clone(&watch), std::sync::Arc::clone(&watch));
        let mut spinner = doorbell_spinner();
        let wait = Box::new(move |since| {
            wait_watch.wait(since, &mut spinner, None).unwrap_or(shmring_channel::Readiness::Ended)
        });
        self.room_bell =
            Some(Waker::Thread(Doorbell::start(env, on_writable, wait, Box::new(move || cancel_watch.cancel()))?));
        Ok(())
    }

    /// Re-arms the room doorbell: it rings when space is released after this call. Retry the
    /// send once after arming, as space may have been released just before.
    #[napi]
    pub fn arm_room(&self) {
        if let (Some(bell), Some(watch)) = (&self.room_bell, &self.room_watch) {
            bell.arm(watch.snapshot());
        }
    }

    /// Whether pending doorbells keep the event loop alive.
    #[napi]
    pub fn set_ref(&self, keep_alive: bool) {
        for bell in [&self.data_bell, &self.room_bell].into_iter().flatten() {
            bell.set_ref(keep_alive);
        }
    }

    /// Closes this side: the peer gets every message sent so far, then ERR_SHMRING_PEER_CLOSED.
    /// Stops the doorbells. Idempotent.
    #[napi]
    pub fn close(&mut self) {
        self.close_side();
    }
}

impl Drop for NativeChannel {
    /// Garbage collection of an unclosed channel closes it (and stops its doorbells).
    fn drop(&mut self) {
        self.close_side();
    }
}

impl NativeChannel {
    pub(crate) fn wrap(channel: Channel) -> Result<NativeChannel> {
        let inner = Some(table::insert(channel)?);
        Ok(NativeChannel { data_bell: None, room_bell: None, room_watch: None, inner })
    }

    fn with<R>(&self, f: impl FnOnce(&mut Channel) -> Result<R>) -> Result<R> {
        let (handle, _) = self.inner.as_ref().ok_or_else(closed)?;
        table::with(*handle, f)
    }

    fn close_side(&mut self) {
        if let Some((handle, channel)) = self.inner.take() {
            table::remove(handle);
            // If a call on this channel is running (it cannot be: this runs on the JS thread
            // between calls), dropping the last reference after it closes the side anyway.
            if let Ok(channel) = channel.try_borrow() {
                channel.close();
            }
        }
        self.data_bell.take();
        self.room_bell.take();
        self.room_watch.take();
    }
}

fn closed() -> crate::error::Error {
    from_channel(ChannelError::Closed)
}

pub(crate) fn core_options(options: Option<NativeChannelOptions>) -> ChannelOptions {
    let defaults = ChannelOptions::default();
    let Some(o) = options else { return defaults };
    ChannelOptions {
        capacity: o.capacity.map_or(defaults.capacity, |c| c as usize),
        high_capacity: o.high_capacity.map_or(defaults.high_capacity, |c| c as usize),
        critical_capacity: o.critical_capacity.map_or(defaults.critical_capacity, |c| c as usize),
    }
}

pub(crate) fn to_priority(priority: u32) -> Result<Priority> {
    Priority::ALL.get(priority as usize).copied().ok_or_else(|| {
        error(Code::InvalidArg, format!("priority {priority} is not 0 (critical), 1 (high) or 2 (normal)"))
    })
}

#[cfg(unix)]
fn channel_from_fd(fd: i32) -> Result<Channel> {
    Channel::from_borrowed_fd(fd).map_err(from_open)
}

#[cfg(not(unix))]
fn channel_from_fd(_fd: i32) -> Result<Channel> {
    Err(error(Code::InvalidArg, "fd passing is not available on this platform; use a named channel"))
}

#[cfg(windows)]
fn channel_from_parent_handle(value: &str) -> Result<Channel> {
    Channel::from_parent_handle(value).map_err(from_open)
}

#[cfg(not(windows))]
fn channel_from_parent_handle(_value: &str) -> Result<Channel> {
    Err(error(Code::InvalidArg, "handle passing is for Windows; on this platform the channel arrives as an fd"))
}

#[cfg(windows)]
fn handle_for_child(channel: &Channel) -> Result<String> {
    Ok(channel.handle_for_child())
}

#[cfg(not(windows))]
fn handle_for_child(_channel: &Channel) -> Result<String> {
    Err(error(Code::InvalidArg, "handle passing is for Windows; on this platform pass the fd from shareFd()"))
}

#[cfg(unix)]
fn share_fd(channel: &Channel) -> Result<i32> {
    use std::os::fd::IntoRawFd;
    Ok(channel.share_fd().map_err(|e| error(Code::Os, format!("cannot duplicate the segment fd: {e}")))?.into_raw_fd())
}

#[cfg(not(unix))]
fn share_fd(_channel: &Channel) -> Result<i32> {
    Err(error(Code::InvalidArg, "fd passing is not available on this platform; use a named channel"))
}
