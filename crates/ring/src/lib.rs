//! A lock-free single-producer single-consumer ring of variable-length records that lives in
//! shared memory and survives a hostile peer.
//!
//! Records are contiguous byte slices (a record never wraps; a pad marker skips to the start),
//! so both ends can work in place: [`Producer::reserve`] / [`WriteSlot::commit`] and
//! [`Consumer::peek`] / [`Consumer::release`], beside the copying [`Producer::push`] /
//! [`Consumer::pop_into`] and the batch forms [`Producer::push_batch`] /
//! [`Consumer::pop_batch`]. Nothing here blocks or makes a system call; waiting belongs to the
//! caller (`shmring-wait`, composed by `shmring-channel`).
//!
//! ```
//! let (mut producer, mut consumer) = shmring_ring::with_capacity(4096);
//! producer.push(b"first").unwrap();
//! producer.push_batch(&[&b"second"[..], b"third"]).unwrap();
//! let mut buf = [0u8; 64];
//! let n = consumer.pop_into(&mut buf).unwrap().unwrap();
//! assert_eq!(&buf[..n], b"first");
//! let mut rest = Vec::new();
//! consumer.pop_batch(usize::MAX, |record| rest.push(record.to_vec())).unwrap();
//! assert_eq!(rest, [&b"second"[..], b"third"]);
//! ```
//!
//! # The peer is untrusted
//! In shared memory the other end is another process. Every value it writes (its counter,
//! record headers, pad markers) is read once, validated and only then used; a violation is
//! [`Corrupt`] (sticky), never a panic or an out-of-bounds access. No reference to plain
//! bytes of the shared memory is formed, except through the `unsafe` zero-copy slices whose
//! contracts say so.
//!
//! # API map
//! * Layout: [`total_len`], [`init`], [`layout`] constants; memory: [`Region`].
//! * Writing: [`Producer`] — `push`, `stage` + `publish`, `push_batch`, `reserve` → [`WriteSlot`].
//! * Reading: [`Consumer`] — `pop`, `pop_into`, `pop_batch`, `peek` → [`Record`], `release`,
//!   `consume` + `publish`.
//! * Errors: [`PushError`], [`PopError`], [`AttachError`], [`Corrupt`].
//!
//! The byte layout is in `layout.rs` and `record.rs`, and normatively in docs/LAYOUT.md.

pub mod layout;
pub mod record;

mod consumer;
mod error;
mod producer;
mod region;
mod ring;

pub use consumer::{Consumer, Record};
pub use error::{AttachError, Corrupt, PopError, PushError};
pub use layout::{is_valid_capacity, total_len};
pub use producer::{Producer, WriteSlot};
pub use region::{Owner, Region};
pub use ring::{has_unreleased, init, released, with_capacity};
