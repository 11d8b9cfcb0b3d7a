//! POSIX pieces shared by the Linux and macOS backends:
//! * `shm_open` for named segments: create with `O_CREAT | O_EXCL | O_RDWR`, mode 0600 (never
//!   open-or-create), open with `O_RDWR` and then check the owner and mode with `fstat`;
//! * `fstat` size, `mmap(MAP_SHARED, PROT_READ | PROT_WRITE)`, `munmap`, `shm_unlink`;
//! * Linux only: [`allocate`] (`posix_fallocate`), so a new tmpfs object owns all its pages.
//!
//! The OS name of a segment is `"/"` + [`SegmentName`]; the name's character set already
//! excludes `/` and NUL.

use std::ffi::CString;
use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::mman::{self, MapFlags, ProtFlags};
use nix::sys::stat::{fstat, Mode};
use nix::unistd::{ftruncate, geteuid};

use super::Mapping;
use crate::name::SegmentName;

fn os_name(name: &SegmentName) -> CString {
    // The name holds only [A-Za-z0-9_.-], so it has no interior NUL.
    CString::new(format!("/{}", name.as_str())).unwrap_or_default()
}

fn len_as_off_t(len: usize) -> io::Result<libc::off_t> {
    libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// `shm_open(O_CREAT | O_EXCL | O_RDWR, 0600)`, then one `ftruncate` to `total_len` (macOS
/// allows only one), then on Linux [`allocate`]. If sizing or allocating fails the name is
/// removed again.
///
/// Why Linux allocates: `/dev/shm` is a size-limited tmpfs and `ftruncate` makes a sparse
/// file, so when it is full the first touch of an unbacked page kills us with SIGBUS; after
/// `posix_fallocate` creation fails with `ENOSPC` instead. macOS has nothing to allocate: an
/// XNU shm object is not a file on a file system but anonymous VM memory (swap-backed, like
/// `malloc`), and it offers no `posix_fallocate`.
pub(crate) fn create_named(name: &SegmentName, total_len: usize) -> io::Result<OwnedFd> {
    let os_name = os_name(name);
    let fd = mman::shm_open(
        os_name.as_c_str(),
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR,
        Mode::S_IRUSR | Mode::S_IWUSR,
    )?;
    set_cloexec(&fd)?;
    // Before the object has a header, so every object a lister accepts is already marked.
    #[cfg(target_os = "linux")]
    super::imp::hold_creator_lock(&fd);
    let sized = len_as_off_t(total_len).and_then(|len| {
        ftruncate(&fd, len)?;
        #[cfg(target_os = "linux")]
        allocate(&fd, len)?;
        Ok(())
    });
    if let Err(e) = sized {
        let _ = mman::shm_unlink(os_name.as_c_str());
        return Err(e);
    }
    Ok(fd)
}

/// `posix_fallocate(fd, 0, len)`, retried on `EINTR` (tmpfs stops a long allocation for a
/// signal and undoes it). Afterwards every page of the first `len` bytes of the tmpfs object
/// is allocated, so touching them cannot fault for lack of space; a full tmpfs (or memory
/// cgroup, or strict overcommit) fails here with `ENOSPC`/`ENOMEM`. Allocating within the size
/// never grows the file, so it also works after `F_SEAL_GROW`; callers still do it before
/// sealing.
#[cfg(target_os = "linux")]
pub(super) fn allocate(fd: &OwnedFd, len: libc::off_t) -> io::Result<()> {
    loop {
        match nix::fcntl::posix_fallocate(fd, 0, len) {
            Err(Errno::EINTR) => continue,
            result => return Ok(result?),
        }
    }
}

/// `shm_open(O_RDWR)`, then refuses an object owned by another user or with any group/other
/// permission bit (a squatted or tampered name): `PermissionDenied`.
pub(crate) fn open_named(name: &SegmentName) -> io::Result<OwnedFd> {
    let fd = mman::shm_open(os_name(name).as_c_str(), OFlag::O_RDWR, Mode::empty())?;
    set_cloexec(&fd)?;
    let stat = fstat(&fd)?;
    if stat.st_uid != geteuid().as_raw() || stat.st_mode & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "segment is owned by another user or open to group/others",
        ));
    }
    Ok(fd)
}

/// Linux `shm_open` sets `FD_CLOEXEC` itself; macOS does not document it, so set it always.
fn set_cloexec(fd: &OwnedFd) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    Ok(())
}

/// `fstat` size of the object (a negative size reads as 0).
pub(crate) fn object_len(fd: &OwnedFd) -> io::Result<Option<u64>> {
    let stat = fstat(fd)?;
    Ok(Some(u64::try_from(stat.st_size).unwrap_or(0)))
}

/// `mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)`. `len` must be given (Unix
/// maps exactly the checked `fstat` size).
pub(crate) fn map(fd: &OwnedFd, len: Option<usize>) -> io::Result<Mapping> {
    let len = len.and_then(NonZeroUsize::new).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a fresh shared mapping chosen by the kernel (addr = NULL) aliases no Rust object;
    // the caller verified (seals or ownership, then `fstat`) that the object is at least `len`
    // bytes, so every mapped page is backed.
    let base = unsafe {
        mman::mmap(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED, fd.as_fd(), 0)
    }?;
    Ok(Mapping { base: base.cast(), len: len.get() })
}

/// # Safety
/// `base`/`len` must come from [`map`] and not be used afterwards.
pub(crate) unsafe fn unmap(base: NonNull<u8>, len: usize) {
    // SAFETY: Delegated to the caller. A failing munmap (impossible for a range returned by
    // mmap) leaves the mapping in place: a leak, never a dangling access.
    let _ = unsafe { mman::munmap(base.cast(), len) };
}

/// `shm_unlink("/" + name)`.
pub(crate) fn unlink(name: &SegmentName) -> io::Result<()> {
    mman::shm_unlink(os_name(name).as_c_str()).map_err(|e: Errno| e.into())
}
