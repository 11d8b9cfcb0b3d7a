//! The only place core errors become JavaScript errors: every error carries a stable `code`
//! (`ERR_SHMRING_*`) and a message that says what to do.

use shmring_channel::{ChannelError, CreateError, OpenError};
use shmring_segment::OpenError as SegmentOpenError;

/// Stable error codes, the `code` property of every error the addon throws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// This side closed the channel.
    Closed,
    /// The peer closed the channel.
    PeerClosed,
    /// The peer process died.
    PeerDead,
    /// The peer corrupted the shared memory.
    Corrupt,
    /// A message exceeds the lane's maximum.
    TooLarge,
    /// The target buffer is smaller than the next message.
    BufferTooSmall,
    /// A deadline passed.
    Timeout,
    /// An argument is out of range or malformed.
    InvalidArg,
    /// A named channel does not exist.
    NotFound,
    /// A name is taken, or a channel already has two sides.
    Exists,
    /// The OS refused access (or a name belongs to someone else).
    Permission,
    /// The segment is not a channel this build can speak to.
    Incompatible,
    /// This OS cannot do what was asked (e.g. list named segments on macOS).
    Unsupported,
    /// Any other operating-system failure.
    Os,
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        match self {
            Code::Closed => "ERR_SHMRING_CLOSED",
            Code::PeerClosed => "ERR_SHMRING_PEER_CLOSED",
            Code::PeerDead => "ERR_SHMRING_PEER_DEAD",
            Code::Corrupt => "ERR_SHMRING_CORRUPT",
            Code::TooLarge => "ERR_SHMRING_TOO_LARGE",
            Code::BufferTooSmall => "ERR_SHMRING_BUFFER_TOO_SMALL",
            Code::Timeout => "ERR_SHMRING_TIMEOUT",
            Code::InvalidArg => "ERR_SHMRING_INVALID_ARG",
            Code::NotFound => "ERR_SHMRING_NOT_FOUND",
            Code::Exists => "ERR_SHMRING_EXISTS",
            Code::Permission => "ERR_SHMRING_PERMISSION",
            Code::Incompatible => "ERR_SHMRING_INCOMPATIBLE",
            Code::Unsupported => "ERR_SHMRING_UNSUPPORTED",
            Code::Os => "ERR_SHMRING_OS",
        }
    }
}

impl From<napi::Status> for Code {
    fn from(_: napi::Status) -> Self {
        Code::Os
    }
}

/// A JavaScript error with a stable code.
pub type Error = napi::Error<Code>;
/// Result of every fallible binding call.
pub type Result<T> = std::result::Result<T, Error>;

/// Builds an error with `code` and `message`.
pub fn error(code: Code, message: impl Into<String>) -> Error {
    napi::Error::new(code, message.into())
}

/// A channel operation failed.
pub fn from_channel(e: ChannelError) -> Error {
    let code = match &e {
        ChannelError::Closed => Code::Closed,
        ChannelError::PeerClosed => Code::PeerClosed,
        ChannelError::PeerDead => Code::PeerDead,
        ChannelError::Corrupt => Code::Corrupt,
        ChannelError::TooLarge { .. } => Code::TooLarge,
        ChannelError::BufferTooSmall { .. } => Code::BufferTooSmall,
        ChannelError::Timeout => Code::Timeout,
        ChannelError::Os(_) => Code::Os,
    };
    let advice = match code {
        Code::Closed => "; create a new channel",
        Code::PeerClosed => "; the peer will send nothing more",
        Code::PeerDead => "; every message it sent was delivered; restart the peer and create a new channel",
        Code::Corrupt => "; the channel is closed; do not trust this peer",
        Code::TooLarge => "; raise `capacity` when creating the channel (messages may use half a lane)",
        Code::BufferTooSmall => "; pass a larger buffer (the message stays queued)",
        _ => "",
    };
    error(code, format!("{e}{advice}"))
}

/// A channel could not be created.
pub fn from_create(e: CreateError) -> Error {
    let code = match &e {
        CreateError::InvalidCapacity(_) | CreateError::InvalidName(_) => Code::InvalidArg,
        CreateError::Segment(shmring_segment::CreateError::AlreadyExists) => Code::Exists,
        CreateError::Segment(shmring_segment::CreateError::PermissionDenied) => Code::Permission,
        CreateError::Segment(shmring_segment::CreateError::InvalidSize(_)) => Code::InvalidArg,
        CreateError::Segment(_) | CreateError::Os(_) => Code::Os,
    };
    let advice = match code {
        Code::Exists => "; pick another name, or if its creator crashed, remove it with `npx shmring clean` (Linux)",
        _ => "",
    };
    error(code, format!("{e}{advice}"))
}

/// A channel could not be attached.
pub fn from_open(e: OpenError) -> Error {
    let code = match &e {
        OpenError::InvalidName(_) => Code::InvalidArg,
        OpenError::AlreadyAttached => Code::Exists,
        OpenError::Incompatible(_) => Code::Incompatible,
        OpenError::Segment(SegmentOpenError::NotFound) => Code::NotFound,
        OpenError::Segment(SegmentOpenError::PermissionDenied) => Code::Permission,
        OpenError::Segment(SegmentOpenError::NotYetInitialized) => Code::NotFound,
        OpenError::Os(e) if e.kind() == std::io::ErrorKind::InvalidInput => Code::InvalidArg,
        OpenError::Os(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Code::Permission,
        // `connect`: no socket at the path, or nobody listening on it.
        OpenError::Os(e)
            if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) =>
        {
            Code::NotFound
        }
        // `connect`: no answer in time, or (`WouldBlock`) the server's queue is full.
        OpenError::Os(e) if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) => {
            Code::Timeout
        }
        OpenError::Segment(SegmentOpenError::Os(_)) | OpenError::Os(_) => Code::Os,
        OpenError::Segment(_) => Code::Incompatible,
    };
    let advice = match code {
        Code::NotFound => "; check the name (or socket path) and that the creator (or server) is running",
        Code::Exists => "; a channel connects exactly two processes",
        Code::Incompatible => "; both sides must run compatible shmring versions, and the fd must be a shmring channel",
        _ => "",
    };
    error(code, format!("{e}{advice}"))
}
