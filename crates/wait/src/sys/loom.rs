//! `cfg(loom)` backend: an emulated futex, so loom can model-check the protocol in `park.rs`.
//!
//! Each [`Notifier`] holds a loom `Mutex` + `Condvar`. `wait` compares the word **under the
//! lock** and then sleeps on the condvar, and `wake_*` take the same lock before notifying.
//! That gives exactly the futex guarantee the protocol relies on: a wake that happens after
//! the waiter's comparison finds the waiter asleep, and a wake (plus the word change before
//! it) that happens before the comparison makes the comparison fail. A lost wakeup therefore
//! shows up as a thread blocked forever, which loom reports as a deadlock.
//!
//! Limits: loom has no clock, so a wait with a timeout compares, yields and returns
//! `TimedOut` at once; model tests pass no deadline and no slice. Both sides of a model share
//! one `Notifier` (it stands for the kernel's wait queue of the word).

use std::io;
use std::sync::PoisonError;
use std::time::Duration;

use loom::sync::{Condvar, Mutex};

use crate::primitive::Ordering::Relaxed;
use crate::{WaitResult, Word};

/// The emulated wait queue of one word.
#[derive(Debug)]
pub(crate) struct Notifier {
    lock: Mutex<()>,
    queue: Condvar,
}

impl Notifier {
    pub(crate) fn new() -> io::Result<Notifier> {
        Ok(Notifier { lock: Mutex::new(()), queue: Condvar::new() })
    }

    pub(crate) fn create_named(_name: &str) -> io::Result<Notifier> {
        Notifier::new()
    }

    pub(crate) fn open_named(_name: &str) -> io::Result<Notifier> {
        Notifier::new()
    }
}

pub(crate) fn wait(word: &Word<'_>, expected: u32, timeout: Option<Duration>) -> io::Result<WaitResult> {
    let queue = &word.notifier().inner;
    let guard = queue.lock.lock().unwrap_or_else(PoisonError::into_inner);
    // ORDERING: Relaxed, like the kernel's plain read of the futex word: the lock orders it
    // against `wake` (whose caller changed the word before taking the lock).
    if word.value().load(Relaxed) != expected {
        return Ok(WaitResult::ValueChanged);
    }
    if timeout.is_some() {
        drop(guard);
        loom::thread::yield_now();
        return Ok(WaitResult::TimedOut);
    }
    drop(queue.queue.wait(guard).unwrap_or_else(PoisonError::into_inner));
    Ok(WaitResult::Woken)
}

pub(crate) fn wake_one(word: &Word<'_>) -> io::Result<()> {
    let queue = &word.notifier().inner;
    let _guard = queue.lock.lock().unwrap_or_else(PoisonError::into_inner);
    queue.queue.notify_one();
    Ok(())
}

pub(crate) fn wake_all(word: &Word<'_>) -> io::Result<()> {
    let queue = &word.notifier().inner;
    let _guard = queue.lock.lock().unwrap_or_else(PoisonError::into_inner);
    queue.queue.notify_all();
    Ok(())
}
