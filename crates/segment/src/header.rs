//! The segment header: the first [`HEADER_LEN`] bytes of every segment, little-endian.
//!
//! ```text
//! off  size  field
//! 0    8     magic            = MAGIC (b"SHMRING\x01"), written LAST by publish() with Release
//! 8    4     layout_version   = LAYOUT_VERSION
//! 12   4     kind             = SegmentKind.0
//! 16   8     total_len        = HEADER_LEN + payload_len = the object's size
//! 24   4     header_len       = HEADER_LEN (128)
//! 28   4     creator_pid
//! 32   8     created_unix_ms
//! 40   88    reserved, zero
//! ```
//!
//! * The creator writes every field but `magic` right after mapping ([`write()`]); the object is
//!   fresh, so `magic` is still 0. Once its payload is initialised it calls [`publish`].
//! * An opener loads `magic` with Acquire, then copies the other fields once ([`read`]) and
//!   validates the copy ([`Snapshot::validate`]); the live header is never consulted again,
//!   because the peer can rewrite it at any time.
//! * All accesses are atomic loads/stores through raw pointers: the peer may write the same
//!   bytes concurrently, and no Rust reference ever points at them.

use std::mem::{offset_of, size_of};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::error::OpenError;
use crate::{SegmentKind, HEADER_LEN, LAYOUT_VERSION, MAGIC};

/// The header as laid out in memory. Only used for its layout (offsets, size); the bytes are
/// accessed through [`write()`], [`publish`] and [`read`].
#[repr(C)]
#[allow(dead_code)] // fields are reached through `offset_of!`, never by name
pub(crate) struct SegmentHeader {
    magic: u64,
    layout_version: u32,
    kind: u32,
    total_len: u64,
    header_len: u32,
    creator_pid: u32,
    created_unix_ms: u64,
    reserved: [u8; 88],
}

const _: () = assert!(size_of::<SegmentHeader>() == HEADER_LEN);
const _: () = assert!(HEADER_LEN % 128 == 0);
const _: () = assert!(offset_of!(SegmentHeader, magic) == 0);
const _: () = assert!(offset_of!(SegmentHeader, layout_version) == 8);
const _: () = assert!(offset_of!(SegmentHeader, kind) == 12);
const _: () = assert!(offset_of!(SegmentHeader, total_len) == 16);
const _: () = assert!(offset_of!(SegmentHeader, header_len) == 24);
const _: () = assert!(offset_of!(SegmentHeader, creator_pid) == 28);
const _: () = assert!(offset_of!(SegmentHeader, created_unix_ms) == 32);
const _: () = assert!(offset_of!(SegmentHeader, reserved) == 40);

/// A copy of the header fields, taken once from the mapping; nothing in it is trusted until
/// [`validate`](Self::validate) has passed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snapshot {
    pub(crate) magic: u64,
    pub(crate) layout_version: u32,
    pub(crate) kind: u32,
    pub(crate) total_len: u64,
    pub(crate) header_len: u32,
    pub(crate) creator_pid: u32,
    pub(crate) created_unix_ms: u64,
}

/// Fresh values for a new segment's header (everything but the magic).
pub(crate) struct Fields {
    pub(crate) kind: SegmentKind,
    pub(crate) total_len: u64,
    pub(crate) creator_pid: u32,
    pub(crate) created_unix_ms: u64,
}

/// # Safety
/// `base` must point to a live mapping of at least [`HEADER_LEN`] bytes, aligned to 8.
unsafe fn u32_at<'a>(base: NonNull<u8>, offset: usize) -> &'a AtomicU32 {
    // SAFETY: Delegated to the caller (`offset` + 4 ≤ HEADER_LEN and offset % 4 == 0 by the
    // const asserts above); the bytes are only ever accessed atomically in this crate, and the
    // peer's accesses are in another address space (atomic on the same physical memory).
    unsafe { AtomicU32::from_ptr(base.as_ptr().add(offset).cast()) }
}

/// # Safety
/// Same as [`u32_at`].
unsafe fn u64_at<'a>(base: NonNull<u8>, offset: usize) -> &'a AtomicU64 {
    // SAFETY: Delegated to the caller (`offset` + 8 ≤ HEADER_LEN and offset % 8 == 0 by the
    // const asserts above); see `u32_at`.
    unsafe { AtomicU64::from_ptr(base.as_ptr().add(offset).cast()) }
}

/// Writes every header field except the magic, which stays 0 until [`publish`].
///
/// # Safety
/// `base` must point to a live, writable mapping of at least [`HEADER_LEN`] bytes, aligned to
/// 8 (a page start).
pub(crate) unsafe fn write(base: NonNull<u8>, fields: &Fields) {
    // ORDERING (both closures): Relaxed; these stores are published by the Release store of
    // the magic in `publish`, which pairs with the Acquire load in `read`.
    let store_u32 = |offset: usize, value: u32| {
        // SAFETY: Delegated to the caller of `write`; `offset` is a header field's offset.
        unsafe { u32_at(base, offset) }.store(value.to_le(), Ordering::Relaxed);
    };
    let store_u64 = |offset: usize, value: u64| {
        // SAFETY: Delegated to the caller of `write`; `offset` is a header field's offset.
        unsafe { u64_at(base, offset) }.store(value.to_le(), Ordering::Relaxed);
    };
    store_u32(offset_of!(SegmentHeader, layout_version), LAYOUT_VERSION);
    store_u32(offset_of!(SegmentHeader, kind), fields.kind.0);
    store_u64(offset_of!(SegmentHeader, total_len), fields.total_len);
    store_u32(offset_of!(SegmentHeader, header_len), HEADER_LEN as u32);
    store_u32(offset_of!(SegmentHeader, creator_pid), fields.creator_pid);
    store_u64(offset_of!(SegmentHeader, created_unix_ms), fields.created_unix_ms);
}

/// Stores the magic: from now on openers accept the segment.
///
/// # Safety
/// As for [`write()`].
pub(crate) unsafe fn publish(base: NonNull<u8>) {
    // SAFETY: Delegated to the caller.
    let magic = unsafe { u64_at(base, offset_of!(SegmentHeader, magic)) };
    // ORDERING: Release publishes the header fields stored by `write` and every payload write
    // the creator made before `publish`; pairs with the Acquire load of the magic in `read`.
    magic.store(MAGIC.to_le(), Ordering::Release);
}

/// Copies the header once.
///
/// # Safety
/// `base` must point to a live mapping of at least [`HEADER_LEN`] bytes, aligned to 8.
pub(crate) unsafe fn read(base: NonNull<u8>) -> Snapshot {
    // SAFETY: Delegated to the caller.
    let magic = unsafe { u64_at(base, offset_of!(SegmentHeader, magic)) };
    // ORDERING: Acquire pairs with the Release store in `publish`: once we see the magic, the
    // creator's header (and payload) writes before it are visible to the loads below.
    let magic = u64::from_le(magic.load(Ordering::Acquire));
    // ORDERING (both closures): Relaxed; ordered after the Acquire load of the magic above.
    let load_u32 = |offset: usize| {
        // SAFETY: Delegated to the caller of `read`; `offset` is a header field's offset.
        u32::from_le(unsafe { u32_at(base, offset) }.load(Ordering::Relaxed))
    };
    let load_u64 = |offset: usize| {
        // SAFETY: Delegated to the caller of `read`; `offset` is a header field's offset.
        u64::from_le(unsafe { u64_at(base, offset) }.load(Ordering::Relaxed))
    };
    snapshot(magic, load_u32, load_u64)
}

/// The header's fields after `magic`, each read once through `u32_at` / `u64_at` (by offset).
fn snapshot(magic: u64, u32_at: impl Fn(usize) -> u32, u64_at: impl Fn(usize) -> u64) -> Snapshot {
    Snapshot {
        magic,
        layout_version: u32_at(offset_of!(SegmentHeader, layout_version)),
        kind: u32_at(offset_of!(SegmentHeader, kind)),
        total_len: u64_at(offset_of!(SegmentHeader, total_len)),
        header_len: u32_at(offset_of!(SegmentHeader, header_len)),
        creator_pid: u32_at(offset_of!(SegmentHeader, creator_pid)),
        created_unix_ms: u64_at(offset_of!(SegmentHeader, created_unix_ms)),
    }
}

/// Decodes a header copied out of an object without mapping it (`pread`), for listing named
/// segments: a truncated object then fails the read instead of faulting.
#[cfg(target_os = "linux")]
pub(crate) fn decode(bytes: &[u8; HEADER_LEN]) -> Snapshot {
    let u32_at =
        |offset: usize| u32::from_le_bytes([bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]]);
    let u64_at = |offset: usize| u64::from(u32_at(offset)) | u64::from(u32_at(offset + 4)) << 32;
    snapshot(u64_at(offset_of!(SegmentHeader, magic)), u32_at, u64_at)
}

impl Snapshot {
    /// Checks, in this order: magic (0 → `NotYetInitialized`), layout version, header length,
    /// total length against the mapped size (`len_matches`, exact except where the OS rounds
    /// sizes to pages), kind. Returns the validated `total_len`.
    pub(crate) fn validate(
        &self,
        mapped_len: usize,
        expected: SegmentKind,
        len_matches: fn(u64, u64) -> bool,
    ) -> Result<usize, OpenError> {
        if self.magic == 0 {
            return Err(OpenError::NotYetInitialized);
        }
        if self.magic != MAGIC {
            return Err(OpenError::BadMagic(self.magic));
        }
        if self.layout_version != LAYOUT_VERSION {
            return Err(OpenError::VersionMismatch { found: self.layout_version, expected: LAYOUT_VERSION });
        }
        if self.header_len as usize != HEADER_LEN {
            return Err(OpenError::SizeMismatch { header: u64::from(self.header_len), actual: HEADER_LEN as u64 });
        }
        let mismatch = OpenError::SizeMismatch { header: self.total_len, actual: mapped_len as u64 };
        if self.total_len < HEADER_LEN as u64 || !len_matches(self.total_len, mapped_len as u64) {
            return Err(mismatch);
        }
        // `total_len` ≤ the mapped length (guaranteed by every `len_matches`), so it fits.
        let total_len = usize::try_from(self.total_len).map_err(|_| mismatch)?;
        if self.kind != expected.0 {
            return Err(OpenError::KindMismatch { found: self.kind, expected: expected.0 });
        }
        Ok(total_len)
    }
}
