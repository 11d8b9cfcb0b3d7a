//! Specification of wait/wake on a word and of the park/notify protocol, within one process
//! (threads). `tests/cross_process.rs` covers two processes, `tests/loom.rs` the interleavings.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use shmring_wait::{
    notify, park, park_with_slice, wait, wake_all, wake_one, Notifier, ParkResult, Spinner, WaitResult, Word, AWAKE,
    PARKED,
};

/// Generous bound that only catches hangs.
const HANG: Duration = Duration::from_secs(5);

fn notifier() -> Notifier {
    Notifier::new().expect("notifier")
}

/// Calls `wake` every millisecond until `done` is set (a wake before the wait would be lost).
fn keep_waking(done: &AtomicBool, wake: impl Fn()) {
    let start = Instant::now();
    while !done.load(Ordering::Acquire) && start.elapsed() < HANG {
        wake();
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn wait_returns_value_changed_at_once_when_the_word_differs() {
    let n = notifier();
    let value = AtomicU32::new(5);
    let start = Instant::now();
    let r = wait(&Word::new(&value, &n), 4, Some(HANG)).unwrap();
    assert_eq!(r, WaitResult::ValueChanged);
    assert!(start.elapsed() < HANG);
}

#[test]
fn wait_times_out_after_at_least_the_timeout() {
    let n = notifier();
    let value = AtomicU32::new(0);
    for timeout in [Duration::from_millis(1), Duration::from_millis(30)] {
        let start = Instant::now();
        let r = wait(&Word::new(&value, &n), 0, Some(timeout)).unwrap();
        assert_eq!(r, WaitResult::TimedOut);
        assert!(start.elapsed() >= timeout, "{:?} < {timeout:?}", start.elapsed());
    }
}

#[test]
fn wait_with_a_zero_timeout_returns_timed_out_without_sleeping() {
    let n = notifier();
    let value = AtomicU32::new(0);
    let r = wait(&Word::new(&value, &n), 0, Some(Duration::ZERO)).unwrap();
    assert_eq!(r, WaitResult::TimedOut);
}

#[test]
fn wake_one_wakes_a_waiter_in_another_thread() {
    let n = notifier();
    let value = AtomicU32::new(0);
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            let start = Instant::now();
            let r = wait(&Word::new(&value, &n), 0, Some(HANG)).unwrap();
            done.store(true, Ordering::Release);
            (r, start.elapsed())
        });
        keep_waking(&done, || wake_one(&Word::new(&value, &n)).unwrap());
        let (r, took) = waiter.join().unwrap();
        assert_eq!(r, WaitResult::Woken);
        assert!(took < HANG);
    });
}

#[test]
fn wake_all_wakes_every_waiter() {
    let n = notifier();
    let value = AtomicU32::new(0);
    let woken = AtomicU32::new(0);
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let r = wait(&Word::new(&value, &n), 0, Some(HANG)).unwrap();
                    if woken.fetch_add(1, Ordering::AcqRel) == 1 {
                        done.store(true, Ordering::Release);
                    }
                    r
                })
            })
            .collect();
        keep_waking(&done, || wake_all(&Word::new(&value, &n)).unwrap());
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), WaitResult::Woken);
        }
    });
}

#[test]
fn waking_a_word_nobody_waits_on_is_not_an_error() {
    let n = notifier();
    let value = AtomicU32::new(0);
    wake_one(&Word::new(&value, &n)).unwrap();
    wake_all(&Word::new(&value, &n)).unwrap();
}

#[test]
fn notify_makes_no_syscall_when_nobody_is_parked() {
    let n = notifier();
    let value = AtomicU32::new(AWAKE);
    assert!(!notify(&Word::new(&value, &n)).unwrap());
    assert_eq!(value.load(Ordering::Relaxed), AWAKE);
}

#[test]
fn notify_ignores_values_other_than_parked() {
    let n = notifier();
    let value = AtomicU32::new(0xdead_beef); // e.g. scribbled by a hostile peer
    assert!(!notify(&Word::new(&value, &n)).unwrap());
}

#[test]
fn notify_resets_a_parked_word_and_wakes() {
    let n = notifier();
    let value = AtomicU32::new(PARKED);
    assert!(notify(&Word::new(&value, &n)).unwrap());
    assert_eq!(value.load(Ordering::Relaxed), AWAKE);
}

#[test]
fn park_returns_ready_at_once_when_the_condition_already_holds() {
    let n = notifier();
    let value = AtomicU32::new(AWAKE);
    let r = park(&Word::new(&value, &n), &mut Spinner::never(), None, || true).unwrap();
    assert_eq!(r, ParkResult::Ready);
    assert_eq!(value.load(Ordering::Relaxed), AWAKE);
}

fn park_until_published(spinner: &mut Spinner) {
    let n = notifier();
    let value = AtomicU32::new(AWAKE);
    let data = AtomicU32::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            data.store(1, Ordering::Release);
            notify(&Word::new(&value, &n)).unwrap();
        });
        let start = Instant::now();
        let deadline = start + HANG;
        let r = park(&Word::new(&value, &n), spinner, Some(deadline), || data.load(Ordering::Acquire) == 1).unwrap();
        assert_eq!(r, ParkResult::Ready);
        assert!(start.elapsed() < HANG);
        assert_eq!(value.load(Ordering::Relaxed), AWAKE, "the waiter leaves the word AWAKE");
    });
}

#[test]
fn park_returns_ready_promptly_when_another_thread_publishes_and_notifies() {
    park_until_published(&mut Spinner::new());
    park_until_published(&mut Spinner::never());
}

#[test]
fn park_returns_timed_out_after_the_deadline_when_nobody_notifies() {
    let n = notifier();
    let value = AtomicU32::new(AWAKE);
    let timeout = Duration::from_millis(30);
    let start = Instant::now();
    let r = park(&Word::new(&value, &n), &mut Spinner::new(), Some(start + timeout), || false).unwrap();
    assert_eq!(r, ParkResult::TimedOut);
    assert!(start.elapsed() >= timeout);
    assert_eq!(value.load(Ordering::Relaxed), AWAKE);
}

#[test]
fn park_with_slice_notices_a_condition_that_nobody_notifies() {
    let n = notifier();
    let value = AtomicU32::new(AWAKE);
    let peer_dead = AtomicBool::new(false);
    let calls = AtomicU32::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(30));
            peer_dead.store(true, Ordering::Release); // no notify
        });
        let start = Instant::now();
        let slice = Some(Duration::from_millis(5));
        let r = park_with_slice(&Word::new(&value, &n), &mut Spinner::never(), Some(start + HANG), slice, || {
            calls.fetch_add(1, Ordering::Relaxed);
            peer_dead.load(Ordering::Acquire)
        })
        .unwrap();
        assert_eq!(r, ParkResult::Ready);
        assert!(start.elapsed() < HANG);
        assert!(calls.load(Ordering::Relaxed) >= 3, "ready() is re-checked every slice");
    });
}

#[test]
fn park_tolerates_a_peer_scribbling_on_the_word() {
    let n = notifier();
    let value = AtomicU32::new(AWAKE);
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let mut x = 0x9e37_79b9_u32;
            while !stop.load(Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                value.store(x % 4, Ordering::Relaxed);
                thread::yield_now();
            }
        });
        let timeout = Duration::from_millis(30);
        let start = Instant::now();
        let r = park(&Word::new(&value, &n), &mut Spinner::new(), Some(start + timeout), || false);
        stop.store(true, Ordering::Relaxed);
        assert_eq!(r.unwrap(), ParkResult::TimedOut);
        assert!(start.elapsed() >= timeout);
    });
}

#[test]
fn spinner_never_has_no_budget_and_new_stays_within_its_bound() {
    assert_eq!(Spinner::never().budget(), Duration::ZERO);
    let mut spinner = Spinner::new();
    assert_eq!(spinner.budget(), Spinner::INITIAL_SPIN);
    let n = notifier();
    let value = AtomicU32::new(AWAKE);
    for _ in 0..10 {
        let deadline = Some(Instant::now() + Duration::from_micros(100));
        park(&Word::new(&value, &n), &mut spinner, deadline, || false).unwrap();
        assert!(spinner.budget() <= Spinner::MAX_SPIN);
    }
    assert!(spinner.budget() < Spinner::INITIAL_SPIN, "sleeping shrinks the budget");
    for _ in 0..10 {
        park(&Word::new(&value, &n), &mut spinner, None, || true).unwrap();
    }
    let mut polls = 0;
    park(&Word::new(&value, &n), &mut spinner, None, || {
        polls += 1;
        polls > 2 // true while spinning or yielding
    })
    .unwrap();
    assert!(spinner.budget() > Duration::ZERO, "success while spinning grows the budget");
    assert!(spinner.budget() <= Spinner::MAX_SPIN);
}

#[cfg(unix)]
#[test]
fn named_notifiers_are_no_ops_on_unix() {
    Notifier::create_named("shmring-wait-spec").unwrap();
    Notifier::create_named("shmring-wait-spec").unwrap();
    Notifier::open_named("shmring-wait-spec").unwrap();
}

#[cfg(windows)]
#[test]
fn a_named_notifier_cannot_be_created_twice_and_its_opener_wakes_the_creator() {
    let name = format!("shmring-wait-spec-{}", std::process::id());
    let created = Notifier::create_named(&name).unwrap();
    let again = Notifier::create_named(&name).unwrap_err();
    assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
    let opened = Notifier::open_named(&name).unwrap();
    let value = AtomicU32::new(0);
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            let r = wait(&Word::new(&value, &created), 0, Some(HANG)).unwrap();
            done.store(true, Ordering::Release);
            r
        });
        keep_waking(&done, || wake_one(&Word::new(&value, &opened)).unwrap());
        assert_eq!(waiter.join().unwrap(), WaitResult::Woken);
    });
}

#[cfg(windows)]
#[test]
fn opening_a_notifier_nobody_created_fails() {
    let name = format!("shmring-wait-missing-{}", std::process::id());
    assert!(Notifier::open_named(&name).is_err());
}

#[test]
fn handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Notifier>();
    assert_send_sync::<Word<'static>>();
    assert_send_sync::<Spinner>();
}

#[test]
fn sleeping_never_shrinks_the_budget_below_one_microsecond() {
    let mut spinner = Spinner::new();
    let n = notifier();
    let value = AtomicU32::new(AWAKE);
    for _ in 0..40 {
        let deadline = Some(Instant::now() + Duration::from_micros(50));
        park(&Word::new(&value, &n), &mut spinner, deadline, || false).unwrap();
    }
    assert_eq!(spinner.budget(), Duration::from_micros(1), "a spinner at zero could never recover");
}
