//! The spin-then-park protocol, written once: [`park`] for the side that waits for a
//! condition, [`notify`] for the side that makes it true, [`Spinner`] for the spin budget.
//!
//! # Protocol
//!
//! One shared word per waiting side holds [`AWAKE`] or [`PARKED`]. The condition itself
//! ("the ring has a record", "the ring has room") lives elsewhere in shared memory and is
//! read by the caller's `ready()` closure with `Acquire` loads; the notifier makes it true
//! with a `Release` store before calling [`notify`].
//!
//! ```text
//! waiter (park)                              notifier (notify)
//!   spin: ready()? → Ready                     n1  publish (Release store)
//!   w1  word = PARKED           (Relaxed)      n2  fence(SeqCst)
//!   w2  fence(SeqCst)                          n3  word == PARKED?  (Relaxed)  no → done,
//!   w3  ready()? → word = AWAKE; Ready                                        no syscall
//!   w4  futex_wait(word, PARKED, timeout)      n4  swap(word, AWAKE) == PARKED?
//!   w5  word = AWAKE            (Relaxed)      n5  futex_wake_all(word)
//!   loop to w1 (deadline → TimedOut)
//! ```
//!
//! This is Dekker's pattern (also in std's futex-based `Mutex`/`Condvar` and
//! parking_lot_core, where a lock stands in for our fences): each side stores its own flag,
//! then reads the other's, with a `SeqCst` fence in between.
//!
//! # Proof sketch (no lost wakeup)
//!
//! `SeqCst` fences are totally ordered. Take one round w1..w4 of the waiter that goes to
//! sleep, and one notify n1..n5.
//! * If `w2` precedes `n2`: by the fence rule, `n3` reads `w1` (PARKED) or a store after it in
//!   the word's modification order. If it reads PARKED, `n4`'s swap (an RMW reads the latest
//!   value) finds PARKED unless the waiter already wrote `w5`, and `n5` follows. The futex
//!   compares the word and sleeps atomically with respect to wakes, so either the waiter is
//!   asleep when `n5` runs (woken) or its comparison in `w4` sees AWAKE (returns at once).
//!   If `n3`/`n4` read AWAKE written by `w5` of this round, the waiter is already past its
//!   sleep and re-checks `ready()` in its next round (see the next case for that round).
//! * If `n2` precedes `w2`: `w3`'s `ready()` loads follow `w2`, so they see `n1` (or later),
//!   `ready()` is true and the waiter never sleeps.
//! * A read of AWAKE by `n3` while the waiter has started a later round (its `w1'` is after
//!   that AWAKE in modification order) forces `n2` before `w2'` (else `n3` would have to see
//!   `w1'`), which is the second case for that round.
//!
//! Skipping the wake when `n4` reads AWAKE is safe for the same reason: the waiter is awake
//! and will re-check. Every wait also has a timeout (the deadline and the optional slice), so
//! even a broken peer cannot make the waiter sleep forever; loom checks the interleavings
//! (`tests/loom.rs`), including a weakened copy without the fence that it must reject.
//!
//! # One waiter per word
//!
//! The word is a flag, not a count of waiters. [`notify`] uses `wake_all`, so waiters that
//! are asleep together are all woken; but if two waiters share a word, the first to wake
//! writes AWAKE while the second may still be asleep, and a later `notify` skips the wake;
//! the second then sleeps until its own timeout or slice. Give each waiting side its own word.
//!
//! # Untrusted peer
//!
//! The peer can write anything into the word. Any value other than PARKED makes our
//! `futex_wait(word, PARKED)` return at once and we loop (re-storing PARKED); a peer that keeps
//! writing PARKED costs us extra wake system calls. Neither can cause a panic, an error or a
//! wait past the deadline.
//!
//! # Spinning
//!
//! Before parking, [`park`] spins on `ready()` for the [`Spinner`]'s budget (an adaptive
//! time, 1 µs..=[`Spinner::MAX_SPIN`], with `spin_loop` hints), then yields the CPU a few times
//! (on a machine with few cores the peer may need ours). The budget doubles when the
//! condition became true while spinning and halves (not below 1 µs) when the waiter had to sleep, as in
//! parking_lot's adaptive mutexes and glibc's `PTHREAD_MUTEX_ADAPTIVE_NP`.

use std::hint;
use std::io;
use std::thread;
use std::time::{Duration, Instant};

use crate::primitive::{fence, Ordering::Relaxed, Ordering::SeqCst};
use crate::{wait, wake_all, Word};

/// Word value: the waiter is running, or there is no waiter.
pub const AWAKE: u32 = 0; // waiter running, or no waiter
/// Word value: the waiter is asleep, or about to sleep (it re-checks after announcing it).
pub const PARKED: u32 = 1; // waiter asleep or about to sleep

/// How [`park`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParkResult {
    /// `ready()` returned true.
    Ready,
    /// The deadline passed and `ready()` was still false.
    TimedOut,
}

/// Adaptive spin budget, kept by one waiter across calls to [`park`].
///
/// The budget is a time in `1 µs..=`[`Spinner::MAX_SPIN`]; it doubles when the condition became
/// true while spinning, stays when it became true only after a yield (spinning did not help:
/// typically both sides share a CPU), and halves (not below 1 µs) when the waiter had to sleep.
/// After the timed spin come [`Spinner::YIELDS`] calls to `std::thread::yield_now`.
/// [`Spinner::never`] does neither: [`park`] goes straight to sleep.
#[derive(Debug, Clone)]
pub struct Spinner {
    budget_ns: u32,
    adaptive: bool,
}

impl Spinner {
    /// Upper bound of the spin budget.
    pub const MAX_SPIN: Duration = Duration::from_micros(20);
    /// Budget of a new spinner.
    pub const INITIAL_SPIN: Duration = Duration::from_micros(5);
    /// Number of `yield_now` calls after the timed spin (none for [`Spinner::never`]).
    pub const YIELDS: u32 = 3;
    const MIN_GROWTH_NS: u32 = 1_000;
    const CHECKS_PER_CLOCK_READ: u32 = 16;

    /// A spinner that starts at [`Spinner::INITIAL_SPIN`] and adapts.
    #[must_use]
    pub const fn new() -> Spinner {
        Spinner { budget_ns: Self::INITIAL_SPIN.as_nanos() as u32, adaptive: true }
    }

    /// A spinner that never spins nor yields: [`park`] announces itself and sleeps at once.
    #[must_use]
    pub const fn never() -> Spinner {
        Spinner { budget_ns: 0, adaptive: false }
    }

    /// The current spin budget (before the yields).
    #[must_use]
    pub const fn budget(&self) -> Duration {
        Duration::from_nanos(self.budget_ns as u64)
    }

    fn grow(&mut self) {
        let max = Self::MAX_SPIN.as_nanos() as u32;
        self.budget_ns = self.budget_ns.saturating_mul(2).max(Self::MIN_GROWTH_NS).min(max);
    }

    fn shrink(&mut self) {
        if self.adaptive {
            // Never below MIN_GROWTH_NS: a spinner at zero could never notice that spinning
            // pays off again.
            self.budget_ns = (self.budget_ns / 2).max(Self::MIN_GROWTH_NS);
        }
    }

    /// Spins on `ready()` for the budget (never past `deadline`), then yields a few times.
    /// Returns true as soon as `ready()` does.
    fn spin(&mut self, deadline: Option<Instant>, ready: &mut impl FnMut() -> bool) -> bool {
        // Loom has no clock and treats every spin as a new branch: no spinning in models.
        if !self.adaptive || cfg!(loom) {
            return false;
        }
        let start = Instant::now();
        let mut end = start + self.budget();
        if let Some(deadline) = deadline {
            end = end.min(deadline);
        }
        while Instant::now() < end {
            for _ in 0..Self::CHECKS_PER_CLOCK_READ {
                if ready() {
                    self.grow();
                    return true;
                }
                hint::spin_loop();
            }
        }
        for _ in 0..Self::YIELDS {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            thread::yield_now();
            if ready() {
                // Yielding paid off, not spinning (typically: both sides share a CPU), so
                // the budget is left alone rather than grown into spins that cannot succeed.
                return true;
            }
        }
        false
    }
}

impl Default for Spinner {
    fn default() -> Spinner {
        Spinner::new()
    }
}

/// Notifier side: call right after publishing (with a `Release` store) what the waiter's
/// `ready()` reads. Wakes the waiter only if it announced [`PARKED`].
///
/// Returns whether a wake system call was made. When nobody is parked this is a fence and a
/// load: no system call.
///
/// ```
/// use std::sync::atomic::AtomicU32;
/// use shmring_wait::{notify, Notifier, Word, AWAKE};
///
/// let notifier = Notifier::new()?;
/// let word = AtomicU32::new(AWAKE);
/// assert!(!notify(&Word::new(&word, &notifier))?); // nobody parked: no system call
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn notify(word: &Word<'_>) -> io::Result<bool> {
    // ORDERING: SeqCst fence between our publication (the caller's Release store) and our
    // read of the word; pairs with the SeqCst fence in `park` between its PARKED store and
    // its `ready()` re-check (Dekker; see the module doc).
    fence(SeqCst);
    // ORDERING: Relaxed: ordered by the fence above.
    if word.value().load(Relaxed) != PARKED {
        return Ok(false);
    }
    // ORDERING: Relaxed RMW: reads the latest value; ordered after the fence above. If the
    // waiter already wrote AWAKE (after its wait), it is awake and re-checks `ready()`.
    if word.value().swap(AWAKE, Relaxed) != PARKED {
        return Ok(false);
    }
    wake_all(word)?;
    Ok(true)
}

/// Wakes the waiter on `word` whether or not it announced [`PARKED`]: for conditions that
/// are not published through a Release store the waiter's `ready()` pairs with (closing,
/// cancelling). Call it after setting the condition.
///
/// Resets the word to [`AWAKE`] first, so a waiter that re-checked `ready()` just before the
/// condition was set, and is about to sleep on `PARKED`, finds the word changed and returns
/// at once instead of sleeping until its deadline.
pub fn interrupt(word: &Word<'_>) -> io::Result<()> {
    // ORDERING: SeqCst fence orders the caller's condition store before the swap; pairs with
    // the SeqCst fence in `park` (as in `notify`).
    fence(SeqCst);
    // ORDERING: Relaxed RMW after the fence; the value change is what the futex compares.
    word.value().swap(AWAKE, Relaxed);
    wake_all(word)
}

/// Waiter side: returns when `ready()` is true ([`ParkResult::Ready`]) or `deadline` passed
/// ([`ParkResult::TimedOut`], after one last `ready()` check).
///
/// Spins per `spinner`, then announces [`PARKED`] in `word`, re-checks `ready()` and sleeps
/// until [`notify`] wakes it or the deadline comes. `ready()` may return true for any reason
/// the caller wants to stop waiting (data, room, closed channel). On an error from the OS the
/// word is reset to [`AWAKE`] first.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::{Duration, Instant};
/// use shmring_wait::{park, Notifier, ParkResult, Spinner, Word, AWAKE};
///
/// let notifier = Notifier::new()?;
/// let word = AtomicU32::new(AWAKE);
/// let data = AtomicU32::new(0);
/// let deadline = Instant::now() + Duration::from_millis(10);
/// let r = park(&Word::new(&word, &notifier), &mut Spinner::new(), Some(deadline), || {
///     data.load(Ordering::Acquire) != 0
/// })?;
/// assert_eq!(r, ParkResult::TimedOut); // nobody published
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn park(
    word: &Word<'_>,
    spinner: &mut Spinner,
    deadline: Option<Instant>,
    ready: impl FnMut() -> bool,
) -> io::Result<ParkResult> {
    park_with_slice(word, spinner, deadline, None, ready)
}

/// [`park`] that also wakes up at least every `slice` to call `ready()` again, so the caller
/// can notice conditions nobody notifies (a dead peer, a closed handshake socket) from
/// inside `ready()`.
pub fn park_with_slice(
    word: &Word<'_>,
    spinner: &mut Spinner,
    deadline: Option<Instant>,
    slice: Option<Duration>,
    mut ready: impl FnMut() -> bool,
) -> io::Result<ParkResult> {
    if ready() || spinner.spin(deadline, &mut ready) {
        return Ok(ParkResult::Ready);
    }
    spinner.shrink();
    loop {
        if announce_park(word, &mut ready) {
            return Ok(ParkResult::Ready);
        }
        let mut timeout = slice;
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                end_park(word);
                return Ok(ParkResult::TimedOut);
            }
            timeout = Some(timeout.map_or(left, |slice| slice.min(left)));
        }
        let result = wait(word, PARKED, timeout);
        end_park(word);
        result?;
    }
}

/// Steps w1–w3 of the protocol: announces [`PARKED`] and re-checks `ready()`. Returns `true`
/// (the word is [`AWAKE`] again) if `ready()` holds; `false` means: sleep on the word while
/// it holds [`PARKED`] (step w4), then call [`end_park`] (w5) before looking again.
///
/// [`park`] is built from these two. They are public for a waiter that sleeps elsewhere: an
/// event loop that hands the futex wait of w4 to the kernel as an io_uring `FUTEX_WAIT` on
/// [`Word::value`] (Linux only: the word must be a futex, and the wait must compare it with
/// [`PARKED`] atomically, as `futex_wait` does). The proof in the module doc holds unchanged.
pub fn announce_park(word: &Word<'_>, mut ready: impl FnMut() -> bool) -> bool {
    let value = word.value();
    // ORDERING: Relaxed store of the announcement, ordered before the re-check by the
    // fence below.
    value.store(PARKED, Relaxed);
    // ORDERING: SeqCst fence between announcing PARKED and re-reading the condition;
    // pairs with the SeqCst fence in `notify` (Dekker; see the module doc).
    fence(SeqCst);
    if ready() {
        end_park(word);
        return true;
    }
    false
}

/// Step w5: the waiter is awake again (after its sleep, or instead of it).
pub fn end_park(word: &Word<'_>) {
    // ORDERING: Relaxed: a notifier that still sees PARKED only makes a spare wake; the next
    // round re-announces PARKED behind a fence.
    word.value().store(AWAKE, Relaxed);
}
