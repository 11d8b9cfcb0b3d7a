//! Fallback backend for targets without a known cross-process wait primitive: every call
//! returns `io::ErrorKind::Unsupported`, so the crate still builds and callers get a clear
//! error instead of a hang.
//!
//! **Type-checked with `ci/cross-check.sh x86_64-unknown-freebsd` (not among its default
//! targets); no CI job runs it.**

use std::io;
use std::time::Duration;

use crate::{WaitResult, Word};

/// Never constructed: `new`, `create_named` and `open_named` fail.
#[derive(Debug)]
pub(crate) struct Notifier;

fn unsupported<T>() -> io::Result<T> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "cross-process wait/wake is not supported on this platform"))
}

impl Notifier {
    pub(crate) fn new() -> io::Result<Notifier> {
        unsupported()
    }

    pub(crate) fn create_named(_name: &str) -> io::Result<Notifier> {
        unsupported()
    }

    pub(crate) fn open_named(_name: &str) -> io::Result<Notifier> {
        unsupported()
    }
}

pub(crate) fn wait(_word: &Word<'_>, _expected: u32, _timeout: Option<Duration>) -> io::Result<WaitResult> {
    unsupported()
}

pub(crate) fn wake_one(_word: &Word<'_>) -> io::Result<()> {
    unsupported()
}

pub(crate) fn wake_all(_word: &Word<'_>) -> io::Result<()> {
    unsupported()
}
