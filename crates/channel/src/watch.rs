//! Watches for another thread: sleep until the receiver probably has data, or the sender
//! probably has room, without owning the receiver or sender.
//!
//! An event loop (the Node addon) receives and sends with `try_*` calls on its own thread and
//! keeps one watcher thread asleep in [`DataWatch::wait`] / [`RoomWatch::wait`]; when the wait
//! returns `Ready` the watcher rings the loop's doorbell. The watches read only shared
//! counters, so they never race with the `Receiver`/`Sender` they watch; their answer is a
//! hint that the owner confirms with its own calls.
//!
//! Each watch parks on its side's data or room word, so at most one thread may wait on a
//! `DataWatch` (and one on a `RoomWatch`) of a side at a time, and the side's own blocking
//! `recv`/`send` must not run concurrently with it (one waiter per word, see `shmring_wait`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use shmring_ring::Region;
use shmring_wait::{ParkResult, Spinner};

use crate::control::CLOSED;
use crate::layout::LANES;
use crate::shared::Shared;
use crate::{ChannelError, Priority};

/// Why a watch's wait returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Data (or room) is probably available: try the operation.
    Ready,
    /// The channel ended (closed by either side, or the peer died): the owner's next call
    /// reports how, after delivering what is left.
    Ended,
    /// The deadline passed.
    TimedOut,
    /// [`cancel`](DataWatch::cancel) was called.
    Cancelled,
}

/// Sleeps until a receiver's inbound lanes probably hold data. `Send + Sync`.
pub struct DataWatch {
    inbound: [Region; LANES],
    cancelled: AtomicBool,
    shared: Arc<Shared>,
}

/// Sleeps until a sender's outbound lanes probably have room again. `Send + Sync`.
pub struct RoomWatch {
    outbound: [Region; LANES],
    cancelled: AtomicBool,
    shared: Arc<Shared>,
}

impl DataWatch {
    pub(crate) fn new(shared: Arc<Shared>) -> DataWatch {
        let inbound = shared.lane_regions(shared.side.peer().outbound());
        DataWatch { inbound, cancelled: AtomicBool::new(false), shared }
    }

    /// Returns when data is probably waiting, the channel ended, `deadline` passed or the
    /// watch was cancelled. Spins per `spinner`, then sleeps; learns of the peer's death as
    /// `Shared::park` does (exit alarm, else every `LIVENESS_SLICE`).
    pub fn wait(&self, spinner: &mut Spinner, deadline: Option<Instant>) -> Result<Readiness, ChannelError> {
        let word = self.shared.data_word(self.shared.side);
        watch(&self.shared, &word, spinner, deadline, &self.cancelled, || {
            self.inbound.iter().any(shmring_ring::has_unreleased)
        })
    }

    /// Makes a current or future `wait` return `Cancelled` (for shutting the watcher down).
    pub fn cancel(&self) {
        cancel(&self.cancelled, &self.shared.data_word(self.shared.side));
    }

    /// For a waiter that sleeps outside this crate: an event loop that hands the futex wait to
    /// the kernel (an io_uring `FUTEX_WAIT` polled with its other descriptors; Linux). Announces
    /// this side parked and looks once more. `Some(readiness)`: no need to sleep (never
    /// `TimedOut`). `None`: sleep on [`futex_word`](Self::futex_word) while it holds
    /// [`shmring_wait::PARKED`], at most [`sleep_slice`](Self::sleep_slice), then call
    /// [`end_sleep`](Self::end_sleep). No spinning: the caller spins before, if it wants to.
    pub fn begin_sleep(&self) -> Option<Readiness> {
        begin_sleep(&self.shared.data_word(self.shared.side), || self.status())
    }

    /// After the sleep that [`begin_sleep`](Self::begin_sleep) asked for (woken, or the slice
    /// over: `slice_over`): `Some(readiness)` to report, or `None` to sleep again (call
    /// `begin_sleep`). After a full slice it checks that the peer is alive (a system call).
    pub fn end_sleep(&self, slice_over: bool) -> Option<Readiness> {
        end_sleep(&self.shared, &self.shared.data_word(self.shared.side), slice_over, || self.status())
    }

    /// The word to sleep on after [`begin_sleep`](Self::begin_sleep) (in the shared mapping,
    /// which this watch keeps alive).
    pub fn futex_word(&self) -> &shmring_wait::AtomicU32 {
        self.shared.data_word(self.shared.side).value()
    }

    /// The longest sleep before [`end_sleep`](Self::end_sleep) must check the peer's liveness:
    /// 5 s where the OS reports the peer's exit (the exit alarm wakes the word), else 50 ms.
    pub fn sleep_slice(&self) -> std::time::Duration {
        self.shared.park_slice()
    }

    /// Why to stop waiting now, if there is a reason: cancelled, data, or the channel ended.
    fn status(&self) -> Option<Readiness> {
        status(&self.shared, &self.cancelled, || self.inbound.iter().any(shmring_ring::has_unreleased))
    }
}

impl RoomWatch {
    pub(crate) fn new(shared: Arc<Shared>) -> RoomWatch {
        let outbound = shared.lane_regions(shared.side.outbound());
        RoomWatch { outbound, cancelled: AtomicBool::new(false), shared }
    }

    /// The peer's released counters of every outbound lane now; pass them to `wait`.
    pub fn snapshot(&self) -> [u64; LANES] {
        core::array::from_fn(|lane| shmring_ring::released(&self.outbound[lane]))
    }

    /// Returns when the peer released space in some lane since `since` (a
    /// [`snapshot`](Self::snapshot) taken when a send found the lane full), the channel
    /// ended, `deadline` passed or the watch was cancelled.
    pub fn wait(
        &self,
        since: [u64; LANES],
        spinner: &mut Spinner,
        deadline: Option<Instant>,
    ) -> Result<Readiness, ChannelError> {
        let word = self.shared.room_word(self.shared.side);
        watch(&self.shared, &word, spinner, deadline, &self.cancelled, || {
            Priority::ALL
                .iter()
                .any(|&lane| shmring_ring::released(&self.outbound[lane as usize]) != since[lane as usize])
        })
    }

    /// Makes a current or future `wait` return `Cancelled`.
    pub fn cancel(&self) {
        cancel(&self.cancelled, &self.shared.room_word(self.shared.side));
    }

    /// [`DataWatch::begin_sleep`] for room released since `since` (a [`snapshot`](Self::snapshot)).
    pub fn begin_sleep(&self, since: [u64; LANES]) -> Option<Readiness> {
        begin_sleep(&self.shared.room_word(self.shared.side), || self.status(since))
    }

    /// [`DataWatch::end_sleep`] for room released since `since`.
    pub fn end_sleep(&self, since: [u64; LANES], slice_over: bool) -> Option<Readiness> {
        end_sleep(&self.shared, &self.shared.room_word(self.shared.side), slice_over, || self.status(since))
    }

    /// The word to sleep on after [`begin_sleep`](Self::begin_sleep).
    pub fn futex_word(&self) -> &shmring_wait::AtomicU32 {
        self.shared.room_word(self.shared.side).value()
    }

    /// As [`DataWatch::sleep_slice`].
    pub fn sleep_slice(&self) -> std::time::Duration {
        self.shared.park_slice()
    }

    fn status(&self, since: [u64; LANES]) -> Option<Readiness> {
        status(&self.shared, &self.cancelled, || {
            Priority::ALL
                .iter()
                .any(|&lane| shmring_ring::released(&self.outbound[lane as usize]) != since[lane as usize])
        })
    }
}

/// Steps w1–w3 of the park protocol for a waiter that sleeps elsewhere (see
/// [`DataWatch::begin_sleep`]).
fn begin_sleep(word: &shmring_wait::Word<'_>, status: impl Fn() -> Option<Readiness>) -> Option<Readiness> {
    let mut found = None;
    shmring_wait::announce_park(word, || {
        found = status();
        found.is_some()
    });
    found
}

/// Step w5, then what to report (see [`DataWatch::end_sleep`]).
fn end_sleep(
    shared: &Arc<Shared>,
    word: &shmring_wait::Word<'_>,
    slice_over: bool,
    status: impl Fn() -> Option<Readiness>,
) -> Option<Readiness> {
    shmring_wait::end_park(word);
    if let Some(found) = status() {
        return Some(found);
    }
    (slice_over && shared.peer_is_dead()).then_some(Readiness::Ended)
}

/// Why a watch should stop waiting now, if there is a reason: cancelled, ready, or ended.
fn status(shared: &Shared, cancelled: &AtomicBool, mut ready: impl FnMut() -> bool) -> Option<Readiness> {
    // ORDERING: Relaxed; `cancel` wakes the word after setting the flag, and every waiter
    // re-reads the flag after each wake.
    if cancelled.load(Ordering::Relaxed) {
        return Some(Readiness::Cancelled);
    }
    if ready() {
        return Some(Readiness::Ready);
    }
    (shared.is_closed() || shared.peer_state() == CLOSED || shared.peer_found_dead()).then_some(Readiness::Ended)
}

fn watch(
    shared: &Arc<Shared>,
    word: &shmring_wait::Word<'_>,
    spinner: &mut Spinner,
    deadline: Option<Instant>,
    cancelled: &AtomicBool,
    mut ready: impl FnMut() -> bool,
) -> Result<Readiness, ChannelError> {
    loop {
        let parked = shared.park(word, spinner, deadline, || status(shared, cancelled, &mut ready).is_some())?;
        if let Some(found) = status(shared, cancelled, &mut ready) {
            return Ok(found);
        }
        if parked == ParkResult::TimedOut {
            if shared.peer_is_dead() {
                return Ok(Readiness::Ended);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Readiness::TimedOut);
            }
        }
    }
}

fn cancel(flag: &AtomicBool, word: &shmring_wait::Word<'_>) {
    // ORDERING: Relaxed; see `status`.
    flag.store(true, Ordering::Relaxed);
    // Best effort: a waiter that misses this wake still sees the flag at its deadline or slice.
    let _ = shmring_wait::interrupt(word);
}

impl std::fmt::Debug for DataWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataWatch").field("side", &self.shared.side).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RoomWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomWatch").field("side", &self.shared.side).finish_non_exhaustive()
    }
}
