//! Errors of ring operations. Expected outcomes (full, empty) are variants; `Corrupt` means the
//! peer wrote something a correct peer never writes, and is sticky: the ring stays unusable.

use core::fmt;

/// Why a ring could not be attached to a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachError {
    /// The region is smaller than the ring needs (or than a ring header).
    RegionTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        actual: usize,
    },
    /// The capacity is not a power of two in the supported range.
    InvalidCapacity(u64),
    /// The header does not start with the ring magic.
    BadMagic(u32),
    /// The header has another layout version.
    VersionMismatch {
        /// Version found in the header.
        found: u32,
        /// Version this code speaks.
        expected: u32,
    },
    /// The counters in the header are inconsistent (`head <= tail <= head + capacity` fails,
    /// one is not a multiple of 8, or `tail` is at or beyond
    /// [`COUNTER_LIMIT`](crate::layout::COUNTER_LIMIT) = 2^62).
    Corrupt,
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::RegionTooSmall { needed, actual } => {
                write!(f, "ring region too small: need {needed} bytes, have {actual}")
            }
            AttachError::InvalidCapacity(c) => write!(f, "invalid ring capacity {c}"),
            AttachError::BadMagic(m) => write!(f, "not a ring (magic {m:#010x})"),
            AttachError::VersionMismatch { found, expected } => {
                write!(f, "ring layout version {found}, expected {expected}")
            }
            AttachError::Corrupt => f.write_str("corrupt ring counters"),
        }
    }
}
impl std::error::Error for AttachError {}

/// Why a record could not be pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// Not enough free space now; retry after the consumer releases records.
    Full,
    /// The payload is larger than [`Producer::max_payload_len`](crate::Producer::max_payload_len); it never fits.
    TooLarge {
        /// Requested payload length.
        len: usize,
        /// Largest payload this ring accepts.
        max: usize,
    },
    /// The consumer's counter is impossible (or, after 2^64 bytes, the ring's byte counter is
    /// used up); the ring is unusable.
    Corrupt,
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full => f.write_str("full ring buffer"),
            PushError::TooLarge { len, max } => {
                write!(f, "record of {len} bytes exceeds the maximum of {max}")
            }
            PushError::Corrupt => f.write_str("corrupt ring"),
        }
    }
}
impl std::error::Error for PushError {}

/// Why a record could not be popped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopError {
    /// The destination buffer is smaller than the next record, which stays in the ring.
    BufferTooSmall {
        /// Payload length of the next record.
        needed: usize,
    },
    /// The producer wrote an impossible counter or record header; the ring is unusable.
    Corrupt,
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PopError::BufferTooSmall { needed } => {
                write!(f, "buffer too small for a record of {needed} bytes")
            }
            PopError::Corrupt => f.write_str("corrupt ring"),
        }
    }
}
impl std::error::Error for PopError {}

/// The peer broke the ring protocol; returned by operations that can only fail that way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("corrupt ring")
    }
}
impl std::error::Error for Corrupt {}

impl From<Corrupt> for PopError {
    fn from(_: Corrupt) -> Self {
        PopError::Corrupt
    }
}
impl From<Corrupt> for PushError {
    fn from(_: Corrupt) -> Self {
        PushError::Corrupt
    }
}
