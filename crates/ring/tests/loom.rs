//! Model check of the ring's memory orderings with loom.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p shmring-ring --test loom --release`.
//! Under loom, the data area is made of atomic words written `Relaxed`, so a missing
//! `Release`/`Acquire` pair shows up as stale payload bytes; the weakened variant proves that
//! the model can fail.
#![cfg(loom)]

use loom::thread;
use shmring_ring::{init, total_len, Consumer, Producer, Region};

const CAPACITY: usize = 32;
const RECORDS: u64 = 3;

fn ring() -> (Producer, Consumer) {
    let region = Region::heap(total_len(CAPACITY));
    init(&region, CAPACITY).unwrap();
    // SAFETY: fresh region; the only producer and consumer.
    let producer = unsafe { Producer::attach(region.clone()) }.unwrap();
    // SAFETY: as above.
    let consumer = unsafe { Consumer::attach(region) }.unwrap();
    (producer, consumer)
}

/// An empty record, then three 8-byte records through a 32-byte ring: the empty one shifts
/// the cursor so that the second 8-byte record wraps behind a pad marker.
fn transfer(weaken: bool) {
    loom::model(move || {
        let (mut producer, mut consumer) = ring();
        if weaken {
            producer.weaken_publish_ordering_for_loom();
        }
        let writer = thread::spawn(move || {
            producer.push(&[]).unwrap();
            for seq in 1..=RECORDS {
                while producer.push(&seq.to_le_bytes()).is_err() {
                    thread::yield_now();
                }
            }
        });
        let mut expected = 0;
        let mut buf = [0u8; 8];
        while expected <= RECORDS {
            match consumer.pop_into(&mut buf).expect("ordering violation: corrupt ring without a hostile peer") {
                Some(8) => {
                    assert_eq!(u64::from_le_bytes(buf), expected, "ordering violation: stale or reordered payload");
                    expected += 1;
                }
                Some(0) if expected == 0 => expected = 1,
                Some(n) => panic!("ordering violation: record of {n} bytes"),
                None => thread::yield_now(),
            }
        }
        writer.join().unwrap();
    });
}

#[test]
fn records_arrive_intact_and_in_order_under_every_interleaving() {
    transfer(false);
}

#[test]
#[should_panic(expected = "ordering violation")]
fn a_relaxed_publish_is_caught_by_the_model() {
    transfer(true);
}
