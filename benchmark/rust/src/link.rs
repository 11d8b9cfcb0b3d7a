//! The two processes: the parent spawns a fresh child (this executable, re-executed with
//! [`CHILD_ARG`] and a role) for every measurement and hands it one inherited fd:
//!
//! * a shmring channel segment as fd 3 (`Channel::pass_to_child`, `Channel::from_parent`);
//! * the child's end of a `UnixStream::pair()` as fd 4;
//! * a bare shared segment as fd 5, for the hardware floor (two atomics ping-ponging).
//!
//! The child prints one `RESULT key=value …` line on stdout (the only thing it writes there)
//! and exits 0; any other exit aborts the run. A [`Child`] that is dropped unfinished is
//! killed, so an aborted run leaves no spinning process behind.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use shmring_channel::{inherit_fd, Channel, ChannelOptions};
use shmring_ring::{Consumer, Owner, Producer, Region};
use shmring_segment::{Segment, SegmentKind};

use crate::cli::Options;
use crate::Result;

/// First argument that makes this executable play a child role.
pub const CHILD_ARG: &str = "__child";
/// CPU of the parent under `--pin`.
pub const PARENT_CPU: usize = 0;
/// CPU of the child under `--pin`.
const CHILD_CPU: usize = 1;

const CHANNEL_FD: i32 = 3;
const UDS_FD: i32 = 4;
const FLOOR_FD: i32 = 5;
const UDS_ENV: &str = "SHMRING_BENCH_UDS_FD";
const FLOOR_ENV: &str = "SHMRING_BENCH_FLOOR_FD";
const PIN_ENV: &str = "SHMRING_BENCH_PIN_CPU";
const RESULT_PREFIX: &str = "RESULT";

/// What the child does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Echoes the floor's ping word into its pong word.
    FloorEcho,
    /// Echoes the floor's ping message area into its pong area, then the word.
    FloorDataEcho,
    /// Echoes records between two bare `shmring_ring` rings (no channel around them).
    RingEcho,
    /// Echoes channel messages, polling with `try_recv_into` in a busy loop.
    SpinEcho,
    /// Echoes channel messages received with the blocking `recv` (adaptive spin, then futex).
    AdaptiveEcho,
    /// Echoes channel messages, sleeping on the futex every time nothing is waiting.
    ForcedSleepEcho,
    /// Echoes 64 B frames on the socket with blocking reads.
    UdsEcho,
    /// Drains a stream of 64 B channel messages with `recv_batch`.
    ShmSmallSink,
    /// Drains a stream of 64 B socket frames with large blocking reads.
    UdsSmallSink,
    /// Drains 1 MiB channel messages with `try_recv_into`.
    ShmBigSink,
    /// Drains 1 MiB socket frames with `read` into its own buffer.
    UdsBigSink,
    /// Blocks in `recv` on a channel nobody sends on; reports its CPU time.
    ShmIdle,
    /// Blocks in `read` on a socket nobody writes to; reports its CPU time.
    UdsIdle,
    /// Echoes channel messages of one size in a busy loop (the size sweep).
    SizesEcho,
    /// Drains a stream of channel messages of one size (the size sweep).
    SizesSink,
}

const ROLES: [(Role, &str); 15] = [
    (Role::FloorEcho, "floor-echo"),
    (Role::FloorDataEcho, "floor-data-echo"),
    (Role::RingEcho, "ring-echo"),
    (Role::SpinEcho, "spin-echo"),
    (Role::AdaptiveEcho, "adaptive-echo"),
    (Role::ForcedSleepEcho, "forced-sleep-echo"),
    (Role::UdsEcho, "uds-echo"),
    (Role::ShmSmallSink, "shm-small-sink"),
    (Role::UdsSmallSink, "uds-small-sink"),
    (Role::ShmBigSink, "shm-big-sink"),
    (Role::UdsBigSink, "uds-big-sink"),
    (Role::ShmIdle, "shm-idle"),
    (Role::UdsIdle, "uds-idle"),
    (Role::SizesEcho, "sizes-echo"),
    (Role::SizesSink, "sizes-sink"),
];

impl Role {
    fn name(self) -> &'static str {
        ROLES.iter().find(|(r, _)| *r == self).map(|(_, n)| *n).expect("every role has a name")
    }

    fn from_name(name: &str) -> Option<Role> {
        ROLES.iter().find(|(_, n)| *n == name).map(|(r, _)| *r)
    }
}

/// A running child process; killed if dropped before [`finish`](Child::finish).
pub struct Child {
    role: Role,
    process: Option<std::process::Child>,
}

impl Child {
    /// Waits for the child to exit and returns the numbers of its `RESULT` line. A non-zero
    /// exit (a verification failure, an error) is an error.
    pub fn finish(mut self) -> Result<Results> {
        // On an early return the process stays in `self.process`, and `Drop` kills and reaps it.
        let process = self.process.as_mut().expect("finish is called once");
        let stdout = process.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        for l in BufReader::new(stdout).lines() {
            let l = l?;
            if l.starts_with(RESULT_PREFIX) {
                line = l;
            }
        }
        let status = process.wait()?;
        self.process = None;
        if !status.success() {
            return Err(format!("child {} failed ({status})", self.role.name()).into());
        }
        Results::parse(&line)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// The numbers a child reported.
#[derive(Debug, Default)]
pub struct Results(Vec<(String, f64)>);

impl Results {
    fn parse(line: &str) -> Result<Results> {
        let mut out = Vec::new();
        for pair in line.split_whitespace().skip(1) {
            let (key, value) = pair.split_once('=').ok_or_else(|| format!("bad child result {pair:?}"))?;
            out.push((key.to_owned(), value.parse()?));
        }
        Ok(Results(out))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Result<f64> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("child did not report {key}").into())
    }
}

/// Prints the child's result line (child side).
pub fn report(pairs: &[(&str, f64)]) {
    let fields: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("{RESULT_PREFIX} {}", fields.join(" "));
}

fn command(role: Role, args: &[String], options: &Options) -> Result<Command> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg(CHILD_ARG).arg(role.name()).args(args);
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    if options.pin {
        command.env(PIN_ENV, CHILD_CPU.to_string());
    }
    Ok(command)
}

fn start(role: Role, mut command: Command) -> Result<Child> {
    let process = command.spawn()?;
    // `command` (and the child's fd it holds) is dropped here, so the child's end of a socket
    // pair is open only in the child: its exit is our EOF.
    Ok(Child { role, process: Some(process) })
}

/// Creates a channel with `channel_options` and starts `role` on its other side.
pub fn spawn_channel(
    role: Role,
    channel_options: &ChannelOptions,
    args: &[String],
    options: &Options,
) -> Result<(Channel, Child)> {
    let channel = Channel::create_with(channel_options)?;
    let mut command = command(role, args, options)?;
    channel.pass_to_child(&mut command, CHANNEL_FD)?;
    let child = start(role, command)?;
    if !channel.wait_for_peer(std::time::Duration::from_secs(10)) {
        return Err(format!("child {} did not attach to the channel", role.name()).into());
    }
    Ok((channel, child))
}

/// Creates a socket pair and starts `role` with the other end.
pub fn spawn_uds(role: Role, args: &[String], options: &Options) -> Result<(UnixStream, Child)> {
    let (ours, theirs) = UnixStream::pair()?;
    let mut command = command(role, args, options)?;
    inherit_fd(&mut command, OwnedFd::from(theirs), UDS_FD, UDS_ENV)?;
    Ok((ours, start(role, command)?))
}

/// Creates a floor segment and starts `role` on it.
pub fn spawn_floor(role: Role, options: &Options) -> Result<(Floor, Child)> {
    let floor = Floor::create()?;
    let mut command = command(role, &[], options)?;
    inherit_fd(&mut command, floor.segment.as_fd().try_clone_to_owned()?, FLOOR_FD, FLOOR_ENV)?;
    Ok((floor, start(role, command)?))
}

/// Adopts the fd named in `env` (child side) and marks it close-on-exec.
fn inherited_fd(env: &str) -> Result<OwnedFd> {
    let value = std::env::var(env).map_err(|_| format!("{env} is not set"))?;
    let fd: i32 = value.parse().map_err(|_| format!("{env}={value:?} is not an fd"))?;
    // SAFETY: F_GETFD only inspects the descriptor table entry.
    if fd < 3 || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(format!("{env}={fd} is not an open fd").into());
    }
    // SAFETY: the fd is open (checked above) and the parent handed it to this process for this
    // purpose alone; nothing else in this process owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: setting FD_CLOEXEC on an fd we own.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    Ok(owned)
}

/// A bare shared segment: two 64-bit words on their own 128-byte lines (ping, pong), and two
/// 64-byte message areas on two more lines. Ping-ponging the words alone is the least a
/// cross-process round trip can cost on this machine (one cache line each way); adding the
/// message areas reproduces a ring's pattern (a counter line, then a dependent data line).
pub struct Floor {
    segment: Segment,
}

const FLOOR_KIND: SegmentKind = SegmentKind(0x6265_6e63); // "benc": the benchmark's own segments
const LINE: usize = 128;
const FLOOR_LINES: usize = 4;

impl Floor {
    fn create() -> Result<Floor> {
        let segment = Segment::create(FLOOR_KIND, FLOOR_LINES * LINE)?;
        segment.publish();
        Ok(Floor { segment })
    }

    fn from_parent() -> Result<Floor> {
        let segment = Segment::from_fd(inherited_fd(FLOOR_ENV)?, FLOOR_KIND)?;
        if segment.payload_len() < FLOOR_LINES * LINE {
            return Err(format!("floor segment of {} bytes is too small", segment.payload_len()).into());
        }
        Ok(Floor { segment })
    }

    /// The word the parent writes.
    pub fn ping(&self) -> &AtomicU64 {
        self.word(0)
    }

    /// The word the child writes.
    pub fn pong(&self) -> &AtomicU64 {
        self.word(1)
    }

    /// Copies `message` (at most one line) into the ping (`0`) or pong (`1`) message area.
    pub fn write_message(&self, area: usize, message: &[u8]) {
        assert!(area < 2 && message.len() <= LINE);
        // SAFETY: lines 2 and 3 lie inside the payload (`FLOOR_LINES * LINE` bytes, checked in
        // `from_parent` or created so) and `message` fits one line (asserted); the destination is
        // shared memory that only raw copies touch, and `message` is our own memory.
        unsafe {
            std::ptr::copy_nonoverlapping(
                message.as_ptr(),
                self.segment.payload().as_ptr().add((2 + area) * LINE),
                message.len(),
            );
        }
    }

    /// Copies the ping (`0`) or pong (`1`) message area into `out` (at most one line).
    pub fn read_message(&self, area: usize, out: &mut [u8]) {
        assert!(area < 2 && out.len() <= LINE);
        // SAFETY: as in `write_message`, reading instead; `out` is our own memory.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.segment.payload().as_ptr().add((2 + area) * LINE),
                out.as_mut_ptr(),
                out.len(),
            );
        }
    }

    fn word(&self, line: usize) -> &AtomicU64 {
        // SAFETY: the payload is 128-aligned (Segment::payload) and at least `FLOOR_LINES * LINE` bytes
        // (created so, or checked in `from_parent`), so both words are in bounds and 8-aligned;
        // the segment lives as long as `self`. Both processes access these words only
        // atomically, and any bit pattern is a valid u64.
        unsafe { &*self.segment.payload().as_ptr().add(line * LINE).cast::<AtomicU64>() }
    }
}

/// Two bare rings (`shmring_ring`) of [`RING_CAPACITY`] bytes in one shared segment, one per
/// direction: the ring alone, without the channel's lanes, control block and wake-ups.
pub struct RingPair {
    /// The end this process writes (ring 0 for the parent, ring 1 for the child).
    pub producer: Producer,
    /// The end this process reads.
    pub consumer: Consumer,
    segment: Arc<Segment>,
}

/// Capacity of each bare ring: the channel's default normal lane.
const RING_CAPACITY: usize = 4 << 20;
const RING_KIND: SegmentKind = SegmentKind(0x6265_6e64); // "benc" + 1: bare ring pairs
const RING_ENV: &str = "SHMRING_BENCH_RING_FD";

impl RingPair {
    /// Bytes from one ring's start to the next (a multiple of the 128-byte alignment).
    fn stride() -> usize {
        shmring_ring::total_len(RING_CAPACITY).next_multiple_of(LINE)
    }

    fn create() -> Result<RingPair> {
        let segment = Arc::new(Segment::create(RING_KIND, 2 * Self::stride())?);
        for ring in 0..2 {
            shmring_ring::init(&Self::region(&segment, ring), RING_CAPACITY)?;
        }
        segment.publish();
        Self::attach(segment, 0)
    }

    fn from_parent() -> Result<RingPair> {
        let segment = Segment::from_fd(inherited_fd(RING_ENV)?, RING_KIND)?;
        if segment.payload_len() < 2 * Self::stride() {
            return Err(format!("ring segment of {} bytes is too small", segment.payload_len()).into());
        }
        Self::attach(Arc::new(segment), 1)
    }

    fn attach(segment: Arc<Segment>, outbound: usize) -> Result<RingPair> {
        // SAFETY: this process attaches exactly one producer (to ring `outbound`) and one
        // consumer (to the other ring), once, here; the peer process holds the opposite ends.
        let producer = unsafe { Producer::attach(Self::region(&segment, outbound))? };
        // SAFETY: as above.
        let consumer = unsafe { Consumer::attach(Self::region(&segment, 1 - outbound))? };
        Ok(RingPair { producer, consumer, segment })
    }

    fn region(segment: &Arc<Segment>, ring: usize) -> Region {
        let offset = ring * Self::stride();
        // SAFETY: `offset + stride <= payload_len` (the segment was created with, or checked to
        // have, two strides), so the pointer stays inside the mapping and is not null.
        let base = unsafe { NonNull::new_unchecked(segment.payload().as_ptr().add(offset)) };
        let owner: Owner = segment.clone();
        // SAFETY: `base` is 128-aligned (128-aligned payload, stride a multiple of 128) and
        // valid for `total_len(RING_CAPACITY)` bytes while `owner` keeps the mapping alive; the
        // peer process may write it at any time, which `Region` tolerates, and nothing else in
        // this process forms references to it.
        unsafe { Region::new(base, shmring_ring::total_len(RING_CAPACITY), Some(owner)) }
    }
}

/// Creates a bare ring pair and starts `role` on it.
pub fn spawn_rings(role: Role, options: &Options) -> Result<(RingPair, Child)> {
    let rings = RingPair::create()?;
    let mut command = command(role, &[], options)?;
    inherit_fd(&mut command, rings.segment.as_fd().try_clone_to_owned()?, FLOOR_FD, RING_ENV)?;
    Ok((rings, start(role, command)?))
}

/// Pins the calling thread (and the threads it starts later) to `cpu`.
pub fn pin_to_cpu(cpu: usize) -> Result<()> {
    // SAFETY: `cpu_set_t` is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
        return Err(format!("cpu {cpu} out of range").into());
    }
    // SAFETY: `cpu` is below CPU_SETSIZE (checked above); `set` is ours.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the size passed.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } != 0 {
        return Err(format!("sched_setaffinity(cpu {cpu}): {}", std::io::Error::last_os_error()).into());
    }
    Ok(())
}

/// Entry point of the child process: `args` are the role and its `key=value` parameters.
pub fn child_main(args: &[String]) -> Result<()> {
    if let Ok(cpu) = std::env::var(PIN_ENV) {
        pin_to_cpu(cpu.parse()?)?;
    }
    let (name, params) = args.split_first().ok_or("child role missing")?;
    let role = Role::from_name(name).ok_or_else(|| format!("unknown child role {name:?}"))?;
    let params = Params(params);
    match role {
        Role::FloorEcho => crate::roundtrip::floor_echo(&Floor::from_parent()?, false),
        Role::FloorDataEcho => crate::roundtrip::floor_echo(&Floor::from_parent()?, true),
        Role::RingEcho => crate::roundtrip::ring_echo(RingPair::from_parent()?),
        Role::SpinEcho => crate::roundtrip::spin_echo(Channel::from_parent()?),
        Role::AdaptiveEcho => crate::roundtrip::adaptive_echo(Channel::from_parent()?),
        Role::ForcedSleepEcho => crate::roundtrip::forced_sleep_echo(Channel::from_parent()?),
        Role::UdsEcho => crate::roundtrip::uds_echo(uds_from_parent()?),
        Role::ShmSmallSink => crate::oneway::shm_small_sink(Channel::from_parent()?, &params),
        Role::UdsSmallSink => crate::oneway::uds_small_sink(uds_from_parent()?, &params),
        Role::ShmBigSink => crate::oneway::shm_big_sink(Channel::from_parent()?, &params),
        Role::UdsBigSink => crate::oneway::uds_big_sink(uds_from_parent()?, &params),
        Role::ShmIdle => crate::idle::shm_idle(Channel::from_parent()?),
        Role::UdsIdle => crate::idle::uds_idle(uds_from_parent()?),
        Role::SizesEcho => crate::sizes::echo(Channel::from_parent()?, &params),
        Role::SizesSink => crate::sizes::sink(Channel::from_parent()?, &params),
    }
}

fn uds_from_parent() -> Result<UnixStream> {
    Ok(UnixStream::from(inherited_fd(UDS_ENV)?))
}

/// The child's `key=value` parameters.
pub struct Params<'a>(&'a [String]);

impl Params<'_> {
    /// The value of `key`, parsed.
    pub fn get<T: std::str::FromStr>(&self, key: &str) -> Result<T> {
        let text = self
            .0
            .iter()
            .find_map(|p| p.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
            .ok_or_else(|| format!("child parameter {key} missing"))?;
        text.parse().map_err(|_| format!("child parameter {key}={text:?} is malformed").into())
    }
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on end of file before the first byte.
pub fn read_full(mut stream: &UnixStream, buf: &mut [u8]) -> std::io::Result<bool> {
    use std::io::Read;
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
