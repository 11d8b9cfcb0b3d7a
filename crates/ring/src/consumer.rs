//! The reading end: finds, validates and hands out records; releases them with one `Release`
//! store of `head`.
//!
//! The consumer owns `head` and finds records by loading the header word at its read position
//! with `Acquire`: zero means nothing is published yet, anything else is a header, read once
//! and checked by [`record::parse`](crate::record::parse) before its length is used. That is
//! one cache line moving from producer to consumer per small record, where reading the
//! producer's `tail` first would be two. `tail` is read only for [`used_len`](Consumer::used_len),
//! and validated there (`old tail <= tail <= released + capacity`, 8-aligned).
//!
//! Counter arithmetic cannot overflow: `head` only grows by a validated pad skip or record
//! footprint, each at most `released + capacity - head` (the `room` that `parse` checks, with a
//! saturating sum), so `head <= released + capacity` and never passes `u64::MAX`.

use crate::error::{AttachError, Corrupt, PopError};
use crate::record::{self, Parsed, RECORD_HEADER_LEN};
use crate::region::{Ordering, Region};
use crate::ring;

/// The reading end of a ring. One per ring; `Send` and `Sync`, but every method that reads or
/// moves the cursor takes `&mut self`, so a shared reference cannot race it.
pub struct Consumer {
    region: Region,
    capacity: usize,
    /// Read cursor: everything before it is consumed (maybe not yet released).
    head: u64,
    /// Last value stored to the shared `head`.
    released: u64,
    /// Last validated producer `tail`; read only by `used_len`.
    tail: u64,
    /// The validated record at `head` (payload offset, length, footprint), once found: the
    /// header is read and checked once, however often `is_empty`/`peek` look at it.
    found: Option<(usize, usize, usize)>,
    corrupt: bool,
}

/// A validated record in the ring, borrowed from the consumer.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    region: &'a Region,
    /// Data offset of the payload.
    pos: usize,
    len: usize,
}

impl Consumer {
    /// Attaches the consumer end to a ring that [`init`](crate::init) prepared in `region`.
    ///
    /// # Safety
    /// No other `Consumer` for the same ring may exist in this process.
    pub unsafe fn attach(region: Region) -> Result<Consumer, AttachError> {
        // Establishes what every method relies on: `region.len() >= total_len(capacity)`, and
        // counters `head <= tail <= head + capacity`, 8-aligned, below `COUNTER_LIMIT`.
        let (capacity, head, tail) = ring::attach_counters(&region)?;
        Ok(Consumer { region, capacity, head, released: head, tail, found: None, corrupt: false })
    }

    /// Data capacity of the ring in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether the producer broke the protocol; a corrupt ring refuses every further pop.
    pub fn is_corrupt(&self) -> bool {
        self.corrupt
    }

    /// Whether no published record is waiting.
    pub fn is_empty(&mut self) -> Result<bool, Corrupt> {
        Ok(self.next_record()?.is_none())
    }

    /// Bytes published and not yet released (after refreshing the producer's counter).
    pub fn used_len(&mut self) -> Result<usize, Corrupt> {
        self.refresh_tail()?;
        // The producer stores `tail` just after the header that publishes a batch, so we may
        // already have released past the value we read: then nothing is waiting.
        Ok(self.tail.saturating_sub(self.released) as usize)
    }

    /// The next record, without consuming it; `Ok(None)` when the ring is empty. Call
    /// [`release`](Self::release) (or [`consume`](Self::consume)) to move past it.
    ///
    /// ```
    /// let (mut producer, mut consumer) = shmring_ring::with_capacity(64);
    /// producer.push(b"hi").unwrap();
    /// let record = consumer.peek().unwrap().unwrap();
    /// assert_eq!(record.to_vec(), b"hi");
    /// consumer.release();
    /// assert!(consumer.peek().unwrap().is_none());
    /// ```
    #[inline]
    pub fn peek(&mut self) -> Result<Option<Record<'_>>, Corrupt> {
        let Some((pos, len, _)) = self.next_record()? else {
            return Ok(None);
        };
        Ok(Some(Record { region: &self.region, pos, len }))
    }

    /// Consumes the peeked record and hands its space back to the producer.
    pub fn release(&mut self) {
        self.consume();
        self.publish();
    }

    /// Consumes the peeked record (the one `peek` returns) without handing its space back
    /// yet; [`publish`](Self::publish) releases everything consumed with one store. Does
    /// nothing when no record was found.
    #[inline]
    pub fn consume(&mut self) {
        if let Some((_, _, footprint)) = self.found.take() {
            // No overflow: `record::parse` checked `footprint <= room`.
            self.head += footprint as u64;
        }
    }

    /// Hands the space of every consumed record back to the producer. Returns whether there
    /// was anything new (the caller then decides whether a waiting producer needs a wake).
    #[inline]
    pub fn publish(&mut self) -> bool {
        if self.released == self.head {
            return false;
        }
        self.released = self.head;
        // SAFETY: `attach` verified `region.len() >= total_len(capacity) > HEADER_LEN`.
        // ORDERING: Release orders our reads of the released records before the producer's
        // reuse of their space; pairs with the Acquire load in `Producer::refresh_head`.
        unsafe { self.region.head() }.store(self.head, Ordering::Release);
        true
    }

    /// Pops the next record into `buf`, returning its length, or `Ok(None)` when empty. A
    /// record longer than `buf` stays in the ring (`BufferTooSmall` says how long it is).
    #[inline]
    pub fn pop_into(&mut self, buf: &mut [u8]) -> Result<Option<usize>, PopError> {
        let Some((pos, len, footprint)) = self.next_record()? else {
            return Ok(None);
        };
        if len > buf.len() {
            return Err(PopError::BufferTooSmall { needed: len });
        }
        self.region.copy_out(pos, &mut buf[..len]);
        self.advance(footprint);
        self.publish();
        Ok(Some(len))
    }

    /// Pops the next record into a new `Vec`, or `Ok(None)` when empty.
    pub fn pop(&mut self) -> Result<Option<Vec<u8>>, Corrupt> {
        let Some((pos, len, footprint)) = self.next_record()? else {
            return Ok(None);
        };
        let mut out = vec![0; len];
        self.region.copy_out(pos, &mut out);
        self.advance(footprint);
        self.publish();
        Ok(Some(out))
    }

    /// Hands up to `max` records to `visit` in order, then releases them all with one store.
    /// Returns how many were visited.
    ///
    /// ```
    /// let (mut producer, mut consumer) = shmring_ring::with_capacity(256);
    /// producer.push_batch(&[b"a", b"b", b"c"]).unwrap();
    /// let mut seen = Vec::new();
    /// assert_eq!(consumer.pop_batch(10, |r| seen.push(r.to_vec())).unwrap(), 3);
    /// assert_eq!(seen, [b"a", b"b", b"c"]);
    /// ```
    pub fn pop_batch(&mut self, max: usize, mut visit: impl FnMut(Record<'_>)) -> Result<usize, Corrupt> {
        let mut count = 0;
        while count < max {
            let Some((pos, len, footprint)) = self.next_record()? else {
                break;
            };
            visit(Record { region: &self.region, pos, len });
            self.advance(footprint);
            count += 1;
        }
        self.publish();
        Ok(count)
    }

    /// Locates the next data record, skipping pad markers. Returns `(payload offset, len, footprint)`.
    ///
    /// When it skipped a pad and then found the ring empty, it releases the pad (one `head`
    /// store), unless records consumed earlier still wait for the caller's `publish` (which
    /// then releases the pad with them). Without this, a pad that is the last thing published
    /// (e.g. from an abandoned `WriteSlot`) would stay unreleased, and `has_unreleased` would
    /// report data that never comes.
    #[inline]
    fn next_record(&mut self) -> Result<Option<(usize, usize, usize)>, Corrupt> {
        if self.corrupt {
            return Err(Corrupt);
        }
        if let Some(found) = self.found {
            return Ok(Some(found));
        }
        let start = self.head;
        loop {
            let pos = self.head as usize & (self.capacity - 1);
            // No overflow: `head <= released + capacity` (module doc), and the saturated sum
            // is an exact stand-in for the true bound near `u64::MAX`.
            let room = (self.released.saturating_add(self.capacity as u64) - self.head) as usize;
            // ORDERING: Acquire pairs with the Release store of the batch's first header in
            // `Producer::publish`: the payloads and later headers of the batch are visible.
            let word = self.region.load_word(pos, Ordering::Acquire);
            match record::parse(word, pos, room, self.capacity) {
                Some(Parsed::Record { len, footprint }) => {
                    let found = (pos + RECORD_HEADER_LEN, len, footprint);
                    self.found = Some(found);
                    return Ok(Some(found));
                }
                // No overflow: `record::parse` checked `skip <= room`.
                Some(Parsed::Pad { skip }) => self.head += skip as u64,
                Some(Parsed::Empty) => {
                    // The next record's header goes here; a record longer than the rest of
                    // this line continues on the next one. Asking for that line while waiting
                    // (after the producer wrote it, each poll fetches it again) saves a
                    // dependent line transfer after the header shows up: ~10 ns per round
                    // trip of 64-byte messages on this project's test host.
                    self.region.prefetch(((pos | 63) + 1) & (self.capacity - 1));
                    if self.head != start && self.released == start {
                        self.publish();
                    }
                    return Ok(None);
                }
                None => return Err(self.poison()),
            }
        }
    }

    #[inline]
    fn advance(&mut self, footprint: usize) {
        self.found = None;
        // No overflow: `record::parse` checked `footprint <= room`.
        self.head += footprint as u64;
    }

    fn refresh_tail(&mut self) -> Result<(), Corrupt> {
        // ORDERING: Acquire pairs with the Release store of `tail` in `Producer::publish`
        // (only a fill figure is derived from it; records are found through their headers).
        // SAFETY: `attach` verified `region.len() >= total_len(capacity) > HEADER_LEN`.
        let tail = unsafe { self.region.tail() }.load(Ordering::Acquire);
        // Saturating: near `u64::MAX` (a peer can race the counters there, one capacity per
        // release) the true bound `released + capacity` exceeds every `u64`, so `u64::MAX` is
        // an exact stand-in, not a weaker check.
        if tail < self.tail || tail > self.released.saturating_add(self.capacity as u64) || tail % 8 != 0 {
            return Err(self.poison());
        }
        self.tail = tail;
        Ok(())
    }

    fn poison(&mut self) -> Corrupt {
        self.corrupt = true;
        Corrupt
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.capacity)
            .field("head", &self.head)
            .field("released", &self.released)
            .field("tail", &self.tail)
            .field("corrupt", &self.corrupt)
            .finish()
    }
}

impl<'a> Record<'a> {
    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the payload into `dst[..len]`.
    ///
    /// # Panics
    /// If `dst` is shorter than the payload.
    pub fn copy_to(&self, dst: &mut [u8]) {
        self.region.copy_out(self.pos, &mut dst[..self.len]);
    }

    /// Copies the payload into a new `Vec`.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0; self.len];
        self.region.copy_out(self.pos, &mut out);
        out
    }

    /// Start of the payload in the shared mapping (zero-copy); valid for `len()` bytes while
    /// the record is borrowed. The peer cannot legitimately change it before release.
    #[cfg(not(loom))]
    pub fn as_ptr(&self) -> *const u8 {
        self.region.data_ptr(self.pos)
    }

    /// The payload as a slice, without copying.
    ///
    /// # Safety
    /// The peer must not write these bytes while the slice lives. A correct peer never does
    /// (the record is published and not released), but a hostile one could, and the compiler
    /// assumes a shared slice does not change. Use [`copy_to`](Self::copy_to) for untrusted peers.
    #[cfg(not(loom))]
    pub unsafe fn as_slice(&self) -> &'a [u8] {
        // SAFETY: `record::parse` checked the payload lies in the data area, the region outlives
        // `'a`, and the caller promises no concurrent writes.
        unsafe { core::slice::from_raw_parts(self.region.data_ptr(self.pos), self.len) }
    }
}

impl std::fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record").field("len", &self.len).finish()
    }
}

/// States near the end of the counter space, unreachable through the public API within a test
/// (attach refuses counters at or beyond `COUNTER_LIMIT`), built field by field.
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::layout::total_len;
    use crate::record::{footprint, record_header};

    #[test]
    fn a_consumer_near_the_end_of_the_counter_space_reads_on_without_overflowing() {
        let capacity = 64;
        let region = Region::heap(total_len(capacity));
        crate::init(&region, capacity).unwrap();
        let top = !7u64; // `u64::MAX` rounded down to a multiple of 8
        let start = top - 24;
        let mut consumer = Consumer {
            region: region.clone(),
            capacity,
            head: start,
            released: start,
            tail: start,
            found: None,
            corrupt: false,
        };
        // A peer-published 9-byte record (footprint 24) that ends exactly at the last 8-aligned
        // counter value: `released + capacity` is past `u64::MAX`.
        let pos = start as usize & (capacity - 1);
        region.store_word(pos, record_header(9), Ordering::Release);
        region.copy_in(pos + RECORD_HEADER_LEN, &[7; 9]);
        assert_eq!(footprint(9) as u64, top - start);
        // SAFETY: the region holds a whole ring (`init` succeeded above).
        unsafe { region.tail() }.store(top, Ordering::Release);
        assert_eq!(consumer.pop(), Ok(Some(vec![7; 9])));
        assert_eq!(consumer.pop(), Ok(None));
        assert_eq!(consumer.used_len(), Ok(0));
    }
}
