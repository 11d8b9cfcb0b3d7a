//! The atomics this crate uses: `std`'s, or loom's under `cfg(loom)` so the park/notify
//! protocol in `park.rs` can be model-checked (see `tests/loom.rs`).
//!
//! * [`AtomicU32`]: the shared word type that [`Word`](crate::Word) borrows.
//! * `fence`: the `SeqCst` fences of the protocol.
//! * `Ordering` is always `std`'s (loom reuses it).

#[cfg(loom)]
pub use loom::sync::atomic::AtomicU32;
#[cfg(not(loom))]
pub use std::sync::atomic::AtomicU32;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::fence;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::fence;

pub(crate) use std::sync::atomic::Ordering;
