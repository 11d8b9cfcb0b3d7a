//! Shared-memory segments that a peer process cannot use to crash us: created sealed (or
//! exclusively named), verified before they are mapped, and checked again through their header.
//!
//! A [`Segment`] is one OS shared-memory object mapped into this process: a 128-byte header
//! (magic, layout version, [`SegmentKind`], total length, creator) followed by the payload.
//! This crate knows nothing about what the payload holds (rings, waits and channels live in the
//! other shmring crates).
//!
//! ```
//! use shmring_segment::{Segment, SegmentKind};
//!
//! const BLOB: SegmentKind = SegmentKind(2);
//!
//! let segment = Segment::create(BLOB, 4096)?;
//! assert_eq!(segment.payload_len(), 4096);
//! // SAFETY: the payload is `payload_len()` writable bytes, and nobody else has the segment yet.
//! unsafe { segment.payload().as_ptr().write_bytes(0xab, segment.payload_len()) };
//! segment.publish(); // from now on, peers accept it
//!
//! // A peer receives the fd (inherited, or over a Unix socket) and verifies it before use.
//! #[cfg(unix)]
//! {
//!     use std::os::fd::AsFd;
//!     let fd = segment.as_fd().try_clone_to_owned()?;
//!     let peer = Segment::from_fd(fd, BLOB)?;
//!     // SAFETY: the payload is `payload_len()` bytes; reading a byte never faults.
//!     assert_eq!(unsafe { peer.payload().as_ptr().read_volatile() }, 0xab);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # API map
//! * [`Segment::create`] — anonymous: a sealed memfd (Linux), an unlinked shm object (macOS),
//!   an unnamed section (Windows). Pass it on as an fd or handle (`Segment::from_fd`,
//!   `Segment::from_handle`, `AsFd`/`AsHandle`).
//! * [`Segment::create_named`] / [`Segment::open_named`] / [`Segment::unlink`] — rendezvous by
//!   a [`SegmentName`] (validated once; [`SegmentName::random`] for unguessable names).
//! * [`list_named`] / [`remove_if_creator_exited`] — named segments left behind by creators
//!   that exited (Linux; see `leftover.rs`).
//! * [`Segment::publish`] — the creator's "ready" signal; before it, openers get
//!   [`OpenError::NotYetInitialized`].
//! * [`Segment::payload`], [`Segment::payload_len`], [`Segment::len`], [`Segment::kind`],
//!   [`Segment::creator_pid`] — what was verified.
//! * Errors: [`CreateError`], [`OpenError`], [`NameError`]. Layout constants: [`HEADER_LEN`],
//!   [`LAYOUT_VERSION`], [`MAGIC`], [`MAX_TOTAL_LEN`].
//!
//! # What is verified when adopting a segment
//! In this order, refusing with a distinct [`OpenError`] at the first failure:
//! 1. Linux `from_fd`: the fd carries `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`, so nobody can
//!    resize it under our mapping (a shrunk mapping would kill us with SIGBUS), and it lives on
//!    tmpfs (a sealed hugetlbfs memfd can still lose pages: [`OpenError::UnsupportedFileSystem`]).
//!    Named objects: owned by our user, no group/other permission bits.
//! 2. The object's size is within [`HEADER_LEN`]`..=`[`MAX_TOTAL_LEN`]; exactly that is mapped.
//! 3. The header: magic (0 → not yet published), layout version, header length, total length
//!    == object size, kind. The header is copied once; nothing read later is trusted.
//!
//! # Named segments are the last resort
//! A named POSIX shm object on Linux (a file in `/dev/shm`) **cannot be sealed**, so a peer
//! running as the same user could `ftruncate` it while we have it mapped and make us fault.
//! Named mode is the last-resort rendezvous for processes that cannot pass fds; the sealed
//! memfd path ([`Segment::create`] + [`Segment::from_fd`]) is the safe one. (On macOS a shm
//! object can be sized only once; on Windows a section never shrinks.)

mod error;
mod header;
mod leftover;
mod name;
mod sys;

use std::fmt;
use std::ptr::NonNull;
use std::time::{SystemTime, UNIX_EPOCH};

pub use error::{CreateError, NameError, OpenError};
pub use leftover::{list_named, remove_if_creator_exited, CreatorState, NamedSegmentInfo};
pub use name::SegmentName;

/// Length of the segment header; the payload starts at this offset (a multiple of 128).
pub const HEADER_LEN: usize = 128;

/// Version of the header layout this crate writes and accepts.
pub const LAYOUT_VERSION: u32 = 1;

/// The first 8 bytes of a published segment: `b"SHMRING\x01"` read as a little-endian `u64`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SHMRING\x01");

/// Largest accepted segment, header included: 1 TiB.
pub const MAX_TOTAL_LEN: u64 = 1 << 40;

/// What a segment's payload is; defined by the users of this crate (for example channel = 1,
/// blob = 2). An opener names the kind it expects and refuses any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentKind(pub u32);

/// One shared-memory object mapped read-write into this process, its header verified.
///
/// The payload is reached only through raw pointers ([`payload`](Self::payload)): the peer may
/// write it at any time, so no Rust reference may point into it. Dropping the segment unmaps
/// it and closes its fd or handle; pointers into it must not be used afterwards.
pub struct Segment {
    mapping: sys::Mapping,
    object: sys::Object,
    name: Option<SegmentName>,
    kind: SegmentKind,
    /// `HEADER_LEN + payload_len`, as written at creation or validated on open.
    total_len: usize,
    creator_pid: u32,
    created_unix_ms: u64,
}

// SAFETY: a `Segment` owns a process-wide mapping and an fd/handle; nothing in it is tied to a
// thread. Its own methods touch the shared memory only with atomic header accesses
// (`publish`) and otherwise hand out raw pointers, whose users synchronise themselves (the
// memory is shared with another process anyway).
unsafe impl Send for Segment {}
// SAFETY: see `Send`; `&Segment` methods are read-only apart from the atomic `publish`.
unsafe impl Sync for Segment {}

impl Segment {
    /// Creates an anonymous segment of `HEADER_LEN + payload_len` bytes, zeroed, header written
    /// but not yet [published](Self::publish).
    ///
    /// Linux: `memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING)`, `ftruncate`, `posix_fallocate`
    /// (every page is allocated now, so a lack of memory is an error here rather than a SIGBUS
    /// on first touch), then sealed with
    /// `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`. macOS: `shm_open` of a random name with
    /// `O_CREAT | O_EXCL`, mode 0600, unlinked at once. Windows: an unnamed pagefile-backed
    /// section. Share it through its fd (`from_fd`) or handle.
    ///
    /// # Errors
    /// [`CreateError::InvalidSize`] when the total exceeds [`MAX_TOTAL_LEN`]; OS errors.
    ///
    /// ```
    /// # use shmring_segment::{Segment, SegmentKind};
    /// let segment = Segment::create(SegmentKind(2), 100)?;
    /// assert_eq!(segment.len(), shmring_segment::HEADER_LEN + 100);
    /// # Ok::<(), shmring_segment::CreateError>(())
    /// ```
    pub fn create(kind: SegmentKind, payload_len: usize) -> Result<Segment, CreateError> {
        let total_len = total_len(payload_len)?;
        let object = sys::create_anonymous(total_len).map_err(CreateError::from_io)?;
        Self::init(object, None, kind, total_len)
    }

    /// Creates a segment under `name`: `shm_open(O_CREAT | O_EXCL | O_RDWR, 0600)` on Unix
    /// (Linux: with every page allocated, so a full `/dev/shm` is `CreateError::Os` with
    /// `ENOSPC` here, not a SIGBUS later), `Local\` + name on Windows. Never opens an existing
    /// object: a taken name is
    /// [`CreateError::AlreadyExists`]. The name stays until [`unlink`](Self::unlink) (Unix) or
    /// the last handle closes (Windows). See the crate docs on why named mode is the last
    /// resort.
    ///
    /// # Errors
    /// [`CreateError::AlreadyExists`], [`CreateError::PermissionDenied`],
    /// [`CreateError::InvalidSize`], OS errors.
    ///
    /// ```
    /// # use shmring_segment::{Segment, SegmentKind, SegmentName};
    /// let name = SegmentName::random("doc-")?;
    /// let segment = Segment::create_named(&name, SegmentKind(2), 64)?;
    /// segment.publish();
    /// let same = Segment::open_named(&name, SegmentKind(2))?;
    /// assert_eq!(same.payload_len(), 64);
    /// segment.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_named(name: &SegmentName, kind: SegmentKind, payload_len: usize) -> Result<Segment, CreateError> {
        let total_len = total_len(payload_len)?;
        let object = sys::create_named(name, total_len).map_err(CreateError::from_io)?;
        Self::init(object, Some(name.clone()), kind, total_len).inspect_err(|_| {
            let _ = sys::unlink(name);
        })
    }

    /// Opens the named segment `name`, expecting `kind`, and verifies it (see the crate docs).
    /// Unix: the object must belong to our user and grant nothing to group/others.
    ///
    /// # Errors
    /// [`OpenError::NotFound`]; [`OpenError::PermissionDenied`] (also for a squatted name);
    /// [`OpenError::NotYetInitialized`] while the creator has not sized or published it (retry);
    /// every header error of [`OpenError`].
    pub fn open_named(name: &SegmentName, kind: SegmentKind) -> Result<Segment, OpenError> {
        let object = sys::open_named(name).map_err(OpenError::from_io)?;
        Self::adopt(object, Some(name.clone()), kind)
    }

    /// Adopts an fd received from a peer (inherited, or over a Unix socket with `SCM_RIGHTS`),
    /// expecting `kind`. Linux: the seals `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`, the file
    /// system (tmpfs) and the `fstat` size are checked **before** mapping. macOS: the fd must
    /// be a shm object; then `fstat` size. Then the header.
    ///
    /// # Errors
    /// [`OpenError::NotSealed`], [`OpenError::UnsupportedFileSystem`] (Linux),
    /// [`OpenError::TooSmall`], [`OpenError::TooLarge`],
    /// [`OpenError::SizeMismatch`], [`OpenError::BadMagic`], [`OpenError::NotYetInitialized`],
    /// [`OpenError::VersionMismatch`], [`OpenError::KindMismatch`], OS errors. The fd is closed
    /// on error.
    #[cfg(unix)]
    pub fn from_fd(fd: std::os::fd::OwnedFd, kind: SegmentKind) -> Result<Segment, OpenError> {
        sys::check_received(&fd)?;
        Self::adopt(fd, None, kind)
    }

    /// Adopts a section handle received from a peer (duplicated or inherited), expecting
    /// `kind`: maps the whole section, then verifies the committed length and the header.
    ///
    /// # Errors
    /// As [`open_named`](Self::open_named), without `NotFound`. The handle is closed on error.
    #[cfg(windows)]
    pub fn from_handle(handle: std::os::windows::io::OwnedHandle, kind: SegmentKind) -> Result<Segment, OpenError> {
        sys::check_received(&handle)?;
        Self::adopt(handle, None, kind)
    }

    /// Marks the segment as initialised: stores the magic with Release, so an opener that sees
    /// it also sees every header and payload write made before this call. Called once by the
    /// creator, after it has initialised its payload; calling it again is harmless.
    pub fn publish(&self) {
        // SAFETY: `mapping` is live for `self`'s lifetime and at least `HEADER_LEN` bytes
        // (checked in `init`/`adopt`); its base is page-aligned.
        unsafe { header::publish(self.mapping.base) }
    }

    /// Start of the payload: `HEADER_LEN` bytes past the mapping's base, so aligned to 128.
    /// Valid for reads and writes of [`payload_len`](Self::payload_len) bytes while `self`
    /// lives. The peer can write these bytes at any time: use raw pointers, volatile or atomic
    /// accesses, never references that assume exclusive or immutable memory.
    pub fn payload(&self) -> NonNull<u8> {
        // SAFETY: the mapping is at least `total_len` ≥ `HEADER_LEN` bytes (checked in
        // `init`/`adopt`), so the result is inside it or one past its end, never null.
        unsafe { self.mapping.base.add(HEADER_LEN) }
    }

    /// Payload length in bytes: `len() - HEADER_LEN`.
    pub fn payload_len(&self) -> usize {
        self.total_len - HEADER_LEN
    }

    /// Total length of the segment, header included (the header's verified `total_len`).
    #[allow(clippy::len_without_is_empty)] // a segment is never empty: it holds its header
    pub fn len(&self) -> usize {
        self.total_len
    }

    /// The kind this segment was created or verified as.
    pub fn kind(&self) -> SegmentKind {
        self.kind
    }

    /// The name given to [`create_named`](Self::create_named) or
    /// [`open_named`](Self::open_named); `None` for anonymous or received segments.
    pub fn name(&self) -> Option<&SegmentName> {
        self.name.as_ref()
    }

    /// Removes the segment's name; mappings (ours and peers') stay valid, and the object is
    /// freed when the last one closes. A no-op for anonymous segments, and on Windows (names
    /// vanish with the last handle).
    ///
    /// # Errors
    /// The OS error of `shm_unlink` (`NotFound` if the name is already gone).
    pub fn unlink(&self) -> Result<(), std::io::Error> {
        match &self.name {
            Some(name) => sys::unlink(name),
            None => Ok(()),
        }
    }

    /// Process id of the creator as recorded in the header (written by the peer: informative,
    /// not proof).
    pub fn creator_pid(&self) -> u32 {
        self.creator_pid
    }

    /// Creation time recorded in the header, in milliseconds since the Unix epoch (written by
    /// the peer: informative only).
    pub fn created_unix_ms(&self) -> u64 {
        self.created_unix_ms
    }

    /// Maps a freshly created object and writes its header (all but the magic).
    fn init(
        object: sys::Object,
        name: Option<SegmentName>,
        kind: SegmentKind,
        total_len: usize,
    ) -> Result<Segment, CreateError> {
        let mapping = sys::map(&object, Some(total_len)).map_err(CreateError::from_io)?;
        if mapping.len < total_len {
            return Err(CreateError::Os(std::io::Error::other("the new mapping is shorter than requested")));
        }
        let creator_pid = std::process::id();
        let created_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let fields = header::Fields { kind, total_len: total_len as u64, creator_pid, created_unix_ms };
        // SAFETY: `mapping` is live, writable, page-aligned and `total_len` ≥ `HEADER_LEN`
        // bytes long (checked just above; `total_len()` adds `HEADER_LEN`).
        unsafe { header::write(mapping.base, &fields) };
        Ok(Segment { mapping, object, name, kind, total_len, creator_pid, created_unix_ms })
    }

    /// Sizes, maps and verifies an object someone else created (see the crate docs for the
    /// order). Named objects of size 0 are still being created: `NotYetInitialized`.
    fn adopt(object: sys::Object, name: Option<SegmentName>, kind: SegmentKind) -> Result<Segment, OpenError> {
        let mapping = match sys::object_len(&object).map_err(OpenError::from_io)? {
            Some(0) if name.is_some() => return Err(OpenError::NotYetInitialized),
            Some(size) => {
                let len = checked_object_len(size)?;
                sys::map(&object, Some(len)).map_err(OpenError::from_io)?
            }
            // The OS cannot tell the size before mapping (Windows): map it all, then check
            // what the view holds.
            None => {
                let mapping = sys::map(&object, None).map_err(OpenError::from_io)?;
                checked_object_len(mapping.len as u64)?;
                mapping
            }
        };
        // SAFETY: `mapping` is live and page-aligned, and its length is the verified object
        // size, at least `HEADER_LEN` (`checked_object_len` above): Unix maps exactly the
        // `fstat` size, Windows checks the view it got. The bytes stay backed because the
        // object cannot shrink under us: Linux memfds are sealed (`check_received`), macOS shm
        // objects are sized only once, Windows sections never shrink. (A named Linux object is
        // the documented exception: its owner could `ftruncate` it; see the crate docs.)
        let snapshot = unsafe { header::read(mapping.base) };
        let total_len = snapshot.validate(mapping.len, kind, sys::len_matches)?;
        Ok(Segment {
            mapping,
            object,
            name,
            kind,
            total_len,
            creator_pid: snapshot.creator_pid,
            created_unix_ms: snapshot.created_unix_ms,
        })
    }
}

/// `HEADER_LEN + payload_len`, if it is at most [`MAX_TOTAL_LEN`].
fn total_len(payload_len: usize) -> Result<usize, CreateError> {
    payload_len
        .checked_add(HEADER_LEN)
        .filter(|&total| total as u64 <= MAX_TOTAL_LEN)
        .ok_or(CreateError::InvalidSize(payload_len))
}

/// An object size we are willing to map: `HEADER_LEN..=MAX_TOTAL_LEN` and addressable.
fn checked_object_len(size: u64) -> Result<usize, OpenError> {
    if size < HEADER_LEN as u64 {
        return Err(OpenError::TooSmall(size));
    }
    if size > MAX_TOTAL_LEN {
        return Err(OpenError::TooLarge(size));
    }
    usize::try_from(size).map_err(|_| OpenError::TooLarge(size))
}

#[cfg(unix)]
impl std::os::fd::AsFd for Segment {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.object)
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsHandle for Segment {
    fn as_handle(&self) -> std::os::windows::io::BorrowedHandle<'_> {
        std::os::windows::io::AsHandle::as_handle(&self.object)
    }
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("len", &self.total_len)
            .field("creator_pid", &self.creator_pid)
            .finish_non_exhaustive()
    }
}
