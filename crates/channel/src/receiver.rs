//! The receiving half of one side: three inbound lanes served by priority without
//! starvation, blocking receive that spins then sleeps, and the end-of-stream rules.
//!
//! # Priority rule
//! Lanes are served in strict order (critical, high, normal), except that every
//! [`FAIRNESS_PERIOD`]-th message is taken from the lowest-priority non-empty lane. A flood
//! of critical or high traffic therefore delays a normal message by at most
//! `FAIRNESS_PERIOD - 1` messages per message served, and a critical message waits behind at
//! most one lower-priority message.
//!
//! # End of stream
//! When every lane is empty and the peer has closed (or died), the lanes are checked once
//! more after reading the peer's state, so every record it published before closing (or
//! dying) is delivered first; only then does a receive return `PeerClosed` (`PeerDead`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use shmring_ring::{Consumer, Record};
use shmring_wait::{ParkResult, Spinner};

use crate::control::CLOSED;
use crate::layout::LANES;
use crate::shared::Shared;
use crate::{ChannelError, Priority};

/// Every this many messages, the lowest-priority non-empty lane is served first.
pub const FAIRNESS_PERIOD: u32 = 16;

/// Receives messages from the peer. `Send`; one per side.
pub struct Receiver {
    consumers: [Consumer; LANES],
    spinner: Spinner,
    /// Messages delivered so far, modulo `FAIRNESS_PERIOD`.
    turn: u32,
    // Last: the rings above point into its mapping.
    shared: Arc<Shared>,
}

impl Receiver {
    pub(crate) fn new(consumers: [Consumer; LANES], shared: Arc<Shared>) -> Receiver {
        Receiver { consumers, spinner: Spinner::new(), turn: 0, shared }
    }

    /// The next message if one is waiting, copied into a new `Vec`; `Ok(None)` when empty.
    /// Makes no system call unless the peer is blocked waiting for room.
    #[inline]
    pub fn try_recv(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
        self.try_recv_with(|record| record.to_vec())
    }

    /// The next message copied into `buf`, returning its length; `Ok(None)` when empty. A
    /// message longer than `buf` stays queued (`BufferTooSmall` tells its length).
    #[inline]
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ChannelError> {
        self.try_recv_within(buf.len(), |record| {
            record.copy_to(buf);
            record.len()
        })
    }

    /// Hands the next message to `read` if it is at most `max_len` bytes long, then releases
    /// it; a longer one stays queued (`BufferTooSmall` tells its length). `Ok(None)` when empty.
    #[inline]
    pub fn try_recv_within<R>(
        &mut self,
        max_len: usize,
        read: impl FnOnce(Record<'_>) -> R,
    ) -> Result<Option<R>, ChannelError> {
        let Some(lane) = self.next_lane()? else { return Ok(None) };
        let record = self.peek(lane)?;
        if record.len() > max_len {
            return Err(ChannelError::BufferTooSmall { needed: record.len() });
        }
        let out = read(record);
        self.finish(lane)?;
        Ok(Some(out))
    }

    /// Hands the next message to `read` without copying it first (the record stays in the
    /// ring until `read` returns), then releases it. `Ok(None)` when empty.
    #[inline]
    pub fn try_recv_with<R>(&mut self, read: impl FnOnce(Record<'_>) -> R) -> Result<Option<R>, ChannelError> {
        let Some(lane) = self.next_lane()? else { return Ok(None) };
        let out = read(self.peek(lane)?);
        self.finish(lane)?;
        Ok(Some(out))
    }

    /// Hands up to `max` waiting messages to `visit` in priority order, releasing them with
    /// one store per lane and at most one wake. Returns how many were visited (0 when empty;
    /// an error only when nothing was visited and the stream ended).
    pub fn recv_batch(&mut self, max: usize, mut visit: impl FnMut(Record<'_>)) -> Result<usize, ChannelError> {
        self.recv_batch_while(max, |record| {
            visit(record);
            true
        })
    }

    /// Like [`recv_batch`](Self::recv_batch), but `take` may refuse a message (return
    /// `false`): it then stays queued and the batch ends. For packing messages into a
    /// fixed buffer.
    pub fn recv_batch_while(
        &mut self,
        max: usize,
        mut take: impl FnMut(Record<'_>) -> bool,
    ) -> Result<usize, ChannelError> {
        let mut count = 0;
        while count < max {
            // Only an empty first look may end the stream; later ones just end the batch.
            let lane = if count == 0 { self.next_lane()? } else { self.ready_lane()? };
            let Some(lane) = lane else { break };
            if !take(self.peek(lane)?) {
                break;
            }
            self.consumers[lane].consume();
            self.turn = (self.turn + 1) % FAIRNESS_PERIOD;
            count += 1;
        }
        let mut released = false;
        for consumer in &mut self.consumers {
            released |= consumer.publish();
        }
        if released {
            self.wake_peer()?;
        }
        Ok(count)
    }

    /// Waits for the next message, with no time limit (but never past the peer's death).
    pub fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.recv_deadline(None)
    }

    /// Waits up to `timeout` for the next message.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>, ChannelError> {
        self.recv_deadline(Some(Instant::now() + timeout))
    }

    /// Waits until `deadline` (`None`: no limit) for the next message: spins briefly, then
    /// sleeps until the peer's wake; a dead peer is noticed at once on Linux (exit alarm),
    /// elsewhere within a few [`LIVENESS_SLICE`](crate::LIVENESS_SLICE)s.
    pub fn recv_deadline(&mut self, deadline: Option<Instant>) -> Result<Vec<u8>, ChannelError> {
        loop {
            if let Some(message) = self.try_recv()? {
                return Ok(message);
            }
            if self.wait_readable(deadline)? == ParkResult::TimedOut && deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(ChannelError::Timeout);
            }
        }
    }

    /// Blocks until a message may be waiting, the stream may have ended, or `deadline`
    /// passes; does not consume anything. For callers that receive with `try_*` after it
    /// (batch receivers, event loops).
    pub fn wait_readable(&mut self, deadline: Option<Instant>) -> Result<ParkResult, ChannelError> {
        let Receiver { consumers, spinner, shared, .. } = self;
        let word = shared.data_word(shared.side);
        // `Ready` also when the peer died: the next receive reports it (after what is left).
        let parked = shared.park(&word, spinner, deadline, || {
            shared.is_closed()
                || shared.peer_state() == CLOSED
                || consumers.iter_mut().any(|c| !c.is_empty().unwrap_or(false) || c.is_corrupt())
        })?;
        Ok(parked)
    }

    /// Whether a message is waiting in any lane, without taking it (no system call).
    pub fn has_message(&mut self) -> Result<bool, ChannelError> {
        Ok(self.ready_lane()?.is_some())
    }

    /// Fill ratio of the inbound lane of `priority`, 0.0 to 1.0.
    pub fn fill(&mut self, priority: Priority) -> Result<f64, ChannelError> {
        if self.shared.is_closed() {
            return Err(self.shared.closed_error());
        }
        let consumer = &mut self.consumers[priority as usize];
        let used = consumer.used_len().map_err(|_| self.shared.corrupt())?;
        Ok(used as f64 / consumer.capacity() as f64)
    }

    /// Closes this side (both halves).
    pub fn close(&self) {
        self.shared.close();
    }

    /// The lane to serve next, by the priority rule; `None` when every lane is empty.
    #[inline]
    fn ready_lane(&mut self) -> Result<Option<usize>, ChannelError> {
        if self.shared.is_closed() {
            return Err(self.shared.closed_error());
        }
        let lowest_first = self.turn == FAIRNESS_PERIOD - 1;
        for i in 0..LANES {
            let lane = if lowest_first { LANES - 1 - i } else { i };
            match self.consumers[lane].is_empty() {
                Ok(true) => {}
                Ok(false) => return Ok(Some(lane)),
                Err(_) => return Err(self.shared.corrupt()),
            }
        }
        Ok(None)
    }

    /// The lane to serve next; `Ok(None)` while nothing is waiting, and the end-of-stream
    /// error once the peer closed or died and everything it published was delivered.
    #[inline]
    fn next_lane(&mut self) -> Result<Option<usize>, ChannelError> {
        if let Some(lane) = self.ready_lane()? {
            return Ok(Some(lane));
        }
        let ended = if self.shared.peer_state() == CLOSED {
            ChannelError::PeerClosed
        } else if self.shared.peer_found_dead() {
            ChannelError::PeerDead
        } else {
            return Ok(None);
        };
        // The state was read after the lanes: look once more, so records published before
        // the close (ordered by its Release store, see `Shared::close`) are not lost.
        match self.ready_lane()? {
            Some(lane) => Ok(Some(lane)),
            None => Err(ended),
        }
    }

    /// The record `ready_lane` found in `lane` (cached by the consumer, so the peer cannot
    /// change it between the two looks).
    fn peek(&mut self, lane: usize) -> Result<Record<'_>, ChannelError> {
        let shared = &self.shared;
        match self.consumers[lane].peek() {
            Ok(Some(record)) => Ok(record),
            Ok(None) | Err(_) => Err(shared.corrupt()),
        }
    }

    fn finish(&mut self, lane: usize) -> Result<(), ChannelError> {
        self.consumers[lane].consume();
        self.turn = (self.turn + 1) % FAIRNESS_PERIOD;
        if self.consumers[lane].publish() {
            self.wake_peer()?;
        }
        Ok(())
    }

    #[inline]
    fn wake_peer(&self) -> Result<(), ChannelError> {
        shmring_wait::notify(&self.shared.room_word(self.shared.side.peer()))?;
        Ok(())
    }
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("side", &self.shared.side).finish_non_exhaustive()
    }
}
