//! Typed access to the control block's shared words.
//!
//! Each side owns one 128-byte line (written by that side, read by the other):
//!
//! ```text
//! line offset  size  field
//! 0            4     pid of the side's process (0 until attached)
//! 4            4     state: NOT_ATTACHED, OPEN or CLOSED
//! 8            4     data word: the side parks here waiting for data (AWAKE/PARKED)
//! 12           4     room word: the side parks here waiting for room
//! 16           112   reserved, zero
//! ```
//!
//! The wait words are the exception to "one writer per line": the peer swaps them back to
//! `AWAKE` when it wakes the side (see `shmring_wait::notify`), which happens only when the
//! side is asleep, so it costs nothing on the hot path.

use core::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::layout::{SIDE_A_OFFSET, SIDE_B_OFFSET};

/// State value: the side has not attached yet.
pub const NOT_ATTACHED: u32 = 0; // creator's initial value for side B
/// State value: the side is attached and sending/receiving.
pub const OPEN: u32 = 1; // attached
/// State value: the side closed; everything it published before stays deliverable.
pub const CLOSED: u32 = 2; // closed cleanly

/// Which end of the channel this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The creator of the segment.
    A,
    /// The side that attached to it (from an fd or a name).
    B,
}

impl Side {
    /// Index of the direction this side sends in (0 = A→B, 1 = B→A).
    pub fn outbound(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }

    /// The other side.
    pub fn peer(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    fn line(self) -> usize {
        match self {
            Side::A => SIDE_A_OFFSET,
            Side::B => SIDE_B_OFFSET,
        }
    }
}

/// The control block of a mapped channel segment.
pub(crate) struct Control {
    base: NonNull<u8>,
}

// SAFETY: `Control` only hands out references to atomics in a mapping that its owner (`Shared`)
// keeps alive; atomics are safe to share between threads.
unsafe impl Send for Control {}
// SAFETY: as for `Send`.
unsafe impl Sync for Control {}

impl Control {
    /// # Safety
    /// `payload` must point to a mapping of at least `CONTROL_LEN` bytes, 128-aligned, that
    /// outlives the `Control`, and whose control-block words are only accessed atomically.
    pub(crate) unsafe fn new(payload: NonNull<u8>) -> Control {
        Control { base: payload }
    }

    fn u32_at(&self, offset: usize) -> &AtomicU32 {
        debug_assert!(offset % 4 == 0 && offset < crate::layout::CONTROL_LEN);
        // SAFETY: offsets are constants below CONTROL_LEN (checked by the callers' layout), the
        // base is 128-aligned so the address is 4-aligned, and `new`'s contract keeps the
        // mapping alive; both processes access these words atomically only, and any bit
        // pattern is a valid u32.
        unsafe { &*self.base.as_ptr().add(offset).cast::<AtomicU32>() }
    }

    /// The parameters line as six little-endian words, read once (atomically, word by word).
    pub(crate) fn parameters(&self) -> [u64; 6] {
        core::array::from_fn(|i| {
            // SAFETY: words 0..6 of the parameters line lie within CONTROL_LEN; 8-aligned as
            // the base is 128-aligned; atomic access as in `u32_at`.
            let word = unsafe { &*self.base.as_ptr().add(i * 8).cast::<AtomicU64>() };
            // ORDERING: Relaxed; the segment's magic (Acquire in `Segment::open`/`from_fd`)
            // already synchronised with the creator's writes.
            u64::from_le(word.load(Ordering::Relaxed))
        })
    }

    /// Writes the parameters line (creator only, before publishing the segment).
    pub(crate) fn set_parameters(&self, words: [u64; 6]) {
        for (i, value) in words.into_iter().enumerate() {
            // SAFETY: as in `parameters`.
            let word = unsafe { &*self.base.as_ptr().add(i * 8).cast::<AtomicU64>() };
            // ORDERING: Relaxed; published by the Release store of the segment magic.
            word.store(value.to_le(), Ordering::Relaxed);
        }
    }

    pub(crate) fn pid(&self, side: Side) -> &AtomicU32 {
        self.u32_at(side.line())
    }

    pub(crate) fn state(&self, side: Side) -> &AtomicU32 {
        self.u32_at(side.line() + 4)
    }

    pub(crate) fn data_word(&self, side: Side) -> &AtomicU32 {
        self.u32_at(side.line() + 8)
    }

    pub(crate) fn room_word(&self, side: Side) -> &AtomicU32 {
        self.u32_at(side.line() + 12)
    }
}
