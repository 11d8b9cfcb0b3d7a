//! Per-OS backends: create, open, map and unlink the OS object behind a segment.
//!
//! Every backend provides (`Object` = the OS object this process holds):
//! * `type Object` — `OwnedFd` on Unix, `OwnedHandle` on Windows;
//! * `const MAX_NAME_LEN: usize` — the longest [`SegmentName`] this OS accepts;
//! * `fn create_anonymous(total_len: usize) -> io::Result<Object>` — a fresh, zeroed object of
//!   exactly `total_len` bytes that has no name (Linux: every page allocated, then sealed
//!   against resizing);
//! * `fn create_named(name: &SegmentName, total_len: usize) -> io::Result<Object>` — the same
//!   under `name` (Linux: allocated, not sealed), failing with `ErrorKind::AlreadyExists` if the
//!   name is taken (never opens it);
//! * `fn open_named(name: &SegmentName) -> io::Result<Object>` — opens an existing object for
//!   reading and writing; where the OS has owners, refuses (`PermissionDenied`) an object that
//!   is not ours alone;
//! * `fn check_received(object: &Object) -> Result<(), OpenError>` — checks a peer-supplied
//!   object before its size is trusted (Linux: the seals, then tmpfs);
//! * `fn object_len(object: &Object) -> io::Result<Option<u64>>` — the object's size, or `None`
//!   where the OS cannot tell before mapping (Windows);
//! * `fn map(object: &Object, len: Option<usize>) -> io::Result<Mapping>` — maps `len` bytes
//!   (or, for `None`, the whole object) shared, read-write; the returned [`Mapping`] says how
//!   many bytes from its base may be touched;
//! * `unsafe fn unmap(base: NonNull<u8>, len: usize)` — undoes `map` (called by [`Mapping`]);
//! * `fn len_matches(header_total_len: u64, mapped_len: u64) -> bool` — whether a header's
//!   `total_len` fits the mapped size (exact, or page-rounded where the OS rounds);
//! * `fn unlink(name: &SegmentName) -> io::Result<()>` — removes a name.
//!
//! Linux alone also lists named objects without mapping them (`named_objects`, `named_object`,
//! `unlink_if_same`), marks its named objects with a creator lock (`creator_lock_held`) and
//! asks whether a pid exists (`process_exists`), for `leftover.rs`; no other OS can enumerate
//! its shared-memory names.
//!
//! Backends hold no algorithm: the order of checks is written once, in `lib.rs`.

use std::io;
use std::ptr::NonNull;

use crate::{error::OpenError, name::SegmentName};

#[cfg(any(target_os = "linux", target_os = "macos"))]
mod unix;

#[cfg_attr(target_os = "linux", path = "linux.rs")]
#[cfg_attr(target_os = "macos", path = "macos.rs")]
#[cfg_attr(windows, path = "windows.rs")]
#[cfg_attr(not(any(target_os = "linux", target_os = "macos", windows)), path = "unsupported.rs")]
mod imp;

pub(crate) use imp::{
    check_received, create_anonymous, create_named, len_matches, map, object_len, open_named, unlink, Object,
    MAX_NAME_LEN,
};
/// Linux only: finding named objects left behind (`leftover.rs`) and identifying processes.
#[cfg(target_os = "linux")]
pub(crate) use imp::{creator_lock_held, named_object, named_objects, process_exists, unlink_if_same, NamedObject};

// Compile-time checks that this target's backend has the agreed signatures.
const _: fn(usize) -> io::Result<Object> = imp::create_anonymous;
const _: fn(&SegmentName, usize) -> io::Result<Object> = imp::create_named;
const _: fn(&SegmentName) -> io::Result<Object> = imp::open_named;
const _: fn(&Object) -> Result<(), OpenError> = imp::check_received;
const _: fn(&Object) -> io::Result<Option<u64>> = imp::object_len;
const _: fn(&Object, Option<usize>) -> io::Result<Mapping> = imp::map;
const _: unsafe fn(NonNull<u8>, usize) = imp::unmap;
const _: fn(u64, u64) -> bool = imp::len_matches;
const _: fn(&SegmentName) -> io::Result<()> = imp::unlink;
const _: usize = imp::MAX_NAME_LEN;

/// A live view of an object in this process; unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    /// Start of the view: page-aligned, so aligned to at least [`HEADER_LEN`](crate::HEADER_LEN).
    pub(crate) base: NonNull<u8>,
    /// Bytes from `base` that are mapped and backed (`munmap` length on Unix).
    pub(crate) len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` were returned by `imp::map` and are unmapped only here, once;
        // `Segment` hands out raw pointers only, whose users must not outlive the segment.
        unsafe { imp::unmap(self.base, self.len) };
    }
}
