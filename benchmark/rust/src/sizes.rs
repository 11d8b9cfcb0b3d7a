//! The size sweep (`--only sizes`, `--sizes LIST`): for each message size, the shmring round
//! trip with both sides spinning (`try_send` / `try_recv_into` in a busy loop) and a one-way
//! stream, with the CPU time of both processes per message. It is the Rust↔Rust ceiling row of
//! `npx shmring bench`, which runs this with its own sizes, runs, sample budget and duration
//! and the same rules: up to `min(2000, samples / 10)` warm-up round trips, then timed ones until
//! `--samples` or `--duration` is reached; the stream is timed for `--duration` after a tenth of
//! it, in batches of at most 256 messages or 256 KiB.
//!
//! Messages of any size ≥ 1 byte are stamped: `wire` stamps from 32 bytes; below that the
//! sequence number's low bytes lead the message and, from 16 bytes, its complement ends it.

use std::time::{Duration, Instant};

use shmring_channel::{Channel, ChannelError, ChannelOptions, Priority, Readiness, Spinner};

use crate::cli::Options;
use crate::link::{self, Params, Role};
use crate::report::Results;
use crate::roundtrip::{relax, ParentWatch};
use crate::stats::{percentiles, Usage};
use crate::wire;
use crate::Result;

/// The sizes of `npx shmring bench`: 1 B, 64 B, 1 KiB, 4 KiB, 64 KiB, 1 MiB.
pub const DEFAULT_SIZES: [usize; 6] = [1, 64, 1 << 10, 4 << 10, 64 << 10, 1 << 20];
/// Largest size accepted (fits the lane below several times over).
pub const MAX_SIZE: usize = 4 << 20;
/// Lane size of the sweep's channels (as in `npx shmring bench`).
const CAPACITY: usize = 8 << 20;
const BATCH_BYTES: usize = 256 << 10;
const MAX_BATCH: usize = 256;
const MAX_WARMUP: usize = 2000;

/// Messages per one-way batch: the same rule as `npx shmring bench`.
fn batch_count(size: usize) -> usize {
    (BATCH_BYTES / size).clamp(1, MAX_BATCH)
}

fn warmup_count(options: &Options) -> usize {
    MAX_WARMUP.min(options.samples.div_ceil(10))
}

/// Stamps message `seq` into `msg` (made by [`message`]).
fn stamp(msg: &mut [u8], seq: u64) {
    let n = msg.len();
    if n >= 32 {
        return wire::stamp(msg, seq);
    }
    let k = n.min(8);
    msg[..k].copy_from_slice(&seq.to_le_bytes()[..k]);
    if n >= 16 {
        msg[n - 8..].copy_from_slice(&(!seq).to_le_bytes());
    }
}

/// Checks that `msg` is message `seq` of `len` bytes.
fn check(msg: &[u8], seq: u64, len: usize) -> std::result::Result<(), String> {
    if msg.len() != len {
        return Err(format!("message {seq}: {} bytes, expected {len}", msg.len()));
    }
    if len >= 32 {
        return wire::check(msg, seq, len);
    }
    let k = len.min(8);
    let tail_ok = len < 16 || msg[len - 8..] == (!seq).to_le_bytes();
    if msg[..k] != seq.to_le_bytes()[..k] || !tail_ok {
        return Err(format!("message {seq} of {len} bytes: wrong stamp"));
    }
    Ok(())
}

fn message(size: usize) -> Vec<u8> {
    if size >= 32 {
        wire::message(size)
    } else {
        vec![0x5a; size]
    }
}

/// Measures every size once (one run) and adds the figures to `results`.
pub fn run(options: &Options, results: &mut Results) -> Result<()> {
    for &size in options.sizes.as_deref().unwrap_or(&DEFAULT_SIZES) {
        round_trip(size, options, results)?;
        one_way(size, options, results)?;
    }
    Ok(())
}

fn channel_options() -> ChannelOptions {
    ChannelOptions { capacity: CAPACITY, ..ChannelOptions::default() }
}

fn round_trip(size: usize, options: &Options, results: &mut Results) -> Result<()> {
    let warmup = warmup_count(options);
    let args = [format!("size={size}"), format!("warmup={warmup}")];
    let (mut channel, child) = link::spawn_channel(Role::SizesEcho, &channel_options(), &args, options)?;
    let mut ping = message(size);
    let mut pong = vec![0u8; size];
    let mut round_trip = |seq: u64| -> Result<u64> {
        stamp(&mut ping, seq);
        let start = Instant::now();
        while !channel.try_send(&ping)? {
            relax();
        }
        let len = loop {
            if let Some(len) = channel.try_recv_into(&mut pong)? {
                break len;
            }
            relax();
        };
        let ns = start.elapsed().as_nanos() as u64;
        check(&pong[..len], seq, size)?;
        Ok(ns)
    };
    let warmup_end = Instant::now() + options.duration / 10;
    let mut seq = 0u64;
    // The warm-up count is fixed (the child starts its CPU clock after it); the time cap only
    // shortens it for slow sizes, and the child is told nothing: it then counts a few timed
    // round trips as warm-up, which only lowers its CPU figure by those few.
    while (seq as usize) < warmup && Instant::now() < warmup_end {
        round_trip(seq)?;
        seq += 1;
    }
    let before = Usage::now();
    let end = Instant::now() + options.duration;
    let mut samples = Vec::with_capacity(options.samples.min(1 << 20));
    while samples.len() < options.samples && (samples.is_empty() || Instant::now() < end) {
        samples.push(round_trip(seq)?);
        seq += 1;
    }
    let usage = Usage::now().since(before);
    channel.close();
    let child = child.finish()?;
    let n = samples.len() as f64;
    let p = percentiles(&mut samples);
    let key = format!("sizes.{size}.rt");
    results.add(&format!("{key}.p50"), "ns", p.p50);
    results.add(&format!("{key}.p99"), "ns", p.p99);
    results.add(&format!("{key}.p999"), "ns", p.p999);
    results.add(&format!("{key}.samples"), "round trips", n);
    results.add(&format!("{key}.cpu_ns"), "ns per round trip", (usage.cpu_ns as f64 + child.get("cpu_ns")?) / n);
    Ok(())
}

/// Child: echoes every message in a busy loop; reports its CPU time after the first `warmup`.
pub fn echo(mut channel: Channel, params: &Params<'_>) -> Result<()> {
    let size: usize = params.get("size")?;
    let warmup: u64 = params.get("warmup")?;
    let mut watch = ParentWatch::new();
    let mut buf = vec![0u8; size];
    let mut echoed = 0u64;
    let mut before = Usage::now();
    loop {
        match channel.try_recv_into(&mut buf) {
            Ok(Some(len)) => {
                if echoed == warmup {
                    before = Usage::now();
                }
                while !channel.try_send(&buf[..len])? {
                    relax();
                }
                echoed += 1;
            }
            Ok(None) if watch.gone() => return Err("parent exited".into()),
            Ok(None) => relax(),
            Err(ChannelError::PeerClosed) => break,
            Err(e) => return Err(e.into()),
        }
    }
    link::report(&[("echoed", echoed as f64), ("cpu_ns", Usage::now().since(before).cpu_ns as f64)]);
    Ok(())
}

fn one_way(size: usize, options: &Options, results: &mut Results) -> Result<()> {
    let warmup = options.duration / 10;
    let args = [format!("size={size}"), format!("warmup_ns={}", warmup.as_nanos())];
    let (mut channel, child) = link::spawn_channel(Role::SizesSink, &channel_options(), &args, options)?;
    let count = batch_count(size);
    let mut batch: Vec<Vec<u8>> = (0..count).map(|_| message(size)).collect();
    let room = channel.room_watch();
    let mut spinner = Spinner::new();
    let start = Instant::now();
    let (timed, end) = (start + warmup, start + warmup + options.duration);
    let mut before: Option<Usage> = None;
    let mut seq = 0u64;
    loop {
        for (i, m) in batch.iter_mut().enumerate() {
            stamp(m, seq + i as u64);
        }
        let mut sent = 0;
        while sent < count {
            let since = room.snapshot();
            let more = channel.try_send_batch(&batch[sent..], Priority::Normal)?;
            if more == 0 && room.wait(since, &mut spinner, None)? == Readiness::Ended {
                return Err("the consumer went away".into());
            }
            sent += more;
        }
        seq += count as u64;
        let now = Instant::now();
        if before.is_none() && now >= timed {
            before = Some(Usage::now());
        }
        if now >= end {
            break;
        }
    }
    channel.close();
    let usage = Usage::now().since(before.unwrap_or_else(Usage::now));
    let r = child.finish()?;
    let total = r.get("total")? as u64;
    if total != seq {
        return Err(format!("{size} B stream: sent {seq} messages, the child received {total}").into());
    }
    let counted = r.get("counted")?;
    let key = format!("sizes.{size}.oneway");
    results.add(&key, "msg/s", counted / (r.get("ns")? / 1e9));
    results.add(
        &format!("{key}.cpu_ns"),
        "ns per message",
        (usage.cpu_ns as f64 + r.get("cpu_ns")?) / counted.max(1.0),
    );
    Ok(())
}

/// Child: drains `size`-byte messages into its own buffer with `try_recv_into`, checking each;
/// times itself (and its CPU) from the first message `warmup_ns` after the first one.
pub fn sink(mut channel: Channel, params: &Params<'_>) -> Result<()> {
    let size: usize = params.get("size")?;
    let warmup = Duration::from_nanos(params.get("warmup_ns")?);
    let mut buf = vec![0u8; size];
    let mut received = 0u64;
    let mut first: Option<Instant> = None;
    let mut start: Option<(Instant, u64, Usage)> = None;
    loop {
        match channel.try_recv_into(&mut buf) {
            Ok(Some(len)) => {
                check(&buf[..len], received, size)?;
                received += 1;
                if start.is_none() {
                    let now = Instant::now();
                    if now - *first.get_or_insert(now) >= warmup {
                        start = Some((now, received, Usage::now()));
                    }
                }
            }
            Ok(None) => {
                channel.wait_readable(None)?;
            }
            Err(ChannelError::PeerClosed) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let (start, base, before) = start.ok_or("the stream ended during its warm-up")?;
    link::report(&[
        ("total", received as f64),
        ("counted", (received - base) as f64),
        ("ns", start.elapsed().as_nanos() as f64),
        ("cpu_ns", Usage::now().since(before).cpu_ns as f64),
    ]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_of_every_size_are_checked() {
        for size in [1, 5, 8, 15, 16, 23, 24, 31, 32, 64, 4096] {
            let mut m = message(size);
            stamp(&mut m, 300);
            assert_eq!(check(&m, 300, size), Ok(()), "size {size}");
            assert!(check(&m, 301, size).is_err(), "size {size}: another sequence number passes");
            assert!(check(&m[..size - 1], 300, size).is_err(), "size {size}: a short message passes");
        }
    }

    #[test]
    fn batches_hold_at_most_256_messages_or_256_kib() {
        assert_eq!(batch_count(1), 256);
        assert_eq!(batch_count(4096), 64);
        assert_eq!(batch_count(1 << 20), 1);
    }
}
