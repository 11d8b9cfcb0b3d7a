//! Specification of wait/wake and park/notify between two real processes sharing a word.
//!
//! The parent creates a memfd (no `FD_CLOEXEC`), maps it `MAP_SHARED`, and re-runs this test
//! binary as a child with `--exact <test> --nocapture`, naming the role and the inherited fd
//! in environment variables; the child maps the same memfd. A private futex
//! (`FUTEX_PRIVATE_FLAG`) would never wake the other process: every wait here has a 10 s
//! deadline, so such a bug fails the test instead of hanging it.
#![cfg(all(target_os = "linux", not(loom)))]

use std::env;
use std::process::{Child, Command, Stdio};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use shmring_wait::{notify, park, wait, wake_one, Notifier, ParkResult, Spinner, WaitResult, Word};

const ROLE: &str = "SHMRING_WAIT_TEST_ROLE";
const FD: &str = "SHMRING_WAIT_TEST_FD";
const LIMIT: Duration = Duration::from_secs(10);
const MAP_LEN: usize = 4096;
const ROUND_TRIPS: u32 = 10_000;

/// A `MAP_SHARED` mapping of a memfd, seen as 32-bit words 64 bytes apart.
struct Shared {
    fd: i32,
    base: NonNull<u8>,
}

impl Shared {
    fn create() -> Shared {
        // SAFETY: the name is a NUL-terminated C string; flags 0 = no FD_CLOEXEC, so the
        // child inherits the fd across exec.
        let fd = unsafe { libc::memfd_create(c"shmring-wait-test".as_ptr(), 0) };
        assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
        // SAFETY: `fd` is the memfd we just created.
        let r = unsafe { libc::ftruncate(fd, MAP_LEN as libc::off_t) };
        assert_eq!(r, 0, "ftruncate: {}", std::io::Error::last_os_error());
        Shared::map(fd)
    }

    fn inherited() -> Shared {
        let fd = env::var(FD).expect("fd variable").parse().expect("fd number");
        Shared::map(fd)
    }

    fn map(fd: i32) -> Shared {
        // SAFETY: mapping MAP_LEN bytes of a memfd that is at least MAP_LEN long (the parent
        // sized it before spawning the child); the kernel picks the address.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), MAP_LEN, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap: {}", std::io::Error::last_os_error());
        let base = NonNull::new(p.cast::<u8>()).expect("mmap returned null");
        Shared { fd, base }
    }

    /// Word `index` (0..64), each on its own 64-byte line.
    fn word(&self, index: usize) -> &AtomicU32 {
        assert!(index < MAP_LEN / 64);
        // SAFETY: `index * 64 + 4 <= MAP_LEN`, the mapping lives as long as `self`, is 4-byte
        // aligned (page aligned base), and is only accessed atomically by both processes.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(index * 64).cast::<u32>()) }
    }

    fn spawn_child(&self, test: &str, role: &str) -> Child {
        Command::new(env::current_exe().expect("current_exe"))
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(FD, self.fd.to_string())
            .stdout(Stdio::null()) // keep the harness summary to the parent; panics go to stderr
            .spawn()
            .expect("spawn child")
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: `base` is our MAP_LEN-byte mapping and no reference into it outlives `self`.
        unsafe { libc::munmap(self.base.as_ptr().cast(), MAP_LEN) };
    }
}

fn role() -> Option<String> {
    env::var(ROLE).ok()
}

/// Waits for the child with a deadline; kills it on timeout.
fn wait_child(mut child: Child) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            assert!(status.success(), "child failed: {status}");
            return;
        }
        if start.elapsed() > LIMIT + Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child hung");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_child_blocked_in_wait_is_woken_by_the_parents_wake() {
    const NAME: &str = "a_child_blocked_in_wait_is_woken_by_the_parents_wake";
    let notifier = Notifier::new().unwrap();
    if role().as_deref() == Some("sleeper") {
        let shared = Shared::inherited();
        shared.word(1).store(1, Ordering::Release); // "about to wait"
        let start = Instant::now();
        let r = wait(&Word::new(shared.word(0), &notifier), 0, Some(LIMIT)).unwrap();
        assert_eq!(r, WaitResult::Woken, "not woken within {LIMIT:?}: private futex?");
        assert!(start.elapsed() < LIMIT);
        shared.word(2).store(1, Ordering::Release); // "woken"
        return;
    }
    let shared = Shared::create();
    let child = shared.spawn_child(NAME, "sleeper");
    let start = Instant::now();
    while shared.word(1).load(Ordering::Acquire) == 0 && start.elapsed() < LIMIT {
        thread::sleep(Duration::from_millis(1));
    }
    // The word itself never changes: only a wake can end the child's wait early. Wake
    // repeatedly, since a wake sent before the child sleeps is lost.
    while shared.word(2).load(Ordering::Acquire) == 0 && start.elapsed() < LIMIT {
        wake_one(&Word::new(shared.word(0), &notifier)).unwrap();
        thread::sleep(Duration::from_millis(2));
    }
    wait_child(child);
    assert_eq!(shared.word(2).load(Ordering::Acquire), 1);
}

/// Words: 0 ping counter, 1 ping park word, 2 pong counter, 3 pong park word.
fn ping_pong(test: &str, spinner: fn() -> Spinner) {
    let notifier = Notifier::new().unwrap();
    let deadline = Instant::now() + LIMIT;
    if role().as_deref() == Some("ponger") {
        let shared = Shared::inherited();
        let (ping, ping_park) = (shared.word(0), Word::new(shared.word(1), &notifier));
        let (pong, pong_park) = (shared.word(2), Word::new(shared.word(3), &notifier));
        let mut spinner = spinner();
        for expected in 1..=ROUND_TRIPS {
            let r = park(&ping_park, &mut spinner, Some(deadline), || ping.load(Ordering::Acquire) != expected - 1)
                .unwrap();
            assert_eq!(r, ParkResult::Ready, "ping {expected} never came");
            assert_eq!(ping.load(Ordering::Acquire), expected, "the child skipped a value");
            pong.store(expected, Ordering::Release);
            notify(&pong_park).unwrap();
        }
        return;
    }
    let shared = Shared::create();
    let child = shared.spawn_child(test, "ponger");
    let (ping, ping_park) = (shared.word(0), Word::new(shared.word(1), &notifier));
    let (pong, pong_park) = (shared.word(2), Word::new(shared.word(3), &notifier));
    let mut spinner = spinner();
    for i in 1..=ROUND_TRIPS {
        ping.store(i, Ordering::Release);
        notify(&ping_park).unwrap();
        let r = park(&pong_park, &mut spinner, Some(deadline), || pong.load(Ordering::Acquire) != i - 1).unwrap();
        assert_eq!(r, ParkResult::Ready, "pong {i} never came");
        assert_eq!(pong.load(Ordering::Acquire), i, "the parent skipped a value");
    }
    wait_child(child);
}

#[test]
fn ping_pong_of_ten_thousand_round_trips_that_always_sleep_sees_every_value() {
    ping_pong("ping_pong_of_ten_thousand_round_trips_that_always_sleep_sees_every_value", Spinner::never);
}

#[test]
fn ping_pong_of_ten_thousand_round_trips_with_adaptive_spinning_sees_every_value() {
    ping_pong("ping_pong_of_ten_thousand_round_trips_with_adaptive_spinning_sees_every_value", Spinner::new);
}
