//! `NativeChannel`: one side of a shmring channel, as the TypeScript layer (`lib/`) sees it.
//! Holds the core `Channel` and its doorbells; converts values; maps errors.

use napi::bindgen_prelude::{BufferSlice, Env, FromNapiValue, Function, JsValue, Uint32Array, Uint8Array, Unknown};
use napi::sys;
use napi_derive::napi;
use shmring_channel::{Channel, ChannelError, ChannelOptions, Priority};

use crate::doorbell::{doorbell_spinner, Doorbell};
use crate::error::{error, from_channel, from_create, from_open, Code, Result};

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

/// One side of a channel. Methods throw errors with a `code` (`ERR_SHMRING_*`).
#[napi]
pub struct NativeChannel {
    // Doorbells first: dropping them joins their threads before the channel goes.
    data_bell: Option<Doorbell>,
    room_bell: Option<Doorbell>,
    room_watch: Option<std::sync::Arc<shmring_channel::RoomWatch>>,
    inner: Option<Channel>,
}

#[napi]
impl NativeChannel {
    /// Creates an anonymous channel; this process is side A.
    #[napi(factory)]
    pub fn create(options: Option<NativeChannelOptions>) -> Result<NativeChannel> {
        let channel = Channel::create_with(&core_options(options)).map_err(from_create)?;
        Ok(NativeChannel::wrap(channel))
    }

    /// Creates a channel under `name` (owner-only; fails with ERR_SHMRING_EXISTS if taken).
    #[napi(factory)]
    pub fn create_named(name: String, options: Option<NativeChannelOptions>) -> Result<NativeChannel> {
        let channel = Channel::create_named(&name, &core_options(options)).map_err(from_create)?;
        Ok(NativeChannel::wrap(channel))
    }

    /// Attaches as side B to the channel created under `name`.
    #[napi(factory)]
    pub fn open_named(name: String) -> Result<NativeChannel> {
        Ok(NativeChannel::wrap(Channel::open_named(&name).map_err(from_open)?))
    }

    /// Attaches as side B to the channel whose segment is the inherited or received `fd`.
    /// The channel keeps its own duplicate: the caller still owns `fd` and should close it.
    #[napi(factory)]
    pub fn from_fd(fd: i32) -> Result<NativeChannel> {
        Ok(NativeChannel::wrap(channel_from_fd(fd)?))
    }

    /// A new file descriptor for the segment, to hand to a child process (e.g. in `spawn`'s
    /// `stdio` array); close it in this process after spawning.
    #[napi]
    pub fn share_fd(&self) -> Result<i32> {
        share_fd(self.channel()?)
    }

    /// Copies `data` into the lane of `priority` (0 critical, 1 high, 2 normal). Returns
    /// `false` when the lane is full.
    #[napi]
    pub fn try_send(&mut self, data: &[u8], priority: u32) -> Result<bool> {
        let priority = to_priority(priority)?;
        self.channel_mut()?.try_send_with(data, priority).map_err(from_channel)
    }

    /// Sends as many of `messages` as fit now; returns how many.
    #[napi(ts_args_type = "messages: Array<Uint8Array>, priority: number")]
    pub fn try_send_batch(&mut self, env: &Env, messages: Vec<Unknown<'_>>, priority: u32) -> Result<u32> {
        let priority = to_priority(priority)?;
        // Reading the array may run JavaScript (element getters), which could detach a view
        // converted earlier; so the elements are read first and turned into byte views only
        // afterwards, when no JavaScript can run until the copy is done.
        let messages = messages
            .iter()
            // SAFETY: each value belongs to this call's scope; the conversion checks its type.
            .map(|m| unsafe { Uint8Array::from_napi_value(env.raw(), m.raw()) })
            .collect::<napi::Result<Vec<Uint8Array>>>()
            .map_err(|e| error(Code::InvalidArg, format!("messages must be Uint8Arrays: {}", e.reason)))?;
        let sent = self.channel_mut()?.try_send_batch(&messages, priority).map_err(from_channel)?;
        Ok(sent as u32)
    }

    /// The next message in a new Buffer (copied straight from shared memory into memory
    /// owned by JavaScript), or `null` when none is waiting.
    #[napi]
    pub fn try_recv<'env>(&mut self, env: &'env Env) -> Result<Option<BufferSlice<'env>>> {
        let mut batch = self.try_recv_batch(env, 1)?;
        Ok(batch.pop())
    }

    /// Copies the next message into `target`; returns its length, or `null` when none is
    /// waiting. Throws ERR_SHMRING_BUFFER_TOO_SMALL (the message stays queued) if it does not fit.
    #[napi]
    pub fn recv_into(&mut self, mut target: Uint8Array) -> Result<Option<u32>> {
        // SAFETY: the typed array's memory belongs to JavaScript and stays alive for this
        // synchronous call; no other Rust reference to it exists.
        let target = unsafe { target.as_mut() };
        let received = self.channel_mut()?.try_recv_into(target).map_err(from_channel)?;
        Ok(received.map(|n| n as u32))
    }

    /// Up to `max` waiting messages, each in a new Buffer; an empty array when none is waiting.
    #[napi]
    pub fn try_recv_batch<'env>(&mut self, env: &'env Env, max: u32) -> Result<Vec<BufferSlice<'env>>> {
        let mut out = Vec::new();
        let mut failed = None;
        // A message is released only once its Buffer exists: if allocation fails, it stays queued.
        self.channel_mut()?
            .recv_batch_while(max as usize, |record| match js_buffer(env, record) {
                Ok(buffer) => {
                    out.push(buffer);
                    true
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            })
            .map_err(from_channel)?;
        match failed {
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }

    /// Sends messages packed back to back in `packed`, message `i` being `lengths[i]` bytes
    /// long, as many as fit now, with one wake of the peer. Returns how many were sent. The
    /// fastest way to stream many small messages (no per-message JavaScript object).
    #[napi]
    pub fn try_send_packed(&mut self, packed: &[u8], lengths: &[u32], priority: u32) -> Result<u32> {
        let priority = to_priority(priority)?;
        let messages = split_packed(packed, lengths)?;
        let sent = self.channel_mut()?.try_send_batch(&messages, priority).map_err(from_channel)?;
        Ok(sent as u32)
    }

    /// Receives waiting messages into `target`, back to back, writing each length into
    /// `lengths`; stops when the next message does not fit (it stays queued) or `lengths` is
    /// full. Returns how many were received (0 when none is waiting). Throws
    /// ERR_SHMRING_BUFFER_TOO_SMALL if not even the first message fits.
    #[napi]
    pub fn recv_packed(&mut self, mut target: Uint8Array, mut lengths: Uint32Array) -> Result<u32> {
        // SAFETY: both typed arrays belong to JavaScript and stay alive for this synchronous
        // call; if they share one ArrayBuffer the two slices could overlap, so that is refused
        // below before either is written.
        let (target, lengths) = unsafe { (target.as_mut(), lengths.as_mut()) };
        if ranges_overlap(target.as_ptr() as usize, target.len(), lengths.as_ptr() as usize, lengths.len() * 4) {
            return Err(error(Code::InvalidArg, "target and lengths must not share memory"));
        }
        let (mut offset, mut count, mut needed) = (0usize, 0usize, None);
        self.channel_mut()?
            .recv_batch_while(lengths.len(), |record| {
                if record.len() > target.len() - offset {
                    if count == 0 {
                        needed = Some(record.len());
                    }
                    return false;
                }
                record.copy_to(&mut target[offset..]);
                lengths[count] = record.len() as u32;
                offset += record.len();
                count += 1;
                true
            })
            .map_err(from_channel)?;
        match needed {
            Some(needed) => Err(from_channel(ChannelError::BufferTooSmall { needed })),
            None => Ok(count as u32),
        }
    }

    /// Fill ratio of this side's outbound lane of `priority`, 0 to 1.
    #[napi]
    pub fn fill(&mut self, priority: u32) -> Result<f64> {
        let priority = to_priority(priority)?;
        self.channel_mut()?.sender().fill(priority).map_err(from_channel)
    }

    /// Largest message the lane of `priority` accepts, in bytes.
    #[napi]
    pub fn max_message_len(&self, priority: u32) -> Result<u32> {
        let priority = to_priority(priority)?;
        let channel = self.inner.as_ref().ok_or_else(closed)?;
        Ok(channel_sender_max(channel, priority) as u32)
    }

    /// Watches process `pid` (e.g. a spawned child's) as the peer, so that its death is noticed
    /// even before it attaches, and without trusting the pid it writes into shared memory.
    #[napi]
    pub fn watch_peer(&self, pid: u32) -> Result<()> {
        self.channel()?.watch_peer(pid);
        Ok(())
    }

    /// `"A"` for the creator, `"B"` for the side that attached.
    #[napi(getter)]
    pub fn side(&self) -> Result<String> {
        Ok(format!("{:?}", self.channel()?.side()))
    }

    /// Whether the peer has attached.
    #[napi(getter)]
    pub fn peer_attached(&self) -> bool {
        self.inner.as_ref().is_some_and(Channel::is_peer_attached)
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
        let watch = std::sync::Arc::new(self.channel()?.data_watch());
        let cancel_watch = std::sync::Arc::clone(&watch);
        let mut spinner = doorbell_spinner();
        let wait = Box::new(move |_| watch.wait(&mut spinner, None).unwrap_or(shmring_channel::Readiness::Ended));
        self.data_bell = Some(Doorbell::start(env, on_readable, wait, Box::new(move || cancel_watch.cancel()))?);
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
        let watch = std::sync::Arc::new(self.channel()?.room_watch());
        let (wait_watch, cancel_watch) = (std::sync::Arc::clone(&watch), std::sync::Arc::clone(&watch));
        let mut spinner = doorbell_spinner();
        let wait = Box::new(move |since| {
            wait_watch.wait(since, &mut spinner, None).unwrap_or(shmring_channel::Readiness::Ended)
        });
        self.room_bell = Some(Doorbell::start(env, on_writable, wait, Box::new(move || cancel_watch.cancel()))?);
        self.room_watch = Some(watch);
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
        if let Some(channel) = &self.inner {
            channel.close();
        }
        self.data_bell.take();
        self.room_bell.take();
        self.room_watch.take();
        self.inner.take();
    }
}

impl NativeChannel {
    fn wrap(channel: Channel) -> NativeChannel {
        NativeChannel { data_bell: None, room_bell: None, room_watch: None, inner: Some(channel) }
    }

    fn channel(&self) -> Result<&Channel> {
        self.inner.as_ref().ok_or_else(closed)
    }

    fn channel_mut(&mut self) -> Result<&mut Channel> {
        self.inner.as_mut().ok_or_else(closed)
    }
}

fn closed() -> crate::error::Error {
    from_channel(ChannelError::Closed)
}

fn channel_sender_max(channel: &Channel, priority: Priority) -> usize {
    channel.max_message_len(priority)
}

fn core_options(options: Option<NativeChannelOptions>) -> ChannelOptions {
    let defaults = ChannelOptions::default();
    let Some(o) = options else { return defaults };
    ChannelOptions {
        capacity: o.capacity.map_or(defaults.capacity, |c| c as usize),
        high_capacity: o.high_capacity.map_or(defaults.high_capacity, |c| c as usize),
        critical_capacity: o.critical_capacity.map_or(defaults.critical_capacity, |c| c as usize),
    }
}

/// Splits `packed` into the messages `lengths` describe.
fn split_packed<'a>(packed: &'a [u8], lengths: &[u32]) -> Result<Vec<&'a [u8]>> {
    let mut messages = Vec::with_capacity(lengths.len());
    let mut rest = packed;
    for &len in lengths {
        let len = len as usize;
        if len > rest.len() {
            return Err(error(Code::InvalidArg, "lengths add up to more than the packed buffer holds"));
        }
        let (message, tail) = rest.split_at(len);
        messages.push(message);
        rest = tail;
    }
    Ok(messages)
}

fn ranges_overlap(a: usize, a_len: usize, b: usize, b_len: usize) -> bool {
    a_len > 0 && b_len > 0 && a < b + b_len && b < a + a_len
}

fn to_priority(priority: u32) -> Result<Priority> {
    Priority::ALL.get(priority as usize).copied().ok_or_else(|| {
        error(Code::InvalidArg, format!("priority {priority} is not 0 (critical), 1 (high) or 2 (normal)"))
    })
}

/// Allocates a Buffer owned by JavaScript (never an external buffer, which Electron refuses)
/// and copies the record into it.
fn js_buffer<'env>(env: &'env Env, record: shmring_channel::Record<'_>) -> Result<BufferSlice<'env>> {
    let len = record.len();
    let mut raw = std::ptr::null_mut();
    let mut data = std::ptr::null_mut();
    // SAFETY: `env` is the live environment of this call; the out-pointers are valid locals.
    let status = unsafe { sys::napi_create_buffer(env.raw(), len, &mut data, &mut raw) };
    if status != sys::Status::napi_ok {
        return Err(error(Code::Os, format!("cannot allocate a {len}-byte Buffer (napi status {status})")));
    }
    // Re-read the pointer from the Buffer itself (the creation out-pointer is not reliable on
    // every target, see napi-rs `buffer_data_ptr`), then copy the record into it.
    let mut info_len = 0usize;
    // SAFETY: `raw` is the Buffer just created in this scope.
    let status = unsafe { sys::napi_get_buffer_info(env.raw(), raw, &mut data, &mut info_len) };
    if status != sys::Status::napi_ok || info_len != len {
        return Err(error(Code::Os, "cannot read back a new Buffer"));
    }
    if len > 0 {
        // SAFETY: `data` points to `len` writable bytes owned by the new Buffer, which nothing
        // else references yet.
        let target = unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) };
        record.copy_to(target);
    }
    // SAFETY: `raw` is a Buffer value of this environment.
    unsafe { BufferSlice::from_napi_value(env.raw(), raw) }.map_err(|e| error(Code::Os, e.to_string()))
}

#[cfg(unix)]
fn channel_from_fd(fd: i32) -> Result<Channel> {
    Channel::from_borrowed_fd(fd).map_err(from_open)
}

#[cfg(not(unix))]
fn channel_from_fd(_fd: i32) -> Result<Channel> {
    Err(error(Code::InvalidArg, "fd passing is not available on this platform; use a named channel"))
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
