//! The Node.js addon of shmring, compiled by napi-rs: `#[napi]` classes that hold a core
//! handle from `shmring-channel`, convert values and map errors. No algorithm lives here.
//!
//! * `channel.rs` — `NativeChannel`, one side of a channel.
//! * `doorbell.rs` — the native waiter thread that rings JavaScript when data or room appears.
//! * `error.rs` — the only place core errors become JavaScript errors with `ERR_SHMRING_*` codes.
//!
//! `index.js` and `index.d.ts` are generated from these files by `napi build`; the idiomatic
//! API (events, promises, streams) is the TypeScript layer in `lib/`.

mod channel;
mod doorbell;
mod error;

pub use channel::{NativeChannel, NativeChannelOptions};
