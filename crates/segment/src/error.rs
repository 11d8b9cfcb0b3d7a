//! Errors of this crate, one enum per operation:
//! * [`CreateError`]: [`Segment::create`](crate::Segment::create) and
//!   [`Segment::create_named`](crate::Segment::create_named);
//! * [`OpenError`]: every way of adopting a segment someone else made (`open_named`, `from_fd`,
//!   `from_handle`), including each way its header or OS object can fail verification;
//! * [`NameError`]: [`SegmentName::new`](crate::SegmentName::new) and
//!   [`SegmentName::random`](crate::SegmentName::random).
//!
//! OS errors are mapped to variants at the call site (`NotFound`, `PermissionDenied`,
//! `AlreadyExists`); everything else stays in the catch-all `Os(io::Error)`.

use std::{error::Error, fmt, io};

/// Why a segment could not be created.
#[derive(Debug)]
pub enum CreateError {
    /// A segment with this name exists already. It was not opened, and it was not changed.
    AlreadyExists,
    /// The OS refused to create the object (for example a sandbox or a name namespace we may
    /// not write to).
    PermissionDenied,
    /// The requested payload length is too large: `HEADER_LEN + payload_len` must not exceed
    /// [`MAX_TOTAL_LEN`](crate::MAX_TOTAL_LEN) (1 TiB). Holds the requested payload length.
    InvalidSize(usize),
    /// Any other OS error (out of memory, too many open files, unsupported platform, …).
    Os(io::Error),
}

/// Why an existing segment was refused. Nothing was mapped that stays mapped.
#[derive(Debug)]
pub enum OpenError {
    /// No segment has this name.
    NotFound,
    /// The OS refused access, or a named object is not ours: it belongs to another user, or its
    /// mode grants access to group or others (a squatted name).
    PermissionDenied,
    /// The received fd could be resized by its sender, so it is never mapped. Linux: it lacks
    /// some of the seals `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL` (a file that is not a
    /// memfd has none); `missing` holds those `F_SEAL_*` bits. macOS: it is not a POSIX shm
    /// object (for example a regular file); `missing` is 0.
    NotSealed {
        /// Bitmask of the missing `F_SEAL_*` flags (`F_SEAL_SEAL` = 1, `F_SEAL_SHRINK` = 2,
        /// `F_SEAL_GROW` = 4).
        missing: u32,
    },
    /// The object is smaller than the segment header. Holds its size in bytes.
    TooSmall(u64),
    /// The object is larger than [`MAX_TOTAL_LEN`](crate::MAX_TOTAL_LEN) (or than this
    /// process's address space). Holds its size in bytes.
    TooLarge(u64),
    /// The header's `total_len` does not match the size of the object (a truncated or resized
    /// segment). Also reported when the header's `header_len` is not
    /// [`HEADER_LEN`](crate::HEADER_LEN): then `header` is that field and `actual` is
    /// `HEADER_LEN`.
    SizeMismatch {
        /// The length recorded in the header.
        header: u64,
        /// The length of the object we mapped.
        actual: u64,
    },
    /// The header does not start with [`MAGIC`](crate::MAGIC): this is not a shmring
    /// segment. Holds the value found.
    BadMagic(u64),
    /// The segment was written with another layout version of this crate.
    VersionMismatch {
        /// The layout version found in the header.
        found: u32,
        /// [`LAYOUT_VERSION`](crate::LAYOUT_VERSION).
        expected: u32,
    },
    /// The segment holds another kind of payload than the caller asked for.
    KindMismatch {
        /// The kind found in the header.
        found: u32,
        /// The kind the caller asked for.
        expected: u32,
    },
    /// The creator has not published the segment yet (its magic is still 0, or a named object
    /// has not been sized yet). Retry after a short delay.
    NotYetInitialized,
    /// The received fd is sealed, but lives on a file system whose pages its sender can still
    /// take away, so a mapping of it could fault with SIGBUS. Linux accepts only tmpfs
    /// (`TMPFS_MAGIC`, what every plain memfd reports); a `MFD_HUGETLB` memfd (hugetlbfs,
    /// whose fixed page pool the sender can drain or punch holes into) is refused. Holds the
    /// `statfs` `f_type` found.
    UnsupportedFileSystem(u64),
    /// Any other OS error.
    Os(io::Error),
}

/// Why a string is not a valid [`SegmentName`](crate::SegmentName).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than this OS allows ([`SegmentName::MAX_LEN`](crate::SegmentName::MAX_LEN)).
    TooLong {
        /// Length of the rejected name in bytes.
        len: usize,
        /// The largest length allowed on this OS.
        max: usize,
    },
    /// The name holds a character outside `[A-Za-z0-9_.-]`, or starts with `.`.
    InvalidChar(char),
    /// [`SegmentName::random`](crate::SegmentName::random) found no OS random source.
    RandomUnavailable,
}

impl CreateError {
    /// Maps an OS error from a create call to a variant.
    pub(crate) fn from_io(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::AlreadyExists => Self::AlreadyExists,
            io::ErrorKind::PermissionDenied => Self::PermissionDenied,
            _ => Self::Os(e),
        }
    }
}

impl OpenError {
    /// Maps an OS error from an open/map call to a variant.
    pub(crate) fn from_io(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound => Self::NotFound,
            io::ErrorKind::PermissionDenied => Self::PermissionDenied,
            _ => Self::Os(e),
        }
    }
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyExists => f.write_str("segment already exists"),
            Self::PermissionDenied => f.write_str("permission denied"),
            Self::InvalidSize(len) => write!(f, "invalid segment size: {len} bytes"),
            Self::Os(e) => write!(f, "os error: {e}"),
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => f.write_str("segment not found"),
            Self::PermissionDenied => f.write_str("permission denied"),
            Self::NotSealed { missing } => {
                write!(f, "segment is not sealed (missing seals {missing:#x})")
            }
            Self::TooSmall(len) => write!(f, "segment too small: {len} bytes"),
            Self::TooLarge(len) => write!(f, "segment too large: {len} bytes"),
            Self::SizeMismatch { header, actual } => {
                write!(f, "segment size mismatch: header says {header} bytes, object has {actual}")
            }
            Self::BadMagic(magic) => write!(f, "bad segment magic {magic:#018x}"),
            Self::VersionMismatch { found, expected } => {
                write!(f, "segment layout version {found}, expected {expected}")
            }
            Self::KindMismatch { found, expected } => {
                write!(f, "segment kind {found}, expected {expected}")
            }
            Self::NotYetInitialized => f.write_str("segment not yet initialized"),
            Self::UnsupportedFileSystem(fs) => write!(f, "segment fd is on an unsupported file system ({fs:#x})"),
            Self::Os(e) => write!(f, "os error: {e}"),
        }
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty segment name"),
            Self::TooLong { len, max } => {
                write!(f, "segment name too long: {len} bytes, at most {max}")
            }
            Self::InvalidChar(c) => write!(f, "invalid character {c:?} in segment name"),
            Self::RandomUnavailable => f.write_str("no random source for a segment name"),
        }
    }
}

impl Error for CreateError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Os(e) => Some(e),
            _ => None,
        }
    }
}

impl Error for OpenError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Os(e) => Some(e),
            _ => None,
        }
    }
}

impl Error for NameError {}
