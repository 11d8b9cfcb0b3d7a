//! Variable-length record framing: an 8-byte header, the payload, padding to 8 bytes.
//!
//! * A record header is one little-endian `u64`: the low 32 bits are the payload length in
//!   bytes, the high 32 bits the tag (`TAG_RECORD` or `TAG_PAD`).
//! * A record never wraps. When a record does not fit between the write position and the end
//!   of the data area, the producer writes a pad header there (`TAG_PAD`, length ignored), which
//!   tells the consumer to skip to the start of the data area.
//! * Every record starts 8-byte aligned; its footprint is `8 + round_up(len, 8)` bytes.
//!
//! `parse` is the single place a peer-written header becomes a trusted value; everything it
//! returns was checked against the consumer's own counters.

/// Bytes of a record header.
pub const RECORD_HEADER_LEN: usize = 8;
/// Alignment of every record.
pub const RECORD_ALIGN: usize = 8;
/// Tag of a data record (`b"REC\0"` read little-endian).
pub const TAG_RECORD: u32 = u32::from_le_bytes(*b"REC\0");
/// Tag of a pad marker: skip to the start of the data area.
pub const TAG_PAD: u32 = u32::from_le_bytes(*b"PAD\0");

/// Bytes a record with a `len`-byte payload occupies, header and padding included.
#[inline]
pub const fn footprint(len: usize) -> usize {
    RECORD_HEADER_LEN + ((len + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1))
}

/// Largest payload a ring of `capacity` bytes accepts: half the ring minus a header, which
/// guarantees a record always fits once the ring drains, wherever the write position is
/// (either the space up to the end or the space after a pad is at least half the ring).
#[inline]
pub const fn max_payload_len(capacity: usize) -> usize {
    capacity / 2 - RECORD_HEADER_LEN
}

/// Builds the header word of a data record.
#[inline]
pub const fn record_header(len: u32) -> u64 {
    (TAG_RECORD as u64) << 32 | len as u64
}

/// Header word of a pad marker.
pub const PAD_HEADER: u64 = (TAG_PAD as u64) << 32;

/// What a validated header word at read position `pos` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// The word is zero: nothing is published at `pos` yet.
    Empty,
    /// A record with a payload of `len` bytes at `pos + 8`; it occupies `footprint` bytes.
    Record {
        /// Payload length in bytes.
        len: usize,
        /// Bytes to advance past the record.
        footprint: usize,
    },
    /// A pad marker: advance by `skip` bytes to the start of the data area.
    Pad {
        /// Bytes to advance.
        skip: usize,
    },
}

/// Validates a header word read at data offset `pos`, where the consumer may advance by at
/// most `room` bytes (its released counter plus the capacity, minus its read position: what
/// a correct producer can have written ahead of it). Returns `None` for anything a correct
/// producer never writes: an unknown tag, a record longer than `max_payload_len`, one that
/// would cross the end of the data area, or one (or a pad) reaching past `room`.
#[inline]
pub fn parse(word: u64, pos: usize, room: usize, capacity: usize) -> Option<Parsed> {
    debug_assert!(pos < capacity && pos % RECORD_ALIGN == 0);
    if word == 0 {
        return Some(Parsed::Empty);
    }
    let tag = (word >> 32) as u32;
    let len = word as u32 as usize;
    let contiguous = capacity - pos;
    if tag == TAG_PAD {
        return (contiguous <= room).then_some(Parsed::Pad { skip: contiguous });
    }
    // A correct producer never writes a record larger than `max_payload_len`: a larger one
    // would be memory-safe but could never be received into a buffer sized by that limit.
    if tag != TAG_RECORD || len > max_payload_len(capacity) {
        return None;
    }
    let footprint = footprint(len);
    (footprint <= contiguous && footprint <= room).then_some(Parsed::Record { len, footprint })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprint_rounds_payload_up_to_eight_bytes() {
        assert_eq!(footprint(0), 8);
        assert_eq!(footprint(1), 16);
        assert_eq!(footprint(8), 16);
        assert_eq!(footprint(9), 24);
    }

    #[test]
    fn parse_reads_a_zero_word_as_nothing_published_yet() {
        assert_eq!(parse(0, 0, 64, 64), Some(Parsed::Empty));
        assert_eq!(parse(0, 56, 0, 64), Some(Parsed::Empty));
    }

    #[test]
    fn parse_rejects_unknown_tags_and_records_past_the_room_or_the_end() {
        assert_eq!(parse(1 << 32, 0, 64, 64), None);
        assert_eq!(parse(u64::MAX, 0, 64, 64), None);
        assert_eq!(parse(record_header(9), 0, 16, 64), None);
        assert_eq!(parse(record_header(9), 48, 64, 64), None);
        assert_eq!(parse(record_header(u32::MAX), 0, 64, 64), None);
        assert_eq!(parse(record_header(25), 0, 64, 64), None, "larger than capacity/2 - 8");
        assert_eq!(parse(record_header(24), 0, 64, 64), Some(Parsed::Record { len: 24, footprint: 32 }));
        assert_eq!(parse(PAD_HEADER, 48, 8, 64), None);
        assert_eq!(parse(record_header(9), 0, 24, 64), Some(Parsed::Record { len: 9, footprint: 24 }));
        assert_eq!(parse(PAD_HEADER, 48, 16, 64), Some(Parsed::Pad { skip: 16 }));
    }
}
