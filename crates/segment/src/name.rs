//! [`SegmentName`]: the name of a named segment, validated once and infallible afterwards.
//!
//! * Characters: `[A-Za-z0-9_.-]`, not starting with `.` (so never `.`/`..`, no `/` or `\`).
//! * Length: 1..=[`SegmentName::MAX_LEN`] bytes, which is this OS's limit: macOS 30 (`"/"` +
//!   name ≤ `PSHMNAMLEN` = 31), Linux 255 (`NAME_MAX` of the `/dev/shm` entry), Windows 253
//!   (`"Local\\"` + name + NUL ≤ `MAX_PATH`). Names meant to work everywhere stay ≤ 30 bytes.
//! * The OS spelling (`"/name"`, `"Local\\name"`) is added by the backend, never by callers.

use std::fmt;

use crate::error::NameError;
use crate::sys;

/// The name of a named segment: 1..=[`MAX_LEN`](Self::MAX_LEN) bytes of `[A-Za-z0-9_.-]`, not
/// starting with `.`.
///
/// ```
/// use shmring_segment::{NameError, SegmentName};
///
/// let name = SegmentName::new("my-app.frames_0")?;
/// assert_eq!(name.as_str(), "my-app.frames_0");
/// assert_eq!(SegmentName::new("a/b"), Err(NameError::InvalidChar('/')));
/// let random = SegmentName::random("my-app-")?;
/// assert!(random.as_str().starts_with("my-app-"));
/// # Ok::<(), NameError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentName(String);

impl SegmentName {
    /// The longest name this OS accepts, in bytes (macOS 30, Linux 255, Windows 253).
    pub const MAX_LEN: usize = sys::MAX_NAME_LEN;

    /// Number of random characters [`random`](Self::random) appends (64 bits, hex).
    pub const RANDOM_SUFFIX_LEN: usize = 16;

    /// Validates `s` as a segment name.
    ///
    /// # Errors
    /// [`NameError::Empty`], [`NameError::InvalidChar`] (the first bad character; a leading
    /// `.` counts as bad), or [`NameError::TooLong`].
    pub fn new(s: &str) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        check_chars(s)?;
        check_len(s.len())?;
        Ok(Self(s.to_owned()))
    }

    /// `prefix` followed by [`RANDOM_SUFFIX_LEN`](Self::RANDOM_SUFFIX_LEN) lowercase hex digits
    /// from the OS random source (`getrandom(2)`, `getentropy`, `ProcessPrng`). `prefix` may be
    /// empty; include your own separator (`"my-app-"`).
    ///
    /// # Errors
    /// [`NameError::InvalidChar`] for a bad prefix, [`NameError::TooLong`] when prefix + suffix
    /// exceeds [`MAX_LEN`](Self::MAX_LEN), [`NameError::RandomUnavailable`] if the OS has no
    /// random source.
    pub fn random(prefix: &str) -> Result<Self, NameError> {
        check_chars(prefix)?;
        check_len(prefix.len() + Self::RANDOM_SUFFIX_LEN)?;
        let mut bytes = [0u8; Self::RANDOM_SUFFIX_LEN / 2];
        getrandom::fill(&mut bytes).map_err(|_| NameError::RandomUnavailable)?;
        let mut name = String::with_capacity(prefix.len() + Self::RANDOM_SUFFIX_LEN);
        name.push_str(prefix);
        for b in bytes {
            name.push(char::from(HEX[usize::from(b >> 4)]));
            name.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        Ok(Self(name))
    }

    /// The name as given (without the OS prefix).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn check_chars(s: &str) -> Result<(), NameError> {
    if s.starts_with('.') {
        return Err(NameError::InvalidChar('.'));
    }
    match s.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        Some(c) => Err(NameError::InvalidChar(c)),
        None => Ok(()),
    }
}

fn check_len(len: usize) -> Result<(), NameError> {
    if len > SegmentName::MAX_LEN {
        return Err(NameError::TooLong { len, max: SegmentName::MAX_LEN });
    }
    Ok(())
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SegmentName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SegmentName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, NameError> {
        Self::new(s)
    }
}

impl TryFrom<&str> for SegmentName {
    type Error = NameError;

    fn try_from(s: &str) -> Result<Self, NameError> {
        Self::new(s)
    }
}
