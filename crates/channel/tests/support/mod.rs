//! Helpers shared by the specification files:
//! * re-running this test binary as a child process that plays a role ([`role`],
//!   [`child_command`], [`spawn_with_channel`], [`wait_for_success`]);
//! * self-checking test messages: a sequence number and an FNV-1a checksum in the first 16
//!   bytes, a pseudo-random payload ([`Rng`], [`message`], [`verify`]);
//! * a raw `MAP_SHARED` view of a channel segment, for tests that play a hostile peer
//!   ([`RawMapping`]).
#![allow(dead_code)] // each test file uses a different subset

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
#[cfg(unix)]
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[cfg(unix)]
use shmring_channel::Channel;

/// Environment variable that tells a re-executed test binary which role to play.
pub const ROLE_ENV: &str = "SHMRING_TEST_ROLE";

/// Environment variable that enables the long variants (10^7 records, 60 s of scribbling).
pub const LONG_ENV: &str = "SHMRING_LONG";

/// Deadline of every single wait in these tests: a hang fails, it does not hang CI.
pub const LIMIT: Duration = Duration::from_secs(10);

/// `Some(role)` when this process was started by [`child_command`].
pub fn role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// Whether the long variants were asked for (`SHMRING_LONG=1`).
pub fn long() -> bool {
    std::env::var(LONG_ENV).is_ok_and(|v| v == "1")
}

/// A command that re-runs exactly `test_name` of this test binary with [`ROLE_ENV`] = `role`.
/// Stdout is piped (the parent checks the harness summary), stderr is inherited (a child's
/// panic message shows up in the parent's test output).
pub fn child_command(test_name: &str, role: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("current_exe"));
    command
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role)
        .env_remove(shmring_channel::FD_ENV)
        .env_remove(shmring_channel::HANDLE_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// Spawns `test_name` as `role` with the extra environment `envs` (no channel).
pub fn spawn_child(test_name: &str, role: &str, envs: &[(&str, String)]) -> Child {
    let mut command = child_command(test_name, role);
    for (key, value) in envs {
        command.env(key, value);
    }
    command.spawn().expect("spawn the child test process")
}

/// Spawns `test_name` as `role` with `channel` inherited as fd 3 (`Channel::pass_to_child`).
#[cfg(unix)]
pub fn spawn_with_channel(test_name: &str, role: &str, channel: &Channel, envs: &[(&str, String)]) -> Child {
    let mut command = child_command(test_name, role);
    for (key, value) in envs {
        command.env(key, value);
    }
    channel.pass_to_child(&mut command, 3).expect("pass_to_child");
    command.spawn().expect("spawn the child test process")
}

/// What a finished child left behind.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
}

/// Waits at most `limit` for `child` (killing it and panicking after that), reading its
/// stdout meanwhile so that a chatty child cannot block on a full pipe.
pub fn wait_for_exit(mut child: Child, limit: Duration) -> Finished {
    let reader = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        })
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child process {} did not exit within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let stdout = reader.map(|r| r.join().expect("stdout reader")).unwrap_or_default();
    Finished { status, stdout }
}

/// [`wait_for_exit`], then asserts that the child's single test ran and passed.
pub fn wait_for_success(child: Child, limit: Duration) -> Finished {
    let finished = wait_for_exit(child, limit);
    assert!(
        finished.status.success() && finished.stdout.contains("1 passed"),
        "the child failed ({}); its stdout:\n{}",
        finished.status,
        finished.stdout
    );
    finished
}

/// xorshift64* (Vigna): a fast, deterministic generator, so two processes can draw the same
/// sequence of message lengths from a shared seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..=max`.
    pub fn below_or(&mut self, max: u64) -> u64 {
        self.next_u64() % (max + 1)
    }

    /// A number in `range`.
    pub fn in_range(&mut self, range: std::ops::RangeInclusive<u64>) -> u64 {
        range.start() + self.below_or(range.end() - range.start())
    }
}

/// Bytes a test message carries before its payload: sequence number, then checksum.
pub const MESSAGE_HEADER: usize = 16;

/// FNV-1a (64-bit) taken over little-endian 64-bit words, then the tail bytes one by one;
/// word-wise (and without iterator adapters) so that checking gigabytes stays fast in debug
/// builds. The result does not depend on the slice's alignment.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    let whole = bytes.len() / 8 * 8;
    // SAFETY: every bit pattern is a valid u64, so viewing aligned bytes as words is sound.
    let (prefix, words, _) = unsafe { bytes[..whole].align_to::<u64>() };
    if prefix.is_empty() {
        let mut i = 0;
        while i < words.len() {
            hash = (hash ^ u64::from_le(words[i])).wrapping_mul(PRIME);
            i += 1;
        }
    } else {
        for word in bytes[..whole].chunks_exact(8) {
            hash = (hash ^ u64::from_le_bytes(word.try_into().expect("8 bytes"))).wrapping_mul(PRIME);
        }
    }
    for &byte in &bytes[whole..] {
        hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
    }
    hash
}

/// 64 KiB + 4 KiB of pseudo-random bytes that payloads are cut from (a copy is fast even in
/// debug builds, unlike generating every word). 8-aligned, so payloads cut at multiples of 8
/// take the fast path of [`fnv1a`].
fn random_block() -> &'static [u8] {
    static BLOCK: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();
    let words = BLOCK.get_or_init(|| {
        let mut rng = Rng::new(0x5eed);
        (0..(68 << 10) / 8).map(|_| rng.next_u64()).collect()
    });
    // SAFETY: u8 has alignment 1 and no invalid bit patterns: the middle part is all of it.
    let (_, bytes, _) = unsafe { words.align_to::<u8>() };
    bytes
}

/// Writes test message number `seq` of `len` bytes into `buf`: `seq` (LE u64), the FNV-1a
/// of the payload (LE u64), then a payload cut from a random block at an offset derived from
/// `seq`. A message shorter than 16 bytes is the first `len` bytes of that header (with the
/// checksum of an empty payload); [`verify`] then needs the expected sequence number.
pub fn message(seq: u64, len: usize, buf: &mut Vec<u8>) {
    let payload_len = len.saturating_sub(MESSAGE_HEADER);
    let offset = (seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 48) as usize & !7; // 0..64 KiB
    let payload = &random_block()[offset..offset + payload_len];
    buf.clear();
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&fnv1a(payload).to_le_bytes());
    buf.truncate(len);
    buf.extend_from_slice(payload);
}

/// Checks that `bytes` is an intact test message with sequence number `expected_seq`.
pub fn verify(bytes: &[u8], expected_seq: u64) -> Result<(), String> {
    if bytes.len() < MESSAGE_HEADER {
        let mut expected = Vec::new();
        message(expected_seq, bytes.len(), &mut expected);
        return if bytes == expected.as_slice() {
            Ok(())
        } else {
            Err(format!("short message {bytes:?} is not message {expected_seq} ({expected:?})"))
        };
    }
    let seq = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    if seq != expected_seq {
        return Err(format!("got message {seq}, expected {expected_seq} (len {})", bytes.len()));
    }
    let sum = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let actual = fnv1a(&bytes[MESSAGE_HEADER..]);
    if sum != actual {
        return Err(format!("message {seq} of {} bytes: checksum {actual:#x}, header says {sum:#x}", bytes.len()));
    }
    Ok(())
}

/// The sequence number of a message of at least 16 bytes.
pub fn seq_of(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// A `MAP_SHARED` read-write mapping of a whole segment fd (its `fstat` size), as a hostile
/// peer would make. Offsets are from the start of the segment (its header); the channel's
/// payload starts at `shmring_segment::HEADER_LEN`.
#[cfg(unix)]
pub struct RawMapping {
    base: std::ptr::NonNull<u8>,
    len: usize,
}

#[cfg(unix)]
// SAFETY: the mapping is plain shared memory with no thread affinity; every access goes
// through atomics or volatile copies.
unsafe impl Send for RawMapping {}
#[cfg(unix)]
// SAFETY: as for `Send`.
unsafe impl Sync for RawMapping {}

#[cfg(unix)]
impl RawMapping {
    /// Maps all of `fd` (size from `fstat`).
    pub fn new(fd: std::os::fd::BorrowedFd<'_>) -> RawMapping {
        use std::os::fd::AsRawFd;
        // SAFETY: an all-zero `stat` is a valid value for `fstat` to overwrite.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open (borrowed) and `st` is a valid out-pointer.
        let r = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) };
        assert_eq!(r, 0, "fstat: {}", std::io::Error::last_os_error());
        let len = usize::try_from(st.st_size).expect("segment size");
        // SAFETY: a fresh shared mapping of the whole object; the kernel picks the address,
        // and nothing in this process forms references to its bytes (atomics and volatile
        // accesses only). The object is sealed against shrinking, so accesses never fault.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap: {}", std::io::Error::last_os_error());
        RawMapping { base: std::ptr::NonNull::new(p.cast()).expect("mmap returned null"), len }
    }

    /// Maps the segment of `channel` through a fresh fd (`share_fd`).
    pub fn of(channel: &Channel) -> RawMapping {
        use std::os::fd::AsFd;
        let fd = channel.share_fd().expect("share_fd");
        RawMapping::new(fd.as_fd())
    }

    /// Length of the mapping in bytes (header included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Start of the mapping.
    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    fn atomic_u64(&self, offset: usize) -> &AtomicU64 {
        assert!(offset % 8 == 0 && offset + 8 <= self.len, "u64 at {offset} outside the mapping");
        // SAFETY: inside the mapping (asserted), 8-aligned (page-aligned base), alive while
        // `self` is; both processes access these words atomically or with plain copies the
        // channel tolerates (it is built for a hostile peer).
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(offset).cast()) }
    }

    fn atomic_u32(&self, offset: usize) -> &AtomicU32 {
        assert!(offset % 4 == 0 && offset + 4 <= self.len, "u32 at {offset} outside the mapping");
        // SAFETY: as in `atomic_u64`, 4-aligned.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast()) }
    }

    /// Reads the little-endian u64 at `offset`.
    pub fn read_u64(&self, offset: usize) -> u64 {
        // ORDERING: Relaxed; a test's look at one word, paired with nothing (the channel
        // under test must cope with whatever it sees, and tests poll until a value shows).
        u64::from_le(self.atomic_u64(offset).load(Ordering::Relaxed))
    }

    /// Writes the little-endian u64 at `offset`.
    pub fn write_u64(&self, offset: usize, value: u64) {
        // ORDERING: Relaxed; a hostile write that publishes nothing (see `read_u64`).
        self.atomic_u64(offset).store(value.to_le(), Ordering::Relaxed);
    }

    /// Reads the little-endian u32 at `offset`.
    pub fn read_u32(&self, offset: usize) -> u32 {
        // ORDERING: Relaxed; see `read_u64`.
        u32::from_le(self.atomic_u32(offset).load(Ordering::Relaxed))
    }

    /// Writes the little-endian u32 at `offset`.
    pub fn write_u32(&self, offset: usize, value: u32) {
        // ORDERING: Relaxed; see `write_u64`.
        self.atomic_u32(offset).store(value.to_le(), Ordering::Relaxed);
    }

    /// Writes one byte at `offset`.
    pub fn write_u8(&self, offset: usize, value: u8) {
        assert!(offset < self.len, "byte {offset} outside the mapping");
        // SAFETY: inside the mapping (asserted), alive while `self` is; any alignment and bit
        // pattern is valid for a byte.
        let byte = unsafe { std::sync::atomic::AtomicU8::from_ptr(self.base.as_ptr().add(offset)) };
        // ORDERING: Relaxed; see `write_u64`.
        byte.store(value, Ordering::Relaxed);
    }
}

#[cfg(unix)]
impl Drop for RawMapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping of `len` bytes; no reference into it outlives `self`.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// Where things live in a channel segment with the given lane capacities, as offsets from
/// the start of the segment (see `shmring_channel::layout` and `shmring_ring::layout`).
pub mod offsets {
    use shmring_channel::layout::{Capacities, SIDE_A_OFFSET, SIDE_B_OFFSET};
    use shmring_channel::{Priority, Side};
    use shmring_ring::layout::{HEADER_LEN as RING_HEADER_LEN, HEAD_OFFSET, TAIL_OFFSET};
    use shmring_segment::HEADER_LEN;

    /// The parameters line (magic/version, lanes, capacities, id).
    pub const PARAMETERS: usize = HEADER_LEN;

    fn line(side: Side) -> usize {
        HEADER_LEN
            + match side {
                Side::A => SIDE_A_OFFSET,
                Side::B => SIDE_B_OFFSET,
            }
    }

    /// The pid word of `side`.
    pub fn pid(side: Side) -> usize {
        line(side)
    }

    /// The state word of `side` (`NOT_ATTACHED` 0, `OPEN` 1, `CLOSED` 2).
    pub fn state(side: Side) -> usize {
        line(side) + 4
    }

    /// The word `side` parks on while waiting for data.
    pub fn data_word(side: Side) -> usize {
        line(side) + 8
    }

    /// The word `side` parks on while waiting for room.
    pub fn room_word(side: Side) -> usize {
        line(side) + 12
    }

    /// Start of the ring `from` sends on in `lane`.
    pub fn ring(caps: &Capacities, from: Side, lane: Priority) -> usize {
        HEADER_LEN + caps.ring_offset(from.outbound(), lane)
    }

    /// That ring's producer counter.
    pub fn tail(caps: &Capacities, from: Side, lane: Priority) -> usize {
        ring(caps, from, lane) + TAIL_OFFSET
    }

    /// That ring's consumer counter.
    pub fn head(caps: &Capacities, from: Side, lane: Priority) -> usize {
        ring(caps, from, lane) + HEAD_OFFSET
    }

    /// That ring's data area.
    pub fn data(caps: &Capacities, from: Side, lane: Priority) -> usize {
        ring(caps, from, lane) + RING_HEADER_LEN
    }
}
