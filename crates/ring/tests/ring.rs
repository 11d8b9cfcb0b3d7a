//! Specification of the SPSC record ring as seen through `Producer` and `Consumer`.

use shmring_ring::record::record_header;
use shmring_ring::{
    has_unreleased, init, released, total_len, with_capacity, Consumer, PopError, Producer, PushError, Region,
};

#[test]
fn a_pushed_record_pops_with_the_same_bytes() {
    let (mut producer, mut consumer) = with_capacity(64);
    producer.push(b"hello").unwrap();
    assert_eq!(consumer.pop().unwrap().as_deref(), Some(&b"hello"[..]));
}

#[test]
fn pop_on_an_empty_ring_returns_none() {
    let (_producer, mut consumer) = with_capacity(64);
    assert_eq!(consumer.pop().unwrap(), None);
    assert_eq!(consumer.pop_into(&mut [0; 8]).unwrap(), None);
    assert!(consumer.peek().unwrap().is_none());
}

#[test]
fn empty_records_are_records() {
    let (mut producer, mut consumer) = with_capacity(64);
    producer.push(b"").unwrap();
    assert_eq!(consumer.pop().unwrap(), Some(vec![]));
    assert_eq!(consumer.pop().unwrap(), None);
}

#[test]
fn push_on_a_full_ring_returns_full_and_leaves_it_unchanged() {
    let (mut producer, mut consumer) = with_capacity(64);
    // Each 8-byte record takes 16 bytes, and 8 bytes always stay free for the word that marks
    // the end of the published records: three fill the ring.
    for i in 0..3u8 {
        producer.push(&[i; 8]).unwrap();
    }
    assert_eq!(producer.push(&[9; 8]), Err(PushError::Full));
    assert_eq!(consumer.pop().unwrap(), Some(vec![0; 8]));
    producer.push(&[3; 8]).unwrap();
    for i in 1..4u8 {
        assert_eq!(consumer.pop().unwrap(), Some(vec![i; 8]));
    }
}

#[test]
fn a_record_larger_than_half_the_ring_is_too_large() {
    let (mut producer, _consumer) = with_capacity(64);
    assert_eq!(producer.max_payload_len(), 24);
    assert_eq!(producer.push(&[0; 25]), Err(PushError::TooLarge { len: 25, max: 24 }));
    producer.push(&[0; 24]).unwrap();
}

#[test]
fn a_maximal_record_always_fits_once_the_ring_drains_wherever_the_cursor_is() {
    for offset_records in 0..8 {
        let (mut producer, mut consumer) = with_capacity(64);
        for _ in 0..offset_records {
            producer.push(&[]).unwrap();
            consumer.pop().unwrap().unwrap();
        }
        producer.push(&[7; 24]).unwrap();
        assert_eq!(consumer.pop().unwrap(), Some(vec![7; 24]));
    }
}

#[test]
fn a_record_that_would_cross_the_end_is_placed_after_a_pad_at_the_start() {
    let (mut producer, mut consumer) = with_capacity(64);
    producer.push(&[1; 24]).unwrap(); // 32 bytes: 0..32
    producer.push(&[2; 8]).unwrap(); // 16 bytes: 32..48
    assert_eq!(consumer.pop().unwrap(), Some(vec![1; 24]));
    assert_eq!(consumer.pop().unwrap(), Some(vec![2; 8]));
    // 16 bytes left before the end; a 24-byte record (32) pads 48..64 and goes to 0..32.
    producer.push(&[3; 24]).unwrap();
    let record = consumer.peek().unwrap().unwrap();
    assert_eq!(record.as_ptr(), producer_data_start(&record));
    assert_eq!(record.to_vec(), vec![3; 24]);
}

fn producer_data_start(record: &shmring_ring::Record<'_>) -> *const u8 {
    // The record sits right after its header at the start of the data area (offset 8).
    let base = record.as_ptr() as usize - 8;
    assert_eq!((base - shmring_ring::layout::HEADER_LEN) % 128, 0, "record must start the data area");
    record.as_ptr()
}

#[test]
fn staged_records_are_invisible_until_published() {
    let (mut producer, mut consumer) = with_capacity(256);
    producer.stage(b"a").unwrap();
    producer.stage(b"b").unwrap();
    assert_eq!(consumer.pop().unwrap(), None);
    assert!(producer.publish());
    assert!(!producer.publish(), "nothing new to publish");
    assert_eq!(consumer.pop().unwrap().as_deref(), Some(&b"a"[..]));
    assert_eq!(consumer.pop().unwrap().as_deref(), Some(&b"b"[..]));
}

#[test]
fn push_batch_pushes_what_fits_and_reports_the_count() {
    let (mut producer, mut consumer) = with_capacity(64);
    let items = [[1u8; 8]; 6];
    assert_eq!(producer.push_batch(&items).unwrap(), 3);
    let mut seen = 0;
    assert_eq!(consumer.pop_batch(100, |r| seen += r.len()).unwrap(), 3);
    assert_eq!(seen, 24);
}

#[test]
fn push_batch_reports_too_large_only_for_the_first_item() {
    let (mut producer, _consumer) = with_capacity(64);
    assert!(matches!(producer.push_batch(&[vec![0; 100]]), Err(PushError::TooLarge { .. })));
    assert_eq!(producer.push_batch(&[vec![0; 1], vec![0; 100]]).unwrap(), 1);
}

#[test]
fn a_reserved_slot_is_invisible_until_committed_and_abandoned_when_dropped() {
    let (mut producer, mut consumer) = with_capacity(128);
    {
        let mut slot = producer.reserve(4).unwrap();
        slot.write(0, b"nope");
    }
    assert_eq!(consumer.pop().unwrap(), None);
    let mut slot = producer.reserve(4).unwrap();
    slot.write(2, b"yz");
    slot.write(0, b"wx");
    assert_eq!(consumer.pop().unwrap(), None);
    slot.commit();
    assert_eq!(consumer.pop().unwrap().as_deref(), Some(&b"wxyz"[..]));
}

#[test]
#[should_panic(expected = "write past the reserved slot")]
fn writing_past_a_reserved_slot_panics() {
    let (mut producer, _consumer) = with_capacity(128);
    producer.reserve(4).unwrap().write(2, b"abc");
}

#[test]
fn pop_into_a_short_buffer_leaves_the_record_in_the_ring() {
    let (mut producer, mut consumer) = with_capacity(64);
    producer.push(b"twelve bytes").unwrap();
    assert_eq!(consumer.pop_into(&mut [0; 4]), Err(PopError::BufferTooSmall { needed: 12 }));
    let mut buf = [0; 12];
    assert_eq!(consumer.pop_into(&mut buf).unwrap(), Some(12));
    assert_eq!(&buf, b"twelve bytes");
}

#[test]
fn peek_does_not_consume_and_release_does() {
    let (mut producer, mut consumer) = with_capacity(64);
    producer.push(b"x").unwrap();
    assert_eq!(consumer.peek().unwrap().unwrap().to_vec(), b"x");
    assert_eq!(consumer.peek().unwrap().unwrap().to_vec(), b"x");
    consumer.release();
    assert!(consumer.peek().unwrap().is_none());
}

#[test]
fn consumed_space_returns_to_the_producer_only_when_published() {
    let (mut producer, mut consumer) = with_capacity(64);
    for _ in 0..3 {
        producer.push(&[0; 8]).unwrap();
    }
    consumer.peek().unwrap().unwrap();
    consumer.consume();
    assert_eq!(producer.push(&[0; 8]), Err(PushError::Full));
    assert!(consumer.publish());
    producer.push(&[0; 8]).unwrap();
}

#[test]
fn used_len_tracks_the_fill_level_on_both_ends() {
    let (mut producer, mut consumer) = with_capacity(64);
    assert_eq!(producer.used_len().unwrap(), 0);
    producer.push(&[0; 8]).unwrap();
    assert_eq!(producer.used_len().unwrap(), 16);
    assert_eq!(consumer.used_len().unwrap(), 16);
    consumer.pop().unwrap();
    assert_eq!(producer.used_len().unwrap(), 0);
}

#[test]
fn records_cross_threads_in_order_with_their_contents_across_many_wraps() {
    const N: u64 = if cfg!(miri) {
        1_000
    } else if cfg!(debug_assertions) {
        200_000
    } else {
        2_000_000
    };
    let (mut producer, mut consumer) = with_capacity(4096);
    let writer = std::thread::spawn(move || {
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut buf = [0u8; 300];
        for seq in 0..N {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let len = 8 + (rng % 290) as usize;
            buf[..8].copy_from_slice(&seq.to_le_bytes());
            for (i, b) in buf[8..len].iter_mut().enumerate() {
                *b = (seq as usize + i) as u8;
            }
            while let Err(e) = producer.push(&buf[..len]) {
                assert_eq!(e, PushError::Full);
                std::hint::spin_loop();
            }
        }
    });
    let mut buf = [0u8; 300];
    let mut seq = 0u64;
    while seq < N {
        match consumer.pop_into(&mut buf).unwrap() {
            None => std::hint::spin_loop(),
            Some(len) => {
                assert_eq!(u64::from_le_bytes(buf[..8].try_into().unwrap()), seq);
                for (i, b) in buf[8..len].iter().enumerate() {
                    assert_eq!(*b, (seq as usize + i) as u8, "record {seq} byte {i}");
                }
                seq += 1;
            }
        }
    }
    writer.join().unwrap();
    assert_eq!(consumer.pop().unwrap(), None);
}

/// A ring whose region the test keeps, to look at it the way a watcher thread does.
fn ring_with_region(capacity: usize) -> (Region, Producer, Consumer) {
    let region = Region::heap(total_len(capacity));
    init(&region, capacity).unwrap();
    // SAFETY: fresh region; these are its only producer and consumer.
    let producer = unsafe { Producer::attach(region.clone()) }.unwrap();
    // SAFETY: as above.
    let consumer = unsafe { Consumer::attach(region.clone()) }.unwrap();
    (region, producer, consumer)
}

#[test]
fn a_pad_left_by_an_abandoned_slot_is_released_when_the_consumer_finds_the_ring_empty() {
    let (region, mut producer, mut consumer) = ring_with_region(64);
    producer.push(&[1; 24]).unwrap(); // 0..32
    producer.push(&[2; 8]).unwrap(); // 32..48
    assert_eq!(consumer.pop().unwrap(), Some(vec![1; 24]));
    assert_eq!(consumer.pop().unwrap(), Some(vec![2; 8]));
    // 16 bytes before the end: a 24-byte record pads 48..64; dropping the slot abandons the
    // record but not the pad, which `publish` makes visible on its own.
    let _ = producer.reserve(24).unwrap(); // the slot drops at once: abandoned.
    assert!(producer.publish());
    assert!(has_unreleased(&region));
    let before = released(&region);
    assert_eq!(consumer.pop().unwrap(), None);
    assert!(!has_unreleased(&region), "a watcher must not see the skipped pad as pending data");
    assert_eq!(released(&region), before + 16);
    assert_eq!(producer.used_len().unwrap(), 0);
}

#[test]
fn a_pad_skipped_after_consumed_records_is_released_with_them_by_publish() {
    let (region, mut producer, mut consumer) = ring_with_region(128);
    producer.push(&[1; 40]).unwrap(); // 0..48
    producer.push(&[2; 40]).unwrap(); // 48..96
    assert_eq!(consumer.pop_batch(usize::MAX, |_| {}).unwrap(), 2);
    producer.push(&[3; 8]).unwrap(); // 96..112
    let _ = producer.reserve(24).unwrap(); // pads 112..128; the slot drops at once: abandoned
    producer.publish();
    consumer.peek().unwrap().unwrap();
    consumer.consume();
    assert!(consumer.peek().unwrap().is_none());
    // `consume` without `publish` holds the space back, the pad behind it included.
    assert_eq!(released(&region), 96, "consumed records stay unreleased until publish");
    assert!(consumer.publish());
    assert_eq!(released(&region), 128);
    assert!(!has_unreleased(&region));
}

#[test]
fn has_unreleased_and_released_report_nothing_for_a_region_too_small_for_a_ring_header() {
    for len in [0, 8, 129, shmring_ring::layout::HEADER_LEN - 1] {
        let region = Region::heap(len);
        assert!(!has_unreleased(&region), "len {len}");
        assert_eq!(released(&region), 0, "len {len}");
    }
}

#[test]
fn handles_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<shmring_ring::Producer>();
    assert_send::<shmring_ring::Consumer>();
}

#[test]
fn handles_are_sync_and_every_mutation_takes_mut_self() {
    fn assert_sync<T: Sync>() {}
    assert_sync::<shmring_ring::Producer>();
    assert_sync::<shmring_ring::Consumer>();
}

#[test]
fn old_payload_bytes_that_look_like_a_header_are_never_delivered() {
    // Records are found through the header word at the read position, so the producer must
    // leave "nothing yet" (zero) where the next record will go, over whatever was there.
    let (mut producer, mut consumer) = with_capacity(64);
    let phantom = record_header(8).to_le_bytes().repeat(3); // three header-shaped words
    producer.push(&phantom).unwrap(); // 0..32: its payload covers offsets 8..32
    assert_eq!(consumer.pop().unwrap(), Some(phantom.clone()));
    producer.push(&[1; 16]).unwrap(); // 32..56
    assert_eq!(consumer.pop().unwrap(), Some(vec![1; 16]));
    producer.push(&[]).unwrap(); // 56..64
    assert_eq!(consumer.pop().unwrap(), Some(vec![]));
    producer.push(&[]).unwrap(); // 0..8 of the next lap; the next record would go at 8
    assert_eq!(consumer.pop().unwrap(), Some(vec![]));
    assert_eq!(consumer.pop().unwrap(), None, "offset 8 still holds a header-shaped payload word");
}
