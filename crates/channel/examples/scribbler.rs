//! A hostile peer for tests: maps the channel segment passed by the parent (as `spawn` or
//! `Channel::pass_to_child` pass it) *without* attaching, and writes random bytes at random
//! offsets over the whole mapping (header, control block, counters, records) for the given
//! number of milliseconds. The parent must only ever see data or errors.
//!
//! ```sh
//! cargo build -p shmring-channel --example scribbler   # then: scribbler <millis>
//! ```

#[cfg(unix)]
use std::time::{Duration, Instant};

// The segment arrives as an inherited fd, which only Unix channels offer.
#[cfg(not(unix))]
fn main() {
    eprintln!("scribbler needs a channel passed as an fd (Unix only)");
    std::process::exit(1);
}

#[cfg(unix)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let millis: u64 = std::env::args().nth(1).map_or(Ok(1000), |s| s.parse())?;
    let fd: i32 = std::env::var(shmring_channel::FD_ENV)?.parse()?;
    // SAFETY: `st` is a plain C struct that fstat fills in; an all-zero value is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` was inherited from the parent; fstat only writes into `st`.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let len = st.st_size as usize;
    let prot = libc::PROT_READ | libc::PROT_WRITE;
    // SAFETY: a fresh shared mapping of the whole (sealed, fixed-size) object; we only write
    // bytes through raw pointers below, within `len`.
    let base = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_SHARED, fd, 0) };
    if base == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error().into());
    }
    let base = base.cast::<u8>();
    let end = Instant::now() + Duration::from_millis(millis);
    let mut x = 0x2545_f491_4f6c_dd1du64 ^ u64::from(std::process::id());
    let mut writes = 0u64;
    while Instant::now() < end {
        for _ in 0..1024 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Favour the first pages (headers, control block, ring counters), where damage matters most.
            let span = if x & 1 == 0 { len.min(8192) } else { len };
            let offset = (x >> 8) as usize % span;
            // SAFETY: `offset < len`, inside the mapping created above.
            unsafe { base.add(offset).write_volatile((x >> 40) as u8) };
            writes += 1;
        }
    }
    println!("scribbler: {writes} writes in {millis} ms");
    Ok(())
}
