//! macOS backend. Type-checked here with ci/cross-check.sh, run only in the GitHub workflow.
//!
//! * macOS has neither `memfd_create` nor file seals. An anonymous segment is a POSIX shm
//!   object under a random name, created with `O_CREAT | O_EXCL | O_RDWR` and mode 0600, sized,
//!   and `shm_unlink`ed at once: only fds (inherited, or sent with `SCM_RIGHTS`) reach it.
//! * Named segments: the same without the unlink (`unix.rs`). Names are at most
//!   `PSHMNAMLEN` = 31 bytes including the leading `/`, so [`MAX_NAME_LEN`] is 30.
//! * XNU accepts `ftruncate` on a shm object only once, while its size is still 0, and refuses
//!   every later resize with `EINVAL` (XNU `posix_shm.c`, `pshm_truncate`). So we size the
//!   object exactly once, and a peer cannot shrink it under our mapping: no seals are needed
//!   for that guarantee — as long as the fd really is a shm object. A regular file *can* be
//!   truncated, so [`check_received`] refuses any fd whose `fstat` mode has file-type bits:
//!   XNU's `pshm_stat` reports only the permission bits for shm objects (no `S_IFREG`), while
//!   files, pipes and sockets always carry a type. Such an fd is refused as
//!   `OpenError::NotSealed { missing: 0 }` ("its sender could resize it").
//! * XNU rounds a shm object's size up to whole pages of the creating process's map and
//!   `fstat` reports the rounded size; [`len_matches`] accepts a header `total_len` up to
//!   16 KiB (the largest macOS page) below the object size. Only `total_len ≤ size` matters
//!   for safety.

use std::io;
use std::os::fd::OwnedFd;

use nix::sys::stat::{fstat, SFlag};

use super::unix;
use crate::error::OpenError;
use crate::name::SegmentName;

pub(crate) type Object = OwnedFd;

/// `PSHMNAMLEN` (31) minus the leading `/`.
pub(crate) const MAX_NAME_LEN: usize = 30;

/// Tries with this many random names before giving up (64 random bits each: a clash is
/// practically impossible, so this only guards against a broken random source).
const CREATE_ATTEMPTS: usize = 4;

pub(crate) fn create_anonymous(total_len: usize) -> io::Result<OwnedFd> {
    let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
    for _ in 0..CREATE_ATTEMPTS {
        let name = SegmentName::random("shmring-").map_err(io::Error::other)?;
        match unix::create_named(&name, total_len) {
            Ok(fd) => {
                unix::unlink(&name)?;
                return Ok(fd);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Largest page size of any macOS process map (Apple silicon: 16 KiB; Intel: 4 KiB).
const MAX_PAGE: u64 = 16 * 1024;

pub(crate) fn check_received(fd: &OwnedFd) -> Result<(), OpenError> {
    let stat = fstat(fd).map_err(|e| OpenError::Os(e.into()))?;
    if stat.st_mode & SFlag::S_IFMT.bits() != 0 {
        return Err(OpenError::NotSealed { missing: 0 });
    }
    Ok(())
}

pub(crate) fn len_matches(header_total_len: u64, mapped_len: u64) -> bool {
    header_total_len <= mapped_len && mapped_len - header_total_len < MAX_PAGE
}

// The rest is plain POSIX, shared with the other Unix backend.
pub(crate) use super::unix::{create_named, map, object_len, open_named, unlink, unmap};
