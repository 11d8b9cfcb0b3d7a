//! Fuzzes both ends of a heap ring while a simulated hostile peer rewrites its bytes.
//!
//! The input picks a capacity (64..=4096) and then a sequence of operations: pushes (copying,
//! batch, zero-copy reserve/commit), pops (`pop_into` with any buffer size, `pop_batch`,
//! `peek` + `release`, `peek` + `consume` + `publish`, `pop`), re-attaching an end, and
//! scribbles: raw writes of arbitrary bytes, words, counters or plausible record headers
//! anywhere in the region, through `Region::as_ptr()` between operations, as
//! `crates/ring/tests/hostile.rs` does (a peer process writes the same bytes).
//!
//! Checked:
//! * nothing panics, whatever was scribbled (debug assertions and overflow checks are on
//!   under `cargo fuzz -a`);
//! * every record handed out has `len <= capacity / 2` (the producer never writes more:
//!   `max_payload_len = capacity / 2 - 8`) and lies inside the data area
//!   (`SHMRING_FUZZ_LENIENT_LEN=1` relaxes the length bound to the data area, see [`max_len`]);
//! * while nothing has been scribbled, the ring is an exact FIFO of what was pushed (a model
//!   queue), and no operation reports `Corrupt`.
#![no_main]

use std::collections::VecDeque;
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use shmring_ring::layout::{HEADER_LEN, HEAD_OFFSET, TAIL_OFFSET};
use shmring_ring::record::{record_header, PAD_HEADER, RECORD_HEADER_LEN};
use shmring_ring::{init, total_len, Consumer, PopError, Producer, PushError, Record, Region};

/// Longest record the consumer may hand out: `capacity / 2` (an honest producer's limit), or,
/// with `SHMRING_FUZZ_LENIENT_LEN=1`, `capacity - 8` (the data area, the memory-safety limit),
/// to keep fuzzing for other bugs while an oversized-record finding is being fixed.
fn max_len(capacity: usize) -> usize {
    static LENIENT: OnceLock<bool> = OnceLock::new();
    if *LENIENT.get_or_init(|| std::env::var_os("SHMRING_FUZZ_LENIENT_LEN").is_some_and(|v| v == "1")) {
        capacity - RECORD_HEADER_LEN
    } else {
        capacity / 2
    }
}

/// Asserts that a record handed out by the consumer is no longer than [`max_len`] and lies
/// inside the data area that starts at address `data`.
fn check(data: usize, capacity: usize, record: &Record<'_>) {
    let len = record.len();
    assert!(len <= max_len(capacity), "record of {len} bytes in a ring of {capacity}");
    let start = record.as_ptr() as usize;
    assert!(start >= data && start + len <= data + capacity, "record outside the data area");
}

/// The ring, its raw memory, and what an honest run must deliver.
struct Harness {
    region: Region,
    capacity: usize,
    producer: Producer,
    consumer: Consumer,
    /// Payloads pushed and not yet popped, while the run is honest.
    model: VecDeque<Vec<u8>>,
    /// Whether the memory was scribbled on, after which the model no longer predicts anything
    /// and only the safety properties are checked.
    scribbled: bool,
    /// Counter that makes every pushed payload distinct.
    serial: u8,
}

impl Harness {
    fn new(capacity: usize) -> Harness {
        let region = Region::heap(total_len(capacity));
        init(&region, capacity).expect("fresh heap region");
        // SAFETY: fresh region; this is its only producer.
        let producer = unsafe { Producer::attach(region.clone()) }.expect("fresh ring");
        // SAFETY: fresh region; this is its only consumer.
        let consumer = unsafe { Consumer::attach(region.clone()) }.expect("fresh ring");
        Harness { region, capacity, producer, consumer, model: VecDeque::new(), scribbled: false, serial: 0 }
    }

    fn payload(&mut self, len: usize) -> Vec<u8> {
        self.serial = self.serial.wrapping_add(1);
        (0..len).map(|i| self.serial ^ i as u8).collect()
    }

    /// Writes `bytes` at `offset` of the region (clamped inside it), as a peer process would.
    fn poke(&mut self, offset: usize, bytes: &[u8]) {
        let len = self.region.len();
        let offset = offset % (len - bytes.len() + 1);
        // SAFETY: `offset + bytes.len() <= len` by the clamp above, so the write stays inside
        // the region `Region::heap` allocated (kept alive by `self.region`); no ring operation
        // runs concurrently, and neither end holds a Rust reference to plain bytes of it.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.region.as_ptr().as_ptr().add(offset), bytes.len())
        }
        self.scribbled = true;
    }

    fn data_start(&self) -> usize {
        self.region.as_ptr().as_ptr() as usize + HEADER_LEN
    }

    fn pushed(&mut self, result: std::result::Result<(), PushError>, payload: Vec<u8>) {
        match result {
            Ok(()) => self.model.push_back(payload),
            Err(PushError::Corrupt) => assert!(self.scribbled, "honest ring reported Corrupt"),
            Err(PushError::Full | PushError::TooLarge { .. }) => {}
        }
    }

    fn popped(&mut self, got: Option<&[u8]>) {
        if self.scribbled {
            return;
        }
        let expected = self.model.pop_front();
        assert_eq!(got, expected.as_deref(), "honest ring is not FIFO");
    }

    fn step(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let cap = self.capacity;
        match u.int_in_range(0..=15u8)? {
            0 | 1 => {
                let len = u.int_in_range(0..=cap)?;
                let payload = self.payload(len);
                let result = self.producer.push(&payload);
                self.pushed(result, payload);
            }
            2 => {
                let n = u.int_in_range(0..=8usize)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    let len = u.int_in_range(0..=cap / 2)?;
                    items.push(self.payload(len));
                }
                match self.producer.push_batch(&items) {
                    Ok(count) => self.model.extend(items.into_iter().take(count)),
                    Err(PushError::Corrupt) => assert!(self.scribbled, "honest ring reported Corrupt"),
                    Err(_) => {}
                }
            }
            3 => {
                let len = u.int_in_range(0..=cap / 2)?;
                let payload = self.payload(len);
                let commit = u.arbitrary::<bool>()?;
                let result = self.producer.reserve(len).map(|mut slot| {
                    slot.write(0, &payload);
                    if commit {
                        slot.commit();
                    }
                });
                if commit || result.is_err() {
                    self.pushed(result, payload);
                }
            }
            4 => {
                let offset = u.arbitrary::<u16>()? as usize;
                self.poke(offset, &[u.arbitrary::<u8>()?]);
            }
            5 => {
                let word = u.arbitrary::<u64>()?.to_le_bytes();
                let offset = u.arbitrary::<u16>()? as usize & !7;
                self.poke(offset, &word);
            }
            6 => {
                // A counter near its plausible range, where the interesting checks are.
                let which = if u.arbitrary::<bool>()? { TAIL_OFFSET } else { HEAD_OFFSET };
                let value = u.int_in_range(0..=8 * cap as u64)?;
                self.poke(which, &value.to_le_bytes());
            }
            7 => {
                // A well-formed header (record of any length, or pad) at an aligned data offset.
                let pos = u.int_in_range(0..=cap / 8 - 1)? * 8;
                let word =
                    if u.arbitrary::<bool>()? { PAD_HEADER } else { record_header(u.int_in_range(0..=cap as u32)?) };
                self.poke(HEADER_LEN + pos, &word.to_le_bytes());
            }
            8 | 9 => {
                let mut buf = vec![0u8; u.int_in_range(0..=cap)?];
                match self.consumer.pop_into(&mut buf) {
                    Ok(Some(len)) => {
                        assert!(len <= max_len(cap) && len <= buf.len(), "pop_into returned {len} bytes");
                        self.popped(Some(&buf[..len]));
                    }
                    Ok(None) => self.popped(None),
                    Err(PopError::BufferTooSmall { needed }) => {
                        assert!(needed > buf.len() && needed <= max_len(cap), "BufferTooSmall {{ needed: {needed} }}");
                        if !self.scribbled {
                            assert_eq!(self.model.front().map(Vec::len), Some(needed));
                        }
                    }
                    Err(PopError::Corrupt) => assert!(self.scribbled, "honest ring reported Corrupt"),
                }
            }
            10 => {
                let max = u.int_in_range(0..=16usize)?;
                let mut seen = Vec::new();
                let capacity = self.capacity;
                let result = self.consumer.pop_batch(max, |record| {
                    let len = record.len();
                    assert!(len <= max_len(capacity), "record of {len} bytes in a ring of {capacity}");
                    seen.push(record.to_vec());
                });
                match result {
                    Ok(count) => {
                        assert!(count <= max && count == seen.len());
                        for record in &seen {
                            self.popped(Some(record));
                        }
                    }
                    Err(_) => assert!(self.scribbled, "honest ring reported Corrupt"),
                }
            }
            11 | 12 => {
                let publish_now = u.arbitrary::<bool>()?;
                let data = self.data_start();
                let got = match self.consumer.peek() {
                    Ok(Some(record)) => {
                        check(data, cap, &record);
                        let mut copy = vec![0u8; record.len()];
                        record.copy_to(&mut copy);
                        Some(copy)
                    }
                    Ok(None) => None,
                    Err(_) => {
                        assert!(self.scribbled, "honest ring reported Corrupt");
                        return Ok(());
                    }
                };
                if publish_now {
                    self.consumer.release();
                } else {
                    self.consumer.consume();
                    if u.arbitrary::<bool>()? {
                        self.consumer.publish();
                    }
                }
                self.popped(got.as_deref());
            }
            13 => match self.consumer.pop() {
                Ok(got) => {
                    assert!(got.as_ref().is_none_or(|r| r.len() <= max_len(cap)));
                    self.popped(got.as_deref());
                }
                Err(_) => assert!(self.scribbled, "honest ring reported Corrupt"),
            },
            14 => {
                let _ = self.consumer.is_empty();
                let _ = self.consumer.used_len();
                let _ = self.producer.used_len();
            }
            _ => {
                // Re-attach one end to the (maybe scribbled) header, as a restarted process would.
                // Publishing first keeps the model exact: the new end starts where the old one was.
                if u.arbitrary::<bool>()? {
                    self.consumer.publish();
                    // SAFETY: the old consumer is replaced (and dropped) right after, and never
                    // used in between, so only one consumer is ever live.
                    if let Ok(consumer) = unsafe { Consumer::attach(self.region.clone()) } {
                        self.consumer = consumer;
                    }
                } else {
                    self.producer.publish();
                    // SAFETY: as above, for the producer.
                    if let Ok(producer) = unsafe { Producer::attach(self.region.clone()) } {
                        self.producer = producer;
                    }
                }
            }
        }
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(exponent) = u.int_in_range(6..=12u32) else { return };
    let mut harness = Harness::new(1 << exponent);
    while !u.is_empty() {
        if harness.step(&mut u).is_err() {
            break;
        }
        // After every operation the next record, if any, must be sane.
        let (data, capacity) = (harness.data_start(), harness.capacity);
        if let Ok(Some(record)) = harness.consumer.peek() {
            check(data, capacity, &record);
        }
    }
});
