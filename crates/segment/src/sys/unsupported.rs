//! Fallback for platforms without a backend: every operation fails with
//! `io::ErrorKind::Unsupported`. Type-checked with
//! `ci/cross-check.sh x86_64-unknown-freebsd` (not among its default targets); no CI job runs it.

use std::io;
use std::ptr::NonNull;

use super::Mapping;
use crate::error::OpenError;
use crate::name::SegmentName;

/// On Unix the object is still an fd, so `from_fd`/`AsFd` keep their signatures.
#[cfg(unix)]
pub(crate) type Object = std::os::fd::OwnedFd;
/// Elsewhere no object can exist.
#[cfg(not(unix))]
pub(crate) enum Object {}

/// A conservative POSIX limit (`"/"` + name ≤ 31 bytes, as on macOS).
pub(crate) const MAX_NAME_LEN: usize = 30;

fn unsupported() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "shared-memory segments are not supported on this platform")
}

pub(crate) fn create_anonymous(_total_len: usize) -> io::Result<Object> {
    Err(unsupported())
}

pub(crate) fn create_named(_name: &SegmentName, _total_len: usize) -> io::Result<Object> {
    Err(unsupported())
}

pub(crate) fn open_named(_name: &SegmentName) -> io::Result<Object> {
    Err(unsupported())
}

pub(crate) fn check_received(_object: &Object) -> Result<(), OpenError> {
    Err(OpenError::Os(unsupported()))
}

pub(crate) fn object_len(_object: &Object) -> io::Result<Option<u64>> {
    Err(unsupported())
}

pub(crate) fn map(_object: &Object, _len: Option<usize>) -> io::Result<Mapping> {
    Err(unsupported())
}

/// # Safety
/// Never called: [`map`] never succeeds.
pub(crate) unsafe fn unmap(_base: NonNull<u8>, _len: usize) {}

pub(crate) fn len_matches(header_total_len: u64, mapped_len: u64) -> bool {
    header_total_len == mapped_len
}

pub(crate) fn unlink(_name: &SegmentName) -> io::Result<()> {
    Err(unsupported())
}
