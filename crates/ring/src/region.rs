//! The memory a ring lives in, and the only code that touches it.
//!
//! * [`Region`] is a pointer + length (+ an optional owner that keeps the memory alive). The
//!   memory may be a shared mapping that another, untrusted process writes at any time, so this
//!   module never forms a Rust reference to plain bytes in it: counters are accessed as atomics,
//!   record headers with single atomic loads, payloads with raw-pointer copies.
//! * Under `cfg(loom)` the same methods run over loom atomics (data as 64-bit words written with
//!   `Relaxed` stores), so the model checker sees every access the ring makes and finds a
//!   missing `Release`/`Acquire` as stale data.
//!
//! Payload copies from memory the peer may be writing concurrently can yield torn bytes; that
//! is an application-level corruption (callers checksum if they care), never a memory-safety
//! issue for us: the length that bounds the copy was validated first and lives in a local.

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};

#[cfg(not(loom))]
use crate::layout::REGION_ALIGN;
use crate::layout::{HEADER_LEN, HEAD_OFFSET, TAIL_OFFSET};
#[cfg(not(loom))]
use core::ptr::NonNull;
use std::sync::Arc;

/// Something that keeps a region's memory alive (a mapping, a heap buffer).
pub type Owner = Arc<dyn Send + Sync>;

/// Memory holding one ring: header plus data area.
#[cfg(not(loom))]
#[derive(Clone)]
pub struct Region {
    base: NonNull<u8>,
    len: usize,
    _owner: Option<Owner>,
}

#[cfg(not(loom))]
// SAFETY: `Region` is a pointer to memory that is only accessed through atomics and raw copies
// (see the module doc); `Region::new`'s contract makes the memory valid for as long as the
// region lives, from any thread.
unsafe impl Send for Region {}
#[cfg(not(loom))]
// SAFETY: as for `Send`: no method hands out references to the plain bytes.
unsafe impl Sync for Region {}

#[cfg(not(loom))]
impl Region {
    /// Wraps `len` bytes at `base`.
    ///
    /// # Safety
    /// `base` must be aligned to 128 bytes and valid for reads and writes of `len` bytes until
    /// the last clone of this region is dropped: either `owner` keeps the memory alive, or the
    /// caller guarantees it some other way. Other processes may read and write the memory at
    /// any time; nothing else in *this* process may create references to it.
    pub unsafe fn new(base: NonNull<u8>, len: usize, owner: Option<Owner>) -> Region {
        debug_assert!(base.as_ptr() as usize % REGION_ALIGN == 0);
        Region { base, len, _owner: owner }
    }

    /// A zeroed heap allocation of `len` bytes, 128-aligned; for rings inside one process and tests.
    ///
    /// Any `len` is accepted, like [`new`](Self::new): a region too short for a ring is refused
    /// by [`init`](crate::init) and attach (`RegionTooSmall`), and one shorter than the ring
    /// header reads as "no ring" to [`has_unreleased`](crate::has_unreleased) and
    /// [`released`](crate::released). Every header access checks the length first.
    pub fn heap(len: usize) -> Region {
        struct Heap(NonNull<u8>, std::alloc::Layout);
        // SAFETY: the allocation is plain memory with no thread affinity.
        unsafe impl Send for Heap {}
        // SAFETY: `Heap` itself exposes nothing; access goes through `Region`.
        unsafe impl Sync for Heap {}
        impl Drop for Heap {
            fn drop(&mut self) {
                // SAFETY: allocated below with exactly this layout, freed once (last Arc).
                unsafe { std::alloc::dealloc(self.0.as_ptr(), self.1) }
            }
        }
        let layout = std::alloc::Layout::from_size_align(len.max(1), REGION_ALIGN).expect("heap region layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let base = NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        let owner: Owner = Arc::new(Heap(base, layout));
        // SAFETY: fresh 128-aligned allocation of `len` bytes, kept alive by `owner`.
        unsafe { Region::new(base, len, Some(owner)) }
    }

    /// Length of the region in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Start of the region.
    pub fn as_ptr(&self) -> NonNull<u8> {
        self.base
    }

    /// The atomic word at byte `offset` of the region.
    ///
    /// # Safety
    /// `offset % 8 == 0` and `offset + 8 <= self.len()`. Not checked in release builds: the
    /// callers pass fixed header offsets after checking `len() >= HEADER_LEN`.
    unsafe fn atomic_u64(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset % 8 == 0 && offset + 8 <= self.len);
        // SAFETY: `offset + 8 <= len` (this function's contract), so the pointer stays inside
        // the region.
        let ptr = unsafe { self.base.as_ptr().add(offset) };
        // SAFETY: `base` is 128-aligned (`new`'s contract) so `ptr` is 8-aligned, and `new`'s
        // contract keeps the memory valid for `&self`. Every access to these words, from either
        // process, is atomic, so the reference never aliases plain accesses; any bit pattern is
        // a valid `u64`.
        unsafe { &*ptr.cast::<AtomicU64>() }
    }

    /// The producer's `tail` counter.
    ///
    /// # Safety
    /// `self.len() >= HEADER_LEN`.
    pub(crate) unsafe fn tail(&self) -> &AtomicU64 {
        // SAFETY: `TAIL_OFFSET` is 8-aligned and `TAIL_OFFSET + 8 <= HEADER_LEN <= len` (layout
        // asserts; the caller's contract).
        unsafe { self.atomic_u64(TAIL_OFFSET) }
    }

    /// The consumer's `head` counter.
    ///
    /// # Safety
    /// `self.len() >= HEADER_LEN`.
    pub(crate) unsafe fn head(&self) -> &AtomicU64 {
        // SAFETY: `HEAD_OFFSET` is 8-aligned and `HEAD_OFFSET + 8 <= HEADER_LEN <= len` (layout
        // asserts; the caller's contract).
        unsafe { self.atomic_u64(HEAD_OFFSET) }
    }

    /// Atomic word at byte offset `offset` of the header (magic, capacity).
    ///
    /// # Safety
    /// `self.len() >= HEADER_LEN`, and `offset` is 8-aligned with `offset + 8 <= HEADER_LEN`.
    pub(crate) unsafe fn header_word(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: `offset + 8 <= HEADER_LEN <= len` and alignment: the caller's contract.
        unsafe { self.atomic_u64(offset) }
    }

    /// Pointer to byte `pos` of the data area.
    #[inline]
    pub(crate) fn data_ptr(&self, pos: usize) -> *mut u8 {
        debug_assert!(HEADER_LEN + pos <= self.len);
        // SAFETY: callers pass `pos <= capacity`, and `check_len` in `ring::attach_counters`
        // verified `HEADER_LEN + capacity <= len`, so the result stays within (or one past)
        // the region.
        unsafe { self.base.as_ptr().add(HEADER_LEN + pos) }
    }

    /// Loads the record header word at data offset `pos` (8-aligned, `pos + 8 <= capacity`).
    ///
    /// The consumer passes `Acquire` for the word at its read position (a non-zero header there
    /// is what publishes a record; see `Producer::publish`).
    #[inline]
    pub(crate) fn load_word(&self, pos: usize, order: Ordering) -> u64 {
        // SAFETY: `pos` is 8-aligned and `pos + 8 <= capacity` (record positions are masked
        // counters, and counters are validated multiples of 8), inside the region per
        // `data_ptr`. An atomic load because the peer may write this word concurrently.
        let word = unsafe { &*self.data_ptr(pos).cast::<AtomicU64>() };
        u64::from_le(word.load(order))
    }

    /// Stores a record header word (or the zero "nothing yet" word) at data offset `pos`.
    ///
    /// The producer passes `Release` for the first header of a batch, which publishes the
    /// batch, and `Relaxed` for everything written before it.
    #[inline]
    pub(crate) fn store_word(&self, pos: usize, value: u64, order: Ordering) {
        // SAFETY: as in `load_word`; the producer only writes space it validated as free.
        let word = unsafe { &*self.data_ptr(pos).cast::<AtomicU64>() };
        word.store(value.to_le(), order);
    }

    /// Asks the CPU to bring the cache line holding data offset `pos` (`<= capacity`) into
    /// this core's cache. A hint only: no load happens in the memory model's sense. On
    /// x86-64 only, where it was measured; elsewhere it does nothing.
    #[inline]
    pub(crate) fn prefetch(&self, pos: usize) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 CPU has (it is in the target's
        // baseline). It is only a hint: it cannot fault or change memory, whatever the
        // address, and `data_ptr` keeps it inside the region anyway.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(self.data_ptr(pos).cast::<i8>())
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = pos;
    }

    /// Copies `src` into the data area at `pos`.
    #[inline]
    pub(crate) fn copy_in(&self, pos: usize, src: &[u8]) {
        // SAFETY: the producer reserved `pos..pos + src.len()` inside the data area (checked
        // in `Producer::reserve`); `src` is our own memory, so the ranges cannot overlap.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), self.data_ptr(pos), src.len()) }
    }

    /// Copies bytes `pos..pos + dst.len()` of the data area into `dst`.
    #[inline]
    pub(crate) fn copy_out(&self, pos: usize, dst: &mut [u8]) {
        // SAFETY: `record::parse` validated that the record lies inside the data area; `dst` is
        // our own memory. The peer may scribble concurrently: we get torn bytes, not UB for any
        // value we rely on (see the module doc).
        unsafe { core::ptr::copy_nonoverlapping(self.data_ptr(pos), dst.as_mut_ptr(), dst.len()) }
    }
}

/// Loom stand-in: header counters and the data area as loom atomics.
#[cfg(loom)]
#[derive(Clone)]
pub struct Region {
    inner: Arc<LoomMemory>,
}

#[cfg(loom)]
struct LoomMemory {
    header: Vec<AtomicU64>,
    data: Vec<AtomicU64>,
}

#[cfg(loom)]
impl Region {
    /// A zeroed region of `len` bytes.
    pub fn heap(len: usize) -> Region {
        let words = |n: usize| (0..n / 8).map(|_| AtomicU64::new(0)).collect();
        Region { inner: Arc::new(LoomMemory { header: words(HEADER_LEN), data: words(len - HEADER_LEN) }) }
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        HEADER_LEN + self.inner.data.len() * 8
    }
    /// Whether the region has no bytes.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// As the non-loom `tail`; `unsafe` only to keep the call sites identical.
    ///
    /// # Safety
    /// None here (bounds-checked indexing).
    pub(crate) unsafe fn tail(&self) -> &AtomicU64 {
        &self.inner.header[TAIL_OFFSET / 8]
    }
    /// As the non-loom `head`.
    ///
    /// # Safety
    /// None here (bounds-checked indexing).
    pub(crate) unsafe fn head(&self) -> &AtomicU64 {
        &self.inner.header[HEAD_OFFSET / 8]
    }
    /// As the non-loom `header_word`.
    ///
    /// # Safety
    /// None here (bounds-checked indexing).
    pub(crate) unsafe fn header_word(&self, offset: usize) -> &AtomicU64 {
        &self.inner.header[offset / 8]
    }
    pub(crate) fn load_word(&self, pos: usize, order: Ordering) -> u64 {
        self.inner.data[pos / 8].load(order)
    }
    pub(crate) fn store_word(&self, pos: usize, value: u64, order: Ordering) {
        self.inner.data[pos / 8].store(value, order)
    }
    pub(crate) fn copy_in(&self, pos: usize, src: &[u8]) {
        for (i, chunk) in src.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.store_word(pos + i * 8, u64::from_le_bytes(word), Ordering::Relaxed);
        }
    }
    pub(crate) fn prefetch(&self, _pos: usize) {}
    pub(crate) fn copy_out(&self, pos: usize, dst: &mut [u8]) {
        for (i, chunk) in dst.chunks_mut(8).enumerate() {
            let word = self.load_word(pos + i * 8, Ordering::Relaxed).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}
