//! Idle cost: two children block at the same time, one in the channel's `recv`, one in a
//! socket `read`, while the parent sleeps for `--idle`; then the parent sends each one
//! message. Each child measures its own CPU time (`getrusage(RUSAGE_SELF)`, user + system)
//! and wall time around the blocking call and reports CPU ÷ wall as a percent of one core,
//! plus its voluntary context switches (how often it woke up) per second.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use shmring_channel::{Channel, ChannelOptions};

use crate::cli::Options;
use crate::link::{self, Role};
use crate::report::Results;
use crate::stats::Usage;
use crate::Result;

/// Measures both idle receivers once.
pub fn run(options: &Options, results: &mut Results) -> Result<()> {
    let (mut channel, shm_child) = link::spawn_channel(Role::ShmIdle, &ChannelOptions::default(), &[], options)?;
    let (stream, uds_child) = link::spawn_uds(Role::UdsIdle, &[], options)?;
    std::thread::sleep(options.idle);
    if !channel.try_send(b"wake up")? {
        return Err("an empty channel refused a message".into());
    }
    (&stream).write_all(b"w")?;
    for (transport, child) in [("shm", shm_child), ("uds", uds_child)] {
        let r = child.finish()?;
        let wall_ns = r.get("wall_ns")?;
        results.add(&format!("idle.{transport}"), "% of one core", 100.0 * r.get("cpu_ns")? / wall_ns);
        results.add(&format!("idle.{transport}.wakeups"), "per second", r.get("voluntary")? / (wall_ns / 1e9));
    }
    Ok(())
}

fn report(before: Usage, start: Instant) {
    let wall = start.elapsed();
    let usage = Usage::now().since(before);
    link::report(&[
        ("cpu_ns", usage.cpu_ns as f64),
        ("wall_ns", wall.as_nanos() as f64),
        ("voluntary", usage.voluntary as f64),
        ("involuntary", usage.involuntary as f64),
    ]);
}

/// Child: blocks in `recv` until the parent's one message arrives.
pub fn shm_idle(mut channel: Channel) -> Result<()> {
    let (before, start) = (Usage::now(), Instant::now());
    channel.recv()?;
    report(before, start);
    Ok(())
}

/// Child: blocks in `read` until the parent's one byte arrives.
pub fn uds_idle(stream: UnixStream) -> Result<()> {
    let (before, start) = (Usage::now(), Instant::now());
    let mut byte = [0u8; 1];
    if !link::read_full(&stream, &mut byte)? {
        return Err("the parent closed the socket without waking us".into());
    }
    report(before, start);
    Ok(())
}
