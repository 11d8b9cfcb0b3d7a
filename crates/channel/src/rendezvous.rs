//! How a child started with a channel finds it on Windows, where Node's `spawn` cannot hand a
//! section handle to the child (libuv passes only CRT file descriptors): the parent puts
//! `<parent pid>:<handle value>:<channel id>` in [`HANDLE_ENV`](crate::HANDLE_ENV), and the
//! child *pulls* the handle with `OpenProcess(PROCESS_DUP_HANDLE)` + `DuplicateHandle`
//! (allowed between processes of the same user and integrity level). The value is untrusted
//! text: it is parsed strictly here, a handle value that names something else fails to map,
//! and the channel id (checked before side B is claimed) refuses a live section that is not
//! the channel the parent meant (a handle value reused after the parent closed it).
//!
//! The parsing is portable and tested everywhere; the duplication is Windows-only and is
//! **type-checked here with ci/cross-check.sh, run only in the GitHub workflow.**

use std::io;

/// What [`HANDLE_ENV`](crate::HANDLE_ENV) says: where to duplicate the section from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParentHandle {
    pub(crate) pid: u32,
    pub(crate) handle: usize,
    pub(crate) channel_id: u64,
}

impl ParentHandle {
    /// The environment value for a child of this process.
    pub(crate) fn encode(&self) -> String {
        format!("{}:{}:{:016x}", self.pid, self.handle, self.channel_id)
    }

    /// Parses `pid:handle:id` (decimal, decimal, 16 hex digits); anything else is refused.
    pub(crate) fn parse(value: &str) -> io::Result<ParentHandle> {
        let invalid = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}={value:?} is not <parent pid>:<handle>:<channel id>", crate::HANDLE_ENV),
            )
        };
        let mut parts = value.split(':');
        let (Some(pid), Some(handle), Some(id), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(invalid());
        };
        let decimal = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
        if !decimal(pid) || !decimal(handle) || id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let pid: u32 = pid.parse().map_err(|_| invalid())?;
        let handle: usize = handle.parse().map_err(|_| invalid())?;
        let channel_id = u64::from_str_radix(id, 16).map_err(|_| invalid())?;
        // Real handle values are multiples of 4 below isize::MAX; the pseudo-handles at the top
        // (such as "the current process") would name the parent itself.
        if pid == 0 || handle == 0 || handle % 4 != 0 || handle > isize::MAX as usize {
            return Err(invalid());
        }
        Ok(ParentHandle { pid, handle, channel_id })
    }
}

/// Duplicates the parent's handle into this process (same access, not inheritable). Errors
/// keep their kind (`PermissionDenied` across an elevation boundary) and say what to do.
#[cfg(windows)]
pub(crate) fn duplicate_from(parent: &ParentHandle) -> io::Result<std::os::windows::io::OwnedHandle> {
    duplicate(parent).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot duplicate handle {} of parent process {}: {e} (the parent must keep the channel open \
                 until this process attached, and both must run as the same user at the same integrity level; \
                 otherwise use a named channel)",
                parent.handle, parent.pid
            ),
        )
    })
}

#[cfg(windows)]
fn duplicate(parent: &ParentHandle) -> io::Result<std::os::windows::io::OwnedHandle> {
    use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

    use windows_sys::Win32::Foundation::{DuplicateHandle, DUPLICATE_SAME_ACCESS, HANDLE};
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcess, PROCESS_DUP_HANDLE};

    // SAFETY: OpenProcess has no pointer arguments or preconditions; its result is checked
    // for null on the next line before any use.
    let process = unsafe { OpenProcess(PROCESS_DUP_HANDLE, 0, parent.pid) };
    if process.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `process` is a fresh, valid process handle (non-null, checked above) that nothing
    // else owns; `OwnedHandle` closes it on drop.
    let process = unsafe { OwnedHandle::from_raw_handle(process) };
    let mut duplicate: HANDLE = std::ptr::null_mut();
    // SAFETY: `process` is live with PROCESS_DUP_HANDLE; the source value is only interpreted
    // in the parent's handle table by the kernel (a wrong value fails, or names another object,
    // which `Segment::from_handle` refuses to map or verify); `duplicate` is a valid
    // out-pointer; GetCurrentProcess returns a pseudo-handle that needs no closing.
    let ok = unsafe {
        DuplicateHandle(
            process.as_raw_handle(),
            // A handle value of another process, never dereferenced here: no provenance.
            std::ptr::without_provenance_mut(parent.handle),
            GetCurrentProcess(),
            &mut duplicate,
            0,
            0,
            DUPLICATE_SAME_ACCESS,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    if duplicate.is_null() {
        return Err(io::Error::other("DuplicateHandle succeeded but returned no handle"));
    }
    // SAFETY: DuplicateHandle succeeded: `duplicate` is a new handle in this process that
    // nothing else owns.
    Ok(unsafe { OwnedHandle::from_raw_handle(duplicate) })
}

#[cfg(test)]
mod tests {
    use super::ParentHandle;

    #[test]
    fn an_encoded_value_parses_back_to_the_same_parent_handle() {
        let parent = ParentHandle { pid: 4242, handle: 0x1a4, channel_id: 0x0123_4567_89ab_cdef };
        assert_eq!(ParentHandle::parse(&parent.encode()).unwrap(), parent);
        let max = ParentHandle { pid: u32::MAX, handle: isize::MAX as usize & !3, channel_id: u64::MAX };
        assert_eq!(ParentHandle::parse(&max.encode()).unwrap(), max);
    }

    #[test]
    fn malformed_values_are_refused_with_an_invalid_input_error() {
        for value in [
            "",
            "1:2",
            "1:2:0123456789abcdef:4",
            ":2:0123456789abcdef",
            "1::0123456789abcdef",
            "0:2:0123456789abcdef",
            "1:0:0123456789abcdef",
            "-1:2:0123456789abcdef",
            "+1:2:0123456789abcdef",
            " 1:2:0123456789abcdef",
            "1:2:0123456789abcde",
            "1:2:0123456789abcdefa",
            "1:2:0123456789abcdeg",
            "1:0x2:0123456789abcdef",
            "1:2:0123456789abcdef",
            "1:18446744073709551615:0123456789abcdef",
            "4294967296:2:0123456789abcdef",
            "1:99999999999999999999:0123456789abcdef",
            "1:2:0123456789abcdef\n",
            "é:2:0123456789abcdef",
        ] {
            let error = ParentHandle::parse(value).expect_err(value);
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{value:?}");
        }
    }
}
