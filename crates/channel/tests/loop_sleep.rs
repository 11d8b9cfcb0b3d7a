//! `DataWatch::begin_sleep` / `end_sleep`: the park protocol split in two for an event loop
//! that hands the futex wait to the kernel (the Node addon's io_uring `FUTEX_WAIT`, polled by
//! libuv). Here the sleep is a real io_uring `FUTEX_WAIT` on `futex_word()`, waited for with
//! `submit_and_wait`, and the waker is another thread using the public API. Linux only;
//! the tests pass vacuously (and say so) where io_uring or its futex opcode is unavailable.
#![cfg(target_os = "linux")]

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use io_uring::{opcode, IoUring, Probe};
use shmring_channel::{Channel, Readiness};

fn pair() -> (Channel, Channel) {
    let a = Channel::create().expect("create the channel");
    let b = Channel::from_fd(a.share_fd().expect("share_fd")).expect("attach side B");
    (a, b)
}

/// An io_uring that can wait on futexes, or `None` (the test then returns early).
fn futex_ring() -> Option<IoUring> {
    let ring = IoUring::new(8).ok()?;
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe).ok()?;
    if !probe.is_supported(opcode::FutexWait::CODE) {
        eprintln!("io_uring FUTEX_WAIT unsupported here: nothing to test");
        return None;
    }
    Some(ring)
}

/// Sleeps as the addon does after `begin_sleep` returned `None`: a FUTEX_WAIT on a watch's
/// word while it holds PARKED (shared, 32-bit), at most `limit`. Returns the wait's result
/// (0 woken, -EAGAIN word already changed, -ECANCELED timed out).
fn sleep_on(ring: &mut IoUring, word: &shmring_wait::AtomicU32, limit: Duration) -> i32 {
    let timeout = io_uring::types::Timespec::from(limit);
    let wait = opcode::FutexWait::new(word.as_ptr(), u64::from(shmring_wait::PARKED), u64::from(u32::MAX), 0x02)
        .build()
        .flags(io_uring::squeue::Flags::IO_LINK)
        .user_data(1);
    let link = opcode::LinkTimeout::new(&timeout).build().user_data(2);
    // SAFETY: the futex word lives in the mapping the caller's watch keeps alive; `timeout` outlives the
    // submission (the kernel copies it while preparing the entry, inside `submit_and_wait`).
    unsafe { ring.submission().push_multiple(&[wait, link]).expect("room in the queue") };
    ring.submit_and_wait(2).expect("io_uring_enter");
    let mut result = None;
    for cqe in ring.completion() {
        if cqe.user_data() == 1 {
            result = Some(cqe.result());
        }
    }
    result.expect("the wait completed")
}

#[test]
fn a_waiting_message_means_no_sleep() {
    let (mut a, b) = pair();
    assert!(a.try_send(b"hello").unwrap());
    let watch = b.data_watch();
    assert_eq!(watch.begin_sleep(), Some(Readiness::Ready));
    // The announcement was withdrawn: a send does not need a wake system call.
    assert_eq!(watch.futex_word().load(std::sync::atomic::Ordering::Relaxed), shmring_wait::AWAKE);
}

#[test]
fn a_send_from_another_thread_wakes_the_kernel_sleep() {
    let Some(mut ring) = futex_ring() else { return };
    let (a, mut b) = pair();
    let watch = b.data_watch();
    assert_eq!(watch.begin_sleep(), None, "nothing waiting yet");
    let sender = thread::spawn(move || {
        let mut a = a;
        thread::sleep(Duration::from_millis(100));
        assert!(a.try_send(b"wake up").unwrap());
        a
    });
    let started = Instant::now();
    let result = sleep_on(&mut ring, watch.futex_word(), Duration::from_secs(20));
    assert_eq!(result, 0, "woken by the send, not timed out");
    assert!(started.elapsed() >= Duration::from_millis(90), "slept until the send");
    assert_eq!(watch.end_sleep(false), Some(Readiness::Ready));
    let mut buf = [0u8; 16];
    assert_eq!(b.try_recv_into(&mut buf).unwrap(), Some(7));
    drop(sender.join().unwrap());
}

#[test]
fn the_peer_closing_wakes_the_kernel_sleep_as_ended() {
    let Some(mut ring) = futex_ring() else { return };
    let (a, b) = pair();
    let watch = b.data_watch();
    assert_eq!(watch.begin_sleep(), None);
    let closer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        a.close();
    });
    assert_eq!(sleep_on(&mut ring, watch.futex_word(), Duration::from_secs(20)), 0);
    assert_eq!(watch.end_sleep(false), Some(Readiness::Ended));
    closer.join().unwrap();
}

#[test]
fn cancel_wakes_the_kernel_sleep_as_cancelled() {
    let Some(mut ring) = futex_ring() else { return };
    let (_a, b) = pair();
    let watch = Arc::new(b.data_watch());
    assert_eq!(watch.begin_sleep(), None);
    let canceller = Arc::clone(&watch);
    let cancel = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        canceller.cancel();
    });
    assert_eq!(sleep_on(&mut ring, watch.futex_word(), Duration::from_secs(20)), 0);
    assert_eq!(watch.end_sleep(false), Some(Readiness::Cancelled));
    cancel.join().unwrap();
}

#[test]
fn an_idle_slice_ends_in_another_sleep_while_the_peer_lives() {
    let Some(mut ring) = futex_ring() else { return };
    let (_a, b) = pair();
    let watch = b.data_watch();
    assert_eq!(watch.begin_sleep(), None);
    let result = sleep_on(&mut ring, watch.futex_word(), Duration::from_millis(30));
    assert_eq!(-result, libc::ECANCELED, "the linked timeout ended the wait");
    assert_eq!(watch.end_sleep(true), None, "nothing happened: sleep again");
    assert!(watch.sleep_slice() >= Duration::from_millis(50));
}

#[test]
fn room_released_by_the_receiver_wakes_the_kernel_sleep_of_a_full_sender() {
    let Some(mut ring) = futex_ring() else { return };
    let small = shmring_channel::ChannelOptions { capacity: 4096, high_capacity: 4096, critical_capacity: 4096 };
    let mut a = Channel::create_with(&small).expect("create the channel");
    let b = Channel::from_fd(a.share_fd().expect("share_fd")).expect("attach side B");
    while a.try_send(&[7u8; 1000]).unwrap() {}
    let watch = a.room_watch();
    let since = watch.snapshot();
    assert_eq!(watch.begin_sleep(since), None, "the lane is full");
    let receiver = thread::spawn(move || {
        let mut b = b;
        thread::sleep(Duration::from_millis(50));
        let mut buf = [0u8; 1000];
        // Two: after one, a 1000-byte record would not fit in one piece (4 KiB lane).
        for _ in 0..2 {
            assert_eq!(b.try_recv_into(&mut buf).unwrap(), Some(1000));
        }
        b
    });
    let woken = sleep_on(&mut ring, watch.futex_word(), Duration::from_secs(20));
    assert_eq!(woken, 0, "woken by the release, not timed out");
    assert_eq!(watch.end_sleep(since, false), Some(Readiness::Ready));
    let _b = receiver.join().unwrap(); // kept open: dropping it would close the channel
    assert!(a.try_send(&[7u8; 1000]).unwrap(), "room again");
}
