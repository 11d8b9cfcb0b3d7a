//! Errors of the channel. Expected outcomes (full, empty) are values (`Ok(false)`,
//! `Ok(None)`); these enums are for everything else.

use std::fmt;
use std::io;

/// Why a channel operation failed.
#[derive(Debug)]
pub enum ChannelError {
    /// This side closed the channel.
    Closed,
    /// The peer closed the channel; everything it sent before closing was delivered.
    PeerClosed,
    /// The peer process died; everything it had fully sent was delivered.
    PeerDead,
    /// The peer wrote something a correct peer never writes into the shared memory; the
    /// channel is closed.
    Corrupt,
    /// The message is larger than the lane's maximum; it can never be sent on this channel.
    TooLarge {
        /// Length of the message.
        len: usize,
        /// Largest message the lane accepts.
        max: usize,
    },
    /// The receive buffer is smaller than the next message, which stays in the channel.
    BufferTooSmall {
        /// Length of the next message.
        needed: usize,
    },
    /// The deadline passed.
    Timeout,
    /// The operating system refused a wait or wake.
    Os(io::Error),
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelError::Closed => f.write_str("channel closed"),
            ChannelError::PeerClosed => f.write_str("peer closed the channel"),
            ChannelError::PeerDead => f.write_str("peer process died"),
            ChannelError::Corrupt => f.write_str("peer corrupted the shared memory"),
            ChannelError::TooLarge { len, max } => write!(f, "message of {len} bytes exceeds the maximum of {max}"),
            ChannelError::BufferTooSmall { needed } => write!(f, "buffer too small for a message of {needed} bytes"),
            ChannelError::Timeout => f.write_str("timed out"),
            ChannelError::Os(e) => write!(f, "wait/wake failed: {e}"),
        }
    }
}

impl std::error::Error for ChannelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ChannelError::Os(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ChannelError {
    fn from(e: io::Error) -> Self {
        ChannelError::Os(e)
    }
}

/// Why a channel could not be created.
#[derive(Debug)]
pub enum CreateError {
    /// A lane capacity is not a power of two in 4 KiB..=1 GiB.
    InvalidCapacity([usize; crate::layout::LANES]),
    /// The name is not a valid segment name.
    InvalidName(shmring_segment::NameError),
    /// The segment could not be created.
    Segment(shmring_segment::CreateError),
    /// The wake objects could not be created (Windows).
    Os(io::Error),
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateError::InvalidCapacity(c) => {
                write!(f, "lane capacities {c:?} must be powers of two between 4 KiB and 1 GiB")
            }
            CreateError::InvalidName(e) => write!(f, "invalid channel name: {e}"),
            CreateError::Segment(e) => write!(f, "cannot create the channel segment: {e}"),
            CreateError::Os(e) => write!(f, "cannot create the wake objects: {e}"),
        }
    }
}

impl std::error::Error for CreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CreateError::Segment(e) => Some(e),
            CreateError::InvalidName(e) => Some(e),
            CreateError::Os(e) => Some(e),
            CreateError::InvalidCapacity(_) => None,
        }
    }
}

/// Why a channel could not be attached (from an fd, a handle or a name).
#[derive(Debug)]
pub enum OpenError {
    /// The name is not a valid segment name.
    InvalidName(shmring_segment::NameError),
    /// The segment was refused (missing, squatted, unsealed, wrong size, magic or version).
    Segment(shmring_segment::OpenError),
    /// The segment holds something this build cannot speak to (another layout or sizes).
    Incompatible(String),
    /// Another process already attached as the second side.
    AlreadyAttached,
    /// The wake objects could not be opened (Windows), or the fd variable is bad.
    Os(io::Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::InvalidName(e) => write!(f, "invalid channel name: {e}"),
            OpenError::Segment(e) => write!(f, "cannot open the channel segment: {e}"),
            OpenError::Incompatible(why) => write!(f, "incompatible channel: {why}"),
            OpenError::AlreadyAttached => f.write_str("channel already has two sides"),
            OpenError::Os(e) => write!(f, "cannot attach: {e}"),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Segment(e) => Some(e),
            OpenError::InvalidName(e) => Some(e),
            OpenError::Os(e) => Some(e),
            _ => None,
        }
    }
}

impl From<shmring_segment::OpenError> for OpenError {
    fn from(e: shmring_segment::OpenError) -> Self {
        OpenError::Segment(e)
    }
}
