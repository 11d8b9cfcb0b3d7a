//! Specification of the park/notify protocol under every interleaving loom explores.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p shmring-wait --test loom --release`.
//! Under `cfg(loom)` the crate's OS backend is an emulated futex (`src/sys/loom.rs`), so a
//! lost wakeup leaves the consumer blocked forever, which loom reports as a deadlock.
//!
//! Can loom catch a missing `SeqCst` fence? Yes: loom 0.7 lets a load read any store that
//! is not hidden by happens-before (store buffering), and models `fence(SeqCst)` as a total
//! order of fences that joins their views (`rt::thread::seq_cst_fence`); it does *not* give
//! `SeqCst` loads/stores their full meaning (it treats them as acquire/release), which is one
//! more reason the protocol uses fences. So the weakened copies below, each without one of
//! the two fences, must be rejected with a deadlock, and they are.
#![cfg(loom)]

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use loom::sync::atomic::AtomicU32;
use loom::sync::Arc;
use loom::thread;
use shmring_wait::{notify, park, wait, wake_all, Notifier, ParkResult, Spinner, Word, AWAKE, PARKED};

struct Shared {
    data: AtomicU32,
    word: AtomicU32,
    notifier: Notifier,
}

impl Shared {
    fn new() -> Arc<Shared> {
        Arc::new(Shared { data: AtomicU32::new(0), word: AtomicU32::new(AWAKE), notifier: Notifier::new().unwrap() })
    }

    fn word(&self) -> Word<'_> {
        Word::new(&self.word, &self.notifier)
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// Producer publishes `1..=values` with `notify`; the consumer parks for each with `park_fn`.
fn producer_consumer(values: u32, notify_fn: fn(&Word<'_>), park_fn: fn(&Word<'_>, &AtomicU32, u32)) {
    model(move || {
        let shared = Shared::new();
        let producer = {
            let shared = shared.clone();
            thread::spawn(move || {
                for v in 1..=values {
                    shared.data.store(v, Release);
                    notify_fn(&shared.word());
                }
            })
        };
        for v in 1..=values {
            park_fn(&shared.word(), &shared.data, v);
            assert!(shared.data.load(Acquire) >= v);
        }
        producer.join().unwrap();
    });
}

fn real_notify(word: &Word<'_>) {
    notify(word).unwrap();
}

fn real_park(word: &Word<'_>, data: &AtomicU32, v: u32) {
    let r = park(word, &mut Spinner::never(), None, || data.load(Acquire) >= v).unwrap();
    assert_eq!(r, ParkResult::Ready);
}

/// `notify` without its `SeqCst` fence: the load of the word may read a stale AWAKE while
/// the consumer's re-check reads stale data.
fn notify_without_fence(word: &Word<'_>) {
    if word.value().load(Relaxed) == PARKED && word.value().swap(AWAKE, Relaxed) == PARKED {
        wake_all(word).unwrap();
    }
}

/// `park` whose PARKED announcement has no fence before the re-check.
fn park_without_fence(word: &Word<'_>, data: &AtomicU32, v: u32) {
    loop {
        word.value().store(PARKED, Relaxed);
        if data.load(Acquire) >= v {
            word.value().store(AWAKE, Relaxed);
            return;
        }
        wait(word, PARKED, None).unwrap();
        word.value().store(AWAKE, Relaxed);
    }
}

#[test]
fn a_parked_consumer_never_misses_a_published_value() {
    producer_consumer(1, real_notify, real_park);
}

#[test]
fn a_consumer_that_parks_twice_never_misses_either_value() {
    producer_consumer(2, real_notify, real_park);
}

#[test]
fn a_sender_waiting_for_room_and_a_receiver_waiting_for_data_never_both_sleep() {
    const VALUES: u32 = 2;
    model(|| {
        // A one-slot mailbox (0 = empty) and one park word per waiting side.
        let slot = Arc::new(AtomicU32::new(0));
        let data = Shared::new(); // receiver parks here
        let room = Shared::new(); // sender parks here
        let sender = {
            let (slot, data, room) = (slot.clone(), data.clone(), room.clone());
            thread::spawn(move || {
                for v in 1..=VALUES {
                    let mut spinner = Spinner::never();
                    let r = park(&room.word(), &mut spinner, None, || slot.load(Acquire) == 0);
                    assert_eq!(r.unwrap(), ParkResult::Ready);
                    slot.store(v, Release);
                    notify(&data.word()).unwrap();
                }
            })
        };
        for v in 1..=VALUES {
            let mut spinner = Spinner::never();
            let r = park(&data.word(), &mut spinner, None, || slot.load(Acquire) != 0);
            assert_eq!(r.unwrap(), ParkResult::Ready);
            assert_eq!(slot.load(Acquire), v);
            slot.store(0, Release);
            notify(&room.word()).unwrap();
        }
        sender.join().unwrap();
    });
}

#[test]
#[should_panic(expected = "deadlock")]
fn loom_catches_the_lost_wakeup_of_a_notify_without_its_fence() {
    producer_consumer(1, notify_without_fence, real_park);
}

#[test]
#[should_panic(expected = "deadlock")]
fn loom_catches_the_lost_wakeup_of_a_park_without_its_fence() {
    producer_consumer(1, real_notify, park_without_fence);
}
