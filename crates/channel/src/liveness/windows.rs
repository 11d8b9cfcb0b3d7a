//! Windows peer watch: `OpenProcess(PROCESS_SYNCHRONIZE)` once, when the pid becomes known,
//! then `WaitForSingleObject(h, 0)` (signaled = exited). Holding the process handle keeps the
//! pid from being reused, so a later process with the same pid is never mistaken for the peer.
//! If the process cannot be opened it has already exited (or is not ours to watch) and is
//! reported dead.
//!
//! **Type-checked here with ci/cross-check.sh, run only in the GitHub workflow.**

use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::WAIT_OBJECT_0;
use windows_sys::Win32::System::Threading::{OpenProcess, WaitForSingleObject, PROCESS_SYNCHRONIZE};

pub(super) struct Handle(Option<OwnedHandle>);

impl Handle {
    pub(super) fn open(pid: u32) -> Handle {
        // SAFETY: OpenProcess takes plain values and returns a new handle or null.
        let h = unsafe { OpenProcess(PROCESS_SYNCHRONIZE, 0, pid) };
        if h.is_null() {
            return Handle(None);
        }
        // SAFETY: `h` is a fresh, valid process handle (non-null, checked above) that nothing
        // else owns; `OwnedHandle` closes it on drop.
        Handle(Some(unsafe { OwnedHandle::from_raw_handle(h) }))
    }
}

pub(super) fn has_exited(_pid: u32, handle: &Handle) -> bool {
    match &handle.0 {
        None => true,
        // SAFETY: `h` is a live process handle owned by `handle`; timeout 0 only polls.
        Some(h) => unsafe { WaitForSingleObject(h.as_raw_handle(), 0) == WAIT_OBJECT_0 },
    }
}
