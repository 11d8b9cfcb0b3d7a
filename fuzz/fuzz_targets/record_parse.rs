//! Fuzzes `shmring_ring::record::parse`, the single place a peer-written record header
//! becomes a trusted value.
//!
//! The input supplies an arbitrary header word and the consumer's view (read position,
//! room it may advance into, capacity), shaped into the preconditions the consumer guarantees:
//! a valid capacity (power of two in `MIN_CAPACITY..=MAX_CAPACITY`), an 8-aligned
//! `pos < capacity`, and `room <= capacity`. Then:
//! * `parse` never panics (debug assertions and overflow checks are on under `cargo fuzz -a`);
//! * only a zero word is `Empty`;
//! * a `Record` fits the contiguous space up to the end of the data area and the room, and its
//!   footprint is the framing of its length;
//! * a `Pad` skips exactly to the end of the data area, and only within the room;
//! * the result equals an independent reference model written from `record.rs`'s module doc.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shmring_ring::layout::{MAX_CAPACITY, MIN_CAPACITY};
use shmring_ring::record::{self, Parsed, RECORD_ALIGN, RECORD_HEADER_LEN, TAG_PAD, TAG_RECORD};

/// The framing rules restated in 128-bit arithmetic (no overflow possible), without reusing
/// any helper of the crate under test.
fn reference(word: u64, pos: u128, room: u128, capacity: u128) -> Option<Parsed> {
    if word == 0 {
        return Some(Parsed::Empty);
    }
    let tag = (word >> 32) as u32;
    let len = u128::from(word as u32);
    let contiguous = capacity - pos;
    if tag == TAG_PAD {
        return (contiguous <= room).then_some(Parsed::Pad { skip: contiguous as usize });
    }
    // A correct producer never writes more than half the ring minus a header.
    if tag != TAG_RECORD || len > capacity / 2 - 8 {
        return None;
    }
    let footprint = 8 + len.div_ceil(8) * 8;
    (footprint <= contiguous && footprint <= room)
        .then_some(Parsed::Record { len: len as usize, footprint: footprint as usize })
}

fuzz_target!(|input: (u64, u64, u64, u8)| {
    let (word, raw_pos, raw_room, raw_exponent) = input;
    let (min_exp, max_exp) = (MIN_CAPACITY.trailing_zeros(), MAX_CAPACITY.trailing_zeros());
    let capacity = 1usize << (min_exp + u32::from(raw_exponent) % (max_exp - min_exp + 1));
    let pos = (raw_pos as usize % capacity) & !(RECORD_ALIGN - 1);
    let room = raw_room as usize % (capacity + 1);

    let parsed = record::parse(word, pos, room, capacity);
    match parsed {
        Some(Parsed::Record { len, footprint }) => {
            assert_eq!((word >> 32) as u32, TAG_RECORD, "a record needs the record tag");
            assert_eq!(len, word as u32 as usize, "len is the header's low 32 bits");
            assert_eq!(footprint, record::footprint(len), "footprint is the framing of len");
            assert_eq!(footprint % RECORD_ALIGN, 0, "footprint keeps the next record aligned");
            assert!(footprint >= RECORD_HEADER_LEN + len, "footprint covers header and payload");
            assert!(footprint <= capacity - pos, "record crosses the end of the data area");
            assert!(footprint <= room, "record extends past the room");
            assert!(pos + RECORD_HEADER_LEN + len <= capacity, "payload leaves the data area");
        }
        Some(Parsed::Pad { skip }) => {
            assert_eq!((word >> 32) as u32, TAG_PAD, "a pad needs the pad tag");
            assert_eq!(skip, capacity - pos, "a pad skips to the start of the data area");
            assert!(skip <= room, "a pad skips past the room");
            assert!(skip > 0 && (pos + skip).is_multiple_of(capacity));
        }
        Some(Parsed::Empty) => assert_eq!(word, 0, "only a zero word means nothing published"),
        None => {}
    }
    assert_eq!(parsed, reference(word, pos as u128, room as u128, capacity as u128));
});
