//! 64 B round trips: the parent stamps a message, starts an `Instant`, sends it, waits for the
//! child's echo, stops the clock and then checks the echo's stamps. Every variant runs the
//! same `--warmup` untimed and `--samples` timed round trips through [`measure`].
//!
//! | variant        | both receivers wait by                                              |
//! |----------------|---------------------------------------------------------------------|
//! | `floor`        | spinning on an `AtomicU64` in a shared segment (no ring, no payload) |
//! | `floor_data`   | the same, plus a 64 B message on another line read after the word (a ring's pattern) |
//! | `ring`         | `Consumer::pop_into` in a busy loop on two bare `shmring_ring` rings (no channel) |
//! | `shm_spin`     | `try_recv_into` in a busy loop                                       |
//! | `shm_adaptive` | `recv` (spins ≤ 20 µs adaptively, then sleeps on the futex)         |
//! | `shm_forced`   | `DataWatch::wait(Spinner::never())` then `try_recv_into`: futex sleep whenever nothing is waiting |
//! | `uds`          | blocking `read` on a `UnixStream` (a non-blocking spin would be unfair to the socket: every poll is a system call) |

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::time::Instant;

use shmring_channel::{Channel, ChannelError, ChannelOptions, Readiness, Spinner};

use crate::cli::Options;
use crate::link::{self, Floor, Role};
use crate::report::Results;
use crate::stats::{percentiles, Usage};
use crate::wire::{self, SMALL};
use crate::Result;

/// Measures every round-trip variant once and adds its figures to `results`.
pub fn run_all(options: &Options, results: &mut Results) -> Result<()> {
    if options.wants_rt("floor") {
        floor(false, options, results)?;
        floor(true, options, results)?;
    }
    if options.wants_rt("ring") {
        ring(options, results)?;
    }
    for (name, role, variant) in [
        ("spin", Role::SpinEcho, "shm_spin"),
        ("adaptive", Role::AdaptiveEcho, "shm_adaptive"),
        ("forced", Role::ForcedSleepEcho, "shm_forced"),
    ] {
        if options.wants_rt(name) {
            shm(role, variant, options, results)?;
        }
    }
    if options.wants_rt("uds") {
        uds(options, results)?;
    }
    Ok(())
}

fn floor(data: bool, options: &Options, results: &mut Results) -> Result<()> {
    let role = if data { Role::FloorDataEcho } else { Role::FloorEcho };
    let (floor, child) = link::spawn_floor(role, options)?;
    let measured = measure(options, data, |ping, pong| {
        let value = u64::from_le_bytes(ping[..8].try_into().expect("8 bytes")) + 1;
        if data {
            floor.write_message(0, ping);
        }
        // ORDERING: Release/Acquire pair with the child's Acquire load of `ping` and Release
        // store of `pong` in `floor_echo`: they order the message areas' contents (plain moves
        // on x86 either way).
        floor.ping().store(value, Ordering::Release);
        while floor.pong().load(Ordering::Acquire) != value {
            relax();
        }
        if data {
            floor.read_message(1, pong);
        }
        Ok(())
    })?;
    // ORDERING: Release, as above; u64::MAX tells the child to stop.
    floor.ping().store(u64::MAX, Ordering::Release);
    record(results, if data { "floor_data" } else { "floor" }, &measured, &child.finish()?)
}

fn ring(options: &Options, results: &mut Results) -> Result<()> {
    let (mut rings, child) = link::spawn_rings(Role::RingEcho, options)?;
    let measured = measure(options, true, |ping, pong| {
        while rings.producer.push(ping).is_err() {
            relax();
        }
        loop {
            if let Some(len) = rings.consumer.pop_into(pong)? {
                return expect_small(len);
            }
            relax();
        }
    })?;
    // An empty record tells the child to stop.
    while rings.producer.push(&[]).is_err() {
        relax();
    }
    record(results, "ring", &measured, &child.finish()?)
}

fn shm(role: Role, variant: &str, options: &Options, results: &mut Results) -> Result<()> {
    let channel_options = ChannelOptions { capacity: options.lane, ..ChannelOptions::default() };
    let (mut channel, child) = link::spawn_channel(role, &channel_options, &[], options)?;
    let measured = match role {
        Role::SpinEcho => measure(options, true, |ping, pong| {
            send(&mut channel, ping)?;
            loop {
                if let Some(len) = channel.try_recv_into(pong)? {
                    return expect_small(len);
                }
                relax();
            }
        })?,
        Role::AdaptiveEcho => measure(options, true, |ping, pong| {
            send(&mut channel, ping)?;
            let echo = channel.recv()?;
            expect_small(echo.len())?;
            pong.copy_from_slice(&echo);
            Ok(())
        })?,
        Role::ForcedSleepEcho => {
            let watch = channel.data_watch();
            let mut never = Spinner::never();
            measure(options, true, |ping, pong| {
                send(&mut channel, ping)?;
                loop {
                    if let Some(len) = channel.try_recv_into(pong)? {
                        return expect_small(len);
                    }
                    if watch.wait(&mut never, None)? == Readiness::Cancelled {
                        return Err("data watch cancelled".into());
                    }
                }
            })?
        }
        _ => unreachable!("not a channel echo role"),
    };
    channel.close();
    record(results, variant, &measured, &child.finish()?)
}

fn uds(options: &Options, results: &mut Results) -> Result<()> {
    let (stream, child) = link::spawn_uds(Role::UdsEcho, &[], options)?;
    let measured = measure(options, true, |ping, pong| {
        (&stream).write_all(ping)?;
        (&stream).read_exact(pong)?;
        Ok(())
    })?;
    stream.shutdown(Shutdown::Write)?;
    record(results, "uds", &measured, &child.finish()?)
}

/// One run's timed round trips.
struct Measured {
    samples: Vec<u64>,
    /// The parent's resource usage over the timed round trips.
    usage: Usage,
    /// Mean of a further block of `samples / 10` round trips timed as a whole.
    block_mean_ns: f64,
}

/// Runs `options.warmup` untimed, then `options.samples` timed round trips; `round_trip`
/// sends the stamped ping and fills `pong` with the echo, which is checked after the clock
/// stops when `verify` is set.
fn measure(
    options: &Options,
    verify: bool,
    mut round_trip: impl FnMut(&[u8], &mut [u8]) -> Result<()>,
) -> Result<Measured> {
    let mut ping = wire::message(SMALL);
    let mut pong = vec![0u8; SMALL];
    let mut samples = Vec::with_capacity(options.samples);
    let mut before = Usage::now();
    for seq in 0..(options.warmup + options.samples) as u64 {
        if seq == options.warmup as u64 {
            before = Usage::now();
        }
        wire::stamp(&mut ping, seq);
        let start = Instant::now();
        round_trip(&ping, &mut pong)?;
        let ns = start.elapsed().as_nanos() as u64;
        if seq >= options.warmup as u64 {
            samples.push(ns);
        }
        if verify {
            wire::check(&pong, seq, SMALL)?;
        }
    }
    let usage = Usage::now().since(before);
    // Then one clock read pair around a block of round trips: the mean without the cost of
    // `Instant::now()` in every sample (only the block's last echo is checked).
    let first = (options.warmup + options.samples) as u64;
    let block = (options.samples / 10).max(1) as u64;
    let start = Instant::now();
    for seq in first..first + block {
        wire::stamp(&mut ping, seq);
        round_trip(&ping, &mut pong)?;
    }
    let block_mean_ns = start.elapsed().as_nanos() as f64 / block as f64;
    if verify {
        wire::check(&pong, first + block - 1, SMALL)?;
    }
    Ok(Measured { samples, usage, block_mean_ns })
}

fn record(results: &mut Results, variant: &str, measured: &Measured, child: &link::Results) -> Result<()> {
    let mut samples = measured.samples.clone();
    let n = samples.len() as f64;
    let p = percentiles(&mut samples);
    results.add(&format!("rt.{variant}.p50"), "ns", p.p50);
    results.add(&format!("rt.{variant}.p99"), "ns", p.p99);
    results.add(&format!("rt.{variant}.p999"), "ns", p.p999);
    results.add(&format!("rt.{variant}.block_mean"), "ns", measured.block_mean_ns);
    results.add(&format!("rt.{variant}.parent_sleeps"), "per round trip", measured.usage.voluntary as f64 / n);
    results.add(&format!("rt.{variant}.parent_preempted"), "per round trip", measured.usage.involuntary as f64 / n);
    results.add(&format!("rt.{variant}.parent_faults"), "per round trip", measured.usage.minor_faults as f64 / n);
    let echoed = child.get("echoed")?.max(1.0);
    results.add(&format!("rt.{variant}.child_sleeps"), "per round trip", child.get("voluntary")? / echoed);
    results.add(&format!("rt.{variant}.child_preempted"), "per round trip", child.get("involuntary")? / echoed);
    Ok(())
}

fn expect_small(len: usize) -> Result<()> {
    if len == SMALL {
        Ok(())
    } else {
        Err(format!("echo of {len} bytes, expected {SMALL}").into())
    }
}

/// `try_send` until it fits (one message in flight: it always fits at once).
fn send(channel: &mut Channel, data: &[u8]) -> Result<()> {
    while !channel.try_send(data)? {
        relax();
    }
    Ok(())
}

/// One iteration of a busy-wait loop.
#[inline]
pub fn relax() {
    std::hint::spin_loop();
}

/// Notices that the parent went away (`getppid` changes), checked every 2^16 calls, for the
/// children that spin without ever entering the channel's blocking (liveness-checking) paths.
pub struct ParentWatch {
    parent: libc::pid_t,
    calls: u32,
}

impl ParentWatch {
    pub fn new() -> ParentWatch {
        // SAFETY: getppid has no preconditions and cannot fail.
        ParentWatch { parent: unsafe { libc::getppid() }, calls: 0 }
    }

    /// Whether the parent has exited (cheap: a system call every 65 536 calls).
    #[inline]
    pub fn gone(&mut self) -> bool {
        self.calls = self.calls.wrapping_add(1);
        // SAFETY: as in `new`.
        self.calls % 65_536 == 0 && unsafe { libc::getppid() } != self.parent
    }
}

fn report_echo(echoed: u64) -> Result<()> {
    let usage = Usage::now();
    link::report(&[
        ("echoed", echoed as f64),
        ("voluntary", usage.voluntary as f64),
        ("involuntary", usage.involuntary as f64),
        ("cpu_ns", usage.cpu_ns as f64),
    ]);
    Ok(())
}

/// Child: copies `ping` into `pong` until the parent writes `u64::MAX`; with `data`, first
/// copies the ping message area into the pong area (through a local buffer, as a ring would).
pub fn floor_echo(floor: &Floor, data: bool) -> Result<()> {
    let mut watch = ParentWatch::new();
    let mut buf = [0u8; SMALL];
    let mut last = 0;
    let mut echoed = 0;
    loop {
        // ORDERING: Acquire pairs with the parent's Release store of `ping` (see `floor`), so
        // the ping message area written before it is visible below.
        let value = floor.ping().load(Ordering::Acquire);
        if value == last {
            if watch.gone() {
                return Err("parent exited".into());
            }
            relax();
            continue;
        }
        if value == u64::MAX {
            break;
        }
        if data {
            floor.read_message(0, &mut buf);
            floor.write_message(1, &buf);
        }
        // ORDERING: Release pairs with the parent's Acquire load of `pong` and publishes the
        // pong message area.
        floor.pong().store(value, Ordering::Release);
        last = value;
        echoed += 1;
    }
    report_echo(echoed)
}

/// Child: echoes records between the bare rings until an empty record arrives.
pub fn ring_echo(mut rings: link::RingPair) -> Result<()> {
    let mut watch = ParentWatch::new();
    let mut buf = [0u8; SMALL];
    let mut echoed = 0;
    loop {
        match rings.consumer.pop_into(&mut buf)? {
            Some(0) => break,
            Some(len) => {
                while rings.producer.push(&buf[..len]).is_err() {
                    relax();
                }
                echoed += 1;
            }
            None if watch.gone() => return Err("parent exited".into()),
            None => relax(),
        }
    }
    report_echo(echoed)
}

/// Child: echoes every message, polling with `try_recv_into` in a busy loop.
pub fn spin_echo(mut channel: Channel) -> Result<()> {
    let mut watch = ParentWatch::new();
    let mut buf = [0u8; SMALL];
    let mut echoed = 0;
    loop {
        match channel.try_recv_into(&mut buf) {
            Ok(Some(len)) => {
                send(&mut channel, &buf[..len])?;
                echoed += 1;
            }
            Ok(None) if watch.gone() => return Err("parent exited".into()),
            Ok(None) => relax(),
            Err(ChannelError::PeerClosed) => break,
            Err(e) => return Err(e.into()),
        }
    }
    report_echo(echoed)
}

/// Child: echoes every message received with the blocking `recv`.
pub fn adaptive_echo(mut channel: Channel) -> Result<()> {
    let mut echoed = 0;
    loop {
        match channel.recv() {
            Ok(message) => {
                send(&mut channel, &message)?;
                echoed += 1;
            }
            Err(ChannelError::PeerClosed) => break,
            Err(e) => return Err(e.into()),
        }
    }
    report_echo(echoed)
}

/// Child: echoes every message, going to sleep on the futex without spinning whenever
/// nothing is waiting.
pub fn forced_sleep_echo(mut channel: Channel) -> Result<()> {
    let watch = channel.data_watch();
    let mut never = Spinner::never();
    let mut buf = [0u8; SMALL];
    let mut echoed = 0;
    loop {
        match channel.try_recv_into(&mut buf) {
            Ok(Some(len)) => {
                send(&mut channel, &buf[..len])?;
                echoed += 1;
            }
            Ok(None) => {
                watch.wait(&mut never, None)?;
            }
            Err(ChannelError::PeerClosed) => break,
            Err(e) => return Err(e.into()),
        }
    }
    report_echo(echoed)
}

/// Child: echoes 64 B frames with blocking reads until end of file.
pub fn uds_echo(stream: UnixStream) -> Result<()> {
    let mut buf = [0u8; SMALL];
    let mut echoed = 0;
    while link::read_full(&stream, &mut buf)? {
        (&stream).write_all(&buf)?;
        echoed += 1;
    }
    report_echo(echoed)
}
