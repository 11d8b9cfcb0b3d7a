//! The Node.js addon of shmring, compiled by napi-rs: `#[napi]` classes that hold a core
//! handle from `shmring-channel`, convert values and map errors. No algorithm lives here.
//!
//! * `channel.rs` — `NativeChannel`, one side of a channel: creation, doorbells, closing.
//! * `data.rs` — the data path (`channelTrySend`, `channelTryRecv`, …): free functions on a
//!   channel handle, because class methods are too slow to call once per message.
//! * `table.rs` — this thread's channels by handle.
//! * `doorbell.rs` — the native waiter thread that rings JavaScript when data or room appears.
//! * `error.rs` — the only place core errors become JavaScript errors with `ERR_SHMRING_*` codes.
//!
//! `index.js` and `index.d.ts` are generated from these files by `napi build`; the idiomatic
//! API (events, promises, streams) is the TypeScript layer in `lib/`.

mod channel;
pub mod data;
mod doorbell;
mod error;
mod table;

pub use channel::{NativeChannel, NativeChannelOptions};
