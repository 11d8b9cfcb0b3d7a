//! `--path-cost`: the CPU cost of each fast-path call with no second core involved, for
//! profiling. One process holds both ends of a channel (side B attached from a duplicate of
//! the segment fd), fills the lane with `N` messages, then drains it, and reports ns per
//! message for each call: the instruction-path cost, free of cache-line transfers.
//!
//! Every phase is its own `#[inline(never)]` function, so under
//! `valgrind --tool=callgrind` the inclusive cost of `phase_*` divided by `N × ROUNDS` is the
//! instruction count per message (see RESULTS.md for the recipe).

use std::hint::black_box;
use std::time::{Duration, Instant};

use shmring_channel::{Channel, Priority};

use crate::wire::{BATCH, SMALL};
use crate::Result;

/// Messages per phase: 32 Ki × 72 B footprint = 2.25 MiB, inside a 4 MiB lane.
const N: usize = 32 << 10;

/// Runs every phase `rounds` times and prints the best ns per message of each.
pub fn run(rounds: usize) -> Result<()> {
    let mut a = Channel::create()?;
    let mut b = Channel::from_fd(a.share_fd()?)?;
    let message = [7u8; SMALL];
    let batch = vec![message; BATCH];
    let mut scratch = vec![0u8; N * 72];
    let mut best = [Duration::MAX; 8];
    for _ in 0..rounds {
        let t = time(|| phase_send_single(&mut a, &message))?;
        best[0] = best[0].min(t);
        best[1] = best[1].min(time(|| phase_recv_batch(&mut b))?);
        best[2] = best[2].min(time(|| phase_send_batch(&mut a, &batch))?);
        best[3] = best[3].min(time(|| phase_recv_into(&mut b))?);
        best[4] = best[4].min(time(|| phase_poll_empty(&mut b))?);
        phase_send_single(&mut a, &message)?;
        best[7] = best[7].min(time(|| phase_recv_vec(&mut b))?);
        best[5] = best[5].min(time(|| phase_copy_only(&message, &mut scratch))?);
        best[6] = best[6].min(time(phase_fence_only)?);
    }
    let names = [
        "try_send (64 B)",
        "recv_batch(1024), per message (copy_to 64 B)",
        "try_send_batch of 64, per message",
        "try_recv_into (64 B)",
        "try_recv_into on an empty channel",
        "baseline: copy 64 B twice, no channel",
        "baseline: a Release store + `fence(SeqCst)` (publish + `notify`)",
        "try_recv (64 B into a new Vec)",
    ];
    println!("| call (one process, both ends, no cross-core traffic) | ns per message |");
    println!("|---|---:|");
    for (name, t) in names.iter().zip(best) {
        println!("| {name} | {:.1} |", t.as_nanos() as f64 / N as f64);
    }
    Ok(())
}

fn time(phase: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let start = Instant::now();
    phase()?;
    Ok(start.elapsed())
}

#[inline(never)]
fn phase_send_single(a: &mut Channel, message: &[u8; SMALL]) -> Result<()> {
    for _ in 0..N {
        if !a.try_send(black_box(message))? {
            return Err("lane full".into());
        }
    }
    Ok(())
}

#[inline(never)]
fn phase_send_batch(a: &mut Channel, batch: &[[u8; SMALL]]) -> Result<()> {
    for _ in 0..N / BATCH {
        if a.try_send_batch(black_box(batch), Priority::Normal)? != BATCH {
            return Err("lane full".into());
        }
    }
    Ok(())
}

#[inline(never)]
fn phase_recv_batch(b: &mut Channel) -> Result<()> {
    let mut got = 0;
    let mut sum = 0u8;
    while got < N {
        got += b.recv_batch(1024, |record| {
            let mut buf = [0u8; SMALL];
            record.copy_to(&mut buf);
            sum ^= buf[0];
        })?;
    }
    black_box(sum);
    Ok(())
}

#[inline(never)]
fn phase_recv_into(b: &mut Channel) -> Result<()> {
    let mut buf = [0u8; SMALL];
    for _ in 0..N {
        if b.try_recv_into(&mut buf)?.is_none() {
            return Err("lane empty".into());
        }
        black_box(&buf);
    }
    Ok(())
}

#[inline(never)]
fn phase_recv_vec(b: &mut Channel) -> Result<()> {
    for _ in 0..N {
        match b.try_recv()? {
            Some(message) => drop(black_box(message)),
            None => return Err("lane empty".into()),
        }
    }
    Ok(())
}

#[inline(never)]
fn phase_poll_empty(b: &mut Channel) -> Result<()> {
    let mut buf = [0u8; SMALL];
    for _ in 0..N {
        if b.try_recv_into(&mut buf)?.is_some() {
            return Err("lane not empty".into());
        }
    }
    Ok(())
}

#[inline(never)]
fn phase_copy_only(message: &[u8; SMALL], ring: &mut [u8]) -> Result<()> {
    let mut out = [0u8; SMALL];
    for i in 0..N {
        ring[i * 72..i * 72 + SMALL].copy_from_slice(black_box(message));
        out.copy_from_slice(black_box(&ring[i * 72..i * 72 + SMALL]));
        black_box(&out);
    }
    Ok(())
}

#[inline(never)]
fn phase_fence_only() -> Result<()> {
    use std::sync::atomic::{fence, AtomicU64, Ordering};
    let word = AtomicU64::new(0);
    for i in 0..N as u64 {
        // ORDERING: a Release store then a SeqCst fence, as `Producer::publish` + `notify` do
        // (only their cost matters here; nothing else reads the word).
        black_box(&word).store(i, Ordering::Release);
        fence(Ordering::SeqCst);
    }
    Ok(())
}
