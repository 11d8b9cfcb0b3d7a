//! Linux (and Android) backend: `futex(2)` on the shared word itself.
//!
//! * `wait`: `FUTEX_WAIT_BITSET` with an absolute `CLOCK_MONOTONIC` deadline (computed once,
//!   so a retry after `EINTR` keeps the original deadline) and `FUTEX_BITSET_MATCH_ANY`, which
//!   makes it a plain `FUTEX_WAIT` with an absolute timeout. Results: `0` → `Woken`,
//!   `EAGAIN` → `ValueChanged` (the kernel compared the word under its hash-bucket lock and it
//!   was not `expected`), `ETIMEDOUT` → `TimedOut`, `EINTR` → retry; anything else is an error.
//! * `wake_one` / `wake_all`: `FUTEX_WAKE` with 1 / `i32::MAX`.
//!
//! **No `FUTEX_PRIVATE_FLAG`, anywhere.** A private futex is keyed by (address space, virtual
//! address), so a waiter in another process is never found and its wake is lost. A shared
//! futex is keyed by the backing object and offset (inode/memfd + page offset), which is the
//! same in every process that maps the segment, at whatever address. `tests/cross_process.rs`
//! proves it: with the private flag the child would time out instead of being woken.
//!
//! Limits: the word must be 4-byte aligned (guaranteed by `&AtomicU32`); a deadline that does
//! not fit a `timespec` is treated as "no limit". Nothing here needs per-process state, so
//! [`Notifier`] is empty and named notifiers are no-ops.

use std::io;
use std::ptr;
use std::time::Duration;

use crate::{WaitResult, Word};

/// Match any bit: together with `FUTEX_WAIT_BITSET` this is `FUTEX_WAIT` with an absolute
/// timeout (`FUTEX_BITSET_MATCH_ANY` in `<linux/futex.h>`).
const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;

/// Nothing: the kernel finds the waiters of a shared futex through the shared page.
#[derive(Debug)]
pub(crate) struct Notifier;

impl Notifier {
    pub(crate) fn new() -> io::Result<Notifier> {
        Ok(Notifier)
    }

    pub(crate) fn create_named(_name: &str) -> io::Result<Notifier> {
        Ok(Notifier)
    }

    pub(crate) fn open_named(_name: &str) -> io::Result<Notifier> {
        Ok(Notifier)
    }
}

pub(crate) fn wait(word: &Word<'_>, expected: u32, timeout: Option<Duration>) -> io::Result<WaitResult> {
    let deadline = match timeout {
        Some(timeout) => deadline_after(timeout)?,
        None => None,
    };
    let deadline_ptr = deadline.as_ref().map_or(ptr::null(), |ts| ts as *const libc::timespec);
    loop {
        // SAFETY: `word.value()` is a live `&AtomicU32` (4-byte aligned, valid for the call,
        // checked by the borrow in `Word::new`); `deadline_ptr` is null or points to the
        // `timespec` above, alive until we return; uaddr2 is unused by FUTEX_WAIT_BITSET.
        // The kernel only reads the word. No FUTEX_PRIVATE_FLAG: see the module doc.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.value().as_ptr(),
                libc::FUTEX_WAIT_BITSET,
                expected,
                deadline_ptr,
                ptr::null::<u32>(),
                FUTEX_BITSET_MATCH_ANY,
            )
        };
        if r >= 0 {
            return Ok(WaitResult::Woken);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue, // the absolute deadline keeps the remaining time
            Some(libc::EAGAIN) => return Ok(WaitResult::ValueChanged),
            Some(libc::ETIMEDOUT) => return Ok(WaitResult::TimedOut),
            _ => return Err(err),
        }
    }
}

pub(crate) fn wake_one(word: &Word<'_>) -> io::Result<()> {
    wake(word, 1)
}

pub(crate) fn wake_all(word: &Word<'_>) -> io::Result<()> {
    wake(word, i32::MAX)
}

fn wake(word: &Word<'_>, count: i32) -> io::Result<()> {
    // SAFETY: `word.value()` is a live, aligned `&AtomicU32` (see `wait`); FUTEX_WAKE reads
    // no memory and only takes the address as a key. No FUTEX_PRIVATE_FLAG: see module doc.
    let r = unsafe { libc::syscall(libc::SYS_futex, word.value().as_ptr(), libc::FUTEX_WAKE, count) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `CLOCK_MONOTONIC` now + `timeout`, or `None` if that overflows a `timespec` (no limit).
fn deadline_after(timeout: Duration) -> io::Result<Option<libc::timespec>> {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable `timespec` for the duration of the call.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // `tv_nsec` of a valid timespec is in 0..1e9 and `subsec_nanos()` < 1e9, so the cast is
    // lossless and the sum (< 2e9) fits even a 32-bit `c_long`.
    let mut nsec = now.tv_nsec + timeout.subsec_nanos() as libc::c_long;
    let mut carry = 0;
    if nsec >= 1_000_000_000 {
        nsec -= 1_000_000_000;
        carry = 1;
    }
    // `try_into` the type of `tv_sec`, not `libc::time_t` by name: the libc crate deprecates
    // that alias on musl (its width changed in musl 1.2).
    let sec =
        timeout.as_secs().try_into().ok().and_then(|s| now.tv_sec.checked_add(s)).and_then(|s| s.checked_add(carry));
    Ok(sec.map(|tv_sec| libc::timespec { tv_sec, tv_nsec: nsec }))
}
