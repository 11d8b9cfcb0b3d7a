//! Named segments left behind: finding them ([`list_named`]) and removing those whose creator
//! has exited ([`remove_if_creator_exited`]), for `shmring ls` and `shmring clean`.
//!
//! A named segment's name is removed by its creator when it is done with it; a creator that
//! crashes leaves the name, and on Linux the object's memory with it (a file in `/dev/shm`)
//! until someone removes it or the machine restarts. Removing a name never disturbs a channel
//! already connected: mappings stay valid, and the memory is freed when the last one closes.
//! Only new openers stop finding the name.
//!
//! How a creator is known to have exited: the header records its pid and, since this field
//! existed, its start time as the OS counts it (Linux: `starttime` in `/proc/<pid>/stat`). No
//! such process, or a process with that pid but another start time (the pid was reused), means
//! exited. Without a recorded start time a live pid counts as running (never removed).
//!
//! Platforms: only Linux can list named objects (they are files in `/dev/shm`). macOS has no
//! way to enumerate POSIX shared-memory names, and Windows removes a named section with its
//! last handle, so nothing is ever left behind there; both answer `ErrorKind::Unsupported`.
//!
//! Caveat: pids are those of our pid namespace. Containers that share `/dev/shm` but not the
//! pid namespace see each other's creators as exited; do not clean across such a boundary.

use std::io;

use crate::{SegmentKind, SegmentName};

/// Whether the process that created a named segment still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatorState {
    /// A process with the recorded pid (and start time, where recorded) exists.
    Running,
    /// No such process: the segment is left over and may be removed.
    Exited,
    /// The pid could not be examined (or none was recorded); treated as running.
    Unknown,
}

/// A named segment as its header describes it, read without mapping it.
#[derive(Debug, Clone)]
pub struct NamedSegmentInfo {
    /// The name it was created under.
    pub name: SegmentName,
    /// Size of the object in bytes, header included (memory it holds while the name exists).
    pub len: u64,
    /// What its payload is (1 = a channel).
    pub kind: SegmentKind,
    /// Whether its creator published it (`false`: still being created, or the creator died
    /// while creating it).
    pub published: bool,
    /// The creator's pid, as recorded in the header.
    pub creator_pid: u32,
    /// Creation time recorded in the header, in milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// Whether the creator still runs (checked just now).
    pub creator: CreatorState,
}

/// Every named segment of this user that this OS can list, sorted by name. Objects that are
/// not shmring segments (a foreign file, a header that does not parse) are not listed.
///
/// # Errors
/// `ErrorKind::Unsupported` on macOS and Windows (see the module docs); the OS error when
/// `/dev/shm` cannot be read.
pub fn list_named() -> io::Result<Vec<NamedSegmentInfo>> {
    #[cfg(target_os = "linux")]
    {
        Ok(crate::sys::named_objects()?.iter().filter_map(linux::describe).collect())
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(unsupported())
    }
}

/// Removes the name `name` if it is a shmring segment whose creator has exited. Returns
/// whether it was removed: `false` when the creator runs (or cannot be examined), when the
/// object is not a shmring segment of ours, or when it changed while we looked.
///
/// # Errors
/// `ErrorKind::NotFound` when there is no such name; `ErrorKind::Unsupported` on macOS and
/// Windows; other OS errors.
pub fn remove_if_creator_exited(name: &SegmentName) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        let Some(object) = crate::sys::named_object(name)? else { return Ok(false) };
        match linux::describe(&object) {
            Some(info) if info.creator == CreatorState::Exited => crate::sys::unlink_if_same(name, object.identity),
            _ => Ok(false),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = name;
        Err(unsupported())
    }
}

#[cfg(not(target_os = "linux"))]
fn unsupported() -> io::Error {
    #[cfg(windows)]
    const WHY: &str = "Windows removes a named section with its last handle: nothing is left behind to list";
    #[cfg(not(windows))]
    const WHY: &str = "this OS cannot list POSIX shared-memory names; remove a known name with shm_unlink";
    io::Error::new(io::ErrorKind::Unsupported, WHY)
}

#[cfg(target_os = "linux")]
mod linux {
    use super::{CreatorState, NamedSegmentInfo};
    use crate::sys::{self, NamedObject};
    use crate::{header, SegmentKind, HEADER_LEN, LAYOUT_VERSION, MAGIC};

    /// The object's header, if it is a shmring segment's: the magic (or 0 while unpublished),
    /// our layout version and header length, and a `total_len` equal to the object's size.
    pub(super) fn describe(object: &NamedObject) -> Option<NamedSegmentInfo> {
        let snapshot = header::decode(&object.header);
        let shape_ok = snapshot.layout_version == LAYOUT_VERSION
            && snapshot.header_len as usize == HEADER_LEN
            && snapshot.total_len == object.len;
        if !(snapshot.magic == MAGIC || snapshot.magic == 0) || !shape_ok {
            return None;
        }
        Some(NamedSegmentInfo {
            name: object.name.clone(),
            len: object.len,
            kind: SegmentKind(snapshot.kind),
            published: snapshot.magic == MAGIC,
            creator_pid: snapshot.creator_pid,
            created_unix_ms: snapshot.created_unix_ms,
            creator: creator_state(snapshot.creator_pid, snapshot.creator_start),
        })
    }

    /// `start` is the creator's recorded start time (0 = not recorded).
    fn creator_state(pid: u32, start: u64) -> CreatorState {
        // Pid 0 is no process (a header written by something else); a pid past `i32::MAX` is
        // not one either.
        if pid == 0 || i32::try_from(pid).is_err() {
            return CreatorState::Unknown;
        }
        match sys::process_start(pid) {
            Ok(None) => CreatorState::Exited,
            Ok(Some(running_since)) if start != 0 && running_since != start => CreatorState::Exited,
            Ok(Some(_)) => CreatorState::Running,
            Err(_) => CreatorState::Unknown,
        }
    }
}
