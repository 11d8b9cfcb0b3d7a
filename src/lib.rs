//! The Node.js addon of shmring, compiled by napi-rs: `#[napi]` classes that hold a core
//! handle from `shmring-channel`, convert values and map errors. No algorithm lives here.
//!
//! * `channel.rs` — `NativeChannel`, one side of a channel: creation, doorbells, closing.
//! * `fast.rs` — the per-message and packed calls (`channelTrySend`, `channelTryRecv`,
//!   `channelRecvInto`, `channelTrySendPacked`, `channelRecvPacked`) as raw Node-API callbacks,
//!   typed in `fast.d.ts`: napi-rs's argument machinery costs more than a small message.
//! * `data.rs` — the batch data path (`channelTrySendBatch`, `channelTryRecvBatch`) and the
//!   packed cores: free functions on a channel handle (class methods are too slow per message).
//! * `table.rs` — this thread's channels by handle.
//! * `doorbell.rs` — the native waiter thread that rings JavaScript when data or room appears.
//! * `loop_bell.rs` — Linux: the data doorbell run by the event loop itself (io_uring
//!   `FUTEX_WAIT` polled by libuv), one wake-up instead of the thread's two.
//! * `error.rs` — the only place core errors become JavaScript errors with `ERR_SHMRING_*` codes.
//! * `info.rs` — `nativeInfo()`: backends, live OS probes and limits for `npx shmring doctor`.
//! * `leftover.rs` — `namedSegments()`, `removeLeftoverSegment()`: `npx shmring ls` / `clean`.
//! * `server.rs` — `NativeServer`, `NativeConnection`: the server rendezvous (`listen`/`connect`).
//!
//! `index.js` and `index.d.ts` are generated from these files by `napi build`; the idiomatic
//! API (events, promises, streams) is the TypeScript layer in `lib/`.

mod channel;
pub mod data;
mod doorbell;
mod error;
pub mod fast;
pub mod info;
pub mod leftover;
#[cfg(target_os = "linux")]
mod loop_bell;
pub mod server;
mod table;

pub use channel::{NativeChannel, NativeChannelOptions};
