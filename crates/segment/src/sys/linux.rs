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

/// Takes the lock every creator holds while it has its object open ([`hold_creator_lock`]).
/// `Ok(true)`: nobody holds it (and now we do, until `object` is dropped); `Ok(false)`: a
/// process still has the object open from its creation (the creator, or a process it forked).
///
/// A creator holds the lock *shared* for its life; an examiner (a listing or removal in this
/// or another process) holds it *exclusively*, or shared for an instant (below), while it
/// looks. So a refusal is looked at again: the exclusive lock refused but a shared one granted
/// means a shared holder; the shared lock refused too means another examiner's exclusive one.
/// A creator is only concluded from a shared holder seen [`SHARED_SIGHTINGS`] times in a row,
/// [`EXAMINER_PAUSE`] apart (a heuristic: an examiner's shared hold is a few instructions
/// long, unless it is preempted right then); other examiners are waited out.
/// One that holds on longer than [`EXAMINER_WAIT`] gives `ErrorKind::WouldBlock` (the caller
/// keeps the object).
pub(crate) fn lock_if_abandoned(object: &NamedObject) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let fd = object.file.as_raw_fd();
    let try_lock = |operation: libc::c_int| -> io::Result<bool> {
        // SAFETY: `flock` on an fd we own (`object.file` lives through the call); no memory is
        // passed.
        if unsafe { libc::flock(fd, operation | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        match io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
            e => Err(e),
        }
    };
    let started = std::time::Instant::now();
    let mut sightings = 0;
    loop {
        if try_lock(libc::LOCK_EX)? {
            return Ok(true);
        }
        if try_lock(libc::LOCK_SH)? {
            // Ours is shared now: converting it to exclusive works only if nobody else holds it.
            let converted = try_lock(libc::LOCK_EX);
            if let Ok(true) = converted {
                return Ok(true);
            }
            // Hold nothing now: another examiner must not take a shared lock of ours for a
            // creator's. (A refused conversion has dropped it already, flock(2); a failed one,
            // e.g. ENOMEM, may not have.)
            // SAFETY: as above.
            unsafe { libc::flock(fd, libc::LOCK_UN) };
            converted?;
            sightings += 1;
            if sightings >= SHARED_SIGHTINGS {
                return Ok(false);
            }
        } else {
            sightings = 0;
        }
        if started.elapsed() >= EXAMINER_WAIT {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "other processes keep examining the object"));
        }
        std::thread::sleep(EXAMINER_PAUSE);
    }
}

/// Shared holders seen in a row before [`lock_if_abandoned`] concludes a creator holds the lock.
const SHARED_SIGHTINGS: u32 = 3;
/// Pause between two looks of [`lock_if_abandoned`].
const EXAMINER_PAUSE: std::time::Duration = std::time::Duration::from_micros(200);
/// How long [`lock_if_abandoned`] waits for other examiners to let go.
const EXAMINER_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// Called by a creator right after `shm_open(O_CREAT | O_EXCL)`, before the object has a
/// header: a shared `flock` on its own open file description, held until every fd of that
/// description closes (its exit included, and inherited by processes it forks). Listing
/// treats a locked object as in use. Best effort: without the lock, a live creator is still
/// kept, by its pid.
pub(super) fn hold_creator_lock(fd: &OwnedFd) {
    use std::os::fd::AsRawFd;
    // SAFETY: `flock` on an fd the caller owns; no memory is passed.
    let _ = unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
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
