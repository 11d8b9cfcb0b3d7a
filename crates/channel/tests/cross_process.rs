//! Specification of a channel between two real processes: the parent creates it and re-runs
//! this test binary as a child (`--exact <test> --nocapture`, role in `SHMRING_TEST_ROLE`),
//! passing the segment as fd 3 with `Channel::pass_to_child`; the child attaches with
//! `Channel::from_parent`. Every wait has a deadline, so a lost wake-up or an unnoticed dead
//! peer fails a test instead of hanging it.
//!
//! The stream test moves 10^6 records per direction (about 13 s in a debug build on two busy
//! cores, 5 s in release), 10^7 with `SHMRING_LONG=1`.
#![cfg(unix)]

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use shmring_channel::{Channel, ChannelError, ChannelOptions, OpenError, Receiver, Sender, Side};
use support::{offsets, RawMapping, Rng, LIMIT};

/// 64 KiB normal lane (messages up to 32 KiB - 8): a stream of 2 KiB records wraps it
/// every ~32 records.
const SMALL: ChannelOptions = ChannelOptions { capacity: 64 << 10, high_capacity: 4096, critical_capacity: 4096 };

/// Largest random message length of the stream test.
const MAX_LEN: u64 = 4096;

const A_TO_B_SEED: u64 = 0xa2b;
const B_TO_A_SEED: u64 = 0xb2a;

/// Waits until `word` of the channel's segment reads `value`, at most [`LIMIT`].
fn wait_for_word(mapping: &RawMapping, offset: usize, value: u32) {
    let deadline = Instant::now() + LIMIT;
    while mapping.read_u32(offset) != value {
        assert!(Instant::now() < deadline, "word at {offset} never became {value}");
        thread::sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------------------
// A long stream, both directions at once

/// Sends `n` test messages of random lengths `0..=MAX_LEN` drawn from `seed`.
fn send_stream(sender: &mut Sender, seed: u64, n: u64) {
    let mut rng = Rng::new(seed);
    let mut buf = Vec::with_capacity(MAX_LEN as usize);
    for seq in 0..n {
        support::message(seq, rng.below_or(MAX_LEN) as usize, &mut buf);
        if let Err(e) = sender.send(&buf, Some(LIMIT)) {
            panic!("send of message {seq} failed: {e:?}");
        }
    }
}

/// Receives `n` messages with `recv_timeout`, checking each against the stream of `seed`;
/// returns the bytes received.
fn receive_stream_one_by_one(receiver: &mut Receiver, seed: u64, n: u64) -> u64 {
    let mut lengths = Rng::new(seed);
    let mut bytes = 0;
    for seq in 0..n {
        let message = match receiver.recv_timeout(LIMIT) {
            Ok(m) => m,
            Err(e) => panic!("waiting for message {seq} of {n}: {e:?}"),
        };
        let expected_len = lengths.below_or(MAX_LEN) as usize;
        assert_eq!(message.len(), expected_len, "length of message {seq}");
        support::verify(&message, seq).unwrap_or_else(|e| panic!("{e}"));
        bytes += message.len() as u64;
    }
    assert_no_more_messages(receiver);
    bytes
}

/// Receives `n` messages with `wait_readable` + `recv_batch`, checking as above.
fn receive_stream_in_batches(receiver: &mut Receiver, seed: u64, n: u64) -> u64 {
    let mut lengths = Rng::new(seed);
    let mut seq = 0;
    let mut bytes = 0;
    let mut buf = vec![0u8; MAX_LEN as usize];
    let mut failure = None;
    while seq < n {
        let deadline = Instant::now() + LIMIT;
        let visited = receiver
            .recv_batch(64.min((n - seq) as usize), |record| {
                let expected_len = lengths.below_or(MAX_LEN) as usize;
                let check = if record.len() != expected_len {
                    Err(format!("message {seq}: {} bytes, expected {expected_len}", record.len()))
                } else {
                    record.copy_to(&mut buf);
                    support::verify(&buf[..record.len()], seq)
                };
                if let (Err(e), None) = (check, &failure) {
                    failure = Some(e);
                }
                bytes += record.len() as u64;
                seq += 1;
            })
            .unwrap_or_else(|e| panic!("waiting for message {seq} of {n}: {e:?}"));
        if let Some(e) = failure.take() {
            panic!("{e}");
        }
        if visited == 0 {
            receiver.wait_readable(Some(deadline)).expect("wait_readable");
            assert!(Instant::now() < deadline, "no message {seq} of {n} within {LIMIT:?}");
        }
    }
    assert_no_more_messages(receiver);
    bytes
}

/// After the last expected message: nothing more (the peer may have closed meanwhile).
fn assert_no_more_messages(receiver: &mut Receiver) {
    match receiver.try_recv() {
        Ok(None) | Err(ChannelError::PeerClosed) => {}
        Ok(Some(m)) => panic!("an extra message of {} bytes (seq {:?})", m.len(), support::seq_of(&m)),
        Err(e) => panic!("after the last message: {e:?}"),
    }
}

#[test]
fn a_long_stream_crosses_both_directions_at_once_intact_in_order_and_exactly_once() {
    const TEST: &str = "a_long_stream_crosses_both_directions_at_once_intact_in_order_and_exactly_once";
    let n = if support::long() { 10_000_000 } else { 1_000_000 };
    if support::role().is_some() {
        // Child, side B: sends the B→A stream while it checks the A→B stream (in batches).
        let (mut sender, mut receiver) = Channel::from_parent().expect("from_parent").split();
        thread::scope(|s| {
            s.spawn(|| send_stream(&mut sender, B_TO_A_SEED, n));
            receive_stream_in_batches(&mut receiver, A_TO_B_SEED, n);
        });
        return;
    }
    let channel = Channel::create_with(&SMALL).unwrap();
    let child = support::spawn_with_channel(TEST, "peer", &channel, &[]);
    let (mut sender, mut receiver) = channel.split();
    let start = Instant::now();
    let bytes_in = thread::scope(|s| {
        s.spawn(|| send_stream(&mut sender, A_TO_B_SEED, n));
        receive_stream_one_by_one(&mut receiver, B_TO_A_SEED, n)
    });
    let elapsed = start.elapsed();
    // Generous: the long variant moves 2 × 20 GB.
    support::wait_for_success(child, LIMIT * 30);
    // The child finished and closed: the stream ends with PeerClosed, nothing left over.
    assert!(matches!(receiver.recv_timeout(LIMIT), Err(ChannelError::PeerClosed)));
    let wraps = bytes_in / SMALL.capacity as u64;
    println!(
        "{n} records each way, {:.1} MB into the parent in {elapsed:.2?} ({:.0} records/s each way), ~{wraps} wraps of the 64 KiB lane",
        bytes_in as f64 / 1e6,
        n as f64 / elapsed.as_secs_f64(),
    );
    assert!(wraps >= 1_000, "the test is meant to wrap the ring thousands of times");
}

// ---------------------------------------------------------------------------------------
// Wake-up and end of stream

#[test]
fn a_receiver_asleep_in_recv_in_the_child_is_woken_by_the_parents_send() {
    const TEST: &str = "a_receiver_asleep_in_recv_in_the_child_is_woken_by_the_parents_send";
    if support::role().is_some() {
        let mut channel = Channel::from_parent().unwrap();
        let start = Instant::now();
        let message = channel.recv_timeout(LIMIT).expect("woken by the parent's send");
        assert_eq!(message, b"wake up");
        println!("child: slept {:.2?} in recv before the message arrived", start.elapsed());
        channel.send(b"awake", Some(LIMIT)).unwrap();
        return;
    }
    let mut channel = Channel::create_with(&SMALL).unwrap();
    let mapping = RawMapping::of(&channel);
    let child = support::spawn_with_channel(TEST, "sleeper", &channel, &[]);
    assert!(channel.wait_for_peer(LIMIT), "the child never attached");
    // The child spins briefly, then announces that it sleeps on its data word.
    wait_for_word(&mapping, offsets::data_word(Side::B), shmring_wait::PARKED);
    thread::sleep(Duration::from_millis(200));
    channel.send(b"wake up", Some(LIMIT)).unwrap();
    assert_eq!(channel.recv_timeout(LIMIT).expect("the child's answer"), b"awake");
    support::wait_for_success(child, LIMIT);
}

#[test]
fn when_the_parent_closes_the_childs_pending_recv_gets_everything_sent_then_peer_closed() {
    const TEST: &str = "when_the_parent_closes_the_childs_pending_recv_gets_everything_sent_then_peer_closed";
    const COUNT: u64 = 1_000;
    if support::role().is_some() {
        let mut channel = Channel::from_parent().unwrap();
        let mut last = Instant::now();
        for seq in 0..COUNT {
            let message = channel.recv_timeout(LIMIT).unwrap_or_else(|e| panic!("message {seq}: {e:?}"));
            support::verify(&message, seq).unwrap();
            last = Instant::now();
        }
        let end = channel.recv_timeout(LIMIT);
        let latency = last.elapsed();
        assert!(matches!(end, Err(ChannelError::PeerClosed)), "after {COUNT} messages: {end:?}");
        println!("child: PeerClosed {latency:.2?} after the last message");
        assert!(latency < Duration::from_secs(5), "PeerClosed took {latency:?}");
        return;
    }
    let mut channel = Channel::create().unwrap(); // 4 MiB lanes: everything fits at once
    let mapping = RawMapping::of(&channel);
    let child = support::spawn_with_channel(TEST, "drain", &channel, &[]);
    assert!(channel.wait_for_peer(LIMIT));
    wait_for_word(&mapping, offsets::data_word(Side::B), shmring_wait::PARKED);
    let mut buf = Vec::new();
    for seq in 0..COUNT {
        support::message(seq, 100, &mut buf);
        channel.send(&buf, Some(LIMIT)).unwrap();
    }
    channel.close();
    support::wait_for_success(child, LIMIT);
}

// ---------------------------------------------------------------------------------------
// A peer killed with SIGKILL

/// Sorted latencies → "min / median / max".
fn summary(latencies: &mut [Duration]) -> String {
    latencies.sort();
    format!(
        "min {:.1?} / median {:.1?} / max {:.1?}",
        latencies[0],
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    )
}

#[test]
fn a_parent_blocked_in_recv_learns_that_its_killed_child_is_dead() {
    const TEST: &str = "a_parent_blocked_in_recv_learns_that_its_killed_child_is_dead";
    if support::role().is_some() {
        let mut channel = Channel::from_parent().unwrap();
        channel.send(b"ready", Some(LIMIT)).unwrap();
        thread::sleep(LIMIT); // killed long before this ends
        return;
    }
    let mut latencies = Vec::new();
    for round in 0..5 {
        let mut channel = Channel::create_with(&SMALL).unwrap();
        let mut child = support::spawn_with_channel(TEST, "victim", &channel, &[]);
        assert_eq!(channel.recv_timeout(LIMIT).unwrap(), b"ready");
        let (result, noticed) = thread::scope(|s| {
            let blocked = s.spawn(|| {
                let result = channel.recv_timeout(LIMIT);
                (result, Instant::now())
            });
            // The receiver is asleep by now; the varying delay samples different points of
            // its liveness slice.
            thread::sleep(Duration::from_millis(100 + 11 * round));
            let killed = Instant::now();
            child.kill().expect("SIGKILL the child");
            let (result, at) = blocked.join().unwrap();
            (result, at.saturating_duration_since(killed))
        });
        support::wait_for_exit(child, LIMIT);
        assert!(matches!(result, Err(ChannelError::PeerDead)), "{result:?}");
        assert!(noticed < Duration::from_secs(2), "PeerDead took {noticed:?}");
        latencies.push(noticed);
    }
    println!("PeerDead after SIGKILL of an idle peer: {}", summary(&mut latencies));
}

#[test]
fn a_blocked_send_and_a_data_watch_learn_that_the_killed_child_is_dead() {
    const TEST: &str = "a_blocked_send_and_a_data_watch_learn_that_the_killed_child_is_dead";
    if support::role().is_some() {
        let mut channel = Channel::from_parent().unwrap();
        channel.send(b"ready", Some(LIMIT)).unwrap();
        thread::sleep(LIMIT); // never reads: the parent's lane stays full until the kill
        return;
    }
    let mut channel = Channel::create_with(&SMALL).unwrap();
    let mut child = support::spawn_with_channel(TEST, "victim", &channel, &[]);
    assert_eq!(channel.recv_timeout(LIMIT).unwrap(), b"ready");
    while channel.try_send(&[0u8; 4000]).unwrap() {}
    let watch = channel.data_watch();
    let (sent, watched, killed) = thread::scope(|s| {
        let sending = s.spawn(|| (channel.send(&[0u8; 4000], Some(LIMIT)), Instant::now()));
        let watching = s
            .spawn(|| (watch.wait(&mut shmring_channel::Spinner::new(), Some(Instant::now() + LIMIT)), Instant::now()));
        thread::sleep(Duration::from_millis(100));
        let killed = Instant::now();
        child.kill().expect("SIGKILL the child");
        (sending.join().unwrap(), watching.join().unwrap(), killed)
    });
    support::wait_for_exit(child, LIMIT);
    assert!(matches!(sent.0, Err(ChannelError::PeerDead)), "send: {:?}", sent.0);
    assert!(matches!(watched.0, Ok(shmring_channel::Readiness::Ended)), "watch: {:?}", watched.0);
    // The lane is still full and will stay so: a try says why instead of "no room yet".
    let tried = channel.try_send(&[0u8; 4000]);
    assert!(matches!(tried, Err(ChannelError::PeerDead)), "try_send on the full lane: {tried:?}");
    let batch = channel.try_send_batch(&[[0u8; 4000]], shmring_channel::Priority::Normal);
    assert!(matches!(batch, Err(ChannelError::PeerDead)), "try_send_batch on the full lane: {batch:?}");
    for (what, at) in [("send", sent.1), ("watch", watched.1)] {
        let latency = at.saturating_duration_since(killed);
        println!("{what} noticed the SIGKILL after {latency:.1?}");
        assert!(latency < Duration::from_secs(2), "{what} took {latency:?}");
    }
}

/// Every fd of this process that refers to the memfd `(dev, ino)` or is a pidfd of `pid`.
#[cfg(target_os = "linux")]
fn fds_referring_to(dev_ino: (u64, u64), pid: u32) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").flatten() {
        let fd = entry.file_name().to_string_lossy().into_owned();
        if let Ok(meta) = std::fs::metadata(entry.path()) {
            if (meta.dev(), meta.ino()) == dev_ino {
                found.push(format!("fd {fd}: the channel's memfd"));
            }
        }
        if let Ok(info) = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")) {
            if info.lines().any(|line| line.strip_prefix("Pid:").is_some_and(|p| p.trim() == pid.to_string())) {
                found.push(format!("fd {fd}: a pidfd of the dead child"));
            }
        }
    }
    found
}

#[test]
fn killing_a_child_mid_send_twenty_times_delivers_only_intact_messages_then_peer_dead() {
    const TEST: &str = "killing_a_child_mid_send_twenty_times_delivers_only_intact_messages_then_peer_dead";
    if support::role().is_some() {
        // Flood the parent with checksummed messages until killed.
        let mut channel = Channel::from_parent().unwrap();
        let mut rng = Rng::new(std::process::id().into());
        let mut buf = Vec::new();
        for seq in 0.. {
            support::message(seq, rng.in_range(16..=MAX_LEN) as usize, &mut buf);
            if channel.send(&buf, Some(LIMIT)).is_err() {
                break;
            }
        }
        thread::sleep(LIMIT); // a child that stops on its own must not look like a clean close
        return;
    }
    let mut latencies = Vec::new();
    let mut counts = Vec::new();
    for round in 0..20u64 {
        let channel = Channel::create_with(&SMALL).unwrap();
        #[cfg(target_os = "linux")]
        let memfd = {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::File::from(channel.share_fd().unwrap()).metadata().unwrap();
            (meta.dev(), meta.ino())
        };
        let mut child = support::spawn_with_channel(TEST, "flood", &channel, &[]);
        let child_pid = child.id();
        let received = Arc::new(AtomicU64::new(0));
        // Kill after a varying number of messages: 1 to ~2000.
        let kill_after = 1 + round * round * 5;
        let (end, latency) = thread::scope(|s| {
            let receiving = s.spawn({
                let received = Arc::clone(&received);
                let mut channel = channel;
                move || {
                    let mut seq = 0;
                    let end = loop {
                        match channel.recv_timeout(LIMIT) {
                            Ok(message) => {
                                support::verify(&message, seq).unwrap_or_else(|e| panic!("round {round}: {e}"));
                                seq += 1;
                                // ORDERING: Relaxed; a progress counter for the killer, no data.
                                received.store(seq, Ordering::Relaxed);
                            }
                            Err(e) => break e,
                        }
                    };
                    (end, Instant::now())
                }
            });
            let deadline = Instant::now() + LIMIT;
            // ORDERING: Relaxed; see above.
            while received.load(Ordering::Relaxed) < kill_after {
                assert!(Instant::now() < deadline, "round {round}: the child never sent {kill_after} messages");
                thread::yield_now();
            }
            let killed = Instant::now();
            child.kill().expect("SIGKILL the child");
            let (end, at) = receiving.join().unwrap();
            (end, at.saturating_duration_since(killed))
        });
        support::wait_for_exit(child, LIMIT);
        assert!(matches!(end, ChannelError::PeerDead), "round {round}: the stream ended with {end:?}");
        assert!(latency < Duration::from_secs(2), "round {round}: PeerDead took {latency:?}");
        latencies.push(latency);
        // ORDERING: Relaxed; the receiving thread was joined.
        counts.push(received.load(Ordering::Relaxed));
        // The channel was dropped with the receiving thread: nothing of it may stay open.
        #[cfg(target_os = "linux")]
        {
            let leaked = fds_referring_to(memfd, child_pid);
            assert!(leaked.is_empty(), "round {round}: leaked {leaked:?}");
        }
        #[cfg(not(target_os = "linux"))]
        let _ = child_pid;
    }
    println!("PeerDead after SIGKILL mid-send, 20 rounds: {}", summary(&mut latencies));
    println!("intact messages received before each death: {counts:?}");
}

// ---------------------------------------------------------------------------------------
// Named channels

const NAME_ENV: &str = "SHMRING_TEST_CHANNEL_NAME";

#[test]
fn a_named_channel_connects_a_parent_and_a_child_that_opens_it_by_name() {
    const TEST: &str = "a_named_channel_connects_a_parent_and_a_child_that_opens_it_by_name";
    if support::role().is_some() {
        let name = std::env::var(NAME_ENV).unwrap();
        let mut channel = Channel::open_named(&name).expect("open_named");
        loop {
            match channel.recv_timeout(LIMIT) {
                Ok(mut message) => {
                    message.reverse();
                    channel.send(&message, Some(LIMIT)).unwrap();
                }
                Err(ChannelError::PeerClosed) => return,
                Err(e) => panic!("child: {e:?}"),
            }
        }
    }
    let name = shmring_segment::SegmentName::random("sct-").unwrap().as_str().to_owned();
    let mut channel = Channel::create_named(&name, &SMALL).unwrap();
    let child = support::spawn_child(TEST, "named", &[(NAME_ENV, name.clone())]);
    for i in 0..1_000 {
        let message = format!("message {i} by name");
        channel.send(message.as_bytes(), Some(LIMIT)).unwrap();
        let mut answer = channel.recv_timeout(LIMIT).unwrap();
        answer.reverse();
        assert_eq!(answer, message.as_bytes());
    }
    channel.close();
    support::wait_for_success(child, LIMIT);
}

#[test]
fn a_refused_second_attacher_that_exits_does_not_make_the_creator_think_its_peer_died() {
    const TEST: &str = "a_refused_second_attacher_that_exits_does_not_make_the_creator_think_its_peer_died";
    if let Some(role) = support::role() {
        let name = std::env::var(NAME_ENV).unwrap();
        if role == "intruder" {
            assert!(matches!(Channel::open_named(&name), Err(OpenError::AlreadyAttached)));
            return;
        }
        let mut channel = Channel::open_named(&name).unwrap();
        channel.send(b"ready", Some(LIMIT)).unwrap();
        assert_eq!(channel.recv_timeout(LIMIT).unwrap(), b"bye");
        return;
    }
    let name = shmring_segment::SegmentName::random("sct-").unwrap().as_str().to_owned();
    let mut channel = Channel::create_named(&name, &SMALL).unwrap();
    let peer = support::spawn_child(TEST, "peer", &[(NAME_ENV, name.clone())]);
    // Poll without blocking calls, so that nothing asks about the peer's liveness yet.
    let deadline = Instant::now() + LIMIT;
    let ready = loop {
        if let Some(message) = channel.try_recv().unwrap() {
            break message;
        }
        assert!(Instant::now() < deadline, "the peer never said ready");
        thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(ready, b"ready");
    support::wait_for_success(support::spawn_child(TEST, "intruder", &[(NAME_ENV, name.clone())]), LIMIT);
    // The intruder is gone; the real peer is alive and quiet: a wait over several liveness
    // slices must time out, not report a dead peer.
    let waited = shmring_channel::LIVENESS_SLICE * 5;
    assert!(matches!(channel.recv_timeout(waited), Err(ChannelError::Timeout)));
    channel.send(b"bye", Some(LIMIT)).unwrap();
    support::wait_for_success(peer, LIMIT);
    assert!(matches!(channel.recv_timeout(LIMIT), Err(ChannelError::PeerClosed)));
}

// ---------------------------------------------------------------------------------------
// Children started without a channel

#[test]
fn from_parent_in_a_process_that_was_not_given_a_channel_is_an_error() {
    const TEST: &str = "from_parent_in_a_process_that_was_not_given_a_channel_is_an_error";
    if support::role().is_some() {
        // This child runs only this test, so changing its environment races with nothing.
        let invalid_input = |r: Result<Channel, OpenError>| match r {
            Err(OpenError::Os(e)) => e.kind() == std::io::ErrorKind::InvalidInput,
            _ => false,
        };
        assert!(invalid_input(Channel::from_parent()), "variable unset");
        std::env::set_var(shmring_channel::FD_ENV, "three");
        assert!(invalid_input(Channel::from_parent()), "not a number");
        std::env::set_var(shmring_channel::FD_ENV, "987");
        assert!(invalid_input(Channel::from_parent()), "not an open fd");
        let file = std::fs::File::open("/dev/null").unwrap();
        std::env::set_var(shmring_channel::FD_ENV, std::os::fd::AsRawFd::as_raw_fd(&file).to_string());
        std::mem::forget(file); // from_parent takes ownership of the fd
        assert!(
            matches!(Channel::from_parent(), Err(OpenError::Segment(_))),
            "an fd that is not a sealed channel segment is refused"
        );
        return;
    }
    support::wait_for_success(support::spawn_child(TEST, "orphan", &[]), LIMIT);
}

/// Voluntary context switches of the calling thread so far (Linux `/proc/thread-self/status`).
fn voluntary_switches_of_this_thread() -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status").expect("read /proc/thread-self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("voluntary_ctxt_switches in /proc/thread-self/status")
}

#[test]
fn a_receiver_idle_in_recv_with_a_live_peer_sleeps_until_its_deadline_without_waking() {
    const TEST: &str = "a_receiver_idle_in_recv_with_a_live_peer_sleeps_until_its_deadline_without_waking";
    if support::role().is_some() {
        let mut channel = Channel::from_parent().unwrap();
        channel.send(b"ready", Some(LIMIT)).unwrap();
        let _ = channel.recv_timeout(LIMIT); // ends when the parent closes
        return;
    }
    let mut channel = Channel::create_with(&SMALL).unwrap();
    let child = support::spawn_with_channel(TEST, "idle peer", &channel, &[]);
    assert_eq!(channel.recv_timeout(LIMIT).unwrap(), b"ready");
    let wakeups = thread::scope(|s| {
        s.spawn(|| {
            let before = voluntary_switches_of_this_thread();
            let result = channel.recv_timeout(Duration::from_secs(1));
            assert!(matches!(result, Err(ChannelError::Timeout)), "{result:?}");
            voluntary_switches_of_this_thread() - before
        })
        .join()
        .unwrap()
    });
    channel.close();
    support::wait_for_success(child, LIMIT);
    // The peer's exit is signalled by the watcher thread (pidfd), so the sleep is one wait;
    // polling its liveness every 50 ms slice instead would be about 20 wake-ups.
    println!("idle recv_timeout(1 s): {wakeups} voluntary context switches");
    assert!(wakeups <= 3, "{wakeups} wake-ups in 1 s of idle recv");
}
