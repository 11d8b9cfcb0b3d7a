//! Cross-process wait/wake on a 32-bit word in shared memory, and the spin-then-park
//! protocol built on it.
//!
//! A waiter sleeps on an [`AtomicU32`] that lives in a mapping shared with another process;
//! that process wakes it. On Linux this is a shared `futex(2)`, on macOS the kernel's shared
//! ulock queues, on Windows an Event object per word (see `src/sys/`). On top of that,
//! [`park()`] / [`notify`] implement the protocol every blocking call of shmring uses: spin
//! briefly, announce [`PARKED`], re-check, sleep; the notifier makes a system call only when
//! the waiter is parked.
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::{Duration, Instant};
//! use shmring_wait::{notify, park, Notifier, ParkResult, Spinner, Word, AWAKE};
//!
//! // In real use both live in a shared mapping; here two threads share them.
//! static DATA: AtomicU32 = AtomicU32::new(0);
//! static PARKED_FLAG: AtomicU32 = AtomicU32::new(AWAKE);
//! let notifier = Notifier::new()?; // this process's handle (empty on Linux/macOS)
//!
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         DATA.store(42, Ordering::Release); // publish…
//!         notify(&Word::new(&PARKED_FLAG, &notifier)).unwrap(); // …then wake if parked
//!     });
//!     let deadline = Instant::now() + Duration::from_secs(5);
//!     let word = Word::new(&PARKED_FLAG, &notifier);
//!     let r = park(&word, &mut Spinner::new(), Some(deadline), || {
//!         DATA.load(Ordering::Acquire) == 42
//!     })?;
//!     assert_eq!(r, ParkResult::Ready);
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # API map
//!
//! * [`Notifier`]: this process's OS object for one shared word ([`Notifier::new`],
//!   [`Notifier::create_named`], [`Notifier::open_named`]); empty on Linux and macOS.
//! * [`Word`]: a shared `&AtomicU32` plus this process's `&Notifier`.
//! * Raw operations: [`wait`] → [`WaitResult`], [`wake_one`], [`wake_all`].
//! * Protocol (`park.rs`): [`park()`], [`park_with_slice`] → [`ParkResult`], [`notify`],
//!   [`Spinner`], word values [`AWAKE`] and [`PARKED`].
//!
//! Under `--cfg loom`, [`AtomicU32`] is loom's and the OS backend is an emulated futex, so
//! `tests/loom.rs` can model-check the protocol.

mod park;
mod primitive;
mod sys;

use std::fmt;
use std::io;
use std::time::Duration;

pub use crate::park::{
    announce_park, end_park, interrupt, notify, park, park_with_slice, ParkResult, Spinner, AWAKE, PARKED,
};
pub use crate::primitive::AtomicU32;
use crate::primitive::Ordering::Relaxed;

/// How a [`wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitResult {
    /// A wake arrived, or the OS woke us for no reason (spurious wakes are allowed): re-check.
    Woken,
    /// The timeout passed while the word still held the expected value.
    TimedOut,
    /// The word did not hold the expected value, so we did not sleep.
    ValueChanged,
}

/// This process's handle to the OS object that carries wakes for one shared word.
///
/// Linux and macOS: empty (the kernel keys waiters by the shared physical page).
/// Windows: an auto-reset Event object (`WaitOnAddress` works only inside one process), one
/// per word, created by one side with a name and opened by the other, or duplicated into a
/// child (`AsHandle`, `From<OwnedHandle>`).
pub struct Notifier {
    inner: sys::Notifier,
}

impl Notifier {
    /// An unnamed notifier (Windows: an unnamed event, for one process or `DuplicateHandle`).
    ///
    /// ```
    /// let notifier = shmring_wait::Notifier::new()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Notifier> {
        sys::Notifier::new().map(|inner| Notifier { inner })
    }

    /// Creates a notifier another process can open by `name`. Windows: `CreateEventW` of
    /// `Local\<name>`; an existing object of that name is an `AlreadyExists` error.
    /// Linux/macOS: nothing to create.
    ///
    /// ```
    /// let ours = shmring_wait::Notifier::create_named("shmring-doc-create")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create_named(name: &str) -> io::Result<Notifier> {
        sys::Notifier::create_named(name).map(|inner| Notifier { inner })
    }

    /// Opens the notifier another process created with [`Notifier::create_named`].
    /// Windows: `OpenEventW(SYNCHRONIZE | EVENT_MODIFY_STATE)`. Linux/macOS: nothing to open.
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// let theirs = shmring_wait::Notifier::open_named("shmring-doc-open")?;
    /// # }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open_named(name: &str) -> io::Result<Notifier> {
        sys::Notifier::open_named(name).map(|inner| Notifier { inner })
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier").field("os", &self.inner).finish()
    }
}

#[cfg(all(windows, not(loom)))]
impl std::os::windows::io::AsHandle for Notifier {
    fn as_handle(&self) -> std::os::windows::io::BorrowedHandle<'_> {
        std::os::windows::io::AsHandle::as_handle(&self.inner)
    }
}

/// Adopts an event handle, e.g. one duplicated into this process by its parent.
#[cfg(all(windows, not(loom)))]
impl From<std::os::windows::io::OwnedHandle> for Notifier {
    fn from(event: std::os::windows::io::OwnedHandle) -> Notifier {
        Notifier { inner: sys::Notifier::from(event) }
    }
}

/// A shared word plus this process's notifier for it.
#[derive(Debug, Clone, Copy)]
pub struct Word<'a> {
    value: &'a AtomicU32,
    notifier: &'a Notifier,
}

impl<'a> Word<'a> {
    /// Pairs `value` (normally inside a shared mapping) with this process's `notifier`.
    ///
    /// ```
    /// use std::sync::atomic::AtomicU32;
    /// let notifier = shmring_wait::Notifier::new()?;
    /// let value = AtomicU32::new(0);
    /// let word = shmring_wait::Word::new(&value, &notifier);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn new(value: &'a AtomicU32, notifier: &'a Notifier) -> Word<'a> {
        Word { value, notifier }
    }

    /// The shared word.
    #[must_use]
    pub fn value(&self) -> &'a AtomicU32 {
        self.value
    }

    /// This process's notifier for the word.
    #[must_use]
    pub fn notifier(&self) -> &'a Notifier {
        self.notifier
    }
}

/// Sleeps while the word holds `expected`, at most `timeout` (`None` = no limit).
///
/// Returns [`WaitResult::ValueChanged`] without a system call when the word already differs,
/// [`WaitResult::TimedOut`] when the time ran out, [`WaitResult::Woken`] otherwise (possibly
/// spuriously: callers re-check their condition). Interrupted system calls are retried.
///
/// ```
/// use std::sync::atomic::AtomicU32;
/// use std::time::Duration;
/// use shmring_wait::{wait, Notifier, WaitResult, Word};
///
/// let notifier = Notifier::new()?;
/// let value = AtomicU32::new(7);
/// let word = Word::new(&value, &notifier);
/// assert_eq!(wait(&word, 1, None)?, WaitResult::ValueChanged);
/// assert_eq!(wait(&word, 7, Some(Duration::from_millis(1)))?, WaitResult::TimedOut);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn wait(word: &Word<'_>, expected: u32, timeout: Option<Duration>) -> io::Result<WaitResult> {
    // ORDERING: Relaxed: this check only saves a system call; the backend compares again
    // atomically with going to sleep.
    if word.value.load(Relaxed) != expected {
        return Ok(WaitResult::ValueChanged);
    }
    if timeout == Some(Duration::ZERO) {
        // Some OS calls read 0 as "no limit" (ulock) or reject it (os_sync).
        return Ok(WaitResult::TimedOut);
    }
    sys::wait(word, expected, timeout)
}

/// Wakes one waiter of the word, in any process. Waking nobody is not an error.
///
/// ```
/// # use std::sync::atomic::AtomicU32;
/// # let notifier = shmring_wait::Notifier::new()?;
/// # let value = AtomicU32::new(0);
/// shmring_wait::wake_one(&shmring_wait::Word::new(&value, &notifier))?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn wake_one(word: &Word<'_>) -> io::Result<()> {
    sys::wake_one(word)
}

/// Wakes every waiter of the word, in any process (Windows: one, see `sys/windows.rs`).
/// Waking nobody is not an error.
///
/// ```
/// # use std::sync::atomic::AtomicU32;
/// # let notifier = shmring_wait::Notifier::new()?;
/// # let value = AtomicU32::new(0);
/// shmring_wait::wake_all(&shmring_wait::Word::new(&value, &notifier))?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn wake_all(word: &Word<'_>) -> io::Result<()> {
    sys::wake_all(word)
}
