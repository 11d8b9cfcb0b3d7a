//! The writing end: reserves space, writes records, publishes a batch with one `Release`
//! header store (then stores `tail`, for watchers and fill figures).
//!
//! Publishing is a header store: the header of the first record of a batch (or of the pad
//! before it) is held back while the batch is written, and [`publish`](Producer::publish)
//! first zeroes the word at the new write position, then stores the held header with
//! `Release`. The consumer, which finds records by loading the header word at its read
//! position, therefore sees either zero or a whole batch; see `record.rs`. To always have that
//! word to zero, a record is accepted only if 8 bytes stay free after it.
//!
//! The producer also stores `tail` (for fill figures and the watcher threads' readiness
//! checks) and caches the consumer's `head`, refreshing it only when the cached value says the
//! ring is too full. Every refreshed head is validated (`old head <= head <= published tail`,
//! 8-aligned) before it is used.
//!
//! Counter arithmetic cannot overflow: `head <= tail` always, and `reserve_at` checks that
//! `tail + needed` fits a `u64` before it moves `tail` (the pad and the record together never
//! add more than `needed`).

use crate::error::{AttachError, Corrupt, PushError};
use crate::record::{footprint, max_payload_len, record_header, PAD_HEADER, RECORD_HEADER_LEN};
use crate::region::{Ordering, Region};
use crate::ring;

/// Most cache lines [`Producer::warm_ahead`] takes ahead of the write position after a publish:
/// enough for the small messages whose latency it is about; bigger ones are bound by copying.
const WARM_LINES: u64 = 4;

/// The writing end of a ring. One per ring; `Send` and `Sync`, but every method that writes or
/// moves the cursor takes `&mut self`, so a shared reference cannot race it.
pub struct Producer {
    region: Region,
    capacity: usize,
    /// End of everything written (staged or published). Ours alone; never read back.
    tail: u64,
    /// Last value stored to the shared `tail`.
    published: u64,
    /// Last validated consumer `head`; stale by design (refreshed only when space runs out).
    head: u64,
    /// The header word for data offset `published & (capacity - 1)`, held back until
    /// `publish`; `Some` exactly when something was staged since the last publish.
    held: Option<u64>,
    /// Footprint of the last record written: the guess for the next one's, for `warm_ahead`.
    last_footprint: usize,
    corrupt: bool,
    #[cfg(loom)]
    weak_publish: bool,
}

impl Producer {
    /// Attaches the producer end to a ring that [`init`](crate::init) prepared in `region`.
    ///
    /// # Safety
    /// No other `Producer` for the same ring may exist in this process (two writers in one
    /// process would race on the data area). A producer in another process is tolerated only
    /// in the sense that it cannot make us misbehave: it just corrupts the ring.
    pub unsafe fn attach(region: Region) -> Result<Producer, AttachError> {
        // Establishes what every method relies on: `region.len() >= total_len(capacity)`, and
        // counters `head <= tail <= head + capacity`, 8-aligned, below `COUNTER_LIMIT`.
        let (capacity, head, tail) = ring::attach_counters(&region)?;
        Ok(Producer {
            region,
            capacity,
            tail,
            published: tail,
            head,
            held: None,
            last_footprint: 0,
            corrupt: false,
            #[cfg(loom)]
            weak_publish: false,
        })
    }

    /// Data capacity of the ring in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Largest payload this ring accepts (half the capacity minus a record header).
    pub fn max_payload_len(&self) -> usize {
        max_payload_len(self.capacity)
    }

    /// Whether the consumer broke the protocol; a corrupt ring refuses every further push.
    pub fn is_corrupt(&self) -> bool {
        self.corrupt
    }

    /// Copies `data` into the ring as one record and publishes it.
    ///
    /// ```
    /// let (mut producer, mut consumer) = shmring_ring::with_capacity(64);
    /// producer.push(b"hello").unwrap();
    /// assert_eq!(consumer.pop().unwrap().as_deref(), Some(&b"hello"[..]));
    /// ```
    #[inline]
    pub fn push(&mut self, data: &[u8]) -> Result<(), PushError> {
        self.stage(data)?;
        self.publish();
        Ok(())
    }

    /// Writes `data` as one record without publishing it; [`publish`](Self::publish) makes all
    /// staged records visible at once (one shared store for a whole batch).
    #[inline]
    pub fn stage(&mut self, data: &[u8]) -> Result<(), PushError> {
        let pos = self.reserve_at(data.len())?;
        self.region.copy_in(pos + RECORD_HEADER_LEN, data);
        self.finish_record(pos, data.len());
        Ok(())
    }

    /// Stages as many of `items` as fit, in order, then publishes them with one store.
    /// Returns how many were pushed; an item that can never fit is an error only if it is the
    /// first one (otherwise the count stops before it, and the next call reports it).
    pub fn push_batch<T: AsRef<[u8]>>(&mut self, items: &[T]) -> Result<usize, PushError> {
        let mut pushed = 0;
        for item in items {
            match self.stage(item.as_ref()) {
                Ok(()) => pushed += 1,
                Err(PushError::Full) => break,
                Err(PushError::TooLarge { .. }) if pushed > 0 => break,
                Err(e) => return Err(e),
            }
        }
        self.publish();
        Ok(pushed)
    }

    /// Reserves a contiguous `len`-byte record to be filled in place (zero-copy). Nothing is
    /// visible to the consumer until [`WriteSlot::commit`] (or `stage` + `publish`); dropping
    /// the slot abandons it.
    ///
    /// ```
    /// let (mut producer, mut consumer) = shmring_ring::with_capacity(64);
    /// let mut slot = producer.reserve(3).unwrap();
    /// slot.write(0, b"abc");
    /// slot.commit();
    /// assert_eq!(consumer.pop().unwrap().as_deref(), Some(&b"abc"[..]));
    /// ```
    pub fn reserve(&mut self, len: usize) -> Result<WriteSlot<'_>, PushError> {
        let pos = self.reserve_at(len)?;
        Ok(WriteSlot { producer: self, pos, len })
    }

    /// Makes every staged record visible to the consumer. Returns whether there was anything
    /// new to publish (the caller then decides whether the consumer needs a wake).
    #[inline]
    pub fn publish(&mut self) -> bool {
        let Some(first_header) = self.held.take() else {
            return false;
        };
        let mask = self.capacity - 1;
        // The word at the new write position must read as "nothing yet" when the consumer gets
        // there; it may hold an old record's bytes. It is free: `reserve_at` kept 8 bytes free
        // past every record.
        // ORDERING: Relaxed; ordered before the consumer's Acquire header load (in
        // `Consumer::next_record`) by the Release store of the first header below.
        self.region.store_word(self.tail as usize & mask, 0, Ordering::Relaxed);
        #[cfg(loom)]
        let order = if self.weak_publish { Ordering::Relaxed } else { Ordering::Release };
        #[cfg(not(loom))]
        let order = Ordering::Release;
        // ORDERING: Release publishes every header, payload and the zero word written before
        // it; pairs with the Acquire header load in `Consumer::next_record`.
        self.region.store_word(self.published as usize & mask, first_header, order);
        self.published = self.tail;
        // SAFETY: `attach` verified `region.len() >= total_len(capacity) > HEADER_LEN`.
        // ORDERING: Release pairs with the Acquire loads of `tail` in `Consumer::used_len` and
        // `has_unreleased` (a watcher thread's readiness check); after the header store, so a
        // reader of `tail` sees the batch too.
        unsafe { self.region.tail() }.store(self.tail, Ordering::Release);
        self.warm_ahead();
        true
    }

    /// Takes ownership of the cache lines the next record will probably be written to, now
    /// that this batch is visible, by storing a zero word at the start of each: up to
    /// [`WARM_LINES`] lines after the one the write position is in, as many as a record the
    /// size of the last one and its zero word reach.
    ///
    /// Why: the consumer polls the line holding the write position, so that line has to move
    /// at every publish, but the lines after it were last touched a lap ago. Without this the
    /// next publish waits for them as well before its Release header store can become visible,
    /// and a 64-byte message costs two line transfers per hop instead of one: the bare ring's
    /// spinning round trip went from 230 to 150 ns with it on this project's test host (see
    /// docs/DECISIONS.md). The stores come after the header store, so they never delay this
    /// publish. They only write free space (up to the cached `head + capacity`), which the
    /// consumer never reads: it stops at the zero word at the write position.
    #[inline]
    fn warm_ahead(&mut self) {
        const LINE: u64 = 64;
        let mask = self.capacity - 1;
        // No overflow: every add is checked or saturates (counters can reach the end of the
        // `u64` range; `reserve_at` reports `Corrupt` there, and this must not wrap first).
        let Some(first) = (self.tail | (LINE - 1)).checked_add(1) else { return };
        let reach = self.tail.saturating_add((self.last_footprint + RECORD_HEADER_LEN) as u64);
        let end = reach.min(first.saturating_add(WARM_LINES * LINE));
        // Free space ends at the consumer's head plus the capacity; the cached head is at most
        // the real one, so this never reaches into space the consumer has not released.
        let free_end = self.head.saturating_add(self.capacity as u64);
        let mut line = first;
        while line < end && line.saturating_add(RECORD_HEADER_LEN as u64) <= free_end {
            // ORDERING: Relaxed; a store into free space that nobody reads (see above).
            self.region.store_word(line as usize & mask, 0, Ordering::Relaxed);
            let Some(next) = line.checked_add(LINE) else { break };
            line = next;
        }
    }

    /// Bytes the consumer has not released yet (published or staged), after refreshing the
    /// consumer's counter; `used_len() as f64 / capacity() as f64` is the fill ratio.
    pub fn used_len(&mut self) -> Result<usize, Corrupt> {
        self.refresh_head()?;
        Ok((self.tail - self.head) as usize)
    }

    /// Finds room for a record of `len` payload bytes, writing a pad marker first when the
    /// record would cross the end of the data area. Returns the record's data offset.
    #[inline]
    fn reserve_at(&mut self, len: usize) -> Result<usize, PushError> {
        if self.corrupt {
            return Err(PushError::Corrupt);
        }
        let max = max_payload_len(self.capacity);
        if len > max {
            return Err(PushError::TooLarge { len, max });
        }
        let footprint = footprint(len);
        let pos = self.tail as usize & (self.capacity - 1);
        let contiguous = self.capacity - pos;
        let needed = if footprint <= contiguous { footprint } else { contiguous + footprint };
        // The counter space is finite: `tail` starts below 2^62 (`COUNTER_LIMIT`) and cannot
        // pass `u64::MAX`. Decades away at real rates, but an app committing empty 2 GiB
        // records while a consumer releases them at once gets there in minutes, so it is
        // checked, not assumed: this makes the `tail +=` below (at most `needed` in all) safe.
        if self.tail.checked_add(needed as u64).is_none() {
            self.corrupt = true;
            return Err(PushError::Corrupt);
        }
        // 8 more bytes stay free for the zero word `publish` writes after the record.
        if self.free() < needed + RECORD_HEADER_LEN {
            self.refresh_head()?;
            if self.free() < needed + RECORD_HEADER_LEN {
                return Err(PushError::Full);
            }
        }
        if footprint <= contiguous {
            return Ok(pos);
        }
        self.write_header(PAD_HEADER);
        // No overflow: `contiguous` is part of `needed`, checked above.
        self.tail += contiguous as u64;
        Ok(0)
    }

    #[inline]
    fn free(&self) -> usize {
        self.capacity - (self.tail - self.head) as usize
    }

    #[inline]
    fn finish_record(&mut self, pos: usize, len: usize) {
        // `len <= max_payload_len(capacity) <= 2^31 - 8` (capacity <= MAX_CAPACITY = 2^32) was
        // checked in `reserve_at`, so the cast is lossless.
        debug_assert_eq!(pos, self.tail as usize & (self.capacity - 1));
        self.write_header(record_header(len as u32));
        self.last_footprint = footprint(len);
        // No overflow: `reserve_at` checked `tail + needed` fits, and `footprint(len) <= needed`.
        self.tail += footprint(len) as u64;
    }

    /// Writes a header at the write position, or holds it back when it is the first of a
    /// batch (see `publish`).
    #[inline]
    fn write_header(&mut self, word: u64) {
        if self.tail == self.published {
            self.held = Some(word);
        } else {
            // ORDERING: Relaxed; published by the Release store of the held header.
            self.region.store_word(self.tail as usize & (self.capacity - 1), word, Ordering::Relaxed);
        }
    }

    fn refresh_head(&mut self) -> Result<(), Corrupt> {
        // ORDERING: Acquire pairs with the Release store of `head` in `Consumer::publish`: the
        // consumer's reads of the space we are about to reuse happened before.
        // SAFETY: `attach` verified `region.len() >= total_len(capacity) > HEADER_LEN`.
        let head = unsafe { self.region.head() }.load(Ordering::Acquire);
        if head < self.head || head > self.published || head % 8 != 0 {
            self.corrupt = true;
            return Err(Corrupt);
        }
        self.head = head;
        Ok(())
    }

    /// Loom tests only: publish with `Relaxed`, a deliberately broken ordering the model must catch.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn weaken_publish_ordering_for_loom(&mut self) {
        self.weak_publish = true;
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity)
            .field("tail", &self.tail)
            .field("published", &self.published)
            .field("head", &self.head)
            .field("corrupt", &self.corrupt)
            .finish()
    }
}

/// Space for one record, reserved by [`Producer::reserve`] and filled in place.
pub struct WriteSlot<'a> {
    producer: &'a mut Producer,
    /// Data offset of the record header; the payload follows it.
    pos: usize,
    len: usize,
}

impl WriteSlot<'_> {
    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `bytes` into the payload at `offset`.
    ///
    /// # Panics
    /// If `offset + bytes.len()` exceeds the slot's length.
    pub fn write(&mut self, offset: usize, bytes: &[u8]) {
        assert!(offset.checked_add(bytes.len()).is_some_and(|end| end <= self.len), "write past the reserved slot");
        self.producer.region.copy_in(self.pos + RECORD_HEADER_LEN + offset, bytes);
    }

    /// Start of the payload, for writers that fill it through a pointer (e.g. a serializer).
    /// Valid for `len()` bytes until the slot is committed or dropped.
    #[cfg(not(loom))]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.producer.region.data_ptr(self.pos + RECORD_HEADER_LEN)
    }

    /// The payload as a mutable slice.
    ///
    /// # Safety
    /// The peer must not write the reserved bytes while the slice lives. A correct peer never
    /// does (they are outside its part of the ring); use [`write`](Self::write) when the peer
    /// is not trusted, which has no such requirement.
    #[cfg(not(loom))]
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `reserve_at` found these `len` bytes free and inside the data area; the caller
        // promises the peer does not touch them while the slice is alive.
        unsafe { core::slice::from_raw_parts_mut(self.as_mut_ptr(), self.len) }
    }

    /// Writes the record header and publishes the record.
    pub fn commit(self) {
        let WriteSlot { producer, pos, len } = self;
        producer.finish_record(pos, len);
        producer.publish();
    }

    /// Writes the record header without publishing; see [`Producer::publish`].
    pub fn stage(self) {
        self.producer.finish_record(self.pos, self.len);
    }
}

/// What `warm_ahead` writes, and states near the end of the counter space, unreachable through
/// the public API within a test (attach refuses counters at or beyond `COUNTER_LIMIT`), built
/// field by field.
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::layout::total_len;

    #[test]
    fn a_producer_at_the_end_of_the_counter_space_reports_corrupt_instead_of_overflowing() {
        let capacity = 64;
        let region = Region::heap(total_len(capacity));
        crate::init(&region, capacity).unwrap();
        let start = !7u64 - 16; // `!7` is `u64::MAX` rounded down to a multiple of 8
                                // SAFETY: the region holds a whole ring (`init` succeeded above).
        unsafe { region.head() }.store(start, Ordering::Release);
        let mut producer = Producer {
            region,
            capacity,
            tail: start,
            published: start,
            head: start,
            held: None,
            last_footprint: 0,
            corrupt: false,
        };
        producer.push(&[1; 8]).unwrap(); // 16 bytes: `tail` is now the last 8-aligned `u64`
        assert_eq!(producer.push(&[]), Err(PushError::Corrupt));
        assert!(producer.is_corrupt());
        assert_eq!(producer.used_len(), Ok(16));
    }

    #[test]
    fn warming_at_the_end_of_the_counter_space_stops_instead_of_wrapping() {
        let (producer, _consumer, region) = ring_of_ones();
        let start = 0u64.wrapping_sub(192); // data offset 64; the last line start is 2^64 - 64
                                            // The "nothing yet" word moves from data offset 0 to `start`'s.
        region.store_word(0, u64::MAX, Ordering::Relaxed);
        region.store_word(64, 0, Ordering::Relaxed);
        let mut producer = Producer { tail: start, published: start, head: start, ..producer };
        // A 64-byte record at 64..128; a record like it would reach past the last line start,
        // where a wrapping loop would go round the ring zeroing every line, this header too.
        producer.push(&[1; 56]).unwrap();
        assert_eq!(region.load_word(64, Ordering::Relaxed), record_header(56));
        assert_eq!(zeroed_words(&region), [128, 192], "the zero word and the one line left before 2^64");
    }

    /// A 256-byte ring whose data area is all ones, so every word `warm_ahead` zeroes shows.
    fn ring_of_ones() -> (Producer, crate::Consumer, Region) {
        let capacity = 256;
        let region = Region::heap(total_len(capacity));
        crate::init(&region, capacity).unwrap();
        for pos in (0..capacity).step_by(8) {
            region.store_word(pos, u64::MAX, Ordering::Relaxed);
        }
        // `init`'s "nothing yet" word.
        region.store_word(0, 0, Ordering::Relaxed);
        // SAFETY: the region was just made here; this is its only producer.
        let producer = unsafe { Producer::attach(region.clone()) }.unwrap();
        // SAFETY: as above; its only consumer.
        let consumer = unsafe { crate::Consumer::attach(region.clone()) }.unwrap();
        (producer, consumer, region)
    }

    fn zeroed_words(region: &Region) -> Vec<usize> {
        (0..256).step_by(8).filter(|&pos| region.load_word(pos, Ordering::Relaxed) == 0).collect()
    }

    #[test]
    fn a_publish_takes_the_lines_a_record_like_the_last_one_would_need() {
        let (mut producer, _consumer, region) = ring_of_ones();
        producer.push(&[7; 64]).unwrap(); // record 0..72, zero word at 72; the next one would reach 152
        assert_eq!(zeroed_words(&region), [72, 128]);
        producer.push(&[7; 8]).unwrap(); // record 72..88, zero word at 88; the next one would reach 112
        assert_eq!(zeroed_words(&region), [88, 128], "no line is taken that a record like the last cannot reach");
    }

    #[test]
    fn warming_never_writes_over_records_the_consumer_has_not_released() {
        let (mut producer, mut consumer, region) = ring_of_ones();
        for _ in 0..3 {
            producer.push(&[7; 64]).unwrap(); // ends at 72, 144, 216; nothing released
        }
        // The line after 216 is data offset 0 of the next lap: the first record, still unread.
        assert_eq!(region.load_word(0, Ordering::Relaxed), record_header(64));
        for _ in 0..3 {
            assert_eq!(consumer.pop().unwrap().as_deref(), Some(&[7; 64][..]));
        }
        assert_eq!(consumer.pop().unwrap(), None);
    }
}
