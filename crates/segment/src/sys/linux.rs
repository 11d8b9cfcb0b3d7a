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
use crate::name::SegmentName;
use crate::HEADER_LEN;

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

/// Where glibc's `shm_open` keeps named objects.
const SHM_DIR: &str = "/dev/shm";

/// A named object found in `/dev/shm`, opened read-only (never mapped, so a truncated or
/// foreign object cannot fault us): its name, size, first `HEADER_LEN` bytes, and identity.
pub(crate) struct NamedObject {
    pub(crate) name: SegmentName,
    pub(crate) len: u64,
    pub(crate) header: [u8; HEADER_LEN],
    /// (device, inode), to check before removing the name.
    pub(crate) identity: (u64, u64),
    file: std::fs::File,
}

/// Every object in `/dev/shm` that could be one of our segments (see [`named_object`]).
/// Entries that vanish or cannot be read while we look are skipped.
pub(crate) fn named_objects() -> io::Result<Vec<NamedObject>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(SHM_DIR)? {
        let Ok(entry) = entry else { continue };
        let Some(name) = entry.file_name().to_str().and_then(|name| SegmentName::new(name).ok()) else {
            continue;
        };
        if let Ok(Some(object)) = named_object(&name) {
            found.push(object);
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// The object named `name` if it could be one of our segments: a regular file (checked
/// before it is opened, so no FIFO or device is ever opened), owned by our user with no
/// group/other permission bits, at least `HEADER_LEN` bytes; `Ok(None)` otherwise, also when
/// it changed between the check and the open.
pub(crate) fn named_object(name: &SegmentName) -> io::Result<Option<NamedObject>> {
    use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
    let path = std::path::Path::new(SHM_DIR).join(name.as_str());
    let candidate = |meta: &std::fs::Metadata| {
        meta.file_type().is_file()
            && meta.uid() == nix::unistd::geteuid().as_raw()
            && meta.mode() & 0o077 == 0
            && meta.len() >= HEADER_LEN as u64
    };
    let seen = std::fs::symlink_metadata(&path)?;
    if !candidate(&seen) {
        return Ok(None);
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(&path)?;
    let meta = file.metadata()?;
    if !candidate(&meta) || (meta.dev(), meta.ino()) != (seen.dev(), seen.ino()) {
        return Ok(None);
    }
    let mut header = [0; HEADER_LEN];
    // A concurrent shrink below the header makes this fail: skipped like a vanished entry.
    if file.read_exact_at(&mut header, 0).is_err() {
        return Ok(None);
    }
    Ok(Some(NamedObject { name: name.clone(), len: meta.len(), header, identity: (meta.dev(), meta.ino()), file }))
}

/// Whether the lock every creator holds while it has its object open ([`hold_creator_lock`])
/// is still held: some process has the object open from its creation (the creator, or a
/// process it forked). Only asks the kernel (`F_OFD_GETLK`): examiners take no lock, so two
/// looking at once cannot take each other for a creator.
pub(crate) fn creator_lock_held(object: &NamedObject) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // "Could a write lock on the whole object be placed?": refused only by a creator's read
    // lock, the one kind of lock on these objects. `l_pid` must be 0 for OFD locks.
    let mut probe = whole_file_lock(libc::F_WRLCK);
    // SAFETY: `fcntl(F_OFD_GETLK)` reads and writes `probe`, a valid `flock` for the call, on
    // an fd we own (`object.file` lives through the call).
    if unsafe { libc::fcntl(object.file.as_raw_fd(), libc::F_OFD_GETLK, &mut probe) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(probe.l_type != libc::F_UNLCK as libc::c_short)
}

/// A lock of type `kind` on every byte of a file, now and after it grows.
fn whole_file_lock(kind: libc::c_int) -> libc::flock {
    // SAFETY: `flock` is a plain C struct for which all-zero bytes are valid.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = 0;
    lock.l_len = 0; // to the end of the file, however long
    lock
}

/// Called by a creator right after `shm_open(O_CREAT | O_EXCL)`, before the object has a
/// header: an open-file-description read lock (`F_OFD_SETLK`, Linux 3.15+) on its own open
/// file description, held until every fd of that description closes (its exit included, and
/// inherited by processes it forks; unlike a classic POSIX lock, closing another fd of the
/// file does not drop it). Listing treats a locked object as in use. Best effort: without the
/// lock, a live creator is still kept, by its pid.
pub(super) fn hold_creator_lock(fd: &OwnedFd) {
    use std::os::fd::AsRawFd;
    let lock = whole_file_lock(libc::F_RDLCK);
    // SAFETY: `fcntl(F_OFD_SETLK)` only reads `lock`, a valid `flock`, on an fd the caller owns.
    let _ = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &lock) };
}

/// Whether process `pid` exists (in our pid namespace): `kill(pid, 0)`; `EPERM` means it
/// exists but belongs to someone else.
pub(crate) fn process_exists(pid: u32) -> io::Result<bool> {
    // Pid 0 and negative values address process groups: never ask about them.
    let pid =
        i32::try_from(pid).ok().filter(|&pid| pid > 0).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Removes `name` only if it still names the object `identity` (device, inode) we examined:
/// another process may have removed it and created a new one under the same name meanwhile.
/// (A window remains between this check and the removal; see docs/DECISIONS.md §22.)
pub(crate) fn unlink_if_same(name: &SegmentName, identity: (u64, u64)) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(std::path::Path::new(SHM_DIR).join(name.as_str()))?;
    if (meta.dev(), meta.ino()) != identity {
        return Ok(false);
    }
    unlink(name)?;
    Ok(true)
}
