//! Specification of a duplex channel as seen by its two sides in one process: side A creates
//! it, side B attaches to a duplicate of its fd (`share_fd`), and both use the public API.
//! The same rules hold across processes (`tests/cross_process.rs`); here they are pinned
//! down exactly, without scheduling noise. Unix only: side B attaches through an fd.
#![cfg(unix)]

mod support;

use std::time::{Duration, Instant};

use shmring_channel::{
    Channel, ChannelError, ChannelOptions, CreateError, OpenError, ParkResult, Priority, Readiness, Receiver, Sender,
    Side, Spinner, FAIRNESS_PERIOD,
};
use shmring_segment::SegmentName;
use support::LIMIT;

/// Lanes of 4 KiB each: messages up to 2040 bytes, full after a few of them.
const SMALL: ChannelOptions = ChannelOptions { capacity: 4096, high_capacity: 4096, critical_capacity: 4096 };

/// Side A (created) and side B (attached).
fn pair_with(options: &ChannelOptions) -> (Channel, Channel) {
    let a = Channel::create_with(options).expect("create the channel");
    let b = Channel::from_fd(a.share_fd().expect("share_fd")).expect("attach side B");
    (a, b)
}

fn pair() -> (Channel, Channel) {
    pair_with(&ChannelOptions::default())
}

fn random_name() -> String {
    SegmentName::random("sct-").expect("random name").as_str().to_owned()
}

/// Receives everything waiting on `side` with `try_recv`, as UTF-8 strings.
fn drain(side: &mut Channel) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(message) = side.try_recv().expect("try_recv") {
        out.push(String::from_utf8(message).expect("utf-8 test message"));
    }
    out
}

fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

// ---------------------------------------------------------------------------------------
// Sending and receiving

#[test]
fn a_message_sent_by_one_side_is_received_by_the_other_in_both_directions() {
    let (mut a, mut b) = pair();
    a.send(b"from A", Some(LIMIT)).unwrap();
    assert_eq!(b.recv_timeout(LIMIT).unwrap(), b"from A");
    b.send(b"from B", Some(LIMIT)).unwrap();
    assert_eq!(a.recv_timeout(LIMIT).unwrap(), b"from B");
}

#[test]
fn the_creator_is_side_a_and_the_attacher_side_b() {
    let a = Channel::create().unwrap();
    assert_eq!(a.side(), Side::A);
    assert!(!a.is_peer_attached());
    assert!(!a.wait_for_peer(Duration::from_millis(10)));
    let b = Channel::from_fd(a.share_fd().unwrap()).unwrap();
    assert_eq!(b.side(), Side::B);
    assert!(a.is_peer_attached());
    assert!(a.wait_for_peer(LIMIT));
    assert!(b.is_peer_attached());
    assert_eq!(a.id(), b.id(), "both sides read the creator's id");
    assert_ne!(a.id(), Channel::create().unwrap().id(), "ids are random");
}

#[test]
fn messages_arrive_in_the_order_they_were_sent_with_their_exact_bytes() {
    let (mut a, mut b) = pair_with(&SMALL);
    let mut buf = Vec::new();
    let mut rng = support::Rng::new(7);
    // 4 KiB lanes: this wraps the ring dozens of times.
    for seq in 0..2_000 {
        support::message(seq, rng.below_or(300) as usize, &mut buf);
        a.send(&buf, Some(LIMIT)).unwrap();
        let got = b.recv_timeout(LIMIT).unwrap();
        assert_eq!(got, buf, "message {seq}");
    }
}

#[test]
fn an_empty_message_is_a_message() {
    let (mut a, mut b) = pair();
    assert!(a.try_send(b"").unwrap());
    assert_eq!(b.try_recv().unwrap(), Some(Vec::new()));
    assert_eq!(b.try_recv().unwrap(), None);
}

#[test]
fn try_recv_on_an_empty_channel_returns_none() {
    let (mut a, mut b) = pair();
    assert_eq!(b.try_recv().unwrap(), None);
    assert_eq!(a.try_recv().unwrap(), None);
    let mut buf = [0u8; 16];
    assert_eq!(b.try_recv_into(&mut buf).unwrap(), None);
    assert_eq!(b.try_recv_with(|r| r.len()).unwrap(), None);
}

#[test]
fn try_send_on_a_full_lane_returns_false_and_sends_nothing() {
    let (mut a, mut b) = pair_with(&SMALL);
    let message = [7u8; 1000];
    let mut sent = 0;
    while a.try_send(&message).unwrap() {
        sent += 1;
        assert!(sent < 100, "a 4 KiB lane never filled up");
    }
    assert_eq!(sent, 4, "a 4 KiB lane holds four 1000-byte records (1008 bytes each)");
    assert!(!a.try_send(&message).unwrap(), "still full");
    // Other lanes are separate rings: still room there.
    assert!(a.try_send_with(&message, Priority::High).unwrap());
    let received = std::iter::from_fn(|| b.try_recv().unwrap()).count();
    assert_eq!(received, sent + 1);
}

#[test]
fn send_waits_for_room_until_the_consumer_frees_some() {
    let (mut a, mut b) = pair_with(&SMALL);
    let message = [1u8; 1000];
    while a.try_send(&message).unwrap() {}
    const DELAY: Duration = Duration::from_millis(100);
    let start = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(DELAY);
            // Two: the next record needs a pad to the end of the lane and 8 spare bytes, more
            // than one received message of the same size frees.
            b.recv_timeout(LIMIT).unwrap();
            b.recv_timeout(LIMIT).unwrap()
        });
        a.send(&message, Some(LIMIT)).expect("send waits for room, then sends");
    });
    assert!(start.elapsed() >= DELAY, "send returned before the consumer freed room");
    assert!(b.try_recv().unwrap().is_some(), "the waiting send did deliver its message");
}

#[test]
fn send_on_a_full_lane_times_out_after_at_least_its_timeout() {
    let (mut a, _b) = pair_with(&SMALL);
    while a.try_send(&[0u8; 1000]).unwrap() {}
    let timeout = Duration::from_millis(80);
    let start = Instant::now();
    assert!(matches!(a.send(&[0u8; 1000], Some(timeout)), Err(ChannelError::Timeout)));
    assert!(start.elapsed() >= timeout);
}

#[test]
fn a_message_above_the_lane_maximum_is_too_large_and_leaves_the_channel_usable() {
    let (mut a, mut b) = pair_with(&SMALL);
    let max = a.sender().max_message_len(Priority::Normal);
    assert_eq!(max, 4096 / 2 - 8);
    let too_big = vec![0u8; max + 1];
    match a.try_send(&too_big) {
        Err(ChannelError::TooLarge { len, max: reported }) => assert_eq!((len, reported), (max + 1, max)),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(matches!(a.send(&too_big, Some(LIMIT)), Err(ChannelError::TooLarge { .. })));
    assert!(matches!(a.try_send_batch(&[&too_big[..]], Priority::Normal), Err(ChannelError::TooLarge { .. })));
    // The largest allowed message goes through, and the channel still works.
    let largest = vec![9u8; max];
    assert!(a.try_send(&largest).unwrap());
    assert_eq!(b.recv_timeout(LIMIT).unwrap(), largest);
}

#[test]
fn each_lane_has_its_own_maximum() {
    let options = ChannelOptions { capacity: 1 << 16, high_capacity: 1 << 13, critical_capacity: 1 << 12 };
    let (mut a, _b) = pair_with(&options);
    let sender = a.sender();
    assert_eq!(sender.max_message_len(Priority::Normal), (1 << 15) - 8);
    assert_eq!(sender.max_message_len(Priority::High), (1 << 12) - 8);
    assert_eq!(sender.max_message_len(Priority::Critical), (1 << 11) - 8);
    assert!(matches!(sender.try_send_with(&[0; 3000], Priority::Critical), Err(ChannelError::TooLarge { .. })));
    assert!(sender.try_send_with(&[0; 3000], Priority::Normal).unwrap());
}

#[test]
fn a_buffer_too_small_reports_the_length_and_keeps_the_message() {
    let (mut a, mut b) = pair();
    a.try_send(b"twelve bytes").unwrap();
    a.try_send(b"next").unwrap();
    let mut small = [0u8; 4];
    match b.try_recv_into(&mut small) {
        Err(ChannelError::BufferTooSmall { needed }) => assert_eq!(needed, 12),
        other => panic!("expected BufferTooSmall, got {other:?}"),
    }
    let mut big = [0u8; 64];
    assert_eq!(b.try_recv_into(&mut big).unwrap(), Some(12));
    assert_eq!(&big[..12], b"twelve bytes");
    assert_eq!(b.try_recv_into(&mut small).unwrap(), Some(4));
    assert_eq!(&small, b"next");
}

#[test]
fn try_recv_with_visits_the_message_in_place_then_releases_it() {
    let (mut a, mut b) = pair();
    a.try_send(b"zero-copy").unwrap();
    let seen = b.try_recv_with(|record| (record.len(), record.to_vec())).unwrap();
    assert_eq!(seen, Some((9, b"zero-copy".to_vec())));
    assert_eq!(b.try_recv().unwrap(), None);
}

#[test]
fn recv_batch_drains_several_messages_in_order() {
    let (mut a, mut b) = pair();
    let sent = names("m", 0..10);
    assert_eq!(a.try_send_batch(&sent, Priority::Normal).unwrap(), 10);
    let mut got = Vec::new();
    assert_eq!(b.recv_batch(3, |r| got.push(String::from_utf8(r.to_vec()).unwrap())).unwrap(), 3);
    assert_eq!(b.recv_batch(100, |r| got.push(String::from_utf8(r.to_vec()).unwrap())).unwrap(), 7);
    assert_eq!(got, sent);
    assert_eq!(b.recv_batch(100, |_| panic!("nothing is left")).unwrap(), 0);
}

#[test]
fn try_send_batch_sends_what_fits_and_reports_how_many() {
    let (mut a, mut b) = pair_with(&SMALL);
    let batch = vec![vec![3u8; 1000]; 10];
    assert_eq!(a.try_send_batch(&batch, Priority::Normal).unwrap(), 4);
    assert_eq!(a.try_send_batch(&batch, Priority::Normal).unwrap(), 0, "full: nothing fits");
    assert_eq!(b.recv_batch(usize::MAX, |r| assert_eq!(r.len(), 1000)).unwrap(), 4);
    assert_eq!(a.try_send_batch(&batch[..2], Priority::Normal).unwrap(), 2);
}

#[test]
fn fill_reports_how_full_a_lane_is_on_both_ends() {
    let (mut a, mut b) = pair_with(&SMALL);
    assert_eq!(a.sender().fill(Priority::Normal).unwrap(), 0.0);
    a.try_send(&[0u8; 1016]).unwrap(); // 1024 bytes with its header: a quarter of the lane
    assert_eq!(a.sender().fill(Priority::Normal).unwrap(), 0.25);
    assert_eq!(b.receiver().fill(Priority::Normal).unwrap(), 0.25);
    assert_eq!(b.receiver().fill(Priority::High).unwrap(), 0.0);
    b.try_recv().unwrap().unwrap();
    assert_eq!(a.sender().fill(Priority::Normal).unwrap(), 0.0);
    assert_eq!(b.receiver().fill(Priority::Normal).unwrap(), 0.0);
}

// ---------------------------------------------------------------------------------------
// Priorities

#[test]
fn a_critical_message_overtakes_normal_messages_already_waiting() {
    let (mut a, mut b) = pair();
    a.try_send(b"n0").unwrap();
    a.try_send(b"n1").unwrap();
    a.try_send_with(b"h0", Priority::High).unwrap();
    a.try_send_with(b"c0", Priority::Critical).unwrap();
    assert_eq!(drain(&mut b), ["c0", "h0", "n0", "n1"]);
}

#[test]
fn every_sixteenth_message_comes_from_the_lowest_non_empty_lane() {
    assert_eq!(FAIRNESS_PERIOD, 16);
    let (mut a, mut b) = pair();
    a.try_send_batch(&names("c", 0..20), Priority::Critical).unwrap();
    a.try_send_batch(&names("h", 0..20), Priority::High).unwrap();
    a.try_send_batch(&names("n", 0..2), Priority::Normal).unwrap();
    let mut expected = names("c", 0..15); // turns 0..=14: strict priority
    expected.push("n0".into()); // turn 15: the lowest non-empty lane, normal
    expected.extend(names("c", 15..20)); // turns 0..=4: critical until it is empty
    expected.extend(names("h", 0..10)); // turns 5..=14: then high
    expected.push("n1".into()); // turn 15: normal again
    expected.extend(names("h", 10..20)); // the rest of high
    assert_eq!(drain(&mut b), expected);
}

#[test]
fn the_fairness_turn_goes_to_high_when_normal_is_empty() {
    let (mut a, mut b) = pair();
    a.try_send_batch(&names("c", 0..20), Priority::Critical).unwrap();
    a.try_send_batch(&names("h", 0..3), Priority::High).unwrap();
    let mut expected = names("c", 0..15);
    expected.push("h0".into());
    expected.extend(names("c", 15..20));
    expected.extend(names("h", 1..3));
    assert_eq!(drain(&mut b), expected);
}

#[test]
fn recv_batch_follows_the_same_priority_rule() {
    let (mut a, mut b) = pair();
    a.try_send_batch(&names("c", 0..20), Priority::Critical).unwrap();
    a.try_send_batch(&names("n", 0..2), Priority::Normal).unwrap();
    let mut got = Vec::new();
    while b.recv_batch(7, |r| got.push(String::from_utf8(r.to_vec()).unwrap())).unwrap() > 0 {}
    let mut expected = names("c", 0..15);
    expected.push("n0".into());
    expected.extend(names("c", 15..20));
    expected.push("n1".into());
    assert_eq!(got, expected);
}

#[test]
fn a_flood_on_the_normal_lane_never_blocks_a_critical_message() {
    let (mut a, mut b) = pair_with(&SMALL);
    while a.try_send(&[0u8; 500]).unwrap() {}
    assert!(a.try_send_with(b"alarm", Priority::Critical).unwrap());
    assert_eq!(b.recv_timeout(LIMIT).unwrap(), b"alarm");
}

// ---------------------------------------------------------------------------------------
// Closing

#[test]
fn after_the_peer_closes_every_message_sent_before_arrives_then_peer_closed() {
    let (mut a, mut b) = pair();
    for i in 0..5 {
        a.try_send(format!("m{i}").as_bytes()).unwrap();
    }
    a.try_send_with(b"c", Priority::Critical).unwrap();
    a.close();
    assert_eq!(drain_until_end(&mut b), (["c", "m0", "m1", "m2", "m3", "m4"].map(String::from).to_vec(), "PeerClosed"));
    // The end is sticky, for every kind of call.
    assert!(matches!(b.recv_timeout(LIMIT), Err(ChannelError::PeerClosed)));
    assert!(matches!(b.try_recv(), Err(ChannelError::PeerClosed)));
    assert!(matches!(b.recv_batch(10, |_| {}), Err(ChannelError::PeerClosed)));
    assert!(matches!(b.try_send(b"x"), Err(ChannelError::PeerClosed)));
    assert!(matches!(b.send(b"x", Some(LIMIT)), Err(ChannelError::PeerClosed)));
}

/// Receives until an error; returns the messages and the error's name.
fn drain_until_end(side: &mut Channel) -> (Vec<String>, &'static str) {
    let mut got = Vec::new();
    loop {
        match side.recv_timeout(LIMIT) {
            Ok(m) => got.push(String::from_utf8(m).unwrap()),
            Err(ChannelError::PeerClosed) => return (got, "PeerClosed"),
            Err(ChannelError::PeerDead) => return (got, "PeerDead"),
            Err(e) => panic!("unexpected end of stream: {e:?}"),
        }
    }
}

#[test]
fn dropping_a_side_closes_it() {
    let (mut a, mut b) = pair();
    a.try_send(b"last words").unwrap();
    drop(a);
    assert_eq!(b.recv_timeout(LIMIT).unwrap(), b"last words");
    assert!(matches!(b.recv_timeout(LIMIT), Err(ChannelError::PeerClosed)));
}

#[test]
fn every_call_after_closing_ones_own_side_returns_closed() {
    let (mut a, mut b) = pair();
    b.try_send(b"unread").unwrap();
    a.close();
    a.close(); // idempotent
    assert!(matches!(a.try_send(b"x"), Err(ChannelError::Closed)));
    assert!(matches!(a.try_send_with(b"x", Priority::Critical), Err(ChannelError::Closed)));
    assert!(matches!(a.try_send_batch(&[b"x"], Priority::Normal), Err(ChannelError::Closed)));
    assert!(matches!(a.send(b"x", Some(LIMIT)), Err(ChannelError::Closed)));
    assert!(matches!(a.try_recv(), Err(ChannelError::Closed)));
    assert!(matches!(a.try_recv_into(&mut [0u8; 8]), Err(ChannelError::Closed)));
    assert!(matches!(a.recv_batch(10, |_| {}), Err(ChannelError::Closed)));
    assert!(matches!(a.recv_timeout(LIMIT), Err(ChannelError::Closed)));
    assert!(matches!(a.recv(), Err(ChannelError::Closed)));
}

#[test]
fn closing_the_sender_half_wakes_a_receive_blocked_on_the_same_side_with_closed() {
    let (a, _b) = pair();
    let (sender, mut receiver): (Sender, Receiver) = a.split();
    std::thread::scope(|s| {
        let blocked = s.spawn(move || {
            let start = Instant::now();
            (receiver.recv_timeout(LIMIT), start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(100)); // let it spin, then sleep
        sender.close();
        let (result, waited) = blocked.join().unwrap();
        assert!(matches!(result, Err(ChannelError::Closed)), "{result:?}");
        assert!(waited < LIMIT, "woken by the close, not by the deadline");
    });
}

#[test]
fn a_receive_blocked_on_one_side_is_woken_by_the_peers_close_with_peer_closed() {
    let (a, mut b) = pair();
    std::thread::scope(|s| {
        let blocked = s.spawn(move || {
            let start = Instant::now();
            (b.recv_timeout(LIMIT), start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(100));
        a.close();
        let (result, waited) = blocked.join().unwrap();
        assert!(matches!(result, Err(ChannelError::PeerClosed)), "{result:?}");
        assert!(waited < LIMIT, "woken by the close, not by the deadline");
    });
}

#[test]
fn a_send_blocked_on_a_full_lane_is_woken_by_the_peers_close_with_peer_closed() {
    let (mut a, b) = pair_with(&SMALL);
    while a.try_send(&[0u8; 1000]).unwrap() {}
    std::thread::scope(|s| {
        let blocked = s.spawn(move || {
            let start = Instant::now();
            (a.send(&[0u8; 1000], Some(LIMIT)), start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(100));
        b.close();
        let (result, waited) = blocked.join().unwrap();
        assert!(matches!(result, Err(ChannelError::PeerClosed)), "{result:?}");
        assert!(waited < LIMIT, "woken by the close, not by the deadline");
    });
}

// ---------------------------------------------------------------------------------------
// Waiting

#[test]
fn recv_timeout_returns_timeout_after_at_least_the_timeout() {
    let (_a, mut b) = pair();
    for timeout in [Duration::ZERO, Duration::from_millis(1), Duration::from_millis(60), Duration::from_millis(130)] {
        let start = Instant::now();
        assert!(matches!(b.recv_timeout(timeout), Err(ChannelError::Timeout)));
        assert!(start.elapsed() >= timeout, "returned after {:?}, before {timeout:?}", start.elapsed());
    }
}

#[test]
fn recv_deadline_in_the_past_returns_timeout_at_once_unless_a_message_waits() {
    let (mut a, mut b) = pair();
    let past = Instant::now();
    assert!(matches!(b.recv_deadline(Some(past)), Err(ChannelError::Timeout)));
    a.try_send(b"here").unwrap();
    assert_eq!(b.recv_deadline(Some(past)).unwrap(), b"here");
}

#[test]
fn a_receiver_asleep_in_recv_is_woken_by_a_send() {
    let (mut a, mut b) = pair();
    std::thread::scope(|s| {
        let blocked = s.spawn(move || b.recv_timeout(LIMIT));
        std::thread::sleep(Duration::from_millis(100)); // past the spin: it sleeps now
        a.try_send(b"wake up").unwrap();
        assert_eq!(blocked.join().unwrap().unwrap(), b"wake up");
    });
}

#[test]
fn wait_readable_reports_ready_for_data_and_timed_out_after_its_deadline() {
    let (mut a, mut b) = pair();
    let deadline = Instant::now() + Duration::from_millis(30);
    assert_eq!(b.wait_readable(Some(deadline)).unwrap(), ParkResult::TimedOut);
    assert!(Instant::now() >= deadline);
    a.try_send(b"x").unwrap();
    assert_eq!(b.wait_readable(Some(Instant::now() + LIMIT)).unwrap(), ParkResult::Ready);
    assert_eq!(b.try_recv().unwrap().unwrap(), b"x", "wait_readable consumes nothing");
}

#[test]
fn a_data_watch_on_another_thread_sees_data_cancel_deadline_and_end() {
    let (mut a, b) = pair();
    let watch = b.data_watch();
    let mut spinner = Spinner::new();
    let start = Instant::now();
    let timeout = Duration::from_millis(30);
    assert_eq!(watch.wait(&mut spinner, Some(start + timeout)).unwrap(), Readiness::TimedOut);
    assert!(start.elapsed() >= timeout);
    std::thread::scope(|s| {
        let waiting = s.spawn(|| watch.wait(&mut Spinner::new(), Some(Instant::now() + LIMIT)));
        std::thread::sleep(Duration::from_millis(50));
        a.try_send(b"x").unwrap();
        assert_eq!(waiting.join().unwrap().unwrap(), Readiness::Ready);
    });
    let cancelled = b.data_watch();
    cancelled.cancel();
    assert_eq!(cancelled.wait(&mut spinner, Some(Instant::now() + LIMIT)).unwrap(), Readiness::Cancelled);
    let idle = a.data_watch(); // A has nothing to read; B's close ends its wait
    b.close();
    assert_eq!(idle.wait(&mut spinner, Some(Instant::now() + LIMIT)).unwrap(), Readiness::Ended);
}

#[test]
fn a_room_watch_sees_room_return_after_the_peer_receives() {
    let (mut a, mut b) = pair_with(&SMALL);
    while a.try_send(&[0u8; 1000]).unwrap() {}
    let watch = a.room_watch();
    let since = watch.snapshot();
    std::thread::scope(|s| {
        let waiting = s.spawn(|| watch.wait(since, &mut Spinner::new(), Some(Instant::now() + LIMIT)));
        std::thread::sleep(Duration::from_millis(50));
        // Two: the next record needs a pad to the end of the lane and 8 spare bytes, more
        // than one received message of the same size frees.
        b.try_recv().unwrap().unwrap();
        b.try_recv().unwrap().unwrap();
        assert_eq!(waiting.join().unwrap().unwrap(), Readiness::Ready);
    });
    assert!(a.try_send(&[0u8; 1000]).unwrap());
}

// ---------------------------------------------------------------------------------------
// Set-up errors

#[test]
fn a_second_attach_to_the_same_channel_is_already_attached() {
    let a = Channel::create().unwrap();
    let _b = Channel::from_fd(a.share_fd().unwrap()).unwrap();
    assert!(matches!(Channel::from_fd(a.share_fd().unwrap()), Err(OpenError::AlreadyAttached)));
}

#[test]
fn a_failed_second_attach_leaves_the_first_attachers_pid_in_place() {
    let a = Channel::create().unwrap();
    let b = Channel::from_fd(a.share_fd().unwrap()).unwrap();
    let mapping = support::RawMapping::of(&a);
    let pid_b = support::offsets::pid(Side::B);
    mapping.write_u32(pid_b, 4242); // stands for "side B's process"; a second attach must not rewrite it
    assert!(matches!(Channel::from_fd(b.share_fd().unwrap()), Err(OpenError::AlreadyAttached)));
    assert_eq!(mapping.read_u32(pid_b), 4242);
}

#[test]
fn invalid_capacities_are_refused() {
    let valid = ChannelOptions::default();
    for (what, options) in [
        ("not a power of two", ChannelOptions { capacity: 3 << 12, ..valid }),
        ("below 4 KiB", ChannelOptions { high_capacity: 2048, ..valid }),
        ("zero", ChannelOptions { critical_capacity: 0, ..valid }),
        ("above 1 GiB", ChannelOptions { capacity: 1 << 31, ..valid }),
    ] {
        match Channel::create_with(&options) {
            Err(CreateError::InvalidCapacity(lanes)) => {
                assert_eq!(lanes, [options.critical_capacity, options.high_capacity, options.capacity], "{what}")
            }
            other => panic!("{what}: expected InvalidCapacity, got {other:?}"),
        }
    }
    let smallest = ChannelOptions { capacity: 4096, high_capacity: 4096, critical_capacity: 4096 };
    assert!(Channel::create_with(&smallest).is_ok());
}

#[test]
fn pass_to_child_refuses_the_standard_fds() {
    let a = Channel::create().unwrap();
    let mut command = std::process::Command::new("true");
    for fd in [0, 1, 2, -1] {
        let e = a.pass_to_child(&mut command, fd).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    }
}

#[test]
fn handles_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Channel>();
    assert_send::<Sender>();
    assert_send::<Receiver>();
    fn assert_sync<T: Send + Sync>() {}
    assert_sync::<shmring_channel::DataWatch>();
    assert_sync::<shmring_channel::RoomWatch>();
}

// ---------------------------------------------------------------------------------------
// Named channels (in one process; across processes in tests/cross_process.rs)

#[test]
fn a_named_channel_is_opened_by_its_name() {
    let name = random_name();
    let mut a = Channel::create_named(&name, &SMALL).unwrap();
    let mut b = Channel::open_named(&name).unwrap();
    assert_eq!(b.side(), Side::B);
    a.send(b"by name", Some(LIMIT)).unwrap();
    assert_eq!(b.recv_timeout(LIMIT).unwrap(), b"by name");
    b.send(b"reply", Some(LIMIT)).unwrap();
    assert_eq!(a.recv_timeout(LIMIT).unwrap(), b"reply");
    assert!(matches!(Channel::open_named(&name), Err(OpenError::AlreadyAttached)));
}

#[test]
fn create_named_never_opens_an_existing_name() {
    let name = random_name();
    let _a = Channel::create_named(&name, &SMALL).unwrap();
    match Channel::create_named(&name, &SMALL) {
        Err(CreateError::Segment(shmring_segment::CreateError::AlreadyExists)) => {}
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
}

#[test]
fn opening_a_missing_name_is_not_found() {
    match Channel::open_named(&random_name()) {
        Err(OpenError::Segment(shmring_segment::OpenError::NotFound)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn the_name_is_removed_when_the_creator_is_dropped() {
    let name = random_name();
    let a = Channel::create_named(&name, &SMALL).unwrap();
    drop(a);
    assert!(matches!(Channel::open_named(&name), Err(OpenError::Segment(shmring_segment::OpenError::NotFound))));
}

#[test]
fn an_invalid_name_is_refused_before_touching_the_os() {
    assert!(matches!(Channel::create_named("a/b", &SMALL), Err(CreateError::InvalidName(_))));
    assert!(matches!(Channel::create_named("", &SMALL), Err(CreateError::InvalidName(_))));
    assert!(matches!(Channel::open_named(".hidden"), Err(OpenError::InvalidName(_))));
}

#[test]
fn errors_display_short_lowercase_messages() {
    assert_eq!(ChannelError::PeerClosed.to_string(), "peer closed the channel");
    assert_eq!(ChannelError::TooLarge { len: 9, max: 8 }.to_string(), "message of 9 bytes exceeds the maximum of 8");
    assert_eq!(OpenError::AlreadyAttached.to_string(), "channel already has two sides");
}

#[test]
fn has_message_sees_a_waiting_message_without_taking_it() {
    let (mut a, mut b) = pair();
    assert!(!b.receiver().has_message().unwrap());
    a.try_send_with(b"urgent", shmring_channel::Priority::Critical).unwrap();
    assert!(b.receiver().has_message().unwrap());
    assert!(b.receiver().has_message().unwrap(), "looking twice takes nothing");
    assert_eq!(b.try_recv().unwrap().as_deref(), Some(&b"urgent"[..]));
    assert!(!b.receiver().has_message().unwrap());
}
