//! Named segments left behind: finding them ([`list_named`]) and removing those whose creator
//! has exited ([`remove_if_creator_exited`]), for `shmring ls` and `shmring clean`.
//!
//! A named segment's name is removed by its creator when it is done with it; a creator that
//! crashes leaves the name, and on Linux the object's memory with it (a file in `/dev/shm`)
//! until someone removes it or the machine restarts. Removing a name never disturbs a channel
//! already connected: mappings stay valid, and the memory is freed when the last one closes.
//! Only new openers stop finding the name.
//!
//! How a segment is known to be abandoned: its creator takes a read lock on the object (an
//! open-file-description lock, `F_OFD_SETLK`) right after creating it, before writing the
//! header, and holds it as long as it (or any process it forked with the fd) has the object
//! open; the kernel drops it when the last such fd closes, exits and crashes included. An
//! object nobody holds that lock on, whose recorded creator pid no longer exists, is
//! abandoned. Either sign of life keeps it: a held lock (which also covers creators in another
//! pid namespace), or a live pid (which also covers a creator that could not lock). Every
//! doubt keeps it too. Examiners (listings and removals, in any process) only ask the kernel
//! whether the lock is held (`F_OFD_GETLK`) and take none themselves, so two looking at once
//! never take each other for a creator (an earlier `flock` design did: a spec has four threads
//! look 800 times at an abandoned segment, and ~1 in 8 looks said "running").
//!
//! Platforms: only Linux can list named objects (they are files in `/dev/shm`). macOS has no
//! way to enumerate POSIX shared-memory names, and Windows removes a named section with its
//! last handle, so nothing is ever left behind there; both answer `ErrorKind::Unsupported`.

use std::io;

use crate::{SegmentKind, SegmentName};

/// Whether the process that created a named segment (or one it forked) still uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatorState {
    /// The object is still open from its creation: by the creator, or a process it forked.
    Running,
    /// Nobody has it open from its creation and the creator's pid is gone: left over, and
    /// [`remove_if_creator_exited`] removes it.
    Exited,
    /// Neither proof: the creator's pid exists but holds no lock (a recycled pid, or a
    /// creator that could not lock), or the checks failed. Kept.
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
    /// Whether the creator still uses it (checked just now).
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
/// whether it was removed: `false` when the creator still uses it (or that cannot be told),
/// when the object is not a shmring segment of ours, or when it changed while we looked.
/// The object is examined again here, just before its name is removed.
///
/// # Errors
/// `ErrorKind::NotFound` when there is no such name; `ErrorKind::Unsupported` on macOS and
/// Windows; other OS errors.
pub fn remove_if_creator_exited(name: &SegmentName) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        let Some(object) = crate::sys::named_object(name)? else { return Ok(false) };
        match linux::describe(&object) {
            // `object` stays open until the name is gone: its identity is checked at the unlink.
            Some(info) if info.creator == CreatorState::Exited => {
                match crate::sys::unlink_if_same(name, object.identity) {
                    // Removed by someone else meanwhile: not ours to report as removed.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                    result => result,
                }
            }
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

    /// The object's header, if it is a shmring segment's (the magic, or 0 while unpublished;
    /// our layout version and header length; a `total_len` equal to the object's size), and
    /// whether it is abandoned (see the module doc).
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
            creator: creator_state(object, snapshot.creator_pid),
        })
    }

    fn creator_state(object: &NamedObject, pid: u32) -> CreatorState {
        match sys::creator_lock_held(object) {
            Ok(true) => return CreatorState::Running,
            Ok(false) => {}
            Err(_) => return CreatorState::Unknown,
        }
        match sys::process_exists(pid) {
            Ok(false) => CreatorState::Exited,
            // Alive without the lock: a recycled pid, or a creator that could not lock.
            Ok(true) | Err(_) => CreatorState::Unknown,
        }
    }
}
