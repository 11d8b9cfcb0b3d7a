//! One-way streams: the parent produces as fast as it can for `stream_warmup + duration`,
//! then closes (channel) or shuts down writing (socket); the child consumes, checks every
//! message's stamps in order (a mismatch aborts the run), and times itself from the first
//! message after the warm-up to the end of the stream. Rate = messages counted ÷ that time.
//! The parent checks that the child received exactly what it sent.
//!
//! * 64 B, batched: `try_send_batch` of 64 → `recv_batch(1024)`; socket: one `write` of
//!   64 frames (4 KiB) → 64 KiB `read`s.
//! * 64 B, one per call: `try_send` per message → `recv_batch(1024)`; socket: one `write`
//!   per frame → 64 KiB `read`s.
//! * 1 MiB: `try_send` from the producer's buffer → `try_recv_into` the consumer's own
//!   buffer (lanes of 4 MiB); socket: `write_all` → `read`s into the consumer's buffer.
//!
//! When the lane is full the shmring producer waits the way the API offers: `send` (spins
//! adaptively, then sleeps on the room word) for single messages, `RoomWatch::wait` for the
//! rest of a batch; an empty consumer waits in `wait_readable`. So both transports block
//! properly when the other side is slow or descheduled, instead of burning a shared core.
//!
//! Both consumers copy every payload once into their own memory (`Record::copy_to` into a
//! stack buffer for 64 B; `read` does it for the socket). The 64 B socket frames need no
//! length prefix (fixed size), which flatters the socket slightly.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use shmring_channel::{Channel, ChannelError, ChannelOptions, Priority, Readiness, Spinner};

use crate::cli::Options;
use crate::link::{self, Params, Role};
use crate::report::Results;
use crate::wire::{self, BATCH, BIG, SMALL};
use crate::Result;

/// Lane size of the 1 MiB stream (room for three 1 MiB records).
const BIG_CAPACITY: usize = 4 << 20;

/// Measures the four 64 B streams once.
pub fn run_small(options: &Options, results: &mut Results) -> Result<()> {
    for batched in [true, false] {
        let variant = if batched { "batch" } else { "single" };
        let rate = shm_small(batched, options)?;
        results.add(&format!("oneway64.shm_{variant}"), "M msg/s", rate.per_second / 1e6);
        results.add(&format!("oneway64.shm_{variant}.full"), "% of sends", rate.full_percent);
        let rate = uds_small(batched, options)?;
        results.add(&format!("oneway64.uds_{variant}"), "M msg/s", rate.per_second / 1e6);
    }
    Ok(())
}

/// Measures the two 1 MiB streams once.
pub fn run_big(options: &Options, results: &mut Results) -> Result<()> {
    let rate = shm_big(options)?;
    results.add("oneway1m.shm", "GB/s", rate.per_second * BIG as f64 / 1e9);
    results.add("oneway1m.shm.full", "% of sends", rate.full_percent);
    let rate = uds_big(options)?;
    results.add("oneway1m.uds", "GB/s", rate.per_second * BIG as f64 / 1e9);
    Ok(())
}

/// What one stream achieved.
struct Rate {
    /// Messages per second over the child's timed window.
    per_second: f64,
    /// Sends (messages or batches) that found the ring full at first, in percent.
    full_percent: f64,
}

fn sink_args(options: &Options) -> Vec<String> {
    vec![format!("warmup_ns={}", options.stream_warmup.as_nanos())]
}

/// Checks the child's count against ours and computes the rate.
fn finish(child: link::Child, sent: u64, sends: u64, full: u64) -> Result<Rate> {
    let r = child.finish()?;
    let total = r.get("total")? as u64;
    if total != sent {
        return Err(format!("sent {sent} messages, the child received {total}").into());
    }
    let per_second = r.get("counted")? / (r.get("ns")? / 1e9);
    Ok(Rate { per_second, full_percent: 100.0 * full as f64 / sends.max(1) as f64 })
}

fn shm_small(batched: bool, options: &Options) -> Result<Rate> {
    let channel_options = ChannelOptions { capacity: options.lane, ..ChannelOptions::default() };
    let (mut channel, child) = link::spawn_channel(Role::ShmSmallSink, &channel_options, &sink_args(options), options)?;
    let template: [u8; SMALL] = wire::message(SMALL).try_into().expect("64 bytes");
    let end = Instant::now() + options.stream_warmup + options.duration;
    let (mut seq, mut sends, mut full) = (0u64, 0u64, 0u64);
    if batched {
        let room = channel.room_watch();
        let mut spinner = Spinner::new();
        let mut batch = vec![template; BATCH];
        loop {
            for (i, message) in batch.iter_mut().enumerate() {
                wire::stamp(message, seq + i as u64);
            }
            let mut sent = channel.try_send_batch(&batch, Priority::Normal)?;
            sends += 1;
            if sent < BATCH {
                full += 1;
            }
            while sent < BATCH {
                let since = room.snapshot();
                let more = channel.try_send_batch(&batch[sent..], Priority::Normal)?;
                if more == 0 && room.wait(since, &mut spinner, None)? == Readiness::Ended {
                    return Err("the consumer went away".into());
                }
                sent += more;
            }
            seq += BATCH as u64;
            if Instant::now() >= end {
                break;
            }
        }
    } else {
        let mut message = template;
        loop {
            for _ in 0..BATCH {
                wire::stamp(&mut message, seq);
                sends += 1;
                if !channel.try_send(&message)? {
                    full += 1;
                    channel.send(&message, None)?;
                }
                seq += 1;
            }
            if Instant::now() >= end {
                break;
            }
        }
    }
    channel.close();
    finish(child, seq, sends, full)
}

fn uds_small(batched: bool, options: &Options) -> Result<Rate> {
    let (stream, child) = link::spawn_uds(Role::UdsSmallSink, &sink_args(options), options)?;
    let template = wire::message(SMALL);
    let mut buf: Vec<u8> = template.iter().copied().cycle().take(BATCH * SMALL).collect();
    let end = Instant::now() + options.stream_warmup + options.duration;
    let mut seq = 0u64;
    let mut writer = &stream;
    loop {
        if batched {
            for (i, frame) in buf.chunks_exact_mut(SMALL).enumerate() {
                wire::stamp(frame, seq + i as u64);
            }
            writer.write_all(&buf)?;
            seq += BATCH as u64;
        } else {
            for frame in buf.chunks_exact_mut(SMALL) {
                wire::stamp(frame, seq);
                writer.write_all(frame)?;
                seq += 1;
            }
        }
        if Instant::now() >= end {
            break;
        }
    }
    stream.shutdown(Shutdown::Write)?;
    finish(child, seq, 0, 0)
}

fn shm_big(options: &Options) -> Result<Rate> {
    let channel_options = ChannelOptions { capacity: BIG_CAPACITY, ..ChannelOptions::default() };
    let (mut channel, child) = link::spawn_channel(Role::ShmBigSink, &channel_options, &sink_args(options), options)?;
    let mut message = wire::message(BIG);
    let end = Instant::now() + options.stream_warmup + options.duration;
    let (mut seq, mut full) = (0u64, 0u64);
    loop {
        wire::stamp(&mut message, seq);
        if !channel.try_send(&message)? {
            full += 1;
            channel.send(&message, None)?;
        }
        seq += 1;
        if Instant::now() >= end {
            break;
        }
    }
    channel.close();
    finish(child, seq, seq, full)
}

fn uds_big(options: &Options) -> Result<Rate> {
    let (stream, child) = link::spawn_uds(Role::UdsBigSink, &sink_args(options), options)?;
    let mut message = wire::message(BIG);
    let end = Instant::now() + options.stream_warmup + options.duration;
    let mut seq = 0u64;
    loop {
        wire::stamp(&mut message, seq);
        (&stream).write_all(&message)?;
        seq += 1;
        if Instant::now() >= end {
            break;
        }
    }
    stream.shutdown(Shutdown::Write)?;
    finish(child, seq, 0, 0)
}

/// The consumer's clock: starts at the first message received `warmup` after the first one,
/// reads the time only until then (and once at the end).
struct StreamClock {
    warmup: Duration,
    first: Option<Instant>,
    start: Option<(Instant, u64)>,
}

impl StreamClock {
    fn new(params: &Params<'_>) -> Result<StreamClock> {
        Ok(StreamClock { warmup: Duration::from_nanos(params.get("warmup_ns")?), first: None, start: None })
    }

    /// Called after each message or batch with the number received so far.
    #[inline]
    fn observe(&mut self, received: u64) {
        if self.start.is_some() {
            return;
        }
        let now = Instant::now();
        let first = *self.first.get_or_insert(now);
        if now - first >= self.warmup {
            self.start = Some((now, received));
        }
    }

    /// Reports the counts and the timed window (the stream has ended).
    fn report(self, received: u64) -> Result<()> {
        let end = Instant::now();
        let (start, base) = self.start.ok_or("the stream ended during its warm-up")?;
        link::report(&[
            ("total", received as f64),
            ("counted", (received - base) as f64),
            ("ns", (end - start).as_nanos() as f64),
        ]);
        Ok(())
    }
}

/// Child: drains 64 B messages with `recv_batch`, checking each.
pub fn shm_small_sink(mut channel: Channel, params: &Params<'_>) -> Result<()> {
    let mut clock = StreamClock::new(params)?;
    let mut received = 0u64;
    let mut failure = None;
    loop {
        let got = channel.recv_batch(1024, |record| {
            if failure.is_some() {
                return;
            }
            if record.len() != SMALL {
                failure = Some(format!("message {received}: {} bytes, expected {SMALL}", record.len()));
                return;
            }
            let mut buf = [0u8; SMALL];
            record.copy_to(&mut buf);
            if let Err(e) = wire::check(&buf, received, SMALL) {
                failure = Some(e);
            }
            received += 1;
        });
        if let Some(failure) = failure {
            return Err(failure.into());
        }
        match got {
            Ok(0) => {
                channel.wait_readable(None)?;
            }
            Ok(_) => clock.observe(received),
            Err(ChannelError::PeerClosed) => break,
            Err(e) => return Err(e.into()),
        }
    }
    clock.report(received)
}

/// Child: drains 64 B frames with 64 KiB reads, checking each.
pub fn uds_small_sink(stream: UnixStream, params: &Params<'_>) -> Result<()> {
    let mut clock = StreamClock::new(params)?;
    let mut buf = vec![0u8; 64 << 10];
    let (mut have, mut received) = (0usize, 0u64);
    loop {
        let n = match (&stream).read(&mut buf[have..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        have += n;
        let whole = have / SMALL * SMALL;
        for frame in buf[..whole].chunks_exact(SMALL) {
            wire::check(frame, received, SMALL)?;
            received += 1;
        }
        buf.copy_within(whole..have, 0);
        have -= whole;
        clock.observe(received);
    }
    if have != 0 {
        return Err(format!("stream ended inside a frame ({have} bytes left)").into());
    }
    clock.report(received)
}

/// Child: drains 1 MiB messages into its own buffer with `try_recv_into`, checking each.
pub fn shm_big_sink(mut channel: Channel, params: &Params<'_>) -> Result<()> {
    let mut clock = StreamClock::new(params)?;
    let mut buf = vec![0u8; BIG];
    let mut received = 0u64;
    loop {
        match channel.try_recv_into(&mut buf) {
            Ok(Some(len)) => {
                wire::check(&buf[..len], received, BIG)?;
                received += 1;
                clock.observe(received);
            }
            Ok(None) => {
                channel.wait_readable(None)?;
            }
            Err(ChannelError::PeerClosed) => break,
            Err(e) => return Err(e.into()),
        }
    }
    clock.report(received)
}

/// Child: reads 1 MiB frames into its own buffer, checking each.
pub fn uds_big_sink(stream: UnixStream, params: &Params<'_>) -> Result<()> {
    let mut clock = StreamClock::new(params)?;
    let mut buf = vec![0u8; BIG];
    let mut received = 0u64;
    while link::read_full(&stream, &mut buf)? {
        wire::check(&buf, received, BIG)?;
        received += 1;
        clock.observe(received);
    }
    clock.report(received)
}
