//! `namedSegments()` and `removeLeftoverSegment(name)`: the native side of `npx shmring ls` and
//! `npx shmring clean` (named segments whose creator exited; see `shmring_segment::list_named`).

use napi_derive::napi;
use shmring_channel::CHANNEL_KIND;
use shmring_segment::{CreatorState, NamedSegmentInfo, SegmentName};

use crate::error::{error, Code, Error, Result};

/// A named segment of this user, as its header describes it.
#[napi(object)]
pub struct NativeNamedSegment {
    /// The name it was created under (what `Channel.openNamed` takes, for a channel).
    pub name: String,
    /// Memory it holds while the name exists, header included, in bytes.
    pub bytes: f64,
    /// `channel`, or `kind <n>` for another kind of segment.
    pub kind: String,
    /// Whether its creator finished creating it.
    pub published: bool,
    /// The creator's pid, as recorded.
    pub creator_pid: u32,
    /// When it was created, in ms since the Unix epoch, as recorded.
    pub created_ms: f64,
    /// `running` (still open from its creation: by the creator or a process it forked),
    /// `exited` (left over: `clean` removes it) or `unknown` (cannot tell; kept).
    pub creator: String,
}

/// Every named segment of this user that this OS can list (Linux), sorted by name.
#[napi]
pub fn named_segments() -> Result<Vec<NativeNamedSegment>> {
    let found = shmring_segment::list_named().map_err(|e| from_io(e, "listing the named segments in /dev/shm"))?;
    Ok(found.into_iter().map(describe).collect())
}

/// Removes the named segment `name` if its creator has exited; returns whether it did.
#[napi]
pub fn remove_leftover_segment(name: String) -> Result<bool> {
    let name = SegmentName::new(&name).map_err(|e| error(Code::InvalidArg, format!("{e}")))?;
    shmring_segment::remove_if_creator_exited(&name).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => error(Code::NotFound, format!("no named segment {name}")),
        _ => from_io(e, &format!("removing {name}")),
    })
}

fn describe(info: NamedSegmentInfo) -> NativeNamedSegment {
    NativeNamedSegment {
        name: info.name.to_string(),
        bytes: info.len as f64,
        kind: if info.kind == CHANNEL_KIND { "channel".to_owned() } else { format!("kind {}", info.kind.0) },
        published: info.published,
        creator_pid: info.creator_pid,
        created_ms: info.created_unix_ms as f64,
        creator: match info.creator {
            CreatorState::Running => "running",
            CreatorState::Exited => "exited",
            CreatorState::Unknown => "unknown",
        }
        .to_owned(),
    }
}

/// `what` failed with `e`; an unsupported OS says why in its own words.
fn from_io(e: std::io::Error, what: &str) -> Error {
    match e.kind() {
        std::io::ErrorKind::Unsupported => error(Code::Unsupported, e.to_string()),
        std::io::ErrorKind::PermissionDenied => error(Code::Permission, format!("{what} failed: {e}")),
        _ => error(Code::Os, format!("{what} failed: {e}")),
    }
}
