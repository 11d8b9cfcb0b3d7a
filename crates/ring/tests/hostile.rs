//! Specification of the ring against a hostile peer: any value written into the shared memory
//! yields data or `Corrupt`, never a panic, an out-of-bounds access or a hang.

use proptest::prelude::*;
use shmring_ring::layout::{HEADER_LEN, HEAD_OFFSET, TAIL_OFFSET};
use shmring_ring::{init, total_len, Consumer, Corrupt, PopError, Producer, PushError, Region};

/// A ring whose raw bytes the test can rewrite between operations, as a peer process would.
struct Exposed {
    region: Region,
    producer: Producer,
    consumer: Consumer,
}

fn exposed(capacity: usize) -> Exposed {
    let region = Region::heap(total_len(capacity));
    init(&region, capacity).unwrap();
    // SAFETY: fresh region; these are its only producer and consumer.
    let producer = unsafe { Producer::attach(region.clone()) }.unwrap();
    // SAFETY: as above.
    let consumer = unsafe { Consumer::attach(region.clone()) }.unwrap();
    Exposed { region, producer, consumer }
}

impl Exposed {
    fn poke_u64(&self, offset: usize, value: u64) {
        assert!(offset + 8 <= self.region.len());
        // SAFETY: in bounds (checked above) and no operation on the ring runs concurrently.
        unsafe { self.region.as_ptr().as_ptr().add(offset).cast::<u64>().write_unaligned(value.to_le()) }
    }
    fn poke_u8(&self, offset: usize, value: u8) {
        assert!(offset < self.region.len());
        // SAFETY: in bounds and not concurrent, as in `poke_u64`.
        unsafe { self.region.as_ptr().as_ptr().add(offset).write(value) }
    }
}

#[test]
fn a_tail_beyond_the_capacity_is_corrupt() {
    let mut ring = exposed(64);
    ring.poke_u64(TAIL_OFFSET, 72);
    assert_eq!(ring.consumer.used_len(), Err(Corrupt));
    assert_eq!(ring.consumer.pop(), Err(Corrupt), "corrupt is sticky");
}

#[test]
fn a_tail_that_moves_backwards_is_corrupt() {
    let mut ring = exposed(64);
    ring.producer.push(&[1; 8]).unwrap();
    assert_eq!(ring.consumer.used_len(), Ok(16));
    ring.poke_u64(TAIL_OFFSET, 8);
    assert_eq!(ring.consumer.used_len(), Err(Corrupt));
}

#[test]
fn an_unaligned_tail_is_corrupt() {
    let mut ring = exposed(64);
    ring.poke_u64(TAIL_OFFSET, 13);
    assert_eq!(ring.consumer.used_len(), Err(Corrupt));
}

#[test]
fn a_tail_without_a_header_behind_it_delivers_nothing() {
    // Records are found through their headers; a peer that only moves `tail` publishes nothing.
    let mut ring = exposed(64);
    ring.poke_u64(TAIL_OFFSET, 16);
    assert_eq!(ring.consumer.pop(), Ok(None));
}

#[test]
fn a_record_reaching_into_unreleased_space_is_corrupt() {
    // The consumer holds 48 bytes consumed but unreleased; a peer that writes a pad at the end
    // and so points the consumer back at the start would make it read its own records again.
    let mut ring = exposed(64);
    for _ in 0..3 {
        ring.producer.push(&[1; 8]).unwrap();
    }
    for _ in 0..3 {
        assert!(ring.consumer.peek().unwrap().is_some());
        ring.consumer.consume();
    }
    ring.poke_u64(HEADER_LEN + 48, u64::from_le_bytes(*b"\0\0\0\0PAD\0"));
    assert_eq!(ring.consumer.pop(), Err(Corrupt));
}

#[test]
fn an_unknown_record_tag_is_corrupt_and_stays_corrupt() {
    let mut ring = exposed(64);
    ring.producer.push(&[1; 8]).unwrap();
    ring.poke_u64(HEADER_LEN, 0xdead_beef_0000_0008);
    assert_eq!(ring.consumer.pop(), Err(Corrupt));
    assert!(ring.consumer.is_corrupt());
    assert_eq!(ring.consumer.pop_into(&mut [0; 64]), Err(PopError::Corrupt));
}

#[test]
fn a_record_longer_than_half_the_ring_is_corrupt() {
    let mut ring = exposed(64);
    ring.producer.push(&[1; 8]).unwrap();
    ring.poke_u8(HEADER_LEN, 40);
    assert_eq!(ring.consumer.pop(), Err(Corrupt));
}

#[test]
fn a_head_ahead_of_the_published_tail_is_corrupt_for_the_producer() {
    let mut ring = exposed(64);
    for _ in 0..3 {
        ring.producer.push(&[0; 8]).unwrap();
    }
    ring.poke_u64(HEAD_OFFSET, 128);
    assert_eq!(ring.producer.push(&[0; 8]), Err(PushError::Corrupt));
    assert_eq!(ring.producer.push(&[]), Err(PushError::Corrupt));
}

#[test]
fn a_head_that_moves_backwards_is_corrupt_for_the_producer() {
    let mut ring = exposed(64);
    for _ in 0..3 {
        ring.producer.push(&[0; 8]).unwrap();
    }
    ring.consumer.pop().unwrap();
    ring.producer.push(&[0; 8]).unwrap(); // refreshes head to 16
    ring.poke_u64(HEAD_OFFSET, 8);
    assert_eq!(ring.producer.push(&[0; 8]), Err(PushError::Corrupt));
}

#[test]
fn attach_rejects_a_header_with_another_magic_version_or_capacity() {
    let ring = exposed(64);
    ring.poke_u64(8, 48);
    // SAFETY: no other consumer of this region is used after this point.
    let err = unsafe { Consumer::attach(ring.region.clone()) }.unwrap_err();
    assert_eq!(err, shmring_ring::AttachError::InvalidCapacity(48));
    ring.poke_u64(8, 1 << 20);
    // SAFETY: as above.
    let err = unsafe { Consumer::attach(ring.region.clone()) }.unwrap_err();
    assert!(matches!(err, shmring_ring::AttachError::RegionTooSmall { .. }));
    ring.poke_u64(0, u64::from_le_bytes(*b"RNG1\x01\0\0\0"));
    // SAFETY: as above.
    let err = unsafe { Consumer::attach(ring.region.clone()) }.unwrap_err();
    assert_eq!(err, shmring_ring::AttachError::VersionMismatch { found: 1, expected: 2 });
    ring.poke_u64(0, 0);
    // SAFETY: as above.
    let err = unsafe { Producer::attach(ring.region.clone()) }.unwrap_err();
    assert_eq!(err, shmring_ring::AttachError::BadMagic(0));
}

#[test]
fn attach_rejects_counters_at_or_beyond_two_to_the_62_as_corrupt() {
    // A peer can leave any counters before we attach; near `u64::MAX` they would overflow
    // `released + capacity` and `tail + footprint` later.
    // `!7` is `u64::MAX` rounded down to a multiple of 8.
    for counter in [!7u64, 1 << 63, 1 << 62] {
        let ring = exposed(64);
        ring.poke_u64(TAIL_OFFSET, counter);
        ring.poke_u64(HEAD_OFFSET, counter);
        // SAFETY: the ends created by `exposed` are not used after this point.
        let err = unsafe { Consumer::attach(ring.region.clone()) }.unwrap_err();
        assert_eq!(err, shmring_ring::AttachError::Corrupt, "counter {counter:#x}");
        // SAFETY: as above.
        let err = unsafe { Producer::attach(ring.region.clone()) }.unwrap_err();
        assert_eq!(err, shmring_ring::AttachError::Corrupt, "counter {counter:#x}");
    }
    let ring = exposed(64);
    let below = (1 << 62) - 8;
    ring.poke_u64(TAIL_OFFSET, below);
    ring.poke_u64(HEAD_OFFSET, below);
    // SAFETY: as above; these are now the ring's only producer and consumer.
    let mut producer = unsafe { Producer::attach(ring.region.clone()) }.unwrap();
    // SAFETY: as above.
    let mut consumer = unsafe { Consumer::attach(ring.region.clone()) }.unwrap();
    for round in 0..20u8 {
        producer.push(&[round; 20]).unwrap();
        assert_eq!(consumer.pop().unwrap(), Some(vec![round; 20]));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else if cfg!(debug_assertions) { 512 } else { 4096 }))]
    /// A scribbler rewrites random bytes of the whole region (header, counters, records)
    /// between operations; both ends only ever return data, "empty/full" or an error.
    #[test]
    fn random_scribbles_yield_data_or_errors_only(
        steps in proptest::collection::vec((any::<u16>(), any::<u64>(), 0u8..8, 0usize..40), 1..300)
    ) {
        let mut ring = exposed(256);
        let len = ring.region.len();
        let mut buf = [0u8; 256];
        for (where_, value, action, size) in steps {
            match action {
                0 => ring.poke_u8(where_ as usize % len, value as u8),
                1 => ring.poke_u64((where_ as usize % (len / 8)) * 8, value),
                2 => ring.poke_u64(TAIL_OFFSET, value % 1024),
                3 => ring.poke_u64(HEAD_OFFSET, value % 1024),
                4 | 5 => { let _ = ring.producer.push(&buf[..size]); }
                6 => { let _ = ring.consumer.pop_into(&mut buf); }
                _ => { let _ = ring.consumer.pop_batch(4, |r| { let _ = r.to_vec(); }); }
            }
            if let Ok(Some(record)) = ring.consumer.peek() {
                prop_assert!(record.len() <= 256);
            }
        }
    }
}
