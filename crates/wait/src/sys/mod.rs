//! Per-OS backends: how one thread sleeps on a shared 32-bit word and how another process
//! wakes it. No algorithm lives here (spinning, parking and re-checking are in `park.rs`).
//!
//! Every backend (`imp`) provides:
//! * `struct Notifier` (`Send + Sync`), this process's OS object for one word, with
//!   `fn new() -> io::Result<Notifier>`, `fn create_named(&str) -> io::Result<Notifier>`,
//!   `fn open_named(&str) -> io::Result<Notifier>`;
//! * `fn wait(word: &Word, expected: u32, timeout: Option<Duration>) -> io::Result<WaitResult>`:
//!   sleeps while the word holds `expected`, at most `timeout` (`None` = no limit); returns
//!   `ValueChanged` when the word already differs, `TimedOut` when the time ran out, and
//!   `Woken` otherwise (spurious wakes are allowed); retries `EINTR` itself;
//! * `fn wake_one(word: &Word) -> io::Result<()>`, `fn wake_all(word: &Word) -> io::Result<()>`:
//!   wake waiters of this word in any process; waking nobody is not an error.
//!
//! | target | file | OS calls |
//! |---|---|---|
//! | `cfg(loom)` | `loom.rs` | emulated futex (loom `Mutex` + `Condvar`) |
//! | Linux, Android | `linux.rs` | `futex(2)` without `FUTEX_PRIVATE_FLAG` |
//! | macOS | `macos.rs` | `os_sync_wait_on_address*` (14.4+), else `__ulock_*` |
//! | Windows | `windows.rs` | auto-reset Event objects |
//! | anything else | `unsupported.rs` | none: every call is `ErrorKind::Unsupported` |

use std::io;
use std::time::Duration;

use crate::{WaitResult, Word};

#[cfg_attr(loom, path = "loom.rs")]
#[cfg_attr(all(not(loom), any(target_os = "linux", target_os = "android")), path = "linux.rs")]
#[cfg_attr(all(not(loom), target_os = "macos"), path = "macos.rs")]
#[cfg_attr(all(not(loom), windows), path = "windows.rs")]
#[cfg_attr(
    all(not(loom), not(any(target_os = "linux", target_os = "android", target_os = "macos", windows))),
    path = "unsupported.rs"
)]
mod imp;

pub(crate) use imp::{wait, wake_all, wake_one, Notifier};

// Compile-time check that this target's backend has the agreed signatures.
const _: fn(&Word<'_>, u32, Option<Duration>) -> io::Result<WaitResult> = imp::wait;
const _: fn(&Word<'_>) -> io::Result<()> = imp::wake_one;
const _: fn(&Word<'_>) -> io::Result<()> = imp::wake_all;
const _: fn() -> io::Result<Notifier> = Notifier::new;
const _: fn(&str) -> io::Result<Notifier> = Notifier::create_named;
const _: fn(&str) -> io::Result<Notifier> = Notifier::open_named;
