//! Specification of a channel facing a hostile peer: whatever another process writes into the
//! shared segment, our side observes only `Ok` values and `Err(ChannelError::*)` — never a
//! panic, a crash (SIGBUS/SIGSEGV), undefined behaviour or a wait past its deadline — and a
//! protocol violation is `Corrupt`, which closes that side for good.
//!
//! * The scribbler: a child process maps the segment (fd 3, `mmap(MAP_SHARED)` of its `fstat`
//!   size) and overwrites it — segment header, control block, ring headers, counters, records —
//!   as fast as it can, while this process runs both sides of the channel on two threads.
//!   2 s in all by default, 60 s with `SHMRING_LONG=1`, in rounds of 250 ms, each with a fresh
//!   channel, a fresh child and one of several attack modes.
//! * Deterministic attacks: single, chosen writes into the parameters line, the rings'
//!   counters and record headers and the control block, each with its exact outcome.
#![cfg(unix)]

mod support;

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use shmring_channel::layout::{Capacities, CONTROL_LEN};
use shmring_channel::{Channel, ChannelError, ChannelOptions, OpenError, Priority, Side, CHANNEL_KIND};
use shmring_ring::layout::{HEADER_LEN as RING_HEADER_LEN, HEAD_OFFSET, TAIL_OFFSET};
use shmring_ring::record::{record_header, PAD_HEADER};
use shmring_segment::{Segment, SegmentKind};
use support::{offsets, RawMapping, Rng, LIMIT};

/// Small lanes, so the scribbler's random offsets land on structure often.
const SMALL: ChannelOptions = ChannelOptions { capacity: 1 << 14, high_capacity: 4096, critical_capacity: 4096 };

fn caps(options: &ChannelOptions) -> Capacities {
    Capacities { lanes: [options.critical_capacity, options.high_capacity, options.capacity] }
}

fn pair_with(options: &ChannelOptions) -> (Channel, Channel) {
    let a = Channel::create_with(options).unwrap();
    let b = Channel::from_fd(a.share_fd().unwrap()).unwrap();
    (a, b)
}

// ---------------------------------------------------------------------------------------
// The scribbler

const MODE_ENV: &str = "SHMRING_TEST_SCRIBBLE_MODE";
const MILLIS_ENV: &str = "SHMRING_TEST_SCRIBBLE_MILLIS";

/// What a scribbler round overwrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Random bytes at random offsets of the whole segment, as fast as possible.
    Everything,
    /// The same, one write every ~100 µs, so traffic flows between hits.
    EverythingSlowly,
    /// The rings' head and tail counters, with plausible values (near the current one).
    Counters,
    /// Record headers in the data areas: real tags with wrong lengths, pads, garbage.
    RecordHeaders,
    /// The control block: states, wait words and pids, with values from the protocol and beyond.
    ControlBlock,
    /// Only the segment header, the parameters line and the rings' static headers, which are
    /// read once at attach: nothing may change afterwards.
    ReadOnceHeaders,
    /// Random bytes in the data areas: torn payloads, and some hits on record headers.
    DataAreas,
}

const MODES: [Mode; 7] = [
    Mode::Everything,
    Mode::EverythingSlowly,
    Mode::Counters,
    Mode::RecordHeaders,
    Mode::ControlBlock,
    Mode::ReadOnceHeaders,
    Mode::DataAreas,
];

/// Runs in the child: attacks the inherited segment for `millis`, then reports its count.
fn scribble(mode: Mode, millis: u64) {
    let fd: i32 = std::env::var(shmring_channel::FD_ENV).unwrap().parse().unwrap();
    // SAFETY: the parent passed this fd with `pass_to_child`; it stays open for the whole
    // process (nothing here closes it).
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let map = RawMapping::new(fd);
    // The seals forbid resizing (a shrunk file would kill the parent with SIGBUS on access).
    #[cfg(target_os = "linux")]
    for bad_len in [0, shmring_segment::HEADER_LEN, map.len() + 4096] {
        let r = nix::unistd::ftruncate(fd, bad_len as i64);
        assert_eq!(r, Err(nix::errno::Errno::EPERM), "resize to {bad_len} bytes must be refused");
    }
    let caps = caps(&SMALL);
    let rings: Vec<(usize, usize)> = [Side::A, Side::B]
        .into_iter()
        .flat_map(|side| Priority::ALL.map(|lane| (offsets::ring(&caps, side, lane), caps.lanes[lane as usize])))
        .collect();
    let control_words = [Side::A, Side::B]
        .into_iter()
        .flat_map(|s| [offsets::pid(s), offsets::state(s), offsets::data_word(s), offsets::room_word(s)])
        .collect::<Vec<_>>();
    let mut rng = Rng::new(u64::from(std::process::id()) << 20 ^ millis);
    let deadline = Instant::now() + Duration::from_millis(millis);
    // Let traffic flow for a moment first, so that attacks also land on busy rings.
    thread::sleep(Duration::from_millis(rng.below_or(50)));
    let mut writes = 0u64;
    while Instant::now() < deadline {
        for _ in 0..256 {
            let r = rng.next_u64();
            match mode {
                Mode::Everything | Mode::EverythingSlowly => map.write_u8(r as usize % map.len(), (r >> 56) as u8),
                Mode::Counters => {
                    let (ring, capacity) = rings[r as usize % rings.len()];
                    let counter = ring + if r >> 8 & 1 == 0 { TAIL_OFFSET } else { HEAD_OFFSET };
                    let now = map.read_u64(counter);
                    let value = match r >> 9 & 7 {
                        0 => rng.next_u64(),
                        1 => now.wrapping_add(capacity as u64),
                        2 | 3 => now, // rewriting the same value races with the owner's store
                        _ => now.wrapping_add(8 * rng.below_or(4)).wrapping_sub(16), // small plausible moves
                    };
                    map.write_u64(counter, value);
                }
                Mode::RecordHeaders => {
                    // Walk the unread records like a consumer and overwrite one of their headers.
                    let (ring, capacity) = rings[r as usize % rings.len()];
                    let at = ring + RING_HEADER_LEN + pick_unread_header(&map, ring, capacity, &mut rng);
                    let value = match r >> 40 & 3 {
                        0 => record_header(rng.below_or(capacity as u64 * 2) as u32),
                        1 => PAD_HEADER,
                        2 => rng.next_u64(),
                        _ => record_header(rng.below_or(64) as u32),
                    };
                    map.write_u64(at, value);
                }
                Mode::ControlBlock => {
                    let word = control_words[r as usize % control_words.len()];
                    let value = match r >> 8 & 3 {
                        0 => (r >> 16) as u32 & 3,
                        1 => (r >> 16) as u32,
                        2 => std::process::id(),
                        _ => u32::MAX,
                    };
                    map.write_u32(word, value);
                }
                Mode::ReadOnceHeaders => {
                    let at = match r & 1 {
                        0 => (r >> 8) as usize % (offsets::PARAMETERS + 128), // segment header, parameters
                        _ => rings[(r >> 8) as usize % rings.len()].0 + (r >> 16) as usize % TAIL_OFFSET,
                    };
                    map.write_u8(at, (r >> 56) as u8);
                }
                Mode::DataAreas => {
                    let (ring, capacity) = rings[r as usize % rings.len()];
                    map.write_u8(ring + RING_HEADER_LEN + (r >> 8) as usize % capacity, (r >> 56) as u8);
                }
            }
            writes += 1;
            if mode == Mode::EverythingSlowly || mode == Mode::Counters || mode == Mode::RecordHeaders {
                thread::sleep(Duration::from_micros(100));
                break;
            }
        }
    }
    println!("scribbler: {writes} writes in {millis} ms ({mode:?})");
}

/// Data offset of the header of a random unread record of the ring at `ring` (found by
/// walking from its head to its tail as a consumer would), or of the tail when none is found.
fn pick_unread_header(map: &RawMapping, ring: usize, capacity: usize, rng: &mut Rng) -> usize {
    let (head, tail) = (map.read_u64(ring + HEAD_OFFSET), map.read_u64(ring + TAIL_OFFSET));
    let mask = capacity as u64 - 1;
    let mut headers = Vec::new();
    let mut pos = head;
    while pos < tail && tail - head <= capacity as u64 && headers.len() < 64 {
        let word = map.read_u64(ring + RING_HEADER_LEN + (pos & mask & !7) as usize);
        match word {
            _ if word == PAD_HEADER => pos += capacity as u64 - (pos & mask),
            _ if word >> 32 == u64::from(shmring_ring::record::TAG_RECORD) => {
                headers.push(pos & mask & !7);
                pos += shmring_ring::record::footprint(word as u32 as usize) as u64;
            }
            _ => break,
        }
    }
    match headers.len() {
        0 => (tail & mask & !7) as usize,
        n => headers[rng.below_or(n as u64 - 1) as usize] as usize,
    }
}

/// What one side observed, by outcome.
#[derive(Debug, Default)]
struct Tally {
    outcomes: BTreeMap<&'static str, u64>,
    /// Received messages whose sequence number and checksum still matched.
    intact: u64,
    /// Received messages that the scribbler had torn.
    torn: u64,
    slowest: Duration,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        for (k, v) in &other.outcomes {
            *self.outcomes.entry(k).or_default() += v;
        }
        self.intact += other.intact;
        self.torn += other.torn;
        self.slowest = self.slowest.max(other.slowest);
    }
}

fn error_name(e: &ChannelError) -> &'static str {
    match e {
        ChannelError::Closed => "Err(Closed)",
        ChannelError::PeerClosed => "Err(PeerClosed)",
        ChannelError::PeerDead => "Err(PeerDead)",
        ChannelError::Corrupt => "Err(Corrupt)",
        ChannelError::TooLarge { .. } => "Err(TooLarge)",
        ChannelError::BufferTooSmall { .. } => "Err(BufferTooSmall)",
        ChannelError::Timeout => "Err(Timeout)",
        ChannelError::Os(_) => "Err(Os)",
    }
}

/// Runs random operations (each with a deadline of at most a few ms) on `side` until `stop`
/// (or a hard deadline), checking the rules that hold whatever the peer writes.
fn exercise(side: &mut Channel, seed: u64, stop: &AtomicBool) -> Tally {
    let hard_deadline = Instant::now() + LIMIT * 3; // a fail-safe: rounds last 250 ms
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let mut message = Vec::new();
    let mut buf = vec![0u8; 4096];
    let mut corrupt = false;
    let mut seq = 0u64;
    // ORDERING: Relaxed; a stop request, no data hangs on it.
    while !stop.load(Ordering::Relaxed) && Instant::now() < hard_deadline {
        let op = rng.below_or(10);
        let lane = Priority::ALL[rng.below_or(2) as usize];
        let max = side.sender().max_message_len(lane);
        let len =
            if rng.below_or(50) == 0 { max + 1 + rng.below_or(8) as usize } else { rng.in_range(16..=2000) as usize };
        seq += 1;
        support::message(seq, len.min(4096), &mut message);
        message.resize(len, 0);
        let wait = Duration::from_micros(rng.below_or(5_000));
        let start = Instant::now();
        let mut received = Vec::new();
        // (outcome, whether a sticky Corrupt must show here)
        let (outcome, transfer): (Result<&'static str, ChannelError>, bool) = match op {
            0 => (side.try_send_with(&message, lane).map(|sent| if sent { "Ok(sent)" } else { "Ok(false)" }), true),
            1 => (side.send_with(&message, lane, Some(wait)).map(|()| "Ok(sent)"), true),
            2 => {
                seq += 1;
                let mut second = Vec::new();
                support::message(seq, 16, &mut second);
                let r = side.try_send_batch(&[&message[..], &second[..]], lane);
                (r.map(|n| if n > 0 { "Ok(sent)" } else { "Ok(0)" }), true)
            }
            3 => (
                side.try_recv().map(|m| {
                    m.map_or("Ok(None)", |m| {
                        received.push(m);
                        "Ok(data)"
                    })
                }),
                true,
            ),
            4 => {
                let size = rng.below_or(4096) as usize;
                let r = side.try_recv_into(&mut buf[..size]);
                (
                    r.map(|n| {
                        n.map_or("Ok(None)", |n| {
                            received.push(buf[..n].to_vec());
                            "Ok(data)"
                        })
                    }),
                    true,
                )
            }
            5 => (
                side.try_recv_with(|r| r.to_vec()).map(|m| {
                    m.map_or("Ok(None)", |m| {
                        received.push(m);
                        "Ok(data)"
                    })
                }),
                true,
            ),
            6 => (
                side.recv_timeout(wait).map(|m| {
                    received.push(m);
                    "Ok(data)"
                }),
                true,
            ),
            7 => (
                side.recv_batch(16, |r| received.push(r.to_vec())).map(|n| if n > 0 { "Ok(data)" } else { "Ok(0)" }),
                true,
            ),
            8 => (side.wait_readable(Some(Instant::now() + wait)).map(|_| "Ok(waited)"), false),
            _ => {
                let fills = [side.sender().fill(lane), side.receiver().fill(lane)];
                let fill = fills.into_iter().find(Result::is_err).unwrap_or(Ok(0.0));
                (fill.map(|_| "Ok(fill)"), false)
            }
        };
        let elapsed = start.elapsed();
        tally.slowest = tally.slowest.max(elapsed);
        assert!(elapsed < wait + Duration::from_secs(5), "operation {op} took {elapsed:?} (its wait was {wait:?})");
        for m in &received {
            let intact = support::seq_of(m).is_some_and(|s| support::verify(m, s).is_ok());
            if intact {
                tally.intact += 1;
            } else {
                tally.torn += 1;
            }
        }
        let name = match &outcome {
            Ok(name) => name,
            Err(e) => error_name(e),
        };
        if corrupt && transfer {
            assert!(matches!(outcome, Err(ChannelError::Corrupt)), "after Corrupt, operation {op} returned {name}");
        }
        match &outcome {
            Err(ChannelError::Corrupt) => corrupt = true,
            Err(ChannelError::Closed) => panic!("operation {op} returned Closed, but this side never closed"),
            Err(ChannelError::Os(e)) => panic!("operation {op} failed in the OS: {e}"),
            _ => {}
        }
        *tally.outcomes.entry(name).or_default() += 1;
    }
    tally
}

#[test]
fn a_scribbling_peer_yields_only_data_or_errors_never_a_panic_crash_or_hang() {
    const TEST: &str = "a_scribbling_peer_yields_only_data_or_errors_never_a_panic_crash_or_hang";
    if support::role().is_some() {
        let mode = std::env::var(MODE_ENV).unwrap().parse::<usize>().unwrap();
        let millis = std::env::var(MILLIS_ENV).unwrap().parse().unwrap();
        scribble(MODES[mode], millis);
        return;
    }
    let total = Duration::from_secs(if support::long() { 60 } else { 2 });
    let round = Duration::from_millis(250);
    let rounds = (total.as_millis() / round.as_millis()).max(MODES.len() as u128) as usize;
    let mut by_mode: BTreeMap<String, Tally> = BTreeMap::new();
    for i in 0..rounds {
        let mode = i % MODES.len();
        let (mut a, mut b) = pair_with(&SMALL);
        let envs = [(MODE_ENV, mode.to_string()), (MILLIS_ENV, round.as_millis().to_string())];
        let child = support::spawn_with_channel(TEST, "scribbler", &a, &envs);
        let stop = AtomicBool::new(false);
        let (side_a, side_b, stdout) = thread::scope(|s| {
            let ta = s.spawn(|| exercise(&mut a, 2 * i as u64, &stop));
            let tb = s.spawn(|| exercise(&mut b, 2 * i as u64 + 1, &stop));
            let finished = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                support::wait_for_success(child, round + LIMIT)
            }));
            // ORDERING: Relaxed; see `exercise`.
            stop.store(true, Ordering::Relaxed);
            let finished = finished.unwrap_or_else(|e| std::panic::resume_unwind(e));
            (ta.join().expect("side A panicked"), tb.join().expect("side B panicked"), finished.stdout)
        });
        let writes = stdout.find("scribbler:").map_or("scribbler: ?", |at| stdout[at..].lines().next().unwrap_or(""));
        let writes = writes.to_owned();
        let entry = by_mode.entry(format!("{:?}", MODES[mode])).or_default();
        entry.add(&side_a);
        entry.add(&side_b);
        if i < MODES.len() {
            println!("round {i} {writes}");
        }
    }
    let mut all = Tally::default();
    for (mode, tally) in &by_mode {
        println!(
            "{mode:>16}: {:?}; received intact {} torn {}; slowest op {:.1?}",
            tally.outcomes, tally.intact, tally.torn, tally.slowest
        );
        all.add(tally);
    }
    let ops: u64 = all.outcomes.values().sum();
    println!(
        "{rounds} rounds, {ops} operations: {} Err(Corrupt), {} Ok(data) ({} intact, {} torn)",
        all.outcomes.get("Err(Corrupt)").unwrap_or(&0),
        all.outcomes.get("Ok(data)").unwrap_or(&0),
        all.intact,
        all.torn
    );
    assert!(all.outcomes.get("Ok(data)").is_some_and(|&n| n > 0), "no data ever flowed");
    assert!(all.outcomes.get("Err(Corrupt)").is_some_and(|&n| n > 0), "the scribbler never broke a ring");
}

// ---------------------------------------------------------------------------------------
// Refused at attach: the parameters line and the ring headers

/// Creates a channel, applies `attack` to its mapping, and attaches side B.
fn attach_after(attack: impl FnOnce(&RawMapping)) -> Result<Channel, OpenError> {
    let a = Channel::create_with(&SMALL).unwrap();
    attack(&RawMapping::of(&a));
    Channel::from_fd(a.share_fd().unwrap())
}

fn assert_incompatible(what: &str, result: Result<Channel, OpenError>) {
    match result {
        Err(OpenError::Incompatible(why)) => println!("{what}: {why}"),
        other => panic!("{what}: expected Incompatible, got {other:?}"),
    }
}

#[test]
fn attach_refuses_a_parameters_line_that_is_not_this_layout() {
    use offsets::PARAMETERS;
    let word0 = |magic: u32, version: u32| u64::from(version) << 32 | u64::from(magic);
    let magic = shmring_channel::layout::CHANNEL_MAGIC;
    let version = shmring_channel::layout::CHANNEL_VERSION;
    assert_incompatible("wrong magic", attach_after(|m| m.write_u64(PARAMETERS, word0(0x1234_5678, version))));
    assert_incompatible("zeroed magic", attach_after(|m| m.write_u64(PARAMETERS, 0)));
    assert_incompatible("newer version", attach_after(|m| m.write_u64(PARAMETERS, word0(magic, version + 1))));
    assert_incompatible("two lanes", attach_after(|m| m.write_u64(PARAMETERS + 8, 2)));
    assert_incompatible("u32::MAX lanes", attach_after(|m| m.write_u64(PARAMETERS + 8, u64::from(u32::MAX))));
    for (what, lane_offset, value) in [
        ("a critical capacity that is not a power of two", 16, 4096 + 8),
        ("a high capacity below 4 KiB", 24, 2048),
        ("a zero normal capacity", 32, 0),
        ("a normal capacity above 1 GiB", 32, 1 << 31),
        ("a normal capacity of u64::MAX", 32, u64::MAX),
        ("capacities that do not match the segment's size", 32, 1 << 15),
        ("capacities swapped between lanes", 16, 1 << 14),
    ] {
        assert_incompatible(what, attach_after(|m| m.write_u64(PARAMETERS + lane_offset, value)));
    }
    // The intact line is accepted (the attacks above are the only difference).
    assert!(attach_after(|_| {}).is_ok());
}

#[test]
fn attach_refuses_rings_whose_headers_or_counters_are_wrong() {
    let caps = caps(&SMALL);
    let ring = offsets::ring(&caps, Side::B, Priority::High);
    assert_incompatible("bad ring magic", attach_after(|m| m.write_u64(ring, 0xdead_beef)));
    assert_incompatible("ring capacity changed", attach_after(|m| m.write_u64(ring + 8, 8192)));
    let (head, tail) =
        (offsets::head(&caps, Side::A, Priority::Normal), offsets::tail(&caps, Side::A, Priority::Normal));
    assert_incompatible("head past tail", attach_after(|m| m.write_u64(head, 64)));
    assert_incompatible("tail past head + capacity", attach_after(|m| m.write_u64(tail, 1 << 15)));
    assert_incompatible("unaligned tail", attach_after(|m| m.write_u64(tail, 12)));
}

#[test]
fn attach_refuses_a_segment_too_short_for_the_control_block() {
    let segment = Segment::create(CHANNEL_KIND, CONTROL_LEN - 128).unwrap();
    segment.publish();
    let fd = segment.as_fd().try_clone_to_owned().unwrap();
    assert_incompatible("payload shorter than the control block", Channel::from_fd(fd));
}

#[test]
fn attach_refuses_a_segment_of_another_kind() {
    let segment = Segment::create(SegmentKind(CHANNEL_KIND.0 + 1), 1 << 16).unwrap();
    segment.publish();
    let fd = segment.as_fd().try_clone_to_owned().unwrap();
    match Channel::from_fd(fd) {
        Err(OpenError::Segment(shmring_segment::OpenError::KindMismatch { found, expected })) => {
            assert_eq!((found, expected), (CHANNEL_KIND.0 + 1, CHANNEL_KIND.0));
        }
        other => panic!("expected KindMismatch, got {other:?}"),
    }
}

#[test]
fn attach_refuses_a_channel_segment_that_was_never_published() {
    let segment = Segment::create(CHANNEL_KIND, caps(&SMALL).payload_len()).unwrap();
    let fd = segment.as_fd().try_clone_to_owned().unwrap();
    assert!(matches!(Channel::from_fd(fd), Err(OpenError::Segment(shmring_segment::OpenError::NotYetInitialized))));
}

#[test]
fn a_side_b_already_marked_open_or_closed_cannot_be_claimed() {
    for state in [1, 2, 77] {
        let result = attach_after(|m| m.write_u32(offsets::state(Side::B), state));
        assert!(matches!(result, Err(OpenError::AlreadyAttached)), "state {state}: {result:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Caught in use: Corrupt, and the side stays closed

/// Asserts that every transfer on `side` now returns `Corrupt`, and that the peer sees the
/// channel closed.
fn assert_closed_as_corrupt(side: &mut Channel, peer: &mut Channel) {
    assert!(matches!(side.try_recv(), Err(ChannelError::Corrupt)));
    assert!(matches!(side.recv_timeout(LIMIT), Err(ChannelError::Corrupt)));
    assert!(matches!(side.recv_batch(8, |_| {}), Err(ChannelError::Corrupt)));
    assert!(matches!(side.try_send(b"x"), Err(ChannelError::Corrupt)));
    assert!(matches!(side.send(b"x", Some(LIMIT)), Err(ChannelError::Corrupt)));
    loop {
        match peer.recv_timeout(LIMIT) {
            Ok(_) => continue, // whatever the corrupt side had sent before
            Err(ChannelError::PeerClosed) => break,
            Err(e) => panic!("the peer of a corrupt side saw {e:?}"),
        }
    }
}

#[test]
fn a_tail_that_is_not_a_multiple_of_eight_is_corrupt_and_closes_the_receiver() {
    let (mut a, mut b) = pair_with(&SMALL);
    let map = RawMapping::of(&a);
    map.write_u64(offsets::tail(&caps(&SMALL), Side::A, Priority::Normal), 12);
    // Records are found through their headers: a forged tail publishes nothing. The fill
    // figure reads the tail and catches it.
    assert!(b.try_recv().unwrap().is_none());
    assert!(matches!(b.receiver().fill(Priority::Normal), Err(ChannelError::Corrupt)));
    assert_closed_as_corrupt(&mut b, &mut a);
}

#[test]
fn a_tail_beyond_one_capacity_of_unread_data_is_corrupt() {
    let (mut a, mut b) = pair_with(&SMALL);
    let map = RawMapping::of(&a);
    map.write_u64(offsets::tail(&caps(&SMALL), Side::A, Priority::Critical), 4096 + 8);
    assert!(matches!(b.receiver().fill(Priority::Critical), Err(ChannelError::Corrupt)));
    assert_closed_as_corrupt(&mut b, &mut a);
}

#[test]
fn a_tail_that_moves_backwards_is_corrupt() {
    let (mut a, mut b) = pair_with(&SMALL);
    a.try_send(b"one").unwrap();
    assert!(b.receiver().fill(Priority::Normal).unwrap() > 0.0);
    assert_eq!(b.try_recv().unwrap().unwrap(), b"one");
    RawMapping::of(&a).write_u64(offsets::tail(&caps(&SMALL), Side::A, Priority::Normal), 0);
    assert!(matches!(b.receiver().fill(Priority::Normal), Err(ChannelError::Corrupt)));
    assert_closed_as_corrupt(&mut b, &mut a);
}

#[test]
fn a_record_header_with_an_unknown_tag_is_corrupt() {
    let (mut a, mut b) = pair_with(&SMALL);
    a.try_send(b"12345678").unwrap();
    RawMapping::of(&a).write_u64(offsets::data(&caps(&SMALL), Side::A, Priority::Normal), 0x0bad_0000_0008);
    assert!(matches!(b.try_recv(), Err(ChannelError::Corrupt)));
    assert_closed_as_corrupt(&mut b, &mut a);
}

#[test]
fn a_record_longer_than_half_the_lane_is_corrupt() {
    let (mut a, mut b) = pair_with(&SMALL);
    a.try_send(b"12345678").unwrap();
    RawMapping::of(&a).write_u64(offsets::data(&caps(&SMALL), Side::A, Priority::Normal), record_header(9000));
    assert!(matches!(b.try_recv(), Err(ChannelError::Corrupt)));
    assert_closed_as_corrupt(&mut b, &mut a);
}

#[test]
fn a_pad_marker_before_the_end_of_published_data_wrap_is_corrupt() {
    let (mut a, mut b) = pair_with(&SMALL);
    a.try_send(b"12345678").unwrap();
    RawMapping::of(&a).write_u64(offsets::data(&caps(&SMALL), Side::A, Priority::Normal), PAD_HEADER);
    assert!(matches!(b.try_recv(), Err(ChannelError::Corrupt)));
    assert_closed_as_corrupt(&mut b, &mut a);
}

#[test]
fn a_head_beyond_the_published_tail_is_corrupt_and_closes_the_sender() {
    let (mut a, mut b) = pair_with(&SMALL);
    while a.try_send(&[0u8; 1000]).unwrap() {}
    let tail = offsets::tail(&caps(&SMALL), Side::A, Priority::Normal);
    let map = RawMapping::of(&a);
    map.write_u64(offsets::head(&caps(&SMALL), Side::A, Priority::Normal), map.read_u64(tail) + 8);
    assert!(matches!(a.try_send(&[0u8; 1000]), Err(ChannelError::Corrupt)));
    assert!(matches!(a.try_send(b"x"), Err(ChannelError::Corrupt)));
    assert!(matches!(a.try_recv(), Err(ChannelError::Corrupt)), "the whole side is closed");
    assert_closed_as_corrupt(&mut a, &mut b);
}

#[test]
fn fill_that_finds_a_corrupt_counter_reports_corrupt_and_closes_the_side() {
    let (mut a, mut b) = pair_with(&SMALL);
    a.try_send(b"x").unwrap();
    let map = RawMapping::of(&a);
    map.write_u64(offsets::head(&caps(&SMALL), Side::A, Priority::Normal), 1 << 20);
    assert!(matches!(a.sender().fill(Priority::Normal), Err(ChannelError::Corrupt)));
    assert!(matches!(a.try_send_with(b"y", Priority::Critical), Err(ChannelError::Corrupt)));
    assert_closed_as_corrupt(&mut a, &mut b);

    let (mut a, mut b) = pair_with(&SMALL);
    RawMapping::of(&a).write_u64(offsets::tail(&caps(&SMALL), Side::A, Priority::High), 3);
    assert!(matches!(b.receiver().fill(Priority::High), Err(ChannelError::Corrupt)));
    assert_closed_as_corrupt(&mut b, &mut a);
}

// ---------------------------------------------------------------------------------------
// The control block: lies cost the liar, never us

#[test]
fn a_peer_state_overwritten_with_garbage_is_ignored_and_closed_is_believed() {
    let (mut a, mut b) = pair_with(&SMALL);
    let map = RawMapping::of(&a);
    map.write_u32(offsets::state(Side::A), 77);
    a.try_send(b"still open").unwrap();
    assert_eq!(b.recv_timeout(LIMIT).unwrap(), b"still open");
    map.write_u32(offsets::state(Side::A), 2); // CLOSED, as if A had closed
    assert!(matches!(b.recv_timeout(LIMIT), Err(ChannelError::PeerClosed)));
    assert!(matches!(b.try_send(b"x"), Err(ChannelError::PeerClosed)));
}

#[test]
fn a_wait_word_overwritten_by_the_peer_does_not_lose_a_wake_or_a_deadline() {
    let (mut a, mut b) = pair_with(&SMALL);
    let map = RawMapping::of(&a);
    let word = offsets::data_word(Side::B);
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let mut rng = Rng::new(5);
            // ORDERING: Relaxed; a stop request.
            while !stop.load(Ordering::Relaxed) {
                map.write_u32(word, rng.next_u64() as u32 & 3);
                thread::yield_now();
            }
        });
        let timeout = Duration::from_millis(120);
        let start = Instant::now();
        assert!(matches!(b.recv_timeout(timeout), Err(ChannelError::Timeout)));
        assert!(start.elapsed() >= timeout);
        let waiting = s.spawn(|| {
            let start = Instant::now();
            (b.recv_timeout(LIMIT), start.elapsed())
        });
        thread::sleep(Duration::from_millis(100));
        a.try_send(b"through the noise").unwrap();
        let (result, waited) = waiting.join().unwrap();
        assert_eq!(result.unwrap(), b"through the noise");
        assert!(waited < LIMIT);
        // ORDERING: Relaxed; see above.
        stop.store(true, Ordering::Relaxed);
    });
}

#[test]
fn a_peer_that_lies_about_its_pid_only_ends_its_own_channel() {
    let (mut a, _b) = pair_with(&SMALL);
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    RawMapping::of(&a).write_u32(offsets::pid(Side::B), dead_pid);
    let start = Instant::now();
    let result = a.recv_timeout(LIMIT);
    assert!(matches!(result, Err(ChannelError::PeerDead)), "{result:?}");
    assert!(start.elapsed() < LIMIT, "noticed within liveness slices, not at the deadline");
    // Our own pid (or 0) is never taken for a dead peer.
    let (mut a, _b) = pair_with(&SMALL);
    RawMapping::of(&a).write_u32(offsets::pid(Side::B), 0);
    assert!(matches!(a.recv_timeout(shmring_channel::LIVENESS_SLICE * 3), Err(ChannelError::Timeout)));
}
