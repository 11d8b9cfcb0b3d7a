//! The byte layout of one ring inside a shared mapping.
//!
//! ```text
//! offset  size      written by   field
//! 0       4         creator      magic    = RING_MAGIC ("RNG1"), read once at attach
//! 4       4         creator      version  = RING_VERSION
//! 8       8         creator      capacity = data bytes, a power of two in MIN_CAPACITY..=MAX_CAPACITY (32 B..4 GiB)
//! 16      112       -            reserved, zero
//! 128     8         producer     tail: u64, monotonic byte counter of published data (own 128-byte line; < COUNTER_LIMIT at attach)
//! 136     120       -            reserved, zero
//! 256     8         consumer     head: u64, monotonic byte counter of released data (own 128-byte line; < COUNTER_LIMIT at attach)
//! 264     120       -            reserved, zero
//! 384     capacity  both         records (see `record.rs`)
//! ```
//!
//! Head and tail live on separate 128-byte lines (two 64-byte lines, as the adjacent-line
//! prefetcher of x86 pulls pairs) so the producer's writes never invalidate the consumer's line
//! and vice versa. docs/LAYOUT.md is the normative description for peers written in other languages.

/// `b"RNG1"` read as a little-endian `u32`.
pub const RING_MAGIC: u32 = u32::from_le_bytes(*b"RNG1");
/// Version of this layout; bumped on any incompatible change.
pub const RING_VERSION: u32 = 2;
/// Bytes before the data area: three 128-byte lines.
pub const HEADER_LEN: usize = 384;
/// Offset of the producer-owned `tail` counter.
pub const TAIL_OFFSET: usize = 128;
/// Offset of the consumer-owned `head` counter.
pub const HEAD_OFFSET: usize = 256;
/// Smallest supported capacity in bytes.
pub const MIN_CAPACITY: usize = 32;
/// Largest supported capacity in bytes (4 GiB): the largest payload (half the ring minus a
/// header) must fit the 32-bit length of a record header, and counter sums stay far from
/// overflow.
pub const MAX_CAPACITY: usize = 1 << 32;
/// Counters found at attach must be below this (2^62), or the ring is `Corrupt`. A live ring
/// still has 3 * 2^62 bytes (about 44 years at 10 GB/s) of counter space left before a `u64`
/// could overflow; the ends' arithmetic on counters is overflow-free beyond that too (checked
/// or bounded by a validated counter), so even a peer that races a counter towards `u64::MAX`
/// gets `Corrupt` or "full/empty", never a panic.
pub const COUNTER_LIMIT: u64 = 1 << 62;
/// Alignment the region must have (a cache-line pair).
pub const REGION_ALIGN: usize = 128;

/// Number of bytes a ring with `capacity` data bytes occupies, header included.
///
/// ```
/// assert_eq!(shmring_ring::total_len(4096), 384 + 4096);
/// ```
pub const fn total_len(capacity: usize) -> usize {
    HEADER_LEN + capacity
}

/// Whether `capacity` is a valid data capacity (a power of two within the supported range).
pub const fn is_valid_capacity(capacity: usize) -> bool {
    capacity.is_power_of_two() && capacity >= MIN_CAPACITY && capacity <= MAX_CAPACITY
}

const _: () = assert!(TAIL_OFFSET % REGION_ALIGN == 0 && HEAD_OFFSET % REGION_ALIGN == 0);
const _: () = assert!(HEADER_LEN % REGION_ALIGN == 0 && HEAD_OFFSET + 8 <= HEADER_LEN);
