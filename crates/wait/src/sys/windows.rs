//! Windows backend: one auto-reset Event object per shared word.
//!
//! **Type-checked here with ci/cross-check.sh, run only in the GitHub workflow.** Written against the Win32 documentation of the calls below.
//!
//! Why not `WaitOnAddress`: Microsoft documents it as working only between threads of one
//! process ("WaitOnAddress ... can be used by threads within the same process"), so a peer
//! process could never wake us. An Event is a kernel object that both processes can hold:
//! one side creates it (`CreateEventW`, auto-reset, initially unsignaled, optionally named
//! `Local\<name>`; `ERROR_ALREADY_EXISTS` is an error so a squatter's event is never
//! adopted), the other opens it by name (`OpenEventW(SYNCHRONIZE | EVENT_MODIFY_STATE)`) or
//! receives a duplicate (`DuplicateHandle`, then `Notifier::from(OwnedHandle)`).
//!
//! * `wait`: if the word already differs from `expected` → `ValueChanged` without a system
//!   call; else `WaitForSingleObject(event, ms)` with the timeout rounded **up** to whole
//!   milliseconds (never shorter than asked), `INFINITE` for no limit.
//! * `wake_one` / `wake_all`: `SetEvent`. The event is a latch: a `SetEvent` that lands between
//!   the waiter's value check and its `WaitForSingleObject` leaves the event signaled, so the
//!   wake is not lost (a stale signal later shows up as a spurious `Woken`, which callers
//!   tolerate).
//!
//! Limits: an auto-reset event releases one waiter per `SetEvent`, so `wake_all` wakes only
//! one of several waiters on the same word; the design has one waiter per word, and a second
//! one would still return at its timeout (callers always pass one).

use std::io;
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, FromRawHandle, OwnedHandle};
use std::ptr;
use std::time::Duration;

use windows_sys::Win32::Foundation::{GetLastError, ERROR_ALREADY_EXISTS, WAIT_FAILED, WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::System::Threading::{
    CreateEventW, OpenEventW, SetEvent, WaitForSingleObject, EVENT_MODIFY_STATE, INFINITE, SYNCHRONIZATION_SYNCHRONIZE,
};

use crate::primitive::Ordering::Relaxed;
use crate::{WaitResult, Word};

/// This process's handle to the word's auto-reset event.
#[derive(Debug)]
pub(crate) struct Notifier {
    event: OwnedHandle,
}

impl Notifier {
    pub(crate) fn new() -> io::Result<Notifier> {
        create(None)
    }

    pub(crate) fn create_named(name: &str) -> io::Result<Notifier> {
        create(Some(name))
    }

    pub(crate) fn open_named(name: &str) -> io::Result<Notifier> {
        let name = local_name(name)?;
        let access = SYNCHRONIZATION_SYNCHRONIZE | EVENT_MODIFY_STATE;
        // SAFETY: `name` is a NUL-terminated UTF-16 string alive for the call.
        let handle = unsafe { OpenEventW(access, 0, name.as_ptr()) };
        if handle.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `handle` is a fresh, owned, valid event handle (checked non-null above).
        let event = unsafe { OwnedHandle::from_raw_handle(handle) };
        Ok(Notifier { event })
    }
}

impl From<OwnedHandle> for Notifier {
    fn from(event: OwnedHandle) -> Notifier {
        Notifier { event }
    }
}

impl From<Notifier> for OwnedHandle {
    fn from(notifier: Notifier) -> OwnedHandle {
        notifier.event
    }
}

impl AsHandle for Notifier {
    fn as_handle(&self) -> BorrowedHandle<'_> {
        self.event.as_handle()
    }
}

fn create(name: Option<&str>) -> io::Result<Notifier> {
    let name = name.map(local_name).transpose()?;
    let name_ptr = name.as_ref().map_or(ptr::null(), |n| n.as_ptr());
    // SAFETY: null security attributes are allowed; `name_ptr` is null or a NUL-terminated
    // UTF-16 string alive for the call. bManualReset = FALSE (auto-reset), initially unset.
    let handle = unsafe { CreateEventW(ptr::null(), 0, 0, name_ptr) };
    if handle.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: no call since CreateEventW succeeded, so the last error is still its own.
    let existed = unsafe { GetLastError() } == ERROR_ALREADY_EXISTS;
    // SAFETY: `handle` is a fresh, owned, valid event handle (checked non-null above).
    let event = unsafe { OwnedHandle::from_raw_handle(handle) };
    if existed {
        drop(event); // never adopt an event someone else created under our name
        return Err(io::Error::from_raw_os_error(ERROR_ALREADY_EXISTS as i32));
    }
    Ok(Notifier { event })
}

/// `Local\<name>` as NUL-terminated UTF-16; names with NUL or `\` are refused.
fn local_name(name: &str) -> io::Result<Vec<u16>> {
    if name.is_empty() || name.contains(['\0', '\\']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "event name must be non-empty without NUL or backslash",
        ));
    }
    Ok("Local\\".encode_utf16().chain(name.encode_utf16()).chain([0]).collect())
}

pub(crate) fn wait(word: &Word<'_>, expected: u32, timeout: Option<Duration>) -> io::Result<WaitResult> {
    // ORDERING: Relaxed is enough: this check only saves a system call; lost wakes are
    // prevented by the event latch (module doc), not by this load.
    if word.value().load(Relaxed) != expected {
        return Ok(WaitResult::ValueChanged);
    }
    let ms = match timeout {
        None => INFINITE,
        // Rounded up; capped just below INFINITE (~49.7 days; callers loop).
        Some(t) => u32::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(INFINITE - 1).min(INFINITE - 1),
    };
    let handle = word.notifier().inner.event.as_raw_handle();
    // SAFETY: `handle` is the live event handle owned by the `Notifier` that `word` borrows.
    let r = unsafe { WaitForSingleObject(handle, ms) };
    match r {
        WAIT_OBJECT_0 => Ok(WaitResult::Woken),
        WAIT_TIMEOUT => Ok(WaitResult::TimedOut),
        WAIT_FAILED => Err(io::Error::last_os_error()),
        other => Err(io::Error::other(format!("WaitForSingleObject on an event returned {other:#x}"))),
    }
}

pub(crate) fn wake_one(word: &Word<'_>) -> io::Result<()> {
    set(word)
}

pub(crate) fn wake_all(word: &Word<'_>) -> io::Result<()> {
    set(word)
}

fn set(word: &Word<'_>) -> io::Result<()> {
    let handle = word.notifier().inner.event.as_raw_handle();
    // SAFETY: `handle` is the live event handle owned by the `Notifier` that `word` borrows.
    if unsafe { SetEvent(handle) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
