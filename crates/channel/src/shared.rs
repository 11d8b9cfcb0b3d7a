//! What both halves of one side hold: the mapped segment, the control block, the wake
//! objects and the peer watch; plus creating and attaching a channel segment.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shmring_ring::{Consumer, Producer, Region};
use shmring_segment::{Segment, SegmentKind};
use shmring_wait::{Notifier, ParkResult, Spinner, Word};

use crate::control::{Control, Side, CLOSED, NOT_ATTACHED, OPEN};
use crate::layout::{Capacities, CHANNEL_MAGIC, CHANNEL_VERSION, LANES};
use crate::liveness::PeerWatch;
use crate::{ChannelError, CreateError, OpenError, Priority};

/// Segment kind tag of a channel (`shmring_segment::SegmentKind`).
pub const CHANNEL_KIND: SegmentKind = SegmentKind(1);

/// How often a blocked call wakes up to check that the peer process is alive, where no exit
/// alarm tells it (not Linux, no pidfd, or the peer's pid not known yet).
pub(crate) const LIVENESS_SLICE: Duration = Duration::from_millis(50);

/// With an exit alarm, blocked calls still check liveness this often themselves: a backstop
/// in case the alarm cannot come (0.2 wake-ups per second when idle).
pub(crate) const ALARMED_SLICE: Duration = Duration::from_secs(5);

pub(crate) struct Shared {
    control: Control,
    pub(crate) side: Side,
    pub(crate) capacities: Capacities,
    /// The random id the creator wrote into the parameters line (names the Windows wake objects).
    pub(crate) channel_id: u64,
    /// Wake objects: data and room words of side A, then of side B.
    notifiers: [Notifier; 4],
    peer_watch: PeerWatch,
    /// This side called `close` (or saw corruption).
    closed: AtomicBool,
    /// The peer broke the protocol; this side closed because of it.
    corrupt: AtomicBool,
    /// `peer_is_dead` saw the peer's process gone (sticky).
    peer_dead: AtomicBool,
    /// Server side of the rendezvous (`server.rs`): the client's connection, kept until the
    /// client attaches. Its hang-up before that means the client gave up (`peer_is_dead`);
    /// on Linux the alarm beside it says so the moment it happens.
    #[cfg(unix)]
    handshake: std::sync::Mutex<Option<(std::os::fd::OwnedFd, Option<crate::liveness::Alarm>)>>,
    // Declared last: the mapping must outlive every reference above into it.
    pub(crate) segment: Segment,
}

/// The rings of one side: what it sends on and what it receives from.
pub(crate) struct Ends {
    pub(crate) producers: [Producer; LANES],
    pub(crate) consumers: [Consumer; LANES],
}

impl Shared {
    /// Creates the segment, lays out the control block and both directions' rings, and
    /// publishes it. The caller is side A.
    pub(crate) fn create(
        capacities: Capacities,
        make_segment: impl FnOnce(usize) -> Result<Segment, shmring_segment::CreateError>,
    ) -> Result<(Shared, Ends), CreateError> {
        if !capacities.is_valid() {
            return Err(CreateError::InvalidCapacity(capacities.lanes));
        }
        let segment = make_segment(capacities.payload_len()).map_err(CreateError::Segment)?;
        // SAFETY: the payload is 128-aligned, at least CONTROL_LEN long (payload_len includes
        // it), and lives as long as `segment`, which `Shared` owns and drops last.
        let control = unsafe { Control::new(segment.payload()) };
        let channel_id = random_id();
        let [critical, high, normal] = capacities.lanes.map(|c| c as u64);
        control.set_parameters([
            u64::from(CHANNEL_VERSION) << 32 | u64::from(CHANNEL_MAGIC),
            LANES as u64,
            critical,
            high,
            normal,
            channel_id,
        ]);
        for direction in 0..2 {
            for lane in Priority::ALL {
                let (region, capacity) = ring_region(&segment, &capacities, direction, lane);
                shmring_ring::init(&region, capacity).expect("the layout reserves room for every ring");
            }
        }
        // ORDERING: Relaxed; published with the segment magic (Release) in `publish` below.
        control.pid(Side::A).store(std::process::id(), Ordering::Relaxed);
        control.state(Side::A).store(OPEN, Ordering::Relaxed);
        control.state(Side::B).store(NOT_ATTACHED, Ordering::Relaxed);
        let notifiers = notifiers(channel_id, Notifier::create_named).map_err(CreateError::Os)?;
        segment.publish();
        let shared = Shared::new(segment, control, Side::A, capacities, channel_id, notifiers);
        let ends = shared.attach_ends().map_err(|e| CreateError::Os(std::io::Error::other(e.to_string())))?;
        Ok((shared, ends))
    }

    /// Attaches as side B to a verified segment; with `expected_id`, only to that channel
    /// (checked before side B is claimed, so a wrong channel is left untouched).
    pub(crate) fn attach(segment: Segment, expected_id: Option<u64>) -> Result<(Shared, Ends), OpenError> {
        // The parameter words are read before `Capacities::read` can check the length against
        // them, so a payload shorter than the control block is refused first.
        if segment.payload_len() < crate::layout::CONTROL_LEN {
            return Err(OpenError::Incompatible(format!("payload of {} bytes", segment.payload_len())));
        }
        // SAFETY: the payload is 128-aligned, at least CONTROL_LEN bytes (checked above), and
        // owned by the `Shared` built below, which drops it last.
        let control = unsafe { Control::new(segment.payload()) };
        let (capacities, channel_id) = Capacities::read(&control.parameters(), segment.payload_len())?;
        if let Some(expected) = expected_id.filter(|&id| id != channel_id) {
            return Err(OpenError::Incompatible(format!(
                "channel {channel_id:016x} is not the channel {expected:016x} this process was given \
                 (did the parent close it before this process attached?)"
            )));
        }
        // ORDERING: AcqRel claims side B exactly once; pairs with the Acquire loads of the
        // state in the creator (`peer_state`).
        if control.state(Side::B).compare_exchange(NOT_ATTACHED, OPEN, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            return Err(OpenError::AlreadyAttached);
        }
        // Only the winner of the claim writes its pid: a refused attacher must not make the
        // creator watch the wrong process. Until it lands the creator reads pid 0, which its
        // peer watch treats as "not known yet, alive".
        // ORDERING: Relaxed; the pid is a liveness hint, read with Relaxed in `peer_is_dead`.
        control.pid(Side::B).store(std::process::id(), Ordering::Relaxed);
        let notifiers = notifiers(channel_id, Notifier::open_named).map_err(OpenError::Os)?;
        let shared = Shared::new(segment, control, Side::B, capacities, channel_id, notifiers);
        let ends = shared.attach_ends().map_err(|e| OpenError::Incompatible(e.to_string()))?;
        Ok((shared, ends))
    }

    fn new(
        segment: Segment,
        control: Control,
        side: Side,
        capacities: Capacities,
        channel_id: u64,
        notifiers: [Notifier; 4],
    ) -> Shared {
        Shared {
            control,
            side,
            capacities,
            channel_id,
            notifiers,
            peer_watch: PeerWatch::new(),
            closed: AtomicBool::new(false),
            corrupt: AtomicBool::new(false),
            peer_dead: AtomicBool::new(false),
            #[cfg(unix)]
            handshake: std::sync::Mutex::new(None),
            segment,
        }
    }

    /// Keeps the rendezvous connection `fd` until the peer attaches (see `handshake`), and
    /// where the OS can say (Linux), marks the peer dead and wakes this side's waiters the
    /// moment the client hangs up without attaching.
    #[cfg(unix)]
    pub(crate) fn hold_handshake(self: &Arc<Self>, fd: std::os::fd::OwnedFd) {
        use std::os::fd::AsFd;
        let shared = Arc::downgrade(self);
        let on_hang_up = Box::new(move || {
            let Some(shared) = shared.upgrade() else { return };
            // A hang-up after attaching is the normal end of the handshake, not a death.
            if shared.handshake_abandoned() {
                shared.mark_peer_dead();
            }
        });
        // The lock is held while the alarm is set: an alarm that fires at once (the client
        // is already gone) waits for the connection to be in place before it looks.
        let mut held = self.handshake.lock().unwrap_or_else(|p| p.into_inner());
        let alarm = crate::liveness::hang_up_alarm(fd.as_fd(), on_hang_up);
        *held = Some((fd, alarm));
    }

    /// Whether the client of a rendezvous hung up without attaching (a system call: slow path
    /// only). Once the peer has attached, the connection is closed and this is false.
    #[cfg(unix)]
    fn handshake_abandoned(&self) -> bool {
        use std::os::fd::AsFd;
        let mut held = self.handshake.lock().unwrap_or_else(|p| p.into_inner());
        let Some((fd, _)) = held.as_ref() else { return false };
        // ORDERING: Acquire pairs with the peer's AcqRel claim of its state in `attach`.
        if self.control.state(self.side.peer()).load(Ordering::Acquire) != NOT_ATTACHED {
            *held = None; // attached: the connection has served its purpose
            return false;
        }
        let hung_up = crate::server::hung_up(fd.as_fd());
        // A client closes its connection right after attaching: if it attached between the
        // state check above and the hang-up, it is alive (read the state again to know).
        // ORDERING: Acquire, as above.
        if hung_up && self.control.state(self.side.peer()).load(Ordering::Acquire) != NOT_ATTACHED {
            *held = None;
            return false;
        }
        hung_up
    }

    fn attach_ends(&self) -> Result<Ends, shmring_ring::AttachError> {
        let outbound = self.side.outbound();
        let inbound = self.side.peer().outbound();
        let producers = try_array(|lane| {
            let (region, capacity) = ring_region(&self.segment, &self.capacities, outbound, lane);
            // SAFETY: each (direction, lane) ring gets exactly one producer in this process:
            // this side's, created once here.
            let producer = unsafe { Producer::attach(region) }?;
            check_capacity(producer.capacity(), capacity).map(|()| producer)
        })?;
        let consumers = try_array(|lane| {
            let (region, capacity) = ring_region(&self.segment, &self.capacities, inbound, lane);
            // SAFETY: as above, for the one consumer of each inbound ring.
            let consumer = unsafe { Consumer::attach(region) }?;
            check_capacity(consumer.capacity(), capacity).map(|()| consumer)
        })?;
        Ok(Ends { producers, consumers })
    }

    /// Regions of the three lanes of `direction` (for watches, which only read counters).
    pub(crate) fn lane_regions(&self, direction: usize) -> [Region; LANES] {
        Priority::ALL.map(|lane| ring_region(&self.segment, &self.capacities, direction, lane).0)
    }

    /// The word `side` parks on while waiting for data.
    pub(crate) fn data_word(&self, side: Side) -> Word<'_> {
        Word::new(self.control.data_word(side), &self.notifiers[side_index(side) * 2])
    }

    /// The word `side` parks on while waiting for room.
    pub(crate) fn room_word(&self, side: Side) -> Word<'_> {
        Word::new(self.control.room_word(side), &self.notifiers[side_index(side) * 2 + 1])
    }

    /// The peer's state word value.
    pub(crate) fn peer_state(&self) -> u32 {
        // ORDERING: Acquire pairs with the Release store of CLOSED in the peer's `close`, so
        // every record it published before closing is visible to the re-check that follows.
        self.control.state(self.side.peer()).load(Ordering::Acquire)
    }

    pub(crate) fn is_closed(&self) -> bool {
        // ORDERING: Relaxed; a local flag, read to fail fast (the state word carries the
        // cross-process ordering).
        self.closed.load(Ordering::Relaxed)
    }

    /// Records that the peer broke the protocol and closes this side. Returns the error to report.
    pub(crate) fn corrupt(&self) -> ChannelError {
        // ORDERING: Relaxed; read only by this process's `closed_error`, after `close` below.
        self.corrupt.store(true, Ordering::Relaxed);
        self.close();
        ChannelError::Corrupt
    }

    /// The error for a call on a closed side: `Corrupt` if corruption closed it.
    pub(crate) fn closed_error(&self) -> ChannelError {
        // ORDERING: Relaxed; see `corrupt`.
        if self.corrupt.load(Ordering::Relaxed) {
            ChannelError::Corrupt
        } else {
            ChannelError::Closed
        }
    }

    /// Watches process `pid` as the peer from now on, instead of the pid the peer writes into
    /// the control block (which is untrusted, and 0 until it attaches). No effect if a pid is
    /// already being watched.
    pub(crate) fn watch_peer(self: &Arc<Self>, pid: u32) {
        self.peer_watch.bind(pid, || self.exit_alarm());
    }

    /// Whether the peer's process has exited (a system call: slow path only). Once it says
    /// yes, [`peer_found_dead`](Self::peer_found_dead) stays true.
    pub(crate) fn peer_is_dead(self: &Arc<Self>) -> bool {
        if self.peer_found_dead() {
            return true;
        }
        // ORDERING: Relaxed; the pid is only a hint for the watch (untrusted anyway).
        let pid = self.control.pid(self.side.peer()).load(Ordering::Relaxed);
        let dead = self.peer_watch.is_dead(pid, || self.exit_alarm());
        #[cfg(unix)]
        let dead = dead || self.handshake_abandoned();
        // ORDERING: Relaxed; a sticky local flag, no data hangs on it.
        self.peer_dead.fetch_or(dead, Ordering::Relaxed);
        dead
    }

    /// What runs (on the watcher thread) when the peer's process exits: marks it dead and
    /// wakes this side's waiters, which re-check and see it. Holds only a weak reference.
    fn exit_alarm(self: &Arc<Self>) -> Box<dyn Fn() + Send> {
        let shared = Arc::downgrade(self);
        Box::new(move || {
            if let Some(shared) = shared.upgrade() {
                shared.mark_peer_dead();
            }
        })
    }

    /// The peer is gone (its process exited, or a server's client gave up): marks it dead and
    /// wakes this side's waiters, which re-check and see it.
    fn mark_peer_dead(&self) {
        // ORDERING: Relaxed; `interrupt` fences before it wakes (pairs with the fence in
        // `park`, whose `ready()` reads this flag: see `Shared::park`).
        self.peer_dead.store(true, Ordering::Relaxed);
        for word in [self.data_word(self.side), self.room_word(self.side)] {
            // Best effort: a missed wake is caught by the waiter's deadline or slice.
            let _ = shmring_wait::interrupt(&word);
        }
    }

    /// Parks on `word` (spin, then sleep) until `ready()` is true, `deadline` passes, or the
    /// peer is found dead. Returns `Ready` in the last case too: callers then see
    /// [`peer_found_dead`](Self::peer_found_dead).
    ///
    /// Where the OS tells us of the peer's exit (a pidfd on Linux, see `liveness`), the exit
    /// alarm sets `peer_dead` and interrupts `word`, so the sleep lasts until the deadline or
    /// an [`ALARMED_SLICE`] backstop (5 s): an idle channel wakes almost nobody. Otherwise (no pid known yet, no pidfd) it sleeps
    /// in slices of [`LIVENESS_SLICE`], checking liveness after each; the check (a system
    /// call) cannot live in `ready()`, which also runs in the spin loop.
    pub(crate) fn park(
        self: &Arc<Self>,
        word: &Word<'_>,
        spinner: &mut Spinner,
        deadline: Option<Instant>,
        mut ready: impl FnMut() -> bool,
    ) -> std::io::Result<ParkResult> {
        // Only the first slice spins: later ones follow a sleep, where spinning again would
        // only cost CPU on an idle channel.
        let mut no_spin = Spinner::never();
        let mut spinner = Some(spinner);
        loop {
            let slice = self.park_slice();
            let slice_end = Instant::now() + slice;
            let until = Some(deadline.map_or(slice_end, |d| d.min(slice_end)));
            let slice_spinner = spinner.take().unwrap_or(&mut no_spin);
            let mut ready_or_dead = || self.peer_found_dead() || ready();
            if shmring_wait::park(word, slice_spinner, until, &mut ready_or_dead)? == ParkResult::Ready {
                return Ok(ParkResult::Ready);
            }
            if self.peer_is_dead() {
                return Ok(ParkResult::Ready);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(ParkResult::TimedOut);
            }
        }
    }

    /// How long one sleep of a waiter may last before it checks the peer's liveness itself:
    /// long where the exit alarm will wake it, short where it must poll.
    pub(crate) fn park_slice(&self) -> Duration {
        if self.peer_watch.is_alarmed() {
            ALARMED_SLICE
        } else {
            LIVENESS_SLICE
        }
    }

    /// Whether an earlier [`peer_is_dead`](Self::peer_is_dead) found the peer gone (no system call).
    pub(crate) fn peer_found_dead(&self) -> bool {
        // ORDERING: Relaxed; see `peer_is_dead`.
        self.peer_dead.load(Ordering::Relaxed)
    }

    /// Closes this side: marks it closed in the control block and wakes everyone who waits.
    pub(crate) fn close(&self) {
        // ORDERING: Relaxed RMW; only makes `close` idempotent within this process.
        if self.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        // ORDERING: Release orders every record we published before this store; pairs with
        // the Acquire load in `peer_state` on the other side.
        self.control.state(self.side).store(CLOSED, Ordering::Release);
        for side in [self.side.peer(), self.side] {
            // Best effort: a failed wake only delays a waiter until its liveness slice.
            let _ = shmring_wait::interrupt(&self.data_word(side));
            let _ = shmring_wait::interrupt(&self.room_word(side));
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.close();
        if self.side == Side::A && self.segment.name().is_some() {
            let _ = self.segment.unlink();
        }
    }
}

fn side_index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

fn ring_region(segment: &Segment, capacities: &Capacities, direction: usize, lane: Priority) -> (Region, usize) {
    let offset = capacities.ring_offset(direction, lane);
    let capacity = capacities.lanes[lane as usize];
    // SAFETY: `offset + total_len(capacity) <= payload_len` by construction of `Capacities`
    // (checked against the real payload length in `Capacities::read` for attached segments),
    // `offset` is a multiple of 128 from a 128-aligned payload, and the region's lifetime is
    // bounded by the `Shared` that owns the segment (the ring ends are dropped before it, see
    // `Sender`/`Receiver` field order).
    let base = unsafe { segment.payload().add(offset) };
    // SAFETY: as above; other processes may write the memory, which `Region` tolerates.
    let region = unsafe { Region::new(base, shmring_ring::total_len(capacity), None) };
    (region, capacity)
}

fn notifiers(channel_id: u64, make: impl Fn(&str) -> std::io::Result<Notifier>) -> std::io::Result<[Notifier; 4]> {
    let names = ["a-data", "a-room", "b-data", "b-room"].map(|what| format!("shmring-{channel_id:016x}-{what}"));
    Ok([make(&names[0])?, make(&names[1])?, make(&names[2])?, make(&names[3])?])
}

fn try_array<T, E>(mut make: impl FnMut(Priority) -> Result<T, E>) -> Result<[T; LANES], E> {
    let [a, b, c] = Priority::ALL;
    Ok([make(a)?, make(b)?, make(c)?])
}

/// A ring header's capacity must be the one the parameters line announced (a smaller lie
/// would be memory-safe but corrupt the stream later; refuse it at attach).
fn check_capacity(found: usize, expected: usize) -> Result<(), shmring_ring::AttachError> {
    if found != expected {
        return Err(shmring_ring::AttachError::InvalidCapacity(found as u64));
    }
    Ok(())
}

/// The channel id names the wake events on Windows, where another process of the session
/// could squat a predictable name: it comes from the OS's random source.
fn random_id() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_ok() {
        return u64::from_le_bytes(bytes);
    }
    // No random source at all (never seen in practice): stay unique, if predictable.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (now.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
}
