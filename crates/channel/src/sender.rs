//! The sending half of one side: three outbound lanes, backpressure, wake of a parked peer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shmring_ring::{Producer, PushError};
use shmring_wait::{ParkResult, Spinner};

use crate::control::CLOSED;
use crate::layout::LANES;
use crate::shared::Shared;
use crate::{ChannelError, Priority};

/// Sends messages to the peer. `Send`; one per side.
pub struct Sender {
    producers: [Producer; LANES],
    spinner: Spinner,
    // Last: the rings above point into its mapping.
    shared: Arc<Shared>,
}

impl Sender {
    pub(crate) fn new(producers: [Producer; LANES], shared: Arc<Shared>) -> Sender {
        Sender { producers, spinner: Spinner::new(), shared }
    }

    /// Sends `data` on the normal lane if there is room now. `Ok(false)` means full: retry
    /// later or use [`send`](Self::send). Makes no system call unless the peer is asleep.
    #[inline]
    pub fn try_send(&mut self, data: &[u8]) -> Result<bool, ChannelError> {
        self.try_send_with(data, Priority::Normal)
    }

    /// [`try_send`](Self::try_send) on the lane of `priority`.
    #[inline]
    pub fn try_send_with(&mut self, data: &[u8], priority: Priority) -> Result<bool, ChannelError> {
        self.check_open()?;
        match self.producers[priority as usize].push(data) {
            Ok(()) => {
                self.wake_peer()?;
                Ok(true)
            }
            Err(PushError::Full) => self.lane_full().map(|()| false),
            Err(e) => Err(self.push_error(e)),
        }
    }

    /// Sends as many of `messages` as fit now on the lane of `priority`, with one publish and
    /// at most one wake. Returns how many were sent.
    pub fn try_send_batch<T: AsRef<[u8]>>(
        &mut self,
        messages: &[T],
        priority: Priority,
    ) -> Result<usize, ChannelError> {
        self.check_open()?;
        let sent = self.producers[priority as usize].push_batch(messages).map_err(|e| self.push_error(e))?;
        if sent > 0 {
            self.wake_peer()?;
        } else if !messages.is_empty() {
            self.lane_full()?;
        }
        Ok(sent)
    }

    /// Sends `data` on the normal lane, waiting for room up to `timeout` (`None`: no limit).
    /// While waiting it spins briefly, then sleeps; it notices a dead peer at once on Linux
    /// (exit alarm), elsewhere within [`LIVENESS_SLICE`](crate::LIVENESS_SLICE)-ish time.
    pub fn send(&mut self, data: &[u8], timeout: Option<Duration>) -> Result<(), ChannelError> {
        self.send_with(data, Priority::Normal, timeout)
    }

    /// [`send`](Self::send) on the lane of `priority`.
    pub fn send_with(
        &mut self,
        data: &[u8],
        priority: Priority,
        timeout: Option<Duration>,
    ) -> Result<(), ChannelError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if self.try_send_with(data, priority)? {
                return Ok(());
            }
            let Sender { producers, spinner, shared } = self;
            let producer = &mut producers[priority as usize];
            let room = shared.room_word(shared.side);
            let mut outcome = None;
            let parked = shared.park(&room, spinner, deadline, || {
                if shared.is_closed() || shared.peer_state() == CLOSED {
                    return true;
                }
                match producer.push(data) {
                    Ok(()) => outcome = Some(Ok(())),
                    Err(PushError::Full) => return false,
                    Err(e) => outcome = Some(Err(e)),
                }
                true
            })?;
            match outcome {
                Some(Ok(())) => return self.wake_peer(),
                Some(Err(e)) => return Err(self.push_error(e)),
                None => {}
            }
            if self.shared.peer_found_dead() {
                self.check_open()?; // our own close, or the peer's, takes precedence
                return Err(ChannelError::PeerDead);
            }
            if parked == ParkResult::TimedOut {
                return Err(ChannelError::Timeout);
            }
        }
    }

    /// Fill ratio of the lane of `priority`, 0.0 (empty) to 1.0 (full).
    pub fn fill(&mut self, priority: Priority) -> Result<f64, ChannelError> {
        if self.shared.is_closed() {
            return Err(self.shared.closed_error());
        }
        let producer = &mut self.producers[priority as usize];
        let used = producer.used_len().map_err(|_| self.shared.corrupt())?;
        Ok(used as f64 / producer.capacity() as f64)
    }

    /// Largest message the lane of `priority` accepts.
    pub fn max_message_len(&self, priority: Priority) -> usize {
        self.producers[priority as usize].max_payload_len()
    }

    /// Closes this side (both halves): the peer receives what was sent, then `PeerClosed`.
    pub fn close(&self) {
        self.shared.close();
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn shared_arc(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn check_open(&self) -> Result<(), ChannelError> {
        if self.shared.is_closed() {
            return Err(self.shared.closed_error());
        }
        match self.shared.peer_state() {
            CLOSED => Err(ChannelError::PeerClosed),
            _ => Ok(()),
        }
    }

    #[inline]
    fn wake_peer(&self) -> Result<(), ChannelError> {
        shmring_wait::notify(&self.shared.data_word(self.shared.side.peer()))?;
        Ok(())
    }

    /// The lane is full: that is final if the peer is known to be dead (it will never release
    /// room; without this a caller retrying on room, like Node's room doorbell, would spin).
    #[cold]
    fn lane_full(&self) -> Result<(), ChannelError> {
        if self.shared.peer_found_dead() {
            return Err(ChannelError::PeerDead);
        }
        Ok(())
    }

    fn push_error(&self, e: PushError) -> ChannelError {
        match e {
            PushError::TooLarge { len, max } => ChannelError::TooLarge { len, max },
            PushError::Full | PushError::Corrupt => self.shared.corrupt(),
        }
    }
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("side", &self.shared.side).finish_non_exhaustive()
    }
}
