//! Windows backend. Type-checked here with ci/cross-check.sh, run only in the GitHub workflow.
//!
//! * Objects are pagefile-backed sections: `CreateFileMappingW(INVALID_HANDLE_VALUE, NULL,
//!   PAGE_READWRITE, size, name)`. Anonymous segments pass no name; the handle is not
//!   inheritable (the channel layer duplicates it into a child with `DuplicateHandle`, or marks
//!   it inheritable on demand).
//! * Named segments live in the per-session `Local\` namespace (`"Local\\" + name`, at most
//!   `MAX_PATH` characters). `CreateFileMappingW` opens an existing object of that name and
//!   reports `ERROR_ALREADY_EXISTS`: we close that handle at once and fail with
//!   `AlreadyExists` (never open-or-create). A name held by another object type fails with
//!   `ERROR_INVALID_HANDLE`, also reported as `AlreadyExists`. There is no unlink: the name
//!   disappears with the last handle, so [`unlink`] is a no-op.
//! * Security: no explicit security descriptor; the section gets the default DACL of the
//!   creating process's token, which grants access to that user, SYSTEM and (for elevated
//!   tokens) Administrators only. `Local\` is private to the logon session.
//! * Size: a section never shrinks while mapped, so there is no SIGBUS-like hazard and no
//!   seals are needed. The size of a received or opened section cannot be queried before
//!   mapping ([`object_len`] returns `None`): we map the whole section, and `VirtualQuery` on
//!   the view gives the committed, read-write length from its base (a `SEC_RESERVE` section
//!   with uncommitted pages yields a shorter length and is refused). Views are whole pages,
//!   so [`len_matches`] accepts a header `total_len` less than one allocation granule
//!   (64 KiB) below the view.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::ptr::{self, NonNull};

use windows_sys::Win32::Foundation::{GetLastError, ERROR_ALREADY_EXISTS, ERROR_INVALID_HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, MapViewOfFile, OpenFileMappingW, UnmapViewOfFile, VirtualQuery, FILE_MAP_READ, FILE_MAP_WRITE,
    MEMORY_BASIC_INFORMATION, MEMORY_MAPPED_VIEW_ADDRESS, MEM_COMMIT, PAGE_READWRITE,
};

use super::Mapping;
use crate::error::OpenError;
use crate::name::SegmentName;

pub(crate) type Object = OwnedHandle;

/// `MAX_PATH` (260) − `"Local\\"` (6) − the terminating NUL.
pub(crate) const MAX_NAME_LEN: usize = 253;

/// Allocation granularity: a view is never rounded by more than this.
const GRANULE: u64 = 64 * 1024;

fn os_name(name: &SegmentName) -> Vec<u16> {
    "Local\\".encode_utf16().chain(name.as_str().encode_utf16()).chain([0]).collect()
}

fn create(name: Option<&SegmentName>, total_len: usize) -> io::Result<OwnedHandle> {
    let size = total_len as u64;
    let wide = name.map(os_name);
    let name_ptr = wide.as_ref().map_or(ptr::null(), |w| w.as_ptr());
    // SAFETY: `name_ptr` is NULL or a NUL-terminated UTF-16 string that outlives the call;
    // NULL security attributes are allowed (default DACL, not inheritable).
    let raw = unsafe {
        CreateFileMappingW(
            INVALID_HANDLE_VALUE,
            ptr::null(),
            PAGE_READWRITE,
            (size >> 32) as u32,
            size as u32,
            name_ptr,
        )
    };
    // SAFETY: no other call since `CreateFileMappingW` could have changed the thread's error.
    let last_error = unsafe { GetLastError() };
    if raw.is_null() {
        if name.is_some() && last_error == ERROR_INVALID_HANDLE {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        return Err(io::Error::from_raw_os_error(last_error as i32));
    }
    // SAFETY: `raw` is a valid section handle that nothing else owns; it is closed on drop.
    let handle = unsafe { OwnedHandle::from_raw_handle(raw) };
    if last_error == ERROR_ALREADY_EXISTS {
        drop(handle);
        return Err(io::ErrorKind::AlreadyExists.into());
    }
    Ok(handle)
}

pub(crate) fn create_anonymous(total_len: usize) -> io::Result<OwnedHandle> {
    create(None, total_len)
}

pub(crate) fn create_named(name: &SegmentName, total_len: usize) -> io::Result<OwnedHandle> {
    create(Some(name), total_len)
}

pub(crate) fn open_named(name: &SegmentName) -> io::Result<OwnedHandle> {
    let wide = os_name(name);
    // SAFETY: `wide` is a NUL-terminated UTF-16 string that outlives the call.
    let raw = unsafe { OpenFileMappingW(FILE_MAP_READ | FILE_MAP_WRITE, 0, wide.as_ptr()) };
    if raw.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a valid section handle that nothing else owns; it is closed on drop.
    Ok(unsafe { OwnedHandle::from_raw_handle(raw) })
}

pub(crate) fn check_received(_handle: &OwnedHandle) -> Result<(), OpenError> {
    Ok(())
}

pub(crate) fn object_len(_handle: &OwnedHandle) -> io::Result<Option<u64>> {
    Ok(None)
}

/// Maps `len` bytes, or the whole section for `None`; the returned length is what
/// `VirtualQuery` reports as committed and read-write from the base (capped at `len`).
pub(crate) fn map(handle: &OwnedHandle, len: Option<usize>) -> io::Result<Mapping> {
    // SAFETY: `handle` is a live section handle; the kernel picks a fresh address range that
    // aliases no Rust object.
    let view = unsafe { MapViewOfFile(handle.as_raw_handle(), FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, len.unwrap_or(0)) };
    let Some(base) = NonNull::new(view.Value.cast::<u8>()) else {
        return Err(io::Error::last_os_error());
    };
    let mut info = MaybeUninit::<MEMORY_BASIC_INFORMATION>::zeroed();
    let address = base.as_ptr().cast_const().cast::<core::ffi::c_void>();
    let info_len = size_of::<MEMORY_BASIC_INFORMATION>();
    // SAFETY: `info` is a writable buffer of `info_len` bytes; `address` is in our view.
    let written = unsafe { VirtualQuery(address, info.as_mut_ptr(), info_len) };
    let usable = if written == 0 {
        0
    } else {
        // SAFETY: `VirtualQuery` filled `info` (it returned the bytes written); all-zero is
        // also a valid value of this plain C struct.
        let info = unsafe { info.assume_init() };
        if info.State == MEM_COMMIT && info.Protect == PAGE_READWRITE {
            len.map_or(info.RegionSize, |l| l.min(info.RegionSize))
        } else {
            0
        }
    };
    Ok(Mapping { base, len: usable })
}

/// # Safety
/// `base` must come from [`map`] and not be used afterwards.
pub(crate) unsafe fn unmap(base: NonNull<u8>, _len: usize) {
    let view = MEMORY_MAPPED_VIEW_ADDRESS { Value: base.as_ptr().cast() };
    // SAFETY: Delegated to the caller. A failure leaves the view mapped: a leak, never a
    // dangling access.
    let _ = unsafe { UnmapViewOfFile(view) };
}

pub(crate) fn len_matches(header_total_len: u64, mapped_len: u64) -> bool {
    header_total_len <= mapped_len && mapped_len - header_total_len < GRANULE
}

/// Windows names vanish with the last handle; there is nothing to remove.
pub(crate) fn unlink(_name: &SegmentName) -> io::Result<()> {
    Ok(())
}
