//! Creating a ring in a region and reading its header once at attach.

use crate::error::AttachError;
use crate::layout::{is_valid_capacity, total_len, COUNTER_LIMIT, HEADER_LEN, RING_MAGIC, RING_VERSION};
use crate::region::{Ordering, Region};
use crate::{Consumer, Producer};

/// Writes a fresh ring header (magic, version, capacity, zero counters) at the start of `region`.
///
/// Call it once, before either end attaches and before the region is shown to the peer.
pub fn init(region: &Region, capacity: usize) -> Result<(), AttachError> {
    if !is_valid_capacity(capacity) {
        return Err(AttachError::InvalidCapacity(capacity as u64));
    }
    check_len(region, total_len(capacity))?;
    // SAFETY: for all four accesses, `check_len` above verified
    // `len >= total_len(capacity) > HEADER_LEN`; offsets 0 and 8 are aligned header words.
    // ORDERING: Relaxed throughout; the region is handed to the other side by a later
    // synchronising operation (segment publish, fd passing), which orders these stores.
    unsafe {
        region.header_word(8).store(capacity as u64, Ordering::Relaxed);
        region.tail().store(0, Ordering::Relaxed);
        region.head().store(0, Ordering::Relaxed);
        region.header_word(0).store(u64::from(RING_VERSION) << 32 | u64::from(RING_MAGIC), Ordering::Relaxed);
    }
    // The consumer's first read position must hold the "nothing yet" word (see `record.rs`),
    // whatever the region held before (a fresh mapping is zero anyway).
    // ORDERING: Relaxed, as the header stores above (published by the later hand-over).
    region.store_word(0, 0, Ordering::Relaxed);
    Ok(())
}

/// A ring on the heap, for use inside one process (threads) and in tests.
///
/// # Panics
/// If `capacity` is not a power of two between 32 bytes and 4 GiB.
///
/// ```
/// let (mut producer, mut consumer) = shmring_ring::with_capacity(1024);
/// producer.push(&[1, 2, 3]).unwrap();
/// let mut buf = [0u8; 16];
/// assert_eq!(consumer.pop_into(&mut buf).unwrap(), Some(3));
/// ```
pub fn with_capacity(capacity: usize) -> (Producer, Consumer) {
    assert!(is_valid_capacity(capacity), "ring capacity must be a power of two in 32..=2^32");
    let region = Region::heap(total_len(capacity));
    init(&region, capacity).expect("a fresh heap region fits its ring");
    // SAFETY: the region was just created here, so these are its only producer and consumer.
    let producer = unsafe { Producer::attach(region.clone()) };
    // SAFETY: as above.
    let consumer = unsafe { Consumer::attach(region) };
    (producer.expect("fresh ring"), consumer.expect("fresh ring"))
}

/// Reads and validates the header once: returns `(capacity, head, tail)`, with
/// `len >= total_len(capacity)`, `head <= tail <= head + capacity`, both 8-aligned and below
/// [`COUNTER_LIMIT`].
pub(crate) fn attach_counters(region: &Region) -> Result<(usize, u64, u64), AttachError> {
    check_len(region, HEADER_LEN)?;
    // SAFETY: `check_len` just verified `len >= HEADER_LEN`; offset 0 is an aligned header word.
    // ORDERING: Relaxed; attach happens after the region was handed over (see `init`).
    let id = unsafe { region.header_word(0) }.load(Ordering::Relaxed);
    let (magic, version) = (id as u32, (id >> 32) as u32);
    if magic != RING_MAGIC {
        return Err(AttachError::BadMagic(magic));
    }
    if version != RING_VERSION {
        return Err(AttachError::VersionMismatch { found: version, expected: RING_VERSION });
    }
    // SAFETY: as above (`len >= HEADER_LEN`); offset 8 is an aligned header word.
    // ORDERING: Relaxed, as above.
    let capacity = unsafe { region.header_word(8) }.load(Ordering::Relaxed);
    if !usize::try_from(capacity).is_ok_and(is_valid_capacity) {
        return Err(AttachError::InvalidCapacity(capacity));
    }
    let capacity = capacity as usize;
    check_len(region, total_len(capacity))?;
    // SAFETY: `check_len` verified `len >= HEADER_LEN` at the top.
    // ORDERING: Acquire pairs with the Release stores in `Producer::publish`/`Consumer::publish`
    // for a ring that was in use before this attach.
    let head = unsafe { region.head() }.load(Ordering::Acquire);
    // SAFETY: as above.
    // ORDERING: Acquire, as for `head`.
    let tail = unsafe { region.tail() }.load(Ordering::Acquire);
    // Peer-written values: `head <= tail` makes `tail - head` exact, and `tail < COUNTER_LIMIT`
    // keeps every later sum of a counter and a capacity far from `u64::MAX`.
    if head > tail || tail >= COUNTER_LIMIT || tail - head > capacity as u64 || head % 8 != 0 || tail % 8 != 0 {
        return Err(AttachError::Corrupt);
    }
    Ok((capacity, head, tail))
}

fn check_len(region: &Region, needed: usize) -> Result<(), AttachError> {
    if region.len() < needed {
        return Err(AttachError::RegionTooSmall { needed, actual: region.len() });
    }
    Ok(())
}

/// Whether the ring in `region` holds published records its consumer has not released yet.
///
/// A read-only look for a thread that watches a ring it does not consume (to decide whether
/// to wake the consumer's thread). It may say yes for a ring that holds only a pad marker or
/// records consumed but not yet released; the consumer then finds less than promised (and a
/// consumer that finds the ring empty after skipping a pad releases the pad, so a pad alone
/// does not keep this `true`). A region too small for a ring header holds no ring: `false`.
pub fn has_unreleased(region: &Region) -> bool {
    if region.len() < HEADER_LEN {
        return false;
    }
    // SAFETY: both accesses: `len >= HEADER_LEN` was checked just above.
    // ORDERING: Acquire pairs with the Release store in `Producer::publish`; the head is the
    // consumer's own (Relaxed: this is a hint, the consumer revalidates everything).
    // `>`, not `!=`: the stored tail may trail the consumer's head for a moment (the header
    // that publishes a batch is stored before it), which is not pending data.
    unsafe { region.tail().load(Ordering::Acquire) > region.head().load(Ordering::Relaxed) }
}

/// The consumer's released-bytes counter, for a thread that watches for room in a ring it
/// does not produce into: room appeared when this value moved. A region too small for a ring
/// header holds no ring: 0.
pub fn released(region: &Region) -> u64 {
    if region.len() < HEADER_LEN {
        return 0;
    }
    // SAFETY: `len >= HEADER_LEN` was checked just above.
    // ORDERING: Acquire pairs with the Release store in `Consumer::publish`.
    unsafe { region.head() }.load(Ordering::Acquire)
}
