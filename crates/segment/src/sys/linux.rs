//! Linux backend.
//!
//! * Anonymous segments: `memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING)`, `ftruncate` to the
//!   total length, `posix_fallocate` of the whole length, then
//!   `F_ADD_SEALS(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)`. Nobody holding the fd — us or
//!   the peer we pass it to — can resize it afterwards, so a mapping of the `fstat` size can
//!   never fault with SIGBUS. `F_SEAL_WRITE` is not set: both sides write. The allocation
//!   matters because a memfd is a tmpfs file: left sparse, its pages are allocated on first
//!   touch, and when that fails (memory cgroup limit, `vm.overcommit_memory = 2`) the touch
//!   is a SIGBUS; allocated up front, creation fails with an error instead. The cost: the
//!   whole segment is committed memory from the start.
//! * Received fds ([`check_received`]): `F_GET_SEALS` must contain all three seals *before*
//!   the size is trusted; a file that is not a memfd has no seals (`EINVAL` → none). Then
//!   `fstatfs` must report tmpfs (`TMPFS_MAGIC`, as every plain memfd does): seals also exist
//!   on `MFD_HUGETLB` memfds (hugetlbfs), whose pages come from a fixed pool that the sender
//!   can drain or punch holes into (`F_SEAL_SHRINK` does not forbid `FALLOC_FL_PUNCH_HOLE`),
//!   after which our next touch of such a page is a SIGBUS. On tmpfs a punched hole just
//!   reads as zeros again.
//! * Named segments: POSIX `shm_open` (a file in `/dev/shm`) via `unix.rs`. Such a file
//!   **cannot be sealed** (only memfds accept seals), so a peer running as the same user could
//!   `ftruncate` it while we have it mapped and make us fault. Named mode is the last-resort
//!   rendezvous; the sealed memfd path is the safe one.
//! * Sizes are exact (`fstat` reports the `ftruncate` length).

use std::io;
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::statfs::{fstatfs, TMPFS_MAGIC};
use nix::unistd::ftruncate;

use super::unix;
use crate::error::OpenError;

pub(crate) type Object = OwnedFd;

/// `NAME_MAX` of the file the name becomes in `/dev/shm`.
pub(crate) const MAX_NAME_LEN: usize = 255;

/// The seals every segment fd carries (and every received fd must carry).
const REQUIRED_SEALS: SealFlag = SealFlag::F_SEAL_SHRINK.union(SealFlag::F_SEAL_GROW).union(SealFlag::F_SEAL_SEAL);

pub(crate) fn create_anonymous(total_len: usize) -> io::Result<OwnedFd> {
    let fd = memfd_create(c"shmring", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
    let len = libc::off_t::try_from(total_len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    ftruncate(&fd, len)?;
    // Before sealing (`F_SEAL_GROW` would also allow it, as it stays within the size).
    unix::allocate(&fd, len)?;
    fcntl(&fd, FcntlArg::F_ADD_SEALS(REQUIRED_SEALS))?;
    Ok(fd)
}

pub(crate) fn check_received(fd: &OwnedFd) -> Result<(), OpenError> {
    let seals = match fcntl(fd, FcntlArg::F_GET_SEALS) {
        Ok(bits) => SealFlag::from_bits_retain(bits),
        // Not a shmem/memfd file (a pipe, a regular file on disk, …): it has no seals.
        Err(Errno::EINVAL) => SealFlag::empty(),
        Err(e) => return Err(OpenError::Os(e.into())),
    };
    let missing = REQUIRED_SEALS.difference(seals);
    if !missing.is_empty() {
        return Err(OpenError::NotSealed { missing: missing.bits().unsigned_abs() });
    }
    let fs_type = fstatfs(fd).map_err(|e| OpenError::Os(e.into()))?.filesystem_type();
    if fs_type != TMPFS_MAGIC {
        // File-system magics are 32-bit values; `f_type`'s C type differs per architecture.
        return Err(OpenError::UnsupportedFileSystem(u64::from(fs_type.0 as u32)));
    }
    Ok(())
}

pub(crate) fn len_matches(header_total_len: u64, mapped_len: u64) -> bool {
    header_total_len == mapped_len
}

// The rest is plain POSIX, shared with the other Unix backend.
pub(crate) use super::unix::{create_named, map, object_len, open_named, unlink, unmap};
